//! `fcntl::Staging`, the memory an `ioctl` argument copy is staged in: a
//! kernel write longer than the staged slice reaches the guard page and
//! fails with `EFAULT` (s52-fcntl HIGH-2). `read(2)` from a pipe stands in
//! for a driver that writes more than its argument holds. In a test binary
//! of its own: it checks that a dropped area is no longer mapped, which
//! another test's mapping at the same address would confuse.

use std::os::fd::AsRawFd;

use linux_fd_core::fcntl::{through_copy, Staged, Staging};
use linux_fd_core::Errno;

/// The permissions of the mapping of this process that holds `addr`, if any.
fn mapping_of(addr: usize) -> Option<String> {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .find_map(|line| {
            let mut fields = line.split_whitespace();
            let (start, end) = fields.next()?.split_once('-')?;
            let (start, end) = (
                usize::from_str_radix(start, 16).ok()?,
                usize::from_str_radix(end, 16).ok()?,
            );
            (start..end)
                .contains(&addr)
                .then(|| fields.next().unwrap().to_owned())
        })
}

/// Whether the page holding `addr` is mapped: `msync` fails with `ENOMEM`
/// on an unmapped range. No allocation, unlike reading `/proc/self/maps`,
/// whose buffer musl's malloc put at the address just unmapped (ci-52e: the
/// musl run saw `rw-p` there after the drop).
fn mapped(addr: usize) -> bool {
    let page = linux_fd_core::memfd::page_size() as usize;
    // SAFETY: msync only looks up the range's mappings (MS_ASYNC writes
    // nothing back for an anonymous one); an unmapped range is ENOMEM.
    unsafe { libc::msync((addr & !(page - 1)) as *mut libc::c_void, page, libc::MS_ASYNC) == 0 }
}

/// `read(fd, buf, len)`: the number of bytes read, or the errno.
fn read_into(fd: &impl AsRawFd, buf: &mut [u8], len: usize) -> Result<usize, Errno> {
    // SAFETY: the point of the test: `len` may exceed `buf`, whose end is
    // the start of a PROT_NONE page, so the kernel stops at that page
    // (EFAULT) and writes nothing but `buf`'s own bytes.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), len) };
    Errno::result(n).map(|n| n as usize)
}

fn a_kernel_write_past_the_staged_slice_is_efault_and_the_area_goes_with_drop() {
    let page = linux_fd_core::memfd::page_size() as usize;
    let mut st = Staging::new(1032).unwrap();
    assert!(
        st.capacity() >= 1032 && st.capacity().is_multiple_of(page),
        "{}",
        st.capacity()
    );
    assert!(st.tail(st.capacity() + 1).is_none());
    let whole = st.tail(st.capacity()).unwrap();
    let base = whole.as_ptr() as usize;
    let end = base + whole.len();
    assert_eq!(mapping_of(base).as_deref(), Some("rw-p"));
    assert_eq!(mapping_of(end - 1).as_deref(), Some("rw-p"));
    assert_eq!(
        mapping_of(end).as_deref(),
        Some("---p"),
        "a guard page right after the area"
    );

    let (r, w) = nix::unistd::pipe().unwrap();
    assert_eq!(nix::unistd::write(&w, &[0x42; 64]).unwrap(), 64);
    let tail = st.tail(16).unwrap();
    assert_eq!(
        tail.as_ptr() as usize + 16,
        end,
        "a tail ends where the guard page starts"
    );
    tail.fill(0xaa);
    // 64 bytes into 16: the kernel reaches the guard page and refuses.
    assert_eq!(read_into(&r, tail, 64), Err(Errno::EFAULT));
    // The bytes before the fault may have been written; nothing else was.
    assert!(tail.iter().all(|&b| b == 0x42 || b == 0xaa), "{tail:?}");
    // What fits is read as usual (the failed read consumed nothing).
    assert_eq!(read_into(&r, tail, 16), Ok(16));
    assert_eq!(*tail, [0x42; 16]);

    drop(st);
    let (area, guard) = (mapped(base), mapped(end));
    assert!(!area, "the area is unmapped on drop");
    assert!(!guard, "and its guard page");
}

/// A "driver" that writes `len` bytes at the staged pointer, whatever the
/// slice's length: `read(2)` of a pipe holding that many.
fn kernel_writes(len: usize) -> impl FnOnce(&mut [u8]) -> linux_fd_core::Result<i32> {
    move |buf| {
        let (r, w) = nix::unistd::pipe().unwrap();
        nix::unistd::write(&w, &vec![0x42; len]).unwrap();
        read_into(&r, buf, len)
            .map(|n| n as i32)
            .map_err(|e| linux_fd_core::Error::new(e, "read"))
    }
}

fn errno(r: linux_fd_core::Result<Staged>) -> Result<Staged, Errno> {
    r.map_err(|e| e.errno)
}

fn through_copy_catches_a_write_past_the_argument_and_each_thread_s_area_goes_with_it() {
    // Inside the copy: the guard bytes catch it, and the answer's bytes that
    // fit come back.
    let mut arg = [0u8; 8];
    assert_eq!(
        errno(through_copy(&mut arg, 0, true, kernel_writes(12))),
        Ok(Staged::Overflow)
    );
    assert_eq!(arg, [0x42; 8]);
    // Whatever it writes: one zero byte right after the argument (the
    // guard's first byte was a NUL, and that went unseen: s52-fcntl LOW-1).
    let mut arg = [1u8; 7];
    let r = through_copy(&mut arg, 0, true, |buf| {
        buf[7] = 0;
        Ok(0)
    });
    assert_eq!(errno(r), Ok(Staged::Overflow));
    let mut arg = [0u8; 8];
    // Inside the 1032 bytes, past the guard: still caught.
    assert_eq!(
        errno(through_copy(&mut arg, 0, true, kernel_writes(1032))),
        Ok(Staged::Overflow)
    );
    // Past the copy (a KVM_GET_SUPPORTED_CPUID's 3008 bytes into an 8-byte
    // header overwrote the stack copy's neighbours): the kernel stops at the
    // guard page.
    let mut arg = [0u8; 8];
    assert_eq!(
        errno(through_copy(&mut arg, 0, true, kernel_writes(3008))),
        Err(Errno::EFAULT)
    );
    assert_eq!(arg, [0u8; 8], "a failed call copies nothing back");
    // A copy the size of a request's encoded size reaches as far; the next
    // call starts from zeros again.
    let mut arg = [7u8; 4];
    assert_eq!(
        errno(through_copy(&mut arg, 0, true, kernel_writes(4))),
        Ok(Staged::Done(4))
    );
    assert_eq!(arg, [0x42; 4]);
    let mut arg = [0u8; 16];
    assert_eq!(
        errno(through_copy(&mut arg, 4000, false, kernel_writes(4000))),
        Ok(Staged::Overflow)
    );
    assert_eq!(
        errno(through_copy(&mut arg, 4000, false, kernel_writes(4001))),
        Err(Errno::EFAULT)
    );
    // The largest copy: with 4 KiB pages, the pipe's first three fit, the
    // fourth stops at the guard page, and read(2) returns the short count
    // (seen as written past the argument); with larger pages the first one
    // faults (EFAULT).
    let r = errno(through_copy(&mut arg, 0x3fff, false, kernel_writes(0x3fff + 1)));
    assert!(r == Ok(Staged::Overflow) || r == Err(Errno::EFAULT), "{r:?}");

    // Another thread's area is its own, and is unmapped when it ends.
    let mut main_end = 0;
    through_copy(&mut [0u8; 1], 0, true, |buf| {
        main_end = buf.as_ptr() as usize + buf.len();
        Ok(0)
    })
    .unwrap();
    let other_end = std::thread::spawn(|| {
        let mut end = 0;
        through_copy(&mut [0u8; 1], 0, true, |buf| {
            end = buf.as_ptr() as usize + buf.len();
            Ok(0)
        })
        .unwrap();
        assert_eq!(mapping_of(end - 1).as_deref(), Some("rw-p"));
        assert_eq!(mapping_of(end).as_deref(), Some("---p"), "the guard page");
        end
    })
    .join()
    .unwrap();
    // Asked before anything here allocates (see `mapped`).
    let (area, guard) = (mapped(other_end - 1), mapped(other_end));
    assert!(!area, "the ended thread's area is unmapped");
    assert!(!guard, "and its guard page");
    assert_ne!(main_end, other_end);
    assert_eq!(
        mapping_of(main_end).as_deref(),
        Some("---p"),
        "this thread's area stays"
    );
}

/// One test, so that no other test's mapping lands at an address these
/// check to be unmapped.
#[test]
fn staging() {
    a_kernel_write_past_the_staged_slice_is_efault_and_the_area_goes_with_drop();
    through_copy_catches_a_write_past_the_argument_and_each_thread_s_area_goes_with_it();
}
