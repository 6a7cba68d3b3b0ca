'use strict'
// npm run bench [-- --quick] [--compare <dir>]: runs bench/ops.js here and bench/roundtrip.js,
// threads.js, locks.js, timer.js and channel.js each in a fresh Node process, prints
// their tables, and writes bench/results/<date>.json, latest.json and a bar
// chart of the ratios (bench/results/latest.svg, and latest.png when an SVG
// renderer is installed). --compare <dir> (or LINUX_FD_BENCH_COMPARE) also
// runs ops.js's rows against the linux-fd build in <dir> (see ops.js).
//
// The comparison packages (proper-lockfile, fs-ext) come from
// bench/package.json and are installed into bench/node_modules first, never
// into the package's own dependencies; if that fails, their rows are skipped.
const { execFileSync, spawnSync } = require('node:child_process')
const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')
const { machineInfo } = require('./common.js')

const started = performance.now()
const quick = process.argv.includes('--quick')

function machine() {
  return { ...machineInfo(), quick }
}

// `npm ci` in bench/ from the committed bench/package-lock.json, skipped when
// bench/node_modules already matches that lockfile and this Node (fs-ext is a
// native addon built for it).
function installDeps() {
  const lock = path.join(__dirname, 'package-lock.json')
  const stampFile = path.join(__dirname, 'node_modules', '.linux-fd-bench-stamp')
  const stamp = crypto.createHash('sha256').update(fs.readFileSync(lock)).update(process.version).digest('hex')
  if (fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === stamp) return
  console.log('installing bench/package.json (proper-lockfile, fs-ext) into bench/node_modules ...')
  const npm = process.env.npm_execpath ? [process.execPath, [process.env.npm_execpath]] : ['npm', []]
  const r = spawnSync(npm[0], [...npm[1], 'ci', '--prefix', __dirname, '--no-audit', '--no-fund'], { encoding: 'utf8' })
  if (r.status !== 0) {
    console.log(`note: npm ci in bench/ failed (${(r.stderr || String(r.error)).trim().split('\n').pop()}); rows needing its packages are skipped\n`)
    return
  }
  if (!fs.existsSync(path.join(__dirname, 'node_modules', 'fs-ext', 'package.json'))) {
    console.log('note: fs-ext (optional) did not install or build; its rows are skipped')
  }
  fs.writeFileSync(stampFile, stamp)
}

function runChild(file) {
  const args = [path.join(__dirname, file), ...(quick ? ['--quick'] : []), '--json']
  const out = execFileSync(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 }).toString()
  return JSON.parse(out.trim().split('\n').pop())
}

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;')

// One panel per comparison, each on its own log scale, a dashed line at 1x.
function svg(result) {
  const { ops: o, roundtrip: rt, threads: th, locks: lk, timer: tm } = result
  const ratio = (label, v) => ({ label, v, text: `${v >= 100 ? v.toFixed(0) : v.toFixed(2)}x` })
  const rowsOf = (r) => (r && r.rows) || []
  const panels = [
    { title: 'per sync operation, relative to the Node-API floor (bench/floor.c)', ref: 1, bars: o.rows.filter((r) => r.sync && r.vsFloor).map((r) => ratio(r.label, r.vsFloor)) },
    { title: 'per operation, this build relative to the old build (--compare), same run', ref: 1, bars: o.rows.filter((r) => r.vsOld).map((r) => ratio(r.label, r.vsOld)) },
    { title: 'per operation, relative to C making the same syscalls', ref: 1, bars: o.rows.filter((r) => r.vsC).map((r) => ratio(r.label, r.vsC)) },
    { title: 'cross-process round trip, relative to a pipe', ref: 1, bars: rowsOf(rt).map((r) => ratio(r.name, r.vsPipe)) },
    { title: 'cross-thread round trip (main <-> worker), relative to MessagePort', ref: 1, bars: rowsOf(th).map((r) => ratio(r.name, r.vsMessagePort)) },
    { title: 'contended lock, 2 processes alternating, per acquire relative to C', ref: 1, bars: rowsOf(lk).filter((r) => r.vsC).map((r) => ratio(r.label, r.vsC)) },
    {
      title: tm && tm.rows ? `${tm.periodMs} ms periodic timer: p99 jitter per wake (ms) and drift after ${tm.durationMs / 1000} s (ms)` : '',
      ref: null,
      bars: rowsOf(tm).flatMap((r) => [
        { label: `${r.name}: p99 jitter`, v: r.jitterP99Ms, text: `${r.jitterP99Ms.toFixed(3)} ms` },
        { label: `${r.name}: drift`, v: Math.max(r.driftMs, 0.001), text: `${r.driftMs.toFixed(2)} ms` },
      ]),
    },
  ].filter((p) => p.bars.length)
  const X0 = 360
  const W = 400
  let y = 30
  const parts = []
  for (const p of panels) {
    const vals = p.bars.map((b) => b.v).concat(p.ref ? [p.ref] : [])
    const lo = Math.floor(Math.log10(Math.min(...vals)))
    const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(...vals))))
    const x = (v) => X0 + ((Math.log10(v) - lo) / (hi - lo)) * W
    parts.push(`<text x="10" y="${y + 12}" font-size="13" font-weight="bold">${esc(p.title)}</text>`)
    y += 20
    const top = y
    for (const b of p.bars) {
      // Ratio bars grow from the 1x line, left when faster, right when slower.
      const fill = p.ref == null ? '#58a' : b.v <= 1.25 * p.ref ? '#3a7' : '#c63'
      const from = p.ref == null ? X0 : x(p.ref)
      const x1 = Math.min(from, x(b.v))
      const x2 = Math.max(from + 1, x(b.v))
      parts.push(
        `<text x="${X0 - 5}" y="${y + 14}" text-anchor="end" font-size="12">${esc(b.label)}</text>` +
          `<rect x="${x1.toFixed(1)}" y="${y}" width="${(x2 - x1).toFixed(1)}" height="18" fill="${fill}"/>` +
          `<text x="${(Math.max(x2, from) + 4).toFixed(1)}" y="${y + 14}" font-size="12">${esc(b.text)}</text>`,
      )
      y += 22
    }
    for (let e = lo; e <= hi; e++) {
      const tx = x(10 ** e).toFixed(1)
      const tick = p.ref == null ? `${10 ** e >= 1 ? 10 ** e : (10 ** e).toFixed(-e)}` : `${10 ** e >= 1 ? 10 ** e : (10 ** e).toFixed(-e)}x`
      parts.push(`<line x1="${tx}" y1="${top - 2}" x2="${tx}" y2="${y}" stroke="#bbb" stroke-width="0.5"/><text x="${tx}" y="${y + 11}" font-size="10" text-anchor="middle" fill="#666">${tick}</text>`)
    }
    if (p.ref != null) {
      const rx = x(p.ref).toFixed(1)
      parts.push(`<line x1="${rx}" y1="${top - 2}" x2="${rx}" y2="${y}" stroke="#333" stroke-dasharray="4 3"/>`)
    }
    y += 26
  }
  const m = result.machine
  return `<svg xmlns="http://www.w3.org/2000/svg" width="860" height="${y + 10}" font-family="sans-serif">
<rect width="100%" height="100%" fill="#fff"/>
<text x="10" y="18" font-size="14">linux-fd bench, ${esc(m.date.slice(0, 10))}, ${esc(m.cpu)} x${m.cores}, Node ${esc(m.node)}${m.quick ? ', --quick' : ''}: log scales, lower is better</text>
${parts.join('\n')}
</svg>
`
}

// An SVG renderer if one is installed; nothing is installed for it.
function toPng(svgPath, pngPath) {
  const has = (cmd, args) => spawnSync(cmd, args, { encoding: 'utf8' })
  const tries = [
    ['rsvg-convert', ['-o', pngPath, svgPath], () => has('rsvg-convert', ['--version']).status === 0],
    ['inkscape', [svgPath, '--export-type=png', `--export-filename=${pngPath}`], () => has('inkscape', ['--version']).status === 0],
    // Only ImageMagick itself; some machines have a `convert` that is something else.
    ['convert', [svgPath, pngPath], () => /ImageMagick/.test(has('convert', ['-version']).stdout || '')],
  ]
  for (const [cmd, args, ok] of tries) {
    if (!ok()) continue
    if (spawnSync(cmd, args).status === 0 && fs.existsSync(pngPath)) return cmd
  }
  return null
}

// The exports each child bench needs; without them it is skipped, with a note.
const NEEDS = {
  roundtrip: ['EventCounter', 'Semaphore'],
  threads: ['EventCounter', 'Semaphore'],
  locks: ['lockFile', 'flock', 'LOCK_EX', 'LOCK_UN'],
  timer: ['Timer'],
  channel: ['FdChannel', 'Semaphore'],
}

async function main() {
  installDeps()
  const ops = require('./ops.js') // after installDeps: it loads the comparison packages
  const info = machine()
  console.log(`linux-fd bench, ${info.date}, ${info.cpu} x${info.cores}, Linux ${info.kernel}, Node ${info.node}${quick ? ', --quick' : ''}\n`)
  const section = () => {
    const t = performance.now()
    return () => ((performance.now() - t) / 1000).toFixed(1)
  }
  const elapsed = {}
  let done = section()
  const opsRes = await ops.main()
  ops.print(opsRes)
  elapsed.ops = +done()
  const result = { machine: info, ops: opsRes }
  const lfd = require('..')
  for (const [key, file] of [['roundtrip', 'roundtrip.js'], ['threads', 'threads.js'], ['locks', 'locks.js'], ['timer', 'timer.js'], ['channel', 'channel.js']]) {
    console.log()
    const missing = NEEDS[key].filter((name) => lfd[name] === undefined)
    if (missing.length) {
      console.log(`${file} skipped: this build does not export ${missing.join(', ')}`)
      result[key] = { skipped: `this build does not export ${missing.join(', ')}` }
      continue
    }
    done = section()
    result[key] = runChild(file)
    require(`./${file}`).print(result[key])
    elapsed[key] = +done()
  }
  const out = path.join(__dirname, 'results')
  fs.mkdirSync(out, { recursive: true })
  elapsed.total = +((performance.now() - started) / 1000).toFixed(1)
  result.elapsedSeconds = elapsed
  const stamp = info.date.replace(/[:.]/g, '-')
  fs.writeFileSync(path.join(out, `${stamp}.json`), JSON.stringify(result, null, 2))
  fs.writeFileSync(path.join(out, 'latest.json'), JSON.stringify(result, null, 2))
  fs.writeFileSync(path.join(out, 'latest.svg'), svg(result))
  const png = toPng(path.join(out, 'latest.svg'), path.join(out, 'latest.png'))
  console.log(`\nwrote bench/results/${stamp}.json, latest.json and latest.svg${png ? ` and latest.png (${png})` : ' (no SVG renderer found: rsvg-convert, inkscape or ImageMagick; no PNG)'}`)
  elapsed.total = +((performance.now() - started) / 1000).toFixed(1)
  console.log(`elapsed: ${Object.entries(elapsed).map(([k, v]) => `${k} ${v} s`).join(', ')}`)
}

main().then(() => process.exit(0))
