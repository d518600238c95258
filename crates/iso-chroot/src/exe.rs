//! Running the current program from a copy of itself that nothing can write
//! (runc's CVE-2019-5736).
//!
//! A runtime's own process enters the container: the init it clones, the child that `exec`
//! sends in, and any program the kernel starts through `/proc/self/exe` (a script in the
//! container whose first line is `#!/proc/self/exe` makes the kernel run the *runtime's*
//! binary inside the container). A process in the container can open `/proc/<pid>/exe` of
//! each of them, keep the descriptor, and write through it once the runtime has exited:
//! the host's runtime binary is then the attacker's, and the next container start runs it
//! as root on the host.
//!
//! The defence is to make the file behind `/proc/self/exe` one that cannot be opened for
//! writing, before any runtime process becomes visible in a container.
//! [`ensure_sealed`] re-executes the program, once, from one of:
//!
//! 1. **a read-only overlayfs of its own directory** (the default). The overlay has no upper
//!    layer, so the superblock itself is read-only: unlike a read-only bind mount, no
//!    `mount_setattr` or remount by a process with `CAP_SYS_ADMIN` can make it writable.
//!    The mount is detached (`fsmount` without `move_mount`): it is in no mount namespace,
//!    costs no propagation, and disappears with the last process running from it. Nothing
//!    is copied, so it costs about a tenth of a millisecond and no memory.
//! 2. **a sealed memfd copy** (when overlayfs cannot be used: no `fsopen`, no privilege,
//!    a binary whose file was deleted): the whole file is copied into memory and sealed
//!    against writes, growth and shrinking.
//!
//! A program already run from a read-only mount (a read-only `/usr`, say) or from a sealed
//! memfd is not re-executed. [`is_sealed`] tells which case the caller is in.
//!
//! ```no_run
//! // First thing in main: before any thread exists and before anything enters a container.
//! if let Err(e) = iso_chroot::exe::ensure_sealed() {
//!     eprintln!("cannot protect the runtime binary: {e}");
//!     std::process::exit(1);
//! }
//! // ... the rest of the program runs from the read-only copy.
//! ```

use std::convert::Infallible;
use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::{sys, Error};

const SELF_EXE: &str = "/proc/self/exe";

/// How the running program's binary is protected, as [`is_sealed`] finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sealing {
    /// The binary is on a read-only mount (the overlay [`ensure_sealed`] makes, or a
    /// read-only filesystem of the host's): it cannot be opened for writing.
    ReadOnlyMount,
    /// The binary is a memfd sealed against writing.
    SealedMemfd,
}

/// Whether `/proc/self/exe` is a file that cannot be opened for writing, and how.
/// `Ok(None)`: it can be (the program runs from an ordinary writable file).
pub fn is_sealed() -> Result<Option<Sealing>, Error> {
    let exe = std::fs::File::open(SELF_EXE).map_err(|e| Error::sys("open", SELF_EXE, e))?;
    sealing_of(exe.as_fd()).map_err(|e| Error::sys("fstatfs", SELF_EXE, e))
}

/// The protection of the file `fd` refers to (any kind of descriptor, `O_PATH` too).
fn sealing_of(fd: BorrowedFd<'_>) -> io::Result<Option<Sealing>> {
    // SAFETY: statvfs is plain data; an all-zero value is valid before the call fills it.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: fd is valid and st is a writable statvfs.
    if unsafe { libc::fstatvfs(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if st.f_flag & libc::ST_RDONLY != 0 {
        return Ok(Some(Sealing::ReadOnlyMount));
    }
    // SAFETY: F_GET_SEALS takes no argument; it fails with EINVAL on files that are not memfds.
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    if seals >= 0 && seals & libc::F_SEAL_WRITE != 0 {
        return Ok(Some(Sealing::SealedMemfd));
    }
    Ok(None)
}

/// Makes sure the running program's `/proc/self/exe` cannot be opened for writing: returns
/// how when it already is, and otherwise re-executes the program (same arguments and
/// environment) from a read-only overlay of its directory, or from a sealed memfd copy when
/// overlayfs cannot be used; the re-executed program then finds itself sealed and carries
/// on. Call it at the top of `main`, while the process has one thread.
///
/// Errors when neither way works (no `/proc`, memfds refused), so that a caller can refuse
/// to run containers rather than run them unprotected.
pub fn ensure_sealed() -> Result<Sealing, Error> {
    if let Some(how) = is_sealed()? {
        return Ok(how);
    }
    let argv = c_strings(std::env::args_os());
    let envp = c_strings(std::env::vars_os().map(|(k, v)| {
        let mut kv = k;
        kv.push("=");
        kv.push(v);
        kv
    }));
    match reexec_sealed(&argv, &envp)? {}
}

fn c_strings(items: impl Iterator<Item = OsString>) -> Vec<CString> {
    // Arguments and environment strings came from the kernel NUL-terminated: none holds a NUL.
    items
        .filter_map(|s| CString::new(s.into_vec()).ok())
        .collect()
}

/// Re-executes the running program from a read-only overlay of its directory, else from a
/// sealed memfd copy, with `argv` and `envp`. Returns only on failure.
pub fn reexec_sealed(argv: &[CString], envp: &[CString]) -> Result<Infallible, Error> {
    let exe = match overlay_copy() {
        Ok(fd) => fd,
        Err(_) => memfd_copy()?,
    };
    if sealing_of(exe.as_fd())
        .map_err(|e| Error::sys("fstatfs", "sealed copy", e))?
        .is_none()
    {
        // Never exec something that would re-execute itself again.
        return Err(Error::refused(
            SELF_EXE,
            "the sealed copy of the binary is writable",
        ));
    }
    Err(Error::sys(
        "execveat",
        "sealed copy of /proc/self/exe",
        execveat(&exe, argv, envp),
    ))
}

/// An `O_PATH` descriptor of the running binary inside a new, detached, read-only overlayfs
/// whose lower layers are the binary's directory and an empty tmpfs (an overlay without an
/// upper layer needs two lower layers).
fn overlay_copy() -> io::Result<OwnedFd> {
    let target = std::fs::read_link(SELF_EXE)?;
    let (dir, name) = match (target.parent(), target.file_name()) {
        (Some(dir), Some(name)) if !target.as_os_str().as_bytes().ends_with(b" (deleted)") => {
            (dir, name)
        }
        _ => return Err(io::Error::from_raw_os_error(libc::ENOENT)),
    };
    let empty = detached_mount(c"tmpfs", &[])?;
    let mut lower = overlay_escape(dir.as_os_str());
    lower.extend_from_slice(format!(":/proc/self/fd/{}", empty.as_raw_fd()).as_bytes());
    let lower = CString::new(lower).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let overlay = detached_mount(c"overlay", &[(c"lowerdir", &lower)])?;
    drop(empty);
    let fd = sys::openat(overlay.as_fd(), name, libc::O_PATH | libc::O_NOFOLLOW, 0)?;
    let st = sys::fstat(fd.as_fd())?;
    if sys::file_type(&st) != libc::S_IFREG {
        return Err(io::Error::from_raw_os_error(libc::ENOEXEC));
    }
    Ok(fd)
}

/// A new filesystem of `fstype` with string `options`, mounted read-only, nosuid and nodev
/// but attached nowhere.
fn detached_mount(
    fstype: &std::ffi::CStr,
    options: &[(&std::ffi::CStr, &std::ffi::CStr)],
) -> io::Result<OwnedFd> {
    let fs = sys::fsopen(fstype)?;
    for (key, value) in options {
        sys::fsconfig(
            fs.as_fd(),
            libc::FSCONFIG_SET_STRING,
            Some(key),
            Some(value),
        )?;
    }
    sys::fsconfig(fs.as_fd(), libc::FSCONFIG_CMD_CREATE, None, None)?;
    sys::fsmount(
        fs.as_fd(),
        libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV,
    )
}

/// `path` as one overlayfs layer: `:` separates layers and `\` escapes.
fn overlay_escape(path: &OsStr) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len());
    for &b in path.as_bytes() {
        if b == b':' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

/// A memfd holding a copy of the running binary, sealed against every change.
fn memfd_copy() -> Result<OwnedFd, Error> {
    let src = std::fs::File::open(SELF_EXE).map_err(|e| Error::sys("open", SELF_EXE, e))?;
    let memfd = memfd_create().map_err(|e| Error::sys("memfd_create", "iso-sealed-exe", e))?;
    let mut dst = std::fs::File::from(memfd);
    std::io::copy(&mut &src, &mut dst).map_err(|e| Error::sys("copy", SELF_EXE, e))?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: F_ADD_SEALS with an integer argument on a memfd we own.
    if unsafe { libc::fcntl(dst.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        return Err(Error::sys(
            "F_ADD_SEALS",
            "iso-sealed-exe",
            io::Error::last_os_error(),
        ));
    }
    Ok(OwnedFd::from(dst))
}

/// An executable, sealable, close-on-exec memfd. `MFD_EXEC` is asked for explicitly (a host
/// with `vm.memfd_noexec = 1` otherwise makes it non-executable) and left out on kernels
/// before 6.3, which do not know it.
fn memfd_create() -> io::Result<OwnedFd> {
    let base = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    for flags in [base | libc::MFD_EXEC, base] {
        // SAFETY: a NUL-terminated name and integer flags; the result is checked.
        let fd = unsafe { libc::memfd_create(c"iso-sealed-exe".as_ptr(), flags) };
        if fd >= 0 {
            // SAFETY: a fresh descriptor nothing else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINVAL) {
            return Err(e);
        }
    }
    Err(io::Error::from_raw_os_error(libc::EINVAL))
}

/// `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`; returns the error when it fails.
fn execveat(fd: &OwnedFd, argv: &[CString], envp: &[CString]) -> io::Error {
    let argv = null_terminated(argv);
    let envp = null_terminated(envp);
    // SAFETY: argv and envp are NULL-terminated arrays of pointers to NUL-terminated strings
    // that outlive the call; fd is a valid descriptor.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    io::Error::last_os_error()
}

fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_separators_are_escaped() {
        assert_eq!(
            overlay_escape(OsStr::new("/a:b\\c")),
            b"/a\\:b\\\\c".to_vec()
        );
        assert_eq!(overlay_escape(OsStr::new("/usr/bin")), b"/usr/bin".to_vec());
    }

    #[test]
    fn a_sealed_memfd_is_sealed_and_a_plain_one_is_not() {
        let fd = memfd_create().unwrap();
        assert_eq!(sealing_of(fd.as_fd()).unwrap(), None);
        let copy = memfd_copy().unwrap();
        assert_eq!(
            sealing_of(copy.as_fd()).unwrap(),
            Some(Sealing::SealedMemfd)
        );
        let mut f = std::fs::File::from(copy);
        assert!(std::io::Write::write_all(&mut f, b"x").is_err());
    }
}
