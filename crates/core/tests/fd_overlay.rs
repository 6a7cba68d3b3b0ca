//! `FdIdentity::check` on overlayfs. Once overlayfs copies up a file that has
//! a hard link in its lower layer (no index: the default), `fstat` of an fd
//! opened before reports the upper file's inode; compared by `fstat` alone,
//! the fd read as closed behind its guard's back, and a lock's release
//! forgot it without unlocking (s50-diff). The overlay is mounted in a
//! private mount namespace: the test runs itself again under `unshare -m`,
//! and is skipped (with a message) where that cannot be done: not root, no
//! `unshare`, no overlayfs.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;

use linux_fd_core::fd::{Check, FdIdentity};

const CHILD: &str = "LINUX_FD_OVERLAY_CHILD";
const NAME: &str = "an_inode_changed_by_a_copy_up_is_the_same_file";

#[test]
fn an_inode_changed_by_a_copy_up_is_the_same_file() {
    if let Ok(dir) = std::env::var(CHILD) {
        return in_namespace(std::path::Path::new(&dir));
    }
    let dir = std::env::temp_dir().join(format!("linux-fd-overlay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new("timeout")
        .args(["120", "unshare", "-m", "--propagation", "private"])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD, &dir)
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let out = match out {
        Ok(out) => out,
        Err(e) => return eprintln!("skipped: no timeout(1) here ({e})"),
    };
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    let marked = stdout.contains("checked:") || stdout.contains("skipped:");
    // Skipped only where unshare itself refused (not root, no mount
    // namespaces): its own message, and no child output. Anything else
    // unsuccessful (a panic, a signal, a sanitizer's report, the timeout)
    // fails, and so does a child that ran no test.
    if !out.status.success() && !marked && stderr.starts_with("unshare:") {
        return eprintln!("skipped: no private mount namespace here: {stderr}");
    }
    assert!(
        out.status.success() && marked,
        "{:?}\n{stdout}{stderr}",
        out.status
    );
    eprintln!("{stdout}");
}

/// In the private mount namespace: mounts the overlay, copies a file up
/// under an open fd, and checks what the guard's check answers.
fn in_namespace(dir: &std::path::Path) {
    // A tmpfs of its own: overlayfs refuses an upper layer on overlayfs
    // (a container's /tmp often is).
    let tmpfs = Command::new("mount")
        .args(["-t", "tmpfs", "none"])
        .arg(dir)
        .status();
    if !tmpfs.is_ok_and(|s| s.success()) {
        return println!("skipped: no tmpfs mount here");
    }
    for d in ["lower", "upper", "work", "merged"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::write(dir.join("lower/f"), "x").unwrap();
    std::fs::hard_link(dir.join("lower/f"), dir.join("lower/f2")).unwrap();
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        dir.join("lower").display(),
        dir.join("upper").display(),
        dir.join("work").display()
    );
    let merged = dir.join("merged");
    let mounted = Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o", &opts])
        .arg(&merged)
        .status();
    if !mounted.is_ok_and(|s| s.success()) {
        return println!("skipped: no overlayfs mount here");
    }
    let f = merged.join("f");
    let fd: OwnedFd = std::fs::File::open(&f).unwrap().into();
    let id = FdIdentity::of(fd.as_fd()).unwrap();
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).unwrap();
    if !info.lines().any(|l| l.starts_with("ino:")) {
        return println!("skipped: fdinfo has no ino: line (Linux before 5.14)");
    }
    assert!(Command::new("touch").arg(&f).status().unwrap().success());
    if FdIdentity::of(fd.as_fd()).unwrap() == id {
        return println!("skipped: this overlayfs keeps the inode number across a copy-up");
    }
    assert_eq!(id.check(fd.as_raw_fd()), Check::Same, "copied up, still the file");
    // A number reused by another file of the same overlay is still another
    // file: the `ino:` of /proc/self/fdinfo is that file's.
    std::fs::write(merged.join("g"), "y").unwrap();
    let other: OwnedFd = std::fs::File::open(merged.join("g")).unwrap().into();
    let raw = fd.as_raw_fd();
    // SAFETY: dup2 replaces the file at raw (this test's own fd, given up
    // just below) with a copy of other.
    assert_eq!(unsafe { libc::dup2(other.as_raw_fd(), raw) }, raw);
    std::mem::forget(fd);
    // SAFETY: raw is now a copy of other that only this test owns.
    let reused = unsafe { OwnedFd::from_raw_fd(raw) };
    assert_eq!(id.check(reused.as_raw_fd()), Check::Different);
    println!("checked: a copy-up is the same file, a reuse by another is not");
}
