//! Conversions from `oci_spec::runtime::LinuxResources` (feature `oci`).

use oci_spec::runtime as oci;

use crate::error::{Error, Result};
use crate::resources::{
    BlockIo, Cpu, DeviceAccess, DeviceKind, DeviceRule, HugepageLimit, Limit, Memory, Network,
    Pids, Rdma, Resources, ThrottleDevice, WeightDevice,
};

/// A memory-style OCI value (memory limits, CPU quota): `0` is what configs carry for "no
/// value" (Docker writes 0 for "no limit"), so it stays unset; `-1` is unlimited; other
/// negatives are refused.
fn limit(v: Option<i64>, field: &str) -> Result<Option<Limit>> {
    v.filter(|v| *v != 0)
        .map(|v| Limit::from_oci_field(v, field))
        .transpose()
}

fn dev_num(v: Option<i64>, field: &str) -> Result<Option<u32>> {
    match v {
        None | Some(-1) => Ok(None),
        Some(n) => u32::try_from(n)
            .map(Some)
            .map_err(|_| Error::invalid(field, format!("device number {n} out of range"))),
    }
}

fn throttles(list: &Option<Vec<oci::LinuxThrottleDevice>>) -> Vec<ThrottleDevice> {
    list.iter()
        .flatten()
        .map(|d| ThrottleDevice {
            major: d.major(),
            minor: d.minor(),
            rate: d.rate(),
        })
        .collect()
}

#[cfg_attr(docsrs, doc(cfg(feature = "oci")))]
impl TryFrom<&oci::LinuxResources> for Resources {
    type Error = Error;

    /// Converts an OCI resources block; an out-of-range value fails naming its field.
    ///
    /// Zero handling follows what configs mean in practice: `pids.limit: 0` is a real limit
    /// (no new task), while `0` for memory limits, CPU shares, quota, period and block I/O
    /// weights means "not set" (that is how Docker and others write "no value"); `-1` is
    /// unlimited.
    ///
    /// ```
    /// let oci: oci_spec::runtime::LinuxResources = serde_json::from_str(
    ///     r#"{"pids": {"limit": 0}, "memory": {"limit": -1}}"#).unwrap();
    /// let r = iso_cgroups::Resources::try_from(&oci)?;
    /// assert_eq!(r.pids.unwrap().limit, Some(iso_cgroups::Limit::Value(0)));
    /// assert_eq!(r.memory.unwrap().limit, Some(iso_cgroups::Limit::Max));
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    fn try_from(r: &oci::LinuxResources) -> Result<Resources> {
        let mut out = Resources::default();
        if let Some(p) = r.pids() {
            out.pids = Some(Pids {
                limit: Some(Limit::from_oci_field(p.limit(), "pids.limit")?),
            });
        }
        if let Some(m) = r.memory() {
            #[allow(deprecated)]
            let kernel = m.kernel();
            out.memory = Some(Memory {
                limit: limit(m.limit(), "memory.limit")?,
                reservation: limit(m.reservation(), "memory.reservation")?,
                swap: limit(m.swap(), "memory.swap")?,
                kernel: limit(kernel, "memory.kernel")?,
                kernel_tcp: limit(m.kernel_tcp(), "memory.kernelTCP")?,
                swappiness: m.swappiness(),
                disable_oom_killer: m.disable_oom_killer(),
                use_hierarchy: m.use_hierarchy(),
                check_before_update: m.check_before_update(),
            });
        }
        if let Some(c) = r.cpu() {
            out.cpu = Some(Cpu {
                shares: c.shares().filter(|s| *s != 0),
                // As memory: -1 is unlimited, other negatives are refused (cgroup v1 would
                // take any of them as unlimited, hiding a typo).
                quota: limit(c.quota(), "cpu.quota")?,
                period: c.period().filter(|p| *p != 0),
                burst: c.burst(),
                realtime_runtime: c.realtime_runtime(),
                realtime_period: c.realtime_period(),
                cpus: c.cpus().clone(),
                mems: c.mems().clone(),
                idle: c.idle(),
            });
        }
        if let Some(b) = r.block_io() {
            out.block_io = Some(BlockIo {
                weight: b.weight().filter(|w| *w != 0),
                leaf_weight: b.leaf_weight().filter(|w| *w != 0),
                weight_device: b
                    .weight_device()
                    .iter()
                    .flatten()
                    .map(|d| WeightDevice {
                        major: d.major(),
                        minor: d.minor(),
                        weight: d.weight(),
                        leaf_weight: d.leaf_weight(),
                    })
                    .collect(),
                throttle_read_bps_device: throttles(b.throttle_read_bps_device()),
                throttle_write_bps_device: throttles(b.throttle_write_bps_device()),
                throttle_read_iops_device: throttles(b.throttle_read_iops_device()),
                throttle_write_iops_device: throttles(b.throttle_write_iops_device()),
            });
        }
        for h in r.hugepage_limits().iter().flatten() {
            let limit = u64::try_from(h.limit()).map_err(|_| {
                Error::invalid("hugepageLimits.limit", format!("{} is negative", h.limit()))
            })?;
            out.hugepage_limits.push(HugepageLimit {
                page_size: h.page_size().clone(),
                limit,
            });
        }
        if let Some(n) = r.network() {
            out.network = Some(Network {
                class_id: n.class_id(),
                priorities: n
                    .priorities()
                    .iter()
                    .flatten()
                    .map(|p| (p.name().clone(), p.priority()))
                    .collect(),
            });
        }
        for (dev, l) in r.rdma().iter().flatten() {
            out.rdma.insert(
                dev.clone(),
                Rdma {
                    hca_handles: l.hca_handles(),
                    hca_objects: l.hca_objects(),
                },
            );
        }
        for d in r.devices().iter().flatten() {
            let kind = match d.typ() {
                None | Some(oci::LinuxDeviceType::A) => DeviceKind::All,
                Some(oci::LinuxDeviceType::B) => DeviceKind::Block,
                Some(oci::LinuxDeviceType::C) | Some(oci::LinuxDeviceType::U) => DeviceKind::Char,
                Some(oci::LinuxDeviceType::P) => {
                    return Err(Error::invalid(
                        "devices.type",
                        "p (FIFO) is not a cgroup device type",
                    ))
                }
            };
            out.devices.push(DeviceRule {
                allow: d.allow(),
                kind,
                major: dev_num(d.major(), "devices.major")?,
                minor: dev_num(d.minor(), "devices.minor")?,
                access: DeviceAccess::from_oci(d.access().as_deref().unwrap_or(""))?,
            });
        }
        for (k, v) in r.unified().iter().flatten() {
            out.unified.insert(k.clone(), v.clone());
        }
        Ok(out)
    }
}
