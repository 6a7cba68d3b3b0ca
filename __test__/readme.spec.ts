// Every ```js block in README.md is a runnable example: run each one in a
// fresh process, with `require('linux-fd')` resolving to this checkout, and
// require a clean exit within the timeout.
import test from 'ava'
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const readme = readFileSync(join(root, 'README.md'), 'utf8')
const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1])

const dir = mkdtempSync(join(tmpdir(), 'linux-fd-readme-'))
mkdirSync(join(dir, 'node_modules'))
symlinkSync(root, join(dir, 'node_modules', 'linux-fd'))
test.after.always(() => rmSync(dir, { recursive: true, force: true }))

test('the README has examples', (t) => {
  t.true(blocks.length >= 3, `${blocks.length} js blocks`)
})

blocks.forEach((code, i) => {
  const firstLine = code.split('\n').find((l) => l.trim() && !l.startsWith('//')) ?? ''
  test.serial(`README example ${i + 1} runs: ${firstLine.slice(0, 60)}`, (t) => {
    const file = join(dir, `example-${i + 1}.js`)
    writeFileSync(file, code)
    const r = spawnSync(process.execPath, [file], {
      cwd: dir,
      env: { ...process.env, NODE_PATH: join(dir, 'node_modules') },
      timeout: 20_000,
      encoding: 'utf8',
    })
    t.is(r.status, 0, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`)
    t.log(r.stdout.trim())
  })
})
