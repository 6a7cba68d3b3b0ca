//! `FdKind::name`: the strings `fdKind` hands JS (binding `fd_kind`).

use std::os::fd::AsFd;

use linux_fd_core::fd::{kind, FdKind};
use linux_fd_core::memfd::memfd_create;
use linux_fd_core::timerfd::timerfd_create;

#[test]
fn fd_kind_names_are_the_ones_js_sees() {
    let names = [
        FdKind::EventFd {
            semaphore: Some(true),
        },
        FdKind::EventFd {
            semaphore: Some(false),
        },
        FdKind::EventFd { semaphore: None },
        FdKind::TimerFd,
        FdKind::Other,
        FdKind::Unknown,
    ]
    .map(FdKind::name);
    assert_eq!(
        names,
        [
            "eventfd-semaphore",
            "eventfd",
            "unknown",
            "timerfd",
            "other",
            "unknown"
        ]
    );
}

#[test]
fn a_timerfd_and_a_memfd_are_named_from_fdinfo() {
    let t = timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC).unwrap();
    let m = memfd_create(c"fd-kind", libc::MFD_CLOEXEC).unwrap();
    // Without /proc both are Unknown; the names then say so.
    match (kind(t.as_fd()).unwrap(), kind(m.as_fd()).unwrap()) {
        (FdKind::Unknown, FdKind::Unknown) => eprintln!("[skip] no /proc/self/fdinfo"),
        (a, b) => assert_eq!((a.name(), b.name()), ("timerfd", "other")),
    }
}
