'use strict'
// Per-operation costs of linux-fd's sync API against raw syscalls in C (the
// physical limit, compiled here with the machine's cc) and CPython's os/fcntl,
// plus moving 64 MiB to a child process. Everything runs in one session,
// rounds interleaved, so the ratios are fair on a noisy machine.
//
// Also: the async forms on their fast path (`await take()` with a value
// pending, `await acquire()` with a permit free, `await lockFile()` on a free
// lock) against their sync forms, and, uncontended, the lock packages people
// use instead: fs-ext's flock and proper-lockfile (from bench/node_modules;
// their rows are left out if bench/package.json is not installed).
//
// Usage: node bench/ops.js [--quick] [--json]
const { execFileSync, spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const lfd = require('..')
const { median, buildC, runAsScript } = require('./common.js')

const quick = process.argv.includes('--quick')
const ROUNDS = quick ? 3 : 7
const N = quick ? 20_000 : 200_000
const MAP_N = quick ? 2 : 5
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'linux-fd-bench-'))
const lockPath = path.join(dir, 'lock')
const plfPath = path.join(dir, 'plf')
const N_PLF = quick ? 100 : 500 // proper-lockfile: mkdir, utimes, stat, rmdir per lock


// CPython's version and its executable (called directly: a version manager's
// python3 shim can take longer to start than the rows it runs).
function pythonOk() {
  const r = spawnSync('python3', ['-c', 'import os,sys; os.eventfd; os.memfd_create; print(sys.version.split()[0], int(hasattr(os, "timerfd_create")), sys.executable)'], { encoding: 'utf8' })
  if (r.status !== 0) return null
  const [version, timerfd, exe] = r.stdout.trim().split(' ')
  return { version, timerfd: timerfd === '1', exe: exe || 'python3' }
}

function timeNs(n, fn) {
  const t0 = process.hrtime.bigint()
  fn(n)
  return Number(process.hrtime.bigint() - t0) / n
}

async function timeNsAsync(n, fn) {
  const t0 = process.hrtime.bigint()
  await fn(n)
  return Number(process.hrtime.bigint() - t0) / n
}

// Comparison packages from bench/package.json (bench/node_modules); null if not installed.
function dep(name) {
  try {
    return require(require.resolve(name, { paths: [__dirname] }))
  } catch {
    return null
  }
}
const plf = dep('proper-lockfile')
const fsext = dep('fs-ext')

const flockBuf = (type) => {
  const b = Buffer.alloc(32)
  b.writeInt16LE(type, 0)
  return b
}

const nodeOps = {
  eventfd_rw: (n) => {
    const fd = lfd.eventfd(0, lfd.EFD_NONBLOCK)
    const ns = timeNs(n, (k) => {
      for (let i = 0; i < k; i++) {
        lfd.eventfdWrite(fd, 1)
        lfd.eventfdRead(fd)
      }
    })
    fs.closeSync(fd)
    return ns
  },
  sem_rw: (n) => {
    const s = new lfd.Semaphore(0)
    const ns = timeNs(n, (k) => {
      for (let i = 0; i < k; i++) {
        s.release()
        s.tryAcquire()
      }
    })
    s.close()
    return ns
  },
  counter_rw: (n) => {
    const c = new lfd.EventCounter(0)
    const ns = timeNs(n, (k) => {
      for (let i = 0; i < k; i++) {
        c.add(1)
        c.tryTake()
      }
    })
    c.close()
    return ns
  },
  // Async forms on their fast path: the value is already there when awaited.
  counter_take_async: async (n) => {
    const c = new lfd.EventCounter(0)
    const ns = await timeNsAsync(n, async (k) => {
      for (let i = 0; i < k; i++) {
        c.add(1)
        await c.take()
      }
    })
    c.close()
    return ns
  },
  sem_acquire_async: async (n) => {
    const s = new lfd.Semaphore(0)
    const ns = await timeNsAsync(n, async (k) => {
      for (let i = 0; i < k; i++) {
        s.release()
        await s.acquire()
      }
    })
    s.close()
    return ns
  },
  eventfd_create: (n) => timeNs(n, (k) => { for (let i = 0; i < k; i++) new lfd.EventCounter().close() }),
  memfd_create: (n) => timeNs(n, (k) => { for (let i = 0; i < k; i++) fs.closeSync(lfd.memfdCreate('bench')) }),
  flock: (n) => {
    const fd = fs.openSync(lockPath, 'a+')
    const ns = timeNs(n, (k) => {
      for (let i = 0; i < k; i++) {
        lfd.flock(fd, lfd.LOCK_EX)
        lfd.flock(fd, lfd.LOCK_UN)
      }
    })
    fs.closeSync(fd)
    return ns
  },
  ofd: (n) => {
    const fd = fs.openSync(lockPath, 'r+')
    const wr = flockBuf(lfd.F_WRLCK)
    const un = flockBuf(lfd.F_UNLCK)
    const ns = timeNs(n, (k) => {
      for (let i = 0; i < k; i++) {
        lfd.fcntl(fd, lfd.F_OFD_SETLK, wr)
        lfd.fcntl(fd, lfd.F_OFD_SETLK, un)
      }
    })
    fs.closeSync(fd)
    return ns
  },
  timerfd: (n) => {
    const fd = lfd.timerfdCreate(lfd.CLOCK_MONOTONIC, lfd.TFD_NONBLOCK)
    const opts = { initial: 10n ** 12n }
    const ns = timeNs(n, (k) => {
      for (let i = 0; i < k; i++) {
        lfd.timerfdSettimeNs(fd, opts)
        lfd.timerfdGettimeNs(fd)
      }
    })
    fs.closeSync(fd)
    return ns
  },
  timer_class: (n) => {
    const t = new lfd.Timer()
    const ns = timeNs(n, (k) => {
      for (let i = 0; i < k; i++) {
        t.setNs(10n ** 12n)
        t.getNs()
      }
    })
    t.close()
    return ns
  },
  // tryLockFile / lockFile on an fd: dup, lock, and release() unlocks and closes the dup.
  trylock_ofd: (n) => tryLockN(n, 'ofd'),
  lockfile_ofd_async: (n) => lockFileN(n, 'ofd'),
  trylock_flock: (n) => tryLockN(n, 'flock'),
  lockfile_flock_async: (n) => lockFileN(n, 'flock'),
  ...(fsext && {
    fsext_flock: (n) => {
      const fd = fs.openSync(lockPath, 'r+')
      const ns = timeNs(n, (k) => {
        for (let i = 0; i < k; i++) {
          fsext.flockSync(fd, 'ex')
          fsext.flockSync(fd, 'un')
        }
      })
      fs.closeSync(fd)
      return ns
    },
    fsext_flock_async: async (n) => {
      const fd = fs.openSync(lockPath, 'r+')
      const ex = () => new Promise((resolve, reject) => fsext.flock(fd, 'ex', (e) => (e ? reject(e) : resolve())))
      const ns = await timeNsAsync(n, async (k) => {
        for (let i = 0; i < k; i++) {
          await ex()
          fsext.flockSync(fd, 'un')
        }
      })
      fs.closeSync(fd)
      return ns
    },
  }),
  ...(plf && {
    plf_sync: (n) =>
      timeNs(n, (k) => {
        for (let i = 0; i < k; i++) {
          plf.lockSync(plfPath, { realpath: false })
          plf.unlockSync(plfPath, { realpath: false })
        }
      }),
    plf_async: (n) =>
      timeNsAsync(n, async (k) => {
        for (let i = 0; i < k; i++) {
          const release = await plf.lock(plfPath, { realpath: false })
          await release()
        }
      }),
  }),
  map64: (n) =>
    timeNs(n, (k) => {
      const len = 64 << 20
      for (let i = 0; i < k; i++) {
        const mf = lfd.MemFile.create('bench', { sealable: true })
        mf.truncate(len)
        mf.addSeals({ shrink: true })
        const ab = mf.map({ writable: true })
        const u8 = new Uint8Array(ab)
        u8.fill(7)
        let sum = 0
        for (let j = 0; j < len; j += 4096) sum += u8[j]
        if (sum !== 7 * (len / 4096)) throw new Error('bad sum')
        mf.unmap(ab)
        mf.close()
      }
    }),
}

function tryLockN(n, kind) {
  const fd = fs.openSync(lockPath, 'r+')
  const ns = timeNs(n, (k) => {
    for (let i = 0; i < k; i++) lfd.tryLockFile(fd, { kind }).release()
  })
  fs.closeSync(fd)
  return ns
}

async function lockFileN(n, kind) {
  const fd = fs.openSync(lockPath, 'r+')
  const ns = await timeNsAsync(n, async (k) => {
    for (let i = 0; i < k; i++) (await lfd.lockFile(fd, { kind })).release()
  })
  fs.closeSync(fd)
  return ns
}

const LABELS = {
  eventfd_rw: 'eventfd write+read (one thread)',
  sem_rw: 'semaphore release+tryAcquire',
  counter_rw: 'EventCounter add+tryTake',
  counter_take_async: 'EventCounter add+await take()',
  sem_acquire_async: 'Semaphore release+await acquire()',
  eventfd_create: 'eventfd create+close',
  memfd_create: 'memfd_create+close',
  flock: 'flock LOCK_EX+LOCK_UN',
  ofd: 'OFD lock+unlock (fcntl)',
  timerfd: 'timerfd settime+gettime (ns)',
  timer_class: 'Timer setNs+getNs',
  trylock_ofd: 'tryLockFile(fd)+release (ofd)',
  lockfile_ofd_async: 'await lockFile(fd)+release (ofd)',
  trylock_flock: 'tryLockFile(fd)+release (flock)',
  lockfile_flock_async: 'await lockFile(fd)+release (flock)',
  fsext_flock: 'fs-ext flockSync ex+un',
  fsext_flock_async: 'fs-ext await flock ex+flockSync un',
  plf_sync: 'proper-lockfile lockSync+unlockSync',
  plf_async: 'proper-lockfile await lock+release',
  map64: '64 MiB memfd map+fill+read back',
}

// Rows whose C / CPython column is another op's (the same syscalls), not run again.
const SAME_AS = {
  timer_class: 'timerfd',
  counter_rw: 'eventfd_rw',
  counter_take_async: 'eventfd_rw',
  sem_acquire_async: 'sem_rw',
  trylock_ofd: 'ofd_dup',
  lockfile_ofd_async: 'ofd_dup',
  trylock_flock: 'flock_dup',
  lockfile_flock_async: 'flock_dup',
  fsext_flock: 'flock',
  fsext_flock_async: 'flock',
  plf_sync: 'flock',
  plf_async: 'flock',
}
// The sync form an async row is compared with.
const SYNC_FORM = {
  counter_take_async: 'counter_rw',
  sem_acquire_async: 'sem_rw',
  lockfile_ofd_async: 'trylock_ofd',
  lockfile_flock_async: 'trylock_flock',
  fsext_flock_async: 'fsext_flock',
  plf_async: 'plf_sync',
}
// Ops with a C (bench/ops.c) / CPython (bench/ops.py) implementation.
const C_OPS = ['eventfd_rw', 'sem_rw', 'eventfd_create', 'memfd_create', 'flock', 'ofd', 'timerfd', 'ofd_dup', 'flock_dup', 'map64']
// timerfd is added when CPython has it (3.13+); see pythonOk().
const PY_OPS = ['eventfd_rw', 'sem_rw', 'eventfd_create', 'memfd_create', 'flock', 'ofd']
// Iterations per round where N would take too long.
const nOf = (op) =>
  op === 'map64' ? MAP_N : op.startsWith('plf') ? N_PLF : /^(trylock_|lockfile_|fsext_flock_async)/.test(op) ? N / 4 : N

// Moving 64 MiB to a child: the child must see every byte and answer with a checksum.
async function moveToChild(rounds) {
  const len = 64 << 20
  const sum = (u8) => { let s = 0; for (let j = 0; j < u8.length; j += 4096) s += u8[j]; return s }
  const results = { memfile: [], send: [], devshm: [] }
  const mf = lfd.MemFile.create('move')
  mf.truncate(len)
  mf.addSeals({ shrink: true })
  const shared = new Uint8Array(mf.map({ writable: true }))
  const go = new lfd.EventCounter()
  const back = new lfd.EventCounter()
  const pkg = JSON.stringify(path.join(__dirname, '..'))
  const memChild = spawn(process.execPath, ['-e', `
    const lfd = require(${pkg}); const mf = lfd.MemFile.fromFd(3), go = lfd.EventCounter.fromFd(4), back = lfd.EventCounter.fromFd(5)
    const u8 = new Uint8Array(mf.map())
    ;(async () => { for (;;) { await go.take(); let s = 0; for (let j = 0; j < u8.length; j += 4096) s += u8[j]; back.add(s + 1) } })()`],
    { stdio: ['ignore', 'inherit', 'inherit', mf.fd, go.fd, back.fd] })
  const ipcChild = spawn(process.execPath, ['-e', `
    process.on('message', (m) => { const u8 = m instanceof Uint8Array ? m : Uint8Array.from(m); let s = 0; for (let j = 0; j < u8.length; j += 4096) s += u8[j]; process.send(s) })`],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' })
  const shmPath = fs.existsSync('/dev/shm') ? '/dev/shm/linux-fd-bench-' + process.pid : path.join(dir, 'shm')
  const shmChild = spawn(process.execPath, ['-e', `
    const fs = require('fs'); process.on('message', (p) => { const u8 = fs.readFileSync(p); let s = 0; for (let j = 0; j < u8.length; j += 4096) s += u8[j]; process.send(s) })`],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const reply = (c) => new Promise((r) => c.once('message', r))
  const data = Buffer.alloc(len, 3)
  for (let r = 0; r < rounds + 1; r++) {
    let t0 = performance.now()
    shared.fill(3)
    go.add(1)
    const got = await back.take()
    if (Number(got) - 1 !== sum(shared)) throw new Error('memfile checksum')
    if (r) results.memfile.push(performance.now() - t0)

    t0 = performance.now()
    ipcChild.send(data)
    if ((await reply(ipcChild)) !== sum(data)) throw new Error('send checksum')
    if (r) results.send.push(performance.now() - t0)

    t0 = performance.now()
    fs.writeFileSync(shmPath, data)
    shmChild.send(shmPath)
    if ((await reply(shmChild)) !== sum(data)) throw new Error('shm checksum')
    if (r) results.devshm.push(performance.now() - t0)
  }
  for (const c of [memChild, ipcChild, shmChild]) c.kill()
  fs.rmSync(shmPath, { force: true })
  mf.unmap(shared.buffer)
  for (const o of [mf, go, back]) o.close()
  return results
}

async function main() {
  const cBin = buildC('ops')
  const py = pythonOk()
  if (py && py.timerfd) PY_OPS.push('timerfd')
  fs.writeFileSync(lockPath, '')
  const samples = {}
  const cSamples = Object.fromEntries(C_OPS.map((op) => [op, []]))
  const pySamples = Object.fromEntries(PY_OPS.map((op) => [op, []]))
  for (const op of Object.keys(nodeOps)) samples[op] = []
  for (let r = 0; r < ROUNDS; r++) {
    for (const op of new Set([...Object.keys(nodeOps), ...C_OPS])) {
      const n = nOf(op)
      if (nodeOps[op]) samples[op].push(await nodeOps[op](n))
      if (cBin && C_OPS.includes(op)) cSamples[op].push(Number(execFileSync(cBin, [op, String(n), lockPath]).toString()))
      if (py && PY_OPS.includes(op)) {
        pySamples[op].push(Number(execFileSync(py.exe, [path.join(__dirname, 'ops.py'), op, String(n), lockPath]).toString()))
      }
    }
  }
  const move = await moveToChild(quick ? 2 : 5)
  fs.rmSync(dir, { recursive: true, force: true })
  const med = (xs) => (xs && xs.length ? median(xs) : null)
  const rows = Object.entries(samples).map(([op, s]) => {
    const node = median(s)
    const c = med(cSamples[SAME_AS[op] || op])
    const python = med(pySamples[SAME_AS[op] || op])
    const sync = SYNC_FORM[op] && samples[SYNC_FORM[op]] ? median(samples[SYNC_FORM[op]]) : null
    return {
      op,
      label: LABELS[op],
      nodeNs: node,
      nodeMinNs: Math.min(...s),
      nodeMaxNs: Math.max(...s),
      cNs: c,
      cOp: c ? SAME_AS[op] || op : null,
      pythonNs: python,
      vsC: c ? node / c : null,
      vsPython: python ? node / python : null,
      syncOp: sync ? SYNC_FORM[op] : null,
      vsSync: sync ? node / sync : null,
    }
  })
  const moveRows = Object.entries(move).map(([how, xs]) => ({ how, medianMs: median(xs), minMs: Math.min(...xs), maxMs: Math.max(...xs) }))
  const notes = []
  if (!fsext) notes.push('fs-ext rows skipped: not installed or did not build in bench/node_modules')
  if (!plf) notes.push('proper-lockfile rows skipped: not installed in bench/node_modules')
  if (!py) notes.push('CPython column skipped: no python3 with os.eventfd and os.memfd_create (3.10+)')
  else if (!py.timerfd) notes.push(`CPython timerfd skipped: os.timerfd_* needs Python 3.13 (found ${py.version})`)
  return { rounds: ROUNDS, rows, move: moveRows, python: py && py.version, c: !!cBin, notes }
}

function fmtNs(ns) {
  if (ns == null) return '-'
  return ns >= 1e6 ? `${(ns / 1e6).toFixed(1)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(2)} µs` : `${ns.toFixed(0)} ns`
}

function print(res) {
  console.log(`per-operation cost, median of ${res.rounds} interleaved rounds (ratio = Node row / other; C and CPython make the same syscalls;`)
  console.log(`  proper-lockfile's C column is flock(2), what it stands in for; vs sync = async form / its sync form)`)
  console.log(`  ${'operation'.padEnd(36)} ${'Node'.padStart(10)} ${'C'.padStart(10)} ${'CPython'.padStart(10)}    vs C  vs CPython  vs sync`)
  const x = (v) => (v ? `${v.toFixed(2)}x` : '-')
  for (const r of res.rows) {
    console.log(
      `  ${r.label.padEnd(36)} ${fmtNs(r.nodeNs).padStart(10)} ${fmtNs(r.cNs).padStart(10)} ${fmtNs(r.pythonNs).padStart(10)} ${x(r.vsC).padStart(7)} ${x(r.vsPython).padStart(11)} ${x(r.vsSync).padStart(8)}`,
    )
  }
  for (const n of res.notes) console.log(`  note: ${n}`)
  const memfile = res.move.find((m) => m.how === 'memfile').medianMs
  console.log('moving 64 MiB to a child (child checks every page), median:')
  for (const m of res.move) console.log(`  ${m.how.padEnd(10)} ${m.medianMs.toFixed(2).padStart(8)} ms  (${m.minMs.toFixed(1)}-${m.maxMs.toFixed(1)})  MemFile is ${(m.medianMs / memfile).toFixed(1)}x faster`)
}

module.exports = { main, print }
runAsScript(module, main, print)
