// Issue 14: when the platform package is missing, the error leads with its
// name and the one command that installs it at the right version; npm's
// optional-dependency bug comes after, only as a possibility. Simulated by a
// copy of the package without any .node file. An unsupported machine and a
// binary that does not load get errors of their own (s38-release M5).
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const root = process.cwd()
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version

/** A copy of the package without any .node file, and what requiring it prints (after `preload`). */
function requireCopy(t: import('ava').ExecutionContext, preload: string, addFiles: (dir: string) => void = () => {}, env: NodeJS.ProcessEnv = process.env) {
  const dir = mkdtempSync(join(tmpdir(), 'linux-fd-noaddon-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const f of ['index.js', 'binding.js', 'package.json']) cpSync(join(root, f), join(dir, f))
  cpSync(join(root, 'dist'), join(dir, 'dist'), { recursive: true })
  addFiles(dir)
  const r = spawnSync(
    process.execPath,
    ['-e', `${preload}; try { require(${JSON.stringify(dir)}) } catch (e) { console.log(e.message); console.log('cause: ' + !!e.cause) }`],
    { encoding: 'utf8', env },
  )
  t.is(r.status, 0, r.stderr)
  return { dir, out: r.stdout }
}

test('a missing platform package: the first line names it, then comes the one install command', (t) => {
  const { out } = requireCopy(t, '')
  const lines = out.split('\n')
  const pkg = `linux-fd-linux-${process.arch}-gnu`
  t.is(lines[0], `linux-fd: the native binary for this platform is missing: the package ${pkg} is not installed.`)
  t.true(lines.includes(`    npm install ${pkg}@${version}`), out)
  const npmBug = out.indexOf('npm/cli#4828')
  t.true(npmBug > out.indexOf('npm install'), 'the npm bug is mentioned after the command, as a possibility')
  t.true(out.includes('cause: true'), 'the loader error is kept as the cause')
})

test('an unsupported machine is told so, not to install a package that does not exist (s38-release M5)', (t) => {
  for (const [platform, arch] of [
    ['linux', 'riscv64'],
    ['linux', 'ia32'],
    ['darwin', 'arm64'],
  ]) {
    const { out } = requireCopy(
      t,
      `Object.defineProperty(process, 'platform', { value: '${platform}' }); Object.defineProperty(process, 'arch', { value: '${arch}' })`,
    )
    const first = out.split('\n')[0]
    t.is(first, `linux-fd: this platform (${platform} ${arch}) is not supported. linux-fd runs on Linux only, on x64 and arm64, with glibc 2.27+ or musl (docs/platforms.md).`)
    t.false(out.includes('npm install'), out)
    t.true(out.includes('cause: true'), out)
  }
})

test('a binary that is there but does not load: the loader says so and gives the dynamic loader\'s reason (s38-release M5)', (t) => {
  const node = `linux-fd.linux-${process.arch}-gnu.node`
  const { dir, out } = requireCopy(t, '', (d) => writeFileSync(join(d, node), 'not an ELF file\n'))
  const first = out.split('\n')[0]
  t.true(first.startsWith(`linux-fd: the native binary ${join(dir, node)} is installed but failed to load: `), out)
  // dlopen's own words: "invalid ELF header" or "file too short".
  t.regex(first, /invalid ELF header|file too short/)
  t.regex(out, /glibc 2\.27 or later, or musl with libgcc/)
  t.false(out.includes('npm install'), out)
  t.true(out.includes('cause: true'), out)
})

test('a platform package that loads but fails binding.js\'s version check: the mismatch leads, not "Cannot find native binding" (s38-diff M1)', (t) => {
  const pkg = `linux-fd-linux-${process.arch}-gnu`
  const node = `linux-fd.linux-${process.arch}-gnu.node`
  const { out } = requireCopy(
    t,
    '',
    (d) => {
      const dir = join(d, 'node_modules', pkg)
      mkdirSync(dir, { recursive: true })
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: pkg, version: '0.0.9', main: node }))
      cpSync(join(root, node), join(dir, node))
    },
    { ...process.env, NAPI_RS_ENFORCE_VERSION_CHECK: '1' },
  )
  t.is(out.split('\n')[0], `linux-fd: the native binding failed to load: Native binding package version mismatch, expected ${version} but got 0.0.9. You can reinstall dependencies to fix this issue.`)
  t.true(out.includes('cause: true'), out)
})
