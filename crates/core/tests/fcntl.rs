//! The generic fcntl/ioctl calls and the pipe-size helpers, on real pipes.

use std::os::fd::{AsFd, OwnedFd};

use linux_fd_core::fcntl::{
    content_sized, fcntl_buf, fcntl_int, ioc_size, ioctl_buf, ioctl_int, pipe2, pipe_size, set_pipe_size,
    takes_pointer, writes_through_arg, ARG_BUF_SIZE, EXT4_IOC_GET_ES_CACHE, FIDEDUPERANGE, FS_IOC_FIEMAP,
    FS_IOC_GETFSMAP, XFS_IOC_GETBMAPX,
};
use linux_fd_core::Errno;

mod common;

fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe().unwrap()
}

#[test]
fn pipe2_passes_its_flags_to_the_kernel() {
    use nix::fcntl::{fcntl, FcntlArg};
    let getfd = |fd: &OwnedFd| fcntl(fd, FcntlArg::F_GETFD).unwrap();
    let getfl = |fd: &OwnedFd| fcntl(fd, FcntlArg::F_GETFL).unwrap();
    let (r, w) = pipe2(libc::O_CLOEXEC | libc::O_NONBLOCK).unwrap();
    for fd in [&r, &w] {
        assert_eq!(getfd(fd) & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
        assert_ne!(getfl(fd) & libc::O_NONBLOCK, 0);
    }
    assert_eq!(getfl(&r) & libc::O_ACCMODE, libc::O_RDONLY);
    assert_eq!(getfl(&w) & libc::O_ACCMODE, libc::O_WRONLY);
    // The two ends are one pipe.
    assert_eq!(nix::unistd::write(&w, b"hi").unwrap(), 2);
    let mut buf = [0u8; 4];
    assert_eq!(nix::unistd::read(&r, &mut buf).unwrap(), 2);
    assert_eq!(&buf[..2], b"hi");
    let (r, _w) = pipe2(0).unwrap();
    assert_eq!(getfd(&r) & libc::FD_CLOEXEC, 0);
    assert_eq!(getfl(&r) & libc::O_NONBLOCK, 0);
    let e = pipe2(libc::O_APPEND).unwrap_err();
    assert_eq!((e.errno, e.syscall), (Errno::EINVAL, "pipe2"));
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
    let path = common::TempPath::new("fcntl-buf");
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

#[test]
fn content_sized_requests_need_a_buffer_for_the_array_the_header_names() {
    let mut fiemap = [0u8; 32];
    fiemap[24..28].copy_from_slice(&200u32.to_ne_bytes());
    assert_eq!(content_sized(FS_IOC_FIEMAP, &fiemap), Some(32 + 200 * 56));
    assert_eq!(
        content_sized(FS_IOC_FIEMAP, &[0u8; 8]),
        Some(32),
        "a short header: its own size"
    );
    let mut dedupe = [0u8; 24];
    dedupe[16..18].copy_from_slice(&3u16.to_ne_bytes());
    assert_eq!(content_sized(FIDEDUPERANGE, &dedupe), Some(24 + 3 * 32));
    assert_eq!(content_sized(libc::FIONREAD as libc::c_ulong, &fiemap), None);
    // The same layout as FIEMAP under ext4's number; GETFSMAP's count is at 8.
    assert_eq!(content_sized(EXT4_IOC_GET_ES_CACHE, &fiemap), Some(32 + 200 * 56));
    let mut fsmap = [0u8; 192];
    fsmap[8..12].copy_from_slice(&4000u32.to_ne_bytes());
    assert_eq!(content_sized(FS_IOC_GETFSMAP, &fsmap), Some(192 + 4000 * 64));
    assert_eq!(content_sized(FS_IOC_GETFSMAP, &[0u8; 12][..4]), Some(192));
    let mut bmapx = [0u8; 48];
    bmapx[24..28].copy_from_slice(&100i32.to_ne_bytes());
    assert_eq!(content_sized(XFS_IOC_GETBMAPX, &bmapx), Some(48 * 100));
    bmapx[24..28].copy_from_slice(&(-5i32).to_ne_bytes());
    assert_eq!(
        content_sized(XFS_IOC_GETBMAPX, &bmapx),
        Some(48),
        "a negative count: the header"
    );
}

#[test]
fn kvm_requests_whose_header_counts_an_array_are_content_sized() {
    // KVM's system and vCPU requests that encode only their header and
    // then write the array its count names (s52-fcntl HIGH-2: an 8-byte
    // kvm_cpuid2 claiming 256 entries, 10 KB, in an 8-byte buffer). The
    // numbers are linux/kvm.h's _IOWR(KVMIO, …) with the header's size.
    let with_count = |len: usize, count: u64, width: usize| {
        let mut b = vec![0u8; len];
        b[..width].copy_from_slice(&count.to_ne_bytes()[..width]);
        b
    };
    for (name, req, header, entry) in [
        ("KVM_GET_SUPPORTED_CPUID", 0xc008_ae05, 8, 40),
        ("KVM_GET_EMULATED_CPUID", 0xc008_ae09, 8, 40),
        ("KVM_GET_SUPPORTED_HV_CPUID", 0xc008_aec1, 8, 40),
        ("KVM_GET_CPUID2", 0xc008_ae91, 8, 40),
        ("KVM_GET_MSR_INDEX_LIST", 0xc004_ae02, 4, 4),
        ("KVM_GET_MSR_FEATURE_INDEX_LIST", 0xc004_ae0a, 4, 4),
        ("KVM_GET_MSRS", 0xc008_ae88, 8, 16),
    ] {
        assert_eq!(
            ioc_size(req),
            header as usize,
            "{name}: the encoded size is the header"
        );
        let b = with_count(header as usize, 256, 4);
        assert_eq!(content_sized(req, &b), Some(header + 256 * entry), "{name}");
        assert_eq!(
            content_sized(req, &b[..2]),
            Some(header),
            "{name}: a short header"
        );
        let b = with_count(header as usize, u64::from(u32::MAX), 4);
        assert_eq!(
            content_sized(req, &b),
            Some(header + u64::from(u32::MAX) * entry),
            "{name}"
        );
    }
    // KVM_GET_REG_LIST (arm64, riscv, loongarch): kvm_reg_list's count is a u64.
    let reg_list = 0xc008_aeb0;
    assert_eq!(ioc_size(reg_list), 8);
    assert_eq!(content_sized(reg_list, &with_count(8, 300, 8)), Some(8 + 300 * 8));
    assert_eq!(
        content_sized(reg_list, &with_count(8, u64::MAX, 8)),
        Some(u64::MAX)
    );
    assert_eq!(content_sized(reg_list, &[0u8; 4]), Some(8));
}

#[test]
fn ioc_size_and_the_requests_that_write_through_an_integer() {
    assert_eq!(ioc_size(FS_IOC_FIEMAP), 32);
    assert_eq!(ioc_size(FS_IOC_GETFSMAP), 192);
    assert_eq!(ioc_size(libc::FIONREAD as libc::c_ulong), 0, "unencoded");
    assert_eq!(ioc_size(0x4004_54ca), 4, "TUNSETIFF-like _IOW");
    for req in [
        FS_IOC_FIEMAP,
        0x8008_6601, /* FS_IOC_GETFLAGS, _IOR */
        0x541b,
        0x5413,
        0x8927,
        0x5460, // FIOQSIZE
        2,
    ] {
        assert!(writes_through_arg(req), "{req:#x}");
    }
    // _IOW requests (TUNSETPERSIST takes the integer itself), _IO, and
    // unencoded ones that take an integer (TCSBRK, TIOCSCTTY).
    for req in [
        0x4004_54cb,
        0x4004_9409, /* FICLONE: _IOW(0x94, 9, int), an fd */
        0x5409,
        0x540e,
        0x8004_b706, // nsfs NS_GET_PID_FROM_PIDNS: _IOR, but the pid is the argument
        0x8004_b709,
    ] {
        assert!(!writes_through_arg(req), "{req:#x}");
    }
}

#[test]
fn the_direction_less_readers_of_nsfs_and_the_console_write_through_an_integer() {
    // Encoded _IO (no direction) or not encoded at all, yet each writes its
    // answer where its argument points (s52-fcntl HIGH-1: NS_GET_OWNER_UID
    // with an integer overwrote node's own data; VT_OPENQRY did on
    // /dev/tty0). Numbers from linux/nsfs.h, kd.h and vt.h.
    for (name, req) in [
        ("NS_GET_OWNER_UID", 0xb704),
        ("KDGETLED", 0x4b31),
        ("KDGKBTYPE", 0x4b33),
        ("KDGETMODE", 0x4b3b),
        ("GIO_SCRNMAP", 0x4b40),
        ("KDGKBMODE", 0x4b44),
        ("KDGKBENT", 0x4b46),
        ("KDGKBSENT", 0x4b48),
        ("KDGKBDIACR", 0x4b4a),
        ("KDGETKEYCODE", 0x4b4c),
        ("KDKBDREP", 0x4b52),
        ("GIO_FONT", 0x4b60),
        ("KDGKBMETA", 0x4b62),
        ("KDGKBLED", 0x4b64),
        ("GIO_UNIMAP", 0x4b66),
        ("GIO_UNISCRNMAP", 0x4b69),
        ("GIO_FONTX", 0x4b6b),
        ("GIO_CMAP", 0x4b70),
        ("KDFONTOP", 0x4b72),
        ("KDGKBDIACRUC", 0x4bfa),
        ("VT_OPENQRY", 0x5600),
        ("VT_GETMODE", 0x5601),
        ("VT_GETSTATE", 0x5603),
        ("VT_GETHIFONTMASK", 0x560d),
        ("VT_WAITEVENT", 0x560e),
    ] {
        assert!(writes_through_arg(req), "{name} ({req:#x})");
    }
    // Their neighbours that take a value keep it: NS_GET_USERNS,
    // NS_GET_PARENT and NS_GET_NSTYPE return their answer; KDSETLED,
    // KDSETMODE, KDSKBMODE, KDSKBMETA, KDSKBLED and VT_ACTIVATE,
    // VT_WAITACTIVE, VT_DISALLOCATE take a number.
    for req in [
        0xb701, 0xb702, 0xb703, 0x4b32, 0x4b3a, 0x4b45, 0x4b63, 0x4b65, 0x5606, 0x5607, 0x5608,
    ] {
        assert!(!writes_through_arg(req), "{req:#x}");
    }
}

#[test]
fn a_reading_request_with_an_integer_is_efault_without_a_call() {
    // FIONREAD writes an int at its argument: an integer would be an address
    // (the kernel wrote Node's own heap in the review's repro).
    let (r, w) = pipe();
    nix::unistd::write(&w, b"abc").unwrap();
    let mut canary = [0x55u8; 8];
    let addr = canary.as_mut_ptr() as libc::c_ulong;
    // SAFETY: the point of the test: ioctl_int refuses FIONREAD before the
    // call; had it not, the kernel would write inside `canary`.
    let e = unsafe { ioctl_int(r.as_fd(), libc::FIONREAD as libc::c_ulong, addr) }.unwrap_err();
    assert_eq!((e.errno, e.syscall), (Errno::EFAULT, "ioctl"));
    assert_eq!(canary, [0x55; 8], "nothing written");
}

#[test]
fn fiemap_with_more_extents_than_the_buffer_holds_is_einval_before_the_call() {
    // A file with 200 extents: 4 KiB of data every 8 KiB, flushed so that the
    // file system has allocated them. Asking for 200 extents in a 32-byte
    // buffer made the kernel write 11 KiB past it.
    let dir = std::env::temp_dir().join(format!("linux-fd-fiemap-{}", std::process::id()));
    let f = std::fs::File::create(&dir).unwrap();
    std::fs::remove_file(&dir).unwrap();
    let block = [0xaau8; 4096];
    for i in 0..200u64 {
        nix::sys::uio::pwrite(&f, &block, (i * 8192) as i64).unwrap();
    }
    f.sync_all().unwrap();
    let header = |buf: &mut [u8]| {
        buf[8..16].copy_from_slice(&u64::MAX.to_ne_bytes()); // fm_length
        buf[24..28].copy_from_slice(&200u32.to_ne_bytes()); // fm_extent_count
    };
    let mut small = [0u8; 32];
    header(&mut small);
    // SAFETY: the point of the test: content_sized refuses before the call.
    let e = unsafe { ioctl_buf(f.as_fd(), FS_IOC_FIEMAP, &mut small) }.unwrap_err();
    assert_eq!((e.errno, e.syscall), (Errno::EINVAL, "ioctl"));
    assert_eq!(
        small[32 - 12..32 - 8],
        [0; 4],
        "nothing written: fm_mapped_extents still 0"
    );
    let mut big = vec![0u8; 32 + 200 * 56];
    header(&mut big);
    // SAFETY: big holds the header and the 200 extents it asks for.
    match unsafe { ioctl_buf(f.as_fd(), FS_IOC_FIEMAP, &mut big) } {
        Ok(_) => assert!(u32::from_ne_bytes(big[20..24].try_into().unwrap()) > 0),
        // A temp dir on a file system without FIEMAP (tmpfs before 6.x).
        Err(e) => assert_eq!(e.errno, Errno::EOPNOTSUPP),
    }
}

#[test]
fn pointer_taking_commands_with_an_integer_are_efault_without_a_call() {
    let (r, _w) = pipe();
    let pointer_cmds = [
        libc::F_GETLK,
        libc::F_SETLK,
        libc::F_SETLKW,
        libc::F_OFD_GETLK,
        libc::F_OFD_SETLK,
        libc::F_OFD_SETLKW,
        15,   // F_SETOWN_EX
        16,   // F_GETOWN_EX
        1035, // F_GET_RW_HINT
        1036, // F_SET_RW_HINT
        1037, // F_GET_FILE_RW_HINT
        1038, // F_SET_FILE_RW_HINT
        17,   // F_GETOWNER_UIDS
        1039, // F_GETDELEG
        1040, // F_SETDELEG
    ];
    // Any integer: it never reaches the kernel (see fcntl.spec for a live
    // address, which the kernel did read).
    let addr = 4096;
    for cmd in pointer_cmds {
        assert!(takes_pointer(cmd), "{cmd}");
        // SAFETY: the point of the test: fcntl_int refuses these before the call.
        let e = unsafe { fcntl_int(r.as_fd(), cmd, addr) }.unwrap_err();
        assert_eq!((e.errno, e.syscall), (Errno::EFAULT, "fcntl"), "{cmd}");
    }
    for cmd in [
        libc::F_GETFD,
        libc::F_GETFL,
        libc::F_SETPIPE_SZ,
        libc::F_ADD_SEALS,
        libc::F_DUPFD_CLOEXEC,
    ] {
        assert!(!takes_pointer(cmd), "{cmd}");
    }
}
