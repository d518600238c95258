//! Creating a child process in new namespaces (`clone3(2)`, falling back to `clone(2)`).

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use iso_sys::procfs::ProcRoot;
use iso_sys::Pid;

use crate::namespace::CLONE_NEWTIME;
use crate::uts::{set_domainname_raw, set_hostname_raw, UtsName};
use crate::{pidfd_open, Error, GidMap, Namespace, NamespaceSet, Result, TimeOffsets, UidMap};

/// A program to execute in the new namespaces: path, arguments, environment. Everything is
/// converted to C strings when [`Spawn::exec`] prepares the child, before the clone.
///
/// ```
/// let cmd = iso_ns::Exec::new("/bin/echo").arg("hello").env("LANG", "C");
/// assert_eq!(cmd.program(), std::path::Path::new("/bin/echo"));
/// ```
#[derive(Debug, Clone)]
pub struct Exec {
    program: PathBuf,
    args: Vec<OsString>,
    env: Option<Vec<(OsString, OsString)>>,
    /// Descriptors for fds 0, 1 and 2 (`None`: inherited).
    stdio: [Option<std::sync::Arc<OwnedFd>>; 3],
    current_dir: Option<PathBuf>,
}

impl Exec {
    /// Runs `program` (searched in `PATH`, in the parent, if it contains no `/`), with
    /// `program` itself as `argv[0]` and the parent's environment.
    ///
    /// ```
    /// let cmd = iso_ns::Exec::new("sh");
    /// assert_eq!(cmd.program().to_str(), Some("sh"));
    /// ```
    pub fn new(program: impl AsRef<Path>) -> Self {
        Exec {
            program: program.as_ref().to_path_buf(),
            args: Vec::new(),
            env: None,
            stdio: [None, None, None],
            current_dir: None,
        }
    }

    /// The program's standard input (fd 0): a file, a pipe end, a socket. Inherited when
    /// not set.
    ///
    /// ```
    /// let cmd = iso_ns::Exec::new("cat").stdin(std::fs::File::open("/dev/null")?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stdin(mut self, fd: impl Into<OwnedFd>) -> Self {
        self.stdio[0] = Some(std::sync::Arc::new(fd.into()));
        self
    }

    /// The program's standard output (fd 1). Inherited when not set.
    ///
    /// ```
    /// let (read, write) = std::os::unix::net::UnixStream::pair()?;
    /// let cmd = iso_ns::Exec::new("hostname").stdout(write);
    /// # drop(read);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stdout(mut self, fd: impl Into<OwnedFd>) -> Self {
        self.stdio[1] = Some(std::sync::Arc::new(fd.into()));
        self
    }

    /// The program's standard error (fd 2). Inherited when not set.
    ///
    /// ```
    /// let cmd = iso_ns::Exec::new("ls").stderr(std::fs::File::create("/dev/null")?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stderr(mut self, fd: impl Into<OwnedFd>) -> Self {
        self.stdio[2] = Some(std::sync::Arc::new(fd.into()));
        self
    }

    /// The working directory of the program, changed to in the child (so resolved in its
    /// mount namespace) just before `execve`. The caller's when not set.
    ///
    /// ```
    /// let cmd = iso_ns::Exec::new("pwd").current_dir("/tmp");
    /// ```
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.current_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Appends an argument.
    ///
    /// ```
    /// let cmd = iso_ns::Exec::new("/bin/ls").arg("-l");
    /// ```
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    /// Appends several arguments.
    ///
    /// ```
    /// let cmd = iso_ns::Exec::new("/bin/sh").args(["-c", "echo hi"]);
    /// ```
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// Sets one environment variable (starting from the parent's environment unless
    /// [`Exec::env_clear`] was called).
    ///
    /// ```
    /// let cmd = iso_ns::Exec::new("/usr/bin/env").env("ISO", "1");
    /// ```
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        let env = self
            .env
            .get_or_insert_with(|| std::env::vars_os().collect());
        let key = key.as_ref().to_os_string();
        env.retain(|(k, _)| *k != key);
        env.push((key, value.as_ref().to_os_string()));
        self
    }

    /// Starts from an empty environment.
    ///
    /// ```
    /// let cmd = iso_ns::Exec::new("/usr/bin/env").env_clear().env("PATH", "/bin");
    /// ```
    pub fn env_clear(mut self) -> Self {
        self.env = Some(Vec::new());
        self
    }

    /// The program as given.
    ///
    /// ```
    /// assert_eq!(iso_ns::Exec::new("/bin/true").program(), std::path::Path::new("/bin/true"));
    /// ```
    pub fn program(&self) -> &Path {
        &self.program
    }

    fn resolve_program(&self) -> Result<PathBuf> {
        if self.program.as_os_str().as_bytes().contains(&b'/') {
            return Ok(self.program.clone());
        }
        let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(&self.program);
            let Ok(c) = CString::new(candidate.as_os_str().as_bytes()) else {
                continue;
            };
            // SAFETY: c is NUL-terminated.
            if unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0 {
                return Ok(candidate);
            }
        }
        Err(Error::io(
            "search PATH for",
            &self.program,
            io::Error::from_raw_os_error(libc::ENOENT),
        ))
    }
}

/// How a child ended.
///
/// ```
/// let status = iso_ns::ExitStatus::Exited(0);
/// assert!(status.success());
/// assert_eq!(iso_ns::ExitStatus::Signaled(9).code(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// It called `exit` with this code.
    Exited(i32),
    /// A signal (this number) killed it.
    Signaled(i32),
}

impl ExitStatus {
    /// Exited with code 0.
    ///
    /// ```
    /// assert!(!iso_ns::ExitStatus::Exited(1).success());
    /// ```
    pub fn success(self) -> bool {
        self == ExitStatus::Exited(0)
    }

    /// The exit code, if it exited.
    ///
    /// ```
    /// assert_eq!(iso_ns::ExitStatus::Exited(3).code(), Some(3));
    /// ```
    pub fn code(self) -> Option<i32> {
        match self {
            ExitStatus::Exited(c) => Some(c),
            ExitStatus::Signaled(_) => None,
        }
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::Exited(c) => write!(f, "exit code {c}"),
            ExitStatus::Signaled(s) => write!(f, "killed by signal {s}"),
        }
    }
}

/// A child created by [`Spawn`]: its pid (as seen from the parent's PID namespace) and,
/// where the kernel has them (5.2+), a pidfd that refers to exactly this process even after
/// its pid is reused. Dropping it neither waits nor kills.
///
/// ```no_run
/// use iso_ns::{Exec, Namespace, Spawn};
/// let mut child = Spawn::new(Namespace::Pid.into()).exec(&Exec::new("/bin/true"))?;
/// assert!(child.pidfd().is_some());
/// assert!(child.wait()?.success());
/// # Ok::<(), iso_ns::Error>(())
/// ```
#[derive(Debug)]
pub struct Child {
    pid: Pid,
    pidfd: Option<OwnedFd>,
    status: Option<ExitStatus>,
}

impl Child {
    /// The pid in the caller's PID namespace.
    ///
    /// ```no_run
    /// let child = iso_ns::Spawn::new(iso_ns::Namespace::Pid.into()).exec(&iso_ns::Exec::new("/bin/true"))?;
    /// println!("host pid {}", child.pid());
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// The pidfd, if the kernel gave one.
    ///
    /// ```no_run
    /// let child = iso_ns::Spawn::new(iso_ns::Namespace::Pid.into()).exec(&iso_ns::Exec::new("/bin/true"))?;
    /// assert!(child.pidfd().is_some()); // Linux 5.2 and later
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn pidfd(&self) -> Option<BorrowedFd<'_>> {
        self.pidfd.as_ref().map(|fd| fd.as_fd())
    }

    /// Takes the pidfd out of the handle (for example to `setns` into the child later).
    ///
    /// ```no_run
    /// let mut child = iso_ns::Spawn::new(iso_ns::Namespace::Net.into()).exec(&iso_ns::Exec::new("sleep").arg("60"))?;
    /// let pidfd = child.take_pidfd().expect("pidfd");
    /// iso_ns::setns_pidfd(&pidfd, iso_ns::Namespace::Net.into())?; // join its network
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn take_pidfd(&mut self) -> Option<OwnedFd> {
        self.pidfd.take()
    }

    /// Sends `signal` (a `libc::SIG*` number). Uses the pidfd when there is one, so the
    /// signal cannot reach an unrelated process that reused the pid.
    ///
    /// ```no_run
    /// let mut child = iso_ns::Spawn::new(iso_ns::Namespace::Pid.into()).exec(&iso_ns::Exec::new("sleep").arg("60"))?;
    /// child.kill(libc::SIGTERM)?;
    /// assert_eq!(child.wait()?, iso_ns::ExitStatus::Signaled(libc::SIGTERM));
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn kill(&self, signal: i32) -> Result<()> {
        if self.status.is_some() {
            return Err(Error::io(
                "kill",
                format!("/proc/{}", self.pid),
                io::Error::from_raw_os_error(libc::ESRCH),
            ));
        }
        let ret = match &self.pidfd {
            // SAFETY: pidfd_send_signal with a valid pidfd, no siginfo, no flags.
            Some(fd) => unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    fd.as_raw_fd(),
                    signal,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                )
            },
            // SAFETY: kill only sends a signal; the child is not reaped yet, so the pid is ours.
            None => libc::c_long::from(unsafe { libc::kill(self.pid.as_raw(), signal) }),
        };
        if ret < 0 {
            return Err(Error::io(
                "kill",
                format!("/proc/{}", self.pid),
                io::Error::last_os_error(),
            ));
        }
        Ok(())
    }

    /// Waits for the child to end and reaps it. Calling it again returns the same status.
    ///
    /// ```no_run
    /// let mut child = iso_ns::Spawn::new(iso_ns::Namespace::Pid.into()).exec(&iso_ns::Exec::new("/bin/false"))?;
    /// assert_eq!(child.wait()?.code(), Some(1));
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn wait(&mut self) -> Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        let status = wait_pid(self.pid)?;
        self.status = Some(status);
        Ok(status)
    }
}

fn wait_pid(pid: Pid) -> Result<ExitStatus> {
    let mut raw = 0;
    loop {
        // SAFETY: pid is our child; raw is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid.as_raw(), &mut raw, libc::__WALL) };
        if r >= 0 {
            break;
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(Error::io("waitpid", format!("/proc/{pid}"), err));
        }
    }
    Ok(if libc::WIFSIGNALED(raw) {
        ExitStatus::Signaled(libc::WTERMSIG(raw))
    } else {
        ExitStatus::Exited(libc::WEXITSTATUS(raw))
    })
}

/// `struct clone_args` of `clone3(2)` (size version 2, 88 bytes).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// `CLONE_INTO_CGROUP` (Linux 5.7), a clone3-only flag above 32 bits.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

static SPAWN_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The report a closure child sends once its setup is done (exec children report success by
/// closing the pipe at `execve`).
const STEP_READY: u32 = u32::MAX;

/// Steps of the child's setup, reported to the parent by index when one fails.
const STEPS: [&str; 7] = [
    "sethostname",
    "setdomainname",
    "execve",
    "setresgid",
    "setresuid",
    "dup2 (stdio)",
    "chdir",
];
const STEP_HOSTNAME: u32 = 0;
const STEP_DOMAINNAME: u32 = 1;
const STEP_EXECVE: u32 = 2;
const STEP_SETRESGID: u32 = 3;
const STEP_SETRESUID: u32 = 4;
const STEP_STDIO: u32 = 5;
const STEP_CHDIR: u32 = 6;

/// Creates a child process in new namespaces and runs a program or a closure there.
///
/// What happens, in order:
///
/// 1. In the parent, everything the child needs is prepared: C strings for the program,
///    its arguments and environment, the `timens_offsets` text, the hostname, pipes. The
///    child never allocates.
/// 2. `clone3(CLONE_PIDFD | CLONE_NEW*)` (or `clone(2)` plus `pidfd_open(2)` on older
///    kernels) creates the child, already inside the new namespaces. With
///    [`Spawn::time_offsets`], a short-lived helper process (forked first) creates the time
///    namespace for its children, writes its `/proc/self/timens_offsets` (the kernel takes
///    offsets only before a process enters the namespace) and clones the child with
///    `CLONE_PARENT`, so that the child is born in the time namespace on every kernel yet
///    is the caller's child; the caller's own namespaces are never touched.
/// 3. With a user namespace and maps, the child blocks on a pipe while the parent writes
///    `/proc/CHILD/uid_map`, `setgroups` and `gid_map` ([`UidMap::write`]); then it lets the
///    child go. (A process cannot write a useful map for itself: before the map exists it
///    has no ids in the new namespace.) A non-dumpable caller that is not root (a rootless
///    container runtime) could not open those files of a non-dumpable child, which belong
///    to the host's root: the child is dumpable only while it waits for the maps.
/// 4. The child sets the hostname and domain name, switches to its uid and gid inside the
///    namespace ([`Spawn::uid`], [`Spawn::gid`]: root when the maps map 0), and execs the
///    program (with its stdio and working directory, see [`Exec`]) or runs the closure.
/// 5. Failures in the child before the user's code runs come back to [`Spawn::exec`] as
///    [`Error::ChildSetup`] with the step and the errno (through a close-on-exec pipe).
///
/// ```no_run
/// use iso_ns::{Exec, GidMap, Namespace, NamespaceSet, Spawn, UidMap};
/// let namespaces = NamespaceSet::from([Namespace::User, Namespace::Pid, Namespace::Uts]);
/// // As root: ids 0-65535 inside are 100000-165535 outside; the child runs as uid 0 inside
/// // (the map maps 0), so it prints "sandbox", "0" and "1".
/// let mut child = Spawn::new(namespaces)
///     .uid_map(UidMap::single(0, 100000, 65536)?)
///     .gid_map(GidMap::single(0, 100000, 65536)?)
///     .hostname("sandbox")?
///     .exec(&Exec::new("/bin/sh").args(["-c", "hostname; id -u; echo $$"]))?;
/// println!("{}", child.wait()?);
/// # Ok::<(), iso_ns::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Spawn {
    namespaces: NamespaceSet,
    uid_map: Option<UidMap>,
    gid_map: Option<GidMap>,
    hostname: Option<UtsName>,
    domainname: Option<UtsName>,
    time_offsets: Option<TimeOffsets>,
    user_ns: Option<std::sync::Arc<OwnedFd>>,
    cgroup: Option<std::sync::Arc<OwnedFd>>,
    force_clone: bool,
    uid: Option<u32>,
    gid: Option<u32>,
}

/// Everything the child touches, prepared in the parent before the clone.
struct Prepared<'a> {
    go_read: Option<RawFd>,
    go_write: Option<RawFd>,
    report_read: RawFd,
    report_write: RawFd,
    hostname: Option<&'a UtsName>,
    domainname: Option<&'a UtsName>,
    /// The gid and uid to switch to (`setresgid`, then `setresuid`).
    gid: Option<u32>,
    uid: Option<u32>,
    /// The child makes itself dumpable while the parent writes its id maps, then
    /// non-dumpable again (see [`maps_need_dumpable`]).
    dumpable_for_maps: bool,
}

/// Makes the caller dumpable until dropped (then non-dumpable again): around the clone of a
/// child that must be dumpable for its maps ([`maps_need_dumpable`]).
struct DumpableWhileCloning;

impl DumpableWhileCloning {
    fn set() -> Self {
        // SAFETY: prctl with integer arguments. Failing leaves the child non-dumpable: its
        // maps then fail to be written, naming the file.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) };
        DumpableWhileCloning
    }
}

impl Drop for DumpableWhileCloning {
    fn drop(&mut self) {
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    }
}

/// Whether a child must be dumpable for this process to write its id maps: this process is
/// non-dumpable (the child inherits that) and not root. A non-dumpable process' `/proc/PID`
/// files belong to the host's root, so an ordinary user could not open the child's
/// `uid_map` (nor could `newuidmap`, which checks the owner).
fn maps_need_dumpable() -> bool {
    // SAFETY: prctl and geteuid with integer arguments, no memory touched.
    unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) == 0 && libc::geteuid() != 0 }
}

impl Spawn {
    /// A child that gets new namespaces of the kinds in `namespaces`.
    ///
    /// ```
    /// use iso_ns::{Namespace, NamespaceSet, Spawn};
    /// let spawn = Spawn::new(NamespaceSet::from([Namespace::Pid, Namespace::Mount]));
    /// ```
    pub fn new(namespaces: NamespaceSet) -> Self {
        Spawn {
            namespaces,
            ..Default::default()
        }
    }

    /// The uid map to write for the child's new user namespace (requires
    /// [`Namespace::User`] in the set).
    ///
    /// ```
    /// use iso_ns::{Namespace, Spawn, UidMap};
    /// let spawn = Spawn::new(Namespace::User.into()).uid_map(UidMap::single(0, 1000, 1)?);
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn uid_map(mut self, map: UidMap) -> Self {
        self.uid_map = Some(map);
        self
    }

    /// The gid map to write for the child's new user namespace.
    ///
    /// ```
    /// use iso_ns::{GidMap, Namespace, Spawn};
    /// let spawn = Spawn::new(Namespace::User.into()).gid_map(GidMap::single(0, 1000, 1)?);
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn gid_map(mut self, map: GidMap) -> Self {
        self.gid_map = Some(map);
        self
    }

    /// The uid the child switches to (`setresuid`, after the maps are written and the
    /// hostname is set), as seen inside its user namespace. Without it, a program started
    /// with [`Spawn::exec`] and a uid map that maps 0 becomes 0 (root in its namespace);
    /// otherwise the child keeps its uid, which shows as the overflow uid 65534 inside when
    /// the map does not cover it. A closure ([`Spawn::run`]) keeps its uid unless this is
    /// set: it may have work to do as its outside identity first (a runtime's init joins
    /// cgroup v1 hierarchies, whose files belong to the host's root), then switch itself.
    ///
    /// ```no_run
    /// use iso_ns::{Exec, Namespace, Spawn, UidMap, GidMap};
    /// // uid 1000 inside (100000 + 1000 outside), with no capability left.
    /// let mut child = Spawn::new(Namespace::User.into())
    ///     .uid_map(UidMap::single(0, 100000, 65536)?)
    ///     .gid_map(GidMap::single(0, 100000, 65536)?)
    ///     .uid(1000)
    ///     .gid(1000)
    ///     .exec(&Exec::new("id"))?;
    /// child.wait()?;
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn uid(mut self, uid: u32) -> Self {
        self.uid = Some(uid);
        self
    }

    /// The gid the child switches to (`setresgid`, before the uid), as for [`Spawn::uid`]:
    /// without it, a program gets 0 when the gid map maps 0. Supplementary groups are left
    /// as they are.
    ///
    /// ```
    /// let spawn = iso_ns::Spawn::new(iso_ns::Namespace::User.into()).gid(0);
    /// ```
    pub fn gid(mut self, gid: u32) -> Self {
        self.gid = Some(gid);
        self
    }

    /// The uid and gid the child switches to: the ones set, or, for a program, 0 where the
    /// map maps 0.
    fn ids(&self, is_exec: bool) -> (Option<u32>, Option<u32>) {
        let root_if_mapped = |outside: Option<u32>| outside.filter(|_| is_exec).map(|_| 0);
        let uid = self
            .uid
            .or_else(|| root_if_mapped(self.uid_map.as_ref()?.to_outside(0)));
        let gid = self
            .gid
            .or_else(|| root_if_mapped(self.gid_map.as_ref()?.to_outside(0)));
        (uid, gid)
    }

    /// The hostname to set in the child's new UTS namespace (requires [`Namespace::Uts`]).
    ///
    /// ```
    /// let spawn = iso_ns::Spawn::new(iso_ns::Namespace::Uts.into()).hostname("box")?;
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn hostname(mut self, name: &str) -> Result<Self> {
        self.hostname = Some(UtsName::new("hostname", name)?);
        Ok(self)
    }

    /// The NIS domain name to set in the child's new UTS namespace.
    ///
    /// ```
    /// let spawn = iso_ns::Spawn::new(iso_ns::Namespace::Uts.into()).domainname("lan")?;
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn domainname(mut self, name: &str) -> Result<Self> {
        self.domainname = Some(UtsName::new("domainname", name)?);
        Ok(self)
    }

    /// Clock offsets for the child's new time namespace (requires [`Namespace::Time`]).
    ///
    /// The child is born in the new time namespace, so both a program and a closure see
    /// the shifted clocks. Needs `CAP_SYS_ADMIN` and `CAP_SYS_TIME` in the caller's user
    /// namespace (the time namespace is created there, not in a new user namespace).
    ///
    /// ```no_run
    /// use iso_ns::{ClockOffset, Exec, Namespace, Spawn, TimeOffsets};
    /// let offsets = TimeOffsets { boottime: ClockOffset::from_secs(86400), ..Default::default() };
    /// let mut child = Spawn::new(Namespace::Time.into())
    ///     .time_offsets(offsets)
    ///     .exec(&Exec::new("cat").arg("/proc/uptime"))?; // one day more than the host
    /// child.wait()?;
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn time_offsets(mut self, offsets: TimeOffsets) -> Self {
        self.time_offsets = Some(offsets);
        self
    }

    /// Creates the child's new namespaces inside the existing user namespace `user_ns` (a
    /// descriptor of `/proc/PID/ns/user`, say), so that they belong to it and the child, once
    /// root there, may use them (set the hostname, mount). A helper process joins that user
    /// namespace and clones the child with `CLONE_PARENT`: the child is still the caller's,
    /// the caller's own namespaces are never touched. Not combinable with a new
    /// [`Namespace::User`].
    /// ```no_run
    /// use std::os::fd::OwnedFd;
    /// use iso_ns::{Exec, Namespace, NamespaceSet, Spawn};
    /// let user: OwnedFd = std::fs::File::open("/proc/4242/ns/user")?.into();
    /// let mut child = Spawn::new(NamespaceSet::from([Namespace::Uts, Namespace::Mount]))
    ///     .in_user_namespace(user)
    ///     .exec(&Exec::new("hostname"))?;
    /// child.wait()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn in_user_namespace(mut self, user_ns: OwnedFd) -> Self {
        self.user_ns = Some(std::sync::Arc::new(user_ns));
        self
    }

    /// Makes the child be born in the cgroup v2 directory `dir` (an `O_RDONLY` directory
    /// descriptor) with `clone3(CLONE_INTO_CGROUP)`, Linux 5.7+.
    ///
    /// Moving a running process by writing `cgroup.procs` takes the kernel's global
    /// `cgroup_threadgroup_rwsem` for writing, which waits for an RCU grace period (often
    /// milliseconds); a child born in its cgroup never needs that. Only the v2 (unified)
    /// hierarchy supports this; on a v1 hierarchy the kernel fails the clone with `EBADF`
    /// or `EINVAL`.
    ///
    /// ```no_run
    /// use std::os::fd::OwnedFd;
    /// use iso_ns::{Exec, Namespace, NamespaceSet, Spawn};
    /// let dir: OwnedFd = std::fs::File::open("/sys/fs/cgroup/sandbox")?.into();
    /// let mut child = Spawn::new(NamespaceSet::from([Namespace::Pid]))
    ///     .into_cgroup(dir)
    ///     .exec(&Exec::new("cat").arg("/proc/self/cgroup"))?;
    /// child.wait()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_cgroup(mut self, dir: OwnedFd) -> Self {
        self.cgroup = Some(std::sync::Arc::new(dir));
        self
    }

    /// Uses `clone(2)` and `pidfd_open(2)` even where `clone3(2)` exists (the path taken on
    /// kernels older than 5.3); for tests of that path.
    #[doc(hidden)]
    pub fn force_legacy_clone(mut self) -> Self {
        self.force_clone = true;
        self
    }

    fn check(&self) -> Result<()> {
        let need = |what: &'static str, ns: Namespace| -> Result<()> {
            if self.namespaces.contains(ns) {
                return Ok(());
            }
            Err(Error::InvalidValue {
                field: what,
                reason: format!("needs a new {ns} namespace, or it would change the caller's"),
            })
        };
        if self.uid_map.is_some() {
            need("uid map", Namespace::User)?;
        }
        if self.gid_map.is_some() {
            need("gid map", Namespace::User)?;
        }
        if self.hostname.is_some() {
            need("hostname", Namespace::Uts)?;
        }
        if self.domainname.is_some() {
            need("domainname", Namespace::Uts)?;
        }
        if self.time_offsets.is_some() {
            need("time offsets", Namespace::Time)?;
        }
        if self.cgroup.is_some() && self.force_clone {
            return Err(Error::InvalidValue {
                field: "into_cgroup",
                reason: "needs clone3, which the legacy path does not use".into(),
            });
        }
        if self.user_ns.is_some() && self.namespaces.contains(Namespace::User) {
            return Err(Error::InvalidValue {
                field: "in_user_namespace",
                reason: "the child cannot both join a user namespace and get a new one".into(),
            });
        }
        Ok(())
    }

    /// Creates the child and executes `cmd` in it. Returns once the program has been
    /// executed (or the setup failed, in which case the child has been reaped).
    ///
    /// ```no_run
    /// use iso_ns::{Exec, Namespace, NamespaceSet, Spawn};
    /// let set = NamespaceSet::from([Namespace::Uts, Namespace::Ipc, Namespace::Net]);
    /// let mut child = Spawn::new(set).hostname("island")?.exec(&Exec::new("hostname"))?;
    /// child.wait()?;
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn exec(&self, cmd: &Exec) -> Result<Child> {
        let program = cmd.resolve_program()?;
        let cstring = |what: &'static str, s: &OsStr| {
            CString::new(s.as_bytes()).map_err(|_| Error::InvalidValue {
                field: what,
                reason: format!("{s:?} contains a NUL byte"),
            })
        };
        let path = cstring("program", program.as_os_str())?;
        let mut argv = vec![cstring("argument", cmd.program.as_os_str())?];
        for arg in &cmd.args {
            argv.push(cstring("argument", arg)?);
        }
        let env: Vec<(OsString, OsString)> = match &cmd.env {
            Some(env) => env.clone(),
            None => std::env::vars_os().collect(),
        };
        let envp = env
            .into_iter()
            .map(|(k, v)| {
                let mut kv = k.into_vec();
                kv.push(b'=');
                kv.extend(v.into_vec());
                cstring("environment", OsStr::from_bytes(&kv))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        let mut envp_ptrs: Vec<*const libc::c_char> = envp.iter().map(|e| e.as_ptr()).collect();
        envp_ptrs.push(std::ptr::null());
        let cwd = match &cmd.current_dir {
            Some(dir) => Some(cstring("current_dir", dir.as_os_str())?),
            None => None,
        };
        let stdio: [Option<RawFd>; 3] =
            std::array::from_fn(|i| cmd.stdio[i].as_deref().map(AsRawFd::as_raw_fd));
        let exec = || -> i32 {
            if redirect_stdio(&stdio).is_err() {
                return STEP_STDIO as i32;
            }
            if let Some(dir) = &cwd {
                // SAFETY: dir is a NUL-terminated C string prepared before the clone.
                if unsafe { libc::chdir(dir.as_ptr()) } != 0 {
                    return STEP_CHDIR as i32;
                }
            }
            // Exec keeps ignored signals ignored and the mask as it is; Rust ignores SIGPIPE.
            // SAFETY: signal and sigprocmask are async-signal-safe and only reset this process.
            unsafe {
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
                let mut empty: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut empty);
                libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            }
            // SAFETY: path, argv and envp are NUL-terminated arrays of valid C strings that
            // were built before the clone and live in this (copied) address space.
            unsafe { libc::execve(path.as_ptr(), argv_ptrs.as_ptr(), envp_ptrs.as_ptr()) };
            STEP_EXECVE as i32
        };
        // SAFETY: the closure only duplicates fds, changes directory, resets signals and
        // calls execve, all async-signal-safe, on data prepared above.
        unsafe { self.start(exec, true) }
    }

    /// Creates the child and runs `f` in it; the child exits with `f`'s return value (101 if
    /// it panics). Returns once the child's setup is done and `f` has started.
    ///
    /// # Safety
    ///
    /// The child is a copy of the caller made with `clone`, like `fork`: if the caller has
    /// other threads, locks they held (the allocator's, stdio's) stay locked forever in
    /// the child, so `f` must then do only async-signal-safe work (no allocation, no
    /// `println!`), typically system calls followed by `execve`. In a single-threaded
    /// caller anything goes.
    ///
    /// ```no_run
    /// use iso_ns::{Namespace, Spawn};
    /// // SAFETY: this program is single-threaded.
    /// let mut child = unsafe { Spawn::new(Namespace::Pid.into()).run(|| {
    ///     if std::process::id() == 1 { 0 } else { 1 }
    /// }) }?;
    /// assert!(child.wait()?.success());
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub unsafe fn run<F: FnOnce() -> i32>(&self, f: F) -> Result<Child> {
        // SAFETY: forwarded to the caller (see the function's contract).
        unsafe { self.start(f, false) }
    }

    /// # Safety
    /// As for [`Spawn::run`].
    unsafe fn start<F: FnOnce() -> i32>(&self, f: F, is_exec: bool) -> Result<Child> {
        self.check()?;
        // A child cloned by another thread while this setup runs would inherit our pipe ends
        // and, if it never execs, keep them open: serialize the setup of our own spawns.
        let _serialized = SPAWN_LOCK
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let need_go = self.uid_map.is_some() || self.gid_map.is_some();
        let (go_read, go_write) = if need_go {
            let (r, w) = pipe()?;
            (Some(r), Some(w))
        } else {
            (None, None)
        };
        let (report_read, report_write) = pipe()?;
        let (uid, gid) = self.ids(is_exec);
        let prepared = Prepared {
            uid,
            gid,
            go_read: go_read.as_ref().map(|fd| fd.as_raw_fd()),
            go_write: go_write.as_ref().map(|fd| fd.as_raw_fd()),
            report_read: report_read.as_raw_fd(),
            report_write: report_write.as_raw_fd(),
            hostname: self.hostname.as_ref(),
            domainname: self.domainname.as_ref(),
            dumpable_for_maps: need_go && maps_need_dumpable(),
        };
        // The child inherits dumpability at the clone: dumpable from birth, it is so before
        // the maps are written without another round trip.
        let _dumpable = prepared.dumpable_for_maps.then(DumpableWhileCloning::set);
        let mut flags = self.namespaces.clone_flags();
        let mut f_slot = Some(f);
        let cgroup = self.cgroup.as_deref().map(AsRawFd::as_raw_fd);
        let (pid, pidfd) = if self.time_offsets.is_none() && self.user_ns.is_none() {
            // SAFETY: forwarded from this function's contract; f_slot holds the closure.
            unsafe {
                clone_and_run(
                    flags,
                    self.force_clone,
                    cgroup,
                    &self.namespaces,
                    &prepared,
                    &mut f_slot,
                    is_exec,
                )
            }?
        } else {
            // The helper's time_for_children is the new namespace, its user namespace the
            // joined one; the child, cloned by the helper with CLONE_PARENT, is born in
            // them and is still our child.
            flags &= !CLONE_NEWTIME;
            let text = self.time_offsets.map(|o| o.to_proc_string());
            let proc_root = match text {
                Some(_) => Some(ProcRoot::open()?),
                None => None,
            };
            let helper = Helper {
                user_ns: self.user_ns.as_deref().map(AsRawFd::as_raw_fd),
                time: text
                    .as_deref()
                    .zip(proc_root.as_ref())
                    .map(|(text, root)| TimeHelper {
                        proc_fd: root.as_fd().as_raw_fd(),
                        text: text.as_bytes(),
                    }),
                cgroup,
                force_clone: self.force_clone,
            };
            // SAFETY: forwarded from this function's contract; f_slot holds the closure.
            unsafe {
                clone_via_helper(
                    flags,
                    &self.namespaces,
                    &helper,
                    &prepared,
                    &mut f_slot,
                    is_exec,
                )
            }?
        };
        drop(_dumpable);
        drop(go_read);
        drop(report_write);
        let mut child = Child {
            pid,
            pidfd,
            status: None,
        };
        if let Some(go_write) = go_write {
            if let Err(e) = self.write_maps(pid) {
                let _ = child.kill(libc::SIGKILL);
                let _ = child.wait();
                return Err(e);
            }
            if let Err(e) = write_all(go_write.as_fd(), &[1]) {
                let _ = child.kill(libc::SIGKILL);
                let _ = child.wait();
                return Err(Error::io("write", "spawn sync pipe", e));
            }
        }
        if let Some((step, errno)) = read_report(report_read.as_fd()).filter(|r| r.0 != STEP_READY)
        {
            let _ = child.wait();
            let step = STEPS.get(step as usize).copied().unwrap_or("unknown step");
            return Err(Error::ChildSetup {
                step,
                source: io::Error::from_raw_os_error(errno),
            });
        }
        Ok(child)
    }

    fn write_maps(&self, pid: Pid) -> Result<()> {
        if let Some(map) = &self.uid_map {
            map.write(pid)?;
        }
        if let Some(map) = &self.gid_map {
            map.write(pid)?;
        }
        Ok(())
    }
}

/// What the time helper process needs, prepared before it is forked.
struct TimeHelper<'a> {
    /// A verified procfs root.
    proc_fd: RawFd,
    /// The `timens_offsets` text.
    text: &'a [u8],
}

/// What the helper that clones the child does first, prepared before it is forked.
struct Helper<'a> {
    /// A user namespace to join (the child's new namespaces then belong to it).
    user_ns: Option<RawFd>,
    /// A time namespace to create, with its offsets.
    time: Option<TimeHelper<'a>>,
    /// The cgroup v2 directory the child is born in.
    cgroup: Option<RawFd>,
    /// Use `clone(2)` for the child.
    force_clone: bool,
}

impl Helper<'_> {
    /// In the helper: joins the user namespace, then creates the time namespace and writes
    /// its offsets (the kernel takes them only before a process enters the namespace, and
    /// only through the per-process `/proc/PID/timens_offsets`). Returns `-errno`.
    /// System calls only, on data prepared before the fork.
    fn enter(&self) -> std::result::Result<(), i32> {
        let errno = || {
            -io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO)
        };
        if let Some(fd) = self.user_ns {
            // SAFETY: setns only changes this single-threaded helper's user namespace.
            if unsafe { libc::setns(fd, libc::CLONE_NEWUSER) } < 0 {
                return Err(errno());
            }
        }
        let Some(time) = &self.time else {
            return Ok(());
        };
        // SAFETY: unshare only changes this helper's namespaces.
        if unsafe { libc::unshare(CLONE_NEWTIME) } < 0 {
            return Err(errno());
        }
        let name = b"self/timens_offsets\0";
        // SAFETY: name is NUL-terminated; proc_fd is a verified procfs root.
        let fd = unsafe {
            libc::openat(
                time.proc_fd,
                name.as_ptr().cast(),
                libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
            )
        };
        if fd < 0 {
            return Err(errno());
        }
        // SAFETY: text is a valid buffer.
        let n = unsafe { libc::write(fd, time.text.as_ptr().cast(), time.text.len()) };
        if n < 0 || n as usize != time.text.len() {
            return Err(errno());
        }
        Ok(())
    }
}

/// Forks a helper that joins a user namespace and/or creates a time namespace for its
/// children ([`Helper::enter`]), and clones the real child with `CLONE_PARENT` so that it
/// is born in them yet is our child. Works on every kernel with time namespaces (5.6+); the
/// caller's own namespaces are never touched.
///
/// # Safety
/// As for [`Spawn::run`]; `f_slot` must hold the closure.
unsafe fn clone_via_helper<F: FnOnce() -> i32>(
    flags: i32,
    namespaces: &NamespaceSet,
    helper: &Helper<'_>,
    prepared: &Prepared<'_>,
    f_slot: &mut Option<F>,
    is_exec: bool,
) -> Result<(Pid, Option<OwnedFd>)> {
    let (pid_read, pid_write) = pipe()?;
    let helper_pid = match clone_child(0, true, None, namespaces)? {
        Cloned::Parent { pid, .. } => pid,
        Cloned::Child => {
            let report = |value: i32| -> ! {
                // SAFETY: write and _exit are async-signal-safe; the buffer is valid.
                unsafe {
                    let bytes = value.to_ne_bytes();
                    libc::write(pid_write.as_raw_fd(), bytes.as_ptr().cast(), bytes.len());
                    libc::_exit(0)
                }
            };
            if let Err(errno) = helper.enter() {
                report(errno);
            }
            // CLONE_PARENT makes the child our parent's and gives it our exit signal
            // (SIGCHLD).
            match raw_clone(
                flags | libc::CLONE_PARENT,
                helper.force_clone,
                helper.cgroup,
            ) {
                Ok(RawCloned::Child) => match f_slot.take() {
                    // SAFETY: in the child; only async-signal-safe calls on prepared data.
                    Some(f) => unsafe { child_main(prepared, f, is_exec) },
                    // SAFETY: _exit is async-signal-safe (unreachable: the slot is filled).
                    None => unsafe { libc::_exit(127) },
                },
                Ok(RawCloned::Parent { pid, .. }) => report(pid),
                Err((_, errno)) => report(-errno),
            }
        }
    };
    drop(pid_write);
    let mut buf = [0u8; 4];
    let got = read_exact_raw(pid_read.as_fd(), &mut buf);
    let _ = wait_pid(helper_pid);
    let value = i32::from_ne_bytes(buf);
    let fail = |errno: i32| {
        let mut set = *namespaces;
        if helper.time.is_some() {
            set.insert(Namespace::Time);
        }
        if helper.user_ns.is_some() {
            set.insert(Namespace::User);
        }
        Error::syscall(
            "clone (namespace helper)",
            set,
            io::Error::from_raw_os_error(errno),
        )
    };
    if got != buf.len() {
        return Err(fail(libc::EIO));
    }
    if value < 0 {
        return Err(fail(-value));
    }
    let pid = Pid::from_raw(value).ok_or_else(|| fail(libc::EINVAL))?;
    // The child is ours and not yet reaped, so its pid cannot have been reused.
    Ok((pid, pidfd_open(pid).ok()))
}

/// Clones the child; in the child runs the setup and the closure in `f_slot`, in the parent
/// returns the pid and pidfd.
///
/// # Safety
/// As for [`Spawn::run`]; `f_slot` must hold the closure.
unsafe fn clone_and_run<F: FnOnce() -> i32>(
    flags: i32,
    force_clone: bool,
    cgroup: Option<RawFd>,
    namespaces: &NamespaceSet,
    prepared: &Prepared<'_>,
    f_slot: &mut Option<F>,
    is_exec: bool,
) -> Result<(Pid, Option<OwnedFd>)> {
    match clone_child(flags, force_clone, cgroup, namespaces)? {
        Cloned::Child => match f_slot.take() {
            // SAFETY: in the child; only async-signal-safe calls on prepared data.
            Some(f) => unsafe { child_main(prepared, f, is_exec) },
            // SAFETY: _exit is async-signal-safe (unreachable: the slot is always filled).
            None => unsafe { libc::_exit(127) },
        },
        Cloned::Parent { pid, pidfd } => Ok((pid, pidfd)),
    }
}

enum Cloned {
    Child,
    Parent { pid: Pid, pidfd: Option<OwnedFd> },
}

fn clone_child(
    flags: i32,
    force_clone: bool,
    cgroup: Option<RawFd>,
    namespaces: &NamespaceSet,
) -> Result<Cloned> {
    match raw_clone(flags, force_clone, cgroup) {
        Ok(RawCloned::Child) => Ok(Cloned::Child),
        Ok(RawCloned::Parent { pid, pidfd }) => {
            let op = if pidfd.is_some() { "clone3" } else { "clone" };
            let pid = Pid::from_raw(pid).ok_or_else(|| {
                Error::syscall(op, namespaces, io::Error::from_raw_os_error(libc::EINVAL))
            })?;
            let pidfd = match pidfd {
                Some(fd) => Some(fd),
                None => pidfd_open(pid).ok(),
            };
            Ok(Cloned::Parent { pid, pidfd })
        }
        Err((op, errno)) => Err(Error::syscall(
            op,
            namespaces,
            io::Error::from_raw_os_error(errno),
        )),
    }
}

/// What [`raw_clone`] returns in each process.
enum RawCloned {
    Child,
    Parent { pid: i32, pidfd: Option<OwnedFd> },
}

/// `clone3` (with `CLONE_PIDFD`, and `CLONE_INTO_CGROUP` for `cgroup`), or `clone` where
/// clone3 is missing or `force_clone`. System calls only (no allocation): usable in a
/// forked helper. Fails with the call and its errno.
fn raw_clone(
    flags: i32,
    force_clone: bool,
    cgroup: Option<RawFd>,
) -> std::result::Result<RawCloned, (&'static str, i32)> {
    let errno = || {
        io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    };
    if !force_clone {
        let mut pidfd: RawFd = -1;
        let args = CloneArgs {
            flags: flags as u32 as u64
                | libc::CLONE_PIDFD as u64
                | cgroup.map_or(0, |_| CLONE_INTO_CGROUP),
            pidfd: &mut pidfd as *mut RawFd as u64,
            // With CLONE_PARENT the child gets the caller's exit signal (clone3 wants 0).
            exit_signal: if flags & libc::CLONE_PARENT != 0 {
                0
            } else {
                libc::SIGCHLD as u64
            },
            cgroup: cgroup.map_or(0, |fd| fd as u64),
            ..Default::default()
        };
        // SAFETY: clone3 without CLONE_VM and without a stack behaves like fork: the child
        // gets a copy of the address space and returns 0 here. `args` and `pidfd` are valid
        // for the call.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_clone3,
                &args as *const CloneArgs,
                std::mem::size_of::<CloneArgs>(),
            )
        };
        if ret == 0 {
            return Ok(RawCloned::Child);
        }
        if ret > 0 {
            // SAFETY: with CLONE_PIDFD the kernel stored a new descriptor nobody else owns.
            let pidfd = (pidfd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(pidfd) });
            return Ok(RawCloned::Parent {
                pid: ret as i32,
                pidfd,
            });
        }
        let err = errno();
        if cgroup.is_some() || !matches!(err, libc::ENOSYS | libc::E2BIG) {
            return Err(("clone3", err));
        }
    }
    // SAFETY: clone without CLONE_VM and with a null stack behaves like fork. The trailing
    // pointer arguments (parent_tid, child_tid, tls) are unused without the matching flags.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    match ret {
        0 => Ok(RawCloned::Child),
        r if r < 0 => Err(("clone", errno())),
        r => Ok(RawCloned::Parent {
            pid: r as i32,
            pidfd: None,
        }),
    }
}

/// The child's side. Never returns.
///
/// # Safety
/// Must run only in the freshly cloned child; uses only async-signal-safe system calls on
/// `prepared` (built before the clone), then runs `f`.
unsafe fn child_main<F: FnOnce() -> i32>(prepared: &Prepared<'_>, f: F, is_exec: bool) -> ! {
    let fail = |step: u32, err: io::Error| -> ! {
        let errno = err.raw_os_error().unwrap_or(libc::EIO);
        let mut msg = [0u8; 8];
        msg[..4].copy_from_slice(&step.to_ne_bytes());
        msg[4..].copy_from_slice(&errno.to_ne_bytes());
        // SAFETY: write and _exit are async-signal-safe; msg is a valid buffer.
        unsafe {
            libc::write(prepared.report_write, msg.as_ptr().cast(), msg.len());
            libc::_exit(127)
        }
    };
    // SAFETY: closing our copies of the parent's pipe ends (async-signal-safe).
    unsafe {
        libc::close(prepared.report_read);
        if let Some(w) = prepared.go_write {
            libc::close(w);
        }
    }
    if let Some(go) = prepared.go_read {
        let mut byte = 0u8;
        // SAFETY: read into a one-byte buffer.
        let n = unsafe { libc::read(go, (&mut byte as *mut u8).cast(), 1) };
        // Born dumpable for the maps (see `Spawn::start`); nothing else runs in the new user
        // namespace yet.
        // SAFETY: prctl with integer arguments (async-signal-safe).
        let restored = !prepared.dumpable_for_maps
            || unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } == 0;
        if n != 1 || !restored {
            // The parent gave up (it closed the pipe): leave quietly, it is reaping us.
            // SAFETY: _exit is async-signal-safe.
            unsafe { libc::_exit(127) };
        }
        // SAFETY: close is async-signal-safe.
        unsafe { libc::close(go) };
    }
    if let Some(name) = prepared.hostname {
        if let Err(e) = set_hostname_raw(name) {
            fail(STEP_HOSTNAME, e);
        }
    }
    if let Some(name) = prepared.domainname {
        if let Err(e) = set_domainname_raw(name) {
            fail(STEP_DOMAINNAME, e);
        }
    }
    if let Some(gid) = prepared.gid {
        // SAFETY: setresgid is async-signal-safe and changes only this process.
        if unsafe { libc::setresgid(gid, gid, gid) } != 0 {
            fail(STEP_SETRESGID, io::Error::last_os_error());
        }
    }
    if let Some(uid) = prepared.uid {
        // SAFETY: setresuid is async-signal-safe and changes only this process.
        if unsafe { libc::setresuid(uid, uid, uid) } != 0 {
            fail(STEP_SETRESUID, io::Error::last_os_error());
        }
    }
    if is_exec {
        // The exec closure returns the step that failed, with errno still set.
        let step = f();
        fail(step as u32, io::Error::last_os_error());
    }
    // The setup is done: say so explicitly (end-of-file could be delayed by a copy of the
    // pipe in some other process).
    let mut msg = [0u8; 8];
    msg[..4].copy_from_slice(&STEP_READY.to_ne_bytes());
    // SAFETY: write and close are async-signal-safe; msg is a valid buffer.
    unsafe {
        libc::write(prepared.report_write, msg.as_ptr().cast(), msg.len());
        libc::close(prepared.report_write);
    }
    let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(101);
    // SAFETY: _exit ends the child without running the parent's atexit handlers.
    unsafe { libc::_exit(code) }
}

/// In the child before `execve`: makes `stdio[i]` fd `i`. Each source is first copied above
/// 2 (close-on-exec), so that a source that is itself 0, 1 or 2 is not overwritten by an
/// earlier `dup2`; `dup2` then gives fds 0-2 without close-on-exec. System calls only.
fn redirect_stdio(stdio: &[Option<RawFd>; 3]) -> io::Result<()> {
    let mut copies: [RawFd; 3] = [-1; 3];
    for (copy, fd) in copies.iter_mut().zip(stdio) {
        if let Some(fd) = fd {
            // SAFETY: fcntl(F_DUPFD_CLOEXEC) on a descriptor we hold; async-signal-safe.
            *copy = unsafe { libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 3) };
            if *copy < 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    for (target, copy) in (0..).zip(copies) {
        // SAFETY: dup2 onto 0-2 from a descriptor we hold; async-signal-safe.
        if copy >= 0 && unsafe { libc::dup2(copy, target) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(Error::io(
            "pipe2",
            "spawn sync pipe",
            io::Error::last_os_error(),
        ));
    }
    // SAFETY: two fresh descriptors owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn write_all(fd: BorrowedFd<'_>, data: &[u8]) -> io::Result<()> {
    // SAFETY: data is a valid buffer.
    let n = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Reads until `buf` is full or end-of-file; returns how many bytes were read.
fn read_exact_raw(fd: BorrowedFd<'_>, buf: &mut [u8]) -> usize {
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: the destination is the unfilled tail of buf.
        let n = unsafe {
            libc::read(
                fd.as_raw_fd(),
                buf[got..].as_mut_ptr().cast(),
                buf.len() - got,
            )
        };
        if n < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        if n <= 0 {
            break;
        }
        got += n as usize;
    }
    got
}

/// Reads the child's report: `None` on end-of-file (an exec child reached `execve`).
fn read_report(fd: BorrowedFd<'_>) -> Option<(u32, i32)> {
    let mut buf = [0u8; 8];
    if read_exact_raw(fd, &mut buf) < buf.len() {
        return None;
    }
    let step = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let errno = i32::from_ne_bytes([buf[4], buf[5], buf[6], buf[7]]);
    Some((step, errno))
}
