//! Lock waits: conflicts between open file descriptions, cancellation, and
//! hand-off after release, with real files and threads.

use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use linux_fd_core::lockwait::{
    description_holds_lock, lock_until, names_file, open_for_lock, open_for_spec, try_lock, unlock, Cancel,
    LockKind, LockSpec, Waited,
};

mod common;

/// `linux-fd-lockwait-<tag>-<pid>` in the temp directory, removed when dropped.
fn temp_path(tag: &str) -> common::TempPath {
    common::TempPath::new(&format!("lockwait-{tag}"))
}

fn spec(kind: LockKind, shared: bool) -> LockSpec {
    LockSpec {
        kind,
        shared,
        start: 0,
        len: 0,
    }
}

#[test]
fn ofd_locks_conflict_between_two_descriptions_of_one_file_in_one_process() {
    let path = temp_path("ofd");
    let a = open_for_lock(&path).unwrap();
    let b = open_for_lock(&path).unwrap();
    assert!(try_lock(a.as_fd(), &spec(LockKind::Ofd, false)).unwrap());
    assert!(!try_lock(b.as_fd(), &spec(LockKind::Ofd, false)).unwrap());
    assert!(!try_lock(b.as_fd(), &spec(LockKind::Ofd, true)).unwrap());
    unlock(a.as_fd(), &spec(LockKind::Ofd, false)).unwrap();
    assert!(try_lock(b.as_fd(), &spec(LockKind::Ofd, true)).unwrap());
    // Shared locks coexist.
    assert!(try_lock(a.as_fd(), &spec(LockKind::Ofd, true)).unwrap());
    std::fs::remove_file(path).unwrap();
}

#[test]
fn ofd_ranges_that_do_not_overlap_do_not_conflict() {
    let path = temp_path("range");
    let a = open_for_lock(&path).unwrap();
    let b = open_for_lock(&path).unwrap();
    let first = LockSpec {
        kind: LockKind::Ofd,
        shared: false,
        start: 0,
        len: 10,
    };
    let second = LockSpec {
        kind: LockKind::Ofd,
        shared: false,
        start: 10,
        len: 10,
    };
    let overlapping = LockSpec {
        kind: LockKind::Ofd,
        shared: false,
        start: 5,
        len: 10,
    };
    assert!(try_lock(a.as_fd(), &first).unwrap());
    assert!(try_lock(b.as_fd(), &second).unwrap());
    assert!(!try_lock(b.as_fd(), &overlapping).unwrap());
    std::fs::remove_file(path).unwrap();
}

#[test]
fn flock_conflicts_and_closing_the_holder_releases() {
    let path = temp_path("flock");
    let a = open_for_lock(&path).unwrap();
    let b = open_for_lock(&path).unwrap();
    assert!(try_lock(a.as_fd(), &spec(LockKind::Flock, false)).unwrap());
    assert!(!try_lock(b.as_fd(), &spec(LockKind::Flock, true)).unwrap());
    drop(a);
    assert!(try_lock(b.as_fd(), &spec(LockKind::Flock, false)).unwrap());
    std::fs::remove_file(path).unwrap();
}

#[test]
fn a_waiting_lock_is_taken_soon_after_the_holder_releases() {
    let path = temp_path("handoff");
    let holder = open_for_lock(&path).unwrap();
    let waiter = open_for_lock(&path).unwrap();
    let s = spec(LockKind::Ofd, false);
    assert!(try_lock(holder.as_fd(), &s).unwrap());
    let cancel = Arc::new(Cancel::new());
    let c2 = cancel.clone();
    let t = std::thread::spawn(move || {
        let r = lock_until(waiter.as_fd(), &s, &c2).unwrap();
        (r, Instant::now())
    });
    std::thread::sleep(Duration::from_millis(50));
    let released = Instant::now();
    unlock(holder.as_fd(), &s).unwrap();
    let (r, got) = t.join().unwrap();
    assert_eq!(r, Waited::Acquired);
    assert!(got >= released, "acquired only after release");
    std::fs::remove_file(path).unwrap();
}

#[test]
fn cancel_ends_a_wait_promptly_and_takes_nothing() {
    let path = temp_path("cancel");
    let holder = open_for_lock(&path).unwrap();
    let waiter = open_for_lock(&path).unwrap();
    let s = spec(LockKind::Flock, false);
    assert!(try_lock(holder.as_fd(), &s).unwrap());
    let cancel = Arc::new(Cancel::new());
    let c2 = cancel.clone();
    let t = std::thread::spawn(move || lock_until(waiter.as_fd(), &s, &c2).unwrap());
    std::thread::sleep(Duration::from_millis(30));
    cancel.cancel();
    assert_eq!(t.join().unwrap(), Waited::Cancelled);
    assert!(cancel.is_cancelled());
    // The holder still holds it: nothing was taken by the cancelled waiter.
    let other = open_for_lock(&path).unwrap();
    assert!(!try_lock(other.as_fd(), &s).unwrap());
    std::fs::remove_file(path).unwrap();
}

#[test]
fn a_cancel_right_after_the_wait_starts_is_never_lost() {
    // The cancel may land before the waiter enters the blocking call, inside
    // it, or after it: each must end the wait (the kicker repeats the signal
    // until the waiter has left). A lost cancel would hang this test.
    let path = temp_path("cancel-race");
    let holder = open_for_lock(&path).unwrap();
    let s = spec(LockKind::Ofd, false);
    assert!(try_lock(holder.as_fd(), &s).unwrap());
    for i in 0..300 {
        let waiter = open_for_lock(&path).unwrap();
        let cancel = Arc::new(Cancel::new());
        let c2 = cancel.clone();
        let t = std::thread::spawn(move || lock_until(waiter.as_fd(), &s, &c2).unwrap());
        if i % 3 == 1 {
            std::thread::yield_now();
        } else if i % 3 == 2 {
            std::thread::sleep(Duration::from_micros(200));
        }
        cancel.cancel();
        assert_eq!(t.join().unwrap(), Waited::Cancelled);
    }
    std::fs::remove_file(path).unwrap();
}

#[test]
fn blocking_waits_use_the_cancel_signal_when_it_is_free() {
    // Nothing else in this test process installs SIGRTMAX-3.
    assert!(linux_fd_core::lockwait::blocking_waits_available());
    assert_eq!(linux_fd_core::lockwait::cancel_signal(), libc::SIGRTMAX() - 3);
}

#[test]
fn open_for_spec_opens_a_running_executable_read_only_for_the_locks_that_need_no_write_access() {
    // A running program cannot be opened O_RDWR: ETXTBSY for root (EACCES
    // for others, unless they own it). `flock -n` and Python's fcntl.flock
    // lock it; a flock or shared OFD lock here failed with ETXTBSY.
    let exe = std::env::current_exe().unwrap();
    for (kind, shared) in [
        (LockKind::Flock, false),
        (LockKind::Flock, true),
        (LockKind::Ofd, true),
    ] {
        let s = spec(kind, shared);
        let fd = open_for_spec(&exe, &s).unwrap_or_else(|e| panic!("{kind:?} shared={shared}: {e:?}"));
        assert!(try_lock(fd.as_fd(), &s).unwrap(), "{kind:?} shared={shared}");
    }
    // An exclusive OFD lock needs a writable fd: the read-write open's error
    // stays. Under qemu-user the test binary is not the kernel's exec'd file
    // (the emulator is), and a read-write open succeeds: not checked there.
    match std::fs::OpenOptions::new().read(true).write(true).open(&exe) {
        Ok(_) => eprintln!(
            "{} opens read-write here: the exclusive case is not checked",
            exe.display()
        ),
        Err(rw) => {
            let err = open_for_spec(&exe, &spec(LockKind::Ofd, false)).unwrap_err();
            assert_eq!(Some(err.errno as i32), rw.raw_os_error(), "{err:?}");
        }
    }
}

#[test]
fn open_for_spec_opens_a_directory_read_only_for_the_locks_that_need_no_write_access() {
    // A directory cannot be opened O_RDWR (EISDIR): flock and shared OFD
    // locks get a read-only fd, an exclusive OFD lock (which needs a
    // writable fd) keeps the error.
    let dir = temp_path("dir");
    std::fs::create_dir_all(&dir).unwrap();
    for (kind, shared) in [
        (LockKind::Flock, false),
        (LockKind::Flock, true),
        (LockKind::Ofd, true),
    ] {
        let s = spec(kind, shared);
        let fd = open_for_spec(&dir, &s).unwrap();
        assert!(try_lock(fd.as_fd(), &s).unwrap(), "{kind:?} shared={shared}");
    }
    let err = open_for_spec(&dir, &spec(LockKind::Ofd, false)).unwrap_err();
    assert_eq!((err.errno, err.syscall), (linux_fd_core::Errno::EISDIR, "open"));
    // A missing file in a missing directory: the read-write open's error.
    let missing = dir.join("no/such");
    let err = open_for_spec(&missing, &spec(LockKind::Flock, false)).unwrap_err();
    assert_eq!(err.errno, linux_fd_core::Errno::ENOENT);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn names_file_is_false_once_the_path_is_unlinked_or_replaced() {
    let dir = temp_path("names");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("lock");
    let fd = open_for_lock(&path).unwrap();
    assert!(names_file(&path, fd.as_fd()).unwrap());
    // Through a symlink, as open follows it.
    let link = dir.join("link");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    assert!(names_file(&link, fd.as_fd()).unwrap());
    // Replaced by a rename: the path names another inode.
    std::fs::write(dir.join("new"), b"").unwrap();
    std::fs::rename(dir.join("new"), &path).unwrap();
    assert!(!names_file(&path, fd.as_fd()).unwrap());
    // Unlinked: ENOENT is "not the file", not an error.
    std::fs::remove_file(&path).unwrap();
    assert!(!names_file(&path, fd.as_fd()).unwrap());
    // A path through a regular file: ENOTDIR, the same.
    let file = dir.join("file");
    std::fs::write(&file, b"").unwrap();
    assert!(!names_file(&file.join("x"), fd.as_fd()).unwrap());
    // Another stat error is returned, not taken for a mismatch.
    let long = dir.join("x".repeat(300));
    let err = names_file(&long, fd.as_fd()).unwrap_err();
    assert_eq!(
        (err.errno, err.syscall),
        (linux_fd_core::Errno::ENAMETOOLONG, "stat")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn description_holds_lock_sees_only_its_own_descriptions_locks_of_the_kind_and_range() {
    let path = temp_path("holds");
    let a = open_for_lock(&path).unwrap();
    let b = open_for_lock(&path).unwrap();
    let range = |start, len| LockSpec {
        kind: LockKind::Ofd,
        shared: false,
        start,
        len,
    };
    let flock = spec(LockKind::Flock, false);
    assert!(
        !description_holds_lock(a.as_fd(), &range(0, 0)),
        "nothing locked yet"
    );
    // An OFD lock of bytes 10..20 (fdinfo: "10 19").
    let held = LockSpec {
        kind: LockKind::Ofd,
        shared: true,
        start: 10,
        len: 10,
    };
    assert!(try_lock(a.as_fd(), &held).unwrap());
    for (start, len, overlaps) in [
        (0, 0, true),
        (15, 1, true),
        (0, 10, false),
        (0, 11, true),
        (19, 5, true),
        (20, 5, false),
        (20, 0, false),
    ] {
        assert_eq!(
            description_holds_lock(a.as_fd(), &range(start, len)),
            overlaps,
            "{start}+{len}"
        );
    }
    assert!(
        !description_holds_lock(a.as_fd(), &flock),
        "a flock spec ignores OFD locks"
    );
    // A dup shares the description, and so its locks; b is another description.
    let dup = a.try_clone().unwrap();
    assert!(description_holds_lock(dup.as_fd(), &range(0, 0)), "through a dup");
    assert!(!description_holds_lock(b.as_fd(), &range(0, 0)), "not b");
    unlock(a.as_fd(), &held).unwrap();
    assert!(!description_holds_lock(a.as_fd(), &range(0, 0)), "released");
    // A lock to the end of the file ("EOF"), and a flock lock.
    assert!(try_lock(
        a.as_fd(),
        &LockSpec {
            kind: LockKind::Ofd,
            shared: true,
            start: 100,
            len: 0
        }
    )
    .unwrap());
    assert!(
        description_holds_lock(a.as_fd(), &range(1 << 40, 1)),
        "to EOF covers any later byte"
    );
    assert!(
        !description_holds_lock(a.as_fd(), &range(0, 100)),
        "but not the bytes before it"
    );
    assert!(try_lock(b.as_fd(), &spec(LockKind::Flock, true)).unwrap());
    assert!(description_holds_lock(b.as_fd(), &flock), "b's flock lock");
    assert!(
        !description_holds_lock(b.as_fd(), &range(0, 0)),
        "an OFD spec ignores flock locks"
    );
}
