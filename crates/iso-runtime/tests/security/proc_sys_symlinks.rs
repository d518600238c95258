//! /proc or /sys in the rootfs as a symlink (to a host directory) is refused: mounting
//! procfs or sysfs through it would land on the host (runc CVE-2019-19921 family).

use std::fs;
use std::os::unix::fs::symlink;

use iso_testutil::bundle::{text, Fixture};

use crate::{mounts_mentioning, BIN};

fn refused_with_symlink(dir: &str) {
    let Some(mut fx) = Fixture::new(BIN, &format!("sec-{dir}")) else {
        return;
    };
    let host = fx.path().join("host");
    fs::create_dir(&host).unwrap();
    fs::write(host.join("marker"), "host").unwrap();
    let inside = fx.rootfs().join(dir);
    fs::remove_dir(&inside).unwrap();
    symlink(&host, &inside).unwrap();
    let mut config = fx.config("true");
    if dir == "sys" {
        config["mounts"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!(
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]}));
    }
    fx.write_config(&config);
    let id = fx.id(dir);
    let out = fx.rt(&["create", &id]);
    assert!(
        !out.status.success(),
        "/{dir} as a symlink to the host was accepted"
    );
    assert!(text(&out.stderr).contains(dir), "{}", text(&out.stderr));
    assert!(
        mounts_mentioning(&host).is_empty(),
        "mounted over the host dir"
    );
    assert_eq!(fs::read_to_string(host.join("marker")).unwrap(), "host");
    assert_eq!(fs::read_dir(&host).unwrap().count(), 1, "host dir changed");
    let left = fx.leftovers(&id);
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn proc_as_symlink_is_refused() {
    refused_with_symlink("proc");
}

#[test]
fn sys_as_symlink_is_refused() {
    refused_with_symlink("sys");
}

/// /proc as a symlink to another directory of the rootfs (not the host): still not procfs
/// where the runtime expects it, so it is refused too.
#[test]
fn proc_as_symlink_inside_rootfs_is_refused() {
    let Some(mut fx) = Fixture::new(BIN, "sec-proc-in") else {
        return;
    };
    fs::create_dir(fx.rootfs().join("fakeproc")).unwrap();
    fs::remove_dir(fx.rootfs().join("proc")).unwrap();
    symlink("fakeproc", fx.rootfs().join("proc")).unwrap();
    fx.write_config(&fx.config("true"));
    let id = fx.id("procin");
    let out = fx.rt(&["create", &id]);
    assert!(!out.status.success(), "/proc symlink accepted");
    assert!(fx.leftovers(&id).is_empty());
}
