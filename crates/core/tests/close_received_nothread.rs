//! `close_received` of a lingering socket when no pool thread can be
//! started: the close ran on the caller's thread, which (a Node event loop)
//! waited the linger time (s49-limits M2: 5 s). It now waits in the closes'
//! queue, and a later call that finds a thread closes it. A test binary of
//! its own: the pool and the queue are process-wide, and this one must find
//! no pool thread idle.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use linux_fd_core::fd::close_received;

mod common;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn a_lingering_close_with_no_thread_to_run_it_waits_in_the_queue_not_on_the_caller() {
    // qemu-user does not run seccomp filters for its guest.
    if common::under_qemu() {
        return;
    }
    let (lingering, _server, _l) = common::stuck_socket(Some(2));
    let raw = lingering.as_raw_fd();
    let before = open_fds();
    let (filtered, took, after) = std::thread::spawn(move || {
        if !common::refuse_new_threads_on_this_thread() {
            return (false, Duration::ZERO, None);
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let start = Instant::now();
        close_received(lingering, move |n| tx.send(n).unwrap());
        (true, start.elapsed(), rx.try_recv().ok())
    })
    .join()
    .unwrap();
    if !filtered {
        eprintln!("no seccomp filters here: skipped");
        return;
    }
    assert!(
        took < Duration::from_millis(1000),
        "the caller waited {took:?} for the close"
    );
    assert_eq!(after, Some(raw), "the number itself was closed at once");
    // The socket's copy waits in the queue, still open: no thread has run.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        open_fds(),
        before,
        "the copy replaced the number, and is still open"
    );

    // A later call from a thread that can start one, for an fd whose own
    // close does not block: it starts a closer for the queue, and the
    // copy's close then ends with its linger.
    let (r, w) = nix::unistd::pipe().unwrap();
    drop(r);
    close_received(w, |_| ());
    let until = Instant::now() + Duration::from_secs(15);
    while open_fds() >= before && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(open_fds(), before - 1, "the queued close ran");
}
