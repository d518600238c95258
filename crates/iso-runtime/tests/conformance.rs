//! Conformance suite: the `iso-runtime` binary on real bundles (a busybox-static rootfs),
//! checked from inside the container (its output) and from the host (state JSON, cgroup
//! files, what is left behind). Every test deletes its container in a guard.
//!
//! The suite runs twice in CI: on the development host (cgroup v1 controllers plus a cgroup2
//! mount, no AppArmor) and, whole, in the VM tier (`tests/vm/tier.sh`: pure cgroup v2 with
//! every controller, AppArmor active). Each test reads the cgroup files of the host it runs
//! on ([`cgroup_v2`], [`cgroup_dir`], [`cgroup_value`]). The bundle, state root, cgroup path and
//! cleanup come from `iso_testutil::bundle::Fixture`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use iso_testutil::bundle::{run_to_files, text, Fixture};
use serde_json::{json, Value};

#[path = "security/apparmor_profile.rs"]
mod apparmor_profile;
use apparmor_profile::TestProfile;

/// The runtime under test: this build's, or the binary `ISO_RUNTIME_BIN` names (the installed
/// one from `scripts/build-dist.sh`, which `scripts/test.sh` checks this way too).
fn bin() -> String {
    std::env::var("ISO_RUNTIME_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_iso-runtime").to_owned())
}
/// How long a test waits for something the container does at its own pace: generous,
/// because the VM tier emulates its CPUs in software on a shared machine. Only an upper
/// bound; nothing asserts how fast anything happens.
const WAIT: Duration = Duration::from_secs(120);

/// Whether this host has a pure cgroup v2 hierarchy at /sys/fs/cgroup (the VM tier) rather
/// than v1 controllers (this development host).
fn cgroup_v2() -> bool {
    iso_testutil::VmFeature::CgroupV2.present()
}

/// The container's pids limit as the container reads it through its /sys/fs/cgroup mount.
fn pids_max_inside() -> &'static str {
    if cgroup_v2() {
        "/sys/fs/cgroup/pids.max"
    } else {
        "/sys/fs/cgroup/pids/pids.max"
    }
}

/// How /proc/self/cgroup names the hierarchy of the pids controller: `pids:` on v1, the
/// single unified line `0::` on v2.
fn pids_hierarchy() -> &'static str {
    if cgroup_v2() {
        "0::"
    } else {
        "pids:"
    }
}

/// A config like `runc spec` writes, running `script` with `sh -c`: the shared fixture's
/// config (its namespaces, cgroup and pids limit) with a read-only root, an rlimit, more
/// environment, the usual /dev, /sys and cgroup mounts, and more masked and read-only paths.
fn base_config(fx: &Fixture, script: &str) -> Value {
    let mut config = fx.config(script);
    config["process"]["env"] = json!(["PATH=/bin", "TERM=xterm", "ISO_TEST=yes"]);
    config["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1000}]);
    config["root"]["readonly"] = json!(true);
    config["mounts"] = json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}
    ]);
    config["linux"]["maskedPaths"] = json!([
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/sys/firmware"
    ]);
    config["linux"]["readonlyPaths"] = json!(["/proc/sys", "/proc/sysrq-trigger"]);
    config
}

/// The fixture's cgroup directory for `controller` (a v1 hierarchy name); on a cgroup v2
/// host the one unified directory, whatever the controller.
fn cgroup_dir(fx: &Fixture, controller: &str) -> PathBuf {
    if cgroup_v2() {
        Path::new("/sys/fs/cgroup").join(fx.cgroup().trim_start_matches('/'))
    } else {
        fx.cgroup_dir(controller)
    }
}

/// Reads the interface file `file` of the fixture's cgroup (in `controller`'s hierarchy on
/// v1), trimmed. The caller picks the file name of the host's cgroup version.
fn cgroup_value(fx: &Fixture, controller: &str, file: &str) -> String {
    let path = cgroup_dir(fx, controller).join(file);
    fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_owned()
}

/// Polls `state` until the container's status is `want` (at most [`WAIT`]).
fn wait_status(fx: &Fixture, id: &str, want: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let st = fx.state(id);
        if st["status"] == want || Instant::now() > deadline {
            return st;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The command failed and its error names `needle`.
fn fails_naming(out: &Output, needle: &str) {
    assert!(
        !out.status.success(),
        "succeeded; expected an error naming {needle:?}"
    );
    assert!(text(&out.stderr).contains(needle), "{}", text(&out.stderr));
}

/// `create` (of the bundle's current config) under a new id for `name` fails, its error
/// names `needle`, and it leaves no state entry.
fn create_fails_naming(fx: &mut Fixture, name: &str, needle: &str) {
    let id = fx.id(name);
    let out = fx.rt(&["create", &id]);
    fails_naming(&out, needle);
    assert!(
        !fx.root().join(&id).exists(),
        "create {name} left its state"
    );
}

#[test]
fn run_shows_the_container_view_and_returns_its_exit_code() {
    let Some(mut fx) = Fixture::new(bin(), "rt-run") else {
        return;
    };
    let script = format!(
        "echo pid=$$; hostname; id -u; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; \
         echo env=$ISO_TEST; cat {}; ls /dev; \
         touch /rootfs-is-writable 2>/dev/null || echo root-ro; \
         touch /tmp/ok && echo tmp-rw; echo timer=$(cat /proc/timer_list | wc -c); \
         echo sysrq > /proc/sysrq-trigger 2>/dev/null || echo sysrq-ro; \
         echo nofile=$(ulimit -n); exit 7",
        pids_max_inside()
    );
    fx.write_config(&base_config(&fx, &script));
    let id = fx.id("run");
    let out = fx.rt(&["run", &id]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(7),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    for want in [
        "pid=1",
        "isotest",
        "\n0\n",
        "CapEff:\t0000000020000420",
        "NoNewPrivs:\t1",
        "env=yes",
        "\n42\n",
        "null",
        "zero",
        "pts",
        "shm",
        "root-ro",
        "tmp-rw",
        "timer=0",
        "sysrq-ro",
        "nofile=1000",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
    }
    // run deletes the container: no state, no cgroup.
    assert!(!fx.root().join(&id).exists());
    assert!(!cgroup_dir(&fx, "pids").exists());
}

#[test]
fn lifecycle_states_and_errors() {
    let Some(mut fx) = Fixture::new(bin(), "rt-life") else {
        return;
    };
    fx.write_config(&base_config(&fx, "sleep 600"));
    let id = fx.id("life");
    let pid_file = fx.path().join("pid");
    let out = fx.rt(&[
        "create",
        "--bundle",
        fx.bundle().to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);
    assert!(out.status.success(), "create: {}", text(&out.stderr));
    let st = fx.state(&id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], id.as_str());
    assert_eq!(st["ociVersion"], "1.0.2");
    let pid = st["pid"].as_i64().unwrap();
    assert!(pid > 0);
    assert_eq!(
        fs::read_to_string(&pid_file).unwrap().trim(),
        pid.to_string()
    );
    // From the host: the init is in the cgroup, with the limit applied.
    let procs = fs::read_to_string(cgroup_dir(&fx, "pids").join("cgroup.procs")).unwrap();
    assert!(procs.lines().any(|l| l == pid.to_string()), "{procs}");
    assert_eq!(
        fs::read_to_string(cgroup_dir(&fx, "pids").join("pids.max"))
            .unwrap()
            .trim(),
        "42"
    );
    // While waiting, the init is not dumpable (its /proc/PID/exe is the runtime).
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.contains("NoNewPrivs:\t0"));
    // Flags after the id work too.
    let out = fx.rt(&["start", &id]);
    assert!(out.status.success(), "start: {}", text(&out.stderr));
    assert_eq!(fx.state(&id)["status"], "running");
    let exe = fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert!(exe.ends_with("busybox"), "{exe:?}");
    // Lifecycle errors.
    let out = fx.rt(&["start", &id]);
    assert!(!out.status.success(), "second start must fail");
    let out = fx.rt(&["delete", &id]);
    assert!(
        !out.status.success(),
        "delete of a running container must fail"
    );
    assert!(
        text(&out.stderr).contains("running"),
        "{}",
        text(&out.stderr)
    );
    let out = fx.rt(&["kill", &id, "KILL"]);
    assert!(out.status.success(), "kill: {}", text(&out.stderr));
    assert_eq!(wait_status(&fx, &id, "stopped")["status"], "stopped");
    let out = fx.rt(&["kill", &id, "9"]);
    assert!(
        !out.status.success(),
        "kill of a stopped container must fail"
    );
    // containerd's shim treats the kill as "already finished" only with runc's phrase.
    assert!(
        text(&out.stderr).contains("container not running"),
        "{}",
        text(&out.stderr)
    );
    let out = fx.rt(&["delete", &id]);
    assert!(out.status.success(), "delete: {}", text(&out.stderr));
    assert!(!fx.root().join(&id).exists());
    assert!(!cgroup_dir(&fx, "pids").exists());
    let out = fx.rt(&["state", &id]);
    assert!(!out.status.success());
}

#[test]
fn delete_force_kills_and_kill_all_reaches_every_process() {
    let Some(mut fx) = Fixture::new(bin(), "rt-force") else {
        return;
    };
    fx.write_config(&base_config(&fx, "sleep 600 & sleep 601"));
    let id = fx.id("force");
    let out = fx.rt(&["run", "--detach", &id]);
    assert!(out.status.success(), "run -d: {}", text(&out.stderr));
    assert_eq!(fx.state(&id)["status"], "running");
    let out = fx.rt(&["pause", &id]);
    assert!(out.status.success(), "pause: {}", text(&out.stderr));
    assert_eq!(fx.state(&id)["status"], "paused");
    assert!(!fx.rt(&["pause", &id]).status.success());
    let out = fx.rt(&["resume", &id]);
    assert!(out.status.success(), "resume: {}", text(&out.stderr));
    assert_eq!(fx.state(&id)["status"], "running");
    let out = fx.rt(&["kill", "--all", &id, "KILL"]);
    assert!(out.status.success(), "kill --all: {}", text(&out.stderr));
    assert_eq!(wait_status(&fx, &id, "stopped")["status"], "stopped");
    fx.rt(&["delete", &id]);

    let id = fx.id("force2");
    fx.rt(&["run", "-d", &id]);
    let out = fx.rt(&["delete", "--force", &id]);
    assert!(out.status.success(), "delete -f: {}", text(&out.stderr));
    assert!(!fx.root().join(&id).exists());
    assert!(!cgroup_dir(&fx, "pids").exists());
}

#[test]
fn failed_create_leaves_no_trace_and_names_the_problem() {
    let Some(mut fx) = Fixture::new(bin(), "rt-fail") else {
        return;
    };
    let mut config = base_config(&fx, "true");
    config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/x", "type": "no-such-fs", "source": "none"}));
    fx.write_config(&config);
    let id = fx.id("fail");
    let log = fx.path().join("log.json");
    let out = fx.rt(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "create",
        &id,
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("/x") || err.contains("no-such-fs"), "{err}");
    let line = fs::read_to_string(&log).unwrap();
    let last: Value = serde_json::from_str(line.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    assert!(last["msg"].as_str().unwrap().contains("container init"));
    assert!(last["time"].is_string());
    assert!(!fx.root().join(&id).exists(), "state dir left behind");
    assert!(!cgroup_dir(&fx, "pids").exists(), "cgroup left behind");
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(fx.path().to_str().unwrap()));

    // A missing program fails at create (as with runc: engines cannot delete a container whose
    // start failed until they saw its init exit), with the name, and leaves no trace.
    fx.write_config(&base_config(&fx, "true"));
    for (name, program) in [
        ("noprog", "nonexistent-program"),
        ("noabs", "/no/such/program"),
    ] {
        let mut config = base_config(&fx, "");
        config["process"]["args"] = json!([program]);
        fx.write_config(&config);
        create_fails_naming(&mut fx, name, program);
        assert!(!cgroup_dir(&fx, "pids").exists());
    }
}

#[test]
fn run_forwards_signals_to_the_container() {
    let Some(mut fx) = Fixture::new(bin(), "rt-sig") else {
        return;
    };
    // pid 1 only receives signals it handles: the trap makes TERM end it with 143.
    fx.write_config(&base_config(
        &fx,
        "trap 'exit 143' TERM; echo ready > /dev/shm/r; while :; do sleep 0.1; done",
    ));
    let id = fx.id("sig");
    let mut cmd = fx.cmd(&["run", &id]);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + WAIT;
    while fx.state_opt(&id).map(|s| s["status"] == "running") != Some(true)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    // The trap is set once the container wrote its marker (seen through /proc/PID/root).
    let pid = fx.state(&id)["pid"].as_i64().unwrap();
    let marker = format!("/proc/{pid}/root/dev/shm/r");
    while !Path::new(&marker).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(Path::new(&marker).exists(), "the container never got ready");
    // SAFETY: kill of the child process we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143));
}

#[test]
fn systemd_cgroup_flag_checks_the_path_and_features_report_it() {
    let out = Command::new(bin()).arg("features").output().unwrap();
    let features: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(features["linux"]["cgroup"]["systemd"], true);
    assert!(features["hooks"].as_array().unwrap().len() == 6);
    let out = Command::new(bin()).arg("--version").output().unwrap();
    assert!(text(&out.stdout).contains("iso-runtime"));
    let Some(mut fx) = Fixture::new(bin(), "rt-sd") else {
        return;
    };
    // A cgroupfs path under --systemd-cgroup: refused by the plan, naming the field and
    // the form, before anything exists.
    let config = base_config(&fx, "true");
    fx.write_config(&config);
    let id = fx.id("sd");
    let out = fx.rt(&["--systemd-cgroup", "create", &id]);
    fails_naming(&out, "linux.cgroupsPath");
    fails_naming(&out, "slice:prefix:name");
    assert_eq!(fx.leftovers(&id), Vec::<String>::new());
    // Without systemd (this host has none; the VM tier boots one for vm_systemd_*), a valid
    // path fails naming systemd's socket, and leaves nothing either.
    if !Path::new(iso_cgroups::SYSTEMD_PRIVATE_SOCKET).exists() {
        let mut config = config;
        config["linux"]["cgroupsPath"] = json!("system.slice:iso-test:nosd");
        fx.write_config(&config);
        let out = fx.rt(&["--systemd-cgroup", "create", &id]);
        fails_naming(&out, iso_cgroups::SYSTEMD_PRIVATE_SOCKET);
        assert_eq!(fx.leftovers(&id), Vec::<String>::new());
    }
}

#[test]
fn hooks_run_in_order_with_state_on_stdin() {
    let Some(mut fx) = Fixture::new(bin(), "rt-hooks") else {
        return;
    };
    let log_dir = fx.path().join("hooklog");
    fs::create_dir(&log_dir).unwrap();
    let log = log_dir.join("log");
    let hook = |name: &str| {
        json!({"path": "/bin/sh", "args": ["sh", "-c",
            format!("grep -q '\"id\"' && echo {name} >> {}", log.display())]})
    };
    let mut config = base_config(&fx, "echo main >> $LOG");
    config["process"]["env"]
        .as_array_mut()
        .unwrap()
        .push(json!(format!("LOG={}", log.display())));
    // The host's log directory at the same path inside, for the in-container hooks.
    config["mounts"].as_array_mut().unwrap().push(json!({
        "destination": log_dir, "type": "bind", "source": log_dir, "options": ["rbind", "rw"]
    }));
    config["hooks"] = json!({
        "prestart": [hook("prestart")],
        "createRuntime": [hook("createRuntime")],
        "createContainer": [hook("createContainer")],
        "startContainer": [hook("startContainer")],
        "poststart": [hook("poststart")],
        "poststop": [hook("poststop")]
    });
    fx.write_config(&config);
    let id = fx.id("hooks");
    let out = fx.rt(&["run", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got = fs::read_to_string(&log).unwrap();
    let order: Vec<&str> = got.lines().collect();
    // poststart runs after the program was executed: it may come before or after "main".
    let without_main: Vec<&str> = order.iter().copied().filter(|l| *l != "main").collect();
    assert_eq!(
        without_main,
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ],
        "{got}"
    );
    assert!(order.contains(&"main"));

    // A failing prestart hook fails create and leaves nothing.
    config["hooks"] = json!({"prestart": [{"path": "/bin/false"}]});
    fx.write_config(&config);
    create_fails_naming(&mut fx, "hookfail", "prestart");
}

#[test]
fn preserve_fds_passes_descriptors_and_closes_the_rest() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let Some(mut fx) = Fixture::new(bin(), "rt-fds") else {
        return;
    };
    fx.write_config(&base_config(
        &fx,
        "echo via-fd3 >&3; ls /proc/self/fd | grep -c .",
    ));
    let id = fx.id("fds");
    let file = fs::File::create(fx.path().join("fd3")).unwrap();
    let raw = file.as_raw_fd();
    let mut cmd = fx.cmd(&["run", "--preserve-fds", "1", &id]);
    // SAFETY: dup2 in the forked child before exec, async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            if raw == 3 {
                libc::fcntl(3, libc::F_SETFD, 0);
            } else if libc::dup2(raw, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = run_to_files(cmd, fx.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        fs::read_to_string(fx.path().join("fd3")).unwrap(),
        "via-fd3\n"
    );
    // 0, 1, 2, 3 and the one ls opens for the directory: nothing leaked.
    assert_eq!(text(&out.stdout).trim(), "5", "{}", text(&out.stdout));
}

#[test]
fn terminal_sends_the_pty_master_to_the_console_socket() {
    use std::io::Read;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixListener;
    let Some(mut fx) = Fixture::new(bin(), "rt-tty") else {
        return;
    };
    let mut config = base_config(&fx, "tty; echo hello-tty");
    config["process"]["terminal"] = json!(true);
    // Deny every device, as `runc spec` does: the runtime still allows the defaults.
    config["linux"]["resources"]["devices"] = json!([{"allow": false, "access": "rwm"}]);
    fx.write_config(&config);
    let sock = fx.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let id = fx.id("tty");
    let pidfd_sock = fx.path().join("pidfd.sock");
    let pidfd_listener = UnixListener::bind(&pidfd_sock).unwrap();
    let out = fx.rt(&[
        "create",
        "--console-socket",
        sock.to_str().unwrap(),
        "--pidfd-socket",
        pidfd_sock.to_str().unwrap(),
        &id,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (conn, _) = listener.accept().unwrap();
    let mut name = [0u8; 64];
    let (master, n) = iso_seccomp::notify::recv_fd(conn.as_fd(), &mut name).unwrap();
    assert!(text(&name[..n]).starts_with("/dev/pts/"));
    drop(conn);
    // The pidfd refers to the init: its fdinfo names the pid.
    let (pconn, _) = pidfd_listener.accept().unwrap();
    let (pidfd, _) = iso_seccomp::notify::recv_fd(pconn.as_fd(), &mut name).unwrap();
    let fdinfo = fs::read_to_string(format!(
        "/proc/self/fdinfo/{}",
        std::os::fd::AsRawFd::as_raw_fd(&pidfd)
    ))
    .unwrap();
    let pid = fx.state(&id)["pid"].as_i64().unwrap();
    assert!(fdinfo.contains(&format!("Pid:\t{pid}")), "{fdinfo}");
    assert!(fx.rt(&["start", &id]).status.success());
    let mut master = fs::File::from(master);
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while let Ok(n) = master.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if text(&got).contains("hello-tty") {
            break;
        }
    }
    let got = text(&got);
    assert!(
        got.contains("/dev/console") || got.contains("/dev/pts/"),
        "{got}"
    );
    assert!(got.contains("hello-tty"), "{got}");
}

/// Reads the pty `master` until `until` appears, it closes, or [`WAIT`] passes.
fn read_pty_until(master: &fs::File, until: &str) -> String {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let deadline = Instant::now() + WAIT;
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !text(&got).contains(until) && Instant::now() < deadline {
        let mut pfd = libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll on one valid pollfd.
        if unsafe { libc::poll(&mut pfd, 1, 1000) } <= 0 {
            continue;
        }
        match (&*master).read(&mut buf) {
            Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    text(&got).replace("\r\n", "\n")
}

/// Runs the bundle with `terminal: true` under the runtime `argv` (before its global
/// flags), state in `state`: create with a console socket, start, and what the program
/// writes to its terminal (until `END`). The container is deleted.
fn tty_under(fx: &Fixture, argv: &[&str], state: &Path, id: &str) -> Result<String, String> {
    use std::os::fd::AsFd;
    let sock = fx.path().join(format!("console-{id}.sock"));
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let cmd = |args: &[&str]| {
        let mut c = Command::new(argv[0]);
        c.args(&argv[1..])
            .arg("--root")
            .arg(state)
            .args(args)
            .current_dir(fx.bundle())
            .stdin(Stdio::null());
        run_to_files(c, fx.path())
    };
    let sock_arg = sock.to_str().unwrap();
    let created = cmd(&["create", "--console-socket", sock_arg, id]);
    let result = if created.status.success() {
        let (conn, _) = listener.accept().unwrap();
        let mut name = [0u8; 64];
        let (master, _) = iso_seccomp::notify::recv_fd(conn.as_fd(), &mut name).unwrap();
        let started = cmd(&["start", id]);
        if started.status.success() {
            Ok(read_pty_until(&fs::File::from(master), "END"))
        } else {
            Err(format!("start: {}", text(&started.stderr)))
        }
    } else {
        Err(format!("create: {}", text(&created.stderr)))
    };
    cmd(&["delete", "--force", id]);
    result
}

/// With no tmpfs on `/dev`, the root filesystem's own `/dev` gets the missing standard links
/// (`ptmx -> pts/ptmx` among them), so a `terminal: true` container opens a pty of its
/// devpts, and existing entries are kept. runc (when installed) does the same.
#[test]
fn terminal_works_without_a_dev_tmpfs() {
    let Some(mut fx) = Fixture::new(bin(), "rt-tty-nodev") else {
        return;
    };
    let mut config = base_config(
        &fx,
        "tty; readlink /dev/ptmx; readlink /dev/stdin; cat /dev/kept; echo END",
    );
    config["process"]["terminal"] = json!(true);
    config["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["destination"] != "/dev");
    let dev = fx.rootfs().join("dev");
    let reset_dev = || {
        fs::remove_dir_all(&dev).unwrap();
        fs::create_dir(&dev).unwrap();
        fs::write(dev.join("kept"), "kept\n").unwrap();
    };
    reset_dev();
    fx.write_config(&config);
    let id = fx.id("tty-nodev");
    let ours = tty_under(&fx, &[&bin()], &fx.root(), &id).unwrap();
    assert_eq!(
        ours.lines().collect::<Vec<_>>(),
        ["/dev/pts/0", "pts/ptmx", "/proc/self/fd/0", "kept", "END"],
        "{ours}"
    );
    assert!(fx.leftovers(&id).is_empty(), "{:?}", fx.leftovers(&id));
    if !Path::new("/usr/sbin/runc").exists() {
        eprintln!("skipped the comparison: runc is not installed");
        return;
    }
    reset_dev();
    let cgroup = format!("{}-runc", fx.cgroup());
    config["linux"]["cgroupsPath"] = json!(cgroup);
    fx.write_config(&config);
    let state = fx.path().join("runc-state");
    let theirs = tty_under(&fx, &["/usr/sbin/runc"], &state, &format!("runc-{id}"));
    for h in iso_testutil::bundle::cgroup_hierarchies() {
        let _ = fs::remove_dir(h.join(cgroup.trim_start_matches('/')));
    }
    // By line: whether the last newline is read before the pty closes is a race (seen in
    // the VM: runc's output lost it).
    let theirs = theirs.unwrap();
    assert_eq!(
        ours.lines().collect::<Vec<_>>(),
        theirs.lines().collect::<Vec<_>>(),
        "iso-runtime (left) vs runc (right)"
    );
}

/// `linux.memoryPolicy` (runtime-spec 1.3): the container's process, and a process `exec`ed
/// into it, run under the policy (read back from the kernel's `numa_maps`); a node that is
/// not online fails `create` naming the field, and leaves nothing behind.
#[test]
fn memory_policy_is_set_before_exec_and_a_bad_node_names_the_field() {
    let Some(mut fx) = Fixture::new(bin(), "rt-mempol") else {
        return;
    };
    for (mode, shown) in [("MPOL_BIND", "bind:0"), ("MPOL_PREFERRED", "prefer:0")] {
        let mut config = base_config(&fx, "sleep 600");
        config["linux"]["memoryPolicy"] = json!({"mode": mode, "nodes": "0"});
        fx.write_config(&config);
        let id = fx.id(&mode[5..].to_lowercase());
        let out = fx.rt(&["run", "-d", &id]);
        assert!(out.status.success(), "{mode}: {}", text(&out.stderr));
        let pid = fx.state(&id)["pid"].as_i64().unwrap();
        let maps = fs::read_to_string(format!("/proc/{pid}/numa_maps")).unwrap();
        assert!(maps.lines().all(|l| l.contains(shown)), "{mode}:\n{maps}");
        let exec = fx.rt(&["exec", &id, "cat", "/proc/self/numa_maps"]);
        assert!(exec.status.success(), "{}", text(&exec.stderr));
        assert!(
            text(&exec.stdout).lines().all(|l| l.contains(shown)),
            "exec {mode}"
        );
        assert!(fx.rt(&["delete", "--force", &id]).status.success());
    }
    let mut config = base_config(&fx, "true");
    config["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "63"});
    fx.write_config(&config);
    let id = fx.id("offline");
    let out = fx.rt(&["create", &id]);
    assert!(!out.status.success(), "node 63 was accepted");
    assert!(
        text(&out.stderr).contains("linux.memoryPolicy"),
        "{}",
        text(&out.stderr)
    );
    assert!(!fx.root().join(&id).exists(), "state dir left behind");
}

#[test]
fn process_fields_seen_from_the_host() {
    let Some(mut fx) = Fixture::new(bin(), "rt-proc") else {
        return;
    };
    let mut config = base_config(&fx, "sleep 600");
    config["process"]["user"] =
        json!({"uid": 1000, "gid": 1001, "additionalGids": [5], "umask": 23});
    config["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 5});
    config["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_IDLE", "priority": 7});
    config["process"]["execCPUAffinity"] = json!({"final": "0"});
    config["process"]["oomScoreAdj"] = json!(100);
    config["linux"]["personality"] = json!({"domain": "LINUX32"});
    config["linux"]["sysctl"] = json!({"kernel.domainname": "sysctl.example"});
    fx.write_config(&config);
    let id = fx.id("proc");
    let out = fx.rt(&["run", "-d", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pid = fx.state(&id)["pid"].as_i64().unwrap();
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    for want in [
        "Uid:\t1000\t1000\t1000\t1000",
        "Gid:\t1001\t1001\t1001\t1001",
        "Groups:\t5",
        "Umask:\t0027",
        "Cpus_allowed_list:\t0\n",
        "CapEff:\t0000000000000000",
        "NoNewPrivs:\t1",
    ] {
        assert!(status.contains(want), "missing {want:?} in\n{status}");
    }
    let personality = fs::read_to_string(format!("/proc/{pid}/personality")).unwrap();
    assert_eq!(personality.trim(), "00000008");
    let adj = fs::read_to_string(format!("/proc/{pid}/oom_score_adj")).unwrap();
    assert_eq!(adj.trim(), "100");
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    assert_eq!(fields[19 - 3], "5", "nice");
    assert_eq!(fields[41 - 3], "3", "policy SCHED_BATCH");
    // SAFETY: ioprio_get with integer arguments.
    let prio = unsafe { libc::syscall(libc::SYS_ioprio_get, 1, pid as i32) };
    assert_eq!(prio, (3 << 13) | 7);
    // The sysctl was written in the container's UTS namespace, not the host's.
    assert_ne!(
        fs::read_to_string("/proc/sys/kernel/domainname")
            .unwrap()
            .trim(),
        "sysctl.example"
    );
}

#[test]
fn seccomp_user_and_cgroup_namespaces() {
    let Some(mut fx) = Fixture::new(bin(), "rt-ns") else {
        return;
    };
    let script = "grep Seccomp: /proc/self/status; mkdir /tmp/d 2>&1 || echo mkdir-denied; \
                  echo uid=$(id -u); cat /proc/self/uid_map; cat /proc/self/cgroup";
    let mut config = base_config(&fx, script);
    config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    });
    config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .extend([json!({"type": "user"}), json!({"type": "cgroup"})]);
    config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    fx.write_config(&config);
    let id = fx.id("ns");
    let out = fx.rt(&["run", &id]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    // In its own cgroup namespace the container's cgroup is the root.
    let own_root = format!("{}/\n", pids_hierarchy());
    for want in ["Seccomp:\t2", "mkdir-denied", "uid=0", "100000", &own_root] {
        assert!(stdout.contains(want), "missing {want:?} in\n{stdout}");
    }
}

/// The bundle of the differential test: a script printing what the container sees, run
/// the same way under each runtime.
///
/// On a cgroup v2 host the container also gets a cgroup namespace. Without one, what the
/// `cgroup` mount shows is not defined by the runtime spec and the runtimes differ: runc
/// mounts a cgroup2 filesystem, which shows the host's whole hierarchy from its root, while
/// iso-runtime binds the container's own cgroup directory (as it does per hierarchy on v1).
/// In a cgroup namespace the container's cgroup is the root of its view under every runtime,
/// so the cgroup lines are compared too.
fn view_config(fx: &Fixture) -> Value {
    let script = format!(
        "echo pid=$$; hostname; id; grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status; \
         ls -a /dev; ls /dev/pts /dev/shm /dev/mqueue; echo nofile=$(ulimit -n); pwd; \
         env | grep -v '^HOME=' | sort; \
         echo timer=$(cat /proc/timer_list | wc -c); touch /x 2>/dev/null || echo root-ro; \
         echo 1 > /proc/sys/kernel/domainname 2>/dev/null || echo procsys-ro; \
         ls /sys/fs/cgroup; cat {}; umask",
        pids_max_inside()
    );
    let mut config = base_config(fx, &script);
    if cgroup_v2() {
        config["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "cgroup"}));
    }
    config
}

/// The lines of a container's view that the runtimes are compared on. Excluded, because the
/// runtime spec does not define them and the runtimes deliberately differ:
/// - `core`: runc and crun add a /dev/core symlink to /proc/kcore when the kernel has
///   /proc/kcore (the VM tier's does, this host's does not); the spec's default /dev has no
///   such link and iso-runtime makes none.
/// - `unified`: on a hybrid host iso-runtime also binds the container's directory of the
///   cgroup2 mount into /sys/fs/cgroup; runc 1.1 and crun 1.8 leave it out.
/// - `net_cls`, `net_prio`: crun 1.8 adds these directories to the v1 cgroup tmpfs although
///   this host mounts no such hierarchy.
fn compared_view(out: &str) -> Vec<&str> {
    out.lines()
        .filter(|l| !matches!(*l, "core" | "unified" | "net_cls" | "net_prio"))
        .collect()
}

/// Runs the view bundle under another runtime (`argv` before the global flags) in its own
/// cgroup, removing that cgroup afterwards.
fn view_under(fx: &Fixture, name: &str, argv: &[&str]) -> Output {
    let mut config = view_config(fx);
    let cgroup = format!("{}-{name}", fx.cgroup());
    config["linux"]["cgroupsPath"] = json!(cgroup);
    fx.write_config(&config);
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..])
        .arg("--root")
        .arg(fx.path().join(format!("{name}-state")))
        .args(["run", &format!("{name}-{}", std::process::id())])
        .current_dir(fx.bundle())
        .stdin(Stdio::null());
    let out = run_to_files(cmd, fx.path());
    for h in iso_testutil::bundle::cgroup_hierarchies() {
        let _ = fs::remove_dir(h.join(cgroup.trim_start_matches('/')));
    }
    out
}

/// The same bundle under iso-runtime, runc and crun (Debian packages): the container must
/// see the same things.
#[test]
fn differential_against_runc_and_crun() {
    let Some(mut fx) = Fixture::new(bin(), "rt-diff") else {
        return;
    };
    fx.write_config(&view_config(&fx));
    let id = fx.id("diff");
    let ours = fx.rt(&["run", &id]);
    assert!(ours.status.success(), "{}", text(&ours.stderr));
    let ours = text(&ours.stdout);
    // Our own view holds the limit, whichever runtime it is compared with.
    assert!(ours.contains("\n42\n"), "{ours}");
    let ours = compared_view(&ours);
    let mut compared = 0;
    if Path::new("/usr/sbin/runc").exists() {
        let out = view_under(&fx, "runc", &["/usr/sbin/runc"]);
        assert!(out.status.success(), "runc: {}", text(&out.stderr));
        let theirs = text(&out.stdout);
        assert_eq!(
            ours,
            compared_view(&theirs),
            "iso-runtime (left) vs runc (right)"
        );
        compared += 1;
    }
    if Path::new("/usr/bin/crun").exists() {
        let argv = iso_testutil::bundle::crun_argv(fx.path());
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = view_under(&fx, "crun", &argv);
        assert!(out.status.success(), "crun: {}", text(&out.stderr));
        let theirs = text(&out.stdout);
        assert_eq!(
            ours,
            compared_view(&theirs),
            "iso-runtime (left) vs crun (right)"
        );
        compared += 1;
    }
    if compared == 0 {
        eprintln!("skipped: neither runc nor crun is installed");
    }
}

/// The VM tier (pure cgroup v2, AppArmor active): each resource limit seen from the host (the
/// container's cgroup files) and from inside (its /sys/fs/cgroup), and the AppArmor profile
/// of the init and of exec'd processes, from the host (/proc/PID/attr/current) and inside
/// (/proc/self/attr/current).
#[test]
fn vm_cgroup_v2_limits_and_apparmor_profile() {
    if !iso_testutil::vm_feature_or_skip(iso_testutil::VmFeature::CgroupV2) {
        return;
    }
    if !iso_testutil::vm_feature_or_skip(iso_testutil::VmFeature::AppArmor) {
        return;
    }
    let Some(mut fx) = Fixture::new(bin(), "rt-vm") else {
        return;
    };
    let profile = TestProfile::load("iso-test-rt-vm");
    let exec_profile = TestProfile::load("iso-test-rt-vm-exec");
    // Each file and the value the configuration below must give it. memory+swap 48M is a
    // swap of 16M on v2; shares 1024 is weight 1 + (1024 - 2) * 9999 / 262142 = 39.
    let want = [
        ("pids.max", "42"),
        ("memory.max", "33554432"),
        ("memory.swap.max", "16777216"),
        ("cpu.max", "20000 100000"),
        ("cpu.weight", "39"),
    ];
    let files: Vec<&str> = want.iter().map(|(f, _)| *f).collect();
    let mut config = base_config(&fx, &format!(
        "echo label=$(cat /proc/self/attr/current); for f in {}; do echo $f=$(cat /sys/fs/cgroup/$f); done; \
         echo END; sleep 600",
        files.join(" ")
    ));
    config["process"]["apparmorProfile"] = json!(profile.name);
    config["linux"]["resources"]["memory"] = json!({"limit": 32 << 20, "swap": 48 << 20});
    config["linux"]["resources"]["cpu"] = json!({"quota": 20000, "period": 100000, "shares": 1024});
    config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "cgroup"}));
    fx.write_config(&config);
    let id = fx.id("vm");
    // The init inherits run's stdout and stderr: files, which it may keep open.
    let log = fx.path().join("vm.out");
    let err = fx.path().join("vm.err");
    let mut cmd = fx.cmd(&["run", "-d", &id]);
    cmd.stdout(fs::File::create(&log).unwrap())
        .stderr(fs::File::create(&err).unwrap());
    let status = cmd.status().unwrap();
    assert!(status.success(), "{}", fs::read_to_string(&err).unwrap());
    let deadline = Instant::now() + WAIT;
    while !fs::read_to_string(&log).unwrap().contains("END") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let inside = fs::read_to_string(&log).unwrap();
    // From inside: the label and every limit.
    assert!(
        inside.starts_with(&format!("label={}\n", profile.label())),
        "{inside}"
    );
    for (file, value) in want {
        assert!(
            inside.contains(&format!("\n{file}={value}\n")),
            "{file}: {inside}"
        );
    }
    // From the host: the same.
    for (file, value) in want {
        assert_eq!(cgroup_value(&fx, "", file), value, "{file}");
    }
    let pid = fx.state(&id)["pid"].as_i64().unwrap();
    let label = fs::read_to_string(format!("/proc/{pid}/attr/current")).unwrap();
    assert_eq!(label.trim_end(), profile.label());
    // exec runs under the container's profile unless --apparmor names another; both seen
    // inside and, for a detached exec, from the host.
    let out = fx.rt(&["exec", &id, "cat", "/proc/self/attr/current"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim_end(), profile.label());
    let out = fx.rt(&[
        "exec",
        "--apparmor",
        exec_profile.name,
        &id,
        "cat",
        "/proc/self/attr/current",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim_end(), exec_profile.label());
    let pid_file = fx.path().join("vm-exec.pid");
    let out = fx.rt(&[
        "exec",
        "-d",
        "--apparmor",
        exec_profile.name,
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
        "sleep",
        "600",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let exec_pid = fs::read_to_string(&pid_file).unwrap();
    let label = fs::read_to_string(format!("/proc/{}/attr/current", exec_pid.trim())).unwrap();
    assert_eq!(label.trim_end(), exec_profile.label());
    let out = fx.rt(&["delete", "--force", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!cgroup_dir(&fx, "").exists());
}

#[test]
fn namespaces_joined_by_path_like_a_pod() {
    let Some(mut fx) = Fixture::new(bin(), "rt-join") else {
        return;
    };
    // The "pause" container owns the namespaces.
    fx.write_config(&base_config(&fx, "sleep 600"));
    let pause = fx.id("pause");
    assert!(fx.rt(&["run", "-d", &pause]).status.success());
    let pid = fx.state(&pause)["pid"].as_i64().unwrap();
    let ns = |kind: &str| fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap();
    let mut config =
        base_config(&fx,
        "readlink /proc/self/ns/net; readlink /proc/self/ns/ipc; readlink /proc/self/ns/uts; hostname",
    );
    config["linux"]["cgroupsPath"] = json!(format!("{}-b", fx.cgroup()));
    config["linux"]["namespaces"] = json!([
        {"type": "pid"}, {"type": "mount"},
        {"type": "network", "path": format!("/proc/{pid}/ns/net")},
        {"type": "ipc", "path": format!("/proc/{pid}/ns/ipc")},
        {"type": "uts", "path": format!("/proc/{pid}/ns/uts")}
    ]);
    config.as_object_mut().unwrap().remove("hostname");
    fx.write_config(&config);
    let id = fx.id("member");
    let out = fx.rt(&["run", &id]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], ns("net").to_str().unwrap());
    assert_eq!(lines[1], ns("ipc").to_str().unwrap());
    assert_eq!(lines[2], ns("uts").to_str().unwrap());
    assert_eq!(lines[3], "isotest");
    // A hostname in the runtime's own UTS namespace is refused (it would rename the host);
    // in another container's, it is set there (rootfs_conformance.rs).
    config["hostname"] = json!("other");
    config["linux"]["namespaces"][4]["path"] = json!("/proc/self/ns/uts");
    fx.write_config(&config);
    create_fails_naming(&mut fx, "refused", "hostname");
}

#[test]
fn exec_joins_the_running_container() {
    let Some(mut fx) = Fixture::new(bin(), "rt-exec") else {
        return;
    };
    fx.write_config(&base_config(&fx, "sleep 600"));
    let id = fx.id("exec");
    assert!(fx.rt(&["run", "-d", &id]).status.success());
    let init = fx.state(&id)["pid"].as_i64().unwrap();
    let out = fx.rt(&[
        "exec",
        "-e",
        "EXTRA=1",
        &id,
        "sh",
        "-c",
        "echo pid=$$; hostname; echo extra=$EXTRA; grep -E '^(CapEff|NoNewPrivs):' /proc/self/status; \
         readlink /proc/self/ns/net; readlink /proc/1/exe; exit 5",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    let net = fs::read_link(format!("/proc/{init}/ns/net")).unwrap();
    for want in [
        "isotest",
        "extra=1",
        "CapEff:\t0000000020000420",
        "NoNewPrivs:\t1",
        net.to_str().unwrap(),
        "/bin/busybox",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in\n{stdout}");
    }
    assert!(!stdout.contains("pid=1\n"), "{stdout}");
    // From --process, detached, with a pid file; the process is in the container's cgroup.
    let proc_file = fx.path().join("process.json");
    fs::write(
        &proc_file,
        json!({"cwd": "/tmp", "args": ["sleep", "600"], "env": ["PATH=/bin"],
               "user": {"uid": 1000, "gid": 1000}})
        .to_string(),
    )
    .unwrap();
    let pid_file = fx.path().join("exec.pid");
    let out = fx.rt(&[
        "exec",
        "--process",
        proc_file.to_str().unwrap(),
        "--detach",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pid = fs::read_to_string(&pid_file).unwrap();
    let ps: Value =
        serde_json::from_slice(&fx.rt(&["ps", "--format", "json", &id]).stdout).unwrap();
    assert!(
        ps.as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_i64() == pid.trim().parse::<i64>().ok()),
        "{ps}"
    );
    let procs = fs::read_to_string(cgroup_dir(&fx, "pids").join("cgroup.procs")).unwrap();
    assert!(procs.lines().any(|l| l == pid.trim()), "{procs}");
    let status = fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap();
    assert!(status.contains("Uid:\t1000"), "{status}");
    // A missing program is reported by exec.
    let out = fx.rt(&["exec", &id, "no-such-program"]);
    fails_naming(&out, "no-such-program");
    // Exec in a stopped container fails.
    assert!(fx.rt(&["kill", &id, "KILL"]).status.success());
    wait_status(&fx, &id, "stopped");
    assert!(!fx.rt(&["exec", &id, "true"]).status.success());
}

/// CVE-2019-5736: while the init waits for `start` it is the runtime's binary; a process in
/// the container must not be able to open it through /proc/1/exe.
#[test]
fn waiting_init_is_not_reachable_from_the_container_and_no_pivot_works() {
    let Some(mut fx) = Fixture::new(bin(), "rt-exe") else {
        return;
    };
    fx.write_config(&base_config(&fx, "true"));
    let id = fx.id("exe");
    assert!(fx.rt(&["create", &id]).status.success());
    let out = fx.rt(&[
        "exec",
        &id,
        "sh",
        "-c",
        "cat /proc/1/exe > /dev/null 2>&1 && echo exe-readable || echo exe-denied; \
         echo x >> /proc/1/exe 2>/dev/null && echo exe-writable || echo exe-write-denied",
    ]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("exe-denied"),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("exe-write-denied"), "{stdout}");
    assert!(fx.rt(&["delete", "--force", &id]).status.success());

    fx.write_config(&base_config(&fx, "ls /bin/busybox; hostname"));
    let id = fx.id("nopivot");
    let out = fx.rt(&["run", "--no-pivot", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "/bin/busybox\nisotest\n");
}

// ---- The rest of runc's command set: exec flags, ps, list, pause/resume, update, events,
// spec, features.

/// Runs `script` detached and returns its id and init pid.
fn running(fx: &mut Fixture, name: &str, script: &str) -> (String, i64) {
    fx.write_config(&base_config(fx, script));
    let id = fx.id(name);
    let out = fx.rt(&["run", "-d", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pid = fx.state(&id)["pid"].as_i64().unwrap();
    (id, pid)
}

/// Every hierarchy directory of the fixture's cgroup that exists (one on cgroup v2).
fn cgroup_dirs(fx: &Fixture) -> Vec<PathBuf> {
    fx.cgroup_dirs()
        .into_iter()
        .filter(|d| d.is_dir())
        .collect()
}

#[test]
fn exec_sees_the_init_namespaces_and_cgroup_and_applies_its_flags() {
    let Some(mut fx) = Fixture::new(bin(), "rt-exec2") else {
        return;
    };
    let (id, init) = running(&mut fx, "exec2", "sleep 600");
    let out = fx.rt(&[
        "exec",
        "--cap",
        "CAP_SYS_ADMIN",
        "--additional-gids",
        "5",
        "-g",
        "7",
        "--cwd",
        "/tmp",
        "--user",
        "0:3",
        "--env",
        "A=b",
        &id,
        "sh",
        "-c",
        "for n in pid uts mnt; do readlink /proc/self/ns/$n; done; hostname; pwd; \
         echo A=$A; id; grep -E '^(CapInh|CapPrm|CapEff|CapBnd):' /proc/self/status; \
         cat /proc/self/cgroup",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    for ns in ["pid", "uts", "mnt"] {
        let want = fs::read_link(format!("/proc/{init}/ns/{ns}")).unwrap();
        assert!(stdout.contains(want.to_str().unwrap()), "{ns}: {stdout}");
    }
    // CAP_SYS_ADMIN is bit 21: added to the effective and permitted sets, never inheritable.
    for want in [
        "isotest\n",
        "/tmp\n",
        "A=b\n",
        "gid=3",
        "5",
        "7",
        "CapInh:\t0000000000000000",
        "CapEff:\t0000000020200420",
        "CapPrm:\t0000000020200420",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in\n{stdout}");
    }
    assert!(
        stdout.contains(&format!("{}{}", pids_hierarchy(), fx.cgroup())),
        "cgroup: {stdout}"
    );
    // --cgroup: into an existing sub-cgroup of the container.
    let dirs = cgroup_dirs(&fx);
    for d in &dirs {
        fs::create_dir(d.join("sub")).unwrap();
        // A v1 cpuset group starts empty: give it its parent's CPUs and nodes. (On v2 the
        // sub-cgroup has no cpuset files: its parent, holding processes, enables nothing.)
        let inherited: &[&str] = if cgroup_v2() {
            &[]
        } else {
            &["cpuset.cpus", "cpuset.mems"]
        };
        for f in inherited {
            if let Ok(v) = fs::read_to_string(d.join(f)) {
                fs::write(d.join("sub").join(f), v).unwrap();
            }
        }
    }
    let out = fx.rt(&["exec", "--cgroup", "sub", &id, "cat", "/proc/self/cgroup"]);
    let stdout = text(&out.stdout);
    for d in dirs.iter().rev() {
        let _ = fs::remove_dir(d.join("sub"));
    }
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!("{}{}/sub", pids_hierarchy(), fx.cgroup())),
        "{stdout}"
    );
    // A sub-cgroup may not climb out.
    let out = fx.rt(&["exec", "--cgroup", "../x", &id, "true"]);
    fails_naming(&out, "--cgroup");
    // An unknown capability is named.
    let out = fx.rt(&["exec", "--cap", "CAP_NOPE", &id, "true"]);
    fails_naming(&out, "CAP_NOPE");
}

#[test]
fn exec_tty_sends_a_pty_to_the_console_socket() {
    use std::io::Read;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixListener;
    let Some(mut fx) = Fixture::new(bin(), "rt-exectty") else {
        return;
    };
    let (id, _) = running(&mut fx, "exectty", "sleep 600");
    let sock = fx.path().join("exec-console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let mut cmd = fx.cmd(&[
        "exec",
        "-t",
        "--console-socket",
        sock.to_str().unwrap(),
        &id,
        "sh",
        "-c",
        "tty; echo hello-exec-tty; exit 3",
    ]);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let (conn, _) = listener.accept().unwrap();
    let mut name = [0u8; 64];
    let (master, _) = iso_seccomp::notify::recv_fd(conn.as_fd(), &mut name).unwrap();
    let mut master = fs::File::from(master);
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while let Ok(n) = master.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if text(&got).contains("hello-exec-tty") {
            break;
        }
    }
    let status = child.wait().unwrap();
    let got = text(&got);
    assert!(got.contains("/dev/pts/"), "{got}");
    assert!(got.contains("hello-exec-tty"), "{got}");
    assert_eq!(status.code(), Some(3));
    // -t without a console socket: the runtime relays its own terminal (runc_process.rs);
    // detached, there is nobody to relay it, and it is refused.
    let out = fx.rt(&["exec", "-t", &id, "true"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = fx.rt(&["exec", "-d", "-t", &id, "true"]);
    fails_naming(&out, "console");
}

#[test]
fn ps_and_list_show_init_and_exec_processes() {
    let Some(mut fx) = Fixture::new(bin(), "rt-ps") else {
        return;
    };
    let (id, init) = running(&mut fx, "ps", "sleep 600");
    let pid_file = fx.path().join("exec.pid");
    let out = fx.rt(&[
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
        "sleep",
        "600",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let exec_pid: i64 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let json: Value =
        serde_json::from_slice(&fx.rt(&["ps", "--format", "json", &id]).stdout).unwrap();
    let pids: Vec<i64> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_i64().unwrap())
        .collect();
    assert!(pids.contains(&init) && pids.contains(&exec_pid), "{json}");
    // Without arguments: the host's `ps -ef` lines of the container (runc's default).
    let table = text(&fx.rt(&["ps", &id]).stdout);
    assert!(table.starts_with("UID "), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some(&exec_pid.to_string())),
        "{table}"
    );
    // With ps(1) arguments: only the container's lines, under ps' own header.
    let out = fx.rt(&["ps", &id, "--", "-ef"]);
    let table = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].contains("PID") && lines[0].contains("CMD"),
        "{table}"
    );
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[1..].iter().all(|l| l.contains("sleep")), "{table}");
    assert!(!fx.rt(&["ps", "--format", "xml", &id]).status.success());
    // list: table, json, -q.
    let table = text(&fx.rt(&["list"]).stdout);
    assert!(table.starts_with("ID "), "{table}");
    assert!(table.contains(&id) && table.contains("running"), "{table}");
    // Columns line up, as in runc's table: each row's bundle starts under BUNDLE.
    let column = table.find("BUNDLE").unwrap();
    let row = table.lines().find(|l| l.starts_with(&id)).unwrap();
    assert_eq!(
        row.get(column..).map(|r| r.starts_with('/')),
        Some(true),
        "{table}"
    );
    let quiet = text(&fx.rt(&["list", "-q"]).stdout);
    assert_eq!(quiet, format!("{id}\n"));
    let json: Value = serde_json::from_slice(&fx.rt(&["list", "--format", "json"]).stdout).unwrap();
    assert_eq!(json[0]["id"], id.as_str());
    assert_eq!(json[0]["status"], "running");
    assert_eq!(json[0]["pid"], init);
}

/// CPU time used by the container's cgroup: v1 `cpuacct.usage` (ns), v2 `cpu.stat`
/// `usage_usec`.
fn cpu_usage(fx: &Fixture) -> u64 {
    if cgroup_v2() {
        let stat = cgroup_value(fx, "cpu", "cpu.stat");
        stat.lines()
            .find_map(|l| l.strip_prefix("usage_usec "))
            .unwrap_or_else(|| panic!("no usage_usec in cpu.stat:\n{stat}"))
            .parse()
            .unwrap()
    } else {
        cgroup_value(fx, "cpuacct", "cpuacct.usage")
            .parse()
            .unwrap()
    }
}

#[test]
fn pause_stops_a_busy_loop_and_resume_restarts_it() {
    let Some(mut fx) = Fixture::new(bin(), "rt-pause") else {
        return;
    };
    let (id, init) = running(&mut fx, "pause", "while :; do :; done");
    assert!(cgroup_dir(&fx, "cpuacct").is_dir());
    let out = fx.rt(&["pause", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(fx.state(&id)["status"], "paused");
    let frozen = cgroup_value(
        &fx,
        "freezer",
        if cgroup_v2() {
            "cgroup.freeze"
        } else {
            "freezer.state"
        },
    );
    assert_eq!(frozen, if cgroup_v2() { "1" } else { "FROZEN" });
    // A frozen group uses no CPU at all.
    let before = cpu_usage(&fx);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(cpu_usage(&fx), before, "the loop ran while paused");
    // Pausing twice and exec into a paused container are refused.
    assert!(!fx.rt(&["pause", &id]).status.success());
    assert!(!fx.rt(&["exec", &id, "true"]).status.success());
    let out = fx.rt(&["resume", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(fx.state(&id)["status"], "running");
    let deadline = Instant::now() + WAIT;
    while cpu_usage(&fx) == before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(cpu_usage(&fx) > before, "the loop did not run again");
    assert!(!fx.rt(&["resume", &id]).status.success());
    assert!(Path::new(&format!("/proc/{init}")).exists());
}

fn record(fx: &Fixture, id: &str) -> Value {
    serde_json::from_slice(&fs::read(fx.root().join(id).join("state.json")).unwrap()).unwrap()
}

#[test]
fn update_applies_limits_records_them_and_the_pids_limit_bites() {
    let Some(mut fx) = Fixture::new(bin(), "rt-update") else {
        return;
    };
    let mut config = base_config(&fx, "sleep 600");
    config["linux"]["resources"]["memory"] = json!({"limit": 32 << 20, "swap": 32 << 20});
    fx.write_config(&config);
    let id = fx.id("update");
    let out = fx.rt(&["run", "-d", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pids_max = || cgroup_value(&fx, "pids", "pids.max");
    let (mem_file, swap_file) = if cgroup_v2() {
        ("memory.max", "memory.swap.max")
    } else {
        ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes")
    };
    assert_eq!(pids_max(), "42");
    // memory+swap equal to memory: no swap (v2 counts swap alone).
    let swap = cgroup_value(&fx, "memory", swap_file);
    assert_eq!(swap, if cgroup_v2() { 0 } else { 32u64 << 20 }.to_string());
    let out = fx.rt(&[
        "update",
        "--pids-limit",
        "4",
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "--cpu-shares",
        "512",
        "--cpu-quota",
        "50000",
        "--cpu-period",
        "100000",
        &id,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(pids_max(), "4");
    let mem = cgroup_value(&fx, "memory", mem_file);
    assert_eq!(mem, (64u64 << 20).to_string());
    // Raising memory above the old memory+swap limit needs the swap limit raised first (v1);
    // v2 holds the swap alone: 128m - 64m.
    let swap = cgroup_value(&fx, "memory", swap_file);
    let want_swap: u64 = if cgroup_v2() { 64 << 20 } else { 128 << 20 };
    assert_eq!(swap, want_swap.to_string());
    if cgroup_v2() {
        assert_eq!(cgroup_value(&fx, "cpu", "cpu.max"), "50000 100000");
        // shares 512 as a weight: 1 + (512 - 2) * 9999 / 262142 (the OCI conversion).
        assert_eq!(cgroup_value(&fx, "cpu", "cpu.weight"), "20");
    } else {
        assert_eq!(cgroup_value(&fx, "cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(cgroup_value(&fx, "cpu", "cpu.cfs_period_us"), "100000");
        assert_eq!(cgroup_value(&fx, "cpu", "cpu.shares"), "512");
    }
    // events --stats reports the new limits.
    let out = fx.rt(&["events", "--stats", &id]);
    let ev: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ev["data"]["pids"]["limit"], 4, "{ev}");
    assert_eq!(ev["data"]["memory"]["usage"]["limit"], 64u64 << 20, "{ev}");
    let rec = record(&fx, &id);
    assert_eq!(rec["resources"]["pids"]["limit"], 4, "{rec}");
    assert_eq!(rec["resources"]["memory"]["limit"], 64 << 20, "{rec}");
    // The limit bites: init + sh + 2 sleeps = 4 tasks; the next fork fails.
    let out = fx.rt(&[
        "exec",
        &id,
        "sh",
        "-c",
        "sleep 60 & sleep 60 & sleep 60 & echo forked-all",
    ]);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!all.contains("forked-all"), "{all}");
    // --resources from stdin; earlier fields stay recorded.
    let mut cmd = fx.cmd(&["update", "--resources", "-", &id]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        br#"{"pids": {"limit": 100}}"#,
    )
    .unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(pids_max(), "100");
    let rec = record(&fx, &id);
    assert_eq!(rec["resources"]["pids"]["limit"], 100);
    assert_eq!(rec["resources"]["memory"]["limit"], 64 << 20);
    let out = fx.rt(&["update", "--pids-limit", "-1", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(pids_max(), "max");
    assert!(!fx.rt(&["update", "--memory", "lots", &id]).status.success());
}

#[test]
fn events_stats_prints_runc_json() {
    let Some(mut fx) = Fixture::new(bin(), "rt-events") else {
        return;
    };
    let (id, _) = running(&mut fx, "events", "sleep 600");
    let out = fx.rt(&["events", "--stats", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ev: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ev["type"], "stats");
    assert_eq!(ev["id"], id.as_str());
    let d = &ev["data"];
    assert!(d["pids"]["current"].as_u64().unwrap() >= 1, "{ev}");
    assert_eq!(d["pids"]["limit"], 42);
    assert!(d["cpu"]["usage"]["total"].as_u64().unwrap() > 0, "{ev}");
    // Per-CPU usage exists only in v1's cpuacct; on v2 it is left out, as runc does.
    assert_eq!(d["cpu"]["usage"]["percpu"].is_array(), !cgroup_v2(), "{ev}");
    // Zero throttling counters are left out, as runc's omitempty leaves them.
    assert!(d["cpu"]["throttling"].is_object(), "{ev}");
    assert!(d["memory"]["usage"]["usage"].as_u64().unwrap() > 0, "{ev}");
    assert!(d["memory"]["usage"]["limit"].is_u64(), "{ev}");
    assert!(d["memory"]["raw"].is_object(), "{ev}");
    assert!(d["blkio"].is_object(), "{ev}");
    assert!(d["hugetlb"].is_object(), "{ev}");
    // Streaming: a stats line per interval until the container stops.
    let mut cmd = fx.cmd(&["events", "--interval", "100ms", &id]);
    let log = fx.path().join("events.out");
    cmd.stdout(fs::File::create(&log).unwrap())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + WAIT;
    while fs::read_to_string(&log).unwrap().lines().count() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(fx.rt(&["kill", &id, "KILL"]).status.success());
    let status = child.wait().unwrap();
    assert!(status.success());
    let lines = fs::read_to_string(&log).unwrap();
    assert!(lines.lines().count() >= 2, "{lines}");
    for l in lines.lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["type"], "stats");
    }
    // A stopped container has no events.
    wait_status(&fx, &id, "stopped");
    assert!(!fx.rt(&["events", "--stats", &id]).status.success());
    assert!(!fx
        .rt(&["events", "--interval", "soon", &id])
        .status
        .success());
}

#[test]
fn spec_output_runs_under_iso_runtime_and_runc() {
    let Some(mut fx) = Fixture::new(bin(), "rt-spec") else {
        return;
    };
    let cfg = fx.bundle().join("config.json");
    let _ = fs::remove_file(&cfg);
    let out = fx.rt(&["spec", "--bundle", fx.bundle().to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Not over an existing one.
    assert!(!fx.rt(&["spec"]).status.success());
    let mut spec: Value = serde_json::from_slice(&fs::read(&cfg).unwrap()).unwrap();
    assert_eq!(spec["process"]["args"], json!(["sh"]));
    assert_eq!(spec["process"]["terminal"], true);
    // As a user of `spec` would: no terminal, a command, our test cgroup.
    spec["process"]["terminal"] = json!(false);
    spec["process"]["args"] = json!(["sh", "-c", "hostname; echo spec-ok"]);
    spec["linux"]["cgroupsPath"] = json!(fx.cgroup());
    fx.write_config(&spec);
    let id = fx.id("spec");
    let out = fx.rt(&["run", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "iso\nspec-ok\n");
    if Path::new("/usr/sbin/runc").exists() {
        let runc_root = fx.path().join("runc-root");
        let mut cmd = Command::new("/usr/sbin/runc");
        cmd.arg("--root")
            .arg(&runc_root)
            .args(["run", &format!("runc-{id}")])
            .current_dir(fx.bundle())
            .stdin(Stdio::null());
        let out = run_to_files(cmd, fx.path());
        let _ = Command::new("/usr/sbin/runc")
            .arg("--root")
            .arg(&runc_root)
            .args(["delete", "-f", &format!("runc-{id}")])
            .output();
        assert!(out.status.success(), "runc: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "iso\nspec-ok\n");
    }
    // --rootless: a user namespace mapping one id, no network namespace.
    let other = fx.path().join("rootless");
    fs::create_dir(&other).unwrap();
    let out = fx.rt(&["spec", "--rootless", "-b", other.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let spec: Value =
        serde_json::from_slice(&fs::read(other.join("config.json")).unwrap()).unwrap();
    let ns = spec["linux"]["namespaces"].to_string();
    assert!(ns.contains("user") && !ns.contains("network"), "{ns}");
    assert_eq!(spec["linux"]["uidMappings"][0]["size"], 1);
}

#[test]
fn features_reports_what_is_compiled_in() {
    let out = Command::new(bin()).arg("features").output().unwrap();
    assert!(out.status.success());
    let f: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(f["ociVersionMin"], "1.0.0");
    let ns = f["linux"]["namespaces"].as_array().unwrap();
    for want in ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"] {
        assert!(ns.iter().any(|n| n == want), "{want}");
    }
    let caps = f["linux"]["capabilities"].as_array().unwrap();
    assert!(caps.iter().any(|c| c == "CAP_SYS_ADMIN"));
    let seccomp = &f["linux"]["seccomp"];
    assert_eq!(seccomp["enabled"], true);
    assert!(seccomp["actions"].as_array().unwrap().len() >= 8);
    assert!(seccomp["archs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "SCMP_ARCH_X86_64"));
    assert!(seccomp["operators"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "SCMP_CMP_MASKED_EQ"));
    assert!(f["linux"]["cgroup"]["v1"].as_bool().unwrap());
    assert!(f["linux"]["apparmor"]["enabled"].is_boolean());
    assert!(f["mountOptions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o == "rbind"));
}

#[test]
fn events_reports_an_oom_kill() {
    let Some(mut fx) = Fixture::new(bin(), "rt-oom") else {
        return;
    };
    // Waits for a file the test creates, then grows a buffer without bound (tail keeps the
    // last line, and /dev/zero has no newline) until the 16M limit kills it.
    let mut config = base_config(
        &fx,
        "while [ ! -e /tmp/go ]; do sleep 0.05; done; tail /dev/zero; sleep 30",
    );
    config["linux"]["resources"]["memory"] = json!({"limit": 16 << 20});
    config["root"]["readonly"] = json!(false);
    fx.write_config(&config);
    let id = fx.id("oom");
    let out = fx.rt(&["run", "-d", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let log = fx.path().join("oom-events.out");
    let mut cmd = fx.cmd(&["events", "--interval", "60s", &id]);
    cmd.stdout(fs::File::create(&log).unwrap())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    // The first stats line shows events started (and read the OOM counters) before the kill.
    let deadline = Instant::now() + WAIT;
    while fs::read_to_string(&log).unwrap().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(fx.rt(&["exec", &id, "touch", "/tmp/go"]).status.success());
    let deadline = Instant::now() + WAIT;
    while !fs::read_to_string(&log).unwrap().contains("\"oom\"") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(fx.rt(&["kill", &id, "KILL"]).status.success());
    assert!(child.wait().unwrap().success());
    let lines = fs::read_to_string(&log).unwrap();
    let oom = lines
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["type"] == "oom");
    assert_eq!(oom, Some(json!({"type": "oom", "id": id})), "{lines}");
}

#[test]
fn exec_preserve_fds_and_pidfd_socket() {
    use std::os::fd::{AsFd, AsRawFd};
    use std::os::unix::net::UnixListener;
    use std::os::unix::process::CommandExt;
    let Some(mut fx) = Fixture::new(bin(), "rt-execfds") else {
        return;
    };
    let (id, _) = running(&mut fx, "execfds", "sleep 600");
    let file = fs::File::create(fx.path().join("exec-fd3")).unwrap();
    let raw = file.as_raw_fd();
    let sock = fx.path().join("exec-pidfd.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let mut cmd = fx.cmd(&[
        "exec",
        "--preserve-fds",
        "1",
        "--pidfd-socket",
        sock.to_str().unwrap(),
        "--pid-file",
        fx.path().join("execfds.pid").to_str().unwrap(),
        &id,
        "sh",
        "-c",
        "echo exec-via-fd3 >&3; ls /proc/self/fd | grep -c .; sleep 1",
    ]);
    // SAFETY: dup2 in the forked child before exec, async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            if raw == 3 {
                libc::fcntl(3, libc::F_SETFD, 0);
            } else if libc::dup2(raw, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out_path = fx.path().join("exec-fds.out");
    cmd.stdout(fs::File::create(&out_path).unwrap())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let (conn, _) = listener.accept().unwrap();
    let mut name = [0u8; 64];
    let (pidfd, _) = iso_seccomp::notify::recv_fd(conn.as_fd(), &mut name).unwrap();
    let fdinfo = fs::read_to_string(format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd())).unwrap();
    assert!(child.wait().unwrap().success());
    // The pidfd refers to the exec'd process.
    let pid = fs::read_to_string(fx.path().join("execfds.pid")).unwrap();
    assert!(
        fdinfo.contains(&format!("Pid:\t{}\n", pid.trim())),
        "{fdinfo}"
    );
    assert_eq!(
        fs::read_to_string(fx.path().join("exec-fd3")).unwrap(),
        "exec-via-fd3\n"
    );
    // 0, 1, 2, 3 and the directory ls reads: nothing of the runtime's leaked.
    assert_eq!(fs::read_to_string(&out_path).unwrap().trim(), "5");
}

/// The README's main command: `iso-runtime demo` runs a busybox container that prints what
/// it sees, then removes it.
#[test]
fn demo_shows_the_container_view_and_cleans_up() {
    let Some(fx) = Fixture::new(bin(), "rt-demo") else {
        return;
    };
    let out = fx.rt(&["demo"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    for line in [
        "pid:        1",
        "hostname:   iso-demo",
        "Seccomp:\t2",
        "NoNewPrivs:\t1",
        "pids.max:   64",
        "memory max: 67108864",
        "cgroup and state removed",
    ] {
        assert!(stdout.contains(line), "no {line:?} in:\n{stdout}");
    }
    let left: Vec<_> = fs::read_dir(fx.root())
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.iter().all(|n| n.to_string_lossy().starts_with('@')),
        "{left:?}"
    );
}

/// The init joins its v1 cgroups itself (writing 0 to `tasks`): when the kernel refuses
/// (a pre-made cpuset cgroup without CPUs answers ENOSPC), `create` fails naming that file
/// and leaves no state, cgroup or process behind.
#[test]
fn a_premade_empty_cpuset_cgroup_is_filled_as_runc_fills_it() {
    let Some(mut fx) = Fixture::new(bin(), "rt-nocpus") else {
        return;
    };
    let cpuset = fx.cgroup_dir("cpuset");
    if !Path::new("/sys/fs/cgroup/cpuset/tasks").exists() {
        eprintln!("skipped: no v1 cpuset hierarchy on this host");
        return;
    }
    // A new v1 cpuset cgroup starts with no CPUs, which no task can join (ENOSPC); the
    // runtime fills it from its parent, as runc does, and the container runs.
    fs::create_dir(&cpuset).unwrap();
    assert_eq!(
        fs::read_to_string(cpuset.join("cpuset.cpus"))
            .unwrap()
            .trim(),
        ""
    );
    fx.write_config(&fx.config("echo ran"));
    let out = fx.run("nocpus");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "ran\n");
    let id = fx.id("nocpus");
    let left = fx.leftovers(&id);
    assert!(left.is_empty(), "left behind: {left:?}");
    if Path::new("/usr/sbin/runc").exists() {
        fs::create_dir(&cpuset).unwrap();
        let mut cmd = Command::new("/usr/sbin/runc");
        cmd.arg("--root")
            .arg(fx.path().join("runc-state"))
            .args(["run", &format!("runc-{id}")])
            .current_dir(fx.bundle())
            .stdin(Stdio::null());
        let theirs = run_to_files(cmd, fx.path());
        assert!(theirs.status.success(), "runc: {}", text(&theirs.stderr));
        assert_eq!(text(&theirs.stdout), "ran\n");
    }
}

// ---- rootless (issue 22): the runtime run by a fresh unprivileged user ----

/// The `Uid:` line of `/proc/PID/status` on the host: real, effective, saved, fs.
fn host_uids(pid: i64) -> String {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .unwrap()
        .to_owned()
}

#[test]
fn rootless_spec_run_exec_list_kill_delete_without_root() {
    let Some(mut fx) = Fixture::rootless(bin(), "rt-rootless") else {
        return;
    };
    let (name, uid) = {
        let user = fx.user().unwrap();
        (user.name().to_owned(), user.uid())
    };
    // `spec --rootless`, run unchanged but for a program that exits.
    let out = fx.rt(&["spec", "--rootless"]);
    assert!(out.status.success(), "spec: {}", text(&out.stderr));
    let path = fx.bundle().join("config.json");
    let mut config: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    assert_eq!(config["linux"]["uidMappings"][0]["hostID"], uid);
    config["process"]["terminal"] = json!(false);
    config["process"]["args"] = json!(["id"]);
    fx.write_config(&config);
    let out = fx.run("id");
    assert!(out.status.success(), "run: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("uid=0(root) gid=0"),
        "{}",
        text(&out.stdout)
    );
    // Detached: root inside, the user outside; the state under $XDG_RUNTIME_DIR/iso.
    config["process"]["args"] = json!(["sleep", "600"]);
    fx.write_config(&config);
    let id = fx.id("life");
    let out = fx.rt(&["run", "-d", &id]);
    assert!(out.status.success(), "run -d: {}", text(&out.stderr));
    assert!(fx.root().join(&id).is_dir(), "no state in the user's root");
    let st = fx.state(&id);
    assert_eq!(st["status"], "running");
    let pid = st["pid"].as_i64().unwrap();
    assert_eq!(host_uids(pid), format!("Uid:\t{uid}\t{uid}\t{uid}\t{uid}"));
    let out = fx.rt(&["exec", &id, "id", "-u"]);
    assert!(out.status.success(), "exec: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "0\n");
    let out = fx.rt(&["list"]);
    let line = text(&out.stdout)
        .lines()
        .find(|l| l.starts_with(&id))
        .map(str::to_owned)
        .unwrap_or_default();
    assert!(line.contains("running") && line.ends_with(&name), "{line}");
    // Without a cgroup the user may create, pause says why; with one, it works.
    let out = fx.rt(&["pause", &id]);
    if out.status.success() {
        assert_eq!(fx.state(&id)["status"], "paused");
        let out = fx.rt(&["resume", &id]);
        assert!(out.status.success(), "resume: {}", text(&out.stderr));
    } else {
        fails_naming(&out, "has no cgroup");
    }
    let out = fx.rt(&["kill", &id, "KILL"]);
    assert!(out.status.success(), "kill: {}", text(&out.stderr));
    assert_eq!(wait_status(&fx, &id, "stopped")["status"], "stopped");
    let out = fx.rt(&["delete", &id]);
    assert!(out.status.success(), "delete: {}", text(&out.stderr));
    assert!(fx.leftovers(&id).is_empty(), "{:?}", fx.leftovers(&id));
}

#[test]
fn rootless_lifecycle_states_and_errors() {
    let Some(mut fx) = Fixture::rootless(bin(), "rt-rootless-life") else {
        return;
    };
    fx.write_config(&base_config(&fx, "sleep 600"));
    let id = fx.id("life");
    let out = fx.rt(&["create", &id]);
    assert!(out.status.success(), "create: {}", text(&out.stderr));
    // The pids limit cannot be applied without a cgroup: said, not dropped silently.
    let cgroup = !text(&out.stderr).contains("linux.resources not applied (pids)");
    assert_eq!(
        cgroup,
        cgroup_dir(&fx, "pids").exists(),
        "{}",
        text(&out.stderr)
    );
    let st = fx.state(&id);
    assert_eq!(st["status"], "created");
    let pid = st["pid"].as_i64().unwrap();
    // The waiting init runs the runtime's code: non-dumpable, so its /proc files are the
    // host root's, out of reach of the container's root (the user).
    let exe = fs::symlink_metadata(format!("/proc/{pid}/exe")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&exe), 0);
    let out = fx.rt(&["start", &id]);
    assert!(out.status.success(), "start: {}", text(&out.stderr));
    assert_eq!(fx.state(&id)["status"], "running");
    fails_naming(&fx.rt(&["start", &id]), "running");
    fails_naming(&fx.rt(&["delete", &id]), "running");
    let out = fx.rt(&["kill", &id, "KILL"]);
    assert!(out.status.success(), "kill: {}", text(&out.stderr));
    assert_eq!(wait_status(&fx, &id, "stopped")["status"], "stopped");
    fails_naming(&fx.rt(&["kill", &id, "9"]), "container not running");
    let out = fx.rt(&["delete", &id]);
    assert!(out.status.success(), "delete: {}", text(&out.stderr));
    assert!(!fx.root().join(&id).exists());
    assert!(!fx.rt(&["state", &id]).status.success());
}

#[test]
fn rootless_maps_subordinate_ranges_through_newuidmap() {
    let Some(mut fx) = Fixture::rootless(bin(), "rt-rootless-maps") else {
        return;
    };
    let (uid, gid, sub) = {
        let user = fx.user().unwrap();
        (user.uid(), user.gid(), user.subid_start())
    };
    let mut config = fx.config("cat /proc/self/uid_map; chown 1000:1000 /owned && echo chowned");
    config["linux"]["uidMappings"] = json!([
        {"containerID": 0, "hostID": uid, "size": 1},
        {"containerID": 1, "hostID": sub, "size": 65536}
    ]);
    config["linux"]["gidMappings"] = json!([
        {"containerID": 0, "hostID": gid, "size": 1},
        {"containerID": 1, "hostID": sub, "size": 65536}
    ]);
    for set in ["bounding", "effective", "permitted"] {
        config["process"]["capabilities"][set] = json!(["CAP_CHOWN"]);
    }
    fx.write_config(&config);
    let owned = fx.rootfs().join("owned");
    fs::write(&owned, "").unwrap();
    fx.user().unwrap().give(&owned);
    let out = fx.run("maps");
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", text(&out.stderr));
    let lines: Vec<Vec<&str>> = stdout
        .lines()
        .take(2)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines,
        [
            vec!["0".to_owned(), uid.to_string(), "1".into()],
            vec!["1".to_owned(), sub.to_string(), "65536".into()]
        ]
        .iter()
        .map(|l| l.iter().map(String::as_str).collect::<Vec<_>>())
        .collect::<Vec<_>>()
    );
    assert!(stdout.contains("chowned"), "{stdout}");
    // uid 1000 inside is subordinate id sub + 999 on the host.
    let meta = fs::metadata(&owned).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), sub + 999);
}

/// Rootless with a delegated cgroup (pure cgroup v2, the VM tier): the user owns a cgroup
/// (its directory, `cgroup.procs`, `cgroup.subtree_control`, `cgroup.threads`) and runs the
/// runtime from a leaf of it, as systemd's user manager sets a session up. The container's
/// cgroup is then made below it, its pids limit applied, and pause/resume work.
#[test]
fn vm_rootless_uses_a_delegated_cgroup_v2() {
    if !iso_testutil::vm_feature_or_skip(iso_testutil::VmFeature::CgroupV2) {
        return;
    }
    let Some(mut fx) = Fixture::rootless(bin(), "rt-vm-deleg") else {
        return;
    };
    let delegated = Path::new("/sys/fs/cgroup").join(fx.cgroup().trim_start_matches('/'));
    let leaf = delegated.join("runtime");
    fs::create_dir_all(&leaf).unwrap();
    fs::write(delegated.join("cgroup.subtree_control"), "+pids").unwrap();
    let (uid, gid) = {
        let user = fx.user().unwrap();
        (user.uid(), user.gid())
    };
    for p in [
        delegated.clone(),
        delegated.join("cgroup.procs"),
        delegated.join("cgroup.subtree_control"),
        delegated.join("cgroup.threads"),
        leaf.clone(),
        leaf.join("cgroup.procs"),
    ] {
        std::os::unix::fs::chown(&p, Some(uid), Some(gid)).unwrap();
    }
    let mut config = base_config(&fx, "sleep 600");
    let cgroup = format!("{}/c1", fx.cgroup());
    config["linux"]["cgroupsPath"] = json!(cgroup);
    fx.write_config(&config);
    let id = fx.id("deleg");
    // The runtime starts in the leaf (moved there by root, as a login manager would).
    let inner = fx.cmd(&["run", "-d", &id]);
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "echo $$ > {}/cgroup.procs && exec \"$0\" \"$@\"",
            leaf.display()
        ))
        .arg(inner.get_program())
        .args(inner.get_args())
        .current_dir(fx.bundle())
        .stdin(Stdio::null());
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out = run_to_files(cmd, fx.path());
    assert!(out.status.success(), "run: {}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("not applied"),
        "{}",
        text(&out.stderr)
    );
    let dir = delegated.join("c1");
    let pid = fx.state(&id)["pid"].as_i64().unwrap();
    let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap();
    assert!(procs.lines().any(|l| l == pid.to_string()), "{procs}");
    assert_eq!(
        fs::read_to_string(dir.join("pids.max")).unwrap().trim(),
        "42"
    );
    let out = fx.rt(&["pause", &id]);
    assert!(out.status.success(), "pause: {}", text(&out.stderr));
    assert_eq!(fx.state(&id)["status"], "paused");
    let out = fx.rt(&["resume", &id]);
    assert!(out.status.success(), "resume: {}", text(&out.stderr));
    let out = fx.rt(&["delete", "--force", &id]);
    assert!(out.status.success(), "delete: {}", text(&out.stderr));
    assert!(!dir.exists(), "the container's cgroup is left");
}

/// Rootless, what needs more than the user has fails naming the field, and leaves no state;
/// what the kernel allows a user works.
#[test]
fn rootless_names_the_field_that_needs_root() {
    let Some(mut fx) = Fixture::rootless(bin(), "rt-rootless-fields") else {
        return;
    };
    let base = fx.config("cat /proc/self/oom_score_adj; ls -l /dev/full");
    // Raising oom_score_adj is allowed; the init inherits it from the runtime.
    let mut config = base.clone();
    config["process"]["oomScoreAdj"] = json!(300);
    fx.write_config(&config);
    let out = fx.run("oom-up");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("300\n"),
        "{}",
        text(&out.stdout)
    );
    // A device node is bind-mounted from the host's.
    assert!(
        text(&out.stdout).contains(" 1,   7 "),
        "{}",
        text(&out.stdout)
    );
    let cases = [
        (
            "oom-down",
            json!({"process": {"oomScoreAdj": -100}}),
            "process.oomScoreAdj",
        ),
        (
            "device",
            json!({"linux": {"devices": [
                {"path": "/dev/iso-no-such-device", "type": "c", "major": 1, "minor": 3}
            ]}}),
            "linux.devices",
        ),
        (
            "uid",
            json!({"process": {"user": {"uid": 1000, "gid": 0}}}),
            "process.user.uid",
        ),
    ];
    for (name, change, field) in cases {
        let mut config = base.clone();
        for (section, fields) in change.as_object().unwrap() {
            for (k, v) in fields.as_object().unwrap() {
                config[section][k] = v.clone();
            }
        }
        fx.write_config(&config);
        create_fails_naming(&mut fx, name, field);
    }
    // A new sysfs needs a network namespace of the user namespace's own.
    let mut config = base;
    config["linux"]["namespaces"] =
        json!([{"type": "pid"}, {"type": "uts"}, {"type": "mount"}, {"type": "user"}]);
    config["mounts"] = json!([{"destination": "/sys", "type": "sysfs", "source": "sysfs"}]);
    fx.write_config(&config);
    create_fails_naming(&mut fx, "sysfs", "mounts");
}
