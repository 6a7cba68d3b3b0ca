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
// The "floor" column: the same syscalls through bench/floor.c, a minimal
// Node-API addon with no checks that the bench compiles against this Node's
// headers (see floor.js); a row's "vs floor" is what linux-fd's layers add
// to the least a Node-API function can cost. Issue 11's goal: every sync row
// within 1.10x of the floor.
//
// With --compare <dir> (or LINUX_FD_BENCH_COMPARE=<dir>), the rows also run
// against the linux-fd package built in <dir>, e.g. a worktree of an older
// commit, in the same rounds: "vs old" is new / old. Rows whose exports a
// build lacks are skipped for that build, with a note saying which.
//
// Load order: the package loaded first into a process measured 1–9 % slower
// here than the same code loaded after another copy (docs/bench-floor.md,
// stop 42), which biases "vs floor" and "vs old" against this checkout, the
// first one loaded. LINUX_FD_BENCH_LOAD=last loads the floor addon and the
// --compare build first and this checkout last; run both orders and quote
// both (or their geometric mean).
//
// Usage: node bench/ops.js [--quick] [--json] [--compare <dir>]
const { execFileSync, spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const LOAD_LAST = process.env.LINUX_FD_BENCH_LOAD === 'last'
let lfd = LOAD_LAST ? null : require('..')
const { loadFloor, floorOps, floorObjOps, floorSameOps, FLOOR_SAME_AS } = require('./floor.js')
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

/** Two turns of the event loop (setImmediate), so that deferred work runs. */
async function settle() {
  for (let i = 0; i < 2; i++) await new Promise((resolve) => setImmediate(resolve))
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

// Rows of other packages, run once (they do not depend on the linux-fd build).
const otherOps = {
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
}

// The packages under test: this checkout (`..`) and, with --compare <dir> or
// LINUX_FD_BENCH_COMPARE=<dir>, another build of linux-fd (e.g. a worktree
// of an older commit, built there), measured in the same rounds.
const ctx = { lockPath, timeNs, timeNsAsync }
function rowsFor(pkg) {
  const file = require.resolve('./rows.js')
  delete require.cache[file] // a fresh copy: see rows.js
  return require(file)(pkg, ctx)
}
function compareDir() {
  const i = process.argv.indexOf('--compare')
  const dirArg = i >= 0 ? process.argv[i + 1] : process.env.LINUX_FD_BENCH_COMPARE
  return dirArg ? path.resolve(dirArg) : null
}
// Which build a directory holds, without its path: package version and git commit.
function describe(pkgDir) {
  let version = '?'
  let commit = null
  try {
    version = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).version
  } catch {}
  const r = spawnSync('git', ['-C', pkgDir, 'log', '-1', '--format=%h %s'], { encoding: 'utf8' })
  if (r.status === 0) commit = r.stdout.trim()
  const dirty = spawnSync('git', ['-C', pkgDir, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' })
  return { version, commit, dirty: dirty.status === 0 ? dirty.stdout.trim() !== '' : null }
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
  memfile_rw: 'MemFile write+readInto (64 B)',
  // Compared with the same-syscalls floor only (its fstat before each call);
  // no C or CPython column: theirs make no fstat (s52-diff2 L4).
  memfile_rw_shared: 'the same, fd read (fstat each)',
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
const C_OPS = ['eventfd_rw', 'sem_rw', 'eventfd_create', 'memfd_create', 'flock', 'ofd', 'timerfd', 'ofd_dup', 'flock_dup', 'memfile_rw', 'map64']
// timerfd is added when CPython has it (3.13+); see pythonOk().
const PY_OPS = ['eventfd_rw', 'sem_rw', 'eventfd_create', 'memfd_create', 'flock', 'ofd', 'memfile_rw']
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

// Sync rows of linux-fd: the ones the floor goal (within 1.10x) applies to.
const SYNC_ROWS = ['eventfd_rw', 'sem_rw', 'counter_rw', 'eventfd_create', 'memfd_create', 'flock', 'ofd', 'timerfd', 'timer_class', 'trylock_ofd', 'trylock_flock', 'memfile_rw', 'map64']

async function main() {
  const cBin = buildC('ops')
  const py = pythonOk()
  if (py && py.timerfd) PY_OPS.push('timerfd')
  fs.writeFileSync(lockPath, '')
  const notes = []
  const { floor, reason: floorReason } = loadFloor()
  if (!floor) notes.push(`Node-API floor column skipped: ${floorReason}`)
  const fOps = floor ? floorOps(floor, ctx) : {}
  const fObjOps = floor ? floorObjOps(floor, ctx) : {}
  const fSameOps = floor ? floorSameOps(floor, ctx) : {}
  const oldDir = compareDir()
  let compare = null
  let oldPkg = null
  if (oldDir) {
    try {
      oldPkg = require(oldDir)
    } catch (e) {
      notes.push(`--compare: could not load the package there (${e.message.split('\n')[0]}); old column skipped`)
    }
  }
  if (LOAD_LAST) {
    lfd = require('..')
    notes.push('load order: this checkout loaded last (LINUX_FD_BENCH_LOAD=last), after the floor addon and the --compare build')
  }
  // The builds under test; `rows` first so its ops define the row order.
  const builds = [{ key: 'node', name: 'linux-fd', ...rowsFor(lfd) }]
  if (oldPkg) {
    compare = describe(oldDir)
    builds.push({ key: 'old', name: 'old', ...rowsFor(oldPkg) })
  }
  const linuxFdOps = Object.keys(builds[0].ops)
  // What each build lacks, said once.
  for (const b of builds) {
    for (const op of linuxFdOps) {
      const m = b.missing(op)
      if (m.length) notes.push(`${LABELS[op]}: not run on ${b.name === 'old' ? 'the old build' : 'this build'}: it does not export ${m.join(', ')}`)
    }
  }
  const canRun = (b, op) => b.ops[op] && !b.missing(op).length
  const samples = Object.fromEntries(builds.map((b) => [b.key, {}]))
  const floorSamples = {}
  const floorObjSamples = {}
  const floorSameSamples = {}
  const cSamples = Object.fromEntries(C_OPS.map((op) => [op, []]))
  const pySamples = Object.fromEntries(PY_OPS.map((op) => [op, []]))
  const nopSamples = []
  const push = (obj, op, v) => (obj[op] || (obj[op] = [])).push(v)
  for (let r = 0; r < ROUNDS; r++) {
    if (floor) nopSamples.push(fOps.nop(N))
    for (const op of new Set([...linuxFdOps, ...Object.keys(otherOps), ...C_OPS])) {
      const n = nOf(op)
      // The JS variants of one row back to back, their order rotated each
      // round so that none always runs first (or right after C).
      const runs = []
      for (const b of builds) if (canRun(b, op)) runs.push(async () => push(samples[b.key], op, await b.ops[op](n)))
      if (otherOps[op]) runs.push(async () => push(samples.node, op, await otherOps[op](n)))
      if (fOps[op] && op !== 'nop') runs.push(async () => push(floorSamples, op, fOps[op](n)))
      if (fObjOps[op]) runs.push(async () => push(floorObjSamples, op, fObjOps[op](n)))
      if (fSameOps[op]) runs.push(async () => push(floorSameSamples, op, fSameOps[op](n)))
      // Each run starts on a settled loop: two turns (untimed) run the
      // Node-API finalizers and other deferred work the runs before it
      // left. Without them, that work landed in the next run that turned the
      // loop, another build's: the fairness cut of `await lockFile` (which
      // turns the loop every 10 ms since stop 46) read 2.6x slower than the
      // old build, paying the old build's finalizers (docs/bench-floor.md).
      for (let i = 0; i < runs.length; i++) {
        await settle()
        await runs[(i + r) % runs.length]()
      }
      if (cBin && C_OPS.includes(op)) cSamples[op].push(Number(execFileSync(cBin, [op, String(n), lockPath]).toString()))
      if (py && PY_OPS.includes(op)) {
        pySamples[op].push(Number(execFileSync(py.exe, [path.join(__dirname, 'ops.py'), op, String(n), lockPath]).toString()))
      }
    }
  }
  const move = lfd.MemFile && lfd.EventCounter ? await moveToChild(quick ? 2 : 5) : null
  if (!move) notes.push('moving 64 MiB to a child: skipped, this build does not export MemFile')
  fs.rmSync(dir, { recursive: true, force: true })
  const med = (xs) => (xs && xs.length ? median(xs) : null)
  // A ratio is the median of the per-round ratios of two variants that ran
  // back to back in the same round (paired), which cancels most of what a
  // busy machine does to one round; unpaired medians if the counts differ.
  const ratio = (a, b) => {
    if (!a || !b || !a.length || !b.length) return null
    if (a.length !== b.length) return median(a) / median(b)
    return median(a.map((x, i) => x / b[i]))
  }
  // The lowest and highest per-round ratio: how far one round can move it.
  const range = (a, b) => {
    if (!a || !b || !a.length || a.length !== b.length) return null
    const rs = a.map((x, i) => x / b[i])
    return [Math.min(...rs), Math.max(...rs)]
  }
  const ops = [...linuxFdOps, ...Object.keys(otherOps)]
  const rows = ops.map((op) => {
    const s = samples.node[op]
    const cS = cSamples[SAME_AS[op] || op]
    const pyS = pySamples[SAME_AS[op] || op]
    const flS = otherOps[op] ? null : floorSamples[FLOOR_SAME_AS[op] || op]
    const flObjS = floorObjSamples[op]
    const flSameS = floorSameSamples[op]
    const oldS = samples.old ? samples.old[op] : null
    const syncOp = SYNC_FORM[op]
    const syncS = syncOp ? samples.node[syncOp] : null
    const node = med(s)
    const [c, python, fl, old, sync] = [cS, pyS, flS, oldS, syncS].map(med)
    return {
      op,
      label: LABELS[op],
      sync: SYNC_ROWS.includes(op),
      nodeNs: node,
      nodeMinNs: s ? Math.min(...s) : null,
      nodeMaxNs: s ? Math.max(...s) : null,
      oldNs: old,
      floorNs: fl,
      oldMinNs: oldS && oldS.length ? Math.min(...oldS) : null,
      floorOp: fl ? FLOOR_SAME_AS[op] || op : null,
      floorMinNs: flS && flS.length ? Math.min(...flS) : null,
      floorObjNs: med(flObjS),
      vsFloorObj: ratio(s, flObjS),
      vsFloorObjRange: range(s, flObjS),
      oldVsFloorObj: ratio(oldS, flObjS),
      floorSameNs: med(flSameS),
      vsFloorSame: ratio(s, flSameS),
      vsFloorSameRange: range(s, flSameS),
      oldVsFloorSame: ratio(oldS, flSameS),
      cNs: c,
      cOp: c ? SAME_AS[op] || op : null,
      pythonNs: python,
      vsFloor: ratio(s, flS),
      vsFloorRange: range(s, flS),
      vsOld: ratio(s, oldS),
      vsOldRange: range(s, oldS),
      oldVsFloor: ratio(oldS, flS),
      floorVsPython: ratio(flS, pyS),
      floorVsPythonRange: range(flS, pyS),
      vsC: ratio(s, cS),
      vsPython: ratio(s, pyS),
      syncOp: sync ? syncOp : null,
      vsSync: ratio(s, syncS),
    }
  })
  const moveRows = move ? Object.entries(move).map(([how, xs]) => ({ how, medianMs: median(xs), minMs: Math.min(...xs), maxMs: Math.max(...xs) })) : []
  if (!fsext) notes.push('fs-ext rows skipped: not installed or did not build in bench/node_modules')
  if (!plf) notes.push('proper-lockfile rows skipped: not installed in bench/node_modules')
  if (!py) notes.push('CPython column skipped: no python3 with os.eventfd and os.memfd_create (3.10+)')
  else if (!py.timerfd) notes.push(`CPython timerfd skipped: os.timerfd_* needs Python 3.13 (found ${py.version})`)
  if (floor) notes.push('no floor for the async rows, the other packages and the 64 MiB map (page faults, see vs C)')
  return {
    rounds: ROUNDS,
    rows,
    move: moveRows,
    python: py && py.version,
    c: !!cBin,
    floor: !!floor,
    floorNopNs: floor ? median(nopSamples) : null,
    compare,
    notes,
  }
}

function fmtNs(ns) {
  if (ns == null) return '-'
  return ns >= 1e6 ? `${(ns / 1e6).toFixed(1)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(2)} µs` : `${ns.toFixed(0)} ns`
}

// The floor goal of issue 11: every sync row within 1.10x of the floor, none slower than the old build.
const FLOOR_GOAL = 1.1

function print(res) {
  const old = !!res.compare
  console.log(`per-operation cost, median of ${res.rounds} interleaved rounds. C and CPython make the same syscalls; floor = the`)
  console.log(`  same syscalls through a minimal Node-API addon (bench/floor.c: no checks, no classes)${res.floorNopNs ? `, where an empty call costs ${fmtNs(res.floorNopNs)}` : ''};`)
  if (old) console.log(`  old = the build compared with (${res.compare.commit || `version ${res.compare.version}`}${res.compare.dirty ? ', with local changes' : ''}), in the same rounds;`)
  console.log(`  ratios (median of the per-round ratios): Node / floor${old ? ', Node / old' : ''}, Node / C, Node / CPython;`)
  console.log(`  vs sync = async form / its sync form.`)
  console.log(`  proper-lockfile's C column is flock(2), what it stands in for.`)
  const cols = [
    ['Node', (r) => fmtNs(r.nodeNs), 10],
    ...(old ? [['old', (r) => fmtNs(r.oldNs), 10]] : []),
    ['floor', (r) => fmtNs(r.floorNs), 10],
    ['C', (r) => fmtNs(r.cNs), 10],
    ['CPython', (r) => fmtNs(r.pythonNs), 10],
    ['vs floor', (r) => x(r.vsFloor), 9],
    ...(old ? [['vs old', (r) => x(r.vsOld), 7]] : []),
    ['vs C', (r) => x(r.vsC), 7],
    ['vs CPy', (r) => x(r.vsPython), 7],
    ['vs sync', (r) => x(r.vsSync), 8],
  ]
  const x = (v) => (v ? `${v.toFixed(2)}x` : '-')
  const xr = (v, rg) => `${x(v)}${rg ? ` (${rg[0].toFixed(2)}-${rg[1].toFixed(2)})` : ''}`
  console.log(`  ${'operation'.padEnd(36)}${cols.map(([h, , w]) => ` ${h.padStart(w)}`).join('')}`)
  for (const r of res.rows) console.log(`  ${r.label.padEnd(36)}${cols.map(([, f, w]) => ` ${f(r).padStart(w)}`).join('')}`)
  const sync = res.rows.filter((r) => r.sync && r.vsFloor)
  if (sync.length) {
    const over = sync.filter((r) => r.vsFloor > FLOOR_GOAL)
    console.log(`  within ${FLOOR_GOAL.toFixed(2)}x of the floor: ${sync.length - over.length} of ${sync.length} sync rows${over.length ? `; over (per-round range):` : ''}`)
    for (const r of over) console.log(`    ${r.label} ${xr(r.vsFloor, r.vsFloorRange)}`)
  }
  if (old) {
    const slower = res.rows.filter((r) => r.vsOld && r.vsOld > 1)
    console.log(`  slower than the old build: ${slower.length ? '(per-round range)' : 'none'}`)
    for (const r of slower) console.log(`    ${r.label} ${xr(r.vsOld, r.vsOldRange)}`)
  }
  const objRows = res.rows.filter((r) => r.floorObjNs)
  if (objRows.length) {
    console.log('  rows returning an object that owns its fd, against a floor that also returns one (an External whose')
    console.log('  finalizer closes the fd; bench/floor.c) (per-round range):')
    for (const r of objRows) {
      console.log(`    ${r.label.padEnd(34)} floor+External ${fmtNs(r.floorObjNs).padStart(9)}  Node ${xr(r.vsFloorObj, r.vsFloorObjRange)}${old ? `, old ${x(r.oldVsFloorObj)}` : ''}`)
    }
    const sameRows = res.rows.filter((r) => r.floorSameNs)
    if (sameRows.length) {
      console.log('  the same, against the floor that also makes the identity fstat before each close or unlock, as linux-fd')
      console.log(`  does (the same syscalls; bench/floor.c) (per-round range; goal ${FLOOR_GOAL.toFixed(2)}x):`)
      for (const r of sameRows) {
        console.log(`    ${r.label.padEnd(34)} same syscalls ${fmtNs(r.floorSameNs).padStart(9)}  Node ${xr(r.vsFloorSame, r.vsFloorSameRange)}${old ? `, old ${x(r.oldVsFloorSame)}` : ''}`)
      }
    }
  }
  // Each floor once (counter_rw shares eventfd_rw's).
  const floorSlow = res.rows.filter((r) => r.floorOp === r.op && r.floorVsPython && r.floorVsPython > 1)
  if (floorSlow.length) {
    console.log('  even the floor is slower than CPython (per-round range):')
    for (const r of floorSlow) console.log(`    ${r.label} ${xr(r.floorVsPython, r.floorVsPythonRange)}`)
  }
  for (const n of res.notes) console.log(`  note: ${n}`)
  if (!res.move.length) return
  const memfile = res.move.find((m) => m.how === 'memfile').medianMs
  console.log('moving 64 MiB to a child (child checks every page), median:')
  for (const m of res.move) console.log(`  ${m.how.padEnd(10)} ${m.medianMs.toFixed(2).padStart(8)} ms  (${m.minMs.toFixed(1)}-${m.maxMs.toFixed(1)})  MemFile is ${(m.medianMs / memfile).toFixed(1)}x faster`)
}

module.exports = { main, print }
runAsScript(module, main, print)
