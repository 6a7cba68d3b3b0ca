//! `timerfd_create(2)`: timers delivered through a file descriptor.
//!
//! A read returns the number of expirations since the last read as a `u64`
//! (so missed ticks are counted, never lost); it fails with `EAGAIN` on a
//! non-blocking fd that has not expired, and with `ECANCELED` after a
//! discontinuous change of `CLOCK_REALTIME` if the timer was set with
//! `TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET`. The `*_ALARM` clocks need
//! `CAP_WAKE_ALARM` (`EPERM`). `timerfd_gettime` is always relative.
//!
//! # References
//! - [`timerfd_create(2)`](https://man7.org/linux/man-pages/man2/timerfd_create.2.html)

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use crate::error::{Errno, Error, Result};
use crate::eventfd::{read_u64_or_empty, Nowait, Wait};

/// Nanoseconds per second.
pub const NSEC_PER_SEC: u64 = 1_000_000_000;

/// A timer setting: time to the next expiration and the period, in nanoseconds.
/// `value_ns` 0 means disarmed; `interval_ns` 0 means one-shot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimerSpec {
    /// Time until (or, with `TFD_TIMER_ABSTIME`, the clock value of) the next expiration.
    pub value_ns: u64,
    /// The period after the first expiration.
    pub interval_ns: u64,
}

fn to_timespec(ns: u64) -> libc::timespec {
    libc::timespec {
        // `as _`, not `as libc::time_t`: that alias is deprecated on musl.
        tv_sec: (ns / NSEC_PER_SEC) as _,
        // Always < 1e9, as the kernel requires.
        tv_nsec: (ns % NSEC_PER_SEC) as _,
    }
}

fn from_timespec(ts: &libc::timespec) -> u64 {
    (ts.tv_sec.max(0) as u64)
        .saturating_mul(NSEC_PER_SEC)
        .saturating_add(ts.tv_nsec.max(0) as u64)
}

impl TimerSpec {
    fn to_c(self) -> libc::itimerspec {
        libc::itimerspec {
            it_value: to_timespec(self.value_ns),
            it_interval: to_timespec(self.interval_ns),
        }
    }
    fn from_c(c: &libc::itimerspec) -> Self {
        Self {
            value_ns: from_timespec(&c.it_value),
            interval_ns: from_timespec(&c.it_interval),
        }
    }
}

/// `timerfd_create(clockid, flags)`—Creates a timer on `clockid`
/// (`CLOCK_REALTIME`, `CLOCK_MONOTONIC`, `CLOCK_BOOTTIME`, or an `*_ALARM` clock).
///
/// # Errors
/// `EINVAL` (unknown clock or flags), `EPERM` (`*_ALARM` without `CAP_WAKE_ALARM`), `EMFILE`.
pub fn timerfd_create(clockid: i32, flags: i32) -> Result<OwnedFd> {
    // SAFETY: timerfd_create takes two integers and returns a new fd or -1.
    let fd = unsafe { libc::timerfd_create(clockid as libc::clockid_t, flags) };
    if fd < 0 {
        return Err(Error::new(Errno::last(), "timerfd_create"));
    }
    // SAFETY: fd was just created and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `timerfd_settime(fd, flags, new, old)`—Arms (or, with `value_ns` 0,
/// disarms) the timer and returns the previous setting (relative).
///
/// # Errors
/// `EBADF`, `EINVAL` (not a timerfd, or unknown flags), `ECANCELED`. The
/// kernel ignores `TFD_TIMER_CANCEL_ON_SET` without `TFD_TIMER_ABSTIME` or
/// on a clock other than a realtime one, with no error (the TypeScript
/// `Timer` refuses that combination).
pub fn timerfd_settime(fd: BorrowedFd<'_>, flags: i32, new: TimerSpec) -> Result<TimerSpec> {
    // SAFETY: itimerspec is a plain C struct; all-zero is valid.
    let mut old: libc::itimerspec = unsafe { std::mem::zeroed() };
    settime_c(fd, flags, new, &mut old)?;
    Ok(TimerSpec::from_c(&old))
}

/// `timerfd_settime(fd, flags, new, NULL)`—Arms or disarms the timer as
/// [`timerfd_settime`] does, without asking for the previous setting. The
/// kernel then skips reading the old expiry and copying it out. In
/// `bench/floor.c`, whose two timerfd rows differ only in this and in
/// returning the old value, the null form was 0.49–0.59 µs less per call in
/// each of four runs on the project's 2-vCPU bench VM
/// (`docs/bench-floor.md`). Until 2026-12-02 `Timer.set()`/`setNs()`/
/// `disarm()` asked for the old value and dropped it.
///
/// # Errors
/// As [`timerfd_settime`].
pub fn timerfd_set(fd: BorrowedFd<'_>, flags: i32, new: TimerSpec) -> Result<()> {
    settime_c(fd, flags, new, std::ptr::null_mut())
}

/// The one `timerfd_settime(2)` call of both forms; `old` may be null.
fn settime_c(fd: BorrowedFd<'_>, flags: i32, new: TimerSpec, old: *mut libc::itimerspec) -> Result<()> {
    let c = new.to_c();
    // SAFETY: `c` is valid for the call; `old` is either null (allowed by
    // timerfd_settime(2)) or a valid itimerspec of the caller; fd is only
    // passed to the kernel.
    let rc = unsafe { libc::timerfd_settime(fd.as_raw_fd(), flags, &c, old) };
    if rc < 0 {
        return Err(Error::new(Errno::last(), "timerfd_settime"));
    }
    Ok(())
}

/// `timerfd_gettime(fd)`—The time to the next expiration (always relative)
/// and the interval.
///
/// # Errors
/// `EBADF`, `EINVAL` (not a timerfd).
pub fn timerfd_gettime(fd: BorrowedFd<'_>) -> Result<TimerSpec> {
    // SAFETY: itimerspec is a plain C struct; all-zero is valid.
    let mut cur: libc::itimerspec = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is valid for the call; fd is only passed to the kernel.
    let rc = unsafe { libc::timerfd_gettime(fd.as_raw_fd(), &mut cur) };
    if rc < 0 {
        return Err(Error::new(Errno::last(), "timerfd_gettime"));
    }
    Ok(TimerSpec::from_c(&cur))
}

/// `clock_gettime(clockid)`—The clock's current value in nanoseconds: the
/// scale of a `TFD_TIMER_ABSTIME` setting, which Node has no other way to
/// read for the boottime clocks (`process.hrtime` is `CLOCK_MONOTONIC`).
///
/// # Errors
/// `EINVAL` (unknown clock), `EOVERFLOW` (a value before 1970 or past
/// 2^64-1 ns, which no timer takes).
pub fn clock_now_ns(clockid: i32) -> Result<u64> {
    clock_call_ns(libc::clock_gettime, clockid, "clock_gettime")
}

/// `clock_getres(clockid)`—The clock's resolution in nanoseconds: 1 for
/// the high-resolution clocks (a tick with `highres=off`), a scheduler tick
/// for the `*_COARSE` ones.
///
/// # Errors
/// `EINVAL` (unknown clock).
///
/// # References
/// - [`clock_getres(2)`](https://man7.org/linux/man-pages/man2/clock_getres.2.html)
pub fn clock_res_ns(clockid: i32) -> Result<u64> {
    clock_call_ns(libc::clock_getres, clockid, "clock_getres")
}

/// `clock_gettime` or `clock_getres` (the same signature) in nanoseconds; a
/// value that does not fit a `u64` (before 1970, or a bogus resolution) is
/// `EOVERFLOW`.
fn clock_call_ns(
    call: unsafe extern "C" fn(libc::clockid_t, *mut libc::timespec) -> libc::c_int,
    clockid: i32,
    syscall: &'static str,
) -> Result<u64> {
    // SAFETY: timespec is a plain C struct; all-zero is valid.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `call` is libc's clock_gettime or clock_getres, and the
    // pointer is valid for the call; an unknown clock is EINVAL.
    if unsafe { call(clockid as libc::clockid_t, &mut ts) } < 0 {
        return Err(Error::new(Errno::last(), syscall));
    }
    u64::try_from(ts.tv_sec)
        .ok()
        .and_then(|s| s.checked_mul(NSEC_PER_SEC))
        .and_then(|ns| ns.checked_add(ts.tv_nsec as u64))
        .ok_or(Error::new(Errno::EOVERFLOW, syscall))
}

/// `read(fd, &u64, 8)`—The number of expirations since the last read.
/// Blocks until the next expiration unless the fd is non-blocking; for a
/// read that never waits, see [`timerfd_try_read`]. 0 if the read returned
/// no bytes: the clock stepped back past a periodic timer's expiration
/// while the read woke (see [`read_u64_or_empty`]).
///
/// # Errors
/// `EAGAIN` (non-blocking, not expired), `ECANCELED` (clock jump under
/// `TFD_TIMER_CANCEL_ON_SET`), `EBADF`, `EINVAL`.
pub fn timerfd_read(fd: BorrowedFd<'_>) -> Result<u64> {
    Ok(ticks(fd, Wait::AsFd)?.unwrap_or(0))
}

/// A timerfd read; `None` for a read of no bytes, but only from a timerfd
/// (it answers `timerfd_gettime`): a file at its end, or a pipe whose writer
/// closed, passed by mistake is `EINVAL` as before (s40-diff L4: it read as
/// 0 ticks, and "read again" looped for ever). So is a count of 0, which a
/// timerfd never gives (it copies out a count only when there is one):
/// `/dev/zero` read as 0 ticks for ever (s46-timer L3).
fn ticks(fd: BorrowedFd<'_>, wait: Wait) -> Result<Option<u64>> {
    match read_u64_or_empty(fd, "timerfd_read", wait)? {
        None | Some(0) if timerfd_gettime(fd).is_err() => Err(Error::new(Errno::EINVAL, "timerfd_read")),
        r => Ok(r),
    }
}

/// Reads the expirations as [`timerfd_read`] does, but fails with `EAGAIN`
/// if there are none instead of waiting, even if another holder of the fd
/// made its open file description blocking. Linux 6.10 or newer; see
/// [`Wait::Never`].
///
/// A read of no bytes (see [`timerfd_read`]; possible here only where the
/// read falls back to a plain `read(2)` of a description another holder
/// made blocking) is `EAGAIN`: no ticks now, as for a read that found none.
///
/// # Errors
/// As [`timerfd_read`].
pub fn timerfd_try_read(fd: BorrowedFd<'_>) -> Result<u64> {
    ticks(fd, Wait::Never(&TIMERFD_NOWAIT))?.ok_or(Error::new(Errno::EAGAIN, "timerfd_read"))
}

/// [`Nowait`] for timerfds (Linux 6.10: `timerfd: convert to
/// ->read_iter()`, which also made the file `FMODE_NOWAIT`).
pub static TIMERFD_NOWAIT: Nowait =
    Nowait::new(|| timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC | libc::TFD_NONBLOCK));

/// The longest time the kernel keeps: `KTIME_MAX`, 2^63-1 ns (about 292
/// years). The kernel takes any non-negative `time_t` seconds, but treats a
/// time at or beyond this as exactly this (`timespec64_to_ktime` saturates),
/// so a longer time can be passed as `KTIME_MAX_NS` with the same effect.
pub const KTIME_MAX_NS: u64 = i64::MAX as u64;

/// Nanoseconds per millisecond.
pub const NSEC_PER_MSEC: u64 = 1_000_000;

/// `value` in units of `unit` nanoseconds to nanoseconds, rounding to the
/// exactly nearest nanosecond (a tie, such as 1/1024 s, up), with two rules:
/// - a positive value is at least 1 ns, never 0 (0 would disarm the timer,
///   or make a periodic timer a one-shot one);
/// - a value at or beyond `KTIME_MAX_NS` is `KTIME_MAX_NS`, as the kernel
///   itself would treat it.
///
/// Exact: the double is `m * 2^e`, so `value * unit` is `m * unit * 2^e`,
/// an integer of at most 83 bits shifted, computed in `u128` and rounded
/// once. (Rounding the `f64` product `(value - whole) * unit` rounded twice:
/// 7.3822709325 s, 7,382,270,932.4999… ns, became …933; s46-timer found
/// 1,467 such values in 45,004.)
///
/// `None` for negative, NaN or infinite values (-0.0 is 0).
fn to_ns(value: f64, unit: u64) -> Option<u64> {
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    if value == 0.0 {
        return Some(0);
    }
    if value.trunc() >= (KTIME_MAX_NS / unit) as f64 {
        return Some(KTIME_MAX_NS);
    }
    let bits = value.to_bits();
    let (biased, fraction) = ((bits >> 52) & 0x7ff, bits & ((1 << 52) - 1));
    // A normal double's significand has the implicit bit. A subnormal
    // (biased exponent 0) does not, but gets it here too: it is under
    // 2^-1022, so its shift below is over 128 either way and it becomes the
    // 1 ns floor. (A branch of its own was equivalent: cargo-mutants.)
    let (m, e) = (fraction + (1 << 52), biased as i64 - 1075);
    // value < KTIME_MAX_NS / unit <= 2^44 (unit >= 10^6) < 2^52 <= m, so
    // e < 0: the exact product is p / 2^-e. m < 2^53 and unit < 2^30: p
    // fits in 83 bits.
    let p = u128::from(m) * u128::from(unit);
    let s = e.unsigned_abs();
    let ns = if s >= 128 {
        0 // under 2^83 / 2^128 ns
    } else {
        (p >> s) + u128::from((p >> (s - 1)) & 1 == 1)
    };
    // Below max_whole units, so at most KTIME_MAX_NS even rounded up.
    Some((ns as u64).max(1))
}

/// Seconds as an `f64` to nanoseconds (see `to_ns` for the rounding, the
/// 1 ns floor of positive values and the `KTIME_MAX_NS` ceiling). `None` for
/// negative or non-finite values.
pub fn secs_to_ns(secs: f64) -> Option<u64> {
    to_ns(secs, NSEC_PER_SEC)
}

/// Milliseconds as an `f64` to nanoseconds, as `secs_to_ns`.
pub fn ms_to_ns(ms: f64) -> Option<u64> {
    to_ns(ms, NSEC_PER_MSEC)
}

/// Nanoseconds to seconds as an `f64`.
pub fn ns_to_secs(ns: u64) -> f64 {
    (ns / NSEC_PER_SEC) as f64 + (ns % NSEC_PER_SEC) as f64 / 1e9
}

/// Nanoseconds to milliseconds as an `f64`.
pub fn ns_to_ms(ns: u64) -> f64 {
    (ns / NSEC_PER_MSEC) as f64 + (ns % NSEC_PER_MSEC) as f64 / 1e6
}

/// The clock of a timerfd, from the `clockid:` line of
/// `/proc/self/fdinfo/<fd>` (Linux 3.17+). `None` where the kernel or a
/// missing `/proc` cannot tell.
///
/// # Errors
/// `EBADF` (not open); `EMFILE`, `ENFILE`, `ENOMEM` (`syscall` `open`) if
/// the fdinfo file cannot be opened for want of an fd or memory, which is
/// not "the kernel does not say" (s46-diff M1: `Timer.fromFd` then took a
/// realtime timer for a monotonic one).
pub fn clock_id(fd: BorrowedFd<'_>) -> Result<Option<i32>> {
    // Fails with EBADF for a closed fd, before /proc is consulted.
    crate::fd::is_cloexec(fd)?;
    let Some(text) = crate::fd::fdinfo(fd)? else {
        return Ok(None);
    };
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("clockid:").and_then(|v| v.trim().parse().ok())))
}
