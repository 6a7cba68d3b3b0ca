//! External `ArrayBuffer`s over memory the caller owns (a `MemFile` mapping):
//! JavaScript reads and writes that memory itself, without a copy, and a
//! release function frees it when the buffer is collected.
//!
//! Raw Node-API, because napi-rs's `ArrayBuffer::from_external` does not fit
//! (docs/design.md, "Layers"):
//! - where the runtime forbids external buffers (Electron's sandbox) it falls
//!   back to a *copy*, which for shared memory is silently wrong: a write
//!   into the copy reaches no other process. Here that is an error instead;
//! - when the runtime refuses the buffer, nothing says whether the finalizer
//!   already ran. Node 20 runs it at once for a buffer over its 4 GiB limit
//!   (`node::Buffer::New`), so freeing the memory again was a double free.
//!   Here the release function runs exactly once whichever way it went.

use std::cell::RefCell;
use std::ffi::c_void;
use std::ptr;
use std::rc::Rc;

use napi::sys;

/// Why [`create`] made no buffer. The release function has run in both cases.
pub enum ExtBufError {
    /// The runtime forbids external buffers (`napi_no_external_buffers_allowed`).
    NotAllowed,
    /// Any other failure, such as a length over the runtime's largest buffer.
    Failed(napi::Error),
}

/// The release function, shared by [`create`] and the finalizer so that it
/// runs once whichever of them gets to it.
struct Release(RefCell<Option<Box<dyn FnOnce()>>>);

impl Release {
    fn run(&self) {
        let f = self.0.borrow_mut().take();
        if let Some(f) = f {
            f();
        }
    }
}

/// Finalizer of a buffer made by [`create`].
///
/// # Safety
/// Only Node calls it, once, with the `hint` given in [`create`].
unsafe extern "C" fn finalize(_env: sys::napi_env, _data: *mut c_void, hint: *mut c_void) {
    // SAFETY: hint is the Rc::into_raw made in create(); Node calls this once.
    let rel = unsafe { Rc::from_raw(hint as *const Release) };
    rel.run();
}

/// An `ArrayBuffer` of `env` over `len` bytes at `data`, with no copy.
/// `release` runs once: when the buffer is collected (or the environment is
/// torn down), or before this returns an error.
///
/// # Safety
/// `data .. data + len` must be valid for reads and writes, and stay so until
/// `release` runs; nothing else may free it. `env` must be the live
/// environment of the current call.
pub unsafe fn create(
    env: sys::napi_env,
    data: *mut u8,
    len: usize,
    release: Box<dyn FnOnce()>,
) -> Result<sys::napi_value, ExtBufError> {
    let rel = Rc::new(Release(RefCell::new(Some(release))));
    let hint = Rc::into_raw(rel.clone());
    let mut ab = ptr::null_mut();
    // SAFETY: the caller guarantees data/len stay valid until `release`
    // runs; `finalize` takes `hint` (one strong count) and runs it.
    let st = unsafe {
        sys::napi_create_external_arraybuffer(
            env,
            data.cast(),
            len,
            Some(finalize),
            hint as *mut c_void,
            &mut ab,
        )
    };
    if st == sys::Status::napi_ok {
        return Ok(ab);
    }
    // Who owns `hint` now? If the runtime ran the finalizer while refusing
    // the buffer, it took that count back; `rel` and `hint` are the only
    // strong counts, so the count tells.
    if Rc::strong_count(&rel) > 1 {
        // SAFETY: the finalizer did not run, so `hint` is still ours, and it
        // never will run for a buffer that was not made.
        drop(unsafe { Rc::from_raw(hint) });
    }
    rel.run();
    if st == sys::Status::napi_no_external_buffers_allowed {
        Err(ExtBufError::NotAllowed)
    } else {
        Err(ExtBufError::Failed(napi::Error::new(
            napi::Status::from(st),
            "napi_create_external_arraybuffer failed",
        )))
    }
}
