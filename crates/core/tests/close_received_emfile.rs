//! A lingering socket whose copy cannot be made (the process is out of fd
//! numbers): `close_received` falls back to closing the socket itself on a
//! pool thread, so the caller still does not wait; `after` then runs once
//! that close returns, so the number's registry entry stays until then (the
//! window of s41-diff L5, in this case only; s42-diff L3 had no test). Its
//! own test binary: it lowers the process's fd limit and fills the table.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use linux_fd_core::fd::close_received;

mod common;

#[test]
fn a_lingering_socket_whose_copy_cannot_be_made_is_closed_on_the_pool_as_it_is() {
    let (fd, server, listener) = common::stuck_socket(Some(2));
    let raw = fd.as_raw_fd();

    // Out of numbers: the limit just above what is open, the rest filled.
    let (tx, rx) = std::sync::mpsc::channel();
    let (start, returned) = common::out_of_fds(|| {
        assert!(
            linux_fd_core::fd::dup_cloexec(std::os::fd::AsFd::as_fd(&fd)).is_err(),
            "no fd number is left for the copy"
        );
        let start = Instant::now();
        close_received(fd, move |n| tx.send((n, Instant::now())).unwrap());
        (start, start.elapsed())
    });

    assert!(
        returned < Duration::from_millis(1000),
        "the caller waited {returned:?}"
    );
    let (n, at) = rx.recv_timeout(Duration::from_secs(30)).expect("the close ran");
    assert_eq!(n, raw);
    assert!(
        at - start >= Duration::from_millis(1500),
        "`after` followed the close itself, which lingered ({:?})",
        at - start
    );
    drop((server, listener));
}
