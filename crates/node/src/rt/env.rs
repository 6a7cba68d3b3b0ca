//! Per-environment state: which backend waits use, the async context for
//! calling into JS from loop callbacks, and the registry of live watches that
//! the environment's teardown must close.
//!
//! One `EnvState` exists per Node environment (the main thread and each
//! worker), kept with `napi_set_instance_data`, never in a process-global: a
//! global registry would let one worker's teardown close another worker's
//! handles from the wrong thread.
//!
//! Teardown (docs/design.md, "Worker teardown"): an *async* cleanup hook
//! `uv_close`s every live handle and removes itself only in the last close
//! callback. A sync hook would let Node unload the addon before libuv runs the
//! close callbacks (a SIGSEGV when the only worker that loaded the addon
//! exits), and musl builds do not get napi-build's `-z nodelete` to hide that.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::{c_void, CStr};
use std::ptr;
use std::rc::{Rc, Weak};

use napi::sys;

use super::uv::{self, Uv};
use super::watch::WatchInner;

/// Turns a Node-API status into a `Result`.
pub fn check(st: sys::napi_status) -> napi::Result<()> {
    if st == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::new(napi::Status::from(st), "Node-API call failed"))
    }
}

/// A JS string of `env`.
pub fn string(env: sys::napi_env, s: &str) -> napi::Result<sys::napi_value> {
    let mut v = ptr::null_mut();
    // SAFETY: env is live; the pointer and length describe `s`'s UTF-8 bytes.
    check(unsafe { sys::napi_create_string_utf8(env, s.as_ptr().cast(), s.len() as isize, &mut v) })?;
    Ok(v)
}

/// `napi_create_threadsafe_function` named `name`, with no JS function, an
/// unbounded queue and one thread count: `call_js` runs on the JS thread
/// with `context`, and `finalize` once, when Node-API destroys the function,
/// with `finalize_data`. On an error the caller still owns both pointers.
/// Used by the job mailbox (`job.rs`) and the helper threads (`thread.rs`).
///
/// # Safety
/// `env` must be live, on its JS thread; `call_js` and `finalize` must
/// accept the pointers given with them.
pub unsafe fn threadsafe_function(
    env: sys::napi_env,
    name: &str,
    context: *mut c_void,
    finalize_data: *mut c_void,
    finalize: sys::napi_finalize,
    call_js: sys::napi_threadsafe_function_call_js,
) -> napi::Result<sys::napi_threadsafe_function> {
    let name = string(env, name)?;
    let mut tsfn = ptr::null_mut();
    // SAFETY: env is live (caller's contract); Node-API hands context and
    // finalize_data only to call_js and finalize, which accept them.
    check(unsafe {
        sys::napi_create_threadsafe_function(
            env,
            ptr::null_mut(),
            ptr::null_mut(),
            name,
            0,
            1,
            finalize_data,
            finalize,
            context,
            call_js,
            &mut tsfn,
        )
    })?;
    Ok(tsfn)
}

/// How waits are driven in this environment.
pub enum Backend {
    /// Node: a `uv_poll_t` on the environment's own loop.
    Uv { uv: &'static Uv, loop_: *mut uv::Loop },
    /// Runtimes whose `uv_*` functions must not be called (Bun, Deno): a helper
    /// thread per watched fd and a threadsafe function (`thread.rs`).
    Thread,
}

/// State of one Node environment. Only touched on that environment's thread.
pub struct EnvState {
    pub env: sys::napi_env,
    pub backend: Backend,
    live: RefCell<HashMap<u64, Weak<RefCell<WatchInner>>>>,
    next_id: Cell<u64>,
    pending_closes: Cell<usize>,
    tearing_down: Cell<bool>,
    hook: Cell<sys::napi_async_cleanup_hook_handle>,
    hook_arg: Cell<*const EnvState>,
}

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
        match state.backend {
            Backend::Uv { .. } => state.add_cleanup_hook()?,
            Backend::Thread => state.add_sync_cleanup_hook()?,
        }
        Ok(state)
    }

    fn create(env: sys::napi_env) -> napi::Result<Self> {
        let backend = match real_libuv(env) {
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
        };
        Ok(Self {
            env,
            backend,
            live: RefCell::new(HashMap::new()),
            next_id: Cell::new(1),
            pending_closes: Cell::new(0),
            tearing_down: Cell::new(false),
            hook: Cell::new(ptr::null_mut()),
            hook_arg: Cell::new(ptr::null()),
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

    /// The thread backend's teardown: a sync cleanup hook that stops every
    /// live watch's helper thread, making no Node-API call (Deno cannot run
    /// one there, and never finalizes the threadsafe functions the helpers
    /// rely on otherwise: a terminated worker left a thread and 4 fds per
    /// pending wait). The hook owns one strong count, released when it runs.
    /// (`rt/job.rs` has its own hook for lock jobs.)
    fn add_sync_cleanup_hook(self: &Rc<Self>) -> napi::Result<()> {
        let arg = Rc::into_raw(self.clone());
        // SAFETY: env is live; arg stays valid until on_sync_teardown
        // reclaims it, once.
        let st =
            unsafe { sys::napi_add_env_cleanup_hook(self.env, Some(on_sync_teardown), arg as *mut c_void) };
        if st != sys::Status::napi_ok {
            // SAFETY: arg came from Rc::into_raw just above and was not taken.
            drop(unsafe { Rc::from_raw(arg) });
            return check(st);
        }
        Ok(())
    }

    /// At teardown (either backend's hook): marks it, and releases every
    /// live watch without a Node-API call.
    fn release_all(&self) {
        self.tearing_down.set(true);
        let live: Vec<_> = self.live.borrow_mut().drain().map(|(_, w)| w).collect();
        for weak in live {
            if let Some(inner) = weak.upgrade() {
                WatchInner::release(&inner, false);
            }
        }
    }

    /// Whether the environment is being torn down (no JS may run).
    pub fn tearing_down(&self) -> bool {
        self.tearing_down.get()
    }

    /// Registers a watch with a live poll handle; returns its key.
    pub fn register(&self, inner: Weak<RefCell<WatchInner>>) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        self.live.borrow_mut().insert(id, inner);
        id
    }

    /// Forgets a watch whose handle is being closed.
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
        // more. The env is still alive until the hook is removed, just below:
        // Node requires the hook to remove itself to say it is done. (Deno
        // frees the handle itself once the hook returns, so removing it there
        // was a double free; Deno now gets the thread backend, and no hook.)
        // SAFETY: handle is the one Node gave for our hook and is removed
        // once (replaced by null just above).
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
    state.release_all();
    state.maybe_finish_teardown();
}

/// The thread backend's sync env cleanup hook (`add_sync_cleanup_hook`).
///
/// # Safety
/// Only the runtime calls it, once, with the `arg` given to
/// `napi_add_env_cleanup_hook`.
unsafe extern "C" fn on_sync_teardown(arg: *mut c_void) {
    // SAFETY: arg is the hook's own strong count, reclaimed once, here.
    let state = unsafe { Rc::from_raw(arg as *const EnvState) };
    state.release_all();
}

/// Under the thread backend (Bun, Deno), registers a sync env cleanup hook that drops the
/// handles `env` made and has not freed (`ext::drop_env`): Deno never
/// finalizes a dead worker's externals, so a lock that a terminated worker
/// held stayed held, and each of its objects kept its fd. Node finalizes
/// them at teardown itself. Called once per module load; each registration
/// has its own argument, so a second load in one environment is not a
/// duplicate hook (which Node refuses).
pub fn drop_handles_at_teardown(env: sys::napi_env) -> napi::Result<()> {
    if real_libuv(env).is_some() {
        return Ok(());
    }
    let arg = Box::into_raw(Box::new(env as usize));
    // SAFETY: env is live; arg is reclaimed once, by the hook, or below if
    // it was not registered.
    let st = unsafe { sys::napi_add_env_cleanup_hook(env, Some(on_handles_teardown), arg.cast()) };
    if st != sys::Status::napi_ok {
        // SAFETY: not registered, so still ours.
        drop(unsafe { Box::from_raw(arg) });
    }
    check(st)
}

/// The hook of `drop_handles_at_teardown` (no Node-API call).
///
/// # Safety
/// Only the runtime calls it, once, with the `Box<usize>` given at
/// registration.
unsafe extern "C" fn on_handles_teardown(arg: *mut c_void) {
    // SAFETY: arg is the hook's own box, reclaimed once, here.
    let env = *unsafe { Box::from_raw(arg.cast::<usize>()) };
    super::ext::drop_env(env as sys::napi_env);
}

/// Looks up `global[a][b]…`, or `None` when any step is missing.
fn global_path(env: sys::napi_env, path: &[&CStr]) -> Option<sys::napi_value> {
    let mut v = ptr::null_mut();
    // SAFETY: env is the live env of the current call; out-pointer valid.
    if unsafe { sys::napi_get_global(env, &mut v) } != sys::Status::napi_ok {
        return None;
    }
    for key in path {
        let mut t = 0;
        // SAFETY: v is a value of env.
        if unsafe { sys::napi_typeof(env, v, &mut t) } != sys::Status::napi_ok
            || t != sys::ValueType::napi_object
        {
            return None;
        }
        let mut next = ptr::null_mut();
        // SAFETY: v is an object of env; key is NUL-terminated.
        if unsafe { sys::napi_get_named_property(env, v, key.as_ptr(), &mut next) } != sys::Status::napi_ok {
            return None;
        }
        v = next;
    }
    Some(v)
}

/// Node's libuv, or `None` in a runtime whose `uv_*` functions must not be
/// called: Bun's abort, and Deno's (2.9) are not libuv's (its poll reports
/// one event per start, and its `uv_close` frees the handle while an event
/// for it may still be queued: docs/platforms.md, "Deno"). Both are known by
/// `process.versions`, which a program can change, so Deno is also known
/// by its shim's missing `uv_backend_fd` (`uv::get` returns `None`): with
/// `process.versions.deno` deleted, the shim's polls crashed the process.
fn real_libuv(env: sys::napi_env) -> Option<&'static uv::Uv> {
    if runtime_is(env, c"bun") || runtime_is(env, c"deno") {
        return None;
    }
    uv::get()
}

/// Whether `process.versions[name]` is a string: Bun sets `bun`, Deno `deno`.
fn runtime_is(env: sys::napi_env, name: &CStr) -> bool {
    let Some(v) = global_path(env, &[c"process", c"versions", name]) else {
        return false;
    };
    let mut t = 0;
    // SAFETY: v is a value of env.
    let st = unsafe { sys::napi_typeof(env, v, &mut t) };
    st == sys::Status::napi_ok && t == sys::ValueType::napi_string
}
