//! File descriptor hygiene: nothing the caller did not choose may cross an `execve`.
//!
//! `close_range(2)` with `CLOSE_RANGE_CLOEXEC` marks a whole range close-on-exec in one call
//! (Linux 5.11); without it, [`cloexec_from`] walks `/proc/self/fd`. Marking instead of closing
//! keeps the fds usable until the exec, which a runtime needs (its own sync pipes, the
//! seccomp listener, the console socket), while guaranteeing none of them leaks into the
//! user process.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use crate::Error;

/// Marks every descriptor numbered `first` or above close-on-exec.
///
/// Async-signal-safe when the kernel has `close_range(2)` (no allocation); the fallback for
/// older kernels reads `/proc/self/fd` and allocates, so call it before forking there.
///
/// ```
/// // Everything above stderr will be closed by the next exec.
/// iso_sys::fd::cloexec_from(3)?;
/// # Ok::<(), iso_sys::Error>(())
/// ```
pub fn cloexec_from(first: RawFd) -> Result<(), Error> {
    let first = u32::try_from(first).map_err(|_| Error::Unexpected {
        path: "/proc/self/fd".into(),
        reason: format!("negative fd bound {first}"),
    })?;
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only changes descriptor flags.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if ret == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if !matches!(err.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EINVAL)) {
        return Err(Error::io("close_range", "/proc/self/fd", err));
    }
    for fd in open_fds()? {
        if fd >= first as RawFd {
            // A descriptor that closed meanwhile (EBADF) is as good as close-on-exec.
            let _ = set_cloexec_raw(fd, true);
        }
    }
    Ok(())
}

/// Lists the descriptors open in the calling process, from `/proc/self/fd`.
///
/// ```
/// let fds = iso_sys::fd::open_fds()?;
/// assert!(fds.contains(&0) || fds.contains(&1) || fds.contains(&2) || !fds.is_empty());
/// # Ok::<(), iso_sys::Error>(())
/// ```
pub fn open_fds() -> Result<Vec<RawFd>, Error> {
    let dir = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| Error::io("read_dir", "/proc/self/fd", e))?;
    let mut fds: Vec<RawFd> = dir
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort_unstable();
    Ok(fds)
}

/// Sets or clears `FD_CLOEXEC` on one descriptor.
///
/// ```
/// use std::os::fd::AsFd;
/// let file = std::fs::File::open("/dev/null")?;
/// iso_sys::fd::set_cloexec(file.as_fd(), false)?; // let it survive exec
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn set_cloexec(fd: BorrowedFd<'_>, on: bool) -> Result<(), Error> {
    set_cloexec_raw(fd.as_raw_fd(), on).map_err(|e| {
        Error::io(
            "fcntl(F_SETFD)",
            format!("/proc/self/fd/{}", fd.as_raw_fd()),
            e,
        )
    })
}

fn set_cloexec_raw(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: F_GETFD/F_SETFD only read and change the descriptor's flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    let new = if on {
        flags | libc::FD_CLOEXEC
    } else {
        flags & !libc::FD_CLOEXEC
    };
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, new) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether `FD_CLOEXEC` is set on `fd`.
///
/// ```
/// use std::os::fd::AsFd;
/// let file = std::fs::File::open("/dev/null")?;
/// assert!(iso_sys::fd::is_cloexec(file.as_fd())?); // std opens close-on-exec
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn is_cloexec(fd: BorrowedFd<'_>) -> Result<bool, Error> {
    // SAFETY: F_GETFD only reads the descriptor's flags.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
    if flags < 0 {
        return Err(Error::io(
            "fcntl(F_GETFD)",
            format!("/proc/self/fd/{}", fd.as_raw_fd()),
            io::Error::last_os_error(),
        ));
    }
    Ok(flags & libc::FD_CLOEXEC != 0)
}
