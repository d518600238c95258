//! The prepared jail and the sequence itself, which allocates nothing.

use std::ffi::CString;
use std::io;
use std::sync::Arc;

use iso_caps::{PreparedCaps, UserSwitch};
use iso_cgroups::PreparedJoin;
use iso_chroot::{ApplyStage, PreparedRoot};
use iso_mac::landlock;
use iso_ns::{NamespaceSet, UtsName};
use iso_seccomp::BpfProgram;
use iso_sys::fd::KeepFds;

use super::error::{Error, Failure, Op, Step};
use super::sys;

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
                Op::Mount => item(&self.mounts),
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

/// The root change, or (without one) only a working directory.
#[derive(Debug)]
pub(crate) enum PreparedFs {
    Root(PreparedRoot),
    Workdir(CString),
}

impl PreparedFs {
    pub(crate) fn needs_mount_ns(&self) -> bool {
        match self {
            PreparedFs::Root(root) => root.needs_mount_namespace(),
            PreparedFs::Workdir(_) => false,
        }
    }
}

pub(crate) struct Parts {
    pub cgroups: PreparedJoin,
    pub rlimits: Vec<(libc::__rlimit_resource_t, libc::rlimit)>,
    pub namespaces: NamespaceSet,
    pub hostname: Option<UtsName>,
    pub fs: Option<PreparedFs>,
    pub user: Option<UserSwitch>,
    pub caps: PreparedCaps,
    pub no_new_privs: bool,
    pub landlock: Option<landlock::Prepared>,
    pub keep_fds: KeepFds,
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
    cgroups: PreparedJoin,
    rlimits: Vec<(libc::__rlimit_resource_t, libc::rlimit)>,
    namespaces: NamespaceSet,
    hostname: Option<UtsName>,
    fs: Option<PreparedFs>,
    user: Option<UserSwitch>,
    caps: PreparedCaps,
    no_new_privs: bool,
    landlock: Option<landlock::Prepared>,
    keep_fds: KeepFds,
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
            cgroups: p.cgroups,
            rlimits: p.rlimits,
            namespaces: p.namespaces,
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
        let errno_of = |e: Option<i32>| e.unwrap_or(libc::EPERM);
        // 1. cgroups.
        self.cgroups.join_self().map_err(|e| {
            let item = match e {
                iso_cgroups::Error::Join { index, .. } => index as u32,
                _ => 0,
            };
            Failure::new(Step::Cgroup, Op::JoinCgroup, errno_of(e.errno()), item)
        })?;
        // 2. rlimits.
        for (i, (resource, limit)) in self.rlimits.iter().enumerate() {
            sys::setrlimit(*resource, limit)
                .map_err(|e| Failure::new(Step::Rlimits, Op::Setrlimit, e, i as u32))?;
        }
        // 3. namespaces.
        if !self.namespaces.is_empty() {
            iso_ns::unshare(self.namespaces)
                .map_err(|e| Failure::new(Step::Namespaces, Op::Unshare, errno_of(e.errno()), 0))?;
        }
        if let Some(name) = &self.hostname {
            name.set_as_hostname().map_err(|e| {
                Failure::new(
                    Step::Namespaces,
                    Op::SetHostname,
                    errno_of(e.raw_os_error()),
                    0,
                )
            })?;
        }
        // 4, 5. mounts, root, working directory.
        match &self.fs {
            None => {}
            Some(PreparedFs::Root(root)) => root.apply().map_err(root_failure)?,
            Some(PreparedFs::Workdir(dir)) => {
                sys::chdir(dir).map_err(|e| Failure::new(Step::Root, Op::Chdir, e, 0))?
            }
        }
        // 6, 7. user and capabilities.
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
        let swept = match mode {
            Mode::BeforeExec => self.keep_fds.cloexec_others(),
            Mode::Current => {
                // The prepared files (cgroup.procs) are about to be closed by number:
                // forget their owners so that nothing closes them twice.
                std::mem::forget(std::mem::take(&mut self.cgroups));
                self.keep_fds.close_others()
            }
        };
        swept.map_err(|e| Failure::new(Step::Fds, Op::SweepFds, errno_of(e.raw_os_error()), 0))?;
        // 11. seccomp, last.
        if let Some(bpf) = &self.seccomp {
            bpf.load().map_err(|e| {
                Failure::new(Step::Seccomp, Op::SeccompLoad, errno_of(e.errno()), 0)
            })?;
        }
        Ok(())
    }
}

/// The jail step and operation of a failure of [`PreparedRoot::apply`].
fn root_failure(e: iso_chroot::Error) -> Failure {
    let errno = e.errno().unwrap_or(libc::EPERM);
    let (step, op, item) = match e {
        iso_chroot::Error::Apply { stage, .. } => match stage {
            ApplyStage::OpenRoot => (Step::Root, Op::OpenRoot, 0),
            ApplyStage::PrepareTree => (Step::Mounts, Op::PrepareTree, 0),
            ApplyStage::Mount(i) => (Step::Mounts, Op::Mount, i as u32),
            ApplyStage::Enter => (Step::Root, Op::EnterRoot, 0),
            ApplyStage::Workdir => (Step::Root, Op::Chdir, 0),
        },
        _ => (Step::Root, Op::EnterRoot, 0),
    };
    Failure::new(step, op, errno, item)
}
