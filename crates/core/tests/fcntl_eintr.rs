//! `fcntl_buf` retries a call that a signal interrupted (`EINTR`), as
//! Python's `fcntl.fcntl` does (PEP 475). The package itself installs a
//! handler without `SA_RESTART` (the lock-wait cancel signal), so a blocking
//! command such as `F_OFD_SETLKW` made through the generic call could
//! otherwise fail with `EINTR` when any handler without `SA_RESTART` runs on
//! the calling thread. Its own test binary: it installs a signal handler.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use linux_fd_core::fcntl::{fcntl_buf, ARG_BUF_SIZE};

extern "C" fn on_signal(_: libc::c_int) {}

/// A whole-file OFD write lock (or unlock) as the 1024-byte argument.
fn ofd_lock_arg(kind: libc::c_short) -> [u8; ARG_BUF_SIZE] {
    // SAFETY: all-zero is a valid `struct flock`; l_pid must be 0 for OFD locks.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    let mut buf = [0u8; ARG_BUF_SIZE];
    let size = std::mem::size_of::<libc::flock>();
    // SAFETY: `fl` is a plain C struct of `size` initialized bytes.
    let bytes = unsafe { std::slice::from_raw_parts((&fl as *const libc::flock).cast::<u8>(), size) };
    buf[..size].copy_from_slice(bytes);
    buf
}

/// A second open file description of the same file (OFD locks of two
/// descriptions conflict, even in one process).
fn reopen(fd: &OwnedFd) -> OwnedFd {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .unwrap()
        .into()
}

#[test]
fn a_blocking_fcntl_interrupted_by_a_signal_is_retried() {
    // SAFETY: all-zero is a valid sigaction; the handler does nothing and is
    // async-signal-safe; no SA_RESTART, so the kernel returns EINTR.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = on_signal as *const () as usize;
        assert_eq!(libc::sigaction(libc::SIGURG, &act, std::ptr::null_mut()), 0);
    }
    let file = tempfile();
    let holder = reopen(&file);
    let waiter = reopen(&file);
    let mut arg = ofd_lock_arg(libc::F_WRLCK as libc::c_short);
    fcntl_buf(holder.as_fd(), libc::F_OFD_SETLK, &mut arg).unwrap();

    // SAFETY: pthread_self has no preconditions.
    let me = unsafe { libc::pthread_self() } as usize;
    let other = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        // SAFETY: `me` is the test thread, alive: it is blocked in fcntl until
        // this thread unlocks below.
        let sent = unsafe { libc::pthread_kill(me as libc::pthread_t, libc::SIGURG) };
        assert_eq!(sent, 0);
        std::thread::sleep(Duration::from_millis(200));
        let mut un = ofd_lock_arg(libc::F_UNLCK as libc::c_short);
        fcntl_buf(holder.as_fd(), libc::F_OFD_SETLK, &mut un).unwrap();
    });
    let started = Instant::now();
    let mut arg = ofd_lock_arg(libc::F_WRLCK as libc::c_short);
    let got = fcntl_buf(waiter.as_fd(), libc::F_OFD_SETLKW, &mut arg);
    other.join().unwrap();
    assert_eq!(got.map_err(|e| e.errno), Ok(0));
    // It waited for the unlock (300 ms), not only for the signal (100 ms).
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
}

/// A memfd to lock (OFD locks work on it as on any regular file).
fn tempfile() -> OwnedFd {
    let c = std::ffi::CString::new("fcntl-eintr").unwrap();
    linux_fd_core::memfd::memfd_create(&c, libc::MFD_CLOEXEC).unwrap()
}
