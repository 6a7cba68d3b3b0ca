// Issue 14: when the platform package is missing, the error leads with its
// name and the one command that installs it at the right version; npm's
// optional-dependency bug comes after, only as a possibility. Simulated by a
// copy of the package without any .node file. An unsupported machine and a
// binary that does not load get errors of their own (s38-release M5).
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
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
  // Saved as an optional dependency, exact: a plain `npm install <pkg>`
  // saved it under dependencies, and an install on any other platform then
  // failed with EBADPLATFORM (s39-bundle M1).
  t.true(lines.includes(`    npm install --save-optional --save-exact ${pkg}@${version}`), out)
  t.true(out.includes(`npm install --no-save ${pkg}@${version} after npm ci`), 'the --omit=optional image case')
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

test('a binary that fails to load because the process is out of fds: the loader says so, not to reinstall (s49-limits L3)', (t) => {
  const node = `linux-fd.linux-${process.arch}-gnu.node`
  // Every fd number is taken while dlopen runs (its own retry in loadError
  // included), then given back.
  const preload = `const fs = require('fs'); const dlopen = process.dlopen
    process.dlopen = function (...a) {
      const held = []
      for (;;) { try { held.push(fs.openSync('/dev/null', 'r')) } catch { break } }
      try { return dlopen.apply(this, a) } finally { held.forEach((f) => fs.closeSync(f)) }
    }`
  const { dir, out } = requireCopy(t, preload, (d) => cpSync(join(root, node), join(d, node)))
  const first = out.split('\n')[0]
  t.true(first.startsWith(`linux-fd: the native binary ${join(dir, node)} is installed but failed to load: `), out)
  t.regex(first, /Too many open files/)
  t.regex(out, /out of file descriptors or memory/)
  t.false(out.includes('installing again'), out)
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

/** A copy of the package (no .node) at `dir`, and a platform package holding the real binary at `pkgDir`. */
function layout(dir: string, pkgDir: string) {
  mkdirSync(dir, { recursive: true })
  for (const f of ['index.js', 'binding.js', 'package.json']) cpSync(join(root, f), join(dir, f))
  cpSync(join(root, 'dist'), join(dir, 'dist'), { recursive: true })
  const pkg = `linux-fd-linux-${process.arch}-gnu`
  const node = `linux-fd.linux-${process.arch}-gnu.node`
  mkdirSync(pkgDir, { recursive: true })
  writeFileSync(join(pkgDir, 'package.json'), JSON.stringify({ name: pkg, version, main: node }))
  cpSync(join(root, node), join(pkgDir, node))
  return pkg
}

const SMOKE = "const l = require('linux-fd'); const c = new l.EventCounter(2); console.log('loaded', c.tryTake()); c.close()"

test('pnpm\'s layout under --preserve-symlinks: the platform package beside the real directory is found (s39-bundle M4)', (t) => {
  // pnpm links node_modules/linux-fd to .pnpm/linux-fd@<v>/node_modules/linux-fd,
  // whose platform package is its sibling there; with --preserve-symlinks
  // binding.js resolved from the link's directory and said "not installed".
  const base = mkdtempSync(join(tmpdir(), 'linux-fd-pnpm-'))
  t.teardown(() => rmSync(base, { recursive: true, force: true }))
  const store = join(base, 'node_modules', '.pnpm', `linux-fd@${version}`, 'node_modules')
  layout(join(store, 'linux-fd'), join(store, `linux-fd-linux-${process.arch}-gnu`))
  const app = join(base, 'app')
  mkdirSync(join(app, 'node_modules'), { recursive: true })
  symlinkSync(join(store, 'linux-fd'), join(app, 'node_modules', 'linux-fd'))
  for (const flags of [['--preserve-symlinks'], []]) {
    const r = spawnSync(process.execPath, [...flags, '-e', SMOKE], { cwd: app, encoding: 'utf8' })
    t.is(r.stdout, 'loaded 2n\n', `${flags.join(' ')}: ${r.stderr}`)
  }
  const report = `try { ${SMOKE} } catch (e) { console.log(e.message) }`
  // A damaged binary in the store is reported as failing to load, with
  // --preserve-symlinks too (s39-diff L2: there it was called missing).
  const node = join(store, `linux-fd-linux-${process.arch}-gnu`, `linux-fd.linux-${process.arch}-gnu.node`)
  writeFileSync(node, 'not an ELF file\n')
  for (const flags of [['--preserve-symlinks'], []]) {
    const r = spawnSync(process.execPath, [...flags, '-e', report], { cwd: app, encoding: 'utf8' })
    t.regex(r.stdout.split('\n')[0]!, /^linux-fd: the native binary .*\.node is installed but failed to load: .*(invalid ELF header|file too short)/, `${flags.join(' ')}: ${r.stdout}`)
  }
  // Without it, a pnpm store is told the pnpm command: npm run there
  // installed linux-fd's devDependencies into the store (s39-bundle L3).
  rmSync(join(store, `linux-fd-linux-${process.arch}-gnu`), { recursive: true })
  for (const flags of [['--preserve-symlinks'], []]) {
    const r = spawnSync(process.execPath, [...flags, '-e', report], { cwd: app, encoding: 'utf8' })
    t.true(r.stdout.split('\n').includes(`    pnpm add --save-optional --save-exact linux-fd-linux-${process.arch}-gnu@${version}`), `${flags.join(' ')}: ${r.stdout}`)
  }
})

test('a linux-fd outside the project that has its platform package says so, and where to install it (s39-bundle M4)', (t) => {
  // A file: directory dependency or npm link: npm installs none of the
  // linked package's dependencies, and the project's own copy of the
  // platform package is not visible from the linked directory's real path.
  const base = mkdtempSync(join(tmpdir(), 'linux-fd-linked-'))
  t.teardown(() => rmSync(base, { recursive: true, force: true }))
  const linked = join(base, 'linked', 'linux-fd')
  const app = join(base, 'app')
  const pkg = layout(linked, join(app, 'node_modules', `linux-fd-linux-${process.arch}-gnu`))
  symlinkSync(linked, join(app, 'node_modules', 'linux-fd'))
  const report = (script: string[], cwd = app, flags: string[] = []) =>
    spawnSync(process.execPath, [...flags, ...script], { cwd, encoding: 'utf8' }).stdout
  const outside = (dir: string) =>
    `linux-fd: this copy of linux-fd, at ${realpathSync(dir)}, cannot see ${pkg}, which is in ${realpathSync(join(app, 'node_modules'))}: it is outside that project (a file: dependency or npm link, or another project's copy). Install the package where this copy sees it:`
  const out = report(['-e', `try { ${SMOKE} } catch (e) { console.log(e.message) }`])
  t.is(out.split('\n')[0], outside(linked), out)
  t.true(out.split('\n').includes(`    cd ${realpathSync(linked)} && npm install --no-save --omit=dev ${pkg}@${version}`), out)
  // What the message says works does: with --preserve-symlinks it loads.
  t.is(report(['-e', SMOKE], app, ['--preserve-symlinks']), 'loaded 2n\n')
  // A link a level down (the project links a library, which links
  // linux-fd) gets the same message (s39-diff2: a check for the link itself
  // in the project missed it, and said "not installed").
  // That project (app2) has no linux-fd of its own.
  const lib = join(base, 'lib')
  mkdirSync(join(lib, 'node_modules'), { recursive: true })
  symlinkSync(linked, join(lib, 'node_modules', 'linux-fd'))
  writeFileSync(join(lib, 'index.js'), `try { require('linux-fd') } catch (e) { console.log(e.message) }`)
  const app2 = join(base, 'app2')
  layout(join(base, 'unused2'), join(app2, 'node_modules', pkg))
  symlinkSync(lib, join(app2, 'node_modules', 'lib'))
  const deep = report(['-e', "require('lib')"], app2)
  t.is(deep.split('\n')[0], outside(linked).replace(realpathSync(join(app, 'node_modules')), realpathSync(join(app2, 'node_modules'))), deep)
  // Another project's copy run from this one is outside it too; the message
  // does not call it linked (s39-diff M2).
  const other = join(base, 'other')
  layout(join(other, 'node_modules', 'linux-fd'), join(base, 'unused', pkg))
  writeFileSync(join(other, 'app.js'), `try { require('linux-fd') } catch (e) { console.log(e.message) }`)
  const o = report([join(other, 'app.js')])
  t.is(o.split('\n')[0], outside(join(other, 'node_modules', 'linux-fd')), o)
  // A broken binary installed beside the link, under --preserve-symlinks:
  // the binary's failure, not the link, is what is reported (s39-diff2 M:
  // it was called a linked install).
  writeFileSync(join(app, 'node_modules', pkg, `linux-fd.linux-${process.arch}-gnu.node`), 'not an ELF file\n')
  const broken = report(['-e', `try { ${SMOKE} } catch (e) { console.log(e.message) }`], app, ['--preserve-symlinks'])
  t.regex(broken.split('\n')[0]!, /^linux-fd: the native binary .*\.node is installed but failed to load: .*(invalid ELF header|file too short)/, broken)
})
