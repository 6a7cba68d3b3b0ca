//! Raw Node-API functions for the few measured hot paths (issue 11, item 2;
//! docs/design.md, "Hot paths").
//!
//! napi-rs's generated wrapper opens a "native borrow scope" on every call of
//! a function that takes arguments, even when every argument is an `i32` or
//! an `f64`: an `Arc<Mutex<…>>` allocation, a `Vec` push and TLS lookups,
//! about 625 user-space instructions a call (napi 3.16, measured with
//! callgrind; `docs/bench-floor.md`). On a call whose syscall costs ~500 ns
//! that is the largest cost above the kernel. The functions registered here
//! skip it: one `napi_get_cb_info` into a stack array, the argument reads, the
//! Rust function, and the result value.
//!
//! Each hot function is written once, as a plain Rust function in its own
//! module (`eventfd::read`, `fcntl::flock`, …), and `lib.rs` registers it
//! here under its JS name when the module loads. A trampoline per signature
//! gets that function's pointer back as the callback's `data`, so there is
//! no generated twin, nothing re-registered over a generated export, and no
//! name table to keep in sync. Their typings are hand-written in
//! `crates/node/raw.d.ts`, which `napi build` puts at the head of
//! `binding.d.ts`.
//!
//! Like every binding function, these trust no caller for memory safety: an
//! argument of the wrong type (or a missing one) makes the call return
//! `-EINVAL` without touching the fd; the TypeScript layer checks arguments
//! and builds the user-facing errors before it calls.

use std::ffi::{c_void, CString};
use std::ptr;

use napi::sys;

/// A result of two u64s (a `[bigint, bigint]` in JS) or a negative errno.
pub type PairResult = Result<(u64, u64), i32>;

/// The signatures the trampolines know. Errors are negative errnos (the
/// binding's convention, `handle.rs`).
#[derive(Clone, Copy)]
pub enum Body {
    /// `(fd: number) => number`
    I32(fn(i32) -> i32),
    /// `(fd: number, arg: number) => number`, with `arg` an int32.
    I32I32(fn(i32, i32) -> i32),
    /// `(fd: number, value: number) => number`, with `value` any number.
    I32F64(fn(i32, f64) -> i32),
    /// `(fd: number) => bigint | number`: `Ok` becomes a bigint, `Err` a
    /// number (a negative errno).
    I32ToU64(fn(i32) -> Result<u64, i32>),
    /// `(fd: number, arg: number, bytes: Uint8Array) => number`: the bytes
    /// of a `Uint8Array` (a `Buffer`), borrowed for the call.
    I32I32Bytes(fn(i32, i32, &mut [u8]) -> i32),
    /// `(fd: number) => [bigint, bigint] | number`.
    I32ToPair(fn(i32) -> PairResult),
    /// `(fd: number, arg: number, a: bigint, b: bigint) => number`, each
    /// bigint taken as its low 64 bits.
    I32I32U64U64(fn(i32, i32, u64, u64) -> i32),
    /// `(fd: number, arg: number, a: bigint, b: bigint) => [bigint, bigint] | number`,
    /// each bigint taken as its low 64 bits.
    I32I32U64U64ToPair(fn(i32, i32, u64, u64) -> PairResult),
    /// A function that takes or makes a handle of one type (`rt/ext.rs`),
    /// with the trampoline made for that type: see [`handle_to_i32`],
    /// [`i64_bool_to_handle`] and [`i32_bool_bool_i64_i64_to_handle`].
    Handle(sys::napi_callback, *mut c_void),
}

/// The [`Body`] of `f`, a function of one handle argument of type `T`:
/// `(handle: ExternalObject<…>) => number`. A value that is not a live
/// handle of that type, made in this thread, is `-EINVAL`.
pub fn handle_to_i32<T: 'static>(f: fn(&T) -> i32) -> Body {
    Body::Handle(Some(tramp_handle_to_i32::<T>), f as *mut c_void)
}

/// The [`Body`] of `f`, which makes a handle of type `T`:
/// `(x: number, b: boolean) => ExternalObject<…> | number`, with `x` read
/// as int64 (as below). `Err` is a negative errno; a wrong argument type is
/// `-EINVAL`.
pub fn i64_bool_to_handle<T: 'static>(f: fn(i64, bool) -> Result<T, i32>) -> Body {
    Body::Handle(Some(tramp_i64_bool_to_handle::<T>), f as *mut c_void)
}

/// The [`Body`] of `f`, which makes a handle of type `T`:
/// `(fd: number, a: boolean, b: boolean, x: number, y: number) => ExternalObject<…> | number`,
/// with `x` and `y` read as int64 (`napi_get_value_int64`: truncated, NaN
/// and ±Infinity as 0, clamped to the int64 range). `Err` is a negative
/// errno; a wrong argument type is `-EINVAL`.
pub fn i32_bool_bool_i64_i64_to_handle<T: 'static>(
    f: fn(i32, bool, bool, i64, i64) -> Result<T, i32>,
) -> Body {
    Body::Handle(Some(tramp_i32_bool_bool_i64_i64_to_handle::<T>), f as *mut c_void)
}

/// Defines each `(name, body)` of `fns` as a property of `exports`, `name`
/// being the export name (camelCase, as napi-rs would have generated it).
/// Called once per environment, at module load.
///
/// # Safety
/// `env` and `exports` must be the live environment and exports object of
/// the module being loaded, on its JS thread.
pub unsafe fn register(
    env: sys::napi_env,
    exports: sys::napi_value,
    fns: &[(&str, Body)],
) -> napi::Result<()> {
    for &(js_name, body) in fns {
        let (cb, data): (sys::napi_callback, *mut c_void) = match body {
            Body::I32(g) => (Some(tramp_i32), g as *mut c_void),
            Body::I32I32(g) => (Some(tramp_i32_i32), g as *mut c_void),
            Body::I32F64(g) => (Some(tramp_i32_f64), g as *mut c_void),
            Body::I32ToU64(g) => (Some(tramp_i32_to_u64), g as *mut c_void),
            Body::I32I32Bytes(g) => (Some(tramp_i32_i32_bytes), g as *mut c_void),
            Body::I32ToPair(g) => (Some(tramp_i32_to_pair), g as *mut c_void),
            Body::I32I32U64U64(g) => (Some(tramp_i32_i32_u64_u64), g as *mut c_void),
            Body::I32I32U64U64ToPair(g) => (Some(tramp_i32_i32_u64_u64_to_pair), g as *mut c_void),
            Body::Handle(cb, g) => (cb, g),
        };
        let name =
            CString::new(js_name).map_err(|_| napi::Error::from_reason("raw function name has a NUL"))?;
        let mut func = ptr::null_mut();
        // SAFETY: env is live (the caller's contract); name is a valid C
        // string for the call; `data` is a `fn` pointer of the signature
        // `cb` reads it back as, and fn pointers live forever.
        check(unsafe {
            sys::napi_create_function(env, name.as_ptr(), js_name.len() as isize, cb, data, &mut func)
        })?;
        // SAFETY: exports and func are live values of this env.
        check(unsafe { sys::napi_set_named_property(env, exports, name.as_ptr(), func) })?;
    }
    Ok(())
}

fn check(status: sys::napi_status) -> napi::Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::from_reason(format!(
            "Node-API status {status} while registering a raw function"
        )))
    }
}

/// The call's first `N` arguments (missing ones are `undefined`, which
/// Node-API fills in) and its `data` pointer; `None` if the call failed.
///
/// # Safety
/// `env` and `info` must be the ones the callback was called with.
unsafe fn args<const N: usize>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> Option<([sys::napi_value; N], *mut c_void)> {
    let mut argc = N;
    let mut argv = [ptr::null_mut(); N];
    let mut data = ptr::null_mut();
    // SAFETY: argv has room for argc values; the other out-pointers are
    // valid locals; env/info come from the callback (caller's contract).
    let status = unsafe {
        sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            &mut data,
        )
    };
    (status == sys::Status::napi_ok && !data.is_null()).then_some((argv, data))
}

/// `value` as an int32 (JS `ToInt32` for numbers), or `None` for a
/// non-number.
///
/// # Safety
/// `value` must be a live value of `env`, on its JS thread.
unsafe fn int32(env: sys::napi_env, value: sys::napi_value) -> Option<i32> {
    let mut out = 0;
    // SAFETY: out is a valid local; the caller vouches for env and value.
    (unsafe { sys::napi_get_value_int32(env, value, &mut out) } == sys::Status::napi_ok).then_some(out)
}

/// `value` as a double, or `None` for a non-number.
///
/// # Safety
/// As for [`int32`].
unsafe fn double(env: sys::napi_env, value: sys::napi_value) -> Option<f64> {
    let mut out = 0.0;
    // SAFETY: out is a valid local; the caller vouches for env and value.
    (unsafe { sys::napi_get_value_double(env, value, &mut out) } == sys::Status::napi_ok).then_some(out)
}

/// `value` as an int64 (see [`i32_bool_bool_i64_i64_to_handle`]), or `None`
/// for a non-number.
///
/// # Safety
/// As for [`int32`].
unsafe fn int64(env: sys::napi_env, value: sys::napi_value) -> Option<i64> {
    let mut out = 0;
    // SAFETY: out is a valid local; the caller vouches for env and value.
    (unsafe { sys::napi_get_value_int64(env, value, &mut out) } == sys::Status::napi_ok).then_some(out)
}

/// `value` as a bool, or `None` for a non-boolean.
///
/// # Safety
/// As for [`int32`].
unsafe fn boolean(env: sys::napi_env, value: sys::napi_value) -> Option<bool> {
    let mut out = false;
    // SAFETY: out is a valid local; the caller vouches for env and value.
    (unsafe { sys::napi_get_value_bool(env, value, &mut out) } == sys::Status::napi_ok).then_some(out)
}

/// `value`'s low 64 bits, or `None` for a non-bigint.
///
/// # Safety
/// As for [`int32`].
unsafe fn u64_of_bigint(env: sys::napi_env, value: sys::napi_value) -> Option<u64> {
    let mut out = 0;
    let mut lossless = false;
    // SAFETY: out and lossless are valid locals; the caller vouches for env and value.
    (unsafe { sys::napi_get_value_bigint_uint64(env, value, &mut out, &mut lossless) }
        == sys::Status::napi_ok)
        .then_some(out)
}

/// The bytes of a `Uint8Array` (or `Uint8ClampedArray`), or `None` for any
/// other value. A detached or empty array is an empty slice.
///
/// # Safety
/// As for [`int32`]; the slice may be used only until the callback returns,
/// and no JS may run meanwhile (a synchronous syscall runs none).
unsafe fn bytes<'a>(env: sys::napi_env, value: sys::napi_value) -> Option<&'a mut [u8]> {
    let mut kind = 0;
    let mut len = 0usize;
    let mut data = ptr::null_mut();
    // SAFETY: the out-pointers are valid locals (the two left null are
    // optional); the caller vouches for env and value.
    let status = unsafe {
        sys::napi_get_typedarray_info(
            env,
            value,
            &mut kind,
            &mut len,
            &mut data,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    if status != sys::Status::napi_ok
        || (kind != sys::TypedarrayType::uint8_array && kind != sys::TypedarrayType::uint8_clamped_array)
    {
        return None;
    }
    if data.is_null() || len == 0 {
        return Some(&mut []);
    }
    // SAFETY: Node-API reports `len` bytes (1-byte elements) at `data`, the
    // live backing store of the array, which nothing frees or moves while
    // this callback runs (no JS runs in it).
    Some(unsafe { std::slice::from_raw_parts_mut(data.cast::<u8>(), len) })
}

/// A JS `[bigint, bigint]` for `pair`.
///
/// # Safety
/// As for [`number`].
unsafe fn bigint_pair(env: sys::napi_env, pair: (u64, u64)) -> sys::napi_value {
    let mut arr = ptr::null_mut();
    // SAFETY: arr is a valid local; env is live (caller's contract).
    unsafe { sys::napi_create_array_with_length(env, 2, &mut arr) };
    for (i, v) in [pair.0, pair.1].into_iter().enumerate() {
        // SAFETY: arr was made above in this env (a null arr makes the call
        // fail, harmlessly); env is live.
        unsafe { sys::napi_set_element(env, arr, i as u32, bigint(env, v)) };
    }
    arr
}

/// A JS number for `n` (null, which Node-API returns as `undefined`, if that
/// failed: only with an exception pending).
///
/// # Safety
/// `env` must be live, on its JS thread.
unsafe fn number(env: sys::napi_env, n: i32) -> sys::napi_value {
    let mut out = ptr::null_mut();
    // SAFETY: out is a valid local; env is live (caller's contract).
    unsafe { sys::napi_create_int32(env, n, &mut out) };
    out
}

/// A JS bigint for `n` (as [`number`] on failure).
///
/// # Safety
/// As for [`number`].
unsafe fn bigint(env: sys::napi_env, n: u64) -> sys::napi_value {
    let mut out = ptr::null_mut();
    // SAFETY: out is a valid local; env is live (caller's contract).
    unsafe { sys::napi_create_bigint_uint64(env, n, &mut out) };
    out
}

const BAD_ARG: i32 = -libc::EINVAL;

/// The call's first `N` arguments and its body `F`, the `fn` pointer that
/// `register` stored as the function's data; `None` if the call failed.
///
/// # Safety
/// `env` and `info` must be the ones the callback was called with, and the
/// function must have been registered with a body of type `F`.
unsafe fn unpack<const N: usize, F: Copy>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> Option<([sys::napi_value; N], F)> {
    const { assert!(std::mem::size_of::<F>() == std::mem::size_of::<*mut c_void>()) };
    // SAFETY: env and info are the callback's (caller's contract).
    let (argv, data) = unsafe { args::<N>(env, info) }?;
    // SAFETY: `register` stored an `F`, a pointer-sized `fn` pointer, as
    // this function's data (caller's contract).
    Some((argv, unsafe { std::mem::transmute_copy::<*mut c_void, F>(&data) }))
}

/// The JS value of a body's result: `ok(v)`, or the negative errno as a
/// number.
///
/// # Safety
/// As for [`number`].
unsafe fn result<T>(
    env: sys::napi_env,
    r: Result<T, i32>,
    ok: unsafe fn(sys::napi_env, T) -> sys::napi_value,
) -> sys::napi_value {
    match r {
        // SAFETY: env is live (caller's contract).
        Ok(v) => unsafe { ok(env, v) },
        // SAFETY: env is live (caller's contract).
        Err(e) => unsafe { number(env, e) },
    }
}

// The Node-API callbacks, one per `Body` signature.
//
// # Safety (each)
// Only Node-API calls them, with its own `env` and `info`, on the JS thread,
// for a function `register` created with the matching `Body`'s `data`; the
// arguments read are live values of this call, and a borrowed byte slice is
// used only inside the body, a synchronous call that runs no JS.

/// The callback for [`Body::I32`].
///
/// # Safety
/// See above.
unsafe extern "C" fn tramp_i32(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: see above.
    unsafe {
        let Some(([a], f)) = unpack::<1, fn(i32) -> i32>(env, info) else {
            return ptr::null_mut();
        };
        number(env, int32(env, a).map_or(BAD_ARG, f))
    }
}

/// The callback for [`Body::I32I32`].
///
/// # Safety
/// See above.
unsafe extern "C" fn tramp_i32_i32(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: see above.
    unsafe {
        let Some(([a, b], f)) = unpack::<2, fn(i32, i32) -> i32>(env, info) else {
            return ptr::null_mut();
        };
        number(
            env,
            match (int32(env, a), int32(env, b)) {
                (Some(a), Some(b)) => f(a, b),
                _ => BAD_ARG,
            },
        )
    }
}

/// The callback for [`Body::I32F64`].
///
/// # Safety
/// See above.
unsafe extern "C" fn tramp_i32_f64(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: see above.
    unsafe {
        let Some(([a, b], f)) = unpack::<2, fn(i32, f64) -> i32>(env, info) else {
            return ptr::null_mut();
        };
        number(
            env,
            match (int32(env, a), double(env, b)) {
                (Some(a), Some(b)) => f(a, b),
                _ => BAD_ARG,
            },
        )
    }
}

/// The callback for [`Body::I32ToU64`].
///
/// # Safety
/// See above.
unsafe extern "C" fn tramp_i32_to_u64(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: see above.
    unsafe {
        let Some(([a], f)) = unpack::<1, fn(i32) -> Result<u64, i32>>(env, info) else {
            return ptr::null_mut();
        };
        result(env, int32(env, a).map_or(Err(BAD_ARG), f), bigint)
    }
}

/// The callback for [`Body::I32I32Bytes`].
///
/// # Safety
/// See above.
unsafe extern "C" fn tramp_i32_i32_bytes(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: see above.
    unsafe {
        let Some(([a, b, c], f)) = unpack::<3, fn(i32, i32, &mut [u8]) -> i32>(env, info) else {
            return ptr::null_mut();
        };
        number(
            env,
            match (int32(env, a), int32(env, b), bytes(env, c)) {
                (Some(a), Some(b), Some(c)) => f(a, b, c),
                _ => BAD_ARG,
            },
        )
    }
}

/// The callback for [`Body::I32ToPair`].
///
/// # Safety
/// See above.
unsafe extern "C" fn tramp_i32_to_pair(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: see above.
    unsafe {
        let Some(([a], f)) = unpack::<1, fn(i32) -> PairResult>(env, info) else {
            return ptr::null_mut();
        };
        result(env, int32(env, a).map_or(Err(BAD_ARG), f), bigint_pair)
    }
}

/// The `(fd, flags, a, b)` arguments of the two `I32I32U64U64` bodies.
///
/// # Safety
/// As for [`int32`].
unsafe fn i32_i32_u64_u64(
    env: sys::napi_env,
    [a, b, c, d]: [sys::napi_value; 4],
) -> Option<(i32, i32, u64, u64)> {
    // SAFETY: the caller vouches for env and the values.
    unsafe {
        Some((
            int32(env, a)?,
            int32(env, b)?,
            u64_of_bigint(env, c)?,
            u64_of_bigint(env, d)?,
        ))
    }
}

/// The callback for [`Body::I32I32U64U64ToPair`].
///
/// # Safety
/// See above.
unsafe extern "C" fn tramp_i32_i32_u64_u64_to_pair(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: see above.
    unsafe {
        let Some((argv, f)) = unpack::<4, fn(i32, i32, u64, u64) -> PairResult>(env, info) else {
            return ptr::null_mut();
        };
        let r = i32_i32_u64_u64(env, argv).map_or(Err(BAD_ARG), |(a, b, c, d)| f(a, b, c, d));
        result(env, r, bigint_pair)
    }
}

/// The callback for [`Body::I32I32U64U64`].
///
/// # Safety
/// See above.
unsafe extern "C" fn tramp_i32_i32_u64_u64(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: see above.
    unsafe {
        let Some((argv, f)) = unpack::<4, fn(i32, i32, u64, u64) -> i32>(env, info) else {
            return ptr::null_mut();
        };
        number(
            env,
            i32_i32_u64_u64(env, argv).map_or(BAD_ARG, |(a, b, c, d)| f(a, b, c, d)),
        )
    }
}

/// The callback for [`Body::Handle`] with a handle of type `T`.
///
/// # Safety
/// See above; the function was registered by [`handle_to_i32::<T>`], so its
/// data is a `fn(&T) -> i32`.
unsafe extern "C" fn tramp_handle_to_i32<T: 'static>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    use napi::bindgen_prelude::FromNapiValue;
    // SAFETY: see above; `Handle::from_napi_value` checks the value is a live
    // handle of type T of this thread before anything reads it, and the
    // argument keeps it alive for the call.
    unsafe {
        let Some(([a], f)) = unpack::<1, fn(&T) -> i32>(env, info) else {
            return ptr::null_mut();
        };
        let r = match super::ext::Handle::<T>::from_napi_value(env, a) {
            Ok(h) => f(&h),
            Err(_) => BAD_ARG,
        };
        number(env, r)
    }
}

/// The JS value of a body's handle result: the external, or the negative
/// errno as a number.
///
/// # Safety
/// As for [`number`].
unsafe fn handle_result<T: 'static>(env: sys::napi_env, r: Result<T, i32>) -> sys::napi_value {
    use napi::bindgen_prelude::ToNapiValue;
    // SAFETY: env is live, on its JS thread (caller's contract), as
    // `Owned::to_napi_value` requires.
    match r.map(|v| unsafe { super::ext::Owned::to_napi_value(env, super::ext::Owned(v)) }) {
        Ok(Ok(handle)) => handle,
        // Making the external failed (only with an exception pending): it
        // dropped the payload, which closed its fd. Report it as ENOMEM.
        // SAFETY: as above.
        Ok(Err(_)) => unsafe { number(env, -libc::ENOMEM) },
        // SAFETY: as above.
        Err(e) => unsafe { number(env, e) },
    }
}

/// The callback for a body made by [`i64_bool_to_handle::<T>`].
///
/// # Safety
/// See above; the function was registered by [`i64_bool_to_handle::<T>`], so
/// its data is a `fn(i64, bool) -> Result<T, i32>`.
unsafe extern "C" fn tramp_i64_bool_to_handle<T: 'static>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: see above.
    unsafe {
        let Some(([a, b], f)) = unpack::<2, fn(i64, bool) -> Result<T, i32>>(env, info) else {
            return ptr::null_mut();
        };
        let r = match (int64(env, a), boolean(env, b)) {
            (Some(a), Some(b)) => f(a, b),
            _ => Err(BAD_ARG),
        };
        handle_result(env, r)
    }
}

/// The arguments of an [`i32_bool_bool_i64_i64_to_handle`] body.
///
/// # Safety
/// As for [`int32`].
unsafe fn i32_bool_bool_i64_i64(
    env: sys::napi_env,
    [a, b, c, d, e]: [sys::napi_value; 5],
) -> Option<(i32, bool, bool, i64, i64)> {
    // SAFETY: the caller vouches for env and the values.
    unsafe {
        Some((
            int32(env, a)?,
            boolean(env, b)?,
            boolean(env, c)?,
            int64(env, d)?,
            int64(env, e)?,
        ))
    }
}

/// The callback for a body made by [`i32_bool_bool_i64_i64_to_handle::<T>`].
///
/// # Safety
/// See above; the function was registered by
/// [`i32_bool_bool_i64_i64_to_handle::<T>`], so its data is a
/// `fn(i32, bool, bool, i64, i64) -> Result<T, i32>`.
unsafe extern "C" fn tramp_i32_bool_bool_i64_i64_to_handle<T: 'static>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: see above.
    unsafe {
        let Some((argv, f)) = unpack::<5, fn(i32, bool, bool, i64, i64) -> Result<T, i32>>(env, info) else {
            return ptr::null_mut();
        };
        let r = i32_bool_bool_i64_i64(env, argv).map_or(Err(BAD_ARG), |(a, b, c, d, e)| f(a, b, c, d, e));
        handle_result(env, r)
    }
}
