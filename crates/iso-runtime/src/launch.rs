//! Launch: executes a [`Plan`] (or an `exec`'s plan) and decides nothing.
//!
//! `create`: store the record, create the cgroup and write its limits, open the namespaces
//! to join (entered in the order the kernel needs), clone the init into the new ones and
//! its v2 cgroup, write the id maps, hand the init its state, run the runtime's hooks when
//! it asks, and record its pid once it waits for `start`. A failure undoes all of it.
//! `exec`: clone a process that joins the init's namespaces and cgroup and runs the same
//! last steps as the init after `start`.

use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::SystemTime;

use iso_cgroups::Cgroup;
use iso_chroot::exe::Trampoline;
use iso_ns::{Namespace, NamespaceSet, NsFd, Spawn};
use iso_sys::{Pid, ProcPid};
use oci_spec::runtime::Hook;

use crate::error::io_err;
use crate::hooks::{run_hooks, HookEnv, HookKind};
use crate::init::{self, InitChannels, InitPlan};
use crate::plan::{CgroupPlan, ConfigFile, ExecPlan, NamespacePlan, Plan, Sysctl};
use crate::state::{socket_path, Host, Record, EXEC_SOCKET};
use crate::store::write_atomic;
use crate::{rfc3339, ContainerDir, ContainerId, CreateOptions, Error, ExecOptions, Status};

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
    unit: Option<crate::systemd::Started>,
    child: Option<iso_ns::Child>,
    dir: Option<ContainerDir>,
    net_devices: Option<crate::netdev::Moved>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        // Before the init dies: its network namespace ends with it.
        if let Some(moved) = &mut self.net_devices {
            moved.back();
        }
        if let Some(child) = &mut self.child {
            let _ = child.kill(libc::SIGKILL);
            let _ = child.wait();
        }
        if let Some(cg) = &self.cgroup {
            let _ = cg.kill();
        }
        if let Some(unit) = &mut self.unit {
            unit.stop();
        }
        if let Some(cg) = &self.cgroup {
            let _ = cg.delete();
        }
        if let Some(dir) = self.dir.take() {
            if self.net_devices.is_some() {
                dir.unpin_netns();
            }
            let _ = dir.remove();
        }
    }
}

/// Creates the container `plan` describes in the fresh state directory `dir`, and returns
/// once its init waits for `start`. On failure nothing is left: no process, cgroup, mount
/// or state directory.
///
/// The caller is single-threaded (the init is a copy of it).
pub(crate) fn create(
    plan: Plan,
    dir: ContainerDir,
    host: &Host,
    opts: &CreateOptions,
    trampoline: Option<Trampoline>,
) -> Result<Created, Error> {
    let mut cleanup = Cleanup {
        cgroup: None,
        unit: None,
        child: None,
        dir: None,
        net_devices: None,
    };
    match launch(plan, &dir, host, opts, trampoline, &mut cleanup) {
        Ok(created) => {
            cleanup.net_devices = None;
            cleanup.child = None;
            cleanup.unit = None;
            cleanup.cgroup = None;
            Ok(created)
        }
        Err(e) => {
            cleanup.dir = Some(dir);
            Err(e)
        }
    }
}

/// Fails when the container's cgroup exists already and is frozen: the init would stop in
/// the kernel (D state) on joining it, and `create` would wait for it forever. Checked
/// before anything is created, so the failure leaves the cgroup as it was.
fn refuse_frozen(
    host: &Host,
    path: &iso_cgroups::CgroupPath,
    record: &Record,
) -> Result<(), Error> {
    let existing = Cgroup::at(host.layout()?, path.clone());
    match existing.freezer_state() {
        Ok(iso_cgroups::FreezerState::Frozen | iso_cgroups::FreezerState::Freezing) => {
            Err(Error::ConfigValue {
                path: record.bundle.join("config.json"),
                field: "linux.cgroupsPath".into(),
                reason: format!(
                    "cgroup {path} exists and is frozen: the container's processes could not \
                     run in it (thaw it, or choose another path)"
                ),
            })
        }
        // Missing (the usual case), thawed, or no freezer controller.
        _ => Ok(()),
    }
}

fn launch(
    plan: Plan,
    dir: &ContainerDir,
    host: &Host,
    opts: &CreateOptions,
    trampoline: Option<Trampoline>,
    cleanup: &mut Cleanup,
) -> Result<Created, Error> {
    let Plan {
        mut record,
        cgroup,
        namespaces,
        init: mut setup,
        runtime_hooks,
        terminal,
        seal_reason: _,
        net_devices,
    } = plan;
    record.created = rfc3339(SystemTime::now());
    dir.save(&record)?;
    // Cgroup first: the init joins it before it does anything else. Noted beside the record
    // so that `delete --force` finds it even when the record is unreadable.
    refuse_frozen(host, &cgroup.path, &record)?;
    dir.note_cgroup(cgroup.path.as_str())?;
    if let Some(unit) = &cgroup.unit {
        let started = crate::systemd::start(unit, cgroup.resources.as_ref(), host.layout()?)?;
        cleanup.unit = Some(started);
    }
    // Under systemd too: the unit's directory in hierarchies systemd does not manage (v1).
    let cg = create_cgroup(host, &cgroup, &mut record)?;
    if record.no_cgroup {
        setup.rootfs.without_cgroup();
        dir.save(&record)?;
    }
    cleanup.cgroup = cg.clone();
    if let (Some(cg), Some(resources)) = (&cg, &cgroup.resources) {
        cg.apply(resources)?;
    }
    let (join, join_pid) = open_namespaces(&namespaces)?;
    check_joined_own(&setup.sysctls, namespaces.uts_joined, &join, &record)?;
    let join_user = open_join_user(&namespaces)?;
    let joined_net = namespaces
        .join
        .iter()
        .find(|j| j.kind == Namespace::Net)
        .map(|j| j.path.clone());
    let spawn = spawn_of(namespaces, cg.as_ref(), join_user)?;
    let console = match (&opts.console_socket, terminal) {
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
    // Before the init enters its user namespace: sources only the host's root can reach,
    // and idmapped mounts (their superblocks must belong to the initial user namespace).
    let bind_trees = detached_mounts(&setup.rootfs)?;
    let init_plan = InitPlan {
        bind_trees,
        setup,
        cgroup_v1: prepare_join_v1(cg.as_ref())?,
        lock_fd: dir.lock_raw_fd(),
        join,
        console,
        state_json: Vec::new(),
        trampoline,
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
    // SAFETY: create checked that this process is single-threaded, so the child is a
    // complete copy and may run ordinary code (see Spawn::run).
    let child = unsafe {
        spawn.run(move || {
            close_parent_ends(parent_ends);
            init::run(init_plan, channels)
        })
    }?;
    let pid = child.pid();
    cleanup.child = Some(child);
    if let Some(unit) = &mut cleanup.unit {
        unit.placeholder_done(cg.as_ref(), host.layout()?, cgroup.deferred_pids)?;
    }
    record.pid = pid.as_raw();
    record.start_time = host.proc_stat(pid)?.start_time;
    if !net_devices.is_empty() {
        // Before the hooks: createRuntime hooks see the devices in the container.
        move_net_devices(pid, joined_net, &net_devices, dir, &mut record, cleanup)?;
    }
    handshake(&record, &runtime_hooks, go_write, report_read)?;
    record.created_done = true;
    dir.save(&record)?;
    publish_pid(
        pid,
        dir.id(),
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

/// `linux.netDevices`: moves them into the container's network namespace (its path
/// `joined_net` when joined, else the new one of the init `pid`, then pinned in `dir`), and
/// records what was moved. `cleanup` holds the moved devices from the first step on, so
/// that any later failure moves them back before the init is killed.
fn move_net_devices(
    pid: Pid,
    joined_net: Option<std::path::PathBuf>,
    devices: &[crate::plan::NetDevice],
    dir: &ContainerDir,
    record: &mut Record,
    cleanup: &mut Cleanup,
) -> Result<(), Error> {
    let config = record.bundle.join("config.json");
    let moved = cleanup
        .net_devices
        .insert(crate::netdev::Moved::into_container(
            pid,
            joined_net.as_deref(),
            devices,
            &config,
        )?);
    record.net_devices = moved.devices().to_vec();
    record.net_devices_ns = match joined_net {
        Some(path) => Some(path),
        // A new namespace ends with the container: pinned, for delete's way back.
        None => Some(dir.pin_netns(moved.netns())?),
    };
    dir.save(record)
}

/// Creates the container's cgroup. Rootless (`optional`), a cgroup the user may not create
/// is skipped, as runc does: what was made of it is removed, the record notes it has none,
/// and a warning on stderr names the resources that are then not applied.
fn create_cgroup(
    host: &Host,
    plan: &CgroupPlan,
    record: &mut Record,
) -> Result<Option<Cgroup>, Error> {
    let layout = host.layout()?;
    let err = match Cgroup::create(layout, plan.path.clone()) {
        Ok(cg) => return Ok(Some(cg)),
        Err(e) => e,
    };
    let denied = matches!(err.errno(), Some(libc::EACCES | libc::EPERM | libc::EROFS));
    if !(plan.optional && denied) {
        return Err(err.into());
    }
    let _ = Cgroup::at(layout, plan.path.clone()).delete();
    record.no_cgroup = true;
    let requested = crate::rootless::requested_resources(record.resources.as_ref());
    if !requested.is_empty() {
        eprintln!(
            "warning: rootless: linux.resources not applied ({}): the container has no \
             cgroup ({err})",
            requested.join(", ")
        );
    }
    Ok(None)
}

/// [`Cgroup::prepare_join_v1`] of the container's cgroup, if it has one.
fn prepare_join_v1(cg: Option<&Cgroup>) -> Result<iso_cgroups::PreparedJoin, Error> {
    Ok(cg
        .map(Cgroup::prepare_join_v1)
        .transpose()?
        .unwrap_or_default())
}

/// [`Cgroup::open_v2_dir`] of the container's cgroup, if it has one.
fn open_v2_dir(cg: Option<&Cgroup>) -> Result<Option<OwnedFd>, Error> {
    Ok(cg.map(Cgroup::open_v2_dir).transpose()?.flatten())
}

/// Opens the namespaces to join and puts them in the order the kernel needs
/// (`iso_ns::join_plan`: the user namespace first, then those it owns; the runtime's own
/// are left out); and the PID namespace, which the runtime enters itself.
fn open_namespaces(ns: &NamespacePlan) -> Result<(Vec<NsFd>, Option<NsFd>), Error> {
    let opened = ns
        .join
        .iter()
        .map(|j| NsFd::open_kind(&j.path, j.kind))
        .collect::<Result<Vec<_>, _>>()?;
    let order: Vec<usize> = iso_ns::join_plan(&opened)?
        .into_iter()
        .filter_map(|planned| opened.iter().position(|fd| std::ptr::eq(fd, planned)))
        .collect();
    let mut slots: Vec<Option<NsFd>> = opened.into_iter().map(Some).collect();
    let join = order.into_iter().filter_map(|i| slots[i].take()).collect();
    let pid = ns
        .join_pid
        .as_ref()
        .map(|path| NsFd::open_kind(path, Namespace::Pid))
        .transpose()?;
    Ok((join, pid))
}

/// A sysctl, or the hostname, in a joined namespace is the container's only if that
/// namespace is not the runtime's own (the host's): compared by namespace id.
fn check_joined_own(
    sysctls: &[Sysctl],
    uts_joined: bool,
    join: &[NsFd],
    record: &Record,
) -> Result<(), Error> {
    let own = |kind: Namespace| -> Result<bool, Error> {
        Ok(match join.iter().find(|fd| fd.kind() == kind) {
            Some(fd) => fd.id()? != NsFd::of_process(ProcPid::SelfPid, kind)?.id()?,
            // join_plan left it out: the runtime is in it already.
            None => false,
        })
    };
    let config = ConfigFile::of_bundle(&record.bundle);
    if uts_joined && !own(Namespace::Uts)? {
        return Err(config.invalid(
            "hostname",
            "the joined UTS namespace is the runtime's own (it would rename the host)",
        ));
    }
    for sysctl in sysctls.iter().filter(|s| s.joined) {
        if !own(sysctl.namespace)? {
            return Err(config.invalid(
                "linux.sysctl",
                format!(
                    "{:?} needs the container to have its own {:?} namespace",
                    sysctl.key, sysctl.namespace
                ),
            ));
        }
    }
    Ok(())
}

/// The user namespace the clone happens in (`linux.namespaces` user with a path), unless it
/// is the runtime's own.
fn open_join_user(ns: &NamespacePlan) -> Result<Option<OwnedFd>, Error> {
    let Some(path) = &ns.join_user else {
        return Ok(None);
    };
    let fd = NsFd::open_kind(path, Namespace::User)?;
    if fd.id()? == NsFd::of_process(ProcPid::SelfPid, Namespace::User)?.id()? {
        return Ok(None);
    }
    Ok(Some(fd.into()))
}

/// The clone: the new namespaces, born in the v2 cgroup (no migration; the init joins v1
/// itself, see `InitPlan`), the id maps written while the child waits.
fn spawn_of(ns: NamespacePlan, cg: Option<&Cgroup>, user: Option<OwnedFd>) -> Result<Spawn, Error> {
    let mut spawn = Spawn::new(ns.new);
    if let Some(user) = user {
        spawn = spawn.in_user_namespace(user);
    }
    if let Some(offsets) = ns.time_offsets {
        spawn = spawn.time_offsets(offsets);
    }
    if let Some(dir) = open_v2_dir(cg)? {
        spawn = spawn.into_cgroup(dir);
    }
    if let Some(map) = ns.uid_map {
        spawn = spawn.uid_map(map);
    }
    if let Some(map) = ns.gid_map {
        spawn = spawn.gid_map(map);
    }
    Ok(spawn)
}

/// Sends the init its state, runs the runtime's hooks when it asks, and returns once it
/// waits for `start`.
fn handshake(
    record: &Record,
    hooks: &[(HookKind, Vec<Hook>)],
    go: OwnedFd,
    report: OwnedFd,
) -> Result<(), Error> {
    let state = record.state_json(Status::Creating);
    let mut go = fs::File::from(go);
    let mut report = fs::File::from(report);
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
                for (kind, list) in hooks {
                    run_hooks(*kind, list, &state, HookEnv::Runtime)?;
                }
                go.write_all(&[init::GO])
                    .map_err(io_err("write to init", "(sync pipe)"))?;
            }
            init::MSG_READY => return Ok(()),
            first @ (init::MSG_ERROR | init::MSG_EXEC_ERROR) => {
                return Err(init::read_failure(first, &mut report))
            }
            _ => {
                return Err(Error::Init {
                    step: "unexpected message from the init".into(),
                    source: std::io::Error::from_raw_os_error(libc::EPROTO),
                })
            }
        }
    }
}

/// Runs the process `plan` describes in the container of `record` (created or running,
/// checked by the caller, who holds `dir`'s lock): returns 0 at once with `detach`,
/// otherwise the process' exit code.
///
/// The caller is single-threaded (the process is a copy of it).
pub(crate) fn exec(
    plan: ExecPlan,
    dir: ContainerDir,
    record: &Record,
    host: &Host,
    opts: &ExecOptions,
    trampoline: Option<Trampoline>,
) -> Result<i32, Error> {
    let init = Pid::from_raw(record.pid).ok_or_else(|| Error::NotFound(dir.id().clone()))?;
    let pidfd = iso_ns::pidfd_open(init)?;
    if !record.init_alive(host) {
        return Err(Error::WrongState {
            id: dir.id().clone(),
            status: "stopped".into(),
            reason: "the init exited".into(),
        });
    }
    let console = match (&opts.console_socket, plan.terminal) {
        (Some(path), true) => {
            Some(UnixStream::connect(path).map_err(io_err("connect console socket", path))?)
        }
        _ => None,
    };
    let cg = plan.cgroup.as_deref().map(|p| host.cgroup(p)).transpose()?;
    let mut child_plan = init::ExecPlan {
        cgroup_v1: prepare_join_v1(cg.as_ref())?,
        become_root: plan.namespaces.become_root(),
        pidfd: pidfd
            .try_clone()
            .map_err(io_err("dup pidfd", format!("/proc/{init}")))?,
        namespaces: plan.namespaces.join,
        lock_fd: dir.lock_raw_fd(),
        console,
        proc: plan.proc,
        trampoline,
        listener_ack: None,
    };
    if plan.namespaces.pid {
        join_pid_for_children(&pidfd, init, &mut child_plan.namespaces)?;
    }
    let (report_read, report_write) = pipe()?;
    let ack = match &child_plan.proc.listener_path {
        Some(_) => {
            let (ack_read, ack_write) = pipe()?;
            child_plan.listener_ack = Some(ack_read);
            Some(fs::File::from(ack_write))
        }
        None => None,
    };
    let mut spawn = Spawn::new(NamespaceSet::default());
    if let Some(dir) = open_v2_dir(cg.as_ref())? {
        spawn = spawn.into_cgroup(dir);
    }
    let parent_ends = [
        report_read.as_raw_fd(),
        ack.as_ref().map_or(-1, |a| a.as_raw_fd()),
    ];
    // SAFETY: exec checked that this process is single-threaded (see Spawn::run).
    let mut child = unsafe {
        spawn.run(move || {
            close_parent_ends(parent_ends);
            init::run_exec(child_plan, report_write)
        })
    }?;
    let state = record.state_json(Status::Running);
    if let Err(e) = exec_ready(report_read, ack, child.pid(), &state) {
        let _ = child.kill(libc::SIGKILL);
        let _ = child.wait();
        return Err(e);
    }
    publish_pid(
        child.pid(),
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

/// Makes the container's PID namespace this process' `pid_for_children`, so that the `exec`
/// child is born in it. A rootless runtime may not enter it from outside the container's
/// user namespace, which owns it: it enters that user namespace first (its own child, so it
/// may), and the child is left the other namespaces to join. The kernel lets an
/// unprivileged process join another's namespaces only if it may trace it: not while the
/// init of a created container, non-dumpable (see guard.rs), waits for `start`.
fn join_pid_for_children(
    pidfd: &OwnedFd,
    init: Pid,
    namespaces: &mut NamespaceSet,
) -> Result<(), Error> {
    match iso_ns::setns_pidfd(pidfd, Namespace::Pid.into()) {
        Err(e) if e.errno() == Some(libc::EPERM) && namespaces.contains(Namespace::User) => {
            let both = NamespaceSet::from([Namespace::User, Namespace::Pid]);
            iso_ns::setns_pidfd(pidfd, both).map_err(|e| match e.errno() {
                Some(libc::EPERM) => Error::Io {
                    op: "join the namespaces of the init (rootless: only once it runs the \
                         container's program; a created container's init is non-dumpable)",
                    path: format!("/proc/{init}/ns").into(),
                    source: std::io::Error::from_raw_os_error(libc::EPERM),
                },
                _ => e.into(),
            })?;
            namespaces.remove(Namespace::User);
            Ok(())
        }
        other => Ok(other?),
    }
}

/// Waits until the `exec` child executed its program (end of file: the pipe is
/// close-on-exec) or reports why it could not; forwards its seccomp listener on the way.
fn exec_ready(
    report: OwnedFd,
    mut ack: Option<fs::File>,
    pid: Pid,
    state: &[u8],
) -> Result<(), Error> {
    let mut report = fs::File::from(report);
    loop {
        let mut first = [0u8; 1];
        let n = report
            .read(&mut first)
            .map_err(io_err("read from exec child", "(sync pipe)"))?;
        match (n, first[0], ack.as_mut()) {
            (1, first @ (init::MSG_ERROR | init::MSG_EXEC_ERROR), _) => {
                return Err(init::read_failure(first, &mut report))
            }
            (1, init::MSG_LISTENER, Some(ack)) => forward_listener(&mut report, ack, pid, state)?,
            _ => return Ok(()),
        }
    }
}

/// A copy of descriptor `number` of process `pid` (`pidfd_getfd`). It was announced before
/// the process made it (loading its filter takes two calls after the announcement): until
/// it exists (`EBADF`), asked again for at most two seconds.
fn take_fd(pid: Pid, number: RawFd) -> Result<OwnedFd, Error> {
    let pidfd = iso_ns::pidfd_open(pid)?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        // SAFETY: pidfd_getfd returns a new descriptor (a copy of the process' `number`)
        // or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), number, 0) };
        if fd >= 0 {
            // SAFETY: a fresh descriptor this process owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EBADF) || std::time::Instant::now() > deadline {
            let what = format!("/proc/{}/fd/{number}", pid.as_raw());
            return Err(io_err("pidfd_getfd (seccomp listener)", what)(e));
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
}

/// After [`init::MSG_LISTENER`] on `from`: takes the process' seccomp listener (with
/// `pidfd_getfd`; this process is not under the filter) and sends it to the listener path
/// with the container process state the runtime specification defines (`fds`, `pid`,
/// `metadata`, `state`), then tells the process with a byte on `ack`.
pub(crate) fn forward_listener(
    from: &mut impl Read,
    ack: &mut impl Write,
    pid: Pid,
    state: &[u8],
) -> Result<(), Error> {
    let bad = |reason: &str| Error::Init {
        step: format!("seccomp listener announcement: {reason}"),
        source: std::io::Error::from_raw_os_error(libc::EPROTO),
    };
    let mut word = [0u8; 4];
    from.read_exact(&mut word).map_err(|_| bad("short"))?;
    let number = i32::from_le_bytes(word);
    from.read_exact(&mut word).map_err(|_| bad("short"))?;
    let mut about = vec![0u8; (u32::from_le_bytes(word) as usize).min(1 << 20)];
    from.read_exact(&mut about).map_err(|_| bad("short"))?;
    let about: serde_json::Value = serde_json::from_slice(&about).map_err(|_| bad("not JSON"))?;
    let path = about["path"].as_str().ok_or_else(|| bad("no path"))?;
    let listener = take_fd(pid, number)?;
    let state: serde_json::Value = serde_json::from_slice(state).unwrap_or_default();
    let payload = serde_json::json!({
        "ociVersion": "1.0.2",
        "fds": ["seccompFd"],
        "pid": pid.as_raw(),
        "metadata": about["metadata"],
        "state": state,
    });
    iso_seccomp::notify::send_fd_to_path(
        path,
        std::os::fd::AsFd::as_fd(&listener),
        payload.to_string().as_bytes(),
    )?;
    ack.write_all(&[init::GO])
        .map_err(io_err("write to the process", "(seccomp listener)"))
}

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

/// The mounts the runtime makes detached for the init (`RootfsPlan::detached_mounts`):
/// cloned bind sources, and idmapped mounts through one user namespace per distinct maps,
/// made here and closed once the trees carry them.
fn detached_mounts(rootfs: &crate::plan::RootfsPlan) -> Result<Vec<(usize, OwnedFd)>, Error> {
    let mut namespaces: Vec<(&crate::plan::Idmap, NsFd)> = Vec::new();
    let mut trees = Vec::new();
    for (i, m, idmap) in rootfs.detached_mounts() {
        let Some(idmap) = idmap else {
            trees.push((i, m.clone_source()?));
            continue;
        };
        let tree = m.detached()?;
        let at = match namespaces.iter().position(|(map, _)| *map == idmap) {
            Some(at) => at,
            None => {
                let ns = iso_ns::user_namespace_with_maps(&idmap.uid, &idmap.gid)?;
                namespaces.push((idmap, ns));
                namespaces.len() - 1
            }
        };
        iso_chroot::set_idmap(
            std::os::fd::AsFd::as_fd(&tree),
            std::os::fd::AsFd::as_fd(&namespaces[at].1),
            idmap.recursive,
            m.destination(),
        )?;
        trees.push((i, tree));
    }
    Ok(trees)
}
