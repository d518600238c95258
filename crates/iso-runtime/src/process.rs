//! Process attributes that no primitive crate covers yet: scheduler (`sched_setattr(2)`),
//! I/O priority (`ioprio_set(2)`), CPU affinity (`sched_setaffinity(2)`), the NUMA memory
//! policy (`set_mempolicy(2)`) and the execution domain (`personality(2)`). Each is converted from the configuration before the clone and
//! applied by the init with one system call. (Candidates to move into a primitive crate.)

use oci_spec::runtime::{
    IOPriorityClass, LinuxIOPriority, LinuxMemoryPolicy, LinuxPersonality, LinuxPersonalityDomain,
    LinuxSchedulerPolicy, MemoryPolicyFlagType, MemoryPolicyModeType, Scheduler,
};

/// `struct sched_attr` (`SCHED_ATTR_SIZE_VER0`, 48 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
}

/// Converts `process.scheduler`; the error names the flag that is unknown.
pub(crate) fn sched_attr(s: &Scheduler) -> Result<SchedAttr, String> {
    let policy = match s.policy() {
        LinuxSchedulerPolicy::SchedOther => 0,
        LinuxSchedulerPolicy::SchedFifo => 1,
        LinuxSchedulerPolicy::SchedRr => 2,
        LinuxSchedulerPolicy::SchedBatch => 3,
        LinuxSchedulerPolicy::SchedIso => 4,
        LinuxSchedulerPolicy::SchedIdle => 5,
        LinuxSchedulerPolicy::SchedDeadline => 6,
    };
    let mut flags = 0u64;
    for f in s.flags().as_deref().unwrap_or_default() {
        let name = serde_json::to_value(f)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        flags |= match name.as_str() {
            // oci-spec 0.10 spells two flags differently from the specification.
            "SCHED_FLAG_RESET_ON_FORK" | "SCHED_RESET_ON_FORK" => 0x01,
            "SCHED_FLAG_RECLAIM" => 0x02,
            "SCHED_FLAG_DL_OVERRUN" | "SCHED_FLAG_D_L_OVERRUN" => 0x04,
            "SCHED_FLAG_KEEP_POLICY" => 0x08,
            "SCHED_FLAG_KEEP_PARAMS" => 0x10,
            "SCHED_FLAG_UTIL_CLAMP_MIN" => 0x20,
            "SCHED_FLAG_UTIL_CLAMP_MAX" => 0x40,
            other => return Err(format!("unknown flag {other:?}")),
        };
    }
    Ok(SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy,
        flags,
        nice: s.nice().unwrap_or(0),
        priority: u32::try_from(s.priority().unwrap_or(0)).map_err(|_| "negative priority")?,
        runtime: s.runtime().unwrap_or(0),
        deadline: s.deadline().unwrap_or(0),
        period: s.period().unwrap_or(0),
    })
}

/// Applies a scheduler configuration to the calling process.
pub(crate) fn set_sched_attr(attr: &SchedAttr) -> std::io::Result<()> {
    // SAFETY: sched_setattr reads a valid, correctly sized sched_attr.
    let r = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, attr as *const SchedAttr, 0) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The `ioprio_set` value for `process.ioPriority`.
pub(crate) fn ioprio(p: &LinuxIOPriority) -> Result<i32, String> {
    let class = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    let prio = p.priority();
    if !(0..=7).contains(&prio) {
        return Err(format!("priority {prio} is not in 0..=7"));
    }
    Ok((class << 13) | prio as i32)
}

/// Sets the calling process' I/O priority.
pub(crate) fn set_ioprio(value: i32) -> std::io::Result<()> {
    // SAFETY: ioprio_set with integer arguments (IOPRIO_WHO_PROCESS, self).
    let r = unsafe { libc::syscall(libc::SYS_ioprio_set, 1, 0, value) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The `personality(2)` value for `linux.personality` (flags are not supported by the
/// specification's values today and are refused).
pub(crate) fn personality(p: &LinuxPersonality) -> Result<libc::c_ulong, String> {
    if p.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        return Err("flags are not supported".into());
    }
    Ok(match p.domain() {
        LinuxPersonalityDomain::PerLinux => 0x0000,
        LinuxPersonalityDomain::PerLinux32 => 0x0008,
    })
}

/// A CPU mask in the kernel's layout (1024 CPUs, like glibc's `cpu_set_t`); also a NUMA
/// node mask (`set_mempolicy(2)` takes the same layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CpuSet([u64; 16]);

impl CpuSet {
    fn set(&mut self, cpu: usize) {
        self.0[cpu / 64] |= 1 << (cpu % 64);
    }
    #[cfg(test)]
    fn is_set(&self, cpu: usize) -> bool {
        self.0[cpu / 64] & (1 << (cpu % 64)) != 0
    }
}

/// Parses a CPU list such as `0-3,7`.
pub(crate) fn parse_cpu_list(text: &str) -> Result<CpuSet, String> {
    parse_id_list(text, "CPU")
}

/// Parses a list of `what`s (CPUs, NUMA nodes) such as `0-3,7`.
fn parse_id_list(text: &str, what: &str) -> Result<CpuSet, String> {
    let mut set = CpuSet([0; 16]);
    let max = 1024;
    let mut any = false;
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let lo: usize = lo
            .parse()
            .map_err(|_| format!("{part:?} is not a {what}"))?;
        let hi: usize = hi
            .parse()
            .map_err(|_| format!("{part:?} is not a {what}"))?;
        if lo > hi || hi >= max {
            return Err(format!("{part:?} is not a valid range"));
        }
        for cpu in lo..=hi {
            set.set(cpu);
            any = true;
        }
    }
    if !any {
        return Err(format!("{text:?} names no {what}"));
    }
    Ok(set)
}

/// Pins the calling process to `set`.
pub(crate) fn set_affinity(set: &CpuSet) -> std::io::Result<()> {
    // SAFETY: the raw system call reads exactly size_of::<CpuSet>() bytes from the mask.
    let r = unsafe {
        libc::syscall(
            libc::SYS_sched_setaffinity,
            0,
            std::mem::size_of::<CpuSet>(),
            set.0.as_ptr(),
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// `linux.memoryPolicy` as the arguments of `set_mempolicy(2)`: the mode with its flags
/// or'ed in, and the node mask (none for the modes that take no nodes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MemPolicy {
    mode: libc::c_int,
    nodes: Option<CpuSet>,
}

/// Converts `linux.memoryPolicy`, refusing what the kernel would refuse for any host: nodes
/// for a mode that takes none, no nodes for one that needs them, flags that exclude each
/// other. (Which nodes exist and which modes the kernel has, it says itself.)
pub(crate) fn mem_policy(p: &LinuxMemoryPolicy) -> Result<MemPolicy, String> {
    use MemoryPolicyModeType as M;
    let (mode, takes_nodes, needs_nodes) = match p.mode() {
        M::MpolDefault => (0, false, false),
        M::MpolPreferred => (1, true, false),
        M::MpolBind => (2, true, true),
        M::MpolInterleave => (3, true, true),
        M::MpolLocal => (4, false, false),
        M::MpolPreferredMany => (5, true, true),
        M::MpolWeightedInterleave => (6, true, true),
    };
    let nodes = match p
        .nodes()
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        Some(_) if !takes_nodes => return Err(format!("nodes: {} takes no nodes", p.mode())),
        Some(text) => Some(parse_id_list(text, "node").map_err(|e| format!("nodes: {e}"))?),
        None if needs_nodes => return Err(format!("nodes: {} needs nodes", p.mode())),
        None => None,
    };
    let mut flags = 0;
    for flag in p.flags().as_deref().unwrap_or_default() {
        flags |= match flag {
            MemoryPolicyFlagType::MpolFNumaBalancing => 1 << 13,
            MemoryPolicyFlagType::MpolFRelativeNodes => 1 << 14,
            MemoryPolicyFlagType::MpolFStaticNodes => 1 << 15,
        };
    }
    if flags & (3 << 14) == 3 << 14 {
        return Err(
            "flags: MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other".into(),
        );
    }
    Ok(MemPolicy {
        mode: mode | flags,
        nodes,
    })
}

/// Sets the calling thread's NUMA memory policy (kept across `fork` and `execve`).
pub(crate) fn set_mem_policy(policy: &MemPolicy) -> std::io::Result<()> {
    let (mask, maxnode) = match &policy.nodes {
        Some(set) => (set.0.as_ptr(), 1024 + 1),
        None => (std::ptr::null(), 0),
    };
    // SAFETY: the mask, when given, holds `maxnode - 1` bits (the kernel reads that many).
    let r = unsafe { libc::syscall(libc::SYS_set_mempolicy, policy.mode, mask, maxnode) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Whether the kernel may execute formats other than ELF and `#!` scripts: `binfmt_misc`
/// has an entry besides `register` and `status`, or its directory cannot be read (not
/// mounted: its entries, if any, are unknown).
pub(crate) fn other_exec_formats() -> bool {
    let Ok(dir) = std::fs::read_dir("/proc/sys/fs/binfmt_misc") else {
        return true;
    };
    dir.flatten()
        .any(|e| !matches!(e.file_name().to_str(), Some("register" | "status")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cpu_lists() {
        let set = parse_cpu_list("0-2,5").unwrap();
        assert!(set.is_set(0) && set.is_set(2) && set.is_set(5));
        assert!(!set.is_set(3));
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("").is_err());
        assert!(parse_cpu_list("x").is_err());
    }

    #[test]
    fn scheduler_and_ioprio_values() {
        let s: Scheduler = serde_json::from_str(
            r#"{"policy":"SCHED_BATCH","nice":5,"flags":["SCHED_RESET_ON_FORK"]}"#,
        )
        .unwrap();
        let a = sched_attr(&s).unwrap();
        assert_eq!((a.policy, a.nice, a.flags, a.size), (3, 5, 1, 48));
        let p: LinuxIOPriority =
            serde_json::from_str(r#"{"class":"IOPRIO_CLASS_IDLE","priority":7}"#).unwrap();
        assert_eq!(ioprio(&p).unwrap(), (3 << 13) | 7);
    }

    fn policy(json: &str) -> Result<MemPolicy, String> {
        mem_policy(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn memory_policies_as_the_kernel_takes_them() {
        let bind =
            policy(r#"{"mode":"MPOL_BIND","nodes":"0-1,3","flags":["MPOL_F_STATIC_NODES"]}"#)
                .unwrap();
        assert_eq!(bind.mode, 2 | 1 << 15);
        assert_eq!(bind.nodes.map(|n| n.0[0]), Some(0b1011));
        let local = policy(r#"{"mode":"MPOL_LOCAL"}"#).unwrap();
        assert_eq!((local.mode, local.nodes), (4, None));
        assert_eq!(policy(r#"{"mode":"MPOL_PREFERRED"}"#).unwrap().nodes, None);
        for (json, reason) in [
            (r#"{"mode":"MPOL_BIND"}"#, "nodes: MPOL_BIND needs nodes"),
            (
                r#"{"mode":"MPOL_DEFAULT","nodes":"0"}"#,
                "nodes: MPOL_DEFAULT takes no nodes",
            ),
            (
                r#"{"mode":"MPOL_INTERLEAVE","nodes":"1-0"}"#,
                "nodes: \"1-0\" is not a valid range",
            ),
            (
                r#"{"mode":"MPOL_BIND","nodes":"x"}"#,
                "nodes: \"x\" is not a node",
            ),
            (
                r#"{"mode":"MPOL_BIND","nodes":"0","flags":["MPOL_F_STATIC_NODES","MPOL_F_RELATIVE_NODES"]}"#,
                "flags: MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other",
            ),
        ] {
            assert_eq!(policy(json).unwrap_err(), reason, "{json}");
        }
    }

    proptest! {
        #[test]
        fn cpu_list_parser_never_panics(s in "[0-9,\\- ]{0,20}") {
            let _ = parse_cpu_list(&s);
        }
    }
}
