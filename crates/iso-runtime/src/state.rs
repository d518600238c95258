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
}

impl Record {
    /// The live status of the container.
    pub fn status(&self, dir: &Path, host: &Host) -> Status {
        if !self.created_done {
            return Status::Creating;
        }
        if !self.init_alive(host) {
            return Status::Stopped;
        }
        // Frozen first: a paused created container is paused, as runc reports it.
        if self.frozen(host) {
            return Status::Paused;
        }
        if dir.join(EXEC_SOCKET).exists() && waits_for_start(dir) {
            return Status::Created;
        }
        Status::Running
    }

    /// Whether the recorded init still runs (same pid, same start time, not a zombie).
    pub fn init_alive(&self, host: &Host) -> bool {
        let Some(pid) = Pid::from_raw(self.pid) else {
            return false;
        };
        match host.proc_stat(pid) {
            Ok(stat) => {
                stat.start_time == self.start_time && stat.state != 'Z' && stat.state != 'X'
            }
            Err(_) => false,
        }
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
}

/// Whether the init still waits for `start`: its `exec.sock` accepts a connection. The
/// file alone is not proof: a `start` killed between releasing the init and removing the
/// socket leaves it behind, while the init, running the user's program, listens no more.
/// (The init takes a connection that closes without a byte as nothing, and waits on.)
fn waits_for_start(dir: &Path) -> bool {
    socket_path(dir, EXEC_SOCKET)
        .is_ok_and(|(path, _dir_fd)| std::os::unix::net::UnixStream::connect(path).is_ok())
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
        let text = self.proc()?.read_to_string(ProcPid::Pid(pid), "stat")?;
        parse_stat(&text).ok_or_else(|| Error::Record {
            path: Path::new("/proc").join(pid.to_string()).join("stat"),
            reason: "unexpected format".into(),
        })
    }
}

/// Parses a `stat` line. The command name (field 2) is in parentheses and may itself contain
/// spaces and parentheses, so fields are counted after the last `)`.
pub(crate) fn parse_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3.
    let state = fields.first()?.chars().next()?;
    let start_time = fields.get(22 - 3)?.parse().ok()?;
    Some(ProcStat { state, start_time })
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
                start_time: 12345
            })
        );
    }

    proptest! {
        #[test]
        fn stat_parser_never_panics(s in "\\PC{0,80}") {
            let _ = parse_stat(&s);
        }
    }
}
