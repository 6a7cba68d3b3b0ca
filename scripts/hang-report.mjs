// Prints what scripts/hang-watch.sh captured in DIR: each <pid>.txt whole, and
// from each Node diagnostic report the JS stack, the libuv handles that are
// active and referenced (what keeps a loop alive) and the active resources.
//   node scripts/hang-report.mjs DIR
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const dir = process.argv[2]
let files = []
try {
  files = readdirSync(dir).sort()
} catch {}
if (files.length === 0) console.log(`hang-report: nothing captured in ${dir}`)
for (const f of files) {
  const p = join(dir, f)
  console.log(`\n--- ${f}`)
  if (f.endsWith('.txt')) {
    console.log(readFileSync(p, 'utf8'))
    continue
  }
  if (!f.endsWith('.json')) continue
  try {
    const r = JSON.parse(readFileSync(p, 'utf8'))
    console.log('pid', r.header?.processId, 'thread', r.header?.threadId, r.header?.commandLine?.join(' '))
    console.log('JS stack:', JSON.stringify(r.javascriptStack, null, 2))
    console.log('libuv handles, active and referenced:')
    for (const h of r.libuv ?? []) if (h.is_active && h.is_referenced) console.log(' ', JSON.stringify(h))
    if (r.workers?.length) console.log('workers:', r.workers.length)
    console.log('native stack (top 30):')
    for (const s of (r.nativeStack ?? []).slice(0, 30)) console.log(' ', s.symbol)
  } catch (e) {
    console.log(`unreadable: ${e}`)
  }
}
