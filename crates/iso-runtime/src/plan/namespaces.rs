//! Namespaces: which are new and which are joined, the id maps, and the sysctls each
//! namespace makes the container's own.

use std::path::PathBuf;

use iso_ns::{ClockOffset, GidMap, IdMapEntry, Namespace, NamespaceSet, TimeOffsets, UidMap};
use oci_spec::runtime::{Linux, LinuxIdMapping, Spec};

use super::ConfigFile;
use crate::Error;

/// A namespace the init joins by path (`linux.namespaces[].path`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JoinNs {
    /// Its type.
    pub kind: Namespace,
    /// The file naming it (`/proc/PID/ns/net`, a bind mount of one, ...).
    pub path: PathBuf,
}

/// The container's namespaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NamespacePlan {
    /// Created by the clone (the cgroup namespace is not among them: see `new_cgroup_ns`).
    pub new: NamespaceSet,
    /// A new cgroup namespace, unshared by the init once it is in its cgroup (the clone
    /// would make the runtime's cgroup the container's root).
    pub new_cgroup_ns: bool,
    /// A user namespace to join: the clone happens inside it (through a helper, see
    /// `iso_ns::Spawn::in_user_namespace`), so the new namespaces belong to it and the init,
    /// root there, can set their hostname and mount; the other joined ones are entered with
    /// its credentials.
    pub join_user: Option<PathBuf>,
    /// Joined by the init right after the clone (after `join_user`). `launch` orders them
    /// with the kernel's answers (`iso_ns::join_plan`: which user namespace owns each).
    pub join: Vec<JoinNs>,
    /// A PID namespace to join: entered by the runtime before the clone, since a process
    /// never changes its own PID namespace, only its children's.
    pub join_pid: Option<PathBuf>,
    /// `linux.uidMappings`, written by the runtime when the user namespace is new.
    pub uid_map: Option<UidMap>,
    /// `linux.gidMappings`, likewise.
    pub gid_map: Option<GidMap>,
    /// `linux.timeOffsets`, written before the new time namespace gets its first process.
    pub time_offsets: Option<TimeOffsets>,
    /// `hostname` or `domainname` is set in a joined UTS namespace: `launch` checks it is
    /// not the runtime's own (that would rename the host).
    pub uts_joined: bool,
}

impl NamespacePlan {
    /// Reads `linux.namespaces`, the id maps, and checks that `hostname`/`domainname` have a
    /// UTS namespace of their own to change.
    pub fn from_spec(spec: &Spec, linux: &Linux, config: &ConfigFile) -> Result<Self, Error> {
        let mut new = NamespaceSet::default();
        let mut join = Vec::new();
        let mut join_pid = None;
        let mut join_user = None;
        for ns in linux.namespaces().iter().flatten() {
            let kind = Namespace::from_clone_flag(ns.typ() as i32)
                .ok_or_else(|| config.invalid("linux.namespaces", "unknown type"))?;
            match ns.path() {
                Some(path) if !path.as_os_str().is_empty() && kind == Namespace::Pid => {
                    join_pid = Some(path.clone());
                }
                Some(path) if !path.as_os_str().is_empty() && kind == Namespace::User => {
                    join_user = Some(path.clone());
                }
                Some(path) if !path.as_os_str().is_empty() => join.push(JoinNs {
                    kind,
                    path: path.clone(),
                }),
                _ => {
                    new.insert(kind);
                }
            }
        }
        let new_cgroup_ns = new.remove(Namespace::Cgroup);
        let names_host = spec.hostname().is_some() || spec.domainname().is_some();
        let uts_joined = names_host && join.iter().any(|j| j.kind == Namespace::Uts);
        if names_host && !new.contains(Namespace::Uts) && !uts_joined {
            return Err(config.invalid(
                "hostname",
                "needs a UTS namespace of the container's own (it would change the host's)",
            ));
        }
        let (uid_map, gid_map) = if new.contains(Namespace::User) {
            (
                id_map(linux.uid_mappings()).map(UidMap::new).transpose()?,
                id_map(linux.gid_mappings()).map(GidMap::new).transpose()?,
            )
        } else {
            (None, None)
        };
        Ok(NamespacePlan {
            time_offsets: time_offsets(linux, &new, config)?,
            new,
            new_cgroup_ns,
            join_user,
            join,
            join_pid,
            uid_map,
            gid_map,
            uts_joined,
        })
    }

    /// Checks that the ids of `process.user` have a mapping in a new user namespace's maps:
    /// the kernel refuses an unmapped one (`EINVAL`) when the init switches to it. A
    /// rootless config maps few ids (often only the caller's, as 0).
    pub fn check_user_mapped(
        &self,
        user: &oci_spec::runtime::User,
        config: &ConfigFile,
    ) -> Result<(), Error> {
        let unmapped = |field: &'static str, map: &str, id: u32| {
            config.invalid(
                field,
                format!("{id} is not mapped by linux.{map} in the container's user namespace"),
            )
        };
        if let Some(map) = &self.uid_map {
            if map.to_outside(user.uid()).is_none() {
                return Err(unmapped("process.user.uid", "uidMappings", user.uid()));
            }
        }
        if let Some(map) = &self.gid_map {
            if map.to_outside(user.gid()).is_none() {
                return Err(unmapped("process.user.gid", "gidMappings", user.gid()));
            }
            let extra = user.additional_gids().iter().flatten();
            if let Some(gid) = extra.copied().find(|g| map.to_outside(*g).is_none()) {
                return Err(unmapped("process.user.additionalGids", "gidMappings", gid));
            }
        }
        Ok(())
    }

    /// Whether the container has a namespace of `kind`, new or joined.
    pub fn has(&self, kind: Namespace) -> bool {
        self.new.contains(kind)
            || self.join.iter().any(|j| j.kind == kind)
            || (kind == Namespace::User && self.join_user.is_some())
            || (kind == Namespace::Pid && self.join_pid.is_some())
    }

    /// Whether the init runs in a user namespace other than the runtime's, whose root it
    /// must become first.
    pub fn become_root(&self) -> bool {
        self.has(Namespace::User)
    }

    /// `linux.sysctl`: each key must be namespaced (a global one would change the host) and
    /// its namespace new or joined. Whether a joined one is really the container's own
    /// (not the runtime's) only the kernel can say: `launch` checks that.
    pub fn sysctls(&self, linux: &Linux, config: &ConfigFile) -> Result<Vec<Sysctl>, Error> {
        let mut out = Vec::new();
        for (key, value) in linux.sysctl().iter().flatten() {
            if key.contains("..") || key.contains('/') && key.contains('.') {
                return Err(config.invalid("linux.sysctl", format!("{key:?} is invalid")));
            }
            let namespace = sysctl_namespace(key).ok_or_else(|| {
                config.invalid(
                    "linux.sysctl",
                    format!("{key:?} is not namespaced: writing it would change the host"),
                )
            })?;
            if !self.has(namespace) {
                return Err(config.invalid(
                    "linux.sysctl",
                    format!("{key:?} needs the container to have its own {namespace:?} namespace"),
                ));
            }
            out.push(Sysctl {
                key: key.clone(),
                path: PathBuf::from("sys").join(key.replace('.', "/")),
                value: value.clone(),
                namespace,
                joined: !self.new.contains(namespace),
            });
        }
        // A HashMap's order changes from run to run; the plan's does not.
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }
}

/// `linux.timeOffsets` (`monotonic`, `boottime`), which need a new time namespace.
fn time_offsets(
    linux: &Linux,
    new: &NamespaceSet,
    config: &ConfigFile,
) -> Result<Option<TimeOffsets>, Error> {
    let Some(map) = linux.time_offsets().as_ref().filter(|m| !m.is_empty()) else {
        return Ok(None);
    };
    if !new.contains(Namespace::Time) {
        return Err(config.invalid(
            "linux.timeOffsets",
            "needs a new time namespace in linux.namespaces",
        ));
    }
    let mut offsets = TimeOffsets::default();
    for (clock, offset) in map {
        let value = ClockOffset::new(offset.secs().unwrap_or(0), offset.nanosecs().unwrap_or(0))
            .map_err(|e| config.invalid("linux.timeOffsets", format!("{clock}: {e}")))?;
        match clock.as_str() {
            "monotonic" => offsets.monotonic = value,
            "boottime" => offsets.boottime = value,
            other => {
                return Err(config.invalid(
                    "linux.timeOffsets",
                    format!("{other:?} is not a clock a time namespace shifts"),
                ))
            }
        }
    }
    Ok(Some(offsets))
}

/// The entries of a `linux.uidMappings`/`gidMappings` list, if there is one.
fn id_map(list: &Option<Vec<LinuxIdMapping>>) -> Option<Vec<IdMapEntry>> {
    list.as_ref().map(|l| {
        l.iter()
            .map(|m| IdMapEntry::new(m.container_id(), m.host_id(), m.size()))
            .collect()
    })
}

/// A sysctl the init writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sysctl {
    /// The key as configured.
    pub key: String,
    /// The file below the container's procfs (`sys/net/ipv4/ip_forward`).
    pub path: PathBuf,
    /// What is written.
    pub value: String,
    /// The namespace that makes it the container's.
    pub namespace: Namespace,
    /// That namespace is joined, not new (`launch` checks it is not the runtime's).
    pub joined: bool,
}

/// The namespace that makes a sysctl the container's own, or `None` for a sysctl that is
/// global to the machine (`vm.*`, most of `kernel.*`), which a container must never write.
/// Keys use either separator (`net.ipv4.ip_forward` or `net/ipv4/ip_forward`).
pub(crate) fn sysctl_namespace(key: &str) -> Option<Namespace> {
    const IPC: [&str; 8] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let key = key.replace('/', ".");
    if IPC.contains(&key.as_str()) || key.starts_with("fs.mqueue.") {
        Some(Namespace::Ipc)
    } else if key.starts_with("net.") {
        Some(Namespace::Net)
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        Some(Namespace::Uts)
    } else {
        None
    }
}

/// The init's namespaces an `exec`ed process joins (through the init's pidfd).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExecNamespaces {
    /// Joined by the process itself, all at once (the kernel enters the user one first).
    pub join: NamespaceSet,
    /// The PID namespace: joined by the runtime before the fork (`pid_for_children`).
    pub pid: bool,
}

impl ExecNamespaces {
    /// Every namespace type `linux.namespaces` lists (new or joined, the init has them).
    pub fn from_linux(linux: &Linux) -> Self {
        let mut join = NamespaceSet::default();
        for ns in linux.namespaces().iter().flatten() {
            if let Some(kind) = Namespace::from_clone_flag(ns.typ() as i32) {
                join.insert(kind);
            }
        }
        let pid = join.remove(Namespace::Pid);
        ExecNamespaces { join, pid }
    }

    /// Whether the process becomes root of the container's user namespace first.
    pub fn become_root(&self) -> bool {
        self.join.contains(Namespace::User)
    }
}

/// The cgroup `sub` below the container's `base`: `sub` is relative, may be prefixed with
/// `controller:` (runc's `--cgroup ctrl:path`; the controller part is ignored as every
/// controller's hierarchy holds the same path here), and may not climb out with `..`.
pub(crate) fn sub_cgroup_path(base: &str, sub: &str) -> Result<String, Error> {
    let rel = sub
        .split_once(':')
        .map_or(sub, |(_, p)| p)
        .trim_matches('/');
    if rel.is_empty()
        || rel
            .split('/')
            .any(|c| c == ".." || c == "." || c.is_empty())
    {
        return Err(Error::InvalidArgument {
            what: "--cgroup",
            value: sub.to_owned(),
            reason: "must be a relative path below the container's cgroup".into(),
        });
    }
    Ok(format!("{}/{rel}", base.trim_end_matches('/')))
}
