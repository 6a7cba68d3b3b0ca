// An fd closed behind the package's back (`fs.closeSync(obj.fd)`): the next
// call throws EBADF, and from then on the object never touches that number
// again, even once it belongs to another file (the "victim"): no write into
// it, no close of it, neither by close() nor by the garbage collector.
//
// Serial: fd numbers are allocated lowest-first, and these tests rely on the
// victim getting exactly the number that was closed.
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { constants as osConstants, tmpdir } from 'node:os'
import { join } from 'node:path'

import {
  CLOCK_MONOTONIC,
  EFD_SEMAPHORE,
  EventCounter,
  eventfd,
  F_GETFD,
  F_SETFD,
  FD_CLOEXEC,
  FdChannel,
  fcntl,
  MemFile,
  memfdCreate,
  Semaphore,
  Timer,
  timerfdCreate,
  tryLockFile,
} from '../index.js'
import { fdList, fdsAdded, PKG, runNode, sleep } from './helpers/child.js'
import { SLOWDOWN } from './helpers/emulation.js'
import { spawnSync } from 'node:child_process'

const dir = mkdtempSync(join(tmpdir(), 'linux-fd-own-'))
test.after.always(() => rmSync(dir, { recursive: true, force: true }))

const CONTENT = 'victim: must stay exactly like this\n'
let victims = 0

interface Victim {
  fd: number
  path: string
  /** Asserts the victim is still open and its contents unchanged. */
  check(t: ExecutionContext): void
  close(): void
}

/**
 * Opens a victim file that gets the number `n`. Numbers are handed out
 * lowest-first, so it normally gets `n` at once; lower free numbers are
 * filled (and freed afterwards). Returns null if `n` went to someone else.
 */
function victimAt(n: number): Victim | null {
  const path = join(dir, `victim-${victims++}`)
  writeFileSync(path, CONTENT)
  const fillers: number[] = []
  let fd = openSync(path, 'r+')
  while (fd < n && fillers.length < 64) {
    fillers.push(fd)
    fd = openSync(path, 'r+')
  }
  for (const f of fillers) closeSync(f)
  if (fd !== n) {
    closeSync(fd)
    return null
  }
  // Where the victim's file position should be: 0 until check() reads to the end.
  let pos = 0
  return {
    fd,
    path,
    check(t) {
      t.notThrows(() => fstatSync(fd), 'the victim fd was closed')
      t.is(readFileSync(path, 'utf8'), CONTENT, 'the victim file was written to')
      // Its file position was not moved by a read either.
      const buf = Buffer.alloc(CONTENT.length + 8)
      t.is(readSync(fd, buf, 0, buf.length, null), CONTENT.length - pos, 'the victim fd was read from')
      pos = CONTENT.length
    },
    close() {
      closeSync(fd)
    },
  }
}

interface Obj {
  fd: number
  closed?: boolean
  released?: boolean
}

interface Case {
  name: string
  make(): Obj
  /** The first call after the fd was closed behind the object's back. */
  first(o: Obj): unknown
  /** Every other call: each must throw (or, `'async'`, reject with) EBADF without touching the victim. */
  others: Array<[string, (o: Obj) => unknown, 'async'?]>
  close(o: Obj): void
  isClosed(o: Obj): boolean
}

const ec = (o: Obj) => o as unknown as EventCounter
const sem = (o: Obj) => o as unknown as Semaphore
const tm = (o: Obj) => o as unknown as Timer
const mf = (o: Obj) => o as unknown as MemFile
const lk = (o: Obj) => o as unknown as NonNullable<ReturnType<typeof tryLockFile>>

const cases: Case[] = [
  {
    name: 'EventCounter',
    make: () => new EventCounter(3),
    first: (o) => ec(o).add(1),
    others: [
      ['add', (o) => ec(o).add(1)],
      ['tryTake', (o) => ec(o).tryTake()],
      ['takeSync', (o) => ec(o).takeSync()],
      ['take', (o) => ec(o).take(), 'async'],
      ['iterator next', (o) => ec(o)[Symbol.asyncIterator]().next(), 'async'],
    ],
    close: (o) => ec(o).close(),
    isClosed: (o) => ec(o).closed,
  },
  {
    name: 'Semaphore',
    make: () => new Semaphore(3),
    first: (o) => sem(o).tryAcquire(),
    others: [
      ['release', (o) => sem(o).release(1)],
      ['tryAcquire', (o) => sem(o).tryAcquire()],
      ['acquireSync', (o) => sem(o).acquireSync()],
      ['acquire', (o) => sem(o).acquire(), 'async'],
    ],
    close: (o) => sem(o).close(),
    isClosed: (o) => sem(o).closed,
  },
  {
    name: 'Timer',
    make: () => new Timer(),
    first: (o) => tm(o).set(1000),
    others: [
      ['set', (o) => tm(o).set(1)],
      ['get', (o) => tm(o).get()],
      ['tryWait', (o) => tm(o).tryWait()],
      ['disarm', (o) => tm(o).disarm()],
      // wait() and the iterator reject (never throw): see the Timer test below.
      ['waitSync', (o) => tm(o).waitSync()],
      ['setNs', (o) => tm(o).setNs(1n)],
      ['getNs', (o) => tm(o).getNs()],
    ],
    close: (o) => tm(o).close(),
    isClosed: (o) => tm(o).closed,
  },
  {
    name: 'MemFile',
    make: () => {
      const m = MemFile.create('own')
      m.write('memfd data')
      return m
    },
    first: (o) => mf(o).write('x'),
    others: [
      ['write', (o) => mf(o).write('overwritten', 0)],
      ['read', (o) => mf(o).read(8, 0)],
      ['truncate', (o) => mf(o).truncate(0)],
      ['size', (o) => mf(o).size],
      ['seals', (o) => mf(o).seals],
      ['addSeals', (o) => mf(o).addSeals({ grow: true })],
      ['map', (o) => mf(o).map({ unsafeAllowShrink: true })],
    ],
    close: (o) => mf(o).close(),
    isClosed: (o) => mf(o).closed,
  },
  {
    name: 'FileLock',
    make: () => tryLockFile(join(dir, `lock-${victims++}`))!,
    first: (o) => lk(o).release(),
    others: [['release', (o) => lk(o).release()]],
    close: (o) => {
      try {
        lk(o).release()
      } catch {
        // release() keeps reporting EBADF; what matters is the victim.
      }
    },
    isClosed: (o) => lk(o).released,
  },
]

function throwsEbadf(t: ExecutionContext, f: () => unknown, what: string) {
  const err = t.throws(f, undefined, `${what} did not throw`) as NodeJS.ErrnoException | undefined
  t.is(err?.code, 'EBADF', what)
  t.is(err?.errno, -9, what)
}

/** A promise-returning call never throws: it rejects with EBADF. */
async function rejectsEbadf(t: ExecutionContext, f: () => unknown, what: string) {
  let p: unknown
  t.notThrows(() => (p = f()), `${what} threw synchronously`)
  const err = await t.throwsAsync(p as Promise<unknown>, undefined, `${what} did not reject`)
  t.is((err as NodeJS.ErrnoException | undefined)?.code, 'EBADF', what)
}

for (const c of cases) {
  test.serial(`${c.name}: fd closed behind its back, then reused by another file`, async (t) => {
    const o = c.make()
    const n = o.fd
    closeSync(n)
    throwsEbadf(t, () => c.first(o), 'first call')
    t.true(c.isClosed(o))
    t.is(o.fd, -1)
    const victim = victimAt(n)
    if (!victim) return t.fail(`fd ${n} went to another file before the victim could take it: the check could not run`)
    for (const [what, f, kind] of c.others) {
      if (kind === 'async') await rejectsEbadf(t, () => f(o), what)
      else throwsEbadf(t, () => f(o), what)
    }
    c.close(o)
    c.close(o)
    victim.check(t)
    victim.close()
  })

  test.serial(`${c.name}: close() right after the number was reused does not close the victim`, (t) => {
    const o = c.make()
    const n = o.fd
    closeSync(n)
    const victim = victimAt(n)
    if (!victim) return t.fail(`fd ${n} went to another file before the victim could take it: the check could not run`)
    // No call in between: only the fstat identity check at close can tell.
    c.close(o)
    t.true(c.isClosed(o))
    t.is(o.fd, -1)
    victim.check(t)
    victim.close()
  })
}

test.serial('the error says what happened', (t) => {
  const c = new EventCounter()
  const n = c.fd
  closeSync(n)
  const err = t.throws(() => c.add(1)) as NodeJS.ErrnoException
  t.is(err.syscall, 'eventfd_write')
  t.regex(err.message, new RegExp(`^EBADF: bad file descriptor, eventfd_write: fd ${n} of this EventCounter was closed outside linux-fd`))
  // Later calls say the same, without a syscall of their own.
  const again = t.throws(() => c.tryTake()) as NodeJS.ErrnoException
  t.is(again.message, err.message)
})

test.serial('FileLock.release() reports EBADF on every call once the fd was closed behind its back', (t) => {
  const lock = tryLockFile(join(dir, 'lock-report'))!
  closeSync(lock.fd)
  for (let i = 0; i < 2; i++) {
    const err = t.throws(() => lock.release()) as NodeJS.ErrnoException
    t.is(err.code, 'EBADF')
    t.is(err.syscall, 'release')
  }
  t.true(lock.released)
})

test.serial('a MemFile keeps its fd when EBADF means a read-only fd, not a closed one', (t) => {
  const m = MemFile.create('ro')
  m.write('abc')
  const ro = MemFile.fromFd(openSync(`/proc/self/fd/${m.fd}`, 'r'), { adopt: true })
  const err = t.throws(() => ro.write('x')) as NodeJS.ErrnoException
  t.is(err.code, 'EBADF')
  t.is(err.syscall, 'pwrite')
  t.false(ro.closed)
  t.is(ro.read(3, 0).toString(), 'abc')
  ro.close()
  m.close()
})

test.serial('a pending take() rejects with EBADF at the next call once the fd was closed behind its back', async (t) => {
  const c = new EventCounter()
  const p = c.take()
  const it = c[Symbol.asyncIterator]().next()
  await sleep(10)
  closeSync(c.fd)
  throwsEbadf(t, () => c.add(1), 'add')
  for (const pending of [p, it]) {
    const err = (await t.throwsAsync(pending)) as NodeJS.ErrnoException
    t.is(err.code, 'EBADF')
  }
  t.is(c.pending, 0)
})

test.serial('Timer: once the fd was closed behind its back, pending and later wait()s reject with EBADF', async (t) => {
  const timer = new Timer()
  const pending = timer.wait()
  await sleep(10)
  closeSync(timer.fd)
  throwsEbadf(t, () => timer.get(), 'get')
  // The pending wait learns it too, and later ones reject (never throw).
  for (const p of [pending, timer.wait()]) {
    const err = (await t.throwsAsync(p)) as NodeJS.ErrnoException
    t.is(err.code, 'EBADF')
    t.is(err.errno, -9)
  }
  t.is(timer.pending, 0)
  t.true(timer.closed)
  timer.close()
})

test.serial('a pending acquire() rejects with EBADF when close() finds the fd reused', async (t) => {
  const s = new Semaphore()
  const p = s.acquire()
  await sleep(10)
  const n = s.fd
  closeSync(n)
  const victim = victimAt(n)
  if (!victim) return t.fail(`fd ${n} went to another file before the victim could take it: the check could not run`)
  s.close()
  const err = (await t.throwsAsync(p)) as NodeJS.ErrnoException
  t.is(err.code, 'EBADF')
  t.is(err.syscall, 'close')
  victim.check(t)
  victim.close()
})

// s51-eventfd MED-2: an EventCounter's fd closed by JS, then a new worker's
// libuv loop took the number for its epoll fd (an anonymous inode, as every
// eventfd): close() closed Node's epoll fd, and the process aborted. Now an
// object whose number JS has read also compares what fdinfo says (the kind,
// and an eventfd's eventfd-id). Here libuv's inotify fd (the first
// fs.watch() of a process; another anonymous inode) takes the number: in a
// fresh child, where the number just closed is the lowest free one. The
// epoll and eventfd cases are in the core's fd_identity.rs.
// The number known from util.inspect alone counts as read too (s51-diff
// H1: a Timer's inspect printed it without recording, and the child aborted).
for (const kind of ['EventCounter', 'Semaphore', 'Timer'] as const) {
  for (const via of ['fd', 'inspect'] as const) {
    test.serial(`${kind}: close() leaves alone an anonymous-inode fd of libuv that reused its number (known from ${via})`, async (t) => {
      // A child per case: libuv keeps its one inotify fd once made.
      const r = await runNode(`
        const fs = require('node:fs'), os = require('node:os'), util = require('node:util')
        const o = new lfd.${kind}()
        const n = ${via === 'fd' ? 'o.fd' : "Number(/fd: (\\d+)/.exec(util.inspect(o))[1])"}
        fs.closeSync(n)
        const w = fs.watch(os.tmpdir())
        const now = () => { try { return fs.readlinkSync('/proc/self/fd/' + n) } catch (e) { return e.code } }
        const before = now()
        o.close()
        const after = now()
        w.close()
        // libuv's inotify fd is still usable: a second watcher starts.
        fs.watch(os.tmpdir()).close()
        console.log(JSON.stringify({ before, after, closed: o.closed }))
      `)
      t.is(r.signal, null, r.stderr)
      t.is(r.code, 0, r.stderr)
      const o = JSON.parse(r.stdout) as { before: string; after: string; closed: boolean }
      t.is(o.before, 'anon_inode:inotify', "libuv's inotify fd took the number (the case under test)")
      t.is(o.after, o.before, "close() closed libuv's inotify fd")
      t.true(o.closed)
    })
  }
}

test.serial('a call that fails with the error of another kind of file on a reused number reports EBADF and gives the number up (s52-timer F1)', (t) => {
  // A directory opened on the number: the 8-byte read fails with EISDIR,
  // which was reported as the object's own error, and the object kept
  // using the number. Any error but EAGAIN, ECANCELED and EINTR now makes
  // it check (one fstat): the number is another file, so it is given up.
  const dir = mkdtempSync(join(tmpdir(), 'lfd-isdir-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const cases: ReadonlyArray<readonly [string, () => { fd: number; closed: boolean; close(): void }, (o: never) => unknown, string]> = [
    ['EventCounter', () => new EventCounter(), (o: EventCounter) => o.tryTake(), 'eventfd_read'],
    ['Semaphore', () => new Semaphore(1), (o: Semaphore) => o.tryAcquire(), 'eventfd_read'],
    ['Timer', () => new Timer(), (o: Timer) => o.tryWait(), 'timerfd_read'],
  ]
  for (const [kind, make, call, syscall] of cases) {
    const o = make()
    const n = o.fd
    closeSync(n)
    const other = openSync(dir, 'r')
    try {
      t.is(other, n, `${kind}: the number was reused`)
      const err = t.throws(() => call(o as never), { code: 'EBADF', message: /was closed outside linux-fd/ }, kind) as NodeJS.ErrnoException
      t.is(err?.syscall, syscall, kind)
      t.true(o.closed, kind)
      o.close()
      t.true(fstatSync(other).isDirectory(), `${kind}: the directory's fd is still open`)
    } finally {
      closeSync(other)
    }
  }
})

// s52-timer F2: the same with no fd number left for reading fdinfo. The
// mark was not recorded when the number was first read while the process
// was out of fds, and a close that could not read fdinfo counted the fd as
// ours: both closed a new worker's epoll fd, and the process aborted. Now a
// mark missed for want of fds records the kind (a timerfd if
// timerfd_gettime takes the number, else an eventfd), and a Timer's check
// without fdinfo asks timerfd_gettime. (An eventfd checked with no fd left
// still cannot be told from libuv's: docs/reliability.md.)
const hogFds = `
  const hog = []
  const fill = () => { try { for (;;) hog.push(fs.openSync('/dev/null', 'r')) } catch (e) { if (e.code !== 'EMFILE') throw e } }
  const free = () => { for (const f of hog.splice(0)) fs.closeSync(f) }
`
for (const [kind, when] of [['Timer', 'read'], ['EventCounter', 'read'], ['Timer', 'close']] as const) {
  const title =
    when === 'read'
      ? `${kind}: close() leaves alone a new worker's epoll fd on its number when the number was first read while out of fds (s52-timer F2)`
      : `${kind}: close() with no fd left leaves alone a new worker's epoll fd on its number (s52-timer F2)`
  test.serial(title, async (t) => {
    const r = await runNode(`
      const fs = require('node:fs'), { Worker } = require('node:worker_threads')
      ${hogFds}
      // The first write to a piped stdout makes libuv open /dev/null for
      // good (its reserve fd): made here, before a number is freed.
      console.log('started')
      ;(async () => {
        const o = new lfd.${kind}()
        ${when === 'read' ? 'fill(); const n = o.fd; free()' : 'const n = o.fd'}
        fs.closeSync(n)
        // Alive until terminated: a worker that ended by itself (a 300 ms
        // timer, once) closed its epoll fd before the check, when filling
        // the fd table took that long (ci-52b, Node 22).
        const w = new Worker("require('node:worker_threads').parentPort.on('message', () => {})", { eval: true })
        await new Promise((r) => w.once('online', r))
        const now = () => { try { return fs.readlinkSync('/proc/self/fd/' + n) } catch (e) { return e.code } }
        const before = now()
        ${when === 'close' ? 'fill(); o.close(); free()' : 'o.close()'}
        const after = now()
        await w.terminate()
        console.log(JSON.stringify({ before, after, closed: o.closed }))
      })()
    `)
    t.is(r.signal, null, r.stderr)
    t.is(r.code, 0, r.stderr)
    const o = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { before: string; after: string; closed: boolean }
    t.is(o.before, 'anon_inode:[eventpoll]', "the worker's epoll fd took the number (the case under test)")
    t.is(o.after, o.before, "close() closed the worker's epoll fd")
    t.true(o.closed)
  })
}

// s52-diff2 H1: the kernel hands a closed eventfd's id to the next eventfd
// made, so when a new worker's libuv loop put its async eventfd on the
// number, the link and the id were the ones recorded, close() closed
// libuv's eventfd, and the worker's next uv_async_send aborted the
// process. The mark's epoll set tells the two files apart. Which of a new
// worker's fds is its eventfd depends on the Node version (Node 20: an
// epoll fd and a pipe pair first; Node 22 adds an io_uring fd: ci-52d), so
// a probe worker counts them, and as many numbers are freed below the
// object's as come first.
for (const kind of ['EventCounter', 'Semaphore'] as const) {
  test.serial(`${kind}: close() leaves alone a new worker's libuv eventfd that took its number and its eventfd-id (s52-diff2 H1)`, async (t) => {
    const r = await runNode(`
      const fs = require('node:fs'), { Worker } = require('node:worker_threads')
      const link = (n) => { try { return fs.readlinkSync('/proc/self/fd/' + n) } catch (e) { return e.code } }
      // Open fds and what they are; the listing's own directory fd is gone
      // by the time it is named, and left out.
      const fds = () => new Map(fs.readdirSync('/proc/self/fd').map((f) => [+f, link(f)]).filter(([, l]) => l !== 'ENOENT'))
      const idle = "require('node:worker_threads').parentPort.on('message', () => {})"
      console.log('started') // the first write to a piped stdout opens libuv's reserve fd
      ;(async () => {
        const before = fds()
        const probe = new Worker(idle, { eval: true })
        await new Promise((r) => probe.once('online', r))
        const made = [...fds()].filter(([n]) => !before.has(n)).sort((a, b) => a[0] - b[0])
        const first = made.findIndex(([, l]) => l === 'anon_inode:[eventfd]')
        await probe.terminate()
        const below = Array.from({ length: first }, () => fs.openSync('/dev/null', 'r'))
        const o = new lfd.${kind}()
        const n = o.fd
        for (const f of below) fs.closeSync(f)
        fs.closeSync(n)
        const w = new Worker("const { parentPort } = require('node:worker_threads'); parentPort.postMessage(1); setInterval(() => parentPort.postMessage(2), 20)", { eval: true })
        await new Promise((r) => w.once('message', r))
        const before2 = link(n)
        o.close()
        const after = link(n)
        let got = 0
        w.on('message', () => got++)
        await new Promise((r) => setTimeout(r, 200))
        await w.terminate()
        console.log(JSON.stringify({ made: made.map(([, l]) => l), first, before: before2, after, got }))
      })()
    `)
    t.is(r.signal, null, r.stderr)
    t.is(r.code, 0, r.stderr)
    const o = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { made: string[]; first: number; before: string; after: string; got: number }
    t.log(`a new worker's fds: ${o.made.join(', ')}`)
    t.true(o.first >= 0, 'a new worker makes an eventfd')
    t.is(o.before, 'anon_inode:[eventfd]', "the worker's eventfd took the number (the case under test)")
    t.is(o.after, o.before, "close() closed the worker's eventfd")
    t.true(o.got > 0, 'the worker still talks')
  })
}

// s52-chan H1: the same for an eventfd received over an FdChannel. The
// received fds' guards recorded no fdinfo mark, so once the number was
// closed by JS and libuv's inotify fd took it, ReceivedFds.close() closed
// libuv's fd (the child aborted, or its next fs.watch() failed with EBADF)
// and take() handed it out as the message's fd. Now a received fd on the
// anonymous inode records its mark when its number first reaches JS
// (peek, the iterator, inspect, remaining).
for (const via of ['peek', 'iterator', 'inspect'] as const) {
  for (const op of ['close', 'take'] as const) {
    test.serial(`ReceivedFds: ${op}() leaves alone an anonymous-inode fd of libuv that reused a received eventfd's number (known from ${via}) (s52-chan H1)`, async (t) => {
      const r = await runNode(`
        const fs = require('node:fs'), os = require('node:os'), util = require('node:util')
        ;(async () => {
          const [a, b] = lfd.FdChannel.pair()
          const ec = new lfd.EventCounter()
          await a.send('x', [ec])
          ec.close()
          const { fds } = await b.receive()
          const n = ${via === 'peek' ? 'fds.peek(0)' : via === 'iterator' ? '[...fds][0]' : 'Number(/fds: \\[ (\\d+) \\]/.exec(util.inspect(fds))[1])'}
          fs.closeSync(n)
          const w = fs.watch(os.tmpdir())
          const now = () => { try { return fs.readlinkSync('/proc/self/fd/' + n) } catch (e) { return e.code } }
          const before = now()
          let took = null
          ${op === 'close' ? 'fds.close()' : 'try { took = fds.take(0) } catch (e) { took = e.code }'}
          const after = now()
          w.close()
          fs.watch(os.tmpdir()).close() // libuv's inotify fd still works
          a.close(); b.close()
          console.log(JSON.stringify({ before, after, took, remaining: fds.remaining }))
        })()
      `)
      t.is(r.signal, null, r.stderr)
      t.is(r.code, 0, r.stderr)
      const o = JSON.parse(r.stdout) as { before: string; after: string; took: unknown; remaining: number }
      t.is(o.before, 'anon_inode:inotify', "libuv's inotify fd took the number (the case under test)")
      t.is(o.after, o.before, `${op}() closed or handed out libuv's inotify fd`)
      if (op === 'take') t.is(o.took, 'ERR_INVALID_ARG_VALUE', "take() refuses the number: it is not the message's fd any more")
      t.is(o.remaining, 0)
    })
  }
}

test.serial('reading fd of a Semaphore whose fd was lost before it was ever read does not make its permits count as shared (s51-diff L1)', (t) => {
  new Semaphore(1).close() // the once-per-process identity probe, out of the way
  const probe = openSync('/dev/null', 'r')
  closeSync(probe)
  const sem = new Semaphore(1)
  const permit = sem.acquireSync()
  closeSync(probe) // the semaphore's fd, by its predicted number: never read from sem
  t.throws(() => sem.tryAcquire(), { code: 'EBADF' })
  t.true(sem.closed)
  t.true(permit.released, 'before: the count went with the fd, which never left the object')
  t.is(sem.fd, -1)
  t.true(permit.released, 'reading fd (-1) made the fd count as shared')
  let warned = false
  const onWarning = (w: Error & { code?: string }) => void (warned ||= w.code === 'LINUX_FD_PERMIT_LOST')
  process.on('warning', onWarning)
  permit.release()
  process.off('warning', onWarning)
  t.false(warned)
})

test.serial('a pending take() still gets a value added through another fd, and never reads the victim', async (t) => {
  // The poll watches a private dup, not obj.fd: after fs.closeSync(obj.fd)
  // the counter is still alive (the dup, and `other`, hold it), so a wait
  // is served as before and nothing is read from the number's new owner.
  const c = new EventCounter()
  const other = EventCounter.fromFd(c.fd)
  const p = c.take()
  await sleep(10)
  const n = c.fd
  closeSync(n)
  const victim = victimAt(n)
  if (!victim) return t.fail(`fd ${n} went to another file before the victim could take it: the check could not run`)
  other.add(5)
  t.is(await p, 5n)
  victim.check(t)
  // close() finds out with its fstat identity check, and leaves the victim be.
  // (An explicit call such as tryTake() would not: it would read from the
  // number as it is, victim or not; see docs/notes-fds.md.)
  other.close()
  victim.check(t)
  victim.close()
})

test.serial('the garbage collector does not close a number that was reused', async (t) => {
  const r = await runNode(
    `
    const fs = require('fs')
    const path = require('path')
    const dir = ${JSON.stringify(dir)}
    // The dropped lock, whose fd was closed behind its back, warns when
    // collected (LINUX_FD_LOCK_COLLECTED); anything else on stderr fails.
    process.removeAllListeners('warning')
    process.on('warning', (w) => { if (w.code !== 'LINUX_FD_LOCK_COLLECTED') console.error(w) })
    const victims = []
    function victimAt(n, i) {
      const p = path.join(dir, 'gc-victim-' + i)
      fs.writeFileSync(p, 'gc victim')
      const fd = fs.openSync(p, 'r+')
      if (fd !== n) throw new Error('victim got fd ' + fd + ', wanted ' + n)
      victims.push({ fd, p })
    }
    ;(() => {
      const objs = [
        () => new lfd.EventCounter(),
        () => new lfd.Semaphore(),
        () => new lfd.Timer(),
        () => lfd.MemFile.create('gc'),
        () => lfd.tryLockFile(path.join(dir, 'gc-lock')),
      ]
      objs.forEach((make, i) => {
        const o = make()
        const n = o.fd
        fs.closeSync(n)
        victimAt(n, i)
      })
    })()
    ;(async () => {
      for (let i = 0; i < 10; i++) {
        globalThis.gc()
        await new Promise((r) => setImmediate(r))
      }
      for (const v of victims) {
        fs.fstatSync(v.fd)
        if (fs.readFileSync(v.p, 'utf8') !== 'gc victim') throw new Error('victim written')
      }
      console.log('ok ' + victims.length)
    })().catch((e) => { console.error(e); process.exit(1) })
    `,
    { args: ['--expose-gc'] },
  )
  t.is(r.stderr, '')
  t.is(r.stdout.trim(), 'ok 5')
  t.is(r.code, 0)
})

test.serial('a setter on Object.prototype cannot re-enter an object while the binding builds an error', async (t) => {
  // Before: napi_create_error *set* `code`, running this setter, whose
  // close() then hit a RefCell borrow and aborted the process. In a child,
  // since the old failure was an abort.
  const r = await runNode(`
    let victim
    Object.defineProperty(Object.prototype, 'code', { configurable: true, set(v) { victim.close() } })
    Object.defineProperty(Object.prototype, 'errno', { configurable: true, set(v) { victim.close() } })
    const out = []
    for (const make of [() => lfd.MemFile.create('x'), () => new lfd.EventCounter(0), () => new lfd.Semaphore(0), () => new lfd.Timer()]) {
      victim = make()
      victim.close()
      try { victim.fd >= 0 && victim.close(); victim instanceof lfd.MemFile ? victim.size : victim.hasRef() && victim.tryAcquire?.() ; victim.add?.(1); victim.tryAcquire?.(); victim.get?.() } catch (e) { out.push(e.code) }
    }
    console.log(JSON.stringify(out))
  `)
  t.is(r.signal, null, r.stderr)
  t.is(r.code, 0, r.stderr)
  t.deepEqual(JSON.parse(r.stdout), ['ERR_USE_AFTER_CLOSE', 'ERR_USE_AFTER_CLOSE', 'ERR_USE_AFTER_CLOSE', 'ERR_USE_AFTER_CLOSE'])
})

// rt/ext.rs: the fd and lock handles are externals whose data is a token
// checked against the thread's own slab, not napi-rs's registry. Any other
// value, an external of the other handle kind or of napi-rs's (a watch), is
// refused, never misread: -EINVAL from the raw handle functions
// (rt/rawfn.rs: eventfdOpen, the fd handle's, lockDup, lockTry, lockDupTry, lockRelease), napi-rs's InvalidArg throw from the generated ones.
test.serial('binding: a handle argument of the wrong kind is refused (-EINVAL raw, InvalidArg generated), in the main thread and in a worker', async (t) => {
  const code = `
    const native = require(${JSON.stringify(join(import.meta.dirname, '..', 'binding.js'))})
    const fs = require('node:fs')
    const out = []
    const fdH = native.eventfdOpen(0, false)
    const p = require('node:path').join(require('node:os').tmpdir(), 'lfd-ext-' + process.pid + '-' + Math.random())
    fs.writeFileSync(p, '')
    const lockH = native.lockOpen(p, false, false, 0, 0)
    const watch = native.watchOpen(native.fdHandleFd(fdH), () => {})
    const tryIt = (name, f) => { try { out.push([name, 'returned', f()]) } catch (e) { out.push([name, 'threw', e.code, e.message]) } }
    tryIt('fdHandleFd(lock handle)', () => native.fdHandleFd(lockH))
    tryIt('fdHandleFd(watch)', () => native.fdHandleFd(watch))
    tryIt('fdHandleClose(number)', () => native.fdHandleClose(3))
    tryIt('fdHandleClose()', () => native.fdHandleClose())
    tryIt('lockTry({})', () => native.lockTry({}))
    tryIt('lockRelease(fd handle)', () => native.lockRelease(fdH))
    tryIt('lockDup(string fd)', () => native.lockDup('3', false, false, 0, 0))
    tryIt('lockDup(number for a boolean)', () => native.lockDup(native.fdHandleFd(fdH), 1, false, 0, 0))
    tryIt('lockDup(missing range)', () => native.lockDup(native.fdHandleFd(fdH), false, false))
    tryIt('lockDup(-1)', () => native.lockDup(-1, false, false, 0, 0))
    tryIt('lockDupTry(string fd)', () => native.lockDupTry('3', 0))
    tryIt('lockDupTry(fd handle)', () => native.lockDupTry(fdH, 0))
    tryIt('lockFd(fd handle)', () => native.lockFd(fdH))
    tryIt('lockFd(watch)', () => native.lockFd(watch))
    tryIt('eventfdOpen(-1)', () => native.eventfdOpen(-1, false))
    tryIt('eventfdOpen(2 ** 32)', () => native.eventfdOpen(2 ** 32, false))
    tryIt('eventfdOpen(number for a boolean)', () => native.eventfdOpen(0, 0))
    tryIt('fdHandleLost(lock handle)', () => native.fdHandleLost(lockH))
    tryIt('lockKey(fd handle)', () => native.lockKey(fdH))
    tryIt('lockKey(watch)', () => native.lockKey(watch))
    tryIt('lockNamesPath(fd handle)', () => native.lockNamesPath(fdH, p))
    tryIt('lockNamesPath(number path)', () => native.lockNamesPath(lockH, 3))
    tryIt('lockNamesPath(own)', () => native.lockNamesPath(lockH, p))
    tryIt('fdHandleFd(own)', () => native.fdHandleFd(fdH) >= 0)
    tryIt('lockTry(own)', () => native.lockTry(lockH) >= 0)
    native.watchClose(watch)
    native.fdHandleClose(fdH)
    native.lockRelease(lockH)
    fs.rmSync(p)
    return out
  `
  const expected = [
    ['fdHandleFd(lock handle)', 'returned', -22],
    ['fdHandleFd(watch)', 'returned', -22],
    ['fdHandleClose(number)', 'returned', -22],
    ['fdHandleClose()', 'returned', -22],
    ['lockTry({})', 'returned', -22],
    ['lockRelease(fd handle)', 'returned', -22],
    ['lockDup(string fd)', 'returned', -22],
    ['lockDup(number for a boolean)', 'returned', -22],
    ['lockDup(missing range)', 'returned', -22],
    ['lockDup(-1)', 'returned', -9],
    ['lockDupTry(string fd)', 'returned', -22],
    ['lockDupTry(fd handle)', 'returned', -22],
    ['lockFd(fd handle)', 'threw', 'InvalidArg'],
    ['lockFd(watch)', 'threw', 'InvalidArg'],
    ['eventfdOpen(-1)', 'returned', -22],
    ['eventfdOpen(2 ** 32)', 'returned', -22],
    ['eventfdOpen(number for a boolean)', 'returned', -22],
    ['fdHandleLost(lock handle)', 'threw', 'InvalidArg'],
    ['lockKey(fd handle)', 'threw', 'InvalidArg'],
    ['lockKey(watch)', 'threw', 'InvalidArg'],
    ['lockNamesPath(fd handle)', 'threw', 'InvalidArg'],
    ['lockNamesPath(number path)', 'threw', 'InvalidArg'],
    ['lockNamesPath(own)', 'returned', 1],
    ['fdHandleFd(own)', 'returned', true],
    ['lockTry(own)', 'returned', true],
  ]
  const strip = (rows: unknown[][]) => rows.map((r) => r.slice(0, 3))
  const main = new Function('require', code)(createRequire(import.meta.url)) as unknown[][]
  t.deepEqual(strip(main), expected)
  const { Worker } = await import('node:worker_threads')
  const fromWorker = await new Promise<unknown[][]>((resolve, reject) => {
    const w = new Worker(`const { parentPort } = require('node:worker_threads'); parentPort.postMessage((() => { ${code} })())`, { eval: true })
    w.once('message', resolve)
    w.once('error', reject)
  })
  t.deepEqual(strip(fromWorker), expected)
  // A handle made in the worker, passed back: the main thread's slab does not
  // know its token.
  const foreign = await new Promise<unknown>((resolve, reject) => {
    const w = new Worker(
      `const { parentPort } = require('node:worker_threads')
       const native = require(${JSON.stringify(join(import.meta.dirname, '..', 'binding.js'))})
       const h = native.eventfdOpen(0, false)
       try { parentPort.postMessage(h) } catch (e) { parentPort.postMessage({ cloneError: e.name }) }
       native.fdHandleClose(h)`,
      { eval: true },
    )
    w.once('message', resolve)
    w.once('error', reject)
  })
  // Node refuses to clone an external at all, so no token crosses threads.
  t.deepEqual(foreign, { cloneError: 'DataCloneError' })
})

test.serial('binding: handles dropped without close are closed when collected, and new ones work after', async (t) => {
  const r = await runNode(
    `const native = require(${JSON.stringify(join(import.meta.dirname, '..', 'binding.js'))})
     const fs = require('node:fs')
     const n = () => fs.readdirSync('/proc/self/fd').length
     const base = n()
     let hs = []
     for (let i = 0; i < 1000; i++) hs.push(native.eventfdOpen(0, false))
     const held = n()
     hs = null
     ;(async () => {
       for (let i = 0; i < 10 && n() > base; i++) { gc(); await new Promise((r) => setImmediate(r)) }
       const after = n()
       const again = []
       for (let i = 0; i < 1000; i++) again.push(native.eventfdOpen(0, false))
       const fds = again.map((h) => native.fdHandleFd(h))
       for (const h of again) native.fdHandleClose(h)
       console.log(JSON.stringify({ base, held, after, distinct: new Set(fds).size, end: n() }))
     })()`,
    { args: ['--expose-gc'] },
  )
  t.is(r.code, 0, r.stderr)
  const o = JSON.parse(r.stdout) as { base: number; held: number; after: number; distinct: number; end: number }
  t.is(o.held, o.base + 1000)
  t.is(o.after, o.base, 'the collected handles closed their fds')
  t.is(o.distinct, 1000)
  t.is(o.end, o.base)
})

// lock.rs lock_wait: the report is the handle's fd number once locked. A
// direct caller of the binding may release the handle while its wait runs;
// the wait then reports -EBADF (there is no fd to give) and unlocks through
// its own dup, so nothing stays locked. That matters for a lockDup handle,
// which shares the caller's open file description: closing the dup alone
// left the caller's description locked.
for (const how of ['lockOpen', 'lockDup'] as const) {
  test.serial(`binding: a lock wait whose ${how} handle was released meanwhile reports -EBADF and leaves nothing locked`, async (t) => {
    const native = createRequire(import.meta.url)('../binding.js')
    const dir = mkdtempSync(join(tmpdir(), 'lfd-wait-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const p = join(dir, 'lock')
    writeFileSync(p, '')
    const holder = native.lockOpen(p, false, false, 0, 0)
    t.true(native.lockTry(holder) >= 0)
    const callerFd = openSync(p, 'r+')
    t.teardown(() => closeSync(callerFd))
    const h = how === 'lockOpen' ? native.lockOpen(p, false, false, 0, 0) : native.lockDup(callerFd, false, false, 0, 0)
    const reported = new Promise<number>((resolve) => {
      t.is(typeof native.lockWait(h, resolve), 'object')
    })
    await sleep(50)
    native.lockRelease(h)
    native.lockRelease(holder)
    t.is(await reported, -9)
    const third = native.lockOpen(p, false, false, 0, 0)
    t.true(native.lockTry(third) >= 0, 'the lock the released wait got was undone')
    native.lockRelease(third)
  })
}

// The classes' fds are always close-on-exec (the rsyscall rule), adopted ones
// too: before, `{ adopt: true }` kept an inheritable fd inheritable, so every
// child the process spawned got it.
test.serial('an adopted fd is made close-on-exec', (t) => {
  const makers: Array<[string, () => number, (fd: number) => { fd: number; close(): void }]> = [
    ['EventCounter', () => eventfd(0, 0), (fd) => EventCounter.fromFd(fd, { adopt: true })],
    ['Semaphore', () => eventfd(0, EFD_SEMAPHORE), (fd) => Semaphore.fromFd(fd, { adopt: true })],
    ['Timer', () => timerfdCreate(CLOCK_MONOTONIC), (fd) => Timer.fromFd(fd, { adopt: true })],
    ['MemFile', () => memfdCreate('adopted', 0), (fd) => MemFile.fromFd(fd, { adopt: true })],
  ]
  for (const [name, make, adopt] of makers) {
    const fd = make()
    fcntl(fd, F_SETFD, 0)
    t.is(fcntl(fd, F_GETFD), 0, `${name}: inheritable before`)
    const obj = adopt(fd)
    t.is(obj.fd, fd, name)
    t.is((fcntl(fd, F_GETFD) as number) & FD_CLOEXEC, FD_CLOEXEC, `${name}: close-on-exec once adopted`)
    obj.close()
  }
})

// Two owners of one number: every eventfd and timerfd has the same fstat
// identity, so the close-time check alone could not tell one from another.
// Each object's fd is recorded, process-wide, with the object that owns it:
// `{ adopt: true }` of a number another object owns is refused (EBUSY, the
// fd left alone), and an object whose number another object got since (it
// was closed behind its back) gives it up without closing it.

/**
 * Runs `make` so that the object it opens gets fd `n`: lower free numbers
 * are filled first (and freed after). Numbers are handed out lowest-first.
 */
function makeAt<T extends { fd: number }>(n: number, make: () => T): T {
  const fillers: number[] = []
  let f = openSync('/dev/null', 'r')
  while (f < n && fillers.length < 64) {
    fillers.push(f)
    f = openSync('/dev/null', 'r')
  }
  if (f === n) closeSync(f)
  else fillers.push(f)
  try {
    return make()
  } finally {
    for (const x of fillers) closeSync(x)
  }
}

type Owner = { fd: number; close(): void }
const owners: Array<[string, () => Owner, (fd: number) => Owner]> = [
  ['EventCounter', () => new EventCounter(), (fd) => EventCounter.fromFd(fd, { adopt: true })],
  ['Semaphore', () => new Semaphore(), (fd) => Semaphore.fromFd(fd, { adopt: true })],
  ['Timer', () => new Timer(), (fd) => Timer.fromFd(fd, { adopt: true })],
  ['MemFile', () => MemFile.create('owned'), (fd) => MemFile.fromFd(fd, { adopt: true })],
  ['FdChannel', () => FdChannel.pair()[0], (fd) => FdChannel.fromFd(fd, { adopt: true })],
]

test.serial('fromFd(fd, { adopt: true }) of an fd another object owns throws EBUSY and leaves the fd to its owner', (t) => {
  for (const [name, make, adopt] of owners) {
    const owner = make()
    const fd = owner.fd
    const err = t.throws(() => adopt(fd), undefined, `${name}: a second owner was accepted`) as NodeJS.ErrnoException
    t.is(err?.code, 'EBUSY', name)
    t.is(err?.errno, -16, name)
    t.is(err?.syscall, 'adopt', name)
    t.regex(err?.message ?? '', new RegExp(`^EBUSY: resource busy or locked, adopt: fd ${fd} is already owned by another linux-fd object`), name)
    t.notThrows(() => fstatSync(fd), `${name}: the refused adoption closed the fd`)
    owner.close()
    t.throws(() => fstatSync(fd), { code: 'EBADF' }, `${name}: the owner still closes its fd`)
  }
})

test.serial('fromFd(object, { adopt: true }) is ERR_INVALID_ARG_TYPE: an object with an fd (a FileHandle) keeps owning it', (t) => {
  // Adopting a FileHandle's number left two owners of one fd: its close()
  // closed the number under the adopting object.
  const makers: Array<[string, () => number, (fd: object) => Owner]> = [
    ['EventCounter', () => eventfd(0, 0), (o) => EventCounter.fromFd(o as { fd: number }, { adopt: true } as never)],
    ['Semaphore', () => eventfd(0, EFD_SEMAPHORE), (o) => Semaphore.fromFd(o as { fd: number }, { adopt: true } as never)],
    ['Timer', () => timerfdCreate(CLOCK_MONOTONIC), (o) => Timer.fromFd(o as { fd: number }, { adopt: true } as never)],
    ['MemFile', () => memfdCreate('adopted', 0), (o) => MemFile.fromFd(o as { fd: number }, { adopt: true } as never)],
  ]
  for (const [name, make, adopt] of makers) {
    const fd = make()
    const handleLike = { fd }
    t.throws(() => adopt(handleLike), { code: 'ERR_INVALID_ARG_TYPE', message: /adopt/ }, name)
    t.notThrows(() => fstatSync(fd), `${name}: the fd is left alone`)
    closeSync(fd)
  }
  const [a, b] = FdChannel.pair()
  t.throws(() => FdChannel.fromFd(a, { adopt: true } as never), { code: 'ERR_INVALID_ARG_TYPE', message: /adopt/ })
  t.false(a.closed)
  a.close()
  b.close()
  // Without adopt, an object is fine: its fd is duplicated.
  const [c, d] = FdChannel.pair()
  const twin = FdChannel.fromFd(c)
  t.not(twin.fd, c.fd)
  twin.close()
  c.close()
  d.close()
})

test.serial("fromFd(fd, { adopt: true }) of the package's private dups (a wait's poll dup, a lock wait's dup) is EBUSY", async (t) => {
  // A pending wait polls a private dup of the object's fd, and a lock wait
  // locks through one. They were not recorded as owned: adopted and closed,
  // the counter's next wait aborted the process inside libuv (epoll_ctl on a
  // closed fd), and the lock wait's report closed whatever got its number.
  // In a child: the lowest free number is where each dup lands.
  const r = await runNode(
    `const fs = require('fs')
     const native = require(require('path').join(${JSON.stringify(PKG)}, '..', 'binding.js'))
     // The binding's adoption, which takes any kind of fd (fromFd checks the kind first).
     const adopt = (n) => { const h = native.fdHandleFrom(n, true, false, false); return typeof h === 'number' ? (h === -16 ? 'EBUSY' : h) : 'adopted' }
     const link = (n) => { try { return fs.readlinkSync('/proc/self/fd/' + n) } catch (e) { return e.code } }
     ;(async () => {
       const out = {}
       const a = new lfd.EventCounter()
       const probe = lfd.eventfd(0, 0); fs.closeSync(probe)
       const p = a.take()
       out.watchDup = link(probe)
       out.watch = adopt(probe)
       a.add(1)
       out.took = String(await p)
       setTimeout(() => a.add(2), 20)
       out.again = String(await a.take())
       a.close()
       const path = ${JSON.stringify(join(dir, 'private-dup.lock'))}
       const holder = await lfd.tryLockFile(path)
       const nums = [lfd.eventfd(0, 0), lfd.eventfd(0, 0)].sort((x, y) => x - y)
       nums.forEach((n) => fs.closeSync(n))
       const waiting = lfd.lockFile(path) // its own fd takes the lower number, its wait's dup the higher
       out.lockDup = link(nums[1]) === fs.readlinkSync('/proc/self/fd/' + holder.fd)
       out.lock = adopt(nums[1])
       const victim = new lfd.EventCounter(5)
       holder.release()
       const got = await waiting
       out.locked = !got.released
       got.release()
       out.victim = String(victim.tryTake())
       victim.close()
       console.log(JSON.stringify(out))
     })()`,
  )
  t.is(r.signal, null, r.stderr)
  const out = JSON.parse(r.stdout)
  t.log(out)
  t.is(out.watchDup, 'anon_inode:[eventfd]', 'the dup did not land on the probed number')
  t.is(out.watch, 'EBUSY', "a wait's poll dup was adopted")
  t.is(out.took, '1')
  t.is(out.again, '2')
  t.true(out.lockDup, 'the lock wait\'s dup did not land on the probed number')
  t.is(out.lock, 'EBUSY', "a lock wait's dup was adopted")
  t.true(out.locked)
  t.is(out.victim, '5')
})

test.serial('a refused second owner cannot close the fd of a later object that got the number', (t) => {
  // The repro: adopt a live counter's fd, close the counter, a new counter
  // gets the number, then close the "twin": it closed the new counter's fd.
  const a = new EventCounter()
  const fd = a.fd
  let twin: EventCounter | undefined
  const err = t.throws(() => (twin = EventCounter.fromFd(fd, { adopt: true }))) as NodeJS.ErrnoException
  t.is(err?.code, 'EBUSY')
  a.close()
  const c = makeAt(fd, () => new EventCounter(7))
  t.is(c.fd, fd, 'the new counter did not get the freed number: the check could not run')
  twin?.close()
  t.is(c.tryTake(), 7n, "the twin closed the new counter's fd")
  c.close()
})

test.serial('binding: fdHandleFrom(fd, adopt) of an fd a live handle owns is -EBUSY, and the fd is untouched', (t) => {
  const native = createRequire(import.meta.url)('../binding.js')
  const a = native.eventfdOpen(0, false)
  const fd = native.fdHandleFd(a)
  t.is(native.fdHandleFrom(fd, true, true, false), -16)
  t.is(native.fdHandleFrom(fd, true, true, true), -16, 'nonblock or not')
  native.fdHandleClose(a)
  const c = makeAt(fd, () => ({ h: native.eventfdOpen(7, false), get fd() { return native.fdHandleFd(this.h) as number } }))
  t.is(c.fd, fd)
  t.is(native.eventfdRead(fd), 7n)
  // Not owned by anyone now (the number is the caller's): adopting works.
  const raw = eventfd(0, 0)
  const h = native.fdHandleFrom(raw, true, true, false)
  t.is(typeof h, 'object')
  t.is(native.fdHandleFd(h), raw)
  native.fdHandleClose(h)
  native.fdHandleClose(c.h)
})

test.serial('the owners are process-wide: a worker cannot adopt an fd the main thread owns', async (t) => {
  const { Worker } = await import('node:worker_threads')
  const c = new EventCounter(4)
  const got = await new Promise<unknown>((resolve, reject) => {
    const w = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads')
       const lfd = require(${JSON.stringify(join(import.meta.dirname, '..', 'index.js'))})
       try { lfd.EventCounter.fromFd(workerData, { adopt: true }); parentPort.postMessage('adopted') }
       catch (e) { parentPort.postMessage(e.code) }`,
      { eval: true, workerData: c.fd },
    )
    w.once('message', resolve)
    w.once('error', reject)
  })
  t.is(got, 'EBUSY')
  t.is(c.tryTake(), 4n, "the worker's refused adoption touched the counter")
  c.close()
})

for (const [staleName, makeStale] of owners.slice(0, 3)) {
  test.serial(`${staleName}: closed behind its back and the number reused by a new EventCounter, its close() leaves the new one alone`, (t) => {
    const stale = makeStale()
    const n = stale.fd
    closeSync(n)
    const fresh = makeAt(n, () => new EventCounter(5))
    t.is(fresh.fd, n, 'the new counter did not get the number: the check could not run')
    // Only the owner registry can tell: both are the anonymous inode.
    stale.close()
    t.is(stale.fd, -1)
    t.is(fresh.tryTake(), 5n, "the stale object closed the new counter's fd")
    fresh.close()
    t.throws(() => fstatSync(n), { code: 'EBADF' })
  })
}

test.serial('the garbage collector does not close a new EventCounter that got a collected object\'s number', async (t) => {
  const r = await runNode(
    `
    const fs = require('fs')
    const fresh = []
    let collected = 0
    const reg = new FinalizationRegistry(() => collected++)
    ;(() => {
      const makers = [() => new lfd.EventCounter(), () => new lfd.Semaphore(), () => new lfd.Timer()]
      for (const make of makers) {
        const stale = make()
        reg.register(stale, 0)
        const n = stale.fd
        fs.closeSync(n)
        const c = new lfd.EventCounter(7)
        if (c.fd !== n) throw new Error('the new counter got fd ' + c.fd + ', wanted ' + n)
        fresh.push(c)
      }
    })()
    ;(async () => {
      for (let i = 0; i < 20 && collected < fresh.length; i++) {
        globalThis.gc()
        await new Promise((r) => setImmediate(r))
      }
      if (collected !== fresh.length) throw new Error('only ' + collected + ' collected')
      for (const c of fresh) {
        const v = c.tryTake()
        if (v !== 7n) throw new Error('fd ' + c.fd + ' read ' + v)
      }
      console.log('ok ' + fresh.length)
    })().catch((e) => { console.error(String(e)); process.exit(1) })
    `,
    { args: ['--expose-gc'] },
  )
  t.is(r.stderr, '')
  t.is(r.stdout.trim(), 'ok 3')
  t.is(r.code, 0)
})

test.serial('the number reused by a file too short for 8 bytes: the EINVAL of the first call is found to be the loss (EBADF), for the count too', (t) => {
  // Only EBADF was checked for a loss: a read of an empty file on the
  // reused number is a short read, EINVAL, and the object went on using the
  // number for good. The check runs on EINVAL too now. (A reused number that
  // gives 8 bytes is read as a count: the hot paths make no identity check.)
  const empty = join(dir, 'empty')
  writeFileSync(empty, '')
  for (const make of [() => new EventCounter(), () => new Semaphore(0), () => new Timer()]) {
    const o = make()
    const n = o.fd
    closeSync(n)
    const f = openSync(empty, 'r')
    try {
      t.is(f, n, 'the lowest free number is reused')
      const first = o instanceof Timer ? () => o.tryWait() : o instanceof Semaphore ? () => o.count : () => (o as EventCounter).tryTake()
      t.throws(first, { code: 'EBADF', message: /closed outside linux-fd/ }, o.constructor.name)
      t.true(o.closed)
      o.close()
      t.notThrows(() => fstatSync(f), 'the file on the reused number stays open')
    } finally {
      closeSync(f)
    }
  }
})

test.serial('binding: watchOpen refuses a callback that is not a function with -EINVAL and opens nothing', (t) => {
  // napi-rs's Function argument takes any value: a primitive failed as
  // -ENOMEM, and a non-callable object or a symbol gave a watch whose
  // callback could never run (a readable fd then woke the loop for nothing).
  const native = createRequire(import.meta.url)('../binding.js') as {
    eventfd(v: number, f: number): number
    watchOpen(fd: number, cb: unknown): unknown
  }
  const fd = native.eventfd(1, 0)
  t.teardown(() => closeSync(fd))
  const before = fdList()
  const got = [5, undefined, null, 'x', {}, Symbol('s'), Object.create(Function.prototype)].map((cb) => native.watchOpen(fd, cb))
  t.deepEqual(got, Array(7).fill(-osConstants.errno.EINVAL))
  t.deepEqual(fdsAdded(before), [])
})

test.serial('helpers: fdsAdded sees a new eventfd or timerfd that got the number of a listed one', (t) => {
  for (const make of [() => new EventCounter(), () => new Timer()]) {
    // A finalizer closing a lower number in between would hand the new object
    // that one instead: then try again (a flake otherwise, never a pass).
    let n = -1
    let before: string[] = []
    let reused: EventCounter | Timer | undefined
    for (let i = 0; i < 5 && reused?.fd !== n; i++) {
      reused?.close()
      const old = make()
      n = old.fd
      before = fdList()
      old.close()
      reused = make()
    }
    const made = reused!
    t.teardown(() => made.close())
    t.is(made.fd, n, 'the lowest free number')
    t.deepEqual(fdsAdded(before).map((e) => e.split(' ')[0]), [String(n)], 'same number, same name, same inode, yet a new file')
    made.close()
    t.deepEqual(fdsAdded(before), [])
  }
})

test('fromFd in a process out of fds refuses with EMFILE instead of taking an fd of any kind (s46-exhaust H3)', (t) => {
  // The kind check reads /proc/self/fdinfo, which needs an fd number: with
  // none left it answered "unknown" (as without /proc), and fromFd with
  // { adopt: true }, which needs no number of its own, took a plain counter
  // for a Semaphore, a timerfd for an EventCounter, a counter for a Timer.
  const code = `const fs = require('fs')
const plain = lfd.eventfd(5)
const tfd = lfd.timerfdCreate(lfd.CLOCK_MONOTONIC)
const real = lfd.timerfdCreate(lfd.CLOCK_REALTIME)
const fill = []
try { for (;;) fill.push(fs.openSync('/dev/null', 'r')) } catch {}
const out = []
for (const f of [() => lfd.Semaphore.fromFd(plain, { adopt: true }), () => lfd.EventCounter.fromFd(tfd, { adopt: true }), () => lfd.Timer.fromFd(plain, { adopt: true })]) {
  try { f(); out.push('accepted') } catch (e) { out.push(e.code + ' ' + e.syscall) }
}
// One number free: the clock is read before the dup takes it (s46-diff M1:
// read after, it failed, and a realtime timer read as 'monotonic').
fs.closeSync(fill.pop())
try { const t = lfd.Timer.fromFd(real); out.push(t.clock); t.close() } catch (e) { out.push(e.code + ' ' + e.syscall) }
for (const f of fill) fs.closeSync(f)
try { lfd.Semaphore.fromFd(plain, { adopt: true }); out.push('accepted') } catch (e) { out.push(e.code) }
console.log(JSON.stringify(out))`
  // 256 numbers (sh's ulimit: Node has no setrlimit), so the fill is quick.
  const r = spawnSync('sh', ['-c', 'ulimit -n 256 && exec "$0" -e "$1"', process.execPath, `const lfd = require(${JSON.stringify(PKG)})\n${code}`], {
    encoding: 'utf8',
    timeout: 30_000 * SLOWDOWN,
  })
  t.is(r.status, 0, r.stderr)
  t.deepEqual(JSON.parse(r.stdout), ['EMFILE open', 'EMFILE open', 'EMFILE open', 'realtime', 'ERR_INVALID_ARG_VALUE'])
})
