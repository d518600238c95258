//! What must hold of the calling process before `create` or `exec` clones a process that
//! enters a container, and how the container's program is then executed.
//!
//! The cloned child is a copy of the caller: it runs the caller's binary and, until it
//! executes the container's program, shows that binary as `/proc/<pid>/exe` to every
//! process of the container that can see it (a joined PID namespace, an `exec` into a
//! running container). A container that opens that file and writes it once the runtime has
//! exited owns the host's runtime (runc's CVE-2019-5736). Two ways keep it out; see
//! docs/security.md for the measurements behind the choice:
//! - **non-dumpable, then a trampoline** (the default, about 0.1 ms): the caller makes
//!   itself non-dumpable, so the child is too from its first instruction and no process in
//!   the container may open its `/proc/<pid>/exe`, ptrace it, or touch its memory. The child
//!   executes the container's program through `iso_chroot::exe::Trampoline`, a few hundred
//!   bytes in a sealed memfd, so that at that `execve` (where the kernel would start the
//!   runtime's binary, dumpable, for a `#!/proc/self/exe` script) `/proc/self/exe` is the
//!   trampoline;
//! - **a sealed binary** (about 2 ms: a re-execution and a mount): when the container can
//!   get past non-dumpable (`CAP_SYS_PTRACE`), or when the runtime's own process executes
//!   something of the container's other than its program (`startContainer` hooks), the
//!   runtime must run from a read-only copy of itself (`iso_chroot::exe::ensure_sealed`), and
//!   [`Error::SealRequired`] asks the caller for it. A sealed runtime needs no trampoline.

use std::path::Path;

use iso_chroot::exe::Trampoline;
use iso_sys::ProcPid;

use crate::Error;

/// Checks the caller for `op` ("create" or "exec"), makes it non-dumpable, and returns the
/// trampoline the child executes the program through (`None`: the runtime runs sealed and
/// executes it directly). `seal_reason`: why this container needs a sealed runtime, if it
/// does (`plan::seal_reason`).
pub(crate) fn before_entering_a_container(
    op: &'static str,
    seal_reason: Option<&'static str>,
) -> Result<Option<Trampoline>, Error> {
    let threads = thread_count();
    if threads > 1 {
        return Err(Error::InvalidArgument {
            what: "caller",
            value: format!("{threads} threads"),
            reason: format!("{op} must run in a single-threaded process"),
        });
    }
    let trampoline = if iso_chroot::exe::is_sealed()?.is_some() {
        None
    } else if let Some(reason) = seal_reason {
        return Err(Error::SealRequired { reason });
    } else {
        Some(Trampoline::new().map_err(|_| Error::SealRequired {
            reason: "no exec trampoline here (another architecture, or memfds refused)",
        })?)
    };
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        return Err(Error::Io {
            op: "prctl PR_SET_DUMPABLE 0",
            path: "/proc/self".into(),
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(trampoline)
}

/// For a caller that is not root, before [`before_entering_a_container`]: writes the init's
/// `process.oomScoreAdj` as the caller's own, which the init inherits at the clone, and takes
/// it out of the plan. The init could not write it itself: once non-dumpable, its `/proc`
/// files belong to the host's root. The kernel refuses a value below the current one to a
/// user without `CAP_SYS_RESOURCE`; the error names the field.
pub(crate) fn inherit_oom_score_adj(adj: &mut Option<i32>, config: &Path) -> Result<(), Error> {
    // SAFETY: geteuid cannot fail and touches no memory.
    if unsafe { libc::geteuid() } == 0 {
        return Ok(());
    }
    let Some(value) = adj.take() else {
        return Ok(());
    };
    let proc_root = iso_sys::procfs::ProcRoot::open()?;
    proc_root
        .write(
            ProcPid::SelfPid,
            "oom_score_adj",
            value.to_string().as_bytes(),
        )
        .map_err(|e| {
            let current = proc_root
                .read_to_string(ProcPid::SelfPid, "oom_score_adj")
                .unwrap_or_default();
            Error::ConfigField {
                path: config.to_path_buf(),
                field: "process.oomScoreAdj",
                reason: format!(
                    "{value}: an unprivileged user may not set it below the current {} ({e})",
                    current.trim()
                ),
            }
        })
}

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(1)
}
