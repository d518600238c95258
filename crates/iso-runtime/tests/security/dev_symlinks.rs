//! /dev and /dev/console (and the default device nodes) that are symlinks in the rootfs are
//! not followed onto the host.

use std::fs;
use std::os::unix::fs::symlink;

use iso_testutil::bundle::{text, Fixture};

use crate::{mounts_mentioning, BIN};

/// The rootfs' own /dev (no tmpfs over it) holds links to a host file for every default
/// device; the runtime must not bind devices over, or create nodes at, the host file.
#[test]
fn device_symlinks_in_rootfs_dev_are_not_followed() {
    let Some(mut fx) = Fixture::new(BIN, "sec-devlink") else {
        return;
    };
    let host = fx.path().join("host");
    fs::create_dir(&host).unwrap();
    let victim = host.join("victim");
    fs::write(&victim, "host file").unwrap();
    for d in [
        "console", "null", "zero", "full", "tty", "random", "urandom", "ptmx",
    ] {
        symlink(&victim, fx.rootfs().join("dev").join(d)).unwrap();
    }
    let mut config = fx.config("echo pwned > /dev/console; echo pwned > /dev/null; true");
    // Keep the rootfs' /dev: drop the tmpfs mount on /dev.
    config["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["destination"] != "/dev");
    fx.write_config(&config);
    let out = fx.run("devlink");
    eprintln!("run: {:?} {}", out.status, text(&out.stderr));
    assert_eq!(fs::read_to_string(&victim).unwrap(), "host file");
    assert!(
        mounts_mentioning(&host).is_empty(),
        "mounted over the host file"
    );
    assert_eq!(fs::read_dir(&host).unwrap().count(), 1);
}

/// /dev itself a symlink to a host directory.
#[test]
fn dev_as_symlink_is_not_followed() {
    let Some(mut fx) = Fixture::new(BIN, "sec-devdir") else {
        return;
    };
    let host = fx.path().join("host");
    fs::create_dir(&host).unwrap();
    fs::remove_dir(fx.rootfs().join("dev")).unwrap();
    symlink(&host, fx.rootfs().join("dev")).unwrap();
    let mut config = fx.config("touch /dev/pwned; true");
    config["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["destination"] != "/dev");
    fx.write_config(&config);
    let out = fx.run("devdir");
    eprintln!("run: {:?} {}", out.status, text(&out.stderr));
    assert!(
        mounts_mentioning(&host).is_empty(),
        "mounted on the host dir"
    );
    assert_eq!(fs::read_dir(&host).unwrap().count(), 0, "host dir written");
}
