//! Run one blocking job on a dedicated thread and deliver its result on the JS
//! thread, through a Node-API threadsafe function. Used for lock waits, which
//! have no readiness notification and must occupy neither the event loop nor
//! libuv's threadpool (4 threads shared by every worker).
//!
//! Lifetime rule (Node-API): when the environment is torn down, Node destroys
//! a threadsafe function even while threads still hold it, so a thread must
//! never touch it afterwards. The [`Gate`] makes that race-free: the
//! finalizer marks the gate closed *under its mutex*, and the thread holds the
//! same mutex across its `napi_call_threadsafe_function` and
//! `napi_release_threadsafe_function`.

use std::ffi::c_void;
use std::ptr;
use std::sync::{Arc, Mutex};

use napi::sys;

/// Shared between a worker thread and the threadsafe function's finalizer.
pub struct Gate {
    closed: Mutex<bool>,
    on_close: Box<dyn Fn() + Send + Sync>,
}

impl Gate {
    /// A gate that runs `on_close` (e.g. cancel the job) when the environment
    /// tears the threadsafe function down.
    pub fn new(on_close: impl Fn() + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self {
            closed: Mutex::new(false),
            on_close: Box::new(on_close),
        })
    }

    /// Marks the threadsafe function destroyed (from its finalizer) and runs `on_close`.
    pub fn close(&self) {
        *self.closed.lock().unwrap_or_else(|e| e.into_inner()) = true;
        (self.on_close)();
    }

    /// Runs `f` only if the threadsafe function still exists, with the guarantee
    /// that it is not destroyed while `f` runs.
    pub fn with_open<R>(&self, f: impl FnOnce() -> R) -> Option<R> {
        let closed = self.closed.lock().unwrap_or_else(|e| e.into_inner());
        if *closed {
            None
        } else {
            Some(f())
        }
    }
}

struct Context<T, D> {
    done: Option<D>,
    _t: std::marker::PhantomData<T>,
}

struct SendTsfn(sys::napi_threadsafe_function);
// SAFETY: a threadsafe function is designed to be called from any thread; the
// Gate serialises every use against its destruction.
unsafe impl Send for SendTsfn {}

/// Runs `work` on a new thread, then `done(env, result)` on the JS thread.
///
/// While the job runs, the threadsafe function keeps the event loop alive
/// (like a pending fs call). If the environment goes away first, `gate`'s
/// `on_close` runs, and the result is dropped on the worker thread.
pub fn spawn<T, W, D>(env: sys::napi_env, gate: Arc<Gate>, work: W, done: D) -> napi::Result<()>
where
    T: Send + 'static,
    W: FnOnce() -> T + Send + 'static,
    D: FnOnce(sys::napi_env, T) + 'static,
{
    let name = super::env::string(env, "linux-fd:job")?;
    let context = Box::into_raw(Box::new(Context::<T, D> {
        done: Some(done),
        _t: std::marker::PhantomData,
    }));
    let finalize_data = Arc::into_raw(gate.clone());
    let mut tsfn = ptr::null_mut();
    // SAFETY: env is live; context and finalize_data are reclaimed exactly once
    // in finalize::<T, D>. One thread (the job's) holds the function.
    let st = unsafe {
        sys::napi_create_threadsafe_function(
            env,
            ptr::null_mut(),
            ptr::null_mut(),
            name,
            0,
            1,
            finalize_data as *mut c_void,
            Some(finalize::<T, D>),
            context.cast(),
            Some(call_js::<T, D>),
            &mut tsfn,
        )
    };
    if st != sys::Status::napi_ok {
        // SAFETY: creation failed; nothing else owns them.
        unsafe {
            drop(Box::from_raw(context));
            drop(Arc::from_raw(finalize_data));
        }
        return super::env::check(st);
    }
    let handle = SendTsfn(tsfn);
    let spawned = std::thread::Builder::new()
        .name("linux-fd-job".into())
        .spawn(move || {
            let handle = handle;
            let result = Box::into_raw(Box::new(work()));
            let delivered = gate.with_open(|| {
                // SAFETY: the gate is open, so the function exists until we return;
                // this thread holds its one count.
                let st = unsafe {
                    sys::napi_call_threadsafe_function(
                        handle.0,
                        result.cast(),
                        sys::ThreadsafeFunctionCallMode::blocking,
                    )
                };
                // SAFETY: as above; releasing this thread's count once.
                unsafe {
                    sys::napi_release_threadsafe_function(
                        handle.0,
                        sys::ThreadsafeFunctionReleaseMode::release,
                    )
                };
                st == sys::Status::napi_ok
            });
            if delivered != Some(true) {
                // SAFETY: the call did not take the result; it is still ours.
                drop(unsafe { Box::from_raw(result) });
            }
        });
    if spawned.is_err() {
        // SAFETY: no thread holds tsfn; releasing its one count destroys it.
        unsafe { sys::napi_release_threadsafe_function(tsfn, sys::ThreadsafeFunctionReleaseMode::release) };
        return Err(napi::Error::new(
            napi::Status::GenericFailure,
            "could not start a thread",
        ));
    }
    Ok(())
}

/// The job's threadsafe-function `call_js`.
///
/// # Safety
/// Only Node calls it, once per item queued with
/// `napi_call_threadsafe_function`, with the `context` given in `spawn`, and
/// a null env when the env is going away.
unsafe extern "C" fn call_js<T, D: FnOnce(sys::napi_env, T)>(
    env: sys::napi_env,
    _js_cb: sys::napi_value,
    context: *mut c_void,
    data: *mut c_void,
) {
    // Node hands each queued item to call_js exactly once (with a null env
    // if the env is going away).
    // SAFETY: data is the Box<T> the job thread passed to a successful
    // napi_call_threadsafe_function, so it is reclaimed once, here.
    let result = unsafe { Box::from_raw(data as *mut T) };
    if env.is_null() {
        return; // the environment is going away: just drop the result
    }
    // SAFETY: context is the Box<Context> made in spawn, alive until finalize.
    let ctx = unsafe { &mut *(context as *mut Context<T, D>) };
    if let Some(done) = ctx.done.take() {
        done(env, *result);
    }
}

/// The job's threadsafe-function finalizer.
///
/// # Safety
/// Only Node calls it, once, with the `data` and `context` given in `spawn`.
unsafe extern "C" fn finalize<T, D>(_env: sys::napi_env, data: *mut c_void, context: *mut c_void) {
    // SAFETY: data is the Arc<Gate> and context the Box<Context> from spawn,
    // each reclaimed once, here.
    let gate = unsafe { Arc::from_raw(data as *const Gate) };
    gate.close();
    // SAFETY: context is the Box<Context> from spawn; Node calls no call_js
    // after the finalizer, so this is its last use.
    drop(unsafe { Box::from_raw(context as *mut Context<T, D>) });
}
