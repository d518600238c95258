//! /dev setup, masked paths and read-only paths, as root in fresh mount namespaces.

mod common;

use std::fs;
use std::os::fd::AsFd;
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt, PermissionsExt};

use common::{fresh_mount_ns, mount_tmpfs, write_errno};
use iso_chroot::{Device, DeviceMode, Masked, Mount, NullDevice, Root};
use iso_testutil::{in_child, root_or_skip, TempDir};

#[test]
fn setup_dev_makes_the_right_nodes_and_links() {
    if !root_or_skip() {
        return;
    }
    let tmp = TempDir::new("chroot-dev");
    let root_path = tmp.path().join("root");
    fs::create_dir_all(&root_path).unwrap();
    in_child(|| {
        fresh_mount_ns();
        let root = Root::open(&root_path).unwrap();
        root.setup_dev(DeviceMode::Mknod).unwrap();
        for dev in iso_chroot::default_devices() {
            let p = root_path.join(dev.path().strip_prefix("/").unwrap());
            let md = fs::symlink_metadata(&p).unwrap();
            assert!(md.file_type().is_char_device(), "{p:?}");
            let (ma, mi) = dev.major_minor();
            assert_eq!(md.rdev(), libc::makedev(ma, mi), "{p:?}");
            assert_eq!(md.permissions().mode() & 0o7777, 0o666, "{p:?}");
        }
        for (name, target) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stderr", "/proc/self/fd/2"),
            ("ptmx", "pts/ptmx"),
        ] {
            assert_eq!(
                fs::read_link(root_path.join("dev").join(name))
                    .unwrap()
                    .to_str(),
                Some(target)
            );
        }
        assert!(root_path.join("dev/pts/ptmx").exists());
        assert_eq!(
            fs::metadata(root_path.join("dev/shm"))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777,
            0o1777
        );
        // A custom node with owner and mode; a fifo.
        root.create_device(
            &Device::char("/dev/fuse", 10, 229)
                .mode(0o600)
                .owner(1000, 1000),
            DeviceMode::Mknod,
        )
        .unwrap();
        let md = fs::symlink_metadata(root_path.join("dev/fuse")).unwrap();
        assert_eq!(
            (md.rdev(), md.uid(), md.gid(), md.mode() & 0o7777),
            (libc::makedev(10, 229), 1000, 1000, 0o600)
        );
        root.create_device(
            &Device::new(iso_chroot::DeviceKind::Fifo, "/dev/fifo", 0, 0),
            DeviceMode::Mknod,
        )
        .unwrap();
        assert!(fs::symlink_metadata(root_path.join("dev/fifo"))
            .unwrap()
            .file_type()
            .is_fifo());
        Ok(())
    });
}

#[test]
fn bind_host_device_mode() {
    if !root_or_skip() {
        return;
    }
    let tmp = TempDir::new("chroot-devbind");
    let root_path = tmp.path().join("root");
    fs::create_dir_all(&root_path).unwrap();
    in_child(|| {
        fresh_mount_ns();
        let root = Root::open(&root_path).unwrap();
        root.mount(&Mount::tmpfs("/dev")).unwrap();
        root.create_device(&Device::char("/dev/zero", 1, 5), DeviceMode::BindHost)
            .unwrap();
        let md = fs::metadata(root_path.join("dev/zero")).unwrap();
        assert_eq!(md.rdev(), libc::makedev(1, 5));
        // The host's device must match the description.
        let err = root
            .create_device(&Device::char("/dev/null", 1, 5), DeviceMode::BindHost)
            .unwrap_err();
        assert!(matches!(err, iso_chroot::Error::Refused { .. }), "{err}");
        Ok(())
    });
}

#[test]
fn hostile_dev_symlinks_are_replaced_not_followed() {
    if !root_or_skip() {
        return;
    }
    let tmp = TempDir::new("chroot-devsym");
    let root_path = tmp.path().join("root");
    let host_file = tmp.path().join("host-file");
    fs::create_dir_all(root_path.join("dev")).unwrap();
    fs::write(&host_file, "host").unwrap();
    symlink(&host_file, root_path.join("dev/null")).unwrap();
    symlink(&host_file, root_path.join("dev/stdout")).unwrap();
    symlink(&host_file, root_path.join("dev/console")).unwrap();
    in_child(|| {
        fresh_mount_ns();
        let root = Root::open(&root_path).unwrap();
        root.create_default_devices(DeviceMode::Mknod).unwrap();
        root.create_dev_symlinks().unwrap();
        assert!(fs::symlink_metadata(root_path.join("dev/null"))
            .unwrap()
            .file_type()
            .is_char_device());
        assert_eq!(
            fs::read_link(root_path.join("dev/stdout"))
                .unwrap()
                .to_str(),
            Some("/proc/self/fd/1")
        );
        // The console target is a symlink to the host: refused (ELOOP), never followed.
        let pty = open_pty_slave();
        let err = root.bind_console(pty.as_fd()).unwrap_err();
        assert_eq!(err.errno(), Some(libc::ELOOP), "{err}");
        let md = fs::symlink_metadata(&host_file).unwrap();
        assert!(md.file_type().is_file());
        assert_eq!(fs::read_to_string(&host_file).unwrap(), "host");
        // Without the hostile link, the console is the pty.
        fs::remove_file(root_path.join("dev/console")).unwrap();
        root.bind_console(pty.as_fd()).unwrap();
        let want = fs::metadata(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&pty)
        ))
        .unwrap()
        .rdev();
        assert_eq!(
            fs::metadata(root_path.join("dev/console")).unwrap().rdev(),
            want
        );
        Ok(())
    });
}

/// In a root filesystem's own `/dev` (no tmpfs), only the missing links are made: what is
/// there, a symlink to the host included, is kept and never followed.
#[test]
fn missing_dev_symlinks_are_added_and_existing_entries_kept() {
    if !root_or_skip() {
        return;
    }
    let tmp = TempDir::new("chroot-devmissing");
    let root_path = tmp.path().join("root");
    let host_file = tmp.path().join("host-file");
    fs::create_dir_all(root_path.join("dev")).unwrap();
    fs::write(&host_file, "host").unwrap();
    symlink(&host_file, root_path.join("dev/stdout")).unwrap();
    fs::write(root_path.join("dev/fd"), "a file").unwrap();
    in_child(|| {
        let root = Root::open(&root_path).unwrap();
        root.create_missing_dev_symlinks().unwrap();
        let link = |name: &str| fs::read_link(root_path.join("dev").join(name)).ok();
        assert_eq!(link("ptmx").as_deref(), Some("pts/ptmx".as_ref()));
        assert_eq!(link("stdin").as_deref(), Some("/proc/self/fd/0".as_ref()));
        assert_eq!(link("stdout").as_deref(), Some(host_file.as_path()));
        assert_eq!(
            fs::read_to_string(root_path.join("dev/fd")).unwrap(),
            "a file"
        );
        assert_eq!(fs::read_to_string(&host_file).unwrap(), "host");
        // Idempotent.
        root.create_missing_dev_symlinks().unwrap();
        // A root without /dev gets one.
        fs::remove_dir_all(root_path.join("dev")).unwrap();
        root.create_missing_dev_symlinks().unwrap();
        assert_eq!(link("ptmx").as_deref(), Some("pts/ptmx".as_ref()));
        Ok(())
    });
}

fn open_pty_slave() -> fs::File {
    // SAFETY: posix_openpt returns a new descriptor or -1.
    let master = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY) };
    assert!(master >= 0);
    // SAFETY: master is a valid pty master.
    assert_eq!(unsafe { libc::grantpt(master) }, 0);
    assert_eq!(unsafe { libc::unlockpt(master) }, 0);
    let mut buf = [0 as libc::c_char; 64];
    // SAFETY: buf is writable for its length.
    assert_eq!(
        unsafe { libc::ptsname_r(master, buf.as_mut_ptr(), buf.len()) },
        0
    );
    // SAFETY: ptsname_r NUL-terminated buf.
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
        .to_str()
        .unwrap()
        .to_owned();
    // The master is leaked on purpose: the test child exits right after.
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name)
        .unwrap()
}

#[test]
fn masked_paths_read_empty_and_dirs_are_empty_ro_tmpfs() {
    if !root_or_skip() {
        return;
    }
    let tmp = TempDir::new("chroot-mask");
    let root_path = tmp.path().join("root");
    fs::create_dir_all(root_path.join("secretdir/inner")).unwrap();
    fs::write(root_path.join("secret"), "data").unwrap();
    fs::write(root_path.join("secretdir/file"), "data").unwrap();
    in_child(|| {
        fresh_mount_ns();
        let root = Root::open(&root_path).unwrap();
        let null = NullDevice::open().unwrap();
        assert_eq!(root.mask_path("/secret", &null).unwrap(), Masked::File);
        assert_eq!(
            root.mask_path("/secretdir", &null).unwrap(),
            Masked::Directory
        );
        assert_eq!(root.mask_path("/missing", &null).unwrap(), Masked::Missing);
        assert_eq!(fs::read_to_string(root_path.join("secret")).unwrap(), "");
        assert_eq!(
            fs::read_dir(root_path.join("secretdir")).unwrap().count(),
            0
        );
        assert_eq!(write_errno(&root_path.join("secretdir/new")), libc::EROFS);
        // Real procfs files, as a runtime masks them.
        root.mount(&Mount::proc("/proc")).unwrap();
        root.mask_paths([
            "/proc/kcore",
            "/proc/keys",
            "/proc/does-not-exist",
            "/proc/acpi",
        ])
        .unwrap();
        assert_eq!(fs::read(root_path.join("proc/keys")).unwrap().len(), 0);
        assert!(fs::read_to_string("/proc/keys").is_ok());
        if root_path.join("proc/acpi").is_dir() {
            assert_eq!(
                fs::read_dir(root_path.join("proc/acpi")).unwrap().count(),
                0
            );
        }
        Ok(())
    });
}

#[test]
fn symlinked_or_fake_dev_null_is_refused() {
    if !root_or_skip() {
        return;
    }
    let tmp = TempDir::new("chroot-null");
    let link = tmp.path().join("null");
    symlink("/dev/null", &link).unwrap();
    let file = tmp.path().join("file");
    fs::write(&file, "").unwrap();
    let proc_link = tmp.path().join("proc-link");
    symlink("/proc/sys/kernel/core_pattern", &proc_link).unwrap();
    for p in [
        link.as_path(),
        file.as_path(),
        proc_link.as_path(),
        "/dev/zero".as_ref(),
    ] {
        let err = NullDevice::open_at(p).unwrap_err();
        assert!(
            matches!(err, iso_chroot::Error::Refused { .. }),
            "{p:?}: {err}"
        );
    }
    NullDevice::open().unwrap();
}

#[test]
fn readonly_paths_give_erofs_recursively() {
    if !root_or_skip() {
        return;
    }
    let tmp = TempDir::new("chroot-ro");
    let root_path = tmp.path().join("root");
    fs::create_dir_all(root_path.join("ro/sub")).unwrap();
    fs::create_dir_all(root_path.join("rw")).unwrap();
    in_child(|| {
        fresh_mount_ns();
        mount_tmpfs(&root_path.join("ro/sub"));
        let root = Root::open(&root_path).unwrap();
        root.readonly_paths(["/ro", "/missing"]).unwrap();
        assert_eq!(write_errno(&root_path.join("ro/x")), libc::EROFS);
        assert_eq!(write_errno(&root_path.join("ro/sub/x")), libc::EROFS);
        assert_eq!(write_errno(&root_path.join("rw/x")), 0);
        Ok(())
    });
}

/// In a user namespace mknod is not allowed: `DeviceMode::Auto` bind-mounts the host's
/// devices instead.
#[test]
fn user_namespace_falls_back_to_host_binds() {
    host_binds_in_a_user_namespace(0);
}

/// The same as an unprivileged user (`nobody`) who made the user namespace: what a rootless
/// container's init does.
#[test]
fn unprivileged_user_namespace_falls_back_to_host_binds() {
    host_binds_in_a_user_namespace(65534);
}

/// As `uid` (and the same gid), in a new user and mount namespace that maps 0 to it.
fn host_binds_in_a_user_namespace(uid: u32) {
    if !root_or_skip() {
        return;
    }
    let tmp = TempDir::new("chroot-userns");
    let root_path = tmp.path().join("root");
    fs::create_dir_all(root_path.join("dev")).unwrap();
    in_child(move || {
        // SAFETY: credential and namespace calls with integer arguments; the in_child child
        // is single-threaded, as CLONE_NEWUSER requires.
        unsafe {
            if uid != 0 {
                assert_eq!(libc::setgroups(0, std::ptr::null()), 0);
                assert_eq!(libc::setresgid(uid, uid, uid), 0);
                assert_eq!(libc::setresuid(uid, uid, uid), 0);
                // The uid change made us non-dumpable: our /proc files would be root's.
                assert_eq!(libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0), 0);
            }
            let r = libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS);
            assert_eq!(r, 0, "unshare: {}", std::io::Error::last_os_error());
        }
        // Map root to our own euid, the one map an unprivileged user may write.
        fs::write("/proc/self/setgroups", "deny").unwrap();
        fs::write("/proc/self/uid_map", format!("0 {uid} 1")).unwrap();
        fs::write("/proc/self/gid_map", format!("0 {uid} 1")).unwrap();
        fresh_mount_ns();
        let root = Root::open(&root_path).unwrap();
        root.mount(&Mount::tmpfs("/dev")).unwrap();
        let err = root
            .create_device(&Device::char("/dev/null", 1, 3), DeviceMode::Mknod)
            .unwrap_err();
        assert_eq!(err.errno(), Some(libc::EPERM), "{err}");
        root.create_default_devices(DeviceMode::Auto).unwrap();
        for dev in iso_chroot::default_devices() {
            let p = root_path.join(dev.path().strip_prefix("/").unwrap());
            let (ma, mi) = dev.major_minor();
            assert_eq!(
                fs::metadata(&p).unwrap().rdev(),
                libc::makedev(ma, mi),
                "{p:?}"
            );
        }
        Ok(())
    });
}
