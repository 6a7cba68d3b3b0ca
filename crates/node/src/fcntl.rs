//! Python's `fcntl` module (`fcntl`, `ioctl`, `flock`, `lockf`, the pipe-size
//! calls) and the constants they take, as thin native calls behind
//! `src/fcntl.ts`. Arguments arrive checked by the TypeScript layer; OS
//! errors are returned as negative errnos (see `handle.rs`).
//!
//! The buffer forms follow Python: the argument's bytes are copied into a
//! 1024-byte buffer ([`ARG_BUF_SIZE`]), the call gets a pointer to it, and a
//! `Buffer` of the argument's length holding the result is returned.

use linux_fd_core::fcntl::{self as core, ARG_BUF_SIZE};
use linux_fd_core::lock;
use napi::bindgen_prelude::{BigInt, Either};
use napi_derive::napi;

use crate::handle::{borrow_fd, either, int, on_fd, sys};

// The constants of `fcntl`, `ioctl`, `flock` and `lockf`, as the C library
// defines them; their documentation is in src/fcntl.ts. (Doc comments
// passed through a macro reach binding.d.ts as `r"…"` literals.)
macro_rules! consts {
    ($($name:ident),* $(,)?) => {
        $(
            #[napi]
            pub const $name: i32 = libc::$name as i32;
        )*
    };
}

// The seal commands and seals (F_ADD_SEALS, F_SEAL_*) live with memfd (memfd.rs).
consts! {
    LOCK_SH, LOCK_EX, LOCK_NB, LOCK_UN, F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_SETFD, FD_CLOEXEC,
    F_GETFL, F_SETFL, F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW,
    F_RDLCK, F_WRLCK, F_UNLCK, F_GETPIPE_SZ, F_SETPIPE_SZ,
    FICLONE, FICLONERANGE, O_APPEND, O_ASYNC, O_CLOEXEC, O_DIRECT, O_NOATIME, O_NONBLOCK, O_DSYNC, O_SYNC,
    O_RDONLY, O_WRONLY, O_RDWR, O_ACCMODE, O_PATH,
    // fcntl(2): "Managing signals" (F_GETOWN, F_SETOWN) and "Leases",
    // "File and directory change notification (dnotify)".
    F_GETOWN, F_SETOWN, F_GETLEASE, F_SETLEASE, F_NOTIFY,
}

// The rest of Python's `fcntl` constants for Linux, which libc 0.2 (0.2.191
// in Cargo.lock) does not define for Linux on x86_64 and aarch64. The values
// are the kernel's, from its uapi headers; both architectures take them from
// asm-generic (arm64's asm/fcntl.h overrides only O_* flags), and glibc and
// musl, where they define them, use the same numbers.
macro_rules! uapi_consts {
    ($($name:ident = $value:expr),* $(,)?) => {
        $(
            #[napi]
            pub const $name: i32 = $value;
        )*
    };
}

uapi_consts! {
    // fcntl(2), "Managing signals": include/uapi/asm-generic/fcntl.h.
    F_SETSIG = 10,
    F_GETSIG = 11,
    F_SETOWN_EX = core::F_SETOWN_EX,
    F_GETOWN_EX = core::F_GETOWN_EX,
    // The `type` of a struct f_owner_ex (asm-generic/fcntl.h).
    F_OWNER_TID = 0,
    F_OWNER_PID = 1,
    F_OWNER_PGRP = 2,
    // fcntl(2), "File read/write hints": include/uapi/linux/fcntl.h
    // (F_LINUX_SPECIFIC_BASE + 11 … 14, and the RWH_* hint values).
    F_GET_RW_HINT = core::F_GET_RW_HINT,
    F_SET_RW_HINT = core::F_SET_RW_HINT,
    F_GET_FILE_RW_HINT = core::F_GET_FILE_RW_HINT,
    F_SET_FILE_RW_HINT = core::F_SET_FILE_RW_HINT,
    RWH_WRITE_LIFE_NOT_SET = 0,
    RWH_WRITE_LIFE_NONE = 1,
    RWH_WRITE_LIFE_SHORT = 2,
    RWH_WRITE_LIFE_MEDIUM = 3,
    RWH_WRITE_LIFE_LONG = 4,
    RWH_WRITE_LIFE_EXTREME = 5,
    // fcntl(2), "File and directory change notification (dnotify)":
    // include/uapi/linux/fcntl.h. DN_MULTISHOT is below, unsigned.
    DN_ACCESS = 0x1,
    DN_MODIFY = 0x2,
    DN_CREATE = 0x4,
    DN_DELETE = 0x8,
    DN_RENAME = 0x10,
    DN_ATTRIB = 0x20,
    // The old BSD flock() lock types, asm-generic/fcntl.h ("for old
    // implementation of bsd flock ()"); Linux refuses them as a struct
    // flock's l_type (EINVAL).
    F_EXLCK = 4,
    F_SHLCK = 8,
    // LOCK_MAND and its modes (flock(2) operations), asm-generic/fcntl.h,
    // which says the kernel no longer supports them: flock() with LOCK_MAND
    // returns 0 and locks nothing (measured on Linux 6.18).
    LOCK_MAND = 32,
    LOCK_READ = 64,
    LOCK_WRITE = 128,
    LOCK_RW = 192,
    // The 64-bit-offset lock commands. On 64-bit targets they are the plain
    // ones (glibc's bits/fcntl.h for x86_64 and aarch64: 5, 6, 7; musl:
    // `#define F_GETLK64 F_GETLK`); the uapi header's 12, 13, 14 are for
    // 32-bit processes (`#if __BITS_PER_LONG == 32`), and a 64-bit kernel
    // refuses them from a 64-bit process (EINVAL).
    F_GETLK64 = libc::F_GETLK,
    F_SETLK64 = libc::F_SETLK,
    F_SETLKW64 = libc::F_SETLKW,
    // fcntl(2) (Linux 6.10): include/uapi/linux/fcntl.h, F_LINUX_SPECIFIC_BASE
    // + 3. CPython has it since 3.14.
    F_DUPFD_QUERY = 1027,
    // The BSD name of O_ASYNC, the F_SETFL flag of fcntl(2) (glibc and musl:
    // `#define FASYNC O_ASYNC`; asm-generic/fcntl.h: 00020000).
    FASYNC = libc::O_ASYNC,
}

// fcntl(2), dnotify: `0x80000000`, an unsigned int in
// include/uapi/linux/fcntl.h. 2147483648 here, as in Python; negative once
// `|`ed in JS, which `fcntl` takes as the same C `int`.
#[napi]
pub const DN_MULTISHOT: u32 = 0x8000_0000;

/// What a buffer-form call returns when it succeeded but the kernel wrote
/// past the argument's length, over the guard bytes after it in the staging
/// copy (an argument updated in place then holds the first bytes of the
/// answer): the argument was too short for the command or request. Below every errno and every
/// result these calls return; `src/fcntl.ts` throws
/// `ERR_BUFFER_OUT_OF_BOUNDS` for it. (CPython 3.14 raises `SystemError`
/// here, from guard bytes; earlier versions cut the answer short silently.)
#[napi]
pub const ARG_OVERFLOW: i32 = i32::MIN;

/// [`core::through_copy`] with its outcome as this binding returns it: the
/// call's result, a negative errno, or [`ARG_OVERFLOW`].
fn through_copy(
    arg: &mut [u8],
    reach: usize,
    guard: bool,
    call: impl FnOnce(&mut [u8]) -> linux_fd_core::Result<i32>,
) -> i32 {
    match sys(core::through_copy(arg, reach, guard, call)) {
        Ok(core::Staged::Done(r)) => r,
        Ok(core::Staged::Overflow) => ARG_OVERFLOW,
        Err(e) => e,
    }
}

/// `fcntl(fd, cmd, arg)` with an integer `arg`: the call's result, or a
/// negative errno. (A result below -4095 cannot be told from an errno only
/// for `F_GETOWN` of a process group, as in the kernel ABI itself.)
///
/// A pointer-taking `cmd` is `-EFAULT` without a call (core
/// `takes_pointer`), where C and Python's `fcntl.fcntl` use `arg` as an
/// address; the TypeScript docs say to pass a buffer for those commands.
/// @see https://man7.org/linux/man-pages/man2/fcntl.2.html
#[napi]
pub fn fcntl_int(fd: i32, cmd: i32, arg: i32) -> i32 {
    // JS picks cmd: core::fcntl_int refuses the commands known to take a
    // pointer; one the kernel adds later would use arg as an address.
    // SAFETY: for an integer-argument command the kernel reads arg as plain
    // data; the known pointer-taking ones are refused before the call.
    int(on_fd(fd, |fd| unsafe { core::fcntl_int(fd, cmd, arg) }))
}

/// `fcntl(fd, cmd, buf)` with `io`'s bytes (at most 1024) copied into a
/// 1024-byte buffer, as Python does, and the buffer's first `io.length`
/// bytes copied back into `io` afterwards: the call's result, a negative
/// errno (`EINVAL` for more than 1024 bytes), or [`ARG_OVERFLOW`] if the
/// command wrote past `io`'s length. The TypeScript layer passes a
/// fresh copy of the argument and returns it, so the result is a pooled
/// `Buffer` that no loop turn is needed to free. Registered raw as
/// `fcntlBuf` (`rt/rawfn.rs`), which borrows `io` from the typed array.
/// @see https://man7.org/linux/man-pages/man2/fcntl.2.html
pub fn fcntl_buf(fd: i32, cmd: i32, io: &mut [u8]) -> i32 {
    let Ok(fd) = borrow_fd(fd) else {
        return -libc::EBADF;
    };
    if io.len() > ARG_BUF_SIZE {
        return -libc::EINVAL;
    }
    // The first 1024 bytes of the copy: fcntl structures are far smaller, and
    // the pointer the kernel gets is the same.
    through_copy(
        io,
        0,
        core::fcntl_writes_arg(cmd),
        |buf| match <&mut [u8; ARG_BUF_SIZE]>::try_from(&mut buf[..ARG_BUF_SIZE]) {
            Ok(buf) => core::fcntl_buf(fd, cmd, buf),
            Err(_) => Err(linux_fd_core::Error::new(linux_fd_core::Errno::EINVAL, "fcntl")),
        },
    )
}

/// `[cmd, size, cmd, size, …]`: the structure size of each pointer-taking
/// `fcntl` command whose size the ABI fixes (core `fcntl_arg_sizes`), read
/// once by the TypeScript layer, which refuses a shorter buffer.
#[napi]
pub fn fcntl_arg_sizes() -> Vec<i32> {
    core::fcntl_arg_sizes()
        .iter()
        .flat_map(|&(cmd, size)| [cmd, size as i32])
        .collect()
}

/// `ioctl(fd, request, arg)` with an integer `arg` (zero-extended): the
/// call's result, or a negative errno. A request that writes through its
/// argument (`_IOR`/`_IOWR`, sockets, the common old ones: core
/// `writes_through_arg`) is `-EFAULT` without a call; any other
/// pointer-taking request uses `arg` as an address, as in C and Python.
/// @see https://man7.org/linux/man-pages/man2/ioctl.2.html
#[napi]
pub fn ioctl_int(fd: i32, request: u32, arg: u32) -> i32 {
    // Python's fcntl.ioctl, by design: JS picks the request. An old request
    // that writes through a pointer and is not in core's list can write
    // where arg points: Node's data and heap are mapped below 4 GiB, so that
    // is not always EFAULT (the TypeScript docs say to pass a buffer).
    // SAFETY: requests known to write through arg are refused by
    // core::ioctl_int before the call; for the rest arg is plain data.
    int(on_fd(fd, |fd| unsafe {
        core::ioctl_int(fd, request as libc::c_ulong, arg as libc::c_ulong)
    }))
}

/// `ioctl(fd, request, buf)` reading and writing `arg` itself (Python's
/// `mutate_flag`): through a copy (with guard bytes, see core `GUARD`) of at least 1024 bytes and of the
/// size the request encodes, copied back, when either is larger than `arg`;
/// directly when `arg` is larger than both; always through a copy of `arg`'s length for the
/// requests whose answer a count in the header sizes (FIEMAP, GETFSMAP,
/// ext4's extent cache, FIDEDUPERANGE). The call's result, a negative
/// errno, or [`ARG_OVERFLOW`] if the kernel wrote past `arg`'s length in
/// the copy.
///
/// The kernel trusts the size the request encodes, or for an old unencoded
/// request its own idea of it, not `arg`'s length, as in C and Python. The
/// copy holds whatever the encoded size reaches; an unencoded request
/// answering more than the copy, or a request that sizes its answer by the
/// argument's contents and is not known to core `content_sized`, reaches
/// the guard page after it and fails with `EFAULT` ([`through_copy`]). A
/// buffer used directly is the caller's own memory, which nothing guards: a
/// driver answering more than it holds writes past it, as in C and Python.
/// Registered raw as `ioctlInPlace` (`rt/rawfn.rs`), which borrows `arg`
/// from the typed array; `request` comes as an int32 and is read as its u32
/// bits.
/// @see https://man7.org/linux/man-pages/man2/ioctl.2.html
pub fn ioctl_in_place(fd: i32, request: i32, arg: &mut [u8]) -> i32 {
    let Ok(fd) = borrow_fd(fd) else {
        return -libc::EBADF;
    };
    let request = request as u32 as libc::c_ulong;
    // FIEMAP/FIDEDUPERANGE: the kernel sizes its answer by a count in the
    // header, which core::ioctl_buf checks against the buffer it is given.
    // That buffer is a private copy of exactly the caller's length: the
    // 1024-byte staging copy would pass a count the caller's buffer cannot
    // hold (the answer cut short), and the caller's own memory may be a
    // SharedArrayBuffer that another thread changes between the check and
    // the kernel's read of the count (a heap overflow, fcntl.spec).
    if let Some(need) = core::content_sized(request, arg) {
        // Only the bytes the header asks for (a 1 GiB buffer copied whole
        // aborted the process under RLIMIT_AS; s46-exhaust H4, s46-diff L6),
        // and an allocation that fails is ENOMEM, not Rust's abort.
        let part = usize::try_from(need).map_or(arg.len(), |n| arg.len().min(n));
        let mut own = Vec::new();
        if own.try_reserve_exact(part).is_err() {
            return -libc::ENOMEM;
        }
        own.extend_from_slice(&arg[..part]);
        // ioctl_buf reads the header's count again, from the copy.
        // SAFETY: `own` is ours alone for the call, and ioctl_buf refuses it if
        // shorter than the header or the array its count names, all these use.
        let r = unsafe { core::ioctl_buf(fd, request, &mut own) };
        if r.is_ok() {
            arg[..part].copy_from_slice(&own);
        }
        return int(sys(r));
    }
    let reach = core::ioc_size(request);
    if arg.len() <= ARG_BUF_SIZE || reach > arg.len() {
        // Python's fcntl.ioctl, by design: JS picks the request and its size.
        // Guard bytes after the argument only for a request known to write.
        let guard = core::writes_through_arg(request);
        return through_copy(arg, reach, guard, |buf| {
            // SAFETY: buf is a live copy of at least 1024 bytes (as in
            // Python) and of the size the request encodes, for the call.
            unsafe { core::ioctl_buf(fd, request, buf) }
        });
    }
    // Python's fcntl.ioctl, by design: over 1024 bytes and over the size the
    // request encodes, the buffer is used directly. Over a
    // SharedArrayBuffer another thread may write it meanwhile, as during any
    // Node-API call that borrows one: the kernel then sees torn bytes inside
    // the buffer, never reaches outside it (the requests whose reach depends
    // on the contents took the private copy above). A driver's request
    // that answers more than the buffer holds and is not known to
    // content_sized writes past it, as in C: no guard page can follow
    // memory the caller allocated (src/fcntl.ts says so).
    // SAFETY: arg is the caller's live, writable typed array, borrowed for
    // this synchronous call; the docs require it to cover the request.
    int(sys(unsafe { core::ioctl_buf(fd, request, arg) }))
}

/// `flock(fd, operation)`: 0, or a negative errno. Blocks the calling thread
/// without `LOCK_NB` (retrying on `EINTR`). The `flock()` hot path: one call,
/// no allocation. Registered raw as `flock` (`rt/rawfn.rs`).
/// @see https://man7.org/linux/man-pages/man2/flock.2.html
pub fn flock(fd: i32, operation: i32) -> i32 {
    int(on_fd(fd, |fd| lock::flock(fd, operation)).map(|()| 0))
}

/// Python's `fcntl.lockf(fd, cmd, len, start, whence)`: a POSIX record lock
/// (`F_SETLK` with `LOCK_NB`, else the blocking `F_SETLKW`); 0, or a
/// negative errno (`EINVAL` for an unrecognised `cmd`, `EOVERFLOW` for a
/// `len` or `start` outside `off_t`). Offsets are `BigInt`s, as Python takes
/// any `off_t`: a JS number stops at 2^53.
/// @see https://man7.org/linux/man-pages/man3/lockf.3.html
#[napi]
pub fn lockf(fd: i32, cmd: i32, len: BigInt, start: BigInt, whence: i32) -> i32 {
    let Ok(fd) = borrow_fd(fd) else {
        return -libc::EBADF;
    };
    let (len, start) = match (len.get_i64(), start.get_i64()) {
        ((len, true), (start, true)) => (len, start),
        _ => return -libc::EOVERFLOW,
    };
    int(sys(lock::lockf(fd, cmd, len, start, whence)).map(|()| 0))
}

/// `pipe2(flags)`: `[read end, write end]` (the caller owns both), or a
/// negative errno.
/// @see https://man7.org/linux/man-pages/man2/pipe.2.html
#[napi(ts_return_type = "[number, number] | number")]
pub fn pipe2(flags: i32) -> Either<Vec<i32>, i32> {
    use linux_fd_core::fd::hand_out;
    either(sys(core::pipe2(flags)).map(|(r, w)| vec![hand_out(r), hand_out(w)]))
}

/// `fcntl(fd, F_GETPIPE_SZ)`: a pipe's capacity in bytes, or a negative errno.
/// @see https://man7.org/linux/man-pages/man2/fcntl.2.html
#[napi]
pub fn get_pipe_size(fd: i32) -> i32 {
    int(on_fd(fd, core::pipe_size).map(|n| n as i32))
}

/// `fcntl(fd, F_SETPIPE_SZ, size)`: the capacity the kernel chose, or a
/// negative errno. `size` is the kernel's `unsigned int`, passed unchanged.
/// @see https://man7.org/linux/man-pages/man2/fcntl.2.html
#[napi]
pub fn set_pipe_size(fd: i32, size: u32) -> i32 {
    int(on_fd(fd, |fd| core::set_pipe_size(fd, size)).map(|n| n as i32))
}
