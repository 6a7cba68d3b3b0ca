//! fd passing over `AF_UNIX` `SOCK_SEQPACKET` sockets (`SCM_RIGHTS`): the
//! syscall layer behind `FdChannel` (docs/fdchannel.md).
//!
//! Every socket is made `SOCK_CLOEXEC | SOCK_NONBLOCK`; waiting is the
//! caller's business (the binding polls on the event loop). `SOCK_SEQPACKET`
//! keeps message boundaries and is connection-oriented, so a peer that goes
//! away is seen (end of stream), unlike `SOCK_DGRAM`.
//!
//! Kernel rules a careful caller must know:
//! - At most [`MAX_FDS`] (253, the kernel's `SCM_MAX_FD`) fds per message:
//!   the sender's kernel refuses more with `EINVAL`, so a peer cannot make
//!   us receive more in one message.
//! - Fds that arrive are installed in this process by `recvmsg` itself, even
//!   when the message is then found truncated (`MSG_TRUNC`, `MSG_CTRUNC`), so
//!   [`recv`] parses the control data it got in every case and closes the
//!   fds of a message it reports as an error. `MSG_CTRUNC` with our buffer
//!   (room for 253 fds and every other control message, `CMSG_BUF`) means
//!   this process ran out of fd numbers (`RLIMIT_NOFILE`): the kernel
//!   installs what it can and drops the rest. (Or, in theory, an LSM label
//!   over about 780 bytes on a socket someone set `SO_PASSSEC` on.)
//! - Received fds are close-on-exec (`MSG_CMSG_CLOEXEC`).
//! - A zero-length read is either an empty message or the end of the stream.
//!   A socket with `SO_PASSCRED` on ([`pass_cred`], which the binding sets
//!   before a channel's first receive) gets `SCM_CREDENTIALS` with every
//!   message and none with the end: that tells them apart. `POLLRDHUP`
//!   could not: this side's own `shutdown` raises it too, and an empty
//!   message queued then, with everything behind it, was read as the end
//!   (s52-chan M1). Without the option, [`recv`] falls back to
//!   `poll(POLLRDHUP)` and the queued byte count: without a hang-up it is an
//!   empty message; with one and nothing queued, the end (so an empty
//!   message with no fds sent just before the peer closed reads as the
//!   end).
//! - `send` uses `MSG_NOSIGNAL`: a peer gone is `EPIPE`, never `SIGPIPE`.
//! - Both use `MSG_DONTWAIT`: they never wait, even on a socket whose shared
//!   open file description a peer made blocking (docs/reliability.md, "A
//!   peer that clears O_NONBLOCK").
//! - A path socket is created with mode 0600: `fchmod` on the unbound socket
//!   sets the mode its inode is created with (Linux's `unix_bind` creates it
//!   with the socket inode's mode masked by the umask), so there is no window
//!   in which the path has a wider mode. After `bind`, the path is checked and
//!   set to exactly 0600 if the umask took more bits away (e.g. umask 0277
//!   would leave the owner without the write permission `connect` needs).
//!
//! # References
//! - [`unix(7)`](https://man7.org/linux/man-pages/man7/unix.7.html)
//! - [`sendmsg(2)`](https://man7.org/linux/man-pages/man2/sendmsg.2.html),
//!   [`recvmsg(2)`](https://man7.org/linux/man-pages/man2/recvmsg.2.html),
//!   [`cmsg(3)`](https://man7.org/linux/man-pages/man3/cmsg.3.html)
//! - [`socket(7)`](https://man7.org/linux/man-pages/man7/socket.7.html) (`SO_PEERCRED`)

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

use nix::sys::socket::{
    self as sock, sockopt, AddressFamily, Backlog, SockFlag, SockType, SockaddrLike as _, UnixAddr,
};

use crate::error::{retry_eintr, Context, Errno, Error, Result};

/// Most fds one message carries: the kernel's `SCM_MAX_FD`.
pub const MAX_FDS: usize = 253;

/// The largest message (data bytes) the package sends or accepts: 64 KiB.
/// A `SOCK_SEQPACKET` message must fit the socket's send buffer whole, and
/// 64 KiB fits the default one (`net.core.wmem_default`) with room to spare.
pub const MAX_MESSAGE: usize = 65536;

/// The mode of a listening socket's path.
pub const SOCKET_MODE: u32 = 0o600;

const SOCK_FLAGS: SockFlag = SockFlag::SOCK_CLOEXEC.union(SockFlag::SOCK_NONBLOCK);

/// Where a socket listens or connects.
#[derive(Debug, Clone, Copy)]
pub enum Address<'a> {
    /// A filesystem path (at most 107 bytes).
    Path(&'a Path),
    /// A name in the abstract namespace (no file; any process of the same
    /// network namespace can connect), without the leading NUL.
    Abstract(&'a [u8]),
}

impl Address<'_> {
    fn to_unix(self) -> nix::Result<UnixAddr> {
        match self {
            Address::Path(p) => UnixAddr::new(p),
            Address::Abstract(name) => UnixAddr::new_abstract(name),
        }
    }
}

fn seqpacket() -> Result<OwnedFd> {
    sock::socket(AddressFamily::Unix, SockType::SeqPacket, SOCK_FLAGS, None).syscall("socket")
}

/// Turns `SO_PASSCRED` on: every message the socket receives then comes
/// with `SCM_CREDENTIALS` (the kernel adds them at the receive, to messages
/// queued before the option too), and the end of the stream with none,
/// which is how [`recv`] tells an empty message from the end (see the
/// module docs). For the socket this process receives on, before its first
/// receive: the option belongs to the socket, so set at creation it also
/// reached the end of a pair handed to a child, whose reader then got 32
/// bytes of credentials before its fds, and a control buffer sized for the
/// fds alone (`CMSG_SPACE(n * 4)`, Python's `socket.recv_fds`) lost them
/// all (`MSG_CTRUNC`; s52-diff H3). The kernel also binds a socket with
/// the option to an abstract autobind name at its first send, as `ss -x`
/// shows.
pub fn pass_cred(fd: BorrowedFd<'_>) -> Result<()> {
    set_pass_cred(fd, true).map(drop)
}

/// Sets `SO_PASSCRED` to `on`, and returns whether it was on before: the
/// binding turns it on before a channel's first receive and, if it was off,
/// off again when the channel closes, so that a socket handed on after a
/// channel used it (a broker that read a handshake, say) reaches its next
/// reader as it came (s52-diff2 M1: a reader sizing its control buffer for
/// its fds lost them).
pub fn set_pass_cred(fd: BorrowedFd<'_>, on: bool) -> Result<bool> {
    let was = passes_cred(fd)?;
    if was != on {
        sock::setsockopt(&fd, sockopt::PassCred, &on).syscall("setsockopt")?;
    }
    Ok(was)
}

/// Whether `SO_PASSCRED` is on (a socket made elsewhere may not have it).
fn passes_cred(fd: BorrowedFd<'_>) -> Result<bool> {
    sock::getsockopt(&fd, sockopt::PassCred).syscall("getsockopt")
}

/// `socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK)`: two
/// connected ends.
pub fn pair() -> Result<(OwnedFd, OwnedFd)> {
    sock::socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SOCK_FLAGS).syscall("socketpair")
}

/// A listening socket at `addr`, with `backlog` (clamped by the kernel to
/// `net.core.somaxconn`). A path is created with mode 0600 (see the module
/// docs); an existing path is `EADDRINUSE` (a stale socket file is not
/// removed).
///
/// # Errors
/// `EADDRINUSE`, `EACCES`, `ENOENT` (no such directory), `ENAMETOOLONG`
/// (a path of 108 bytes or more), `EINVAL` (backlog below -1), `EMFILE`.
pub fn listen(addr: Address<'_>, backlog: i32) -> Result<OwnedFd> {
    let backlog = Backlog::new(backlog).syscall("listen")?;
    let ua = addr.to_unix().syscall("bind")?;
    let fd = seqpacket()?;
    if let Address::Path(path) = addr {
        // The mode the socket inode is created with (see the module docs).
        nix::sys::stat::fchmod(&fd, nix::sys::stat::Mode::from_bits_truncate(SOCKET_MODE))
            .syscall("fchmod")?;
        sock::bind(fd.as_raw_fd(), &ua).syscall("bind")?;
        if let Err(e) = fix_mode(path).and_then(|()| sock::listen(&fd, backlog).syscall("listen")) {
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
    } else {
        sock::bind(fd.as_raw_fd(), &ua).syscall("bind")?;
        sock::listen(&fd, backlog).syscall("listen")?;
    }
    Ok(fd)
}

/// The socket file a path listener bound, recorded so that it can be removed
/// later only if the path still names that very socket (device and inode):
/// a file that replaced it, such as another server's socket at the same
/// path, is left alone.
#[derive(Debug)]
pub struct SocketFile {
    path: std::path::PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    /// Records the socket at `path` (made absolute against the current
    /// directory now, so a later `chdir` does not change which file it
    /// names): one `lstat`.
    ///
    /// # Errors
    /// `lstat`'s (`ENOENT` if it is gone), `EINVAL` if it is not a socket.
    pub fn record(path: &Path) -> Result<SocketFile> {
        let path = std::path::absolute(path).map_err(|e| Error::new(io_errno(&e), "getcwd"))?;
        let meta = std::fs::symlink_metadata(&path).map_err(|e| Error::new(io_errno(&e), "stat"))?;
        if !meta.file_type().is_socket() {
            return Err(Error::new(Errno::EINVAL, "stat"));
        }
        use std::os::unix::fs::MetadataExt;
        Ok(SocketFile {
            dev: meta.dev(),
            ino: meta.ino(),
            path,
        })
    }

    /// Removes the file if the path still names the recorded socket; true if
    /// it did. Between the `lstat` and the `unlink` another process could
    /// replace the file, as for any unlink by path; the window is two
    /// syscalls long.
    pub fn remove(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        match std::fs::symlink_metadata(&self.path) {
            Ok(m) if m.file_type().is_socket() && m.dev() == self.dev && m.ino() == self.ino => {
                std::fs::remove_file(&self.path).is_ok()
            }
            _ => false,
        }
    }
}

/// After `bind`: makes the socket file's mode exactly 0600 if the umask took
/// bits away (it never adds any, so the mode was at most 0600 all along).
fn fix_mode(path: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| Error::new(io_errno(&e), "stat"))?;
    if meta.file_type().is_socket() && meta.permissions().mode() & 0o7777 != SOCKET_MODE {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE))
            .map_err(|e| Error::new(io_errno(&e), "chmod"))?;
    }
    Ok(())
}

fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// `accept4(SOCK_CLOEXEC | SOCK_NONBLOCK)`: the next pending connection.
/// Never waits: `accept4` has no per-call "do not wait" flag (as
/// `MSG_DONTWAIT` is for `send`/`recv`), so it asks `poll(2)` first and
/// answers `EAGAIN` when nothing is pending: on a listener whose shared
/// description a holder made blocking, it waited in the kernel for the next
/// connection (s47-eintr L1). Always, not only when `F_GETFL` says blocking:
/// the same one syscall, and no window for a flag cleared after reading it
/// (s47-diff LOW-4). Only a holder that also accepts, and takes the
/// connection between that poll and this accept, can still make it wait on
/// a blocking description. Retries `EINTR`.
///
/// # Errors
/// `EAGAIN` when none is pending; `ECONNABORTED` (retry), `EMFILE`, `EBADF`,
/// `EINVAL` (not listening).
///
/// # References
/// - [`accept(2)`](https://man7.org/linux/man-pages/man2/accept.2.html)
pub fn accept(listener: BorrowedFd<'_>) -> Result<OwnedFd> {
    if !crate::poll::wait_readable_for(listener, 0)? {
        return Err(Error::new(Errno::EAGAIN, "accept4"));
    }
    let raw = retry_eintr(|| sock::accept4(listener.as_raw_fd(), SOCK_FLAGS)).syscall("accept4")?;
    // SAFETY: accept4 returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// A non-blocking socket connected to `addr`.
///
/// # Errors
/// `ENOENT` (no such path), `ECONNREFUSED` (nobody listens), `EACCES` (no
/// write permission on the path), `EAGAIN` (the listener's backlog is full;
/// retry later), `ENAMETOOLONG`, `EMFILE`.
pub fn connect(addr: Address<'_>) -> Result<OwnedFd> {
    let ua = addr.to_unix().syscall("connect")?;
    let fd = seqpacket()?;
    loop {
        match sock::connect(fd.as_raw_fd(), &ua) {
            Ok(()) => return Ok(fd),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::new(e, "connect")),
        }
    }
}

/// Sends one message: `data` (possibly empty) and duplicates of `fds` (at
/// most [`MAX_FDS`]), with `MSG_NOSIGNAL`. Returns the bytes sent (all of
/// `data`: a `SOCK_SEQPACKET` message is sent whole or not at all).
///
/// On musl the `sendmsg` system call is made directly (see `sys_sendmsg`):
/// musl releases up to at least 1.2.3 refuse more than 1024 bytes of control
/// data in their `sendmsg` wrapper (`ENOMEM`, without calling the kernel),
/// which is 252 fds on a 64-bit target, not the kernel's 253.
///
/// # Errors
/// `EAGAIN` (the peer's queue is full), `EPIPE`/`ECONNRESET` (the peer is
/// gone), `EMSGSIZE` (`data` larger than the send buffer), `EINVAL` (more
/// than [`MAX_FDS`] fds), `EBADF` (an fd is not open), `ETOOMANYREFS` (too
/// many fds in flight for this user, `RLIMIT_NOFILE`).
// msg_iovlen, msg_controllen and cmsg_len are size_t on glibc, socklen_t or
// int on musl: `as _` converts to whichever it is.
#[allow(clippy::unnecessary_cast)]
pub fn send(fd: BorrowedFd<'_>, data: &[u8], fds: &[BorrowedFd<'_>]) -> Result<usize> {
    if fds.len() > MAX_FDS {
        return Err(Error::new(Errno::EINVAL, "sendmsg"));
    }
    let payload = std::mem::size_of_val(fds);
    let space = if fds.is_empty() { 0 } else { cmsg_space(payload) };
    // Zeroed, so every padding field of the headers is 0 (the kernel reads
    // msg_iovlen, msg_controllen and cmsg_len as size_t; musl declares them
    // 32 bits wide with a pad beside them). usize elements: cmsghdr-aligned.
    let mut control = vec![0usize; space.div_ceil(std::mem::size_of::<usize>())];
    let mut iov = libc::iovec {
        iov_base: data.as_ptr().cast_mut().cast(),
        iov_len: data.len(),
    };
    // SAFETY: msghdr is plain data; all-zero is a valid (empty) value.
    let mut mhdr: libc::msghdr = unsafe { std::mem::zeroed() };
    mhdr.msg_iov = &mut iov;
    mhdr.msg_iovlen = 1;
    if space > 0 {
        mhdr.msg_control = control.as_mut_ptr().cast();
        mhdr.msg_controllen = space as _;
        // SAFETY: msg_control points at `space` zeroed, cmsghdr-aligned
        // bytes, room for one header (CMSG_FIRSTHDR is non-null because
        // space >= the header) and `payload` bytes after CMSG_DATA.
        unsafe {
            let hdr = libc::CMSG_FIRSTHDR(&mhdr);
            (*hdr).cmsg_level = libc::SOL_SOCKET;
            (*hdr).cmsg_type = libc::SCM_RIGHTS;
            (*hdr).cmsg_len = libc::CMSG_LEN(payload as _) as _;
            let dst = libc::CMSG_DATA(hdr).cast::<RawFd>();
            for (i, f) in fds.iter().enumerate() {
                std::ptr::write_unaligned(dst.add(i), f.as_raw_fd());
            }
        }
    }
    loop {
        // SAFETY: mhdr points at iov (data, only read) and at control, both
        // alive for the call; the lengths are theirs.
        let r = unsafe { sys_sendmsg(fd.as_raw_fd(), &mhdr, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT) };
        if r >= 0 {
            return Ok(r as usize);
        }
        match Errno::last() {
            Errno::EINTR => continue,
            e => return Err(Error::new(e, "sendmsg")),
        }
    }
}

/// `sendmsg(2)`: libc's wrapper.
///
/// # Safety
/// As `sendmsg(2)`: `mhdr` and what it points at are valid for the call.
#[cfg(not(target_env = "musl"))]
unsafe fn sys_sendmsg(fd: RawFd, mhdr: &libc::msghdr, flags: libc::c_int) -> isize {
    // SAFETY: per this function's contract.
    unsafe { libc::sendmsg(fd, mhdr, flags) }
}

/// `sendmsg(2)` as a direct system call. musl's wrapper exists to zero the
/// padding beside its 32-bit msg_iovlen, msg_controllen and cmsg_len (the
/// kernel reads them as size_t); to do so it copies the control data to a
/// buffer on its stack, which in musl 1.2.3 (Debian 12's) holds 1024 bytes
/// and fails with `ENOMEM` beyond, so 253 fds (1032 bytes) were refused.
/// Later musl sizes that buffer for 255 fds. [`send`] zeroes the padding
/// itself, so the wrapper has nothing left to do.
///
/// # Safety
/// As `sendmsg(2)`: `mhdr` and what it points at are valid for the call, and
/// every padding field in `mhdr` and its control headers is zero.
#[cfg(target_env = "musl")]
unsafe fn sys_sendmsg(fd: RawFd, mhdr: &libc::msghdr, flags: libc::c_int) -> isize {
    // SAFETY: per this function's contract; musl's syscall() returns -1 and
    // sets errno on failure, as the wrapper would.
    unsafe { libc::syscall(libc::SYS_sendmsg, fd, mhdr as *const libc::msghdr, flags) as isize }
}

/// What [`recv`] read.
#[derive(Debug)]
pub enum Recv {
    /// One message: its first `len` bytes are in the buffer, and the fds it
    /// carried are now owned here (close-on-exec).
    Message { len: usize, fds: Vec<OwnedFd> },
    /// The peer closed (or shut down) its end: no message will come.
    End,
}

/// Room for [`MAX_FDS`] fds in one `SCM_RIGHTS` header, plus [`CMSG_OTHER`]
/// for the other control messages that socket options make the kernel write
/// *before* the rights. Anyone sharing the socket's open file description
/// can set those options, and with room for only one of them a message of
/// 253 fds came cut short (`MSG_CTRUNC`, lost as `ENOBUFS`) once three were
/// set (s37-chan M1; `tests/channel.rs`).
const CMSG_BUF: usize = cmsg_space(MAX_FDS * 4) + CMSG_OTHER;

/// Every other control message a Unix socket can carry, on 64-bit Linux:
/// `SCM_CREDENTIALS` (32 bytes with its header), `SCM_PIDFD` (24), one of
/// the `SO_TIMESTAMP`/`SO_TIMESTAMPNS` kinds (32) and `SO_TIMESTAMPING`
/// (64), the one-int ones of `SO_RXQ_OVFL`, `SO_RCVMARK` and
/// `SO_RCVPRIORITY` (24 each): 224 bytes. The rest is for `SCM_SECURITY`'s
/// LSM label (`SO_PASSSEC`), a string of no fixed size: an SELinux or
/// AppArmor label of up to about 780 bytes fits.
const CMSG_OTHER: usize = 1024;

const fn cmsg_space(len: usize) -> usize {
    let align = std::mem::size_of::<usize>();
    let hdr = std::mem::size_of::<libc::cmsghdr>();
    ((hdr + align - 1) & !(align - 1)) + ((len + align - 1) & !(align - 1))
}

/// Receives one message into `buf` with `MSG_CMSG_CLOEXEC`.
///
/// A message longer than `buf` (`MSG_TRUNC`: the rest is discarded, as
/// `SOCK_SEQPACKET` does) is `EMSGSIZE`; control data cut short
/// (`MSG_CTRUNC`) is `ENOBUFS`. In both cases every fd that did arrive is
/// closed and the message is gone; the socket stays usable.
///
/// A peer that closed with messages of ours unread leaves `ECONNRESET`
/// pending on the socket, which Linux reports on the next read *before* the
/// messages the peer sent and that are still queued (the read clears it).
/// So on `ECONNRESET` this reads once more: a message (or a message's own
/// error) found there is returned, and the reset, which only says the peer
/// is gone, shows as the end on a later call; with nothing readable before
/// the end (nothing queued, or an empty message that reads as the end), the
/// reset is returned, and it is as final as the end: `src/channel.ts` reads
/// nothing after it.
///
/// # Errors
/// `EAGAIN` (no message yet), `ECONNRESET` (the peer closed with data of
/// ours unread, and sent nothing more), `EMSGSIZE`, `ENOBUFS`, `EBADF`,
/// `ENOTSOCK`.
pub fn recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<Recv> {
    match recv_once(fd, buf) {
        Err(e) if e.errno == Errno::ECONNRESET => match recv_once(fd, buf) {
            Ok(Recv::End) => Err(e),
            Err(again) if again.errno == Errno::EAGAIN => Err(e),
            other => other,
        },
        other => other,
    }
}

/// One `recvmsg` of [`recv`], without its `ECONNRESET` rule.
fn recv_once(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<Recv> {
    #[repr(C)]
    struct Control {
        _align: [libc::cmsghdr; 0],
        bytes: [u8; CMSG_BUF],
    }
    let mut control = Control {
        _align: [],
        bytes: [0; CMSG_BUF],
    };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain data; all-zero is a valid (empty) value.
    let mut mhdr: libc::msghdr = unsafe { std::mem::zeroed() };
    mhdr.msg_iov = &mut iov;
    mhdr.msg_iovlen = 1;
    mhdr.msg_control = control.bytes.as_mut_ptr().cast();
    mhdr.msg_controllen = CMSG_BUF as _;
    let n = loop {
        // SAFETY: mhdr points at iov (valid for buf.len() bytes of writes)
        // and at control (CMSG_BUF bytes, cmsghdr-aligned); both outlive the
        // call, and the kernel writes only within the given lengths.
        let r = unsafe {
            libc::recvmsg(
                fd.as_raw_fd(),
                &mut mhdr,
                libc::MSG_CMSG_CLOEXEC | libc::MSG_DONTWAIT,
            )
        };
        if r >= 0 {
            break r as usize;
        }
        match Errno::last() {
            Errno::EINTR => continue,
            e => return Err(Error::new(e, "recvmsg")),
        }
    };
    // SAFETY: recvmsg succeeded, so msg_controllen (within our buffer) bytes
    // of control data were written by the kernel.
    let (fds, creds) = unsafe { parse_rights(&mhdr) };
    let refused = if mhdr.msg_flags & libc::MSG_CTRUNC != 0 {
        Some(Errno::ENOBUFS)
    } else if mhdr.msg_flags & libc::MSG_TRUNC != 0 {
        Some(Errno::EMSGSIZE)
    } else {
        None
    };
    if let Some(errno) = refused {
        // The fds of a refused message are closed by `close_received`: off
        // this thread if their close may block (a peer's lingering socket).
        fds.into_iter().for_each(|f| crate::fd::close_received(f, drop));
        return Err(Error::new(errno, "recvmsg"));
    }
    // Only the end comes without credentials on a socket that asks for
    // them; on one that does not, the hang-up and the queue tell.
    if n == 0 && fds.is_empty() && !creds {
        let end = match passes_cred(fd)? {
            true => true,
            false => hung_up(fd)? && queued_bytes(fd)? == 0,
        };
        if end {
            return Ok(Recv::End);
        }
    }
    Ok(Recv::Message { len: n, fds })
}

/// `SCM_PIDFD` (include/uapi/linux/socket.h, Linux 6.5; not in libc 0.2 for
/// every target): a pidfd of the sender, which the kernel installs in the
/// receiver with every message once the socket has `SO_PASSPIDFD`.
const SCM_PIDFD: libc::c_int = 4;

/// The fds of every `SCM_RIGHTS` header in the control data `recvmsg` wrote,
/// now owned (so dropping them closes them), and whether it held
/// `SCM_CREDENTIALS` (a message, not the end, on a socket with
/// `SO_PASSCRED`). Any other fd the kernel
/// installed (an `SCM_PIDFD` pidfd, from a socket option set outside
/// linux-fd) is closed here: it is not part of the message, and nobody else
/// knows its number.
///
/// # Safety
/// `mhdr` must be the header of a successful `recvmsg`, its control buffer
/// still alive and cmsghdr-aligned.
// msg_controllen and cmsg_len are size_t on glibc, socklen_t on musl.
#[allow(clippy::unnecessary_cast)]
unsafe fn parse_rights(mhdr: &libc::msghdr) -> (Vec<OwnedFd>, bool) {
    let mut fds = Vec::new();
    let mut creds = false;
    let start = mhdr.msg_control as usize;
    let end = start + mhdr.msg_controllen as usize;
    // SAFETY: per this function's contract; CMSG_FIRSTHDR checks that a
    // whole header fits in msg_controllen, or returns null.
    let mut hdr = unsafe { libc::CMSG_FIRSTHDR(mhdr) };
    while !hdr.is_null() {
        // SAFETY: hdr is non-null and points at a whole cmsghdr within the
        // buffer (CMSG_FIRSTHDR/CMSG_NXTHDR guarantee it).
        let h = unsafe { std::ptr::read_unaligned(hdr) };
        // SAFETY: hdr is a header within the buffer; CMSG_DATA only adds the
        // aligned header size.
        let data = unsafe { libc::CMSG_DATA(hdr) } as usize;
        let stated = hdr as usize + h.cmsg_len as usize;
        // The kernel writes a cmsg_len that fits the buffer (it truncates
        // it with MSG_CTRUNC); clamp anyway.
        let stop = stated.min(end);
        let rights = h.cmsg_type == libc::SCM_RIGHTS;
        creds |= h.cmsg_level == libc::SOL_SOCKET && h.cmsg_type == libc::SCM_CREDENTIALS;
        if h.cmsg_level == libc::SOL_SOCKET && (rights || h.cmsg_type == SCM_PIDFD) && stop > data {
            let count = (stop - data) / std::mem::size_of::<RawFd>();
            for i in 0..count {
                // SAFETY: data + 4*i + 4 <= stop <= end: within the buffer.
                let raw = unsafe { std::ptr::read_unaligned((data as *const RawFd).add(i)) };
                if raw >= 0 {
                    // SAFETY: the kernel installed this fd for us in this
                    // recvmsg; nothing else knows its number yet.
                    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
                    if rights {
                        fds.push(fd);
                    } // else: a pidfd, closed here
                }
            }
        }
        if (h.cmsg_len as usize) < std::mem::size_of::<libc::cmsghdr>() {
            break;
        }
        // SAFETY: mhdr and hdr are as above; CMSG_NXTHDR returns null when
        // the next header would not fit in msg_controllen.
        hdr = unsafe { libc::CMSG_NXTHDR(mhdr, hdr) };
    }
    (fds, creds)
}

/// The data bytes of every message still queued (`FIONREAD`: for a
/// `SOCK_SEQPACKET` Unix socket the kernel sums the whole receive queue, not
/// only the next message). Above 0 after a 0-byte read with the peer gone,
/// the read was an empty message with more behind it, not the end.
fn queued_bytes(fd: BorrowedFd<'_>) -> Result<libc::c_int> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int to the valid pointer it is given.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
    if r < 0 {
        return Err(Error::new(Errno::last(), "ioctl"));
    }
    Ok(n)
}

/// Whether the peer has shut down its sending side (`POLLRDHUP`/`POLLHUP`).
/// Plain `libc::poll`: nix's `PollFlags` drops the revents it has no
/// constant for, and it has none for `POLLRDHUP`.
fn hung_up(fd: BorrowedFd<'_>) -> Result<bool> {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLRDHUP,
        revents: 0,
    };
    loop {
        // SAFETY: one pollfd, valid for reads and writes; timeout 0.
        let r = unsafe { libc::poll(&mut p, 1, 0) };
        if r >= 0 {
            return Ok(p.revents & (libc::POLLRDHUP | libc::POLLHUP) != 0);
        }
        match Errno::last() {
            Errno::EINTR => continue,
            e => return Err(Error::new(e, "poll")),
        }
    }
}

/// Credentials of a socket's peer (`SO_PEERCRED`): for a connection, the
/// peer's process at `connect`/`listen` time; for a `socketpair`, the
/// process that created the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCred {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

/// `getsockopt(SO_PEERCRED)`.
///
/// # Errors
/// `ENOTCONN`, `ENOTSOCK`, `EBADF`.
pub fn peer_cred(fd: BorrowedFd<'_>) -> Result<PeerCred> {
    let c = sock::getsockopt(&fd, sockopt::PeerCredentials).syscall("getsockopt")?;
    Ok(PeerCred {
        pid: c.pid(),
        uid: c.uid(),
        gid: c.gid(),
    })
}

/// [`peer_cred`] of a socket handed over from outside (`FdChannel.fromFd`),
/// after checking that it is what a channel needs: a connected Unix
/// `SOCK_SEQPACKET` socket. `SO_PEERCRED` alone fails only for a non-socket:
/// a Unix stream socket passed, and its messages then ran together (two
/// sends read as one), and a TCP socket, an unconnected or a listening one
/// passed with a made-up peer (pid 0, uid and gid 2^32-1).
///
/// # Errors
/// One errno per reason, in this order, so that the caller can say which:
/// `ENOTSOCK` (not a socket), `EPROTOTYPE` (not `SOCK_SEQPACKET`),
/// `EAFNOSUPPORT` (not `AF_UNIX`), `EINVAL` (listening), `ENOTCONN` (not
/// connected; a connected socket whose peer has gone still counts), `EBADF`.
/// @see <https://man7.org/linux/man-pages/man7/socket.7.html>
/// @see <https://man7.org/linux/man-pages/man2/getpeername.2.html>
pub fn checked_peer_cred(fd: BorrowedFd<'_>) -> Result<PeerCred> {
    let refuse = |errno| Err(Error::new(errno, "getsockopt"));
    match sock::getsockopt(&fd, sockopt::SockType) {
        Ok(SockType::SeqPacket) => {}
        // nix reads a type it has no name for (SOCK_PACKET) as EINVAL.
        Ok(_) | Err(Errno::EINVAL) => return refuse(Errno::EPROTOTYPE),
        Err(e) => return refuse(e),
    }
    let name = sock::getsockname::<sock::SockaddrStorage>(fd.as_raw_fd()).syscall("getsockname")?;
    if name.family() != Some(AddressFamily::Unix) {
        return refuse(Errno::EAFNOSUPPORT);
    }
    if sock::getsockopt(&fd, sockopt::AcceptConn).syscall("getsockopt")? {
        return refuse(Errno::EINVAL);
    }
    sock::getpeername::<sock::SockaddrStorage>(fd.as_raw_fd()).syscall("getpeername")?;
    peer_cred(fd)
}

/// `shutdown(SHUT_RDWR)`: the peer sees the end at once, even while other
/// processes still hold duplicates of this socket.
pub fn shutdown(fd: BorrowedFd<'_>) -> Result<()> {
    sock::shutdown(fd.as_raw_fd(), sock::Shutdown::Both).syscall("shutdown")
}
