//! Lock waits: conflicts between open file descriptions, cancellation, and
//! hand-off after release, with real files and threads.

use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use linux_fd_core::lockwait::{
    held_pieces, lock_until, names_file, open_for_lock, open_for_spec, try_lock, undo_grant, unlock, Cancel,
    Grant, HeldPiece, LockKind, LockSpec, Waited,
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
fn names_file_of_a_removed_directory_is_the_stat_error() {
    let dir = temp_path("names-dir");
    let locked = dir.join("d");
    std::fs::create_dir_all(&locked).unwrap();
    let fd = open_for_spec(&locked, &spec(LockKind::Flock, false)).unwrap();
    assert!(names_file(&locked, fd.as_fd()).unwrap());
    // Renamed over by another directory: a mismatch, as for a file.
    std::fs::create_dir(dir.join("new")).unwrap();
    std::fs::rename(dir.join("new"), &locked).unwrap();
    assert!(!names_file(&locked, fd.as_fd()).unwrap());
    // Gone: an error, so that nobody starts over with an O_CREAT open.
    std::fs::remove_dir(&locked).unwrap();
    let err = names_file(&locked, fd.as_fd()).unwrap_err();
    assert_eq!((err.errno, err.syscall), (linux_fd_core::Errno::ENOENT, "stat"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// This description's OFD locks on the file, as `(shared, first, last)`, from /proc/self/fdinfo.
fn own_locks(fd: std::os::fd::BorrowedFd<'_>) -> Vec<(bool, i64, i64)> {
    let all = LockSpec {
        kind: LockKind::Ofd,
        shared: true,
        start: 0,
        len: 0,
    };
    held_pieces(fd, &all)
        .unwrap()
        .iter()
        .map(|p| (p.shared, p.first, p.last))
        .collect()
}

#[test]
fn held_pieces_reads_this_descriptions_ofd_locks_over_a_range() {
    let path = temp_path("held");
    let a = open_for_lock(&path).unwrap();
    let b = open_for_lock(&path).unwrap();
    let range = |start, len| LockSpec {
        kind: LockKind::Ofd,
        shared: false,
        start,
        len,
    };
    assert!(
        held_pieces(a.as_fd(), &range(0, 0)).unwrap().is_empty(),
        "nothing locked yet"
    );
    // Shared 10..19 and exclusive 30..EOF.
    assert!(try_lock(
        a.as_fd(),
        &LockSpec {
            kind: LockKind::Ofd,
            shared: true,
            start: 10,
            len: 10
        }
    )
    .unwrap());
    assert!(try_lock(
        a.as_fd(),
        &LockSpec {
            kind: LockKind::Ofd,
            shared: false,
            start: 30,
            len: 0
        }
    )
    .unwrap());
    let piece = |shared, first, last| HeldPiece { shared, first, last };
    assert_eq!(
        held_pieces(a.as_fd(), &range(0, 0)).unwrap(),
        [piece(true, 10, 19), piece(false, 30, i64::MAX)]
    );
    // Cut to the range; none outside it.
    assert_eq!(
        held_pieces(a.as_fd(), &range(15, 20)).unwrap(),
        [piece(true, 15, 19), piece(false, 30, 34)]
    );
    assert!(held_pieces(a.as_fd(), &range(0, 10)).unwrap().is_empty());
    assert!(held_pieces(a.as_fd(), &range(20, 10)).unwrap().is_empty());
    // A negative length is the bytes before the start, as fcntl(2) reads it.
    assert_eq!(
        held_pieces(a.as_fd(), &range(20, -5)).unwrap(),
        [piece(true, 15, 19)]
    );
    assert!(held_pieces(a.as_fd(), &range(10, -10)).unwrap().is_empty());
    // A flock spec counts none; a dup shares the description; b is another one.
    assert!(held_pieces(a.as_fd(), &spec(LockKind::Flock, false))
        .unwrap()
        .is_empty());
    let dup = a.try_clone().unwrap();
    assert_eq!(held_pieces(dup.as_fd(), &range(0, 0)).unwrap().len(), 2);
    assert!(held_pieces(b.as_fd(), &range(0, 0)).unwrap().is_empty());
}

#[test]
fn undo_grant_puts_back_what_the_description_held_and_unlocks_the_rest() {
    let path = temp_path("undo");
    let a = open_for_lock(&path).unwrap();
    let b = open_for_lock(&path).unwrap();
    let ofd = |shared, start, len| LockSpec {
        kind: LockKind::Ofd,
        shared,
        start,
        len,
    };
    // Held: shared 0..9 and shared 20..29. Granted: exclusive 5..EOF.
    assert!(try_lock(a.as_fd(), &ofd(true, 0, 10)).unwrap());
    assert!(try_lock(a.as_fd(), &ofd(true, 20, 10)).unwrap());
    let wanted = ofd(false, 5, 0);
    let held = held_pieces(a.as_fd(), &wanted).unwrap();
    assert!(try_lock(a.as_fd(), &wanted).unwrap());
    assert_eq!(own_locks(a.as_fd()), [(true, 0, 4), (false, 5, i64::MAX)]);
    undo_grant(a.as_fd(), &wanted, &held).unwrap();
    assert_eq!(
        own_locks(a.as_fd()),
        [(true, 0, 9), (true, 20, 29)],
        "as before the grant"
    );
    // Another description can take what is free again, and share what is shared.
    assert!(try_lock(b.as_fd(), &ofd(false, 10, 10)).unwrap());
    assert!(try_lock(b.as_fd(), &ofd(false, 30, 0)).unwrap());
    assert!(try_lock(b.as_fd(), &ofd(true, 0, 10)).unwrap());
    unlock(b.as_fd(), &ofd(true, 0, 0)).unwrap();
    // Nothing held: the undo is an unlock of the range.
    unlock(a.as_fd(), &ofd(true, 0, 0)).unwrap();
    let none = held_pieces(a.as_fd(), &wanted).unwrap();
    assert!(try_lock(a.as_fd(), &wanted).unwrap());
    undo_grant(a.as_fd(), &wanted, &none).unwrap();
    assert!(own_locks(a.as_fd()).is_empty());
    // Held exclusive, granted shared over it (a downgrade request): put back.
    assert!(try_lock(a.as_fd(), &ofd(false, 0, 10)).unwrap());
    let down = ofd(true, 0, 20);
    let held = held_pieces(a.as_fd(), &down).unwrap();
    assert!(try_lock(a.as_fd(), &down).unwrap());
    undo_grant(a.as_fd(), &down, &held).unwrap();
    assert_eq!(own_locks(a.as_fd()), [(false, 0, 9)]);
}

/// A `Grant` for `s` through a dup of `fd` (as the binding makes one).
fn grant_of(fd: std::os::fd::BorrowedFd<'_>, s: LockSpec, shared_description: bool) -> Arc<Grant> {
    let dup = linux_fd_core::fd::dup_cloexec(fd).unwrap();
    Arc::new(Grant::new(dup, s, shared_description).unwrap())
}

/// Whether another description of `path` can take `s` now (it lets go at once).
fn free(path: &std::path::Path, s: &LockSpec) -> bool {
    let other = open_for_lock(path).unwrap();
    try_lock(other.as_fd(), s).unwrap()
}

#[test]
fn a_delivered_grant_is_held_until_undone_and_undone_once() {
    let path = temp_path("grant-kept");
    let s = spec(LockKind::Ofd, false);
    let fd = open_for_lock(&path).unwrap();
    let grant = grant_of(fd.as_fd(), s, false);
    let cancel = Arc::new(Cancel::new());
    let (r, grant) = grant.wait(&cancel).deliver();
    assert_eq!(r.unwrap(), Waited::Acquired);
    assert!(!free(&path, &s), "a delivered grant stays held");
    grant.undo_if_granted();
    assert!(free(&path, &s), "undone through the wait's dup");
    // Locked again through the same description: a second undo (from a
    // cancel, or the report) must leave that lock alone.
    assert!(try_lock(fd.as_fd(), &s).unwrap());
    grant.undo_if_granted();
    grant.cancel(&cancel);
    assert!(!free(&path, &s), "an undone grant is never undone again");
}

#[test]
fn an_outcome_dropped_undelivered_undoes_its_grant() {
    let path = temp_path("grant-dropped");
    let s = spec(LockKind::Flock, false);
    let fd = open_for_lock(&path).unwrap();
    let outcome = grant_of(fd.as_fd(), s, false).wait(&Arc::new(Cancel::new()));
    assert!(!free(&path, &s));
    drop(outcome);
    assert!(free(&path, &s), "no lock is left that no one owns");
}

#[test]
fn a_cancel_after_the_grant_undoes_it_before_the_report() {
    let path = temp_path("grant-cancel-late");
    let s = spec(LockKind::Ofd, false);
    let fd = open_for_lock(&path).unwrap();
    let grant = grant_of(fd.as_fd(), s, false);
    let cancel = Arc::new(Cancel::new());
    let outcome = grant.clone().wait(&cancel);
    assert!(!free(&path, &s));
    grant.cancel(&cancel);
    assert!(free(&path, &s), "undone by the cancel, not by the report");
    // The report then finds it undone: re-locked meanwhile through the
    // description, that lock survives the report's undo and the drop.
    assert!(try_lock(fd.as_fd(), &s).unwrap());
    let (r, g) = outcome.deliver();
    assert_eq!(r.unwrap(), Waited::Acquired);
    g.undo_if_granted();
    drop(g);
    drop(grant);
    assert!(!free(&path, &s));
}

#[test]
fn a_cancelled_wait_holds_nothing_whichever_comes_first() {
    // The holder lets go while the waiter's cancel is sent: the kernel may
    // grant the lock before, during or after the cancel. Whatever the
    // interleaving, once the cancel has returned and the report is in,
    // a kept grant is the only lock, and a cancelled one holds nothing.
    let path = temp_path("grant-race");
    let s = spec(LockKind::Ofd, false);
    let holder = open_for_lock(&path).unwrap();
    let (mut kept, mut cancelled) = (0, 0);
    for i in 0..1000 {
        assert!(try_lock(holder.as_fd(), &s).unwrap());
        let waiter = open_for_lock(&path).unwrap();
        let grant = grant_of(waiter.as_fd(), s, false);
        let cancel = Arc::new(Cancel::new());
        let (g2, c2) = (grant.clone(), cancel.clone());
        let t = std::thread::spawn(move || g2.wait(&c2));
        if i % 2 == 0 {
            std::thread::yield_now();
        }
        unlock(holder.as_fd(), &s).unwrap();
        if i % 4 < 2 {
            std::thread::sleep(Duration::from_micros(50));
        }
        grant.cancel(&cancel);
        let (r, g) = t.join().unwrap().deliver();
        match r.unwrap() {
            // Granted before the cancel: the cancel undid it.
            Waited::Acquired => kept += 1,
            Waited::Cancelled => cancelled += 1,
        }
        drop(g);
        assert!(
            free(&path, &s),
            "round {i}: a lock was left held after the cancel"
        );
    }
    assert_eq!(kept + cancelled, 1000);
}

#[test]
fn a_grant_through_a_shared_description_puts_back_what_it_held() {
    let path = temp_path("grant-held");
    let fd = open_for_lock(&path).unwrap();
    let shared = spec(LockKind::Ofd, true);
    assert!(try_lock(fd.as_fd(), &shared).unwrap());
    // An upgrade through the holder's own description, then a cancel.
    let grant = grant_of(fd.as_fd(), spec(LockKind::Ofd, false), true);
    let cancel = Arc::new(Cancel::new());
    let outcome = grant.clone().wait(&cancel);
    assert_eq!(own_locks(fd.as_fd()), vec![(false, 0, i64::MAX)]);
    grant.cancel(&cancel);
    assert_eq!(
        own_locks(fd.as_fd()),
        vec![(true, 0, i64::MAX)],
        "the shared lock is back"
    );
    drop(outcome);
    assert_eq!(own_locks(fd.as_fd()), vec![(true, 0, i64::MAX)]);
}
