//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::ffi::CString;
use std::path::Path;

/// Enters a fresh mount namespace whose mounts are all private, so nothing a test mounts can
/// propagate to the host. Only call inside `iso_testutil::in_child`.
pub fn fresh_mount_ns() {
    // SAFETY: unshare has no memory-safety preconditions.
    assert_eq!(
        unsafe { libc::unshare(libc::CLONE_NEWNS) },
        0,
        "unshare: {}",
        std::io::Error::last_os_error()
    );
    let slash = CString::new("/").unwrap();
    // SAFETY: every pointer is NULL or a valid C string.
    let r = unsafe {
        libc::mount(
            std::ptr::null(),
            slash.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    };
    assert_eq!(r, 0, "make / rprivate: {}", std::io::Error::last_os_error());
}

/// Mounts a tmpfs at `path` (a host path) with `mount(2)`.
pub fn mount_tmpfs(path: &Path) {
    mount_fs(path, "tmpfs")
}

/// Mounts a fresh instance of the in-memory filesystem `fstype` at `path` with `mount(2)`.
pub fn mount_fs(path: &Path, fstype: &str) {
    let target = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let tmpfs = CString::new(fstype).unwrap();
    // SAFETY: all pointers are valid C strings or NULL.
    let r = unsafe {
        libc::mount(
            tmpfs.as_ptr(),
            target.as_ptr(),
            tmpfs.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    assert_eq!(
        r,
        0,
        "mount tmpfs {path:?}: {}",
        std::io::Error::last_os_error()
    );
}

/// The errno of writing a new file at `path`, or 0 if it succeeded.
pub fn write_errno(path: &Path) -> i32 {
    match std::fs::write(path, b"x") {
        Ok(()) => 0,
        Err(e) => e.raw_os_error().unwrap_or(-1),
    }
}

/// The mountinfo lines of the calling process, as (mount point, optional fields).
pub fn mountinfo() -> Vec<(String, String)> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let sep = f.iter().position(|x| *x == "-").unwrap();
            (f[4].replace("\\040", " "), f[6..sep].join(" "))
        })
        .collect()
}

/// Whether `path` (a host path) is a mount point in the calling process' namespace.
pub fn is_mount_point(path: &Path) -> bool {
    let p = path.to_string_lossy();
    mountinfo().iter().any(|(mp, _)| mp == &p)
}
