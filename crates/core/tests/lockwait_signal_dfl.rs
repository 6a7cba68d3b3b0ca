//! The cancel signal's handler put back to `SIG_DFL` (a library restoring
//! what it saved) while a lock wait is blocked in the kernel: the cancel's
//! kicks must not be sent, since the default action of a real-time signal
//! ends the process (s47-diff MED-2: the test binary was killed by signal
//! 61). The wait then ends when the lock comes, or when our handler is back;
//! meanwhile the kicker asks about the handler every 50 ms, not every
//! millisecond (s48-diff MED-2: 2,000 such waits took 30 % of a core). A
//! test binary of its own: the disposition is process-wide.

use std::os::fd::AsFd;
use std::time::Duration;

use linux_fd_core::lockwait::{
    blocking_waits_available, cancel_signal, open_for_lock, try_lock, LockKind, LockSpec, Waited,
};

mod common;

#[test]
fn a_cancel_after_the_handler_went_back_to_sig_dfl_does_not_kill_the_process() {
    assert!(blocking_waits_available(), "our handler is installed");
    let path = common::TempPath::new("signal-dfl");
    let spec = LockSpec {
        kind: LockKind::Ofd,
        shared: false,
        start: 0,
        len: 0,
    };
    let holder = open_for_lock(&path).unwrap();
    assert!(try_lock(holder.as_fd(), &spec).unwrap());
    let (cancel, ended) = common::blocked_waiter(&path);
    // SAFETY: all-zero is a valid sigaction; a null new action only reads
    // ours into `ours`; SIG_DFL needs no handler; sa_mask is initialised by
    // sigemptyset.
    let ours = unsafe {
        let mut ours: libc::sigaction = std::mem::zeroed();
        assert_eq!(libc::sigaction(cancel_signal(), std::ptr::null(), &mut ours), 0);
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = libc::SIG_DFL;
        libc::sigemptyset(&mut act.sa_mask);
        assert_eq!(libc::sigaction(cancel_signal(), &act, std::ptr::null_mut()), 0);
        ours
    };
    cancel.cancel();
    // A kick sent now would have ended the process by this time.
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        ended.try_recv().is_err(),
        "the wait is still blocked: nothing interrupts it"
    );
    // The kicker is not woken every millisecond meanwhile (it was: about
    // 500 times in 500 ms; every 50 ms makes 10).
    let tid = *common::kicker_tids().first().expect("the kicker thread runs");
    let before = common::voluntary_switches(tid);
    std::thread::sleep(Duration::from_millis(500));
    let woke = common::voluntary_switches(tid) - before;
    assert!(woke <= 40, "the kicker woke {woke} times in 500 ms");
    // Our handler back: the next round's signal ends the wait.
    // SAFETY: `ours` is the disposition read above, whole.
    let put_back = unsafe { libc::sigaction(cancel_signal(), &ours, std::ptr::null_mut()) };
    assert_eq!(put_back, 0);
    assert_eq!(ended.recv_timeout(Duration::from_secs(2)), Ok(Waited::Cancelled));
    drop(holder);
    std::fs::remove_file(&*path).unwrap();
}
