//! Helpers shared by the core's integration tests (a module, not a test
//! binary of its own).

use std::os::fd::{AsFd, OwnedFd};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use linux_fd_core::lockwait::{lock_until, Cancel, LockSpec, Waited};

/// A path in the temp directory, `linux-fd-<tag>-<pid>`, removed with
/// whatever is there when dropped, so that a test that fails (a panic
/// unwinds through it) before its own removal leaves nothing behind. A
/// process killed outright (cargo-mutants' timeout) runs no drop: .ci/run's
/// own TMPDIR collects those.
/// The tests' own `remove_file(…).unwrap()` stay: they check that the file
/// was there to remove.
#[allow(dead_code)] // not every test binary that includes this module uses each helper
pub struct TempPath(std::path::PathBuf);

#[allow(dead_code)]
impl TempPath {
    pub fn new(tag: &str) -> Self {
        TempPath(std::env::temp_dir().join(format!("linux-fd-{tag}-{}", std::process::id())))
    }
}

impl std::ops::Deref for TempPath {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl AsRef<std::path::Path> for TempPath {
    fn as_ref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if std::fs::remove_file(&self.0).is_err() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Voluntary context switches of thread `tid` of this process.
#[allow(dead_code)] // not every test binary that includes this module uses each helper
pub fn voluntary_switches(tid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Starts `lock_until(waiter, spec)` on a thread while another fd holds the
/// lock, lets it settle for `settle_ms`, counts the thread's wake-ups
/// (voluntary context switches) over the next 300 ms, then cancels the wait
/// and checks that it ended cancelled. Returns the wake-ups.
#[allow(dead_code)] // not every test binary that includes this module uses each helper
pub fn wakeups_in_300ms_of_waiting(waiter: OwnedFd, spec: LockSpec, settle_ms: u64) -> u64 {
    let cancel = Arc::new(Cancel::new());
    let c2 = cancel.clone();
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        tx.send(linux_fd_core::pool::gettid()).unwrap();
        lock_until(waiter.as_fd(), &spec, &c2).unwrap()
    });
    let tid = rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(settle_ms));
    let before = voluntary_switches(tid);
    std::thread::sleep(Duration::from_millis(300));
    let woke = voluntary_switches(tid) - before;
    cancel.cancel();
    assert_eq!(t.join().unwrap(), Waited::Cancelled);
    woke
}

/// The ids of this process's lock-cancel kicker threads, found by name
/// (`linux-fd-lock-kick`, which the kernel cuts to 15 bytes).
#[allow(dead_code)] // not every test binary that includes this module uses each helper
pub fn kicker_tids() -> Vec<i32> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == "linux-fd-lock-k")
        })
        .filter_map(|t| t.file_name().to_str()?.parse().ok())
        .collect()
}

/// qemu-user (the arm64 core tests run under it) answers syscalls itself
/// and may refuse some (`preadv2`, `SO_TIMESTAMPNS`) whatever the host
/// kernel does; it passes the host's /proc/cpuinfo through, so non-x86
/// code that reads an x86 one is emulated.
#[allow(dead_code)] // not every test binary that includes this module uses each helper
pub fn under_qemu() -> bool {
    !cfg!(target_arch = "x86_64")
        && std::fs::read_to_string("/proc/cpuinfo")
            .is_ok_and(|s| s.lines().any(|l| l.starts_with("vendor_id")))
}

/// `SO_PASSPIDFD` (include/uapi/asm-generic/socket.h; the same on x86_64 and
/// arm64), which libc 0.2 does not define for every target.
#[allow(dead_code)] // not every test binary that includes this module uses each helper
pub const SO_PASSPIDFD: libc::c_int = 76;

/// Sets an int `SOL_SOCKET` option, as a process sharing the socket could.
#[allow(dead_code)] // not every test binary that includes this module uses each helper
pub fn set_opt(fd: &impl std::os::fd::AsRawFd, opt: libc::c_int, value: libc::c_int) -> std::io::Result<()> {
    // SAFETY: setsockopt reads sizeof(int) bytes of `value`, which outlives the call.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// A connected TCP socket whose send queue is full (the other end, returned
/// so that it stays open, never reads) and, with `linger`, `SO_LINGER` on
/// for that many seconds: its last close then waits the linger time.
#[allow(dead_code)] // not every test binary that includes this module uses each helper
pub fn stuck_socket(linger: Option<i32>) -> (OwnedFd, std::net::TcpStream, std::net::TcpListener) {
    use nix::sys::socket::{setsockopt, sockopt};
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    setsockopt(&server, sockopt::RcvBuf, &4096).unwrap();
    setsockopt(&client, sockopt::SndBuf, &4096).unwrap();
    client.set_nonblocking(true).unwrap();
    let chunk = vec![0u8; 65536];
    while (&client).write(&chunk).is_ok() {}
    if let Some(secs) = linger {
        let l = libc::linger {
            l_onoff: 1,
            l_linger: secs,
        };
        setsockopt(&client, sockopt::Linger, &l).unwrap();
    }
    (OwnedFd::from(client), server, listener)
}

/// Runs `f` with no fd number left: `RLIMIT_NOFILE` at 64 and every number
/// below it taken (by `/dev/null`s); then frees them and puts the limit
/// back. Process-wide, so only for a test binary of its own.
#[allow(dead_code)] // not every test binary that includes this module uses each helper
pub fn out_of_fds<R>(f: impl FnOnce() -> R) -> R {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the one struct it is given.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) }, 0);
    let low = libc::rlimit {
        rlim_cur: 64,
        rlim_max: old.rlim_max,
    };
    // SAFETY: setrlimit reads the one struct it is given.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &low) }, 0);
    let mut filler = Vec::new();
    while let Ok(f) = std::fs::File::open("/dev/null") {
        filler.push(f);
    }
    assert!(std::fs::File::open("/dev/null").is_err(), "no fd number is left");
    let r = f();
    drop(filler);
    // SAFETY: as above.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) }, 0);
    r
}

/// A thread waiting for an exclusive OFD lock of all of `path` (which the
/// caller holds), blocked in the kernel by the time this returns; its result
/// comes on the receiver. "Blocked": at least 100 ms after its start, and
/// its state `S` in `/proc` (the thread makes no other blocking call before
/// the lock's; a thread not yet scheduled shows `R`). A fixed 100 ms alone
/// could return before a loaded machine ran it (s48-diff LOW-5), and a test
/// that changes the signal's disposition then would find the wait polling.
/// A wait that polls also sleeps (`S`), so the callers' own checks decide
/// whether it blocked in the kernel.
#[allow(dead_code)]
pub fn blocked_waiter(path: &std::path::Path) -> (Arc<Cancel>, mpsc::Receiver<Waited>) {
    let spec = LockSpec {
        kind: linux_fd_core::lockwait::LockKind::Ofd,
        shared: false,
        start: 0,
        len: 0,
    };
    let fd = linux_fd_core::lockwait::open_for_lock(path).unwrap();
    let cancel = Arc::new(Cancel::new());
    let (tx, rx) = mpsc::channel();
    let (tid_tx, tid_rx) = mpsc::channel();
    let c = cancel.clone();
    std::thread::spawn(move || {
        tid_tx.send(linux_fd_core::pool::gettid()).unwrap();
        tx.send(lock_until(fd.as_fd(), &spec, &c).unwrap())
    });
    let tid = tid_rx.recv().unwrap();
    let t0 = std::time::Instant::now();
    std::thread::sleep(Duration::from_millis(100));
    let state = || {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
        // The state is the first field after the command's closing ')'.
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next().map(str::to_owned))
    };
    while state().as_deref() != Some("S") {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the waiter never blocked: {:?}",
            state()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    (cancel, rx)
}

/// Makes the kernel refuse `clone` and `clone3` with `EAGAIN` on the calling
/// thread (and on any thread it would start) for the rest of its life: a
/// seccomp filter, which a thread installs for itself alone. What a process
/// at its thread limit (`RLIMIT_NPROC`, a pids cgroup) meets. False where
/// the kernel has no seccomp filters (`CONFIG_SECCOMP_FILTER`).
#[allow(dead_code)] // not every test binary that includes this module uses each helper
pub fn refuse_new_threads_on_this_thread() -> bool {
    use libc::{sock_filter, BPF_ABS, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W};
    let op = |code: u32, jt: u8, jf: u8, k: u32| sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    let filter = [
        op(BPF_LD | BPF_W | BPF_ABS, 0, 0, 0), // seccomp_data.nr
        op(BPF_JMP | BPF_JEQ | BPF_K, 2, 0, libc::SYS_clone as u32),
        op(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, libc::SYS_clone3 as u32),
        op(BPF_RET | BPF_K, 0, 0, libc::SECCOMP_RET_ALLOW),
        op(
            BPF_RET | BPF_K,
            0,
            0,
            libc::SECCOMP_RET_ERRNO | libc::EAGAIN as u32,
        ),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut sock_filter,
    };
    // SAFETY: prctl reads its integer arguments; PR_SET_SECCOMP reads `prog`,
    // which points to `filter`, both alive for the call.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &prog as *const libc::sock_fprog,
        ) == 0
    }
}

/// An OFD lock of the whole file, shared or exclusive.
#[allow(dead_code)] // not every test binary that includes this module uses each helper
pub fn ofd(shared: bool) -> LockSpec {
    LockSpec {
        kind: linux_fd_core::lockwait::LockKind::Ofd,
        shared,
        start: 0,
        len: 0,
    }
}
