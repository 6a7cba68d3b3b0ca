//! What `EventCounter`, `Semaphore` and `Timer` share: ownership of one fd,
//! `close()`/`Symbol.dispose`, `ref()`/`unref()`, `fromFd`, and the async
//! iterator object. The waiting itself lives in `wait.rs`.

use std::cell::RefCell;
use std::os::fd::{AsFd, OwnedFd};
use std::rc::Rc;

use linux_fd_core::fd::{self as core_fd, FdKind};
use napi::{sys, Result};
use napi_derive::napi;

use crate::args;
use crate::error;
use crate::js::{self, JsValue};
use crate::wait::{Inner, Kind, Mode};

/// Takes the fd for `fromFd(fd, { adopt })`: checks that it is open and of
/// `kind`, then dups it with `F_DUPFD_CLOEXEC` (or adopts it), and makes the
/// result non-blocking.
pub fn take_fd(fd: JsValue, options: JsValue, kind: Kind) -> Result<OwnedFd> {
    let env = fd.env;
    let raw = args::fd(fd)?;
    let adopt = args::adopt_flag(options)?;
    let borrowed = args::borrow(raw);
    let found = core_fd::kind(borrowed).map_err(|e| error::sys(env, e))?;
    let ok = match (kind, found) {
        (_, FdKind::Unknown) => true,
        (Kind::Counter, FdKind::EventFd { semaphore }) => semaphore != Some(true),
        (Kind::Semaphore, FdKind::EventFd { semaphore }) => semaphore != Some(false),
        (Kind::Timer, FdKind::TimerFd) => true,
        _ => false,
    };
    if !ok {
        let want = match kind {
            Kind::Counter => "an eventfd without EFD_SEMAPHORE",
            Kind::Semaphore => "an eventfd with EFD_SEMAPHORE",
            Kind::Timer => "a timerfd",
        };
        return Err(error::invalid_value(
            env,
            "fd",
            &format!("must be {want}. Received fd {raw}"),
        ));
    }
    let owned = args::own_fd(env, raw, adopt)?;
    core_fd::set_nonblocking(owned.as_fd()).map_err(|e| error::sys(env, e))?;
    Ok(owned)
}

/// Generates the members every waitable class shares. The class must have a
/// field `inner: Rc<RefCell<Inner>>`.
macro_rules! waitable_common {
    ($class:ident) => {
        #[napi]
        impl $class {
            /// The fd number, or -1 after `close()` (as `fs.promises.FileHandle.fd`),
            /// and -1 once the fd was found closed outside the package.
            #[napi(getter)]
            pub fn fd(&self) -> i32 {
                self.inner.borrow().raw_fd().unwrap_or(-1)
            }

            /// Whether `close()` has been called, or the fd was found closed
            /// outside the package (calls then throw `EBADF`).
            #[napi(getter)]
            pub fn closed(&self) -> bool {
                self.inner.borrow().is_closed()
            }

            /// How many waits are pending in this environment.
            #[napi(getter)]
            pub fn pending(&self) -> u32 {
                self.inner.borrow().pending() as u32
            }

            /// Closes the fd. Pending waits reject with `ERR_CLOSED` (async
            /// iterators end instead). Idempotent: a second call does nothing.
            /// Later method calls throw `ERR_CLOSED`. Never throws.
            ///
            /// If the fd was closed outside the package (`fs.closeSync(obj.fd)`),
            /// its number may now belong to another file: `close()` (and
            /// garbage collection) then forgets the number instead of closing
            /// it, checked with one `fstat` (device, inode and type). That
            /// check cannot tell an eventfd or timerfd from another eventfd,
            /// timerfd or epoll fd: they all share one inode.
            #[napi]
            pub fn close(&self, env: napi::Env) {
                Inner::close(&self.inner, env.raw());
            }

            /// Same as `close()`, so `using x = new ...` closes at scope exit.
            #[napi(well_known_symbol = "dispose")]
            pub fn dispose(&self, env: napi::Env) {
                Inner::close(&self.inner, env.raw());
            }

            /// Lets a pending wait keep the process alive (the default). Returns `this`.
            #[napi(js_name = "ref", ts_args_type = "", ts_return_type = "this")]
            pub fn ref_(&self, this: napi::bindgen_prelude::This<JsValue>) -> JsValue {
                self.inner.borrow_mut().set_ref(true);
                this.object
            }

            /// Lets the process exit even while a wait is pending. Returns `this`.
            #[napi(ts_args_type = "", ts_return_type = "this")]
            pub fn unref(&self, this: napi::bindgen_prelude::This<JsValue>) -> JsValue {
                self.inner.borrow_mut().set_ref(false);
                this.object
            }

            /// Whether a pending wait keeps the process alive.
            #[napi]
            pub fn has_ref(&self) -> bool {
                self.inner.borrow().has_ref()
            }
        }
    };
}
pub(crate) use waitable_common;

/// The async iterator of an `EventCounter` or `Timer`: each `next()` waits for
/// the next value. It ends (`done: true`) when the object is closed or when
/// `return()` is called (a `break` out of `for await`), without closing the object.
#[napi]
pub struct WaitIterator {
    inner: Rc<RefCell<Inner>>,
    finished: bool,
}

impl WaitIterator {
    pub fn new(inner: Rc<RefCell<Inner>>) -> Self {
        Self {
            inner,
            finished: false,
        }
    }
}

fn done_result(env: sys::napi_env) -> Result<JsValue> {
    let (deferred, promise) = js::promise(env)?;
    let obj = js::object(env)?;
    js::define(env, obj, c"value", js::undefined(env)?)?;
    js::define(env, obj, c"done", js::boolean(env, true)?)?;
    js::settle(env, deferred, true, obj);
    Ok(JsValue { env, raw: promise })
}

#[napi]
impl WaitIterator {
    /// Not for `new`: iterators come from `for await` over an `EventCounter`
    /// or a `Timer` (their `[Symbol.asyncIterator]()`).
    /// @throws {TypeError} `ERR_ILLEGAL_CONSTRUCTOR`, always.
    #[napi(constructor)]
    pub fn illegal_constructor(env: napi::Env) -> Result<Self> {
        Err(error::illegal_constructor(
            env.raw(),
            "WaitIterator",
            "[Symbol.asyncIterator]()",
        ))
    }

    /// Waits for the next value: `{ value, done: false }`, or `{ done: true }`
    /// once the object is closed or the iterator returned.
    #[napi(ts_return_type = "Promise<IteratorResult<bigint, undefined>>")]
    pub fn next(&self, env: napi::Env) -> Result<JsValue> {
        let env = env.raw();
        let ended = {
            let me = self.inner.borrow();
            me.is_closed() && !me.is_lost()
        };
        if self.finished || ended {
            return done_result(env);
        }
        let undefined = JsValue {
            env,
            raw: js::undefined(env)?,
        };
        let raw = Inner::wait(&self.inner, env, undefined, Mode::Iter)?;
        Ok(JsValue { env, raw })
    }

    /// Ends the iteration (called by `break` in `for await`). The object stays open.
    #[napi(
        js_name = "return",
        ts_return_type = "Promise<IteratorResult<bigint, undefined>>"
    )]
    pub fn finish(&mut self, env: napi::Env) -> Result<JsValue> {
        self.finished = true;
        done_result(env.raw())
    }

    /// Returns the iterator itself.
    #[napi(
        well_known_symbol = "asyncIterator",
        ts_args_type = "",
        ts_return_type = "this"
    )]
    pub fn iter(&self, this: napi::bindgen_prelude::This<JsValue>) -> JsValue {
        this.object
    }
}

/// Which mechanism async waits use in this environment: `'uv_poll'` (Node:
/// a `uv_poll_t` on this environment's own event loop) or `'thread'` (runtimes
/// whose libuv functions must not be called, such as Bun: a helper thread per
/// waited fd that wakes the JS thread through a threadsafe function).
#[napi(ts_return_type = "'uv_poll' | 'thread'")]
pub fn wait_backend(env: napi::Env) -> Result<&'static str> {
    let state = crate::env::EnvState::get(env.raw())?;
    Ok(match state.backend {
        crate::env::Backend::Uv { .. } => "uv_poll",
        crate::env::Backend::Thread => "thread",
    })
}
