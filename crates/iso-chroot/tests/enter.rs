//! Entering a root: chroot, pivot_root, MS_MOVE. As root, each in a forked child.

mod common;

use std::fs;
use std::os::fd::AsFd;

use common::{fresh_mount_ns, mountinfo, write_errno};
use iso_chroot::{enter, EnterMethod, Mount, Root};
use iso_testutil::{in_child, root_or_skip, TempDir};

fn listing(dir: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn populate(root: &std::path::Path) {
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::write(root.join("inside"), "in the jail").unwrap();
}

#[test]
fn chroot_hides_the_host() {
    if !root_or_skip() {
        return;
    }
    let tmp = TempDir::new("chroot-jail");
    let root_path = tmp.path().join("root");
    populate(&root_path);
    fs::write(tmp.path().join("host-only"), "host").unwrap();
    in_child(|| {
        let root = Root::open(&root_path).unwrap();
        iso_chroot::chroot(&root).unwrap();
        assert_eq!(std::env::current_dir().unwrap(), std::path::Path::new("/"));
        assert_eq!(listing("/"), vec!["bin", "inside"]);
        assert_eq!(listing("/.."), listing("/"));
        assert_eq!(listing("../../.."), listing("/"));
        assert_eq!(fs::read_to_string("/inside").unwrap(), "in the jail");
        assert!(fs::metadata("/../host-only").is_err());
        assert!(
            fs::metadata(tmp.path()).is_err(),
            "the host path is still visible"
        );
        iso_chroot::verify_cwd().unwrap();
        Ok(())
    });
}

#[test]
fn pivot_root_detaches_the_old_root() {
    if !root_or_skip() {
        return;
    }
    let tmp = TempDir::new("chroot-pivot");
    let root_path = tmp.path().join("root");
    populate(&root_path);
    fs::write(tmp.path().join("host-only"), "host").unwrap();
    in_child(|| {
        fresh_mount_ns();
        let root = Root::open(&root_path)
            .unwrap()
            .ensure_mount_point()
            .unwrap();
        root.mount(&Mount::proc("/proc")).unwrap();
        iso_chroot::pivot_root(&root).unwrap();
        let mounts = mountinfo();
        // Only the new root and its proc remain: the old root is not in the namespace.
        let points: Vec<&str> = mounts.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(points, vec!["/", "/proc"], "{mounts:?}");
        assert_eq!(listing("/"), vec!["bin", "inside", "proc"]);
        assert_eq!(listing("/.."), listing("/"));
        assert!(fs::metadata(tmp.path()).is_err());
        // The read-only remount of the new root.
        assert_eq!(write_errno("/w".as_ref()), 0);
        let slash = fs::File::open("/").unwrap();
        iso_chroot::remount_readonly(slash.as_fd()).unwrap();
        assert_eq!(write_errno("/w2".as_ref()), libc::EROFS);
        Ok(())
    });
}

#[test]
fn move_root_works_on_tmpfs_and_ramfs_roots() {
    if !root_or_skip() {
        return;
    }
    let tmp = TempDir::new("chroot-move");
    let root_path = tmp.path().join("root");
    fs::create_dir_all(&root_path).unwrap();
    let cases = [
        (EnterMethod::MoveRoot, "tmpfs"),
        (EnterMethod::MoveRoot, "ramfs"),
        (EnterMethod::Auto, "ramfs"),
    ];
    for (method, fstype) in cases {
        in_child(|| {
            fresh_mount_ns();
            common::mount_fs(&root_path, fstype);
            populate(&root_path);
            let root = Root::open(&root_path).unwrap();
            enter(&root, method).unwrap();
            assert_eq!(listing("/"), vec!["bin", "inside"], "{method:?} {fstype}");
            assert_eq!(listing("/.."), listing("/"));
            assert!(fs::metadata(tmp.path()).is_err());
            Ok(())
        });
    }
}

#[test]
fn pivot_root_needs_a_mount_point() {
    if !root_or_skip() {
        return;
    }
    let tmp = TempDir::new("chroot-pivot-einval");
    let root_path = tmp.path().join("root");
    populate(&root_path);
    in_child(|| {
        fresh_mount_ns();
        let root = Root::open(&root_path).unwrap();
        let err = iso_chroot::pivot_root(&root).unwrap_err();
        assert!(matches!(err, iso_chroot::Error::Refused { .. }), "{err}");
        let err = enter(&root, EnterMethod::Auto).unwrap_err();
        assert!(matches!(err, iso_chroot::Error::Refused { .. }), "{err}");
        // Still on the host root.
        assert!(fs::metadata(tmp.path()).is_ok());
        Ok(())
    });
}
