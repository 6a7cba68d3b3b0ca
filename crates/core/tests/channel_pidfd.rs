//! A receiving socket with `SO_PASSPIDFD` (Linux 6.5) gets an `SCM_PIDFD`
//! control message with every message: a pidfd of the sender, installed in
//! our process. `recv` must close it, as it is nobody's to close. The socket
//! option comes from outside linux-fd (a socket adopted with `fromFd`, or a
//! process sharing it), so the library cannot prevent it. One test in its
//! own binary: it counts the process's open fds, which another test thread
//! would change.

use std::os::fd::AsFd;

mod common;

use linux_fd_core::channel::*;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count() - 1
}

#[test]
fn a_pidfd_that_the_socket_option_adds_is_closed_not_leaked() {
    let (a, b) = pair().unwrap();
    if let Err(e) = common::set_opt(&b, common::SO_PASSPIDFD, 1) {
        eprintln!("skipped: no SO_PASSPIDFD here (Linux < 6.5): {e}");
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
