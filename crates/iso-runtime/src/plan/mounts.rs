//! The root filesystem: mounts in the configuration's order with parsed options, the cgroup
//! mount, device nodes, propagation, masked and read-only paths, how the root is entered.

use std::path::{Path, PathBuf};

use iso_cgroups::{Cgroup, Layout, Mode};
use iso_chroot::{Device, DeviceKind, EnterMethod, Mount, MountFlags, MountKind, Propagation};
use iso_ns::{GidMap, UidMap};
use oci_spec::runtime::{Linux, LinuxDevice, LinuxDeviceType, Spec};

use super::{CgroupPlan, ConfigFile, HostFacts, Request};
use crate::Error;

/// A mount as the init makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PlannedMount {
    /// An ordinary mount through `iso-chroot` (a tmpfs without `mode=` takes the mode of
    /// the directory it covers: `iso_chroot::Root::mount_tmpfs_over`).
    Plain(Mount),
    /// A tmpfs with OCI's `tmpcopyup`: the content of the directory it covers is copied in.
    TmpfsCopyUp(Mount),
    /// An idmapped mount: the runtime makes it detached (`iso_chroot::Mount::detached`),
    /// applies the maps through a user namespace of its own and hands the tree to the init,
    /// which attaches it (the kernel only idmaps a detached mount of a filesystem whose
    /// superblock belongs to the initial user namespace: the runtime's, not the init's).
    Idmapped {
        /// The mount, without the `idmap`/`ridmap` options.
        mount: Mount,
        /// The maps.
        idmap: Idmap,
    },
    /// A bind of the host's `/proc` at `/proc` (only without a PID namespace of the
    /// container's own: `validate`), checked to be a procfs root when it is mounted.
    HostProc(Mount),
    /// An OCI `cgroup` mount: a tmpfs holding read-only (or not) binds of the container's
    /// cgroup directory in each v1 hierarchy (`name`, host directory), or, on a v2-only host,
    /// a bind of the container's cgroup directory.
    Cgroup {
        /// Where (`/sys/fs/cgroup`).
        destination: PathBuf,
        /// A tmpfs with one bind per hierarchy (v1 or hybrid), or one bind (v2 only).
        tmpfs: bool,
        /// `ro` among the options.
        readonly: bool,
        /// (name below `destination`, the container's directory in the hierarchy).
        binds: Vec<(String, PathBuf)>,
    },
}

/// The maps of an idmapped mount: the mount's `uidMappings`/`gidMappings`, or the
/// container's user namespace maps for a bare `idmap`/`ridmap` option (runtime-spec 1.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Idmap {
    /// `uidMappings`, as a user namespace's `uid_map`.
    pub uid: UidMap,
    /// `gidMappings`, as a user namespace's `gid_map`.
    pub gid: GidMap,
    /// `ridmap`: every mount of an `rbind` tree, not only its top (`AT_RECURSIVE`).
    pub recursive: bool,
}

/// The root filesystem, decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RootfsPlan {
    /// The root filesystem, absolute.
    pub path: PathBuf,
    /// `linux.rootfsPropagation`.
    pub propagation: Option<Propagation>,
    /// `mounts`, in order.
    pub mounts: Vec<PlannedMount>,
    /// The default devices, replaced or extended by `linux.devices`.
    pub devices: Vec<Device>,
    /// `/dev` is a tmpfs of ours: make its standard symlinks (`/dev/fd`, `/dev/stdin`, ...).
    pub dev_tmpfs: bool,
    /// That tmpfs is read-only (`ro`): it is mounted writable and made read-only once its
    /// nodes, symlinks, devpts and console are in place (as runc does).
    pub dev_readonly: bool,
    /// `linux.maskedPaths`.
    pub masked: Vec<PathBuf>,
    /// `linux.readonlyPaths`.
    pub readonly: Vec<PathBuf>,
    /// `pivot_root`, or `MS_MOVE` + `chroot` with `--no-pivot`.
    pub enter: EnterMethod,
    /// `root.readonly`.
    pub readonly_root: bool,
    /// The container has a user namespace: the runtime clones the bind sources
    /// (`iso_chroot::Mount::clone_source`) before the init enters it, so that sources its
    /// root cannot reach (a 0700 directory of the host's root) are mounted all the same.
    /// Not rootless: an unprivileged runtime may not clone a tree of the host's mount
    /// namespace (its sources are the user's own, which the init reaches).
    pub clone_bind_sources: bool,
}

impl RootfsPlan {
    /// For a container without a cgroup (rootless, see `launch`): each `cgroup` mount
    /// becomes an empty tmpfs, read-only as configured; no directory of the host's
    /// hierarchies is shown.
    pub fn without_cgroup(&mut self) {
        for m in &mut self.mounts {
            if let PlannedMount::Cgroup { tmpfs, binds, .. } = m {
                *tmpfs = true;
                binds.clear();
            }
        }
    }

    /// The mounts the runtime makes detached for the init: (index in `mounts`, the mount,
    /// its maps if idmapped). Bind sources are cloned for a container with a user namespace
    /// (`clone_bind_sources`); idmapped mounts are always made by the runtime.
    pub fn detached_mounts(&self) -> impl Iterator<Item = (usize, &Mount, Option<&Idmap>)> {
        let clone = self.clone_bind_sources;
        self.mounts
            .iter()
            .enumerate()
            .filter_map(move |(i, m)| match m {
                PlannedMount::Plain(m) if clone && m.kind().is_bind() => Some((i, m, None)),
                PlannedMount::Idmapped { mount, idmap } => Some((i, mount, Some(idmap))),
                _ => None,
            })
    }
}

impl RootfsPlan {
    /// Reads `mounts`, `linux.devices`, `linux.rootfsPropagation`, the masked and read-only
    /// paths and `root.readonly`.
    pub fn from_spec(
        spec: &Spec,
        linux: &Linux,
        req: &Request<'_>,
        cgroup: &CgroupPlan,
        facts: &HostFacts<'_>,
        container_maps: Option<(&UidMap, &GidMap)>,
        config: &ConfigFile,
    ) -> Result<Self, Error> {
        let mut mounts = Vec::new();
        for m in spec.mounts().iter().flatten() {
            let planned = plan_mount(m, req.bundle, cgroup, facts.layout, config)?;
            mounts.push(match idmap_of(m, container_maps, config)? {
                None => planned,
                Some(idmap) => idmapped(planned, idmap, facts.rootless, config)?,
            });
        }
        let mut dev_tmpfs = false;
        let mut dev_readonly = false;
        for planned in &mut mounts {
            if let PlannedMount::Plain(m) | PlannedMount::TmpfsCopyUp(m) = planned {
                if m.destination() == Path::new("/dev") && m.kind() == &MountKind::Tmpfs {
                    dev_tmpfs = true;
                    dev_readonly = m.mount_flags().contains(MountFlags::RDONLY);
                    *m = m.clone().without_flags(MountFlags::RDONLY);
                }
            }
        }
        let paths = |list: &Option<Vec<String>>| -> Vec<PathBuf> {
            list.iter().flatten().map(PathBuf::from).collect()
        };
        Ok(RootfsPlan {
            path: req.rootfs.to_path_buf(),
            propagation: propagation(linux, config)?,
            mounts,
            devices: devices(linux.devices().as_deref().unwrap_or_default()),
            dev_tmpfs,
            dev_readonly,
            masked: paths(linux.masked_paths()),
            readonly: paths(linux.readonly_paths()),
            enter: if req.no_pivot {
                EnterMethod::MoveRoot
            } else {
                EnterMethod::Auto
            },
            readonly_root: spec
                .root()
                .as_ref()
                .and_then(|r| r.readonly())
                .unwrap_or(false),
            clone_bind_sources: false,
        })
    }
}

/// One entry of `mounts`: its kind from `type` (a `bind`/`rbind` option makes any type a
/// bind), a relative bind source resolved against the bundle, the options parsed.
fn plan_mount(
    m: &oci_spec::runtime::Mount,
    bundle: &Path,
    cgroup: &CgroupPlan,
    layout: &Layout,
    config: &ConfigFile,
) -> Result<PlannedMount, Error> {
    let dest = m.destination();
    if !dest.is_absolute() {
        return Err(config.invalid(
            "mounts.destination",
            format!("{} is not absolute", dest.display()),
        ));
    }
    let typ = m.typ().as_deref().unwrap_or_default();
    let options = m.options().as_deref().unwrap_or_default();
    if typ == "cgroup" || typ == "cgroup2" {
        let readonly = options.iter().any(|o| o == "ro");
        return Ok(cgroup_mount(dest, readonly, cgroup, layout));
    }
    let is_bind = typ == "bind" || options.iter().any(|o| o == "bind" || o == "rbind");
    let kind = if is_bind {
        MountKind::Bind
    } else {
        match typ {
            "proc" => MountKind::Proc,
            "sysfs" => MountKind::Sysfs,
            "tmpfs" => MountKind::Tmpfs,
            "devpts" => MountKind::Devpts,
            "mqueue" => MountKind::Mqueue,
            "overlay" => MountKind::Overlay,
            "" => return Err(config.invalid("mounts.type", "is required")),
            other => MountKind::Other(other.to_owned()),
        }
    };
    let mut mount = Mount::new(kind, dest);
    if let Some(src) = m.source() {
        mount = mount.source(if is_bind && src.is_relative() {
            bundle.join(src)
        } else {
            src.clone()
        });
    }
    // `tmpcopyup` is the runtime's, not the filesystem's.
    let copy_up = mount.kind() == &MountKind::Tmpfs && options.iter().any(|o| o == "tmpcopyup");
    let options: Vec<&str> = options
        .iter()
        .map(String::as_str)
        .filter(|o| (*o != "tmpcopyup" || !copy_up) && !IDMAP_OPTIONS.contains(o))
        .collect();
    let mount = mount.options(&options.join(","))?;
    let at_proc = dest.components().eq(Path::new("/proc").components());
    Ok(if copy_up {
        PlannedMount::TmpfsCopyUp(mount)
    } else if is_bind && at_proc {
        PlannedMount::HostProc(mount)
    } else {
        PlannedMount::Plain(mount)
    })
}

/// The mount options that ask for an idmapped mount (runtime-spec 1.2): `ridmap` applies
/// the maps to every mount of an `rbind` tree.
const IDMAP_OPTIONS: [&str; 2] = ["idmap", "ridmap"];

/// The maps of `m` if it is idmapped: its own `uidMappings` and `gidMappings` (both or
/// neither), or with a bare `idmap`/`ridmap` option the container's user namespace maps.
fn idmap_of(
    m: &oci_spec::runtime::Mount,
    container_maps: Option<(&UidMap, &GidMap)>,
    config: &ConfigFile,
) -> Result<Option<Idmap>, Error> {
    let options = m.options().as_deref().unwrap_or_default();
    let has = |name: &str| options.iter().any(|o| o == name);
    if has("idmap") && has("ridmap") {
        return Err(config.invalid(
            "mounts.options",
            format!(
                "{}: idmap and ridmap exclude each other",
                m.destination().display()
            ),
        ));
    }
    let entries = |list: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| {
        list.as_ref().map(|l| {
            l.iter()
                .map(|e| iso_ns::IdMapEntry::new(e.container_id(), e.host_id(), e.size()))
                .collect::<Vec<_>>()
        })
    };
    let dest = m.destination().display();
    let (uid, gid) = match (entries(m.uid_mappings()), entries(m.gid_mappings())) {
        (Some(uid), Some(gid)) => (
            UidMap::new(uid)
                .map_err(|e| config.invalid("mounts.uidMappings", format!("{dest}: {e}")))?,
            GidMap::new(gid)
                .map_err(|e| config.invalid("mounts.gidMappings", format!("{dest}: {e}")))?,
        ),
        (Some(_), None) => {
            return Err(config.invalid(
                "mounts.gidMappings",
                format!("{dest}: required with uidMappings"),
            ))
        }
        (None, Some(_)) => {
            return Err(config.invalid(
                "mounts.uidMappings",
                format!("{dest}: required with gidMappings"),
            ))
        }
        (None, None) if has("idmap") || has("ridmap") => match container_maps {
            Some((uid, gid)) => (uid.clone(), gid.clone()),
            None => {
                return Err(config.invalid(
                    "mounts.options",
                    format!(
                        "{dest}: idmap without uidMappings and gidMappings takes the container's \
                         user namespace maps, and the container has none"
                    ),
                ))
            }
        },
        (None, None) => return Ok(None),
    };
    Ok(Some(Idmap {
        uid,
        gid,
        recursive: has("ridmap"),
    }))
}

/// `planned` made idmapped: a bind, or a new filesystem the runtime can make detached.
fn idmapped(
    planned: PlannedMount,
    idmap: Idmap,
    rootless: bool,
    config: &ConfigFile,
) -> Result<PlannedMount, Error> {
    let refuse = |dest: &Path, why: &str| {
        Err(config.invalid("mounts.options", format!("{}: idmap {why}", dest.display())))
    };
    match planned {
        _ if rootless => refuse(
            planned_destination(&planned),
            "needs a privileged runtime (CAP_SYS_ADMIN in the initial user namespace)",
        ),
        PlannedMount::Plain(mount) => Ok(PlannedMount::Idmapped { mount, idmap }),
        PlannedMount::TmpfsCopyUp(m) => refuse(m.destination(), "with tmpcopyup is not supported"),
        PlannedMount::HostProc(m) => {
            refuse(m.destination(), "of the host's /proc is not supported")
        }
        PlannedMount::Cgroup { destination, .. } => {
            refuse(&destination, "of a cgroup mount is not supported")
        }
        PlannedMount::Idmapped { mount, .. } => Ok(PlannedMount::Idmapped { mount, idmap }),
    }
}

/// Where a planned mount goes.
fn planned_destination(m: &PlannedMount) -> &Path {
    match m {
        PlannedMount::Plain(m)
        | PlannedMount::TmpfsCopyUp(m)
        | PlannedMount::HostProc(m)
        | PlannedMount::Idmapped { mount: m, .. } => m.destination(),
        PlannedMount::Cgroup { destination, .. } => destination,
    }
}

/// A `cgroup` mount: on a v2-only host a bind of the container's cgroup; otherwise a tmpfs
/// with a bind of the container's directory in each v1 hierarchy that has controllers or a
/// name, under the hierarchy's own mount point name (`memory`, `cpu,cpuacct`, `systemd`).
fn cgroup_mount(
    destination: &Path,
    readonly: bool,
    cgroup: &CgroupPlan,
    layout: &Layout,
) -> PlannedMount {
    let v2_only = layout.mode() == Mode::Unified;
    let cg = Cgroup::at(layout, cgroup.path.clone());
    let mut binds = Vec::new();
    for (h, dir) in cg.dirs() {
        if v2_only {
            binds.push((String::new(), dir));
        } else if !h.controllers.is_empty() || h.name.is_some() {
            let name = h
                .mount_point
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !name.is_empty() {
                binds.push((name, dir));
            }
        }
    }
    PlannedMount::Cgroup {
        destination: destination.to_path_buf(),
        tmpfs: !v2_only,
        readonly,
        binds,
    }
}

/// The default devices, each replaced by a configured device at the same path, then the
/// other configured ones in order. `/dev/ptmx` is left out: it is the `pts/ptmx` symlink of
/// the container's own devpts, whatever the configuration lists (as runc and crun do).
fn devices(configured: &[LinuxDevice]) -> Vec<Device> {
    let mut devices = iso_chroot::default_devices();
    for d in configured {
        if d.path()
            .components()
            .eq(Path::new("/dev/ptmx").components())
        {
            continue;
        }
        let kind = match d.typ() {
            LinuxDeviceType::B => DeviceKind::Block,
            LinuxDeviceType::P => DeviceKind::Fifo,
            _ => DeviceKind::Char,
        };
        let mut dev = Device::new(kind, d.path(), d.major() as u32, d.minor() as u32);
        if let Some(mode) = d.file_mode() {
            dev = dev.mode(mode);
        }
        dev = dev.owner(d.uid().unwrap_or(0), d.gid().unwrap_or(0));
        devices.retain(|x| x.path() != dev.path());
        devices.push(dev);
    }
    devices
}

/// `linux.rootfsPropagation`, if set.
fn propagation(linux: &Linux, config: &ConfigFile) -> Result<Option<Propagation>, Error> {
    match linux.rootfs_propagation().as_deref() {
        None | Some("") => Ok(None),
        Some(p) => Propagation::parse(p)
            .map(Some)
            .ok_or_else(|| config.invalid("linux.rootfsPropagation", format!("{p:?} is unknown"))),
    }
}
