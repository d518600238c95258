use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in this crate.
///
/// Variants that come from a system call name the operation, the file and (when a resource
/// was being applied) the OCI-style field, and keep the [`std::io::Error`] so that callers
/// can read the errno with [`Error::errno`].
///
/// ```no_run
/// use iso_cgroups::{Cgroup, CgroupPath, Layout};
/// match Cgroup::open(&Layout::detect()?, CgroupPath::new("/no-such-iso-cgroup")?) {
///     Err(e) => assert_eq!(e.errno(), Some(libc::ENOENT)),
///     Ok(_) => unreachable!(),
/// }
/// # Ok::<(), iso_cgroups::Error>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file operation on a cgroup file or directory failed.
    #[error("{op} {path:?}: {source}")]
    Io {
        /// The operation (`"mkdir"`, `"read"`, `"rmdir"`, ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The kernel's answer, with its errno.
        #[source]
        source: io::Error,
    },
    /// Writing a resource value to a cgroup file failed.
    #[error("setting {field} (writing {value:?} to {path:?}): {source}")]
    Write {
        /// The resource field, in OCI spelling (for example `memory.limit`).
        field: String,
        /// The cgroup file written.
        path: PathBuf,
        /// What was written.
        value: String,
        /// The kernel's answer, with its errno.
        #[source]
        source: io::Error,
    },
    /// A resource value is out of range or malformed; nothing was written for it.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The resource field, in OCI spelling.
        field: String,
        /// Why it was refused.
        reason: String,
    },
    /// A resource was requested whose controller this host does not provide.
    #[error("{field} is not supported here: {reason}")]
    Unsupported {
        /// The resource field, in OCI spelling.
        field: String,
        /// What is missing (controller not mounted, cgroup v1-only feature, ...).
        reason: String,
    },
    /// A cgroup path was refused by the path policy (relative, `..`, NUL, ...).
    #[error("cgroup path {path:?} refused: {reason}")]
    BadPath {
        /// The path as given.
        path: String,
        /// Why it was refused.
        reason: String,
    },
    /// A kernel file had content we could not parse.
    #[error("parsing {path:?}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// [`PreparedJoin::join_self`](crate::PreparedJoin::join_self) could not write to a
    /// membership file (`tasks` or `cgroup.procs`). Built without allocating, for a child
    /// between `fork` and `execve`.
    #[error("joining cgroup: membership file #{index}: {source}")]
    Join {
        /// The file's index in [`PreparedJoin::files`](crate::PreparedJoin::files).
        index: usize,
        /// The kernel's answer, with its errno.
        #[source]
        source: io::Error,
    },
    /// Reading `/proc` failed, or `/proc` is not a real procfs.
    #[error("procfs: {0}")]
    Proc(#[source] iso_sys::Error),
    /// No cgroup filesystem is mounted.
    #[error("no cgroup hierarchy is mounted (nothing of type cgroup or cgroup2 in mountinfo)")]
    NoHierarchy,
    /// A `bpf(2)` command failed (the device filter of cgroup v2).
    #[error("bpf({op}) for {path:?}: {source}{log}")]
    Bpf {
        /// The bpf command (`"BPF_PROG_LOAD"`, `"BPF_PROG_ATTACH"`).
        op: &'static str,
        /// The cgroup directory the program was for.
        path: PathBuf,
        /// The verifier log, when there is one (with a leading newline).
        log: String,
        /// The kernel's answer, with its errno.
        #[source]
        source: io::Error,
    },
    /// The kernel did not reach the awaited state (frozen, empty) in the bounded wait.
    #[error("timed out waiting for {what} in {path:?}")]
    Timeout {
        /// What was awaited.
        what: &'static str,
        /// The cgroup directory.
        path: PathBuf,
    },
    /// systemd refused a request (the D-Bus error it answered with), or its job failed.
    #[error("systemd {op} {unit}: {reason}")]
    Systemd {
        /// The manager's method (`"StartTransientUnit"`, `"StopUnit"`, ...).
        op: &'static str,
        /// The unit.
        unit: String,
        /// The D-Bus error name, when systemd refused the call
        /// (`org.freedesktop.systemd1.NoSuchUnit`, ...).
        name: Option<String>,
        /// systemd's message, or how the job ended.
        reason: String,
    },
    /// The D-Bus conversation with systemd broke down (authentication refused, a malformed
    /// message).
    #[error("D-Bus on {path:?}: {reason}")]
    Dbus {
        /// The socket.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// The result type of this crate.
///
/// ```
/// fn limit() -> iso_cgroups::Result<iso_cgroups::Limit> {
///     iso_cgroups::Limit::from_oci(-1)
/// }
/// assert_eq!(limit().unwrap(), iso_cgroups::Limit::Max);
/// ```
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn unsupported(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Unsupported {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The errno of the failed system call, if this error came from one.
    ///
    /// ```
    /// use iso_cgroups::CgroupPath;
    /// let err = CgroupPath::new("relative/path").unwrap_err();
    /// assert_eq!(err.errno(), None);
    /// ```
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. }
            | Error::Write { source, .. }
            | Error::Bpf { source, .. }
            | Error::Join { source, .. } => source.raw_os_error(),
            Error::Proc(e) => e.errno(),
            _ => None,
        }
    }

    /// The resource field this error is about (OCI spelling, such as `pids.limit`), when it
    /// came from applying resources.
    ///
    /// ```
    /// use iso_cgroups::{Cpu, Resources};
    /// let bad = Resources {
    ///     cpu: Some(Cpu { cpus: Some("zero".into()), ..Cpu::default() }),
    ///     ..Resources::default()
    /// };
    /// assert_eq!(bad.validate().unwrap_err().field(), Some("cpu.cpus"));
    /// ```
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::Write { field, .. }
            | Error::Invalid { field, .. }
            | Error::Unsupported { field, .. } => Some(field),
            Error::Bpf { .. } => Some("devices"),
            _ => None,
        }
    }
}

impl From<Error> for std::io::Error {
    /// The kernel's errno when a system call failed (so `raw_os_error()` is the real one, as a
    /// `pre_exec` closure needs), the error's message otherwise ([`iso_sys::into_io_error`]).
    fn from(e: Error) -> std::io::Error {
        iso_sys::into_io_error(e.errno(), e)
    }
}
