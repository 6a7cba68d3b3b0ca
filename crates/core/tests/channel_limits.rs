//! The two channel tests that change process-wide state, each in its own
//! test binary (one test, so no other test thread sees the change): a umask
//! of 0 still gives a 0600 socket, and a message whose fds do not all fit in
//! `RLIMIT_NOFILE` (`MSG_CTRUNC`) is an error that closes the fds that did
//! arrive.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};

use linux_fd_core::channel::*;
use linux_fd_core::Errno;

mod common;

fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK).unwrap()
}

/// Counts this process's open fds.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count() - 1
}

#[test]
fn mode_is_0600_under_any_umask_and_ctrunc_closes_what_arrived() {
    // --- umask 0: the socket is still 0600; umask 0277: fixed up to 0600.
    // Removed on drop, so a failed assertion leaves nothing in the temp dir.
    let dir = common::TempPath::new("ch-umask");
    std::fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
    // The kernel behaviour `listen` relies on (no window): under umask 0, an
    // unbound socket fchmod'ed to 0600 binds as 0600 (without: 0777).
    for pre in [true, false] {
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::empty());
        let s = nix::sys::socket::socket(
            nix::sys::socket::AddressFamily::Unix,
            nix::sys::socket::SockType::SeqPacket,
            nix::sys::socket::SockFlag::SOCK_CLOEXEC,
            None,
        )
        .unwrap();
        if pre {
            nix::sys::stat::fchmod(&s, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        }
        let p = dir.join(format!("raw{pre}.sock"));
        let addr = nix::sys::socket::UnixAddr::new(&p).unwrap();
        let r = nix::sys::socket::bind(std::os::fd::AsRawFd::as_raw_fd(&s), &addr);
        nix::sys::stat::umask(old);
        r.unwrap();
        let mode = std::fs::symlink_metadata(&p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, if pre { 0o600 } else { 0o777 }, "fchmod before bind: {pre}");
    }
    for mask in [0o000, 0o277, 0o022] {
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
        let p = dir.join(format!("s{mask:o}.sock"));
        let l = listen(Address::Path(&p), 1);
        nix::sys::stat::umask(old);
        let _l = l.unwrap();
        let mode = std::fs::symlink_metadata(&p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600, "umask {mask:o}");
        connect(Address::Path(&p)).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();

    // --- MSG_CTRUNC: room for only some of 10 fds.
    let (a, b) = pair().unwrap();
    let (r, w) = pipe();
    let ten: Vec<_> = (0..10).map(|_| w.as_fd()).collect();
    send(a.as_fd(), b"ten", &ten).unwrap();
    drop(w);
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into `old`, which is valid for writes.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) }, 0);
    // Lowest free numbers are below open_fds()+gaps; leave room for ~3.
    let limit = (open_fds() + 3) as u64;
    let low = libc::rlimit {
        rlim_cur: limit,
        rlim_max: old.rlim_max,
    };
    // SAFETY: setrlimit only reads the rlimit passed.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &low) }, 0);
    let mut buf = [0u8; 16];
    let res = recv(b.as_fd(), &mut buf);
    // SAFETY: as above; restores the limit read at first.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) }, 0);
    assert_eq!(res.unwrap_err().errno, Errno::ENOBUFS);
    let mut one = [0u8; 1];
    assert_eq!(
        nix::unistd::read(&r, &mut one).unwrap(),
        0,
        "every fd that arrived was closed"
    );
    // The channel still works.
    send(a.as_fd(), b"ok", &[]).unwrap();
    match recv(b.as_fd(), &mut buf).unwrap() {
        Recv::Message { len, fds } => assert_eq!((&buf[..len], fds.len()), (&b"ok"[..], 0)),
        Recv::End => panic!("end"),
    }
}
