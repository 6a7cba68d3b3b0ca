//! When the cancel signal already has a handler (someone else uses it), lock
//! waits must not take it over: `blocking_waits_available()` is false and
//! the handler is left as it was. A file of its own, so that its process
//! sets the handler before anything asks (lockwait.rs: `|| with &&` in
//! `blocking_waits_available`, a survivor of cargo-mutants, issue 16).

use linux_fd_core::lockwait::{blocking_waits_available, cancel_signal};

extern "C" fn theirs(_: libc::c_int) {}

#[test]
fn a_signal_with_a_handler_is_left_alone() {
    let sig = cancel_signal();
    // SAFETY: all-zero is a valid sigaction; the handler does nothing, so it
    // is async-signal-safe; sa_mask is initialised by sigemptyset.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = theirs as *const () as usize;
        libc::sigemptyset(&mut act.sa_mask);
        assert_eq!(libc::sigaction(sig, &act, std::ptr::null_mut()), 0);
    }
    assert!(!blocking_waits_available());
    // SAFETY: all-zero is a valid sigaction; a null new action only reads.
    let now = unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        assert_eq!(libc::sigaction(sig, std::ptr::null(), &mut old), 0);
        old.sa_sigaction
    };
    assert_eq!(
        now, theirs as *const () as usize,
        "our handler was not installed over theirs"
    );
}
