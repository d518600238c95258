//! A root prepared before `fork` and built in the child without allocating.
//!
//! A jail that starts a program with `fork` + `execve` has to build the program's root in
//! the child, after the child has its own mount namespace, and the child of a multi-threaded
//! parent may only do async-signal-safe work: no allocation. [`PreparedRoot`] therefore does
//! every check and every allocation (C strings, mount attributes) up front, and
//! [`PreparedRoot::apply`] only makes system calls on prepared data.

use std::ffi::CString;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use iso_sys::{openat2_cstr, Resolve};

use crate::enter::{bind_onto_itself, enter_fd, is_mount_root, make_tree_private_raw, RawFailure};
use crate::mount::cpath;
use crate::{sys, EnterMethod, Error, MountFlags, Result};

/// Which part of [`PreparedRoot::apply`] failed ([`Error::Apply`]).
///
/// ```
/// assert_eq!(iso_chroot::ApplyStage::Mount(2).to_string(), "mount #2");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApplyStage {
    /// Opening the root directory by its path.
    OpenRoot,
    /// Making the mount tree private, or bind-mounting the root onto itself for
    /// `pivot_root`.
    PrepareTree,
    /// The mount with this index, in the order the mounts were added.
    Mount(usize),
    /// Switching to the root (`chroot`, `pivot_root` or `MS_MOVE`).
    Enter,
    /// Changing to the working directory inside the new root.
    Workdir,
}

impl fmt::Display for ApplyStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApplyStage::OpenRoot => f.write_str("opening the root"),
            ApplyStage::PrepareTree => f.write_str("preparing the mount tree"),
            ApplyStage::Mount(i) => write!(f, "mount #{i}"),
            ApplyStage::Enter => f.write_str("entering the root"),
            ApplyStage::Workdir => f.write_str("changing the working directory"),
        }
    }
}

#[derive(Debug)]
enum PreparedKind {
    /// A recursive bind mount of this host path.
    Bind(CString),
    /// A new procfs instance, `hidepid=invisible`.
    Proc,
}

#[derive(Debug)]
struct PreparedMount {
    kind: PreparedKind,
    /// Relative to the root ("." for the root itself).
    destination: CString,
    /// `mount_setattr` (set, clear), applied recursively to the detached tree.
    attr: (u64, u64),
}

/// A root directory, the mounts to make in it, how to enter it and the working directory,
/// checked and turned into C strings before a `fork`, so that the child builds and enters it
/// with [`apply`](PreparedRoot::apply) without allocating.
///
/// Paths are checked while preparing (the root and every destination must exist inside the
/// root with no symbolic link on the way) and used again in the child; the child resolves
/// each destination beneath the root it opened, still refusing symlinks, and attaches each
/// mount on that descriptor. Mounts are made with the new mount API (Linux 5.12): a bind is
/// cloned with `open_tree`, its flags set recursively with `mount_setattr` while it is still
/// detached, then attached with `move_mount`.
///
/// ```no_run
/// use iso_chroot::{EnterMethod, MountFlags, PreparedRoot};
///
/// // Before the fork:
/// let root = PreparedRoot::new("/srv/pool", EnterMethod::PivotRoot)?
///     .bind("/usr", "/usr", MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV)?
///     .mount_proc("/proc")?
///     .workdir("/tmp")?;
/// // In the child, after unshare(CLONE_NEWNS) (root.needs_mount_namespace() is true):
/// root.apply()?;
/// # Ok::<(), iso_chroot::Error>(())
/// ```
#[derive(Debug)]
pub struct PreparedRoot {
    path: PathBuf,
    root: CString,
    method: EnterMethod,
    mounts: Vec<PreparedMount>,
    workdir: Option<CString>,
}

impl PreparedRoot {
    /// Prepares entering the directory `root` (an absolute host path without symlinks) with
    /// `method`.
    ///
    /// ```
    /// use iso_chroot::{EnterMethod, PreparedRoot};
    /// assert!(PreparedRoot::new("/tmp", EnterMethod::Chroot).is_ok());
    /// let err = PreparedRoot::new("/nonexistent-iso-root", EnterMethod::Chroot).unwrap_err();
    /// assert_eq!(err.errno(), Some(libc::ENOENT));
    /// ```
    pub fn new(root: impl AsRef<Path>, method: EnterMethod) -> Result<PreparedRoot> {
        let path = root.as_ref();
        check_beneath(None, "root", path, libc::O_DIRECTORY)?;
        Ok(PreparedRoot {
            path: path.to_path_buf(),
            root: cpath(path, "root")?,
            method,
            mounts: Vec::new(),
            workdir: None,
        })
    }

    /// Adds a recursive bind mount of the host path `source` onto `destination` inside the
    /// root (an existing directory, or file for a file), with `flags` set on every mount of
    /// the bound tree (`RDONLY` makes it recursively read-only).
    ///
    /// ```
    /// use iso_chroot::{EnterMethod, MountFlags, PreparedRoot};
    /// let dir = std::env::temp_dir().join(format!("iso-doc-bind-{}", std::process::id()));
    /// std::fs::create_dir_all(dir.join("usr"))?;
    /// let root = PreparedRoot::new(&dir, EnterMethod::Chroot)?;
    /// assert!(root.bind("/usr", "/usr", MountFlags::RDONLY)?.needs_mount_namespace());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bind(
        mut self,
        source: impl AsRef<Path>,
        destination: impl AsRef<Path>,
        flags: MountFlags,
    ) -> Result<PreparedRoot> {
        let source = source.as_ref();
        if !source.is_absolute() {
            return Err(invalid("bind source", source, "is not absolute"));
        }
        std::fs::metadata(source).map_err(|e| Error::sys("stat", source, e))?;
        let destination = self.destination("bind destination", destination.as_ref(), 0)?;
        self.mounts.push(PreparedMount {
            kind: PreparedKind::Bind(cpath(source, "bind source")?),
            destination,
            attr: flags.to_attr(MountFlags::empty()),
        });
        Ok(self)
    }

    /// Adds a new procfs instance on `destination` (an existing directory inside the root),
    /// `nosuid,nodev,noexec` and `hidepid=invisible`: the processes of other users are not
    /// even listed. Without a new PID namespace it shows the host's processes (those the
    /// caller may see).
    ///
    /// ```
    /// use iso_chroot::{EnterMethod, PreparedRoot};
    /// let root = PreparedRoot::new("/", EnterMethod::PivotRoot)?.mount_proc("/proc")?;
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn mount_proc(mut self, destination: impl AsRef<Path>) -> Result<PreparedRoot> {
        let destination = self.destination("proc", destination.as_ref(), libc::O_DIRECTORY)?;
        let flags = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
        self.mounts.push(PreparedMount {
            kind: PreparedKind::Proc,
            destination,
            attr: flags.to_attr(MountFlags::empty()),
        });
        Ok(self)
    }

    /// Changes to `dir` (absolute, inside the new root) after entering it. Checked now
    /// unless a mount added before could provide it.
    ///
    /// ```
    /// use iso_chroot::{EnterMethod, PreparedRoot};
    /// let root = PreparedRoot::new("/", EnterMethod::Chroot)?.workdir("/tmp")?;
    /// assert!(PreparedRoot::new("/", EnterMethod::Chroot)?.workdir("tmp").is_err());
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn workdir(mut self, dir: impl AsRef<Path>) -> Result<PreparedRoot> {
        let dir = dir.as_ref();
        if self.mounts.is_empty() {
            self.destination("workdir", dir, libc::O_DIRECTORY)?;
        } else if !dir.is_absolute() {
            return Err(invalid("workdir", dir, "is not absolute"));
        }
        self.workdir = Some(cpath(dir, "workdir")?);
        Ok(self)
    }

    /// The root directory, as given.
    ///
    /// ```
    /// use iso_chroot::{EnterMethod, PreparedRoot};
    /// let root = PreparedRoot::new("/tmp", EnterMethod::Chroot)?;
    /// assert_eq!(root.path(), std::path::Path::new("/tmp"));
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether [`apply`](PreparedRoot::apply) must run in a mount namespace of its own:
    /// true for every method but chroot, and whenever there are mounts. `apply` makes that
    /// namespace's tree private; in the host's namespace it would change the host.
    ///
    /// ```
    /// use iso_chroot::{EnterMethod, PreparedRoot};
    /// assert!(!PreparedRoot::new("/tmp", EnterMethod::Chroot)?.needs_mount_namespace());
    /// assert!(PreparedRoot::new("/tmp", EnterMethod::PivotRoot)?.needs_mount_namespace());
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn needs_mount_namespace(&self) -> bool {
        self.method != EnterMethod::Chroot || !self.mounts.is_empty()
    }

    /// Builds and enters the root, allocating nothing (so a child may call it between `fork`
    /// and `execve`): opens the root by its path, makes the mount tree private and, for
    /// `pivot_root`, the root a mount point (when [`needs_mount_namespace`]), makes each
    /// mount in order, enters the root, checks that the working directory is the new `/`,
    /// and changes to the working directory. An error is [`Error::Apply`], naming the stage
    /// and the system call.
    ///
    /// [`needs_mount_namespace`]: PreparedRoot::needs_mount_namespace
    ///
    /// ```no_run
    /// use iso_chroot::{EnterMethod, PreparedRoot};
    /// let root = PreparedRoot::new("/srv/jail", EnterMethod::Chroot)?;
    /// // In the child:
    /// root.apply()?;
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn apply(&self) -> Result<()> {
        let at =
            |stage: ApplyStage| move |(op, source): RawFailure| Error::Apply { stage, op, source };
        let cwd = sys::cwd().map_err(|e| at(ApplyStage::OpenRoot)(("open", e)))?;
        // An absolute path: RESOLVE_BENEATH would refuse it, the symlink rules still hold.
        let mut root = openat2_cstr(
            cwd,
            &self.root,
            libc::O_PATH | libc::O_DIRECTORY,
            0,
            Resolve::NO_SYMLINKS | Resolve::NO_MAGICLINKS,
        )
        .map_err(|e| at(ApplyStage::OpenRoot)(("openat2(RESOLVE_NO_SYMLINKS)", e)))?;
        if self.needs_mount_namespace() {
            make_tree_private_raw().map_err(at(ApplyStage::PrepareTree))?;
        }
        if self.method != EnterMethod::Chroot {
            // statx(STATX_ATTR_MOUNT_ROOT) allocates nothing (the fallback for kernels
            // before 5.8 would, and the new mount API needs 5.12 anyway).
            let is_mount = is_mount_root(root.as_fd())
                .map_err(|e| at(ApplyStage::PrepareTree)(("statx", e)))?;
            if !is_mount {
                root = bind_onto_itself(root.as_fd()).map_err(at(ApplyStage::PrepareTree))?;
            }
        }
        for (i, m) in self.mounts.iter().enumerate() {
            attach(root.as_fd(), m).map_err(at(ApplyStage::Mount(i)))?;
        }
        enter_fd(root.as_fd(), self.method).map_err(at(ApplyStage::Enter))?;
        match sys::cwd_is_root() {
            Ok(true) => {}
            Ok(false) => {
                let e = io::Error::from_raw_os_error(libc::EPERM);
                return Err(at(ApplyStage::Enter)(("getcwd: not the new root", e)));
            }
            Err(e) => return Err(at(ApplyStage::Enter)(("getcwd", e))),
        }
        if let Some(dir) = &self.workdir {
            sys::chdir(dir).map_err(|e| at(ApplyStage::Workdir)(("chdir", e)))?;
        }
        Ok(())
    }

    /// Checks `path` (absolute) inside the root, with extra open `flags`, and returns it
    /// relative to the root.
    fn destination(&self, field: &'static str, path: &Path, flags: i32) -> Result<CString> {
        if !path.is_absolute() || path.components().any(|c| c == Component::ParentDir) {
            return Err(invalid(field, path, "is not an absolute path without .."));
        }
        let root = check_beneath(None, "root", &self.path, libc::O_DIRECTORY)?;
        check_beneath(Some(root.as_fd()), field, path, flags)?;
        cpath(&relative(path), field)
    }
}

/// Makes one prepared mount and attaches it on its destination beneath `root`.
fn attach(root: BorrowedFd<'_>, m: &PreparedMount) -> std::result::Result<(), RawFailure> {
    let cwd = sys::cwd().map_err(|e| ("open", e))?;
    let tree = match &m.kind {
        PreparedKind::Bind(source) => {
            let flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | libc::AT_RECURSIVE as u32;
            sys::open_tree(cwd, source, flags).map_err(|e| ("open_tree", e))?
        }
        PreparedKind::Proc => {
            let fs = sys::fsopen(c"proc").map_err(|e| ("fsopen(proc)", e))?;
            sys::fsconfig(
                fs.as_fd(),
                libc::FSCONFIG_SET_STRING,
                Some(c"hidepid"),
                Some(c"invisible"),
            )
            .map_err(|e| ("fsconfig(hidepid=invisible)", e))?;
            sys::fsconfig(fs.as_fd(), libc::FSCONFIG_CMD_CREATE, None, None)
                .map_err(|e| ("fsconfig(create)", e))?;
            sys::fsmount(fs.as_fd(), 0).map_err(|e| ("fsmount", e))?
        }
    };
    let (set, clr) = m.attr;
    if set != 0 || clr != 0 {
        // While the tree is detached, nothing can use it before its flags are on.
        sys::mount_setattr(tree.as_fd(), true, set, clr, 0)
            .map_err(|e| ("mount_setattr(AT_RECURSIVE)", e))?;
    }
    let target = open_beneath(root, &m.destination, 0)?;
    sys::move_mount_fds(tree.as_fd(), target.as_fd()).map_err(|e| ("move_mount", e))
}

/// Opens `path` as an `O_PATH` descriptor beneath `dir`, refusing symlinks.
fn open_beneath(
    dir: BorrowedFd<'_>,
    path: &std::ffi::CStr,
    flags: i32,
) -> std::result::Result<OwnedFd, RawFailure> {
    openat2_cstr(
        dir,
        path,
        libc::O_PATH | flags,
        0,
        Resolve::BENEATH | Resolve::NO_SYMLINKS | Resolve::NO_MAGICLINKS,
    )
    .map_err(|e| ("openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS)", e))
}

/// Opens `path` (absolute) while preparing, beneath `root` when given (else beneath `/`),
/// refusing symlinks: that it exists as named is what the child relies on.
fn check_beneath(
    root: Option<BorrowedFd<'_>>,
    field: &'static str,
    path: &Path,
    flags: i32,
) -> Result<OwnedFd> {
    if !path.is_absolute() {
        return Err(invalid(field, path, "is not absolute"));
    }
    let slash;
    let dir = match root {
        Some(fd) => fd,
        None => {
            slash = std::fs::File::open("/").map_err(|e| Error::sys("open", "/", e))?;
            slash.as_fd()
        }
    };
    let c = cpath(&relative(path), field)?;
    open_beneath(dir, &c, flags).map_err(|(op, e)| Error::sys(op, path, e))
}

/// `path` without its leading `/` ("." for the root itself).
fn relative(path: &Path) -> PathBuf {
    let rel = path.strip_prefix("/").unwrap_or(path);
    if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel.to_path_buf()
    }
}

fn invalid(field: &'static str, path: &Path, what: &str) -> Error {
    Error::Invalid {
        field,
        reason: format!("{} {what}", path.display()),
    }
}
