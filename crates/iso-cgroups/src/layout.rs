//! Which cgroup hierarchies the host has, and which one owns each controller.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A cgroup controller (a resource the kernel can account and limit per cgroup).
///
/// The same controller has different names on the two versions for `blkio` (v2: `io`); on
/// v2 `cpuacct` is part of `cpu`, `freezer` is the core file `cgroup.freeze` and `devices`
/// is an eBPF program rather than files.
///
/// ```
/// use iso_cgroups::Controller;
/// assert_eq!(Controller::from_name("io"), Some(Controller::Blkio));
/// assert_eq!(Controller::Blkio.v1_name(), "blkio");
/// assert_eq!(Controller::Blkio.v2_name(), Some("io"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Controller {
    /// CPU time: shares/weight, CFS quota, realtime budget, idle.
    Cpu,
    /// CPU accounting (v1 only; part of `cpu` on v2).
    Cpuacct,
    /// CPU and memory-node pinning.
    Cpuset,
    /// Memory limits and accounting.
    Memory,
    /// Device access (v1 files; an eBPF program on v2).
    Devices,
    /// Freezing (v1 `freezer.state`; the core `cgroup.freeze` on v2).
    Freezer,
    /// Block I/O (`blkio` on v1, `io` on v2).
    Blkio,
    /// Number of tasks.
    Pids,
    /// Huge page limits.
    Hugetlb,
    /// Network class id (v1 only).
    NetCls,
    /// Network interface priorities (v1 only).
    NetPrio,
    /// perf_event grouping.
    PerfEvent,
    /// RDMA/IB resources.
    Rdma,
    /// Miscellaneous scalar resources.
    Misc,
}

impl Controller {
    /// Every controller this crate knows.
    pub const ALL: [Controller; 14] = [
        Controller::Cpu,
        Controller::Cpuacct,
        Controller::Cpuset,
        Controller::Memory,
        Controller::Devices,
        Controller::Freezer,
        Controller::Blkio,
        Controller::Pids,
        Controller::Hugetlb,
        Controller::NetCls,
        Controller::NetPrio,
        Controller::PerfEvent,
        Controller::Rdma,
        Controller::Misc,
    ];

    /// The name in v1 mount options and `/proc/PID/cgroup`.
    ///
    /// ```
    /// assert_eq!(iso_cgroups::Controller::NetCls.v1_name(), "net_cls");
    /// ```
    pub fn v1_name(self) -> &'static str {
        match self {
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Cpuset => "cpuset",
            Controller::Memory => "memory",
            Controller::Devices => "devices",
            Controller::Freezer => "freezer",
            Controller::Blkio => "blkio",
            Controller::Pids => "pids",
            Controller::Hugetlb => "hugetlb",
            Controller::NetCls => "net_cls",
            Controller::NetPrio => "net_prio",
            Controller::PerfEvent => "perf_event",
            Controller::Rdma => "rdma",
            Controller::Misc => "misc",
        }
    }

    /// The name in v2 `cgroup.controllers`, or `None` for controllers v2 does not list
    /// (cpuacct, devices, freezer, net_cls, net_prio).
    ///
    /// ```
    /// assert_eq!(iso_cgroups::Controller::Freezer.v2_name(), None);
    /// ```
    pub fn v2_name(self) -> Option<&'static str> {
        match self {
            Controller::Blkio => Some("io"),
            Controller::Cpuacct
            | Controller::Devices
            | Controller::Freezer
            | Controller::NetCls
            | Controller::NetPrio => None,
            c => Some(c.v1_name()),
        }
    }

    /// Parses a v1 or v2 controller name.
    ///
    /// ```
    /// assert_eq!(iso_cgroups::Controller::from_name("pids"), Some(iso_cgroups::Controller::Pids));
    /// assert_eq!(iso_cgroups::Controller::from_name("name=systemd"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Controller> {
        if name == "io" {
            return Some(Controller::Blkio);
        }
        Controller::ALL.into_iter().find(|c| c.v1_name() == name)
    }
}

/// The version of one mounted hierarchy.
///
/// ```no_run
/// let l = iso_cgroups::Layout::detect()?;
/// for h in l.hierarchies() {
///     println!("{:?}", h.version);
/// }
/// # Ok::<(), iso_cgroups::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// A cgroup v1 hierarchy (one per controller set, plus named ones such as
    /// `name=systemd`).
    V1,
    /// The cgroup v2 unified hierarchy.
    V2,
}

/// One cgroup filesystem mount as read from `/proc/self/mountinfo`.
///
/// ```
/// let line = "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw";
/// let mounts = iso_cgroups::parse_mountinfo(line).unwrap();
/// assert_eq!(mounts[0].mount_point, std::path::Path::new("/sys/fs/cgroup/unified"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMount {
    /// Where the hierarchy is mounted.
    pub mount_point: PathBuf,
    /// The cgroup of the hierarchy that appears at the mount point (`/` unless a cgroup
    /// namespace or a bind mount shows a sub-tree).
    pub root: PathBuf,
    /// v1 or v2.
    pub version: Version,
    /// v1: controllers from the super options (`rw,cpu,cpuacct`); v2: empty (the
    /// controllers of v2 are read from `cgroup.controllers`, not from the mount).
    pub controllers: Vec<Controller>,
    /// v1: the `name=` option of a named hierarchy.
    pub name: Option<String>,
}

/// Decodes the octal escapes (`\040` for a space) the kernel uses in mountinfo paths.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() {
            let oct = &bytes[i + 1..i + 4];
            if oct.iter().all(|b| (b'0'..=b'7').contains(b)) {
                let v = (oct[0] - b'0') as u32 * 64
                    + (oct[1] - b'0') as u32 * 8
                    + (oct[2] - b'0') as u32;
                if let Ok(b) = u8::try_from(v) {
                    out.push(b);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses the cgroup and cgroup2 mounts out of a `/proc/PID/mountinfo` text. Lines of
/// other filesystems are skipped; malformed lines are an error (the kernel never writes
/// them, so one means the text is not mountinfo).
///
/// ```
/// let text = "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n\
///             22 1 0:21 / /proc rw - proc proc rw\n";
/// let mounts = iso_cgroups::parse_mountinfo(text).unwrap();
/// assert_eq!(mounts.len(), 1);
/// assert_eq!(mounts[0].controllers,
///            vec![iso_cgroups::Controller::Cpu, iso_cgroups::Controller::Cpuacct]);
/// ```
pub fn parse_mountinfo(text: &str) -> Result<Vec<CgroupMount>> {
    let mut mounts = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let bad = |reason: &str| Error::Parse {
            path: PathBuf::from("mountinfo"),
            reason: format!("{reason}: {line:?}"),
        };
        let (left, right) = line
            .split_once(" - ")
            .ok_or_else(|| bad("no ' - ' separator"))?;
        let left: Vec<&str> = left.split(' ').collect();
        if left.len() < 6 {
            return Err(bad("fewer than six fields before the separator"));
        }
        let mut right = right.split(' ');
        let fstype = right.next().ok_or_else(|| bad("no filesystem type"))?;
        let _source = right.next().ok_or_else(|| bad("no mount source"))?;
        let super_opts = right.next().unwrap_or("");
        let version = match fstype {
            "cgroup" => Version::V1,
            "cgroup2" => Version::V2,
            _ => continue,
        };
        let mut controllers = Vec::new();
        let mut name = None;
        if version == Version::V1 {
            for opt in super_opts.split(',') {
                if let Some(n) = opt.strip_prefix("name=") {
                    name = Some(n.to_string());
                } else if let Some(c) = Controller::from_name(opt) {
                    if opt != "io" && !controllers.contains(&c) {
                        controllers.push(c);
                    }
                }
            }
        }
        mounts.push(CgroupMount {
            root: PathBuf::from(unescape(left[3])),
            mount_point: PathBuf::from(unescape(left[4])),
            version,
            controllers,
            name,
        });
    }
    Ok(mounts)
}

/// A hierarchy this crate drives: where it is mounted and what it owns.
///
/// ```no_run
/// let l = iso_cgroups::Layout::detect()?;
/// let h = l.hierarchies().next().expect("a hierarchy");
/// println!("{} drives {:?}", h.mount_point.display(), h.controllers);
/// # Ok::<(), iso_cgroups::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// The mount point (the directory of the root cgroup as we see it).
    pub mount_point: PathBuf,
    /// v1 or v2.
    pub version: Version,
    /// The controllers driven through this hierarchy. For v2, the controllers listed in the
    /// root's `cgroup.controllers` that no v1 hierarchy holds.
    pub controllers: Vec<Controller>,
    /// v1: the `name=` of a named hierarchy such as `systemd` (joined, drives nothing).
    pub name: Option<String>,
}

impl Hierarchy {
    /// Whether this hierarchy drives `c`.
    ///
    /// ```no_run
    /// let layout = iso_cgroups::Layout::detect()?;
    /// let h = layout.owner(iso_cgroups::Controller::Memory).expect("memory");
    /// assert!(h.owns(iso_cgroups::Controller::Memory));
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn owns(&self, c: Controller) -> bool {
        self.controllers.contains(&c)
    }
}

/// The shape of the host's cgroups.
///
/// ```no_run
/// if iso_cgroups::Layout::detect()?.mode() == iso_cgroups::Mode::Hybrid {
///     println!("v1 controllers plus a cgroup2 mount");
/// }
/// # Ok::<(), iso_cgroups::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only cgroup v2 (`/sys/fs/cgroup` is cgroup2).
    Unified,
    /// Only cgroup v1 hierarchies.
    Legacy,
    /// v1 hierarchies plus a cgroup2 mount (usually `/sys/fs/cgroup/unified`) that may own
    /// some controllers.
    Hybrid,
}

/// The cgroup hierarchies of the host, one per v1 controller set plus the v2 mount.
///
/// ```no_run
/// use iso_cgroups::{Controller, Layout};
/// let layout = Layout::detect()?;
/// println!("{:?}", layout.mode());
/// if let Some(h) = layout.owner(Controller::Memory) {
///     println!("memory is driven through {:?}", h.mount_point);
/// }
/// # Ok::<(), iso_cgroups::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    v1: Vec<Hierarchy>,
    unified: Option<Hierarchy>,
}

impl Layout {
    /// Reads `/proc/self/mountinfo` (through a verified procfs handle) and the v2 root's
    /// `cgroup.controllers`.
    ///
    /// ```no_run
    /// let layout = iso_cgroups::Layout::detect()?;
    /// assert!(layout.hierarchies().count() > 0);
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn detect() -> Result<Layout> {
        // Through a verified procfs handle: a fake /proc could otherwise steer every write.
        let proc_root = iso_sys::procfs::ProcRoot::open().map_err(Error::Proc)?;
        let text = proc_root
            .read_to_string(iso_sys::ProcPid::SelfPid, "mountinfo")
            .map_err(Error::Proc)?;
        let mounts = parse_mountinfo(&text)?;
        Layout::from_mounts(&mounts, |dir| {
            let file = dir.join("cgroup.controllers");
            std::fs::read_to_string(&file)
                .map(|s| {
                    s.split_whitespace()
                        .filter_map(Controller::from_name)
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// Builds a layout from parsed mounts; `v2_controllers` reports what the root of a v2
    /// mount lists in `cgroup.controllers` (a parameter so the logic is testable without a
    /// host). The first mount of each v1 controller set with root `/` wins; bind mounts of
    /// sub-trees are ignored.
    ///
    /// ```
    /// use iso_cgroups::{parse_mountinfo, Controller, Layout, Mode};
    /// let text = "32 31 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
    ///             41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
    /// let layout = Layout::from_mounts(&parse_mountinfo(text).unwrap(), |_| {
    ///     vec![Controller::Hugetlb]
    /// }).unwrap();
    /// assert_eq!(layout.mode(), Mode::Hybrid);
    /// assert_eq!(layout.owner(Controller::Hugetlb).unwrap().mount_point,
    ///            std::path::Path::new("/sys/fs/cgroup/unified"));
    /// ```
    pub fn from_mounts(
        mounts: &[CgroupMount],
        v2_controllers: impl Fn(&Path) -> Vec<Controller>,
    ) -> Result<Layout> {
        let mut v1: Vec<Hierarchy> = Vec::new();
        let mut unified: Option<Hierarchy> = None;
        for m in mounts.iter().filter(|m| m.root == Path::new("/")) {
            match m.version {
                Version::V1 => {
                    let duplicate = v1.iter().any(|h| {
                        h.controllers.iter().any(|c| m.controllers.contains(c))
                            || (m.name.is_some() && h.name == m.name)
                    });
                    // Named hierarchies without controllers (name=systemd) are joined so
                    // that their manager keeps tracking the process; other empty ones are
                    // skipped.
                    if duplicate || (m.controllers.is_empty() && m.name.is_none()) {
                        continue;
                    }
                    v1.push(Hierarchy {
                        mount_point: m.mount_point.clone(),
                        version: Version::V1,
                        controllers: m.controllers.clone(),
                        name: m.name.clone(),
                    });
                }
                Version::V2 => {
                    if unified.is_none() {
                        unified = Some(Hierarchy {
                            mount_point: m.mount_point.clone(),
                            version: Version::V2,
                            controllers: Vec::new(),
                            name: None,
                        });
                    }
                }
            }
        }
        if let Some(u) = unified.as_mut() {
            let mut owned: Vec<Controller> = v2_controllers(&u.mount_point)
                .into_iter()
                .filter(|c| !v1.iter().any(|h| h.owns(*c)))
                .collect();
            // On v2 the freezer and device filter are core features of every cgroup; they
            // are driven here unless a v1 hierarchy holds them.
            for core in [Controller::Freezer, Controller::Devices] {
                if !v1.iter().any(|h| h.owns(core)) {
                    owned.push(core);
                }
            }
            if owned.contains(&Controller::Cpu) && !v1.iter().any(|h| h.owns(Controller::Cpuacct)) {
                owned.push(Controller::Cpuacct);
            }
            owned.sort();
            owned.dedup();
            u.controllers = owned;
        }
        if v1.iter().all(|h| h.controllers.is_empty()) && unified.is_none() {
            return Err(Error::NoHierarchy);
        }
        Ok(Layout { v1, unified })
    }

    /// Unified, legacy or hybrid.
    ///
    /// ```no_run
    /// let layout = iso_cgroups::Layout::detect()?;
    /// println!("{:?}", layout.mode());
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn mode(&self) -> Mode {
        let no_v1 = self.v1.iter().all(|h| h.controllers.is_empty());
        match (no_v1, self.unified.is_some()) {
            (true, _) => Mode::Unified,
            (false, false) => Mode::Legacy,
            (false, true) => Mode::Hybrid,
        }
    }

    /// The hierarchy that drives `c`, if any.
    ///
    /// ```no_run
    /// let layout = iso_cgroups::Layout::detect()?;
    /// let pids = layout.owner(iso_cgroups::Controller::Pids);
    /// println!("{:?}", pids.map(|h| &h.mount_point));
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn owner(&self, c: Controller) -> Option<&Hierarchy> {
        self.hierarchies().find(|h| h.owns(c))
    }

    /// Every hierarchy a process joins: each v1 hierarchy (with controllers, or named like
    /// `name=systemd`), then the v2 mount.
    ///
    /// ```no_run
    /// let layout = iso_cgroups::Layout::detect()?;
    /// for h in layout.hierarchies() {
    ///     println!("{:?} {:?}", h.version, h.mount_point);
    /// }
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn hierarchies(&self) -> impl Iterator<Item = &Hierarchy> {
        self.v1.iter().chain(self.unified.iter())
    }

    /// The v2 mount, if there is one.
    ///
    /// ```no_run
    /// let layout = iso_cgroups::Layout::detect()?;
    /// println!("{:?}", layout.unified().map(|h| &h.controllers));
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn unified(&self) -> Option<&Hierarchy> {
        self.unified.as_ref()
    }

    /// Checks that each key of `unified` (a v2 interface file such as `memory.max`) can be
    /// written: the host has a cgroup2 mount, and the controller the key names (its part
    /// before the first dot; `cgroup.*` files are the core's) is on it. On a hybrid host a
    /// controller held by a v1 hierarchy has no files on the cgroup2 mount; the error names
    /// the key.
    ///
    /// ```
    /// use iso_cgroups::{parse_mountinfo, Controller, Layout};
    /// let text = "30 1 0:26 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
    ///             41 1 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
    /// let layout = Layout::from_mounts(&parse_mountinfo(text)?, |_| vec![Controller::Hugetlb])?;
    /// let keys = |k: &str| [(k.to_string(), "1".to_string())].into_iter().collect();
    /// assert!(layout.check_unified(&keys("hugetlb.2MB.max")).is_ok());
    /// let err = layout.check_unified(&keys("memory.max")).unwrap_err();
    /// assert_eq!(err.field(), Some("unified.memory.max"));
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn check_unified(
        &self,
        unified: &std::collections::BTreeMap<String, String>,
    ) -> Result<()> {
        let Some((key, _)) = unified.iter().next() else {
            return Ok(());
        };
        let Some(u) = &self.unified else {
            return Err(Error::unsupported(
                format!("unified.{key}"),
                "the host has no cgroup v2 hierarchy",
            ));
        };
        for key in unified.keys() {
            let prefix = key.split('.').next().unwrap_or_default();
            if prefix == "cgroup" {
                continue;
            }
            match Controller::from_name(prefix) {
                Some(c) if u.owns(c) => {}
                Some(c) => {
                    let held = match self.owner(c) {
                        Some(h) => format!(
                            "it is held by the v1 hierarchy at {}",
                            h.mount_point.display()
                        ),
                        None => "it is not mounted".to_owned(),
                    };
                    return Err(Error::unsupported(
                        format!("unified.{key}"),
                        format!(
                            "the {prefix} controller is not on the cgroup2 mount {}: {held}",
                            u.mount_point.display()
                        ),
                    ));
                }
                None => {
                    return Err(Error::unsupported(
                        format!("unified.{key}"),
                        format!(
                            "no controller {prefix:?} on the cgroup2 mount {}",
                            u.mount_point.display()
                        ),
                    ))
                }
            }
        }
        Ok(())
    }

    /// A layout with only the v2 mount: on a hybrid host this drives the cgroup2 mount on
    /// its own (its freezer `cgroup.freeze`, `cgroup.kill`, the eBPF device filter and
    /// whatever controllers it owns).
    ///
    /// ```no_run
    /// let layout = iso_cgroups::Layout::detect()?;
    /// if let Some(v2) = layout.unified_only() {
    ///     assert_eq!(v2.mode(), iso_cgroups::Mode::Unified);
    /// }
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn unified_only(&self) -> Option<Layout> {
        let mut u = self.unified.clone()?;
        // On its own the v2 mount still has its core features, whoever holds the v1 ones.
        for core in [Controller::Freezer, Controller::Devices] {
            if !u.controllers.contains(&core) {
                u.controllers.push(core);
            }
        }
        u.controllers.sort();
        Some(Layout {
            v1: Vec::new(),
            unified: Some(u),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_layout() {
        let mounts = parse_mountinfo(HYBRID).unwrap();
        assert_eq!(mounts.len(), 5);
        assert_eq!(mounts[3].name.as_deref(), Some("systemd"));
        let layout =
            Layout::from_mounts(&mounts, |_| vec![Controller::Hugetlb, Controller::Memory])
                .unwrap();
        assert_eq!(layout.mode(), Mode::Hybrid);
        // memory stays with v1 even though the v2 root lists it.
        assert_eq!(
            layout.owner(Controller::Memory).unwrap().version,
            Version::V1
        );
        assert_eq!(
            layout.owner(Controller::Hugetlb).unwrap().version,
            Version::V2
        );
        assert_eq!(
            layout.owner(Controller::Freezer).unwrap().version,
            Version::V2
        );
        assert!(layout.owner(Controller::Pids).is_none());
        // cpu, cpuacct, memory, name=systemd, and the v2 mount.
        assert_eq!(layout.hierarchies().count(), 5);
    }

    #[test]
    fn pure_v2_and_v1() {
        let v2 = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let l = Layout::from_mounts(&parse_mountinfo(v2).unwrap(), |_| {
            vec![Controller::Cpu, Controller::Memory, Controller::Pids]
        })
        .unwrap();
        assert_eq!(l.mode(), Mode::Unified);
        assert!(l.owner(Controller::Cpuacct).is_some());
        let v1 = "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n";
        let l = Layout::from_mounts(&parse_mountinfo(v1).unwrap(), |_| vec![]).unwrap();
        assert_eq!(l.mode(), Mode::Legacy);
        assert_eq!(l.owner(Controller::Cpu), l.owner(Controller::Cpuacct));
        assert!(matches!(
            Layout::from_mounts(&[], |_| vec![]),
            Err(Error::NoHierarchy)
        ));
    }

    #[test]
    fn escapes_and_bind_mounts() {
        let t = "1 2 0:3 /sub /a\\040b rw - cgroup cgroup rw,pids\n4 5 0:3 / /c rw - cgroup cgroup rw,pids\n";
        let m = parse_mountinfo(t).unwrap();
        assert_eq!(m[0].mount_point, Path::new("/a b"));
        let l = Layout::from_mounts(&m, |_| vec![]).unwrap();
        assert_eq!(
            l.owner(Controller::Pids).unwrap().mount_point,
            Path::new("/c")
        );
    }

    #[test]
    fn host_layout_detects() {
        let layout = Layout::detect().unwrap();
        assert!(layout.hierarchies().count() > 0);
    }

    proptest! {
        #[test]
        fn parser_never_panics(s in "\\PC*") {
            let _ = parse_mountinfo(&s);
        }

        #[test]
        fn generated_lines_round_trip(
            id in 1u32..10000,
            point in "/[a-z]{1,8}(/[a-z ]{1,8}){0,2}",
            ctrls in proptest::sample::subsequence(
                vec!["cpu", "cpuacct", "memory", "pids", "blkio", "devices", "freezer", "hugetlb"], 0..8),
            v2 in any::<bool>(),
        ) {
            let escaped = point.replace(' ', "\\040");
            let opts = if ctrls.is_empty() { "rw".to_string() } else { format!("rw,{}", ctrls.join(",")) };
            let (fs, opts) = if v2 { ("cgroup2", "rw".to_string()) } else { ("cgroup", opts) };
            let line = format!("{id} 1 0:{id} / {escaped} rw,relatime shared:{id} - {fs} {fs} {opts}");
            let m = parse_mountinfo(&line).unwrap();
            prop_assert_eq!(m.len(), 1);
            prop_assert_eq!(&m[0].mount_point, Path::new(&point));
            if v2 {
                prop_assert_eq!(m[0].version, Version::V2);
            } else {
                let names: Vec<&str> = m[0].controllers.iter().map(|c| c.v1_name()).collect();
                prop_assert_eq!(names, ctrls);
            }
        }
    }
}
