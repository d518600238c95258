//! `seccomp_errno`: deny one system call with EPERM; everything else keeps working.
//!
//! A child loads a filter that allows everything except `mkdir`/`mkdirat`, which fail with
//! EPERM without running. It then tries to create a directory (EPERM, and nothing is
//! created), and creates, writes and reads back a file in the same place (works).
//! Even root cannot get around it: the filter is checked before any permission.
//!
//! Exits 0 only when the kernel behaved so. Run: `cargo run --example seccomp_errno`.

use std::process::ExitCode;

use iso::seccomp::{Action, Profile, SyscallRule};

fn main() -> ExitCode {
    let dir =
        std::env::temp_dir().join(format!("iso-example-seccomp-errno-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("seccomp_errno: creating {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    let filter = Profile::new(Action::Allow)
        .rule(SyscallRule::new(
            Action::Errno(libc::EPERM as u32),
            ["mkdir", "mkdirat"],
        ))
        .compile();
    let filter = match filter {
        Ok(f) => f,
        Err(e) => {
            eprintln!("seccomp_errno: compiling: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("seccomp_errno: filter: allow everything, mkdir/mkdirat -> EPERM");

    // SAFETY: this program is single-threaded, so the child may allocate freely.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        eprintln!("seccomp_errno: fork: {}", std::io::Error::last_os_error());
        return ExitCode::FAILURE;
    }
    if pid == 0 {
        let code = child(&filter, &dir);
        // SAFETY: ends the child.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: pid is our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let _ = std::fs::remove_dir_all(&dir);
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        println!("seccomp_errno: OK");
        ExitCode::SUCCESS
    } else {
        println!("seccomp_errno: FAILED (child status {status:#x})");
        ExitCode::FAILURE
    }
}

fn child(filter: &iso::seccomp::Filter, dir: &std::path::Path) -> i32 {
    if let Err(e) = filter.load() {
        println!("  child: loading the filter: {e}");
        return 1;
    }
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    println!("  child: filter loaded (uid {uid})");
    let sub = dir.join("subdir");
    match std::fs::create_dir(&sub) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            println!(
                "  child: mkdir {} -> {e}  (denied by the filter)",
                sub.display()
            )
        }
        other => {
            println!(
                "  child: mkdir {}: expected EPERM, got {other:?}",
                sub.display()
            );
            return 1;
        }
    }
    if sub.exists() {
        println!("  child: the directory exists although mkdir was denied");
        return 1;
    }
    let file = dir.join("file.txt");
    let written =
        std::fs::write(&file, b"still works\n").and_then(|()| std::fs::read_to_string(&file));
    match written {
        Ok(s) if s == "still works\n" => println!(
            "  child: write + read {} -> {:?}  (allowed)",
            file.display(),
            s.trim_end()
        ),
        other => {
            println!("  child: writing a file failed: {other:?}");
            return 1;
        }
    }
    println!("  child: getpid -> {}  (allowed)", std::process::id());
    0
}
