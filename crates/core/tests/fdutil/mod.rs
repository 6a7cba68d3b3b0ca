//! Fd helpers shared by the fd identity and owner tests.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use linux_fd_core::memfd::memfd_create;

#[allow(dead_code)] // not every test binary that includes this module uses each helper
pub fn memfd(name: &str) -> OwnedFd {
    memfd_create(&CString::new(name).unwrap(), libc::MFD_CLOEXEC).unwrap()
}

/// Moves `fd` to the lowest free number >= `base`.
pub fn at(fd: OwnedFd, base: RawFd) -> OwnedFd {
    // SAFETY: F_DUPFD_CLOEXEC on an open fd returns a new fd nothing else owns.
    let raw = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, base) };
    assert!(raw >= base, "F_DUPFD_CLOEXEC failed");
    // SAFETY: raw was just created and is owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(raw) }
}

pub fn is_open(raw: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the fd flags; a closed number gives EBADF.
    unsafe { libc::fcntl(raw, libc::F_GETFD) >= 0 }
}

/// Closes `raw` behind its owner's back, as `fs.closeSync(obj.fd)` does.
#[allow(dead_code)]
pub fn close_behind(raw: RawFd) {
    // SAFETY: the test owns the object that owns raw and wants it closed
    // behind that object's back.
    assert_eq!(unsafe { libc::close(raw) }, 0);
}
