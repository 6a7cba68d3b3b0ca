'use strict'
// npm run bench [-- --quick]: runs bench/ops.js and bench/roundtrip.js in one
// session, prints their tables, and writes bench/results/<date>.json and a
// bar chart of the ratios to C and to the pipe (bench/results/latest.svg).
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const ops = require('./ops.js')

const quick = process.argv.includes('--quick')

function machine() {
  return {
    date: new Date().toISOString(),
    cpu: os.cpus()[0]?.model,
    cores: os.cpus().length,
    kernel: os.release(),
    node: process.version,
    quick,
  }
}

function svg(opsRows, rtRows) {
  const bars = [
    ...opsRows.filter((r) => r.vsC).map((r) => ({ label: `${r.label} (vs C)`, v: r.vsC })),
    ...rtRows.map((r) => ({ label: `${r.name} (vs pipe)`, v: r.vsPipe })),
  ]
  const max = Math.max(2, ...bars.map((b) => b.v))
  const h = 24 * bars.length + 40
  const x = (v) => 330 + (v / max) * 400
  const rows = bars
    .map((b, i) => {
      const y = 30 + i * 24
      return `<text x="325" y="${y + 14}" text-anchor="end" font-size="12">${b.label.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</text>` +
        `<rect x="330" y="${y}" width="${(x(b.v) - 330).toFixed(1)}" height="18" fill="${b.v <= 1.25 ? '#3a7' : '#c63'}"/>` +
        `<text x="${(x(b.v) + 4).toFixed(1)}" y="${y + 14}" font-size="12">${b.v.toFixed(2)}x</text>`
    })
    .join('\n')
  return `<svg xmlns="http://www.w3.org/2000/svg" width="820" height="${h}" font-family="sans-serif">
<text x="10" y="18" font-size="14">linux-fd: time relative to C (per op) and to a pipe round trip; lower is better; line at 1x</text>
<line x1="${x(1).toFixed(1)}" y1="26" x2="${x(1).toFixed(1)}" y2="${h - 6}" stroke="#333" stroke-dasharray="4 3"/>
${rows}
</svg>
`
}

async function main() {
  const info = machine()
  console.log(`linux-fd bench, ${info.date}, ${info.cpu} x${info.cores}, Linux ${info.kernel}, Node ${info.node}${quick ? ', --quick' : ''}\n`)
  const opsRes = await ops.main()
  ops.print(opsRes)
  console.log()
  const rtArgs = [path.join(__dirname, 'roundtrip.js'), ...(quick ? ['--quick'] : [])]
  process.stdout.write(execFileSync(process.execPath, rtArgs).toString())
  const rt = JSON.parse(execFileSync(process.execPath, [...rtArgs, '--json']).toString())
  const out = path.join(__dirname, 'results')
  fs.mkdirSync(out, { recursive: true })
  const result = { machine: info, ops: opsRes, roundtrip: rt }
  const stamp = info.date.replace(/[:.]/g, '-')
  fs.writeFileSync(path.join(out, `${stamp}.json`), JSON.stringify(result, null, 2))
  fs.writeFileSync(path.join(out, 'latest.json'), JSON.stringify(result, null, 2))
  fs.writeFileSync(path.join(out, 'latest.svg'), svg(opsRes.rows, rt))
  console.log(`\nwrote bench/results/${stamp}.json, latest.json and latest.svg`)
}

main().then(() => process.exit(0))
