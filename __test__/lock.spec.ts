// lockFile / tryLockFile / FileLock: OFD and flock locks, with conflicts
// tested from real child processes, and waits that block neither the event
// loop nor libuv's threadpool.
import test from 'ava'
import { chmodSync, closeSync, mkdtempSync, openSync, promises as fsp, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { inspect } from 'node:util'
import { constants as osConstants, tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { runInNewContext } from 'node:vm'
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'

import { FileLock, LOCK_EX, LOCK_NB, LOCK_SH, lockf, lockFile, testLock, tryLockFile } from '../index.js'
import { fdCount, fdList, fdsAdded, othersTmpdir, PKG, prlimit, runNode, sleep, until } from './helpers/child.js'
import { scaled } from './helpers/emulation.js'

// The binding's view of the lock-wait thread pool: idle threads, and the
// thread ids of those running a wait.
const native = createRequire(import.meta.url)('../binding.js') as typeof import('../binding.js')

// Serial: these tests hold locks, spawn processes and time the event loop.
const dir = mkdtempSync(join(tmpdir(), 'linux-fd-lock-'))
test.after.always(() => rmSync(dir, { recursive: true, force: true }))
let n = 0
const file = () => join(dir, `lock${n++}`)

/** Asks a child whether it can take the lock right now. */
async function childTry(path: string, options: object): Promise<string> {
  const r = await runNode(
    `const l = lfd.tryLockFile(${JSON.stringify(path)}, ${JSON.stringify(options)}); console.log(l ? 'locked' : 'busy')`,
  )
  if (r.code !== 0) throw new Error(r.stderr)
  return r.stdout.trim()
}

test.serial('lockFile takes a free lock at once and describes it', async (t) => {
  const path = file()
  const lock = await lockFile(path)
  t.is(lock.kind, 'ofd')
  t.false(lock.shared)
  t.deepEqual(lock.range, { start: 0, length: 0 })
  t.true(lock.fd >= 0)
  t.false(lock.released)
  lock.release()
  t.true(lock.released)
  t.is(lock.fd, -1)
  t.notThrows(() => lock.release(), 'release is idempotent')
  const f = await lockFile(path, { kind: 'flock', shared: true })
  t.is(f.range, null)
  f[Symbol.dispose]()
  t.true(f.released)
})

test.serial('exclusive and shared locks conflict across processes; shared ones coexist', async (t) => {
  for (const kind of ['ofd', 'flock'] as const) {
    const path = file()
    const ex = await lockFile(path, { kind })
    t.is(await childTry(path, { kind, shared: true }), 'busy', `${kind}: shared vs exclusive`)
    ex.release()
    const sh = await lockFile(path, { kind, shared: true })
    t.is(await childTry(path, { kind, shared: true }), 'locked', `${kind}: shared vs shared`)
    t.is(await childTry(path, { kind }), 'busy', `${kind}: exclusive vs shared`)
    sh.release()
    t.is(await childTry(path, { kind }), 'locked', `${kind}: free after release`)
  }
})

test.serial('OFD byte ranges: overlapping ranges conflict, disjoint ones do not', async (t) => {
  const path = file()
  const lock = await lockFile(path, { range: { start: 0, length: 100 } })
  t.deepEqual(lock.range, { start: 0, length: 100 })
  t.is(await childTry(path, { range: { start: 100, length: 50 } }), 'locked')
  t.is(await childTry(path, { range: { start: 50, length: 100 } }), 'busy')
  t.is(await childTry(path, {}), 'busy', 'a whole-file lock overlaps')
  lock.release()
})

test.serial('an OFD lock survives closing another fd of the file; a POSIX lockf lock does not', async (t) => {
  const path = file()
  const ofd = await lockFile(path)
  closeSync(openSync(path, 'r'))
  t.is(await childTry(path, {}), 'busy', 'the OFD lock is still held')
  ofd.release()

  const fd = openSync(path, 'r+')
  lockf(fd, LOCK_EX | LOCK_NB)
  t.is(await childTry(path, {}), 'busy', 'the POSIX lock is held')
  closeSync(openSync(path, 'r')) // any close of the file drops POSIX locks
  t.is(await childTry(path, {}), 'locked', 'the POSIX lock was silently dropped')
  closeSync(fd)
})

/** A child that runs `take` (with `lfd` and `path` bound), says so, and holds on until killed. */
async function holder(path: string, take: string): Promise<{ pid: number; kill(): Promise<void> }> {
  let pid = 0
  let ready = () => {}
  const run = runNode(`const path = ${JSON.stringify(path)}; globalThis.held = ${take}; console.log('held'); setInterval(() => {}, 1000)`, {
    onSpawn: (p) => (pid = p),
    onStdout: () => ready(),
  })
  await Promise.race([
    new Promise<void>((r) => (ready = r)),
    run.then((r) => Promise.reject(new Error(`the holder exited with ${r.code}: ${r.stderr}`))),
  ])
  return { pid, kill: () => (process.kill(pid, 'SIGKILL'), run.then(() => {})) }
}

test('ofd locks through one fd are one set of ranges: a shared lock inside an exclusive one makes that part shared, and a release unlocks its range under a larger lock (s45-kernel F1)', (t) => {
  const path = file()
  writeFileSync(path, '')
  const fd = openSync(path, 'r+')
  try {
    const a = tryLockFile(fd, { range: { start: 0, length: 20 } })!
    const b = tryLockFile(fd, { shared: true, range: { start: 5, length: 5 } })!
    t.not(b, null, 'no conflict with its own description')
    const exclusive = (start: number, length: number) => ({ kind: 'ofd', shared: false, pid: null, range: { start, length } })
    t.is(testLock(path, { shared: true, range: { start: 5, length: 5 } }), null, "b's part is shared now: another description may share it")
    t.deepEqual(testLock(path, { shared: true, range: { start: 0, length: 5 } }), exclusive(0, 5), 'the rest of a is still exclusive')
    b.release()
    t.false(a.released)
    t.is(testLock(path, { range: { start: 5, length: 5 } }), null, "b's release unlocked its range under a")
    t.deepEqual(testLock(path, { range: { start: 10, length: 1 } }), exclusive(10, 10), 'a disjoint part of a stays')
    a.release()
    t.is(testLock(path), null)
  } finally {
    closeSync(fd)
  }
})

/** Threads of this process named `name` (`/proc/self/task/<tid>/comm`). */
function threadsNamed(name: string): number {
  return readdirSync('/proc/self/task').filter((tid) => {
    try {
      return readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() === name
    } catch {
      return false // the thread ended meanwhile
    }
  }).length
}

test.serial('testLock(path) from the main thread and two workers at once: every answer right, and each calling thread keeps one tester thread, which ends with it', async (t) => {
  const path = file()
  writeFileSync(path, '')
  const held = tryLockFile(path, { range: { start: 5, length: 2 } })!
  try {
    const c = { kind: 'ofd', shared: false, pid: null, range: { start: 5, length: 2 } }
    t.deepEqual(testLock(path), c)
    const kept = threadsNamed('linux-fd test')
    t.true(kept >= 1, 'the thread of the first call is kept')
    const n = 2000
    const workers = [0, 1].map(
      () =>
        new Worker(
          `const { parentPort } = require('node:worker_threads')
           const { testLock } = require(${JSON.stringify(PKG)})
           // on, not once: a listener keeps the worker (and so its tester) alive until terminate().
           parentPort.on('message', () => {
             let right = 0
             for (let i = 0; i < ${n}; i++) if (JSON.stringify(testLock(${JSON.stringify(path)})) === ${JSON.stringify(JSON.stringify(c))}) right++
             parentPort.postMessage(right)
           })
           parentPort.postMessage('ready')`,
          { eval: true },
        ),
    )
    const message = (w: Worker): Promise<unknown> => new Promise((resolve, reject) => (w.once('message', resolve), w.once('error', reject)))
    await Promise.all(workers.map(message))
    const answers = workers.map(message)
    for (const w of workers) w.postMessage('go')
    // The workers' loops run while this one does.
    let right = 0
    for (let i = 0; i < n; i++) if (JSON.stringify(testLock(path)) === JSON.stringify(c)) right++
    t.deepEqual([right, ...(await Promise.all(answers))], [n, n, n], 'every answer names the lock')
    const after = threadsNamed('linux-fd test')
    t.is(after, kept + 2, `threads kept: ${kept} after one call, ${after} after ${3 * n} calls from 3 threads`)
    await Promise.all(workers.map((w) => w.terminate()))
    await until(() => threadsNamed('linux-fd test') === kept).catch(() => {}) // the default bound, scaled under qemu
    t.is(threadsNamed('linux-fd test'), kept, "the workers' testers ended with them")
  } finally {
    held.release()
  }
})

test.serial('testLock names the lock in the way, OFD or POSIX, in another process, and takes nothing', async (t) => {
  const path = file()
  t.is(testLock(path), null, 'no file: nothing can be locked there')
  t.throws(() => readFileSync(path), { code: 'ENOENT' }, 'and testLock created none')
  writeFileSync(path, '')
  t.is(testLock(path), null, 'a free file')

  const ofd = await holder(path, 'lfd.tryLockFile(path, { shared: true, range: { start: 10, length: 5 } })')
  try {
    const c = { kind: 'ofd', shared: true, pid: null, range: { start: 10, length: 5 } }
    t.deepEqual(testLock(path), c)
    t.deepEqual(testLock(pathToFileURL(path), { range: { start: 14, length: 1 } }), c, 'a file: URL and an overlapping range')
    t.deepEqual(testLock(Buffer.from(path), { range: { start: 0, length: 11 } }), c, 'a Buffer path')
    t.is(testLock(path, { range: { start: 15, length: 0 } }), null, 'a range past it')
    t.is(testLock(path, { shared: true }), null, 'a shared lock is not in the way of a shared one')
    // It took nothing: the exclusive lock it tested for is still free to take.
    const mine = tryLockFile(path, { range: { start: 15, length: 0 } })
    t.not(mine, null)
    t.deepEqual(testLock(path, { range: { start: 20, length: 1 } }), { kind: 'ofd', shared: false, pid: null, range: { start: 15, length: 0 } }, "this process's own lock, by path")
    t.is(testLock(mine!.fd, { range: { start: 20, length: 1 } }), null, "through the lock's own description, its own lock is not in the way")
    mine!.release()
  } finally {
    await ofd.kill()
  }
  t.is(testLock(path), null, 'the holder died: free')

  const posix = await holder(path, "(() => { const fd = require('node:fs').openSync(path, 'r+'); lfd.lockf(fd, lfd.LOCK_EX | lfd.LOCK_NB, 3, 4); return fd })()")
  try {
    t.deepEqual(testLock(path, { shared: true }), { kind: 'posix', shared: false, pid: posix.pid, range: { start: 4, length: 3 } })
    const fd = openSync(path, 'r')
    try {
      t.deepEqual(testLock({ fd }, { range: { start: 6, length: 100 } })?.pid, posix.pid, 'through an fd')
    } finally {
      closeSync(fd)
    }
  } finally {
    await posix.kill()
  }
})

test.serial("testLock(path) leaves this process's POSIX locks held, and opens no FIFO", async (t) => {
  // The test's own open and close of the path: a close of any fd of a file
  // drops every POSIX lock the closing fd table holds on it (SQLite's, say).
  const path = file()
  const fd = openSync(path, 'w+')
  t.teardown(() => closeSync(fd))
  lockf(fd, LOCK_EX | LOCK_NB, 1, 2 ** 30)
  for (let i = 0; i < 3; i++) {
    t.like(testLock(path), { kind: 'posix', pid: process.pid, shared: false, range: { start: 2 ** 30, length: 1 } })
  }
  const other = await runNode(`console.log(lfd.testLock(${JSON.stringify(path)})?.pid)`)
  t.is(other.stdout.trim(), String(process.pid), 'another process still sees the lock')

  // A FIFO is refused before it is opened: an open for reading would let a
  // writer waiting for its reader go on, and its data be lost.
  const fifo = file()
  execFileSync('mkfifo', [fifo])
  let out = ''
  let pid = 0
  const exited = runNode(`require('node:fs').openSync(${JSON.stringify(fifo)}, 'w'); console.log('opened')`, {
    onSpawn: (p) => (pid = p),
    onStdout: (all) => (out = all),
  })
  let gone = false
  void exited.then(() => (gone = true))
  t.teardown(() => gone || process.kill(pid, 'SIGKILL')) // if an assertion failed before its reader came
  // The writer is in open(), waiting for a reader, once one of its threads
  // sleeps in the kernel's wait_for_partner (or fifo_open, if the compiler
  // inlined it). A fixed 100 ms was too short under qemu-user (the child
  // takes 0.6 s to start there), and the check below then could not fail
  // (s43-flaky: not yet in open() in 3 of 3). Where wchan says nothing (0:
  // no kallsyms, a sandbox), the writer is given a scaled second instead.
  let wchanSays = false
  const inOpen = (): boolean => {
    try {
      return readdirSync(`/proc/${pid}/task`).some((tid) => {
        const w = readFileSync(`/proc/${pid}/task/${tid}/wchan`, 'utf8').trim()
        if (w !== '' && w !== '0') wchanSays = true
        return w === 'wait_for_partner' || w === 'fifo_open'
      })
    } catch {
      return false
    }
  }
  const t1 = performance.now()
  const blind = scaled(1000, t.log, 'the FIFO writer reaching open() where wchan says nothing')
  await until(() => pid !== 0 && (inOpen() || (!wchanSays && performance.now() - t1 > blind)), scaled(10_000, t.log, 'the FIFO writer blocking in open()'))
  if (!wchanSays) t.log('wchan says nothing here: the writer was given a fixed time to reach open()')
  const refused = t.throws(() => testLock(fifo))
  t.like(refused, { code: 'EINVAL', syscall: 'open', path: fifo })
  t.regex(refused?.message ?? '', /not a regular file or a directory/)
  await sleep(scaled(200, t.log, 'a released writer printing'))
  t.is(out, '', 'the writer still waits for a reader')
  closeSync(openSync(fifo, 'r')) // its reader: it opens and exits
  await exited
  t.is(out.trim(), 'opened')
})

test.serial('no signal sent to the process is lost while testLock(path) runs on its thread', async (t) => {
  // The test thread has an fd table of its own: a process signal delivered
  // to it ran libuv's handler there, whose pipe fd is not in that table, and
  // the signal was gone (s37-tl M1: 13 of 300 bursts). Its mask blocks all.
  const path = file()
  writeFileSync(path, '')
  const sigs = ['SIGUSR2', 'SIGWINCH', 'SIGHUP', 'SIGURG', 'SIGTERM'] as const
  let out = ''
  let pid = 0
  let wake = () => {}
  const run = runNode(
    `for (const s of ${JSON.stringify(sigs)}) process.on(s, () => process.stdout.write(s + '\\n'))
    const spin = () => { const end = Date.now() + 5; while (Date.now() < end) lfd.testLock(${JSON.stringify(path)}); setImmediate(spin) }
    process.stdout.write('ready\\n'); spin()`,
    { onSpawn: (p) => (pid = p), onStdout: (all) => ((out = all), wake()) },
  )
  t.teardown(() => (process.kill(pid, 'SIGKILL'), run))
  const next = (ms: number) => new Promise<void>((r) => {
    const timer = setTimeout(r, ms)
    wake = () => (clearTimeout(timer), r())
  })
  while (!out.includes('ready\n')) await next(10_000)
  /** The signals acknowledged since offset `from` of the output. */
  const acked = (from: number) => new Set(out.slice(from).split('\n').filter((l) => l !== '')).size
  let lost = 0
  const rounds = 400
  for (let i = 0; i < rounds; i++) {
    const from = out.length
    for (const s of sigs) process.kill(pid, s)
    const deadline = Date.now() + 2000
    while (acked(from) < sigs.length && Date.now() < deadline) await next(deadline - Date.now())
    if (acked(from) < sigs.length) lost++
  }
  t.is(lost, 0, `${lost} of ${rounds} bursts lost a signal`)
})

test.serial("testLock does not see flock locks, refuses kind 'flock' and waiting options, and leaks no fd", async (t) => {
  const path = file()
  const f = tryLockFile(path, { kind: 'flock' })
  t.not(f, null)
  t.is(testLock(path), null, 'flock(2) locks are another family')
  f!.release()
  t.throws(() => testLock(path, { kind: 'flock' } as never), { code: 'ERR_INVALID_ARG_VALUE', message: /options\.kind.*flock\(2\)/ })
  for (const key of ['wait', 'signal', 'ref']) {
    t.throws(() => testLock(path, { [key]: true } as never), { code: 'ERR_INVALID_ARG_VALUE', message: new RegExp(`options\\.${key}.*testLock`) })
  }
  t.throws(() => testLock(path, { timeout: 1 } as never), { code: 'ERR_INVALID_ARG_VALUE', message: /timeout/ })
  t.throws(() => testLock(path, { range: { start: -1 } }), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => testLock(-1), { code: 'ERR_OUT_OF_RANGE' })
  t.like(t.throws(() => testLock(0x7fffffff)), { code: 'EBADF', syscall: 'fcntl' })
  t.like(t.throws(() => testLock(join(path, 'x'))), { code: 'ENOTDIR', syscall: 'open' })
  // A file this user may only write is not opened for writing (root may read it).
  const writeOnly = file()
  writeFileSync(writeOnly, '')
  chmodSync(writeOnly, 0o200)
  if (process.getuid!() === 0) t.is(testLock(writeOnly), null)
  else t.like(t.throws(() => testLock(writeOnly)), { code: 'EACCES', syscall: 'open', path: writeOnly })
  const before = fdList()
  const held = tryLockFile(path)
  for (let i = 0; i < 50; i++) t.not(testLock(path), null)
  held!.release()
  t.deepEqual(fdsAdded(before), [], 'every fd it opened is closed')
  // The binding, called directly: errnos and napi-rs's conversion errors, no crash.
  t.is(native.lockTest(-1, false, 0, 0), -9)
  const fd = openSync(path, 'r')
  t.is(native.lockTest(fd, false, -1, 0), -22)
  closeSync(fd)
  t.throws(() => native.lockTest('3' as never, false, 0, 0), { code: 'NumberExpected' })
})

test.serial('a lock held by a process is released when it is killed, and the waiter gets it', async (t) => {
  const path = file()
  const child = spawn(
    process.execPath,
    // The child keeps its FileLock referenced: a collected FileLock releases
    // its lock (as a collected fd closes), and a young one can go in the first
    // scavenge (it did, once, in .ci/run's unprivileged run).
    ['-e', `require(${JSON.stringify(PKG)}).lockFile(${JSON.stringify(path)}).then((l) => { globalThis.held = l; console.log('held'); setInterval(() => {}, 1000) })`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  await new Promise<void>((r) => child.stdout!.once('data', () => r()))
  const probe = tryLockFile(path)
  t.is(probe, null)
  probe?.release() // so a failure here cannot leave the wait below blocked on our own lock
  const waiting = lockFile(path)
  await sleep(30)
  child.kill('SIGKILL')
  const lock = await waiting
  t.false(lock.released)
  lock.release()
})

test.serial('8 contended waits block neither the event loop nor the threadpool', async (t) => {
  const path = file()
  const holder = await lockFile(path)
  let ticks = 0
  const iv = setInterval(() => ticks++, 1)
  const waits = Array.from({ length: 8 }, () => lockFile(path, { shared: true }))
  await sleep(20)
  // fs.promises.readFile runs on libuv's 4-thread pool: it must not queue
  // behind the lock waits.
  const start = performance.now()
  for (let i = 0; i < 8; i++) await fsp.readFile(PKG)
  const readMs = performance.now() - start
  // Ticks until 10, while the 8 waits are still pending, not for a fixed
  // 50 ms: a slow (emulated) loop ticks less often; a blocked one never.
  await until(() => ticks >= 10, scaled(2000, t.log, 'ten 1 ms ticks')).catch(() => {})
  clearInterval(iv)
  t.true(readMs < scaled(1000, t.log, '8 readFile calls'), `8 readFile calls took ${readMs.toFixed(1)} ms while 8 lock waits were pending`)
  t.true(ticks >= 10, `a 1 ms interval ran ${ticks} times during the waits`)
  holder.release()
  const locks = await Promise.all(waits)
  t.is(locks.length, 8)
  t.true(locks.every((l) => l.shared && !l.released))
  for (const l of locks) l.release()
})

test.serial('an aborted wait rejects with AbortError and nothing stays locked', async (t) => {
  const path = file()
  const holder = await lockFile(path)
  const ac = new AbortController()
  const waiting = lockFile(path, { signal: ac.signal })
  await sleep(20)
  const reason = new Error('gave up')
  ac.abort(reason)
  const err = await t.throwsAsync(waiting, { name: 'AbortError', code: 'ABORT_ERR' })
  t.is(err?.cause, reason)
  holder.release()
  await sleep(30)
  t.is(await childTry(path, {}), 'locked', 'the aborted waiter took nothing')
  await t.throwsAsync(lockFile(path, { signal: AbortSignal.abort() }), { name: 'AbortError' })
})

test.serial('wait: false rejects with EAGAIN; tryLockFile returns null', async (t) => {
  const path = file()
  const holder = await lockFile(path)
  const err = (await t.throwsAsync(lockFile(path, { wait: false }), { code: 'EAGAIN' })) as NodeJS.ErrnoException
  t.is(err.syscall, 'fcntl')
  t.is(tryLockFile(path), null)
  holder.release()
})

test.serial('a FileHandle or fd locks that open file description', async (t) => {
  const path = file()
  const fh = await fsp.open(path, 'w+')
  const lock = await lockFile(fh)
  t.not(lock.fd, fh.fd, 'the lock owns a dup')
  t.is(await childTry(path, {}), 'busy')
  lock.release()
  t.is(await childTry(path, {}), 'locked', 'release unlocks even though the caller still holds the description')
  await fh.close()
})

test.serial('a lock that needs no write access opens a read-only file or a directory read-only', async (t) => {
  // flock locks and shared OFD locks need only a readable fd; the path was
  // always opened O_RDWR, so they failed with EACCES on a file the user can
  // only read, and with EISDIR on a directory (the usual way to lock one).
  // In a child as nobody (or as the unprivileged user the suite runs as),
  // where file permissions apply.
  // Where nobody can reach it, whatever TMPDIR is (helpers/child.ts).
  const ro = mkdtempSync(join(othersTmpdir(), 'linux-fd-ro-'))
  t.teardown(() => rmSync(ro, { recursive: true, force: true }))
  chmodSync(ro, 0o755)
  const file = join(ro, 'read-only')
  writeFileSync(file, 'x')
  chmodSync(file, 0o444)
  // A FIFO: a read-only open of one waits for a writer unless O_NONBLOCK.
  const fifo = join(ro, 'fifo')
  execFileSync('mkfifo', ['-m', '444', fifo])
  // Read-only, so that nobody (or the suite's own unprivileged user, whose
  // directory it is) cannot create the missing file either.
  chmodSync(ro, 0o555)
  t.teardown(() => chmodSync(ro, 0o755))
  const r = await runNode(
    `if (process.getuid() === 0) { process.setgid(65534); process.setuid(65534) }
     const out = {}
     const attempt = (name, target, options) => {
       try { const l = lfd.tryLockFile(target, options); out[name] = l === null ? 'busy' : l.kind + (l.shared ? ':sh' : ':ex'); l?.release() } catch (e) { out[name] = e.code + ' ' + e.syscall }
     }
     attempt('fileShared', ${JSON.stringify(file)}, { shared: true })
     attempt('fileFlock', ${JSON.stringify(file)}, { kind: 'flock' })
     attempt('fileExclusive', ${JSON.stringify(file)})
     attempt('dirFlock', ${JSON.stringify(ro)}, { kind: 'flock' })
     attempt('dirShared', ${JSON.stringify(ro)}, { shared: true })
     attempt('dirExclusive', ${JSON.stringify(ro)})
     attempt('missing', ${JSON.stringify(join(ro, 'missing'))}, { shared: true })
     attempt('fifo', ${JSON.stringify(fifo)}, { kind: 'flock' })
     { const l = lfd.tryLockFile(${JSON.stringify(fifo)}, { kind: 'flock' }); out.fifoBlocking = (lfd.fcntl(l.fd, lfd.F_GETFL) & lfd.O_NONBLOCK) === 0; l.release() }
     console.log(JSON.stringify(out))`,
  )
  t.is(r.code, 0, r.stderr)
  t.deepEqual(JSON.parse(r.stdout), {
    fileShared: 'ofd:sh',
    fileFlock: 'flock:ex',
    fileExclusive: 'EACCES open',
    dirFlock: 'flock:ex',
    dirShared: 'ofd:sh',
    dirExclusive: 'EISDIR open',
    missing: 'EACCES open', // the open that would create it, not ENOENT from the read-only retry
    fifo: 'flock:ex', // without waiting for a writer
    fifoBlocking: true, // O_NONBLOCK was only for the open
  })
})

test.serial('bad arguments give documented errors', async (t) => {
  const path = file()
  t.throws(() => tryLockFile(5n as never), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => tryLockFile(path, { kind: 'posix' as never }), { code: 'ERR_INVALID_ARG_VALUE' })
  // The typings refuse it too (tsc checks the specs): flock locks have no range.
  // @ts-expect-error: a range with kind 'flock'
  t.throws(() => tryLockFile(path, { kind: 'flock', range: { start: 1 } }), { code: 'ERR_INVALID_ARG_VALUE' })
  // @ts-expect-error: the same for lockFile
  await t.throwsAsync(lockFile(path, { kind: 'flock', range: { start: 1 }, wait: false }), { code: 'ERR_INVALID_ARG_VALUE' })
  t.throws(() => tryLockFile(path, { range: { start: -1 } }), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => tryLockFile(path, { shared: 'yes' as never }), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => tryLockFile(join(dir, 'missing-dir', 'x')), { code: 'ENOENT' })
})

test.serial('a path may be a Buffer, a Uint8Array (not UTF-8) or a file: URL, as node:fs takes', async (t) => {
  const path = file()
  const a = tryLockFile(Buffer.from(path))
  t.truthy(a)
  t.is(await childTry(path, {}), 'busy', 'the Buffer path named the same file')
  a!.release()
  const b = tryLockFile(pathToFileURL(path))
  t.truthy(b)
  t.is(await childTry(path, {}), 'busy', 'the URL named the same file')
  b!.release()
  // Linux names are bytes: 0xff is no UTF-8, and a string could not name it.
  const raw = Buffer.concat([Buffer.from(join(dir, 'raw-')), Buffer.from([0xff, 0x41])])
  const c = await lockFile(new Uint8Array(raw))
  t.true(readdirSync(Buffer.from(dir), { encoding: 'buffer' }).some((e) => e.equals(Buffer.from([0x72, 0x61, 0x77, 0x2d, 0xff, 0x41]))))
  c.release()
  // Bytes from another realm (a vm context) and a URL-like object, as node:fs takes them.
  const foreign = runInNewContext(`new Uint8Array(${JSON.stringify([...Buffer.from(path)])})`) as Uint8Array
  t.false(foreign instanceof Uint8Array)
  const d = tryLockFile(foreign)
  t.truthy(d)
  t.is(await childTry(path, {}), 'busy', 'the foreign bytes named the same file')
  d!.release()
  const u = pathToFileURL(path)
  const e = tryLockFile({ href: u.href, protocol: u.protocol, hostname: u.hostname, pathname: u.pathname } as unknown as URL)
  t.truthy(e)
  e!.release()
  t.throws(() => tryLockFile(Buffer.from(`${path}\0x`)), { code: 'ERR_INVALID_ARG_VALUE' })
  t.throws(() => tryLockFile(new URL('http://example.com/x')), { code: 'ERR_INVALID_URL_SCHEME' })
  await t.throwsAsync(lockFile(new URL('file://remote-host/x')), { code: 'ERR_INVALID_FILE_URL_HOST' })
  t.throws(() => tryLockFile(Symbol('x') as never), {
    code: 'ERR_INVALID_ARG_TYPE',
    message: /of type string or number, an instance of Buffer, Uint8Array or URL, or a FileHandle/,
  })
})

test.serial('a worker terminated during a lock wait: no crash, no leaked fd, nothing left locked', async (t) => {
  const path = file()
  const holder = await lockFile(path)
  const before = fdCount()
  const listBefore = fdList()
  for (let i = 0; i < 20; i++) {
    const w = new Worker(
      `const { parentPort } = require('node:worker_threads')
       require(${JSON.stringify(PKG)}).lockFile(${JSON.stringify(path)}).then(() => {})
       parentPort.postMessage('waiting')`,
      { eval: true },
    )
    await new Promise((r) => w.once('message', r))
    await w.terminate()
  }
  // Teardown closes the workers' fds; give a loaded machine time for it.
  await until(() => fdCount() <= before && fdsAdded(listBefore).length === 0, 5000).catch(() => {})
  t.deepEqual(fdsAdded(listBefore), [], 'the workers left no fd behind')
  t.true(fdCount() <= before, `no more fds than before: ${fdCount()} > ${before}`)
  // Teardown also cancelled each worker's kernel wait: no pool thread is
  // still blocked, though the lock is still held.
  await until(noWaitThread, 5000).catch(() => {})
  t.deepEqual(native.lockWaitThreads().busy, [], 'no pool thread left in a wait')
  holder.release()
  t.is(await childTry(path, {}), 'locked')
})

/** Threads of this process (`Threads:` in /proc/self/status). */
function threadCount(): number {
  const line = readFileSync('/proc/self/status', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Threads:'))
  return Number(line!.split(/\s+/)[1])
}

/** No pool thread runs a wait (each goes back to the pool as its wait settles). */
const noWaitThread = (): boolean => native.lockWaitThreads().busy.length === 0

let kickerStarted: Promise<void> | undefined

/**
 * Starts the process-wide kicker thread (crates/core/src/lockwait.rs): the
 * first cancel of a lock wait starts it, and it never exits. A thread count
 * taken before it would be one short after any abort, so the tests that
 * count threads passed only after an earlier abort test had started it
 * (run alone, with `-m`, they failed). One aborted wait on a held lock.
 */
function startKicker(): Promise<void> {
  kickerStarted ??= (async () => {
    const path = file()
    const holder = await lockFile(path)
    const ac = new AbortController()
    const waiting = lockFile(path, { signal: ac.signal })
    try {
      // A wait left busy by an earlier failed test may be counted too.
      await until(() => native.lockWaitThreads().busy.length >= 1, 5000)
    } finally {
      // Whatever happened, leave no wait blocked and no lock held.
      ac.abort()
      await waiting.catch(() => {})
      holder.release()
    }
  })().catch((e: unknown) => {
    kickerStarted = undefined // the next caller tries again
    throw e
  })
  return kickerStarted
}

/**
 * Waits until the kicker thread runs and the pool has no thread at all (idle
 * ones exit after 1 s), so that a thread count taken now is the count
 * without any wait thread. A pool thread counts itself out just before it
 * returns, so `Threads:` may still count it for a moment: wait for two
 * equal readings 20 ms apart too.
 */
async function poolEmpty(): Promise<void> {
  await startKicker()
  await until(() => {
    const p = native.lockWaitThreads()
    return p.idle === 0 && p.busy.length === 0
  }, 5000)
  for (let n = threadCount(), end = performance.now() + 2000; performance.now() < end; ) {
    await sleep(20)
    const m = threadCount()
    if (m === n) break
    n = m
  }
}

/** Rejects after `ms` with `what`, so a wait that never settles fails the test instead of hanging it. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not settled within ${ms} ms`)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}

test.serial('lockFile never throws synchronously: a missing directory rejects with ENOENT (issue 11)', async (t) => {
  let p: Promise<unknown> | undefined
  t.notThrows(() => {
    p = lockFile(join(dir, 'missing-dir', 'x'))
  })
  const err = (await t.throwsAsync(p!, { code: 'ENOENT' })) as NodeJS.ErrnoException
  t.is(err.syscall, 'open')
  t.is(err.errno, -2)
  // Argument errors are rejections too.
  for (const [args, code] of [
    [[5n], 'ERR_INVALID_ARG_TYPE'],
    [[file(), { kind: 'posix' }], 'ERR_INVALID_ARG_VALUE'],
    [[file(), { range: { start: -1 } }], 'ERR_OUT_OF_RANGE'],
    [[file(), { signal: {} }], 'ERR_INVALID_ARG_TYPE'],
    [[file(), 'shared'], 'ERR_INVALID_ARG_TYPE'],
  ] as Array<[unknown[], string]>) {
    let q: Promise<unknown> | undefined
    t.notThrows(() => {
      q = (lockFile as (...a: unknown[]) => Promise<unknown>)(...args)
    }, code)
    await t.throwsAsync(q!, { code }, code)
  }
})

test.serial('an unknown option key rejects with ERR_INVALID_ARG_VALUE naming it (issue 11)', async (t) => {
  const path = file()
  const err = await t.throwsAsync(lockFile(path, { timeout: 100 } as never), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE' })
  t.regex(err!.message, /options\.timeout/)
  t.throws(() => tryLockFile(path, { timeout: 100 } as never), { code: 'ERR_INVALID_ARG_VALUE', message: /options\.timeout/ })
  t.throws(() => tryLockFile(path, { wait: false } as never), { code: 'ERR_INVALID_ARG_VALUE', message: /options\.wait/ }, 'tryLockFile never waits')
  t.throws(() => tryLockFile(path, { range: { begin: 1 } } as never), { code: 'ERR_INVALID_ARG_VALUE', message: /options\.range\.begin/ })
  t.is(await childTry(path, {}), 'locked', 'nothing was locked by the refused calls')
})

test.serial('FileLock has no public constructor, brand-checks its receiver, and inspects as fd and state', async (t) => {
  const Ctor = FileLock as unknown as new (...a: unknown[]) => unknown
  t.throws(() => new Ctor(), { instanceOf: TypeError, code: 'ERR_ILLEGAL_CONSTRUCTOR' })
  t.throws(() => new Ctor(Symbol('FileLock'), {}, {}), { code: 'ERR_ILLEGAL_CONSTRUCTOR' })
  const lock = (await lockFile(file(), { range: { start: 4, length: 8 } })) as FileLock
  t.true(lock instanceof FileLock)
  for (const name of ['fd', 'shared', 'kind', 'range', 'released'] as const) {
    const get = Object.getOwnPropertyDescriptor(FileLock.prototype, name)!.get!
    t.throws(() => get.call({}), { instanceOf: TypeError, code: 'ERR_INVALID_THIS' }, name)
  }
  t.throws(() => FileLock.prototype.release.call({}), { code: 'ERR_INVALID_THIS' })
  t.throws(() => FileLock.prototype[Symbol.dispose].call({} as FileLock), { code: 'ERR_INVALID_THIS' })
  await t.throwsAsync(FileLock.prototype[Symbol.asyncDispose].call({} as FileLock), { code: 'ERR_INVALID_THIS' })
  const shown = inspect(lock, { breakLength: Infinity })
  t.regex(shown, new RegExp(`^FileLock \\{ fd: ${lock.fd}, kind: 'ofd', shared: false, range: \\{ start: 4, length: 8 \\}, released: false \\}$`))
  await lock[Symbol.asyncDispose]()
  t.true(lock.released)
  t.regex(inspect(lock), /fd: -1,.*released: true/s)
  const f = tryLockFile(file(), { kind: 'flock', shared: true })!
  t.regex(inspect(f, { breakLength: Infinity }), /^FileLock \{ fd: \d+, kind: 'flock', shared: true, released: false \}$/)
  f.release()
})

test.serial('2,000 aborted waits on a held lock: fds back at baseline as each settles, threads soon after (issue 13 item 2)', async (t) => {
  const path = file()
  const holder = await lockFile(path)
  await poolEmpty()
  const fds = fdCount()
  const threads = threadCount()
  let most = 0
  for (let i = 0; i < 2000; i++) {
    // Compared per wait: fds of earlier tests' children may still be closing.
    const before = fdCount()
    const ac = new AbortController()
    const waiting = lockFile(path, { signal: ac.signal })
    // Half abort in the same turn, half once the wait thread has had time to start polling.
    if (i % 2 === 1) await new Promise((r) => setImmediate(r))
    ac.abort()
    await t.throwsAsync(within(waiting, 5000, `wait ${i}`), { name: 'AbortError' })
    const now = fdCount()
    if (now > before) return t.fail(`after aborted wait ${i}: ${now} fds open, ${before} before it`)
    most = Math.max(most, threadCount() - threads)
  }
  // Sequential waits reuse one pool thread, which exits after 1 s idle.
  t.true(most <= 2, `${most} more threads at the most`)
  await until(() => threadCount() <= threads, 5000).catch(() => {})
  t.is(threadCount(), threads, 'every wait thread has ended')
  t.true(fdCount() <= fds, `${fdCount()} fds open, ${fds} before the waits`)
  holder.release()
  t.is(await childTry(path, {}), 'locked', 'no aborted waiter took the lock')
})

test.serial('an abort stops the lock wait: its thread leaves the kernel wait and its fds close (issue 16)', async (t) => {
  const path = file()
  const holder = await lockFile(path, { kind: 'flock' })
  await sleep(50) // let fds of earlier tests finish closing
  await poolEmpty()
  const fds = fdCount()
  const threads = threadCount()
  const ac = new AbortController()
  const waiting = lockFile(path, { kind: 'flock', signal: ac.signal })
  // The wait has a pool thread blocked in the kernel and its dup of the
  // file (plus the lock's own fd). A cancel signal needs no fd; the one
  // process-wide kicker thread that sends it was started by poolEmpty().
  await until(() => native.lockWaitThreads().busy.length === 1, 5000)
  t.is(threadCount(), threads + 1)
  t.is(fdCount(), fds + 2)
  await sleep(20)
  ac.abort(new Error('enough'))
  const err = await t.throwsAsync(within(waiting, 2000, 'the aborted wait'), { name: 'AbortError' })
  t.is((err!.cause as Error).message, 'enough')
  t.is(fdCount(), fds, 'the wait closed its fds before it settled')
  // The thread leaves `busy` before it posts the report and counts itself
  // idle just after (crates/core/src/pool.rs), so the report can arrive inside that
  // window: wait for the idle count, not only for an empty `busy`. (A CI
  // run on Node 24 read { idle: 0, busy: [] } here.)
  const backInPool = (): boolean => {
    const s = native.lockWaitThreads()
    return s.busy.length === 0 && s.idle === 1
  }
  await until(backInPool, 2000).catch(() => {})
  t.deepEqual(native.lockWaitThreads(), { idle: 1, busy: [] }, 'the thread went back to the pool')
  // A granted wait also lets go of everything but the lock's own fd, and
  // reuses the idle thread.
  const next = lockFile(path, { kind: 'flock' })
  await until(() => native.lockWaitThreads().busy.length === 1, 5000)
  t.is(threadCount(), threads + 1, 'the idle thread was reused')
  holder.release()
  const lock = await within(next, 2000, 'the granted wait')
  t.is(fdCount(), fds, 'only the lock fd is left (the holder released its own)')
  await until(noWaitThread, 2000).catch(() => {})
  t.true(noWaitThread())
  // Unused for 1 s, the pool thread ends.
  await until(() => threadCount() === threads, 3000).catch(() => {})
  t.is(threadCount(), threads, 'the idle pool thread ended')
  lock.release()
})

test.serial('a signal that aborts or throws inside addEventListener still ends the wait (issue 13 item 6)', async (t) => {
  await poolEmpty() // starts the kicker (the abort below would), and no pool thread is idle
  const path = file()
  const holder = await lockFile(path)
  const threads = threadCount()
  const ac = new AbortController()
  const signal = ac.signal
  const add = signal.addEventListener.bind(signal)
  // Aborts before the listener is added: a listener added to an aborted signal never fires.
  Object.defineProperty(signal, 'addEventListener', {
    value: (...args: Parameters<AbortSignal['addEventListener']>) => {
      ac.abort(new Error('early'))
      add(...args)
    },
  })
  const err = await t.throwsAsync(within(lockFile(path, { signal }), 2000, 'abort inside addEventListener'), { name: 'AbortError' })
  t.is((err!.cause as Error).message, 'early')
  const boom = new Error('addEventListener failed')
  const bad = new AbortController().signal
  Object.defineProperty(bad, 'addEventListener', {
    value: () => {
      throw boom
    },
  })
  t.is(await t.throwsAsync(within(lockFile(path, { signal: bad }), 2000, 'throwing addEventListener')), boom)
  await until(noWaitThread, 2000).catch(() => {})
  t.true(noWaitThread(), 'both waits let go of their threads')
  t.true(threadCount() <= threads + 1, 'one pool thread at most')
  holder.release()
  t.is(await childTry(path, {}), 'locked', 'neither wait took the lock')
})

test.serial('1,000 waiters on one held lock: one wait thread, an idle CPU, no event-loop stall, served in order (issue 13 item 3)', async (t) => {
  const { monitorEventLoopDelay } = await import('node:perf_hooks')
  // One round: 1,000 waits queue on a held lock, idle for 1 s, then are
  // handed the lock one after another. Returns the event loop's longest
  // delay over the idle second and the hand-offs, and the CPU the process
  // used in the idle second.
  const round = async (check: boolean): Promise<{ delayMs: number; cpuMs: number }> => {
    const path = file()
    const holder = await lockFile(path)
    await sleep(50)
    await poolEmpty()
    const threads = threadCount()
    const t0 = performance.now()
    const order: number[] = []
    const waits = Array.from({ length: 1000 }, (_, i) =>
      lockFile(path).then((lock) => {
        order.push(i)
        lock.release()
      }),
    )
    const started = performance.now() - t0
    // From here on the loop must stay responsive while the waits are pending
    // and through the 1,000 hand-offs. (Starting them is the caller's own
    // synchronous loop of 1,000 calls, bounded by \`started\`.)
    const delay = monitorEventLoopDelay({ resolution: 5 })
    delay.enable()
    await sleep(100)
    const cpu0 = process.cpuUsage()
    await sleep(1000)
    const cpu = process.cpuUsage(cpu0)
    const cpuMs = (cpu.user + cpu.system) / 1000
    if (check) {
      t.true(started < scaled(5000, t.log, '1,000 waits to start'), `1,000 waits took ${started} ms to start`)
      t.log(`1,000 waits started in ${started.toFixed(0)} ms; ${threadCount() - threads} more threads; ${cpuMs.toFixed(1)} ms CPU in 1 s idle`)
      t.true(threadCount() - threads <= 2, `threads grew by ${threadCount() - threads}`)
    }
    holder.release()
    await within(Promise.all(waits), scaled(20_000, t.log, 'the 1,000 hand-offs'), 'the 1,000 waits')
    delay.disable()
    if (check) {
      t.deepEqual(order, Array.from({ length: 1000 }, (_, i) => i), 'first come, first served')
      await until(() => threadCount() <= threads, 5000).catch(() => {})
      t.is(threadCount(), threads, 'no wait thread is left')
    }
    return { delayMs: delay.max / 1e6, cpuMs }
  }
  // A stall caused by the package (say, all 1,000 hand-offs settled in one
  // loop turn) happens in every round, and so does CPU burnt by waiters that
  // poll. A loaded machine can deschedule the process for 50 ms once
  // (helpers saw it, with the build before the pool too), and V8's
  // background GC and compiler threads, busy after 1,000 promises were made,
  // once took this process to 50.5 ms of CPU in the idle second (a CI run on
  // a loaded machine; 20 ms for 10,000 waiters in the stress run). So each
  // bound fails only if 3 rounds in a row all break it.
  const stall = scaled(50, t.log, 'event-loop stall')
  const idleCpu = scaled(50, t.log, 'idle CPU in 1 s')
  const rounds: Array<{ delayMs: number; cpuMs: number }> = []
  for (let r = 0; r < 3; r++) {
    rounds.push(await round(r === 0))
    if (rounds[r]!.delayMs < stall && rounds[r]!.cpuMs < idleCpu) break
  }
  const maxes = rounds.map((x) => x.delayMs)
  const cpus = rounds.map((x) => x.cpuMs)
  t.log(`per round: event-loop delay max ${maxes.map((m) => m.toFixed(1)).join(', ')} ms; idle CPU ${cpus.map((c) => c.toFixed(1)).join(', ')} ms in 1 s`)
  t.true(Math.min(...maxes) < stall, `the event loop stalled in every round: ${maxes.join(', ')} ms`)
  t.true(Math.min(...cpus) < idleCpu, `idle waiting used ${cpus.join(', ')} ms of CPU in 1 s in every round (5% of a core is 50 ms)`)
})

test.serial('a waiting lock sleeps in the kernel: its thread makes no attempts while it waits (no polling)', async (t) => {
  // A polling waiter wakes every 50 µs to 8 ms (hundreds of context switches
  // a second); a waiter blocked in F_OFD_SETLKW is woken only by the release.
  const path = file()
  const holder = await lockFile(path)
  const waiting = lockFile(path)
  await until(() => native.lockWaitThreads().busy.length === 1, 5000)
  const tid = native.lockWaitThreads().busy[0]
  t.is(readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim(), 'linux-fd-job')
  const switches = (): number => Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/self/task/${tid}/status`, 'utf8'))![1])
  await sleep(50)
  const before = switches()!
  await sleep(500)
  const after = switches()!
  t.log(`the wait thread switched ${after - before} times in 500 ms`)
  t.true(after - before <= 2, `${after - before} wake-ups in 500 ms`)
  holder.release()
  ;(await within(waiting, 2000, 'the wait')).release()
})

test.serial('10,000 sequential aborted waits succeed under ulimit -n 256 (issue 13 item 2)', async (t) => {
  const path = file()
  const { spawnSync } = await import('node:child_process')
  // After each aborted wait, no fd of the lock file but the holder's may be
  // open: the wait's own open and the pool thread's dup are closed before
  // the promise rejects. A count above the baseline is examined: an extra
  // fd naming the lock file fails at once; any other extra fd must be gone
  // within 1 s. One CI run on Node 24 counted more than 23 fds at wait 9,373 where
  // the recount in the error message was back at 23; what the fd was is not
  // known (strace of clean runs shows no open during the loop but the test's
  // own /proc/self/fd listing). Other threads of the process can open a file
  // for a moment (glibc's malloc source, for one, reads
  // /proc/sys/vm/overcommit_memory the first time it shrinks a thread's
  // heap; not observed here), and that is neither a leak nor ours. Such fds are printed, so
  // a run that sees one says what it was.
  const code = `
    const lfd = require(${JSON.stringify(PKG)})
    const fs = require('fs')
    const named = () => new Map(fs.readdirSync('/proc/self/fd').map((f) => {
      try { return [f, fs.readlinkSync('/proc/self/fd/' + f)] } catch { return [f, '(gone)'] }
    }))
    const n = () => fs.readdirSync('/proc/self/fd').length
    ;(async () => {
      const holder = await lfd.lockFile(${JSON.stringify(path)})
      const lockPath = fs.realpathSync(${JSON.stringify(path)})
      const base = n()
      const baseFds = named()
      // Printed after the loop: the first write to a piped stdout makes
      // libuv open /dev/null for good (its reserve fd for EMFILE).
      const transient = []
      for (let i = 0; i < 10000; i++) {
        const ac = new AbortController()
        const p = lfd.lockFile(${JSON.stringify(path)}, { signal: ac.signal })
        if (i % 2) await new Promise((r) => setImmediate(r))
        ac.abort()
        await p.then(() => { throw new Error('granted') }, (e) => { if (e.name !== 'AbortError') throw e })
        if (n() <= base) continue
        const extra = [...named()].filter(([f, to]) => baseFds.get(f) !== to)
        const ours = extra.filter(([, to]) => to === lockPath)
        if (ours.length > 0) throw new Error('wait ' + i + ': the lock file is still open as fd ' + ours.map(([f]) => f).join(', '))
        const seen = extra.filter(([, to]) => to !== '(gone)').map(([f, to]) => f + ' -> ' + to).join(', ')
        const t0 = performance.now()
        while (n() > base && performance.now() - t0 < 1000) await new Promise((r) => setTimeout(r, 10))
        if (n() > base) throw new Error('wait ' + i + ': ' + n() + ' fds, ' + base + ' before, for 1 s: ' + seen)
        transient.push('transient fd after wait ' + i + ': ' + (seen || '(closed before it could be named)'))
      }
      holder.release()
      for (const line of transient) console.log(line)
      console.log('ok')
    })().catch((e) => { console.error(e); process.exit(1) })`
  const timeout = scaled(120_000, t.log, 'the child of 10,000 waits')
  const r = spawnSync('bash', ['-c', 'ulimit -n 256 && exec "$0" -e "$1"', process.execPath, code], { encoding: 'utf8', timeout })
  t.is(r.status, 0, r.stderr)
  const lines = r.stdout.trim().split('\n')
  for (const line of lines.slice(0, -1)) t.log(line)
  t.is(lines.at(-1), 'ok')
  t.true(lines.length <= 4, `${lines.length - 1} transient fds in 10,000 waits`)
})

test.serial('the wait pool: one thread serves sequential waits, concurrent ones get a thread each, at most 4 stay idle, idle ones end after 1 s', async (t) => {
  await poolEmpty()
  const threads = threadCount()
  // 50 contended hand-offs in a row, within this process (OFD locks of two
  // opens of one file conflict): one pool thread serves them all.
  const path = file()
  let held = await lockFile(path)
  let most = 0
  for (let i = 0; i < 50; i++) {
    const next = lockFile(path)
    await new Promise((r) => setImmediate(r))
    most = Math.max(most, threadCount() - threads)
    held.release()
    held = await within(next, 2000, `hand-off ${i}`)
  }
  held.release()
  t.is(most, 1, 'one pool thread for 50 sequential waits')
  // 6 waits on 6 different held locks wait at once: 6 threads.
  const paths = Array.from({ length: 6 }, file)
  const holders = await Promise.all(paths.map((p) => lockFile(p)))
  const waits = paths.map((p) => lockFile(p))
  await until(() => native.lockWaitThreads().busy.length === 6, 5000)
  for (const h of holders) h.release()
  for (const l of await within(Promise.all(waits), 2000, 'the 6 waits')) l.release()
  // A thread leaves `busy` before it counts itself idle (as in the abort
  // test); then give the other two time to count themselves in, were the
  // cap broken. Up to 500 ms for the two surplus threads to end, not a
  // fixed 50 ms (their exit is slower under qemu-user), and not scaled: it
  // must stay under the 1 s idle timeout, after which a broken cap's extra
  // idle threads would end too and pass. The most idle threads seen while
  // polling is checked as well: a broken cap shows more than 4 at once
  // right after the waits settle, however late (under qemu-user) the
  // assertions below come.
  let mostIdle = 0
  const idleNow = (): number => {
    const idle = native.lockWaitThreads().idle
    mostIdle = Math.max(mostIdle, idle)
    return idle
  }
  await until(() => noWaitThread() && idleNow() >= 4, 2000).catch(() => {})
  await until(() => (idleNow(), threadCount() <= threads + 4), 500).catch(() => {})
  t.true(mostIdle <= 4, `${mostIdle} threads were idle at once`)
  t.deepEqual(native.lockWaitThreads(), { idle: 4, busy: [] }, 'at most 4 threads stay idle')
  t.is(threadCount(), threads + 4, 'the other two threads ended')
  await until(() => threadCount() <= threads, 4000).catch(() => {})
  t.is(threadCount(), threads, 'idle threads end after 1 s')
  t.deepEqual(native.lockWaitThreads(), { idle: 0, busy: [] })
})

test.serial('a pending wait keeps the process alive; once it settles, nothing does (not the idle pool thread, not the mailbox)', async (t) => {
  const path = file()
  const holder = await lockFile(path)
  // The child's wait is its only pending work: it must not exit before the
  // lock comes. Afterwards it must exit by itself at once.
  t.teardown(() => holder.release()) // a no-op once released
  let pid = 0
  let released: NodeJS.Timeout | undefined
  const started = performance.now()
  const child = runNode(
    `const { performance } = require('node:perf_hooks')
     const t0 = performance.now()
     lfd.lockFile(${JSON.stringify(path)}).then((l) => {
       l.release()
       console.log('granted after', Math.round(performance.now() - t0), 'ms')
       process.on('exit', () => console.log('exit after', Math.round(performance.now() - t0), 'ms'))
     })
     console.log('waiting')`,
    {
      onSpawn: (p) => (pid = p),
      timeoutMs: scaled(20_000, t.log, 'the child'),
      // Released 800 ms after the child's wait began, not after its spawn:
      // under qemu-user it may not have called lockFile by then.
      onStdout: (all) => void (all.includes('waiting') && !released && (released = setTimeout(() => holder.release(), 800))),
    },
  )
  const r = await child
  t.not(pid, 0)
  t.truthy(released, 'the child said it was waiting')
  t.is(r.code, 0, r.stderr)
  const [, granted, exited] = /granted after (\d+) ms\nexit after (\d+) ms/.exec(r.stdout) ?? []
  t.truthy(granted, r.stdout)
  // Scaled, but kept under the 1 s that an idle pool thread holding the
  // process would show as (the regression this looks for).
  const exitMs = Math.min(scaled(500, t.log, 'exit after the grant'), 900)
  t.true(Number(exited) - Number(granted) < exitMs, `the child took ${Number(exited) - Number(granted)} ms to exit after its wait settled`)
  t.log(`child ran ${(performance.now() - started).toFixed(0)} ms; ${r.stdout.trim().replace(/\n/g, '; ')}`)
})

test.serial('workers that wait, are granted and exit by themselves, concurrently: no crash, no leak', async (t) => {
  const path = file()
  const holder = await lockFile(path)
  const before = fdCount()
  const workers = Array.from(
    { length: 4 },
    () =>
      new Worker(
        `const { parentPort } = require('node:worker_threads')
         const lfd = require(${JSON.stringify(PKG)})
         parentPort.postMessage('waiting')
         lfd.lockFile(${JSON.stringify(path)}, { shared: true }).then((l) => { l.release(); parentPort.postMessage('granted') })`,
        { eval: true },
      ),
  )
  const waiting = workers.map((w) => new Promise((r) => w.on('message', (m) => m === 'waiting' && r(m))))
  const granted = workers.map((w) => new Promise((r) => w.on('message', (m) => m === 'granted' && r(m))))
  const exited = workers.map((w) => new Promise((r) => w.once('exit', r)))
  // The workers start first (seconds for four under qemu-user), then wait.
  await within(Promise.all(waiting), scaled(5000, t.log, 'the workers’ start'), 'the workers’ start')
  await sleep(200)
  holder.release()
  await within(Promise.all(granted), scaled(5000, t.log, 'the grants'), 'the workers’ waits')
  t.deepEqual(await within(Promise.all(exited), scaled(5000, t.log, 'the exits'), 'the workers’ exits'), [0, 0, 0, 0])
  await until(() => fdCount() <= before, scaled(5000, t.log, 'the fds')).catch(() => {})
  t.true(fdCount() <= before)
})

test.serial('a chain of hand-offs yields to the event loop between hand-offs (one mailbox must not starve the loop)', async (t) => {
  // Each granted waiter releases to the next. All reports come through one
  // threadsafe function; settled from inside its dispatch, up to 1,000 of
  // them ran in one loop turn (583 measured).
  const path = file()
  const holder = await lockFile(path)
  let since = 0
  let most = 0
  let on = true
  const tick = (): void => {
    most = Math.max(most, since)
    since = 0
    if (on) setImmediate(tick)
  }
  setImmediate(tick)
  const waits = Array.from({ length: 300 }, () =>
    lockFile(path).then((l) => {
      since++
      l.release()
    }),
  )
  await sleep(50)
  holder.release()
  await within(Promise.all(waits), 20_000, 'the 300 waits')
  on = false
  most = Math.max(most, since)
  t.log(`at most ${most} hand-offs in one loop turn`)
  t.true(most <= 2, `${most} hand-offs in one loop turn`)
})

test.serial('fake timers installed after load (Jest, Sinon) do not strand a granted lockFile: it settles through the setImmediate taken at load', async (t) => {
  // The wait's report settled through the global setImmediate, looked up at
  // report time: faked, the promise stayed pending while the kernel lock was
  // already taken, with no FileLock anyone could release.
  const file = join(dir, 'fake-timers')
  const r = await runNode(
    `const file = ${JSON.stringify(file)}
     const held = lfd.tryLockFile(file)
     const realTimeout = setTimeout
     const parked = []
     globalThis.setImmediate = (fn, ...args) => { parked.push(fn); return { ref() {}, unref() {}, hasRef() { return true } } }
     globalThis.setTimeout = (fn, ms, ...args) => { parked.push(fn); return { ref() {}, unref() {}, hasRef() { return true } } }
     const waiting = lfd.lockFile(file)
     realTimeout(() => held.release(), 20)
     const guard = realTimeout(() => { console.log(JSON.stringify({ settled: false, parked: parked.length })); process.exit(0) }, ${scaled(5000, t.log, "the settle guard")})
     waiting.then((l) => { clearTimeout(guard); l.release(); console.log(JSON.stringify({ settled: true, parked: parked.length })) })`,
  )
  t.is(r.code, 0, r.stderr)
  t.deepEqual(JSON.parse(r.stdout), { settled: true, parked: 0 })
})

test.serial('flock and shared locks on a running program and on an append-only file: opened read-only, as flock(1) and Python lock them', (t) => {
  // Opening them read-write fails (ETXTBSY for a running program, EPERM for
  // chattr +a/+i), and only EACCES, EISDIR and EROFS fell back to a
  // read-only open: these locks failed with ETXTBSY/EPERM, syscall 'open'.
  for (const options of [{ kind: 'flock' as const }, { shared: true }, { kind: 'flock' as const, shared: true }]) {
    const l = tryLockFile(process.execPath, options)
    t.truthy(l, JSON.stringify(options))
    l?.release()
  }
  // An exclusive OFD lock needs a writable fd: the open's error stays. (The
  // error depends on who runs and how: under qemu-user the program is not
  // the kernel's exec'd file, and a read-write open may succeed.)
  let rwError: string | undefined
  try {
    closeSync(openSync(process.execPath, 'r+'))
  } catch (error) {
    rwError = (error as NodeJS.ErrnoException).code
  }
  if (rwError === undefined) {
    t.log('this Node binary opens read-write here: the exclusive case is not checked')
  } else {
    // EACCES (not root, nor the binary's owner) fell back before the fix
    // too: only ETXTBSY exercises it here (the core test always does).
    if (rwError === 'EACCES') t.log('EACCES, not ETXTBSY: this run does not exercise the ETXTBSY fallback')
    t.throws(() => tryLockFile(process.execPath), { code: rwError })
  }
  const appendOnly = join(dir, 'append-only')
  writeFileSync(appendOnly, '')
  let chattr = false
  try {
    execFileSync('chattr', ['+a', appendOnly], { stdio: 'ignore' })
    chattr = true
  } catch {
    t.log('chattr +a not possible here (not root, or a file system without it): that half is not checked')
  }
  if (chattr) {
    t.teardown(() => execFileSync('chattr', ['-a', appendOnly]))
    const l = tryLockFile(appendOnly, { kind: 'flock' })
    t.truthy(l)
    l?.release()
  }
})

test('a path that cannot be opened: the error names it, as Node fs errors do (message and path)', async (t) => {
  // The error ended at "open", with no path property.
  const missing = join(dir, 'no-such-dir', 'app.lock')
  for (const target of [missing, Buffer.from(missing), pathToFileURL(missing)]) {
    const e = t.throws(() => tryLockFile(target)) as NodeJS.ErrnoException
    t.like(e, { code: 'ENOENT', syscall: 'open', path: missing, message: `ENOENT: no such file or directory, open '${missing}'` })
    await t.throwsAsync(lockFile(target), { code: 'ENOENT', message: `ENOENT: no such file or directory, open '${missing}'` })
  }
})

test('each option is read once: a getter cannot pass the checks with one value and lock with another', (t) => {
  // `kind` was read up to four times: 'ofd' to the checks, 'bogus' last,
  // made a FileLock whose kind was 'bogus'.
  let reads = 0
  const options = {
    get kind() {
      return reads++ < 2 ? 'ofd' : 'bogus'
    },
  } as unknown as { kind: 'ofd' }
  const l = tryLockFile(join(dir, 'getter'), options)
  t.teardown(() => l?.release())
  t.is(l?.kind, 'ofd')
  t.is(reads, 1)
})

test.serial('a wait through an fd is not queued behind a path waiter that waits for that fd\'s own lock: granted when its real conflict goes', async (t) => {
  // The in-process queue keyed waiters by file, kind, mode and range, not by
  // open file description: B (through fd X, whose description holds 0..9)
  // queued behind A (its own description, blocked by X's 0..9 and by P's
  // 20..29), and stayed there after P, its only conflict, was released.
  const f = join(dir, 'same-description')
  const fd = openSync(f, 'w+')
  t.teardown(() => closeSync(fd))
  const whole = { range: { start: 0, length: 100 } }
  const L = tryLockFile(fd, { range: { start: 0, length: 10 } })!
  const P = tryLockFile(f, { range: { start: 20, length: 10 } })!
  const ac = new AbortController()
  const A = lockFile(f, { ...whole, signal: ac.signal })
  await sleep(20)
  const B = lockFile(fd, whole)
  await sleep(20)
  P.release()
  const got = await Promise.race([B.then(() => 'granted'), sleep(scaled(3000, t.log, 'the grant')).then(() => 'still waiting')])
  t.is(got, 'granted')
  // B's lock and L's are one owner's: releasing B drops L's range too.
  ;(await B).release()
  L.release()
  ac.abort()
  await t.throwsAsync(A.then((l) => l.release()), { name: 'AbortError' })
})

test('a lock wait callback that throws is an uncaught exception, as any Node callback that throws (a direct caller of binding.js)', async (t) => {
  // napi-rs's call returned the exception as an Err, which was dropped: the
  // process went on with exit status 0 and nothing reported.
  const file = join(dir, 'throwing-callback')
  const binding = JSON.stringify(join(PKG, '..', 'binding.js'))
  const r = await runNode(
    `const native = require(${binding})
     const held = lfd.tryLockFile(${JSON.stringify(file)})
     const h = native.lockOpen(${JSON.stringify(file)}, false, false, 0, 0)
     process.on('uncaughtException', (e) => { console.log('uncaught: ' + e.message); process.exit(0) })
     native.lockWait(h, (result) => { throw new Error('from the callback, result ' + (result >= 0 ? 'fd' : result)) })
     setTimeout(() => held.release(), 20)
     setTimeout(() => { console.log('nothing reported'); process.exit(0) }, ${scaled(5000, t.log, 'the report')})`,
  )
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout.trim(), 'uncaught: from the callback, result fd')
})

test('lockWait refuses a callback that is not a function with -EINVAL, before it takes a thread or an fd (a direct caller of binding.js)', async (t) => {
  // It returned -ENOMEM for a primitive (napi_create_reference refuses one),
  // and took a non-callable object or a symbol: the wait began, and its
  // report was an uncaught "Call Function failed" once the lock came free.
  const file = join(dir, 'non-function-callback')
  const binding = JSON.stringify(join(PKG, '..', 'binding.js'))
  const r = await runNode(
    `const native = require(${binding})
     const held = lfd.tryLockFile(${JSON.stringify(file)})
     process.on('uncaughtException', (e) => { console.log('uncaught: ' + e.message) })
     const out = []
     for (const cb of [5, undefined, null, 'x', {}, Symbol('s'), Object.create(Function.prototype)]) {
       const h = native.lockOpen(${JSON.stringify(file)}, false, false, 0, 0)
       const before = require('fs').readdirSync('/proc/self/fd').length
       const w = native.lockWait(h, cb)
       out.push(typeof w === 'number' ? w : 'a wait')
       if (typeof w !== 'number') native.lockWaitCancel(w)
       const after = require('fs').readdirSync('/proc/self/fd').length
       if (after !== before) out.push('fds ' + before + ' -> ' + after)
       native.lockRelease(h)
     }
     held.release()
     setTimeout(() => console.log(JSON.stringify(out)), 100)`,
  )
  t.is(r.code, 0, r.stderr)
  const einval = -osConstants.errno.EINVAL
  t.is(r.stdout.trim(), JSON.stringify(Array(7).fill(einval)))
})

test('a held FileLock that garbage collection releases emits a LINUX_FD_LOCK_COLLECTED warning; a kept or released one does not', async (t) => {
  // `await lockFile(path)` with the result dropped ("only one instance
  // runs") lost the lock at the next collection, silently (user34 M1).
  const dropped = join(dir, 'gc-dropped')
  const kept = join(dir, 'gc-kept')
  const released = join(dir, 'gc-released')
  const r = await runNode(
    `process.on('warning', (w) => console.log(w.code, w.message))
    ;(async () => {
      await lfd.lockFile(${JSON.stringify(dropped)})
      // A path in a buffer the program then transfers: the warning had read
      // it only at collection, and threw on the detached buffer, an uncaught
      // exception at a moment no caller chose (diff34b M1).
      const bytes = new TextEncoder().encode(${JSON.stringify(dropped + '-buf')})
      await lfd.lockFile(bytes)
      structuredClone(bytes.buffer, { transfer: [bytes.buffer] })
      const keep = await lfd.lockFile(${JSON.stringify(kept)})
      lfd.tryLockFile(${JSON.stringify(released)}).release()
      const fd = require('node:fs').openSync(${JSON.stringify(released)}, 'r+')
      for (let i = 0; i < 100; i++) lfd.tryLockFile(fd, { range: { start: i, length: 1 } }) // 100 dropped, held
      for (let i = 0; i < 300; i++) lfd.tryLockFile(fd).release() // dropped, released
      for (let i = 0; i < 10; i++) { gc(); await new Promise((r) => setTimeout(r, 10)) }
      console.log('kept released:', keep.released)
    })()`,
    { args: ['--expose-gc'] },
  )
  t.is(r.code, 0, r.stderr)
  const lines = r.stdout.trim().split('\n')
  t.is(lines.at(-1), 'kept released: false')
  const warnings = lines.filter((l) => l.startsWith('LINUX_FD_LOCK_COLLECTED'))
  t.deepEqual(
    warnings.filter((l) => !l.includes('(ofd, taken through fd ')).sort(),
    [dropped, `${dropped}-buf`].map((p) => `LINUX_FD_LOCK_COLLECTED A FileLock (ofd, ${p}) was released by garbage collection: nothing referenced it`),
  )
  t.is(warnings.length, 102, 'the two dropped path locks, and the 100 ranges still held; none for the 300 released')
})

test('an OFD lock through an fd opened without the access it needs says so; flock needs none', async (t) => {
  // It said only "EBADF: bad file descriptor, fcntl" of an fd that is open (user34 L3).
  const path = join(dir, 'access-hint')
  writeFileSync(path, 'x')
  const ro = openSync(path, 'r')
  t.teardown(() => closeSync(ro))
  const hint = `EBADF: bad file descriptor, fcntl (fd ${ro}: an exclusive lock needs an fd open for writing: take a shared one, or lock by path)`
  t.throws(() => tryLockFile(ro), { code: 'EBADF', message: hint })
  await t.throwsAsync(lockFile(ro), { code: 'EBADF', message: hint })
  const shared = tryLockFile(ro, { shared: true })
  t.not(shared, null)
  shared?.release()
  const wo = openSync(path, 'w')
  t.teardown(() => closeSync(wo))
  t.throws(() => tryLockFile(wo, { shared: true }), {
    code: 'EBADF',
    message: `EBADF: bad file descriptor, fcntl (fd ${wo}: a shared lock needs an fd open for reading)`,
  })
  const fl = tryLockFile(ro, { kind: 'flock' })
  t.not(fl, null, 'flock takes any fd')
  fl?.release()
})

test.serial('{ ref: false }: a lock wait does not keep the process alive; a referenced waiter for the same lock still does', async (t) => {
  // A contended lockFile() kept the process alive with no way out but an
  // AbortSignal, while every other waiting object has unref() (user34 L8).
  const path = file()
  const held = await lockFile(path)
  t.teardown(() => held.release())
  const fdPath = file()
  const heldFd = await lockFile(fdPath, { kind: 'flock' })
  t.teardown(() => heldFd.release())
  const unref = await runNode(
    `const fs = require('node:fs')
     const p = ${JSON.stringify(path)}
     const settled = []
     const note = (name) => (x) => settled.push(name + ': ' + (x instanceof lfd.FileLock ? 'locked' : x.code))
     // the head of a queue, one queued behind it, and a wait through an fd (which does not queue)
     lfd.lockFile(p, { ref: false }).then(note('head'), note('head'))
     lfd.lockFile(p, { ref: false }).then(note('queued'), note('queued'))
     const fd = fs.openSync(${JSON.stringify(fdPath)}, 'r')
     lfd.lockFile(fd, { ref: false, kind: 'flock' }).then(note('fd'), note('fd'))
     process.on('exit', () => console.log(JSON.stringify(settled)))`,
    { timeoutMs: scaled(20_000, t.log, 'the hang guard of a child that must exit by itself') },
  )
  t.is(unref.signal, null, 'the child exited by itself (killed by the hang guard otherwise)')
  t.is(unref.code, 0, unref.stderr)
  t.deepEqual(JSON.parse(unref.stdout), [], 'the promises never settle')

  // A referenced waiter queued behind an unreferenced one: the process lives
  // until it has the lock (one queue would have left it waiting without a job).
  let ready!: () => void
  const waiting = new Promise<void>((resolve) => (ready = resolve))
  const mixed = runNode(
    `const p = ${JSON.stringify(path)}
     lfd.lockFile(p, { ref: false }).then((l) => { console.log('unref granted'); l.release() })
     lfd.lockFile(p).then((l) => { console.log('ref granted'); l.release() })
     setTimeout(() => console.log('waiting'), 200)`,
    { timeoutMs: scaled(20_000, t.log, 'the hang guard of a child that must exit once granted'), onStdout: (all) => all.includes('waiting') && ready() },
  )
  await waiting
  held.release()
  const r = await mixed
  t.is(r.code, 0, r.stderr)
  t.regex(r.stdout, /ref granted/)

  // Wrong values, and tryLockFile, which never waits.
  await t.throwsAsync(lockFile(path, { ref: 'no' } as never), { code: 'ERR_INVALID_ARG_TYPE', message: /options\.ref/ })
  t.throws(() => tryLockFile(path, { ref: false } as never), { code: 'ERR_INVALID_ARG_VALUE', message: /options\.ref.*never waits/ })
  t.is(tryLockFile(path, { ref: undefined })?.release(), undefined)
})

test.serial('{ ref: false }: a worker that ends with a lock wait pending leaves nothing locked and no fd open', async (t) => {
  const path = file()
  const held = await lockFile(path)
  t.teardown(() => held.release())
  const before = fdList()
  const w = new Worker(
    `const lfd = require(${JSON.stringify(PKG)})
     lfd.lockFile(${JSON.stringify(path)}, { ref: false })
     require('node:worker_threads').parentPort.postMessage('waiting')`,
    { eval: true },
  )
  // A hang guard: a wait that kept the worker alive is terminated (code 1).
  const guard = setTimeout(() => void w.terminate(), scaled(10_000, t.log, 'a hang guard'))
  const code = await new Promise<number>((resolve) => w.on('exit', resolve))
  clearTimeout(guard)
  t.is(code, 0, 'the worker ended by itself')
  held.release()
  await until(() => fdsAdded(before).length === 0)
  // Had the cancelled wait taken the lock, another process could not.
  t.is(await childTry(path, {}), 'locked')
})

test('a directory: an exclusive OFD lock says how to lock it; a flock or shared lock takes it (comp35 M2)', (t) => {
  const d = mkdtempSync(join(dir, 'd-'))
  t.throws(() => tryLockFile(d), {
    code: 'EISDIR',
    message: `EISDIR: illegal operation on a directory, open '${d}' (a directory opens only for reading: lock a file, or take a 'flock' or shared lock of the directory; a <file>.lock directory that proper-lockfile left is not a kernel lock, see docs/migrating.md)`,
  })
  for (const options of [{ kind: 'flock' }, { shared: true }] as const) {
    const l = tryLockFile(d, options)
    t.not(l, null, JSON.stringify(options))
    l?.release()
  }
  // The hint is for that case only (diff35b L2): a path ending in '/' that
  // names no directory is EISDIR for any lock, and taking another kind does
  // not help; it gets a hint of its own (s39-locks L3).
  for (const options of [{ kind: 'flock' }, { shared: true }] as const) {
    const missing = join(d, 'missing') + '/'
    t.throws(() => tryLockFile(missing, options), {
      code: 'EISDIR',
      message: `EISDIR: illegal operation on a directory, open '${missing}' (a path ending in '/' names a directory: drop the '/' to lock a file)`,
    })
  }
})


test.serial('a directory its holder removes: its waiters reject with ENOENT, and no regular file is made in its place (s44)', async (t) => {
  const { existsSync, mkdirSync, renameSync, rmdirSync, fstatSync, statSync } = await import('node:fs')
  // Only a 'flock' lock of a directory can wait: an exclusive OFD lock needs
  // it open for writing (EISDIR), so no OFD lock of a directory conflicts.
  for (const how of ['rmdir', 'rename'] as const) {
    const d = join(dir, `dir-${how}`)
    mkdirSync(d)
    const holder = tryLockFile(d, { kind: 'flock' })!
    // Each lock is released as soon as it is granted (read first: the inode
    // it is on), so that a wrong grant cannot hold up the other waiter.
    const inoOf = (l: FileLock): number => {
      const ino = fstatSync(l.fd).ino
      l.release()
      return ino
    }
    const waiters = [lockFile(d, { kind: 'flock' }).then(inoOf), lockFile(d, { kind: 'flock', shared: true }).then(inoOf)]
    await sleep(20)
    if (how === 'rmdir') rmdirSync(d)
    else {
      mkdirSync(d + '.new')
      renameSync(d + '.new', d)
    }
    holder.release()
    const outcomes = await Promise.allSettled(waiters)
    if (how === 'rmdir') {
      t.false(existsSync(d), 'nothing made where the directory was')
      for (const o of outcomes) {
        t.is(o.status, 'rejected')
        if (o.status === 'rejected') {
          t.like(o.reason, { code: 'ENOENT', syscall: 'stat', path: d })
          t.is(o.reason.message, `ENOENT: no such file or directory, stat '${d}' (the locked directory is no longer at the path (removed or renamed away): a lock of a directory does not make a new one)`)
        }
      }
    } else {
      // Renamed over by another directory: that one is locked, as a file would be.
      t.true(statSync(d).isDirectory())
      const ino = statSync(d).ino
      t.deepEqual(outcomes, [{ status: 'fulfilled', value: ino }, { status: 'fulfilled', value: ino }], 'both locked the directory the path names now')
      rmdirSync(d)
    }
  }
})

test.serial('a lock file its holder unlinks or replaces before releasing: a waiter locks the file the path names now, never the orphan', async (t) => {
  const { renameSync, statSync, unlinkSync, fstatSync } = await import('node:fs')
  for (const kind of ['ofd', 'flock'] as const) {
    for (const how of ['unlink', 'rename'] as const) {
      const path = file()
      // In this process: a queued waiter (the head waits in the kernel on the
      // old file's lock, the second behind it in the queue).
      const holder = tryLockFile(path, { kind })!
      const first = lockFile(path, { kind })
      const second = lockFile(path, { kind })
      await sleep(20)
      if (how === 'unlink') unlinkSync(path)
      else {
        writeFileSync(path + '.new', '')
        renameSync(path + '.new', path)
      }
      holder.release()
      // Checked without throwing, and released whatever the outcome, so that
      // a failure cannot leave the second waiter pending.
      const ino = (): number => statSync(path, { throwIfNoEntry: false })?.ino ?? -1
      const a = await first
      try {
        t.is(fstatSync(a.fd).ino, ino(), `${kind}/${how}: the first waiter's lock is on the file the path names`)
        const probe = tryLockFile(path, { kind })
        probe?.release()
        t.is(probe, null, `${kind}/${how}: one holder at a time`)
        t.is(await childTry(path, { kind }), 'busy', `${kind}/${how}: another process sees the lock`)
      } finally {
        a.release()
      }
      const b = await second
      t.is(fstatSync(b.fd).ino, ino(), `${kind}/${how}: so is the second's`)
      b.release()
    }
  }
})

test.serial('a Buffer path is copied: a waiter locks the file it asked for even if the caller reuses the buffer meanwhile (diff36 H1)', async (t) => {
  const { fstatSync, statSync } = await import('node:fs')
  const a = join(dir, 'bufA')
  const b = join(dir, 'bufB') // the same length
  const holder = tryLockFile(a)!
  const buf = Buffer.from(a)
  const waiting = lockFile(buf)
  await sleep(10)
  buf.write(b) // the caller's buffer now names another file
  holder.release()
  const lock = await waiting
  t.is(fstatSync(lock.fd).ino, statSync(a).ino, 'locked the file it waited for')
  lock.release()
  const held = tryLockFile(Buffer.from(a))!
  const fill = Buffer.from(a)
  const w2 = lockFile(fill)
  await sleep(10)
  fill.fill(0) // a NUL in the caller's buffer: not read again
  held.release()
  const l2 = await w2
  t.is(fstatSync(l2.fd).ino, statSync(a).ino)
  l2.release()
})

test.serial('a relative path is checked against the directory it was opened in: after process.chdir() the lock is kept, not moved (diff36 M2)', async (t) => {
  const { mkdirSync } = await import('node:fs')
  const A = join(dir, 'cwdA')
  const B = join(dir, 'cwdB')
  mkdirSync(A)
  mkdirSync(B)
  const r = await runNode(`
    const fs = require('node:fs')
    process.chdir(${JSON.stringify(A)})
    const holder = lfd.tryLockFile('app.lock')
    const waiting = lfd.lockFile('app.lock')
    process.chdir(${JSON.stringify(B)})
    holder.release()
    waiting.then((l) => {
      const ino = fs.fstatSync(l.fd).ino
      console.log(JSON.stringify({ onA: ino === fs.statSync(${JSON.stringify(join(A, 'app.lock'))}).ino, madeInB: fs.existsSync('app.lock') }))
      l.release()
    })
  `)
  t.is(r.code, 0, r.stderr)
  t.deepEqual(JSON.parse(r.stdout), { onA: true, madeInB: false })
})

test.serial('processes that lock by path, then unlink the file and release, never hold it two at a time (tryLockFile and lockFile)', async (t) => {
  // Each child loops: take the lock (tryLockFile in one half, lockFile in
  // the other), append "+pid" and "-pid" around a short hold to a log opened
  // with O_APPEND, then unlink the lock file and release. Two holders at
  // once show as a "+" after a "+" in the log (hundreds before the check).
  const path = file()
  const log = join(dir, `churn${n}.log`)
  writeFileSync(log, '')
  const child = (mode: string) =>
    runNode(`
      const fs = require('node:fs')
      const log = fs.openSync(${JSON.stringify(log)}, 'a')
      const hold = () => { const end = Date.now() + 1; while (Date.now() < end); }
      const take = ${mode === 'try' ? `async () => { for (;;) { const l = lfd.tryLockFile(${JSON.stringify(path)}); if (l) return l; await new Promise((r) => setImmediate(r)) } }` : `() => lfd.lockFile(${JSON.stringify(path)})`}
      ;(async () => {
        for (let i = 0; i < 60; i++) {
          const l = await take()
          fs.writeSync(log, '+' + process.pid + '\\n')
          hold()
          fs.writeSync(log, '-' + process.pid + '\\n')
          try { fs.unlinkSync(${JSON.stringify(path)}) } catch {}
          l.release()
        }
      })()
    `)
  const results = await Promise.all([child('try'), child('try'), child('wait'), child('wait')])
  for (const r of results) t.is(r.code, 0, r.stderr)
  const lines = readFileSync(log, 'utf8').trim().split('\n')
  t.is(lines.length, 4 * 60 * 2)
  let overlaps = 0
  let inside = false
  for (const l of lines) {
    if (l[0] === '+' && inside) overlaps++
    inside = l[0] === '+'
  }
  t.is(overlaps, 0, 'a holder entered while another held the lock')
})

test.serial('a lock file unlinked by a holder in another process: the waiting process re-opens the path', async (t) => {
  const path = file()
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const lfd = require(${JSON.stringify(PKG)}); const fs = require('node:fs')
       lfd.lockFile(${JSON.stringify(path)}).then((l) => { console.log('held'); process.stdin.once('data', () => { fs.unlinkSync(${JSON.stringify(path)}); l.release(); console.log('gone') }) })`,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  )
  await new Promise<void>((r) => child.stdout!.once('data', () => r()))
  const waiting = lockFile(path)
  await sleep(20)
  child.stdin!.write('x\n')
  const lock = await waiting
  t.is(await childTry(path, {}), 'busy', 'the path names the file this process locked')
  lock.release()
  child.stdin!.end()
  await new Promise((r) => child.once('exit', r))
})

/**
 * Aborts `wait` in the same tick as the release of `blocker` (the lock it
 * waits behind), so the kernel grants it before the abort reaches it, and
 * waits until the late grant's report has been handled.
 */
/**
 * The lines of /proc/locks for the file at `path` (by inode), without their
 * position numbers, read until two whole reads agree. /proc/locks is read
 * a page at a time, and each `read(2)` starts again at a line *number*: a
 * lock that any process on the machine took or dropped between two reads
 * shifts the list, and a line is printed twice or skipped. This test saw
 * S's one lock as two ("1: … READ … | 2: … READ …") under load, 17 of 100
 * rounds beside a process taking and dropping a flock lock in a loop
 * (s41-size's flake; ftrace's `filelock` events showed one holder). One
 * big `read(2)` is no cure: it returns at most a page (76 of 300 lines,
 * s41-diff2 MED-A).
 */
function locksOn(path: string): string[] {
  const ino = statSync(path).ino
  const read = (): string[] =>
    readFileSync('/proc/locks', 'utf8')
      .split('\n')
      .filter((l) => l.includes(`:${ino} `))
      .map((l) => l.replace(/^\d+:\s*/, ''))
  let last = read()
  for (let i = 0; i < 100; i++) {
    const again = read()
    if (again.join('\n') === last.join('\n')) return again
    last = again
  }
  return last
}

async function abortAfterGrant(t: import('ava').ExecutionContext, blocker: FileLock, wait: Promise<FileLock>, ac: AbortController): Promise<void> {
  await sleep(20)
  blocker.release()
  ac.abort()
  await t.throwsAsync(wait, { name: 'AbortError' })
  await until(noWaitThread)
  await sleep(20)
}

test.serial('an abort that loses the race to an upgrade through a held lock\'s fd puts back what the description held, not nothing (s39-locks M1, s39-diff3 M1)', async (t) => {
  // The upgrade (shared to exclusive) through S.fd replaces S's lock in the
  // kernel when granted; undoing a grant that came after the abort unlocked
  // the description, and S, not released, held nothing (50 of 50 runs).
  const path = file()
  const locks = (): string[] => locksOn(path)
  for (let i = 0; i < 10; i++) {
    const S = tryLockFile(path, { shared: true })!
    const O = tryLockFile(path, { shared: true })!
    const ac = new AbortController()
    await abortAfterGrant(t, O, lockFile(S.fd, { signal: ac.signal }), ac)
    t.false(S.released)
    // What S held is put back: its shared lock, not none and not exclusive.
    const held = locks()
    t.is(held.length, 1, `round ${i}: ${held.join(' | ') || 'none'}`)
    t.regex(held[0] ?? '', /OFDLCK\s+ADVISORY\s+READ .* 0 EOF$/, `round ${i}`)
    S.release()
    t.deepEqual(locks(), [], 'and S.release() drops it')
  }
  // Held on part of the range through the caller's own fd, waited for on
  // all of it: the held part is put back and the rest unlocked, so S's
  // release() leaves nothing (s39-diff3 M1: the kept grant's 10..EOF stayed
  // on the fd). And an exclusive piece under a shared request stays
  // exclusive (s39-diff3 M1: it was downgraded).
  const own = openSync(path, 'r+')
  t.teardown(() => closeSync(own))
  for (const [sShared, wShared] of [[true, false], [false, true]] as const) {
    for (let i = 0; i < 3; i++) {
      const S = tryLockFile(own, { shared: sShared, range: { start: 0, length: 10 } })!
      const O = tryLockFile(path, { range: { start: 10, length: 10 } })!
      const ac = new AbortController()
      await abortAfterGrant(t, O, lockFile(own, { shared: wShared, range: { start: 0, length: 20 }, signal: ac.signal }), ac)
      const held = locks()
      t.is(held.length, 1, `${sShared} ${i}: ${held.join(' | ')}`)
      t.regex(held[0] ?? '', new RegExp(`OFDLCK\\s+ADVISORY\\s+${sShared ? 'READ' : 'WRITE'} .* 0 9$`), `${sShared} ${i}`)
      S.release()
      t.deepEqual(locks(), [], `${sShared} ${i}: S.release() leaves nothing`)
    }
  }
  // Held on other bytes (0..9), waited for on 20..29: the late grant is
  // undone, and only the held range stays (no lock no one owns).
  for (let i = 0; i < 5; i++) {
    const S = tryLockFile(path, { shared: true, range: { start: 0, length: 10 } })!
    const O = tryLockFile(path, { range: { start: 20, length: 10 } })!
    const ac = new AbortController()
    await abortAfterGrant(t, O, lockFile(S.fd, { range: { start: 20, length: 10 }, signal: ac.signal }), ac)
    const held = locks()
    t.is(held.length, 1, `round ${i}: ${held.join(' | ')}`)
    t.regex(held[0] ?? '', / 0 9$/, 'the held range')
    S.release()
  }
  // A plain fd that held no lock: an abort after the grant still leaves nothing.
  const fd = openSync(path, 'r+')
  t.teardown(() => closeSync(fd))
  for (let i = 0; i < 5; i++) {
    const O = tryLockFile(path)!
    const ac = new AbortController()
    await abortAfterGrant(t, O, lockFile(fd, { signal: ac.signal }), ac)
    t.deepEqual(locks(), [], `round ${i}: nothing stays locked`)
  }
})

test.serial('an abort that comes after the grant puts back what the description held at once, not when the JS thread gets to the report (s39-diff4 M1)', async (t) => {
  // The JS thread spins from the grant to the abort and past it, so the
  // wait's report cannot run in between: the undo must come from the abort
  // itself. Before, S's description kept the exclusive grant until the
  // report, open to nothing but closed to every shared lock meanwhile.
  const path = file()
  const writeHeld = (): boolean => locksOn(path).some((l) => /OFDLCK\s+ADVISORY\s+WRITE/.test(l))
  for (let i = 0; i < 5; i++) {
    const S = tryLockFile(path, { shared: true })!
    const O = tryLockFile(path, { shared: true })!
    const ac = new AbortController()
    const wait = lockFile(S.fd, { signal: ac.signal })
    await sleep(20)
    O.release()
    // Until the grant shows, and the wait's thread has left its job (it
    // marks the grant there): an abort between the kernel's grant and that
    // mark is undone by the thread just after (the one window left; s40-diff
    // M1), which this test is not about.
    const deadline = Date.now() + 10_000
    while ((!writeHeld() || !noWaitThread()) && Date.now() < deadline);
    t.true(writeHeld(), `round ${i}: the upgrade was granted`)
    ac.abort()
    const held = locksOn(path)
    t.is(held.length, 1, `round ${i}: ${held.join(' | ')}`)
    t.regex(held[0] ?? '', /OFDLCK\s+ADVISORY\s+READ .* 0 EOF$/, `round ${i}: S's shared lock is back before the abort returns`)
    // A lock taken through the same description right after the abort is
    // not undone by the report that follows.
    const again = tryLockFile(S.fd)
    t.truthy(again, `round ${i}: the upgrade is free now`)
    await t.throwsAsync(wait, { name: 'AbortError' })
    await until(noWaitThread)
    t.regex(locksOn(path).join(' | '), /OFDLCK\s+ADVISORY\s+WRITE .* 0 EOF$/, `round ${i}: the report left the new lock alone`)
    again?.release()
    S.release()
    t.deepEqual(locksOn(path), [], `round ${i}: nothing left`)
  }
})

test.serial('an abort after the grant undoes it through the wait\'s own dup, not the handle\'s number, which may have been closed and reused (s40-diff M2)', async (t) => {
  // The cancel's undo went through the handle's fd number, unchecked: closed
  // behind the handle's back and reused by another lock, the undo unlocked
  // that one, and the grant stayed on the caller's fd with no owner.
  const a = file()
  const b = file()
  writeFileSync(a, '')
  writeFileSync(b, '')
  const fdsOn = (p: string): number[] =>
    readdirSync('/proc/self/fd')
      .map(Number)
      .filter((n) => {
        try {
          return readlinkSync(`/proc/self/fd/${n}`) === p
        } catch {
          return false
        }
      })
  const O = tryLockFile(a)!
  const own = openSync(a, 'r+')
  t.teardown(() => closeSync(own))
  const before = new Set(fdsOn(a))
  const ac = new AbortController()
  const wait = lockFile(own, { signal: ac.signal })
  const handleFd = Math.min(...fdsOn(a).filter((n) => !before.has(n))) // the handle's dup comes before the wait's
  await sleep(20)
  O.release()
  const deadline = Date.now() + 10_000
  while ((!locksOn(a).some((l) => /WRITE/.test(l)) || !noWaitThread()) && Date.now() < deadline);
  // Fill the lower free numbers, so that the next open reuses handleFd.
  const fillers: number[] = []
  t.teardown(() => fillers.forEach((f) => closeSync(f)))
  for (let f = openSync('/dev/null', 'r'); ; f = openSync('/dev/null', 'r')) {
    if (f > handleFd) {
      closeSync(f)
      break
    }
    fillers.push(f)
  }
  closeSync(handleFd) // a bug elsewhere closes a number it does not own
  const other = tryLockFile(b)!
  t.is(other.fd, handleFd, 'the number was reused')
  ac.abort()
  t.is(locksOn(b).length, 1, 'the other file\'s lock is untouched')
  t.deepEqual(locksOn(a), [], 'the grant on the caller\'s fd is undone')
  await t.throwsAsync(wait, { name: 'AbortError' })
  t.is(locksOn(b).length, 1)
  other.release()
})

test.serial('locking a tty by path does not make it the controlling terminal of a session leader without one (O_NOCTTY; s39-locks L1)', (t) => {
  // A daemon (setsid, no controlling terminal) that locked /dev/pts/N by
  // path acquired it as its controlling terminal, and with it the SIGHUP of
  // its hangup; testLock's open already had O_NOCTTY, flock(1)'s has it.
  const js = `const L = require(${JSON.stringify(PKG)}), fs = require('fs')
    const tty = () => fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')[4]
    const l = L.tryLockFile(process.argv[1], process.argv[2] === 'flock' ? { kind: 'flock' } : { shared: true })
    console.log(process.argv[2], tty(), l === null ? 'busy' : 'locked')`
  const py = `import os, pty, subprocess, sys
m, s = pty.openpty()
name = os.ttyname(s)
os.close(s)
for kind in ['ofd', 'flock']:
    r = subprocess.run(['setsid', '-w', sys.argv[1], '-e', sys.argv[2], name, kind], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    print(r.stdout.strip() or r.stderr.strip()[:300])`
  const out = execFileSync('python3', ['-c', py, process.execPath, js], { encoding: 'utf8' })
  t.deepEqual(out.trim().split('\n'), ['ofd 0 locked', 'flock 0 locked'], out)
})

test('a path ending in \'/\' that is no directory gets its own EISDIR hint; a directory keeps the directory one (s39-locks L3)', (t) => {
  const f = file()
  writeFileSync(f, '')
  for (const p of [`${f}/`, `${f}-missing/`]) {
    for (const options of [{}, { shared: true }, { kind: 'flock' as const }]) {
      const e = t.throws(() => tryLockFile(p, options), { code: 'EISDIR' })
      t.regex(e?.message ?? '', /a path ending in '\/' names a directory: drop the '\/' to lock a file/, p)
    }
  }
  const e = t.throws(() => tryLockFile(`${dir}/`), { code: 'EISDIR' })
  t.regex(e?.message ?? '', /a directory opens only for reading/)
})

test.serial('lockDupTry (a direct caller of binding.js): a wrong argument type is -EINVAL with no fd taken; a failed dup is -(4096 + errno); lockFd names the lock fd', (t) => {
  // The fused dup + try of every tryLockFile(fd) (stop 42), a raw function:
  // a wrong type must be a number, never a throw or a crash.
  const file = join(dir, 'dup-try-raw')
  writeFileSync(file, '')
  const fd = openSync(file, 'r+')
  const other = openSync(file, 'r+')
  try {
    const einval = -osConstants.errno.EINVAL
    const before = fdCount()
    const call = native.lockDupTry as (...args: unknown[]) => unknown
    for (const args of [['3', 0], [{}, 0], [fd, '0'], [fd, true], [fd, 1n], [fd], [], [fd, 4], [fd, -1], [fd, 8]]) {
      t.is(call(...args), einval, JSON.stringify(args, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)))
    }
    t.is(fdCount(), before, 'no fd taken')
    t.is(native.lockDupTry(-1, 0), -(4096 + osConstants.errno.EBADF), 'a failed dup')
    t.is(native.lockDupTry(0x7fffffff, 1), -(4096 + osConstants.errno.EBADF), 'a failed dup (flock)')
    for (const how of [0, 1, 2, 3]) {
      const h = native.lockDupTry(fd, how)
      if (typeof h === 'number') return t.fail(`how ${how}: ${h}`)
      const n = native.lockFd(h)
      t.true(n >= 0 && n !== fd, `how ${how}: a dup of its own`)
      t.is(readlinkSync(`/proc/self/fd/${n}`), readlinkSync(`/proc/self/fd/${fd}`))
      // Exclusive, through another description: a conflict, and its dup is closed.
      const mid = fdCount()
      t.is(native.lockDupTry(other, how & 1), -osConstants.errno.EAGAIN, `how ${how}: another description's exclusive try`)
      t.is(fdCount(), mid, `how ${how}: the refused dup is closed`)
      t.is(native.lockRelease(h), 0)
      t.is(native.lockFd(h), -1, 'released')
    }
    t.is(fdCount(), before)
  } finally {
    closeSync(other)
    closeSync(fd)
  }
})

// The whole-file tryLockFile(fd) makes one fused call (lockDupTry): a
// conflict is null, and a dup that fails is the fcntl error it was. Only
// the binding-level test covered these; a mutation that threw on a conflict
// or reported the raw -(4096 + errno) passed the whole suite (s42-diff2 L1).
test.serial('tryLockFile(fd), whole file: a conflict is null for each kind and mode, and a closed fd is EBADF from fcntl', (t) => {
  const file = join(dir, 'dup-try-conflict')
  writeFileSync(file, '')
  const fd = openSync(file, 'r+')
  const other = openSync(file, 'r+')
  try {
    const before = fdCount()
    for (const kind of ['ofd', 'flock'] as const) {
      const held = tryLockFile(other, { kind })!
      t.truthy(held, `${kind}: the other description's lock`)
      t.is(tryLockFile(fd, { kind }), null, `${kind}: exclusive against exclusive`)
      t.is(tryLockFile(fd, { kind, shared: true }), null, `${kind}: shared against exclusive`)
      held.release()
      const reader = tryLockFile(other, { kind, shared: true })!
      const second = tryLockFile(fd, { kind, shared: true })
      t.truthy(second, `${kind}: shared beside shared`)
      second!.release()
      t.is(tryLockFile(fd, { kind }), null, `${kind}: exclusive against shared`)
      reader.release()
    }
    t.is(fdCount(), before, 'every refused dup closed')
    const closed = openSync(file, 'r')
    closeSync(closed)
    for (const kind of ['ofd', 'flock'] as const) {
      const err = t.throws(() => tryLockFile(closed, { kind, shared: true })) as NodeJS.ErrnoException
      t.like(err, { code: 'EBADF', errno: -osConstants.errno.EBADF, syscall: 'fcntl' }, kind)
    }
  } finally {
    closeSync(other)
    closeSync(fd)
  }
})

test.serial('tryLockFile(fd): lock.fd is asked of the binding when read, and a release that finds it closed behind its back names it without it having been read', (t) => {
  const file = join(dir, 'dup-try-lazy-fd')
  writeFileSync(file, '')
  const fd = openSync(file, 'r+')
  try {
    const seen = fdList()
    const lock = tryLockFile(fd)!
    const added = fdsAdded(seen)
    t.is(added.length, 1)
    const n = Number(added[0]!.split(' ')[0])
    // Closed before `lock.fd` was ever read: release() still says which fd.
    closeSync(n)
    const err = t.throws(() => lock.release(), { code: 'EBADF', message: new RegExp(`fd ${n} of this FileLock was closed outside linux-fd`) }) as NodeJS.ErrnoException
    t.is(err.syscall, 'release')
    t.is(lock.fd, -1)
    const again = tryLockFile(fd, { kind: 'flock', shared: true })!
    const m = again.fd
    t.is(readlinkSync(`/proc/self/fd/${m}`), readlinkSync(`/proc/self/fd/${fd}`))
    t.is(again.fd, m)
    t.regex(inspect(again), new RegExp(`fd: ${m}, kind: 'flock', shared: true`))
    again.release()
    t.is(again.fd, -1)
  } finally {
    closeSync(fd)
  }
})

test.serial('a released lock handle (a direct caller of binding.js): every call on it is -EBADF, a second release 0, and a lost one stays -EBADF with its number', (t) => {
  // Stop 42: a release drops the handle's state at once, not when garbage
  // collection finalizes the external; what a released handle answers is
  // unchanged.
  const file = join(dir, 'released-handle')
  writeFileSync(file, '')
  const fd = openSync(file, 'r+')
  try {
    const ebadf = -osConstants.errno.EBADF
    const h = native.lockDupTry(fd, 0)
    if (typeof h === 'number') return t.fail(String(h))
    t.is(native.lockRelease(h), 0)
    t.is(native.lockRelease(h), 0, 'idempotent')
    t.is(native.lockTry(h), ebadf)
    t.is(native.lockKey(h), ebadf)
    t.is(native.lockNamesPath(h, file), ebadf)
    t.is(native.lockWait(h, () => t.fail('no wait')), ebadf)
    t.is(native.lockFd(h), -1)
    const lost = native.lockOpen(file, false, false, 0, 0)
    if (typeof lost === 'number') return t.fail(String(lost))
    const n = native.lockTry(lost)
    t.true(n >= 0)
    closeSync(n)
    t.is(native.lockRelease(lost), ebadf, 'found closed behind its back')
    t.is(native.lockRelease(lost), ebadf, 'and again')
    t.is(native.lockFd(lost), n, 'the number it gave up')
  } finally {
    closeSync(fd)
  }
})

// prlimit(1) sets the child's own RLIMIT_NPROC (Node has no setrlimit); a
// root child first becomes nobody, whom the limit binds (root is exempt).
;(prlimit ? test : test.skip)('at the thread limit: a lockFile() wait that gets no thread rejects with EAGAIN from clone, and an abort whose cancel thread cannot start still ends its wait (s46-exhaust M2, H1; its path, s49-limits L4)', async (t) => {
  // M2: the wait's EAGAIN read as a conflict's (syscall fcntl). H1: the
  // cancel thread's failed start was kept, and the abort of a wait blocked
  // in the kernel waited for the lock (for good, here: the child hung).
  const d = mkdtempSync(join(othersTmpdir(), 'linux-fd-nproc-'))
  t.teardown(() => rmSync(d, { recursive: true, force: true }))
  chmodSync(d, 0o755)
  const [a, b] = ['a', 'b'].map((name) => {
    const p = join(d, name)
    writeFileSync(p, '')
    chmodSync(p, 0o644)
    return p
  }) as [string, string]
  const held = [tryLockFile(a)!, tryLockFile(b)!]
  t.teardown(() => held.forEach((l) => l.release()))
  const r = await runNode(
    `if (process.getuid() === 0) { process.setgid(65534); process.setuid(65534) }
     const ac = new AbortController()
     const first = lfd.lockFile(${JSON.stringify(a)}, { shared: true, signal: ac.signal }).then(() => 'locked', (e) => e.code)
     setTimeout(() => {
       // The first wait's thread is blocked in the kernel by now. From here
       // on no thread can start: nobody runs more than 1.
       require('child_process').execFileSync(${JSON.stringify(prlimit)}, ['--pid', String(process.pid), '--nproc=1:'])
       const second = lfd.lockFile(${JSON.stringify(b)}, { shared: true }).then(() => 'locked', (e) => e.code + ' ' + e.syscall + ' ' + e.path)
       const t0 = Date.now()
       ac.abort()
       Promise.all([first, second]).then(([r1, r2]) => { console.log(JSON.stringify({ r1, r2, ms: Date.now() - t0 })); process.exit(0) })
     }, ${scaled(300, t.log, 'the first wait blocks')})`,
    { timeoutMs: scaled(15_000, t.log, 'the hang guard') },
  )
  t.is(r.code, 0, `the child hung or failed: ${r.signal} ${r.stderr}`)
  const out = JSON.parse(r.stdout)
  // With the path, as the open's errors have it (s49-limits L4).
  t.is(out.r2, `EAGAIN clone ${b}`)
  t.is(out.r1, 'ABORT_ERR')
  t.true(out.ms < scaled(2000, t.log, 'the abort'), `the abort took ${out.ms} ms`)
})

test('a lock through a file that overlayfs copies up while it is held is released, not taken for one closed behind its back (s50-diff)', (t) => {
  // Once overlayfs copies up a file that has a hard link in its lower layer
  // (no index: the default), fstat of an fd opened before reports the upper
  // file's inode. The fd's guard read that as its number closed and reused:
  // release() threw EBADF and forgot the fd, and the lock stayed held until
  // the process exited (the second lock was refused).
  const dir = mkdtempSync(join(tmpdir(), 'lfd-ovl-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const child = `
    const fs = require('fs'), lfd = require(${JSON.stringify(PKG)})
    const f = process.argv[1] + '/merged/f'
    const fd = fs.openSync(f, 'r')
    const before = fs.fstatSync(fd).ino
    const hasIno = /^ino:/m.test(fs.readFileSync('/proc/self/fdinfo/' + fd, 'utf8'))
    const lock = lfd.tryLockFile(fd, { kind: 'flock' })
    fs.utimesSync(f, new Date(), new Date()) // a metadata change copies the file up
    const copiedUp = fs.fstatSync(fd).ino !== before
    let released = 'ok'
    try { lock.release() } catch (e) { released = e.code }
    const again = lfd.tryLockFile(fs.openSync(f, 'r'), { kind: 'flock' }) !== null
    console.log(JSON.stringify({ locked: lock !== null, hasIno, copiedUp, released, again }))`
  // A tmpfs of its own: overlayfs refuses an upper layer on overlayfs.
  const mount = 'mount -t tmpfs none "$0" && mkdir "$0/lower" "$0/upper" "$0/work" "$0/merged" && echo x > "$0/lower/f" && ln "$0/lower/f" "$0/lower/f2" && ' +
    'mount -t overlay overlay -o "lowerdir=$0/lower,upperdir=$0/upper,workdir=$0/work" "$0/merged" && exec "$1" -e "$2" "$0"'
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', mount, dir, process.execPath, child], { encoding: 'utf8', timeout: scaled(30_000, t.log, 'the overlayfs child') })
  // Only a missing unshare is a skip; a timeout (also r.error) fails.
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return t.pass(`no unshare here: ${r.error?.message}`)
  t.is(r.error, undefined)
  if (r.status !== 0 && /^(unshare|mount):/m.test(r.stderr) && r.stdout === '') return t.pass(`no private overlayfs mount here: ${r.stderr.trim()}`)
  t.is(r.status, 0, `${r.signal ?? ''} ${r.stderr}`)
  const out = JSON.parse(r.stdout)
  if (!out.copiedUp) return t.pass('this overlayfs keeps the inode number across a copy-up')
  // Before Linux 5.14 fdinfo has no ino: line, and the lock still reads as closed behind its back (documented).
  if (!out.hasIno) return t.pass('fdinfo has no ino: line here (Linux before 5.14)')
  t.deepEqual(out, { locked: true, hasIno: true, copiedUp: true, released: 'ok', again: true })
})
