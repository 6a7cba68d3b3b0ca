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
//! here under its JS name when the module loads. One generic trampoline per
//! arity (`body1` … `body5`) reads each argument by its Rust type ([`Arg`]),
//! makes the JS result from the return type ([`Ret`]), and gets the
//! function's pointer back as the callback's `data`, so there is no
//! generated twin, nothing re-registered over a generated export, no name
//! table to keep in sync, and a new signature needs no new trampoline. Their typings are hand-written in
//! `crates/node/raw.d.ts`, which `napi build` puts at the head of
//! `binding.d.ts`.
//!
//! Like every binding function, these trust no caller for memory safety: an
//! argument of the wrong type (or a missing one) makes the call return
//! `-EINVAL` without touching the fd; the TypeScript layer checks arguments
//! and builds the user-facing errors before it calls.

use std::ffi::{c_void, CString};
use std::ptr;

use napi::bindgen_prelude::{FromNapiValue, ToNapiValue};
use napi::sys;

use super::ext::{Handle, Owned};

/// A raw function ready to register: its trampoline, and the body's `fn`
/// pointer, which the trampoline gets back as the callback's data. Made
/// only by `body1` … `body5`, so the two always agree on the `fn` type.
#[derive(Clone, Copy)]
pub struct Body(sys::napi_callback, *mut c_void);

/// An argument type of a body, and how its JS value is read. `None` (a
/// value of the wrong type) makes the call return `-EINVAL` without calling
/// the body.
pub trait Arg: Sized {
    /// # Safety
    /// `value` must be a live value of `env`, on its JS thread. What is
    /// returned may borrow from `value` (a byte slice): it is used only by
    /// the body, a synchronous call that runs no JS.
    unsafe fn read(env: sys::napi_env, value: sys::napi_value) -> Option<Self>;
}

macro_rules! arg {
    ($($t:ty => $get:ident, $zero:expr, $doc:literal;)+) => {$(
        #[doc = $doc]
        impl Arg for $t {
            // SAFETY: the caller keeps the contract of `Arg::read` (the trait's `# Safety`).
            unsafe fn read(env: sys::napi_env, value: sys::napi_value) -> Option<Self> {
                let mut out = $zero;
                // SAFETY: out is a valid local; the caller vouches for env and value.
                (unsafe { sys::$get(env, value, &mut out) } == sys::Status::napi_ok).then_some(out)
            }
        }
    )+};
}

// Written out rather than through napi-rs's `FromNapiValue`, which is not
// inlined (the s41-size audit's variant: +97 instructions, callgrind, a
// write+read pair of eventfds).
arg! {
    i32 => napi_get_value_int32, 0, "A number, as JS `ToInt32`.";
    f64 => napi_get_value_double, 0.0, "Any number.";
    i64 => napi_get_value_int64, 0, "A number as int64 (`napi_get_value_int64`: truncated, NaN and ±Infinity as 0, clamped to the int64 range).";
    bool => napi_get_value_bool, false, "A boolean.";
}

/// A bigint, as its low 64 bits.
impl Arg for u64 {
    // SAFETY: the caller keeps the contract of `Arg::read` (the trait's `# Safety`).
    unsafe fn read(env: sys::napi_env, value: sys::napi_value) -> Option<Self> {
        let (mut out, mut lossless) = (0, false);
        // SAFETY: out and lossless are valid locals; the caller vouches for env and value.
        let st = unsafe { sys::napi_get_value_bigint_uint64(env, value, &mut out, &mut lossless) };
        (st == sys::Status::napi_ok).then_some(out)
    }
}

/// The bytes of a `Uint8Array` (a `Buffer`), borrowed for the call.
impl Arg for &mut [u8] {
    // SAFETY: the caller keeps the contract of `Arg::read` (the trait's `# Safety`).
    unsafe fn read(env: sys::napi_env, value: sys::napi_value) -> Option<Self> {
        // SAFETY: the caller vouches for env and value, and uses the slice
        // only while the callback runs (the trait's contract).
        unsafe { bytes(env, value) }
    }
}

/// A live handle of type `T` made in this thread (`rt/ext.rs`); any other
/// value, another kind of handle included, is a wrong type.
impl<T: 'static> Arg for Handle<T> {
    // SAFETY: the caller keeps the contract of `Arg::read` (the trait's `# Safety`).
    unsafe fn read(env: sys::napi_env, value: sys::napi_value) -> Option<Self> {
        // SAFETY: the caller vouches for env and value; `from_napi_value`
        // checks the value is a live handle of type T of this thread before
        // anything reads it, and the argument keeps it alive for the call.
        unsafe { Handle::<T>::from_napi_value(env, value) }.ok()
    }
}

/// A body's return type, and its JS value. Errors are negative errnos (the
/// binding's convention, `handle.rs`), returned as numbers.
pub trait Ret {
    /// The result of a call with an argument of the wrong type: `-EINVAL`.
    fn bad_arg() -> Self;
    /// # Safety
    /// `env` must be live, on its JS thread.
    unsafe fn into_js(self, env: sys::napi_env) -> sys::napi_value;
}

/// A number (0 or more: a result; below 0: a negative errno).
impl Ret for i32 {
    fn bad_arg() -> Self {
        -libc::EINVAL
    }
    // SAFETY: the caller keeps the contract of `Ret::into_js` (the trait's `# Safety`).
    unsafe fn into_js(self, env: sys::napi_env) -> sys::napi_value {
        // SAFETY: env is live (the trait's contract).
        unsafe { number(env, self) }
    }
}

/// A value on success, or the negative errno as a number.
impl<T: Value> Ret for Result<T, i32> {
    fn bad_arg() -> Self {
        Err(-libc::EINVAL)
    }
    // SAFETY: the caller keeps the contract of `Ret::into_js` (the trait's `# Safety`).
    unsafe fn into_js(self, env: sys::napi_env) -> sys::napi_value {
        // SAFETY: env is live (the trait's contract).
        unsafe {
            match self {
                Ok(v) => v.into_js(env),
                Err(e) => number(env, e),
            }
        }
    }
}

/// The success value of a `Result` body.
pub trait Value {
    /// # Safety
    /// `env` must be live, on its JS thread.
    unsafe fn into_js(self, env: sys::napi_env) -> sys::napi_value;
}

/// A bigint.
impl Value for u64 {
    // SAFETY: the caller keeps the contract of `Value::into_js` (the trait's `# Safety`).
    unsafe fn into_js(self, env: sys::napi_env) -> sys::napi_value {
        // SAFETY: env is live (the trait's contract).
        unsafe { bigint(env, self) }
    }
}

/// A `[bigint, bigint]`.
impl Value for (u64, u64) {
    // SAFETY: the caller keeps the contract of `Value::into_js` (the trait's `# Safety`).
    unsafe fn into_js(self, env: sys::napi_env) -> sys::napi_value {
        // SAFETY: env is live (the trait's contract).
        unsafe { bigint_pair(env, self) }
    }
}

/// A new handle (`rt/ext.rs`) that owns `T`. If making the external fails
/// (only with an exception pending), it has dropped `T`, which closed its
/// fd: reported as `-ENOMEM`.
impl<T: 'static> Value for Owned<T> {
    // SAFETY: the caller keeps the contract of `Value::into_js` (the trait's `# Safety`).
    unsafe fn into_js(self, env: sys::napi_env) -> sys::napi_value {
        // SAFETY: env is live, on its JS thread (the trait's contract), as
        // `to_napi_value` requires.
        unsafe { Owned::to_napi_value(env, self).unwrap_or_else(|_| number(env, -libc::ENOMEM)) }
    }
}

// The bodies and their callbacks, one pair per arity.
//
// # Safety (each callback)
// Only Node-API calls it, with its own `env` and `info`, on the JS thread,
// for a function `register` created from the `Body` its `bodyN` made, so
// the data is a `fn` of the callback's type parameters; the arguments read
// are live values of this call, and what they borrow is used only inside
// the body, a synchronous call that runs no JS.
macro_rules! bodies {
    ($($body:ident $tramp:ident $n:literal [$($A:ident $a:ident),+];)+) => {$(
        /// The [`Body`] of `f`: each argument read as its [`Arg`] type (a
        /// wrong type is `-EINVAL`, and `f` is not called), the result made
        /// by its [`Ret`] type.
        ///
        /// # Safety
        /// `f` must keep no argument past its return (a byte slice borrows
        /// a JS buffer, and a `Handle` a payload that a collection frees),
        /// and take at most one `&mut [u8]` (JS may pass one buffer twice).
        /// The type system does not say so: `Arg` is implemented for every
        /// lifetime, so `f`'s must be checked where it is registered.
        pub unsafe fn $body<$($A: Arg,)+ R: Ret>(f: fn($($A),+) -> R) -> Body {
            Body(Some($tramp::<$($A,)+ R>), f as *mut c_void)
        }

        /// The callback of a body of this arity.
        ///
        /// # Safety
        /// See above.
        unsafe extern "C" fn $tramp<$($A: Arg,)+ R: Ret>(
            env: sys::napi_env,
            info: sys::napi_callback_info,
        ) -> sys::napi_value {
            // SAFETY: see above.
            unsafe {
                let Some(([$($a),+], f)) = unpack::<$n, fn($($A),+) -> R>(env, info) else {
                    return ptr::null_mut();
                };
                match ($($A::read(env, $a),)+) {
                    ($(Some($a),)+) => f($($a),+),
                    _ => R::bad_arg(),
                }
                .into_js(env)
            }
        }
    )+};
}

bodies! {
    body1 tramp1 1 [A a];
    body2 tramp2 2 [A a, B b];
    body3 tramp3 3 [A a, B b, C c];
    body4 tramp4 4 [A a, B b, C c, D d];
    body5 tramp5 5 [A a, B b, C c, D d, E e];
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
    for &(js_name, Body(cb, data)) in fns {
        let name =
            CString::new(js_name).map_err(|_| napi::Error::from_reason("raw function name has a NUL"))?;
        let mut func = ptr::null_mut();
        // SAFETY: env is live (the caller's contract); name is a valid C
        // string for the call; `data` is a `fn` pointer of the signature
        // `cb` reads it back as, and fn pointers live forever.
        super::env::check(unsafe {
            sys::napi_create_function(env, name.as_ptr(), js_name.len() as isize, cb, data, &mut func)
        })?;
        // SAFETY: exports and func are live values of this env.
        super::env::check(unsafe { sys::napi_set_named_property(env, exports, name.as_ptr(), func) })?;
    }
    Ok(())
}

/// The bytes of a `Uint8Array` (or `Uint8ClampedArray`), or `None` for any
/// other value. A detached or empty array is an empty slice.
///
/// # Safety
/// `value` must be a live value of `env`, on its JS thread; the slice may be
/// used only until the callback returns, and no JS may run meanwhile (a
/// synchronous syscall runs none).
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

/// The call's first `N` arguments (missing ones are `undefined`, which
/// Node-API fills in) and its body `F`, the `fn` pointer that `register`
/// stored as the function's data; `None` if the call failed.
///
/// # Safety
/// `env` and `info` must be the ones the callback was called with, and the
/// function must have been registered with a body of type `F`.
unsafe fn unpack<const N: usize, F: Copy>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> Option<([sys::napi_value; N], F)> {
    const { assert!(std::mem::size_of::<F>() == std::mem::size_of::<*mut c_void>()) };
    let (mut argc, mut argv, mut data) = (N, [ptr::null_mut(); N], ptr::null_mut());
    // SAFETY: argv has room for argc values; the other out-pointers are
    // valid locals; env/info come from the callback (caller's contract).
    let st = unsafe {
        sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            &mut data,
        )
    };
    let (argv, data) = (st == sys::Status::napi_ok && !data.is_null()).then_some((argv, data))?;
    // SAFETY: `register` stored an `F`, a pointer-sized `fn` pointer, as
    // this function's data (caller's contract).
    Some((argv, unsafe { std::mem::transmute_copy::<*mut c_void, F>(&data) }))
}
