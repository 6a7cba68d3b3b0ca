//! The native side of `lockFile` / `tryLockFile` / `FileLock`
//! (`src/lock.ts`): OFD and flock locks whose waits block neither the event
//! loop nor libuv's threadpool.
//!
//! - A [`LockHandle`] owns the lock's own fd of the file (opened from a path,
//!   or a dup of the caller's fd, which shares its open file description,
//!   where OFD and flock locks live) and what to lock. Dropping it (garbage
//!   collection, env teardown) unlocks if it holds the lock, then closes the
//!   fd after the identity check of `GuardedFd`.
//! - A contended wait ([`lock_wait`]) runs on a pool thread (`rt::job`, over `linux_fd_core::pool`),
//!   blocked in the kernel through its own dup of the fd until the lock comes
//!   or a cancel signal interrupts it (`linux_fd_core::lockwait`). The job
//!   closes its dup and drops its share of the cancel before it reports, and
//!   the report on the JS thread drops the rest, so a settled wait (granted,
//!   cancelled or failed) holds no fd and no kernel wait, and its thread is
//!   back in the pool: nothing waits for GC.
//! - A cancel that races a successful acquisition undoes it on the JS thread
//!   before reporting "cancelled": nothing stays locked, and what the
//!   description held of the range before the wait (an upgrade through a
//!   held lock's fd, which the grant replaced) is put back.
//!
//! Errors are negative errnos (see `handle.rs`).

use std::cell::{Cell, RefCell};
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::{Arc, Weak};

use crate::rt::ext::{Handle, Owned};
use linux_fd_core::lockwait::{Cancel, Grant, LockFd, LockKind, LockSpec, Waited};
use napi::bindgen_prelude::{Either, External, FromNapiValue, Function, Uint8ArraySlice, Unknown};
use napi::{Env, ValueType};
use napi_derive::napi;

use crate::handle::{borrow_fd, either, errno, int, on_fd, path_of, sys};
use crate::rt::job;

/// What `FileLock` owns: see the module docs.
///
/// Its [`LockFd`] is dropped (and freed, unless a wait's report still
/// holds it weakly) at the release, not when garbage collection finalizes
/// the external: most handles are released at once, and their finalizers
/// run in a later loop turn (Node-API defers them), so a loop of
/// `tryLockFile(fd)`+`release()` kept every one of them allocated until
/// then, each lock taking fresh heap memory (page faults, cache misses:
/// stop 42 in docs/bench-floor.md). Released, the next lock reuses it.
pub struct LockHandle {
    inner: RefCell<Option<Rc<RefCell<LockFd>>>>,
    /// The number a release found closed behind the handle's back (then
    /// given up, never closed): `lockFd` reports it, and every later
    /// release is `-EBADF` again.
    lost: Cell<Option<RawFd>>,
}

impl LockHandle {
    fn new(lock: LockFd) -> Owned<LockHandle> {
        Owned(LockHandle {
            inner: RefCell::new(Some(Rc::new(RefCell::new(lock)))),
            lost: Cell::new(None),
        })
    }

    /// `f` on the handle's lock, or `-EBADF` once released.
    fn with<T>(&self, f: impl FnOnce(&mut LockFd) -> linux_fd_core::Result<T>) -> Result<T, i32> {
        match self.inner.borrow().as_ref() {
            Some(inner) => sys(f(&mut inner.borrow_mut())),
            None => Err(-libc::EBADF),
        }
    }

    /// See [`try_lock`]. No JS runs while the borrows are held.
    fn try_lock(&self) -> i32 {
        int(self.with(LockFd::try_lock).and_then(|fd| fd.ok_or(-libc::EAGAIN)))
    }

    /// See [`release`].
    fn release(&self) -> i32 {
        let Some(inner) = self.inner.borrow_mut().take() else {
            return if self.lost.get().is_some() {
                -libc::EBADF
            } else {
                0
            };
        };
        let mut lock = inner.borrow_mut();
        let r = int(sys(lock.release()).map(|()| 0));
        self.lost.set(lock.lost());
        r
    }
}

fn spec(flock: bool, shared: bool, start: i64, length: i64) -> LockSpec {
    LockSpec {
        kind: if flock { LockKind::Flock } else { LockKind::Ofd },
        shared,
        start,
        len: length,
    }
}

/// Opens `path` for locking (`O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY`, mode 0666 less
/// the umask; read-only for a lock that needs no write access where that
/// open is refused, see core `open_for_spec`) into a handle that will lock it as described (`flock`: a
/// whole-file `flock(2)` lock, else an OFD lock on `start`, `length`; length
/// 0 = to the end of the file); or a negative errno (`ENOENT`, `EACCES`, …).
/// Nothing is locked yet: see `lockTry`. `path` is a string or its bytes
/// (a `Buffer` path need not be UTF-8); a NUL in it is `EINVAL`.
/// @see https://man7.org/linux/man-pages/man2/open.2.html
#[napi(ts_return_type = "ExternalObject<'LockHandle'> | number")]
pub fn lock_open(
    path: Either<String, Uint8ArraySlice<'_>>,
    flock: bool,
    shared: bool,
    start: i64,
    length: i64,
) -> Either<Owned<LockHandle>, i32> {
    either(sys(LockFd::open(path_of(&path), spec(flock, shared, start, length))).map(LockHandle::new))
}

/// As `lockOpen`, on a close-on-exec dup of `fd` (same open file
/// description, so the lock lives on the caller's description but the
/// handle owns and closes its own fd); or a negative errno.
///
/// Registered raw as `lockDup` (`rt/rawfn.rs`), as are [`try_lock`] and
/// [`release`]: the three calls of every `lockFile(fd)` and of a byte-range
/// `tryLockFile(fd)` (a whole-file one makes [`dup_try`] and [`release`];
/// before stop 42 every `tryLockFile(fd)` made these three). Generated, each
/// opened napi-rs's borrow scope, and the loop made 10 mallocs an iteration
/// against the floor's 3 (counted with a uprobe on `malloc`;
/// docs/bench-floor.md).
/// @see https://man7.org/linux/man-pages/man2/fcntl.2.html
pub fn dup(fd: i32, flock: bool, shared: bool, start: i64, length: i64) -> Result<Owned<LockHandle>, i32> {
    on_fd(fd, |fd| LockFd::dup(fd, spec(flock, shared, start, length))).map(LockHandle::new)
}

/// What [`dup_try`]'s `how` says: bit 0, a `flock(2)` lock (else an OFD
/// lock); bit 1, a shared lock (else exclusive). Other bits are `EINVAL`.
const HOW_FLOCK: i32 = 1;
const HOW_SHARED: i32 = 2;

/// What [`dup_try`] adds to the errno of a failed dup (`-(4096 + errno)`), so
/// that the caller can tell it from a failed lock (`-errno`): the two make
/// different errors (`src/lock.ts`, `lockError`). Errnos are below 4096.
const DUP_FAILED: i32 = 4096;

/// [`dup`] then one [`try_lock`] attempt of a whole-file lock (OFD or
/// flock, as `how` says), in one call: the locked handle, or
/// `-EAGAIN` (another holder conflicts), another negative errno of the lock,
/// or `-(4096 + errno)` if the dup itself failed (`EBADF`, `EMFILE`, …). A
/// handle that did not take the lock is dropped before this returns (its
/// dup closed, after the identity check), as `lockRelease` would.
///
/// Registered raw as `lockDupTry` (`rt/rawfn.rs`): every `tryLockFile(fd)`
/// calls it and `lockRelease`, two calls as the same-syscalls floor makes
/// (`bench/floor.c`), where `lockDup` + `lockTry` were three, the first
/// reading five arguments (the mode is one int here, and a byte range,
/// which takes two `int64` reads, goes through `lockDup` + `lockTry`: two
/// arguments where the floor reads two). Callgrind put the binding calls
/// alone at 3,904–3,947 user-space instructions a lock+release with it
/// against 4,377 for `lockDup` + `lockTry` + `lockRelease` (the
/// same-syscalls floor: 3,497–3,550; docs/bench-floor.md, stop 42). The
/// handle's fd number does not come back: `FileLock` asks `lockFd` for it
/// when JS reads `lock.fd`.
/// @see https://man7.org/linux/man-pages/man2/fcntl.2.html
pub fn dup_try(fd: i32, how: i32) -> Result<Owned<LockHandle>, i32> {
    if how & !(HOW_FLOCK | HOW_SHARED) != 0 {
        return Err(-libc::EINVAL);
    }
    let Owned(h) = dup(fd, how & HOW_FLOCK != 0, how & HOW_SHARED != 0, 0, 0).map_err(|e| e - DUP_FAILED)?;
    match h.try_lock() {
        r if r >= 0 => Ok(Owned(h)),
        // `h` is dropped here: not held, so its dup is only closed.
        e => Err(e),
    }
}

/// The handle's fd number: while it holds it, and after a release that
/// found it closed behind the handle's back (the number it gave up); -1
/// once released. `FileLock.fd` reads it for a lock that `lockDupTry` took,
/// once, the first time JS asks (see [`dup_try`]).
#[napi(ts_args_type = "handle: ExternalObject<'LockHandle'>")]
pub fn lock_fd(handle: Handle<LockHandle>) -> i32 {
    match handle.inner.borrow().as_ref() {
        Some(inner) => inner.borrow().raw().unwrap_or(-1),
        None => handle.lost.get().unwrap_or(-1),
    }
}

/// The queue key of a handle (`src/lock.ts` queues waiters for the same
/// lock): `"<dev>:<ino>:<kind>:<sh|ex>:<start>:<length>"` of the file its fd
/// names, from the identity its guard recorded with `fstat` at open; or a
/// negative errno (`EBADF` once released).
/// @see https://man7.org/linux/man-pages/man2/fstat.2.html
#[napi(
    ts_args_type = "handle: ExternalObject<'LockHandle'>",
    ts_return_type = "string | number"
)]
pub fn lock_key(handle: Handle<LockHandle>) -> Either<String, i32> {
    either(handle.with(|l| l.key()))
}

/// Whether `path` still names the file the handle's fd is open on (core
/// `names_file`: an `fstat` of the fd and a `stat` of the path): 1, 0 (unlinked or replaced meanwhile: `src/lock.ts` then
/// starts over on the path), or a negative errno (`EBADF` once released;
/// `ENOENT`/`ENOTDIR` for a locked directory whose path names nothing now).
/// @see https://man7.org/linux/man-pages/man2/stat.2.html
#[napi(ts_args_type = "handle: ExternalObject<'LockHandle'>, path: string | Uint8Array")]
pub fn lock_names_path(handle: Handle<LockHandle>, path: Either<String, Uint8ArraySlice<'_>>) -> i32 {
    int(handle.with(|l| l.names(path_of(&path))).map(i32::from))
}

/// One non-blocking attempt: the handle's fd number (0 or more: locked; the
/// handle now holds the lock), `-EAGAIN` (another holder conflicts: the
/// kernel's own answer, `EAGAIN`/`EWOULDBLOCK`, or `EACCES` from
/// `F_OFD_SETLK`, reported as `EAGAIN`) or another negative errno. The fd
/// comes back so that `FileLock` needs no separate call for it: as a
/// generated `lockFd` call it was one of four per `tryLockFile`
/// (docs/bench-floor.md); `lockWait` reports it the same way. Registered raw as `lockTry` (see [`dup`]).
/// @see https://man7.org/linux/man-pages/man2/fcntl.2.html
pub fn try_lock(handle: Handle<LockHandle>) -> i32 {
    handle.try_lock()
}

/// `F_OFD_GETLK` through `fd` (core `test_ofd`): `null` if an OFD lock
/// (`shared` or exclusive) of `length` bytes from `start` could be placed,
/// else the first lock in the way as `[shared (1 or 0), pid (-1 for an OFD
/// lock), start, length]`; or a negative errno. Takes nothing.
/// @see https://man7.org/linux/man-pages/man2/fcntl.2.html
#[napi(ts_return_type = "[number, number, number, number] | null | number")]
pub fn lock_test(fd: i32, shared: bool, start: i64, length: i64) -> Either<Option<[i64; 4]>, i32> {
    let Ok(fd) = borrow_fd(fd) else {
        return Either::B(-libc::EBADF);
    };
    match linux_fd_core::lock::test_ofd(fd, shared, start, length) {
        Ok(c) => Either::A(c.map(conflict)),
        Err(e) => Either::B(errno(&e)),
    }
}

/// A failure of [`lock_test_path`]: the errno (negative) and the call that
/// failed (`open`, `close_range`, `clone` or `fcntl`), which the errno alone
/// does not tell (`EAGAIN` from `clone` or from an `open` a lease refused).
#[napi(object)]
pub struct TestFailure {
    /// The negative errno.
    pub errno: i32,
    /// The failing call.
    pub syscall: String,
}

/// As [`lock_test`], of the file at `path` (core `test_ofd_path`: opened
/// read-only on a thread with an fd table of its own, so that its close
/// drops none of this process's POSIX locks; `EINVAL` for a file that is
/// neither a regular file nor a directory, which is not opened). Its
/// failures carry their call: see [`TestFailure`].
/// @see https://man7.org/linux/man-pages/man2/close_range.2.html
#[napi(
    ts_args_type = "path: string | Uint8Array, shared: boolean, start: number, length: number",
    ts_return_type = "[number, number, number, number] | null | TestFailure"
)]
pub fn lock_test_path(
    path: Either<String, Uint8ArraySlice<'_>>,
    shared: bool,
    start: i64,
    length: i64,
) -> Either<Option<[i64; 4]>, TestFailure> {
    match linux_fd_core::lock::test_ofd_path(path_of(&path), shared, start, length) {
        Ok(c) => Either::A(c.map(conflict)),
        Err(e) => Either::B(TestFailure {
            errno: errno(&e),
            syscall: e.syscall.into(),
        }),
    }
}

/// A core `Conflict` as `lockTest` returns it.
fn conflict(c: linux_fd_core::lock::Conflict) -> [i64; 4] {
    [c.shared as i64, c.pid.into(), c.start, c.len]
}

/// Unlocks (if the handle holds the lock) and closes the handle's fd;
/// idempotent. 0, the unlock's negative errno (the fd is closed anyway), or
/// `-EBADF` if the fd was found closed behind the handle's back (the number
/// is then forgotten: neither unlocked nor closed). Registered raw as
/// `lockRelease` (see [`dup`]).
pub fn release(handle: Handle<LockHandle>) -> i32 {
    handle.release()
}

/// A pending wait: its cancel, until the wait reports.
pub struct LockWait(Rc<WaitState>);

struct WaitState {
    cancel: RefCell<Option<Arc<Cancel>>>,
    cancelled: Cell<bool>,
    /// The wait's [`Grant`] (core: its phase, dup and undo), weakly: the
    /// thread's closure and then its `Outcome` own it, so the dup closes
    /// with them. A runtime that never frees a dead environment's pending
    /// report (Deno), which holds this state, would otherwise keep the dup
    /// open for good (s40-diff2 L2).
    grant: Weak<Grant>,
}

/// Waits for the lock on a pool thread and calls `callback(result)` on the
/// JS thread once: the handle's fd number (0 or more: locked; the handle
/// holds the lock, as [`try_lock`] reports it), `-ECANCELED` (cancelled by
/// `lockWaitCancel`; nothing is held) or another negative errno (`-EIO` if the
/// wait's thread panicked, a bug: see `rt::job::spawn`). By then the
/// wait's dup of the file is closed and its thread is going back to the
/// pool. Returns the wait, or a negative errno (`EMFILE` for the wait's dup
/// or its fdinfo read, `EAGAIN` if no thread could be started, `EIO` if the
/// environment's mailbox could not be made, `EINVAL` if `callback` is not a function: checked
/// first, before a dup or a thread is taken; napi-rs's `Function` argument
/// takes any value, and a primitive then failed as `ENOMEM` while a
/// non-callable object began a wait whose report threw). The pending wait
/// keeps the event loop alive unless `refed` is false (default true).
#[napi(
    ts_args_type = "handle: ExternalObject<'LockHandle'>, callback: (result: number) => void, refed?: boolean",
    ts_return_type = "ExternalObject<'LockWait'> | number"
)]
pub fn lock_wait(
    env: Env,
    handle: Handle<LockHandle>,
    callback: Unknown<'_>,
    refed: Option<bool>,
) -> Either<External<LockWait>, i32> {
    if !matches!(callback.get_type(), Ok(ValueType::Function)) {
        return Either::B(-libc::EINVAL);
    }
    let Ok(callback) = Function::<'_, i32, ()>::from_unknown(callback) else {
        return Either::B(-libc::EINVAL);
    };
    let Some(inner) = handle.inner.borrow().clone() else {
        return Either::B(-libc::EBADF);
    };
    // The thread locks through its own dup (same open file description), so
    // nothing the JS side does to the handle's fd meanwhile can make it use
    // a closed or reused number. Guarded (core `Grant`), so that the owner
    // registry knows the number (an adoption of it is EBUSY) and its close
    // never closes a number someone reused.
    let grant = match inner.borrow().grant() {
        Ok(g) => Arc::new(g),
        Err(e) => return Either::B(errno(&e)),
    };
    let cancel = Arc::new(Cancel::new());
    let Ok(callback) = callback.create_ref() else {
        return Either::B(-libc::ENOMEM);
    };
    let state = Rc::new(WaitState {
        cancel: RefCell::new(Some(cancel.clone())),
        cancelled: Cell::new(false),
        grant: Arc::downgrade(&grant),
    });
    // The env's teardown cancels the wait. Weak: the hook may outlive the
    // report, and must not keep the cancel alive after it.
    let weak: Weak<Cancel> = Arc::downgrade(&cancel);
    let on_close = move || {
        if let Some(c) = weak.upgrade() {
            c.cancel();
        }
    };
    let report = state.clone();
    // The report holds the handle weakly: a runtime that never finalizes a
    // dead environment's pending report (Deno) kept the handle, and its fd,
    // open after the environment's teardown dropped it (`ext::drop_env`).
    // While the wait is pending, JS holds the handle (src/lock.ts).
    let weak_inner = Rc::downgrade(&inner);
    drop(inner);
    let spawned = job::spawn(
        env.raw(),
        refed.unwrap_or(true),
        on_close,
        // The closure owns its share of the cancel, dropped when it returns;
        // the grant (and its dup) comes back with the result (dropped with
        // it on the pool thread if the environment went away first).
        // Kept only if the thread's swap wins; a grant that came after the
        // cancel (by `lockWaitCancel` or the env's teardown) is undone there,
        // at once (core `Grant`).
        move || grant.wait(&cancel),
        move |env, outcome| {
            report.cancel.borrow_mut().take();
            let cancelled = report.cancelled.get();
            let result = match outcome {
                // The wait's thread panicked (a bug; none is known): the
                // lock is not ours, and the handle is released by the
                // caller on any result but a locked one.
                None => -libc::EIO,
                Some(o) => {
                    let (r, grant) = o.deliver();
                    let result = match &r {
                        Ok(Waited::Acquired) => {
                            match weak_inner.upgrade().filter(|_| !cancelled).and_then(|inner| {
                                let fd = inner.borrow().raw();
                                fd.map(|fd| (inner, fd))
                            }) {
                                Some((inner, fd)) => {
                                    inner.borrow_mut().set_held();
                                    fd
                                }
                                // Cancelled after the lock came in, or the handle
                                // was released (only a direct caller of the
                                // binding can) or dropped meanwhile (only at the
                                // environment's teardown): undo the lock through the
                                // wait's own dup, which names the locked
                                // description whatever became of the handle's
                                // number (a `lockDup` handle shares the caller's
                                // description, so closing the dup alone would
                                // leave it locked).
                                // What the description held before the wait
                                // is put back (`held`); not again if the
                                // cancel undid it already.
                                _ => {
                                    grant.undo_if_granted();
                                    if cancelled {
                                        -libc::ECANCELED
                                    } else {
                                        -libc::EBADF
                                    }
                                }
                            }
                        }
                        Ok(Waited::Cancelled) => -libc::ECANCELED,
                        Err(e) => errno(e),
                    };
                    // The dup is closed here, before the callback runs.
                    drop(grant);
                    result
                }
            };
            let env = Env::from_raw(env);
            if let Ok(f) = callback.borrow_back(&env) {
                // A callback that throws is an uncaught exception, as for
                // any Node callback (napi-rs hands it back as an Err, which
                // was dropped). src/lock.ts's callback does not throw.
                if let Err(e) = f.call(result) {
                    env.fatal_exception(e);
                }
            }
        },
    );
    match spawned {
        Ok(()) => Either::A(External::new(LockWait(state))),
        Err(e) => Either::B(e),
    }
}

/// Cancels a pending wait (idempotent; nothing once it has reported): its
/// callback then gets `-ECANCELED` promptly, and nothing stays locked. A
/// grant already made whose report has not run yet is undone before this
/// returns, through the wait's own dup of the file, putting back what the
/// description held; see core `Grant` (and its one window left open).
#[napi(ts_args_type = "wait: ExternalObject<'LockWait'>")]
pub fn lock_wait_cancel(wait: &External<LockWait>) {
    let state = &wait.0;
    if let Some(c) = state.cancel.borrow().as_ref() {
        state.cancelled.set(true);
        let Some(grant) = state.grant.upgrade() else {
            return c.cancel();
        };
        // Granted, the report not handled yet: undone now, through the
        // wait's own dup.
        grant.cancel(c);
    }
}

/// The threads of the lock-wait pool (shared by the whole process).
#[napi(object)]
pub struct LockWaitThreads {
    /// Threads waiting for a wait to run (each exits after 1 s unused).
    pub idle: u32,
    /// Thread ids (`/proc/self/task/<tid>`) of the threads running a job: a
    /// lock wait, or a close of received fds that may block (the pool is
    /// shared; `crates/core` `fd::close_received`).
    pub busy: Vec<i32>,
}

/// What the lock-wait pool holds right now; for tests and diagnostics.
#[napi]
pub fn lock_wait_threads() -> LockWaitThreads {
    let (idle, busy) = linux_fd_core::pool::threads();
    LockWaitThreads {
        idle: idle as u32,
        busy,
    }
}
