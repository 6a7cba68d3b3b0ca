#!/usr/bin/env node
// Installs linux-fd as a user does and uses it (issue 5, "Installing as a user
// would"):
//   1. copy the release .node into npm/<platform> (PACK_TEST_PLATFORM, default
//      linux-x64-gnu) and `npm pack` it;
//   2. `npm pack` the root as `napi prepublish` would publish it (with its
//      optionalDependencies);
//   3. in a fresh project outside the repo, `npm install --offline` both
//      tarballs with no Rust toolchain on PATH;
//   4. require() from CommonJS, import from ESM, run a few calls of each
//      primitive (pack-test/smoke.cjs), `tsc --strict` a TS file, and compile
//      a default import to CommonJS and run it (pack-test/default.cts).
// Needs a release build (`npm run build`); builds one if the .node is missing.
// KEEP=1 keeps the temp dir for inspection.
import { execFileSync } from 'node:child_process'
import { accessSync, constants, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join, relative } from 'node:path'

import { platformPackages, publishedRootPackageJson, repoRoot, rootPackageJson } from './release-manifest.mjs'

const started = Date.now()
let passed = 0
function step(name, fn) {
  const t = Date.now()
  process.stdout.write(`pack-test: ${name} ... `)
  const result = fn()
  passed++
  console.log(`ok (${((Date.now() - t) / 1000).toFixed(1)}s)`)
  return result
}
function run(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts })
}

const root = rootPackageJson()
// The platform to pack and install; CI sets it per target (default: this machine's).
const platformDir = process.env.PACK_TEST_PLATFORM || 'linux-x64-gnu'
const gnu = platformPackages(root).find((p) => p.dir === platformDir)
if (!gnu) throw new Error(`PACK_TEST_PLATFORM=${platformDir} is not a napi target`)
const builtNode = join(repoRoot, gnu.nodeFile)
const work = mkdtempSync(join(tmpdir(), 'linux-fd-pack-'))
const tarballs = join(work, 'tarballs')
const app = join(work, 'app')
mkdirSync(tarballs)
if (!relative(repoRoot, app).startsWith('..')) throw new Error(`${app} is inside the repo`)

try {
  if (!existsSync(builtNode)) {
    step('npm run build (no release .node yet)', () => run('npm', ['run', 'build'], { cwd: repoRoot, stdio: 'inherit' }))
  } else if (!existsSync(join(repoRoot, 'dist', 'index.js'))) {
    // A checkout given only the .node (the workflow's test job): the root
    // is packed below with --ignore-scripts, so prepack does not build dist/.
    step('npm run build:ts (no dist/ yet)', () => run('npm', ['run', 'build:ts'], { cwd: repoRoot, stdio: 'inherit' }))
  }

  const gnuTgz = step(`npm pack npm/${gnu.dir} with the built .node`, () => {
    const dir = join(repoRoot, 'npm', gnu.dir)
    copyFileSync(builtNode, join(dir, gnu.nodeFile))
    const [info] = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', tarballs], { cwd: dir }))
    const files = info.files.map((f) => f.path).sort()
    if (JSON.stringify(files) !== JSON.stringify(['README.md', gnu.nodeFile, 'package.json'].sort())) {
      throw new Error(`unexpected files in ${info.filename}: ${files}`)
    }
    return join(tarballs, info.filename)
  })

  const rootTgz = step('npm pack the root as published (optionalDependencies added)', () => {
    const [dry] = JSON.parse(run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repoRoot }))
    const stage = join(work, 'root-stage')
    for (const { path } of dry.files) {
      mkdirSync(join(stage, path, '..'), { recursive: true })
      copyFileSync(join(repoRoot, path), join(stage, path))
    }
    writeFileSync(join(stage, 'package.json'), JSON.stringify(publishedRootPackageJson(root), null, 2) + '\n')
    const [info] = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', tarballs], { cwd: stage }))
    if (info.files.some((f) => f.path.endsWith('.node'))) throw new Error('the root tarball holds a .node')
    return join(tarballs, info.filename)
  })

  // No cargo or rustc on PATH, and no registry: an install that tried to
  // build from source or download a binary fails here. Directories that hold
  // cargo or rustc are dropped; a system directory that also holds node and
  // npm (Debian's /usr/bin once its Rust packages are installed, as the
  // cross-build setup does) is replaced by a temp dir linking just the tools
  // an install needs.
  const tools = join(work, 'bin')
  mkdirSync(tools)
  for (const b of ['node', 'npm', 'npx', 'sh']) {
    const from = process.env.PATH.split(delimiter).map((d) => join(d, b)).find(isExecutable)
    if (from) symlinkSync(from, join(tools, b))
  }
  const noRustPath = [
    tools,
    ...process.env.PATH.split(delimiter)
      .filter((d) => !/cargo|rustup/.test(d))
      .filter((d) => !['cargo', 'rustc'].some((b) => isExecutable(join(d, b)))),
  ].join(delimiter)
  const installEnv = { ...process.env, PATH: noRustPath, npm_config_offline: 'true' }
  for (const k of ['CARGO', 'CARGO_HOME', 'RUSTUP_HOME', 'RUSTC', 'RUSTUP_TOOLCHAIN']) delete installEnv[k]

  step('npm install --offline both tarballs into a fresh project outside the repo, no Rust on PATH', () => {
    for (const b of ['cargo', 'rustc']) {
      const found = installEnv.PATH.split(delimiter).find((d) => isExecutable(join(d, b)))
      if (found) throw new Error(`${b} is still on PATH in ${found}`)
    }
    mkdirSync(app)
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'linux-fd-pack-test-app', version: '1.0.0', private: true }, null, 2))
    for (const f of ['smoke.cjs', 'cjs.cjs', 'esm.mjs', 'typecheck.ts', 'typecheck-esm.mts', 'tsconfig.json', 'default.cts', 'tsconfig.cts.json']) {
      cpSync(join(repoRoot, 'scripts', 'pack-test', f), join(app, f))
    }
    run('npm', ['install', '--offline', '--no-audit', '--no-fund', rootTgz, gnuTgz], { cwd: app, env: installEnv })
    // The TS check needs Node's typings. They are copied from the repo's own
    // node_modules: `npm install --offline @types/node@x` needs the registry's
    // metadata for it in npm's cache, which `npm ci` never fetches (it failed
    // on a fresh machine).
    for (const dep of ['@types/node', 'undici-types']) {
      if (existsSync(join(repoRoot, 'node_modules', dep))) {
        cpSync(join(repoRoot, 'node_modules', dep), join(app, 'node_modules', dep), { recursive: true })
      }
    }
    const installed = JSON.parse(readFileSync(join(app, 'node_modules', 'linux-fd', 'package.json'), 'utf8'))
    if (installed.version !== root.version) throw new Error(`installed linux-fd ${installed.version}`)
    if (!existsSync(join(app, 'node_modules', gnu.name, gnu.nodeFile))) throw new Error(`${gnu.name} has no ${gnu.nodeFile}`)
  })

  step('require() from CommonJS and call each primitive', () => run(process.execPath, ['cjs.cjs'], { cwd: app, env: installEnv, stdio: 'inherit' }))
  step('import from ESM and call each primitive', () => run(process.execPath, ['esm.mjs'], { cwd: app, env: installEnv, stdio: 'inherit' }))
  // The repo's own TypeScript compiles a project in the app, its output
  // shown if it fails.
  const tsc = (project, ...flags) => {
    try {
      return run(process.execPath, [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project, ...flags], { cwd: app, env: installEnv })
    } catch (e) {
      throw new Error(`tsc -p ${project} failed:\n${e.stdout}${e.stderr}`)
    }
  }
  step('tsc --strict a CommonJS and an ES module TS file against the installed typings', () => {
    // Each entry gets its own typings: an ES module importer index.d.mts,
    // not the CommonJS index.d.ts ("masquerading as CJS", which
    // @arethetypeswrong/cli reported before index.d.mts existed).
    const files = tsc('tsconfig.json', '--listFiles').split('\n').map((f) => f.trim())
    for (const want of ['index.d.ts', 'index.d.mts']) {
      if (!files.some((f) => f.endsWith(`/node_modules/linux-fd/${want}`))) throw new Error(`tsc did not read linux-fd/${want}:\n${files.join('\n')}`)
    }
  })
  step('a default import from TypeScript compiled to CommonJS works', () => {
    tsc('tsconfig.cts.json')
    run(process.execPath, [join('out', 'default.cjs')], { cwd: app, env: installEnv, stdio: 'inherit' })
  })
  // The peer range admits any @types/node from 18.19, and a plain
  // `npm i -D @types/node` installs the newest: 26 renamed
  // util.InspectOptionsStylized, which the typings named, and they failed
  // to compile there (s44-user). The repo's devDependency
  // `@types/node-latest` (an npm alias) is that newest major.
  step('the same tsc --strict against the newest @types/node (the devDependency @types/node-latest)', () => {
    const latest = join(repoRoot, 'node_modules', '@types', 'node-latest')
    const version = JSON.parse(readFileSync(join(latest, 'package.json'), 'utf8')).version
    rmSync(join(app, 'node_modules', '@types', 'node'), { recursive: true, force: true })
    cpSync(latest, join(app, 'node_modules', '@types', 'node'), { recursive: true })
    tsc('tsconfig.json')
    console.log(`  @types/node ${version}`)
  })
} finally {
  rmSync(join(repoRoot, 'npm', gnu.dir, gnu.nodeFile), { force: true })
  if (process.env.KEEP) console.log(`pack-test: kept ${work}`)
  else rmSync(work, { recursive: true, force: true })
}
console.log(`pack-test: ${passed} passed, 0 failed (${((Date.now() - started) / 1000).toFixed(1)}s)`)

function isExecutable(p) {
  try {
    accessSync(p, constants.X_OK)
    return true
  } catch {
    return false
  }
}
