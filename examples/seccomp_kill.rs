//! `seccomp_kill`: the classic seccomp demo.
//!
//! A child loads a filter whose default action is KILL and that allows only `exit_group`,
//! `mprotect`, `munmap` and `brk`; its very next system call, a `write` to stdout, is not
//! on the list, so the kernel kills it before the write happens. The parent reports the
//! child's death by SIGSYS.
//!
//! Exits 0 only when the child died from SIGSYS and its line never appeared.
//! Run as root (or any user: the filter is loaded with no_new_privs):
//! `cargo run --example seccomp_kill`.

use std::process::ExitCode;

use iso::seccomp::{Action, Profile, SyscallRule};

const NEVER: &[u8] = b"seccomp_kill: child: this line must never be printed\n";

fn main() -> ExitCode {
    let profile = Profile::new(Action::Kill).rule(SyscallRule::new(
        Action::Allow,
        ["exit_group", "mprotect", "munmap", "brk"],
    ));
    // Compile and export before fork: the child only loads the prepared program.
    let bpf = match profile.compile().and_then(|f| f.to_bpf()) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("seccomp_kill: compiling the filter: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("seccomp_kill: filter: default KILL, allowed: exit_group mprotect munmap brk ({} BPF instructions)", bpf.len());
    println!("seccomp_kill: child loads it, then calls write(1, ...)");

    // SAFETY: the child only makes raw system calls on data prepared before the fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        eprintln!("seccomp_kill: fork: {}", std::io::Error::last_os_error());
        return ExitCode::FAILURE;
    }
    if pid == 0 {
        if bpf.load().is_err() {
            // SAFETY: ends the child; exit_group is not yet filtered on failure.
            unsafe { libc::_exit(2) };
        }
        // SAFETY: NEVER is a valid buffer; the kernel kills us before it runs.
        unsafe { libc::write(1, NEVER.as_ptr().cast(), NEVER.len()) };
        // SAFETY: only reached if the filter failed to kill us.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: pid is our child; status is a valid out-pointer.
    if unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
        eprintln!("seccomp_kill: waitpid: {}", std::io::Error::last_os_error());
        return ExitCode::FAILURE;
    }
    if libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGSYS {
        println!(
            "seccomp_kill: parent: child {pid} was killed by SIGSYS (signal {}) at its first write",
            libc::SIGSYS
        );
        println!("seccomp_kill: OK");
        ExitCode::SUCCESS
    } else if libc::WIFSIGNALED(status) {
        println!(
            "seccomp_kill: FAILED: child killed by signal {}, not SIGSYS",
            libc::WTERMSIG(status)
        );
        ExitCode::FAILURE
    } else {
        println!(
            "seccomp_kill: FAILED: child exited with {} (2: loading failed)",
            libc::WEXITSTATUS(status)
        );
        ExitCode::FAILURE
    }
}
