//! The crate's error type.

use std::io;

/// Everything that can go wrong while building, compiling, loading or serving a filter.
///
/// Variants that come from a system call name the operation and the field or path
/// involved and keep the [`io::Error`], so [`Error::errno`] gives the kernel's answer.
///
/// ```
/// use iso_seccomp::{Action, Profile, SyscallRule};
///
/// let profile = Profile::new(Action::Allow)
///     .rule(SyscallRule::new(Action::Errno(70_000), ["getpid"]));
/// let err = profile.compile().unwrap_err();
/// assert!(err.to_string().contains("rule 0 (getpid)"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A rule of the profile is invalid or libseccomp refused it.
    #[error("rule {index} ({syscall}): {reason}")]
    InvalidRule {
        /// Index of the rule in [`Profile::syscalls`](crate::Profile::syscalls).
        index: usize,
        /// The syscall name of the rule that failed.
        syscall: String,
        /// Why it failed.
        reason: String,
    },
    /// A profile-wide setting is invalid (the default action, an architecture, a flag).
    #[error("invalid profile field {field}: {reason}")]
    InvalidProfile {
        /// The field (`default_action`, `architectures`, `flags`).
        field: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// A libseccomp call failed.
    #[error("libseccomp {operation}: {source}")]
    Libseccomp {
        /// The libseccomp function.
        operation: &'static str,
        /// The errno libseccomp returned (or `EINVAL` when it gave none).
        source: io::Error,
    },
    /// A system call failed.
    #[error("{operation} ({field}): {source}")]
    Syscall {
        /// The system call or ioctl.
        operation: &'static str,
        /// The field, path or object it acted on.
        field: &'static str,
        /// The kernel's error.
        source: io::Error,
    },
    /// `SECCOMP_FILTER_FLAG_TSYNC` failed because another thread of the process could not be
    /// synchronised (it already runs a diverging filter).
    #[error("seccomp TSYNC: thread {tid} could not be synchronised")]
    TsyncFailed {
        /// The thread id the kernel returned.
        tid: i32,
    },
    /// Bytes given as a BPF program are not one.
    #[error("invalid BPF program: {0}")]
    InvalidBpf(&'static str),
    /// A notification is no longer valid: the target died or the syscall was interrupted,
    /// so data read from its memory must not be trusted.
    #[error("seccomp notification {id} is no longer valid")]
    NotificationGone {
        /// The notification id.
        id: u64,
    },
    /// An OCI seccomp document could not be converted or parsed.
    #[cfg(feature = "oci")]
    #[cfg_attr(docsrs, doc(cfg(feature = "oci")))]
    #[error("OCI seccomp {field}: {reason}")]
    Oci {
        /// The OCI field (`defaultAction`, `syscalls[3].args`, ...).
        field: String,
        /// Why it was refused.
        reason: String,
    },
}

impl Error {
    /// The errno behind the error, when a system call produced it.
    ///
    /// ```
    /// use iso_seccomp::Error;
    /// let e = Error::Syscall {
    ///     operation: "seccomp(SECCOMP_SET_MODE_FILTER)",
    ///     field: "filter",
    ///     source: std::io::Error::from_raw_os_error(libc::EACCES),
    /// };
    /// assert_eq!(e.errno(), Some(libc::EACCES));
    /// ```
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Libseccomp { source, .. } | Error::Syscall { source, .. } => {
                source.raw_os_error()
            }
            Error::NotificationGone { .. } => Some(libc::ENOENT),
            _ => None,
        }
    }

    pub(crate) fn sys(operation: &'static str, field: &'static str, errno: i32) -> Self {
        Error::Syscall {
            operation,
            field,
            source: io::Error::from_raw_os_error(errno),
        }
    }

    pub(crate) fn last_os(operation: &'static str, field: &'static str) -> Self {
        Error::Syscall {
            operation,
            field,
            source: io::Error::last_os_error(),
        }
    }

    pub(crate) fn libseccomp(operation: &'static str, e: &libseccomp::error::SeccompError) -> Self {
        let errno = match e.sysrawrc() {
            Some(rc) if rc < 0 => -rc,
            _ => libc::EINVAL,
        };
        Error::Libseccomp {
            operation,
            source: io::Error::from_raw_os_error(errno),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for std::io::Error {
    /// The kernel's errno when a system call failed (so `raw_os_error()` is the real one, as a
    /// `pre_exec` closure needs), the error's message otherwise ([`iso_sys::into_io_error`]).
    fn from(e: Error) -> std::io::Error {
        iso_sys::into_io_error(e.errno(), e)
    }
}
