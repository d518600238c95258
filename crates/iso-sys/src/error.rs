use std::io;
use std::path::PathBuf;

/// An error from a low-level operation: what was attempted, on which path, and the errno.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A system call failed.
    #[error("{op} {path:?}: {source}")]
    Io {
        /// The operation that failed (for example `"open"` or `"fstatfs"`).
        op: &'static str,
        /// The path it was applied to.
        path: PathBuf,
        /// The kernel's answer, with its errno (`raw_os_error`).
        #[source]
        source: io::Error,
    },
    /// A path resolved to something of the wrong kind: not procfs, not a directory, a symlink
    /// where none is allowed.
    #[error("{path:?}: {reason}")]
    Unexpected {
        /// The path that was checked.
        path: PathBuf,
        /// What was expected and what was found.
        reason: String,
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

    /// The errno of the failed system call, if this error came from one.
    ///
    /// ```
    /// let err = iso_sys::procfs::ProcRoot::open_at("/nonexistent-iso-path").unwrap_err();
    /// assert_eq!(err.errno(), Some(libc::ENOENT));
    /// ```
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } => source.raw_os_error(),
            Error::Unexpected { .. } => None,
        }
    }
}
