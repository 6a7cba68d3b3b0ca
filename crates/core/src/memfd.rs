//! `memfd_create(2)`: anonymous files in memory, their seals, positional I/O,
//! and shared mappings.
//!
//! Kernel rules a careful caller must know (docs/design.md, "Mappings"):
//! - Without `MFD_ALLOW_SEALING` the initial seal is `F_SEAL_SEAL`: no seal can
//!   ever be added; but a `vm.memfd_noexec` of 1 or 2 (Linux 6.3) makes a
//!   file created without `MFD_EXEC` `MFD_NOEXEC_SEAL`, which implies
//!   `MFD_ALLOW_SEALING` (s45-kernel F2). Seals can never be removed.
//! - `F_SEAL_WRITE` leaves the size free: a truncate still zeroes the
//!   contents, so an immutable file also needs `F_SEAL_SHRINK | F_SEAL_GROW`.
//! - `F_SEAL_WRITE` fails with `EBUSY` while any writable shared mapping exists.
//! - Touching a mapping beyond EOF (after someone shrank the file) raises
//!   SIGBUS, which no runtime can recover from; `F_SEAL_SHRINK` prevents it.
//! - `MFD_NOEXEC_SEAL`/`MFD_EXEC` exist since Linux 6.3; older kernels say
//!   `EINVAL`, so [`memfd_create_compat`] retries without them.
//! - hugetlb memfds: sizes are multiples of the huge page size, `write(2)` is
//!   unsupported (`EINVAL`; use a mapping), and a shared mapping reserves its
//!   huge pages at `mmap` time, so a shortage is `ENOMEM` there, not SIGBUS later.
//!
//! # References
//! - [`memfd_create(2)`](https://man7.org/linux/man-pages/man2/memfd_create.2.html)
//! - [`fcntl(2)`, "File sealing"](https://man7.org/linux/man-pages/man2/fcntl.2.html)
//! - [`mmap(2)`](https://man7.org/linux/man-pages/man2/mmap.2.html)

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::error::{Errno, Error, Result};

/// `memfd_create(name, flags)`—Creates an anonymous memory file.
///
/// `flags` are passed through, so every `MFD_HUGE_*` size works.
///
/// # Errors
/// `EINVAL` (unknown flags, a name over 249 bytes), `ENODEV` (`MFD_HUGETLB`
/// with a huge page size this machine does not have), `ENOENT` (no
/// hugetlbfs mount for that size), `EMFILE`, `ENOMEM`, `EACCES`
/// (`MFD_EXEC` under the `vm.memfd_noexec` policy 2).
pub fn memfd_create(name: &CStr, flags: u32) -> Result<OwnedFd> {
    // SAFETY: name is NUL-terminated; the call returns a new fd or -1.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), flags) };
    if fd < 0 {
        return Err(Error::new(Errno::last(), "memfd_create"));
    }
    // SAFETY: fd was just created and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// [`memfd_create`], retried without `MFD_NOEXEC_SEAL`/`MFD_EXEC` when a
/// pre-6.3 kernel rejects them with `EINVAL`. Returns the fd and whether the
/// exec flags were applied.
pub fn memfd_create_compat(name: &CStr, flags: u32) -> Result<(OwnedFd, bool)> {
    let exec_bits = libc::MFD_NOEXEC_SEAL | libc::MFD_EXEC;
    match memfd_create(name, flags) {
        Ok(fd) => Ok((fd, flags & exec_bits != 0)),
        Err(e) if e.errno == Errno::EINVAL && flags & exec_bits != 0 => {
            memfd_create(name, flags & !exec_bits).map(|fd| (fd, false))
        }
        Err(e) => Err(e),
    }
}

/// The huge page size `MFD_HUGE_*` bits in `flags` ask for, or `None` for the
/// system default huge page size (bits 0).
pub fn huge_page_size(flags: u32) -> Option<u64> {
    let log2 = (flags >> libc::MFD_HUGE_SHIFT) & libc::MFD_HUGE_MASK;
    (log2 != 0).then(|| 1u64 << log2)
}

/// The system's default huge page size, from `/proc/meminfo` (`Hugepagesize`).
pub fn default_huge_page_size() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("Hugepagesize:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The base page size.
pub fn page_size() -> u64 {
    // SAFETY: sysconf only reads a constant.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as u64
    } else {
        4096
    }
}

/// `fstat(fd).st_size`.
pub fn size(fd: BorrowedFd<'_>) -> Result<u64> {
    nix::sys::stat::fstat(fd)
        .map(|st| st.st_size as u64)
        .map_err(|e| Error::new(e, "fstat"))
}

/// `ftruncate(fd, size)`. `EPERM` against `F_SEAL_SHRINK`/`F_SEAL_GROW`;
/// `EINVAL` for a hugetlb size that is not a multiple of the page size.
pub fn truncate(fd: BorrowedFd<'_>, size: u64) -> Result<()> {
    let size = libc::off_t::try_from(size).map_err(|_| Error::new(Errno::EFBIG, "ftruncate"))?;
    nix::unistd::ftruncate(fd, size).map_err(|e| Error::new(e, "ftruncate"))
}

/// `fcntl(fd, F_ADD_SEALS, seals)`.
///
/// # Errors
/// `EPERM` (the file has `F_SEAL_SEAL`, or was made without
/// `MFD_ALLOW_SEALING`), `EBUSY` (`F_SEAL_WRITE` while a writable shared
/// mapping exists), `EINVAL` (unknown seal, or not a memfd/shmem file).
pub fn add_seals(fd: BorrowedFd<'_>, seals: i32) -> Result<()> {
    // SAFETY: F_ADD_SEALS takes an int (the seal bits).
    unsafe { crate::fcntl::fcntl_int(fd, libc::F_ADD_SEALS, seals) }.map(|_| ())
}

/// `fcntl(fd, F_GET_SEALS)`.
pub fn get_seals(fd: BorrowedFd<'_>) -> Result<i32> {
    // SAFETY: F_GET_SEALS takes no argument.
    unsafe { crate::fcntl::fcntl_int(fd, libc::F_GET_SEALS, 0) }
}

/// `pwrite(fd, data, offset)`, repeated until all of `data` is written, or
/// an error stops it: then the bytes written before it, if any, as
/// `write(2)` reports a short count (a seal can stop a write part way: with
/// `F_SEAL_GROW`, at the page that would grow the file). The error itself
/// is returned only when nothing was written; the next call meets it.
pub fn pwrite_all(fd: BorrowedFd<'_>, mut data: &[u8], mut offset: u64) -> Result<usize> {
    let total = data.len();
    let stopped = |e: Errno, left: usize| {
        if left < total {
            Ok(total - left)
        } else {
            Err(Error::new(e, "pwrite"))
        }
    };
    while !data.is_empty() {
        let Ok(off) = libc::off_t::try_from(offset) else {
            return stopped(Errno::EFBIG, data.len());
        };
        match nix::sys::uio::pwrite(fd, data, off) {
            Ok(0) => return stopped(Errno::EIO, data.len()),
            Ok(n) => {
                data = &data[n..];
                offset += n as u64;
            }
            Err(Errno::EINTR) => {}
            Err(e) => return stopped(e, data.len()),
        }
    }
    Ok(total)
}

/// `pread(fd, buf, offset)`, repeated until `buf` is full or EOF; returns the
/// number of bytes read.
pub fn pread_full(fd: BorrowedFd<'_>, buf: &mut [u8], mut offset: u64) -> Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        let off = libc::off_t::try_from(offset).map_err(|_| Error::new(Errno::EFBIG, "pread"))?;
        match nix::sys::uio::pread(fd, &mut buf[done..], off) {
            Ok(0) => break,
            Ok(n) => {
                done += n;
                offset += n as u64;
            }
            Err(Errno::EINTR) => {}
            Err(e) => return Err(Error::new(e, "pread")),
        }
    }
    Ok(done)
}

/// Whether `fd` is a file of hugetlbfs (a `MFD_HUGETLB` memfd). `false` if
/// `fstatfs` fails.
pub fn is_hugetlbfs(fd: BorrowedFd<'_>) -> bool {
    const HUGETLBFS_MAGIC: i64 = 0x9584_58f6;
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: fstatfs only writes the statfs buffer, which is valid for writes.
    let rc = unsafe { libc::fstatfs(fd.as_raw_fd(), st.as_mut_ptr()) };
    // f_type is an i64 on glibc but an unsigned long on musl.
    #[allow(clippy::unnecessary_cast)]
    // SAFETY: fstatfs returned 0, so it filled the buffer.
    let ok = rc == 0 && unsafe { st.assume_init() }.f_type as i64 == HUGETLBFS_MAGIC;
    ok
}

/// A file mapping, unmapped on drop unless [`Mapping::into_raw`] took it.
#[derive(Debug)]
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    /// `mmap(NULL, len, PROT_READ | PROT_WRITE, writable ? MAP_SHARED :
    /// MAP_PRIVATE (| MAP_NORESERVE unless hugetlbfs), fd, offset)`.
    ///
    /// A read-only view is a *private* mapping that is still writable, not a
    /// `PROT_READ` one: memory handed to JavaScript as an `ArrayBuffer` can
    /// always be written (V8 has no read-only buffers), and a write into a
    /// `PROT_READ` page is a SIGSEGV that kills the process. With
    /// `MAP_PRIVATE`, pages nobody wrote through this mapping stay the file's
    /// own page-cache pages, so they show other processes' writes; a page
    /// written through it becomes a private copy (and stops following the
    /// file). Private mappings are allowed on read-only fds and on
    /// `F_SEAL_WRITE`/`F_SEAL_FUTURE_WRITE` files, and do not block
    /// `F_SEAL_WRITE` (the kernel only counts shared writable mappings).
    ///
    /// The caller is responsible for the SIGBUS rule: only map what the file
    /// backs, and only files that cannot shrink (or whose shrinking it controls).
    ///
    /// # Errors
    /// `EINVAL` (zero length, unaligned offset), `EACCES` (a writable mapping
    /// of a read-only fd), `EPERM` (a writable mapping of an `F_SEAL_WRITE`
    /// file), `ENOMEM` (no huge pages to reserve, or out of address space).
    pub fn new(fd: BorrowedFd<'_>, offset: u64, len: usize, writable: bool) -> Result<Self> {
        let flags = if writable {
            libc::MAP_SHARED
        } else if is_hugetlbfs(fd) {
            // A private hugetlb mapping reserves huge pages for its whole
            // length; without that reservation (MAP_NORESERVE) even a *read*
            // of a page the file has not allocated yet raises SIGBUS when the
            // pool is empty. So keep the reservation: `ENOMEM` up front.
            libc::MAP_PRIVATE
        } else {
            // Without MAP_NORESERVE a private writable mapping is charged in
            // full against the commit limit (a 40 GiB view of a sparse file
            // failed with ENOMEM on a 23 GiB machine); pages are only
            // allocated if JS writes into the view.
            libc::MAP_PRIVATE | libc::MAP_NORESERVE
        };
        let off = libc::off_t::try_from(offset).map_err(|_| Error::new(Errno::EINVAL, "mmap"))?;
        // SAFETY: a fresh mapping at an address the kernel picks (no
        // MAP_FIXED), so no existing memory is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd.as_raw_fd(),
                off,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(Error::new(Errno::last(), "mmap"));
        }
        let ptr = NonNull::new(p.cast::<u8>()).ok_or(Error::new(Errno::ENOMEM, "mmap"))?;
        Ok(Self { ptr, len })
    }

    /// [`Mapping::new`] with the SIGBUS rule checked first: `length` bytes
    /// at `offset` must lie inside the file, and the file must carry
    /// `F_SEAL_SHRINK` unless `allow_shrink` (the caller then answers for
    /// never shrinking it under the mapping: a file that shrinks turns the
    /// next access into a SIGBUS).
    ///
    /// # Errors
    /// `EINVAL` for a length of 0 or a range past the end of the file,
    /// `EPERM` for a file without `F_SEAL_SHRINK` unless `allow_shrink`
    /// (checked before the range), `ENOMEM` for a length that does not fit
    /// a `usize` (only where that is narrower than 64 bits); `F_GET_SEALS`'s,
    /// `fstat`'s and [`Mapping::new`]'s errors (syscall `"mmap"` for the
    /// checks' own).
    pub fn checked(
        fd: BorrowedFd<'_>,
        offset: u64,
        length: u64,
        writable: bool,
        allow_shrink: bool,
    ) -> Result<Self> {
        let refuse = |errno| Err(Error::new(errno, "mmap"));
        if length == 0 {
            return refuse(Errno::EINVAL);
        }
        let Ok(len) = usize::try_from(length) else {
            return refuse(Errno::ENOMEM);
        };
        if !allow_shrink && get_seals(fd)? & libc::F_SEAL_SHRINK == 0 {
            return refuse(Errno::EPERM);
        }
        let file_size = size(fd)?;
        if offset.checked_add(length).is_none_or(|end| end > file_size) {
            return refuse(Errno::EINVAL);
        }
        Self::new(fd, offset, len, writable)
    }

    /// The start address.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never: `mmap` refuses length 0).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Gives up ownership: the caller must [`unmap_raw`] it exactly once.
    pub fn into_raw(self) -> (*mut u8, usize) {
        let out = (self.ptr.as_ptr(), self.len);
        std::mem::forget(self);
        out
    }
}

/// Mappings of the binding live in the process now (see [`map_slot_take`]).
static LIVE_MAPS: AtomicUsize = AtomicUsize::new(0);

/// How many mappings the binding keeps live in the process at most: three
/// quarters of `vm.max_map_count` (65,530 by default: 49,146), read once
/// (65,530 if it cannot be read). Past `max_map_count` the kernel refuses
/// every `mmap` with `ENOMEM`, V8's own too: with the count used up by
/// mappings, V8's next allocation failed and the process died of SIGSEGV
/// before `map()` could throw (s40-memfd LOW-7). The quarter left is for
/// V8, Node, libraries and thread stacks. A mapping is one area of the
/// process (its placeholder, after `unmap()`, takes its place).
pub fn map_budget() -> usize {
    static BUDGET: OnceLock<usize> = OnceLock::new();
    *BUDGET.get_or_init(|| {
        let max = std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(65_530);
        max / 4 * 3
    })
}

/// Takes one of the [`map_budget`] slots, for a mapping about to be made.
/// Give it back with [`map_slot_free`] once the mapping is gone (or was
/// never made).
///
/// # Errors
/// `ENOMEM` (as `mmap`) if every slot is taken.
pub fn map_slot_take() -> Result<()> {
    LIVE_MAPS
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < map_budget()).then_some(n + 1)
        })
        .map(|_| ())
        .map_err(|_| Error::new(Errno::ENOMEM, "mmap"))
}

/// Gives back a slot of [`map_slot_take`].
pub fn map_slot_free() {
    LIVE_MAPS.fetch_sub(1, Ordering::AcqRel);
}

/// How many slots of [`map_budget`] are taken.
pub fn map_slots_taken() -> usize {
    LIVE_MAPS.load(Ordering::Acquire)
}

/// The granule the kernel maps `fd` in: the huge page size of a hugetlbfs
/// file (its `st_blksize`), else the base page size. A mapping's offset must
/// be a multiple of it, and the kernel rounds its length up to one.
///
/// Only hugetlbfs: a shmem file with transparent huge pages
/// (`shmem_enabled` `always` or `within_size`, or a tmpfs mounted
/// `huge=always`) also reports a 2 MiB `st_blksize`, but is mapped in base
/// pages. Taken from `st_blksize`, a 4 KiB mapping's span was 2 MiB, and
/// retiring or unmapping it clobbered the memory after it (SIGSEGV).
///
/// # Errors
/// `fstat`'s (`EBADF`).
pub fn map_granule(fd: BorrowedFd<'_>) -> Result<u64> {
    let st = nix::sys::stat::fstat(fd).map_err(|e| Error::new(e, "fstat"))?;
    if !is_hugetlbfs(fd) {
        return Ok(page_size());
    }
    Ok((st.st_blksize as u64).max(page_size()))
}

/// Replaces a mapping taken with [`Mapping::into_raw`] by private anonymous
/// memory at the same address (`mmap(MAP_FIXED | MAP_PRIVATE |
/// MAP_ANONYMOUS | MAP_NORESERVE)`), in one step: the range is never free.
///
/// This is how a mapping is given up while somebody may still hold a raw
/// pointer into it (a Node threadpool job writing into the `ArrayBuffer`
/// over it). After this the file is no longer mapped here (its pages are
/// released, and `F_SEAL_WRITE` no longer counts this mapping), but the
/// address stays reserved: a late write lands in zeroed private pages,
/// instead of a SIGSEGV or, worse, in another mapping that reused the
/// address. The caller frees the range with [`unmap_raw`] once nobody can
/// hold the pointer any more.
///
/// # Errors
/// `mmap`'s (`ENOMEM`); the mapping is then unchanged.
///
/// # Safety
/// `(ptr, span)` must be a whole mapping from `into_raw` that is still
/// mapped, with `span` its length rounded up to [`map_granule`]; no Rust
/// reference may point into it.
pub unsafe fn retire_raw(ptr: *mut u8, span: usize) -> Result<()> {
    // SAFETY: the caller guarantees (ptr, span) is exactly a live mapping of
    // ours that no reference points into, so MAP_FIXED replaces only memory
    // we own; raw pointers others hold stay valid, now to zeroed pages.
    let p = unsafe {
        libc::mmap(
            ptr.cast(),
            span,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(Error::new(Errno::last(), "mmap"));
    }
    Ok(())
}

/// `munmap(ptr, len)` of a mapping taken with [`Mapping::into_raw`], or of
/// one [`retire_raw`] replaced.
///
/// # Safety
/// `(ptr, len)` must come from `into_raw`, with `len` rounded up to
/// [`map_granule`] (the kernel maps whole huge pages of a hugetlbfs file,
/// and refuses to unmap part of one), be unmapped only once, and nothing may
/// access the memory afterwards.
pub unsafe fn unmap_raw(ptr: *mut u8, len: usize) {
    // SAFETY: the caller guarantees (ptr, len) is a live mapping from
    // into_raw, unmapped only here and never touched again, so no reference
    // points into the pages munmap releases.
    unsafe { libc::munmap(ptr.cast(), len) };
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: this mapping is owned and unmapped only here.
        unsafe { unmap_raw(self.ptr.as_ptr(), self.len) };
    }
}
