//! The container's init: what runs in the cloned child, from the clone to the `execve` of the
//! user's program.
//!
//! Everything the child needs is decided by the plan ([`InitSetup`]: C strings, the compiled
//! seccomp program, capability sets, mount descriptions) and opened by `launch` (namespace
//! and cgroup descriptors, the console socket) before the clone, in an [`InitPlan`]; the
//! child only executes it. The
//! runtime binary is single-threaded (checked before the clone), so the child is an exact,
//! lock-free copy of it; the primitives it calls only allocate for error messages.
//!
//! The child talks to the runtime over three channels:
//! - `sync` (a pipe pair with `create`): `create` writes [`GO`] and the state JSON once it
//!   knows the child's pid; the child answers [`MSG_HOOKS`] before it enters the root (so
//!   `create` runs the `prestart`/`createRuntime` hooks), and [`MSG_READY`] once it waits for
//!   `start`, or [`MSG_ERROR`] with an errno and a message.
//! - the handshake socket `exec.sock` in the container's state directory: `start` connects and
//!   sends one byte; failures after that are written back on the connection, which is
//!   close-on-exec, so `start` reading end-of-file means the user's program was executed.
//! - `--console-socket`: the pty master, for `terminal: true`.

use std::ffi::{CStr, CString};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use iso_chroot::exe::Trampoline;
use iso_chroot::{DeviceMode, Mount, Propagation, Root};
use iso_ns::NsFd;

use crate::hooks::{run_hooks, HookEnv, HookKind};
use crate::plan::{InitSetup, PlannedMount, ProcessPlan, RootfsPlan};
use crate::state::WAITING_INIT_NAME;
use crate::Error;

/// `create` → child: carry on.
pub(crate) const GO: u8 = b'g';
/// child → `create`: waiting for `start`.
pub(crate) const MSG_READY: u8 = b'r';
/// child → `create`: mounts are made, about to enter the root; run the runtime hooks.
pub(crate) const MSG_HOOKS: u8 = b'h';
/// child → `create` or `start`: an error follows (4 bytes errno, then the message).
pub(crate) const MSG_ERROR: u8 = b'e';
/// child → `start` or `exec`: as [`MSG_ERROR`], for a program the kernel would not execute
/// ([`Error::Exec`]).
pub(crate) const MSG_EXEC_ERROR: u8 = b'x';
/// child → `start` or `exec`: the seccomp listener will be the descriptor whose number
/// follows (4 bytes), for the listener named by the JSON that follows (4 bytes length,
/// then `{"path", "metadata"}`); the child waits for one byte back once it was taken.
pub(crate) const MSG_LISTENER: u8 = b'l';

/// Where the init hands its seccomp listener to the runtime process, which takes it with
/// `pidfd_getfd` and sends it to `listenerPath` itself: it is not filtered, so a profile
/// that notifies on `connect` or `sendmsg` cannot stall it.
pub(crate) struct Handoff<'a> {
    /// Where the announcement ([`MSG_LISTENER`]) is written, before the filter is loaded.
    pub tell: &'a mut dyn Write,
    /// Where the runtime's byte arrives once it holds the listener.
    pub ack: std::os::fd::BorrowedFd<'a>,
}

/// Everything the init does, prepared before the clone: the plan's part and what `launch`
/// opened for it.
pub(crate) struct InitPlan {
    /// What the plan decided.
    pub setup: InitSetup,
    /// The container's cgroup in the v1 hierarchies, which the init joins itself first
    /// thing (it was born in the v2 one): see `iso_cgroups::PreparedJoin` for why that is
    /// faster than `create` moving it.
    pub cgroup_v1: iso_cgroups::PreparedJoin,
    /// The state directory's lock (`create`'s; closed first).
    pub lock_fd: RawFd,
    /// The namespaces to join, in the order the kernel needs.
    pub join: Vec<NsFd>,
    /// The console socket, for `terminal: true`.
    pub console: Option<UnixStream>,
    /// The state JSON for the hooks (received from `create` after the clone).
    pub state_json: Vec<u8>,
    /// What the program is executed through (see guard.rs); `None` when the runtime runs
    /// sealed and executes it directly.
    pub trampoline: Option<Trampoline>,
    /// The detached mounts the runtime made (`RootfsPlan::detached_mounts`), by
    /// index in the plan's mounts.
    pub bind_trees: Vec<(usize, OwnedFd)>,
}

/// The channel ends the child holds.
pub(crate) struct InitChannels {
    pub go: OwnedFd,
    pub report: OwnedFd,
    pub exec_listener: UnixListener,
}

/// An error inside the init: the step and the errno.
struct Failure {
    step: String,
    errno: i32,
    /// The program could not be executed (its format or interpreter): [`Error::Exec`].
    at_exec: bool,
}

impl Failure {
    fn new(step: impl Into<String>, errno: i32) -> Self {
        Failure {
            step: step.into(),
            errno,
            at_exec: false,
        }
    }
    /// The kernel would not execute `program` (see [`Error::Exec`]).
    fn exec(program: &Path, errno: i32) -> Self {
        Failure {
            at_exec: true,
            ..Failure::new(format!("process.args: exec {}", program.display()), errno)
        }
    }
    /// For `map_err`: an I/O error of `step`, keeping its errno.
    fn io(step: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        move |e| Failure::new(step, e.raw_os_error().unwrap_or(0))
    }
    /// The same failure, its step prefixed with the configuration field it was about.
    fn naming(self, field: &str) -> Self {
        Failure {
            step: format!("{field}: {}", self.step),
            ..self
        }
    }
    fn last_os(step: impl Into<String>) -> Self {
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        Failure::new(step, errno)
    }
    fn from_error(e: Error) -> Self {
        let errno = e.errno().unwrap_or(0);
        Failure::new(e.to_string(), errno)
    }
}

impl<E: Into<Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::from_error(e.into())
    }
}

/// Encodes a failure for the parent.
fn send_failure(mut out: impl Write, f: &Failure) {
    let mut msg = vec![if f.at_exec { MSG_EXEC_ERROR } else { MSG_ERROR }];
    msg.extend_from_slice(&f.errno.to_le_bytes());
    msg.extend_from_slice(f.step.as_bytes());
    let _ = out.write_all(&msg);
}

/// Decodes what follows a [`MSG_ERROR`] or [`MSG_EXEC_ERROR`] byte (`first`).
pub(crate) fn read_failure(first: u8, mut input: impl Read) -> Error {
    let mut rest = Vec::new();
    let _ = input.read_to_end(&mut rest);
    if rest.len() < 4 {
        return Error::Init {
            step: "the init failed without a message".into(),
            source: std::io::Error::from_raw_os_error(libc::EIO),
        };
    }
    let errno = i32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
    let step = String::from_utf8_lossy(&rest[4..]).into_owned();
    let source = if errno == 0 {
        std::io::Error::other("failed")
    } else {
        std::io::Error::from_raw_os_error(errno)
    };
    if first == MSG_EXEC_ERROR {
        Error::Exec { step, source }
    } else {
        Error::Init { step, source }
    }
}

/// The body of the cloned child. Returns the exit code when it cannot exec.
pub(crate) fn run(mut plan: InitPlan, channels: InitChannels) -> i32 {
    let InitChannels {
        go,
        report,
        exec_listener,
    } = channels;
    // The state directory's lock belongs to `create`; holding a copy would block `start`.
    // SAFETY: closing a descriptor number this child inherited and never uses.
    unsafe { libc::close(plan.lock_fd) };
    let mut report = std::fs::File::from(report);
    let mut go = std::fs::File::from(go);
    let mut byte = [0u8; 1];
    if go.read_exact(&mut byte).is_err() || byte[0] != GO {
        return 1;
    }
    // Then the state JSON (with our pid as the runtime sees it), for the hooks.
    let mut len = [0u8; 4];
    if go.read_exact(&mut len).is_err() {
        return 1;
    }
    let mut state = vec![0u8; u32::from_le_bytes(len) as usize];
    if go.read_exact(&mut state).is_err() {
        return 1;
    }
    plan.state_json = state;
    if let Err(f) =
        setup(&mut plan, &mut report, &mut go).and_then(|()| check_program(&plan.setup.proc))
    {
        send_failure(&mut report, &f);
        return 1;
    }
    // The name is how `state` and `list` tell a waiting init without waking it; taken
    // before "ready", so that `create` returns with the container reading as created.
    // SAFETY: prctl with a NUL-terminated static string.
    if unsafe { libc::prctl(libc::PR_SET_NAME, WAITING_INIT_NAME.as_ptr(), 0, 0, 0) } != 0 {
        return 1;
    }
    drop(go);
    // While it waits for `start`, the init holds only stdio, the preserved descriptors and
    // its socket: any other descriptor of the caller (a pipe of a logging wrapper, say)
    // must not be kept open by a container that may wait for long, or never start. Closed
    // before "ready": once `create` returns, nothing else is held.
    plan.join.clear();
    // The descriptors the plan still owns (the cgroup's tasks files, say) are closed below:
    // dropping it afterwards would close them again, which Rust aborts on.
    let plan = std::mem::ManuallyDrop::new(plan);
    let preserved = 3..3 + plan.setup.proc.preserve_fds.max(0);
    let trampoline = plan.trampoline.as_ref().map(|t| t.as_fd().as_raw_fd());
    let keep = preserved
        .chain([exec_listener.as_raw_fd(), report.as_raw_fd()])
        .chain(trampoline);
    if let Ok(keep) = iso_sys::fd::KeepFds::new(keep) {
        if keep.close_others().is_err() {
            return 1;
        }
    }
    if report.write_all(&[MSG_READY]).is_err() {
        return 1;
    }
    drop(report);
    loop {
        let mut conn = match exec_listener.accept() {
            Ok((conn, _)) => conn,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return 1,
        };
        if conn.read_exact(&mut byte).is_err() {
            continue;
        }
        drop(exec_listener);
        let mut tell = &conn;
        let handoff = Handoff {
            tell: &mut tell,
            ack: conn.as_fd(),
        };
        let f = match finish(
            &plan.setup.proc,
            plan.trampoline.as_ref(),
            &plan.setup.start_container_hooks,
            &plan.state_json,
            handoff,
        ) {
            Ok(never) => match never {},
            Err(f) => f,
        };
        send_failure(&mut conn, &f);
        return 127;
    }
}

enum Never {}

fn setup(
    plan: &mut InitPlan,
    report: &mut std::fs::File,
    go: &mut std::fs::File,
) -> Result<(), Failure> {
    let setup = &plan.setup;
    join_cgroup(&setup.proc, &plan.cgroup_v1)?;
    // Before the namespaces: the init is non-dumpable (see guard.rs), so its /proc files
    // belong to the host's root, which it stops being once it is root of a user namespace.
    if let Some(adj) = setup.proc.oom_score_adj {
        iso_sys::procfs::ProcRoot::open()?.write(
            iso_sys::ProcPid::SelfPid,
            "oom_score_adj",
            adj.to_string().as_bytes(),
        )?;
    }
    iso_ns::join(&plan.join)?;
    if setup.become_root {
        // SAFETY: setresgid/setresuid with integer ids.
        if unsafe { libc::setresgid(0, 0, 0) } != 0 {
            return Err(Failure::last_os("setresgid 0 in the user namespace"));
        }
        // SAFETY: as above.
        if unsafe { libc::setresuid(0, 0, 0) } != 0 {
            return Err(Failure::last_os("setresuid 0 in the user namespace"));
        }
    }
    if let Some(name) = &setup.hostname {
        // SAFETY: pointer and length of a live buffer.
        if unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) } != 0 {
            return Err(Failure::last_os(format!("sethostname {name:?}")));
        }
    }
    if let Some(name) = &setup.domainname {
        // SAFETY: pointer and length of a live buffer.
        if unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) } != 0 {
            return Err(Failure::last_os(format!("setdomainname {name:?}")));
        }
    }
    for (resource, soft, hard) in &setup.proc.rlimits {
        let lim = libc::rlimit {
            rlim_cur: *soft,
            rlim_max: *hard,
        };
        // SAFETY: setrlimit reads a valid rlimit struct.
        if unsafe { libc::setrlimit(*resource as _, &lim) } != 0 {
            return Err(Failure::last_os(format!("setrlimit {resource}")));
        }
    }
    if !setup.new_mount_ns {
        // Without a mount namespace there is nothing to mount; only chroot is possible.
        let root = Root::open(&setup.rootfs.path)?;
        enter_cgroup_namespace(setup)?;
        sync_hooks(report, go)?;
        iso_chroot::chroot(&root)?;
        return Ok(());
    }
    setup_rootfs(plan, report, go)
}

/// In the container's own mount namespace: mounts, devices, sysctls, console, the runtime
/// hooks, masked and read-only paths, then into the root.
fn setup_rootfs(
    plan: &mut InitPlan,
    report: &mut std::fs::File,
    go: &mut std::fs::File,
) -> Result<(), Failure> {
    let fs = &plan.setup.rootfs;
    // Make our copy of the host's mounts stop sending (and by default receiving) events.
    let slash = open_dir("/")?;
    iso_chroot::set_propagation(slash.as_fd(), Propagation::RSlave)?;
    if matches!(
        fs.propagation,
        Some(Propagation::RPrivate) | Some(Propagation::Private)
    ) {
        iso_chroot::set_propagation(slash.as_fd(), Propagation::RPrivate)?;
    }
    drop(slash);
    // Always a bind of its own (as runc does): a rootfs that is a mount point of the host is
    // locked in a user namespace, and pivot_root or MS_MOVE refuse it.
    let root = Root::open(&fs.path)?.rebind()?;
    let trees = std::mem::take(&mut plan.bind_trees);
    let fs = &plan.setup.rootfs;
    let proc_dest = make_mounts(&root, fs, trees)?;
    if !plan.setup.sysctls.is_empty() {
        let proc_root = match &proc_dest {
            Some(dest) => iso_sys::procfs::ProcRoot::open_at(
                fs.path.join(dest.strip_prefix("/").unwrap_or(dest)),
            )?,
            None => iso_sys::procfs::ProcRoot::open()?,
        };
        for sysctl in &plan.setup.sysctls {
            proc_root.write_rel(&sysctl.path, sysctl.value.as_bytes())?;
        }
    }
    match plan.console.take() {
        Some(console) => setup_console(&root, console, &plan.setup.proc)?,
        // As runc's, the init leads a session of its own: CRIU dumps a process tree only
        // with its session leader inside (`checkpoint`).
        None => new_session()?,
    }
    if fs.dev_readonly {
        iso_chroot::remount_readonly(root.open_dir("/dev")?.as_fd())?;
    }
    enter_cgroup_namespace(&plan.setup)?;
    sync_hooks(report, go)?;
    run_hooks(
        HookKind::CreateContainer,
        &plan.setup.create_container_hooks,
        &plan.state_json,
        HookEnv::Process(&plan.setup.proc.envp),
    )
    .map_err(Failure::from_error)?;
    root.mask_paths(&fs.masked)?;
    root.readonly_paths(&fs.readonly)?;
    iso_chroot::enter(&root, fs.enter)?;
    drop(root);
    let slash = open_dir("/")?;
    if let Some(p) = fs.propagation {
        if !matches!(p, Propagation::RPrivate | Propagation::Private) {
            iso_chroot::set_propagation(slash.as_fd(), p)?;
        }
    }
    if fs.readonly_root {
        iso_chroot::remount_readonly(slash.as_fd())?;
    }
    Ok(())
}

/// The mounts and device nodes, in order; returns where the first procfs went (the sysctls
/// are written through it).
fn make_mounts(
    root: &Root,
    fs: &RootfsPlan,
    mut trees: Vec<(usize, OwnedFd)>,
) -> Result<Option<PathBuf>, Failure> {
    let mut proc_dest = None;
    for (i, m) in fs.mounts.iter().enumerate() {
        let tree = trees
            .iter()
            .position(|(index, _)| *index == i)
            .map(|at| trees.swap_remove(at).1);
        mount_one(root, m, tree, &mut proc_dest).map_err(|f| f.naming("mounts"))?;
    }
    // `mknod`, or where the kernel refuses it (a user namespace: rootless) a bind mount of
    // the host's device at the same path.
    for dev in &fs.devices {
        root.create_device(dev, DeviceMode::Auto)
            .map_err(|e| Failure::from(e).naming("linux.devices"))?;
    }
    if fs.dev_tmpfs {
        root.create_dev_symlinks()?;
    } else {
        // The rootfs's own /dev: add what is missing (as runc does; `ptmx` is what a
        // `terminal: true` container opens), keep what the image has.
        root.create_missing_dev_symlinks()?;
    }
    Ok(proc_dest)
}

/// One mount of the plan (from the detached `tree` the runtime cloned, if any); the first
/// procfs mounted is noted in `proc_dest`.
fn mount_one(
    root: &Root,
    m: &PlannedMount,
    tree: Option<OwnedFd>,
    proc_dest: &mut Option<PathBuf>,
) -> Result<(), Failure> {
    match (tree, m) {
        (Some(tree), PlannedMount::Plain(m) | PlannedMount::Idmapped { mount: m, .. }) => {
            root.mount_tree(m, tree)?;
            return Ok(());
        }
        (None, PlannedMount::Idmapped { mount, .. }) => {
            // The runtime makes every idmapped mount (`launch`); never reached.
            return Err(Failure::new(
                format!("idmapped mount {}: no tree", mount.destination().display()),
                libc::EINVAL,
            ));
        }
        _ => {}
    }
    match m {
        PlannedMount::Plain(m) if m.kind() == &iso_chroot::MountKind::Tmpfs => {
            root.mount_tmpfs_over(m, false)?;
        }
        PlannedMount::TmpfsCopyUp(m) => {
            root.mount_tmpfs_over(m, true)?;
        }
        PlannedMount::HostProc(m) => {
            // Only a procfs root may cover /proc (CVE-2019-16884).
            if let Some(src) = m.source_path() {
                iso_sys::procfs::ProcRoot::open_at(src)?;
            }
            root.mount(m)?;
            *proc_dest = proc_dest
                .take()
                .or_else(|| Some(m.destination().to_path_buf()));
        }
        PlannedMount::Plain(m) => {
            root.mount(m)?;
            if m.kind() == &iso_chroot::MountKind::Proc && proc_dest.is_none() {
                *proc_dest = Some(m.destination().to_path_buf());
            }
        }
        PlannedMount::Cgroup {
            destination,
            tmpfs,
            readonly,
            binds,
        } => mount_cgroup(root, destination, *tmpfs, *readonly, binds)?,
        PlannedMount::Idmapped { .. } => {}
    }
    Ok(())
}

/// Moves the child into the container's cgroup in the v1 hierarchies (it was born in the v2
/// one), after the transient CPU affinity that OCI applies before the cgroup; then sets the
/// memory policy, within the nodes the cgroup allows.
fn join_cgroup(proc: &ProcessPlan, cgroup_v1: &iso_cgroups::PreparedJoin) -> Result<(), Failure> {
    if let Some(set) = &proc.affinity_initial {
        crate::process::set_affinity(set)
            .map_err(Failure::io("process.execCPUAffinity.initial"))?;
    }
    cgroup_v1.join_self().map_err(|e| match &e {
        iso_cgroups::Error::Join { index, source } => Failure::new(
            format!(
                "join cgroup: write 0 to {}",
                cgroup_v1
                    .files()
                    .nth(*index)
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ),
            source.raw_os_error().unwrap_or(0),
        ),
        _ => Failure::from(e),
    })?;
    if let Some(policy) = &proc.mem_policy {
        crate::process::set_mem_policy(policy).map_err(Failure::io(
            "linux.memoryPolicy: set_mempolicy (a node not online, or a mode or flag this \
             kernel lacks?)",
        ))?;
    }
    Ok(())
}

/// Makes the cgroup namespace, whose root is the cgroup we are in.
fn enter_cgroup_namespace(setup: &InitSetup) -> Result<(), Failure> {
    if setup.new_cgroup_ns {
        iso_ns::unshare(iso_ns::Namespace::Cgroup.into())?;
    }
    Ok(())
}

/// Tells `create` the mounts are ready and waits until it ran the runtime hooks.
fn sync_hooks(report: &mut std::fs::File, go: &mut std::fs::File) -> Result<(), Failure> {
    report
        .write_all(&[MSG_HOOKS])
        .map_err(Failure::io("report to create"))?;
    let mut byte = [0u8; 1];
    match go.read_exact(&mut byte) {
        Ok(()) if byte[0] == GO => Ok(()),
        _ => Err(Failure::new("create gave up", libc::ECANCELED)),
    }
}

fn open_dir(path: &str) -> Result<OwnedFd, Failure> {
    let c = CString::new(path).map_err(|_| Failure::new("path with NUL", libc::EINVAL))?;
    // SAFETY: open with a valid C string; the result is checked.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_DIRECTORY | libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(Failure::last_os(format!("open {path}")));
    }
    // SAFETY: fd is a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn mount_cgroup(
    root: &Root,
    destination: &Path,
    tmpfs: bool,
    readonly: bool,
    binds: &[(String, PathBuf)],
) -> Result<(), Failure> {
    let ro = if readonly { ",ro" } else { "" };
    if tmpfs {
        root.mount(
            &Mount::tmpfs(destination)
                .source("tmpfs")
                .options("nosuid,nodev,noexec,mode=755")?,
        )?;
        for (name, host_dir) in binds {
            let dest = destination.join(name);
            root.mount(
                &Mount::bind(host_dir, &dest).options(&format!("rbind,nosuid,nodev,noexec{ro}"))?,
            )?;
        }
        if readonly {
            let fd = root.open_dir(destination)?;
            iso_chroot::remount_readonly(fd.as_fd())?;
        }
    } else if let Some((_, host_dir)) = binds.first() {
        root.mount(
            &Mount::bind(host_dir, destination)
                .options(&format!("rbind,nosuid,nodev,noexec{ro}"))?,
        )?;
    }
    Ok(())
}

/// Makes a pty in the container's devpts, sends the master to the console socket, binds the
/// slave on `/dev/console`, and makes it the init's stdio and controlling terminal.
fn setup_console(root: &Root, console: UnixStream, p: &ProcessPlan) -> Result<(), Failure> {
    let master = root.open_file("/dev/ptmx", libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC)?;
    let slave = open_pty_peer(&master, p)?;
    let mut number: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes an unsigned int to a valid pointer.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut number) } != 0 {
        return Err(Failure::last_os("ptsname /dev/ptmx"));
    }
    let name = format!("/dev/pts/{number}");
    iso_seccomp::notify::send_fd(console.as_fd(), master.as_fd(), name.as_bytes())?;
    drop(console);
    drop(master);
    root.bind_console(slave.as_fd())?;
    make_ctty(&slave)
}

/// After `start`: process attributes, labels, descriptors, credentials, hooks, seccomp, exec.
///
/// Once the seccomp filter is loaded the process makes as few calls as it can, since a
/// strict profile allows little more than what the program needs: labels, affinity and the
/// close-on-exec sweep come first; with `noNewPrivileges` the filter is loaded last, right
/// before the exec, whose arguments are ready by then. Without it, loading a filter needs
/// CAP_SYS_ADMIN, which the user switch may drop: it is loaded before the switch, so the
/// switch and the `startContainer` hooks run under it (as with runc, so a profile runc runs
/// allows them), and the program's pre-check treats a refused check as "let execve decide".
fn finish(
    p: &ProcessPlan,
    trampoline: Option<&Trampoline>,
    hooks: &[oci_spec::runtime::Hook],
    state_json: &[u8],
    mut handoff: Handoff<'_>,
) -> Result<Never, Failure> {
    set_attributes(p)?;
    let with_home;
    let envp = match p.home_of {
        Some(uid) => {
            with_home = crate::plan::with_home(&p.envp, &container_home(uid));
            &with_home
        }
        None => &p.envp,
    };
    set_exec_labels(p)?;
    if let Some(set) = &p.affinity_final {
        crate::process::set_affinity(set).map_err(Failure::io("process.execCPUAffinity.final"))?;
    }
    iso_sys::fd::cloexec_from(3 + p.preserve_fds)?;
    // Created now, as the container's root in its root (rule paths are the container's);
    // applied with seccomp, just before it.
    let mut landlock = prepare_landlock(p)?;
    // Searched before the filter when it comes before the user switch (PATH lookups make
    // calls a strict profile refuses); otherwise as the user, after the switch.
    let early = match p.no_new_privs {
        false => Some(resolve_program(p)?),
        true => None,
    };
    let mut listener = None;
    if !p.no_new_privs {
        // Without no_new_privs Landlock needs CAP_SYS_ADMIN, which the user switch drops.
        restrict_landlock(std::mem::take(&mut landlock))?;
        listener = load_seccomp(p, &mut handoff)?;
    }
    p.user.apply()?;
    run_hooks(
        HookKind::StartContainer,
        hooks,
        state_json,
        HookEnv::Process(envp),
    )
    .map_err(Failure::from_error)?;
    let program = match early {
        Some(program) => program,
        None => resolve_program(p)?,
    };
    let exec_failed = |errno: i32| {
        Failure::exec(
            Path::new(std::ffi::OsStr::from_bytes(program.as_bytes())),
            errno,
        )
    };
    // The trampoline cannot report why the program did not start: check what can be.
    if trampoline.is_some() {
        check_executable(&program)?;
        if p.check_format {
            check_format(&program)?;
        }
        check_interpreter(&program)?;
    }
    let direct = DirectExec::new(&program, &p.argv, envp);
    let via = trampoline.map(|t| t.prepare(&program, &p.argv, envp));
    reset_signals();
    if p.no_new_privs {
        restrict_landlock(landlock)?;
        listener = load_seccomp(p, &mut handoff)?;
    }
    // Close-on-exec already (the kernel makes it so): no close under the filter.
    std::mem::forget(listener);
    let e = match &via {
        Some(via) => via.exec(),
        None => direct.exec(),
    };
    Err(exec_failed(e.raw_os_error().unwrap_or(0)))
}

/// The process' Landlock rulesets created in the kernel (their rule paths opened), not yet
/// applied.
fn prepare_landlock(p: &ProcessPlan) -> Result<Vec<iso_mac::landlock::Prepared>, Failure> {
    p.landlock
        .iter()
        .map(|ruleset| {
            ruleset
                .prepare()
                .map_err(|e| Failure::from(e).naming("Landlock"))
        })
        .collect()
}

/// Confines the process by each prepared ruleset (they stack). The kernel's answer matches
/// the plan's, which reported on `create` what best effort leaves out.
fn restrict_landlock(prepared: Vec<iso_mac::landlock::Prepared>) -> Result<(), Failure> {
    for ruleset in prepared {
        ruleset
            .restrict_self()
            .map_err(|e| Failure::from(e).naming("Landlock"))?;
    }
    Ok(())
}

/// The home directory of `uid` in the container's `/etc/passwd` (the process' root is the
/// container's by now, so no link leads out of it), else `/`, as runc does. Read without
/// blocking (a FIFO there must not hang the init) and only when it is a regular file of at
/// most 4 MiB.
fn container_home(uid: u32) -> Vec<u8> {
    const MAX: u64 = 4 << 20;
    let read = || -> std::io::Result<Vec<u8>> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open("/etc/passwd")?;
        let meta = file.metadata()?;
        if !meta.is_file() || meta.len() > MAX {
            return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
        }
        let mut data = Vec::new();
        file.take(MAX).read_to_end(&mut data)?;
        Ok(data)
    };
    let passwd = read().unwrap_or_default();
    crate::plan::passwd_home(&passwd, uid)
        .filter(|home| !home.is_empty())
        .unwrap_or(b"/")
        .to_vec()
}

/// Personality, scheduler, I/O priority, umask and cwd (checked to be inside the root).
fn set_attributes(p: &ProcessPlan) -> Result<(), Failure> {
    if let Some(persona) = p.personality {
        // SAFETY: personality takes an integer.
        if unsafe { libc::personality(persona) } < 0 {
            return Err(Failure::last_os("personality"));
        }
    }
    if let Some(attr) = &p.scheduler {
        crate::process::set_sched_attr(attr)
            .map_err(Failure::io("process.scheduler: sched_setattr"))?;
    }
    if let Some(value) = p.ioprio {
        crate::process::set_ioprio(value).map_err(Failure::io("process.ioPriority: ioprio_set"))?;
    }
    if let Some(mask) = p.umask {
        // SAFETY: umask cannot fail.
        unsafe { libc::umask(mask as libc::mode_t) };
    }
    let cwd = CString::new(p.cwd.as_os_str().as_bytes())
        .map_err(|_| Failure::new("process.cwd contains NUL", libc::EINVAL))?;
    // SAFETY: chdir with a valid C string.
    if unsafe { libc::chdir(cwd.as_ptr()) } != 0 {
        return Err(Failure::last_os(format!(
            "process.cwd: chdir {}",
            p.cwd.display()
        )));
    }
    check_cwd_inside()
}

/// The AppArmor profile and SELinux label of the exec, through the container's /proc
/// verified to be procfs (CVE-2019-16884: a volume over /proc would otherwise swallow the
/// label write and leave the process unconfined).
fn set_exec_labels(p: &ProcessPlan) -> Result<(), Failure> {
    if p.apparmor_profile.is_none() && p.selinux_label.is_none() {
        return Ok(());
    }
    let proc_root = iso_sys::procfs::ProcRoot::open()?;
    if let Some(name) = &p.apparmor_profile {
        iso_mac::apparmor::set_exec_profile(&proc_root, name)?;
    }
    if let Some(label) = &p.selinux_label {
        iso_mac::selinux::set_exec_label(&proc_root, Some(label))?;
    }
    Ok(())
}

/// Loads the filter; with a listener for `listenerPath`, announces its descriptor number
/// before (the lowest free one, which the kernel will give it) and waits for the runtime to
/// have taken it: the one call made under the filter for it is that `read`, which a
/// notifying profile can answer since the listener has the descriptor by then.
fn load_seccomp(p: &ProcessPlan, handoff: &mut Handoff<'_>) -> Result<Option<OwnedFd>, Failure> {
    let Some(bpf) = &p.seccomp else {
        return Ok(None);
    };
    let announced = match &p.listener_path {
        Some(path) if bpf.new_listener() => Some(announce_listener(p, path, handoff)?),
        _ => None,
    };
    let listener = bpf.load()?;
    if let Some(number) = announced {
        if listener.as_ref().map(|l| l.as_raw_fd()) != Some(number) {
            return Err(Failure::new(
                format!("seccomp listener is not descriptor {number}"),
                libc::EBADF,
            ));
        }
        let mut byte = 0u8;
        // SAFETY: read of one byte into a valid buffer. Its result does not matter: a
        // refused read only means the program may start before the listener is sent.
        unsafe { libc::read(handoff.ack.as_raw_fd(), (&mut byte as *mut u8).cast(), 1) };
    }
    Ok(listener)
}

/// Writes [`MSG_LISTENER`]: the number the listener will get, and where it goes.
fn announce_listener(
    p: &ProcessPlan,
    path: &Path,
    handoff: &mut Handoff<'_>,
) -> Result<RawFd, Failure> {
    // The lowest free descriptor, which the next one made (the listener) gets.
    let probe = handoff
        .ack
        .try_clone_to_owned()
        .map_err(Failure::io("dup (seccomp listener number)"))?;
    let number = probe.as_raw_fd();
    drop(probe);
    let about = serde_json::json!({
        "path": path,
        "metadata": p.listener_metadata.as_deref().unwrap_or_default(),
    })
    .to_string();
    let mut msg = vec![MSG_LISTENER];
    msg.extend_from_slice(&number.to_le_bytes());
    msg.extend_from_slice(&(about.len() as u32).to_le_bytes());
    msg.extend_from_slice(about.as_bytes());
    handoff
        .tell
        .write_all(&msg)
        .map_err(Failure::io("announce the seccomp listener"))?;
    Ok(number)
}

/// Default SIGPIPE and an empty signal mask for the program (errors ignored: a filter may
/// refuse the calls, and the program then starts with what the init had).
fn reset_signals() {
    // SAFETY: signal and sigprocmask only reset this process' dispositions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    }
}

/// A plain `execve` of the program (the runtime runs sealed), its arrays made beforehand.
struct DirectExec<'a> {
    program: &'a CStr,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
}

impl<'a> DirectExec<'a> {
    fn new(program: &'a CStr, argv: &'a [CString], envp: &'a [CString]) -> Self {
        let terminated = |list: &'a [CString]| {
            list.iter()
                .map(|a| a.as_ptr())
                .chain([std::ptr::null()])
                .collect()
        };
        DirectExec {
            program,
            argv: terminated(argv),
            envp: terminated(envp),
        }
    }

    /// Returns only on failure, without allocating.
    fn exec(&self) -> std::io::Error {
        // SAFETY: NUL-terminated arrays of C strings that outlive the call.
        unsafe {
            libc::execve(
                self.program.as_ptr(),
                self.argv.as_ptr(),
                self.envp.as_ptr(),
            )
        };
        std::io::Error::last_os_error()
    }
}

/// CVE-2024-21626: a cwd reached through a leaked descriptor is outside the root; the kernel
/// then reports it as unreachable, which `getcwd` shows as a path not starting with `/`.
fn check_cwd_inside() -> Result<(), Failure> {
    let mut buf = [0u8; 4096];
    // SAFETY: getcwd writes at most buf.len() bytes into buf.
    let p = unsafe { libc::getcwd(buf.as_mut_ptr().cast(), buf.len()) };
    if p.is_null() {
        return Err(Failure::last_os(
            "process.cwd: getcwd (outside the container?)",
        ));
    }
    if buf[0] != b'/' {
        return Err(Failure::new(
            "process.cwd is outside the container's root",
            libc::EPERM,
        ));
    }
    Ok(())
}

/// Fails `create` (as runc does) when the program is missing or not executable in the
/// container's root: a `start` that fails leaves the engine a container it cannot delete until
/// it has seen the init exit (`docker run --rm` of a missing program left its shim and cgroup
/// behind). A relative path with a `/` depends on the cwd that `start` sets: not checked here.
fn check_program(plan: &ProcessPlan) -> Result<(), Failure> {
    let program = resolve_program(plan)?;
    if !program.as_bytes().starts_with(b"/") {
        return Ok(());
    }
    check_executable(&program)
}

/// Fails, naming `program` and the errno, when it is missing or not executable with the
/// process' effective credentials (as `execve` decides: `AT_EACCESS`, so CAP_DAC_OVERRIDE
/// counts and the real uid does not). A check the seccomp filter refuses (`EPERM`, which
/// `faccessat` never answers for `X_OK` by itself, or `ENOSYS`) leaves it to `execve`.
fn check_executable(program: &CStr) -> Result<(), Failure> {
    match executable(program) {
        Ok(()) | Err(libc::EPERM | libc::ENOSYS) => Ok(()),
        Err(errno) => Err(Failure::new(
            format!(
                "process.args: exec {}",
                String::from_utf8_lossy(program.to_bytes())
            ),
            errno,
        )),
    }
}

/// Fails with `ENOEXEC` when `program` starts neither with the ELF magic nor with `#!`
/// (when the kernel knows no other format: [`ProcessPlan::check_format`]). A program the
/// process cannot read (execute-only) or read in full is left to `execve`.
fn check_format(program: &CStr) -> Result<(), Failure> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = Path::new(std::ffi::OsStr::from_bytes(program.to_bytes()));
    let Ok(file) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
    else {
        return Ok(());
    };
    let mut head = Vec::with_capacity(20);
    if file.take(20).read_to_end(&mut head).is_err() {
        return Ok(());
    }
    if head.starts_with(b"#!") || (head.starts_with(b"\x7fELF") && elf_runs_here(&head)) {
        return Ok(());
    }
    Err(Failure::exec(path, libc::ENOEXEC))
}

/// Whether the ELF header `head` (its first 20 bytes) is an executable or shared object of a
/// machine this kernel runs natively: another architecture's program (an arm64 image on an
/// x86_64 host) is the kernel's `ENOEXEC`. Unknown here (another host architecture, a short
/// read): left to the kernel.
fn elf_runs_here(head: &[u8]) -> bool {
    let (Some(&[kind, _]), Some(&[machine_lo, machine_hi])) = (head.get(16..18), head.get(18..20))
    else {
        return true;
    };
    let machine = u16::from_le_bytes([machine_lo, machine_hi]);
    // EM_386 and EM_X86_64; EM_ARM and EM_AARCH64 (32-bit compat where the kernel has it).
    let native: &[u16] = match std::env::consts::ARCH {
        "x86_64" => &[3, 62],
        "aarch64" => &[40, 183],
        _ => return true,
    };
    matches!(kind, 2 | 3) && native.contains(&machine)
}

/// The kernel fails the exec of `program`, with `ENOENT` or `EACCES` named after the
/// program, when its interpreter cannot be executed: the ELF loader of a dynamically linked
/// binary (`PT_INTERP`, say a glibc program in a musl image) or the `#!` line's program of a
/// script (`#!/bin/bash` where there is none). Checked here because the trampoline could
/// not say so; a file that cannot be read or parsed is left to the kernel.
fn check_interpreter(program: &CStr) -> Result<(), Failure> {
    let path = std::ffi::OsStr::from_bytes(program.to_bytes());
    let Some(interpreter) = std::fs::File::open(path)
        .ok()
        .and_then(|f| interpreter_of(&f))
    else {
        return Ok(());
    };
    let Ok(interpreter) = CString::new(interpreter) else {
        return Ok(());
    };
    executable(&interpreter).map_err(|errno| Failure::exec(Path::new(path), errno))
}

/// The absolute path of the program the kernel starts for `file`: `PT_INTERP` of an ELF
/// (32 or 64 bit, little-endian), or the first word of a `#!` line.
fn interpreter_of(file: &std::fs::File) -> Option<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut head = [0u8; 256];
    let n = file.read_at(&mut head, 0).ok()?;
    let head = &head[..n];
    let path = if let Some(line) = head.strip_prefix(b"#!") {
        let line = line.split(|&b| b == b'\n').next()?;
        let word = line
            .split(|&b| b == b' ' || b == b'\t')
            .find(|w| !w.is_empty())?;
        word.to_vec()
    } else {
        let le = |b: &[u8]| {
            b.iter()
                .rev()
                .fold(0u64, |acc, &x| (acc << 8) | u64::from(x))
        };
        let wide = match head.get(..6)? {
            [0x7f, b'E', b'L', b'F', 2, 1] => true,
            [0x7f, b'E', b'L', b'F', 1, 1] => false,
            _ => return None,
        };
        // e_phoff, e_phentsize, e_phnum; then p_type, p_offset, p_filesz of each entry.
        let (phoff, phentsize, phnum) = if wide {
            (
                le(head.get(32..40)?),
                le(head.get(54..56)?),
                le(head.get(56..58)?),
            )
        } else {
            (
                le(head.get(28..32)?),
                le(head.get(42..44)?),
                le(head.get(44..46)?),
            )
        };
        let (offset_at, size_at) = if wide {
            (8..16, 32..40)
        } else {
            (4..8, 16..20)
        };
        let mut entry = vec![0u8; usize::try_from(phentsize).ok()?.clamp(32, 64)];
        let interp = (0..phnum.min(64)).find_map(|i| {
            file.read_exact_at(&mut entry, phoff + i * phentsize).ok()?;
            (le(&entry[..4]) == 3)
                .then(|| (le(&entry[offset_at.clone()]), le(&entry[size_at.clone()])))
        })?;
        let mut path = vec![0u8; usize::try_from(interp.1.min(4096)).ok()?];
        file.read_exact_at(&mut path, interp.0).ok()?;
        path.split(|&b| b == 0).next()?.to_vec()
    };
    path.starts_with(b"/").then_some(path)
}

/// `faccessat(path, X_OK, AT_EACCESS)`, and not a directory: the errno when `path` is not
/// executable.
fn executable(path: &CStr) -> Result<(), i32> {
    // SAFETY: faccessat with a valid C string.
    let rc =
        unsafe { libc::faccessat(libc::AT_FDCWD, path.as_ptr(), libc::X_OK, libc::AT_EACCESS) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EACCES));
    }
    // The kernel executes no directory (EACCES), though X_OK grants it a search bit.
    match std::fs::metadata(std::ffi::OsStr::from_bytes(path.to_bytes())) {
        Ok(meta) if meta.is_dir() => Err(libc::EACCES),
        _ => Ok(()),
    }
}

/// `args[0]` with a `/` is used as is; otherwise it is searched in the process' `PATH`.
fn resolve_program(plan: &ProcessPlan) -> Result<CString, Failure> {
    if plan.program.as_bytes().contains(&b'/') {
        return Ok(plan.program.clone());
    }
    for dir in &plan.path_dirs {
        let candidate = dir.join(std::ffi::OsStr::from_bytes(plan.program.as_bytes()));
        let Ok(c) = CString::new(candidate.as_os_str().as_bytes()) else {
            continue;
        };
        if executable(&c).is_ok() {
            return Ok(c);
        }
    }
    Err(Failure::new(
        format!(
            "process.args: {:?} not found in PATH",
            String::from_utf8_lossy(plan.program.as_bytes())
        ),
        libc::ENOENT,
    ))
}

/// What an `exec`ed process does before its program: join the init's namespaces, then the
/// same steps as the init after `start`.
pub(crate) struct ExecPlan {
    /// As [`InitPlan::cgroup_v1`].
    pub cgroup_v1: iso_cgroups::PreparedJoin,
    pub pidfd: OwnedFd,
    pub namespaces: iso_ns::NamespaceSet,
    pub become_root: bool,
    pub lock_fd: RawFd,
    pub console: Option<UnixStream>,
    pub proc: ProcessPlan,
    /// As [`InitPlan::trampoline`].
    pub trampoline: Option<Trampoline>,
    /// With `listenerPath`: where the `exec` process' byte arrives once it took the
    /// seccomp listener (see [`Handoff`]).
    pub listener_ack: Option<OwnedFd>,
}

/// The body of an `exec` child. Reports failures on `report`; success is the end of file
/// that the `execve` causes (the pipe is close-on-exec).
pub(crate) fn run_exec(plan: ExecPlan, report: OwnedFd) -> i32 {
    // SAFETY: closing an inherited descriptor number this child never uses.
    unsafe { libc::close(plan.lock_fd) };
    let mut report = std::fs::File::from(report);
    let mut tell = &report;
    let handoff = Handoff {
        tell: &mut tell,
        ack: match &plan.listener_ack {
            Some(ack) => ack.as_fd(),
            None => report.as_fd(),
        },
    };
    let f = match exec_setup(&plan) {
        Ok(()) => match finish(&plan.proc, plan.trampoline.as_ref(), &[], b"", handoff) {
            Ok(never) => match never {},
            Err(f) => f,
        },
        Err(f) => f,
    };
    send_failure(&mut report, &f);
    127
}

fn exec_setup(plan: &ExecPlan) -> Result<(), Failure> {
    join_cgroup(&plan.proc, &plan.cgroup_v1)?;
    if !plan.namespaces.is_empty() {
        iso_ns::setns_pidfd(plan.pidfd.as_fd(), plan.namespaces)?;
    }
    if plan.become_root {
        // SAFETY: setresgid/setresuid with integer ids.
        if unsafe { libc::setresgid(0, 0, 0) } != 0 || unsafe { libc::setresuid(0, 0, 0) } != 0 {
            return Err(Failure::last_os("become root in the user namespace"));
        }
    }
    for (resource, soft, hard) in &plan.proc.rlimits {
        let lim = libc::rlimit {
            rlim_cur: *soft,
            rlim_max: *hard,
        };
        // SAFETY: setrlimit reads a valid rlimit struct.
        if unsafe { libc::setrlimit(*resource as _, &lim) } != 0 {
            return Err(Failure::last_os(format!("setrlimit {resource}")));
        }
    }
    if let Some(console) = &plan.console {
        // In the container's mount namespace now: its /dev/ptmx.
        let ptmx = CString::new("/dev/ptmx").map_err(|_| Failure::new("ptmx", libc::EINVAL))?;
        // SAFETY: open with a valid C string; the result is checked.
        let master = unsafe {
            libc::open(
                ptmx.as_ptr(),
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            )
        };
        if master < 0 {
            return Err(Failure::last_os("open /dev/ptmx"));
        }
        // SAFETY: a fresh descriptor we own.
        let master = unsafe { OwnedFd::from_raw_fd(master) };
        let slave = open_pty_peer(&master, &plan.proc)?;
        iso_seccomp::notify::send_fd(console.as_fd(), master.as_fd(), b"/dev/pts")?;
        make_ctty(&slave)?;
    }
    Ok(())
}

/// Unlocks the pty and opens its slave through the master (`TIOCGPTPEER`), owned by the
/// process' user (the group is left) as with runc, sized as `process.consoleSize` says.
fn open_pty_peer(master: &OwnedFd, p: &ProcessPlan) -> Result<OwnedFd, Failure> {
    if let Some((rows, cols)) = p.console_size {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize from a valid pointer.
        if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) } != 0 {
            return Err(Failure::last_os("process.consoleSize: TIOCSWINSZ"));
        }
    }
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int from a valid pointer.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } != 0 {
        return Err(Failure::last_os("unlockpt"));
    }
    // SAFETY: TIOCGPTPEER returns a new descriptor or -1.
    let slave = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if slave < 0 {
        return Err(Failure::last_os("open the pty slave"));
    }
    // SAFETY: a fresh descriptor we own.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    // SAFETY: fchown of a descriptor we own, integer ids.
    if unsafe { libc::fchown(slave.as_raw_fd(), p.tty_owner, libc::gid_t::MAX) } != 0 {
        return Err(Failure::last_os("fchown the pty slave"));
    }
    Ok(slave)
}

/// Makes this process the leader of a new session, without a controlling terminal.
fn new_session() -> Result<(), Failure> {
    // SAFETY: setsid takes no arguments and touches no memory.
    if unsafe { libc::setsid() } < 0 {
        return Err(Failure::last_os("setsid"));
    }
    Ok(())
}

/// Makes `slave` the controlling terminal and stdio of a new session.
fn make_ctty(slave: &OwnedFd) -> Result<(), Failure> {
    new_session()?;
    // SAFETY: ioctl and dup2 on descriptors we own, no memory involved.
    unsafe {
        if libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) != 0 {
            return Err(Failure::last_os("TIOCSCTTY"));
        }
        for fd in 0..3 {
            if libc::dup2(slave.as_raw_fd(), fd) < 0 {
                return Err(Failure::last_os("dup2 console"));
            }
        }
    }
    Ok(())
}
