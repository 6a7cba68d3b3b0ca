//! Python's `fcntl` module: `fcntl`, `ioctl`, `flock`, `lockf`, and the
//! constants they take.

use linux_fd_core::fcntl::{self as core, ARG_BUF_SIZE};
use linux_fd_core::lock;
use napi::{Either, Result};
use napi_derive::napi;

use crate::args;
use crate::error;
use crate::js::{CopiedBuffer, JsValue};

macro_rules! consts {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        $(
            $(#[$doc])*
            #[napi]
            pub const $name: i32 = libc::$name as i32;
        )*
    };
}

consts! {
    /// `flock`/`lockf` operation: shared lock.
    LOCK_SH,
    /// `flock`/`lockf` operation: exclusive lock.
    LOCK_EX,
    /// `flock`/`lockf` flag: fail with `EAGAIN` instead of blocking.
    LOCK_NB,
    /// `flock`/`lockf` operation: unlock.
    LOCK_UN,
    /// `fcntl` command: duplicate to the lowest fd ≥ arg.
    F_DUPFD,
    /// `fcntl` command: like `F_DUPFD`, with close-on-exec set atomically.
    F_DUPFD_CLOEXEC,
    /// `fcntl` command: get the fd flags (`FD_CLOEXEC`).
    F_GETFD,
    /// `fcntl` command: set the fd flags (`FD_CLOEXEC`).
    F_SETFD,
    /// fd flag: close on exec.
    FD_CLOEXEC,
    /// `fcntl` command: get the file status flags (`O_*`).
    F_GETFL,
    /// `fcntl` command: set the status flags `O_APPEND`, `O_ASYNC`, `O_DIRECT`, `O_NOATIME`, `O_NONBLOCK` (replaces them; cannot set close-on-exec).
    F_SETFL,
    /// `fcntl` command (struct flock buffer): test for a POSIX record lock.
    F_GETLK,
    /// `fcntl` command (struct flock buffer): set a POSIX record lock, non-blocking.
    F_SETLK,
    /// `fcntl` command (struct flock buffer): set a POSIX record lock, blocking the thread.
    F_SETLKW,
    /// `fcntl` command (struct flock buffer, `l_pid` 0): test for an OFD lock.
    F_OFD_GETLK,
    /// `fcntl` command (struct flock buffer, `l_pid` 0): set an OFD lock, non-blocking.
    F_OFD_SETLK,
    /// `fcntl` command (struct flock buffer, `l_pid` 0): set an OFD lock, blocking the thread.
    F_OFD_SETLKW,
    /// Lock type: read (shared).
    F_RDLCK,
    /// Lock type: write (exclusive).
    F_WRLCK,
    /// Lock type: unlock.
    F_UNLCK,
    /// `fcntl` command: add seals (`F_SEAL_*`) to a memfd made with `MFD_ALLOW_SEALING`.
    F_ADD_SEALS,
    /// `fcntl` command: get a memfd's seals.
    F_GET_SEALS,
    /// Seal: no more seals can be added.
    F_SEAL_SEAL,
    /// Seal: the file cannot shrink.
    F_SEAL_SHRINK,
    /// Seal: the file cannot grow.
    F_SEAL_GROW,
    /// Seal: no writes (fails with `EBUSY` while a writable shared mapping exists).
    F_SEAL_WRITE,
    /// Seal: no new writes, existing writable mappings keep working (Linux 5.1).
    F_SEAL_FUTURE_WRITE,
    /// Seal: the exec bits cannot change (Linux 6.3).
    F_SEAL_EXEC,
    /// `fcntl` command: a pipe's capacity in bytes.
    F_GETPIPE_SZ,
    /// `fcntl` command: set a pipe's capacity (rounded up to a power of two; `EPERM` above `/proc/sys/fs/pipe-max-size`, `EBUSY` below the buffered data).
    F_SETPIPE_SZ,
    /// `ioctl` request: share a whole file's extents with another (reflink; same filesystem only).
    FICLONE,
    /// `ioctl` request (struct file_clone_range buffer): reflink a range.
    FICLONERANGE,
    /// Status flag: append mode.
    O_APPEND,
    /// Status flag: signal-driven I/O.
    O_ASYNC,
    /// Status flag: bypass the page cache.
    O_DIRECT,
    /// Status flag: do not update the access time.
    O_NOATIME,
    /// Status flag: non-blocking I/O.
    O_NONBLOCK,
    /// Status flag: synchronized I/O data integrity.
    O_DSYNC,
    /// Status flag: synchronized I/O file integrity.
    O_SYNC,
    /// Access mode: read only.
    O_RDONLY,
    /// Access mode: write only.
    O_WRONLY,
    /// Access mode: read and write.
    O_RDWR,
    /// Mask of the access mode bits in `F_GETFL`'s result.
    O_ACCMODE,
    /// Status flag: an `O_PATH` fd (location only, no I/O).
    O_PATH,
}

/// Reads an integer fcntl/ioctl argument as C `int` does from Python's `I`
/// format: -2^31 … 2^32-1, wrapped to 32 bits.
fn c_int_arg(v: JsValue, name: &str) -> Result<i32> {
    Ok(args::int(v, name, i32::MIN as i64, u32::MAX as i64, Some(0))? as u32 as i32)
}

/// The integer form of `arg` (default 0), once buffers have been ruled out.
fn int_arg(arg: JsValue) -> Result<i32> {
    match arg.as_f64() {
        Some(_) => c_int_arg(arg, "arg"),
        None if arg.is_undefined() => Ok(0),
        None => Err(error::invalid_type(
            arg.env,
            "arg",
            "of type number, string, ArrayBufferView or ArrayBuffer",
            &arg,
        )),
    }
}

/// A buffer argument: its bytes, and whether it can be written back (a
/// TypedArray / ArrayBuffer) or not (a string).
fn buffer_arg(v: JsValue) -> Option<(*mut u8, usize, bool)> {
    if let Some((ptr, len)) = v.as_bytes() {
        return Some((ptr, len, true));
    }
    v.as_string().map(|s| {
        let bytes = s.into_bytes().into_boxed_slice();
        let len = bytes.len();
        (Box::leak(bytes).as_mut_ptr(), len, false)
    })
}

/// Copies `len` bytes from `ptr` into a fresh 1024-byte argument buffer.
fn staged(env: napi::sys::napi_env, ptr: *const u8, len: usize, what: &str) -> Result<[u8; ARG_BUF_SIZE]> {
    if len > ARG_BUF_SIZE {
        return Err(error::out_of_range(
            env,
            what,
            &format!("at most {ARG_BUF_SIZE} bytes long"),
            &len.to_string(),
        ));
    }
    let mut buf = [0u8; ARG_BUF_SIZE];
    // SAFETY: ptr is valid for len ≤ 1024 reads (a live JS buffer or our own string bytes).
    unsafe { std::ptr::copy_nonoverlapping(ptr, buf.as_mut_ptr(), len) };
    Ok(buf)
}

fn free_string_bytes(ptr: *mut u8, len: usize, writable: bool) {
    if !writable {
        // SAFETY: buffer_arg leaked exactly this boxed slice for a string argument.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) });
    }
}

/// `fcntl(fd, cmd, arg)`—Python's `fcntl.fcntl`.
///
/// - `arg` a number (default 0): the call is made with that integer and its
///   integer result is returned.
/// - `arg` a `Uint8Array`/`Buffer`/`ArrayBuffer` or a string: its bytes (at
///   most 1024) are copied into a 1024-byte buffer, the call is made with a
///   pointer to it, and a `Buffer` of the argument's length holding the
///   buffer's contents afterwards is returned. Pass a buffer for every command
///   that takes a pointer (`F_GETLK`, `F_SETLK`, `F_OFD_*` take a `struct flock`).
///
/// Blocking commands (`F_SETLKW`, `F_OFD_SETLKW`) block the calling thread;
/// use `lockFile` to wait without blocking.
/// @throws {RangeError} `ERR_OUT_OF_RANGE` for a buffer over 1024 bytes.
/// @throws {Error} the command's errno: `EBADF`, `EINVAL`, `EAGAIN`/`EACCES` (lock conflict), `EBUSY`, `EPERM`, …
/// @see https://man7.org/linux/man-pages/man2/fcntl.2.html
#[napi(
    ts_args_type = "fd: number | { fd: number }, cmd: number, arg?: number | ArrayBufferView | ArrayBuffer | string",
    ts_return_type = "number | Buffer"
)]
pub fn fcntl(fd: JsValue, cmd: JsValue, arg: JsValue) -> Result<Either<i32, CopiedBuffer>> {
    let env = fd.env;
    let raw = args::fd(fd)?;
    let cmd = args::int(cmd, "cmd", i32::MIN as i64, i32::MAX as i64, None)? as i32;
    let file = args::borrow(raw);
    if let Some((ptr, len, writable)) = buffer_arg(arg) {
        let staged = staged(env, ptr, len, "arg");
        free_string_bytes(ptr, len, writable);
        let mut buf = staged?;
        core::fcntl_buf(file, cmd, &mut buf).map_err(|e| error::sys(env, e))?;
        return Ok(Either::B(CopiedBuffer(buf[..len].to_vec())));
    }
    let int = int_arg(arg)?;
    // This is Python's fcntl.fcntl, and JS picks cmd. A pointer-taking
    // command given a number uses it as an address, as in C and Python; the
    // JS docs say to pass a buffer for those.
    // SAFETY: not checkable here, by design; for an integer-argument command
    // the kernel reads the number as plain data, and a bad address is EFAULT.
    unsafe { core::fcntl_int(file, cmd, int) }
        .map(Either::A)
        .map_err(|e| error::sys(env, e))
}

/// `ioctl(fd, request, arg, mutateFlag)`—Python's `fcntl.ioctl`.
///
/// - `arg` a number (default 0): passed as an integer; the result is returned.
/// - `arg` a `Uint8Array`/`ArrayBuffer` and `mutateFlag` true (the default):
///   the call reads and writes the caller's bytes (through a 1024-byte copy
///   when they fit, directly otherwise) and the integer result is returned.
/// - `arg` a string, or `mutateFlag` false: as `fcntl`: a copy in a 1024-byte
///   buffer, and a `Buffer` of the argument's length is returned.
///
/// The buffer must be at least as large as what the request reads or writes.
/// @throws {RangeError} `ERR_OUT_OF_RANGE` for a copied buffer over 1024 bytes.
/// @throws {Error} the request's errno: `ENOTTY` (not for this kind of file), `EBADF`, `EINVAL`, `EFAULT`, …
/// @see https://man7.org/linux/man-pages/man2/ioctl.2.html
#[napi(
    ts_args_type = "fd: number | { fd: number }, request: number, arg?: number | ArrayBufferView | ArrayBuffer | string, mutateFlag?: boolean",
    ts_return_type = "number | Buffer"
)]
pub fn ioctl(
    fd: JsValue,
    request: JsValue,
    arg: JsValue,
    mutate_flag: JsValue,
) -> Result<Either<i32, CopiedBuffer>> {
    let env = fd.env;
    let raw = args::fd(fd)?;
    let request =
        args::int(request, "request", i32::MIN as i64, u32::MAX as i64, None)? as u32 as libc::c_ulong;
    let mutate = args::bool_or(mutate_flag, "mutateFlag", true)?;
    let file = args::borrow(raw);
    if let Some((ptr, len, writable)) = buffer_arg(arg) {
        if writable && mutate {
            if len <= ARG_BUF_SIZE {
                let mut buf = staged(env, ptr, len, "arg")?;
                // Not checkable here, by design (Python's fcntl.ioctl): the
                // kernel trusts the size encoded in the JS-chosen request.
                // SAFETY: buf is a live 1024-byte array, as in Python, and the
                // JS docs require the argument to cover what the request touches.
                let rc =
                    unsafe { core::ioctl_buf(file, request, &mut buf) }.map_err(|e| error::sys(env, e))?;
                // SAFETY: ptr is the caller's writable JS buffer of len bytes
                // (as_bytes), alive for this synchronous call; buf holds ≥ len.
                unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), ptr, len) };
                return Ok(Either::A(rc));
            }
            // SAFETY: ptr/len describe the caller's live, writable JS buffer,
            // which stays alive for this synchronous call.
            let slice = unsafe { std::slice::from_raw_parts_mut(ptr, len) };
            // SAFETY: as above, not checkable: the kernel trusts the request's
            // encoded size; slice is the caller's live buffer, which the JS docs
            // require to cover what the request reads or writes.
            let rc = unsafe { core::ioctl_buf(file, request, slice) }.map_err(|e| error::sys(env, e))?;
            return Ok(Either::A(rc));
        }
        let staged = staged(env, ptr, len, "arg");
        free_string_bytes(ptr, len, writable);
        let mut buf = staged?;
        // SAFETY: as above, not checkable: buf is a live 1024-byte copy, as in
        // Python, and the JS docs require the argument to cover the request.
        unsafe { core::ioctl_buf(file, request, &mut buf) }.map_err(|e| error::sys(env, e))?;
        return Ok(Either::B(CopiedBuffer(buf[..len].to_vec())));
    }
    let int = int_arg(arg)? as u32 as libc::c_ulong;
    // SAFETY: not checkable here, by design, as for fcntl above: JS picks the
    // request; a number arg is plain data for an integer-argument request,
    // and an address (as in C and Python) for a pointer-taking one.
    unsafe { core::ioctl_int(file, request, int) }
        .map(Either::A)
        .map_err(|e| error::sys(env, e))
}

/// `flock(fd, operation)`—Python's `fcntl.flock`: `LOCK_SH`, `LOCK_EX` or
/// `LOCK_UN`, optionally `| LOCK_NB`.
///
/// Without `LOCK_NB` this **blocks the calling thread** until the lock is
/// free; use `lockFile(path, { kind: 'flock' })` to wait without blocking.
/// @throws {Error} `EAGAIN` (conflict with `LOCK_NB`), `EBADF`, `EINVAL`, `ENOLCK`.
/// @see https://man7.org/linux/man-pages/man2/flock.2.html
#[napi(ts_args_type = "fd: number | { fd: number }, operation: number")]
pub fn flock(fd: JsValue, operation: JsValue) -> Result<()> {
    let raw = args::fd(fd)?;
    let op = args::int(operation, "operation", i32::MIN as i64, i32::MAX as i64, None)? as i32;
    lock::flock(args::borrow(raw), op).map_err(|e| error::sys(fd.env, e))
}

/// `lockf(fd, cmd, len, start, whence)`—Python's `fcntl.lockf`: a POSIX
/// record lock over `len` bytes (0: to end of file) from `start` relative to
/// `whence` (`SEEK_SET` 0, `SEEK_CUR` 1, `SEEK_END` 2). `cmd` is `LOCK_UN`,
/// or `LOCK_SH`/`LOCK_EX` optionally `| LOCK_NB`.
///
/// These locks belong to the process and are dropped when it closes *any* fd
/// of the file (Node may do that internally); prefer `lockFile`. Without
/// `LOCK_NB` this **blocks the calling thread**.
/// @throws {TypeError} `ERR_INVALID_ARG_VALUE` for an unrecognized `cmd` (Python's ValueError).
/// @throws {Error} `EACCES`/`EAGAIN` (conflict with `LOCK_NB`), `EDEADLK`, `EBADF`, `EINVAL`.
/// @see https://man7.org/linux/man-pages/man3/lockf.3.html
#[napi(
    ts_args_type = "fd: number | { fd: number }, cmd: number, len?: number, start?: number, whence?: number"
)]
pub fn lockf(fd: JsValue, cmd: JsValue, len: JsValue, start: JsValue, whence: JsValue) -> Result<()> {
    let env = fd.env;
    let raw = args::fd(fd)?;
    let cmd = args::int(cmd, "cmd", i32::MIN as i64, i32::MAX as i64, None)? as i32;
    const MAX: i64 = (1i64 << 53) - 1;
    let len = args::int(len, "len", -MAX, MAX, Some(0))?;
    let start = args::int(start, "start", -MAX, MAX, Some(0))?;
    let whence = args::int(whence, "whence", 0, 2, Some(0))? as i32;
    if lock::lockf_op(cmd).is_none() {
        return Err(error::invalid_value(
            env,
            "cmd",
            "is not a recognized lockf command (LOCK_UN, or LOCK_SH/LOCK_EX with optional LOCK_NB)",
        ));
    }
    lock::lockf(args::borrow(raw), cmd, len, start, whence).map_err(|e| error::sys(env, e))
}

/// `fcntl(fd, F_GETPIPE_SZ)`—A pipe's capacity in bytes (convenience).
/// @throws {Error} `EBADF`, `EINVAL` (not a pipe).
/// @see https://man7.org/linux/man-pages/man2/fcntl.2.html
#[napi(ts_args_type = "fd: number | { fd: number }")]
pub fn get_pipe_size(fd: JsValue) -> Result<u32> {
    let raw = args::fd(fd)?;
    core::pipe_size(args::borrow(raw))
        .map(|n| n as u32)
        .map_err(|e| error::sys(fd.env, e))
}

/// `fcntl(fd, F_SETPIPE_SZ, size)`—Sets a pipe's capacity; returns the
/// capacity the kernel chose (a power of two ≥ `size`).
/// @throws {Error} `EPERM` (above `/proc/sys/fs/pipe-max-size`), `EBUSY` (below the buffered data), `EINVAL`.
/// @see https://man7.org/linux/man-pages/man2/fcntl.2.html
#[napi(ts_args_type = "fd: number | { fd: number }, size: number")]
pub fn set_pipe_size(fd: JsValue, size: JsValue) -> Result<u32> {
    let raw = args::fd(fd)?;
    let size = args::int(size, "size", 0, i32::MAX as i64, None)? as usize;
    core::set_pipe_size(args::borrow(raw), size)
        .map(|n| n as u32)
        .map_err(|e| error::sys(fd.env, e))
}
