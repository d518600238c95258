//! `checkpoint` and `restore` with CRIU.
//!
//! CRIU 3.17 does not initialise on this development host's kernel (6.18: "Failed to fill
//! self vdso symtable"), so the host tests check the failures: a clear error (CRIU's message
//! and its log's path, or the container's state) and nothing left behind. The whole cycle
//! runs in the VM tier's guest (Debian's 6.1 kernel): `vm_checkpoint_restore_counter`.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use iso_testutil::bundle::{text, Fixture};
use serde_json::{json, Value};

fn bin() -> String {
    std::env::var("ISO_RUNTIME_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_iso-runtime").to_owned())
}

fn criu_installed() -> bool {
    let found = ["/usr/sbin/criu", "/usr/bin/criu", "/sbin/criu"]
        .iter()
        .any(|p| Path::new(p).exists());
    if !found && std::env::var("ISO_REQUIRE_ROOT").as_deref() == Ok("1") {
        panic!("criu is not installed (scripts/setup.sh installs it)");
    }
    if !found {
        eprintln!("skipped: criu is not installed (scripts/setup.sh installs it)");
    }
    found
}

/// A container incrementing a counter in `/data/cnt` (a bind mount of the fixture's
/// `data/`) every 0.1 s, with a memory limit besides the fixture's pids limit. Each start
/// of the script adds a line to `/data/starts` (a restore must not start it again).
fn counter_config(fx: &Fixture) -> Value {
    let data = fx.path().join("data");
    fs::create_dir_all(&data).unwrap();
    fs::create_dir_all(fx.rootfs().join("data")).unwrap();
    let mut config = fx.config("echo started >> /data/starts; i=0; while :; do i=$((i+1)); echo $i > /data/cnt; sleep 0.1; done");
    config["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/data", "type": "bind", "source": data, "options": ["rbind"]
    }));
    config["linux"]["resources"]["memory"] = json!({"limit": 64 << 20});
    config
}

fn counter(fx: &Fixture) -> u64 {
    fs::read_to_string(fx.path().join("data/cnt"))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

/// Waits (at most `limit`) until the counter passes `above`; returns it.
fn counter_above(fx: &Fixture, above: u64, limit: Duration) -> u64 {
    let deadline = Instant::now() + limit;
    loop {
        let n = counter(fx);
        if n > above || Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ok(fx: &Fixture, args: &[&str]) -> String {
    let out = fx.rt(args);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// `delete --force`, then nothing of the container is left (processes get `secs` to go).
fn delete_leaves_nothing(fx: &Fixture, id: &str, secs: u64) {
    ok(fx, &["delete", "--force", id]);
    let left = fx.leftovers_after(id, Duration::from_secs(secs));
    assert_eq!(left, Vec::<String>::new());
}

/// Whether a `vm_` test runs: in the guest (pure cgroup v2) with CRIU installed.
fn in_vm_with_criu() -> bool {
    iso_testutil::vm_feature_or_skip(iso_testutil::VmFeature::CgroupV2) && criu_installed()
}

/// `restore -d --bundle B --image-path IMAGE [extra] ID`.
fn restore_detached(fx: &Fixture, id: &str, image: &Path, extra: &[&str]) -> std::process::Output {
    let bundle = bundle(fx);
    let mut args = vec!["restore", "-d", "--bundle", &bundle];
    args.extend(["--image-path", image.to_str().unwrap()]);
    args.extend(extra);
    args.push(id);
    fx.rt(&args)
}

fn bundle(fx: &Fixture) -> String {
    fx.bundle().to_string_lossy().into_owned()
}

#[test]
fn checkpoint_of_missing_or_created_container_fails_and_changes_nothing() {
    let Some(mut fx) = Fixture::new(bin(), "ck-state") else {
        return;
    };
    let image = fx.path().join("img");
    let image = image.to_str().unwrap();
    let out = fx.rt(&["checkpoint", "--image-path", image, "nope"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("container nope does not exist"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !Path::new(image).exists(),
        "the image directory was created"
    );

    fx.write_config(&fx.config("sleep 30"));
    let id = fx.id("created");
    ok(&fx, &["create", "--bundle", &bundle(&fx), &id]);
    let out = fx.rt(&["checkpoint", "--image-path", image, &id]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("is created") && err.contains("checkpoint"),
        "{err}"
    );
    assert_eq!(fx.state(&id)["status"], "created");
    ok(&fx, &["delete", "--force", &id]);
    assert_eq!(fx.leftovers(&id), Vec::<String>::new());
}

#[test]
fn restore_from_a_missing_image_leaves_nothing() {
    let Some(mut fx) = Fixture::new(bin(), "ck-noimg") else {
        return;
    };
    fx.write_config(&counter_config(&fx));
    let id = fx.id("noimg");
    let image = fx.path().join("missing");
    let out = restore_detached(&fx, &id, &image, &[]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("open the image directory") && err.contains("missing"),
        "{err}"
    );
    assert_eq!(fx.leftovers(&id), Vec::<String>::new());
}

/// A corrupt `descriptors.json` beside the image fails `restore` naming the file, before
/// CRIU is asked, and leaves nothing.
#[test]
fn restore_with_corrupt_descriptors_names_the_file_and_leaves_nothing() {
    let Some(mut fx) = Fixture::new(bin(), "ck-baddesc") else {
        return;
    };
    fx.write_config(&counter_config(&fx));
    let id = fx.id("baddesc");
    let image = fx.path().join("img");
    fs::create_dir_all(&image).unwrap();
    fs::write(image.join("descriptors.json"), "not json").unwrap();
    let out = restore_detached(&fx, &id, &image, &[]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("parse") && err.contains("descriptors.json"),
        "{err}"
    );
    assert_eq!(fx.leftovers(&id), Vec::<String>::new());
}

/// On a host where CRIU fails (this one) or with an image that holds nothing (anywhere):
/// the error is CRIU's with its log's path, and no state directory, cgroup or process is
/// left.
#[test]
fn failed_criu_restore_names_its_log_and_leaves_nothing() {
    if !criu_installed() {
        return;
    }
    let Some(mut fx) = Fixture::new(bin(), "ck-empty") else {
        return;
    };
    fx.write_config(&counter_config(&fx));
    let id = fx.id("empty");
    let image = fx.path().join("empty-img");
    fs::create_dir_all(&image).unwrap();
    let out = restore_detached(&fx, &id, &image, &[]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    let log = image.join("restore.log");
    assert!(
        err.contains("criu restore") || err.contains("criu "),
        "{err}"
    );
    assert!(err.contains(log.to_str().unwrap()), "no log path in: {err}");
    assert!(log.exists(), "{} missing", log.display());
    assert_eq!(fx.leftovers(&id), Vec::<String>::new());
}

/// Where CRIU cannot dump (this host's kernel), `checkpoint` fails with CRIU's error and its
/// log, and the container keeps running, untouched.
#[test]
fn failed_criu_dump_leaves_the_container_running() {
    if !criu_installed() || !iso_testutil::root_or_skip() {
        return;
    }
    if iso_testutil::VmFeature::CgroupV2.present() {
        eprintln!("skipped: the VM guest's CRIU dumps (vm_checkpoint_restore_counter)");
        return;
    }
    let Some(mut fx) = Fixture::new(bin(), "ck-fail") else {
        return;
    };
    fx.write_config(&counter_config(&fx));
    let id = fx.id("fail");
    ok(&fx, &["run", "-d", "--bundle", &bundle(&fx), &id]);
    let image = fx.path().join("img");
    let out = fx.rt(&["checkpoint", "--image-path", image.to_str().unwrap(), &id]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("criu "), "{err}");
    assert!(
        err.contains(image.join("dump.log").to_str().unwrap()),
        "{err}"
    );
    assert_eq!(fx.state(&id)["status"], "running");
    let n = counter_above(&fx, 0, Duration::from_secs(5));
    assert!(
        counter_above(&fx, n, Duration::from_secs(5)) > n,
        "the counter stopped"
    );
    delete_leaves_nothing(&fx, &id, 5);
}

/// In the guest: a counter checkpointed with `--leave-running` keeps counting; checkpointed
/// plainly it stops and its container is gone; restored from the image it continues from
/// its last value, in its cgroup with its limits, `state` showing the new pid, the prestart
/// hook given that pid; `delete` cleans up.
#[test]
fn vm_checkpoint_restore_counter() {
    if !in_vm_with_criu() {
        return;
    }
    let Some(mut fx) = Fixture::new(bin(), "ck-vm") else {
        return;
    };
    let mut config = counter_config(&fx);
    // The state each prestart hook gets (at restore: CRIU's setup-namespaces point).
    let hook_state = fx.path().join("prestart.json");
    let hook = format!("cat > {}", hook_state.display());
    config["hooks"] = json!({"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", hook]}]});
    fx.write_config(&config);
    let id = fx.id("counter");
    ok(&fx, &["run", "-d", "--bundle", &bundle(&fx), &id]);
    let first_pid = fx.state(&id)["pid"].as_i64().unwrap();
    counter_above(&fx, 3, Duration::from_secs(20));

    let kept = fx.path().join("img-kept");
    ok(
        &fx,
        &[
            "checkpoint",
            "--leave-running",
            "--image-path",
            kept.to_str().unwrap(),
            &id,
        ],
    );
    assert!(kept.join("dump.log").exists());
    assert_eq!(fx.state(&id)["status"], "running");
    let n = counter(&fx);
    assert!(
        counter_above(&fx, n, Duration::from_secs(20)) > n,
        "stopped after --leave-running"
    );

    let image = fx.path().join("img");
    ok(
        &fx,
        &["checkpoint", "--image-path", image.to_str().unwrap(), &id],
    );
    assert!(
        fx.state_opt(&id).is_none(),
        "the container is still recorded"
    );
    let last = counter(&fx);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        counter(&fx),
        last,
        "the counter went on after the checkpoint"
    );
    assert!(fx.cgroup_dirs().iter().all(|d| !d.exists()), "cgroup left");

    let pid_file = fx.path().join("restored.pid");
    let out = restore_detached(
        &fx,
        &id,
        &image,
        &["--pid-file", pid_file.to_str().unwrap()],
    );
    assert!(out.status.success(), "restore: {}", text(&out.stderr));
    let state = fx.state(&id);
    assert_eq!(state["status"], "running", "{state}");
    let pid = state["pid"].as_i64().unwrap();
    assert_ne!(pid, first_pid);
    assert_eq!(
        fs::read_to_string(&pid_file).unwrap().trim(),
        pid.to_string()
    );
    let hooked: Value = serde_json::from_slice(&fs::read(&hook_state).unwrap()).unwrap();
    assert_eq!(
        hooked["pid"], pid,
        "the prestart hook's state at restore: {hooked}"
    );
    let next = counter_above(&fx, last, Duration::from_secs(20));
    assert!(next > last, "the counter did not go on from {last}");
    // A restart would count from 1 again and add a line to /data/starts; how far the
    // counter got by the time it is read depends on the emulation's speed, not on CRIU.
    let starts = fs::read_to_string(fx.path().join("data/starts")).unwrap();
    assert_eq!(
        starts.lines().count(),
        1,
        "the script started again: {last} then {next}"
    );

    let cg = fx.cgroup_dir("");
    let procs = fs::read_to_string(cg.join("cgroup.procs")).unwrap();
    assert!(
        procs.lines().any(|l| l == pid.to_string()),
        "{pid} not in {procs}"
    );
    assert_eq!(
        fs::read_to_string(cg.join("pids.max")).unwrap().trim(),
        "42"
    );
    assert_eq!(
        fs::read_to_string(cg.join("memory.max")).unwrap().trim(),
        (64u64 << 20).to_string()
    );

    delete_leaves_nothing(&fx, &id, 10);
}

/// In the guest: a container that joins a network namespace by path (a pod's) is
/// checkpointed with that namespace declared external and restored into the same one.
#[test]
fn vm_checkpoint_restore_in_a_joined_network_namespace() {
    if !in_vm_with_criu() {
        return;
    }
    let Some(mut fx) = Fixture::new(bin(), "ck-vm-netns") else {
        return;
    };
    let mut holder = std::process::Command::new("unshare")
        .args(["--net", "sleep", "600"])
        .spawn()
        .unwrap();
    let own = fs::read_link("/proc/self/ns/net").unwrap();
    let ns = format!("/proc/{}/ns/net", holder.id());
    let deadline = Instant::now() + Duration::from_secs(10);
    while fs::read_link(&ns).map_or(true, |l| l == own) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let pod_ns = fs::read_link(&ns).unwrap();
    let mut config = counter_config(&fx);
    for n in config["linux"]["namespaces"].as_array_mut().unwrap() {
        if n["type"] == "network" {
            n["path"] = json!(ns);
        }
    }
    fx.write_config(&config);
    let id = fx.id("netns");
    ok(&fx, &["run", "-d", "--bundle", &bundle(&fx), &id]);
    counter_above(&fx, 3, Duration::from_secs(20));
    let image = fx.path().join("img");
    ok(
        &fx,
        &["checkpoint", "--image-path", image.to_str().unwrap(), &id],
    );
    let last = counter(&fx);
    let out = restore_detached(&fx, &id, &image, &[]);
    assert!(out.status.success(), "restore: {}", text(&out.stderr));
    let pid = fx.state(&id)["pid"].as_i64().unwrap();
    let restored_ns = fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    assert_eq!(restored_ns, pod_ns, "restored outside the joined namespace");
    assert!(counter_above(&fx, last, Duration::from_secs(20)) > last);
    delete_leaves_nothing(&fx, &id, 10);
    let _ = holder.kill();
    let _ = holder.wait();
}

/// In the guest: Podman's `container checkpoint` and `container restore` with iso-runtime
/// as its runtime (tests/clients/podman-checkpoint.sh: the restored counter goes on, the
/// runtime records the new pid, nothing is left).
#[test]
fn vm_podman_checkpoint_restore() {
    if !in_vm_with_criu() {
        return;
    }
    if !Path::new("/usr/bin/podman").exists() {
        eprintln!("skipped: podman is not installed (scripts/setup.sh installs it)");
        return;
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/clients/podman-checkpoint.sh"
    );
    let out = std::process::Command::new("bash")
        .arg(script)
        .env("ISO_RUNTIME", bin())
        .env("ISO_CLIENTS_DIR", "/tmp/iso-test-clients-vm")
        .output()
        .expect("run the podman scenario");
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success() && all.contains("RESULT: PASS"),
        "{all}"
    );
}

/// The init leads its own session and process group, as runc's does (checked by hand:
/// `runc run` prints `1 1` here too): CRIU dumps a tree only with its session leader in it.
#[test]
fn init_leads_its_own_session_as_runcs() {
    let Some(mut fx) = Fixture::new(bin(), "ck-sid") else {
        return;
    };
    // Fields 5 and 6 of /proc/1/stat: the process group and the session.
    fx.write_config(&fx.config("cut -d' ' -f5,6 /proc/1/stat"));
    let out = fx.run("sid");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "1 1\n");
}
