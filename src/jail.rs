//! # An embeddable jail: lock down a worker process in a few lines
//!
//! Server software that forks workers (a PHP-FPM master with its pools, a mail server's
//! delivery agents, a build farm's job runner) wants each worker locked into a directory, as an
//! unprivileged user, without the privileges it started with, and with the kernel's attack
//! surface narrowed. [`Jail`] composes the primitive crates into one fixed sequence and
//! applies it either
//!
//! - to a **child program**, with [`CommandJailExt::spawn_jailed`] on a
//!   [`std::process::Command`]: the sequence runs between `fork` and `execve`, where only
//!   async-signal-safe work is allowed, so everything that allocates (C strings, the compiled
//!   seccomp filter, the Landlock ruleset, open `cgroup.procs` files) is done before the fork
//!   by [`Jail::prepare`]; or
//! - to the **current process** with [`PreparedJail::enter`], for a pre-forked worker that
//!   keeps running Rust code (the master prepares, forks, and the worker enters).
//!
//! ## The sequence, and why in this order
//!
//! | # | [`Step`] | what | why here |
//! |---|---|---|---|
//! | 1 | [`Cgroup`](Step::Cgroup) | write `0` to each prepared `cgroup.procs` ([`iso_cgroups::PreparedJoin`]) | first, so every later fork of the worker is counted; needs the privileges and the host's cgroup files, which later steps take away |
//! | 2 | [`Rlimits`](Step::Rlimits) | `setrlimit` for each limit | raising a hard limit needs `CAP_SYS_RESOURCE`, gone after step 6 |
//! | 3 | [`Namespaces`](Step::Namespaces) | `unshare` (mount, UTS, IPC, network, cgroup), `sethostname` ([`iso_ns::unshare`], [`iso_ns::UtsName`]) | needs `CAP_SYS_ADMIN`; the mount namespace must exist before anything is mounted, so that no mount reaches the host |
//! | 4 | [`Mounts`](Step::Mounts) | make `/` recursively private, bind the root onto itself, bind mounts (optionally read-only, recursively), `/proc`, each attached on a descriptor resolved beneath the root ([`iso_chroot::PreparedRoot`]) | needs the host's paths, so before the root changes |
//! | 5 | [`Root`](Step::Root) | `pivot_root` (and detach the old root) or `chroot`, then `chdir` ([`iso_chroot::PreparedRoot`]) | after the mounts it needs, before the privileges it needs are dropped |
//! | 6 | [`User`](Step::User) | keep-caps, `setgroups`, then `setresgid`, then `setresuid`, then the capability sets ([`iso_caps::UserSwitch`]) | `setgroups` and `setgid` need `CAP_SETGID`, which is lost with the uid, so the uid goes last; and no moment runs as the new user with root's groups. Capabilities are reduced after the uid change (with keep-caps) because the change itself clears them |
//! | 7 | [`Capabilities`](Step::Capabilities) | without a user change: drop the bounding set and reduce the other sets | same reason as 6 |
//! | 8 | [`NoNewPrivs`](Step::NoNewPrivs) | `prctl(PR_SET_NO_NEW_PRIVS)` | set-user-ID binaries and file capabilities can no longer give back what was dropped; required for Landlock and seccomp without `CAP_SYS_ADMIN` |
//! | 9 | [`Landlock`](Step::Landlock) | `landlock_restrict_self` | before seccomp, whose allow-list may not contain the Landlock calls |
//! | 10 | [`Fds`](Step::Fds) | `close_range`: every fd from 3 up that was not kept is marked close-on-exec (child) or closed (current process) ([`iso_sys::fd::KeepFds`]) | last thing before the filter (a strict filter may forbid `close_range`); marking instead of closing keeps the report pipe alive until `execve`, which then closes everything at once (CVE-2024-21626 was a leaked fd) |
//! | 11 | [`Seccomp`](Step::Seccomp) | load the BPF filter ([`iso_seccomp::BpfProgram`]) | last: every step above makes system calls (`mount`, `setuid`, `prctl`, `close_range`) that the filter is there to forbid; after it only `execve` (child) or the worker's own code runs |
//!
//! Each step is a primitive crate's "prepare before the fork, apply without allocating" API,
//! so the jail itself only orders them and reports which one failed.
//!
//! A failing step stops the sequence: the steps after it do not run and neither does the
//! payload. For a child, the failure travels back through a close-on-exec pipe and
//! [`spawn_jailed`](CommandJailExt::spawn_jailed) returns [`Error::Step`] naming the step,
//! the operation, its target and the errno. For the current process, [`PreparedJail::enter`]
//! returns the same error; the process is then half-jailed and should exit.
//!
//! ## Defaults
//!
//! Strict unless told otherwise: no capabilities kept (the bounding set is emptied too, so
//! even a set-user-ID-root binary gains nothing), `no_new_privs` on, the built-in seccomp
//! allow-list ([`iso_seccomp::default_profile`], given the kept capabilities), every fd above
//! stderr closed. Namespaces, a new root, limits, cgroups and Landlock are opt-in.
//!
//! ## Pitfalls
//!
//! - `chroot` alone only holds a process that cannot `chroot` again: keep `CAP_SYS_CHROOT`
//!   out of [`Jail::keep_caps`]. [`Jail::pivot_root`] (in a mount namespace, old root
//!   detached) leaves no path to the host at all.
//! - Paths (root, bind destinations, working directory) are checked while preparing to
//!   contain no symbolic links, and opened again in the child (which has its own mount
//!   namespace by then), still refusing symlinks: a directory swapped for a symlink in
//!   between makes the step fail rather than mount elsewhere. Keep the root directory
//!   writable by root only all the same.
//! - Landlock rule paths are host paths, opened while preparing: the rules follow the inodes
//!   into the new root.
//! - User, PID and time namespaces are not offered: they need a parent that writes maps or
//!   a second fork; use [`iso_ns::Spawn`] for those.
//! - [`PreparedJail::enter`] must run in a single-threaded process (a fresh fork): credentials
//!   and namespaces apply to the process, but capabilities, Landlock and seccomp to the
//!   calling thread only.
//! - `Command::current_dir`, `uid` and `gid` run before the jail and are overridden by it:
//!   use [`Jail::current_dir`] and [`Jail::user`] instead.
//!
//! ## Example
//!
//! ```no_run
//! use std::process::Command;
//! use iso::jail::{CommandJailExt, Jail, Resource};
//!
//! # fn main() -> Result<(), iso::jail::Error> {
//! let prepared = Jail::new()
//!     .pivot_root("/srv/pool-a")          // holds a static busybox at /bin/sh
//!     .mount_proc()
//!     .rlimit(Resource::Nofile, 64, 64)
//!     .user(33, 33)                       // www-data, no capabilities, no_new_privs
//!     .prepare()?;                        // everything that allocates happens here
//! let mut child = Command::new("/bin/sh")
//!     .args(["-c", "id; ls /"])
//!     .spawn_jailed(prepared)?;           // fork, the sequence, execve
//! let status = child.wait().expect("wait");
//! # let _ = status;
//! # Ok(())
//! # }
//! ```

mod command;
mod error;
mod prepared;
mod sys;

use std::ffi::CString;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use iso_caps::{CapConfig, CapSet, Set, UserSwitch};
use iso_cgroups::PreparedJoin;
use iso_chroot::{EnterMethod, MountFlags, PreparedRoot};
use iso_mac::landlock::Ruleset;
use iso_ns::{Namespace, NamespaceSet, UtsName};
use iso_seccomp::Profile;
use iso_sys::fd::KeepFds;

pub use command::CommandJailExt;
pub use error::{Error, Step};
pub use prepared::PreparedJail;

use prepared::{Labels, PreparedFs};

/// The value meaning "no limit" for [`Jail::rlimit`] (`RLIM_INFINITY`).
pub const RLIM_INFINITY: u64 = libc::RLIM_INFINITY;

/// A resource limited by `setrlimit(2)` ([`Jail::rlimit`]).
///
/// ```
/// assert_eq!(iso::jail::Resource::Nproc.name(), "RLIMIT_NPROC");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Resource {
    /// Address space size in bytes (`RLIMIT_AS`).
    As,
    /// Core dump size in bytes (`RLIMIT_CORE`).
    Core,
    /// CPU time in seconds (`RLIMIT_CPU`).
    Cpu,
    /// Data segment size in bytes (`RLIMIT_DATA`).
    Data,
    /// Largest file the process may create, in bytes (`RLIMIT_FSIZE`).
    Fsize,
    /// Locked memory in bytes (`RLIMIT_MEMLOCK`).
    Memlock,
    /// One more than the highest fd number the process may open (`RLIMIT_NOFILE`).
    Nofile,
    /// Processes (threads) of the real user id, counted across the whole machine
    /// (`RLIMIT_NPROC`); a pids cgroup limits a group of processes instead.
    Nproc,
    /// Stack size in bytes (`RLIMIT_STACK`).
    Stack,
}

impl Resource {
    /// The C name of the limit.
    ///
    /// ```
    /// assert_eq!(iso::jail::Resource::Nofile.name(), "RLIMIT_NOFILE");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Resource::As => "RLIMIT_AS",
            Resource::Core => "RLIMIT_CORE",
            Resource::Cpu => "RLIMIT_CPU",
            Resource::Data => "RLIMIT_DATA",
            Resource::Fsize => "RLIMIT_FSIZE",
            Resource::Memlock => "RLIMIT_MEMLOCK",
            Resource::Nofile => "RLIMIT_NOFILE",
            Resource::Nproc => "RLIMIT_NPROC",
            Resource::Stack => "RLIMIT_STACK",
        }
    }

    fn raw(self) -> libc::__rlimit_resource_t {
        match self {
            Resource::As => libc::RLIMIT_AS,
            Resource::Core => libc::RLIMIT_CORE,
            Resource::Cpu => libc::RLIMIT_CPU,
            Resource::Data => libc::RLIMIT_DATA,
            Resource::Fsize => libc::RLIMIT_FSIZE,
            Resource::Memlock => libc::RLIMIT_MEMLOCK,
            Resource::Nofile => libc::RLIMIT_NOFILE,
            Resource::Nproc => libc::RLIMIT_NPROC,
            Resource::Stack => libc::RLIMIT_STACK,
        }
    }
}

/// How the jail changes the root directory.
///
/// ```
/// assert_ne!(iso::jail::RootMethod::PivotRoot, iso::jail::RootMethod::Chroot);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RootMethod {
    /// A new mount namespace, the directory bind-mounted onto itself, `pivot_root`, and the
    /// old root detached: nothing of the host stays reachable.
    PivotRoot,
    /// `chroot(2)`: no namespace needed (unless there are mounts), but only a jail for a
    /// process without `CAP_SYS_CHROOT`.
    Chroot,
}

/// Which seccomp filter the jail loads last.
///
/// ```
/// use iso::jail::SeccompPolicy;
/// use iso::seccomp::{Action, Profile, SyscallRule};
/// let deny_ptrace = SeccompPolicy::Profile(
///     Profile::new(Action::Allow).rule(SyscallRule::new(Action::Errno(1), ["ptrace"])),
/// );
/// assert!(matches!(SeccompPolicy::default(), SeccompPolicy::Default));
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum SeccompPolicy {
    /// The built-in allow-list, [`iso_seccomp::default_profile`], extended for the kept
    /// capabilities: everything else fails with `EPERM`.
    #[default]
    Default,
    /// This profile (an allow-list is `Profile::new(Action::Errno(..))` plus `Allow` rules).
    /// A child's profile must allow `execve`. Notify rules are refused.
    Profile(Profile),
    /// No filter (the other steps still apply).
    Disabled,
}

#[derive(Debug, Clone)]
struct Bind {
    source: PathBuf,
    destination: PathBuf,
    read_only: bool,
}

/// The jail builder: choose the parts, then [`prepare`](Jail::prepare) before forking.
///
/// See the [module docs](crate::jail) for the order in which the parts are applied.
///
/// ```no_run
/// use iso::jail::{Jail, RootMethod};
/// use iso::caps::{CapSet, Capability};
///
/// # fn main() -> Result<(), iso::jail::Error> {
/// let prepared = Jail::new()
///     .chroot("/srv/pool")
///     .user(1000, 1000)
///     .groups([1000])
///     .keep_caps(CapSet::from(Capability::NetBindService))
///     .keep_fd(3)
///     .prepare()?;
/// # let _ = prepared;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Jail {
    namespaces: NamespaceSet,
    hostname: Option<String>,
    root: Option<(PathBuf, RootMethod)>,
    binds: Vec<Bind>,
    mount_proc: bool,
    workdir: Option<PathBuf>,
    rlimits: Vec<(Resource, u64, u64)>,
    cgroup_dirs: Vec<PathBuf>,
    user: Option<(u32, u32)>,
    groups: Vec<u32>,
    keep_caps: CapSet,
    no_new_privs: bool,
    landlock: Option<Ruleset>,
    seccomp: SeccompPolicy,
    keep_fds: Vec<RawFd>,
}

impl Default for Jail {
    fn default() -> Self {
        Jail::new()
    }
}

impl Jail {
    /// A jail with the strict defaults: no namespaces, no root change, no capabilities,
    /// `no_new_privs`, the default seccomp profile, every fd above stderr closed.
    ///
    /// ```
    /// let jail = iso::jail::Jail::new();
    /// ```
    pub fn new() -> Jail {
        Jail {
            namespaces: NamespaceSet::default(),
            hostname: None,
            root: None,
            binds: Vec::new(),
            mount_proc: false,
            workdir: None,
            rlimits: Vec::new(),
            cgroup_dirs: Vec::new(),
            user: None,
            groups: Vec::new(),
            keep_caps: CapSet::empty(),
            no_new_privs: true,
            landlock: None,
            seccomp: SeccompPolicy::Default,
            keep_fds: Vec::new(),
        }
    }

    /// Adds new namespaces of these kinds: mount, UTS, IPC, network and cgroup are
    /// supported (user, PID and time are refused by [`prepare`](Jail::prepare)).
    ///
    /// ```
    /// use iso::ns::{Namespace, NamespaceSet};
    /// let jail = iso::jail::Jail::new().namespaces(NamespaceSet::from([Namespace::Net, Namespace::Ipc]));
    /// ```
    pub fn namespaces(mut self, set: NamespaceSet) -> Jail {
        for ns in set.iter() {
            self.namespaces.insert(ns);
        }
        self
    }

    /// Sets the hostname in a new UTS namespace (adds one), so the jailed process can name
    /// itself without renaming the host.
    ///
    /// ```
    /// let jail = iso::jail::Jail::new().hostname("pool-a");
    /// ```
    pub fn hostname(mut self, name: impl Into<String>) -> Jail {
        self.hostname = Some(name.into());
        self
    }

    /// Makes `dir` (an absolute host path without symlinks) the new root with
    /// [`RootMethod::PivotRoot`] (adds a mount namespace).
    ///
    /// ```
    /// let jail = iso::jail::Jail::new().pivot_root("/srv/pool");
    /// ```
    pub fn pivot_root(mut self, dir: impl Into<PathBuf>) -> Jail {
        self.root = Some((dir.into(), RootMethod::PivotRoot));
        self
    }

    /// Makes `dir` the new root with [`RootMethod::Chroot`].
    ///
    /// ```
    /// let jail = iso::jail::Jail::new().chroot("/srv/pool");
    /// ```
    pub fn chroot(mut self, dir: impl Into<PathBuf>) -> Jail {
        self.root = Some((dir.into(), RootMethod::Chroot));
        self
    }

    /// Bind-mounts the host path `source` (recursively) onto `destination` inside the new
    /// root, which must exist. Needs a new root; adds a mount namespace.
    ///
    /// ```
    /// let jail = iso::jail::Jail::new().pivot_root("/srv/pool").bind("/srv/shared", "/shared");
    /// ```
    pub fn bind(mut self, source: impl Into<PathBuf>, destination: impl Into<PathBuf>) -> Jail {
        self.binds.push(Bind {
            source: source.into(),
            destination: destination.into(),
            read_only: false,
        });
        self
    }

    /// Like [`bind`](Jail::bind), then remounted read-only, `nosuid` and `nodev`.
    ///
    /// ```
    /// let jail = iso::jail::Jail::new().pivot_root("/srv/pool").bind_ro("/usr", "/usr");
    /// ```
    pub fn bind_ro(mut self, source: impl Into<PathBuf>, destination: impl Into<PathBuf>) -> Jail {
        self.binds.push(Bind {
            source: source.into(),
            destination: destination.into(),
            read_only: true,
        });
        self
    }

    /// Mounts a procfs on `/proc` of the new root (which must exist), with `hidepid=invisible`
    /// so that the jailed user sees only its own processes.
    ///
    /// ```
    /// let jail = iso::jail::Jail::new().pivot_root("/srv/pool").mount_proc();
    /// ```
    pub fn mount_proc(mut self) -> Jail {
        self.mount_proc = true;
        self
    }

    /// The working directory after the root change (a path inside the new root; default
    /// `/`).
    ///
    /// ```
    /// let jail = iso::jail::Jail::new().chroot("/srv/pool").current_dir("/www");
    /// ```
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Jail {
        self.workdir = Some(dir.into());
        self
    }

    /// Sets a resource limit (soft and hard; [`RLIM_INFINITY`] for none).
    ///
    /// ```
    /// use iso::jail::{Jail, Resource};
    /// let jail = Jail::new().rlimit(Resource::Nofile, 256, 256).rlimit(Resource::Core, 0, 0);
    /// ```
    pub fn rlimit(mut self, resource: Resource, soft: u64, hard: u64) -> Jail {
        self.rlimits.push((resource, soft, hard));
        self
    }

    /// Places the process in `cgroup` (in every hierarchy it spans).
    ///
    /// ```no_run
    /// use iso::cgroups::{Cgroup, CgroupPath, Layout};
    /// let cg = Cgroup::create(&Layout::detect()?, CgroupPath::new("/iso-example-pool")?)?;
    /// let jail = iso::jail::Jail::new().cgroup(&cg);
    /// # Ok::<(), iso::cgroups::Error>(())
    /// ```
    pub fn cgroup(mut self, cgroup: &iso_cgroups::Cgroup) -> Jail {
        self.cgroup_dirs.extend(cgroup.dirs().map(|(_, dir)| dir));
        self
    }

    /// Places the process in the cgroup directory `dir` (one hierarchy).
    ///
    /// ```
    /// let jail = iso::jail::Jail::new().cgroup_dir("/sys/fs/cgroup/pids/iso-example");
    /// ```
    pub fn cgroup_dir(mut self, dir: impl Into<PathBuf>) -> Jail {
        self.cgroup_dirs.push(dir.into());
        self
    }

    /// Switches to `uid` and `gid` (real, effective, saved).
    ///
    /// ```
    /// let jail = iso::jail::Jail::new().user(65534, 65534);
    /// ```
    pub fn user(mut self, uid: u32, gid: u32) -> Jail {
        self.user = Some((uid, gid));
        self
    }

    /// The supplementary groups after the switch (default: none, so root's groups do not
    /// leak). Only used with [`user`](Jail::user).
    ///
    /// ```
    /// let jail = iso::jail::Jail::new().user(1000, 1000).groups([1000, 33]);
    /// ```
    pub fn groups(mut self, groups: impl IntoIterator<Item = u32>) -> Jail {
        self.groups = groups.into_iter().collect();
        self
    }

    /// The capabilities to keep (default: none). They become the bounding, permitted,
    /// effective, inheritable and ambient sets, so that they survive `execve`.
    ///
    /// ```
    /// use iso::caps::{CapSet, Capability};
    /// let jail = iso::jail::Jail::new().user(33, 33).keep_caps(CapSet::from(Capability::NetBindService));
    /// ```
    pub fn keep_caps(mut self, caps: CapSet) -> Jail {
        self.keep_caps = caps;
        self
    }

    /// Whether to set `no_new_privs` (default: yes). Landlock and seccomp set it anyway when
    /// they are used (the kernel requires it of a process without `CAP_SYS_ADMIN`).
    ///
    /// ```
    /// let jail = iso::jail::Jail::new().no_new_privs(true);
    /// ```
    pub fn no_new_privs(mut self, yes: bool) -> Jail {
        self.no_new_privs = yes;
        self
    }

    /// Restricts the process with this Landlock ruleset (paths are host paths).
    ///
    /// ```
    /// use iso::mac::landlock::{FsAccess, Ruleset};
    /// let jail = iso::jail::Jail::new()
    ///     .landlock(Ruleset::new().handle_fs(FsAccess::write_known()).allow_path("/tmp", FsAccess::write_known()));
    /// ```
    pub fn landlock(mut self, ruleset: Ruleset) -> Jail {
        self.landlock = Some(ruleset);
        self
    }

    /// The seccomp filter (default: [`SeccompPolicy::Default`]).
    ///
    /// ```
    /// let jail = iso::jail::Jail::new().seccomp(iso::jail::SeccompPolicy::Disabled);
    /// ```
    pub fn seccomp(mut self, policy: SeccompPolicy) -> Jail {
        self.seccomp = policy;
        self
    }

    /// Keeps descriptor `fd` open (and inheritable) through the jail; every other fd above
    /// stderr is closed. In a child the fd keeps its number.
    ///
    /// ```
    /// let jail = iso::jail::Jail::new().keep_fd(3);
    /// ```
    pub fn keep_fd(mut self, fd: RawFd) -> Jail {
        self.keep_fds.push(fd);
        self
    }

    /// Checks the configuration and does every allocating part of the sequence now: C
    /// strings for paths, open `cgroup.procs` files, the capability configuration, the
    /// Landlock ruleset, the compiled seccomp filter. The result is applied without
    /// allocating by [`CommandJailExt::spawn_jailed`] or [`PreparedJail::enter`].
    ///
    /// ```
    /// let prepared = iso::jail::Jail::new().seccomp(iso::jail::SeccompPolicy::Disabled).prepare()?;
    /// # Ok::<(), iso::jail::Error>(())
    /// ```
    pub fn prepare(&self) -> Result<PreparedJail, Error> {
        let mut labels = Labels::default();

        // 1. cgroups: open each cgroup.procs for writing now.
        let cgroups = PreparedJoin::open(&self.cgroup_dirs).map_err(Error::Cgroup)?;
        labels.cgroup = cgroups.files().map(|f| f.display().to_string()).collect();

        // 2. rlimits.
        let mut rlimits = Vec::new();
        for &(resource, soft, hard) in &self.rlimits {
            if soft > hard {
                return Err(Error::Invalid {
                    step: Step::Rlimits,
                    field: "rlimit",
                    reason: format!(
                        "{}: soft limit {soft} above hard limit {hard}",
                        resource.name()
                    ),
                });
            }
            labels
                .rlimits
                .push(format!("{} soft {soft} hard {hard}", resource.name()));
            rlimits.push((
                resource.raw(),
                libc::rlimit {
                    rlim_cur: soft,
                    rlim_max: hard,
                },
            ));
        }

        // 3. namespaces.
        let mut namespaces = self.namespaces;
        for refused in [Namespace::User, Namespace::Pid, Namespace::Time] {
            if namespaces.contains(refused) {
                return Err(Error::Invalid {
                    step: Step::Namespaces,
                    field: "namespaces",
                    reason: format!(
                        "{refused:?} namespaces need a parent that writes maps or a second fork; use iso::ns::Spawn"
                    ),
                });
            }
        }

        let hostname = match &self.hostname {
            None => None,
            Some(name) => {
                namespaces.insert(Namespace::Uts);
                Some(UtsName::new("hostname", name).map_err(|e| Error::Invalid {
                    step: Step::Namespaces,
                    field: "hostname",
                    reason: e.to_string(),
                })?)
            }
        };

        // 4, 5. mounts and root.
        let fs = self.prepare_fs(&mut labels)?;
        if let Some(fs) = &fs {
            if fs.needs_mount_ns() {
                namespaces.insert(Namespace::Mount);
            }
        }
        labels.namespaces = format!("{namespaces:?}");

        // 6, 7. user and capabilities.
        let mut caps = CapConfig::new();
        for set in [
            Set::Bounding,
            Set::Permitted,
            Set::Effective,
            Set::Inheritable,
            Set::Ambient,
        ] {
            caps = caps.set(set, self.keep_caps);
        }
        let step = if self.user.is_some() {
            Step::User
        } else {
            Step::Capabilities
        };
        let caps = caps
            .prepare()
            .map_err(|source| Error::Caps { step, source })?;
        let user = self.user.map(|(uid, gid)| {
            labels.user = format!("uid {uid} gid {gid} groups {:?}", self.groups);
            UserSwitch::new(uid, gid)
                .groups(self.groups.iter().copied())
                .capabilities(caps)
        });

        // 9. Landlock.
        let landlock = match &self.landlock {
            None => None,
            Some(rules) => Some(
                rules
                    .clone()
                    .no_new_privs(self.no_new_privs)
                    .prepare()
                    .map_err(Error::Landlock)?,
            ),
        };

        // 10. fds.
        let keep_fds = KeepFds::new(self.keep_fds.iter().copied()).map_err(|e| Error::Invalid {
            step: Step::Fds,
            field: "keep_fd",
            reason: e.to_string(),
        })?;
        labels.fds = format!("all but 0-2 and {:?}", keep_fds.fds());

        // 11. seccomp.
        let profile = match &self.seccomp {
            SeccompPolicy::Disabled => None,
            SeccompPolicy::Default => {
                let names: Vec<&str> = self.keep_caps.iter().map(|c| c.name()).collect();
                Some(iso_seccomp::default_profile(&names))
            }
            SeccompPolicy::Profile(p) => {
                if p.uses_notify() {
                    return Err(Error::Invalid {
                        step: Step::Seccomp,
                        field: "seccomp",
                        reason: "notify rules need a supervisor; the jail has none".into(),
                    });
                }
                Some(p.clone())
            }
        };
        let seccomp = match profile {
            None => None,
            Some(p) => {
                let mut filter = p.compile().map_err(Error::Seccomp)?;
                filter.set_no_new_privs(self.no_new_privs);
                Some(filter.to_bpf().map_err(Error::Seccomp)?)
            }
        };

        Ok(PreparedJail::new(prepared::Parts {
            cgroups,
            rlimits,
            namespaces,
            hostname,
            fs,
            user,
            caps,
            no_new_privs: self.no_new_privs,
            landlock,
            keep_fds,
            seccomp,
            labels,
        }))
    }

    fn prepare_fs(&self, labels: &mut Labels) -> Result<Option<PreparedFs>, Error> {
        let Some((root, method)) = &self.root else {
            if !self.binds.is_empty() || self.mount_proc {
                return Err(Error::Invalid {
                    step: Step::Mounts,
                    field: "bind/mount_proc",
                    reason: "mounts need a new root (pivot_root or chroot)".into(),
                });
            }
            return match &self.workdir {
                None => Ok(None),
                Some(dir) => {
                    // Checked like a root: it must exist as named, without symlinks.
                    absolute(Step::Root, "current_dir", dir)?;
                    PreparedRoot::new(dir, EnterMethod::Chroot).map_err(|source| {
                        Error::Chroot {
                            step: Step::Root,
                            source,
                        }
                    })?;
                    labels.root = dir.display().to_string();
                    Ok(Some(PreparedFs::Workdir(cstring(
                        Step::Root,
                        "current_dir",
                        dir,
                    )?)))
                }
            };
        };
        absolute(Step::Root, "root", root)?;
        let fail = |step| move |source| Error::Chroot { step, source };
        let method = match method {
            RootMethod::PivotRoot => EnterMethod::PivotRoot,
            RootMethod::Chroot => EnterMethod::Chroot,
        };
        let mut prepared = PreparedRoot::new(root, method).map_err(fail(Step::Root))?;
        labels.root = root.display().to_string();
        for b in &self.binds {
            let flags = if b.read_only {
                MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV
            } else {
                MountFlags::empty()
            };
            prepared = prepared
                .bind(&b.source, &b.destination, flags)
                .map_err(fail(Step::Mounts))?;
            labels.mounts.push(format!(
                "{} -> {}{}",
                b.source.display(),
                root.join(b.destination.strip_prefix("/").unwrap_or(&b.destination))
                    .display(),
                if b.read_only { " (read-only)" } else { "" }
            ));
        }
        if self.mount_proc {
            prepared = prepared.mount_proc("/proc").map_err(fail(Step::Mounts))?;
            labels
                .mounts
                .push(format!("proc -> {}", root.join("proc").display()));
        }
        if let Some(dir) = &self.workdir {
            prepared = prepared.workdir(dir).map_err(fail(Step::Root))?;
        }
        Ok(Some(PreparedFs::Root(prepared)))
    }
}

/// Refuses a relative `path` before any primitive sees it.
fn absolute(step: Step, field: &'static str, path: &Path) -> Result<(), Error> {
    if path.is_absolute() {
        Ok(())
    } else {
        Err(Error::Invalid {
            step,
            field,
            reason: format!("{} is not absolute", path.display()),
        })
    }
}

fn cstring(step: Step, field: &'static str, path: &Path) -> Result<CString, Error> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::Invalid {
        step,
        field,
        reason: format!("{} contains a NUL byte", path.display()),
    })
}
