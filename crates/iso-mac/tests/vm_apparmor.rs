//! AppArmor for real: these run in the QEMU guest of `tests/vm` (AppArmor active) and skip
//! elsewhere. Each loads a profile rendered by this crate with apparmor_parser, runs
//! something under it, and removes it.

use std::os::unix::process::CommandExt;
use std::process::Command;

use iso_mac::apparmor::{self, ExecMode, FilePerms, Profile};
use iso_mac::{AppArmorStatus, Lsm};
use iso_sys::procfs::ProcRoot;
use iso_testutil::{in_child, vm_feature_or_skip, TempDir, VmFeature};

/// Files for the allowed/denied checks, and a profile allowing the first only.
struct Fixture {
    _tmp: TempDir,
    allowed: String,
    denied: String,
}

fn fixture(tag: &str) -> Fixture {
    let tmp = TempDir::new(tag);
    let allowed = tmp.path().join("allowed");
    let denied = tmp.path().join("denied");
    std::fs::write(&allowed, b"allowed-content\n").unwrap();
    std::fs::write(&denied, b"denied-content\n").unwrap();
    Fixture {
        allowed: allowed.display().to_string(),
        denied: denied.display().to_string(),
        _tmp: tmp,
    }
}

fn base_profile(name: &str, fx: &Fixture) -> Profile {
    Profile::new(name)
        .unwrap()
        .include("abstractions/base")
        .unwrap()
        .allow_exec(
            "/{usr/,}bin/*",
            FilePerms::READ | FilePerms::MMAP_EXEC,
            ExecMode::Inherit,
        )
        .unwrap()
        .allow_file("/proc/*/attr/{apparmor/,}current", FilePerms::READ)
        .unwrap()
        .allow_file("/proc/*/task/*/attr/{apparmor/,}current", FilePerms::READ)
        .unwrap()
        .allow_file(&fx.allowed, FilePerms::READ)
        .unwrap()
}

struct Loaded(&'static str);

impl Drop for Loaded {
    fn drop(&mut self) {
        let _ = apparmor::remove(self.0);
    }
}

#[test]
fn vm_detects_apparmor() {
    if !vm_feature_or_skip(VmFeature::AppArmor) {
        return;
    }
    let status = iso_mac::detect();
    assert!(status.is_active(Lsm::AppArmor), "{status:?}");
    match status.apparmor {
        AppArmorStatus::Active {
            current: Some(label),
        } => assert_eq!(label, "unconfined"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn vm_exec_label_confines_the_next_exec() {
    if !vm_feature_or_skip(VmFeature::AppArmor) {
        return;
    }
    let fx = fixture("mac-aa-exec");
    let name = "iso-test-exec";
    let profile = base_profile(name, &fx);
    apparmor::load(&profile).unwrap();
    let _guard = Loaded(name);
    assert!(apparmor::is_loaded(name).unwrap());
    let script = format!(
        "cat /proc/self/attr/current; echo; cat {}; cat {} || echo DENIED",
        fx.allowed, fx.denied
    );
    in_child(|| {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c").arg(&script);
        // SAFETY: in_child's process is single-threaded, so the allocations of the label
        // write in the forked child cannot deadlock.
        unsafe {
            cmd.pre_exec(|| {
                let proc_root = ProcRoot::open().map_err(std::io::Error::other)?;
                apparmor::set_exec_profile(&proc_root, "iso-test-exec")
                    .map_err(std::io::Error::other)
            });
        }
        let out = cmd.output().map_err(|e| e.to_string())?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let ok = stdout.contains("iso-test-exec (enforce)")
            && stdout.contains("allowed-content")
            && !stdout.contains("denied-content")
            && stdout.contains("DENIED")
            && stderr.contains("Permission denied");
        if !ok {
            return Err(format!("stdout: {stdout}\nstderr: {stderr}"));
        }
        Ok(())
    });
}

#[test]
fn vm_attachment_by_path_confines_the_program() {
    if !vm_feature_or_skip(VmFeature::AppArmor) {
        return;
    }
    let fx = fixture("mac-aa-attach");
    let tool_dir = TempDir::new("mac-aa-tool");
    let tool = tool_dir.path().join("isocat");
    std::fs::copy("/bin/cat", &tool).unwrap();
    let name = "iso-test-attach";
    let profile = base_profile(name, &fx)
        .attach(&tool.display().to_string())
        .unwrap()
        .allow_file(
            &tool.display().to_string(),
            FilePerms::READ | FilePerms::MMAP_EXEC,
        )
        .unwrap();
    apparmor::load(&profile).unwrap();
    let _guard = Loaded(name);
    let out = Command::new(&tool)
        .args(["/proc/self/attr/current", &fx.allowed, &fx.denied])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("iso-test-attach (enforce)"),
        "{stdout} {stderr}"
    );
    assert!(stdout.contains("allowed-content"), "{stdout} {stderr}");
    assert!(!stdout.contains("denied-content"), "{stdout}");
    assert!(stderr.contains("Permission denied"), "{stderr}");
    assert!(!out.status.success());
}

#[test]
fn vm_change_profile_confines_this_task() {
    if !vm_feature_or_skip(VmFeature::AppArmor) {
        return;
    }
    let fx = fixture("mac-aa-change");
    let name = "iso-test-change";
    apparmor::load(&base_profile(name, &fx)).unwrap();
    let _guard = Loaded(name);
    in_child(|| {
        let proc_root = ProcRoot::open().map_err(|e| e.to_string())?;
        apparmor::change_profile(&proc_root, name).map_err(|e| e.to_string())?;
        let label = apparmor::current_label(&proc_root).map_err(|e| e.to_string())?;
        if label != "iso-test-change (enforce)" {
            return Err(format!("label {label:?}"));
        }
        std::fs::read(&fx.allowed).map_err(|e| format!("allowed: {e}"))?;
        match std::fs::read(&fx.denied) {
            Err(e) if e.raw_os_error() == Some(libc::EACCES) => Ok(()),
            other => Err(format!("denied read should be EACCES: {other:?}")),
        }
    });
}

#[test]
fn vm_exec_label_write_is_verified_and_invalid_profile_is_rejected() {
    if !vm_feature_or_skip(VmFeature::AppArmor) {
        return;
    }
    // A profile the parser rejects gives the parser's message.
    let err = apparmor::load(
        &Profile::new("iso-test-bad")
            .unwrap()
            .allow_file("/x", FilePerms::READ)
            .unwrap()
            .include("iso-no-such-include")
            .unwrap(),
    )
    .unwrap_err();
    assert!(matches!(err, iso_mac::Error::Parser { .. }), "{err}");
    // Asking for a profile that is not loaded: the kernel refuses at write time (ENOENT).
    in_child(|| {
        let proc_root = ProcRoot::open().map_err(|e| e.to_string())?;
        match apparmor::set_exec_profile(&proc_root, "iso-test-not-loaded") {
            Err(e) if e.errno().is_some() => Ok(()),
            other => Err(format!("expected a kernel error, got {other:?}")),
        }
    });
}

#[test]
fn vm_bind_mount_over_the_apparmor_exec_file_is_refused() {
    if !vm_feature_or_skip(VmFeature::AppArmor) {
        return;
    }
    let tmp = TempDir::new("mac-aa-decoy");
    let decoy = tmp.path().join("decoy");
    std::fs::write(&decoy, b"").unwrap();
    in_child(|| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).map_err(|e| e.to_string())?;
        nix::mount::mount(
            None::<&str>,
            "/",
            None::<&str>,
            nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(|e| e.to_string())?;
        nix::mount::mount(
            Some(&decoy),
            "/proc/thread-self/attr/apparmor/exec",
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| format!("bind: {e}"))?;
        let proc_root = ProcRoot::open().map_err(|e| e.to_string())?;
        match apparmor::set_exec_profile(&proc_root, "unconfined") {
            Err(iso_mac::Error::Procfs(_)) => {}
            other => return Err(format!("expected a procfs refusal, got {other:?}")),
        }
        if std::fs::read(&decoy).map_err(|e| e.to_string())? != b"" {
            return Err("the decoy was written".into());
        }
        Ok(())
    });
}

/// The `apparmor_ping` example, where AppArmor is active; it is built by
/// `cargo build --examples` (as scripts/test.sh does) into target/<profile>/examples.
#[test]
fn vm_apparmor_ping_example() {
    if !vm_feature_or_skip(VmFeature::AppArmor) {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let example = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("examples/apparmor_ping");
    if !example.exists() {
        eprintln!(
            "skipped: {} not built (cargo build --examples)",
            example.display()
        );
        return;
    }
    let out = Command::new(&example).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("ping ran as \"iso-ping (enforce)\""),
        "{stdout}"
    );
}

/// The guest kernel (6.1) has Landlock ABI 2: rights of later ABIs are dropped under best
/// effort and refused under required, with the report naming them.
#[test]
fn vm_landlock_on_an_older_abi_reports_dropped_rights() {
    if !vm_feature_or_skip(VmFeature::AppArmor) {
        return;
    }
    use iso_mac::landlock::{Compat, EnforcementStatus, FsAccess, NetAccess, Ruleset};
    let abi = iso_mac::landlock_status().abi();
    if !(1..4).contains(&abi) {
        eprintln!("skipped: the guest has Landlock ABI {abi}, this test wants 1..=3");
        return;
    }
    let ruleset = Ruleset::new()
        .handle_fs(FsAccess::supported_by(abi) | FsAccess::IOCTL_DEV)
        .handle_net(NetAccess::BIND_TCP)
        .allow_path("/", FsAccess::read());
    let err = ruleset
        .clone()
        .compat(Compat::Required)
        .prepare()
        .unwrap_err();
    assert!(
        matches!(err, iso_mac::Error::LandlockUnsupported { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("IOCTL_DEV"), "{err}");
    assert!(err.to_string().contains("BIND_TCP"), "{err}");
    in_child(|| {
        let report = ruleset
            .compat(Compat::BestEffort)
            .restrict_self()
            .map_err(|e| e.to_string())?;
        if report.status != EnforcementStatus::Partial
            || report.dropped_fs != FsAccess::IOCTL_DEV
            || report.dropped_net != NetAccess::BIND_TCP
        {
            return Err(format!("{report:?}"));
        }
        match std::fs::write("/tmp/iso-test-ll-old", b"x") {
            Err(e) if e.raw_os_error() == Some(libc::EACCES) => Ok(()),
            other => Err(format!("write should be denied: {other:?}")),
        }
    });
}
