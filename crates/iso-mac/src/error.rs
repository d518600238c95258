//! The one error type of this crate.

use std::io;
use std::path::PathBuf;

use crate::Lsm;

/// Everything that can go wrong while detecting, configuring or applying a security module.
///
/// Variants that come from a system call or a procfs write name the operation and the path,
/// and keep the kernel's [`io::Error`] so callers can read the errno ([`Error::errno`]).
///
/// ```
/// use iso_mac::{Error, Lsm};
/// let err = Error::NotActive { module: Lsm::SeLinux, operation: "set the exec label" };
/// assert!(err.to_string().contains("SELinux is not active"));
/// assert!(err.is_not_active());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operation needs a security module that is not active on this kernel (not built
    /// in, not enabled at boot, or not in the `lsm=` list).
    #[error("cannot {operation}: {module} is not active on this kernel")]
    NotActive {
        /// The module that would be needed.
        module: Lsm,
        /// What was attempted.
        operation: &'static str,
    },
    /// A system call or file operation failed.
    #[error("{op} {path:?}: {source}")]
    Io {
        /// The operation, for example `"write"` or `"landlock_restrict_self"`.
        op: &'static str,
        /// The path or field it was applied to.
        path: PathBuf,
        /// The kernel's answer, with its errno.
        #[source]
        source: io::Error,
    },
    /// `/proc` or a file below it failed verification (not procfs, a symlink, a bind mount
    /// over the target), so a label write there could silently do nothing. Nothing was
    /// written.
    #[error("refusing to write a security label through an unverified /proc: {0}")]
    Procfs(#[source] iso_sys::Error),
    /// A value given by the caller cannot be expressed (a label with a NUL byte, a profile
    /// name with spaces, a path rule that is not absolute).
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// Which value, for example `"AppArmor profile name"`.
        what: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// A Landlock ruleset asked for more than the kernel can enforce, under
    /// [`Compat::Required`](crate::landlock::Compat::Required). Nothing was applied.
    #[error("Landlock ABI {abi} of this kernel cannot enforce {what}; nothing was applied")]
    LandlockUnsupported {
        /// The ABI version the kernel offers (0 when Landlock is unavailable).
        abi: u32,
        /// What could not be enforced.
        what: String,
    },
    /// The `landlock` library refused the ruleset.
    #[error("Landlock {op}: {source}")]
    Landlock {
        /// The step that failed, for example `"create ruleset"`.
        op: &'static str,
        /// The library's error (it carries the errno when a system call failed).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// `apparmor_parser` is not installed, or exited with an error.
    #[error("apparmor_parser {action}: {detail}")]
    Parser {
        /// What was asked of it, for example `"load"`.
        action: &'static str,
        /// Its exit status and standard error, or why it could not start.
        detail: String,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Error::Invalid {
            what,
            reason: reason.into(),
        }
    }

    /// The errno of the failed system call, if this error came from one.
    ///
    /// ```
    /// use iso_mac::Error;
    /// let err = Error::Io {
    ///     op: "write",
    ///     path: "/proc/self/attr/exec".into(),
    ///     source: std::io::Error::from_raw_os_error(libc::EINVAL),
    /// };
    /// assert_eq!(err.errno(), Some(libc::EINVAL));
    /// ```
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } => source.raw_os_error(),
            Error::Procfs(e) => e.errno(),
            Error::Landlock { source, .. } => {
                // The landlock library nests the system call's io::Error in its errors.
                let mut next: Option<&(dyn std::error::Error + 'static)> = Some(source.as_ref());
                while let Some(e) = next {
                    if let Some(io) = e.downcast_ref::<io::Error>() {
                        return io.raw_os_error();
                    }
                    next = e.source();
                }
                None
            }
            _ => None,
        }
    }

    /// Whether this is the "module not active" error.
    ///
    /// ```
    /// # use iso_mac::{Error, Lsm};
    /// assert!(Error::NotActive { module: Lsm::AppArmor, operation: "load a profile" }.is_not_active());
    /// ```
    pub fn is_not_active(&self) -> bool {
        matches!(self, Error::NotActive { .. })
    }
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;

impl From<Error> for std::io::Error {
    /// The kernel's errno when a system call failed (so `raw_os_error()` is the real one, as a
    /// `pre_exec` closure needs), the error's message otherwise ([`iso_sys::into_io_error`]).
    fn from(e: Error) -> std::io::Error {
        iso_sys::into_io_error(e.errno(), e)
    }
}
