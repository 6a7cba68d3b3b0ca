//! `lockFile` / `tryLockFile` / `FileLock`: OFD and flock locks whose waits
//! block neither the event loop nor libuv's threadpool.
//!
//! A contended wait runs on a dedicated thread (`job.rs`) that retries with
//! backoff and sleeps on a cancel eventfd (`linux_fd_core::lockwait`), so an
//! `AbortSignal` ends it at once. If the abort races a successful
//! acquisition, the late lock is released on arrival: nothing stays locked.

use std::cell::Cell;
use std::os::fd::{AsFd, OwnedFd};
use std::rc::Rc;
use std::sync::Arc;

use linux_fd_core::fd::{self as core_fd, GuardedFd, Taken};
use linux_fd_core::lockwait::{self, Cancel, LockKind, LockSpec, Waited};
use linux_fd_core::{Errno, Error as SysError};
use napi::{sys, Env, Result, ValueType};
use napi_derive::napi;

use crate::abort;
use crate::args;
use crate::error;
use crate::job;
use crate::js::{self, JsValue};

/// A held file lock. `release()` unlocks it and closes the package's fd of
/// the file; so does garbage collection, but do not rely on that: release
/// explicitly, or use `using` / `await using`.
///
/// - `kind: 'ofd'`: an open-file-description lock (`F_OFD_SETLK`, Linux
///   3.15+), on a byte range; it belongs to this lock's own open file
///   description, so closing *other* fds of the file does not drop it (unlike
///   classic POSIX `F_SETLK` locks, which any `close()` of the file drops).
/// - `kind: 'flock'`: a whole-file `flock(2)` lock.
///
/// Both are released by the kernel when the process dies.
///
/// If JS closes `lock.fd` itself (`fs.closeSync(lock.fd)`), `release()`
/// throws `EBADF` and never unlocks or closes whatever file now has that
/// number; the lock itself is then gone only if no other fd shares the
/// lock's open file description.
/// @see https://man7.org/linux/man-pages/man2/fcntl.2.html
/// @see https://man7.org/linux/man-pages/man2/flock.2.html
#[napi]
pub struct FileLock {
    fd: GuardedFd,
    spec: LockSpec,
}

/// Why `release()` did not unlock.
enum Unreleased {
    /// The unlock failed (the fd is closed anyway).
    Failed(SysError),
    /// The fd (this number) was closed outside the package.
    Lost(std::os::fd::RawFd),
}

impl FileLock {
    fn new(fd: OwnedFd, spec: LockSpec) -> Self {
        Self {
            fd: GuardedFd::new(fd),
            spec,
        }
    }

    /// Unlocks and closes the fd if it is still ours. The identity check
    /// (one `fstat`) comes before the unlock: unlocking a reused number would
    /// drop somebody else's lock.
    fn unlock_and_close(&mut self) -> std::result::Result<(), Unreleased> {
        match self.fd.take() {
            // The fd may share its open file description with a caller's fd,
            // so closing ours alone would not drop the lock: unlock first.
            Taken::Ours(fd) => lockwait::unlock(fd.as_fd(), &self.spec).map_err(Unreleased::Failed),
            Taken::Lost(raw) => Err(Unreleased::Lost(raw)),
            Taken::Closed => Ok(()),
        }
    }

    fn error_value(env: sys::napi_env, e: Unreleased) -> Result<sys::napi_value> {
        match e {
            Unreleased::Failed(e) => error::sys_value(env, e),
            Unreleased::Lost(raw) => error::fd_lost_value(env, "FileLock", raw, "release"),
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.unlock_and_close();
    }
}

#[napi]
impl FileLock {
    /// Not for `new`: locks come from `lockFile()` and `tryLockFile()`.
    /// @throws {TypeError} `ERR_ILLEGAL_CONSTRUCTOR`, always.
    #[napi(constructor)]
    pub fn illegal_constructor(env: napi::Env) -> Result<Self> {
        Err(crate::error::illegal_constructor(
            env.raw(),
            "FileLock",
            "lockFile() or tryLockFile()",
        ))
    }

    /// Whether this is a shared (read) lock rather than an exclusive one.
    #[napi(getter)]
    pub fn shared(&self) -> bool {
        self.spec.shared
    }

    /// `'ofd'` or `'flock'`.
    #[napi(getter, ts_return_type = "'ofd' | 'flock'")]
    pub fn kind(&self) -> &'static str {
        match self.spec.kind {
            LockKind::Ofd => "ofd",
            LockKind::Flock => "flock",
        }
    }

    /// The locked byte range (`length` 0 = to end of file, however it grows);
    /// `null` for `flock` locks, which cover the whole file.
    #[napi(getter, ts_return_type = "{ start: number, length: number } | null")]
    pub fn range(&self, env: Env) -> Result<JsValue> {
        let env = env.raw();
        if self.spec.kind == LockKind::Flock {
            let mut null = std::ptr::null_mut();
            // SAFETY: env is live; out-pointer valid.
            js::check(unsafe { sys::napi_get_null(env, &mut null) })?;
            return Ok(JsValue { env, raw: null });
        }
        let obj = js::object(env)?;
        js::define(env, obj, c"start", js::number(env, self.spec.start as f64)?)?;
        js::define(env, obj, c"length", js::number(env, self.spec.len as f64)?)?;
        Ok(JsValue { env, raw: obj })
    }

    /// The package's own fd of the locked file, or -1 after `release()`.
    #[napi(getter)]
    pub fn fd(&self) -> i32 {
        self.fd.raw().unwrap_or(-1)
    }

    /// Whether `release()` was called (or found the fd closed outside the package).
    #[napi(getter)]
    pub fn released(&self) -> bool {
        self.fd.get().is_none()
    }

    /// Unlocks and closes the lock's fd. Idempotent.
    ///
    /// First checks with one `fstat` (device, inode, type) that `fd` is still
    /// the locked file. If JS closed it (`fs.closeSync(lock.fd)`), the number
    /// may belong to another file now: the lock forgets it without unlocking
    /// or closing anything, and this and every later `release()` throw
    /// `EBADF`. A reopen of the same file onto that number passes the check.
    /// @throws {Error} an errno error if the unlock itself fails (the fd is
    /// closed anyway); `EBADF` if the fd was closed outside the package.
    #[napi]
    pub fn release(&mut self, env: Env) -> Result<()> {
        let env = env.raw();
        match self.unlock_and_close() {
            Ok(()) => Ok(()),
            Err(e) => Err(match FileLock::error_value(env, e) {
                Ok(v) => js::throw(env, v),
                Err(e) => e,
            }),
        }
    }

    /// Same as `release()`, for `using`.
    #[napi(well_known_symbol = "dispose")]
    pub fn dispose(&mut self, env: Env) -> Result<()> {
        self.release(env)
    }

    /// Same as `release()`, for `await using`.
    #[napi(well_known_symbol = "asyncDispose", ts_return_type = "Promise<void>")]
    pub fn async_dispose(&mut self, env: Env) -> Result<JsValue> {
        let raw = env.raw();
        let (deferred, promise) = js::promise(raw)?;
        match self.unlock_and_close() {
            Ok(()) => js::settle(raw, deferred, true, js::undefined(raw)?),
            Err(e) => js::settle(raw, deferred, false, FileLock::error_value(raw, e)?),
        }
        Ok(JsValue {
            env: raw,
            raw: promise,
        })
    }
}

struct Request {
    fd: OwnedFd,
    spec: LockSpec,
    wait: bool,
    signal: Option<JsValue>,
}

/// Reads `(fileOrPath, options)`.
fn request(target: JsValue, options: JsValue) -> Result<Request> {
    let env = target.env;
    let fd = match target.as_string() {
        Some(path) => lockwait::open_for_lock(std::path::Path::new(&path)).map_err(|e| error::sys(env, e))?,
        None => {
            if !matches!(target.type_of()?, ValueType::Number | ValueType::Object) {
                return Err(error::invalid_type(
                    env,
                    "fileOrPath",
                    "of type string or number, or a FileHandle",
                    &target,
                ));
            }
            let raw = args::fd(target)?;
            // A dup shares the open file description (where OFD and flock
            // locks live) but lets the lock own and close its own fd.
            core_fd::dup_cloexec(args::borrow(raw)).map_err(|e| error::sys(env, e))?
        }
    };
    let mut spec = LockSpec {
        kind: LockKind::Ofd,
        shared: false,
        start: 0,
        len: 0,
    };
    let mut wait = true;
    let mut signal = None;
    if let Some(o) = args::options(options, "options")? {
        spec.shared = args::bool_or(o.get(c"shared")?, "options.shared", false)?;
        wait = args::bool_or(o.get(c"wait")?, "options.wait", true)?;
        signal = abort::parse_signal(o)?;
        let kind = o.get(c"kind")?;
        if !kind.is_undefined() {
            spec.kind = match kind.as_string().as_deref() {
                Some("ofd") => LockKind::Ofd,
                Some("flock") => LockKind::Flock,
                Some(_) => {
                    return Err(error::invalid_value(
                        env,
                        "options.kind",
                        "must be 'ofd' or 'flock'",
                    ))
                }
                None => return Err(error::invalid_type(env, "options.kind", "of type string", &kind)),
            };
        }
        let range = o.get(c"range")?;
        if !range.is_nullish() {
            if spec.kind == LockKind::Flock {
                return Err(error::invalid_value(
                    env,
                    "options.range",
                    "is not supported by flock locks (they cover the whole file)",
                ));
            }
            if range.type_of()? != ValueType::Object {
                return Err(error::invalid_type(
                    env,
                    "options.range",
                    "of type object",
                    &range,
                ));
            }
            const MAX: i64 = (1i64 << 53) - 1;
            spec.start = args::int(range.get(c"start")?, "options.range.start", 0, MAX, Some(0))?;
            spec.len = args::int(range.get(c"length")?, "options.range.length", 0, MAX, Some(0))?;
        }
    }
    Ok(Request {
        fd,
        spec,
        wait,
        signal,
    })
}

fn conflict(spec: &LockSpec) -> SysError {
    SysError::new(
        Errno::EAGAIN,
        if spec.kind == LockKind::Ofd {
            "fcntl"
        } else {
            "flock"
        },
    )
}

/// `tryLockFile(fileOrPath, options?)`—Takes a lock if it is free right now;
/// returns `null` if another holder conflicts. Never waits.
///
/// `fileOrPath` is a path (opened with `O_RDWR | O_CREAT | O_CLOEXEC` and
/// held until release), an fd number, or a `FileHandle` (both duplicated, so
/// the lock lives on that fd's open file description).
/// @throws {TypeError} `ERR_INVALID_ARG_TYPE` / `ERR_INVALID_ARG_VALUE` for bad arguments.
/// @throws {Error} `ENOENT`, `EACCES`, `EBADF`, … from opening or locking.
#[napi(
    ts_args_type = "fileOrPath: string | number | { fd: number }, options?: { shared?: boolean, range?: { start?: number, length?: number }, kind?: 'ofd' | 'flock' }",
    ts_return_type = "FileLock | null"
)]
pub fn try_lock_file(target: JsValue, options: JsValue) -> Result<Option<FileLock>> {
    let env = target.env;
    let req = request(target, options)?;
    match lockwait::try_lock(req.fd.as_fd(), &req.spec) {
        Ok(true) => Ok(Some(FileLock::new(req.fd, req.spec))),
        Ok(false) => Ok(None),
        Err(e) => Err(error::sys(env, e)),
    }
}

/// `lockFile(fileOrPath, options?)`—Takes a lock, waiting for it if another
/// holder (in any process) conflicts.
///
/// The wait occupies neither the event loop nor libuv's threadpool: a
/// contended lock is waited for on a dedicated thread that retries with
/// exponential backoff (50 µs up to 8 ms), so a released lock is taken within
/// one backoff step. `signal` aborts the wait at once (rejecting with an
/// `AbortError`), and nothing stays locked afterwards.
///
/// Options: `shared` (default false), `wait` (default true; with false, a
/// conflict rejects with `EAGAIN`), `signal`, `range: { start, length }`
/// (OFD only; default the whole file), `kind: 'ofd' | 'flock'` (default
/// `'ofd'`). Classic POSIX record locks are not offered here: closing *any*
/// fd of the file drops them, and Node opens and closes fds internally.
/// @throws {Error} (rejects) `EAGAIN` with `wait: false`, `ABORT_ERR`, or an errno error.
#[napi(
    ts_args_type = "fileOrPath: string | number | { fd: number }, options?: { shared?: boolean, wait?: boolean, signal?: AbortSignal, range?: { start?: number, length?: number }, kind?: 'ofd' | 'flock' }",
    ts_return_type = "Promise<FileLock>"
)]
pub fn lock_file(target: JsValue, options: JsValue) -> Result<JsValue> {
    let env = target.env;
    let (deferred, promise) = js::promise(env)?;
    let out = JsValue { env, raw: promise };
    let req = request(target, options)?;
    if let Some(sig) = req.signal {
        if abort::is_aborted(sig)? {
            js::settle(env, deferred, false, abort::error(env, Some(sig.raw))?);
            return Ok(out);
        }
    }
    match lockwait::try_lock(req.fd.as_fd(), &req.spec) {
        Ok(true) => {
            let lock = lock_value(env, FileLock::new(req.fd, req.spec))?;
            js::settle(env, deferred, true, lock);
            return Ok(out);
        }
        Ok(false) if !req.wait => {
            js::settle(env, deferred, false, error::sys_value(env, conflict(&req.spec))?);
            return Ok(out);
        }
        Ok(false) => {}
        Err(e) => {
            js::settle(env, deferred, false, error::sys_value(env, e)?);
            return Ok(out);
        }
    }

    let cancel = Arc::new(Cancel::new().map_err(|e| error::sys(env, e))?);
    // Taken by whichever settles first: an abort, or the thread's report (which
    // then only cleans up).
    let deferred = Rc::new(Cell::new(Some(deferred)));
    let hook = match req.signal {
        Some(sig) => {
            let (cancel, deferred) = (cancel.clone(), deferred.clone());
            Some(abort::listen(env, sig, move |env, signal| {
                cancel.cancel();
                if let Some(d) = deferred.take() {
                    if let Ok(err) = abort::error(env, Some(signal)) {
                        js::settle(env, d, false, err);
                    }
                }
            })?)
        }
        None => None,
    };
    let spec = req.spec;
    let fd = req.fd;
    let gate_cancel = cancel.clone();
    let gate = job::Gate::new(move || gate_cancel.cancel());
    let hook = Rc::new(Cell::new(hook));
    job::spawn(
        env,
        gate,
        move || {
            let r = lockwait::lock_until(fd.as_fd(), &spec, &cancel);
            (fd, r)
        },
        move |env, (fd, r)| {
            if let Some(h) = hook.take() {
                h.remove(env);
            }
            let Some(d) = deferred.take() else {
                // Aborted first: undo a late acquisition; dropping fd closes it.
                if let Ok(Waited::Acquired) = r {
                    let _ = lockwait::unlock(fd.as_fd(), &spec);
                }
                return;
            };
            let outcome = match r {
                Ok(Waited::Acquired) => lock_value(env, FileLock::new(fd, spec)).map(|v| (true, v)),
                Ok(Waited::Cancelled) => abort::error(env, None).map(|v| (false, v)),
                Err(e) => error::sys_value(env, e).map(|v| (false, v)),
            };
            if let Ok((ok, v)) = outcome {
                js::settle(env, d, ok, v);
            }
        },
    )?;
    Ok(out)
}

fn lock_value(env: sys::napi_env, lock: FileLock) -> Result<sys::napi_value> {
    // SAFETY: env is live on this thread; FileLock is a #[napi] class, so this
    // creates a new JS instance that owns `lock`.
    unsafe { <FileLock as napi::bindgen_prelude::ToNapiValue>::to_napi_value(env, lock) }
}
