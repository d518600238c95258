//! `apparmor_ping`: the AppArmor profile that lets `ping` use `CAP_NET_RAW` and nothing
//! else, loaded and used.
//!
//! The profile is built with `iso::mac::apparmor::Profile` and attached by path to
//! `/bin/ping` and `/usr/bin/ping`. Where AppArmor is active (the VM test tier), the example
//! loads it with `apparmor_parser`, runs `ping -c 3 127.0.0.1` (which the kernel confines by
//! the attachment path), reads the running ping's label from `/proc/PID/attr/current`, then
//! asks for `cat /etc/hostname` to be executed under the same profile (the exec label) and
//! shows it is denied, and finally removes the profile. It exits 0 only when all of that
//! behaved so.
//!
//! On a host without AppArmor it prints the profile, checks it with `apparmor_parser -Q`
//! when the parser is installed, says why it cannot be loaded, and exits 0.
//!
//! Run as root: `cargo run --example apparmor_ping`.

use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode, Stdio};

use iso::mac::apparmor::{self, Capability, FilePerms, NetDomain, NetType, Profile};
use iso::mac::Lsm;
use iso::sys::procfs::ProcRoot;
use iso::sys::{Pid, ProcPid};

const NAME: &str = "iso-ping";

fn profile() -> iso::mac::Result<Profile> {
    Profile::new(NAME)?
        .attach("/{usr/,}bin/ping")?
        // The dynamic loader, libc, locale: what every program needs.
        .include("abstractions/base")?
        .allow_capability(Capability::new("net_raw")?)
        .allow_network(Some(NetDomain::Inet), Some(NetType::Raw))
        .allow_network(Some(NetDomain::Inet), Some(NetType::Dgram))
        .allow_network(Some(NetDomain::Inet6), Some(NetType::Raw))
        .allow_network(Some(NetDomain::Inet6), Some(NetType::Dgram))
        .allow_file("/{usr/,}bin/ping", FilePerms::READ | FilePerms::MMAP_EXEC)
}

fn main() -> ExitCode {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!(
            "apparmor_ping: run me as root (loading an AppArmor profile needs CAP_MAC_ADMIN)"
        );
        return ExitCode::FAILURE;
    }
    let profile = match profile() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("apparmor_ping: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("apparmor_ping: the profile:\n{}", profile.render());
    let status = iso::mac::detect();
    if !status.is_active(Lsm::AppArmor) {
        let active: Vec<String> = status.active.iter().map(|m| m.to_string()).collect();
        println!(
            "apparmor_ping: cannot load it here: AppArmor is not active on this kernel \
             (active modules, from {:?}: {}). The VM test tier runs this example where it is.",
            status.source,
            active.join(", ")
        );
        match profile.check_syntax() {
            Ok(()) => println!("apparmor_ping: apparmor_parser -Q accepts the profile"),
            Err(e) => println!("apparmor_ping: not compiled: {e}"),
        }
        return ExitCode::SUCCESS;
    }
    match run(&profile) {
        Ok(()) => {
            println!("apparmor_ping: OK");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("apparmor_ping: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(profile: &Profile) -> Result<(), String> {
    apparmor::load(profile).map_err(|e| e.to_string())?;
    println!("apparmor_ping: loaded {NAME}");
    let result = confined(profile.name());
    apparmor::remove(NAME).map_err(|e| e.to_string())?;
    println!("apparmor_ping: removed {NAME}");
    result
}

fn confined(name: &str) -> Result<(), String> {
    let proc_root = ProcRoot::open().map_err(|e| e.to_string())?;
    // Confined by path: the kernel picks the profile when /bin/ping is executed.
    let child = Command::new("/bin/ping")
        .args(["-c", "3", "-i", "0.2", "127.0.0.1"])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn ping: {e}"))?;
    // spawn returns after a successful execve, so the label is already the new one.
    let pid = Pid::from_raw(child.id() as i32).ok_or("bad pid")?;
    let label = proc_root
        .read_to_string(ProcPid::Pid(pid), "attr/current")
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    println!("apparmor_ping: ping ran as {:?}", label.trim());
    if !out.status.success() || label.trim() != format!("{name} (enforce)") {
        return Err(format!(
            "ping under {name} failed: {} label {label:?}",
            out.status
        ));
    }
    // Nothing else: a program executed under the same profile cannot read /etc/hostname.
    let mut cat = Command::new("/bin/cat");
    cat.arg("/etc/hostname");
    let exec_name = name.to_string();
    // SAFETY: this program is single-threaded, so the label write's allocations in the
    // forked child cannot deadlock.
    unsafe {
        cat.pre_exec(move || {
            let proc_root = ProcRoot::open().map_err(std::io::Error::other)?;
            apparmor::set_exec_profile(&proc_root, &exec_name).map_err(std::io::Error::other)
        });
    }
    match cat.output() {
        Ok(out) if out.status.success() => Err(format!(
            "cat under {name} read /etc/hostname: the profile allows too much"
        )),
        Ok(out) => {
            println!(
                "apparmor_ping: cat /etc/hostname under {name}: denied ({})",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            Ok(())
        }
        Err(e) if e.raw_os_error() == Some(libc::EACCES) => {
            println!("apparmor_ping: exec of cat under {name}: denied ({e})");
            Ok(())
        }
        Err(e) => Err(format!("cat: {e}")),
    }
}
