//! Argument checks shared by every function: one place that decides what an fd,
//! an integer or a u64 is, and which error a bad one gets.

use std::os::fd::{BorrowedFd, RawFd};

use napi::{sys, Result, ValueType};

use crate::error;
use crate::js::{fmt_num, JsValue};

/// Largest integer a JS number holds exactly: 2^53-1.
pub const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// Reads an fd argument: a non-negative integer, or an object with a numeric
/// `fd` property (an `fs.promises` FileHandle).
///
/// # Errors
/// `TypeError` `ERR_INVALID_ARG_TYPE` for other types; `RangeError`
/// `ERR_OUT_OF_RANGE` for negative, fractional or over-`INT_MAX` numbers.
#[inline]
pub fn fd(v: JsValue) -> Result<RawFd> {
    if let Some(d) = v.as_f64() {
        return fd_number(v.env, d);
    }
    fd_slow(v)
}

#[cold]
fn fd_slow(v: JsValue) -> Result<RawFd> {
    if v.type_of()? == ValueType::Object {
        let inner = v.get(c"fd")?;
        if let Some(d) = inner.as_f64() {
            return fd_number(v.env, d);
        }
    }
    Err(error::invalid_type(
        v.env,
        "fd",
        "of type number or an object with a numeric fd property",
        &v,
    ))
}

#[inline]
fn fd_number(env: sys::napi_env, d: f64) -> Result<RawFd> {
    if (0.0..=i32::MAX as f64).contains(&d) && d == d.trunc() {
        Ok(d as RawFd)
    } else {
        Err(error::out_of_range(
            env,
            "fd",
            ">= 0 && <= 2147483647 and an integer",
            &fmt_num(d),
        ))
    }
}

/// Borrows a raw fd number for the length of one syscall.
///
/// The number is only handed to the kernel, which answers `EBADF` if it is not
/// open; nothing here reads or writes through it as Rust memory.
#[inline]
pub fn borrow(fd: RawFd) -> BorrowedFd<'static> {
    // BorrowedFd's contract is that the fd stays open while borrowed; a closed
    // or recycled number only gets the kernel's own EBADF, or acts on that fd,
    // exactly as the same call from C or Python does.
    // SAFETY: fd >= 0 (checked by `fd`), and it only ever reaches syscalls.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// Reads an integer argument in `min..=max`; `undefined` gives `default`.
pub fn int(v: JsValue, name: &str, min: i64, max: i64, default: Option<i64>) -> Result<i64> {
    if let Some(d) = v.as_f64() {
        if d == d.trunc() && d >= min as f64 && d <= max as f64 {
            return Ok(d as i64);
        }
        let range = format!(">= {min} && <= {max} and an integer");
        return Err(error::out_of_range(v.env, name, &range, &fmt_num(d)));
    }
    if let Some(def) = default {
        if v.is_undefined() {
            return Ok(def);
        }
    }
    Err(error::invalid_type(v.env, name, "of type number", &v))
}

/// Reads a u64 argument given as a safe-integer `number` or a `bigint`, in `0..=max`.
#[inline]
pub fn u64_in(v: JsValue, name: &str, max: u64) -> Result<u64> {
    if let Some(d) = v.as_f64() {
        if (0.0..=MAX_SAFE_INTEGER).contains(&d) && d == d.trunc() && (d as u64) <= max {
            return Ok(d as u64);
        }
        return Err(u64_range(v.env, name, max, &fmt_num(d)));
    }
    u64_slow(v, name, max)
}

#[cold]
fn u64_slow(v: JsValue, name: &str, max: u64) -> Result<u64> {
    if let Some((u, lossless)) = v.as_bigint_u64() {
        if lossless && u <= max {
            return Ok(u);
        }
        let shown = match v.as_bigint_i64() {
            Some((i, true)) => format!("{i}n"),
            _ if lossless => format!("{u}n"),
            _ => "a bigint out of range".to_string(),
        };
        return Err(u64_range(v.env, name, max, &shown));
    }
    Err(error::invalid_type(v.env, name, "of type number or bigint", &v))
}

fn u64_range(env: sys::napi_env, name: &str, max: u64, shown: &str) -> napi::Error {
    let range = format!(">= 0 && <= {max} (a safe integer or a bigint)");
    error::out_of_range(env, name, &range, shown)
}

/// Reads an optional boolean (`undefined` gives `default`).
pub fn bool_or(v: JsValue, name: &str, default: bool) -> Result<bool> {
    if let Some(b) = v.as_bool() {
        return Ok(b);
    }
    if v.is_undefined() {
        return Ok(default);
    }
    Err(error::invalid_type(v.env, name, "of type boolean", &v))
}

/// Reads a string argument.
pub fn string(v: JsValue, name: &str) -> Result<String> {
    match v.as_string() {
        Some(s) => Ok(s),
        None => Err(error::invalid_type(v.env, name, "of type string", &v)),
    }
}

/// Reads an options object: `undefined`/`null` give `None`, an object gives
/// `Some`, anything else is a `TypeError`.
pub fn options(v: JsValue, name: &str) -> Result<Option<JsValue>> {
    match v.type_of()? {
        ValueType::Undefined | ValueType::Null => Ok(None),
        ValueType::Object => Ok(Some(v)),
        _ => Err(error::invalid_type(v.env, name, "of type object", &v)),
    }
}

/// Reads `{ adopt = false }` of a `fromFd(fd, options)` call.
pub fn adopt_flag(opts: JsValue) -> Result<bool> {
    match options(opts, "options")? {
        Some(o) => bool_or(o.get(c"adopt")?, "options.adopt", false),
        None => Ok(false),
    }
}

/// Takes `raw` for a new object: adopts it (`adopt`), or duplicates it with
/// `F_DUPFD_CLOEXEC` so the caller keeps its own. The caller has checked that
/// `raw` is open and of the right kind.
pub fn own_fd(env: sys::napi_env, raw: RawFd, adopt: bool) -> Result<std::os::fd::OwnedFd> {
    if adopt {
        // SAFETY: the caller hands over this open fd; only the new object closes it.
        Ok(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) })
    } else {
        linux_fd_core::fd::dup_cloexec(borrow(raw)).map_err(|e| error::sys(env, e))
    }
}
