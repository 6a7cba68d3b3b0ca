'use strict'
// User-space instructions per operation, counted by valgrind's callgrind:
// unlike times, the same whatever else the machine is doing. Per operation =
// (instructions of a run of N + D iterations - a run of N) / D, so startup,
// loading and most JIT work cancel out. The kernel's work is not counted,
// so this is what the layers above the syscall cost, not the syscall.
//
// Variants: this build (`..`), the Node-API floor (bench/floor.c), and with
// --compare <dir> another build, running the same rows as bench/ops.js.
//
// Usage: node bench/instructions.js [--compare <dir>] [--json] [op ...]
//   ops default to eventfd_rw sem_rw counter_rw eventfd_create
// Needs valgrind; prints a note and exits 0 without it.
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const N = 50_000
const D = 100_000

// The child: one variant, one op, n iterations (after one warm-up call of the same op).
if (process.argv[2] === '--child') {
  const [, , , variant, op, n, lockPath] = process.argv
  const timeNs = (k, fn) => fn(k)
  const ctx = { lockPath, timeNs, timeNsAsync: async (k, fn) => fn(k) }
  let ops
  if (variant === 'floor') {
    const { loadFloor, floorOps, FLOOR_SAME_AS } = require('./floor.js')
    const all = floorOps(loadFloor().floor, ctx)
    ops = { ...all, ...Object.fromEntries(Object.entries(FLOOR_SAME_AS).map(([a, b]) => [a, all[b]])) }
  } else {
    ops = require('./rows.js')(require(variant), ctx).ops
  }
  Promise.resolve(ops[op](Number(n))).then(() => process.exit(0))
  return
}

function argValue(name) {
  const i = process.argv.indexOf(name)
  return i >= 0 ? process.argv[i + 1] : undefined
}

function count(variant, op, n, lockPath) {
  const r = spawnSync(
    'valgrind',
    ['--tool=callgrind', '--callgrind-out-file=/dev/null', '--smc-check=all-non-file', process.execPath, __filename, '--child', variant, op, String(n), lockPath],
    { encoding: 'utf8', maxBuffer: 64 << 20 },
  )
  const m = /Collected : (\d+)/.exec(r.stderr || '')
  if (!m) throw new Error(`callgrind gave no count for ${op} (${variant}): ${(r.stderr || String(r.error)).trim().split('\n').slice(-3).join(' / ')}`)
  return Number(m[1])
}

function main() {
  if (spawnSync('valgrind', ['--version']).status !== 0) {
    console.log('valgrind is not installed; skipping the instruction counts')
    return null
  }
  const skip = new Set(['--compare', argValue('--compare'), '--json'])
  const ops = process.argv.slice(2).filter((a) => !skip.has(a))
  if (!ops.length) ops.push('eventfd_rw', 'sem_rw', 'counter_rw', 'eventfd_create')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'linux-fd-instr-'))
  const lockPath = path.join(dir, 'lock')
  fs.writeFileSync(lockPath, '')
  require('./floor.js').loadFloor() // build it once, outside valgrind
  const variants = [['linux-fd', path.join(__dirname, '..')], ['floor', 'floor']]
  const cmp = argValue('--compare') || process.env.LINUX_FD_BENCH_COMPARE
  if (cmp) variants.splice(1, 0, ['old', path.resolve(cmp)])
  const rows = []
  for (const op of ops) {
    const row = { op }
    for (const [name, variant] of variants) {
      try {
        row[name] = (count(variant, op, N + D, lockPath) - count(variant, op, N, lockPath)) / D
      } catch (e) {
        row[name] = null
        row[`${name}Error`] = e.message
      }
    }
    rows.push(row)
    if (!process.argv.includes('--json')) print([row], rows.length === 1, !!cmp)
  }
  fs.rmSync(dir, { recursive: true, force: true })
  if (process.argv.includes('--json')) console.log(JSON.stringify({ n: N, d: D, rows }))
  return rows
}

function print(rows, header, old) {
  const f = (v) => (v == null ? '-' : v.toFixed(0))
  const x = (a, b) => (a && b ? `${(a / b).toFixed(2)}x` : '-')
  if (header) {
    console.log(`user-space instructions per operation (callgrind, (run of ${N + D} - run of ${N}) / ${D}; no kernel work)`)
    console.log(`  ${'op'.padEnd(16)} ${'linux-fd'.padStart(9)} ${old ? `${'old'.padStart(9)} ` : ''}${'floor'.padStart(9)}  vs floor${old ? '  vs old' : ''}`)
  }
  for (const r of rows) {
    console.log(`  ${r.op.padEnd(16)} ${f(r['linux-fd']).padStart(9)} ${old ? `${f(r.old).padStart(9)} ` : ''}${f(r.floor).padStart(9)} ${x(r['linux-fd'], r.floor).padStart(9)}${old ? ` ${x(r['linux-fd'], r.old).padStart(7)}` : ''}`)
    for (const k of Object.keys(r)) if (k.endsWith('Error')) console.log(`    ${k}: ${r[k]}`)
  }
}

main()
