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
/// type-confused pointer), and the methods take `&self` and never call into
/// JS, so no napi-rs borrow can conflict.
const NULL_VALUE: sys::napi_value = ptr::null_mut();

macro_rules! fast_method {
    ($name:ident, $class:ty, $n:literal, |$this:ident, $env:ident, $args:ident| $body:expr) => {
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
            let mut tagged = false;
            // SAFETY: env/this are live; a non-object gives an error status and tagged stays false.
            unsafe { sys::napi_check_object_type_tag(env, this, &tag, &mut tagged) };
            let mut wrapped = ptr::null_mut();
            let unwrapped = tagged && {
                // SAFETY: env/this are live (Node's, for this call) and wrapped is a
                // valid out-pointer; napi_unwrap fails on an object that wraps nothing.
                let st = unsafe { sys::napi_unwrap(env, this, &mut wrapped) };
                st == sys::Status::napi_ok
            };
            if !unwrapped || wrapped.is_null() {
                error::throw_new(
                    env,
                    error::Kind::TypeError,
                    "ERR_INVALID_THIS",
                    concat!("Value of \"this\" must be of type ", stringify!($class)),
                );
                return ptr::null_mut();
            }
            // SAFETY: the type tag proves napi-rs wrapped a Box<$class> here,
            // alive while `this` is; only shared (&self) access happens.
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

const METHODS: &[(&std::ffi::CStr, &std::ffi::CStr, Callback)] = &[
    (c"EventCounter", c"add", counter_add),
    (c"EventCounter", c"tryTake", counter_try_take),
    (c"Semaphore", c"release", sem_release),
    (c"Semaphore", c"tryAcquire", sem_try_acquire),
];

type Callback = unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value;

const FAST: &[(&std::ffi::CStr, Callback)] = &[
    (c"eventfdRead", eventfd_read),
    (c"eventfdWrite", eventfd_write),
    (c"flock", flock),
];

#[napi(module_exports)]
pub fn install(exports: napi::bindgen_prelude::Object, env: napi::Env) -> napi::Result<()> {
    let env = env.raw();
    // SAFETY: Object's raw value is the exports object of this env.
    let exports = unsafe { napi::bindgen_prelude::Object::to_napi_value(env, exports) }?;
    for (name, cb) in FAST {
        let mut f = ptr::null_mut();
        // SAFETY: env is live; name is NUL-terminated; cb has the napi_callback ABI.
        crate::js::check(unsafe {
            sys::napi_create_function(
                env,
                name.as_ptr(),
                name.to_bytes().len() as isize,
                Some(*cb),
                ptr::null_mut(),
                &mut f,
            )
        })?;
        crate::js::set(env, exports, name, f)?;
    }
    let exports_v = JsValue { env, raw: exports };
    for (class, method, cb) in METHODS {
        let proto = exports_v.get(class)?.get(c"prototype")?;
        let mut f = ptr::null_mut();
        // SAFETY: as above: env is live; method is NUL-terminated; cb has the
        // napi_callback ABI.
        crate::js::check(unsafe {
            sys::napi_create_function(
                env,
                method.as_ptr(),
                method.to_bytes().len() as isize,
                Some(*cb),
                ptr::null_mut(),
                &mut f,
            )
        })?;
        crate::js::set(env, proto.raw, method, f)?;
    }
    Ok(())
}
