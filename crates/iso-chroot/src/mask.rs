//! Masked and read-only paths: hiding parts of procfs and sysfs from the container.
//!
//! A masked file gets `/dev/null` bind-mounted over it (reads are empty, writes vanish); a
//! masked directory gets an empty read-only tmpfs. A read-only path is bind-mounted onto
//! itself and made read-only recursively. Paths that do not exist are skipped, as runc does.
//!
//! The `/dev/null` used as the mask is opened once, without following symlinks, and checked
//! to be the character device 1:3; the bind mount is then made from that descriptor. A rootfs
//! (or a racing container) that replaced `/dev/null` with a symlink to a procfs file would
//! otherwise get that file bind-mounted, writable, over the masked path (CVE-2025-31133).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::dev::bind_fd;
use crate::mount::{Mount, MountApi, MountFlags};
use crate::sys;
use crate::{Error, Result, Root};

/// A descriptor of a verified `/dev/null`: the character device 1:3, opened without
/// following symlinks.
///
/// ```
/// let null = iso_chroot::NullDevice::open()?;
/// // A symlink to it is refused, even though it points at the real device.
/// # let dir = std::env::temp_dir().join(format!("iso-doc-null-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// # let link = dir.join("null");
/// # let _ = std::fs::remove_file(&link);
/// std::os::unix::fs::symlink("/dev/null", &link)?;
/// assert!(iso_chroot::NullDevice::open_at(&link).is_err());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct NullDevice {
    fd: OwnedFd,
}

impl NullDevice {
    /// Opens and verifies the host's `/dev/null`.
    ///
    /// ```
    /// let null = iso_chroot::NullDevice::open()?;
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn open() -> Result<NullDevice> {
        NullDevice::open_at("/dev/null")
    }

    /// Opens and verifies the device at `path`; [`Error::Refused`] unless it is the
    /// character device 1:3 itself (not a symlink to it, not a file, not another device).
    ///
    /// ```
    /// assert!(iso_chroot::NullDevice::open_at("/dev/null").is_ok());
    /// assert!(iso_chroot::NullDevice::open_at("/dev/zero").is_err()); // 1:5, not 1:3
    /// ```
    pub fn open_at(path: impl AsRef<Path>) -> Result<NullDevice> {
        let path = path.as_ref();
        let fd = sys::cwd()
            .and_then(|cwd| {
                sys::openat(
                    cwd.as_fd(),
                    path.as_os_str(),
                    libc::O_PATH | libc::O_NOFOLLOW,
                    0,
                )
            })
            .map_err(|e| Error::sys("open", path, e))?;
        let st = sys::fstat(fd.as_fd()).map_err(|e| Error::sys("fstat", path, e))?;
        if sys::file_type(&st) != libc::S_IFCHR || st.st_rdev != libc::makedev(1, 3) {
            return Err(Error::refused(
                path,
                "not the character device 1:3 (/dev/null)",
            ));
        }
        Ok(NullDevice { fd })
    }
}

impl AsFd for NullDevice {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// What [`Root::mask_path`] did.
///
/// ```
/// assert_ne!(iso_chroot::Masked::File, iso_chroot::Masked::Missing);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Masked {
    /// `/dev/null` was bind-mounted over a file.
    File,
    /// An empty read-only tmpfs was mounted over a directory.
    Directory,
    /// The path does not exist in the root; nothing was done.
    Missing,
}

impl Root {
    /// Masks one container path with the verified `null` device (files) or an empty
    /// read-only tmpfs (directories). The path is resolved inside the root and mounted on
    /// through its descriptor.
    ///
    /// ```no_run
    /// use iso_chroot::{Masked, NullDevice, Root};
    /// let root = Root::open("/srv/rootfs")?;
    /// let null = NullDevice::open()?;
    /// assert_eq!(root.mask_path("/proc/kcore", &null)?, Masked::File);
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn mask_path(&self, path: impl AsRef<Path>, null: &NullDevice) -> Result<Masked> {
        let path = path.as_ref();
        let target = match self.open_path(path) {
            Ok(fd) => fd,
            Err(e) if e.errno() == Some(libc::ENOENT) => return Ok(Masked::Missing),
            Err(e) => return Err(e),
        };
        let shown = self.display(path);
        let st = sys::fstat(target.as_fd()).map_err(|e| Error::sys("fstat", &shown, e))?;
        if sys::file_type(&st) == libc::S_IFDIR {
            let tmpfs = Mount::tmpfs(path)
                .flags(MountFlags::RDONLY)
                .data("mode=555");
            self.attach(&tmpfs, None, target.as_fd(), MountApi::Auto)?;
            Ok(Masked::Directory)
        } else {
            bind_fd(null.as_fd(), target.as_fd(), &shown)?;
            Ok(Masked::File)
        }
    }

    /// Masks every path in `paths` (the OCI `maskedPaths`), skipping missing ones.
    ///
    /// ```no_run
    /// let root = iso_chroot::Root::open("/srv/rootfs")?;
    /// root.mask_paths(["/proc/kcore", "/proc/keys", "/sys/firmware"])?;
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn mask_paths<I, P>(&self, paths: I) -> Result<()>
    where
        I: IntoIterator<Item = P>,
        P: AsRef<Path>,
    {
        let null = NullDevice::open()?;
        for path in paths {
            self.mask_path(path, &null)?;
        }
        Ok(())
    }

    /// Makes one container path read-only, with everything mounted below it: a recursive bind
    /// mount of the path onto itself, made read-only recursively before it is attached.
    /// Returns `false` when the path does not exist.
    ///
    /// ```no_run
    /// let root = iso_chroot::Root::open("/srv/rootfs")?;
    /// root.readonly_path("/proc/sys")?;
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn readonly_path(&self, path: impl AsRef<Path>) -> Result<bool> {
        let path = path.as_ref();
        let target = match self.open_path(path) {
            Ok(fd) => fd,
            Err(e) if e.errno() == Some(libc::ENOENT) => return Ok(false),
            Err(e) => return Err(e),
        };
        let shown: PathBuf = self.display(path);
        let flags = libc::OPEN_TREE_CLONE
            | libc::OPEN_TREE_CLOEXEC
            | libc::AT_EMPTY_PATH as u32
            | libc::AT_RECURSIVE as u32;
        match sys::open_tree(target.as_fd(), c"", flags) {
            Ok(tree) => {
                sys::mount_setattr(tree.as_fd(), true, libc::MOUNT_ATTR_RDONLY, 0, 0)
                    .map_err(|e| Error::sys("mount_setattr(AT_RECURSIVE)", &shown, e))?;
                sys::move_mount_fds(tree.as_fd(), target.as_fd())
                    .map_err(|e| Error::sys("move_mount", &shown, e))?;
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                bind_fd(target.as_fd(), target.as_fd(), &shown)?;
                let mounted = self.open_path(path)?;
                crate::mount::remount_fd(
                    mounted.as_fd(),
                    MountFlags::RDONLY,
                    MountFlags::empty(),
                    &shown,
                )?;
            }
            Err(e) => return Err(Error::sys("open_tree", shown, e)),
        }
        Ok(true)
    }

    /// Makes every path in `paths` read-only (the OCI `readonlyPaths`), skipping missing ones.
    ///
    /// ```no_run
    /// let root = iso_chroot::Root::open("/srv/rootfs")?;
    /// root.readonly_paths(["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"])?;
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn readonly_paths<I, P>(&self, paths: I) -> Result<()>
    where
        I: IntoIterator<Item = P>,
        P: AsRef<Path>,
    {
        for path in paths {
            self.readonly_path(path)?;
        }
        Ok(())
    }
}
