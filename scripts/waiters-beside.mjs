// Keeps N `lockFile()` waiters pending on a lock that a child process holds,
// until stdin closes or the process is killed. .ci/run runs its 20-run
// event-loop loop beside it (issue 13 item 7).
//
// Why: the one "Failed to exit when running event-counter.spec.ts /
// eventfd.spec.ts" of issue 13 is reproduced by running those two specs
// beside a process of the old build (f84a08b) with 2,000 waiters: each was a
// thread that polled, 2,007 threads at about 2 cores, and neither ava worker
// reached its first test within ava's 2-minute timeout
// (docs/notes-reliability.md, "Exit hang"). Today's waiters are queued in
// the process, with no thread each and no polling, so the loop must stay
// clean with them beside it; a build whose waiters poll fails it again.
//
//   node scripts/waiters-beside.mjs N [PACKAGE_DIR]
// PACKAGE_DIR (default: this checkout) is the build whose waiters to start;
// point it at another build's checkout to reproduce the report with it.
// Prints "ready <N> waiters, <threads> threads" once all N are pending.
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const n = Number(process.argv[2] ?? 2000)
if (!Number.isInteger(n) || n < 1) throw new Error(`usage: waiters-beside.mjs N [PACKAGE_DIR] (got N = ${process.argv[2]})`)
const pkg = resolve(process.argv[3] ?? join(import.meta.dirname, '..'))
const lfd = createRequire(import.meta.url)(pkg)

const dir = mkdtempSync(join(tmpdir(), 'linux-fd-waiters-'))
const path = join(dir, 'held.lock')
writeFileSync(path, '')
const holder = spawn(
  process.execPath,
  ['-e', `const h = require(${JSON.stringify(pkg)}).tryLockFile(${JSON.stringify(path)}); process.stdout.write(h ? 'held\\n' : 'busy\\n'); process.stdin.resume()`],
  { stdio: ['pipe', 'pipe', 'inherit'] },
)
let settled = 0
let since = { t: 0, cpu: { user: 0, system: 0 } }
const done = () => {
  if (since.t !== 0) {
    const secs = (Date.now() - since.t) / 1000
    const cpu = process.cpuUsage(since.cpu)
    const ms = (cpu.user + cpu.system) / 1000
    console.log(`end: ${n - settled} of ${n} still pending after ${secs.toFixed(0)} s, ${ms.toFixed(0)} ms of CPU (${(ms / secs / 10).toFixed(2)} % of a core)`)
  }
  holder.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
  process.exit(0)
}
process.on('SIGTERM', done)
process.stdin.on('end', done).resume()

holder.stdout.once('data', (d) => {
  if (String(d).trim() !== 'held') throw new Error(`the holder could not take ${path}`)
  for (let i = 0; i < n; i++) {
    lfd.lockFile(path).then(
      () => settled++,
      () => settled++,
    )
  }
  setImmediate(() => {
    // None may be granted while the holder holds the lock.
    if (settled !== 0) throw new Error(`${settled} of ${n} waiters settled while the lock was held`)
    const threads = readdirSync('/proc/self/task').length
    console.log(`ready: ${n} waiters, ${threads} threads`)
    since = { t: Date.now(), cpu: process.cpuUsage() }
  })
})
