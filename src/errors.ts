/**
 * Every error the package throws is built here, in the shapes Node's own APIs
 * use (docs/design.md, "Errors"):
 * - OS errors: `code` (`'EAGAIN'`), negative `errno`, `syscall`, and the
 *   message `EAGAIN: resource temporarily unavailable, eventfd_read`, the
 *   text coming from `util.getSystemErrorMap()` (libuv's table), or for an
 *   errno that table lacks (`EDEADLK`, `ENOLCK`, `EBADFD`) their C name
 *   and a description from the binding's `errnoText`;
 * - argument errors: `ERR_INVALID_ARG_TYPE`, `ERR_OUT_OF_RANGE`,
 *   `ERR_INVALID_ARG_VALUE`, `ERR_INVALID_THIS`, with Node's messages;
 * - `ERR_USE_AFTER_CLOSE` ("… was closed"), `ABORT_ERR` (`AbortError`).
 * Not part of the public API (only what src/index.ts re-exports is).
 * @module
 */
import { fstatSync, readlinkSync } from 'node:fs'
import * as util from 'node:util'
import { constants } from 'node:os'
import { native } from './binding'

/** An OS error, shaped as Node's fs errors. */
export interface ErrnoError extends Error {
  /** The errno's C name, e.g. `'EAGAIN'`. */
  code: string
  /** The errno, negative as in Node (`-11`). */
  errno: number
  /** The system call that failed, e.g. `'eventfd_read'`. */
  syscall: string
  /** The path of a failed call on a path (a lock's `open`, a channel's `listen` or `connect`), as in Node's fs errors. */
  path?: string
}

let systemErrors: Map<number, [string, string]> | undefined

function describeErrno(errno: number): [string, string] {
  if (systemErrors === undefined) {
    // Node ≥ 16.0 and Bun have it; anything else falls back to os.constants.
    const get = (util as { getSystemErrorMap?: () => Map<number, [string, string]> }).getSystemErrorMap
    systemErrors = typeof get === 'function' ? get() : new Map()
  }
  const known = systemErrors.get(errno)
  if (known !== undefined) return known
  // libuv's table lacks some that Linux calls can return (EDEADLK from
  // lockf, ENOLCK, EBADFD from a driver's ioctl): their C name and a
  // description from the binding; nothing for a number Linux does not name.
  const [name, description] = native.errnoText(-errno)
  return [name ?? `Unknown system error ${errno}`, description ?? 'unknown error']
}

function define(err: Error, props: Record<string, unknown>): void {
  // Defined, never assigned: a setter on Object.prototype cannot run here.
  for (const [key, value] of Object.entries(props)) {
    Object.defineProperty(err, key, { value, writable: true, enumerable: true, configurable: true })
  }
}

/**
 * The error of a failed system call. `errno` is the negative errno a native
 * function returned; `path`, for a call on a path (a lock's `open`, a
 * channel's `listen` or `connect`), goes
 * into the message and a `path` property, as in Node's fs errors.
 */
export function errnoError(errno: number, syscall: string, path?: string, hint?: string): ErrnoError {
  const [code, description] = describeErrno(errno)
  // With a path, as Node's fs errors: `ENOENT: …, open '/x'` and `path`. A
  // hint, in parentheses, where the errno's usual text would mislead.
  const err = new Error(
    `${code}: ${description}, ${syscall}${path === undefined ? '' : ` '${path}'`}${hint === undefined ? '' : ` (${hint})`}`,
  ) as ErrnoError
  define(err, path === undefined ? { errno, code, syscall } : { errno, code, syscall, path })
  Error.captureStackTrace?.(err, errnoError)
  return err
}

/**
 * The error of a `fromFd` whose native call returned `errno`. `EBUSY` is the
 * binding refusing `{ adopt: true }` of a number another linux-fd object
 * still owns (two owners would each close it, the second one closing
 * whatever file got the number in between); the fd was left untouched, still
 * the caller's. Anything else is the `fcntl` that failed.
 */
export function fromFdError(errno: number, fd: number): ErrnoError {
  if (errno !== -constants.errno.EBUSY) return fdCallError(errno, 'fcntl', fd)
  const [code, description] = describeErrno(errno)
  const err = new Error(
    `${code}: ${description}, adopt: fd ${fd} is already owned by another linux-fd object; ` +
      'adopt only an fd nothing else owns, or leave adopt out to wrap a duplicate',
  ) as ErrnoError
  define(err, { errno, code, syscall: 'adopt' })
  Error.captureStackTrace?.(err, fromFdError)
  return err
}

/**
 * The error of a call on the caller's fd number `fd` that failed with
 * `errno`; an `EBADF` says that the number is not open here, and how a child
 * process gets one (s38-server L2: a child spawned without fd 3 that adopted
 * it got a bare `EBADF: bad file descriptor, getsockopt`).
 */
export function fdCallError(errno: number, syscall: string, fd: number): ErrnoError {
  const hint =
    errno === -constants.errno.EBADF
      ? `fd ${fd} is not open in this process; a child process has an fd above 2 only if its parent passed it, as in spawn()'s stdio array`
      : undefined
  return errnoError(errno, syscall, undefined, hint)
}

/**
 * The error of the binding's `fdKind` (a negative errno): `EBADF` from its
 * `fcntl` (not open), else `EMFILE`, `ENFILE` or `ENOMEM` from opening
 * `/proc/self/fdinfo` (out of fds or memory, which the kind check does not
 * take for "no /proc": s46-exhaust H3).
 */
export function fdKindError(errno: number, fd: number): ErrnoError {
  if (errno === -constants.errno.EBADF) return fdCallError(errno, 'fcntl', fd)
  return errnoError(errno, 'open', `/proc/self/fdinfo/${fd}`, 'the kind of the fd could not be checked: the process is out of fds (or memory)')
}

/**
 * What the fd number `fd` names now, for an error message, from
 * `/proc/self/fd` (`an eventfd`, `a socket`, `the file /x`, …); `kind` is
 * the binding's `fdKind`, which tells an eventfd's `EFD_SEMAPHORE` apart.
 * `undefined` where `/proc` cannot say.
 */
function fdNow(fd: number, kind?: string): string | undefined {
  if (kind === 'eventfd-semaphore') return 'an eventfd with EFD_SEMAPHORE, which Semaphore.fromFd takes'
  if (kind === 'eventfd') return 'an eventfd without EFD_SEMAPHORE, which EventCounter.fromFd takes'
  let link: string
  try {
    link = readlinkSync(`/proc/self/fd/${fd}`)
  } catch {
    return undefined
  }
  const anon = /^anon_inode:\[?([^\]]*)\]?$/.exec(link)
  if (anon !== null) {
    if (anon[1] === 'eventfd') return 'an eventfd'
    if (anon[1] === 'timerfd') return 'a timerfd'
    return `an anonymous inode (${anon[1]})`
  }
  if (link.startsWith('socket:')) return 'a socket'
  if (link.startsWith('pipe:')) return 'a pipe'
  const memfd = memfdName(fd, link)
  if (memfd !== undefined) return `a memfd named ${JSON.stringify(memfd)}`
  // Not a path: a namespace (net:[…]) or another kernel object.
  if (!link.startsWith('/')) return `a kernel object (${link})`
  let what = 'the file'
  try {
    const st = fstatSync(fd)
    what = st.isDirectory() ? 'the directory' : st.isCharacterDevice() || st.isBlockDevice() ? 'the device' : 'the file'
  } catch {}
  return `${what} ${link}`
}

/**
 * The name of the memfd `fd`, whose `/proc/self/fd` link is `link`, or
 * undefined if it is no memfd. A memfd's link is `/memfd:<name> (deleted)`
 * (it is in no directory) and it answers `F_GET_SEALS`; a file at
 * `/memfd:x` has no such suffix, or, removed, says `EINVAL` there
 * (s40-memfd LOW-5, s40-diff L5, s40-diff2 L4).
 */
export function memfdName(fd: number, link: string): string | undefined {
  if (!link.startsWith('/memfd:') || !link.endsWith(' (deleted)')) return undefined
  if (native.memfdGetSeals(fd) === -constants.errno.EINVAL) return undefined
  return link.slice('/memfd:'.length, -' (deleted)'.length)
}

/**
 * `ERR_INVALID_ARG_VALUE` for a `fromFd` of an open fd of the wrong kind:
 * says what the fd is instead (`kind` as in {@link fdNow}), and that a number
 * closed before the call may name another file by now (s38-server L2: the
 * README's worker recipe warns of it, and the error said only `Received 34`).
 * `otherwise`: what to say in parentheses where `/proc` cannot tell.
 */
export function wrongFdKind(fd: number, want: string, kind?: string, otherwise?: string): TypeError {
  const now = fdNow(fd, kind)
  if (now === undefined && otherwise !== undefined) return invalidArgValue('fd', fd, `must be ${want} (${otherwise})`)
  // An eventfd given to the other eventfd class: only its flag is wrong.
  const flagOnly = (kind === 'eventfd' || kind === 'eventfd-semaphore') && want.startsWith('an eventfd')
  const reuse = flagOnly ? '' : '; a number closed before this call may have been reused by another file'
  return invalidArgValue('fd', fd, `must be ${want}${now === undefined ? '' : `, but fd ${fd} is ${now}${reuse}`}`)
}

function received(value: unknown): string {
  if (value == null) return ` Received ${value}`
  if (typeof value === 'function') return ` Received function ${value.name || '<anonymous>'}`
  if (typeof value === 'object') {
    const name = (value as { constructor?: { name?: string } }).constructor?.name
    return name ? ` Received an instance of ${name}` : ` Received ${util.inspect(value, { depth: -1 })}`
  }
  let shown = util.inspect(value, { colors: false })
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`
  return ` Received type ${typeof value} (${shown})`
}

function codedError<E extends Error>(Base: new (message: string) => E, code: string, message: string, at: Function): E {
  const err = new Base(message)
  define(err, { code })
  Error.captureStackTrace?.(err, at)
  return err
}

function argLabel(name: string): string {
  return name.includes('.') ? `"${name}" property` : `"${name}" argument`
}

/** `ERR_INVALID_ARG_TYPE`: `The "fd" argument must be of type number. Received …`. */
export function invalidArgType(name: string, expected: string, value: unknown): TypeError {
  return codedError(TypeError, 'ERR_INVALID_ARG_TYPE', `The ${argLabel(name)} must be ${expected}.${received(value)}`, invalidArgType)
}

/** `ERR_OUT_OF_RANGE`: `The value of "initial" is out of range. It must be … Received …`. */
export function outOfRange(name: string, range: string, value: unknown): RangeError {
  const shown = typeof value === 'bigint' ? `${value}n` : String(value)
  return codedError(RangeError, 'ERR_OUT_OF_RANGE', `The value of "${name}" is out of range. It must be ${range}. Received ${shown}`, outOfRange)
}

/** `ERR_INVALID_ARG_VALUE`: `The argument 'fd' must be a timerfd. Received 5`. */
export function invalidArgValue(name: string, value: unknown, reason = 'is invalid'): TypeError {
  const kind = name.includes('.') ? 'property' : 'argument'
  const shown = util.inspect(value, { depth: 0, breakLength: Infinity })
  return codedError(TypeError, 'ERR_INVALID_ARG_VALUE', `The ${kind} '${name}' ${reason}. Received ${shown}`, invalidArgValue)
}

/** `ERR_INVALID_THIS`: a method called on something that is not its class. */
export function invalidThis(type: string): TypeError {
  return codedError(TypeError, 'ERR_INVALID_THIS', `Value of "this" must be of type ${type}`, invalidThis)
}

/**
 * `ERR_INVALID_RETURN_VALUE`: a subclass constructor, run by `fromFd`, that
 * did not return the object its own `super()` made around the fd (it threw
 * no error, but returned another object, or made another object of its
 * class before its `super()`).
 */
export function invalidReturn(base: string, name: string, got: string): TypeError {
  return codedError(
    TypeError,
    'ERR_INVALID_RETURN_VALUE',
    `Expected the ${base} whose super() took the fd to be returned from the "${name}" constructor but got ${got}`,
    invalidReturn,
  )
}

/** Node's wording for what a function returned instead: `instance of Foo` or `type number`. */
export function describeReturned(value: unknown): string {
  if (typeof value === 'object' && value !== null) {
    try {
      const ctor = (value as { constructor?: { name?: unknown } }).constructor
      if (typeof ctor?.name === 'string' && ctor.name !== '') return `instance of ${ctor.name}`
    } catch {} // a throwing getter or Proxy trap: say only its type
  }
  return `type ${value === null ? 'null' : typeof value}`
}

/** `ERR_USE_AFTER_CLOSE`: `Semaphore was closed`, Node's code for the same situation. */
export function useAfterClose(what: string): Error {
  return codedError(Error, 'ERR_USE_AFTER_CLOSE', `${what} was closed`, useAfterClose)
}

/** `ERR_ILLEGAL_CONSTRUCTOR`, for `new` on a factory-only class. */
export function illegalConstructor(): TypeError {
  return codedError(TypeError, 'ERR_ILLEGAL_CONSTRUCTOR', 'Illegal constructor', illegalConstructor)
}

/**
 * `ERR_BUFFER_OUT_OF_BOUNDS`: an `fcntl`/`ioctl` call that succeeded but
 * wrote past its buffer argument's length, over the guard bytes after it in
 * the package's staging copy (the binding's `ARG_OVERFLOW`).
 */
export function argOverflow(syscall: string, length: number): RangeError {
  return codedError(
    RangeError,
    'ERR_BUFFER_OUT_OF_BOUNDS',
    `${syscall}: the call wrote past the end of the ${length}-byte "arg": pass a buffer as large as the ${syscall === 'ioctl' ? 'request' : 'command'}'s structure (the call was made, and its result is lost; a buffer ioctl updates in place holds the first ${length} bytes of the answer)`,
    argOverflow,
  )
}

/** `ERR_UNSAFE_MAPPING`, for `MemFile.map()` of a file that could shrink. */
export function unsafeMapping(message: string): Error {
  return codedError(Error, 'ERR_UNSAFE_MAPPING', message, unsafeMapping)
}

/**
 * The error this package's waits reject with on abort, shaped as Node's
 * own: `name` `'AbortError'`, `code` `'ABORT_ERR'`, the signal's reason as
 * `cause` (the constructor's argument is that cause, not a message). Node's
 * own APIs (`timers/promises`, `events.once`) reject with Node's internal
 * class, which is not this one: to catch any abort, test
 * `err.name === 'AbortError'` or `err.code === 'ABORT_ERR'`, not
 * `instanceof`.
 */
export class AbortError extends Error {
  /** Always `'ABORT_ERR'`. */
  readonly code = 'ABORT_ERR'
  /** @param cause - the signal's `reason`. */
  constructor(cause?: unknown) {
    super('The operation was aborted', cause === undefined ? undefined : { cause })
    this.name = 'AbortError'
  }
}

/**
 * The {@link AbortError} for an aborted `signal`, its `reason` as the cause.
 * A `reason` getter that throws gives its error as the cause instead: the
 * error is built while a wait is being settled, and a throw there left the
 * wait removed from its queue but never settled (or a lock wait never
 * cancelled).
 */
export function abortErrorOf(signal: AbortSignal | undefined): AbortError {
  let reason: unknown
  try {
    reason = signal?.reason
  } catch (error) {
    reason = error
  }
  return new AbortError(reason)
}
