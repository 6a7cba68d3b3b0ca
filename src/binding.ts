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

/**
 * This module's directory, or undefined in an ES module bundle (esbuild's
 * `--format=esm`), which has no `__dirname`: reading it there threw a
 * `ReferenceError` in place of the load error (s39-bundle M2).
 */
const here: string | undefined = typeof __dirname === 'string' ? __dirname : undefined

/**
 * The package's version: a `require` of its `package.json`, which a bundler
 * inlines, so a bundle's error names the version too (s39-bundle L2: it read
 * the file beside `__dirname`, which a bundle does not have).
 */
function packageVersion(): string {
  try {
    return (require('../package.json') as { version: string }).version
  } catch {
    return '<version>'
  }
}

function load(): Binding {
  let b: Binding
  try {
    b = require('../binding.js') as Binding
  } catch (cause) {
    b = loadFromRealPath(cause)
  }
  // esbuild's `--loader:.node=file` makes the `.node` a path string.
  if (typeof b?.fdHandleFd !== 'function') {
    throw new Error(
      'linux-fd: the native binding loaded as something else (a bundler replaced the .node file: with esbuild, ' +
        'use --loader:.node=copy, not file, or keep linux-fd external; docs/platforms.md#bundling).',
    )
  }
  return b
}

/**
 * Under `--preserve-symlinks`, a package that pnpm (or `npm link`) put
 * behind a symlink resolves its own dependencies from the link's directory,
 * where its platform package is not (s39-bundle M4: pnpm's store has it
 * beside the real one). Tries `binding.js` by its real path before giving
 * up, and throws the load error if that fails too.
 */
function loadFromRealPath(cause: unknown): Binding {
  if (here !== undefined) {
    const linked = path.join(here, '..', 'binding.js')
    let real: string | undefined
    try {
      real = fs.realpathSync(linked)
    } catch {}
    if (real !== undefined && real !== linked) {
      try {
        return require(real) as Binding
      } catch (e) {
        // A binary at the real directory that does not load is diagnosed
        // there (s39-diff L2: a broken one in a pnpm store was called
        // missing); if there is none, the link side's failure is the one
        // to explain (s39-diff2 M: a broken binary installed beside the
        // link was called a linked install).
        if (binaryAt(path.dirname(real)) !== undefined) throw loadError(e, path.dirname(real))
      }
    }
  }
  throw loadError(cause)
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
 * The binary linux-fd would load from its directory `root` (a `.node`
 * beside `binding.js`, or the platform package resolved from there), if one
 * is there; `root` undefined: from this module's own place, as `binding.js`
 * resolves it (in a bundle, the bundle's directory: s39-diff2 L).
 */
function binaryAt(root: string | undefined): string | undefined {
  const pkg = platformPackage()
  const dir = root ?? (here === undefined ? undefined : path.join(here, '..'))
  const files = dir === undefined ? [] : [path.join(dir, `linux-fd.${pkg.slice('linux-fd-'.length)}.node`)]
  try {
    files.push(root === undefined ? require.resolve(pkg) : require.resolve(pkg, { paths: [root] }))
  } catch {}
  return files.find((f) => fs.existsSync(f))
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
function loadError(cause: unknown, root?: string): Error {
  if (process.platform !== 'linux' || (process.arch !== 'x64' && process.arch !== 'arm64')) {
    return new Error(
      `linux-fd: this platform (${process.platform} ${process.arch}) is not supported. linux-fd runs on Linux only, ` +
        `on x64 and arm64, with glibc 2.27+ or musl (docs/platforms.md).`,
      { cause },
    )
  }
  const pkg = platformPackage()
  const file = binaryAt(root)
  if (file !== undefined) {
    try {
      require(file)
    } catch (e) {
      const why = messageOf(e)
      // The process, not the install, was short of something: out of fd
      // numbers or memory as dlopen ran (s49-limits L3: the advice to
      // reinstall was wrong there).
      const advice = /Too many open files|Cannot allocate memory|Resource temporarily unavailable/.test(why)
        ? 'The process was out of file descriptors or memory as it loaded it, which is no fault of the install: ' +
          'free some, and require linux-fd again.'
        : 'It needs glibc 2.27 or later, or musl with libgcc (Alpine: apk add libgcc); a damaged install is ' +
          'mended by removing node_modules and installing again (docs/platforms.md).'
      return new Error(`linux-fd: the native binary ${file} is installed but failed to load: ${why}\n${advice}`, { cause })
    }
    // It loads now: what failed was binding.js's own check, say
    // NAPI_RS_ENFORCE_VERSION_CHECK's version match, whose words are deep in
    // the chain under binding.js's generic "Cannot find native binding"
    // (s38-diff M1).
    return new Error(`linux-fd: the native binding failed to load: ${reasonOf(cause)}`, { cause })
  }
  // A binary that a bundler renamed (esbuild's copy loader) is not among
  // the files above; its loader's reason is still in the chain.
  const reason = reasonOf(cause)
  if (!/^Cannot find (module|native binding)/.test(reason)) {
    return new Error(
      `linux-fd: the native binary failed to load: ${reason}\nIn a bundle, a bundler may have renamed or replaced the .node ` +
        'file (esbuild: --loader:.node=copy, not file); docs/platforms.md#bundling.',
      { cause },
    )
  }
  const version = packageVersion()
  const outside = outsideProject(pkg)
  if (outside !== undefined) {
    return new Error(
      `linux-fd: this copy of linux-fd, at ${outside.dir}, cannot see ${pkg}, which is in ${outside.found}: it is ` +
        `outside that project (a file: dependency or npm link, or another project's copy). Install the package ` +
        `where this copy sees it:\n\n    cd ${outside.dir} && npm install --no-save --omit=dev ${pkg}@${version}\n\n` +
        `or, for a linked copy, install linux-fd with --install-links, or run node with --preserve-symlinks.`,
      { cause },
    )
  }
  // By the real path: under --preserve-symlinks `here` is the link's.
  let real = root ?? here ?? ''
  try {
    real = fs.realpathSync(real)
  } catch {}
  const pnpm = real.includes(`${path.sep}.pnpm${path.sep}`)
  const command = `${pnpm ? 'pnpm add' : 'npm install'} --save-optional --save-exact ${pkg}@${version}`
  return new Error(
    `linux-fd: the native binary for this platform is missing: the package ${pkg} is not installed.\n` +
      `Install it with:\n\n    ${command}\n\n` +
      `(It is an optional dependency of linux-fd, and saved as one, so that installs on other platforms do not ` +
      `fail on it. It may have been skipped by --omit=optional: for an image built that way, run ` +
      `npm install --no-save ${pkg}@${version} after npm ci. Or by npm's bug with optional dependencies and a lock ` +
      `file made on another platform, npm/cli#4828; then removing node_modules and package-lock.json and ` +
      `installing again also works.) The cause lists every file tried.`,
    { cause },
  )
}

/**
 * Where the platform package is, if this copy of linux-fd cannot see it but
 * the working directory's project can, and this copy lies outside that
 * project: a linux-fd linked from outside it (a `file:` directory or `npm
 * link`, at any depth), whose own dependencies npm did not install
 * (s39-bundle M4: the advice to install the package in the project did not
 * help), or another project's copy run from this one. Not a bundle (its
 * directory's parent is no linux-fd). The message claims no link: s39-diff
 * M2 found it said "linked" of another project's copy, and s39-diff2 found
 * that a check for the link itself missed one a level down.
 */
function outsideProject(pkg: string): { dir: string; found: string } | undefined {
  if (here === undefined) return undefined
  try {
    const dir = fs.realpathSync(path.join(here, '..'))
    if ((JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown }).name !== 'linux-fd') return undefined
    const found = path.dirname(path.dirname(require.resolve(`${pkg}/package.json`, { paths: [process.cwd()] })))
    const project = path.dirname(found)
    return dir.startsWith(project + path.sep) ? undefined : { dir, found }
  } catch {
    return undefined
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
