//! Which Linux security modules are active, and the state of each one this crate drives.

use std::fmt;
use std::path::Path;

/// A Linux security module, as named in `/sys/kernel/security/lsm` and numbered by the
/// `lsm_list_modules(2)` system call (`LSM_ID_*` in `<linux/lsm.h>`).
///
/// ```
/// use iso_mac::Lsm;
/// assert_eq!(Lsm::from_name("apparmor"), Some(Lsm::AppArmor));
/// assert_eq!(Lsm::from_id(110), Some(Lsm::Landlock));
/// assert_eq!(Lsm::SeLinux.name(), "selinux");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Lsm {
    /// The POSIX capability checks (always present).
    Capability,
    /// SELinux: label-based mandatory access control.
    SeLinux,
    /// Smack: simplified label-based access control.
    Smack,
    /// TOMOYO: path-based, learning-mode access control.
    Tomoyo,
    /// AppArmor: path-based mandatory access control with per-program profiles.
    AppArmor,
    /// Yama: ptrace scope restrictions.
    Yama,
    /// LoadPin: kernel modules and firmware from one filesystem only.
    LoadPin,
    /// SafeSetID: restricted uid/gid transitions.
    SafeSetId,
    /// Lockdown: protects the running kernel from root.
    Lockdown,
    /// BPF LSM: security hooks programmed with eBPF.
    Bpf,
    /// Landlock: unprivileged self-sandboxing.
    Landlock,
    /// IMA: integrity measurement.
    Ima,
    /// EVM: extended verification of security attributes.
    Evm,
    /// IPE: integrity policy enforcement.
    Ipe,
}

const ALL: [Lsm; 14] = [
    Lsm::Capability,
    Lsm::SeLinux,
    Lsm::Smack,
    Lsm::Tomoyo,
    Lsm::AppArmor,
    Lsm::Yama,
    Lsm::LoadPin,
    Lsm::SafeSetId,
    Lsm::Lockdown,
    Lsm::Bpf,
    Lsm::Landlock,
    Lsm::Ima,
    Lsm::Evm,
    Lsm::Ipe,
];

impl Lsm {
    /// The kernel's name for the module (as in `lsm=` and `/sys/kernel/security/lsm`).
    ///
    /// ```
    /// assert_eq!(iso_mac::Lsm::Landlock.name(), "landlock");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Lsm::Capability => "capability",
            Lsm::SeLinux => "selinux",
            Lsm::Smack => "smack",
            Lsm::Tomoyo => "tomoyo",
            Lsm::AppArmor => "apparmor",
            Lsm::Yama => "yama",
            Lsm::LoadPin => "loadpin",
            Lsm::SafeSetId => "safesetid",
            Lsm::Lockdown => "lockdown",
            Lsm::Bpf => "bpf",
            Lsm::Landlock => "landlock",
            Lsm::Ima => "ima",
            Lsm::Evm => "evm",
            Lsm::Ipe => "ipe",
        }
    }

    /// The `LSM_ID_*` number of the module.
    ///
    /// ```
    /// assert_eq!(iso_mac::Lsm::AppArmor.id(), 104);
    /// ```
    pub fn id(self) -> u64 {
        match self {
            Lsm::Capability => 100,
            Lsm::SeLinux => 101,
            Lsm::Smack => 102,
            Lsm::Tomoyo => 103,
            Lsm::AppArmor => 104,
            Lsm::Yama => 105,
            Lsm::LoadPin => 106,
            Lsm::SafeSetId => 107,
            Lsm::Lockdown => 108,
            Lsm::Bpf => 109,
            Lsm::Landlock => 110,
            Lsm::Ima => 111,
            Lsm::Evm => 112,
            Lsm::Ipe => 113,
        }
    }

    /// The module with kernel name `name`, if this crate knows it.
    ///
    /// ```
    /// assert_eq!(iso_mac::Lsm::from_name("yama"), Some(iso_mac::Lsm::Yama));
    /// assert_eq!(iso_mac::Lsm::from_name("nope"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Lsm> {
        ALL.into_iter().find(|m| m.name() == name)
    }

    /// The module with `LSM_ID_*` number `id`, if this crate knows it.
    ///
    /// ```
    /// assert_eq!(iso_mac::Lsm::from_id(101), Some(iso_mac::Lsm::SeLinux));
    /// ```
    pub fn from_id(id: u64) -> Option<Lsm> {
        ALL.into_iter().find(|m| m.id() == id)
    }
}

impl fmt::Display for Lsm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pretty = match self {
            Lsm::SeLinux => "SELinux",
            Lsm::AppArmor => "AppArmor",
            Lsm::Landlock => "Landlock",
            Lsm::Tomoyo => "TOMOYO",
            Lsm::Smack => "Smack",
            other => other.name(),
        };
        f.write_str(pretty)
    }
}

/// Where the list of active modules came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `/sys/kernel/security/lsm` (securityfs is mounted).
    SecurityFs,
    /// The `lsm_list_modules(2)` system call (Linux 6.8 and later).
    Syscall,
    /// Inferred from `/proc/self/attr/*`, `/sys/module/*/parameters` and the Landlock ABI
    /// query, on older kernels without securityfs mounted. Modules without a visible trace
    /// (Yama, Lockdown, ...) are missing from such a list.
    Probe,
}

/// The state of AppArmor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppArmorStatus {
    /// AppArmor is not built in or not enabled at boot.
    NotActive,
    /// AppArmor is active.
    Active {
        /// The label of the calling task as the kernel reports it, for example `unconfined`
        /// or `ping (enforce)`; `None` when it could not be read.
        current: Option<String>,
    },
}

/// The state of SELinux.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeLinuxStatus {
    /// SELinux is not built in, not enabled at boot, or disabled.
    Disabled,
    /// Active and denying what the policy denies.
    Enforcing,
    /// Active, logging denials without enforcing them.
    Permissive,
    /// Active, but `selinuxfs` is not mounted so the mode cannot be read.
    ActiveModeUnknown,
}

/// The state of Landlock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LandlockStatus {
    /// The kernel was built without Landlock (`ENOSYS`).
    NotBuilt,
    /// Built but not enabled in the `lsm=` list (`EOPNOTSUPP`).
    NotEnabled,
    /// Available, with the given ABI version (1 = Linux 5.13, 4 adds TCP ports in 6.7, ...).
    Available {
        /// The ABI version the kernel reports.
        abi: u32,
    },
}

impl LandlockStatus {
    /// The ABI version, 0 when Landlock is unavailable.
    ///
    /// ```
    /// assert_eq!(iso_mac::LandlockStatus::NotEnabled.abi(), 0);
    /// ```
    pub fn abi(self) -> u32 {
        match self {
            LandlockStatus::Available { abi } => abi,
            _ => 0,
        }
    }
}

/// What [`detect`] found: the active modules and the state of the three this crate drives.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MacStatus {
    /// Where the module list came from.
    pub source: Source,
    /// The active modules this crate knows, in the kernel's order.
    pub active: Vec<Lsm>,
    /// Names or ids of active modules this crate does not know.
    pub unknown: Vec<String>,
    /// AppArmor's state.
    pub apparmor: AppArmorStatus,
    /// SELinux's state.
    pub selinux: SeLinuxStatus,
    /// Landlock's state.
    pub landlock: LandlockStatus,
}

impl MacStatus {
    /// Whether `module` is active.
    ///
    /// ```
    /// let status = iso_mac::detect();
    /// println!("Landlock active: {}", status.is_active(iso_mac::Lsm::Landlock));
    /// ```
    pub fn is_active(&self, module: Lsm) -> bool {
        match module {
            Lsm::AppArmor => matches!(self.apparmor, AppArmorStatus::Active { .. }),
            Lsm::SeLinux => self.selinux != SeLinuxStatus::Disabled,
            Lsm::Landlock => matches!(self.landlock, LandlockStatus::Available { .. }),
            other => self.active.contains(&other),
        }
    }
}

/// Detects the active security modules.
///
/// Reads `/sys/kernel/security/lsm` when securityfs is mounted, else asks the kernel with
/// `lsm_list_modules(2)`, else infers the list from `/proc/self/attr` and `/sys/module`.
/// Never fails: what cannot be read counts as not active.
///
/// ```
/// let status = iso_mac::detect();
/// for module in &status.active {
///     println!("{module} is active");
/// }
/// println!("{:?} {:?} {:?}", status.apparmor, status.selinux, status.landlock);
/// ```
pub fn detect() -> MacStatus {
    let landlock = landlock_status();
    let (source, active, unknown) =
        if let Ok(text) = std::fs::read_to_string("/sys/kernel/security/lsm") {
            let (known, unknown) = parse_lsm_list(&text);
            (Source::SecurityFs, known, unknown)
        } else if let Some(ids) = lsm_list_modules() {
            let mut known = Vec::new();
            let mut unknown = Vec::new();
            for id in ids {
                match Lsm::from_id(id) {
                    Some(m) => known.push(m),
                    None => unknown.push(id.to_string()),
                }
            }
            (Source::Syscall, known, unknown)
        } else {
            (Source::Probe, probe(landlock), Vec::new())
        };
    let apparmor = if active.contains(&Lsm::AppArmor) {
        AppArmorStatus::Active {
            current: iso_sys::procfs::ProcRoot::open()
                .ok()
                .and_then(|proc_root| {
                    crate::attr::read_unchecked(&proc_root, crate::apparmor::CURRENT_FILES).ok()
                }),
        }
    } else {
        AppArmorStatus::NotActive
    };
    let selinux = if active.contains(&Lsm::SeLinux) {
        match std::fs::read_to_string("/sys/fs/selinux/enforce") {
            Ok(s) if s.trim() == "1" => SeLinuxStatus::Enforcing,
            Ok(s) if s.trim() == "0" => SeLinuxStatus::Permissive,
            _ => SeLinuxStatus::ActiveModeUnknown,
        }
    } else {
        SeLinuxStatus::Disabled
    };
    MacStatus {
        source,
        active,
        unknown,
        apparmor,
        selinux,
        landlock,
    }
}

/// Whether `module` is active, by [`detect`].
///
/// ```
/// if !iso_mac::is_active(iso_mac::Lsm::AppArmor) {
///     println!("no AppArmor here");
/// }
/// ```
pub fn is_active(module: Lsm) -> bool {
    detect().is_active(module)
}

pub(crate) fn require(module: Lsm, operation: &'static str) -> crate::Result<()> {
    if is_active(module) {
        Ok(())
    } else {
        Err(crate::Error::NotActive { module, operation })
    }
}

/// Parses the comma-separated list of `/sys/kernel/security/lsm` into known modules (in
/// order) and unknown names.
///
/// ```
/// use iso_mac::{parse_lsm_list, Lsm};
/// let (known, unknown) = parse_lsm_list("lockdown,capability,landlock,yama,apparmor,newthing\n");
/// assert_eq!(known, [Lsm::Lockdown, Lsm::Capability, Lsm::Landlock, Lsm::Yama, Lsm::AppArmor]);
/// assert_eq!(unknown, ["newthing"]);
/// ```
pub fn parse_lsm_list(text: &str) -> (Vec<Lsm>, Vec<String>) {
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match Lsm::from_name(name) {
            Some(m) if !known.contains(&m) => known.push(m),
            Some(_) => {}
            None => unknown.push(name.to_string()),
        }
    }
    (known, unknown)
}

/// The `lsm_list_modules(2)` system call number; new system calls share one number on
/// every architecture since Linux 5.x.
const SYS_LSM_LIST_MODULES: libc::c_long = 461;

fn lsm_list_modules() -> Option<Vec<u64>> {
    let mut ids = [0u64; 32];
    let mut size: u32 = std::mem::size_of_val(&ids) as u32;
    // SAFETY: ids is writable for `size` bytes and size is a valid in/out u32.
    let n = unsafe {
        libc::syscall(
            SYS_LSM_LIST_MODULES,
            ids.as_mut_ptr(),
            &mut size as *mut u32,
            0u32,
        )
    };
    if n < 0 {
        return None;
    }
    let n = usize::try_from(n).ok()?.min(ids.len());
    Some(ids[..n].to_vec())
}

fn probe(landlock: LandlockStatus) -> Vec<Lsm> {
    let mut found = vec![Lsm::Capability];
    let enabled = |m: &str| {
        std::fs::read_to_string(format!("/sys/module/{m}/parameters/enabled"))
            .map(|s| matches!(s.trim(), "Y" | "1"))
            .unwrap_or(false)
    };
    if Path::new("/sys/fs/selinux/enforce").exists() || looks_like_selinux_context() {
        found.push(Lsm::SeLinux);
    }
    // A readable attr/apparmor/current means AppArmor answers for this task (the directory
    // alone exists whenever AppArmor is built in; reading it fails with EINVAL when it is
    // not enabled). A confined task may be denied the /sys files but can read its label.
    let apparmor_answers = iso_sys::procfs::ProcRoot::open()
        .ok()
        .and_then(|proc_root| {
            crate::attr::read_unchecked(&proc_root, &["attr/apparmor/current"]).ok()
        })
        .is_some();
    if enabled("apparmor") || apparmor_answers {
        found.push(Lsm::AppArmor);
    }
    if matches!(landlock, LandlockStatus::Available { .. }) {
        found.push(Lsm::Landlock);
    }
    found
}

fn looks_like_selinux_context() -> bool {
    // SELinux contexts are user:role:type[:level]; AppArmor labels never contain ':'
    // before a space.
    std::fs::read_to_string("/proc/self/attr/current")
        .map(|s| {
            let s = s.trim_end_matches(['\0', '\n']);
            !s.contains(' ') && s.split(':').count() >= 3
        })
        .unwrap_or(false)
}

const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;

/// Asks the kernel for its Landlock ABI version.
///
/// ```
/// match iso_mac::landlock_status() {
///     iso_mac::LandlockStatus::Available { abi } => println!("Landlock ABI {abi}"),
///     other => println!("no Landlock: {other:?}"),
/// }
/// ```
pub fn landlock_status() -> LandlockStatus {
    // SAFETY: with a NULL attribute, size 0 and the VERSION flag the call only returns a
    // number; it reads and writes no memory.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if v >= 0 {
        return LandlockStatus::Available {
            abi: u32::try_from(v).unwrap_or(u32::MAX),
        };
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::EOPNOTSUPP) => LandlockStatus::NotEnabled,
        _ => LandlockStatus::NotBuilt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_and_ids_round_trip() {
        for m in ALL {
            assert_eq!(Lsm::from_name(m.name()), Some(m));
            assert_eq!(Lsm::from_id(m.id()), Some(m));
        }
    }

    #[test]
    fn this_host_has_landlock_and_no_apparmor_or_selinux() {
        let status = detect();
        eprintln!("{status:?}");
        assert!(status.landlock.abi() >= 1, "{status:?}");
        assert!(status.is_active(Lsm::Landlock));
        if !iso_testutil::VmFeature::AppArmor.present() {
            assert_eq!(status.apparmor, AppArmorStatus::NotActive);
        }
        // The syscall path and the probe agree on Landlock.
        assert!(probe(status.landlock).contains(&Lsm::Landlock));
        if let Some(ids) = lsm_list_modules() {
            assert!(ids.contains(&Lsm::Landlock.id()), "{ids:?}");
            assert!(ids.contains(&Lsm::Capability.id()), "{ids:?}");
        }
    }

    proptest! {
        #[test]
        fn parse_lsm_list_never_panics_and_keeps_order(names in proptest::collection::vec("[a-z]{1,10}", 0..8)) {
            let text = names.join(",");
            let (known, unknown) = parse_lsm_list(&text);
            prop_assert!(known.len() + unknown.len() <= names.len());
            let expected: Vec<Lsm> = names.iter().filter_map(|n| Lsm::from_name(n)).fold(Vec::new(), |mut v, m| { if !v.contains(&m) { v.push(m) } v });
            prop_assert_eq!(known, expected);
        }

        #[test]
        fn parse_lsm_list_arbitrary_text(text in ".*") {
            let _ = parse_lsm_list(&text);
        }
    }
}
