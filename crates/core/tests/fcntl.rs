//! The generic fcntl/ioctl calls and the pipe-size helpers, on real pipes.

use std::os::fd::{AsFd, OwnedFd};

use linux_fd_core::fcntl::{fcntl_buf, fcntl_int, ioctl_buf, pipe_size, set_pipe_size, ARG_BUF_SIZE};
use linux_fd_core::Errno;

fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe().unwrap()
}

#[test]
fn pipe_size_round_trips_and_rounds_up_to_a_power_of_two() {
    let (r, _w) = pipe();
    let initial = pipe_size(r.as_fd()).unwrap();
    assert!(initial >= 4096);
    let got = set_pipe_size(r.as_fd(), 4096 + 1).unwrap();
    assert!(got >= 4097 && got.is_power_of_two(), "{got}");
    assert_eq!(pipe_size(r.as_fd()).unwrap(), got);
}

#[test]
fn pipe_sizes_above_2_31_reach_the_kernel_which_answers_einval() {
    // Python: fcntl.fcntl(fd, F_SETPIPE_SZ, 2**31 + 1) is EINVAL from the kernel.
    let (r, _w) = pipe();
    let before = pipe_size(r.as_fd()).unwrap();
    for size in [(1u32 << 31) + 1, u32::MAX] {
        let e = set_pipe_size(r.as_fd(), size).unwrap_err();
        assert_eq!(e.errno, Errno::EINVAL, "size {size}");
        assert_eq!(e.syscall, "fcntl");
    }
    assert_eq!(pipe_size(r.as_fd()).unwrap(), before);
}

#[test]
fn pipe_size_of_a_regular_file_is_ebadf() {
    let f = std::fs::File::open("/proc/self/status").unwrap();
    assert_eq!(pipe_size(f.as_fd()).unwrap_err().errno, Errno::EBADF);
}

#[test]
fn fcntl_int_and_buf_forms() {
    let (r, _w) = pipe();
    // SAFETY: F_SETFD and F_GETFD take an integer or nothing.
    unsafe {
        fcntl_int(r.as_fd(), libc::F_SETFD, libc::FD_CLOEXEC).unwrap();
        assert_eq!(fcntl_int(r.as_fd(), libc::F_GETFD, 0).unwrap(), libc::FD_CLOEXEC);
        fcntl_int(r.as_fd(), libc::F_SETFD, 0).unwrap();
        assert_eq!(fcntl_int(r.as_fd(), libc::F_GETFD, 0).unwrap(), 0);
    }
    // F_OFD_GETLK with a struct flock asking for a write lock on a free
    // file: the kernel rewrites l_type to F_UNLCK (no conflict).
    let path = std::env::temp_dir().join(format!("linux-fd-fcntl-buf-{}", std::process::id()));
    let f = linux_fd_core::lockwait::open_for_lock(&path).unwrap();
    let mut buf = [0u8; ARG_BUF_SIZE];
    buf[..2].copy_from_slice(&(libc::F_WRLCK as i16).to_ne_bytes());
    fcntl_buf(f.as_fd(), libc::F_OFD_GETLK, &mut buf).unwrap();
    assert_eq!(i16::from_ne_bytes([buf[0], buf[1]]), libc::F_UNLCK as i16);
    std::fs::remove_file(path).unwrap();
}

#[test]
fn ioctl_buf_reads_fionread_into_the_buffer() {
    let (r, w) = pipe();
    nix::unistd::write(&w, b"hello").unwrap();
    let mut buf = [0u8; 4];
    // SAFETY: FIONREAD writes one int, and buf holds 4 bytes.
    let rc = unsafe { ioctl_buf(r.as_fd(), libc::FIONREAD as libc::c_ulong, &mut buf) }.unwrap();
    assert_eq!(rc, 0);
    assert_eq!(i32::from_ne_bytes(buf), 5);
}
