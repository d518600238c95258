//! Mounts through descriptors, as root, each in a child with a fresh private mount namespace.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{fresh_mount_ns, is_mount_point, mount_tmpfs, mountinfo, write_errno};
use iso_chroot::{Mount, MountApi, MountFlags, Propagation, Resolver, Root};
use iso_testutil::{in_child, root_or_skip, TempDir};

#[test]
fn bind_through_symlink_to_host_lands_inside() {
    if !root_or_skip() {
        return;
    }
    let tmp = TempDir::new("chroot-bind");
    let (root_path, src, host) = (
        tmp.path().join("root"),
        tmp.path().join("src"),
        tmp.path().join("host"),
    );
    for d in [&root_path, &src, &host] {
        fs::create_dir_all(d).unwrap();
    }
    fs::write(src.join("marker"), "volume").unwrap();
    // Absolute and relative links that point at the host directory from the rootfs.
    symlink(&host, root_path.join("abs")).unwrap();
    symlink("../host", root_path.join("rel")).unwrap();
    in_child(|| {
        fresh_mount_ns();
        let root = Root::open(&root_path).unwrap();
        root.mount(&Mount::bind(&src, "/abs")).unwrap();
        root.mount(&Mount::bind(&src, "/rel")).unwrap();
        assert!(
            !host.join("marker").exists(),
            "a bind mount landed on the host directory"
        );
        let inside_abs = root_path.join(host.strip_prefix("/").unwrap());
        assert_eq!(
            fs::read_to_string(inside_abs.join("marker")).unwrap(),
            "volume"
        );
        assert_eq!(
            fs::read_to_string(root_path.join("host/marker")).unwrap(),
            "volume"
        );
        // A file bind gets a file target.
        root.mount(&Mount::bind(src.join("marker"), "/etc/hostname"))
            .unwrap();
        assert_eq!(
            fs::read_to_string(root_path.join("etc/hostname")).unwrap(),
            "volume"
        );
        Ok(())
    });
}

#[test]
fn swapped_symlink_race_never_mounts_outside() {
    if !root_or_skip() {
        return;
    }
    let tmp = TempDir::new("chroot-race");
    let (root_path, src, host) = (
        tmp.path().join("root"),
        tmp.path().join("src"),
        tmp.path().join("host"),
    );
    for d in [&root_path, &src, &host, &root_path.join("x")] {
        fs::create_dir_all(d).unwrap();
    }
    fs::write(src.join("marker"), "volume").unwrap();
    symlink(&host, root_path.join("y")).unwrap();
    in_child(|| {
        fresh_mount_ns();
        let stop = Arc::new(AtomicBool::new(false));
        let swapper = {
            let stop = stop.clone();
            let (x, y) = (
                std::ffi::CString::new(root_path.join("x").as_os_str().as_encoded_bytes()).unwrap(),
                std::ffi::CString::new(root_path.join("y").as_os_str().as_encoded_bytes()).unwrap(),
            );
            std::thread::spawn(move || {
                let mut n = 0u32;
                while !stop.load(Ordering::Relaxed) && n < 2_000_000 {
                    // SAFETY: valid C strings; renameat2 swaps the two names atomically.
                    unsafe {
                        libc::renameat2(
                            libc::AT_FDCWD,
                            x.as_ptr(),
                            libc::AT_FDCWD,
                            y.as_ptr(),
                            libc::RENAME_EXCHANGE,
                        )
                    };
                    n += 1;
                }
            })
        };
        let mut mounted = 0;
        for resolver in [Resolver::Openat2, Resolver::Userspace] {
            let root = Root::open(&root_path).unwrap().with_resolver(resolver);
            for api in [MountApi::New, MountApi::Legacy] {
                for _ in 0..300 {
                    if root.mount_with(&Mount::bind(&src, "/x"), api).is_ok() {
                        mounted += 1;
                    }
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        swapper.join().unwrap();
        assert!(
            !host.join("marker").exists(),
            "a racing swap redirected a mount to the host"
        );
        assert!(!is_mount_point(&host));
        for (mp, _) in mountinfo() {
            assert!(
                mp.starts_with(root_path.to_str().unwrap())
                    || !mp.starts_with(tmp.path().to_str().unwrap()),
                "{mp}"
            );
        }
        assert!(mounted > 0, "no mount succeeded during the race");
        Ok(())
    });
}

#[test]
fn rro_makes_submounts_read_only() {
    if !root_or_skip() {
        return;
    }
    let tmp = TempDir::new("chroot-rro");
    let (root_path, src) = (tmp.path().join("root"), tmp.path().join("src"));
    fs::create_dir_all(&root_path).unwrap();
    fs::create_dir_all(src.join("sub")).unwrap();
    for api in [MountApi::New, MountApi::Legacy] {
        in_child(|| {
            fresh_mount_ns();
            mount_tmpfs(&src.join("sub"));
            let root = Root::open(&root_path).unwrap();
            root.mount_with(
                &Mount::bind(&src, "/vol").options("rbind,rro").unwrap(),
                api,
            )
            .unwrap();
            assert_eq!(
                write_errno(&root_path.join("vol/f")),
                libc::EROFS,
                "{api:?}"
            );
            assert_eq!(
                write_errno(&root_path.join("vol/sub/f")),
                libc::EROFS,
                "{api:?}"
            );
            // The source stays writable.
            assert_eq!(write_errno(&src.join("sub/f")), 0);
            // A plain read-only bind: the flag is honoured (no silent read-write first bind).
            root.mount_with(&Mount::bind(&src, "/plain").flags(MountFlags::RDONLY), api)
                .unwrap();
            assert_eq!(
                write_errno(&root_path.join("plain/g")),
                libc::EROFS,
                "{api:?}"
            );
            // rbind without rro: the submount stays writable.
            root.mount_with(&Mount::rbind(&src, "/rw"), api).unwrap();
            assert_eq!(write_errno(&root_path.join("rw/sub/h")), 0, "{api:?}");
            Ok(())
        });
    }
}

#[test]
fn filesystems_and_propagation_read_back() {
    if !root_or_skip() {
        return;
    }
    let tmp = TempDir::new("chroot-prop");
    let root_path = tmp.path().join("root");
    fs::create_dir_all(&root_path).unwrap();
    for api in [MountApi::New, MountApi::Legacy] {
        in_child(|| {
            fresh_mount_ns();
            let root = Root::open(&root_path).unwrap();
            let cases = [
                ("/shared", Propagation::Shared, "shared:"),
                ("/unbindable", Propagation::Unbindable, "unbindable"),
                ("/private", Propagation::Private, ""),
            ];
            for (dest, prop, want) in cases {
                root.mount_with(
                    &Mount::tmpfs(dest)
                        .data("size=1m,mode=700")
                        .propagation(prop),
                    api,
                )
                .unwrap();
                let mp = root_path.join(&dest[1..]);
                let info = mountinfo();
                let (_, opt) = info
                    .iter()
                    .rev()
                    .find(|(p, _)| p == mp.to_str().unwrap())
                    .unwrap();
                if want.is_empty() {
                    assert!(
                        !opt.contains("shared")
                            && !opt.contains("master")
                            && !opt.contains("unbindable"),
                        "{opt}"
                    );
                } else {
                    assert!(opt.contains(want), "{api:?} {dest}: {opt:?}");
                }
            }
            // Slave needs a master: bind the shared mount, then make the copy a slave.
            root.mount_with(
                &Mount::bind(root_path.join("shared"), "/slave").propagation(Propagation::Slave),
                api,
            )
            .unwrap();
            let info = mountinfo();
            let (_, opt) = info
                .iter()
                .rev()
                .find(|(p, _)| p == root_path.join("slave").to_str().unwrap())
                .unwrap();
            assert!(opt.contains("master:"), "{opt}");
            // proc and sysfs really are what they claim.
            root.mount_with(&Mount::proc("/proc"), api).unwrap();
            assert!(fs::read_to_string(root_path.join("proc/self/status"))
                .unwrap()
                .contains("Pid:"));
            root.mount_with(&Mount::sysfs("/sys"), api).unwrap();
            assert!(root_path.join("sys/kernel").is_dir());
            assert_eq!(write_errno(&root_path.join("sys/x")), libc::EROFS);
            Ok(())
        });
    }
}

#[test]
fn symlinked_proc_and_sys_are_refused() {
    if !root_or_skip() {
        return;
    }
    let tmp = TempDir::new("chroot-procsym");
    let root_path = tmp.path().join("root");
    fs::create_dir_all(root_path.join("elsewhere")).unwrap();
    symlink("/elsewhere", root_path.join("proc")).unwrap();
    symlink("elsewhere", root_path.join("sys")).unwrap();
    in_child(|| {
        fresh_mount_ns();
        let root = Root::open(&root_path).unwrap();
        for m in [
            Mount::proc("/proc"),
            Mount::sysfs("/sys"),
            Mount::tmpfs("/proc/sys/x"),
            Mount::proc("/p/../sys"),
        ] {
            let err = root.mount(&m).unwrap_err();
            assert!(
                matches!(err, iso_chroot::Error::Refused { .. }),
                "{m:?}: {err}"
            );
        }
        assert!(!is_mount_point(&root_path.join("elsewhere")));
        Ok(())
    });
}

#[test]
fn ensure_mount_point_and_remount_readonly() {
    if !root_or_skip() {
        return;
    }
    let tmp = TempDir::new("chroot-mp");
    let root_path = tmp.path().join("root");
    fs::create_dir_all(&root_path).unwrap();
    in_child(|| {
        fresh_mount_ns();
        let root = Root::open(&root_path).unwrap();
        assert!(!iso_chroot::is_mount_root(std::os::fd::AsFd::as_fd(&root)).unwrap());
        let root = root.ensure_mount_point().unwrap();
        assert!(iso_chroot::is_mount_root(std::os::fd::AsFd::as_fd(&root)).unwrap());
        assert!(is_mount_point(&root_path));
        assert_eq!(write_errno(&root_path.join("w")), 0);
        iso_chroot::remount_readonly(std::os::fd::AsFd::as_fd(&root)).unwrap();
        assert_eq!(write_errno(&root_path.join("w2")), libc::EROFS);
        Ok(())
    });
}

#[test]
fn overlay_mqueue_cgroup2_and_devpts() {
    if !root_or_skip() {
        return;
    }
    let tmp = TempDir::new("chroot-fs");
    let root_path = tmp.path().join("root");
    for d in [
        "root",
        "lower",
        "upper-New",
        "work-New",
        "upper-Legacy",
        "work-Legacy",
    ] {
        fs::create_dir_all(tmp.path().join(d)).unwrap();
    }
    fs::write(tmp.path().join("lower/base"), "lower").unwrap();
    for api in [MountApi::New, MountApi::Legacy] {
        in_child(|| {
            fresh_mount_ns();
            let root = Root::open(&root_path).unwrap();
            let t = tmp.path().display();
            let data =
                format!("lowerdir={t}/lower,upperdir={t}/upper-{api:?},workdir={t}/work-{api:?}");
            root.mount_with(
                &Mount::new(iso_chroot::MountKind::Overlay, "/ov")
                    .source("overlay")
                    .data(&data),
                api,
            )
            .unwrap();
            assert_eq!(
                fs::read_to_string(root_path.join("ov/base")).unwrap(),
                "lower"
            );
            fs::write(root_path.join("ov/new"), "upper").unwrap();
            assert_eq!(
                fs::read_to_string(tmp.path().join(format!("upper-{api:?}/new"))).unwrap(),
                "upper"
            );
            root.mount_with(
                &Mount::new(iso_chroot::MountKind::Mqueue, "/dev/mqueue").source("mqueue"),
                api,
            )
            .unwrap();
            root.mount_with(
                &Mount::new(iso_chroot::MountKind::Cgroup2, "/sys/fs/cgroup").source("cgroup2"),
                api,
            )
            .unwrap();
            assert!(root_path.join("sys/fs/cgroup/cgroup.procs").exists());
            root.mount_with(
                &Mount::new(iso_chroot::MountKind::Devpts, "/dev/pts")
                    .source("devpts")
                    .options("newinstance,ptmxmode=0666,nosuid,noexec")
                    .unwrap(),
                api,
            )
            .unwrap();
            assert!(root_path.join("dev/pts/ptmx").exists());
            let types: Vec<String> = fs::read_to_string("/proc/self/mountinfo")
                .unwrap()
                .lines()
                .filter(|l| l.contains(root_path.to_str().unwrap()))
                .map(|l| {
                    l.split(" - ")
                        .nth(1)
                        .unwrap()
                        .split(' ')
                        .next()
                        .unwrap()
                        .to_owned()
                })
                .collect();
            assert_eq!(types, ["overlay", "mqueue", "cgroup2", "devpts"], "{api:?}");
            // A cgroup v1 controller hierarchy (this host is hybrid), read-only as in runc.
            if std::path::Path::new("/sys/fs/cgroup/pids/cgroup.procs").exists() {
                root.mount_with(
                    &Mount::new(iso_chroot::MountKind::Cgroup, "/sys/fs/cgroup/pids")
                        .source("cgroup")
                        .options("pids,ro,nosuid,nodev,noexec")
                        .unwrap(),
                    api,
                )
                .unwrap();
                assert!(
                    root_path.join("sys/fs/cgroup/pids/pids.max").exists()
                        || root_path.join("sys/fs/cgroup/pids/cgroup.procs").exists()
                );
                assert_eq!(
                    write_errno(&root_path.join("sys/fs/cgroup/pids/x")),
                    libc::EROFS
                );
            }
            Ok(())
        });
    }
}
