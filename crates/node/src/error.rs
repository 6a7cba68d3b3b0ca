//! Every error the binding gives JS is built here, in the shape of Node's own
//! fs errors (see DESIGN.md, "Errors"):
//! - OS errors: `Error` with `code` (`'EAGAIN'`), negative `errno`, `syscall`,
//!   and the message `'EAGAIN: resource temporarily unavailable, eventfd_read'`.
//! - Bad arguments: `TypeError` `ERR_INVALID_ARG_TYPE`, `RangeError` `ERR_OUT_OF_RANGE`.
//! - Use after close: `Error` `ERR_CLOSED`. Abort: `AbortError` / `ABORT_ERR`.
//!
//! napi-rs's own `From<io::Error>` would give `code: 'GenericFailure'` and lose
//! the errno, so the binding never lets napi-rs build an error: it throws the
//! object itself and hands napi-rs a `PendingException`, which napi-rs passes
//! through untouched.

use std::ptr;

use linux_fd_core::Error as SysError;
use napi::sys;

use crate::js::{self, check};

/// Which constructor an error is made with.
#[derive(Clone, Copy)]
pub enum Kind {
    Error,
    TypeError,
    RangeError,
}

/// Creates an error object of `kind` with `code` and `message`.
///
/// `code` is defined as an own property (`js::define`), not passed to
/// `napi_create_error`, which would *set* it and so run any `code` setter on
/// `Object.prototype`: user JS in the middle of a call, which could re-enter
/// the object (a `close()` from there aborted the process on a `RefCell`
/// borrow, found by review).
pub fn make(env: sys::napi_env, kind: Kind, code: &str, message: &str) -> napi::Result<sys::napi_value> {
    let msg_v = js::string(env, message)?;
    let mut out = ptr::null_mut();
    // SAFETY: env is live; msg_v is a JS string of this env; a null code is allowed.
    let st = unsafe {
        match kind {
            Kind::Error => sys::napi_create_error(env, ptr::null_mut(), msg_v, &mut out),
            Kind::TypeError => sys::napi_create_type_error(env, ptr::null_mut(), msg_v, &mut out),
            Kind::RangeError => sys::napi_create_range_error(env, ptr::null_mut(), msg_v, &mut out),
        }
    };
    check(st)?;
    js::define(env, out, c"code", js::string(env, code)?)?;
    Ok(out)
}

/// The JS value of an OS error (for promise rejections).
pub fn sys_value(env: sys::napi_env, e: SysError) -> napi::Result<sys::napi_value> {
    let err = make(env, Kind::Error, &e.code(), &e.message())?;
    add_errno(env, err, e.errno as i32, e.syscall)
}

/// Defines Node's `errno` (negative) and `syscall` on an error object.
fn add_errno(
    env: sys::napi_env,
    err: sys::napi_value,
    errno: i32,
    syscall: &str,
) -> napi::Result<sys::napi_value> {
    js::define(env, err, c"errno", js::number(env, -errno as f64)?)?;
    js::define(env, err, c"syscall", js::string(env, syscall)?)?;
    Ok(err)
}

/// Throws an OS error.
#[cold]
pub fn sys(env: sys::napi_env, e: SysError) -> napi::Error {
    match sys_value(env, e) {
        Ok(v) => js::throw(env, v),
        Err(err) => err,
    }
}

/// Throws `TypeError [ERR_INVALID_ARG_TYPE]: The "name" argument must be <expected>. Received …`.
#[cold]
pub fn invalid_type(env: sys::napi_env, name: &str, expected: &str, received: &js::JsValue) -> napi::Error {
    let msg = format!(
        "The \"{name}\" argument must be {expected}. {}",
        received.describe()
    );
    throw_new(env, Kind::TypeError, "ERR_INVALID_ARG_TYPE", &msg)
}

/// Throws `RangeError [ERR_OUT_OF_RANGE]: The value of "name" is out of range. It must be <range>. Received <v>`.
#[cold]
pub fn out_of_range(env: sys::napi_env, name: &str, range: &str, received: &str) -> napi::Error {
    let msg = format!("The value of \"{name}\" is out of range. It must be {range}. Received {received}");
    throw_new(env, Kind::RangeError, "ERR_OUT_OF_RANGE", &msg)
}

/// Throws `TypeError [ERR_INVALID_ARG_VALUE]` for a value of the right type but not an accepted one.
#[cold]
pub fn invalid_value(env: sys::napi_env, name: &str, reason: &str) -> napi::Error {
    let msg = format!("The argument '{name}' {reason}");
    throw_new(env, Kind::TypeError, "ERR_INVALID_ARG_VALUE", &msg)
}

/// The value of `Error [ERR_CLOSED]` for an object used after `close()`.
pub fn closed_value(env: sys::napi_env, what: &str) -> napi::Result<sys::napi_value> {
    make(env, Kind::Error, "ERR_CLOSED", &format!("{what} is closed"))
}

/// Throws `Error [ERR_CLOSED]`.
#[cold]
pub fn closed(env: sys::napi_env, what: &str) -> napi::Error {
    match closed_value(env, what) {
        Ok(v) => js::throw(env, v),
        Err(e) => e,
    }
}

/// Creates and throws a new error.
#[cold]
pub fn throw_new(env: sys::napi_env, kind: Kind, code: &str, message: &str) -> napi::Error {
    match make(env, kind, code, message) {
        Ok(v) => js::throw(env, v),
        Err(e) => e,
    }
}

/// `TypeError [ERR_ILLEGAL_CONSTRUCTOR]` for `new` on a class whose objects
/// only come from factories (napi-rs's own error for a class without a
/// constructor is a plain `Error` with no `code`).
pub fn illegal_constructor(env: sys::napi_env, class: &str, instead: &str) -> napi::Error {
    throw_new(
        env,
        Kind::TypeError,
        "ERR_ILLEGAL_CONSTRUCTOR",
        &format!("Illegal constructor: {class} objects come from {instead}"),
    )
}

/// The value of the `EBADF` error of an object whose fd `fd` was closed
/// outside the package (e.g. `fs.closeSync(obj.fd)`); `syscall` is the call
/// that found out. The object has given the number up without closing it.
pub fn fd_lost_value(
    env: sys::napi_env,
    what: &str,
    fd: std::os::fd::RawFd,
    syscall: &str,
) -> napi::Result<sys::napi_value> {
    let msg = format!(
        "EBADF: bad file descriptor, {syscall}: fd {fd} of this {what} was closed outside linux-fd \
         (e.g. by fs.closeSync(obj.fd)); the {what} gave the number up without closing it and is unusable"
    );
    let err = make(env, Kind::Error, "EBADF", &msg)?;
    add_errno(env, err, libc::EBADF, syscall)
}

/// Throws the `EBADF` error of [`fd_lost_value`].
#[cold]
pub fn fd_lost(env: sys::napi_env, what: &str, fd: std::os::fd::RawFd, syscall: &str) -> napi::Error {
    match fd_lost_value(env, what, fd, syscall) {
        Ok(v) => js::throw(env, v),
        Err(e) => e,
    }
}
