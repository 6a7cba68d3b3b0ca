//! `close_received` of lingering sockets when no pool thread can be
//! started: the close ran on the caller's thread, which (a Node event loop)
//! waited the linger time (s49-limits M2: 5 s). It now waits in the closes'
//! queue, and a later call that finds a thread starts a closer for each. A test binary of
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
fn lingering_closes_with_no_thread_to_run_them_wait_in_the_queue_not_on_the_caller() {
    // qemu-user does not run seccomp filters for its guest.
    if common::under_qemu() {
        return;
    }
    let (a, _server_a, _la) = common::stuck_socket(Some(3));
    let (b, _server_b, _lb) = common::stuck_socket(Some(3));
    let raws = [a.as_raw_fd(), b.as_raw_fd()];
    let before = open_fds();
    let (filtered, took, after) = std::thread::spawn(move || {
        if !common::refuse_new_threads_on_this_thread() {
            return (false, Duration::ZERO, Vec::new());
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let start = Instant::now();
        for fd in [a, b] {
            let tx = tx.clone();
            close_received(fd, move |n| tx.send(n).unwrap());
        }
        (true, start.elapsed(), rx.try_iter().collect())
    })
    .join()
    .unwrap();
    if !filtered {
        eprintln!("no seccomp filters here: skipped");
        return;
    }
    assert!(
        took < Duration::from_millis(1000),
        "the caller waited {took:?} for the closes"
    );
    assert_eq!(after, raws, "the numbers themselves were closed at once");
    // The sockets' copies wait in the queue, still open: no thread has run.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        open_fds(),
        before,
        "the copies replaced the numbers, and are still open"
    );

    // A later call from a thread that can start closers, for an fd whose
    // own close does not block: it starts one for each queued close (a
    // close's number leaves the fd table as the close starts, before its
    // linger). One closer for both made the second wait for the first's
    // 3 s linger (s49-diff MED).
    let (r, w) = nix::unistd::pipe().unwrap();
    drop(r);
    close_received(w, |_| ());
    let until = Instant::now() + Duration::from_millis(1500);
    while open_fds() > before - 2 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(open_fds(), before - 2, "both queued closes started at once");
}
