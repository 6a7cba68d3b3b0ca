'use strict'
// Per-operation costs of linux-fd's sync API against raw syscalls in C (the
// physical limit, compiled here with the machine's cc) and CPython's os/fcntl,
// plus moving 64 MiB to a child process. Everything runs in one session,
// rounds interleaved, so the ratios are fair on a noisy machine.
//
// Usage: node bench/ops.js [--quick] [--json]
const { execFileSync, spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const lfd = require('..')

const quick = process.argv.includes('--quick')
const ROUNDS = quick ? 3 : 7
const N = quick ? 20_000 : 200_000
const MAP_N = quick ? 2 : 5
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'linux-fd-bench-'))
const lockPath = path.join(dir, 'lock')
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

function buildC() {
  const out = path.join(__dirname, 'build', 'ops')
  fs.mkdirSync(path.dirname(out), { recursive: true })
  try {
    execFileSync('cc', ['-O2', '-o', out, path.join(__dirname, 'ops.c')], { stdio: 'pipe' })
    return out
  } catch (e) {
    console.error(`C baseline skipped: cc failed (${e.message.split('\n')[0]})`)
    return null
  }
}

function pythonOk() {
  const r = spawnSync('python3', ['-c', 'import os,sys; os.eventfd; os.memfd_create; print(sys.version.split()[0])'], { encoding: 'utf8' })
  return r.status === 0 ? r.stdout.trim() : null
}

function timeNs(n, fn) {
  const t0 = process.hrtime.bigint()
  fn(n)
  return Number(process.hrtime.bigint() - t0) / n
}

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

const LABELS = {
  eventfd_rw: 'eventfd write+read (one thread)',
  sem_rw: 'semaphore release+tryAcquire',
  eventfd_create: 'eventfd create+close',
  memfd_create: 'memfd_create+close',
  flock: 'flock LOCK_EX+LOCK_UN',
  ofd: 'OFD lock+unlock (fcntl)',
  map64: '64 MiB memfd map+fill+read back',
}

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
  const cBin = buildC()
  const py = pythonOk()
  fs.writeFileSync(lockPath, '')
  const samples = {}
  for (const op of Object.keys(nodeOps)) samples[op] = { node: [], c: [], python: [] }
  for (let r = 0; r < ROUNDS; r++) {
    for (const op of Object.keys(nodeOps)) {
      const n = op === 'map64' ? MAP_N : N
      samples[op].node.push(nodeOps[op](n))
      if (cBin) samples[op].c.push(Number(execFileSync(cBin, [op, String(n), lockPath]).toString()))
      if (py && !['ofd', 'map64'].includes(op)) {
        samples[op].python.push(Number(execFileSync('python3', [path.join(__dirname, 'ops.py'), op, String(n), lockPath]).toString()))
      }
    }
  }
  const move = await moveToChild(quick ? 2 : 5)
  fs.rmSync(dir, { recursive: true, force: true })
  const rows = Object.entries(samples).map(([op, s]) => {
    const node = median(s.node)
    const c = s.c.length ? median(s.c) : null
    const python = s.python.length ? median(s.python) : null
    return {
      op,
      label: LABELS[op],
      nodeNs: node,
      nodeMinNs: Math.min(...s.node),
      nodeMaxNs: Math.max(...s.node),
      cNs: c,
      pythonNs: python,
      vsC: c ? node / c : null,
      vsPython: python ? node / python : null,
    }
  })
  const moveRows = Object.entries(move).map(([how, xs]) => ({ how, medianMs: median(xs), minMs: Math.min(...xs), maxMs: Math.max(...xs) }))
  return { rows, move: moveRows, python: py, c: !!cBin }
}

function fmtNs(ns) {
  if (ns == null) return '-'
  return ns >= 1e6 ? `${(ns / 1e6).toFixed(1)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(2)} µs` : `${ns.toFixed(0)} ns`
}

function print(res) {
  console.log(`per-operation cost, median of ${ROUNDS} interleaved rounds (ratio = linux-fd / other)`)
  console.log(`  ${'operation'.padEnd(34)} ${'linux-fd'.padStart(10)} ${'C'.padStart(10)} ${'CPython'.padStart(10)}   vs C   vs CPython`)
  for (const r of res.rows) {
    console.log(
      `  ${r.label.padEnd(34)} ${fmtNs(r.nodeNs).padStart(10)} ${fmtNs(r.cNs).padStart(10)} ${fmtNs(r.pythonNs).padStart(10)}  ${r.vsC ? r.vsC.toFixed(2) + 'x' : '  -  '}   ${r.vsPython ? r.vsPython.toFixed(2) + 'x' : '-'}`,
    )
  }
  const memfile = res.move.find((m) => m.how === 'memfile').medianMs
  console.log('moving 64 MiB to a child (child checks every page), median:')
  for (const m of res.move) console.log(`  ${m.how.padEnd(10)} ${m.medianMs.toFixed(2).padStart(8)} ms  (${m.minMs.toFixed(1)}-${m.maxMs.toFixed(1)})  MemFile is ${(m.medianMs / memfile).toFixed(1)}x faster`)
}

module.exports = { main, print }
if (require.main === module) {
  main().then((res) => {
    if (process.argv.includes('--json')) console.log(JSON.stringify(res))
    else print(res)
    process.exit(0)
  })
}
