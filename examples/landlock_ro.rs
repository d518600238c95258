//! `landlock_ro`: restrict a child to read-only access to `/usr`, and show that it is.
//!
//! A forked child (root, with every capability) applies a Landlock ruleset that handles
//! every filesystem right this kernel's ABI knows and allows only reading and executing
//! beneath `/usr` (and `/lib`, `/lib64` where they are separate directories, since the
//! dynamic loader lives there). It then shows:
//!
//! - reading under `/usr` works, and so does executing `/usr/bin/cat`;
//! - creating a file under `/usr` fails with `EACCES` (root could otherwise);
//! - `/etc/shadow` cannot be opened (`EACCES`), neither by the child nor by the `cat` it
//!   executes: the restriction is inherited across `execve`.
//!
//! Exits 0 only when the kernel enforced all of that fully. Run as root:
//! `cargo run --example landlock_ro`.

use std::process::{Command, ExitCode, Stdio};

use iso::mac::landlock::{Compat, FsAccess, Ruleset};

fn main() -> ExitCode {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("landlock_ro: run me as root (the point is that Landlock stops even root)");
        return ExitCode::FAILURE;
    }
    let abi = iso::mac::landlock_status();
    println!("landlock_ro: kernel Landlock status: {abi:?}");
    if abi.abi() == 0 {
        eprintln!("landlock_ro: this kernel has no Landlock; nothing to show");
        return ExitCode::FAILURE;
    }
    // Everything (the ruleset fd, the rule paths) is prepared before fork; the child only
    // restricts itself.
    let mut ruleset = Ruleset::new()
        .handle_fs(FsAccess::supported_by(abi.abi()))
        .allow_path("/usr", FsAccess::read())
        .compat(Compat::Required);
    // On a system without merged /usr, the dynamic loader and libc live in /lib and /lib64:
    // executing /usr/bin/cat needs to read them too.
    for lib in ["/lib", "/lib64"] {
        let is_real_dir = std::fs::symlink_metadata(lib).is_ok_and(|m| m.is_dir());
        if is_real_dir {
            println!(
                "landlock_ro: {lib} is not part of /usr here: allowing read-only access to it too"
            );
            ruleset = ruleset.allow_path(lib, FsAccess::read());
        }
    }
    let prepared = match ruleset.prepare() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("landlock_ro: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("landlock_ro: plan: {}", prepared.report());
    // SAFETY: this program is single-threaded, so the child may allocate freely.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        eprintln!("landlock_ro: fork: {}", std::io::Error::last_os_error());
        return ExitCode::FAILURE;
    }
    if pid == 0 {
        let code = match child(prepared) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("landlock_ro: child: {e}");
                1
            }
        };
        // SAFETY: ends the child without running the parent's exit handlers twice.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: pid is our child and status a valid out-pointer.
    if unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
        eprintln!("landlock_ro: waitpid: {}", std::io::Error::last_os_error());
        return ExitCode::FAILURE;
    }
    // The parent was never restricted.
    let parent_reads_shadow = std::fs::File::open("/etc/shadow").is_ok();
    println!("landlock_ro: parent (unrestricted) can open /etc/shadow: {parent_reads_shadow}");
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        println!("landlock_ro: OK");
        ExitCode::SUCCESS
    } else {
        eprintln!("landlock_ro: child failed (status {status:#x})");
        ExitCode::FAILURE
    }
}

fn expect_eacces(what: &str, result: std::io::Result<()>) -> Result<(), String> {
    match result {
        Err(e) if e.raw_os_error() == Some(libc::EACCES) => {
            println!("  {what}: denied ({e})");
            Ok(())
        }
        Err(e) => Err(format!("{what}: expected EACCES, got {e}")),
        Ok(()) => Err(format!("{what}: expected EACCES, but it worked")),
    }
}

fn child(prepared: iso::mac::landlock::Prepared) -> Result<(), String> {
    let report = prepared.restrict_self().map_err(|e| e.to_string())?;
    println!(
        "child: restricted: {report} (no_new_privs: {})",
        report.no_new_privs
    );
    if !report.is_full() {
        return Err("the ruleset is not fully enforced".into());
    }
    let entries = std::fs::read_dir("/usr/bin")
        .map_err(|e| format!("list /usr/bin: {e}"))?
        .count();
    println!("  list /usr/bin: allowed ({entries} entries)");
    let os_release = std::fs::read_to_string("/usr/lib/os-release")
        .map_err(|e| format!("read /usr/lib/os-release: {e}"))?;
    println!(
        "  read /usr/lib/os-release: allowed ({})",
        os_release.lines().next().unwrap_or("")
    );
    expect_eacces(
        "create /usr/iso-landlock-ro",
        std::fs::write("/usr/iso-landlock-ro", b"x"),
    )?;
    expect_eacces(
        "open /etc/shadow",
        std::fs::File::open("/etc/shadow").map(|_| ()),
    )?;
    // Stdin stays inherited: opening /dev/null (what `output()` does by default) is denied too.
    let out = Command::new("/usr/bin/cat")
        .arg("/etc/shadow")
        .stdin(Stdio::inherit())
        .output()
        .map_err(|e| format!("run /usr/bin/cat: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() || !stderr.contains("Permission denied") {
        return Err(format!(
            "cat /etc/shadow should be denied: {} {stderr}",
            out.status
        ));
    }
    println!(
        "  exec /usr/bin/cat /etc/shadow: cat ran, and was denied: {}",
        stderr.trim()
    );
    Ok(())
}
