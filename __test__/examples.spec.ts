// Every recipe in examples/ runs as a user would run it (`node --import=tsx
// examples/<name>.ts`), checks its own result, and exits 0 with its result line.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { SLOWDOWN } from './helpers/emulation.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

const recipes: [file: string, result: RegExp][] = [
  ['semaphore-pool.ts', /^5 child processes, 2 permits: at most 2 inside at once$/m],
  ['worker-wake.ts', /^main: the worker handled 20 of 20 items$/m],
  ['lock-and-memory.ts', /^3 processes x 50 rounds: shared counter 150, log entries 150, expected 150$/m],
  ['single-instance.ts', /^single instance: B refused while A ran; after A was killed, C started and stopped cleanly$/m],
  ['crash-safe-slots.ts', /^2 slots: 2 holders killed, then 4 of 4 processes finished, at most 2 inside at once$/m],
]

for (const [file, result] of recipes) {
  test(`examples/${file} checks its own result and exits 0`, (t) => {
    const r = spawnSync(process.execPath, ['--import=tsx', join('examples', file)], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000 * SLOWDOWN, // x10 under qemu-user (helpers/emulation.ts)
    })
    t.is(r.status, 0, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`)
    t.regex(r.stdout, result)
    t.notRegex(r.stdout + r.stderr, /FAIL/)
  })
}
