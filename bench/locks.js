'use strict'
// Contended exclusive locks between two processes: each acquire waits for the
// other process to release. Two processes run bench/lock-side.js (or the C
// bench/locks.c) over three lock files so that they strictly alternate: 2n
// acquires, each a hand-off from one process to the other (see lock-side.js).
// Time per acquire = (last acquire done - later of the two starts) / 2n, both
// sides reading CLOCK_MONOTONIC. The pairs of processes stay up for all
// rounds, and rounds are interleaved across variants.
//
// Variants: linux-fd `await lockFile()` by path and by an fd opened once, as
// fs-ext's row is (kind 'ofd' and 'flock'), linux-fd's
// blocking `flock()` (sync, for reference), proper-lockfile and fs-ext's
// async flock (from bench/node_modules, skipped if not installed), and C
// blocking flock(2) and F_OFD_SETLKW (the physical limit).
//
// Usage: node bench/locks.js [--quick] [--json]
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { median, buildC, runAsScript } = require('./common.js')

const quick = process.argv.includes('--quick')
const ROUNDS = quick ? 3 : 7
// Steps per side and round, multiples of 3. Waiters that poll
// (proper-lockfile) take ~1 ms per hand-off; blocking ones (lockFile, whose
// pool thread blocks in the kernel, fs-ext, C) 3-60 µs.
const N_POLL = quick ? 45 : 150
const N_BLOCK = quick ? 999 : 4998

function has(name) {
  try {
    require(require.resolve(name, { paths: [__dirname] }))
    return true
  } catch {
    return false
  }
}


// name -> { label, cmd(role, n, dir) -> [file, args], n, c (C variant to compare with) }
function variants(notes) {
  const node = (v) => (role, n, dir) => [process.execPath, [path.join(__dirname, 'lock-side.js'), v, role, String(n), dir]]
  const v = {
    'lockfile-ofd': { label: "linux-fd await lockFile() (ofd)", cmd: node('lockfile-ofd'), n: N_BLOCK, c: 'c-ofd' },
    'lockfile-flock': { label: "linux-fd await lockFile({kind:'flock'})", cmd: node('lockfile-flock'), n: N_BLOCK, c: 'c-flock' },
    'lockfile-fd-ofd': { label: 'linux-fd await lockFile(fd) (ofd)', cmd: node('lockfile-fd-ofd'), n: N_BLOCK, c: 'c-ofd' },
    'lockfile-fd-flock': { label: 'linux-fd await lockFile(fd) (flock)', cmd: node('lockfile-fd-flock'), n: N_BLOCK, c: 'c-flock' },
    'flock-sync': { label: 'linux-fd flock() sync (blocks thread)', cmd: node('flock-sync'), n: N_BLOCK, c: 'c-flock' },
  }
  if (has('proper-lockfile')) v['proper-lockfile'] = { label: 'proper-lockfile (polls every 1 ms)', cmd: node('proper-lockfile'), n: N_POLL, c: 'c-flock' }
  else notes.push('proper-lockfile row skipped: not installed in bench/node_modules')
  if (has('fs-ext')) v['fs-ext'] = { label: 'fs-ext async flock (threadpool)', cmd: node('fs-ext'), n: N_BLOCK, c: 'c-flock' }
  else notes.push('fs-ext row skipped: not installed or did not build in bench/node_modules')
  const cBin = buildC('locks')
  if (cBin) {
    v['c-flock'] = { label: 'C flock(2), blocking', cmd: (role, n, dir) => [cBin, ['flock', role, String(n), dir]], n: N_BLOCK }
    v['c-ofd'] = { label: 'C F_OFD_SETLKW, blocking', cmd: (role, n, dir) => [cBin, ['ofd', role, String(n), dir]], n: N_BLOCK }
  } else notes.push('C rows skipped: cc failed on bench/locks.c')
  return v
}

// Spawns both sides (they stay up across rounds) and waits until both hold their first locks.
async function startPair(name, variant, root) {
  const dir = fs.mkdtempSync(path.join(root, 'v-'))
  for (let i = 0; i < 3; i++) fs.writeFileSync(path.join(dir, `l${i}`), '')
  const procs = ['a', 'b'].map((role) => {
    const [file, args] = variant.cmd(role, variant.n, dir)
    const p = spawn(file, args, { stdio: ['pipe', 'pipe', 'inherit'] })
    p.lines = []
    p.waiting = null
    let buf = ''
    p.stdout.setEncoding('utf8')
    p.stdout.on('data', (d) => {
      buf += d
      let i
      while ((i = buf.indexOf('\n')) >= 0) {
        p.lines.push(buf.slice(0, i))
        buf = buf.slice(i + 1)
      }
      if (p.waiting && p.lines.length) p.waiting()
    })
    p.on('exit', (code) => {
      if (code && !p.closing) {
        console.error(`${variant.label}: side ${role} exited with ${code}`)
        process.exit(1)
      }
    })
    p.line = () => (p.lines.length ? Promise.resolve(p.lines.shift()) : new Promise((resolve) => { p.waiting = () => { p.waiting = null; resolve(p.lines.shift()) } }))
    return p
  })
  for (const p of procs) if ((await p.line()) !== 'r') throw new Error(`${name}: bad start`)
  return {
    // One round: ns per acquire.
    async round() {
      for (const p of procs) p.stdin.write('g\n')
      const [[a0, a1], [b0, b1]] = (await Promise.all(procs.map((p) => p.line()))).map((l) => l.split(' ').map(BigInt))
      const start = a0 > b0 ? a0 : b0
      const end = a1 > b1 ? a1 : b1
      return Number(end - start) / (2 * variant.n)
    },
    async close() {
      await Promise.all(procs.map((p) => new Promise((resolve) => { p.closing = true; p.on('exit', resolve); p.stdin.end() })))
      fs.rmSync(dir, { recursive: true, force: true })
    },
  }
}

async function main() {
  const notes = []
  const vs = variants(notes)
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'linux-fd-locks-'))
  const samples = Object.fromEntries(Object.keys(vs).map((k) => [k, []]))
  try {
    const pairs = {}
    for (const [name, v] of Object.entries(vs)) {
      pairs[name] = await startPair(name, v, root)
      await pairs[name].round() // warm-up, not counted
    }
    for (let r = 0; r < ROUNDS; r++) for (const name of Object.keys(vs)) samples[name].push(await pairs[name].round())
    for (const p of Object.values(pairs)) await p.close()
  } finally {
    fs.rmSync(root, { recursive: true, force: true })
  }
  const med = Object.fromEntries(Object.entries(samples).map(([k, xs]) => [k, median(xs)]))
  const rows = Object.entries(vs).map(([name, v]) => ({
    name,
    label: v.label,
    acquiresPerRound: 2 * v.n,
    medianUs: +(med[name] / 1e3).toFixed(2),
    minUs: +(Math.min(...samples[name]) / 1e3).toFixed(2),
    maxUs: +(Math.max(...samples[name]) / 1e3).toFixed(2),
    vsC: v.c && med[v.c] ? +(med[name] / med[v.c]).toPrecision(3) : null,
    vsLockFile: +(med[name] / med['lockfile-ofd']).toPrecision(3),
    // Issue 13's bar: a lockFile() hand-off no slower than fs-ext's.
    vsFsExt: med['fs-ext'] ? +(med[name] / med['fs-ext']).toPrecision(3) : null,
  }))
  return { rounds: ROUNDS, rows, notes }
}

function print(res) {
  console.log(`contended exclusive lock, 2 processes strictly alternating, per acquire (median of ${res.rounds} rounds, min-max)`)
  console.log(`  ${'variant'.padEnd(40)} ${'per acquire'.padStart(11)}  ${'(min-max)'.padEnd(21)}    vs C  vs lockFile  vs fs-ext`)
  const us = (x) => (x >= 1000 ? `${(x / 1000).toFixed(2)} ms` : `${x.toFixed(1)} µs`)
  const ratio = (x) => (x == null ? '-' : `${x >= 10 ? x.toFixed(0) : x >= 0.1 ? x.toFixed(2) : x.toPrecision(2)}x`)
  for (const r of res.rows) {
    console.log(
      `  ${r.label.padEnd(40)} ${us(r.medianUs).padStart(11)}  ${`(${us(r.minUs)}-${us(r.maxUs)})`.padEnd(21)} ${ratio(r.vsC).padStart(7)}  ${ratio(r.vsLockFile).padStart(11)} ${ratio(r.vsFsExt).padStart(10)}`,
    )
  }
  for (const n of res.notes) console.log(`  note: ${n}`)
}

module.exports = { main, print }
runAsScript(module, main, print)
