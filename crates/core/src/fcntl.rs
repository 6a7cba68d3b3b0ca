//! The generic `fcntl(2)` and `ioctl(2)` calls, as Python's `fcntl.fcntl` and
//! `fcntl.ioctl` make them: an integer argument, or a pointer to a buffer.
//!
//! Typed wrappers for the commands this package uses itself live next to
//! their users (`fd.rs`, `lockwait.rs`, `memfd.rs`); these two are the escape
//! hatch for every other command.
//!
//! # References
//! - [`fcntl(2)`](https://man7.org/linux/man-pages/man2/fcntl.2.html)
//! - [`ioctl(2)`](https://man7.org/linux/man-pages/man2/ioctl.2.html)

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use crate::error::{retry_eintr, Errno, Error, Result};

/// The size of the buffer Python's `fcntl`/`ioctl` copy a buffer argument into.
pub const ARG_BUF_SIZE: usize = 1024;

// Linux fcntl commands that take a pointer and that libc 0.2 does not
// define for Linux: the kernel's numbers, from asm-generic/fcntl.h (15 … 17)
// and linux/fcntl.h (F_LINUX_SPECIFIC_BASE, 1024, + 11 … 16). The binding
// exports the ones Python's fcntl module has.
/// `F_SETOWN_EX`: sets the owner from a `struct f_owner_ex`.
pub const F_SETOWN_EX: i32 = 15;
/// `F_GETOWN_EX`: writes the owner into a `struct f_owner_ex`.
pub const F_GETOWN_EX: i32 = 16;
/// `F_GETOWNER_UIDS`: writes two `uid_t` (a file's owner, for a tty).
pub const F_GETOWNER_UIDS: i32 = 17;
/// `F_GET_RW_HINT`: writes the inode's write-life hint into a `u64`.
pub const F_GET_RW_HINT: i32 = 1035;
/// `F_SET_RW_HINT`: sets the inode's write-life hint from a `u64`.
pub const F_SET_RW_HINT: i32 = 1036;
/// `F_GET_FILE_RW_HINT`: writes the open file's write-life hint into a `u64`.
pub const F_GET_FILE_RW_HINT: i32 = 1037;
/// `F_SET_FILE_RW_HINT`: sets the open file's write-life hint from a `u64`.
pub const F_SET_FILE_RW_HINT: i32 = 1038;
/// `F_GETDELEG`: writes the delegation into a `struct delegation`.
pub const F_GETDELEG: i32 = 1039;
/// `F_SETDELEG`: sets a delegation from a `struct delegation`.
pub const F_SETDELEG: i32 = 1040;

/// Whether `cmd` is one of Linux's fcntl commands whose argument is a
/// pointer: the record locks (`F_GETLK`, `F_SETLK`, `F_SETLKW` and the
/// `F_OFD_*` ones, a `struct flock`), `F_GETOWN_EX`/`F_SETOWN_EX` (a
/// `struct f_owner_ex`), `F_GETOWNER_UIDS` (two `uid_t`), the write-life
/// hints (`F_GET_RW_HINT` … `F_SET_FILE_RW_HINT`, a `u64`) and the
/// delegations (`F_GETDELEG`/`F_SETDELEG`, a `struct delegation`, new in
/// 2026). Every other command of fcntl(2) takes an integer or nothing. (On
/// 64-bit Linux `F_GETLK64` … are the same numbers as `F_GETLK` ….) A
/// command added to the kernel later is not known here.
pub fn takes_pointer(cmd: i32) -> bool {
    matches!(
        cmd,
        libc::F_GETLK
            | libc::F_SETLK
            | libc::F_SETLKW
            | libc::F_OFD_GETLK
            | libc::F_OFD_SETLK
            | libc::F_OFD_SETLKW
            | F_SETOWN_EX
            | F_GETOWN_EX
            | F_GETOWNER_UIDS
            | F_GET_RW_HINT..=F_SETDELEG
    )
}

/// `fcntl(fd, cmd, arg)` with an integer argument; returns the call's result.
///
/// A command that [`takes_pointer`] is `EFAULT` without a call: the integer
/// would be used as an address, and a mapped one read or written (C and
/// Python's `fcntl.fcntl` do make that call; an unmapped address is
/// `EFAULT` there too).
///
/// # Safety
/// `cmd` must take an integer argument or none, or be one of those
/// [`takes_pointer`] knows. A command it does not know that takes a pointer
/// (one added to the kernel later) makes the kernel read or write whatever
/// address `arg` names.
///
/// # Errors
/// `EFAULT` for a pointer-taking command; whatever the command reports:
/// `EBADF`, `EINVAL`, `EAGAIN`/`EACCES` for lock conflicts, `EBUSY`, `EPERM`, …
pub unsafe fn fcntl_int(fd: BorrowedFd<'_>, cmd: i32, arg: libc::c_int) -> Result<i32> {
    if takes_pointer(cmd) {
        return Err(Error::new(Errno::EFAULT, "fcntl"));
    }
    // SAFETY: the caller guarantees cmd takes an integer or nothing, so the
    // kernel reads arg as plain data and touches no memory of this process.
    let r = retry_eintr(|| Errno::result(unsafe { libc::fcntl(fd.as_raw_fd(), cmd, arg) }));
    if let (libc::F_DUPFD | libc::F_DUPFD_CLOEXEC, Ok(n)) = (cmd, r) {
        // A new number, the caller's: no stale guard may claim it (fd.rs).
        crate::fd::disown(n);
    }
    r.map_err(|e| Error::new(e, "fcntl"))
}

/// Whether the pointer-taking fcntl command `cmd` writes its answer into
/// the argument (`F_GETLK`, `F_OFD_GETLK`, `F_GETOWN_EX`, `F_GETOWNER_UIDS`,
/// `F_GET_RW_HINT`, `F_GET_FILE_RW_HINT`, `F_GETDELEG`); the others only
/// read it.
pub fn fcntl_writes_arg(cmd: i32) -> bool {
    matches!(
        cmd,
        libc::F_GETLK
            | libc::F_OFD_GETLK
            | F_GETOWN_EX
            | F_GETOWNER_UIDS
            | F_GET_RW_HINT
            | F_GET_FILE_RW_HINT
            | F_GETDELEG
    )
}

/// The pointer-taking `fcntl` commands whose structure size the ABI fixes,
/// with that size: a shorter argument would have the kernel read (and, for
/// the `F_GET…` ones, write) past it, into whatever follows (in the
/// binding's staging copy, guard bytes, which `F_GETLK` then read as
/// `l_start`/`l_len` and answered "no conflict" for a lock another process
/// held). `F_GETDELEG`/`F_SETDELEG` are not listed: their structure is newer
/// than this table.
pub fn fcntl_arg_sizes() -> [(i32, usize); 13] {
    let flock = std::mem::size_of::<libc::flock>();
    // struct f_owner_ex: an int type and a pid_t.
    let owner = std::mem::size_of::<libc::c_int>() + std::mem::size_of::<libc::pid_t>();
    [
        (libc::F_GETLK, flock),
        (libc::F_SETLK, flock),
        (libc::F_SETLKW, flock),
        (libc::F_OFD_GETLK, flock),
        (libc::F_OFD_SETLK, flock),
        (libc::F_OFD_SETLKW, flock),
        (F_GETOWN_EX, owner),
        (F_SETOWN_EX, owner),
        (F_GETOWNER_UIDS, 2 * std::mem::size_of::<libc::uid_t>()),
        (F_GET_RW_HINT, 8),
        (F_SET_RW_HINT, 8),
        (F_GET_FILE_RW_HINT, 8),
        (F_SET_FILE_RW_HINT, 8),
    ]
}

/// `fcntl(fd, cmd, buf)`: the command reads and/or writes `buf`.
///
/// `buf` must be large enough for the command's structure; Python and this
/// package always pass a [`ARG_BUF_SIZE`]-byte buffer.
pub fn fcntl_buf(fd: BorrowedFd<'_>, cmd: i32, buf: &mut [u8; ARG_BUF_SIZE]) -> Result<i32> {
    // SAFETY: buf is valid for ARG_BUF_SIZE bytes of reads and writes for the
    // duration of the call, larger than any fcntl argument structure.
    retry_eintr(|| Errno::result(unsafe { libc::fcntl(fd.as_raw_fd(), cmd, buf.as_mut_ptr()) }))
        .map_err(|e| Error::new(e, "fcntl"))
}

/// `ioctl(fd, request, arg)` with an integer argument. `EFAULT` without a
/// call for a request that writes through its argument
/// ([`writes_through_arg`]).
///
/// # Safety
/// As for [`fcntl_int`]: `request` must take an integer argument or none;
/// a pointer-taking request not refused above would use `arg` as an
/// address.
pub unsafe fn ioctl_int(fd: BorrowedFd<'_>, request: libc::c_ulong, arg: libc::c_ulong) -> Result<i32> {
    if writes_through_arg(request) {
        return Err(Error::new(Errno::EFAULT, "ioctl"));
    }
    // SAFETY: the caller guarantees request takes an integer or nothing, so
    // arg reaches the kernel as plain data. (The request type differs between
    // glibc (c_ulong) and musl (c_int).)
    retry_eintr(|| Errno::result(unsafe { libc::ioctl(fd.as_raw_fd(), request as _, arg) }))
        .map_err(|e| Error::new(e, "ioctl"))
}

/// `FS_IOC_FIEMAP`: `_IOWR('f', 11, struct fiemap)` (linux/fs.h).
pub const FS_IOC_FIEMAP: libc::c_ulong = 0xc020_660b;
/// `EXT4_IOC_GET_ES_CACHE`: `_IOWR('f', 42, struct fiemap)` (fs/ext4/ext4.h),
/// FIEMAP's layout under another number; any user may call it on ext4.
pub const EXT4_IOC_GET_ES_CACHE: libc::c_ulong = 0xc020_662a;
/// `FS_IOC_GETFSMAP`: `_IOWR('X', 59, struct fsmap_head)` (linux/fsmap.h).
pub const FS_IOC_GETFSMAP: libc::c_ulong = 0xc0c0_583b;
/// `FIDEDUPERANGE`: `_IOWR(0x94, 54, struct file_dedupe_range)` (linux/fs.h).
pub const FIDEDUPERANGE: libc::c_ulong = 0xc018_9436;
/// `XFS_IOC_GETBMAP` and `XFS_IOC_GETBMAPA`: `_IOWR('X', 38 / 44, struct
/// getbmap)`, and `XFS_IOC_GETBMAPX`: `_IOWR('X', 56, struct getbmapx)`
/// (xfs_fs.h); any user may call them on XFS.
pub const XFS_IOC_GETBMAP: libc::c_ulong = 0xc020_5826;
/// See [`XFS_IOC_GETBMAP`].
pub const XFS_IOC_GETBMAPA: libc::c_ulong = 0xc020_582c;
/// See [`XFS_IOC_GETBMAP`].
pub const XFS_IOC_GETBMAPX: libc::c_ulong = 0xc030_5838;

/// `KVM_GET_MSR_INDEX_LIST`: `_IOWR(KVMIO, 0x02, struct kvm_msr_list)`
/// (linux/kvm.h), on `/dev/kvm`.
pub const KVM_GET_MSR_INDEX_LIST: libc::c_ulong = 0xc004_ae02;
/// `KVM_GET_SUPPORTED_CPUID`: `_IOWR(KVMIO, 0x05, struct kvm_cpuid2)`.
pub const KVM_GET_SUPPORTED_CPUID: libc::c_ulong = 0xc008_ae05;
/// `KVM_GET_EMULATED_CPUID`: `_IOWR(KVMIO, 0x09, struct kvm_cpuid2)`.
pub const KVM_GET_EMULATED_CPUID: libc::c_ulong = 0xc008_ae09;
/// `KVM_GET_MSR_FEATURE_INDEX_LIST`: `_IOWR(KVMIO, 0x0a, struct kvm_msr_list)`.
pub const KVM_GET_MSR_FEATURE_INDEX_LIST: libc::c_ulong = 0xc004_ae0a;
/// `KVM_GET_MSRS`: `_IOWR(KVMIO, 0x88, struct kvm_msrs)`, on a vCPU (or on
/// `/dev/kvm` for the feature MSRs).
pub const KVM_GET_MSRS: libc::c_ulong = 0xc008_ae88;
/// `KVM_GET_CPUID2`: `_IOWR(KVMIO, 0x91, struct kvm_cpuid2)`, on a vCPU.
pub const KVM_GET_CPUID2: libc::c_ulong = 0xc008_ae91;
/// `KVM_GET_REG_LIST`: `_IOWR(KVMIO, 0xb0, struct kvm_reg_list)`, on a vCPU
/// (arm64, riscv, loongarch).
pub const KVM_GET_REG_LIST: libc::c_ulong = 0xc008_aeb0;
/// `KVM_GET_SUPPORTED_HV_CPUID`: `_IOWR(KVMIO, 0xc1, struct kvm_cpuid2)`.
pub const KVM_GET_SUPPORTED_HV_CPUID: libc::c_ulong = 0xc008_aec1;

/// The size a request's number encodes (`_IOC_SIZE`), for a request with a
/// direction (`_IOR`, `_IOW`, `_IOWR`); 0 for the old unencoded requests.
/// The kernel's generic code copies that many bytes; a driver may copy
/// fewer (`FS_IOC_GETFLAGS` is encoded as a `long` and copies an `int`).
pub fn ioc_size(request: libc::c_ulong) -> usize {
    if (request >> 30) & 3 == 0 {
        return 0;
    }
    ((request >> 16) & 0x3fff) as usize
}

/// Whether `request` writes through its argument as an address, so an
/// integer argument would have the kernel write wherever that number points
/// (with Node's data and heap at fixed addresses below 4 GiB, a
/// plausible-looking integer is a live address): the requests encoded
/// `_IOR`/`_IOWR`, every socket request (0x89xx, all take a structure), and
/// the common old unencoded ones that answer through a pointer (terminal,
/// block device, file and console requests), and nsfs's
/// `NS_GET_OWNER_UID`, encoded `_IO` (no direction) though it writes a
/// `uid_t` (ioctl_ns(2)). An old request missing from this list still uses
/// an integer as an address, as in C and Python.
///
/// # References
/// - [`ioctl_ns(2)`](https://man7.org/linux/man-pages/man2/ioctl_ns.2.html)
/// - [`ioctl_console(2)`](https://man7.org/linux/man-pages/man2/ioctl_console.2.html)
/// - [`ioctl_tty(2)`](https://man7.org/linux/man-pages/man2/ioctl_tty.2.html)
pub fn writes_through_arg(request: libc::c_ulong) -> bool {
    const IOC_READ: libc::c_ulong = 2;
    // nsfs's NS_GET_PID_FROM_PIDNS, NS_GET_TGID_FROM_PIDNS,
    // NS_GET_PID_IN_PIDNS and NS_GET_TGID_IN_PIDNS (Linux 6.11) are encoded
    // `_IOR(0xb7, 6..9, int)` but take the pid itself as their argument.
    if (0x8004_b706..=0x8004_b709).contains(&request) {
        return false;
    }
    if (request >> 30) & IOC_READ != 0 {
        return true;
    }
    matches!(
        request,
        // FIBMAP, FIGETBSZ (linux/fs.h); HDIO_GETGEO
        1 | 2 | 0x0301
        // BLKROGET, BLKGETSIZE, BLKRAGET, BLKFRAGET, BLKSECTGET, BLKSSZGET,
        // BLKIOMIN, BLKIOOPT, BLKALIGNOFF, BLKPBSZGET, BLKDISCARDZEROES,
        // BLKROTATIONAL
        | 0x125e | 0x1260 | 0x1263 | 0x1265 | 0x1267 | 0x1268
        | 0x1278 | 0x1279 | 0x127a | 0x127b | 0x127c | 0x127e
        // LOOP_GET_STATUS, LOOP_GET_STATUS64
        | 0x4c03 | 0x4c05
        // NS_GET_OWNER_UID: _IO(0xb7, 4), yet it writes a uid_t (nsfs.h)
        | 0xb704
        // The console's readers (linux/kd.h): KDGETLED, KDGKBTYPE,
        // KDGETMODE, GIO_SCRNMAP, KDGKBMODE, KDGKBENT, KDGKBSENT,
        // KDGKBDIACR, KDGETKEYCODE, KDKBDREP (writes the rates it set),
        // GIO_FONT, KDGKBMETA, KDGKBLED, GIO_UNIMAP, GIO_UNISCRNMAP,
        // GIO_FONTX, GIO_CMAP, KDFONTOP, KDGKBDIACRUC
        | 0x4b31 | 0x4b33 | 0x4b3b | 0x4b40 | 0x4b44 | 0x4b46 | 0x4b48 | 0x4b4a
        | 0x4b4c | 0x4b52 | 0x4b60 | 0x4b62 | 0x4b64 | 0x4b66 | 0x4b69 | 0x4b6b
        | 0x4b70 | 0x4b72 | 0x4bfa
        // (linux/vt.h): VT_OPENQRY, VT_GETMODE, VT_GETSTATE,
        // VT_GETHIFONTMASK, VT_WAITEVENT (writes the event it waited for)
        | 0x5600 | 0x5601 | 0x5603 | 0x560d | 0x560e
        // TCGETS, TCGETA, TIOCGPGRP, TIOCOUTQ, TIOCGWINSZ, TIOCMGET,
        // TIOCGSOFTCAR, FIONREAD (TIOCINQ), TIOCLINUX, TIOCGSERIAL,
        // TIOCGETD, TIOCGSID, TIOCGRS485, TIOCGLCKTRMIOS, TIOCSERGETLSR,
        // TIOCGICOUNT, FIOQSIZE (any file: the generic VFS answers it)
        | 0x5401 | 0x5405 | 0x540f | 0x5411 | 0x5413 | 0x5415 | 0x5419 | 0x541b
        | 0x541c | 0x541e | 0x5424 | 0x5429 | 0x542e | 0x5456 | 0x5459 | 0x545d
        | 0x5460
        | 0x8900..=0x89ff
    )
}

/// The bytes a VFS request whose output size comes from its argument's
/// *contents* writes into `buf`, or `None` for any other request. The
/// request's encoded size covers only the header; the kernel then writes
/// an array whose length the header names:
/// - `FS_IOC_FIEMAP` and `EXT4_IOC_GET_ES_CACHE`: a 32-byte `struct
///   fiemap`, then `fm_extent_count` (a `u32` at offset 24) `struct
///   fiemap_extent`s of 56 bytes;
/// - `FS_IOC_GETFSMAP`: a 192-byte `struct fsmap_head`, then `fmh_count` (a
///   `u32` at offset 8) `struct fsmap`s of 64 bytes;
/// - `FIDEDUPERANGE`: a 24-byte `struct file_dedupe_range`, then
///   `dest_count` (a `u16` at offset 16) `struct file_dedupe_range_info`s of
///   32 bytes;
/// - XFS's `GETBMAP`, `GETBMAPA` (32-byte records) and `GETBMAPX` (48): an
///   array of `bmv_count` (an `s32` at offset 24) records, the header being
///   the first;
/// - KVM's `KVM_GET_SUPPORTED_CPUID`, `KVM_GET_EMULATED_CPUID`,
///   `KVM_GET_SUPPORTED_HV_CPUID` and `KVM_GET_CPUID2`: an 8-byte `struct
///   kvm_cpuid2`, then `nent` (a `u32` at offset 0) 40-byte `struct
///   kvm_cpuid_entry2`s; `KVM_GET_MSR_INDEX_LIST` and
///   `KVM_GET_MSR_FEATURE_INDEX_LIST`: a 4-byte `struct kvm_msr_list`, then
///   `nmsrs` (a `u32` at 0) `u32` indices; `KVM_GET_MSRS`: an 8-byte `struct
///   kvm_msrs`, then `nmsrs` (a `u32` at 0) 16-byte `struct kvm_msr_entry`s;
///   `KVM_GET_REG_LIST`: an 8-byte `struct kvm_reg_list`, then `n` (a `u64`
///   at 0) `u64` register ids. Each is `E2BIG` when the count is short of
///   the answer, so it writes no more than the count names.
///
/// Other requests of this kind exist (in btrfs and drivers); they are not
/// known here, and the kernel writes past a buffer too short for them (or,
/// through the binding's staging copy, stops at its guard page).
///
/// A `buf` too short for the header gives the header's size (the kernel
/// reads that much first).
pub fn content_sized(request: libc::c_ulong, buf: &[u8]) -> Option<u64> {
    // The fields are in the machine's byte order, as the kernel reads them.
    let u32_at = |at: usize| {
        buf.get(at..at + 4)
            .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u16_at = |at: usize| buf.get(at..at + 2).map(|b| u16::from_ne_bytes([b[0], b[1]]));
    let u64_at = |at: usize| {
        buf.get(at..at + 8)
            .map(|b| u64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    };
    match request {
        FS_IOC_FIEMAP | EXT4_IOC_GET_ES_CACHE => Some(u32_at(24).map_or(32, |n| 32 + u64::from(n) * 56)),
        FS_IOC_GETFSMAP => Some(u32_at(8).map_or(192, |n| 192 + u64::from(n) * 64)),
        FIDEDUPERANGE => Some(u16_at(16).map_or(24, |n| 24 + u64::from(n) * 32)),
        XFS_IOC_GETBMAP | XFS_IOC_GETBMAPA | XFS_IOC_GETBMAPX => {
            let size = if request == XFS_IOC_GETBMAPX { 48 } else { 32 };
            // A count below 1 is the kernel's EINVAL: the header alone.
            Some(u32_at(24).map_or(size, |n| size * u64::from((n as i32).max(1) as u32)))
        }
        KVM_GET_SUPPORTED_CPUID | KVM_GET_EMULATED_CPUID | KVM_GET_SUPPORTED_HV_CPUID | KVM_GET_CPUID2 => {
            Some(
                u32_at(0)
                    .filter(|_| buf.len() >= 8)
                    .map_or(8, |n| 8 + u64::from(n) * 40),
            )
        }
        KVM_GET_MSR_INDEX_LIST | KVM_GET_MSR_FEATURE_INDEX_LIST => {
            Some(u32_at(0).map_or(4, |n| 4 + u64::from(n) * 4))
        }
        KVM_GET_MSRS => Some(
            u32_at(0)
                .filter(|_| buf.len() >= 8)
                .map_or(8, |n| 8 + u64::from(n) * 16),
        ),
        KVM_GET_REG_LIST => Some(u64_at(0).map_or(8, |n| n.saturating_mul(8).saturating_add(8))),
        _ => None,
    }
}

/// `ioctl(fd, request, buf)`: the request reads and/or writes `buf`.
///
/// For the VFS requests whose output size depends on the argument's
/// contents ([`content_sized`]), a `buf` shorter than that size is `EINVAL`
/// before any call: the kernel would write past it.
///
/// # Safety
/// `buf` must be at least as large as the structure `request` reads or
/// writes; the kernel trusts the request's encoded size, not the slice.
pub unsafe fn ioctl_buf(fd: BorrowedFd<'_>, request: libc::c_ulong, buf: &mut [u8]) -> Result<i32> {
    if content_sized(request, buf).is_some_and(|need| need > buf.len() as u64) {
        return Err(Error::new(Errno::EINVAL, "ioctl"));
    }
    // SAFETY: the caller guarantees buf covers the size the request reads or
    // writes, so the kernel stays inside buf, which is live and exclusively
    // borrowed for the call.
    retry_eintr(|| Errno::result(unsafe { libc::ioctl(fd.as_raw_fd(), request as _, buf.as_mut_ptr()) }))
        .map_err(|e| Error::new(e, "ioctl"))
}

/// Memory to stage an argument copy in, whose last byte lies right before a
/// `PROT_NONE` guard page: a slice from [`Staging::tail`] ends where the
/// guard page starts, so the kernel, given its address, can write no further
/// than the slice's end. A request that writes more than the slice holds (a
/// driver sizing its answer by a count inside the argument, as
/// `KVM_GET_SUPPORTED_CPUID` does) fails with `EFAULT` at the guard page
/// instead of writing over whatever follows (a stack copy was overwritten
/// that way: s52-fcntl HIGH-2). The kernel copies to and from user memory in
/// order, so the bytes before the fault may have been written.
///
/// One mapping of its capacity rounded up to whole pages plus the guard
/// page, private and anonymous, unmapped on drop.
///
/// # References
/// - [`mmap(2)`](https://man7.org/linux/man-pages/man2/mmap.2.html)
/// - [`mprotect(2)`](https://man7.org/linux/man-pages/man2/mprotect.2.html)
#[derive(Debug)]
pub struct Staging {
    base: std::ptr::NonNull<u8>,
    /// The bytes before the guard page: a whole number of pages.
    len: usize,
    page: usize,
}

impl Staging {
    /// A staging area of at least `capacity` bytes, then the guard page.
    ///
    /// # Errors
    /// `ENOMEM` (`mmap`: out of address space or of mappings, or
    /// `mprotect`, which splits the mapping in two).
    pub fn new(capacity: usize) -> Result<Self> {
        let page = crate::memfd::page_size() as usize;
        let len = capacity.max(1).div_ceil(page) * page;
        let total = len + page;
        // SAFETY: a fresh anonymous mapping at an address the kernel picks
        // (no MAP_FIXED): no existing memory is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                total,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(Error::new(Errno::last(), "mmap"));
        }
        let Some(base) = std::ptr::NonNull::new(p.cast::<u8>()) else {
            return Err(Error::new(Errno::ENOMEM, "mmap"));
        };
        let staging = Self { base, len, page };
        // SAFETY: the last page of the mapping made above, which nothing
        // references yet; on failure `staging` is dropped, which unmaps it.
        if unsafe { libc::mprotect(p.cast::<u8>().add(len).cast(), page, libc::PROT_NONE) } != 0 {
            return Err(Error::new(Errno::last(), "mprotect"));
        }
        Ok(staging)
    }

    /// The bytes before the guard page (at least the capacity asked for).
    pub fn capacity(&self) -> usize {
        self.len
    }

    /// The last `n` bytes before the guard page, as they were left (fill
    /// them before use), or `None` if `n` is over [`Staging::capacity`].
    pub fn tail(&mut self, n: usize) -> Option<&mut [u8]> {
        let start = self.len.checked_sub(n)?;
        // SAFETY: [start, len) lies in the readable and writable part of
        // the mapping, which lives as long as self; the &mut self borrow
        // makes the slice the only reference to it.
        Some(unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr().add(start), n) })
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // SAFETY: the whole mapping made in new(), unmapped once; no slice
        // of it outlives the &mut self borrow that made it.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len + self.page) };
    }
}

/// Guard bytes written right after the argument in its staging copy, for
/// a call known to write its answer there: bytes no answer is likely to
/// repeat, none of them zero, so that a call writing past the argument is
/// caught whatever it writes, unless it writes these very bytes. Zeros
/// alone let that depend on the data: `TIOCGWINSZ` into 4 bytes passed
/// while the terminal's pixel size was 0x0 and failed on one that reports
/// it; a leading NUL (for string arguments, as CPython 3.14's guard has)
/// let `TIOCGWINSZ` into 7 bytes pass whenever `ws_ypixel`'s high byte was
/// 0 (s52-fcntl LOW-1). A string's NUL terminator is the caller's (the
/// TypeScript layer copies a string with one, and checks that byte itself).
/// A call that only reads its argument gets zeros after it, as in Python
/// before 3.14: with the guard, `TIOCSWINSZ` from 4 bytes set the tty's
/// pixel size to the guard's bytes. (CPython 3.14 guards every call.)
pub const GUARD: [u8; 8] = [0xd7, 0x9d, 0x3e, 0xb1, 0x5c, 0xe7, 0x42, 0x8a];

/// The most bytes a staging copy takes: an argument shorter than the size
/// its request encodes (`_IOC_SIZE`: 14 bits, at most 16383), then the
/// guard bytes.
const STAGE_MAX: usize = 0x3fff + GUARD.len();

thread_local! {
    /// This thread's [`Staging`] area, made at its first [`through_copy`]
    /// and unmapped when the thread ends (its destructor): worker threads
    /// come and go, and each call stays on its own thread.
    static STAGING: std::cell::RefCell<Option<Staging>> = const { std::cell::RefCell::new(None) };
}

/// What [`through_copy`] found after a successful call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Staged {
    /// The call's result; the copy's first `arg.len()` bytes went back into
    /// `arg`.
    Done(i32),
    /// The call succeeded but changed a byte after the argument (the guard
    /// bytes, or the zeros after them): the argument was too short for the
    /// command or request. Its first bytes went back into `arg` all the same.
    Overflow,
}

/// Runs `call` on a copy of `arg` followed by [`GUARD`] (if `guard`, else
/// zeros) and zeros, at least [`ARG_BUF_SIZE`] (Python's size) plus the
/// guard and `reach` bytes long, and copies the first `arg.len()` bytes back
/// after a success.
///
/// The copy is the end of this thread's [`Staging`] area, whose last byte
/// lies right before a `PROT_NONE` page: a call that writes past the copy,
/// as a driver that sizes its answer by a count inside the argument does
/// (`KVM_GET_SUPPORTED_CPUID` with a count the buffer cannot hold), fails
/// with `EFAULT` at that page. It wrote over the binding's stack when the
/// copy was a stack array (s52-fcntl HIGH-2).
///
/// # Errors
/// `call`'s; `ENOMEM` if the area cannot be mapped (or this thread's
/// thread-locals are already gone); `EINVAL` for an `arg` or `reach` over
/// 16 KiB.
pub fn through_copy(
    arg: &mut [u8],
    reach: usize,
    guard: bool,
    call: impl FnOnce(&mut [u8]) -> Result<i32>,
) -> Result<Staged> {
    let n = arg.len();
    let size = (n + GUARD.len()).max(reach).max(ARG_BUF_SIZE + GUARD.len());
    let staged = STAGING.try_with(|cell| {
        // Never taken already: the call is one syscall, which runs no code
        // of ours that could come back here.
        let Ok(mut slot) = cell.try_borrow_mut() else {
            return Err(Error::new(Errno::EBUSY, "ioctl"));
        };
        if slot.is_none() {
            *slot = Some(Staging::new(STAGE_MAX)?);
        }
        let Some(buf) = slot.as_mut().and_then(|st| st.tail(size)) else {
            return Err(Error::new(Errno::EINVAL, "ioctl"));
        };
        // The area keeps the last call's bytes: everything after the guard is
        // zeroed again, as a fresh copy was.
        buf[..n].copy_from_slice(arg);
        let after: [u8; 8] = if guard { GUARD } else { [0; 8] };
        buf[n..n + GUARD.len()].copy_from_slice(&after);
        buf[n + GUARD.len()..].fill(0);
        let r = call(buf)?;
        arg.copy_from_slice(&buf[..n]);
        // An OR over the whole tail, not `any()`: without the early exit it
        // compiles to a vector loop (`any` went byte by byte: +1.1 µs on
        // every OFD lock+unlock pair through `fcntl`).
        let (guard_now, rest) = buf[n..].split_at(GUARD.len());
        if guard_now != after || rest.iter().fold(0, |acc, &b| acc | b) != 0 {
            return Ok(Staged::Overflow);
        }
        Ok(Staged::Done(r))
    });
    // A thread whose thread-locals are already gone runs no JS.
    staged.unwrap_or_else(|_| Err(Error::new(Errno::ENOMEM, "mmap")))
}

/// `pipe2(flags)`—A new pipe: its read end and its write end. `flags`
/// (`O_CLOEXEC`, `O_NONBLOCK`, `O_DIRECT` for packet mode, `O_NOTIFICATION_PIPE`)
/// reach the kernel as they are, which refuses others with `EINVAL`.
///
/// # References
/// - [`pipe(2)`](https://man7.org/linux/man-pages/man2/pipe.2.html)
pub fn pipe2(flags: i32) -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::from_bits_retain(flags)).map_err(|e| Error::new(e, "pipe2"))
}

/// `fcntl(fd, F_GETPIPE_SZ)`—The capacity of a pipe, in bytes.
pub fn pipe_size(fd: BorrowedFd<'_>) -> Result<usize> {
    // SAFETY: F_GETPIPE_SZ takes no argument.
    unsafe { fcntl_int(fd, libc::F_GETPIPE_SZ, 0) }.map(|n| n as usize)
}

/// `fcntl(fd, F_SETPIPE_SZ, size)`—Sets a pipe's capacity; the kernel rounds
/// up to a power of two and returns the result. `size` is the kernel's
/// `unsigned int` and reaches it unchanged, so the kernel answers for every
/// value, as for Python's `fcntl.fcntl`: `EINVAL` above 2^31, `EPERM` above
/// `/proc/sys/fs/pipe-max-size` without `CAP_SYS_RESOURCE`, `EBUSY` below the
/// data already buffered.
pub fn set_pipe_size(fd: BorrowedFd<'_>, size: u32) -> Result<usize> {
    // The kernel reads the argument as an unsigned int (pipe_fcntl), so the
    // bit pattern of `size` is what it sees, whatever C `int` makes of it.
    // SAFETY: F_SETPIPE_SZ takes an integer (the size), never an address.
    unsafe { fcntl_int(fd, libc::F_SETPIPE_SZ, size as libc::c_int) }.map(|n| n as usize)
}
