//! memfd: Python's `os.memfd_create`, and the native calls behind `MemFile`
//! (src/memfd.ts): positional I/O, seals, and shared mappings exposed as
//! external `ArrayBuffer`s. Errors are negative errnos (see `handle.rs`).
//!
//! Mappings: each `MemFile` that maps keeps a [`Mappings`] registry (an
//! `External`) of its live mappings, so that `unmap()` can find the mapping
//! behind an `ArrayBuffer` and `mappings` can count them. Each mapping is
//! unmapped exactly once: by `memfdUnmap` (which first detaches the buffer,
//! so no JS can reach the memory again) or by the buffer's finalizer after
//! garbage collection, whichever comes first.
//!
//! Memory safety trusts no caller: `memfdMap` maps through
//! `Mapping::checked`, which refuses a mapping past the end of the file, and
//! one of a file without the `shrink` seal unless `allowShrink` (a file that
//! shrinks under a mapping turns the next access into a SIGBUS). The
//! TypeScript layer checks all of that first, with Node's error codes.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::IntoRawFd;
use std::rc::{Rc, Weak};

use crate::rt::ext::Owned;
use linux_fd_core::memfd::{self as core, Mapping};
use napi::bindgen_prelude::{ArrayBuffer, Either, External, FromNapiValue, Uint8ArraySlice};
use napi::Env;
use napi_derive::napi;

use crate::handle::{borrow_fd, errno, FdHandle};
use crate::rt::extbuf::{self, ExtBufError};

macro_rules! mfd_consts {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        $(
            $(#[$doc])*
            #[napi]
            pub const $name: u32 = libc::$name as u32;
        )*
    };
}

mfd_consts! {
    /// `memfdCreate` flag: close-on-exec (the default).
    MFD_CLOEXEC,
    /// `memfdCreate` flag: allow seals (`F_ADD_SEALS`); without it the file starts with `F_SEAL_SEAL`.
    MFD_ALLOW_SEALING,
    /// `memfdCreate` flag: back the file with huge pages (size with `MFD_HUGE_*`).
    MFD_HUGETLB,
    /// Shift of the huge page size's log2 in the flags.
    MFD_HUGE_SHIFT,
    /// Mask of the huge page size's log2 (after the shift).
    MFD_HUGE_MASK,
    /// Huge page size 64 KiB.
    MFD_HUGE_64KB,
    /// Huge page size 512 KiB.
    MFD_HUGE_512KB,
    /// Huge page size 1 MiB.
    MFD_HUGE_1MB,
    /// Huge page size 2 MiB.
    MFD_HUGE_2MB,
    /// Huge page size 8 MiB.
    MFD_HUGE_8MB,
    /// Huge page size 16 MiB.
    MFD_HUGE_16MB,
    /// Huge page size 32 MiB.
    MFD_HUGE_32MB,
    /// Huge page size 256 MiB.
    MFD_HUGE_256MB,
    /// Huge page size 512 MiB.
    MFD_HUGE_512MB,
    /// Huge page size 1 GiB.
    MFD_HUGE_1GB,
    /// Huge page size 2 GiB.
    MFD_HUGE_2GB,
    /// Huge page size 16 GiB (above 2^31: positive here, negative once `|`ed in JS).
    MFD_HUGE_16GB,
    /// `memfdCreate` flag (Linux 6.3): not executable, sealed so (`F_SEAL_EXEC`); implies `MFD_ALLOW_SEALING`.
    MFD_NOEXEC_SEAL,
    /// `memfdCreate` flag (Linux 6.3): executable.
    MFD_EXEC,
}

macro_rules! fcntl_consts {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        $(
            $(#[$doc])*
            #[napi]
            pub const $name: i32 = libc::$name;
        )*
    };
}

fcntl_consts! {
    /// `fcntl` command: add seals (`F_SEAL_*`) to a memfd made with `MFD_ALLOW_SEALING`.
    F_ADD_SEALS,
    /// `fcntl` command: get a memfd's seals.
    F_GET_SEALS,
    /// Seal: no more seals can be added.
    F_SEAL_SEAL,
    /// Seal: the file cannot shrink.
    F_SEAL_SHRINK,
    /// Seal: the file cannot grow.
    F_SEAL_GROW,
    /// Seal: no writes (fails with `EBUSY` while a writable shared mapping exists).
    F_SEAL_WRITE,
    /// Seal: no new writes, existing writable mappings keep working (Linux 5.1).
    F_SEAL_FUTURE_WRITE,
    /// Seal: the exec bits cannot change (Linux 6.3).
    F_SEAL_EXEC,
}

/// `memfd_create(name, flags)`: a new fd (the caller owns it), or a negative
/// errno (`EINVAL` for a name with a NUL byte, which the caller checks first).
/// `flags` are passed as they are.
/// @see https://man7.org/linux/man-pages/man2/memfd_create.2.html
#[napi]
pub fn memfd_create(name: String, flags: u32) -> i32 {
    let Ok(c) = CString::new(name) else {
        return -libc::EINVAL;
    };
    match core::memfd_create(&c, flags) {
        Ok(fd) => fd.into_raw_fd(),
        Err(e) => errno(&e),
    }
}

/// `memfd_create(name, flags)` owned by the returned handle, retried without
/// `MFD_NOEXEC_SEAL`/`MFD_EXEC` when a kernel before 6.3 refuses them
/// (`EINVAL`); or a negative errno.
/// @see https://man7.org/linux/man-pages/man2/memfd_create.2.html
#[napi(ts_return_type = "ExternalObject<'FdHandle'> | number")]
pub fn memfd_open(name: String, flags: u32) -> Either<Owned<FdHandle>, i32> {
    let Ok(c) = CString::new(name) else {
        return Either::B(-libc::EINVAL);
    };
    match core::memfd_create_compat(&c, flags) {
        Ok((fd, _)) => Either::A(FdHandle::new(fd, false)),
        Err(e) => Either::B(errno(&e)),
    }
}

/// A core result of a `u64` as a JS number, or a negative errno.
fn num64(r: linux_fd_core::Result<u64>) -> f64 {
    match r {
        Ok(v) => v as f64,
        Err(e) => errno(&e) as f64,
    }
}

/// A core result of `()` as 0, or a negative errno.
fn unit(r: linux_fd_core::Result<()>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => errno(&e),
    }
}

/// A file offset or size from JS (a safe integer the caller checked; NaN
/// and negatives become 0, which is memory-safe).
fn offset(v: f64) -> u64 {
    v as u64
}

/// The file's size in bytes (`fstat`), or a negative errno.
/// @see https://man7.org/linux/man-pages/man2/fstat.2.html
#[napi]
pub fn memfd_size(fd: i32) -> f64 {
    let Ok(fd) = borrow_fd(fd) else {
        return -libc::EBADF as f64;
    };
    num64(core::size(fd))
}

/// `ftruncate(fd, size)`: 0 or a negative errno.
/// @see https://man7.org/linux/man-pages/man2/ftruncate.2.html
#[napi]
pub fn memfd_truncate(fd: i32, size: f64) -> i32 {
    let Ok(fd) = borrow_fd(fd) else {
        return -libc::EBADF;
    };
    unit(core::truncate(fd, offset(size)))
}

/// `pwrite` of all of `data` at `position`: the bytes written, or a negative errno.
/// @see https://man7.org/linux/man-pages/man2/pwrite.2.html
#[napi]
pub fn memfd_write(fd: i32, data: &[u8], position: f64) -> f64 {
    let Ok(fd) = borrow_fd(fd) else {
        return -libc::EBADF as f64;
    };
    match core::pwrite_all(fd, data, offset(position)) {
        Ok(n) => n as f64,
        Err(e) => errno(&e) as f64,
    }
}

/// `pread` into `buffer` at `position` until it is full or the file ends:
/// the bytes read, or a negative errno.
/// @see https://man7.org/linux/man-pages/man2/pread.2.html
#[napi]
pub fn memfd_read_into(fd: i32, mut buffer: Uint8ArraySlice<'_>, position: f64) -> f64 {
    let Ok(fd) = borrow_fd(fd) else {
        return -libc::EBADF as f64;
    };
    // SAFETY: the view's bytes (an empty slice if it has none or is
    // detached) stay alive for this synchronous call, and no other Rust
    // reference to them exists during it.
    let buf = unsafe { buffer.as_mut() };
    match core::pread_full(fd, buf, offset(position)) {
        Ok(n) => n as f64,
        Err(e) => errno(&e) as f64,
    }
}

/// `fcntl(fd, F_GET_SEALS)`: the seal bits (never negative), or a negative errno.
/// @see https://man7.org/linux/man-pages/man2/fcntl.2.html
#[napi]
pub fn memfd_get_seals(fd: i32) -> i32 {
    let Ok(fd) = borrow_fd(fd) else {
        return -libc::EBADF;
    };
    match core::get_seals(fd) {
        Ok(bits) => bits,
        Err(e) => errno(&e),
    }
}

/// `fcntl(fd, F_ADD_SEALS, seals)`: 0 or a negative errno.
/// @see https://man7.org/linux/man-pages/man2/fcntl.2.html
#[napi]
pub fn memfd_add_seals(fd: i32, seals: i32) -> i32 {
    let Ok(fd) = borrow_fd(fd) else {
        return -libc::EBADF;
    };
    unit(core::add_seals(fd, seals))
}

/// The page size mappings of `fd` must align to: the huge page size of a
/// hugetlbfs file (its `st_blksize`), else the base page size; or a
/// negative errno.
/// @see https://man7.org/linux/man-pages/man2/mmap.2.html
#[napi]
pub fn memfd_page_size(fd: i32) -> f64 {
    let Ok(fd) = borrow_fd(fd) else {
        return -libc::EBADF as f64;
    };
    match nix::sys::stat::fstat(fd) {
        Ok(st) => (st.st_blksize as u64).max(core::page_size()) as f64,
        Err(e) => -(e as i32) as f64,
    }
}

/// The live mappings of one `MemFile`, by start address.
type Registry = RefCell<HashMap<usize, Rc<MapRecord>>>;

/// One mapping made by [`memfd_map`]. Shared by its registry and its
/// buffer's finalizer, so that `munmap` happens exactly once.
struct MapRecord {
    ptr: *mut u8,
    len: usize,
    unmapped: Cell<bool>,
    registry: Weak<Registry>,
}

impl MapRecord {
    /// Unmaps (once) and leaves the registry. Only called after the buffer
    /// was detached (`memfd_unmap`) or collected (its finalizer), or before
    /// it was made, so no JS can reach the memory afterwards.
    fn unmap(self: &Rc<Self>) {
        if self.unmapped.replace(true) {
            return;
        }
        // SAFETY: ptr/len came from Mapping::into_raw; `unmapped` makes this
        // the only munmap, and the buffer over it is detached or gone.
        unsafe { core::unmap_raw(self.ptr, self.len) };
        if let Some(reg) = self.registry.upgrade() {
            if let Ok(mut reg) = reg.try_borrow_mut() {
                // Only this record: a later mapping may reuse the address.
                if reg.get(&(self.ptr as usize)).is_some_and(|r| Rc::ptr_eq(r, self)) {
                    reg.remove(&(self.ptr as usize));
                }
            }
        }
    }
}

/// A `MemFile`'s registry of live mappings (see the module comment).
pub struct Mappings(Rc<Registry>);

/// A new, empty registry of mappings, for one `MemFile`.
#[napi(ts_return_type = "ExternalObject<'Mappings'>")]
pub fn memfd_mappings_new() -> External<Mappings> {
    External::new(Mappings(Rc::new(RefCell::new(HashMap::new()))))
}

/// How many mappings of this registry are still mapped.
#[napi(ts_args_type = "maps: ExternalObject<'Mappings'>")]
pub fn memfd_mapping_count(maps: &External<Mappings>) -> u32 {
    maps.0.borrow().len() as u32
}

/// `ENOTSUP` from [`memfd_map`]: the runtime forbids external buffers.
const NOT_ALLOWED: i32 = -libc::ENOTSUP;

/// Maps `length` bytes of `fd` at `offset` (`MAP_SHARED` if `writable`,
/// else a private copy-on-write view, see `Mapping::new`) and returns them as
/// an `ArrayBuffer` without copying, registered in `maps`. Or a negative
/// errno: the mmap's, `EINVAL` for a length of 0 or a range past the end of
/// the file, `EPERM` for a file without the `shrink` seal unless
/// `allowShrink`, `ENOTSUP` when the runtime forbids external buffers. A
/// buffer the runtime refuses otherwise (over its largest length) is a
/// thrown error, and the mapping is freed.
/// @see https://man7.org/linux/man-pages/man2/mmap.2.html
#[napi(
    ts_args_type = "maps: ExternalObject<'Mappings'>, fd: number, offset: number, length: number, writable: boolean, allowShrink: boolean",
    ts_return_type = "ArrayBuffer | number"
)]
pub fn memfd_map<'env>(
    env: &'env Env,
    maps: &External<Mappings>,
    fd: i32,
    offset: f64,
    length: f64,
    writable: bool,
    allow_shrink: bool,
) -> napi::Result<Either<ArrayBuffer<'env>, i32>> {
    let Ok(b) = borrow_fd(fd) else {
        return Ok(Either::B(-libc::EBADF));
    };
    // Also refuses NaN and negatives.
    if !(offset >= 0.0 && length >= 1.0) {
        return Ok(Either::B(-libc::EINVAL));
    }
    let mapping = match Mapping::checked(b, offset as u64, length as u64, writable, allow_shrink) {
        Ok(m) => m,
        Err(e) => return Ok(Either::B(errno(&e))),
    };
    let (ptr, len) = mapping.into_raw();
    let rec = Rc::new(MapRecord {
        ptr,
        len,
        unmapped: Cell::new(false),
        registry: Rc::downgrade(&maps.0),
    });
    let on_free = rec.clone();
    // The mapping is unmapped only by MapRecord::unmap: by this release
    // function (after the buffer is collected, or at once if it was not
    // made), or by memfd_unmap after it detached the buffer.
    let release: Box<dyn FnOnce()> = Box::new(move || on_free.unmap());
    // SAFETY: ptr/len is a live mapping owned by `rec`, freed only as above.
    let ab = match unsafe { extbuf::create(env.raw(), ptr, len, release) } {
        Ok(ab) => ab,
        Err(ExtBufError::NotAllowed) => return Ok(Either::B(NOT_ALLOWED)),
        Err(ExtBufError::Failed(e)) => return Err(e),
    };
    maps.0.borrow_mut().insert(ptr as usize, rec);
    // SAFETY: `ab` is an ArrayBuffer of this env, just made.
    let ab = unsafe { ArrayBuffer::from_napi_value(env.raw(), ab) }?;
    Ok(Either::A(ab))
}

/// Unmaps a buffer made by [`memfd_map`] with this registry: detaches it
/// (its views then have length 0 instead of reaching freed memory) and
/// unmaps the memory at once. Returns 0, or `-EINVAL` if `buffer` is not a
/// live mapping of this registry.
/// @see https://man7.org/linux/man-pages/man2/munmap.2.html
#[napi(ts_args_type = "maps: ExternalObject<'Mappings'>, buffer: ArrayBuffer")]
pub fn memfd_unmap(maps: &External<Mappings>, buffer: ArrayBuffer<'_>) -> napi::Result<i32> {
    // A detached or empty buffer has no data (an empty slice): never a mapping.
    let (ptr, len) = (buffer.as_ptr() as usize, buffer.len());
    let rec = maps.0.borrow().get(&ptr).cloned();
    let Some(rec) = rec.filter(|r| r.len == len && len > 0 && !r.unmapped.get()) else {
        return Ok(-libc::EINVAL);
    };
    buffer.detach()?;
    rec.unmap();
    Ok(0)
}
