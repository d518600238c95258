//! Landlock: a process restricts itself, without privileges, to the files and ports it
//! names.
//!
//! A [`Ruleset`] lists the *handled* access rights (everything handled is denied unless a
//! rule allows it) and the rules that allow some of them beneath a path or on a TCP port.
//! [`Ruleset::prepare`] checks it against the kernel's ABI, creates the kernel ruleset and
//! returns a [`Prepared`] ruleset with the [`Enforcement`] report of what will be enforced;
//! [`Prepared::restrict_self`] then applies it to the calling thread (and everything it
//! later forks or executes). Restriction only ever adds up: a restricted process can add
//! more rulesets, never remove one.
//!
//! ```no_run
//! use iso_mac::landlock::{Compat, FsAccess, NetAccess, Ruleset};
//!
//! # fn main() -> iso_mac::Result<()> {
//! let report = Ruleset::new()
//!     .handle_fs(FsAccess::all_known())
//!     .handle_net(NetAccess::BIND_TCP)
//!     .allow_path("/usr", FsAccess::read())
//!     .allow_path("/tmp", FsAccess::read() | FsAccess::write_known())
//!     .compat(Compat::BestEffort)
//!     .restrict_self()?;
//! println!("{report}");
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use landlock::{
    AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, NetPort, PathBeneath, PathFd,
    RestrictionStatus, RulesetAttr, RulesetCreated, RulesetCreatedAttr, RulesetStatus, Scope,
};

use crate::{Error, Result};

bitflags::bitflags! {
    /// Filesystem access rights (`LANDLOCK_ACCESS_FS_*`), with the kernel's bit values.
    ///
    /// ```
    /// use iso_mac::landlock::FsAccess;
    /// assert!(FsAccess::read().contains(FsAccess::READ_FILE));
    /// assert_eq!(FsAccess::supported_by(1).contains(FsAccess::REFER), false);
    /// assert!(FsAccess::supported_by(2).contains(FsAccess::REFER));
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct FsAccess: u64 {
        /// Execute a file (ABI 1).
        const EXECUTE = 1 << 0;
        /// Open a file for writing (ABI 1).
        const WRITE_FILE = 1 << 1;
        /// Open a file for reading (ABI 1).
        const READ_FILE = 1 << 2;
        /// Open or list a directory (ABI 1).
        const READ_DIR = 1 << 3;
        /// Remove or rename away an empty directory (ABI 1).
        const REMOVE_DIR = 1 << 4;
        /// Unlink or rename away a file (ABI 1).
        const REMOVE_FILE = 1 << 5;
        /// Create a character device (ABI 1).
        const MAKE_CHAR = 1 << 6;
        /// Create a directory (ABI 1).
        const MAKE_DIR = 1 << 7;
        /// Create a regular file (ABI 1).
        const MAKE_REG = 1 << 8;
        /// Create a UNIX domain socket (ABI 1).
        const MAKE_SOCK = 1 << 9;
        /// Create a named pipe (ABI 1).
        const MAKE_FIFO = 1 << 10;
        /// Create a block device (ABI 1).
        const MAKE_BLOCK = 1 << 11;
        /// Create a symbolic link (ABI 1).
        const MAKE_SYM = 1 << 12;
        /// Link or rename a file across directories (ABI 2). Without it (ABI 1) such
        /// renames are always denied inside a sandbox.
        const REFER = 1 << 13;
        /// Truncate a file (ABI 3).
        const TRUNCATE = 1 << 14;
        /// ioctl(2) on a device file (ABI 5).
        const IOCTL_DEV = 1 << 15;
        /// Connect to a pathname UNIX socket (ABI 9).
        const RESOLVE_UNIX = 1 << 16;
    }
}

impl FsAccess {
    /// Reading and executing: `EXECUTE | READ_FILE | READ_DIR`.
    ///
    /// ```
    /// assert_eq!(iso_mac::landlock::FsAccess::read().bits(), 0b1101);
    /// ```
    pub fn read() -> FsAccess {
        FsAccess::EXECUTE | FsAccess::READ_FILE | FsAccess::READ_DIR
    }

    /// Every writing right this crate knows (whatever the kernel supports).
    ///
    /// ```
    /// use iso_mac::landlock::FsAccess;
    /// assert!(FsAccess::write_known().contains(FsAccess::TRUNCATE));
    /// ```
    pub fn write_known() -> FsAccess {
        FsAccess::all_known() - FsAccess::read()
    }

    /// Every right this crate knows.
    ///
    /// ```
    /// assert_eq!(iso_mac::landlock::FsAccess::all_known(), iso_mac::landlock::FsAccess::all());
    /// ```
    pub fn all_known() -> FsAccess {
        FsAccess::all()
    }

    /// The rights that Landlock ABI version `abi` can enforce (empty for 0).
    ///
    /// ```
    /// use iso_mac::landlock::FsAccess;
    /// assert!(FsAccess::supported_by(0).is_empty());
    /// assert!(FsAccess::supported_by(3).contains(FsAccess::TRUNCATE));
    /// assert!(!FsAccess::supported_by(4).contains(FsAccess::IOCTL_DEV));
    /// ```
    pub fn supported_by(abi: u32) -> FsAccess {
        let v1 = FsAccess::from_bits_truncate((1 << 13) - 1);
        match abi {
            0 => FsAccess::empty(),
            1 => v1,
            2 => v1 | FsAccess::REFER,
            3 | 4 => v1 | FsAccess::REFER | FsAccess::TRUNCATE,
            5..=8 => v1 | FsAccess::REFER | FsAccess::TRUNCATE | FsAccess::IOCTL_DEV,
            _ => FsAccess::all(),
        }
    }

    /// The rights that make sense on a non-directory file; rules on a file may only use
    /// these.
    ///
    /// ```
    /// use iso_mac::landlock::FsAccess;
    /// assert!(!FsAccess::file_rights().contains(FsAccess::READ_DIR));
    /// ```
    pub fn file_rights() -> FsAccess {
        FsAccess::EXECUTE
            | FsAccess::WRITE_FILE
            | FsAccess::READ_FILE
            | FsAccess::TRUNCATE
            | FsAccess::IOCTL_DEV
    }

    fn to_landlock(self) -> BitFlags<AccessFs> {
        BitFlags::<AccessFs>::from_bits_truncate(self.bits())
    }
}

bitflags::bitflags! {
    /// Network access rights (`LANDLOCK_ACCESS_NET_*`).
    ///
    /// ```
    /// use iso_mac::landlock::NetAccess;
    /// assert!(NetAccess::supported_by(3).is_empty());
    /// assert_eq!(NetAccess::supported_by(4), NetAccess::BIND_TCP | NetAccess::CONNECT_TCP);
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct NetAccess: u64 {
        /// bind(2) a TCP socket to a port (ABI 4).
        const BIND_TCP = 1 << 0;
        /// connect(2) a TCP socket to a port (ABI 4).
        const CONNECT_TCP = 1 << 1;
        /// bind(2) a UDP socket to a port (ABI 10).
        const BIND_UDP = 1 << 2;
        /// Connect or send a UDP datagram to a port (ABI 10).
        const CONNECT_SEND_UDP = 1 << 3;
    }
}

impl NetAccess {
    /// The rights that Landlock ABI version `abi` can enforce.
    ///
    /// ```
    /// assert!(iso_mac::landlock::NetAccess::supported_by(10).contains(iso_mac::landlock::NetAccess::BIND_UDP));
    /// ```
    pub fn supported_by(abi: u32) -> NetAccess {
        match abi {
            0..=3 => NetAccess::empty(),
            4..=9 => NetAccess::BIND_TCP | NetAccess::CONNECT_TCP,
            _ => NetAccess::all(),
        }
    }

    fn to_landlock(self) -> BitFlags<AccessNet> {
        BitFlags::<AccessNet>::from_bits_truncate(self.bits())
    }
}

bitflags::bitflags! {
    /// IPC scoping (`LANDLOCK_SCOPE_*`, ABI 6): cut the sandbox off from processes and
    /// sockets outside it, whatever their files and ports.
    ///
    /// ```
    /// use iso_mac::landlock::Scoped;
    /// assert!(Scoped::supported_by(5).is_empty());
    /// assert_eq!(Scoped::supported_by(6), Scoped::all());
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Scoped: u64 {
        /// No connecting to abstract UNIX sockets created outside the sandbox.
        const ABSTRACT_UNIX_SOCKET = 1 << 0;
        /// No signals to processes outside the sandbox.
        const SIGNAL = 1 << 1;
    }
}

impl Scoped {
    /// The scopes that Landlock ABI version `abi` can enforce.
    ///
    /// ```
    /// assert!(iso_mac::landlock::Scoped::supported_by(7).contains(iso_mac::landlock::Scoped::SIGNAL));
    /// ```
    pub fn supported_by(abi: u32) -> Scoped {
        if abi >= 6 {
            Scoped::all()
        } else {
            Scoped::empty()
        }
    }

    fn to_landlock(self) -> BitFlags<Scope> {
        BitFlags::<Scope>::from_bits_truncate(self.bits())
    }
}

/// What to do when the kernel cannot enforce everything the ruleset asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compat {
    /// Enforce what the kernel supports and report the rest as dropped (the [`Enforcement`]
    /// says what); on a kernel without Landlock nothing is enforced and no error is raised.
    #[default]
    BestEffort,
    /// Fail with [`Error::LandlockUnsupported`] unless every handled right can be
    /// enforced; nothing is applied in that case.
    Required,
}

/// How much of a ruleset the kernel enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnforcementStatus {
    /// Every handled right is enforced.
    Full,
    /// Some handled rights are enforced, some were dropped.
    Partial,
    /// Nothing is enforced (Landlock unavailable, or no handled right supported).
    None,
}

/// The report of what a ruleset enforces on this kernel.
///
/// ```
/// use iso_mac::landlock::{Enforcement, EnforcementStatus, FsAccess, NetAccess, Scoped};
/// let report = Enforcement::plan(3, FsAccess::read() | FsAccess::IOCTL_DEV, NetAccess::BIND_TCP, Scoped::empty());
/// assert_eq!(report.status, EnforcementStatus::Partial);
/// assert_eq!(report.dropped_fs, FsAccess::IOCTL_DEV);
/// assert_eq!(report.dropped_net, NetAccess::BIND_TCP);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Enforcement {
    /// The kernel's Landlock ABI (0 when unavailable).
    pub abi: u32,
    /// Full, partial or none.
    pub status: EnforcementStatus,
    /// The filesystem rights that are enforced.
    pub enforced_fs: FsAccess,
    /// Handled filesystem rights the kernel cannot enforce (left unrestricted).
    pub dropped_fs: FsAccess,
    /// The network rights that are enforced.
    pub enforced_net: NetAccess,
    /// Handled network rights the kernel cannot enforce (left unrestricted).
    pub dropped_net: NetAccess,
    /// The IPC scopes that are enforced.
    pub enforced_scope: Scoped,
    /// Requested scopes the kernel cannot enforce.
    pub dropped_scope: Scoped,
    /// Whether `no_new_privs` is set (only meaningful after [`Prepared::restrict_self`]).
    pub no_new_privs: bool,
}

impl Enforcement {
    /// What a ruleset handling `fs` and `net` enforces under ABI `abi`.
    ///
    /// ```
    /// use iso_mac::landlock::{Enforcement, EnforcementStatus, FsAccess, NetAccess, Scoped};
    /// let none = Enforcement::plan(0, FsAccess::read(), NetAccess::empty(), Scoped::empty());
    /// assert_eq!(none.status, EnforcementStatus::None);
    /// let full = Enforcement::plan(1, FsAccess::read(), NetAccess::empty(), Scoped::empty());
    /// assert_eq!(full.status, EnforcementStatus::Full);
    /// let partial = Enforcement::plan(5, FsAccess::read(), NetAccess::empty(), Scoped::SIGNAL);
    /// assert_eq!(partial.dropped_scope, Scoped::SIGNAL);
    /// ```
    pub fn plan(abi: u32, fs: FsAccess, net: NetAccess, scope: Scoped) -> Enforcement {
        let enforced_fs = fs & FsAccess::supported_by(abi);
        let enforced_net = net & NetAccess::supported_by(abi);
        let enforced_scope = scope & Scoped::supported_by(abi);
        let dropped_fs = fs - enforced_fs;
        let dropped_net = net - enforced_net;
        let dropped_scope = scope - enforced_scope;
        let status =
            if enforced_fs.is_empty() && enforced_net.is_empty() && enforced_scope.is_empty() {
                EnforcementStatus::None
            } else if dropped_fs.is_empty() && dropped_net.is_empty() && dropped_scope.is_empty() {
                EnforcementStatus::Full
            } else {
                EnforcementStatus::Partial
            };
        Enforcement {
            abi,
            status,
            enforced_fs,
            dropped_fs,
            enforced_net,
            dropped_net,
            enforced_scope,
            dropped_scope,
            no_new_privs: false,
        }
    }

    /// Whether everything handled is enforced.
    ///
    /// ```
    /// use iso_mac::landlock::{Enforcement, FsAccess, NetAccess, Scoped};
    /// assert!(Enforcement::plan(7, FsAccess::read(), NetAccess::BIND_TCP, Scoped::SIGNAL).is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        self.status == EnforcementStatus::Full
    }
}

impl fmt::Display for Enforcement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match self.status {
            EnforcementStatus::Full => "fully enforced",
            EnforcementStatus::Partial => "partially enforced",
            EnforcementStatus::None => "not enforced",
        };
        write!(f, "Landlock ABI {}: {status}", self.abi)?;
        if !self.dropped_fs.is_empty() {
            write!(f, "; filesystem rights dropped: {:?}", self.dropped_fs)?;
        }
        if !self.dropped_net.is_empty() {
            write!(f, "; network rights dropped: {:?}", self.dropped_net)?;
        }
        if !self.dropped_scope.is_empty() {
            write!(f, "; scopes dropped: {:?}", self.dropped_scope)?;
        }
        Ok(())
    }
}

/// A Landlock ruleset description: what is handled (denied by default) and what is allowed.
///
/// ```no_run
/// use iso_mac::landlock::{Compat, FsAccess, Ruleset};
/// # fn main() -> iso_mac::Result<()> {
/// // Read-only access to /usr, nothing else, or fail if the kernel cannot do it all.
/// let prepared = Ruleset::new()
///     .handle_fs(FsAccess::supported_by(3))
///     .allow_path("/usr", FsAccess::read())
///     .compat(Compat::Required)
///     .prepare()?;
/// assert!(prepared.report().is_full());
/// prepared.restrict_self()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruleset {
    handled_fs: FsAccess,
    handled_net: NetAccess,
    paths: Vec<(PathBuf, FsAccess)>,
    ports: Vec<(u16, NetAccess)>,
    scope: Scoped,
    compat: Compat,
    no_new_privs: bool,
    skip_missing_paths: bool,
}

impl Ruleset {
    /// An empty ruleset (best effort, `no_new_privs` set on apply).
    ///
    /// ```
    /// let ruleset = iso_mac::landlock::Ruleset::new();
    /// ```
    pub fn new() -> Self {
        Ruleset {
            no_new_privs: true,
            ..Default::default()
        }
    }

    /// Handles (denies unless allowed) the filesystem rights `access`.
    ///
    /// ```
    /// use iso_mac::landlock::{FsAccess, Ruleset};
    /// let r = Ruleset::new().handle_fs(FsAccess::READ_FILE | FsAccess::WRITE_FILE);
    /// ```
    pub fn handle_fs(mut self, access: FsAccess) -> Self {
        self.handled_fs |= access;
        self
    }

    /// Handles (denies unless allowed) the network rights `access`.
    ///
    /// ```
    /// use iso_mac::landlock::{NetAccess, Ruleset};
    /// let r = Ruleset::new().handle_net(NetAccess::BIND_TCP | NetAccess::CONNECT_TCP);
    /// ```
    pub fn handle_net(mut self, access: NetAccess) -> Self {
        self.handled_net |= access;
        self
    }

    /// Allows `access` beneath `path` (the path itself if it is a file). The rights must be
    /// handled; on a non-directory only [`FsAccess::file_rights`] are allowed.
    ///
    /// ```
    /// use iso_mac::landlock::{FsAccess, Ruleset};
    /// let r = Ruleset::new().handle_fs(FsAccess::read()).allow_path("/usr", FsAccess::read());
    /// ```
    pub fn allow_path(mut self, path: impl Into<PathBuf>, access: FsAccess) -> Self {
        self.paths.push((path.into(), access));
        self
    }

    /// Allows `access` on TCP port `port`. The rights must be handled.
    ///
    /// ```
    /// use iso_mac::landlock::{NetAccess, Ruleset};
    /// let r = Ruleset::new().handle_net(NetAccess::CONNECT_TCP).allow_port(443, NetAccess::CONNECT_TCP);
    /// ```
    pub fn allow_port(mut self, port: u16, access: NetAccess) -> Self {
        self.ports.push((port, access));
        self
    }

    /// Adds IPC scopes: no signals to, or abstract-socket connections with, processes
    /// outside the sandbox.
    ///
    /// ```
    /// use iso_mac::landlock::{Ruleset, Scoped};
    /// let r = Ruleset::new().scope(Scoped::SIGNAL | Scoped::ABSTRACT_UNIX_SOCKET);
    /// ```
    pub fn scope(mut self, scope: Scoped) -> Self {
        self.scope |= scope;
        self
    }

    /// Chooses what happens when the kernel cannot enforce everything (default best effort).
    ///
    /// ```
    /// use iso_mac::landlock::{Compat, Ruleset};
    /// let r = Ruleset::new().compat(Compat::Required);
    /// ```
    pub fn compat(mut self, compat: Compat) -> Self {
        self.compat = compat;
        self
    }

    /// What happens when the kernel cannot enforce everything.
    ///
    /// ```
    /// use iso_mac::landlock::{Compat, Ruleset};
    /// assert_eq!(Ruleset::new().compatibility(), Compat::BestEffort);
    /// ```
    pub fn compatibility(&self) -> Compat {
        self.compat
    }

    /// Whether applying also sets `no_new_privs` (default true). Without it, an
    /// unprivileged process cannot restrict itself (`EPERM`); a process with
    /// `CAP_SYS_ADMIN` can.
    ///
    /// ```
    /// let r = iso_mac::landlock::Ruleset::new().no_new_privs(false);
    /// ```
    pub fn no_new_privs(mut self, yes: bool) -> Self {
        self.no_new_privs = yes;
        self
    }

    /// Whether a rule whose path does not exist is left out (default false: preparing fails).
    /// Leaving it out allows nothing more: what is not there cannot be opened, and what is
    /// created there later is covered by the rule of a parent, if any.
    ///
    /// ```
    /// let r = iso_mac::landlock::Ruleset::new().skip_missing_paths(true);
    /// ```
    pub fn skip_missing_paths(mut self, yes: bool) -> Self {
        self.skip_missing_paths = yes;
        self
    }

    /// What this ruleset would enforce under Landlock ABI `abi` (0: no Landlock), without
    /// asking the kernel: for a decision made ahead of time, with the ABI found once.
    ///
    /// ```
    /// use iso_mac::landlock::{EnforcementStatus, FsAccess, Ruleset};
    /// let r = Ruleset::new().handle_fs(FsAccess::read() | FsAccess::TRUNCATE);
    /// assert_eq!(r.plan_for(2).status, EnforcementStatus::Partial);
    /// assert!(r.plan_for(3).is_full());
    /// ```
    pub fn plan_for(&self, abi: u32) -> Enforcement {
        Enforcement::plan(abi, self.handled_fs, self.handled_net, self.scope)
    }

    /// What this ruleset would enforce on this kernel, without creating anything.
    ///
    /// ```
    /// use iso_mac::landlock::{FsAccess, Ruleset};
    /// let report = Ruleset::new().handle_fs(FsAccess::read()).plan();
    /// println!("{report}");
    /// ```
    pub fn plan(&self) -> Enforcement {
        self.plan_for(crate::landlock_status().abi())
    }

    fn validate(&self) -> Result<()> {
        if self.handled_fs.is_empty() && self.handled_net.is_empty() && self.scope.is_empty() {
            return Err(Error::invalid(
                "Landlock ruleset",
                "handles no access right and no scope, so it would restrict nothing",
            ));
        }
        for (path, access) in &self.paths {
            let extra = *access - self.handled_fs;
            if !extra.is_empty() {
                return Err(Error::invalid(
                    "Landlock path rule",
                    format!("{path:?} allows {extra:?}, which the ruleset does not handle"),
                ));
            }
            if access.is_empty() {
                return Err(Error::invalid(
                    "Landlock path rule",
                    format!("{path:?} allows nothing"),
                ));
            }
        }
        for (port, access) in &self.ports {
            let extra = *access - self.handled_net;
            if !extra.is_empty() || access.is_empty() {
                return Err(Error::invalid(
                    "Landlock port rule",
                    format!(
                        "port {port} allows {access:?}, the ruleset handles {:?}",
                        self.handled_net
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Checks the ruleset against the kernel and creates it (opening every rule's path now),
    /// without restricting anything yet.
    ///
    /// Under [`Compat::Required`], fails with [`Error::LandlockUnsupported`] if any handled
    /// right is beyond the kernel's ABI.
    ///
    /// ```no_run
    /// use iso_mac::landlock::{FsAccess, Ruleset};
    /// # fn main() -> iso_mac::Result<()> {
    /// let prepared = Ruleset::new().handle_fs(FsAccess::READ_FILE).prepare()?;
    /// println!("{}", prepared.report());
    /// # Ok(())
    /// # }
    /// ```
    pub fn prepare(&self) -> Result<Prepared> {
        self.validate()?;
        let report = self.plan();
        if self.compat == Compat::Required && (report.status != EnforcementStatus::Full) {
            let what = if report.abi == 0 {
                "anything (Landlock is not available)".to_string()
            } else {
                let mut parts = Vec::new();
                if !report.dropped_fs.is_empty() {
                    parts.push(format!("filesystem rights {:?}", report.dropped_fs));
                }
                if !report.dropped_net.is_empty() {
                    parts.push(format!("network rights {:?}", report.dropped_net));
                }
                if !report.dropped_scope.is_empty() {
                    parts.push(format!("scopes {:?}", report.dropped_scope));
                }
                parts.join(" and ")
            };
            return Err(Error::LandlockUnsupported {
                abi: report.abi,
                what,
            });
        }
        let level = match self.compat {
            Compat::BestEffort => CompatLevel::BestEffort,
            Compat::Required => CompatLevel::HardRequirement,
        };
        let ll = |op: &'static str| {
            move |e: landlock::RulesetError| Error::Landlock {
                op,
                source: Box::new(e),
            }
        };
        let mut ruleset = landlock::Ruleset::default().set_compatibility(level);
        if !self.handled_fs.is_empty() {
            ruleset = ruleset
                .handle_access(self.handled_fs.to_landlock())
                .map_err(ll("handle filesystem rights"))?;
        }
        if !self.handled_net.is_empty() {
            ruleset = ruleset
                .handle_access(self.handled_net.to_landlock())
                .map_err(ll("handle network rights"))?;
        }
        if !self.scope.is_empty() {
            ruleset = ruleset
                .scope(self.scope.to_landlock())
                .map_err(ll("scope"))?;
        }
        let mut created = ruleset.create().map_err(ll("create ruleset"))?;
        for (path, access) in &self.paths {
            let fd = match open_path(path) {
                Ok(fd) => fd,
                Err(_) if self.skip_missing_paths && !path.exists() => continue,
                Err(e) => return Err(e),
            };
            let access = if is_dir(&fd, path)? {
                *access
            } else {
                let not_for_files = *access - FsAccess::file_rights();
                if !not_for_files.is_empty() {
                    return Err(Error::invalid(
                        "Landlock path rule",
                        format!("{path:?} is not a directory; {not_for_files:?} apply to directories only"),
                    ));
                }
                *access
            };
            created = created
                .add_rule(PathBeneath::new(fd, access.to_landlock()))
                .map_err(ll("add path rule"))?;
        }
        for (port, access) in &self.ports {
            created = created
                .add_rule(NetPort::new(*port, access.to_landlock()))
                .map_err(ll("add port rule"))?;
        }
        created = created.no_new_privs(self.no_new_privs);
        Ok(Prepared { created, report })
    }

    /// [`prepare`](Self::prepare) then [`Prepared::restrict_self`]: restricts the calling
    /// thread and returns the report.
    ///
    /// ```no_run
    /// use iso_mac::landlock::{FsAccess, Ruleset};
    /// # fn main() -> iso_mac::Result<()> {
    /// let report = Ruleset::new().handle_fs(FsAccess::WRITE_FILE).restrict_self()?;
    /// assert!(std::fs::write("/tmp/x", b"no").is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn restrict_self(&self) -> Result<Enforcement> {
        self.prepare()?.restrict_self()
    }
}

fn open_path(path: &Path) -> Result<PathFd> {
    PathFd::new(path).map_err(|e| Error::Landlock {
        op: "open rule path",
        source: Box::new(e),
    })
}

/// Whether the opened rule path is a directory, asked of the descriptor itself so the
/// answer is about the object the rule will be attached to.
fn is_dir(fd: &PathFd, path: &Path) -> Result<bool> {
    use std::os::fd::{AsFd, AsRawFd};
    // SAFETY: stat is plain data; all-zero is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: the descriptor is valid for the duration of the call; st is a valid out-pointer.
    if unsafe { libc::fstat(fd.as_fd().as_raw_fd(), &mut st) } < 0 {
        return Err(Error::io("fstat", path, std::io::Error::last_os_error()));
    }
    Ok(st.st_mode & libc::S_IFMT == libc::S_IFDIR)
}

/// A ruleset created in the kernel, ready to restrict the calling thread.
///
/// [`restrict_self`](Prepared::restrict_self) makes only two system calls (`prctl` and
/// `landlock_restrict_self`) and allocates nothing on success, so a runtime can prepare
/// before `fork(2)` and restrict in the child just before `execve(2)`.
#[derive(Debug)]
pub struct Prepared {
    created: RulesetCreated,
    report: Enforcement,
}

impl Prepared {
    /// What will be enforced (the kernel may still refuse at restrict time).
    ///
    /// ```no_run
    /// # use iso_mac::landlock::{FsAccess, Ruleset};
    /// # fn main() -> iso_mac::Result<()> {
    /// let prepared = Ruleset::new().handle_fs(FsAccess::READ_FILE).prepare()?;
    /// println!("{}", prepared.report());
    /// # Ok(())
    /// # }
    /// ```
    pub fn report(&self) -> &Enforcement {
        &self.report
    }

    /// Restricts the calling thread (and its future children) and returns the final report.
    /// Other threads of the process are not restricted: call it while single-threaded.
    ///
    /// ```no_run
    /// # use iso_mac::landlock::{FsAccess, Ruleset};
    /// # fn main() -> iso_mac::Result<()> {
    /// let prepared = Ruleset::new().handle_fs(FsAccess::READ_FILE).allow_path("/usr", FsAccess::READ_FILE).prepare()?;
    /// let report = prepared.restrict_self()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn restrict_self(self) -> Result<Enforcement> {
        let mut report = self.report;
        let status: RestrictionStatus =
            self.created.restrict_self().map_err(|e| Error::Landlock {
                op: "restrict self",
                source: Box::new(e),
            })?;
        report.no_new_privs = status.no_new_privs;
        report.status = match status.ruleset {
            RulesetStatus::FullyEnforced => EnforcementStatus::Full,
            RulesetStatus::PartiallyEnforced => EnforcementStatus::Partial,
            RulesetStatus::NotEnforced => EnforcementStatus::None,
        };
        Ok(report)
    }
}
