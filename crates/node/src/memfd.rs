//! memfd: Python's `os.memfd_create`, and the native calls behind `MemFile`
//! (src/memfd.ts): positional I/O, seals, and shared mappings exposed as
//! external `ArrayBuffer`s. Errors are negative errnos (see `handle.rs`).
//!
//! Mappings: each `MemFile` that maps keeps a [`Mappings`] registry (an
//! `External`) of its live mappings, so that `unmap()` can find the mapping
//! behind an `ArrayBuffer` and `mappings` can count them. Each mapping is
//! unmapped exactly once (`MapState`): by the buffer's release after garbage
//! collection, or, after `memfdUnmap` swapped the file's pages for an
//! anonymous placeholder and detached the buffer, by a finalizer on the
//! buffer object. Not at `memfdUnmap` itself: a threadpool job may still
//! hold the data pointer (docs/reliability.md, "Unmapping under a job").
//!
//! Memory safety trusts no caller: `memfdMap` maps through
//! `Mapping::checked`, which refuses a mapping past the end of the file, and
//! one of a file without the `shrink` seal unless `allowShrink` (a file that
//! shrinks under a mapping turns the next access into a SIGBUS). The
//! TypeScript layer checks all of that first, with Node's error codes.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::CString;
use std::rc::{Rc, Weak};

use crate::rt::ext::Owned;
use linux_fd_core::memfd::{self as core, Mapping};
use napi::bindgen_prelude::{ArrayBuffer, Either, External, FromNapiValue, JsObjectValue, Uint8ArraySlice};
use napi::Env;
use napi_derive::napi;

use crate::handle::{borrow_fd, bytes_of, either, errno, int, on_fd, sys, FdHandle};
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
    /// `memfdCreate` flag: allow seals (`F_ADD_SEALS`); without it the file starts with `F_SEAL_SEAL`, unless the `vm.memfd_noexec` sysctl is 1 or 2 (Linux 6.3), which makes a file created without `MFD_EXEC` `MFD_NOEXEC_SEAL`, sealable.
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
    /// Seal: no writes (fails with `EBUSY` while a writable shared mapping exists); the size can still change, so contents that must not change also need `F_SEAL_SHRINK` and `F_SEAL_GROW`.
    F_SEAL_WRITE,
    /// Seal: no new writes, existing writable mappings keep working (Linux 5.1).
    F_SEAL_FUTURE_WRITE,
    /// Seal: the exec bits cannot change (Linux 6.3).
    F_SEAL_EXEC,
}

/// `memfd_create(name, flags)`: a new fd (the caller owns it), or a negative
/// errno (`EINVAL` for a name with a NUL byte, which the caller checks first).
/// `name` is a string or its bytes (as Python takes `bytes`; they need not
/// be UTF-8). `flags` are passed as they are.
/// @see https://man7.org/linux/man-pages/man2/memfd_create.2.html
#[napi]
pub fn memfd_create(name: Either<String, Uint8ArraySlice<'_>>, flags: u32) -> i32 {
    let Ok(c) = CString::new(bytes_of(&name)) else {
        return -libc::EINVAL;
    };
    int(sys(core::memfd_create(&c, flags)).map(linux_fd_core::fd::hand_out))
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
    either(sys(core::memfd_create_compat(&c, flags)).map(|(fd, _)| FdHandle::new(fd, false)))
}

/// A size or count as a JS number, or a negative errno.
fn num64(r: Result<u64, i32>) -> f64 {
    r.map_or_else(f64::from, |v| v as f64)
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
    num64(on_fd(fd, core::size))
}

/// `ftruncate(fd, size)`: 0 or a negative errno.
/// @see https://man7.org/linux/man-pages/man2/ftruncate.2.html
#[napi]
pub fn memfd_truncate(fd: i32, size: f64) -> i32 {
    int(on_fd(fd, |fd| core::truncate(fd, offset(size))).map(|()| 0))
}

/// `pwrite` of all of `data` at `position`: the bytes written (fewer if an
/// error stopped it part way, core `pwrite_all`), or a negative errno.
/// @see https://man7.org/linux/man-pages/man2/pwrite.2.html
#[napi]
pub fn memfd_write(fd: i32, data: &[u8], position: f64) -> f64 {
    num64(on_fd(fd, |fd| core::pwrite_all(fd, data, offset(position))).map(|n| n as u64))
}

/// `pread` into `buffer` at `position` until it is full or the file ends:
/// the bytes read, or a negative errno.
/// @see https://man7.org/linux/man-pages/man2/pread.2.html
#[napi]
pub fn memfd_read_into(fd: i32, mut buffer: Uint8ArraySlice<'_>, position: f64) -> f64 {
    // SAFETY: the view's bytes (an empty slice if it has none or is
    // detached) stay alive for this synchronous call, and no other Rust
    // reference to them exists during it.
    let buf = unsafe { buffer.as_mut() };
    num64(on_fd(fd, |fd| core::pread_full(fd, buf, offset(position))).map(|n| n as u64))
}

/// `fcntl(fd, F_GET_SEALS)`: the seal bits (never negative), or a negative errno.
/// @see https://man7.org/linux/man-pages/man2/fcntl.2.html
#[napi]
pub fn memfd_get_seals(fd: i32) -> i32 {
    int(on_fd(fd, core::get_seals))
}

/// `fcntl(fd, F_ADD_SEALS, seals)`: 0 or a negative errno.
/// @see https://man7.org/linux/man-pages/man2/fcntl.2.html
#[napi]
pub fn memfd_add_seals(fd: i32, seals: i32) -> i32 {
    int(on_fd(fd, |fd| core::add_seals(fd, seals)).map(|()| 0))
}

/// The page size mappings of `fd` must align to: the huge page size of a
/// hugetlbfs file (its `st_blksize`), else the base page size; or a
/// negative errno.
/// @see https://man7.org/linux/man-pages/man2/mmap.2.html
#[napi]
pub fn memfd_page_size(fd: i32) -> f64 {
    num64(on_fd(fd, core::map_granule))
}

/// The live mappings of one `MemFile`, by start address.
type Registry = RefCell<HashMap<usize, Rc<MapRecord>>>;

/// One mapping made by [`memfd_map`]. Shared by its registry, its buffer's
/// release function and (once retired) a finalizer on the buffer object.
struct MapRecord {
    ptr: *mut u8,
    /// The buffer's length.
    len: usize,
    /// The length the kernel mapped: `len` rounded up to the file's granule
    /// (a huge page for hugetlbfs). What `munmap` and the placeholder cover.
    span: usize,
    state: Cell<MapState>,
    registry: Weak<Registry>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum MapState {
    /// The file is mapped and the buffer (or its backing store) is live.
    Mapped,
    /// `memfd_unmap` replaced the file's pages by an anonymous placeholder
    /// (`retire_raw`) and detached the buffer. A threadpool job that took
    /// the data pointer before may still write; Node keeps the buffer
    /// *object* alive while such a job runs (as it must for any buffer), so
    /// the placeholder is freed by a finalizer on that object.
    Retired,
    /// Unmapped.
    Freed,
}

impl MapRecord {
    /// Unmaps, once, from either live state, and leaves the registry.
    fn free(self: &Rc<Self>) {
        if self.state.replace(MapState::Freed) == MapState::Freed {
            return;
        }
        // Callers only get here when no JS or job can reach the memory (see
        // the MapState variants).
        // SAFETY: ptr/span came from Mapping::into_raw (span rounded up to
        // the granule); the state makes this the only munmap.
        unsafe { core::unmap_raw(self.ptr, self.span) };
        core::map_slot_free();
        self.leave_registry();
    }

    /// The buffer's backing store was released: the buffer was collected,
    /// or the environment torn down, or the buffer was never made. Frees a
    /// mapping still mapped; a retired one waits for its object finalizer
    /// (detaching releases the backing store while a job may still write).
    fn on_release(self: &Rc<Self>) {
        if self.state.get() == MapState::Mapped {
            self.free();
        }
    }

    /// Gives the file's pages back but keeps the address reserved
    /// (`retire_raw`), then leaves the registry. Or the mmap's errno, with
    /// nothing changed.
    fn retire(self: &Rc<Self>) -> Result<(), i32> {
        // SAFETY: the state is Mapped (checked by the caller), so ptr/span
        // is our live mapping; JS reaches it only through the buffer, and no
        // Rust reference points into it.
        sys(unsafe { core::retire_raw(self.ptr, self.span) })?;
        self.state.set(MapState::Retired);
        self.leave_registry();
        Ok(())
    }

    fn leave_registry(self: &Rc<Self>) {
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
/// errno: the mmap's, `EMFILE` when the process has its budget of live
/// mappings already (core `map_budget`), `EINVAL` for a length of 0 or a range past the end of
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
    // Before the mapping exists, so that no error path drops a Mapping
    // (whose munmap knows only the unrounded length).
    let granule = match core::map_granule(b) {
        Ok(g) => g as usize,
        Err(e) => return Ok(Either::B(errno(&e))),
    };
    // One of the process's mapping slots (core `map_budget`): with every
    // area of the process taken, V8 itself could not allocate and the
    // process died. Given back by `MapRecord::free`, or here on failure.
    // Refused, it is `-EMFILE`, which mmap never returns, so that the
    // caller can tell it from the kernel's `ENOMEM` (s40-diff3 M1).
    if core::map_slot_take().is_err() {
        return Ok(Either::B(-libc::EMFILE));
    }
    let mapping = match Mapping::checked(b, offset as u64, length as u64, writable, allow_shrink) {
        Ok(m) => m,
        Err(e) => {
            core::map_slot_free();
            return Ok(Either::B(errno(&e)));
        }
    };
    let (ptr, len) = mapping.into_raw();
    let rec = Rc::new(MapRecord {
        ptr,
        len,
        span: len.next_multiple_of(granule),
        state: Cell::new(MapState::Mapped),
        registry: Rc::downgrade(&maps.0),
    });
    let on_free = rec.clone();
    // Unmapped only through MapRecord (see MapState): by this release
    // function (the buffer collected, or not made), or, after memfd_unmap
    // retired it, by the finalizer of the buffer object.
    let release: Box<dyn FnOnce()> = Box::new(move || on_free.on_release());
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

/// The record of `buffer` if it is a live mapping of this registry: its
/// address and length, still mapped. A detached or empty buffer has no data
/// (an empty slice): never a mapping. Another `ArrayBuffer` over the same
/// memory (`transfer()`) is the same mapping.
fn live(maps: &External<Mappings>, buffer: &ArrayBuffer<'_>) -> Option<Rc<MapRecord>> {
    let (ptr, len) = (buffer.as_ptr() as usize, buffer.len());
    let rec = maps.0.borrow().get(&ptr).cloned();
    rec.filter(|r| r.len == len && len > 0 && r.state.get() == MapState::Mapped)
}

/// Whether `buffer` is a live mapping of this registry, which
/// [`memfd_unmap`] would unmap; changes nothing. `unmap()` asks it before it
/// moves a mapping into a new buffer with `transfer()` (src/memfd.ts,
/// `KEYED_MARKING`), so that no other buffer is ever detached.
#[napi(ts_args_type = "maps: ExternalObject<'Mappings'>, buffer: ArrayBuffer")]
pub fn memfd_is_mapping(maps: &External<Mappings>, buffer: ArrayBuffer<'_>) -> bool {
    live(maps, &buffer).is_some()
}

/// Unmaps a buffer made by [`memfd_map`] with this registry: the file's
/// pages are replaced at once by an anonymous placeholder (so the file is no
/// longer mapped, and `F_SEAL_WRITE` can be added), the buffer is detached
/// (its views then have length 0), and the placeholder's address range is
/// freed when the buffer object is collected: a threadpool job that was
/// given the buffer before (`crypto.randomFill`, `fs.read`) may still write
/// into it until then, and its writes must land in memory of ours rather
/// than fault, or reach a later mapping at the same address. Returns 0,
/// `-EINVAL` if `buffer` is not a live mapping of this registry, or the
/// placeholder mmap's errno (`-ENOMEM`, nothing changed).
/// @see https://man7.org/linux/man-pages/man2/munmap.2.html
#[napi(ts_args_type = "maps: ExternalObject<'Mappings'>, buffer: ArrayBuffer")]
pub fn memfd_unmap(maps: &External<Mappings>, mut buffer: ArrayBuffer<'_>) -> napi::Result<i32> {
    let Some(rec) = live(maps, &buffer) else {
        return Ok(-libc::EINVAL);
    };
    if let Err(e) = rec.retire() {
        return Ok(e);
    }
    // If the finalizer cannot be added, the placeholder stays reserved for
    // the life of the process: a leak of address space, never a fault.
    let on_collect = rec.clone();
    let _ = buffer.add_finalizer((), (), move |_| on_collect.free());
    buffer.detach()?;
    Ok(0)
}
