//! Per-environment state: which loop to wait on, the async context for calling
//! into JS from loop callbacks, and the registry of live poll handles that the
//! environment's teardown must close.
//!
//! One `EnvState` exists per Node environment (the main thread and each
//! worker), kept with `napi_set_instance_data`, never in a process-global:
//! a global registry would let one worker's teardown close another worker's
//! handles from the wrong thread (node-unix-socket's bug).
//!
//! Teardown (DESIGN.md rule 8): an *async* cleanup hook `uv_close`s every live
//! handle and removes itself only in the last close callback. A sync hook would
//! let Node unload the addon before libuv runs the close callbacks (a SIGSEGV
//! when the only worker that loaded the addon exits), and musl builds do not
//! get napi-build's `-z nodelete` to hide that.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::c_void;
use std::ptr;
use std::rc::{Rc, Weak};

use napi::sys;

use crate::js::{check, JsValue};
use crate::uv::{self, Uv};
use crate::wait::Inner;

/// How waits are driven in this environment.
pub enum Backend {
    /// Node: a `uv_poll_t` on the environment's own loop.
    Uv { uv: &'static Uv, loop_: *mut uv::Loop },
    /// Runtimes whose `uv_*` functions must not be called (Bun): a helper
    /// thread per waited fd and a threadsafe function (`helper.rs`).
    Thread,
}

/// State of one Node environment. Only touched on that environment's thread.
pub struct EnvState {
    pub env: sys::napi_env,
    pub backend: Backend,
    async_ctx: Cell<sys::napi_async_context>,
    live: RefCell<HashMap<u64, Weak<RefCell<Inner>>>>,
    next_id: Cell<u64>,
    pending_closes: Cell<usize>,
    tearing_down: Cell<bool>,
    hook: Cell<sys::napi_async_cleanup_hook_handle>,
    hook_arg: Cell<*const EnvState>,
    /// `Buffer.allocUnsafe` of this environment, taken on first use (see
    /// `js::CopiedBuffer`).
    alloc_unsafe: Cell<sys::napi_ref>,
    /// `Buffer.prototype`, taken with `alloc_unsafe`.
    buffer_proto: Cell<sys::napi_ref>,
    /// Receivers the fast-path methods verified recently (see `cached_wrap`).
    recv_cache: Cell<[RecvEntry; RECV_CACHE]>,
    recv_next: Cell<usize>,
    /// Lookups and misses of the current window (see `cached_wrap`), and
    /// calls left to bypass the cache.
    recv_misses: Cell<u32>,
    recv_skip: Cell<u32>,
}

const RECV_CACHE: usize = 8;
const RECV_WINDOW: u32 = 64;
const RECV_BYPASS: u32 = 4096;

/// A receiver whose type tag and wrapped pointer were checked: a weak
/// reference to it, its class's tag, and the pointer napi-rs wrapped in it.
#[derive(Clone, Copy)]
struct RecvEntry {
    tag: (u64, u64),
    r: sys::napi_ref,
    wrapped: *mut c_void,
}

const NO_ENTRY: RecvEntry = RecvEntry {
    tag: (0, 0),
    r: ptr::null_mut(),
    wrapped: ptr::null_mut(),
};

impl EnvState {
    /// The state of `env`, created on first use.
    pub fn get(env: sys::napi_env) -> napi::Result<Rc<EnvState>> {
        let mut data = ptr::null_mut();
        // SAFETY: env is the live env of the current call.
        check(unsafe { sys::napi_get_instance_data(env, &mut data) })?;
        if !data.is_null() {
            // SAFETY: the only instance data this addon sets is a
            // Box<Rc<EnvState>> (below); it lives until the env's finalizer.
            let rc = unsafe { &*(data as *const Rc<EnvState>) };
            return Ok(rc.clone());
        }
        let state = Rc::new(Self::create(env)?);
        let boxed = Box::into_raw(Box::new(state.clone()));
        // SAFETY: boxed is a valid heap pointer, freed exactly once by
        // drop_instance_data when Node finalizes the env's instance data.
        let st = unsafe {
            sys::napi_set_instance_data(env, boxed.cast(), Some(drop_instance_data), ptr::null_mut())
        };
        if st != sys::Status::napi_ok {
            // SAFETY: Node did not take ownership; reclaim the box.
            drop(unsafe { Box::from_raw(boxed) });
            check(st)?;
        }
        if let Backend::Uv { .. } = state.backend {
            state.add_cleanup_hook()?;
        }
        Ok(state)
    }

    fn create(env: sys::napi_env) -> napi::Result<Self> {
        let backend = if is_bun(env)? {
            Backend::Thread
        } else {
            match uv::get() {
                Some(uv) => {
                    let mut loop_ = ptr::null_mut();
                    // SAFETY: env is live; this is *this* environment's loop
                    // (never uv_default_loop, which is the main thread's).
                    check(unsafe { sys::napi_get_uv_event_loop(env, &mut loop_) })?;
                    Backend::Uv {
                        uv,
                        loop_: loop_.cast(),
                    }
                }
                None => Backend::Thread,
            }
        };
        let mut resource = ptr::null_mut();
        // SAFETY: env is live; out-pointer valid.
        check(unsafe { sys::napi_create_object(env, &mut resource) })?;
        let name = crate::js::string(env, "linux-fd:wait")?;
        let mut async_ctx = ptr::null_mut();
        // SAFETY: env is live, resource is an object and name a string of this env.
        check(unsafe { sys::napi_async_init(env, resource, name, &mut async_ctx) })?;
        Ok(Self {
            env,
            backend,
            async_ctx: Cell::new(async_ctx),
            live: RefCell::new(HashMap::new()),
            next_id: Cell::new(1),
            pending_closes: Cell::new(0),
            tearing_down: Cell::new(false),
            hook: Cell::new(ptr::null_mut()),
            hook_arg: Cell::new(ptr::null()),
            alloc_unsafe: Cell::new(ptr::null_mut()),
            buffer_proto: Cell::new(ptr::null_mut()),
            recv_cache: Cell::new([NO_ENTRY; RECV_CACHE]),
            recv_next: Cell::new(0),
            recv_misses: Cell::new(0),
            recv_skip: Cell::new(0),
        })
    }

    fn add_cleanup_hook(self: &Rc<Self>) -> napi::Result<()> {
        // The hook owns one strong count, released when the hook is removed.
        let arg = Rc::into_raw(self.clone());
        let mut handle = ptr::null_mut();
        // SAFETY: env is live; arg stays valid until on_teardown's removal
        // path releases it.
        let st = unsafe {
            sys::napi_add_async_cleanup_hook(self.env, Some(on_teardown), arg as *mut c_void, &mut handle)
        };
        if st != sys::Status::napi_ok {
            // SAFETY: arg came from Rc::into_raw just above and was not taken.
            drop(unsafe { Rc::from_raw(arg) });
            return check(st);
        }
        self.hook.set(handle);
        self.hook_arg.set(arg);
        Ok(())
    }

    /// `Buffer.allocUnsafe` and `Buffer.prototype`, looked up once per
    /// environment and held by references (freed at teardown).
    pub fn alloc_unsafe(&self) -> napi::Result<(sys::napi_value, sys::napi_value)> {
        let (f, p) = (self.alloc_unsafe.get(), self.buffer_proto.get());
        if !f.is_null() && !p.is_null() {
            return Ok((crate::js::deref(self.env, f)?, crate::js::deref(self.env, p)?));
        }
        let buffer = crate::js::global(self.env, c"Buffer")?;
        let f = buffer.get(c"allocUnsafe")?;
        let p = buffer.get(c"prototype")?;
        if f.type_of()? != napi::ValueType::Function || p.type_of()? != napi::ValueType::Object {
            return Err(napi::Error::from_reason("Buffer.allocUnsafe is not a function"));
        }
        if !self.tearing_down.get() {
            self.alloc_unsafe.set(crate::js::reference(self.env, f.raw)?);
            self.buffer_proto.set(crate::js::reference(self.env, p.raw)?);
        }
        Ok((f.raw, p.raw))
    }

    /// The pointer napi-rs wrapped in `this`, if `this` is one of the last
    /// few receivers of class `tag` that [`EnvState::remember_wrap`] saw.
    ///
    /// `napi_check_object_type_tag` and `napi_unwrap` each look up a private
    /// property, about 800 instructions apiece (callgrind): 83% of the
    /// user-space work of a `release()`+`tryAcquire()` pair. An object
    /// keeps its tag and its wrap for life (napi-rs never removes a wrap), so
    /// a receiver that is *the same object* (`napi_strict_equals` against a
    /// weak reference that still resolves) needs neither again.
    ///
    /// A workload that cycles through more receivers than the cache holds
    /// would miss every time and pay for the scan and a reference churn on
    /// top of the checks (9 semaphores round-robin: 1,096 ns a call against
    /// 661 ns uncached, found by review). So when over a quarter of a
    /// window of `RECV_WINDOW` lookups missed, the cache stands aside for
    /// `RECV_BYPASS` calls, then tries again.
    pub fn cached_wrap(&self, tag: &sys::napi_type_tag, this: sys::napi_value) -> Option<*mut c_void> {
        let skip = self.recv_skip.get();
        if skip > 0 {
            self.recv_skip.set(skip - 1);
            return None;
        }
        let found = self.scan_wrap(tag, this);
        // Counts in windows of RECV_WINDOW lookups: misses in the low 16
        // bits, lookups in the high 16.
        let w = self.recv_misses.get() + (1 << 16) + u32::from(found.is_none());
        if w >> 16 >= RECV_WINDOW {
            self.recv_misses.set(0);
            if (w & 0xffff) > RECV_WINDOW / 4 {
                self.recv_skip.set(RECV_BYPASS);
            }
        } else {
            self.recv_misses.set(w);
        }
        found
    }

    fn scan_wrap(&self, tag: &sys::napi_type_tag, this: sys::napi_value) -> Option<*mut c_void> {
        let key = (tag.lower, tag.upper);
        for e in self.recv_cache.get() {
            if e.r.is_null() || e.tag != key {
                continue;
            }
            let mut v = ptr::null_mut();
            // SAFETY: env is live; e.r is a reference of this env, still
            // undeleted (we delete only entries we replace).
            if unsafe { sys::napi_get_reference_value(self.env, e.r, &mut v) } != sys::Status::napi_ok
                || v.is_null()
            {
                continue; // collected
            }
            let mut same = false;
            // SAFETY: env is live; both values belong to it.
            unsafe { sys::napi_strict_equals(self.env, v, this, &mut same) };
            if same {
                return Some(e.wrapped);
            }
        }
        None
    }

    /// Records that `this` carries class `tag` and wraps `wrapped` (both just
    /// checked), replacing the oldest entry.
    pub fn remember_wrap(&self, tag: &sys::napi_type_tag, this: sys::napi_value, wrapped: *mut c_void) {
        if self.tearing_down.get() || self.recv_skip.get() > 0 {
            return; // the cache was (or is about to be) freed, or stands aside
        }
        let mut r = ptr::null_mut();
        // SAFETY: env is live; a weak (count 0) reference does not keep `this` alive.
        if unsafe { sys::napi_create_reference(self.env, this, 0, &mut r) } != sys::Status::napi_ok {
            return;
        }
        let mut cache = self.recv_cache.get();
        let i = self.recv_next.get();
        let old = cache[i];
        if !old.r.is_null() {
            // SAFETY: old.r is a reference of this env that nothing else holds.
            unsafe { sys::napi_delete_reference(self.env, old.r) };
        }
        cache[i] = RecvEntry {
            tag: (tag.lower, tag.upper),
            r,
            wrapped,
        };
        self.recv_cache.set(cache);
        self.recv_next.set((i + 1) % RECV_CACHE);
    }

    /// The async context used for the callback scope of loop callbacks.
    /// Null once the environment's teardown has finished (`napi_open_callback_scope`
    /// then fails and callers run without a scope; nothing runs by then).
    pub fn async_ctx(&self) -> sys::napi_async_context {
        self.async_ctx.get()
    }

    /// Registers a waitable with a live poll handle; returns its key.
    pub fn register(&self, inner: Weak<RefCell<Inner>>) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        self.live.borrow_mut().insert(id, inner);
        id
    }

    /// Forgets a waitable whose handle is being closed.
    pub fn unregister(&self, id: u64) {
        if let Ok(mut live) = self.live.try_borrow_mut() {
            live.remove(&id);
        }
    }

    /// Counts a `uv_close` whose callback has not run yet.
    pub fn close_started(&self) {
        self.pending_closes.set(self.pending_closes.get() + 1);
    }

    /// Counts a finished `uv_close`; the last one during teardown removes the hook.
    pub fn close_finished(&self) {
        self.pending_closes
            .set(self.pending_closes.get().saturating_sub(1));
        self.maybe_finish_teardown();
    }

    fn maybe_finish_teardown(&self) {
        if !self.tearing_down.get() || self.pending_closes.get() != 0 {
            return;
        }
        let handle = self.hook.replace(ptr::null_mut());
        if handle.is_null() {
            return;
        }
        // Every poll handle is closed and no callback of ours can run any
        // more: free the async context (valgrind found the 40 bytes of each
        // environment's context never freed without this). The env is still
        // alive until the hook is removed, just below.
        // Our references too: Node does not free references at teardown
        // (valgrind: one lost block per reference per environment).
        for e in self.recv_cache.replace([NO_ENTRY; RECV_CACHE]) {
            if !e.r.is_null() {
                // SAFETY: e.r is a reference of this env, deleted once (the
                // cache was emptied just above).
                unsafe { sys::napi_delete_reference(self.env, e.r) };
            }
        }
        for f in [
            self.alloc_unsafe.replace(ptr::null_mut()),
            self.buffer_proto.replace(ptr::null_mut()),
        ] {
            if !f.is_null() {
                // SAFETY: f is a reference of this env, deleted once (nulled just above).
                unsafe { sys::napi_delete_reference(self.env, f) };
            }
        }
        let ctx = self.async_ctx.replace(ptr::null_mut());
        if !ctx.is_null() {
            // SAFETY: ctx came from napi_async_init on this env and is
            // destroyed once (replaced by null just above).
            unsafe { sys::napi_async_destroy(self.env, ctx) };
        }
        // SAFETY: handle is the one Node gave for our hook and is removed once
        // (replaced by null just above).
        unsafe { sys::napi_remove_async_cleanup_hook(handle) };
        let arg = self.hook_arg.replace(ptr::null());
        if !arg.is_null() {
            // SAFETY: arg is the Rc::into_raw of add_cleanup_hook. Other
            // strong counts (the caller's) keep `self` alive past this drop.
            drop(unsafe { Rc::from_raw(arg) });
        }
    }
}

/// Finalizer of the env's instance data.
///
/// # Safety
/// Only Node calls it, once, when the env is torn down, with the pointer
/// given to `napi_set_instance_data`.
unsafe extern "C" fn drop_instance_data(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: data is the Box<Rc<EnvState>> set in EnvState::get, and Node
    // calls this finalizer once, after which it hands the pointer out no more.
    drop(unsafe { Box::from_raw(data as *mut Rc<EnvState>) });
}

/// The env's async cleanup hook.
///
/// # Safety
/// Only Node calls it, once, with the `arg` given to
/// `napi_add_async_cleanup_hook` in `add_cleanup_hook`.
unsafe extern "C" fn on_teardown(handle: sys::napi_async_cleanup_hook_handle, arg: *mut c_void) {
    // SAFETY: arg is the hook's own strong count (add_cleanup_hook); it is
    // released only in maybe_finish_teardown, so it is valid here. Take a
    // clone so `state` outlives that release.
    let state = unsafe {
        Rc::increment_strong_count(arg as *const EnvState);
        Rc::from_raw(arg as *const EnvState)
    };
    state.hook.set(handle);
    state.tearing_down.set(true);
    let live: Vec<_> = state.live.borrow_mut().drain().map(|(_, w)| w).collect();
    for weak in live {
        if let Some(inner) = weak.upgrade() {
            let pin = Inner::teardown(&inner);
            drop(pin);
        }
    }
    state.maybe_finish_teardown();
}

/// Bun sets `process.versions.bun`. Its `uv_*` exports abort, so it gets no uv waiter.
fn is_bun(env: sys::napi_env) -> napi::Result<bool> {
    let mut global = ptr::null_mut();
    // SAFETY: env is the live env of the call that got here, on its own
    // thread; global is a valid out-pointer.
    check(unsafe { sys::napi_get_global(env, &mut global) })?;
    let global = JsValue { env, raw: global };
    let Ok(process) = global.get(c"process") else {
        return Ok(false);
    };
    if process.type_of()? != napi::ValueType::Object {
        return Ok(false);
    }
    let Ok(versions) = process.get(c"versions") else {
        return Ok(false);
    };
    if versions.type_of()? != napi::ValueType::Object {
        return Ok(false);
    }
    let Ok(bun) = versions.get(c"bun") else {
        return Ok(false);
    };
    Ok(bun.type_of()? == napi::ValueType::String)
}
