//! Unit names, where systemd puts a unit's cgroup, and resources as unit properties.

use crate::error::{Error, Result};
use crate::layout::Version;
use crate::path::CgroupPath;
use crate::resources::{
    blkio_weight_to_io, parse_list, shares_to_weight, DeviceKind, DeviceRule, Limit, Resources,
};

use super::wire::Value;

/// A transient unit systemd manages for a container: a `.scope` in a slice, or a `.slice`.
///
/// Its cgroup is where systemd lays it out: a slice `a-b.slice` lives in
/// `/a.slice/a-b.slice` (each dash opens a level), and a scope in its slice's directory.
///
/// ```
/// use iso_cgroups::SystemdUnit;
/// let u = SystemdUnit::new("kubepods-burstable-pod123.slice", "cri-containerd-c2.scope")?;
/// assert_eq!(
///     u.cgroup_path().as_str(),
///     "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod123.slice/cri-containerd-c2.scope"
/// );
/// assert!(SystemdUnit::new("system.slice", "bad/name.scope").is_err());
/// # Ok::<(), iso_cgroups::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemdUnit {
    slice: String,
    name: String,
    path: CgroupPath,
}

/// The longest unit name systemd accepts.
const MAX_NAME: usize = 255;

fn check_name(field: &str, name: &str, suffix: &str) -> Result<()> {
    let bad = |reason: &str| Error::invalid(field, format!("{name:?}: {reason}"));
    let Some(stem) = name.strip_suffix(suffix) else {
        return Err(bad(&format!("a unit name ending in {suffix} is expected")));
    };
    if stem.is_empty() || name.len() > MAX_NAME {
        return Err(bad("empty or longer than 255 bytes"));
    }
    let ok = |c: char| c.is_ascii_alphanumeric() || ":-_.\\@".contains(c);
    if !stem.chars().all(ok) {
        return Err(bad("only ASCII letters, digits and :-_.\\@ may be used"));
    }
    Ok(())
}

/// The cgroup of the slice `slice` (`-.slice` is the root): `a-b.slice` is
/// `/a.slice/a-b.slice`. The error names `field`.
///
/// ```
/// use iso_cgroups::systemd_slice_path;
/// assert_eq!(systemd_slice_path("system.slice")?.as_str(), "/system.slice");
/// assert_eq!(systemd_slice_path("a-b-c.slice")?.as_str(), "/a.slice/a-b.slice/a-b-c.slice");
/// assert_eq!(systemd_slice_path("-.slice")?.as_str(), "/");
/// assert!(systemd_slice_path("a--b.slice").is_err());
/// # Ok::<(), iso_cgroups::Error>(())
/// ```
pub fn systemd_slice_path(slice: &str) -> Result<CgroupPath> {
    if slice == "-.slice" {
        return CgroupPath::new("/");
    }
    check_name("slice", slice, ".slice")?;
    let stem = &slice[..slice.len() - ".slice".len()];
    if stem.split('-').any(str::is_empty) {
        return Err(Error::invalid(
            "slice",
            format!("{slice:?}: a dash may not lead, trail or repeat"),
        ));
    }
    let mut path = String::new();
    let mut prefix = String::new();
    for part in stem.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        path.push('/');
        path.push_str(&prefix);
        path.push_str(".slice");
    }
    CgroupPath::new(&path)
}

impl SystemdUnit {
    /// A unit named `name` (ending in `.scope`, or `.slice` for a slice of its own) in
    /// `slice`. A slice's place comes from its name, so `slice` only names where a scope
    /// goes. Errors name the field (`slice` or `unit`).
    ///
    /// ```
    /// let u = iso_cgroups::SystemdUnit::new("system.slice", "iso-c1.scope")?;
    /// assert_eq!(u.cgroup_path().as_str(), "/system.slice/iso-c1.scope");
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn new(slice: &str, name: &str) -> Result<SystemdUnit> {
        let slice_dir = systemd_slice_path(slice)?;
        let path = if name.ends_with(".slice") {
            systemd_slice_path(name).map_err(|e| match e {
                Error::Invalid { reason, .. } => Error::invalid("unit", reason),
                other => other,
            })?
        } else {
            check_name("unit", name, ".scope")?;
            CgroupPath::relative(name, &crate::path::Anchor::Under(slice_dir))?
        };
        Ok(SystemdUnit {
            slice: slice.to_owned(),
            name: name.to_owned(),
            path,
        })
    }

    /// The unit's name.
    ///
    /// ```
    /// let u = iso_cgroups::SystemdUnit::new("system.slice", "iso-c1.scope")?;
    /// assert_eq!(u.name(), "iso-c1.scope");
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The slice it was placed in.
    ///
    /// ```
    /// let u = iso_cgroups::SystemdUnit::new("system.slice", "iso-c1.scope")?;
    /// assert_eq!(u.slice(), "system.slice");
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn slice(&self) -> &str {
        &self.slice
    }

    /// Whether the unit is a slice rather than a scope.
    ///
    /// ```
    /// assert!(iso_cgroups::SystemdUnit::new("", "pod1.slice").is_err());
    /// assert!(iso_cgroups::SystemdUnit::new("-.slice", "pod1.slice")?.is_slice());
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn is_slice(&self) -> bool {
        self.name.ends_with(".slice")
    }

    /// The unit's cgroup, as systemd lays it out (the same in every hierarchy).
    ///
    /// ```
    /// let u = iso_cgroups::SystemdUnit::new("a-b.slice", "x.scope")?;
    /// assert_eq!(u.cgroup_path().as_str(), "/a.slice/a-b.slice/x.scope");
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn cgroup_path(&self) -> &CgroupPath {
        &self.path
    }
}

/// A unit property: its name and value.
pub(crate) type Property = (&'static str, Value);

fn variant(name: &'static str, v: Value) -> Property {
    (name, v)
}

/// systemd's "infinity" for limits.
const INFINITY: u64 = u64::MAX;

fn limit(l: Limit) -> Value {
    Value::u64(match l {
        Limit::Max => INFINITY,
        Limit::Value(v) => v,
    })
}

/// A cpu or node list as the byte mask `AllowedCPUs` takes (bit `n % 8` of byte `n / 8`).
pub(crate) fn list_mask(field: &str, list: &str) -> Result<Value> {
    let mut mask: Vec<u8> = Vec::new();
    for (a, b) in parse_list(field, list)? {
        if b >= 1 << 16 {
            return Err(Error::invalid(
                field,
                format!("{b} is beyond the 65536 systemd masks"),
            ));
        }
        for n in a..=b {
            let byte = (n / 8) as usize;
            if mask.len() <= byte {
                mask.resize(byte + 1, 0);
            }
            mask[byte] |= 1 << (n % 8);
        }
    }
    Ok(Value::Array(
        "y".into(),
        mask.into_iter().map(Value::Byte).collect(),
    ))
}

/// The resources systemd owns, as unit properties; the rest is written to the cgroup files.
/// `version` selects the property names (v1 `MemoryLimit`, `CPUShares`, `BlockIOWeight`;
/// v2 `MemoryMax`, `CPUWeight`, `IOWeight`, `AllowedCPUs`). `device_group` names the
/// `/proc/devices` group of a major number (for `char-pts` style rules).
pub(crate) fn resource_properties(
    r: &Resources,
    version: Version,
    device_group: &dyn Fn(DeviceKind, u32) -> Option<String>,
) -> Result<Vec<Property>> {
    let v2 = version == Version::V2;
    let mut props = Vec::new();
    if let Some(l) = r.pids.as_ref().and_then(|p| p.limit) {
        props.push(variant("TasksMax", limit(l)));
    }
    if let Some(m) = &r.memory {
        if let Some(l) = m.limit {
            props.push(variant(
                if v2 { "MemoryMax" } else { "MemoryLimit" },
                limit(l),
            ));
        }
        if v2 {
            if let Some(l) = m.reservation {
                props.push(variant("MemoryLow", limit(l)));
            }
            if let Some(s) = crate::apply::v2_swap(m)? {
                props.push(variant("MemorySwapMax", limit(s)));
            }
        }
    }
    if let Some(c) = &r.cpu {
        cpu_properties(c, v2, &mut props)?;
    }
    if let Some(w) = r.block_io.as_ref().and_then(|b| b.weight) {
        props.push(if v2 {
            variant("IOWeight", Value::u64(blkio_weight_to_io(w)))
        } else {
            variant("BlockIOWeight", Value::u64(w.into()))
        });
    }
    props.extend(device_properties(&r.devices, device_group));
    Ok(props)
}

fn cpu_properties(c: &crate::resources::Cpu, v2: bool, props: &mut Vec<Property>) -> Result<()> {
    if let Some(s) = c.shares {
        if v2 {
            if let Some(w) = shares_to_weight(s) {
                props.push(variant("CPUWeight", Value::u64(w)));
            }
        } else {
            props.push(variant("CPUShares", Value::u64(s)));
        }
    }
    if let Some(p) = c.period {
        props.push(variant("CPUQuotaPeriodUSec", Value::u64(p)));
    }
    match c.quota {
        // systemd keeps the quota per second in whole percents of a CPU: round up to 10 ms
        // (the exact quota goes to cpu.max / cpu.cfs_quota_us).
        Some(Limit::Value(q)) => {
            let period = c.period.unwrap_or(100_000).max(1);
            let per_sec = (q.saturating_mul(1_000_000) / period).div_ceil(10_000) * 10_000;
            props.push(variant("CPUQuotaPerSecUSec", Value::u64(per_sec)));
        }
        Some(Limit::Max) => props.push(variant("CPUQuotaPerSecUSec", Value::u64(INFINITY))),
        None => {}
    }
    if v2 {
        if let Some(cpus) = c.cpus.as_deref().filter(|s| !s.trim().is_empty()) {
            props.push(variant("AllowedCPUs", list_mask("cpu.cpus", cpus)?));
        }
        if let Some(mems) = c.mems.as_deref().filter(|s| !s.trim().is_empty()) {
            props.push(variant("AllowedMemoryNodes", list_mask("cpu.mems", mems)?));
        }
    }
    Ok(())
}

/// `DevicePolicy` and `DeviceAllow` for an OCI rule list that starts by denying everything
/// (an allow list). Anything systemd cannot say (a list that allows by default, `*:n`
/// rules, a major number without a `/proc/devices` group) leaves systemd's policy `auto`
/// with no entries: systemd then filters nothing, and the runtime's own device program
/// (written with the other cgroup files) enforces the exact list.
fn device_properties(
    rules: &[DeviceRule],
    device_group: &dyn Fn(DeviceKind, u32) -> Option<String>,
) -> Vec<Property> {
    let Some(first) = rules.first() else {
        return Vec::new();
    };
    let deny_all = !first.allow
        && first.kind == DeviceKind::All
        && first.major.is_none()
        && first.minor.is_none();
    let entries: Option<Vec<Value>> = deny_all
        .then(|| {
            rules[1..]
                .iter()
                .filter(|r| r.allow)
                .map(|r| device_entries(r, device_group))
                .collect::<Option<Vec<Vec<Value>>>>()
                .map(|v| v.into_iter().flatten().collect())
        })
        .flatten();
    let (policy, entries) = match entries {
        Some(e) => ("strict", e),
        None => ("auto", Vec::new()),
    };
    vec![
        variant("DevicePolicy", Value::str(policy)),
        variant("DeviceAllow", Value::Array("(ss)".into(), entries)),
    ]
}

fn device_entries(
    r: &DeviceRule,
    device_group: &dyn Fn(DeviceKind, u32) -> Option<String>,
) -> Option<Vec<Value>> {
    let access = r.access.as_v1_str();
    let kinds: &[(DeviceKind, &str, &str)] = match r.kind {
        DeviceKind::Char => &[(DeviceKind::Char, "char", "/dev/char")],
        DeviceKind::Block => &[(DeviceKind::Block, "block", "/dev/block")],
        DeviceKind::All => &[
            (DeviceKind::Char, "char", "/dev/char"),
            (DeviceKind::Block, "block", "/dev/block"),
        ],
    };
    kinds
        .iter()
        .map(|&(kind, group, dir)| {
            let spec = match (r.major, r.minor) {
                (Some(ma), Some(mi)) => format!("{dir}/{ma}:{mi}"),
                (Some(ma), None) => format!("{group}-{}", device_group(kind, ma)?),
                (None, None) => format!("{group}-*"),
                (None, Some(_)) => return None,
            };
            Some(Value::Struct(vec![Value::str(spec), Value::str(&access)]))
        })
        .collect()
}

/// The group names of `/proc/devices` (`136 pts` under `Character devices:`).
pub(crate) fn parse_proc_devices(text: &str, kind: DeviceKind, major: u32) -> Option<String> {
    let header = match kind {
        DeviceKind::Block => "Block devices:",
        _ => "Character devices:",
    };
    text.split("\n\n")
        .find(|section| section.trim_start().starts_with(header))?
        .lines()
        .skip(1)
        .filter_map(|l| l.trim().split_once(' '))
        .find(|(n, _)| n.parse() == Ok(major))
        .map(|(_, name)| name.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::tests::rule;
    use crate::resources::{BlockIo, Cpu, Memory, Pids};

    fn prop<'a>(props: &'a [Property], name: &str) -> Option<&'a Value> {
        props.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    fn no_groups(_: DeviceKind, _: u32) -> Option<String> {
        None
    }

    #[test]
    fn slices_nest_by_their_dashes() {
        assert_eq!(systemd_slice_path("a.slice").unwrap().as_str(), "/a.slice");
        for bad in [
            "",
            "a",
            "-a.slice",
            "a-.slice",
            "a/b.slice",
            ".slice",
            "a b.slice",
        ] {
            assert!(systemd_slice_path(bad).is_err(), "{bad}");
        }
        let u = SystemdUnit::new("system.slice", "pod-1.slice").unwrap();
        assert!(u.is_slice());
        assert_eq!(u.cgroup_path().as_str(), "/pod.slice/pod-1.slice");
        let e = SystemdUnit::new("system.slice", "x.service").unwrap_err();
        assert_eq!(e.field(), Some("unit"));
        let e = SystemdUnit::new("system", "x.scope").unwrap_err();
        assert_eq!(e.field(), Some("slice"));
    }

    #[test]
    fn v2_properties() {
        let r = Resources {
            pids: Some(Pids {
                limit: Some(Limit::Value(33)),
            }),
            memory: Some(Memory {
                limit: Some(Limit::Value(64 << 20)),
                reservation: Some(Limit::Value(32 << 20)),
                swap: Some(Limit::Value(96 << 20)),
                ..Memory::default()
            }),
            cpu: Some(Cpu {
                shares: Some(1024),
                quota: Some(Limit::Value(50_001)),
                period: Some(100_000),
                cpus: Some("0,2-3,9".into()),
                ..Cpu::default()
            }),
            block_io: Some(BlockIo {
                weight: Some(1000),
                ..BlockIo::default()
            }),
            ..Resources::default()
        };
        let p = resource_properties(&r, Version::V2, &no_groups).unwrap();
        assert_eq!(prop(&p, "TasksMax"), Some(&Value::u64(33)));
        assert_eq!(prop(&p, "MemoryMax"), Some(&Value::u64(64 << 20)));
        assert_eq!(prop(&p, "MemoryLow"), Some(&Value::u64(32 << 20)));
        assert_eq!(prop(&p, "MemorySwapMax"), Some(&Value::u64(32 << 20)));
        assert_eq!(prop(&p, "CPUWeight"), Some(&Value::u64(39)));
        // 50.001 % rounds up to 51 %.
        assert_eq!(prop(&p, "CPUQuotaPerSecUSec"), Some(&Value::u64(510_000)));
        assert_eq!(prop(&p, "CPUQuotaPeriodUSec"), Some(&Value::u64(100_000)));
        let mask = Value::Array("y".into(), vec![Value::Byte(0b1101), Value::Byte(0b10)]);
        assert_eq!(prop(&p, "AllowedCPUs"), Some(&mask));
        assert_eq!(prop(&p, "IOWeight"), Some(&Value::u64(10000)));
        assert_eq!(prop(&p, "DevicePolicy"), None);
        let v1 = resource_properties(&r, Version::V1, &no_groups).unwrap();
        assert_eq!(prop(&v1, "MemoryLimit"), Some(&Value::u64(64 << 20)));
        assert_eq!(prop(&v1, "CPUShares"), Some(&Value::u64(1024)));
        assert_eq!(prop(&v1, "BlockIOWeight"), Some(&Value::u64(1000)));
        assert_eq!(prop(&v1, "AllowedCPUs"), None);
        let unlimited = Resources {
            pids: Some(Pids {
                limit: Some(Limit::Max),
            }),
            ..Resources::default()
        };
        let p = resource_properties(&unlimited, Version::V2, &no_groups).unwrap();
        assert_eq!(prop(&p, "TasksMax"), Some(&Value::u64(u64::MAX)));
        assert!(list_mask("cpu.cpus", "x").is_err());
    }

    #[test]
    fn device_lists() {
        let pts = |k: DeviceKind, m: u32| (k == DeviceKind::Char && m == 136).then(|| "pts".into());
        let allow_list = [
            rule(false, DeviceKind::All, None, None),
            rule(true, DeviceKind::Char, Some(1), Some(3)),
            rule(true, DeviceKind::Char, Some(136), None),
            rule(true, DeviceKind::All, None, None),
            rule(false, DeviceKind::Char, Some(1), Some(5)),
        ];
        let r = Resources {
            devices: allow_list.to_vec(),
            ..Resources::default()
        };
        let p = resource_properties(&r, Version::V2, &pts).unwrap();
        assert_eq!(prop(&p, "DevicePolicy"), Some(&Value::str("strict")));
        let entry = |s: &str| Value::Struct(vec![Value::str(s), Value::str("rwm")]);
        assert_eq!(
            prop(&p, "DeviceAllow"),
            Some(&Value::Array(
                "(ss)".into(),
                vec![
                    entry("/dev/char/1:3"),
                    entry("char-pts"),
                    entry("char-*"),
                    entry("block-*")
                ]
            ))
        );
        // An unknown group, a `*:n` rule or an allow-by-default list: systemd filters nothing.
        for rules in [
            vec![
                rule(false, DeviceKind::All, None, None),
                rule(true, DeviceKind::Char, Some(99), None),
            ],
            vec![
                rule(false, DeviceKind::All, None, None),
                rule(true, DeviceKind::Char, None, Some(1)),
            ],
            vec![
                rule(true, DeviceKind::All, None, None),
                rule(false, DeviceKind::Char, Some(1), Some(3)),
            ],
        ] {
            let r = Resources {
                devices: rules,
                ..Resources::default()
            };
            let p = resource_properties(&r, Version::V2, &no_groups).unwrap();
            assert_eq!(prop(&p, "DevicePolicy"), Some(&Value::str("auto")));
            assert_eq!(
                prop(&p, "DeviceAllow"),
                Some(&Value::Array("(ss)".into(), vec![]))
            );
        }
    }

    #[test]
    fn proc_devices_groups() {
        let text = "Character devices:\n  1 mem\n136 pts\n\nBlock devices:\n  7 loop\n";
        assert_eq!(
            parse_proc_devices(text, DeviceKind::Char, 136).as_deref(),
            Some("pts")
        );
        assert_eq!(
            parse_proc_devices(text, DeviceKind::Block, 7).as_deref(),
            Some("loop")
        );
        assert_eq!(parse_proc_devices(text, DeviceKind::Block, 1), None);
    }
}
