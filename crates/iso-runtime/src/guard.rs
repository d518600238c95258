//! What must hold of the calling process before `create` or `exec` clones a process that
//! enters a container.
//!
//! The cloned child is a copy of the caller: it runs the caller's binary and, until it
//! executes the container's program, shows that binary as `/proc/<pid>/exe` to every
//! process of the container that can see it (a joined PID namespace, an `exec` into a
//! running container, or a `#!/proc/self/exe` script the child executes). So:
//! - the binary must be one nothing can open for writing (runc's CVE-2019-5736):
//!   `iso_chroot::exe::ensure_sealed` at the top of `main` re-executes the program from a
//!   read-only overlay of itself; `create` and `exec` refuse to run otherwise;
//! - the caller makes itself non-dumpable, so the child is too from its first instruction:
//!   no process in the container may ptrace it, read or write its memory, or open its
//!   `/proc/<pid>/exe` at all (without `CAP_SYS_PTRACE`), while it still holds the runtime's
//!   descriptors and privileges. The container's program becomes dumpable again when it is
//!   executed (the kernel resets the flag on `execve`);
//! - the caller has one thread, so the child is a complete copy that may allocate.

use crate::Error;

/// Checks the caller for `op` ("create" or "exec") and makes it non-dumpable.
pub(crate) fn before_entering_a_container(op: &'static str) -> Result<(), Error> {
    let threads = thread_count();
    if threads > 1 {
        return Err(Error::InvalidArgument {
            what: "caller",
            value: format!("{threads} threads"),
            reason: format!("{op} must run in a single-threaded process"),
        });
    }
    if iso_chroot::exe::is_sealed()?.is_none() {
        return Err(Error::InvalidArgument {
            what: "caller",
            value: "/proc/self/exe".into(),
            reason: format!(
                "{op} refused: the running binary is a writable file that a container could \
                 overwrite (CVE-2019-5736); call iso_chroot::exe::ensure_sealed() at the start \
                 of main"
            ),
        });
    }
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        return Err(Error::Io {
            op: "prctl PR_SET_DUMPABLE 0",
            path: "/proc/self".into(),
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(1)
}
