//! `flock(2)` and Python's `fcntl.lockf`: the blocking lock calls of the
//! low-level API. The event-loop-friendly waits are in [`crate::lockwait`].
//!
//! `lockf` makes classic POSIX record locks (`F_SETLK`/`F_SETLKW`), which
//! belong to the *process* and are dropped when it closes *any* fd of the
//! file: exactly what Python's `fcntl.lockf` does, and why `lockFile` never
//! uses them.
//!
//! # References
//! - [`flock(2)`](https://man7.org/linux/man-pages/man2/flock.2.html)
//! - [`fcntl(2)`, "Advisory record locking"](https://man7.org/linux/man-pages/man2/fcntl.2.html)
//! - [`lockf(3)`](https://man7.org/linux/man-pages/man3/lockf.3.html)

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::fcntl::{fcntl, FcntlArg};

use crate::error::{retry_eintr, Context, Errno, Error, Result};

/// `flock(fd, operation)`—`LOCK_SH`, `LOCK_EX` or `LOCK_UN`, optionally `|
/// LOCK_NB`. Blocks without `LOCK_NB`; a conflict with it is `EWOULDBLOCK`
/// (= `EAGAIN`).
pub fn flock(fd: BorrowedFd<'_>, operation: i32) -> Result<()> {
    // SAFETY: flock only reads its two integer arguments.
    retry_eintr(|| Errno::result(unsafe { libc::flock(fd.as_raw_fd(), operation) }))
        .map(drop)
        .syscall("flock")
}

/// What [`lockf`] was asked for, decoded as CPython's `fcntl_lockf_impl` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockfOp {
    /// `LOCK_UN` (exactly): `F_UNLCK`.
    Unlock,
    /// `LOCK_SH` set: `F_RDLCK`.
    Shared,
    /// `LOCK_EX` set: `F_WRLCK`.
    Exclusive,
}

/// Decodes a `lockf` command: `None` for an unrecognized one (Python's
/// `ValueError: unrecognized lockf argument`).
pub fn lockf_op(cmd: i32) -> Option<LockfOp> {
    if cmd == libc::LOCK_UN {
        Some(LockfOp::Unlock)
    } else if cmd & libc::LOCK_SH != 0 {
        Some(LockfOp::Shared)
    } else if cmd & libc::LOCK_EX != 0 {
        Some(LockfOp::Exclusive)
    } else {
        None
    }
}

/// Python's `fcntl.lockf(fd, cmd, len, start, whence)`: a POSIX record lock
/// with `F_SETLK` when `cmd` has `LOCK_NB`, else the blocking `F_SETLKW`.
///
/// # Errors
/// `EINVAL` for an unrecognized `cmd`; `EACCES` or `EAGAIN` on a conflict
/// with `LOCK_NB`; `EDEADLK`; `EBADF` (the fd's access mode does not allow
/// the lock type).
pub fn lockf(fd: BorrowedFd<'_>, cmd: i32, len: i64, start: i64, whence: i32) -> Result<()> {
    let op = lockf_op(cmd).ok_or(Error::new(Errno::EINVAL, "fcntl"))?;
    // SAFETY: libc::flock is a plain C struct; all-zero is a valid value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = match op {
        LockfOp::Unlock => libc::F_UNLCK,
        LockfOp::Shared => libc::F_RDLCK,
        LockfOp::Exclusive => libc::F_WRLCK,
    } as libc::c_short;
    fl.l_whence = whence as libc::c_short;
    fl.l_start = start as libc::off_t;
    fl.l_len = len as libc::off_t;
    retry_eintr(|| {
        if cmd & libc::LOCK_NB != 0 {
            fcntl(fd, FcntlArg::F_SETLK(&fl))
        } else {
            fcntl(fd, FcntlArg::F_SETLKW(&fl))
        }
    })
    .map(drop)
    .syscall("fcntl")
}

/// A lock that [`test_ofd`] found in the way: `F_OFD_GETLK`'s answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// A shared (read) lock; else an exclusive (write) one.
    pub shared: bool,
    /// The process that owns a classic POSIX record lock (0 if it is in
    /// another PID namespace); -1 for an OFD lock, which belongs to an open
    /// file description, not a process.
    pub pid: i32,
    /// Its first byte.
    pub start: i64,
    /// Its length; 0 = to the end of the file, however it grows.
    pub len: i64,
}

/// `fcntl(fd, F_OFD_GETLK)`: the first lock that would stop an OFD lock
/// (shared or exclusive) of `len` bytes from `start` (`len` 0 = to the end
/// of the file) through `fd`'s open file description, or `None` if it could
/// be placed. Takes nothing. The kernel reports OFD and POSIX record locks
/// (they conflict with each other), never `flock(2)` locks (a separate
/// family), nor locks of `fd`'s own description; `fd` may be open for any
/// access.
///
/// # Errors
/// `EINVAL` (a negative `start` or `len`, or a range past the largest
/// offset), `EBADF`.
pub fn test_ofd(fd: BorrowedFd<'_>, shared: bool, start: i64, len: i64) -> Result<Option<Conflict>> {
    // SAFETY: libc::flock is a plain C struct; all-zero is a valid value
    // (and l_pid must be 0 for the OFD commands).
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = if shared { libc::F_RDLCK } else { libc::F_WRLCK } as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = start as libc::off_t;
    fl.l_len = len as libc::off_t;
    retry_eintr(|| fcntl(fd, FcntlArg::F_OFD_GETLK(&mut fl))).syscall("fcntl")?;
    Ok((fl.l_type != libc::F_UNLCK as libc::c_short).then_some(Conflict {
        shared: fl.l_type == libc::F_RDLCK as libc::c_short,
        pid: fl.l_pid,
        start: fl.l_start,
        len: fl.l_len,
    }))
}
