//! File descriptor hygiene: nothing the caller did not choose may cross an `execve`.
//!
//! `close_range(2)` with `CLOSE_RANGE_CLOEXEC` marks a whole range close-on-exec in one call
//! (Linux 5.11); without it, [`cloexec_from`] walks `/proc/self/fd`. Marking instead of closing
//! keeps the fds usable until the exec, which a runtime needs (its own sync pipes, the
//! seccomp listener, the console socket), while guaranteeing none of them leaks into the
//! user process.

use std::io::{self, Read};
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
    let err = match close_range(first, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) {
        Ok(()) => return Ok(()),
        Err(err) => err,
    };
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

/// `close_range(2)`: closes descriptors `first..=last`, or with `CLOSE_RANGE_CLOEXEC` in
/// `flags` marks them close-on-exec. Allocation-free.
fn close_range(first: u32, last: u32, flags: libc::c_uint) -> io::Result<()> {
    // SAFETY: close_range only closes or flags descriptors of this process; every caller
    // chose the range so that no descriptor it still uses is closed.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, last, flags) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The descriptors above stderr that a process keeps when it sweeps the rest away, prepared
/// before a `fork` so that the child can sweep without allocating.
///
/// A worker or a program about to `execve` should hold nothing it was not given on purpose:
/// a leaked directory descriptor of the host is a way out of a chroot, a leaked socket a
/// way into another service (CVE-2024-21626 was a leaked fd). The sweep is `close_range(2)`
/// over the gaps between the kept descriptors (Linux 5.9; `CLOSE_RANGE_CLOEXEC` 5.11).
///
/// ```
/// use iso_sys::fd::KeepFds;
/// let keep = KeepFds::new([5, 3, 5, 1])?; // 0-2 are always kept
/// assert_eq!(keep.fds(), &[3, 5]);
/// // In a child between fork and execve: everything else is closed by the exec.
/// // keep.cloexec_others()?;
/// # Ok::<(), iso_sys::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeepFds(Vec<RawFd>);

impl KeepFds {
    /// Keeps `fds` (and stdin, stdout, stderr); fails on a negative number.
    ///
    /// ```
    /// assert!(iso_sys::fd::KeepFds::new([-1]).is_err());
    /// ```
    pub fn new(fds: impl IntoIterator<Item = RawFd>) -> Result<KeepFds, Error> {
        let mut kept = Vec::new();
        for fd in fds {
            if fd < 0 {
                return Err(Error::Unexpected {
                    path: "/proc/self/fd".into(),
                    reason: format!("negative descriptor {fd} to keep"),
                });
            }
            if fd > 2 {
                kept.push(fd);
            }
        }
        kept.sort_unstable();
        kept.dedup();
        Ok(KeepFds(kept))
    }

    /// The kept descriptors above stderr, in ascending order.
    ///
    /// ```
    /// assert!(iso_sys::fd::KeepFds::default().fds().is_empty());
    /// ```
    pub fn fds(&self) -> &[RawFd] {
        &self.0
    }

    /// Before an `execve`: marks every descriptor from 3 up that is not kept close-on-exec,
    /// and clears close-on-exec on the kept ones so that they cross the exec with their
    /// numbers. Marking rather than closing leaves the caller's own descriptors (a report
    /// pipe) usable until the exec closes them all at once. Allocation-free and
    /// async-signal-safe; a kept descriptor that is not open fails with `EBADF`.
    ///
    /// ```
    /// use std::os::fd::AsRawFd;
    /// # iso_testutil::in_child(|| {
    /// let file = std::fs::File::open("/dev/null").map_err(|e| e.to_string())?;
    /// let keep = iso_sys::fd::KeepFds::new([file.as_raw_fd()]).map_err(|e| e.to_string())?;
    /// keep.cloexec_others().map_err(|e| e.to_string())?;
    /// let cloexec = iso_sys::fd::is_cloexec(std::os::fd::AsFd::as_fd(&file));
    /// assert!(!cloexec.map_err(|e| e.to_string())?);
    /// # Ok(()) });
    /// ```
    pub fn cloexec_others(&self) -> io::Result<()> {
        self.sweep(libc::CLOSE_RANGE_CLOEXEC)?;
        for &fd in &self.0 {
            set_cloexec_raw(fd, false)?;
        }
        Ok(())
    }

    /// For a process that keeps running: closes every descriptor from 3 up that is not
    /// kept. Allocation-free and async-signal-safe.
    ///
    /// Rust owners (`File`, `OwnedFd`) of the closed descriptors must be forgotten, not
    /// dropped: dropping an owner of a descriptor closed behind its back aborts in debug
    /// builds.
    ///
    /// ```no_run
    /// // A pre-forked worker that keeps only its listening socket, fd 3.
    /// iso_sys::fd::KeepFds::new([3])?.close_others()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close_others(&self) -> io::Result<()> {
        self.sweep(0)
    }

    fn sweep(&self, flags: libc::c_uint) -> io::Result<()> {
        let mut low: u32 = 3;
        for &fd in &self.0 {
            let fd = fd as u32; // new() kept only fds above 2
            if fd > low {
                close_range(low, fd - 1, flags)?;
            }
            low = fd.saturating_add(1);
        }
        close_range(low, u32::MAX, flags)
    }
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

/// Reads everything `file` holds, starting with a page-sized buffer, without asking for its
/// size first: `std::fs::read` spends a `statx` and an `lseek` on a size hint that procfs
/// and cgroup files do not have (they report 0 or 4096), and that small records do not need.
///
/// ```
/// let text = iso_sys::fd::read_unsized(std::fs::File::open("/proc/self/stat")?)?;
/// assert!(text.ends_with(b"\n"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn read_unsized(file: impl Read) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(4096);
    // Behind `Take` the reader's type is hidden, so std's generic loop runs: it reads into
    // the spare capacity without zeroing it first, and asks for no size.
    file.take(u64::MAX).read_to_end(&mut out)?;
    Ok(out)
}

/// [`read_unsized`] for a file whose content comes in one piece: a regular file, or a
/// pseudo-file the kernel produces whole at each read (`/proc/PID/stat`, a cgroup's
/// `freezer.state` or `cgroup.events`). A read shorter than the page-sized buffer is then
/// the end, and the `read` that would return 0 is saved (three of the thirteen system calls
/// `list` made per container). Not for files the kernel hands out record by record
/// (`mountinfo`, `cgroup.procs`), where a short read is not the end.
///
/// ```
/// let text = iso_sys::fd::read_whole(std::fs::File::open("/proc/self/stat")?)?;
/// assert!(text.ends_with(b"\n"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn read_whole(mut file: impl Read) -> io::Result<Vec<u8>> {
    let mut out = vec![0; 4096];
    let n = loop {
        match file.read(&mut out) {
            Ok(n) => break n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    };
    out.truncate(n);
    if n == 4096 {
        file.take(u64::MAX).read_to_end(&mut out)?;
    }
    Ok(out)
}

#[cfg(test)]
mod read_tests {
    use super::*;

    #[test]
    fn read_whole_reads_small_and_large_files_whole() {
        let dir = std::env::temp_dir().join(format!("iso-sys-read-whole-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for len in [0, 10, 4095, 4096, 4097, 20_000] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let path = dir.join(format!("f{len}"));
            std::fs::write(&path, &data).unwrap();
            let read = read_whole(std::fs::File::open(&path).unwrap()).unwrap();
            assert_eq!(read, data, "{len} bytes");
        }
        std::fs::remove_dir_all(&dir).unwrap();
        let stat = read_whole(std::fs::File::open("/proc/self/stat").unwrap()).unwrap();
        assert!(stat.ends_with(b"\n") && stat.contains(&b')'), "{stat:?}");
    }
}
