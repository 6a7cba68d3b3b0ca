//! Hand-registered fast paths for the hottest low-level calls.
//!
//! napi-rs 3.16's generated wrappers cost about 300 ns per call here (borrow
//! scopes, layered conversions; see docs/notes-fds.md), as much as the
//! syscalls themselves. These raw Node-API callbacks do the same argument
//! checks and error mapping (`args`, `error`) with one `napi_get_cb_info`, and
//! replace the generated functions on `exports` at module load. The
//! `#[napi]` declarations stay, so `index.d.ts` and its JSDoc are unchanged.

use std::ptr;

use linux_fd_core::eventfd::{self as efd, EVENTFD_MAX};
use linux_fd_core::lock;
use napi::bindgen_prelude::ToNapiValue;
use napi::sys;
use napi_derive::napi;

use crate::args;
use crate::error;
use crate::eventfd::{EventCounter, Semaphore};
use crate::js::{BigU64, JsValue};
use crate::lock::FileLock;
use crate::memfd::MemFile;
use crate::timerfd::Timer;

/// Reads up to N arguments; missing ones are `undefined`.
///
/// # Safety
/// `env`/`info` must be the ones Node passed to the running callback.
unsafe fn argv<const N: usize>(env: sys::napi_env, info: sys::napi_callback_info) -> [JsValue; N] {
    let mut argc = N;
    let mut raw = [ptr::null_mut(); N];
    // SAFETY: raw has room for N values; Node fills missing ones with undefined.
    unsafe {
        sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            raw.as_mut_ptr(),
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    raw.map(|r| JsValue { env, raw: r })
}

fn undefined(env: sys::napi_env) -> sys::napi_value {
    crate::js::undefined(env).unwrap_or(ptr::null_mut())
}

/// # Safety
/// Only Node calls it, as the `napi_callback` installed by `install`, with
/// that call's `env` and `info`.
unsafe extern "C" fn eventfd_read(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: called by Node with this callback's env and info.
    let [fd] = unsafe { argv::<1>(env, info) };
    let Ok(raw) = args::fd(fd) else {
        return ptr::null_mut();
    };
    match efd::eventfd_read(args::borrow(raw)) {
        // SAFETY: env is live on this thread.
        Ok(v) => unsafe { BigU64::to_napi_value(env, BigU64(v)) }.unwrap_or(ptr::null_mut()),
        Err(e) => {
            error::sys(env, e);
            ptr::null_mut()
        }
    }
}

/// # Safety
/// Only Node calls it, as the `napi_callback` installed by `install`, with
/// that call's `env` and `info`.
unsafe extern "C" fn eventfd_write(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: called by Node with this callback's env and info.
    let [fd, value] = unsafe { argv::<2>(env, info) };
    let Ok(raw) = args::fd(fd) else {
        return ptr::null_mut();
    };
    let Ok(value) = args::u64_in(value, "value", EVENTFD_MAX) else {
        return ptr::null_mut();
    };
    match efd::eventfd_write(args::borrow(raw), value) {
        Ok(()) => undefined(env),
        Err(e) => {
            error::sys(env, e);
            ptr::null_mut()
        }
    }
}

/// # Safety
/// Only Node calls it, as the `napi_callback` installed by `install`, with
/// that call's `env` and `info`.
unsafe extern "C" fn flock(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: called by Node with this callback's env and info.
    let [fd, op] = unsafe { argv::<2>(env, info) };
    let Ok(raw) = args::fd(fd) else {
        return ptr::null_mut();
    };
    let Ok(op) = args::int(op, "operation", i32::MIN as i64, i32::MAX as i64, None) else {
        return ptr::null_mut();
    };
    match lock::flock(args::borrow(raw), op as i32) {
        Ok(()) => undefined(env),
        Err(e) => {
            error::sys(env, e);
            ptr::null_mut()
        }
    }
}

/// A raw method on a class prototype that calls the class's own `#[napi]`
/// method, skipping napi-rs's per-call machinery but not its safety: the
/// receiver must carry the class's napi-rs type tag (so a spoofed
/// `Semaphore.prototype.release.call(otherObject)` is a TypeError, never a
/// type-confused pointer), and the methods take `&self`. They call into JS
/// only on the cold path where the object finds its fd closed outside the
/// package (`Inner::lose` settles pending waits and removes their abort
/// listeners, as `close()` does); the `Inner` is a `RefCell` whose borrows
/// end before that, and `this` keeps the object alive meanwhile.
const NULL_VALUE: sys::napi_value = ptr::null_mut();

macro_rules! fast_method {
    ($name:ident, $class:ty, $n:literal, |$this:ident, $env:ident, $args:ident| $body:expr) => {
        fast_method!(@cache true, $name, $class, $n, |$this, $env, $args| $body);
    };
    // A getter that cannot fail: `Ok(this.method())`.
    (get $name:ident, $class:ty, $method:ident) => {
        fast_method!($name, $class, 0, |c, _env, _a| Ok::<_, napi::Error>(c.$method()));
    };
    // For methods called once per object (close): a cache entry would only
    // cost a reference created and deleted.
    (once $name:ident, $class:ty, $n:literal, |$this:ident, $env:ident, $args:ident| $body:expr) => {
        fast_method!(@cache false, $name, $class, $n, |$this, $env, $args| $body);
    };
    (@cache $cache:literal, $name:ident, $class:ty, $n:literal, |$this:ident, $env:ident, $args:ident| $body:expr) => {
        /// # Safety
        /// Only Node calls it, as the `napi_callback` installed on the class
        /// prototype by `install`, with that call's `env` and `info`.
        unsafe extern "C" fn $name(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
            let mut argc = $n;
            let mut raw: [sys::napi_value; $n] = [NULL_VALUE; $n];
            let mut this = ptr::null_mut();
            // SAFETY: called by Node with this callback's env and info; raw has room for $n values.
            unsafe {
                sys::napi_get_cb_info(
                    env,
                    info,
                    &mut argc,
                    raw.as_mut_ptr(),
                    &mut this,
                    ptr::null_mut(),
                )
            };
            let tag = <$class as napi::bindgen_prelude::TypeTag>::type_tag();
            let state = if $cache { crate::env::EnvState::get(env).ok() } else { None };
            let mut wrapped = state
                .as_ref()
                .and_then(|s| s.cached_wrap(&tag, this))
                .unwrap_or(ptr::null_mut());
            if wrapped.is_null() {
                let mut tagged = false;
                // SAFETY: env/this are live; a non-object gives an error status and tagged stays false.
                unsafe { sys::napi_check_object_type_tag(env, this, &tag, &mut tagged) };
                let unwrapped = tagged && {
                    // SAFETY: env/this are live (Node's, for this call) and wrapped is a
                    // valid out-pointer; napi_unwrap fails on an object that wraps nothing.
                    let st = unsafe { sys::napi_unwrap(env, this, &mut wrapped) };
                    st == sys::Status::napi_ok
                };
                if !unwrapped {
                    wrapped = ptr::null_mut();
                }
                if let (Some(s), false) = (&state, wrapped.is_null()) {
                    s.remember_wrap(&tag, this, wrapped);
                }
            }
            if wrapped.is_null() {
                error::throw_new(
                    env,
                    error::Kind::TypeError,
                    "ERR_INVALID_THIS",
                    concat!("Value of \"this\" must be of type ", stringify!($class)),
                );
                return ptr::null_mut();
            }
            // SAFETY: the type tag (checked now, or when this very object was
            // cached) proves napi-rs wrapped a Box<$class> here, alive while
            // `this` is; only shared (&self) access happens.
            let $this: &$class = unsafe { &*(wrapped as *const $class) };
            let $env = napi::Env::from_raw(env);
            let $args = raw.map(|r| JsValue { env, raw: r });
            match $body {
                // SAFETY: env is live on this thread.
                Ok(v) => unsafe { ToNapiValue::to_napi_value(env, v) }.unwrap_or(ptr::null_mut()),
                Err(e) => {
                    // SAFETY: env is live; a PendingException error leaves the thrown value alone.
                    unsafe { napi::JsError::from(e).throw_into(env) };
                    ptr::null_mut()
                }
            }
        }
    };
}

fast_method!(counter_add, EventCounter, 1, |c, env, a| c.add(env, a[0]));
fast_method!(counter_try_take, EventCounter, 0, |c, env, _a| c.try_take(env));
fast_method!(sem_release, Semaphore, 1, |s, env, a| s.release(env, a[0]));
fast_method!(sem_try_acquire, Semaphore, 0, |s, env, _a| s.try_acquire(env));
fast_method!(once counter_close, EventCounter, 0, |c, env, _a| {
    c.close(env);
    Ok::<_, napi::Error>(())
});
fast_method!(once sem_close, Semaphore, 0, |c, env, _a| {
    c.close(env);
    Ok::<_, napi::Error>(())
});
fast_method!(once timer_close, Timer, 0, |c, env, _a| {
    c.close(env);
    Ok::<_, napi::Error>(())
});

const METHODS: &[(&std::ffi::CStr, &std::ffi::CStr, Callback)] = &[
    (c"EventCounter", c"add", counter_add),
    (c"EventCounter", c"tryTake", counter_try_take),
    (c"Semaphore", c"release", sem_release),
    (c"Semaphore", c"tryAcquire", sem_try_acquire),
    (c"EventCounter", c"close", counter_close),
    (c"Semaphore", c"close", sem_close),
    (c"Timer", c"close", timer_close),
];

type Callback = unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value;

// Getters. napi-rs defines accessors without a receiver check of V8's, and
// its own unwrap failure throws `Error` with `code: 'InvalidArg'`, outside the
// package's error conventions (found by the hostile-input stress case:
// `Object.create(MemFile.prototype).size`). Each getter is replaced by a raw
// one that checks the type tag like the methods above and calls the same Rust
// getter directly, so a foreign receiver is `TypeError [ERR_INVALID_THIS]`
// and a real one costs less than napi-rs's own accessor.
fast_method!(get counter_fd, EventCounter, fd);
fast_method!(get counter_closed, EventCounter, closed);
fast_method!(get counter_pending, EventCounter, pending);
fast_method!(get sem_fd, Semaphore, fd);
fast_method!(get sem_closed, Semaphore, closed);
fast_method!(get sem_pending, Semaphore, pending);
fast_method!(get timer_fd, Timer, fd);
fast_method!(get timer_closed, Timer, closed);
fast_method!(get timer_pending, Timer, pending);
fast_method!(get timer_clock, Timer, clock);
fast_method!(get mem_fd, MemFile, fd);
fast_method!(get mem_name, MemFile, name);
fast_method!(get mem_path, MemFile, path);
fast_method!(get mem_closed, MemFile, closed);
fast_method!(mem_size, MemFile, 0, |c, env, _a| c.size(env));
fast_method!(mem_seals, MemFile, 0, |c, env, _a| c.seals(env));
fast_method!(get mem_mappings, MemFile, mappings);
fast_method!(get lock_shared, FileLock, shared);
fast_method!(get lock_kind, FileLock, kind);
fast_method!(lock_range, FileLock, 0, |c, env, _a| c.range(env));
fast_method!(get lock_fd, FileLock, fd);
fast_method!(get lock_released, FileLock, released);

const GETTERS: &[(&std::ffi::CStr, &std::ffi::CStr, Callback)] = &[
    (c"EventCounter", c"fd", counter_fd),
    (c"EventCounter", c"closed", counter_closed),
    (c"EventCounter", c"pending", counter_pending),
    (c"Semaphore", c"fd", sem_fd),
    (c"Semaphore", c"closed", sem_closed),
    (c"Semaphore", c"pending", sem_pending),
    (c"Timer", c"fd", timer_fd),
    (c"Timer", c"closed", timer_closed),
    (c"Timer", c"pending", timer_pending),
    (c"Timer", c"clock", timer_clock),
    (c"MemFile", c"fd", mem_fd),
    (c"MemFile", c"name", mem_name),
    (c"MemFile", c"path", mem_path),
    (c"MemFile", c"closed", mem_closed),
    (c"MemFile", c"size", mem_size),
    (c"MemFile", c"seals", mem_seals),
    (c"MemFile", c"mappings", mem_mappings),
    (c"FileLock", c"shared", lock_shared),
    (c"FileLock", c"kind", lock_kind),
    (c"FileLock", c"range", lock_range),
    (c"FileLock", c"fd", lock_fd),
    (c"FileLock", c"released", lock_released),
];

/// A raw export that calls a `#[napi]` function of the binding with the
/// same arguments, skipping napi-rs's generated wrapper (its argument
/// conversions and `Either` handling): the function does its own checks.
macro_rules! fast_fn {
    ($name:ident, $n:literal, |$args:ident| $body:expr) => {
        /// # Safety
        /// Only Node calls it, as the `napi_callback` of the export made by
        /// `install`, with that call's `env` and `info`.
        unsafe extern "C" fn $name(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
            // SAFETY: called by Node with this callback's env and info.
            let $args = unsafe { argv::<$n>(env, info) };
            match $body {
                // SAFETY: env is live on this thread.
                Ok(v) => unsafe { ToNapiValue::to_napi_value(env, v) }.unwrap_or(ptr::null_mut()),
                Err(e) => {
                    // SAFETY: env is live; a PendingException error leaves the thrown value alone.
                    unsafe { napi::JsError::from(e).throw_into(env) };
                    ptr::null_mut()
                }
            }
        }
    };
}

fast_fn!(fcntl, 3, |a| crate::fcntl::fcntl(a[0], a[1], a[2]));
fast_fn!(ioctl, 4, |a| crate::fcntl::ioctl(a[0], a[1], a[2], a[3]));
fast_fn!(lockf, 5, |a| crate::fcntl::lockf(a[0], a[1], a[2], a[3], a[4]));
fast_fn!(get_pipe_size, 1, |a| crate::fcntl::get_pipe_size(a[0]));
fast_fn!(set_pipe_size, 2, |a| crate::fcntl::set_pipe_size(a[0], a[1]));
fast_fn!(eventfd, 2, |a| crate::eventfd::eventfd(a[0], a[1]));
fast_fn!(memfd_create, 2, |a| crate::memfd::memfd_create(a[0], a[1]));
fast_fn!(timerfd_create, 2, |a| crate::timerfd::timerfd_create(a[0], a[1]));
fast_fn!(timerfd_settime, 2, |a| crate::timerfd::timerfd_settime(
    a[0], a[1]
));
fast_fn!(timerfd_settime_ns, 2, |a| crate::timerfd::timerfd_settime_ns(
    a[0], a[1]
));
fast_fn!(timerfd_gettime, 1, |a| crate::timerfd::timerfd_gettime(a[0]));
fast_fn!(timerfd_gettime_ns, 1, |a| crate::timerfd::timerfd_gettime_ns(
    a[0]
));
fast_fn!(timerfd_read, 1, |a| crate::timerfd::timerfd_read(a[0]));
fast_fn!(try_lock_file, 2, |a| crate::lock::try_lock_file(a[0], a[1]));
fast_fn!(lock_file, 2, |a| crate::lock::lock_file(a[0], a[1]));

const FAST: &[(&std::ffi::CStr, Callback)] = &[
    (c"fcntl", fcntl),
    (c"ioctl", ioctl),
    (c"lockf", lockf),
    (c"getPipeSize", get_pipe_size),
    (c"setPipeSize", set_pipe_size),
    (c"eventfd", eventfd),
    (c"memfdCreate", memfd_create),
    (c"timerfdCreate", timerfd_create),
    (c"timerfdSettime", timerfd_settime),
    (c"timerfdSettimeNs", timerfd_settime_ns),
    (c"timerfdGettime", timerfd_gettime),
    (c"timerfdGettimeNs", timerfd_gettime_ns),
    (c"timerfdRead", timerfd_read),
    (c"tryLockFile", try_lock_file),
    (c"lockFile", lock_file),
    (c"eventfdRead", eventfd_read),
    (c"eventfdWrite", eventfd_write),
    (c"flock", flock),
];

/// A JS function named `name` that runs `cb`.
fn new_function(env: sys::napi_env, name: &std::ffi::CStr, cb: Callback) -> napi::Result<sys::napi_value> {
    let mut f = ptr::null_mut();
    // SAFETY: env is live (module init); name is NUL-terminated and its
    // length given; cb has the napi_callback ABI; f is a valid out-pointer.
    crate::js::check(unsafe {
        sys::napi_create_function(
            env,
            name.as_ptr(),
            name.to_bytes().len() as isize,
            Some(cb),
            ptr::null_mut(),
            &mut f,
        )
    })?;
    Ok(f)
}

#[napi(module_exports)]
pub fn install(exports: napi::bindgen_prelude::Object, env: napi::Env) -> napi::Result<()> {
    let env = env.raw();
    // SAFETY: Object's raw value is the exports object of this env.
    let exports = unsafe { napi::bindgen_prelude::Object::to_napi_value(env, exports) }?;
    for (name, cb) in FAST {
        // Each replaces a napi-rs export of the same name; a missing one
        // would mean the table is stale (a typo would add a new export).
        let existing = JsValue { env, raw: exports }.get(name)?;
        if existing.type_of()? != napi::ValueType::Function {
            return Err(napi::Error::from_reason(format!(
                "fast.rs: no export {name:?} to replace"
            )));
        }
        crate::js::set(env, exports, name, new_function(env, name, *cb)?)?;
    }
    let exports_v = JsValue { env, raw: exports };
    for (class, method, cb) in METHODS {
        let proto = exports_v.get(class)?.get(c"prototype")?;
        crate::js::set(env, proto.raw, method, new_function(env, method, *cb)?)?;
    }
    for (class, name, cb) in GETTERS {
        let proto = exports_v.get(class)?.get(c"prototype")?;
        // A getter napi-rs did not define would mean the table is stale.
        let had = crate::js::call_method(
            env,
            proto.raw,
            c"hasOwnProperty",
            &[crate::js::string(env, name.to_str().unwrap_or(""))?],
        )?;
        let had = JsValue { env, raw: had };
        if had.as_bool() != Some(true) {
            return Err(napi::Error::from_reason(format!(
                "fast.rs: {class:?} has no getter {name:?}"
            )));
        }
        let prop = sys::napi_property_descriptor {
            utf8name: name.as_ptr(),
            name: ptr::null_mut(),
            method: None,
            getter: Some(*cb),
            setter: None,
            value: ptr::null_mut(),
            attributes: sys::PropertyAttributes::enumerable | sys::PropertyAttributes::configurable,
            data: ptr::null_mut(),
        };
        // SAFETY: env is live; prop is one valid descriptor with a static name.
        crate::js::check(unsafe { sys::napi_define_properties(env, proto.raw, 1, &prop) })?;
    }
    Ok(())
}
