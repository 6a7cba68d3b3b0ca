'use strict'
// Memory: no growth per operation across 1,000,000 calls of each sync
// operation and 100,000 awaited waits (--quick: 100,000 and 10,000).
//
// Each operation runs a warm-up (JIT, heap sizing, allocator pools), then
// the measured calls in blocks with the event loop turning in between (as a
// server's would, and because Node frees external memory from the loop).
// Two figures are bounded, both read after full GCs:
// - native = RSS - V8 heapTotal: what Rust, libuv and malloc hold. Bound
//   12 MB, so a leak of 12 bytes per call over 1M calls (120 bytes per wait
//   over 100k) fails; run-to-run noise of this figure was up to 8 MB here.
// - heapUsed: the live JS heap (retained promises, closures). Bound 2 MB.
// RSS itself is printed too; it can grow while both stay flat, when V8
// keeps empty heap pages committed (see util.memAfterGc).
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const lfd = require('../..')

const MB = 1024 * 1024
const NATIVE_BOUND = 12 * MB
const HEAP_BOUND = 2 * MB
const mb = (x) => `${x >= 0 ? '+' : ''}${(x / MB).toFixed(2)}`

module.exports = {
  name: 'memory',
  title: 'no memory growth per call: 1M sync calls of each operation, 100k awaited waits',
  async run({ quick, log, util }) {
    const { memAfterGc, check, fdCount, sleep } = util
    const N = quick ? 100_000 : 1_000_000
    const WAITS = quick ? 10_000 : 100_000
    const fds0 = fdCount()
    const table0 = util.fdTable()
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'linux-fd-stress-'))
    const lockPath = path.join(dir, 'lock')
    fs.writeFileSync(lockPath, '')
    const lockFd = fs.openSync(lockPath, 'r+')
    const rawEfd = lfd.eventfd(0, lfd.EFD_NONBLOCK)
    const ec = new lfd.EventCounter(0)
    const sem = new lfd.Semaphore(0)
    const timer = new lfd.Timer()
    const tfd = lfd.timerfdCreate(lfd.CLOCK_MONOTONIC, lfd.TFD_NONBLOCK)
    const mf = lfd.MemFile.create('stress-mem', { sealable: true })
    mf.truncate(65536)
    mf.addSeals({ shrink: true })
    const scratch = Buffer.alloc(64)
    const ofd = Buffer.alloc(32)
    const [pr, pw] = (() => {
      // Node has no synchronous pipe(); a FIFO opened at both ends is one.
      const fifo = path.join(dir, 'fifo')
      require('node:child_process').execFileSync('mkfifo', [fifo])
      const r = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK)
      const w = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK)
      return [r, w]
    })()
    const errno = (fn) => {
      try {
        fn()
      } catch (e) {
        return e.code
      }
      throw new Error('expected an error')
    }

    const ops = {
      'eventfdWrite + eventfdRead': () => {
        lfd.eventfdWrite(rawEfd, 1)
        lfd.eventfdRead(rawEfd)
      },
      'eventfdRead on empty (EAGAIN thrown)': () => errno(() => lfd.eventfdRead(rawEfd)),
      'EventCounter add + tryTake': () => {
        ec.add(1)
        ec.tryTake()
      },
      'Semaphore release + tryAcquire': () => {
        sem.release()
        sem.tryAcquire()
      },
      'Timer set + get + tryWait + disarm': () => {
        timer.set(1000, 0)
        timer.get()
        timer.tryWait()
        timer.disarm()
      },
      'timerfdSettimeNs + timerfdGettimeNs': () => {
        lfd.timerfdSettimeNs(tfd, { initial: 10n ** 12n })
        lfd.timerfdGettimeNs(tfd)
      },
      'MemFile write + read + readInto + size + seals': () => {
        mf.write(scratch, 100)
        mf.read(16, 100)
        mf.readInto(scratch, 200)
        void mf.size
        void mf.seals
      },
      'MemFile map + unmap': () => mf.unmap(mf.map({ length: 4096 })),
      'fcntl(F_GETFL) + fcntl OFD lock/unlock buffer': () => {
        lfd.fcntl(lockFd, lfd.F_GETFL)
        ofd.writeInt16LE(lfd.F_WRLCK, 0)
        lfd.fcntl(lockFd, lfd.F_OFD_SETLK, ofd)
        ofd.writeInt16LE(lfd.F_UNLCK, 0)
        lfd.fcntl(lockFd, lfd.F_OFD_SETLK, ofd)
      },
      'flock LOCK_EX + LOCK_UN': () => {
        lfd.flock(lockFd, lfd.LOCK_EX)
        lfd.flock(lockFd, lfd.LOCK_UN)
      },
      'lockf LOCK_EX|LOCK_NB + LOCK_UN': () => {
        lfd.lockf(lockFd, lfd.LOCK_EX | lfd.LOCK_NB)
        lfd.lockf(lockFd, lfd.LOCK_UN)
      },
      'tryLockFile(fd) + release': () => lfd.tryLockFile(lockFd).release(),
      'getPipeSize + ioctl(FIONREAD)': () => {
        lfd.getPipeSize(pr)
        lfd.ioctl(pr, 0x541b /* FIONREAD */, scratch)
      },
      'EventCounter create + close': () => new lfd.EventCounter(0).close(),
    }

    const rows = []
    const measure = async (name, n, kind, body) => {
      const before = await memAfterGc()
      const t0 = process.hrtime.bigint()
      await body()
      const ns = Number(process.hrtime.bigint() - t0) / n
      const after = await memAfterGc()
      const row = {
        name,
        n,
        ns: Math.round(ns),
        rssMB: +((after.rss - before.rss) / MB).toFixed(2),
        nativeMB: +((after.native - before.native) / MB).toFixed(2),
        heapUsedMB: +((after.heapUsed - before.heapUsed) / MB).toFixed(2),
      }
      rows.push(row)
      log(
        `${name.padEnd(46)} ${n} ${kind}: native ${mb(after.native - before.native)} MB, heapUsed ${mb(after.heapUsed - before.heapUsed)} MB, RSS ${(before.rss / MB).toFixed(0)} -> ${(after.rss / MB).toFixed(0)} MB; ${ns >= 10_000 ? `${(ns / 1000).toFixed(1)} µs` : `${Math.round(ns)} ns`} each`,
      )
      check(after.native - before.native < NATIVE_BOUND, `${name}: native memory grew ${mb(after.native - before.native)} MB over ${n} ${kind}`)
      check(after.heapUsed - before.heapUsed < HEAP_BOUND, `${name}: live JS heap grew ${mb(after.heapUsed - before.heapUsed)} MB over ${n} ${kind}`)
    }
    const BLOCK = N / 10
    for (const [name, fn] of Object.entries(ops)) {
      for (let i = 0; i < BLOCK; i++) fn()
      await measure(name, N, 'calls', async () => {
        for (let b = 0; b < 10; b++) {
          for (let i = 0; i < BLOCK; i++) fn()
          await sleep(0)
        }
      })
    }

    // Results must not pile up in a loop that never yields: buffers are
    // V8-owned, not external ones that only a loop turn frees (js.rs,
    // CopiedBuffer; read() used to hold ~290 bytes per call until then).
    for (const [name, fn] of Object.entries({
      'MemFile read, one sync loop': () => mf.read(16, 100),
      'fcntl OFD buffer, one sync loop': () => lfd.fcntl(lockFd, lfd.F_OFD_GETLK, ofd),
    })) {
      for (let i = 0; i < BLOCK; i++) fn()
      await memAfterGc()
      global.gc()
      const before = process.memoryUsage()
      for (let i = 0; i < N; i++) fn()
      global.gc()
      const after = process.memoryUsage()
      const grew = after.rss - after.heapTotal - (before.rss - before.heapTotal)
      log(`${name.padEnd(46)} ${N} calls, no yield: native ${mb(grew)} MB`)
      check(grew < NATIVE_BOUND, `${name}: ${mb(grew)} MB held by a loop that did not yield`)
      rows.push({ name, n: N, nativeMB: +(grew / MB).toFixed(2), rssMB: +((after.rss - before.rss) / MB).toFixed(2), heapUsedMB: 0 })
    }

    // Awaited waits that really wait: the other side signals from a
    // setImmediate, so every await parks on the poll handle.
    const waits = {
      'EventCounter take (parked)': async () => {
        setImmediate(() => ec.add(1))
        await ec.take()
      },
      'Semaphore acquire (parked)': async () => {
        setImmediate(() => sem.release())
        await sem.acquire()
      },
      'Semaphore acquire (permit ready)': async () => {
        sem.release()
        await sem.acquire()
      },
      'EventCounter take with AbortSignal, aborted': async () => {
        const ac = new AbortController()
        const p = ec.take({ signal: ac.signal })
        ac.abort()
        await p.catch((e) => check(e.name === 'AbortError', `expected AbortError, got ${e}`))
      },
      'Timer wait (50 µs one-shot)': async () => {
        timer.setNs(50_000n)
        await timer.wait()
      },
      'lockFile(fd) + release': async () => (await lfd.lockFile(lockFd)).release(),
    }
    for (const [name, fn] of Object.entries(waits)) {
      for (let i = 0; i < WAITS / 10; i++) await fn()
      await measure(name, WAITS, 'awaits', async () => {
        for (let i = 0; i < WAITS; i++) await fn()
      })
    }
    check(ec.pending === 0 && sem.pending === 0 && timer.pending === 0, 'no wait left pending')

    for (const o of [ec, sem, timer, mf]) o.close()
    for (const fd of [rawEfd, tfd, lockFd, pr, pw]) fs.closeSync(fd)
    fs.rmSync(dir, { recursive: true })
    check(fdCount() === fds0, `fds ${fds0} at start, ${fdCount()} at end: ${util.fdDiff(table0, util.fdTable())}`)
    const worst = (k) => rows.reduce((a, b) => (b[k] > a[k] ? b : a))
    return {
      held: [
        `${Object.keys(ops).length} sync operations x ${N} calls and ${Object.keys(waits).length} wait kinds x ${WAITS} awaits, each after a warm-up:`,
        `  native memory (RSS - V8 heap) grew under ${NATIVE_BOUND / MB} MB each (largest ${worst('nativeMB').nativeMB} MB, ${worst('nativeMB').name})`,
        `  live JS heap grew under ${HEAP_BOUND / MB} MB each (largest ${worst('heapUsedMB').heapUsedMB} MB, ${worst('heapUsedMB').name})`,
        `  RSS growth largest ${worst('rssMB').rssMB} MB (${worst('rssMB').name})`,
      ],
      figures: { nativeBoundMB: NATIVE_BOUND / MB, heapBoundMB: HEAP_BOUND / MB, rows },
    }
  },
}
