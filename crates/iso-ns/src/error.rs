use std::io;
use std::path::PathBuf;

use crate::Namespace;

/// Everything that can go wrong in `iso-ns`.
///
/// Variants that come from a system call name the operation and the path or field it was
/// applied to, and keep the kernel's answer as a [`std::io::Error`], so that
/// [`Error::errno`] gives the errno back.
///
/// ```
/// use iso_ns::{Error, IdMapEntry, UidMap};
/// // Two ranges that overlap inside the namespace are refused before the kernel sees them.
/// let err = UidMap::new(vec![IdMapEntry::new(0, 1000, 10), IdMapEntry::new(5, 2000, 1)])
///     .unwrap_err();
/// assert!(matches!(err, Error::InvalidMap { .. }));
/// assert!(err.to_string().contains("line 2"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A system call failed on a path (a `/proc` file, a namespace file, a helper binary).
    #[error("{op} {path:?}: {source}")]
    Io {
        /// The operation, for example `"open"`, `"ioctl(NS_GET_NSTYPE)"` or `"write"`.
        op: &'static str,
        /// The path it was applied to.
        path: PathBuf,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
    /// A system call that acts on namespaces failed (`unshare`, `setns`, `clone3`, ...).
    #[error("{op}({namespaces}): {source}")]
    Syscall {
        /// The system call, for example `"unshare"` or `"setns"`.
        op: &'static str,
        /// The namespaces it was asked to act on, as `/proc/PID/ns` names.
        namespaces: String,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
    /// A failure reported by the iso-sys support crate (verified procfs access).
    #[error(transparent)]
    Sys(#[from] iso_sys::Error),
    /// A file handed in as a namespace is not a namespace (not on nsfs).
    #[error("{path:?} is not a namespace file: {reason}")]
    NotANamespace {
        /// Where the descriptor came from.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },
    /// A namespace file is of another kind than the caller asked for.
    #[error("{path:?} is a {found} namespace, expected {expected}")]
    WrongNamespaceKind {
        /// Where the descriptor came from.
        path: PathBuf,
        /// The kind the caller wanted.
        expected: Namespace,
        /// The kind the kernel reports (`NS_GET_NSTYPE`).
        found: Namespace,
    },
    /// A uid or gid map is invalid; `line` is 1-based, as in `/proc/PID/uid_map`.
    #[error("invalid {map} line {line}: {reason}")]
    InvalidMap {
        /// `"uid_map"` or `"gid_map"`.
        map: &'static str,
        /// The offending line (1-based); 0 when the map as a whole is wrong.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A string could not be parsed (a map line, a `timens_offsets` line, a namespace name).
    #[error("cannot parse {what} {input:?}: {reason}")]
    Parse {
        /// What was being parsed.
        what: &'static str,
        /// The input (or the offending part of it).
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// A value is out of the range the kernel accepts (a hostname longer than 64 bytes, a
    /// string with a NUL byte, ...).
    #[error("invalid {field}: {reason}")]
    InvalidValue {
        /// The field, for example `"hostname"`.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// `newuidmap`/`newgidmap` ran but refused the mapping.
    #[error("{helper} for pid {pid} failed ({status}): {stderr}")]
    MapHelper {
        /// The helper binary.
        helper: &'static str,
        /// The target process.
        pid: i32,
        /// How it exited.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// An rtnetlink request failed ([`netdev`](crate::netdev)): the request, the device
    /// and namespace it was about, and the kernel's answer.
    #[error("{op} {target}: {source}")]
    Netlink {
        /// The request, for example `"RTM_NEWLINK(IFLA_NET_NS_FD)"`.
        op: &'static str,
        /// The device (name or index) and the network namespace of the socket.
        target: String,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
    /// The child of [`Spawn`](crate::Spawn) failed before it reached the user's code: the
    /// step and the errno it reported through the setup pipe.
    #[error("child setup failed at {step}: {source}")]
    ChildSetup {
        /// The step that failed, for example `"sethostname"` or `"execve"`.
        step: &'static str,
        /// The errno the child reported.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// The errno of the failed system call, if this error came from one.
    ///
    /// ```
    /// let err = iso_ns::NsFd::open("/nonexistent-iso-ns").unwrap_err();
    /// assert_eq!(err.errno(), Some(libc::ENOENT));
    /// ```
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. }
            | Error::Syscall { source, .. }
            | Error::Netlink { source, .. }
            | Error::ChildSetup { source, .. } => source.raw_os_error(),
            Error::Sys(e) => e.errno(),
            _ => None,
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn syscall(op: &'static str, namespaces: impl ToString, source: io::Error) -> Self {
        Error::Syscall {
            op,
            namespaces: namespaces.to_string(),
            source,
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for std::io::Error {
    /// The kernel's errno when a system call failed (so `raw_os_error()` is the real one, as a
    /// `pre_exec` closure needs), the error's message otherwise ([`iso_sys::into_io_error`]).
    fn from(e: Error) -> std::io::Error {
        iso_sys::into_io_error(e.errno(), e)
    }
}
