//! A `/proc` that has been checked to be the real thing.
//!
//! A container runtime writes to procfs to install protections: AppArmor and SELinux labels
//! (`/proc/self/attr/...`), uid and gid maps, `setgroups`, sysctls, `oom_score_adj`. If a
//! hostile rootfs or a racing process puts something else at `/proc` (a tmpfs, a bind mount of
//! a plain directory, a symlink), those writes can succeed without effect and the container
//! runs unprotected (CVE-2019-16884, CVE-2025-52881).
//!
//! [`ProcRoot`] opens `/proc` once, as an `O_PATH` descriptor, checks with `fstatfs(2)` that it
//! is procfs and with `fstat(2)` that it is the root of a procfs mount, and then opens every
//! file *relative to that descriptor* with `openat2(2)` rules that refuse symlinks and mount
//! crossings, so what it opens is on that procfs mount (namespace handles are checked to be
//! on nsfs). On kernels without `openat2`, each open uses `O_NOFOLLOW` and each opened file is
//! checked again to be on procfs.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::{openat2, Error, ProcPid, Resolve};

/// `PROC_SUPER_MAGIC` from `<linux/magic.h>`.
pub const PROC_SUPER_MAGIC: i64 = 0x9fa0;
/// `NSFS_MAGIC` from `<linux/magic.h>`: the filesystem behind `/proc/PID/ns/*`.
pub const NSFS_MAGIC: i64 = 0x6e73_6673;
/// The inode number of the root directory of every procfs instance.
const PROC_ROOT_INO: u64 = 1;

/// A verified handle on the root of a procfs mount.
///
/// ```no_run
/// use iso_sys::{procfs::ProcRoot, ProcPid};
///
/// # fn main() -> Result<(), iso_sys::Error> {
/// let proc_root = ProcRoot::open()?;
/// // Written through a handle that is known to be procfs: the write cannot be redirected.
/// proc_root.write(ProcPid::SelfPid, "oom_score_adj", b"500")?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ProcRoot {
    fd: OwnedFd,
    path: PathBuf,
}

impl ProcRoot {
    /// Opens and verifies `/proc`.
    pub fn open() -> Result<Self, Error> {
        Self::open_at("/proc")
    }

    /// Opens and verifies the procfs mounted at `path` (for example a container's `/proc`
    /// seen from the runtime). Fails with [`Error::Unexpected`] when `path` is a symlink, is
    /// not procfs, or is a subdirectory of a procfs rather than its root.
    pub fn open_at(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref().to_path_buf();
        let cpath = CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::Unexpected {
            path: path.clone(),
            reason: "path contains a NUL byte".into(),
        })?;
        // SAFETY: cpath is NUL-terminated; O_PATH opens cannot have side effects.
        let raw = unsafe {
            libc::open(
                cpath.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(Error::io("open", path, io::Error::last_os_error()));
        }
        // SAFETY: a fresh descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        check_fs_magic(fd.as_fd(), PROC_SUPER_MAGIC, "procfs", &path)?;
        let ino = inode(fd.as_fd(), &path)?;
        if ino != PROC_ROOT_INO {
            return Err(Error::Unexpected {
                path,
                reason: format!("is inside a procfs but not its root (inode {ino})"),
            });
        }
        Ok(ProcRoot { fd, path })
    }

    /// The descriptor of the verified procfs root.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens `rel` (relative to the procfs root, for example `sys/net/ipv4/ip_forward`) with
    /// `flags`, refusing symlinks and mount crossings, and checks the result is on procfs.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), iso_sys::Error> {
    /// let proc_root = iso_sys::procfs::ProcRoot::open()?;
    /// let fd = proc_root.open_rel("sys/kernel/ostype", libc::O_RDONLY)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn open_rel(&self, rel: impl AsRef<Path>, flags: i32) -> Result<OwnedFd, Error> {
        let rel = rel.as_ref();
        let full = self.path.join(rel);
        // openat2 rejects O_PATH combined with anything but O_DIRECTORY/O_NOFOLLOW.
        let flags = if flags & libc::O_PATH != 0 {
            flags
        } else {
            flags | libc::O_NOCTTY
        };
        match openat2(
            self.as_fd(),
            rel,
            flags,
            0,
            Resolve::BENEATH | Resolve::NO_SYMLINKS | Resolve::NO_XDEV,
        ) {
            // RESOLVE_NO_XDEV kept the walk on the mount of the verified procfs root: the
            // file is on procfs without another check.
            Ok(fd) => Ok(fd),
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                let fd = openat_nofollow(self.as_fd(), rel, flags)
                    .map_err(|e| Error::io("open", &full, e))?;
                check_fs_magic(fd.as_fd(), PROC_SUPER_MAGIC, "procfs", &full)?;
                Ok(fd)
            }
            Err(e) => Err(Error::io("openat2", full, e)),
        }
    }

    /// Opens `name` inside the directory of process `pid` (for example `uid_map`,
    /// `attr/apparmor/exec`).
    pub fn open_pid(&self, pid: ProcPid, name: &str, flags: i32) -> Result<OwnedFd, Error> {
        let dir = self.pid_dir(pid)?;
        self.open_rel(Path::new(&dir).join(name), flags)
    }

    /// Writes `data` to `name` in the directory of `pid`, in one `write(2)` as procfs expects.
    pub fn write(&self, pid: ProcPid, name: &str, data: &[u8]) -> Result<(), Error> {
        let fd = self.open_pid(pid, name, libc::O_WRONLY)?;
        write_once(fd, data, &self.pid_path(pid, name))
    }

    /// Writes `data` to `rel`, relative to the procfs root (for example `sys/kernel/hostname`).
    pub fn write_rel(&self, rel: impl AsRef<Path>, data: &[u8]) -> Result<(), Error> {
        let rel = rel.as_ref();
        let fd = self.open_rel(rel, libc::O_WRONLY)?;
        write_once(fd, data, &self.path.join(rel))
    }

    /// Reads `name` in the directory of `pid` into a string.
    pub fn read_to_string(&self, pid: ProcPid, name: &str) -> Result<String, Error> {
        let fd = self.open_pid(pid, name, libc::O_RDONLY)?;
        read_text(crate::fd::read_unsized(File::from(fd)))
            .map_err(|e| Error::io("read", self.pid_path(pid, name), e))
    }

    /// [`ProcRoot::read_to_string`] of a file the kernel produces in one piece (`stat`,
    /// `status`, `oom_score_adj`...), one `read` fewer ([`crate::fd::read_whole`]).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), iso_sys::Error> {
    /// let proc_root = iso_sys::procfs::ProcRoot::open()?;
    /// let stat = proc_root.read_whole_to_string(iso_sys::ProcPid::SelfPid, "stat")?;
    /// assert!(stat.contains(" R ") || stat.contains(" S "));
    /// # Ok(())
    /// # }
    /// ```
    pub fn read_whole_to_string(&self, pid: ProcPid, name: &str) -> Result<String, Error> {
        let fd = self.open_pid(pid, name, libc::O_RDONLY)?;
        read_text(crate::fd::read_whole(File::from(fd)))
            .map_err(|e| Error::io("read", self.pid_path(pid, name), e))
    }

    /// Opens the namespace handle `/proc/PID/ns/<kind>` (for `setns(2)`), checking that the
    /// result really is a namespace file (nsfs).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), iso_sys::Error> {
    /// let proc_root = iso_sys::procfs::ProcRoot::open()?;
    /// let net_ns = proc_root.open_namespace(iso_sys::ProcPid::SelfPid, "net")?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn open_namespace(&self, pid: ProcPid, kind: &str) -> Result<OwnedFd, Error> {
        let dir = self.pid_dir(pid)?;
        let ns_dir = self.open_rel(Path::new(&dir).join("ns"), libc::O_PATH | libc::O_DIRECTORY)?;
        let full = self.pid_path(pid, &format!("ns/{kind}"));
        if kind.contains('/') {
            return Err(Error::Unexpected {
                path: full,
                reason: "namespace kind contains '/'".into(),
            });
        }
        // The last component is a magic link by design; the directory holding it is verified.
        let fd = openat_raw(ns_dir.as_fd(), Path::new(kind), libc::O_RDONLY)
            .map_err(|e| Error::io("open", &full, e))?;
        check_fs_magic(fd.as_fd(), NSFS_MAGIC, "nsfs", &full)?;
        Ok(fd)
    }

    /// Reads the symlink `name` in the directory of `pid` (for example `ns/mnt`, which reads
    /// `mnt:[4026531841]`, or `exe`).
    pub fn read_link(&self, pid: ProcPid, name: &str) -> Result<PathBuf, Error> {
        let full = self.pid_path(pid, name);
        let (parent, last) = match name.rsplit_once('/') {
            Some((parent, last)) => (format!("{}/{parent}", self.pid_dir(pid)?), last),
            None => (self.pid_dir(pid)?, name),
        };
        let dir = self.open_rel(&parent, libc::O_PATH | libc::O_DIRECTORY)?;
        readlinkat(dir.as_fd(), last).map_err(|e| Error::io("readlink", full, e))
    }

    /// `/proc/self` and `/proc/thread-self` are symlinks; they are read once and the numeric
    /// directory used, so that no symlink is followed while resolving.
    fn pid_dir(&self, pid: ProcPid) -> Result<String, Error> {
        match pid {
            ProcPid::Pid(pid) => Ok(pid.to_string()),
            ProcPid::SelfPid | ProcPid::ThreadSelf => {
                let name = pid.dir_name();
                let target = readlinkat(self.as_fd(), &name)
                    .map_err(|e| Error::io("readlink", self.path.join(&name), e))?;
                let target = target.to_string_lossy().into_owned();
                let valid = !target.starts_with('/')
                    && target.split('/').all(|c| {
                        c == "task" || (!c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()))
                    });
                if !valid {
                    return Err(Error::Unexpected {
                        path: self.path.join(name),
                        reason: format!("unexpected link target {target:?}"),
                    });
                }
                Ok(target)
            }
        }
    }

    fn pid_path(&self, pid: ProcPid, name: &str) -> PathBuf {
        self.path.join(pid.dir_name()).join(name)
    }
}

impl AsFd for ProcRoot {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn write_once(fd: OwnedFd, data: &[u8], path: &Path) -> Result<(), Error> {
    let mut file = File::from(fd);
    let written = file.write(data).map_err(|e| Error::io("write", path, e))?;
    if written != data.len() {
        return Err(Error::Unexpected {
            path: path.to_path_buf(),
            reason: format!("short write: {written} of {} bytes", data.len()),
        });
    }
    Ok(())
}

/// Checks the filesystem type of `fd` with `fstatfs(2)`.
///
/// ```
/// use std::os::fd::AsFd;
/// let file = std::fs::File::open("/proc/self/status")?;
/// iso_sys::procfs::check_fs_magic(file.as_fd(), iso_sys::procfs::PROC_SUPER_MAGIC, "procfs", "/proc/self/status".as_ref())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check_fs_magic(
    fd: BorrowedFd<'_>,
    magic: i64,
    what: &str,
    path: &Path,
) -> Result<(), Error> {
    let found = fs_magic(fd).map_err(|e| Error::io("fstatfs", path, e))?;
    if found != magic {
        return Err(Error::Unexpected {
            path: path.to_path_buf(),
            reason: format!("is not {what} (filesystem magic {found:#x}, expected {magic:#x})"),
        });
    }
    Ok(())
}

/// The `f_type` that `fstatfs(2)` reports for `fd`.
///
/// ```
/// use std::os::fd::AsFd;
/// let proc_self = std::fs::File::open("/proc/self/status")?;
/// assert_eq!(iso_sys::procfs::fs_magic(proc_self.as_fd())?, iso_sys::procfs::PROC_SUPER_MAGIC);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn fs_magic(fd: BorrowedFd<'_>) -> io::Result<i64> {
    // SAFETY: statfs is plain data; all-zero is valid.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: fd is a valid descriptor and st a valid out-pointer.
    if unsafe { libc::fstatfs(fd.as_raw_fd(), &mut st) } < 0 {
        return Err(io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast)]
    Ok(st.f_type as i64)
}

fn inode(fd: BorrowedFd<'_>, path: &Path) -> Result<u64, Error> {
    // SAFETY: stat is plain data; all-zero is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is valid and st a valid out-pointer.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } < 0 {
        return Err(Error::io("fstat", path, io::Error::last_os_error()));
    }
    Ok(st.st_ino)
}

fn openat_raw(dir: BorrowedFd<'_>, rel: &Path, flags: i32) -> io::Result<OwnedFd> {
    let c = CString::new(rel.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: c is NUL-terminated and dir a valid descriptor.
    let raw = unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags | libc::O_CLOEXEC) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Fallback for kernels without openat2: walk component by component with `O_NOFOLLOW`, so
/// no symlink is followed anywhere on the path.
fn openat_nofollow(dir: BorrowedFd<'_>, rel: &Path, flags: i32) -> io::Result<OwnedFd> {
    let mut components = rel.components().peekable();
    let mut current: Option<OwnedFd> = None;
    while let Some(component) = components.next() {
        let name = Path::new(component.as_os_str());
        if matches!(
            component,
            std::path::Component::ParentDir | std::path::Component::RootDir
        ) {
            return Err(io::Error::from_raw_os_error(libc::EXDEV));
        }
        let base = current.as_ref().map_or(dir, |fd| fd.as_fd());
        let next = if components.peek().is_some() {
            openat_raw(
                base,
                name,
                libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            )?
        } else {
            openat_raw(base, name, flags | libc::O_NOFOLLOW)?
        };
        current = Some(next);
    }
    current.ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))
}

fn readlinkat(dir: BorrowedFd<'_>, name: &str) -> io::Result<PathBuf> {
    let c = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: c is NUL-terminated, buf is writable for its full length.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            c.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(PathBuf::from(
        <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(buf),
    ))
}

/// The bytes of a procfs file as text (procfs has no size to ask for: they come from
/// [`crate::fd::read_unsized`] or [`crate::fd::read_whole`]).
fn read_text(bytes: std::io::Result<Vec<u8>>) -> std::io::Result<String> {
    String::from_utf8(bytes?)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Pid;

    #[test]
    fn opens_real_proc_and_reads_self() {
        let proc_root = ProcRoot::open().unwrap();
        let status = proc_root
            .read_to_string(ProcPid::SelfPid, "status")
            .unwrap();
        let pid_line = format!("Pid:\t{}", std::process::id());
        assert!(status.contains(&pid_line), "{status}");
        let by_pid = proc_root
            .read_to_string(ProcPid::Pid(Pid::this()), "status")
            .unwrap();
        assert!(by_pid.contains(&pid_line));
        let thread = proc_root
            .read_to_string(ProcPid::ThreadSelf, "status")
            .unwrap();
        assert!(thread.contains("Tgid:"));
    }

    #[test]
    fn refuses_non_proc_directory() {
        let err = ProcRoot::open_at("/tmp").unwrap_err();
        assert!(err.to_string().contains("is not procfs"), "{err}");
        let err = ProcRoot::open_at("/proc/self").unwrap_err();
        // /proc/self is a symlink: O_NOFOLLOW refuses it.
        assert_eq!(err.errno(), Some(libc::ENOTDIR), "{err}");
        let err = ProcRoot::open_at("/proc/sys").unwrap_err();
        assert!(err.to_string().contains("not its root"), "{err}");
    }

    #[test]
    fn refuses_symlinks_below_proc() {
        let proc_root = ProcRoot::open().unwrap();
        // /proc/self/cwd is a magic link: never followed.
        let err = proc_root
            .open_pid(ProcPid::SelfPid, "cwd/etc", libc::O_RDONLY)
            .unwrap_err();
        assert_eq!(err.errno(), Some(libc::ELOOP), "{err}");
        let err = proc_root
            .open_rel("../etc/passwd", libc::O_RDONLY)
            .unwrap_err();
        assert_eq!(err.errno(), Some(libc::EXDEV), "{err}");
    }

    #[test]
    fn namespace_handles_are_nsfs() {
        let proc_root = ProcRoot::open().unwrap();
        let fd = proc_root.open_namespace(ProcPid::SelfPid, "net").unwrap();
        assert_eq!(fs_magic(fd.as_fd()).unwrap(), NSFS_MAGIC);
        let link = proc_root.read_link(ProcPid::SelfPid, "ns/net").unwrap();
        assert!(link.to_string_lossy().starts_with("net:["), "{link:?}");
        assert!(proc_root.open_namespace(ProcPid::SelfPid, "../fd").is_err());
    }

    #[test]
    fn nofollow_fallback_refuses_symlinks() {
        let proc_root = ProcRoot::open().unwrap();
        let fd = openat_nofollow(proc_root.as_fd(), Path::new("self"), libc::O_RDONLY);
        assert_eq!(fd.unwrap_err().raw_os_error(), Some(libc::ELOOP));
        let ok = openat_nofollow(
            proc_root.as_fd(),
            Path::new("sys/kernel/ostype"),
            libc::O_RDONLY,
        );
        assert!(ok.is_ok());
    }
}
