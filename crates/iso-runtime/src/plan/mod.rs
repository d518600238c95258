//! The plan of a container: every decision `create` and `exec` take from the configuration,
//! made before anything touches the kernel.
//!
//! [`Plan::from_spec`] turns a parsed (and site-policy adjusted) configuration into the
//! runtime's own description of the container: the cgroup and its resources, which
//! namespaces are new and which are joined (user first), the ordered mounts with their
//! parsed options, the device nodes, sysctls with the namespace each needs, masked and
//! read-only paths, the process (argv/envp as C strings, rlimits, credentials and
//! capabilities, the compiled seccomp program, labels, scheduling) and the hooks. It reads
//! only what [`HostFacts`] tells it about the machine, so every rule here is tested without
//! root from configuration snippets (`plan/tests.rs`); every error names its field.
//!
//! [`launch`](crate::launch) executes a plan and decides nothing: it creates the cgroup,
//! opens the namespaces to join, clones the init, runs the handshake and records the
//! container. What only the kernel can answer stays there: the order in which joined
//! namespaces are entered beyond "user first" (it depends on which user namespace owns
//! each), and whether a joined namespace is the runtime's own (a sysctl must not change the
//! host's).

mod landlock;
mod mounts;
mod namespaces;
mod netdev;
mod process;
mod systemd;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use iso_cgroups::{CgroupPath, Layout, Limit};
use oci_spec::runtime::{Hook, LinuxResources, Spec};

use crate::hooks::{hooks_of, HookKind};
use crate::policy::Policy;
use crate::state::Record;
use crate::{ContainerId, Error};

pub(crate) use mounts::{Idmap, PlannedMount, RootfsPlan};
pub(crate) use namespaces::{sub_cgroup_path, ExecNamespaces, NamespacePlan, Sysctl};
pub(crate) use netdev::NetDevice;
pub(crate) use process::{passwd_field, passwd_home, seal_reason, with_home, ProcessPlan};
pub(crate) use systemd::UnitRecord;

/// The parent under which containers with a relative or empty `cgroupsPath` are placed.
///
/// A relative path is **never** resolved against the caller's own cgroup (runc does that):
/// on a host where the caller sits in a cgroup owned by someone else, that would create and
/// delete cgroups inside it. `""` becomes `/iso/<id>`, `"a/b"` becomes `/iso/a/b`.
pub const DEFAULT_CGROUP_PARENT: &str = "/iso";

/// The absolute cgroup path for a container (see [`DEFAULT_CGROUP_PARENT`]).
///
/// ```
/// use iso_runtime::cgroup_path_for;
/// assert_eq!(cgroup_path_for(Some("/a/b"), "x"), "/a/b");
/// assert_eq!(cgroup_path_for(Some("a/b"), "x"), "/iso/a/b");
/// assert_eq!(cgroup_path_for(None, "x"), "/iso/x");
/// ```
pub fn cgroup_path_for(cgroups_path: Option<&str>, id: &str) -> String {
    match cgroups_path {
        Some(p) if p.starts_with('/') => p.to_owned(),
        Some(p) if !p.is_empty() => format!("{DEFAULT_CGROUP_PARENT}/{p}"),
        _ => format!("{DEFAULT_CGROUP_PARENT}/{id}"),
    }
}

/// What the plan knows about the machine: filled once per command by the runtime
/// (`Runtime::facts`, from its cached `Host`), built by hand in tests. Reading it changes
/// nothing on the host.
pub(crate) struct HostFacts<'a> {
    /// The cgroup hierarchies (v1, v2 or hybrid) and where they are mounted.
    pub layout: &'a Layout,
    /// The highest capability number the kernel knows (capabilities above it are dropped
    /// from the sets, as `iso-caps` does).
    pub last_cap: u8,
    /// Whether a security module is active (asked only when a label is configured).
    pub lsm_active: &'a dyn Fn(iso_mac::Lsm) -> bool,
    /// The state root whose content-keyed cache (`<root>/@seccomp/`) holds compiled
    /// seccomp programs; `None` compiles without a cache (and writes nothing).
    pub seccomp_cache: Option<&'a Path>,
    /// Whether the kernel may execute formats other than ELF and `#!` scripts
    /// (`binfmt_misc` entries registered, or it cannot be told).
    pub other_exec_formats: &'a dyn Fn() -> bool,
    /// The kernel's Landlock ABI version, 0 without Landlock (asked only when a container
    /// has a Landlock annotation).
    pub landlock_abi: &'a dyn Fn() -> u32,
    /// The runtime works as an unprivileged user (`--rootless`, see [`crate::rootless`]).
    pub rootless: bool,
    /// The runtime's effective uid is not 0: the init of a new user namespace is dumpable
    /// until its maps are written (`iso_ns::Spawn`).
    pub unprivileged: bool,
}

impl std::fmt::Debug for HostFacts<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostFacts")
            .field("layout", &self.layout.mode())
            .field("last_cap", &self.last_cap)
            .field("seccomp_cache", &self.seccomp_cache)
            .field("rootless", &self.rootless)
            .field("unprivileged", &self.unprivileged)
            .finish_non_exhaustive()
    }
}

/// What `create` was asked besides the configuration: the container's id, where its bundle
/// is, and the command-line options that change the plan.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    /// The container id (names the default cgroup).
    pub id: &'a ContainerId,
    /// The bundle directory, absolute (relative bind sources are resolved against it).
    pub bundle: &'a Path,
    /// The root filesystem, absolute.
    pub rootfs: &'a Path,
    /// `--preserve-fds`.
    pub preserve_fds: i32,
    /// `--no-pivot`.
    pub no_pivot: bool,
    /// Whether `--console-socket` was given.
    pub console_socket: bool,
    /// `--systemd-cgroup`: the cgroup is a transient systemd unit.
    pub systemd_cgroup: bool,
}

/// The configuration file errors point at: `Error::ConfigField` with its path.
#[derive(Debug, Clone)]
pub(crate) struct ConfigFile(PathBuf);

impl ConfigFile {
    /// The `config.json` of the bundle at `bundle`.
    pub fn of_bundle(bundle: &Path) -> Self {
        ConfigFile(bundle.join("config.json"))
    }

    /// An error naming `field` of this file.
    pub fn invalid(&self, field: &'static str, reason: impl Into<String>) -> Error {
        Error::ConfigField {
            path: self.0.clone(),
            field,
            reason: reason.into(),
        }
    }

    /// An error naming `field` built at run time (`linux.netDevices["eth0"].name`).
    pub fn invalid_at(&self, field: String, reason: impl Into<String>) -> Error {
        Error::ConfigValue {
            path: self.0.clone(),
            field,
            reason: reason.into(),
        }
    }
}

/// A container's cgroup: where, and the limits written before the init joins it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CgroupPlan {
    /// The absolute path (the same in every hierarchy).
    pub path: CgroupPath,
    /// `linux.resources`, converted; the default devices are allowed after a device list.
    pub resources: Option<iso_cgroups::Resources>,
    /// Rootless: when the user may not create the cgroup, the container runs without one
    /// (and its resources are reported as not applied) instead of failing.
    pub optional: bool,
    /// With `--systemd-cgroup`, the unit systemd creates the cgroup as (`path` is its cgroup).
    pub unit: Option<iso_cgroups::SystemdUnit>,
    /// With a unit, a pids limit below 2 is taken out of `resources` and applied once the
    /// init is in the cgroup: systemd starts a scope only around a process (see
    /// `crate::systemd`), which together with the init would exceed it.
    pub deferred_pids: Option<iso_cgroups::Pids>,
}

impl CgroupPlan {
    fn from_spec(
        linux: &oci_spec::runtime::Linux,
        req: &Request<'_>,
        config: &ConfigFile,
    ) -> Result<Self, Error> {
        let cgroups_path = linux.cgroups_path().as_deref().and_then(Path::to_str);
        let unit = req
            .systemd_cgroup
            .then(|| systemd::unit_for(cgroups_path, req.id.as_str(), config))
            .transpose()?;
        let path = match &unit {
            Some(unit) => unit.cgroup_path().clone(),
            None => CgroupPath::new(&cgroup_path_for(cgroups_path, req.id.as_str()))?,
        };
        let resources = match linux.resources() {
            Some(res) => {
                let mut resources = iso_cgroups::Resources::try_from(res)?;
                if !resources.devices.is_empty() {
                    // The devices every container gets (created by the init) and those
                    // `linux.devices` adds: allowed after the configuration's own rules, as
                    // runc does, so that a "deny all" config still has /dev/null, a tty, its
                    // pty and the nodes it asked for.
                    with_default_devices(&mut resources);
                    resources
                        .devices
                        .extend(configured_device_rules(linux.devices().iter().flatten()));
                }
                Some(resources)
            }
            None => None,
        };
        let mut resources = resources;
        let deferred_pids = match (&unit, &mut resources) {
            (Some(_), Some(r)) => r
                .pids
                .take_if(|p| matches!(p.limit, Some(Limit::Value(n)) if n < 2)),
            _ => None,
        };
        Ok(CgroupPlan {
            path,
            resources,
            optional: false,
            unit,
            deferred_pids,
        })
    }
}

/// Adds, after a non-empty device list, allow rules for the devices every container gets
/// (created by the init), as runc does, so that a "deny all" list (in a config or an
/// `update`) still leaves /dev/null, a tty and its pty.
pub(crate) fn with_default_devices(resources: &mut iso_cgroups::Resources) {
    if !resources.devices.is_empty() {
        resources.devices.extend(default_device_rules());
    }
}

/// Allow rules for the default devices: null, zero, full, random, urandom, tty, console,
/// ptmx and the pty slaves.
fn default_device_rules() -> Vec<iso_cgroups::DeviceRule> {
    use iso_cgroups::{DeviceAccess, DeviceKind, DeviceRule};
    let rwm = DeviceAccess::READ | DeviceAccess::WRITE | DeviceAccess::MKNOD;
    let rule = |major: u32, minor: Option<u32>| DeviceRule {
        allow: true,
        kind: DeviceKind::Char,
        major: Some(major),
        minor,
        access: rwm,
    };
    vec![
        rule(1, Some(3)),
        rule(1, Some(5)),
        rule(1, Some(7)),
        rule(1, Some(8)),
        rule(1, Some(9)),
        rule(5, Some(0)),
        rule(5, Some(1)),
        rule(5, Some(2)),
        rule(136, None),
    ]
}

/// Allow rules (read, write, mknod) for the character and block devices of `linux.devices`.
fn configured_device_rules<'a>(
    devices: impl Iterator<Item = &'a oci_spec::runtime::LinuxDevice>,
) -> Vec<iso_cgroups::DeviceRule> {
    use iso_cgroups::{DeviceAccess, DeviceKind, DeviceRule};
    use oci_spec::runtime::LinuxDeviceType;
    devices
        .filter_map(|d| {
            let kind = match d.typ() {
                LinuxDeviceType::B => DeviceKind::Block,
                LinuxDeviceType::C | LinuxDeviceType::U => DeviceKind::Char,
                _ => return None,
            };
            Some(DeviceRule {
                allow: true,
                kind,
                major: Some(d.major() as u32),
                minor: Some(d.minor() as u32),
                access: DeviceAccess::READ | DeviceAccess::WRITE | DeviceAccess::MKNOD,
            })
        })
        .collect()
}

/// Everything the init does between the clone and `start`, and after it: prepared data
/// only, executed by `init::run`.
#[derive(Debug)]
pub(crate) struct InitSetup {
    /// After joining the cgroup, unshare a cgroup namespace (its root is that cgroup).
    pub new_cgroup_ns: bool,
    /// In a new or joined user namespace: become its root before anything else, because
    /// the credentials the clone kept (host root) have no mapping there.
    pub become_root: bool,
    /// Whether the init has a mount namespace of its own (else it can only chroot).
    pub new_mount_ns: bool,
    /// `hostname`.
    pub hostname: Option<String>,
    /// `domainname`.
    pub domainname: Option<String>,
    /// The root filesystem: mounts, devices, masked paths, how it is entered.
    pub rootfs: RootfsPlan,
    /// `linux.sysctl`, written through the container's procfs.
    pub sysctls: Vec<Sysctl>,
    /// `hooks.createContainer`, run by the init before it enters the root.
    pub create_container_hooks: Vec<Hook>,
    /// `hooks.startContainer`, run by the init after `start`.
    pub start_container_hooks: Vec<Hook>,
    /// The process the init becomes.
    pub proc: ProcessPlan,
}

/// A container, decided: what `launch` creates, in order.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The record to store; `launch` fills in the pid, its start time and the creation
    /// time.
    pub record: Record,
    /// The cgroup.
    pub cgroup: CgroupPlan,
    /// New and joined namespaces, id maps.
    pub namespaces: NamespacePlan,
    /// What the init executes.
    pub init: InitSetup,
    /// `hooks.prestart` then `hooks.createRuntime`, run by `create` in the runtime's
    /// namespaces once the init's mounts are made.
    pub runtime_hooks: Vec<(HookKind, Vec<Hook>)>,
    /// `process.terminal`: the init's stdio is a pty whose master goes to the console
    /// socket.
    pub terminal: bool,
    /// Why the runtime must run sealed for this container, if it must (see
    /// [`seal_reason`]).
    pub seal_reason: Option<&'static str>,
    /// `linux.netDevices`: moved into the init's network namespace once it exists.
    pub net_devices: Vec<NetDevice>,
}

impl Plan {
    /// Decides the container `req` asks for with `spec` (after the site `policy`, whose
    /// changes are recorded in the annotations), on the machine `facts` describe.
    pub fn from_spec(
        spec: &Spec,
        req: &Request<'_>,
        facts: &HostFacts<'_>,
        policy: Option<&Policy>,
    ) -> Result<Plan, Error> {
        let applied;
        let spec = match policy {
            Some(policy) => {
                applied = policy.apply_annotated(spec)?.0;
                &applied
            }
            None => spec,
        };
        let config = ConfigFile::of_bundle(req.bundle);
        let default_linux = oci_spec::runtime::Linux::default();
        let linux = spec.linux().as_ref().unwrap_or(&default_linux);
        let process = spec
            .process()
            .as_ref()
            .ok_or_else(|| config.invalid("process", "is required"))?;
        let mut cgroup = CgroupPlan::from_spec(linux, req, &config)?;
        cgroup.optional = facts.rootless;
        if let Some(r) = &cgroup.resources {
            facts.layout.check_unified(&r.unified)?;
        }
        let namespaces = NamespacePlan::from_spec(spec, linux, &config)?;
        if facts.unprivileged
            && namespaces.new.contains(iso_ns::Namespace::User)
            && namespaces.join_pid.is_some()
        {
            // An unprivileged runtime's init is dumpable while its id maps are written
            // (`iso_ns::Spawn`): born in a PID namespace of running processes, they could
            // open its /proc/PID/exe or trace it.
            return Err(config.invalid(
                "linux.namespaces",
                "rootless: a new user namespace cannot join an existing PID namespace",
            ));
        }
        let net_devices = netdev::plan(linux, &namespaces, facts.unprivileged, &config)?;
        let container_maps = namespaces.uid_map.as_ref().zip(namespaces.gid_map.as_ref());
        let mut rootfs =
            RootfsPlan::from_spec(spec, linux, req, &cgroup, facts, container_maps, &config)?;
        rootfs.clone_bind_sources = namespaces.become_root() && !facts.rootless;
        let sysctls = namespaces.sysctls(linux, &config)?;
        namespaces.check_user_mapped(process.user(), &config)?;
        let mut proc = ProcessPlan::from_process(&config, linux, process, req.preserve_fds, facts)?;
        let notes = spec.annotations().as_ref();
        proc.landlock = landlock_rulesets(
            |key| notes.and_then(|n| n.get(key)).map(String::as_str),
            facts,
            &config,
        )?;
        let terminal = process.terminal().unwrap_or(false);
        require_console(terminal, req.console_socket)?;
        let hooks = spec.hooks().as_ref();
        Ok(Plan {
            record: record(spec, req, &cgroup, linux.resources()),
            init: InitSetup {
                new_cgroup_ns: namespaces.new_cgroup_ns,
                become_root: namespaces.become_root(),
                new_mount_ns: namespaces.has(iso_ns::Namespace::Mount),
                hostname: spec.hostname().clone(),
                domainname: spec.domainname().clone(),
                rootfs,
                sysctls,
                create_container_hooks: hooks_of(hooks, HookKind::CreateContainer),
                start_container_hooks: hooks_of(hooks, HookKind::StartContainer),
                proc,
            },
            runtime_hooks: [HookKind::Prestart, HookKind::CreateRuntime]
                .into_iter()
                .map(|kind| (kind, hooks_of(hooks, kind)))
                .collect(),
            cgroup,
            namespaces,
            terminal,
            seal_reason: seal_reason(process, hooks),
            net_devices,
        })
    }
}

/// `process.terminal` needs somewhere to send the pty master.
pub(crate) fn require_console(terminal: bool, console_socket: bool) -> Result<(), Error> {
    if terminal && !console_socket {
        return Err(Error::InvalidArgument {
            what: "--console-socket",
            value: String::new(),
            reason: "process.terminal is true: a console socket is required".into(),
        });
    }
    Ok(())
}

/// The record of a container not launched yet (no pid, no creation time).
fn record(
    spec: &Spec,
    req: &Request<'_>,
    cgroup: &CgroupPlan,
    resources: &Option<LinuxResources>,
) -> Record {
    Record {
        oci_version: spec.version().clone(),
        id: req.id.to_string(),
        pid: 0,
        start_time: 0,
        bundle: req.bundle.to_path_buf(),
        rootfs: req.rootfs.to_path_buf(),
        created: String::new(),
        annotations: spec
            .annotations()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
        cgroup: cgroup.path.as_str().to_owned(),
        no_cgroup: false,
        hooks: spec.hooks().clone(),
        created_done: false,
        resources: resources.clone(),
        systemd: cgroup.unit.as_ref().map(UnitRecord::of),
        net_devices: Vec::new(),
        net_devices_ns: None,
    }
}

/// An `exec`, decided: the namespaces to join, the cgroup, the process.
#[derive(Debug)]
pub(crate) struct ExecPlan {
    /// The init's namespaces the process joins.
    pub namespaces: ExecNamespaces,
    /// The cgroup it runs in: the container's, or `--cgroup` below it; none for a
    /// container created rootless without one.
    pub cgroup: Option<String>,
    /// `process.terminal`.
    pub terminal: bool,
    /// The process.
    pub proc: ProcessPlan,
    /// As [`Plan::seal_reason`].
    pub seal_reason: Option<&'static str>,
}

/// What `exec` was asked besides the process.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExecRequest<'a> {
    /// The container's bundle (for error messages).
    pub bundle: &'a Path,
    /// The container's cgroup (`None`: created rootless without one).
    pub cgroup: Option<&'a str>,
    /// `--cgroup`.
    pub sub_cgroup: Option<&'a str>,
    /// `--preserve-fds`.
    pub preserve_fds: i32,
    /// Whether `--console-socket` was given.
    pub console_socket: bool,
    /// The container's annotations as recorded at `create` (after the site policy): its
    /// Landlock rulesets confine the `exec`ed process too.
    pub annotations: &'a BTreeMap<String, String>,
}

impl ExecPlan {
    /// Decides the `exec` of `process` in a container configured by `spec`.
    pub fn from_process(
        spec: &Spec,
        process: &oci_spec::runtime::Process,
        req: &ExecRequest<'_>,
        facts: &HostFacts<'_>,
    ) -> Result<ExecPlan, Error> {
        let config = ConfigFile::of_bundle(req.bundle);
        let default_linux = oci_spec::runtime::Linux::default();
        let linux = spec.linux().as_ref().unwrap_or(&default_linux);
        let terminal = process.terminal().unwrap_or(false);
        require_console(terminal, req.console_socket)?;
        let cgroup = match (req.cgroup, req.sub_cgroup) {
            (Some(base), Some(sub)) => Some(sub_cgroup_path(base, sub)?),
            (Some(base), None) => Some(base.to_owned()),
            (None, Some(sub)) => {
                return Err(Error::InvalidArgument {
                    what: "--cgroup",
                    value: sub.to_owned(),
                    reason: "the container has no cgroup (created rootless without one)".into(),
                })
            }
            (None, None) => None,
        };
        let mut proc = ProcessPlan::from_process(&config, linux, process, req.preserve_fds, facts)?;
        proc.landlock = landlock_rulesets(
            |key| req.annotations.get(key).map(String::as_str),
            facts,
            &config,
        )?;
        Ok(ExecPlan {
            namespaces: ExecNamespaces::from_linux(linux),
            cgroup,
            terminal,
            proc,
            seal_reason: seal_reason(process, None),
        })
    }
}

/// The Landlock rulesets of a container whose annotations `annotation` looks up (none
/// without a Landlock annotation); what best effort leaves out is said on stderr.
fn landlock_rulesets<'a>(
    annotation: impl Fn(&str) -> Option<&'a str>,
    facts: &HostFacts<'_>,
    config: &ConfigFile,
) -> Result<Vec<iso_mac::landlock::Ruleset>, Error> {
    let user = annotation(crate::landlock::ANNOTATION);
    let policy = annotation(crate::landlock::POLICY_ANNOTATION);
    if user.is_none() && policy.is_none() {
        return Ok(Vec::new());
    }
    let plan = landlock::LandlockPlan::decide(user, policy, (facts.landlock_abi)(), config)?;
    plan.warn();
    Ok(plan.rulesets)
}
