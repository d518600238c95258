//! Conformance tests of Landlock for containers: the `org.iso.landlock` annotation (the shape
//! of runtime-spec pull request 1241's `process.landlock`) and the policy's `[landlock]`
//! section, on real busybox bundles under the host's kernel.
//!
//! The containers run as root with a writable root filesystem, so discretionary access
//! control allows every write: a refused write (`EACCES`, "Permission denied") is Landlock's.
//! runc and crun do not implement Landlock, so there is no differential test.

use std::fs;

use iso_testutil::bundle::{text, Fixture};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_iso-runtime");

/// Every writing right of ABI 3 or below (so any Landlock kernel enforces them all).
const WRITES: [&str; 12] = [
    "write_file",
    "remove_dir",
    "remove_file",
    "make_char",
    "make_dir",
    "make_reg",
    "make_sock",
    "make_fifo",
    "make_block",
    "make_sym",
    "refer",
    "truncate",
];

/// Tries to write `/etc/x` and `/tmp/x`, printing each outcome (busybox prints the errno's
/// text) and `done`, all on stdout.
const WRITE_BOTH: &str =
    "(echo a > /etc/x) 2>&1; echo etc=$?; (echo b > /tmp/x) 2>&1; echo tmp=$?; echo done";

fn abi() -> u32 {
    iso_mac::landlock_status().abi()
}

/// A root container, writable root, running `script`, with `landlock` as annotation if given.
fn config(fx: &Fixture, script: &str, landlock: Option<Value>) -> Value {
    let mut c = fx.config(script);
    assert_eq!(c["process"]["user"]["uid"], json!(0));
    if let Some(l) = landlock {
        c["annotations"] = json!({"org.iso.landlock": l.to_string()});
    }
    c
}

/// The annotation: writing is handled everywhere, allowed beneath /tmp and /dev.
fn read_only_root() -> Value {
    json!({
        "ruleset": {"handledAccessFS": WRITES},
        "rules": {"pathBeneath": [{"allowedAccess": WRITES, "paths": ["/tmp", "/dev"]}]}
    })
}

/// The container's output says /etc/x was refused by EACCES and /tmp/x written.
fn assert_confined(out: &str, what: &str) {
    assert!(
        out.contains("Permission denied") && out.contains("etc=1") && out.contains("tmp=0"),
        "{what}: {out}"
    );
}

fn landlock_or_skip() -> bool {
    if abi() == 0 {
        assert!(
            std::env::var_os("ISO_REQUIRE_ROOT").is_none(),
            "this kernel has no Landlock"
        );
        eprintln!("skipped: no Landlock in this kernel");
        return false;
    }
    true
}

/// The annotation's ruleset confines the container's process and a process `exec`ed into
/// it: a root write outside the allowed paths fails with EACCES, inside succeeds.
#[test]
fn annotation_makes_the_root_read_only_except_tmp_for_run_and_exec() {
    let Some(mut fx) = Fixture::new(BIN, "landlock-annot") else {
        return;
    };
    if !landlock_or_skip() {
        return;
    }
    fx.write_config(&config(&fx, WRITE_BOTH, Some(read_only_root())));
    let out = fx.run("annot");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("done"), "{}", text(&out.stderr));
    assert_confined(&stdout, "run");
    assert!(!fx.rootfs().join("etc/x").exists(), "/etc/x was written");

    fx.write_config(&config(&fx, "sleep 600", Some(read_only_root())));
    let id = fx.id("annot-exec");
    let out = fx.rt(&["run", "-d", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let exec = fx.rt(&["exec", &id, "sh", "-c", WRITE_BOTH]);
    assert_confined(&text(&exec.stdout), "exec");
    assert!(
        !fx.rootfs().join("etc/x").exists(),
        "/etc/x was written by exec"
    );
    assert!(fx.rt(&["delete", "--force", &id]).status.success());
}

/// Without `noNewPrivileges` the ruleset is applied before the user switch, while the init
/// still has CAP_SYS_ADMIN, and confines a non-root user the same way.
#[test]
fn annotation_applies_without_no_new_privileges_and_as_another_user() {
    let Some(mut fx) = Fixture::new(BIN, "landlock-nnp") else {
        return;
    };
    if !landlock_or_skip() {
        return;
    }
    let mut c = config(&fx, WRITE_BOTH, Some(read_only_root()));
    c["process"]["noNewPrivileges"] = json!(false);
    fx.write_config(&c);
    let out = fx.run("nnp");
    assert_confined(&text(&out.stdout), "noNewPrivileges false");
    // A user who may write /tmp (mode 1777) and nothing else of the root: the ruleset,
    // applied before the switch, stays.
    c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    c["process"]["args"] = json!(["/bin/sh", "-c", "echo b > /tmp/x; echo tmp=$?"]);
    c["mounts"][2]["options"] = json!(["nosuid", "mode=1777"]);
    fx.write_config(&c);
    let out = fx.run("nnp-user");
    assert!(
        text(&out.stdout).contains("tmp=0"),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// The policy's `[landlock]` section: recorded as a change and an annotation, confines run
/// and exec.
#[test]
fn policy_section_makes_the_root_read_only_for_run_and_exec() {
    let Some(mut fx) = Fixture::new(BIN, "landlock-policy") else {
        return;
    };
    if !landlock_or_skip() {
        return;
    }
    let policy = fx
        .policy("[landlock]\nrootfs = \"read-only\"\nwritable = [\"/tmp\", \"/dev\", \"/run\"]\n");
    let p = policy.to_str().unwrap();
    fx.write_config(&config(&fx, "sleep 600", None));
    let id = fx.id("policy");
    let out = fx.rt(&["--policy", p, "run", "-d", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let st = fx.state(&id);
    let notes = &st["annotations"];
    let recorded = notes["org.iso.policy.landlock"]
        .as_str()
        .unwrap_or_default();
    assert!(recorded.contains("read-only"), "{st}");
    let changes = notes["org.iso.policy.changes"].as_str().unwrap_or_default();
    assert!(changes.contains("\"rule\":\"landlock\""), "{st}");
    // exec reads the ruleset from the container's record, whatever policy it is given.
    let exec = fx.rt(&["exec", &id, "sh", "-c", WRITE_BOTH]);
    assert_confined(&text(&exec.stdout), "exec");
    let pid = st["pid"].as_i64().unwrap();
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    assert!(fx.rt(&["delete", "--force", &id]).status.success());

    fx.write_config(&config(&fx, WRITE_BOTH, None));
    let id = fx.id("policy-run");
    let out = fx.rt(&["--policy", p, "run", &id]);
    assert_confined(&text(&out.stdout), "run");
    assert!(!fx.rootfs().join("etc/x").exists(), "/etc/x was written");
}

/// A right beyond the kernel's ABI: a hard requirement fails `create` naming the field and
/// leaves nothing; best effort runs, says what was not enforced and enforces the rest.
#[test]
fn hard_requirement_fails_create_and_best_effort_warns() {
    let Some(mut fx) = Fixture::new(BIN, "landlock-compat") else {
        return;
    };
    if !landlock_or_skip() {
        return;
    }
    if abi() >= 9 {
        eprintln!(
            "skipped: the kernel's Landlock ABI {} has every right",
            abi()
        );
        return;
    }
    let mut handled = WRITES.to_vec();
    handled.push("resolve_unix");
    let annotation = |strict: bool| {
        json!({
            "ruleset": {"handledAccessFS": handled},
            "rules": {"pathBeneath": [{"allowedAccess": WRITES, "paths": ["/tmp", "/dev"]}]},
            "disableBestEffort": strict
        })
    };
    fx.write_config(&config(&fx, WRITE_BOTH, Some(annotation(true))));
    let id = fx.id("hard");
    let out = fx.rt(&["create", &id]);
    let stderr = text(&out.stderr);
    assert!(
        !out.status.success(),
        "create accepted a right the kernel lacks"
    );
    assert!(
        stderr.contains("org.iso.landlock")
            && stderr.contains("disableBestEffort")
            && stderr.contains("RESOLVE_UNIX"),
        "{stderr}"
    );
    assert!(!fx.root().join(&id).exists(), "state dir left behind");
    assert!(fx.leftovers(&id).is_empty(), "{:?}", fx.leftovers(&id));

    fx.write_config(&config(&fx, WRITE_BOTH, Some(annotation(false))));
    let out = fx.run("best-effort");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("warning: Landlock") && stderr.contains("RESOLVE_UNIX"),
        "{stderr}"
    );
    assert_confined(&text(&out.stdout), "best effort");

    let policy = fx.policy("[landlock]\nbind_tcp = [80]\ncompatibility = \"hard-requirement\"\n");
    fx.write_config(&config(&fx, "true", None));
    let id = fx.id("policy-hard");
    let out = fx.rt(&["--policy", policy.to_str().unwrap(), "create", &id]);
    // ABI 4 has TCP rights: the policy's hard requirement is then met.
    assert_eq!(out.status.success(), abi() >= 4, "{}", text(&out.stderr));
    let _ = fx.rt(&["delete", "--force", &id]);
}

/// Network rules (ABI 4): bind and connect only on the allowed TCP ports, in the
/// container and in an `exec`.
#[test]
fn net_port_rules_refuse_other_ports() {
    let Some(mut fx) = Fixture::new(BIN, "landlock-net") else {
        return;
    };
    if !landlock_or_skip() {
        return;
    }
    if abi() < 4 {
        eprintln!("skipped: Landlock ABI {} has no network rights", abi());
        return;
    }
    let annotation = json!({
        "ruleset": {"handledAccessNetwork": ["bind_tcp", "connect_tcp"]},
        "rules": {"netPort": [{"allowedAccess": ["bind_tcp", "connect_tcp"], "ports": [8080]}]}
    });
    // The loopback is up so that an allowed connect reaches the listener.
    let script = "busybox ip link set lo up; \
        busybox nc -l -p 8080 >/tmp/got & sleep 0.3; \
        echo hi | busybox nc 127.0.0.1 8080; echo ok8080=$?; \
        busybox nc -l -p 8081 2>&1; echo bind8081=$?; \
        busybox nc 127.0.0.1 9 </dev/null 2>&1; echo connect9=$?; \
        sleep 0.3; cat /tmp/got";
    let mut c = config(&fx, script, Some(annotation.clone()));
    let caps = json!(["CAP_NET_ADMIN", "CAP_KILL"]);
    c["process"]["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});
    fx.write_config(&c);
    let out = fx.run("net");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("ok8080=0") && stdout.contains("hi"),
        "{stdout}"
    );
    let refused = |what: &str| {
        stdout
            .lines()
            .take_while(|l| !l.starts_with(what))
            .any(|l| l.contains("Permission denied"))
            && stdout.contains(&format!("{what}=1"))
    };
    assert!(refused("bind8081") && refused("connect9"), "{stdout}");

    c["process"]["args"] = json!(["sleep", "600"]);
    fx.write_config(&c);
    let id = fx.id("net-exec");
    assert!(fx.rt(&["run", "-d", &id]).status.success());
    let exec = fx.rt(&["exec", &id, "busybox", "nc", "-l", "-p", "8081"]);
    assert!(!exec.status.success());
    assert!(
        text(&exec.stderr).contains("Permission denied")
            || text(&exec.stdout).contains("Permission denied"),
        "{}",
        text(&exec.stderr)
    );
    assert!(fx.rt(&["delete", "--force", &id]).status.success());

    // The policy's port lists: bind only on 8080.
    let policy = fx.policy("[landlock]\nbind_tcp = [8080]\ncompatibility = \"hard-requirement\"\n");
    fx.write_config(&config(
        &fx,
        "busybox nc -l -p 8081 2>&1; echo bind8081=$?",
        None,
    ));
    let id = fx.id("net-policy");
    let out = fx.rt(&["--policy", policy.to_str().unwrap(), "run", &id]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("Permission denied") && stdout.contains("bind8081=1"),
        "{stdout}{}",
        text(&out.stderr)
    );
}

/// A malformed annotation fails `create` naming the field, and leaves nothing behind.
#[test]
fn malformed_annotation_names_the_field() {
    let Some(mut fx) = Fixture::new(BIN, "landlock-bad") else {
        return;
    };
    let bad = json!({
        "ruleset": {"handledAccessFS": ["write_file"]},
        "rules": {"pathBeneath": [{"allowedAccess": ["write_file", "fly"], "paths": ["/tmp"]}]}
    });
    fx.write_config(&config(&fx, "true", Some(bad)));
    let id = fx.id("bad");
    let out = fx.rt(&["create", &id]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(r#"org.iso.landlock\"].rules.pathBeneath[0].allowedAccess[1]"#),
        "{stderr}"
    );
    assert!(!fx.root().join(&id).exists(), "state dir left behind");
}

/// `features` lists the annotation and the kernel's ABI.
#[test]
fn features_list_the_annotation() {
    let out = std::process::Command::new(BIN)
        .arg("features")
        .output()
        .unwrap();
    let features: Value = serde_json::from_slice(&out.stdout).unwrap();
    let notes = &features["annotations"];
    assert!(notes["org.iso.landlock"].is_string(), "{notes}");
    assert_eq!(notes["org.iso.landlock.abi"], json!(abi().to_string()));
}
