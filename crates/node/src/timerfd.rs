//! timerfd: Python 3.13's `os.timerfd_*` functions, and the `Timer` class.

use std::cell::RefCell;
use std::os::fd::{AsFd, IntoRawFd};
use std::rc::Rc;

use linux_fd_core::timerfd::{self as core, ns_to_secs, secs_to_ns, TimerSpec};
use linux_fd_core::{poll, Errno};
use napi::{sys, Env, Result};
use napi_derive::napi;

use crate::args;
use crate::error;
use crate::js::{self, BigU64, JsValue};
use crate::wait::{Inner, Kind, Mode};
use crate::waitable::{take_fd, waitable_common, WaitIterator};

/// Close-on-exec flag for `timerfdCreate` (`TFD_CLOEXEC`); always added, as Python does.
#[napi]
pub const TFD_CLOEXEC: i32 = libc::TFD_CLOEXEC;
/// Non-blocking flag for `timerfdCreate` (`TFD_NONBLOCK`).
#[napi]
pub const TFD_NONBLOCK: i32 = libc::TFD_NONBLOCK;
/// `timerfdSettime` flag (`TFD_TIMER_ABSTIME`): `initial` is an absolute clock value.
#[napi]
pub const TFD_TIMER_ABSTIME: i32 = libc::TFD_TIMER_ABSTIME;
/// `timerfdSettime` flag (`TFD_TIMER_CANCEL_ON_SET`): with an absolute
/// `CLOCK_REALTIME` timer, a discontinuous clock change makes reads fail with
/// `ECANCELED`. The kernel silently ignores it for any other timer.
#[napi]
pub const TFD_TIMER_CANCEL_ON_SET: i32 = libc::TFD_TIMER_CANCEL_ON_SET;
/// `CLOCK_REALTIME`: wall-clock time, which can jump.
#[napi]
pub const CLOCK_REALTIME: i32 = libc::CLOCK_REALTIME;
/// `CLOCK_MONOTONIC`: never jumps; stops while the system is suspended.
#[napi]
pub const CLOCK_MONOTONIC: i32 = libc::CLOCK_MONOTONIC;
/// `CLOCK_BOOTTIME`: like `CLOCK_MONOTONIC` but counts suspend.
#[napi]
pub const CLOCK_BOOTTIME: i32 = libc::CLOCK_BOOTTIME;
/// `CLOCK_REALTIME_ALARM`: wakes a suspended system; needs `CAP_WAKE_ALARM`.
#[napi]
pub const CLOCK_REALTIME_ALARM: i32 = libc::CLOCK_REALTIME_ALARM;
/// `CLOCK_BOOTTIME_ALARM`: wakes a suspended system; needs `CAP_WAKE_ALARM`.
#[napi]
pub const CLOCK_BOOTTIME_ALARM: i32 = libc::CLOCK_BOOTTIME_ALARM;

/// `timerfd_create(clockid, flags)`—Creates a timer and returns its fd, as
/// Python's `os.timerfd_create`. `TFD_CLOEXEC` is always added.
/// @param clockid - `CLOCK_REALTIME`, `CLOCK_MONOTONIC`, `CLOCK_BOOTTIME`, or an `*_ALARM` clock.
/// @param flags - `TFD_NONBLOCK` (and `TFD_CLOEXEC`, implied); default 0.
/// @throws {Error} `EINVAL` (unknown clock or flags), `EPERM` (`*_ALARM` without `CAP_WAKE_ALARM`).
/// @see https://man7.org/linux/man-pages/man2/timerfd_create.2.html
#[napi(ts_args_type = "clockid: number, flags?: number")]
pub fn timerfd_create(clockid: JsValue, flags: JsValue) -> Result<i32> {
    let env = clockid.env;
    let clock = args::int(clockid, "clockid", i32::MIN as i64, i32::MAX as i64, None)? as i32;
    let flags = args::int(flags, "flags", i32::MIN as i64, i32::MAX as i64, Some(0))? as i32;
    core::timerfd_create(clock, flags | libc::TFD_CLOEXEC)
        .map(|fd| fd.into_raw_fd())
        .map_err(|e| error::sys(env, e))
}

/// Reads `{ initial, interval, flags }` in seconds (`ns` false) or nanoseconds.
fn settime_options(options: JsValue, ns: bool) -> Result<(i32, TimerSpec)> {
    let env = options.env;
    let mut spec = TimerSpec::default();
    let mut flags = 0;
    if let Some(o) = args::options(options, "options")? {
        flags = args::int(
            o.get(c"flags")?,
            "options.flags",
            i32::MIN as i64,
            i32::MAX as i64,
            Some(0),
        )? as i32;
        for (name, slot) in [
            ("initial", &mut spec.value_ns),
            ("interval", &mut spec.interval_ns),
        ] {
            let key = std::ffi::CString::new(name).expect("no NUL");
            let v = o.get(&key)?;
            if v.is_undefined() {
                continue;
            }
            let label = format!("options.{name}");
            *slot = if ns {
                args::u64_in(v, &label, i64::MAX as u64)?
            } else {
                let Some(secs) = v.as_f64() else {
                    return Err(error::invalid_type(env, &label, "of type number", &v));
                };
                match secs_to_ns(secs) {
                    Some(n) => n,
                    None => {
                        return Err(error::out_of_range(
                            env,
                            &label,
                            ">= 0 and finite",
                            &js::fmt_num(secs),
                        ))
                    }
                }
            };
        }
    }
    Ok((flags, spec))
}

fn pair_secs(env: sys::napi_env, s: TimerSpec) -> Result<Vec<f64>> {
    let _ = env;
    Ok(vec![ns_to_secs(s.value_ns), ns_to_secs(s.interval_ns)])
}

fn pair_ns(env: sys::napi_env, s: TimerSpec) -> Result<JsValue> {
    let raw = js::array(
        env,
        &[js::bigint(env, s.value_ns)?, js::bigint(env, s.interval_ns)?],
    )?;
    Ok(JsValue { env, raw })
}

/// `timerfd_settime(fd, flags, new)`—Arms the timer, as Python's
/// `os.timerfd_settime`: `initial` seconds until the first expiration (0
/// disarms), then every `interval` seconds (0: one-shot). Returns the previous
/// `[next_expiration, interval]` in seconds.
/// @param options.flags - `TFD_TIMER_ABSTIME`, `TFD_TIMER_CANCEL_ON_SET`.
/// @throws {RangeError} `ERR_OUT_OF_RANGE` for negative or non-finite times.
/// @throws {Error} `EBADF`, `EINVAL` (not a timerfd, bad flags).
/// @see https://man7.org/linux/man-pages/man2/timerfd_settime.2.html
#[napi(
    ts_args_type = "fd: number | { fd: number }, options?: { initial?: number, interval?: number, flags?: number }",
    ts_return_type = "[number, number]"
)]
pub fn timerfd_settime(fd: JsValue, options: JsValue) -> Result<Vec<f64>> {
    let raw = args::fd(fd)?;
    let (flags, spec) = settime_options(options, false)?;
    let old = core::timerfd_settime(args::borrow(raw), flags, spec).map_err(|e| error::sys(fd.env, e))?;
    pair_secs(fd.env, old)
}

/// `timerfd_settime` in nanoseconds, as Python's `os.timerfd_settime_ns`:
/// `initial` and `interval` are safe integers or bigints; returns the previous
/// `[next_expiration, interval]` as bigints.
/// @throws {RangeError} `ERR_OUT_OF_RANGE` for negative times.
/// @throws {Error} `EBADF`, `EINVAL`.
/// @see https://man7.org/linux/man-pages/man2/timerfd_settime.2.html
#[napi(
    ts_args_type = "fd: number | { fd: number }, options?: { initial?: number | bigint, interval?: number | bigint, flags?: number }",
    ts_return_type = "[bigint, bigint]"
)]
pub fn timerfd_settime_ns(fd: JsValue, options: JsValue) -> Result<JsValue> {
    let raw = args::fd(fd)?;
    let (flags, spec) = settime_options(options, true)?;
    let old = core::timerfd_settime(args::borrow(raw), flags, spec).map_err(|e| error::sys(fd.env, e))?;
    pair_ns(fd.env, old)
}

/// `timerfd_gettime(fd)`—`[next_expiration, interval]` in seconds, as
/// Python's `os.timerfd_gettime`. The expiration is always relative.
/// @throws {Error} `EBADF`, `EINVAL` (not a timerfd).
/// @see https://man7.org/linux/man-pages/man2/timerfd_gettime.2.html
#[napi(
    ts_args_type = "fd: number | { fd: number }",
    ts_return_type = "[number, number]"
)]
pub fn timerfd_gettime(fd: JsValue) -> Result<Vec<f64>> {
    let raw = args::fd(fd)?;
    let cur = core::timerfd_gettime(args::borrow(raw)).map_err(|e| error::sys(fd.env, e))?;
    pair_secs(fd.env, cur)
}

/// `timerfd_gettime(fd)` in nanoseconds, as Python's `os.timerfd_gettime_ns`.
/// @throws {Error} `EBADF`, `EINVAL` (not a timerfd).
/// @see https://man7.org/linux/man-pages/man2/timerfd_gettime.2.html
#[napi(
    ts_args_type = "fd: number | { fd: number }",
    ts_return_type = "[bigint, bigint]"
)]
pub fn timerfd_gettime_ns(fd: JsValue) -> Result<JsValue> {
    let raw = args::fd(fd)?;
    let cur = core::timerfd_gettime(args::borrow(raw)).map_err(|e| error::sys(fd.env, e))?;
    pair_ns(fd.env, cur)
}

/// `read(fd, &u64, 8)` on a timerfd—The number of expirations since the last
/// read (what Python gets with `int.from_bytes(os.read(fd, 8))`). Blocks on a
/// blocking fd until the timer expires.
/// @throws {Error} `EAGAIN` (non-blocking, not expired), `ECANCELED`, `EBADF`, `EINVAL`.
/// @see https://man7.org/linux/man-pages/man2/timerfd_create.2.html
#[napi(ts_args_type = "fd: number | { fd: number }", ts_return_type = "bigint")]
pub fn timerfd_read(fd: JsValue) -> Result<BigU64> {
    let raw = args::fd(fd)?;
    core::timerfd_read(args::borrow(raw))
        .map(BigU64)
        .map_err(|e| error::sys(fd.env, e))
}

fn clock_of(v: JsValue) -> Result<i32> {
    if v.is_undefined() {
        return Ok(libc::CLOCK_MONOTONIC);
    }
    let Some(s) = v.as_string() else {
        return Err(error::invalid_type(v.env, "clock", "of type string", &v));
    };
    Ok(match s.as_str() {
        "monotonic" => libc::CLOCK_MONOTONIC,
        "realtime" => libc::CLOCK_REALTIME,
        "boottime" => libc::CLOCK_BOOTTIME,
        "realtime-alarm" => libc::CLOCK_REALTIME_ALARM,
        "boottime-alarm" => libc::CLOCK_BOOTTIME_ALARM,
        _ => {
            return Err(error::invalid_value(
                v.env,
                "clock",
                "must be 'monotonic', 'realtime', 'boottime', 'realtime-alarm' or 'boottime-alarm'",
            ))
        }
    })
}

/// A timer on a timerfd that awaits on Node's own event loop.
///
/// `wait()` resolves with the number of expirations since the last read, so a
/// late reader sees missed ticks counted instead of losing them, and a
/// periodic timer does not drift: its schedule is the kernel's, not the sum
/// of callback delays. The fd is close-on-exec and non-blocking.
/// @see https://man7.org/linux/man-pages/man2/timerfd_create.2.html
#[napi]
pub struct Timer {
    inner: Rc<RefCell<Inner>>,
    clock: i32,
}

waitable_common!(Timer);

fn ms_to_ns(env: sys::napi_env, v: JsValue, name: &str, default: Option<u64>) -> Result<u64> {
    if v.is_undefined() {
        if let Some(d) = default {
            return Ok(d);
        }
    }
    let Some(ms) = v.as_f64() else {
        return Err(error::invalid_type(env, name, "of type number", &v));
    };
    match secs_to_ns(ms / 1000.0) {
        Some(ns) => Ok(ns),
        None => Err(error::out_of_range(
            env,
            name,
            ">= 0 and finite",
            &js::fmt_num(ms),
        )),
    }
}

#[napi]
impl Timer {
    /// Creates a disarmed timer on `clock` (default `'monotonic'`).
    /// @throws {TypeError} `ERR_INVALID_ARG_VALUE` for an unknown clock.
    /// @throws {Error} `EPERM` for an `*-alarm` clock without `CAP_WAKE_ALARM`.
    #[napi(
        constructor,
        ts_args_type = "clock?: 'monotonic' | 'realtime' | 'boottime' | 'realtime-alarm' | 'boottime-alarm'"
    )]
    pub fn new(env: Env, clock: JsValue) -> Result<Self> {
        let clock = clock_of(clock)?;
        let fd = core::timerfd_create(clock, libc::TFD_CLOEXEC | libc::TFD_NONBLOCK)
            .map_err(|e| error::sys(env.raw(), e))?;
        Ok(Self {
            inner: Inner::new_created(Kind::Timer, fd),
            clock,
        })
    }

    /// Wraps an existing timerfd; see `EventCounter.fromFd` for `adopt`.
    /// @throws {TypeError} `ERR_INVALID_ARG_VALUE` if `fd` is not a timerfd.
    #[napi(
        factory,
        ts_args_type = "fd: number | { fd: number }, options?: { adopt?: boolean }"
    )]
    pub fn from_fd(fd: JsValue, options: JsValue) -> Result<Self> {
        let owned = take_fd(fd, options, Kind::Timer)?;
        let clock = std::fs::read_to_string(format!(
            "/proc/self/fdinfo/{}",
            std::os::fd::AsRawFd::as_raw_fd(&owned)
        ))
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("clockid:").and_then(|v| v.trim().parse().ok()))
        })
        .unwrap_or(libc::CLOCK_MONOTONIC);
        Ok(Self {
            inner: Inner::new(Kind::Timer, owned),
            clock,
        })
    }

    /// The clock: `'monotonic'`, `'realtime'`, `'boottime'`, `'realtime-alarm'` or `'boottime-alarm'`.
    #[napi(
        getter,
        ts_return_type = "'monotonic' | 'realtime' | 'boottime' | 'realtime-alarm' | 'boottime-alarm'"
    )]
    pub fn clock(&self) -> &'static str {
        match self.clock {
            libc::CLOCK_REALTIME => "realtime",
            libc::CLOCK_BOOTTIME => "boottime",
            libc::CLOCK_REALTIME_ALARM => "realtime-alarm",
            libc::CLOCK_BOOTTIME_ALARM => "boottime-alarm",
            _ => "monotonic",
        }
    }

    fn arm(&self, env: sys::napi_env, spec: TimerSpec, options: JsValue) -> Result<()> {
        let mut flags = 0;
        if let Some(o) = args::options(options, "options")? {
            let absolute = args::bool_or(o.get(c"absolute")?, "options.absolute", false)?;
            let cancel = args::bool_or(o.get(c"cancelOnSet")?, "options.cancelOnSet", false)?;
            if absolute {
                flags |= libc::TFD_TIMER_ABSTIME;
            }
            if cancel {
                // The kernel silently ignores the flag otherwise; say so instead.
                let realtime = matches!(self.clock, libc::CLOCK_REALTIME | libc::CLOCK_REALTIME_ALARM);
                if !absolute || !realtime {
                    return Err(error::invalid_value(
                        env,
                        "options.cancelOnSet",
                        "needs absolute: true and a 'realtime' or 'realtime-alarm' clock",
                    ));
                }
                flags |= libc::TFD_TIMER_CANCEL_ON_SET;
            }
        }
        let r = core::timerfd_settime(self.inner.borrow().fd(env)?.as_fd(), flags, spec);
        r.map(|_| ()).map_err(|e| Inner::fail(&self.inner, env, e))
    }

    /// Arms the timer: first expiry after `initialMs` milliseconds (or, with
    /// `absolute`, at that clock value in ms), then every `intervalMs` (0:
    /// one-shot). `initialMs` 0 disarms. With `cancelOnSet` (absolute realtime
    /// timers only), a clock jump rejects waits with `ECANCELED`.
    /// @throws {RangeError} `ERR_OUT_OF_RANGE` for negative or non-finite times.
    /// @throws {TypeError} `ERR_INVALID_ARG_VALUE` for `cancelOnSet` on another timer.
    #[napi(
        ts_args_type = "initialMs: number, intervalMs?: number, options?: { absolute?: boolean, cancelOnSet?: boolean }"
    )]
    pub fn set(&self, env: Env, initial_ms: JsValue, interval_ms: JsValue, options: JsValue) -> Result<()> {
        let env = env.raw();
        let spec = TimerSpec {
            value_ns: ms_to_ns(env, initial_ms, "initialMs", None)?,
            interval_ns: ms_to_ns(env, interval_ms, "intervalMs", Some(0))?,
        };
        self.arm(env, spec, options)
    }

    /// `set()` in nanoseconds (bigints or safe integers).
    #[napi(
        ts_args_type = "initialNs: bigint | number, intervalNs?: bigint | number, options?: { absolute?: boolean, cancelOnSet?: boolean }"
    )]
    pub fn set_ns(
        &self,
        env: Env,
        initial_ns: JsValue,
        interval_ns: JsValue,
        options: JsValue,
    ) -> Result<()> {
        let value_ns = args::u64_in(initial_ns, "initialNs", i64::MAX as u64)?;
        let interval_ns = if interval_ns.is_undefined() {
            0
        } else {
            args::u64_in(interval_ns, "intervalNs", i64::MAX as u64)?
        };
        self.arm(
            env.raw(),
            TimerSpec {
                value_ns,
                interval_ns,
            },
            options,
        )
    }

    /// Disarms the timer. Pending waits keep waiting.
    #[napi]
    pub fn disarm(&self, env: Env) -> Result<()> {
        let r = core::timerfd_settime(
            self.inner.borrow().fd(env.raw())?.as_fd(),
            0,
            TimerSpec::default(),
        );
        r.map(|_| ()).map_err(|e| Inner::fail(&self.inner, env.raw(), e))
    }

    /// The time to the next expiration and the interval, in milliseconds
    /// (`remaining` 0: disarmed).
    #[napi(ts_return_type = "{ remaining: number, interval: number }")]
    pub fn get(&self, env: Env) -> Result<JsValue> {
        let raw = env.raw();
        let cur = core::timerfd_gettime(self.inner.borrow().fd(raw)?.as_fd());
        let cur = cur.map_err(|e| Inner::fail(&self.inner, raw, e))?;
        let obj = js::object(raw)?;
        js::define(
            raw,
            obj,
            c"remaining",
            js::number(raw, cur.value_ns as f64 / 1e6)?,
        )?;
        js::define(
            raw,
            obj,
            c"interval",
            js::number(raw, cur.interval_ns as f64 / 1e6)?,
        )?;
        Ok(JsValue { env: raw, raw: obj })
    }

    /// `get()` in nanoseconds, as bigints.
    #[napi(ts_return_type = "{ remaining: bigint, interval: bigint }")]
    pub fn get_ns(&self, env: Env) -> Result<JsValue> {
        let raw = env.raw();
        let cur = core::timerfd_gettime(self.inner.borrow().fd(raw)?.as_fd());
        let cur = cur.map_err(|e| Inner::fail(&self.inner, raw, e))?;
        let obj = js::object(raw)?;
        js::define(raw, obj, c"remaining", js::bigint(raw, cur.value_ns)?)?;
        js::define(raw, obj, c"interval", js::bigint(raw, cur.interval_ns)?)?;
        Ok(JsValue { env: raw, raw: obj })
    }

    /// Waits for the next expiration; resolves with the number of expirations
    /// since the last read (≥ 1n; more if ticks were missed).
    /// Cancel safety: an aborted wait reads nothing.
    /// @throws {Error} (rejects) `ECANCELED` after a clock jump under `cancelOnSet`,
    /// `ABORT_ERR`, `ERR_CLOSED`.
    #[napi(
        ts_args_type = "options?: { signal?: AbortSignal }",
        ts_return_type = "Promise<bigint>"
    )]
    pub fn wait(&self, env: Env, options: JsValue) -> Result<JsValue> {
        let raw = Inner::wait(&self.inner, env.raw(), options, Mode::Plain)?;
        Ok(JsValue { env: env.raw(), raw })
    }

    /// The expirations since the last read, or `null` if none; never waits.
    /// @throws {Error} `ECANCELED`, `ERR_CLOSED`.
    #[napi(ts_return_type = "bigint | null")]
    pub fn try_wait(&self, env: Env) -> Result<Option<BigU64>> {
        let r = core::timerfd_read(self.inner.borrow().fd(env.raw())?.as_fd());
        match r {
            Ok(v) => Ok(Some(BigU64(v))),
            Err(e) if e.errno == Errno::EAGAIN => Ok(None),
            Err(e) => Err(Inner::fail(&self.inner, env.raw(), e)),
        }
    }

    /// Blocks the calling thread until the next expiration (for workers and scripts).
    /// @throws {Error} `ECANCELED`, `ERR_CLOSED`.
    #[napi(ts_return_type = "bigint")]
    pub fn wait_sync(&self, env: Env) -> Result<BigU64> {
        let r = {
            let me = self.inner.borrow();
            let fd = me.fd(env.raw())?.as_fd();
            poll::blocking(fd, || core::timerfd_read(fd))
        };
        r.map(BigU64).map_err(|e| Inner::fail(&self.inner, env.raw(), e))
    }

    /// Successive `wait()`s, for `for await (const ticks of timer)`; ends on close.
    #[napi(
        well_known_symbol = "asyncIterator",
        ts_return_type = "AsyncIterableIterator<bigint>"
    )]
    pub fn iterate(&self) -> WaitIterator {
        WaitIterator::new(self.inner.clone())
    }
}
