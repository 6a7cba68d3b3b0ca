//! The cancel signal's handler replaced *after* lock waits installed it:
//! another library sets the signal to `SIG_IGN`, or to a handler with
//! `SA_RESTART`. Either way the signal no longer interrupts a blocked
//! `F_OFD_SETLKW`, so a wait that blocked in the kernel could not be
//! cancelled until the lock came (s47-eintr M1: an `AbortSignal` on
//! `lockFile` settled only when the holder let go). Each wait now checks the
//! handler and its flags as it starts, and polls if they are not ours. A test binary of its
//! own: the dispositions are process-wide.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use linux_fd_core::lockwait::{
    blocking_waits_available, cancel_signal, open_for_lock, try_lock, LockKind, LockSpec, Waited,
};

mod common;

const EXCLUSIVE: LockSpec = LockSpec {
    kind: LockKind::Ofd,
    shared: false,
    start: 0,
    len: 0,
};

extern "C" fn theirs(_: libc::c_int) {}

/// Sets the cancel signal's disposition to `handler` with `flags`.
fn set_disposition(handler: usize, flags: libc::c_int) {
    // SAFETY: all-zero is a valid sigaction; the handler is SIG_IGN or
    // `theirs`, which does nothing (async-signal-safe); sa_mask is
    // initialised by sigemptyset.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = handler;
        act.sa_flags = flags;
        libc::sigemptyset(&mut act.sa_mask);
        assert_eq!(libc::sigaction(cancel_signal(), &act, std::ptr::null_mut()), 0);
    }
}

/// A wait on `path` (held by the caller) cancelled after 100 ms: how long
/// it took to end after the cancel, and how. The caller's holder is dropped
/// by the caller; a wait that does not end in 3 s is reported as `None`.
fn cancelled_wait(path: &std::path::Path) -> Option<(Waited, Duration)> {
    let (cancel, rx) = common::blocked_waiter(path);
    let t0 = Instant::now();
    cancel.cancel();
    let got = rx.recv_timeout(Duration::from_secs(3)).ok()?;
    Some((got, t0.elapsed()))
}

#[test]
fn a_wait_started_after_the_handler_was_replaced_can_still_be_cancelled() {
    assert!(blocking_waits_available(), "our handler is installed");
    let path = common::TempPath::new("signal-lost");
    let holder = open_for_lock(&path).unwrap();
    assert!(try_lock(holder.as_fd(), &EXCLUSIVE).unwrap());
    // Ours: the blocked wait is interrupted.
    let (how, took) = cancelled_wait(&path).expect("ended");
    assert_eq!(how, Waited::Cancelled);
    assert!(took < Duration::from_secs(1), "{took:?}");

    // SAFETY: all-zero is a valid sigaction; a null new action only reads.
    let ours = unsafe {
        let mut now: libc::sigaction = std::mem::zeroed();
        assert_eq!(libc::sigaction(cancel_signal(), std::ptr::null(), &mut now), 0);
        now.sa_sigaction
    };
    for (what, handler, flags) in [
        // What siginterrupt(sig, 0) does to our own handler (s48-diff
        // MED-1: the address alone did not catch it).
        ("our handler given SA_RESTART", ours, libc::SA_RESTART),
        ("SIG_IGN", libc::SIG_IGN, 0),
        (
            "a handler with SA_RESTART",
            theirs as *const () as usize,
            libc::SA_RESTART,
        ),
    ] {
        set_disposition(handler, flags);
        let got = cancelled_wait(&path);
        assert!(
            matches!(got, Some((Waited::Cancelled, took)) if took < Duration::from_secs(1)),
            "{what}: {got:?} (None: still blocked 3 s after the cancel)"
        );
    }
    // Before the holder goes: a wait still blocked would take it, and its
    // thread would outlive the test.
    drop(holder);
    std::fs::remove_file(&*path).unwrap();
}
