//! A signal handler installed without `SA_RESTART` (the lock-wait cancel's,
//! once a wait was cancelled; or any other library's) makes a blocking
//! `read`/`write` return `EINTR` when its signal lands on the blocked thread.
//! The low-level eventfd and timerfd calls retry then, as CPython's `os.read`
//! does (PEP 475) and as libuv does for Node's own fs calls: the signal
//! interrupts nothing the caller asked to stop. A separate test binary: the
//! handler is process-wide.

use std::os::fd::AsFd;
use std::time::Duration;

use linux_fd_core::eventfd::{eventfd, eventfd_read, eventfd_write, EfdFlags};
use linux_fd_core::lockwait::{blocking_waits_available, cancel_signal};
use linux_fd_core::timerfd::{timerfd_create, timerfd_read, timerfd_set, TimerSpec};

/// Sends the cancel signal to the calling thread twice, 100 ms apart, from
/// another thread, then runs `then` there.
fn interrupt_me(then: impl FnOnce() + Send + 'static) -> std::thread::JoinHandle<()> {
    assert!(
        blocking_waits_available(),
        "the handler without SA_RESTART is installed"
    );
    // SAFETY: pthread_self has no preconditions.
    let me = unsafe { libc::pthread_self() };
    std::thread::spawn(move || {
        for _ in 0..2 {
            std::thread::sleep(Duration::from_millis(100));
            // SAFETY: `me` is the test thread, which is alive (it joins this
            // thread before returning), and the signal has a handler.
            assert_eq!(unsafe { libc::pthread_kill(me, cancel_signal()) }, 0);
        }
        std::thread::sleep(Duration::from_millis(100));
        then();
    })
}

#[test]
fn blocking_reads_and_writes_retry_after_a_handler_without_sa_restart() {
    // eventfd read: blocks until the write at ~300 ms.
    let fd = eventfd(0, EfdFlags::EFD_CLOEXEC).unwrap();
    let writer = fd.try_clone().unwrap();
    let t = interrupt_me(move || eventfd_write(writer.as_fd(), 5).unwrap());
    assert_eq!(eventfd_read(fd.as_fd()).map_err(|e| e.errno), Ok(5));
    t.join().unwrap();

    // eventfd write: blocks at the maximum until the read at ~300 ms.
    eventfd_write(fd.as_fd(), u64::MAX - 1).unwrap();
    let reader = fd.try_clone().unwrap();
    let t = interrupt_me(move || assert_eq!(eventfd_read(reader.as_fd()).unwrap(), u64::MAX - 1));
    assert_eq!(eventfd_write(fd.as_fd(), 1).map_err(|e| e.errno), Ok(()));
    t.join().unwrap();
    assert_eq!(eventfd_read(fd.as_fd()).unwrap(), 1);

    // timerfd read: blocks until the timer fires at ~400 ms.
    let tfd = timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC).unwrap();
    let spec = TimerSpec {
        value_ns: 400_000_000,
        interval_ns: 0,
    };
    timerfd_set(tfd.as_fd(), 0, spec).unwrap();
    let t = interrupt_me(|| {});
    assert_eq!(timerfd_read(tfd.as_fd()).map_err(|e| e.errno), Ok(1));
    t.join().unwrap();
}
