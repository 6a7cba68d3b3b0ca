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
fn raw_functions() -> [(&'static str, Body); 15] {
    use rt::rawfn::{handle_to_i32, i32_bool_bool_i64_i64_to_handle, i64_bool_to_handle};
    [
        ("eventfdRead", Body::I32ToU64(eventfd::read)),
        ("eventfdWrite", Body::I32F64(eventfd::write_number)),
        ("semaphoreTryAcquire", Body::I32(eventfd::try_acquire)),
        ("flock", Body::I32I32(fcntl::flock)),
        ("fcntlBuf", Body::I32I32Bytes(fcntl::fcntl_buf)),
        ("ioctlInPlace", Body::I32I32Bytes(fcntl::ioctl_in_place)),
        ("timerfdSettimeNs", Body::I32I32U64U64ToPair(timerfd::settime_ns)),
        ("timerfdSetNs", Body::I32I32U64U64(timerfd::set_ns)),
        ("timerfdGettimeNs", Body::I32ToPair(timerfd::gettime_ns)),
        ("eventfdOpen", i64_bool_to_handle(eventfd::open)),
        ("fdHandleFd", handle_to_i32(handle::fd_handle_fd)),
        ("fdHandleClose", handle_to_i32(handle::fd_handle_close)),
        ("lockDup", i32_bool_bool_i64_i64_to_handle(lock::dup)),
        ("lockTry", handle_to_i32(lock::try_lock)),
        ("lockRelease", handle_to_i32(lock::release)),
    ]
}

#[napi(module_exports)]
pub fn register_raw_functions(exports: Object<'_>, env: Env) -> napi::Result<()> {
    // SAFETY: napi-rs calls this once per environment at module load, on its
    // JS thread, with that environment's exports object.
    unsafe { rt::rawfn::register(env.raw(), exports.raw(), &raw_functions()) }
}
