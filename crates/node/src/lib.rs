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

mod channel;
mod eventfd;
mod fcntl;
mod handle;
mod lock;
mod memfd;
mod rt;
mod timerfd;
