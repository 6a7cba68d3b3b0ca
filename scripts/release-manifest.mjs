// What the published packages look like, derived from package.json's `napi`
// config the same way `napi create-npm-dirs` and `napi prepublish` derive it.
// Used by __test__/packaging.spec.ts (drift checks) and scripts/pack-test.mjs
// (packs the root exactly as it would be published).
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { parseTriple } from '@napi-rs/cli'

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..')

export function rootPackageJson() {
  return JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'))
}

/** One entry per `napi.targets` triple: the npm/<dir> package it ships in. */
export function platformPackages(pkg = rootPackageJson()) {
  const binaryName = pkg.napi.binaryName
  return pkg.napi.targets.map((triple) => {
    const t = parseTriple(triple)
    return {
      triple,
      dir: t.platformArchABI,
      name: `${pkg.name}-${t.platformArchABI}`,
      nodeFile: `${binaryName}.${t.platformArchABI}.node`,
      os: t.platform,
      cpu: t.arch,
      libc: t.abi === 'gnu' || t.abi === 'musl' ? (t.abi === 'gnu' ? 'glibc' : 'musl') : undefined,
    }
  })
}

/**
 * The root's `optionalDependencies` as `napi prepublish` writes them at
 * publish time: every target's package at the root's own version.
 */
export function expectedOptionalDependencies(pkg = rootPackageJson()) {
  return Object.fromEntries(platformPackages(pkg).map((p) => [p.name, pkg.version]))
}

/** The root package.json as published: the committed one plus the optional deps. */
export function publishedRootPackageJson(pkg = rootPackageJson()) {
  return { ...pkg, optionalDependencies: expectedOptionalDependencies(pkg) }
}

/** The files the root tarball must contain (besides the compiled `dist/`). */
export const ROOT_TARBALL_FILES = [
  'LICENSE',
  'README.md',
  'binding.d.ts',
  'binding.js',
  'index.d.mts',
  'index.d.ts',
  'index.js',
  'index.mjs',
  'package.json',
  // What the README links to, and what those docs link to: npm shows the
  // README, and the package names no repository to resolve its relative
  // links against.
  'CONTRIBUTING.md',
  'docs/bench-floor.md',
  'docs/design.md',
  'docs/fdchannel.md',
  'docs/migrating.md',
  'docs/notes-performance.md',
  'docs/notes-reliability.md',
  'docs/performance.md',
  'docs/platforms.md',
  'docs/reliability.md',
  'docs/testing.md',
  'examples/crash-safe-slots.ts',
  'examples/lock-and-memory.ts',
  'examples/semaphore-pool.ts',
  'examples/single-instance.ts',
  'examples/worker-wake.ts',
]

/** The compiled TypeScript API the root tarball carries: `dist/*.js` and `dist/*.d.ts`. */
export const ROOT_TARBALL_DIST = /^dist\/[a-z-]+\.(js|d\.ts)$/
