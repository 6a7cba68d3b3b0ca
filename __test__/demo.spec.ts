// The README's main job (`npm run demo`) must run and verify its shared result.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

test('npm run demo verifies its cross-process result and exits 0', (t) => {
  const r = spawnSync(process.execPath, [join(root, 'examples', 'demo.js')], { encoding: 'utf8', timeout: 60_000 })
  t.is(r.status, 0, r.stdout + r.stderr)
  t.regex(r.stdout, /demo: shared result verified/)
  t.notRegex(r.stdout, /FAIL/)
  t.regex(r.stdout, /eventfd read at 0, non-blocking -> EAGAIN/)
  t.regex(r.stdout, /memfd read back with fs.readSync -> "written with fs.writeSync on a memfd"/)
})
