//! The fd handle every class owns, and the binding's two conventions
//! (docs/design.md, "Binding conventions"):
//!
//! - **Errors**: a native function reports an OS failure by returning a
//!   negative errno (a JS number) in place of its result, as libuv does; the
//!   TypeScript layer builds the Node-style error. Nothing is thrown for an
//!   OS error, so no exception crosses the boundary on a hot path.
//! - **Ownership**: an object that owns an fd holds an external made by
//!   `Owned<FdHandle>` (`rt/ext.rs`).
//!   Dropping it (garbage collection, or the environment's teardown) closes
//!   the fd, after checking that the number is still this handle's in the
//!   process-wide owner registry and still names the same file
//!   (`GuardedFd`); `fdClose` does the same early. Adopting a number another
//!   handle owns is refused (`-EBUSY`).
//!
//! Every function here trusts no caller for memory safety: a bad fd number
//! is `EBADF`, a foreign `External` is a thrown `InvalidArg`.

use std::cell::{Cell, RefCell};
use std::os::fd::OwnedFd;

use crate::rt::ext::{Handle, Owned};
// The fd-number and errno conventions live at the bottom (rt), which
// imports nothing of the crate; every module reaches them through here.
pub use crate::rt::{borrow_fd, either, errno, int, on_fd, sys};
use linux_fd_core::channel::SocketFile;
use linux_fd_core::fd::GuardedFd;
use napi::bindgen_prelude::{Either, Uint8ArraySlice};
use napi_derive::napi;

/// The bytes of a path or a name as JS passes it: a string's UTF-8, or the
/// view's own bytes (a `Buffer` need not be UTF-8). Signatures spell the
/// type out: napi-derive writes an alias's name into `binding.d.ts`.
pub fn bytes_of<'a>(v: &'a Either<String, Uint8ArraySlice<'_>>) -> &'a [u8] {
    match v {
        Either::A(s) => s.as_bytes(),
        Either::B(b) => b,
    }
}

/// A path as JS passes it ([`bytes_of`]).
pub fn path_of<'a>(v: &'a Either<String, Uint8ArraySlice<'_>>) -> &'a std::path::Path {
    use std::os::unix::ffi::OsStrExt;
    std::path::Path::new(std::ffi::OsStr::from_bytes(bytes_of(v)))
}

/// An fd owned by a JS object.
pub struct FdHandle {
    fd: RefCell<GuardedFd>,
    /// A path listener's socket file (`channelListen`), removed (if the
    /// path still names it) when the fd is closed: by `fdHandleClose`, or
    /// when the handle is dropped unclosed (garbage collection, or the
    /// environment's teardown when a worker ends), as libuv does for a
    /// `uv_pipe_t`. Only `close()` removed it once: a terminated worker's
    /// socket file stayed, and the next `listen` on it was `EADDRINUSE`.
    socket_file: Cell<Option<Box<SocketFile>>>,
}

impl Drop for FdHandle {
    fn drop(&mut self) {
        if let Some(file) = self.socket_file.take() {
            file.remove();
        }
    }
}

impl FdHandle {
    fn of(g: GuardedFd) -> Owned<FdHandle> {
        Owned(FdHandle {
            fd: RefCell::new(g),
            socket_file: Cell::new(None),
        })
    }

    /// A listening socket's handle, which removes `file` when it closes.
    pub fn listener(fd: OwnedFd, file: Option<SocketFile>) -> Owned<FdHandle> {
        Owned(FdHandle {
            fd: RefCell::new(GuardedFd::new(fd)),
            socket_file: Cell::new(file.map(Box::new)),
        })
    }

    /// Wraps `fd`, which the kernel has just made (so any previous owner of
    /// the number is stale), recording its identity (`fstat`) for the
    /// close-time check and the handle as the number's owner.
    /// `anon`: eventfds and timerfds share one inode, checked once per process.
    pub fn new(fd: OwnedFd, anon: bool) -> Owned<FdHandle> {
        let g = if anon {
            GuardedFd::new_anon(fd)
        } else {
            GuardedFd::new(fd)
        };
        FdHandle::of(g)
    }

    /// The raw fd, or -1 once closed or lost.
    pub fn raw(&self) -> i32 {
        self.fd.borrow().raw().unwrap_or(-1)
    }
}

/// The handle's fd number, or -1 once closed or lost. Registered raw as
/// `fdHandleFd` (`rt/rawfn.rs`): one call per object made; with
/// `fdHandleClose` raw too, `new EventCounter().close()` measured 0.95x the
/// generated forms in one run (docs/bench-floor.md).
pub fn fd_handle_fd(handle: Handle<FdHandle>) -> i32 {
    handle.raw()
}

/// Closes the handle's fd (idempotent). Returns 0, or `-EBADF` if the number
/// no longer names the file it was (JS closed it, and it may have been
/// reused): the number is then forgotten, never closed.
/// Registered raw as `fdHandleClose` (`rt/rawfn.rs`): one call per object.
pub fn fd_handle_close(handle: Handle<FdHandle>) -> i32 {
    if let Some(file) = handle.socket_file.take() {
        file.remove();
    }
    match handle.fd.borrow_mut().close() {
        None => 0,
        Some(_) => -libc::EBADF,
    }
}

/// After a call on the handle's fd failed with `EBADF`: checks (one `fstat`)
/// whether the number still names the same file. If not, the handle forgets
/// the number without closing it and this returns true.
#[napi(ts_args_type = "handle: ExternalObject<'FdHandle'>")]
pub fn fd_handle_lost(handle: Handle<FdHandle>) -> bool {
    handle.fd.borrow_mut().confirm_lost()
}

/// Call once the handle's number has reached other code (JS read `fd`, or
/// the handle adopted a number the caller had): for an eventfd or timerfd,
/// records what fdinfo says of it (core `GuardedFd::mark_shared`), so that
/// a later close tells it from another anonymous-inode file that reused the
/// number after a close behind our back (s51-eventfd MED-2: libuv's epoll
/// fd of a new worker was closed, and the process aborted). One fdinfo
/// read; nothing for other fds.
/// @see https://man7.org/linux/man-pages/man5/proc_pid_fdinfo.5.html
#[napi(ts_args_type = "handle: ExternalObject<'FdHandle'>")]
pub fn fd_handle_share(handle: Handle<FdHandle>) {
    handle.fd.borrow_mut().mark_shared();
}

/// What kind of fd `fd` is, from `/proc/self/fdinfo`: `'eventfd'`,
/// `'eventfd-semaphore'`, `'timerfd'`, `'other'`, or `'unknown'` (no `/proc`,
/// or a kernel too old to say); or a negative errno (`EBADF`: not open).
/// @see https://man7.org/linux/man-pages/man5/proc_pid_fdinfo.5.html
#[napi(ts_return_type = "'eventfd' | 'eventfd-semaphore' | 'timerfd' | 'other' | 'unknown' | number")]
pub fn fd_kind(fd: i32) -> napi::bindgen_prelude::Either<&'static str, i32> {
    either(on_fd(fd, linux_fd_core::fd::kind).map(linux_fd_core::fd::FdKind::name))
}

/// A handle owning `fd` itself (`adopt`, which sets its `FD_CLOEXEC`) or a
/// close-on-exec duplicate of it;
/// with `nonblock`, the open file description is made non-blocking. `anon`:
/// an eventfd or timerfd (see `FdHandle::new`). Or a negative errno; an
/// adopted fd is then left open, still the caller's: `-EBUSY` if another
/// live handle owns the number (`GuardedFd::adopt`), in which case neither
/// its flags nor its file description were touched.
#[napi(ts_return_type = "ExternalObject<'FdHandle'> | number")]
pub fn fd_handle_from(
    fd: i32,
    adopt: bool,
    anon: bool,
    nonblock: bool,
) -> napi::bindgen_prelude::Either<Owned<FdHandle>, i32> {
    let own = |b: std::os::fd::BorrowedFd<'_>| {
        // SAFETY: with `adopt`, the JS caller gives the number up (src/'s
        // `fromFd(fd, { adopt: true })` documents that it must not be closed
        // elsewhere); the owner registry refuses a number another handle owns.
        unsafe { linux_fd_core::fd::own(b, adopt, anon, nonblock) }
    };
    either(on_fd(fd, own).map(FdHandle::of))
}

/// The C name and a description of `errno` (positive), for the errnos
/// libuv's table (`util.getSystemErrorMap()`) lacks, such as `EDEADLK`,
/// `ENOLCK` or `EBADFD`: `["EDEADLK", "resource deadlock would occur"]`
/// (the descriptions are the nix crate's, lower-cased). An errno Linux does
/// not name (the kernel-internal 515, say) is `[]`. Only error paths call
/// it (`src/errors.ts`).
/// @see https://man7.org/linux/man-pages/man3/errno.3.html
#[napi]
pub fn errno_text(errno: i32) -> Vec<String> {
    let e = linux_fd_core::Errno::from_raw(errno);
    if e == linux_fd_core::Errno::UnknownErrno {
        return Vec::new();
    }
    vec![
        linux_fd_core::error::errno_name(e),
        linux_fd_core::error::errno_description(e),
    ]
}
