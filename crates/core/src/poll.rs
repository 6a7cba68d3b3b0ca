//! Blocking waits by `poll(2)`.
//!
//! Node's `uv_poll_init` sets `O_NONBLOCK` on the open file description, so an
//! fd the binding ever waited on is non-blocking for every holder of it. Sync
//! "blocking" methods therefore never rely on the fd being blocking: they wait
//! for readiness with `poll(2)`, then make a non-blocking call, and loop on
//! `EAGAIN` (another waiter may have won the race).
//!
//! # References
//! - [`poll(2)`](https://man7.org/linux/man-pages/man2/poll.2.html)

use std::os::fd::BorrowedFd;

use nix::poll::{PollFd, PollFlags, PollTimeout};

use crate::error::{Errno, Error, Result};

/// Waits until `fd` is readable (or reports an error/hangup), retrying on `EINTR`.
///
/// # Errors
/// `EBADF`-like conditions come back as the `POLLNVAL` case mapped to `EBADF`.
pub fn wait_readable(fd: BorrowedFd<'_>) -> Result<()> {
    loop {
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {
                let revents = fds[0].revents().unwrap_or(PollFlags::empty());
                if revents.contains(PollFlags::POLLNVAL) {
                    return Err(Error::new(Errno::EBADF, "poll"));
                }
                return Ok(());
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::new(e, "poll")),
        }
    }
}

/// Waits up to `timeout_ms` milliseconds (-1: forever) until `fd` is
/// readable (or reports an error/hangup); `Ok(false)` on timeout. Retries on
/// `EINTR` with the same timeout (a signal storm can only lengthen the wait).
pub fn wait_readable_for(fd: BorrowedFd<'_>, timeout_ms: i32) -> Result<bool> {
    let timeout = if timeout_ms < 0 {
        PollTimeout::NONE
    } else {
        PollTimeout::try_from(timeout_ms).unwrap_or(PollTimeout::MAX)
    };
    loop {
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, timeout) {
            Ok(0) => return Ok(false),
            Ok(_) => {
                let revents = fds[0].revents().unwrap_or(PollFlags::empty());
                if revents.contains(PollFlags::POLLNVAL) {
                    return Err(Error::new(Errno::EBADF, "poll"));
                }
                return Ok(true);
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::new(e, "poll")),
        }
    }
}

/// Runs the non-blocking `op` until it stops failing with `EAGAIN`, waiting
/// for readability with `poll(2)` in between.
pub fn blocking<T>(fd: BorrowedFd<'_>, mut op: impl FnMut() -> Result<T>) -> Result<T> {
    loop {
        match op() {
            Err(e) if e.errno == Errno::EAGAIN => wait_readable(fd)?,
            other => return other,
        }
    }
}
