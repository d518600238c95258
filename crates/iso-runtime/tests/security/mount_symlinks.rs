//! A mount destination that is a symlink to a host path mounts inside the rootfs (the link
//! is resolved with the rootfs as root) or is refused; the host directory is never touched.

use std::fs;
use std::os::unix::fs::symlink;

use serde_json::json;

use iso_testutil::bundle::{text, Fixture};

use crate::{mounts_mentioning, BIN};

#[test]
fn mount_destination_symlink_to_host_stays_in_rootfs() {
    let Some(mut fx) = Fixture::new(BIN, "sec-mntlink") else {
        return;
    };
    let host = fx.path().join("host");
    fs::create_dir(&host).unwrap();
    // Absolute and relative links that would both leave a naive rootfs.join().
    symlink(&host, fx.rootfs().join("abs")).unwrap();
    symlink("../../../../../../..", fx.rootfs().join("rel")).unwrap();
    let mut config = fx.config("touch /abs/pwned-abs /rel/pwned-rel 2>/dev/null; true");
    let mounts = config["mounts"].as_array_mut().unwrap();
    mounts.push(json!({"destination": "/abs", "type": "tmpfs", "source": "tmpfs"}));
    mounts.push(json!({"destination": "/rel", "type": "tmpfs", "source": "tmpfs"}));
    fx.write_config(&config);
    let out = fx.run("mntlink");
    eprintln!("run: {:?} {}", out.status, text(&out.stderr));
    assert!(
        mounts_mentioning(&host).is_empty(),
        "mounted on the host dir"
    );
    assert_eq!(fs::read_dir(&host).unwrap().count(), 0, "host dir written");
    assert!(!std::path::Path::new("/pwned-rel").exists());
    assert!(mounts_mentioning(&fx.bundle()).is_empty());
}
