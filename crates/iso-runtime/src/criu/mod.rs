//! `checkpoint` and `restore` with CRIU, through its RPC interface.
//!
//! The runtime starts `criu swrk FD` with one end of a `SOCK_SEQPACKET` socket pair and
//! speaks CRIU's protobuf messages over it (one message a datagram): a `criu_req` with the
//! options, the notifications CRIU sends at its action-script points (answered, after the
//! runtime's hooks), and the final `criu_resp`. The messages are encoded and decoded by a
//! small codec of the protobuf wire format for the fields used (`wire`, `rpc`); why not the
//! `rust-criu` crate is in `docs/runtime-design.md`.
//!
//! - `checkpoint` dumps a running (or paused) container: CRIU freezes its cgroup, the bind
//!   mounts, the binds of its cgroup directories and the masked files are declared external
//!   (CRIU cannot dump their sources), and the container's stdio (as `/proc/PID/fd/0..2`
//!   read) is saved beside the image (`descriptors.json`). Without `--leave-running` or
//!   `--pre-dump` the container is then deleted, as runc does.
//! - `restore` creates the container `id` from the bundle: its record, its cgroup with the
//!   configured limits (CRIU runs inside it, so the tasks it creates start there), then asks
//!   CRIU to restore the image into the root filesystem, binding each external mount from its
//!   source, the restored init a child of the runtime, its stdio the runtime's. At CRIU's
//!   `setup-namespaces` point the `prestart` and `createRuntime` hooks run; `post-restore`
//!   names the new init, which is recorded as running. A failed restore removes the cgroup
//!   and the record.
//!
//! CRIU's failures are returned as [`Error::Criu`] with its message and the path of its log.

mod request;
mod rpc;
mod swrk;
mod wire;

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use iso_cgroups::{Cgroup, Controller};
use iso_sys::Pid;

use crate::error::io_err;
use crate::hooks::{hooks_of, run_hooks, HookEnv, HookKind};
use crate::plan::{Plan, Request as PlanRequest};
use crate::state::Record;
use crate::store::write_atomic;
use crate::{rfc3339, Bundle, ContainerDir, ContainerId, Error, Runtime, Status};
use request::{
    check_supported, dump_request, external_mounts, joined_net_ns, restore_request, stdio_key, Dirs,
};
use swrk::Swrk;

pub use rpc::{CgroupMode, Notify, Response, Version};
pub use wire::WireError;

/// The file beside the image naming the container's stdio at checkpoint.
const DESCRIPTORS: &str = "descriptors.json";

/// The CRIU flags `checkpoint` and `restore` share (runc's).
///
/// ```
/// let flags = iso_runtime::criu::CriuFlags {
///     image_path: "/var/lib/ck/web".into(),
///     tcp_established: true,
///     ..Default::default()
/// };
/// assert!(flags.work_path.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CriuFlags {
    /// The image directory (created, mode 0700, by `checkpoint`).
    pub image_path: PathBuf,
    /// Where CRIU's log goes (default: the image directory).
    pub work_path: Option<PathBuf>,
    /// Dump or restore established TCP connections.
    pub tcp_established: bool,
    /// Allow external unix sockets.
    pub ext_unix_sk: bool,
    /// Allow a shell job (a process group or session from outside).
    pub shell_job: bool,
    /// Dump or restore file locks.
    pub file_locks: bool,
    /// What CRIU does with the cgroups (default soft).
    pub manage_cgroups_mode: Option<CgroupMode>,
    /// A namespace created empty at restore (`network`).
    pub empty_ns: Option<String>,
    /// Deduplicate memory images.
    pub auto_dedup: bool,
    /// Leave memory pages to be restored lazily (userfaultfd).
    pub lazy_pages: bool,
}

/// The flags of `checkpoint` (runc's).
///
/// ```
/// use iso_runtime::criu::{CheckpointOptions, CriuFlags};
/// let opts = CheckpointOptions {
///     criu: CriuFlags { image_path: "/var/lib/ck/web".into(), ..Default::default() },
///     leave_running: true,
///     ..Default::default()
/// };
/// assert!(!opts.pre_dump);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointOptions {
    /// The flags shared with `restore`.
    pub criu: CriuFlags,
    /// The image of a previous pre-dump, relative to the image path (incremental dump).
    pub parent_path: Option<PathBuf>,
    /// Keep the container running after the dump.
    pub leave_running: bool,
    /// Dump only memory, leave the container running (for a later incremental dump).
    pub pre_dump: bool,
    /// A descriptor CRIU writes `\0` to once lazy pages are ready.
    pub status_fd: Option<i32>,
}

/// The flags of `restore` (runc's).
///
/// ```
/// use iso_runtime::criu::{CriuFlags, RestoreOptions};
/// let opts = RestoreOptions {
///     criu: CriuFlags { image_path: "/var/lib/ck/web".into(), ..Default::default() },
///     bundle: "/srv/bundles/web".into(),
///     detach: true,
///     ..Default::default()
/// };
/// assert!(opts.pid_file.is_none());
/// ```
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// The flags shared with `checkpoint`.
    pub criu: CriuFlags,
    /// The bundle whose `config.json` and root filesystem the container gets.
    pub bundle: PathBuf,
    /// Return once restored instead of waiting for the container to exit.
    pub detach: bool,
    /// File to write the restored init's pid to.
    pub pid_file: Option<PathBuf>,
    /// Accepted as runc's; a container with a terminal is refused.
    pub console_socket: Option<PathBuf>,
    /// Do not make the runtime a child subreaper.
    pub no_subreaper: bool,
    /// The site policy, applied to the bundle's config as by `create`.
    pub policy: Option<crate::policy::Policy>,
}

/// A container restored by this process: its init is our child.
///
/// ```no_run
/// use iso_runtime::{criu::{CriuFlags, RestoreOptions}, Runtime};
/// let rt = Runtime::new("/run/iso");
/// let criu = CriuFlags { image_path: "/ck".into(), ..Default::default() };
/// let opts = RestoreOptions { criu, bundle: "/b".into(), ..Default::default() };
/// let restored = rt.restore("web", &opts)?;
/// println!("exit {}", restored.wait()?);
/// # Ok::<(), iso_runtime::Error>(())
/// ```
#[derive(Debug)]
pub struct Restored {
    pid: i32,
}

impl Restored {
    /// The restored init's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Waits for the init to end: its exit code, or 128 + the signal that killed it.
    pub fn wait(&self) -> Result<i32, Error> {
        let mut status = 0;
        loop {
            // SAFETY: waitpid on our child with a valid out-pointer.
            let r = unsafe { libc::waitpid(self.pid, &mut status, 0) };
            if r == self.pid {
                break;
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(Error::io("waitpid", format!("/proc/{}", self.pid), e));
            }
        }
        Ok(if libc::WIFSIGNALED(status) {
            128 + libc::WTERMSIG(status)
        } else {
            libc::WEXITSTATUS(status)
        })
    }
}

/// Creates `path` (mode 0700) when `create`, and opens it as a directory; the descriptor
/// is close-on-exec until `Swrk::start` hands it to CRIU.
fn open_dir(path: &Path, create: bool) -> Result<OwnedFd, Error> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if create {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(io_err("create the image directory", path))?;
    }
    let dir = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(path)
        .map_err(io_err("open the image directory", path))?;
    Ok(dir.into())
}

/// The image and work directories as CRIU will see them, and where its log is written.
struct ImageDirs {
    images: OwnedFd,
    work: Option<OwnedFd>,
    log_dir: PathBuf,
}

impl ImageDirs {
    fn open(image: &Path, work: Option<&Path>, create: bool) -> Result<ImageDirs, Error> {
        let images = open_dir(image, create)?;
        let work_fd = work.map(|w| open_dir(w, true)).transpose()?;
        Ok(ImageDirs {
            images,
            work: work_fd,
            log_dir: work.unwrap_or(image).to_path_buf(),
        })
    }

    fn dirs(&self) -> Dirs {
        Dirs {
            images: self.images.as_raw_fd(),
            work: self.work.as_ref().map(AsRawFd::as_raw_fd),
        }
    }

    fn fds(&self) -> Vec<RawFd> {
        let d = self.dirs();
        std::iter::once(d.images).chain(d.work).collect()
    }
}

/// [`Error::Criu`] unless CRIU reported success.
fn check_success(resp: &Response, what: &str, log: &Path) -> Result<(), Error> {
    if resp.success {
        return Ok(());
    }
    let errno = resp
        .errno
        .map(|e| format!(" ({})", std::io::Error::from_raw_os_error(e)))
        .unwrap_or_default();
    let message = match &resp.errmsg {
        Some(m) => m.trim().to_owned(),
        None => last_error_line(log).unwrap_or_else(|| "failed without a message".into()),
    };
    Err(Error::Criu {
        what: what.into(),
        reason: format!("{message}{errno}"),
        log: log.to_path_buf(),
    })
}

/// The last error line of CRIU's log (CRIU sends no message for failures before it has
/// its log, such as its own initialisation).
fn last_error_line(log: &Path) -> Option<String> {
    let text = fs::read_to_string(log).ok()?;
    let line = text.lines().rev().find(|l| l.contains("Error"))?;
    Some(line.trim().to_owned())
}

/// CRIU's keys for the stdio descriptors 0..2 of `pid` (empty for a closed one), with
/// whether each is external ([`request::stdio_key`]).
fn stdio_of(pid: i32) -> Vec<(String, bool)> {
    use std::os::unix::fs::MetadataExt;
    (0..3)
        .map(|fd| {
            let path = format!("/proc/{pid}/fd/{fd}");
            let Ok(link) = fs::read_link(&path) else {
                return (String::new(), false);
            };
            let inode = fs::metadata(&path).map(|m| m.ino()).unwrap_or_default();
            let mnt_id = fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}"))
                .ok()
                .and_then(|t| {
                    t.lines()
                        .find_map(|l| l.strip_prefix("mnt_id:"))
                        .and_then(|v| v.trim().parse().ok())
                })
                .unwrap_or_default();
            stdio_key(&link.to_string_lossy(), mnt_id, inode)
        })
        .collect()
}

/// Whether the masked path `p` of the container whose init is `pid` is a masked file: the
/// `/dev/null` bind (a directory masked is a tmpfs CRIU dumps itself).
fn is_masked_file(pid: i32, p: &str) -> bool {
    use std::os::unix::fs::FileTypeExt;
    fs::metadata(format!("/proc/{pid}/root{p}")).is_ok_and(|m| m.file_type().is_char_device())
}

/// The directory CRIU freezes the container through: the freezer's (v1) or the v2 one.
/// The stdio keys `checkpoint` recorded beside the image (`descriptors.json`): none when the
/// file is absent (an image another tool made), an error naming it when it is unreadable.
fn recorded_stdio(path: &Path) -> Result<Vec<String>, Error> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            io_err("parse", path)(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_err("read", path)(e)),
    }
}

/// The inode of the network namespace of process `pid`: how CRIU names a namespace it
/// must treat as external.
fn net_ns_inode(pid: i32) -> Result<u64, Error> {
    let path = format!("/proc/{pid}/ns/net");
    fs::metadata(&path)
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .map_err(io_err("stat", Path::new(&path)))
}

fn freezer_dir(cg: &Cgroup) -> Option<PathBuf> {
    let h = cg.layout().owner(Controller::Freezer)?;
    Some(cg.path().dir_in(&h.mount_point))
}

impl Runtime {
    /// The plan of the container `id` from `bundle` (without effects), checked to be one
    /// CRIU can checkpoint and restore.
    fn criu_plan(
        &self,
        id: &ContainerId,
        bundle: &Bundle,
        systemd: bool,
        policy: Option<&crate::policy::Policy>,
    ) -> Result<Plan, Error> {
        let request = PlanRequest {
            id,
            bundle: bundle.path(),
            rootfs: bundle.rootfs(),
            preserve_fds: 0,
            no_pivot: false,
            console_socket: false,
            systemd_cgroup: systemd,
        };
        let plan = Plan::from_spec(bundle.spec(), &request, &self.facts()?, policy)?;
        check_supported(
            &plan.namespaces,
            &plan.init.rootfs,
            plan.terminal,
            &bundle.path().join("config.json"),
        )?;
        Ok(plan)
    }

    /// `checkpoint`: dumps the running (or paused) container `id` into
    /// `opts.criu.image_path` with CRIU; then, unless `leave_running` or `pre_dump`, deletes it
    /// (as runc). CRIU's failure is an [`Error::Criu`] naming its log, and leaves the
    /// container as it was.
    ///
    /// ```no_run
    /// use iso_runtime::{criu::{CheckpointOptions, CriuFlags}, Runtime};
    /// let rt = Runtime::new("/run/iso");
    /// let criu = CriuFlags { image_path: "/ck/web".into(), ..Default::default() };
    /// rt.checkpoint("web", &CheckpointOptions { criu, ..Default::default() })?;
    /// # Ok::<(), iso_runtime::Error>(())
    /// ```
    pub fn checkpoint(&self, id: &str, opts: &CheckpointOptions) -> Result<(), Error> {
        let (dir, record) = self.open_in(
            id,
            &[Status::Running, Status::Paused],
            "only a running container can be checkpointed",
        )?;
        let bundle = Bundle::load(&record.bundle)?;
        let plan = self.criu_plan(dir.id(), &bundle, record.systemd.is_some(), None)?;
        let image = ImageDirs::open(&opts.criu.image_path, opts.criu.work_path.as_deref(), true)?;
        let stdio = stdio_of(record.pid);
        let keys: Vec<&str> = stdio.iter().map(|(k, _)| k.as_str()).collect();
        let json = serde_json::to_vec(&keys).unwrap_or_default();
        write_atomic(
            &opts.criu.image_path.join(DESCRIPTORS),
            &json,
            0o600,
            "write",
        )?;
        let files: Vec<String> = stdio.into_iter().filter(|s| s.1).map(|s| s.0).collect();
        let externals: Vec<_> = external_mounts(&plan.init.rootfs)
            .into_iter()
            .filter(|e| {
                !plan
                    .init
                    .rootfs
                    .masked
                    .iter()
                    .any(|m| *m == Path::new(&e.mount_point))
                    || is_masked_file(record.pid, &e.mount_point)
            })
            .collect();
        let freezer = match record.no_cgroup {
            true => None,
            false => freezer_dir(&record.cgroup(&self.host, "checkpoint")?),
        };
        let joined_net_inode = match joined_net_ns(&plan.namespaces) {
            Some(_) => Some(net_ns_inode(record.pid)?),
            None => None,
        };
        let req = dump_request(
            record.pid,
            &externals,
            &files,
            joined_net_inode,
            freezer.as_deref(),
            image.dirs(),
            opts,
        )?;
        let log = image
            .log_dir
            .join(req.opts.as_ref().map_or("", |o| &o.log_file));
        let mut fds = image.fds();
        fds.extend(opts.status_fd);
        let resp = Swrk::start(&fds, &log)?.call(&req, |_| Ok(()))?;
        check_success(&resp, "dump", &log)?;
        drop(dir);
        if !opts.leave_running && !opts.pre_dump {
            self.delete(id, true)?;
        }
        Ok(())
    }

    /// `restore`: creates the container `id` from `opts.bundle` and restores the image at
    /// `opts.criu.image_path` into it with CRIU; returns once it runs, recorded with its new init
    /// pid. On failure nothing is left: no process, cgroup or state directory.
    ///
    /// Makes the caller a child subreaper unless `no_subreaper`.
    ///
    /// ```no_run
    /// use iso_runtime::{criu::{CriuFlags, RestoreOptions}, Runtime};
    /// let rt = Runtime::new("/run/iso");
    /// let criu = CriuFlags { image_path: "/ck/web".into(), ..Default::default() };
    /// let opts = RestoreOptions { criu, bundle: "/b".into(), ..Default::default() };
    /// let restored = rt.restore("web", &opts)?;
    /// assert_eq!(rt.state("web")?.pid, restored.pid());
    /// # Ok::<(), iso_runtime::Error>(())
    /// ```
    pub fn restore(&self, id: &str, opts: &RestoreOptions) -> Result<Restored, Error> {
        let id = ContainerId::new(id)?;
        let bundle = Bundle::load(&opts.bundle)?;
        let plan = self.criu_plan(&id, &bundle, false, opts.policy.as_ref())?;
        let image = ImageDirs::open(&opts.criu.image_path, opts.criu.work_path.as_deref(), false)?;
        let dir = self.store().create(&id)?;
        let mut cgroup = None;
        match self.restore_into(&dir, &mut cgroup, plan, &image, opts) {
            Ok(restored) => Ok(restored),
            Err(e) => {
                if let Some(cg) = cgroup {
                    let _ = cg.kill_and_wait();
                    let _ = cg.delete();
                }
                let _ = dir.remove();
                Err(e)
            }
        }
    }

    /// The effects of `restore` in the new state directory `dir`; the cgroup, once made,
    /// goes to `cgroup` for the caller to remove on failure.
    fn restore_into(
        &self,
        dir: &ContainerDir,
        cgroup: &mut Option<Cgroup>,
        plan: Plan,
        image: &ImageDirs,
        opts: &RestoreOptions,
    ) -> Result<Restored, Error> {
        let mut record = plan.record;
        record.created = rfc3339(SystemTime::now());
        dir.save(&record)?;
        dir.note_cgroup(plan.cgroup.path.as_str())?;
        let cg = Cgroup::create(self.host.layout()?, plan.cgroup.path.clone())?;
        *cgroup = Some(cg.clone());
        if let Some(resources) = &plan.cgroup.resources {
            cg.apply(resources)?;
        }
        let stdio = recorded_stdio(&opts.criu.image_path.join(DESCRIPTORS))?;
        let externals = external_mounts(&plan.init.rootfs);
        // CRIU inherits it (the descriptor is made inheritable for `criu swrk`).
        let joined_net = joined_net_ns(&plan.namespaces)
            .map(|path| fs::File::open(path).map_err(io_err("open", path)))
            .transpose()?;
        let req = restore_request(
            &plan.init.rootfs.path,
            Some(plan.cgroup.path.as_str()),
            &externals,
            &stdio,
            joined_net.as_ref().map(AsRawFd::as_raw_fd),
            image.dirs(),
            opts,
        )?;
        let log = image.log_dir.join("restore.log");
        if !opts.no_subreaper {
            become_subreaper()?;
        }
        let mut fds = image.fds();
        fds.extend(joined_net.as_ref().map(AsRawFd::as_raw_fd));
        let swrk = Swrk::start(&fds, &log)?;
        let criu = Pid::from_raw(swrk.pid()).ok_or_else(|| Error::NotFound(dir.id().clone()))?;
        cg.add_process(criu)?;
        let mut pid = None;
        let hooks = &plan.runtime_hooks;
        let resp = swrk.call(&req, |n| on_restore_notify(n, &record, hooks, &mut pid))?;
        check_success(&resp, "restore", &log)?;
        let pid = resp.restored_pid.or(pid).ok_or_else(|| Error::Criu {
            what: "restore".into(),
            reason: "CRIU named no restored process (no post-restore pid)".into(),
            log: log.clone(),
        })?;
        self.record_restored(dir, &mut record, pid, opts.pid_file.as_deref())?;
        Ok(Restored { pid })
    }

    /// Records the restored container as running with its init `pid`, writes the pid file
    /// and runs the `poststart` hooks (a failure is a warning, as after `start`).
    fn record_restored(
        &self,
        dir: &ContainerDir,
        record: &mut Record,
        pid: i32,
        pid_file: Option<&Path>,
    ) -> Result<(), Error> {
        let init = Pid::from_raw(pid).ok_or_else(|| Error::Criu {
            what: "restore".into(),
            reason: format!("no valid pid of the restored init ({pid})"),
            log: PathBuf::new(),
        })?;
        record.pid = pid;
        record.start_time = self.host.proc_stat(init)?.start_time;
        record.created_done = true;
        dir.save(record)?;
        if let Some(path) = pid_file {
            write_atomic(path, pid.to_string().as_bytes(), 0o644, "write pid file")?;
        }
        let state = record.state_json(Status::Running);
        let poststart = hooks_of(record.hooks.as_ref(), HookKind::Poststart);
        if let Err(e) = run_hooks(HookKind::Poststart, &poststart, &state, HookEnv::Runtime) {
            eprintln!("warning: {e}");
        }
        Ok(())
    }
}

/// At CRIU's `setup-namespaces` (the restored tree exists in its namespaces, not yet
/// running): the `prestart` and `createRuntime` hooks with the new init's pid. At
/// `post-restore`: that pid.
fn on_restore_notify(
    n: &Notify,
    record: &Record,
    hooks: &[(HookKind, Vec<oci_spec::runtime::Hook>)],
    pid: &mut Option<i32>,
) -> Result<(), Error> {
    match n.script.as_str() {
        "setup-namespaces" => {
            let mut at = record.clone();
            at.pid = n.pid.unwrap_or_default();
            let state = at.state_json(Status::Creating);
            for (kind, list) in hooks {
                run_hooks(*kind, list, &state, HookEnv::Runtime)?;
            }
        }
        "post-restore" => *pid = n.pid,
        _ => {}
    }
    Ok(())
}

/// Makes this process a child subreaper: processes of the restored tree orphaned by their
/// parent are reparented here.
fn become_subreaper() -> Result<(), Error> {
    // SAFETY: prctl with an integer argument.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        return Err(Error::io(
            "prctl(PR_SET_CHILD_SUBREAPER)",
            "/proc/self",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}
