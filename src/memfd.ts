/**
 * memfd: anonymous files in memory. {@link memfdCreate} is Python's
 * `os.memfd_create`; {@link MemFile} adds seals, positional I/O and shared
 * mappings exposed as `ArrayBuffer`s without copying.
 * @see https://man7.org/linux/man-pages/man2/memfd_create.2.html
 * @module
 */
import { readlinkSync, statfsSync } from 'node:fs'
import { constants } from 'node:os'
import { inspect, types } from 'node:util'
import { markAsUntransferable } from 'node:worker_threads'

import { native } from './binding'
import { shown } from './inspect'
import {
  errnoError,
  fromFdError,
  illegalConstructor,
  invalidArgType,
  invalidArgValue,
  invalidThis,
  memfdName,
  outOfRange,
  unsafeMapping,
  useAfterClose,
  wrongFdKind,
  type ErrnoError,
} from './errors'
import { bufferBytes, byteCount, toAdopt, toBool, toFd, toInt, toOptions, toStr, type FdLike } from './validate'

/**
 * Whether `worker_threads.markAsUntransferable()` gives an `ArrayBuffer` a
 * detach key (Node 24 does; 20 and 22 only mark it). A buffer with such a
 * key cannot be detached without it, and Node-API's detach of it, which
 * `unmap()` calls, aborted the process (`FATAL ERROR: v8::FromJust`; found
 * in stop 51). `transfer()` of such a buffer throws a `TypeError` instead,
 * and that is how it is told apart, here and in `unmap()`.
 */
/**
 * The buffer each mapping went into when `unmap()` moved it with
 * `transfer()` (see {@link KEYED_MARKING}), kept alive as long as the
 * caller's buffer: the binding frees the address range when the buffer it
 * unmapped is collected, and a threadpool job given the caller's buffer
 * (`crypto.randomFill`, `fs.read`) may still write into it until that one
 * is collected. Without this, the moved buffer was collected at once and
 * the job's write hit freed memory: SIGSEGV on Node 24 (ci-51a).
 */
const moved = new WeakMap<ArrayBuffer, ArrayBuffer>()

const KEYED_MARKING = ((): boolean => {
  const transfer = (ArrayBuffer.prototype as { transfer?: unknown }).transfer
  if (typeof transfer !== 'function' || typeof markAsUntransferable !== 'function') return false
  const probe = new ArrayBuffer(1)
  markAsUntransferable(probe)
  try {
    transfer.call(probe)
    return false
  } catch {
    return true
  }
})()

/** `memfdCreate` flag: close-on-exec (the default). */
export const MFD_CLOEXEC: number = native.MFD_CLOEXEC
/** `memfdCreate` flag: allow seals (`F_ADD_SEALS`); without it the file starts with `F_SEAL_SEAL`, unless the `vm.memfd_noexec` sysctl is 1 or 2 (Linux 6.3), which makes a file created without `MFD_EXEC` `MFD_NOEXEC_SEAL`, sealable. */
export const MFD_ALLOW_SEALING: number = native.MFD_ALLOW_SEALING
/** `memfdCreate` flag: back the file with huge pages, of the size given by one `MFD_HUGE_*` (or the system's default). */
export const MFD_HUGETLB: number = native.MFD_HUGETLB
/** Shift of the huge page size's log2 in the flags: `(flags >>> MFD_HUGE_SHIFT) & MFD_HUGE_MASK` is the log2. */
export const MFD_HUGE_SHIFT: number = native.MFD_HUGE_SHIFT
/** Mask of the huge page size's log2 (after the shift). */
export const MFD_HUGE_MASK: number = native.MFD_HUGE_MASK
/** Huge page size 64 KiB (with `MFD_HUGETLB`). */
export const MFD_HUGE_64KB: number = native.MFD_HUGE_64KB
/** Huge page size 512 KiB (with `MFD_HUGETLB`). */
export const MFD_HUGE_512KB: number = native.MFD_HUGE_512KB
/** Huge page size 1 MiB (with `MFD_HUGETLB`). */
export const MFD_HUGE_1MB: number = native.MFD_HUGE_1MB
/** Huge page size 2 MiB (with `MFD_HUGETLB`). */
export const MFD_HUGE_2MB: number = native.MFD_HUGE_2MB
/** Huge page size 8 MiB (with `MFD_HUGETLB`). */
export const MFD_HUGE_8MB: number = native.MFD_HUGE_8MB
/** Huge page size 16 MiB (with `MFD_HUGETLB`). */
export const MFD_HUGE_16MB: number = native.MFD_HUGE_16MB
/** Huge page size 32 MiB (with `MFD_HUGETLB`). */
export const MFD_HUGE_32MB: number = native.MFD_HUGE_32MB
/** Huge page size 256 MiB (with `MFD_HUGETLB`). */
export const MFD_HUGE_256MB: number = native.MFD_HUGE_256MB
/** Huge page size 512 MiB (with `MFD_HUGETLB`). */
export const MFD_HUGE_512MB: number = native.MFD_HUGE_512MB
/** Huge page size 1 GiB (with `MFD_HUGETLB`). */
export const MFD_HUGE_1GB: number = native.MFD_HUGE_1GB
/** Huge page size 2 GiB (with `MFD_HUGETLB`). */
export const MFD_HUGE_2GB: number = native.MFD_HUGE_2GB
/**
 * Huge page size 16 GiB (with `MFD_HUGETLB`). Its bit 31 is set, so
 * `MFD_HUGETLB | MFD_HUGE_16GB` is a negative number in JavaScript;
 * {@link memfdCreate} accepts it as it is.
 */
export const MFD_HUGE_16GB: number = native.MFD_HUGE_16GB
/** `memfdCreate` flag (Linux 6.3): not executable, and sealed so (`F_SEAL_EXEC`); implies `MFD_ALLOW_SEALING`. */
export const MFD_NOEXEC_SEAL: number = native.MFD_NOEXEC_SEAL
/** `memfdCreate` flag (Linux 6.3): executable. */
export const MFD_EXEC: number = native.MFD_EXEC

/**
 * `fcntl` command: add seals (`F_SEAL_*`) to a memfd made with `MFD_ALLOW_SEALING`.
 * @see https://man7.org/linux/man-pages/man2/fcntl.2.html
 */
export const F_ADD_SEALS: number = native.F_ADD_SEALS
/**
 * `fcntl` command: get a memfd's seals.
 * @see https://man7.org/linux/man-pages/man2/fcntl.2.html
 */
export const F_GET_SEALS: number = native.F_GET_SEALS
/** Seal: no more seals can be added. */
export const F_SEAL_SEAL: number = native.F_SEAL_SEAL
/** Seal: the file cannot shrink (what makes mappings safe from SIGBUS). */
export const F_SEAL_SHRINK: number = native.F_SEAL_SHRINK
/** Seal: the file cannot grow. */
export const F_SEAL_GROW: number = native.F_SEAL_GROW
/** Seal: no writes (adding it fails with `EBUSY` while a writable shared mapping exists); the size can still change, so contents that must not change also need `F_SEAL_SHRINK` and `F_SEAL_GROW`. */
export const F_SEAL_WRITE: number = native.F_SEAL_WRITE
/** Seal: no new writes; existing writable mappings keep working (Linux 5.1). */
export const F_SEAL_FUTURE_WRITE: number = native.F_SEAL_FUTURE_WRITE
/** Seal: the exec bits cannot change (Linux 6.3). */
export const F_SEAL_EXEC: number = native.F_SEAL_EXEC

const EBADF = constants.errno.EBADF
const EINVAL = constants.errno.EINVAL
const ENOTSUP = constants.errno.ENOTSUP
const ENODEV = constants.errno.ENODEV
const EACCES = constants.errno.EACCES
const EPERM = constants.errno.EPERM
const EBUSY = constants.errno.EBUSY
const ENOMEM = constants.errno.ENOMEM
const EMFILE = constants.errno.EMFILE
/** A buffer as its kind and length, for a message that must not show its bytes. */
function shapeOf(buffer: object): object {
  let text: string
  try {
    const name = types.isArrayBuffer(buffer) ? 'ArrayBuffer' : (buffer.constructor?.name ?? 'Object')
    const length = (buffer as { byteLength?: unknown }).byteLength
    text = typeof length === 'number' ? `${name} { byteLength: ${length} }` : `${name} {}`
  } catch {
    text = 'Object {}'
  }
  return { [inspect.custom]: () => text }
}

/** The hint of a `map()` refused by the budget of live mappings (core `map_budget`). */
const MAP_BUDGET_HINT =
  'no mapping left: the package keeps at most three quarters of vm.max_map_count mappings live in a process, so that V8 keeps room for its own; unmap() mappings no longer needed and drop their buffers: a slot comes back once the unmapped buffer is garbage-collected and the event loop has turned, which runs its finalizer (a loop that never yields gets none back), or raise vm.max_map_count'

/** The fd's access mode (`O_RDONLY`, `O_WRONLY` or `O_RDWR`, from `F_GETFL`), or -1 if `fcntl` fails. */
function accessMode(fd: number): number {
  const flags = native.fcntlInt(fd, native.F_GETFL, 0)
  return flags < 0 ? -1 : flags & native.O_ACCMODE
}

/**
 * Why a mapping was refused, where the errno alone does not say: a hugetlb
 * file's pool is empty (`ENOMEM`: its mapping reserves its pages when it is
 * made, from the pool of its size; vm.nr_hugepages sizes only the default
 * size's); the write seals refuse a writable one (`EPERM`; s38-server L2: a
 * bare `EPERM: operation not permitted, mmap`); or the fd's access mode
 * does not allow it (`EACCES`: every mapping needs an fd open for reading, a
 * writable one an fd open for writing too; a file reopened through `/proc`
 * may be neither). `hugePage`: the file's huge page size, or 0.
 */
function mapHint(errno: number, writable: boolean, seals: number, fd: number, hugePage: number): string | undefined {
  if (errno === -ENOMEM && hugePage !== 0) {
    return `not enough free huge pages of this size: see /sys/kernel/mm/hugepages/hugepages-${hugePage / 1024}kB/nr_hugepages; mappings dropped but not yet collected hold theirs until garbage collection: unmap() them`
  }
  if (writable && errno === -EPERM && (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) !== 0) {
    return `the file is sealed against writes by ${(seals & F_SEAL_WRITE) !== 0 ? 'F_SEAL_WRITE' : 'F_SEAL_FUTURE_WRITE'}: map it without writable`
  }
  if (errno !== -EACCES) return undefined
  const mode = accessMode(fd)
  if (mode === native.O_RDONLY && writable) return 'this fd is open read-only: map it without writable'
  if (mode === native.O_WRONLY) return `this fd is open write-only: a mapping needs an fd open for reading${writable ? ' and writing (O_RDWR)' : ''}`
  return undefined
}

/** `statfs`'s `f_type` of hugetlbfs, the test of the core's `is_hugetlbfs`. */
const HUGETLBFS_MAGIC = 0x958458f6

/**
 * The huge page size of `fd` if it is a hugetlbfs file (a `MFD_HUGETLB`
 * memfd made elsewhere), else 0: its mapping granule (`memfdPageSize`, the
 * core's `map_granule`, which is the huge page size there) where `statfs`
 * of its `/proc/self/fd` link says hugetlbfs. The binding has no
 * `is_hugetlbfs` of its own, and the granule alone cannot tell: it is the
 * base page size elsewhere, which JS does not know. 0 without /proc or
 * `fs.statfsSync` (the hints are then missing, as before s51-memfd LOW).
 */
function hugePageOf(fd: number): number {
  let type: number
  try {
    type = statfsSync(`/proc/self/fd/${fd}`).type
  } catch {
    return 0
  }
  if (type >>> 0 !== HUGETLBFS_MAGIC) return 0
  const page = native.memfdPageSize(fd)
  return page > 0 ? page : 0
}

/**
 * A hint for a `memfd_create` error whose bare errno says little (mem36 L4):
 * a name over 249 bytes (`EINVAL`), a huge page size the machine lacks
 * (`ENODEV`), an executable file the `vm.memfd_noexec` policy refuses
 * (`EACCES`).
 */
function createHint(errno: number, name: string | Uint8Array, huge: boolean, executable: boolean): string | undefined {
  const bytes = typeof name === 'string' ? Buffer.byteLength(name) : name.byteLength
  if (errno === -EINVAL && bytes > 249) return `the name is ${bytes} bytes; at most 249`
  if (errno === -ENODEV && huge) return 'the kernel supports no huge pages of that size: see /sys/kernel/mm/hugepages'
  if (errno === -EACCES && executable) return 'the vm.memfd_noexec policy refuses executable memfds'
  return undefined
}

function checkName(name: unknown): string {
  const s = toStr(name, 'name')
  if (s.includes('\0')) throw invalidArgValue('name', s, 'must not contain NUL bytes')
  return s
}

/** A `memfdCreate` name: a string as {@link checkName} takes it, or its bytes. */
function checkNameOrBytes(name: unknown): string | Uint8Array {
  if (typeof name === 'string') return checkName(name)
  if (!types.isUint8Array(name)) throw invalidArgType('name', 'of type string or an instance of Uint8Array', name)
  if (name.includes(0)) throw invalidArgValue('name', name, 'must not contain NUL bytes')
  return name
}

/**
 * `memfd_create(name, flags)`: creates an anonymous file in memory and
 * returns its fd, as Python's `os.memfd_create`. The caller owns the fd.
 * Use it with Node's own `fs` calls (`fs.writeSync(fd, …)`, `fs.readSync`,
 * `fs.fstatSync`, `fs.closeSync`), or wrap it with {@link MemFile.fromFd}.
 *
 * @param name - shown in `/proc/self/fd` as `memfd:<name>`; at most 249 bytes, no NUL. A string (as UTF-8) or, as Python takes `bytes`, a `Buffer`/`Uint8Array` (any bytes).
 * @param flags - `MFD_CLOEXEC` (the default), `MFD_ALLOW_SEALING`,
 *   `MFD_HUGETLB | MFD_HUGE_*`, `MFD_NOEXEC_SEAL`, `MFD_EXEC`, or'ed
 *   together. Any 32-bit value is passed as it is, including the negative
 *   numbers that `|` makes of `MFD_HUGE_16GB`.
 * @returns the new fd.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for a `name` that is not a string or a `Uint8Array`,
 *   `ERR_INVALID_ARG_VALUE` for a name with a NUL byte.
 * @throws {RangeError} `ERR_OUT_OF_RANGE` for `flags` that are not an
 *   integer in -2^31 … 2^32-1.
 * @throws {Error} `EINVAL` (unknown flags, a name over 249 bytes),
 *   `ENODEV` (`MFD_HUGETLB` with a huge page size this machine does not
 *   have), `ENOENT` (no hugetlbfs mount for that size), `EMFILE`, `ENFILE`,
 *   `ENOMEM`, `EACCES` (an executable file refused by the `vm.memfd_noexec`
 *   policy, 2: measured on Linux 6.18).
 * @example
 * ```ts
 * const fd = memfdCreate('scratch')
 * fs.writeSync(fd, 'hello')
 * fs.closeSync(fd)
 * ```
 * @see https://man7.org/linux/man-pages/man2/memfd_create.2.html
 */
export function memfdCreate(name: string | Uint8Array, flags?: number): number {
  const n = checkNameOrBytes(name)
  const f = toInt(flags, 'flags', -0x80000000, 0xffffffff, MFD_CLOEXEC) >>> 0
  const fd = native.memfdCreate(n, f)
  if (fd < 0) throw errnoError(fd, 'memfd_create', undefined, createHint(fd, n, (f & MFD_HUGETLB) !== 0, (f & MFD_EXEC) !== 0))
  return fd
}

/** A huge page size for {@link MemFileOptions.hugePages}. */
export type HugePageSize = '64KB' | '512KB' | '1MB' | '2MB' | '8MB' | '16MB' | '32MB' | '256MB' | '512MB' | '1GB' | '2GB' | '16GB'

const HUGE_SIZES: ReadonlyMap<string, number> = new Map([
  ['64KB', MFD_HUGE_64KB],
  ['512KB', MFD_HUGE_512KB],
  ['1MB', MFD_HUGE_1MB],
  ['2MB', MFD_HUGE_2MB],
  ['8MB', MFD_HUGE_8MB],
  ['16MB', MFD_HUGE_16MB],
  ['32MB', MFD_HUGE_32MB],
  ['256MB', MFD_HUGE_256MB],
  ['512MB', MFD_HUGE_512MB],
  ['1GB', MFD_HUGE_1GB],
  ['2GB', MFD_HUGE_2GB],
  ['16GB', MFD_HUGE_16GB],
])

/** Options of {@link MemFile.create}. */
export interface MemFileOptions {
  /**
   * Whether seals can be added (`MFD_ALLOW_SEALING`). Default `true`.
   * `false` seals the file with `F_SEAL_SEAL` at once: no seal can ever be
   * added, so {@link MemFile.map} then needs `unsafeAllowShrink`.
   */
  sealable?: boolean | undefined
  /**
   * Back the file with huge pages of this size (`MFD_HUGETLB`). Sizes
   * passed to `truncate()` must then be multiples of it, `write()` is
   * unsupported (`EINVAL`: use a mapping), and pages come from the
   * system's reserved pool (`vm.nr_hugepages`). A writer that punches a
   * hole in such a file (`fallocate`; the `shrink` seal allows it, `write`
   * does not) drops its pages, and touching a mapping of it is SIGBUS when
   * the pool has no free page left (docs/design.md, "SIGBUS"). A read-only
   * view (`map()`) of such a file does not follow pages written after it
   * first read them: see {@link MemFile.map}.
   */
  hugePages?: HugePageSize | undefined
  /**
   * Default `false`: `MFD_NOEXEC_SEAL` (not executable, sealed so) on
   * Linux 6.3 and later, a plain file on older kernels. `true`: `MFD_EXEC`
   * where the kernel has it.
   */
  executable?: boolean | undefined
}

/** The seals of a memfd, as {@link MemFile.seals} reports them and {@link MemFile.addSeals} takes them. */
export interface MemFileSeals {
  /** `F_SEAL_SEAL`: no more seals can be added. */
  seal: boolean
  /** `F_SEAL_SHRINK`: the file cannot shrink; mappings are safe from SIGBUS. */
  shrink: boolean
  /** `F_SEAL_GROW`: the file cannot grow. */
  grow: boolean
  /** `F_SEAL_WRITE`: no writes at all; the size can still change (a truncate zeroes the contents), so seal `shrink` and `grow` too for contents that cannot change. */
  write: boolean
  /** `F_SEAL_FUTURE_WRITE` (Linux 5.1): no new writes; existing writable mappings keep working. */
  futureWrite: boolean
  /** `F_SEAL_EXEC` (Linux 6.3): the exec bits cannot change. */
  exec: boolean
}

/** Options of {@link MemFile.map}. */
export interface MemFileMapOptions {
  /** `true`: a shared, writable mapping (`MAP_SHARED`). Default `false`: a view (see {@link MemFile.map}). */
  writable?: boolean | undefined
  /** Where the mapping starts in the file, a multiple of the page size. Default 0. */
  offset?: number | undefined
  /** How many bytes to map, > 0. Default: the rest of the file. */
  length?: number | undefined
  /**
   * Map even though the file has no `shrink` seal. You then guarantee that
   * no process shrinks the file while it is mapped: touching a page past
   * the new end kills the process with SIGBUS. Default `false`.
   */
  unsafeAllowShrink?: boolean | undefined
}

const SEAL_BITS: ReadonlyArray<readonly [keyof MemFileSeals, number]> = [
  ['seal', F_SEAL_SEAL],
  ['shrink', F_SEAL_SHRINK],
  ['grow', F_SEAL_GROW],
  ['write', F_SEAL_WRITE],
  ['futureWrite', F_SEAL_FUTURE_WRITE],
  ['exec', F_SEAL_EXEC],
]
const SEAL_NAMES = SEAL_BITS.map(([name]) => name)

const UNSAFE_MAPPING =
  'Refusing to map a MemFile that can shrink: touching a mapping after another process shrank the file raises SIGBUS, which kills the process. ' +
  'Call addSeals({ shrink: true }) first, or pass { unsafeAllowShrink: true } if you control every process that can truncate it.'
const UNSAFE_MAPPING_UNSEALABLE =
  'Refusing to map a MemFile that can shrink: touching a mapping after another process shrank the file raises SIGBUS, which kills the process. ' +
  'This file cannot get the shrink seal (it was created with { sealable: false }, or sealed with seal: true): create it sealable, ' +
  'or pass { unsafeAllowShrink: true } if you control every process that can truncate it.'

const NO_EXTERNAL_BUFFERS =
  "This runtime forbids external ArrayBuffers (e.g. Electron's sandbox), so a shared mapping cannot be exposed; " +
  'MemFile.map() does not fall back to a copy that would not be shared.'

/** `ERR_NOT_SUPPORTED`, for a runtime without external ArrayBuffers. */
function notSupported(message: string): Error {
  const err = new Error(message)
  Object.defineProperty(err, 'code', { value: 'ERR_NOT_SUPPORTED', writable: true, enumerable: true, configurable: true })
  Error.captureStackTrace?.(err, notSupported)
  return err
}

/**
 * The largest ArrayBuffer this runtime makes: 2^32 bytes up to Node 21,
 * 2^53 - 1 from Node 22 on (and on runtimes that do not say). Node 20
 * refuses a larger external buffer.
 */
function maxArrayBuffer(): number {
  const major = Number(process.versions.node?.split('.')[0])
  return major < 22 ? 2 ** 32 : Number.MAX_SAFE_INTEGER
}

type Handle = Exclude<ReturnType<typeof native.memfdOpen>, number>
type Mappings = ReturnType<typeof native.memfdMappingsNew>

const token = Symbol('MemFile')

/**
 * An anonymous file in memory (`memfd_create`), with seals and shared
 * mappings: share memory with child processes and workers without copying.
 *
 * Make one with {@link MemFile.create}, or wrap an inherited fd with
 * {@link MemFile.fromFd}. Pass `mf.fd` in `spawn`'s `stdio` array (or post
 * it to a worker) and call `MemFile.fromFd(fd)` there (in a child,
 * `MemFile.fromFd(3, { adopt: true })`, which keeps no second copy of the
 * inherited fd); both sides can
 * {@link MemFile.map | map()} the same memory. The fd also works with
 * Node's own `fs` calls. It is close-on-exec; closing it does not
 * invalidate existing mappings. If JS closes `mf.fd` itself (`fs.closeSync`,
 * or a stream's `autoClose` at its end), the next call throws `EBADF` and
 * the object gives the number up without closing it (see
 * {@link MemFile.close | close()}). That holds even when another file got
 * the number since: the calls that change or read the file check first,
 * with one `fstat`, that the number is still this memfd.
 *
 * @example
 * ```ts
 * using mf = MemFile.create('counters')
 * mf.truncate(4096)
 * mf.addSeals({ shrink: true })         // mappings are now safe from SIGBUS
 * const shared = new Int32Array(mf.map({ writable: true }))
 * const child = spawn(process.execPath, ['child.js'], { stdio: ['inherit', 'inherit', 'inherit', mf.fd] })
 * // child.js: new Int32Array(MemFile.fromFd(3, { adopt: true }).map({ writable: true })) is the same memory
 * ```
 * @see https://man7.org/linux/man-pages/man2/memfd_create.2.html
 */
export class MemFile implements Disposable {
  #h: Handle
  /** The fd while open; -1 once closed or lost. */
  #fd: number
  readonly #name: string
  /**
   * The huge page size of a `hugePages` file (made here, or wrapped by
   * `fromFd` where /proc shows it on hugetlbfs), else 0 (then asked of the
   * kernel).
   */
  readonly #hugePage: number
  #maps: Mappings | undefined
  /** The number the fd had when it was found closed behind our back, else -1. */
  #lostFd = -1
  /** The call that found the fd lost. */
  #lostBy = ''
  /**
   * Whether the number has reached code outside this object: JS read `fd`
   * or `path`, `util.inspect` printed it, or `fromFd` was given it. Until
   * then no other code knows the number to close it, and {@link
   * MemFile.#checked} skips its `fstat` (docs/design.md, "Fd identity").
   */
  #shared = false

  /**
   * Not for `new`: use {@link MemFile.create} or {@link MemFile.fromFd}.
   * @throws {TypeError} `ERR_ILLEGAL_CONSTRUCTOR`, without the package's private key.
   */
  private constructor(key: symbol, handle: Handle, name: string, hugePage: number) {
    if (key !== token) throw illegalConstructor()
    this.#h = handle
    this.#fd = native.fdHandleFd(handle)
    this.#name = name
    this.#hugePage = hugePage
  }

  /**
   * Creates a memfd named `name` (shown as `memfd:<name>` in
   * `/proc/self/fd`). It is always close-on-exec.
   *
   * @param name - at most 249 bytes, no NUL.
   * @param options - `sealable` (default `true`), `hugePages`, `executable`
   *   (default `false`); see {@link MemFileOptions}.
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE`; `ERR_INVALID_ARG_VALUE` for a
   *   NUL in `name`, an unknown `hugePages` size or an unknown option.
   * @throws {Error} `EINVAL` (name too long), `ENODEV` (a `hugePages` size
   *   this machine does not have), `ENOENT` (no hugetlbfs mount for it),
   *   `EMFILE`, `ENFILE`, `ENOMEM`, `EACCES` (`executable: true` refused by
   *   the `vm.memfd_noexec` policy, 2).
   * @example
   * ```ts
   * const mf = MemFile.create('frames', { hugePages: '2MB' })
   * ```
   * @see https://man7.org/linux/man-pages/man2/memfd_create.2.html
   */
  static create(name: string, options?: MemFileOptions): MemFile {
    const n = checkName(name)
    const o = toOptions(options, 'options', ['sealable', 'hugePages', 'executable'])
    const sealable = toBool(o.sealable, 'options.sealable', true)
    const executable = toBool(o.executable, 'options.executable', false)
    let flags = MFD_CLOEXEC
    let hugePage = 0
    if (o.hugePages !== undefined) {
      if (typeof o.hugePages !== 'string') throw invalidArgType('options.hugePages', 'of type string', o.hugePages)
      const bits = HUGE_SIZES.get(o.hugePages)
      if (bits === undefined) {
        throw invalidArgValue('options.hugePages', o.hugePages, `must be one of ${[...HUGE_SIZES.keys()].map((k) => `'${k}'`).join(', ')}`)
      }
      flags |= MFD_HUGETLB | bits
      hugePage = 2 ** ((bits >>> MFD_HUGE_SHIFT) & MFD_HUGE_MASK)
    }
    if (sealable) flags |= MFD_ALLOW_SEALING
    flags |= executable ? MFD_EXEC : MFD_NOEXEC_SEAL
    const h = native.memfdOpen(n, flags >>> 0)
    if (typeof h === 'number') throw errnoError(h, 'memfd_create', undefined, createHint(h, n, hugePage !== 0, executable))
    // MFD_NOEXEC_SEAL implies MFD_ALLOW_SEALING; honour sealable: false.
    if (!sealable) native.memfdAddSeals(native.fdHandleFd(h), F_SEAL_SEAL)
    return new MemFile(token, h, n, hugePage)
  }

  /**
   * Wraps an existing memfd, e.g. one inherited from a parent process. By
   * default the fd is duplicated (`F_DUPFD_CLOEXEC`) and the caller keeps
   * its own; `{ adopt: true }` takes the fd itself, which the `MemFile`
   * then closes, and sets its `FD_CLOEXEC`.
   *
   * @param fd - an fd number, or an object with a numeric `fd` (another `MemFile`, a `FileHandle`).
   * @throws {TypeError} `ERR_INVALID_ARG_VALUE` if `fd` is not a memfd.
   * @throws {Error} `EBADF` if `fd` is not open, `EMFILE`.
   * @throws {Error} `EBUSY` with `{ adopt: true }` if another linux-fd object owns `fd` (the fd is left alone).
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` with `{ adopt: true }` and an object for `fd`: only a number can be adopted (the object, such as a `FileHandle`, goes on owning its fd).
   * @example
   * ```ts
   * // in a child spawned with the memfd as fd 3
   * const mf = MemFile.fromFd(3, { adopt: true })
   * ```
   * @see https://man7.org/linux/man-pages/man2/fcntl.2.html
   */
  static fromFd<F extends FdLike = FdLike>(fd: F, options?: { adopt?: (F extends number ? boolean : false) | undefined }): MemFile {
    const raw = toFd(fd)
    const adopt = toAdopt(options, fd)
    let name = ''
    let link: string | undefined
    try {
      link = readlinkSync(`/proc/self/fd/${raw}`)
    } catch {
      // Not open (EBADF below), or no /proc: nothing to check or name.
    }
    // Its link and F_GET_SEALS tell (memfdName; a removed tmpfs file at
    // /memfd:… would pass). Linux 4.14 and 4.15 (both out of support) had
    // hugetlb memfds without seals, which this refuses there. Without /proc
    // (or an fd not open: EBADF below), F_GET_SEALS alone.
    if (link !== undefined) {
      const memfd = memfdName(raw, link)
      if (memfd === undefined) throw wrongFdKind(raw, 'a memfd')
      name = memfd
    } else if (native.memfdGetSeals(raw) === -EINVAL) throw wrongFdKind(raw, 'a memfd')
    const h = native.fdHandleFrom(raw, adopt, false, false)
    if (typeof h === 'number') throw fromFdError(h, raw)
    // A hugePages memfd keeps the hints create() gives (s51-memfd LOW: a
    // bare EINVAL for truncate(4096) and write(), ENOMEM for map()).
    const mf = new MemFile(token, h, name, hugePageOf(native.fdHandleFd(h)))
    // The caller knows the number it gave (adopted), or the one fd() shows
    // (a dup: the caller was not told it, but reads it from `fd` to use it).
    mf.#shared = adopt
    return mf
  }

  static #of(self: unknown): MemFile {
    if (typeof self === 'object' && self !== null && #h in self) return self as MemFile
    throw invalidThis('MemFile')
  }

  /** The fd, or throws: `ERR_USE_AFTER_CLOSE` after `close()`, `EBADF` once the fd was lost. */
  #open(): number {
    if (this.#fd >= 0) return this.#fd
    throw this.#unusable()
  }

  /**
   * The fd, checked before a call that changes or reads the file
   * (`truncate`, `write`, `read`, `readInto`, `addSeals`, `map`): one
   * `fstat` compared with the identity recorded at open. A number closed
   * outside the package and reused by another file was used as it was:
   * `truncate()` emptied that file and `write()` wrote into it (s51-memfd
   * MED). A lost fd is given up as {@link MemFile.#fail} does, naming
   * `syscall`, the call that was about to run.
   *
   * Only once the number has reached other code ({@link MemFile.#shared}):
   * the `fstat` doubled the cost of a small `write()` + `readInto()` (3.63
   * µs against 1.36 µs for the bare calls through Node-API, bench/ops.js),
   * and a number nobody else was told cannot be closed behind our back
   * except by a double close elsewhere, which the eventfd classes' reads
   * and writes do not guard against either.
   */
  #checked(syscall: string): number {
    const fd = this.#open()
    if (!this.#shared || !native.fdHandleLost(this.#h)) return fd
    return this.#lose(syscall)
  }

  /** Gives the number up without closing it (the handle already forgot it) and throws `EBADF`, naming `syscall`. */
  #lose(syscall: string): never {
    this.#lostFd = this.#fd
    this.#lostBy = syscall
    this.#fd = -1
    throw this.#unusable()
  }

  #unusable(): Error {
    if (this.#lostFd < 0) return useAfterClose('MemFile')
    const err = errnoError(-EBADF, this.#lostBy)
    const message =
      `${err.message}: fd ${this.#lostFd} of this MemFile was closed outside linux-fd (e.g. by fs.closeSync(obj.fd)); ` +
      'the MemFile gave the number up without closing it and is unusable'
    Object.defineProperty(err, 'message', { value: message, writable: true, enumerable: false, configurable: true })
    return err
  }

  /**
   * The error of a failed call. An `EBADF` or `EINVAL` whose fd one `fstat`
   * shows gone (closed, or now another file) makes the object give the
   * number up without closing it; a write on a read-only fd also fails with
   * `EBADF` and keeps its fd.
   */
  #fail(errno: number, syscall: string, hint?: string): ErrnoError | Error {
    if ((errno === -EBADF || errno === -EINVAL) && this.#fd >= 0 && native.fdHandleLost(this.#h)) this.#lose(syscall)
    return errnoError(errno, syscall, undefined, hint)
  }

  /** The fd, or -1 after `close()` or once it was found closed outside the package. */
  get fd(): number {
    const self = MemFile.#of(this)
    if (self.#fd >= 0) self.#shared = true
    return self.#fd
  }

  /** The name given at creation (for {@link MemFile.fromFd}, the one in `/proc/self/fd`). */
  get name(): string {
    return MemFile.#of(this).#name
  }

  /**
   * `/proc/self/fd/<fd>`: a path this process can open (with `fs`, or
   * through a library that takes a path). Not one for another program:
   * `self` is the program reading it, and the fd is close-on-exec (`spawn`
   * renumbers the fds it passes, so a child given it in `stdio[3]` opens
   * `/proc/self/fd/3`). Another process of the same user may open
   * `/proc/${process.pid}/fd/${fd}` while this one keeps the file open.
   * @throws {Error} `ERR_USE_AFTER_CLOSE` after `close()` (there is no fd to
   *   name); `EBADF` if the fd was closed outside the package (its number may
   *   name another file by now).
   */
  get path(): string {
    // Checked (one fstat): a path to a file that reused the number would
    // let a caller write into that file.
    const self = MemFile.#of(this)
    const fd = self.#checked('fstat')
    self.#shared = true
    return `/proc/self/fd/${fd}`
  }

  /**
   * Whether `close()` was called, or the fd was found closed outside the
   * package (calls then throw `EBADF`).
   */
  get closed(): boolean {
    return MemFile.#of(this).#fd < 0
  }

  /**
   * The size in bytes (`fstat`).
   * @throws {Error} `ERR_USE_AFTER_CLOSE`; `EBADF` if the fd was closed outside the package.
   * @see https://man7.org/linux/man-pages/man2/fstat.2.html
   */
  get size(): number {
    const self = MemFile.#of(this)
    const n = native.memfdSize(self.#checked('fstat'))
    if (n < 0) throw self.#fail(n, 'fstat')
    return n
  }

  /**
   * Sets the size (`ftruncate`); new bytes read as zero.
   * @param size - bytes, 0 … 2^53-1; required, as in Python's
   *   `os.ftruncate` (a missing size does not mean 0).
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for a size that is not a number (or missing).
   * @throws {RangeError} `ERR_OUT_OF_RANGE`.
   * @throws {Error} `EPERM` against the `shrink`/`grow` seals, `EINVAL` for a
   *   `hugePages` size that is not a multiple of the huge page size, or on
   *   an fd opened read-only (`ftruncate`'s own answer there, not `EBADF`),
   *   `EFBIG` past the process's `RLIMIT_FSIZE` (Node ignores `SIGXFSZ`, so
   *   the process goes on), `EBADF` if the fd was closed outside the
   *   package (checked first: a file that got the number since is not
   *   touched), `ERR_USE_AFTER_CLOSE`.
   * @see https://man7.org/linux/man-pages/man2/ftruncate.2.html
   */
  truncate(size: number): void {
    const self = MemFile.#of(this)
    const n = toInt(size, 'size', 0, Number.MAX_SAFE_INTEGER)
    const r = native.memfdTruncate(self.#checked('ftruncate'), n)
    const page = self.#hugePage
    if (r < 0) throw self.#fail(r, 'ftruncate', page !== 0 && n % page !== 0 ? `a hugePages file's size is a multiple of its page size, ${page}` : undefined)
  }

  /**
   * Writes all of `data` at `position` (`pwrite`), growing the file as
   * needed; a string is written as UTF-8. An error that stops the write
   * part way (a `grow` seal, at the page that would grow the file) is
   * reported as `write(2)` does: the bytes written so far are returned, and
   * the next call meets the error.
   * @param position - default 0 (not the end: a `MemFile` has no file position of its own).
   * @returns the bytes written: all of `data`, or fewer if an error stopped it after some were written.
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE`.
   * @throws {RangeError} `ERR_OUT_OF_RANGE` for a bad `position`, or one where the data would end past 2^53-1.
   * @throws {Error} `EPERM` (the `write`, `futureWrite` or `grow` seal),
   *   `EINVAL` (a `hugePages` file: use a mapping), `EBADF` (an fd opened
   *   read-only, or closed outside the package: checked first, so a file
   *   that got the number since is not written), `EFBIG` for a write that
   *   starts at or past `RLIMIT_FSIZE` (one that crosses it is cut short),
   *   `ERR_USE_AFTER_CLOSE`.
   * @see https://man7.org/linux/man-pages/man2/pwrite.2.html
   */
  write(data: string | ArrayBufferView | ArrayBuffer | SharedArrayBuffer, position?: number): number {
    const self = MemFile.#of(this)
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : bufferBytes(data)
    if (bytes === undefined) throw invalidArgType('data', 'of type string, ArrayBufferView, ArrayBuffer or SharedArrayBuffer', data)
    // The end must stay a safe integer, or `size` could not say it exactly.
    const pos = toInt(position, 'position', 0, Math.max(0, Number.MAX_SAFE_INTEGER - byteCount(bytes)), 0)
    const n = native.memfdWrite(self.#checked('pwrite'), bytes, pos)
    if (n < 0) throw self.#fail(n, 'pwrite', n === -EINVAL && self.#hugePage !== 0 ? 'a hugePages file cannot be written with write(): use map({ writable: true })' : undefined)
    return n
  }

  /**
   * Reads up to `length` bytes at `position` (`pread`) into a new Buffer;
   * shorter at the end of the file. A large `length` past the end costs
   * nothing: the Buffer is sized to what the file holds.
   * @param length - 0 … 2^31-1.
   * @param position - default 0.
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for a `length` or `position` that is not a number.
   * @throws {RangeError} `ERR_OUT_OF_RANGE`.
   * @throws {Error} `ERR_USE_AFTER_CLOSE`; `EBADF` (an fd opened write-only, or closed outside the package: checked first, so a file that got the number since is not read).
   * @see https://man7.org/linux/man-pages/man2/pread.2.html
   */
  read(length: number, position?: number): Buffer {
    const self = MemFile.#of(this)
    let len = toInt(length, 'length', 0, 0x7fffffff)
    const pos = toInt(position, 'position', 0, Number.MAX_SAFE_INTEGER, 0)
    const fd = self.#checked('pread')
    if (len > 64 * 1024) {
      // Don't allocate (up to 2 GiB) for bytes past the end of the file: one
      // fstat sizes the buffer. The read still stops at the end if the file
      // shrinks in between.
      const size = native.memfdSize(fd)
      if (size < 0) throw self.#fail(size, 'fstat')
      len = Math.min(len, Math.max(0, size - pos))
    }
    const buf = Buffer.allocUnsafe(len)
    const n = native.memfdReadInto(fd, buf, pos)
    if (n < 0) throw self.#fail(n, 'pread')
    // A short read (past the end) copies, so no unread bytes are handed out.
    return n === len ? buf : Buffer.from(buf.subarray(0, n))
  }

  /**
   * Reads into `buffer` at `position` (`pread`) until it is full or the
   * file ends.
   * @param position - default 0.
   * @returns the bytes read.
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE`.
   * @throws {RangeError} `ERR_OUT_OF_RANGE`.
   * @throws {Error} `ERR_USE_AFTER_CLOSE`; `EBADF` (an fd opened write-only, or closed outside the package: checked first, so a file that got the number since is not read).
   * @see https://man7.org/linux/man-pages/man2/pread.2.html
   */
  readInto(buffer: ArrayBufferView | ArrayBuffer | SharedArrayBuffer, position?: number): number {
    const self = MemFile.#of(this)
    const pos = toInt(position, 'position', 0, Number.MAX_SAFE_INTEGER, 0)
    const bytes = bufferBytes(buffer)
    if (bytes === undefined) throw invalidArgType('buffer', 'an ArrayBufferView, ArrayBuffer or SharedArrayBuffer', buffer)
    const n = native.memfdReadInto(self.#checked('pread'), bytes, pos)
    if (n < 0) throw self.#fail(n, 'pread')
    return n
  }

  /**
   * The seals in force (`F_GET_SEALS`).
   * @throws {Error} `ERR_USE_AFTER_CLOSE`.
   * @see https://man7.org/linux/man-pages/man2/fcntl.2.html
   */
  get seals(): MemFileSeals {
    const self = MemFile.#of(this)
    const bits = native.memfdGetSeals(self.#open())
    if (bits < 0) throw self.#fail(bits, 'fcntl')
    const out = {} as MemFileSeals
    for (const [name, bit] of SEAL_BITS) {
      Object.defineProperty(out, name, { value: (bits & bit) !== 0, writable: true, enumerable: true, configurable: true })
    }
    return out
  }

  /**
   * Adds seals (`F_ADD_SEALS`); they can never be removed. `shrink` makes
   * mappings safe from SIGBUS; `write` fails with `EBUSY` while a writable
   * mapping exists (`unmap()` it first); `futureWrite` (Linux 5.1) blocks new
   * writes but keeps existing writable mappings working.
   * @param seals - the seals to add, as `true`; see {@link MemFileSeals}.
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE`; `ERR_INVALID_ARG_VALUE` for an unknown seal name.
   * @throws {Error} `EPERM` (not sealable, the `seal` seal is set, or an
   *   fd opened read-only: adding seals needs one open for writing),
   *   `EBUSY` (`write` with a writable mapping), `EINVAL` (a seal this
   *   kernel does not know), `EBADF` (the fd was closed outside the
   *   package), `ERR_USE_AFTER_CLOSE`.
   * @example
   * ```ts
   * mf.addSeals({ shrink: true, grow: true })
   * ```
   * @see https://man7.org/linux/man-pages/man2/fcntl.2.html
   */
  addSeals(seals: { [K in keyof MemFileSeals]?: boolean | undefined }): void {
    const self = MemFile.#of(this)
    if (typeof seals !== 'object' || seals === null) throw invalidArgType('seals', 'of type object', seals)
    const o = toOptions(seals, 'seals', SEAL_NAMES)
    let bits = 0
    for (const [name, bit] of SEAL_BITS) {
      if (toBool(o[name], `seals.${name}`, false)) bits |= bit
    }
    const fd = self.#checked('fcntl')
    const r = native.memfdAddSeals(fd, bits)
    if (r < 0) throw self.#fail(r, 'fcntl', self.#sealHint(r, fd))
  }

  /**
   * Why `addSeals` was refused, where the errno alone does not say
   * (s40-memfd LOW-4): `EBUSY` names the writable mapping it met, which may
   * not be this object's; `EPERM` says that the fd is open read-only (the
   * kernel's first test: `F_ADD_SEALS` needs an fd open for writing;
   * s51-memfd LOW, a bare `EPERM` on `fromFd` of a `/proc` path opened
   * `'r'`) or that the file takes no more seals. Not `'w'` in the hint:
   * opening the memfd's path `'w'` truncates it.
   */
  #sealHint(errno: number, fd: number): string | undefined {
    if (errno === -EBUSY) {
      return this.mappings > 0
        ? 'the file has a writable mapping: unmap() the writable ones first'
        : "the file has a writable mapping that is not this MemFile's (another MemFile's, a worker's or another process's): unmap it first"
    }
    if (errno === -EPERM) {
      if (accessMode(fd) === native.O_RDONLY) {
        return "this fd is open read-only: adding seals needs an fd open for writing (MemFile.fromFd of an fd opened 'r+')"
      }
      const seals = native.memfdGetSeals(fd)
      if (seals >= 0 && (seals & F_SEAL_SEAL) !== 0) return "the file takes no more seals: it has the 'seal' seal (a file made with sealable: false starts with it)"
    }
    return undefined
  }

  /**
   * Maps the file into memory and returns the memory as an `ArrayBuffer`,
   * without copying.
   *
   * - `writable: true`: a shared mapping (`mmap(MAP_SHARED)`); writes
   *   through it are seen by every process and thread that maps the same
   *   memfd, and by `read()`.
   * - `writable: false` (the default): a read-only *view*
   *   (`mmap(MAP_PRIVATE)`) that shows the file's current contents,
   *   including later writes by others. JavaScript cannot make an
   *   `ArrayBuffer` read-only, so writing into the view is allowed but
   *   stays private: the written page becomes this mapping's own copy
   *   and stops following the file. (A `PROT_READ` mapping would instead
   *   kill the process with SIGSEGV on the first write.) Views work on
   *   write-sealed files and do not block `addSeals({ write: true })`.
   *   A view of a `hugePages` file reserves huge pages for its whole
   *   length (`ENOMEM` if the pool cannot), since reading an unreserved
   *   one could SIGBUS; other views reserve nothing (`MAP_NORESERVE`).
   *   **A view of a `hugePages` file follows only pages that were written
   *   before the view first read them:** reading a page no one has
   *   written yet gives the view a private zero page of its own (the
   *   kernel's rule for private hugetlb mappings; plain memfds put the
   *   page in the file), which later writes to the file do not reach
   *   (s40-memfd MED-1). To follow a `hugePages` file as it is written,
   *   map it `writable`, or read it only after the writer has filled it.
   *
   * `length` is at most the runtime's largest ArrayBuffer (4 GiB on Node
   * 20 and 21): map a larger file in pieces with `offset`.
   *
   * **SIGBUS.** If the file shrinks under a mapping, touching the lost part
   * kills the process with SIGBUS, and no JavaScript can catch that. So
   * `map()` refuses (`ERR_UNSAFE_MAPPING`) unless the file carries the
   * `shrink` seal (`addSeals({ shrink: true })`), or you pass
   * `unsafeAllowShrink: true` and guarantee yourself that no process
   * shrinks it. The `grow` seal alone is not enough, and a file made with
   * `sealable: false` can never get the `shrink` seal.
   *
   * `offset` must be a multiple of the page size (the huge page size for
   * `hugePages` files); `offset + length` must not pass the current size;
   * `length` defaults to the rest of the file and must be > 0. Free a
   * mapping with {@link MemFile.unmap | unmap(buffer)}; garbage collection
   * of the buffer also frees it. Closing the `MemFile` does not.
   *
   * **Workers.** The buffer must not move to another thread: Node 20 and 21
   * silently *copy* it when it is in a `postMessage` transfer list or
   * `structuredClone`'s `transfer` (writes to the copy never reach the file,
   * and the original stays attached); Node 22 and later refuse with a
   * `DataCloneError`. To share the memory with a worker, post `mf.fd` and
   * call `MemFile.fromFd(fd).map()` there. **Known bug:** a view given to a
   * web byte stream (`enqueue`, a BYOB `read`) or a buffer `transfer()`ed
   * *can* then be posted to another thread, and when the thread that mapped
   * it exits, the memory is unmapped under the other thread, whose next
   * access crashes the process (SIGSEGV). Do not pass a mapping to web
   * streams or `transfer()`. On Node 24, a mapping passed to
   * `worker_threads.markAsUntransferable()` cannot be `unmap()`ped (an
   * error), and Node aborts at exit while it is alive: let it be collected.
   *
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE`; `ERR_INVALID_ARG_VALUE` for an unknown option.
   * @throws {RangeError} `ERR_OUT_OF_RANGE` for a bad offset or length.
   * @throws {Error} `ERR_UNSAFE_MAPPING`; `EPERM` (a writable mapping of a
   *   write-sealed file), `EACCES` (a writable mapping of an fd opened
   *   read-only), `ENOMEM` (no huge pages, no address space, or the
   *   process already has three quarters of `vm.max_map_count` mappings of
   *   this package live, 49,146 by default: the rest is left to V8 and
   *   Node, which could not allocate with none left and killed the
   *   process; a mapping gives its slot back when it is collected, an
   *   `unmap()`ped one too; that quarter covers a V8 heap of about 4 GB:
   *   with a larger one, raise `vm.max_map_count`),
   *   `ERR_NOT_SUPPORTED` (a runtime without external ArrayBuffers),
   *   `EBADF` (the fd was closed outside the package), `ERR_USE_AFTER_CLOSE`.
   * @example
   * ```ts
   * mf.truncate(1 << 20)
   * mf.addSeals({ shrink: true })
   * const bytes = new Uint8Array(mf.map({ writable: true }))
   * bytes[0] = 1                 // seen at once by every process mapping mf
   * mf.unmap(bytes)              // bytes.length is 0 from now on
   * ```
   * @see https://man7.org/linux/man-pages/man2/mmap.2.html
   */
  map(options?: MemFileMapOptions): ArrayBuffer {
    const self = MemFile.#of(this)
    const o = toOptions(options, 'options', ['writable', 'offset', 'length', 'unsafeAllowShrink'])
    const writable = toBool(o.writable, 'options.writable', false)
    const allowShrink = toBool(o.unsafeAllowShrink, 'options.unsafeAllowShrink', false)
    const offset = toInt(o.offset, 'options.offset', 0, Number.MAX_SAFE_INTEGER, 0)
    let length = o.length === undefined ? undefined : toInt(o.length, 'options.length', 1, Number.MAX_SAFE_INTEGER)
    const fd = self.#checked('fcntl')
    const seals = native.memfdGetSeals(fd)
    if (seals < 0) throw self.#fail(seals, 'fcntl')
    if ((seals & F_SEAL_SHRINK) === 0 && !allowShrink) {
      throw unsafeMapping((seals & F_SEAL_SEAL) === 0 ? UNSAFE_MAPPING : UNSAFE_MAPPING_UNSEALABLE)
    }
    const size = native.memfdSize(fd)
    if (size < 0) throw self.#fail(size, 'fstat')
    const page = self.#hugePage || native.memfdPageSize(fd)
    if (page < 0) throw self.#fail(page, 'fstat')
    if (offset % page !== 0) throw outOfRange('options.offset', `a multiple of the page size (${page})`, offset)
    if (length === undefined) {
      if (size <= offset) {
        const what = offset === 0 ? 'the file is empty; truncate it first' : `the file ends at ${size}; truncate it first`
        throw outOfRange('options.offset', `< size (${what})`, offset)
      }
      length = size - offset
    }
    if (offset + length > size) throw outOfRange('options.length', `<= size - offset (${Math.max(0, size - offset)})`, length)
    const max = maxArrayBuffer()
    if (length > max) {
      throw outOfRange('options.length', `<= ${max} (the largest ArrayBuffer of this runtime); map the file in pieces with offset`, length)
    }
    self.#maps ??= native.memfdMappingsNew()
    const ab = native.memfdMap(self.#maps, fd, offset, length, writable, allowShrink)
    if (typeof ab !== 'number') return ab
    if (ab === -ENOTSUP) throw notSupported(NO_EXTERNAL_BUFFERS)
    // The binding's EMFILE: the budget of live mappings is used up (the
    // kernel's own mmap never says EMFILE). Reported as the ENOMEM the
    // kernel would give past vm.max_map_count, with its own hint.
    if (ab === -EMFILE) throw self.#fail(-ENOMEM, 'mmap', MAP_BUDGET_HINT)
    throw self.#fail(ab, 'mmap', mapHint(ab, writable, seals, fd, self.#hugePage))
  }

  /**
   * Unmaps a buffer returned by {@link MemFile.map | map()}: the
   * `ArrayBuffer` is detached (it and every view of it then have length 0)
   * and the file is no longer mapped, at once. Needed before
   * `addSeals({ write: true })` while the mapping is writable. Works after
   * `close()` too.
   *
   * An operation that was already given the buffer and runs on another
   * thread (`crypto.randomFill`, `fs.read` into it) may still write into its
   * memory after this. So the address range is not freed at once: it is
   * swapped for private zeroed memory, where such late writes land
   * harmlessly (they reach neither the file nor a later mapping), and freed
   * when the buffer object is garbage-collected, by its finalizer, which
   * Node runs on a later turn of the event loop: a loop that maps and
   * unmaps without ever yielding gets no mapping slot back (`ENOMEM` after
   * about 49,000 pairs at the default `vm.max_map_count`), and a buffer
   * dropped without `unmap()` keeps its memory until then (docs/reliability.md,
   * "Memory in loops that never yield").
   * @param buffer - the `ArrayBuffer`, or any view of it.
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE`; `ERR_INVALID_ARG_VALUE` if
   *   `buffer` is not a live mapping of this `MemFile` (e.g. unmapped
   *   already), or (Node 24 and later) if it was passed to
   *   `worker_threads.markAsUntransferable()`, which forbids detaching it:
   *   such a mapping is unmapped when it is garbage-collected.
   * @see https://man7.org/linux/man-pages/man2/munmap.2.html
   */
  unmap(buffer: ArrayBuffer | ArrayBufferView): void {
    const self = MemFile.#of(this)
    if (typeof buffer !== 'object' || buffer === null) throw invalidArgType('buffer', 'an ArrayBuffer or ArrayBufferView', buffer)
    const ab: unknown = types.isArrayBuffer(buffer) ? buffer : (buffer as { buffer?: unknown }).buffer
    let target = ab
    if (KEYED_MARKING && self.#maps !== undefined && types.isArrayBuffer(ab) && native.memfdIsMapping(self.#maps, ab)) {
      // A detach key (see KEYED_MARKING) makes the binding's detach abort
      // the process. transfer() throws for such a buffer, and otherwise
      // moves the mapping, untouched and at the same address, into a new
      // ArrayBuffer (the original and its views detached, as by the
      // binding), which the binding then unmaps and detaches.
      try {
        const into = (ab as ArrayBuffer & { transfer(): ArrayBuffer }).transfer()
        moved.set(ab, into)
        target = into
      } catch {
        throw invalidArgValue('buffer', shapeOf(buffer), 'was passed to markAsUntransferable(), so it cannot be detached; it is unmapped when garbage-collected')
      }
    }
    if (self.#maps === undefined || !types.isArrayBuffer(target) || native.memfdUnmap(self.#maps, target) !== 0) {
      // Its kind and length only: inspecting the buffer put up to 100 bytes
      // of (shared) memory in the message, and so in logs (s40-memfd LOW-4).
      throw invalidArgValue('buffer', shapeOf(buffer), 'is not a live mapping of this MemFile')
    }
  }

  /** How many mappings made by {@link MemFile.map | map()} are still mapped (neither unmapped nor collected). */
  get mappings(): number {
    const self = MemFile.#of(this)
    return self.#maps === undefined ? 0 : native.memfdMappingCount(self.#maps)
  }

  /**
   * Closes the fd. Existing mappings stay valid until unmapped or
   * collected. Idempotent; never throws (except `ERR_INVALID_THIS`).
   *
   * If the fd was closed outside the package (`fs.closeSync(mf.fd)`), its
   * number may now belong to another file: `close()` (and garbage
   * collection) checks with one `fstat` that the number is still this
   * memfd (device and inode) and otherwise forgets it instead of closing
   * it; later calls then throw `EBADF`. Reopening this same memfd (e.g.
   * through `/proc/self/fd/N`) onto that number passes the check.
   * @see https://man7.org/linux/man-pages/man2/close.2.html
   */
  close(): void {
    const self = MemFile.#of(this)
    if (self.#fd < 0) return
    if (native.fdHandleClose(self.#h) < 0) {
      self.#lostFd = self.#fd
      self.#lostBy = 'close'
    }
    self.#fd = -1
  }

  /** Same as {@link MemFile.close | close()}, for `using`. */
  [Symbol.dispose](): void {
    MemFile.#of(this).close()
  }

  /** Shows the fd, name, state and live mappings (and the size while open). */
  [inspect.custom](depth: number, options: object): string {
    // A foreign receiver (an object made from the prototype) shows as an
    // empty MemFile, as the other classes do: inspecting must not throw.
    if (typeof this !== 'object' || this === null || !(#h in this)) return 'MemFile {}'
    const self = MemFile.#of(this)
    // Past the depth limit, `[MemFile]`, without asking the kernel for the size.
    if (typeof depth === 'number' && depth < 0) return shown(this, 'MemFile', {}, depth, options)
    const state: Record<string, unknown> = { fd: self.#fd, name: self.#name, closed: self.#fd < 0 }
    if (self.#fd >= 0) self.#shared = true
    if (self.#lostFd >= 0) state.lost = true
    if (self.#fd >= 0) {
      const size = native.memfdSize(self.#fd)
      if (size >= 0) state.size = size
    }
    state.mappings = self.#maps === undefined ? 0 : native.memfdMappingCount(self.#maps)
    return shown(this, 'MemFile', state, depth, options)
  }
}
