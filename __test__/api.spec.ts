// The TypeScript API's own guarantees (issue 11 item 4, and the iterator,
// re-entrancy and sync-wait items of issue 13): permits, count, inspect,
// option typos, rejections instead of throws, iterator return, signals that
// re-enter, and sync waits that worker.terminate() ends.
import test from 'ava'
import { inspect } from 'node:util'
import { Worker } from 'node:worker_threads'
import { closeSync, mkdtempSync, openSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { open } from 'node:fs/promises'
import { EventCounter, F_DUPFD_CLOEXEC, F_GETFD, F_GETOWN_EX, FdChannel, LOCK_EX, LOCK_UN, type LockOptions, lockf, MemFile, Permit, SEEK_END, SEEK_SET, Semaphore, Timer, eventfdRead, eventfdWrite, fcntl, lockFile, tryLockFile } from '../index.js'
import { fdCount, fdList, fdsAdded, isOpen, PKG, runNode } from './helpers/child.js'
import { scaled } from './helpers/emulation.js'

const threads = (): number => Number(/Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1])

test.serial('a permit from acquire() is released once, by release() or by using', async (t) => {
  const sem = new Semaphore(1)
  t.teardown(() => sem.close())
  {
    using permit = await sem.acquire()
    t.true(permit instanceof Permit)
    t.is(sem.count, 0n)
    t.false(permit.released)
  }
  t.is(sem.count, 1n, 'leaving the scope gave the permit back')
  const p = sem.acquireSync()
  p.release()
  p.release() // a second release is a no-op, never an extra permit
  p[Symbol.dispose]()
  t.is(sem.count, 1n)
  t.true(p.released)
  t.throws(() => new (Permit as unknown as new () => Permit)(), { code: 'ERR_ILLEGAL_CONSTRUCTOR' })
  // The typings have no public constructor either (tsc checks the specs;
  // with the old typings, which had none declared, `new X()` type-checked).
  // @ts-expect-error: the constructor is private
  t.throws(() => new Permit(), { code: 'ERR_ILLEGAL_CONSTRUCTOR' })
})

test.serial('a permit of a closed semaphore has nowhere to go: release() does nothing', async (t) => {
  const sem = new Semaphore(1)
  const p = await sem.acquire()
  sem.close()
  t.notThrows(() => p.release())
  t.true(p.released)
})

test.serial('a permit of a closed semaphore whose fd was shared cannot go back: release() warns once instead of dropping it silently', async (t) => {
  // The count outlives this object in the other holders of the fd (here a
  // second object on a dup; in practice another process), so the permit is
  // lost to them: release() used to do nothing and report released: true.
  const sem = new Semaphore(1)
  t.teardown(() => sem.close())
  const warnings: Error[] = []
  const onWarning = (w: Error): void => void warnings.push(w)
  process.on('warning', onWarning)
  t.teardown(() => process.off('warning', onWarning))
  const peer = Semaphore.fromFd(sem.fd)
  sem.release(1)
  const p = await peer.acquire()
  const p2 = peer.acquireSync()
  peer.close()
  t.false(p.released)
  t.notThrows(() => p.release())
  t.notThrows(() => p[Symbol.dispose]()) // a second call does nothing, and warns no more
  t.notThrows(() => p2.release()) // another permit of the same semaphore: lost too, no second warning
  t.false(p2.released)
  await new Promise((r) => setImmediate(r)) // warnings are emitted on the next tick
  t.is(warnings.length, 1)
  t.is((warnings[0] as NodeJS.ErrnoException).code, 'LINUX_FD_PERMIT_LOST')
  t.regex(warnings[0]!.message, /released after its Semaphore was closed/)
  t.false(p.released, 'the permit was not given back')
  t.is(inspect(p), 'Permit { released: false }')
  t.is(sem.count, 0n, 'the other holders still miss them')
  sem.release(1) // what the owner of the lost permits must do by hand
  // Released in time, it is back for everyone, once.
  const peer2 = Semaphore.fromFd(sem.fd)
  const q = await peer2.acquire()
  q.release()
  peer2.close()
  t.notThrows(() => q.release())
  t.true(q.released)
  t.is(sem.count, 1n)
  // Closed without its fd ever leaving it, then printed or asked for its fd
  // (both -1 by then): the count went with the fd, so nothing is lost.
  const own = new Semaphore(1)
  const r = own.acquireSync()
  own.close()
  t.is(inspect(own), 'Semaphore { fd: -1, closed: true, pending: 0 }')
  t.is(own.fd, -1)
  t.true(r.released)
  r.release()
  await new Promise((r) => setImmediate(r))
  t.is(warnings.length, 1, 'no warning for a semaphore whose fd never left it')
  // A release that fails (the counter full: EAGAIN) keeps the permit held, so it can be retried.
  const full = new Semaphore(1)
  const f = full.acquireSync()
  full.release(2 ** 32 - 1)
  eventfdWrite(full.fd, 2n ** 64n - 2n - 2n ** 32n + 1n) // the counter at 2^64-2
  t.throws(() => f.release(), { code: 'EAGAIN' })
  t.false(f.released, 'a release that failed did not give the permit back')
  t.is(full.tryAcquire(), true) // make room
  f.release()
  t.true(f.released)
  full.close()
})

test.serial('a closed object passed where an fd is taken is ERR_USE_AFTER_CLOSE naming it, not a range error about -1', async (t) => {
  const sem = new Semaphore(1)
  sem.close()
  const fh = await open(join(tmpdir(), `linux-fd-closed-fh-${process.pid}`), 'w')
  await fh.close()
  t.teardown(() => rmSync(join(tmpdir(), `linux-fd-closed-fh-${process.pid}`), { force: true }))
  t.throws(() => eventfdRead(sem), { code: 'ERR_USE_AFTER_CLOSE', message: 'Semaphore was closed' })
  t.throws(() => fcntl(sem, F_GETFD), { code: 'ERR_USE_AFTER_CLOSE', message: 'Semaphore was closed' })
  t.throws(() => tryLockFile(fh), { code: 'ERR_USE_AFTER_CLOSE', message: 'FileHandle was closed' })
  await t.throwsAsync(lockFile(fh), { code: 'ERR_USE_AFTER_CLOSE' })
  // A plain -1, or an object that is not closed but says -1, is still out of range.
  t.throws(() => fcntl(-1, F_GETFD), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => fcntl({ fd: -2 }, F_GETFD), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => fcntl({ fd: -1 }, F_GETFD), { code: 'ERR_OUT_OF_RANGE' }) // a plain object: just a bad number
})

test.serial('awaits that find a value at once still give the event loop a turn now and then', async (t) => {
  // A ready value resolves without a trip through the event loop. A loop of
  // such awaits (a semaphore with permits to spare, a timer whose body runs
  // longer than its interval, a channel a peer floods) ran in one turn:
  // timers, I/O and other channels waited for as long as the loop ran.
  const sem = new Semaphore(0)
  t.teardown(() => sem.close())
  // Until 5 turns, then the time it took is checked: 200 ms as before
  // natively (a cap of 150 ms instead of 10 fails it), x10 under qemu-user,
  // where one run and its turn can take 20-60 ms. Without the rule the loop
  // never turns, and the guard ends the run. A stall of 150 ms (a loaded
  // machine) could break one run, so the best of 3 is judged (s43-flaky).
  const boundMs = scaled(200, t.log, 'five loop turns during ready acquires')
  const runs: Array<{ turns: number; tookMs: number; n: number }> = []
  const inTime = (r: { turns: number; tookMs: number }): boolean => r.turns >= 5 && r.tookMs < boundMs
  for (let attempt = 0; attempt < 3 && !runs.some(inTime); attempt++) {
    let turns = 0
    let ticking = true
    const tick = (): void => void (turns++, ticking && setImmediate(tick))
    setImmediate(tick)
    let n = 0
    const t0 = performance.now()
    for (const end = t0 + 10 * boundMs; turns < 5 && performance.now() < end; n++) {
      sem.release()
      await sem.acquire()
    }
    runs.push({ turns, tookMs: performance.now() - t0, n })
    ticking = false
  }
  const said = runs.map((r) => `${r.turns} turns in ${r.tookMs.toFixed(0)} ms of ready acquires (${r.n})`).join('; ')
  t.true(runs.some(inTime), `the event loop turned ${said}; 5 within ${boundMs} ms expected`)
  // A periodic timer whose body is slower than its interval, in for await.
  const timer = new Timer()
  t.teardown(() => timer.close())
  timer.set(1, 1)
  let fired = false
  setTimeout(() => (fired = true), 5)
  let n = 0
  const busy = (ms: number): void => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms) as unknown as void
  for await (const _ of timer) {
    busy(2)
    if (fired || ++n >= 500) break
  }
  t.true(fired, `a 5 ms timeout did not fire during ${n} iterations of 2 ms`)
})

test.serial('a loop of lockFile() calls that lock at once, or of FdChannel.connect() calls that connect at once, lets timers run (s46-proc M1)', async (t) => {
  // Such a call returned without a loop turn, so a lock-per-job loop never
  // ran a timer, I/O or its SIGTERM handler. Each loop runs until a 5 ms
  // timeout has fired or its guard ends it: 2,000 locks, 3,000 connects
  // into a backlog of 4,096 that nobody accepts (beyond it, connect waits,
  // and the loop turns anyway). Each iteration also spins 10 us, a job's
  // work, so that a loop outlasts the 10 ms after which the fairness cut
  // comes on any machine (s46-diff L3: 2,000 bare locks took 24 ms here).
  const job = (): void => {
    for (const end = performance.now() + 0.01; performance.now() < end; );
  }
  const dir = mkdtempSync(join(tmpdir(), 'lfd-fair-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'job.lock')
  let fired = false
  setTimeout(() => (fired = true), 5)
  let n = 0
  for (; !fired && n < 2000; n++) {
    const lock = await lockFile(path)
    job()
    lock.release()
  }
  t.true(fired, `a 5 ms timeout did not fire during ${n} lockFile() calls`)
  const server = FdChannel.listen(join(dir, 'sock'), { backlog: 4096 })
  t.teardown(() => server.close())
  fired = false
  setTimeout(() => (fired = true), 5)
  n = 0
  for (; !fired && n < 3000; n++) {
    const ch = await FdChannel.connect(join(dir, 'sock'))
    job()
    ch.close()
  }
  t.true(fired, `a 5 ms timeout did not fire during ${n} FdChannel.connect() calls`)
})

test.serial('a run of ready awaits that began in the timers phase lets a setTimeout(0) run at its first cut, not its second (user34 L7)', async (t) => {
  // The cut deferred one value by one setImmediate: a run begun in the
  // timers phase resumed in the same iteration's check phase, and timers
  // came after a second 10 ms run. Counted, not timed: how many acquires
  // resolve between a setImmediate and a setTimeout(0), both set when the
  // run begins. The immediate runs at the first cut; the timer then must
  // run before the run resumes (before: a whole second run, thousands).
  const sem = new Semaphore(0xffffffff)
  t.teardown(() => sem.close())
  for (let round = 0; round < 3; round++) {
    await new Promise((r) => setTimeout(r, 5)) // the run begins in the timers phase
    let n = 0
    let atImmediate = -1
    let atTimeout = -1
    setTimeout(() => (atTimeout = n), 0)
    setImmediate(() => (atImmediate = n))
    const end = performance.now() + scaled(2000, t.log, 'a guard: the run ends by then')
    while (atTimeout < 0 && performance.now() < end) {
      ;(await sem.acquire()).release()
      n++
    }
    t.true(atImmediate > 0, `round ${round}: the run was cut (immediate after ${atImmediate} acquires)`)
    t.is(atTimeout, atImmediate, `round ${round}: acquires between the first cut and setTimeout(0)`)
  }
})

test.serial('the fairness cut holds across objects: once one ready run is cut, every other object\'s ready awaits wait for that loop turn too (mem36 H1)', async (t) => {
  // The cut was per object, and the clock is read every 8th resolution: N
  // objects with values ready went on for about 8 resolutions each after the
  // first cut (64 timers with a 1 ms loop body held a setTimeout(0) 535 ms).
  // Counted, not timed: N loops of ready acquires interleave round robin;
  // when the loop turns (a setImmediate), each loop's last resolution is
  // taken from one counter. With the cut shared, they lie within one round
  // (at most N apart); per object, about 8 rounds.
  //
  // A round says something only if every loop ran before the cut. The first
  // clock read comes at the 8th resolution, inside the first sweep of the N
  // loops, so a stall of 10 ms there (a GC, or the scheduler on a loaded
  // machine: seen once under qemu-user with other spec files beside it) cuts
  // the run at loop 7, before loops 7..15 had a value: their last is 0.
  // Such a round is run again, and 3 rounds that say something are needed
  // out of at most 10: a cut that always came that early still fails.
  const N = 16
  const ROUNDS = 3
  const ATTEMPTS = 10
  const sems = Array.from({ length: N }, () => new Semaphore(0xffffffff))
  t.teardown(() => sems.forEach((s) => s.close()))
  let counted = 0
  const early: string[] = []
  for (let attempt = 0; attempt < ATTEMPTS && counted < ROUNDS; attempt++) {
    await new Promise((r) => setTimeout(r, 5)) // the run begins in the timers phase
    let n = 0
    let stop = false
    const last = new Array<number>(N).fill(0)
    let atImmediate: number[] | undefined
    setImmediate(() => ((atImmediate = [...last]), (stop = true)))
    const end = performance.now() + scaled(2000, t.log, 'a guard: the runs end by then')
    await Promise.all(
      sems.map(async (sem, i) => {
        while (!stop && performance.now() < end) {
          ;(await sem.acquire()).release()
          last[i] = ++n
        }
      }),
    )
    t.truthy(atImmediate, `attempt ${attempt}: the loop turned`)
    const lastAt = atImmediate!
    if (Math.min(...lastAt) === 0) {
      early.push(`attempt ${attempt}: ${lastAt.filter((v) => v === 0).length} of ${N} loops had no value before the cut (${n} resolutions in all)`)
      continue
    }
    counted++
    const spread = Math.max(...lastAt) - Math.min(...lastAt)
    t.true(spread <= N, `attempt ${attempt}: the loops' last resolutions before the loop turned lie ${spread} apart (at most ${N}: one round)`)
  }
  if (early.length > 0) t.log(`run again, cut before every loop ran: ${early.join('; ')}`)
  t.is(counted, ROUNDS, `rounds in which every loop ran before the cut, of ${ATTEMPTS} attempts`)
})

test.serial('ready awaits cut by the fairness rule still settle first come, first served (diff35 L4)', async (t) => {
  // A value taken at a cut is delivered a loop iteration later; a receive()
  // called meanwhile found its message ready and settled at once, before
  // the earlier call (messages were still handed out in call order).
  const [a, b] = FdChannel.pair()
  t.teardown(() => (a.close(), b.close()))
  const total = 200
  for (let i = 0; i < total; i++) await a.send(String(i))
  const settled: number[] = []
  let late: Promise<unknown> | undefined
  // Runs at the loop's first cut (the run begins in the timers phase).
  await new Promise((r) => setTimeout(r, 1))
  setTimeout(() => (late = b.receive().then((m) => settled.push(Number(m.data.toString())))), 0)
  for (let k = 0; k < total - 1; k++) {
    const m = await b.receive()
    settled.push(Number(m.data.toString()))
    const until = performance.now() + 0.2
    while (performance.now() < until); // a loop body: 40 ms in all, so the run is cut
  }
  await late
  t.is(settled.length, total)
  t.deepEqual(settled, [...settled].sort((x, y) => x - y), 'settled in call order, which is message order')
})

test.serial('a wall-clock step back during a run of ready awaits does not stop the event loop turns', async (t) => {
  // The fairness check measured the run with Date.now. A step back of the
  // wall clock (an NTP step, settimeofday) in the middle of a run made the
  // run last as long as the step: 10 s without one loop turn. The child
  // replaces Date.now before it loads the package, as the step.
  // The step comes once the run has given the loop 3 turns, not after a
  // fixed 50 ms: under qemu-user the first 50 ms of the run gave fewer than
  // 2 turns (the project's CI of stop 31, arm64 stage), a start-up cost, not
  // the fairness rule. It comes 16 resolutions into a run, after the run
  // read its start time: a step between two runs is harmless and would
  // pass with the bug (it did, in a first version of this test). A run that
  // never gives 3 turns, or no run of 17 resolutions, steps at the guard
  // and fails.
  // The step (1,000 s) outlasts any scaled window.
  const dir = mkdtempSync(join(tmpdir(), 'linux-fd-clock-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const preload = join(dir, 'clock.js')
  writeFileSync(preload, 'const real = Date.now; globalThis.clockStep = 0; Date.now = () => real() - globalThis.clockStep\n')
  const windowMs = scaled(250, t.log, 'the window after the step')
  const guardMs = scaled(2000, t.log, 'the wait for 3 turns before the step')
  const r = await runNode(
    `const perf = require('node:perf_hooks').performance
     ;(async () => {
       const sem = new lfd.Semaphore(0)
       let turns = 0, ticking = true, atStep = -1, stepAt = 0, lastTurns = 0, inRun = 0, byGuard = false
       const tick = () => { turns++; if (ticking) setImmediate(tick) }
       setImmediate(tick)
       for (const t0 = perf.now(); ; ) {
         const now = perf.now()
         if (turns !== lastTurns) { lastTurns = turns; inRun = 0 } else inRun++
         if (atStep < 0 && ((turns >= 3 && inRun >= 16) || now - t0 > ${guardMs})) { globalThis.clockStep = 1e6; atStep = turns; stepAt = now; byGuard = inRun < 16 }
         if (atStep >= 0 && now - stepAt >= ${windowMs}) break
         sem.release()
         await sem.acquire()
       }
       ticking = false
       sem.close()
       console.log(JSON.stringify({ before: atStep, after: turns - atStep, byGuard }))
     })()`,
    { args: ['-r', preload] },
  )
  t.is(r.code, 0, r.stderr)
  const { before, after, byGuard } = JSON.parse(r.stdout) as { before: number; after: number; byGuard: boolean }
  t.log(`loop turns: ${before} before the step, ${after} in the ${windowMs} ms after`)
  t.true(before >= 3, `the run gave the loop only ${before} turns in ${guardMs} ms before the step`)
  // A step at the guard may fall between two runs, where the bug does no
  // harm: such a run checks nothing (no run reached 17 resolutions).
  t.false(byGuard, 'the step came at the guard, not 16 resolutions into a run')
  t.true(after >= 5, `the loop turned ${after} times in the ${windowMs} ms after the wall clock stepped back 1,000 s`)
})

test.serial('count reads the counter without consuming it', (t) => {
  const c = new EventCounter(5)
  const s = new Semaphore(3)
  t.teardown(() => (c.close(), s.close()))
  t.is(c.count, 5n)
  t.is(c.count, 5n)
  t.is(c.tryTake(), 5n)
  t.is(c.count, 0n)
  t.is(s.count, 3n)
  t.true(s.tryAcquire())
  t.is(s.count, 2n)
  c.close()
  t.throws(() => c.count, { code: 'ERR_USE_AFTER_CLOSE', message: 'EventCounter was closed' })
})

test.serial('util.inspect shows fd, closed, pending and count', async (t) => {
  const s = new Semaphore(2)
  const text = inspect(s)
  t.regex(text, new RegExp(`^Semaphore \\{ fd: ${s.fd}, closed: false, pending: 0, count: 2n \\}$`))
  s.tryAcquire()
  s.tryAcquire()
  const w = s.acquire()
  t.regex(inspect(s), /pending: 1, count: 0n/)
  s.close()
  await t.throwsAsync(w, { code: 'ERR_USE_AFTER_CLOSE' })
  t.is(inspect(s), 'Semaphore { fd: -1, closed: true, pending: 0 }')
})

test.serial('util.inspect shows a subclass by its own name, and every class as [Name] past the depth limit (s40-timer L3)', (t) => {
  class Jobs extends Semaphore {}
  class Hits extends EventCounter {}
  class Tick extends Timer {}
  const jobs = new Jobs(1)
  const hits = new Hits()
  const tick = new Tick()
  const [a, b] = FdChannel.pair()
  const mf = MemFile.create('inspect-depth')
  const lock = tryLockFile(mf.fd)!
  t.teardown(() => {
    lock.release()
    for (const x of [jobs, hits, tick, a, b, mf]) x.close()
  })
  t.regex(inspect(jobs), /^Jobs \{ fd: \d+, closed: false, pending: 0, count: 1n \}$/)
  t.regex(inspect(hits), /^Hits \{ fd: \d+, closed: false, pending: 0, count: 0n \}$/)
  t.regex(inspect(tick), /^Tick \{ fd: \d+, closed: false, clock: 'monotonic', pending: 0, ref: true \}$/)
  t.is(inspect(jobs.acquireSync()), 'Permit { released: false }')
  // Past the depth limit: the fd only for the eventfd classes (a log line's
  // need), `[Name]` for the others, never their nested state.
  t.is(inspect({ x: { y: jobs } }, { depth: 0 }), '{ x: [Object] }')
  t.is(inspect({ x: jobs }, { depth: 0 }), `{ x: Jobs { fd: ${jobs.fd} } }`)
  t.is(inspect({ x: tick }, { depth: 0 }), '{ x: [Tick] }')
  t.is(inspect({ x: a }, { depth: 0 }), '{ x: [FdChannel] }')
  t.is(inspect({ x: mf }, { depth: 0 }), '{ x: [MemFile] }')
  t.is(inspect({ x: lock }, { depth: 0 }), '{ x: [FileLock] }')
  // At depth 1 the state shows, and an object inside it is cut.
  t.regex(inspect({ x: a }, { depth: 1, breakLength: Infinity }), /^\{ x: FdChannel \{ fd: \d+, closed: false, pending: 0, peer: \[Object\] \} \}$/)
  t.regex(inspect({ x: lock }, { depth: 1, breakLength: Infinity }), /^\{ x: FileLock \{ fd: \d+, kind: 'ofd', shared: false, range: \[Object\], released: false \} \}$/)
  // A direct call with no arguments still answers.
  t.regex((tick as unknown as { [inspect.custom](): string })[inspect.custom](), /^Tick \{ fd: \d+/)
})

test.serial('an unknown option key is ERR_INVALID_ARG_VALUE naming it, as a rejection', async (t) => {
  const c = new EventCounter()
  t.teardown(() => c.close())
  const p = c.take({ timeout: 10 } as never)
  t.true(p instanceof Promise, 'promise-returning methods never throw synchronously')
  await t.throwsAsync(p, { code: 'ERR_INVALID_ARG_VALUE', message: /'options\.timeout'/ })
  t.throws(() => EventCounter.fromFd(c.fd, { adpot: true } as never), { code: 'ERR_INVALID_ARG_VALUE', message: /options\.adpot/ })
})

test.serial('an AbortSignal passed where the options go is ERR_INVALID_ARG_TYPE, never ignored (a wait on it would never end)', async (t) => {
  // An AbortSignal has no own enumerable key, so the unknown-key check let
  // it through as empty options: take(signal) waited for ever on an aborted
  // signal (s39-types M1).
  const dir = mkdtempSync(join(tmpdir(), 'lfd-signal-opts-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const c = new EventCounter()
  const s = new Semaphore(0)
  const timer = new Timer()
  const [x, y] = FdChannel.pair()
  const server = FdChannel.listen(join(dir, 's.sock'))
  t.teardown(() => [c, s, timer, x, y, server].forEach((o) => o.close()))
  const signal = AbortSignal.abort()
  const expected = { code: 'ERR_INVALID_ARG_TYPE', message: /pass \{ signal \}/ }
  const rejections: [string, () => Promise<unknown>][] = [
    ['take', () => c.take(signal as never)],
    ['acquire', () => s.acquire(signal as never)],
    ['wait', () => timer.wait(signal as never)],
    ['receive', () => y.receive(signal as never)],
    ['accept', () => server.accept(signal as never)],
    ['lockFile', () => lockFile(join(dir, 'lock'), signal as never)],
    ['connect', () => FdChannel.connect(join(dir, 's.sock'), signal as never)],
  ]
  for (const [name, call] of rejections) {
    const p = call()
    t.true(p instanceof Promise, name)
    await t.throwsAsync(p, expected, name)
  }
  t.throws(() => c.iterate(signal as never), expected)
  t.throws(() => timer.iterate(new AbortController().signal as never), expected)
  // A polyfill's signal, which toSignal() takes, is refused the same way (s39-diff L1).
  class PolyfillSignal extends EventTarget {
    get aborted(): boolean {
      return true
    }
  }
  await t.throwsAsync(c.take(new PolyfillSignal() as never), expected)
  t.is(c.pending + s.pending + timer.pending + y.pending + server.pending, 0)
})

test.serial('options are checked by their own keys: an inherited one is not an option, an own one after known ones is caught', async (t) => {
  const c = new EventCounter()
  t.teardown(() => c.close())
  // Only own enumerable keys count, as Object.keys() gives them (the check
  // walks for-in, which also visits inherited ones).
  const inherited = Object.create({ timeout: 10 }) as { signal?: AbortSignal }
  c.add(1)
  t.is(await c.take(inherited), 1n)
  const own = Object.assign(Object.create({ timeout: 10 }), { signal: undefined, timeuot: 5 }) as never
  await t.throwsAsync(c.take(own), { code: 'ERR_INVALID_ARG_VALUE', message: /'options\.timeuot'/ })
})

test.serial('return() on an iterator settles every pending next() with done and consumes nothing', async (t) => {
  const c = new EventCounter()
  t.teardown(() => c.close())
  const it = c[Symbol.asyncIterator]()
  const a = it.next()
  const b = it.next()
  t.deepEqual(await it.return!(), { value: undefined, done: true })
  t.deepEqual(await a, { value: undefined, done: true })
  t.deepEqual(await b, { value: undefined, done: true })
  t.is(c.pending, 0)
  c.add(7)
  await new Promise((r) => setTimeout(r, 20))
  t.is(c.tryTake(), 7n, 'no orphaned next() took the value')
  t.deepEqual(await it.next(), { value: undefined, done: true }, 'a returned iterator stays done')
})

test.serial('return() right after a next() that already took a value delivers that value, not done (no value lost)', async (t) => {
  // The value is there, so next() takes it at once; its promise settles a
  // microtask later. return() in between used to resolve it with done and
  // drop the value: a counter's count, a channel's message and its fds.
  const c = new EventCounter(4)
  t.teardown(() => c.close())
  const it = c[Symbol.asyncIterator]()
  const a = it.next()
  const b = it.next() // nothing left: queued, so return() ends it
  t.deepEqual(await it.return!(), { value: undefined, done: true })
  t.deepEqual(await a, { value: 4n, done: false }, 'the taken value is delivered')
  t.deepEqual(await b, { value: undefined, done: true })
  t.is(c.pending, 0)
  t.deepEqual(await it.next(), { value: undefined, done: true }, 'then the iterator is done')

  const [x, y] = FdChannel.pair()
  t.teardown(() => {
    x.close()
    y.close()
  })
  await x.send('precious', [x.fd])
  const ch = y[Symbol.asyncIterator]()
  const m = ch.next()
  await ch.throw!(new Error('stop')).catch(() => {})
  const r = await m
  t.false(r.done, 'the message that next() read is delivered')
  if (!r.done) {
    t.is(r.value.data.toString(), 'precious')
    t.is(r.value.fds.length, 1)
    r.value.fds.close()
  }
})

test.serial('types: options take an explicit undefined (exactOptionalPropertyTypes, on in tsconfig.json), and tryLockFile refuses LockOptions', async (t) => {
  // Checked by tsc over the specs: a value that may be undefined passes
  // through, as the run time treats undefined as "not given".
  const maybeSignal = undefined as AbortSignal | undefined
  const maybeBool = undefined as boolean | undefined
  const c = new EventCounter(1)
  t.teardown(() => c.close())
  t.is(await c.take({ signal: maybeSignal }), 1n)
  const sem = new Semaphore(0)
  t.teardown(() => sem.close())
  Semaphore.fromFd(sem.fd, { adopt: maybeBool ?? false }).close()
  Semaphore.fromFd(sem, { adopt: undefined }).close()
  const dir = mkdtempSync(join(tmpdir(), 'lfd-types-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const lock = tryLockFile(join(dir, 'l'), { shared: maybeBool, range: undefined })
  t.truthy(lock)
  lock?.release()
  // A LockOptions with a signal is not a TryLockOptions: tryLockFile never
  // waits, and the run time refuses the key.
  const opts: LockOptions = { signal: new AbortController().signal }
  // @ts-expect-error: tryLockFile takes no signal
  t.throws(() => tryLockFile(join(dir, 'l'), opts), { code: 'ERR_INVALID_ARG_VALUE', message: /options\.signal/ })
  // An explicit undefined is "not given", there too, as the types allow it.
  tryLockFile(join(dir, 'l'), { signal: undefined, wait: undefined })?.release()
})

test.serial('types: only a number can be adopted; lockf takes whence 0, 1 or 2 (user34 L2)', async (t) => {
  // Checked by tsc over the specs: each call the types refuse also fails at
  // run time, with the code the comment gives.
  const sem = new Semaphore(0)
  t.teardown(() => sem.close())
  const counter = new EventCounter()
  t.teardown(() => counter.close())
  const timer = new Timer()
  t.teardown(() => timer.close())
  const mem = MemFile.create('types')
  t.teardown(() => mem.close())
  const [a, b] = FdChannel.pair()
  t.teardown(() => (a.close(), b.close()))
  const refused = { code: 'ERR_INVALID_ARG_TYPE', message: /adopt/ }
  // @ts-expect-error: an object's fd cannot be adopted
  t.throws(() => EventCounter.fromFd(counter, { adopt: true }), refused)
  // @ts-expect-error: an object's fd cannot be adopted
  t.throws(() => Semaphore.fromFd(sem, { adopt: true }), refused)
  // @ts-expect-error: an object's fd cannot be adopted
  t.throws(() => Timer.fromFd(timer, { adopt: true }), refused)
  // @ts-expect-error: an object's fd cannot be adopted
  t.throws(() => MemFile.fromFd(mem, { adopt: true }), refused)
  // @ts-expect-error: an object's fd cannot be adopted
  t.throws(() => FdChannel.fromFd(a, { adopt: true }), refused)
  // Nor through an options value of fromFd's own options type (diff35 L1:
  // F was inferred from it, as FdLike).
  const opts: NonNullable<Parameters<typeof MemFile.fromFd>[1]> = { adopt: true }
  // @ts-expect-error: an object's fd cannot be adopted
  t.throws(() => MemFile.fromFd(mem, opts), refused)
  class Sub extends EventCounter {}
  // @ts-expect-error: an object's fd cannot be adopted, through a subclass either
  t.throws(() => Sub.fromFd(counter, { adopt: true }), refused)
  // What the types allow: a dup of an object's fd, or a number adopted.
  Sub.fromFd(counter).close()
  Sub.fromFd(counter, { adopt: false }).close()
  const fd: number = fcntl(counter.fd, F_DUPFD_CLOEXEC, 0) as number
  EventCounter.fromFd(fd, { adopt: true }).close()
  // A value typed as either may still be adopted at run time (a number).
  const either: number | { fd: number } = fcntl(sem.fd, F_DUPFD_CLOEXEC, 0) as number
  Semaphore.fromFd(either, { adopt: true }).close()
  const dir = mkdtempSync(join(tmpdir(), 'lfd-types-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'f')
  writeFileSync(path, '')
  const handle = await open(path, 'r+')
  t.teardown(() => handle.close())
  lockf(handle, LOCK_EX, 0, 0, 0)
  lockf(handle, LOCK_UN, 0, 0, 2)
  // The named whences are the literal types lockf takes.
  lockf(handle, LOCK_EX, 0, 0, SEEK_SET)
  lockf(handle, LOCK_UN, 0, 0, SEEK_END)
  // @ts-expect-error: whence is SEEK_SET, SEEK_CUR or SEEK_END
  t.throws(() => lockf(handle, LOCK_EX, 0, 0, 3), { code: 'ERR_OUT_OF_RANGE' })
})

test.serial('throw() on an iterator also settles pending next() calls, and rejects with the error', async (t) => {
  const c = new EventCounter()
  t.teardown(() => c.close())
  const it = c[Symbol.asyncIterator]()
  const a = it.next()
  await t.throwsAsync(it.throw!(new Error('stop')), { message: 'stop' })
  t.deepEqual(await a, { value: undefined, done: true })
  c.add(1)
  t.is(c.tryTake(), 1n)
})

test.serial('a signal needs removeEventListener, and one that throws loses no value and no waiter', async (t) => {
  const c = new EventCounter()
  t.teardown(() => c.close())
  await t.throwsAsync(c.take({ signal: { aborted: false, addEventListener() {} } as never }), { code: 'ERR_INVALID_ARG_TYPE' })
  // The waiter is settled from the watch's callback, after its value was
  // read: a throw there lost the value and left the promise pending.
  const signal = {
    aborted: false,
    addEventListener() {},
    removeEventListener() {
      throw new Error('hostile removeEventListener')
    },
  } as unknown as AbortSignal
  const p = c.take({ signal })
  c.add(5)
  t.is(await p, 5n, 'the waiter got the value that its read took')
  t.is(c.pending, 0)
  const dir = mkdtempSync(join(tmpdir(), 'lfd-signal-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'lock')
  writeFileSync(path, '')
  const holder = tryLockFile(path)!
  const waiting = lockFile(path, { signal })
  await new Promise((r) => setTimeout(r, 50))
  holder.release()
  const lock = await waiting
  t.false(lock.released)
  lock.release()
})

test.serial('a signal whose aborted getter closes the object rejects with the closed error, not EBADF', async (t) => {
  const c = new EventCounter()
  const signal = new AbortController().signal
  Object.defineProperty(signal, 'aborted', {
    get() {
      c.close()
      return false
    },
  })
  await t.throwsAsync(c.take({ signal }), { code: 'ERR_USE_AFTER_CLOSE' })
})

test.serial('a signal whose addEventListener closes the object or aborts settles the wait', async (t) => {
  const c = new EventCounter()
  t.teardown(() => c.close())
  const ac = new AbortController()
  const signal = ac.signal
  const add = signal.addEventListener.bind(signal)
  signal.addEventListener = ((type: string, fn: () => void, o: unknown) => {
    add(type, fn, o as never)
    ac.abort() // aborts synchronously, inside addEventListener
  }) as never
  await t.throwsAsync(c.take({ signal }), { name: 'AbortError' })
  t.is(c.pending, 0)

  const d = new EventCounter()
  const s2 = new AbortController().signal
  s2.addEventListener = (() => d.close()) as never
  await t.throwsAsync(d.take({ signal: s2 }), { code: 'ERR_USE_AFTER_CLOSE' })
})

test.serial('an abort with a permit ready and a second waiter gives the permit to the second waiter', async (t) => {
  const sem = new Semaphore(0)
  t.teardown(() => sem.close())
  const ac = new AbortController()
  const a = sem.acquire({ signal: ac.signal })
  const b = sem.acquire()
  sem.release(1)
  ac.abort() // same turn as the release: A must not swallow the permit
  await t.throwsAsync(a, { name: 'AbortError' })
  const permit = await b
  t.true(permit instanceof Permit)
  t.is(sem.count, 0n, 'exactly one permit was taken, by B')
  permit.release()
  t.is(sem.count, 1n)
})

for (const form of ['acquireSync', 'takeSync'] as const) {
  test.serial(`worker.terminate() ends a worker blocked in ${form}() within 100 ms, taking nothing`, async (t) => {
    const sem = new Semaphore(0)
    const c = new EventCounter(0)
    t.teardown(() => (sem.close(), c.close()))
    // The first worker of a process (and ava's tsx loader in it) opens fds
    // that stay for the process's life: start one before counting.
    await new Worker('0', { eval: true }).terminate()
    const fdsBefore = fdCount()
    const listBefore = fdList()
    const code = `
      const { workerData, parentPort } = require('node:worker_threads')
      const lfd = require(${JSON.stringify(PKG)})
      const o = ${form === 'acquireSync' ? 'lfd.Semaphore' : 'lfd.EventCounter'}.fromFd(workerData)
      parentPort.postMessage('waiting')
      o.${form}()
      parentPort.postMessage('woke')`
    // Three workers in turn: the best time must be under 100 ms (a hung wait
    // never ends; one slow turn on a loaded machine is not a hang).
    const times: number[] = []
    for (let i = 0; i < 3; i++) {
      const w = new Worker(code, { eval: true, workerData: form === 'acquireSync' ? sem.fd : c.fd })
      await new Promise<void>((resolve) => w.once('message', () => resolve()))
      await new Promise((r) => setTimeout(r, 100)) // let it block
      const t0 = performance.now()
      await w.terminate()
      times.push(performance.now() - t0)
    }
    t.log(`terminate took ${times.map((ms) => ms.toFixed(1)).join(', ')} ms`)
    // The worker's teardown is emulated under qemu-user: scaled.
    t.true(Math.min(...times) < scaled(100, t.log, 'the best terminate'), `terminate took ${times.join(', ')} ms`)
    t.true(Math.max(...times) < scaled(2000, t.log, 'the worst terminate'), 'no sync wait kept its worker alive')
    // Nothing was taken: a permit or token added now is still there.
    if (form === 'acquireSync') {
      sem.release(1)
      t.is(sem.count, 1n)
    } else {
      c.add(1)
      t.is(c.count, 1n)
    }
    // A terminated worker's objects are finalized during its teardown,
    // which may end just after terminate() resolves.
    // Fewer fds than before is no leak: another test file's object may be
    // finalized meanwhile and close its fd (this failed once with no new fd
    // number, under load and under qemu). A leak is an fd that was not open
    // before, or more fds than before.
    const added = () => fdsAdded(listBefore)
    const end = Date.now() + scaled(2000, t.log, 'fd release after terminate')
    while ((fdCount() > fdsBefore || added().length > 0) && Date.now() < end) await new Promise((r) => setTimeout(r, 10))
    t.deepEqual(added(), [], 'the workers left no fd behind')
    t.true(fdCount() <= fdsBefore, `no more fds than before: ${fdCount()} > ${fdsBefore}`)
  })
}

test.serial('process.exit() in the main thread is not held up by a worker in a sync wait', async (t) => {
  const { spawnSync } = await import('node:child_process')
  const code = `
    const { Worker } = require('node:worker_threads')
    const lfd = require(${JSON.stringify(PKG)})
    const sem = new lfd.Semaphore(0)
    const w = new Worker("const l = require(" + JSON.stringify(${JSON.stringify(PKG)}) + "); l.Semaphore.fromFd(require('node:worker_threads').workerData).acquireSync()", { eval: true, workerData: sem.fd })
    w.on('online', () => setTimeout(() => { const t0 = Date.now(); process.on('exit', () => console.log('exit after', Date.now() - t0)); process.exit(0) }, 200))`
  const t0 = Date.now()
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: scaled(10_000, t.log, 'child kill') })
  t.is(r.status, 0, r.stderr)
  t.true(Date.now() - t0 < scaled(5000, t.log, 'child run'))
  t.regex(r.stdout, /exit after \d+/)
})

test.serial('threads: waits use no thread per waiter', async (t) => {
  const before = threads()
  const cs = Array.from({ length: 200 }, () => new EventCounter())
  const waits = cs.map((c) => c.take())
  t.true(threads() - before <= 1, `threads grew by ${threads() - before}`)
  for (const c of cs) c.add(1)
  t.deepEqual(new Set(await Promise.all(waits)), new Set([1n]))
  for (const c of cs) c.close()
})

// Found by the hostile stress case: each was a real bug of the first TS layer.
test.serial('dispose, iterator and inspect members check their receiver (hostile stress findings)', async (t) => {
  const sem = new Semaphore(0)
  const c = new EventCounter()
  t.teardown(() => (sem.close(), c.close()))
  // Permit's dispose on a Semaphore used to call sem.release(): a permit from nothing.
  t.throws(() => Permit.prototype[Symbol.dispose].call(sem as never), { code: 'ERR_INVALID_THIS' })
  t.is(sem.count, 0n)
  // EventCounter's dispose on a Semaphore used to close it.
  t.throws(() => EventCounter.prototype[Symbol.dispose].call(sem as never), { code: 'ERR_INVALID_THIS' })
  t.false(sem.closed)
  const It = Object.getPrototypeOf(c[Symbol.asyncIterator]()).constructor as new (...a: unknown[]) => AsyncIterator<bigint>
  t.throws(() => new It({ closed: false, wait: () => Promise.resolve(1n) }), { code: 'ERR_ILLEGAL_CONSTRUCTOR' })
  const next = It.prototype.next.call({})
  t.true(next instanceof Promise, 'a foreign receiver rejects, never throws synchronously')
  await t.throwsAsync(next, { code: 'ERR_INVALID_THIS' })
  t.is(inspect(Object.create(Semaphore.prototype)), 'Semaphore {}')
  t.is(Permit.prototype[inspect.custom].call({ released: 'yes' } as never), 'Permit {}')
})

test('the export object and the internal binding object have V8 fast properties (not dictionary mode)', async (t) => {
  // Not a timing: V8's own answer. In dictionary mode every `lfd.x` and every
  // internal `native.x` is a LoadIC stub call, not an inlined load (index.js,
  // src/binding.ts; measured ~0.95x on the eventfd pair when fixed). Adding
  // 100 keys one by one to {} gives dictionary mode, so this fails if either
  // object is ever built that way again.
  const r = await runNode(
    `const { native } = require(require('node:path').join(require('node:path').dirname(${JSON.stringify(PKG)}), 'dist', 'binding.js'))
     console.log(JSON.stringify([%HasFastProperties(lfd), %HasFastProperties(native), Object.keys(lfd).length > 50]))`,
    { args: ['--allow-natives-syntax'] },
  )
  t.is(r.code, 0, r.stderr)
  t.deepEqual(JSON.parse(r.stdout), [true, true, true])
})

test('the ES module entry has the CommonJS keys as its named exports, and nothing else but default', async (t) => {
  // index.mjs lists the names. It used \`export * from './dist/index.js'\`,
  // and Node's static export finder took tsc's \`__esModule\` marker there for
  // a named export, so the namespace showed one. This also fails when an
  // export is added to src/ but not to index.mjs.
  const r = await runNode(
    `const mjs = require('node:url').pathToFileURL(require('node:path').join(require('node:path').dirname(${JSON.stringify(PKG)}), 'index.mjs'))
     import(mjs.href).then((ns) => console.log(JSON.stringify([
       Object.keys(ns).filter((k) => k !== 'default').sort(), Object.keys(lfd).sort(),
       'default' in ns && ns.default === lfd, Object.keys(lfd).every((k) => ns[k] === lfd[k]),
     ])))`,
  )
  t.is(r.code, 0, r.stderr)
  const [esm, cjs, sameDefault, sameValues] = JSON.parse(r.stdout) as [string[], string[], boolean, boolean]
  t.false(esm.includes('__esModule'))
  t.deepEqual(esm, cjs)
  t.true(cjs.length > 100)
  t.true(sameDefault)
  t.true(sameValues)
})

test('a SharedArrayBuffer is bytes wherever bytes are taken, in the typings as at run time', async (t) => {
  // The run time took one since bufferBytes; the typings said ArrayBuffer
  // only, which a SharedArrayBuffer does not satisfy, so this did not compile.
  const sab = new SharedArrayBuffer(8)
  new Uint8Array(sab).set([1, 2, 3, 4, 5, 6, 7, 8])
  const mf = MemFile.create('sab')
  t.teardown(() => mf.close())
  t.is(mf.write(sab, 0), 8)
  const back = new SharedArrayBuffer(8)
  t.is(mf.readInto(back, 0), 8)
  t.deepEqual([...new Uint8Array(back)], [1, 2, 3, 4, 5, 6, 7, 8])
  // F_GETOWN_EX writes its 8-byte struct into a copy of the argument.
  t.is(fcntl(mf, F_GETOWN_EX, new SharedArrayBuffer(8)).length, 8)
  const [a, b] = FdChannel.pair()
  t.teardown(() => (a.close(), b.close()))
  await a.send(sab)
  t.deepEqual([...(await b.receive()).data], [1, 2, 3, 4, 5, 6, 7, 8])
  // And a wrong argument's message names it among the accepted types.
  // @ts-expect-error: a number is not bytes
  t.throws(() => mf.write(1), { code: 'ERR_INVALID_ARG_TYPE', message: /SharedArrayBuffer/ })
  // @ts-expect-error: a number is not bytes
  t.throws(() => mf.readInto(1), { code: 'ERR_INVALID_ARG_TYPE', message: /SharedArrayBuffer/ })
  // @ts-expect-error: a boolean is not bytes
  await t.throwsAsync(a.send(true), { code: 'ERR_INVALID_ARG_TYPE', message: /SharedArrayBuffer/ })
  t.throws(() => fcntl(mf, F_GETOWN_EX, {} as unknown as number), { code: 'ERR_INVALID_ARG_TYPE', message: /SharedArrayBuffer/ })
})

// fromFd called on a subclass returns an instance of it (as Array.from does),
// so a user's `class Jobs extends Semaphore` can wrap an inherited fd. Its
// constructor runs with no arguments; what it passes super() is ignored.
for (const [name, make, Base] of [
  ['EventCounter', () => new EventCounter(3), EventCounter],
  ['Semaphore', () => new Semaphore(3), Semaphore],
  ['Timer', () => new Timer('boottime'), Timer],
] as const) {
  test.serial(`${name}.fromFd on a subclass returns the subclass, wrapping that fd`, (t) => {
    const original = make()
    t.teardown(() => original.close())
    // An instance field, a method, and constructor arguments that must be ignored.
    class Sub extends (Base as typeof EventCounter) {
      readonly tag = 'sub'
      constructor(readonly label?: string) {
        super(9)
      }
      hello(): string {
        return `${this.tag}:${this.label}`
      }
    }
    const before = fdList()
    const sub = (Sub as typeof Sub).fromFd(original.fd)
    t.true(sub instanceof Sub)
    t.true(sub instanceof Base)
    t.is(sub.hello(), 'sub:undefined')
    t.not(sub.fd, original.fd, 'a dup')
    t.deepEqual(fdsAdded(before).length, 1)
    if (original instanceof Timer) {
      t.is((sub as unknown as Timer).clock, 'boottime', "the fd's clock, not the constructor's")
    } else {
      t.is((sub as unknown as { count: bigint }).count, 3n, "the fd's count, not super(9)'s")
    }
    sub.close()
    t.deepEqual(fdsAdded(before), [])
    // The base class itself, and an unbound call, still make the base class.
    const base = Reflect.apply(Base.fromFd, undefined, [original.fd]) as { close(): void }
    t.is(Object.getPrototypeOf(base), Base.prototype)
    base.close()
    t.deepEqual(fdsAdded(before), [])
  })
}

test.serial('fromFd on a subclass whose constructor throws, or returns another object, closes what it wrapped at once', (t) => {
  const original = new EventCounter(1)
  t.teardown(() => original.close())
  class Throws extends EventCounter {
    constructor() {
      throw new Error('no')
      super()
    }
  }
  class ThrowsAfter extends EventCounter {
    constructor() {
      super()
      throw new Error('after')
    }
  }
  class Other extends EventCounter {
    constructor(skip = true) {
      if (skip) return Object.create(EventCounter.prototype) as Other
      super()
    }
  }
  class OtherAfter extends EventCounter {
    constructor() {
      super()
      return { not: 'a counter' } as unknown as OtherAfter
    }
  }
  class ProxyAfter extends EventCounter {
    constructor() {
      super()
      const trap = () => {
        throw new Error('trap')
      }
      return new Proxy({}, { get: trap, getPrototypeOf: trap }) as unknown as ProxyAfter
    }
  }
  const before = fdList()
  t.throws(() => Throws.fromFd(original.fd), { message: 'no' })
  t.deepEqual(fdsAdded(before), [], 'the dup was closed')
  t.throws(() => ThrowsAfter.fromFd(original.fd), { message: 'after' })
  t.deepEqual(fdsAdded(before), [], 'the dup was closed, not left to the garbage collector')
  for (const [C, got] of [[Other, 'instance of EventCounter'], [OtherAfter, 'instance of Object'], [ProxyAfter, 'type object']] as const) {
    t.throws(() => C.fromFd(original.fd), {
      code: 'ERR_INVALID_RETURN_VALUE',
      message: `Expected the EventCounter whose super() took the fd to be returned from the "${C.name}" constructor but got ${got}`,
    })
    t.deepEqual(fdsAdded(before), [], C.name)
  }
  // With adopt, the fd itself was handed over: it is closed, at once.
  for (const C of [Throws, ThrowsAfter]) {
    const adopted = eventfdOf(original)
    t.throws(() => C.fromFd(adopted, { adopt: true }))
    t.throws(() => fcntl(adopted, F_GETFD), { code: 'EBADF' }, C.name)
  }
  t.deepEqual(fdsAdded(before), [])
})

test.serial('fromFd on a subclass that makes another object of its own class before super() throws, and nothing keeps the fd', (t) => {
  const original = new Semaphore(2)
  t.teardown(() => original.close())
  let inner: Semaphore | undefined
  class Outer extends Semaphore {
    constructor(nested = false) {
      if (!nested) inner = new Outer(true) // takes the fd: its new.target is Outer too
      super(7)
    }
  }
  const before = fdList()
  t.throws(() => Outer.fromFd(original.fd), {
    code: 'ERR_INVALID_RETURN_VALUE',
    message: /"Outer" constructor but got another Outer \(the fd went to one its constructor made\)$/,
  })
  t.true(inner?.closed, 'the object that took the fd was closed')
  t.deepEqual(fdsAdded(before), [], 'and the one on a fresh fd too')
  t.is(original.count, 2n)
})

test.serial('fromFd on a subclass whose constructor first makes an object of the base class, or of the other eventfd class, still wraps the fd', (t) => {
  const original = new Semaphore(2)
  t.teardown(() => original.close())
  let base: Semaphore | undefined
  let counter: EventCounter | undefined
  class Outer extends Semaphore {
    constructor() {
      base = new Semaphore(5)
      // new.target Outer, but EventCounter's constructor: the semaphore's fd is not its to take.
      counter = Reflect.construct(EventCounter, [6], Outer) as EventCounter
      super()
    }
  }
  const outer = Outer.fromFd(original.fd)
  t.teardown(() => {
    outer.close()
    base?.close()
    if (counter !== undefined) EventCounter.prototype.close.call(counter)
  })
  t.true(outer instanceof Outer)
  t.is(outer.count, 2n, 'the outer object wraps the fd')
  original.release(1)
  t.is(outer.count, 3n, 'the same semaphore')
  t.is(base?.count, 5n, 'the inner one is a new semaphore')
})

test.serial('fromFd called on a bound subclass, typed as the subclass but with no prototype to say so, is ERR_INVALID_THIS and keeps nothing', (t) => {
  const original = new EventCounter(4)
  t.teardown(() => original.close())
  class Sub extends EventCounter {}
  const bound = Sub.bind(null)
  const before = fdList()
  t.throws(() => bound.fromFd(original.fd), { code: 'ERR_INVALID_THIS' })
  t.deepEqual(fdsAdded(before), [])
  // A bound base class (which inherits no fromFd: called on it) makes the base class.
  const c = Reflect.apply(EventCounter.fromFd, EventCounter.bind(null), [original.fd]) as EventCounter
  t.is(Object.getPrototypeOf(c), EventCounter.prototype)
  t.is(c.count, 4n)
  c.close()
  t.deepEqual(fdsAdded(before), [])
})

test.serial("fromFd on a subclass whose constructor returns an instance the program holds (a singleton, a pool's) leaves that instance open", (t) => {
  const original = new EventCounter(1)
  t.teardown(() => original.close())
  class Bus extends EventCounter {
    static instance: Bus | undefined
    constructor() {
      if (Bus.instance !== undefined) return Bus.instance
      super()
      Bus.instance = this
    }
  }
  const pool: Pooled[] = []
  class Pooled extends EventCounter {
    constructor() {
      super()
      if (pool.length > 0) return pool[0]!
      pool.push(this)
    }
  }
  const bus = new Bus()
  const pooled = new Pooled()
  t.teardown(() => {
    bus.close()
    pooled.close()
  })
  const before = fdList()
  for (const [C, held] of [[Bus, bus], [Pooled, pooled]] as const) {
    t.throws(() => C.fromFd(original.fd), { code: 'ERR_INVALID_RETURN_VALUE', message: new RegExp(`but got instance of ${C.name}$`) })
    t.false(held.closed, `${C.name}'s instance is still the program's`)
    held.add(1)
    t.deepEqual(fdsAdded(before), [], 'what fromFd wrapped was closed')
  }
})

test.serial('a fromFd nested in a subclass constructor, whose own constructor returns the outer object, leaves that object to the outer fromFd', (t) => {
  const helper = new Timer()
  const mine = new Timer()
  t.teardown(() => {
    helper.close()
    mine.close()
  })
  mine.set(60_000)
  let current: Timer | undefined
  class Inner extends Timer {
    constructor(give = true) {
      if (give) return current!
      super()
    }
  }
  let innerError: unknown
  class Outer extends Timer {
    constructor() {
      super()
      current = this
      try {
        Inner.fromFd(helper.fd)
      } catch (e) {
        innerError = e
      }
    }
  }
  const outer = Outer.fromFd(mine.fd)
  t.teardown(() => outer.close())
  t.is((innerError as { code?: string }).code, 'ERR_INVALID_RETURN_VALUE')
  t.false(outer.closed, 'the inner fromFd did not close the outer object')
  t.true(outer.get().remaining > 0, "it wraps mine's fd")
})

/** A new fd of the same eventfd as `c` (a dup the caller owns). */
function eventfdOf(c: EventCounter): number {
  return fcntl(c.fd, F_DUPFD_CLOEXEC, 0)
}

test.serial("a Permit gives back exactly one permit, whatever a subclass's release() and closed do", async (t) => {
  const calls: unknown[] = []
  class Doubling extends Semaphore {
    override release(count: number | bigint = 1): void {
      calls.push(count)
      super.release(2)
    }
    override get closed(): boolean {
      calls.push('closed')
      return false
    }
  }
  const sem = new Doubling(1)
  t.teardown(() => Semaphore.prototype.close.call(sem))
  const p = sem.acquireSync()
  t.is(sem.count, 0n)
  p.release()
  t.is(sem.count, 1n, 'one permit back, not two')
  t.true(p.released)
  {
    using _ = await sem.acquire()
  }
  t.is(sem.count, 1n)
  t.deepEqual(calls, [], 'neither member was called')
})

// Typings only (tsc over the specs checks them; never called): fromFd's
// overloads take an unbound call, a call off an object, an abstract subclass
// (typed as it) and a subclass with a private constructor (the base class).
export function fromFdTypings(): void {
  const from = EventCounter.fromFd
  const factories = { sem: Semaphore.fromFd }
  abstract class Job extends Semaphore {
    abstract run(): void
  }
  class Only extends Timer {
    private constructor() {
      super()
    }
  }
  const typed: [EventCounter, Semaphore, Job, Timer] = [from(3), factories.sem(3), Job.fromFd(3), Only.fromFd(3)]
  // @ts-expect-error the base class's fromFd makes no Job
  const wrong: Job = Semaphore.fromFd(3)
  // A subclass whose constructor needs an argument is built with none by
  // fromFd, so it is typed as the base class (s39-types M2: it was typed
  // Named, and `label` was undefined at run time).
  class Named extends EventCounter {
    constructor(public label: string) {
      super()
    }
  }
  class Optional extends Timer {
    constructor(public label?: string) {
      super()
    }
  }
  const base: EventCounter = Named.fromFd(3)
  const optional: Optional = Optional.fromFd(3)
  // @ts-expect-error fromFd calls the constructor with no argument
  const named: Named = Named.fromFd(3)
  void [typed, wrong, base, optional, named]
}

test('an object posted to a worker arrives as {}: fromFd says to post its fd number', async (t) => {
  using sem = new Semaphore(1)
  // The structured clone of a linux-fd object keeps none of its private fields.
  const w = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads')
    const lfd = require(${JSON.stringify(PKG)})
    try { lfd.Semaphore.fromFd(workerData.sem); parentPort.postMessage(null) } catch (e) { parentPort.postMessage({ code: e.code, message: e.message }) }`,
    { eval: true, workerData: { sem } },
  )
  const got = await new Promise<{ code: string; message: string } | null>((resolve) => w.once('message', resolve))
  await w.terminate()
  t.is(got?.code, 'ERR_INVALID_ARG_TYPE')
  t.regex(got?.message ?? '', /an object posted to a worker arrives as \{\}: post its fd number/)
  // Only for {}: another object without an fd gets the plain message.
  const plain = t.throws(() => Semaphore.fromFd({ a: 1 } as never))
  t.notRegex(plain?.message ?? '', /posted to a worker/)
})

test.serial('fromFd of a number closed and reused says what the number is now; one not open says how a child gets it (s38-server L2)', (t) => {
  // The README's worker recipe: the number was posted, then the object
  // closed before the worker's fromFd ran, and another file took the number.
  const [a, b] = FdChannel.pair()
  t.teardown(() => (a.close(), b.close()))
  const counter = new EventCounter()
  const n = counter.fd
  counter.close()
  const reused = fcntl(a.fd, F_DUPFD_CLOEXEC, n) as number
  t.teardown(() => closeSync(reused))
  t.is(reused, n, 'the closed number was the lowest free one at or above itself')
  const reuse = 'a number closed before this call may have been reused by another file'
  for (const make of [() => EventCounter.fromFd(n), () => Semaphore.fromFd(n), () => Timer.fromFd(n), () => MemFile.fromFd(n)]) {
    const e = t.throws(make, { code: 'ERR_INVALID_ARG_VALUE' })
    t.regex(e.message, new RegExp(`^The argument 'fd' must be an? \\w+.*, but fd ${n} is a socket; ${reuse}\\. Received ${n}$`))
  }
  // What each kind of fd is called.
  const timer = new Timer()
  t.teardown(() => timer.close())
  const mem = MemFile.create('named')
  t.teardown(() => mem.close())
  const dirFd = openSync(tmpdir(), 'r')
  t.teardown(() => closeSync(dirFd))
  for (const [make, fd, what] of [
    [() => EventCounter.fromFd(timer), timer.fd, 'a timerfd'],
    [() => EventCounter.fromFd(mem), mem.fd, 'a memfd named "named"'],
    [() => Timer.fromFd(dirFd), dirFd, `the directory ${realpathSync(tmpdir())}`],
    [() => FdChannel.fromFd(timer), timer.fd, 'a timerfd'],
  ] as const) {
    t.throws(make, { code: 'ERR_INVALID_ARG_VALUE', message: new RegExp(`, but fd ${fd} is ${what.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}; ${reuse}\\. Received ${fd}$`) })
  }
  // An eventfd given to the other eventfd class: its flag is named, and no
  // reuse is suggested.
  const sem = new Semaphore(0)
  t.teardown(() => sem.close())
  t.throws(() => EventCounter.fromFd(sem.fd), {
    message: `The argument 'fd' must be an eventfd without EFD_SEMAPHORE, but fd ${sem.fd} is an eventfd with EFD_SEMAPHORE, which Semaphore.fromFd takes. Received ${sem.fd}`,
  })
  // A number that is not open: a child spawned without it in its stdio
  // array, say.
  let closed = 1000
  while (isOpen(closed)) closed++
  const hint = `fd ${closed} is not open in this process; a child process has an fd above 2 only if its parent passed it, as in spawn()'s stdio array`
  for (const [make, syscall] of [
    [() => FdChannel.fromFd(closed), 'getsockopt'],
    [() => EventCounter.fromFd(closed), 'fcntl'],
    [() => Timer.fromFd(closed), 'fcntl'],
    [() => MemFile.fromFd(closed), 'fcntl'],
  ] as const) {
    t.throws(make, { code: 'EBADF', message: `EBADF: bad file descriptor, ${syscall} (${hint})` })
  }
})

test('after close(), ref(), unref() and hasRef() still answer, and an iterator is done, as the README says (s40-eventfd LOW-2)', async (t) => {
  for (const make of [() => new EventCounter(), () => new Semaphore(), () => new Timer()]) {
    const o = make()
    o.close()
    t.notThrows(() => o.ref())
    t.notThrows(() => o.unref())
    t.false(o.hasRef())
    t.true(o.closed)
    if (!(o instanceof Semaphore)) t.deepEqual(await o[Symbol.asyncIterator]().next(), { value: undefined, done: true })
    if (o instanceof EventCounter) t.throws(() => o.add(), { code: 'ERR_USE_AFTER_CLOSE' })
    if (o instanceof Semaphore) t.throws(() => o.release(), { code: 'ERR_USE_AFTER_CLOSE' })
    if (o instanceof Timer) t.throws(() => o.get(), { code: 'ERR_USE_AFTER_CLOSE' })
  }
})
