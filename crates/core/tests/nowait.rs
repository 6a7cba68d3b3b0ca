//! Reads that never wait (`eventfd_try_read`, `timerfd_try_read`,
//! `Wait::Never`) on an open file description whose `O_NONBLOCK` another
//! holder cleared, and the plain reads that still honour the flag.
//!
//! Every read that might hang runs on a thread of its own with a deadline,
//! so a read that blocks fails the test instead of hanging the run.

mod common;

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::mpsc;
use std::time::Duration;

use linux_fd_core::eventfd::{
    eventfd, eventfd_read, eventfd_try_read, eventfd_write, read_u64, EfdFlags, Wait, EVENTFD_NOWAIT,
};
use linux_fd_core::timerfd::{timerfd_create, timerfd_settime, timerfd_try_read, TimerSpec, TIMERFD_NOWAIT};
use linux_fd_core::{Errno, Result};
use nix::fcntl::{fcntl, FcntlArg, OFlag};

/// Clears `O_NONBLOCK` through a dup of `fd`, as another process holding the
/// same open file description would, and checks that `fd` sees it.
fn clear_nonblock(fd: BorrowedFd<'_>) {
    let other = fd.try_clone_to_owned().unwrap();
    let flags = OFlag::from_bits_retain(fcntl(&other, FcntlArg::F_GETFL).unwrap());
    fcntl(&other, FcntlArg::F_SETFL(flags - OFlag::O_NONBLOCK)).unwrap();
    drop(other);
    let now = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL).unwrap());
    assert!(
        !now.contains(OFlag::O_NONBLOCK),
        "the description is blocking now"
    );
}

/// Runs `read` on `fd` (a dup) on a thread; its result, or `None` if it has
/// not returned after `ms` (then `unblock` is called on the fd, so the thread
/// can end).
fn within(
    fd: BorrowedFd<'_>,
    ms: u64,
    read: fn(BorrowedFd<'_>) -> Result<u64>,
    unblock: fn(BorrowedFd<'_>),
) -> Option<Result<u64>> {
    let own: OwnedFd = fd.try_clone_to_owned().unwrap();
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        let _ = tx.send(read(own.as_fd()));
    });
    let got = rx.recv_timeout(Duration::from_millis(ms)).ok();
    if got.is_none() {
        unblock(fd);
    }
    t.join().unwrap();
    got
}

fn add_one(fd: BorrowedFd<'_>) {
    eventfd_write(fd, 1).unwrap();
}

fn expire(fd: BorrowedFd<'_>) {
    let spec = TimerSpec {
        value_ns: 1,
        interval_ns: 0,
    };
    timerfd_settime(fd, 0, spec).unwrap();
}

/// The kernel's release as (major, minor).
fn kernel() -> (u32, u32) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

#[test]
fn the_probe_finds_rwf_nowait_where_the_kernel_has_it() {
    let k = kernel();
    // The probe files can be made here, so the answer is known.
    let (eventfd_ok, timerfd_ok) = (
        EVENTFD_NOWAIT.supported().unwrap(),
        TIMERFD_NOWAIT.supported().unwrap(),
    );
    eprintln!("kernel {k:?}: RWF_NOWAIT on eventfd {eventfd_ok}, on timerfd {timerfd_ok}");
    assert_eq!(
        EVENTFD_NOWAIT.supported(),
        Some(eventfd_ok),
        "asked once, the same answer"
    );
    if common::under_qemu() {
        return;
    }
    assert_eq!(
        eventfd_ok,
        k >= (5, 8),
        "eventfd: read_iter and FMODE_NOWAIT since 5.8"
    );
    assert_eq!(
        timerfd_ok,
        k >= (6, 10),
        "timerfd: read_iter and FMODE_NOWAIT since 6.10"
    );
}

#[test]
fn eventfd_try_read_never_waits_after_o_nonblock_was_cleared() {
    let fd = eventfd(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK).unwrap();
    clear_nonblock(fd.as_fd());
    if EVENTFD_NOWAIT.supported() != Some(true) {
        eprintln!("skipped: no RWF_NOWAIT on eventfds here (Linux < 5.8 or a sandbox)");
        return;
    }
    let empty = within(fd.as_fd(), 5000, eventfd_try_read, add_one).expect("the read blocked");
    assert_eq!(empty.unwrap_err().errno, Errno::EAGAIN);
    eventfd_write(fd.as_fd(), 7).unwrap();
    eventfd_write(fd.as_fd(), 5).unwrap();
    assert_eq!(eventfd_try_read(fd.as_fd()).unwrap(), 12, "takes the whole count");
    let again = within(fd.as_fd(), 5000, eventfd_try_read, add_one).expect("the read blocked");
    assert_eq!(again.unwrap_err().errno, Errno::EAGAIN);

    // A semaphore eventfd made blocking from the start, as os.eventfd(0,
    // os.EFD_SEMAPHORE) in a Python peer would be.
    let sem = eventfd(2, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_SEMAPHORE).unwrap();
    assert_eq!(eventfd_try_read(sem.as_fd()).unwrap(), 1);
    assert_eq!(eventfd_try_read(sem.as_fd()).unwrap(), 1);
    let none = within(sem.as_fd(), 5000, eventfd_try_read, add_one).expect("the read blocked");
    assert_eq!(none.unwrap_err().errno, Errno::EAGAIN);
}

#[test]
fn timerfd_try_read_never_waits_after_o_nonblock_was_cleared() {
    let fd = timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC | libc::TFD_NONBLOCK).unwrap();
    clear_nonblock(fd.as_fd());
    if TIMERFD_NOWAIT.supported() != Some(true) {
        eprintln!("skipped: no RWF_NOWAIT on timerfds here (Linux < 6.10 or a sandbox)");
        return;
    }
    let disarmed = within(fd.as_fd(), 5000, timerfd_try_read, expire).expect("the read blocked");
    assert_eq!(disarmed.unwrap_err().errno, Errno::EAGAIN);
    expire(fd.as_fd());
    linux_fd_core::poll::wait_readable(fd.as_fd()).unwrap();
    assert_eq!(timerfd_try_read(fd.as_fd()).unwrap(), 1);
    let read = within(fd.as_fd(), 5000, timerfd_try_read, expire).expect("the read blocked");
    assert_eq!(read.unwrap_err().errno, Errno::EAGAIN);
}

/// `eventfd_read` is Python's `os.eventfd_read`: on a blocking description
/// it waits for a value (the package's low-level `eventfdRead()`).
#[test]
fn eventfd_read_still_waits_on_a_blocking_description() {
    let fd = eventfd(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK).unwrap();
    clear_nonblock(fd.as_fd());
    let own = fd.try_clone().unwrap();
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || tx.send(eventfd_read(own.as_fd())).unwrap());
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err(), "it waits");
    eventfd_write(fd.as_fd(), 3).unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap().unwrap(), 3);
    t.join().unwrap();
}

/// A file that refuses `RWF_NOWAIT` (`EOPNOTSUPP`: here a /proc file) is
/// read with read(2) instead, so `Wait::Never` is never worse than a plain
/// read.
#[test]
fn a_file_that_refuses_rwf_nowait_is_read_plainly() {
    let file: OwnedFd = std::fs::File::open("/proc/self/stat").unwrap().into();
    let v = read_u64(file.as_fd(), "read", Wait::Never(&EVENTFD_NOWAIT)).unwrap();
    let pid = std::process::id().to_string();
    assert!(
        v.to_ne_bytes().starts_with(&pid.as_bytes()[..pid.len().min(8)]),
        "the first 8 bytes of /proc/self/stat (fd {})",
        file.as_raw_fd()
    );
}
