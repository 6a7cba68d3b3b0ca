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
    Ok(())
}
