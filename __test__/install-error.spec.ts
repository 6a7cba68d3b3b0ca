// Issue 14: when the platform package is missing, the error leads with its
// name and the one command that installs it at the right version; npm's
// optional-dependency bug comes after, only as a possibility. Simulated by a
// copy of the package without any .node file.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const root = process.cwd()
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version

test('a missing platform package: the first line names it, then comes the one install command', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'linux-fd-noaddon-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const f of ['index.js', 'binding.js', 'package.json']) cpSync(join(root, f), join(dir, f))
  cpSync(join(root, 'dist'), join(dir, 'dist'), { recursive: true })
  const r = spawnSync(process.execPath, ['-e', `try { require(${JSON.stringify(dir)}) } catch (e) { console.log(e.message); console.log('cause: ' + !!e.cause) }`], {
    encoding: 'utf8',
  })
  t.is(r.status, 0, r.stderr)
  const lines = r.stdout.split('\n')
  const pkg = `linux-fd-linux-${process.arch}-gnu`
  t.is(lines[0], `linux-fd: the native binary for this platform is missing: the package ${pkg} is not installed.`)
  t.true(lines.includes(`    npm install ${pkg}@${version}`), r.stdout)
  const npmBug = r.stdout.indexOf('npm/cli#4828')
  t.true(npmBug > r.stdout.indexOf('npm install'), 'the npm bug is mentioned after the command, as a possibility')
  t.true(r.stdout.includes('cause: true'), 'the loader error is kept as the cause')
})
