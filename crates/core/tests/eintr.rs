//! A signal handler installed without `SA_RESTART` (the lock-wait cancel's,
//! installed by the first contended lock wait; or any other library's, such
//! as Node's own `SIGUSR1` one) makes a blocking `read`/`write` return
//! `EINTR` when its signal lands on the blocked thread. The low-level
//! eventfd and timerfd calls retry then, as CPython's `os.read` does (PEP
//! 475) and as libuv does for Node's own fs calls: the signal interrupts
//! nothing the caller asked to stop. A separate test binary: the handler is
//! process-wide.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use linux_fd_core::eventfd::{eventfd, eventfd_read, eventfd_write, EfdFlags};
use linux_fd_core::lockwait::{blocking_waits_available, cancel_signal};
use linux_fd_core::timerfd::{timerfd_create, timerfd_read, timerfd_set, TimerSpec};

/// Runs `call` (which blocks until `unblock` runs) on this thread while
/// another thread sends it the cancel signal twice, 100 ms apart, then runs
/// `unblock` at about 300 ms. Joins that thread before returning, so the
/// signals never reach a thread that has gone; returns what `call` returned
/// and how long it took.
fn interrupted<T>(call: impl FnOnce() -> T, unblock: impl FnOnce() + Send + 'static) -> (T, Duration) {
    assert!(
        blocking_waits_available(),
        "the handler without SA_RESTART is installed"
    );
    // SAFETY: pthread_self has no preconditions. As a usize: musl's
    // pthread_t is a pointer, which cannot cross to another thread.
    let me = unsafe { libc::pthread_self() } as usize;
    let other = std::thread::spawn(move || {
        for _ in 0..2 {
            std::thread::sleep(Duration::from_millis(100));
            // SAFETY: `me` is the calling thread, alive: it joins this
            // thread before it returns from `interrupted`.
            let sent = unsafe { libc::pthread_kill(me as libc::pthread_t, cancel_signal()) };
            assert_eq!(sent, 0);
        }
        std::thread::sleep(Duration::from_millis(100));
        unblock();
    });
    let started = Instant::now();
    let got = call();
    let took = started.elapsed();
    other.join().unwrap();
    (got, took)
}

fn errno<T>(r: linux_fd_core::Result<T>) -> Result<T, linux_fd_core::Errno> {
    r.map_err(|e| e.errno)
}

/// It waited for `unblock` (about 300 ms), through both signals.
fn waited(took: Duration) {
    assert!(
        took >= Duration::from_millis(250),
        "returned after {took:?}, before the unblock"
    );
}

#[test]
fn blocking_reads_and_writes_retry_after_a_handler_without_sa_restart() {
    // eventfd read: blocks until the write.
    let fd = eventfd(0, EfdFlags::EFD_CLOEXEC).unwrap();
    let writer = fd.try_clone().unwrap();
    let (got, took) = interrupted(
        || errno(eventfd_read(fd.as_fd())),
        move || eventfd_write(writer.as_fd(), 5).unwrap(),
    );
    assert_eq!(got, Ok(5));
    waited(took);

    // eventfd write: blocks at the maximum until the read.
    eventfd_write(fd.as_fd(), u64::MAX - 1).unwrap();
    let reader = fd.try_clone().unwrap();
    let (got, took) = interrupted(
        || errno(eventfd_write(fd.as_fd(), 1)),
        move || assert_eq!(eventfd_read(reader.as_fd()).unwrap(), u64::MAX - 1),
    );
    assert_eq!(got, Ok(()));
    waited(took);
    assert_eq!(eventfd_read(fd.as_fd()).unwrap(), 1);

    // timerfd read: blocks until the timer fires at 400 ms.
    let tfd = timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC).unwrap();
    let spec = TimerSpec {
        value_ns: 400_000_000,
        interval_ns: 0,
    };
    timerfd_set(tfd.as_fd(), 0, spec).unwrap();
    let (got, took) = interrupted(|| errno(timerfd_read(tfd.as_fd())), || {});
    assert_eq!(got, Ok(1));
    waited(took);
}

/// A sync wait's slice (`wait_readable_for`, which `takeSync()`,
/// `acquireSync()` and `waitSync()` loop over so that `worker.terminate()`
/// and `process.exit()` can end them between slices) ends on time under a
/// signal every millisecond, as V8's CPU profiler sends `SIGPROF` to a
/// profiled thread. The kernel never restarts `poll(2)` after a handler, and
/// retrying with the whole timeout made the slice last as long as the
/// signals did (s47-eintr H1: `terminate()` of a worker in `takeSync()`
/// under `node --cpu-prof` never completed).
#[test]
fn a_poll_slice_ends_on_time_under_a_signal_every_millisecond() {
    use linux_fd_core::poll::wait_readable_for;
    assert!(blocking_waits_available());
    let fd = eventfd(0, EfdFlags::EFD_CLOEXEC).unwrap();
    // SAFETY: pthread_self has no preconditions (a usize: see `interrupted`).
    let me = unsafe { libc::pthread_self() } as usize;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let storm = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(3);
            while !stop.load(std::sync::atomic::Ordering::SeqCst) && Instant::now() < until {
                // SAFETY: `me` is the test's thread, alive until it joins this one.
                let sent = unsafe { libc::pthread_kill(me as libc::pthread_t, cancel_signal()) };
                assert_eq!(sent, 0);
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let started = Instant::now();
    let got = wait_readable_for(fd.as_fd(), 100).map_err(|e| e.errno);
    let took = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    storm.join().unwrap();
    assert_eq!(got, Ok(false), "timed out, not readable");
    assert!(
        took >= Duration::from_millis(100),
        "returned after {took:?}, before its timeout"
    );
    assert!(
        took < Duration::from_millis(1500),
        "returned after {took:?}, when the signals stopped"
    );
}
