//! A receiving socket with `SO_PASSPIDFD` (Linux 6.5) gets an `SCM_PIDFD`
//! control message with every message: a pidfd of the sender, installed in
//! our process. `recv` must close it, as it is nobody's to close. The socket
//! option comes from outside linux-fd (a socket adopted with `fromFd`, or a
//! process sharing it), so the library cannot prevent it. One test in its
//! own binary: it counts the process's open fds, which another test thread
//! would change.

use std::os::fd::{AsFd, AsRawFd};

use linux_fd_core::channel::*;

/// `SO_PASSPIDFD` (include/uapi/asm-generic/socket.h; the same on x86_64 and
/// arm64), which libc 0.2 does not define for every target.
const SO_PASSPIDFD: libc::c_int = 76;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count() - 1
}

#[test]
fn a_pidfd_that_the_socket_option_adds_is_closed_not_leaked() {
    let (a, b) = pair().unwrap();
    let on: libc::c_int = 1;
    // SAFETY: setsockopt reads one int from the valid pointer it is given.
    let r = unsafe {
        libc::setsockopt(
            b.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_PASSPIDFD,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        eprintln!(
            "skipped: no SO_PASSPIDFD here (Linux < 6.5): {}",
            std::io::Error::last_os_error()
        );
        return;
    }
    let before = open_fds();
    let mut buf = [0u8; 16];
    for _ in 0..20 {
        send(a.as_fd(), b"hi", &[]).unwrap();
        match recv(b.as_fd(), &mut buf).unwrap() {
            Recv::Message { len, fds } => {
                assert_eq!(&buf[..len], b"hi");
                assert!(fds.is_empty(), "the pidfd is not one of the message's fds");
            }
            Recv::End => panic!("unexpected end"),
        }
    }
    assert_eq!(open_fds(), before, "every SCM_PIDFD fd was closed");
}
