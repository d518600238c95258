//! A root prepared before the fork and applied in a forked child: each mount, the root
//! change and every failure stage, against the kernel.

use std::fs;
use std::path::Path;

use iso_chroot::{ApplyStage, EnterMethod, Error, MountFlags, PreparedRoot};
use iso_testutil::{in_child, root_or_skip, TempDir};

/// A root with a marker file, a bind destination and /proc, and a host directory beside it.
fn populate(tmp: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let root = tmp.join("root");
    for d in ["proc", "data", "tmp"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::write(root.join("inside"), "in the jail").unwrap();
    let volume = tmp.join("volume");
    fs::create_dir(&volume).unwrap();
    fs::write(volume.join("shared"), "from the host").unwrap();
    (root, volume)
}

fn unshare_mount_ns() -> Result<(), String> {
    // SAFETY: unshare has no memory-safety preconditions.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        return Err(format!("unshare: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

fn stage_of(e: &Error) -> Option<ApplyStage> {
    match e {
        Error::Apply { stage, .. } => Some(*stage),
        _ => None,
    }
}

#[test]
fn pivot_root_with_a_read_only_bind_proc_and_workdir() {
    if !root_or_skip() {
        return;
    }
    let tmp = TempDir::new("prepared-pivot");
    let (root, volume) = populate(tmp.path());
    let prepared = PreparedRoot::new(&root, EnterMethod::PivotRoot)
        .unwrap()
        .bind(&volume, "/data", MountFlags::RDONLY | MountFlags::NOSUID)
        .unwrap()
        .mount_proc("/proc")
        .unwrap()
        .workdir("/tmp")
        .unwrap();
    assert!(prepared.needs_mount_namespace());
    let host_path = tmp.path().to_path_buf();
    in_child(move || {
        unshare_mount_ns()?;
        prepared.apply().map_err(|e| e.to_string())?;
        let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
        assert_eq!(cwd, Path::new("/tmp"));
        assert_eq!(fs::read_to_string("/inside").unwrap(), "in the jail");
        assert_eq!(fs::read_to_string("/data/shared").unwrap(), "from the host");
        let write = fs::write("/data/new", b"x").unwrap_err();
        assert_eq!(write.raw_os_error(), Some(libc::EROFS));
        assert!(fs::metadata("/proc/self/status").is_ok(), "no procfs");
        assert!(fs::metadata(&host_path).is_err(), "the host is visible");
        // The old root is detached: only the new mounts are left.
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert_eq!(mountinfo.lines().count(), 3, "{mountinfo}");
        Ok(())
    });
    // Nothing reached the host's mount table.
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mountinfo.contains(&*root.to_string_lossy()), "{mountinfo}");
}

#[test]
fn chroot_without_mounts_needs_no_mount_namespace() {
    if !root_or_skip() {
        return;
    }
    let tmp = TempDir::new("prepared-chroot");
    let (root, _) = populate(tmp.path());
    let prepared = PreparedRoot::new(&root, EnterMethod::Chroot).unwrap();
    assert!(!prepared.needs_mount_namespace());
    in_child(move || {
        prepared.apply().map_err(|e| e.to_string())?;
        assert_eq!(fs::read_to_string("/inside").unwrap(), "in the jail");
        assert_eq!(std::env::current_dir().unwrap(), Path::new("/"));
        Ok(())
    });
}

#[test]
fn each_failure_names_its_stage() {
    if !root_or_skip() {
        return;
    }
    // The bind source vanished after preparing: mount #0.
    let tmp = TempDir::new("prepared-fail");
    let (root, volume) = populate(tmp.path());
    let prepared = PreparedRoot::new(&root, EnterMethod::Chroot)
        .unwrap()
        .bind(&volume, "/data", MountFlags::empty())
        .unwrap();
    fs::remove_file(volume.join("shared")).unwrap();
    fs::remove_dir(&volume).unwrap();
    in_child(move || {
        unshare_mount_ns()?;
        let e = prepared.apply().unwrap_err();
        assert_eq!(stage_of(&e), Some(ApplyStage::Mount(0)), "{e}");
        assert_eq!(e.errno(), Some(libc::ENOENT), "{e}");
        Ok(())
    });

    // The root vanished after preparing: opening it.
    let gone = TempDir::new("prepared-gone");
    let prepared = PreparedRoot::new(gone.path(), EnterMethod::Chroot).unwrap();
    drop(gone);
    in_child(move || {
        let e = prepared.apply().unwrap_err();
        assert_eq!(stage_of(&e), Some(ApplyStage::OpenRoot), "{e}");
        assert_eq!(e.errno(), Some(libc::ENOENT), "{e}");
        Ok(())
    });

    // A working directory that a mount was expected to provide but did not.
    let tmp = TempDir::new("prepared-workdir");
    let (root, volume) = populate(tmp.path());
    let prepared = PreparedRoot::new(&root, EnterMethod::Chroot)
        .unwrap()
        .bind(&volume, "/data", MountFlags::empty())
        .unwrap()
        .workdir("/data/missing")
        .unwrap();
    in_child(move || {
        unshare_mount_ns()?;
        let e = prepared.apply().unwrap_err();
        assert_eq!(stage_of(&e), Some(ApplyStage::Workdir), "{e}");
        assert_eq!(e.errno(), Some(libc::ENOENT), "{e}");
        Ok(())
    });
}

#[test]
fn preparing_refuses_symlinks_and_escapes() {
    let tmp = TempDir::new("prepared-refuse");
    let (root, volume) = populate(tmp.path());
    std::os::unix::fs::symlink("/etc", root.join("etc")).unwrap();
    let base = || PreparedRoot::new(&root, EnterMethod::Chroot).unwrap();
    let e = base()
        .bind(&volume, "/etc", MountFlags::empty())
        .unwrap_err();
    assert_eq!(e.errno(), Some(libc::ELOOP), "{e}");
    let e = base()
        .bind(&volume, "/../data", MountFlags::empty())
        .unwrap_err();
    assert!(matches!(e, Error::Invalid { .. }), "{e}");
    let e = base()
        .bind("relative", "/data", MountFlags::empty())
        .unwrap_err();
    assert!(matches!(e, Error::Invalid { .. }), "{e}");
    let e = PreparedRoot::new(root.join("etc"), EnterMethod::Chroot).unwrap_err();
    assert_eq!(e.errno(), Some(libc::ELOOP), "{e}");
}
