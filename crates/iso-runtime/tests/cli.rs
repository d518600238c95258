//! The command line against runc's: each scenario runs under iso-runtime and, when it is
//! installed, runc (same bundle, each runtime with its own state root and a cgroup below the
//! fixture's), and what the commands print and exit with is compared.

use std::cell::RefCell;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use iso_testutil::bundle::{run_to_files, text, Fixture};
use serde_json::{json, Value};

/// The runtime under test (see conformance.rs).
fn bin() -> String {
    std::env::var("ISO_RUNTIME_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_iso-runtime").to_owned())
}

const RUNC: &str = "/usr/sbin/runc";

/// One runtime on the fixture's bundle: its binary, its own state root, the containers it
/// made (deleted with `--force` when dropped).
struct Under<'a> {
    fx: &'a Fixture,
    name: &'static str,
    argv0: String,
    ids: RefCell<Vec<String>>,
}

impl<'a> Under<'a> {
    fn root(&self) -> PathBuf {
        self.fx.path().join(format!("{}-state", self.name))
    }

    /// The cgroup of this runtime's containers: below the fixture's, which the fixture
    /// removes (and whose processes it kills) whatever happens.
    fn cgroup(&self, n: &str) -> String {
        format!("{}/{}-{n}", self.fx.cgroup(), self.name)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.argv0);
        c.env_remove("ISO_POLICY")
            .arg("--root")
            .arg(self.root())
            .args(args)
            .current_dir(self.fx.bundle())
            .stdin(Stdio::null());
        c
    }

    fn rt(&self, args: &[&str]) -> Output {
        run_to_files(self.cmd(args), self.fx.path())
    }

    /// A fresh container id for `n`, deleted on drop.
    fn id(&self, n: &str) -> String {
        let id = format!("{n}-{}-{}", self.name, std::process::id());
        self.ids.borrow_mut().push(id.clone());
        id
    }

    /// Writes the fixture's config running `script` in this runtime's cgroup `n`.
    fn config(&self, n: &str, script: &str) -> Value {
        let mut config = self.fx.config(script);
        config["linux"]["cgroupsPath"] = json!(self.cgroup(n));
        config
    }

    /// Creates container `n` running `script`; panics when create fails.
    fn create(&self, n: &str, script: &str) -> String {
        self.fx.write_config(&self.config(n, script));
        let id = self.id(n);
        let out = self.rt(&["create", &id]);
        assert!(out.status.success(), "{}: {}", self.name, text(&out.stderr));
        id
    }

    /// Creates and starts container `n` running `script`.
    fn running(&self, n: &str, script: &str) -> String {
        let id = self.create(n, script);
        self.start(&id);
        id
    }

    /// Creates container `id` from the bundle's config as written, and starts it.
    fn create_and_start(&self, id: &str) {
        let out = self.rt(&["create", id]);
        assert!(out.status.success(), "{}: {}", self.name, text(&out.stderr));
        self.start(id);
    }

    fn start(&self, id: &str) {
        let out = self.rt(&["start", id]);
        assert!(out.status.success(), "{}: {}", self.name, text(&out.stderr));
    }

    /// The `state` of `id` as JSON.
    fn state(&self, id: &str) -> Value {
        let out = self.rt(&["state", id]);
        assert!(out.status.success(), "{}: {}", self.name, text(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("state prints JSON")
    }

    /// Polls until `id`'s status is `want` (at most 20 s).
    fn wait_status(&self, id: &str, want: &str) {
        for _ in 0..1000 {
            if self.state(id)["status"] == want {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{}: {id} never {want}", self.name);
    }
}

impl Drop for Under<'_> {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = self.rt(&["delete", "--force", id]);
        }
    }
}

/// iso-runtime, then runc when installed.
fn runtimes(fx: &Fixture) -> Vec<Under<'_>> {
    let mut all = vec![Under {
        fx,
        name: "iso",
        argv0: bin(),
        ids: RefCell::default(),
    }];
    if Path::new(RUNC).exists() {
        all.push(Under {
            fx,
            name: "runc",
            argv0: RUNC.into(),
            ids: RefCell::default(),
        });
    } else {
        eprintln!("runc not installed: iso-runtime's side only");
    }
    all
}

/// Runs `scenario` under each runtime and asserts they observed the same.
fn same_under_each(fx: &Fixture, scenario: impl Fn(&Under) -> Vec<String>) {
    let mut seen: Vec<(&str, Vec<String>)> = Vec::new();
    for rt in runtimes(fx) {
        let observed = scenario(&rt);
        seen.push((rt.name, observed));
    }
    for (name, observed) in &seen[1..] {
        assert_eq!(seen[0].1, *observed, "iso-runtime (left) vs {name} (right)");
    }
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// The commands both runtimes have.
const COMMANDS: [&str; 15] = [
    "create", "start", "state", "kill", "delete", "run", "exec", "ps", "features", "list",
    "update", "events", "spec", "pause", "resume",
];

#[test]
fn version_help_usage_errors_and_a_missing_root() {
    let Some(fx) = Fixture::new(bin(), "cli-global") else {
        return;
    };
    same_under_each(&fx, |rt| {
        let mut seen = Vec::new();
        for v in ["-v", "--version"] {
            let out = rt.rt(&[v]);
            assert!(
                text(&out.stdout).contains("spec: "),
                "{}",
                text(&out.stdout)
            );
            seen.push(format!("{v}: {}", code(&out)));
        }
        for c in COMMANDS {
            for args in [vec![c, "-h"], vec![c, "--help"], vec!["help", c]] {
                let out = rt.rt(&args);
                assert!(
                    !out.stdout.is_empty(),
                    "{}: {args:?} printed nothing",
                    rt.name
                );
                seen.push(format!("{args:?}: {}", code(&out)));
            }
        }
        for args in [
            vec!["kill"],
            vec!["state"],
            vec!["state", "--bogus", "x"],
            vec!["spec", "--bogus"],
            vec!["bogus"],
        ] {
            seen.push(format!("{args:?}: {}", code(&rt.rt(&args))));
        }
        // A --root that does not exist yet is created, private.
        let root = rt.fx.path().join(format!("{}-new/a/b", rt.name));
        let mut cmd = Command::new(&rt.argv0);
        cmd.arg("--root").arg(&root).arg("list");
        let out = run_to_files(cmd, rt.fx.path());
        let mode = fs::metadata(&root)
            .map(|m| format!("{:o}", m.permissions().mode() & 0o777))
            .ok();
        seen.push(format!("list with a new root: {} {mode:?}", code(&out)));
        seen
    });
}

#[test]
fn debug_lines_go_to_stderr_or_to_the_log_in_text_and_json() {
    let Some(fx) = Fixture::new(bin(), "cli-debug") else {
        return;
    };
    same_under_each(&fx, |rt| {
        let mut seen = Vec::new();
        rt.fx.write_config(&rt.config("dbg", "true"));
        let id = rt.id("dbg");
        let out = rt.rt(&["--debug", "create", &id]);
        let err = text(&out.stderr);
        seen.push(format!(
            "stderr: {} debug {}",
            code(&out),
            err.lines().any(|l| l.contains("level=debug"))
        ));
        rt.rt(&["delete", "--force", &id]);
        for format in ["text", "json"] {
            let log = rt.fx.path().join(format!("{}-{format}.log", rt.name));
            let log_s = log.to_str().unwrap();
            let out = rt.rt(&[
                "--debug",
                "--log",
                log_s,
                "--log-format",
                format,
                "create",
                &id,
            ]);
            let lines = fs::read_to_string(&log).unwrap_or_default();
            let debug = if format == "json" {
                lines
                    .lines()
                    .any(|l| serde_json::from_str::<Value>(l).is_ok_and(|v| v["level"] == "debug"))
            } else {
                lines.lines().any(|l| l.contains("level=debug"))
            };
            seen.push(format!(
                "{format} log: {} debug {debug}, on stderr {}",
                code(&out),
                text(&out.stderr).contains("level=debug")
            ));
            rt.rt(&["delete", "--force", &id]);
        }
        seen
    });
}

#[test]
fn kill_0_checks_the_container_is_alive() {
    let Some(fx) = Fixture::new(bin(), "cli-kill0") else {
        return;
    };
    same_under_each(&fx, |rt| {
        let id = rt.create("k0", "sleep 100");
        let mut seen = vec![format!("created: {}", code(&rt.rt(&["kill", &id, "0"])))];
        assert!(rt.rt(&["start", &id]).status.success());
        seen.push(format!("running: {}", code(&rt.rt(&["kill", &id, "0"]))));
        assert!(rt.rt(&["kill", &id, "KILL"]).status.success());
        rt.wait_status(&id, "stopped");
        seen.push(format!("stopped: {}", code(&rt.rt(&["kill", &id, "0"]))));
        seen
    });
}

#[test]
fn exec_into_a_paused_container_needs_ignore_paused() {
    let Some(fx) = Fixture::new(bin(), "cli-paused") else {
        return;
    };
    same_under_each(&fx, |rt| {
        let id = rt.running("p", "sleep 100");
        assert!(rt.rt(&["pause", &id]).status.success());
        let refused = rt.rt(&["exec", &id, "true"]);
        let mut seen = vec![format!("exec paused: {}", code(&refused))];
        // The process starts frozen: the exec returns once the container is resumed.
        let mut cmd = Command::new("timeout");
        cmd.args(["60", &rt.argv0, "--root"]).arg(rt.root()).args([
            "exec",
            "--ignore-paused",
            &id,
            "echo",
            "thawed",
        ]);
        let dir = rt.fx.path().to_path_buf();
        let exec = std::thread::spawn(move || run_to_files(cmd, &dir));
        std::thread::sleep(Duration::from_millis(500));
        assert!(rt.rt(&["resume", &id]).status.success());
        let out = exec.join().expect("exec thread");
        seen.push(format!(
            "exec --ignore-paused: {} {:?}",
            code(&out),
            text(&out.stdout)
        ));
        seen
    });
}

#[test]
fn ps_filters_the_host_ps_and_prints_pids_as_json() {
    let Some(fx) = Fixture::new(bin(), "cli-ps") else {
        return;
    };
    same_under_each(&fx, |rt| {
        let id = rt.running("ps", "exec sleep 100");
        let pid = rt.state(&id)["pid"].as_i64().unwrap();
        let mut seen = Vec::new();
        let out = rt.rt(&["ps", &id]);
        let table = text(&out.stdout);
        let mut lines = table.lines();
        let header = lines.next().unwrap_or_default().to_owned();
        let rows: Vec<Vec<String>> = lines
            .map(|l| l.split_whitespace().map(str::to_owned).collect())
            .collect();
        seen.push(format!("ps: {} {header}", code(&out)));
        // The UID and PID columns and the command of `ps -ef`.
        seen.extend(rows.iter().map(|r| {
            let same = r[1] == pid.to_string();
            format!("{} init:{same} {}", r[0], r[7..].join(" "))
        }));
        let out = rt.rt(&["ps", &id, "-o", "pid,comm"]);
        seen.push(format!(
            "ps -o: {} {}",
            code(&out),
            text(&out.stdout).replace(&pid.to_string(), "PID")
        ));
        let out = rt.rt(&["ps", "--format", "json", &id]);
        let pids: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        seen.push(format!("json: {} {}", code(&out), pids == json!([pid])));
        seen
    });
    // `--` before the ps arguments (ours; runc 1.1 hands the `--` on to ps).
    let rt = &runtimes(&fx)[0];
    let id = rt.running("ps2", "exec sleep 100");
    let out = rt.rt(&["ps", &id, "--", "-o", "pid,comm"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("sleep"), "{}", text(&out.stdout));
}

#[test]
fn run_keep_leaves_the_stopped_container_and_its_cgroup() {
    let Some(fx) = Fixture::new(bin(), "cli-keep") else {
        return;
    };
    same_under_each(&fx, |rt| {
        rt.fx.write_config(&rt.config("keep", "exit 3"));
        let id = rt.id("keep");
        let out = rt.rt(&["run", "--keep", &id]);
        let cgroup =
            Path::new("/sys/fs/cgroup/pids").join(rt.cgroup("keep").trim_start_matches('/'));
        let mut seen = vec![format!(
            "run --keep: {} status {} cgroup {}",
            code(&out),
            rt.state(&id)["status"],
            cgroup.exists()
        )];
        let out = rt.rt(&["delete", &id]);
        seen.push(format!("delete: {} cgroup {}", code(&out), cgroup.exists()));
        seen
    });
}

#[test]
fn state_and_list_json_have_runc_fields() {
    let Some(fx) = Fixture::new(bin(), "cli-state") else {
        return;
    };
    same_under_each(&fx, |rt| {
        let id = rt.create("st", "sleep 100");
        let keys = |v: &Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>());
        // The order as printed.
        let out = rt.rt(&["state", &id]);
        let printed = text(&out.stdout);
        let order: Vec<&str> = printed
            .lines()
            .filter_map(|l| l.trim().strip_prefix('"')?.split('"').next())
            .collect();
        let state = rt.state(&id);
        let out = rt.rt(&["list", "--format", "json"]);
        let list: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let entry = &list[0];
        vec![
            format!("state: {order:?} owner {}", state["owner"]),
            format!("list: {:?} owner {}", keys(entry), entry["owner"]),
            format!(
                "same: {}",
                ["id", "pid", "status", "bundle", "rootfs", "created"]
                    .iter()
                    .all(|k| entry[k] == state[k])
            ),
        ]
    });
}

#[test]
fn failing_commands_exit_as_runc() {
    let Some(fx) = Fixture::new(bin(), "cli-exit") else {
        return;
    };
    same_under_each(&fx, |rt| {
        let mut seen = Vec::new();
        for args in [
            vec!["state", "nope"],
            vec!["start", "nope"],
            vec!["kill", "nope"],
            vec!["kill", "nope", "0"],
            vec!["delete", "nope"],
            vec!["exec", "nope", "true"],
            vec!["ps", "nope"],
            vec!["pause", "nope"],
            vec!["resume", "nope"],
            vec!["events", "--stats", "nope"],
            vec!["update", "--pids-limit", "5", "nope"],
            vec!["list", "--format", "xml"],
        ] {
            seen.push(format!("{args:?}: {}", code(&rt.rt(&args))));
        }
        // A created container: start twice, exec of a missing program, its own status.
        let id = rt.create("ex", "sleep 100");
        seen.push(format!("pause created: {}", code(&rt.rt(&["pause", &id]))));
        seen.push(format!("start: {}", code(&rt.rt(&["start", &id]))));
        seen.push(format!("start again: {}", code(&rt.rt(&["start", &id]))));
        seen.push(format!(
            "exec missing: {}",
            code(&rt.rt(&["exec", &id, "/nonexistent"]))
        ));
        seen.push(format!(
            "exec 7: {}",
            code(&rt.rt(&["exec", &id, "sh", "-c", "exit 7"]))
        ));
        seen.push(format!(
            "delete running: {}",
            code(&rt.rt(&["delete", &id]))
        ));
        seen.push(format!(
            "resume running: {}",
            code(&rt.rt(&["resume", &id]))
        ));
        seen
    });
}

/// Whether this is the hybrid development host (v1 controllers and a cgroup2 mount at
/// /sys/fs/cgroup/unified); the cgroup edge cases below are about that layout.
fn hybrid() -> bool {
    Path::new("/sys/fs/cgroup/pids/cgroup.procs").exists()
        && Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists()
}

/// `dir` of the fixture's cgroup subtree in the v1 hierarchy `controller`.
fn v1_dir(controller: &str, cgroup: &str) -> PathBuf {
    Path::new("/sys/fs/cgroup")
        .join(controller)
        .join(cgroup.trim_start_matches('/'))
}

#[test]
fn create_into_a_frozen_cgroup_fails_and_never_hangs() {
    let Some(fx) = Fixture::new(bin(), "cli-frozen") else {
        return;
    };
    if !hybrid() {
        return;
    }
    same_under_each(&fx, |rt| {
        let dir = v1_dir("freezer", &rt.cgroup("fz"));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("freezer.state"), "FROZEN").unwrap();
        rt.fx.write_config(&rt.config("fz", "true"));
        let id = rt.id("fz");
        let mut cmd = Command::new("timeout");
        cmd.args(["60", &rt.argv0, "--root"])
            .arg(rt.root())
            .args(["create", &id])
            .current_dir(rt.fx.bundle())
            .stdin(Stdio::null());
        let out = run_to_files(cmd, rt.fx.path());
        let err = text(&out.stderr);
        let _ = fs::write(dir.join("freezer.state"), "THAWED");
        vec![format!(
            "{} names it: {}",
            code(&out),
            err.contains("frozen")
        )]
    });
}

#[test]
fn v1_cpuset_parents_left_empty_are_filled_from_the_nearest_ancestor() {
    let Some(fx) = Fixture::new(bin(), "cli-cpuset") else {
        return;
    };
    if !hybrid() {
        return;
    }
    same_under_each(&fx, |rt| {
        // Two levels made by someone else, both with empty cpus and mems.
        let parent = format!("{}/made/by-hand", rt.cgroup("cs"));
        let dir = v1_dir("cpuset", &parent);
        fs::create_dir_all(&dir).unwrap();
        let cpus = fs::read_to_string(dir.join("cpuset.cpus")).unwrap();
        assert_eq!(cpus.trim(), "", "a new cpuset starts empty");
        let mut config = rt.fx.config("grep Cpus_allowed_list /proc/self/status");
        config["linux"]["cgroupsPath"] = json!(format!("{parent}/ctr"));
        rt.fx.write_config(&config);
        let id = rt.id("cs");
        let out = rt.rt(&["run", &id]);
        let host = fs::read_to_string("/sys/fs/cgroup/cpuset/cpuset.cpus").unwrap();
        vec![format!(
            "{} {:?} parent {:?}",
            code(&out),
            text(&out.stdout)
                .split_whitespace()
                .last()
                .map(str::to_owned),
            fs::read_to_string(dir.join("cpuset.cpus")).unwrap().trim() == host.trim()
        )]
    });
}

/// The fixture's config with a writable cgroup mount in a new cgroup namespace.
fn cgroup_config(rt: &Under, n: &str, script: &str) -> Value {
    let mut config = rt.config(n, script);
    let mounts = config["mounts"].as_array_mut().unwrap();
    mounts.push(
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
                       "options": ["nosuid", "noexec", "nodev"]}),
    );
    mounts.push(
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                       "options": ["nosuid", "noexec", "nodev", "relatime", "rw"]}),
    );
    config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "cgroup"}));
    config
}

#[test]
fn exec_joins_every_cgroup_of_a_hybrid_host() {
    let Some(fx) = Fixture::new(bin(), "cli-execcg") else {
        return;
    };
    same_under_each(&fx, |rt| {
        rt.fx.write_config(&rt.config("ecg", "sleep 100"));
        let id = rt.id("ecg");
        rt.create_and_start(&id);
        let cgroups = |pid: &str| {
            let out = rt.rt(&["exec", &id, "cat", &format!("/proc/{pid}/cgroup")]);
            let mut lines: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
            lines.sort();
            lines
        };
        let (init, exec) = (cgroups("1"), cgroups("self"));
        vec![format!(
            "same: {} unified: {}",
            init == exec,
            exec.iter().any(|l| l.starts_with("0::/"))
        )]
    });
}

#[test]
fn unified_keys_of_v1_controllers_fail_naming_the_key() {
    let Some(fx) = Fixture::new(bin(), "cli-unified") else {
        return;
    };
    if !hybrid() {
        return;
    }
    same_under_each(&fx, |rt| {
        let mut config = rt.config("uni", "true");
        config["linux"]["resources"]["unified"] = json!({"memory.max": "100000000"});
        rt.fx.write_config(&config);
        let id = rt.id("uni");
        let out = rt.rt(&["create", &id]);
        if rt.name == "iso" {
            let err = text(&out.stderr);
            assert!(
                err.contains("unified.memory.max") && err.contains("memory controller"),
                "{err}"
            );
        }
        vec![format!("create: {}", code(&out))]
    });
}

#[test]
fn delete_force_removes_sub_cgroups_made_inside() {
    let Some(fx) = Fixture::new(bin(), "cli-subcg") else {
        return;
    };
    if !hybrid() {
        return;
    }
    same_under_each(&fx, |rt| {
        let script = "for c in pids memory cpu; do mkdir -p /sys/fs/cgroup/$c/inner/deeper; done; \
                      echo $$ > /sys/fs/cgroup/pids/inner/deeper/cgroup.procs && sleep 100";
        rt.fx.write_config(&cgroup_config(rt, "sub", script));
        let id = rt.id("sub");
        rt.create_and_start(&id);
        let inner = v1_dir("pids", &rt.cgroup("sub")).join("inner/deeper");
        for _ in 0..500 {
            if fs::read_to_string(inner.join("cgroup.procs")).is_ok_and(|p| !p.trim().is_empty()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let made = inner.exists();
        let out = rt.rt(&["delete", "--force", &id]);
        let left: Vec<String> = ["pids", "memory", "cpu"]
            .iter()
            .map(|c| v1_dir(c, &rt.cgroup("sub")))
            .filter(|d| d.exists())
            .map(|d| d.display().to_string())
            .collect();
        vec![format!("made {made}, delete {}, left {left:?}", code(&out))]
    });
}

/// The v1 files `update` writes, as `name=value` (or `name=?` when unreadable).
fn v1_limits(cgroup: &str) -> String {
    let files = [
        ("memory", "memory.limit_in_bytes"),
        ("memory", "memory.memsw.limit_in_bytes"),
        ("memory", "memory.soft_limit_in_bytes"),
        ("pids", "pids.max"),
        ("cpu", "cpu.shares"),
        ("cpu", "cpu.cfs_period_us"),
        ("cpu", "cpu.cfs_quota_us"),
        ("cpu", "cpu.rt_period_us"),
        ("cpu", "cpu.rt_runtime_us"),
        ("cpuset", "cpuset.cpus"),
        ("cpuset", "cpuset.mems"),
        ("blkio", "blkio.weight"),
    ];
    files
        .iter()
        .map(|(c, f)| {
            let v = fs::read_to_string(v1_dir(c, cgroup).join(f));
            format!(
                "{f}={}",
                v.map(|v| v.trim().to_owned()).unwrap_or("?".into())
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn update_flags_unlimited_and_swap_order_as_runc() {
    let Some(fx) = Fixture::new(bin(), "cli-update") else {
        return;
    };
    if !hybrid()
        || !v1_dir("memory", "/")
            .join("memory.memsw.limit_in_bytes")
            .exists()
    {
        return;
    }
    same_under_each(&fx, |rt| {
        let mut config = rt.config("up", "sleep 100");
        config["linux"]["resources"]["memory"] = json!({"limit": 67108864, "swap": 67108864});
        rt.fx.write_config(&config);
        let id = rt.id("up");
        rt.create_and_start(&id);
        let file = rt.fx.path().join("res.json");
        fs::write(&file, r#"{"pids": {"limit": 7}, "cpu": {"shares": 300}}"#).unwrap();
        let steps: [&[&str]; 14] = [
            &["--memory", "128m", "--memory-swap", "256m"],
            &["--memory", "32m", "--memory-swap", "32m"],
            &["--memory", "-1"],
            &["--memory-reservation", "16m"],
            &["--pids-limit", "-1"],
            &["--pids-limit", "10"],
            &[
                "--cpu-share",
                "512",
                "--cpu-period",
                "200000",
                "--cpu-quota",
                "50000",
            ],
            &["--cpu-quota", "-1"],
            &["--cpu-rt-period", "900000", "--cpu-rt-runtime", "0"],
            &["--cpuset-cpus", "0", "--cpuset-mems", "0"],
            &["--blkio-weight", "500"],
            &["-r", file.to_str().unwrap()],
            &["--l3-cache-schema", "L3:0=f"],
            &["--mem-bw-schema", "MB:0=50"],
        ];
        let mut seen = Vec::new();
        for step in steps {
            let mut args = vec!["update"];
            args.extend_from_slice(step);
            args.push(&id);
            let out = rt.rt(&args);
            seen.push(format!(
                "{step:?}: {} {}",
                code(&out),
                v1_limits(&rt.cgroup("up"))
            ));
        }
        // `-r -`: the resources from stdin.
        let mut cmd = rt.cmd(&["update", "-r", "-", &id]);
        cmd.stdin(fs::File::open(&file).unwrap());
        let out = run_to_files(cmd, rt.fx.path());
        seen.push(format!(
            "-r -: {} {}",
            code(&out),
            v1_limits(&rt.cgroup("up"))
        ));
        seen
    });
}

#[test]
fn update_of_device_rules_writes_only_the_difference() {
    let Some(fx) = Fixture::new(bin(), "cli-devices") else {
        return;
    };
    if !hybrid() {
        return;
    }
    let rt = &runtimes(&fx)[0];
    let rules = json!([{"allow": false, "access": "rwm"},
                       {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]);
    let mut config = rt.config(
        "dev",
        "while true; do cat /dev/null || echo denied >> /tmp/fails; done",
    );
    config["linux"]["resources"]["devices"] = rules.clone();
    rt.fx.write_config(&config);
    let id = rt.id("dev");
    rt.create_and_start(&id);
    let list = v1_dir("devices", &rt.cgroup("dev")).join("devices.list");
    let before = fs::read_to_string(&list).unwrap();
    assert!(
        before.contains("c 1:3 rwm") && !before.contains("a *:*"),
        "{before}"
    );
    let mut more = rules.as_array().unwrap().clone();
    more.push(json!({"allow": true, "type": "b", "major": 7, "minor": 0, "access": "r"}));
    let file = rt.fx.path().join("devices.json");
    for round in 0..20 {
        let devices = if round % 2 == 0 {
            json!(more)
        } else {
            rules.clone()
        };
        fs::write(&file, json!({ "devices": devices }).to_string()).unwrap();
        let out = rt.rt(&["update", "-r", file.to_str().unwrap(), &id]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let now = fs::read_to_string(&list).unwrap();
        assert_eq!(now.contains("b 7:0 r"), round % 2 == 0, "{now}");
        assert!(now.contains("c 1:3 rwm"), "{now}");
    }
    let out = rt.rt(&["exec", &id, "cat", "/tmp/fails"]);
    assert_eq!(
        text(&out.stdout),
        "",
        "/dev/null was denied during an update"
    );
}

/// Every path of object keys in `v` (`/data/cpu/usage/total`), array items as `[]`.
fn key_paths(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                let p = format!("{prefix}/{k}");
                out.push(p.clone());
                key_paths(x, &p, out);
            }
        }
        Value::Array(a) => {
            if let Some(first) = a.first() {
                key_paths(first, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn events_stats_interval_and_oom_as_runc() {
    let Some(fx) = Fixture::new(bin(), "cli-events") else {
        return;
    };
    if !hybrid() {
        return;
    }
    same_under_each(&fx, |rt| {
        // What runc has and this runtime does not report (yet): cpuset. Not compared either:
        // hugetlb, which runc's v1 manager does not read from the hybrid cgroup2 mount, and
        // raw memory keys, kernel counters that appear once nonzero.
        let skipped = ["/data/cpuset", "/data/hugetlb/", "/data/memory/raw/"];
        let script = "sleep 1; a=x; while true; do a=$a$a; done";
        let mut config = rt.config("ev", script);
        config["linux"]["resources"]["memory"] = json!({"limit": 16777216, "swap": 16777216});
        rt.fx.write_config(&config);
        let id = rt.id("ev");
        assert!(rt.rt(&["create", &id]).status.success());
        let out = rt.rt(&["events", "--stats", &id]);
        let ev: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let mut keys = Vec::new();
        key_paths(&ev, "", &mut keys);
        keys.retain(|k| !skipped.iter().any(|s| k.starts_with(s)));
        keys.sort();
        // Streaming every 200ms until the container is OOM-killed: stats lines, then oom.
        let mut cmd = rt.cmd(&["events", "--interval", "200ms", &id]);
        let log = rt.fx.path().join(format!("{}-events", rt.name));
        cmd.stdout(fs::File::create(&log).unwrap())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        assert!(rt.rt(&["start", &id]).status.success());
        let mut types = Vec::new();
        for _ in 0..1500 {
            types = fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .map(|v| v["type"].as_str().unwrap_or_default().to_owned())
                .collect();
            if types.iter().any(|t| t == "oom") {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = rt.rt(&["delete", "--force", &id]);
        let _ = child.kill();
        let _ = child.wait();
        let stats = types.iter().filter(|t| *t == "stats").count();
        vec![
            format!("--stats: {} {keys:?}", code(&out)),
            format!(
                "stream: several stats {} oom {}",
                stats >= 2,
                types.iter().any(|t| t == "oom")
            ),
        ]
    });
}

#[test]
fn spec_bundle_writes_into_the_named_directory_as_runc() {
    let Some(fx) = Fixture::new(bin(), "cli-spec") else {
        return;
    };
    same_under_each(&fx, |rt| {
        let dir = rt.fx.path().join(format!("{}-spec", rt.name));
        fs::create_dir(&dir).unwrap();
        let d = dir.to_str().unwrap();
        let first = rt.rt(&["spec", "--bundle", d]);
        let config: Value =
            serde_json::from_slice(&fs::read(dir.join("config.json")).unwrap_or_default())
                .unwrap_or_default();
        let mut keys: Vec<String> = config
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        // Not over an existing config; nor into a missing directory.
        let again = rt.rt(&["spec", "-b", d]);
        let missing = rt.rt(&["spec", "-b", &format!("{d}/nope")]);
        vec![format!(
            "spec: {} {keys:?} again: {} missing: {} args {} root {}",
            code(&first),
            code(&again),
            code(&missing),
            config["process"]["args"],
            config["root"]["path"]
        )]
    });
}
