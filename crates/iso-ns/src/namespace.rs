//! The eight namespace kinds and sets of them.

use std::fmt;
use std::str::FromStr;

use crate::{Error, Result};

/// `CLONE_NEWTIME`, defined here because not every libc target exports it.
pub(crate) const CLONE_NEWTIME: i32 = 0x80;

/// One kind of Linux namespace.
///
/// ```
/// use iso_ns::Namespace;
/// assert_eq!(Namespace::Mount.proc_name(), "mnt");
/// assert_eq!(Namespace::Net.clone_flag(), libc::CLONE_NEWNET);
/// assert_eq!("uts".parse::<Namespace>()?, Namespace::Uts);
/// assert_eq!(Namespace::Pid.for_children_name(), Some("pid_for_children"));
/// # Ok::<(), iso_ns::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Namespace {
    /// Mount namespace (`CLONE_NEWNS`, `mnt`): the mount table.
    Mount,
    /// UTS namespace (`CLONE_NEWUTS`, `uts`): hostname and NIS domain name.
    Uts,
    /// IPC namespace (`CLONE_NEWIPC`, `ipc`): System V IPC objects and POSIX message queues.
    Ipc,
    /// PID namespace (`CLONE_NEWPID`, `pid`): process ids; affects children only.
    Pid,
    /// Network namespace (`CLONE_NEWNET`, `net`): interfaces, routes, sockets, firewall.
    Net,
    /// User namespace (`CLONE_NEWUSER`, `user`): uids, gids and capabilities; owns the others.
    User,
    /// Cgroup namespace (`CLONE_NEWCGROUP`, `cgroup`): the root of the visible cgroup tree.
    Cgroup,
    /// Time namespace (`CLONE_NEWTIME`, `time`): offsets of CLOCK_MONOTONIC and
    /// CLOCK_BOOTTIME; affects children only (and the caller after its next `execve`).
    Time,
}

impl Namespace {
    /// All eight kinds, in the order [`join`](crate::join) uses when nothing else decides.
    pub const ALL: [Namespace; 8] = [
        Namespace::User,
        Namespace::Mount,
        Namespace::Uts,
        Namespace::Ipc,
        Namespace::Pid,
        Namespace::Net,
        Namespace::Cgroup,
        Namespace::Time,
    ];

    /// The `CLONE_NEW*` flag for `clone(2)`, `unshare(2)` and `setns(2)`.
    ///
    /// ```
    /// assert_eq!(iso_ns::Namespace::Mount.clone_flag(), libc::CLONE_NEWNS);
    /// ```
    pub fn clone_flag(self) -> i32 {
        match self {
            Namespace::Mount => libc::CLONE_NEWNS,
            Namespace::Uts => libc::CLONE_NEWUTS,
            Namespace::Ipc => libc::CLONE_NEWIPC,
            Namespace::Pid => libc::CLONE_NEWPID,
            Namespace::Net => libc::CLONE_NEWNET,
            Namespace::User => libc::CLONE_NEWUSER,
            Namespace::Cgroup => libc::CLONE_NEWCGROUP,
            Namespace::Time => CLONE_NEWTIME,
        }
    }

    /// The kind whose `CLONE_NEW*` flag is `flag` (as `ioctl(NS_GET_NSTYPE)` returns it).
    ///
    /// ```
    /// use iso_ns::Namespace;
    /// assert_eq!(Namespace::from_clone_flag(libc::CLONE_NEWIPC), Some(Namespace::Ipc));
    /// assert_eq!(Namespace::from_clone_flag(libc::CLONE_VM), None);
    /// ```
    pub fn from_clone_flag(flag: i32) -> Option<Namespace> {
        Namespace::ALL
            .into_iter()
            .find(|ns| ns.clone_flag() == flag)
    }

    /// The file name under `/proc/PID/ns/`: `mnt`, `uts`, `ipc`, `pid`, `net`, `user`,
    /// `cgroup`, `time`.
    ///
    /// ```
    /// assert_eq!(iso_ns::Namespace::Cgroup.proc_name(), "cgroup");
    /// ```
    pub fn proc_name(self) -> &'static str {
        match self {
            Namespace::Mount => "mnt",
            Namespace::Uts => "uts",
            Namespace::Ipc => "ipc",
            Namespace::Pid => "pid",
            Namespace::Net => "net",
            Namespace::User => "user",
            Namespace::Cgroup => "cgroup",
            Namespace::Time => "time",
        }
    }

    /// For the two kinds a process never changes for itself (PID and time), the name of the
    /// `/proc/PID/ns/` file that shows the namespace its *next children* will be born in:
    /// `pid_for_children`, `time_for_children`. `None` for the others.
    ///
    /// ```
    /// assert_eq!(iso_ns::Namespace::Time.for_children_name(), Some("time_for_children"));
    /// assert_eq!(iso_ns::Namespace::Net.for_children_name(), None);
    /// ```
    pub fn for_children_name(self) -> Option<&'static str> {
        match self {
            Namespace::Pid => Some("pid_for_children"),
            Namespace::Time => Some("time_for_children"),
            _ => None,
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.proc_name())
    }
}

impl FromStr for Namespace {
    type Err = Error;

    /// Parses a `/proc/PID/ns` name (`mnt`, `net`, ...). `mount` and `network` are accepted
    /// too, as the OCI runtime spec spells them.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mnt" | "mount" => Ok(Namespace::Mount),
            "uts" => Ok(Namespace::Uts),
            "ipc" => Ok(Namespace::Ipc),
            "pid" => Ok(Namespace::Pid),
            "net" | "network" => Ok(Namespace::Net),
            "user" => Ok(Namespace::User),
            "cgroup" => Ok(Namespace::Cgroup),
            "time" => Ok(Namespace::Time),
            _ => Err(Error::Parse {
                what: "namespace kind",
                input: s.to_owned(),
                reason: "expected one of mnt, uts, ipc, pid, net, user, cgroup, time".into(),
            }),
        }
    }
}

/// A set of namespace kinds, for example the ones a new process gets.
///
/// ```
/// use iso_ns::{Namespace, NamespaceSet};
/// let set = NamespaceSet::from([Namespace::Pid, Namespace::Mount]);
/// assert!(set.contains(Namespace::Pid));
/// assert_eq!(set.clone_flags(), libc::CLONE_NEWPID | libc::CLONE_NEWNS);
/// assert_eq!(set.to_string(), "mnt,pid");
/// let more = set | Namespace::Uts;
/// assert_eq!(more.len(), 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NamespaceSet(u8);

impl NamespaceSet {
    /// The empty set.
    ///
    /// ```
    /// assert!(iso_ns::NamespaceSet::empty().is_empty());
    /// ```
    pub const fn empty() -> Self {
        NamespaceSet(0)
    }

    /// All eight kinds.
    ///
    /// ```
    /// assert_eq!(iso_ns::NamespaceSet::all().len(), 8);
    /// ```
    pub fn all() -> Self {
        Namespace::ALL.into_iter().collect()
    }

    /// Adds `ns`; returns whether it was new.
    ///
    /// ```
    /// let mut set = iso_ns::NamespaceSet::empty();
    /// assert!(set.insert(iso_ns::Namespace::Net));
    /// assert!(!set.insert(iso_ns::Namespace::Net));
    /// ```
    pub fn insert(&mut self, ns: Namespace) -> bool {
        let new = !self.contains(ns);
        self.0 |= ns.bit();
        new
    }

    /// Removes `ns`; returns whether it was there.
    ///
    /// ```
    /// let mut set = iso_ns::NamespaceSet::all();
    /// assert!(set.remove(iso_ns::Namespace::Time));
    /// assert_eq!(set.len(), 7);
    /// ```
    pub fn remove(&mut self, ns: Namespace) -> bool {
        let had = self.contains(ns);
        self.0 &= !ns.bit();
        had
    }

    /// Whether `ns` is in the set.
    ///
    /// ```
    /// assert!(iso_ns::NamespaceSet::all().contains(iso_ns::Namespace::Ipc));
    /// ```
    pub fn contains(&self, ns: Namespace) -> bool {
        self.0 & ns.bit() != 0
    }

    /// Whether the set is empty.
    ///
    /// ```
    /// assert!(!iso_ns::NamespaceSet::from(iso_ns::Namespace::Uts).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// How many kinds are in the set.
    ///
    /// ```
    /// assert_eq!(iso_ns::NamespaceSet::from(iso_ns::Namespace::Uts).len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.0.count_ones() as usize
    }

    /// The kinds in the set, in declaration order (mount, uts, ipc, pid, net, user, cgroup,
    /// time).
    ///
    /// ```
    /// use iso_ns::{Namespace, NamespaceSet};
    /// let set = NamespaceSet::from([Namespace::Net, Namespace::Mount]);
    /// assert_eq!(set.iter().collect::<Vec<_>>(), vec![Namespace::Mount, Namespace::Net]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = Namespace> + '_ {
        [
            Namespace::Mount,
            Namespace::Uts,
            Namespace::Ipc,
            Namespace::Pid,
            Namespace::Net,
            Namespace::User,
            Namespace::Cgroup,
            Namespace::Time,
        ]
        .into_iter()
        .filter(|ns| self.contains(*ns))
    }

    /// The `CLONE_NEW*` flags of every kind in the set, OR-ed together.
    ///
    /// ```
    /// assert_eq!(iso_ns::NamespaceSet::from(iso_ns::Namespace::Net).clone_flags(), libc::CLONE_NEWNET);
    /// ```
    pub fn clone_flags(&self) -> i32 {
        self.iter().fold(0, |acc, ns| acc | ns.clone_flag())
    }

    /// The set whose flags are in `flags`; `None` if `flags` has a bit that is not a
    /// namespace flag.
    ///
    /// ```
    /// use iso_ns::NamespaceSet;
    /// let set = NamespaceSet::from_clone_flags(libc::CLONE_NEWUTS | libc::CLONE_NEWNET).unwrap();
    /// assert_eq!(set.to_string(), "uts,net");
    /// assert!(NamespaceSet::from_clone_flags(libc::CLONE_VM).is_none());
    /// ```
    pub fn from_clone_flags(flags: i32) -> Option<Self> {
        let set: NamespaceSet = Namespace::ALL
            .into_iter()
            .filter(|ns| flags & ns.clone_flag() != 0)
            .collect();
        (set.clone_flags() == flags).then_some(set)
    }
}

impl From<Namespace> for NamespaceSet {
    fn from(ns: Namespace) -> Self {
        NamespaceSet(ns.bit())
    }
}

impl<const N: usize> From<[Namespace; N]> for NamespaceSet {
    fn from(kinds: [Namespace; N]) -> Self {
        kinds.into_iter().collect()
    }
}

impl FromIterator<Namespace> for NamespaceSet {
    fn from_iter<I: IntoIterator<Item = Namespace>>(iter: I) -> Self {
        let mut set = NamespaceSet::empty();
        for ns in iter {
            set.insert(ns);
        }
        set
    }
}

impl std::ops::BitOr for NamespaceSet {
    type Output = NamespaceSet;
    fn bitor(self, rhs: NamespaceSet) -> NamespaceSet {
        NamespaceSet(self.0 | rhs.0)
    }
}

impl std::ops::BitOr<Namespace> for NamespaceSet {
    type Output = NamespaceSet;
    fn bitor(self, rhs: Namespace) -> NamespaceSet {
        NamespaceSet(self.0 | rhs.bit())
    }
}

impl fmt::Display for NamespaceSet {
    /// Comma-separated `/proc/PID/ns` names, for example `mnt,pid`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, ns) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(ns.proc_name())?;
        }
        Ok(())
    }
}

impl FromStr for NamespaceSet {
    type Err = Error;

    /// Parses a comma-separated list of names (`"mnt,pid"`); the empty string is the empty set.
    fn from_str(s: &str) -> Result<Self> {
        s.split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(str::parse::<Namespace>)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn flags_are_distinct_and_round_trip() {
        let mut seen = 0;
        for ns in Namespace::ALL {
            assert_eq!(seen & ns.clone_flag(), 0, "{ns}");
            seen |= ns.clone_flag();
            assert_eq!(Namespace::from_clone_flag(ns.clone_flag()), Some(ns));
            assert_eq!(ns.proc_name().parse::<Namespace>().unwrap(), ns);
        }
        assert_eq!(NamespaceSet::all().clone_flags(), seen);
        assert_eq!(NamespaceSet::all().len(), 8);
    }

    #[test]
    fn proc_names_exist_on_this_kernel() {
        for ns in Namespace::ALL {
            let path = format!("/proc/self/ns/{}", ns.proc_name());
            assert!(std::path::Path::new(&path).exists(), "{path}");
            if let Some(name) = ns.for_children_name() {
                assert!(std::path::Path::new(&format!("/proc/self/ns/{name}")).exists());
            }
        }
    }

    #[test]
    fn bad_names_are_refused() {
        let err = "mnt,bogus".parse::<NamespaceSet>().unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
    }

    proptest! {
        #[test]
        fn set_display_parse_round_trip(bits in 0u8..=255) {
            let set: NamespaceSet = Namespace::ALL
                .into_iter()
                .filter(|ns| bits & ns.bit() != 0)
                .collect();
            let parsed: NamespaceSet = set.to_string().parse().unwrap();
            prop_assert_eq!(parsed, set);
            prop_assert_eq!(NamespaceSet::from_clone_flags(set.clone_flags()), Some(set));
        }

        #[test]
        fn parse_never_panics(s in ".{0,40}") {
            let _ = s.parse::<NamespaceSet>();
        }
    }
}
