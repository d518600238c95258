//! A tmpfs that takes over from the directory it covers: its permission bits and, with OCI's
//! `tmpcopyup`, its content.
//!
//! Everything is done through descriptors: the covered directory is opened before the mount
//! hides it, each entry is read with `O_NOFOLLOW` relative to its parent's descriptor and
//! recreated relative to the new mount's, so a symlink in the image is copied as a symlink,
//! never followed.

use std::ffi::{CStr, OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::mount::{remount_readonly, Mount, MountFlags};
use crate::sys;
use crate::{Error, Result, Root};

impl Root {
    /// Mounts the tmpfs `m` over a directory of the root, taking over from it (as runc does):
    /// without a `mode=` data option the new mount gets the permission bits of the directory
    /// it covers, and with `copy_up` (OCI `tmpcopyup`) a copy of its content (modes, owners,
    /// symlinks and special files included). A directory that does not exist yet is created
    /// and gives nothing to take over. With `ro`, the mount is made read-only after the copy.
    ///
    /// ```no_run
    /// use iso_chroot::{Mount, Root};
    /// let root = Root::open("/srv/rootfs")?;
    /// root.mount_tmpfs_over(&Mount::tmpfs("/etc").source("tmpfs"), true)?;
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn mount_tmpfs_over(&self, m: &Mount, copy_up: bool) -> Result<OwnedFd> {
        let dest = m.destination();
        let keep_mode = !m.data_options().iter().any(|o| o.starts_with("mode="));
        if !copy_up && !keep_mode {
            return self.mount(m);
        }
        let covered = match self.open_file(dest, libc::O_RDONLY | libc::O_DIRECTORY) {
            Ok(fd) => Some(fd),
            Err(e) if e.errno() == Some(libc::ENOENT) => None,
            Err(e) => return Err(e),
        };
        let Some(covered) = covered else {
            return self.mount(m);
        };
        let readonly = m.mount_flags().contains(MountFlags::RDONLY);
        let tree = self.mount(&m.clone().without_flags(MountFlags::RDONLY))?;
        let shown = self.display(dest);
        let top = sys::openat(
            tree.as_fd(),
            OsStr::new("."),
            libc::O_RDONLY | libc::O_DIRECTORY,
            0,
        )
        .map_err(|e| Error::sys("open", &shown, e))?;
        if copy_up {
            copy_dir(covered.as_fd(), top.as_fd(), &shown)?;
        }
        if keep_mode {
            let st = sys::fstat(covered.as_fd()).map_err(|e| Error::sys("fstat", &shown, e))?;
            fchmod(top.as_fd(), st.st_mode & 0o7777, &shown)?;
        }
        if readonly {
            remount_readonly(tree.as_fd())?;
        }
        Ok(tree)
    }
}

/// Copies every entry of the directory `from` into the directory `to`.
fn copy_dir(from: BorrowedFd<'_>, to: BorrowedFd<'_>, shown: &Path) -> Result<()> {
    for name in read_dir(from, shown)? {
        let at = shown.join(&name);
        let st = sys::fstatat_nofollow(from, &name).map_err(|e| Error::sys("fstatat", &at, e))?;
        match sys::file_type(&st) {
            libc::S_IFDIR => {
                sys::mkdirat(to, &name, 0o700).map_err(|e| Error::sys("mkdirat", &at, e))?;
                let dir_flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
                let src = sys::openat(from, &name, dir_flags, 0)
                    .map_err(|e| Error::sys("open", &at, e))?;
                let dst =
                    sys::openat(to, &name, dir_flags, 0).map_err(|e| Error::sys("open", &at, e))?;
                copy_dir(src.as_fd(), dst.as_fd(), &at)?;
            }
            libc::S_IFREG => copy_file(from, to, &name, &at)?,
            libc::S_IFLNK => {
                let target =
                    sys::readlinkat(from, &name).map_err(|e| Error::sys("readlinkat", &at, e))?;
                sys::symlinkat(&target, to, &name).map_err(|e| Error::sys("symlinkat", &at, e))?;
            }
            _ => sys::mknodat(to, &name, st.st_mode & !0o7777 | 0o600, st.st_rdev)
                .map_err(|e| Error::sys("mknodat", &at, e))?,
        }
        set_owner_and_mode(to, &name, &st, &at)?;
    }
    Ok(())
}

/// Copies the regular file `name` of `from` into `to`.
fn copy_file(from: BorrowedFd<'_>, to: BorrowedFd<'_>, name: &OsStr, at: &Path) -> Result<()> {
    let src = sys::openat(from, name, libc::O_RDONLY | libc::O_NOFOLLOW, 0)
        .map_err(|e| Error::sys("open", at, e))?;
    let dst = sys::openat(
        to,
        name,
        libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
        0o600,
    )
    .map_err(|e| Error::sys("create", at, e))?;
    let mut src = std::fs::File::from(src);
    let mut dst = std::fs::File::from(dst);
    std::io::copy(&mut src, &mut dst).map_err(|e| Error::sys("copy", at, e))?;
    Ok(())
}

/// Gives the copy `name` in `to` the owner and permission bits of the original `st`, without
/// following it (a symlink keeps its own bits).
fn set_owner_and_mode(to: BorrowedFd<'_>, name: &OsStr, st: &libc::stat, at: &Path) -> Result<()> {
    let fd = sys::openat(to, name, libc::O_PATH | libc::O_NOFOLLOW, 0)
        .map_err(|e| Error::sys("open", at, e))?;
    sys::fchown_fd(fd.as_fd(), st.st_uid, st.st_gid).map_err(|e| Error::sys("fchownat", at, e))?;
    if sys::file_type(st) == libc::S_IFLNK {
        return Ok(());
    }
    match sys::fchmodat2_nofollow(to, name, st.st_mode & 0o7777) {
        Ok(()) => Ok(()),
        // Before Linux 6.6: through a readable descriptor of the entry just checked.
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
            let flags = match sys::file_type(st) {
                libc::S_IFDIR => libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                libc::S_IFREG => libc::O_RDONLY | libc::O_NOFOLLOW,
                // A node or FIFO is not opened (it might block or be a device).
                _ => return Ok(()),
            };
            let fd = sys::openat(to, name, flags, 0).map_err(|e| Error::sys("open", at, e))?;
            fchmod(fd.as_fd(), st.st_mode & 0o7777, at)
        }
        Err(e) => Err(Error::sys("fchmodat2", at, e)),
    }
}

fn fchmod(fd: BorrowedFd<'_>, mode: u32, shown: &Path) -> Result<()> {
    // SAFETY: fchmod on a valid descriptor.
    if unsafe { libc::fchmod(fd.as_raw_fd(), mode) } < 0 {
        return Err(Error::sys("fchmod", shown, std::io::Error::last_os_error()));
    }
    Ok(())
}

/// The names in the directory `dir` (without `.` and `..`), read through a duplicate of
/// the descriptor.
fn read_dir(dir: BorrowedFd<'_>, shown: &Path) -> Result<Vec<OsString>> {
    let dup = dir
        .try_clone_to_owned()
        .map_err(|e| Error::sys("dup", shown, e))?;
    // SAFETY: fdopendir takes ownership of a valid directory descriptor (released from
    // the OwnedFd here, closed by closedir below).
    let stream = unsafe { libc::fdopendir(dup.as_raw_fd()) };
    if stream.is_null() {
        return Err(Error::sys(
            "fdopendir",
            shown,
            std::io::Error::last_os_error(),
        ));
    }
    std::mem::forget(dup);
    // The stream starts where the descriptor's offset is: rewind it.
    // SAFETY: stream is a valid DIR*.
    unsafe { libc::rewinddir(stream) };
    let mut names = Vec::new();
    loop {
        // SAFETY: stream is a valid DIR*; the entry stays valid until the next readdir.
        let entry = unsafe { libc::readdir64(stream) };
        if entry.is_null() {
            break;
        }
        // SAFETY: d_name is a NUL-terminated array inside the entry.
        let name = unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) };
        let name = OsStr::from_bytes(name.to_bytes());
        if name != "." && name != ".." {
            names.push(name.to_os_string());
        }
    }
    // SAFETY: closes the stream and the descriptor it owns.
    unsafe { libc::closedir(stream) };
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_dir_lists_names_without_dots() {
        let dir = std::env::temp_dir().join(format!("iso-chroot-copy-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("f"), "x").unwrap();
        let fd: OwnedFd = std::fs::File::open(&dir).unwrap().into();
        let mut names = read_dir(fd.as_fd(), Path::new("t")).unwrap();
        names.sort();
        assert_eq!(names, [OsString::from("f"), OsString::from("sub")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
