// Bundled servers (s39-bundle): what docs/platforms.md#bundling tells users
// to do works, and what it tells them not to do fails with an error that
// says why. esbuild is the bundler (a devDependency; tsx runs on it). Each
// bundle is built from this checkout into a temporary directory with no
// node_modules above it, and run from there.
import test from 'ava'
import { buildSync, type BuildOptions } from 'esbuild'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const root = process.cwd()
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version
const arch = `linux-${process.arch}-gnu`
// The ES module bundle's `require` for the CommonJS it holds (esbuild's own advice).
const REQUIRE_BANNER = "import { createRequire as __lfdRequire } from 'node:module'; const require = __lfdRequire(import.meta.url);"

/** Bundles a smoke program (`esm`: an ES module) with `options`, runs it, and returns the bundle's directory and what it printed. */
function bundle(t: import('ava').ExecutionContext, esm: boolean, options: BuildOptions, prepare: (dir: string) => void = () => {}) {
  const dir = mkdtempSync(join(tmpdir(), 'linux-fd-bundle-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const entry = join(dir, esm ? 'app.mjs' : 'app.cjs')
  const smoke = 'const c = new EventCounter(3); const m = MemFile.create("b"); m.truncate(4096); m.addSeals({ shrink: true }); console.log("SMOKE", c.tryTake(), m.map().byteLength); c.close(); m.close()'
  writeFileSync(
    entry,
    esm
      ? // import(): a static import's load error would end the module before the try.
        `try { const { EventCounter, MemFile } = await import(${JSON.stringify(join(root, 'index.mjs'))}); ${smoke} } catch (e) { console.log(e.message) }\n`
      : `try { const { EventCounter, MemFile } = require(${JSON.stringify(root)}); ${smoke} } catch (e) { console.log(e.message) }\n`,
  )
  const out = join(dir, 'out', esm ? 'server.mjs' : 'server.cjs')
  buildSync({ entryPoints: [entry], bundle: true, platform: 'node', format: esm ? 'esm' : 'cjs', outfile: out, logLevel: 'silent', ...options })
  prepare(join(dir, 'out'))
  const r = spawnSync(process.execPath, [out], { cwd: join(dir, 'out'), encoding: 'utf8' })
  t.is(r.status, 0, r.stderr)
  return { out: join(dir, 'out'), stdout: r.stdout }
}

test('a CommonJS bundle with the .node copied beside it runs with no node_modules (--loader:.node=copy)', (t) => {
  const { out, stdout } = bundle(t, false, { loader: { '.node': 'copy' } })
  t.is(stdout, 'SMOKE 3n 4096\n')
  t.true(readdirSync(out).some((f) => f.endsWith('.node')), 'the binary is beside the bundle')
})

test('an ES module bundle with the require banner and the .node copied runs (--format=esm)', (t) => {
  const { stdout } = bundle(t, true, { loader: { '.node': 'copy' }, banner: { js: REQUIRE_BANNER } })
  t.is(stdout, 'SMOKE 3n 4096\n')
})

test('an ES module bundle without its binary gives the load error with the version, not a ReferenceError for __dirname (s39-bundle M2, L2)', (t) => {
  const { stdout } = bundle(t, true, { external: ['linux-fd-linux-*', '*.node'], banner: { js: REQUIRE_BANNER } })
  const lines = stdout.split('\n')
  t.is(lines[0], `linux-fd: the native binary for this platform is missing: the package linux-fd-${arch} is not installed.`, stdout)
  t.true(lines.includes(`    npm install --save-optional --save-exact linux-fd-${arch}@${version}`), stdout)
})

test('a bundled binary that is damaged is reported as failing to load, with the loader\'s reason, not as missing (s39-bundle L1)', (t) => {
  // The copy loader renames the file (linux-fd.<platform>-<hash>.node), so
  // the loader's own look for it misses it.
  const { stdout } = bundle(t, false, { loader: { '.node': 'copy' } }, (out) => {
    for (const f of readdirSync(out)) if (f.endsWith('.node')) writeFileSync(join(out, f), 'not an ELF file\n')
  })
  t.regex(stdout.split('\n')[0]!, /^linux-fd: the native binary failed to load: .*(invalid ELF header|file too short)/, stdout)
})

test('--loader:.node=file (a path string in place of the binding) is named as the bundler\'s doing (s39-bundle L1)', (t) => {
  const { stdout } = bundle(t, false, { loader: { '.node': 'file' } })
  // binding.js itself fails on the string (it sets properties on what it
  // loaded), so the loader's reason leads, then the bundling hint.
  t.regex(stdout.split('\n')[0]!, /^linux-fd: the native binary failed to load: .*on string '.*\.node'/, stdout)
  t.regex(stdout, /a bundler may have renamed or replaced the \.node file \(esbuild: --loader:\.node=copy, not file\); docs\/platforms\.md#bundling/, stdout)
})
