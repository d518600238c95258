//! Leaving namespaces (`unshare`) and entering existing ones (`setns`).

use std::ffi::CString;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use iso_sys::procfs::{check_fs_magic, ProcRoot, NSFS_MAGIC};
use iso_sys::{Pid, ProcPid};

use crate::{Error, Namespace, NamespaceSet, Result};

/// `NS_GET_USERNS` from `<linux/nsfs.h>`: `_IO(0xb7, 0x1)`.
const NS_GET_USERNS: libc::c_ulong = 0xb701;
/// `NS_GET_NSTYPE` from `<linux/nsfs.h>`: `_IO(0xb7, 0x3)`.
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;

/// Moves the calling process into new namespaces of the kinds in `set` (`unshare(2)`).
///
/// For [`Namespace::Pid`] and [`Namespace::Time`] the caller itself stays where it is: only
/// the children it creates afterwards are born in the new namespace (and, for time, the
/// caller after its next `execve`). [`Namespace::User`] requires a single-threaded caller
/// (`EINVAL` otherwise); everything except a user namespace needs `CAP_SYS_ADMIN` in the
/// caller's user namespace, so unprivileged callers put [`Namespace::User`] in the same set.
///
/// ```no_run
/// use iso_ns::{unshare, Namespace, NamespaceSet};
/// // A private hostname and network stack for this process from now on.
/// unshare(NamespaceSet::from([Namespace::Uts, Namespace::Net]))?;
/// # Ok::<(), iso_ns::Error>(())
/// ```
pub fn unshare(set: NamespaceSet) -> Result<()> {
    // SAFETY: unshare only changes the calling process' namespace membership.
    if unsafe { libc::unshare(set.clone_flags()) } < 0 {
        return Err(Error::syscall("unshare", set, io::Error::last_os_error()));
    }
    Ok(())
}

/// The identity of a namespace: the device and inode of its nsfs file. Two handles refer to
/// the same namespace exactly when their ids are equal.
///
/// ```no_run
/// use iso_ns::{Namespace, NsFd};
/// let a = NsFd::of_process(iso_sys::ProcPid::SelfPid, Namespace::Net)?;
/// let b = NsFd::open("/proc/1/ns/net")?;
/// println!("same net namespace as init: {}", a.id()? == b.id()?);
/// # Ok::<(), iso_ns::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NsId {
    /// The device of the nsfs.
    pub dev: u64,
    /// The inode number, as shown in `/proc/PID/ns/net -> net:[4026531840]`.
    pub ino: u64,
}

impl fmt::Display for NsId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.ino)
    }
}

/// An open namespace file whose kind has been verified with the kernel: it is on nsfs and
/// `ioctl(NS_GET_NSTYPE)` reported the kind stored here.
///
/// Opening the handle first and joining later is the safe order: the namespace cannot be
/// swapped between the check and the `setns(2)`, and a process that has exited keeps its
/// namespace alive as long as the handle is open.
///
/// ```no_run
/// use iso_ns::{Namespace, NsFd};
/// let net = NsFd::open_kind("/run/netns/blue", Namespace::Net)?;
/// net.enter()?; // this thread now uses the "blue" network namespace
/// # Ok::<(), iso_ns::Error>(())
/// ```
#[derive(Debug)]
pub struct NsFd {
    fd: OwnedFd,
    kind: Namespace,
    origin: PathBuf,
}

impl NsFd {
    /// Opens a namespace file by path (`/proc/PID/ns/net`, a bind mount such as
    /// `/run/netns/NAME`) and verifies it. Symlinks are followed: `/proc/PID/ns/*` entries
    /// are links by design; what counts is what the opened descriptor is.
    ///
    /// ```no_run
    /// let ns = iso_ns::NsFd::open("/proc/1/ns/uts")?;
    /// assert_eq!(ns.kind(), iso_ns::Namespace::Uts);
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<NsFd> {
        let path = path.as_ref();
        let cpath = CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::InvalidValue {
            field: "namespace path",
            reason: "contains a NUL byte".into(),
        })?;
        // SAFETY: cpath is NUL-terminated; opening read-only has no side effects on nsfs.
        let raw = unsafe { libc::open(cpath.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if raw < 0 {
            return Err(Error::io("open", path, io::Error::last_os_error()));
        }
        // SAFETY: a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Self::verify(fd, path.to_path_buf())
    }

    /// Like [`NsFd::open`], and fails with [`Error::WrongNamespaceKind`] unless the file is
    /// a namespace of kind `expected`.
    ///
    /// ```no_run
    /// use iso_ns::{Error, Namespace, NsFd};
    /// let err = NsFd::open_kind("/proc/self/ns/uts", Namespace::Net).unwrap_err();
    /// assert!(matches!(err, Error::WrongNamespaceKind { .. }));
    /// ```
    pub fn open_kind(path: impl AsRef<Path>, expected: Namespace) -> Result<NsFd> {
        Self::open(path)?.expect_kind(expected)
    }

    /// Opens namespace `kind` of process `pid` through a verified `/proc`
    /// ([`ProcRoot`]), so that a fake `/proc` cannot hand over another namespace.
    ///
    /// ```no_run
    /// use iso_ns::{Namespace, NsFd};
    /// use iso_sys::ProcPid;
    /// let mine = NsFd::of_process(ProcPid::SelfPid, Namespace::Mount)?;
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn of_process(pid: ProcPid, kind: Namespace) -> Result<NsFd> {
        Self::of_process_in(&ProcRoot::open()?, pid, kind)
    }

    /// Like [`NsFd::of_process`] with an already opened [`ProcRoot`].
    ///
    /// ```no_run
    /// use iso_ns::{Namespace, NsFd};
    /// let proc_root = iso_sys::procfs::ProcRoot::open()?;
    /// let net = NsFd::of_process_in(&proc_root, iso_sys::ProcPid::SelfPid, Namespace::Net)?;
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn of_process_in(proc_root: &ProcRoot, pid: ProcPid, kind: Namespace) -> Result<NsFd> {
        Self::open_proc_entry(proc_root, pid, kind, kind.proc_name())
    }

    /// The namespace the *next children* of `pid` will be born in: `pid_for_children` or
    /// `time_for_children`; for other kinds the same as [`NsFd::of_process_in`].
    ///
    /// ```no_run
    /// use iso_ns::{Namespace, NsFd};
    /// let proc_root = iso_sys::procfs::ProcRoot::open()?;
    /// let next = NsFd::for_children_of(&proc_root, iso_sys::ProcPid::SelfPid, Namespace::Pid)?;
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn for_children_of(proc_root: &ProcRoot, pid: ProcPid, kind: Namespace) -> Result<NsFd> {
        let name = kind.for_children_name().unwrap_or(kind.proc_name());
        Self::open_proc_entry(proc_root, pid, kind, name)
    }

    fn open_proc_entry(
        proc_root: &ProcRoot,
        pid: ProcPid,
        kind: Namespace,
        name: &str,
    ) -> Result<NsFd> {
        let fd = proc_root.open_namespace(pid, name)?;
        let origin = PathBuf::from(format!("/proc/{}/ns/{name}", pid.dir_name()));
        Self::verify(fd, origin)?.expect_kind(kind)
    }

    /// Verifies a descriptor obtained elsewhere (received over a socket, inherited). `origin`
    /// only names it in errors.
    ///
    /// ```no_run
    /// let file = std::fs::File::open("/proc/self/ns/ipc")?;
    /// let ns = iso_ns::NsFd::from_fd(file.into(), "inherited")?;
    /// assert_eq!(ns.kind(), iso_ns::Namespace::Ipc);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_fd(fd: OwnedFd, origin: impl Into<PathBuf>) -> Result<NsFd> {
        Self::verify(fd, origin.into())
    }

    fn verify(fd: OwnedFd, origin: PathBuf) -> Result<NsFd> {
        if let Err(e) = check_fs_magic(fd.as_fd(), NSFS_MAGIC, "nsfs", &origin) {
            return Err(match e {
                iso_sys::Error::Unexpected { reason, .. } => Error::NotANamespace {
                    path: origin,
                    reason,
                },
                other => Error::Sys(other),
            });
        }
        // SAFETY: NS_GET_NSTYPE takes no argument and only reports the namespace type.
        let ty = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE) };
        if ty < 0 {
            return Err(Error::io(
                "ioctl(NS_GET_NSTYPE)",
                origin,
                io::Error::last_os_error(),
            ));
        }
        let kind = Namespace::from_clone_flag(ty).ok_or_else(|| Error::NotANamespace {
            path: origin.clone(),
            reason: format!("unknown namespace type {ty:#x}"),
        })?;
        Ok(NsFd { fd, kind, origin })
    }

    fn expect_kind(self, expected: Namespace) -> Result<NsFd> {
        if self.kind != expected {
            return Err(Error::WrongNamespaceKind {
                path: self.origin,
                expected,
                found: self.kind,
            });
        }
        Ok(self)
    }

    /// The kind of namespace, as the kernel reported it.
    ///
    /// ```
    /// let ns = iso_ns::NsFd::open("/proc/self/ns/net")?;
    /// assert_eq!(ns.kind(), iso_ns::Namespace::Net);
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn kind(&self) -> Namespace {
        self.kind
    }

    /// Where the handle came from (for messages).
    ///
    /// ```
    /// let ns = iso_ns::NsFd::open("/proc/self/ns/net")?;
    /// assert_eq!(ns.origin(), std::path::Path::new("/proc/self/ns/net"));
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn origin(&self) -> &Path {
        &self.origin
    }

    /// The namespace's identity (nsfs device and inode).
    ///
    /// ```
    /// let a = iso_ns::NsFd::open("/proc/self/ns/uts")?;
    /// let b = iso_ns::NsFd::open("/proc/thread-self/ns/uts")?;
    /// assert_eq!(a.id()?, b.id()?);
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn id(&self) -> Result<NsId> {
        // SAFETY: stat is plain data; all-zero is a valid value.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fd is valid and st a valid out-pointer.
        if unsafe { libc::fstat(self.fd.as_raw_fd(), &mut st) } < 0 {
            return Err(Error::io("fstat", &self.origin, io::Error::last_os_error()));
        }
        Ok(NsId {
            dev: st.st_dev,
            ino: st.st_ino,
        })
    }

    /// The user namespace that owns this namespace (`ioctl(NS_GET_USERNS)`); for a user
    /// namespace, its parent. Fails with `EPERM` when the owner lies outside the caller's
    /// own user namespace tree.
    ///
    /// ```no_run
    /// use iso_ns::{Namespace, NsFd};
    /// let net = NsFd::of_process(iso_sys::ProcPid::SelfPid, Namespace::Net)?;
    /// let owner = net.owner()?;
    /// assert_eq!(owner.kind(), Namespace::User);
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn owner(&self) -> Result<NsFd> {
        // SAFETY: NS_GET_USERNS takes no argument and returns a new descriptor or -1.
        let raw = unsafe { libc::ioctl(self.fd.as_raw_fd(), NS_GET_USERNS) };
        if raw < 0 {
            return Err(Error::io(
                "ioctl(NS_GET_USERNS)",
                &self.origin,
                io::Error::last_os_error(),
            ));
        }
        // SAFETY: a new descriptor (opened close-on-exec by the kernel) owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let origin = self.origin.join("owner");
        Self::verify(fd, origin)?.expect_kind(Namespace::User)
    }

    /// Moves the calling thread into this namespace (`setns(2)`). For PID and time
    /// namespaces only future children are affected.
    ///
    /// Requires `CAP_SYS_ADMIN` in the namespace's owning user namespace (and, for a mount
    /// namespace, `CAP_SYS_CHROOT` in the caller's own); user and mount namespaces can only
    /// be entered by a single-threaded process.
    ///
    /// ```no_run
    /// let net = iso_ns::NsFd::open_kind("/proc/1/ns/net", iso_ns::Namespace::Net)?;
    /// net.enter()?;
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn enter(&self) -> Result<()> {
        setns_raw(self.fd.as_fd(), self.kind.clone_flag()).map_err(|e| Error::Syscall {
            op: "setns",
            namespaces: format!("{} from {}", self.kind, self.origin.display()),
            source: e,
        })
    }
}

impl AsFd for NsFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl From<NsFd> for OwnedFd {
    fn from(ns: NsFd) -> OwnedFd {
        ns.fd
    }
}

fn setns_raw(fd: BorrowedFd<'_>, nstype: i32) -> io::Result<()> {
    // SAFETY: setns only changes the calling thread's namespace membership.
    if unsafe { libc::setns(fd.as_raw_fd(), nstype) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Opens a pidfd for `pid` (`pidfd_open(2)`, Linux 5.3): a handle that keeps referring to
/// that very process, even after its pid is reused.
///
/// ```no_run
/// let me = iso_ns::pidfd_open(iso_sys::Pid::this())?;
/// # Ok::<(), iso_ns::Error>(())
/// ```
pub fn pidfd_open(pid: Pid) -> Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if raw < 0 {
        return Err(Error::io(
            "pidfd_open",
            format!("/proc/{pid}"),
            io::Error::last_os_error(),
        ));
    }
    // SAFETY: a new descriptor (close-on-exec by default for pidfds) owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(raw as i32) })
}

/// Moves the calling process into several namespaces of the process behind `pidfd` in one
/// atomic step (`setns(2)` with a pidfd, Linux 5.8): either all of `set` is joined or none.
///
/// The kernel itself orders the steps (user namespace first) and checks every permission
/// against the credentials the caller will have, so this is the preferred way to join a
/// running container. If `set` contains [`Namespace::User`] and the caller is already in
/// that user namespace, the kernel skips it.
///
/// ```no_run
/// use iso_ns::{pidfd_open, setns_pidfd, Namespace, NamespaceSet};
/// let target = iso_sys::Pid::from_raw(4242).unwrap();
/// let pidfd = pidfd_open(target)?;
/// setns_pidfd(&pidfd, NamespaceSet::from([Namespace::Net, Namespace::Uts]))?;
/// # Ok::<(), iso_ns::Error>(())
/// ```
pub fn setns_pidfd(pidfd: impl AsFd, set: NamespaceSet) -> Result<()> {
    setns_raw(pidfd.as_fd(), set.clone_flags()).map_err(|e| Error::syscall("setns(pidfd)", set, e))
}

/// Joins several namespaces given as verified handles, in an order that works, and skips
/// the ones the caller is already in.
///
/// The rule, and why:
///
/// 1. **Namespaces not owned by the target user namespace come first.** Once a process
///    enters a user namespace it holds capabilities only there and in its descendants. A
///    namespace owned elsewhere (the host's network namespace, say) can only be joined
///    while the caller still has its original credentials.
/// 2. **Then the user namespace.** Entering it grants the full capability set in it, which
///    is what an unprivileged caller needs to join the rest.
/// 3. **Then the namespaces it owns** (the usual container case): permitted now, because
///    `setns` checks `CAP_SYS_ADMIN` in the namespace's owner.
///
/// Within each group the mount namespace goes last: entering it resets the root and working
/// directory, which nothing else should see half-way. PID and time namespaces only take
/// effect for children (for time: also at the next `execve`).
///
/// Joining the user namespace the caller is already in is an error for the kernel
/// (`EINVAL`), so every handle is compared with the caller's own namespace first and
/// skipped when equal. Two handles of the same kind are refused.
///
/// ```no_run
/// use iso_ns::{join, Namespace, NsFd};
/// use iso_sys::{Pid, ProcPid};
/// let target = ProcPid::Pid(Pid::from_raw(4242).unwrap());
/// let handles: Vec<NsFd> = [Namespace::User, Namespace::Mount, Namespace::Net]
///     .into_iter()
///     .map(|kind| NsFd::of_process(target, kind))
///     .collect::<Result<_, _>>()?;
/// join(&handles)?;
/// # Ok::<(), iso_ns::Error>(())
/// ```
pub fn join(handles: &[NsFd]) -> Result<()> {
    for step in join_plan(handles)? {
        step.enter()?;
    }
    Ok(())
}

/// The order [`join`] would use: the handles to enter, first to last, without the ones the
/// caller is already in.
///
/// ```no_run
/// use iso_ns::{join_plan, Namespace, NsFd};
/// let handles = vec![NsFd::open("/proc/1/ns/net")?, NsFd::open("/proc/1/ns/user")?];
/// for ns in join_plan(&handles)? {
///     println!("would enter {} from {}", ns.kind(), ns.origin().display());
/// }
/// # Ok::<(), iso_ns::Error>(())
/// ```
pub fn join_plan(handles: &[NsFd]) -> Result<Vec<&NsFd>> {
    let mut seen = NamespaceSet::empty();
    for handle in handles {
        if !seen.insert(handle.kind) {
            return Err(Error::InvalidValue {
                field: "namespaces to join",
                reason: format!("two {} namespaces given", handle.kind),
            });
        }
    }
    let proc_root = ProcRoot::open()?;
    let mut pending = Vec::new();
    for handle in handles {
        // Compare with what setns would change: for pid/time that is the *_for_children entry.
        // pid_for_children cannot be opened (ENOENT) after unshare(CLONE_NEWPID) until the
        // first child exists; the caller is then certainly not in `handle`'s namespace.
        let already_there = match NsFd::for_children_of(&proc_root, ProcPid::SelfPid, handle.kind) {
            Ok(current) => current.id()? == handle.id()?,
            Err(_) => false,
        };
        if !already_there {
            pending.push(handle);
        }
    }
    let user = pending.iter().copied().find(|h| h.kind == Namespace::User);
    let target_user = match user {
        Some(u) => Some(u.id()?),
        None => None,
    };
    let mut before = Vec::new();
    let mut after = Vec::new();
    for handle in pending
        .iter()
        .copied()
        .filter(|h| h.kind != Namespace::User)
    {
        let owned_by_target = match target_user {
            None => false,
            // An owner outside our view (EPERM) is certainly not the target user namespace.
            Some(target) => handle.owner().and_then(|o| o.id()).ok() == Some(target),
        };
        if owned_by_target {
            after.push(handle);
        } else {
            before.push(handle);
        }
    }
    let mount_last = |h: &&NsFd| h.kind == Namespace::Mount;
    before.sort_by_key(mount_last);
    after.sort_by_key(mount_last);
    let mut plan = before;
    plan.extend(user);
    plan.extend(after);
    Ok(plan)
}
