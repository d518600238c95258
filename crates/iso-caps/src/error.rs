use std::io;

use crate::Set;

/// Everything that can go wrong in this crate.
///
/// Variants that come from a system call name the operation and the capability, set or id it
/// was applied to, and keep the kernel's `std::io::Error`; [`Error::errno`] reads it.
///
/// ```
/// let err = "CAP_BOGUS".parse::<iso_caps::Capability>().unwrap_err();
/// assert_eq!(err.to_string(), "unknown capability name \"CAP_BOGUS\"");
/// assert_eq!(err.errno(), None);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A name that is no capability this crate knows.
    #[error("unknown capability name {name:?}")]
    UnknownName {
        /// The name as given.
        name: String,
    },
    /// A capability number no 64-bit capability mask can hold.
    #[error("capability number {number} is out of range (0..=63)")]
    OutOfRange {
        /// The number as given.
        number: u32,
    },
    /// Reading procfs failed (for example `/proc/sys/kernel/cap_last_cap` or
    /// `/proc/PID/status`), or `/proc` is not really procfs.
    #[error("reading {what} from procfs: {source}")]
    Proc {
        /// What was being read.
        what: String,
        /// The procfs error, with the path and errno.
        #[source]
        source: iso_sys::Error,
    },
    /// A procfs file did not have the expected format.
    #[error("parsing {what}: {reason}")]
    Parse {
        /// What was being parsed.
        what: String,
        /// What was wrong.
        reason: String,
    },
    /// `capget(2)` failed.
    #[error("capget: {source}")]
    Capget {
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
    /// `capset(2)` failed. `detail` names the set and capabilities the kernel refused, as far
    /// as the rules in capabilities(7) explain it.
    #[error("capset (effective={effective}, permitted={permitted}, inheritable={inheritable}){detail}: {source}")]
    Capset {
        /// The effective set asked for.
        effective: String,
        /// The permitted set asked for.
        permitted: String,
        /// The inheritable set asked for.
        inheritable: String,
        /// Which capabilities of which set the kernel would not grant, when known.
        detail: String,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
    /// A `prctl(2)` on one capability of one set failed (`PR_CAPBSET_DROP`,
    /// `PR_CAP_AMBIENT_RAISE`, ...).
    #[error("prctl({op}) for {cap} in the {set} set: {source}")]
    CapPrctl {
        /// The prctl operation.
        op: &'static str,
        /// The capability, by canonical name (or number when the crate has no name for it).
        cap: String,
        /// The set it was applied to.
        set: Set,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
    /// Any other `prctl(2)` failed (`PR_SET_KEEPCAPS`, `PR_SET_SECUREBITS`,
    /// `PR_SET_NO_NEW_PRIVS`, `PR_CAP_AMBIENT_CLEAR_ALL`).
    #[error("prctl({op}, {value}): {source}")]
    Prctl {
        /// The prctl operation.
        op: &'static str,
        /// The value passed.
        value: u64,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
    /// A credential change failed (`setgroups`, `setresgid`, `setresuid`).
    #[error("{op}({id}): {source}")]
    Credentials {
        /// The system call.
        op: &'static str,
        /// The id or ids passed.
        id: String,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
    /// A capability to keep across a uid change is not in the permitted set, so it cannot be
    /// kept.
    #[error("cannot keep {cap}: it is not in the permitted set")]
    NotPermitted {
        /// The capability's canonical name.
        cap: String,
    },
}

impl Error {
    /// The errno of the failed system call, if this error came from one.
    ///
    /// ```no_run
    /// // Without CAP_SETPCAP, dropping from the bounding set fails with EPERM.
    /// let mut caps = iso_caps::Capabilities::current()?;
    /// caps.bounding = iso_caps::CapSet::empty();
    /// if let Err(err) = iso_caps::CapConfig::from(caps).apply() {
    ///     assert_eq!(err.errno(), Some(libc::EPERM));
    /// }
    /// # Ok::<(), iso_caps::Error>(())
    /// ```
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Proc { source, .. } => source.errno(),
            Error::Capget { source }
            | Error::Capset { source, .. }
            | Error::CapPrctl { source, .. }
            | Error::Prctl { source, .. }
            | Error::Credentials { source, .. } => source.raw_os_error(),
            Error::UnknownName { .. }
            | Error::OutOfRange { .. }
            | Error::Parse { .. }
            | Error::NotPermitted { .. } => None,
        }
    }
}

/// The display name of capability number `n`: canonical name or the number.
pub(crate) fn cap_label(n: u8) -> String {
    match crate::Capability::from_index(n) {
        Some(cap) => cap.name().to_owned(),
        None => format!("capability {n}"),
    }
}

impl From<Error> for std::io::Error {
    /// The kernel's errno when a system call failed (so `raw_os_error()` is the real one, as a
    /// `pre_exec` closure needs), the error's message otherwise ([`iso_sys::into_io_error`]).
    fn from(e: Error) -> std::io::Error {
        iso_sys::into_io_error(e.errno(), e)
    }
}
