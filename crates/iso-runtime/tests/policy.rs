//! Conformance tests of the runtime policy: the binary with `--policy` (or `ISO_POLICY`) on
//! real busybox bundles, checked from the host (cgroup files, state, log, leftovers).

use std::fs;
use std::time::{Duration, Instant};

use iso_testutil::bundle::{run_to_files, text, Fixture};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_iso-runtime");

/// The fixture's config with the given script, a read-only root, CAP_SYS_ADMIN among the
/// capabilities (for the capability ceiling to drop), and no pids limit unless `pids` is
/// given (for the pids default to fill in).
fn config(fx: &Fixture, script: &str, pids: Option<i64>) -> Value {
    let caps = json!(["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SYS_ADMIN"]);
    let mut c = fx.config(script);
    c["process"]["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});
    c["root"]["readonly"] = json!(true);
    match pids {
        Some(p) => c["linux"]["resources"] = json!({"pids": {"limit": p}}),
        None => {
            if let Some(linux) = c["linux"].as_object_mut() {
                linux.remove("resources");
            }
        }
    }
    c
}

#[test]
fn default_pids_limit_is_applied_and_a_fork_loop_stops_there() {
    let Some(mut fx) = Fixture::new(BIN, "policy-default") else {
        return;
    };
    let policy = fx.policy("[defaults]\npids = 500\n");
    let p = policy.to_str().unwrap();
    let id = fx.id("default");
    // Forks 700 sleepers; the pids controller refuses the ones above 500.
    fx.write_config(&config(
        &fx,
        "sh -c 'for i in $(seq 1 700); do sleep 1000 & done' 2>/dev/null; exec sleep 1000",
        None,
    ));
    let out = fx.rt(&["--policy", p, "create", &id]);
    assert!(out.status.success(), "create: {}", text(&out.stderr));
    assert_eq!(fx.pids_file("pids.max"), "500");
    let st = fx.state(&id);
    let changes = st["annotations"]["org.iso.policy.changes"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(changes.contains("defaults.pids"), "{st}");
    assert_eq!(st["annotations"]["org.iso.policy.file"], json!(p));
    let out = fx.rt(&["start", &id]);
    assert!(out.status.success(), "start: {}", text(&out.stderr));
    // The inner shell dies when its fork fails, leaving its sleepers at the limit.
    let deadline = Instant::now() + Duration::from_secs(30);
    while fx.pids_file("pids.events") == "max 0" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    let current: u32 = fx.pids_file("pids.current").parse().unwrap_or(0);
    assert!(
        (490..=500).contains(&current),
        "the fork loop stops at the limit: {current} tasks"
    );
    let events = fx.pids_file("pids.events");
    assert!(
        events.starts_with("max ") && events != "max 0",
        "forks were refused: {events}"
    );
    let out = fx.rt(&["delete", "--force", &id]);
    assert!(out.status.success(), "delete: {}", text(&out.stderr));

    // `policy check` shows the change as a diff and the effective config.
    let out = fx.rt(&["--policy", p, "policy", "check", "--bundle", "."]);
    assert!(out.status.success(), "check: {}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("-linux.resources.pids.limit: unset")
            && shown.contains("+linux.resources.pids.limit: 500"),
        "{shown}"
    );

    // A config with its own limit keeps it.
    let id = fx.id("own");
    fx.write_config(&config(&fx, "sleep 1000", Some(42)));
    let out = fx.rt(&["--policy", p, "create", &id]);
    assert!(out.status.success(), "create: {}", text(&out.stderr));
    assert_eq!(fx.pids_file("pids.max"), "42");
    assert!(fx.state(&id)["annotations"]
        .get("org.iso.policy.changes")
        .is_none());
}

#[test]
fn reject_ceiling_fails_create_naming_the_rule_and_leaves_no_trace() {
    let Some(mut fx) = Fixture::new(BIN, "policy-reject") else {
        return;
    };
    let policy = fx.policy("[ceilings.pids]\nmax = 1000\naction = \"reject\"\n");
    let id = fx.id("reject");
    fx.write_config(&config(&fx, "sleep 1000", Some(5000)));
    let log = fx.path().join("log.json");
    let out = fx.rt(&[
        "--policy",
        policy.to_str().unwrap(),
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "create",
        &id,
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("ceilings.pids") && err.contains("linux.resources.pids.limit"),
        "{err}"
    );
    let logged = fs::read_to_string(&log).unwrap_or_default();
    assert!(
        logged.contains("\"error\"") && logged.contains("ceilings.pids"),
        "{logged}"
    );
    assert!(!fx.root().join(&id).exists(), "no state left");
    assert!(!fx.cgroup_dir("pids").exists(), "no cgroup left");
    assert!(!fx.rt(&["state", &id]).status.success());

    // `policy check` exits non-zero on the same bundle.
    let out = fx.rt(&["--policy", policy.to_str().unwrap(), "policy", "check"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("ceilings.pids"));

    // A bind mount of a forbidden host path is rejected, naming the mount.
    let policy = fx.policy("[ceilings.mounts]\nforbid_sources = [\"/etc\"]\n");
    let mut c = config(&fx, "sleep 1000", Some(10));
    let index = c["mounts"].as_array().unwrap().len();
    c["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/hostetc", "type": "bind", "source": "/etc", "options": ["rbind", "ro"]}));
    fx.write_config(&c);
    let out = fx.rt(&["--policy", policy.to_str().unwrap(), "create", &id]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("ceilings.mounts")
            && err.contains(&format!("mounts[{index}]"))
            && err.contains("/hostetc"),
        "{err}"
    );
    assert!(!fx.root().join(&id).exists());
    assert!(!fx.cgroup_dir("pids").exists());
}

#[test]
fn clamp_ceiling_lowers_logs_and_drops_capabilities() {
    let Some(mut fx) = Fixture::new(BIN, "policy-clamp") else {
        return;
    };
    let policy = fx.policy(
        "[ceilings.pids]\nmax = 1000\naction = \"clamp\"\n\
         [ceilings.capabilities]\nallowed = [\"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"]\naction = \"clamp\"\n",
    );
    let id = fx.id("clamp");
    fx.write_config(&config(&fx, "sleep 1000", Some(5000)));
    let log = fx.path().join("log.json");
    // Through ISO_POLICY this time.
    let mut c = fx.cmd(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "create",
        &id,
    ]);
    c.env("ISO_POLICY", &policy);
    let out = run_to_files(c, fx.path());
    assert!(out.status.success(), "create: {}", text(&out.stderr));
    assert_eq!(fx.pids_file("pids.max"), "1000");
    let logged = fs::read_to_string(&log).unwrap_or_default();
    let warn = logged
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| {
            l["level"] == "warning" && l["msg"].as_str().unwrap_or("").contains("ceilings.pids")
        });
    let warn = warn.unwrap_or_else(|| panic!("no clamp warning in {logged}"));
    assert!(
        warn["msg"].as_str().unwrap_or("").contains("5000 -> 1000"),
        "{warn}"
    );
    // CAP_SYS_ADMIN (bit 21) is gone from the program's bounding set; CAP_KILL (5) stays.
    let out = fx.rt(&["start", &id]);
    assert!(out.status.success(), "start: {}", text(&out.stderr));
    std::thread::sleep(Duration::from_millis(300));
    let st = fx.state(&id);
    let pid = st["pid"].as_i64().unwrap();
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let bnd = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .map(|h| u64::from_str_radix(h.trim(), 16).unwrap())
        .unwrap();
    assert_eq!(bnd & (1 << 21), 0, "CAP_SYS_ADMIN dropped: {bnd:x}");
    assert_ne!(bnd & (1 << 5), 0, "CAP_KILL kept: {bnd:x}");
    let changes = st["annotations"]["org.iso.policy.changes"]
        .as_str()
        .unwrap_or("");
    assert!(changes.contains("ceilings.capabilities"), "{changes}");

    // `exec --cap` cannot add a capability outside the allowed set.
    let pol = policy.to_str().unwrap();
    let out = fx.rt(&[
        "--policy",
        pol,
        "exec",
        "--cap",
        "CAP_SYS_ADMIN",
        &id,
        "grep",
        "CapBnd",
        "/proc/self/status",
    ]);
    assert!(out.status.success(), "exec: {}", text(&out.stderr));
    let shown = text(&out.stdout);
    let bnd = shown
        .trim()
        .strip_prefix("CapBnd:")
        .map(|h| u64::from_str_radix(h.trim(), 16).unwrap())
        .unwrap_or_else(|| panic!("{shown}"));
    assert_eq!(bnd & (1 << 21), 0, "exec'd CAP_SYS_ADMIN dropped: {bnd:x}");
    assert!(
        text(&out.stderr).contains("ceilings.capabilities"),
        "{}",
        text(&out.stderr)
    );

    // `update` is held to the same ceiling.
    let out = fx.rt(&["--policy", pol, "update", "--pids-limit", "5000", &id]);
    assert!(out.status.success(), "update: {}", text(&out.stderr));
    assert_eq!(fx.pids_file("pids.max"), "1000");
    assert!(text(&out.stderr).contains("ceilings.pids"));
    let out = fx.rt(&["--policy", pol, "update", "--pids-limit", "300", &id]);
    assert!(out.status.success(), "update: {}", text(&out.stderr));
    assert_eq!(fx.pids_file("pids.max"), "300");
}
