//! The fallback watch backend for runtimes whose `uv_*` functions must not be called
//! (Bun aborts on most of them; Deno's are a shim, see `env.rs`): one helper thread per waited fd
//! (`linux_fd_core::poll::ReadyThread`, which polls its own dup of the fd and
//! parks after each signal until re-armed), waking the JS thread through a
//! threadsafe function.
//!
//! Teardown: `stop()` (or dropping the [`Helper`]) makes the helper release
//! the threadsafe function and exit. If the environment goes away first, Node
//! destroys the threadsafe function even though the helper still holds it;
//! the finalizer closes the [`Gate`] (under its mutex, which the helper holds
//! around every use of the function) and wakes the helper. From then on the
//! helper never touches the function: its next signal finds the gate closed
//! and ends the thread, and so does the stop that the watch's own teardown
//! sends.

use std::cell::RefCell;
use std::ffi::c_void;
use std::os::fd::BorrowedFd;
use std::ptr;
use std::rc::Weak;
use std::sync::{Arc, Mutex};

use linux_fd_core::poll::ReadyThread;
use linux_fd_core::{Errno, Error as SysError};
use napi::sys;

use super::watch::WatchInner;

/// Shared between a helper thread and its threadsafe function's finalizer:
/// the helper touches the function only through [`Gate::with_open`].
pub struct Gate {
    closed: Mutex<bool>,
    on_close: Box<dyn Fn() + Send + Sync>,
}

impl Gate {
    /// A gate that runs `on_close` (wake the helper) when the environment
    /// tears the threadsafe function down.
    fn new(on_close: impl Fn() + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self {
            closed: Mutex::new(false),
            on_close: Box::new(on_close),
        })
    }

    /// Marks the threadsafe function destroyed (from its finalizer) and runs `on_close`.
    fn close(&self) {
        *self.closed.lock().unwrap_or_else(|e| e.into_inner()) = true;
        (self.on_close)();
    }

    /// Runs `f` only if the threadsafe function still exists, with the guarantee
    /// that it is not destroyed while `f` runs.
    fn with_open<R>(&self, f: impl FnOnce() -> R) -> Option<R> {
        let closed = self.closed.lock().unwrap_or_else(|e| e.into_inner());
        if *closed {
            None
        } else {
            Some(f())
        }
    }
}

/// The JS-thread side of one helper thread.
pub struct Helper {
    tsfn: sys::napi_threadsafe_function,
    /// Closed by the function's finalizer: `set_ref` must not touch it then.
    gate: Arc<Gate>,
    ready: ReadyThread,
    armed: bool,
    refed: bool,
}

/// The threadsafe function, moved to the helper thread.
#[derive(Clone, Copy)]
struct SendTsfn(sys::napi_threadsafe_function);
// SAFETY: a threadsafe function is designed to be called from any thread; the
// helper uses it only inside Gate::with_open, serialised against its destruction.
unsafe impl Send for SendTsfn {}

impl Helper {
    /// Starts a helper polling a dup of `fd` for `inner`.
    pub fn start(
        env: sys::napi_env,
        fd: BorrowedFd<'_>,
        inner: Weak<RefCell<WatchInner>>,
    ) -> Result<Self, SysError> {
        let mut ready = ReadyThread::new(fd)?;
        let gate = Gate::new(ready.waker());
        let context = Box::into_raw(Box::new(inner));
        let finalize_data = Arc::into_raw(gate.clone());
        // SAFETY: env is live; context and finalize_data are freed in
        // on_finalize, which Node-API calls exactly once when the function is
        // destroyed. One thread (the helper) holds it (initial_thread_count 1).
        let made = unsafe {
            super::env::threadsafe_function(
                env,
                "linux-fd:helper",
                context.cast(),
                finalize_data as *mut c_void,
                Some(on_finalize),
                Some(on_ready),
            )
        };
        let Ok(tsfn) = made else {
            // SAFETY: creation failed, so nothing else owns these.
            unsafe {
                drop(Box::from_raw(context));
                drop(Arc::from_raw(finalize_data));
            }
            return Err(SysError::new(Errno::ENOMEM, "napi_create_threadsafe_function"));
        };
        let send = SendTsfn(tsfn);
        let exit_gate = gate.clone();
        let own_gate = gate.clone();
        let notify = move || {
            let send = send;
            let called = gate.with_open(|| {
                // SAFETY: the gate is open, so the function exists while this
                // runs; this thread holds one count of it.
                unsafe {
                    sys::napi_call_threadsafe_function(
                        send.0,
                        ptr::null_mut(),
                        sys::ThreadsafeFunctionCallMode::nonblocking,
                    )
                }
            });
            // Torn down (the gate is closed, or Node said napi_closing): end
            // without touching the function again.
            called == Some(sys::Status::napi_ok)
        };
        let on_exit = move || {
            let send = send;
            exit_gate.with_open(|| {
                // SAFETY: the gate is open; this is this thread's one count, released once.
                unsafe {
                    sys::napi_release_threadsafe_function(send.0, sys::ThreadsafeFunctionReleaseMode::release)
                };
            });
        };
        if ready.start("linux-fd-wait", notify, on_exit).is_err() {
            // SAFETY: no thread uses tsfn; releasing the only count destroys it
            // and runs on_finalize, which frees context and finalize_data.
            unsafe {
                sys::napi_release_threadsafe_function(tsfn, sys::ThreadsafeFunctionReleaseMode::release)
            };
            return Err(SysError::new(Errno::EAGAIN, "pthread_create"));
        }
        Ok(Self {
            tsfn,
            gate: own_gate,
            ready,
            armed: true,
            refed: true,
        })
    }

    /// Lets the helper poll again after the JS thread drained the fd.
    pub fn rearm(&mut self) {
        if !self.armed {
            self.armed = true;
            self.ready.rearm();
        }
    }

    /// Records that the helper parked itself after signalling.
    pub fn parked(&mut self) {
        self.armed = false;
    }

    /// Refs or unrefs the threadsafe function (whether it keeps the loop alive).
    pub fn set_ref(&mut self, env: sys::napi_env, want: bool) {
        if want == self.refed {
            return;
        }
        let tsfn = self.tsfn;
        // The helper may have released its count already (after a poll
        // error), but the function is freed only after its finalizer, which
        // closes the gate on this same JS thread: open, it still exists.
        self.gate.with_open(|| {
            // SAFETY: on the JS thread, before the finalizer (see above).
            unsafe {
                if want {
                    sys::napi_ref_threadsafe_function(env, tsfn);
                } else {
                    sys::napi_unref_threadsafe_function(env, tsfn);
                }
            }
        });
        self.refed = want;
    }

    /// Stops the helper; it releases the threadsafe function and exits
    /// (dropping the `ReadyThread` stops it).
    pub fn stop(self) {
        drop(self);
    }

    /// At the environment's teardown: closes the gate first, so the helper
    /// exits without touching the threadsafe function (the runtime may be
    /// destroying it, or, as Deno does, never finalize it), then stops it.
    pub fn abandon(self) {
        self.gate.close();
        drop(self);
    }
}

/// The helper's threadsafe-function `call_js`.
///
/// # Safety
/// Only Node calls it, with the `context` given to
/// `napi_create_threadsafe_function` in `start()`, and a null env when the
/// env is going away.
unsafe extern "C" fn on_ready(
    env: sys::napi_env,
    _js_cb: sys::napi_value,
    context: *mut c_void,
    _data: *mut c_void,
) {
    if env.is_null() {
        return; // the environment is going away
    }
    // SAFETY: context is the Box<Weak<..>> made in start(); freed only in on_finalize.
    let weak = unsafe { &*(context as *const Weak<RefCell<WatchInner>>) };
    if let Some(inner) = weak.upgrade() {
        WatchInner::parked(&inner);
        WatchInner::fire(&inner, env, 0, true);
        WatchInner::rearm_if_active(&inner);
    }
}

/// The helper's threadsafe-function finalizer.
///
/// # Safety
/// Only Node calls it, once, with the `data` and `context` given in `start()`.
unsafe extern "C" fn on_finalize(_env: sys::napi_env, data: *mut c_void, context: *mut c_void) {
    // SAFETY: data is the Arc<Gate> and context the Box<Weak<..>> from start(),
    // each reclaimed once, here.
    let gate = unsafe { Arc::from_raw(data as *const Gate) };
    gate.close();
    // SAFETY: context is the Box<Weak<..>> from start(); Node calls no
    // on_ready after the finalizer, so this is its last use.
    drop(unsafe { Box::from_raw(context as *mut Weak<RefCell<WatchInner>>) });
}
