//! Runs a command in new PID and mount namespaces with its own `/proc`, so that `ps`
//! inside shows it as PID 1.
//!
//! ```text
//! sudo cargo run --example newpid                  # default: a shell that runs ps
//! sudo cargo run --example newpid -- /bin/busybox ps
//! ```
//!
//! What happens:
//! 1. `clone3(CLONE_NEWPID | CLONE_NEWNS)` creates the child: it is the first process of the
//!    new PID namespace, so it is pid 1 there (and its init: when it exits, the namespace
//!    dies), and it has a copy of the host's mount table.
//! 2. The child makes its whole mount tree private (`MS_REC | MS_PRIVATE`), so nothing it
//!    mounts propagates back to the host, then mounts a fresh procfs on `/proc`. A procfs
//!    shows the PID namespace it was mounted from, so `ps` now sees only the new namespace.
//! 3. The child checks its own view (`getpid() == 1`, `/proc/self -> 1`) and execs the
//!    command, which keeps pid 1.
//!
//! Exit status: 0 when the command saw itself as pid 1 and succeeded; non-zero otherwise.
//! Nothing is left behind: the mount namespace, and the /proc mounted in it, die with the
//! child.

use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

use iso::ns::{ExitStatus, Namespace, NamespaceSet, Spawn};

const DEFAULT_SCRIPT: &str =
    "echo \"inside: pid $$\"; ps -o pid,comm 2>/dev/null || busybox ps -o pid,comm 2>/dev/null || ls /proc";

/// In the child: private mount tree, fresh /proc, check pid 1. Returns an error message.
fn prepare_child() -> Result<(), String> {
    let root = CString::new("/").map_err(|e| e.to_string())?;
    let proc_dir = CString::new("/proc").map_err(|e| e.to_string())?;
    let proc_type = CString::new("proc").map_err(|e| e.to_string())?;
    // SAFETY: valid NUL-terminated strings; this only changes the child's own (new) mount
    // namespace.
    let private = unsafe {
        libc::mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    };
    if private != 0 {
        return Err(format!(
            "make / private: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: as above; a new procfs instance for this PID namespace.
    let mounted = unsafe {
        libc::mount(
            proc_type.as_ptr(),
            proc_dir.as_ptr(),
            proc_type.as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            std::ptr::null(),
        )
    };
    if mounted != 0 {
        return Err(format!(
            "mount proc on /proc: {}",
            std::io::Error::last_os_error()
        ));
    }
    let pid = std::process::id();
    let proc_self =
        std::fs::read_link("/proc/self").map_err(|e| format!("readlink /proc/self: {e}"))?;
    if pid != 1 || proc_self.as_os_str() != "1" {
        return Err(format!(
            "expected to be pid 1, getpid() = {pid}, /proc/self -> {}",
            proc_self.display()
        ));
    }
    Ok(())
}

fn main() -> ExitCode {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("newpid: run me as root (new PID and mount namespaces need CAP_SYS_ADMIN)");
        return ExitCode::FAILURE;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (program, program_args) = match args.split_first() {
        Some((program, rest)) => (program.clone(), rest.to_vec()),
        None => (
            "/bin/sh".to_owned(),
            vec!["-c".to_owned(), DEFAULT_SCRIPT.to_owned()],
        ),
    };
    println!("newpid: running {program} {program_args:?} in new PID + mount namespaces");
    let set = NamespaceSet::from([Namespace::Pid, Namespace::Mount]);
    let child_body = || {
        if let Err(msg) = prepare_child() {
            eprintln!("newpid (child): {msg}");
            return 3;
        }
        println!("newpid (child): getpid() = 1 and /proc/self -> 1; exec {program}");
        let err = Command::new(&program).args(&program_args).exec();
        eprintln!("newpid (child): exec {program}: {err}");
        127
    };
    // SAFETY: this program is single-threaded, so the child may allocate and print.
    let spawned = unsafe { Spawn::new(set).run(child_body) };
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            eprintln!("newpid: cannot create the child: {e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "newpid: child is pid {} on the host (pidfd: {})",
        child.pid(),
        if child.pidfd().is_some() { "yes" } else { "no" }
    );
    match child.wait() {
        Ok(ExitStatus::Exited(0)) => {
            println!("newpid: OK, the command ran as pid 1 of its own PID namespace");
            ExitCode::SUCCESS
        }
        Ok(status) => {
            eprintln!("newpid: FAILED, child ended with {status}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("newpid: wait: {e}");
            ExitCode::from(2)
        }
    }
}
