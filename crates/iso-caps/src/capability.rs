//! The capabilities this crate knows by name, and their `CAP_*` spelling.

use std::fmt;
use std::str::FromStr;

use crate::Error;

macro_rules! capabilities {
    ($( $(#[$doc:meta])* $variant:ident = $num:literal => $name:literal, )*) => {
        /// One Linux capability, numbered as in `<linux/capability.h>`.
        ///
        /// The enum covers every capability up to [`Capability::LAST`]
        /// (`CAP_CHECKPOINT_RESTORE`, 40). A kernel newer than this crate may know more; such
        /// capabilities still fit in a [`CapSet`](crate::CapSet) as raw numbers (see
        /// [`last_cap`](crate::last_cap)).
        ///
        /// Names parse case-insensitively, with or without the `CAP_` prefix, and print in
        /// the canonical upper-case form with the prefix:
        ///
        /// ```
        /// use iso_caps::Capability;
        /// let cap: Capability = "net_raw".parse()?;
        /// assert_eq!(cap, Capability::NetRaw);
        /// assert_eq!(cap.to_string(), "CAP_NET_RAW");
        /// assert_eq!(cap.index(), 13);
        /// assert_eq!(Capability::from_index(13), Some(Capability::NetRaw));
        /// # Ok::<(), iso_caps::Error>(())
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        #[non_exhaustive]
        pub enum Capability {
            $( $(#[$doc])* $variant = $num, )*
        }

        impl Capability {
            /// Every capability this crate knows, in kernel order (index `i` holds capability
            /// number `i`).
            ///
            /// ```
            /// use iso_caps::Capability;
            /// assert_eq!(Capability::ALL.len(), 41);
            /// assert!(Capability::ALL.iter().enumerate().all(|(i, c)| c.index() as usize == i));
            /// ```
            pub const ALL: &'static [Capability] = &[ $( Capability::$variant, )* ];

            /// The canonical name, `CAP_` prefix and upper case.
            ///
            /// ```
            /// assert_eq!(iso_caps::Capability::SysAdmin.name(), "CAP_SYS_ADMIN");
            /// ```
            pub const fn name(self) -> &'static str {
                match self {
                    $( Capability::$variant => $name, )*
                }
            }
        }
    };
}

capabilities! {
    /// Change file owners and groups (`chown(2)`).
    Chown = 0 => "CAP_CHOWN",
    /// Bypass file read, write and execute permission checks.
    DacOverride = 1 => "CAP_DAC_OVERRIDE",
    /// Bypass file read and directory read/search permission checks.
    DacReadSearch = 2 => "CAP_DAC_READ_SEARCH",
    /// Bypass checks that require the file owner's uid (chmod, utime, ...).
    Fowner = 3 => "CAP_FOWNER",
    /// Keep set-user-ID and set-group-ID bits when a file is modified.
    Fsetid = 4 => "CAP_FSETID",
    /// Send signals to any process.
    Kill = 5 => "CAP_KILL",
    /// Manipulate group ids (`setgid`, `setgroups`), forge gids in socket credentials.
    Setgid = 6 => "CAP_SETGID",
    /// Manipulate user ids (`setuid`), forge uids in socket credentials.
    Setuid = 7 => "CAP_SETUID",
    /// Drop from the bounding set, add to the inheritable set, change securebits.
    Setpcap = 8 => "CAP_SETPCAP",
    /// Set the immutable and append-only inode flags.
    LinuxImmutable = 9 => "CAP_LINUX_IMMUTABLE",
    /// Bind to ports below 1024.
    NetBindService = 10 => "CAP_NET_BIND_SERVICE",
    /// Broadcast and listen to multicast (unused by the kernel).
    NetBroadcast = 11 => "CAP_NET_BROADCAST",
    /// Network administration: interfaces, routes, firewall, ...
    NetAdmin = 12 => "CAP_NET_ADMIN",
    /// Use RAW and PACKET sockets, bind to any address for transparent proxying.
    NetRaw = 13 => "CAP_NET_RAW",
    /// Lock memory (`mlock`, `SHM_LOCK`).
    IpcLock = 14 => "CAP_IPC_LOCK",
    /// Bypass permission checks on System V IPC objects.
    IpcOwner = 15 => "CAP_IPC_OWNER",
    /// Load and unload kernel modules.
    SysModule = 16 => "CAP_SYS_MODULE",
    /// Raw I/O: `iopl`, `ioperm`, `/dev/mem`, ...
    SysRawio = 17 => "CAP_SYS_RAWIO",
    /// Use `chroot(2)`.
    SysChroot = 18 => "CAP_SYS_CHROOT",
    /// Trace any process (`ptrace`, `process_vm_*`).
    SysPtrace = 19 => "CAP_SYS_PTRACE",
    /// Use `acct(2)`.
    SysPacct = 20 => "CAP_SYS_PACCT",
    /// The catch-all administration capability (mount, sethostname, namespaces, ...).
    SysAdmin = 21 => "CAP_SYS_ADMIN",
    /// Reboot and `kexec_load`.
    SysBoot = 22 => "CAP_SYS_BOOT",
    /// Raise priorities and set real-time scheduling.
    SysNice = 23 => "CAP_SYS_NICE",
    /// Override resource limits.
    SysResource = 24 => "CAP_SYS_RESOURCE",
    /// Set the system clock.
    SysTime = 25 => "CAP_SYS_TIME",
    /// Configure ttys (`vhangup`).
    SysTtyConfig = 26 => "CAP_SYS_TTY_CONFIG",
    /// Create device nodes with `mknod(2)`.
    Mknod = 27 => "CAP_MKNOD",
    /// Take file leases on files the caller does not own.
    Lease = 28 => "CAP_LEASE",
    /// Write to the kernel audit log.
    AuditWrite = 29 => "CAP_AUDIT_WRITE",
    /// Configure kernel auditing.
    AuditControl = 30 => "CAP_AUDIT_CONTROL",
    /// Set file capabilities.
    Setfcap = 31 => "CAP_SETFCAP",
    /// Override a mandatory access control policy (Smack).
    MacOverride = 32 => "CAP_MAC_OVERRIDE",
    /// Configure a mandatory access control policy (Smack).
    MacAdmin = 33 => "CAP_MAC_ADMIN",
    /// Privileged `syslog(2)` operations.
    Syslog = 34 => "CAP_SYSLOG",
    /// Set alarms that wake the system (`CLOCK_*_ALARM`).
    WakeAlarm = 35 => "CAP_WAKE_ALARM",
    /// Block system suspend (`EPOLLWAKEUP`).
    BlockSuspend = 36 => "CAP_BLOCK_SUSPEND",
    /// Read the audit log over multicast netlink.
    AuditRead = 37 => "CAP_AUDIT_READ",
    /// Privileged performance monitoring (`perf_event_open`).
    Perfmon = 38 => "CAP_PERFMON",
    /// Privileged BPF operations.
    Bpf = 39 => "CAP_BPF",
    /// Checkpoint/restore operations (`set_tid`, `ns_last_pid`).
    CheckpointRestore = 40 => "CAP_CHECKPOINT_RESTORE",
}

impl Capability {
    /// The highest capability this crate knows by name.
    ///
    /// ```
    /// assert_eq!(iso_caps::Capability::LAST.index(), 40);
    /// ```
    pub const LAST: Capability = Capability::CheckpointRestore;

    /// The kernel's number for the capability (its bit in a capability mask).
    ///
    /// ```
    /// assert_eq!(iso_caps::Capability::Chown.index(), 0);
    /// ```
    pub const fn index(self) -> u8 {
        self as u8
    }

    /// The capability numbered `index`, if this crate knows it.
    ///
    /// ```
    /// use iso_caps::Capability;
    /// assert_eq!(Capability::from_index(40), Some(Capability::CheckpointRestore));
    /// assert_eq!(Capability::from_index(41), None);
    /// ```
    pub fn from_index(index: u8) -> Option<Capability> {
        Capability::ALL.get(usize::from(index)).copied()
    }

    /// The capability's bit in a 64-bit capability mask (`1 << index`).
    ///
    /// ```
    /// assert_eq!(iso_caps::Capability::NetRaw.bit(), 1 << 13);
    /// ```
    pub const fn bit(self) -> u64 {
        1u64 << self.index()
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Capability {
    type Err = Error;

    /// Parses `CAP_NET_RAW`, `cap_net_raw`, `NET_RAW` or `net_raw`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || Error::UnknownName { name: s.to_owned() };
        let trimmed = s.trim();
        let bare = match trimmed.get(..4) {
            Some(prefix) if prefix.eq_ignore_ascii_case("cap_") => &trimmed[4..],
            _ => trimmed,
        };
        if bare.is_empty() {
            return Err(unknown());
        }
        Capability::ALL
            .iter()
            .copied()
            .find(|cap| cap.name()[4..].eq_ignore_ascii_case(bare))
            .ok_or_else(unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_round_trip_for_all() {
        for &cap in Capability::ALL {
            let name = cap.to_string();
            assert!(name.starts_with("CAP_"), "{name}");
            assert_eq!(name, name.to_ascii_uppercase());
            assert_eq!(name.parse::<Capability>().unwrap(), cap);
            assert_eq!(
                name.to_ascii_lowercase().parse::<Capability>().unwrap(),
                cap
            );
            assert_eq!(name[4..].parse::<Capability>().unwrap(), cap);
            assert_eq!(
                name[4..]
                    .to_ascii_lowercase()
                    .parse::<Capability>()
                    .unwrap(),
                cap
            );
            assert_eq!(Capability::from_index(cap.index()), Some(cap));
        }
        assert_eq!(Capability::ALL.len(), 41);
        assert_eq!(Capability::LAST, Capability::CheckpointRestore);
    }

    #[test]
    fn rejects_unknown_names() {
        for bad in [
            "",
            "CAP_",
            "cap",
            "CAP_NET",
            "CAP_NET_RAWX",
            "CAP_CAP_CHOWN",
            "41",
            "net raw",
        ] {
            let err = bad.parse::<Capability>().unwrap_err();
            assert!(matches!(err, Error::UnknownName { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn agrees_with_the_caps_crate() {
        // An independent table of names and numbers.
        for cap in caps::all() {
            let ours = Capability::from_index(cap.index()).unwrap();
            assert_eq!(ours.name(), cap.to_string(), "{cap:?}");
        }
        assert_eq!(caps::all().len(), Capability::ALL.len());
    }

    proptest! {
        #[test]
        fn parsing_never_panics(s in "\\PC{0,40}") {
            let _ = s.parse::<Capability>();
        }

        #[test]
        fn parsing_round_trips_with_any_case_and_prefix(
            index in 0u8..=40,
            prefix in any::<bool>(),
            case in proptest::collection::vec(any::<bool>(), 32),
        ) {
            let cap = Capability::from_index(index).unwrap();
            let base = if prefix { cap.name() } else { &cap.name()[4..] };
            let mixed: String = base
                .chars()
                .zip(case.iter().cycle())
                .map(|(c, &up)| if up { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
                .collect();
            let parsed: Capability = mixed.parse().unwrap();
            prop_assert_eq!(parsed, cap);
            prop_assert_eq!(parsed.to_string().parse::<Capability>().unwrap(), cap);
        }
    }
}
