//! The fallback watch backend for runtimes whose `uv_*` functions must not be called
//! (Bun aborts on most of them): one helper thread per waited fd, which
//! `poll(2)`s it and wakes the JS thread through a threadsafe function.
//!
//! Handshake, so level-triggered readiness cannot spin the helper: after it
//! signals the JS thread, the helper parks on its control eventfd until the
//! JS thread, having read what it could, re-arms it (or stops it). The helper
//! polls its own `dup` of the fd, so closing the object's fd never pulls a
//! polled fd out from under it.
//!
//! Teardown: `close()` sets `stop` and wakes the helper, which releases the
//! threadsafe function and exits. If the environment goes away first, Node
//! destroys the threadsafe function even though the helper still holds it;
//! the finalizer closes the [`Gate`] (under its mutex, which the helper holds
//! around every use of the function) and wakes the helper, which then exits
//! without touching it.

use std::cell::RefCell;
use std::ffi::c_void;
use std::os::fd::{AsFd, OwnedFd};
use std::ptr;
use std::rc::Weak;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use linux_fd_core::eventfd::{self as efd, EfdFlags};
use linux_fd_core::{fd as core_fd, Errno, Error as SysError};
use napi::sys;
use nix::poll::{PollFd, PollFlags, PollTimeout};

use super::job::Gate;
use super::watch::WatchInner;

struct Shared {
    fd: OwnedFd,
    ctl: Arc<OwnedFd>,
    stop: AtomicBool,
    gate: Arc<Gate>,
}

impl Shared {
    fn wake(&self) {
        // The control eventfd only counts tokens; a failed write (it cannot
        // overflow at 1 per call in practice) would at worst delay a wake.
        let _ = efd::eventfd_write(self.ctl.as_fd(), 1);
    }
}

/// The JS-thread side of one helper thread.
pub struct Helper {
    tsfn: sys::napi_threadsafe_function,
    shared: Arc<Shared>,
    armed: bool,
    refed: bool,
}

struct SendPtr(usize);

impl Helper {
    /// Starts a helper polling a dup of `fd` for `inner`.
    pub fn start(
        env: sys::napi_env,
        fd: std::os::fd::BorrowedFd<'_>,
        inner: Weak<RefCell<WatchInner>>,
    ) -> Result<Self, SysError> {
        let dup = core_fd::dup_cloexec(fd)?;
        let ctl = efd::eventfd(0, EfdFlags::EFD_CLOEXEC)?;
        let ctl = Arc::new(ctl);
        let wake_ctl = ctl.clone();
        let gate = Gate::new(move || {
            let _ = efd::eventfd_write(wake_ctl.as_fd(), 1);
        });
        let shared = Arc::new(Shared {
            fd: dup,
            ctl,
            stop: AtomicBool::new(false),
            gate: gate.clone(),
        });
        let context = Box::into_raw(Box::new(inner));
        let finalize_data = Arc::into_raw(gate);
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
        let thread_shared = shared.clone();
        let tsfn_addr = SendPtr(tsfn as usize);
        let spawned = std::thread::Builder::new()
            .name("linux-fd-wait".into())
            .spawn(move || {
                let tsfn_addr = tsfn_addr;
                run(&thread_shared, tsfn_addr.0 as sys::napi_threadsafe_function)
            });
        if spawned.is_err() {
            // SAFETY: no thread uses tsfn; releasing the only count destroys it
            // and runs on_finalize, which frees context and finalize_data.
            unsafe {
                sys::napi_release_threadsafe_function(tsfn, sys::ThreadsafeFunctionReleaseMode::release)
            };
            return Err(SysError::new(Errno::EAGAIN, "pthread_create"));
        }
        Ok(Self {
            tsfn,
            shared,
            armed: true,
            refed: true,
        })
    }

    /// Lets the helper poll again after the JS thread drained the fd.
    pub fn rearm(&mut self) {
        if !self.armed {
            self.armed = true;
            self.shared.wake();
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
        // SAFETY: tsfn is live until stop() (the helper releases it only after
        // `stop` is set, which happens only in stop()).
        unsafe {
            if want {
                sys::napi_ref_threadsafe_function(env, self.tsfn);
            } else {
                sys::napi_unref_threadsafe_function(env, self.tsfn);
            }
        }
        self.refed = want;
    }

    /// Stops the helper; it releases the threadsafe function and exits.
    pub fn stop(self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake();
    }
}

fn drain_ctl(shared: &Shared) {
    let _ = efd::eventfd_read(shared.ctl.as_fd());
}

fn run(shared: &Shared, tsfn: sys::napi_threadsafe_function) {
    let mut armed = true;
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let mut fds = vec![PollFd::new(shared.ctl.as_fd(), PollFlags::POLLIN)];
        if armed {
            fds.push(PollFd::new(shared.fd.as_fd(), PollFlags::POLLIN));
        }
        match nix::poll::poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => break,
        }
        let ctl_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
        let fd_ready = armed
            && fds
                .get(1)
                .and_then(|f| f.revents())
                .is_some_and(|r| !r.is_empty());
        drop(fds);
        if ctl_ready {
            drain_ctl(shared);
            armed = true;
            continue;
        }
        if fd_ready {
            let called = shared.gate.with_open(|| {
                // SAFETY: the gate is open, so the function exists while this
                // runs; this thread holds one count of it.
                unsafe {
                    sys::napi_call_threadsafe_function(
                        tsfn,
                        ptr::null_mut(),
                        sys::ThreadsafeFunctionCallMode::nonblocking,
                    )
                }
            });
            if called != Some(sys::Status::napi_ok) {
                return; // torn down: the gate is closed, or Node said napi_closing
            }
            armed = false;
        }
    }
    shared.gate.with_open(|| {
        // SAFETY: the gate is open; this is this thread's one count, released once.
        unsafe { sys::napi_release_threadsafe_function(tsfn, sys::ThreadsafeFunctionReleaseMode::release) };
    });
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
