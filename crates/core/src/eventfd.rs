//! `eventfd(2)`: a kernel 64-bit counter behind a file descriptor.
//!
//! The counter's maximum is 2^64-2. A write that would pass it blocks, or fails
//! with `EAGAIN` on a non-blocking fd; writing 2^64-1 itself is `EINVAL`.
//! With [`EfdFlags::EFD_SEMAPHORE`] each read takes 1 instead of the whole count.
//!
//! # References
//! - [`eventfd(2)`](https://man7.org/linux/man-pages/man2/eventfd.2.html)

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

pub use nix::sys::eventfd::EfdFlags;

use crate::error::{Context, Result};

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
/// `EAGAIN`.
///
/// # Errors
/// `EAGAIN` (non-blocking, counter zero), `EBADF`, `EINVAL` if `fd` is not an
/// eventfd-like file that reads 8 bytes.
///
/// # References
/// - [`eventfd(2)`](https://man7.org/linux/man-pages/man2/eventfd.2.html)
pub fn eventfd_read(fd: BorrowedFd<'_>) -> Result<u64> {
    read_u64(fd, "eventfd_read")
}

/// `write(fd, &value, 8)`—Adds `value` to the counter.
///
/// Blocks if the sum would pass 2^64-2, unless the fd is non-blocking
/// (`EAGAIN`). `value` = 2^64-1 is `EINVAL`.
///
/// # References
/// - [`eventfd(2)`](https://man7.org/linux/man-pages/man2/eventfd.2.html)
pub fn eventfd_write(fd: BorrowedFd<'_>, value: u64) -> Result<()> {
    let bytes = value.to_ne_bytes();
    let n = nix::unistd::write(fd, &bytes).syscall("eventfd_write")?;
    short_io(n, "eventfd_write")
}

/// Reads one native-endian u64 (eventfd and timerfd reads), naming `syscall` in errors.
pub fn read_u64(fd: BorrowedFd<'_>, syscall: &'static str) -> Result<u64> {
    let mut buf = [0u8; 8];
    let n = nix::unistd::read(fd, &mut buf).syscall(syscall)?;
    short_io(n, syscall)?;
    Ok(u64::from_ne_bytes(buf))
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
/// `EBADF` if `fd` is not open; `EINVAL` if it is not an eventfd; `ENOENT` if
/// `/proc` is not mounted.
///
/// # References
/// - [`proc_pid_fdinfo(5)`](https://man7.org/linux/man-pages/man5/proc_pid_fdinfo.5.html)
pub fn count(fd: BorrowedFd<'_>) -> Result<u64> {
    use std::os::fd::AsRawFd;
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
