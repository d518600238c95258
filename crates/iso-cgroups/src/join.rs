//! Joining cgroups from a child between `fork` and `execve`.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::{Cgroup, Error, Result};

/// The `cgroup.procs` files of one or more cgroups, opened for writing before a `fork`, so
/// that the child can move itself in with [`join_self`](PreparedJoin::join_self) without
/// allocating (and after it has dropped the privileges that opening them needs).
///
/// Writing `0` to `cgroup.procs` moves the writer itself, on v1 and v2 alike. Joining first
/// thing after the fork means every process the child starts later is counted too.
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
    procs: Vec<(PathBuf, File)>,
}

impl PreparedJoin {
    /// Opens `cgroup.procs` in each cgroup directory of `dirs` (one per hierarchy).
    ///
    /// ```
    /// let err = iso_cgroups::PreparedJoin::open(["/nonexistent-iso-cgroup"]).unwrap_err();
    /// assert_eq!(err.errno(), Some(libc::ENOENT));
    /// ```
    pub fn open<P: AsRef<Path>>(dirs: impl IntoIterator<Item = P>) -> Result<PreparedJoin> {
        let mut procs = Vec::new();
        for dir in dirs {
            let path = dir.as_ref().join("cgroup.procs");
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| Error::io("open", &path, e))?;
            procs.push((path, file));
        }
        Ok(PreparedJoin { procs })
    }

    /// The `cgroup.procs` files, in the order they are written.
    ///
    /// ```
    /// let join = iso_cgroups::PreparedJoin::open(Vec::<&str>::new())?;
    /// assert_eq!(join.files().count(), 0);
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        self.procs.iter().map(|(path, _)| path.as_path())
    }

    /// Moves the calling process into every prepared cgroup, allocating nothing (so a child
    /// may call it between `fork` and `execve`). A refusal (`ENOSPC` from a v1 cpuset without
    /// CPUs, `EBUSY` from a v2 cgroup with controllers in its subtree) is [`Error::Join`],
    /// naming the file by its index in [`files`](PreparedJoin::files).
    ///
    /// ```no_run
    /// let join = iso_cgroups::PreparedJoin::open(["/sys/fs/cgroup/pids/iso-doc"])?;
    /// join.join_self()?;
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn join_self(&self) -> Result<()> {
        for (index, (_, file)) in self.procs.iter().enumerate() {
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
}
