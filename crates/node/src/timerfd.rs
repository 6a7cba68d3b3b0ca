//! timerfd: Python 3.13's `os.timerfd_*` functions, and the native calls
//! behind `Timer` (src/timerfd.ts). Errors are negative errnos (see
//! `handle.rs`); times are checked by the caller (non-negative, finite, in
//! range), and anything else is still memory-safe: a bad time is `-EINVAL`.

use std::os::fd::BorrowedFd;

use crate::rt::ext::Owned;
use linux_fd_core::timerfd::{self as core, TimerSpec};
use napi::bindgen_prelude::Either;
use napi_derive::napi;

use crate::handle::{borrow_fd, either, errno, int, on_fd, sys, FdHandle};

/// Close-on-exec flag for `timerfd_create()` (`TFD_CLOEXEC`).
#[napi]
pub const TFD_CLOEXEC: i32 = libc::TFD_CLOEXEC;
/// Non-blocking flag for `timerfd_create()` (`TFD_NONBLOCK`).
#[napi]
pub const TFD_NONBLOCK: i32 = libc::TFD_NONBLOCK;
/// `timerfd_settime()` flag (`TFD_TIMER_ABSTIME`): the time is an absolute clock value.
#[napi]
pub const TFD_TIMER_ABSTIME: i32 = libc::TFD_TIMER_ABSTIME;
/// `timerfd_settime()` flag (`TFD_TIMER_CANCEL_ON_SET`).
#[napi]
pub const TFD_TIMER_CANCEL_ON_SET: i32 = libc::TFD_TIMER_CANCEL_ON_SET;
/// `CLOCK_REALTIME`.
#[napi]
pub const CLOCK_REALTIME: i32 = libc::CLOCK_REALTIME;
/// `CLOCK_MONOTONIC`.
#[napi]
pub const CLOCK_MONOTONIC: i32 = libc::CLOCK_MONOTONIC;
/// `CLOCK_BOOTTIME`.
#[napi]
pub const CLOCK_BOOTTIME: i32 = libc::CLOCK_BOOTTIME;
/// `CLOCK_REALTIME_ALARM`.
#[napi]
pub const CLOCK_REALTIME_ALARM: i32 = libc::CLOCK_REALTIME_ALARM;
/// `CLOCK_BOOTTIME_ALARM`.
#[napi]
pub const CLOCK_BOOTTIME_ALARM: i32 = libc::CLOCK_BOOTTIME_ALARM;
// Clocks `clock_gettime` reads and `timerfd_create` refuses (`EINVAL`).
#[napi]
pub const CLOCK_MONOTONIC_RAW: i32 = libc::CLOCK_MONOTONIC_RAW;
#[napi]
pub const CLOCK_MONOTONIC_COARSE: i32 = libc::CLOCK_MONOTONIC_COARSE;
#[napi]
pub const CLOCK_REALTIME_COARSE: i32 = libc::CLOCK_REALTIME_COARSE;
#[napi]
pub const CLOCK_TAI: i32 = libc::CLOCK_TAI;
#[napi]
pub const CLOCK_PROCESS_CPUTIME_ID: i32 = libc::CLOCK_PROCESS_CPUTIME_ID;
#[napi]
pub const CLOCK_THREAD_CPUTIME_ID: i32 = libc::CLOCK_THREAD_CPUTIME_ID;

/// `timerfd_create(clockid, flags | TFD_CLOEXEC)`: a new fd (the caller owns
/// it), or a negative errno.
/// @see https://man7.org/linux/man-pages/man2/timerfd_create.2.html
#[napi]
pub fn timerfd_create(clockid: i32, flags: i32) -> i32 {
    int(sys(core::timerfd_create(clockid, flags | libc::TFD_CLOEXEC)).map(linux_fd_core::fd::hand_out))
}

/// A new close-on-exec, non-blocking timerfd on `clockid`, owned by the
/// returned handle; or a negative errno.
/// @see https://man7.org/linux/man-pages/man2/timerfd_create.2.html
#[napi(ts_return_type = "ExternalObject<'FdHandle'> | number")]
pub fn timerfd_open(clockid: i32) -> Either<Owned<FdHandle>, i32> {
    // Timerfds share the anonymous inode (see FdHandle::new).
    either(
        sys(core::timerfd_create(
            clockid,
            libc::TFD_CLOEXEC | libc::TFD_NONBLOCK,
        ))
        .map(|fd| FdHandle::new(fd, true)),
    )
}

/// The fd and new setting of a settime call, or the negative errno to return.
fn set_args<'a>(fd: i32, new: Option<TimerSpec>) -> Result<(BorrowedFd<'a>, TimerSpec), i32> {
    let fd = borrow_fd(fd).map_err(|()| -libc::EBADF)?;
    Ok((fd, new.ok_or(-libc::EINVAL)?))
}

fn settime(fd: i32, flags: i32, new: Option<TimerSpec>) -> Result<TimerSpec, i32> {
    let (fd, new) = set_args(fd, new)?;
    sys(core::timerfd_settime(fd, flags, new))
}

/// `settime` without the previous setting (a null `old_value`: the kernel
/// does less), for the forms that return none.
fn set(fd: i32, flags: i32, new: Option<TimerSpec>) -> i32 {
    int(set_args(fd, new)
        .and_then(|(fd, new)| sys(core::timerfd_set(fd, flags, new)))
        .map(|()| 0))
}

fn gettime(fd: i32) -> Result<TimerSpec, i32> {
    on_fd(fd, core::timerfd_gettime)
}

fn spec(initial: Option<u64>, interval: Option<u64>) -> Option<TimerSpec> {
    Some(TimerSpec {
        value_ns: initial?,
        interval_ns: interval?,
    })
}

/// `timerfd_settime(fd, flags, { initial, interval })` with times in seconds
/// (a positive time below 1 ns is 1 ns; one beyond `KTIME_MAX` is
/// `KTIME_MAX`, as the kernel treats it): the previous
/// `[next_expiration, interval]` in seconds, or a negative errno.
/// @see https://man7.org/linux/man-pages/man2/timerfd_settime.2.html
#[napi(ts_return_type = "[number, number] | number")]
pub fn timerfd_settime(fd: i32, flags: i32, initial: f64, interval: f64) -> Either<Vec<f64>, i32> {
    let new = spec(core::secs_to_ns(initial), core::secs_to_ns(interval));
    either(
        settime(fd, flags, new)
            .map(|old| vec![core::ns_to_secs(old.value_ns), core::ns_to_secs(old.interval_ns)]),
    )
}

/// `timerfd_settime` with times in nanoseconds (the low 64 bits of each
/// bigint; the caller checks 0 … 2^63-1): the previous
/// `[next_expiration, interval]` as bigints, or a negative errno.
/// Registered raw as `timerfdSettimeNs` (`rt/rawfn.rs`).
/// @see https://man7.org/linux/man-pages/man2/timerfd_settime.2.html
pub fn settime_ns(fd: i32, flags: i32, initial: u64, interval: u64) -> Result<(u64, u64), i32> {
    settime(fd, flags, spec(Some(initial), Some(interval))).map(|old| (old.value_ns, old.interval_ns))
}

/// `timerfd_settime` with times in nanoseconds, as `settime_ns`: 0 or a
/// negative errno. The previous setting is neither asked of the kernel nor
/// returned (a null `old_value`). `Timer.setNs()`.
/// Registered raw as `timerfdSetNs` (`rt/rawfn.rs`).
/// @see https://man7.org/linux/man-pages/man2/timerfd_settime.2.html
pub fn set_ns(fd: i32, flags: i32, initial: u64, interval: u64) -> i32 {
    set(fd, flags, spec(Some(initial), Some(interval)))
}

/// `timerfd_settime` with times in milliseconds, as `timerfdSettime` rounds
/// them: 0 or a negative errno (the previous setting is neither asked of the
/// kernel nor returned).
/// `Timer.set()` and `Timer.disarm()`.
/// @see https://man7.org/linux/man-pages/man2/timerfd_settime.2.html
#[napi]
pub fn timerfd_set_ms(fd: i32, flags: i32, initial: f64, interval: f64) -> i32 {
    set(fd, flags, spec(core::ms_to_ns(initial), core::ms_to_ns(interval)))
}

/// `timerfd_gettime(fd)`: `[next_expiration, interval]` in seconds, or a
/// negative errno.
/// @see https://man7.org/linux/man-pages/man2/timerfd_gettime.2.html
#[napi(ts_return_type = "[number, number] | number")]
pub fn timerfd_gettime(fd: i32) -> Either<Vec<f64>, i32> {
    either(gettime(fd).map(|cur| vec![core::ns_to_secs(cur.value_ns), core::ns_to_secs(cur.interval_ns)]))
}

/// `timerfd_gettime(fd)`: `[next_expiration, interval]` in nanoseconds, as
/// bigints, or a negative errno. Registered raw as `timerfdGettimeNs`
/// (`rt/rawfn.rs`).
/// @see https://man7.org/linux/man-pages/man2/timerfd_gettime.2.html
pub fn gettime_ns(fd: i32) -> Result<(u64, u64), i32> {
    gettime(fd).map(|cur| (cur.value_ns, cur.interval_ns))
}

/// `timerfd_gettime(fd)`: `[next_expiration, interval]` in milliseconds, or
/// a negative errno. `Timer.get()`.
/// @see https://man7.org/linux/man-pages/man2/timerfd_gettime.2.html
#[napi(ts_return_type = "[number, number] | number")]
pub fn timerfd_get_ms(fd: i32) -> Either<Vec<f64>, i32> {
    either(gettime(fd).map(|cur| vec![core::ns_to_ms(cur.value_ns), core::ns_to_ms(cur.interval_ns)]))
}

/// `read(fd, &u64, 8)` on a timerfd: the expirations since the last read (a
/// bigint; 0 only for a read that returned no bytes, after the clock stepped
/// back: core `read_u64_or_empty`), or a negative errno (`EAGAIN`: none yet, on a
/// non-blocking fd; `ECANCELED`: the clock jumped under
/// `TFD_TIMER_CANCEL_ON_SET`).
/// @see https://man7.org/linux/man-pages/man2/timerfd_create.2.html
#[napi(ts_return_type = "bigint | number")]
pub fn timerfd_read(fd: i32) -> Either<u64, i32> {
    either(on_fd(fd, core::timerfd_read))
}

/// `timerfd_read(fd)` that never waits: `-EAGAIN` if the timer has not
/// expired even if another holder of the fd made its open file description
/// blocking (`core::timerfd_try_read`: `preadv2(RWF_NOWAIT)`, Linux 6.10;
/// a plain read before; a read of no bytes is `-EAGAIN` too). The read of `Timer`.
/// @see https://man7.org/linux/man-pages/man2/timerfd_create.2.html
#[napi(ts_return_type = "bigint | number")]
pub fn timerfd_try_read(fd: i32) -> Either<u64, i32> {
    either(on_fd(fd, core::timerfd_try_read))
}

/// `clock_gettime(clockid)`: the clock's value in nanoseconds (a bigint), or
/// a negative errno (`EINVAL`: an unknown clock, or an alarm clock on a
/// machine without a real-time clock device).
/// @see https://man7.org/linux/man-pages/man2/clock_gettime.2.html
#[napi(ts_return_type = "bigint | number")]
pub fn clock_gettime_ns(clockid: i32) -> Either<u64, i32> {
    either(sys(core::clock_now_ns(clockid)))
}

/// `clock_getres(clockid)`: the clock's resolution in nanoseconds (a
/// bigint), or a negative errno (`EINVAL`: an unknown clock).
/// @see https://man7.org/linux/man-pages/man2/clock_getres.2.html
#[napi(ts_return_type = "bigint | number")]
pub fn clock_getres_ns(clockid: i32) -> Either<u64, i32> {
    either(sys(core::clock_res_ns(clockid)))
}

/// The clock id of a timerfd (`clockid:` in `/proc/self/fdinfo`), `null`
/// where the kernel does not say (no `/proc`, Linux < 3.17, not open), or a
/// negative errno (`EMFILE`, `ENFILE`, `ENOMEM`: fdinfo could not be opened
/// for want of an fd or memory, core `clock_id`).
/// @see https://man7.org/linux/man-pages/man5/proc_pid_fdinfo.5.html
#[napi]
pub fn timerfd_clock_id(fd: i32) -> Option<i32> {
    let fd = borrow_fd(fd).ok()?;
    match core::clock_id(fd) {
        Ok(id) => id,
        Err(e) if e.errno != linux_fd_core::Errno::EBADF => Some(errno(&e)),
        Err(_) => None,
    }
}
