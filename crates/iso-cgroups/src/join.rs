//! Joining cgroups from a child between `fork` and `execve`.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::{Cgroup, Error, Result};

/// The membership files of one or more cgroups, opened for writing before a `fork`, so that
/// the child can move itself in with [`join_self`](PreparedJoin::join_self) without
/// allocating (and after it has dropped the privileges that opening them needs).
///
/// Writing `0` moves the writer itself. In a v1 hierarchy the file is `tasks`, which moves
/// the calling thread: in a child between `fork` and `execve`, which has one thread, that is
/// the whole process, and the kernel then skips the global `cgroup_threadgroup_rwsem`, whose
/// write side waits for an RCU grace period (moving a process into eight v1 hierarchies by
/// pid takes about 9 ms on a 6.18 kernel, moving oneself through `tasks` 0.1 ms). In the v2
/// hierarchy it is `cgroup.procs` (a thread alone may move only inside a threaded subtree);
/// a child that should skip the lock there too is born in its cgroup instead
/// ([`Cgroup::open_v2_dir`]). Joining first thing after the fork means every process the
/// child starts later is counted too.
///
/// The default joins nothing.
///
/// ```no_run
/// use iso_cgroups::{Cgroup, CgroupPath, Layout};
/// let cg = Cgroup::create(&Layout::detect()?, CgroupPath::new("/iso-doc/worker")?)?;
/// let join = cg.prepare_join()?;             // before the fork
/// // In the child:
/// join.join_self()?;
/// # Ok::<(), iso_cgroups::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct PreparedJoin {
    members: Vec<(PathBuf, File)>,
}

impl PreparedJoin {
    /// Opens the membership file in each cgroup directory of `dirs` (one per hierarchy):
    /// `tasks` where there is one (v1), else `cgroup.procs` (v2).
    ///
    /// ```
    /// let err = iso_cgroups::PreparedJoin::open(["/nonexistent-iso-cgroup"]).unwrap_err();
    /// assert_eq!(err.errno(), Some(libc::ENOENT));
    /// ```
    pub fn open<P: AsRef<Path>>(dirs: impl IntoIterator<Item = P>) -> Result<PreparedJoin> {
        let mut members = Vec::new();
        for dir in dirs {
            let dir = dir.as_ref();
            let opened = match open_for_writing(dir.join("tasks")) {
                Err(e) if e.errno() == Some(libc::ENOENT) => {
                    open_for_writing(dir.join("cgroup.procs"))
                }
                other => other,
            }?;
            members.push(opened);
        }
        Ok(PreparedJoin { members })
    }

    /// The membership files, in the order they are written.
    ///
    /// ```
    /// let join = iso_cgroups::PreparedJoin::open(Vec::<&str>::new())?;
    /// assert_eq!(join.files().count(), 0);
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        self.members.iter().map(|(path, _)| path.as_path())
    }

    /// Moves the calling process, which must have a single thread (a child between `fork`
    /// and `execve` has), into every prepared cgroup, allocating nothing. In a process with
    /// more threads, only the caller would move in the v1 hierarchies. A refusal (`ENOSPC`
    /// from a v1 cpuset without CPUs, `EBUSY` from a v2 cgroup with controllers in its
    /// subtree) is [`Error::Join`], naming the file by its index in
    /// [`files`](PreparedJoin::files).
    ///
    /// ```no_run
    /// let join = iso_cgroups::PreparedJoin::open(["/sys/fs/cgroup/pids/iso-doc"])?;
    /// join.join_self()?;
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn join_self(&self) -> Result<()> {
        for (index, (_, file)) in self.members.iter().enumerate() {
            loop {
                match (&*file).write(b"0") {
                    Ok(1) => break,
                    Ok(_) => {
                        let source = io::Error::from_raw_os_error(libc::EIO);
                        return Err(Error::Join { index, source });
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(source) => return Err(Error::Join { index, source }),
                }
            }
        }
        Ok(())
    }
}

fn open_for_writing(path: PathBuf) -> Result<(PathBuf, File)> {
    match std::fs::OpenOptions::new().write(true).open(&path) {
        Ok(file) => Ok((path, file)),
        Err(e) => Err(Error::io("open", path, e)),
    }
}

impl Cgroup {
    /// Prepares joining this cgroup in every hierarchy it spans ([`PreparedJoin`]).
    ///
    /// ```no_run
    /// use iso_cgroups::{Cgroup, CgroupPath, Layout};
    /// let cg = Cgroup::open(&Layout::detect()?, CgroupPath::new("/iso-doc")?)?;
    /// let join = cg.prepare_join()?;
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn prepare_join(&self) -> Result<PreparedJoin> {
        PreparedJoin::open(self.dirs().map(|(_, dir)| dir))
    }

    /// Prepares joining this cgroup in its v1 hierarchies only: for a child born in the v2
    /// directory ([`Cgroup::open_v2_dir`]) on a hybrid host. Joins nothing on a v2-only host.
    ///
    /// ```no_run
    /// use iso_cgroups::{Cgroup, CgroupPath, Layout};
    /// let cg = Cgroup::open(&Layout::detect()?, CgroupPath::new("/iso-doc")?)?;
    /// let join = cg.prepare_join_v1()?;
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn prepare_join_v1(&self) -> Result<PreparedJoin> {
        PreparedJoin::open(
            self.dirs()
                .filter(|(h, _)| h.version == crate::Version::V1)
                .map(|(_, dir)| dir),
        )
    }
}
