//! memfd with real syscalls: creation flags, seals, positional I/O, and
//! shared mappings that see each other's writes.

use std::ffi::CString;
use std::os::fd::AsFd;

use linux_fd_core::memfd::*;
use linux_fd_core::Errno;

fn name(s: &str) -> CString {
    CString::new(s).unwrap()
}

#[test]
fn write_and_read_back_at_positions() {
    let fd = memfd_create(&name("t"), libc::MFD_CLOEXEC).unwrap();
    assert_eq!(pwrite_all(fd.as_fd(), b"hello world", 3).unwrap(), 11);
    assert_eq!(size(fd.as_fd()).unwrap(), 14);
    let mut buf = [0u8; 32];
    let n = pread_full(fd.as_fd(), &mut buf, 0).unwrap();
    assert_eq!(&buf[..n], b"\0\0\0hello world");
}

#[test]
fn without_allow_sealing_the_initial_seal_is_f_seal_seal() {
    let fd = memfd_create(&name("t"), libc::MFD_CLOEXEC).unwrap();
    assert_eq!(
        get_seals(fd.as_fd()).unwrap() & libc::F_SEAL_SEAL,
        libc::F_SEAL_SEAL
    );
    assert_eq!(
        add_seals(fd.as_fd(), libc::F_SEAL_SHRINK).unwrap_err().errno,
        Errno::EPERM
    );
}

#[test]
fn seals_stop_shrinking_growing_and_writing() {
    let fd = memfd_create(&name("t"), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING).unwrap();
    truncate(fd.as_fd(), 4096).unwrap();
    add_seals(fd.as_fd(), libc::F_SEAL_SHRINK | libc::F_SEAL_GROW).unwrap();
    assert_eq!(truncate(fd.as_fd(), 100).unwrap_err().errno, Errno::EPERM);
    assert_eq!(truncate(fd.as_fd(), 8192).unwrap_err().errno, Errno::EPERM);
    add_seals(fd.as_fd(), libc::F_SEAL_WRITE).unwrap();
    assert_eq!(pwrite_all(fd.as_fd(), b"x", 0).unwrap_err().errno, Errno::EPERM);
}

#[test]
fn f_seal_write_is_ebusy_while_a_writable_shared_mapping_exists() {
    let fd = memfd_create(&name("t"), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING).unwrap();
    truncate(fd.as_fd(), 4096).unwrap();
    let map = Mapping::new(fd.as_fd(), 0, 4096, true).unwrap();
    assert_eq!(
        add_seals(fd.as_fd(), libc::F_SEAL_WRITE).unwrap_err().errno,
        Errno::EBUSY
    );
    drop(map);
    add_seals(fd.as_fd(), libc::F_SEAL_WRITE).unwrap();
}

#[test]
fn two_mappings_of_one_memfd_share_memory() {
    let fd = memfd_create(&name("t"), libc::MFD_CLOEXEC).unwrap();
    truncate(fd.as_fd(), 8192).unwrap();
    let a = Mapping::new(fd.as_fd(), 0, 8192, true).unwrap();
    let b = Mapping::new(fd.as_fd(), 4096, 4096, false).unwrap();
    // SAFETY: both mappings are live, 8192 and 4096 bytes long.
    unsafe {
        *a.as_ptr().add(4096 + 7) = 42;
        assert_eq!(*b.as_ptr().add(7), 42);
    }
    let mut byte = [0u8];
    pread_full(fd.as_fd(), &mut byte, 4096 + 7).unwrap();
    assert_eq!(byte[0], 42);
}

/// The running kernel's (major, minor) version, as `uname -r` gives it.
fn kernel_version() -> (u32, u32) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

#[test]
fn noexec_seal_applies_from_linux_6_3_and_falls_back_before() {
    let (fd, applied) = memfd_create_compat(&name("t"), libc::MFD_CLOEXEC | libc::MFD_NOEXEC_SEAL).unwrap();
    let exec_sealed = get_seals(fd.as_fd()).unwrap() & libc::F_SEAL_EXEC == libc::F_SEAL_EXEC;
    if kernel_version() >= (6, 3) {
        assert!(applied, "Linux 6.3+ has MFD_NOEXEC_SEAL: no fallback expected");
        assert!(exec_sealed);
    } else {
        assert!(
            !applied,
            "kernels before 6.3 refuse MFD_NOEXEC_SEAL: the retry must run"
        );
        assert!(!exec_sealed);
    }
}

#[test]
fn huge_page_bits_decode_to_sizes() {
    assert_eq!(huge_page_size(libc::MFD_HUGE_2MB), Some(2 << 20));
    assert_eq!(huge_page_size(libc::MFD_HUGE_1GB), Some(1 << 30));
    assert_eq!(huge_page_size(libc::MFD_HUGE_16GB), Some(16 << 30));
    assert_eq!(huge_page_size(0), None);
}

#[test]
fn hugetlb_without_reserved_pages_fails_cleanly() {
    let fd = match memfd_create(&name("t"), libc::MFD_CLOEXEC | libc::MFD_HUGETLB) {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!("skip: MFD_HUGETLB refused here ({e})");
            return;
        }
    };
    let huge = default_huge_page_size().unwrap_or(2 << 20);
    assert_eq!(
        truncate(fd.as_fd(), 4096).unwrap_err().errno,
        Errno::EINVAL,
        "not a huge page multiple"
    );
    truncate(fd.as_fd(), huge).unwrap();
    match Mapping::new(fd.as_fd(), 0, huge as usize, true) {
        Ok(_) => eprintln!("huge pages are reserved here; the mapping worked"),
        Err(e) => assert_eq!(e.errno, Errno::ENOMEM, "{e}"),
    }
}

#[test]
fn a_read_only_view_follows_the_file_and_writes_into_it_stay_private() {
    let fd = memfd_create(&name("t"), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING).unwrap();
    truncate(fd.as_fd(), 8192).unwrap();
    let view = Mapping::new(fd.as_fd(), 0, 8192, false).unwrap();
    let shared = Mapping::new(fd.as_fd(), 0, 8192, true).unwrap();
    // SAFETY: both mappings are live and 8192 bytes long; the view is
    // PROT_READ|PROT_WRITE (private), so writing it is allowed.
    unsafe {
        // Read first, so the view's page is the file's page, then write through the file.
        assert_eq!(*view.as_ptr().add(10), 0);
        *shared.as_ptr().add(10) = 7;
        assert_eq!(
            *view.as_ptr().add(10),
            7,
            "untouched pages show the file's contents"
        );
        // A write through the view (what JS may do to any ArrayBuffer) neither
        // crashes nor reaches the file.
        *view.as_ptr().add(4096) = 9;
        assert_eq!(*shared.as_ptr().add(4096), 0);
    }
    let mut byte = [1u8];
    pread_full(fd.as_fd(), &mut byte, 4096).unwrap();
    assert_eq!(byte[0], 0);
    drop(shared);
    // Only shared writable mappings block F_SEAL_WRITE; the view does not.
    add_seals(fd.as_fd(), libc::F_SEAL_WRITE).unwrap();
    let after = Mapping::new(fd.as_fd(), 0, 4096, false).unwrap();
    assert_eq!(
        Mapping::new(fd.as_fd(), 0, 4096, true).unwrap_err().errno,
        Errno::EPERM
    );
    drop((view, after));
}

#[test]
fn a_checked_mapping_keeps_to_the_file_and_needs_the_shrink_seal() {
    let fd = memfd_create(&name("t"), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING).unwrap();
    truncate(fd.as_fd(), 8192).unwrap();
    let errno = |r: linux_fd_core::Result<Mapping>| r.unwrap_err().errno;
    // Without F_SEAL_SHRINK the file could shrink under the mapping.
    assert_eq!(
        errno(Mapping::checked(fd.as_fd(), 0, 4096, true, false)),
        Errno::EPERM
    );
    // The seal is checked first: past the end, but unsealed, is EPERM.
    assert_eq!(
        errno(Mapping::checked(fd.as_fd(), 0, 16384, true, false)),
        Errno::EPERM
    );
    let m = Mapping::checked(fd.as_fd(), 0, 8192, true, true).unwrap();
    assert_eq!(m.len(), 8192);
    add_seals(fd.as_fd(), libc::F_SEAL_SHRINK).unwrap();
    assert_eq!(
        Mapping::checked(fd.as_fd(), 4096, 4096, false, false)
            .unwrap()
            .len(),
        4096
    );
    // Past the end of the file (by one byte, by offset, by overflow), and empty.
    assert_eq!(
        errno(Mapping::checked(fd.as_fd(), 0, 8193, true, false)),
        Errno::EINVAL
    );
    assert_eq!(
        errno(Mapping::checked(fd.as_fd(), 8192, 4096, true, false)),
        Errno::EINVAL
    );
    assert_eq!(
        errno(Mapping::checked(fd.as_fd(), u64::MAX, 4096, true, false)),
        Errno::EINVAL
    );
    assert_eq!(
        errno(Mapping::checked(fd.as_fd(), 0, 0, true, false)),
        Errno::EINVAL
    );
    // An unaligned offset inside the file: mmap's own EINVAL.
    assert_eq!(
        errno(Mapping::checked(fd.as_fd(), 100, 4096, true, false)),
        Errno::EINVAL
    );
}

#[test]
fn retire_raw_keeps_the_address_but_lets_the_file_go() {
    let fd = memfd_create(&name("t"), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING).unwrap();
    truncate(fd.as_fd(), 8192).unwrap();
    let (ptr, len) = Mapping::new(fd.as_fd(), 0, 6000, true).unwrap().into_raw();
    let span = len.next_multiple_of(map_granule(fd.as_fd()).unwrap() as usize);
    assert_eq!(span, 6000usize.next_multiple_of(page_size() as usize));
    // SAFETY: ptr..ptr+len is our live shared mapping.
    unsafe { ptr.write_volatile(7) };
    assert_eq!(
        add_seals(fd.as_fd(), libc::F_SEAL_WRITE).unwrap_err().errno,
        Errno::EBUSY
    );
    // SAFETY: (ptr, span) is the whole mapping from into_raw; no reference into it.
    unsafe { retire_raw(ptr, span) }.unwrap();
    // The file no longer counts as mapped writable, and kept what was written.
    add_seals(fd.as_fd(), libc::F_SEAL_WRITE).unwrap();
    let mut b = [0u8; 1];
    pread_full(fd.as_fd(), &mut b, 0).unwrap();
    assert_eq!(b[0], 7);
    // The range is still ours: zeroed, writable, and writes reach no file.
    // SAFETY: retire_raw left ptr..ptr+span mapped read-write.
    unsafe {
        assert_eq!(ptr.read_volatile(), 0);
        ptr.add(span - 1).write_volatile(9);
    }
    pread_full(fd.as_fd(), &mut b, 8191).unwrap();
    assert_eq!(b[0], 0);
    // SAFETY: (ptr, span) was retired and is unmapped once, here.
    unsafe { unmap_raw(ptr, span) };
}
