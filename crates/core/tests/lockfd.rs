//! `LockFd`, the state behind `FileLock`: what a release unlocks and closes,
//! the queue key, and a wait's grant, with real files.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;

use linux_fd_core::lockwait::{open_for_lock, try_lock, Cancel, LockFd, LockKind, LockSpec, Waited};
use linux_fd_core::Errno;

mod common;

/// Whether a fresh description of `path` could take an exclusive OFD lock
/// now (then drops it).
fn free(path: &std::path::Path) -> bool {
    let probe = open_for_lock(path).unwrap();
    try_lock(probe.as_fd(), &common::ofd(false)).unwrap()
}

#[test]
fn a_path_lock_is_held_until_released_and_a_release_is_idempotent() {
    let path = common::TempPath::new("lockfd-path");
    let mut a = LockFd::open(&path, common::ofd(false)).unwrap();
    let raw = a.raw().unwrap();
    assert_eq!(a.try_lock().unwrap(), Some(raw));
    let mut b = LockFd::open(&path, common::ofd(true)).unwrap();
    assert_eq!(
        b.try_lock().unwrap(),
        None,
        "a shared lock conflicts with the exclusive one"
    );
    assert!(!free(&path));
    a.release().unwrap();
    assert_eq!(a.raw(), None);
    assert_eq!(a.lost(), None);
    assert!(b.try_lock().unwrap().is_some());
    a.release().unwrap();
    b.release().unwrap();
    assert!(free(&path));
    assert_eq!(a.try_lock().unwrap_err().errno, Errno::EBADF);
}

#[test]
fn a_dup_lock_unlocks_the_shared_description_at_release_but_only_if_it_locked() {
    let path = common::TempPath::new("lockfd-dup");
    let caller: OwnedFd = open_for_lock(&path).unwrap();

    // Locked through the dup: the caller's description holds it, so the
    // close alone would leave it locked; the release unlocks it first.
    let mut l = LockFd::dup(caller.as_fd(), common::ofd(false)).unwrap();
    assert_ne!(l.raw(), Some(caller.as_raw_fd()));
    assert!(l.try_lock().unwrap().is_some());
    assert!(!free(&path));
    l.release().unwrap();
    assert!(
        free(&path),
        "released, though the caller's fd keeps the description open"
    );

    // The caller's own lock, and a dup that never locked: its release must
    // leave the caller's lock alone.
    assert!(try_lock(caller.as_fd(), &common::ofd(false)).unwrap());
    let mut idle = LockFd::dup(caller.as_fd(), common::ofd(false)).unwrap();
    idle.release().unwrap();
    assert!(
        !free(&path),
        "a release of a dup that did not lock dropped the caller's lock"
    );
}

#[test]
fn dropping_a_held_lock_releases_it() {
    let path = common::TempPath::new("lockfd-drop");
    let caller = open_for_lock(&path).unwrap();
    let mut l = LockFd::dup(caller.as_fd(), common::ofd(false)).unwrap();
    assert!(l.try_lock().unwrap().is_some());
    drop(l);
    assert!(free(&path));
}

#[test]
fn a_number_replaced_behind_its_back_is_neither_unlocked_nor_closed() {
    let path = common::TempPath::new("lockfd-lost");
    let other = common::TempPath::new("lockfd-lost-other");
    let mut l = LockFd::open(&path, common::ofd(false)).unwrap();
    let raw = l.try_lock().unwrap().unwrap();
    // The other file, locked through a description of its own, then put at
    // the lock's number in one step (dup2: no other test thread can take
    // the number in between). The lock's own description is gone with it.
    let o = open_for_lock(&other).unwrap();
    assert!(try_lock(o.as_fd(), &common::ofd(false)).unwrap());
    // SAFETY: both are open fds; dup2 closes `raw`, which `l` then finds
    // replaced (its identity check) and forgets.
    assert_eq!(unsafe { libc::dup2(o.as_raw_fd(), raw) }, raw);
    assert_eq!(l.release().unwrap_err().errno, Errno::EBADF);
    assert_eq!(l.lost(), Some(raw));
    assert!(
        !free(&other),
        "the other file's lock was dropped through the reused number"
    );
    // SAFETY: `raw` is ours again (the dup2 above); F_GETFD only reads.
    let open = unsafe { libc::fcntl(raw, libc::F_GETFD) } >= 0;
    assert!(open, "the reused number was closed");
    // SAFETY: as above; nothing else owns it.
    unsafe { libc::close(raw) };
    assert_eq!(l.release().unwrap_err().errno, Errno::EBADF, "still lost");
}

#[test]
fn the_key_names_the_file_kind_mode_and_range() {
    let path = common::TempPath::new("lockfd-key");
    let spec = LockSpec {
        kind: LockKind::Ofd,
        shared: true,
        start: 10,
        len: 5,
    };
    let mut l = LockFd::open(&path, spec).unwrap();
    let st = nix::sys::stat::stat(&*path).unwrap();
    assert_eq!(
        l.key().unwrap(),
        format!("{}:{}:ofd:sh:10:5", st.st_dev, st.st_ino)
    );
    let f = LockFd::open(
        &path,
        LockSpec {
            kind: LockKind::Flock,
            shared: false,
            start: 0,
            len: 0,
        },
    )
    .unwrap();
    assert_eq!(
        f.key().unwrap(),
        format!("{}:{}:flock:ex:0:0", st.st_dev, st.st_ino)
    );
    assert!(l.names(&path).unwrap());
    std::fs::remove_file(&path).unwrap();
    assert!(!l.names(&path).unwrap(), "unlinked");
    l.release().unwrap();
    assert_eq!(l.key().unwrap_err().errno, Errno::EBADF);
    assert_eq!(l.names(&path).unwrap_err().errno, Errno::EBADF);
}

#[test]
fn names_of_a_directory_removed_meanwhile_is_the_stat_error() {
    // The directory flag comes from the identity recorded at open: a
    // removed directory is an error (no start over that would create a
    // regular file there), a removed file is `false`.
    let dir = common::TempPath::new("lockfd-dir");
    std::fs::create_dir(&dir).unwrap();
    let flock = LockSpec {
        kind: LockKind::Flock,
        shared: false,
        start: 0,
        len: 0,
    };
    let l = LockFd::open(&dir, flock).unwrap();
    assert!(l.names(&dir).unwrap());
    std::fs::remove_dir(&dir).unwrap();
    let err = l.names(&dir).unwrap_err();
    assert_eq!((err.errno, err.syscall), (Errno::ENOENT, "stat"));
}

#[test]
fn names_asks_the_fd_now_not_the_identity_recorded_at_open() {
    // A number closed and reused behind the lock's back names another file:
    // the path of the first must not count as named (compared with the
    // identity recorded at open it did, and lockFile kept a lock on the
    // wrong file; s50-diff MED-2).
    let path = common::TempPath::new("lockfd-names-now");
    let other = common::TempPath::new("lockfd-names-other");
    let mut l = LockFd::open(&path, common::ofd(false)).unwrap();
    assert!(l.names(&path).unwrap());
    let raw = l.raw().unwrap();
    let victim = open_for_lock(&other).unwrap();
    // SAFETY: dup2 closes the file at raw behind the LockFd's back (the
    // point of the test) and makes raw a copy of victim, owned below.
    assert_eq!(unsafe { libc::dup2(victim.as_raw_fd(), raw) }, raw);
    // SAFETY: raw is now a copy of victim that only this test owns.
    let copy = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
    assert!(!l.names(&path).unwrap(), "the fd names the other file now");
    assert_eq!(
        l.release().unwrap_err().errno,
        Errno::EBADF,
        "forgotten, not closed"
    );
    drop(copy);
}

#[test]
fn a_grant_waits_through_its_own_dup_and_set_held_makes_the_release_unlock() {
    let path = common::TempPath::new("lockfd-grant");
    let caller = open_for_lock(&path).unwrap();
    let mut l = LockFd::dup(caller.as_fd(), common::ofd(false)).unwrap();
    let grant = Arc::new(l.grant().unwrap());
    let (r, _grant) = grant.wait(&Cancel::new()).deliver();
    assert_eq!(r.unwrap(), Waited::Acquired);
    assert!(!free(&path));
    l.set_held();
    l.release().unwrap();
    assert!(free(&path), "the release unlocked the granted lock");
    assert_eq!(l.grant().unwrap_err().errno, Errno::EBADF);
}
