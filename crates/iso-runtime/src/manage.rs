//! Commands on a running container's cgroup: `update`, `events` (statistics and OOM
//! notices in runc's JSON shape).

use std::io::Write;
use std::time::{Duration, Instant};

use iso_cgroups::{Cgroup, Stats};
use oci_spec::runtime::LinuxResources;
use serde_json::{json, Map, Value};

use crate::{Error, Runtime, Status};

/// Merges `new` into `old`: objects key by key, anything else (numbers, strings, arrays)
/// replaced when `new` has a non-null value.
fn merge(old: &mut Value, new: &Value) {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            for (k, v) in n {
                if v.is_null() {
                    continue;
                }
                match o.get_mut(k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        o.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, n) if !n.is_null() => *slot = n.clone(),
        _ => {}
    }
}

fn record_err(id: &str, e: impl std::fmt::Display) -> Error {
    Error::Record {
        path: id.into(),
        reason: e.to_string(),
    }
}

/// One `runc events` object: `{"type": "stats", "id": ..., "data": {...}}` with the fields
/// runc's `types.Stats` names (`cpu.usage.total`, `memory.usage.limit`, `pids.current`,
/// `blkio.ioServiceBytesRecursive`, `hugetlb["2MB"].usage`, ...). An unlimited limit is
/// written as `u64::MAX`, as runc does.
///
/// ```
/// let ev = iso_runtime::stats_event("web", &iso_cgroups::Stats::default());
/// assert_eq!(ev["type"], "stats");
/// // Zero counters are left out, as runc leaves them.
/// assert!(ev["data"]["pids"].get("current").is_none());
/// ```
pub fn stats_event(id: &str, s: &Stats) -> Value {
    let blkio = |entries: &[iso_cgroups::BlkioEntry]| {
        entries
            .iter()
            .map(|e| json!({"major": e.major, "minor": e.minor, "op": e.op, "value": e.value}))
            .collect::<Vec<_>>()
    };
    let hugetlb: Map<String, Value> = s
        .hugetlb
        .iter()
        .map(|(size, h)| {
            (
                size.clone(),
                json!({"usage": h.usage, "max": h.max_usage, "failcnt": h.failcnt}),
            )
        })
        .collect();
    let raw = |key: &str| s.memory.raw.get(key).copied().unwrap_or(0);
    let counter = |c: &iso_cgroups::MemoryCounter| {
        json!({"limit": c.limit.unwrap_or(u64::MAX), "usage": c.usage, "max": c.max_usage,
               "failcnt": c.failcnt})
    };
    let mut event = json!({
        "type": "stats",
        "id": id,
        "data": {
            "cpu": {
                "usage": {
                    "total": s.cpu.usage_total_ns,
                    "percpu": s.cpu.per_cpu_ns,
                    "percpu_kernel": s.cpu.per_cpu_system_ns,
                    "percpu_user": s.cpu.per_cpu_user_ns,
                    "kernel": s.cpu.usage_system_ns,
                    "user": s.cpu.usage_user_ns,
                },
                "throttling": {
                    "periods": s.cpu.periods,
                    "throttledPeriods": s.cpu.throttled_periods,
                    "throttledTime": s.cpu.throttled_time_ns,
                },
            },
            "memory": {
                "cache": raw("cache").max(raw("file")),
                "usage": {
                    "limit": s.memory.limit.unwrap_or(u64::MAX),
                    "usage": s.memory.usage,
                    "max": s.memory.max_usage,
                    "failcnt": s.memory.failcnt,
                },
                "raw": s.memory.raw,
                "swap": s.memory.swap.as_ref().map(counter),
                "kernel": s.memory.kernel.as_ref().map(counter),
                "kernelTCP": s.memory.kernel_tcp.as_ref().map(counter),
            },
            "pids": {"current": s.pids.current, "limit": s.pids.limit.unwrap_or(0)},
            "blkio": {
                "ioServiceBytesRecursive": blkio(&s.blkio.io_service_bytes),
                "ioServicedRecursive": blkio(&s.blkio.io_serviced),
            },
            "hugetlb": hugetlb,
            "intel_rdt": {},
            "network_interfaces": null,
        }
    });
    omit_empty(&mut event["data"]);
    event
}

/// Drops the fields runc leaves out when they are zero or empty (its `omitempty` ones):
/// CPU total and per-CPU usage (all, kernel, user), the throttling counters, the memory cache, usage and
/// maximum, pids, hugetlb usage and maximum, the empty blkio lists and raw memory map.
fn omit_empty(data: &mut Value) {
    let empty = |v: &Value| match v {
        Value::Number(n) => n.as_u64() == Some(0),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    };
    let prune = |v: &mut Value, keys: &[&str]| {
        if let Some(o) = v.as_object_mut() {
            o.retain(|k, v| !(keys.contains(&k.as_str()) && empty(v)));
        }
    };
    prune(
        &mut data["cpu"]["usage"],
        &["total", "percpu", "percpu_kernel", "percpu_user"],
    );
    prune(
        &mut data["cpu"]["throttling"],
        &["periods", "throttledPeriods", "throttledTime"],
    );
    for entry in ["usage", "swap", "kernel", "kernelTCP"] {
        prune(&mut data["memory"][entry], &["usage", "max"]);
    }
    if let Some(m) = data["memory"].as_object_mut() {
        // The entries the host has no counters for.
        m.retain(|_, v| !v.is_null());
    }
    prune(&mut data["memory"], &["cache", "raw"]);
    prune(&mut data["pids"], &["current", "limit"]);
    prune(
        &mut data["blkio"],
        &["ioServiceBytesRecursive", "ioServicedRecursive"],
    );
    if let Some(sizes) = data["hugetlb"].as_object_mut() {
        for h in sizes.values_mut() {
            prune(h, &["usage", "max"]);
        }
    }
}

/// The statuses in which a container has a live init and cgroup.
const LIVE: &[Status] = &[Status::Created, Status::Running, Status::Paused];

impl Runtime {
    fn live_cgroup(&self, id: &str) -> Result<(Cgroup, crate::state::Record), Error> {
        let (_dir, record) = self.open_in(id, LIVE, "the container is not running")?;
        let cg = record.cgroup(&self.host, "events")?;
        Ok((cg, record))
    }

    /// `update`: applies `resources` (only the fields it sets) to the cgroup of a created,
    /// running or paused container, and merges them into the resources its state records.
    ///
    /// ```no_run
    /// let res: oci_spec::runtime::LinuxResources =
    ///     serde_json::from_str(r#"{"pids": {"limit": 10}}"#).expect("valid");
    /// iso_runtime::Runtime::new("/run/iso").update("web", &res)?;
    /// # Ok::<(), iso_runtime::Error>(())
    /// ```
    pub fn update(&self, id: &str, resources: &LinuxResources) -> Result<(), Error> {
        let (dir, mut record) = self.open_in(
            id,
            LIVE,
            "only a created, running or paused container can be updated",
        )?;
        let cg = record.cgroup(&self.host, "update")?;
        let mut converted = iso_cgroups::Resources::try_from(resources)?;
        crate::plan::with_default_devices(&mut converted);
        converted.validate()?;
        if let Some(unit) = &record.systemd {
            crate::systemd::update(&unit.unit()?, &converted, self.host.layout()?)?;
        }
        cg.apply(&converted)?;
        let mut merged = serde_json::to_value(record.resources.clone().unwrap_or_default())
            .map_err(|e| record_err(id, e))?;
        let new = serde_json::to_value(resources).map_err(|e| record_err(id, e))?;
        merge(&mut merged, &new);
        record.resources =
            Some(crate::bundle::parse_value(&merged).map_err(|e| record_err(id, e))?);
        dir.save(&record)
    }

    /// The resources a container's state records (its configuration's, with every `update`
    /// merged in).
    ///
    /// ```no_run
    /// let r = iso_runtime::Runtime::new("/run/iso").resources("web")?;
    /// println!("{:?}", r.and_then(|r| r.pids().clone()));
    /// # Ok::<(), iso_runtime::Error>(())
    /// ```
    pub fn resources(&self, id: &str) -> Result<Option<LinuxResources>, Error> {
        Ok(self.open(id)?.1.resources)
    }

    /// The cgroup statistics of a container that has not stopped.
    ///
    /// ```no_run
    /// let s = iso_runtime::Runtime::new("/run/iso").stats("web")?;
    /// println!("{} tasks", s.pids.current);
    /// # Ok::<(), iso_runtime::Error>(())
    /// ```
    pub fn stats(&self, id: &str) -> Result<Stats, Error> {
        Ok(self.live_cgroup(id)?.0.stats()?)
    }

    /// `events`: writes one JSON object per line to `out`. With `once`, a single `stats`
    /// event; otherwise a `stats` event every `interval` and an `{"type": "oom"}` event each
    /// time the OOM counters of the cgroup grow, until the container stops.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// let rt = iso_runtime::Runtime::new("/run/iso");
    /// rt.events("web", Duration::from_secs(5), true, &mut std::io::stdout())?;
    /// # Ok::<(), iso_runtime::Error>(())
    /// ```
    pub fn events(
        &self,
        id: &str,
        interval: Duration,
        once: bool,
        out: &mut dyn Write,
    ) -> Result<(), Error> {
        let (cg, _) = self.live_cgroup(id)?;
        let emit = |out: &mut dyn Write, v: &Value| {
            writeln!(out, "{v}")
                .and_then(|()| out.flush())
                .map_err(|e| Error::io("write event", "(stdout)", e))
        };
        let stats = cg.stats()?;
        emit(out, &stats_event(id, &stats))?;
        if once {
            return Ok(());
        }
        let ooms = |s: &Stats| s.memory.oom_events.max(s.memory.oom_kill_events);
        let mut seen = ooms(&stats);
        let poll = interval.min(Duration::from_millis(500));
        let mut next = Instant::now() + interval;
        loop {
            std::thread::sleep(poll);
            let stats = match cg.stats() {
                Ok(s) => s,
                // The cgroup went away with the container.
                Err(_) => return Ok(()),
            };
            // Before the status: an OOM kill of the init also stops the container.
            if ooms(&stats) > seen {
                seen = ooms(&stats);
                emit(out, &json!({"type": "oom", "id": id}))?;
            }
            let (dir, record) = match self.open(id) {
                Ok(x) => x,
                Err(_) => return Ok(()),
            };
            if record.status(dir.path(), &self.host) == Status::Stopped {
                return Ok(());
            }
            drop(dir);
            if Instant::now() >= next {
                emit(out, &stats_event(id, &stats))?;
                next = Instant::now() + interval;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_old_fields_and_replaces_set_ones() {
        let mut old = json!({"memory": {"limit": 100, "swap": 200}, "pids": {"limit": 5}});
        merge(
            &mut old,
            &json!({"memory": {"limit": 50, "swap": null}, "cpu": {"shares": 2}}),
        );
        assert_eq!(
            old,
            json!({"memory": {"limit": 50, "swap": 200}, "pids": {"limit": 5},
                   "cpu": {"shares": 2}})
        );
    }

    #[test]
    fn stats_event_has_runc_field_names() {
        let mut s = Stats::default();
        s.pids.current = 3;
        s.memory.usage = 4096;
        s.cpu.usage_total_ns = 7;
        let ev = stats_event("c", &s);
        assert_eq!(ev["id"], "c");
        assert_eq!(ev["data"]["pids"]["current"], 3);
        assert_eq!(ev["data"]["memory"]["usage"]["usage"], 4096);
        assert_eq!(ev["data"]["memory"]["usage"]["limit"], u64::MAX);
        assert_eq!(ev["data"]["cpu"]["usage"]["total"], 7);
        // Empty and zero fields are left out, as runc's omitempty does.
        assert!(ev["data"]["blkio"].as_object().unwrap().is_empty());
        assert!(ev["data"]["cpu"]["throttling"]
            .as_object()
            .unwrap()
            .is_empty());
        assert!(ev["data"]["hugetlb"].is_object());
        assert!(ev["data"]["network_interfaces"].is_null());
    }
}
