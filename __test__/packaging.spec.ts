// The published shape of the package: npm/<platform> dirs that match
// `napi.targets`, and a root tarball that holds only the loader, the typings
// and the README. The install-as-a-user test is scripts/pack-test.mjs.
import test from 'ava'
import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, posix } from 'node:path'

import {
  publishedRootPackageJson,
  ROOT_TARBALL_DIST,
  ROOT_TARBALL_FILES,
  expectedOptionalDependencies,
  platformPackages,
  repoRoot,
  rootPackageJson,
} from '../scripts/release-manifest.mjs'

const root = rootPackageJson()
const npmDir = join(repoRoot, 'npm')

function readJson(path: string) {
  return JSON.parse(readFileSync(path, 'utf8'))
}

test('npm/ holds exactly one package dir per napi target', (t) => {
  const dirs = readdirSync(npmDir).sort()
  t.deepEqual(dirs, platformPackages().map((p) => p.dir).sort())
})

for (const p of platformPackages()) {
  test(`npm/${p.dir}/package.json matches its target ${p.triple}`, (t) => {
    const sub = readJson(join(npmDir, p.dir, 'package.json'))
    t.is(sub.name, p.name)
    t.is(sub.version, root.version, 'same version as the root package')
    t.deepEqual(sub.os, [p.os])
    t.deepEqual(sub.cpu, [p.cpu])
    t.deepEqual(sub.libc, [p.libc])
    t.is(sub.main, p.nodeFile)
    t.deepEqual(sub.files, [p.nodeFile])
    t.is(sub.license, root.license)
    t.deepEqual(sub.engines, root.engines)
    t.true(existsSync(join(npmDir, p.dir, 'README.md')), 'has a README')
  })
}

test('the loader names every platform package and its .node file', (t) => {
  const loader = readFileSync(join(repoRoot, 'binding.js'), 'utf8')
  for (const p of platformPackages()) {
    t.true(loader.includes(`require('${p.name}')`), p.name)
    t.true(loader.includes(`require('./${p.nodeFile}')`), p.nodeFile)
  }
})

test('root optionalDependencies are left to `napi prepublish`, or match the targets exactly', (t) => {
  // npm ci rejects a lock file that cannot record an optional dependency, and
  // an unpublished one cannot be recorded, so before the first release the
  // committed package.json leaves them out and `prepublishOnly` adds them.
  if (root.optionalDependencies !== undefined) {
    t.deepEqual(root.optionalDependencies, expectedOptionalDependencies())
  }
  // Either way, the published package.json carries exactly the targets.
  t.deepEqual(publishedRootPackageJson(root).optionalDependencies, expectedOptionalDependencies())
  t.regex(root.scripts.prepublishOnly, /napi prepublish -t npm/)
  t.regex(root.scripts.version, /napi version/)
})

test('the root package is for the machines its platform packages are for, so npm refuses the rest at install (s38-release M5)', (t) => {
  t.deepEqual(root.os, [...new Set(platformPackages().map((p) => p.os))])
  t.deepEqual([...root.cpu].sort(), [...new Set(platformPackages().map((p) => p.cpu))].sort())
})

test('binding.js expects the platform packages at the version of package.json, and `npm version` keeps it so (s38-release H4)', (t) => {
  // napi build writes the version into binding.js's checks; `napi version`
  // alone bumped the packages and left binding.js at the old one, which the
  // tag's .ci/run then found changed after its build.
  const loader = readFileSync(join(repoRoot, 'binding.js'), 'utf8')
  const expected = new Set([...loader.matchAll(/expected (\S+) but got/g)].map((m) => m[1]))
  t.deepEqual([...expected], [root.version])
  t.regex(root.scripts.version, /napi version && node scripts\/sync-cargo-version\.mjs && npm run build:native && git add npm binding\.js binding\.d\.ts Cargo\.toml Cargo\.lock/)
})

test('the Cargo workspace carries the npm package\'s version, and the crates in Cargo.lock too', (t) => {
  const cargo = readFileSync(join(repoRoot, 'Cargo.toml'), 'utf8')
  t.is(/\[workspace\.package\][^[]*?\nversion = "([^"]*)"/.exec(cargo)?.[1], root.version)
  const lock = readFileSync(join(repoRoot, 'Cargo.lock'), 'utf8')
  for (const crate of ['linux-fd-core', 'linux-fd-node']) {
    t.is(new RegExp(`name = "${crate}"\\nversion = "([^"]*)"`).exec(lock)?.[1], root.version, crate)
  }
})

test('packing a checkout with no dist/ compiles it first, from a clean dist/ (s38-release H1)', (t) => {
  // dist/ is git-ignored: without prepack, a tarball packed from a fresh
  // checkout (the release job's) had no dist/ and failed at require(). So
  // pack a copy of what the build needs, with scripts on, and a stale file
  // in dist/ that the build must remove.
  const dir = mkdtempSync(join(tmpdir(), 'linux-fd-prepack-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const f of ['package.json', 'tsconfig.build.json', 'src', 'binding.d.ts']) cpSync(join(repoRoot, f), join(dir, f), { recursive: true })
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'))
  mkdirSync(join(dir, 'dist'))
  writeFileSync(join(dir, 'dist', 'renamed-away.js'), '')
  const out = execFileSync('npm', ['pack', '--dry-run', '--json'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  const files = (JSON.parse(out) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path)
  t.true(files.includes('dist/index.js') && files.includes('dist/index.d.ts'), files.join(' '))
  t.false(files.includes('dist/renamed-away.js'), 'a stale file in dist/ is not shipped')
})

test('the root tarball lists only the entries, the compiled API, the binding loader, the typings, README, LICENSE, package.json and what the README links to', (t) => {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: repoRoot,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  })
  const [pack] = JSON.parse(out)
  const files: string[] = pack.files.map((f: { path: string }) => f.path).sort()
  const allowed = new Set(ROOT_TARBALL_FILES)
  t.deepEqual(
    files.filter((f) => !allowed.has(f) && !ROOT_TARBALL_DIST.test(f)),
    [],
    'no tests, Rust sources, .node files or build output',
  )
  for (const f of ROOT_TARBALL_FILES) t.true(files.includes(f), f)
  for (const m of ['index', 'eventfd', 'memfd', 'timerfd', 'fcntl', 'lock', 'waiter', 'errors']) {
    t.true(files.includes(`dist/${m}.js`) && files.includes(`dist/${m}.d.ts`), `dist/${m}`)
  }
  // npm shows the README: a relative link in it, or in a shipped doc it
  // leads to, must name a file the tarball has (a docs35 review found
  // shipped docs linking to four that were not).
  const shipped = (l: string): boolean => (l.endsWith('/') ? files.some((f) => f.startsWith(l)) : files.includes(l))
  const dead: string[] = []
  let links = 0
  for (const doc of files.filter((f) => f.endsWith('.md'))) {
    const text = readFileSync(join(repoRoot, doc), 'utf8')
    for (const m of text.matchAll(/\]\((?!https?:|#|mailto:)([^)#\s]+)/g)) {
      links++
      const target = posix.normalize(posix.join(posix.dirname(doc), m[1]!))
      if (!shipped(target)) dead.push(`${doc} -> ${m[1]}`)
    }
  }
  t.true(links > 10)
  t.deepEqual([...new Set(dead)], [], 'shipped docs link to files not in the tarball')
})
