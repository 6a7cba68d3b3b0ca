//! What needs a fresh fd number of its own, when the process has none left
//! (`EMFILE`): reading `/proc/self/fdinfo` (an fd's kind, the locks a
//! description holds) and the one-time `RWF_NOWAIT` probe. Each answered as
//! if `/proc` or the probe said "nothing" (s46-exhaust H2, H3, M1). Its own
//! test binary: it lowers the process's fd limit and fills the table, and
//! the probe must not have run before.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::mpsc;
use std::time::Duration;

use linux_fd_core::eventfd::{eventfd, eventfd_try_read, eventfd_write, EfdFlags, EVENTFD_NOWAIT};
use linux_fd_core::fd::{dup_cloexec, kind};
use linux_fd_core::lockwait::{open_for_lock, try_lock, Grant};
use linux_fd_core::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};

mod common;

#[test]
fn reads_that_need_a_fresh_fd_fail_with_emfile_rather_than_answer_nothing() {
    // A plain eventfd (not a semaphore), for the kind check.
    let plain = eventfd(5, EfdFlags::EFD_CLOEXEC).unwrap();
    // A description holding a shared lock, and the dup a wait through its fd
    // makes (before the table is full, as the binding's wait makes it).
    let path = common::TempPath::new("fdinfo-emfile");
    let held = open_for_lock(&path).unwrap();
    assert!(try_lock(held.as_fd(), &common::ofd(true)).unwrap());
    let dup = dup_cloexec(held.as_fd()).unwrap();
    // An empty eventfd whose description a peer made blocking, for the
    // read that never waits; nothing in this process has read one before,
    // so the RWF_NOWAIT probe has not run.
    let counter = eventfd(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK).unwrap();
    let flags = OFlag::from_bits_retain(fcntl(&counter, FcntlArg::F_GETFL).unwrap());
    fcntl(&counter, FcntlArg::F_SETFL(flags - OFlag::O_NONBLOCK)).unwrap();
    let reader: OwnedFd = counter.try_clone().unwrap();

    let timer = linux_fd_core::timerfd::timerfd_create(libc::CLOCK_REALTIME, libc::TFD_CLOEXEC).unwrap();
    let (kind_result, clock, grant, read) = common::out_of_fds(|| {
        // H3: the kind was `Unknown` ("no /proc"), so fromFd took any fd.
        let kind_result = kind(plain.as_fd());
        // s46-diff M1: a timerfd's clock read as "the kernel does not say".
        let clock = linux_fd_core::timerfd::clock_id(timer.as_fd()).map_err(|e| e.errno);
        // H2: the pieces read as none, and an undo after a cancel then
        // unlocked the range, dropping the shared lock the caller holds.
        let grant = Grant::new(dup, common::ofd(false), true).map(|_| ());
        // M1: with no probe file, the read fell back to a plain read(2),
        // which blocked on the blocking description for good.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || tx.send(eventfd_try_read(reader.as_fd()).map_err(|e| e.errno)));
        let read = rx.recv_timeout(Duration::from_secs(2));
        if read.is_err() {
            eventfd_write(counter.as_fd(), 1).unwrap(); // let the thread end
        }
        (kind_result, clock, grant, read)
    });
    assert_eq!(clock, Err(Errno::EMFILE));
    assert_eq!(
        kind_result.map_err(|e| (e.errno, e.syscall)),
        Err((Errno::EMFILE, "open"))
    );
    assert_eq!(grant.map_err(|e| e.errno), Err(Errno::EMFILE));
    // Where the kernel (or qemu-user) has no RWF_NOWAIT for eventfds, a
    // read that never waits is not possible: it waits, as documented.
    if EVENTFD_NOWAIT.supported() == Some(true) {
        assert_eq!(read, Ok(Err(Errno::EAGAIN)), "the read never waits");
    }
    // The shared lock is still held, and the answers are right again.
    assert!(!try_lock(open_for_lock(&path).unwrap().as_fd(), &common::ofd(false)).unwrap());
    assert_eq!(kind(plain.as_fd()).unwrap().name(), "eventfd");
    assert!(plain.as_raw_fd() >= 0);
    std::fs::remove_file(&*path).unwrap();
}
