//! What a container is, between commands: the stored record and the OCI state derived from it.
//!
//! The status is never stored: it is derived when read. The init's pid is stored with its
//! start time (field 22 of `/proc/PID/stat`, in clock ticks since boot), so a pid that was
//! reused by an unrelated process is recognised as "the container stopped" rather than
//! signalled or reported as running.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use iso_cgroups::{Cgroup, CgroupPath, Layout};
use iso_sys::procfs::ProcRoot;
use iso_sys::{Pid, ProcPid};
use serde::{Deserialize, Serialize};

use crate::Error;

/// The name of the handshake socket in the container's directory: present while the init
/// waits for `start`.
pub(crate) const EXEC_SOCKET: &str = "exec.sock";

/// The command name (`comm`, at most 15 bytes) the init takes while it waits for `start`,
/// and keeps until it executes the container's program. `state` and `list` read it from
/// `/proc/PID/stat`, which they read anyway, instead of connecting to the handshake socket:
/// a query never wakes the init. `ps` shows it too.
pub(crate) const WAITING_INIT_NAME: &std::ffi::CStr = c"iso:wait-start";

/// The lifecycle status of a container, as the OCI runtime specification names it.
///
/// ```
/// assert_eq!(iso_runtime::Status::Running.to_string(), "running");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// `create` is still running.
    Creating,
    /// The init waits for `start`.
    Created,
    /// The user's program runs.
    Running,
    /// The init has exited.
    Stopped,
    /// The container's cgroup is frozen.
    Paused,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad` honours width and alignment (`list` prints a column).
        f.pad(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
            Status::Paused => "paused",
        })
    }
}

/// The OCI state of a container (`iso-runtime state` prints it), with the extra fields runc
/// prints (`rootfs`, `created`, `owner`).
///
/// ```
/// let state: iso_runtime::State = serde_json::from_str(
///     r#"{"ociVersion":"1.2.0","id":"a","status":"stopped","pid":0,"bundle":"/b",
///         "rootfs":"/b/rootfs","created":"2024-01-01T00:00:00Z","owner":""}"#,
/// )?;
/// assert_eq!(state.status, iso_runtime::Status::Stopped);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    /// The runtime specification version of the bundle.
    pub oci_version: String,
    /// The container id.
    pub id: String,
    /// The init's pid in the runtime's PID namespace (0 once stopped).
    pub pid: i32,
    /// The derived status.
    pub status: Status,
    /// The bundle directory.
    pub bundle: PathBuf,
    /// The root filesystem.
    pub rootfs: PathBuf,
    /// When the container was created (RFC 3339).
    pub created: String,
    /// The user who created it (empty for root, as runc prints).
    pub owner: String,
    /// `annotations` of the configuration.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// What the runtime stores about a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    /// Field 22 of `/proc/PID/stat` when the init was created.
    pub start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub annotations: BTreeMap<String, String>,
    /// The absolute cgroup path.
    pub cgroup: String,
    /// `create` made no cgroup: rootless, and the user may not create it.
    #[serde(default)]
    pub no_cgroup: bool,
    /// The configuration's hooks, for `start` (poststart) and `delete` (poststop).
    #[serde(default)]
    pub hooks: Option<oci_spec::runtime::Hooks>,
    /// Whether `create` finished (the init waits or ran).
    pub created_done: bool,
    /// The resources in force: the configuration's, with every `update` merged in.
    #[serde(default)]
    pub resources: Option<oci_spec::runtime::LinuxResources>,
    /// The systemd unit whose cgroup this is (`--systemd-cgroup`); none for cgroupfs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd: Option<crate::plan::UnitRecord>,
    /// `linux.netDevices` that `create` moved into the container's network namespace, for
    /// `delete` to move back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub net_devices: Vec<crate::plan::NetDevice>,
    /// A path of the network namespace they were moved into: the joined one's (a pod's), or
    /// the pin of a new one in the state directory. It outlives the init, so `delete` can
    /// still move them back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_devices_ns: Option<PathBuf>,
}

impl Record {
    /// The live status of the container.
    pub fn status(&self, dir: &Path, host: &Host) -> Status {
        if !self.created_done {
            return Status::Creating;
        }
        let Some(init) = self.live_init(host) else {
            return Status::Stopped;
        };
        // Frozen first: a paused created container is paused, as runc reports it.
        if self.frozen(host) {
            return Status::Paused;
        }
        // Both: `start` removes the socket once it released the init, and a `start` killed
        // before that leaves the file behind while the init already runs the program,
        // whose name is not the waiting init's any more.
        if init.waits_for_start && dir.join(EXEC_SOCKET).exists() {
            return Status::Created;
        }
        Status::Running
    }

    /// Whether the recorded init still runs (same pid, same start time, not a zombie).
    pub fn init_alive(&self, host: &Host) -> bool {
        self.live_init(host).is_some()
    }

    /// The recorded init's `stat`, if it is that process and alive.
    fn live_init(&self, host: &Host) -> Option<ProcStat> {
        let stat = host.proc_stat(Pid::from_raw(self.pid)?).ok()?;
        let same = stat.start_time == self.start_time && stat.state != 'Z' && stat.state != 'X';
        same.then_some(stat)
    }

    /// The container's cgroup, for `what` (a command or option); fails with
    /// [`Error::NoCgroup`] when `create` made none.
    pub fn cgroup(&self, host: &Host, what: &'static str) -> Result<Cgroup, Error> {
        if self.no_cgroup {
            return Err(Error::NoCgroup {
                id: self.id.clone(),
                what,
            });
        }
        host.cgroup(&self.cgroup)
    }

    fn frozen(&self, host: &Host) -> bool {
        // Unchecked: a cgroup that is gone reads as not frozen (`list` asks for every
        // container, so the `stat` of an existence check adds up).
        let (Ok(layout), Ok(path)) = (host.layout(), CgroupPath::new(&self.cgroup)) else {
            return false;
        };
        Cgroup::at(layout, path)
            .freezer_state()
            .is_ok_and(|s| s == iso_cgroups::FreezerState::Frozen)
    }

    /// The OCI state JSON with `status` as given (what the hooks read on stdin), the
    /// recorded pid included.
    pub fn state_json(&self, status: Status) -> Vec<u8> {
        let state = State {
            oci_version: self.oci_version.clone(),
            id: self.id.clone(),
            status,
            pid: self.pid,
            bundle: self.bundle.clone(),
            rootfs: self.rootfs.clone(),
            created: self.created.clone(),
            owner: String::new(),
            annotations: self.annotations.clone(),
        };
        serde_json::to_vec(&state).unwrap_or_default()
    }

    /// The OCI state.
    pub fn state(&self, dir: &Path, host: &Host) -> State {
        let status = self.status(dir, host);
        State {
            oci_version: self.oci_version.clone(),
            id: self.id.clone(),
            status,
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            bundle: self.bundle.clone(),
            rootfs: self.rootfs.clone(),
            created: self.created.clone(),
            owner: String::new(),
            annotations: self.annotations.clone(),
        }
    }
}

/// The parts of `/proc/PID/stat` the runtime uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcStat {
    /// Field 3: R, S, D, Z, T, ...
    pub state: char,
    /// Field 22: start time in clock ticks after boot.
    pub start_time: u64,
    /// Field 2 (the command name) is [`WAITING_INIT_NAME`].
    pub waits_for_start: bool,
}

/// A path usable as a unix socket address for `dir/name` (sun_path holds 108 bytes): the
/// path itself, or `/proc/self/fd/N/name` through a descriptor of the directory, returned
/// with it.
pub(crate) fn socket_path(
    dir: &Path,
    name: &str,
) -> Result<(PathBuf, Option<std::fs::File>), Error> {
    let full = dir.join(name);
    if full.as_os_str().len() < 100 {
        return Ok((full, None));
    }
    let d = std::fs::File::open(dir).map_err(|e| Error::io("open", dir, e))?;
    Ok((
        PathBuf::from(format!(
            "/proc/self/fd/{}/{name}",
            std::os::fd::AsRawFd::as_raw_fd(&d)
        )),
        Some(d),
    ))
}

/// What a command reads about the host: a verified procfs and the cgroup layout, opened
/// once and shared by every container the command looks at (`list` looks at all of them).
#[derive(Debug, Default)]
pub(crate) struct Host {
    proc: OnceLock<ProcRoot>,
    layout: OnceLock<Layout>,
    last_cap: OnceLock<u8>,
}

impl Clone for Host {
    /// A clone starts with empty caches (a procfs handle is not shared).
    fn clone(&self) -> Self {
        Host::default()
    }
}

impl Host {
    /// The verified procfs root.
    pub fn proc(&self) -> Result<&ProcRoot, Error> {
        if let Some(proc) = self.proc.get() {
            return Ok(proc);
        }
        let proc = ProcRoot::open()?;
        Ok(self.proc.get_or_init(|| proc))
    }

    /// The host's cgroup hierarchies.
    pub fn layout(&self) -> Result<&Layout, Error> {
        if let Some(layout) = self.layout.get() {
            return Ok(layout);
        }
        let layout = Layout::detect()?;
        Ok(self.layout.get_or_init(|| layout))
    }

    /// The highest capability number the kernel knows.
    pub fn last_cap(&self) -> Result<u8, Error> {
        if let Some(last) = self.last_cap.get() {
            return Ok(*last);
        }
        let last = iso_caps::last_cap_probe()?;
        Ok(*self.last_cap.get_or_init(|| last))
    }

    /// The existing cgroup at the absolute `path`.
    pub fn cgroup(&self, path: &str) -> Result<Cgroup, Error> {
        Ok(Cgroup::open(self.layout()?, CgroupPath::new(path)?)?)
    }

    /// Reads `/proc/PID/stat`.
    pub fn proc_stat(&self, pid: Pid) -> Result<ProcStat, Error> {
        let text = self
            .proc()?
            .read_whole_to_string(ProcPid::Pid(pid), "stat")?;
        parse_stat(&text).ok_or_else(|| Error::Record {
            path: Path::new("/proc").join(pid.to_string()).join("stat"),
            reason: "unexpected format".into(),
        })
    }
}

/// Parses a `stat` line. The command name (field 2) is in parentheses and may itself contain
/// spaces and parentheses, so fields are counted after the last `)`.
pub(crate) fn parse_stat(text: &str) -> Option<ProcStat> {
    let (open, close) = (text.find('(')?, text.rfind(')')?);
    let comm = text.get(open + 1..close)?;
    let rest = &text[close + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3.
    let state = fields.first()?.chars().next()?;
    let start_time = fields.get(22 - 3)?.parse().ok()?;
    let waits_for_start = comm.as_bytes() == WAITING_INIT_NAME.to_bytes();
    Some(ProcStat {
        state,
        start_time,
        waits_for_start,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_own_stat() {
        let stat = Host::default().proc_stat(Pid::this()).unwrap();
        assert!(matches!(stat.state, 'R' | 'S'), "{stat:?}");
        assert!(stat.start_time > 0);
    }

    #[test]
    fn parses_names_with_parentheses() {
        let line = "42 (a) b (c)) S 1 42 42 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 12345 0 0";
        assert_eq!(
            parse_stat(line),
            Some(ProcStat {
                state: 'S',
                start_time: 12345,
                waits_for_start: false,
            })
        );
    }

    #[test]
    fn recognises_the_waiting_init_by_its_whole_name() {
        let stat =
            |comm: &str| format!("7 ({comm}) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99 0 0");
        assert_eq!(
            parse_stat(&stat("iso:wait-start")).map(|s| s.waits_for_start),
            Some(true)
        );
        for other in ["iso:wait-star", "iso:wait-start)", "sleep", ""] {
            assert_eq!(
                parse_stat(&stat(other)).map(|s| s.waits_for_start),
                Some(false),
                "{other}"
            );
        }
    }

    proptest! {
        #[test]
        fn stat_parser_never_panics(s in "\\PC{0,80}") {
            let _ = parse_stat(&s);
        }
    }
}
