use std::io;
use std::path::PathBuf;

use crate::ContainerId;

/// What went wrong in a runtime command: the operation, the path or field, and the errno.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A system call or file operation failed.
    #[error("{op} {path:?}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The kernel's answer (with its errno).
        #[source]
        source: io::Error,
    },
    /// A command-line value or configuration field is invalid.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidArgument {
        /// The flag or field.
        what: &'static str,
        /// The value given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// `create` was given an id that is already in use.
    #[error("container {0} already exists")]
    AlreadyExists(ContainerId),
    /// No container has this id.
    #[error("container {0} does not exist")]
    NotFound(ContainerId),
    /// `config.json` is not valid JSON or does not match the runtime specification's types.
    #[error("{path:?}: {reason}")]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// The parser's message, starting with the field's path.
        reason: String,
    },
    /// A configuration field has a value the runtime cannot use.
    #[error("{path:?}: {field} {reason}")]
    ConfigField {
        /// The configuration file.
        path: PathBuf,
        /// The field, as a JSON path (`process.args`).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A configuration value the runtime refuses when it loads the bundle (before anything
    /// is created): a NUL byte, a `..` component, a duplicate, a mount over `/proc`, ...
    #[error("{path:?}: {field}: {reason}")]
    ConfigValue {
        /// The configuration file.
        path: PathBuf,
        /// The field, as a JSON path with indices (`linux.namespaces[2]`).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A stored container record could not be written or read back.
    #[error("container record {path:?}: {reason}")]
    Record {
        /// The record file.
        path: PathBuf,
        /// The encoding or decoding error.
        reason: String,
    },
    /// The command is not allowed in the container's current state (for example `start` of a
    /// running container, or `kill` of a stopped one).
    #[error("container {id} is {status}: {reason}")]
    WrongState {
        /// The container.
        id: ContainerId,
        /// Its status when the command ran.
        status: String,
        /// What was refused.
        reason: String,
    },
    /// The container's init process reported a failure while it set up the container or
    /// prepared to execute the user's program.
    #[error("container init: {step}: {source}")]
    Init {
        /// What the init was doing (with the field or path).
        step: String,
        /// The errno it got.
        #[source]
        source: io::Error,
    },
    /// The kernel would not execute the container's program: its format, or its interpreter
    /// (the ELF loader, a script's `#!` program) is missing. runc reports these as the
    /// process' own failure rather than the runtime's (`exec` exits 1, not 255).
    #[error("container init: {step}: {source}")]
    Exec {
        /// The program, as `process.args: exec PATH`.
        step: String,
        /// The errno the exec gets.
        #[source]
        source: io::Error,
    },
    /// Namespaces or the clone of the init failed (`iso-ns`).
    #[error(transparent)]
    Namespace(#[from] iso_ns::Error),
    /// A cgroup operation failed (`iso-cgroups`).
    #[error(transparent)]
    Cgroup(#[from] iso_cgroups::Error),
    /// The seccomp profile could not be compiled (`iso-seccomp`).
    #[error(transparent)]
    Seccomp(#[from] iso_seccomp::Error),
    /// The capability configuration is invalid (`iso-caps`).
    #[error(transparent)]
    Caps(#[from] iso_caps::Error),
    /// A root filesystem operation failed (`iso-chroot`).
    #[error(transparent)]
    Rootfs(#[from] iso_chroot::Error),
    /// An AppArmor or SELinux operation failed (`iso-mac`).
    #[error(transparent)]
    Mac(#[from] iso_mac::Error),
    /// A verified procfs operation failed (`iso-sys`).
    #[error(transparent)]
    Sys(#[from] iso_sys::Error),
    /// A hook failed or timed out.
    #[error("{kind} hook #{index} {path:?}: {reason}")]
    Hook {
        /// Which hook list (`prestart`, `poststart`, ...).
        kind: &'static str,
        /// The hook's place in its list, from 0.
        index: usize,
        /// The hook's program.
        path: PathBuf,
        /// Its exit status, the timeout, or the spawn error.
        reason: String,
    },
    /// A runtime policy ceiling with `action = "reject"` refused the config (see
    /// [`crate::policy`]).
    #[error("policy rule {rule} rejects {field}: {reason}")]
    Policy {
        /// The rule (`ceilings.pids`).
        rule: String,
        /// The config field, as a JSON path (`linux.resources.pids.limit`, `mounts[2]`).
        field: String,
        /// Why.
        reason: String,
    },
    /// The container needs the runtime to run from a sealed copy of its binary
    /// (`iso_chroot::exe::ensure_sealed`, then the same call again); nothing was done.
    #[error("the runtime binary must run sealed for this container ({reason}): call iso_chroot::exe::ensure_sealed() first")]
    SealRequired {
        /// Why this container needs it.
        reason: &'static str,
    },
    /// CRIU failed a checkpoint or restore (see [`crate::criu`]): its message, and the log
    /// that says why.
    #[error("criu {what}: {reason} (log: {log:?})")]
    Criu {
        /// What CRIU was asked or doing (`dump`, `restore`, `answer`).
        what: String,
        /// CRIU's message, with its errno when it gave one.
        reason: String,
        /// CRIU's log file.
        log: PathBuf,
    },
    /// The container has no cgroup: it was created rootless by a user who may not create
    /// one (see [`crate::rootless`]), so a command that works on its cgroup cannot run.
    #[error("container {id} has no cgroup (created rootless without a cgroup the user may create): {what} needs one")]
    NoCgroup {
        /// The container.
        id: String,
        /// The command or option that needs the cgroup.
        what: &'static str,
    },
}

impl Error {
    /// The errno behind this error, when a system call failed.
    ///
    /// ```
    /// let err = iso_runtime::Error::Init {
    ///     step: "chdir /nope".into(),
    ///     source: std::io::Error::from_raw_os_error(libc::ENOENT),
    /// };
    /// assert_eq!(err.errno(), Some(libc::ENOENT));
    /// ```
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } | Error::Init { source, .. } | Error::Exec { source, .. } => {
                source.raw_os_error()
            }
            Error::Namespace(e) => e.errno(),
            Error::Rootfs(e) => e.errno(),
            Error::Sys(e) => e.errno(),
            Error::Cgroup(e) => e.errno(),
            Error::Mac(e) => e.errno(),
            Error::Caps(e) => e.errno(),
            Error::Seccomp(e) => e.errno(),
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
}

/// For `map_err`: an I/O error of `op` on `path`.
pub(crate) fn io_err(
    op: &'static str,
    path: impl Into<std::path::PathBuf>,
) -> impl FnOnce(io::Error) -> Error {
    let path = path.into();
    move |e| Error::io(op, path, e)
}

impl From<Error> for io::Error {
    /// The kernel's errno when a system call failed (so `raw_os_error()` is the real one), the
    /// error's message otherwise ([`iso_sys::into_io_error`]).
    ///
    /// ```
    /// let e = iso_runtime::Error::Init {
    ///     step: "chdir /nope".into(),
    ///     source: std::io::Error::from_raw_os_error(libc::ENOENT),
    /// };
    /// assert_eq!(std::io::Error::from(e).kind(), std::io::ErrorKind::NotFound);
    /// ```
    fn from(e: Error) -> io::Error {
        iso_sys::into_io_error(e.errno(), e)
    }
}
