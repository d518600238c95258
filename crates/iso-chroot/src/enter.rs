//! Getting the calling process into a root: `chroot(2)`, `pivot_root(2)`, and the `MS_MOVE`
//! fallback for roots that cannot be pivoted.
//!
//! These functions are meant to run in the child between `fork` and `exec`: on success they
//! allocate nothing (every path is a static C string, the root is a descriptor).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::sys;
use crate::{Error, Result, Root};

/// How [`enter`] switches the root.
///
/// ```
/// assert_eq!(iso_chroot::EnterMethod::default(), iso_chroot::EnterMethod::Auto);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EnterMethod {
    /// `pivot_root`, falling back to [`EnterMethod::MoveRoot`] when the kernel refuses with
    /// `EINVAL` (an initramfs/ramfs root cannot be pivoted away from).
    #[default]
    Auto,
    /// [`pivot_root`] only.
    PivotRoot,
    /// [`move_root`] only.
    MoveRoot,
    /// [`chroot`] only: no mount namespace needed, but escapable by a root process.
    Chroot,
}

/// Enters `root` with `method`. The caller should be in its own mount namespace for every
/// method but [`EnterMethod::Chroot`].
///
/// ```no_run
/// use iso_chroot::{enter, EnterMethod, Root};
/// // In a child that has called unshare(CLONE_NEWNS):
/// let root = Root::open("/srv/rootfs")?.ensure_mount_point()?;
/// enter(&root, EnterMethod::Auto)?;
/// # Ok::<(), iso_chroot::Error>(())
/// ```
pub fn enter(root: &Root, method: EnterMethod) -> Result<()> {
    if method != EnterMethod::Chroot {
        require_mount_point(root)?;
        make_tree_private()?;
    }
    enter_fd(root.as_fd(), method).map_err(|(op, e)| named(op, root, e))?;
    verify_cwd()
}

/// Changes the root directory of the calling process to `root` with `chroot(2)`, the way that
/// does not leave a door open: `fchdir` into the root first, `chroot(".")`, then `chdir("/")`,
/// and finally checks that the working directory really is the new `/`.
///
/// A chroot alone is a *jail for unprivileged processes only*: it changes where path lookups
/// start, nothing else. A process that keeps `CAP_SYS_CHROOT` can `chroot` into a
/// subdirectory while its working directory stays outside, then walk `..` up to the real root;
/// any directory descriptor opened before the chroot is a way out too, and the host's mounts
/// are all still there. Containers therefore use a mount namespace and [`pivot_root`], which
/// replaces the root *mount* and lets the old one be detached entirely. Drop `CAP_SYS_CHROOT`
/// after a chroot, and make sure no directory descriptor of the host crosses the `exec`:
/// `iso_sys::fd::cloexec_from(3)` marks every descriptor above stderr close-on-exec
/// (descriptors this crate opens, the `Root` included, are always close-on-exec).
///
/// ```no_run
/// let root = iso_chroot::Root::open("/srv/jail")?;
/// iso_chroot::chroot(&root)?;
/// assert!(std::fs::metadata("/srv/jail").is_err()); // the host is out of sight
/// # Ok::<(), iso_chroot::Error>(())
/// ```
pub fn chroot(root: &Root) -> Result<()> {
    enter(root, EnterMethod::Chroot)
}

/// Makes `root` the root mount of the calling process' mount namespace with `pivot_root(2)`
/// and detaches the old root.
///
/// Steps: make every mount private (`MS_REC|MS_PRIVATE` on `/`, so nothing that follows
/// propagates to the host, and because `pivot_root` refuses shared mounts), `fchdir` into the
/// root, `pivot_root(".", ".")` — which stacks the old root *on top of* the new one at the same
/// place, so no `put_old` directory is needed — then `umount2(".", MNT_DETACH)` removes the old
/// root from the namespace (lazily: processes that still use it keep it alive, but it can no
/// longer be reached by path), and `chdir("/")`.
///
/// `root` must be a mount point (see [`Root::ensure_mount_point`]; [`Error::Refused`]
/// otherwise). The kernel answers `EINVAL` when the current root is the initial ramfs (use
/// [`move_root`]). Needs a mount namespace of its own and `CAP_SYS_ADMIN` in it.
///
/// ```no_run
/// let root = iso_chroot::Root::open("/srv/rootfs")?.ensure_mount_point()?;
/// iso_chroot::pivot_root(&root)?;
/// # Ok::<(), iso_chroot::Error>(())
/// ```
pub fn pivot_root(root: &Root) -> Result<()> {
    enter(root, EnterMethod::PivotRoot)
}

/// Enters `root` without `pivot_root`: moves the root mount onto `/` with `MS_MOVE`, then
/// `chroot(".")`. This is what works from an initramfs (whose rootfs can never be unmounted or
/// pivoted away from). The old root stays mounted underneath, hidden, and the chroot caveats of
/// [`chroot`] apply; prefer [`pivot_root`] when possible.
///
/// ```no_run
/// let root = iso_chroot::Root::open("/newroot")?.ensure_mount_point()?;
/// iso_chroot::move_root(&root)?;
/// # Ok::<(), iso_chroot::Error>(())
/// ```
pub fn move_root(root: &Root) -> Result<()> {
    enter(root, EnterMethod::MoveRoot)
}

/// A failed system call of the allocation-free steps below: the operation and the errno.
pub(crate) type RawFailure = (&'static str, std::io::Error);

/// The error for a failed raw step, naming the path it was applied to.
fn named(op: &'static str, root: &Root, e: std::io::Error) -> Error {
    match op {
        "chdir" => Error::sys(op, "/", e),
        "umount2(MNT_DETACH)" => Error::sys(op, "old root", e),
        _ => Error::sys(op, root.path(), e),
    }
}

/// [`chroot`] on a descriptor, without the final check; allocates nothing.
pub(crate) fn chroot_fd(root: BorrowedFd<'_>) -> std::result::Result<(), RawFailure> {
    sys::fchdir(root).map_err(|e| ("fchdir", e))?;
    sys::chroot(c".").map_err(|e| ("chroot", e))?;
    sys::chdir(c"/").map_err(|e| ("chdir", e))
}

/// [`pivot_root`] on a descriptor of a mount point, in a private tree, without the final
/// check; allocates nothing.
pub(crate) fn pivot_root_fd(root: BorrowedFd<'_>) -> std::result::Result<(), RawFailure> {
    sys::fchdir(root).map_err(|e| ("fchdir", e))?;
    sys::pivot_root(c".", c".").map_err(|e| ("pivot_root", e))?;
    // The old root is now mounted on ".", on top of the new one: detach it.
    sys::umount2(c".", libc::MNT_DETACH).map_err(|e| ("umount2(MNT_DETACH)", e))?;
    sys::chdir(c"/").map_err(|e| ("chdir", e))
}

/// [`move_root`] on a descriptor of a mount point, in a private tree, without the final
/// check; allocates nothing.
pub(crate) fn move_root_fd(root: BorrowedFd<'_>) -> std::result::Result<(), RawFailure> {
    sys::fchdir(root).map_err(|e| ("fchdir", e))?;
    sys::mount(Some(c"."), c"/", None, libc::MS_MOVE, None).map_err(|e| ("mount(MS_MOVE)", e))?;
    sys::chroot(c".").map_err(|e| ("chroot", e))?;
    sys::chdir(c"/").map_err(|e| ("chdir", e))
}

/// [`enter`] on a descriptor (a mount point unless `method` is chroot), in a private tree,
/// without the final check; allocates nothing.
pub(crate) fn enter_fd(
    root: BorrowedFd<'_>,
    method: EnterMethod,
) -> std::result::Result<(), RawFailure> {
    match method {
        EnterMethod::Chroot => chroot_fd(root),
        EnterMethod::PivotRoot => pivot_root_fd(root),
        EnterMethod::MoveRoot => move_root_fd(root),
        EnterMethod::Auto => match pivot_root_fd(root) {
            Err((_, e)) if e.raw_os_error() == Some(libc::EINVAL) => move_root_fd(root),
            other => other,
        },
    }
}

fn require_mount_point(root: &Root) -> Result<()> {
    match is_mount_root(root.as_fd()) {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::refused(
            root.path(),
            "the new root is not a mount point (see Root::ensure_mount_point)",
        )),
        Err(e) => Err(Error::sys("statx", root.path(), e)),
    }
}

fn make_tree_private() -> Result<()> {
    make_tree_private_raw().map_err(|(op, e)| Error::sys(op, "/", e))
}

/// Makes every mount of the caller's namespace private; allocates nothing.
pub(crate) fn make_tree_private_raw() -> std::result::Result<(), RawFailure> {
    sys::mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None)
        .map_err(|e| ("mount(MS_REC|MS_PRIVATE)", e))
}

/// Fails unless the working directory is the root of the process' root directory
/// (CVE-2024-21626: a working directory left outside the root is an escape).
///
/// ```
/// // Whatever the test harness' cwd, this reports it as an error or Ok.
/// let _ = iso_chroot::verify_cwd();
/// ```
pub fn verify_cwd() -> Result<()> {
    match sys::cwd_is_root() {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::refused(
            ".",
            "the working directory is not the new root",
        )),
        Err(e) => Err(Error::sys("getcwd", ".", e)),
    }
}

impl Root {
    /// Returns a root that is a mount point, as `pivot_root` requires: `self` if the directory
    /// already is the root of a mount, otherwise a recursive bind mount of it onto itself
    /// (made through descriptors: `open_tree` + `move_mount`). Needs a mount namespace.
    ///
    /// ```no_run
    /// let root = iso_chroot::Root::open("/srv/rootfs")?.ensure_mount_point()?;
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn ensure_mount_point(self) -> Result<Root> {
        if is_mount_root(self.as_fd()).map_err(|e| Error::sys("statx", self.path(), e))? {
            return Ok(self);
        }
        self.rebind()
    }
}

impl Root {
    /// A recursive bind mount of the root onto itself, made in the caller's mount namespace,
    /// even when the directory already is a mount point. A mount the namespace inherited
    /// from one owned by a more privileged user namespace is locked, and the kernel refuses
    /// to `pivot_root` to it or `MS_MOVE` it (`EINVAL`); the fresh bind is not locked.
    ///
    /// ```no_run
    /// // In a child that has its own user and mount namespaces:
    /// let root = iso_chroot::Root::open("/srv/rootfs")?.rebind()?;
    /// iso_chroot::pivot_root(&root)?;
    /// # Ok::<(), iso_chroot::Error>(())
    /// ```
    pub fn rebind(self) -> Result<Root> {
        let fd =
            bind_onto_itself(self.as_fd()).map_err(|(op, e)| Error::sys(op, self.path(), e))?;
        Ok(Root::from_fd(fd, self.path().to_path_buf()).with_resolver(self.resolver()))
    }
}

/// Bind-mounts the directory `dir` (recursively) onto itself and returns a descriptor of the
/// new mount's root; allocates nothing.
pub(crate) fn bind_onto_itself(dir: BorrowedFd<'_>) -> std::result::Result<OwnedFd, RawFailure> {
    let flags = libc::OPEN_TREE_CLONE
        | libc::OPEN_TREE_CLOEXEC
        | libc::AT_EMPTY_PATH as u32
        | libc::AT_RECURSIVE as u32;
    let tree = sys::open_tree(dir, c"", flags).map_err(|e| ("open_tree", e))?;
    sys::move_mount_fds(tree.as_fd(), dir).map_err(|e| ("move_mount", e))?;
    // The tree descriptor now refers to the root of the attached bind mount.
    Ok(tree)
}

/// Whether `fd` is the root directory of a mount (statx `STATX_ATTR_MOUNT_ROOT`, Linux 5.8).
///
/// ```
/// use std::os::fd::AsFd;
/// let proc_dir = std::fs::File::open("/proc")?;
/// assert!(iso_chroot::is_mount_root(proc_dir.as_fd())?);
/// let proc_sys_kernel = std::fs::File::open("/proc/sys/kernel")?;
/// assert!(!iso_chroot::is_mount_root(proc_sys_kernel.as_fd())?);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn is_mount_root(fd: BorrowedFd<'_>) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: statx is plain data; all-zero is valid.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: the empty path is NUL-terminated, fd valid, stx a valid out-pointer.
    let ret = unsafe {
        libc::statx(
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            0,
            &mut stx,
        )
    };
    if ret < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let bit = libc::STATX_ATTR_MOUNT_ROOT as u64;
    if stx.stx_attributes_mask & bit != 0 {
        return Ok(stx.stx_attributes & bit != 0);
    }
    // Before Linux 5.8: a mount root is on another device or mount than its parent, or is its
    // own parent (the root of the namespace).
    let parent = sys::openat(fd, "..".as_ref(), libc::O_PATH | libc::O_DIRECTORY, 0)?;
    let (me, up) = (sys::fstat(fd)?, sys::fstat(parent.as_fd())?);
    if me.st_dev != up.st_dev || me.st_ino == up.st_ino {
        return Ok(true);
    }
    let id = |f| crate::mount::mount_id(f).map_err(std::io::Error::other);
    Ok(id(fd)? != id(parent.as_fd())?)
}
