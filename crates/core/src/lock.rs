//! `flock(2)` and Python's `fcntl.lockf`: the blocking lock calls of the
//! low-level API. The event-loop-friendly waits are in [`crate::lockwait`].
//!
//! `lockf` makes classic POSIX record locks (`F_SETLK`/`F_SETLKW`), which
//! belong to the *process* and are dropped when it closes *any* fd of the
//! file: exactly what Python's `fcntl.lockf` does, and why `lockFile` never
//! uses them.
//!
//! # References
//! - [`flock(2)`](https://man7.org/linux/man-pages/man2/flock.2.html)
//! - [`fcntl(2)`, "Advisory record locking"](https://man7.org/linux/man-pages/man2/fcntl.2.html)
//! - [`lockf(3)`](https://man7.org/linux/man-pages/man3/lockf.3.html)

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::Path;

use nix::fcntl::{fcntl, FcntlArg};

use crate::error::{retry_eintr, Context, Errno, Error, Result};
use crate::lockwait::{LockKind, LockSpec};

/// `flock(fd, operation)`—`LOCK_SH`, `LOCK_EX` or `LOCK_UN`, optionally `|
/// LOCK_NB`. Blocks without `LOCK_NB`; a conflict with it is `EWOULDBLOCK`
/// (= `EAGAIN`).
pub fn flock(fd: BorrowedFd<'_>, operation: i32) -> Result<()> {
    // SAFETY: flock only reads its two integer arguments.
    retry_eintr(|| Errno::result(unsafe { libc::flock(fd.as_raw_fd(), operation) }))
        .map(drop)
        .syscall("flock")
}

/// What [`lockf`] was asked for, decoded as CPython's `fcntl_lockf_impl` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockfOp {
    /// `LOCK_UN` (exactly): `F_UNLCK`.
    Unlock,
    /// `LOCK_SH` set: `F_RDLCK`.
    Shared,
    /// `LOCK_EX` set: `F_WRLCK`.
    Exclusive,
}

/// Decodes a `lockf` command: `None` for an unrecognized one (Python's
/// `ValueError: unrecognized lockf argument`).
pub fn lockf_op(cmd: i32) -> Option<LockfOp> {
    if cmd == libc::LOCK_UN {
        Some(LockfOp::Unlock)
    } else if cmd & libc::LOCK_SH != 0 {
        Some(LockfOp::Shared)
    } else if cmd & libc::LOCK_EX != 0 {
        Some(LockfOp::Exclusive)
    } else {
        None
    }
}

/// Python's `fcntl.lockf(fd, cmd, len, start, whence)`: a POSIX record lock
/// with `F_SETLK` when `cmd` has `LOCK_NB`, else the blocking `F_SETLKW`.
///
/// # Errors
/// `EINVAL` for an unrecognized `cmd`; `EACCES` or `EAGAIN` on a conflict
/// with `LOCK_NB`; `EDEADLK`; `EBADF` (the fd's access mode does not allow
/// the lock type).
pub fn lockf(fd: BorrowedFd<'_>, cmd: i32, len: i64, start: i64, whence: i32) -> Result<()> {
    let op = lockf_op(cmd).ok_or(Error::new(Errno::EINVAL, "fcntl"))?;
    // SAFETY: libc::flock is a plain C struct; all-zero is a valid value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = match op {
        LockfOp::Unlock => libc::F_UNLCK,
        LockfOp::Shared => libc::F_RDLCK,
        LockfOp::Exclusive => libc::F_WRLCK,
    } as libc::c_short;
    fl.l_whence = whence as libc::c_short;
    fl.l_start = start as libc::off_t;
    fl.l_len = len as libc::off_t;
    retry_eintr(|| {
        if cmd & libc::LOCK_NB != 0 {
            fcntl(fd, FcntlArg::F_SETLK(&fl))
        } else {
            fcntl(fd, FcntlArg::F_SETLKW(&fl))
        }
    })
    .map(drop)
    .syscall("fcntl")
}

/// A lock that [`test_ofd`] found in the way: `F_OFD_GETLK`'s answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// A shared (read) lock; else an exclusive (write) one.
    pub shared: bool,
    /// The process that owns a classic POSIX record lock (0 if it is in
    /// another PID namespace); -1 for an OFD lock, which belongs to an open
    /// file description, not a process.
    pub pid: i32,
    /// Its first byte.
    pub start: i64,
    /// Its length; 0 = to the end of the file, however it grows.
    pub len: i64,
}

/// `fcntl(fd, F_OFD_GETLK)`: the first lock that would stop an OFD lock
/// (shared or exclusive) of `len` bytes from `start` (`len` 0 = to the end
/// of the file) through `fd`'s open file description, or `None` if it could
/// be placed. Takes nothing. The kernel reports OFD and POSIX record locks
/// (they conflict with each other), never `flock(2)` locks (a separate
/// family), nor locks of `fd`'s own description; `fd` may be open for any
/// access.
///
/// # Errors
/// `EINVAL` (a negative `start` or `len`, or a range past the largest
/// offset), `EBADF`.
pub fn test_ofd(fd: BorrowedFd<'_>, shared: bool, start: i64, len: i64) -> Result<Option<Conflict>> {
    let spec = LockSpec {
        kind: LockKind::Ofd,
        shared,
        start,
        len,
    };
    let mut fl = crate::lockwait::ofd(&spec, if shared { libc::F_RDLCK } else { libc::F_WRLCK });
    retry_eintr(|| fcntl(fd, FcntlArg::F_OFD_GETLK(&mut fl))).syscall("fcntl")?;
    Ok((fl.l_type != libc::F_UNLCK as libc::c_short).then_some(Conflict {
        shared: fl.l_type == libc::F_RDLCK as libc::c_short,
        pid: fl.l_pid,
        start: fl.l_start,
        len: fl.l_len,
    }))
}

/// [`test_ofd`] of the file at `path`, which is opened for the test alone,
/// in a way that changes nothing else:
/// - on a thread of the package's whose fd table is its own (`close_range(0,
///   ~0, CLOSE_RANGE_UNSHARE)`, Linux 5.9). POSIX record locks belong to an
///   fd table, and closing any fd of a file drops all of that table's locks
///   on it, so the close that ends the test, made in the process's own
///   table, dropped every `lockf`/`F_SETLK` lock this process held on the
///   file: another library's too, such as SQLite's (s37-diff M1). In the
///   private table it drops none, and the test still sees them: they have
///   another owner.
/// - each calling thread has its own such thread, started at its first call
///   and kept for its next ones, so a table is made once per calling
///   thread, not at every call. Making it copies and closes the process's
///   fds below 64 (see `private_fd_table`), and the call waits for that:
///   those files are flushed, and the last close of one of them by another
///   thread meanwhile (a lock's release, a pipe's EOF) takes effect only
///   when the copy is closed, a moment later. A thread per call, as before
///   2026-12-07, did that at every call and cost some 40–50 µs a call. The
///   tester inherits what its caller had at its first call (a seccomp
///   filter, Landlock, capabilities); it ends with the caller's thread.
/// - only a regular file or a directory is opened for reading (`O_PATH`
///   and `fstat` first, then a reopen through `/proc/thread-self/fd`, so
///   the path cannot change in between): opening a FIFO releases a writer
///   waiting for its reader, a serial line resets its device. Anything else
///   is `EINVAL`, with nothing opened but the `O_PATH` fd. Without `/proc`
///   the reopen is impossible, and opening the path again could open a FIFO
///   swapped in meanwhile (s37-tl L2): `EOPNOTSUPP`.
/// - the thread runs with every signal blocked. A signal sent to the
///   process may go to any thread that does not block it, and the runtime's
///   handler (libuv's) then writes to its pipe by fd number: in the private
///   table that number is not open, and the signal was lost (s37-tl M1).
///   The caller's mask is blocked around the spawn, so that the thread has
///   it from its first instruction, and restored at once: a signal that
///   comes meanwhile stays pending for the process.
///
/// # Errors
/// As `open(2)` (`ENOENT`, `EACCES`, …; a file this user may only write is
/// `EACCES`: opening it for writing would show as a write), `EINVAL` (not a
/// regular file or directory), `EOPNOTSUPP` (no `/proc`), `ENOSYS` or
/// `EPERM` from `close_range` (a kernel before 5.9, a seccomp filter),
/// `EAGAIN` from `clone` (no thread could be started), and [`test_ofd`]'s.
/// A failure to start the thread is not kept: the next call tries again.
pub fn test_ofd_path(path: &Path, shared: bool, start: i64, len: i64) -> Result<Option<Conflict>> {
    use std::cell::Cell;
    use std::sync::mpsc;
    thread_local! {
        // This thread's tester, and the process it was started in.
        static TESTER: Cell<Option<(u32, mpsc::Sender<TestJob>)>> = const { Cell::new(None) };
    }
    let pid = std::process::id();
    let mut tester = match TESTER.try_with(Cell::take).ok().flatten() {
        Some((p, t)) if p == pid => Some(t),
        // A child made by fork (not exec) has this thread's tester but not
        // its thread; dropping it could wait on a lock of the channel that
        // thread held at the fork. Left as it is, and a new one started.
        Some(copied) => {
            std::mem::forget(copied);
            None
        }
        None => None,
    };
    let (reply, answer) = mpsc::sync_channel(1);
    let mut job = (path.to_path_buf(), shared, start, len, reply);
    // Twice at most: a tester that ended (a panic, which nothing here should
    // raise) is replaced once.
    for _ in 0..2 {
        let t = match tester.take() {
            Some(t) => t,
            None => start_tester()?,
        };
        match t.send(job) {
            Ok(()) => {
                return match answer.recv() {
                    Ok(r) => {
                        // Kept for this thread's next call; at the thread's
                        // end the sender is dropped, and the tester ends too.
                        let _ = TESTER.try_with(|c| c.set(Some((pid, t))));
                        r
                    }
                    Err(_) => Err(Error::new(Errno::EIO, "fcntl")),
                };
            }
            Err(mpsc::SendError(back)) => job = back,
        }
    }
    Err(Error::new(Errno::EIO, "fcntl"))
}

/// A call of [`test_ofd_path`] for its thread: the path, `shared`, `start`,
/// `len`, and where the answer goes.
type TestJob = (
    std::path::PathBuf,
    bool,
    i64,
    i64,
    std::sync::mpsc::SyncSender<Result<Option<Conflict>>>,
);

/// Starts a thread of [`test_ofd_path`]: signals blocked, a private fd
/// table, then a loop over its jobs until its sender is dropped (at its
/// calling thread's end).
fn start_tester() -> Result<std::sync::mpsc::Sender<TestJob>> {
    use std::sync::mpsc;
    let (jobs, queue) = mpsc::channel::<TestJob>();
    let (ready, started) = mpsc::sync_channel(1);
    // SAFETY: sigset_t is plain data, filled by sigfillset; the mask changes
    // only the calling thread's, and the old one is restored right after
    // the spawn whatever it returned.
    let old = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        old
    };
    let spawned = std::thread::Builder::new()
        .name("linux-fd test".into())
        .stack_size(64 << 10)
        .spawn(move || {
            let table = private_fd_table();
            let ok = table.is_ok();
            let _ = ready.send(table);
            if ok {
                for (path, shared, start, len, reply) in queue {
                    let _ = reply.send(test_ofd_opened(&path, shared, start, len));
                }
            }
        });
    // SAFETY: as above; `old` is the mask read before.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    spawned.map_err(|_| Error::new(Errno::EAGAIN, "clone"))?;
    started
        .recv()
        .unwrap_or_else(|_| Err(Error::new(Errno::EIO, "close_range")))?;
    Ok(jobs)
}

/// Gives the calling thread a new, empty fd table of its own.
///
/// Not quite empty on the way: the kernel sizes a new table at no fewer than
/// 64 slots (`NR_OPEN_DEFAULT`, `BITS_PER_LONG`: 64 on both targets; fs/file.c
/// `sane_fdtable_size`, 5.9 to 6.18 at least), so `dup_fd` copies the
/// process's fds 0 to 63, each with a
/// reference to its open file description, and the same call then closes
/// those copies. Each copy's close calls the file's `flush` (an NFS file
/// open for writing writes back; FUSE gets a `FLUSH`), but removes no POSIX
/// lock and no dnotify watch of the process's: those are owned by the
/// process's table, not this one. And while the copies live (microseconds),
/// another thread's close of one of those fds does not end the description:
/// an OFD or `flock` lock on it is released when the copy is closed, a
/// moment later. A C probe (200,000 OFD lock+close+try from another
/// description, beside a loop of threads making this call; this machine
/// kind, Linux 6.18) found the lock still held after the close in 3.9-4.1 %
/// with the fd at 4, and in none with the fd at 75. That was ci-44b's
/// failure of `test_ofd_reports_ofd_and_posix_locks_and_takes_nothing`
/// (tests/lock.rs), whose fds met the copies of a neighbouring test's call.
fn private_fd_table() -> Result<()> {
    // SAFETY: close_range takes three integers. With CLOSE_RANGE_UNSHARE over
    // every number it gives this thread a new table and closes what it
    // copied (see above); the process's own table is not touched.
    let r = unsafe { libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, libc::CLOSE_RANGE_UNSHARE) };
    Errno::result(r).map(drop).syscall("close_range")
}

/// The open and test of [`test_ofd_path`], on its thread.
fn test_ofd_opened(path: &Path, shared: bool, start: i64, len: i64) -> Result<Option<Conflict>> {
    use nix::fcntl::{open, OFlag};
    use nix::sys::stat::{fstat, Mode, SFlag};
    let o = open(path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty()).syscall("open")?;
    let st = fstat(&o).syscall("fstat")?;
    let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
    if kind != SFlag::S_IFREG && kind != SFlag::S_IFDIR {
        return Err(Error::new(Errno::EINVAL, "open"));
    }
    let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK;
    let fd = match open(
        format!("/proc/thread-self/fd/{}", o.as_raw_fd()).as_str(),
        flags,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        // The fd's own entry exists wherever /proc is mounted.
        Err(Errno::ENOENT) => return Err(Error::new(Errno::EOPNOTSUPP, "open")),
        Err(e) => return Err(Error::new(e, "open")),
    };
    test_ofd(fd.as_fd(), shared, start, len)
}
