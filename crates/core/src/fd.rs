//! Generic fd plumbing shared by every primitive: duplicating with
//! close-on-exec, switching to non-blocking, asking the kernel what an fd is,
//! and noticing an fd that was closed behind its owner's back
//! ([`FdIdentity`], [`GuardedFd`]).
//!
//! # References
//! - [`fcntl(2)`](https://man7.org/linux/man-pages/man2/fcntl.2.html)
//! - [`proc_pid_fdinfo(5)`](https://man7.org/linux/man-pages/man5/proc_pid_fdinfo.5.html)
//! - [`fstat(2)`](https://man7.org/linux/man-pages/man2/fstat.2.html)

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};

use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};

use crate::error::{Context, Errno, Result};

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

/// Sets `FD_CLOEXEC` on `fd` (one `F_GETFD`, and an `F_SETFD` only if the
/// flag is missing). `EBADF` for a number that is not open.
/// @see https://man7.org/linux/man-pages/man2/fcntl.2.html
pub fn set_cloexec(fd: BorrowedFd<'_>) -> Result<()> {
    let flags = FdFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFD).syscall("fcntl")?);
    if !flags.contains(FdFlag::FD_CLOEXEC) {
        fcntl(fd, FcntlArg::F_SETFD(flags | FdFlag::FD_CLOEXEC)).syscall("fcntl")?;
    }
    Ok(())
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

/// Which file an fd number refers to, as far as one `fstat(2)` can tell:
/// device, inode and file type (`st_mode & S_IFMT`).
///
/// Recorded when an object takes its fd and compared when it closes it, so
/// that an fd closed behind the object's back (`fs.closeSync(obj.fd)`) and
/// whose number was then reused for another file is not closed a second time.
///
/// # Limits
/// - **eventfd, timerfd, epoll, signalfd, … share one anonymous inode**
///   (`anon_inode:[eventfd]` and friends are all the same inode of the same
///   device, with file type 0), so the identity of an eventfd cannot tell it
///   from another eventfd, a timerfd or an epoll fd. Only a reuse by a
///   regular file, a pipe, a socket, a memfd, … is caught for them.
/// - Files with their own inode (memfds, locked files) are told apart
///   exactly, except that reopening *the same file* (the same path, or
///   `/proc/self/fd/N` of the same memfd) gives the same identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdIdentity {
    dev: u64,
    ino: u64,
    file_type: u32,
}

/// What [`FdIdentity::check`] found at a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Open, and (as far as `fstat` can tell) still the recorded file.
    Same,
    /// Not open (`EBADF`): closed behind the owner's back.
    Closed,
    /// Open, but another file: closed behind the owner's back and reused.
    Different,
}

impl FdIdentity {
    /// Builds an identity from the fields of a `stat`.
    pub fn from_parts(dev: u64, ino: u64, mode: u32) -> Self {
        Self {
            dev,
            ino,
            file_type: mode & libc::S_IFMT,
        }
    }

    /// `fstat(fd)` and keeps what identifies the file.
    pub fn of(fd: BorrowedFd<'_>) -> Result<Self> {
        Self::of_raw(fd.as_raw_fd())
    }

    /// `fstat` on a number that may no longer be open, which is why this
    /// takes a `RawFd` and not a `BorrowedFd` (whose contract is an open fd).
    fn of_raw(raw: RawFd) -> Result<Self> {
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: fstat only writes the stat buffer, which is valid for
        // writes; a closed or foreign number only gets EBADF or that file's
        // metadata, never a change to it.
        let rc = unsafe { libc::fstat(raw, st.as_mut_ptr()) };
        if rc != 0 {
            return Err(crate::Error::new(Errno::last(), "fstat"));
        }
        // SAFETY: fstat returned 0, so it filled the whole buffer.
        let st = unsafe { st.assume_init() };
        Ok(Self::from_parts(st.st_dev, st.st_ino, st.st_mode))
    }

    /// Whether `raw` is still open and still this file (one `fstat`).
    ///
    /// An `fstat` failure other than `EBADF` (which needs an open fd, so it
    /// cannot be a closed one) counts as [`Check::Same`].
    pub fn check(&self, raw: RawFd) -> Check {
        match Self::of_raw(raw) {
            Ok(now) if now == *self => Check::Same,
            Ok(_) => Check::Different,
            Err(e) if e.errno == Errno::EBADF => Check::Closed,
            Err(_) => Check::Same,
        }
    }
}

/// Gives up `fd` without closing it (for a number that is no longer ours).
pub fn forget(fd: OwnedFd) -> RawFd {
    fd.into_raw_fd()
}

/// An owned fd that survives being closed behind its owner's back.
///
/// It records the fd's [`FdIdentity`] when it is created (one `fstat`) and:
/// - [`GuardedFd::confirm_lost`], called after a syscall on the fd failed
///   with `EBADF`, checks (one `fstat`) whether the fd really is gone; if so
///   it forgets the number without closing it and remembers that it was lost.
/// - [`GuardedFd::take`] / [`GuardedFd::close`] / `Drop` check the identity
///   (one `fstat`) and close the fd only if it is still the recorded file;
///   otherwise they forget the number, which now belongs to someone else.
///
/// Nothing is checked on ordinary calls: a number closed *and reused* before
/// any call failed is used as it is, except at close. See [`FdIdentity`] for
/// what the identity cannot tell apart.
#[derive(Debug)]
pub struct GuardedFd {
    fd: Option<OwnedFd>,
    identity: Option<FdIdentity>,
    lost: Option<RawFd>,
}

/// What [`GuardedFd::take`] found.
#[derive(Debug)]
pub enum Taken {
    /// Still ours: the caller now owns (and will close) it.
    Ours(OwnedFd),
    /// Closed behind our back (now or earlier); the number was forgotten.
    Lost(RawFd),
    /// Already closed by its owner.
    Closed,
}

impl GuardedFd {
    /// Takes ownership of `fd` and records its identity. If `fstat` fails
    /// (it practically cannot on an open fd), nothing is recorded and
    /// closing falls back to an unchecked `close`.
    pub fn new(fd: OwnedFd) -> Self {
        let identity = FdIdentity::of(fd.as_fd()).ok();
        Self {
            fd: Some(fd),
            identity,
            lost: None,
        }
    }

    /// As [`GuardedFd::new`], for an eventfd or timerfd this process has just
    /// created: these all share the anonymous inode's identity, so it is read
    /// with `fstat` once per process and reused, saving one syscall per
    /// object. Only for fds known to be eventfds/timerfds.
    ///
    /// The sharing is checked once, against a second, fresh eventfd: on a
    /// kernel that gives each such file its own inode, every object gets
    /// its own `fstat` instead (sharing a wrong identity would make every
    /// `close()` forget the fd instead of closing it).
    pub fn new_anon(fd: OwnedFd) -> Self {
        static ANON: std::sync::OnceLock<Option<FdIdentity>> = std::sync::OnceLock::new();
        let shared = *ANON.get_or_init(|| {
            let first = FdIdentity::of(fd.as_fd()).ok()?;
            let probe = crate::eventfd::eventfd(0, crate::eventfd::EfdFlags::EFD_CLOEXEC).ok()?;
            (FdIdentity::of(probe.as_fd()).ok()? == first).then_some(first)
        });
        match shared {
            Some(identity) => Self {
                fd: Some(fd),
                identity: Some(identity),
                lost: None,
            },
            None => Self::new(fd),
        }
    }

    /// The fd while it is open and ours.
    #[inline]
    pub fn get(&self) -> Option<&OwnedFd> {
        self.fd.as_ref()
    }

    /// The fd number while it is open and ours.
    #[inline]
    pub fn raw(&self) -> Option<RawFd> {
        self.fd.as_ref().map(|f| f.as_raw_fd())
    }

    /// The number the fd had if it was found closed behind our back.
    pub fn lost(&self) -> Option<RawFd> {
        self.lost
    }

    /// The recorded identity, if `fstat` succeeded at creation.
    pub fn identity(&self) -> Option<FdIdentity> {
        self.identity
    }

    fn check(&self, raw: RawFd) -> Check {
        match &self.identity {
            Some(id) => id.check(raw),
            None => Check::Same,
        }
    }

    /// Call after a syscall on the fd failed with `EBADF` (or with an error
    /// such as `EINVAL` that a reused number of another kind gives). Returns `true` if
    /// the fd is gone (closed, or closed and reused): it is then forgotten,
    /// never closed. Returns `false` if it is still open and the same file
    /// (the `EBADF` meant something else, such as a write on a read-only fd).
    pub fn confirm_lost(&mut self) -> bool {
        let Some(raw) = self.raw() else {
            return self.lost.is_some();
        };
        if self.check(raw) == Check::Same {
            return false;
        }
        if let Some(fd) = self.fd.take() {
            forget(fd);
        }
        self.lost = Some(raw);
        true
    }

    /// Hands the fd over if it is still ours (after one identity check);
    /// forgets it if it was closed behind our back.
    pub fn take(&mut self) -> Taken {
        let Some(fd) = self.fd.take() else {
            return match self.lost {
                Some(raw) => Taken::Lost(raw),
                None => Taken::Closed,
            };
        };
        let raw = fd.as_raw_fd();
        if self.check(raw) == Check::Same {
            return Taken::Ours(fd);
        }
        forget(fd);
        self.lost = Some(raw);
        Taken::Lost(raw)
    }

    /// Closes the fd if it is still ours; see [`GuardedFd::take`]. Returns
    /// the number if the fd was found closed behind our back (now or
    /// earlier), in which case nothing was closed.
    pub fn close(&mut self) -> Option<RawFd> {
        match self.take() {
            Taken::Ours(fd) => {
                drop(fd);
                None
            }
            Taken::Lost(raw) => Some(raw),
            Taken::Closed => None,
        }
    }
}

impl Drop for GuardedFd {
    fn drop(&mut self) {
        let _ = self.take();
    }
}
