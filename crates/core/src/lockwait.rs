//! Whole-file and byte-range locks that can be waited for without blocking
//! anything but a dedicated thread, and cancelled at any moment.
//!
//! Two kinds, both tied to the *open file description* rather than to the
//! process, so closing some other fd of the same file never drops them (the
//! trap of classic POSIX `F_SETLK` locks):
//! - [`LockKind::Ofd`]: `fcntl(F_OFD_SETLK)` byte-range locks (Linux 3.15+),
//!   with `l_pid = 0` as the kernel requires.
//! - [`LockKind::Flock`]: `flock(2)` whole-file locks.
//!
//! Locks have no readiness notification, so [`lock_until`] retries a
//! non-blocking attempt every [`MIN_BACKOFF`] for [`FAST_PHASE`], then with
//! exponential backoff (doubling to [`MAX_BACKOFF`]), sleeping in `ppoll(2)` on a cancel eventfd: a cancel wakes
//! it at once, and a released lock is noticed within one backoff step. The
//! first step used to be 1 ms (with `poll(2)`'s millisecond timeout): a lock
//! handed back and forth between two processes then cost about 1 ms per
//! hand-off (bench/locks.js), as slow as proper-lockfile's polling; starting
//! the doubling at 50 µs only halved that, since by the time the lock comes
//! back the step has grown to the time already waited. Polling at 50 µs for
//! the first 2 ms costs at most 40 `fcntl` attempts per wait (about 1 µs
//! each) and nothing after. We
//! chose this over a blocking `F_OFD_SETLKW` because a blocked `fcntl` can
//! only be interrupted by a signal, and delivering one without a lost-wakeup
//! race needs signal handlers in a process (Node's) that owns its signals.
//! The cost: a waiter is not queued by the kernel, so under heavy contention
//! a blocking waiter in another process may win first.
//!
//! # References
//! - [`fcntl(2)`, "Open file description locks"](https://man7.org/linux/man-pages/man2/fcntl.2.html)
//! - [`flock(2)`](https://man7.org/linux/man-pages/man2/flock.2.html)

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg};
use nix::poll::{PollFd, PollFlags, PollTimeout};

use crate::error::{Context, Errno, Result};
use crate::eventfd::{self, EfdFlags};

/// The first sleep between two attempts of a waiting lock.
pub const MIN_BACKOFF: Duration = Duration::from_micros(50);

/// How long a wait polls every [`MIN_BACKOFF`] before backing off.
pub const FAST_PHASE: Duration = Duration::from_millis(2);

/// The longest sleep between two attempts of a waiting lock.
pub const MAX_BACKOFF: Duration = Duration::from_millis(8);

/// Which lock family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockKind {
    /// Open-file-description byte-range locks (`F_OFD_SETLK`).
    Ofd,
    /// Whole-file `flock(2)` locks.
    Flock,
}

/// What to lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockSpec {
    /// The lock family.
    pub kind: LockKind,
    /// Shared (read) or exclusive (write).
    pub shared: bool,
    /// First byte of the range (OFD only).
    pub start: i64,
    /// Length of the range; 0 means "to the end of the file, however it grows" (OFD only).
    pub len: i64,
}

fn ofd(spec: &LockSpec, l_type: libc::c_int) -> libc::flock {
    // SAFETY: libc::flock is a plain C struct; all-zero is a valid value,
    // and l_pid must be 0 for OFD locks.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = l_type as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = spec.start as libc::off_t;
    fl.l_len = spec.len as libc::off_t;
    fl
}

/// Tries once, without blocking. `Ok(false)` means another holder conflicts.
///
/// # Errors
/// `EBADF` (not open, or not open for reading/writing as the lock type
/// needs), `EINVAL` (bad range), `ENOLCK`, `EINTR`.
pub fn try_lock(fd: BorrowedFd<'_>, spec: &LockSpec) -> Result<bool> {
    let res = match spec.kind {
        LockKind::Ofd => {
            let fl = ofd(spec, if spec.shared { libc::F_RDLCK } else { libc::F_WRLCK });
            fcntl(fd, FcntlArg::F_OFD_SETLK(&fl)).map(|_| ()).syscall("fcntl")
        }
        LockKind::Flock => {
            let op = if spec.shared { libc::LOCK_SH } else { libc::LOCK_EX } | libc::LOCK_NB;
            // SAFETY: flock only reads its two integer arguments.
            Errno::result(unsafe { libc::flock(fd.as_raw_fd(), op) })
                .map(|_| ())
                .syscall("flock")
        }
    };
    match res {
        Ok(()) => Ok(true),
        Err(e) if e.errno == Errno::EAGAIN || e.errno == Errno::EACCES => Ok(false),
        Err(e) => Err(e),
    }
}

/// Releases the lock (the range, for OFD).
pub fn unlock(fd: BorrowedFd<'_>, spec: &LockSpec) -> Result<()> {
    match spec.kind {
        LockKind::Ofd => {
            let fl = ofd(spec, libc::F_UNLCK);
            fcntl(fd, FcntlArg::F_OFD_SETLK(&fl)).map(|_| ()).syscall("fcntl")
        }
        LockKind::Flock => {
            // SAFETY: flock only reads its two integer arguments.
            Errno::result(unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_UN) })
                .map(|_| ())
                .syscall("flock")
        }
    }
}

/// A cancel signal shared between the thread that waits and the one that may
/// give up: an eventfd, so the waiting thread can sleep in `poll(2)` on it.
#[derive(Debug)]
pub struct Cancel(OwnedFd);

impl Cancel {
    /// A new, not yet cancelled token.
    pub fn new() -> Result<Self> {
        eventfd::eventfd(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK).map(Self)
    }

    /// Cancels: the waiting thread returns [`Waited::Cancelled`] promptly.
    pub fn cancel(&self) {
        // The counter only needs to be non-zero; EAGAIN at 2^64-2 still leaves it so.
        let _ = eventfd::eventfd_write(self.0.as_fd(), 1);
    }

    /// Whether [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        let mut fds = [PollFd::new(self.0.as_fd(), PollFlags::POLLIN)];
        matches!(nix::poll::poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
    }

    /// Sleeps up to `d` (microsecond resolution, with `ppoll`); returns true
    /// if cancelled meanwhile. An `EINTR` counts as a short sleep.
    fn sleep(&self, d: Duration) -> bool {
        let ts = libc::timespec {
            // `as _`, not `as libc::time_t`: that alias is deprecated on musl.
            tv_sec: d.as_secs() as _,
            tv_nsec: d.subsec_nanos() as libc::c_long,
        };
        let mut pfd = libc::pollfd {
            fd: self.0.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: pfd is one valid pollfd on an fd we own; ts is a valid
        // timespec; a null sigmask leaves the thread's signal mask alone.
        let n = unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
        n > 0
    }
}

/// How a wait ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Waited {
    /// The lock is held.
    Acquired,
    /// [`Cancel::cancel`] was called first; nothing is held.
    Cancelled,
}

/// Waits until the lock is taken or `cancel` fires, retrying with backoff.
/// Runs on a dedicated thread; never on a thread with an event loop.
///
/// # Errors
/// Any error of [`try_lock`] other than a conflict.
pub fn lock_until(fd: BorrowedFd<'_>, spec: &LockSpec, cancel: &Cancel) -> Result<Waited> {
    // Poll every MIN_BACKOFF for the first FAST_PHASE (a lock handed over
    // quickly is the common case under contention), then back off
    // exponentially: after the fast phase the attempts add up to about one
    // per MAX_BACKOFF, however long the wait.
    // The default timer slack (50 µs) would double every short sleep. This
    // thread does nothing but wait for the lock, so tighten it (a per-thread
    // setting; failure is harmless and ignored).
    // SAFETY: PR_SET_TIMERSLACK takes one unsigned long and touches only the
    // calling thread's timer slack.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1_000 as libc::c_ulong) };
    let start = std::time::Instant::now();
    let mut backoff = MIN_BACKOFF;
    loop {
        if cancel.is_cancelled() {
            return Ok(Waited::Cancelled);
        }
        match try_lock(fd, spec) {
            Ok(true) => return Ok(Waited::Acquired),
            Ok(false) => {}
            Err(e) if e.errno == Errno::EINTR => continue,
            Err(e) => return Err(e),
        }
        if cancel.sleep(backoff) {
            return Ok(Waited::Cancelled);
        }
        if start.elapsed() >= FAST_PHASE {
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

/// Opens `path` for locking: `O_RDWR | O_CREAT | O_CLOEXEC`, mode 0666 (less umask).
pub fn open_for_lock(path: &std::path::Path) -> Result<OwnedFd> {
    use nix::fcntl::OFlag;
    use nix::sys::stat::Mode;
    nix::fcntl::open(
        path,
        OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o666),
    )
    .syscall("open")
}
