//! `fcntl::Staging`, the memory an `ioctl` argument copy is staged in: a
//! kernel write longer than the staged slice reaches the guard page and
//! fails with `EFAULT` (s52-fcntl HIGH-2). `read(2)` from a pipe stands in
//! for a driver that writes more than its argument holds. In a test binary
//! of its own: it checks that a dropped area is no longer mapped, which
//! another test's mapping at the same address would confuse.

use std::os::fd::AsRawFd;

use linux_fd_core::fcntl::Staging;
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

/// `read(fd, buf, len)`: the number of bytes read, or the errno.
fn read_into(fd: &impl AsRawFd, buf: &mut [u8], len: usize) -> Result<usize, Errno> {
    // SAFETY: the point of the test: `len` may exceed `buf`, whose end is
    // the start of a PROT_NONE page, so the kernel stops at that page
    // (EFAULT) and writes nothing but `buf`'s own bytes.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), len) };
    Errno::result(n).map(|n| n as usize)
}

#[test]
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
    assert_eq!(mapping_of(base), None, "the area is unmapped on drop");
    assert_eq!(mapping_of(end), None, "and its guard page");
}
