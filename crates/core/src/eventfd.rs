//! `eventfd(2)`: a kernel 64-bit counter behind a file descriptor.
//!
//! The counter's maximum is 2^64-2. A write that would pass it blocks, or fails
//! with `EAGAIN` on a non-blocking fd; writing 2^64-1 itself is `EINVAL`.
//! With [`EfdFlags::EFD_SEMAPHORE`] each read takes 1 instead of the whole count.
//!
//! # References
//! - [`eventfd(2)`](https://man7.org/linux/man-pages/man2/eventfd.2.html)

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU8, Ordering};

pub use nix::sys::eventfd::EfdFlags;

use crate::error::{retry_eintr, Context, Errno, Result};

/// The largest value the counter can hold: 2^64-2.
pub const EVENTFD_MAX: u64 = u64::MAX - 1;

/// `eventfd(initval, flags)`—Creates an eventfd whose counter starts at `initval`.
///
/// # Errors
/// `EINVAL` for unknown flags, `EMFILE`/`ENFILE` when out of fds, `ENOMEM`.
///
/// # References
/// - [`eventfd(2)`](https://man7.org/linux/man-pages/man2/eventfd.2.html)
pub fn eventfd(initval: u32, flags: EfdFlags) -> Result<OwnedFd> {
    nix::sys::eventfd::EventFd::from_value_and_flags(initval, flags)
        .map(OwnedFd::from)
        .syscall("eventfd")
}

/// `read(fd, &u64, 8)`—Reads the counter: the whole value (reset to 0), or 1
/// with `EFD_SEMAPHORE`.
///
/// Blocks at zero unless the fd is non-blocking, in which case it fails with
/// `EAGAIN`: Python's `os.eventfd_read`. For a read that never waits,
/// whatever another holder of the fd did to `O_NONBLOCK`, see
/// [`eventfd_try_read`].
///
/// # Errors
/// `EAGAIN` (non-blocking, counter zero), `EBADF`, `EINVAL` if `fd` is not an
/// eventfd-like file that reads 8 bytes.
///
/// # References
/// - [`eventfd(2)`](https://man7.org/linux/man-pages/man2/eventfd.2.html)
pub fn eventfd_read(fd: BorrowedFd<'_>) -> Result<u64> {
    read_u64(fd, "eventfd_read", Wait::AsFd)
}

/// Reads the counter as [`eventfd_read`] does, but fails with `EAGAIN` at
/// zero instead of waiting, even if the open file description is blocking:
/// `O_NONBLOCK` belongs to the description, which every process holding the
/// fd shares, and any of them may clear it. See [`Wait::Never`] for how,
/// and for the kernels where this is only as good as [`eventfd_read`].
///
/// # Errors
/// As [`eventfd_read`].
pub fn eventfd_try_read(fd: BorrowedFd<'_>) -> Result<u64> {
    read_u64(fd, "eventfd_read", Wait::Never(&EVENTFD_NOWAIT))
}

/// `write(fd, &value, 8)`—Adds `value` to the counter.
///
/// Blocks if the sum would pass 2^64-2, unless the fd is non-blocking
/// (`EAGAIN`). `value` = 2^64-1 is `EINVAL`. There is no never-waiting
/// form: eventfd's write is a plain `.write` in the kernel (6.18 included),
/// so `pwritev2(RWF_NOWAIT)` fails with `EOPNOTSUPP`; only a write that
/// would pass the maximum can block.
///
/// # References
/// - [`eventfd(2)`](https://man7.org/linux/man-pages/man2/eventfd.2.html)
pub fn eventfd_write(fd: BorrowedFd<'_>, value: u64) -> Result<()> {
    let bytes = value.to_ne_bytes();
    // EINTR retried, as in read_u64.
    let n = retry_eintr(|| nix::unistd::write(fd, &bytes)).syscall("eventfd_write")?;
    short_io(n, "eventfd_write")
}

/// Whether a read of an empty counter or an unexpired timer may wait.
#[derive(Clone, Copy, Debug)]
pub enum Wait {
    /// As the open file description says: `read(2)`, which blocks unless
    /// `O_NONBLOCK` is set. What Python's `os.eventfd_read` does.
    AsFd,
    /// Never: `preadv2(fd, …, -1, RWF_NOWAIT)`, which fails with `EAGAIN`
    /// whatever `O_NONBLOCK` says. The kernel honours `RWF_NOWAIT` on an
    /// eventfd since Linux 5.8 and on a timerfd since Linux 6.10 (their
    /// reads became `read_iter` and the files `FMODE_NOWAIT`). Where it does
    /// not (an older kernel, or a sandbox that refuses `preadv2`), this is a
    /// plain `read(2)`, as [`Wait::AsFd`]: the [`Nowait`] asks once per
    /// process. A file of another kind that refuses `RWF_NOWAIT`
    /// (`EOPNOTSUPP`) is read with `read(2)` too.
    Never(&'static Nowait),
}

/// Whether this kernel honours `RWF_NOWAIT` on reads of one kind of file,
/// asked once per process: [`EVENTFD_NOWAIT`], and
/// [`crate::timerfd::TIMERFD_NOWAIT`].
#[derive(Debug)]
pub struct Nowait {
    /// `UNKNOWN`, `YES` or `NO`.
    state: AtomicU8,
    /// Makes a new empty non-blocking file of the kind, for the probe.
    probe_file: fn() -> Result<OwnedFd>,
}

const UNKNOWN: u8 = 0;
const YES: u8 = 1;
const NO: u8 = 2;

impl Nowait {
    /// The support of the kind of file that `probe_file` makes (empty, so
    /// that a read has nothing to return, and non-blocking, so that the
    /// probe itself can never block).
    pub const fn new(probe_file: fn() -> Result<OwnedFd>) -> Self {
        Self {
            state: AtomicU8::new(UNKNOWN),
            probe_file,
        }
    }

    /// Whether `preadv2(RWF_NOWAIT)` works on this kind of file. The first
    /// call makes a probe file and reads it that way: `EAGAIN` means yes;
    /// `EOPNOTSUPP` (the file lacks `FMODE_NOWAIT`, or the kernel predates
    /// `RWF_NOWAIT`), `ENOSYS` (no `preadv2`: before Linux 4.6), `EINVAL`,
    /// `EPERM` (a seccomp filter) or anything else means no. `None` while
    /// unknown because the probe file cannot be made (out of fds): asked
    /// again by the next call.
    pub fn supported(&self) -> Option<bool> {
        match self.state.load(Ordering::Relaxed) {
            YES => Some(true),
            NO => Some(false),
            _ => {
                let file = (self.probe_file)().ok()?;
                let yes = read_nowait(file.as_fd(), &mut [0; 8]) == Err(Errno::EAGAIN);
                self.set(yes);
                Some(yes)
            }
        }
    }

    fn set(&self, yes: bool) {
        self.state.store(if yes { YES } else { NO }, Ordering::Relaxed);
    }

    /// Reads `fd`, of this kind, without waiting where the kernel allows.
    /// Where the probe file cannot be made, the read itself is the probe: a
    /// result or `EAGAIN` means yes (kept), and an error that says no (as
    /// the probe's) falls back to a plain `read(2)` this time. Before, no probe file meant
    /// a plain read, which waited for good on a description a peer made
    /// blocking, in a process out of fds (s46-exhaust M1).
    fn read(&self, fd: BorrowedFd<'_>, buf: &mut [u8; 8]) -> nix::Result<usize> {
        match self.supported() {
            Some(true) => match read_nowait(fd, buf) {
                Err(Errno::EOPNOTSUPP) => nix::unistd::read(fd, buf),
                r => r,
            },
            Some(false) => nix::unistd::read(fd, buf),
            None => match read_nowait(fd, buf) {
                r @ (Ok(_) | Err(Errno::EAGAIN)) => {
                    self.set(true);
                    r
                }
                // Not kept: `fd` may be of another kind (a `fromFd` without
                // `/proc` takes any), whose "no" is not this kind's
                // (s46-diff L7); the next call asks again.
                Err(Errno::EOPNOTSUPP | Errno::ENOSYS | Errno::EINVAL | Errno::EPERM) => {
                    nix::unistd::read(fd, buf)
                }
                r => r,
            },
        }
    }
}

/// [`Nowait`] for eventfds (Linux 5.8: `eventfd: convert to
/// f_op->read_iter()`, commit 12aceb89b0bc).
pub static EVENTFD_NOWAIT: Nowait =
    Nowait::new(|| eventfd(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK));

/// Reads one native-endian u64 (eventfd and timerfd reads), naming `syscall`
/// in errors. The one read of every eventfd and timerfd in the package.
pub fn read_u64(fd: BorrowedFd<'_>, syscall: &'static str, wait: Wait) -> Result<u64> {
    read_u64_or_empty(fd, syscall, wait)?.ok_or(crate::Error::new(crate::Errno::EINVAL, syscall))
}

/// As [`read_u64`], but a read of 0 bytes is `None` rather than `EINVAL`
/// (any other short read is still `EINVAL`). A blocking timerfd read returns 0 bytes when the clock
/// stepped back past a periodic timer's pending expiration after the wait
/// ended (timerfd_create(2), NOTES: "return a value of 0 (i.e., no bytes
/// read)"; fs/timerfd.c forwards the timer and finds no tick), where
/// Python's `os.read` gives `b''` (s40-timer M1). A non-blocking read says
/// `EAGAIN` there instead.
pub fn read_u64_or_empty(fd: BorrowedFd<'_>, syscall: &'static str, wait: Wait) -> Result<Option<u64>> {
    let mut buf = [0u8; 8];
    // EINTR: a handler without SA_RESTART ran on this thread while the read
    // waited (the lock-wait cancel's, once installed, if its signal is sent
    // to the process). Retried, as CPython's os.read and libuv's reads do.
    let n = retry_eintr(|| match wait {
        Wait::Never(nowait) => nowait.read(fd, &mut buf),
        Wait::AsFd => nix::unistd::read(fd, &mut buf),
    })
    .syscall(syscall)?;
    if n == 0 {
        return Ok(None);
    }
    short_io(n, syscall)?;
    Ok(Some(u64::from_ne_bytes(buf)))
}

/// `preadv2(fd, [buf], 1, -1, RWF_NOWAIT)`: offset -1 is the file's own
/// position, as `read(2)` uses (eventfds and timerfds ignore it). Made
/// through `syscall(2)`: the gnu release builds link against a glibc 2.17
/// sysroot, which has no `preadv2` (glibc 2.26 added it), and glibc's
/// wrapper would only add a cancellation point.
fn read_nowait(fd: BorrowedFd<'_>, buf: &mut [u8; 8]) -> nix::Result<usize> {
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let offset: i64 = -1;
    // The kernel takes the offset as two longs, low then high (glibc's
    // LO_HI_LONG); on a 64-bit target the low one holds all of it.
    let (lo, hi) = (offset as libc::c_long, ((offset as u64) >> 32) as libc::c_long);
    // The kernel writes at most `iov_len` bytes at `iov_base`.
    // SAFETY: `iov` (one element) and `buf`, the 8 writable bytes it points
    // at, are locals that outlive the call; `fd` is only passed to the
    // kernel; the other arguments are plain integers.
    let n = unsafe {
        libc::syscall(
            libc::SYS_preadv2,
            fd.as_raw_fd() as libc::c_long,
            &iov as *const libc::iovec,
            1 as libc::c_long,
            lo,
            hi,
            libc::RWF_NOWAIT as libc::c_long,
        )
    };
    Errno::result(n).map(|n| n as usize)
}

fn short_io(n: usize, syscall: &'static str) -> Result<()> {
    if n == 8 {
        Ok(())
    } else {
        // An eventfd or timerfd always moves exactly 8 bytes; anything else
        // means the fd is some other kind of file.
        Err(crate::Error::new(crate::Errno::EINVAL, syscall))
    }
}

/// An owned eventfd, closed on drop.
#[derive(Debug)]
pub struct EventFd(OwnedFd);

impl EventFd {
    /// Creates an eventfd with `initval` and `flags`.
    pub fn new(initval: u32, flags: EfdFlags) -> Result<Self> {
        eventfd(initval, flags).map(Self)
    }

    /// Wraps an fd the caller asserts is an eventfd.
    pub fn from_owned(fd: OwnedFd) -> Self {
        Self(fd)
    }

    /// See [`eventfd_read`].
    pub fn read(&self) -> Result<u64> {
        eventfd_read(self.0.as_fd())
    }

    /// See [`eventfd_write`].
    pub fn write(&self, value: u64) -> Result<()> {
        eventfd_write(self.0.as_fd(), value)
    }

    /// Gives back the fd.
    pub fn into_inner(self) -> OwnedFd {
        self.0
    }
}

impl AsFd for EventFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// The counter's current value, without consuming it: the kernel prints it
/// (in hex) as `eventfd-count:` in `/proc/self/fdinfo/<fd>`.
///
/// # Errors
/// `EBADF` if `fd` is not open, and also if `/proc` is not mounted (the
/// fdinfo entry is missing either way); `EINVAL` if it is not an eventfd.
///
/// # References
/// - [`proc_pid_fdinfo(5)`](https://man7.org/linux/man-pages/man5/proc_pid_fdinfo.5.html)
pub fn count(fd: BorrowedFd<'_>) -> Result<u64> {
    let path = format!("/proc/self/fdinfo/{}", fd.as_raw_fd());
    let text = std::fs::read_to_string(path).map_err(|e| {
        let errno = crate::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
        // A missing fdinfo entry means the fd is not open.
        let errno = if errno == crate::Errno::ENOENT {
            crate::Errno::EBADF
        } else {
            errno
        };
        crate::Error::new(errno, "read")
    })?;
    text.lines()
        .find_map(|l| l.strip_prefix("eventfd-count:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .ok_or(crate::Error::new(crate::Errno::EINVAL, "read"))
}
