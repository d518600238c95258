//! Mounts inside a root: typed descriptions, recursive attributes and propagation, always
//! attached through descriptors.
//!
//! A mount is first built *detached*: `open_tree(OPEN_TREE_CLONE)` copies the source tree for
//! a bind mount, `fsopen`/`fsconfig`/`fsmount` create a fresh filesystem instance. Its
//! attributes (read-only, nosuid, ...) are set on the detached tree with `mount_setattr(2)`
//! — recursively for `rro`-style options — *before* anything in the container can see it, which
//! also closes the classic gap where `MS_BIND|MS_RDONLY` is silently writable until a second
//! remount. The destination is resolved inside the [`Root`] to an `O_PATH` descriptor and the
//! tree is attached with `move_mount(MOVE_MOUNT_T_EMPTY_PATH)` onto exactly that descriptor:
//! the destination path is never looked up a second time (CVE-2021-30465).
//!
//! On kernels without the new mount API (before 5.2, or 5.12 for `mount_setattr`) the same
//! steps fall back to `mount(2)` on `/proc/self/fd/N` of the verified destination, followed by
//! a remount for the flags and a per-mount remount of every submount for recursive flags.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::resolve::components;
use crate::sys;
use crate::{Error, Result, Root};

bitflags::bitflags! {
    /// Per-mount flags (the `MOUNT_ATTR_*` / `MS_*` attributes a mount point carries).
    ///
    /// `NOATIME`, `STRICTATIME` and `RELATIME` choose the atime mode; at most one of them
    /// should be set (the kernel default is relatime).
    ///
    /// ```
    /// use iso_chroot::MountFlags;
    /// let hardened = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    /// assert!(hardened.contains(MountFlags::NODEV));
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct MountFlags: u32 {
        /// Read-only.
        const RDONLY = 1 << 0;
        /// Ignore set-user-id and set-group-id bits and file capabilities.
        const NOSUID = 1 << 1;
        /// Do not allow access to device nodes.
        const NODEV = 1 << 2;
        /// Do not allow programs to be executed.
        const NOEXEC = 1 << 3;
        /// Do not update access times.
        const NOATIME = 1 << 4;
        /// Always update access times.
        const STRICTATIME = 1 << 5;
        /// Update access times relative to modification times (the default).
        const RELATIME = 1 << 6;
        /// Do not update directory access times.
        const NODIRATIME = 1 << 7;
        /// Do not follow symlinks on this mount (Linux 5.10).
        const NOSYMFOLLOW = 1 << 8;
    }
}

impl MountFlags {
    const ATIME: MountFlags = MountFlags::NOATIME
        .union(MountFlags::STRICTATIME)
        .union(MountFlags::RELATIME);

    /// The `(attr_set, attr_clr)` pair of `mount_setattr(2)` that sets `self` and clears
    /// `clear`.
    pub(crate) fn to_attr(self, clear: MountFlags) -> (u64, u64) {
        let mut set = 0;
        let mut clr = 0;
        let pairs = [
            (MountFlags::RDONLY, libc::MOUNT_ATTR_RDONLY),
            (MountFlags::NOSUID, libc::MOUNT_ATTR_NOSUID),
            (MountFlags::NODEV, libc::MOUNT_ATTR_NODEV),
            (MountFlags::NOEXEC, libc::MOUNT_ATTR_NOEXEC),
            (MountFlags::NODIRATIME, libc::MOUNT_ATTR_NODIRATIME),
            (MountFlags::NOSYMFOLLOW, libc::MOUNT_ATTR_NOSYMFOLLOW),
        ];
        for (flag, attr) in pairs {
            if self.contains(flag) {
                set |= attr;
            }
            if clear.contains(flag) {
                clr |= attr;
            }
        }
        // The atime mode is a 3-bit field: changing it means clearing the whole field.
        if self.intersects(MountFlags::ATIME) {
            clr |= libc::MOUNT_ATTR__ATIME;
            if self.contains(MountFlags::NOATIME) {
                set |= libc::MOUNT_ATTR_NOATIME;
            } else if self.contains(MountFlags::STRICTATIME) {
                set |= libc::MOUNT_ATTR_STRICTATIME;
            }
        }
        (set, clr)
    }

    /// The `MS_*` flags of `mount(2)` for the legacy path.
    fn to_ms(self) -> libc::c_ulong {
        let pairs = [
            (MountFlags::RDONLY, libc::MS_RDONLY),
            (MountFlags::NOSUID, libc::MS_NOSUID),
            (MountFlags::NODEV, libc::MS_NODEV),
            (MountFlags::NOEXEC, libc::MS_NOEXEC),
            (MountFlags::NOATIME, libc::MS_NOATIME),
            (MountFlags::STRICTATIME, libc::MS_STRICTATIME),
            (MountFlags::RELATIME, libc::MS_RELATIME),
            (MountFlags::NODIRATIME, libc::MS_NODIRATIME),
            (MountFlags::NOSYMFOLLOW, 256), // MS_NOSYMFOLLOW
        ];
        pairs
            .iter()
            .filter(|(f, _)| self.contains(*f))
            .fold(0, |acc, (_, ms)| acc | ms)
    }

    fn from_statvfs(flag: libc::c_ulong) -> MountFlags {
        let pairs = [
            (libc::ST_RDONLY, MountFlags::RDONLY),
            (libc::ST_NOSUID, MountFlags::NOSUID),
            (libc::ST_NODEV, MountFlags::NODEV),
            (libc::ST_NOEXEC, MountFlags::NOEXEC),
            (libc::ST_NOATIME, MountFlags::NOATIME),
            (libc::ST_RELATIME, MountFlags::RELATIME),
            (libc::ST_NODIRATIME, MountFlags::NODIRATIME),
        ];
        pairs
            .iter()
            .filter(|(st, _)| flag & st != 0)
            .fold(MountFlags::empty(), |acc, (_, f)| acc | *f)
    }
}

/// Mount propagation: whether mount events under a mount are shared with its peers.
///
/// A container's mounts should not leak to the host nor receive the host's, so runtimes make
/// the whole tree `RPrivate` (or `RSlave` to still receive host mounts) before building the
/// root. The `R*` variants apply to every mount below as well.
///
/// ```
/// use iso_chroot::Propagation;
/// assert!(Propagation::RSlave.is_recursive());
/// assert_eq!(Propagation::parse("rshared"), Some(Propagation::RShared));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Propagation {
    /// No propagation in or out.
    Private,
    /// [`Propagation::Private`] for the whole subtree.
    RPrivate,
    /// Receive from the master peer group, send nothing.
    Slave,
    /// [`Propagation::Slave`] for the whole subtree.
    RSlave,
    /// Send to and receive from the peer group.
    Shared,
    /// [`Propagation::Shared`] for the whole subtree.
    RShared,
    /// Private, and cannot be bind-mounted.
    Unbindable,
    /// [`Propagation::Unbindable`] for the whole subtree.
    RUnbindable,
}

impl Propagation {
    /// Parses the OCI / mount(8) option name (`private`, `rslave`, ...).
    ///
    /// ```
    /// use iso_chroot::Propagation;
    /// assert_eq!(Propagation::parse("slave"), Some(Propagation::Slave));
    /// assert_eq!(Propagation::parse("bogus"), None);
    /// ```
    pub fn parse(s: &str) -> Option<Propagation> {
        Some(match s {
            "private" => Propagation::Private,
            "rprivate" => Propagation::RPrivate,
            "slave" => Propagation::Slave,
            "rslave" => Propagation::RSlave,
            "shared" => Propagation::Shared,
            "rshared" => Propagation::RShared,
            "unbindable" => Propagation::Unbindable,
            "runbindable" => Propagation::RUnbindable,
            _ => return None,
        })
    }

    /// Whether it applies to the whole subtree.
    ///
    /// ```
    /// assert!(!iso_chroot::Propagation::Private.is_recursive());
    /// ```
    pub fn is_recursive(self) -> bool {
        matches!(
            self,
            Propagation::RPrivate
                | Propagation::RSlave
                | Propagation::RShared
                | Propagation::RUnbindable
        )
    }

    /// The `MS_*` propagation flag (without `MS_REC`).
    fn ms_flag(self) -> libc::c_ulong {
        match self {
            Propagation::Private | Propagation::RPrivate => libc::MS_PRIVATE,
            Propagation::Slave | Propagation::RSlave => libc::MS_SLAVE,
            Propagation::Shared | Propagation::RShared => libc::MS_SHARED,
            Propagation::Unbindable | Propagation::RUnbindable => libc::MS_UNBINDABLE,
        }
    }
}

/// What is mounted.
///
/// ```
/// use iso_chroot::MountKind;
/// assert_eq!(MountKind::Tmpfs.fstype(), Some("tmpfs"));
/// assert_eq!(MountKind::RBind.fstype(), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MountKind {
    /// A bind mount of the source (only its top mount).
    Bind,
    /// A recursive bind mount (the source with all its submounts).
    RBind,
    /// A tmpfs.
    Tmpfs,
    /// A procfs.
    Proc,
    /// A sysfs.
    Sysfs,
    /// A devpts (pseudo-terminals).
    Devpts,
    /// A POSIX message queue filesystem.
    Mqueue,
    /// A cgroup v1 hierarchy (the controllers go in the data string).
    Cgroup,
    /// The cgroup v2 hierarchy.
    Cgroup2,
    /// An overlay filesystem (lowerdir, upperdir, workdir in the data string).
    Overlay,
    /// Any other filesystem type by name.
    Other(String),
}

impl MountKind {
    /// The filesystem type name, `None` for bind mounts.
    ///
    /// ```
    /// assert_eq!(iso_chroot::MountKind::Other("fuse.sshfs".into()).fstype(), Some("fuse.sshfs"));
    /// ```
    pub fn fstype(&self) -> Option<&str> {
        Some(match self {
            MountKind::Bind | MountKind::RBind => return None,
            MountKind::Tmpfs => "tmpfs",
            MountKind::Proc => "proc",
            MountKind::Sysfs => "sysfs",
            MountKind::Devpts => "devpts",
            MountKind::Mqueue => "mqueue",
            MountKind::Cgroup => "cgroup",
            MountKind::Cgroup2 => "cgroup2",
            MountKind::Overlay => "overlay",
            MountKind::Other(name) => name,
        })
    }

    /// Whether this is a bind mount.
    ///
    /// ```
    /// assert!(iso_chroot::MountKind::RBind.is_bind());
    /// assert!(!iso_chroot::MountKind::Proc.is_bind());
    /// ```
    pub fn is_bind(&self) -> bool {
        matches!(self, MountKind::Bind | MountKind::RBind)
    }
}

/// A mount to make inside a [`Root`].
///
/// ```no_run
/// use iso_chroot::{Mount, MountFlags, Propagation, Root};
/// # fn main() -> Result<(), iso_chroot::Error> {
/// let root = Root::open("/srv/rootfs")?;
/// root.mount(&Mount::proc("/proc"))?;
/// root.mount(&Mount::tmpfs("/tmp").flags(MountFlags::NOSUID | MountFlags::NODEV).data("size=64m"))?;
/// // OCI-style options: recursive read-only bind of a host directory, kept private.
/// root.mount(&Mount::bind("/srv/data", "/data").options("rbind,rro,nosuid,rprivate")?)?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    kind: MountKind,
    source: Option<PathBuf>,
    destination: PathBuf,
    flags: MountFlags,
    clear: MountFlags,
    recursive_set: MountFlags,
    recursive_clear: MountFlags,
    data: Vec<String>,
    propagation: Option<Propagation>,
}

impl Mount {
    /// A mount of `kind` at the container path `destination`, with no options.
    ///
    /// ```
    /// use iso_chroot::{Mount, MountKind};
    /// let m = Mount::new(MountKind::Mqueue, "/dev/mqueue").source("mqueue");
    /// assert_eq!(m.kind().fstype(), Some("mqueue"));
    /// ```
    pub fn new(kind: MountKind, destination: impl Into<PathBuf>) -> Mount {
        Mount {
            kind,
            source: None,
            destination: destination.into(),
            flags: MountFlags::empty(),
            clear: MountFlags::empty(),
            recursive_set: MountFlags::empty(),
            recursive_clear: MountFlags::empty(),
            data: Vec::new(),
            propagation: None,
        }
    }

    /// A bind mount of the host path `source` (file or directory) at `destination`.
    ///
    /// ```
    /// let m = iso_chroot::Mount::bind("/etc/resolv.conf", "/etc/resolv.conf");
    /// assert!(m.kind().is_bind());
    /// ```
    pub fn bind(source: impl Into<PathBuf>, destination: impl Into<PathBuf>) -> Mount {
        Mount::new(MountKind::Bind, destination).source(source)
    }

    /// A recursive bind mount of `source` at `destination`.
    ///
    /// ```
    /// let m = iso_chroot::Mount::rbind("/srv/data", "/data");
    /// assert_eq!(m.kind(), &iso_chroot::MountKind::RBind);
    /// ```
    pub fn rbind(source: impl Into<PathBuf>, destination: impl Into<PathBuf>) -> Mount {
        Mount::new(MountKind::RBind, destination).source(source)
    }

    /// A tmpfs at `destination`.
    ///
    /// ```
    /// let m = iso_chroot::Mount::tmpfs("/tmp").data("size=64m");
    /// assert_eq!(m.data_options(), ["size=64m"]);
    /// ```
    pub fn tmpfs(destination: impl Into<PathBuf>) -> Mount {
        Mount::new(MountKind::Tmpfs, destination).source("tmpfs")
    }

    /// A procfs at `destination` (nosuid, nodev, noexec).
    ///
    /// ```
    /// use iso_chroot::MountFlags;
    /// assert!(iso_chroot::Mount::proc("/proc").mount_flags().contains(MountFlags::NOEXEC));
    /// ```
    pub fn proc(destination: impl Into<PathBuf>) -> Mount {
        Mount::new(MountKind::Proc, destination)
            .source("proc")
            .flags(MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC)
    }

    /// A read-only sysfs at `destination` (nosuid, nodev, noexec).
    ///
    /// ```
    /// use iso_chroot::MountFlags;
    /// assert!(iso_chroot::Mount::sysfs("/sys").mount_flags().contains(MountFlags::RDONLY));
    /// ```
    pub fn sysfs(destination: impl Into<PathBuf>) -> Mount {
        Mount::new(MountKind::Sysfs, destination)
            .source("sysfs")
            .flags(MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC)
    }

    /// Sets the source (a host path for binds, a name such as `tmpfs` otherwise).
    ///
    /// ```
    /// let m = iso_chroot::Mount::tmpfs("/run").source("run");
    /// assert_eq!(m.source_path(), Some(std::path::Path::new("run")));
    /// ```
    pub fn source(mut self, source: impl Into<PathBuf>) -> Mount {
        self.source = Some(source.into());
        self
    }

    /// Adds per-mount flags (top mount only).
    ///
    /// ```
    /// use iso_chroot::{Mount, MountFlags};
    /// let m = Mount::tmpfs("/tmp").flags(MountFlags::NOEXEC);
    /// assert_eq!(m.mount_flags(), MountFlags::NOEXEC);
    /// ```
    pub fn flags(mut self, flags: MountFlags) -> Mount {
        self.flags |= flags;
        self.clear.remove(flags);
        self
    }

    /// Clears per-mount flags the mount would otherwise inherit (`rw`, `suid`, ...).
    ///
    /// ```
    /// use iso_chroot::{Mount, MountFlags};
    /// let m = Mount::sysfs("/sys").clear_flags(MountFlags::RDONLY);
    /// assert!(!m.mount_flags().contains(MountFlags::RDONLY));
    /// ```
    pub fn clear_flags(mut self, flags: MountFlags) -> Mount {
        self.clear |= flags;
        self.flags.remove(flags);
        self
    }

    /// Sets flags on the mount and every submount (`rro`, `rnosuid`, ...).
    ///
    /// ```
    /// use iso_chroot::{Mount, MountFlags};
    /// let m = Mount::rbind("/srv", "/srv").recursive(MountFlags::RDONLY | MountFlags::NOSUID);
    /// assert!(m.recursive_flags().contains(MountFlags::NOSUID));
    /// ```
    pub fn recursive(mut self, flags: MountFlags) -> Mount {
        self.recursive_set |= flags;
        self.recursive_clear.remove(flags);
        self
    }

    /// Clears flags on the mount and every submount (`rrw`, `rsuid`, ...).
    ///
    /// ```
    /// use iso_chroot::{Mount, MountFlags};
    /// let m = Mount::rbind("/srv", "/srv").recursive(MountFlags::RDONLY).recursive_clear(MountFlags::RDONLY);
    /// assert!(m.recursive_flags().is_empty());
    /// ```
    pub fn recursive_clear(mut self, flags: MountFlags) -> Mount {
        self.recursive_clear |= flags;
        self.recursive_set.remove(flags);
        self
    }

    /// Appends filesystem options, comma-separated (`size=64m,mode=755`).
    ///
    /// ```
    /// let m = iso_chroot::Mount::tmpfs("/tmp").data("size=1m,mode=1777");
    /// assert_eq!(m.data_options(), ["size=1m", "mode=1777"]);
    /// ```
    pub fn data(mut self, data: &str) -> Mount {
        self.data
            .extend(data.split(',').filter(|s| !s.is_empty()).map(str::to_owned));
        self
    }

    /// Sets the propagation of the new mount.
    ///
    /// ```
    /// use iso_chroot::{Mount, Propagation};
    /// let m = Mount::tmpfs("/shared").propagation(Propagation::Shared);
    /// assert_eq!(m.propagation_mode(), Some(Propagation::Shared));
    /// ```
    pub fn propagation(mut self, propagation: Propagation) -> Mount {
        self.propagation = Some(propagation);
        self
    }

    /// Applies OCI / mount(8) style options, comma-separated: `ro`, `rw`, `nosuid`, `suid`,
    /// `nodev`, `dev`, `noexec`, `exec`, `noatime`, `relatime`, `strictatime`, `nodiratime`,
    /// `nosymfollow`, their recursive `r*` forms (`rro`, `rrw`, `rnosuid`, ...), `bind` and
    /// `rbind`, the propagation names, and `defaults`; anything else is passed to the
    /// filesystem as data.
    ///
    /// ```
    /// use iso_chroot::{Mount, MountFlags, MountKind, Propagation};
    /// let m = Mount::new(MountKind::Bind, "/data").options("rbind,rro,nosuid,rslave")?;
    /// assert_eq!(m.kind(), &MountKind::RBind);
    /// assert_eq!(m.recursive_flags(), MountFlags::RDONLY);
    /// assert_eq!(m.mount_flags(), MountFlags::NOSUID);
    /// assert_eq!(m.propagation_mode(), Some(Propagation::RSlave));
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn options(mut self, options: &str) -> Result<Mount> {
        for opt in options.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            if opt.bytes().any(|b| b == 0) {
                return Err(Error::Invalid {
                    field: "mount option",
                    reason: format!("{opt:?} contains a NUL byte"),
                });
            }
            if let Some(p) = Propagation::parse(opt) {
                self.propagation = Some(p);
                continue;
            }
            match opt {
                "defaults" => continue,
                "bind" => {
                    self.kind = MountKind::Bind;
                    continue;
                }
                "rbind" => {
                    self.kind = MountKind::RBind;
                    continue;
                }
                _ => {}
            }
            if let Some((set, flag)) = flag_option(opt) {
                self = if set {
                    self.flags(flag)
                } else {
                    self.clear_flags(flag)
                };
                continue;
            }
            if let Some((set, flag)) = opt.strip_prefix('r').and_then(flag_option) {
                self = if set {
                    self.recursive(flag)
                } else {
                    self.recursive_clear(flag)
                };
                continue;
            }
            self.data.push(opt.to_owned());
        }
        Ok(self)
    }

    /// The same mount without the per-mount and recursive `flags` to set (to make it
    /// writable first and read-only after filling it, say).
    ///
    /// ```
    /// use iso_chroot::{Mount, MountFlags};
    /// let m = Mount::tmpfs("/t").options("ro,nosuid")?.without_flags(MountFlags::RDONLY);
    /// assert_eq!(m.mount_flags(), MountFlags::NOSUID);
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn without_flags(mut self, flags: MountFlags) -> Mount {
        self.flags.remove(flags);
        self.recursive_set.remove(flags);
        self
    }

    /// For a bind mount: a detached copy of its source (`open_tree(OPEN_TREE_CLONE)`,
    /// recursive for `rbind`), made by the caller, who may reach a source the process that
    /// mounts it cannot (a directory only the host's root may search, for a container in a
    /// user namespace). Mounted with [`Root::mount_tree`]; closing it unmounts the copy.
    ///
    /// ```no_run
    /// let tree = iso_chroot::Mount::rbind("/srv/data", "/data").clone_source()?;
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn clone_source(&self) -> Result<OwnedFd> {
        let Some(src) = self.source.as_deref().filter(|_| self.kind.is_bind()) else {
            return Err(Error::Invalid {
                field: "source",
                reason: "only a bind mount has a source tree to clone".into(),
            });
        };
        let c = cpath(src, "source")?;
        let mut flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC;
        if self.kind == MountKind::RBind {
            flags |= libc::AT_RECURSIVE as u32;
        }
        sys::cwd()
            .and_then(|cwd| sys::open_tree(cwd, &c, flags))
            .map_err(|e| Error::sys("open_tree", src, e))
    }

    /// A detached copy of this mount, made by the caller and attached later with
    /// [`Root::mount_tree`]: for a bind, its source tree ([`Mount::clone_source`]); for any
    /// other kind, a new filesystem with the data options (`fsopen`, `fsconfig`,
    /// `fsmount`). A detached mount is what [`set_idmap`] accepts, and a filesystem made here
    /// belongs to the caller's user namespace, not to the one of the process that attaches
    /// it. The per-mount flags are set by [`Root::mount_tree`].
    ///
    /// ```no_run
    /// let tmp = iso_chroot::Mount::tmpfs("/shared").options("size=1m")?.detached()?;
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn detached(&self) -> Result<OwnedFd> {
        if self.kind.is_bind() {
            return self.clone_source();
        }
        new_filesystem(self, &self.destination)
    }

    /// The kind of mount.
    ///
    /// ```
    /// assert_eq!(iso_chroot::Mount::proc("/proc").kind(), &iso_chroot::MountKind::Proc);
    /// ```
    pub fn kind(&self) -> &MountKind {
        &self.kind
    }

    /// The source, if any.
    ///
    /// ```
    /// assert_eq!(iso_chroot::Mount::bind("/a", "/b").source_path(), Some(std::path::Path::new("/a")));
    /// ```
    pub fn source_path(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// The container path it is mounted at.
    ///
    /// ```
    /// assert_eq!(iso_chroot::Mount::bind("/a", "/b").destination(), std::path::Path::new("/b"));
    /// ```
    pub fn destination(&self) -> &Path {
        &self.destination
    }

    /// The per-mount flags to set.
    ///
    /// ```
    /// assert!(iso_chroot::Mount::tmpfs("/t").mount_flags().is_empty());
    /// ```
    pub fn mount_flags(&self) -> MountFlags {
        self.flags
    }

    /// The flags to set recursively.
    ///
    /// ```
    /// assert!(iso_chroot::Mount::tmpfs("/t").recursive_flags().is_empty());
    /// ```
    pub fn recursive_flags(&self) -> MountFlags {
        self.recursive_set
    }

    /// The filesystem data options.
    ///
    /// ```
    /// assert!(iso_chroot::Mount::proc("/proc").data_options().is_empty());
    /// ```
    pub fn data_options(&self) -> &[String] {
        &self.data
    }

    /// The propagation to set, if any.
    ///
    /// ```
    /// assert_eq!(iso_chroot::Mount::proc("/proc").propagation_mode(), None);
    /// ```
    pub fn propagation_mode(&self) -> Option<Propagation> {
        self.propagation
    }
}

/// `(true, flag)` for an option that sets a flag, `(false, flag)` for one that clears it.
fn flag_option(opt: &str) -> Option<(bool, MountFlags)> {
    Some(match opt {
        "ro" => (true, MountFlags::RDONLY),
        "rw" => (false, MountFlags::RDONLY),
        "nosuid" => (true, MountFlags::NOSUID),
        "suid" => (false, MountFlags::NOSUID),
        "nodev" => (true, MountFlags::NODEV),
        "dev" => (false, MountFlags::NODEV),
        "noexec" => (true, MountFlags::NOEXEC),
        "exec" => (false, MountFlags::NOEXEC),
        "noatime" => (true, MountFlags::NOATIME),
        "strictatime" => (true, MountFlags::STRICTATIME),
        "relatime" => (true, MountFlags::RELATIME),
        "nodiratime" => (true, MountFlags::NODIRATIME),
        "diratime" => (false, MountFlags::NODIRATIME),
        "nosymfollow" => (true, MountFlags::NOSYMFOLLOW),
        "symfollow" => (false, MountFlags::NOSYMFOLLOW),
        _ => return None,
    })
}

/// Which mount interface [`Root::mount_with`] uses.
///
/// ```
/// assert_eq!(iso_chroot::MountApi::default(), iso_chroot::MountApi::Auto);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MountApi {
    /// The new mount API, falling back to `mount(2)` when the kernel lacks it.
    #[default]
    Auto,
    /// Only `open_tree`/`fsopen`/`fsmount`/`move_mount`/`mount_setattr`.
    New,
    /// Only `mount(2)` through `/proc/self/fd/N` plus remounts (kernels before 5.12).
    Legacy,
}

fn cstr(s: &str, field: &'static str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::Invalid {
        field,
        reason: format!("{s:?} contains a NUL byte"),
    })
}

pub(crate) fn cpath(p: &Path, field: &'static str) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| Error::Invalid {
        field,
        reason: format!("{p:?} contains a NUL byte"),
    })
}

fn is_enosys(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOSYS)
}

impl Root {
    /// Mounts `m` inside the root and returns a descriptor of the new mount (its root
    /// directory), usable with [`set_propagation`] or [`remount_readonly`].
    ///
    /// The destination is created if missing (a directory, or an empty file when a bind
    /// source is not a directory), resolved inside the root, and the mount is attached
    /// through its descriptor. Destinations under `/proc` and `/sys`, and procfs/sysfs mounts,
    /// are refused when a component of the path is a symlink (CVE-2019-19921).
    ///
    /// ```no_run
    /// use iso_chroot::{Mount, Root};
    /// let root = Root::open("/srv/rootfs")?;
    /// let proc_mount = root.mount(&Mount::proc("/proc"))?;
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn mount(&self, m: &Mount) -> Result<OwnedFd> {
        self.mount_with(m, MountApi::Auto)
    }

    /// [`Root::mount`] with an explicit choice of kernel interface.
    ///
    /// ```no_run
    /// use iso_chroot::{Mount, MountApi, Root};
    /// let root = Root::open("/srv/rootfs")?;
    /// root.mount_with(&Mount::tmpfs("/tmp"), MountApi::Legacy)?;
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn mount_with(&self, m: &Mount, api: MountApi) -> Result<OwnedFd> {
        let dest = m.destination();
        self.check_destination(m)?;
        // A bind source is opened once; its type decides the target's, and the tree is cloned
        // from this very descriptor.
        let source = match (&m.kind, &m.source) {
            (MountKind::Bind | MountKind::RBind, Some(src)) => Some(
                sys::cwd()
                    .and_then(|cwd| sys::openat(cwd, src.as_os_str(), libc::O_PATH, 0))
                    .map_err(|e| Error::sys("open", src, e))?,
            ),
            (MountKind::Bind | MountKind::RBind, None) => {
                return Err(Error::Invalid {
                    field: "source",
                    reason: "a bind mount needs a source".into(),
                })
            }
            _ => None,
        };
        let target = match &source {
            Some(fd) => self.target_like(m, fd.as_fd())?,
            None => self.mkdir_all(dest, 0o755)?,
        };
        self.attach(m, source.as_ref().map(|f| f.as_fd()), target.as_fd(), api)
    }

    /// Mounts the bind `m` from `tree`, a detached copy of its source that
    /// [`Mount::clone_source`] made, possibly in another process and user namespace, with the
    /// same checks of the destination as [`Root::mount`]. The per-mount attributes and the
    /// propagation are set once the tree is attached (a detached tree belongs to the user
    /// namespace that made it). Returns the attached tree.
    ///
    /// ```no_run
    /// use iso_chroot::{Mount, Root};
    /// let m = Mount::bind("/srv/private", "/data").options("rbind,ro")?;
    /// let tree = m.clone_source()?; // before entering the container's user namespace
    /// let root = Root::open("/srv/rootfs")?;
    /// root.mount_tree(&m, tree)?;
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn mount_tree(&self, m: &Mount, tree: OwnedFd) -> Result<OwnedFd> {
        self.check_destination(m)?;
        let dest = self.display(m.destination());
        let target = self.target_like(m, tree.as_fd())?;
        sys::move_mount_fds(tree.as_fd(), target.as_fd())
            .map_err(|e| Error::sys("move_mount", &dest, e))?;
        set_attrs(tree.as_fd(), m, &dest)?;
        if let Some(p) = m.propagation {
            set_propagation(tree.as_fd(), p)?;
        }
        Ok(tree)
    }

    /// Destinations in `/proc` and `/sys` (or of a procfs or sysfs) must be plain
    /// directories (CVE-2019-19921).
    fn check_destination(&self, m: &Mount) -> Result<()> {
        let first = normalize(m.destination());
        let special = matches!(
            first.first().map(String::as_str),
            Some("proc") | Some("sys")
        ) || matches!(m.kind, MountKind::Proc | MountKind::Sysfs);
        if special {
            self.refuse_symlinks_on(m.destination())?;
        }
        Ok(())
    }

    /// The mount point of `m` for the bind source `source`: a directory, or a file when the
    /// source is not a directory.
    fn target_like(&self, m: &Mount, source: BorrowedFd<'_>) -> Result<OwnedFd> {
        let dest = m.destination();
        let st = sys::fstat(source)
            .map_err(|e| Error::sys("fstat", m.source.as_deref().unwrap_or(dest), e))?;
        if sys::file_type(&st) == libc::S_IFDIR {
            self.mkdir_all(dest, 0o755)
        } else {
            self.create_file(dest, 0o644)
        }
    }

    /// Builds the mount `m` and attaches it on the already resolved `target`.
    pub(crate) fn attach(
        &self,
        m: &Mount,
        source: Option<BorrowedFd<'_>>,
        target: BorrowedFd<'_>,
        api: MountApi,
    ) -> Result<OwnedFd> {
        if api != MountApi::Legacy {
            match self.mount_new_api(m, source, target) {
                Err(Error::Sys { source, .. }) if api == MountApi::Auto && is_enosys(&source) => {}
                other => return other,
            }
        }
        self.mount_legacy(m, source, target)
    }

    /// Checks, without following anything, that no existing component of `path` is a
    /// symlink, and that the final component, if it exists, is a directory.
    fn refuse_symlinks_on(&self, path: &Path) -> Result<()> {
        let parts = normalize(path);
        let mut current = sys::openat(
            self.as_fd(),
            ".".as_ref(),
            libc::O_PATH | libc::O_DIRECTORY,
            0,
        )
        .map_err(|e| Error::sys("open", self.path(), e))?;
        let mut shown = PathBuf::from("/");
        for name in &parts {
            shown.push(name);
            let st = match sys::fstatat_nofollow(current.as_fd(), name.as_ref()) {
                Ok(st) => st,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
                Err(e) => return Err(Error::sys("fstatat", self.display(&shown), e)),
            };
            if sys::file_type(&st) != libc::S_IFDIR {
                return Err(Error::refused(
                    self.display(&shown),
                    "procfs/sysfs destinations must be plain directories, not symlinks or files",
                ));
            }
            current = sys::openat(
                current.as_fd(),
                name.as_ref(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                0,
            )
            .map_err(|e| Error::sys("open", self.display(&shown), e))?;
        }
        Ok(())
    }

    fn mount_new_api(
        &self,
        m: &Mount,
        source: Option<BorrowedFd<'_>>,
        target: BorrowedFd<'_>,
    ) -> Result<OwnedFd> {
        let dest = self.display(m.destination());
        let tree = match (&m.kind, source) {
            (MountKind::Bind | MountKind::RBind, Some(src_fd)) => {
                let src = m.source.as_deref().unwrap_or(Path::new("bind source"));
                let mut flags =
                    libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | libc::AT_EMPTY_PATH as u32;
                if m.kind == MountKind::RBind {
                    flags |= libc::AT_RECURSIVE as u32;
                }
                sys::open_tree(src_fd, c"", flags).map_err(|e| Error::sys("open_tree", src, e))?
            }
            _ => new_filesystem(m, &dest)?,
        };
        // Attributes go on while the tree is still detached and invisible.
        set_attrs(tree.as_fd(), m, &dest)?;
        sys::move_mount_fds(tree.as_fd(), target)
            .map_err(|e| Error::sys("move_mount", &dest, e))?;
        if let Some(p) = m.propagation {
            set_propagation(tree.as_fd(), p)?;
        }
        Ok(tree)
    }

    fn mount_legacy(
        &self,
        m: &Mount,
        source_fd: Option<BorrowedFd<'_>>,
        target: BorrowedFd<'_>,
    ) -> Result<OwnedFd> {
        let dest = self.display(m.destination());
        // The verified /proc makes /proc/self/fd/N name exactly our descriptor.
        iso_sys::procfs::ProcRoot::open()?;
        let target_path = proc_fd_path(target)?;
        let mut flags = 0;
        // A bind source is named by its descriptor too.
        let source = match source_fd {
            Some(fd) => Some(proc_fd_path(fd)?),
            None => m
                .source
                .as_deref()
                .map(|s| cpath(s, "source"))
                .transpose()?,
        };
        let fstype = m.kind.fstype().map(|f| cstr(f, "fstype")).transpose()?;
        let data = if m.data.is_empty() || m.kind.is_bind() {
            None
        } else {
            Some(cstr(&m.data.join(","), "data")?)
        };
        match m.kind {
            MountKind::Bind => flags |= libc::MS_BIND,
            MountKind::RBind => flags |= libc::MS_BIND | libc::MS_REC,
            _ => flags |= m.flags.to_ms(),
        }
        sys::mount(
            source.as_deref(),
            &target_path,
            fstype.as_deref(),
            flags,
            data.as_deref(),
        )
        .map_err(|e| Error::sys("mount", &dest, e))?;
        // Re-open the destination: the lookup now lands on the new mount. It must be a
        // different mount than the one we mounted on, or something raced us.
        let mounted = self.open_path(m.destination())?;
        if mount_id(mounted.as_fd())? == mount_id(target)? {
            return Err(Error::refused(
                &dest,
                "the mount did not land on the resolved destination",
            ));
        }
        let top_flags = m.flags | m.recursive_set;
        if m.kind.is_bind() && !(top_flags.is_empty() && m.clear.is_empty()) {
            remount_fd(
                mounted.as_fd(),
                top_flags,
                m.clear | m.recursive_clear,
                &dest,
            )?;
        }
        if !(m.recursive_set.is_empty() && m.recursive_clear.is_empty()) {
            for sub in submount_paths(mount_id(mounted.as_fd())?)? {
                let fd = sys::cwd()
                    .and_then(|cwd| {
                        sys::openat(
                            cwd.as_fd(),
                            sub.as_os_str(),
                            libc::O_PATH | libc::O_NOFOLLOW,
                            0,
                        )
                    })
                    .map_err(|e| Error::sys("open", &sub, e))?;
                remount_fd(fd.as_fd(), m.recursive_set, m.recursive_clear, &sub)?;
            }
        }
        if let Some(p) = m.propagation {
            set_propagation_legacy(mounted.as_fd(), p)?;
        }
        Ok(mounted)
    }
}

/// A new, detached filesystem of `m`'s kind (`fsopen`, `fsconfig` with its source and data
/// options, `fsmount`); `dest` names it in errors.
fn new_filesystem(m: &Mount, dest: &Path) -> Result<OwnedFd> {
    let fstype = m.kind.fstype().unwrap_or("none");
    let fs = sys::fsopen(&cstr(fstype, "fstype")?).map_err(|e| Error::sys("fsopen", dest, e))?;
    let cfg = |key: &str, value: Option<&str>| -> Result<()> {
        let k = cstr(key, "mount option")?;
        let v = value.map(|v| cstr(v, "mount option")).transpose()?;
        let cmd = if v.is_some() {
            libc::FSCONFIG_SET_STRING
        } else {
            libc::FSCONFIG_SET_FLAG
        };
        sys::fsconfig(fs.as_fd(), cmd, Some(&k), v.as_deref())
            .map_err(|e| Error::sys("fsconfig", dest, e))
    };
    if let Some(src) = &m.source {
        cfg("source", Some(&src.to_string_lossy()))?;
    }
    for opt in &m.data {
        match opt.split_once('=') {
            Some((k, v)) => cfg(k, Some(v))?,
            None => cfg(opt, None)?,
        }
    }
    sys::fsconfig(fs.as_fd(), libc::FSCONFIG_CMD_CREATE, None, None)
        .map_err(|e| Error::sys("fsconfig(create)", dest, e))?;
    sys::fsmount(fs.as_fd(), 0).map_err(|e| Error::sys("fsmount", dest, e))
}

/// Makes the detached mount `tree` ([`Mount::detached`]) an idmapped mount: the owners of
/// its files are translated through the uid and gid maps of the user namespace `userns`
/// (`mount_setattr(MOUNT_ATTR_IDMAP)`). A file owned by `k` on disk shows as the id that
/// `k`, read as an id inside `userns`, maps to outside it; a file created through the
/// mount is stored with the reverse. `recursive` covers every mount of an `rbind` tree
/// (OCI's `ridmap`), otherwise only its top. `what` names the mount in errors.
///
/// The kernel requires a detached mount that is not idmapped yet, a filesystem that
/// supports idmapped mounts (the kernel's list; ext4 binds and, on Linux 6.18, tmpfs are
/// what this crate's tests use) and
/// `CAP_SYS_ADMIN` over `userns`, which may not be the initial user namespace.
///
/// ```no_run
/// use std::os::fd::AsFd;
/// let tree = iso_chroot::Mount::bind("/srv/data", "/data").detached()?;
/// let userns = std::fs::File::open("/proc/4242/ns/user").expect("a user namespace");
/// iso_chroot::set_idmap(tree.as_fd(), userns.as_fd(), false, "/data".as_ref())?;
/// # Ok::<(), iso_chroot::Error>(())
/// ```
pub fn set_idmap(
    tree: BorrowedFd<'_>,
    userns: BorrowedFd<'_>,
    recursive: bool,
    what: &Path,
) -> Result<()> {
    sys::mount_setattr_idmap(tree, recursive, userns)
        .map_err(|e| Error::sys("mount_setattr(MOUNT_ATTR_IDMAP)", what, e))
}

fn set_attrs(tree: BorrowedFd<'_>, m: &Mount, dest: &Path) -> Result<()> {
    if !(m.recursive_set.is_empty() && m.recursive_clear.is_empty()) {
        let (set, clr) = m.recursive_set.to_attr(m.recursive_clear);
        sys::mount_setattr(tree, true, set, clr, 0)
            .map_err(|e| Error::sys("mount_setattr(AT_RECURSIVE)", dest, e))?;
    }
    if !(m.flags.is_empty() && m.clear.is_empty()) {
        let (set, clr) = m.flags.to_attr(m.clear);
        sys::mount_setattr(tree, false, set, clr, 0)
            .map_err(|e| Error::sys("mount_setattr", dest, e))?;
    }
    Ok(())
}

/// The lexically normalised components of a container path (`..` clamped at the root).
pub(crate) fn normalize(path: &Path) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in components(path.as_os_str()) {
        if c == ".." {
            out.pop();
        } else {
            out.push(c.to_string_lossy().into_owned());
        }
    }
    out
}

/// Sets the propagation of the mount whose root `mount` refers to (a descriptor returned by
/// [`Root::mount`], or an `O_PATH` descriptor of a mount point's root).
///
/// ```no_run
/// use iso_chroot::{set_propagation, Propagation};
/// let slash = std::fs::File::open("/")?;
/// // In a fresh mount namespace: stop sharing mount events with the host.
/// set_propagation(std::os::fd::AsFd::as_fd(&slash), Propagation::RPrivate)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[allow(clippy::unnecessary_cast)] // c_ulong is u64 on 64-bit targets only
pub fn set_propagation(mount: BorrowedFd<'_>, propagation: Propagation) -> Result<()> {
    match sys::mount_setattr(
        mount,
        propagation.is_recursive(),
        0,
        0,
        propagation.ms_flag() as u64,
    ) {
        Ok(()) => Ok(()),
        Err(e) if is_enosys(&e) => set_propagation_legacy(mount, propagation),
        Err(e) => Err(Error::sys("mount_setattr(propagation)", fd_name(mount), e)),
    }
}

fn set_propagation_legacy(mount: BorrowedFd<'_>, propagation: Propagation) -> Result<()> {
    let mut flags = propagation.ms_flag();
    if propagation.is_recursive() {
        flags |= libc::MS_REC;
    }
    let path = proc_fd_path(mount)?;
    sys::mount(None, &path, None, flags, None)
        .map_err(|e| Error::sys("mount(propagation)", fd_name(mount), e))
}

/// Makes the mount whose root `mount` refers to read-only (not its submounts), keeping its
/// other flags: the read-only remount of a container's root.
///
/// ```no_run
/// use std::os::fd::AsFd;
/// // After pivot_root: make the new / read-only.
/// let slash = std::fs::File::open("/")?;
/// iso_chroot::remount_readonly(slash.as_fd())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn remount_readonly(mount: BorrowedFd<'_>) -> Result<()> {
    match sys::mount_setattr(mount, false, libc::MOUNT_ATTR_RDONLY, 0, 0) {
        Ok(()) => Ok(()),
        Err(e) if is_enosys(&e) => remount_fd(
            mount,
            MountFlags::RDONLY,
            MountFlags::empty(),
            &fd_name(mount),
        ),
        Err(e) => Err(Error::sys("mount_setattr(RDONLY)", fd_name(mount), e)),
    }
}

/// `MS_REMOUNT|MS_BIND` of one mount, keeping the flags it has (the kernel refuses to drop
/// flags that are locked in a user namespace, so they must be repeated).
pub(crate) fn remount_fd(
    mount: BorrowedFd<'_>,
    set: MountFlags,
    clear: MountFlags,
    shown: &Path,
) -> Result<()> {
    // SAFETY: statvfs is plain data; all-zero is valid.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: mount is a valid descriptor and st a valid out-pointer.
    if unsafe { libc::fstatvfs(mount.as_raw_fd(), &mut st) } < 0 {
        return Err(Error::sys("fstatvfs", shown, io::Error::last_os_error()));
    }
    let mut flags = MountFlags::from_statvfs(st.f_flag);
    flags.remove(clear);
    if set.intersects(MountFlags::ATIME) {
        flags.remove(MountFlags::ATIME);
    }
    flags |= set;
    let path = proc_fd_path(mount)?;
    sys::mount(
        None,
        &path,
        None,
        libc::MS_REMOUNT | libc::MS_BIND | flags.to_ms(),
        None,
    )
    .map_err(|e| Error::sys("mount(MS_REMOUNT|MS_BIND)", shown, e))
}

fn proc_fd_path(fd: BorrowedFd<'_>) -> Result<CString> {
    CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).map_err(|_| Error::Invalid {
        field: "fd",
        reason: "unrepresentable".into(),
    })
}

fn fd_name(fd: BorrowedFd<'_>) -> PathBuf {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .unwrap_or_else(|_| PathBuf::from(format!("fd {}", fd.as_raw_fd())))
}

/// The id of the mount `fd` is on, from `/proc/self/fdinfo`.
pub(crate) fn mount_id(fd: BorrowedFd<'_>) -> Result<u64> {
    let proc_root = iso_sys::procfs::ProcRoot::open()?;
    let info = proc_root.read_to_string(
        iso_sys::ProcPid::SelfPid,
        &format!("fdinfo/{}", fd.as_raw_fd()),
    )?;
    info.lines()
        .find_map(|l| l.strip_prefix("mnt_id:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| Error::refused(fd_name(fd), "no mnt_id in fdinfo"))
}

/// The mount points (as seen by this process) of every mount below mount `id`, id included.
fn submount_paths(id: u64) -> Result<Vec<PathBuf>> {
    let proc_root = iso_sys::procfs::ProcRoot::open()?;
    let info = proc_root.read_to_string(iso_sys::ProcPid::SelfPid, "mountinfo")?;
    let mounts: Vec<(u64, u64, PathBuf)> = info
        .lines()
        .filter_map(|l| {
            let mut f = l.split(' ');
            let me = f.next()?.parse().ok()?;
            let parent = f.next()?.parse().ok()?;
            let point = f.nth(2)?;
            Some((me, parent, PathBuf::from(unescape_mountinfo(point))))
        })
        .collect();
    let mut wanted = vec![id];
    let mut out = Vec::new();
    let mut i = 0;
    while i < wanted.len() {
        let cur = wanted[i];
        for (me, parent, point) in &mounts {
            if *me == cur {
                out.push(point.clone());
            }
            if *parent == cur && *me != cur && !wanted.contains(me) {
                wanted.push(*me);
            }
        }
        i += 1;
    }
    Ok(out)
}

/// Undoes the octal escapes (`\040` for a space) of `/proc/self/mountinfo`.
pub(crate) fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            if let Ok(byte) = u8::try_from(v) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn unescapes_mountinfo_octal() {
        assert_eq!(unescape_mountinfo("/a\\040b"), "/a b");
        assert_eq!(unescape_mountinfo("/tab\\011x\\134"), "/tab\tx\\");
        assert_eq!(unescape_mountinfo("/trailing\\04"), "/trailing\\04");
    }

    #[test]
    fn normalize_clamps_dotdot() {
        assert_eq!(normalize(Path::new("/../../proc/./sys")), ["proc", "sys"]);
        assert_eq!(normalize(Path::new("a/../../sys")), ["sys"]);
    }

    #[test]
    fn atime_modes_clear_the_field() {
        let (set, clr) = MountFlags::NOATIME.to_attr(MountFlags::empty());
        assert_eq!(
            (set, clr),
            (libc::MOUNT_ATTR_NOATIME, libc::MOUNT_ATTR__ATIME)
        );
        let (set, clr) = MountFlags::RELATIME.to_attr(MountFlags::RDONLY);
        assert_eq!(
            (set, clr),
            (0, libc::MOUNT_ATTR__ATIME | libc::MOUNT_ATTR_RDONLY)
        );
    }

    proptest! {
        /// Escaping a path the way the kernel does and unescaping it gives it back.
        #[test]
        fn mountinfo_escape_round_trip(s in "[ -~\t\n]{0,40}") {
            let escaped: String = s
                .chars()
                .map(|c| match c {
                    ' ' | '\t' | '\n' | '\\' => format!("\\{:03o}", c as u32),
                    c => c.to_string(),
                })
                .collect();
            prop_assert_eq!(unescape_mountinfo(&escaped), s);
        }

        /// Normalised components never contain `..`, `.` or empty names.
        #[test]
        fn normalize_has_no_dots(parts in prop::collection::vec("\\.\\.|\\.|[a-z]{1,3}|", 0..12)) {
            let p = parts.join("/");
            for c in normalize(Path::new(&p)) {
                prop_assert!(c != ".." && c != "." && !c.is_empty(), "{p:?}");
            }
        }
    }
}
