//! fd passing over `SOCK_SEQPACKET` Unix sockets with real syscalls: pairs,
//! path and abstract listeners, fds that arrive as working duplicates, the
//! limits, truncation (every fd that arrived is closed), the end of stream
//! and peer credentials.
//!
//! Whether a received fd was closed is observed through a pipe: the test
//! sends duplicates of a pipe's write end, closes its own, and the read end
//! reports end-of-file only once every duplicate is closed.

mod common;

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::PathBuf;

use linux_fd_core::channel::*;
use linux_fd_core::eventfd::{eventfd, eventfd_read, eventfd_write, EfdFlags};
use linux_fd_core::fd::is_cloexec;
use linux_fd_core::Errno;

/// A fresh 0700 directory under the temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!("lfd-ch-{tag}-{}-{nanos}", std::process::id()));
        std::fs::DirBuilder::new().mode(0o700).create(&p).unwrap();
        TempDir(p)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn uid() -> u32 {
    // SAFETY: getuid cannot fail and touches no memory of ours.
    unsafe { libc::getuid() }
}

fn gid() -> u32 {
    // SAFETY: getgid cannot fail and touches no memory of ours.
    unsafe { libc::getgid() }
}

fn recv_msg(fd: &OwnedFd) -> (Vec<u8>, Vec<OwnedFd>) {
    let mut buf = vec![0u8; MAX_MESSAGE];
    match recv(fd.as_fd(), &mut buf).unwrap() {
        Recv::Message { len, fds } => (buf[..len].to_vec(), fds),
        Recv::End => panic!("unexpected end of stream"),
    }
}

fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK).unwrap()
}

/// Whether every write end of the pipe is closed (read gives 0, not EAGAIN).
fn writers_gone(r: &OwnedFd) -> bool {
    let mut b = [0u8; 1];
    match nix::unistd::read(r, &mut b) {
        Ok(0) => true,
        Err(Errno::EAGAIN) => false,
        other => panic!("unexpected read result {other:?}"),
    }
}

#[test]
fn pair_carries_data_and_working_duplicates() {
    let (a, b) = pair().unwrap();
    let efd = eventfd(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK).unwrap();
    assert_eq!(send(a.as_fd(), b"hello", &[efd.as_fd()]).unwrap(), 5);
    let (data, fds) = recv_msg(&b);
    assert_eq!(data, b"hello");
    assert_eq!(fds.len(), 1);
    assert_ne!(fds[0].as_raw_fd(), efd.as_raw_fd());
    assert!(is_cloexec(fds[0].as_fd()).unwrap(), "MSG_CMSG_CLOEXEC");
    eventfd_write(fds[0].as_fd(), 7).unwrap();
    assert_eq!(eventfd_read(efd.as_fd()).unwrap(), 7);
    // Both directions work.
    send(b.as_fd(), b"back", &[]).unwrap();
    let (data, fds) = recv_msg(&a);
    assert_eq!((data.as_slice(), fds.len()), (&b"back"[..], 0));
}

#[test]
fn nothing_to_read_is_eagain() {
    let (_a, b) = pair().unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(recv(b.as_fd(), &mut buf).unwrap_err().errno, Errno::EAGAIN);
}

#[test]
fn empty_message_is_not_the_end() {
    let (a, b) = pair().unwrap();
    send(a.as_fd(), b"", &[]).unwrap();
    let (data, fds) = recv_msg(&b);
    assert!(data.is_empty() && fds.is_empty());
    // Empty data with fds.
    let (_r, w) = pipe();
    send(a.as_fd(), b"", &[w.as_fd(), w.as_fd()]).unwrap();
    let (data, fds) = recv_msg(&b);
    assert!(data.is_empty());
    assert_eq!(fds.len(), 2);
}

#[test]
fn peer_close_is_the_end_and_send_is_epipe() {
    let (a, b) = pair().unwrap();
    send(a.as_fd(), b"last", &[]).unwrap();
    drop(a);
    let (data, _) = recv_msg(&b);
    assert_eq!(data, b"last");
    let mut buf = [0u8; 16];
    assert!(matches!(recv(b.as_fd(), &mut buf).unwrap(), Recv::End));
    assert!(
        matches!(recv(b.as_fd(), &mut buf).unwrap(), Recv::End),
        "the end stays the end"
    );
    assert_eq!(send(b.as_fd(), b"x", &[]).unwrap_err().errno, Errno::EPIPE);
}

#[test]
fn an_empty_message_before_the_peer_closed_is_not_the_end_while_messages_follow_it() {
    // "Send a last few messages, then exit": the empty one read as the end
    // after the hang-up, and the messages queued behind it were lost.
    let (a, b) = pair().unwrap();
    send(a.as_fd(), b"", &[]).unwrap();
    send(a.as_fd(), b"hello", &[]).unwrap();
    send(a.as_fd(), b"", &[]).unwrap();
    send(a.as_fd(), b"world", &[]).unwrap();
    drop(a);
    let mut got = Vec::new();
    let mut buf = [0u8; 16];
    while let Recv::Message { len, .. } = recv(b.as_fd(), &mut buf).unwrap() {
        got.push(String::from_utf8_lossy(&buf[..len]).into_owned());
    }
    assert_eq!(got, ["", "hello", "", "world"]);
}

#[test]
fn empty_messages_are_messages_after_this_sides_own_shutdown_and_before_the_peers_close() {
    // s52-chan M1: this side's own shutdown raises POLLRDHUP as a peer's
    // hang-up does, and an empty message queued behind nothing but other
    // empty ones was read as the end; likewise one sent just before the
    // peer closed. With SO_PASSCRED on the receiving socket, each message
    // comes with credentials and only the end comes without.
    let (a, b) = pair().unwrap();
    pass_cred(b.as_fd()).unwrap();
    let (_r, w) = pipe();
    send(a.as_fd(), b"first", &[]).unwrap();
    send(a.as_fd(), b"", &[]).unwrap();
    send(a.as_fd(), b"", &[w.as_fd()]).unwrap();
    send(a.as_fd(), b"", &[]).unwrap();
    shutdown(b.as_fd()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 16];
    while let Recv::Message { len, fds } = recv(b.as_fd(), &mut buf).unwrap() {
        got.push((String::from_utf8_lossy(&buf[..len]).into_owned(), fds.len()));
    }
    let want = [("first", 0), ("", 0), ("", 1), ("", 0)].map(|(s, n)| (s.to_string(), n));
    assert_eq!(got, want, "after our own shutdown");
    drop(a);

    let (a, b) = pair().unwrap();
    send(a.as_fd(), b"", &[]).unwrap();
    drop(a);
    pass_cred(b.as_fd()).unwrap(); // after the message was queued: the kernel adds them at the receive
    assert!(matches!(
        recv(b.as_fd(), &mut buf).unwrap(),
        Recv::Message { len: 0, .. }
    ));
    assert!(matches!(recv(b.as_fd(), &mut buf).unwrap(), Recv::End));
}

#[test]
fn a_socket_without_so_passcred_falls_back_to_the_hang_up() {
    // Where SO_PASSCRED is not on (pair() leaves it off: see pass_cred), an
    // empty message is told from the end by POLLRDHUP and the queued bytes,
    // as before, so one sent just before the peer closed reads as the end.
    let (a, b) = pair().unwrap();
    let mut buf = [0u8; 16];
    send(a.as_fd(), b"", &[]).unwrap();
    assert!(
        matches!(recv(b.as_fd(), &mut buf).unwrap(), Recv::Message { len: 0, .. }),
        "peer alive"
    );
    send(a.as_fd(), b"", &[]).unwrap();
    send(a.as_fd(), b"x", &[]).unwrap();
    drop(a);
    assert!(
        matches!(recv(b.as_fd(), &mut buf).unwrap(), Recv::Message { len: 0, .. }),
        "bytes queued behind it"
    );
    assert!(matches!(
        recv(b.as_fd(), &mut buf).unwrap(),
        Recv::Message { len: 1, .. }
    ));
    assert!(matches!(recv(b.as_fd(), &mut buf).unwrap(), Recv::End));
}

#[test]
fn peer_closing_with_unread_data_is_econnreset_then_end() {
    let (a, b) = pair().unwrap();
    send(a.as_fd(), b"never read", &[]).unwrap();
    drop(b);
    let mut buf = [0u8; 16];
    let e = recv(a.as_fd(), &mut buf).unwrap_err();
    assert_eq!(e.errno, Errno::ECONNRESET);
    assert!(matches!(recv(a.as_fd(), &mut buf).unwrap(), Recv::End));
}

#[test]
fn a_reset_does_not_hide_the_messages_the_peer_sent_before_it_closed() {
    // The peer answers, then closes with a message of ours unread: Linux
    // reports ECONNRESET on the next read, before the answer that is still
    // queued (and readable after it). Reported first, the reset ended
    // iterators and the answer and its fd were never seen.
    let (a, b) = pair().unwrap();
    let (_r, w) = pipe();
    send(a.as_fd(), b"never read", &[]).unwrap();
    send(b.as_fd(), b"last answer", &[w.as_fd()]).unwrap();
    drop(b);
    let (data, fds) = recv_msg(&a);
    assert_eq!(data, b"last answer");
    assert_eq!(fds.len(), 1);
    let mut buf = [0u8; 16];
    assert!(matches!(recv(a.as_fd(), &mut buf).unwrap(), Recv::End));
}

#[test]
fn a_recorded_socket_file_is_removed_only_while_the_path_still_names_it() {
    let dir = TempDir::new("sockfile");
    let path = dir.path("s.sock");
    let first = listen(Address::Path(&path), 4).unwrap();
    let file = SocketFile::record(&path).unwrap();
    // Replaced by another server's socket at the same path: left alone.
    std::fs::remove_file(&path).unwrap();
    let second = listen(Address::Path(&path), 4).unwrap();
    assert!(!file.remove());
    assert!(path.exists());
    // Its own socket: removed, once.
    let own = SocketFile::record(&path).unwrap();
    assert!(own.remove());
    assert!(!path.exists());
    assert!(!own.remove());
    // Not a socket: nothing to record.
    std::fs::write(&path, b"x").unwrap();
    assert_eq!(SocketFile::record(&path).unwrap_err().errno, Errno::EINVAL);
    drop((first, second));
}

#[test]
fn shutdown_ends_the_peer_even_with_duplicates_open() {
    let (a, b) = pair().unwrap();
    let dup = linux_fd_core::fd::dup_cloexec(a.as_fd()).unwrap();
    shutdown(a.as_fd()).unwrap();
    let mut buf = [0u8; 16];
    assert!(matches!(recv(b.as_fd(), &mut buf).unwrap(), Recv::End));
    drop(dup);
}

#[test]
fn at_most_253_fds() {
    let (a, b) = pair().unwrap();
    let (_r, w) = pipe();
    let many: Vec<_> = (0..MAX_FDS).map(|_| w.as_fd()).collect();
    send(a.as_fd(), b"max", &many).unwrap();
    let (_, fds) = recv_msg(&b);
    assert_eq!(fds.len(), MAX_FDS);
    let too_many: Vec<_> = (0..=MAX_FDS).map(|_| w.as_fd()).collect();
    assert_eq!(send(a.as_fd(), b"", &too_many).unwrap_err().errno, Errno::EINVAL);
}

#[test]
fn at_most_253_fds_arrive_whole_beside_every_other_control_message() {
    // The kernel writes the credentials, a pidfd, timestamps and a security
    // label before SCM_RIGHTS: sized for one extra header, the buffer cut the
    // rights short (MSG_CTRUNC: ENOBUFS, the message lost) once three options
    // were set (s37-chan M1).
    const SO_RCVMARK: libc::c_int = 75;
    const SO_RCVPRIORITY: libc::c_int = 82;
    let (a, b) = pair().unwrap();
    // Software receive timestamps: the largest of these messages (64 bytes).
    let stamping = libc::SOF_TIMESTAMPING_RX_SOFTWARE | libc::SOF_TIMESTAMPING_SOFTWARE;
    let every_kernel = [
        (libc::SO_PASSCRED, 1),
        (libc::SO_TIMESTAMPNS, 1),
        (libc::SO_TIMESTAMPING, stamping as libc::c_int),
        (libc::SO_RXQ_OVFL, 1),
    ];
    for (opt, value) in every_kernel {
        // qemu-user refuses some of them itself (SO_TIMESTAMPNS); a kernel never.
        assert!(
            common::set_opt(&b, opt, value).is_ok() || common::under_qemu(),
            "option {opt}"
        );
    }
    // Where the kernel has them: pidfds (6.5), marks and priorities (newer),
    // and a label only under an LSM that gives one.
    let newer = [common::SO_PASSPIDFD, SO_RCVMARK, SO_RCVPRIORITY, libc::SO_PASSSEC]
        .map(|o| common::set_opt(&b, o, 1).is_ok());
    let (pidfd, passsec) = (newer[0], newer[3]);
    let (_r, w) = pipe();
    let many: Vec<_> = (0..MAX_FDS).map(|_| w.as_fd()).collect();
    for _ in 0..2 {
        send(a.as_fd(), b"max", &many).unwrap();
        let (data, fds) = recv_msg(&b);
        assert_eq!(
            (data.as_slice(), fds.len()),
            (&b"max"[..], MAX_FDS),
            "pidfd {pidfd}, passsec {passsec}"
        );
    }
}

#[test]
fn a_closed_fd_is_ebadf() {
    let (a, _b) = pair().unwrap();
    let (r, w) = pipe();
    let raw = w.as_raw_fd();
    drop(w);
    drop(r);
    // SAFETY: the number is closed; sendmsg only reads it and fails with EBADF.
    let bad = unsafe { std::os::fd::BorrowedFd::borrow_raw(raw) };
    // Another test thread may reuse the number at once; only check no success of a closed fd if EBADF.
    if let Err(e) = send(a.as_fd(), b"", &[bad]) {
        assert_eq!(e.errno, Errno::EBADF);
    }
}

#[test]
fn truncated_data_is_emsgsize_and_closes_the_fds_that_arrived() {
    let (a, b) = pair().unwrap();
    let (r, w) = pipe();
    send(a.as_fd(), &[7u8; 100], &[w.as_fd(), w.as_fd(), w.as_fd()]).unwrap();
    drop(w);
    let mut small = [0u8; 10];
    let e = recv(b.as_fd(), &mut small).unwrap_err();
    assert_eq!(e.errno, Errno::EMSGSIZE);
    assert!(writers_gone(&r), "the fds of a truncated message are closed");
    // The message is gone; the channel still works.
    send(a.as_fd(), b"next", &[]).unwrap();
    assert_eq!(recv_msg(&b).0, b"next");
}

#[test]
fn the_largest_message_fits() {
    let (a, b) = pair().unwrap();
    let big = vec![0xabu8; MAX_MESSAGE];
    assert_eq!(send(a.as_fd(), &big, &[]).unwrap(), MAX_MESSAGE);
    assert_eq!(recv_msg(&b).0, big);
}

#[test]
fn dropping_received_fds_closes_them() {
    let (a, b) = pair().unwrap();
    let (r, w) = pipe();
    send(a.as_fd(), b"", &[w.as_fd()]).unwrap();
    drop(w);
    let (_, fds) = recv_msg(&b);
    assert!(!writers_gone(&r));
    drop(fds);
    assert!(writers_gone(&r));
}

#[test]
fn peer_cred_of_a_pair_is_this_process() {
    let (a, _b) = pair().unwrap();
    let c = peer_cred(a.as_fd()).unwrap();
    assert_eq!(c.pid, std::process::id() as i32);
    assert_eq!(c.uid, uid());
    assert_eq!(c.gid, gid());
}

#[test]
fn checked_peer_cred_takes_only_a_connected_unix_seqpacket_socket() {
    use nix::sys::socket::{bind, socket, socketpair, AddressFamily, SockFlag, SockType, UnixAddr};
    let flags = SockFlag::SOCK_CLOEXEC;
    let (a, b) = pair().unwrap();
    assert_eq!(
        checked_peer_cred(a.as_fd()).unwrap().pid,
        std::process::id() as i32
    );
    let errno = |fd: &OwnedFd| checked_peer_cred(fd.as_fd()).unwrap_err().errno;
    // A stream pair: its messages would run together.
    let (s, _t) = socketpair(AddressFamily::Unix, SockType::Stream, None, flags).unwrap();
    assert!(peer_cred(s.as_fd()).is_ok(), "SO_PEERCRED alone takes it");
    assert_eq!(errno(&s), Errno::EPROTOTYPE);
    let (d, _e) = socketpair(AddressFamily::Unix, SockType::Datagram, None, flags).unwrap();
    assert_eq!(errno(&d), Errno::EPROTOTYPE);
    // TCP and UDP.
    for ty in [SockType::Stream, SockType::Datagram] {
        let inet = socket(AddressFamily::Inet, ty, flags, None).unwrap();
        assert_eq!(errno(&inet), Errno::EPROTOTYPE);
    }
    // SOCK_SEQPACKET of another family: AF_VSOCK, where the kernel has it.
    if let Ok(v) = socket(AddressFamily::Vsock, SockType::SeqPacket, flags, None) {
        assert_eq!(errno(&v), Errno::EAFNOSUPPORT);
    }
    // A listening Unix seqpacket socket (abstract name: no file to clean up).
    let name = format!("linux-fd-core-checked-{}", std::process::id());
    let l = listen(Address::Abstract(name.as_bytes()), 4).unwrap();
    assert_eq!(errno(&l), Errno::EINVAL);
    let c = connect(Address::Abstract(name.as_bytes())).unwrap();
    assert!(checked_peer_cred(c.as_fd()).is_ok());
    // Unconnected: never connected, or bound only.
    let fresh = socket(AddressFamily::Unix, SockType::SeqPacket, flags, None).unwrap();
    assert!(peer_cred(fresh.as_fd()).is_ok(), "SO_PEERCRED alone takes it");
    assert_eq!(errno(&fresh), Errno::ENOTCONN);
    let bound = socket(AddressFamily::Unix, SockType::SeqPacket, flags, None).unwrap();
    bind(
        bound.as_raw_fd(),
        &UnixAddr::new_abstract(format!("{name}-bound").as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(errno(&bound), Errno::ENOTCONN);
    // A pair end whose peer has gone is still connected: its receive reports the end.
    drop(b);
    assert!(checked_peer_cred(a.as_fd()).is_ok());
    let efd = eventfd(0, EfdFlags::EFD_CLOEXEC).unwrap();
    assert_eq!(errno(&efd), Errno::ENOTSOCK);
}

#[test]
fn path_listener_accepts_and_is_mode_0600() {
    let dir = TempDir::new("path");
    let p = dir.path("s.sock");
    let l = listen(Address::Path(&p), 16).unwrap();
    let meta = std::fs::symlink_metadata(&p).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    assert_eq!(accept(l.as_fd()).unwrap_err().errno, Errno::EAGAIN);
    let c = connect(Address::Path(&p)).unwrap();
    let s = accept(l.as_fd()).unwrap();
    let cred = peer_cred(s.as_fd()).unwrap();
    assert_eq!(cred.pid, std::process::id() as i32);
    let cred = peer_cred(c.as_fd()).unwrap();
    assert_eq!(cred.uid, uid());
    let efd = eventfd(0, EfdFlags::EFD_CLOEXEC).unwrap();
    send(c.as_fd(), b"hi", &[efd.as_fd()]).unwrap();
    let (data, fds) = recv_msg(&s);
    assert_eq!((data.as_slice(), fds.len()), (&b"hi"[..], 1));
    // The accepted socket is non-blocking and close-on-exec.
    assert!(is_cloexec(s.as_fd()).unwrap());
    let mut buf = [0u8; 4];
    assert_eq!(recv(s.as_fd(), &mut buf).unwrap_err().errno, Errno::EAGAIN);
}

/// `accept4` has no per-call "do not wait" flag: on a listener whose shared
/// description a holder made blocking (`O_NONBLOCK` cleared), it waited in
/// the kernel for the next connection, on the event loop's thread
/// (s47-eintr L1). It now answers `EAGAIN` when nothing is pending.
#[test]
fn accept_never_waits_on_a_listener_made_blocking() {
    let dir = TempDir::new("blocking");
    let p = dir.path("s.sock");
    let l = listen(Address::Path(&p), 16).unwrap();
    nix::fcntl::fcntl(
        l.as_fd(),
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()),
    )
    .unwrap();
    // A connection at 1.2 s unblocks an accept that waits, so a red run ends.
    let path = p.clone();
    let late = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(1200));
        connect(Address::Path(&path))
    });
    let t0 = std::time::Instant::now();
    let got = accept(l.as_fd()).map_err(|e| e.errno);
    let took = t0.elapsed();
    assert!(
        took < std::time::Duration::from_secs(1),
        "accept waited {took:?} (got {:?})",
        got.as_ref().map(|_| ())
    );
    assert_eq!(got.map(|_| ()), Err(Errno::EAGAIN));
    let _c = late.join().unwrap().unwrap();
    // A pending connection is still accepted.
    let s = accept(l.as_fd()).unwrap();
    assert!(is_cloexec(s.as_fd()).unwrap());
}

#[test]
fn an_existing_path_is_eaddrinuse() {
    let dir = TempDir::new("inuse");
    let p = dir.path("s.sock");
    let _l = listen(Address::Path(&p), 4).unwrap();
    assert_eq!(listen(Address::Path(&p), 4).unwrap_err().errno, Errno::EADDRINUSE);
    std::fs::write(dir.path("file"), b"x").unwrap();
    assert_eq!(
        listen(Address::Path(&dir.path("file")), 4).unwrap_err().errno,
        Errno::EADDRINUSE
    );
    assert_eq!(
        std::fs::read(dir.path("file")).unwrap(),
        b"x",
        "an existing file is left alone"
    );
}

#[test]
fn connect_errors() {
    let dir = TempDir::new("conn");
    assert_eq!(
        connect(Address::Path(&dir.path("none"))).unwrap_err().errno,
        Errno::ENOENT
    );
    let long = dir.path(&"x".repeat(120));
    assert_eq!(
        connect(Address::Path(&long)).unwrap_err().errno,
        Errno::ENAMETOOLONG
    );
    assert_eq!(
        listen(Address::Path(&long), 1).unwrap_err().errno,
        Errno::ENAMETOOLONG
    );
    // A socket file nobody listens on any more.
    let p = dir.path("stale.sock");
    drop(listen(Address::Path(&p), 1).unwrap());
    assert_eq!(connect(Address::Path(&p)).unwrap_err().errno, Errno::ECONNREFUSED);
}

#[test]
fn a_full_backlog_is_eagain() {
    let dir = TempDir::new("backlog");
    let p = dir.path("s.sock");
    let l = listen(Address::Path(&p), 0).unwrap();
    let mut held = Vec::new();
    let err = loop {
        match connect(Address::Path(&p)) {
            Ok(c) => held.push(c),
            Err(e) => break e,
        }
        assert!(held.len() < 64, "backlog 0 never filled");
    };
    assert_eq!(err.errno, Errno::EAGAIN);
    // Accepting makes room again.
    let _s = accept(l.as_fd()).unwrap();
    held.push(connect(Address::Path(&p)).unwrap());
}

#[test]
fn abstract_listener_has_no_file() {
    let name = format!(
        "linux-fd-test-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    );
    let l = listen(Address::Abstract(name.as_bytes()), 4).unwrap();
    assert_eq!(
        listen(Address::Abstract(name.as_bytes()), 4).unwrap_err().errno,
        Errno::EADDRINUSE
    );
    let c = connect(Address::Abstract(name.as_bytes())).unwrap();
    let s = accept(l.as_fd()).unwrap();
    send(s.as_fd(), b"abs", &[]).unwrap();
    assert_eq!(recv_msg(&c).0, b"abs");
    drop(l);
    assert_eq!(
        connect(Address::Abstract(name.as_bytes())).unwrap_err().errno,
        Errno::ECONNREFUSED,
        "the name is freed with the socket"
    );
}

#[test]
fn recv_on_a_listener_or_non_socket_fails() {
    let efd = eventfd(0, EfdFlags::EFD_CLOEXEC).unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(recv(efd.as_fd(), &mut buf).unwrap_err().errno, Errno::ENOTSOCK);
    assert_eq!(peer_cred(efd.as_fd()).unwrap_err().errno, Errno::ENOTSOCK);
}

#[test]
fn recv_and_send_never_wait_even_on_a_blocking_socket() {
    // A peer that shares the open file description can clear O_NONBLOCK;
    // the read-until-EAGAIN loop of FdChannel must not then block the thread.
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap(); // blocking
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 16];
        let r = recv(a.as_fd(), &mut buf).err().map(|e| e.errno);
        // Fill the peer's queue: send must stop with EAGAIN, not wait.
        let chunk = [0u8; 65536];
        let full = loop {
            match send(b.as_fd(), &chunk, &[]) {
                Ok(_) => continue,
                Err(e) => break e.errno,
            }
        };
        tx.send((r, full)).unwrap();
        drop(a);
    });
    let got = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("recv or send blocked");
    assert_eq!(got, (Some(Errno::EAGAIN), Errno::EAGAIN));
}
