use std::fmt;

/// A process id as the kernel sees it from the caller's PID namespace.
///
/// ```
/// let me = iso_sys::Pid::this();
/// assert_eq!(me.as_raw() as u32, std::process::id());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid(i32);

impl Pid {
    /// Wraps a raw pid. Returns `None` for values that are never a process (zero or negative).
    ///
    /// ```
    /// assert!(iso_sys::Pid::from_raw(0).is_none());
    /// assert_eq!(iso_sys::Pid::from_raw(1).unwrap().as_raw(), 1);
    /// ```
    pub fn from_raw(raw: i32) -> Option<Self> {
        (raw > 0).then_some(Pid(raw))
    }

    /// The calling process.
    pub fn this() -> Self {
        // SAFETY: getpid has no preconditions and cannot fail.
        Pid(unsafe { libc::getpid() })
    }

    /// The raw value, for system calls.
    pub fn as_raw(self) -> i32 {
        self.0
    }
}

/// A number that is not a process id: zero, or above `i32::MAX` (the kernel's `pid_t`).
///
/// ```
/// let err = iso_sys::Pid::try_from(0u32).unwrap_err();
/// assert_eq!(err.to_string(), "0 is not a process id (1 to 2147483647)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not a process id (1 to 2147483647)")]
pub struct InvalidPid(pub i64);

impl TryFrom<u32> for Pid {
    type Error = InvalidPid;

    /// A pid as std gives it ([`std::process::id`], [`std::process::Child::id`]).
    ///
    /// ```
    /// let me = iso_sys::Pid::try_from(std::process::id())?;
    /// assert_eq!(me, iso_sys::Pid::this());
    /// # Ok::<(), iso_sys::InvalidPid>(())
    /// ```
    fn try_from(raw: u32) -> Result<Self, InvalidPid> {
        i32::try_from(raw)
            .ok()
            .and_then(Pid::from_raw)
            .ok_or(InvalidPid(raw.into()))
    }
}

impl TryFrom<i32> for Pid {
    type Error = InvalidPid;

    /// A `pid_t` as libc gives it.
    ///
    /// ```
    /// assert!(iso_sys::Pid::try_from(-1i32).is_err());
    /// ```
    fn try_from(raw: i32) -> Result<Self, InvalidPid> {
        Pid::from_raw(raw).ok_or(InvalidPid(raw.into()))
    }
}

impl From<&std::process::Child> for Pid {
    /// The child's pid. A spawned child always has one the kernel gave it (a positive
    /// `pid_t`), so this cannot fail.
    ///
    /// ```
    /// let child = std::process::Command::new("true").spawn()?;
    /// let pid = iso_sys::Pid::from(&child);
    /// assert_eq!(pid.as_raw() as u32, child.id());
    /// # let mut child = child; child.wait()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn from(child: &std::process::Child) -> Self {
        // A fork's pid is 1..=pid_max (at most 2^22), so it always fits a positive i32.
        Pid(child.id() as i32)
    }
}

impl From<Pid> for i32 {
    fn from(pid: Pid) -> i32 {
        pid.0
    }
}

impl From<Pid> for u32 {
    fn from(pid: Pid) -> u32 {
        // Positive by construction.
        pid.0 as u32
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Which process directory of `/proc` to use.
///
/// ```
/// use iso_sys::{Pid, ProcPid};
/// assert_eq!(ProcPid::SelfPid.dir_name(), "self");
/// assert_eq!(ProcPid::Pid(Pid::from_raw(42).unwrap()).dir_name(), "42");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcPid {
    /// `/proc/self`: the calling process.
    SelfPid,
    /// `/proc/thread-self`: the calling thread.
    ThreadSelf,
    /// `/proc/<pid>`.
    Pid(Pid),
}

impl ProcPid {
    /// The name of the directory under `/proc`.
    pub fn dir_name(&self) -> String {
        match self {
            ProcPid::SelfPid => "self".to_owned(),
            ProcPid::ThreadSelf => "thread-self".to_owned(),
            ProcPid::Pid(pid) => pid.to_string(),
        }
    }
}

impl From<Pid> for ProcPid {
    fn from(pid: Pid) -> Self {
        ProcPid::Pid(pid)
    }
}
