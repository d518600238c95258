//! The systemd cgroup driver (`--systemd-cgroup`) against a real systemd.
//!
//! This development host runs no systemd; the VM tier's guest (pure cgroup v2) boots the
//! host's systemd as PID 1 of a new PID namespace, once for this binary (one test runs every
//! scenario: the boot takes a minute or more under emulation). The runtime runs inside that
//! namespace (`nsenter -p -m`), as it would on a systemd host, so the pids it hands systemd
//! are systemd's. Each scenario deletes its container; the guard stops systemd and removes
//! the cgroups it made.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use iso_testutil::bundle::{run_to_files, text, Fixture};
use serde_json::{json, Value};

fn bin() -> String {
    std::env::var("ISO_RUNTIME_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_iso-runtime").to_owned())
}

const SYSTEMD: &str = "/lib/systemd/systemd";

/// systemd as PID 1 of a new PID (and mount) namespace; stopped, and its cgroups removed,
/// on drop.
struct BootedSystemd {
    unshare: Child,
    /// systemd's pid in our namespace.
    pid: i32,
    cgroups_before: Vec<PathBuf>,
    /// The root's `cgroup.subtree_control` before: systemd turns off controllers it does
    /// not use, which later tests of the same guest need.
    controllers_before: String,
    /// What `/run` held before (systemd's sockets and state go there).
    run_before: Vec<PathBuf>,
}

fn entries(dir: &str) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    all.sort();
    all
}

fn top_cgroups() -> Vec<PathBuf> {
    entries("/sys/fs/cgroup")
        .into_iter()
        .filter(|p| p.is_dir())
        .collect()
}

impl BootedSystemd {
    fn boot() -> BootedSystemd {
        let cgroups_before = top_cgroups();
        let controllers_before =
            fs::read_to_string("/sys/fs/cgroup/cgroup.subtree_control").unwrap();
        let run_before = entries("/run");
        let unshare = Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", SYSTEMD, "--system"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("unshare");
        let mut booted = BootedSystemd {
            pid: 0,
            unshare,
            cgroups_before,
            controllers_before,
            run_before,
        };
        let deadline = Instant::now() + Duration::from_secs(400);
        let children = format!("/proc/{0}/task/{0}/children", booted.unshare.id());
        while booted.pid == 0 {
            let text = fs::read_to_string(&children).unwrap_or_default();
            booted.pid = text
                .split_whitespace()
                .next()
                .map_or(0, |p| p.parse().unwrap());
            assert!(Instant::now() < deadline, "unshare started no systemd");
            std::thread::sleep(Duration::from_millis(20));
        }
        // systemctl from inside too: systemd refuses private connections from processes
        // it cannot see ("unprivileged client").
        loop {
            let out = booted
                .inside("systemctl")
                .arg("is-system-running")
                .output()
                .expect("systemctl");
            let state = text(&out.stdout);
            if matches!(state.trim(), "running" | "degraded") {
                break;
            }
            assert!(Instant::now() < deadline, "systemd still {state:?}");
            std::thread::sleep(Duration::from_millis(500));
        }
        booted
    }

    /// A command run inside systemd's PID and mount namespaces (in its root directory: paths
    /// given to it are absolute).
    fn inside(&self, program: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.arg("-t")
            .arg(self.pid.to_string())
            .args(["-p", "-m", program]);
        c
    }
}

impl Drop for BootedSystemd {
    fn drop(&mut self) {
        // SAFETY: kill of the systemd we started; the PID namespace dies with it.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        let _ = self.unshare.wait();
        for dir in top_cgroups() {
            if !self.cgroups_before.contains(&dir) {
                remove_cgroup_tree(&dir);
            }
        }
        for path in entries("/run") {
            if !self.run_before.contains(&path) {
                let _ = fs::remove_dir_all(&path).or_else(|_| fs::remove_file(&path));
            }
        }
        for c in self.controllers_before.split_whitespace() {
            let _ = fs::write("/sys/fs/cgroup/cgroup.subtree_control", format!("+{c}"));
        }
    }
}

fn remove_cgroup_tree(dir: &Path) {
    if let Ok(rd) = fs::read_dir(dir) {
        for sub in rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()) {
            remove_cgroup_tree(&sub);
        }
    }
    for _ in 0..100 {
        if fs::remove_dir(dir).is_ok() || !dir.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The runtime with `--root` of `fx` and `--systemd-cgroup`, inside systemd's namespaces.
fn rt(sd: &BootedSystemd, fx: &Fixture, args: &[&str]) -> Output {
    let mut c = sd.inside(&bin());
    c.arg("--root")
        .arg(fx.root())
        .arg("--systemd-cgroup")
        .args(args)
        .current_dir(fx.bundle())
        .stdin(Stdio::null());
    run_to_files(c, fx.path())
}

fn ok(out: &Output, what: &str) {
    assert!(out.status.success(), "{what}: {}", text(&out.stderr));
}

/// `systemctl show -p <p>` of `unit`: `p`'s value.
fn show(sd: &BootedSystemd, unit: &str, p: &str) -> String {
    let out = sd
        .inside("systemctl")
        .args(["show", unit, "-p", p, "--value"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "systemctl show: {}",
        text(&out.stderr)
    );
    text(&out.stdout).trim().to_owned()
}

fn cgroup_file(cgroup: &str, file: &str) -> String {
    let path = Path::new("/sys/fs/cgroup")
        .join(cgroup.trim_start_matches('/'))
        .join(file);
    fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_owned()
}

/// One container through run, update, pause, events, exec, kill and delete under
/// `cgroups_path`, checked from systemd's side and from the cgroup files.
fn lifecycle(sd: &BootedSystemd, fx: &Fixture, id: &str, cgroups_path: &str, want: (&str, &str)) {
    let (unit, cgroup) = want;
    let mut config = fx.config("sleep 600");
    config["linux"]["cgroupsPath"] = json!(cgroups_path);
    config["linux"]["resources"] = json!({
        "pids": {"limit": 33},
        "memory": {"limit": 64 << 20},
        "cpu": {"quota": 50000, "period": 100000, "shares": 512}
    });
    fx.write_config(&config);
    let bundle = fx.bundle();
    ok(
        &rt(
            sd,
            fx,
            &["run", "-d", "--bundle", bundle.to_str().unwrap(), id],
        ),
        "run -d",
    );
    assert_eq!(show(sd, unit, "ActiveState"), "active");
    assert_eq!(show(sd, unit, "ControlGroup"), cgroup);
    assert_eq!(show(sd, unit, "Delegate"), "yes");
    assert_eq!(show(sd, unit, "TasksMax"), "33");
    assert_eq!(show(sd, unit, "MemoryMax"), (64u64 << 20).to_string());
    assert_eq!(show(sd, unit, "CPUQuotaPerSecUSec"), "500ms");
    assert_eq!(cgroup_file(cgroup, "pids.max"), "33");
    assert_eq!(cgroup_file(cgroup, "memory.max"), (64u64 << 20).to_string());
    assert_eq!(cgroup_file(cgroup, "cpu.max"), "50000 100000");
    // The container's process is in the unit's cgroup (its pid is systemd's namespace's).
    let state: Value = serde_json::from_slice(&rt(sd, fx, &["state", id]).stdout).unwrap();
    let pid = state["pid"].as_i64().unwrap();
    let out = sd
        .inside("cat")
        .arg(format!("/proc/{pid}/cgroup"))
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout).trim(), format!("0::{cgroup}"));
    // update: systemd's properties and the files.
    let res = fx.path().join("update.json");
    fs::write(
        &res,
        r#"{"pids": {"limit": 44}, "memory": {"limit": 33554432}}"#,
    )
    .unwrap();
    ok(
        &rt(sd, fx, &["update", "-r", res.to_str().unwrap(), id]),
        "update",
    );
    assert_eq!(show(sd, unit, "TasksMax"), "44");
    assert_eq!(show(sd, unit, "MemoryMax"), "33554432");
    assert_eq!(cgroup_file(cgroup, "pids.max"), "44");
    assert_eq!(cgroup_file(cgroup, "memory.max"), "33554432");
    // pause and events work on the unit's cgroup.
    ok(&rt(sd, fx, &["pause", id]), "pause");
    assert_eq!(cgroup_file(cgroup, "cgroup.freeze"), "1");
    ok(&rt(sd, fx, &["resume", id]), "resume");
    let events = rt(sd, fx, &["events", "--stats", id]);
    ok(&events, "events --stats");
    assert!(text(&events.stdout).contains("\"pids\""));
    // exec joins the unit's cgroup; kill reaches the init; a plain delete then suffices.
    let exec = rt(sd, fx, &["exec", id, "cat", "/proc/self/cgroup"]);
    ok(&exec, "exec");
    assert_eq!(text(&exec.stdout).trim(), format!("0::{cgroup}"));
    ok(&rt(sd, fx, &["kill", id, "KILL"]), "kill");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let state: Value = serde_json::from_slice(&rt(sd, fx, &["state", id]).stdout).unwrap();
        if state["status"] == "stopped" {
            break;
        }
        assert!(Instant::now() < deadline, "{id} still {}", state["status"]);
        std::thread::sleep(Duration::from_millis(100));
    }
    ok(&rt(sd, fx, &["delete", id]), "delete");
    assert_eq!(show(sd, unit, "LoadState"), "not-found");
    assert!(!Path::new("/sys/fs/cgroup").join(&cgroup[1..]).exists());
}

#[test]
fn vm_systemd_cgroup_driver() {
    if !iso_testutil::vm_feature_or_skip(iso_testutil::VmFeature::CgroupV2) {
        return;
    }
    if !Path::new(SYSTEMD).exists() {
        eprintln!("skipped: {SYSTEMD} is missing");
        return;
    }
    // Booted first: systemd's boot cleans /tmp (systemd-tmpfiles), where the fixture lives.
    let sd = BootedSystemd::boot();
    let Some(fx) = Fixture::new(bin(), "rt-systemd") else {
        return;
    };
    let me = std::process::id();
    let id = format!("c1-{me}");
    lifecycle(
        &sd,
        &fx,
        &id,
        &format!("system.slice:iso:{id}"),
        (
            &format!("iso-{id}.scope"),
            &format!("/system.slice/iso-{id}.scope"),
        ),
    );
    let id = format!("c2-{me}");
    lifecycle(
        &sd,
        &fx,
        &id,
        &format!("kubepods-burstable-pod123.slice:cri-containerd:{id}"),
        (
            &format!("cri-containerd-{id}.scope"),
            &format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod123.slice/\
                 cri-containerd-{id}.scope"
            ),
        ),
    );
    // A failed create stops and resets its unit: nothing is left.
    let id = format!("c3-{me}");
    let mut config = fx.config("true");
    config["linux"]["cgroupsPath"] = json!(format!("system.slice:iso:{id}"));
    config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/x", "type": "no-such-fs", "source": "none"}));
    fx.write_config(&config);
    let bundle = fx.bundle();
    let out = rt(
        &sd,
        &fx,
        &["create", "--bundle", bundle.to_str().unwrap(), &id],
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("/x") || err.contains("no-such-fs"), "{err}");
    assert_eq!(
        show(&sd, &format!("iso-{id}.scope"), "LoadState"),
        "not-found"
    );
    assert!(!Path::new("/sys/fs/cgroup/system.slice")
        .join(format!("iso-{id}.scope"))
        .exists());
    assert!(!fx.root().join(&id).exists());
    measure(&sd, &fx);
}

/// What the driver adds to `create` and `delete`: the fastest of three of each, with
/// `--systemd-cgroup` and with a cgroupfs path (printed; under emulation only rough).
fn measure(sd: &BootedSystemd, fx: &Fixture) {
    let mut config = fx.config("true");
    config["linux"]["resources"] = json!({"pids": {"limit": 33}});
    for (driver, path, flag) in [
        ("systemd", "system.slice:iso:m", true),
        ("cgroupfs", fx.cgroup(), false),
    ] {
        config["linux"]["cgroupsPath"] = json!(path);
        fx.write_config(&config);
        let (mut create, mut delete) = (Duration::MAX, Duration::MAX);
        for _ in 0..3 {
            let time = |args: &[&str]| {
                let mut c = sd.inside(&bin());
                c.arg("--root").arg(fx.root());
                if flag {
                    c.arg("--systemd-cgroup");
                }
                c.args(args).current_dir(fx.bundle()).stdin(Stdio::null());
                let t = Instant::now();
                ok(&run_to_files(c, fx.path()), &args.join(" "));
                t.elapsed()
            };
            let bundle = fx.bundle();
            create = create.min(time(&["create", "--bundle", bundle.to_str().unwrap(), "m"]));
            delete = delete.min(time(&["delete", "--force", "m"]));
        }
        eprintln!("{driver}: create {create:?}, delete {delete:?} (fastest of 3)");
    }
}
