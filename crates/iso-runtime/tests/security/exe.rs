//! The host's runtime binary cannot be opened for writing through /proc/PID/exe of any
//! process visible in the container (runc CVE-2019-5736), tried from an `exec` while the
//! container's init still waits (created, not started).

use std::fs;

use iso_testutil::bundle::{text, Fixture};

use crate::BIN;

#[test]
fn runtime_binary_not_writable_through_proc_exe() {
    let Some(mut fx) = Fixture::new(BIN, "sec-exe") else {
        return;
    };
    fx.write_config(&fx.config("true"));
    let before = fs::read(BIN).unwrap();
    let id = fx.id("exe");
    let out = fx.rt(&["create", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let script = "for p in /proc/[0-9]*; do \
                    echo pwned 2>/dev/null >> $p/exe && echo WROTE $p; \
                    echo pwned 2>/dev/null 1<> $p/exe && echo WROTE-RW $p; \
                  done; ls -l /proc/[0-9]*/exe; echo done";
    let out = fx.rt(&["exec", &id, "--", "/bin/sh", "-c", script]);
    let stdout = text(&out.stdout);
    eprintln!("exec: {:?} {stdout} {}", out.status, text(&out.stderr));
    assert!(!stdout.contains("WROTE"), "{stdout}");
    // The waiting init (pid 1) was visible to the exec, so it was tried.
    assert!(stdout.contains("/proc/1/exe"), "{stdout}");
    assert!(
        fs::read(BIN).unwrap() == before,
        "the runtime binary changed"
    );
    assert!(
        fs::read("/bin/busybox").unwrap() == fs::read(fx.rootfs().join("bin/busybox")).unwrap()
    );
}
