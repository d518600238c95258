//! The few system calls of the jail sequence that no primitive crate covers: resource
//! limits, the working directory of a jail without a new root, and the report pipe. Each
//! takes prepared data, allocates nothing and returns the errno on failure, so it may run
//! between `fork` and `execve`.

use std::ffi::CStr;
use std::os::fd::RawFd;

/// The calling thread's errno.
fn errno() -> i32 {
    // SAFETY: __errno_location returns a valid pointer to this thread's errno.
    unsafe { *libc::__errno_location() }
}

fn check(rc: libc::c_int) -> Result<(), i32> {
    if rc < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

pub(crate) fn chdir(path: &CStr) -> Result<(), i32> {
    // SAFETY: path is NUL-terminated.
    check(unsafe { libc::chdir(path.as_ptr()) })
}

pub(crate) fn setrlimit(
    resource: libc::__rlimit_resource_t,
    limit: &libc::rlimit,
) -> Result<(), i32> {
    // SAFETY: limit points at a valid rlimit.
    check(unsafe { libc::setrlimit(resource, limit) })
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
