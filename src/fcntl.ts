/**
 * Python's `fcntl` module for Node.js: {@link fcntl}, {@link ioctl},
 * {@link flock}, {@link lockf}, the pipe-size calls, and the constants they
 * take. Each function checks its arguments, makes one native call, and
 * throws Node-style errors (`code`, negative `errno`, `syscall`).
 * @module
 */
import { argOverflow, errnoError, invalidArgType, invalidArgValue, outOfRange } from './errors'
import { constants } from 'node:os'
import { native } from './binding'
import { bufferBytes, byteCount, type FdLike, toBigInt, toBool, toFd, toInt, toInt32 } from './validate'

/** `flock`/`lockf` operation: shared lock. */
export const LOCK_SH: number = native.LOCK_SH
/** `flock`/`lockf` operation: exclusive lock. */
export const LOCK_EX: number = native.LOCK_EX
/** `flock`/`lockf` flag: fail with `EAGAIN` (or `EACCES` for `lockf`) instead of blocking. */
export const LOCK_NB: number = native.LOCK_NB
/** `flock`/`lockf` operation: unlock. */
export const LOCK_UN: number = native.LOCK_UN
/**
 * `flock` flag of a feature Linux removed (mandatory shared-mode locks, with
 * {@link LOCK_READ}/{@link LOCK_WRITE}): `flock` now returns without
 * locking anything. For Python compatibility.
 */
export const LOCK_MAND: number = native.LOCK_MAND
/** `LOCK_MAND` mode: others may read (see {@link LOCK_MAND}; no effect on Linux). */
export const LOCK_READ: number = native.LOCK_READ
/** `LOCK_MAND` mode: others may write (see {@link LOCK_MAND}; no effect on Linux). */
export const LOCK_WRITE: number = native.LOCK_WRITE
/** `LOCK_MAND` mode: `LOCK_READ | LOCK_WRITE` (see {@link LOCK_MAND}; no effect on Linux). */
export const LOCK_RW: number = native.LOCK_RW
/** `fcntl` command: duplicate to the lowest free fd ≥ `arg`. */
export const F_DUPFD: number = native.F_DUPFD
/** `fcntl` command: like `F_DUPFD`, with close-on-exec set atomically. */
export const F_DUPFD_CLOEXEC: number = native.F_DUPFD_CLOEXEC
/**
 * `fcntl` command (Linux 6.10; CPython 3.14): 1 if the fd `arg` refers to the
 * same open file description as `fd` (a dup of it), else 0; `EINVAL` on
 * older kernels.
 */
export const F_DUPFD_QUERY: number = native.F_DUPFD_QUERY
/** `fcntl` command: get the fd flags (`FD_CLOEXEC`). */
export const F_GETFD: number = native.F_GETFD
/** `fcntl` command: set the fd flags (`FD_CLOEXEC`). */
export const F_SETFD: number = native.F_SETFD
/** fd flag (`F_GETFD`/`F_SETFD`): close on exec. */
export const FD_CLOEXEC: number = native.FD_CLOEXEC
/** `fcntl` command: get the file status flags and access mode (`O_*`). */
export const F_GETFL: number = native.F_GETFL
/**
 * `fcntl` command: set the status flags `O_APPEND`, `O_ASYNC`, `O_DIRECT`,
 * `O_NOATIME`, `O_NONBLOCK` (replacing them; it cannot set close-on-exec).
 */
export const F_SETFL: number = native.F_SETFL
/** `fcntl` command (`struct flock` buffer): test for a POSIX record lock. */
export const F_GETLK: number = native.F_GETLK
/**
 * `fcntl` command (`struct flock` buffer): set a POSIX record lock,
 * non-blocking. A POSIX lock belongs to the process and is dropped when it
 * closes any fd of the file: see {@link lockf}; prefer {@link F_OFD_SETLK}.
 */
export const F_SETLK: number = native.F_SETLK
/** `fcntl` command (`struct flock` buffer): set a POSIX record lock, blocking the thread (dropped as {@link F_SETLK}'s). */
export const F_SETLKW: number = native.F_SETLKW
/** `fcntl` command: on 64-bit Linux the same as {@link F_GETLK} (`struct flock` has 64-bit offsets). */
export const F_GETLK64: number = native.F_GETLK64
/** `fcntl` command: on 64-bit Linux the same as {@link F_SETLK}. */
export const F_SETLK64: number = native.F_SETLK64
/** `fcntl` command: on 64-bit Linux the same as {@link F_SETLKW}. */
export const F_SETLKW64: number = native.F_SETLKW64
/** `fcntl` command (`struct flock` buffer, `l_pid` 0): test for an OFD lock. */
export const F_OFD_GETLK: number = native.F_OFD_GETLK
/** `fcntl` command (`struct flock` buffer, `l_pid` 0): set an OFD lock, non-blocking. */
export const F_OFD_SETLK: number = native.F_OFD_SETLK
/** `fcntl` command (`struct flock` buffer, `l_pid` 0): set an OFD lock, blocking the thread. */
export const F_OFD_SETLKW: number = native.F_OFD_SETLKW
/**
 * Lock type (`l_type` of a `struct flock`): read (shared). Not a `flock()`
 * or `lockf()` operation: `F_RDLCK` is 0, which neither takes.
 */
export const F_RDLCK: number = native.F_RDLCK
/**
 * Lock type (`l_type` of a `struct flock`): write (exclusive). Not a
 * `flock()` or `lockf()` operation: `F_WRLCK` is 1, the value of
 * {@link LOCK_SH}, so `flock(fd, F_WRLCK)` takes a shared lock; pass
 * {@link LOCK_EX} there.
 */
export const F_WRLCK: number = native.F_WRLCK
/** Lock type (`l_type` of a `struct flock`): unlock; also `F_GETLK`'s "no conflict". */
export const F_UNLCK: number = native.F_UNLCK
/** Old BSD lock type, for Python compatibility: Linux refuses it as an `l_type` (`EINVAL`); use {@link F_WRLCK}. */
export const F_EXLCK: number = native.F_EXLCK
/** Old BSD lock type, for Python compatibility: Linux refuses it as an `l_type` (`EINVAL`); use {@link F_RDLCK}. */
export const F_SHLCK: number = native.F_SHLCK
/** `fcntl` command: a pipe's capacity in bytes (see {@link getPipeSize}). */
export const F_GETPIPE_SZ: number = native.F_GETPIPE_SZ
/**
 * `fcntl` command: set a pipe's capacity, rounded up to a power of two
 * (`EPERM` above `/proc/sys/fs/pipe-max-size`, `EBUSY` below the buffered
 * data; see {@link setPipeSize}).
 */
export const F_SETPIPE_SZ: number = native.F_SETPIPE_SZ
/**
 * `fcntl` command: the process (positive) or process group (negative) that
 * gets `SIGIO` and `SIGURG` for the fd, 0 for none. {@link fcntl} makes it
 * through {@link F_GETOWN_EX}, as glibc does, so a group of any id is
 * returned as its negative id.
 */
export const F_GETOWN: number = native.F_GETOWN
/**
 * `fcntl` command: set that owner (`arg`: a pid, or minus a process group
 * id). With {@link O_ASYNC} set, the owner gets `SIGIO` when I/O is
 * possible, and `SIGIO`'s default action ends the process (Node installs no
 * handler): listen first (`process.on('SIGIO', …)`), or choose another
 * signal with {@link F_SETSIG}.
 */
export const F_SETOWN: number = native.F_SETOWN
/**
 * `fcntl` command (8-byte `struct f_owner_ex` buffer: `int type`, `pid_t
 * pid`): get the owner and its kind ({@link F_OWNER_TID},
 * {@link F_OWNER_PID}, {@link F_OWNER_PGRP}).
 */
export const F_GETOWN_EX: number = native.F_GETOWN_EX
/**
 * `fcntl` command (8-byte `struct f_owner_ex` buffer): set the owner and its
 * kind, e.g. a single thread. As for {@link F_SETOWN}: with
 * {@link O_ASYNC}, `SIGIO`'s default action ends the process.
 */
export const F_SETOWN_EX: number = native.F_SETOWN_EX
/** `struct f_owner_ex` type: a thread. */
export const F_OWNER_TID: number = native.F_OWNER_TID
/** `struct f_owner_ex` type: a process. */
export const F_OWNER_PID: number = native.F_OWNER_PID
/** `struct f_owner_ex` type: a process group. */
export const F_OWNER_PGRP: number = native.F_OWNER_PGRP
/** `fcntl` command: the signal sent when I/O is possible (0: `SIGIO`). */
export const F_GETSIG: number = native.F_GETSIG
/** `fcntl` command: set that signal (0: `SIGIO`). */
export const F_SETSIG: number = native.F_SETSIG
/**
 * `fcntl` command: take ({@link F_RDLCK}, {@link F_WRLCK}) or drop
 * ({@link F_UNLCK}) a lease on a regular file. When another process opens
 * the file (for writing, against a read lease) or truncates it, the kernel
 * signals the holder (`SIGIO` unless {@link F_SETSIG}), and `SIGIO`'s
 * default action ends the process.
 */
export const F_SETLEASE: number = native.F_SETLEASE
/** `fcntl` command: the lease held on the file: {@link F_RDLCK}, {@link F_WRLCK} or {@link F_UNLCK}. */
export const F_GETLEASE: number = native.F_GETLEASE
/**
 * `fcntl` command (dnotify, on a directory's fd): signal changes in the
 * directory (`arg`: `DN_*` bits). The signal is `SIGIO` unless
 * {@link F_SETSIG}, and `SIGIO`'s default action ends the process; inotify
 * supersedes this. The watch goes with any close of an fd of the same open
 * file description in this process: a `tryLockFile(fd)` or `lockFile(fd)`
 * of the directory, whose dup is closed at release, ends it (s42-diff L2).
 */
export const F_NOTIFY: number = native.F_NOTIFY
/** `F_NOTIFY` event: a file was read. */
export const DN_ACCESS: number = native.DN_ACCESS
/** `F_NOTIFY` event: a file was written. */
export const DN_MODIFY: number = native.DN_MODIFY
/** `F_NOTIFY` event: a file was created. */
export const DN_CREATE: number = native.DN_CREATE
/** `F_NOTIFY` event: a file was unlinked. */
export const DN_DELETE: number = native.DN_DELETE
/** `F_NOTIFY` event: a file was renamed. */
export const DN_RENAME: number = native.DN_RENAME
/** `F_NOTIFY` event: a file's attributes changed. */
export const DN_ATTRIB: number = native.DN_ATTRIB
/**
 * `F_NOTIFY` flag: keep notifying (without it, the first notification ends
 * it). 2^31, as in Python: negative once `|`ed, which {@link fcntl} takes as
 * the same C `int`.
 */
export const DN_MULTISHOT: number = native.DN_MULTISHOT
/** `fcntl` command (8-byte `uint64_t` buffer): the inode's write-lifetime hint (`RWH_WRITE_LIFE_*`). */
export const F_GET_RW_HINT: number = native.F_GET_RW_HINT
/** `fcntl` command (8-byte `uint64_t` buffer): set the inode's write-lifetime hint (`EINVAL` for an unknown one). */
export const F_SET_RW_HINT: number = native.F_SET_RW_HINT
/**
 * `fcntl` command (8-byte `uint64_t` buffer): the open file description's
 * write-lifetime hint. Recent kernels keep none and answer `EINVAL`
 * (measured on Linux 6.18).
 */
export const F_GET_FILE_RW_HINT: number = native.F_GET_FILE_RW_HINT
/** `fcntl` command (8-byte `uint64_t` buffer): set the open file description's hint; `EINVAL` as for {@link F_GET_FILE_RW_HINT}. */
export const F_SET_FILE_RW_HINT: number = native.F_SET_FILE_RW_HINT
/** Write-lifetime hint: none set. */
export const RWH_WRITE_LIFE_NOT_SET: number = native.RWH_WRITE_LIFE_NOT_SET
/** Write-lifetime hint: no particular lifetime. */
export const RWH_WRITE_LIFE_NONE: number = native.RWH_WRITE_LIFE_NONE
/** Write-lifetime hint: short (the hints are relative to each other). */
export const RWH_WRITE_LIFE_SHORT: number = native.RWH_WRITE_LIFE_SHORT
/** Write-lifetime hint: medium. */
export const RWH_WRITE_LIFE_MEDIUM: number = native.RWH_WRITE_LIFE_MEDIUM
/** Write-lifetime hint: long. */
export const RWH_WRITE_LIFE_LONG: number = native.RWH_WRITE_LIFE_LONG
/** Write-lifetime hint: extremely long. */
export const RWH_WRITE_LIFE_EXTREME: number = native.RWH_WRITE_LIFE_EXTREME
/** `ioctl` request: share a whole file's extents with another (reflink; same filesystem only). */
export const FICLONE: number = native.FICLONE
/** `ioctl` request (`struct file_clone_range` buffer): reflink a range. */
export const FICLONERANGE: number = native.FICLONERANGE
/** Status flag: append mode. */
export const O_APPEND: number = native.O_APPEND
/**
 * Status flag: signal-driven I/O. The fd's owner ({@link F_SETOWN}) gets
 * `SIGIO` (or the {@link F_SETSIG} signal) when I/O is possible, and
 * `SIGIO`'s default action ends the process (Node installs no handler):
 * listen first (`process.on('SIGIO', …)`).
 */
export const O_ASYNC: number = native.O_ASYNC
/**
 * Status flag: the BSD name of {@link O_ASYNC} (the same value; `SIGIO`'s
 * default action ends the process, as there).
 */
export const FASYNC: number = native.FASYNC
/** Status flag: bypass the page cache; for {@link pipe2}, packet mode (each write is read as one packet). */
export const O_DIRECT: number = native.O_DIRECT
/** {@link pipe2} flag: close-on-exec (what `open(2)` also takes; not an `F_GETFL` status flag). */
export const O_CLOEXEC: number = native.O_CLOEXEC
/** Status flag: do not update the access time. */
export const O_NOATIME: number = native.O_NOATIME
/** Status flag: non-blocking I/O. */
export const O_NONBLOCK: number = native.O_NONBLOCK
/** Status flag: synchronized I/O data integrity. */
export const O_DSYNC: number = native.O_DSYNC
/** Status flag: synchronized I/O file integrity. */
export const O_SYNC: number = native.O_SYNC
/** Access mode: read only. */
export const O_RDONLY: number = native.O_RDONLY
/** Access mode: write only. */
export const O_WRONLY: number = native.O_WRONLY
/** Access mode: read and write. */
export const O_RDWR: number = native.O_RDWR
/** Mask of the access-mode bits in `F_GETFL`'s result. */
export const O_ACCMODE: number = native.O_ACCMODE
/** Status flag: an `O_PATH` fd (a location only, no I/O). */
export const O_PATH: number = native.O_PATH
/**
 * {@link lockf}'s `whence`: `start` counts from the start of the file
 * (Python's `os.SEEK_SET`).
 * @see https://man7.org/linux/man-pages/man2/lseek.2.html
 */
export const SEEK_SET = 0 as const
/**
 * {@link lockf}'s `whence`: `start` counts from the fd's file offset
 * (Python's `os.SEEK_CUR`).
 * @see https://man7.org/linux/man-pages/man2/lseek.2.html
 */
export const SEEK_CUR = 1 as const
/**
 * {@link lockf}'s `whence`: `start` counts from the end of the file
 * (Python's `os.SEEK_END`).
 * @see https://man7.org/linux/man-pages/man2/lseek.2.html
 */
export const SEEK_END = 2 as const

/** The size of the buffer a buffer argument is copied into (Python's). */
const ARG_BUF_SIZE = 1024
const INT_MIN = -0x80000000
const UINT_MAX = 0xffffffff
// Taken once: user code replacing globals cannot change how arguments are read.
const encoder = new TextEncoder()

/** The argument types of {@link fcntl} and {@link ioctl}. */
export type FcntlArg = number | ArrayBufferView | ArrayBuffer | SharedArrayBuffer | string

/**
 * A C `int` argument as Python's `fcntl` reads it: -2^31 … 2^32-1, wrapped
 * to 32 bits (so `0x80000000` is the bit pattern of `INT_MIN`).
 */
function cInt(value: unknown, name: string): number {
  return toInt(value, name, INT_MIN, UINT_MAX) | 0
}

/**
 * The commands that use an integer argument. Given a buffer, C and Python
 * pass its address as that integer: `F_SETFL` set flags from a stack
 * address (`O_APPEND|O_DIRECT|O_NOATIME` in a review's run), `F_DUPFD` made
 * an fd at or above it. Refused as a type error. (The `F_GET…` commands
 * ignore their argument, so a buffer there comes back unchanged, as in
 * Python, whose tests do that.)
 */
const INTEGER_COMMANDS: ReadonlySet<number> = new Set([
  native.F_DUPFD, native.F_DUPFD_CLOEXEC, native.F_DUPFD_QUERY, native.F_SETFD, native.F_SETFL,
  native.F_SETOWN, native.F_SETSIG, native.F_SETLEASE, native.F_NOTIFY, native.F_SETPIPE_SZ, native.F_ADD_SEALS,
])

/**
 * The size of the structure each pointer-taking command with a fixed one
 * reads or writes (`struct flock` for the lock commands, …): a shorter
 * buffer is refused before the call. Given 4 bytes, `F_GETLK` read the
 * staging copy's guard bytes as the range and answered "no conflict" for a
 * lock another process held (found by a user's-eye review, user34 L1).
 */
const ARG_SIZES: ReadonlyMap<number, number> = ((flat: number[]) => {
  const m = new Map<number, number>()
  for (let i = 0; i < flat.length; i += 2) m.set(flat[i]!, flat[i + 1]!)
  return m
})(native.fcntlArgSizes())

/**
 * The bytes of a `struct flock` that hold its fields (`l_type`, `l_whence`,
 * `l_start`, `l_len`, `l_pid`) on x86_64 and aarch64; the last 4 of its 32
 * are tail padding. Python's documented `struct.pack('hhllhh', …)` is 28
 * bytes, so a lock command takes a buffer of 28 or more, and one under 32
 * is staged in a zero-padded 32-byte copy (found by the Python parity
 * review, s39-py M1).
 */
const FLOCK_FIELDS = 28
const LOCK_COMMANDS: ReadonlySet<number> = new Set([
  native.F_GETLK, native.F_SETLK, native.F_SETLKW, native.F_OFD_GETLK, native.F_OFD_SETLK, native.F_OFD_SETLKW,
])

/** The binding's result for a call that wrote past its buffer argument (`ERR_BUFFER_OUT_OF_BOUNDS`). */
const ARG_OVERFLOW: number = native.ARG_OVERFLOW

/**
 * The bytes of a buffer or string argument, or undefined for a number or
 * `undefined`. A `Uint8Array` (or `Buffer`) is returned as it is, with no
 * wrapper: this is on the `fcntl(fd, F_OFD_SETLK, buf)` path.
 */
function bytesOf(arg: unknown): Uint8Array | undefined {
  if (arg === undefined || typeof arg === 'number') return undefined
  if (typeof arg === 'string') return encoder.encode(arg)
  const bytes = bufferBytes(arg)
  if (bytes !== undefined) return bytes
  throw invalidArgType('arg', 'of type number, string, ArrayBufferView, ArrayBuffer or SharedArrayBuffer', arg)
}

// Taken at load, so later changes to Buffer cannot change what fcntl returns.
const allocUnsafe = Buffer.allocUnsafe

/**
 * A copy of `bytes` (at most 1024) for the call to fill in and to return: a
 * pooled `Buffer`, freed by the garbage collector like any other, so a
 * synchronous loop of calls holds nothing until the event loop turns. With
 * `nul`, one byte more, a 0: a string argument's terminator, which the
 * binding's guard bytes (none of them zero) no longer give it (s52-fcntl
 * LOW-1). A string of 1024 bytes fills the buffer, as in Python, and gets
 * none.
 */
function copied(bytes: Uint8Array, nul = false): Buffer {
  const len = byteCount(bytes)
  if (len > ARG_BUF_SIZE) throw outOfRange('arg', `at most ${ARG_BUF_SIZE} bytes long`, len)
  const io = allocUnsafe(nul ? len + 1 : len)
  io.set(bytes)
  if (nul) io[len] = 0
  return io
}

/** Whether `arg`, of `len` bytes, is a string whose copy gets a NUL terminator (see `copied`). */
function terminated(arg: unknown, len: number): boolean {
  return typeof arg === 'string' && len < ARG_BUF_SIZE
}

/**
 * `fcntl(fd, cmd, arg)`—Python's `fcntl.fcntl`.
 *
 * - `arg` a number (default 0): the call is made with that integer
 *   (-2^31 … 2^32-1, wrapped to a C `int`), and its integer result is
 *   returned.
 * - `arg` a `Buffer`, any `ArrayBufferView`, an `ArrayBuffer`, a `SharedArrayBuffer` or a string
 *   (UTF-8): its bytes (at most 1024) are copied into a 1024-byte buffer, the
 *   call is made with a pointer to it, and a `Buffer` of the argument's
 *   length holding the buffer's contents afterwards is returned; the
 *   argument itself is not changed. Pass a buffer for every command that
 *   takes a pointer (`F_GETLK`, `F_SETLK`, `F_OFD_*` take a `struct flock`;
 *   `F_GETOWN_EX`/`F_SETOWN_EX`, `F_GETOWNER_UIDS`, the `*_RW_HINT` ones,
 *   `F_GETDELEG`/`F_SETDELEG`): with a number these throw `EFAULT` without
 *   a call, where C and Python would use the number as an address and read
 *   or write whatever lies there (a command the kernel adds later is not
 *   known, and still is).
 *
 * Blocking commands (`F_SETLKW`, `F_OFD_SETLKW`) block the calling thread;
 * use {@link lockFile} to wait without blocking. `F_GETOWN` is made through
 * `F_GETOWN_EX`, as glibc does, so a process group of any id comes back as
 * its negative id (the raw call's result for a group below 4096 looks like
 * an error: fcntl(2), BUGS).
 * @param fd - an fd number, or an object with a numeric `fd` (a `FileHandle`).
 * @param cmd - the command, such as {@link F_GETFL}.
 * @param arg - an integer, or a buffer or string for pointer-taking commands.
 * @returns the call's integer result, or a `Buffer` for a buffer argument.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for arguments of the wrong type, and for a buffer given to a command that uses an integer (`F_SETFL`, `F_DUPFD`, …), which C and Python would pass as its address.
 * @throws {RangeError} `ERR_OUT_OF_RANGE` for an integer outside -2^31 … 2^32-1, a buffer over 1024 bytes, or one shorter than the command's structure (before the call: 28 bytes, the fields of a 32-byte `struct flock`, as Python's `struct.pack('hhllhh', …)` makes, for the lock commands; 8 for `F_GETOWN_EX`/`F_SETOWN_EX`, `F_GETOWNER_UIDS` and the `*_RW_HINT` ones); `ERR_BUFFER_OUT_OF_BOUNDS` if a command of no known size wrote past the buffer (the call was made; nothing is returned).
 * @throws {Error} the command's errno (`syscall` `'fcntl'`): `EBADF`, `EINVAL`, `EAGAIN`/`EACCES` (lock conflict), `EBUSY`, `EPERM`, `EFAULT`, …
 * @see https://man7.org/linux/man-pages/man2/fcntl.2.html
 * @example
 * ```ts
 * const flags = fcntl(fd, F_GETFL) // a number: the integer form
 * fcntl(fd, F_SETFL, flags | O_NONBLOCK)
 * ```
 */
export function fcntl(fd: FdLike, cmd: number, arg?: number): number
/**
 * `fcntl(fd, cmd, buffer)`: the buffer form of {@link fcntl}; returns a
 * `Buffer` of the argument's length with the contents after the call.
 * @param fd - an fd number, or an object with a numeric `fd` (a `FileHandle`).
 * @param cmd - a pointer-taking command, such as {@link F_OFD_GETLK}.
 * @param arg - a buffer or string, at most 1024 bytes, copied.
 * @throws {RangeError} `ERR_OUT_OF_RANGE` for a buffer over 1024 bytes or shorter than the command's structure (28 bytes for the lock commands, a `struct flock`'s fields; 8 for `F_GETOWN_EX`/`F_SETOWN_EX`, `F_GETOWNER_UIDS` and the `*_RW_HINT` ones); `ERR_BUFFER_OUT_OF_BOUNDS` if a command of no known size wrote past the buffer.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for a buffer given to a command that takes an integer.
 * @throws {Error} the command's errno (`syscall` `'fcntl'`).
 * @see https://man7.org/linux/man-pages/man2/fcntl.2.html
 */
export function fcntl(fd: FdLike, cmd: number, arg: ArrayBufferView | ArrayBuffer | SharedArrayBuffer | string): Buffer
/**
 * {@link fcntl} with an argument whose form is known only at run time.
 * @param fd - an fd number, or an object with a numeric `fd` (a `FileHandle`).
 * @param cmd - the command.
 * @param arg - an integer, or a buffer or string.
 * @throws {RangeError} `ERR_OUT_OF_RANGE` for a buffer over 1024 bytes or shorter than the command's structure (28 bytes for the lock commands, a `struct flock`'s fields; 8 for `F_GETOWN_EX`/`F_SETOWN_EX`, `F_GETOWNER_UIDS` and the `*_RW_HINT` ones); `ERR_BUFFER_OUT_OF_BOUNDS` if a command of no known size wrote past the buffer.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for a buffer given to a command that takes an integer.
 * @throws {Error} the command's errno (`syscall` `'fcntl'`).
 * @see https://man7.org/linux/man-pages/man2/fcntl.2.html
 */
export function fcntl(fd: FdLike, cmd: number, arg?: FcntlArg): number | Buffer
export function fcntl(fd: FdLike, cmd: number, arg?: FcntlArg): number | Buffer {
  const n = toFd(fd)
  const c = toInt32(cmd, 'cmd')
  const bytes = bytesOf(arg)
  if (bytes !== undefined) {
    if (INTEGER_COMMANDS.has(c)) throw invalidArgType('arg', `of type number for command ${c}, which takes an integer`, arg)
    const size = ARG_SIZES.get(c)
    // The length from the internal slot: an own `length` property could
    // size the copy past the bytes set() fills (s52-fcntl MED-1).
    const len = byteCount(bytes)
    let io: Buffer
    let nul = false
    if (size !== undefined && len < size) {
      const fields = LOCK_COMMANDS.has(c) ? Math.min(size, FLOCK_FIELDS) : size
      if (len < fields) {
        throw outOfRange('arg', `at least ${fields} bytes long for command ${c} (the fields of its structure)`, len)
      }
      // A struct flock without its tail padding: the call gets all of it.
      io = allocUnsafe(size).fill(0, len)
      io.set(bytes)
    } else {
      nul = terminated(arg, len)
      io = copied(bytes, nul)
    }
    const r = native.fcntlBuf(n, c, io)
    if (r < 0 && r >= -4095) throw errnoError(r, 'fcntl')
    // A string's terminator changed is a write past it, as the guard's are.
    if (r === ARG_OVERFLOW || (nul && io[len] !== 0)) throw argOverflow('fcntl', nul ? len : io.length)
    return io.length === len ? io : io.subarray(0, len)
  }
  const a = arg === undefined ? 0 : cInt(arg, 'arg')
  if (c === F_GETOWN) return getOwner(n)
  const r = native.fcntlInt(n, c, a)
  if (r < 0 && r >= -4095) throw intArgError(r, 'fcntl')
  return r
}

/**
 * `F_GETOWN` as glibc and musl make it: through `F_GETOWN_EX`, whose
 * `struct f_owner_ex` says a process group by its type, not by a negative
 * result. The raw `F_GETOWN` returns minus the group's id, which for a group
 * below 4096 reads as an errno (fcntl(2), BUGS); in a container, group ids
 * are that small. (CPython passes glibc's negative result on as a failure.)
 */
function getOwner(fd: number): number {
  const ex = allocUnsafe(8).fill(0) // struct f_owner_ex { int type; pid_t pid; }
  const r = native.fcntlBuf(fd, F_GETOWN_EX, ex)
  if (r < 0) throw errnoError(r, 'fcntl')
  const pid = ex.readInt32LE(4)
  // A group with no member left reads as pid 0: 0, as in C, never -0.
  return ex.readInt32LE(0) === F_OWNER_PGRP && pid !== 0 ? -pid : pid
}

/** The error of a call given an integer argument; an `EFAULT` says the command takes a pointer. */
function intArgError(errno: number, syscall: string): Error {
  const hint = errno === -constants.errno.EFAULT ? 'this command reads or writes through its argument: pass a Buffer of the size it takes, not a number' : undefined
  return errnoError(errno, syscall, undefined, hint)
}

/**
 * `ioctl(fd, request, arg, mutateFlag)`—Python's `fcntl.ioctl`.
 *
 * - `arg` a number (default 0): passed as an integer (-2^31 … 2^32-1); the
 *   call's integer result is returned. A request that writes through its
 *   argument is `EFAULT` without a call: those encoded `_IOR`/`_IOWR`,
 *   every socket request (`0x89xx`), the common old ones (`FIONREAD`,
 *   `TIOCGWINSZ`, `TCGETS`, `BLKGETSIZE`, the console's `KDGETLED`,
 *   `VT_OPENQRY`, …), and `NS_GET_OWNER_UID`, encoded `_IO` though it
 *   writes a uid. Give such requests a buffer:
 *   for an old request not on that list, an integer is an address, as in C
 *   and Python, and node's own data lies at addresses a 32-bit integer
 *   names.
 * - `arg` a `Buffer`, `ArrayBufferView`, `ArrayBuffer` or `SharedArrayBuffer` and `mutateFlag`
 *   true (the default): the call reads and writes the argument's own bytes
 *   (through a copy of at least 1024 bytes and of the size the
 *   request encodes when either is larger than the argument, directly
 *   otherwise; always through a private copy of the argument's length for
 *   the requests below, so another thread writing a `SharedArrayBuffer`
 *   cannot change their count between the check and the call), and the
 *   integer result is returned.
 * - `arg` a string, or `mutateFlag` false: as {@link fcntl}: a copy in a
 *   1024-byte buffer, and a `Buffer` of the argument's length is returned.
 *
 * The kernel trusts the size the request encodes (or, for an old request,
 * its own idea of it), not the argument's. For a request known to write
 * its answer into the argument (those refused an integer above), the copy
 * has guard bytes right after the argument (fixed bytes, none of them
 * zero, so a single 0 written past it is caught too; a string is copied
 * with its NUL terminator first, and a call that changes that byte is
 * caught, though a 0 written there cannot be told from it); for
 * any other, zeros, as Python before 3.14 gave (so `TIOCSWINSZ` from 4
 * bytes sets a pixel size of 0). When the call changes a byte after the
 * argument, it throws `ERR_BUFFER_OUT_OF_BOUNDS` after the call (CPython
 * 3.14 raises `SystemError`): pass a buffer as large as the request's
 * structure. For `FS_IOC_FIEMAP`, `EXT4_IOC_GET_ES_CACHE`,
 * `FS_IOC_GETFSMAP`, `FIDEDUPERANGE` and XFS's `GETBMAP`, `GETBMAPA` and
 * `GETBMAPX`, and KVM's `KVM_GET_SUPPORTED_CPUID`, `KVM_GET_EMULATED_CPUID`,
 * `KVM_GET_SUPPORTED_HV_CPUID`, `KVM_GET_CPUID2`, `KVM_GET_MSR_INDEX_LIST`,
 * `KVM_GET_MSR_FEATURE_INDEX_LIST`, `KVM_GET_MSRS` and `KVM_GET_REG_LIST`,
 * whose output is an array of the length their header names, a
 * buffer too short for that array is `EINVAL` before the call. Other
 * requests that size their answer by the argument's contents (in btrfs,
 * drivers) are not known. Through a copy, an answer longer than the copy
 * stops at a guard page after it, and the call throws `EFAULT` (C and
 * Python write past their buffer); a buffer used in place is the caller's
 * own memory, and such a request writes past its end, as in C and Python.
 *
 * Pointers inside a buffer argument are used as they are: the kernel reads
 * or writes wherever they point, for any request, socket ones included
 * (`SIOCGIFCONF`'s `ifc_buf` gets `ifc_len` bytes). They are the caller's
 * responsibility, as in C and Python.
 * @param fd - an fd number, or an object with a numeric `fd`.
 * @param request - the request, such as `FIONREAD` or {@link FICLONE} (-2^31 … 2^32-1).
 * @param arg - an integer (this signature), a buffer, or a string (the ones below).
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for arguments of the wrong type.
 * @throws {RangeError} `ERR_OUT_OF_RANGE` for an integer out of range, or a copied buffer over 1024 bytes; `ERR_BUFFER_OUT_OF_BOUNDS` if the call wrote past the buffer (it was made and its result is lost; a buffer updated in place holds the bytes that fit, a copied one is not returned).
 * @throws {Error} the request's errno (`syscall` `'ioctl'`): `ENOTTY` (not for this kind of file), `EBADF`, `EINVAL`, `EFAULT` (also an integer for a request that writes through it), …
 * @see https://man7.org/linux/man-pages/man2/ioctl.2.html
 * @example
 * ```ts
 * const FIONREAD = 0x541b
 * const n = new Int32Array(1)
 * ioctl(pipeFd, FIONREAD, n) // n[0]: bytes ready to read
 * ```
 */
export function ioctl(fd: FdLike, request: number, arg?: number): number
/**
 * `ioctl(fd, request, buffer)`: {@link ioctl} updating a buffer in place;
 * returns the call's integer result.
 * @param fd - an fd number, or an object with a numeric `fd`.
 * @param request - the request (-2^31 … 2^32-1).
 * @param arg - the buffer the call reads and writes.
 * @param mutateFlag - true or omitted.
 * @throws {RangeError} `ERR_OUT_OF_RANGE` for a request out of range or a copied buffer over 1024 bytes; `ERR_BUFFER_OUT_OF_BOUNDS` if the call wrote past the buffer (it was made and its result is lost).
 * @throws {Error} the request's errno (`syscall` `'ioctl'`): `ENOTTY`, `EBADF`, `EINVAL`, `EFAULT`, …
 * @see https://man7.org/linux/man-pages/man2/ioctl.2.html
 */
export function ioctl(fd: FdLike, request: number, arg: ArrayBufferView | ArrayBuffer | SharedArrayBuffer, mutateFlag?: true): number
/**
 * `ioctl(fd, request, string)` or `ioctl(fd, request, buffer, false)`:
 * {@link ioctl} on a 1024-byte copy; returns a `Buffer` of the argument's
 * length with the contents after the call.
 * @param fd - an fd number, or an object with a numeric `fd`.
 * @param request - the request (-2^31 … 2^32-1).
 * @param arg - a string, or a buffer (then `mutateFlag` is false).
 * @param mutateFlag - ignored for a string.
 * @throws {RangeError} `ERR_OUT_OF_RANGE` for a request out of range or a copied buffer over 1024 bytes; `ERR_BUFFER_OUT_OF_BOUNDS` if the call wrote past the buffer (it was made and its result is lost).
 * @throws {Error} the request's errno (`syscall` `'ioctl'`): `ENOTTY`, `EBADF`, `EINVAL`, `EFAULT`, …
 * @see https://man7.org/linux/man-pages/man2/ioctl.2.html
 */
export function ioctl(fd: FdLike, request: number, arg: string, mutateFlag?: boolean): Buffer
/**
 * `ioctl(fd, request, buffer, false)`: {@link ioctl} on a 1024-byte copy
 * of the buffer, which is not changed; returns a `Buffer` of its length
 * with the contents after the call.
 * @param fd - an fd number, or an object with a numeric `fd`.
 * @param request - the request (-2^31 … 2^32-1).
 * @param arg - the buffer, copied.
 * @param mutateFlag - false.
 * @throws {RangeError} `ERR_OUT_OF_RANGE` for a request out of range or a copied buffer over 1024 bytes; `ERR_BUFFER_OUT_OF_BOUNDS` if the call wrote past the buffer (it was made and its result is lost).
 * @throws {Error} the request's errno (`syscall` `'ioctl'`): `ENOTTY`, `EBADF`, `EINVAL`, `EFAULT`, …
 * @see https://man7.org/linux/man-pages/man2/ioctl.2.html
 */
export function ioctl(fd: FdLike, request: number, arg: ArrayBufferView | ArrayBuffer | SharedArrayBuffer, mutateFlag: false): Buffer
/**
 * {@link ioctl} with arguments whose form is known only at run time.
 * @param fd - an fd number, or an object with a numeric `fd`.
 * @param request - the request (-2^31 … 2^32-1).
 * @param arg - an integer, a buffer, or a string.
 * @param mutateFlag - whether a writable buffer is updated in place (default true).
 * @throws {RangeError} `ERR_OUT_OF_RANGE` for a request out of range or a copied buffer over 1024 bytes; `ERR_BUFFER_OUT_OF_BOUNDS` if the call wrote past the buffer (it was made and its result is lost).
 * @throws {Error} the request's errno (`syscall` `'ioctl'`): `ENOTTY`, `EBADF`, `EINVAL`, `EFAULT`, …
 * @see https://man7.org/linux/man-pages/man2/ioctl.2.html
 */
export function ioctl(fd: FdLike, request: number, arg?: FcntlArg, mutateFlag?: boolean): number | Buffer
export function ioctl(fd: FdLike, request: number, arg?: FcntlArg, mutateFlag?: boolean): number | Buffer {
  const n = toFd(fd)
  const req = cInt(request, 'request') >>> 0
  const bytes = bytesOf(arg)
  const mutate = toBool(mutateFlag, 'mutateFlag', true)
  if (bytes !== undefined) {
    // A string's bytes are a copy of it: never written in place.
    if (mutate && typeof arg !== 'string') {
      const r = native.ioctlInPlace(n, req, bytes)
      if (r < 0 && r >= -4095) throw errnoError(r, 'ioctl')
      if (r === ARG_OVERFLOW) throw argOverflow('ioctl', byteCount(bytes))
      return r
    }
    const len = byteCount(bytes)
    const nul = terminated(arg, len)
    const io = copied(bytes, nul)
    const r = native.ioctlInPlace(n, req, io)
    if (r < 0 && r >= -4095) throw errnoError(r, 'ioctl')
    // A string's terminator changed is a write past it, as the guard's are.
    if (r === ARG_OVERFLOW || (nul && io[len] !== 0)) throw argOverflow('ioctl', len)
    return nul ? io.subarray(0, len) : io
  }
  const r = native.ioctlInt(n, req, arg === undefined ? 0 : cInt(arg, 'arg') >>> 0)
  if (r < 0 && r >= -4095) throw intArgError(r, 'ioctl')
  return r
}

/**
 * `flock(fd, operation)`—Python's `fcntl.flock`: {@link LOCK_SH},
 * {@link LOCK_EX} or {@link LOCK_UN}, optionally `| LOCK_NB`.
 *
 * Without `LOCK_NB` this **blocks the calling thread** until the lock is
 * free; use `lockFile(path, { kind: 'flock' })` to wait without blocking.
 * @param fd - an fd number, or an object with a numeric `fd`.
 * @param operation - `LOCK_SH`, `LOCK_EX` or `LOCK_UN`, optionally `| LOCK_NB`.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for arguments of the wrong type.
 * @throws {RangeError} `ERR_OUT_OF_RANGE` for a negative fd or an operation outside int32.
 * @throws {Error} (`syscall` `'flock'`) `EAGAIN` (a conflict with `LOCK_NB`), `EBADF`, `EINVAL`, `ENOLCK`.
 * @see https://man7.org/linux/man-pages/man2/flock.2.html
 * @example
 * ```ts
 * flock(fd, LOCK_EX | LOCK_NB) // throws EAGAIN if another description holds it
 * flock(fd, LOCK_UN)
 * ```
 */
export function flock(fd: FdLike, operation: number): void {
  const r = native.flock(toFd(fd), toInt32(operation, 'operation'))
  if (r !== 0) throw errnoError(r, 'flock')
}

/** Python's decoding of a `lockf` command: `LOCK_UN` exactly, or anything with `LOCK_SH` or `LOCK_EX`. */
function isLockfCmd(cmd: number): boolean {
  return cmd === LOCK_UN || (cmd & LOCK_SH) !== 0 || (cmd & LOCK_EX) !== 0
}

/** The range of `off_t`, a signed 64-bit integer on every Linux target. */
const OFF_MIN = -(2n ** 63n)
const OFF_MAX = 2n ** 63n - 1n

/**
 * `lockf(fd, cmd, len, start, whence)`—Python's `fcntl.lockf`: a POSIX
 * record lock over `len` bytes (0: to the end of the file, however it grows)
 * from `start` relative to `whence` (`SEEK_SET` 0, `SEEK_CUR` 1, `SEEK_END`
 * 2). `cmd` is {@link LOCK_UN}, or {@link LOCK_SH}/{@link LOCK_EX},
 * optionally `| LOCK_NB`, decoded as CPython does (`LOCK_SH` becomes
 * `F_RDLCK`, `LOCK_EX` `F_WRLCK`; `F_SETLK` with `LOCK_NB`, else `F_SETLKW`).
 *
 * These locks belong to the process and are dropped when it closes *any* fd
 * of the file (Node may do that internally): prefer {@link lockFile}. That
 * includes this package: `tryLockFile` and `lockFile`, by path or through
 * an fd, lock through an fd of their own (opened, or a dup) and close it
 * when released or refused, so a probe of a file this process holds a
 * `lockf` lock on drops that lock (it also finds it "held": OFD and POSIX
 * locks of one process conflict). `testLock` does not.
 * Without `LOCK_NB` this **blocks the calling thread**.
 * @param fd - an fd number, or an object with a numeric `fd`.
 * @param cmd - `LOCK_UN`, or `LOCK_SH`/`LOCK_EX` with optional `LOCK_NB`.
 * @param len - bytes to lock (default 0: to the end of the file); a safe integer, or a `bigint` for the rest of `off_t`'s range (±2^63). Negative: the `-len` bytes before `start`.
 * @param start - offset from `whence` (default 0); a safe integer or a `bigint`, as `len`.
 * @param whence - 0 (`SEEK_SET`, the default), 1 (`SEEK_CUR`) or 2 (`SEEK_END`).
 * @throws {TypeError} `ERR_INVALID_ARG_VALUE` for an unrecognized `cmd` (Python's `ValueError`); `ERR_INVALID_ARG_TYPE` for arguments of the wrong type.
 * @throws {RangeError} `ERR_OUT_OF_RANGE` for `whence` outside 0 … 2, a `len`/`start` outside `off_t` or a number that is not a safe integer, and other out-of-range integers.
 * @throws {Error} (`syscall` `'fcntl'`) `EACCES`/`EAGAIN` (a conflict with `LOCK_NB`), `EDEADLK`, `EBADF` (the fd's access mode does not allow the lock type), `EINVAL`.
 * @see https://man7.org/linux/man-pages/man3/lockf.3.html
 * @see https://man7.org/linux/man-pages/man2/fcntl.2.html
 */
export function lockf(fd: FdLike, cmd: number, len?: number | bigint, start?: number | bigint, whence?: 0 | 1 | 2): void {
  const n = toFd(fd)
  const c = toInt32(cmd, 'cmd')
  const l = toBigInt(len === undefined ? 0 : len, 'len', OFF_MIN, OFF_MAX)
  const s = toBigInt(start === undefined ? 0 : start, 'start', OFF_MIN, OFF_MAX)
  const w = toInt(whence, 'whence', 0, 2, 0)
  if (!isLockfCmd(c)) {
    throw invalidArgValue('cmd', cmd, 'is not a recognized lockf command (LOCK_UN, or LOCK_SH/LOCK_EX with optional LOCK_NB)')
  }
  const r = native.lockf(n, c, l, s, w)
  if (r !== 0) throw errnoError(r, 'fcntl')
}

/**
 * `pipe()`—Python's `os.pipe`: a new pipe, `[readFd, writeFd]`, both
 * close-on-exec, as Python's are. Node has no call for a bare pipe (the
 * `'pipe'` stdio of `child_process` is a Unix socket pair, which
 * {@link getPipeSize} refuses with `EBADF`). The caller owns both fds: use
 * them with `fs.readSync`/`writeSync`, `fs.createReadStream(null, { fd })`,
 * `new net.Socket({ fd })`, or a child's `stdio`, and close them.
 * @throws {Error} (`syscall` `'pipe2'`) `EMFILE`/`ENFILE` when out of fds.
 * @see https://man7.org/linux/man-pages/man2/pipe.2.html
 * @example
 * ```ts
 * const [r, w] = pipe()
 * setPipeSize(w, 1 << 20) // 1 MiB of buffer instead of 64 KiB
 * ```
 */
export function pipe(): [readFd: number, writeFd: number] {
  return pipe2(O_CLOEXEC)
}

/**
 * `pipe2(flags)`—Python's `os.pipe2`: a new pipe, `[readFd, writeFd]`, with
 * `flags` as given (as in Python, `O_CLOEXEC` is not added: give it, or
 * use {@link pipe}).
 * @param flags - `O_CLOEXEC`, `O_NONBLOCK`, `O_DIRECT` (packet mode), or'ed; 0 for none.
 * @throws {Error} (`syscall` `'pipe2'`) `EINVAL` for a flag the kernel does not take here; `EMFILE`/`ENFILE`.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` if `flags` is not a number.
 * @throws {RangeError} `ERR_OUT_OF_RANGE` if `flags` is not an int32.
 * @see https://man7.org/linux/man-pages/man2/pipe.2.html
 */
export function pipe2(flags: number): [readFd: number, writeFd: number] {
  const f = toInt32(flags, 'flags')
  const r = native.pipe2(f)
  if (typeof r === 'number') throw errnoError(r, 'pipe2')
  return r
}

/**
 * `fcntl(fd, F_GETPIPE_SZ)`—A pipe's capacity in bytes.
 * @param fd - a pipe's fd number, or an object with a numeric `fd`.
 * @throws {Error} (`syscall` `'fcntl'`) `EBADF` (also for a file that is not a pipe), `EINVAL`.
 * @see https://man7.org/linux/man-pages/man2/fcntl.2.html
 */
export function getPipeSize(fd: FdLike): number {
  const r = native.getPipeSize(toFd(fd))
  if (r < 0) throw errnoError(r, 'fcntl')
  return r
}

/**
 * `fcntl(fd, F_SETPIPE_SZ, size)`—Sets a pipe's capacity; returns the
 * capacity the kernel chose (a power of two ≥ `size`, at least a page).
 *
 * Every `size` that fits the kernel's `unsigned int` reaches the kernel,
 * which answers, as for Python's `fcntl.fcntl`: sizes above 2^31 are
 * `EINVAL`.
 * @param fd - a pipe's fd number, or an object with a numeric `fd`.
 * @param size - the wanted capacity in bytes, 0 … 2^32-1.
 * @throws {RangeError} `ERR_OUT_OF_RANGE` for a `size` outside 0 … 2^32-1 or not an integer.
 * @throws {Error} (`syscall` `'fcntl'`) `EPERM` (above `/proc/sys/fs/pipe-max-size` without `CAP_SYS_RESOURCE`), `EBUSY` (below the buffered data), `EINVAL` (above 2^31), `EBADF` (also for a file that is not a pipe).
 * @see https://man7.org/linux/man-pages/man2/fcntl.2.html
 * @example
 * ```ts
 * setPipeSize(fd, 1 << 20) // 1 MiB, if /proc/sys/fs/pipe-max-size allows
 * ```
 */
export function setPipeSize(fd: FdLike, size: number): number {
  const n = toFd(fd)
  const s = toInt(size, 'size', 0, UINT_MAX)
  const r = native.setPipeSize(n, s)
  if (r < 0) throw errnoError(r, 'fcntl')
  return r
}
