//! The [`Cgroup`] handle: create, join, list, freeze, kill, delete.

use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use iso_sys::Pid;

use crate::error::{Error, Result};
use crate::layout::{Controller, Hierarchy, Layout, Version};
use crate::path::CgroupPath;
use crate::resources::Resources;
use crate::stats::Stats;

/// How long freeze, kill and delete wait for the kernel before giving up.
const WAIT_LIMIT: Duration = Duration::from_secs(10);

/// Writes `value` in one `write(2)`, as cgroup files require.
pub(crate) fn write_raw(path: &Path, value: &str) -> io::Result<()> {
    let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
    f.write_all(value.as_bytes())
}

/// Reads a cgroup file, naming it in the error.
pub(crate) fn read(path: &Path) -> Result<String> {
    read_with(path, iso_sys::fd::read_unsized)
}

/// [`read`] of a file holding one value or one block the kernel writes whole
/// (`freezer.state`, `cgroup.freeze`, `cgroup.events`): one `read` fewer.
fn read_value(path: &Path) -> Result<String> {
    read_with(path, iso_sys::fd::read_whole)
}

fn read_with(path: &Path, how: fn(std::fs::File) -> io::Result<Vec<u8>>) -> Result<String> {
    let data = std::fs::File::open(path)
        .and_then(how)
        .map_err(|e| Error::io("read", path, e))?;
    String::from_utf8(data).map_err(|e| Error::Parse {
        path: path.to_path_buf(),
        reason: e.utf8_error().to_string(),
    })
}

/// A bounded exponential backoff: 1 ms doubling up to 100 ms, until [`WAIT_LIMIT`].
struct Backoff {
    start: Instant,
    step: Duration,
}

impl Backoff {
    fn new() -> Self {
        Backoff {
            start: Instant::now(),
            step: Duration::from_millis(1),
        }
    }

    /// Sleeps and returns true, or returns false when the time is up.
    fn wait(&mut self) -> bool {
        if self.start.elapsed() > WAIT_LIMIT {
            return false;
        }
        std::thread::sleep(self.step);
        self.step = (self.step * 2).min(Duration::from_millis(100));
        true
    }
}

/// The freezer state of a cgroup.
///
/// ```no_run
/// use iso_cgroups::{Cgroup, CgroupPath, FreezerState, Layout};
/// let cg = Cgroup::open(&Layout::detect()?, CgroupPath::new("/iso/doc")?)?;
/// if cg.freezer_state()? == FreezerState::Frozen {
///     cg.thaw()?;
/// }
/// # Ok::<(), iso_cgroups::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FreezerState {
    /// Running normally.
    Thawed,
    /// Freezing has been requested and not every task has stopped yet (v1 `FREEZING`).
    Freezing,
    /// Every task is stopped.
    Frozen,
}

/// A cgroup: the same path in every hierarchy of a [`Layout`].
///
/// Processes join all of them at once ([`Cgroup::add_process`]) and each resource is
/// written on the hierarchy that owns its controller, so v1, v2 and hybrid hosts are driven
/// the same way.
///
/// ```no_run
/// use iso_cgroups::{Cgroup, CgroupPath, Layout};
/// let layout = Layout::detect()?;
/// let cg = Cgroup::create(&layout, CgroupPath::new("/iso/demo")?)?;
/// let child = std::process::Command::new("sleep").arg("60").spawn().expect("spawn");
/// cg.add_process(iso_sys::Pid::from_raw(child.id() as i32).expect("pid"))?;
/// assert_eq!(cg.procs()?.len(), 1);
/// cg.kill()?;
/// cg.delete()?;
/// # Ok::<(), iso_cgroups::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Cgroup {
    layout: Layout,
    path: CgroupPath,
}

impl Cgroup {
    /// Creates the cgroup and any missing parents in every hierarchy. On v1 `cpuset`, each
    /// directory on the path whose `cpus` or `mems` is empty (every new one, and existing
    /// ones made empty by someone else) gets them from its nearest non-empty ancestor: an
    /// empty cpuset cannot take tasks (`ENOSPC`). On v2, the controllers this layout drives through v2 are
    /// enabled in each parent's `cgroup.subtree_control` (best effort: a non-root parent
    /// with processes of its own refuses, by the no-internal-process rule).
    ///
    /// ```no_run
    /// use iso_cgroups::{Cgroup, CgroupPath, Layout};
    /// let cg = Cgroup::create(&Layout::detect()?, CgroupPath::new("/iso/doc")?)?;
    /// println!("created {}", cg.path());
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn create(layout: &Layout, path: CgroupPath) -> Result<Cgroup> {
        for h in layout.hierarchies() {
            create_in(h, &path)?;
        }
        Ok(Cgroup {
            layout: layout.clone(),
            path,
        })
    }

    /// A handle to the cgroup at `path` without checking that it exists: for a reader that
    /// treats a missing cgroup like any failed read (each read then fails with `ENOENT`,
    /// naming the file), and spares the `stat` of [`Cgroup::open`].
    ///
    /// ```no_run
    /// use iso_cgroups::{Cgroup, CgroupPath, Layout};
    /// let cg = Cgroup::at(&Layout::detect()?, CgroupPath::new("/iso/maybe-gone")?);
    /// let frozen = cg.freezer_state().is_ok_and(|s| s == iso_cgroups::FreezerState::Frozen);
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn at(layout: &Layout, path: CgroupPath) -> Cgroup {
        Cgroup {
            layout: layout.clone(),
            path,
        }
    }

    /// A handle to an existing cgroup; fails with `ENOENT` if it exists in no hierarchy.
    ///
    /// ```no_run
    /// use iso_cgroups::{Cgroup, CgroupPath, Layout};
    /// let root = Cgroup::open(&Layout::detect()?, CgroupPath::new("/")?)?;
    /// println!("{} processes in the root cgroup", root.procs()?.len());
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn open(layout: &Layout, path: CgroupPath) -> Result<Cgroup> {
        let cg = Cgroup::at(layout, path);
        if !cg.dirs().any(|(_, d)| d.is_dir()) {
            let first = cg.dirs().next().map(|(_, d)| d).unwrap_or_default();
            return Err(Error::io(
                "open",
                first,
                io::Error::from_raw_os_error(libc::ENOENT),
            ));
        }
        Ok(cg)
    }

    /// The cgroup path.
    ///
    /// ```no_run
    /// use iso_cgroups::{Cgroup, CgroupPath, Layout};
    /// let cg = Cgroup::create(&Layout::detect()?, CgroupPath::new("/iso/doc")?)?;
    /// assert_eq!(cg.path().as_str(), "/iso/doc");
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn path(&self) -> &CgroupPath {
        &self.path
    }

    /// The layout this handle drives.
    ///
    /// ```no_run
    /// use iso_cgroups::{Cgroup, CgroupPath, Layout};
    /// let cg = Cgroup::create(&Layout::detect()?, CgroupPath::new("/iso/doc")?)?;
    /// println!("{:?}", cg.layout().mode());
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The directory of this cgroup in each hierarchy.
    ///
    /// ```no_run
    /// # use iso_cgroups::{Cgroup, CgroupPath, Layout};
    /// let cg = Cgroup::open(&Layout::detect()?, CgroupPath::new("/")?)?;
    /// for (h, dir) in cg.dirs() {
    ///     println!("{:?}: {}", h.controllers, dir.display());
    /// }
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn dirs(&self) -> impl Iterator<Item = (&Hierarchy, PathBuf)> {
        self.layout
            .hierarchies()
            .map(move |h| (h, self.path.dir_in(&h.mount_point)))
    }

    /// The directory of the hierarchy owning `c`, or `Unsupported` naming `field`.
    pub(crate) fn owner_dir(&self, c: Controller, field: &str) -> Result<(&Hierarchy, PathBuf)> {
        let h = self.layout.owner(c).ok_or_else(|| {
            Error::unsupported(
                field,
                format!("no hierarchy provides the {} controller", c.v1_name()),
            )
        })?;
        Ok((h, self.path.dir_in(&h.mount_point)))
    }

    /// Moves a process (all its threads) into this cgroup in every hierarchy.
    ///
    /// ```no_run
    /// use iso_cgroups::{Cgroup, CgroupPath, Layout};
    /// let cg = Cgroup::create(&Layout::detect()?, CgroupPath::new("/iso/doc")?)?;
    /// let child = std::process::Command::new("sleep").arg("9").spawn().expect("spawn");
    /// cg.add_process(iso_sys::Pid::from_raw(child.id() as i32).expect("pid"))?;
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn add_process(&self, pid: Pid) -> Result<()> {
        let pid = pid.as_raw().to_string();
        for (_, dir) in self.dirs() {
            let file = dir.join("cgroup.procs");
            write_raw(&file, &pid).map_err(|e| Error::io("write", file, e))?;
        }
        Ok(())
    }

    /// Opens this cgroup's directory in the v2 hierarchy, if the host has one, for a child
    /// to be born there: `clone3(2)` with `CLONE_INTO_CGROUP` (see `iso_ns::Spawn::into_cgroup`).
    ///
    /// Writing a pid to `cgroup.procs` takes the kernel's global `cgroup_threadgroup_rwsem`
    /// for writing, which waits for an RCU grace period (milliseconds on a busy machine); a
    /// child cloned into its cgroup skips that. The child joins the v1 hierarchies, if any,
    /// itself, through [`Cgroup::prepare_join_v1`].
    ///
    /// ```no_run
    /// use iso_cgroups::{Cgroup, CgroupPath, Layout};
    /// let cg = Cgroup::create(&Layout::detect()?, CgroupPath::new("/iso/doc")?)?;
    /// if let Some(dir) = cg.open_v2_dir()? {
    ///     // pass `dir` to clone3 as clone_args.cgroup with CLONE_INTO_CGROUP
    /// #   drop(dir);
    /// }
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn open_v2_dir(&self) -> Result<Option<std::os::fd::OwnedFd>> {
        let Some((_, dir)) = self.dirs().find(|(h, _)| h.version == Version::V2) else {
            return Ok(None);
        };
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(&dir)
            .map_err(|e| Error::io("open", dir, e))?;
        Ok(Some(file.into()))
    }

    /// Moves one thread (by its tid) into this cgroup: v1 `tasks`; v2 `cgroup.threads`.
    /// The v2 kernel accepts a thread only inside a threaded sub-tree (`cgroup.type`
    /// `threaded`), which this crate does not set up: on v2 and hybrid hosts expect
    /// `EOPNOTSUPP` from the v2 hierarchy unless the caller arranged one.
    ///
    /// ```no_run
    /// use iso_cgroups::{Cgroup, CgroupPath, Layout};
    /// let cg = Cgroup::create(&Layout::detect()?, CgroupPath::new("/iso/doc")?)?;
    /// // SAFETY: gettid has no preconditions.
    /// let tid = unsafe { libc::gettid() };
    /// cg.add_thread(iso_sys::Pid::from_raw(tid).expect("tid"))?;
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn add_thread(&self, tid: Pid) -> Result<()> {
        for (h, dir) in self.dirs() {
            let file = dir.join(match h.version {
                Version::V1 => "tasks",
                Version::V2 => "cgroup.threads",
            });
            write_raw(&file, &tid.as_raw().to_string()).map_err(|e| Error::io("write", file, e))?;
        }
        Ok(())
    }

    /// The processes in this cgroup (not its descendants), from every hierarchy, sorted.
    ///
    /// ```no_run
    /// use iso_cgroups::{Cgroup, CgroupPath, Layout};
    /// let cg = Cgroup::create(&Layout::detect()?, CgroupPath::new("/iso/doc")?)?;
    /// for pid in cg.procs()? {
    ///     println!("{pid}");
    /// }
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn procs(&self) -> Result<Vec<Pid>> {
        let mut all = Vec::new();
        for (_, dir) in self.dirs() {
            let file = dir.join("cgroup.procs");
            match std::fs::read_to_string(&file) {
                Ok(text) => all.extend(parse_pids(&text)),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                Err(e) => return Err(Error::io("read", file, e)),
            }
        }
        all.sort();
        all.dedup();
        Ok(all)
    }

    /// The processes in this cgroup and all its descendants.
    ///
    /// ```no_run
    /// use iso_cgroups::{Cgroup, CgroupPath, Layout};
    /// let cg = Cgroup::create(&Layout::detect()?, CgroupPath::new("/iso/doc")?)?;
    /// println!("{} processes below", cg.procs_recursive()?.len());
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn procs_recursive(&self) -> Result<Vec<Pid>> {
        let mut all = Vec::new();
        for (_, dir) in self.dirs() {
            collect_pids(&dir, "cgroup.procs", &mut all)?;
        }
        all.sort();
        all.dedup();
        Ok(all)
    }

    /// Writes the resources, each on the hierarchy owning its controller. Values are
    /// validated first ([`Resources::validate`]); the first failure stops and names the
    /// field, the file and the errno.
    ///
    /// ```no_run
    /// use iso_cgroups::{Cgroup, CgroupPath, Layout};
    /// let cg = Cgroup::create(&Layout::detect()?, CgroupPath::new("/iso/doc")?)?;
    /// use iso_cgroups::{Limit, Pids, Resources};
    /// cg.apply(&Resources { pids: Some(Pids { limit: Some(Limit::Value(0)) }), ..Resources::default() })?;
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn apply(&self, resources: &Resources) -> Result<()> {
        crate::apply::apply(self, resources)
    }

    /// Reads the statistics (see [`Stats`]).
    ///
    /// ```no_run
    /// use iso_cgroups::{Cgroup, CgroupPath, Layout};
    /// let cg = Cgroup::create(&Layout::detect()?, CgroupPath::new("/iso/doc")?)?;
    /// let s = cg.stats()?;
    /// println!("cpu {} ns, oom kills {}", s.cpu.usage_total_ns, s.memory.oom_kill_events);
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn stats(&self) -> Result<Stats> {
        crate::stats::read(self)
    }

    /// The freezer state: v1 `freezer.state`, v2 `cgroup.events` (`frozen 1`).
    ///
    /// ```no_run
    /// use iso_cgroups::{Cgroup, CgroupPath, Layout};
    /// let cg = Cgroup::create(&Layout::detect()?, CgroupPath::new("/iso/doc")?)?;
    /// println!("{:?}", cg.freezer_state()?);
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn freezer_state(&self) -> Result<FreezerState> {
        let (h, dir) = self.owner_dir(Controller::Freezer, "freezer")?;
        match h.version {
            Version::V1 => {
                let file = dir.join("freezer.state");
                Ok(match read_value(&file)?.trim() {
                    "FROZEN" => FreezerState::Frozen,
                    "FREEZING" => FreezerState::Freezing,
                    _ => FreezerState::Thawed,
                })
            }
            Version::V2 => {
                let frozen = events_say(&dir, "frozen 1")?;
                let wanted = read_value(&dir.join("cgroup.freeze"))?.trim() == "1";
                Ok(match (wanted, frozen) {
                    (_, true) => FreezerState::Frozen,
                    (true, false) => FreezerState::Freezing,
                    (false, false) => FreezerState::Thawed,
                })
            }
        }
    }

    /// Freezes every task and waits until the kernel reports the cgroup really frozen
    /// (v1 `FROZEN` rather than `FREEZING`; v2 `frozen 1` in `cgroup.events`).
    ///
    /// ```no_run
    /// use iso_cgroups::{Cgroup, CgroupPath, Layout};
    /// let cg = Cgroup::create(&Layout::detect()?, CgroupPath::new("/iso/doc")?)?;
    /// cg.freeze()?;
    /// assert_eq!(cg.freezer_state()?, iso_cgroups::FreezerState::Frozen);
    /// cg.thaw()?;
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn freeze(&self) -> Result<()> {
        self.set_frozen(true)
    }

    /// Thaws the cgroup and waits until the kernel reports it thawed.
    ///
    /// ```no_run
    /// use iso_cgroups::{Cgroup, CgroupPath, Layout};
    /// let cg = Cgroup::create(&Layout::detect()?, CgroupPath::new("/iso/doc")?)?;
    /// cg.thaw()?;
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn thaw(&self) -> Result<()> {
        self.set_frozen(false)
    }

    fn set_frozen(&self, frozen: bool) -> Result<()> {
        let (h, dir) = self.owner_dir(Controller::Freezer, "freezer")?;
        let (file, value) = match (h.version, frozen) {
            (Version::V1, true) => ("freezer.state", "FROZEN"),
            (Version::V1, false) => ("freezer.state", "THAWED"),
            (Version::V2, true) => ("cgroup.freeze", "1"),
            (Version::V2, false) => ("cgroup.freeze", "0"),
        };
        let file = dir.join(file);
        let want = if frozen {
            FreezerState::Frozen
        } else {
            FreezerState::Thawed
        };
        let mut backoff = Backoff::new();
        loop {
            // Re-writing makes the v1 freezer retry tasks that were busy in the kernel.
            write_raw(&file, value).map_err(|e| Error::io("write", &file, e))?;
            if self.freezer_state()? == want {
                return Ok(());
            }
            if !backoff.wait() {
                return Err(Error::Timeout {
                    what: if frozen { "frozen" } else { "thawed" },
                    path: dir,
                });
            }
        }
    }

    /// Kills every process in the cgroup and its descendants and waits until none is
    /// listed. Uses v2 `cgroup.kill` where the kernel has it (one atomic write, no race with
    /// forks); otherwise freezes, sends SIGKILL to each listed process and thaws, until
    /// `cgroup.procs` is empty. The kernel drops a process from that list as soon as it has
    /// begun to exit, before it has released its memory and left the cgroup: to wait for
    /// that too, use [`Cgroup::kill_and_wait`].
    ///
    /// The root cgroup is refused (that would be every process of the host). A caller that
    /// is itself inside the cgroup is killed too.
    ///
    /// ```no_run
    /// use iso_cgroups::{Cgroup, CgroupPath, Layout};
    /// let cg = Cgroup::create(&Layout::detect()?, CgroupPath::new("/iso/doc")?)?;
    /// cg.kill()?;
    /// assert!(cg.procs_recursive()?.is_empty());
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn kill(&self) -> Result<()> {
        if self.path.is_root() {
            return Err(Error::BadPath {
                path: "/".into(),
                reason: "refusing to kill every process of the root cgroup".into(),
            });
        }
        if let Some(u) = self.layout.unified() {
            let dir = self.path.dir_in(&u.mount_point);
            let file = dir.join("cgroup.kill");
            // cgroup.kill takes the kernel's global threadgroup lock for writing, which waits
            // for an RCU grace period: only when something is there to kill (`populated`
            // counts the whole sub-tree).
            if file.exists() && events_say(&dir, "populated 1")? {
                write_raw(&file, "1").map_err(|e| Error::io("write", &file, e))?;
            }
        }
        let can_freeze = self.layout.owner(Controller::Freezer).is_some();
        let mut backoff = Backoff::new();
        loop {
            let pids = self.procs_recursive()?;
            if pids.is_empty() {
                return Ok(());
            }
            // Frozen tasks cannot fork, so the list stays complete while we signal it.
            let frozen = can_freeze && self.freeze().is_ok();
            for pid in &pids {
                // SAFETY: kill(2) has no memory-safety preconditions.
                unsafe { libc::kill(pid.as_raw(), libc::SIGKILL) };
            }
            if frozen {
                self.thaw()?;
            }
            if !backoff.wait() {
                return Err(Error::Timeout {
                    what: "an empty cgroup after SIGKILL",
                    path: PathBuf::from(self.path.as_str()),
                });
            }
        }
    }

    /// Kills like [`Cgroup::kill`], then waits until no task of the sub-tree is left at all
    /// ([`Cgroup::is_populated`] false): each has finished exiting and released its memory,
    /// so memory usage has dropped and `rmdir` succeeds at once. A killed process stays
    /// counted in `pids.current` until its parent reaps it (`wait`): reap your own children
    /// after this returns. Gives up with [`Error::Timeout`] after a bounded wait.
    ///
    /// ```no_run
    /// use iso_cgroups::{Cgroup, CgroupPath, Layout};
    /// let cg = Cgroup::create(&Layout::detect()?, CgroupPath::new("/iso/doc")?)?;
    /// cg.kill_and_wait()?;
    /// assert!(!cg.is_populated()?);
    /// cg.delete()?;
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn kill_and_wait(&self) -> Result<()> {
        self.kill()?;
        let mut backoff = Backoff::new();
        while self.is_populated()? {
            if !backoff.wait() {
                return Err(Error::Timeout {
                    what: "no task left after SIGKILL",
                    path: PathBuf::from(self.path.as_str()),
                });
            }
        }
        Ok(())
    }

    /// Whether any task (an exiting one included) is still in the cgroup or below it, in any
    /// hierarchy: v2 `cgroup.events` says `populated 1`, or a v1 `tasks` file lists a
    /// thread. A cgroup that does not exist is not populated.
    ///
    /// ```no_run
    /// use iso_cgroups::{Cgroup, CgroupPath, Layout};
    /// let cg = Cgroup::create(&Layout::detect()?, CgroupPath::new("/iso/doc")?)?;
    /// assert!(!cg.is_populated()?);
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn is_populated(&self) -> Result<bool> {
        for (h, dir) in self.dirs() {
            let populated = match h.version {
                Version::V2 => match events_say(&dir, "populated 1") {
                    Err(e) if e.errno() == Some(libc::ENOENT) => false,
                    other => other?,
                },
                Version::V1 => {
                    let mut tasks = Vec::new();
                    collect_pids(&dir, "tasks", &mut tasks)?;
                    !tasks.is_empty()
                }
            };
            if populated {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Removes the cgroup (and any child cgroups, leaf first) in every hierarchy. `rmdir`
    /// fails with `EBUSY` while the kernel still counts members (a killed task that has not
    /// finished exiting), so it is retried with a bounded backoff. A missing directory is
    /// not an error. Processes are not killed: call [`Cgroup::kill`] first.
    ///
    /// ```no_run
    /// use iso_cgroups::{Cgroup, CgroupPath, Layout};
    /// let cg = Cgroup::create(&Layout::detect()?, CgroupPath::new("/iso/doc")?)?;
    /// cg.kill()?;
    /// cg.delete()?;
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn delete(&self) -> Result<()> {
        if self.path.is_root() {
            return Err(Error::BadPath {
                path: "/".into(),
                reason: "the root cgroup cannot be deleted".into(),
            });
        }
        for (_, dir) in self.dirs() {
            remove_tree(&dir)?;
        }
        Ok(())
    }
}

/// Whether the v2 `cgroup.events` of `dir` has the line `key value`.
fn events_say(dir: &Path, line: &str) -> Result<bool> {
    Ok(read_value(&dir.join("cgroup.events"))?
        .lines()
        .any(|l| l.trim() == line))
}

fn parse_pids(text: &str) -> impl Iterator<Item = Pid> + '_ {
    text.lines()
        .filter_map(|l| l.trim().parse().ok())
        .filter_map(Pid::from_raw)
}

/// The pids of `list` (`cgroup.procs` or `tasks`) in `dir` and every cgroup below it.
fn collect_pids(dir: &Path, list: &str, out: &mut Vec<Pid>) -> Result<()> {
    let file = dir.join(list);
    match std::fs::read_to_string(&file) {
        Ok(text) => out.extend(parse_pids(&text)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(Error::io("read", file, e)),
    }
    for sub in subdirs(dir)? {
        collect_pids(&sub, list, out)?;
    }
    Ok(())
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("readdir", dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| Error::io("readdir", dir, e))?;
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            out.push(entry.path());
        }
    }
    Ok(out)
}

fn remove_tree(dir: &Path) -> Result<()> {
    for sub in subdirs(dir)? {
        remove_tree(&sub)?;
    }
    let mut backoff = Backoff::new();
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && backoff.wait() => {}
            Err(e) => return Err(Error::io("rmdir", dir, e)),
        }
    }
}

fn create_in(h: &Hierarchy, path: &CgroupPath) -> Result<()> {
    let mut dir = h.mount_point.clone();
    for part in path.as_str().split('/').filter(|p| !p.is_empty()) {
        if h.version == Version::V2 {
            enable_controllers(h, &dir);
        }
        let parent = dir.clone();
        dir.push(part);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io("mkdir", &dir, e)),
        }
        // Existing parents too: one made by someone else may be empty, and the parent was
        // filled the step before, so the nearest non-empty ancestor's sets reach down.
        if h.owns(Controller::Cpuset) && h.version == Version::V1 {
            inherit_cpuset(&parent, &dir)?;
        }
    }
    Ok(())
}

/// Enables, in `dir`'s `cgroup.subtree_control`, the controllers this layout drives on v2.
fn enable_controllers(h: &Hierarchy, dir: &Path) {
    let Ok(available) = std::fs::read_to_string(dir.join("cgroup.controllers")) else {
        return;
    };
    let enabled = std::fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
    for name in available.split_whitespace() {
        let wanted = Controller::from_name(name).is_some_and(|c| h.owns(c));
        if wanted && !enabled.split_whitespace().any(|e| e == name) {
            // Best effort: refusal (EBUSY under the no-internal-process rule) shows later
            // as a missing file, named by the field that needed it.
            let _ = write_raw(&dir.join("cgroup.subtree_control"), &format!("+{name}"));
        }
    }
}

fn inherit_cpuset(parent: &Path, dir: &Path) -> Result<()> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let mine = dir.join(file);
        if read(&mine)?.trim().is_empty() {
            let theirs = read(&parent.join(file))?;
            write_raw(&mine, theirs.trim()).map_err(|e| Error::io("write", &mine, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::parse_mountinfo;

    /// A layout whose only "hierarchy" is a plain temp directory: safe to point kill and
    /// delete at, whatever they do.
    fn fake_layout(dir: &Path) -> Layout {
        let line = format!("1 1 0:1 / {} rw - cgroup2 cgroup2 rw", dir.display());
        Layout::from_mounts(&parse_mountinfo(&line).unwrap(), |_| Vec::new()).unwrap()
    }

    #[test]
    fn root_is_never_killed_or_deleted() {
        let tmp = iso_testutil::TempDir::new("cgroot");
        let root = Cgroup::open(&fake_layout(tmp.path()), CgroupPath::new("/").unwrap()).unwrap();
        assert!(matches!(root.kill(), Err(Error::BadPath { .. })));
        assert!(matches!(root.delete(), Err(Error::BadPath { .. })));
    }

    #[test]
    fn open_missing_is_enoent() {
        let tmp = iso_testutil::TempDir::new("cgopen");
        let err =
            Cgroup::open(&fake_layout(tmp.path()), CgroupPath::new("/nope").unwrap()).unwrap_err();
        assert_eq!(err.errno(), Some(libc::ENOENT));
    }
}
