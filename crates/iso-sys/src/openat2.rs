use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

bitflags::bitflags! {
    /// The `RESOLVE_*` rules of `openat2(2)`: constraints the kernel enforces on every
    /// component while it walks a path.
    ///
    /// ```
    /// use iso_sys::Resolve;
    /// let strict = Resolve::NO_SYMLINKS | Resolve::NO_XDEV;
    /// assert!(strict.contains(Resolve::NO_XDEV));
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct Resolve: u64 {
        /// Fail if resolution would cross a mount point (bind mounts included).
        const NO_XDEV = libc::RESOLVE_NO_XDEV;
        /// Fail on "magic links" such as `/proc/PID/fd/N` and `/proc/PID/exe`.
        const NO_MAGICLINKS = libc::RESOLVE_NO_MAGICLINKS;
        /// Fail on any symbolic link (implies `NO_MAGICLINKS`).
        const NO_SYMLINKS = libc::RESOLVE_NO_SYMLINKS;
        /// Fail if resolution would leave the directory `dirfd`.
        const BENEATH = libc::RESOLVE_BENEATH;
        /// Treat `dirfd` as the root: `..` and absolute symlinks stay inside it.
        const IN_ROOT = libc::RESOLVE_IN_ROOT;
    }
}

/// Opens `path` relative to `dir` with `openat2(2)`, enforcing the `resolve` rules.
///
/// `flags` are `O_*` open flags; `O_CLOEXEC` is always added. Returns the raw kernel error
/// (`ENOSYS` on kernels before 5.6, `EXDEV`/`ELOOP` when a rule is violated, `EAGAIN` when
/// a concurrent rename forced a retry), so callers can fall back or retry.
///
/// ```no_run
/// use std::fs::File;
/// use std::os::fd::AsFd;
/// use iso_sys::{openat2, Resolve};
///
/// let root = File::open("/srv/jail")?;
/// // `etc/passwd` is resolved as if `/srv/jail` were `/`, whatever symlinks it holds.
/// let fd = openat2(root.as_fd(), "etc/passwd", libc::O_RDONLY, 0, Resolve::IN_ROOT)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn openat2(
    dir: BorrowedFd<'_>,
    path: impl AsRef<Path>,
    flags: i32,
    mode: u32,
    resolve: Resolve,
) -> io::Result<OwnedFd> {
    let cpath = CString::new(path.as_ref().as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    openat2_cstr(dir, &cpath, flags, mode, resolve)
}

/// [`openat2`] with a path that is already a C string: allocates nothing, so a child may
/// call it between `fork` and `execve` with a path prepared before the fork.
///
/// ```
/// use std::os::fd::AsFd;
/// use iso_sys::{openat2_cstr, Resolve};
///
/// let root = std::fs::File::open("/")?;
/// let fd = openat2_cstr(root.as_fd(), c"proc", libc::O_PATH, 0, Resolve::NO_SYMLINKS)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn openat2_cstr(
    dir: BorrowedFd<'_>,
    cpath: &CStr,
    flags: i32,
    mode: u32,
    resolve: Resolve,
) -> io::Result<OwnedFd> {
    // SAFETY: open_how is a plain C struct; all-zero is a valid value for every field.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.mode = if flags & (libc::O_CREAT | libc::O_TMPFILE) != 0 {
        u64::from(mode)
    } else {
        0
    };
    how.resolve = resolve.bits();
    // SAFETY: cpath is a valid NUL-terminated string and `how` a valid open_how that lives
    // across the call; the size passed is its exact size.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            cpath.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as i32) })
}
