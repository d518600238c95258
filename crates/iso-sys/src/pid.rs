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
