//! chroot into a small directory and list it: the classic demo, plus proof that `..`, a
//! hostile `../../..` symlink and an absolute path to the host all stay inside.
//!
//! Run as root: `cargo run --example chroot_ls`. Exits 0 when the jail held.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use iso::chroot::{chroot, Root};

fn listing(dir: &str) -> std::io::Result<Vec<String>> {
    let mut names: Vec<String> = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    names.sort();
    Ok(names)
}

fn build(dir: &Path, host_only: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir.join("bin"))?;
    fs::create_dir_all(dir.join("etc"))?;
    fs::write(dir.join("etc/hostname"), "jail\n")?;
    fs::write(dir.join("hello.txt"), "hello from inside the jail\n")?;
    // Hostile links a rootfs might carry: up and out, and straight to the host's /etc.
    std::os::unix::fs::symlink("../../../..", dir.join("escape"))?;
    std::os::unix::fs::symlink("/etc", dir.join("hostetc"))?;
    fs::write(host_only, "only on the host\n")
}

/// Runs in the child: chroot, look around, report. Returns whether the jail held.
fn inside(dir: &Path, host_only: &Path) -> Result<bool, Box<dyn std::error::Error>> {
    let root = Root::open(dir)?;
    chroot(&root)?;
    let top = listing("/")?;
    println!("ls /            -> {top:?}");
    let mut held = true;
    for probe in ["/..", "../../..", "/escape", "/bin/../../.."] {
        let seen = listing(probe)?;
        let same = seen == top;
        println!(
            "ls {probe:<14} -> {seen:?} {}",
            if same { "(same as /)" } else { "(DIFFERENT!)" }
        );
        held &= same;
    }
    let hostname = fs::read_to_string("/hostetc/hostname")?;
    println!(
        "/hostetc/hostname reads {:?} (the jail's own /etc)",
        hostname.trim()
    );
    held &= hostname == "jail\n";
    let visible = fs::metadata(host_only).is_ok();
    println!("host-only file {} visible: {visible}", host_only.display());
    held &= !visible;
    Ok(held)
}

fn main() -> ExitCode {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("chroot_ls needs root (chroot(2) requires CAP_SYS_CHROOT)");
        return ExitCode::FAILURE;
    }
    let pid = std::process::id();
    let dir = PathBuf::from(format!("/tmp/iso-chroot-ls-{pid}"));
    let host_only = PathBuf::from(format!("/tmp/iso-chroot-ls-{pid}-host-only"));
    let cleanup = || {
        let _ = fs::remove_dir_all(&dir);
        let _ = fs::remove_file(&host_only);
    };
    if let Err(e) = build(&dir, &host_only) {
        eprintln!("building {}: {e}", dir.display());
        cleanup();
        return ExitCode::FAILURE;
    }
    println!(
        "built {} (with links escape -> ../../../.. and hostetc -> /etc)",
        dir.display()
    );
    // SAFETY: this program is single-threaded, so the child may run ordinary Rust code.
    let child = unsafe { libc::fork() };
    if child < 0 {
        eprintln!("fork: {}", std::io::Error::last_os_error());
        cleanup();
        return ExitCode::FAILURE;
    }
    if child == 0 {
        let code = match inside(&dir, &host_only) {
            Ok(true) => 0,
            Ok(false) => 1,
            Err(e) => {
                eprintln!("in the jail: {e}");
                2
            }
        };
        // SAFETY: ends the child without running the parent's cleanup twice.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: child is our child; status a valid out-pointer.
    let waited = unsafe { libc::waitpid(child, &mut status, 0) };
    cleanup();
    if waited == child && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        println!("ok: the chroot hid the host and `..` stayed inside");
        ExitCode::SUCCESS
    } else {
        println!("FAILED: the jail did not hold (status {status:#x})");
        ExitCode::FAILURE
    }
}
