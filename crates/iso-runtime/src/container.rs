//! The lifecycle: `create`, `start`, `state`, `kill`, `delete`.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use iso_cgroups::{Cgroup, CgroupPath};
use iso_chroot::{Device, DeviceKind, EnterMethod, Mount, MountKind, Propagation};
use iso_ns::{IdMapEntry, Namespace, NamespaceSet, NsFd, Spawn};
use iso_sys::{Pid, ProcPid};
use oci_spec::runtime::Spec;

use crate::hooks::{hooks_of, run_hooks, HookKind};
use crate::init::{self, InitChannels, InitPlan, PlannedMount, ProcessPlan};
use crate::state::{socket_path, Host, Record, EXEC_SOCKET};
use crate::store::write_atomic;
use crate::{rfc3339, Bundle, ContainerDir, ContainerId, Error, Signal, State, Status, Store};

/// The parent under which containers with a relative or empty `cgroupsPath` are placed.
///
/// A relative path is **never** resolved against the caller's own cgroup (runc does that):
/// on a host where the caller sits in a cgroup owned by someone else, that would create and
/// delete cgroups inside it. `""` becomes `/iso/<id>`, `"a/b"` becomes `/iso/a/b`.
pub const DEFAULT_CGROUP_PARENT: &str = "/iso";

/// Options of `create` beyond the bundle.
///
/// ```
/// let opts = iso_runtime::CreateOptions { preserve_fds: 2, ..Default::default() };
/// assert!(!opts.no_pivot);
/// ```
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Where to write the init's pid (`--pid-file`).
    pub pid_file: Option<PathBuf>,
    /// The unix socket that receives the pty master for `terminal: true` (`--console-socket`).
    pub console_socket: Option<PathBuf>,
    /// How many descriptors after stderr the program inherits (`--preserve-fds`).
    pub preserve_fds: i32,
    /// Enter the root with `MS_MOVE` + `chroot` instead of `pivot_root` (`--no-pivot`).
    pub no_pivot: bool,
    /// A unix socket that receives a pidfd of the init (`--pidfd-socket`).
    pub pidfd_socket: Option<PathBuf>,
    /// The site policy applied to the config before anything is created (`--policy`); the
    /// changes it makes are recorded in the container's annotations.
    pub policy: Option<crate::policy::Policy>,
}

/// Options of `exec`.
///
/// ```no_run
/// let process: oci_spec::runtime::Process = serde_json::from_str(
///     r#"{"cwd":"/","args":["/bin/echo","hi"],"user":{"uid":0,"gid":0}}"#,
/// ).expect("valid process");
/// let opts = iso_runtime::ExecOptions { process, detach: false, pid_file: None,
///     console_socket: None, preserve_fds: 0, sub_cgroup: None, pidfd_socket: None };
/// let code = iso_runtime::Runtime::new("/run/iso").exec("web", &opts)?;
/// # Ok::<(), iso_runtime::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// The process to run (args, env, cwd, user, capabilities, ...).
    pub process: oci_spec::runtime::Process,
    /// Return once the program was executed instead of waiting for it.
    pub detach: bool,
    /// Where to write the new process' pid.
    pub pid_file: Option<PathBuf>,
    /// The unix socket that receives the pty master when `process.terminal` is true.
    pub console_socket: Option<PathBuf>,
    /// How many descriptors after stderr the program inherits.
    pub preserve_fds: i32,
    /// A cgroup below the container's to run the process in (`--cgroup`); it must exist.
    pub sub_cgroup: Option<String>,
    /// A unix socket that receives a pidfd of the new process (`--pidfd-socket`).
    pub pidfd_socket: Option<PathBuf>,
}

/// A runtime: the commands on the containers of one store (`--root`).
///
/// ```no_run
/// use iso_runtime::{CreateOptions, Runtime, Signal};
/// let rt = Runtime::new("/run/iso");
/// let mut created = rt.create("demo", "/srv/bundle".as_ref(), &CreateOptions::default())?;
/// rt.start("demo")?;
/// let code = created.wait()?;
/// rt.delete("demo", false)?;
/// # Ok::<(), iso_runtime::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Runtime {
    store: Store,
    pub(crate) host: Host,
}

/// A container just created by this process: its init is our child and can be waited for.
///
/// ```no_run
/// # let rt = iso_runtime::Runtime::new("/run/iso");
/// let mut created = rt.create("x", "/srv/bundle".as_ref(), &Default::default())?;
/// println!("init pid {}", created.pid());
/// # Ok::<(), iso_runtime::Error>(())
/// ```
#[derive(Debug)]
pub struct Created {
    child: iso_ns::Child,
    signals: Option<ForwardedSignals>,
}

impl Created {
    /// The init's pid.
    pub fn pid(&self) -> i32 {
        self.child.pid().as_raw()
    }

    /// Waits for the init to end; returns its exit code, or 128 + the signal that killed it
    /// (the shell's convention).
    pub fn wait(&mut self) -> Result<i32, Error> {
        Ok(match self.child.wait()? {
            iso_ns::ExitStatus::Exited(code) => code,
            iso_ns::ExitStatus::Signaled(sig) => 128 + sig,
        })
    }
}

impl Created {
    /// Starts holding the signals that [`Created::wait_forwarding_signals`] forwards: from
    /// now on they are queued for the init instead of acting on this process. `run` calls
    /// it before `start`, so that a signal arriving between `start` and the wait is
    /// forwarded rather than fatal to the runtime.
    pub fn hold_signals(&mut self) {
        if self.signals.is_none() {
            self.signals = ForwardedSignals::block();
        }
    }

    /// Like [`Created::wait`], but forwards `SIGHUP`, `SIGINT`, `SIGQUIT`, `SIGTERM`,
    /// `SIGUSR1`, `SIGUSR2` and `SIGWINCH` received by the caller to the init meanwhile (what
    /// `run` does, so that Ctrl-C or a `kill` of the runtime reaches the container). The
    /// signals are blocked and read from a `signalfd`, polled together with the init's pidfd.
    pub fn wait_forwarding_signals(&mut self) -> Result<i32, Error> {
        self.hold_signals();
        let (Some(pidfd), Some(signals)) = (
            self.child.pidfd().map(|fd| fd.as_raw_fd()),
            self.signals.take(),
        ) else {
            return self.wait();
        };
        loop {
            let mut fds = [
                libc::pollfd {
                    fd: pidfd,
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: signals.fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: poll on an array of two valid pollfd structs.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
            if n < 0 {
                if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                break;
            }
            if fds[0].revents != 0 {
                break;
            }
            if fds[1].revents != 0 {
                if let Some(signo) = signals.next() {
                    let _ = self.child.kill(signo);
                }
            }
        }
        drop(signals);
        self.wait()
    }
}

/// The signals `run` forwards, blocked and read from a `signalfd` until dropped (which
/// restores the previous signal mask).
struct ForwardedSignals {
    fd: OwnedFd,
    old_mask: libc::sigset_t,
}

impl ForwardedSignals {
    const SIGNALS: [i32; 7] = [
        libc::SIGHUP,
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGTERM,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGWINCH,
    ];

    /// Blocks the signals and opens the signalfd; `None` (nothing blocked) if that fails.
    fn block() -> Option<Self> {
        // SAFETY: sigset_t is plain data; the libc calls initialise and fill it.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut old_mask: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointers to sigset_t values owned by this frame.
        let fd = unsafe {
            libc::sigemptyset(&mut set);
            for sig in Self::SIGNALS {
                libc::sigaddset(&mut set, sig);
            }
            libc::sigprocmask(libc::SIG_BLOCK, &set, &mut old_mask);
            libc::signalfd(-1, &set, libc::SFD_CLOEXEC)
        };
        if fd < 0 {
            // SAFETY: restores the mask saved above.
            unsafe { libc::sigprocmask(libc::SIG_SETMASK, &old_mask, std::ptr::null_mut()) };
            return None;
        }
        // SAFETY: a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Some(ForwardedSignals { fd, old_mask })
    }

    /// The number of the next pending signal.
    fn next(&self) -> Option<i32> {
        // SAFETY: signalfd_siginfo is plain data, read fills it.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: read into a buffer of exactly `size` bytes.
        let r = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                (&mut info as *mut libc::signalfd_siginfo).cast(),
                size,
            )
        };
        (r == size as isize).then_some(info.ssi_signo as i32)
    }
}

impl Drop for ForwardedSignals {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved by `block`.
        unsafe { libc::sigprocmask(libc::SIG_SETMASK, &self.old_mask, std::ptr::null_mut()) };
    }
}

impl std::fmt::Debug for ForwardedSignals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForwardedSignals")
            .field("fd", &self.fd)
            .finish_non_exhaustive()
    }
}

/// What a failed `create` must undo.
struct Cleanup {
    cgroup: Option<Cgroup>,
    child: Option<iso_ns::Child>,
    dir: Option<ContainerDir>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill(libc::SIGKILL);
            let _ = child.wait();
        }
        if let Some(cg) = &self.cgroup {
            let _ = cg.kill();
            let _ = cg.delete();
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.remove();
        }
    }
}

fn io_err(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |e| Error::io(op, path, e)
}

/// The namespace that makes a sysctl the container's own, or `None` for a sysctl that is
/// global to the machine (`vm.*`, most of `kernel.*`), which a container must never write.
/// Keys use either separator (`net.ipv4.ip_forward` or `net/ipv4/ip_forward`).
fn sysctl_namespace(key: &str) -> Option<Namespace> {
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

fn config_field(bundle: &Bundle, field: &'static str, reason: impl Into<String>) -> Error {
    Error::ConfigField {
        path: bundle.path().join("config.json"),
        field,
        reason: reason.into(),
    }
}

/// Creates a close-on-exec pipe: (read, write).
fn pipe() -> Result<(OwnedFd, OwnedFd), Error> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into a valid array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Error::io(
            "pipe2",
            "(sync pipe)",
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: two fresh descriptors we own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// In a cloned child: closes its copies of the runtime's ends of the sync pipes, so that it
/// reads end of file, and gives up, when the runtime dies before the handshake (before its
/// pid is recorded, nothing else would end it).
fn close_parent_ends<const N: usize>(fds: [RawFd; N]) {
    for fd in fds {
        // SAFETY: the child's inherited copy of a descriptor only the parent uses; the child
        // never touches the OwnedFd naming it (it leaves through _exit).
        unsafe { libc::close(fd) };
    }
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

fn cstring(bundle: &Bundle, field: &'static str, s: &[u8]) -> Result<CString, Error> {
    CString::new(s).map_err(|_| config_field(bundle, field, "contains a NUL byte"))
}

/// Converts `process` (and the process-related parts of `linux`) into what the init applies
/// after `start` (and `exec` before its program).
fn process_plan(
    root: &Path,
    bundle: &Bundle,
    linux: &oci_spec::runtime::Linux,
    process: &oci_spec::runtime::Process,
    preserve_fds: i32,
) -> Result<ProcessPlan, Error> {
    // Process.
    let user = process.user();
    let caps = match process.capabilities() {
            Some(c) => {
                // The kernel refuses an ambient capability that is not both permitted and
                // inheritable; like runc, such entries are dropped (with a warning) rather
                // than failing the container.
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
                iso_caps::CapConfig::from(&c)
            }
            None => iso_caps::CapConfig::new(),
        }
        .prepare()?;
    let no_new_privs = process.no_new_privileges().unwrap_or(false);
    let user_switch = iso_caps::UserSwitch::new(user.uid(), user.gid())
        .groups(user.additional_gids().clone().unwrap_or_default())
        .capabilities(caps)
        .no_new_privs(no_new_privs);
    let args = process.args().clone().unwrap_or_default();
    let argv = args
        .iter()
        .map(|a| cstring(bundle, "process.args", a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    let program = argv
        .first()
        .cloned()
        .ok_or_else(|| config_field(bundle, "process.args", "must name a program"))?;
    let env = process.env().clone().unwrap_or_default();
    let envp = env
        .iter()
        .map(|a| cstring(bundle, "process.env", a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    let path_var = env
        .iter()
        .rev()
        .find_map(|kv| kv.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    let path_dirs = path_var
        .split(':')
        .filter(|d| d.starts_with('/'))
        .map(PathBuf::from)
        .collect();
    if !process.cwd().is_absolute() {
        return Err(config_field(bundle, "process.cwd", "must be absolute"));
    }
    let mut rlimits = Vec::new();
    for r in process.rlimits().clone().unwrap_or_default() {
        let name = r.typ().to_string();
        let res = rlimit_resource(&name)
            .ok_or_else(|| config_field(bundle, "process.rlimits", format!("{name} is unknown")))?;
        rlimits.push((res, r.soft(), r.hard()));
    }
    let (seccomp, listener_path) = match linux.seccomp() {
        Some(s) => {
            let mut bpf = crate::seccomp_cache::compiled(root, s)?;
            bpf.set_no_new_privs(false);
            (Some(bpf), s.listener_path().clone())
        }
        None => (None, None),
    };
    let labels = iso_mac::oci::ProcessLabels::from_process(process)?;
    if labels.apparmor_profile.is_some() && !iso_mac::is_active(iso_mac::Lsm::AppArmor) {
        return Err(config_field(
            bundle,
            "process.apparmorProfile",
            "is set but AppArmor is not active on this host",
        ));
    }
    if labels.selinux_label.is_some() && !iso_mac::is_active(iso_mac::Lsm::SeLinux) {
        return Err(config_field(
            bundle,
            "process.selinuxLabel",
            "is set but SELinux is not active on this host",
        ));
    }
    let affinity = match process.exec_cpu_affinity() {
        Some(a) => (a.initial().clone(), a.cpu_affinity_final().clone()),
        None => (None, None),
    };
    Ok(ProcessPlan {
        rlimits,
        umask: user.umask(),
        user: user_switch,
        no_new_privs,
        cwd: process.cwd().clone(),
        program,
        path_dirs,
        argv,
        envp,
        seccomp,
        listener_path,
        preserve_fds,
        personality: linux
            .personality()
            .as_ref()
            .map(crate::process::personality)
            .transpose()
            .map_err(|r| config_field(bundle, "linux.personality", r))?,
        apparmor_profile: labels.apparmor_profile,
        selinux_label: labels.selinux_label,
        scheduler: process
            .scheduler()
            .as_ref()
            .map(crate::process::sched_attr)
            .transpose()
            .map_err(|r| config_field(bundle, "process.scheduler", r))?,
        ioprio: process
            .io_priority()
            .as_ref()
            .map(crate::process::ioprio)
            .transpose()
            .map_err(|r| config_field(bundle, "process.ioPriority", r))?,
        affinity_initial: cpu_list(bundle, "process.execCPUAffinity.initial", affinity.0)?,
        affinity_final: cpu_list(bundle, "process.execCPUAffinity.final", affinity.1)?,
        oom_score_adj: process.oom_score_adj(),
        trampoline: None,
    })
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

fn cpu_list(
    bundle: &Bundle,
    field: &'static str,
    text: Option<String>,
) -> Result<Option<crate::process::CpuSet>, Error> {
    text.map(|t| crate::process::parse_cpu_list(&t).map_err(|r| config_field(bundle, field, r)))
        .transpose()
}

fn state_json(record: &Record, status: Status) -> Vec<u8> {
    let state = State {
        oci_version: record.oci_version.clone(),
        id: record.id.clone(),
        status,
        pid: record.pid,
        bundle: record.bundle.clone(),
        rootfs: record.rootfs.clone(),
        created: record.created.clone(),
        owner: String::new(),
        annotations: record.annotations.clone(),
    };
    serde_json::to_vec(&state).unwrap_or_default()
}

impl Runtime {
    /// A runtime whose containers live under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Runtime {
            store: Store::new(root),
            host: Host::default(),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// `create`: sets the container up from the bundle at `bundle` and returns once its init
    /// waits for [`Runtime::start`] in its namespaces and cgroup. On failure nothing is left:
    /// no process, cgroup, mount or state directory.
    ///
    /// Must be called from a single-threaded process whose binary is sealed (the init is a
    /// copy of it: see `iso_chroot::exe::ensure_sealed`); makes the caller non-dumpable.
    pub fn create(&self, id: &str, bundle: &Path, opts: &CreateOptions) -> Result<Created, Error> {
        let id = ContainerId::new(id)?;
        let bundle = Bundle::load(bundle)?;
        let spec = match &opts.policy {
            Some(policy) => policy.apply_annotated(bundle.spec())?.0,
            None => bundle.spec().clone(),
        };
        let seal = match spec.process() {
            Some(p) => crate::guard::seal_reason(p, spec.hooks().as_ref()),
            None => None,
        };
        let trampoline = crate::guard::before_entering_a_container("create", seal)?;
        let dir = self.store.create(&id)?;
        let mut cleanup = Cleanup {
            cgroup: None,
            child: None,
            dir: None,
        };
        let result = self.create_in(&id, &bundle, &spec, &dir, opts, trampoline, &mut cleanup);
        match result {
            Ok(created) => {
                cleanup.child = None;
                cleanup.cgroup = None;
                Ok(created)
            }
            Err(e) => {
                cleanup.dir = Some(dir);
                Err(e)
            }
        }
    }

    // Eight arguments until issue 17 splits this function into a plan and its launch.
    #[allow(clippy::too_many_arguments)]
    fn create_in(
        &self,
        id: &ContainerId,
        bundle: &Bundle,
        spec: &Spec,
        dir: &ContainerDir,
        opts: &CreateOptions,
        trampoline: Option<iso_chroot::exe::Trampoline>,
        cleanup: &mut Cleanup,
    ) -> Result<Created, Error> {
        let linux = spec.linux().clone().unwrap_or_default();
        let process = spec
            .process()
            .clone()
            .ok_or_else(|| config_field(bundle, "process", "is required"))?;
        let mut record = Record {
            oci_version: spec.version().clone(),
            id: id.to_string(),
            pid: 0,
            start_time: 0,
            bundle: bundle.path().to_path_buf(),
            rootfs: bundle.rootfs().to_path_buf(),
            created: rfc3339(SystemTime::now()),
            annotations: spec
                .annotations()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect::<BTreeMap<_, _>>(),
            cgroup: cgroup_path_for(
                linux.cgroups_path().as_deref().and_then(Path::to_str),
                id.as_str(),
            ),
            hooks: spec.hooks().clone(),
            created_done: false,
            resources: linux.resources().clone(),
        };
        dir.save(&record)?;

        // Cgroup first: the init joins it before it does anything else.
        let layout = self.host.layout()?;
        let cg_path = CgroupPath::new(&record.cgroup)?;
        dir.note_cgroup(&record.cgroup)?;
        let cg = Cgroup::create(layout, cg_path)?;
        cleanup.cgroup = Some(cg.clone());
        if let Some(res) = linux.resources() {
            let mut resources = iso_cgroups::Resources::try_from(res)?;
            if !resources.devices.is_empty() {
                // The devices every container gets (created by the init): allowed after the
                // configuration's own rules, as runc does, so that a "deny all" config still
                // has /dev/null, a tty and its pty.
                resources.devices.extend(default_device_rules());
            }
            cg.apply(&resources)?;
        }

        // Namespaces: new ones are cloned, those with a path are joined.
        let mut new = NamespaceSet::default();
        let mut join = Vec::new();
        let mut join_pid = None;
        for ns in linux.namespaces().clone().unwrap_or_default() {
            let kind = Namespace::from_clone_flag(ns.typ() as i32)
                .ok_or_else(|| config_field(bundle, "linux.namespaces", "unknown type"))?;
            match ns.path() {
                Some(path) if !path.as_os_str().is_empty() => {
                    let fd = NsFd::open_kind(path, kind)?;
                    if kind == Namespace::Pid {
                        join_pid = Some(fd);
                    } else {
                        join.push(fd);
                    }
                }
                _ => {
                    new.insert(kind);
                }
            }
        }
        let new_cgroup_ns = new.remove(Namespace::Cgroup);
        let become_root =
            new.contains(Namespace::User) || join.iter().any(|fd| fd.kind() == Namespace::User);
        let new_mount_ns =
            new.contains(Namespace::Mount) || join.iter().any(|fd| fd.kind() == Namespace::Mount);
        let join: Vec<NsFd> = iso_ns::join_plan(&join)?
            .into_iter()
            .map(|fd| NsFd::open_kind(fd.origin(), fd.kind()))
            .collect::<Result<_, _>>()?;
        if (spec.hostname().is_some() || spec.domainname().is_some())
            && !new.contains(Namespace::Uts)
        {
            return Err(config_field(
                bundle,
                "hostname",
                "needs a new UTS namespace (it would change the host's)",
            ));
        }
        let mut spawn = Spawn::new(new);
        if let Some(dir) = cg.open_v2_dir()? {
            // Born in its v2 cgroup: no migration (the init joins v1 itself, see InitPlan).
            spawn = spawn.into_cgroup(dir);
        }
        let map = |m: &oci_spec::runtime::LinuxIdMapping| {
            IdMapEntry::new(m.container_id(), m.host_id(), m.size())
        };
        if new.contains(Namespace::User) {
            if let Some(m) = linux.uid_mappings() {
                spawn = spawn.uid_map(iso_ns::UidMap::new(m.iter().map(map).collect())?);
            }
            if let Some(m) = linux.gid_mappings() {
                spawn = spawn.gid_map(iso_ns::GidMap::new(m.iter().map(map).collect())?);
            }
        }

        // Mounts.
        let mut mounts = Vec::new();
        let mut dev_tmpfs = false;
        for m in spec.mounts().clone().unwrap_or_default() {
            let dest = m.destination().clone();
            if !dest.is_absolute() {
                return Err(config_field(
                    bundle,
                    "mounts.destination",
                    format!("{} is not absolute", dest.display()),
                ));
            }
            let typ = m.typ().clone().unwrap_or_default();
            let options = m.options().clone().unwrap_or_default();
            let is_bind = typ == "bind" || options.iter().any(|o| o == "bind" || o == "rbind");
            if typ == "cgroup" || typ == "cgroup2" {
                let readonly = options.iter().any(|o| o == "ro");
                let v2_only = layout.mode() == iso_cgroups::Mode::Unified;
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
                mounts.push(PlannedMount::Cgroup {
                    destination: dest,
                    tmpfs: !v2_only,
                    readonly,
                    binds,
                });
                continue;
            }
            let kind = if is_bind {
                MountKind::Bind
            } else {
                match typ.as_str() {
                    "proc" => MountKind::Proc,
                    "sysfs" => MountKind::Sysfs,
                    "tmpfs" => MountKind::Tmpfs,
                    "devpts" => MountKind::Devpts,
                    "mqueue" => MountKind::Mqueue,
                    "overlay" => MountKind::Overlay,
                    "" => {
                        return Err(config_field(bundle, "mounts.type", "is required"));
                    }
                    other => MountKind::Other(other.to_owned()),
                }
            };
            if dest == Path::new("/dev") && kind == MountKind::Tmpfs {
                dev_tmpfs = true;
            }
            let mut mount = Mount::new(kind, &dest);
            if let Some(src) = m.source() {
                let src = if is_bind && src.is_relative() {
                    bundle.path().join(src)
                } else {
                    src.clone()
                };
                mount = mount.source(src);
            }
            mount = mount.options(&options.join(","))?;
            mounts.push(PlannedMount::Plain(mount));
        }
        let mut devices = iso_chroot::default_devices();
        for d in linux.devices().clone().unwrap_or_default() {
            let kind = match d.typ() {
                oci_spec::runtime::LinuxDeviceType::B => DeviceKind::Block,
                oci_spec::runtime::LinuxDeviceType::P => DeviceKind::Fifo,
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
        let root_propagation = match linux.rootfs_propagation().as_deref() {
            None | Some("") => None,
            Some(p) => Some(Propagation::parse(p).ok_or_else(|| {
                config_field(
                    bundle,
                    "linux.rootfsPropagation",
                    format!("{p:?} is unknown"),
                )
            })?),
        };
        // A namespace is the container's own when it is new, or joined by a path that is not
        // one of the runtime's (the host's) namespaces.
        let isolated = |kind: Namespace| -> Result<bool, Error> {
            if new.contains(kind) {
                return Ok(true);
            }
            match join.iter().find(|fd| fd.kind() == kind) {
                Some(fd) => Ok(fd.id()? != NsFd::of_process(ProcPid::SelfPid, kind)?.id()?),
                None => Ok(false),
            }
        };
        let sysctls = linux
            .sysctl()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| {
                if k.contains("..") || k.contains('/') && k.contains('.') {
                    return Err(config_field(
                        bundle,
                        "linux.sysctl",
                        format!("{k:?} is invalid"),
                    ));
                }
                let needs = sysctl_namespace(&k).ok_or_else(|| {
                    config_field(
                        bundle,
                        "linux.sysctl",
                        format!("{k:?} is not namespaced: writing it would change the host"),
                    )
                })?;
                if !isolated(needs)? {
                    return Err(config_field(
                        bundle,
                        "linux.sysctl",
                        format!("{k:?} needs the container to have its own {needs:?} namespace"),
                    ));
                }
                Ok((PathBuf::from("sys").join(k.replace('.', "/")), v))
            })
            .collect::<Result<Vec<_>, Error>>()?;

        let mut proc = process_plan(
            self.store.root(),
            bundle,
            &linux,
            &process,
            opts.preserve_fds,
        )?;
        proc.trampoline = trampoline;
        if process.terminal().unwrap_or(false) && opts.console_socket.is_none() {
            return Err(Error::InvalidArgument {
                what: "--console-socket",
                value: String::new(),
                reason: "process.terminal is true: a console socket is required".into(),
            });
        }
        let console = match (&opts.console_socket, process.terminal().unwrap_or(false)) {
            (Some(path), true) => {
                Some(UnixStream::connect(path).map_err(io_err("connect console socket", path))?)
            }
            _ => None,
        };

        // The handshake for `start`, and the channels with the init.
        let (sock_path, _dir_fd) = socket_path(dir.path(), EXEC_SOCKET)?;
        let exec_listener =
            UnixListener::bind(&sock_path).map_err(io_err("bind", dir.path().join(EXEC_SOCKET)))?;
        let (go_read, go_write) = pipe()?;
        let (report_read, report_write) = pipe()?;

        let plan = InitPlan {
            cgroup_v1: cg.prepare_join_v1()?,
            rootfs: bundle.rootfs().to_path_buf(),
            lock_fd: dir.lock_raw_fd(),
            join,
            new_cgroup_ns,
            become_root,
            new_mount_ns,
            hostname: spec.hostname().clone(),
            domainname: spec.domainname().clone(),
            root_propagation,
            mounts,
            devices,
            dev_tmpfs,
            sysctls,
            masked: linux
                .masked_paths()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(PathBuf::from)
                .collect(),
            readonly: linux
                .readonly_paths()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(PathBuf::from)
                .collect(),
            enter: if opts.no_pivot {
                EnterMethod::MoveRoot
            } else {
                EnterMethod::Auto
            },
            readonly_root: spec
                .root()
                .as_ref()
                .and_then(|r| r.readonly())
                .unwrap_or(false),
            console,
            create_container_hooks: hooks_of(spec.hooks().as_ref(), HookKind::CreateContainer),
            start_container_hooks: hooks_of(spec.hooks().as_ref(), HookKind::StartContainer),
            state_json: Vec::new(),
            proc,
        };
        let channels = InitChannels {
            go: go_read,
            report: report_write,
            exec_listener,
        };
        if let Some(fd) = &join_pid {
            // Affects only the children of this (short-lived) process.
            fd.enter()?;
        }
        let parent_ends = [go_write.as_raw_fd(), report_read.as_raw_fd()];
        // SAFETY: create checked above that this process is single-threaded, so the child is
        // a complete copy and may run ordinary code (see Spawn::run).
        let child = unsafe {
            spawn.run(move || {
                close_parent_ends(parent_ends);
                init::run(plan, channels)
            })
        }?;
        let pid = child.pid();
        cleanup.child = Some(child);
        record.pid = pid.as_raw();
        record.start_time = self.host.proc_stat(pid)?.start_time;
        let mut state = state_json(&record, Status::Creating);
        let mut go = fs::File::from(go_write);
        let mut report = fs::File::from(report_read);
        let mut hello = vec![init::GO];
        hello.extend_from_slice(&(state.len() as u32).to_le_bytes());
        hello.extend_from_slice(&state);
        go.write_all(&hello)
            .map_err(io_err("write to init", "(sync pipe)"))?;
        loop {
            let mut byte = [0u8; 1];
            let n = report
                .read(&mut byte)
                .map_err(io_err("read from init", "(sync pipe)"))?;
            if n == 0 {
                return Err(Error::Init {
                    step: "the init exited during setup".into(),
                    source: std::io::Error::from_raw_os_error(libc::ECHILD),
                });
            }
            match byte[0] {
                init::MSG_HOOKS => {
                    state = state_json(&record, Status::Creating);
                    run_hooks(
                        HookKind::Prestart,
                        &hooks_of(spec.hooks().as_ref(), HookKind::Prestart),
                        &state,
                    )?;
                    run_hooks(
                        HookKind::CreateRuntime,
                        &hooks_of(spec.hooks().as_ref(), HookKind::CreateRuntime),
                        &state,
                    )?;
                    go.write_all(&[init::GO])
                        .map_err(io_err("write to init", "(sync pipe)"))?;
                }
                init::MSG_READY => break,
                init::MSG_ERROR => return Err(init::read_failure(&mut report)),
                _ => {
                    return Err(Error::Init {
                        step: "unexpected message from the init".into(),
                        source: std::io::Error::from_raw_os_error(libc::EPROTO),
                    })
                }
            }
        }
        record.created_done = true;
        dir.save(&record)?;
        publish_pid(
            pid,
            id,
            opts.pid_file.as_deref(),
            opts.pidfd_socket.as_deref(),
        )?;
        let child = cleanup.child.take().ok_or_else(|| Error::Init {
            step: "lost the init".into(),
            source: std::io::Error::from_raw_os_error(libc::ECHILD),
        })?;
        Ok(Created {
            child,
            signals: None,
        })
    }

    /// Opens `id` and checks that its status is one of `allowed`; otherwise the error says
    /// the status and `reason`.
    pub(crate) fn open_in(
        &self,
        id: &str,
        allowed: &[Status],
        reason: &str,
    ) -> Result<(ContainerDir, Record), Error> {
        let (dir, record) = self.open(id)?;
        let status = record.status(dir.path(), &self.host);
        if !allowed.contains(&status) {
            return Err(Error::WrongState {
                id: dir.id().clone(),
                status: status.to_string(),
                reason: reason.into(),
            });
        }
        Ok((dir, record))
    }

    pub(crate) fn open(&self, id: &str) -> Result<(ContainerDir, Record), Error> {
        let id = ContainerId::new(id)?;
        let dir = self.store.open(&id)?;
        let record: Record = dir.load()?;
        Ok((dir, record))
    }

    /// `start`: lets the init of a created container execute the user's program, then runs
    /// the `poststart` hooks. Fails unless the container is `created`.
    pub fn start(&self, id: &str) -> Result<(), Error> {
        let (dir, record) = self.open_in(
            id,
            &[Status::Created],
            "only a created container can be started",
        )?;
        let (path, _dir_fd) = socket_path(dir.path(), EXEC_SOCKET)?;
        let mut conn =
            UnixStream::connect(&path).map_err(io_err("connect", dir.path().join(EXEC_SOCKET)))?;
        conn.write_all(&[init::GO])
            .map_err(io_err("start", dir.path().join(EXEC_SOCKET)))?;
        let _ = fs::remove_file(dir.path().join(EXEC_SOCKET));
        let mut first = [0u8; 1];
        // End of file: the connection was closed by the execve (it is close-on-exec).
        let n = conn
            .read(&mut first)
            .map_err(io_err("start", dir.path().join(EXEC_SOCKET)))?;
        if n == 1 && first[0] == init::MSG_ERROR {
            return Err(init::read_failure(&mut conn));
        }
        let state = state_json(&record, Status::Running);
        if let Err(e) = run_hooks(
            HookKind::Poststart,
            &hooks_of(record.hooks.as_ref(), HookKind::Poststart),
            &state,
        ) {
            // The program runs already; the specification asks for a warning only.
            eprintln!("warning: {e}");
        }
        Ok(())
    }

    /// `state`: the OCI state, with the status derived now.
    pub fn state(&self, id: &str) -> Result<State, Error> {
        let (dir, record) = self.open(id)?;
        Ok(record.state(dir.path(), &self.host))
    }

    /// `kill`: sends `signal` to the init (through a pidfd, after checking the pid still is
    /// the init), or with `all` to every process of the container's cgroup. Fails for a
    /// stopped container.
    pub fn kill(&self, id: &str, signal: Signal, all: bool) -> Result<(), Error> {
        let (dir, record) = self.open(id)?;
        let status = record.status(dir.path(), &self.host);
        if matches!(status, Status::Stopped | Status::Creating) {
            return Err(Error::WrongState {
                id: dir.id().clone(),
                status: status.to_string(),
                // containerd's runc shim recognises a kill of a process that already exited by
                // this phrase (runc's): any other text makes it retry the kill forever, and
                // CRI's StopContainer never returns.
                reason: "container not running, nothing to signal".into(),
            });
        }
        if all {
            let cg = self.host.cgroup(&record.cgroup)?;
            for pid in cg.procs_recursive()? {
                // SAFETY: kill sends a signal; processes of the cgroup are the container's.
                unsafe { libc::kill(pid.as_raw(), signal.as_raw()) };
            }
            return Ok(());
        }
        signal_init(&record, &self.host, signal.as_raw())
    }

    /// `delete`: removes a stopped (or still `created`) container: its cgroup, its state, then
    /// runs the `poststop` hooks. A running container is refused unless `force`, which kills
    /// it first. `force` on a container that does not exist succeeds. A record that cannot be
    /// read (corrupt, truncated) fails a plain `delete` naming the record's path; `force`
    /// kills and removes the cgroup `create` noted beside it, then the directory.
    pub fn delete(&self, id: &str, force: bool) -> Result<(), Error> {
        let id = ContainerId::new(id)?;
        let dir = match self.store.open(&id) {
            Ok(dir) => dir,
            Err(e @ Error::NotFound(_)) => return self.delete_missing(&id, force, e),
            Err(e) => return Err(e),
        };
        let record: Record = match dir.load() {
            Ok(record) => record,
            Err(e @ Error::NotFound(_)) => {
                drop(dir);
                return self.delete_missing(&id, force, e);
            }
            // Still locked: what is removed is the container whose record this is.
            Err(e) if force => return self.delete_unreadable(dir, e),
            Err(e) => return Err(e),
        };
        let status = record.status(dir.path(), &self.host);
        match status {
            Status::Stopped | Status::Created | Status::Creating => {}
            _ if force => {}
            _ => {
                return Err(Error::WrongState {
                    id: dir.id().clone(),
                    status: status.to_string(),
                    reason: "delete needs --force to stop a running container".into(),
                })
            }
        }
        let cg = self.host.cgroup(&record.cgroup).ok();
        if status != Status::Stopped {
            if let Some(cg) = &cg {
                let _ = cg.thaw();
                let _ = cg.kill();
            }
            let _ = signal_init(&record, &self.host, libc::SIGKILL);
            wait_gone(&record, &self.host, Duration::from_secs(10));
        }
        if let Some(cg) = &cg {
            let _ = cg.kill();
            cg.delete()?;
        }
        let state = state_json(&record, Status::Stopped);
        dir.remove()?;
        if let Err(e) = run_hooks(
            HookKind::Poststop,
            &hooks_of(record.hooks.as_ref(), HookKind::Poststop),
            &state,
        ) {
            eprintln!("warning: {e}");
        }
        Ok(())
    }

    /// `delete` of an id without a record: an error, but with `force`, which succeeds and
    /// removes the directory a killed command may have left without a record.
    fn delete_missing(&self, id: &ContainerId, force: bool, missing: Error) -> Result<(), Error> {
        if !force {
            return Err(missing);
        }
        self.store.remove_stale(id)?;
        Ok(())
    }

    /// `delete --force` of a container whose record cannot be read (corrupt, truncated): the
    /// processes of the cgroup noted at `create` are killed, the cgroup is removed from every
    /// hierarchy, then the directory. Without the record there are no hooks to run; without
    /// the note (a container created by an older version) the cgroup is unknown, and only
    /// the directory goes, with a warning.
    fn delete_unreadable(&self, dir: ContainerDir, unreadable: Error) -> Result<(), Error> {
        eprintln!(
            "warning: {unreadable}; deleting by the cgroup noted at create, without poststop hooks"
        );
        match dir.noted_cgroup() {
            Some(path) => match self.host.cgroup(&path) {
                Ok(cg) => {
                    let _ = cg.thaw();
                    cg.kill()?;
                    cg.delete()?;
                }
                // Already gone: a delete got that far before.
                Err(Error::Cgroup(e)) if e.errno() == Some(libc::ENOENT) => {}
                Err(e) => return Err(e),
            },
            None => eprintln!(
                "warning: {}: no cgroup noted; the container's processes, if any, are left",
                dir.path().display()
            ),
        }
        dir.remove()
    }

    /// `exec`: runs another process in a created or running container: in the init's
    /// namespaces (joined through its pidfd) and cgroup, with the same steps the init takes
    /// after `start` (credentials, labels, descriptors, cwd, seccomp). Returns 0 at once with
    /// `detach`, otherwise the process' exit code.
    pub fn exec(&self, id: &str, opts: &ExecOptions) -> Result<i32, Error> {
        let seal = crate::guard::seal_reason(&opts.process, None);
        let trampoline = crate::guard::before_entering_a_container("exec", seal)?;
        let (dir, record) = self.open(id)?;
        let status = record.status(dir.path(), &self.host);
        if !matches!(status, Status::Created | Status::Running) {
            return Err(Error::WrongState {
                id: dir.id().clone(),
                status: status.to_string(),
                reason: "exec needs a created or running container".into(),
            });
        }
        let bundle = Bundle::load(&record.bundle)?;
        let linux = bundle.spec().linux().clone().unwrap_or_default();
        let init = Pid::from_raw(record.pid).ok_or_else(|| Error::NotFound(dir.id().clone()))?;
        let pidfd = iso_ns::pidfd_open(init)?;
        if !record.init_alive(&self.host) {
            return Err(Error::WrongState {
                id: dir.id().clone(),
                status: "stopped".into(),
                reason: "the init exited".into(),
            });
        }
        let mut namespaces = NamespaceSet::default();
        for ns in linux.namespaces().clone().unwrap_or_default() {
            if let Some(kind) = Namespace::from_clone_flag(ns.typ() as i32) {
                namespaces.insert(kind);
            }
        }
        let join_pid = namespaces.remove(Namespace::Pid);
        let terminal = opts.process.terminal().unwrap_or(false);
        let console = match (&opts.console_socket, terminal) {
            (Some(path), true) => {
                Some(UnixStream::connect(path).map_err(io_err("connect console socket", path))?)
            }
            (None, true) => {
                return Err(Error::InvalidArgument {
                    what: "--console-socket",
                    value: String::new(),
                    reason: "process.terminal is true: a console socket is required".into(),
                })
            }
            _ => None,
        };
        let cg_path = match opts.sub_cgroup.as_deref() {
            Some(sub) => sub_cgroup_path(&record.cgroup, sub)?,
            None => record.cgroup.clone(),
        };
        let cg = self.host.cgroup(&cg_path)?;
        let plan = init::ExecPlan {
            cgroup_v1: cg.prepare_join_v1()?,
            become_root: namespaces.contains(Namespace::User),
            pidfd: pidfd
                .try_clone()
                .map_err(io_err("dup pidfd", format!("/proc/{init}")))?,
            namespaces,
            lock_fd: dir.lock_raw_fd(),
            console,
            proc: ProcessPlan {
                trampoline,
                ..process_plan(
                    self.store.root(),
                    &bundle,
                    &linux,
                    &opts.process,
                    opts.preserve_fds,
                )?
            },
        };
        if join_pid {
            // pid_for_children of this process: the child is born in the container's PID
            // namespace.
            iso_ns::setns_pidfd(&pidfd, Namespace::Pid.into())?;
        }
        let (report_read, report_write) = pipe()?;
        let mut spawn = Spawn::new(NamespaceSet::default());
        if let Some(dir) = cg.open_v2_dir()? {
            spawn = spawn.into_cgroup(dir);
        }
        let parent_ends = [report_read.as_raw_fd()];
        // SAFETY: checked above that this process is single-threaded (see Spawn::run).
        let mut child = unsafe {
            spawn.run(move || {
                close_parent_ends(parent_ends);
                init::run_exec(plan, report_write)
            })
        }?;
        let pid = child.pid();
        let setup = (|| {
            let mut report = fs::File::from(report_read);
            let mut first = [0u8; 1];
            let n = report
                .read(&mut first)
                .map_err(io_err("read from exec child", "(sync pipe)"))?;
            if n == 1 && first[0] == init::MSG_ERROR {
                return Err(init::read_failure(&mut report));
            }
            Ok(())
        })();
        if let Err(e) = setup {
            let _ = child.kill(libc::SIGKILL);
            let _ = child.wait();
            return Err(e);
        }
        publish_pid(
            pid,
            dir.id(),
            opts.pid_file.as_deref(),
            opts.pidfd_socket.as_deref(),
        )?;
        drop(dir);
        if opts.detach {
            return Ok(0);
        }
        Created {
            child,
            signals: None,
        }
        .wait_forwarding_signals()
    }

    /// `ps`: the pids of every process in the container's cgroup.
    pub fn pids(&self, id: &str) -> Result<Vec<i32>, Error> {
        let (_dir, record) = self.open(id)?;
        let cg = self.host.cgroup(&record.cgroup)?;
        Ok(cg
            .procs_recursive()?
            .into_iter()
            .map(|p| p.as_raw())
            .collect())
    }

    /// `pause`: freezes every process of a running container (its cgroup's freezer).
    pub fn pause(&self, id: &str) -> Result<(), Error> {
        let (_dir, record) = self.open_in(
            id,
            &[Status::Running],
            "only a running container can be paused",
        )?;
        let cg = self.host.cgroup(&record.cgroup)?;
        Ok(cg.freeze()?)
    }

    /// `resume`: thaws a paused container.
    pub fn resume(&self, id: &str) -> Result<(), Error> {
        let (_dir, record) = self.open_in(
            id,
            &[Status::Paused],
            "only a paused container can be resumed",
        )?;
        let cg = self.host.cgroup(&record.cgroup)?;
        Ok(cg.thaw()?)
    }

    /// The ids and states of every container (`list`), read without waiting for the locks of
    /// commands in progress.
    pub fn list(&self) -> Result<Vec<State>, Error> {
        let mut out = Vec::new();
        for id in self.store.ids()? {
            // Without the lock: a container being created or deleted shows as it is now
            // instead of making `list` wait.
            if let Ok(record) = self.store.peek::<Record>(&id) {
                out.push(record.state(&self.store.path_of(&id), &self.host));
            }
        }
        Ok(out)
    }
}

/// Signals the recorded init through a pidfd opened before its start time is checked, so the
/// signal cannot reach a process that reused the pid.
/// Tells the caller the pid of a new process the way it asked: `--pid-file` (written
/// atomically) and `--pidfd-socket` (a pidfd sent with the container id as the message).
fn publish_pid(
    pid: Pid,
    id: &ContainerId,
    pid_file: Option<&Path>,
    pidfd_socket: Option<&Path>,
) -> Result<(), Error> {
    if let Some(path) = pid_file {
        let text = pid.as_raw().to_string();
        write_atomic(path, text.as_bytes(), 0o644, "write pid file")?;
    }
    if let Some(path) = pidfd_socket {
        let sock = UnixStream::connect(path).map_err(io_err("connect pidfd socket", path))?;
        let pidfd = iso_ns::pidfd_open(pid)?;
        iso_seccomp::notify::send_fd(
            std::os::fd::AsFd::as_fd(&sock),
            std::os::fd::AsFd::as_fd(&pidfd),
            id.as_str().as_bytes(),
        )?;
    }
    Ok(())
}

fn signal_init(record: &Record, host: &Host, signal: i32) -> Result<(), Error> {
    let gone = || {
        Error::io(
            "signal the init",
            format!("/proc/{}", record.pid),
            std::io::Error::from_raw_os_error(libc::ESRCH),
        )
    };
    let pid = Pid::from_raw(record.pid).ok_or_else(gone)?;
    let pidfd = iso_ns::pidfd_open(pid).map_err(|_| gone())?;
    if !record.init_alive(host) {
        return Err(gone());
    }
    // SAFETY: pidfd_send_signal with a valid pidfd, no siginfo, no flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 {
        return Err(Error::io(
            "pidfd_send_signal",
            format!("/proc/{pid}"),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Waits (bounded) until the init is no longer alive.
fn wait_gone(record: &Record, host: &Host, limit: Duration) {
    let deadline = Instant::now() + limit;
    while record.init_alive(host) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The cgroup `sub` below the container's `base`: `sub` is relative, may be prefixed with
/// `controller:` (runc's `--cgroup ctrl:path`; the controller part is ignored as every
/// controller's hierarchy holds the same path here), and may not climb out with `..`.
fn sub_cgroup_path(base: &str, sub: &str) -> Result<String, Error> {
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

#[cfg(test)]
mod sub_cgroup_tests {
    use super::sub_cgroup_path;
    use proptest::prelude::*;

    #[test]
    fn sub_cgroups_stay_below_the_container() {
        assert_eq!(sub_cgroup_path("/iso/c", "a/b").unwrap(), "/iso/c/a/b");
        assert_eq!(sub_cgroup_path("/iso/c/", "pids:a").unwrap(), "/iso/c/a");
        for bad in ["", "/", "..", "a/../..", "pids:../x", "a//b", "./a"] {
            assert!(sub_cgroup_path("/iso/c", bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn sub_cgroup_never_climbs(s in "[a-z./:]{0,16}") {
            if let Ok(p) = sub_cgroup_path("/iso/c", &s) {
                prop_assert!(p.starts_with("/iso/c/"));
                prop_assert!(!p.split('/').any(|c| c == ".." || c == "."));
            }
        }
    }
}

#[cfg(test)]
mod sysctl_tests {
    use super::sysctl_namespace;
    use iso_ns::Namespace;

    #[test]
    fn only_namespaced_sysctls_have_a_namespace() {
        assert_eq!(
            sysctl_namespace("net.ipv4.ip_forward"),
            Some(Namespace::Net)
        );
        assert_eq!(
            sysctl_namespace("net/ipv4/ip_forward"),
            Some(Namespace::Net)
        );
        assert_eq!(sysctl_namespace("kernel.shmmax"), Some(Namespace::Ipc));
        assert_eq!(sysctl_namespace("fs.mqueue.msg_max"), Some(Namespace::Ipc));
        assert_eq!(sysctl_namespace("kernel.domainname"), Some(Namespace::Uts));
        for global in [
            "vm.swappiness",
            "kernel.pid_max",
            "fs.file-max",
            "kernel.shmmaxx",
        ] {
            assert_eq!(sysctl_namespace(global), None, "{global}");
        }
    }
}
