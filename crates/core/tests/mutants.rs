//! Tests written for mutants that cargo-mutants found surviving in the
//! critical files (issue 16; docs/testing.md lists each one and why any
//! left are equivalent).

use std::os::fd::{AsFd, AsRawFd};

use linux_fd_core::eventfd::{eventfd, EfdFlags};
use linux_fd_core::fd::{kind, set_nonblocking, FdKind, GuardedFd};

fn status_flags(fd: std::os::fd::BorrowedFd<'_>) -> i32 {
    // SAFETY: F_GETFL only reads the flags of an fd we hold open.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    assert!(flags >= 0, "F_GETFL failed");
    flags
}

/// A blocking, append-mode file: set_nonblocking must add O_NONBLOCK and
/// keep O_APPEND (fd.rs: `set_nonblocking` returning Ok(()) at once,
/// `delete !`, `| with &`).
#[test]
fn set_nonblocking_adds_the_flag_and_keeps_the_others() {
    let dir = std::env::temp_dir().join(format!("linux-fd-mutants-{}", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&dir)
        .unwrap();
    std::fs::remove_file(&dir).unwrap();
    let before = status_flags(file.as_fd());
    assert_eq!(before & libc::O_NONBLOCK, 0);
    assert_ne!(before & libc::O_APPEND, 0);
    set_nonblocking(file.as_fd()).unwrap();
    let after = status_flags(file.as_fd());
    assert_ne!(after & libc::O_NONBLOCK, 0, "O_NONBLOCK set");
    assert_ne!(after & libc::O_APPEND, 0, "O_APPEND kept");
    // Again, on a description that already has it: unchanged.
    set_nonblocking(file.as_fd()).unwrap();
    assert_eq!(status_flags(file.as_fd()), after);
}

/// fdinfo's `eventfd-semaphore:` line is read as it is written
/// (fd.rs `kind`: `== with !=` on `v.trim() == "1"`).
#[test]
fn kind_tells_a_semaphore_eventfd_from_a_counter() {
    let sem = eventfd(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_SEMAPHORE).unwrap();
    let counter = eventfd(0, EfdFlags::EFD_CLOEXEC).unwrap();
    match (kind(sem.as_fd()).unwrap(), kind(counter.as_fd()).unwrap()) {
        // Kernels before 6.4 do not report the flag.
        (FdKind::EventFd { semaphore: None }, FdKind::EventFd { semaphore: None }) => {
            eprintln!("[skip] kind: this kernel does not report eventfd-semaphore in fdinfo")
        }
        (s, c) => {
            assert_eq!(
                s,
                FdKind::EventFd {
                    semaphore: Some(true)
                }
            );
            assert_eq!(
                c,
                FdKind::EventFd {
                    semaphore: Some(false)
                }
            );
        }
    }
}

/// `get()` hands out the fd it holds, until it is taken
/// (fd.rs: `GuardedFd::get` returning None).
#[test]
fn guarded_get_returns_the_held_fd() {
    let fd = eventfd(0, EfdFlags::EFD_CLOEXEC).unwrap();
    let raw = fd.as_raw_fd();
    let mut g = GuardedFd::new_anon(fd);
    assert_eq!(g.get().map(|f| f.as_raw_fd()), Some(raw));
    assert_eq!(g.close(), None);
    assert!(g.get().is_none());
}

/// A failure that is not a conflict stays an error: an exclusive OFD lock
/// on a read-only description is EBADF, never "held by another"
/// (lockwait.rs `try_lock`: the guard `EAGAIN || EACCES` made `true`, and
/// `== EACCES` made `!=`).
#[test]
fn try_lock_reports_errors_that_are_not_conflicts() {
    use linux_fd_core::lockwait::{try_lock, LockKind, LockSpec};
    let path = std::env::temp_dir().join(format!("linux-fd-mutants-lock-{}", std::process::id()));
    std::fs::write(&path, b"").unwrap();
    let ro = std::fs::File::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let spec = LockSpec {
        kind: LockKind::Ofd,
        shared: false,
        start: 0,
        len: 0,
    };
    let err = try_lock(ro.as_fd(), &spec).expect_err("a write lock on a read-only fd");
    assert_eq!(err.errno, linux_fd_core::Errno::EBADF);
    // The shared form is allowed on it, and granted.
    assert!(try_lock(ro.as_fd(), &LockSpec { shared: true, ..spec }).unwrap());
}

/// Voluntary context switches of thread `tid` of this process.
fn voluntary_switches(tid: i64) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// With the cancel signal free, a lock wait sleeps in the kernel: its thread
/// does not wake while the lock stays held (the polling fallback wakes every
/// few ms). lockwait.rs `lock_until`: `delete !` on
/// `!blocking_waits_available()` made every wait poll.
#[test]
fn a_lock_wait_sleeps_in_the_kernel_while_the_holder_holds() {
    use linux_fd_core::lockwait::{lock_until, open_for_lock, try_lock, Cancel, LockKind, LockSpec, Waited};
    use std::sync::{mpsc, Arc};
    use std::time::Duration;
    let path = std::env::temp_dir().join(format!("linux-fd-mutants-kernel-{}", std::process::id()));
    let holder = open_for_lock(&path).unwrap();
    let waiter = open_for_lock(&path).unwrap();
    let s = LockSpec {
        kind: LockKind::Ofd,
        shared: false,
        start: 0,
        len: 0,
    };
    assert!(try_lock(holder.as_fd(), &s).unwrap());
    let cancel = Arc::new(Cancel::new());
    let c2 = cancel.clone();
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        // SAFETY: gettid has no preconditions.
        tx.send(unsafe { libc::syscall(libc::SYS_gettid) }).unwrap();
        lock_until(waiter.as_fd(), &s, &c2).unwrap()
    });
    let tid = rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let before = voluntary_switches(tid);
    std::thread::sleep(Duration::from_millis(300));
    let woke = voluntary_switches(tid) - before;
    cancel.cancel();
    assert_eq!(t.join().unwrap(), Waited::Cancelled);
    std::fs::remove_file(&path).unwrap();
    assert!(
        woke <= 3,
        "the waiting thread woke {woke} times in 300 ms while the lock was held"
    );
}

/// An error of the blocking lock call other than EINTR ends the wait with
/// that error, at once (lockwait.rs `lock_until`: the `EINTR` guard made
/// `true` retried it for ever).
#[test]
fn a_lock_wait_returns_an_error_that_is_not_eintr() {
    use linux_fd_core::lockwait::{lock_until, Cancel, LockKind, LockSpec};
    use std::sync::{mpsc, Arc};
    use std::time::Duration;
    let path = std::env::temp_dir().join(format!("linux-fd-mutants-eintr-{}", std::process::id()));
    std::fs::write(&path, b"").unwrap();
    let ro = std::fs::File::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let cancel = Arc::new(Cancel::new());
    let c2 = cancel.clone();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let s = LockSpec {
            kind: LockKind::Ofd,
            shared: false,
            start: 0,
            len: 0,
        };
        tx.send(lock_until(ro.as_fd(), &s, &c2).map(|_| ()).map_err(|e| e.errno))
            .unwrap();
    });
    let got = rx.recv_timeout(Duration::from_secs(5));
    if got.is_err() {
        cancel.cancel();
    }
    assert_eq!(got, Ok(Err(linux_fd_core::Errno::EBADF)));
}
