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

/// One unit test at a time among those that open fds: one of them
/// (`poll::tests`) counts this process's fds, and any other's open fd,
/// even a header file read for a moment, made that count flaky (`left: 9,
/// right: 7` in a CI run; a 16 s wait once `fd::remote_fs_tests` read the
/// kernel headers beside it).
#[cfg(test)]
pub(crate) fn fd_test_serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}
