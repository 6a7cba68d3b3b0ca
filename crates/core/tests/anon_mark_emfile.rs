//! The fdinfo mark of an eventfd or timerfd guard ([`GuardedFd::mark_shared`])
//! when fdinfo cannot be read (no fd number left; the same path as no
//! `/proc`): a missed mark, or a check that could not read fdinfo, took
//! libuv's epoll fd on a timerfd's number for the timerfd, and closed it
//! (s52-timer F2: the process aborted). Its own test binary: it lowers the
//! process's fd limit and fills the table.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use linux_fd_core::eventfd::{eventfd, EfdFlags};
use linux_fd_core::fd::GuardedFd;
use linux_fd_core::timerfd::timerfd_create;

mod common;
mod fdutil;
use fdutil::{at, is_open};

fn epoll() -> OwnedFd {
    // SAFETY: epoll_create1 takes no pointer; a new fd is returned or -1.
    let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    assert!(fd >= 0);
    // SAFETY: a new fd that only this test owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn inotify() -> OwnedFd {
    // SAFETY: inotify_init1 takes no pointer; a new fd is returned or -1.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
    assert!(fd >= 0);
    // SAFETY: a new fd that only this test owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn timer() -> OwnedFd {
    timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC).unwrap()
}

fn counter() -> OwnedFd {
    eventfd(0, EfdFlags::EFD_CLOEXEC).unwrap()
}

/// The guard's number closed behind its back and taken by an epoll fd.
fn reuse_by_epoll(raw: RawFd) -> OwnedFd {
    reuse_by(raw, epoll())
}

/// The guard's number closed behind its back and taken by `victim`'s file.
fn reuse_by(raw: RawFd, victim: OwnedFd) -> OwnedFd {
    // SAFETY: dup2 onto raw closes the guard's file there (the point of the
    // test) and makes raw a copy of the victim's.
    assert_eq!(unsafe { libc::dup2(victim.as_raw_fd(), raw) }, raw);
    // SAFETY: raw is now a new fd that only this test owns.
    unsafe { OwnedFd::from_raw_fd(raw) }
}

fn a_mark_missed_or_unreadable_for_want_of_fds_still_tells_a_timerfd_from_epoll() {
    // 1. Marked as usual; the check at close has no fd to read fdinfo with.
    let mut t = GuardedFd::new_anon(at(timer(), 900));
    t.mark_shared();
    let raw = t.raw().unwrap();
    let victim = reuse_by_epoll(raw);
    let closed = common::out_of_fds(|| t.close());
    assert_eq!(
        closed,
        Some(raw),
        "out of fds at close: the epoll fd counted as the timerfd"
    );
    assert!(is_open(raw), "the epoll fd was closed");
    drop(victim);

    // 2. and 3. Marked while out of fds (the number first read then), checked later.
    for (base, fd) in [(910, timer()), (920, counter())] {
        let mut g = GuardedFd::new_anon(at(fd, base));
        common::out_of_fds(|| g.mark_shared());
        let raw = g.raw().unwrap();
        let victim = reuse_by_epoll(raw);
        assert_eq!(
            g.close(),
            Some(raw),
            "marked out of fds at {base}: the epoll fd counted as ours"
        );
        assert!(is_open(raw), "the epoll fd at {base} was closed");
        drop(victim);
    }

    // 4. Its own fd is still closed: marked out of fds and checked out of fds
    // (a timerfd answers timerfd_gettime; an eventfd cannot be told, and
    // counts as ours), or marked out of fds and checked with fdinfo.
    for (base, fd, check_out_of_fds) in [
        (930, timer(), true),
        (940, counter(), true),
        (950, timer(), false),
        (960, counter(), false),
    ] {
        let mut g = GuardedFd::new_anon(at(fd, base));
        common::out_of_fds(|| g.mark_shared());
        let raw = g.raw().unwrap();
        let closed = if check_out_of_fds {
            common::out_of_fds(|| g.close())
        } else {
            g.close()
        };
        assert_eq!(closed, None, "its own fd at {base} counted as lost");
        assert!(!is_open(raw), "its own fd at {base} was not closed");
    }
}

fn a_received_anonymous_fd_is_marked_by_its_kind_even_when_received_and_marked_out_of_fds() {
    // s52-diff H1: the first received fd came while the process was out of
    // fds, the probe for the anonymous inode's identity failed, and its
    // failure, cached, left every received eventfd unmarked: a close of
    // libuv's epoll fd on a reused number. The file type says it now.
    let sent = at(counter(), 970);
    let mut g = common::out_of_fds(|| {
        let mut g = GuardedFd::received(sent);
        g.mark_shared();
        g
    });
    let raw = g.raw().unwrap();
    let victim = reuse_by_epoll(raw);
    assert_eq!(
        g.close(),
        Some(raw),
        "a received eventfd took libuv's epoll fd for its own"
    );
    assert!(is_open(raw), "the epoll fd was closed");
    drop(victim);

    // s52-diff H2: a received inotify or epoll fd had the same mark as the
    // other kind (fdinfo has neither eventfd's nor timerfd's fields); the
    // link names the kind.
    for (base, sent, victim) in [(980, inotify(), epoll()), (990, epoll(), inotify())] {
        let mut g = GuardedFd::received(at(sent, base));
        g.mark_shared();
        let raw = g.raw().unwrap();
        let victim = reuse_by(raw, victim);
        assert_eq!(g.close(), Some(raw), "another kind at {base} counted as ours");
        assert!(is_open(raw), "the victim at {base} was closed");
        drop(victim);
    }

    // s52-diff M1: one marked out of fds was taken for an eventfd, and
    // never closed; its own fd is closed now.
    for (base, sent) in [(1000, inotify()), (1010, epoll()), (1020, timer())] {
        let mut g = GuardedFd::received(at(sent, base));
        common::out_of_fds(|| g.mark_shared());
        let raw = g.raw().unwrap();
        assert_eq!(g.close(), None, "its own fd at {base} counted as lost");
        assert!(!is_open(raw), "its own fd at {base} was not closed");
    }
}

/// One test: `out_of_fds` lowers the limit of the whole process, which a
/// test running beside it on another thread would trip over.
#[test]
fn marks_when_out_of_fds() {
    a_mark_missed_or_unreadable_for_want_of_fds_still_tells_a_timerfd_from_epoll();
    a_received_anonymous_fd_is_marked_by_its_kind_even_when_received_and_marked_out_of_fds();
}
