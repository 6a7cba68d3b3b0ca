//! `linux-fd-core`: the Linux file-descriptor primitives behind the `linux-fd`
//! npm package, in pure Rust on the `nix` crate. No Node-API here: the
//! `linux-fd-node` crate adapts these calls to JavaScript.
//!
//! One module per primitive. Every call returns [`Error`], which carries the
//! errno and the syscall's name. Every fd the core creates is an `OwnedFd`, so
//! dropping it closes it.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod channel;
pub mod error;
pub mod eventfd;
pub mod fcntl;
pub mod fd;
pub mod lock;
pub mod lockwait;
pub mod memfd;
pub mod poll;
pub mod pool;
pub mod timerfd;

pub use error::{Errno, Error, Result};
