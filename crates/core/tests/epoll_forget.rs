//! `poll::epoll_forget`: the DEL the Node binding makes on libuv's epoll set
//! before closing a watch's dup (docs/design.md, "Closing").

use std::os::fd::AsFd;

use linux_fd_core::eventfd::{eventfd, EfdFlags};
use linux_fd_core::poll::epoll_forget;
use linux_fd_core::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

#[test]
fn removes_a_registration_once_then_reports_it_gone() {
    let ep = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).unwrap();
    let efd = eventfd(1, EfdFlags::EFD_CLOEXEC).unwrap();
    ep.add(efd.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, 7))
        .unwrap();
    let mut events = [EpollEvent::empty(); 1];
    assert_eq!(
        ep.wait(&mut events, EpollTimeout::ZERO).unwrap(),
        1,
        "registered and readable"
    );

    assert!(epoll_forget(ep.0.as_fd(), efd.as_fd()).unwrap());
    assert_eq!(
        ep.wait(&mut events, EpollTimeout::ZERO).unwrap(),
        0,
        "no longer reported"
    );
    // Already gone (what libuv's own DEL usually left): ENOENT is Ok(false).
    assert!(!epoll_forget(ep.0.as_fd(), efd.as_fd()).unwrap());
    // Not an epoll fd: an error, nothing else touched.
    let err = epoll_forget(efd.as_fd(), efd.as_fd()).unwrap_err();
    assert_eq!((err.errno, err.syscall), (Errno::EINVAL, "epoll_ctl"));
}
