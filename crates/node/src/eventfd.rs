//! eventfd: Python's `os.eventfd`, `os.eventfd_read` and `os.eventfd_write`.

use linux_fd_core::eventfd::{self as core, EfdFlags, EVENTFD_MAX};
use napi::Result;
use napi_derive::napi;

use crate::args;
use crate::error;
use crate::js::{BigU64, JsValue};

/// Close-on-exec flag for `eventfd()` (`EFD_CLOEXEC`). Set by default.
#[napi]
pub const EFD_CLOEXEC: i32 = libc::EFD_CLOEXEC;
/// Non-blocking flag for `eventfd()` (`EFD_NONBLOCK`): a read at zero or a write
/// past the maximum fails with `EAGAIN` instead of blocking.
#[napi]
pub const EFD_NONBLOCK: i32 = libc::EFD_NONBLOCK;
/// Semaphore flag for `eventfd()` (`EFD_SEMAPHORE`): each read takes 1.
#[napi]
pub const EFD_SEMAPHORE: i32 = libc::EFD_SEMAPHORE;

/// `eventfd(initval, flags)`—Creates an eventfd counter and returns its fd, as
/// Python's `os.eventfd`.
///
/// @param initval - initial counter value, 0 … 2^32-1.
/// @param flags - `EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE`; defaults to `EFD_CLOEXEC`.
/// The caller owns the fd and closes it with `fs.closeSync`.
/// @throws {RangeError} `ERR_OUT_OF_RANGE` if `initval` is not in 0 … 2^32-1.
/// @throws {Error} `EINVAL` for unknown flags, `EMFILE`/`ENFILE` when out of fds.
/// @see https://man7.org/linux/man-pages/man2/eventfd.2.html
#[napi(ts_args_type = "initval: number, flags?: number")]
pub fn eventfd(initval: JsValue, flags: JsValue) -> Result<i32> {
    let env = initval.env;
    let initval = args::int(initval, "initval", 0, u32::MAX as i64, None)? as u32;
    let flags = args::int(
        flags,
        "flags",
        i32::MIN as i64,
        i32::MAX as i64,
        Some(libc::EFD_CLOEXEC as i64),
    )?;
    let flags = EfdFlags::from_bits_retain(flags as i32);
    match core::eventfd(initval, flags) {
        Ok(fd) => Ok(std::os::fd::IntoRawFd::into_raw_fd(fd)),
        Err(e) => Err(error::sys(env, e)),
    }
}

/// `eventfd_read(fd)`—Reads the counter and returns it as a bigint, as Python's
/// `os.eventfd_read`: the whole value (resetting it to 0), or 1 with `EFD_SEMAPHORE`.
///
/// Blocks the calling thread while the counter is 0, unless the fd is
/// non-blocking. For waiting without blocking, use `EventCounter` or `Semaphore`.
/// @param fd - an fd number, or an object with a numeric `fd` property.
/// @throws {Error} `EAGAIN` on a non-blocking fd at 0, `EBADF` on a closed fd,
/// `EINVAL` if `fd` is not an eventfd.
/// @see https://man7.org/linux/man-pages/man2/eventfd.2.html
#[napi(ts_args_type = "fd: number | { fd: number }", ts_return_type = "bigint")]
pub fn eventfd_read(fd: JsValue) -> Result<BigU64> {
    let raw = args::fd(fd)?;
    match core::eventfd_read(args::borrow(raw)) {
        Ok(v) => Ok(BigU64(v)),
        Err(e) => Err(error::sys(fd.env, e)),
    }
}

/// `eventfd_write(fd, value)`—Adds `value` to the counter, as Python's `os.eventfd_write`.
///
/// Blocks the calling thread if the sum would pass 2^64-2, unless the fd is
/// non-blocking.
/// @param fd - an fd number, or an object with a numeric `fd` property.
/// @param value - a safe integer or a bigint in 0 … 2^64-2.
/// @throws {RangeError} `ERR_OUT_OF_RANGE` if `value` is outside 0 … 2^64-2.
/// @throws {Error} `EAGAIN` on a non-blocking fd that would overflow, `EBADF`, `EINVAL`.
/// @see https://man7.org/linux/man-pages/man2/eventfd.2.html
#[napi(ts_args_type = "fd: number | { fd: number }, value: number | bigint")]
pub fn eventfd_write(fd: JsValue, value: JsValue) -> Result<()> {
    let raw = args::fd(fd)?;
    let value = args::u64_in(value, "value", EVENTFD_MAX)?;
    core::eventfd_write(args::borrow(raw), value).map_err(|e| error::sys(fd.env, e))
}
