//! Writing [`Resources`] to the files of the hierarchy that owns each controller.

use std::path::Path;

use crate::cgroup::{read, write_raw, Cgroup};
use crate::devices::DeviceState;
use crate::error::{Error, Result};
use crate::layout::{Controller, Version};
use crate::resources::{
    blkio_weight_to_io, shares_to_weight, BlockIo, Cpu, Limit, Memory, Resources, ThrottleDevice,
};

/// Writes two files whose values the kernel keeps consistent with each other at every step
/// (memory limit <= memory+swap limit; cfs quota against period), so whichever order a change
/// needs: `first` is tried first, and when the kernel refuses it, `second` goes first.
fn set_coupled(
    first: Option<impl Fn() -> Result<()>>,
    second: Option<impl Fn() -> Result<()>>,
) -> Result<()> {
    match (first, second) {
        (Some(first), Some(second)) => {
            if first().is_err() {
                second()?;
                first()
            } else {
                second()
            }
        }
        (Some(only), None) => only(),
        (None, Some(only)) => only(),
        (None, None) => Ok(()),
    }
}

/// Writes `value` to `dir/file`, naming `field` in the error.
fn set(dir: &Path, file: &str, field: &str, value: &str) -> Result<()> {
    let path = dir.join(file);
    write_raw(&path, value).map_err(|source| Error::Write {
        field: field.into(),
        path,
        value: value.into(),
        source,
    })
}

/// The first of `files` that exists in `dir`.
fn first_existing(dir: &Path, files: &[&'static str]) -> Option<&'static str> {
    files.iter().copied().find(|f| dir.join(f).exists())
}

pub(crate) fn apply(cg: &Cgroup, r: &Resources) -> Result<()> {
    r.validate()?;
    if let Some(limit) = r.pids.and_then(|p| p.limit) {
        let (_, dir) = cg.owner_dir(Controller::Pids, "pids.limit")?;
        set(&dir, "pids.max", "pids.limit", &limit.v2_string())?;
    }
    if let Some(m) = &r.memory {
        memory(cg, m)?;
    }
    if let Some(c) = &r.cpu {
        cpu(cg, c)?;
    }
    if let Some(b) = &r.block_io {
        block_io(cg, b)?;
    }
    for h in &r.hugepage_limits {
        let (hier, dir) = cg.owner_dir(Controller::Hugetlb, "hugepageLimits")?;
        let file = match hier.version {
            Version::V1 => format!("hugetlb.{}.limit_in_bytes", h.page_size),
            Version::V2 => format!("hugetlb.{}.max", h.page_size),
        };
        set(&dir, &file, "hugepageLimits", &h.limit.to_string())?;
    }
    if let Some(n) = &r.network {
        if let Some(id) = n.class_id {
            let (h, dir) = cg.owner_dir(Controller::NetCls, "network.classID")?;
            if h.version == Version::V2 {
                return Err(Error::unsupported(
                    "network.classID",
                    "net_cls exists only on cgroup v1",
                ));
            }
            set(&dir, "net_cls.classid", "network.classID", &id.to_string())?;
        }
        for (iface, prio) in &n.priorities {
            let (h, dir) = cg.owner_dir(Controller::NetPrio, "network.priorities")?;
            if h.version == Version::V2 {
                return Err(Error::unsupported(
                    "network.priorities",
                    "net_prio exists only on cgroup v1",
                ));
            }
            set(
                &dir,
                "net_prio.ifpriomap",
                "network.priorities",
                &format!("{iface} {prio}"),
            )?;
        }
    }
    for (dev, limit) in &r.rdma {
        let (_, dir) = cg.owner_dir(Controller::Rdma, "rdma")?;
        let mut line = dev.clone();
        if let Some(h) = limit.hca_handles {
            line.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = limit.hca_objects {
            line.push_str(&format!(" hca_object={o}"));
        }
        if line != *dev {
            set(&dir, "rdma.max", "rdma", &line)?;
        }
    }
    if !r.devices.is_empty() {
        let (h, dir) = cg.owner_dir(Controller::Devices, "devices")?;
        match h.version {
            Version::V1 => {
                // From what the kernel holds, the smallest change (see devices.rs).
                let list = read(&dir.join("devices.list"))?;
                let current = DeviceState::from_list(&list).ok_or_else(|| {
                    Error::invalid("devices", format!("unreadable devices.list {list:?}"))
                })?;
                for w in current.transition(&current.after(&r.devices)) {
                    let file = if w.allow {
                        "devices.allow"
                    } else {
                        "devices.deny"
                    };
                    set(&dir, file, "devices", &w.line)?;
                }
            }
            Version::V2 => crate::bpf::attach_device_filter(&dir, &r.devices)?,
        }
    }
    cg.layout().check_unified(&r.unified)?;
    if let Some(u) = cg.layout().unified().filter(|_| !r.unified.is_empty()) {
        let dir = cg.path().dir_in(&u.mount_point);
        for (k, v) in &r.unified {
            set(&dir, k, &format!("unified.{k}"), v)?;
        }
    }
    Ok(())
}

fn current_usage(dir: &Path, file: &str) -> Result<u64> {
    let path = dir.join(file);
    read(&path)?.trim().parse().map_err(|_| Error::Parse {
        path,
        reason: "not a number".into(),
    })
}

fn check_usage(dir: &Path, file: &str, m: &Memory) -> Result<()> {
    if let (Some(true), Some(Limit::Value(l))) = (m.check_before_update, m.limit) {
        let usage = current_usage(dir, file)?;
        if usage > l {
            return Err(Error::invalid(
                "memory.limit",
                format!("{l} is below the current usage {usage} (checkBeforeUpdate)"),
            ));
        }
    }
    Ok(())
}

fn memory(cg: &Cgroup, m: &Memory) -> Result<()> {
    let (h, dir) = cg.owner_dir(Controller::Memory, "memory")?;
    match h.version {
        Version::V1 => memory_v1(&dir, m),
        Version::V2 => memory_v2(&dir, m),
    }
}

fn memory_v1(dir: &Path, m: &Memory) -> Result<()> {
    check_usage(dir, "memory.usage_in_bytes", m)?;
    let memsw = "memory.memsw.limit_in_bytes";
    if m.swap.is_some() && !dir.join(memsw).exists() {
        return Err(Error::unsupported(
            "memory.swap",
            "swap accounting is off (no memory.memsw files)",
        ));
    }
    let set_limit = |l: Limit| set(dir, "memory.limit_in_bytes", "memory.limit", &l.v1_string());
    let set_swap = |s: Limit| set(dir, memsw, "memory.swap", &s.v1_string());
    // An unlimited memory limit with swap unsaid lifts the memory+swap limit too, as runc
    // does: the kernel refuses a memory limit above the memory+swap one.
    let unlimited = m.limit == Some(Limit::Max) && dir.join(memsw).exists();
    let swap = m.swap.or(unlimited.then_some(Limit::Max));
    // The kernel keeps memory+swap >= memory at every step, so the order depends on the
    // direction of the change: try limit first, and on refusal raise swap first.
    set_coupled(
        m.limit.map(|l| move || set_limit(l)),
        swap.map(|s| move || set_swap(s)),
    )?;
    if let Some(r) = m.reservation {
        set(
            dir,
            "memory.soft_limit_in_bytes",
            "memory.reservation",
            &r.v1_string(),
        )?;
    }
    if let Some(k) = m.kernel {
        set(
            dir,
            "memory.kmem.limit_in_bytes",
            "memory.kernel",
            &k.v1_string(),
        )?;
    }
    if let Some(k) = m.kernel_tcp {
        set(
            dir,
            "memory.kmem.tcp.limit_in_bytes",
            "memory.kernelTCP",
            &k.v1_string(),
        )?;
    }
    if let Some(s) = m.swappiness {
        set(
            dir,
            "memory.swappiness",
            "memory.swappiness",
            &s.to_string(),
        )?;
    }
    if let Some(d) = m.disable_oom_killer {
        set(
            dir,
            "memory.oom_control",
            "memory.disableOOMKiller",
            if d { "1" } else { "0" },
        )?;
    }
    if let Some(u) = m.use_hierarchy {
        set(
            dir,
            "memory.use_hierarchy",
            "memory.useHierarchy",
            if u { "1" } else { "0" },
        )?;
    }
    Ok(())
}

fn memory_v2(dir: &Path, m: &Memory) -> Result<()> {
    check_usage(dir, "memory.current", m)?;
    if m.kernel.is_some() {
        return Err(Error::unsupported(
            "memory.kernel",
            "cgroup v2 has no kernel memory limit",
        ));
    }
    if m.kernel_tcp.is_some() {
        return Err(Error::unsupported(
            "memory.kernelTCP",
            "cgroup v2 has no kernel TCP limit",
        ));
    }
    if m.swappiness.is_some() {
        return Err(Error::unsupported(
            "memory.swappiness",
            "cgroup v2 has no per-cgroup swappiness",
        ));
    }
    if m.disable_oom_killer == Some(true) {
        return Err(Error::unsupported(
            "memory.disableOOMKiller",
            "cgroup v2 cannot disable the OOM killer",
        ));
    }
    if m.use_hierarchy == Some(false) {
        return Err(Error::unsupported(
            "memory.useHierarchy",
            "cgroup v2 is always hierarchical",
        ));
    }
    if let Some(l) = m.limit {
        set(dir, "memory.max", "memory.limit", &l.v2_string())?;
    }
    if let Some(swap_only) = v2_swap(m)? {
        if !dir.join("memory.swap.max").exists() {
            return Err(Error::unsupported(
                "memory.swap",
                "swap accounting is off (no memory.swap.max)",
            ));
        }
        set(
            dir,
            "memory.swap.max",
            "memory.swap",
            &swap_only.v2_string(),
        )?;
    }
    if let Some(r) = m.reservation {
        set(dir, "memory.low", "memory.reservation", &r.v2_string())?;
    }
    Ok(())
}

/// The v2 swap limit (swap alone) of OCI's memory+swap `memory.swap`.
pub(crate) fn v2_swap(m: &Memory) -> Result<Option<Limit>> {
    let Some(s) = m.swap else {
        return Ok(None);
    };
    Ok(Some(match (s, m.limit) {
        (Limit::Max, _) => Limit::Max,
        (Limit::Value(s), Some(Limit::Value(l))) => Limit::Value(s.saturating_sub(l)),
        (Limit::Value(_), _) => {
            return Err(Error::invalid(
                "memory.swap",
                "a finite memory+swap needs a finite memory.limit on cgroup v2",
            ))
        }
    }))
}

fn cpu(cg: &Cgroup, c: &Cpu) -> Result<()> {
    if c.cpus.is_some() || c.mems.is_some() {
        let (_, dir) = cg.owner_dir(Controller::Cpuset, "cpu.cpus")?;
        // mems first: a v1 cpuset needs both before it can hold tasks.
        if let Some(mems) = &c.mems {
            set(&dir, "cpuset.mems", "cpu.mems", mems)?;
        }
        if let Some(cpus) = &c.cpus {
            set(&dir, "cpuset.cpus", "cpu.cpus", cpus)?;
        }
    }
    let wants_cpu = c.shares.is_some()
        || c.quota.is_some()
        || c.period.is_some()
        || c.burst.is_some()
        || c.realtime_runtime.is_some()
        || c.realtime_period.is_some()
        || c.idle.is_some();
    if !wants_cpu {
        return Ok(());
    }
    let (h, dir) = cg.owner_dir(Controller::Cpu, "cpu")?;
    match h.version {
        Version::V1 => cpu_v1(&dir, c),
        Version::V2 => cpu_v2(&dir, c),
    }
}

fn cpu_v1(dir: &Path, c: &Cpu) -> Result<()> {
    if let Some(s) = c.shares.filter(|s| *s != 0) {
        set(dir, "cpu.shares", "cpu.shares", &s.to_string())?;
    }
    let set_period = |p: u64| set(dir, "cpu.cfs_period_us", "cpu.period", &p.to_string());
    let set_quota = |q: Limit| set(dir, "cpu.cfs_quota_us", "cpu.quota", &q.v1_string());
    set_coupled(
        c.period.map(|p| move || set_period(p)),
        c.quota.map(|q| move || set_quota(q)),
    )?;
    if let Some(b) = c.burst {
        set(dir, "cpu.cfs_burst_us", "cpu.burst", &b.to_string())?;
    }
    if let Some(p) = c.realtime_period {
        set(
            dir,
            "cpu.rt_period_us",
            "cpu.realtimePeriod",
            &p.to_string(),
        )?;
    }
    if let Some(r) = c.realtime_runtime {
        set(
            dir,
            "cpu.rt_runtime_us",
            "cpu.realtimeRuntime",
            &r.to_string(),
        )?;
    }
    if let Some(i) = c.idle {
        set(dir, "cpu.idle", "cpu.idle", &i.to_string())?;
    }
    Ok(())
}

fn cpu_v2(dir: &Path, c: &Cpu) -> Result<()> {
    if c.realtime_runtime.is_some() || c.realtime_period.is_some() {
        let field = if c.realtime_runtime.is_some() {
            "cpu.realtimeRuntime"
        } else {
            "cpu.realtimePeriod"
        };
        return Err(Error::unsupported(
            field,
            "cgroup v2 has no realtime CPU budget",
        ));
    }
    if let Some(w) = c.shares.and_then(shares_to_weight) {
        set(dir, "cpu.weight", "cpu.shares", &w.to_string())?;
    }
    if c.quota.is_some() || c.period.is_some() {
        let field = if c.quota.is_some() {
            "cpu.quota"
        } else {
            "cpu.period"
        };
        let path = dir.join("cpu.max");
        let current = read(&path)?;
        let mut parts = current.split_whitespace();
        let cur_quota = parts.next().unwrap_or("max").to_string();
        let cur_period = parts.next().unwrap_or("100000").to_string();
        let quota = c.quota.map_or(cur_quota, Limit::v2_string);
        let period = c.period.map_or(cur_period, |p| p.to_string());
        set(dir, "cpu.max", field, &format!("{quota} {period}"))?;
    }
    if let Some(b) = c.burst {
        set(dir, "cpu.max.burst", "cpu.burst", &b.to_string())?;
    }
    if let Some(i) = c.idle {
        set(dir, "cpu.idle", "cpu.idle", &i.to_string())?;
    }
    Ok(())
}

fn block_io(cg: &Cgroup, b: &BlockIo) -> Result<()> {
    let (h, dir) = cg.owner_dir(Controller::Blkio, "blockIO")?;
    match h.version {
        Version::V1 => block_io_v1(&dir, b),
        Version::V2 => block_io_v2(&dir, b),
    }
}

fn weight_file(dir: &Path, field: &str, candidates: &[&'static str]) -> Result<&'static str> {
    first_existing(dir, candidates).ok_or_else(|| {
        Error::unsupported(
            field,
            format!(
                "no {} file (no proportional I/O scheduler)",
                candidates.join(" or ")
            ),
        )
    })
}

fn block_io_v1(dir: &Path, b: &BlockIo) -> Result<()> {
    if let Some(w) = b.weight {
        let f = weight_file(dir, "blockIO.weight", &["blkio.weight", "blkio.bfq.weight"])?;
        set(dir, f, "blockIO.weight", &w.to_string())?;
    }
    if let Some(w) = b.leaf_weight {
        let f = weight_file(dir, "blockIO.leafWeight", &["blkio.leaf_weight"])?;
        set(dir, f, "blockIO.leafWeight", &w.to_string())?;
    }
    for d in &b.weight_device {
        if let Some(w) = d.weight {
            let f = weight_file(
                dir,
                "blockIO.weightDevice",
                &["blkio.weight_device", "blkio.bfq.weight_device"],
            )?;
            set(
                dir,
                f,
                "blockIO.weightDevice",
                &format!("{}:{} {w}", d.major, d.minor),
            )?;
        }
        if let Some(w) = d.leaf_weight {
            let f = weight_file(dir, "blockIO.weightDevice", &["blkio.leaf_weight_device"])?;
            set(
                dir,
                f,
                "blockIO.weightDevice",
                &format!("{}:{} {w}", d.major, d.minor),
            )?;
        }
    }
    let throttles: [(&str, &str, &Vec<ThrottleDevice>); 4] = [
        (
            "blkio.throttle.read_bps_device",
            "blockIO.throttleReadBpsDevice",
            &b.throttle_read_bps_device,
        ),
        (
            "blkio.throttle.write_bps_device",
            "blockIO.throttleWriteBpsDevice",
            &b.throttle_write_bps_device,
        ),
        (
            "blkio.throttle.read_iops_device",
            "blockIO.throttleReadIOPSDevice",
            &b.throttle_read_iops_device,
        ),
        (
            "blkio.throttle.write_iops_device",
            "blockIO.throttleWriteIOPSDevice",
            &b.throttle_write_iops_device,
        ),
    ];
    for (file, field, list) in throttles {
        for d in list {
            set(
                dir,
                file,
                field,
                &format!("{}:{} {}", d.major, d.minor, d.rate),
            )?;
        }
    }
    Ok(())
}

fn block_io_v2(dir: &Path, b: &BlockIo) -> Result<()> {
    if b.leaf_weight.is_some() || b.weight_device.iter().any(|d| d.leaf_weight.is_some()) {
        return Err(Error::unsupported(
            "blockIO.leafWeight",
            "cgroup v2 has no leaf weights",
        ));
    }
    let bfq = dir.join("io.bfq.weight").exists();
    if let Some(w) = b.weight {
        if bfq {
            set(
                dir,
                "io.bfq.weight",
                "blockIO.weight",
                &format!("default {w}"),
            )?;
        } else {
            let f = weight_file(dir, "blockIO.weight", &["io.weight"])?;
            set(
                dir,
                f,
                "blockIO.weight",
                &format!("default {}", blkio_weight_to_io(w)),
            )?;
        }
    }
    for d in &b.weight_device {
        if let Some(w) = d.weight {
            let (f, w) = if bfq {
                ("io.bfq.weight", u64::from(w))
            } else {
                (
                    weight_file(dir, "blockIO.weightDevice", &["io.weight"])?,
                    blkio_weight_to_io(w),
                )
            };
            set(
                dir,
                f,
                "blockIO.weightDevice",
                &format!("{}:{} {w}", d.major, d.minor),
            )?;
        }
    }
    let throttles: [(&str, &str, &Vec<ThrottleDevice>); 4] = [
        (
            "rbps",
            "blockIO.throttleReadBpsDevice",
            &b.throttle_read_bps_device,
        ),
        (
            "wbps",
            "blockIO.throttleWriteBpsDevice",
            &b.throttle_write_bps_device,
        ),
        (
            "riops",
            "blockIO.throttleReadIOPSDevice",
            &b.throttle_read_iops_device,
        ),
        (
            "wiops",
            "blockIO.throttleWriteIOPSDevice",
            &b.throttle_write_iops_device,
        ),
    ];
    for (key, field, list) in throttles {
        for d in list {
            let rate = if d.rate == 0 {
                "max".to_string()
            } else {
                d.rate.to_string()
            };
            set(
                dir,
                "io.max",
                field,
                &format!("{}:{} {key}={rate}", d.major, d.minor),
            )?;
        }
    }
    Ok(())
}
