//! Resolving container paths inside a root directory, so that no symlink, `..` or absolute
//! link planted in the rootfs can lead outside it.
//!
//! A [`Root`] holds an `O_PATH` descriptor of the rootfs directory. Every lookup starts at that
//! descriptor and treats it as `/`:
//!
//! - with `openat2(2)` and `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS` (Linux 5.6) the kernel
//!   does this itself, atomically for each step, and returns `EAGAIN` when a concurrent rename
//!   could have fooled it (we retry);
//! - without `openat2` ([`Resolver::Userspace`]), a component-by-component walk opens each
//!   name with `O_PATH | O_NOFOLLOW`, expands symlinks itself with `readlinkat(2)` (absolute
//!   targets restart at the root descriptor), clamps `..` at the root by popping its own stack
//!   of directory descriptors (never by opening `..`), and gives up after 40 links (`ELOOP`),
//!   as the kernel does.
//!
//! Creation is done by descriptor too: [`Root::mkdir_all`] makes one directory at a time with
//! `mkdirat(2)` relative to the descriptor of its verified parent and reopens it with
//! `O_NOFOLLOW`, so a directory swapped for a symlink between two steps cannot redirect the
//! creation to the host (CVE-2024-45310).

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::sys;
use crate::{Error, Result};

/// The most symlinks one resolution may expand, as in the kernel (`MAXSYMLINKS`).
///
/// ```
/// assert_eq!(iso_chroot::MAX_SYMLINKS, 40);
/// ```
pub const MAX_SYMLINKS: usize = 40;
/// How often a lookup is retried when the kernel reports a concurrent rename (`EAGAIN`).
const EAGAIN_RETRIES: usize = 4096;

static OPENAT2_MISSING: AtomicBool = AtomicBool::new(false);

/// How a [`Root`] resolves paths.
///
/// ```
/// use iso_chroot::{Resolver, Root};
/// let root = Root::open("/")?.with_resolver(Resolver::Userspace);
/// assert_eq!(root.resolver(), Resolver::Userspace);
/// # Ok::<(), iso_chroot::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resolver {
    /// `openat2(RESOLVE_IN_ROOT)` when the kernel has it, the userspace walk otherwise.
    #[default]
    Auto,
    /// Only `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`; fails with `ENOSYS` on old
    /// kernels.
    Openat2,
    /// Only the userspace walk (for kernels before 5.6, and to test the walk itself).
    Userspace,
}

/// A root directory, held open, inside which container paths are resolved.
///
/// ```no_run
/// use iso_chroot::Root;
/// # fn main() -> Result<(), iso_chroot::Error> {
/// let root = Root::open("/srv/rootfs")?;
/// // Even if the rootfs holds `etc -> /etc`, this opens <rootfs>/etc/hostname.
/// let hostname = root.open_file("/etc/hostname", libc::O_RDONLY)?;
/// // Directories are created one component at a time, by descriptor.
/// let _dir = root.mkdir_all("/var/lib/app", 0o755)?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
    resolver: Resolver,
}

impl Root {
    /// Opens the directory at `path` (a host path, resolved normally) as a root.
    ///
    /// ```
    /// let root = iso_chroot::Root::open("/tmp")?;
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Root> {
        let path = path.as_ref();
        let cwd = sys::cwd().map_err(|e| Error::sys("open", ".", e))?;
        let fd = sys::openat(
            cwd.as_fd(),
            path.as_os_str(),
            libc::O_PATH | libc::O_DIRECTORY,
            0,
        )
        .map_err(|e| Error::sys("open", path, e))?;
        Ok(Root {
            fd,
            path: path.to_path_buf(),
            resolver: Resolver::Auto,
        })
    }

    /// Wraps an already open directory descriptor (for example a detached mount from
    /// `open_tree`). `path` is only used in error messages.
    ///
    /// ```
    /// use std::os::fd::OwnedFd;
    /// let dir = OwnedFd::from(std::fs::File::open("/tmp")?);
    /// let root = iso_chroot::Root::from_fd(dir, "/tmp");
    /// assert_eq!(root.path(), std::path::Path::new("/tmp"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_fd(fd: OwnedFd, path: impl Into<PathBuf>) -> Root {
        Root {
            fd,
            path: path.into(),
            resolver: Resolver::Auto,
        }
    }

    /// Chooses how paths are resolved (see [`Resolver`]).
    ///
    /// ```
    /// use iso_chroot::{Resolver, Root};
    /// let root = Root::open("/tmp")?.with_resolver(Resolver::Openat2);
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn with_resolver(mut self, resolver: Resolver) -> Root {
        self.resolver = resolver;
        self
    }

    /// The resolver in use.
    ///
    /// ```
    /// assert_eq!(iso_chroot::Root::open("/tmp")?.resolver(), iso_chroot::Resolver::Auto);
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn resolver(&self) -> Resolver {
        self.resolver
    }

    /// The host path the root was opened from (informational: never used to resolve).
    ///
    /// ```
    /// assert_eq!(iso_chroot::Root::open("/tmp")?.path(), std::path::Path::new("/tmp"));
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A second handle on the same root directory.
    ///
    /// ```
    /// let root = iso_chroot::Root::open("/tmp")?;
    /// let again = root.try_clone()?;
    /// assert_eq!(again.path(), root.path());
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn try_clone(&self) -> Result<Root> {
        let fd = self
            .fd
            .try_clone()
            .map_err(|e| Error::sys("dup", &self.path, e))?;
        Ok(Root {
            fd,
            path: self.path.clone(),
            resolver: self.resolver,
        })
    }

    /// The host-side name of a container path, for error messages.
    pub(crate) fn display(&self, path: &Path) -> PathBuf {
        let rel = path.strip_prefix("/").unwrap_or(path);
        self.path.join(rel)
    }

    /// Opens the container path `path` with the `O_*` `flags` (`O_CLOEXEC` is always added).
    /// Symlinks, including the final component unless `O_NOFOLLOW` is given, are followed but
    /// never leave the root.
    ///
    /// ```
    /// let root = iso_chroot::Root::open("/")?;
    /// let fd = root.open_file("/proc/../etc/../proc/self/../version", libc::O_RDONLY)?;
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn open_file(&self, path: impl AsRef<Path>, flags: i32) -> Result<OwnedFd> {
        let path = path.as_ref();
        self.resolve(path, flags, 0)
            .map_err(|e| Error::sys("open in root", self.display(path), e))
    }

    /// Opens `path` as an `O_PATH` descriptor (a handle to the file itself, usable as a mount
    /// target or an `*at` base, without read or write access).
    ///
    /// ```
    /// let root = iso_chroot::Root::open("/")?;
    /// let etc = root.open_path("etc")?;
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn open_path(&self, path: impl AsRef<Path>) -> Result<OwnedFd> {
        self.open_file(path, libc::O_PATH)
    }

    /// Opens the directory `path` as an `O_PATH` descriptor; `ENOTDIR` if it is not one.
    ///
    /// ```
    /// let root = iso_chroot::Root::open("/")?;
    /// assert_eq!(root.open_dir("/proc/version").unwrap_err().errno(), Some(libc::ENOTDIR));
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn open_dir(&self, path: impl AsRef<Path>) -> Result<OwnedFd> {
        self.open_file(path, libc::O_PATH | libc::O_DIRECTORY)
    }

    /// Creates the directory `path` and any missing parents inside the root, with `mode`
    /// (before the umask), and returns an `O_PATH` descriptor of it.
    ///
    /// Each missing component is created with `mkdirat(2)` relative to the descriptor of its
    /// parent and reopened with `O_NOFOLLOW | O_DIRECTORY`, so a concurrent swap with a symlink
    /// fails instead of redirecting. Existing symlinks are followed inside the root.
    ///
    /// ```no_run
    /// let root = iso_chroot::Root::open("/srv/rootfs")?;
    /// let dir = root.mkdir_all("/run/secrets", 0o700)?;
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn mkdir_all(&self, path: impl AsRef<Path>, mode: u32) -> Result<OwnedFd> {
        self.mkdir_all_inner(path.as_ref(), mode, 0)
    }

    fn mkdir_all_inner(&self, path: &Path, mode: u32, links: usize) -> Result<OwnedFd> {
        let err = |op, e| Error::sys(op, self.display(path), e);
        let mut current = sys::openat(
            self.fd.as_fd(),
            OsStr::new("."),
            libc::O_PATH | libc::O_DIRECTORY,
            0,
        )
        .map_err(|e| err("open", e))?;
        let parts = components(path.as_os_str());
        let mut prefix = PathBuf::from("/");
        for (i, name) in parts.iter().enumerate() {
            prefix.push(name);
            match self.resolve(&prefix, libc::O_PATH | libc::O_DIRECTORY, 0) {
                Ok(fd) => current = fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) && name != ".." => {
                    match sys::mkdirat(current.as_fd(), name, mode) {
                        Ok(()) => {}
                        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                        Err(e) => return Err(err("mkdirat", e)),
                    }
                    let opened = sys::openat(
                        current.as_fd(),
                        name,
                        libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                        0,
                    );
                    match opened {
                        Ok(fd) => current = fd,
                        // A dangling symlink (`var/run -> /run` with no /run yet): create its
                        // target, resolved inside the root like any other path.
                        Err(e)
                            if matches!(
                                e.raw_os_error(),
                                Some(libc::ENOTDIR) | Some(libc::ELOOP)
                            ) =>
                        {
                            let target = match sys::readlinkat(current.as_fd(), name) {
                                Ok(t) => t,
                                Err(_) => return Err(err("open new directory", e)),
                            };
                            if links >= MAX_SYMLINKS {
                                return Err(err(
                                    "mkdir_all",
                                    io::Error::from_raw_os_error(libc::ELOOP),
                                ));
                            }
                            let mut next = match prefix.parent() {
                                Some(parent) if !target.as_bytes().starts_with(b"/") => {
                                    parent.to_path_buf()
                                }
                                _ => PathBuf::from("/"),
                            };
                            next.push(&target);
                            next.extend(&parts[i + 1..]);
                            return self.mkdir_all_inner(&next, mode, links + 1);
                        }
                        Err(e) => return Err(err("open new directory", e)),
                    }
                }
                Err(e) => return Err(err("open in root", e)),
            }
        }
        Ok(current)
    }

    /// Creates (or opens, if it exists) the regular file `path` inside the root, creating
    /// missing parent directories, and returns a read-only descriptor of it.
    ///
    /// The file itself is opened with `O_CREAT | O_NOFOLLOW` relative to its parent's
    /// descriptor: if the rootfs put a symlink there, this fails with `ELOOP` instead of
    /// creating or opening its target (CVE-2025-52565).
    ///
    /// ```no_run
    /// let root = iso_chroot::Root::open("/srv/rootfs")?;
    /// let console = root.create_file("/dev/console", 0o600)?;
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn create_file(&self, path: impl AsRef<Path>, mode: u32) -> Result<OwnedFd> {
        let path = path.as_ref();
        let (parent, name) = split_parent(path)?;
        let dir = self.mkdir_all(&parent, 0o755)?;
        sys::openat(
            dir.as_fd(),
            &name,
            libc::O_CREAT | libc::O_NOFOLLOW | libc::O_RDONLY,
            mode,
        )
        .map_err(|e| Error::sys("create in root", self.display(path), e))
    }

    /// Opens the parent directory of `path` inside the root (creating it if missing) and
    /// returns it with the final name, for `*at` calls that must not follow that name.
    pub(crate) fn parent_of(&self, path: &Path) -> Result<(OwnedFd, OsString)> {
        let (parent, name) = split_parent(path)?;
        Ok((self.mkdir_all(&parent, 0o755)?, name))
    }

    fn resolve(&self, path: &Path, flags: i32, mode: u32) -> io::Result<OwnedFd> {
        let use_openat2 = match self.resolver {
            Resolver::Openat2 => true,
            Resolver::Userspace => false,
            Resolver::Auto => !OPENAT2_MISSING.load(Ordering::Relaxed),
        };
        if use_openat2 {
            match resolve_openat2(self.fd.as_fd(), path, flags, mode) {
                Err(e)
                    if e.raw_os_error() == Some(libc::ENOSYS)
                        && self.resolver == Resolver::Auto =>
                {
                    OPENAT2_MISSING.store(true, Ordering::Relaxed);
                }
                other => return other,
            }
        }
        let mut last = io::Error::from_raw_os_error(libc::EAGAIN);
        for _ in 0..EAGAIN_RETRIES {
            match resolve_userspace(self.fd.as_fd(), path.as_os_str(), flags, mode) {
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => last = e,
                other => return other,
            }
        }
        Err(last)
    }
}

impl AsFd for Root {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn split_parent(path: &Path) -> Result<(PathBuf, OsString)> {
    let mut parts = components(path.as_os_str());
    let name = parts
        .pop()
        .filter(|n| n != "..")
        .ok_or_else(|| Error::Invalid {
            field: "path",
            reason: format!("{path:?} does not end in a file name"),
        })?;
    let mut parent = PathBuf::from("/");
    parent.extend(parts);
    Ok((parent, name))
}

/// The components of a path, without empty ones and `.`; `..` is kept.
pub(crate) fn components(path: &OsStr) -> Vec<OsString> {
    path.as_bytes()
        .split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(|c| OsStr::from_bytes(c).to_os_string())
        .collect()
}

/// Like [`components`], but keeps `.` after the first component and marks a trailing slash
/// with a final `.`, so that `file/.` and `file/` fail with `ENOTDIR` as in the kernel.
fn walk_components(path: &OsStr) -> Vec<OsString> {
    let bytes = path.as_bytes();
    let mut out: Vec<OsString> = bytes
        .split(|b| *b == b'/')
        .filter(|c| !c.is_empty())
        .map(|c| OsStr::from_bytes(c).to_os_string())
        .collect();
    if bytes.len() > 1 && bytes.last() == Some(&b'/') {
        out.push(OsString::from("."));
    }
    out
}

fn resolve_openat2(
    root: BorrowedFd<'_>,
    path: &Path,
    flags: i32,
    mode: u32,
) -> io::Result<OwnedFd> {
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    let rules = iso_sys::Resolve::IN_ROOT | iso_sys::Resolve::NO_MAGICLINKS;
    let mut last = io::Error::from_raw_os_error(libc::EAGAIN);
    for _ in 0..EAGAIN_RETRIES {
        match iso_sys::openat2(root, path, flags, mode, rules) {
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => last = e,
            other => return other,
        }
    }
    Err(last)
}

/// The userspace walk: see the module documentation. Returns `EAGAIN` when a component changed
/// between two of its steps (the caller retries).
pub(crate) fn resolve_userspace(
    root: BorrowedFd<'_>,
    path: &OsStr,
    flags: i32,
    mode: u32,
) -> io::Result<OwnedFd> {
    use std::collections::VecDeque;
    let mut remaining: VecDeque<OsString> = walk_components(path).into();
    // Descriptors of the directories from the root down to the current one (the root itself
    // is not on the stack): `..` pops, so it can never climb above the root.
    let mut stack: Vec<OwnedFd> = Vec::new();
    let mut links = 0usize;
    while let Some(name) = remaining.pop_front() {
        if name == ".." {
            stack.pop();
            continue;
        }
        if name == "." {
            // Only ever reached with a directory as the current position: nothing to do.
            continue;
        }
        let current = stack.last().map_or(root, |fd| fd.as_fd());
        let last = remaining.is_empty();
        let fd = match sys::openat(current, &name, libc::O_PATH | libc::O_NOFOLLOW, 0) {
            Ok(fd) => fd,
            Err(e)
                if last && e.raw_os_error() == Some(libc::ENOENT) && flags & libc::O_CREAT != 0 =>
            {
                return sys::openat(current, &name, flags | libc::O_NOFOLLOW, mode);
            }
            Err(e) => return Err(e),
        };
        let st = sys::fstat(fd.as_fd())?;
        let kind = sys::file_type(&st);
        if kind == libc::S_IFLNK {
            if last && flags & libc::O_NOFOLLOW != 0 {
                if flags & libc::O_PATH != 0 {
                    verify_beneath(root, current)?;
                    return Ok(fd);
                }
                return Err(io::Error::from_raw_os_error(libc::ELOOP));
            }
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(io::Error::from_raw_os_error(libc::ELOOP));
            }
            let target = sys::readlink_fd(fd.as_fd())?;
            if target.as_bytes().first() == Some(&b'/') {
                stack.clear();
            }
            for part in walk_components(&target).into_iter().rev() {
                remaining.push_front(part);
            }
            continue;
        }
        if !last {
            if kind != libc::S_IFDIR {
                return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
            }
            stack.push(fd);
            continue;
        }
        if flags & libc::O_DIRECTORY != 0 && kind != libc::S_IFDIR {
            return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
        }
        verify_beneath(root, current)?;
        if flags & libc::O_PATH != 0 {
            return Ok(fd);
        }
        // Reopen with the real flags, still without following, and check it is the same
        // inode we just inspected; a swap in between is reported as EAGAIN.
        let real = match sys::openat(
            current,
            &name,
            (flags | libc::O_NOFOLLOW) & !libc::O_CREAT,
            0,
        ) {
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(io::Error::from_raw_os_error(libc::EAGAIN))
            }
            other => other?,
        };
        let again = sys::fstat(real.as_fd())?;
        if again.st_dev != st.st_dev || again.st_ino != st.st_ino {
            return Err(io::Error::from_raw_os_error(libc::EAGAIN));
        }
        return Ok(real);
    }
    // The path named a directory already reached (the root, or one reached through `..`).
    let current = stack.last().map_or(root, |fd| fd.as_fd());
    verify_beneath(root, current)?;
    sys::openat(
        current,
        OsStr::new("."),
        flags & !(libc::O_CREAT | libc::O_NOFOLLOW),
        0,
    )
}

/// Checks that `dir` is still below `root` by climbing `..` until the root's inode (found) or
/// the top of the filesystem tree (not found). A directory of the walk that a concurrent
/// rename moved out of the root fails here; the lookup is then retried (`EAGAIN`).
fn verify_beneath(root: BorrowedFd<'_>, dir: BorrowedFd<'_>) -> io::Result<()> {
    let want = sys::fstat(root)?;
    let mut current = sys::openat(dir, OsStr::new("."), libc::O_PATH | libc::O_DIRECTORY, 0)?;
    for _ in 0..4096 {
        let st = sys::fstat(current.as_fd())?;
        if st.st_dev == want.st_dev && st.st_ino == want.st_ino {
            return Ok(());
        }
        let up = sys::openat(
            current.as_fd(),
            OsStr::new(".."),
            libc::O_PATH | libc::O_DIRECTORY,
            0,
        )?;
        let up_st = sys::fstat(up.as_fd())?;
        if up_st.st_dev == st.st_dev && up_st.st_ino == st.st_ino {
            break;
        }
        current = up;
    }
    Err(io::Error::from_raw_os_error(libc::EAGAIN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_beneath_finds_the_root_and_rejects_outside() {
        let root = sys::openat(
            sys::cwd().unwrap(),
            OsStr::new("/proc/sys"),
            libc::O_PATH,
            0,
        )
        .unwrap();
        let inside = sys::openat(root.as_fd(), OsStr::new("kernel"), libc::O_PATH, 0).unwrap();
        verify_beneath(root.as_fd(), inside.as_fd()).unwrap();
        verify_beneath(root.as_fd(), root.as_fd()).unwrap();
        let outside = sys::openat(
            sys::cwd().unwrap(),
            OsStr::new("/proc/self"),
            libc::O_PATH,
            0,
        )
        .unwrap();
        let err = verify_beneath(root.as_fd(), outside.as_fd()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EAGAIN));
    }

    #[test]
    fn walk_components_marks_trailing_slash() {
        assert_eq!(walk_components(OsStr::new("/a//b/")), ["a", "b", "."]);
        assert_eq!(walk_components(OsStr::new("/")), Vec::<OsString>::new());
        assert_eq!(components(OsStr::new("./a/./../b")), ["a", "..", "b"]);
    }
}
