//! Typed resource limits covering every field of the OCI `LinuxResources`.
//!
//! Every field is an `Option`: `None` means "unset", the kernel default stays in place.
//! Limits that can be unlimited use [`Limit`], so "unlimited" (`-1` in OCI, `max` in v2
//! files) is a value of its own and never confused with unset or with zero.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A limit that may be unlimited.
///
/// ```
/// use iso_cgroups::Limit;
/// assert_eq!(Limit::from_oci(-1)?, Limit::Max);
/// assert_eq!(Limit::from_oci(0)?, Limit::Value(0));
/// assert!(Limit::from_oci(-2).is_err());
/// assert_eq!(Limit::Max.v2_string(), "max");
/// # Ok::<(), iso_cgroups::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Limit {
    /// No limit (`-1` in OCI, `max` in v2 files).
    Max,
    /// This many units (bytes, tasks, microseconds, ...). Zero is a real limit.
    Value(u64),
}

impl Limit {
    /// From an OCI integer: `-1` is [`Limit::Max`], other negatives are refused.
    ///
    /// ```
    /// assert_eq!(iso_cgroups::Limit::from_oci(-1)?, iso_cgroups::Limit::Max);
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn from_oci(v: i64) -> Result<Limit> {
        Self::from_oci_field(v, "limit")
    }

    pub(crate) fn from_oci_field(v: i64, field: &str) -> Result<Limit> {
        match v {
            -1 => Ok(Limit::Max),
            v if v < 0 => Err(Error::invalid(field, format!("{v} is negative and not -1"))),
            v => Ok(Limit::Value(v as u64)),
        }
    }

    /// The v2 file spelling: `max` or the number.
    ///
    /// ```
    /// assert_eq!(iso_cgroups::Limit::Value(5).v2_string(), "5");
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn v2_string(self) -> String {
        match self {
            Limit::Max => "max".into(),
            Limit::Value(v) => v.to_string(),
        }
    }

    /// The v1 file spelling: `-1` or the number.
    ///
    /// ```
    /// assert_eq!(iso_cgroups::Limit::Max.v1_string(), "-1");
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn v1_string(self) -> String {
        match self {
            Limit::Max => "-1".into(),
            Limit::Value(v) => v.to_string(),
        }
    }
}

/// Every resource a cgroup can limit. `Default` is "set nothing".
///
/// ```no_run
/// use iso_cgroups::{Cgroup, CgroupPath, Layout, Limit, Memory, Pids, Resources};
/// let cg = Cgroup::create(&Layout::detect()?, CgroupPath::new("/iso/demo")?)?;
/// cg.apply(&Resources {
///     pids: Some(Pids { limit: Some(Limit::Value(64)) }),
///     memory: Some(Memory { limit: Some(Limit::Value(256 << 20)), ..Memory::default() }),
///     ..Resources::default()
/// })?;
/// # Ok::<(), iso_cgroups::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// Task count (`pids`).
    pub pids: Option<Pids>,
    /// Memory (`memory`).
    pub memory: Option<Memory>,
    /// CPU time and placement (`cpu`, `cpuset`).
    pub cpu: Option<Cpu>,
    /// Block I/O (`blkio` / `io`).
    pub block_io: Option<BlockIo>,
    /// Huge page limits (`hugetlb`), one per page size.
    pub hugepage_limits: Vec<HugepageLimit>,
    /// Network class id and priorities (v1 `net_cls`, `net_prio`).
    pub network: Option<Network>,
    /// RDMA limits per device name (`rdma`).
    pub rdma: BTreeMap<String, Rdma>,
    /// Device access rules, applied in order; the last matching rule wins.
    pub devices: Vec<DeviceRule>,
    /// Raw v2 files: `{"memory.high": "1G"}`. Only on a v2 hierarchy; keys may not contain
    /// `/`.
    pub unified: BTreeMap<String, String>,
}

/// The `pids` controller.
///
/// Shaped like every controller here: each field is an `Option`, and `None` leaves the
/// kernel's value alone.
///
/// ```
/// use iso_cgroups::{Limit, Pids};
/// let p = Pids { limit: Some(Limit::Value(0)) };
/// assert_eq!(p.limit.map(|l| l.v2_string()).as_deref(), Some("0"));
/// assert_eq!(Pids::default().limit, None); // unset: pids.max stays as it is
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pids {
    /// Maximum number of tasks (`pids.max`); `Value(0)` forbids any new task.
    pub limit: Option<Limit>,
}

/// The `memory` controller.
///
/// ```
/// use iso_cgroups::{Limit, Memory};
/// let m = Memory { limit: Some(Limit::Value(1 << 30)), swap: Some(Limit::Max), ..Memory::default() };
/// assert!(m.reservation.is_none()); // unset: the kernel default stays
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memory {
    /// Hard limit in bytes (v1 `memory.limit_in_bytes`, v2 `memory.max`).
    pub limit: Option<Limit>,
    /// Soft limit in bytes (v1 `memory.soft_limit_in_bytes`, v2 `memory.low`).
    pub reservation: Option<Limit>,
    /// Memory plus swap in bytes, as OCI defines it (v1 `memory.memsw.limit_in_bytes`; v2
    /// `memory.swap.max` = swap - limit).
    pub swap: Option<Limit>,
    /// Kernel memory limit (deprecated; v1 only, refused by kernels from 5.16 on).
    pub kernel: Option<Limit>,
    /// Kernel TCP buffer limit (deprecated; v1 only).
    pub kernel_tcp: Option<Limit>,
    /// Swappiness 0..=100 (v1 only).
    pub swappiness: Option<u64>,
    /// Disable the OOM killer: tasks wait instead of being killed (v1 only).
    pub disable_oom_killer: Option<bool>,
    /// v1 `memory.use_hierarchy` (deprecated; kernels force it on).
    pub use_hierarchy: Option<bool>,
    /// Refuse a new limit below the current usage instead of forcing reclaim.
    pub check_before_update: Option<bool>,
}

/// The `cpu` and `cpuset` controllers.
///
/// ```
/// let c = iso_cgroups::Cpu { shares: Some(512), cpus: Some("0-1".into()), ..Default::default() };
/// assert_eq!(iso_cgroups::shares_to_weight(c.shares.unwrap()), Some(20));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cpu {
    /// v1 shares (2..=262144); v2 weight derived with [`shares_to_weight`].
    pub shares: Option<u64>,
    /// CFS quota in microseconds per period; [`Limit::Max`] removes it.
    pub quota: Option<Limit>,
    /// CFS period in microseconds.
    pub period: Option<u64>,
    /// CFS burst in microseconds.
    pub burst: Option<u64>,
    /// Realtime runtime in microseconds per realtime period (v1 only); -1 is unlimited.
    pub realtime_runtime: Option<i64>,
    /// Realtime period in microseconds (v1 only).
    pub realtime_period: Option<u64>,
    /// CPU list, such as `0-3,6`.
    pub cpus: Option<String>,
    /// Memory node list, such as `0`.
    pub mems: Option<String>,
    /// `1` makes the group SCHED_IDLE-like (`cpu.idle`); `0` undoes it.
    pub idle: Option<i64>,
}

/// The `blkio` (v1) / `io` (v2) controller.
///
/// ```
/// use iso_cgroups::{BlockIo, ThrottleDevice};
/// let b = BlockIo {
///     throttle_read_bps_device: vec![ThrottleDevice { major: 8, minor: 0, rate: 10 << 20 }],
///     ..BlockIo::default()
/// };
/// assert_eq!(b.throttle_read_bps_device.len(), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockIo {
    /// Weight 10..=1000 (v2 converted to 1..=10000).
    pub weight: Option<u16>,
    /// Leaf weight 10..=1000 (v1 CFQ only).
    pub leaf_weight: Option<u16>,
    /// Per-device weights.
    pub weight_device: Vec<WeightDevice>,
    /// Read bytes/s per device.
    pub throttle_read_bps_device: Vec<ThrottleDevice>,
    /// Write bytes/s per device.
    pub throttle_write_bps_device: Vec<ThrottleDevice>,
    /// Read IO/s per device.
    pub throttle_read_iops_device: Vec<ThrottleDevice>,
    /// Write IO/s per device.
    pub throttle_write_iops_device: Vec<ThrottleDevice>,
}

/// A per-device weight.
///
/// ```
/// let w = iso_cgroups::WeightDevice { major: 8, minor: 0, weight: Some(500), leaf_weight: None };
/// assert_eq!(w.weight, Some(500));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightDevice {
    /// Device major number.
    pub major: i64,
    /// Device minor number.
    pub minor: i64,
    /// Weight 10..=1000.
    pub weight: Option<u16>,
    /// Leaf weight 10..=1000 (v1 only).
    pub leaf_weight: Option<u16>,
}

/// A per-device throttle; a rate of 0 removes the limit.
///
/// ```
/// let t = iso_cgroups::ThrottleDevice { major: 8, minor: 0, rate: 0 }; // 0 removes the limit
/// assert_eq!(t.rate, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThrottleDevice {
    /// Device major number.
    pub major: i64,
    /// Device minor number.
    pub minor: i64,
    /// Bytes or operations per second.
    pub rate: u64,
}

/// A huge page limit.
///
/// ```
/// let h = iso_cgroups::HugepageLimit { page_size: "2MB".into(), limit: 64 << 20 };
/// assert_eq!(h.page_size, "2MB");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HugepageLimit {
    /// The page size as the kernel names it in file names: `2MB`, `1GB`, `64KB`.
    pub page_size: String,
    /// Bytes of huge pages.
    pub limit: u64,
}

/// The v1 network controllers.
///
/// ```
/// let n = iso_cgroups::Network { class_id: Some(0x10001), priorities: vec![("eth0".into(), 5)] };
/// assert_eq!(n.priorities[0].1, 5);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// `net_cls.classid`.
    pub class_id: Option<u32>,
    /// `net_prio.ifpriomap` entries: interface name and priority.
    pub priorities: Vec<(String, u32)>,
}

/// RDMA limits for one device.
///
/// ```
/// let r = iso_cgroups::Rdma { hca_handles: Some(2), hca_objects: None };
/// assert!(r.hca_objects.is_none());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rdma {
    /// Maximum HCA handles.
    pub hca_handles: Option<u32>,
    /// Maximum HCA objects.
    pub hca_objects: Option<u32>,
}

/// The kind of device a rule covers.
///
/// ```
/// let k = iso_cgroups::DeviceKind::Char;
/// assert_ne!(k, iso_cgroups::DeviceKind::Block);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceKind {
    /// Every device (`a`).
    All,
    /// Character devices (`c`).
    Char,
    /// Block devices (`b`).
    Block,
}

bitflags::bitflags! {
    /// Device access bits of a rule.
    ///
    /// ```
    /// let a = iso_cgroups::DeviceAccess::from_oci("rw")?;
    /// assert_eq!(a.as_v1_str(), "rw");
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    pub struct DeviceAccess: u8 {
        /// Read (`r`).
        const READ = 1;
        /// Write (`w`).
        const WRITE = 2;
        /// Create the node with mknod (`m`).
        const MKNOD = 4;
    }
}

impl DeviceAccess {
    /// Parses `r`, `w`, `m` letters; an empty string means all three, as in OCI.
    ///
    /// ```
    /// assert_eq!(iso_cgroups::DeviceAccess::from_oci("")?, iso_cgroups::DeviceAccess::all());
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn from_oci(s: &str) -> Result<DeviceAccess> {
        if s.is_empty() {
            return Ok(DeviceAccess::all());
        }
        let mut a = DeviceAccess::empty();
        for ch in s.chars() {
            a |= match ch {
                'r' => DeviceAccess::READ,
                'w' => DeviceAccess::WRITE,
                'm' => DeviceAccess::MKNOD,
                _ => {
                    return Err(Error::invalid(
                        "devices.access",
                        format!("unknown letter {ch:?} in {s:?}"),
                    ))
                }
            };
        }
        Ok(a)
    }

    /// The v1 spelling (`rwm` subset).
    ///
    /// ```
    /// assert_eq!(iso_cgroups::DeviceAccess::MKNOD.as_v1_str(), "m");
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn as_v1_str(self) -> String {
        let mut s = String::new();
        if self.contains(DeviceAccess::READ) {
            s.push('r');
        }
        if self.contains(DeviceAccess::WRITE) {
            s.push('w');
        }
        if self.contains(DeviceAccess::MKNOD) {
            s.push('m');
        }
        s
    }
}

/// One device access rule. `major`/`minor` `None` means any (`*`).
///
/// ```
/// use iso_cgroups::{DeviceAccess, DeviceKind, DeviceRule};
/// let deny_all = DeviceRule { allow: false, kind: DeviceKind::All, major: None, minor: None,
///                             access: DeviceAccess::all() };
/// assert_eq!(deny_all.v1_line(), "a *:* rwm");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRule {
    /// Allow (true) or deny (false).
    pub allow: bool,
    /// Which devices.
    pub kind: DeviceKind,
    /// Major number, `None` for any.
    pub major: Option<u32>,
    /// Minor number, `None` for any.
    pub minor: Option<u32>,
    /// Access covered.
    pub access: DeviceAccess,
}

impl DeviceRule {
    /// The line written to v1 `devices.allow` / `devices.deny`.
    ///
    /// ```
    /// use iso_cgroups::{DeviceAccess, DeviceKind, DeviceRule};
    /// let r = DeviceRule { allow: true, kind: DeviceKind::Char, major: Some(1), minor: Some(3), access: DeviceAccess::READ };
    /// assert_eq!(r.v1_line(), "c 1:3 r");
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn v1_line(&self) -> String {
        let kind = match self.kind {
            DeviceKind::All => 'a',
            DeviceKind::Char => 'c',
            DeviceKind::Block => 'b',
        };
        let num = |n: Option<u32>| n.map_or_else(|| "*".to_string(), |n| n.to_string());
        format!(
            "{kind} {}:{} {}",
            num(self.major),
            num(self.minor),
            self.access.as_v1_str()
        )
    }
}

/// The standard conversion from v1 `cpu.shares` (2..=262144) to v2 `cpu.weight`
/// (1..=10000): `1 + ((shares - 2) * 9999) / 262142`. Zero means unset and maps to `None`.
///
/// ```
/// use iso_cgroups::shares_to_weight;
/// assert_eq!(shares_to_weight(2), Some(1));
/// assert_eq!(shares_to_weight(1024), Some(39));
/// assert_eq!(shares_to_weight(262144), Some(10000));
/// ```
pub fn shares_to_weight(shares: u64) -> Option<u64> {
    if shares == 0 {
        return None;
    }
    let s = shares.clamp(2, 262_144);
    Some(1 + ((s - 2) * 9999) / 262_142)
}

/// v1 blkio weight (10..=1000) to v2 io weight (1..=10000).
///
/// ```
/// assert_eq!(iso_cgroups::blkio_weight_to_io(10), 1);
/// assert_eq!(iso_cgroups::blkio_weight_to_io(1000), 10000);
/// ```
pub fn blkio_weight_to_io(w: u16) -> u64 {
    let w = u64::from(w.clamp(10, 1000));
    1 + ((w - 10) * 9999) / 990
}

/// Checks a cpu or node list such as `0-3,6`.
pub(crate) fn check_list(field: &str, s: &str) -> Result<()> {
    parse_list(field, s).map(drop)
}

/// The ranges of a cpu or node list such as `0-3,6` (empty for an empty list).
pub(crate) fn parse_list(field: &str, s: &str) -> Result<Vec<(u32, u32)>> {
    let bad = || Error::invalid(field, format!("{s:?} is not a list like 0-3,6"));
    if s.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut ranges = Vec::new();
    for part in s.trim().split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let a: u32 = a.parse().map_err(|_| bad())?;
        let b: u32 = b.parse().map_err(|_| bad())?;
        if a > b {
            return Err(bad());
        }
        ranges.push((a, b));
    }
    Ok(ranges)
}

fn check_weight(field: &str, w: Option<u16>) -> Result<()> {
    match w {
        Some(w) if !(10..=1000).contains(&w) => {
            Err(Error::invalid(field, format!("{w} is outside 10..=1000")))
        }
        _ => Ok(()),
    }
}

fn check_dev(field: &str, major: i64, minor: i64) -> Result<()> {
    if !(0..=i64::from(u32::MAX)).contains(&major) || !(0..=i64::from(u32::MAX)).contains(&minor) {
        return Err(Error::invalid(
            field,
            format!("device {major}:{minor} out of range"),
        ));
    }
    Ok(())
}

impl Resources {
    /// Checks every value that can be checked without the kernel; the error names the
    /// field. [`Cgroup::apply`](crate::Cgroup::apply) calls this first.
    ///
    /// ```
    /// use iso_cgroups::{Memory, Resources};
    /// let r = Resources { memory: Some(Memory { swappiness: Some(101), ..Memory::default() }), ..Resources::default() };
    /// assert_eq!(r.validate().unwrap_err().field(), Some("memory.swappiness"));
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn validate(&self) -> Result<()> {
        if let Some(m) = &self.memory {
            if let Some(s) = m.swappiness {
                if s > 100 {
                    return Err(Error::invalid(
                        "memory.swappiness",
                        format!("{s} is above 100"),
                    ));
                }
            }
            if let (Some(Limit::Value(l)), Some(Limit::Value(s))) = (m.limit, m.swap) {
                if s < l {
                    return Err(Error::invalid(
                        "memory.swap",
                        format!("{s} (memory+swap) is below memory.limit {l}"),
                    ));
                }
            }
        }
        if let Some(c) = &self.cpu {
            if let Some(s) = c.shares {
                if s != 0 && !(2..=262_144).contains(&s) {
                    return Err(Error::invalid(
                        "cpu.shares",
                        format!("{s} is outside 2..=262144"),
                    ));
                }
            }
            if let Some(p) = c.period {
                if !(1000..=1_000_000).contains(&p) {
                    return Err(Error::invalid(
                        "cpu.period",
                        format!("{p} is outside 1000..=1000000 µs"),
                    ));
                }
            }
            if let Some(Limit::Value(q)) = c.quota {
                if q < 1000 {
                    return Err(Error::invalid("cpu.quota", format!("{q} is below 1000 µs")));
                }
            }
            if let Some(r) = c.realtime_runtime {
                if r < -1 {
                    return Err(Error::invalid(
                        "cpu.realtimeRuntime",
                        format!("{r} is negative and not -1"),
                    ));
                }
            }
            if let Some(cpus) = &c.cpus {
                check_list("cpu.cpus", cpus)?;
            }
            if let Some(mems) = &c.mems {
                check_list("cpu.mems", mems)?;
            }
            if let Some(i) = c.idle {
                if !(0..=1).contains(&i) {
                    return Err(Error::invalid("cpu.idle", format!("{i} is not 0 or 1")));
                }
            }
        }
        if let Some(b) = &self.block_io {
            check_weight("blockIO.weight", b.weight)?;
            check_weight("blockIO.leafWeight", b.leaf_weight)?;
            for d in &b.weight_device {
                check_dev("blockIO.weightDevice", d.major, d.minor)?;
                check_weight("blockIO.weightDevice", d.weight)?;
                check_weight("blockIO.weightDevice", d.leaf_weight)?;
            }
            for (name, list) in [
                ("blockIO.throttleReadBpsDevice", &b.throttle_read_bps_device),
                (
                    "blockIO.throttleWriteBpsDevice",
                    &b.throttle_write_bps_device,
                ),
                (
                    "blockIO.throttleReadIOPSDevice",
                    &b.throttle_read_iops_device,
                ),
                (
                    "blockIO.throttleWriteIOPSDevice",
                    &b.throttle_write_iops_device,
                ),
            ] {
                for d in list {
                    check_dev(name, d.major, d.minor)?;
                }
            }
        }
        for h in &self.hugepage_limits {
            let ok = h.page_size.len() >= 3
                && h.page_size.ends_with('B')
                && h.page_size.chars().all(|c| c.is_ascii_alphanumeric());
            if !ok {
                return Err(Error::invalid(
                    "hugepageLimits.pageSize",
                    format!("{:?} is not like 2MB", h.page_size),
                ));
            }
        }
        for (iface, _) in self.network.iter().flat_map(|n| n.priorities.iter()) {
            if iface.is_empty() || iface.contains(|c: char| c.is_whitespace() || c == '/') {
                return Err(Error::invalid(
                    "network.priorities",
                    format!("bad interface name {iface:?}"),
                ));
            }
        }
        for dev in self.rdma.keys() {
            if dev.is_empty() || dev.contains(|c: char| c.is_whitespace() || c == '/') {
                return Err(Error::invalid("rdma", format!("bad device name {dev:?}")));
            }
        }
        for (k, v) in &self.unified {
            if k.is_empty()
                || k.contains('/')
                || k.starts_with('.')
                || k.contains('\0')
                || v.contains('\0')
            {
                return Err(Error::invalid(
                    format!("unified.{k}"),
                    "key must be a plain file name",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn conversions() {
        assert_eq!(shares_to_weight(0), None);
        assert_eq!(shares_to_weight(1), Some(1));
        assert_eq!(shares_to_weight(u64::MAX), Some(10000));
        assert_eq!(blkio_weight_to_io(500), 1 + (490 * 9999) / 990);
        assert!(check_list("f", "0-3,5").is_ok());
        assert!(check_list("f", "3-0").is_err());
    }

    proptest! {
        #[test]
        fn validate_names_the_field(
            swappiness in proptest::option::of(any::<u64>()),
            shares in proptest::option::of(any::<u64>()),
            period in proptest::option::of(any::<u64>()),
            cpus in proptest::option::of("\\PC{0,8}"),
            weight in proptest::option::of(any::<u16>()),
            major in any::<i64>(),
            page in "\\PC{0,6}",
            key in "\\PC{0,8}",
            access in "\\PC{0,4}",
        ) {
            let r = Resources {
                memory: Some(Memory { swappiness, ..Memory::default() }),
                cpu: Some(Cpu { shares, period, cpus, ..Cpu::default() }),
                block_io: Some(BlockIo {
                    weight,
                    weight_device: vec![WeightDevice { major, minor: 0, weight, leaf_weight: None }],
                    ..BlockIo::default()
                }),
                hugepage_limits: vec![HugepageLimit { page_size: page, limit: 1 }],
                unified: [(key, "1".to_string())].into_iter().collect(),
                ..Resources::default()
            };
            if let Err(e) = r.validate() {
                prop_assert!(e.field().is_some());
            }
            if let Err(e) = DeviceAccess::from_oci(&access) {
                prop_assert_eq!(e.field(), Some("devices.access"));
            }
        }
    }
}
