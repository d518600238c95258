//! The prepared jail and the sequence itself, which allocates nothing.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use iso_caps::{PreparedCaps, UserSwitch};
use iso_mac::landlock;
use iso_seccomp::BpfProgram;

use super::error::{Error, Failure, Op, Step};
use super::{sys, RootMethod};

/// Human-readable targets of each step, kept by the parent to turn a child's [`Failure`]
/// (numbers only) into an [`Error`] that names what failed.
#[derive(Debug, Default, Clone)]
pub(crate) struct Labels {
    pub cgroup: Vec<String>,
    pub rlimits: Vec<String>,
    pub namespaces: String,
    pub mounts: Vec<String>,
    pub root: String,
    pub user: String,
    pub fds: String,
}

impl Labels {
    fn target(&self, f: &Failure) -> String {
        let item = |v: &Vec<String>| v.get(f.item as usize).cloned().unwrap_or_default();
        match f.step {
            Step::Cgroup => item(&self.cgroup),
            Step::Rlimits => item(&self.rlimits),
            Step::Namespaces => self.namespaces.clone(),
            Step::Mounts => match f.op {
                Op::Bind | Op::RemountReadOnly | Op::MountProc => item(&self.mounts),
                _ => self.root.clone(),
            },
            Step::Root => self.root.clone(),
            Step::User => self.user.clone(),
            Step::Fds => self.fds.clone(),
            _ => String::new(),
        }
    }

    /// The error for a failure reported by the sequence.
    pub(crate) fn error(&self, f: Failure) -> Error {
        Error::Step {
            step: f.step,
            operation: f.op.name(),
            target: self.target(&f),
            source: io::Error::from_raw_os_error(f.errno),
        }
    }
}

#[derive(Debug)]
pub(crate) struct PreparedBind {
    pub source: CString,
    pub target: CString,
    pub read_only: bool,
}

#[derive(Debug)]
pub(crate) struct PreparedFs {
    /// `None` when only a working directory was asked for.
    pub method: Option<RootMethod>,
    pub root: CString,
    pub binds: Vec<PreparedBind>,
    pub proc_target: Option<CString>,
    pub workdir: Option<CString>,
}

impl PreparedFs {
    pub(crate) fn needs_mount_ns(&self) -> bool {
        self.method == Some(RootMethod::PivotRoot)
            || !self.binds.is_empty()
            || self.proc_target.is_some()
    }
}

pub(crate) struct Parts {
    pub cgroup_procs: Vec<OwnedFd>,
    pub rlimits: Vec<(libc::__rlimit_resource_t, libc::rlimit)>,
    pub unshare_flags: i32,
    pub hostname: Option<CString>,
    pub fs: Option<PreparedFs>,
    pub user: Option<UserSwitch>,
    pub caps: PreparedCaps,
    pub no_new_privs: bool,
    pub landlock: Option<landlock::Prepared>,
    pub keep_fds: Vec<RawFd>,
    pub seccomp: Option<BpfProgram>,
    pub labels: Labels,
}

/// A [`Jail`](super::Jail) with every allocation done, ready to be applied once: to a child
/// with [`CommandJailExt::spawn_jailed`](super::CommandJailExt::spawn_jailed), or to the
/// current process with [`enter`](PreparedJail::enter).
///
/// Holds open descriptors (the `cgroup.procs` files, the Landlock ruleset); they are
/// close-on-exec, and the fd step closes them in a worker.
///
/// ```no_run
/// let prepared = iso::jail::Jail::new().user(65534, 65534).prepare()?;
/// // SAFETY: the child only enters the jail and exits.
/// if unsafe { libc::fork() } == 0 {
///     let code = if prepared.enter().is_ok() { 0 } else { 1 };
///     unsafe { libc::_exit(code) };
/// }
/// # Ok::<(), iso::jail::Error>(())
/// ```
#[derive(Debug)]
pub struct PreparedJail {
    cgroup_procs: Vec<OwnedFd>,
    rlimits: Vec<(libc::__rlimit_resource_t, libc::rlimit)>,
    unshare_flags: i32,
    hostname: Option<CString>,
    fs: Option<PreparedFs>,
    user: Option<UserSwitch>,
    caps: PreparedCaps,
    no_new_privs: bool,
    landlock: Option<landlock::Prepared>,
    keep_fds: Vec<RawFd>,
    seccomp: Option<BpfProgram>,
    labels: Arc<Labels>,
}

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts").finish_non_exhaustive()
    }
}

/// Whether the sequence ends in `execve` (descriptors are marked close-on-exec) or the
/// process keeps running (descriptors are closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    BeforeExec,
    Current,
}

impl PreparedJail {
    pub(crate) fn new(p: Parts) -> PreparedJail {
        PreparedJail {
            cgroup_procs: p.cgroup_procs,
            rlimits: p.rlimits,
            unshare_flags: p.unshare_flags,
            hostname: p.hostname,
            fs: p.fs,
            user: p.user,
            caps: p.caps,
            no_new_privs: p.no_new_privs,
            landlock: p.landlock,
            keep_fds: p.keep_fds,
            seccomp: p.seccomp,
            labels: Arc::new(p.labels),
        }
    }

    pub(crate) fn labels(&self) -> Arc<Labels> {
        Arc::clone(&self.labels)
    }

    /// Applies the jail to the calling process, which keeps running afterwards: for a
    /// pre-forked worker. Every fd above stderr that was not kept is **closed**.
    ///
    /// Call it in a single-threaded process (right after `fork`): namespaces and credentials
    /// are process-wide, but capabilities, Landlock and seccomp apply to the calling thread.
    /// On error the process is partly jailed and should exit; the error names the step.
    ///
    /// The closed descriptors may still have Rust owners in the worker (a `File`, an
    /// `OwnedFd` inherited from the master): forget them or leave with `_exit`, because
    /// dropping an owner of an fd closed behind its back aborts the process in debug builds
    /// (Rust's I/O-safety check).
    ///
    /// ```no_run
    /// use iso::jail::Jail;
    /// let prepared = Jail::new().chroot("/srv/pool").user(65534, 65534).prepare()?;
    /// prepared.enter()?;
    /// assert!(std::fs::read("/etc/shadow").is_err());
    /// # Ok::<(), iso::jail::Error>(())
    /// ```
    pub fn enter(mut self) -> Result<(), Error> {
        let labels = self.labels();
        self.run(Mode::Current).map_err(|f| labels.error(f))
    }

    /// The sequence. Allocation-free and async-signal-safe on success (the primitives'
    /// errors may allocate their message on failure, which glibc's fork handling permits).
    pub(crate) fn run(&mut self, mode: Mode) -> Result<(), Failure> {
        // 1. cgroups: "0" moves the writer itself, on v1 and v2 alike.
        for (i, fd) in self.cgroup_procs.iter().enumerate() {
            sys::write_all(fd.as_raw_fd(), b"0")
                .map_err(|e| Failure::new(Step::Cgroup, Op::WriteCgroupProcs, e, i as u32))?;
        }
        // 2. rlimits.
        for (i, (resource, limit)) in self.rlimits.iter().enumerate() {
            sys::setrlimit(*resource, limit)
                .map_err(|e| Failure::new(Step::Rlimits, Op::Setrlimit, e, i as u32))?;
        }
        // 3. namespaces.
        if self.unshare_flags != 0 {
            sys::unshare(self.unshare_flags)
                .map_err(|e| Failure::new(Step::Namespaces, Op::Unshare, e, 0))?;
        }
        if let Some(name) = &self.hostname {
            sys::sethostname(name.as_bytes())
                .map_err(|e| Failure::new(Step::Namespaces, Op::SetHostname, e, 0))?;
        }
        // 4, 5. mounts, root, working directory.
        if let Some(fs) = &self.fs {
            mounts(fs)?;
            enter_root(fs)?;
        }
        // 6, 7. user and capabilities.
        let errno_of = |e: Option<i32>| e.unwrap_or(libc::EPERM);
        if let Some(user) = &self.user {
            user.apply()
                .map_err(|e| Failure::new(Step::User, Op::UserSwitch, errno_of(e.errno()), 0))?;
        } else {
            self.caps.apply().map_err(|e| {
                Failure::new(Step::Capabilities, Op::CapsApply, errno_of(e.errno()), 0)
            })?;
        }
        // 8. no_new_privs.
        if self.no_new_privs {
            iso_caps::set_no_new_privs().map_err(|e| {
                Failure::new(Step::NoNewPrivs, Op::SetNoNewPrivs, errno_of(e.errno()), 0)
            })?;
        }
        // 9. Landlock.
        if let Some(ruleset) = self.landlock.take() {
            ruleset.restrict_self().map_err(|e| {
                Failure::new(Step::Landlock, Op::LandlockRestrict, errno_of(e.errno()), 0)
            })?;
        }
        // 10. descriptors.
        self.sweep_fds(mode)?;
        // 11. seccomp, last.
        if let Some(bpf) = &self.seccomp {
            bpf.load().map_err(|e| {
                Failure::new(Step::Seccomp, Op::SeccompLoad, errno_of(e.errno()), 0)
            })?;
        }
        Ok(())
    }

    /// Closes (or marks close-on-exec) every descriptor from 3 up except the kept ones, in
    /// the gaps between them; kept ones lose `FD_CLOEXEC` before an exec.
    fn sweep_fds(&mut self, mode: Mode) -> Result<(), Failure> {
        let fail = |op, e| Failure::new(Step::Fds, op, e, 0);
        let flags = match mode {
            Mode::BeforeExec => libc::CLOSE_RANGE_CLOEXEC,
            Mode::Current => {
                // The cgroup files are about to be closed by number: forget them without
                // closing twice.
                for fd in self.cgroup_procs.drain(..) {
                    std::mem::forget(fd);
                }
                0
            }
        };
        let mut low: u32 = 3;
        for &fd in &self.keep_fds {
            let fd = fd as u32; // prepare() kept only fds >= 3
            if fd > low {
                sys::close_range(low, fd - 1, flags).map_err(|e| fail(Op::CloseRange, e))?;
            }
            low = fd.saturating_add(1);
            if mode == Mode::BeforeExec {
                sys::clear_cloexec(fd as RawFd).map_err(|e| fail(Op::KeepFd, e))?;
            }
        }
        sys::close_range(low, u32::MAX, flags).map_err(|e| fail(Op::CloseRange, e))
    }
}

fn mounts(fs: &PreparedFs) -> Result<(), Failure> {
    if !fs.needs_mount_ns() {
        return Ok(());
    }
    let fail = |op, e, i| Failure::new(Step::Mounts, op, e, i);
    // Nothing below may propagate to the host's mounts.
    sys::mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None)
        .map_err(|e| fail(Op::MakePrivate, e, 0))?;
    if fs.method == Some(RootMethod::PivotRoot) {
        // pivot_root needs the new root to be a mount point.
        sys::mount(
            Some(&fs.root),
            &fs.root,
            None,
            libc::MS_BIND | libc::MS_REC,
            None,
        )
        .map_err(|e| fail(Op::BindRoot, e, 0))?;
    }
    for (i, b) in fs.binds.iter().enumerate() {
        let i = i as u32;
        sys::mount(
            Some(&b.source),
            &b.target,
            None,
            libc::MS_BIND | libc::MS_REC,
            None,
        )
        .map_err(|e| fail(Op::Bind, e, i))?;
        if b.read_only {
            // A bind mount takes its flags only from a remount.
            sys::mount(
                None,
                &b.target,
                None,
                libc::MS_REMOUNT
                    | libc::MS_BIND
                    | libc::MS_RDONLY
                    | libc::MS_NOSUID
                    | libc::MS_NODEV,
                None,
            )
            .map_err(|e| fail(Op::RemountReadOnly, e, i))?;
        }
    }
    if let Some(target) = &fs.proc_target {
        sys::mount(
            Some(c"proc"),
            target,
            Some(c"proc"),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            Some(c"hidepid=invisible"),
        )
        .map_err(|e| fail(Op::MountProc, e, fs.binds.len() as u32))?;
    }
    Ok(())
}

fn enter_root(fs: &PreparedFs) -> Result<(), Failure> {
    let fail = |op, e| Failure::new(Step::Root, op, e, 0);
    match fs.method {
        None => {}
        Some(RootMethod::PivotRoot) => {
            sys::chdir(&fs.root).map_err(|e| fail(Op::Chdir, e))?;
            // The old root ends up stacked on "." above the new one; detach it.
            sys::pivot_root(c".", c".").map_err(|e| fail(Op::PivotRoot, e))?;
            sys::umount_detach(c".").map_err(|e| fail(Op::DetachOldRoot, e))?;
            sys::chdir(c"/").map_err(|e| fail(Op::Chdir, e))?;
        }
        Some(RootMethod::Chroot) => {
            // chdir first, so the working directory is never outside the new root.
            sys::chdir(&fs.root).map_err(|e| fail(Op::Chdir, e))?;
            sys::chroot(c".").map_err(|e| fail(Op::Chroot, e))?;
            sys::chdir(c"/").map_err(|e| fail(Op::Chdir, e))?;
        }
    }
    if let Some(dir) = &fs.workdir {
        sys::chdir(dir).map_err(|e| fail(Op::Chdir, e))?;
    }
    Ok(())
}
