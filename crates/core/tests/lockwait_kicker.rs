//! The cancel "kicker" thread when it cannot be started: a test binary of
//! its own, because the kicker is process-wide and started by the first
//! cancel, which must be this test's.

use std::os::fd::AsFd;
use std::time::Duration;

use linux_fd_core::lockwait::{
    blocking_waits_available, open_for_lock, try_lock, LockKind, LockSpec, Waited,
};

mod common;

const EXCLUSIVE: LockSpec = LockSpec {
    kind: LockKind::Ofd,
    shared: false,
    start: 0,
    len: 0,
};

fn kicker_threads() -> usize {
    common::kicker_tids().len()
}

#[test]
fn a_cancel_whose_kicker_cannot_start_still_ends_the_wait_and_a_later_cancel_starts_it() {
    // qemu-user does not run seccomp filters for its guest.
    if common::under_qemu() {
        return;
    }
    assert!(blocking_waits_available());
    let path = common::TempPath::new("kicker");
    let holder = open_for_lock(&path).unwrap();
    assert!(try_lock(holder.as_fd(), &EXCLUSIVE).unwrap());

    // The first cancel comes from a thread that cannot start one: the
    // kicker's start fails (s46-exhaust H1: that failure was kept for the
    // life of the process, and every later cancel of a wait blocked in the
    // kernel waited for the lock instead).
    let (first, ended) = common::blocked_waiter(&path);
    let filtered = std::thread::spawn(move || {
        let filtered = common::refuse_new_threads_on_this_thread();
        if filtered {
            assert!(
                std::thread::Builder::new().spawn(|| ()).is_err(),
                "the filter refuses threads"
            );
        }
        first.cancel();
        filtered
    })
    .join()
    .unwrap();
    if !filtered {
        // The cancel then started the kicker as usual; nothing to check.
        eprintln!("no seccomp filters here: skipped");
        assert_eq!(ended.recv_timeout(Duration::from_secs(5)), Ok(Waited::Cancelled));
        return;
    }
    assert_eq!(
        ended.recv_timeout(Duration::from_secs(5)),
        Ok(Waited::Cancelled),
        "the cancel signalled the waiter itself"
    );
    assert_eq!(kicker_threads(), 0);

    // A later cancel, from a thread that can, starts the kicker.
    let (second, ended) = common::blocked_waiter(&path);
    second.cancel();
    assert_eq!(ended.recv_timeout(Duration::from_secs(5)), Ok(Waited::Cancelled));
    // Counted again for a while: a listing of /proc/self/task made while
    // another thread (the waiter, just done) exits can miss a live one
    // (s47-diff MED-1: 0 in 9 of 150 runs, with the kicker running).
    let until = std::time::Instant::now() + Duration::from_secs(2);
    let mut seen = kicker_threads();
    while seen != 1 && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
        seen = kicker_threads();
    }
    assert_eq!(seen, 1);
    drop(holder);
    std::fs::remove_file(&*path).unwrap();
}
