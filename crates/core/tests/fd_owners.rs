//! The owner registry behind `GuardedFd`: which guard owns each fd number.
//! Every eventfd and timerfd has the same `fstat` identity, so only the
//! registry can tell a guard that its number now belongs to another guard
//! (closed behind its back, then reused), and refuse a second owner for a
//! number (`GuardedFd::adopt` of a number a live guard holds).
//!
//! Each test puts its fds at its own high numbers (`F_DUPFD_CLOEXEC` from a
//! base), because the test threads allocate the lowest free numbers and a
//! closed low number could be reused by another test in between.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

use linux_fd_core::eventfd::{eventfd, eventfd_read, eventfd_write, EfdFlags};
use linux_fd_core::fd::{GuardedFd, Taken};
use linux_fd_core::timerfd::timerfd_create;

mod fdutil;
use fdutil::{at, close_behind, is_open, memfd};

fn efd(initial: u32) -> OwnedFd {
    eventfd(initial, EfdFlags::EFD_CLOEXEC).unwrap()
}

/// Claims `raw` for a second owner, as `fromFd(raw, { adopt: true })` does.
fn adopt(raw: RawFd) -> Result<GuardedFd, RawFd> {
    // SAFETY: for the test, the number is handed over; if the adoption is
    // refused it is given back (into_raw_fd) without being closed.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    GuardedFd::adopt(fd).map_err(IntoRawFd::into_raw_fd)
}

/// The count of the eventfd at `raw` (reads and so resets it).
fn count(raw: RawFd) -> u64 {
    // SAFETY: the test knows raw is an open eventfd it owns.
    eventfd_read(unsafe { std::os::fd::BorrowedFd::borrow_raw(raw) }).unwrap()
}

#[test]
fn a_stale_guard_does_not_close_an_eventfd_another_guard_got_its_number() {
    // The hole before: every eventfd has the same fstat identity, so the
    // stale guard's drop closed the new guard's eventfd.
    let stale = GuardedFd::new(at(efd(0), 1000));
    let raw = stale.raw().unwrap();
    close_behind(raw);
    let fresh = GuardedFd::new(at(efd(7), raw));
    assert_eq!(fresh.raw(), Some(raw), "the fresh eventfd got another number");
    drop(stale);
    assert!(is_open(raw), "the stale guard closed the fresh guard's eventfd");
    assert_eq!(count(raw), 7);
    drop(fresh);
    assert!(!is_open(raw), "the fresh guard still closes its own fd");
}

#[test]
fn a_stale_guard_forgets_at_close_and_confirm_lost_says_lost() {
    let mut stale = GuardedFd::new(at(efd(0), 1020));
    let raw = stale.raw().unwrap();
    close_behind(raw);
    // A timerfd: also the anonymous inode, so fstat sees "the same file".
    let mut fresh = GuardedFd::new(at(
        timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC).unwrap(),
        raw,
    ));
    assert_eq!(fresh.raw(), Some(raw));
    assert!(stale.confirm_lost(), "the number is another guard's");
    assert_eq!(stale.raw(), None);
    assert_eq!(stale.close(), Some(raw));
    assert!(is_open(raw));
    assert!(!fresh.confirm_lost(), "the fresh guard still owns it");
    assert_eq!(fresh.close(), None);
    assert!(!is_open(raw));
}

#[test]
fn a_stale_guard_hands_nothing_over_from_take() {
    let mut stale = GuardedFd::new(at(efd(0), 1040));
    let raw = stale.raw().unwrap();
    close_behind(raw);
    let fresh = GuardedFd::new(at(efd(3), raw));
    assert!(matches!(stale.take(), Taken::Lost(n) if n == raw));
    assert!(is_open(raw));
    assert_eq!(count(raw), 3);
    drop(fresh);
}

#[test]
fn adopting_a_number_a_live_guard_owns_is_refused_and_leaves_it_open() {
    // The hole before: two owners of one eventfd; the first close freed the
    // number, a new eventfd reused it, and the second owner closed that.
    let owner = GuardedFd::new(at(efd(0), 1060));
    let raw = owner.raw().unwrap();
    assert_eq!(adopt(raw).err(), Some(raw), "a second owner was accepted");
    assert!(is_open(raw), "the refused adoption closed the fd");
    let mut owner = owner;
    assert_eq!(owner.close(), None, "the first owner still owns it");
    assert!(!is_open(raw));
}

#[test]
fn adopting_a_number_no_guard_owns_works() {
    let raw = at(efd(0), 1080).into_raw_fd();
    let mut g = adopt(raw).expect("nobody owned it");
    assert_eq!(g.raw(), Some(raw));
    // Now owned: a second adoption is refused.
    assert_eq!(adopt(raw).err(), Some(raw));
    assert_eq!(g.close(), None);
    assert!(!is_open(raw));
}

#[test]
fn a_number_can_be_adopted_once_its_owner_closed_or_handed_it_over() {
    let mut closed = GuardedFd::new(at(efd(0), 1100));
    let raw = closed.raw().unwrap();
    assert_eq!(closed.close(), None);
    let again = at(efd(0), raw).into_raw_fd();
    assert_eq!(again, raw);
    let g = adopt(raw).expect("the closed guard still owned the number");
    drop(g);

    // Handed over (as a received fd taken by JavaScript): the caller owns it.
    let mut list = GuardedFd::new(at(efd(0), 1100));
    let raw = list.raw().unwrap();
    let Taken::Ours(fd) = list.take() else {
        panic!("not ours")
    };
    let raw2 = fd.into_raw_fd();
    assert_eq!(raw2, raw);
    let g = adopt(raw).expect("a taken fd still had an owner");
    drop(g);
    assert!(!is_open(raw));
}

#[test]
fn a_guard_that_found_its_fd_gone_lets_the_number_be_adopted() {
    // Closed behind its back and reused by another file: fstat tells, and
    // the guard gives the number up, registry entry included.
    let mut g = GuardedFd::new(at(memfd("mine"), 1120));
    let raw = g.raw().unwrap();
    close_behind(raw);
    let other = at(memfd("other"), raw).into_raw_fd();
    assert_eq!(other, raw);
    assert_eq!(g.close(), Some(raw));
    let mut adopted = adopt(raw).expect("the lost guard still owned the number");
    assert_eq!(adopted.close(), None);
    assert!(!is_open(raw));
}

#[test]
fn a_refused_adoption_leaves_the_owner_working() {
    let owner = GuardedFd::new(at(efd(0), 1140));
    let raw = owner.raw().unwrap();
    assert!(adopt(raw).is_err());
    // The owner's fd is untouched: still the same eventfd, still counting.
    // SAFETY: raw is the open eventfd the owner holds.
    eventfd_write(unsafe { std::os::fd::BorrowedFd::borrow_raw(raw) }, 5).unwrap();
    assert_eq!(count(raw), 5);
    drop(owner);
    assert!(!is_open(raw));
}

#[test]
fn guards_on_other_threads_see_the_same_registry() {
    // The fd table is per process: a guard made on one thread makes a stale
    // guard on another thread forget the number.
    let stale = GuardedFd::new(at(efd(0), 1160));
    let raw = stale.raw().unwrap();
    close_behind(raw);
    let fresh = std::thread::spawn(move || GuardedFd::new(at(efd(2), raw)))
        .join()
        .unwrap();
    assert_eq!(fresh.raw(), Some(raw));
    std::thread::spawn(move || drop(stale)).join().unwrap();
    assert!(is_open(raw));
    assert_eq!(count(raw), 2);
    let refused = std::thread::spawn(move || adopt(raw).err()).join().unwrap();
    assert_eq!(refused, Some(raw));
    drop(fresh);
    assert!(!is_open(raw));
}

#[test]
fn a_number_handed_out_raw_clears_a_stale_owner_so_it_is_not_closed_and_can_be_adopted() {
    // Python-style constructors (os.eventfd) return a bare number that the
    // caller owns. If a stale guard was still recorded for it, adopting the
    // number was refused and the stale guard's drop (fstat cannot tell two
    // eventfds apart) closed the caller's eventfd.
    let stale = GuardedFd::new(at(efd(0), 1200));
    let raw = stale.raw().unwrap();
    close_behind(raw);
    let handed = linux_fd_core::fd::hand_out(at(efd(5), raw));
    assert_eq!(handed, raw, "the handed-out eventfd got another number");
    drop(stale);
    assert!(is_open(raw), "the stale guard closed the handed-out eventfd");
    let adopted = adopt(raw).expect("the handed-out number could not be adopted");
    assert_eq!(count(raw), 5);
    drop(adopted);
    assert!(!is_open(raw));
}

#[test]
fn a_number_made_by_fcntl_dupfd_for_the_caller_is_not_claimed_by_a_stale_guard() {
    let stale = GuardedFd::new(at(efd(0), 1300));
    let raw = stale.raw().unwrap();
    close_behind(raw);
    let src = efd(3);
    // SAFETY: F_DUPFD_CLOEXEC takes an integer, the lowest number to use.
    let dup = unsafe { linux_fd_core::fcntl::fcntl_int(src.as_fd(), libc::F_DUPFD_CLOEXEC, raw) }.unwrap();
    assert_eq!(dup, raw, "the dup got another number");
    drop(stale);
    assert!(is_open(raw), "the stale guard closed the caller's dup");
    let adopted = adopt(raw).expect("the dup could not be adopted");
    assert_eq!(count(raw), 3);
    drop(adopted);
}

#[test]
fn own_adopts_once_sets_cloexec_and_refuses_a_second_owner_untouched() {
    use linux_fd_core::fd::{is_cloexec, own};
    // An inheritable, blocking pipe end at a high number.
    let (r, _w) = nix::unistd::pipe().unwrap();
    let raw = at(r, 1400).into_raw_fd();
    // SAFETY: raw is open and ours; clearing FD_CLOEXEC only changes its flags.
    unsafe { libc::fcntl(raw, libc::F_SETFD, 0) };
    // SAFETY: raw stays open while borrowed (only the guard `g` closes it, after the last use of `b`).
    let b = unsafe { std::os::fd::BorrowedFd::borrow_raw(raw) };
    // SAFETY: adopting, the test gives the number up to the guard; not adopting, nothing is required.
    let g = unsafe { own(b, true, false, true) }.unwrap();
    assert_eq!(g.raw(), Some(raw), "adopted: the number itself");
    assert!(is_cloexec(b).unwrap(), "adopted: close-on-exec");
    // SAFETY: F_GETFL only reads the status flags.
    let fl = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    assert_ne!(fl & libc::O_NONBLOCK, 0, "and non-blocking");
    // SAFETY: adopting, the test gives the number up to the guard; not adopting, nothing is required.
    let e = unsafe { own(b, true, false, false) }.map(|_| ()).unwrap_err();
    assert_eq!(e.errno, nix::errno::Errno::EBUSY, "a second owner is refused");
    assert!(is_open(raw), "and the number is left open");
    // SAFETY: adopting, the test gives the number up to the guard; not adopting, nothing is required.
    let dup = unsafe { own(b, false, false, false) }.unwrap();
    assert!(dup.raw().is_some_and(|d| d != raw), "not adopting: a dup");
    assert!(
        is_cloexec(dup.get().unwrap().as_fd()).unwrap(),
        "the dup is close-on-exec"
    );
    drop(dup);
    assert!(is_open(raw), "closing the dup leaves the number");
    drop(g);
    assert!(!is_open(raw), "the owner closes it");
}

#[test]
fn own_without_adopting_makes_the_shared_description_non_blocking_only_if_asked() {
    use linux_fd_core::fd::own;
    let (r, _w) = nix::unistd::pipe().unwrap();
    let nonblock = |fd: &OwnedFd| {
        // SAFETY: F_GETFL only reads the status flags of an open fd.
        let fl = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
        fl & libc::O_NONBLOCK != 0
    };
    // SAFETY: adopting, the test gives the number up to the guard; not adopting, nothing is required.
    let plain = unsafe { own(r.as_fd(), false, false, false) }.unwrap();
    assert!(!nonblock(&r), "not asked: left blocking");
    // SAFETY: adopting, the test gives the number up to the guard; not adopting, nothing is required.
    let nb = unsafe { own(r.as_fd(), false, false, true) }.unwrap();
    assert!(
        nonblock(&r),
        "asked: the description (shared with the caller's fd)"
    );
    assert!(plain.raw().is_some() && nb.raw().is_some() && plain.raw() != nb.raw());
}
