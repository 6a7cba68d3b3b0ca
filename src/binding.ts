/**
 * Loads the native binding (`binding.js`, the loader `napi build` writes,
 * and the platform's `.node` file). When that fails, the error says which of
 * three cases it is: an unsupported machine, a binary that is there but does
 * not load (and the loader's reason), or a missing platform package (its name
 * and the one command that installs it).
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
    throw loadError(cause)
  }
}

/** The message of an error, or the value as a string. */
function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}

/**
 * The first message in `e`'s chain of causes that says more than that a
 * file was not found (binding.js chains one error per file it tried).
 */
function reasonOf(e: unknown): string {
  let c: unknown = e
  for (let depth = 0; c instanceof Error && depth < 32; depth++, c = c.cause) {
    if (!/^Cannot find (module|native binding)/.test(c.message)) return c.message
  }
  return messageOf(e)
}

/**
 * The error for a binding that did not load, leading with which of three
 * cases it is (s38-release M5: an unsupported machine and a binary that
 * would not load were both told to install a package, one that does not
 * exist for an unsupported machine):
 * - the machine is not one linux-fd is built for;
 * - its binary is there (a platform package, or a `.node` beside
 *   `binding.js`) but does not load: the dynamic loader's reason, which
 *   `binding.js` buries in its chain of causes, comes first;
 * - no binary: the package to install and the command.
 */
function loadError(cause: unknown): Error {
  if (process.platform !== 'linux' || (process.arch !== 'x64' && process.arch !== 'arm64')) {
    return new Error(
      `linux-fd: this platform (${process.platform} ${process.arch}) is not supported. linux-fd runs on Linux only, ` +
        `on x64 and arm64, with glibc 2.27+ or musl (docs/platforms.md).`,
      { cause },
    )
  }
  const pkg = platformPackage()
  const files = [path.join(__dirname, '..', `linux-fd.${pkg.slice('linux-fd-'.length)}.node`)]
  try {
    files.push(require.resolve(pkg))
  } catch {}
  const file = files.find((f) => fs.existsSync(f))
  if (file !== undefined) {
    try {
      require(file)
    } catch (e) {
      return new Error(
        `linux-fd: the native binary ${file} is installed but failed to load: ${messageOf(e)}\n` +
          `It needs glibc 2.27 or later, or musl with libgcc (Alpine: apk add libgcc); a damaged install is ` +
          `mended by removing node_modules and installing again (docs/platforms.md).`,
        { cause },
      )
    }
    // It loads now: what failed was binding.js's own check, say
    // NAPI_RS_ENFORCE_VERSION_CHECK's version match, whose words are deep in
    // the chain under binding.js's generic "Cannot find native binding"
    // (s38-diff M1).
    return new Error(`linux-fd: the native binding failed to load: ${reasonOf(cause)}`, { cause })
  }
  let version = '<version>'
  try {
    version = (JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version
  } catch {}
  return new Error(
    `linux-fd: the native binary for this platform is missing: the package ${pkg} is not installed.\n` +
      `Install it with:\n\n    npm install ${pkg}@${version}\n\n` +
      `(It is an optional dependency of linux-fd. It may have been skipped by --omit=optional, or by npm's ` +
      `bug with optional dependencies and a lock file made on another platform, npm/cli#4828; then removing ` +
      `node_modules and package-lock.json and installing again also works.) The cause lists every file tried.`,
    { cause },
  )
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
