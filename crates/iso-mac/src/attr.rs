//! Label reads and writes under `/proc/thread-self/attr`, through a verified procfs.
//!
//! The files are per thread: the kernel only lets a thread write its own attributes, so
//! they are always opened under `/proc/thread-self` (which `ProcRoot` resolves to the
//! numeric `PID/task/TID` directory without following a symlink).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use iso_sys::procfs::ProcRoot;
use iso_sys::ProcPid;

use crate::{detect, Error, Lsm, Result};

/// Maps an error of the verified procfs layer: a failed verification (not procfs, a
/// symlink, a mount crossing) becomes [`Error::Procfs`]; an ordinary failure (the file does
/// not exist, permission denied) stays an [`Error::Io`].
fn from_procfs(e: iso_sys::Error) -> Error {
    match e {
        iso_sys::Error::Io { op, path, source }
            if !matches!(source.raw_os_error(), Some(libc::EXDEV | libc::ELOOP)) =>
        {
            Error::Io { op, path, source }
        }
        other => Error::Procfs(other),
    }
}

fn display_path(rel: &str) -> PathBuf {
    PathBuf::from("/proc/thread-self").join(rel)
}

/// Opens the first of `candidates` (relative to `/proc/thread-self`) that exists.
fn open_first(proc_root: &ProcRoot, candidates: &[&str], flags: i32) -> Result<(OwnedFd, PathBuf)> {
    let mut last = None;
    for rel in candidates {
        match proc_root.open_pid(ProcPid::ThreadSelf, rel, flags) {
            Ok(fd) => return Ok((fd, display_path(rel))),
            Err(e) if e.errno() == Some(libc::ENOENT) => last = Some(e),
            Err(e) => return Err(from_procfs(e)),
        }
    }
    Err(match last {
        Some(e) => from_procfs(e),
        None => Error::invalid("attribute file list", "empty"),
    })
}

/// Verifies and opens the attribute file, then checks that `module` is active, then writes
/// `data` in one `write(2)`. The verification comes first so that a redirected `/proc` is
/// reported as such even where the module is missing.
pub(crate) fn write_label(
    proc_root: &ProcRoot,
    module: Lsm,
    operation: &'static str,
    candidates: &[&str],
    data: &[u8],
) -> Result<()> {
    let (fd, path) = open_first(proc_root, candidates, libc::O_WRONLY)?;
    detect::require(module, operation)?;
    let mut file = File::from(fd);
    let n = file.write(data).map_err(|e| Error::io("write", &path, e))?;
    if n != data.len() {
        return Err(Error::io(
            "write",
            path,
            std::io::Error::other(format!("short write: {n} of {} bytes", data.len())),
        ));
    }
    Ok(())
}

/// Reads the first existing attribute file of `candidates`, without checking any module.
pub(crate) fn read_unchecked(proc_root: &ProcRoot, candidates: &[&str]) -> Result<String> {
    let (fd, path) = open_first(proc_root, candidates, libc::O_RDONLY)?;
    let mut out = String::new();
    File::from(fd)
        .read_to_string(&mut out)
        .map_err(|e| Error::io("read", path, e))?;
    Ok(out.trim_end_matches(['\n', '\0']).to_string())
}

/// Reads the first existing attribute file of `candidates`, after checking `module`.
pub(crate) fn read_label(
    proc_root: &ProcRoot,
    module: Lsm,
    operation: &'static str,
    candidates: &[&str],
) -> Result<String> {
    let (fd, path) = open_first(proc_root, candidates, libc::O_RDONLY)?;
    detect::require(module, operation)?;
    let mut out = String::new();
    File::from(fd)
        .read_to_string(&mut out)
        .map_err(|e| Error::io("read", path, e))?;
    Ok(out.trim_end_matches(['\n', '\0']).to_string())
}
