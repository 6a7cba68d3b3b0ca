//! `flock` and Python's `lockf` mapping, between two open file descriptions
//! of one file in one process (flock locks conflict between descriptions;
//! POSIX record locks belong to the process, so only the decoding and the
//! calls themselves are checked here).

use std::os::fd::AsFd;

use linux_fd_core::lock::{flock, lockf, lockf_op, LockfOp};
use linux_fd_core::lockwait::open_for_lock;
use linux_fd_core::Errno;

mod common;

/// `linux-fd-lock-<tag>-<pid>` in the temp directory, removed when dropped.
fn temp_path(tag: &str) -> common::TempPath {
    common::TempPath::new(&format!("lock-{tag}"))
}

#[test]
fn lockf_commands_decode_as_cpython() {
    assert_eq!(lockf_op(libc::LOCK_UN), Some(LockfOp::Unlock));
    assert_eq!(lockf_op(libc::LOCK_SH), Some(LockfOp::Shared));
    assert_eq!(lockf_op(libc::LOCK_SH | libc::LOCK_NB), Some(LockfOp::Shared));
    assert_eq!(lockf_op(libc::LOCK_EX | libc::LOCK_NB), Some(LockfOp::Exclusive));
    // CPython tests LOCK_SH first.
    assert_eq!(lockf_op(libc::LOCK_SH | libc::LOCK_EX), Some(LockfOp::Shared));
    assert_eq!(lockf_op(0), None);
    assert_eq!(lockf_op(libc::LOCK_UN | libc::LOCK_NB), None);
    assert_eq!(lockf_op(libc::LOCK_NB), None);
}

#[test]
fn lockf_takes_and_drops_a_record_lock_and_refuses_unknown_commands() {
    let path = temp_path("lockf");
    let fd = open_for_lock(&path).unwrap();
    lockf(fd.as_fd(), libc::LOCK_EX | libc::LOCK_NB, 10, 0, libc::SEEK_SET).unwrap();
    lockf(fd.as_fd(), libc::LOCK_UN, 10, 0, libc::SEEK_SET).unwrap();
    let e = lockf(fd.as_fd(), 0, 0, 0, libc::SEEK_SET).unwrap_err();
    assert_eq!((e.errno, e.syscall), (Errno::EINVAL, "fcntl"));
    let e = lockf(fd.as_fd(), libc::LOCK_SH, 0, 0, 7).unwrap_err();
    assert_eq!(e.errno, Errno::EINVAL, "a bad whence is the kernel's EINVAL");
    std::fs::remove_file(path).unwrap();
}

#[test]
fn flock_conflicts_between_descriptions_and_lock_nb_is_eagain() {
    let path = temp_path("flock");
    let a = open_for_lock(&path).unwrap();
    let b = open_for_lock(&path).unwrap();
    flock(a.as_fd(), libc::LOCK_EX).unwrap();
    let e = flock(b.as_fd(), libc::LOCK_SH | libc::LOCK_NB).unwrap_err();
    assert_eq!((e.errno, e.syscall), (Errno::EAGAIN, "flock"));
    flock(a.as_fd(), libc::LOCK_UN).unwrap();
    flock(b.as_fd(), libc::LOCK_SH | libc::LOCK_NB).unwrap();
    assert_eq!(flock(a.as_fd(), 0).unwrap_err().errno, Errno::EINVAL);
    std::fs::remove_file(path).unwrap();
}

#[test]
fn test_ofd_reports_ofd_and_posix_locks_and_takes_nothing() {
    use linux_fd_core::lock::{test_ofd, Conflict};
    use linux_fd_core::lockwait::{try_lock, LockKind, LockSpec};
    let path = temp_path("test-ofd");
    let a = open_for_lock(&path).unwrap();
    let b = open_for_lock(&path).unwrap();
    assert_eq!(test_ofd(b.as_fd(), false, 0, 0).unwrap(), None, "a free file");
    let spec = LockSpec {
        kind: LockKind::Ofd,
        shared: true,
        start: 10,
        len: 5,
    };
    assert!(try_lock(a.as_fd(), &spec).unwrap());
    let ofd = Conflict {
        shared: true,
        pid: -1,
        start: 10,
        len: 5,
    };
    assert_eq!(test_ofd(b.as_fd(), false, 0, 0).unwrap(), Some(ofd));
    assert_eq!(test_ofd(b.as_fd(), false, 12, 1).unwrap(), Some(ofd));
    // Shared locks do not stop a shared one, nor does a lock outside the range,
    // nor one of the same description.
    assert_eq!(test_ofd(b.as_fd(), true, 0, 0).unwrap(), None);
    assert_eq!(test_ofd(b.as_fd(), false, 15, 0).unwrap(), None);
    assert_eq!(test_ofd(a.as_fd(), false, 0, 0).unwrap(), None);
    // It took nothing: the lock a tested for is still free.
    let ex = LockSpec {
        kind: LockKind::Ofd,
        shared: false,
        start: 15,
        len: 0,
    };
    assert!(try_lock(b.as_fd(), &ex).unwrap());
    assert_eq!(
        test_ofd(a.as_fd(), true, 20, 1).unwrap(),
        Some(Conflict {
            shared: false,
            pid: -1,
            start: 15,
            len: 0
        })
    );
    drop((a, b));
    // A POSIX record lock names its process. On a file of its own: b's OFD
    // lock outlived `drop` once (ci-44b, the musl stage: F_OFD_GETLK still
    // reported it at 15.. after both closes), and the whole-file test below
    // met it first. The cause: a neighbouring test's `test_ofd_path` on
    // another thread had copied this process's fds below 64 into its new
    // table for a moment (see `private_fd_table` in src/lock.rs). A thread's
    // first call still makes such a table, so the tests of this binary keep
    // to files of their own.
    std::fs::remove_file(path).unwrap();
    let path = temp_path("test-ofd-posix");
    let c = open_for_lock(&path).unwrap();
    let d = open_for_lock(&path).unwrap();
    lockf(c.as_fd(), libc::LOCK_EX | libc::LOCK_NB, 3, 4, libc::SEEK_SET).unwrap();
    let pid = std::process::id() as i32;
    assert_eq!(
        test_ofd(d.as_fd(), true, 0, 0).unwrap(),
        Some(Conflict {
            shared: false,
            pid,
            start: 4,
            len: 3
        })
    );
    // flock(2) locks are another family: not seen.
    lockf(c.as_fd(), libc::LOCK_UN, 3, 4, libc::SEEK_SET).unwrap();
    flock(c.as_fd(), libc::LOCK_EX).unwrap();
    assert_eq!(test_ofd(d.as_fd(), false, 0, 0).unwrap(), None);
    let e = test_ofd(d.as_fd(), false, -1, 0).unwrap_err();
    assert_eq!((e.errno, e.syscall), (Errno::EINVAL, "fcntl"));
    std::fs::remove_file(path).unwrap();
}

#[test]
fn test_ofd_path_keeps_this_process_posix_locks_and_opens_only_files_and_directories() {
    use linux_fd_core::lock::{test_ofd, test_ofd_path, Conflict};
    let path = temp_path("test-ofd-path");
    let c = open_for_lock(&path).unwrap();
    let d = open_for_lock(&path).unwrap();
    lockf(c.as_fd(), libc::LOCK_EX | libc::LOCK_NB, 3, 4, libc::SEEK_SET).unwrap();
    let pid = std::process::id() as i32;
    let held = Some(Conflict {
        shared: false,
        pid,
        start: 4,
        len: 3,
    });
    for _ in 0..3 {
        assert_eq!(test_ofd_path(&path, true, 0, 0).unwrap(), held);
        // The test's open and close were in a table of their own: the lock is
        // still there (a close in ours would have dropped it, as any close of
        // the file does).
        assert_eq!(test_ofd(d.as_fd(), true, 0, 0).unwrap(), held);
    }
    lockf(c.as_fd(), libc::LOCK_UN, 3, 4, libc::SEEK_SET).unwrap();
    assert_eq!(test_ofd_path(&path, false, 0, 0).unwrap(), None);
    // A directory opens; a FIFO is refused before it is opened for reading.
    let dir = std::env::temp_dir();
    assert_eq!(test_ofd_path(&dir, false, 0, 0).unwrap(), None);
    let fifo = temp_path("test-ofd-fifo");
    nix::unistd::mkfifo(&*fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let e = test_ofd_path(&fifo, false, 0, 0).unwrap_err();
    assert_eq!((e.errno, e.syscall), (Errno::EINVAL, "open"));
    let e = test_ofd_path(&temp_path("test-ofd-none"), false, 0, 0).unwrap_err();
    assert_eq!((e.errno, e.syscall), (Errno::ENOENT, "open"));
    std::fs::remove_file(fifo).unwrap();
    std::fs::remove_file(path).unwrap();
}
