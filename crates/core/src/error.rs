//! One error type for every syscall the core makes: the errno plus the name of
//! the call that failed, so the binding can build Node-style errors
//! (`code`, `errno`, `syscall`) in one place.

use std::fmt;

pub use nix::errno::Errno;

/// A failed system call: which call, and the errno it set.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Error {
    /// The errno the kernel (or libc) reported.
    pub errno: Errno,
    /// The name of the call, as Node's fs errors name it (`"eventfd_read"`).
    pub syscall: &'static str,
}

/// Result of a core call.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Pairs an errno with the name of the call that produced it.
    pub const fn new(errno: Errno, syscall: &'static str) -> Self {
        Self { errno, syscall }
    }

    /// The errno's C name, e.g. `"EAGAIN"`. This is Node's `err.code`.
    pub fn code(&self) -> String {
        errno_name(self.errno)
    }

    /// The lowercase description Node (libuv) uses, e.g.
    /// `"resource temporarily unavailable"`.
    pub fn description(&self) -> String {
        errno_description(self.errno)
    }

    /// The message Node's fs errors use: `"EAGAIN: resource temporarily unavailable, eventfd_read"`.
    pub fn message(&self) -> String {
        format!("{}: {}, {}", self.code(), self.description(), self.syscall)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for Error {}

/// Extension to tag a nix result with the syscall name.
pub(crate) trait Context<T> {
    fn syscall(self, name: &'static str) -> Result<T>;
}

impl<T> Context<T> for nix::Result<T> {
    #[inline]
    fn syscall(self, name: &'static str) -> Result<T> {
        self.map_err(|errno| Error::new(errno, name))
    }
}

/// The C name of an errno (`EAGAIN`), as Node's `err.code` spells it.
///
/// nix's `Errno` derives `Debug` from the C names, so this is the variant name.
/// `EWOULDBLOCK`, `EDEADLOCK` and `ENOTSUP` are aliases on Linux and come out as
/// `EAGAIN`, `EDEADLK` and `EOPNOTSUPP`.
pub fn errno_name(errno: Errno) -> String {
    let name = format!("{errno:?}");
    if name.starts_with('E') {
        name
    } else {
        format!("E{}", errno as i32)
    }
}

/// libuv's wording for the errnos that libuv maps (so messages match Node's
/// own fs errors); other errnos fall back to the C library's text, lowercased.
pub fn errno_description(errno: Errno) -> String {
    let uv = match errno {
        Errno::E2BIG => "argument list too long",
        Errno::EACCES => "permission denied",
        Errno::EAGAIN => "resource temporarily unavailable",
        Errno::EBADF => "bad file descriptor",
        Errno::EBUSY => "resource busy or locked",
        Errno::ECANCELED => "operation canceled",
        Errno::EEXIST => "file already exists",
        Errno::EFAULT => "bad address in system call argument",
        Errno::EFBIG => "file too large",
        Errno::EINTR => "interrupted system call",
        Errno::EINVAL => "invalid argument",
        Errno::EIO => "i/o error",
        Errno::EISDIR => "illegal operation on a directory",
        Errno::EMFILE => "too many open files",
        Errno::ENFILE => "file table overflow",
        Errno::ENODEV => "no such device",
        Errno::ENOENT => "no such file or directory",
        Errno::ENOMEM => "not enough memory",
        Errno::ENOSPC => "no space left on device",
        Errno::ENOSYS => "function not implemented",
        Errno::ENOTDIR => "not a directory",
        Errno::ENOTTY => "inappropriate ioctl for device",
        Errno::EOPNOTSUPP => "operation not supported on socket",
        Errno::EOVERFLOW => "value too large for defined data type",
        Errno::EPERM => "operation not permitted",
        Errno::EPIPE => "broken pipe",
        Errno::EROFS => "read-only file system",
        Errno::ESPIPE => "invalid seek",
        Errno::ESRCH => "no such process",
        Errno::ETIMEDOUT => "connection timed out",
        Errno::ETXTBSY => "text file is busy",
        Errno::EXDEV => "cross-device link not permitted",
        Errno::ENXIO => "no such device or address",
        _ => "",
    };
    if uv.is_empty() {
        errno.desc().to_lowercase()
    } else {
        uv.to_string()
    }
}

/// Makes `call` again while it fails with `EINTR`, as CPython does for
/// `fcntl`, `flock` and `lockf` (PEP 475; the package does it for `ioctl`
/// and the eventfd/timerfd reads and writes too): a blocking call must not
/// fail because a handler without `SA_RESTART` ran on this thread, such as
/// the package's own lock-wait cancel signal (`lockwait.rs`). Wrap a raw
/// `libc` call with `Errno::result`.
pub(crate) fn retry_eintr<T>(
    mut call: impl FnMut() -> std::result::Result<T, Errno>,
) -> std::result::Result<T, Errno> {
    loop {
        match call() {
            Err(Errno::EINTR) => continue,
            r => return r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_matches_node_fs_errors() {
        let e = Error::new(Errno::EAGAIN, "eventfd_read");
        assert_eq!(e.code(), "EAGAIN");
        assert_eq!(
            e.message(),
            "EAGAIN: resource temporarily unavailable, eventfd_read"
        );
    }

    #[test]
    fn unmapped_errno_falls_back_to_libc_text() {
        let e = Error::new(Errno::EDEADLK, "fcntl");
        assert_eq!(e.code(), "EDEADLK");
        assert!(e.description().contains("deadlock"), "{}", e.description());
    }
}
