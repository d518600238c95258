//! `/dev` inside a root: device nodes, the standard symlinks, devpts, `/dev/shm` and the
//! console.
//!
//! Every entry is created relative to a descriptor of the root's `/dev` directory, never by
//! path, and nothing the rootfs already put there is followed: an existing entry of the wrong
//! kind (a symlink to a host file, say) is unlinked and replaced.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::mount::{Mount, MountFlags, MountKind};
use crate::sys;
use crate::{Error, Result, Root};

/// The kind of a device node.
///
/// ```
/// assert_eq!(iso_chroot::DeviceKind::Char.mode_bits(), libc::S_IFCHR);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// A character device.
    Char,
    /// A block device.
    Block,
    /// A named pipe.
    Fifo,
}

impl DeviceKind {
    /// The `S_IF*` file type bits.
    ///
    /// ```
    /// assert_eq!(iso_chroot::DeviceKind::Fifo.mode_bits(), libc::S_IFIFO);
    /// ```
    pub fn mode_bits(self) -> libc::mode_t {
        match self {
            DeviceKind::Char => libc::S_IFCHR,
            DeviceKind::Block => libc::S_IFBLK,
            DeviceKind::Fifo => libc::S_IFIFO,
        }
    }
}

/// A device node to create inside a root.
///
/// ```
/// use iso_chroot::Device;
/// let fuse = Device::char("/dev/fuse", 10, 229).mode(0o666).owner(0, 0);
/// assert_eq!(fuse.major_minor(), (10, 229));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    path: PathBuf,
    kind: DeviceKind,
    major: u32,
    minor: u32,
    mode: u32,
    uid: u32,
    gid: u32,
}

impl Device {
    /// A node of `kind` at the container path `path`, mode 0666, owned by root.
    ///
    /// ```
    /// use iso_chroot::{Device, DeviceKind};
    /// let loop0 = Device::new(DeviceKind::Block, "/dev/loop0", 7, 0);
    /// assert_eq!(loop0.kind(), DeviceKind::Block);
    /// ```
    pub fn new(kind: DeviceKind, path: impl Into<PathBuf>, major: u32, minor: u32) -> Device {
        Device {
            path: path.into(),
            kind,
            major,
            minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        }
    }

    /// A character device.
    ///
    /// ```
    /// let tun = iso_chroot::Device::char("/dev/net/tun", 10, 200);
    /// assert_eq!(tun.kind(), iso_chroot::DeviceKind::Char);
    /// ```
    pub fn char(path: impl Into<PathBuf>, major: u32, minor: u32) -> Device {
        Device::new(DeviceKind::Char, path, major, minor)
    }

    /// Sets the permission bits.
    ///
    /// ```
    /// let dev = iso_chroot::Device::char("/dev/kvm", 10, 232).mode(0o660);
    /// ```
    pub fn mode(mut self, mode: u32) -> Device {
        self.mode = mode & 0o7777;
        self
    }

    /// Sets the owner.
    ///
    /// ```
    /// let dev = iso_chroot::Device::char("/dev/kvm", 10, 232).owner(0, 36);
    /// ```
    pub fn owner(mut self, uid: u32, gid: u32) -> Device {
        self.uid = uid;
        self.gid = gid;
        self
    }

    /// The container path.
    ///
    /// ```
    /// let dev = iso_chroot::Device::char("/dev/kvm", 10, 232);
    /// assert_eq!(dev.path(), std::path::Path::new("/dev/kvm"));
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The kind.
    ///
    /// ```
    /// let dev = iso_chroot::Device::char("/dev/kvm", 10, 232);
    /// assert_eq!(dev.kind(), iso_chroot::DeviceKind::Char);
    /// ```
    pub fn kind(&self) -> DeviceKind {
        self.kind
    }

    /// `(major, minor)`.
    ///
    /// ```
    /// assert_eq!(iso_chroot::Device::char("/dev/kvm", 10, 232).major_minor(), (10, 232));
    /// ```
    pub fn major_minor(&self) -> (u32, u32) {
        (self.major, self.minor)
    }

    fn rdev(&self) -> libc::dev_t {
        libc::makedev(self.major, self.minor)
    }
}

/// The devices every container gets: null, zero, full, random, urandom (1:3, 1:5, 1:7, 1:8,
/// 1:9) and tty (5:0), all mode 0666.
///
/// ```
/// let devs = iso_chroot::default_devices();
/// assert!(devs.iter().any(|d| d.path() == std::path::Path::new("/dev/null") && d.major_minor() == (1, 3)));
/// ```
pub fn default_devices() -> Vec<Device> {
    [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ]
    .into_iter()
    .map(|(p, ma, mi)| Device::char(p, ma, mi))
    .collect()
}

/// How device nodes are made.
///
/// ```
/// assert_eq!(iso_chroot::DeviceMode::default(), iso_chroot::DeviceMode::Auto);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceMode {
    /// `mknod`, or a bind mount of the host device where `mknod` is not allowed (`EPERM`, as
    /// in a user namespace).
    #[default]
    Auto,
    /// `mknodat(2)` only.
    Mknod,
    /// Bind-mount the host's device at the same path (it must exist on the host with the
    /// same major and minor).
    BindHost,
}

impl Root {
    /// Creates the device node `dev` inside the root. An existing entry that is not a
    /// directory is replaced without being followed.
    ///
    /// ```no_run
    /// use iso_chroot::{Device, DeviceMode, Root};
    /// let root = Root::open("/srv/rootfs")?;
    /// root.create_device(&Device::char("/dev/fuse", 10, 229), DeviceMode::Auto)?;
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn create_device(&self, dev: &Device, mode: DeviceMode) -> Result<()> {
        let (dir, name) = self.parent_of(&dev.path)?;
        let shown = self.display(&dev.path);
        remove_non_dir(dir.as_fd(), &name, &shown)?;
        if mode != DeviceMode::BindHost {
            let made = sys::mknodat(
                dir.as_fd(),
                &name,
                dev.kind.mode_bits() | dev.mode,
                dev.rdev(),
            );
            match made {
                Ok(()) => return finish_node(dir.as_fd(), &name, dev, &shown),
                Err(e) if mode == DeviceMode::Auto && e.raw_os_error() == Some(libc::EPERM) => {}
                Err(e) => return Err(Error::sys("mknodat", shown, e)),
            }
        }
        self.bind_host_device(dir.as_fd(), &name, dev, &shown)
    }

    fn bind_host_device(
        &self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        dev: &Device,
        shown: &Path,
    ) -> Result<()> {
        let host = sys::cwd()
            .and_then(|cwd| {
                sys::openat(
                    cwd.as_fd(),
                    dev.path.as_os_str(),
                    libc::O_PATH | libc::O_NOFOLLOW,
                    0,
                )
            })
            .map_err(|e| Error::sys("open host device", &dev.path, e))?;
        let st = sys::fstat(host.as_fd()).map_err(|e| Error::sys("fstat", &dev.path, e))?;
        if sys::file_type(&st) != dev.kind.mode_bits() || st.st_rdev != dev.rdev() {
            return Err(Error::refused(
                &dev.path,
                "host device has another kind or number",
            ));
        }
        let target = sys::openat(
            dir,
            name,
            libc::O_CREAT | libc::O_NOFOLLOW | libc::O_RDONLY,
            0o000,
        )
        .map_err(|e| Error::sys("create bind target", shown, e))?;
        bind_fd(host.as_fd(), target.as_fd(), shown)
    }

    /// Creates [`default_devices`] in the root's `/dev`.
    ///
    /// ```no_run
    /// let root = iso_chroot::Root::open("/srv/rootfs")?;
    /// root.create_default_devices(iso_chroot::DeviceMode::Auto)?;
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn create_default_devices(&self, mode: DeviceMode) -> Result<()> {
        default_devices()
            .iter()
            .try_for_each(|d| self.create_device(d, mode))
    }

    /// Creates the standard `/dev` symlinks: `fd -> /proc/self/fd`, `stdin`, `stdout`,
    /// `stderr -> /proc/self/fd/0..2`, and `ptmx -> pts/ptmx`. Existing entries are
    /// replaced, never followed.
    ///
    /// ```no_run
    /// let root = iso_chroot::Root::open("/srv/rootfs")?;
    /// root.create_dev_symlinks()?;
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn create_dev_symlinks(&self) -> Result<()> {
        self.dev_symlinks(true)
    }

    /// The standard `/dev` symlinks of [`Root::create_dev_symlinks`], only where the root
    /// filesystem has no entry of that name (of any type: an existing node, file or
    /// symlink is kept, and never followed). For a `/dev` that is the root filesystem's own
    /// directory rather than a fresh tmpfs: without `ptmx -> pts/ptmx` a devpts mounted on
    /// `/dev/pts` gives no way to open a pty.
    ///
    /// ```no_run
    /// let root = iso_chroot::Root::open("/srv/rootfs")?;
    /// root.create_missing_dev_symlinks()?;
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn create_missing_dev_symlinks(&self) -> Result<()> {
        self.dev_symlinks(false)
    }

    fn dev_symlinks(&self, replace: bool) -> Result<()> {
        let dir = self.mkdir_all("/dev", 0o755)?;
        let links = [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
            ("ptmx", "pts/ptmx"),
        ];
        for (name, target) in links {
            let name = OsStr::new(name);
            let shown = self.display(&Path::new("/dev").join(name));
            if replace {
                if let Ok(existing) = sys::readlinkat(dir.as_fd(), name) {
                    if existing == OsStr::new(target) {
                        continue;
                    }
                }
                remove_non_dir(dir.as_fd(), name, &shown)?;
            }
            match sys::symlinkat(OsStr::new(target), dir.as_fd(), name) {
                Ok(()) => {}
                // symlinkat never follows the entry in the way.
                Err(e) if !replace && e.raw_os_error() == Some(libc::EEXIST) => {}
                Err(e) => return Err(Error::sys("symlinkat", shown, e)),
            }
        }
        Ok(())
    }

    /// Mounts a new devpts instance at `/dev/pts` (`newinstance,ptmxmode=0666,mode=0620`,
    /// nosuid, noexec) so the container's ptys are its own.
    ///
    /// ```no_run
    /// let root = iso_chroot::Root::open("/srv/rootfs")?;
    /// root.mount_devpts()?;
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn mount_devpts(&self) -> Result<OwnedFd> {
        self.mount(
            &Mount::new(MountKind::Devpts, "/dev/pts")
                .source("devpts")
                .flags(MountFlags::NOSUID | MountFlags::NOEXEC)
                .data("newinstance,ptmxmode=0666,mode=0620"),
        )
    }

    /// Mounts a tmpfs at `/dev/shm` (mode 1777, 64 MiB, nosuid, nodev, noexec).
    ///
    /// ```no_run
    /// let root = iso_chroot::Root::open("/srv/rootfs")?;
    /// root.mount_shm()?;
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn mount_shm(&self) -> Result<OwnedFd> {
        self.mount(
            &Mount::tmpfs("/dev/shm")
                .source("shm")
                .flags(MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC)
                .data("mode=1777,size=65536k"),
        )
    }

    /// Bind-mounts the terminal `console` (for example the pty slave of the container's
    /// console) on `/dev/console`. The target is created with `O_CREAT | O_NOFOLLOW` and the
    /// mount is attached through its descriptor, so a symlink the rootfs put at
    /// `/dev/console` is refused rather than followed (CVE-2025-52565).
    ///
    /// ```no_run
    /// use std::os::fd::AsFd;
    /// let root = iso_chroot::Root::open("/srv/rootfs")?;
    /// let pty = std::fs::File::open("/dev/pts/3")?;
    /// root.bind_console(pty.as_fd())?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bind_console(&self, console: BorrowedFd<'_>) -> Result<()> {
        let shown = self.display(Path::new("/dev/console"));
        let st = sys::fstat(console).map_err(|e| Error::sys("fstat", "console", e))?;
        if sys::file_type(&st) != libc::S_IFCHR {
            return Err(Error::refused(
                &shown,
                "the console is not a character device",
            ));
        }
        let target = self.create_file("/dev/console", 0o600)?;
        bind_fd(console, target.as_fd(), &shown)
    }

    /// The usual `/dev` of a container: a tmpfs on `/dev` (nosuid, strictatime, mode 755),
    /// the default devices, devpts, `/dev/shm` and the standard symlinks. `/dev` itself must
    /// not be a symlink in the rootfs.
    ///
    /// ```no_run
    /// let root = iso_chroot::Root::open("/srv/rootfs")?;
    /// root.setup_dev(iso_chroot::DeviceMode::Auto)?;
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn setup_dev(&self, mode: DeviceMode) -> Result<()> {
        if let Ok(st) = sys::fstatat_nofollow(self.as_fd(), OsStr::new("dev")) {
            if sys::file_type(&st) != libc::S_IFDIR {
                return Err(Error::refused(
                    self.display(Path::new("/dev")),
                    "/dev must be a directory",
                ));
            }
        }
        self.mount(
            &Mount::tmpfs("/dev")
                .flags(MountFlags::NOSUID | MountFlags::STRICTATIME)
                .data("mode=755,size=65536k"),
        )?;
        self.create_default_devices(mode)?;
        self.mount_devpts()?;
        self.mount_shm()?;
        self.create_dev_symlinks()
    }
}

/// Sets owner and permissions on a just-made node, after checking (without following) that the
/// name still is that node.
fn finish_node(dir: BorrowedFd<'_>, name: &OsStr, dev: &Device, shown: &Path) -> Result<()> {
    let fd = sys::openat(dir, name, libc::O_PATH | libc::O_NOFOLLOW, 0)
        .map_err(|e| Error::sys("open", shown, e))?;
    let st = sys::fstat(fd.as_fd()).map_err(|e| Error::sys("fstat", shown, e))?;
    let kind_ok = sys::file_type(&st) == dev.kind.mode_bits();
    if !kind_ok || (dev.kind != DeviceKind::Fifo && st.st_rdev != dev.rdev()) {
        return Err(Error::refused(
            shown,
            "the node was replaced while it was created",
        ));
    }
    // Both changes go to the node just checked: chown through its O_PATH descriptor
    // (AT_EMPTY_PATH), chmod with fchmodat2(AT_SYMLINK_NOFOLLOW) (Linux 6.6) or, before that,
    // through the descriptor's /proc/self/fd link. The umask does not apply to either.
    sys::fchown_fd(fd.as_fd(), dev.uid, dev.gid).map_err(|e| Error::sys("fchownat", shown, e))?;
    match sys::fchmodat2_nofollow(dir, name, dev.mode) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
            let proc_path = format!("/proc/self/fd/{}", fd.as_raw_fd());
            let c =
                sys::cstring(OsStr::new(&proc_path)).map_err(|e| Error::sys("chmod", shown, e))?;
            // SAFETY: c is NUL-terminated.
            if unsafe { libc::chmod(c.as_ptr(), dev.mode) } < 0 {
                return Err(Error::sys("chmod", shown, std::io::Error::last_os_error()));
            }
            Ok(())
        }
        Err(e) => Err(Error::sys("fchmodat2", shown, e)),
    }
}

/// Unlinks `name` in `dir` unless it is missing or a directory; never follows it.
fn remove_non_dir(dir: BorrowedFd<'_>, name: &OsStr, shown: &Path) -> Result<()> {
    match sys::fstatat_nofollow(dir, name) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        Err(e) => Err(Error::sys("fstatat", shown, e)),
        Ok(st) if sys::file_type(&st) == libc::S_IFDIR => {
            Err(Error::refused(shown, "a directory is in the way"))
        }
        Ok(_) => sys::unlinkat(dir, name, 0).map_err(|e| Error::sys("unlinkat", shown, e)),
    }
}

/// Bind-mounts the object `source` refers to onto the object `target` refers to, both by
/// descriptor.
pub(crate) fn bind_fd(source: BorrowedFd<'_>, target: BorrowedFd<'_>, shown: &Path) -> Result<()> {
    let flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | libc::AT_EMPTY_PATH as u32;
    match sys::open_tree(source, c"", flags) {
        Ok(tree) => sys::move_mount_fds(tree.as_fd(), target)
            .map_err(|e| Error::sys("move_mount", shown, e)),
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
            iso_sys::procfs::ProcRoot::open()?;
            let src = sys::cstring(&OsString::from(format!(
                "/proc/self/fd/{}",
                source.as_raw_fd()
            )))
            .map_err(|e| Error::sys("mount", shown, e))?;
            let dst = sys::cstring(&OsString::from(format!(
                "/proc/self/fd/{}",
                target.as_raw_fd()
            )))
            .map_err(|e| Error::sys("mount", shown, e))?;
            sys::mount(Some(&src), &dst, None, libc::MS_BIND, None)
                .map_err(|e| Error::sys("mount(MS_BIND)", shown, e))
        }
        Err(e) => Err(Error::sys("open_tree", shown, e)),
    }
}
