//! Statistics in the shape of `runc events --stats`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::cgroup::Cgroup;
use crate::error::{Error, Result};
use crate::layout::{Controller, Version};

/// Everything the controllers report for one cgroup. Controllers the host lacks leave
/// their part at its default (zero).
///
/// ```no_run
/// use iso_cgroups::{Cgroup, CgroupPath, Layout};
/// let cg = Cgroup::open(&Layout::detect()?, CgroupPath::new("/")?)?;
/// let s = cg.stats()?;
/// println!("{} tasks, {} bytes", s.pids.current, s.memory.usage);
/// # Ok::<(), iso_cgroups::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Stats {
    /// CPU usage and throttling.
    pub cpu: CpuStats,
    /// Memory usage and OOM events.
    pub memory: MemoryStats,
    /// Task count.
    pub pids: PidsStats,
    /// Block I/O per device.
    pub blkio: BlkioStats,
    /// Huge page usage per page size (`2MB`, `1GB`).
    pub hugetlb: BTreeMap<String, HugetlbStats>,
}

/// CPU statistics.
///
/// ```no_run
/// use iso_cgroups::{Cgroup, CgroupPath, Layout};
/// let cpu = Cgroup::open(&Layout::detect()?, CgroupPath::new("/")?)?.stats()?.cpu;
/// println!("{} ns, throttled {} times", cpu.usage_total_ns, cpu.throttled_periods);
/// # Ok::<(), iso_cgroups::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CpuStats {
    /// Total CPU time in nanoseconds.
    pub usage_total_ns: u64,
    /// User CPU time in nanoseconds.
    pub usage_user_ns: u64,
    /// System CPU time in nanoseconds.
    pub usage_system_ns: u64,
    /// Per-CPU time in nanoseconds (v1 only).
    pub per_cpu_ns: Vec<u64>,
    /// Per-CPU system time in nanoseconds (v1 `cpuacct.usage_percpu_sys`, where present).
    pub per_cpu_system_ns: Vec<u64>,
    /// Per-CPU user time in nanoseconds (v1 `cpuacct.usage_percpu_user`, where present).
    pub per_cpu_user_ns: Vec<u64>,
    /// CFS periods that elapsed with tasks runnable.
    pub periods: u64,
    /// Periods in which the group was throttled.
    pub throttled_periods: u64,
    /// Total throttled time in nanoseconds.
    pub throttled_time_ns: u64,
}

/// Memory statistics.
///
/// ```no_run
/// use iso_cgroups::{Cgroup, CgroupPath, Layout};
/// let m = Cgroup::open(&Layout::detect()?, CgroupPath::new("/iso/doc")?)?.stats()?.memory;
/// println!("{} bytes, {} OOM kills", m.usage, m.oom_kill_events);
/// # Ok::<(), iso_cgroups::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MemoryStats {
    /// Current usage in bytes.
    pub usage: u64,
    /// The limit in bytes (`None`: unlimited).
    pub limit: Option<u64>,
    /// Peak usage in bytes (v1 `max_usage_in_bytes`, v2 `memory.peak` where present).
    pub max_usage: u64,
    /// Times the limit was hit (v1 `failcnt`, v2 the `max` event count).
    pub failcnt: u64,
    /// Times the group ran out of memory (v2 `oom`; v1 counts only `oom_kill`).
    pub oom_events: u64,
    /// Processes killed by the OOM killer in this group.
    pub oom_kill_events: u64,
    /// Whether the group is under OOM right now (v1 `under_oom`).
    pub under_oom: bool,
    /// Every key of `memory.stat`.
    pub raw: BTreeMap<String, u64>,
    /// v1 memory+swap (`memory.memsw.*`), where swap accounting is on.
    pub swap: Option<MemoryCounter>,
    /// v1 kernel memory (`memory.kmem.*`), where the kernel has it.
    pub kernel: Option<MemoryCounter>,
    /// v1 kernel TCP buffer memory (`memory.kmem.tcp.*`), where the kernel has it.
    pub kernel_tcp: Option<MemoryCounter>,
}

/// One v1 memory counter family (`PREFIX.usage_in_bytes`, `limit_in_bytes`,
/// `max_usage_in_bytes`, `failcnt`).
///
/// ```no_run
/// use iso_cgroups::{Cgroup, CgroupPath, Layout};
/// let m = Cgroup::open(&Layout::detect()?, CgroupPath::new("/iso/doc")?)?.stats()?.memory;
/// if let Some(swap) = m.swap {
///     println!("memory+swap {} of {:?}", swap.usage, swap.limit);
/// }
/// # Ok::<(), iso_cgroups::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MemoryCounter {
    /// Current usage in bytes.
    pub usage: u64,
    /// The limit in bytes (`None`: unlimited).
    pub limit: Option<u64>,
    /// Peak usage in bytes.
    pub max_usage: u64,
    /// Times the limit was hit.
    pub failcnt: u64,
}

/// The v1 counters `dir/PREFIX.*`, or `None` when the kernel has no such files.
fn counter(dir: &Path, prefix: &str) -> Result<Option<MemoryCounter>> {
    let file = |name: &str| dir.join(format!("{prefix}.{name}"));
    if !file("usage_in_bytes").exists() {
        return Ok(None);
    }
    Ok(Some(MemoryCounter {
        usage: num(&file("usage_in_bytes"))?.unwrap_or(0),
        limit: limit(num(&file("limit_in_bytes"))?),
        max_usage: num(&file("max_usage_in_bytes"))?.unwrap_or(0),
        failcnt: num(&file("failcnt"))?.unwrap_or(0),
    }))
}

/// Task counter statistics.
///
/// ```no_run
/// use iso_cgroups::{Cgroup, CgroupPath, Layout};
/// let p = Cgroup::open(&Layout::detect()?, CgroupPath::new("/iso/doc")?)?.stats()?.pids;
/// println!("{} of {:?}", p.current, p.limit);
/// # Ok::<(), iso_cgroups::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PidsStats {
    /// Tasks in the group.
    pub current: u64,
    /// The limit (`None`: unlimited).
    pub limit: Option<u64>,
}

/// One block I/O counter.
///
/// ```no_run
/// use iso_cgroups::{Cgroup, CgroupPath, Layout};
/// for e in Cgroup::open(&Layout::detect()?, CgroupPath::new("/")?)?.stats()?.blkio.io_service_bytes {
///     println!("{}:{} {} {}", e.major, e.minor, e.op, e.value);
/// }
/// # Ok::<(), iso_cgroups::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BlkioEntry {
    /// Device major number.
    pub major: u64,
    /// Device minor number.
    pub minor: u64,
    /// `Read`, `Write`, `Sync`, `Async`, `Discard`, `Total`.
    pub op: String,
    /// Bytes or operations.
    pub value: u64,
}

/// Block I/O statistics.
///
/// ```no_run
/// use iso_cgroups::{Cgroup, CgroupPath, Layout};
/// let b = Cgroup::open(&Layout::detect()?, CgroupPath::new("/")?)?.stats()?.blkio;
/// println!("{} byte counters", b.io_service_bytes.len());
/// # Ok::<(), iso_cgroups::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BlkioStats {
    /// Bytes transferred.
    pub io_service_bytes: Vec<BlkioEntry>,
    /// Operations completed.
    pub io_serviced: Vec<BlkioEntry>,
}

/// Huge page statistics for one page size.
///
/// ```no_run
/// use iso_cgroups::{Cgroup, CgroupPath, Layout};
/// for (size, h) in Cgroup::open(&Layout::detect()?, CgroupPath::new("/")?)?.stats()?.hugetlb {
///     println!("{size}: {} bytes", h.usage);
/// }
/// # Ok::<(), iso_cgroups::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HugetlbStats {
    /// Bytes in use.
    pub usage: u64,
    /// Peak bytes (v1 only).
    pub max_usage: u64,
    /// Times the limit was hit.
    pub failcnt: u64,
}

/// Reads a number from a file; a missing file is `None`, `max` is `u64::MAX`.
fn num(path: &Path) -> Result<Option<u64>> {
    match std::fs::read_to_string(path) {
        Ok(s) => {
            let s = s.trim();
            if s == "max" {
                return Ok(Some(u64::MAX));
            }
            s.parse().map(Some).map_err(|_| Error::Parse {
                path: path.into(),
                reason: format!("{s:?} is not a number"),
            })
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

/// Parses `key value` lines; a missing file is empty.
fn keyed(path: &Path) -> Result<BTreeMap<String, u64>> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(parse_keyed(&s)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(BTreeMap::new()),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

pub(crate) fn parse_keyed(s: &str) -> BTreeMap<String, u64> {
    s.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?;
            let v = it.next()?.parse().ok()?;
            Some((k.to_string(), v))
        })
        .collect()
}

fn limit(v: Option<u64>) -> Option<u64> {
    // v1 reports "no limit" as a huge page-aligned number; v2 as "max".
    v.filter(|v| *v < (i64::MAX as u64) & !4095)
}

pub(crate) fn read(cg: &Cgroup) -> Result<Stats> {
    let mut s = Stats::default();
    if let Ok((h, dir)) = cg.owner_dir(Controller::Pids, "pids") {
        let _ = h;
        s.pids.current = num(&dir.join("pids.current"))?.unwrap_or(0);
        s.pids.limit = limit(num(&dir.join("pids.max"))?);
    }
    if let Ok((h, dir)) = cg.owner_dir(Controller::Cpu, "cpu") {
        let stat = keyed(&dir.join("cpu.stat"))?;
        s.cpu.periods = stat.get("nr_periods").copied().unwrap_or(0);
        s.cpu.throttled_periods = stat.get("nr_throttled").copied().unwrap_or(0);
        match h.version {
            Version::V1 => {
                s.cpu.throttled_time_ns = stat.get("throttled_time").copied().unwrap_or(0)
            }
            Version::V2 => {
                let us = |k: &str| stat.get(k).copied().unwrap_or(0).saturating_mul(1000);
                s.cpu.throttled_time_ns = us("throttled_usec");
                s.cpu.usage_total_ns = us("usage_usec");
                s.cpu.usage_user_ns = us("user_usec");
                s.cpu.usage_system_ns = us("system_usec");
            }
        }
    }
    if let Ok((h, dir)) = cg.owner_dir(Controller::Cpuacct, "cpuacct") {
        if h.version == Version::V1 {
            s.cpu.usage_total_ns = num(&dir.join("cpuacct.usage"))?.unwrap_or(0);
            s.cpu.usage_user_ns = num(&dir.join("cpuacct.usage_user"))?.unwrap_or(0);
            s.cpu.usage_system_ns = num(&dir.join("cpuacct.usage_sys"))?.unwrap_or(0);
            let per_cpu = |file: &str| {
                std::fs::read_to_string(dir.join(file))
                    .map(|text| {
                        text.split_whitespace()
                            .filter_map(|v| v.parse().ok())
                            .collect()
                    })
                    .unwrap_or_default()
            };
            s.cpu.per_cpu_ns = per_cpu("cpuacct.usage_percpu");
            s.cpu.per_cpu_system_ns = per_cpu("cpuacct.usage_percpu_sys");
            s.cpu.per_cpu_user_ns = per_cpu("cpuacct.usage_percpu_user");
        } else if s.cpu.usage_total_ns == 0 {
            let stat = keyed(&dir.join("cpu.stat"))?;
            s.cpu.usage_total_ns = stat
                .get("usage_usec")
                .copied()
                .unwrap_or(0)
                .saturating_mul(1000);
            s.cpu.usage_user_ns = stat
                .get("user_usec")
                .copied()
                .unwrap_or(0)
                .saturating_mul(1000);
            s.cpu.usage_system_ns = stat
                .get("system_usec")
                .copied()
                .unwrap_or(0)
                .saturating_mul(1000);
        }
    }
    if let Ok((h, dir)) = cg.owner_dir(Controller::Memory, "memory") {
        s.memory.raw = keyed(&dir.join("memory.stat"))?;
        match h.version {
            Version::V1 => {
                s.memory.usage = num(&dir.join("memory.usage_in_bytes"))?.unwrap_or(0);
                s.memory.limit = limit(num(&dir.join("memory.limit_in_bytes"))?);
                s.memory.max_usage = num(&dir.join("memory.max_usage_in_bytes"))?.unwrap_or(0);
                s.memory.failcnt = num(&dir.join("memory.failcnt"))?.unwrap_or(0);
                let oom = keyed(&dir.join("memory.oom_control"))?;
                s.memory.oom_kill_events = oom.get("oom_kill").copied().unwrap_or(0);
                s.memory.oom_events = s.memory.oom_kill_events;
                s.memory.under_oom = oom.get("under_oom").copied().unwrap_or(0) != 0;
                s.memory.swap = counter(&dir, "memory.memsw")?;
                s.memory.kernel = counter(&dir, "memory.kmem")?;
                s.memory.kernel_tcp = counter(&dir, "memory.kmem.tcp")?;
            }
            Version::V2 => {
                s.memory.usage = num(&dir.join("memory.current"))?.unwrap_or(0);
                s.memory.limit = limit(num(&dir.join("memory.max"))?);
                s.memory.max_usage = num(&dir.join("memory.peak"))?.unwrap_or(0);
                let ev = keyed(&dir.join("memory.events"))?;
                s.memory.failcnt = ev.get("max").copied().unwrap_or(0);
                s.memory.oom_events = ev.get("oom").copied().unwrap_or(0);
                s.memory.oom_kill_events = ev.get("oom_kill").copied().unwrap_or(0);
            }
        }
    }
    if let Ok((h, dir)) = cg.owner_dir(Controller::Blkio, "blkio") {
        match h.version {
            Version::V1 => {
                let read_list = |f: &str| -> Vec<BlkioEntry> {
                    std::fs::read_to_string(dir.join(f))
                        .map(|t| parse_blkio_v1(&t))
                        .unwrap_or_default()
                };
                s.blkio.io_service_bytes = read_list("blkio.throttle.io_service_bytes_recursive");
                s.blkio.io_serviced = read_list("blkio.throttle.io_serviced_recursive");
            }
            Version::V2 => {
                let text = std::fs::read_to_string(dir.join("io.stat")).unwrap_or_default();
                (s.blkio.io_service_bytes, s.blkio.io_serviced) = parse_io_stat(&text);
            }
        }
    }
    if let Ok((h, dir)) = cg.owner_dir(Controller::Hugetlb, "hugetlb") {
        for size in hugepage_sizes() {
            let st = match h.version {
                Version::V1 => HugetlbStats {
                    usage: num(&dir.join(format!("hugetlb.{size}.usage_in_bytes")))?.unwrap_or(0),
                    max_usage: num(&dir.join(format!("hugetlb.{size}.max_usage_in_bytes")))?
                        .unwrap_or(0),
                    failcnt: num(&dir.join(format!("hugetlb.{size}.failcnt")))?.unwrap_or(0),
                },
                Version::V2 => HugetlbStats {
                    usage: num(&dir.join(format!("hugetlb.{size}.current")))?.unwrap_or(0),
                    max_usage: 0,
                    failcnt: keyed(&dir.join(format!("hugetlb.{size}.events")))?
                        .get("max")
                        .copied()
                        .unwrap_or(0),
                },
            };
            s.hugetlb.insert(size, st);
        }
    }
    Ok(s)
}

/// The huge page sizes of the machine in cgroup file spelling (`2MB`, `1GB`).
///
/// ```
/// for size in iso_cgroups::hugepage_sizes() {
///     assert!(size.ends_with('B'));
/// }
/// ```
pub fn hugepage_sizes() -> Vec<String> {
    let Ok(rd) = std::fs::read_dir("/sys/kernel/mm/hugepages") else {
        return Vec::new();
    };
    let mut out: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let kb: u64 = name
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            Some(match kb {
                kb if kb >= 1 << 20 && kb % (1 << 20) == 0 => format!("{}GB", kb >> 20),
                kb if kb >= 1 << 10 && kb % (1 << 10) == 0 => format!("{}MB", kb >> 10),
                kb => format!("{kb}KB"),
            })
        })
        .collect();
    out.sort();
    out
}

fn parse_blkio_v1(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (maj, min) = it.next()?.split_once(':')?;
            let op = it.next()?.to_string();
            let value = it.next()?.parse().ok()?;
            Some(BlkioEntry {
                major: maj.parse().ok()?,
                minor: min.parse().ok()?,
                op,
                value,
            })
        })
        .collect()
}

fn parse_io_stat(text: &str) -> (Vec<BlkioEntry>, Vec<BlkioEntry>) {
    let mut bytes = Vec::new();
    let mut ios = Vec::new();
    for l in text.lines() {
        let mut it = l.split_whitespace();
        let Some((maj, min)) = it.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (maj.parse(), min.parse()) else {
            continue;
        };
        for kv in it {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse() else { continue };
            let (list, op) = match k {
                "rbytes" => (&mut bytes, "Read"),
                "wbytes" => (&mut bytes, "Write"),
                "dbytes" => (&mut bytes, "Discard"),
                "rios" => (&mut ios, "Read"),
                "wios" => (&mut ios, "Write"),
                "dios" => (&mut ios, "Discard"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.into(),
                value,
            });
        }
    }
    (bytes, ios)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parsers() {
        let (b, i) = parse_io_stat("8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n");
        assert_eq!(b.len(), 3);
        assert_eq!(i[1].value, 2);
        let v1 = parse_blkio_v1("8:0 Read 5\n8:0 Write 6\nTotal 11\n");
        assert_eq!(v1.len(), 2);
        assert_eq!(parse_keyed("oom 1\noom_kill 2\n")["oom_kill"], 2);
    }

    proptest! {
        #[test]
        fn stat_parsers_never_panic(s in "\\PC*") {
            let _ = parse_io_stat(&s);
            let _ = parse_blkio_v1(&s);
            let _ = parse_keyed(&s);
        }
    }
}
