//! The runtime layer: everything that needs raw Node-API or libuv because
//! napi-rs has no equivalent. It sits at the bottom of the crate: the
//! primitive modules use it, it uses none of them (docs/design.md, "Layers").
//!
//! - `env`: per-environment state and the async cleanup hook (worker teardown);
//! - `uv`: the few libuv functions, found with `dlsym` at run time;
//! - `watch`: "call this JS function when this fd is readable" (`uv_poll`);
//! - `thread`: the same on a helper thread, for runtimes without libuv (Bun);
//! - `job`: a blocking job on its own thread, its result delivered on the JS
//!   thread through a threadsafe function (lock waits);
//! - `ext`: externals that own native state (`Owned<T>`, `Handle<T>`), checked
//!   without napi-rs's process-wide registry (the fd and lock handles);
//! - `extbuf`: an external `ArrayBuffer` over memory the caller owns, freed
//!   exactly once (`MemFile` mappings);
//! - `rawfn`: raw Node-API functions for the measured hot paths, which skip
//!   the generated wrapper's per-call borrow scope.

pub mod env;
pub mod ext;
pub mod extbuf;
pub mod job;
pub mod rawfn;
mod thread;
mod uv;
pub mod watch;

pub use uv::read_forbid;

use std::os::fd::BorrowedFd;

use linux_fd_core::Error as SysError;

use napi::bindgen_prelude::{Either, External, Unknown};
use napi::{Env, JsValue, ValueType};
use napi_derive::napi;

use watch::Watch;

/// A borrowed fd for a number JS passed, or `Err(())` for a negative one
/// (which `BorrowedFd` may not hold). A closed or foreign number is the
/// kernel's to refuse with `EBADF`.
pub fn borrow_fd<'a>(fd: i32) -> Result<BorrowedFd<'a>, ()> {
    if fd < 0 {
        return Err(());
    }
    // SAFETY: fd is non-negative, so not the -1 niche BorrowedFd forbids. The
    // borrow lives only for the duration of one native call; if the number is
    // not open the syscall fails with EBADF, which is memory-safe.
    Ok(unsafe { BorrowedFd::borrow_raw(fd) })
}

/// The negative errno of a core error (the binding's error convention,
/// `handle.rs`).
pub fn errno(e: &SysError) -> i32 {
    -(e.errno as i32)
}

/// A core result with its error as a negative errno.
pub fn sys<T>(r: linux_fd_core::Result<T>) -> Result<T, i32> {
    r.map_err(|e| errno(&e))
}

/// `f` on the borrowed `fd`: its result, or a negative errno (`-EBADF` for a
/// negative number).
pub fn on_fd<T>(fd: i32, f: impl FnOnce(BorrowedFd<'_>) -> linux_fd_core::Result<T>) -> Result<T, i32> {
    let Ok(fd) = borrow_fd(fd) else {
        return Err(-libc::EBADF);
    };
    sys(f(fd))
}

/// A result as a generated function returns it: the value, or the negative
/// errno as a number.
pub fn either<T>(r: Result<T, i32>) -> Either<T, i32> {
    r.map_or_else(Either::B, Either::A)
}

/// An `i32` result as a generated function returns it: the value (0 or
/// more), or the negative errno.
pub fn int(r: Result<i32, i32>) -> i32 {
    r.unwrap_or_else(|e| e)
}

/// Watches `fd` for readability on this environment's event loop and calls
/// `callback()` whenever it is readable while the watch is started
/// (level-triggered: read until `EAGAIN`, or stop the watch), or
/// `callback(-errno)` once if polling failed. The watch polls a private
/// `dup` of `fd`. Returns the watch, or a negative errno (`EBADF`, `EMFILE`,
/// `EINVAL` if `callback` is not a function: napi-rs's `Function` argument
/// takes any value, and a primitive failed as `ENOMEM`, as `lockWait`'s did).
/// @see https://man7.org/linux/man-pages/man2/poll.2.html
#[napi(
    ts_args_type = "fd: number, callback: (errno?: number) => void",
    ts_return_type = "ExternalObject<'Watch'> | number"
)]
pub fn watch_open(env: Env, fd: i32, callback: Unknown<'_>) -> Either<External<Watch>, i32> {
    if !matches!(callback.get_type(), Ok(ValueType::Function)) {
        return Either::B(-libc::EINVAL);
    }
    either(on_fd(fd, |fd| Watch::new(env.raw(), fd, callback.raw())).map(External::new))
}

/// Starts a watch (idempotent). Returns 0 or a negative errno.
#[napi(ts_args_type = "watch: ExternalObject<'Watch'>")]
pub fn watch_start(watch: &External<Watch>) -> i32 {
    int(sys(watch.start()).map(|()| 0))
}

/// The watch's private dup of the fd (-1 once closed): what to read when
/// the watch fires.
#[napi(ts_args_type = "watch: ExternalObject<'Watch'>")]
pub fn watch_fd(watch: &External<Watch>) -> i32 {
    watch.fd()
}

/// Stops a watch (idempotent); its callback is not called while stopped.
#[napi(ts_args_type = "watch: ExternalObject<'Watch'>")]
pub fn watch_stop(watch: &External<Watch>) {
    watch.stop();
}

/// Whether a started watch keeps the event loop alive (`uv_ref`/`uv_unref`).
#[napi(ts_args_type = "watch: ExternalObject<'Watch'>, refed: boolean")]
pub fn watch_ref(watch: &External<Watch>, refed: bool) {
    watch.set_ref(refed);
}

/// Closes a watch for good (idempotent): its callback is never called again.
#[napi(ts_args_type = "watch: ExternalObject<'Watch'>")]
pub fn watch_close(watch: &External<Watch>) {
    watch.close();
}

/// Which mechanism watches use in this environment: `'uv_poll'` (a
/// `uv_poll_t` on this environment's own loop) or `'thread'` (runtimes whose
/// libuv functions must not be called, such as Bun: a helper thread per
/// watched fd that wakes the JS thread through a threadsafe function).
#[napi(ts_return_type = "'uv_poll' | 'thread'")]
pub fn wait_backend(env: Env) -> napi::Result<&'static str> {
    let state = env::EnvState::get(env.raw())?;
    Ok(match state.backend {
        env::Backend::Uv { .. } => "uv_poll",
        env::Backend::Thread => "thread",
    })
}

/// `poll(fd, POLLIN, timeoutMs)`—Blocks the calling thread until `fd` is
/// readable or `timeoutMs` passed (retrying on `EINTR`). Returns 1
/// (readable, or an error/hang-up condition a read will report), 0 (timed
/// out) or a negative errno (`EBADF` for a closed fd).
/// @see https://man7.org/linux/man-pages/man2/poll.2.html
#[napi]
pub fn poll_readable(fd: i32, timeout_ms: i32) -> i32 {
    int(on_fd(fd, |fd| {
        linux_fd_core::poll::wait_readable_for(fd, timeout_ms.max(-1))
    })
    .map(i32::from))
}
