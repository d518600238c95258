//! The jail's error type: every failure names the [`Step`] it happened in.

use std::fmt;
use std::io;

/// One step of the jail sequence, in the order they run (see the [module docs](crate::jail)).
///
/// ```
/// use iso::jail::Step;
/// assert_eq!(Step::Seccomp.to_string(), "seccomp");
/// assert!(Step::User < Step::Seccomp);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Step {
    /// Moving the process into its cgroups (writing `0` to each `cgroup.procs`).
    Cgroup,
    /// Setting resource limits (`setrlimit`).
    Rlimits,
    /// Entering new namespaces (`unshare`) and setting the hostname of a new UTS namespace.
    Namespaces,
    /// Making the mount tree private and mounting the bind mounts and `/proc`.
    Mounts,
    /// Changing the root (`pivot_root` or `chroot`) and the working directory.
    Root,
    /// Changing uid, gid and supplementary groups, keeping only the chosen capabilities.
    User,
    /// Reducing the capability sets when no user change was asked for.
    Capabilities,
    /// Setting `no_new_privs`.
    NoNewPrivs,
    /// Restricting the filesystem and network with Landlock.
    Landlock,
    /// Closing (or marking close-on-exec) every descriptor not kept.
    Fds,
    /// Loading the seccomp filter.
    Seccomp,
    /// Starting the program (`fork`/`execve`), outside the jail sequence proper.
    Exec,
}

impl Step {
    /// Every step, in execution order.
    pub(crate) const ALL: [Step; 12] = [
        Step::Cgroup,
        Step::Rlimits,
        Step::Namespaces,
        Step::Mounts,
        Step::Root,
        Step::User,
        Step::Capabilities,
        Step::NoNewPrivs,
        Step::Landlock,
        Step::Fds,
        Step::Seccomp,
        Step::Exec,
    ];

    /// The step's short name, as printed in errors.
    ///
    /// ```
    /// assert_eq!(iso::jail::Step::NoNewPrivs.name(), "no_new_privs");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Step::Cgroup => "cgroup",
            Step::Rlimits => "rlimits",
            Step::Namespaces => "namespaces",
            Step::Mounts => "mounts",
            Step::Root => "root",
            Step::User => "user",
            Step::Capabilities => "capabilities",
            Step::NoNewPrivs => "no_new_privs",
            Step::Landlock => "landlock",
            Step::Fds => "fds",
            Step::Seccomp => "seccomp",
            Step::Exec => "exec",
        }
    }

    pub(crate) fn index(self) -> u8 {
        Step::ALL.iter().position(|s| *s == self).unwrap_or(0) as u8
    }

    pub(crate) fn from_index(i: u8) -> Option<Step> {
        Step::ALL.get(usize::from(i)).copied()
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why building, preparing or applying a jail failed.
///
/// ```
/// use iso::jail::{Error, Jail, Step};
/// // A relative root is refused while preparing, before anything forks.
/// let err = Jail::new().pivot_root("relative/dir").prepare().unwrap_err();
/// assert!(matches!(err, Error::Invalid { step: Step::Root, .. }));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is not usable (found while preparing, before any fork).
    #[error("jail step {step}: invalid {field}: {reason}")]
    Invalid {
        /// The step the setting belongs to.
        step: Step,
        /// The setting.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A system call made while preparing failed (opening a path, a `cgroup.procs` file).
    #[error("jail step {step}: preparing: {operation} {path}: {source}")]
    Prepare {
        /// The step being prepared.
        step: Step,
        /// The system call.
        operation: &'static str,
        /// The path it was made on.
        path: String,
        /// The kernel's answer (read the errno with [`Error::errno`]).
        #[source]
        source: io::Error,
    },
    /// Preparing the capability configuration failed.
    #[error("jail step {step}: preparing capabilities: {source}")]
    Caps {
        /// [`Step::User`] or [`Step::Capabilities`].
        step: Step,
        /// The capability crate's error.
        #[source]
        source: iso_caps::Error,
    },
    /// Preparing the root, its mounts or the working directory failed (a path that does not
    /// exist, holds a symbolic link, or is not absolute).
    #[error("jail step {step}: preparing: {source}")]
    Chroot {
        /// [`Step::Mounts`] or [`Step::Root`].
        step: Step,
        /// The root filesystem crate's error.
        #[source]
        source: iso_chroot::Error,
    },
    /// Opening a cgroup's `cgroup.procs` failed.
    #[error("jail step cgroup: preparing: {0}")]
    Cgroup(#[source] iso_cgroups::Error),
    /// Compiling the seccomp profile failed.
    #[error("jail step seccomp: compiling the profile: {0}")]
    Seccomp(#[source] iso_seccomp::Error),
    /// Creating the Landlock ruleset failed (or it cannot be enforced as required).
    #[error("jail step landlock: creating the ruleset: {0}")]
    Landlock(#[source] iso_mac::Error),
    /// Applying a step failed: in the child (reported to [`spawn_jailed`]'s caller before the
    /// payload ever ran) or in the current process ([`PreparedJail::enter`]).
    ///
    /// [`spawn_jailed`]: crate::jail::CommandJailExt::spawn_jailed
    /// [`PreparedJail::enter`]: crate::jail::PreparedJail::enter
    #[error("jail step {step} failed: {operation}{}: {source}", on_target(target))]
    Step {
        /// The step that failed; the steps after it did not run, nor did the payload.
        step: Step,
        /// The system call or primitive that failed.
        operation: &'static str,
        /// What it was applied to (a path, a limit, a uid), possibly empty.
        target: String,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
}

/// `" on TARGET"`, or nothing when there is no target.
fn on_target(target: &str) -> String {
    if target.is_empty() {
        String::new()
    } else {
        format!(" on {target}")
    }
}

impl Error {
    /// The step the error belongs to.
    ///
    /// ```
    /// use iso::jail::{Jail, Step};
    /// let err = Jail::new().bind("/nonexistent-source", "/x").prepare().unwrap_err();
    /// assert_eq!(err.step(), Step::Mounts);
    /// ```
    pub fn step(&self) -> Step {
        match self {
            Error::Invalid { step, .. }
            | Error::Prepare { step, .. }
            | Error::Caps { step, .. }
            | Error::Chroot { step, .. }
            | Error::Step { step, .. } => *step,
            Error::Cgroup(_) => Step::Cgroup,
            Error::Seccomp(_) => Step::Seccomp,
            Error::Landlock(_) => Step::Landlock,
        }
    }

    /// The errno, when the error came from the kernel.
    ///
    /// ```
    /// use iso::jail::Jail;
    /// let err = Jail::new().chroot("/nonexistent-root").prepare().unwrap_err();
    /// assert_eq!(err.errno(), Some(libc::ENOENT));
    /// ```
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Invalid { .. } => None,
            Error::Prepare { source, .. } | Error::Step { source, .. } => source.raw_os_error(),
            Error::Caps { source, .. } => source.errno(),
            Error::Chroot { source, .. } => source.errno(),
            Error::Cgroup(e) => e.errno(),
            Error::Seccomp(e) => e.errno(),
            Error::Landlock(e) => e.errno(),
        }
    }
}

impl From<Error> for io::Error {
    /// The kernel's errno when a system call failed (so `raw_os_error()` is the real one), the
    /// error's message otherwise ([`iso_sys::into_io_error`]).
    ///
    /// ```
    /// use iso::jail::Jail;
    /// let err = Jail::new().chroot("/nonexistent-root").prepare().unwrap_err();
    /// assert_eq!(std::io::Error::from(err).kind(), std::io::ErrorKind::NotFound);
    /// ```
    fn from(e: Error) -> io::Error {
        iso_sys::into_io_error(e.errno(), e)
    }
}

/// A failure inside the jail sequence, small and allocation-free so that the child can send
/// it to the parent through a pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failure {
    pub step: Step,
    pub op: Op,
    pub errno: i32,
    /// Which item of the step failed (mount number, rlimit number, ...).
    pub item: u32,
}

/// The operations a step can fail in (sent to the parent as a byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Op {
    JoinCgroup,
    Setrlimit,
    Unshare,
    SetHostname,
    OpenRoot,
    PrepareTree,
    Mount,
    EnterRoot,
    Chdir,
    UserSwitch,
    CapsApply,
    SetNoNewPrivs,
    LandlockRestrict,
    SweepFds,
    SeccompLoad,
}

impl Op {
    const ALL: [Op; 15] = [
        Op::JoinCgroup,
        Op::Setrlimit,
        Op::Unshare,
        Op::SetHostname,
        Op::OpenRoot,
        Op::PrepareTree,
        Op::Mount,
        Op::EnterRoot,
        Op::Chdir,
        Op::UserSwitch,
        Op::CapsApply,
        Op::SetNoNewPrivs,
        Op::LandlockRestrict,
        Op::SweepFds,
        Op::SeccompLoad,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Op::JoinCgroup => "write(cgroup.procs)",
            Op::Setrlimit => "setrlimit",
            Op::Unshare => "unshare",
            Op::SetHostname => "sethostname",
            Op::OpenRoot => "openat2(RESOLVE_NO_SYMLINKS) of the root",
            Op::PrepareTree => {
                "mount(MS_REC|MS_PRIVATE) of /, or the bind mount of the root onto itself"
            }
            Op::Mount => "open_tree/fsmount, mount_setattr, move_mount",
            Op::EnterRoot => "pivot_root/chroot",
            Op::Chdir => "chdir",
            Op::UserSwitch => "setgroups/setresgid/setresuid with capabilities",
            Op::CapsApply => "capset/prctl(PR_CAPBSET_DROP)",
            Op::SetNoNewPrivs => "prctl(PR_SET_NO_NEW_PRIVS)",
            Op::LandlockRestrict => "landlock_restrict_self",
            Op::SweepFds => "close_range, or fcntl(F_SETFD) of a kept fd",
            Op::SeccompLoad => "seccomp(SECCOMP_SET_MODE_FILTER)",
        }
    }

    fn from_index(i: u8) -> Option<Op> {
        Op::ALL.get(usize::from(i)).copied()
    }
}

impl Failure {
    pub const WIRE_LEN: usize = 10;

    pub fn new(step: Step, op: Op, errno: i32, item: u32) -> Failure {
        Failure {
            step,
            op,
            errno,
            item,
        }
    }

    /// The failure as bytes for the report pipe (no allocation).
    pub fn to_wire(self) -> [u8; Self::WIRE_LEN] {
        let mut b = [0u8; Self::WIRE_LEN];
        b[0] = self.step.index();
        b[1] = self.op as u8;
        b[2..6].copy_from_slice(&self.errno.to_ne_bytes());
        b[6..10].copy_from_slice(&self.item.to_ne_bytes());
        b
    }

    pub fn from_wire(b: &[u8]) -> Option<Failure> {
        if b.len() != Self::WIRE_LEN {
            return None;
        }
        Some(Failure {
            step: Step::from_index(b[0])?,
            op: Op::from_index(b[1])?,
            errno: i32::from_ne_bytes([b[2], b[3], b[4], b[5]]),
            item: u32::from_ne_bytes([b[6], b[7], b[8], b[9]]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_round_trips_through_the_wire_format() {
        for (i, step) in Step::ALL.iter().enumerate() {
            let f = Failure::new(
                *step,
                Op::ALL[i % Op::ALL.len()],
                -5 + i as i32,
                7 * i as u32,
            );
            assert_eq!(Failure::from_wire(&f.to_wire()), Some(f));
        }
        assert_eq!(Failure::from_wire(&[0u8; 3]), None);
        assert_eq!(Failure::from_wire(&[200u8; Failure::WIRE_LEN]), None);
    }

    #[test]
    fn op_indices_match_their_position() {
        for (i, op) in Op::ALL.iter().enumerate() {
            assert_eq!(*op as u8 as usize, i);
        }
    }
}
