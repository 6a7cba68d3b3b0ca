//! eventfd: Python's `os.eventfd`, `os.eventfd_read` and `os.eventfd_write`,
//! and the native calls behind `EventCounter` and `Semaphore` (src/eventfd.ts).
//! Errors are negative errnos (see `handle.rs`).

use linux_fd_core::eventfd::{self as core, EfdFlags};
use napi::bindgen_prelude::{BigInt, Either};
use napi_derive::napi;

use crate::handle::{either, int, on_fd, sys, FdHandle};
use crate::rt::ext::Owned;

/// Close-on-exec flag for `eventfd()` (`EFD_CLOEXEC`).
#[napi]
pub const EFD_CLOEXEC: i32 = libc::EFD_CLOEXEC;
/// Non-blocking flag for `eventfd()` (`EFD_NONBLOCK`).
#[napi]
pub const EFD_NONBLOCK: i32 = libc::EFD_NONBLOCK;
/// Semaphore flag for `eventfd()` (`EFD_SEMAPHORE`): each read takes 1.
#[napi]
pub const EFD_SEMAPHORE: i32 = libc::EFD_SEMAPHORE;

/// `eventfd(initval, flags)`: a new fd (the caller owns it), or a negative errno.
/// @see https://man7.org/linux/man-pages/man2/eventfd.2.html
#[napi]
pub fn eventfd(initval: u32, flags: i32) -> i32 {
    int(sys(core::eventfd(initval, EfdFlags::from_bits_retain(flags))).map(linux_fd_core::fd::hand_out))
}

/// `eventfd_read(fd)`: the value read (never 0), or a negative errno.
/// Blocks on a blocking fd, as Python's `os.eventfd_read`.
/// Registered raw as `eventfdRead` (`rt/rawfn.rs`; a bigint or a number).
/// @see https://man7.org/linux/man-pages/man2/eventfd.2.html
pub fn read(fd: i32) -> Result<u64, i32> {
    on_fd(fd, core::eventfd_read)
}

/// `eventfd_read(fd)` that never waits: `-EAGAIN` at zero even if another
/// holder of the fd made its open file description blocking
/// (`core::eventfd_try_read`: `preadv2(RWF_NOWAIT)`, Linux 5.8). The read of
/// an `EventCounter` or `Semaphore` whose fd may have left the process
/// (`FdCore.shared` in src/waiter.ts). Registered raw as `eventfdTryRead`
/// (`rt/rawfn.rs`).
/// @see https://man7.org/linux/man-pages/man2/eventfd.2.html
pub fn try_read(fd: i32) -> Result<u64, i32> {
    on_fd(fd, core::eventfd_try_read)
}

/// `eventfd_write(fd, value)` for a safe integer `value` (0 … 2^53-1, checked
/// by the caller; anything else saturates into 0 … 2^64-1, which is
/// memory-safe): 0 or a negative errno. Registered raw as `eventfdWrite`
/// (`rt/rawfn.rs`).
/// @see https://man7.org/linux/man-pages/man2/eventfd.2.html
pub fn write_number(fd: i32, value: f64) -> i32 {
    write(fd, value as u64)
}

/// `eventfd_write(fd, value)` for a bigint `value` (its low 64 bits; the
/// caller checks 0 … 2^64-1): 0 or a negative errno.
/// @see https://man7.org/linux/man-pages/man2/eventfd.2.html
#[napi]
pub fn eventfd_write_big(fd: i32, value: BigInt) -> i32 {
    write(fd, value.get_u64().1)
}

fn write(fd: i32, value: u64) -> i32 {
    int(on_fd(fd, |fd| core::eventfd_write(fd, value)).map(|()| 0))
}

/// One read of a non-blocking `EFD_SEMAPHORE` eventfd, as a number: 1 (a
/// permit was taken), 0 (`EAGAIN`: none free) or a negative errno. The
/// `Semaphore.tryAcquire()` fast path for an fd that never left the process:
/// no bigint is made, and `read(2)` (a shared fd takes [`try_read`], which
/// costs about 15 % more; src/eventfd.ts). Registered raw as
/// `semaphoreTryAcquire` (`rt/rawfn.rs`).
pub fn try_acquire(fd: i32) -> i32 {
    match read(fd) {
        Ok(_) => 1,
        Err(e) if e == -libc::EAGAIN => 0,
        Err(e) => e,
    }
}

/// A new close-on-exec, non-blocking eventfd (`EFD_SEMAPHORE` if
/// `semaphore`) starting at `initial` (0 … 2^32-1, else `-EINVAL`), owned by
/// the returned handle; or a negative errno.
///
/// Registered raw as `eventfdOpen` (`rt/rawfn.rs`; typings in
/// `crates/node/raw.d.ts`): every `new EventCounter()`/`new Semaphore()`
/// calls it. Generated, napi-rs's borrow scope made create+close's binding
/// calls 5 mallocs an iteration against the same-syscalls floor's 3; raw,
/// 3 (uprobe count; docs/bench-floor.md).
/// @see https://man7.org/linux/man-pages/man2/eventfd.2.html
pub fn open(initial: i64, semaphore: bool) -> Result<Owned<FdHandle>, i32> {
    let initial = u32::try_from(initial).map_err(|_| -libc::EINVAL)?;
    let mut flags = EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK;
    if semaphore {
        flags |= EfdFlags::EFD_SEMAPHORE;
    }
    sys(core::eventfd(initial, flags)).map(|fd| FdHandle::new(fd, true))
}

/// The counter's value without consuming it (`eventfd-count` in
/// `/proc/self/fdinfo`), or a negative errno.
/// @see https://man7.org/linux/man-pages/man5/proc_pid_fdinfo.5.html
#[napi(ts_return_type = "bigint | number")]
pub fn eventfd_count(fd: i32) -> Either<u64, i32> {
    either(on_fd(fd, core::count))
}
