//! eventfd: Python's `os.eventfd`, `os.eventfd_read` and `os.eventfd_write`.

use std::cell::RefCell;
use std::os::fd::{AsFd, OwnedFd};
use std::rc::Rc;

use linux_fd_core::eventfd::{self as core, EfdFlags, EVENTFD_MAX};
use linux_fd_core::{poll, Errno};
use napi::{Env, Result};
use napi_derive::napi;

use crate::args;
use crate::error;
use crate::js::{BigU64, JsValue};
use crate::wait::{Inner, Kind, Mode};
use crate::waitable::{take_fd, waitable_common, WaitIterator};

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

fn new_eventfd(env: napi::sys::napi_env, initial: JsValue, semaphore: bool) -> Result<OwnedFd> {
    let initial = args::int(initial, "initial", 0, u32::MAX as i64, Some(0))? as u32;
    let mut flags = EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK;
    if semaphore {
        flags |= EfdFlags::EFD_SEMAPHORE;
    }
    core::eventfd(initial, flags).map_err(|e| error::sys(env, e))
}

/// An eventfd counter that awaits on Node's own event loop.
///
/// `add()` adds to the counter; `take()` waits until it is non-zero and takes
/// all of it. Any process or thread holding the fd can add or take, so it is a
/// cheap cross-process and cross-thread wake-up: pass `counter.fd` in
/// `child_process.spawn`'s `stdio` array, or post it to a worker, and call
/// `EventCounter.fromFd(fd)` there.
///
/// Waiting uses a `uv_poll` on this environment's loop: no thread is blocked
/// and libuv's threadpool is not used. Pending `take()`s in one environment are
/// served first come, first served. The fd is close-on-exec and non-blocking.
/// An object that is garbage-collected without `close()` closes its fd.
/// If JS closes `counter.fd` itself, the next call throws `EBADF` and the
/// object gives the number up without ever closing it (see `close()`).
/// @see https://man7.org/linux/man-pages/man2/eventfd.2.html
#[napi]
pub struct EventCounter {
    inner: Rc<RefCell<Inner>>,
}

waitable_common!(EventCounter);

#[napi]
impl EventCounter {
    /// Creates a counter starting at `initial` (0 … 2^32-1, default 0).
    /// @throws {RangeError} `ERR_OUT_OF_RANGE` for a bad `initial`.
    /// @throws {Error} `EMFILE`/`ENFILE` when out of fds.
    #[napi(constructor, ts_args_type = "initial?: number")]
    pub fn new(env: Env, initial: JsValue) -> Result<Self> {
        let fd = new_eventfd(env.raw(), initial, false)?;
        Ok(Self {
            inner: Inner::new_created(Kind::Counter, fd),
        })
    }

    /// Wraps an existing eventfd (made without `EFD_SEMAPHORE`), e.g. one
    /// inherited from a parent process. By default the fd is duplicated with
    /// `F_DUPFD_CLOEXEC`, so the object owns its own copy and the caller still
    /// owns `fd`; with `{ adopt: true }` the object takes ownership of `fd`
    /// itself. The open file description is made non-blocking.
    /// @throws {TypeError} `ERR_INVALID_ARG_VALUE` if `fd` is not such an eventfd.
    /// @throws {Error} `EBADF` if `fd` is not open.
    #[napi(
        factory,
        ts_args_type = "fd: number | { fd: number }, options?: { adopt?: boolean }"
    )]
    pub fn from_fd(fd: JsValue, options: JsValue) -> Result<Self> {
        let owned = take_fd(fd, options, Kind::Counter)?;
        Ok(Self {
            inner: Inner::new(Kind::Counter, owned),
        })
    }

    /// Adds `value` (default 1) to the counter and wakes waiters in every
    /// process and thread. Never blocks: if the counter would pass 2^64-2 it
    /// throws `EAGAIN` instead.
    /// @throws {RangeError} `ERR_OUT_OF_RANGE` unless 0 ≤ `value` ≤ 2^64-2.
    /// @throws {Error} `EAGAIN` on overflow; `ERR_CLOSED` after `close()`.
    #[napi(ts_args_type = "value?: number | bigint")]
    pub fn add(&self, env: Env, value: JsValue) -> Result<()> {
        let value = if value.is_undefined() {
            1
        } else {
            args::u64_in(value, "value", EVENTFD_MAX)?
        };
        let r = core::eventfd_write(self.inner.borrow().fd(env.raw())?.as_fd(), value);
        r.map_err(|e| Inner::fail(&self.inner, env.raw(), e))
    }

    /// Takes the whole counter and resets it to 0, or returns `null` if it is 0.
    /// @throws {Error} `ERR_CLOSED` after `close()`.
    #[napi(ts_return_type = "bigint | null")]
    pub fn try_take(&self, env: Env) -> Result<Option<BigU64>> {
        let r = core::eventfd_read(self.inner.borrow().fd(env.raw())?.as_fd());
        match r {
            Ok(v) => Ok(Some(BigU64(v))),
            Err(e) if e.errno == Errno::EAGAIN => Ok(None),
            Err(e) => Err(Inner::fail(&self.inner, env.raw(), e)),
        }
    }

    /// Waits until the counter is non-zero, then takes all of it.
    ///
    /// Cancel safety: an aborted `take()` rejects with an `AbortError` and
    /// takes nothing. `close()` rejects pending takes with `ERR_CLOSED`.
    /// @throws {Error} (rejects) `ABORT_ERR`, `ERR_CLOSED`, or an errno error.
    #[napi(
        ts_args_type = "options?: { signal?: AbortSignal }",
        ts_return_type = "Promise<bigint>"
    )]
    pub fn take(&self, env: Env, options: JsValue) -> Result<JsValue> {
        let raw = Inner::wait(&self.inner, env.raw(), options, Mode::Plain)?;
        Ok(JsValue { env: env.raw(), raw })
    }

    /// Blocks the calling thread until the counter is non-zero, then takes all
    /// of it. For workers and scripts; never call it on a thread whose event
    /// loop must keep running. Waits with `poll(2)`, since the fd is non-blocking.
    /// @throws {Error} `ERR_CLOSED` after `close()`.
    #[napi(ts_return_type = "bigint")]
    pub fn take_sync(&self, env: Env) -> Result<BigU64> {
        let r = {
            let me = self.inner.borrow();
            let fd = me.fd(env.raw())?.as_fd();
            poll::blocking(fd, || core::eventfd_read(fd))
        };
        r.map(BigU64).map_err(|e| Inner::fail(&self.inner, env.raw(), e))
    }

    /// Successive `take()`s, for `for await (const n of counter)`. The loop
    /// ends when the counter is closed.
    #[napi(
        well_known_symbol = "asyncIterator",
        ts_return_type = "AsyncIterableIterator<bigint>"
    )]
    pub fn iterate(&self) -> WaitIterator {
        WaitIterator::new(self.inner.clone())
    }
}

/// A counting semaphore on an eventfd with `EFD_SEMAPHORE`, shared across
/// processes and threads, that awaits on Node's own event loop.
///
/// `release(n)` adds n permits; `acquire()` waits for one. Waiters in one
/// environment are served first come, first served; across processes the
/// kernel picks. No permit is ever lost or doubled: an aborted `acquire()`
/// never consumes one, and `close()` rejects pending acquires without taking any.
/// Pass `sem.fd` to a child in `spawn`'s `stdio` array and call
/// `Semaphore.fromFd(3)` there, or post it to a worker.
/// @see https://man7.org/linux/man-pages/man2/eventfd.2.html
#[napi]
pub struct Semaphore {
    inner: Rc<RefCell<Inner>>,
}

waitable_common!(Semaphore);

#[napi]
impl Semaphore {
    /// Creates a semaphore with `initial` permits (0 … 2^32-1, default 0).
    /// @throws {RangeError} `ERR_OUT_OF_RANGE` for a bad `initial`.
    #[napi(constructor, ts_args_type = "initial?: number")]
    pub fn new(env: Env, initial: JsValue) -> Result<Self> {
        let fd = new_eventfd(env.raw(), initial, true)?;
        Ok(Self {
            inner: Inner::new_created(Kind::Semaphore, fd),
        })
    }

    /// Wraps an existing `EFD_SEMAPHORE` eventfd; see `EventCounter.fromFd`
    /// for `adopt` and duplication.
    /// @throws {TypeError} `ERR_INVALID_ARG_VALUE` if `fd` is not a semaphore eventfd.
    /// @throws {Error} `EBADF` if `fd` is not open.
    #[napi(
        factory,
        ts_args_type = "fd: number | { fd: number }, options?: { adopt?: boolean }"
    )]
    pub fn from_fd(fd: JsValue, options: JsValue) -> Result<Self> {
        let owned = take_fd(fd, options, Kind::Semaphore)?;
        Ok(Self {
            inner: Inner::new(Kind::Semaphore, owned),
        })
    }

    /// Adds `count` permits (default 1), waking waiters everywhere. Never blocks.
    /// @throws {RangeError} `ERR_OUT_OF_RANGE` unless 1 ≤ `count` ≤ 2^64-2.
    /// @throws {Error} `EAGAIN` if the total would pass 2^64-2; `ERR_CLOSED`.
    #[napi(ts_args_type = "count?: number | bigint")]
    pub fn release(&self, env: Env, count: JsValue) -> Result<()> {
        let count = if count.is_undefined() {
            1
        } else {
            args::u64_in(count, "count", EVENTFD_MAX)?
        };
        if count == 0 {
            return Err(error::out_of_range(
                env.raw(),
                "count",
                ">= 1 && <= 18446744073709551614",
                "0",
            ));
        }
        let r = core::eventfd_write(self.inner.borrow().fd(env.raw())?.as_fd(), count);
        r.map_err(|e| Inner::fail(&self.inner, env.raw(), e))
    }

    /// Takes a permit if one is free; never waits.
    /// @throws {Error} `ERR_CLOSED` after `close()`.
    #[napi]
    pub fn try_acquire(&self, env: Env) -> Result<bool> {
        let r = core::eventfd_read(self.inner.borrow().fd(env.raw())?.as_fd());
        match r {
            Ok(_) => Ok(true),
            Err(e) if e.errno == Errno::EAGAIN => Ok(false),
            Err(e) => Err(Inner::fail(&self.inner, env.raw(), e)),
        }
    }

    /// Waits for a permit and takes it.
    ///
    /// Cancel safety: an aborted `acquire()` rejects with an `AbortError` and
    /// never consumes a permit; `close()` rejects pending acquires with `ERR_CLOSED`.
    /// @throws {Error} (rejects) `ABORT_ERR`, `ERR_CLOSED`, or an errno error.
    #[napi(
        ts_args_type = "options?: { signal?: AbortSignal }",
        ts_return_type = "Promise<void>"
    )]
    pub fn acquire(&self, env: Env, options: JsValue) -> Result<JsValue> {
        let raw = Inner::wait(&self.inner, env.raw(), options, Mode::Plain)?;
        Ok(JsValue { env: env.raw(), raw })
    }

    /// Blocks the calling thread until a permit is free, then takes it. For
    /// workers and scripts.
    /// @throws {Error} `ERR_CLOSED` after `close()`.
    #[napi]
    pub fn acquire_sync(&self, env: Env) -> Result<()> {
        let r = {
            let me = self.inner.borrow();
            let fd = me.fd(env.raw())?.as_fd();
            poll::blocking(fd, || core::eventfd_read(fd))
        };
        r.map(|_| ()).map_err(|e| Inner::fail(&self.inner, env.raw(), e))
    }
}
