//! `AbortSignal` support shared by every cancellable call: reading
//! `options.signal`, listening for `abort`, removing the listener once the
//! call settles, and making Node's `AbortError`.

use std::ffi::c_void;
use std::ptr;

use napi::{sys, ValueType};

use crate::error;
use crate::js::{self, check, JsValue};

/// Reads `options.signal` from an options argument: `None`, or an `AbortSignal`.
///
/// # Errors
/// `TypeError` `ERR_INVALID_ARG_TYPE` if `options` is not an object or the
/// signal is not an `AbortSignal`; a throwing getter's own exception.
pub fn parse_signal(options: JsValue) -> napi::Result<Option<JsValue>> {
    let env = options.env;
    let Some(opts) = crate::args::options(options, "options")? else {
        return Ok(None);
    };
    let signal = opts.get(c"signal")?;
    let ok = match signal.type_of()? {
        ValueType::Undefined => return Ok(None),
        ValueType::Object => {
            let ctor = js::global(env, c"AbortSignal")?;
            ctor.type_of()? != ValueType::Function || js::instance_of(signal, ctor)
        }
        _ => false,
    };
    if ok {
        Ok(Some(signal))
    } else {
        Err(error::invalid_type(
            env,
            "options.signal",
            "an instance of AbortSignal",
            &signal,
        ))
    }
}

/// Whether `signal.aborted` is true.
pub fn is_aborted(signal: JsValue) -> napi::Result<bool> {
    Ok(signal.get(c"aborted")?.as_bool() == Some(true))
}

/// `AbortError` as Node's own APIs make it: `name: 'AbortError'`,
/// `code: 'ABORT_ERR'`, and the signal's `reason` as `cause`.
pub fn error(env: sys::napi_env, signal: Option<sys::napi_value>) -> napi::Result<sys::napi_value> {
    let err = error::make(env, error::Kind::Error, "ABORT_ERR", "The operation was aborted")?;
    js::define(env, err, c"name", js::string(env, "AbortError")?)?;
    if let Some(sig) = signal {
        if let Ok(reason) = (JsValue { env, raw: sig }).get(c"reason") {
            js::define(env, err, c"cause", reason.raw)?;
        }
    }
    Ok(err)
}

/// A registered `abort` listener; [`Hook::remove`] it once the call settles,
/// so long-lived signals do not collect listeners.
pub struct Hook {
    signal: sys::napi_ref,
    listener: sys::napi_ref,
}

impl Hook {
    /// Removes the listener and returns the signal (for the abort reason).
    pub fn remove(self, env: sys::napi_env) -> Option<sys::napi_value> {
        let mut out = None;
        if let (Ok(sig), Ok(listener)) = (js::deref(env, self.signal), js::deref(env, self.listener)) {
            if let Ok(ev) = js::string(env, "abort") {
                let _ = js::call_method(env, sig, c"removeEventListener", &[ev, listener]);
            }
            out = Some(sig);
        }
        js::unreference(env, self.signal);
        js::unreference(env, self.listener);
        out
    }
}

type OnAbort = Box<dyn FnMut(sys::napi_env, sys::napi_value)>;

/// Calls `f(env, signal)` on the JS thread when `signal` fires (at most once).
pub fn listen(
    env: sys::napi_env,
    signal: JsValue,
    f: impl FnMut(sys::napi_env, sys::napi_value) + 'static,
) -> napi::Result<Hook> {
    let data: *mut OnAbort = Box::into_raw(Box::new(Box::new(f)));
    let mut func = ptr::null_mut();
    // SAFETY: env is live; data outlives the function (freed by its finalizer).
    let st = unsafe {
        sys::napi_create_function(
            env,
            c"onabort".as_ptr(),
            7,
            Some(on_abort),
            data.cast(),
            &mut func,
        )
    };
    if st != sys::Status::napi_ok {
        // SAFETY: the function was not created, so nothing else owns data.
        drop(unsafe { Box::from_raw(data) });
        check(st)?;
    }
    // SAFETY: func is a live function; free_data frees data once, when func is collected.
    let st = unsafe {
        sys::napi_add_finalizer(
            env,
            func,
            data.cast(),
            Some(free_data),
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    if st != sys::Status::napi_ok {
        // SAFETY: no finalizer was attached, so data is still ours; the
        // function was never handed to JS, so its callback never runs.
        drop(unsafe { Box::from_raw(data) });
        check(st)?;
    }
    let opts = js::object(env)?;
    js::define(env, opts, c"once", js::boolean(env, true)?)?;
    js::call_method(
        env,
        signal.raw,
        c"addEventListener",
        &[js::string(env, "abort")?, func, opts],
    )?;
    Ok(Hook {
        signal: js::reference(env, signal.raw)?,
        listener: js::reference(env, func)?,
    })
}

/// Finalizer of the abort listener function made in `listen()`.
///
/// # Safety
/// Only Node calls it, once, as that function's `napi_finalize`, with the
/// `data` it was created with.
unsafe extern "C" fn free_data(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: data is the Box<OnAbort> attached in listen(); Node runs a
    // function's finalizer once, after its last call, so nothing else frees
    // it or reads it afterwards.
    drop(unsafe { Box::from_raw(data as *mut OnAbort) });
}

/// The abort listener's body (a `napi_callback`).
///
/// # Safety
/// Only Node calls it, as the callback of the function made in `listen()`,
/// with that call's `env` and `info`.
unsafe extern "C" fn on_abort(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    let mut data = ptr::null_mut();
    let mut this = ptr::null_mut();
    let mut argc = 0usize;
    // SAFETY: called by Node with a valid env and info; no arguments are
    // copied. `this` is the signal (the EventTarget dispatching the event).
    unsafe { sys::napi_get_cb_info(env, info, &mut argc, ptr::null_mut(), &mut this, &mut data) };
    // SAFETY: data is the OnAbort this function was created with; its
    // finalizer cannot have run while the function is being called.
    let f = unsafe { &mut *(data as *mut OnAbort) };
    f(env, this);
    js::undefined(env).unwrap_or(ptr::null_mut())
}
