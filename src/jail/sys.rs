//! The raw system calls of the jail sequence. Each takes prepared C strings or integers,
//! allocates nothing and returns the errno on failure, so it may run between `fork` and
//! `execve`.

use std::ffi::CStr;
use std::os::fd::RawFd;
use std::ptr;

/// The calling thread's errno.
pub(crate) fn errno() -> i32 {
    // SAFETY: __errno_location returns a valid pointer to this thread's errno.
    unsafe { *libc::__errno_location() }
}

fn check(rc: libc::c_long) -> Result<(), i32> {
    if rc < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

/// `mount(2)` with optional source, fstype and data.
pub(crate) fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> Result<(), i32> {
    let opt = |s: Option<&CStr>| s.map_or(ptr::null(), CStr::as_ptr);
    // SAFETY: every pointer is null or a NUL-terminated string that outlives the call.
    let rc = unsafe {
        libc::mount(
            opt(source),
            target.as_ptr(),
            opt(fstype),
            flags,
            opt(data).cast(),
        )
    };
    check(rc.into())
}

pub(crate) fn chdir(path: &CStr) -> Result<(), i32> {
    // SAFETY: path is NUL-terminated.
    check(unsafe { libc::chdir(path.as_ptr()) }.into())
}

pub(crate) fn chroot(path: &CStr) -> Result<(), i32> {
    // SAFETY: path is NUL-terminated.
    check(unsafe { libc::chroot(path.as_ptr()) }.into())
}

pub(crate) fn pivot_root(new_root: &CStr, put_old: &CStr) -> Result<(), i32> {
    // SAFETY: both paths are NUL-terminated; pivot_root has no libc wrapper.
    check(unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) })
}

pub(crate) fn umount_detach(target: &CStr) -> Result<(), i32> {
    // SAFETY: target is NUL-terminated.
    check(unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) }.into())
}

pub(crate) fn unshare(flags: i32) -> Result<(), i32> {
    // SAFETY: unshare only changes this process' namespace membership.
    check(unsafe { libc::unshare(flags) }.into())
}

pub(crate) fn setrlimit(
    resource: libc::__rlimit_resource_t,
    limit: &libc::rlimit,
) -> Result<(), i32> {
    // SAFETY: limit points at a valid rlimit.
    check(unsafe { libc::setrlimit(resource, limit) }.into())
}

/// Writes all of `data` to `fd`.
pub(crate) fn write_all(fd: RawFd, data: &[u8]) -> Result<(), i32> {
    let mut done = 0;
    while done < data.len() {
        // SAFETY: the pointer and length describe the unwritten tail of `data`.
        let n = unsafe { libc::write(fd, data[done..].as_ptr().cast(), data.len() - done) };
        if n < 0 {
            let e = errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(libc::EIO);
        }
        done += n as usize;
    }
    Ok(())
}

/// `close_range(first, last, flags)`; `flags` 0 closes, `CLOSE_RANGE_CLOEXEC` marks.
pub(crate) fn close_range(first: u32, last: u32, flags: u32) -> Result<(), i32> {
    // SAFETY: close_range only closes or flags descriptors of this process; the caller
    // chose the range so that no descriptor it still uses is closed.
    check(unsafe { libc::syscall(libc::SYS_close_range, first, last, flags) })
}

/// Clears `FD_CLOEXEC` on `fd` (so a kept fd crosses `execve`).
pub(crate) fn clear_cloexec(fd: RawFd) -> Result<(), i32> {
    // SAFETY: fcntl on an integer fd with integer arguments.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        return Err(errno());
    }
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) }.into())
}

pub(crate) fn sethostname(name: &[u8]) -> Result<(), i32> {
    // SAFETY: the pointer and length describe `name`, which outlives the call.
    check(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) }.into())
}
