//! Checks of a parsed `config.json` that its types cannot express, run when the bundle is
//! loaded: `create` then fails before it makes a cgroup, a state directory or a process, and
//! the message names the field (`linux.namespaces[5]: type "pid" listed twice`).
//!
//! What is checked, and why (the OCI runtime specification where it speaks, runc's behaviour
//! where it is silent):
//!
//! - **NUL bytes** in strings that become C strings (`process.cwd`, `process.args`,
//!   `process.env`, `hostname`, `domainname`, mount destinations and sources, device, masked
//!   and read-only paths, namespace paths): the kernel would see a shorter string than the
//!   config says.
//! - **Lengths the kernel refuses** later with a less helpful errno: a `process.args` or
//!   `process.env` entry longer than `MAX_ARG_STRLEN` (32 pages; `execve` fails with
//!   `E2BIG`), a path of `PATH_MAX` (4096) bytes or more (`ENAMETOOLONG`).
//! - **Duplicate namespace types**: the specification says the runtime MUST generate an
//!   error. **`uidMappings`/`gidMappings` without a user namespace**: runc refuses them too;
//!   they would be silently ignored.
//! - **`process.rlimits`**: a soft limit above the hard one (`setrlimit` fails with `EINVAL`
//!   only inside the container's init), and a type listed twice.
//! - **`..` components** in `mounts[].destination`, `linux.devices[].path`,
//!   `linux.maskedPaths` and `linux.readonlyPaths`, and relative masked/read-only paths (the
//!   specification requires absolute ones). The runtime resolves these paths inside the root
//!   filesystem anyway, so a `..` cannot leave it; but an absolute path never needs one, and
//!   refusing it keeps the config meaning what it says.
//! - **Relative `linux.namespaces[].path` and `linux.devices[].path`**: the specification
//!   requires absolute paths; a relative namespace path would be opened relative to the
//!   caller's working directory. (An empty namespace path means a new namespace.)
//! - **A hook `timeout` of zero or less** (`hooks.prestart[0].timeout`): the specification
//!   says it MUST be greater than zero.
//! - **`process.capabilities.inheritable` outside `bounding`**: the kernel refuses it when the
//!   init sets its capabilities (`capset`: `EPERM`), which with iso happens after `start`;
//!   runc fails `create` on it. Ambient capabilities outside the bounding set are not refused
//!   (runc drops them silently, iso with a warning).
//! - **Mounts at or under `/proc`**: only a procfs, and only at `/proc` itself (a new one,
//!   or, for a container without a PID namespace of its own, a bind of the host's `/proc`,
//!   checked to be a procfs when it is mounted). Anything
//!   else could shadow files that the runtime, the kernel's LSM interface or the masks write
//!   through or protect: a bind over `/proc/sys` or `/proc/self/attr` (the CVE-2019-16884
//!   class), or a second procfs at `/proc/bus` whose `sys/` the `linux.readonlyPaths` entry
//!   `/proc/sys` does not cover. The specification is silent; runc is more permissive: it
//!   accepts any mount whose source is a procfs, and bind mounts onto a fixed list of files
//!   (`/proc/cpuinfo`, `/proc/meminfo`, ... for lxcfs; `/proc/net/dev`;
//!   `/proc/sys/kernel/ns_last_pid`). iso refuses those binds: the mount code
//!   (`iso_chroot::Root::mount`) refuses any destination under `/proc` or `/sys` that is not a
//!   directory, so lxcfs-style file binds could not be made anyway, and this check reports
//!   that at load time, naming the field, instead of failing inside the container's init.
//!   The check sees the config only; a symlink inside the root filesystem that leads into
//!   `/proc` is refused by the mount code, which resolves destinations inside the root
//!   without following symlinks under `/proc` and `/sys`.

use std::collections::HashMap;
use std::path::{Component, Path};

use oci_spec::runtime::{Hooks, Linux, LinuxCapabilities, Mount, Process, Spec};
use serde::Serialize;

use crate::hooks::{hooks_of, HookKind};

/// `PATH_MAX`, counting the terminating NUL.
const PATH_MAX: usize = 4096;

/// A refused value: the field as a JSON path (`process.rlimits[0]`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    pub field: String,
    pub reason: String,
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Invalid {
    Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Checks a whole config (see the module doc for the rules).
pub(crate) fn config(spec: &Spec) -> Result<(), Invalid> {
    if let Some(p) = spec.process() {
        process(p)?;
    }
    for (field, value) in [
        ("hostname", spec.hostname()),
        ("domainname", spec.domainname()),
    ] {
        if let Some(v) = value {
            no_nul(field, v)?;
        }
    }
    // Without a PID namespace of its own the container may bind the host's /proc at /proc
    // (runc allows any procfs source there): it shows the processes the container sees.
    let host_pid = !spec
        .linux()
        .iter()
        .flat_map(|l| l.namespaces().iter().flatten())
        .any(|ns| ns.typ() == oci_spec::runtime::LinuxNamespaceType::Pid);
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        mount(i, m, host_pid)?;
    }
    if let Some(linux) = spec.linux() {
        self::linux(linux)?;
    }
    hooks(spec.hooks().as_ref())
}

/// Every hook's `timeout`, when set, is positive: the specification says it MUST be greater
/// than zero (a timeout of 0 or less would kill the hook before it could run).
fn hooks(hooks: Option<&Hooks>) -> Result<(), Invalid> {
    for kind in HookKind::ALL {
        for (i, hook) in hooks_of(hooks, kind).iter().enumerate() {
            if let Some(t) = hook.timeout().filter(|t| *t <= 0) {
                return Err(invalid(
                    format!("hooks.{}[{i}].timeout", kind.name()),
                    format!("{t} is not greater than zero (seconds)"),
                ));
            }
        }
    }
    Ok(())
}

/// `process.capabilities.inheritable` within `bounding`: the init drops the bounding set
/// before it sets the others, and the kernel refuses (`capset`: `EPERM`) to add an
/// inheritable capability outside it, even with `CAP_SETPCAP`. runc fails `create` on such a
/// config ("unable to apply caps"); this says which capability, before anything is made.
///
/// An ambient capability outside the bounding set is not refused: it cannot be raised (the
/// kernel wants it permitted and inheritable), so the runtime drops it with a warning, where
/// runc 1.1 drops it silently; one that is also inheritable is refused here through the
/// inheritable set.
fn inheritable_within_bounding(caps: &LinuxCapabilities) -> Result<(), Invalid> {
    let bounding = caps.bounding().clone().unwrap_or_default();
    let mut outside: Vec<String> = caps
        .inheritable()
        .iter()
        .flatten()
        .filter(|cap| !bounding.contains(cap))
        .map(json_name)
        .collect();
    if outside.is_empty() {
        return Ok(());
    }
    outside.sort();
    Err(invalid(
        "process.capabilities.inheritable",
        format!(
            "{} not in process.capabilities.bounding: the kernel refuses an inheritable \
             capability outside the bounding set (capset: EPERM)",
            outside.join(", ")
        ),
    ))
}

/// The name of an enum value as config.json spells it (`"network"`, `"CAP_KILL"`), where
/// `Display` of oci-spec says `net` or `KILL`.
fn json_name<T: Serialize + std::fmt::Display>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| value.to_string())
}

/// Checks a process: the container's, or one given to `exec`.
pub(crate) fn process(p: &Process) -> Result<(), Invalid> {
    let max_arg = max_arg_strlen();
    for (name, list) in [("process.args", p.args()), ("process.env", p.env())] {
        for (i, s) in list.iter().flatten().enumerate() {
            let field = format!("{name}[{i}]");
            no_nul(&field, s)?;
            if s.len() >= max_arg {
                return Err(invalid(
                    field,
                    format!(
                        "is {} bytes, the kernel's limit for one argument or variable \
                         (MAX_ARG_STRLEN) is {}",
                        s.len(),
                        max_arg - 1
                    ),
                ));
            }
        }
    }
    path_bytes("process.cwd", p.cwd())?;
    if let Some(caps) = p.capabilities() {
        inheritable_within_bounding(caps)?;
    }
    let mut seen = HashMap::new();
    for (i, r) in p.rlimits().iter().flatten().enumerate() {
        let name = r.typ().to_string();
        let field = format!("process.rlimits[{i}] ({name})");
        if r.soft() > r.hard() {
            return Err(invalid(
                field,
                format!("soft {} above hard {}", r.soft(), r.hard()),
            ));
        }
        if let Some(first) = seen.insert(name.clone(), i) {
            return Err(invalid(
                field,
                format!("listed twice (also process.rlimits[{first}])"),
            ));
        }
    }
    Ok(())
}

fn mount(i: usize, m: &Mount, host_pid: bool) -> Result<(), Invalid> {
    let field = format!("mounts[{i}].destination");
    let dest = m.destination();
    path_bytes(&field, dest)?;
    no_dotdot(&field, dest)?;
    if let Some(src) = m.source() {
        path_bytes(&format!("mounts[{i}].source"), src)?;
    }
    let typ = m.typ().as_deref().unwrap_or_default();
    let options = m.options().as_deref().unwrap_or_default();
    let bind = typ == "bind" || options.iter().any(|o| o == "bind" || o == "rbind");
    let host_proc = bind && host_pid && m.source().as_deref() == Some(Path::new("/proc"));
    under_proc(
        &field,
        dest,
        if host_proc { "proc" } else { typ },
        bind && !host_proc,
    )
}

/// The `/proc` rule for a mount destination: outside `/proc` anything goes; at `/proc` only
/// a procfs; under it nothing.
fn under_proc(field: &str, dest: &Path, typ: &str, bind: bool) -> Result<(), Invalid> {
    // Relative destinations are taken relative to `/`, as the runtime does.
    let mut parts = dest.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n),
        _ => None,
    });
    if parts.next() != Some(std::ffi::OsStr::new("proc")) {
        return Ok(());
    }
    let at_proc = parts.next().is_none();
    if at_proc && typ == "proc" && !bind {
        return Ok(());
    }
    Err(invalid(
        field,
        format!(
            "{} is inside /proc: only a procfs, at /proc itself, may be mounted there \
             (a mount over part of /proc could redirect writes to /proc/sys or \
             /proc/self/attr)",
            dest.display()
        ),
    ))
}

fn linux(linux: &Linux) -> Result<(), Invalid> {
    let mut types = HashMap::new();
    for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
        let field = format!("linux.namespaces[{i}]");
        let typ = json_name(&ns.typ());
        if let Some(first) = types.insert(typ.clone(), i) {
            return Err(invalid(
                field,
                format!("type {typ:?} listed twice (also linux.namespaces[{first}])"),
            ));
        }
        if let Some(path) = ns.path() {
            let field = format!("{field}.path");
            path_bytes(&field, path)?;
            // Empty means "a new namespace" (as runc reads it); anything else must be
            // absolute, or it would be resolved against the caller's working directory.
            if !path.as_os_str().is_empty() {
                absolute(&field, path)?;
            }
        }
    }
    let has_user = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|ns| ns.typ() == oci_spec::runtime::LinuxNamespaceType::User);
    for (field, maps) in [
        ("linux.uidMappings", linux.uid_mappings()),
        ("linux.gidMappings", linux.gid_mappings()),
    ] {
        if !has_user && maps.as_ref().is_some_and(|m| !m.is_empty()) {
            return Err(invalid(
                field,
                "set, but linux.namespaces has no user namespace to apply them to",
            ));
        }
    }
    for (i, d) in linux.devices().iter().flatten().enumerate() {
        let field = format!("linux.devices[{i}].path");
        path_bytes(&field, d.path())?;
        no_dotdot(&field, d.path())?;
        absolute(&field, d.path())?;
    }
    for (name, list) in [
        ("linux.maskedPaths", linux.masked_paths()),
        ("linux.readonlyPaths", linux.readonly_paths()),
    ] {
        for (i, p) in list.iter().flatten().enumerate() {
            let field = format!("{name}[{i}]");
            let path = Path::new(p);
            path_bytes(&field, path)?;
            no_dotdot(&field, path)?;
            absolute(&field, path)?;
        }
    }
    Ok(())
}

fn no_nul(field: &str, s: &str) -> Result<(), Invalid> {
    if s.contains('\0') {
        return Err(invalid(field, "contains a NUL byte"));
    }
    Ok(())
}

/// A path the kernel will be handed: no NUL, shorter than `PATH_MAX`.
fn path_bytes(field: &str, p: &Path) -> Result<(), Invalid> {
    let bytes = p.as_os_str().as_encoded_bytes();
    if bytes.contains(&0) {
        return Err(invalid(field, "contains a NUL byte"));
    }
    if bytes.len() >= PATH_MAX {
        return Err(invalid(
            field,
            format!(
                "is {} bytes, longer than PATH_MAX ({})",
                bytes.len(),
                PATH_MAX - 1
            ),
        ));
    }
    Ok(())
}

/// The specification requires an absolute path.
fn absolute(field: &str, p: &Path) -> Result<(), Invalid> {
    if !p.is_absolute() {
        return Err(invalid(
            field,
            format!("{:?} is not an absolute path", p.display().to_string()),
        ));
    }
    Ok(())
}

fn no_dotdot(field: &str, p: &Path) -> Result<(), Invalid> {
    if p.components().any(|c| c == Component::ParentDir) {
        return Err(invalid(
            field,
            format!("{} contains a \"..\" component", p.display()),
        ));
    }
    Ok(())
}

/// `MAX_ARG_STRLEN`: 32 pages, the longest single argument or environment string `execve`
/// accepts (counting its NUL).
fn max_arg_strlen() -> usize {
    // SAFETY: sysconf reads a constant of the running system; it has no memory effects.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(page).unwrap_or(4096).max(4096) * 32
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> Spec {
        let mut base = json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"cwd": "/", "args": ["/bin/true"], "user": {"uid": 0, "gid": 0}},
        });
        if let (Some(b), Some(extra)) = (base.as_object_mut(), v.as_object()) {
            for (k, v) in extra {
                b.insert(k.clone(), v.clone());
            }
        }
        serde_json::from_value(base).unwrap()
    }

    fn refused(v: serde_json::Value) -> String {
        let e = config(&spec(v)).unwrap_err();
        format!("{}: {}", e.field, e.reason)
    }

    #[test]
    fn the_host_proc_may_be_bound_without_a_pid_namespace() {
        let v = json!({"mounts": [{"destination": "/proc", "type": "bind", "source": "/proc",
                                   "options": ["rbind"]}],
                       "linux": {"namespaces": [{"type": "mount"}]}});
        assert_eq!(config(&spec(v)), Ok(()));
    }

    #[test]
    fn messages_name_the_field() {
        let long = format!("/{}", "a".repeat(PATH_MAX));
        let cases = [
            (
                json!({"process": {"cwd": "/t\u{0}p", "args": ["x"], "user": {"uid": 0, "gid": 0}}}),
                "process.cwd: contains a NUL byte",
            ),
            (
                json!({"process": {"cwd": long, "args": ["x"], "user": {"uid": 0, "gid": 0}}}),
                "process.cwd: is 4097 bytes, longer than PATH_MAX (4095)",
            ),
            (
                json!({"hostname": "a\u{0}b"}),
                "hostname: contains a NUL byte",
            ),
            (
                json!({"linux": {"namespaces": [{"type": "pid"}, {"type": "uts"}, {"type": "pid"}]}}),
                "linux.namespaces[2]: type \"pid\" listed twice (also linux.namespaces[0])",
            ),
            (
                json!({"process": {"cwd": "/", "args": ["x"], "user": {"uid": 0, "gid": 0},
                       "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 30, "hard": 20}]}}),
                "process.rlimits[0] (RLIMIT_NOFILE): soft 30 above hard 20",
            ),
            (
                json!({"process": {"cwd": "/", "args": ["x"], "user": {"uid": 0, "gid": 0},
                       "rlimits": [{"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
                                   {"type": "RLIMIT_CORE", "soft": 1, "hard": 1}]}}),
                "process.rlimits[1] (RLIMIT_CORE): listed twice (also process.rlimits[0])",
            ),
            (
                json!({"linux": {"namespaces": [{"type": "network"}, {"type": "network", "path": "/x"}]}}),
                "linux.namespaces[1]: type \"network\" listed twice (also linux.namespaces[0])",
            ),
            (
                json!({"linux": {"gidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}}),
                "linux.gidMappings: set, but linux.namespaces has no user namespace",
            ),
            (
                json!({"linux": {"maskedPaths": ["/proc/../etc"]}}),
                "linux.maskedPaths[0]: /proc/../etc contains a \"..\" component",
            ),
            (
                json!({"linux": {"readonlyPaths": ["proc/sys"]}}),
                "linux.readonlyPaths[0]: \"proc/sys\" is not an absolute path",
            ),
            (
                json!({"linux": {"devices": [{"path": "/dev/../x", "type": "c", "major": 1, "minor": 3}]}}),
                "linux.devices[0].path: /dev/../x contains a \"..\" component",
            ),
            (
                json!({"linux": {"namespaces": [{"type": "pid"}, {"type": "uts"},
                                                {"type": "network", "path": "proc/1/ns/net"}]}}),
                "linux.namespaces[2].path: \"proc/1/ns/net\" is not an absolute path",
            ),
            (
                json!({"linux": {"devices": [{"path": "dev/fuse", "type": "c", "major": 10, "minor": 229}]}}),
                "linux.devices[0].path: \"dev/fuse\" is not an absolute path",
            ),
            (
                json!({"hooks": {"prestart": [{"path": "/bin/true", "timeout": 0}]}}),
                "hooks.prestart[0].timeout: 0 is not greater than zero",
            ),
            (
                json!({"hooks": {"poststop": [{"path": "/bin/true", "timeout": 5},
                                              {"path": "/bin/true", "timeout": -3}]}}),
                "hooks.poststop[1].timeout: -3 is not greater than zero",
            ),
            (
                json!({"process": {"cwd": "/", "args": ["x"], "user": {"uid": 0, "gid": 0},
                       "capabilities": {"bounding": ["CAP_KILL"],
                                        "inheritable": ["CAP_SYS_ADMIN", "CAP_KILL", "CAP_CHOWN"]}}}),
                "process.capabilities.inheritable: CAP_CHOWN, CAP_SYS_ADMIN not in \
                 process.capabilities.bounding",
            ),
            (
                json!({"mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                                  {"destination": "/proc/sys", "type": "bind", "source": "/tmp"}]}),
                "mounts[1].destination: /proc/sys is inside /proc",
            ),
            (
                json!({"mounts": [{"destination": "//proc/./self/attr", "type": "tmpfs", "source": "tmpfs"}]}),
                "mounts[0].destination: //proc/./self/attr is inside /proc",
            ),
            (
                json!({"mounts": [{"destination": "/proc", "type": "tmpfs", "source": "tmpfs"}]}),
                "mounts[0].destination: /proc is inside /proc",
            ),
            (
                json!({"mounts": [{"destination": "/proc/bus", "type": "proc", "source": "proc"}]}),
                "mounts[0].destination: /proc/bus is inside /proc",
            ),
            (
                json!({"mounts": [{"destination": "/proc", "type": "bind", "source": "/proc",
                                   "options": ["rbind"]}],
                       "linux": {"namespaces": [{"type": "pid"}]}}),
                "mounts[0].destination: /proc is inside /proc",
            ),
            (
                json!({"mounts": [{"destination": "/proc", "type": "bind", "source": "/tmp",
                                   "options": ["rbind"]}]}),
                "mounts[0].destination: /proc is inside /proc",
            ),
            (
                json!({"mounts": [{"destination": "/proc/cpuinfo", "type": "bind",
                                   "source": "/var/lib/lxcfs/proc/cpuinfo"}]}),
                "mounts[0].destination: /proc/cpuinfo is inside /proc",
            ),
        ];
        for (v, expect) in cases {
            let got = refused(v);
            assert!(
                got.starts_with(expect),
                "{got:?} does not start with {expect:?}"
            );
        }
    }

    #[test]
    fn ordinary_configs_pass() {
        let ok = json!({
            "hostname": "web",
            "process": {"cwd": "/", "args": ["x"], "user": {"uid": 0, "gid": 0},
                        "capabilities": {"bounding": ["CAP_KILL", "CAP_CHOWN"],
                                         "inheritable": ["CAP_KILL"],
                                         "ambient": ["CAP_KILL", "CAP_NET_RAW"]}},
            "hooks": {"prestart": [{"path": "/bin/true", "timeout": 1}, {"path": "/bin/true"}]},
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup"},
                {"destination": "/processes", "type": "tmpfs", "source": "tmpfs"},
            ],
            "linux": {
                "namespaces": [{"type": "pid"}, {"type": "user"}, {"type": "mount"},
                               {"type": "network", "path": ""},
                               {"type": "ipc", "path": "/proc/1/ns/ipc"}],
                "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}],
                "maskedPaths": ["/proc/kcore", "/sys/firmware"],
                "readonlyPaths": ["/proc/sys"],
            },
        });
        assert_eq!(config(&spec(ok)), Ok(()));
    }

    #[test]
    fn an_env_entry_over_max_arg_strlen_is_refused() {
        let big = format!("X={}", "x".repeat(max_arg_strlen()));
        let v = json!({"process": {"cwd": "/", "args": ["x"], "env": ["A=1", big],
                        "user": {"uid": 0, "gid": 0}}});
        assert!(refused(v).starts_with("process.env[1]: is "));
        let fits = format!("X={}", "x".repeat(max_arg_strlen() - 3));
        let v = json!({"process": {"cwd": "/", "args": ["x"], "env": [fits],
                        "user": {"uid": 0, "gid": 0}}});
        assert_eq!(config(&spec(v)), Ok(()));
    }

    const TYPES: [&str; 8] = [
        "pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time",
    ];

    proptest! {
        #[test]
        fn namespaces_are_refused_exactly_when_a_type_repeats(
            picks in proptest::collection::vec(0usize..8, 0..10)
        ) {
            let list: Vec<_> = picks.iter().map(|i| json!({"type": TYPES[*i]})).collect();
            let mut uniq = picks.clone();
            uniq.sort_unstable();
            uniq.dedup();
            let result = config(&spec(json!({"linux": {"namespaces": list}})));
            if uniq.len() == picks.len() {
                prop_assert_eq!(result, Ok(()));
            } else {
                let e = result.unwrap_err();
                prop_assert!(e.field.starts_with("linux.namespaces["));
                prop_assert!(e.reason.contains("listed twice"));
            }
        }

        #[test]
        fn rlimits_are_refused_exactly_when_soft_exceeds_hard(soft in any::<u64>(), hard in any::<u64>()) {
            let v = json!({"process": {"cwd": "/", "args": ["x"], "user": {"uid": 0, "gid": 0},
                           "rlimits": [{"type": "RLIMIT_NPROC", "soft": soft, "hard": hard}]}});
            let result = config(&spec(v));
            if soft > hard {
                let e = result.unwrap_err();
                prop_assert_eq!(e.field, "process.rlimits[0] (RLIMIT_NPROC)");
                prop_assert_eq!(e.reason, format!("soft {soft} above hard {hard}"));
            } else {
                prop_assert_eq!(result, Ok(()));
            }
        }

        #[test]
        fn inheritable_is_refused_exactly_when_it_leaves_bounding(
            bounding in proptest::collection::btree_set(0usize..6, 0..6),
            inheritable in proptest::collection::btree_set(0usize..6, 0..6),
            ambient in proptest::collection::btree_set(0usize..6, 0..6),
        ) {
            const CAPS: [&str; 6] = ["CAP_KILL", "CAP_CHOWN", "CAP_NET_RAW", "CAP_SYS_ADMIN",
                                     "CAP_SETUID", "CAP_MKNOD"];
            let names = |set: &std::collections::BTreeSet<usize>| {
                set.iter().map(|i| CAPS[*i]).collect::<Vec<_>>()
            };
            let v = json!({"process": {"cwd": "/", "args": ["x"], "user": {"uid": 0, "gid": 0},
                           "capabilities": {"bounding": names(&bounding),
                                            "inheritable": names(&inheritable),
                                            "ambient": names(&ambient)}}});
            let result = config(&spec(v));
            let outside: Vec<&str> = names(&inheritable.difference(&bounding).copied().collect());
            if outside.is_empty() {
                prop_assert_eq!(result, Ok(()));
            } else {
                let e = result.unwrap_err();
                prop_assert_eq!(e.field, "process.capabilities.inheritable");
                for name in outside {
                    prop_assert!(e.reason.contains(name), "{} lacks {}", e.reason, name);
                }
            }
        }

        #[test]
        fn hook_timeouts_are_refused_exactly_when_not_positive(t in any::<i64>(), at in 0usize..3) {
            let mut list = vec![json!({"path": "/bin/true", "timeout": 1}); 3];
            list[at] = json!({"path": "/bin/true", "timeout": t});
            let result = config(&spec(json!({"hooks": {"createRuntime": list}})));
            if t > 0 {
                prop_assert_eq!(result, Ok(()));
            } else {
                let e = result.unwrap_err();
                prop_assert_eq!(e.field, format!("hooks.createRuntime[{at}].timeout"));
            }
        }

        #[test]
        fn a_dotdot_component_is_refused_wherever_it_sits(
            before in proptest::collection::vec("[a-z]{1,6}", 0..4),
            after in proptest::collection::vec("[a-z]{1,6}", 0..4),
        ) {
            let path = std::iter::once(String::new())
                .chain(before)
                .chain(std::iter::once("..".to_string()))
                .chain(after)
                .collect::<Vec<_>>()
                .join("/");
            for v in [
                json!({"linux": {"maskedPaths": [&path]}}),
                json!({"linux": {"readonlyPaths": [&path]}}),
                json!({"linux": {"devices": [{"path": &path, "type": "c", "major": 1, "minor": 3}]}}),
                json!({"mounts": [{"destination": &path, "type": "tmpfs", "source": "tmpfs"}]}),
            ] {
                let e = config(&spec(v)).unwrap_err();
                prop_assert!(e.reason.contains("\"..\""), "{:?}", e);
            }
        }

        #[test]
        fn a_nul_anywhere_in_cwd_or_hostname_is_refused(a in "[a-z/]{0,8}", b in "[a-z/]{0,8}") {
            let s = format!("{a}\u{0}{b}");
            let v = json!({"hostname": &s});
            prop_assert_eq!(refused(v), "hostname: contains a NUL byte");
            let v = json!({"process": {"cwd": format!("/{s}"), "args": ["x"],
                           "user": {"uid": 0, "gid": 0}}});
            prop_assert_eq!(refused(v), "process.cwd: contains a NUL byte");
        }

        #[test]
        fn under_proc_only_procfs_at_proc_passes(
            rest in proptest::collection::vec("[a-z]{1,8}", 0..3),
            typ in prop_oneof![Just("proc"), Just("bind"), Just("tmpfs"), Just("sysfs")],
        ) {
            let dest = format!("/proc/{}", rest.join("/"));
            let result = under_proc("d", Path::new(&dest), typ, typ == "bind");
            prop_assert_eq!(result.is_ok(), typ == "proc" && rest.is_empty());
            // The same destination outside /proc always passes.
            let outside = format!("/srv/{}", rest.join("/"));
            prop_assert!(under_proc("d", Path::new(&outside), typ, typ == "bind").is_ok());
        }

        #[test]
        fn arbitrary_destinations_never_panic(dest in "\\PC{0,40}", typ in "[a-z]{0,6}") {
            let _ = under_proc("d", Path::new(&dest), &typ, false);
            let _ = no_dotdot("d", Path::new(&dest));
            let _ = path_bytes("d", Path::new(&dest));
        }
    }
}
