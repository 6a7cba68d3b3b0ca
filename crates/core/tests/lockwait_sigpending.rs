//! The kernel refuses the cancel signal: `pthread_kill` of a real-time
//! signal fails with `EAGAIN` while the user's count of queued signals is at
//! the target process's `RLIMIT_SIGPENDING` (another process of the same
//! user can fill it; root is not exempt). A wait that blocked in the kernel
//! then could not be cancelled: the abort stayed pending until the lock came
//! (s49-limits M1, "STILL PENDING after 3 s"). A wait that starts while the
//! signal is refused now polls, and a refused kick is sent again later. A
//! test binary of its own: the limit is process-wide.

use std::os::fd::AsFd;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use linux_fd_core::lockwait::{
    blocking_waits_available, lock_until, open_for_lock, try_lock, Cancel, LockKind, LockSpec, Waited,
};

mod common;

const SPEC: LockSpec = LockSpec {
    kind: LockKind::Ofd,
    shared: false,
    start: 0,
    len: 0,
};

fn set_sigpending(limit: libc::rlim_t) -> libc::rlimit {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the one struct it is given.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_SIGPENDING, &mut old) }, 0);
    let new = libc::rlimit {
        rlim_cur: limit,
        rlim_max: old.rlim_max,
    };
    // SAFETY: setrlimit reads the one struct it is given.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_SIGPENDING, &new) }, 0);
    old
}

fn put_back(old: &libc::rlimit) {
    // SAFETY: setrlimit reads the one struct it is given.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_SIGPENDING, old) }, 0);
}

/// A thread waiting for the lock through a new description of `path`.
fn waiter(path: &std::path::Path) -> (Arc<Cancel>, mpsc::Receiver<Waited>) {
    let fd = open_for_lock(path).unwrap();
    let cancel = Arc::new(Cancel::new());
    let (tx, rx) = mpsc::channel();
    let c = cancel.clone();
    std::thread::spawn(move || tx.send(lock_until(fd.as_fd(), &SPEC, &c).unwrap()));
    (cancel, rx)
}

#[test]
fn a_wait_stays_cancellable_while_the_kernel_refuses_the_signal() {
    assert!(blocking_waits_available(), "our handler is installed");
    let path = common::TempPath::new("sigpending");
    let holder = open_for_lock(&path).unwrap();
    assert!(try_lock(holder.as_fd(), &SPEC).unwrap());

    // 1. A wait that starts while every real-time signal to this process
    // is refused: it polls, and its cancel ends it.
    let old = set_sigpending(0);
    // A probe's answer stands for 100 ms (none was made before here).
    std::thread::sleep(Duration::from_millis(150));
    let (cancel, ended) = waiter(&path);
    std::thread::sleep(Duration::from_millis(200));
    cancel.cancel();
    let r = ended.recv_timeout(Duration::from_secs(3));
    put_back(&old);
    assert_eq!(
        r.ok(),
        Some(Waited::Cancelled),
        "a wait started with the signal refused could not be cancelled"
    );

    // 2. The limit back: a wait blocks in the kernel again (it is not left
    // polling for good, once the last answer is 100 ms old), and its
    // cancel's signal ends it.
    std::thread::sleep(Duration::from_millis(150));
    let wakeups = common::wakeups_in_300ms_of_waiting(open_for_lock(&path).unwrap(), SPEC, 100);
    assert!(wakeups <= 3, "the wait polled: {wakeups} wake-ups in 300 ms");

    // 3. A wait already blocked when the signal starts being refused: the
    // kicker tries again every 50 ms, not every millisecond (a refused kick
    // sets its slow step), and once the limit is back a kick ends the wait.
    let (cancel, ended) = common::blocked_waiter(&path);
    let old = set_sigpending(0);
    cancel.cancel();
    std::thread::sleep(Duration::from_millis(100));
    let tid = *common::kicker_tids().first().expect("the kicker thread runs");
    let before = common::voluntary_switches(tid);
    std::thread::sleep(Duration::from_millis(500));
    let woke = common::voluntary_switches(tid) - before;
    let early = ended.try_recv().ok();
    put_back(&old);
    assert_eq!(early, None, "no signal can have reached it");
    assert!(
        woke <= 40,
        "the kicker woke {woke} times in 500 ms of refused kicks"
    );
    assert_eq!(
        ended.recv_timeout(Duration::from_secs(3)).ok(),
        Some(Waited::Cancelled),
        "the wait did not end once kicks got through"
    );
}
