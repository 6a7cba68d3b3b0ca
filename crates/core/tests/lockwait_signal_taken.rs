//! When the cancel signal already has a handler (someone else uses it), lock
//! waits must not take it over: `blocking_waits_available()` is false, the
//! handler is left as it was, and waits poll with backoff. A file of its
//! own, so that its process sets the handler before anything asks. These
//! kill survivors of cargo-mutants in lockwait.rs (issue 16,
//! docs/testing.md): `|| with &&` in `blocking_waits_available`, and the
//! EINTR guard and backoff of `poll_until`.

use std::os::fd::AsFd;

mod common;
use std::sync::{mpsc, Arc, OnceLock};
use std::time::Duration;

use linux_fd_core::lockwait::{
    blocking_waits_available, cancel_signal, lock_until, open_for_lock, try_lock, Cancel, LockKind, LockSpec,
};

extern "C" fn theirs(_: libc::c_int) {}

/// Installs `theirs` for the cancel signal, once, before any test asks, and
/// returns the address installed: compared with that, never with `theirs`
/// cast again, since Rust does not promise one address per function
/// (src/lockwait.rs, `installed_handler`).
fn take_signal() -> usize {
    static INSTALLED: OnceLock<usize> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        let handler = theirs as *const () as usize;
        // SAFETY: all-zero is a valid sigaction; the handler does nothing,
        // so it is async-signal-safe; sa_mask is initialised by sigemptyset.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = handler;
            libc::sigemptyset(&mut act.sa_mask);
            assert_eq!(libc::sigaction(cancel_signal(), &act, std::ptr::null_mut()), 0);
        }
        handler
    })
}

const EXCLUSIVE: LockSpec = LockSpec {
    kind: LockKind::Ofd,
    shared: false,
    start: 0,
    len: 0,
};

#[test]
fn a_signal_with_a_handler_is_left_alone() {
    let installed = take_signal();
    assert!(!blocking_waits_available());
    // SAFETY: all-zero is a valid sigaction; a null new action only reads.
    let now = unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        assert_eq!(libc::sigaction(cancel_signal(), std::ptr::null(), &mut old), 0);
        old.sa_sigaction
    };
    assert_eq!(now, installed, "our handler was not installed over theirs");
}

/// The polling wait ends with an error that is not EINTR, at once.
#[test]
fn a_polling_wait_returns_an_error() {
    take_signal();
    let path = common::TempPath::new("taken-ro");
    std::fs::write(&path, b"").unwrap();
    let ro = std::fs::File::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let cancel = Arc::new(Cancel::new());
    let c2 = cancel.clone();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        tx.send(
            lock_until(ro.as_fd(), &EXCLUSIVE, &c2)
                .map(|_| ())
                .map_err(|e| e.errno),
        )
        .unwrap();
    });
    let got = rx.recv_timeout(Duration::from_secs(5));
    if got.is_err() {
        cancel.cancel();
    }
    assert_eq!(got, Ok(Err(linux_fd_core::Errno::EBADF)));
}

/// After its fast phase (2 ms) a polling wait backs off to one attempt
/// every 8 ms: about 40 wake-ups in 300 ms, not thousands.
#[test]
fn a_polling_wait_backs_off() {
    take_signal();
    let path = common::TempPath::new("taken-poll");
    let holder = open_for_lock(&path).unwrap();
    let waiter = open_for_lock(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(try_lock(holder.as_fd(), &EXCLUSIVE).unwrap());
    let woke = common::wakeups_in_300ms_of_waiting(waiter, EXCLUSIVE, 100);
    assert!(
        (5..=120).contains(&woke),
        "the polling thread woke {woke} times in 300 ms (backoff of 8 ms: about 38)"
    );
}
