//! Whole-file and byte-range locks that can be waited for without blocking
//! anything but a dedicated thread, and cancelled at any moment.
//!
//! Two kinds, both tied to the *open file description* rather than to the
//! process, so closing some other fd of the same file never drops them (the
//! trap of classic POSIX `F_SETLK` locks):
//! - [`LockKind::Ofd`]: `fcntl(F_OFD_SETLK)` byte-range locks (Linux 3.15+),
//!   with `l_pid = 0` as the kernel requires.
//! - [`LockKind::Flock`]: `flock(2)` whole-file locks.
//!
//! # Waiting: blocked in the kernel, cancelled by a signal
//! Locks have no readiness notification. [`lock_until`] therefore blocks in
//! the kernel (`F_OFD_SETLKW`, or `flock` without `LOCK_NB`), which wakes the
//! waiter the moment the holder lets go; polling could only notice within
//! its next step (a hand-off between two processes cost 124 µs polling every
//! 50 µs, against 54.6 µs for fs-ext's blocking `flock`).
//!
//! A blocked call can only be interrupted by a signal. [`Cancel::cancel`]
//! sets a flag and hands the waiter to one process-wide "kicker" thread,
//! which sends [`cancel_signal()`] to the waiting thread every millisecond
//! until the waiter has left [`lock_until`]. The handler does nothing and is
//! installed without `SA_RESTART`, so the blocked call returns `EINTR`, and
//! the waiter sees the flag and returns [`Waited::Cancelled`]. Repeating the
//! signal closes the race of a signal that lands just *before* the waiter
//! enters the call (it would be lost, and the call block for good); checking
//! the flag before each call closes the other side.
//!
//! The signal is `SIGRTMAX - 3`: real-time signals are not used by Node,
//! libuv or V8 (V8's profiler uses `SIGPROF`; glibc keeps the first two or
//! three real-time signals below `SIGRTMIN` for itself), and users reach for
//! `SIGRTMIN + n` first. It is installed once, only if the signal still has
//! its default disposition (a handler or `SIG_IGN` set by someone else
//! counts as taken); otherwise [`lock_until`] falls back to polling with
//! backoff (`MIN_BACKOFF` to `MAX_BACKOFF`), checking the flag between
//! attempts. A wait also polls if the handler was replaced since, and a
//! cancel sends no signal then (`handler_is_ours`). The signal is only ever
//! sent with `pthread_kill` to our own waiting threads, which unblock it;
//! every other thread keeps its mask.
//!
//! # References
//! - [`fcntl(2)`, "Open file description locks"](https://man7.org/linux/man-pages/man2/fcntl.2.html)
//! - [`flock(2)`](https://man7.org/linux/man-pages/man2/flock.2.html)
//! - [`pthread_kill(3)`](https://man7.org/linux/man-pages/man3/pthread_kill.3.html),
//!   [`sigaction(2)`](https://man7.org/linux/man-pages/man2/sigaction.2.html) (`SA_RESTART`)

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg};

use crate::error::{retry_eintr, Context, Errno, Error, Result};
use crate::fd::{dup_cloexec, FdIdentity, GuardedFd, Taken};

/// The first sleep between two attempts of a waiting lock.
pub const MIN_BACKOFF: Duration = Duration::from_micros(50);

/// How long a wait polls every [`MIN_BACKOFF`] before backing off.
pub const FAST_PHASE: Duration = Duration::from_millis(2);

/// The longest sleep between two attempts of a waiting lock.
pub const MAX_BACKOFF: Duration = Duration::from_millis(8);

/// Which lock family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockKind {
    /// Open-file-description byte-range locks (`F_OFD_SETLK`).
    Ofd,
    /// Whole-file `flock(2)` locks.
    Flock,
}

/// What to lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockSpec {
    /// The lock family.
    pub kind: LockKind,
    /// Shared (read) or exclusive (write).
    pub shared: bool,
    /// First byte of the range (OFD only).
    pub start: i64,
    /// Length of the range; 0 means "to the end of the file, however it grows" (OFD only).
    pub len: i64,
}

/// The `struct flock` of an OFD lock (or test, or unlock) of `spec`'s range.
pub(crate) fn ofd(spec: &LockSpec, l_type: libc::c_int) -> libc::flock {
    // SAFETY: libc::flock is a plain C struct; all-zero is a valid value,
    // and l_pid must be 0 for OFD locks.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = l_type as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = spec.start as libc::off_t;
    fl.l_len = spec.len as libc::off_t;
    fl
}

/// Tries once, without blocking. `Ok(false)` means another holder conflicts.
/// Retries `EINTR`, which a local filesystem never returns here but FUSE
/// can (an interrupted lock request), as CPython does (PEP 475; s47-eintr L2).
///
/// # Errors
/// `EBADF` (not open, or not open for reading/writing as the lock type
/// needs), `EINVAL` (bad range), `ENOLCK`.
pub fn try_lock(fd: BorrowedFd<'_>, spec: &LockSpec) -> Result<bool> {
    let res = match spec.kind {
        LockKind::Ofd => {
            let fl = ofd(spec, if spec.shared { libc::F_RDLCK } else { libc::F_WRLCK });
            retry_eintr(|| fcntl(fd, FcntlArg::F_OFD_SETLK(&fl)).map(|_| ())).syscall("fcntl")
        }
        LockKind::Flock => {
            let op = if spec.shared { libc::LOCK_SH } else { libc::LOCK_EX } | libc::LOCK_NB;
            // SAFETY: flock only reads its two integer arguments.
            retry_eintr(|| Errno::result(unsafe { libc::flock(fd.as_raw_fd(), op) }).map(|_| ()))
                .syscall("flock")
        }
    };
    match res {
        Ok(()) => Ok(true),
        Err(e) if e.errno == Errno::EAGAIN || e.errno == Errno::EACCES => Ok(false),
        Err(e) => Err(e),
    }
}

/// A piece of an OFD lock that a description held: its type and its first
/// and last byte ([`i64::MAX`]: to the end of the file, however it grows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeldPiece {
    /// A read (shared) lock, else a write (exclusive) one.
    pub shared: bool,
    /// The first byte.
    pub first: i64,
    /// The last byte, inclusive; `i64::MAX` for "to the end of the file".
    pub last: i64,
}

impl HeldPiece {
    /// The spec locking `shared` over bytes `first..=last`.
    fn spec(shared: bool, first: i64, last: i64) -> LockSpec {
        let len = if last == i64::MAX { 0 } else { last - first + 1 };
        LockSpec {
            kind: LockKind::Ofd,
            shared,
            start: first,
            len,
        }
    }
}

/// The first and last byte of an OFD spec's range: `len` 0 is to the end;
/// a negative `len` is the `-len` bytes before `start`, as fcntl(2) reads it
/// (s39-diff4 L3: it was taken as "to the end").
fn range_of(spec: &LockSpec) -> (i64, i64) {
    match spec.len {
        0 => (spec.start, i64::MAX),
        len if len < 0 => (spec.start.saturating_add(len), spec.start - 1),
        len => (spec.start, spec.start.saturating_add(len - 1)),
    }
}

/// The OFD lock pieces that the open file description of `fd` holds over
/// bytes of `spec`'s range, each cut to that range and sorted: what a grant
/// of `spec` on this description would replace. Read from
/// `/proc/self/fdinfo/<fd>`, whose `lock:` lines list the locks this
/// description owns (and only those: another description's locks, and this
/// process's POSIX locks, are not counted), each with its type and first and
/// last byte. Empty for a flock spec: `lockFile` tries first, and a refused
/// `LOCK_NB` conversion has already dropped a held flock lock (flock(2):
/// conversions are not atomic). Empty where `/proc` cannot be read, but
/// an error (`EMFILE`, `ENFILE`, `ENOMEM`) where it could not be opened for
/// want of an fd or memory: read as empty, a later undo unlocked the range
/// and dropped a lock the caller still held (s46-exhaust H2).
///
/// # Errors
/// `EMFILE`, `ENFILE`, `ENOMEM` (`syscall` `open`).
///
/// Why (s39-locks M1): a grant that came after a cancel is undone, and
/// unlocking the range dropped the lock that the description held there
/// before the wait (an upgrade through a held lock's fd); [`undo_grant`]
/// puts these pieces back instead.
///
/// # References
/// - [`proc_pid_fdinfo(5)`](https://man7.org/linux/man-pages/man5/proc_pid_fdinfo.5.html)
pub fn held_pieces(fd: BorrowedFd<'_>, spec: &LockSpec) -> Result<Vec<HeldPiece>> {
    if spec.kind != LockKind::Ofd {
        return Ok(Vec::new());
    }
    let Some(info) = crate::fd::fdinfo(fd)? else {
        return Ok(Vec::new());
    };
    let (first, last) = range_of(spec);
    let mut pieces: Vec<HeldPiece> = info
        .lines()
        .filter_map(|l| l.strip_prefix("lock:"))
        .filter_map(|l| {
            // "1: OFDLCK ADVISORY  READ -1 fe:00:10011914 0 EOF"
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.get(1) != Some(&"OFDLCK") {
                return None;
            }
            let shared = f.get(3) == Some(&"READ");
            let start = f.get(6)?.parse::<i64>().ok()?;
            let end = match *f.get(7)? {
                "EOF" => i64::MAX,
                v => v.parse::<i64>().ok()?,
            };
            (start <= last && first <= end).then(|| HeldPiece {
                shared,
                first: start.max(first),
                last: end.min(last),
            })
        })
        .collect();
    pieces.sort_by_key(|p| p.first);
    Ok(pieces)
}

/// Undoes a grant of `spec` that came after its wait was cancelled: sets
/// each piece of `held` ([`held_pieces`] of the description before the
/// wait) back to its type, then unlocks the rest of the range, so the
/// description holds what it held before. With `held` empty, this is
/// [`unlock`]. Putting a shared piece back over a granted exclusive lock
/// never blocks; putting an exclusive one back over a granted shared lock
/// fails if another holder took a shared lock in between, and that piece
/// then stays shared. The first error is returned after every step was
/// tried.
pub fn undo_grant(fd: BorrowedFd<'_>, spec: &LockSpec, held: &[HeldPiece]) -> Result<()> {
    if held.is_empty() || spec.kind != LockKind::Ofd {
        return unlock(fd, spec);
    }
    let mut first_err = None;
    let mut note = |r: Result<()>| {
        if let (Err(e), None) = (r, &first_err) {
            first_err = Some(e);
        }
    };
    for p in held {
        let put_back = try_lock(fd, &HeldPiece::spec(p.shared, p.first, p.last));
        note(put_back.and_then(|ok| {
            if ok {
                Ok(())
            } else {
                Err(Error::new(Errno::EAGAIN, "fcntl"))
            }
        }));
    }
    // The gaps between the pieces (sorted, cut to the range, disjoint).
    let (first, last) = range_of(spec);
    let mut next = Some(first); // the first byte not yet put back or unlocked
    for p in held {
        let Some(from) = next else { break };
        if p.first > from {
            note(unlock(fd, &HeldPiece::spec(true, from, p.first - 1)));
        }
        next = if p.last >= last { None } else { Some(p.last + 1) };
    }
    if let Some(from) = next {
        note(unlock(fd, &HeldPiece::spec(true, from, last)));
    }
    first_err.map_or(Ok(()), Err)
}

/// Releases the lock (the range, for OFD). Retries `EINTR` (FUSE), as
/// [`try_lock`] does.
pub fn unlock(fd: BorrowedFd<'_>, spec: &LockSpec) -> Result<()> {
    match spec.kind {
        LockKind::Ofd => {
            let fl = ofd(spec, libc::F_UNLCK);
            retry_eintr(|| fcntl(fd, FcntlArg::F_OFD_SETLK(&fl)).map(|_| ())).syscall("fcntl")
        }
        LockKind::Flock => {
            // SAFETY: flock only reads its two integer arguments.
            retry_eintr(|| Errno::result(unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_UN) }).map(|_| ()))
                .syscall("flock")
        }
    }
}

/// The signal that interrupts a blocked lock wait: `SIGRTMAX - 3` (see the
/// module docs for why).
pub fn cancel_signal() -> libc::c_int {
    libc::SIGRTMAX() - 3
}

extern "C" fn on_cancel_signal(_: libc::c_int) {}

/// The address of the handler [`blocking_waits_available`] installed, or
/// `None` if it installed none (the signal was someone else's, or
/// `sigaction` failed).
///
/// Kept as the value that went into `sigaction`, and compared with what
/// `sigaction` reads back, never with `on_cancel_signal as usize` taken
/// again elsewhere: Rust does not promise that two casts of one function
/// give one address. With `lto = false` and 16 codegen units (.ci/run's
/// cross builds) the binding had two copies of `on_cancel_signal`, at two
/// addresses, and a check that cast it anew read our own handler as
/// someone else's: every wait polled and no cancel was ever sent (ci-47a
/// and ci-47b, first blamed on qemu-user; reproduced natively on x86_64
/// with `CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16`).
fn installed_handler() -> Option<usize> {
    static INSTALLED: OnceLock<Option<usize>> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        let sig = cancel_signal();
        if disposition()?.sa_sigaction != libc::SIG_DFL {
            return None;
        }
        let handler = on_cancel_signal as *const () as usize;
        // SAFETY: all-zero is a valid sigaction, filled in below.
        let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
        act.sa_sigaction = handler;
        // No SA_RESTART: the blocked lock call returns EINTR. Any other
        // blocking call on a thread the signal reaches does too, so the
        // package's own blocking calls retry EINTR (tests/eintr.rs).
        act.sa_flags = 0;
        // SAFETY: act.sa_mask is a valid sigset_t to initialise; `act` is
        // complete and its handler is async-signal-safe (it does nothing).
        let set = unsafe {
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaction(sig, &act, std::ptr::null_mut()) == 0
        };
        set.then_some(handler)
    })
}

/// Installs the do-nothing handler for [`cancel_signal()`] once, without
/// `SA_RESTART`. False when the signal already has a disposition that is not
/// the default (someone else uses it): waits then poll.
pub fn blocking_waits_available() -> bool {
    installed_handler().is_some()
}

/// Whether [`cancel_signal()`]'s handler is still the one
/// [`blocking_waits_available`] installed, without `SA_RESTART`. Another
/// library may replace it later: with `SIG_IGN` or a handler with
/// `SA_RESTART`, the signal no longer interrupts a blocked lock call
/// (s47-eintr M1: a wait blocked in the kernel could then be cancelled only
/// by the lock coming), and with `SIG_DFL` a kick ends the process
/// (s47-diff MED-2). One `rt_sigaction` query; each wait asks as it starts
/// ([`lock_until`]), and the kicker once per round (`Kicker::run`).
fn handler_is_ours() -> bool {
    let Some(ours) = installed_handler() else {
        return false;
    };
    disposition().is_some_and(|now| now.sa_sigaction == ours && now.sa_flags & libc::SA_RESTART == 0)
}

/// [`cancel_signal()`]'s disposition now (one `rt_sigaction` query that
/// changes nothing), or `None` if the query failed.
fn disposition() -> Option<libc::sigaction> {
    // SAFETY: all-zero is a valid sigaction; a null new action only reads
    // the current disposition into `now`, a valid out-pointer.
    let mut now: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let read = unsafe { libc::sigaction(cancel_signal(), std::ptr::null(), &mut now) } == 0;
    read.then_some(now)
}

/// Shared between the thread that waits and whoever may give up the wait.
#[derive(Debug, Default)]
pub struct Cancel {
    cancelled: AtomicBool,
    /// The waiting thread while it is inside [`lock_until`], else `None`.
    /// The kicker signals it only under this mutex, and the waiter clears it
    /// under the same mutex before it leaves, so no signal ever targets a
    /// thread that has exited. Kept as a `usize`: `pthread_t` is an integer
    /// on glibc but a pointer on musl, which is neither `Send` nor `Sync`.
    waiter: Mutex<Option<usize>>,
}

impl Cancel {
    /// A new, not yet cancelled token.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels: the waiting thread returns [`Waited::Cancelled`] promptly
    /// (or [`Waited::Acquired`], if the lock came first).
    pub fn cancel(self: &Arc<Self>) {
        self.cancelled.store(true, Ordering::SeqCst);
        if blocking_waits_available() {
            kicker().push(self.clone());
        }
    }

    /// Whether [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Signals the waiter if it is inside the wait; false once it has left.
    /// `ours` is [`handler_is_ours`], read once per round by the caller. No
    /// signal is sent while the handler is not ours (true is returned, so
    /// the waiter is asked about again later): a library that put back
    /// `SIG_DFL` under a blocked wait made the kick end the process (s47-diff
    /// MED-2), and another's handler would run for each kick. Such a wait
    /// ends when the lock comes, or when our handler is back. A disposition
    /// changed between the round's read and the delivery still acts on the
    /// signal: that window cannot be closed from here.
    ///
    /// A signal the kernel refuses (`EAGAIN`: the real-time signal queue of
    /// the user is full, `RLIMIT_SIGPENDING`; s49-limits M1) sets `failed`,
    /// and the waiter is kicked again in a later round, like one whose
    /// handler is not ours.
    fn kick(&self, ours: bool, failed: &mut bool) -> bool {
        let waiter = self.waiter.lock().unwrap_or_else(|e| e.into_inner());
        match *waiter {
            Some(_) if !ours => true,
            Some(t) => {
                // SAFETY: t is a live thread: it clears `waiter` under this
                // mutex before leaving lock_until, and we hold the mutex.
                if unsafe { libc::pthread_kill(t as libc::pthread_t, cancel_signal()) } != 0 {
                    *failed = true;
                    // New waits poll from now on, until a probe says otherwise.
                    *PROBED.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some((std::time::Instant::now(), false));
                }
                true
            }
            None => false,
        }
    }
}

/// How long the kicker waits between rounds while the handler is not ours,
/// or while the kernel refuses its signals: its waiters cannot be
/// interrupted until that changes, and each round costs a `sigaction`
/// query and a mutex per waiter (every millisecond, 2,000 such waiters took
/// 30 % of a core: s48-diff MED-2).
const KICK_STEP_NOT_OURS: Duration = Duration::from_millis(50);

/// How long a cancel that cannot start the kicker signals the waiters still
/// inside, every 100 µs (a count of sleeps took 18 ms for 100, with timer
/// slack: s47-diff LOW-3).
const FALLBACK_KICKS_FOR: Duration = Duration::from_millis(10);

/// The process-wide thread that re-sends the cancel signal every millisecond
/// to each cancelled waiter still inside its wait. Started by the first
/// cancel; if it cannot be started (the process is at its thread limit),
/// that cancel signals its waiter itself for a while, and the next cancel tries to
/// start it again (s46-exhaust H1: a failed start was kept for the life of
/// the process, and every later cancel of a wait blocked in the kernel
/// waited for the lock instead). Cancels whose waiter is still inside stay
/// in `pending`, so the thread kicks them once it runs.
struct Kicker {
    pending: Mutex<Pending>,
    wake: Condvar,
}

struct Pending {
    cancels: Vec<Arc<Cancel>>,
    /// Whether the thread runs (it never ends).
    started: bool,
}

fn kicker() -> &'static Kicker {
    static KICKER: Kicker = Kicker {
        pending: Mutex::new(Pending {
            cancels: Vec::new(),
            started: false,
        }),
        wake: Condvar::new(),
    };
    &KICKER
}

impl Kicker {
    fn push(&'static self, c: Arc<Cancel>) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.cancels.push(c);
        if !pending.started {
            // Under the lock, so one start at a time; the new thread waits
            // for the lock before it reads the list.
            let spawned = std::thread::Builder::new()
                .name("linux-fd-lock-kick".into())
                .spawn(move || self.run());
            pending.started = spawned.is_ok();
        }
        if pending.started {
            drop(pending);
            self.wake.notify_one();
        } else {
            // The kicker's work, done here for a short while: signal this
            // and every earlier cancel's waiter still inside (the order
            // pending → waiter, as `run`) until each has left, for at most
            // `FALLBACK_KICKS_FOR`. A signal ends a wait already blocked
            // in the kernel, and a waiter not yet inside sees the flag
            // before its call; one that lands in between (after the
            // waiter's flag check, before its call) is lost, and the next
            // round's ends the wait. Those still inside after the rounds (a
            // waiter not scheduled for that long) stay listed for a later
            // cancel, or the thread once one starts; the finished ones leave
            // the list, which so does not grow while no thread can start
            // (s46-diff L4). Costs the caller (the JS thread) up to about
            // 10 ms, only while no thread can be started. The lost signal is
            // reasoned, not seen: 20,000 cancels racing the wait's start
            // beside 6 busy threads all ended with one signal each.
            // While the handler is not ours, one round only drops the
            // finished ones: no signal can end the others.
            let ours = handler_is_ours();
            let until = std::time::Instant::now() + FALLBACK_KICKS_FOR;
            let mut failed = false;
            loop {
                pending.cancels.retain(|c| c.kick(ours, &mut failed));
                if !ours || failed || pending.cancels.is_empty() || std::time::Instant::now() >= until {
                    break;
                }
                std::thread::sleep(Duration::from_micros(100));
            }
        }
    }

    fn run(&self) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            // Cancels whose waiter is not (or no longer) inside a wait are
            // done: it checks the flag before every call.
            let ours = handler_is_ours();
            let mut failed = false;
            pending.cancels.retain(|c| c.kick(ours, &mut failed));
            let step = if ours && !failed {
                Duration::from_millis(1)
            } else {
                KICK_STEP_NOT_OURS
            };
            pending = if pending.cancels.is_empty() {
                self.wake.wait(pending).unwrap_or_else(|e| e.into_inner())
            } else {
                self.wake
                    .wait_timeout(pending, step)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            };
        }
    }
}

/// How a wait ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Waited {
    /// The lock is held.
    Acquired,
    /// [`Cancel::cancel`] was called first; nothing is held.
    Cancelled,
}

/// One blocking attempt: `F_OFD_SETLKW` or `flock` without `LOCK_NB`.
fn lock_blocking(fd: BorrowedFd<'_>, spec: &LockSpec) -> Result<()> {
    match spec.kind {
        LockKind::Ofd => {
            let fl = ofd(spec, if spec.shared { libc::F_RDLCK } else { libc::F_WRLCK });
            fcntl(fd, FcntlArg::F_OFD_SETLKW(&fl))
                .map(|_| ())
                .syscall("fcntl")
        }
        LockKind::Flock => {
            let op = if spec.shared { libc::LOCK_SH } else { libc::LOCK_EX };
            // SAFETY: flock only reads its two integer arguments.
            Errno::result(unsafe { libc::flock(fd.as_raw_fd(), op) })
                .map(|_| ())
                .syscall("flock")
        }
    }
}

/// Unblocks [`cancel_signal()`] in the calling thread, once per thread (a
/// thread that waits again, as a pool thread does, keeps it unblocked).
fn unblock_cancel_signal() {
    thread_local! {
        static UNBLOCKED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    if UNBLOCKED.with(|u| u.replace(true)) {
        return;
    }
    // SAFETY: sigset_t is plain data, initialised by sigemptyset; the mask
    // change affects only this thread, which exists to wait for locks.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, cancel_signal());
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
}

/// How long one answer of [`signal_reaches_this_thread`] stands for the
/// whole process: a probe costs about 2.2 µs (six system calls, measured on
/// the development VM), and every contended `lockFile()` hand-off (about
/// 38 µs, docs/reliability.md) would pay it. Within this time a wait trusts
/// the last answer; the count can fill after a probe in any case (then the
/// refused kicks are sent again, and a kick refused marks the answer false
/// at once).
const PROBE_STANDS_FOR: Duration = Duration::from_millis(100);

/// The last probe: when, and whether the signal was accepted.
static PROBED: Mutex<Option<(std::time::Instant, bool)>> = Mutex::new(None);

/// [`signal_reaches_this_thread`], asked at most once per
/// [`PROBE_STANDS_FOR`].
fn signal_accepted() -> bool {
    let mut last = PROBED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((at, accepted)) = *last {
        if at.elapsed() < PROBE_STANDS_FOR {
            return accepted;
        }
    }
    let accepted = signal_reaches_this_thread();
    *last = Some((std::time::Instant::now(), accepted));
    accepted
}

/// Whether the kernel takes [`cancel_signal()`] for the calling thread now:
/// it refuses a real-time signal from `pthread_kill` with `EAGAIN` while the
/// user's count of queued signals is at the process's `RLIMIT_SIGPENDING`
/// (another process of the same user can fill it), where a standard signal
/// would only lose its data. Sent to this thread with the signal blocked,
/// then taken back with `sigtimedwait`, so no handler runs (whatever the
/// disposition is by then). Six system calls (glibc 2.34+'s `pthread_kill`
/// of its own thread adds `gettid` and `getpid`; musl's blocks and restores
/// the signals around `tkill`): see [`PROBE_STANDS_FOR`].
fn signal_reaches_this_thread() -> bool {
    let sig = cancel_signal();
    // The mask changes affect only this thread and are undone before
    // returning; the zero timeout makes sigtimedwait return at once.
    // SAFETY: sigset_t is plain data, initialised by sigemptyset;
    // pthread_self has no preconditions.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let sent = libc::pthread_kill(libc::pthread_self(), sig) == 0;
        if sent {
            let zero = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            libc::sigtimedwait(&set, std::ptr::null_mut(), &zero);
        }
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        sent
    }
}

/// Waits until the lock is taken or `cancel` fires. Runs on a dedicated
/// thread, never on one with an event loop: it blocks in the kernel (see the
/// module docs), or polls when the cancel signal is not ours to use.
///
/// # Errors
/// Any error of the lock call other than a conflict or `EINTR`: `EBADF`,
/// `EINVAL`, `ENOLCK`, `EDEADLK`.
pub fn lock_until(fd: BorrowedFd<'_>, spec: &LockSpec, cancel: &Cancel) -> Result<Waited> {
    // Polls, too, if the handler was replaced since it was installed
    // (s47-eintr M1): the signal could not interrupt the blocked call. A
    // replacement while this wait is already blocked is not caught: the wait
    // then ends when the lock comes (or when our handler is back).
    if !handler_is_ours() {
        return poll_until(fd, spec, cancel);
    }
    unblock_cancel_signal();
    // Polls, too, if the kernel would refuse the signal now (s49-limits M1):
    // a cancel could not interrupt the blocked call.
    if !signal_accepted() {
        return poll_until(fd, spec, cancel);
    }
    // SAFETY: pthread_self has no preconditions.
    *cancel.waiter.lock().unwrap_or_else(|e| e.into_inner()) = Some(unsafe { libc::pthread_self() } as usize);
    let result = loop {
        if cancel.is_cancelled() {
            break Ok(Waited::Cancelled);
        }
        match lock_blocking(fd, spec) {
            Ok(()) => break Ok(Waited::Acquired),
            Err(e) if e.errno == Errno::EINTR => continue,
            Err(e) => break Err(e),
        }
    };
    *cancel.waiter.lock().unwrap_or_else(|e| e.into_inner()) = None;
    result
}

/// A lock wait's shared state, for a wait that may be given up while the
/// kernel grants it: the thread that waits ([`Grant::wait`]), whoever
/// cancels ([`Grant::cancel`]) and whoever reports the outcome each hold it,
/// and whichever of them finds the lock granted after a cancel undoes it,
/// once. It owns the wait's own dup of the file, so an undo reaches the
/// locked description whatever became of the caller's fd number (s40-diff
/// M2: an undo through an fd closed behind its back and reused unlocked
/// another file's lock).
///
/// Where the wait stands is one atomic phase. The waiting thread moves
/// `WAITING` to `GRANTED` when the kernel grants the lock; [`Grant::cancel`]
/// moves `WAITING` to `CANCELLED`. Each is one compare-and-swap, so exactly
/// one succeeds:
/// - the cancel first: the thread, granted anyway, fails its swap and undoes
///   at once (or is woken and never granted);
/// - the grant first: the cancel undoes it before it returns, moving
///   `GRANTED` to `UNDONE`, and the report then leaves it alone (before, the
///   undo waited for the JS thread to get to the report, s39-diff4 M1, and
///   that late undo also dropped a lock taken through the same description
///   meanwhile).
///
/// Not closed: between the kernel's grant and the thread's swap (a few
/// instructions, unless the thread is preempted there) a cancel wins, and
/// the undo comes from the thread just after [`Grant::cancel`] returned
/// (s40-diff M1). Closing it would make every cancel wait for the thread to
/// leave the kernel, on the caller's (the JS) thread.
#[derive(Debug)]
pub struct Grant {
    phase: AtomicU8,
    dup: GuardedFd,
    spec: LockSpec,
    /// What the description held of the range before the wait
    /// ([`held_pieces`]): an undo puts it back.
    held: Vec<HeldPiece>,
}

const WAITING: u8 = 0;
const GRANTED: u8 = 1;
const CANCELLED: u8 = 2;
const UNDONE: u8 = 3;

impl Grant {
    /// A wait for `spec` through `dup`, a duplicate made for this wait.
    /// `shared_description`: the description is also the caller's (a lock
    /// through a held lock's fd), so what it holds of the range now is read
    /// ([`held_pieces`]): a grant replaces it, and an undo puts it back
    /// rather than unlocking the range, which dropped it too (s39-locks M1:
    /// the holder's lock, not released, held nothing). A description opened
    /// for the wait's own path lock is fresh and holds nothing, so its
    /// waits read no fdinfo.
    ///
    /// # Errors
    /// As [`held_pieces`] (out of fds or memory): the wait must not start,
    /// as its undo could not put back what it replaced.
    pub fn new(dup: OwnedFd, spec: LockSpec, shared_description: bool) -> Result<Self> {
        let held = if shared_description {
            held_pieces(dup.as_fd(), &spec)?
        } else {
            Vec::new()
        };
        Ok(Self {
            phase: AtomicU8::new(WAITING),
            dup: GuardedFd::new(dup),
            spec,
            held,
        })
    }

    fn swap(&self, from: u8, to: u8) -> bool {
        self.phase
            .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Waits ([`lock_until`]) on the calling thread, a dedicated one. A
    /// grant that comes after a cancel is undone here and reported as
    /// [`Waited::Cancelled`]; a kept one is held by the description until
    /// the [`Outcome`] is delivered (or undone if it is dropped first).
    pub fn wait(self: Arc<Self>, cancel: &Cancel) -> Outcome {
        let r = match self.dup.get() {
            Some(fd) => match lock_until(fd.as_fd(), &self.spec, cancel) {
                Ok(Waited::Acquired) => {
                    let kept = !cancel.is_cancelled() && self.swap(WAITING, GRANTED);
                    if !kept {
                        self.undo();
                    }
                    Ok(if kept { Waited::Acquired } else { Waited::Cancelled })
                }
                r => r,
            },
            None => Err(Error::new(Errno::EBADF, "fcntl")),
        };
        Outcome {
            r,
            grant: self,
            delivered: false,
        }
    }

    /// Gives the wait up: wakes its thread through `cancel` while it still
    /// waits, or undoes the grant if the kernel granted it first.
    pub fn cancel(&self, cancel: &Arc<Cancel>) {
        if self.swap(WAITING, CANCELLED) {
            cancel.cancel();
        } else {
            self.undo_if_granted();
        }
    }

    /// Undoes the grant if this caller is the one that moves the phase from
    /// `GRANTED` to `UNDONE`: once, by whichever of the cancel, the report
    /// and an undelivered outcome's drop gets there first.
    pub fn undo_if_granted(&self) {
        if self.swap(GRANTED, UNDONE) {
            self.undo();
        }
    }

    fn undo(&self) {
        if let Some(fd) = self.dup.get() {
            let _ = undo_grant(fd.as_fd(), &self.spec, &self.held);
        }
    }
}

/// A lock's own fd of the file and what it locks: the native state of
/// `FileLock` (the binding's `LockHandle`). The fd is a [`GuardedFd`], so a
/// number closed behind its back (and maybe reused) is never unlocked or
/// closed: unlocking a reused number would drop somebody else's lock.
/// Dropping it releases ([`LockFd::release`]).
#[derive(Debug)]
pub struct LockFd {
    fd: GuardedFd,
    spec: LockSpec,
    held: bool,
    /// A dup of a caller's fd ([`LockFd::dup`]), whose description may hold
    /// locks of its own; a path's description is new and holds none.
    shared_description: bool,
}

impl LockFd {
    /// Opens `path` for the lock `spec` describes ([`open_for_spec`]).
    /// Nothing is locked yet.
    pub fn open(path: &std::path::Path, spec: LockSpec) -> Result<Self> {
        Ok(Self::new(open_for_spec(path, &spec)?, spec, false))
    }

    /// A close-on-exec dup of `fd`: the same open file description, where
    /// OFD and `flock` locks live, so the lock is the caller's description's,
    /// but this owns and closes its own fd. Nothing is locked yet.
    pub fn dup(fd: BorrowedFd<'_>, spec: LockSpec) -> Result<Self> {
        Ok(Self::new(dup_cloexec(fd)?, spec, true))
    }

    fn new(fd: OwnedFd, spec: LockSpec, shared_description: bool) -> Self {
        Self {
            fd: GuardedFd::new(fd),
            spec,
            held: false,
            shared_description,
        }
    }

    /// The fd number until the release.
    pub fn raw(&self) -> Option<RawFd> {
        self.fd.raw()
    }

    /// The number a release found closed behind its back (given up, never
    /// closed).
    pub fn lost(&self) -> Option<RawFd> {
        self.fd.lost()
    }

    /// One non-blocking attempt ([`try_lock`]): the fd number if locked (it
    /// is then held, and a release unlocks it), `Ok(None)` if another holder
    /// conflicts.
    ///
    /// # Errors
    /// As [`try_lock`]; `EBADF` once released.
    pub fn try_lock(&mut self) -> Result<Option<RawFd>> {
        let Some(fd) = self.fd.get() else {
            return Err(Error::new(Errno::EBADF, "fcntl"));
        };
        if !try_lock(fd.as_fd(), &self.spec)? {
            return Ok(None);
        }
        self.held = true;
        Ok(Some(fd.as_raw_fd()))
    }

    /// A [`Grant`] for a wait through a new dup of the fd, so that nothing
    /// done to this fd meanwhile can make the wait use a closed or reused
    /// number. Once its lock comes, call [`LockFd::set_held`].
    ///
    /// # Errors
    /// `EBADF` once released; as [`dup_cloexec`] and [`Grant::new`].
    pub fn grant(&self) -> Result<Grant> {
        let Some(fd) = self.fd.get() else {
            return Err(Error::new(Errno::EBADF, "fcntl"));
        };
        // The dup's guard reads its own identity (`fstat`): copied from this
        // guard, a number closed and reused behind its back meanwhile gave
        // the dup the old file's identity, and its close then forgot it (an
        // fd leaked per such wait; s50-diff MED-2).
        Grant::new(dup_cloexec(fd.as_fd())?, self.spec, self.shared_description)
    }

    /// The description holds the lock: a [`Grant`] from
    /// [`LockFd::grant`] came in and is kept. A release unlocks it.
    pub fn set_held(&mut self) {
        self.held = true;
    }

    /// Unlocks (if held) and closes the fd if it is still ours; idempotent.
    /// The identity check (one `fstat`) comes first. The fd may share its
    /// description with a caller's fd, so it is unlocked before the close,
    /// which alone would not drop the lock.
    ///
    /// # Errors
    /// The unlock's (the fd is closed anyway), or `EBADF` (`"close"`) if the
    /// fd was found closed behind its back: the number is then forgotten,
    /// neither unlocked nor closed.
    pub fn release(&mut self) -> Result<()> {
        let held = std::mem::replace(&mut self.held, false);
        match self.fd.take() {
            Taken::Ours(fd) if held => unlock(fd.as_fd(), &self.spec),
            Taken::Ours(_) | Taken::Closed => Ok(()),
            Taken::Lost(_) => Err(Error::new(Errno::EBADF, "close")),
        }
    }

    /// The key of the lock, for queueing waiters for the same one:
    /// `"<dev>:<ino>:<ofd|flock>:<sh|ex>:<start>:<length>"` of the file the
    /// fd names: from the identity its guard recorded at open, or one
    /// `fstat` if there is none. The key is taken right after the open, in
    /// the same call of `lockFile`, so the two agree; later checks
    /// ([`LockFd::names`], the release) `fstat` the fd again.
    ///
    /// # Errors
    /// `EBADF` once released; as `fstat`.
    pub fn key(&self) -> Result<String> {
        let Some(fd) = self.fd.get() else {
            return Err(Error::new(Errno::EBADF, "fstat"));
        };
        let id = match self.fd.identity() {
            Some(id) => id,
            None => FdIdentity::of(fd.as_fd())?,
        };
        let s = &self.spec;
        let kind = match s.kind {
            LockKind::Ofd => "ofd",
            LockKind::Flock => "flock",
        };
        let mode = if s.shared { "sh" } else { "ex" };
        Ok(format!(
            "{}:{}:{kind}:{mode}:{}:{}",
            id.dev(),
            id.ino(),
            s.start,
            s.len
        ))
    }

    /// Whether `path` still names the file the fd is open on now
    /// ([`names_file`]: an `fstat` of the fd, not the identity recorded at
    /// open. That identity is not the file's for good: overlayfs reports
    /// another inode once a file with a hard link is copied up, and a
    /// number closed and reused behind the guard's back names another
    /// file; compared with the recorded identity, the first made a kept
    /// lock start over and the second kept a lock on the wrong file:
    /// s50-diff MED-1, MED-2).
    ///
    /// # Errors
    /// `EBADF` once released; as [`names_file`].
    pub fn names(&self, path: &std::path::Path) -> Result<bool> {
        let Some(fd) = self.fd.get() else {
            return Err(Error::new(Errno::EBADF, "fstat"));
        };
        names_file(path, fd.as_fd())
    }
}

impl Drop for LockFd {
    fn drop(&mut self) {
        let _ = self.release();
    }
}

/// What [`Grant::wait`] hands back. If it is dropped undelivered holding
/// the lock (the caller went away between the grant and the report: Deno
/// resolves `worker.terminate()` before the worker's cleanup hooks run),
/// it undoes the grant through the dup, so no one is left holding a lock
/// that no object owns.
#[derive(Debug)]
pub struct Outcome {
    r: Result<Waited>,
    grant: Arc<Grant>,
    delivered: bool,
}

impl Outcome {
    /// Takes the result for reporting: from here a granted lock is the
    /// caller's to keep, or to undo with [`Grant::undo_if_granted`]. The
    /// dup closes when the last `Arc` of the grant goes.
    pub fn deliver(mut self) -> (Result<Waited>, Arc<Grant>) {
        self.delivered = true;
        let r = std::mem::replace(&mut self.r, Ok(Waited::Cancelled));
        (r, self.grant.clone())
    }
}

impl Drop for Outcome {
    fn drop(&mut self) {
        // Only a kept grant is in the `GRANTED` phase: for any other result
        // (cancelled, an error) this is a no-op, so the result needs no test.
        if !self.delivered {
            self.grant.undo_if_granted();
        }
    }
}

/// The fallback: non-blocking attempts with backoff, the flag checked
/// between them (a cancel is seen within one step, at most `MAX_BACKOFF`).
fn poll_until(fd: BorrowedFd<'_>, spec: &LockSpec, cancel: &Cancel) -> Result<Waited> {
    let start = std::time::Instant::now();
    let mut backoff = MIN_BACKOFF;
    loop {
        if cancel.is_cancelled() {
            return Ok(Waited::Cancelled);
        }
        match try_lock(fd, spec) {
            Ok(true) => return Ok(Waited::Acquired),
            Ok(false) => {}
            Err(e) if e.errno == Errno::EINTR => continue,
            Err(e) => return Err(e),
        }
        std::thread::sleep(backoff);
        if start.elapsed() >= FAST_PHASE {
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

/// Opens `path` for locking: `O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY`, mode 0666 (less
/// umask), so that a missing lock file is created.
pub fn open_for_lock(path: &std::path::Path) -> Result<OwnedFd> {
    open_rw(path).syscall("open")
}

/// `open` can wait (a FIFO, FUSE, NFS), so `EINTR` is retried.
fn open_rw(path: &std::path::Path) -> nix::Result<OwnedFd> {
    use nix::fcntl::OFlag;
    use nix::sys::stat::Mode;
    retry_eintr(|| {
        nix::fcntl::open(
            path,
            // O_NOCTTY: a session leader with no controlling terminal (a
            // daemon) that locked a tty by path acquired it (s39-locks L1).
            OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_CLOEXEC | OFlag::O_NOCTTY,
            Mode::from_bits_truncate(0o666),
        )
    })
}

/// [`open_for_lock`] for the lock `spec` describes. One that needs no write
/// access (a `flock` lock, or a shared OFD lock: the kernel wants only a
/// readable fd for those) falls back to `O_RDONLY | O_NONBLOCK | O_CLOEXEC`
/// when the read-write open fails with `EACCES`, `EISDIR`, `EROFS`,
/// `ETXTBSY` or `EPERM`: a file the user may only read, a directory (the
/// usual way to lock one), a read-only mount, a running program, an
/// append-only or immutable file (`chattr +a`/`+i`). `flock -n` and
/// Python's `fcntl.flock` lock all of those. `O_NONBLOCK` because a read-only open of a FIFO waits
/// for a writer (a read-write one never did); it is cleared again once the
/// file is open, so that the lock's fd reads as one opened read-write does.
/// If the fallback fails too, the first error is returned (`EACCES` for a
/// file that could not be created says more than the fallback's `ENOENT`).
pub fn open_for_spec(path: &std::path::Path, spec: &LockSpec) -> Result<OwnedFd> {
    let read_only = spec.kind == LockKind::Flock || spec.shared;
    match open_rw(path) {
        Err(e @ (Errno::EACCES | Errno::EISDIR | Errno::EROFS | Errno::ETXTBSY | Errno::EPERM))
            if read_only =>
        {
            open_ro(path).map_err(|_| e)
        }
        r => r,
    }
    .syscall("open")
}

/// Whether `path` still names the file `fd` is open on (same device and
/// inode; `stat` follows symlinks, as the lock's `open` did). `Ok(false)`
/// when the path is gone (`ENOENT`, `ENOTDIR`) or names another file: a
/// holder that unlinked or replaced the lock file before releasing it. A
/// lock taken on such an orphan excludes no one who opens the path now, so
/// a path lock checks this after locking and starts over on `false`.
///
/// Except for a directory whose path is gone: that is the `stat` error, not
/// `false`. The start over opens the path with `O_CREAT`, which made a
/// regular file where the removed directory was (a `flock` waiter on a
/// directory its holder removed). A directory renamed over by another one
/// is still `false`, and the new one is locked.
/// Other `stat` errors are returned (`syscall` `"stat"`).
///
/// # References
/// - [`stat(2)`](https://man7.org/linux/man-pages/man2/stat.2.html)
pub fn names_file(path: &std::path::Path, fd: BorrowedFd<'_>) -> Result<bool> {
    use nix::sys::stat::SFlag;
    let of_fd = nix::sys::stat::fstat(fd).syscall("fstat")?;
    let dir = of_fd.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFDIR.bits();
    match retry_eintr(|| nix::sys::stat::stat(path)) {
        Ok(st) => Ok(st.st_dev == of_fd.st_dev && st.st_ino == of_fd.st_ino),
        Err(Errno::ENOENT | Errno::ENOTDIR) if !dir => Ok(false),
        Err(e) => Err(e).syscall("stat"),
    }
}

/// `O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY`, then `O_NONBLOCK` cleared: see
/// [`open_for_spec`].
fn open_ro(path: &std::path::Path) -> nix::Result<OwnedFd> {
    use nix::fcntl::OFlag;
    let flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC | OFlag::O_NOCTTY;
    let fd = retry_eintr(|| nix::fcntl::open(path, flags, nix::sys::stat::Mode::empty()))?;
    let fl = fcntl(&fd, FcntlArg::F_GETFL)?;
    fcntl(
        &fd,
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(fl) & !OFlag::O_NONBLOCK),
    )?;
    Ok(fd)
}
