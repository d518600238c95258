//! AppArmor and SELinux label writes against this machine's real /proc: the "module not
//! active" errors, and the refusal to write through a /proc that is not what it seems.

use iso_mac::selinux::SeLinuxContext;
use iso_mac::{apparmor, selinux, Error, Lsm};
use iso_sys::procfs::ProcRoot;
use iso_testutil::{in_child, TempDir, VmFeature};

fn ctx() -> SeLinuxContext {
    "system_u:system_r:container_t:s0:c1,c2".parse().unwrap()
}

#[test]
fn selinux_writes_say_selinux_is_not_active() {
    if iso_mac::is_active(Lsm::SeLinux) {
        eprintln!("skipped: SELinux is active here");
        return;
    }
    let proc_root = ProcRoot::open().unwrap();
    let checks: [(&str, Error); 4] = [
        (
            "exec",
            selinux::set_exec_label(&proc_root, Some(&ctx())).unwrap_err(),
        ),
        (
            "keycreate",
            selinux::set_keycreate_label(&proc_root, Some(&ctx())).unwrap_err(),
        ),
        (
            "fscreate",
            selinux::set_fscreate_label(&proc_root, None).unwrap_err(),
        ),
        ("current", selinux::current_label(&proc_root).unwrap_err()),
    ];
    for (what, err) in checks {
        assert!(
            matches!(
                err,
                Error::NotActive {
                    module: Lsm::SeLinux,
                    ..
                }
            ),
            "{what}: {err:?}"
        );
        assert!(
            err.to_string().contains("SELinux is not active"),
            "{what}: {err}"
        );
    }
}

#[test]
fn apparmor_operations_say_apparmor_is_not_active() {
    if VmFeature::AppArmor.present() {
        eprintln!("skipped: AppArmor is active here");
        return;
    }
    let proc_root = ProcRoot::open().unwrap();
    let profile = apparmor::Profile::new("iso-test-inactive").unwrap();
    let errs = [
        apparmor::set_exec_profile(&proc_root, "iso-test-inactive").unwrap_err(),
        apparmor::change_profile(&proc_root, "iso-test-inactive").unwrap_err(),
        apparmor::current_label(&proc_root).unwrap_err(),
        apparmor::load(&profile).unwrap_err(),
        apparmor::remove("iso-test-inactive").unwrap_err(),
        apparmor::is_loaded("iso-test-inactive").unwrap_err(),
    ];
    for err in errs {
        assert!(
            matches!(
                err,
                Error::NotActive {
                    module: Lsm::AppArmor,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("AppArmor is not active"), "{err}");
    }
}

#[test]
fn invalid_names_are_refused_before_any_write() {
    let proc_root = ProcRoot::open().unwrap();
    let err = apparmor::set_exec_profile(&proc_root, "two words").unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    let err = apparmor::set_exec_profile(&proc_root, "x\nchangeprofile y").unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
}

/// Runs `body` in a child with a private mount namespace, so the mounts it makes vanish
/// with it.
fn in_private_mount_ns(body: impl FnOnce() -> Result<(), String>) {
    in_child(|| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
            .map_err(|e| format!("unshare: {e}"))?;
        nix::mount::mount(
            None::<&str>,
            "/",
            None::<&str>,
            nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(|e| format!("make / private: {e}"))?;
        body()
    });
}

fn bind(src: &std::path::Path, target: &str) -> Result<(), String> {
    nix::mount::mount(
        Some(src),
        target,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| format!("bind {src:?} over {target}: {e}"))
}

#[test]
fn bind_mount_over_the_label_file_is_refused() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    let tmp = TempDir::new("mac-attr");
    let decoy = tmp.path().join("decoy");
    std::fs::write(&decoy, b"").unwrap();
    in_private_mount_ns(|| {
        // CVE-2019-16884: a plain file mounted over the label file would swallow the write.
        for target in [
            "/proc/thread-self/attr/exec",
            "/proc/thread-self/attr/keycreate",
        ] {
            bind(&decoy, target)?;
        }
        // Where AppArmor is built in (active or not), its own exec file is tried first.
        if std::path::Path::new("/proc/thread-self/attr/apparmor/exec").exists() {
            bind(&decoy, "/proc/thread-self/attr/apparmor/exec")?;
        }
        let proc_root = ProcRoot::open().map_err(|e| e.to_string())?;
        let err = selinux::set_exec_label(&proc_root, Some(&ctx())).unwrap_err();
        if !matches!(err, Error::Procfs(_)) {
            return Err(format!(
                "SELinux exec: expected a procfs refusal, got {err:?}"
            ));
        }
        let err = selinux::set_keycreate_label(&proc_root, Some(&ctx())).unwrap_err();
        if !matches!(err, Error::Procfs(_)) {
            return Err(format!(
                "SELinux keycreate: expected a procfs refusal, got {err:?}"
            ));
        }
        let err = apparmor::set_exec_profile(&proc_root, "iso-x").unwrap_err();
        if !matches!(err, Error::Procfs(_)) {
            return Err(format!(
                "AppArmor exec: expected a procfs refusal, got {err:?}"
            ));
        }
        if std::fs::read(&decoy).map_err(|e| e.to_string())? != b"" {
            return Err("the decoy was written".into());
        }
        Ok(())
    });
}

#[test]
fn bind_mount_over_the_attr_directory_is_refused() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    let tmp = TempDir::new("mac-attrdir");
    std::fs::write(tmp.path().join("exec"), b"").unwrap();
    std::fs::write(tmp.path().join("fscreate"), b"").unwrap();
    let dir = tmp.path().to_path_buf();
    in_private_mount_ns(|| {
        bind(&dir, "/proc/thread-self/attr")?;
        let proc_root = ProcRoot::open().map_err(|e| e.to_string())?;
        let err = selinux::set_fscreate_label(&proc_root, Some(&ctx())).unwrap_err();
        if !matches!(err, Error::Procfs(_)) {
            return Err(format!("expected a procfs refusal, got {err:?}"));
        }
        Ok(())
    });
}

#[test]
fn tmpfs_over_proc_is_refused() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    in_private_mount_ns(|| {
        nix::mount::mount(
            Some("tmpfs"),
            "/proc",
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        )
        .map_err(|e| format!("tmpfs over /proc: {e}"))?;
        match ProcRoot::open() {
            Err(e) if e.to_string().contains("is not procfs") => Ok(()),
            other => Err(format!("a tmpfs /proc must be refused: {other:?}")),
        }
    });
}
