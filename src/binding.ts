/**
 * Loads the native binding (`binding.js`, the loader `napi build` writes,
 * and the platform's `.node` file). When the platform package is missing, the
 * error leads with its name and the one command that installs it.
 * Not part of the public API (only what src/index.ts re-exports is).
 * @module
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

type Binding = typeof import('../binding')

function isMusl(): boolean {
  try {
    return fs.readFileSync('/usr/bin/ldd', 'utf8').includes('musl')
  } catch {
    const report = process.report as { excludeNetwork?: boolean; getReport?: () => unknown } | undefined
    if (report?.getReport === undefined) return false
    report.excludeNetwork = true
    const header = (report.getReport() as { header?: { glibcVersionRuntime?: string } }).header
    return header?.glibcVersionRuntime === undefined
  }
}

/** The platform package this machine needs, e.g. `linux-fd-linux-x64-gnu`. */
export function platformPackage(): string {
  return `linux-fd-${process.platform}-${process.arch}${process.platform === 'linux' ? (isMusl() ? '-musl' : '-gnu') : ''}`
}

function load(): Binding {
  try {
    return require('../binding.js') as Binding
  } catch (cause) {
    let version = '<version>'
    try {
      version = (JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version
    } catch {}
    const pkg = platformPackage()
    throw new Error(
      `linux-fd: the native binary for this platform is missing: the package ${pkg} is not installed.\n` +
        `Install it with:\n\n    npm install ${pkg}@${version}\n\n` +
        `(It is an optional dependency of linux-fd. It may have been skipped by --omit=optional, or by npm's ` +
        `bug with optional dependencies and a lock file made on another platform, npm/cli#4828; then removing ` +
        `node_modules and package-lock.json and installing again also works.) The cause lists every file tried.`,
      { cause },
    )
  }
}

/**
 * The native functions (see crates/node), copied once onto an object with
 * V8's fast properties. The loader's own object has 150-odd properties added
 * one by one, which puts it in dictionary mode: each `native.x` in a hot
 * function was then a call into the LoadIC stub instead of an inlined field
 * load (with this copy and index.js's, the flock pair measured 0.96–0.98x
 * and the eventfd pair 0.95x of the build before; docs/bench-floor.md).
 * `Object.fromEntries` builds the copy in fast mode.
 */
export const native: Binding = Object.freeze(Object.fromEntries(Object.entries(load()))) as Binding
