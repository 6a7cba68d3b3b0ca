//! Closing fds a peer chose (s41-chan MED-1): a TCP socket with `SO_LINGER`
//! on and a send queue nobody reads blocks its last `close` for the linger
//! time. `close_may_block` must see it, and `close_received` must return at
//! once and close it on a pool thread.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use linux_fd_core::fd::{close_may_block, close_received};

mod common;
use common::stuck_socket;

#[test]
fn close_may_block_sees_lingering_sockets_and_devices_only() {
    let (lingering, _server, _l) = stuck_socket(Some(2));
    assert!(close_may_block(lingering.as_fd()), "a socket with SO_LINGER on");
    let (plain, _server2, _l2) = stuck_socket(None);
    assert!(!close_may_block(plain.as_fd()), "a socket without SO_LINGER");
    // A negative linger time is an infinite one to the kernel, and reads
    // back negative (s42-diff MED: it was taken not to block, and a peer's
    // socket stalled the event loop for as long as the peer liked).
    let (forever, server3, _l3) = stuck_socket(Some(-1));
    assert!(
        close_may_block(forever.as_fd()),
        "a socket with a negative SO_LINGER time"
    );
    // A reset from the other end ends the linger: closed first, then ours.
    drop(server3);
    drop(forever);
    let (r, w) = nix::unistd::pipe().unwrap();
    assert!(
        !close_may_block(r.as_fd()) && !close_may_block(w.as_fd()),
        "a pipe"
    );
    let null = std::fs::File::open("/dev/null").unwrap();
    assert!(
        !close_may_block(null.as_fd()),
        "a character device that is not a tty"
    );
    let pty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/ptmx")
        .unwrap();
    assert!(
        close_may_block(pty.as_fd()),
        "a tty (a pty's master) drains on its last close"
    );
    let file = std::fs::File::open("/proc/self/status").unwrap();
    assert!(!close_may_block(file.as_fd()), "a file on a local filesystem");
}

#[test]
fn close_received_returns_at_once_for_a_lingering_socket_and_closes_it_later() {
    let (lingering, _server, _l) = stuck_socket(Some(2));
    let raw = lingering.as_raw_fd();
    let (tx, rx) = std::sync::mpsc::channel();
    let start = Instant::now();
    close_received(lingering, move |n| tx.send((n, Instant::now())).unwrap());
    let returned = start.elapsed();
    assert!(
        returned < Duration::from_millis(1000),
        "close_received waited {returned:?}"
    );
    // The number itself was closed before the call returned (a socket waits
    // only in its last close, which is the pool's copy's), so `after` ran
    // at once. That the copy's close waits the linger time on the pool is
    // checked in close_received_adopt.rs, a binary with no other test
    // using the pool.
    let (n, closed_at) = rx.try_recv().expect("`after` ran before the call returned");
    assert_eq!(n, raw);
    assert!(closed_at - start < Duration::from_millis(1000));

    // An fd whose close does not block is closed before the call returns.
    let (r, w) = nix::unistd::pipe().unwrap();
    let raw_w = w.as_raw_fd();
    close_received(w, move |n| assert_eq!(n, raw_w));
    let mut buf = [0u8; 1];
    assert_eq!(
        nix::unistd::read(&r, &mut buf).unwrap(),
        0,
        "the write end is closed"
    );
}

#[test]
fn at_most_closers_closes_wait_at_once_and_every_one_is_done() {
    // CLOSERS + 4 lingering sockets: CLOSERS closers at a time, not one
    // thread each (s41-diff MED-2: 100 sockets made 100 threads), and every
    // close done.
    let n = linux_fd_core::fd::CLOSERS + 4;
    let socks: Vec<_> = (0..n).map(|_| stuck_socket(Some(1))).collect();
    let (tx, rx) = std::sync::mpsc::channel();
    let mut keep = Vec::new();
    for (fd, server, listener) in socks {
        let tx = tx.clone();
        close_received(fd, move |n| tx.send(n).unwrap());
        keep.push((server, listener));
    }
    std::thread::sleep(Duration::from_millis(300));
    let (_, busy) = linux_fd_core::pool::threads();
    assert!(
        busy.len() <= linux_fd_core::fd::CLOSERS,
        "{} pool threads busy closing",
        busy.len()
    );
    assert!(
        busy.len() >= 8,
        "closes that may block run side by side ({} busy)",
        busy.len()
    );
    for _ in 0..n {
        rx.recv_timeout(Duration::from_secs(30)).expect("every close ran");
    }
}

#[test]
fn a_close_that_may_block_does_not_wait_behind_lingering_ones() {
    // Five sockets lingering 2 s, then a pty's master (a tty, so also
    // closed on the pool): its close must not queue behind them
    // (s41-diff2 MED-B: with 4 closers, a pty's close waited 6 s).
    let socks: Vec<_> = (0..5).map(|_| stuck_socket(Some(2))).collect();
    let mut keep = Vec::new();
    for (fd, server, listener) in socks {
        close_received(fd, drop);
        keep.push((server, listener));
    }
    let null: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/ptmx")
        .unwrap()
        .into();
    assert!(close_may_block(null.as_fd()));
    let (tx, rx) = std::sync::mpsc::channel();
    let start = Instant::now();
    close_received(null, move |_| tx.send(Instant::now()).unwrap());
    let done = rx.recv_timeout(Duration::from_secs(30)).expect("the close ran");
    assert!(
        done - start < Duration::from_millis(1000),
        "it waited {:?}",
        done - start
    );
}

#[test]
fn a_guard_closes_a_received_fd_that_is_still_its_own_and_forgets_one_that_is_not() {
    use linux_fd_core::fd::GuardedFd;
    // Still ours: closed (the read end sees the end of the pipe), and
    // nothing reported lost.
    let (r, w) = nix::unistd::pipe().unwrap();
    let mut g = GuardedFd::new(w);
    assert_eq!(g.close_received(), None, "closed, not lost");
    let mut buf = [0u8; 1];
    assert_eq!(
        nix::unistd::read(&r, &mut buf).unwrap(),
        0,
        "the write end is closed"
    );
    assert_eq!(g.close_received(), None, "a second call closes nothing");
    assert_eq!(g.raw(), None);

    // Closed behind the guard's back and the number reused by another
    // file: forgotten (its number reported), and the other file left open.
    let (r2, w2) = nix::unistd::pipe().unwrap();
    let raw = w2.as_raw_fd();
    let mut g2 = GuardedFd::new(w2);
    let other = std::fs::File::open("/dev/null").unwrap();
    // dup2 closes the guard's file and puts /dev/null at its number in one
    // step, so no other test's thread can take the number in between.
    // SAFETY: the test replaces the guard's file behind its back on purpose.
    let replaced = unsafe { libc::dup2(other.as_raw_fd(), raw) };
    assert_eq!(replaced, raw);
    assert_eq!(g2.close_received(), Some(raw), "lost: reported, not closed");
    // SAFETY: F_GETFD only reads the fd flags.
    let still = unsafe { libc::fcntl(raw, libc::F_GETFD) };
    assert!(still >= 0, "the reused number is still open");
    // SAFETY: the number is the test's own now (the guard forgot it).
    unsafe { libc::close(raw) };
    drop((r2, other));
}
