import test from 'ava'

// An eventfd's or timerfd's O_NONBLOCK lives on the open file description,
// which every process holding the fd shares (fork, SCM_RIGHTS, a Python peer
// with os.eventfd). A peer that makes it blocking (Python's
// `os.set_blocking(fd, True)`) must not make the classes' never-waiting
// reads (tryAcquire, tryTake, tryWait, the read after a wake-up, the slices
// of a sync wait) block the thread (docs/reliability.md, "A peer that
// clears O_NONBLOCK").
//
// Each case runs in a child Node process killed after a deadline, so a hang
// is a failing test, not a hung suite. In the child, `peerClears(fd)` spawns
// another process that gets the fd as its fd 3 (the same open file
// description) and clears O_NONBLOCK there with the package's own fcntl,
// then checks that this process sees the flag cleared too.
import { release } from 'node:os'

import { PKG, runNode } from './helpers/child.js'
import { SLOWDOWN, underQemu } from './helpers/emulation.js'

const DEADLINE_MS = 20_000 * SLOWDOWN

// The kernel honours RWF_NOWAIT on eventfd reads since 5.8 and on timerfd
// reads since 6.10; before that the package falls back to read(2) and the
// hang remains (docs/reliability.md). GitHub's ubuntu-24.04 runs 6.8.
const [major = 0, minor = 0] = release().split('.').map((n) => parseInt(n, 10))
const atLeast = (a: number, b: number): boolean => major > a || (major === a && minor >= b)
// qemu-user (7.2 in .ci/run) has no preadv2 ("Unknown syscall 286", ENOSYS):
// the probe falls back to read(2), as on a kernel before 5.8, whatever the host runs.
const eventfdTest = atLeast(5, 8) && !underQemu ? test : test.skip
const timerTest = atLeast(6, 10) && !underQemu ? test : test.skip

const prelude = `
const PKG = ${JSON.stringify(PKG)}
const { spawnSync } = require('node:child_process')
const { Worker } = require('node:worker_threads')
const peerCode = ${JSON.stringify(
  `const l = require(${JSON.stringify(PKG)})
   l.fcntl(3, l.F_SETFL, l.fcntl(3, l.F_GETFL) & ~l.O_NONBLOCK)`,
)}
function blocking(fd) {
  return (lfd.fcntl(fd, lfd.F_GETFL) & lfd.O_NONBLOCK) === 0
}
function peerClears(fd) {
  const r = spawnSync(process.execPath, ['-e', peerCode], { stdio: ['ignore', 'inherit', 'inherit', fd] })
  if (r.status !== 0) throw new Error('the peer failed: ' + r.status)
  if (!blocking(fd)) throw new Error('the peer did not clear O_NONBLOCK on the shared description')
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const out = {}
`

/** Runs `body` (which fills `out`) in a child with the prelude; resolves `out`, or fails on a hang or a throw. */
async function inChild(t: { log(m: string): void }, body: string): Promise<Record<string, unknown>> {
  const started = Date.now()
  const r = await runNode(`${prelude}\n;(async () => {\n${body}\n})().then(() => console.log(JSON.stringify(out)), (e) => { console.error(e); process.exit(1) })`, {
    timeoutMs: DEADLINE_MS,
  })
  if (r.signal === 'SIGKILL') {
    throw new Error(`the child hung: killed after ${Date.now() - started} ms (a read blocked the thread); got so far: ${r.stdout}${r.stderr}`)
  }
  if (r.code !== 0) throw new Error(`the child failed (${r.code}): ${r.stderr}`)
  t.log(`child took ${Date.now() - started} ms`)
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>
}

eventfdTest('Semaphore.tryAcquire() returns at once after a peer cleared O_NONBLOCK', async (t) => {
  const out = await inChild(
    t,
    `const sem = new lfd.Semaphore(0)
     peerClears(sem.fd)
     out.empty = sem.tryAcquire()
     sem.release(2)
     out.one = sem.tryAcquire()
     out.two = sem.tryAcquire()
     out.none = sem.tryAcquire()
     out.stillBlocking = blocking(sem.fd)
     sem.close()`,
  )
  t.deepEqual(out, { empty: false, one: true, two: true, none: false, stillBlocking: true })
})

// util.inspect (and so console.log) shows the fd number: it can leave the
// process from there without the `fd` getter ever being read. The number is
// read from the inspect output here, as a user's log line would carry it.
eventfdTest('tryAcquire()/tryTake() return at once when the fd number was only seen through util.inspect', async (t) => {
  const out = await inChild(
    t,
    `const { inspect } = require('node:util')
     const fdOf = (o) => Number(/fd: (\\d+)/.exec(inspect(o))[1])
     const sem = new lfd.Semaphore(0)
     peerClears(fdOf(sem))
     out.sem = sem.tryAcquire()
     const c = new lfd.EventCounter(0)
     peerClears(fdOf(c))
     out.counter = c.tryTake()
     sem.close()
     c.close()`,
  )
  t.deepEqual(out, { sem: false, counter: null })
})

eventfdTest('EventCounter.tryTake() returns at once after a peer cleared O_NONBLOCK', async (t) => {
  const out = await inChild(
    t,
    `const c = new lfd.EventCounter(0)
     peerClears(c.fd)
     out.empty = c.tryTake()
     c.add(5)
     out.five = String(c.tryTake())
     out.none = c.tryTake()
     c.close()`,
  )
  t.deepEqual(out, { empty: null, five: '5', none: null })
})

timerTest('Timer.tryWait() returns at once after a peer cleared O_NONBLOCK', async (t) => {
  const out = await inChild(
    t,
    `const timer = new lfd.Timer()
     peerClears(timer.fd)
     out.disarmed = timer.tryWait()
     timer.setNs(1n)
     await sleep(20)
     out.expired = String(timer.tryWait())
     out.none = timer.tryWait()
     timer.close()`,
  )
  t.deepEqual(out, { disarmed: null, expired: '1', none: null })
})

// The watch fires when the fd is readable, and the JS side reads until
// EAGAIN or until no waiter is left: with two waiters and one permit, the
// second read finds the counter empty. uv_poll_init sets O_NONBLOCK when
// the watch starts, so the peer clears it after the waits are pending.
eventfdTest('pending acquire()s and take()s are served, and the rest stay pending, after a peer cleared O_NONBLOCK', async (t) => {
  const out = await inChild(
    t,
    `const sem = new lfd.Semaphore(0)
     const got = []
     const a = sem.acquire().then((p) => got.push('a'))
     const b = sem.acquire().then((p) => got.push('b'))
     await sleep(10)
     peerClears(sem.fd)
     sem.release(1)
     await sleep(50)
     out.semAfterOne = got.slice()
     out.semPending = sem.pending
     sem.release(1)
     await Promise.all([a, b])
     out.semAfterTwo = got.slice()
     sem.close()

     const c = new lfd.EventCounter(0)
     const takes = [c.take(), c.take()]
     const took = []
     takes.forEach((p, i) => p.then((v) => took.push([i, String(v)])))
     await sleep(10)
     peerClears(c.fd)
     c.add(3)
     await sleep(50)
     out.counterAfterOne = took.slice()
     out.counterPending = c.pending
     c.add(4)
     await Promise.all(takes)
     out.counterAfterTwo = took.slice()
     c.close()`,
  )
  t.deepEqual(out, {
    semAfterOne: ['a'],
    semPending: 1,
    semAfterTwo: ['a', 'b'],
    counterAfterOne: [[0, '3']],
    counterPending: 1,
    counterAfterTwo: [
      [0, '3'],
      [1, '4'],
    ],
  })
})

timerTest('pending Timer waits are served, and the rest stay pending, after a peer cleared O_NONBLOCK', async (t) => {
  const out = await inChild(
    t,
    `const timer = new lfd.Timer()
     const got = []
     const w1 = timer.wait().then((n) => got.push(String(n)))
     const w2 = timer.wait().then((n) => got.push(String(n)))
     await sleep(10)
     peerClears(timer.fd)
     timer.set(5)
     await sleep(100)
     out.afterOne = got.slice()
     out.pending = timer.pending
     timer.set(5)
     await Promise.all([w1, w2])
     out.afterTwo = got.slice()
     timer.close()`,
  )
  t.deepEqual(out, { afterOne: ['1'], pending: 1, afterTwo: ['1', '1'] })
})

// A sync wait sleeps in poll(2) in slices and reads without blocking in
// between, so that worker.terminate() ends it (docs/design.md, "Sync
// waits"); a read that blocks in the kernel would hold terminate() up.
eventfdTest('worker.terminate() still ends an acquireSync() after a peer cleared O_NONBLOCK', async (t) => {
  const out = await inChild(
    t,
    `const sem = new lfd.Semaphore(0)
     peerClears(sem.fd)
     const w = new Worker(
       'const { workerData, parentPort } = require("node:worker_threads");' +
       'const lfd = require(' + JSON.stringify(PKG) + ');' +
       'const s = lfd.Semaphore.fromFd(workerData);' +
       'parentPort.postMessage("waiting"); s.acquireSync()',
       { eval: true, workerData: sem.fd },
     )
     await new Promise((r) => w.once('message', r))
     await sleep(100)
     peerClears(sem.fd) // fromFd in the worker made it non-blocking again
     await sleep(50)
     const t0 = Date.now()
     await w.terminate()
     out.terminateMs = Date.now() - t0
     out.permits = sem.tryAcquire()
     sem.close()`,
  )
  t.false(out.permits, 'the terminated wait took no permit')
  t.true((out.terminateMs as number) < 2000 * SLOWDOWN, `terminate() took ${String(out.terminateMs)} ms`)
})

eventfdTest('an object from fromFd reads without waiting even if its own fd getter was never read', async (t) => {
  // fromFd marks the object's fd as shared: the description came from
  // outside and any holder of it can make it blocking.
  const out = await inChild(
    t,
    `const a = new lfd.Semaphore(0)
     const fd = a.fd
     const sem = lfd.Semaphore.fromFd(fd)
     const c0 = new lfd.EventCounter(0)
     const counter = lfd.EventCounter.fromFd(c0.fd)
     peerClears(fd)
     peerClears(c0.fd)
     out.sem = sem.tryAcquire()
     out.counter = counter.tryTake()
     a.close(); sem.close(); c0.close(); counter.close()`,
  )
  t.deepEqual(out, { sem: false, counter: null })
})
