//! Site policy: defaults for what a config leaves unset, and ceilings for every config.
//!
//! Orchestrators lag behind the kernel: for years Docker swarm services could not set a pids
//! limit, so one fork bomb could take a node down, and the known workaround was a forked runc
//! that hard-coded a limit. A [`Policy`] gives operators that without forking anything: the
//! runtime applies it to every `config.json` it is handed, after parsing and **before anything
//! is created**, so a rejected config leaves no process, cgroup or state behind.
//!
//! # File format (TOML)
//!
//! Read from `--policy FILE` (a global flag, so each Docker `runtimeArgs` entry can name its
//! own file), else from `$ISO_POLICY`, else from `/etc/iso/policy.toml` if it exists (absent
//! file: no policy). A commented example is `policy.example.toml` in this crate.
//!
//! ```toml
//! [defaults]                 # only where the config leaves the value unset
//! pids = 500                 # linux.resources.pids.limit (0 is a real limit, -1 counts as set)
//! memory = 536870912         # linux.resources.memory.limit, bytes
//! memory_swap = 1073741824   # linux.resources.memory.swap (memory + swap)
//! cpu_quota = 100000         # linux.resources.cpu.quota, with cpu_period
//! cpu_period = 100000
//! cpu_shares = 1024
//! no_new_privileges = true   # process.noNewPrivileges
//! seccomp = "default"        # iso-seccomp's built-in profile when linux.seccomp is absent
//! readonly_root = true       # root.readonly
//! masked_paths = ["/proc/kcore"]     # appended to linux.maskedPaths if missing
//! readonly_paths = ["/proc/sys"]     # appended to linux.readonlyPaths if missing
//! rlimits = { nofile = { soft = 1024, hard = 4096 } }   # nofile, nproc, core
//!
//! [ceilings.pids]            # every ceiling: action = "clamp" (lower + warn) or "reject"
//! max = 1000
//! action = "clamp"
//! [ceilings.memory]
//! max = 2147483648
//! [ceilings.cpu]
//! max_cpus = 2.0             # quota / period
//! [ceilings.capabilities]
//! allowed = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
//! [ceilings.namespaces]
//! forbid_host = ["network", "pid"]   # host namespaces that may not be joined
//! [ceilings.devices]
//! forbid = ["a *:* rwm"]     # device cgroup grants that may not be given
//! [ceilings.mounts]
//! forbid_sources = ["/etc", "/var/run/docker.sock"]
//! [ceilings.sysctls]
//! forbid = ["kernel.*", "vm.*"]
//!
//! [landlock]                 # a Landlock ruleset for every container (crate::landlock)
//! rootfs = "read-only"       # every writing right denied ...
//! writable = ["/tmp", "/run", "/dev"]  # ... except beneath these container paths
//! bind_tcp = [8080]          # the only TCP ports bind(2) may use (ABI 4)
//! connect_tcp = [53, 443]    # the only TCP ports connect(2) may use (ABI 4)
//! compatibility = "best-effort"        # or "hard-requirement": fail create if not enforced
//! ```
//!
//! The default action is `reject`. An unset pids, memory or cpu limit means "unlimited" and so
//! exceeds a ceiling: `clamp` sets it to the maximum, `reject` refuses the config. Defaults are
//! applied before ceilings; applying a policy twice changes nothing the second time.
//!
//! # Transparency
//!
//! Every effective change is a [`Change`]; the command line logs them (`--log`, text or JSON)
//! and `create` records them in the container's annotations ([`ANNOTATION_CHANGES`], with the
//! policy file in [`ANNOTATION_FILE`]), visible in `iso-runtime state`.
//!
//! ```
//! use iso_runtime::policy::Policy;
//!
//! let policy = Policy::from_toml("[defaults]\npids = 500\n")?;
//! let spec = oci_spec::runtime::Spec::default();
//! let (effective, changes) = policy.apply(&spec)?;
//! let pids = effective.linux().as_ref().and_then(|l| l.resources().as_ref())
//!     .and_then(|r| r.pids().as_ref()).map(|p| p.limit());
//! assert_eq!(pids, Some(500));
//! assert_eq!(changes[0].rule, "defaults.pids");
//! # Ok::<(), iso_runtime::Error>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::Error;

/// Where the policy is read from when neither `--policy` nor `ISO_POLICY` is given.
pub const DEFAULT_PATH: &str = "/etc/iso/policy.toml";
/// The environment variable naming a policy file.
pub const ENV: &str = "ISO_POLICY";
/// Annotation holding the JSON list of changes the policy made.
pub const ANNOTATION_CHANGES: &str = "org.iso.policy.changes";
/// Annotation holding the policy file that was applied.
pub const ANNOTATION_FILE: &str = "org.iso.policy.file";

/// What a ceiling does with a config that exceeds it.
///
/// ```
/// let a: iso_runtime::policy::Action = serde_json::from_str("\"clamp\"").unwrap();
/// assert_eq!(a, iso_runtime::policy::Action::Clamp);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Lower the value (or drop the entry) and log a warning.
    Clamp,
    /// Fail `create` with an error naming the rule and the field.
    #[default]
    Reject,
}

/// A soft and hard resource limit.
///
/// ```
/// let r = iso_runtime::policy::Rlimit { soft: 1024, hard: 4096 };
/// assert!(r.soft <= r.hard);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rlimit {
    /// The soft limit.
    pub soft: u64,
    /// The hard limit.
    pub hard: u64,
}

/// Values filled in where the config leaves them unset (`[defaults]`).
///
/// ```
/// let d = iso_runtime::policy::Defaults { pids: Some(500), ..Default::default() };
/// assert!(d.memory.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// `linux.resources.pids.limit`.
    pub pids: Option<i64>,
    /// `linux.resources.memory.limit`, in bytes.
    pub memory: Option<i64>,
    /// `linux.resources.memory.swap` (memory plus swap), in bytes.
    pub memory_swap: Option<i64>,
    /// `linux.resources.cpu.quota`, in microseconds per period.
    pub cpu_quota: Option<i64>,
    /// `linux.resources.cpu.period`, in microseconds.
    pub cpu_period: Option<u64>,
    /// `linux.resources.cpu.shares`.
    pub cpu_shares: Option<u64>,
    /// `process.rlimits` by short name: `nofile`, `nproc`, `core`.
    #[serde(default)]
    pub rlimits: BTreeMap<String, Rlimit>,
    /// `process.noNewPrivileges`.
    pub no_new_privileges: Option<bool>,
    /// `"default"`: the built-in iso-seccomp profile when `linux.seccomp` is absent.
    pub seccomp: Option<String>,
    /// Paths appended to `linux.maskedPaths` when missing.
    #[serde(default)]
    pub masked_paths: Vec<String>,
    /// Paths appended to `linux.readonlyPaths` when missing.
    #[serde(default)]
    pub readonly_paths: Vec<String>,
    /// `root.readonly`.
    pub readonly_root: Option<bool>,
}

/// A numeric ceiling (`[ceilings.pids]`, `[ceilings.memory]`).
///
/// ```
/// let l = iso_runtime::policy::Limit { max: 1000, action: Default::default() };
/// assert_eq!(l.action, iso_runtime::policy::Action::Reject);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// The largest value allowed.
    pub max: i64,
    /// What to do above it.
    #[serde(default)]
    pub action: Action,
}

/// The cpu ceiling (`[ceilings.cpu]`): at most `max_cpus` = quota / period.
///
/// ```
/// let c = iso_runtime::policy::CpuLimit { max_cpus: 1.5, action: Default::default() };
/// assert!(c.max_cpus > 1.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CpuLimit {
    /// Cpus' worth of time per period.
    pub max_cpus: f64,
    /// What to do above it.
    #[serde(default)]
    pub action: Action,
}

/// A list-valued ceiling: capabilities allowed, namespaces, devices, mount sources or sysctls
/// forbidden.
///
/// ```
/// let r = iso_runtime::policy::ListRule { items: vec!["kernel.*".into()], action: Default::default() };
/// assert_eq!(r.items.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ListRule {
    /// The entries (`allowed`, `forbid_host`, `forbid` or `forbid_sources` in the file).
    #[serde(
        alias = "allowed",
        alias = "forbid_host",
        alias = "forbid",
        alias = "forbid_sources"
    )]
    pub items: Vec<String>,
    /// What to do with a config that breaks the rule.
    #[serde(default)]
    pub action: Action,
}

/// Limits applied to every config (`[ceilings]`).
///
/// ```
/// let c = iso_runtime::policy::Ceilings::default();
/// assert!(c.pids.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Ceilings {
    /// Maximum `linux.resources.pids.limit`.
    pub pids: Option<Limit>,
    /// Maximum `linux.resources.memory.limit`.
    pub memory: Option<Limit>,
    /// Maximum cpu quota / period.
    pub cpu: Option<CpuLimit>,
    /// The capabilities a container may hold (`allowed`), in every set.
    pub capabilities: Option<ListRule>,
    /// Namespace types whose host namespace may not be joined (`forbid_host`): absent from
    /// `linux.namespaces`, or given a `path` naming the runtime's own namespace.
    pub namespaces: Option<ListRule>,
    /// Device cgroup grants that may not be given (`forbid`, `"a *:* rwm"` style).
    pub devices: Option<ListRule>,
    /// Host paths that may not be bind-mounted (`forbid_sources`), nor their parents.
    pub mounts: Option<ListRule>,
    /// Sysctls that may not be set (`forbid`; a trailing `*` matches a prefix).
    pub sysctls: Option<ListRule>,
}

/// A runtime policy: defaults and ceilings.
///
/// ```
/// let p = iso_runtime::policy::Policy::from_toml("[ceilings.pids]\nmax = 10\naction = \"clamp\"\n")?;
/// assert_eq!(p.ceilings.pids.map(|l| l.max), Some(10));
/// # Ok::<(), iso_runtime::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// `[defaults]`.
    #[serde(default)]
    pub defaults: Defaults,
    /// `[ceilings]`.
    #[serde(default)]
    pub ceilings: Ceilings,
    /// `[landlock]`: a Landlock ruleset for every container (see [`crate::landlock`]),
    /// recorded in the annotation [`crate::landlock::POLICY_ANNOTATION`].
    pub landlock: Option<crate::landlock::LandlockPolicy>,
    /// The file it was read from, if any.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// One effective change the policy made to a config.
///
/// ```
/// let c = iso_runtime::policy::Change {
///     rule: "ceilings.pids".into(), field: "linux.resources.pids.limit".into(),
///     before: "5000".into(), after: "1000".into(),
/// };
/// assert_eq!(c.to_string(), "ceilings.pids: linux.resources.pids.limit 5000 -> 1000");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The policy rule (`defaults.pids`, `ceilings.capabilities`).
    pub rule: String,
    /// The config field, as a JSON path.
    pub field: String,
    /// The value before (`unset` when absent).
    pub before: String,
    /// The value after (`removed` when dropped).
    pub after: String,
}

impl Change {
    /// Whether a ceiling lowered something (logged as a warning) rather than a default filling
    /// an unset value.
    ///
    /// ```
    /// let c = iso_runtime::policy::Change { rule: "ceilings.cpu".into(), field: "f".into(),
    ///     before: "1".into(), after: "0".into() };
    /// assert!(c.is_clamp());
    /// ```
    pub fn is_clamp(&self) -> bool {
        self.rule.starts_with("ceilings.")
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} {} -> {}",
            self.rule, self.field, self.before, self.after
        )
    }
}

const RLIMITS: [(&str, &str); 3] = [
    ("nofile", "RLIMIT_NOFILE"),
    ("nproc", "RLIMIT_NPROC"),
    ("core", "RLIMIT_CORE"),
];
const NAMESPACES: [(&str, &str); 8] = [
    ("pid", "pid"),
    ("network", "net"),
    ("mount", "mnt"),
    ("ipc", "ipc"),
    ("uts", "uts"),
    ("user", "user"),
    ("cgroup", "cgroup"),
    ("time", "time"),
];
const CAP_SETS: [&str; 5] = [
    "bounding",
    "effective",
    "inheritable",
    "permitted",
    "ambient",
];

fn invalid(reason: String) -> Error {
    Error::InvalidArgument {
        what: "policy",
        value: String::new(),
        reason,
    }
}

impl Policy {
    /// Parses and checks a policy document.
    ///
    /// ```
    /// assert!(iso_runtime::policy::Policy::from_toml("[defaults]\nbogus = 1\n").is_err());
    /// ```
    pub fn from_toml(text: &str) -> Result<Policy, Error> {
        let policy: Policy = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        policy.validate()?;
        Ok(policy)
    }

    /// Reads a policy file.
    ///
    /// ```no_run
    /// let p = iso_runtime::policy::Policy::load("/etc/iso/policy.toml".as_ref())?;
    /// # Ok::<(), iso_runtime::Error>(())
    /// ```
    pub fn load(path: &Path) -> Result<Policy, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("read policy", path, e))?;
        let mut policy = Policy::from_toml(&text).map_err(|e| match e {
            Error::InvalidArgument { reason, .. } => Error::Config {
                path: path.to_path_buf(),
                reason,
            },
            other => other,
        })?;
        policy.source = Some(path.to_path_buf());
        Ok(policy)
    }

    /// Finds the policy in force: `flag` (the `--policy` value) if given, else `$ISO_POLICY`
    /// if set and non-empty (both must exist), else [`DEFAULT_PATH`] if it exists, else none.
    ///
    /// ```no_run
    /// let policy = iso_runtime::policy::Policy::locate(None)?;
    /// # Ok::<(), iso_runtime::Error>(())
    /// ```
    pub fn locate(flag: Option<&Path>) -> Result<Option<Policy>, Error> {
        if let Some(path) = flag {
            return Policy::load(path).map(Some);
        }
        if let Some(env) = std::env::var_os(ENV).filter(|v| !v.is_empty()) {
            return Policy::load(Path::new(&env)).map(Some);
        }
        let default = Path::new(DEFAULT_PATH);
        match std::fs::metadata(default) {
            Ok(_) => Policy::load(default).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("stat policy", default, e)),
        }
    }

    fn validate(&self) -> Result<(), Error> {
        let d = &self.defaults;
        for (name, r) in &d.rlimits {
            if !RLIMITS.iter().any(|(n, _)| n == name) {
                return Err(invalid(format!(
                    "defaults.rlimits.{name}: must be nofile, nproc or core"
                )));
            }
            if r.soft > r.hard {
                return Err(invalid(format!("defaults.rlimits.{name}: soft above hard")));
            }
        }
        if let Some(s) = &d.seccomp {
            if s != "default" {
                return Err(invalid(format!(
                    "defaults.seccomp: {s:?} (only \"default\")"
                )));
            }
        }
        if let (Some(m), Some(s)) = (d.memory, d.memory_swap) {
            if s >= 0 && m > s {
                return Err(invalid(
                    "defaults.memory_swap: below defaults.memory".into(),
                ));
            }
        }
        for p in d.masked_paths.iter().chain(&d.readonly_paths) {
            if !p.starts_with('/') {
                return Err(invalid(format!("defaults: path {p:?} is not absolute")));
            }
        }
        if let Some(landlock) = &self.landlock {
            landlock.validate().map_err(invalid)?;
        }
        let c = &self.ceilings;
        for (name, l) in [("pids", c.pids), ("memory", c.memory)] {
            if let Some(l) = l {
                if l.max < 0 {
                    return Err(invalid(format!("ceilings.{name}.max: negative")));
                }
            }
        }
        if let Some(cpu) = c.cpu {
            if !(cpu.max_cpus.is_finite() && cpu.max_cpus > 0.0 && cpu.max_cpus < 1e6) {
                return Err(invalid("ceilings.cpu.max_cpus: must be positive".into()));
            }
        }
        if let Some(ns) = &c.namespaces {
            for n in &ns.items {
                if !NAMESPACES.iter().any(|(t, _)| t == n) {
                    return Err(invalid(format!("ceilings.namespaces: unknown type {n:?}")));
                }
            }
        }
        if let Some(dev) = &c.devices {
            for d in &dev.items {
                DeviceRule::parse(d).ok_or_else(|| {
                    invalid(format!(
                        "ceilings.devices: {d:?} is not \"TYPE MAJOR:MINOR ACCESS\""
                    ))
                })?;
            }
        }
        if let Some(m) = &c.mounts {
            for p in &m.items {
                if !p.starts_with('/') {
                    return Err(invalid(format!("ceilings.mounts: {p:?} is not absolute")));
                }
            }
        }
        Ok(())
    }

    /// Applies the policy to a config: defaults first, then ceilings. Returns the effective
    /// config and the changes made, or [`Error::Policy`] naming the rule and field a
    /// `reject` ceiling refused.
    ///
    /// ```
    /// use iso_runtime::policy::Policy;
    /// let p = Policy::from_toml("[ceilings.sysctls]\nforbid = [\"kernel.*\"]\n")?;
    /// let spec: oci_spec::runtime::Spec = serde_json::from_str(
    ///     r#"{"ociVersion":"1.0.2","linux":{"sysctl":{"kernel.shmmax":"1"}}}"#).unwrap();
    /// let err = p.apply(&spec).unwrap_err();
    /// assert!(err.to_string().contains("ceilings.sysctls"));
    /// # Ok::<(), iso_runtime::Error>(())
    /// ```
    pub fn apply(&self, spec: &Spec) -> Result<(Spec, Vec<Change>), Error> {
        let mut v = serde_json::to_value(spec).map_err(|e| reject("policy", "config", e))?;
        let mut changes = Vec::new();
        self.apply_defaults(&mut v, &mut changes);
        self.apply_ceilings(&mut v, &mut changes, false)?;
        if let Some(landlock) = &self.landlock {
            record_landlock(landlock, &mut v, &mut changes);
        }
        let spec: Spec = serde_json::from_value(v).map_err(|e| reject("policy", "config", e))?;
        Ok((spec, changes))
    }

    /// [`Policy::apply`], then records the changes and the policy file in the config's
    /// annotations ([`ANNOTATION_CHANGES`], [`ANNOTATION_FILE`]) when there are any.
    ///
    /// ```
    /// let p = iso_runtime::policy::Policy::from_toml("[defaults]\npids = 5\n")?;
    /// let (spec, _) = p.apply_annotated(&oci_spec::runtime::Spec::default())?;
    /// let notes = spec.annotations().clone().unwrap_or_default();
    /// assert!(notes[iso_runtime::policy::ANNOTATION_CHANGES].contains("defaults.pids"));
    /// # Ok::<(), iso_runtime::Error>(())
    /// ```
    pub fn apply_annotated(&self, spec: &Spec) -> Result<(Spec, Vec<Change>), Error> {
        let (mut spec, changes) = self.apply(spec)?;
        if !changes.is_empty() {
            let mut notes = spec.annotations().clone().unwrap_or_default();
            let list = serde_json::to_string(&changes).unwrap_or_default();
            notes.insert(ANNOTATION_CHANGES.into(), list);
            if let Some(src) = &self.source {
                notes.insert(ANNOTATION_FILE.into(), src.display().to_string());
            }
            spec.set_annotations(Some(notes));
        }
        Ok((spec, changes))
    }

    fn apply_defaults(&self, v: &mut Value, changes: &mut Vec<Change>) {
        let d = &self.defaults;
        default_resources(d, v, changes);
        if d.seccomp.is_some() && !is_set(v, &["linux", "seccomp"]) {
            default_seccomp(v, changes);
        }
        if is_set(v, &["process"]) {
            default_rlimits(d, v, changes);
        }
        default_paths(d, v, changes);
    }

    /// Applies the pids, memory and cpu ceilings to the resources of an `update` (values it
    /// leaves unset are not changed by the update, so they are not checked). The fields are
    /// named as in `config.json` (`linux.resources.pids.limit`).
    ///
    /// ```
    /// use iso_runtime::policy::Policy;
    /// let p = Policy::from_toml("[ceilings.pids]\nmax = 100\naction = \"clamp\"\n")?;
    /// let res: oci_spec::runtime::LinuxResources =
    ///     serde_json::from_str(r#"{"pids":{"limit":-1}}"#).unwrap();
    /// let (res, changes) = p.apply_update(&res)?;
    /// assert_eq!(res.pids().as_ref().map(|p| p.limit()), Some(100));
    /// assert_eq!(changes.len(), 1);
    /// # Ok::<(), iso_runtime::Error>(())
    /// ```
    pub fn apply_update(
        &self,
        res: &oci_spec::runtime::LinuxResources,
    ) -> Result<(oci_spec::runtime::LinuxResources, Vec<Change>), Error> {
        let res = serde_json::to_value(res).map_err(|e| reject("policy", "resources", e))?;
        let mut v = json!({ "linux": { "resources": res } });
        let mut changes = Vec::new();
        self.apply_ceilings(&mut v, &mut changes, true)?;
        let res = v["linux"]["resources"].take();
        let res = serde_json::from_value(res).map_err(|e| reject("policy", "resources", e))?;
        Ok((res, changes))
    }

    /// Applies the capability ceiling to the process of an `exec` (`--cap` must not add a
    /// capability the policy does not allow).
    ///
    /// ```
    /// use iso_runtime::policy::Policy;
    /// let p = Policy::from_toml("[ceilings.capabilities]\nallowed = [\"CAP_KILL\"]\n")?;
    /// let proc: oci_spec::runtime::Process = serde_json::from_str(
    ///     r#"{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0},
    ///         "capabilities":{"bounding":["CAP_SYS_ADMIN"]}}"#).unwrap();
    /// assert!(p.apply_exec(&proc).is_err());
    /// # Ok::<(), iso_runtime::Error>(())
    /// ```
    pub fn apply_exec(
        &self,
        process: &oci_spec::runtime::Process,
    ) -> Result<(oci_spec::runtime::Process, Vec<Change>), Error> {
        let only_caps = Policy {
            ceilings: Ceilings {
                capabilities: self.ceilings.capabilities.clone(),
                ..Ceilings::default()
            },
            ..Policy::default()
        };
        let p = serde_json::to_value(process).map_err(|e| reject("policy", "process", e))?;
        let mut v = json!({ "process": p });
        let mut changes = Vec::new();
        only_caps.apply_ceilings(&mut v, &mut changes, false)?;
        let p = v["process"].take();
        let p = serde_json::from_value(p).map_err(|e| reject("policy", "process", e))?;
        Ok((p, changes))
    }

    /// With `update`, only the numeric ceilings, and only on values that are set.
    fn apply_ceilings(
        &self,
        v: &mut Value,
        changes: &mut Vec<Change>,
        update: bool,
    ) -> Result<(), Error> {
        let c = &self.ceilings;
        ceil_limits(c, v, changes, update)?;
        if let Some(cpu) = c.cpu {
            ceil_cpu(cpu, v, changes, update)?;
        }
        if update {
            return Ok(());
        }
        if let Some(rule) = &c.capabilities {
            ceil_capabilities(rule, v, changes)?;
        }
        if let Some(rule) = &c.namespaces {
            ceil_namespaces(rule, v, changes)?;
        }
        if let Some(rule) = &c.devices {
            ceil_devices(rule, v, changes)?;
        }
        if let Some(rule) = &c.mounts {
            ceil_mounts(rule, v, changes)?;
        }
        if let Some(rule) = &c.sysctls {
            ceil_sysctls(rule, v, changes)?;
        }
        Ok(())
    }
}

/// `ceilings.pids` and `ceilings.memory` (with an unset value counting as unlimited unless
/// `update`).
fn ceil_limits(
    c: &Ceilings,
    v: &mut Value,
    changes: &mut Vec<Change>,
    update: bool,
) -> Result<(), Error> {
    for (name, limit) in [("pids", c.pids), ("memory", c.memory)] {
        let Some(limit) = limit else { continue };
        let path = ["linux", "resources", name, "limit"];
        let cur = get(v, &path).and_then(Value::as_i64);
        let over = match cur {
            Some(n) => n < 0 || n > limit.max,
            None => !update,
        };
        if !over {
            continue;
        }
        let field = path.join(".");
        let before = cur.map_or("unset (unlimited)".to_owned(), |n| n.to_string());
        let rule = format!("ceilings.{name}");
        if limit.action == Action::Reject {
            return Err(reject(
                &rule,
                &field,
                format!("{before} exceeds the maximum {}", limit.max),
            ));
        }
        set(v, &path, json!(limit.max));
        if name == "memory" {
            let swap_path = ["linux", "resources", "memory", "swap"];
            if let Some(s) = get(v, &swap_path).and_then(Value::as_i64) {
                if s >= 0 && s < limit.max {
                    set(v, &swap_path, json!(limit.max));
                }
            }
        }
        changes.push(Change {
            rule,
            field,
            before,
            after: limit.max.to_string(),
        });
    }
    Ok(())
}

/// `ceilings.cpu`: the quota at most `max_cpus` periods.
fn ceil_cpu(
    cpu: CpuLimit,
    v: &mut Value,
    changes: &mut Vec<Change>,
    update: bool,
) -> Result<(), Error> {
    let period = get(v, &["linux", "resources", "cpu", "period"])
        .and_then(Value::as_u64)
        .filter(|p| *p > 0)
        .unwrap_or(100_000);
    let max = (cpu.max_cpus * period as f64).floor().max(1000.0) as i64;
    let qpath = ["linux", "resources", "cpu", "quota"];
    let cur = get(v, &qpath).and_then(Value::as_i64);
    let over = match cur {
        Some(q) => q <= 0 || q > max,
        None => !update,
    };
    if over {
        let before = cur.map_or("unset (unlimited)".to_owned(), |n| n.to_string());
        if cpu.action == Action::Reject {
            return Err(reject(
                "ceilings.cpu",
                "linux.resources.cpu.quota",
                format!(
                    "{before} exceeds {} cpus ({max} per period {period})",
                    cpu.max_cpus
                ),
            ));
        }
        set(v, &qpath, json!(max));
        set(v, &["linux", "resources", "cpu", "period"], json!(period));
        changes.push(Change {
            rule: "ceilings.cpu".into(),
            field: "linux.resources.cpu.quota".into(),
            before,
            after: max.to_string(),
        });
    }
    Ok(())
}

/// `ceilings.capabilities`: every set keeps only allowed capabilities.
fn ceil_capabilities(
    rule: &ListRule,
    v: &mut Value,
    changes: &mut Vec<Change>,
) -> Result<(), Error> {
    let allowed: Vec<String> = rule.items.iter().map(|c| cap_name(c)).collect();
    for set_name in CAP_SETS {
        let path = ["process", "capabilities", set_name];
        let Some(list) = get_mut(v, &path).and_then(Value::as_array_mut) else {
            continue;
        };
        let mut dropped = Vec::new();
        list.retain(|c| {
            let name = c.as_str().map(cap_name).unwrap_or_default();
            let ok = allowed.contains(&name);
            if !ok {
                dropped.push(name);
            }
            ok
        });
        if dropped.is_empty() {
            continue;
        }
        let field = path.join(".");
        if rule.action == Action::Reject {
            return Err(reject(
                "ceilings.capabilities",
                &field,
                format!("{} not in the allowed set", dropped.join(", ")),
            ));
        }
        changes.push(Change {
            rule: "ceilings.capabilities".into(),
            field,
            before: dropped.join(","),
            after: "removed".into(),
        });
    }
    Ok(())
}

/// `ceilings.namespaces`: these types must be the container's own, not the host's.
fn ceil_namespaces(rule: &ListRule, v: &mut Value, changes: &mut Vec<Change>) -> Result<(), Error> {
    for ty in &rule.items {
        let file = NAMESPACES
            .iter()
            .find(|(t, _)| t == ty)
            .map_or("", |(_, f)| f);
        let Some(list) = array_at(v, &["linux", "namespaces"]) else {
            continue;
        };
        let idx = list
            .iter()
            .position(|e| e.get("type").and_then(Value::as_str) == Some(ty));
        let (host, before) = match idx {
            None => (true, "absent (shares the host's)".to_owned()),
            Some(i) => match list[i].get("path").and_then(Value::as_str) {
                Some(p) if !p.is_empty() => (is_own_namespace(p, file), p.to_owned()),
                _ => (false, String::new()),
            },
        };
        if !host {
            continue;
        }
        let field = format!("linux.namespaces[{ty}]");
        if rule.action == Action::Reject || ty == "user" {
            return Err(reject(
                "ceilings.namespaces",
                &field,
                format!("{before}: joining the host's {ty} namespace is forbidden"),
            ));
        }
        match idx {
            Some(i) => list[i] = json!({"type": ty}),
            None => list.push(json!({"type": ty})),
        }
        changes.push(Change {
            rule: "ceilings.namespaces".into(),
            field,
            before,
            after: "new namespace".into(),
        });
    }
    Ok(())
}

/// `ceilings.devices`: no allow rule may grant a forbidden access.
fn ceil_devices(rule: &ListRule, v: &mut Value, changes: &mut Vec<Change>) -> Result<(), Error> {
    let forbidden: Vec<DeviceRule> = rule
        .items
        .iter()
        .filter_map(|d| DeviceRule::parse(d))
        .collect();
    if let Some(list) = get_mut(v, &["linux", "resources", "devices"]).and_then(Value::as_array_mut)
    {
        let mut i = 0;
        while i < list.len() {
            let granted = DeviceRule::from_json(&list[i]);
            let bad: String = match &granted {
                Some(g) => g
                    .access
                    .chars()
                    .filter(|a| forbidden.iter().any(|f| f.overlaps(g, *a)))
                    .collect(),
                None => String::new(),
            };
            if bad.is_empty() {
                i += 1;
                continue;
            }
            let field = format!("linux.resources.devices[{i}]");
            let shown = granted.map(|g| g.to_string()).unwrap_or_default();
            if rule.action == Action::Reject {
                return Err(reject(
                    "ceilings.devices",
                    &field,
                    format!("allow {shown:?} grants forbidden access {bad:?}"),
                ));
            }
            let keep: String = DeviceRule::from_json(&list[i])
                .map(|g| g.access.chars().filter(|a| !bad.contains(*a)).collect())
                .unwrap_or_default();
            changes.push(Change {
                rule: "ceilings.devices".into(),
                field,
                before: shown,
                after: if keep.is_empty() {
                    "removed".into()
                } else {
                    format!("access {keep}")
                },
            });
            if keep.is_empty() {
                list.remove(i);
            } else {
                if let Some(o) = list[i].as_object_mut() {
                    o.insert("access".into(), json!(keep));
                }
                i += 1;
            }
        }
    }
    Ok(())
}

/// `ceilings.mounts`: no bind mount of a forbidden host path.
fn ceil_mounts(rule: &ListRule, v: &mut Value, changes: &mut Vec<Change>) -> Result<(), Error> {
    if let Some(list) = get_mut(v, &["mounts"]).and_then(Value::as_array_mut) {
        let mut i = 0;
        let mut shown_index = 0;
        while i < list.len() {
            let m = &list[i];
            let hit = bind_source(m).and_then(|src| {
                rule.items
                    .iter()
                    .find(|p| path_conflicts(&src, Path::new(p)))
                    .map(|p| (src, p.clone()))
            });
            let Some((src, forbidden)) = hit else {
                i += 1;
                shown_index += 1;
                continue;
            };
            let dest = m
                .get("destination")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let field = format!("mounts[{shown_index}]");
            let what = format!(
                "bind mount of {} on {dest} (forbidden host path {forbidden})",
                src.display()
            );
            if rule.action == Action::Reject {
                return Err(reject("ceilings.mounts", &field, what));
            }
            list.remove(i);
            shown_index += 1;
            changes.push(Change {
                rule: "ceilings.mounts".into(),
                field,
                before: what,
                after: "removed".into(),
            });
        }
    }
    Ok(())
}

/// `ceilings.sysctls`: no forbidden sysctl.
fn ceil_sysctls(rule: &ListRule, v: &mut Value, changes: &mut Vec<Change>) -> Result<(), Error> {
    if let Some(map) = get_mut(v, &["linux", "sysctl"]).and_then(Value::as_object_mut) {
        let bad: Vec<String> = map
            .keys()
            .filter(|k| rule.items.iter().any(|p| sysctl_matches(p, k)))
            .cloned()
            .collect();
        for k in bad {
            let field = format!("linux.sysctl.{k}");
            if rule.action == Action::Reject {
                return Err(reject("ceilings.sysctls", &field, "is a forbidden sysctl"));
            }
            let before = map.remove(&k).map(|v| v.to_string()).unwrap_or_default();
            changes.push(Change {
                rule: "ceilings.sysctls".into(),
                field,
                before,
                after: "removed".into(),
            });
        }
    }
    Ok(())
}

/// `[landlock]`: its section, as JSON, in the annotation the plan reads (replacing any value
/// the config gave it: the site's ruleset is the policy's to set).
fn record_landlock(
    landlock: &crate::landlock::LandlockPolicy,
    v: &mut Value,
    changes: &mut Vec<Change>,
) {
    let key = crate::landlock::POLICY_ANNOTATION;
    let value = serde_json::to_string(landlock).unwrap_or_default();
    let before = get(v, &["annotations", key]).and_then(Value::as_str);
    if before == Some(value.as_str()) {
        return;
    }
    changes.push(Change {
        rule: "landlock".into(),
        field: format!("annotations[{key:?}]"),
        before: before.unwrap_or("unset").to_owned(),
        after: value.clone(),
    });
    set(v, &["annotations", key], json!(value));
}

/// Sets `path` to `val` unless it is set, and records the change (`defaults.<rule>`).
fn fill(v: &mut Value, changes: &mut Vec<Change>, path: &[&str], rule: &str, val: Value) {
    if is_set(v, path) {
        return;
    }
    changes.push(Change {
        rule: format!("defaults.{rule}"),
        field: path.join("."),
        before: "unset".into(),
        after: val.to_string(),
    });
    set(v, path, val);
}

/// The default pids, memory, swap and cpu limits, `noNewPrivileges` and `root.readonly`,
/// in that order.
fn default_resources(d: &Defaults, v: &mut Value, changes: &mut Vec<Change>) {
    if let Some(p) = d.pids {
        let path = ["linux", "resources", "pids", "limit"];
        fill(v, changes, &path, "pids", json!(p));
    }
    if let Some(mut m) = d.memory {
        // Never make an existing swap total smaller than the memory limit.
        let swap = get(v, &["linux", "resources", "memory", "swap"]).and_then(Value::as_i64);
        if let Some(s) = swap.filter(|s| *s >= 0) {
            m = m.min(s);
        }
        let path = ["linux", "resources", "memory", "limit"];
        fill(v, changes, &path, "memory", json!(m));
    }
    if let Some(mut s) = d.memory_swap {
        let mem = get(v, &["linux", "resources", "memory", "limit"]).and_then(Value::as_i64);
        if let Some(m) = mem {
            if s >= 0 && (m < 0 || s < m) {
                s = if m < 0 { -1 } else { m };
            }
        }
        let path = ["linux", "resources", "memory", "swap"];
        fill(v, changes, &path, "memory_swap", json!(s));
    }
    let plain: [(Option<Value>, &[&str], &str); 4] = [
        (
            d.cpu_quota.map(|q| json!(q)),
            &["linux", "resources", "cpu", "quota"],
            "cpu_quota",
        ),
        (
            d.cpu_period.map(|p| json!(p)),
            &["linux", "resources", "cpu", "period"],
            "cpu_period",
        ),
        (
            d.cpu_shares.map(|s| json!(s)),
            &["linux", "resources", "cpu", "shares"],
            "cpu_shares",
        ),
        (
            d.no_new_privileges.map(|n| json!(n)),
            &["process", "noNewPrivileges"],
            "no_new_privileges",
        ),
    ];
    for (val, path, rule) in plain {
        if let Some(val) = val {
            fill(v, changes, path, rule, val);
        }
    }
    if let Some(r) = d.readonly_root {
        if get(v, &["root"]).is_some_and(Value::is_object) {
            fill(v, changes, &["root", "readonly"], "readonly_root", json!(r));
        }
    }
}

/// The built-in seccomp profile for a config without one (allowing what the bounding set
/// needs).
fn default_seccomp(v: &mut Value, changes: &mut Vec<Change>) {
    let caps: Vec<&str> = get(v, &["process", "capabilities", "bounding"])
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let profile = iso_seccomp::default_profile(&caps);
    if let Some(val) = oci_spec::runtime::LinuxSeccomp::try_from(&profile)
        .ok()
        .and_then(|s| serde_json::to_value(s).ok())
    {
        changes.push(Change {
            rule: "defaults.seccomp".into(),
            field: "linux.seccomp".into(),
            before: "unset".into(),
            after: "built-in default profile".into(),
        });
        set(v, &["linux", "seccomp"], val);
    }
}

/// The default rlimits the process does not set itself.
fn default_rlimits(d: &Defaults, v: &mut Value, changes: &mut Vec<Change>) {
    for (name, r) in &d.rlimits {
        let Some((_, ty)) = RLIMITS.iter().find(|(n, _)| n == name) else {
            continue;
        };
        let Some(list) = array_at(v, &["process", "rlimits"]) else {
            continue;
        };
        if list
            .iter()
            .any(|e| e.get("type").and_then(Value::as_str) == Some(ty))
        {
            continue;
        }
        list.push(json!({"type": ty, "soft": r.soft, "hard": r.hard}));
        changes.push(Change {
            rule: format!("defaults.rlimits.{name}"),
            field: format!("process.rlimits[{ty}]"),
            before: "unset".into(),
            after: format!("{}/{}", r.soft, r.hard),
        });
    }
}

/// Masked and read-only paths added to the configuration's lists.
fn default_paths(d: &Defaults, v: &mut Value, changes: &mut Vec<Change>) {
    for (key, rule, extra) in [
        ("maskedPaths", "masked_paths", &d.masked_paths),
        ("readonlyPaths", "readonly_paths", &d.readonly_paths),
    ] {
        for p in extra {
            let Some(list) = array_at(v, &["linux", key]) else {
                continue;
            };
            if list.iter().any(|e| e.as_str() == Some(p)) {
                continue;
            }
            list.push(json!(p));
            changes.push(Change {
                rule: format!("defaults.{rule}"),
                field: format!("linux.{key}"),
                before: "absent".into(),
                after: p.clone(),
            });
        }
    }
}

fn reject(rule: &str, field: &str, reason: impl ToString) -> Error {
    Error::Policy {
        rule: rule.to_owned(),
        field: field.to_owned(),
        reason: reason.to_string(),
    }
}

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for k in path {
        cur = cur.get(k)?;
    }
    (!cur.is_null()).then_some(cur)
}

fn get_mut<'a>(v: &'a mut Value, path: &[&str]) -> Option<&'a mut Value> {
    let mut cur = v;
    for k in path {
        cur = cur.get_mut(k)?;
    }
    (!cur.is_null()).then_some(cur)
}

fn is_set(v: &Value, path: &[&str]) -> bool {
    get(v, path).is_some()
}

/// Sets `path` to `val`, creating objects on the way (a null or non-object is replaced).
fn set(v: &mut Value, path: &[&str], val: Value) {
    let mut cur = v;
    for k in path {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Value::Object(map) = cur else { return };
        cur = map.entry(k.to_string()).or_insert(Value::Null);
    }
    *cur = val;
}

/// The array at `path`, created empty if missing (always `Some`).
fn array_at<'a>(v: &'a mut Value, path: &[&str]) -> Option<&'a mut Vec<Value>> {
    if !get(v, path).is_some_and(Value::is_array) {
        set(v, path, json!([]));
    }
    get_mut(v, path).and_then(Value::as_array_mut)
}

fn cap_name(c: &str) -> String {
    let up = c.trim().to_ascii_uppercase();
    if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// Whether `path` names the namespace this runtime runs in (so joining it joins the host's).
fn is_own_namespace(path: &str, file: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    let own = std::fs::metadata(format!("/proc/self/ns/{file}"));
    let other = std::fs::metadata(path);
    match (own, other) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

fn sysctl_matches(pattern: &str, key: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => key.starts_with(prefix),
        None => pattern == key,
    }
}

/// The host source of a bind mount, lexically normalised, if `m` is one with an absolute
/// source.
fn bind_source(m: &Value) -> Option<PathBuf> {
    let ty = m.get("type").and_then(Value::as_str).unwrap_or("");
    let opts = m.get("options").and_then(Value::as_array);
    let bind = ty == "bind"
        || opts.is_some_and(|o| {
            o.iter()
                .any(|x| matches!(x.as_str(), Some("bind") | Some("rbind")))
        });
    let src = m.get("source").and_then(Value::as_str)?;
    if !bind || !src.starts_with('/') {
        return None;
    }
    Some(normalise(Path::new(src)))
}

fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// A bind of `src` exposes `forbidden` if one contains the other (checked both as written and
/// with symlinks resolved, since `/var/run` is usually `/run`).
fn path_conflicts(src: &Path, forbidden: &Path) -> bool {
    let forbidden = normalise(forbidden);
    let mut srcs = vec![src.to_path_buf()];
    if let Ok(real) = std::fs::canonicalize(src) {
        srcs.push(real);
    }
    let mut fbs = vec![forbidden.clone()];
    if let Ok(real) = std::fs::canonicalize(&forbidden) {
        fbs.push(real);
    }
    srcs.iter()
        .any(|s| fbs.iter().any(|f| s.starts_with(f) || f.starts_with(s)))
}

/// A device cgroup rule: type, major, minor (None = `*`), access letters.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DeviceRule {
    ty: char,
    major: Option<i64>,
    minor: Option<i64>,
    access: String,
}

impl DeviceRule {
    fn parse(text: &str) -> Option<DeviceRule> {
        let mut parts = text.split_whitespace();
        let ty = parts.next()?;
        let nums = parts.next()?;
        let access = parts.next()?;
        if parts.next().is_some() || !matches!(ty, "a" | "b" | "c") {
            return None;
        }
        let (maj, min) = nums.split_once(':')?;
        let num = |s: &str| -> Option<Option<i64>> {
            if s == "*" {
                Some(None)
            } else {
                s.parse::<i64>().ok().map(Some)
            }
        };
        if access.is_empty() || !access.chars().all(|c| "rwm".contains(c)) {
            return None;
        }
        Some(DeviceRule {
            ty: ty.chars().next()?,
            major: num(maj)?,
            minor: num(min)?,
            access: access.to_owned(),
        })
    }

    /// An `allow: true` entry of `linux.resources.devices`.
    fn from_json(v: &Value) -> Option<DeviceRule> {
        if v.get("allow").and_then(Value::as_bool) != Some(true) {
            return None;
        }
        let ty = v
            .get("type")
            .and_then(Value::as_str)
            .and_then(|t| t.chars().next())
            .unwrap_or('a');
        let access = v
            .get("access")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
            .unwrap_or("rwm");
        Some(DeviceRule {
            ty,
            major: v.get("major").and_then(Value::as_i64).filter(|n| *n >= 0),
            minor: v.get("minor").and_then(Value::as_i64).filter(|n| *n >= 0),
            access: access.chars().filter(|c| "rwm".contains(*c)).collect(),
        })
    }

    /// Whether granting `access` letter `a` through `g` grants something this forbidden rule
    /// covers.
    fn overlaps(&self, g: &DeviceRule, a: char) -> bool {
        let ty = self.ty == 'a' || g.ty == 'a' || self.ty == g.ty;
        let num = |x: Option<i64>, y: Option<i64>| x.is_none() || y.is_none() || x == y;
        ty && num(self.major, g.major) && num(self.minor, g.minor) && self.access.contains(a)
    }
}

impl fmt::Display for DeviceRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |x: Option<i64>| x.map_or("*".to_owned(), |n| n.to_string());
        write!(
            f,
            "{} {}:{} {}",
            self.ty,
            n(self.major),
            n(self.minor),
            self.access
        )
    }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
