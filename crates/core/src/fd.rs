//! Generic fd plumbing shared by every primitive: duplicating with
//! close-on-exec, switching to non-blocking, and asking the kernel what an fd is.
//!
//! # References
//! - [`fcntl(2)`](https://man7.org/linux/man-pages/man2/fcntl.2.html)
//! - [`proc_pid_fdinfo(5)`](https://man7.org/linux/man-pages/man5/proc_pid_fdinfo.5.html)

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};

use crate::error::{Context, Result};

/// `fcntl(fd, F_DUPFD_CLOEXEC, 0)`—Duplicates `fd`; the copy is close-on-exec.
///
/// Creating the copy with the flag (rather than setting it afterwards) leaves
/// no window in which a `fork` on another thread could inherit it.
pub fn dup_cloexec(fd: BorrowedFd<'_>) -> Result<OwnedFd> {
    let raw = fcntl(fd, FcntlArg::F_DUPFD_CLOEXEC(0)).syscall("fcntl")?;
    // SAFETY: F_DUPFD_CLOEXEC returned a new fd that nothing else owns.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) })
}

/// Sets `O_NONBLOCK` on the open file description behind `fd`.
///
/// The flag belongs to the description, so every dup and every process that
/// shares it sees it too (libuv's `uv_poll_init` does the same).
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> Result<()> {
    let flags = fcntl(fd, FcntlArg::F_GETFL).syscall("fcntl")?;
    let flags = OFlag::from_bits_retain(flags);
    if !flags.contains(OFlag::O_NONBLOCK) {
        fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).syscall("fcntl")?;
    }
    Ok(())
}

/// Whether `fd` has `FD_CLOEXEC`.
pub fn is_cloexec(fd: BorrowedFd<'_>) -> Result<bool> {
    let flags = fcntl(fd, FcntlArg::F_GETFD).syscall("fcntl")?;
    Ok(FdFlag::from_bits_retain(flags).contains(FdFlag::FD_CLOEXEC))
}

/// What `/proc/self/fdinfo/<fd>` says an fd is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdKind {
    /// An eventfd; `semaphore` is `None` on kernels that do not report it.
    EventFd { semaphore: Option<bool> },
    /// A timerfd.
    TimerFd,
    /// Anything else.
    Other,
    /// `/proc` is not available, so the kind is unknown.
    Unknown,
}

/// Reads `/proc/self/fdinfo/<fd>` to tell an eventfd or timerfd from other
/// files. Every eventfd and timerfd shares one anonymous inode, so `fstat`
/// cannot tell them apart; fdinfo can.
///
/// # Errors
/// `EBADF` if `fd` is not open.
pub fn kind(fd: BorrowedFd<'_>) -> Result<FdKind> {
    // Fails with EBADF for a closed fd, before /proc is consulted.
    fcntl(fd, FcntlArg::F_GETFD).syscall("fcntl")?;
    let text = match std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())) {
        Ok(t) => t,
        Err(_) => return Ok(FdKind::Unknown),
    };
    if text.lines().any(|l| l.starts_with("eventfd-count:")) {
        let semaphore = text
            .lines()
            .find_map(|l| l.strip_prefix("eventfd-semaphore:"))
            .map(|v| v.trim() == "1");
        return Ok(FdKind::EventFd { semaphore });
    }
    if text.lines().any(|l| l.starts_with("clockid:")) {
        return Ok(FdKind::TimerFd);
    }
    Ok(FdKind::Other)
}
