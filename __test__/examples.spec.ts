// Every recipe in examples/ runs as a user would run it (`node --import=tsx
// examples/<name>.ts`), checks its own result, and exits 0 with its result line.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Semaphore } from '../index.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

// The recipes are written against the API of issue 11, where `acquire()`
// resolves with a Permit (`using permit = await sem.acquire()`). Until that
// lands, a preload gives `acquire()`/`acquireSync()` that result, so the rest
// of each recipe is still run and checked. Remove with the old API.
const extraArgs: string[] = []
const probe = new Semaphore(1)
const oldApi = (probe.acquireSync() as unknown) === undefined
probe.close()
let shimDir: string | undefined
if (oldApi) {
  shimDir = mkdtempSync(join(tmpdir(), 'linux-fd-examples-'))
  const shim = join(shimDir, 'permit-shim.cjs')
  writeFileSync(
    shim,
    `const { Semaphore } = require(${JSON.stringify(join(root, 'index.js'))})
const permit = (sem) => {
  let held = true
  const release = () => { if (held) { held = false; sem.release() } }
  return { release, [Symbol.dispose]: release }
}
const { acquire, acquireSync } = Semaphore.prototype
Semaphore.prototype.acquire = async function (o) { await acquire.call(this, o); return permit(this) }
Semaphore.prototype.acquireSync = function () { acquireSync.call(this); return permit(this) }
`,
  )
  extraArgs.push(`--require=${shim}`)
}
test.after.always(() => {
  if (shimDir) rmSync(shimDir, { recursive: true, force: true })
})

const recipes: [file: string, result: RegExp][] = [
  ['semaphore-pool.ts', /^5 child processes, 2 permits: at most 2 inside at once$/m],
  ['worker-wake.ts', /^main: the worker handled 20 of 20 items$/m],
  ['lock-and-memory.ts', /^3 processes x 50 rounds: shared counter 150, log entries 150, expected 150$/m],
]

for (const [file, result] of recipes) {
  test(`examples/${file} checks its own result and exits 0`, (t) => {
    if (oldApi) t.log('pre-issue-11 API: acquire() given a Permit by a preload')
    const r = spawnSync(process.execPath, [...extraArgs, '--import=tsx', join('examples', file)], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
    })
    t.is(r.status, 0, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`)
    t.regex(r.stdout, result)
    t.notRegex(r.stdout + r.stderr, /FAIL/)
  })
}
