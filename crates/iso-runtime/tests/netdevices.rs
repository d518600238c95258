//! `linux.netDevices` (runtime-spec 1.3) through the `iso-runtime` binary.
//!
//! The host's interfaces are never involved: each test makes a network namespace of its own
//! (`ip netns add`), creates a veth pair in it (this kernel has no `dummy` driver), and runs
//! the runtime *inside* that namespace (`nsenter --net`), so the runtime's namespace, where
//! devices come from and go back to, is the test's. Containers are deleted the same way by
//! a guard, never by the fixture's own cleanup (which runs the runtime in the host's).
//!
//! No differential run: crun 1.8.1 and runc 1.1.5, installed here, predate the field (runc's
//! `features` lists no `netDevices`; crun 1.8.1 has no `features`) and ignore it: run on the
//! first test's bundle, crun leaves `nd0` in the runtime's namespace and its container sees
//! only `lo` (checked by hand when this was written; nothing to compare).

use std::fs;
use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use iso_testutil::bundle::{run_to_files, text, Fixture};
use serde_json::{json, Value};

fn bin() -> String {
    std::env::var("ISO_RUNTIME_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_iso-runtime").to_owned())
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A network namespace of the test's own, with a veth pair `nd0`/`nd0peer` whose `nd0` has
/// an IPv4 and an IPv6 address; deleted (with what is in it) on drop.
struct TestNetns {
    name: String,
}

impl TestNetns {
    fn new(tag: &str) -> TestNetns {
        let ns = TestNetns::empty(tag);
        ns.sh(
            "ip link add nd0 type veth peer name nd0peer && ip addr add 10.78.0.1/24 dev nd0 \
             && ip addr add fd78::1/64 dev nd0 nodad && ip link set nd0 up",
        );
        ns
    }

    /// A namespace with only `lo` (a pod's, say).
    fn empty(tag: &str) -> TestNetns {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let ns = TestNetns {
            name: format!("iso-nd-{tag}-{}-{n}", std::process::id()),
        };
        let add = Command::new("ip")
            .args(["netns", "add", &ns.name])
            .output()
            .unwrap();
        assert!(add.status.success(), "ip netns add: {}", text(&add.stderr));
        ns
    }

    fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    /// Runs `script` in the namespace; panics when it fails.
    fn sh(&self, script: &str) -> String {
        let out = self.try_sh(script);
        assert!(out.status.success(), "{script}: {}", text(&out.stderr));
        text(&out.stdout)
    }

    fn try_sh(&self, script: &str) -> Output {
        Command::new("nsenter")
            .arg(format!("--net={}", self.path()))
            .args(["sh", "-c", script])
            .output()
            .unwrap()
    }

    /// `ip -o addr show dev nd0` here: nd0 is back, under its name, with both addresses.
    fn assert_nd0_home(&self, when: &str) {
        let addrs = self.sh("ip -o addr show dev nd0");
        assert!(
            addrs.contains("10.78.0.1/24") && addrs.contains("fd78::1/64"),
            "{when}: nd0 lost an address: {addrs}"
        );
        assert!(
            self.try_sh("ip link show eth9").stdout.is_empty(),
            "{when}: eth9 here"
        );
    }
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// The fixture, its namespace, and the containers to delete (in that namespace) on drop.
struct Setup {
    ids: Vec<String>,
    netns: TestNetns,
    fx: Fixture,
}

impl Setup {
    fn new(tag: &str) -> Option<Setup> {
        let fx = Fixture::new(bin(), tag)?;
        // The fixture's rootfs has no `ip` applet.
        symlink("busybox", fx.rootfs().join("bin/ip")).unwrap();
        Some(Setup {
            ids: Vec::new(),
            netns: TestNetns::new(tag),
            fx,
        })
    }

    fn id(&mut self, name: &str) -> String {
        let id = format!("nd-{name}-{}", std::process::id());
        self.ids.push(id.clone());
        id
    }

    /// `iso-runtime --root <root> <args>` in the test's namespace.
    fn rt(&self, args: &[&str]) -> Output {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net={}", self.netns.path()))
            .arg(self.fx.bin())
            .arg("--root")
            .arg(self.fx.root())
            .args(args)
            .env_remove("ISO_POLICY")
            .current_dir(self.fx.bundle())
            .stdin(Stdio::null());
        run_to_files(c, self.fx.path())
    }

    /// A container running `script` that is given `nd0` as `eth9` (or as `name`).
    fn config(&self, script: &str, devices: Value) -> Value {
        let mut config = self.fx.config(script);
        config["linux"]["netDevices"] = devices;
        config
    }

    fn state_dir(&self, id: &str) -> PathBuf {
        self.fx.root().join(id)
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = self.rt(&["delete", "--force", id]);
        }
    }
}

/// Inside: the device under its new name, up, with both addresses; the test's namespace no
/// longer has it. After `delete`: back under its first name with its addresses; twice, as
/// the spec asks (create and delete can be repeated with the same result).
#[test]
fn device_moves_in_renamed_with_addresses_and_back_on_delete() {
    let Some(mut s) = Setup::new("move") else {
        return;
    };
    s.fx.write_config(&s.config("sleep 600", json!({"nd0": {"name": "eth9"}})));
    for round in 1..=2 {
        let id = s.id(&format!("move{round}"));
        let out = s.rt(&["run", "-d", &id]);
        assert!(out.status.success(), "run: {}", text(&out.stderr));
        let inside = s.rt(&["exec", &id, "ip", "-o", "addr", "show", "dev", "eth9"]);
        assert!(inside.status.success(), "exec: {}", text(&inside.stderr));
        let inside = text(&inside.stdout);
        assert!(inside.contains("10.78.0.1/24"), "round {round}: {inside}");
        assert!(inside.contains("fd78::1/64"), "round {round}: {inside}");
        let link = s.rt(&["exec", &id, "ip", "-o", "link", "show", "dev", "eth9"]);
        assert!(
            text(&link.stdout).contains(",UP"),
            "not up: {}",
            text(&link.stdout)
        );
        assert!(
            !s.netns.try_sh("ip link show nd0").status.success(),
            "nd0 is still in the runtime's namespace"
        );
        let del = s.rt(&["delete", "--force", &id]);
        assert!(del.status.success(), "delete: {}", text(&del.stderr));
        assert!(
            text(&del.stderr).is_empty(),
            "warnings: {}",
            text(&del.stderr)
        );
        s.netns.assert_nd0_home(&format!("after delete {round}"));
    }
}

/// A foreground `run`: the container's processes end before its `delete`; the namespace,
/// pinned, does not, so the device still comes back. Without `name`, the device keeps its
/// host name inside.
#[test]
fn foreground_run_returns_the_device_after_the_container_ended() {
    let Some(mut s) = Setup::new("run") else {
        return;
    };
    s.fx.write_config(&s.config("ip -o addr show dev nd0", json!({"nd0": {}})));
    let id = s.id("run");
    let out = s.rt(&["run", &id]);
    assert!(out.status.success(), "run: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("10.78.0.1/24"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).is_empty(),
        "warnings: {}",
        text(&out.stderr)
    );
    s.netns.assert_nd0_home("after run");
}

/// Refused before anything moves: a bad name names its field. A device that does not exist
/// fails `create` naming its entry, after `nd0` (sorted first) was moved: `nd0` comes back
/// and nothing is left (no state directory, no process).
#[test]
fn bad_entries_name_the_field_and_leave_nothing_moved() {
    let Some(mut s) = Setup::new("bad") else {
        return;
    };
    let cases = [
        (
            json!({"nd0": {"name": "a/b"}}),
            r#"linux.netDevices["nd0"].name"#,
        ),
        (
            json!({"nd0": {"name": "eth9"}, "nope0": {"name": "eth9"}}),
            r#"linux.netDevices["nope0"].name"#,
        ),
        (
            json!({"nd0": {"name": "eth9"}, "nope0": {}}),
            r#"linux.netDevices["nope0"]"#,
        ),
    ];
    for (n, (devices, field)) in cases.into_iter().enumerate() {
        s.fx.write_config(&s.config("true", devices.clone()));
        let id = s.id(&format!("bad{n}"));
        let out = s.rt(&["create", &id]);
        assert!(!out.status.success(), "{devices} was accepted");
        // The log line quotes the message, escaping the field's quotes.
        let stderr = text(&out.stderr).replace("\\\"", "\"");
        assert!(stderr.contains(field), "{devices}: {}", text(&out.stderr));
        assert!(
            !s.state_dir(&id).exists(),
            "{devices}: state directory left"
        );
        s.netns.assert_nd0_home(&devices.to_string());
    }
    // Moved and pinned, then a createRuntime hook fails: all undone.
    let mut config = s.config("true", json!({"nd0": {"name": "eth9"}}));
    config["hooks"] = json!({"createRuntime": [{"path": "/bin/false"}]});
    s.fx.write_config(&config);
    let id = s.id("hookfail");
    let out = s.rt(&["create", &id]);
    assert!(!out.status.success(), "a failing hook was accepted");
    assert!(!s.state_dir(&id).exists(), "state directory left");
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&id), "pin left mounted");
    s.netns.assert_nd0_home("failed hook");
    // Without a network namespace of its own.
    let mut config = s.config("true", json!({"nd0": {}}));
    config["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "mount"}, {"type": "uts"}]);
    s.fx.write_config(&config);
    let id = s.id("nonet");
    let out = s.rt(&["create", &id]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("linux.netDevices needs a network namespace of the"),
        "{}",
        text(&out.stderr)
    );
    s.netns.assert_nd0_home("no netns");
    assert!(!s.state_dir(&id).exists(), "state directory left");
}

/// A detached container that ended before `delete`: its new namespace is pinned in the
/// state directory, so `delete` still moves the device back. Without the pin (unmounted
/// here by hand, as when `delete` runs where the mount is not visible) the namespace ends
/// and the kernel destroys the veth (a physical device would go to the initial namespace,
/// not the runtime's); `delete` succeeds and says so.
#[test]
fn detached_container_that_ended_returns_the_device_through_its_pin() {
    let Some(mut s) = Setup::new("ended") else {
        return;
    };
    s.fx.write_config(&s.config("true", json!({"nd0": {}})));
    for unpin in [false, true] {
        let id = s.id(&format!("ended{unpin}"));
        let out = s.rt(&["run", "-d", &id]);
        assert!(out.status.success(), "run: {}", text(&out.stderr));
        // `state` only reads the record: the fixture's, in the host's namespace, will do.
        assert_eq!(s.fx.wait_status(&id, "stopped")["status"], "stopped");
        let pin = s.state_dir(&id).join("netns");
        if unpin {
            let umount = Command::new("umount").arg(&pin).output().unwrap();
            assert!(umount.status.success(), "umount: {}", text(&umount.stderr));
        }
        let del = s.rt(&["delete", &id]);
        assert!(del.status.success(), "delete: {}", text(&del.stderr));
        let stderr = text(&del.stderr);
        if unpin {
            assert!(stderr.contains("namespace ended before delete"), "{stderr}");
            assert!(!s.netns.try_sh("ip link show nd0").status.success());
        } else {
            assert!(stderr.is_empty(), "warnings: {stderr}");
            s.netns
                .assert_nd0_home("after delete of an ended container");
        }
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mounts.contains(&id), "pin left mounted");
    }
}

/// A network namespace joined by path (a pod's, made and kept by the caller): the device
/// goes there, stays after the container ended, and `delete` brings it back from there.
/// Joining the runtime's own namespace leaves nowhere to move to: refused, nothing moved.
#[test]
fn joined_namespace_keeps_the_device_until_delete() {
    let Some(mut s) = Setup::new("pod") else {
        return;
    };
    let pod = TestNetns::empty("pod");
    let mut config = s.config("true", json!({"nd0": {"name": "eth9"}}));
    config["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "mount"}, {"type": "uts"},
                                          {"type": "network", "path": pod.path()}]);
    s.fx.write_config(&config);
    let id = s.id("pod");
    let out = s.rt(&["run", &id]);
    assert!(out.status.success(), "run: {}", text(&out.stderr));
    s.netns.assert_nd0_home("after run in a pod");
    assert!(
        text(&out.stderr).is_empty(),
        "warnings: {}",
        text(&out.stderr)
    );

    let id = s.id("pod-detached");
    let out = s.rt(&["run", "-d", &id]);
    assert!(out.status.success(), "run -d: {}", text(&out.stderr));
    // `state` only reads the record: the fixture's, in the host's namespace, will do.
    assert_eq!(s.fx.wait_status(&id, "stopped")["status"], "stopped");
    let inside = pod.sh("ip -o addr show dev eth9");
    assert!(inside.contains("10.78.0.1/24"), "not in the pod: {inside}");
    let del = s.rt(&["delete", &id]);
    assert!(del.status.success(), "delete: {}", text(&del.stderr));
    assert!(
        text(&del.stderr).is_empty(),
        "warnings: {}",
        text(&del.stderr)
    );
    s.netns.assert_nd0_home("after delete from the pod");

    config["linux"]["namespaces"][3]["path"] = json!(s.netns.path());
    s.fx.write_config(&config);
    let id = s.id("own");
    let out = s.rt(&["create", &id]);
    assert!(
        !out.status.success(),
        "joining the runtime's own namespace was accepted"
    );
    assert!(
        text(&out.stderr).contains("runtime's own"),
        "{}",
        text(&out.stderr)
    );
    assert!(!s.state_dir(&id).exists(), "state directory left");
    s.netns.assert_nd0_home("own namespace");
}
