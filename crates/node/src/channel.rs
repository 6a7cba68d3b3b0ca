//! fd passing over `SOCK_SEQPACKET` Unix sockets: the native calls behind
//! `FdChannel` and `FdChannelServer` (src/channel.ts, docs/fdchannel.md).
//! Errors are negative errnos (see `handle.rs`).
//!
//! **Ownership: no fd this module creates is ever a bare number in JS.**
//! - Every socket (`channelPair`, `channelListen`, `channelAccept`,
//!   `channelConnect`) is returned inside an fd handle (`Owned<FdHandle>`), created in
//!   the same native call that made the fd, so garbage collection closes it
//!   even if the TypeScript side dropped it on an exception.
//! - The fds a message carries (`channelRecv`) and the snapshots of fds a
//!   queued send keeps (`channelFdsDup`) are held in an `Owned<FdList>`
//!   handle, made in the same call; dropping it (garbage collection, or the
//!   environment's teardown, `ext::drop_env`) closes every fd not taken. Only
//!   `channelFdsTake` hands a number to JS, and from then on the caller owns
//!   it. `channelFdsPeek` shows a number that stays the list's.
//! - An fd of a truncated message never reaches JS: the core closes it.

use std::cell::RefCell;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

use crate::rt::ext::{Handle, Owned};
use linux_fd_core::channel::{self as core, Address, Recv};
use linux_fd_core::fd::{GuardedFd, Taken};
use napi::bindgen_prelude::{BufferSlice, Either};
use napi::Env;
use napi_derive::napi;

use crate::handle::{borrow_fd, either, errno, int, on_fd, sys, FdHandle};

/// Most fds one message carries (the kernel's `SCM_MAX_FD`).
#[napi]
pub const CHANNEL_MAX_FDS: u32 = core::MAX_FDS as u32;
/// Largest message, in bytes, that is sent or received.
#[napi]
pub const CHANNEL_MAX_MESSAGE: u32 = core::MAX_MESSAGE as u32;

type HandleOrErrno = Either<Owned<FdHandle>, i32>;

fn owned(r: Result<OwnedFd, i32>) -> HandleOrErrno {
    either(r.map(|fd| FdHandle::new(fd, false)))
}

fn address<'a>(name: &'a str, abstract_ns: bool) -> Address<'a> {
    if abstract_ns {
        Address::Abstract(name.as_bytes())
    } else {
        Address::Path(Path::new(name))
    }
}

/// `socketpair(AF_UNIX, SOCK_SEQPACKET)`: two connected, non-blocking,
/// close-on-exec ends, each owned by a handle; or a negative errno.
/// @see https://man7.org/linux/man-pages/man2/socketpair.2.html
#[napi(ts_return_type = "[ExternalObject<'FdHandle'>, ExternalObject<'FdHandle'>] | number")]
pub fn channel_pair() -> Either<Vec<Owned<FdHandle>>, i32> {
    either(sys(core::pair()).map(|(a, b)| vec![FdHandle::new(a, false), FdHandle::new(b, false)]))
}

/// A listening socket at `name` (a path, created with mode 0600, or with
/// `abstract_ns` a name in the abstract namespace), owned by a handle; or a
/// negative errno. A path's socket file is removed if the handle is dropped
/// unclosed (`FdHandle::listener`).
/// @see https://man7.org/linux/man-pages/man7/unix.7.html
#[napi(ts_return_type = "ExternalObject<'FdHandle'> | number")]
pub fn channel_listen(name: String, abstract_ns: bool, backlog: i32) -> HandleOrErrno {
    either(sys(core::listen(address(&name, abstract_ns), backlog)).map(|fd| {
        // Recorded right after bind; if the lstat fails (the file was
        // removed already), there is nothing to remove later.
        let file = (!abstract_ns)
            .then(|| core::SocketFile::record(Path::new(&name)).ok())
            .flatten();
        FdHandle::listener(fd, file)
    }))
}

/// `accept4`: the next pending connection, owned by a handle; or a negative
/// errno (`-EAGAIN`: none pending).
/// @see https://man7.org/linux/man-pages/man2/accept4.2.html
#[napi(ts_return_type = "ExternalObject<'FdHandle'> | number")]
pub fn channel_accept(fd: i32) -> HandleOrErrno {
    owned(on_fd(fd, core::accept))
}

/// A socket connected to `name` (see `channelListen`), owned by a handle; or
/// a negative errno (`-EAGAIN`: the listener's backlog is full).
/// @see https://man7.org/linux/man-pages/man2/connect.2.html
#[napi(ts_return_type = "ExternalObject<'FdHandle'> | number")]
pub fn channel_connect(name: String, abstract_ns: bool) -> HandleOrErrno {
    owned(sys(core::connect(address(&name, abstract_ns))))
}

/// `sendmsg` of one message: `data` and, with `SCM_RIGHTS`, duplicates of
/// `fds` (the caller keeps its own). Returns the bytes sent or a negative
/// errno (`-EAGAIN`: the peer's queue is full; `-EPIPE`: the peer is gone).
/// @see https://man7.org/linux/man-pages/man2/sendmsg.2.html
#[napi(ts_args_type = "fd: number, data: Uint8Array, fds: Int32Array")]
pub fn channel_send(fd: i32, data: &[u8], fds: &[i32]) -> i32 {
    let borrowed: Result<Vec<BorrowedFd<'_>>, i32> = fds
        .iter()
        .map(|&f| borrow_fd(f).map_err(|()| -libc::EBADF))
        .collect();
    int(borrowed
        .and_then(|b| on_fd(fd, |sock| core::send(sock, data, &b)))
        .map(|n| n as i32))
}

/// As `channelSend`, with the fds held by `list` (from `channelFdsDup`).
#[napi(ts_args_type = "fd: number, data: Uint8Array, list: ExternalObject<'FdList'>")]
pub fn channel_send_list(fd: i32, data: &[u8], list: Handle<FdList>) -> i32 {
    let raws: Vec<i32> = list
        .0
        .borrow()
        .iter()
        .map(|g| g.as_ref().and_then(|g| g.raw()).unwrap_or(-1))
        .collect();
    channel_send(fd, data, &raws)
}

/// A received message: its bytes and the fds it carried (`null`: none).
#[napi(object, object_from_js = false)]
pub struct ChannelMessage<'env> {
    /// A copy into memory V8 owns (`napi_create_buffer_copy`): no finalizer
    /// per message, unlike an external buffer over a `Vec`.
    pub data: BufferSlice<'env>,
    #[napi(ts_type = "ExternalObject<'FdList'> | null")]
    pub fds: Option<Owned<FdList>>,
}

thread_local! {
    /// One receive buffer per thread (each environment runs on one thread).
    static RECV_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0u8; core::MAX_MESSAGE]);
}

/// `recvmsg` of one message (`MSG_CMSG_CLOEXEC`): `{ data, fds }`, `0` when
/// the peer has gone (end of stream), or a negative errno (`-EAGAIN`:
/// nothing yet; `-EMSGSIZE`: longer than `CHANNEL_MAX_MESSAGE`; `-ENOBUFS`:
/// control data cut short; in both the message's fds were closed).
/// @see https://man7.org/linux/man-pages/man2/recvmsg.2.html
#[napi(ts_return_type = "ChannelMessage | number")]
pub fn channel_recv(env: &Env, fd: i32) -> napi::Result<Either<ChannelMessage<'_>, i32>> {
    let Ok(fd) = borrow_fd(fd) else {
        return Ok(Either::B(-libc::EBADF));
    };
    RECV_BUF.with(|buf| {
        let mut buf = buf.borrow_mut();
        match core::recv(fd, &mut buf) {
            Ok(Recv::Message { len, fds }) => {
                // The fds are owned (by the list) before anything can fail.
                let fds = (!fds.is_empty()).then(|| FdList::new(fds));
                let data = BufferSlice::copy_from(env, &buf[..len])?;
                Ok(Either::A(ChannelMessage { data, fds }))
            }
            Ok(Recv::End) => Ok(Either::B(0)),
            Err(e) => Ok(Either::B(errno(&e))),
        }
    })
}

/// `SO_PEERCRED`: `[pid, uid, gid]` of the peer, or a negative errno. With
/// `check` (an fd from outside), first that it is a connected Unix
/// `SOCK_SEQPACKET` socket, one errno per reason (core `checked_peer_cred`:
/// `ENOTSOCK`, `EPROTOTYPE`, `EAFNOSUPPORT`, `EINVAL`, `ENOTCONN`).
/// @see https://man7.org/linux/man-pages/man7/unix.7.html
#[napi(ts_return_type = "[number, number, number] | number")]
pub fn channel_peer(fd: i32, check: bool) -> Either<Vec<u32>, i32> {
    let cred = on_fd(
        fd,
        if check {
            core::checked_peer_cred
        } else {
            core::peer_cred
        },
    );
    either(cred.map(|c| vec![c.pid as u32, c.uid, c.gid]))
}

/// `shutdown(SHUT_RDWR)`: the peer sees the end even while other processes
/// hold duplicates of this socket. 0 or a negative errno.
/// @see https://man7.org/linux/man-pages/man2/shutdown.2.html
#[napi]
pub fn channel_shutdown(fd: i32) -> i32 {
    int(on_fd(fd, core::shutdown).map(|()| 0))
}

/// `SO_PASSCRED` set to `on` on a channel's socket (core
/// `channel::set_pass_cred`): on before its first receive, how
/// `channelRecv` tells an empty message from the end; off again at its
/// close if it was off. 1 if it was on before, 0 if not, or a negative
/// errno.
/// @see https://man7.org/linux/man-pages/man7/unix.7.html
#[napi]
pub fn channel_pass_cred(fd: i32, on: bool) -> i32 {
    int(on_fd(fd, |fd| core::set_pass_cred(fd, on)).map(i32::from))
}

/// Fds owned together: those of a received message, or the snapshot a
/// queued send keeps. Each is a `GuardedFd`, so one closed behind the list's
/// back (and maybe reused) is forgotten, never closed. A taken slot is `None`.
pub struct FdList(RefCell<Vec<Option<GuardedFd>>>);

/// The fds still owned are closed by `close_received`, off the JS thread if
/// their close may block (s41-chan MED-1): on garbage collection and at an
/// environment's teardown, as `channel_fds_close` does.
impl Drop for FdList {
    fn drop(&mut self) {
        for g in self.0.get_mut().iter_mut().flatten() {
            g.close_received();
        }
    }
}

impl FdList {
    fn new(fds: Vec<OwnedFd>) -> Owned<FdList> {
        Owned(FdList(RefCell::new(
            fds.into_iter().map(|f| Some(GuardedFd::received(f))).collect(),
        )))
    }
}

/// Close-on-exec duplicates of `fds`, owned by a new list; or a negative
/// errno (`-EBADF`: one is not open), with every duplicate made so far
/// closed.
/// @see https://man7.org/linux/man-pages/man2/fcntl.2.html
#[napi(
    ts_args_type = "fds: Int32Array",
    ts_return_type = "ExternalObject<'FdList'> | number"
)]
pub fn channel_fds_dup(fds: &[i32]) -> Either<Owned<FdList>, i32> {
    let dups: Result<Vec<OwnedFd>, i32> = fds
        .iter()
        .map(|&f| on_fd(f, linux_fd_core::fd::dup_cloexec))
        .collect();
    either(dups.map(FdList::new))
}

/// How many fds the list was made with (taken ones included).
#[napi(ts_args_type = "list: ExternalObject<'FdList'>")]
pub fn channel_fds_count(list: Handle<FdList>) -> u32 {
    list.0.borrow().len() as u32
}

/// The number of fd `i`, still owned by the list; or `-EBADF` if it was
/// taken, closed, or found closed behind the list's back (or `i` is out of
/// range). Checked each time (one `fstat`): a number closed behind the
/// list's back and reused was shown as the message's fd by `peek()`,
/// `remaining` and the iterator, which `take()` refused (s41-chan LOW-1).
/// Every way JS learns a received number goes through here, so an fd on the
/// anonymous inode records its fdinfo mark here first
/// (`GuardedFd::mark_shared`; one fdinfo read, the first time).
#[napi(ts_args_type = "list: ExternalObject<'FdList'>, i: number")]
pub fn channel_fds_peek(list: Handle<FdList>, i: u32) -> i32 {
    let mut v = list.0.borrow_mut();
    let Some(g) = v.get_mut(i as usize).and_then(Option::as_mut) else {
        return -libc::EBADF;
    };
    if g.confirm_lost() {
        return -libc::EBADF;
    }
    g.mark_shared();
    g.raw().unwrap_or(-libc::EBADF)
}

/// Hands fd `i` over: the caller owns the returned number from now on. Or
/// `-EBADF` if it was already taken, closed, or found closed behind the
/// list's back (then nothing is closed), or `i` is out of range.
#[napi(ts_args_type = "list: ExternalObject<'FdList'>, i: number")]
pub fn channel_fds_take(list: Handle<FdList>, i: u32) -> i32 {
    let mut v = list.0.borrow_mut();
    let Some(slot) = v.get_mut(i as usize) else {
        return -libc::EBADF;
    };
    let Some(mut g) = slot.take() else {
        return -libc::EBADF;
    };
    match g.take() {
        Taken::Ours(fd) => std::os::fd::IntoRawFd::into_raw_fd(fd),
        Taken::Lost(_) | Taken::Closed => -libc::EBADF,
    }
}

/// Closes every fd the list still owns (idempotent). Returns how many were
/// closed.
#[napi(ts_args_type = "list: ExternalObject<'FdList'>")]
pub fn channel_fds_close(list: Handle<FdList>) -> u32 {
    let taken: Vec<Option<GuardedFd>> = list.0.borrow_mut().iter_mut().map(Option::take).collect();
    let mut closed = 0;
    for mut g in taken.into_iter().flatten() {
        if g.close_received().is_none() {
            closed += 1;
        }
    }
    closed
}
