//! `linux-fd-node`: the thin Node-API binding of `linux-fd-core`.
//!
//! napi-derive generates every export (and `binding.d.ts`) from the `#[napi]`
//! free functions here. The public API (classes, argument checks, errors) is
//! the TypeScript in `src/`; this crate trusts no caller for memory safety but
//! leaves user-facing argument errors to that layer. The layers and their
//! rules are in docs/design.md.
//!
//! Modules: one per primitive (`channel`, `eventfd`, `memfd`, `timerfd`, `fcntl`,
//! `lock`), `handle` (the fd handle and the error convention), and `rt` at the
//! bottom (raw Node-API and libuv: watches, env teardown, threads).

#![deny(unsafe_op_in_unsafe_fn)]
// napi-derive compiles `#[napi]` items out of `cfg(test)` builds, which would
// leave every helper they call looking dead to clippy --all-targets.
#![cfg_attr(test, allow(dead_code))]

use napi::bindgen_prelude::Object;
use napi::{Env, JsValue};
use napi_derive::napi;
use rt::rawfn::Body;

mod channel;
mod eventfd;
mod fcntl;
mod handle;
mod lock;
mod memfd;
mod rt;
mod timerfd;

/// The raw hot-path functions (`rt/rawfn.rs`), defined on the exports when the
/// module loads in each environment. Typings: `crates/node/raw.d.ts`.
fn raw_functions() -> [(&'static str, Body); 17] {
    use rt::rawfn::{body1, body2, body3, body4, body5};
    // SAFETY: each function keeps no argument past its return, and the two
    // that take bytes (`fcntl_buf`, `ioctl_in_place`) take one slice each
    // (the contract of `body1` … `body5`).
    unsafe {
        [
            ("eventfdRead", body1(eventfd::read)),
            ("eventfdTryRead", body1(eventfd::try_read)),
            ("eventfdWrite", body2(eventfd::write_number)),
            ("semaphoreTryAcquire", body1(eventfd::try_acquire)),
            ("flock", body2(fcntl::flock)),
            ("fcntlBuf", body3(fcntl::fcntl_buf)),
            ("ioctlInPlace", body3(fcntl::ioctl_in_place)),
            ("timerfdSettimeNs", body4(timerfd::settime_ns)),
            ("timerfdSetNs", body4(timerfd::set_ns)),
            ("timerfdGettimeNs", body1(timerfd::gettime_ns)),
            ("eventfdOpen", body2(eventfd::open)),
            ("fdHandleFd", body1(handle::fd_handle_fd)),
            ("fdHandleClose", body1(handle::fd_handle_close)),
            ("lockDup", body5(lock::dup)),
            ("lockTry", body1(lock::try_lock)),
            ("lockDupTry", body2(lock::dup_try)),
            ("lockRelease", body1(lock::release)),
        ]
    }
}

#[napi(module_exports)]
pub fn register_raw_functions(exports: Object<'_>, env: Env) -> napi::Result<()> {
    rt::read_forbid();
    rt::env::drop_handles_at_teardown(env.raw())?;
    // SAFETY: napi-rs calls this once per environment at module load, on its
    // JS thread, with that environment's exports object.
    unsafe { rt::rawfn::register(env.raw(), exports.raw(), &raw_functions()) }
}
