//! A process-wide pool of threads for blocking jobs: the lock waits of
//! `lockwait`, which have no readiness notification and must occupy neither
//! a caller's event loop nor a shared threadpool.
//!
//! A job goes to an idle thread if there is one, else to a new thread. A
//! thread that finishes a job waits [`IDLE_TIMEOUT`] for the next one and
//! then exits, or exits at once if [`MAX_IDLE`] threads are idle already. A
//! job that blocks holds its thread, so concurrent jobs each have one.
//!
//! A job is told when its blocking part is over (the `finished` function it
//! is given): from then on its thread counts as available, so a job handed
//! over while the finished one still reports its result (possibly the very
//! job that report starts) waits for no new thread.
//!
//! Pool threads block every signal but the lock-wait cancel signal
//! ([`crate::lockwait::cancel_signal`]), as libuv's threadpool blocks them all.
//! How the Node binding uses the pool: docs/design.md, "Lock waits".

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// How long a pool thread waits for its next job before it exits.
#[cfg(not(test))]
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(1);
/// Longer in the unit tests, so that a stalled test thread on a loaded
/// machine does not see an idle thread leave before it hands it a job.
#[cfg(test)]
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(3);

/// At most this many pool threads wait for jobs; one more that finishes a
/// job exits at once.
pub const MAX_IDLE: usize = 4;

/// A pool thread's stack: a job blocks in a system call and then posts its
/// result; nothing deep runs on it.
const STACK_SIZE: usize = 256 * 1024;

/// A job, given the function to call once its blocking part is done.
type Task = Box<dyn FnOnce(&mut dyn FnMut()) + Send>;

struct Pool {
    state: Mutex<PoolState>,
    work: Condvar,
}

#[derive(Default)]
struct PoolState {
    /// Jobs handed to idle or finishing threads, not yet picked up. Never
    /// longer than `idle + finishing`: a job that finds no such thread gets
    /// a new one.
    queue: VecDeque<Task>,
    /// Threads waiting for a job.
    idle: usize,
    /// Threads whose job is reporting: each takes a queued job, if any,
    /// before it may go idle or exit.
    finishing: usize,
    /// Thread ids of the threads in the blocking part of a job.
    busy: Vec<i32>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        state: Mutex::new(PoolState::default()),
        work: Condvar::new(),
    })
}

/// What the pool holds right now: the number of idle threads, and the
/// thread ids of the threads in the blocking part of a job.
///
/// A thread leaves the busy list when its job calls `finished`, and counts
/// as idle only after the whole job (its report included) has returned.
pub fn threads() -> (usize, Vec<i32>) {
    let st = lock(&pool().state);
    (st.idle, st.busy.clone())
}

/// Runs `job` on a pool thread. `job` must call the function it is given
/// once its blocking part is done (or that happens when it returns). A job
/// that panics is caught, and the thread stays in the pool.
///
/// Fails only if a new thread was needed and could not be started; the job
/// is then dropped unrun.
pub fn submit(job: impl FnOnce(&mut dyn FnMut()) + Send + 'static) -> std::io::Result<()> {
    let task: Task = Box::new(job);
    let pool = pool();
    let mut st = lock(&pool.state);
    if st.queue.len() < st.idle + st.finishing {
        st.queue.push_back(task);
        drop(st);
        pool.work.notify_one();
        return Ok(());
    }
    drop(st);
    std::thread::Builder::new()
        .name("linux-fd-job".into())
        .stack_size(STACK_SIZE)
        .spawn(move || pool_thread(pool, task))
        .map(drop)
}

/// This thread's kernel thread id. The raw syscall: glibc's `gettid()`
/// wrapper is 2.30, newer than the oldest glibc the gnu builds support
/// (docs/platforms.md).
pub fn gettid() -> i32 {
    // SAFETY: SYS_gettid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

fn block_signals() {
    // SAFETY: sigset_t is plain data, filled by sigfillset; the mask change
    // affects only this pool thread. The cancel signal stays deliverable
    // (lockwait::lock_until unblocks it too).
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::sigdelset(&mut set, crate::lockwait::cancel_signal());
        libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

fn pool_thread(pool: &'static Pool, first: Task) {
    block_signals();
    let tid = gettid();
    let mut task = first;
    loop {
        lock(&pool.state).busy.push(tid);
        let mut finished = false;
        let mut finish = || {
            if !finished {
                finished = true;
                let mut st = lock(&pool.state);
                if let Some(i) = st.busy.iter().position(|&t| t == tid) {
                    st.busy.swap_remove(i);
                }
                st.finishing += 1;
            }
        };
        // A panicking job must not take the pool's bookkeeping with it.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task(&mut finish)));
        finish();
        let mut st = lock(&pool.state);
        st.finishing -= 1;
        // A job queued while this thread was finishing may count on it.
        if let Some(t) = st.queue.pop_front() {
            task = t;
            continue;
        }
        if st.idle >= MAX_IDLE {
            return;
        }
        st.idle += 1;
        let next = loop {
            if let Some(t) = st.queue.pop_front() {
                break Some(t);
            }
            let (guard, timeout) = pool
                .work
                .wait_timeout(st, IDLE_TIMEOUT)
                .unwrap_or_else(|e| e.into_inner());
            st = guard;
            if timeout.timed_out() && st.queue.is_empty() {
                break None;
            }
        };
        st.idle -= 1;
        match next {
            Some(t) => task = t,
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::{channel, Receiver};
    use std::time::Instant;

    /// The pool is process-wide: its tests take turns.
    static SERIAL: Mutex<()> = Mutex::new(());

    const LONG: Duration = Duration::from_secs(10);

    /// Waits until `cond` holds of `threads()`, or fails after 10 s.
    fn until(what: &str, cond: impl Fn(usize, &[i32]) -> bool) {
        let end = Instant::now() + LONG;
        loop {
            let (idle, busy) = threads();
            if cond(idle, &busy) {
                return;
            }
            assert!(Instant::now() < end, "{what}: idle {idle}, busy {busy:?}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Submits a job that reports its tid, then blocks until `go` delivers.
    fn blocking_job(go: Receiver<()>) -> Receiver<i32> {
        let (tx, rx) = channel();
        submit(move |finished| {
            let _ = tx.send(gettid());
            let _ = go.recv();
            finished();
        })
        .unwrap();
        rx
    }

    #[test]
    fn concurrent_jobs_each_get_a_thread_and_at_most_max_idle_stay() {
        let _turn = lock(&SERIAL);
        let n = MAX_IDLE + 2;
        let mut gos = Vec::new();
        let mut started = Vec::new();
        for _ in 0..n {
            let (go, rx) = channel();
            gos.push(go);
            started.push(blocking_job(rx));
        }
        // Every job is in its blocking part at once: none waits for another.
        let mut tids: Vec<i32> = started.iter().map(|r| r.recv_timeout(LONG).unwrap()).collect();
        until("all busy", |_, busy| busy.len() == n);
        tids.sort();
        tids.dedup();
        assert_eq!(tids.len(), n);
        for go in gos {
            go.send(()).unwrap();
        }
        until("idle after", |idle, busy| busy.is_empty() && idle == MAX_IDLE);
        // The idle threads exit after IDLE_TIMEOUT without a job.
        until("idle threads exit", |idle, _| idle == 0);
    }

    #[test]
    fn an_idle_thread_takes_the_next_job_and_busy_ends_at_finished() {
        let _turn = lock(&SERIAL);
        until("no thread left from another test", |idle, busy| {
            idle == 0 && busy.is_empty()
        });
        let (go, rx) = channel();
        let first = blocking_job(rx);
        let tid = first.recv_timeout(LONG).unwrap();
        until("busy", |_, busy| busy == [tid]);
        // After `finished`, the thread has left busy while the job still runs.
        let (after_tx, after_rx) = channel();
        let (stop_tx, stop_rx) = channel::<()>();
        go.send(()).unwrap();
        until("idle", |idle, busy| idle == 1 && busy.is_empty());
        submit(move |finished| {
            finished();
            let _ = after_tx.send((gettid(), threads().1));
            let _ = stop_rx.recv();
        })
        .unwrap();
        let (second, busy_after_finished) = after_rx.recv_timeout(LONG).unwrap();
        assert_eq!(second, tid, "the idle thread took the job");
        assert!(!busy_after_finished.contains(&tid));
        stop_tx.send(()).unwrap();
        until("idle again", |idle, _| idle == 1);
    }

    #[test]
    fn a_panicking_job_leaves_the_thread_in_the_pool() {
        let _turn = lock(&SERIAL);
        until("no thread left from another test", |idle, busy| {
            idle == 0 && busy.is_empty()
        });
        submit(|_| panic!("a job that panics (expected in this test)")).unwrap();
        until("idle after the panic", |idle, busy| idle == 1 && busy.is_empty());
        let (tx, rx) = channel();
        submit(move |_| {
            let _ = tx.send(7);
        })
        .unwrap();
        assert_eq!(rx.recv_timeout(LONG).unwrap(), 7);
    }

    #[test]
    fn pool_threads_block_signals_but_the_cancel_signal() {
        let _turn = lock(&SERIAL);
        let (tx, rx) = channel();
        submit(move |_| {
            // SAFETY: sigset_t is plain data; a null new set only reads the mask.
            let mask = unsafe {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::pthread_sigmask(libc::SIG_SETMASK, std::ptr::null(), &mut set);
                set
            };
            // SAFETY: `mask` is an initialised sigset_t.
            let has = |sig| unsafe { libc::sigismember(&mask, sig) } == 1;
            let _ = tx.send((
                has(libc::SIGINT),
                has(libc::SIGTERM),
                has(crate::lockwait::cancel_signal()),
            ));
        })
        .unwrap();
        assert_eq!(rx.recv_timeout(LONG).unwrap(), (true, true, false));
    }
}
