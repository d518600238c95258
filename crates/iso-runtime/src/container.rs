//! The runtime: one method per command (`create`, `start`, `state`, `kill`, `delete`,
//! `exec`, ...). `create` and `exec` gather the host's facts, make a plan
//! ([`crate::plan`]) and hand it to [`crate::launch`].

use std::fs;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use iso_sys::Pid;

use crate::error::io_err;
use crate::hooks::{hooks_of, run_hooks, HookEnv, HookKind};
use crate::init;
use crate::plan::{ExecPlan, ExecRequest, HostFacts, Plan, Request};
use crate::state::{socket_path, Host, Record, EXEC_SOCKET};
use crate::{guard, launch};
use crate::{
    Bundle, ContainerDir, ContainerId, CreateOptions, Created, Error, ExecOptions, Signal, State,
    Status, Store,
};

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
    rootless: bool,
}

impl Runtime {
    /// A runtime whose containers live under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Runtime {
            store: Store::new(root),
            host: Host::default(),
            rootless: false,
        }
    }

    /// Works as an unprivileged user (see [`crate::rootless`]): a cgroup the user may not
    /// create is skipped, devices are bind-mounted from the host.
    ///
    /// ```
    /// use iso_runtime::{rootless::running_rootless, Runtime};
    /// let rt = Runtime::new("/run/user/1000/iso").rootless(running_rootless());
    /// ```
    pub fn rootless(mut self, on: bool) -> Self {
        self.rootless = on;
        self
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// What the plan needs to know about this machine, read once per command.
    pub(crate) fn facts(&self) -> Result<HostFacts<'_>, Error> {
        Ok(HostFacts {
            layout: self.host.layout()?,
            last_cap: self.host.last_cap()?,
            lsm_active: &iso_mac::is_active,
            landlock_abi: &|| iso_mac::landlock_status().abi(),
            seccomp_cache: Some(self.store.root()),
            other_exec_formats: &crate::process::other_exec_formats,
            rootless: self.rootless,
            // SAFETY: geteuid cannot fail and touches no memory.
            unprivileged: unsafe { libc::geteuid() } != 0,
        })
    }

    /// `create`: sets the container up from the bundle at `bundle` and returns once its init
    /// waits for [`Runtime::start`] in its namespaces and cgroup. On failure nothing is left:
    /// no process, cgroup, mount or state directory.
    ///
    /// Must be called from a single-threaded process (the init is a copy of it); makes the
    /// caller non-dumpable. Fails with [`Error::SealRequired`], having done nothing, when the
    /// container needs the runtime to run from a sealed copy of its binary
    /// (`iso_chroot::exe::ensure_sealed`) and it does not.
    pub fn create(&self, id: &str, bundle: &Path, opts: &CreateOptions) -> Result<Created, Error> {
        let id = ContainerId::new(id)?;
        let bundle = Bundle::load(bundle)?;
        let request = Request {
            id: &id,
            bundle: bundle.path(),
            rootfs: bundle.rootfs(),
            preserve_fds: opts.preserve_fds,
            no_pivot: opts.no_pivot,
            console_socket: opts.console_socket.is_some(),
            systemd_cgroup: opts.systemd_cgroup,
        };
        let mut plan = Plan::from_spec(
            bundle.spec(),
            &request,
            &self.facts()?,
            opts.policy.as_ref(),
        )?;
        guard::inherit_oom_score_adj(
            &mut plan.init.proc.oom_score_adj,
            &bundle.path().join("config.json"),
        )?;
        let trampoline = guard::before_entering_a_container("create", plan.seal_reason)?;
        let dir = self.store.create(&id)?;
        launch::create(plan, dir, &self.host, opts, trampoline)
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
        // End of file: the connection was closed by the execve (it is close-on-exec).
        loop {
            let mut first = [0u8; 1];
            let n = conn
                .read(&mut first)
                .map_err(io_err("start", dir.path().join(EXEC_SOCKET)))?;
            match (n, first[0]) {
                (1, first @ (init::MSG_ERROR | init::MSG_EXEC_ERROR)) => {
                    return Err(init::read_failure(first, &mut conn))
                }
                (1, init::MSG_LISTENER) => {
                    let pid = Pid::from_raw(record.pid)
                        .ok_or_else(|| Error::NotFound(dir.id().clone()))?;
                    let state = record.state_json(Status::Created);
                    let mut ack = &conn;
                    crate::launch::forward_listener(&mut &conn, &mut ack, pid, &state)?;
                }
                _ => break,
            }
        }
        let state = record.state_json(Status::Running);
        if let Err(e) = run_hooks(
            HookKind::Poststart,
            &hooks_of(record.hooks.as_ref(), HookKind::Poststart),
            &state,
            HookEnv::Runtime,
        ) {
            // The program runs already; the specification asks for a warning only.
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
        // Whether `linux.netDevices` pinned a namespace, the record would tell.
        dir.unpin_netns();
        dir.remove()
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
        // Without a cgroup (rootless), the init: in its own PID namespace, a SIGKILL of it
        // ends every process of the container.
        if all && !record.no_cgroup {
            let cg = record.cgroup(&self.host, "kill --all")?;
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
        let cg = record.cgroup(&self.host, "delete").ok();
        // While the init lives: its network namespace, where the devices are, ends with it.
        let init = record.init_alive(&self.host).then_some(record.pid);
        crate::netdev::back_for_delete(
            init.and_then(iso_sys::Pid::from_raw),
            record.net_devices_ns.as_deref(),
            &record.net_devices,
        );
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
        }
        if let Some(unit) = &record.systemd {
            // Not fatal: the cgroup goes below, and systemd then drops the empty unit.
            if let Err(e) = unit.unit().and_then(|u| crate::systemd::stop(&u)) {
                eprintln!("warning: {e}");
            }
        }
        if let Some(cg) = &cg {
            cg.delete()?;
        }
        let state = record.state_json(Status::Stopped);
        if !record.net_devices.is_empty() {
            dir.unpin_netns();
        }
        dir.remove()?;
        if let Err(e) = run_hooks(
            HookKind::Poststop,
            &hooks_of(record.hooks.as_ref(), HookKind::Poststop),
            &state,
            HookEnv::Runtime,
        ) {
            eprintln!("warning: {e}");
        }
        Ok(())
    }

    /// `exec`: runs another process in a created or running container: in the init's
    /// namespaces (joined through its pidfd) and cgroup, with the same steps the init takes
    /// after `start` (credentials, labels, descriptors, cwd, seccomp). Returns 0 at once with
    /// `detach`, otherwise the process' exit code. As [`Runtime::create`], it makes the caller
    /// non-dumpable and may fail with [`Error::SealRequired`].
    pub fn exec(&self, id: &str, opts: &ExecOptions) -> Result<i32, Error> {
        let (allowed, reason): (&[Status], _) = if opts.ignore_paused {
            (
                &[Status::Created, Status::Running, Status::Paused],
                "exec needs a created, running or paused container",
            )
        } else {
            (
                &[Status::Created, Status::Running],
                "exec needs a created or running container (a paused one with --ignore-paused)",
            )
        };
        let (dir, record) = self.open_in(id, allowed, reason)?;
        let bundle = Bundle::load(&record.bundle)?;
        let request = ExecRequest {
            bundle: bundle.path(),
            cgroup: (!record.no_cgroup).then_some(record.cgroup.as_str()),
            sub_cgroup: opts.sub_cgroup.as_deref(),
            preserve_fds: opts.preserve_fds,
            console_socket: opts.console_socket.is_some(),
            annotations: &record.annotations,
        };
        let plan = ExecPlan::from_process(bundle.spec(), &opts.process, &request, &self.facts()?)?;
        let trampoline = guard::before_entering_a_container("exec", plan.seal_reason)?;
        launch::exec(plan, dir, &record, &self.host, opts, trampoline)
    }

    /// `ps`: the pids of every process in the container's cgroup.
    pub fn pids(&self, id: &str) -> Result<Vec<i32>, Error> {
        let (_dir, record) = self.open(id)?;
        let cg = record.cgroup(&self.host, "ps")?;
        Ok(cg
            .procs_recursive()?
            .into_iter()
            .map(|p| p.as_raw())
            .collect())
    }

    /// `pause`: freezes every process of a created or running container (its cgroup's
    /// freezer), as runc does; a paused created container cannot be started.
    pub fn pause(&self, id: &str) -> Result<(), Error> {
        let (_dir, record) = self.open_in(
            id,
            &[Status::Created, Status::Running],
            "only a created or running container can be paused",
        )?;
        let cg = record.cgroup(&self.host, "pause")?;
        Ok(cg.freeze()?)
    }

    /// `resume`: thaws a paused container. It reads the record without taking the
    /// container's lock: an `exec --ignore-paused` holds that lock while it waits for its
    /// process, which sits frozen until this thaws it.
    pub fn resume(&self, id: &str) -> Result<(), Error> {
        let id = ContainerId::new(id)?;
        let record: Record = self.store.peek(&id)?;
        let status = record.status(&self.store.path_of(&id), &self.host);
        if status != Status::Paused {
            return Err(Error::WrongState {
                id,
                status: status.to_string(),
                reason: "only a paused container can be resumed".into(),
            });
        }
        let cg = record.cgroup(&self.host, "resume")?;
        Ok(cg.thaw()?)
    }

    /// The ids and states of every container (`list`), read without waiting for the locks of
    /// commands in progress; each state names its owner (the user owning the store).
    pub fn list(&self) -> Result<Vec<State>, Error> {
        let mut out = Vec::new();
        // The user owning the root (mode 0700: only they, or the host's root, make entries
        // in it), read once rather than a stat per container.
        let owner = owner_of(
            self.store.root(),
            &fs::read("/etc/passwd").unwrap_or_default(),
        );
        for id in self.store.ids()? {
            // Without the lock: a container being created or deleted shows as it is now
            // instead of making `list` wait.
            if let Ok(record) = self.store.peek::<Record>(&id) {
                let mut state = record.state(&self.store.path_of(&id), &self.host);
                state.owner.clone_from(&owner);
                out.push(state);
            }
        }
        Ok(out)
    }
}

/// Signals the recorded init through a pidfd opened before its start time is checked, so the
/// signal cannot reach a process that reused the pid.
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

/// The owner `list` shows, as runc: the name of the user owning the state directory `dir` in
/// `passwd` (the text of `/etc/passwd`), else `#UID`.
fn owner_of(dir: &Path, passwd: &[u8]) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(uid) = fs::metadata(dir).map(|m| m.uid()) else {
        return String::new();
    };
    match crate::plan::passwd_field(passwd, uid, 0) {
        Some(name) if !name.is_empty() => String::from_utf8_lossy(name).into_owned(),
        _ => format!("#{uid}"),
    }
}
