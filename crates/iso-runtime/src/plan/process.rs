//! The process: what the init applies after `start`, and an `exec`ed process before its
//! program. Shared by `create` and `exec`.

use std::ffi::CString;
use std::path::PathBuf;

use oci_spec::runtime::{Capability, Hooks, Linux, LinuxCapabilities, LinuxSeccomp, Process};

use super::{ConfigFile, HostFacts};
use crate::process::{CpuSet, MemPolicy, SchedAttr};
use crate::Error;

/// The `PATH` a program name is searched in when `process.env` has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the init applies after `start` (and an `exec`ed process before its program).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProcessPlan {
    /// `process.rlimits`: (resource, soft, hard).
    pub rlimits: Vec<(u32, u64, u64)>,
    /// `process.user.umask`.
    pub umask: Option<u32>,
    /// Groups, gid, uid, capabilities, no_new_privs, applied in the kernel's order.
    pub user: iso_caps::UserSwitch,
    /// `process.user.uid`: the owner of the process' terminal (its group stays the
    /// creator's, as with runc).
    pub tty_owner: u32,
    /// `process.consoleSize` (rows, columns), set on the pty before it is handed over.
    pub console_size: Option<(u16, u16)>,
    /// `process.noNewPrivileges` (decides when seccomp is loaded).
    pub no_new_privs: bool,
    /// `process.cwd`, absolute.
    pub cwd: PathBuf,
    /// `args[0]`.
    pub program: CString,
    /// Where a program name without `/` is searched (`PATH` of `process.env`).
    pub path_dirs: Vec<PathBuf>,
    /// `process.args`.
    pub argv: Vec<CString>,
    /// `process.env`, each variable once (its last value, at its first place).
    pub envp: Vec<CString>,
    /// The uid whose home directory in the container's `/etc/passwd` becomes `HOME`
    /// (else `/`), when `process.env` has no `HOME` or an empty one: see [`with_home`].
    pub home_of: Option<u32>,
    /// `linux.seccomp`, compiled.
    pub seccomp: Option<iso_seccomp::BpfProgram>,
    /// `linux.seccomp.listenerPath`.
    pub listener_path: Option<PathBuf>,
    /// `linux.seccomp.listenerMetadata`.
    pub listener_metadata: Option<String>,
    /// `--preserve-fds`.
    pub preserve_fds: i32,
    /// `linux.personality`.
    pub personality: Option<libc::c_ulong>,
    /// `process.apparmorProfile`.
    pub apparmor_profile: Option<String>,
    /// `process.selinuxLabel`.
    pub selinux_label: Option<iso_mac::selinux::SeLinuxContext>,
    /// `process.scheduler`.
    pub scheduler: Option<SchedAttr>,
    /// `process.ioPriority`.
    pub ioprio: Option<i32>,
    /// `process.execCPUAffinity.initial`: before the cgroup is joined.
    pub affinity_initial: Option<CpuSet>,
    /// `process.execCPUAffinity.final`: just before the exec.
    pub affinity_final: Option<CpuSet>,
    /// `process.oomScoreAdj`.
    pub oom_score_adj: Option<i32>,
    /// `linux.memoryPolicy`: set once the cgroup is joined (its cpuset bounds the nodes).
    pub mem_policy: Option<MemPolicy>,
    /// The Landlock rulesets applied just before the exec (see [`crate::landlock`]); set
    /// by the caller from the container's annotations.
    pub landlock: Vec<iso_mac::landlock::Ruleset>,
    /// Whether the program's first bytes must show a format the kernel executes (ELF or
    /// `#!`) before the exec through the trampoline, which cannot report why it failed:
    /// only where the kernel knows no other format.
    pub check_format: bool,
}

impl ProcessPlan {
    /// Converts `process` (and the process-related parts of `linux`).
    pub fn from_process(
        config: &ConfigFile,
        linux: &Linux,
        process: &Process,
        preserve_fds: i32,
        facts: &HostFacts<'_>,
    ) -> Result<Self, Error> {
        let (program, argv) = argv(config, process)?;
        let env = process.env().as_deref().unwrap_or_default();
        if !process.cwd().is_absolute() {
            return Err(config.invalid("process.cwd", "must be absolute"));
        }
        let (seccomp, listener_path) = match linux.seccomp() {
            Some(s) => (Some(seccomp(s, facts)?), s.listener_path().clone()),
            None => (None, None),
        };
        let labels = labels(config, process, facts)?;
        let affinity = process.exec_cpu_affinity().as_ref();
        let no_new_privs = process.no_new_privileges().unwrap_or(false);
        Ok(ProcessPlan {
            rlimits: rlimits(config, process)?,
            umask: process.user().umask(),
            user: user_switch(process, no_new_privs, facts.last_cap),
            no_new_privs,
            tty_owner: process.user().uid(),
            console_size: process.console_size().map(|b| {
                let clamp = |v: u64| u16::try_from(v).unwrap_or(u16::MAX);
                (clamp(b.height()), clamp(b.width()))
            }),
            cwd: process.cwd().clone(),
            program,
            path_dirs: path_dirs(env),
            argv,
            envp: c_strings(config, "process.env", &dedup_env(env))?,
            home_of: needs_home(env).then(|| process.user().uid()),
            seccomp,
            listener_path,
            listener_metadata: linux
                .seccomp()
                .as_ref()
                .and_then(|s| s.listener_metadata().clone()),
            preserve_fds,
            personality: converted(
                config,
                "linux.personality",
                linux
                    .personality()
                    .as_ref()
                    .map(crate::process::personality),
            )?,
            apparmor_profile: labels.apparmor_profile,
            selinux_label: labels.selinux_label,
            scheduler: converted(
                config,
                "process.scheduler",
                process.scheduler().as_ref().map(crate::process::sched_attr),
            )?,
            ioprio: converted(
                config,
                "process.ioPriority",
                process.io_priority().as_ref().map(crate::process::ioprio),
            )?,
            affinity_initial: cpu_list(
                config,
                "process.execCPUAffinity.initial",
                affinity.and_then(|a| a.initial().as_deref()),
            )?,
            affinity_final: cpu_list(
                config,
                "process.execCPUAffinity.final",
                affinity.and_then(|a| a.cpu_affinity_final().as_deref()),
            )?,
            oom_score_adj: process.oom_score_adj(),
            mem_policy: converted(
                config,
                "linux.memoryPolicy",
                linux
                    .memory_policy()
                    .as_ref()
                    .map(crate::process::mem_policy),
            )?,
            check_format: !(facts.other_exec_formats)(),
            landlock: Vec::new(),
        })
    }
}

/// `process.args` as C strings, and the program (`args[0]`).
fn argv(config: &ConfigFile, process: &Process) -> Result<(CString, Vec<CString>), Error> {
    let argv = c_strings(
        config,
        "process.args",
        process.args().as_deref().unwrap_or_default(),
    )?;
    let program = argv
        .first()
        .cloned()
        .ok_or_else(|| config.invalid("process.args", "must name a program"))?;
    Ok((program, argv))
}

fn c_strings(
    config: &ConfigFile,
    field: &'static str,
    list: &[String],
) -> Result<Vec<CString>, Error> {
    list.iter()
        .map(|s| {
            CString::new(s.as_bytes()).map_err(|_| config.invalid(field, "contains a NUL byte"))
        })
        .collect()
}

/// Each variable once, as a process setting them in order sees them: at the place of its
/// first setting, with the value of its last (`exec --env` thus overrides the config's).
/// An entry without `=` is its own name.
pub(crate) fn dedup_env(env: &[String]) -> Vec<String> {
    let name = |kv: &str| kv.split_once('=').map_or(kv, |(k, _)| k).to_owned();
    let mut out: Vec<String> = Vec::with_capacity(env.len());
    let mut place = std::collections::HashMap::new();
    for kv in env {
        match place.get(&name(kv)) {
            Some(&i) => out[i] = kv.clone(),
            None => {
                place.insert(name(kv), out.len());
                out.push(kv.clone());
            }
        }
    }
    out
}

/// Whether `HOME` must be found for the process: `env` sets none, or an empty one last.
fn needs_home(env: &[String]) -> bool {
    env.iter()
        .rev()
        .find_map(|kv| kv.strip_prefix("HOME="))
        .map_or(true, str::is_empty)
}

/// The home directory of `uid` in the text of an `/etc/passwd`
/// (`name:password:uid:gid:gecos:home:shell`), its first entry for that uid; `None` when
/// there is none.
pub(crate) fn passwd_home(passwd: &[u8], uid: u32) -> Option<&[u8]> {
    passwd_field(passwd, uid, 5)
}

/// Field `index` (0: the name, 5: the home directory) of the entry for `uid` in the text
/// of an `/etc/passwd`.
pub(crate) fn passwd_field(passwd: &[u8], uid: u32, index: usize) -> Option<&[u8]> {
    passwd.split(|&b| b == b'\n').find_map(|line| {
        let fields: Vec<&[u8]> = line.split(|&b| b == b':').collect();
        let entry_uid = std::str::from_utf8(fields.get(2)?)
            .ok()?
            .parse::<u32>()
            .ok()?;
        (entry_uid == uid).then_some(*fields.get(index)?)
    })
}

/// `envp` with `HOME=home`: in place of an empty `HOME=`, else last.
pub(crate) fn with_home(envp: &[CString], home: &[u8]) -> Vec<CString> {
    let mut kv = b"HOME=".to_vec();
    kv.extend(home.iter().copied().filter(|&b| b != 0));
    let home = CString::new(kv).unwrap_or_default();
    let mut out = envp.to_vec();
    match out.iter_mut().find(|kv| kv.as_bytes() == b"HOME=") {
        Some(empty) => *empty = home,
        None => out.push(home),
    }
    out
}

/// The absolute directories of the last `PATH=` in `env` (or the default `PATH`).
fn path_dirs(env: &[String]) -> Vec<PathBuf> {
    env.iter()
        .rev()
        .find_map(|kv| kv.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH)
        .split(':')
        .filter(|d| d.starts_with('/'))
        .map(PathBuf::from)
        .collect()
}

/// The user switch: groups, gid, uid, the capability sets (masked to what the kernel
/// knows), no_new_privs.
fn user_switch(process: &Process, no_new_privs: bool, last_cap: u8) -> iso_caps::UserSwitch {
    let user = process.user();
    let caps = match process.capabilities() {
        Some(c) => iso_caps::CapConfig::from(&raisable_ambient(c)),
        None => iso_caps::CapConfig::new(),
    }
    .prepare_for(last_cap);
    iso_caps::UserSwitch::new(user.uid(), user.gid())
        .groups(user.additional_gids().clone().unwrap_or_default())
        .capabilities(caps)
        .no_new_privs(no_new_privs)
}

/// The kernel refuses an ambient capability that is not both permitted and inheritable;
/// like runc, such entries are dropped (with a warning) rather than failing the container.
fn raisable_ambient(c: &LinuxCapabilities) -> LinuxCapabilities {
    let mut c = c.clone();
    let inh = c.inheritable().clone().unwrap_or_default();
    let perm = c.permitted().clone().unwrap_or_default();
    if let Some(amb) = c.ambient().clone() {
        let (keep, drop): (Vec<_>, Vec<_>) = amb
            .into_iter()
            .partition(|cap| inh.contains(cap) && perm.contains(cap));
        if !drop.is_empty() {
            eprintln!(
                "warning: process.capabilities.ambient: {drop:?} not both permitted and inheritable, not raised"
            );
        }
        c.set_ambient(Some(keep.into_iter().collect()));
    }
    c
}

/// `process.rlimits` as (resource, soft, hard).
fn rlimits(config: &ConfigFile, process: &Process) -> Result<Vec<(u32, u64, u64)>, Error> {
    process
        .rlimits()
        .iter()
        .flatten()
        .map(|r| {
            let name = r.typ().to_string();
            let res = rlimit_resource(&name)
                .ok_or_else(|| config.invalid("process.rlimits", format!("{name} is unknown")))?;
            Ok((res, r.soft(), r.hard()))
        })
        .collect()
}

fn rlimit_resource(name: &str) -> Option<u32> {
    Some(match name {
        "RLIMIT_CPU" => libc::RLIMIT_CPU,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
        "RLIMIT_DATA" => libc::RLIMIT_DATA,
        "RLIMIT_STACK" => libc::RLIMIT_STACK,
        "RLIMIT_CORE" => libc::RLIMIT_CORE,
        "RLIMIT_RSS" => libc::RLIMIT_RSS,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
        "RLIMIT_AS" => libc::RLIMIT_AS,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => libc::RLIMIT_NICE,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
        _ => return None,
    })
}

/// The compiled program of `profile`, through the cache when the facts name one. Loaded
/// after the user switch only with no_new_privs, so the program never sets it itself.
fn seccomp(
    profile: &LinuxSeccomp,
    facts: &HostFacts<'_>,
) -> Result<iso_seccomp::BpfProgram, Error> {
    let mut bpf = match facts.seccomp_cache {
        Some(root) => crate::seccomp_cache::compiled(root, profile)?,
        None => crate::seccomp_cache::compile(profile)?,
    };
    bpf.set_no_new_privs(false);
    Ok(bpf)
}

/// The AppArmor profile and SELinux label, refused when their module is not active.
fn labels(
    config: &ConfigFile,
    process: &Process,
    facts: &HostFacts<'_>,
) -> Result<iso_mac::oci::ProcessLabels, Error> {
    let labels = iso_mac::oci::ProcessLabels::from_process(process)?;
    if labels.apparmor_profile.is_some() && !(facts.lsm_active)(iso_mac::Lsm::AppArmor) {
        return Err(config.invalid(
            "process.apparmorProfile",
            "is set but AppArmor is not active on this host",
        ));
    }
    if labels.selinux_label.is_some() && !(facts.lsm_active)(iso_mac::Lsm::SeLinux) {
        return Err(config.invalid(
            "process.selinuxLabel",
            "is set but SELinux is not active on this host",
        ));
    }
    Ok(labels)
}

/// A field converted by one of `crate::process`'s parsers (`sched_attr`, `ioprio`,
/// `personality`), whose error becomes the field's.
fn converted<T>(
    config: &ConfigFile,
    field: &'static str,
    value: Option<Result<T, String>>,
) -> Result<Option<T>, Error> {
    value.transpose().map_err(|r| config.invalid(field, r))
}

fn cpu_list(
    config: &ConfigFile,
    field: &'static str,
    text: Option<&str>,
) -> Result<Option<CpuSet>, Error> {
    text.map(|t| crate::process::parse_cpu_list(t).map_err(|r| config.invalid(field, r)))
        .transpose()
}

/// Whether the exec of the program may rely on a capability that overrides file permissions
/// held by a non-root user only in the effective set: the kernel checks the exec with it,
/// but a non-root process keeps only its ambient set through an exec, so the trampoline's
/// exec would drop it before the program's.
fn exec_needs_dac_capabilities(process: &Process) -> bool {
    let Some(caps) = process.capabilities() else {
        return false;
    };
    let effective = caps.effective().clone().unwrap_or_default();
    let ambient = caps.ambient().clone().unwrap_or_default();
    process.user().uid() != 0
        && [Capability::DacOverride, Capability::DacReadSearch]
            .iter()
            .any(|c| effective.contains(c) && !ambient.contains(c))
}

/// Why a container needs the runtime to run from a sealed copy of its binary rather than
/// executing its program through the trampoline (see guard.rs): a process that may hold
/// `CAP_SYS_PTRACE` can open the runtime's non-dumpable processes, and `startContainer`
/// hooks are executed by the runtime itself from the container's root.
pub(crate) fn seal_reason(process: &Process, hooks: Option<&Hooks>) -> Option<&'static str> {
    let caps = process.capabilities().as_ref();
    let may_ptrace = caps.is_some_and(|c| {
        [
            c.bounding(),
            c.effective(),
            c.permitted(),
            c.inheritable(),
            c.ambient(),
        ]
        .into_iter()
        .flatten()
        .any(|set| set.contains(&Capability::SysPtrace))
    });
    if may_ptrace {
        return Some("the container may hold CAP_SYS_PTRACE, which opens non-dumpable processes");
    }
    if exec_needs_dac_capabilities(process) {
        return Some(
            "the program's exec needs a capability (DAC_OVERRIDE, DAC_READ_SEARCH) that a \
             non-root user loses at the trampoline's own exec",
        );
    }
    let start_hooks = hooks.and_then(|h| h.start_container().as_ref());
    if start_hooks.is_some_and(|h| !h.is_empty()) {
        return Some("startContainer hooks are executed from the container by the runtime");
    }
    None
}
