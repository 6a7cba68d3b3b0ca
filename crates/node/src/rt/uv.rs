//! The handful of libuv functions the waiter needs, found at run time.
//!
//! They are looked up with `dlsym(RTLD_DEFAULT, …)` in the process that loaded
//! the addon (Node exports libuv's `uv_*` symbols) instead of being linked, for
//! two reasons:
//! - Bun exports `uv_*` names too, but most of them abort the process. Looking
//!   them up only after the runtime check in `env.rs` means no `uv_*` function
//!   can be reached under Bun, by construction.
//! - The addon then has no undefined `uv_*` symbols at load time, so it loads
//!   anywhere Node-API does.
//!
//! Handles are allocated with `uv_handle_size(UV_POLL)` bytes at run time, so
//! nothing depends on libuv's struct layout. libuv keeps its ABI stable across
//! 1.x. See docs/design.md, "Waiting on the event loop".

use std::ffi::{c_int, c_void, CStr};
use std::sync::OnceLock;

/// `uv_loop_t`, opaque.
pub type Loop = c_void;
/// `uv_poll_t` / `uv_handle_t`, opaque.
pub type Handle = c_void;
/// `uv_poll_cb`.
pub type PollCb = unsafe extern "C" fn(handle: *mut Handle, status: c_int, events: c_int);
/// `uv_close_cb`.
pub type CloseCb = unsafe extern "C" fn(handle: *mut Handle);

/// `UV_POLL` in `uv_handle_type`.
pub const UV_POLL: c_int = 8;
/// `UV_READABLE` in `uv_poll_event`.
pub const UV_READABLE: c_int = 1;

type PollInit = unsafe extern "C" fn(*mut Loop, *mut Handle, c_int) -> c_int;
type PollStart = unsafe extern "C" fn(*mut Handle, c_int, PollCb) -> c_int;
type HandleOp = unsafe extern "C" fn(*mut Handle) -> c_int;
type Close = unsafe extern "C" fn(*mut Handle, Option<CloseCb>);
type HandleVoid = unsafe extern "C" fn(*mut Handle);
type HandleSize = unsafe extern "C" fn(c_int) -> usize;
type GetData = unsafe extern "C" fn(*const Handle) -> *mut c_void;
type SetData = unsafe extern "C" fn(*mut Handle, *mut c_void);
type BackendFd = unsafe extern "C" fn(*const Loop) -> c_int;

/// Function pointers into the running process's libuv.
pub struct Uv {
    pub poll_init: PollInit,
    pub poll_start: PollStart,
    pub poll_stop: HandleOp,
    pub close: Close,
    pub ref_: HandleVoid,
    pub unref: HandleVoid,
    pub handle_size: HandleSize,
    pub get_data: GetData,
    pub set_data: SetData,
    /// `uv_backend_fd`: the loop's epoll fd (`watch.rs`, `release`).
    /// Required: Deno's `uv_*` shim lacks it, so a Deno whose
    /// `process.versions.deno` was deleted is still known (its shim's polls
    /// crashed the process), and so is any host without a real libuv.
    pub backend_fd: BackendFd,
}

fn sym(name: &CStr) -> Option<*mut c_void> {
    // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only searches
    // the already-loaded global symbol table.
    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    (!p.is_null()).then_some(p)
}

macro_rules! load {
    ($name:literal, $ty:ty) => {{
        let p = sym($name)?;
        // SAFETY: the symbol is libuv's exported function of that name; $ty is
        // its C prototype from uv.h (libuv 1.x ABI).
        unsafe { std::mem::transmute::<*mut c_void, $ty>(p) }
    }};
}

fn load() -> Option<Uv> {
    Some(Uv {
        poll_init: load!(c"uv_poll_init", PollInit),
        poll_start: load!(c"uv_poll_start", PollStart),
        poll_stop: load!(c"uv_poll_stop", HandleOp),
        close: load!(c"uv_close", Close),
        ref_: load!(c"uv_ref", HandleVoid),
        unref: load!(c"uv_unref", HandleVoid),
        handle_size: load!(c"uv_handle_size", HandleSize),
        get_data: load!(c"uv_handle_get_data", GetData),
        set_data: load!(c"uv_handle_set_data", SetData),
        backend_fd: load!(c"uv_backend_fd", BackendFd),
    })
}

/// libuv's functions, or `None` if this process does not export them all.
/// Call only after the runtime check says this is Node.
///
/// Every `uv_*` call goes through here, so the test suite can prove none
/// happens under Bun: with `LINUX_FD_FORBID_UV` set, reaching this aborts.
/// (An `LD_PRELOAD` trap cannot do it: symbols of the main executable come
/// before preloaded ones in the global lookup scope.) The variable is read
/// once, when the addon loads ([`read_forbid`]): read on every call, a
/// `process.env.LINUX_FD_FORBID_UV = '1'` while a watch ran aborted the
/// process at its next event.
pub fn get() -> Option<&'static Uv> {
    if *FORBID.get_or_init(forbid_from_env) {
        eprintln!("linux-fd: a uv_* function was reached with LINUX_FD_FORBID_UV set");
        std::process::abort();
    }
    static UV: OnceLock<Option<Uv>> = OnceLock::new();
    UV.get_or_init(load).as_ref()
}

static FORBID: OnceLock<bool> = OnceLock::new();

fn forbid_from_env() -> bool {
    std::env::var_os("LINUX_FD_FORBID_UV").is_some()
}

/// Reads `LINUX_FD_FORBID_UV` for [`get`], once per process: called when the
/// addon loads, before any JS can change the environment.
pub fn read_forbid() {
    FORBID.get_or_init(forbid_from_env);
}
