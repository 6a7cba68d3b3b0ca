/**
 * File locks that can be awaited: {@link lockFile}, {@link tryLockFile} and
 * the {@link FileLock} they give. Open-file-description (`F_OFD_SETLK`)
 * byte-range locks or whole-file `flock(2)` locks, whose waits block neither
 * the event loop nor libuv's threadpool, and end at once on an
 * `AbortSignal`.
 * @module
 */
import { statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import * as util from 'node:util'

import { AbortError, abortErrorOf, errnoError, illegalConstructor, invalidArgType, invalidArgValue, invalidThis, type ErrnoError } from './errors'
import { native } from './binding'
import { shown as shownAs } from './inspect'
import { toBool, toFd, toInt, toOptions, toSignal, unlisten } from './validate'
import { later } from './timers'
import { fairTurn } from './waiter'

type LockHandle = Exclude<ReturnType<typeof native.lockOpen>, number>
type LockWait = Exclude<ReturnType<typeof native.lockWait>, number>

/** Which lock family: `'ofd'` (`F_OFD_SETLK` byte-range locks) or `'flock'` (whole-file `flock(2)` locks). */
export type LockKind = 'ofd' | 'flock'

/** A byte range of an OFD lock: `length` 0 means "to the end of the file, however it grows". */
export interface LockRange {
  /** First byte (default 0). */
  start?: number | undefined
  /** Number of bytes (default 0: to the end of the file). */
  length?: number | undefined
}

/** Options of {@link tryLockFile} for an OFD lock, the default kind. */
export interface OfdLockOptions {
  /** A shared (read) lock instead of an exclusive (write) one. Default false. */
  shared?: boolean | undefined
  /** The byte range. Default: the whole file. */
  range?: LockRange | null | undefined
  /** `'ofd'`, the default. */
  kind?: 'ofd' | undefined
}

/** Options of {@link tryLockFile} for a `flock(2)` lock: always the whole file, so no `range`. */
export interface FlockLockOptions {
  /** A shared lock instead of an exclusive one. Default false. */
  shared?: boolean | undefined
  /** Not for `flock` locks (`ERR_INVALID_ARG_VALUE`). */
  range?: null | undefined
  /** `'flock'`. */
  kind: 'flock'
}

/**
 * Options of {@link tryLockFile}: `range` only with the `'ofd'` kind. It
 * never waits, so it takes no `wait` or `signal` (the run time refuses one
 * that is not undefined with `ERR_INVALID_ARG_VALUE`); the types refuse a
 * {@link LockOptions} object, which may have them.
 */
export type TryLockOptions = (OfdLockOptions | FlockLockOptions) & {
  /** Not taken: {@link tryLockFile} never waits (undefined means not given). */
  wait?: undefined
  /** Not taken: {@link tryLockFile} never waits (undefined means not given). */
  signal?: undefined
  /** Not taken: {@link tryLockFile} never waits (undefined means not given). */
  ref?: undefined
}

/** What {@link lockFile} takes besides {@link TryLockOptions}. */
export interface LockWaitOptions {
  /** Wait for a conflicting holder to release (default true); with false, a conflict rejects with `EAGAIN`. */
  wait?: boolean | undefined
  /** Aborts the wait: the promise rejects with an `AbortError`, and nothing stays locked. */
  signal?: AbortSignal | undefined
  /**
   * Whether a wait for a held lock keeps the event loop alive (default
   * true), as `ref` of `timers/promises`' `setTimeout` does. With false, the
   * process may exit while the lock is awaited: the promise then never
   * settles, and nothing stays locked.
   */
  ref?: boolean | undefined
}

/** Options of {@link lockFile}. */
export type LockOptions = (OfdLockOptions | FlockLockOptions) & LockWaitOptions

const EBADF = -9
const EISDIR = -21
const EAGAIN = -11
const ENOENT = -2
const ENOTDIR = -20
const EINVAL = -22
const EOPNOTSUPP = -95
const ECANCELED = -125
const EMFILE = -24
const ENFILE = -23
/** What `lockDupTry` adds to a failed dup's errno (`-(4096 + errno)`), against a failed lock's `-errno`. */
const DUP_FAILED = 4096
/** A `FileLock`'s `#fd` before its number was asked of the binding (see `FileLock.#fdNow`). */
const FD_UNREAD = -2
const MAX_SAFE = Number.MAX_SAFE_INTEGER

/** A path as `node:fs` takes one, after a `file:` URL is turned into a string. */
type LockPath = string | Uint8Array

/** What a lock is of. Never changed once made, so the whole-file ones are shared (see `specOf`). */
interface Spec {
  readonly kind: LockKind
  readonly shared: boolean
  readonly start: number
  readonly length: number
  /** A whole-file spec as `lockDupTry`'s `how` (1 for flock, | 2 for shared); -1 for a byte range. */
  readonly how: number
}

const newSpec = (kind: LockKind, shared: boolean, start: number, length: number): Spec => ({
  kind,
  shared,
  start,
  length,
  how: start === 0 && length === 0 ? (kind === 'flock' ? 1 : 0) | (shared ? 2 : 0) : -1,
})

/**
 * The four whole-file specs, made once: most locks are of the whole file, and
 * a new spec per call was 56 of the 231 bytes of V8 heap that each
 * `tryLockFile(fd, options).release()` allocated (each byte brings the next
 * scavenge nearer).
 */
const OFD_EX = newSpec('ofd', false, 0, 0)
const OFD_SH = newSpec('ofd', true, 0, 0)
const FLOCK_EX = newSpec('flock', false, 0, 0)
const FLOCK_SH = newSpec('flock', true, 0, 0)

/** The spec of these values: a shared one for the whole file, else a new one. */
function specOf(kind: LockKind, shared: boolean, start: number, length: number): Spec {
  if (start !== 0 || length !== 0) return newSpec(kind, shared, start, length)
  if (kind === 'ofd') return shared ? OFD_SH : OFD_EX
  return shared ? FLOCK_SH : FLOCK_EX
}

/**
 * A WHATWG `URL`, from this realm or another (a worker's, a `vm` context's):
 * what `node:fs` takes as a path, found as Node finds it (an `href` and a
 * `protocol`, and none of the legacy `url.parse` object's `auth`/`path`).
 */
function isURL(value: unknown): value is URL {
  if (value instanceof URL) return true
  if (typeof value !== 'object' || value === null) return false
  const u = value as { href?: unknown; protocol?: unknown; auth?: unknown; path?: unknown }
  return typeof u.href === 'string' && typeof u.protocol === 'string' && u.auth === undefined && u.path === undefined
}

/** The keys of a lock's options, and of its `range`: made once, not an array per call. */
const OPTION_KEYS = ['shared', 'wait', 'signal', 'ref', 'range', 'kind'] as const
const RANGE_KEYS = ['start', 'length'] as const

/**
 * Checks `fileOrPath`: the first half of a request, which every caller
 * checks completely, then its options ({@link lockSpec}), before anything
 * is opened. Two calls, not one that returns both: `tryLockFile(fd)` then
 * allocates no request object (64 of the 202 bytes of V8 heap it took a
 * call, stop 42; V8 does not inline a function of this size, so the object
 * was never optimized away).
 */
function lockTarget(fileOrPath: unknown): LockPath | number {
  let target: LockPath | number
  // An fd number first: the path tests below are false for one, but
  // `isURL`'s `instanceof URL` of a number took V8's generic path (a
  // `GetProperty` of `URL[Symbol.hasInstance]`) on every `tryLockFile(fd)`.
  if (typeof fileOrPath === 'number') {
    target = toFd(fileOrPath, 'fileOrPath')
  } else if (typeof fileOrPath === 'string' || util.types.isUint8Array(fileOrPath) || isURL(fileOrPath)) {
    // A path as Node's fs takes one: a string, its bytes, or a file: URL.
    // fileURLToPath throws Node's own ERR_INVALID_URL_SCHEME, ERR_INVALID_FILE_URL_HOST, … codes.
    // Bytes are copied: the path is read again when a lock is checked
    // against it and on a restart (see `keep`), and the caller may reuse,
    // fill or transfer its buffer meanwhile (diff36 H1).
    const path = typeof fileOrPath === 'string' ? fileOrPath : util.types.isUint8Array(fileOrPath) ? new Uint8Array(fileOrPath) : fileURLToPath(fileOrPath)
    if (typeof path === 'string' ? path.includes('\u0000') : path.includes(0)) {
      throw invalidArgValue('fileOrPath', fileOrPath, 'must be a string, Uint8Array, or URL without null bytes')
    }
    target = path
  } else if (typeof fileOrPath === 'object' && fileOrPath !== null) {
    target = toFd(fileOrPath, 'fileOrPath')
  } else {
    throw invalidArgType('fileOrPath', 'of type string or number, an instance of Buffer, Uint8Array or URL, or a FileHandle', fileOrPath)
  }
  return target
}

/** What {@link lockSpec} reads of `lockFile`'s options besides the spec. */
interface WaitRequest {
  wait: boolean
  signal: AbortSignal | undefined
  ref: boolean
}

/**
 * Checks a request's options (after its target, {@link lockTarget}): the
 * spec, and `lockFile`'s wait options into `out`.
 */
function lockSpec(options: unknown, caller: 'lockFile' | 'tryLockFile' | 'testLock', out?: WaitRequest): Spec {
  const o = toOptions(options, 'options', OPTION_KEYS)
  // Each option is read once: a getter cannot answer the checks one way
  // and the lock another (a `kind` getter made a FileLock of kind 'bogus').
  const { shared: oShared, wait: oWait, signal: oSignal, ref: oRef, range: oRange, kind: oKind } = o
  // tryLockFile never waits: `wait`, `signal` and `ref` are refused unless
  // undefined, which everywhere means "not given" (so `{ signal: undefined }`,
  // which its typings allow, is fine).
  if (caller !== 'lockFile') {
    if (oWait !== undefined) throw invalidArgValue('options.wait', oWait, `is not taken by ${caller}, which never waits`)
    if (oSignal !== undefined) throw invalidArgValue('options.signal', oSignal, `is not taken by ${caller}, which never waits`)
    if (oRef !== undefined) throw invalidArgValue('options.ref', oRef, `is not taken by ${caller}, which never waits`)
  }
  const shared = toBool(oShared, 'options.shared', false)
  const wait = toBool(oWait, 'options.wait', true)
  const signal = toSignal(oSignal)
  const ref = toBool(oRef, 'options.ref', true)
  let kind: LockKind = 'ofd'
  if (oKind !== undefined) {
    if (typeof oKind !== 'string') throw invalidArgType('options.kind', 'of type string', oKind)
    if (oKind !== 'ofd' && oKind !== 'flock') throw invalidArgValue('options.kind', oKind, "must be 'ofd' or 'flock'")
    if (oKind === 'flock' && caller === 'testLock') {
      throw invalidArgValue('options.kind', oKind, "must be 'ofd': the kernel reports no flock(2) lock without taking it (use tryLockFile)")
    }
    kind = oKind
  }
  let start = 0
  let length = 0
  if (oRange !== undefined && oRange !== null) {
    if (kind === 'flock') {
      throw invalidArgValue('options.range', oRange, 'is not supported by flock locks (they cover the whole file)')
    }
    if (typeof oRange !== 'object') throw invalidArgType('options.range', 'of type object', oRange)
    const r = toOptions(oRange, 'options.range', RANGE_KEYS)
    const { start: rStart, length: rLength } = r
    start = toInt(rStart, 'options.range.start', 0, MAX_SAFE, 0)
    length = toInt(rLength, 'options.range.length', 0, MAX_SAFE, 0)
  }
  if (out !== undefined) {
    out.wait = wait
    out.signal = signal
    out.ref = ref
  }
  return specOf(kind, shared, start, length)
}

/** The path of a path lock, as errors show it (s49-limits L4: a wait's errors had none); none for an fd's. */
const pathOf = (target: LockPath | number): string | undefined => (typeof target === 'number' ? undefined : pathText(target))

/** The handle for `target`: its own fd, opened from a path or duplicated. Throws the OS error. */
function open(target: LockPath | number, spec: Spec): LockHandle {
  const flock = spec.kind === 'flock'
  const h =
    typeof target === 'number'
      ? native.lockDup(target, flock, spec.shared, spec.start, spec.length)
      : native.lockOpen(target, flock, spec.shared, spec.start, spec.length)
  if (typeof h !== 'number') {
    if (typeof target !== 'number' && (typeof target === 'string' ? target[0] !== '/' : target[0] !== 0x2f)) cwds.set(h, cwd())
    return h
  }
  if (typeof target === 'number') throw errnoError(h, 'fcntl')
  // An exclusive OFD lock opens its file for writing, which a directory
  // refuses (a user coming from proper-lockfile, which locks directories;
  // comp35 M2). Not a 'flock' lock alone for a lock directory that
  // proper-lockfile left: it would exclude nobody (s38-migrate M3).
  // A path ending in '/' names a directory whatever is there, and every
  // lock of it is EISDIR if it is a file or missing (s39-locks L3).
  const slash = h === EISDIR && (typeof target === 'string' ? target.endsWith('/') : target[target.length - 1] === 0x2f)
  const hint =
    slash && !isDirectory(target)
      ? "a path ending in '/' names a directory: drop the '/' to lock a file"
      : h === EISDIR && spec.kind === 'ofd' && !spec.shared
        ? "a directory opens only for reading: lock a file, or take a 'flock' or shared lock of the directory; " +
          'a <file>.lock directory that proper-lockfile left is not a kernel lock, see docs/migrating.md'
        : undefined
  throw errnoError(h, 'open', pathText(target), hint)
}

/** Whether `p` names a directory now (false if it cannot be read). */
function isDirectory(p: LockPath): boolean {
  try {
    return statSync(typeof p === 'string' ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength), { throwIfNoEntry: false })?.isDirectory() === true
  } catch {
    return false
  }
}

/**
 * The working directory a handle opened by a relative path was opened in.
 * `keep` checks such a path only while the process is still there: after a
 * `process.chdir()` the path names a file in another directory, and a
 * restart would lock that one instead of the one the caller asked for
 * (diff36 M2); the lock is then kept unchecked.
 */
const cwds = new WeakMap<LockHandle, string>()

/** `process.cwd()`, or '' where it cannot be read (a removed directory). */
function cwd(): string {
  try {
    return process.cwd()
  } catch {
    return ''
  }
}

/** A path as text, for messages: a buffer path's bytes as UTF-8. */
const pathText = (p: LockPath): string => (typeof p === 'string' ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength).toString())

const syscallOf = (spec: Spec): string => (spec.kind === 'flock' ? 'flock' : 'fcntl')

/**
 * Whether a lock just taken through a path may be kept: the path must still
 * name the locked file. A holder that unlinks or replaces the lock file
 * before releasing it (as proper-lockfile users do) leaves its waiters
 * locking an orphan that excludes no one who opens the path afterwards; so
 * a lock by path checks, and on `false` (the handle is then released)
 * starts over on the path. An fd target is kept as it is. Throws (having
 * released the handle) if the path cannot be checked, or names nothing now
 * and the locked file was a directory (`ENOENT`).
 */
function keep(h: LockHandle, target: LockPath | number): boolean {
  if (typeof target === 'number') return true
  const dir = cwds.get(h)
  if (dir !== undefined && dir !== cwd()) return true
  const r = native.lockNamesPath(h, target)
  if (r === 1) return true
  native.lockRelease(h)
  if (r === 0) return false
  // A missing path is an error only for a locked directory (core
  // `names_file`): a start over would make a regular file in its place.
  const hint = r === ENOENT || r === ENOTDIR ? 'the locked directory is no longer at the path (removed or renamed away): a lock of a directory does not make a new one' : undefined
  throw errnoError(r, 'stat', pathText(target), hint)
}

/** The lock just taken through `h` (fd number `fd`), or null if `keep` released it. */
const granted = (h: LockHandle, spec: Spec, fd: number, target: LockPath | number): FileLock | null => (keep(h, target) ? makeLock(h, spec, fd, target) : null)

/**
 * How many times in a row a free lock may turn out to be on a replaced file
 * before a lock gives up (`tryLockFile`: null, `lockFile`: `EAGAIN`), so that
 * a path replaced without pause cannot hold the event loop. Each restart
 * that went through a wait starts the count again.
 */
const REPLACED_TRIES = 100

// Only this module can make a FileLock (see the constructor).
const TOKEN: unique symbol = Symbol('FileLock')
let makeLock: (h: LockHandle, spec: Spec, fd: number, target: LockPath | number) => FileLock

/**
 * Says when garbage collection released a held lock (the handle's finalizer
 * unlocks and closes its fd; this only tells). A lock taken for its side
 * effect ("only one instance runs") and not kept referenced is otherwise
 * lost at a moment no one sees. A warning, as Node's for a `FileHandle`
 * closed by garbage collection.
 */
const collected = new FinalizationRegistry<{ what: string; kind: LockKind }>(({ what, kind }) => {
  try {
    process.emitWarning(`A FileLock (${kind}, ${what}) was released by garbage collection: nothing referenced it`, {
      code: 'LINUX_FD_LOCK_COLLECTED',
      detail: 'Keep the FileLock referenced for as long as the lock must hold, and release() it (or use `using`).',
    })
  } catch {} // a replaced process.emitWarning: the lock is gone either way, and this runs at a moment no caller chose
})

/**
 * A held file lock, from {@link lockFile} or {@link tryLockFile}.
 * `release()` unlocks it and closes the package's fd of the file; so does
 * garbage collection, but do not rely on that: release explicitly, or use
 * `using` / `await using`.
 *
 * - `kind: 'ofd'`: an open-file-description lock (`F_OFD_SETLK`, Linux
 *   3.15+) on a byte range. It belongs to the lock's own open file
 *   description, so closing *other* fds of the file does not drop it
 *   (unlike classic POSIX `F_SETLK` locks, which any `close()` of the file
 *   drops).
 * - `kind: 'flock'`: a whole-file `flock(2)` lock.
 *
 * The two kinds do not exclude each other (Linux keeps `flock` locks apart
 * from `fcntl` record locks, except on NFS, where `flock` is emulated with
 * byte-range locks): use the kind the other programs use.
 * `flock(1)` and Python's `fcntl.flock` take `'flock'` locks; `'ofd'` locks
 * conflict with classic POSIX record locks (`fcntl(F_SETLK)`, `lockf`,
 * Python's `fcntl.lockf`) as well as with each other.
 *
 * Both are released by the kernel when the process dies, and by garbage
 * collection of a `FileLock` nothing references: keep the lock referenced
 * for as long as it must hold (a lock taken only for its side effect, as in
 * "only one instance runs", is released at the next collection). A lock
 * released that way emits a process warning (code
 * `LINUX_FD_LOCK_COLLECTED`, naming the path or fd), as Node warns for a
 * `FileHandle` that garbage collection closes.
 *
 * If JS closes `lock.fd` itself (`fs.closeSync(lock.fd)`), `release()`
 * throws `EBADF` and never unlocks or closes whatever file now has that
 * number; the lock itself is then gone only if no other fd shares the
 * lock's open file description.
 * @see https://man7.org/linux/man-pages/man2/fcntl.2.html
 * @see https://man7.org/linux/man-pages/man2/flock.2.html
 * @example
 * ```ts
 * {
 *   using lock = await lockFile('/tmp/app.lock')
 *   // … only one process at a time runs this …
 * } // released here
 * ```
 */
export class FileLock implements Disposable, AsyncDisposable {
  #h: LockHandle | null
  #fd: number
  #lostFd = -1
  readonly #spec: Spec
  /** Whether `collected` watches it. */
  #watched = false

  static {
    // Registered with `collected` late, once the event loop turns (the check
    // phase) or once 64 are waiting, and only if still held then: a
    // registration and its removal cost about 0.5 µs (a tenth of
    // `tryLockFile(fd).release()`), and most locks of a busy loop, or of
    // `await lockFile(…)` followed by work and `release()` in the same turn,
    // are released by then. A buffer path is read into a string at once:
    // the caller may reuse or transfer its buffer before the warning.
    // Two arrays of 64 and a count, each entry cleared as it is flushed (so
    // no lock is kept alive here), and one `setImmediate` pending at most: a
    // batch flushed at 64 leaves the pending one to flush the next at the
    // turn. Arrays emptied with `length = 0` grew back from nothing (three
    // reallocations each per 64 locks), and each batch flushed at 64 queued
    // another `setImmediate`: together about 40 bytes of heap and 270
    // instructions per `tryLockFile(fd)` (callgrind).
    const BATCH = 64
    const unseen = new Array<FileLock | undefined>(BATCH).fill(undefined)
    const targets = new Array<string | number | undefined>(BATCH).fill(undefined)
    let count = 0
    let scheduled = false
    const flush = (): void => {
      for (let i = 0; i < count; i++) {
        const lock = unseen[i]!
        const target = targets[i]!
        unseen[i] = undefined
        targets[i] = undefined
        if (lock.#h === null) continue
        lock.#watched = true
        const what = typeof target === 'number' ? `taken through fd ${target}` : target
        collected.register(lock, { what, kind: lock.#spec.kind }, lock)
      }
      count = 0
    }
    const onTurn = (): void => {
      scheduled = false
      flush()
    }
    makeLock = (h, spec, fd, target) => {
      const lock = new FileLock(TOKEN, h, spec, fd)
      const shown = typeof target === 'number' ? target : pathText(target)
      unseen[count] = lock
      targets[count] = shown
      if (++count === BATCH) flush()
      else if (!scheduled) {
        scheduled = true
        later(onTurn)
      }
      return lock
    }
  }

  /** Not for `new`: locks come from {@link lockFile} and {@link tryLockFile}. @throws {TypeError} `ERR_ILLEGAL_CONSTRUCTOR`. */
  private constructor(token: typeof TOKEN, h: LockHandle, spec: Spec, fd: number) {
    if (token !== TOKEN) throw illegalConstructor()
    this.#h = h
    this.#spec = spec
    this.#fd = fd
  }

  /** Whether this is a shared (read) lock rather than an exclusive (write) one. */
  get shared(): boolean {
    if (typeof this !== 'object' || this === null || !(#h in this)) throw invalidThis('FileLock')
    return this.#spec.shared
  }

  /** `'ofd'` or `'flock'`. */
  get kind(): LockKind {
    if (typeof this !== 'object' || this === null || !(#h in this)) throw invalidThis('FileLock')
    return this.#spec.kind
  }

  /**
   * The locked byte range (`length` 0 = to the end of the file, however it
   * grows), a new object each time; `null` for `flock` locks, which cover the
   * whole file.
   */
  get range(): {
    /** The first locked byte. */
    readonly start: number
    /** The number of bytes locked; 0: to the end of the file. */
    readonly length: number
  } | null {
    if (typeof this !== 'object' || this === null || !(#h in this)) throw invalidThis('FileLock')
    return this.#spec.kind === 'flock' ? null : { start: this.#spec.start, length: this.#spec.length }
  }

  /**
   * The package's own fd of the locked file, or -1 once released. The lock
   * belongs to its open file description: passed to another process
   * (`spawn`'s `stdio`, an `FdChannel`), it keeps the lock held after this
   * process dies, until every copy is closed, and a `release()` here
   * unlocks it for that process too.
   */
  get fd(): number {
    if (typeof this !== 'object' || this === null || !(#h in this)) throw invalidThis('FileLock')
    return this.#fdNow()
  }

  /**
   * `#fd`, asked of the handle the first time for a lock that `lockDupTry`
   * took (which does not return it: `tryLockFile(fd)` makes two binding
   * calls, as the same-syscalls floor does, and most callers never read
   * `fd`); -1 once released.
   */
  #fdNow(): number {
    const h = this.#h
    if (this.#fd === FD_UNREAD && h !== null) this.#fd = native.lockFd(h)
    return this.#fd
  }

  /** Whether `release()` was called (or found the fd closed outside the package). */
  get released(): boolean {
    if (typeof this !== 'object' || this === null || !(#h in this)) throw invalidThis('FileLock')
    return this.#h === null
  }

  #lostError(): ErrnoError {
    const err = errnoError(EBADF, 'release')
    const message =
      `${err.message}: fd ${this.#lostFd} of this FileLock was closed outside linux-fd (e.g. by fs.closeSync(lock.fd)); ` +
      'the FileLock gave the number up without unlocking or closing it'
    Object.defineProperty(err, 'message', { value: message, writable: true, enumerable: false, configurable: true })
    if (typeof err.stack === 'string') {
      Object.defineProperty(err, 'stack', { value: err.stack.replace(/^.*$/m, `Error: ${message}`), writable: true, enumerable: false, configurable: true })
    }
    return err
  }

  /**
   * Unlocks and closes the lock's fd. Idempotent.
   *
   * First checks with one `fstat` (device, inode, type) that `fd` is still
   * the locked file. If JS closed it (`fs.closeSync(lock.fd)`), the number
   * may belong to another file now: the lock forgets it without unlocking or
   * closing anything, and this and every later `release()` throw `EBADF`
   * (`syscall` `'release'`). A reopen of the same file onto that number
   * passes the check.
   * @throws {Error} the unlock's errno (`syscall` `'fcntl'` or `'flock'`; the fd is closed anyway); `EBADF` if the fd was closed outside the package.
   * @throws {TypeError} `ERR_INVALID_THIS` when called on something that is not a FileLock.
   * @see https://man7.org/linux/man-pages/man2/fcntl.2.html (`F_OFD_SETLK` with `F_UNLCK`)
   * @see https://man7.org/linux/man-pages/man2/flock.2.html (`LOCK_UN`)
   */
  release(): void {
    if (typeof this !== 'object' || this === null || !(#h in this)) throw invalidThis('FileLock')
    const h = this.#h
    if (h === null) {
      if (this.#lostFd >= 0) throw this.#lostError()
      return
    }
    const fd = this.#fd
    this.#h = null
    this.#fd = -1
    if (this.#watched) collected.unregister(this)
    const r = native.lockRelease(h)
    if (r === EBADF) {
      // The handle keeps the number it gave up (`lockFd`).
      this.#lostFd = fd === FD_UNREAD ? native.lockFd(h) : fd
      throw this.#lostError()
    }
    if (r < 0) throw errnoError(r, syscallOf(this.#spec))
  }

  /** Same as `release()`, for `using`. */
  [Symbol.dispose](): void {
    if (typeof this !== 'object' || this === null || !(#h in this)) throw invalidThis('FileLock')
    this.release()
  }

  /** Same as `release()`, for `await using`; rejects instead of throwing. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (typeof this !== 'object' || this === null || !(#h in this)) throw invalidThis('FileLock')
    this.release()
  }

  /** `FileLock { fd: 21, kind: 'ofd', shared: false, range: { start: 0, length: 0 }, released: false }`. */
  [util.inspect.custom](depth: number, options: object): string {
    if (typeof this !== 'object' || this === null || !(#h in this)) return 'FileLock {}'
    const shown: Record<string, unknown> = { fd: this.#fdNow(), kind: this.#spec.kind, shared: this.#spec.shared }
    if (this.#spec.kind === 'ofd') shown.range = { start: this.#spec.start, length: this.#spec.length }
    shown.released = this.#h === null
    return shownAs(this, 'FileLock', shown, depth, options)
  }
}

/**
 * `tryLockFile(fileOrPath, options?)`—Takes a lock if it is free right now;
 * returns `null` if another holder conflicts. Never waits.
 *
 * `fileOrPath` is a path (a FIFO or device too is opened read-write, which
 * releases a FIFO's blocked writer: lock those through an fd you opened;
 * opened with `O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY`, mode
 * 0666 less the umask, and held until release; a lock that needs no write
 * access, `kind: 'flock'` or `shared`, falls back to a read-only open of a
 * file the user may only read, of a directory, on a read-only mount, of a
 * running program or of an append-only or immutable file), an
 * fd number, or a `FileHandle` (both duplicated, so the lock lives on that
 * fd's open file description, and the lock owns and closes its own dup).
 *
 * Locks taken through the same fd share its open file description, and the
 * kernel sees one owner: a second lock through it is not a conflict but a
 * change of the first. A `'flock'` lock is of the whole file: releasing
 * either drops both, as does its garbage collection or the end of the
 * worker that took it. The description's `'ofd'` locks are one set of
 * ranges (fcntl(2)): a lock over part of another sets that part's mode (a
 * shared one inside an exclusive one lets other processes take that part
 * shared), and a release unlocks its own range whatever else covered it
 * (a hole in a larger lock, whose `FileLock` still says `released:
 * false`); a disjoint range stays. Take one lock per description, or lock
 * by path (each path lock opens its own). Changing a `'flock'` lock's mode
 * through the same description is not atomic (flock(2)): an upgrade that
 * does not succeed at once (a `tryLockFile` that returns `null`, a
 * `lockFile` that has to wait, with `wait: false` too, whether it is later
 * granted, aborted or not) has dropped the shared lock at its first try,
 * and other processes may take the file meanwhile; the shared lock's
 * `FileLock` still says `released: false`.
 * A path is opened and its fd closed when the lock is released or refused,
 * which drops any {@link lockf} lock this process holds on the file. Through
 * an fd, the lock's dup is closed the same way, which also drops those, and
 * an {@link F_NOTIFY} watch set through that fd's open file description (the
 * kernel removes a process's dnotify watch on any close of it). An exclusive `'ofd'` lock through an
 * fd needs it open for writing, a shared one for reading (`EBADF`
 * otherwise).
 *
 * A lock by path is kept only if the path still names the locked file
 * afterwards (a `stat`): one taken on a file that was unlinked or renamed
 * over meanwhile is released, and the path opened and tried again.
 * `lockFile` waiters do the same when granted. So an exclusive lock of the
 * whole file may remove its file as its last act, right before release
 * (`fs.unlinkSync(path); lock.release()`), and the next holder locks a new
 * one. Not a shared or byte-range lock (another holder keeps its lock on
 * the removed file while a newcomer locks the new one), nor a holder that
 * goes on working after the unlink; and not on NFS, where another client's
 * cached view of the path may not see the change. A relative path is
 * checked only while the working directory is the one it was opened in.
 * A locked directory that is removed is not made again as a file: its
 * lock is released and `ENOENT` (`syscall` `'stat'`) thrown, or rejected.
 * @param fileOrPath - a path (a string, `Buffer`/`Uint8Array` or `file:` URL, as `node:fs` takes), an fd number, or an object with a numeric `fd` (a `FileHandle`).
 * @param options - `shared` (default false), `range: { start, length }` (OFD only; default the whole file), `kind: 'ofd' | 'flock'` (default `'ofd'`).
 * @returns the lock, or `null` on a conflict (or if the path was replaced as it was locked, 100 times in a row).
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` / `ERR_INVALID_ARG_VALUE` for bad arguments (an unknown option key included).
 * @throws {RangeError} `ERR_OUT_OF_RANGE` for a range bound outside 0 … 2^53-1.
 * @throws {Error} `ENOENT`, `EACCES`, `EISDIR` (`syscall` `'open'`), `EBADF`, … from opening or locking; `ENOENT` (`syscall` `'stat'`) for a directory removed as it was locked.
 * @see https://man7.org/linux/man-pages/man2/fcntl.2.html
 * @see https://man7.org/linux/man-pages/man2/flock.2.html
 * @example
 * ```ts
 * const lock = tryLockFile('/tmp/app.lock')
 * if (lock === null) console.log('busy')
 * else lock.release()
 * ```
 */
export function tryLockFile(fileOrPath: string | Uint8Array | URL | number | { fd: number }, options?: TryLockOptions): FileLock | null {
  const target = lockTarget(fileOrPath)
  const spec = lockSpec(options, 'tryLockFile')
  if (typeof target === 'number' && spec.how >= 0) {
    // Through an fd, a whole-file lock's dup and try are one call, and the
    // lock is always kept (see `keep`); the fd number is asked for only if
    // JS reads `lock.fd`. As `open` and the loop below would: a failed dup
    // throws with `syscall` 'fcntl', a failed lock as `lockError` says. A
    // byte range takes the loop (`lockDupTry` reads no range).
    const h = native.lockDupTry(target, spec.how)
    if (typeof h !== 'number') return makeLock(h, spec, FD_UNREAD, target)
    if (h === EAGAIN) return null
    if (h < -DUP_FAILED) throw errnoError(h + DUP_FAILED, 'fcntl')
    throw lockError(h, spec, target)
  }
  for (let tries = 1; ; tries++) {
    const h = open(target, spec)
    // The fd number if locked, -EAGAIN on a conflict, else -errno.
    const r = native.lockTry(h)
    if (r >= 0) {
      const lock = granted(h, spec, r, target)
      if (lock !== null || tries === REPLACED_TRIES) return lock
      continue
    }
    native.lockRelease(h)
    if (r === EAGAIN) return null
    throw lockError(r, spec, target)
  }
}

/** Options of {@link testLock}. */
export interface TestLockOptions {
  /** Test for a shared (read) lock instead of an exclusive (write) one: only an exclusive lock is then in the way. Default false. */
  shared?: boolean | undefined
  /** The byte range to test. Default: the whole file. */
  range?: LockRange | null | undefined
  /** `'ofd'`, the only kind that can be tested (the kernel reports no `flock(2)` lock without taking it). */
  kind?: 'ofd' | undefined
  /** Not taken: {@link testLock} never waits (undefined means not given). */
  wait?: undefined
  /** Not taken: {@link testLock} never waits (undefined means not given). */
  signal?: undefined
  /** Not taken: {@link testLock} never waits (undefined means not given). */
  ref?: undefined
}

/** A lock that {@link testLock} found in the way. */
export interface LockConflict {
  /**
   * `'ofd'`: an open-file-description lock ({@link lockFile}'s default
   * kind, `F_OFD_SETLK`), which belongs to no process; `'posix'`: a classic
   * POSIX record lock ({@link lockf}, `F_SETLK`, Python's `fcntl.lockf`) of
   * process {@link LockConflict.pid}.
   */
  readonly kind: 'ofd' | 'posix'
  /** Whether it is a shared (read) lock; else it is exclusive (write). */
  readonly shared: boolean
  /**
   * The pid of a `'posix'` lock's process; `null` for an `'ofd'` lock. 0 if
   * that process is in another PID namespace, 0 or less for a lock taken
   * on another machine (NFS, CIFS, Ceph, GFS2: no pid of this machine; such
   * a lock may also show as `'ofd'` or as `'posix'` whatever its kind).
   */
  readonly pid: number | null
  /** The byte range it covers; `length` 0 means to the end of the file. Offsets past 2^53 are rounded to the nearest number. */
  readonly range: {
    /** Its first byte. */
    readonly start: number
    /** Its length in bytes; 0 means to the end of the file. */
    readonly length: number
  }
}

/**
 * `testLock(fileOrPath, options?)`—Which lock, if any, would stop an OFD
 * lock of the file right now (`fcntl(F_OFD_GETLK)`). Takes nothing, and
 * waits for nothing: proper-lockfile's `check()`, with the holder's range,
 * mode and, for a POSIX record lock, its pid.
 *
 * It sees `'ofd'` locks ({@link lockFile} and {@link tryLockFile} by
 * default) and POSIX record locks ({@link lockf}, `F_SETLK`: SQLite's,
 * say), which conflict with each other, in any process and in this one;
 * not `'flock'` locks, another family, which no `fcntl` call reports (only
 * `/proc/locks` lists them), so `kind: 'flock'` is refused: try
 * {@link tryLockFile} and release. The kernel names one lock in the way
 * even where several are. On NFS and cluster file systems `flock` locks are
 * POSIX locks, and a remote lock's `pid` is 0 or less (see
 * {@link LockConflict.pid}).
 *
 * A path is opened for the test alone, so that it changes nothing: on a
 * thread of the package's with an fd table of its own (Linux 5.9's
 * `close_range`), whose close drops none of this process's POSIX locks
 * (closing any fd of a file in the process's table drops them all), and
 * read-only, never for writing (`EACCES` for a file this user may only
 * write), and only a regular file or a directory: `EINVAL` for a FIFO, a
 * device or a socket, whose open has side effects (a FIFO writer released,
 * a serial line reset). A read open still breaks another process's write
 * lease (`F_SETLEASE`, as Samba takes), as any reader's does. No file is
 * created, and a path that names no file (`ENOENT`) gives `null`, as
 * nothing can be locked there. A directory gives `null` for an exclusive
 * test too, though {@link lockFile} can take only a shared or `'flock'`
 * lock of one (`EISDIR`). The thread runs with every signal blocked, so
 * none sent to the process is lost to it. Each JS thread has its own,
 * started at its first call and kept until that thread ends. Making its
 * table, the kernel copies this process's fds 0–63 for a moment and closes
 * the copies, and that first call waits for it: those files are flushed as
 * by a close (an NFS file open for writing writes back, FUSE gets a
 * `FLUSH`; no lock of the process's is dropped), and a last close of one
 * of them by another thread meanwhile (a lock's release, a pipe's end)
 * takes effect some microseconds later. A call costs tens of µs (through
 * an fd, 0.5 µs). A
 * `/proc/thread-self/...` path names that thread's own (empty) fd table:
 * use `/proc/self/fd/N`.
 *
 * An fd or `FileHandle` is tested through its own open file description,
 * whose own locks are never in its way.
 *
 * The answer can be stale as soon as it is returned: to take the lock,
 * call {@link tryLockFile} or {@link lockFile}, not `testLock` first.
 * @param fileOrPath - a path (a string, `Buffer`/`Uint8Array` or `file:` URL, as `node:fs` takes), an fd number, or an object with a numeric `fd` (a `FileHandle`).
 * @param options - `shared` (test for a shared lock: only exclusive locks are in its way; default false), `range: { start, length }` (default the whole file).
 * @returns the lock in the way, or `null` if the lock could be taken.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` / `ERR_INVALID_ARG_VALUE` for bad arguments (`kind: 'flock'` and an unknown option key included).
 * @throws {RangeError} `ERR_OUT_OF_RANGE` for a range bound outside 0 … 2^53-1.
 * @throws {Error} for a path: `EACCES`, `ELOOP`, `EINVAL` (not a regular file or directory), `EOPNOTSUPP` (no `/proc`), … with `syscall` `'open'`; `ENOSYS`, `EPERM` with `syscall` `'close_range'` (a kernel before 5.9, a seccomp filter); `EAGAIN` with `syscall` `'clone'` (no thread). Through an fd: `EBADF`, `EINVAL` (`syscall` `'fcntl'`).
 * @see https://man7.org/linux/man-pages/man2/fcntl.2.html
 * @example
 * ```ts
 * const c = testLock('/tmp/app.lock')
 * if (c === null) console.log('free')
 * else console.log(`held (${c.shared ? 'shared' : 'exclusive'}) by`, c.pid ?? 'an OFD lock')
 * ```
 */
export function testLock(fileOrPath: string | Uint8Array | URL | number | { fd: number }, options?: TestLockOptions): LockConflict | null {
  const target = lockTarget(fileOrPath)
  const spec = lockSpec(options, 'testLock')
  if (typeof target === 'number') {
    const r = native.lockTest(target, spec.shared, spec.start, spec.length)
    if (typeof r === 'number') throw errnoError(r, 'fcntl')
    return conflict(r)
  }
  const r = native.lockTestPath(target, spec.shared, spec.start, spec.length)
  if (r === null || Array.isArray(r)) return conflict(r)
  const { errno, syscall } = r
  if (errno === ENOENT && syscall === 'open') return null
  throw errnoError(errno, syscall, syscall === 'open' ? pathText(target) : undefined, testHint(errno, syscall))
}

/** The hint of a {@link testLock} failure whose errno says little. */
function testHint(errno: number, syscall: string): string | undefined {
  if (syscall === 'close_range') {
    return 'the kernel (before 5.9) or a seccomp filter refused close_range, which testLock needs to test a path: test through an fd you keep open, or take the lock with tryLockFile'
  }
  if (syscall === 'clone') return 'no thread could be started for the test'
  if (syscall !== 'open') return undefined
  if (errno === EINVAL) return 'not a regular file or a directory: testLock opens no FIFO, device or socket, whose open has side effects'
  if (errno === EOPNOTSUPP) return 'testLock needs /proc to reopen the file it checked'
  return undefined
}

/** {@link testLock}'s answer from the binding's: `[shared, pid, start, length]` or null. */
function conflict(r: [number, number, number, number] | null): LockConflict | null {
  if (r === null) return null
  const [shared, pid, start, length] = r
  return { kind: pid === -1 ? 'ofd' : 'posix', shared: shared === 1, pid: pid === -1 ? null : pid, range: { start, length } }
}

/**
 * The error of a first lock try. `EBADF` from an OFD lock through an fd that
 * is open, but not for the access the lock needs, said only "bad file
 * descriptor" (a user's-eye review, user34 L3).
 */
function lockError(r: number, spec: Spec, target: LockPath | number): ErrnoError {
  if (r !== EBADF || typeof target !== 'number' || spec.kind !== 'ofd') return errnoError(r, syscallOf(spec), pathOf(target))
  const need = spec.shared ? 'a shared lock needs an fd open for reading' : 'an exclusive lock needs an fd open for writing: take a shared one, or lock by path'
  return errnoError(r, syscallOf(spec), undefined, `fd ${target}: ${need}`)
}

/**
 * `lockFile(fileOrPath, options?)`—Takes a lock, waiting for it if another
 * holder (in any process) conflicts.
 *
 * The wait occupies neither the event loop nor libuv's threadpool: a
 * contended lock is waited for on a thread of the package's own pool,
 * blocked in the kernel (`F_OFD_SETLKW`, or `flock` without `LOCK_NB`), which
 * wakes it the moment the holder lets go. Waiters in one thread for the same
 * lock queue first come, first served (each keeping its own open of the
 * file: one fd per queued waiter), and only the first waits in the
 * kernel (waits through an fd or `FileHandle` do not queue: each waits in
 * the kernel, as its description's own locks decide what it conflicts
 * with). `signal` ends the wait at once (but see the replaced handler
 * below): the promise rejects with an `AbortError` (the signal's reason as
 * `cause`), and nothing stays locked.
 * The abort interrupts the kernel wait with the real-time signal
 * `SIGRTMAX - 3`, sent only to the wait's thread. Its do-nothing handler
 * (without `SA_RESTART`) is installed by the package the first time a wait
 * has to wait (or is aborted), if the signal still has its default
 * disposition; that choice holds for the life of the process. Where it was
 * not the default (another handler, or ignored), waits poll instead: every
 * 50 µs for the first 2 ms, then backing off to every 8 ms. If another
 * library replaces the handler later, waits that start after that poll,
 * and no signal is sent; an abort of a wait already blocked in the kernel
 * then does not settle the promise until the lock comes (the lock is then
 * undone) or the handler is ours again, and with `ref` the process stays
 * alive meanwhile. Waits also poll while the kernel refuses the signal (the
 * user's queue of real-time signals is full, `RLIMIT_SIGPENDING`); an abort
 * of a wait that blocked before then settles once a signal gets through
 * (the abort sends it again every 50 ms) or the lock comes.
 * A wait through a held lock's fd (an upgrade: a shared `FileLock`'s `fd`
 * asked for exclusive) whose grant beat the abort has replaced that lock in
 * the kernel: the undo puts back what the fd's open file description held
 * over the range before the wait (read from `/proc/self/fdinfo` as the wait
 * starts) and unlocks the rest. A shared piece comes back at once; an
 * exclusive one under a shared request comes back unless another holder
 * took a shared lock in between: the undo runs on the wait's thread if the
 * abort came first, else within the `abort()` call itself, so a lock taken
 * through the same description right after `abort()` returns is left
 * alone. (One narrow window remains: an abort in the instant between the
 * kernel's grant and the wait's thread noting it is undone by that thread
 * just after `abort()` returns.) The description's locks are set to
 * what they were when the wait started: a lock taken or released through
 * the same description during the wait is undone too (a released one is
 * put back, and stays until the description is closed: for a `FileLock`
 * by path, at its release). OFD
 * locks only: a refused `flock` conversion has already dropped the held
 * lock before any wait (flock(2)).
 *
 * Locks are not re-entrant: a lock this process already holds on the file
 * through another path lock (or another open) conflicts like any other
 * holder's, so `lockFile(path)` while holding it waits for ever, and OFD and
 * `flock` locks have no deadlock detection (no `EDEADLK`). Keep and reuse
 * the `FileLock`, or pass a `signal`.
 * When the promise settles, whatever the outcome, the wait's fds are closed
 * and its thread is back in the pool (idle pool threads end after 1 s).
 *
 * The path is opened, and a free lock taken, on the calling thread before
 * the promise is returned, as `fs.openSync` and `tryLockFile` do: a file
 * system that hangs in `open` (an unreachable NFS server) blocks the event
 * loop there. Only the wait for a held lock is moved off the thread.
 *
 * A lock by path, granted at once or after a wait, is kept only if the path
 * still names the locked file; one granted on a file that its holder
 * unlinked or renamed over before releasing is released, and the wait
 * starts over on the path (see {@link tryLockFile}); a directory that its
 * holder removed rejects with `ENOENT` (`syscall` `'stat'`).
 *
 * `fileOrPath` is as for {@link tryLockFile}. Classic POSIX record locks are
 * not offered here: closing *any* fd of the file drops them, and Node opens
 * and closes fds internally (see {@link lockf}).
 *
 * A lock taken at once resolves at once, but in a loop of such calls one
 * now and then resolves a loop turn later (the package's fairness rule, so
 * that timers and signal handlers run); it is the caller's even if `signal`
 * aborts meanwhile, as any lock already taken is.
 *
 * Never throws: every failure, argument errors included, is a rejection.
 * @param fileOrPath - a path (a string, `Buffer`/`Uint8Array` or `file:` URL, as `node:fs` takes), an fd number, or an object with a numeric `fd` (a `FileHandle`).
 * @param options - `shared` (default false), `wait` (default true; with false, a conflict rejects with `EAGAIN`), `signal`, `ref` (default true; with false, a wait does not keep the process alive), `range: { start, length }` (OFD only; default the whole file), `kind: 'ofd' | 'flock'` (default `'ofd'`).
 * @throws {Error} (rejects) `ABORT_ERR` (an `AbortError`); `EAGAIN` with `wait: false` (or if the path was replaced as it was locked, 100 times in a row; or, with `syscall` `'clone'`, if no thread could be started for the wait); an errno error from opening (`ENOENT`, `EACCES`, … with `syscall` `'open'`), checking the path (`syscall` `'stat'`) or locking.
 * @throws {TypeError} (rejects) `ERR_INVALID_ARG_TYPE` / `ERR_INVALID_ARG_VALUE` for bad arguments, an unknown option key included (`{ timeout: 100 }`).
 * @throws {RangeError} (rejects) `ERR_OUT_OF_RANGE` for a range bound outside 0 … 2^53-1.
 * @see https://man7.org/linux/man-pages/man2/fcntl.2.html
 * @see https://man7.org/linux/man-pages/man2/flock.2.html
 * @example
 * ```ts
 * await using lock = await lockFile('/tmp/app.lock', { signal: AbortSignal.timeout(5000) })
 * ```
 */
export async function lockFile(fileOrPath: string | Uint8Array | URL | number | { fd: number }, options?: LockOptions): Promise<FileLock> {
  const target = lockTarget(fileOrPath)
  const req: WaitRequest = { wait: true, signal: undefined, ref: true }
  const spec = lockSpec(options, 'lockFile', req)
  const signal = req.signal
  // Each pass opens the target afresh: a lock by path that turns out to be
  // on a file unlinked or replaced meanwhile (see `keep`) starts over.
  for (let tries = 1; ; tries++) {
    if (signal?.aborted) throw abortErrorOf(signal)
    const h = open(target, spec)
    const r = native.lockTry(h)
    if (r >= 0) {
      const lock = granted(h, spec, r, target)
      if (lock !== null) {
        // Locked at once: the loop still turns in a loop of such calls.
        const turn = fairTurn()
        if (turn !== undefined) await turn
        return lock
      }
      if (tries === REPLACED_TRIES) {
        const path = typeof target === 'number' ? undefined : pathText(target)
        throw errnoError(EAGAIN, syscallOf(spec), path, `the lock file was replaced ${REPLACED_TRIES} times in a row as it was locked`)
      }
      continue
    }
    if (r !== EAGAIN || !req.wait) {
      native.lockRelease(h)
      throw lockError(r, spec, target)
    }
    // A wait through an fd is judged by the kernel together with the locks
    // its open file description already holds, which a queue keyed by file,
    // kind, mode and range cannot see: queued behind a waiter that waits for
    // that description's own lock, it would never be tried again. So it waits
    // in the kernel at once, on its own thread (and is never `null`).
    const lock = await (typeof target === 'number' ? wait(h, spec, signal, req.ref, target) : queued(h, spec, signal, req.ref, target))
    if (lock !== null) return lock
    tries = 0
  }
}

/**
 * Waiters in this environment for the same lock (same file, kind, mode and
 * range) queue here, first come first served (`{ ref: false }` waiters in a
 * queue of their own, so between the two queues the kernel decides), and only the head waits in the
 * kernel, on one thread. So 1,000 waiters for one held lock cost one thread
 * and one blocked call, not 1,000; a waiter aborted while queued needs no
 * thread at all. Across processes (and across worker threads, which have
 * queues of their own) the kernel decides. See docs/design.md, "Lock waits".
 */
const queues = new Map<string, Waiter[]>()

interface Waiter {
  h: LockHandle
  spec: Spec
  /** What was locked, for the garbage-collection warning. */
  target: LockPath
  signal: AbortSignal | undefined
  /** Whether its wait keeps the event loop alive (the same for a whole queue). */
  ref: boolean
  /** With null: the lock came, but on a file the path no longer names (released; `lockFile` starts over). */
  resolve(lock: FileLock | null): void
  reject(error: unknown): void
  onAbort: (() => void) | undefined
}

function queued(h: LockHandle, spec: Spec, signal: AbortSignal | undefined, ref: boolean, target: LockPath): Promise<FileLock | null> {
  return new Promise<FileLock | null>((resolve, reject) => {
    // The file's device and inode (recorded at open), kind, mode and range,
    // from the binding (no BigIntStats object as with fs.fstatSync).
    const k = native.lockKey(h)
    if (typeof k === 'number') {
      native.lockRelease(h)
      return reject(errnoError(k, 'fstat', pathText(target)))
    }
    // Referenced and unreferenced waiters queue apart: a referenced one
    // behind an unreferenced head would not keep the process alive.
    const key = ref ? k : k + ' unref'
    const w: Waiter = { h, spec, target, signal, ref, resolve, reject, onAbort: undefined }
    let queue = queues.get(key)
    if (queue === undefined) {
      queue = []
      queues.set(key, queue)
    }
    queue.push(w)
    // A new head was tried by lockFile a moment ago: straight to the wait.
    if (queue.length === 1) return runHead(key, queue, true)
    if (signal !== undefined) {
      // Aborted while queued: leave the queue; no thread was ever involved.
      const q = queue
      w.onAbort = () => {
        const i = q.indexOf(w)
        if (i <= 0) return // the head is cancelled by its own wait
        q.splice(i, 1)
        native.lockRelease(h)
        reject(abortErrorOf(signal))
      }
      try {
        signal.addEventListener('abort', w.onAbort, { once: true })
        if (signal.aborted) w.onAbort()
      } catch (error) {
        const i = q.indexOf(w)
        if (i > 0) {
          q.splice(i, 1)
          native.lockRelease(h)
          reject(error)
        }
      }
    }
  })
}

/**
 * Runs the queue's head: a try first (the lock may be free by now; skipped
 * for a head that `lockFile` has just tried), then the kernel wait; then
 * the next.
 */
function runHead(key: string, queue: Waiter[], tried = false): void {
  for (;; tried = false) {
    const w = queue[0]
    if (w === undefined) {
      queues.delete(key)
      return
    }
    if (w.onAbort !== undefined) unlisten(w.signal, w.onAbort)
    // A hostile `aborted` getter may throw: that waiter fails, the queue goes
    // on (a throw here left it at the head for good, or, from the previous
    // head's settlement, was an uncaught exception).
    let aborted: boolean
    try {
      aborted = w.signal?.aborted === true
    } catch (error) {
      queue.shift()
      native.lockRelease(w.h)
      w.reject(error)
      continue
    }
    if (aborted) {
      queue.shift()
      native.lockRelease(w.h)
      w.reject(abortErrorOf(w.signal))
      continue
    }
    const r = tried ? EAGAIN : native.lockTry(w.h)
    if (r >= 0) {
      queue.shift()
      try {
        w.resolve(granted(w.h, w.spec, r, w.target))
      } catch (error) {
        w.reject(error)
      }
      continue
    }
    if (r !== EAGAIN) {
      queue.shift()
      native.lockRelease(w.h)
      w.reject(errnoError(r, syscallOf(w.spec), pathText(w.target)))
      continue
    }
    const next = (): void => {
      queue.shift()
      runHead(key, queue)
    }
    wait(w.h, w.spec, w.signal, w.ref, w.target).then(
      (lock) => {
        w.resolve(lock)
        next()
      },
      (error: unknown) => {
        w.reject(error)
        next()
      },
    )
    return
  }
}

/**
 * Waits on the native thread; settles only once the wait has reported (and
 * released its fds). Null: granted on a file its path no longer names
 * (released; see `keep`).
 */
function wait(h: LockHandle, spec: Spec, signal: AbortSignal | undefined, ref: boolean, target: LockPath | number): Promise<FileLock | null> {
  return new Promise<FileLock | null>((resolve, reject) => {
    let cancelled = false
    let failure: { error: unknown } | undefined
    let w: LockWait | undefined
    const cancel = (): void => {
      if (cancelled) return
      cancelled = true
      if (w !== undefined) native.lockWaitCancel(w)
    }
    const onAbort = (): void => {
      if (failure === undefined) failure = { error: abortErrorOf(signal) }
      cancel()
    }
    const settle = (result: number): void => {
      if (result >= 0) {
        try {
          return resolve(granted(h, spec, result, target))
        } catch (error) {
          return reject(error)
        }
      }
      native.lockRelease(h)
      if (result === ECANCELED) reject(failure !== undefined ? failure.error : new AbortError())
      else reject(errnoError(result, syscallOf(spec), pathOf(target)))
    }
    const r = native.lockWait(h, (result: number) => {
      unlisten(signal, onAbort)
      // Settled from the check phase, not from inside the report: the
      // reports of all waits come through one threadsafe function, and
      // Node dispatches a report posted while the previous one's callback
      // and microtasks still run in the same loop turn. A chain of
      // hand-offs (each granted waiter releasing to the next) then ran up
      // to 1,000 deep without a loop turn (583 measured, 60 ms), starving
      // timers and I/O. Deferred, the next release happens after the
      // dispatch, and each hand-off costs a loop turn, as a pending fs call.
      later(settle, result)
    }, ref)
    if (typeof r === 'number') {
      native.lockRelease(h)
      // The binding's EAGAIN here is no thread for the wait, not a conflict
      // (which would wait): told apart, as testLock's is (s46-exhaust M2).
      if (r === EAGAIN) return reject(errnoError(r, 'clone', pathOf(target), 'no thread could be started to wait for the lock (the process is at its thread limit)'))
      const hint = r === EMFILE || r === ENFILE ? 'no fd number was left for the wait (its own duplicate of the file, or reading /proc/self/fdinfo)' : undefined
      return reject(errnoError(r, syscallOf(spec), pathOf(target), hint))
    }
    w = r
    if (signal === undefined) return
    try {
      signal.addEventListener('abort', onAbort, { once: true })
      // A listener added to an already-aborted signal never fires (it may
      // have been aborted by the addEventListener call itself).
      if (signal.aborted) onAbort()
    } catch (error) {
      // Settled by the wait's report, once the thread has let go.
      if (failure === undefined) failure = { error }
      cancel()
    }
  })
}
