//! Blocking jobs off the JS thread, their results delivered on it. Used for
//! lock waits, which have no readiness notification and must occupy neither
//! the event loop nor libuv's threadpool (4 threads shared by every worker).
//!
//! Two persistent pieces, so that a job costs a hand-over to a waiting thread,
//! the job itself and one async callback (docs/design.md, "Lock waits"):
//! - **The pool**: process-wide threads, `linux_fd_core::pool`.
//! - **The mailbox**: one threadsafe function per environment, made on its
//!   first job and kept until the environment's teardown. It keeps the event
//!   loop alive only while some job of the environment that was started
//!   referenced has not reported (`napi_ref_threadsafe_function` /
//!   `napi_unref_threadsafe_function`).
//!
//! Lifetime rule (Node-API): when the environment is torn down, Node destroys
//! a threadsafe function even while threads still hold it, so a thread must
//! never touch it afterwards. The [`Outbox`] makes that race-free: the
//! finalizer takes the function out *under its mutex*, and a pool thread
//! holds the same mutex across its `napi_call_threadsafe_function`. The
//! finalizer (or the env cleanup hook, which Deno needs) then runs each
//! pending job's `on_close` (which cancels it); the results of those jobs
//! are dropped on their pool threads, and results posted but not yet taken
//! on the JS thread are dropped by that `close()`.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::c_void;
use std::ptr;
use std::rc::{Rc, Weak};
use std::sync::{Arc, Mutex, MutexGuard};

use linux_fd_core::pool;
use napi::sys;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------
// The mailbox

/// The thread-side half of an environment's mailbox.
struct Outbox {
    state: Mutex<OutboxState>,
}

struct OutboxState {
    /// The threadsafe function, until the environment's teardown takes it.
    tsfn: Option<SendTsfn>,
    /// What to do with each pending job if the environment goes away.
    on_close: HashMap<u64, Box<dyn FnOnce() + Send>>,
    /// Results posted to the JS thread and not yet taken there. They stay
    /// here, not in the runtime's queue, so that a teardown drops them (a
    /// result's `Drop` undoes what no one will own, e.g. a granted lock):
    /// Deno never runs or frees what is left in a dead worker's queue.
    ready: HashMap<u64, Box<dyn Any + Send>>,
}

struct SendTsfn(sys::napi_threadsafe_function);
// SAFETY: a threadsafe function is designed to be called from any thread; the
// Outbox serialises every use against its destruction.
unsafe impl Send for SendTsfn {}

impl Outbox {
    /// Posts a job's result to the JS thread, or drops it here if the
    /// environment is gone.
    fn deliver(&self, id: u64, result: Box<dyn Any + Send>) {
        let mut st = lock(&self.state);
        let hook = st.on_close.remove(&id);
        let unsent = match st.tsfn.as_ref().map(|t| t.0) {
            None => Some(result),
            Some(tsfn) => {
                st.ready.insert(id, result);
                let raw = Box::into_raw(Box::new(id));
                // With an unbounded queue a nonblocking call fails only
                // while the function closes.
                // SAFETY: the function exists while we hold the mutex (the
                // finalizer takes it out under the same mutex).
                let status = unsafe {
                    sys::napi_call_threadsafe_function(
                        tsfn,
                        raw.cast(),
                        sys::ThreadsafeFunctionCallMode::nonblocking,
                    )
                };
                if status == sys::Status::napi_ok {
                    None
                } else {
                    // SAFETY: the call did not take the id box; it is still ours.
                    drop(unsafe { Box::from_raw(raw) });
                    st.ready.remove(&id)
                }
            }
        };
        drop(st);
        drop(hook);
        drop(unsent);
    }

    /// The result of job `id`, once, on the JS thread.
    fn take(&self, id: u64) -> Option<Box<dyn Any + Send>> {
        lock(&self.state).ready.remove(&id)
    }

    /// From the finalizer or the cleanup hook: no call after this one;
    /// cancel what is pending, and drop the results never taken.
    fn close(&self) {
        let (hooks, results): (Vec<_>, Vec<_>) = {
            let mut st = lock(&self.state);
            st.tsfn = None;
            (
                st.on_close.drain().map(|(_, f)| f).collect(),
                st.ready.drain().map(|(_, r)| r).collect(),
            )
        };
        for f in hooks {
            f();
        }
        drop(results);
    }
}

type Done = Box<dyn FnOnce(sys::napi_env, Box<dyn Any + Send>)>;

/// The JS-thread half: one per environment, owned by its threadsafe function.
struct Mailbox {
    env: sys::napi_env,
    tsfn: Cell<sys::napi_threadsafe_function>,
    outbox: Arc<Outbox>,
    /// Each job's `done`, and whether it was started referenced.
    pending: RefCell<HashMap<u64, (Done, bool)>>,
    next_id: Cell<u64>,
    /// Referenced jobs that have not reported; the function is ref'd while
    /// non-zero.
    active: Cell<usize>,
}

thread_local! {
    /// This thread's environments' mailboxes. Weak: each is owned by its
    /// threadsafe function, whose finalizer removes it from here. Nothing is
    /// released through this list at thread exit.
    static MAILBOXES: RefCell<Vec<(usize, Weak<Mailbox>)>> = const { RefCell::new(Vec::new()) };
}

impl Mailbox {
    fn get(env: sys::napi_env) -> napi::Result<Rc<Mailbox>> {
        let found = MAILBOXES.with(|m| {
            m.borrow()
                .iter()
                .find(|(e, _)| *e == env as usize)
                .and_then(|(_, w)| w.upgrade())
        });
        if let Some(mb) = found {
            return Ok(mb);
        }
        let outbox = Arc::new(Outbox {
            state: Mutex::new(OutboxState {
                tsfn: None,
                on_close: HashMap::new(),
                ready: HashMap::new(),
            }),
        });
        let mb = Rc::new(Mailbox {
            env,
            tsfn: Cell::new(ptr::null_mut()),
            outbox: outbox.clone(),
            pending: RefCell::new(HashMap::new()),
            next_id: Cell::new(1),
            active: Cell::new(0),
        });
        let context = Rc::into_raw(mb.clone());
        let finalize_data = Arc::into_raw(outbox.clone());
        // SAFETY: env is live; context and finalize_data are reclaimed exactly
        // once, in finalize. The one thread count is never released: the
        // function lives until the environment's teardown destroys it.
        let made = unsafe {
            super::env::threadsafe_function(
                env,
                "linux-fd:job",
                context as *mut c_void,
                finalize_data as *mut c_void,
                Some(finalize),
                Some(call_js),
            )
        };
        let tsfn = match made {
            Ok(tsfn) => tsfn,
            Err(e) => {
                // SAFETY: creation failed; nothing else owns them.
                unsafe {
                    drop(Rc::from_raw(context));
                    drop(Arc::from_raw(finalize_data));
                }
                return Err(e);
            }
        };
        mb.tsfn.set(tsfn);
        lock(&outbox.state).tsfn = Some(SendTsfn(tsfn));
        MAILBOXES.with(|m| m.borrow_mut().push((env as usize, Rc::downgrade(&mb))));
        // The hook owns a share of the outbox: its address, the hook's
        // argument, cannot be reused while the hook is registered (Node
        // refuses a second hook with the same function and argument).
        let hook_arg = Arc::into_raw(outbox.clone());
        // SAFETY: env is live; hook_arg is reclaimed once, by the hook, or
        // here if the hook was not registered.
        if unsafe { sys::napi_add_env_cleanup_hook(env, Some(on_env_teardown), hook_arg as *mut c_void) }
            != sys::Status::napi_ok
        {
            // SAFETY: not registered, so still ours.
            drop(unsafe { Arc::from_raw(hook_arg) });
        }
        // Idle, it must not keep the loop alive.
        mb.set_ref(false);
        Ok(mb)
    }

    /// Whether the function keeps the loop alive: while a job is pending.
    fn set_ref(&self, refed: bool) {
        let tsfn = self.tsfn.get();
        // SAFETY: called on the JS thread while the function exists (the
        // mailbox is only reachable before its finalizer has run).
        unsafe {
            if refed {
                sys::napi_ref_threadsafe_function(self.env, tsfn);
            } else {
                sys::napi_unref_threadsafe_function(self.env, tsfn);
            }
        }
    }
}

/// Runs `work` on a pool thread, then `done(env, result)` on the JS thread:
/// `Some` of what `work` returned, or `None` if it panicked.
///
/// `work` is dropped (with everything it owns) before the result is posted.
/// A panic is caught on the pool thread and reported as `None`, so the job
/// still settles and stops keeping the event loop alive (uncaught, it left
/// the job pending for good: its caller's promise never settled and the
/// process could not exit).
/// While the job is pending, the environment's event loop stays alive (like a
/// pending fs call) if `refed`; unreferenced, it does not (like an unref'd
/// timer), and the process may exit with it pending. If the environment goes
/// away first, `on_close` runs (it
/// should make `work` return soon), `done` is dropped unrun on the JS thread,
/// and the result on the pool thread (or where the teardown runs, if it was
/// already posted).
///
/// # Errors
/// A negative errno, nothing run: `-EAGAIN` if no pool thread was idle and
/// none could be started (the process is at its thread limit), `-EIO` if
/// the environment's mailbox could not be made (Node-API refused its
/// threadsafe function). Told apart so that only the first reads as "no
/// thread" (s46-diff L5).
pub fn spawn<T, W, D>(
    env: sys::napi_env,
    refed: bool,
    on_close: impl FnOnce() + Send + 'static,
    work: W,
    done: D,
) -> Result<(), i32>
where
    T: Send + 'static,
    W: FnOnce() -> T + Send + 'static,
    D: FnOnce(sys::napi_env, Option<T>) + 'static,
{
    let mb = Mailbox::get(env).map_err(|_| -libc::EIO)?;
    let id = mb.next_id.get();
    mb.next_id.set(id + 1);
    lock(&mb.outbox.state).on_close.insert(id, Box::new(on_close));
    let outbox = mb.outbox.clone();
    let submitted = pool::submit(move |finished| {
        let result: Box<dyn Any + Send> = Box::new(run_caught(work));
        finished();
        outbox.deliver(id, result);
    });
    if submitted.is_err() {
        lock(&mb.outbox.state).on_close.remove(&id);
        return Err(-libc::EAGAIN);
    }
    let done: Done = Box::new(move |env, result| {
        if let Ok(t) = result.downcast::<Option<T>>() {
            done(env, *t);
        }
    });
    mb.pending.borrow_mut().insert(id, (done, refed));
    if refed {
        if mb.active.get() == 0 {
            mb.set_ref(true);
        }
        mb.active.set(mb.active.get() + 1);
    }
    Ok(())
}

/// Runs a job's blocking part: `None` if it panicked (the panic message has
/// gone to stderr through the panic hook, as for any Rust panic).
fn run_caught<T>(work: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).ok()
}

/// The mailbox's threadsafe-function `call_js`.
///
/// # Safety
/// Only Node calls it, once per item queued with
/// `napi_call_threadsafe_function`, with the `context` given at creation;
/// with a null env when the function is being destroyed (possibly after
/// `finalize`, so `context` is then not touched).
unsafe extern "C" fn call_js(
    env: sys::napi_env,
    _js_cb: sys::napi_value,
    context: *mut c_void,
    data: *mut c_void,
) {
    // SAFETY: data is the Box<u64> (the job's id) a pool thread passed to a
    // successful napi_call_threadsafe_function, so it is reclaimed once, here.
    let id = *unsafe { Box::from_raw(data as *mut u64) };
    if env.is_null() {
        return; // the environment is going away: close() drops the result
    }
    // SAFETY: with a live env, call_js runs before finalize, which is what
    // releases the mailbox that context points to.
    let mb = unsafe { &*(context as *const Mailbox) };
    let result = mb.outbox.take(id);
    let Some((done, refed)) = mb.pending.borrow_mut().remove(&id) else {
        return; // never: each job is posted once, after spawn() returned
    };
    if let Some(result) = result {
        done(env, result);
    }
    // Counted down after `done`: a job it starts keeps the count above 0,
    // so the function is not unref'd and ref'd again in between.
    if refed {
        let active = mb.active.get().saturating_sub(1);
        mb.active.set(active);
        if active == 0 {
            mb.set_ref(false);
        }
    }
}

/// The environment's cleanup hook (no Node-API call): cancels its pending
/// jobs and stops all delivery, as the finalizer below does. For runtimes
/// that never finalize a live threadsafe function when an environment goes
/// away (Deno, measured: a worker terminated during a `lockFile` wait left
/// its job to take the lock once free and hold it for good). Idempotent:
/// the finalizer, if it comes, finds nothing left to cancel.
///
/// # Safety
/// Only the runtime calls it, once, with the `Arc<Outbox>` share given at
/// registration.
unsafe extern "C" fn on_env_teardown(arg: *mut c_void) {
    // SAFETY: arg is the hook's own Arc<Outbox> (Mailbox::get), reclaimed once, here.
    let outbox = unsafe { Arc::from_raw(arg as *const Outbox) };
    outbox.close();
}

/// The mailbox's threadsafe-function finalizer: the environment is going away.
///
/// # Safety
/// Only Node calls it, once, on the JS thread, with the `data` and `context`
/// given at creation.
unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut c_void, context: *mut c_void) {
    // SAFETY: data is the Arc<Outbox> and context the Rc<Mailbox> made in
    // Mailbox::get, each reclaimed once, here.
    let (outbox, mb) = unsafe {
        (
            Arc::from_raw(data as *const Outbox),
            Rc::from_raw(context as *const Mailbox),
        )
    };
    outbox.close();
    let env = mb.env as usize;
    MAILBOXES.with(|m| m.borrow_mut().retain(|(e, _)| *e != env));
    // The pending `done`s (and what they hold) are dropped here, on the JS
    // thread; their results, on the pool threads or in `close()` above.
    let pending: Vec<_> = mb.pending.borrow_mut().drain().collect();
    drop(pending);
    drop(mb);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_job_reports_none_and_drops_what_it_owns() {
        struct Flag(Arc<std::sync::atomic::AtomicBool>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let owned = Flag(dropped.clone());
        let r: Option<i32> = run_caught(move || {
            let _keep = &owned;
            panic!("a job that panics (expected in this test)")
        });
        assert_eq!(r, None);
        assert!(dropped.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!(run_caught(|| 7), Some(7));
    }
}
