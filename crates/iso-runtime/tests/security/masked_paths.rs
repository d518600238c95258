//! A masked path is masked by bind-mounting /dev/null over it. If the container's /dev/null
//! is a symlink (to a procfs file), following it would bind a writable procfs file instead
//! (runc CVE-2025-31133): the runtime must refuse, or mask with a real /dev/null.

use std::fs;
use std::os::unix::fs::symlink;

use crate::fixture::{text, Fixture};

#[test]
fn masked_path_with_dev_null_symlink_is_refused_or_harmless() {
    let Some(mut fx) = Fixture::new("sec-mask") else {
        return;
    };
    symlink(
        "/proc/sys/kernel/core_pattern",
        fx.rootfs().join("dev/null"),
    )
    .unwrap();
    let before = fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    let mut config =
        fx.config("stat -c 'kind=%F dev=%t:%T' /proc/keys; echo '|/tmp/pwned' > /proc/keys; true");
    config["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["destination"] != "/dev");
    fx.write_config(&config);
    let out = fx.run("mask");
    let stdout = text(&out.stdout);
    eprintln!("run: {:?} {stdout} {}", out.status, text(&out.stderr));
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(),
        before,
        "core_pattern changed"
    );
    if out.status.success() {
        assert!(
            stdout.contains("kind=character special file dev=1:3"),
            "/proc/keys masked with something else: {stdout}"
        );
    }
}
