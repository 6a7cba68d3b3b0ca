//! A watch: "call this JS function when this fd is readable", on the
//! environment's own event loop. It is the only waiting primitive the binding
//! offers; the TypeScript layer keeps the waiter queues, reads the fd and
//! settles its promises (docs/design.md, "Waiting on the event loop").
//!
//! - Node: one `uv_poll_t` per watch, on `napi_get_uv_event_loop`'s
//!   loop, polling a private `dup` of the fd, so JS closing the public number
//!   never pulls a polled fd out from under libuv.
//! - Bun (its `uv_*` exports abort) and Deno (its `uv_*` are not libuv's,
//!   see `rt/env.rs`): a helper thread per watch (`thread.rs`).
//!
//! Level-triggered: the callback runs for as long as the fd is readable and
//! the watch is started, so the JS side must read until `EAGAIN` or stop the
//! watch. A started watch holds a strong reference to its callback (so the
//! object a pending wait belongs to cannot be collected); a stopped one holds
//! it weakly, and the JS object keeps the callback alive itself.
//!
//! Closing (libuv's rules): `uv_poll_stop`, then close the dup, then
//! `uv_close(handle, cb)`, and free the handle only in `cb`. Closing the dup
//! at once is safe because the dup has left libuv's epoll set by then: in
//! libuv 1.45–1.48 with its io_uring batching ring (`UV_USE_IO_URING=1` on
//! Node 20 and 22), `uv_poll_stop` made while libuv dispatches I/O events
//! (where the continuation of an `await x.take()` runs) only queues its
//! `EPOLL_CTL_DEL` (direct again from libuv 1.49), which ran after the close, failed with
//! `EBADF`, and left the registration of a file still open elsewhere in the
//! set, waking the loop in a spin whenever it was readable (leaks.spec,
//! "epoll registration"). So `release` also removes it itself, from
//! `uv_backend_fd`'s set, before the close. The queued DEL then finds
//! nothing (`ENOENT`): a number reused meanwhile is not in the set yet,
//! since libuv adds new watchers at the start of its next poll, after the
//! queue is flushed. (Keeping the dup open until the close callback instead
//! kept a socket bound, and a peer connected, until the loop's close
//! phase.)

use std::alloc::{self, Layout};
use std::cell::RefCell;
use std::ffi::c_int;
use std::os::fd::{AsFd, BorrowedFd};
use std::ptr;
use std::rc::{Rc, Weak};

use linux_fd_core::fd::{self as core_fd, GuardedFd};
use linux_fd_core::{Errno, Error as SysError};
use napi::sys;

use super::env::{Backend, EnvState};
use super::thread::Helper;
use super::uv;

/// The native side of one watch. Only touched on its environment's thread.
pub struct WatchInner {
    state: Rc<EnvState>,
    /// The private dup that is polled. A `GuardedFd`, so that the process's
    /// owner registry knows the number (an adoption of it is `EBUSY`), and
    /// so that closing it never closes a number someone else reused.
    poll_fd: GuardedFd,
    /// `uv_poll_t` (uv backend), or null.
    handle: *mut uv::Handle,
    /// The helper thread (thread backend), made on first start.
    helper: Option<Helper>,
    /// The JS callback: strong while started, weak while stopped.
    callback: sys::napi_ref,
    strong: bool,
    active: bool,
    refed: bool,
    reg_id: u64,
    closed: bool,
}

/// What JS holds: an `External<Watch>`.
pub struct Watch(Rc<RefCell<WatchInner>>);

struct HandleData {
    state: Rc<EnvState>,
    inner: Weak<RefCell<WatchInner>>,
}

impl Watch {
    /// A stopped watch of `fd` that will call `callback` (a JS function of
    /// `env`) with no arguments, or with a negative errno if polling failed.
    pub fn new(env: sys::napi_env, fd: BorrowedFd<'_>, callback: sys::napi_value) -> Result<Self, SysError> {
        let state = EnvState::get(env).map_err(|_| SysError::new(Errno::ENOMEM, "napi_get_instance_data"))?;
        let dup = core_fd::dup_cloexec(fd)?;
        let mut cb_ref = ptr::null_mut();
        // SAFETY: env is live; callback is a value of env (checked to be a
        // function by the caller). A weak reference (count 0).
        if unsafe { sys::napi_create_reference(env, callback, 0, &mut cb_ref) } != sys::Status::napi_ok {
            return Err(SysError::new(Errno::ENOMEM, "napi_create_reference"));
        }
        let inner = Rc::new(RefCell::new(WatchInner {
            state: state.clone(),
            poll_fd: GuardedFd::new(dup),
            handle: ptr::null_mut(),
            helper: None,
            callback: cb_ref,
            strong: false,
            active: false,
            refed: true,
            reg_id: 0,
            closed: false,
        }));
        if let Backend::Uv { uv, loop_ } = state.backend {
            let raw = inner.borrow().poll_fd.raw().unwrap_or(-1);
            let layout = handle_layout(uv);
            // SAFETY: layout has a non-zero size (uv_handle_size of a real type).
            let h = unsafe { alloc::alloc_zeroed(layout) } as *mut uv::Handle;
            if h.is_null() {
                WatchInner::release(&inner, true);
                return Err(SysError::new(Errno::ENOMEM, "uv_poll_init"));
            }
            // SAFETY: h is zeroed memory of uv_handle_size(UV_POLL) bytes;
            // loop_ is this env's loop; raw is the dup, open until release().
            let rc = unsafe { (uv.poll_init)(loop_, h, raw) };
            if rc != 0 {
                // SAFETY: uv_poll_init failed, so libuv holds no reference to h.
                unsafe { alloc::dealloc(h.cast(), layout) };
                WatchInner::release(&inner, true);
                return Err(SysError::new(Errno::from_raw(-rc), "uv_poll_init"));
            }
            let data = Box::into_raw(Box::new(HandleData {
                state: state.clone(),
                inner: Rc::downgrade(&inner),
            }));
            // SAFETY: h is an initialised handle; data is freed in on_close.
            unsafe { (uv.set_data)(h, data.cast()) };
            inner.borrow_mut().handle = h;
        }
        // Both backends: the environment's teardown releases what is live.
        let id = state.register(Rc::downgrade(&inner));
        inner.borrow_mut().reg_id = id;
        Ok(Watch(inner))
    }

    /// Starts polling (idempotent).
    pub fn start(&self) -> Result<(), SysError> {
        let inner = &self.0;
        let mut me = inner.borrow_mut();
        if me.closed {
            return Err(SysError::new(Errno::EBADF, "uv_poll_start"));
        }
        if me.active {
            return Ok(());
        }
        match me.state.backend {
            Backend::Uv { uv, .. } => {
                // SAFETY: handle is initialised and not closing (closed is false);
                // on_poll matches uv_poll_cb.
                let rc = unsafe { (uv.poll_start)(me.handle, uv::UV_READABLE, on_poll) };
                if rc != 0 {
                    return Err(SysError::new(Errno::from_raw(-rc), "uv_poll_start"));
                }
            }
            Backend::Thread => {
                let (env, refed) = (me.state.env, me.refed);
                match me.helper.as_mut() {
                    Some(h) => {
                        h.rearm();
                        h.set_ref(env, refed); // unref'd by stop()
                    }
                    None => {
                        let fd = me.poll_fd.get().ok_or(SysError::new(Errno::EBADF, "poll"))?;
                        let mut helper = Helper::start(env, fd.as_fd(), Rc::downgrade(inner))?;
                        helper.set_ref(env, refed);
                        me.helper = Some(helper);
                    }
                }
            }
        }
        me.active = true;
        me.set_strong(true);
        Ok(())
    }

    /// The private dup that is polled, or -1 once closed. JS reads through
    /// it when the watch fires, so a public number that JS closed and that
    /// now names another file is never read.
    pub fn fd(&self) -> i32 {
        self.0.borrow().poll_fd.raw().unwrap_or(-1)
    }

    /// Stops polling (idempotent).
    pub fn stop(&self) {
        self.0.borrow_mut().stop();
    }

    /// Whether an active watch keeps the event loop alive.
    pub fn set_ref(&self, refed: bool) {
        let mut me = self.0.borrow_mut();
        if me.refed == refed || me.closed {
            me.refed = refed;
            return;
        }
        me.refed = refed;
        match me.state.backend {
            Backend::Uv { uv, .. } => {
                // SAFETY: handle is initialised and not closing.
                unsafe {
                    if refed {
                        (uv.ref_)(me.handle)
                    } else {
                        (uv.unref)(me.handle)
                    }
                }
            }
            Backend::Thread => {
                // Only a started watch keeps the loop alive, as a stopped
                // uv_poll does not (see `WatchInner::stop`).
                let (env, active) = (me.state.env, me.active);
                if let Some(h) = me.helper.as_mut() {
                    h.set_ref(env, refed && active);
                }
            }
        }
    }

    /// Stops and frees everything; idempotent. The JS callback is never
    /// called after this.
    pub fn close(&self) {
        WatchInner::release(&self.0, true);
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // The External was collected (or its env torn down).
        WatchInner::release(&self.0, true);
    }
}

impl WatchInner {
    fn set_strong(&mut self, strong: bool) {
        if self.strong == strong || self.callback.is_null() || self.state.tearing_down() {
            return;
        }
        let env = self.state.env;
        let mut count = 0;
        // SAFETY: callback is a live reference of env, used on env's thread.
        unsafe {
            if strong {
                sys::napi_reference_ref(env, self.callback, &mut count);
            } else {
                sys::napi_reference_unref(env, self.callback, &mut count);
            }
        }
        self.strong = strong;
    }

    fn stop(&mut self) {
        if !self.active {
            return;
        }
        self.active = false;
        if let Backend::Uv { uv, .. } = self.state.backend {
            // SAFETY: handle is live and started (active).
            unsafe { (uv.poll_stop)(self.handle) };
        }
        // The thread backend parks after each signal and is re-armed only by
        // start(), so clearing `active` stops it; its threadsafe function is
        // unref'd too, as libuv's stopped poll no longer keeps the loop
        // alive (else Bun and Deno never exited after a wait on an object
        // left open; start() refs it again).
        if !self.state.tearing_down() {
            let env = self.state.env;
            if let Some(h) = self.helper.as_mut() {
                h.set_ref(env, false);
            }
        }
        self.set_strong(false);
    }

    /// Stops polling, closes the dup, starts `uv_close`, stops the helper and
    /// drops the callback reference, in that order. `delete_ref` is false at
    /// teardown, when Node frees references itself and no napi call may
    /// create handles.
    pub fn release(this: &Rc<RefCell<WatchInner>>, delete_ref: bool) {
        let Ok(mut me) = this.try_borrow_mut() else {
            return;
        };
        if me.closed {
            return;
        }
        me.closed = true;
        let tearing_down = me.state.tearing_down();
        if !tearing_down {
            me.stop();
        }
        if let Some(h) = me.helper.take() {
            if tearing_down {
                h.abandon();
            } else {
                h.stop();
            }
        }
        let handle = std::mem::replace(&mut me.handle, ptr::null_mut());
        let state = me.state.clone();
        if let (Backend::Uv { uv, loop_ }, false) = (&state.backend, handle.is_null()) {
            // SAFETY: handle is live and not closing.
            unsafe { (uv.poll_stop)(handle) };
            // uv_poll_stop removes the dup from epoll while it is still open,
            // except during I/O dispatch on libuv 1.45–1.48's io_uring ring, where it only
            // queues the DEL (module comment): so it is removed here too,
            // before the close. Usually it is gone already (ENOENT).
            if let Some(dup) = me.poll_fd.get() {
                // SAFETY: loop_ is this env's live loop.
                let epfd = unsafe { (uv.backend_fd)(*loop_) };
                if epfd >= 0 {
                    // SAFETY: libuv's epoll fd, open for the loop's life;
                    // borrowed only for this call.
                    let epfd = unsafe { BorrowedFd::borrow_raw(epfd) };
                    let _ = linux_fd_core::poll::epoll_forget(epfd, dup.as_fd());
                }
            }
            let _ = me.poll_fd.close();
            state.close_started();
            // SAFETY: handle is not closing (this is its only uv_close); its
            // memory and data are freed in on_close.
            unsafe { (uv.close)(handle, Some(on_close)) };
        }
        let _ = me.poll_fd.close();
        state.unregister(me.reg_id);
        me.active = false;
        let cb = std::mem::replace(&mut me.callback, ptr::null_mut());
        if delete_ref && !tearing_down && !cb.is_null() {
            // SAFETY: cb is a reference of env, deleted once (nulled above),
            // on env's thread while the env is alive.
            unsafe { sys::napi_delete_reference(me.state.env, cb) };
        }
    }

    /// Calls the JS callback with `arg` (a negative errno, or none). Runs on
    /// the env's thread, from a loop callback (uv backend, `in_scope` false:
    /// this opens a handle scope and `napi_make_callback` opens the callback
    /// scope) or from a threadsafe-function call (thread backend, already in
    /// both scopes).
    pub fn fire(this: &Rc<RefCell<WatchInner>>, env: sys::napi_env, status: c_int, in_scope: bool) {
        let (cb, state) = {
            let me = this.borrow();
            // An error is delivered by a watch that on_poll has just
            // stopped for it.
            if me.closed || (status == 0 && !me.active) || me.callback.is_null() {
                return;
            }
            (me.callback, me.state.clone())
        };
        if state.tearing_down() {
            return;
        }
        let mut hs = ptr::null_mut();
        // SAFETY: on env's own thread, outside any JS call (loop callback).
        if !in_scope && unsafe { sys::napi_open_handle_scope(env, &mut hs) } != sys::Status::napi_ok {
            return;
        }
        let mut func = ptr::null_mut();
        // SAFETY: cb is a live reference of env.
        let got = unsafe { sys::napi_get_reference_value(env, cb, &mut func) } == sys::Status::napi_ok
            && !func.is_null();
        if got {
            let mut recv = ptr::null_mut();
            let mut arg = ptr::null_mut();
            let mut result = ptr::null_mut();
            // SAFETY: env is live; out-pointers valid. The receiver is the
            // global object: napi_make_callback converts it with ToObject,
            // which throws for undefined.
            unsafe {
                sys::napi_get_global(env, &mut recv);
                sys::napi_create_int32(env, status, &mut arg);
            }
            let argc = usize::from(status != 0);
            // make_callback runs the microtask queue afterwards, as after any
            // Node callback. Its async context is null, which Node-API allows
            // (an empty context): promise continuations keep the context
            // they were created in, and no napi_async_init means no
            // napi_async_destroy at teardown, which Deno could not run there
            // (docs/platforms.md, "Deno"; Deno now takes the thread backend).
            // SAFETY: func is a function value of env (checked at creation).
            let st = unsafe {
                if in_scope {
                    sys::napi_call_function(env, recv, func, argc, &arg, &mut result)
                } else {
                    sys::napi_make_callback(env, ptr::null_mut(), recv, func, argc, &arg, &mut result)
                }
            };
            if st == sys::Status::napi_pending_exception {
                let mut err = ptr::null_mut();
                // SAFETY: an exception is pending on env; rethrow it as an
                // uncaught exception, as Node does for a throwing callback.
                unsafe {
                    sys::napi_get_and_clear_last_exception(env, &mut err);
                    sys::napi_fatal_exception(env, err);
                }
            }
        }
        if !in_scope {
            // SAFETY: hs was opened just above and is closed once.
            unsafe { sys::napi_close_handle_scope(env, hs) };
        }
    }

    /// Thread backend: the helper parked itself after signalling.
    pub fn parked(this: &Rc<RefCell<WatchInner>>) {
        if let Some(h) = this.borrow_mut().helper.as_mut() {
            h.parked();
        }
    }

    /// Thread backend: after the callback ran, let the helper poll again if
    /// the watch is still started.
    pub fn rearm_if_active(this: &Rc<RefCell<WatchInner>>) {
        let mut me = this.borrow_mut();
        if me.active {
            if let Some(h) = me.helper.as_mut() {
                h.rearm();
            }
        }
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
/// Only libuv calls it, once, after `uv_close` on a handle made by `Watch::new`.
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
/// Only libuv calls it, for a started handle made by `Watch::new`, before that
/// handle's close callback.
unsafe extern "C" fn on_poll(handle: *mut uv::Handle, status: c_int, _events: c_int) {
    let Some(uv) = uv::get() else { return };
    // SAFETY: data is the HandleData set at init; it is freed only in on_close,
    // which libuv runs after the last poll callback.
    let data = unsafe { &*((uv.get_data)(handle) as *const HandleData) };
    let Some(inner) = data.inner.upgrade() else { return };
    let env = data.state.env;
    if status < 0 {
        // A poll error (POLLERR, which libuv reports as UV_EBADF, and the
        // like): libuv has already stopped the handle. Stopped here too
        // before JS runs, so that a wait JS starts from the callback (or
        // its microtasks) really starts it again; stopped after the
        // callback, such a restart was a no-op and then undone, and the
        // wait hung. Told to JS once.
        if !inner.borrow().active {
            return;
        }
        inner.borrow_mut().stop();
        WatchInner::fire(&inner, env, status, false);
        return;
    }
    WatchInner::fire(&inner, env, 0, false);
}
