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

use iso_chroot::exe::Trampoline;
use oci_spec::runtime::{Capability, Hooks, Process};

use crate::Error;

/// Checks the caller for `op` ("create" or "exec"), makes it non-dumpable, and returns the
/// trampoline the child executes the program through (`None`: the runtime runs sealed and
/// executes it directly). `seal_reason`: why this container needs a sealed runtime, if it
/// does (see [`seal_reason`]).
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
            reason: "this architecture has no exec trampoline",
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

/// Why a container whose process is `process` (and whose hooks are `hooks`, for `create`)
/// needs a sealed runtime, if it does.
pub(crate) fn seal_reason(process: &Process, hooks: Option<&Hooks>) -> Option<&'static str> {
    let caps = process.capabilities().as_ref();
    let may_ptrace = caps.is_some_and(|c| {
        [
            c.bounding(),
            c.effective(),
            c.permitted(),
            c.inheritable(),
            c.ambient(),
        ]
        .into_iter()
        .flatten()
        .any(|set| set.contains(&Capability::SysPtrace))
    });
    if may_ptrace {
        return Some("the container may hold CAP_SYS_PTRACE, which opens non-dumpable processes");
    }
    let start_hooks = hooks.and_then(|h| h.start_container().as_ref());
    if start_hooks.is_some_and(|h| !h.is_empty()) {
        return Some("startContainer hooks are executed from the container by the runtime");
    }
    None
}

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(caps: &str) -> Process {
        serde_json::from_str(&format!(
            r#"{{"cwd": "/", "user": {{"uid": 0, "gid": 0}}, "args": ["true"],
                "capabilities": {{"bounding": {caps}, "effective": {caps}}}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn ptrace_or_start_container_hooks_need_a_sealed_runtime() {
        assert_eq!(seal_reason(&process(r#"["CAP_KILL"]"#), None), None);
        assert!(seal_reason(&process(r#"["CAP_KILL", "CAP_SYS_PTRACE"]"#), None).is_some());
        let hooks: Hooks =
            serde_json::from_str(r#"{"startContainer": [{"path": "/bin/true"}]}"#).unwrap();
        assert!(seal_reason(&process("[]"), Some(&hooks)).is_some());
        let hooks: Hooks =
            serde_json::from_str(r#"{"createRuntime": [{"path": "/bin/true"}]}"#).unwrap();
        assert_eq!(seal_reason(&process("[]"), Some(&hooks)), None);
    }
}
