//! A masked path is masked by bind-mounting /dev/null over it. If the container's /dev/null
//! is a symlink (to a procfs file), following it would bind a writable procfs file instead
//! (runc CVE-2025-31133): the runtime must refuse, or mask with a real /dev/null.

use std::fs;
use std::os::unix::fs::symlink;

use iso_testutil::bundle::{text, Fixture};

use crate::BIN;

#[test]
fn masked_path_with_dev_null_symlink_is_refused_or_harmless() {
    let Some(mut fx) = Fixture::new(BIN, "sec-mask") else {
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

/// The same attack as a race: a host thread keeps swapping the rootfs' /dev/null between a
/// real null device node and a symlink to a procfs file while containers are created. The
/// container only inspects what masks /proc/keys (no writes: harmless even if it loses).
#[test]
fn masked_path_with_racing_dev_null_swap_is_harmless() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let Some(mut fx) = Fixture::new(BIN, "sec-maskrace") else {
        return;
    };
    let mut config = fx.config("stat -c 'kind=%F dev=%t:%T' /proc/keys");
    config["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["destination"] != "/dev");
    fx.write_config(&config);
    let null = fx.rootfs().join("dev/null");
    let stop = Arc::new(AtomicBool::new(false));
    let racer = {
        let (stop, null) = (stop.clone(), null.clone());
        std::thread::spawn(move || {
            let tmp = null.with_file_name("null.tmp");
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let _ = fs::remove_file(&tmp);
                let ok = if n % 2 == 0 {
                    symlink("/proc/sys/kernel/core_pattern", &tmp).is_ok()
                } else {
                    std::process::Command::new("mknod")
                        .args(["-m", "666"])
                        .arg(&tmp)
                        .args(["c", "1", "3"])
                        .status()
                        .is_ok_and(|s| s.success())
                };
                if ok {
                    let _ = fs::rename(&tmp, &null);
                }
                n += 1;
            }
        })
    };
    let mut ran = 0;
    let mut bad = Vec::new();
    for i in 0..10 {
        let out = fx.run(&format!("maskrace{i}"));
        let stdout = text(&out.stdout);
        if out.status.success() {
            ran += 1;
            if !stdout.contains("kind=character special file dev=1:3") {
                bad.push(stdout);
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    racer.join().unwrap();
    eprintln!("{ran} of 10 containers ran while racing");
    assert!(
        bad.is_empty(),
        "/proc/keys masked with something else: {bad:?}"
    );
}
