//! memfd: Python's `os.memfd_create`, and the `MemFile` class with seals and
//! shared mappings.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::{c_void, CString};
use std::os::fd::{AsFd, BorrowedFd, IntoRawFd, OwnedFd};
use std::rc::{Rc, Weak};

use linux_fd_core::fd::{self as core_fd, GuardedFd};
use linux_fd_core::memfd::{self as core, Mapping};
use linux_fd_core::{Errno, Error as SysError};
use napi::bindgen_prelude::ToNapiValue;
use napi::{sys, Env, Result, ValueType};
use napi_derive::napi;

use crate::args;
use crate::error::{self, Kind};
use crate::js::{self, check, JsValue};

macro_rules! consts {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        $(
            $(#[$doc])*
            #[napi]
            pub const $name: u32 = libc::$name as u32;
        )*
    };
}

consts! {
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
    /// Huge page size 16 GiB.
    MFD_HUGE_16GB,
    /// `memfdCreate` flag (Linux 6.3): not executable, sealed so (`F_SEAL_EXEC`); implies `MFD_ALLOW_SEALING`.
    MFD_NOEXEC_SEAL,
    /// `memfdCreate` flag (Linux 6.3): executable.
    MFD_EXEC,
}

fn c_name(v: JsValue) -> Result<(String, CString)> {
    let env = v.env;
    let name = args::string(v, "name")?;
    match CString::new(name.clone()) {
        Ok(c) => Ok((name, c)),
        Err(_) => Err(error::invalid_value(env, "name", "must not contain NUL bytes")),
    }
}

/// `memfd_create(name, flags)`—Creates an anonymous file in memory and
/// returns its fd, as Python's `os.memfd_create`. Use it with Node's own `fs`
/// calls (`fs.writeSync(fd, …)`, `fs.readSync`, `fs.fstatSync`), or wrap it
/// with `MemFile.fromFd`.
/// @param name - shown in `/proc/self/fd` as `memfd:<name>`; at most 249 bytes, no NUL.
/// @param flags - `MFD_CLOEXEC` (default), `MFD_ALLOW_SEALING`, `MFD_HUGETLB | MFD_HUGE_*`, `MFD_NOEXEC_SEAL`, `MFD_EXEC`.
/// @throws {TypeError} `ERR_INVALID_ARG_VALUE` for a name with a NUL byte.
/// @throws {Error} `EINVAL` (unknown flags, long name, unsupported huge page size), `EMFILE`, `EPERM`.
/// @see https://man7.org/linux/man-pages/man2/memfd_create.2.html
#[napi(ts_args_type = "name: string, flags?: number")]
pub fn memfd_create(name: JsValue, flags: JsValue) -> Result<i32> {
    let env = name.env;
    let (_, c) = c_name(name)?;
    // JS's `|` makes large flag sets negative (`MFD_HUGETLB | MFD_HUGE_16GB`
    // is -2013265916), so take -2^31 … 2^32-1 and keep the low 32 bits.
    let flags = args::int(
        flags,
        "flags",
        i32::MIN as i64,
        u32::MAX as i64,
        Some(libc::MFD_CLOEXEC as i64),
    )? as u32;
    core::memfd_create(&c, flags)
        .map(|fd| fd.into_raw_fd())
        .map_err(|e| error::sys(env, e))
}

const HUGE_SIZES: &[(&str, u32)] = &[
    ("64KB", libc::MFD_HUGE_64KB),
    ("512KB", libc::MFD_HUGE_512KB),
    ("1MB", libc::MFD_HUGE_1MB),
    ("2MB", libc::MFD_HUGE_2MB),
    ("8MB", libc::MFD_HUGE_8MB),
    ("16MB", libc::MFD_HUGE_16MB),
    ("32MB", libc::MFD_HUGE_32MB),
    ("256MB", libc::MFD_HUGE_256MB),
    ("512MB", libc::MFD_HUGE_512MB),
    ("1GB", libc::MFD_HUGE_1GB),
    ("2GB", libc::MFD_HUGE_2GB),
    ("16GB", libc::MFD_HUGE_16GB),
];

const SEALS: &[(&std::ffi::CStr, i32)] = &[
    (c"seal", libc::F_SEAL_SEAL),
    (c"shrink", libc::F_SEAL_SHRINK),
    (c"grow", libc::F_SEAL_GROW),
    (c"write", libc::F_SEAL_WRITE),
    (c"futureWrite", libc::F_SEAL_FUTURE_WRITE),
    (c"exec", libc::F_SEAL_EXEC),
];

/// One live mapping. Shared by the MemFile's registry and the ArrayBuffer's
/// finalizer, so that `munmap` happens exactly once whichever comes first:
/// `unmap()`, or garbage collection of the buffer.
struct MapRecord {
    ptr: *mut u8,
    len: usize,
    unmapped: Cell<bool>,
    registry: Weak<RefCell<HashMap<usize, Rc<MapRecord>>>>,
}

impl MapRecord {
    fn unmap(&self) {
        if !self.unmapped.replace(true) {
            // Callers detach the ArrayBuffer (unmap()) or run after it was
            // collected (finalizer), so no JS can reach the memory afterwards.
            // SAFETY: ptr/len came from Mapping::into_raw; `unmapped` makes this the only munmap.
            unsafe { core::unmap_raw(self.ptr, self.len) };
        }
        if let Some(reg) = self.registry.upgrade() {
            if let Ok(mut reg) = reg.try_borrow_mut() {
                reg.remove(&(self.ptr as usize));
            }
        }
    }
}

/// The largest ArrayBuffer this runtime makes (`buffer.constants.MAX_LENGTH`):
/// 2^32 bytes up to Node 21, 2^53 - 1 from Node 22 on 64-bit hosts (and for
/// other runtimes). Asking Node 20 for more fails (and see `map()` for what
/// that failure does to the finalizer).
fn max_array_buffer(env: sys::napi_env) -> u64 {
    let major = js::global(env, c"process")
        .and_then(|p| p.get(c"versions"))
        .and_then(|v| v.get(c"node"))
        .ok()
        .and_then(|v| v.as_string())
        .and_then(|s| s.split('.').next().and_then(|m| m.parse::<u32>().ok()));
    match major {
        Some(m) if m < 22 => 1 << 32,
        _ => (1 << 53) - 1,
    }
}

/// Finalizer of a mapping's external ArrayBuffer.
///
/// # Safety
/// Only Node calls it, once, when the ArrayBuffer made in `map()` is
/// collected, with the `hint` given there.
unsafe extern "C" fn finalize_mapping(_env: sys::napi_env, _data: *mut c_void, hint: *mut c_void) {
    // SAFETY: hint is the Rc::into_raw made in map(); this finalizer runs once.
    let rec = unsafe { Rc::from_raw(hint as *const MapRecord) };
    rec.unmap();
}

/// An anonymous file in memory (`memfd_create`), with seals and shared
/// mappings: share memory with child processes and workers without copying.
///
/// Pass `mf.fd` in `spawn`'s `stdio` array (or post it to a worker) and call
/// `MemFile.fromFd(fd)` there; both sides can `map()` the same memory. The fd
/// also works with Node's own `fs` calls. Close-on-exec; closing the fd does
/// not invalidate existing mappings. If JS closes `mf.fd` itself, the next
/// call throws `EBADF` and the object gives the number up without closing it
/// (see `close()`).
/// @see https://man7.org/linux/man-pages/man2/memfd_create.2.html
#[napi]
pub struct MemFile {
    fd: RefCell<GuardedFd>,
    /// Which call found the fd closed outside the package ("" while it is not).
    lost_by: Cell<&'static str>,
    name: String,
    huge_page: Option<u64>,
    maps: Rc<RefCell<HashMap<usize, Rc<MapRecord>>>>,
}

impl MemFile {
    /// `ERR_CLOSED` after `close()`, `EBADF` once the fd was lost.
    fn check_open(&self, env: sys::napi_env) -> Result<()> {
        match self.fd.borrow().get() {
            Some(_) => Ok(()),
            None => Err(self.unusable(env)),
        }
    }

    #[cold]
    fn unusable(&self, env: sys::napi_env) -> napi::Error {
        match self.fd.borrow().lost() {
            Some(raw) => error::fd_lost(env, "MemFile", raw, self.lost_by.get()),
            None => error::closed(env, "MemFile"),
        }
    }

    /// Runs one syscall on the fd. An `EBADF` or `EINVAL` whose fd `fstat`
    /// confirms gone (closed, or now another file) gives the number up
    /// without closing it (a write on a read-only memfd also fails with
    /// `EBADF`, and keeps its fd).
    fn with_fd<T>(
        &self,
        env: sys::napi_env,
        f: impl FnOnce(BorrowedFd<'_>) -> std::result::Result<T, SysError>,
    ) -> Result<T> {
        let r = {
            let g = self.fd.borrow();
            match g.get() {
                Some(fd) => f(fd.as_fd()),
                None => {
                    drop(g);
                    return Err(self.unusable(env));
                }
            }
        };
        r.map_err(|e| self.fail(env, e))
    }

    #[cold]
    fn fail(&self, env: sys::napi_env, e: SysError) -> napi::Error {
        if matches!(e.errno, Errno::EBADF | Errno::EINVAL) && self.fd.borrow_mut().confirm_lost() {
            if self.lost_by.get().is_empty() {
                self.lost_by.set(e.syscall);
            }
            return self.unusable(env);
        }
        error::sys(env, e)
    }

    fn wrap(fd: OwnedFd, name: String, huge_page: Option<u64>) -> Self {
        Self {
            fd: RefCell::new(GuardedFd::new(fd)),
            lost_by: Cell::new(""),
            name,
            huge_page,
            maps: Rc::new(RefCell::new(HashMap::new())),
        }
    }
}

fn position(v: JsValue, name: &str) -> Result<u64> {
    Ok(args::int(v, name, 0, (1i64 << 53) - 1, Some(0))? as u64)
}

#[napi]
impl MemFile {
    /// Not for `new`: use `MemFile.create()` or `MemFile.fromFd()`.
    /// @throws {TypeError} `ERR_ILLEGAL_CONSTRUCTOR`, always.
    #[napi(constructor)]
    pub fn illegal_constructor(env: Env) -> Result<Self> {
        Err(error::illegal_constructor(
            env.raw(),
            "MemFile",
            "MemFile.create() or MemFile.fromFd()",
        ))
    }

    /// Creates a memfd named `name` (shown as `memfd:<name>` in `/proc`).
    ///
    /// Options: `sealable` (default true: `MFD_ALLOW_SEALING`; false adds
    /// `F_SEAL_SEAL` at once), `hugePages` (a size such as `'2MB'` or `'1GB'`:
    /// `MFD_HUGETLB` with that page size; sizes must then be multiples of it,
    /// and `write()` is unsupported, use a mapping), `executable` (default
    /// false: `MFD_NOEXEC_SEAL` on Linux 6.3+, plain on older kernels; true:
    /// `MFD_EXEC` where supported). Always close-on-exec.
    /// @throws {TypeError} `ERR_INVALID_ARG_VALUE` for a NUL in `name` or an unknown `hugePages`.
    /// @throws {Error} `EINVAL` (name too long, huge page size unsupported), `EMFILE`, `ENOMEM`, `EPERM`.
    #[napi(
        factory,
        ts_args_type = "name: string, options?: { sealable?: boolean, hugePages?: '64KB' | '512KB' | '1MB' | '2MB' | '8MB' | '16MB' | '32MB' | '256MB' | '512MB' | '1GB' | '2GB' | '16GB', executable?: boolean }"
    )]
    pub fn create(name: JsValue, options: JsValue) -> Result<Self> {
        let env = name.env;
        let (name, c) = c_name(name)?;
        let mut sealable = true;
        let mut executable = false;
        let mut flags = libc::MFD_CLOEXEC;
        let mut huge_page = None;
        if let Some(o) = args::options(options, "options")? {
            sealable = args::bool_or(o.get(c"sealable")?, "options.sealable", true)?;
            executable = args::bool_or(o.get(c"executable")?, "options.executable", false)?;
            let hp = o.get(c"hugePages")?;
            if !hp.is_undefined() {
                let s = hp
                    .as_string()
                    .ok_or_else(|| error::invalid_type(env, "options.hugePages", "of type string", &hp))?;
                let bits = HUGE_SIZES.iter().find(|(n, _)| *n == s).map(|(_, b)| *b).ok_or_else(|| {
                    error::invalid_value(env, "options.hugePages", "must be one of '64KB', '512KB', '1MB', '2MB', '8MB', '16MB', '32MB', '256MB', '512MB', '1GB', '2GB', '16GB'")
                })?;
                flags |= libc::MFD_HUGETLB | bits;
                huge_page = core::huge_page_size(bits);
            }
        }
        if sealable {
            flags |= libc::MFD_ALLOW_SEALING;
        }
        flags |= if executable {
            libc::MFD_EXEC
        } else {
            libc::MFD_NOEXEC_SEAL
        };
        let (fd, _) = core::memfd_create_compat(&c, flags).map_err(|e| error::sys(env, e))?;
        if !sealable {
            // MFD_NOEXEC_SEAL implies MFD_ALLOW_SEALING; honour sealable: false.
            let _ = core::add_seals(fd.as_fd(), libc::F_SEAL_SEAL);
        }
        Ok(Self::wrap(fd, name, huge_page))
    }

    /// Wraps an existing memfd (e.g. inherited from a parent). By default the
    /// fd is duplicated with `F_DUPFD_CLOEXEC`; `{ adopt: true }` takes it.
    /// @throws {TypeError} `ERR_INVALID_ARG_VALUE` if `fd` is not a memfd.
    /// @throws {Error} `EBADF` if `fd` is not open.
    #[napi(
        factory,
        ts_args_type = "fd: number | { fd: number }, options?: { adopt?: boolean }"
    )]
    pub fn from_fd(fd: JsValue, options: JsValue) -> Result<Self> {
        let env = fd.env;
        let raw = args::fd(fd)?;
        let adopt = args::adopt_flag(options)?;
        let borrowed = args::borrow(raw);
        core_fd::is_cloexec(borrowed).map_err(|e| error::sys(env, e))?;
        let link =
            std::fs::read_link(format!("/proc/self/fd/{raw}")).map(|p| p.to_string_lossy().into_owned());
        let name = match &link {
            Ok(l) if l.starts_with("/memfd:") => l
                .trim_start_matches("/memfd:")
                .trim_end_matches(" (deleted)")
                .to_string(),
            Ok(_) => {
                return Err(error::invalid_value(
                    env,
                    "fd",
                    &format!("must be a memfd. Received fd {raw}"),
                ))
            }
            Err(_) => String::new(),
        };
        let owned = args::own_fd(env, raw, adopt)?;
        Ok(Self::wrap(owned, name, None))
    }

    /// The fd, or -1 after `close()` or once it was found closed outside the package.
    #[napi(getter)]
    pub fn fd(&self) -> i32 {
        self.fd.borrow().raw().unwrap_or(-1)
    }

    /// The name given at creation.
    #[napi(getter)]
    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// `/proc/self/fd/<fd>`: a path other programs of this process can open.
    #[napi(getter)]
    pub fn path(&self) -> String {
        format!("/proc/self/fd/{}", self.fd())
    }

    /// Whether `close()` was called, or the fd was found closed outside the
    /// package (calls then throw `EBADF`).
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.fd.borrow().get().is_none()
    }

    /// The size in bytes (`fstat`).
    /// @throws {Error} `ERR_CLOSED`.
    #[napi(getter)]
    pub fn size(&self, env: Env) -> Result<f64> {
        self.with_fd(env.raw(), core::size).map(|n| n as f64)
    }

    /// Sets the size (`ftruncate`); new bytes read as zero.
    /// @throws {Error} `EPERM` against `shrink`/`grow` seals, `EINVAL` for a
    /// hugetlb size that is not a multiple of the huge page size, `ERR_CLOSED`.
    #[napi(ts_args_type = "size: number")]
    pub fn truncate(&self, env: Env, size: JsValue) -> Result<()> {
        let size = position(size, "size")?;
        self.with_fd(env.raw(), |fd| core::truncate(fd, size))
    }

    /// Writes all of `data` at `position` (`pwrite`); returns the bytes written.
    /// @throws {Error} `EPERM` (write seals), `EINVAL` (hugetlb: use a mapping), `ERR_CLOSED`.
    #[napi(ts_args_type = "data: string | ArrayBufferView | ArrayBuffer, position?: number")]
    pub fn write(&self, env: Env, data: JsValue, position_: JsValue) -> Result<f64> {
        let pos = position(position_, "position")?;
        self.check_open(env.raw())?;
        let res = if let Some((ptr, len)) = data.as_bytes() {
            // SAFETY: ptr/len describe a live JS buffer for this synchronous call.
            let bytes = unsafe { std::slice::from_raw_parts(ptr as *const u8, len) };
            self.with_fd(env.raw(), |fd| core::pwrite_all(fd, bytes, pos))
        } else if let Some(s) = data.as_string() {
            self.with_fd(env.raw(), |fd| core::pwrite_all(fd, s.as_bytes(), pos))
        } else {
            return Err(error::invalid_type(
                env.raw(),
                "data",
                "of type string, ArrayBufferView or ArrayBuffer",
                &data,
            ));
        };
        res.map(|n| n as f64)
    }

    /// Reads up to `length` bytes at `position` (`pread`); shorter at end of file.
    /// @throws {Error} `ERR_CLOSED`.
    #[napi(ts_args_type = "length: number, position?: number", ts_return_type = "Buffer")]
    pub fn read(&self, env: Env, length: JsValue, position_: JsValue) -> Result<JsValue> {
        let raw = env.raw();
        let mut len = args::int(length, "length", 0, i32::MAX as i64, None)? as usize;
        let pos = position(position_, "position")?;
        self.check_open(raw)?;
        if len > 64 * 1024 {
            // Don't allocate (up to 2 GiB) for bytes past the end of the file:
            // one fstat to size the buffer. The read still stops at the end
            // if the file shrinks in between.
            let size = self.with_fd(raw, core::size)?;
            len = len.min(size.saturating_sub(pos) as usize);
        }
        // Read straight into a V8-owned Buffer (see js::CopiedBuffer for why
        // not an external one); only a short read (past the end) copies.
        let (buf, data) = js::new_buffer(raw, len)?;
        let slice: &mut [u8] = if len == 0 {
            &mut []
        } else {
            // SAFETY: data points to the len bytes of `buf`, which stays
            // reachable on this stack until we return, and nothing else
            // touches them during this synchronous call.
            unsafe { std::slice::from_raw_parts_mut(data, len) }
        };
        let n = self.with_fd(raw, |fd| core::pread_full(fd, slice, pos))?;
        if n == len {
            return Ok(JsValue { env: raw, raw: buf });
        }
        let short = js::CopiedBuffer(slice[..n].to_vec());
        // SAFETY: raw is this call's live env.
        let out = unsafe { js::CopiedBuffer::to_napi_value(raw, short) }?;
        Ok(JsValue { env: raw, raw: out })
    }

    /// Reads into `buffer` at `position`; returns the bytes read.
    /// @throws {Error} `ERR_CLOSED`.
    #[napi(ts_args_type = "buffer: ArrayBufferView | ArrayBuffer, position?: number")]
    pub fn read_into(&self, env: Env, buffer: JsValue, position_: JsValue) -> Result<f64> {
        let pos = position(position_, "position")?;
        let Some((ptr, len)) = buffer.as_bytes() else {
            return Err(error::invalid_type(
                env.raw(),
                "buffer",
                "an ArrayBufferView or ArrayBuffer",
                &buffer,
            ));
        };
        self.check_open(env.raw())?;
        // SAFETY: ptr/len describe a live, writable JS buffer for this synchronous call.
        let slice = unsafe { std::slice::from_raw_parts_mut(ptr, len) };
        self.with_fd(env.raw(), |fd| core::pread_full(fd, slice, pos))
            .map(|n| n as f64)
    }

    /// The seals in force: `{ seal, shrink, grow, write, futureWrite, exec }`.
    /// @throws {Error} `ERR_CLOSED`.
    #[napi(
        getter,
        ts_return_type = "{ seal: boolean, shrink: boolean, grow: boolean, write: boolean, futureWrite: boolean, exec: boolean }"
    )]
    pub fn seals(&self, env: Env) -> Result<JsValue> {
        let raw = env.raw();
        let bits = self.with_fd(raw, core::get_seals)?;
        let obj = js::object(raw)?;
        for (name, bit) in SEALS {
            js::define(raw, obj, name, js::boolean(raw, bits & bit != 0)?)?;
        }
        Ok(JsValue { env: raw, raw: obj })
    }

    /// Adds seals (`F_ADD_SEALS`); they can never be removed. `shrink` makes
    /// mappings safe from SIGBUS; `write` fails with `EBUSY` while a writable
    /// mapping exists (`unmap` it first); `futureWrite` (Linux 5.1) blocks new
    /// writes but keeps existing writable mappings working.
    /// @throws {Error} `EPERM` (not sealable, or `seal` already set), `EBUSY`, `EINVAL` (seal unknown to this kernel), `ERR_CLOSED`.
    #[napi(
        ts_args_type = "seals: { seal?: boolean, shrink?: boolean, grow?: boolean, write?: boolean, futureWrite?: boolean, exec?: boolean }"
    )]
    pub fn add_seals(&self, env: Env, seals: JsValue) -> Result<()> {
        let raw = env.raw();
        let Some(o) = args::options(seals, "seals")? else {
            return Err(error::invalid_type(raw, "seals", "of type object", &seals));
        };
        let mut bits = 0;
        for (name, bit) in SEALS {
            let label = format!("seals.{}", name.to_string_lossy());
            if args::bool_or(o.get(name)?, &label, false)? {
                bits |= bit;
            }
        }
        self.with_fd(raw, |fd| core::add_seals(fd, bits))
    }

    /// Maps the file into memory and returns the memory as an `ArrayBuffer`
    /// without copying.
    ///
    /// - `writable: true`: a shared mapping (`mmap(MAP_SHARED)`); writes
    ///   through it are seen by every process and thread that maps the same
    ///   memfd, and by `read()`.
    /// - `writable: false` (the default): a read-only *view*
    ///   (`mmap(MAP_PRIVATE)`) that shows the file's current contents,
    ///   including later writes by others. JavaScript cannot make an
    ///   `ArrayBuffer` read-only, so writing into the view is allowed but
    ///   stays private: the written page becomes this mapping's own copy
    ///   and stops following the file. (A `PROT_READ` mapping would instead
    ///   kill the process with SIGSEGV on the first write.) Views work on
    ///   write-sealed files and do not block `addSeals({ write: true })`.
    ///   A view of a `hugePages` file reserves huge pages for its whole
    ///   length (`ENOMEM` if the pool cannot), since reading an unreserved
    ///   one could SIGBUS; other views reserve nothing.
    ///
    /// `length` is at most the runtime's largest ArrayBuffer (4 GiB on Node
    /// 20 and 21): map a larger file in pieces with `offset`.
    ///
    /// **SIGBUS.** If the file shrinks under a mapping, touching the lost part
    /// kills the process with SIGBUS, and no JavaScript can catch that. So
    /// `map()` refuses (`ERR_UNSAFE_MAPPING`) unless the file carries the
    /// `shrink` seal (`addSeals({ shrink: true })`), or you pass
    /// `unsafeAllowShrink: true` and guarantee yourself that no process
    /// shrinks it.
    ///
    /// `offset` must be a multiple of the page size (the huge page size for
    /// `hugePages` files); `offset + length` must not pass the current size;
    /// `length` defaults to the rest of the file and must be > 0.
    /// Free a mapping with `unmap(buffer)`; garbage collection also frees it.
    /// @throws {RangeError} `ERR_OUT_OF_RANGE` for a bad offset or length.
    /// @throws {Error} `ERR_UNSAFE_MAPPING`; `EPERM` (writable mapping of a write-sealed file), `ENOMEM` (no huge pages), `ERR_CLOSED`.
    #[napi(
        ts_args_type = "options?: { writable?: boolean, offset?: number, length?: number, unsafeAllowShrink?: boolean }",
        ts_return_type = "ArrayBuffer"
    )]
    pub fn map(&self, env: Env, options: JsValue) -> Result<JsValue> {
        let raw = env.raw();
        let mut writable = false;
        let mut offset = 0u64;
        let mut length = None;
        let mut allow_shrink = false;
        if let Some(o) = args::options(options, "options")? {
            writable = args::bool_or(o.get(c"writable")?, "options.writable", false)?;
            allow_shrink = args::bool_or(o.get(c"unsafeAllowShrink")?, "options.unsafeAllowShrink", false)?;
            offset = position(o.get(c"offset")?, "options.offset")?;
            let l = o.get(c"length")?;
            if !l.is_undefined() {
                length = Some(args::int(l, "options.length", 1, (1i64 << 53) - 1, None)? as u64);
            }
        }
        let seals = self.with_fd(raw, core::get_seals)?;
        if seals & libc::F_SEAL_SHRINK == 0 && !allow_shrink {
            return Err(error::throw_new(
                raw,
                Kind::Error,
                "ERR_UNSAFE_MAPPING",
                "Refusing to map a MemFile that can shrink: touching a mapping after another process shrank the file raises SIGBUS, which kills the process. Call addSeals({ shrink: true }) first, or pass { unsafeAllowShrink: true } if you control every process that can truncate it.",
            ));
        }
        let size = self.with_fd(raw, core::size)?;
        let page = self
            .huge_page
            .or_else(|| {
                // A hugetlb file opened with fromFd: its st_blksize is the huge page size.
                self.fd
                    .borrow()
                    .get()
                    .and_then(|fd| nix::sys::stat::fstat(fd.as_fd()).ok())
                    .map(|s| s.st_blksize as u64)
                    .filter(|b| *b > core::page_size())
            })
            .unwrap_or_else(core::page_size);
        if !offset.is_multiple_of(page) {
            return Err(error::out_of_range(
                raw,
                "options.offset",
                &format!("a multiple of the page size ({page})"),
                &offset.to_string(),
            ));
        }
        let length = match length {
            Some(l) => l,
            None if size > offset => size - offset,
            None => {
                return Err(error::out_of_range(
                    raw,
                    "options.length",
                    "> 0 (the file is empty past offset; truncate it first)",
                    "0",
                ))
            }
        };
        if offset.checked_add(length).is_none_or(|end| end > size) {
            return Err(error::out_of_range(
                raw,
                "options.length",
                &format!("<= size - offset ({})", size.saturating_sub(offset)),
                &length.to_string(),
            ));
        }
        let len = usize::try_from(length)
            .map_err(|_| error::out_of_range(raw, "options.length", "addressable", &length.to_string()))?;
        let max = max_array_buffer(raw);
        if length > max {
            return Err(error::out_of_range(
                raw,
                "options.length",
                &format!(
                    "<= {max} (the largest ArrayBuffer of this runtime); map the file in pieces with offset"
                ),
                &length.to_string(),
            ));
        }
        let mapping = self.with_fd(raw, |fd| Mapping::new(fd, offset, len, writable))?;
        let (ptr, len) = mapping.into_raw();
        let rec = Rc::new(MapRecord {
            ptr,
            len,
            unmapped: Cell::new(false),
            registry: Rc::downgrade(&self.maps),
        });
        let hint = Rc::into_raw(rec.clone());
        let mut ab = std::ptr::null_mut();
        // SAFETY: ptr/len is a live mapping owned by `rec`; finalize_mapping
        // runs once, when the ArrayBuffer is collected, and takes `hint`.
        let st = unsafe {
            sys::napi_create_external_arraybuffer(
                raw,
                ptr.cast(),
                len,
                Some(finalize_mapping),
                hint as *mut c_void,
                &mut ab,
            )
        };
        if st != sys::Status::napi_ok {
            // Who owns `hint` now? Node 20 runs the finalizer at once when it
            // refuses the buffer (over its 4 GiB limit): then the finalizer
            // has taken `hint` (and unmapped), and dropping it again was a
            // double free that corrupted the heap. Our `rec` and `hint` are
            // the only strong counts, so the count tells.
            if Rc::strong_count(&rec) > 1 {
                // SAFETY: the finalizer did not run, so hint is still ours.
                drop(unsafe { Rc::from_raw(hint) });
            }
            rec.unmap();
            if st == sys::Status::napi_no_external_buffers_allowed {
                return Err(error::throw_new(
                    raw,
                    Kind::Error,
                    "ERR_NOT_SUPPORTED",
                    "This runtime forbids external ArrayBuffers (e.g. Electron's sandbox), so a shared mapping cannot be exposed; MemFile.map() does not fall back to a copy that would not be shared.",
                ));
            }
            check(st)?;
        }
        self.maps.borrow_mut().insert(ptr as usize, rec);
        Ok(JsValue { env: raw, raw: ab })
    }

    /// Unmaps a buffer returned by `map()`: the ArrayBuffer is detached (any
    /// view of it then has length 0, instead of reaching freed memory) and
    /// the memory is unmapped at once. Needed before `addSeals({ write: true })`.
    /// @throws {TypeError} `ERR_INVALID_ARG_VALUE` if `buffer` is not a live mapping of this MemFile.
    #[napi(ts_args_type = "buffer: ArrayBuffer | ArrayBufferView")]
    pub fn unmap(&self, env: Env, buffer: JsValue) -> Result<()> {
        let raw = env.raw();
        let ab = match buffer.type_of()? {
            ValueType::Object => {
                let mut is_ab = false;
                // SAFETY: env/value are live.
                unsafe { sys::napi_is_arraybuffer(raw, buffer.raw, &mut is_ab) };
                if is_ab {
                    buffer
                } else {
                    buffer.get(c"buffer")?
                }
            }
            _ => return Err(error::invalid_type(raw, "buffer", "an ArrayBuffer", &buffer)),
        };
        let mut data = std::ptr::null_mut();
        let mut len = 0usize;
        // SAFETY: a non-ArrayBuffer gives an error status, checked below.
        let st = unsafe { sys::napi_get_arraybuffer_info(raw, ab.raw, &mut data, &mut len) };
        let rec = if st == sys::Status::napi_ok {
            self.maps.borrow().get(&(data as usize)).cloned()
        } else {
            None
        };
        let Some(rec) = rec.filter(|r| r.len == len) else {
            return Err(error::invalid_value(
                raw,
                "buffer",
                "is not a live mapping of this MemFile",
            ));
        };
        // SAFETY: ab is an ArrayBuffer of this env.
        check(unsafe { sys::napi_detach_arraybuffer(raw, ab.raw) })?;
        rec.unmap();
        Ok(())
    }

    /// How many mappings made by `map()` are still mapped.
    #[napi(getter)]
    pub fn mappings(&self) -> u32 {
        self.maps.borrow().len() as u32
    }

    /// Closes the fd. Existing mappings stay valid until unmapped or collected.
    /// Idempotent, never throws.
    ///
    /// If the fd was closed outside the package (`fs.closeSync(mf.fd)`), its
    /// number may now belong to another file: `close()` (and garbage
    /// collection) checks with one `fstat` that the number is still this
    /// memfd (device and inode) and otherwise forgets it instead of closing
    /// it. Reopening this same memfd (e.g. through `/proc/self/fd/N`) onto
    /// that number passes the check.
    #[napi]
    pub fn close(&self) {
        self.fd.borrow_mut().close();
    }

    /// Same as `close()`, for `using`.
    #[napi(well_known_symbol = "dispose")]
    pub fn dispose(&self) {
        self.close();
    }
}
