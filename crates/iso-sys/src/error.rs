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

/// Turns an error of an iso crate into a [`std::io::Error`], keeping what matters to the
/// caller: the raw errno when a system call produced one (so `raw_os_error()` and `kind()` are
/// the kernel's, and a `pre_exec` closure reports the real errno to the parent), otherwise the
/// error itself as the message (kind `Other`). Each crate's `From<Error> for io::Error` calls
/// this; their errors keep the path and operation for callers who want them.
///
/// ```
/// let e = iso_sys::procfs::ProcRoot::open_at("/nonexistent-iso-path").unwrap_err();
/// let io = iso_sys::into_io_error(e.errno(), e);
/// assert_eq!(io.raw_os_error(), Some(libc::ENOENT));
/// ```
pub fn into_io_error<E>(errno: Option<i32>, error: E) -> io::Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    match errno {
        Some(errno) => io::Error::from_raw_os_error(errno),
        None => io::Error::other(error),
    }
}

impl From<Error> for io::Error {
    /// See [`into_io_error`]: the errno when there is one, the message otherwise.
    ///
    /// ```
    /// let e = iso_sys::procfs::ProcRoot::open_at("/nonexistent-iso-path").unwrap_err();
    /// assert_eq!(std::io::Error::from(e).kind(), std::io::ErrorKind::NotFound);
    /// ```
    fn from(e: Error) -> io::Error {
        into_io_error(e.errno(), e)
    }
}
