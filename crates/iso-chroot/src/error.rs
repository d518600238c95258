use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while building or entering a root filesystem.
///
/// Syscall failures name the operation and the path (container paths are shown as seen from
/// inside the root) and keep the kernel's [`io::Error`], so callers can match on the errno:
///
/// ```
/// let err = iso_chroot::Root::open("/nonexistent-iso-chroot").unwrap_err();
/// assert_eq!(err.errno(), Some(libc::ENOENT));
/// assert!(err.to_string().contains("nonexistent-iso-chroot"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A system call failed.
    #[error("{op} {path:?}: {source}")]
    Sys {
        /// The operation that failed, e.g. `"mkdirat"`, `"move_mount"`, `"pivot_root"`.
        op: &'static str,
        /// The path it was applied to.
        path: PathBuf,
        /// The kernel's answer; `raw_os_error()` is the errno.
        #[source]
        source: io::Error,
    },
    /// A path was refused for safety: a symlink where none is allowed, a `/dev/null` that is
    /// not the real character device 1:3, a working directory outside the new root.
    #[error("refused {path:?}: {reason}")]
    Refused {
        /// The path that was refused.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An argument was invalid (an option string, an empty file name, a NUL byte).
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Which argument or field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A stage of [`PreparedRoot::apply`](crate::PreparedRoot::apply) failed. Built without
    /// allocating, so a child between `fork` and `execve` can return it: the path involved is
    /// the one the caller prepared.
    #[error("{stage}: {op}: {source}")]
    Apply {
        /// Which part of the sequence failed.
        stage: crate::ApplyStage,
        /// The system call that failed.
        op: &'static str,
        /// The kernel's answer; `raw_os_error()` is the errno.
        #[source]
        source: io::Error,
    },
    /// Opening or checking `/proc` failed (see [`iso_sys::Error`]).
    #[error(transparent)]
    Proc(#[from] iso_sys::Error),
}

impl Error {
    pub(crate) fn sys(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Sys {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn refused(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Refused {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// The errno of the failed system call, if this error came from one.
    ///
    /// ```
    /// let err = iso_chroot::Root::open("/nonexistent-iso-chroot").unwrap_err();
    /// assert_eq!(err.errno(), Some(libc::ENOENT));
    /// ```
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Sys { source, .. } | Error::Apply { source, .. } => source.raw_os_error(),
            Error::Proc(e) => e.errno(),
            Error::Refused { .. } | Error::Invalid { .. } => None,
        }
    }
}

/// The result type of this crate.
///
/// ```
/// fn jail() -> iso_chroot::Result<iso_chroot::Root> {
///     iso_chroot::Root::open("/tmp")
/// }
/// assert!(jail().is_ok());
/// ```
pub type Result<T> = std::result::Result<T, Error>;

impl From<Error> for std::io::Error {
    /// The kernel's errno when a system call failed (so `raw_os_error()` is the real one, as a
    /// `pre_exec` closure needs), the error's message otherwise ([`iso_sys::into_io_error`]).
    fn from(e: Error) -> std::io::Error {
        iso_sys::into_io_error(e.errno(), e)
    }
}
