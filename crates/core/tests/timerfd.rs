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
fn set_arms_and_disarms_like_settime_and_fails_the_same_way() {
    let fd = timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC).unwrap();
    timerfd_set(
        fd.as_fd(),
        0,
        TimerSpec {
            value_ns: 10 * NSEC_PER_SEC,
            interval_ns: 3,
        },
    )
    .unwrap();
    let cur = timerfd_gettime(fd.as_fd()).unwrap();
    assert!(cur.value_ns > 9 * NSEC_PER_SEC && cur.value_ns <= 10 * NSEC_PER_SEC);
    assert_eq!(cur.interval_ns, 3);
    timerfd_set(fd.as_fd(), 0, TimerSpec::default()).unwrap();
    assert_eq!(timerfd_gettime(fd.as_fd()).unwrap(), TimerSpec::default());
    // Bad flags, and an fd that is not a timerfd, are EINVAL as for settime.
    let armed = TimerSpec {
        value_ns: 1,
        interval_ns: 0,
    };
    let e = timerfd_set(fd.as_fd(), 0x4000_0000, armed).unwrap_err();
    assert_eq!((e.errno, e.syscall), (Errno::EINVAL, "timerfd_settime"));
    let efd = linux_fd_core::eventfd::eventfd(0, linux_fd_core::eventfd::EfdFlags::EFD_CLOEXEC).unwrap();
    assert_eq!(
        timerfd_set(efd.as_fd(), 0, armed).unwrap_err().errno,
        Errno::EINVAL
    );
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
fn a_read_of_no_bytes_from_a_file_that_is_not_a_timerfd_is_einval_not_0_ticks() {
    // A 0-byte read is 0 ticks only from a timerfd (the clock stepped back
    // past a periodic tick); /dev/null at its end, or a pipe whose writer
    // closed, stays EINVAL (s40-diff L4).
    let null = std::fs::File::open("/dev/null").unwrap();
    assert_eq!(timerfd_read(null.as_fd()).unwrap_err().errno, Errno::EINVAL);
    assert_eq!(timerfd_try_read(null.as_fd()).unwrap_err().errno, Errno::EINVAL);
    let (r, w) = nix::unistd::pipe().unwrap();
    drop(w);
    assert_eq!(timerfd_read(r.as_fd()).unwrap_err().errno, Errno::EINVAL);
}

/// `TFD_IOC_SET_TICKS` (`_IOW('T', 0, u64)`, `CONFIG_CHECKPOINT_RESTORE`).
const TFD_IOC_SET_TICKS: u32 = 0x4008_5400;

#[test]
fn a_read_of_no_bytes_from_a_real_timerfd_is_0_ticks_not_einval() {
    // The read of no bytes that a clock stepped back past a periodic
    // timer's expiration gives (s40-timer M1), made without touching a
    // clock (s46-timer): an expired periodic timer's count set to 2^64-1,
    // read once its interval has passed once more, adds one overrun, and the
    // u64 wraps to 0 (fs/timerfd.c, timerfd_read_iter). The window for
    // exactly one more overrun is [310, 610) ms after arming; a round that
    // misses it is tried again.
    let fd = timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC).unwrap();
    for _ in 0..5 {
        let armed = Instant::now();
        let spec = TimerSpec {
            value_ns: 10_000_000,
            interval_ns: 300_000_000,
        };
        timerfd_settime(fd.as_fd(), 0, spec).unwrap();
        std::thread::sleep(Duration::from_millis(450));
        let max = u64::MAX;
        // SAFETY: the request reads one u64 through the pointer, which
        // points to a live u64 for the whole call.
        if unsafe { libc::ioctl(std::os::fd::AsRawFd::as_raw_fd(&fd), TFD_IOC_SET_TICKS as _, &max) } < 0 {
            eprintln!("TFD_IOC_SET_TICKS unavailable ({}): skipped", Errno::last());
            return;
        }
        let r = timerfd_read(fd.as_fd());
        let ms = armed.elapsed().as_millis();
        if !(310..600).contains(&ms) {
            continue;
        }
        assert_eq!(r.unwrap(), 0, "read {ms} ms after arming");
        return;
    }
    panic!("no round read inside the window: a machine too loaded");
}

#[test]
fn a_count_of_0_from_a_file_that_is_not_a_timerfd_is_einval() {
    // A timerfd never hands out a count of 0 (it returns no bytes, or
    // waits), so 8 zero bytes come from something else: /dev/zero read as
    // 0 ticks, and "read again" looped for ever (s46-timer L3).
    let zero = std::fs::File::open("/dev/zero").unwrap();
    assert_eq!(timerfd_read(zero.as_fd()).unwrap_err().errno, Errno::EINVAL);
    assert_eq!(timerfd_try_read(zero.as_fd()).unwrap_err().errno, Errno::EINVAL);
    // A non-zero count from another file is read as it is, as Python's
    // os.read would: only 0 is a value a timerfd cannot give.
    let (r, w) = nix::unistd::pipe().unwrap();
    nix::unistd::write(&w, &7u64.to_ne_bytes()).unwrap();
    assert_eq!(timerfd_read(r.as_fd()).unwrap(), 7);
}

#[test]
fn seconds_convert_to_nanoseconds_without_reaching_1e9_in_the_fraction() {
    assert_eq!(secs_to_ns(0.0), Some(0));
    assert_eq!(secs_to_ns(-0.0), Some(0));
    assert_eq!(secs_to_ns(1.5), Some(1_500_000_000));
    assert_eq!(secs_to_ns(0.9999999999), Some(1_000_000_000));
    assert_eq!(secs_to_ns(-0.1), None);
    assert_eq!(secs_to_ns(f64::NAN), None);
    assert_eq!(secs_to_ns(f64::INFINITY), None);
    assert_eq!(ns_to_secs(2_500_000_000), 2.5);
    assert_eq!(ms_to_ns(15.0), Some(15_000_000));
    assert_eq!(ms_to_ns(0.0000015), Some(2));
    assert_eq!(ns_to_ms(15_000_001), 15.000001);
}

#[test]
fn a_positive_time_below_1_ns_is_1_ns_never_0() {
    // 0 would disarm the timer (or make a periodic timer one-shot).
    assert_eq!(secs_to_ns(1e-10), Some(1));
    assert_eq!(secs_to_ns(f64::MIN_POSITIVE), Some(1));
    assert_eq!(secs_to_ns(5e-324), Some(1));
    assert_eq!(ms_to_ns(1e-7), Some(1));
    assert_eq!(ms_to_ns(4e-7), Some(1));
    // Above 1 ns, the nearest nanosecond.
    assert_eq!(secs_to_ns(1.4e-9), Some(1));
    assert_eq!(secs_to_ns(1.6e-9), Some(2));
}

#[test]
fn times_beyond_ktime_max_are_ktime_max_as_the_kernel_treats_them() {
    assert_eq!(KTIME_MAX_NS, i64::MAX as u64);
    assert_eq!(secs_to_ns(9_223_372_035.5), Some(9_223_372_035_500_000_000));
    assert_eq!(secs_to_ns(9_223_372_036.0), Some(KTIME_MAX_NS));
    assert_eq!(secs_to_ns(1e16), Some(KTIME_MAX_NS));
    assert_eq!(secs_to_ns(9.2e18), Some(KTIME_MAX_NS));
    assert_eq!(ms_to_ns(1e16), Some(KTIME_MAX_NS));
    assert_eq!(ms_to_ns(f64::MAX), Some(KTIME_MAX_NS));
    // The kernel takes it: it arms, and reports at most KTIME_MAX (the
    // remaining time of a relative timer is then a little less).
    let fd = timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC | libc::TFD_NONBLOCK).unwrap();
    let far = TimerSpec {
        value_ns: KTIME_MAX_NS,
        interval_ns: KTIME_MAX_NS,
    };
    timerfd_settime(fd.as_fd(), 0, far).unwrap();
    let cur = timerfd_gettime(fd.as_fd()).unwrap();
    assert!(cur.value_ns > KTIME_MAX_NS / 2, "{cur:?}");
    assert_eq!(cur.interval_ns, KTIME_MAX_NS);
    assert_eq!(timerfd_read(fd.as_fd()).unwrap_err().errno, Errno::EAGAIN);
}

#[test]
fn the_clock_of_a_timerfd_is_read_from_fdinfo() {
    for clock in [libc::CLOCK_MONOTONIC, libc::CLOCK_REALTIME, libc::CLOCK_BOOTTIME] {
        let fd = timerfd_create(clock, libc::TFD_CLOEXEC).unwrap();
        match clock_id(fd.as_fd()).unwrap() {
            Some(c) => assert_eq!(c, clock),
            None => skip("clock_id: /proc/self/fdinfo does not show clockid (no /proc, or Linux < 3.17)"),
        }
    }
    let efd = linux_fd_core::eventfd::eventfd(0, linux_fd_core::eventfd::EfdFlags::EFD_CLOEXEC).unwrap();
    assert_eq!(clock_id(efd.as_fd()).unwrap(), None);
    // A number far above any fd this process has open: EBADF from fcntl,
    // before /proc is read.
    // SAFETY: the number is only passed to the kernel, which refuses it.
    let closed = unsafe { std::os::fd::BorrowedFd::borrow_raw(1 << 30) };
    assert_eq!(clock_id(closed).unwrap_err().errno, Errno::EBADF);
}

/// Reports a skipped check on the real stderr, which the test harness does
/// not capture (its capture covers only the print macros).
fn skip(reason: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {reason}");
}

/// Whether this process holds capability `cap` (the `CapEff` line of
/// `/proc/self/status`).
fn has_cap(cap: u32) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .expect("a CapEff line");
    let eff = u64::from_str_radix(hex.trim(), 16).expect("CapEff is hex");
    eff >> cap & 1 == 1
}

/// The running kernel's (major, minor) version (`uname -r`).
fn kernel_version() -> (u32, u32) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("/proc/sys/kernel/osrelease");
    let mut parts = release.trim().split(|c: char| !c.is_ascii_digit());
    let major = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major, minor)
}

const CAP_WAKE_ALARM: u32 = 35;

#[test]
fn alarm_clocks_need_cap_wake_alarm() {
    // timerfd takes the alarm clocks since Linux 3.11; before, they are
    // unknown clocks (EINVAL, which the kernel checks before the capability).
    if kernel_version() < (3, 11) {
        skip("alarm clocks: this kernel predates timerfd's alarm clocks (Linux 3.11): expecting EINVAL");
        for clock in [libc::CLOCK_BOOTTIME_ALARM, libc::CLOCK_REALTIME_ALARM] {
            assert_eq!(
                timerfd_create(clock, libc::TFD_CLOEXEC).unwrap_err().errno,
                Errno::EINVAL
            );
        }
        return;
    }
    let held = has_cap(CAP_WAKE_ALARM);
    for clock in [libc::CLOCK_BOOTTIME_ALARM, libc::CLOCK_REALTIME_ALARM] {
        let r = timerfd_create(clock, libc::TFD_CLOEXEC | libc::TFD_NONBLOCK);
        if held {
            let fd = r.unwrap_or_else(|e| panic!("clock {clock}: CAP_WAKE_ALARM is held, yet {e}"));
            // And it works: arm, expire, read.
            timerfd_settime(
                fd.as_fd(),
                0,
                TimerSpec {
                    value_ns: 1_000_000,
                    interval_ns: 0,
                },
            )
            .unwrap();
            linux_fd_core::poll::wait_readable(fd.as_fd()).unwrap();
            assert_eq!(timerfd_read(fd.as_fd()).unwrap(), 1);
        } else {
            let e = r
                .err()
                .unwrap_or_else(|| panic!("clock {clock}: created without CAP_WAKE_ALARM"));
            assert_eq!(e.errno, Errno::EPERM, "clock {clock}");
        }
    }
}

#[test]
fn clock_now_reads_each_timer_clock_and_refuses_an_unknown_one() {
    use linux_fd_core::timerfd::clock_now_ns;
    // The monotonic clock against std's Instant (also CLOCK_MONOTONIC here).
    let before = std::time::Instant::now();
    let a = clock_now_ns(libc::CLOCK_MONOTONIC).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let b = clock_now_ns(libc::CLOCK_MONOTONIC).unwrap();
    let elapsed = before.elapsed().as_nanos() as u64;
    assert!(
        b - a >= 20_000_000 && b - a <= elapsed,
        "{a} → {b} in {elapsed} ns"
    );
    // Realtime against SystemTime, within a second.
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let rt = clock_now_ns(libc::CLOCK_REALTIME).unwrap();
    assert!(rt.abs_diff(wall) < 1_000_000_000, "{rt} vs {wall}");
    // Boottime counts suspend too, so it is never behind monotonic.
    let mono = clock_now_ns(libc::CLOCK_MONOTONIC).unwrap();
    assert!(clock_now_ns(libc::CLOCK_BOOTTIME).unwrap() >= mono);
    // The alarm clocks read like their plain ones where the machine has a
    // real-time clock device to wake it; without one (this VM: no
    // /sys/class/rtc) the kernel's alarmtimer refuses them with EINVAL.
    let rtc = std::fs::read_dir("/sys/class/rtc").is_ok_and(|mut d| d.next().is_some());
    for (alarm, plain) in [
        (libc::CLOCK_REALTIME_ALARM, libc::CLOCK_REALTIME),
        (libc::CLOCK_BOOTTIME_ALARM, libc::CLOCK_BOOTTIME),
    ] {
        match clock_now_ns(alarm) {
            Ok(v) => assert!(
                rtc && v.abs_diff(clock_now_ns(plain).unwrap()) < 1_000_000_000,
                "{v}"
            ),
            Err(e) => assert!(!rtc && e.errno == Errno::EINVAL, "{e:?} with an rtc: {rtc}"),
        }
    }
    assert_eq!(clock_now_ns(12345).unwrap_err().errno, Errno::EINVAL);
    assert_eq!(clock_now_ns(-1).unwrap_err().syscall, "clock_gettime");
}

#[test]
fn clock_res_ns_is_a_nanosecond_for_the_fine_clocks_and_a_tick_for_the_coarse_ones() {
    let tick = clock_res_ns(libc::CLOCK_MONOTONIC_COARSE).unwrap();
    assert!((1_000_000..=10_000_000).contains(&tick), "{tick} ns");
    // 1 ns with high-resolution timers, a tick with highres=off.
    for id in [libc::CLOCK_MONOTONIC, libc::CLOCK_BOOTTIME] {
        let fine = clock_res_ns(id).unwrap();
        assert!(fine == 1 || fine == tick, "{fine} ns");
    }
    let e = clock_res_ns(12345).unwrap_err();
    assert_eq!((e.errno, e.syscall), (Errno::EINVAL, "clock_getres"));
}

/// The nearest nanosecond to `value` units (seconds when `unit_digits` is
/// 9, the digits of a nanosecond; milliseconds when 6), ties up,
/// from the exact decimal expansion of the double (Rust prints a double's
/// exact value when asked for enough digits): an oracle that shares no code
/// with `to_ns`.
fn nearest_ns_exact(value: f64, unit_digits: usize) -> u64 {
    let text = format!("{value:.1100}");
    let (int, frac) = text.split_once('.').unwrap();
    let digits = format!("{int}{}", &frac[..unit_digits]);
    let ns: u64 = digits.parse().unwrap();
    ns + u64::from(frac.as_bytes()[unit_digits] >= b'5')
}

#[test]
fn times_round_to_the_exactly_nearest_nanosecond_ties_up() {
    // Doubles just below a half nanosecond (s46-timer): the product
    // `(value - whole) * 1e9` was itself rounded up to the half first.
    assert_eq!(secs_to_ns(7.3822709325), Some(7_382_270_932));
    assert_eq!(secs_to_ns(0.6133135555), Some(613_313_555));
    assert_eq!(ms_to_ns(1.4560525), Some(1_456_052));
    // An exact tie goes up: 1/1024 s is 976,562.5 ns.
    assert_eq!(secs_to_ns(1.0 / 1024.0), Some(976_563));
    // Every double k + (j + 0.5) ns and its neighbours, against the oracle.
    let mut checked = 0;
    for k in [0.0, 1.0, 7.0, 1000.0, 86_400.0] {
        for j in (0..2_000u64).map(|j| j * 499_979) {
            let v = k + (j as f64 + 0.5) / 1e9;
            // The neighbours by their bits (`next_up` is newer than the
            // Debian Rust the platform stages build with).
            for v in [
                v,
                f64::from_bits(v.to_bits() - 1),
                f64::from_bits(v.to_bits() + 1),
            ] {
                if v > 0.0 {
                    assert_eq!(secs_to_ns(v), Some(nearest_ns_exact(v, 9).max(1)), "{v:.20} s");
                    assert_eq!(ms_to_ns(v), Some(nearest_ns_exact(v, 6).max(1)), "{v:.20} ms");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 29_000);
}
