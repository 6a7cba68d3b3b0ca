//! Generic fd plumbing shared by every primitive: duplicating with
//! close-on-exec, switching to non-blocking, asking the kernel what an fd is,
//! and noticing an fd that was closed behind its owner's back
//! ([`FdIdentity`], [`GuardedFd`], and the process-wide record of which
//! `GuardedFd` owns each number, `owners`).
//!
//! # References
//! - [`fcntl(2)`](https://man7.org/linux/man-pages/man2/fcntl.2.html)
//! - [`proc_pid_fdinfo(5)`](https://man7.org/linux/man-pages/man5/proc_pid_fdinfo.5.html)
//! - [`fstat(2)`](https://man7.org/linux/man-pages/man2/fstat.2.html)

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};

use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};

use crate::error::{Context, Errno, Result};

/// `fcntl(fd, F_DUPFD_CLOEXEC, 0)`—Duplicates `fd`; the copy is close-on-exec.
///
/// Creating the copy with the flag (rather than setting it afterwards) leaves
/// no window in which a `fork` on another thread could inherit it.
pub fn dup_cloexec(fd: BorrowedFd<'_>) -> Result<OwnedFd> {
    let raw = fcntl(fd, FcntlArg::F_DUPFD_CLOEXEC(0)).syscall("fcntl")?;
    // SAFETY: F_DUPFD_CLOEXEC returned a new fd that nothing else owns.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) })
}

/// Sets `O_NONBLOCK` on the open file description behind `fd`.
///
/// The flag belongs to the description, so every dup and every process that
/// shares it sees it too (libuv's `uv_poll_init` does the same).
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> Result<()> {
    let flags = fcntl(fd, FcntlArg::F_GETFL).syscall("fcntl")?;
    let flags = OFlag::from_bits_retain(flags);
    if !flags.contains(OFlag::O_NONBLOCK) {
        fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).syscall("fcntl")?;
    }
    Ok(())
}

/// Whether `fd` has `FD_CLOEXEC`.
pub fn is_cloexec(fd: BorrowedFd<'_>) -> Result<bool> {
    let flags = fcntl(fd, FcntlArg::F_GETFD).syscall("fcntl")?;
    Ok(FdFlag::from_bits_retain(flags).contains(FdFlag::FD_CLOEXEC))
}

/// Sets `FD_CLOEXEC` on `fd` (one `F_GETFD`, and an `F_SETFD` only if the
/// flag is missing). `EBADF` for a number that is not open.
///
/// # References
/// - [`fcntl(2)`](https://man7.org/linux/man-pages/man2/fcntl.2.html)
pub fn set_cloexec(fd: BorrowedFd<'_>) -> Result<()> {
    let flags = FdFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFD).syscall("fcntl")?);
    if !flags.contains(FdFlag::FD_CLOEXEC) {
        fcntl(fd, FcntlArg::F_SETFD(flags | FdFlag::FD_CLOEXEC)).syscall("fcntl")?;
    }
    Ok(())
}

/// A guard owning `fd` itself (`adopt`) or a close-on-exec duplicate of it;
/// with `nonblock`, the open file description is made non-blocking. `anon`:
/// an eventfd or timerfd (see [`GuardedFd::new_anon`]).
///
/// Adopting claims the number (refused with `EBUSY` if a live guard owns it,
/// [`GuardedFd::adopt`], and then neither its flags nor its description are
/// touched), then makes it close-on-exec like every fd the package owns (an
/// inheritable one reached every child). On any failure an adopted number
/// is given back unclosed, and out of the owner registry.
///
/// # Errors
/// `EBADF` (not open), `EBUSY`, `EMFILE` (the dup), `fcntl`'s.
///
/// # Safety
/// With `adopt`, the caller gives up `fd`'s number: nothing else may close
/// it once this returns a guard (an `OwnedFd` still held would close it a
/// second time). Without `adopt` nothing is required. (s41-diff3 LOW: as a
/// safe function, `own(owned.as_fd(), true, …)` made two owners.)
pub unsafe fn own(fd: BorrowedFd<'_>, adopt: bool, anon: bool, nonblock: bool) -> Result<GuardedFd> {
    if !adopt {
        if nonblock {
            set_nonblocking(fd)?;
        }
        let dup = dup_cloexec(fd)?;
        return Ok(if anon {
            GuardedFd::new_anon(dup)
        } else {
            GuardedFd::new(dup)
        });
    }
    // F_GETFD first, so a closed number is EBADF, not claimed.
    let cloexec = is_cloexec(fd)?;
    // If another guard owns the number the claim is refused and the
    // OwnedFd given back is forgotten, never closed; once claimed, only the
    // guard closes it, and the failures below give it back unclosed.
    // SAFETY: the caller gives up this open fd (checked just above), as
    // `own`'s contract says.
    let owned = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd.as_raw_fd()) };
    let claimed = if anon {
        GuardedFd::adopt_anon(owned)
    } else {
        GuardedFd::adopt(owned)
    };
    let mut g = claimed.map_err(|owned| {
        forget(owned);
        crate::error::Error::new(Errno::EBUSY, "fcntl")
    })?;
    let set = (if cloexec { Ok(()) } else { set_cloexec(fd) }).and_then(|()| {
        if nonblock {
            set_nonblocking(fd)
        } else {
            Ok(())
        }
    });
    if set.is_err() {
        // Give the number back, unclosed, and out of the registry.
        if let Taken::Ours(owned) = g.take() {
            forget(owned);
        }
    }
    set.map(|()| g)
}

/// What `/proc/thread-self/fdinfo/<fd>` says an fd is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdKind {
    /// An eventfd; `semaphore` is `None` on kernels that do not report it.
    EventFd { semaphore: Option<bool> },
    /// A timerfd.
    TimerFd,
    /// Anything else.
    Other,
    /// `/proc` is not available, so the kind is unknown.
    Unknown,
}

impl FdKind {
    /// The name JS sees (`fdKind`): `eventfd`, `eventfd-semaphore`,
    /// `timerfd`, `other`, or `unknown` (also an eventfd whose kernel does
    /// not say which).
    pub fn name(self) -> &'static str {
        match self {
            FdKind::EventFd {
                semaphore: Some(true),
            } => "eventfd-semaphore",
            FdKind::EventFd {
                semaphore: Some(false),
            } => "eventfd",
            FdKind::EventFd { semaphore: None } | FdKind::Unknown => "unknown",
            FdKind::TimerFd => "timerfd",
            FdKind::Other => "other",
        }
    }
}

/// Reads `/proc/thread-self/fdinfo/<fd>` to tell an eventfd or timerfd from other
/// files. Every eventfd and timerfd shares one anonymous inode, so `fstat`
/// cannot tell them apart; fdinfo can.
///
/// # Errors
/// `EBADF` if `fd` is not open; `EMFILE`, `ENFILE` or `ENOMEM` (`syscall`
/// `open`) if the fdinfo file cannot be opened for want of an fd or memory:
/// that is not "no `/proc`", whose `Unknown` lets a caller take any fd
/// (s46-exhaust H3: `fromFd(eventfd, { adopt: true })` made a `Semaphore`
/// of a plain counter in a full fd table).
pub fn kind(fd: BorrowedFd<'_>) -> Result<FdKind> {
    // Fails with EBADF for a closed fd, before /proc is consulted.
    fcntl(fd, FcntlArg::F_GETFD).syscall("fcntl")?;
    let Some(text) = fdinfo(fd)? else {
        return Ok(FdKind::Unknown);
    };
    if text.lines().any(|l| l.starts_with("eventfd-count:")) {
        let semaphore = text
            .lines()
            .find_map(|l| l.strip_prefix("eventfd-semaphore:"))
            .map(|v| v.trim() == "1");
        return Ok(FdKind::EventFd { semaphore });
    }
    if text.lines().any(|l| l.starts_with("clockid:")) {
        return Ok(FdKind::TimerFd);
    }
    Ok(FdKind::Other)
}

/// The text of `/proc/thread-self/fdinfo/<fd>`: the one place that reads it for
/// [`kind`], [`crate::lockwait::held_pieces`] and
/// [`crate::timerfd::clock_id`], so the three agree on what a failed read
/// means. `None` where `/proc` gives no answer (not mounted, or the entry is
/// missing); each caller has its own "cannot tell" for that.
///
/// # Errors
/// `EMFILE`, `ENFILE` or `ENOMEM` (`syscall` `open`): the file could not be
/// opened for want of an fd number or memory. That is not "`/proc` has no
/// answer", and taking it for one gave wrong results in a full fd table
/// (s46-exhaust H2/H3, s46-diff M1).
///
/// [`eventfd::count`](crate::eventfd::count) reads fdinfo on its own: it
/// maps a missing entry to `EBADF`, which these callers must not.
///
/// The entry read is `/proc/thread-self`'s: this thread's fd table, which is
/// the process's unless a thread unshared its table.
pub(crate) fn fdinfo(fd: BorrowedFd<'_>) -> Result<Option<String>> {
    fdinfo_raw(fd.as_raw_fd())
}

/// [`fdinfo`] of a number that may no longer be open (a closed one has no
/// entry: `None`), for [`FdIdentity::check`].
fn fdinfo_raw(raw: RawFd) -> Result<Option<String>> {
    match std::fs::read_to_string(format!("/proc/thread-self/fdinfo/{raw}")) {
        Ok(text) => Ok(Some(text)),
        Err(e) => match e.raw_os_error() {
            Some(n @ (libc::EMFILE | libc::ENFILE | libc::ENOMEM)) => {
                Err(crate::Error::new(Errno::from_raw(n), "open"))
            }
            _ => Ok(None),
        },
    }
}

/// Which file an fd number refers to, as far as one `fstat(2)` can tell:
/// device, inode and file type (`st_mode & S_IFMT`).
///
/// Recorded when an object takes its fd and compared when it closes it, so
/// that an fd closed behind the object's back (`fs.closeSync(obj.fd)`) and
/// whose number was then reused for another file is not closed a second time.
///
/// # Limits
/// - **eventfd, timerfd, epoll, signalfd, … share one anonymous inode**
///   (`anon_inode:[eventfd]` and friends are all the same inode of the same
///   device, with file type 0), so the identity of an eventfd cannot tell it
///   from another eventfd, a timerfd or an epoll fd. Only a reuse by a
///   regular file, a pipe, a socket, a memfd, … is caught for them.
/// - Files with their own inode (memfds, locked files) are told apart
///   exactly, except that reopening *the same file* (the same path, or
///   `/proc/self/fd/N` of the same memfd) gives the same identity.
/// - **The inode `fstat` reports can change under an open fd** (overlayfs
///   copy-up of a file with a hard link): [`FdIdentity::check`] asks
///   fdinfo before it calls such an fd another file (Linux 5.14 and later;
///   not when the device changed too).
/// - Any hard link of the file in an overlay lower layer counts as the same
///   file, even once copied up apart from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdIdentity {
    dev: u64,
    ino: u64,
    file_type: u32,
}

/// What [`FdIdentity::check`] found at a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Open, and (as far as `fstat`, and on an inode mismatch fdinfo, can tell) still the recorded file.
    Same,
    /// Not open (`EBADF`): closed behind the owner's back.
    Closed,
    /// Open, but another file: closed behind the owner's back and reused.
    Different,
}

impl FdIdentity {
    /// Builds an identity from the fields of a `stat`.
    pub fn from_parts(dev: u64, ino: u64, mode: u32) -> Self {
        Self {
            dev,
            ino,
            file_type: mode & libc::S_IFMT,
        }
    }

    /// The device (`st_dev`).
    pub fn dev(&self) -> u64 {
        self.dev
    }

    /// The inode (`st_ino`).
    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// `fstat(fd)` and keeps what identifies the file.
    pub fn of(fd: BorrowedFd<'_>) -> Result<Self> {
        Self::of_raw(fd.as_raw_fd())
    }

    /// `fstat` on a number that may no longer be open, which is why this
    /// takes a `RawFd` and not a `BorrowedFd` (whose contract is an open fd).
    fn of_raw(raw: RawFd) -> Result<Self> {
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: fstat only writes the stat buffer, which is valid for
        // writes; a closed or foreign number only gets EBADF or that file's
        // metadata, never a change to it.
        let rc = unsafe { libc::fstat(raw, st.as_mut_ptr()) };
        if rc != 0 {
            return Err(crate::Error::new(Errno::last(), "fstat"));
        }
        // SAFETY: fstat returned 0, so it filled the whole buffer.
        let st = unsafe { st.assume_init() };
        Ok(Self::from_parts(st.st_dev, st.st_ino, st.st_mode))
    }

    /// Whether `raw` is still open and still this file (one `fstat`; see below).
    ///
    /// An `fstat` failure other than `EBADF` (which needs an open fd, so it
    /// cannot be a closed one) counts as [`Check::Same`]. An inode that
    /// changed alone, on the same device and with the same type, is asked
    /// of `/proc/thread-self/fdinfo` before it counts as another file (see
    /// `copied_up`).
    pub fn check(&self, raw: RawFd) -> Check {
        match Self::of_raw(raw) {
            Ok(now) if now == *self => Check::Same,
            Ok(now) if self.copied_up(now, raw) => Check::Same,
            Ok(_) => Check::Different,
            Err(e) if e.errno == Errno::EBADF => Check::Closed,
            Err(_) => Check::Same,
        }
    }

    /// Whether `now`, read at `raw`, is this file seen after an overlayfs
    /// copy-up. `fstat` of an open file on overlayfs reports the upper
    /// file's inode once the file is copied up (a write open or a metadata
    /// change by anyone) if it has a hard link in the lower layer and the
    /// mount has no index (the default); the open file's own inode, which
    /// fdinfo prints as `ino:`, keeps its number. Compared by `fstat`
    /// alone, a lock through such a file read as closed behind its back:
    /// its release forgot the fd without unlocking or closing it, and the
    /// lock stayed held until the process exited (s50-diff).
    ///
    /// Read only when the device and type match and the inode does not. A
    /// number reused by another file has that file's `ino:` there, except
    /// a hard link of this one in the same overlay lower layer copied up
    /// apart from it (the same inode until then: the limit of reopening
    /// the same file, above). A failed read (no `/proc`, no fd left) keeps
    /// the answer `Different`. Not covered, so still read as closed behind
    /// the back: kernels before 5.14 (no `ino:` in fdinfo), and an overlay
    /// whose layers are on different filesystems without `xino`, where the
    /// copy-up changes the device too (s50-guard). `/proc/thread-self`:
    /// this thread's fd table, whatever the others share.
    fn copied_up(&self, now: FdIdentity, raw: RawFd) -> bool {
        now.dev == self.dev
            && now.file_type == self.file_type
            && now.ino != self.ino
            && fdinfo_raw(raw).ok().flatten().is_some_and(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix("ino:"))
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    == Some(self.ino)
            })
    }
}

/// Gives up `fd` without closing it (for a number that is no longer ours).
pub fn forget(fd: OwnedFd) -> RawFd {
    fd.into_raw_fd()
}

/// Hands an fd the kernel has just made to a caller who will own the bare
/// number (Python's `os.eventfd` and its kin return an `int`). Any guard
/// still recorded as the number's owner is stale (the kernel hands out only
/// free numbers): its entry is cleared, so that guard forgets the number
/// instead of closing it, and the caller may adopt the number.
pub fn hand_out(fd: OwnedFd) -> RawFd {
    let raw = fd.into_raw_fd();
    disown(raw);
    raw
}

/// [`hand_out`] for a number the kernel has just returned outside an
/// `OwnedFd` (`fcntl(F_DUPFD)` made for the caller): clears any stale
/// guard's claim on it.
pub fn disown(raw: RawFd) {
    owners::entry(raw).reset(raw);
}

/// Which [`GuardedFd`] owns each fd number: a process-wide map from number
/// to owner (a `u64` drawn once per guard; 0 = none). The fd table is per
/// process and every thread (so every worker) shares it, so this is one
/// static, not per thread or per environment.
///
/// It tells what `fstat` cannot: every eventfd and timerfd has the same
/// identity, so a guard whose number was closed behind its back and reused
/// by another eventfd saw "the same file". Now:
/// - a guard over an fd the kernel has just made ([`GuardedFd::new`])
///   *overwrites* the entry: the kernel hands out only free numbers, so
///   whoever was recorded there before is stale;
/// - a guard closes (or hands over) its fd only while the entry is still its
///   own, and clears it only if so (compare-and-clear);
/// - adopting a number someone else made ([`GuardedFd::adopt`]) claims the
///   entry only if it is empty (compare-and-swap from 0), so one number never
///   has two live owners.
///
/// Numbers below `CHUNK * CHUNKS` (2^20, Linux's default `fs.nr_open`) live
/// in an array of atomics, allocated a chunk of 1024 (8 KiB) at a time and
/// never freed, no lock: a new guard costs one atomic add (its id) and one
/// store, a close one load and one compare-and-swap, about 50 user-space
/// instructions per create+close in all (docs/reliability.md). Larger
/// numbers (only where `fs.nr_open` was raised) go to a map behind a mutex.
///
/// Limits: fds that no guard holds are not in it. The package's own raw
/// constructors clear the entry of the number they return ([`hand_out`]),
/// but a number closed behind a guard's back and reopened by anything else
/// (a plain `open`, `fs.openSync`) still names the stale guard until that
/// guard closes, so adopting the number is refused meanwhile, and the stale
/// guard's close relies on `fstat` alone. Two copies of the library in
/// one process (two addons) have two registries.
mod owners {
    use std::collections::BTreeMap;
    use std::os::fd::RawFd;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Mutex, OnceLock};

    const CHUNK: usize = 1024;
    const CHUNKS: usize = 1024;
    type Chunk = [AtomicU64; CHUNK];

    static TABLE: [OnceLock<Box<Chunk>>; CHUNKS] = [const { OnceLock::new() }; CHUNKS];
    static LARGE: Mutex<BTreeMap<RawFd, u64>> = Mutex::new(BTreeMap::new());
    static NEXT: AtomicU64 = AtomicU64::new(1);

    /// A new owner id, never 0 and never handed out twice (2^64 of them).
    #[inline]
    pub(super) fn next() -> u64 {
        NEXT.fetch_add(1, Ordering::Relaxed)
    }

    /// Where the owner of one number is kept, found once per guard (an fd
    /// keeps its number): its atomic in the array, or (`None`) `LARGE`.
    /// The operations take the number too, for `LARGE`.
    #[derive(Debug, Clone, Copy)]
    pub(super) struct Entry {
        slot: Option<&'static AtomicU64>,
    }

    /// The entry of `raw`, allocating its chunk of the array if needed.
    #[inline]
    pub(super) fn entry(raw: RawFd) -> Entry {
        let i = raw as u32 as usize; // a negative number: past the array
        let slot = match TABLE.get(i / CHUNK) {
            Some(chunk) => {
                let chunk = match chunk.get() {
                    Some(c) => c,
                    None => alloc(chunk),
                };
                Some(&chunk[i % CHUNK])
            }
            None => None,
        };
        Entry { slot }
    }

    /// Once per 1024 numbers.
    #[cold]
    fn alloc(chunk: &'static OnceLock<Box<Chunk>>) -> &'static Chunk {
        chunk.get_or_init(|| Box::new([const { AtomicU64::new(0) }; CHUNK]))
    }

    fn large() -> std::sync::MutexGuard<'static, BTreeMap<RawFd, u64>> {
        // A panic while holding it cannot leave the map half-updated.
        LARGE.lock().unwrap_or_else(|e| e.into_inner())
    }

    // The map's side of each operation, out of line: the array's side is a
    // single atomic operation, inlined into the guard's code.
    #[cold]
    fn large_set(raw: RawFd, owner: u64) {
        large().insert(raw, owner);
    }

    #[cold]
    fn large_claim(raw: RawFd, owner: u64) -> bool {
        match large().entry(raw) {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(owner);
                true
            }
            std::collections::btree_map::Entry::Occupied(_) => false,
        }
    }

    #[cold]
    fn large_holds(raw: RawFd, owner: u64) -> bool {
        large().get(&raw) == Some(&owner)
    }

    #[cold]
    fn large_reset(raw: RawFd) {
        large().remove(&raw);
    }

    #[cold]
    fn large_clear(raw: RawFd, owner: u64) {
        let mut map = large();
        if map.get(&raw) == Some(&owner) {
            map.remove(&raw);
        }
    }

    impl Entry {
        /// Records `owner`, whoever was recorded before.
        #[inline]
        pub(super) fn set(self, raw: RawFd, owner: u64) {
            match self.slot {
                Some(s) => s.store(owner, Ordering::Release),
                None => large_set(raw, owner),
            }
        }

        /// Records `owner` only if nobody is recorded; whether it did.
        #[inline]
        pub(super) fn claim(self, raw: RawFd, owner: u64) -> bool {
            match self.slot {
                Some(s) => s
                    .compare_exchange(0, owner, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok(),
                None => large_claim(raw, owner),
            }
        }

        /// Whether `owner` is the one recorded.
        #[inline]
        pub(super) fn holds(self, raw: RawFd, owner: u64) -> bool {
            match self.slot {
                Some(s) => s.load(Ordering::Acquire) == owner,
                None => large_holds(raw, owner),
            }
        }

        /// Clears the entry, whoever is recorded.
        #[inline]
        pub(super) fn reset(self, raw: RawFd) {
            match self.slot {
                Some(s) => s.store(0, Ordering::Release),
                None => large_reset(raw),
            }
        }

        /// Clears the entry if `owner` is the one recorded.
        #[inline]
        pub(super) fn clear(self, raw: RawFd, owner: u64) {
            match self.slot {
                Some(s) => {
                    let _ = s.compare_exchange(owner, 0, Ordering::AcqRel, Ordering::Relaxed);
                }
                None => large_clear(raw, owner),
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        // Numbers no test process opens (the array's last chunk and the
        // map), so these run beside the tests that make real fds.
        const ARRAY: RawFd = (CHUNK * CHUNKS) as RawFd - 10;
        const MAP: RawFd = i32::MAX - 10;

        #[test]
        fn set_claim_holds_clear_in_the_array_and_in_the_map() {
            for raw in [ARRAY, MAP] {
                let e = entry(raw);
                assert_eq!(e.slot.is_some(), raw == ARRAY);
                let (a, b) = (next(), next());
                assert_ne!(a, b);
                assert_ne!(a, 0);
                assert!(!e.holds(raw, a));
                assert!(e.claim(raw, a), "{raw}: an empty entry is claimed");
                assert!(entry(raw).holds(raw, a), "{raw}: the same entry found again");
                assert!(!e.claim(raw, b), "{raw}: a held entry is not");
                assert!(e.holds(raw, a));
                e.clear(raw, b);
                assert!(e.holds(raw, a), "{raw}: only the owner clears");
                e.set(raw, b);
                assert!(e.holds(raw, b), "{raw}: set overwrites");
                assert!(!e.holds(raw, a));
                e.clear(raw, a);
                assert!(e.holds(raw, b), "{raw}: a stale owner does not clear");
                e.clear(raw, b);
                assert!(!e.holds(raw, b));
                assert!(e.claim(raw, a), "{raw}: cleared, so free again");
                e.reset(raw);
                assert!(!e.holds(raw, a), "{raw}: reset clears whoever holds it");
                assert!(e.claim(raw, b), "{raw}: reset, so free again");
                e.clear(raw, b);
            }
        }

        #[test]
        fn the_array_ends_where_the_map_begins() {
            let last = (CHUNK * CHUNKS) as RawFd - 1;
            assert!(entry(last).slot.is_some());
            assert!(entry(last + 1).slot.is_none());
            assert!(entry(-1).slot.is_none());
            assert!(entry(i32::MIN).slot.is_none());
        }
    }
}

/// An owned fd that survives being closed behind its owner's back.
///
/// It records the fd's [`FdIdentity`] when it is created (one `fstat`), and
/// itself as the number's owner in a process-wide registry (`owners`, a
/// private module: one atomic store). Then:
/// - [`GuardedFd::confirm_lost`], called after a syscall on the fd failed
///   with `EBADF`, checks (one `fstat`) whether the fd really is gone; if so
///   it forgets the number without closing it and remembers that it was lost.
/// - [`GuardedFd::take`] / [`GuardedFd::close`] / `Drop` close the fd (or
///   hand it over) only if the registry still names this guard as the
///   number's owner and the identity check (one `fstat`) finds the recorded
///   file; otherwise they forget the number, which now belongs to someone
///   else. The registry is what tells one eventfd (or timerfd) from
///   another, which `fstat` cannot; `fstat` is what tells a number reopened
///   by something that is not a guard.
///
/// Nothing is checked on ordinary calls: a number closed *and reused* before
/// any call failed is used as it is, except at close. See [`FdIdentity`] for
/// what the identity cannot tell apart.
#[derive(Debug)]
pub struct GuardedFd {
    fd: Option<OwnedFd>,
    identity: Option<FdIdentity>,
    /// Whether the identity is the one every eventfd and timerfd shares.
    anon: bool,
    /// What fdinfo said of an anonymous-inode fd once its number reached
    /// other code ([`GuardedFd::mark_shared`]).
    mark: Option<AnonMark>,
    lost: Option<RawFd>,
    /// This guard's id in the `owners` registry.
    owner: u64,
    /// Where the registry keeps the owner of this guard's number.
    entry: owners::Entry,
}

/// What [`GuardedFd::take`] found.
#[derive(Debug)]
pub enum Taken {
    /// Still ours: the caller now owns (and will close) it.
    Ours(OwnedFd),
    /// Closed behind our back (now or earlier); the number was forgotten.
    Lost(RawFd),
    /// Already closed by its owner.
    Closed,
}

/// What `/proc` tells of an anonymous-inode fd beyond the inode they all
/// share: the kind, as the fd's link names it (`anon_inode:[eventfd]`,
/// `anon_inode:[timerfd]`, `anon_inode:[eventpoll]`, `anon_inode:inotify`,
/// …), and an eventfd's own number (`eventfd-id:` in fdinfo, printed by
/// recent kernels; 6.18 here). Compared at close for a number that other
/// code has seen, so that a number closed behind the owner's back and
/// reused by another anonymous-inode file (libuv's epoll or inotify fd, or
/// a new worker's loop's) is not closed: closing Node's epoll fd aborted
/// the process (s51-eventfd MED-2).
///
/// The link is read with `readlink`, which needs no fd of its own, so it
/// is there when the process is out of fd numbers; fdinfo (the id) needs
/// one. Without `/proc` the kind comes from `timerfd_gettime`, which takes
/// a timerfd's number and no other. Recorded as nothing for want of fds, a
/// missed mark let a later check take libuv's epoll fd for a timer's
/// (s52-timer F2); recorded from fdinfo's fields alone, a received epoll or
/// inotify fd could not be told from libuv's other kind (s52-diff H2), and a
/// received one marked out of fds as an eventfd was never closed (s52-diff
/// M1).
///
/// The link and the id cannot tell two anonymous-inode files of one kind
/// apart once the first is closed: the kernel hands a closed eventfd's id
/// to the next eventfd made (the lowest free one), and a new worker's libuv
/// eventfd on the number had the link and the id of the one JS closed
/// (s52-diff2 H1: the process aborted); two timerfds or epoll fds have no
/// id at all. So the mark also puts the number in the package's own epoll
/// set ([`mark_set`]), where the kernel keys it by the file *and* the
/// number, and drops it when the file is released: adding the number again
/// fails with `EEXIST` exactly while the same file is on it. The link and
/// id stay as the answer where the set cannot be used (no epoll fd left to
/// make it, `max_user_watches`, a file that cannot be polled).
#[derive(Debug, Clone, PartialEq, Eq)]
struct AnonMark {
    /// Whether the number is in [`mark_set`] with this file.
    in_set: bool,
    /// The fd's link, or `None` without `/proc`.
    link: Option<Box<str>>,
    /// Whether it is a timerfd (from the link, or `timerfd_gettime`).
    timerfd: bool,
    /// An eventfd's `eventfd-id`, where fdinfo could be read and prints it.
    id: Option<u64>,
}

impl AnonMark {
    /// The mark of `raw` now, to be recorded, as far as `/proc` (or, without
    /// it, `timerfd_gettime`) can tell.
    fn record(raw: RawFd) -> Self {
        let link = anon_link(raw);
        let timerfd = match &link {
            Some(l) => &**l == "anon_inode:[timerfd]",
            None => is_timerfd(raw),
        };
        let id = if link.as_deref().is_none_or(|l| l == "anon_inode:[eventfd]") {
            eventfd_id(raw)
        } else {
            None
        };
        // EEXIST: an earlier guard of this same file on this same number
        // put it there, and lost it without taking it out (the file is
        // still open elsewhere): the entry is this file's all the same.
        let in_set = matches!(set_ctl(libc::EPOLL_CTL_ADD, raw), Ok(()) | Err(Errno::EEXIST));
        Self {
            in_set,
            link,
            timerfd,
            id,
        }
    }

    /// Whether `raw` still shows this mark: the same link, the same
    /// `eventfd-id` if one was recorded and can be read now, and a timerfd
    /// still one where there is no link to compare. What cannot be read
    /// cannot tell, and counts as the same, as the identity alone did
    /// (docs/reliability.md, "Two owners of one fd number").
    fn holds(&self, raw: RawFd) -> bool {
        if self.in_set {
            match set_ctl(libc::EPOLL_CTL_ADD, raw) {
                Err(Errno::EEXIST) => return true,
                Ok(()) => {
                    // Another file on the number: not ours. Take the entry
                    // just made out again.
                    let _ = set_ctl(libc::EPOLL_CTL_DEL, raw);
                    return false;
                }
                Err(Errno::EBADF) => return false,
                // The set cannot answer (it is gone, or full): the link and id.
                Err(_) => {}
            }
        }
        let now = anon_link(raw);
        match (&self.link, &now) {
            (Some(was), Some(is)) if was != is => return false,
            (_, None) if self.timerfd && !is_timerfd(raw) => return false,
            _ => {}
        }
        match self.id {
            Some(id) => eventfd_id(raw).is_none_or(|now| now == id),
            None => true,
        }
    }
}

/// The package's own epoll set, never waited on, that holds the marked
/// numbers ([`AnonMark`]): `epoll_ctl(EPOLL_CTL_ADD)` of a number fails
/// with `EEXIST` only while the file it was added with is still on it (the
/// kernel keys an entry by file and number, and removes it when the file is
/// released). Each entry asks for no events, so nothing is ever reported;
/// its cost is a wait-queue entry on the file, woken by each write or read
/// of an eventfd (a lock and a test of the empty event mask). Made at the
/// first mark; a failure (out of fds) is not kept, and the next mark tries
/// again. `None` where it cannot be made.
fn mark_set() -> Option<RawFd> {
    static SET: std::sync::OnceLock<OwnedFd> = std::sync::OnceLock::new();
    if let Some(set) = SET.get() {
        return Some(set.as_raw_fd());
    }
    // SAFETY: epoll_create1 takes no pointer; it returns a new fd or -1.
    let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    // SAFETY: a new fd that nothing else owns; if another thread made the
    // set first, this one is dropped (closed) by get_or_init.
    let made = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    Some(SET.get_or_init(|| made).as_raw_fd())
}

/// `epoll_ctl(mark_set(), op, raw)` with no events: `ENOMEM` where there is
/// no set.
fn set_ctl(op: libc::c_int, raw: RawFd) -> std::result::Result<(), Errno> {
    let Some(set) = mark_set() else {
        return Err(Errno::ENOMEM);
    };
    let mut ev = libc::epoll_event { events: 0, u64: 0 };
    // SAFETY: `ev` is a valid epoll_event for the call (the kernel reads it
    // for ADD and ignores it for DEL); `set` is the package's own epoll fd,
    // and `raw` is only looked up, never changed.
    Errno::result(unsafe { libc::epoll_ctl(set, op, raw, &mut ev) }).map(drop)
}

/// What `/proc/thread-self/fd/<raw>` links to (`readlink`: no fd needed),
/// or `None` where it cannot be read.
fn anon_link(raw: RawFd) -> Option<Box<str>> {
    let link = std::fs::read_link(format!("/proc/thread-self/fd/{raw}")).ok()?;
    link.into_os_string()
        .into_string()
        .ok()
        .map(String::into_boxed_str)
}

/// An eventfd's `eventfd-id:` from fdinfo, where it can be read and the
/// kernel prints it.
fn eventfd_id(raw: RawFd) -> Option<u64> {
    let text = fdinfo_raw(raw).ok().flatten()?;
    text.lines()
        .find_map(|l| l.strip_prefix("eventfd-id:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Whether `raw` is a timerfd: `timerfd_gettime` answers for one and fails
/// with `EINVAL` on any other file (`EBADF` on a closed number). Needs no fd
/// and no `/proc`.
fn is_timerfd(raw: RawFd) -> bool {
    let mut now = std::mem::MaybeUninit::<libc::itimerspec>::uninit();
    // SAFETY: `now` is a writable itimerspec that outlives the call; the
    // kernel only writes it, and only on success. A number that is not a
    // timerfd, or not open, fails without touching any file.
    unsafe { libc::timerfd_gettime(raw, now.as_mut_ptr()) == 0 }
}

/// The identity every eventfd and timerfd shares, read with `fstat` once
/// per process; `None` on a kernel that gives each its own inode.
///
/// The sharing is checked once, against a second, fresh eventfd: sharing a
/// wrong identity would make every `close()` forget the fd instead of
/// closing it. A probe that could not be made (out of fds) or read decides
/// nothing and is not kept: the next call probes again (cached, its
/// failure made every later object pay its own `fstat`; s52-diff H1).
fn shared_anon_identity(fd: BorrowedFd<'_>) -> Option<FdIdentity> {
    static ANON: std::sync::OnceLock<Option<FdIdentity>> = std::sync::OnceLock::new();
    if let Some(known) = ANON.get() {
        return *known;
    }
    let first = FdIdentity::of(fd).ok()?;
    let probe = crate::eventfd::eventfd(0, crate::eventfd::EfdFlags::EFD_CLOEXEC).ok()?;
    let second = FdIdentity::of(probe.as_fd()).ok()?;
    *ANON.get_or_init(|| (second == first).then_some(first))
}

/// Filesystems whose `close` may wait on something outside this machine or
/// process (a server, a FUSE daemon): flushing dirty data on the last close
/// is a round trip that a dead or hostile server can hold for as long as it
/// likes. `f_type` values of statfs(2) (linux/magic.h and the filesystems'
/// own headers), each with its name there.
const REMOTE_FS: [(i64, &str); 13] = [
    (0x6573_5546, "FUSE_SUPER_MAGIC"),
    (0x6969, "NFS_SUPER_MAGIC"),
    (0x517b, "SMB_SUPER_MAGIC"),
    (0xff53_4d42, "CIFS_SUPER_MAGIC"),
    (0xfe53_4d42, "SMB2_SUPER_MAGIC"),
    (0x0102_1997, "V9FS_MAGIC"),
    (0x00c3_6400, "CEPH_SUPER_MAGIC"),
    (0x6b41_4653, "AFS_FS_MAGIC"),    // the kernel's AFS client
    (0x5346_414f, "AFS_SUPER_MAGIC"), // OpenAFS
    (0x7375_7245, "CODA_SUPER_MAGIC"),
    (0x0bd0_0bd0, "LUSTRE_SUPER_MAGIC"),
    (0x0116_1970, "GFS2_MAGIC"),
    (0x7461_636f, "OCFS2_SUPER_MAGIC"),
];

/// How long `close(fd)` may wait, if at all ([`close_may_block`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blocks {
    /// It returns at once.
    No,
    /// Only the close of the file's last reference may wait: a socket
    /// waits in its `release` (`SO_LINGER`), and sockets have no `flush`,
    /// the one file operation that runs on every close.
    Last,
    /// Any close may wait, not only the last: a device's or a remote
    /// file's `flush` (NFS writes back on each close, FUSE asks its daemon).
    Any,
}

fn close_blocks(fd: BorrowedFd<'_>) -> Blocks {
    let Ok(st) = nix::sys::stat::fstat(fd) else {
        return Blocks::No;
    };
    let any = |blocks: bool| if blocks { Blocks::Any } else { Blocks::No };
    match st.st_mode & libc::S_IFMT {
        // Any time but 0 (0 resets the connection at once): a negative one
        // is infinite to the kernel (MAX_SCHEDULE_TIMEOUT), and so is one
        // past it, which reads back negative (s42-diff MED).
        libc::S_IFSOCK => match nix::sys::socket::getsockopt(&fd, nix::sys::socket::sockopt::Linger) {
            Ok(l) if l.l_onoff != 0 && l.l_linger != 0 => Blocks::Last,
            _ => Blocks::No,
        },
        // A tty drains its output on its last close, and other devices
        // wait too. Not /dev/null, sent in many messages: closed off the
        // caller's thread, later than the caller's `close()`, it made
        // channel.spec's fd count come out one short (s41-port).
        // Decided by the device number, with no ioctl: `isatty`'s TCGETS on
        // a CUSE device waits for its userspace server, as its close does
        // (s41-diff3 MED); and a tape drive writes a filemark on close, an
        // OSS sound device drains. Only the memory devices (major 1:
        // /dev/null, zero, full, random, urandom) are closed here.
        libc::S_IFCHR => any(libc::major(st.st_rdev) != 1),
        // A block device (a network one, NBD or iSCSI, that hangs) writes
        // back its cache.
        libc::S_IFBLK => Blocks::Any,
        // `f_type` is an `i64` with glibc and a `u64` with musl; every magic
        // number is below 2^32, so either compares as an `i64`.
        #[allow(clippy::unnecessary_cast)]
        _ => any(nix::sys::statfs::fstatfs(fd).is_ok_and(|fs| {
            REMOTE_FS
                .iter()
                .any(|&(magic, _)| magic == fs.filesystem_type().0 as i64)
        })),
    }
}

/// Whether `close(fd)` may block for long if this is the last reference to
/// its file: a socket with `SO_LINGER` on (the close waits, up to the
/// linger time, for unsent data a peer may never read), a character device
/// other than a memory device such as /dev/null (a tty waits on its last
/// close for its output to drain, 30 s by default; a CUSE device for its
/// userspace server) or a block device (its cache is written back), or a file on a network
/// or FUSE filesystem (`REMOTE_FS`: the close flushes to a server that
/// may never answer). Not a file on an overlay over such a filesystem. One `fstat`, and a
/// `getsockopt` or an `fstatfs`. An fd that cannot be asked is taken not to
/// block (the close of a number that is not open does not).
pub fn close_may_block(fd: BorrowedFd<'_>) -> bool {
    close_blocks(fd) != Blocks::No
}

/// An fd closed when dropped, then `after` called with its number: what
/// [`close_received`] hands a pool thread.
struct Closing<F: FnOnce(RawFd)> {
    fd: Option<OwnedFd>,
    after: Option<F>,
}

impl<F: FnOnce(RawFd)> Drop for Closing<F> {
    fn drop(&mut self) {
        if let Some(fd) = self.fd.take() {
            let raw = fd.as_raw_fd();
            drop(fd);
            if let Some(after) = self.after.take() {
                after(raw);
            }
        }
    }
}

/// Closes an fd that a peer chose (one received in a message, and not
/// taken), then calls `after` with its number. If the close may block
/// ([`close_may_block`]: a peer can send a socket with `SO_LINGER` and a
/// send queue nobody reads, then close its own copy, so that our close is
/// the last and waits the linger time, up to `INT_MAX` seconds), it runs on
/// a thread of [`crate::pool`], so that the caller's thread, a Node event
/// loop, never waits on it (s41-chan MED-1); else here.
///
/// The kernel frees an fd's number at the start of `close`, before any
/// wait, so the number may be reused while a close on the pool still
/// waits. `after` (for a guard: clearing its registry entry) ran only once
/// that close returned, and an adoption of the reused number was refused
/// for the whole linger time (s41-diff L5). So a socket, which can wait
/// only in its last close, is copied first (`F_DUPFD_CLOEXEC`): the number
/// itself is closed here, where it cannot wait, `after` runs at once, and
/// the copy, a number nothing else knows, is what the pool closes. Other
/// fds that may block (a `flush` can wait on any close, not only the last)
/// are closed on the pool as they are, and `after` follows that close; so
/// is a socket whose copy cannot be made (no fd free).
///
/// If no pool thread can be started (the process is at its thread limit),
/// such a close waits in the queue, and the fd stays open, until a later
/// call finds a thread: any call, whether or not its own close may block.
/// It used to run on the caller's thread, which waited the linger time
/// (s49-limits M2: 5 s on the event loop).
pub fn close_received(fd: OwnedFd, after: impl FnOnce(RawFd) + Send + 'static) {
    let blocks = close_blocks(fd.as_fd());
    if blocks == Blocks::Last {
        if let Ok(copy) = dup_cloexec(fd.as_fd()) {
            // Any guard the registry names for the copy's number is stale
            // (the kernel hands out free numbers only): it must forget the
            // number, not close the copy under the pool (as `hand_out`).
            disown(copy.as_raw_fd());
            let raw = fd.as_raw_fd();
            drop(fd);
            after(raw);
            close_in_pool(Some(Box::new(Closing {
                fd: Some(copy),
                after: Some(|_| ()),
            })));
            return;
        }
    }
    let closing = Closing {
        fd: Some(fd),
        after: Some(after),
    };
    if blocks == Blocks::No {
        drop(closing);
        close_in_pool(None);
    } else {
        close_in_pool(Some(Box::new(closing)));
    }
}

/// How many pool threads close fds at once, at most. A close that may
/// block gets a thread of its own up to this many, so one that lingers
/// holds up no other: with a cap of 4, four sockets with a long linger made
/// a pty's close that came after them wait 6 s (s41-diff2 MED-B). Past the
/// cap, closes wait in `CLOSES` for a closer, so a peer cannot make a
/// thread per socket (s41-diff MED-2: 100 sockets, 100 threads) until
/// thread creation fails (then they wait in `CLOSES` too).
/// A peer that pins this many closers (as many lingering sockets whose
/// other ends it keeps unread) makes later blocking closes wait, never the
/// caller; their numbers stay allocated meanwhile, and a server out of fds
/// waits for them (`FdChannelServer`'s retry). Threads have 256 KiB stacks.
pub const CLOSERS: usize = 64;

/// Closes waiting for a closer, and how many closers run.
struct Closes {
    queue: std::collections::VecDeque<Box<dyn Send>>,
    running: usize,
}

static CLOSES: std::sync::Mutex<Closes> = std::sync::Mutex::new(Closes {
    queue: std::collections::VecDeque::new(),
    running: 0,
});

fn closes() -> std::sync::MutexGuard<'static, Closes> {
    // Nothing panics while holding it (pushes, pops and a counter).
    CLOSES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Queues `closing` (dropping it closes its fd), if any, and starts closers
/// on pool threads for the queue: one per queued close, up to `CLOSERS`
/// running (a closer takes queued closes, oldest first, until none is
/// left). So a close that lingers holds up no other, a backlog left by a
/// time with no thread included: one closer for it all made each close
/// wait for the linger of those before it (s49-diff MED). If no thread can
/// be started, the closes stay queued for the next call (`None`: only that
/// retry).
fn close_in_pool(closing: Option<Box<dyn Send>>) {
    let mut st = closes();
    if let Some(c) = closing {
        st.queue.push_back(c);
    }
    let wanted = st.queue.len().min(CLOSERS.saturating_sub(st.running));
    drop(st);
    for _ in 0..wanted {
        if !start_closer() {
            return;
        }
    }
}

/// Starts one closer on a pool thread; false if no thread could be started.
fn start_closer() -> bool {
    {
        let mut st = closes();
        if st.queue.is_empty() || st.running >= CLOSERS {
            return true;
        }
        st.running += 1;
    }
    let job = move |done: &mut dyn FnMut()| {
        loop {
            // Popped and counted out under one lock: a close queued in
            // between would otherwise wait for the next closer to come.
            let next = {
                let mut st = closes();
                match st.queue.pop_front() {
                    Some(next) => next,
                    None => {
                        st.running -= 1;
                        break;
                    }
                }
            };
            drop(next);
        }
        done();
    };
    if crate::pool::submit(job).is_err() {
        closes().running -= 1;
        return false;
    }
    true
}

impl GuardedFd {
    /// [`GuardedFd::close`] for an fd a peer chose: closed by
    /// [`close_received`], so on a pool thread if its close may block. The
    /// registry entry is cleared after the close of the number, as `close`
    /// does (for a socket at once: the pool closes a copy).
    pub fn close_received(&mut self) -> Option<RawFd> {
        let Some(fd) = self.fd.take() else {
            return self.lost;
        };
        let raw = fd.as_raw_fd();
        if !self.ours(raw) {
            return Some(self.lose(fd));
        }
        self.unmark(raw);
        let (entry, owner) = (self.entry, self.owner);
        close_received(fd, move |raw| entry.clear(raw, owner));
        None
    }

    fn with(fd: OwnedFd, owner: u64, entry: owners::Entry, anon: bool) -> Self {
        let identity = match anon {
            true => shared_anon_identity(fd.as_fd()).or_else(|| FdIdentity::of(fd.as_fd()).ok()),
            false => FdIdentity::of(fd.as_fd()).ok(),
        };
        Self {
            fd: Some(fd),
            identity,
            anon,
            mark: None,
            lost: None,
            owner,
            entry,
        }
    }

    fn fresh(fd: OwnedFd, anon: bool) -> Self {
        let owner = owners::next();
        let entry = owners::entry(fd.as_raw_fd());
        entry.set(fd.as_raw_fd(), owner);
        Self::with(fd, owner, entry, anon)
    }

    fn adopted(fd: OwnedFd, anon: bool) -> std::result::Result<Self, OwnedFd> {
        let owner = owners::next();
        let entry = owners::entry(fd.as_raw_fd());
        if !entry.claim(fd.as_raw_fd(), owner) {
            return Err(fd);
        }
        Ok(Self::with(fd, owner, entry, anon))
    }

    /// Takes ownership of `fd`, which the kernel has just made for this
    /// process (eventfd, memfd, timerfd, open, dup, received over
    /// `SCM_RIGHTS`, …), and records its identity. It becomes the number's
    /// owner in the registry: any guard recorded there before is stale (the
    /// kernel does not hand out a number that is still open) and will forget
    /// the number instead of closing it. For an fd that was already open
    /// (handed over by a caller), use [`GuardedFd::adopt`].
    ///
    /// If `fstat` fails (it practically cannot on an open fd), no identity
    /// is recorded and the close-time check relies on the registry alone.
    pub fn new(fd: OwnedFd) -> Self {
        Self::fresh(fd, false)
    }

    /// As [`GuardedFd::new`], for an eventfd or timerfd this process has just
    /// created: these all share the anonymous inode's identity, so it is read
    /// with `fstat` once per process and reused, saving one syscall per
    /// object. Only for fds known to be eventfds/timerfds.
    ///
    /// On a kernel that gives each such file its own inode, every object gets
    /// its own `fstat` instead.
    pub fn new_anon(fd: OwnedFd) -> Self {
        Self::fresh(fd, true)
    }

    /// As [`GuardedFd::new`], for an fd of any kind that a peer sent
    /// (`SCM_RIGHTS`). One on an anonymous inode (file type 0 in `st_mode`:
    /// an eventfd or timerfd, what a channel usually carries, or an epoll,
    /// inotify, signalfd, … fd) counts as one of [`GuardedFd::new_anon`],
    /// so that [`GuardedFd::mark_shared`] records its mark (`AnonMark`):
    /// its `fstat` identity alone could not tell it from libuv's epoll or
    /// inotify fd on the same number after a close behind the owner's back
    /// (s52-chan H1: `ReceivedFds.close()` closed libuv's inotify fd). No
    /// syscall beyond
    /// `new`'s `fstat`: the file type says it, where a probe eventfd for
    /// the shared inode's identity failed when the process was out of fds,
    /// and its failure, cached, turned this off for good (s52-diff H1).
    pub fn received(fd: OwnedFd) -> Self {
        let mut g = Self::fresh(fd, false);
        g.anon = g.identity.is_some_and(|id| id.file_type == 0);
        g
    }

    /// Takes ownership of `fd`, a number that was already open (a caller
    /// hands it over), if no live guard owns it: the number is claimed in the
    /// registry only if nobody is recorded there. Otherwise gives `fd` back
    /// untouched (nothing closed, nothing recorded): the number has an
    /// owner, and a second one would close it under the first, or close
    /// whatever reuses the number once the first closes it.
    ///
    /// Refused also for a number that was closed behind a live guard's back
    /// and reopened by something that is not a guard, until that guard
    /// closes (or finds the fd lost).
    pub fn adopt(fd: OwnedFd) -> std::result::Result<Self, OwnedFd> {
        Self::adopted(fd, false)
    }

    /// [`GuardedFd::adopt`] for an eventfd or timerfd (the shared identity
    /// of [`GuardedFd::new_anon`]).
    pub fn adopt_anon(fd: OwnedFd) -> std::result::Result<Self, OwnedFd> {
        Self::adopted(fd, true)
    }

    /// The fd while it is open and ours.
    #[inline]
    pub fn get(&self) -> Option<&OwnedFd> {
        self.fd.as_ref()
    }

    /// The fd number while it is open and ours.
    #[inline]
    pub fn raw(&self) -> Option<RawFd> {
        self.fd.as_ref().map(|f| f.as_raw_fd())
    }

    /// The number the fd had if it was found closed behind our back.
    pub fn lost(&self) -> Option<RawFd> {
        self.lost
    }

    /// The recorded identity, if `fstat` succeeded at creation.
    pub fn identity(&self) -> Option<FdIdentity> {
        self.identity
    }

    /// Whether `raw` is still ours: the registry names this guard, and the
    /// identity (one `fstat`, and fdinfo on an inode mismatch: `FdIdentity::check`) is still the recorded file.
    fn ours(&self, raw: RawFd) -> bool {
        self.entry.holds(raw, self.owner)
            && match &self.identity {
                Some(id) => id.check(raw) == Check::Same,
                None => true,
            }
            && self.mark.as_ref().is_none_or(|m| m.holds(raw))
    }

    /// For an eventfd or timerfd ([`GuardedFd::new_anon`],
    /// [`GuardedFd::adopt_anon`], or an anonymous-inode fd of
    /// [`GuardedFd::received`]) whose number other code now knows (JS
    /// read it): records its mark (`AnonMark`: the number in the package's
    /// epoll set, and its link and id), once, so that the checks at close
    /// tell it from another anonymous-inode file that reused the number
    /// after a close behind our back. An `epoll_ctl`, a `readlink` and an
    /// fdinfo read here, and one `epoll_ctl` at each later check; nothing
    /// for other fds, or once closed.
    pub fn mark_shared(&mut self) {
        if self.anon && self.mark.is_none() {
            if let Some(raw) = self.raw() {
                self.mark = Some(AnonMark::record(raw));
            }
        }
    }

    /// Takes a marked number out of [`mark_set`] before the fd, still ours,
    /// is closed or handed over: the entry would otherwise stay until the
    /// file is released everywhere. Never for a number found not ours: the
    /// entry there may be another guard's.
    fn unmark(&self, raw: RawFd) {
        if self.mark.as_ref().is_some_and(|m| m.in_set) {
            let _ = set_ctl(libc::EPOLL_CTL_DEL, raw);
        }
    }

    /// Forgets the number (never closing it) and remembers it was lost.
    fn lose(&mut self, fd: OwnedFd) -> RawFd {
        let raw = forget(fd);
        self.entry.clear(raw, self.owner);
        self.lost = Some(raw);
        raw
    }

    /// Call after a syscall on the fd failed with `EBADF` (or with an error
    /// such as `EINVAL` that a reused number of another kind gives). Returns
    /// `true` if the fd is gone (closed, or closed and reused, or now another
    /// guard's): it is then forgotten, never closed. Returns `false` if it is
    /// still ours and the same file (the `EBADF` meant something else, such as
    /// a write on a read-only fd).
    pub fn confirm_lost(&mut self) -> bool {
        let Some(raw) = self.raw() else {
            return self.lost.is_some();
        };
        if self.ours(raw) {
            return false;
        }
        if let Some(fd) = self.fd.take() {
            self.lose(fd);
        }
        true
    }

    /// Hands the fd over if it is still ours (after the registry and
    /// identity checks), and clears the registry entry, so that whoever
    /// gets it may adopt it; forgets it if it was closed behind our back.
    pub fn take(&mut self) -> Taken {
        let Some(fd) = self.fd.take() else {
            return match self.lost {
                Some(raw) => Taken::Lost(raw),
                None => Taken::Closed,
            };
        };
        let raw = fd.as_raw_fd();
        if self.ours(raw) {
            self.unmark(raw);
            self.entry.clear(raw, self.owner);
            return Taken::Ours(fd);
        }
        Taken::Lost(self.lose(fd))
    }

    /// Closes the fd if it is still ours; see [`GuardedFd::take`]. Returns
    /// the number if the fd was found closed behind our back (now or
    /// earlier), in which case nothing was closed.
    ///
    /// The registry entry is cleared after the `close`, not before: in
    /// between, a new guard that gets the number overwrites it (and this
    /// clear, finding another owner, leaves it), and an adoption of the
    /// number is refused rather than let through for a number being closed.
    pub fn close(&mut self) -> Option<RawFd> {
        let Some(fd) = self.fd.take() else {
            return self.lost;
        };
        let raw = fd.as_raw_fd();
        if self.ours(raw) {
            self.unmark(raw);
            drop(fd);
            self.entry.clear(raw, self.owner);
            return None;
        }
        Some(self.lose(fd))
    }
}

impl Drop for GuardedFd {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

#[cfg(test)]
mod remote_fs_tests {
    use super::REMOTE_FS;

    /// `#define NAME value` lines of a C header, if it can be read.
    fn defines(path: &str) -> Option<Vec<(String, i64)>> {
        let text = std::fs::read_to_string(path).ok()?;
        let parse = |v: &str| {
            let v = v.trim_start_matches("0x").trim_start_matches("0X");
            i64::from_str_radix(v, 16).ok()
        };
        let found = text.lines().filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next()? == "#define").then_some(())?;
            let name = w.next()?;
            Some((name.to_string(), parse(w.next()?)?))
        });
        Some(found.collect())
    }

    #[test]
    fn every_magic_is_the_one_its_header_gives_its_name() {
        // It opens the headers: not while a poll test counts fds.
        let _serial = crate::fd_test_serial();
        // The libc crate's constants, where it has them: always here
        // (`c_long` with glibc, `c_uint` with musl).
        #[allow(clippy::unnecessary_cast)]
        let from_libc: [(&str, i64); 6] = [
            ("AFS_SUPER_MAGIC", libc::AFS_SUPER_MAGIC as i64),
            ("CODA_SUPER_MAGIC", libc::CODA_SUPER_MAGIC as i64),
            ("FUSE_SUPER_MAGIC", libc::FUSE_SUPER_MAGIC as i64),
            ("NFS_SUPER_MAGIC", libc::NFS_SUPER_MAGIC as i64),
            ("OCFS2_SUPER_MAGIC", libc::OCFS2_SUPER_MAGIC as i64),
            ("SMB_SUPER_MAGIC", libc::SMB_SUPER_MAGIC as i64),
        ];
        let mut known: Vec<(String, i64)> = from_libc.iter().map(|&(n, v)| (n.to_string(), v)).collect();
        // The kernel's own headers (linux-libc-dev), where installed: they
        // name the rest (s41-diff L4: OpenAFS's magic was labelled as the
        // kernel AFS client's). Lustre is out of tree; its value is from
        // its lustre_user.h (LL_SUPER_MAGIC).
        let headers = ["/usr/include/linux/magic.h", "/usr/include/linux/gfs2_ondisk.h"];
        let read: Vec<_> = headers.iter().filter_map(|h| defines(h)).collect();
        read.into_iter().for_each(|d| known.extend(d));
        known.push(("LUSTRE_SUPER_MAGIC".into(), 0x0bd0_0bd0));
        let mut checked = 0;
        for &(magic, name) in REMOTE_FS.iter() {
            let values: Vec<i64> = known.iter().filter(|(n, _)| n == name).map(|&(_, v)| v).collect();
            assert!(
                values.iter().all(|&v| v == magic),
                "{name}: {magic:#x} here, {values:x?} in the headers"
            );
            checked += usize::from(!values.is_empty());
        }
        let names: std::collections::BTreeSet<_> = REMOTE_FS.iter().map(|&(_, n)| n).collect();
        assert_eq!(names.len(), REMOTE_FS.len(), "a name listed twice");
        if std::path::Path::new(headers[0]).exists() && std::path::Path::new(headers[1]).exists() {
            assert_eq!(checked, REMOTE_FS.len(), "every magic found in the headers");
        } else {
            assert!(checked >= 7, "the libc constants and Lustre's: {checked}");
        }
    }
}
