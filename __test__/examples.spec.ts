// Every recipe in examples/ runs as a user would run it (`node --import=tsx
// examples/<name>.ts`), checks its own result, and exits 0 with its result line.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { oldPermitApi, permitShimArgs } from './helpers/permit-shim.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
// The recipes use the Permit of issue 11; see helpers/permit-shim.ts.
const shim = permitShimArgs()
test.after.always(() => shim.cleanup())

const recipes: [file: string, result: RegExp][] = [
  ['semaphore-pool.ts', /^5 child processes, 2 permits: at most 2 inside at once$/m],
  ['worker-wake.ts', /^main: the worker handled 20 of 20 items$/m],
  ['lock-and-memory.ts', /^3 processes x 50 rounds: shared counter 150, log entries 150, expected 150$/m],
]

for (const [file, result] of recipes) {
  test(`examples/${file} checks its own result and exits 0`, (t) => {
    if (oldPermitApi) t.log('pre-issue-11 API: acquire() given a Permit by a preload')
    const r = spawnSync(process.execPath, [...shim.args, '--import=tsx', join('examples', file)], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
    })
    t.is(r.status, 0, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`)
    t.regex(r.stdout, result)
    t.notRegex(r.stdout + r.stderr, /FAIL/)
  })
}
