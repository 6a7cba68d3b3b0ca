//! The number of a received fd closed on the pool (s41-diff L5): while a
//! lingering socket's close waited on a pool thread, the owners registry
//! still named the closed guard, so adopting the number (freed by the
//! kernel at the start of the close, and reused) was refused for the whole
//! linger time. Its own test binary: it `dup2`s onto a number that it
//! expects to be free, which no other test thread may take meanwhile.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use linux_fd_core::fd::GuardedFd;

mod common;

#[test]
fn the_number_of_a_lingering_socket_closed_on_the_pool_can_be_adopted_at_once() {
    let (fd, _server, _listener) = common::stuck_socket(Some(3));
    let raw = fd.as_raw_fd();
    let mut g = GuardedFd::new(fd);
    // Opened before the close, or it would take the freed number itself.
    let null = std::fs::File::open("/dev/null").unwrap();
    let start = Instant::now();
    assert_eq!(g.close_received(), None, "closed, not lost");
    let returned = start.elapsed();
    assert!(returned < Duration::from_millis(1000), "it waited {returned:?}");
    // The socket's last close, with its linger, runs on a pool thread.
    while linux_fd_core::pool::threads().1.len() != 1 {
        assert!(start.elapsed() < Duration::from_millis(1000), "no closer started");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Whatever path the close takes, it has begun by now, and the kernel
    // frees the number at the start of a close.
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: `raw` is free (the guard's close has begun) and this test
    // binary runs no other test that could take it; dup2 puts /dev/null
    // there, as an `open` by other code would.
    let got = unsafe { libc::dup2(null.as_raw_fd(), raw) };
    assert_eq!(got, raw);
    // SAFETY: dup2 made `raw` a new fd that nothing else owns.
    let reopened = unsafe { OwnedFd::from_raw_fd(raw) };
    let adopted = GuardedFd::adopt(reopened);
    assert!(
        start.elapsed() < Duration::from_millis(2500),
        "the check ran within the linger time ({:?})",
        start.elapsed()
    );
    let mut adopted = match adopted {
        Ok(a) => a,
        Err(fd) => {
            drop(fd);
            panic!("the reused number {raw} was refused while the old socket lingered");
        }
    };
    // The lingering close must not close the adopter's file: once the
    // closer is done (the linger time, so the close really waited there),
    // the number is still /dev/null and open.
    while !linux_fd_core::pool::threads().1.is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the closer never finished"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        start.elapsed() >= Duration::from_millis(2500),
        "the closer waited the linger time ({:?})",
        start.elapsed()
    );
    let now = nix::sys::stat::fstat(adopted.get().unwrap()).unwrap();
    let devnull = nix::sys::stat::fstat(&null).unwrap();
    assert_eq!((now.st_dev, now.st_ino), (devnull.st_dev, devnull.st_ino));
    assert_eq!(adopted.close(), None, "still the adopter's, and closed by it");
}
