//! timerfd with real clocks: arming, expiry counts, relative gettime, and
//! the seconds/nanoseconds conversions the binding uses.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use linux_fd_core::timerfd::*;
use linux_fd_core::Errno;

#[test]
fn a_one_shot_timer_expires_once_after_its_delay() {
    let fd = timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC | libc::TFD_NONBLOCK).unwrap();
    assert_eq!(timerfd_read(fd.as_fd()).unwrap_err().errno, Errno::EAGAIN);
    let start = Instant::now();
    timerfd_settime(
        fd.as_fd(),
        0,
        TimerSpec {
            value_ns: 20_000_000,
            interval_ns: 0,
        },
    )
    .unwrap();
    linux_fd_core::poll::wait_readable(fd.as_fd()).unwrap();
    assert!(start.elapsed() >= Duration::from_millis(20));
    assert_eq!(timerfd_read(fd.as_fd()).unwrap(), 1);
    assert_eq!(
        timerfd_gettime(fd.as_fd()).unwrap(),
        TimerSpec::default(),
        "one-shot disarms itself"
    );
}

#[test]
fn a_periodic_timer_counts_missed_ticks() {
    let fd = timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC | libc::TFD_NONBLOCK).unwrap();
    timerfd_settime(
        fd.as_fd(),
        0,
        TimerSpec {
            value_ns: 5_000_000,
            interval_ns: 5_000_000,
        },
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(32));
    let n = timerfd_read(fd.as_fd()).unwrap();
    assert!(n >= 5, "expirations counted while nobody read: {n}");
    let cur = timerfd_gettime(fd.as_fd()).unwrap();
    assert_eq!(cur.interval_ns, 5_000_000);
    assert!(cur.value_ns <= 5_000_000);
}

#[test]
fn settime_returns_the_previous_setting() {
    let fd = timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC).unwrap();
    let old = timerfd_settime(
        fd.as_fd(),
        0,
        TimerSpec {
            value_ns: 10 * NSEC_PER_SEC,
            interval_ns: 3,
        },
    )
    .unwrap();
    assert_eq!(old, TimerSpec::default());
    let old = timerfd_settime(fd.as_fd(), 0, TimerSpec::default()).unwrap();
    assert!(old.value_ns > 9 * NSEC_PER_SEC && old.value_ns <= 10 * NSEC_PER_SEC);
    assert_eq!(old.interval_ns, 3);
}

#[test]
fn bad_clocks_and_fds_are_errors() {
    assert_eq!(timerfd_create(12345, 0).unwrap_err().errno, Errno::EINVAL);
    let efd = linux_fd_core::eventfd::eventfd(0, linux_fd_core::eventfd::EfdFlags::EFD_CLOEXEC).unwrap();
    assert_eq!(timerfd_gettime(efd.as_fd()).unwrap_err().errno, Errno::EINVAL);
    // Unknown settime flags are EINVAL...
    let fd = timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC).unwrap();
    let e = timerfd_settime(
        fd.as_fd(),
        0x4000_0000,
        TimerSpec {
            value_ns: 1,
            interval_ns: 0,
        },
    );
    assert_eq!(e.unwrap_err().errno, Errno::EINVAL);
    // ...but TFD_TIMER_CANCEL_ON_SET on anything other than an absolute
    // realtime timer is silently ignored by the kernel (timerfd_setup_cancel),
    // which is why the Timer class checks it itself.
    let ok = timerfd_settime(
        fd.as_fd(),
        libc::TFD_TIMER_CANCEL_ON_SET,
        TimerSpec {
            value_ns: 1,
            interval_ns: 0,
        },
    );
    assert!(ok.is_ok());
}

#[test]
fn seconds_convert_to_nanoseconds_without_reaching_1e9_in_the_fraction() {
    assert_eq!(secs_to_ns(0.0), Some(0));
    assert_eq!(secs_to_ns(1.5), Some(1_500_000_000));
    assert_eq!(secs_to_ns(0.9999999999), Some(1_000_000_000));
    assert_eq!(secs_to_ns(-0.1), None);
    assert_eq!(secs_to_ns(f64::NAN), None);
    assert_eq!(secs_to_ns(f64::INFINITY), None);
    assert_eq!(ns_to_secs(2_500_000_000), 2.5);
}

#[test]
fn alarm_clocks_need_a_capability() {
    match timerfd_create(libc::CLOCK_BOOTTIME_ALARM, libc::TFD_CLOEXEC) {
        Ok(_) => eprintln!("CLOCK_BOOTTIME_ALARM allowed here (CAP_WAKE_ALARM held)"),
        Err(e) => assert!(matches!(e.errno, Errno::EPERM | Errno::EINVAL), "{e}"),
    }
}
