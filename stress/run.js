'use strict'
// npm run stress [-- --quick] [-- --only <substring>] [-- --json <file>]
//
// Runs every case in stress/cases/ in order, each in this one process (started
// with --expose-gc by the npm script). A case exports
//   { name: string, title: string, run(ctx) => Promise<{ held: string[], figures?: object }> }
// and throws when an invariant breaks. `ctx` is { quick, log, util } (see
// ./util.js). The runner prints what each case did and what held, the
// figures, and exits non-zero if any case threw.
const fs = require('node:fs')
const path = require('node:path')
const util = require('./util.js')

const argv = process.argv.slice(2)
const quick = argv.includes('--quick')
const only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : null
const jsonOut = argv.includes('--json') ? argv[argv.indexOf('--json') + 1] : null

async function main() {
  if (typeof global.gc !== 'function') {
    console.error('stress: run with node --expose-gc (npm run stress does)')
    process.exit(2)
  }
  // Node keeps a /dev/null fd open for life from the first child spawned
  // with stdio ['ignore', 'pipe', ...] (seen here; an all-'ignore' spawn does
  // not do it). Spawn one the way the cases do, so no case sees that fd
  // appear as a leak of its own.
  await util.runNode('').done
  // Likewise the package's epoll set for marks, made when a number is first
  // read from an object and kept for the life of the process
  // (docs/reliability.md, "Two owners of one fd number"): made here, so no
  // case counts it (ci-52c: fd-leaks and, run alone, hostile-input and
  // faults did).
  const first = new (require('..').EventCounter)(0)
  void first.fd
  first.close()
  const dir = path.join(__dirname, 'cases')
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.js')).sort()
  const t0 = Date.now()
  console.log(`linux-fd stress${quick ? ' --quick' : ''}: ${util.machine()}\n`)
  const results = []
  let failed = 0
  for (const f of files) {
    const c = require(path.join(dir, f))
    if (only && !c.name.includes(only) && !f.includes(only)) continue
    // Objects a failed case left open are collected now, not in the middle
    // of the next case's fd count.
    for (let i = 0; i < 3; i++) {
      global.gc()
      await util.sleep(10)
    }
    const start = Date.now()
    console.log(`## ${c.name}: ${c.title}`)
    const log = (...a) => console.log('  ', ...a)
    try {
      const r = await c.run({ quick, log, util })
      const secs = (Date.now() - start) / 1000
      for (const h of r.held) console.log(`   held: ${h}`)
      console.log(`   ok (${secs.toFixed(1)} s)\n`)
      results.push({ name: c.name, ok: true, secs, held: r.held, figures: r.figures ?? {} })
    } catch (e) {
      failed++
      const secs = (Date.now() - start) / 1000
      console.log(`   FAILED (${secs.toFixed(1)} s): ${e && e.stack ? e.stack : e}\n`)
      results.push({ name: c.name, ok: false, secs, error: String(e && e.stack ? e.stack : e) })
    }
  }
  const total = (Date.now() - t0) / 1000
  console.log(`${results.length - failed}/${results.length} cases held in ${total.toFixed(1)} s`)
  if (jsonOut) {
    fs.writeFileSync(jsonOut, JSON.stringify({ machine: util.machineInfo(), quick, total, results }, null, 2))
  }
  process.exit(failed ? 1 : 0)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
