//! Waiting for an eventfd or timerfd on Node's own event loop.
//!
//! Each waitable object (`EventCounter`, `Semaphore`, `Timer`) owns an
//! [`Inner`]: its fd, a FIFO queue of pending promises, and at most one
//! `uv_poll_t` on its environment's loop. The rules, from DESIGN.md:
//! - One poll per (env, fd), created on the first wait. It is ref'ed only
//!   while someone waits. When the queue empties it stays started but idle
//!   (no `epoll_ctl` per wait); uv_poll is level-triggered, so the first
//!   callback that finds nobody waiting stops it, and a non-zero semaphore
//!   nobody waits for cannot busy-loop the process.
//! - Reads happen only on the JS thread, in the poll callback: non-blocking
//!   reads until `EAGAIN` or until no waiter is left. Another process or
//!   thread may win a semaphore read; the loser gets `EAGAIN` and stays armed.
//! - An aborted waiter is removed on the JS thread before any read is made for
//!   it, so an abort can never take a permit for nobody.
//! - Promises are settled inside a callback scope, so user code only runs as
//!   promise continuations after the callback, never inside it.
//! - Closing: `uv_poll_stop` (which also drops the fd from epoll), then close
//!   the fd, then `uv_close`; the handle's memory is freed in the close callback.
//! - The poll watches (and its callback reads) a private `dup` of the
//!   object's fd, made on the first wait, never the number JS sees as
//!   `obj.fd`. JS can close `obj.fd` behind our back (`fs.closeSync`) and the
//!   number can then be reused by any file, including a socket libuv itself
//!   watches: a poll left on that number would get the socket's events (libuv
//!   finds watchers by fd number) and read from it, and `uv_poll_stop` would
//!   `EPOLL_CTL_DEL` the socket's registration. The dup costs one fd per
//!   object that has ever waited.
//! - An fd closed behind our back: the first call that gets `EBADF` on it
//!   checks with `fstat` that it is really gone (`GuardedFd::confirm_lost`),
//!   then forgets the number without closing it, rejects pending waits with
//!   that `EBADF` error and closes the poll (its dup is ours). Every later
//!   call throws `EBADF` without a syscall. `close()` and the finalizer check
//!   the fd's identity (one `fstat`) and forget instead of closing a number
//!   that is no longer this object's file (see `linux_fd_core::fd::FdIdentity`
//!   for what that check cannot tell apart). A pending wait is not settled by
//!   the close itself: nothing reports it (the poll is on the dup, which keeps
//!   the file alive and working), so it settles with a value if someone adds,
//!   or with `EBADF` at the object's next call.
//! - While anyone waits, the `Inner` pins itself (an `Rc` cycle broken when the
//!   queue empties), so a promise still settles if its object was dropped.
//!
//! Cancel safety: a waiter is settled exactly once, by a read, a close, an
//! abort or an error. A permit read for a waiter is handed to that waiter's
//! promise in the same callback, with no JS in between.

use std::alloc::{self, Layout};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::ffi::c_int;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::ptr;
use std::rc::{Rc, Weak};

use linux_fd_core::fd::{self as core_fd, GuardedFd};
use linux_fd_core::{Errno, Error as SysError};
use napi::sys;

use crate::abort;
use crate::env::{Backend, EnvState};
use crate::error;
use crate::helper::Helper;
use crate::js::{self, JsValue};
use crate::uv;

/// What the fd is, which decides how a read is made and what a waiter gets.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// eventfd: a read takes the whole counter; waiters get a bigint.
    Counter,
    /// eventfd with `EFD_SEMAPHORE`: a read takes 1; waiters get `undefined`.
    Semaphore,
    /// timerfd: a read takes the expiration count; waiters get a bigint.
    Timer,
}

impl Kind {
    /// The class name, for `ERR_CLOSED` messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Counter => "EventCounter",
            Kind::Semaphore => "Semaphore",
            Kind::Timer => "Timer",
        }
    }
}

/// How a waiter's promise is fulfilled.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// With the value itself; rejected with `ERR_CLOSED` on close.
    Plain,
    /// With an iterator result `{ value, done }`; `{ done: true }` on close.
    Iter,
}

struct Waiter {
    id: u64,
    deferred: sys::napi_deferred,
    mode: Mode,
    abort: Option<abort::Hook>,
}

#[derive(Clone)]
enum Outcome {
    Value(u64),
    Failed(SysError),
    Closed,
    /// The fd (this number) was closed outside the package; found by this syscall.
    Lost(RawFd, &'static str),
    Aborted,
}

/// The state behind one waitable JS object.
pub struct Inner {
    kind: Kind,
    /// The fd JS sees as `obj.fd`.
    fd: GuardedFd,
    /// Which call found `fd` closed outside the package ("" while it is not).
    lost_by: &'static str,
    /// The private dup of `fd` that the poll handle watches (uv backend).
    poll_fd: Option<OwnedFd>,
    state: Option<Rc<EnvState>>,
    handle: *mut uv::Handle,
    reg_id: u64,
    /// The poll is started (it may be idle: started, but nobody waits).
    active: bool,
    /// What the user asked with `ref()`/`unref()`.
    refed: bool,
    /// Whether the handle is currently ref'ed in libuv: `refed` and someone waits.
    handle_refed: bool,
    waiters: VecDeque<Waiter>,
    next_waiter: u64,
    pin: Option<Rc<RefCell<Inner>>>,
    /// The fallback waiter (Bun), instead of a poll handle.
    helper: Option<Helper>,
}

/// What a poll handle's `data` points to; freed in the close callback.
struct HandleData {
    state: Rc<EnvState>,
    inner: Weak<RefCell<Inner>>,
}

type Shared = Rc<RefCell<Inner>>;

impl Inner {
    /// Wraps an owned, non-blocking fd of `kind`.
    pub fn new(kind: Kind, fd: OwnedFd) -> Shared {
        Self::with_guard(kind, GuardedFd::new(fd))
    }

    /// As [`Inner::new`] for an eventfd/timerfd the constructor just created:
    /// its identity is the shared anonymous inode's, read once per process.
    pub fn new_created(kind: Kind, fd: OwnedFd) -> Shared {
        Self::with_guard(kind, GuardedFd::new_anon(fd))
    }

    fn with_guard(kind: Kind, fd: GuardedFd) -> Shared {
        Rc::new(RefCell::new(Inner {
            kind,
            fd,
            lost_by: "",
            poll_fd: None,
            state: None,
            handle: ptr::null_mut(),
            reg_id: 0,
            active: false,
            refed: true,
            handle_refed: true,
            waiters: VecDeque::new(),
            next_waiter: 1,
            pin: None,
            helper: None,
        }))
    }

    /// The fd number, or `None` after close (or once it was lost).
    pub fn raw_fd(&self) -> Option<RawFd> {
        self.fd.raw()
    }

    /// The owned fd, or `ERR_CLOSED` after `close()`, or `EBADF` once the fd
    /// was found closed outside the package.
    #[inline]
    pub fn fd(&self, env: sys::napi_env) -> napi::Result<&OwnedFd> {
        match self.fd.get() {
            Some(fd) => Ok(fd),
            None => Err(self.unusable(env)),
        }
    }

    #[cold]
    fn unusable(&self, env: sys::napi_env) -> napi::Error {
        match self.fd.lost() {
            Some(raw) => error::fd_lost(env, self.kind.name(), raw, self.lost_by),
            None => error::closed(env, self.kind.name()),
        }
    }

    /// Whether `close()` was called (or teardown closed it, or the fd was lost).
    pub fn is_closed(&self) -> bool {
        self.fd.get().is_none()
    }

    /// Whether the fd was found closed outside the package.
    pub fn is_lost(&self) -> bool {
        self.fd.lost().is_some()
    }

    /// Maps the error of a call on this object's fd to a JS error. An
    /// `EBADF` (closed) or `EINVAL` (the number now names a file of another
    /// kind) whose fd turns out to be gone gives the fd up (see
    /// [`Inner::lose`]) and becomes the "closed outside linux-fd" `EBADF`
    /// error. Only error branches come here, so the success path pays nothing.
    #[cold]
    pub fn fail(this: &Shared, env: sys::napi_env, e: SysError) -> napi::Error {
        match Inner::outcome_of(this, env, e) {
            Outcome::Lost(..) => this.borrow().unusable(env),
            _ => error::sys(env, e),
        }
    }

    /// What a failed call on the fd means for a waiter: `Lost` if the error
    /// could mean the fd is gone and `fstat` confirms it (then the fd was
    /// given up, see [`Inner::lose`]), else the error itself.
    #[cold]
    fn outcome_of(this: &Shared, env: sys::napi_env, e: SysError) -> Outcome {
        if matches!(e.errno, Errno::EBADF | Errno::EINVAL) && Inner::lose(this, env, e.syscall) {
            let me = this.borrow();
            return Outcome::Lost(me.fd.lost().unwrap_or(-1), me.lost_by);
        }
        Outcome::Failed(e)
    }

    /// After a call on the fd failed with `EBADF`: if `fstat` confirms the
    /// fd is gone, forgets the number (never closing it), rejects pending
    /// waits with `EBADF`, and closes the poll handle and its private dup.
    /// Returns whether the fd is gone.
    #[cold]
    pub fn lose(this: &Shared, env: sys::napi_env, syscall: &'static str) -> bool {
        let (waiters, pin, kind, raw, by) = {
            let mut me = this.borrow_mut();
            if !me.fd.confirm_lost() {
                return false;
            }
            if me.lost_by.is_empty() {
                me.lost_by = syscall;
            }
            let waiters = std::mem::take(&mut me.waiters);
            me.release_handle();
            let pin = me.pin.take();
            let raw = me.fd.lost().unwrap_or(-1);
            (waiters, pin, me.kind, raw, me.lost_by)
        };
        for w in waiters {
            settle(env, kind, w, Outcome::Lost(raw, by), None);
        }
        drop(pin);
        true
    }

    /// The number of pending waits.
    pub fn pending(&self) -> usize {
        self.waiters.len()
    }

    /// Reads the public fd (an explicit call: `EBADF` there means it may be lost).
    fn read(&self) -> Result<u64, SysError> {
        match self.fd.get() {
            Some(fd) => self.read_from(fd.as_fd()),
            None => Err(SysError::new(Errno::EBADF, "read")),
        }
    }

    /// Reads where the poll watches: the private dup if there is one.
    fn poll_read(&self) -> Result<u64, SysError> {
        match &self.poll_fd {
            Some(fd) => self.read_from(fd.as_fd()),
            None => self.read(),
        }
    }

    fn read_from(&self, fd: BorrowedFd<'_>) -> Result<u64, SysError> {
        match self.kind {
            Kind::Counter | Kind::Semaphore => linux_fd_core::eventfd::eventfd_read(fd),
            Kind::Timer => linux_fd_core::timerfd::timerfd_read(fd),
        }
    }

    /// `ref()`/`unref()`: whether a pending wait keeps the process alive.
    pub fn set_ref(&mut self, refed: bool) {
        self.refed = refed;
        self.sync_ref();
    }

    /// A handle keeps the loop alive only while someone waits and the user
    /// has not unref'ed it; an idle but still started poll must not.
    fn sync_ref(&mut self) {
        let want = self.refed && !self.waiters.is_empty();
        if let (Some(helper), Some(state)) = (self.helper.as_mut(), self.state.as_ref()) {
            helper.set_ref(state.env, want);
            return;
        }
        if want == self.handle_refed || self.handle.is_null() {
            return;
        }
        if let Some(Backend::Uv { uv, .. }) = self.backend() {
            // SAFETY: handle is a live, initialised, not-closing poll handle
            // (handle is nulled before uv_close).
            unsafe {
                if want {
                    (uv.ref_)(self.handle)
                } else {
                    (uv.unref)(self.handle)
                }
            }
        }
        self.handle_refed = want;
    }

    /// Whether a pending wait keeps the process alive.
    pub fn has_ref(&self) -> bool {
        self.refed
    }

    fn backend(&self) -> Option<&Backend> {
        self.state.as_ref().map(|s| &s.backend)
    }

    /// Starts a wait and returns its promise.
    ///
    /// `options` is `undefined` or `{ signal?: AbortSignal }`.
    pub fn wait(
        this: &Shared,
        env: sys::napi_env,
        options: JsValue,
        mode: Mode,
    ) -> napi::Result<sys::napi_value> {
        let signal = abort::parse_signal(options)?;
        let kind = {
            let me = this.borrow();
            me.fd(env)?;
            me.kind
        };
        let (deferred, promise) = js::promise(env)?;
        if let Some(sig) = signal {
            if abort::is_aborted(sig)? {
                settle(
                    env,
                    kind,
                    Waiter {
                        id: 0,
                        deferred,
                        mode,
                        abort: None,
                    },
                    Outcome::Aborted,
                    Some(sig),
                );
                return Ok(promise);
            }
        }
        // Fast path: nobody queued ahead, so a ready fd can be read right away
        // without breaking FIFO order.
        let early = {
            let me = this.borrow();
            if me.waiters.is_empty() {
                match me.read() {
                    Ok(v) => Some(Outcome::Value(v)),
                    Err(e) if e.errno == Errno::EAGAIN => None,
                    Err(e) => Some(Outcome::Failed(e)),
                }
            } else {
                None
            }
        };
        let early = match early {
            Some(Outcome::Failed(e)) => Some(Inner::outcome_of(this, env, e)),
            other => other,
        };
        if let Some(outcome) = early {
            settle(
                env,
                kind,
                Waiter {
                    id: 0,
                    deferred,
                    mode,
                    abort: None,
                },
                outcome,
                None,
            );
            return Ok(promise);
        }
        let id = {
            let mut me = this.borrow_mut();
            let id = me.next_waiter;
            me.next_waiter += 1;
            id
        };
        let abort = match signal {
            Some(sig) => {
                let weak = Rc::downgrade(this);
                Some(abort::listen(env, sig, move |env, _| {
                    abort_waiter(env, &weak, id)
                })?)
            }
            None => None,
        };
        let started = Inner::ensure_polling(this, env);
        let mut me = this.borrow_mut();
        me.waiters.push_back(Waiter {
            id,
            deferred,
            mode,
            abort,
        });
        if me.pin.is_none() {
            me.pin = Some(this.clone());
        }
        me.sync_ref();
        if let Err(e) = started {
            let waiter = me.waiters.pop_back().expect("just pushed");
            let pin = me.idle();
            drop(me);
            settle(env, kind, waiter, Inner::outcome_of(this, env, e), None);
            drop(pin);
        }
        Ok(promise)
    }

    /// Creates the poll handle if needed and starts it.
    fn ensure_polling(this: &Shared, env: sys::napi_env) -> Result<(), SysError> {
        let mut me = this.borrow_mut();
        if me.active {
            return Ok(());
        }
        if me.state.is_none() {
            let state =
                EnvState::get(env).map_err(|_| SysError::new(Errno::ENOMEM, "napi_get_instance_data"))?;
            me.state = Some(state);
        }
        let state = me.state.clone().expect("set above");
        let (uv, loop_) = match state.backend {
            Backend::Uv { uv, loop_ } => (uv, loop_),
            Backend::Thread => {
                match me.helper.as_mut() {
                    Some(helper) => helper.rearm(),
                    None => {
                        let fd = me.fd.get().ok_or(SysError::new(Errno::EBADF, "poll"))?;
                        let helper = Helper::start(env, fd.as_fd(), Rc::downgrade(this))?;
                        me.helper = Some(helper);
                    }
                }
                me.active = true;
                return Ok(());
            }
        };
        if me.handle.is_null() {
            let public = me.fd.get().ok_or(SysError::new(Errno::EBADF, "fcntl"))?;
            // Poll a private dup, never the number JS can close (module docs).
            let dup = core_fd::dup_cloexec(public.as_fd())?;
            let fd = dup.as_raw_fd();
            let layout = handle_layout(uv);
            // SAFETY: layout has a non-zero size (uv_handle_size of a real type).
            let h = unsafe { alloc::alloc_zeroed(layout) } as *mut uv::Handle;
            if h.is_null() {
                return Err(SysError::new(Errno::ENOMEM, "uv_poll_init"));
            }
            // SAFETY: h is zeroed memory of uv_handle_size(UV_POLL) bytes;
            // loop_ is this env's loop; fd is `dup`, open and kept in
            // `me.poll_fd` until the handle is stopped.
            let rc = unsafe { (uv.poll_init)(loop_, h, fd) };
            if rc != 0 {
                // SAFETY: uv_poll_init failed, so libuv holds no reference to h.
                unsafe { alloc::dealloc(h.cast(), layout) };
                return Err(SysError::new(Errno::from_raw(-rc), "uv_poll_init"));
            }
            let data = Box::into_raw(Box::new(HandleData {
                state: state.clone(),
                inner: Rc::downgrade(this),
            }));
            // SAFETY: h is an initialised handle; data is freed in on_close.
            unsafe { (uv.set_data)(h, data.cast()) };
            // A new handle is ref'ed; sync_ref adjusts it once the waiter is queued.
            me.poll_fd = Some(dup);
            me.handle = h;
            me.handle_refed = true;
            me.reg_id = state.register(Rc::downgrade(this));
        }
        // SAFETY: handle is initialised and not closing; on_poll matches uv_poll_cb.
        let rc = unsafe { (uv.poll_start)(me.handle, uv::UV_READABLE, on_poll) };
        if rc != 0 {
            return Err(SysError::new(Errno::from_raw(-rc), "uv_poll_start"));
        }
        me.active = true;
        Ok(())
    }

    /// Once nobody waits: unref the handle and unpin, but leave the poll
    /// started. Restarting it for the next wait would cost an `epoll_ctl` DEL
    /// and ADD per wait; an idle started poll costs nothing until the fd
    /// becomes readable, and then the first callback with nobody waiting stops
    /// it (`stop`), so a non-zero semaphore that nobody waits for cannot
    /// busy-loop the process. The returned pin must be dropped after the
    /// `RefCell` borrow ends.
    #[must_use]
    fn idle(&mut self) -> Option<Shared> {
        if !self.waiters.is_empty() {
            return None;
        }
        self.sync_ref();
        self.pin.take()
    }

    /// Stops the poll (nobody waits and the fd is readable).
    fn stop(&mut self) {
        if self.active {
            if let Some(Backend::Uv { uv, .. }) = self.backend() {
                // SAFETY: handle is live and active (active implies started).
                unsafe { (uv.poll_stop)(self.handle) };
            }
            self.active = false;
        }
    }

    /// Stops polling, closes the poll's private dup, and starts `uv_close`,
    /// in that order. Leaves the public fd alone.
    fn release_handle(&mut self) {
        if let Some(helper) = self.helper.take() {
            helper.stop();
            self.active = false;
        }
        let handle = std::mem::replace(&mut self.handle, ptr::null_mut());
        if handle.is_null() {
            self.poll_fd = None;
            return;
        }
        let state = self.state.clone().expect("a handle implies a state");
        if let Backend::Uv { uv, .. } = state.backend {
            // SAFETY: handle is live and not closing. uv_poll_stop also removes
            // the dup from epoll while it is still open, so closing it next is safe.
            unsafe { (uv.poll_stop)(handle) };
            self.active = false;
            self.poll_fd = None;
            state.unregister(self.reg_id);
            state.close_started();
            // SAFETY: handle is not closing (this is its only uv_close); its
            // memory and data are freed in on_close.
            unsafe { (uv.close)(handle, Some(on_close)) };
        }
    }

    /// `close()`: rejects pending waits with `ERR_CLOSED` (iterators end),
    /// closes the poll handle and the fd. Idempotent, never throws. If the fd
    /// turns out to have been closed outside the package (its `fstat`
    /// identity is gone), the number is forgotten instead of closed and
    /// pending waits reject with `EBADF`.
    pub fn close(this: &Shared, env: sys::napi_env) {
        let (waiters, pin, kind, outcome) = {
            let mut me = this.borrow_mut();
            let waiters = std::mem::take(&mut me.waiters);
            me.release_handle();
            let outcome = match me.fd.close() {
                Some(raw) => {
                    if me.lost_by.is_empty() {
                        me.lost_by = "close";
                    }
                    Outcome::Lost(raw, me.lost_by)
                }
                None => Outcome::Closed,
            };
            let pin = me.pin.take();
            (waiters, pin, me.kind, outcome)
        };
        for w in waiters {
            settle(env, kind, w, outcome.clone(), None);
        }
        drop(pin);
    }

    /// Environment teardown: JS can no longer run, so pending promises are
    /// dropped unsettled; the handle is closed and the fd released.
    pub fn teardown(this: &Shared) -> Option<Shared> {
        let mut me = this.borrow_mut();
        // Deferreds and references belong to the dying env; Node frees them with it.
        me.waiters.clear();
        me.release_handle();
        me.fd.close();
        me.pin.take()
    }

    /// Runs in the poll callback: reads while waiters remain. An `EBADF`
    /// (from the poll status, or a read of the public fd on the helper
    /// backend) is handed back unsettled, for [`Inner::lose`] to check.
    fn drain(&mut self, status: c_int) -> Drained {
        let mut done = Vec::new();
        if self.waiters.is_empty() {
            // Readable with nobody waiting: stop, or level-triggered polling
            // would call back on every loop iteration.
            self.stop();
            return (done, None, None);
        }
        if status < 0 {
            let err = SysError::new(Errno::from_raw(-status), "uv_poll");
            if err.errno == Errno::EBADF {
                return (done, None, Some(err));
            }
            done.extend(self.waiters.drain(..).map(|w| (w, Outcome::Failed(err))));
        }
        while !self.waiters.is_empty() {
            match self.poll_read() {
                Ok(v) => {
                    let w = self.waiters.pop_front().expect("non-empty");
                    done.push((w, Outcome::Value(v)));
                }
                Err(e) if e.errno == Errno::EAGAIN => break,
                Err(e) if e.errno == Errno::EBADF => {
                    let pin = self.idle();
                    return (done, pin, Some(e));
                }
                Err(e) => {
                    // ECANCELED (a clock jump under cancelOnSet) concerns every
                    // waiter; any other error means the fd itself is broken.
                    done.extend(self.waiters.drain(..).map(|w| (w, Outcome::Failed(e))));
                }
            }
        }
        let pin = self.idle();
        (done, pin, None)
    }

    /// An `EBADF` from the poll: gives the fd up if it is gone, and otherwise
    /// rejects every pending wait with the error.
    fn poll_failed(this: &Shared, env: sys::napi_env, e: SysError) {
        if Inner::lose(this, env, e.syscall) {
            return;
        }
        let (waiters, pin, kind) = {
            let mut me = this.borrow_mut();
            let waiters = std::mem::take(&mut me.waiters);
            let pin = me.idle();
            (waiters, pin, me.kind)
        };
        for w in waiters {
            settle(env, kind, w, Outcome::Failed(e), None);
        }
        drop(pin);
    }

    fn remove_waiter(&mut self, id: u64) -> (Option<Waiter>, Option<Shared>) {
        let pos = self.waiters.iter().position(|w| w.id == id);
        let w = pos.and_then(|p| self.waiters.remove(p));
        let pin = if w.is_some() { self.idle() } else { None };
        (w, pin)
    }

    /// The kind of this waitable.
    pub fn kind(&self) -> Kind {
        self.kind
    }
}

/// What one poll callback settles, the pin to drop after the borrow ends,
/// and an `EBADF` still to be checked.
type Drained = (Vec<(Waiter, Outcome)>, Option<Shared>, Option<SysError>);

impl Drop for Inner {
    fn drop(&mut self) {
        // Reached when the JS object is collected with no waits pending (a
        // pending wait pins the Inner), or after teardown (then a no-op).
        // The public fd closes as `self.fd` drops, after an identity check.
        self.release_handle();
    }
}

fn handle_layout(uv: &uv::Uv) -> Layout {
    // SAFETY: uv_handle_size is a pure lookup in libuv's size table.
    let size = unsafe { (uv.handle_size)(uv::UV_POLL) };
    Layout::from_size_align(size.max(1), 16).expect("valid layout")
}

/// The poll handle's `uv_close_cb`.
///
/// # Safety
/// Only libuv calls it, once, after `uv_close` on a handle made by
/// `ensure_polling`.
unsafe extern "C" fn on_close(handle: *mut uv::Handle) {
    let state = {
        let backend_uv = uv::get().expect("on_close is only registered when libuv was found");
        // SAFETY: data was set to a Box<HandleData> right after uv_poll_init
        // and is reclaimed only here, once.
        let data = unsafe { Box::from_raw((backend_uv.get_data)(handle) as *mut HandleData) };
        // SAFETY: libuv is done with the handle once its close callback runs;
        // it was allocated with this same layout.
        unsafe { alloc::dealloc(handle.cast(), handle_layout(backend_uv)) };
        data.state.clone()
    };
    state.close_finished();
}

/// The poll handle's `uv_poll_cb`.
///
/// # Safety
/// Only libuv calls it, for a started handle made by `ensure_polling`, before that
/// handle's close callback.
unsafe extern "C" fn on_poll(handle: *mut uv::Handle, status: c_int, _events: c_int) {
    let Some(uv) = uv::get() else { return };
    // SAFETY: data is the HandleData set at init; it is freed only in on_close,
    // which libuv runs after the last poll callback.
    let data = unsafe { &*((uv.get_data)(handle) as *const HandleData) };
    let Some(inner) = data.inner.upgrade() else { return };
    let state = data.state.clone();
    let env = state.env;
    let (done, pin, kind, ebadf) = {
        let mut me = inner.borrow_mut();
        let (done, pin, ebadf) = me.drain(status);
        (done, pin, me.kind, ebadf)
    };
    if !done.is_empty() || ebadf.is_some() {
        with_callback_scope(&state, |env| {
            for (w, outcome) in done {
                settle(env, kind, w, outcome, None);
            }
            if let Some(e) = ebadf {
                Inner::poll_failed(&inner, env, e);
            }
        });
    }
    drop(pin);
    drop(inner);
    let _ = env;
}

/// The helper thread (Bun fallback) saw the fd readable and parked itself.
/// Node-API runs this threadsafe-function callback with a handle scope and a
/// callback scope already open.
pub fn on_ready(inner: &Shared, env: sys::napi_env) {
    let (done, pin, kind, ebadf) = {
        let mut me = inner.borrow_mut();
        if let Some(h) = me.helper.as_mut() {
            h.parked();
        }
        let (done, pin, ebadf) = me.drain(0);
        if me.waiters.is_empty() || ebadf.is_some() {
            me.active = false;
        } else if let Some(h) = me.helper.as_mut() {
            h.rearm();
        }
        (done, pin, me.kind, ebadf)
    };
    for (w, outcome) in done {
        settle(env, kind, w, outcome, None);
    }
    if let Some(e) = ebadf {
        Inner::poll_failed(inner, env, e);
    }
    drop(pin);
}

/// Runs `f` inside a handle scope and a callback scope, so that promise
/// continuations run (as microtasks) when the scope closes, as they do after
/// any other Node callback.
fn with_callback_scope(state: &EnvState, f: impl FnOnce(sys::napi_env)) {
    let env = state.env;
    let mut hs = ptr::null_mut();
    // SAFETY: called from a loop callback on env's own thread.
    if unsafe { sys::napi_open_handle_scope(env, &mut hs) } != sys::Status::napi_ok {
        return;
    }
    let mut cs = ptr::null_mut();
    let opened = match js::object(env) {
        Ok(resource) => {
            // SAFETY: resource is an object of env; async_ctx came from napi_async_init on env.
            let st = unsafe { sys::napi_open_callback_scope(env, resource, state.async_ctx(), &mut cs) };
            st == sys::Status::napi_ok
        }
        Err(_) => false,
    };
    f(env);
    if opened {
        // SAFETY: cs was opened just above on this env and is closed once.
        unsafe { sys::napi_close_callback_scope(env, cs) };
    }
    // SAFETY: hs was opened just above and is closed once.
    unsafe { sys::napi_close_handle_scope(env, hs) };
}

/// Settles one waiter's promise and removes its abort listener.
fn settle(env: sys::napi_env, kind: Kind, w: Waiter, outcome: Outcome, signal: Option<JsValue>) {
    let mut reason_signal = signal.map(|s| s.raw);
    if let Some(hook) = w.abort {
        let sig = hook.remove(env);
        if reason_signal.is_none() {
            reason_signal = sig;
        }
    }
    let result: napi::Result<(bool, sys::napi_value)> = (|| {
        Ok(match outcome {
            Outcome::Value(v) => {
                let value = match kind {
                    Kind::Semaphore => js::undefined(env)?,
                    Kind::Counter | Kind::Timer => js::bigint(env, v)?,
                };
                (true, wrap_iter(env, w.mode, value, false)?)
            }
            Outcome::Closed if w.mode == Mode::Iter => {
                (true, wrap_iter(env, w.mode, js::undefined(env)?, true)?)
            }
            Outcome::Closed => (false, error::closed_value(env, kind.name())?),
            Outcome::Failed(e) => (false, error::sys_value(env, e)?),
            Outcome::Lost(raw, syscall) => (false, error::fd_lost_value(env, kind.name(), raw, syscall)?),
            Outcome::Aborted => (false, abort::error(env, reason_signal)?),
        })
    })();
    match result {
        Ok((ok, value)) => js::settle(env, w.deferred, ok, value),
        Err(_) => {
            // Creating the value failed (an exception is pending, or the env
            // is going away): reject with whatever is pending, if anything.
            let mut exc = ptr::null_mut();
            // SAFETY: env is live on this thread.
            unsafe { sys::napi_get_and_clear_last_exception(env, &mut exc) };
            if !exc.is_null() {
                js::settle(env, w.deferred, false, exc);
            }
        }
    }
}

fn wrap_iter(
    env: sys::napi_env,
    mode: Mode,
    value: sys::napi_value,
    done: bool,
) -> napi::Result<sys::napi_value> {
    if mode == Mode::Plain {
        return Ok(value);
    }
    let obj = js::object(env)?;
    js::define(env, obj, c"value", value)?;
    js::define(env, obj, c"done", js::boolean(env, done)?)?;
    Ok(obj)
}

/// Removes the waiter `id` after its signal fired, and rejects it.
fn abort_waiter(env: sys::napi_env, inner: &Weak<RefCell<Inner>>, id: u64) {
    if let Some(inner) = inner.upgrade() {
        let (w, pin, kind) = {
            let mut me = inner.borrow_mut();
            let (w, pin) = me.remove_waiter(id);
            (w, pin, me.kind)
        };
        if let Some(w) = w {
            settle(env, kind, w, Outcome::Aborted, None);
        }
        drop(pin);
    }
}
