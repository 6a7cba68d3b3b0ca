//! The few raw Node-API calls the binding makes outside napi-rs's conversions,
//! gathered in one place so every `unsafe` sits next to its reason.
//!
//! Everything here runs on the JS thread of `env`, which is the one rule
//! Node-API asks of these calls.

use std::ffi::c_char;
use std::ptr;

use napi::bindgen_prelude::{FromNapiValue, ToNapiValue, TypeName, ValidateNapiValue};
use napi::{sys, Result, Status, ValueType};

/// A JS value passed through untouched, so the binding can check it with its
/// own rules and error messages (napi-rs's conversions would throw
/// `GenericFailure` or accept values Python's API rejects).
#[derive(Clone, Copy)]
pub struct JsValue {
    pub env: sys::napi_env,
    pub raw: sys::napi_value,
}

impl FromNapiValue for JsValue {
    // SAFETY: no unsafe operation: the pair is stored as is. The trait's
    // contract (env live, raw a value of it) is what makes later uses sound.
    unsafe fn from_napi_value(env: sys::napi_env, raw: sys::napi_value) -> Result<Self> {
        Ok(Self { env, raw })
    }
}

impl ToNapiValue for JsValue {
    // SAFETY: no unsafe operation: returns the value it holds, which belongs
    // to the env napi-rs passes (the trait's contract).
    unsafe fn to_napi_value(_env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        Ok(val.raw)
    }
}

impl TypeName for JsValue {
    fn type_name() -> &'static str {
        "unknown"
    }
    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

impl ValidateNapiValue for JsValue {}

/// A `u64` returned to JS as a `bigint`, made with one
/// `napi_create_bigint_uint64` call (napi-rs's `BigInt` allocates a `Vec`).
pub struct BigU64(pub u64);

impl ToNapiValue for BigU64 {
    // SAFETY: the trait's contract: napi-rs calls this with the live env of
    // the current call, on its thread; see the block below.
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        let mut out = ptr::null_mut();
        // SAFETY: env is the live env of this call (napi-rs's caller contract);
        // out is a valid out-pointer.
        check(unsafe { sys::napi_create_bigint_uint64(env, val.0, &mut out) })?;
        Ok(out)
    }
}

impl TypeName for BigU64 {
    fn type_name() -> &'static str {
        "bigint"
    }
    fn value_type() -> ValueType {
        ValueType::BigInt
    }
}

/// Turns a Node-API status into a `Result`. A pending exception (a getter that
/// threw, say) stays pending and is what JS sees.
#[inline]
pub fn check(status: sys::napi_status) -> Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::new(Status::from(status), "Node-API call failed"))
    }
}

impl JsValue {
    /// `typeof` of the value.
    pub fn type_of(&self) -> Result<ValueType> {
        let mut t = 0;
        // SAFETY: env/raw came from Node for this call; t is a valid out-pointer.
        check(unsafe { sys::napi_typeof(self.env, self.raw, &mut t) })?;
        Ok(ValueType::from(t))
    }

    /// The value as an f64 if it is a number; `None` for anything else.
    #[inline]
    pub fn as_f64(&self) -> Option<f64> {
        let mut d = 0.0;
        // SAFETY: env/raw came from Node for this call; a non-number gives
        // napi_number_expected and leaves d untouched.
        let st = unsafe { sys::napi_get_value_double(self.env, self.raw, &mut d) };
        (st == sys::Status::napi_ok).then_some(d)
    }

    /// The value as a u64 if it is a bigint: `(value, lossless)`.
    #[inline]
    pub fn as_bigint_u64(&self) -> Option<(u64, bool)> {
        let mut v = 0u64;
        let mut lossless = false;
        // SAFETY: env/raw came from Node for this call; a non-bigint gives
        // napi_bigint_expected and leaves the out-values untouched.
        let st = unsafe { sys::napi_get_value_bigint_uint64(self.env, self.raw, &mut v, &mut lossless) };
        (st == sys::Status::napi_ok).then_some((v, lossless))
    }

    /// The value as an i64 if it is a bigint: `(value, lossless)`.
    pub fn as_bigint_i64(&self) -> Option<(i64, bool)> {
        let mut v = 0i64;
        let mut lossless = false;
        // SAFETY: as in as_bigint_u64.
        let st = unsafe { sys::napi_get_value_bigint_int64(self.env, self.raw, &mut v, &mut lossless) };
        (st == sys::Status::napi_ok).then_some((v, lossless))
    }

    /// The value as a bool if it is a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        let mut b = false;
        // SAFETY: env/raw came from Node for this call.
        let st = unsafe { sys::napi_get_value_bool(self.env, self.raw, &mut b) };
        (st == sys::Status::napi_ok).then_some(b)
    }

    /// `undefined` (a missing argument is `undefined` too).
    pub fn is_undefined(&self) -> bool {
        matches!(self.type_of(), Ok(ValueType::Undefined))
    }

    /// `undefined` or `null`.
    pub fn is_nullish(&self) -> bool {
        matches!(self.type_of(), Ok(ValueType::Undefined | ValueType::Null))
    }

    /// `obj[name]`. A throwing getter leaves its exception pending and gives
    /// `Err(PendingException)`.
    pub fn get(&self, name: &std::ffi::CStr) -> Result<JsValue> {
        let mut out = ptr::null_mut();
        // SAFETY: env/raw came from Node for this call; name is NUL-terminated.
        check(unsafe { sys::napi_get_named_property(self.env, self.raw, name.as_ptr(), &mut out) })?;
        Ok(JsValue {
            env: self.env,
            raw: out,
        })
    }

    /// The value's UTF-8 string, if it is a string.
    pub fn as_string(&self) -> Option<String> {
        let mut len = 0usize;
        // SAFETY: a null buffer asks only for the length; non-strings give
        // napi_string_expected.
        let st = unsafe { sys::napi_get_value_string_utf8(self.env, self.raw, ptr::null_mut(), 0, &mut len) };
        if st != sys::Status::napi_ok {
            return None;
        }
        let mut buf = vec![0u8; len + 1];
        let mut written = 0usize;
        // SAFETY: buf has len + 1 bytes, room for the string and its NUL.
        let st = unsafe {
            sys::napi_get_value_string_utf8(
                self.env,
                self.raw,
                buf.as_mut_ptr().cast::<c_char>(),
                buf.len(),
                &mut written,
            )
        };
        if st != sys::Status::napi_ok {
            return None;
        }
        buf.truncate(written);
        String::from_utf8(buf).ok()
    }

    /// The bytes of a TypedArray, DataView or ArrayBuffer: `(ptr, len)`.
    /// A detached buffer gives length 0. The pointer is never null: Node
    /// reports empty and detached buffers with a null data pointer, and
    /// `slice::from_raw_parts` requires a non-null one even for length 0, so
    /// those become a dangling (non-null, aligned) pointer with length 0.
    pub fn as_bytes(&self) -> Option<(*mut u8, usize)> {
        self.raw_bytes().map(|(p, len)| {
            if p.is_null() || len == 0 {
                (ptr::NonNull::<u8>::dangling().as_ptr(), 0)
            } else {
                (p, len)
            }
        })
    }

    fn raw_bytes(&self) -> Option<(*mut u8, usize)> {
        let mut is = false;
        // SAFETY: env/raw came from Node for this call.
        unsafe { sys::napi_is_typedarray(self.env, self.raw, &mut is) };
        if is {
            let mut t = 0;
            let mut len = 0usize;
            let mut data = ptr::null_mut();
            let mut ab = ptr::null_mut();
            let mut off = 0usize;
            // SAFETY: raw is a TypedArray (checked just above).
            let st = unsafe {
                sys::napi_get_typedarray_info(
                    self.env, self.raw, &mut t, &mut len, &mut data, &mut ab, &mut off,
                )
            };
            if st != sys::Status::napi_ok {
                return None;
            }
            let elem = match t {
                sys::TypedarrayType::int16_array | sys::TypedarrayType::uint16_array => 2,
                sys::TypedarrayType::int32_array
                | sys::TypedarrayType::uint32_array
                | sys::TypedarrayType::float32_array => 4,
                sys::TypedarrayType::float64_array
                | sys::TypedarrayType::bigint64_array
                | sys::TypedarrayType::biguint64_array => 8,
                _ => 1,
            };
            return Some((data.cast(), len * elem));
        }
        // SAFETY: env/raw came from Node for this call; is is a valid out-pointer.
        unsafe { sys::napi_is_dataview(self.env, self.raw, &mut is) };
        if is {
            let mut len = 0usize;
            let mut data = ptr::null_mut();
            let mut ab = ptr::null_mut();
            let mut off = 0usize;
            // SAFETY: raw is a DataView (checked just above).
            let st = unsafe {
                sys::napi_get_dataview_info(self.env, self.raw, &mut len, &mut data, &mut ab, &mut off)
            };
            return (st == sys::Status::napi_ok).then_some((data.cast(), len));
        }
        // SAFETY: env/raw came from Node for this call; is is a valid out-pointer.
        unsafe { sys::napi_is_arraybuffer(self.env, self.raw, &mut is) };
        if is {
            let mut len = 0usize;
            let mut data = ptr::null_mut();
            // SAFETY: raw is an ArrayBuffer (checked just above).
            let st = unsafe { sys::napi_get_arraybuffer_info(self.env, self.raw, &mut data, &mut len) };
            return (st == sys::Status::napi_ok).then_some((data.cast(), len));
        }
        None
    }

    /// A short description of the value for error messages, in the style of
    /// Node's `ERR_INVALID_ARG_TYPE` ("Received type string ('x')").
    pub fn describe(&self) -> String {
        match self.type_of() {
            Ok(ValueType::Undefined) => "Received undefined".into(),
            Ok(ValueType::Null) => "Received null".into(),
            Ok(ValueType::Number) => format!(
                "Received type number ({})",
                fmt_num(self.as_f64().unwrap_or(f64::NAN))
            ),
            Ok(ValueType::BigInt) => match self.as_bigint_i64() {
                Some((v, true)) => format!("Received type bigint ({v}n)"),
                _ => "Received type bigint".into(),
            },
            Ok(ValueType::Boolean) => format!("Received type boolean ({})", self.as_bool().unwrap_or(false)),
            Ok(ValueType::String) => {
                let s = self.as_string().unwrap_or_default();
                let s: String = s.chars().take(25).collect();
                format!("Received type string ('{s}')")
            }
            Ok(ValueType::Symbol) => "Received type symbol".into(),
            Ok(ValueType::Function) => "Received function".into(),
            Ok(ValueType::Object) => "Received an instance of Object".into(),
            _ => "Received an unknown value".into(),
        }
    }
}

/// Formats a number the way JS prints it for integers and the common specials.
pub fn fmt_num(d: f64) -> String {
    if d.is_nan() {
        "NaN".into()
    } else if d.is_infinite() {
        if d > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        }
    } else if d == d.trunc() && d.abs() < 1e21 {
        format!("{}", d as i128)
    } else {
        format!("{d}")
    }
}

/// Creates a JS string.
pub fn string(env: sys::napi_env, s: &str) -> Result<sys::napi_value> {
    let mut out = ptr::null_mut();
    // SAFETY: s is valid UTF-8 of s.len() bytes; env is live.
    check(unsafe { sys::napi_create_string_utf8(env, s.as_ptr().cast(), s.len() as isize, &mut out) })?;
    Ok(out)
}

/// Creates a JS number.
pub fn number(env: sys::napi_env, d: f64) -> Result<sys::napi_value> {
    let mut out = ptr::null_mut();
    // SAFETY: env is live; out is a valid out-pointer.
    check(unsafe { sys::napi_create_double(env, d, &mut out) })?;
    Ok(out)
}

/// Sets `obj[name] = value`.
pub fn set(
    env: sys::napi_env,
    obj: sys::napi_value,
    name: &std::ffi::CStr,
    value: sys::napi_value,
) -> Result<()> {
    // SAFETY: env is live, obj is an object value, name is NUL-terminated.
    check(unsafe { sys::napi_set_named_property(env, obj, name.as_ptr(), value) })
}

/// Defines `obj[name] = value` as an own data property (writable,
/// enumerable, configurable), as an object literal would: unlike
/// [`set`], it runs no setter, so a setter someone put on
/// `Object.prototype` cannot call back into the binding while it builds a
/// result or an error (and hold a `RefCell` borrow across that call).
pub fn define(
    env: sys::napi_env,
    obj: sys::napi_value,
    name: &std::ffi::CStr,
    value: sys::napi_value,
) -> Result<()> {
    let prop = sys::napi_property_descriptor {
        utf8name: name.as_ptr(),
        name: ptr::null_mut(),
        method: None,
        getter: None,
        setter: None,
        value,
        attributes: sys::PropertyAttributes::writable
            | sys::PropertyAttributes::enumerable
            | sys::PropertyAttributes::configurable,
        data: ptr::null_mut(),
    };
    // SAFETY: env is live, obj is an object value, prop is one valid
    // descriptor whose name is NUL-terminated and outlives the call.
    check(unsafe { sys::napi_define_properties(env, obj, 1, &prop) })
}

/// Throws `value` and returns the `PendingException` error napi-rs then leaves
/// alone, so the JS caller sees exactly `value`.
pub fn throw(env: sys::napi_env, value: sys::napi_value) -> napi::Error {
    // SAFETY: env is live and value is a JS value of this env.
    unsafe { sys::napi_throw(env, value) };
    napi::Error::new(Status::PendingException, "")
}

/// `undefined`.
pub fn undefined(env: sys::napi_env) -> Result<sys::napi_value> {
    let mut out = ptr::null_mut();
    // SAFETY: env is live; out is a valid out-pointer.
    check(unsafe { sys::napi_get_undefined(env, &mut out) })?;
    Ok(out)
}

/// A bigint from a u64.
pub fn bigint(env: sys::napi_env, v: u64) -> Result<sys::napi_value> {
    // SAFETY: env is live (callers are on its thread, inside a handle scope).
    unsafe { BigU64::to_napi_value(env, BigU64(v)) }
}

/// A boolean.
pub fn boolean(env: sys::napi_env, b: bool) -> Result<sys::napi_value> {
    let mut out = ptr::null_mut();
    // SAFETY: env is live; out is a valid out-pointer.
    check(unsafe { sys::napi_get_boolean(env, b, &mut out) })?;
    Ok(out)
}

/// A new empty object.
pub fn object(env: sys::napi_env) -> Result<sys::napi_value> {
    let mut out = ptr::null_mut();
    // SAFETY: env is live; out is a valid out-pointer.
    check(unsafe { sys::napi_create_object(env, &mut out) })?;
    Ok(out)
}

/// A new promise and its deferred.
pub fn promise(env: sys::napi_env) -> Result<(sys::napi_deferred, sys::napi_value)> {
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    // SAFETY: env is live; both out-pointers are valid.
    check(unsafe { sys::napi_create_promise(env, &mut deferred, &mut promise) })?;
    Ok((deferred, promise))
}

/// Settles a deferred (which Node frees once settled).
pub fn settle(env: sys::napi_env, deferred: sys::napi_deferred, ok: bool, value: sys::napi_value) {
    // SAFETY: deferred came from napi_create_promise on this env and is
    // settled exactly once (each Waiter is consumed by value).
    unsafe {
        if ok {
            sys::napi_resolve_deferred(env, deferred, value);
        } else {
            sys::napi_reject_deferred(env, deferred, value);
        }
    }
}

/// A strong reference that keeps `value` alive across calls.
pub fn reference(env: sys::napi_env, value: sys::napi_value) -> Result<sys::napi_ref> {
    let mut out = ptr::null_mut();
    // SAFETY: env is live and value belongs to it.
    check(unsafe { sys::napi_create_reference(env, value, 1, &mut out) })?;
    Ok(out)
}

/// The value behind a reference.
pub fn deref(env: sys::napi_env, r: sys::napi_ref) -> Result<sys::napi_value> {
    let mut out = ptr::null_mut();
    // SAFETY: r is a live reference created on this env.
    check(unsafe { sys::napi_get_reference_value(env, r, &mut out) })?;
    Ok(out)
}

/// Deletes a reference.
pub fn unreference(env: sys::napi_env, r: sys::napi_ref) {
    // SAFETY: r is a live reference created on this env, deleted once.
    unsafe { sys::napi_delete_reference(env, r) };
}

/// Calls `obj[method](...args)`.
pub fn call_method(
    env: sys::napi_env,
    obj: sys::napi_value,
    method: &std::ffi::CStr,
    args: &[sys::napi_value],
) -> Result<sys::napi_value> {
    let f = JsValue { env, raw: obj }.get(method)?;
    let mut out = ptr::null_mut();
    // SAFETY: env is live; args points to args.len() values of this env.
    check(unsafe { sys::napi_call_function(env, obj, f.raw, args.len(), args.as_ptr(), &mut out) })?;
    Ok(out)
}

/// The global object's property `name`.
pub fn global(env: sys::napi_env, name: &std::ffi::CStr) -> Result<JsValue> {
    let mut g = ptr::null_mut();
    // SAFETY: env is the live env of the current call, on its thread; g is a
    // valid out-pointer.
    check(unsafe { sys::napi_get_global(env, &mut g) })?;
    JsValue { env, raw: g }.get(name)
}

/// `value instanceof ctor`.
pub fn instance_of(value: JsValue, ctor: JsValue) -> bool {
    let mut out = false;
    // SAFETY: both values belong to the live env; a non-function ctor gives an error status.
    let st = unsafe { sys::napi_instanceof(value.env, value.raw, ctor.raw, &mut out) };
    st == sys::Status::napi_ok && out
}

/// A JS array of `values`.
pub fn array(env: sys::napi_env, values: &[sys::napi_value]) -> Result<sys::napi_value> {
    let mut out = ptr::null_mut();
    // SAFETY: env is live; out is a valid out-pointer.
    check(unsafe { sys::napi_create_array_with_length(env, values.len(), &mut out) })?;
    for (i, v) in values.iter().enumerate() {
        // SAFETY: out is an array of this env and v a value of it.
        check(unsafe { sys::napi_set_element(env, out, i as u32, *v) })?;
    }
    Ok(out)
}

/// Bytes returned to JS as a `Buffer` whose memory V8 owns
/// (`napi_create_buffer_copy`).
///
/// napi-rs's `Buffer::from(Vec<u8>)` makes an *external* buffer, freed by a
/// finalizer that Node runs from the event loop after a GC. A synchronous
/// loop of calls therefore holds every result until it yields: the memory
/// stress case measured about 290 bytes kept per 16-byte `MemFile.read()`
/// (60 MB over 200,000 calls, all returned once the loop yielded).
pub struct CopiedBuffer(pub Vec<u8>);

/// Results up to this size come from `Buffer.allocUnsafe`'s pool (below).
const POOLED_MAX: usize = 4096;

impl CopiedBuffer {
    /// A `Buffer` from `Buffer.allocUnsafe(len)`, filled with `bytes`. Below
    /// 4 KiB Node slices it from an 8 KiB pool, so no new backing store is
    /// made: `napi_create_buffer_copy` mallocs one (plus a `BackingStore`
    /// and its registration) per call, which perf showed as most of the
    /// 2.5 µs of an `fcntl(fd, F_OFD_SETLK, buffer)` call.
    fn pooled(env: sys::napi_env, bytes: &[u8]) -> Result<sys::napi_value> {
        let state = crate::env::EnvState::get(env)?;
        let (f, proto) = state.alloc_unsafe()?;
        let mut recv = ptr::null_mut();
        // SAFETY: env is live; out-pointer valid.
        check(unsafe { sys::napi_get_global(env, &mut recv) })?;
        let n = number(env, bytes.len() as f64)?;
        let mut out = ptr::null_mut();
        // SAFETY: env is live; f is a function of this env; one argument.
        check(unsafe { sys::napi_call_function(env, recv, f, 1, &n, &mut out) })?;
        // Someone may have replaced Buffer.allocUnsafe before we took it:
        // accept only a Uint8Array of the right length with Buffer's
        // prototype, and write only into its own bytes.
        let mut is_ta = false;
        // SAFETY: env is live; out is a value of it.
        check(unsafe { sys::napi_is_typedarray(env, out, &mut is_ta) })?;
        if !is_ta {
            return Err(napi::Error::from_reason(
                "Buffer.allocUnsafe returned no typed array",
            ));
        }
        let (mut ty, mut len, mut data) = (sys::TypedarrayType::int8_array, 0usize, ptr::null_mut());
        let (mut ab, mut off) = (ptr::null_mut(), 0usize);
        // SAFETY: out is a typed array (checked above); out-pointers are valid.
        check(unsafe {
            sys::napi_get_typedarray_info(env, out, &mut ty, &mut len, &mut data, &mut ab, &mut off)
        })?;
        let mut p = ptr::null_mut();
        // SAFETY: env is live; out is an object of it.
        check(unsafe { sys::napi_get_prototype(env, out, &mut p) })?;
        let mut same = false;
        // SAFETY: env is live; both values belong to it.
        check(unsafe { sys::napi_strict_equals(env, p, proto, &mut same) })?;
        if ty != sys::TypedarrayType::uint8_array || len != bytes.len() || !same {
            return Err(napi::Error::from_reason(
                "Buffer.allocUnsafe returned something else",
            ));
        }
        if len > 0 {
            // SAFETY: data points to the len bytes of this new Uint8Array,
            // which nothing else has seen yet; bytes is len bytes long.
            unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), data.cast::<u8>(), len) };
        }
        Ok(out)
    }
}

impl ToNapiValue for CopiedBuffer {
    // SAFETY: the trait's contract: napi-rs (or our fast paths) call this with
    // the live env of the current call, on its thread.
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        if val.0.len() <= POOLED_MAX {
            if let Ok(v) = Self::pooled(env, &val.0) {
                return Ok(v);
            }
            // A replaced allocUnsafe that threw must not fail this call:
            // clear its exception and make the Buffer the slow way.
            let mut pending = false;
            // SAFETY: env is live; out-pointers are valid.
            unsafe {
                sys::napi_is_exception_pending(env, &mut pending);
                if pending {
                    let mut e = ptr::null_mut();
                    sys::napi_get_and_clear_last_exception(env, &mut e);
                }
            }
        }
        let mut out = ptr::null_mut();
        // SAFETY: the source is val.0's initialized bytes, read during the
        // call only; env is the live env of this call; out is a valid
        // out-pointer and the data out-pointer may be null.
        check(unsafe {
            sys::napi_create_buffer_copy(env, val.0.len(), val.0.as_ptr().cast(), ptr::null_mut(), &mut out)
        })?;
        Ok(out)
    }
}

impl TypeName for CopiedBuffer {
    fn type_name() -> &'static str {
        "Buffer"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

/// Creates a zero-filled JS `Buffer` of `len` bytes that V8 owns, and returns
/// it with a pointer to its bytes (valid while the buffer is reachable, which
/// the caller ensures by holding the value on this call's stack).
pub fn new_buffer(env: sys::napi_env, len: usize) -> Result<(sys::napi_value, *mut u8)> {
    let mut out = ptr::null_mut();
    let mut data = ptr::null_mut();
    // SAFETY: env is live; out and data are valid out-pointers.
    check(unsafe { sys::napi_create_buffer(env, len, &mut data, &mut out) })?;
    Ok((out, data.cast()))
}
