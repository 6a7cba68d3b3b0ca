//! Blocking waits by `poll(2)`.
//!
//! Node's `uv_poll_init` sets `O_NONBLOCK` on the open file description, so an
//! fd the binding ever waited on is non-blocking for every holder of it. Sync
//! "blocking" methods therefore never rely on the fd being blocking: they wait
//! for readiness with `poll(2)`, then make a non-blocking call, and loop on
//! `EAGAIN` (another waiter may have won the race).
//!
//! [`ReadyThread`] waits on a thread of its own, for callers that cannot
//! register the fd with their event loop (the Node binding's fallback for
//! runtimes whose `uv_*` functions must not be called).
//!
//! # References
//! - [`poll(2)`](https://man7.org/linux/man-pages/man2/poll.2.html)

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use nix::poll::{PollFd, PollFlags, PollTimeout};

use crate::error::{Errno, Error, Result};
use crate::eventfd::{self as efd, EfdFlags};
use crate::fd::GuardedFd;

/// `epoll_ctl(epfd, EPOLL_CTL_DEL, fd)`: takes `fd` out of an epoll set
/// now. The Node binding calls it on libuv's own epoll fd (`uv_backend_fd`)
/// for a watch's private dup, right before closing the dup: in libuv
/// 1.45–1.48 with its io_uring ring, `uv_poll_stop` made during I/O dispatch only queues its
/// DEL, which then runs after the close and fails with `EBADF`, so the
/// registration of a file still open elsewhere stayed in the set and woke
/// the loop in a spin whenever the file was readable. `ENOENT` (libuv
/// already removed it, the usual case) is `Ok(false)`.
///
/// # Errors
/// `EBADF` or `EINVAL` for a number that is not an epoll fd or an fd.
///
/// # References
/// - [`epoll_ctl(2)`](https://man7.org/linux/man-pages/man2/epoll_ctl.2.html)
pub fn epoll_forget(epfd: BorrowedFd<'_>, fd: BorrowedFd<'_>) -> Result<bool> {
    // Old kernels (before 2.6.9) wanted an event even for a DEL; libuv
    // passes a zeroed one too.
    let mut dummy = libc::epoll_event { events: 0, u64: 0 };
    // SAFETY: a plain syscall on two borrowed fds with a valid pointer to
    // an initialised epoll_event; the kernel checks both fds.
    let rc = unsafe { libc::epoll_ctl(epfd.as_raw_fd(), libc::EPOLL_CTL_DEL, fd.as_raw_fd(), &mut dummy) };
    if rc == 0 {
        return Ok(true);
    }
    match Errno::last() {
        Errno::ENOENT => Ok(false),
        e => Err(Error::new(e, "epoll_ctl")),
    }
}

/// Waits until `fd` is readable (or reports an error/hangup), retrying on `EINTR`.
///
/// # Errors
/// `EBADF`-like conditions come back as the `POLLNVAL` case mapped to `EBADF`.
pub fn wait_readable(fd: BorrowedFd<'_>) -> Result<()> {
    loop {
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {
                let revents = fds[0].revents().unwrap_or(PollFlags::empty());
                if revents.contains(PollFlags::POLLNVAL) {
                    return Err(Error::new(Errno::EBADF, "poll"));
                }
                return Ok(());
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::new(e, "poll")),
        }
    }
}

/// Waits up to `timeout_ms` milliseconds (-1: forever) until `fd` is
/// readable (or reports an error/hangup); `Ok(false)` on timeout. Retries on
/// `EINTR` with the time left to a deadline taken at the start: the kernel
/// never restarts `poll(2)` after a signal handler, whatever `SA_RESTART`
/// says, and a retry with the whole timeout made the wait last as long as
/// the signals did. Under V8's CPU profiler (`SIGPROF` every millisecond) a
/// sync wait's slice never ended, so neither did `worker.terminate()` or
/// `process.exit()` (s47-eintr H1).
///
/// # References
/// - [`poll(2)`](https://man7.org/linux/man-pages/man2/poll.2.html)
/// - [`signal(7)`](https://man7.org/linux/man-pages/man7/signal.7.html),
///   "Interruption of system calls and library functions by signal handlers"
pub fn wait_readable_for(fd: BorrowedFd<'_>, timeout_ms: i32) -> Result<bool> {
    let deadline = u64::try_from(timeout_ms)
        .ok()
        .map(|ms| std::time::Instant::now() + std::time::Duration::from_millis(ms));
    loop {
        let timeout = match deadline {
            None => PollTimeout::NONE,
            // Rounded up, so a retry never polls for 0 ms before the
            // deadline (which would return at once, too early).
            Some(d) => {
                let left = d.saturating_duration_since(std::time::Instant::now());
                let ms = left.as_nanos().div_ceil(1_000_000);
                PollTimeout::try_from(ms.min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, timeout) {
            Ok(0) => return Ok(false),
            Ok(_) => {
                let revents = fds[0].revents().unwrap_or(PollFlags::empty());
                if revents.contains(PollFlags::POLLNVAL) {
                    return Err(Error::new(Errno::EBADF, "poll"));
                }
                return Ok(true);
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::new(e, "poll")),
        }
    }
}

/// Runs the non-blocking `op` until it stops failing with `EAGAIN`, waiting
/// for readability with `poll(2)` in between.
pub fn blocking<T>(fd: BorrowedFd<'_>, mut op: impl FnMut() -> Result<T>) -> Result<T> {
    loop {
        match op() {
            Err(e) if e.errno == Errno::EAGAIN => wait_readable(fd)?,
            other => return other,
        }
    }
}

/// A thread that `poll(2)`s its own dup of an fd and calls `notify` each time
/// the fd is readable (or reports an error or hangup).
///
/// Handshake, so that level-triggered readiness cannot spin the thread:
/// after each `notify` the thread parks on its control eventfd until
/// [`ReadyThread::rearm`] (the caller has read what it could) or
/// [`ReadyThread::stop`]. Polling a dup means that closing the caller's fd
/// never pulls a polled fd out from under the thread.
///
/// Dropping it stops the thread, as [`ReadyThread::stop`] does.
pub struct ReadyThread {
    shared: Arc<Shared>,
    started: bool,
}

/// Both fds are `GuardedFd`s: the process's owner registry then knows their
/// numbers (an adoption of one is refused), and their close never closes a
/// number that someone else reused after closing them behind our back.
struct Shared {
    fd: GuardedFd,
    /// Shared (weakly) with [`ReadyThread::waker`], which keeps no fd open.
    ctl: Arc<GuardedFd>,
    stop: AtomicBool,
}

/// Wakes the thread through its control eventfd. The eventfd only counts
/// tokens; a failed write (it cannot overflow at 1 per call in practice)
/// would at worst delay a wake.
fn wake(ctl: &GuardedFd) {
    if let Some(ctl) = ctl.get() {
        let _ = efd::eventfd_write(ctl.as_fd(), 1);
    }
}

impl ReadyThread {
    /// Dups `fd` and makes the control eventfd; no thread yet (see
    /// [`ReadyThread::start`]), so that the caller can hand out
    /// [`ReadyThread::waker`] first.
    pub fn new(fd: BorrowedFd<'_>) -> Result<Self> {
        let fd = GuardedFd::new(crate::fd::dup_cloexec(fd)?);
        let ctl = GuardedFd::new_anon(efd::eventfd(0, EfdFlags::EFD_CLOEXEC)?);
        Ok(Self {
            shared: Arc::new(Shared {
                fd,
                ctl: Arc::new(ctl),
                stop: AtomicBool::new(false),
            }),
            started: false,
        })
    }

    /// A function that wakes the thread as [`ReadyThread::rearm`] does, for
    /// another owner (e.g. a teardown that must make a parked thread look at
    /// its state again). It keeps no fd open: once the thread has ended and
    /// this `ReadyThread` is dropped, it does nothing. (It held the control
    /// eventfd open, and under Deno, which never frees a threadsafe function
    /// left at a worker's teardown, the waker in that function's data kept
    /// one eventfd a wait open for good.)
    pub fn waker(&self) -> impl Fn() + Send + Sync + 'static {
        let ctl = Arc::downgrade(&self.shared.ctl);
        move || {
            if let Some(ctl) = ctl.upgrade() {
                wake(&ctl);
            }
        }
    }

    /// Starts the thread (once: a second call is `AlreadyExists`). It calls
    /// `notify` on each readiness; if `notify` returns false it exits at
    /// once. After [`ReadyThread::stop`], or if `poll` fails, it runs
    /// `on_exit` and exits.
    pub fn start(
        &mut self,
        name: &str,
        notify: impl FnMut() -> bool + Send + 'static,
        on_exit: impl FnOnce() + Send + 'static,
    ) -> std::io::Result<()> {
        if self.started {
            return Err(std::io::ErrorKind::AlreadyExists.into());
        }
        let shared = self.shared.clone();
        self.started = true;
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                if run(&shared, notify) {
                    on_exit();
                }
            })
            .map(drop)
            .inspect_err(|_| self.started = false)
    }

    /// Lets the thread poll the fd again after a `notify`.
    pub fn rearm(&self) {
        wake(&self.shared.ctl);
    }

    /// Makes the thread run `on_exit` and exit.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        wake(&self.shared.ctl);
    }
}

impl Drop for ReadyThread {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The thread's loop: true if it ended by `stop` or a `poll` error, false if
/// `notify` said to end.
fn run(shared: &Shared, mut notify: impl FnMut() -> bool) -> bool {
    // Both stay open until `shared` is dropped, after this returns.
    let (Some(ctl), Some(fd)) = (shared.ctl.get(), shared.fd.get()) else {
        return true;
    };
    let mut armed = true;
    while !shared.stop.load(Ordering::SeqCst) {
        let mut fds = [
            PollFd::new(ctl.as_fd(), PollFlags::POLLIN),
            PollFd::new(fd.as_fd(), PollFlags::POLLIN),
        ];
        // Parked (not armed): only the control eventfd.
        let polled = if armed { 2 } else { 1 };
        match nix::poll::poll(&mut fds[..polled], PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => break,
        }
        let ready = |f: &PollFd<'_>| f.revents().is_some_and(|r| !r.is_empty());
        let (ctl_ready, fd_ready) = (ready(&fds[0]), armed && ready(&fds[1]));
        if ctl_ready {
            let _ = efd::eventfd_read(ctl.as_fd());
            armed = true;
        } else if fd_ready {
            if !notify() {
                return false;
            }
            armed = false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::OwnedFd;
    use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
    use std::time::Duration;

    const LONG: Duration = Duration::from_secs(10);
    const QUIET: Duration = Duration::from_millis(100);

    fn readable_eventfd() -> OwnedFd {
        let fd = efd::eventfd(0, EfdFlags::EFD_CLOEXEC).unwrap();
        efd::eventfd_write(fd.as_fd(), 1).unwrap();
        fd
    }

    /// One of these tests at a time (with the crate's other tests that open
    /// fds): one counts this process's fds.
    fn serial() -> std::sync::MutexGuard<'static, ()> {
        crate::fd_test_serial()
    }

    fn started(fd: BorrowedFd<'_>, keep_going: bool) -> (ReadyThread, Receiver<()>, Receiver<()>) {
        let mut t = ReadyThread::new(fd).unwrap();
        let (ready_tx, ready) = channel();
        let (exit_tx, exited) = channel();
        t.start(
            "ready-test",
            move || ready_tx.send(()).is_ok() && keep_going,
            move || {
                let _ = exit_tx.send(());
            },
        )
        .unwrap();
        (t, ready, exited)
    }

    #[test]
    fn notifies_once_per_rearm_while_the_fd_stays_readable() {
        let _serial = serial();
        let fd = readable_eventfd();
        let (t, ready, exited) = started(fd.as_fd(), true);
        ready.recv_timeout(LONG).unwrap();
        // Still readable, but parked until rearmed: no spin.
        assert_eq!(ready.recv_timeout(QUIET), Err(RecvTimeoutError::Timeout));
        t.rearm();
        ready.recv_timeout(LONG).unwrap();
        // Once drained and rearmed, it waits for the next write.
        efd::eventfd_read(fd.as_fd()).unwrap();
        t.rearm();
        assert_eq!(ready.recv_timeout(QUIET), Err(RecvTimeoutError::Timeout));
        efd::eventfd_write(fd.as_fd(), 1).unwrap();
        ready.recv_timeout(LONG).unwrap();
        assert_eq!(exited.try_recv(), Err(std::sync::mpsc::TryRecvError::Empty));
        t.stop();
        exited.recv_timeout(LONG).unwrap();
    }

    #[test]
    fn polls_its_own_dup_so_closing_the_callers_fd_does_not_end_it() {
        let _serial = serial();
        let fd = efd::eventfd(0, EfdFlags::EFD_CLOEXEC).unwrap();
        let writer = crate::fd::dup_cloexec(fd.as_fd()).unwrap();
        let (t, ready, exited) = started(fd.as_fd(), true);
        drop(fd);
        // The wake makes the thread poll again after the close: had it
        // polled the caller's number, that poll would now report POLLNVAL.
        t.rearm();
        assert_eq!(ready.recv_timeout(QUIET), Err(RecvTimeoutError::Timeout));
        efd::eventfd_write(writer.as_fd(), 1).unwrap();
        ready.recv_timeout(LONG).unwrap();
        t.stop();
        exited.recv_timeout(LONG).unwrap();
    }

    #[test]
    fn a_notify_that_returns_false_ends_the_thread_without_on_exit() {
        let _serial = serial();
        let fd = readable_eventfd();
        let (t, ready, exited) = started(fd.as_fd(), false);
        ready.recv_timeout(LONG).unwrap();
        // The thread is gone: on_exit was dropped unrun, so its sender closed.
        assert_eq!(exited.recv_timeout(LONG), Err(RecvTimeoutError::Disconnected));
        t.rearm();
        assert_eq!(ready.recv_timeout(QUIET), Err(RecvTimeoutError::Disconnected));
    }

    #[test]
    fn dropping_it_stops_the_thread_and_the_waker_keeps_no_fd_open() {
        let _serial = serial();
        let fd = readable_eventfd();
        let count = || std::fs::read_dir("/proc/self/fd").unwrap().count();
        let before = count();
        let (t, ready, exited) = started(fd.as_fd(), true);
        ready.recv_timeout(LONG).unwrap();
        let wake = t.waker();
        // Both fds close with the thread's end; the waker keeps none open.
        let mut again = ReadyThread::new(fd.as_fd()).unwrap();
        assert_eq!(
            again.start("ready-test", || true, || {}).map_err(|e| e.kind()),
            Ok(())
        );
        assert_eq!(
            again.start("ready-test", || true, || {}).map_err(|e| e.kind()),
            Err(std::io::ErrorKind::AlreadyExists)
        );
        drop(again);
        drop(t);
        exited.recv_timeout(LONG).unwrap();
        // The exiting thread drops its share of the dup just after on_exit.
        let end = std::time::Instant::now() + LONG;
        while count() != before && std::time::Instant::now() < end {
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(count(), before, "the waker keeps no fd open");
        wake(); // a no-op now
        drop(wake);
        assert_eq!(count(), before);
    }

    #[test]
    fn its_dup_and_control_eventfd_are_recorded_owned_so_an_adoption_is_refused() {
        use std::os::fd::{AsRawFd, FromRawFd};
        let _serial = serial();
        let fd = readable_eventfd();
        let t = ReadyThread::new(fd.as_fd()).unwrap();
        let raws = [t.shared.fd.raw().unwrap(), t.shared.ctl.raw().unwrap()];
        for raw in raws {
            // SAFETY: a live number; a refused adoption gives it back, and it
            // is forgotten below either way, never closed here.
            let claim = crate::fd::GuardedFd::adopt(unsafe { OwnedFd::from_raw_fd(raw) });
            let refused = match claim {
                Err(fd) => crate::fd::forget(fd) == raw,
                Ok(mut g) => {
                    if let crate::fd::Taken::Ours(fd) = g.take() {
                        crate::fd::forget(fd);
                    }
                    false
                }
            };
            assert!(refused, "fd {raw} of a ReadyThread was adopted");
        }
        drop(t);
        assert!(raws.iter().all(|&r| r != fd.as_raw_fd()));
    }

    #[test]
    fn the_waker_wakes_a_parked_thread_like_rearm() {
        let _serial = serial();
        let fd = readable_eventfd();
        let (t, ready, exited) = started(fd.as_fd(), true);
        ready.recv_timeout(LONG).unwrap();
        let wake = t.waker();
        wake();
        ready.recv_timeout(LONG).unwrap();
        t.stop();
        exited.recv_timeout(LONG).unwrap();
    }
}
