//! `linux-fd-node`: the Node-API binding of `linux-fd-core`.
//!
//! Thin by design: check arguments, call the core, map errors. The `///`
//! comments on `#[napi]` items become the JSDoc in `index.d.ts`.

#![deny(unsafe_op_in_unsafe_fn)]
// napi-derive compiles `#[napi]` items out of `cfg(test)` builds, which would
// leave every helper they call looking dead to clippy --all-targets.
#![cfg_attr(test, allow(dead_code))]

mod abort;
mod args;
mod env;
mod error;
mod eventfd;
mod fast;
mod fcntl;
mod helper;
mod job;
mod js;
mod lock;
mod memfd;
mod timerfd;
mod uv;
mod wait;
mod waitable;
