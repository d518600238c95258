//! Conformance suite: the `iso-runtime` binary on real bundles (a busybox-static rootfs),
//! checked from inside the container (its output) and from the host (state JSON, cgroup
//! files, what is left behind). Every test deletes its container in a guard.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use iso_testutil::TempDir;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_iso-runtime");
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A bundle, a state root and a cgroup path owned by one test; deletes its containers on drop.
struct Fixture {
    dir: TempDir,
    ids: Vec<String>,
    cgroup: String,
}

fn busybox_rootfs(rootfs: &Path) {
    for d in ["bin", "proc", "sys", "dev", "etc", "tmp", "root"] {
        fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    for a in [
        "sh", "cat", "echo", "id", "hostname", "sleep", "ls", "grep", "touch", "ps", "head",
        "readlink", "stat", "mount", "true", "false", "wc",
    ] {
        symlink("busybox", rootfs.join("bin").join(a)).unwrap();
    }
    fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
}

impl Fixture {
    fn new(tag: &str) -> Option<Fixture> {
        if !iso_testutil::root_or_skip() {
            return None;
        }
        if !Path::new("/bin/busybox").exists() {
            eprintln!("skipped: /bin/busybox (busybox-static) is not installed");
            return None;
        }
        let dir = TempDir::new(tag);
        busybox_rootfs(&dir.path().join("bundle/rootfs"));
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let cgroup = format!("/iso-test-{}-{n}", std::process::id());
        Some(Fixture {
            dir,
            ids: Vec::new(),
            cgroup,
        })
    }

    fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// A config like `runc spec` writes, running `script` with `sh -c`.
    fn config(&self, script: &str) -> Value {
        let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
        json!({
            "ociVersion": "1.0.2",
            "process": {
                "terminal": false,
                "user": {"uid": 0, "gid": 0},
                "args": ["/bin/sh", "-c", script],
                "env": ["PATH=/bin", "TERM=xterm", "ISO_TEST=yes"],
                "cwd": "/",
                "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1000}],
                "noNewPrivileges": true
            },
            "root": {"path": "rootfs", "readonly": true},
            "hostname": "isotest",
            "mounts": [
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
            ],
            "linux": {
                "cgroupsPath": self.cgroup,
                "resources": {"pids": {"limit": 42}},
                "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                               {"type": "uts"}, {"type": "mount"}],
                "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
                "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"]
            }
        })
    }

    fn write_config(&self, config: &Value) {
        fs::write(
            self.bundle().join("config.json"),
            serde_json::to_vec_pretty(config).unwrap(),
        )
        .unwrap();
    }

    fn id(&mut self, name: &str) -> String {
        let id = format!("{name}-{}", std::process::id());
        self.ids.push(id.clone());
        id
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--root").arg(self.root()).args(args);
        c.current_dir(self.bundle());
        c.stdin(Stdio::null());
        c
    }

    /// Runs the binary with its stdout and stderr in files: a container's init inherits
    /// them, so pipes would stay open (and `output()` would wait) as long as it lives.
    fn rt(&self, args: &[&str]) -> Output {
        run_to_files(self.cmd(args), self.dir.path())
    }

    fn state(&self, id: &str) -> Value {
        let out = self.rt(&["state", id]);
        assert!(out.status.success(), "state: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn state_opt(&self, id: &str) -> Option<Value> {
        let out = self.rt(&["state", id]);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).ok())
            .flatten()
    }

    fn wait_status(&self, id: &str, want: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let st = self.state(id);
            if st["status"] == want || Instant::now() > deadline {
                return st;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn cgroup_dir(&self, controller: &str) -> PathBuf {
        Path::new("/sys/fs/cgroup")
            .join(controller)
            .join(self.cgroup.trim_start_matches('/'))
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = self.rt(&["delete", "--force", id]);
        }
        // A failed create must not leave the cgroup: check and clean up anyway.
        for c in [
            "pids", "memory", "cpu", "cpuset", "devices", "freezer", "blkio", "systemd",
        ] {
            let _ = fs::remove_dir(self.cgroup_dir(c));
        }
    }
}

fn run_to_files(mut cmd: Command, dir: &Path) -> Output {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let (o, e) = (dir.join(format!("out.{n}")), dir.join(format!("err.{n}")));
    cmd.stdout(fs::File::create(&o).unwrap());
    cmd.stderr(fs::File::create(&e).unwrap());
    let status = cmd.status().unwrap();
    Output {
        status,
        stdout: fs::read(&o).unwrap(),
        stderr: fs::read(&e).unwrap(),
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn run_shows_the_container_view_and_returns_its_exit_code() {
    let Some(mut fx) = Fixture::new("rt-run") else {
        return;
    };
    let script =
        "echo pid=$$; hostname; id -u; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; \
                  echo env=$ISO_TEST; cat /sys/fs/cgroup/pids/pids.max; ls /dev; \
                  touch /rootfs-is-writable 2>/dev/null || echo root-ro; \
                  touch /tmp/ok && echo tmp-rw; echo timer=$(cat /proc/timer_list | wc -c); \
                  echo sysrq > /proc/sysrq-trigger 2>/dev/null || echo sysrq-ro; \
                  echo nofile=$(ulimit -n); exit 7";
    fx.write_config(&fx.config(script));
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
    assert!(!fx.cgroup_dir("pids").exists());
}

#[test]
fn lifecycle_states_and_errors() {
    let Some(mut fx) = Fixture::new("rt-life") else {
        return;
    };
    fx.write_config(&fx.config("sleep 30"));
    let id = fx.id("life");
    let pid_file = fx.dir.path().join("pid");
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
    let procs = fs::read_to_string(fx.cgroup_dir("pids").join("cgroup.procs")).unwrap();
    assert!(procs.lines().any(|l| l == pid.to_string()), "{procs}");
    assert_eq!(
        fs::read_to_string(fx.cgroup_dir("pids").join("pids.max"))
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
    assert_eq!(fx.wait_status(&id, "stopped")["status"], "stopped");
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
    assert!(!fx.cgroup_dir("pids").exists());
    let out = fx.rt(&["state", &id]);
    assert!(!out.status.success());
}

#[test]
fn delete_force_kills_and_kill_all_reaches_every_process() {
    let Some(mut fx) = Fixture::new("rt-force") else {
        return;
    };
    fx.write_config(&fx.config("sleep 30 & sleep 31"));
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
    assert_eq!(fx.wait_status(&id, "stopped")["status"], "stopped");
    fx.rt(&["delete", &id]);

    let id = fx.id("force2");
    fx.rt(&["run", "-d", &id]);
    let out = fx.rt(&["delete", "--force", &id]);
    assert!(out.status.success(), "delete -f: {}", text(&out.stderr));
    assert!(!fx.root().join(&id).exists());
    assert!(!fx.cgroup_dir("pids").exists());
}

#[test]
fn failed_create_leaves_no_trace_and_names_the_problem() {
    let Some(mut fx) = Fixture::new("rt-fail") else {
        return;
    };
    let mut config = fx.config("true");
    config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/x", "type": "no-such-fs", "source": "none"}));
    fx.write_config(&config);
    let id = fx.id("fail");
    let log = fx.dir.path().join("log.json");
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
    assert!(!fx.cgroup_dir("pids").exists(), "cgroup left behind");
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(fx.dir.path().to_str().unwrap()));

    // A missing program fails at create (as with runc: engines cannot delete a container whose
    // start failed until they saw its init exit), with the name, and leaves no trace.
    fx.write_config(&fx.config("true"));
    for (name, program) in [
        ("noprog", "nonexistent-program"),
        ("noabs", "/no/such/program"),
    ] {
        let mut config = fx.config("");
        config["process"]["args"] = json!([program]);
        fx.write_config(&config);
        let id = fx.id(name);
        let out = fx.rt(&["create", &id]);
        assert!(!out.status.success(), "create of {program} must fail");
        assert!(text(&out.stderr).contains(program), "{}", text(&out.stderr));
        assert!(!fx.root().join(&id).exists());
        assert!(!fx.cgroup_dir("pids").exists());
    }
}

#[test]
fn run_forwards_signals_to_the_container() {
    let Some(mut fx) = Fixture::new("rt-sig") else {
        return;
    };
    // pid 1 only receives signals it handles: the trap makes TERM end it with 143.
    fx.write_config(
        &fx.config("trap 'exit 143' TERM; echo ready > /dev/shm/r; while :; do sleep 0.1; done"),
    );
    let id = fx.id("sig");
    let mut cmd = fx.cmd(&["run", &id]);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
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
fn systemd_cgroup_is_refused_clearly() {
    let out = Command::new(BIN)
        .args(["--systemd-cgroup", "state", "x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("not supported"));
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(text(&out.stdout).contains("iso-runtime"));
    let out = Command::new(BIN).arg("features").output().unwrap();
    let features: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(features["linux"]["cgroup"]["systemd"], false);
    assert!(features["hooks"].as_array().unwrap().len() == 6);
}

#[test]
fn hooks_run_in_order_with_state_on_stdin() {
    let Some(mut fx) = Fixture::new("rt-hooks") else {
        return;
    };
    let log_dir = fx.dir.path().join("hooklog");
    fs::create_dir(&log_dir).unwrap();
    let log = log_dir.join("log");
    let hook = |name: &str| {
        json!({"path": "/bin/sh", "args": ["sh", "-c",
            format!("grep -q '\"id\"' && echo {name} >> {}", log.display())]})
    };
    let mut config = fx.config("echo main >> $LOG");
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
    let id = fx.id("hookfail");
    let out = fx.rt(&["create", &id]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("prestart"),
        "{}",
        text(&out.stderr)
    );
    assert!(!fx.root().join(&id).exists());
}

#[test]
fn preserve_fds_passes_descriptors_and_closes_the_rest() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let Some(mut fx) = Fixture::new("rt-fds") else {
        return;
    };
    fx.write_config(&fx.config("echo via-fd3 >&3; ls /proc/self/fd | grep -c ."));
    let id = fx.id("fds");
    let file = fs::File::create(fx.dir.path().join("fd3")).unwrap();
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
    let out = run_to_files(cmd, fx.dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        fs::read_to_string(fx.dir.path().join("fd3")).unwrap(),
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
    let Some(mut fx) = Fixture::new("rt-tty") else {
        return;
    };
    let mut config = fx.config("tty; echo hello-tty");
    config["process"]["terminal"] = json!(true);
    // Deny every device, as `runc spec` does: the runtime still allows the defaults.
    config["linux"]["resources"]["devices"] = json!([{"allow": false, "access": "rwm"}]);
    fx.write_config(&config);
    let sock = fx.dir.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let id = fx.id("tty");
    let pidfd_sock = fx.dir.path().join("pidfd.sock");
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

#[test]
fn process_fields_seen_from_the_host() {
    let Some(mut fx) = Fixture::new("rt-proc") else {
        return;
    };
    let mut config = fx.config("sleep 30");
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
    let Some(mut fx) = Fixture::new("rt-ns") else {
        return;
    };
    let script = "grep Seccomp: /proc/self/status; mkdir /tmp/d 2>&1 || echo mkdir-denied; \
                  echo uid=$(id -u); cat /proc/self/uid_map; cat /proc/self/cgroup";
    let mut config = fx.config(script);
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
    for want in ["Seccomp:\t2", "mkdir-denied", "uid=0", "100000", "pids:/\n"] {
        assert!(stdout.contains(want), "missing {want:?} in\n{stdout}");
    }
}

/// What a container sees, printed by the same script under both runtimes.
const VIEW_SCRIPT: &str = "echo pid=$$; hostname; id; grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status; \
    ls -a /dev; ls /dev/pts /dev/shm /dev/mqueue; echo nofile=$(ulimit -n); pwd; env | grep -v '^HOME=' | sort; \
    echo timer=$(cat /proc/timer_list | wc -c); touch /x 2>/dev/null || echo root-ro; \
    echo 1 > /proc/sys/kernel/domainname 2>/dev/null || echo procsys-ro; \
    ls /sys/fs/cgroup; cat /sys/fs/cgroup/pids/pids.max; umask";

/// Runs `VIEW_SCRIPT` under another runtime (`argv` before the global flags) in its own
/// cgroup, removing that cgroup afterwards.
fn view_under(fx: &Fixture, name: &str, argv: &[&str]) -> Output {
    let mut config = fx.config(VIEW_SCRIPT);
    let cgroup = format!("{}-{name}", fx.cgroup);
    config["linux"]["cgroupsPath"] = json!(cgroup);
    fx.write_config(&config);
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..])
        .arg("--root")
        .arg(fx.dir.path().join(format!("{name}-state")))
        .args(["run", &format!("{name}-{}", std::process::id())])
        .current_dir(fx.bundle())
        .stdin(Stdio::null());
    let out = run_to_files(cmd, fx.dir.path());
    for c in [
        "pids", "memory", "cpu", "cpuacct", "cpuset", "devices", "freezer", "blkio", "systemd",
        "unified", "hugetlb",
    ] {
        let _ = fs::remove_dir(format!("/sys/fs/cgroup/{c}{cgroup}"));
    }
    out
}

/// The same bundle under iso-runtime, runc and crun (Debian packages): the container must
/// see the same things.
#[test]
fn differential_against_runc_and_crun() {
    let Some(mut fx) = Fixture::new("rt-diff") else {
        return;
    };
    fx.write_config(&fx.config(VIEW_SCRIPT));
    let id = fx.id("diff");
    let ours = fx.rt(&["run", &id]);
    assert!(ours.status.success(), "{}", text(&ours.stderr));
    let ours = text(&ours.stdout);
    // Known, deliberate difference: on a hybrid host we also bind the container's directory
    // of the cgroup2 mount (`unified`), which runc 1.1 and crun 1.8 leave out.
    let ours: Vec<&str> = ours.lines().filter(|l| *l != "unified").collect();
    let mut compared = 0;
    if Path::new("/usr/sbin/runc").exists() {
        let out = view_under(&fx, "runc", &["/usr/sbin/runc"]);
        assert!(out.status.success(), "runc: {}", text(&out.stderr));
        let theirs = text(&out.stdout);
        assert_eq!(
            ours,
            theirs.lines().collect::<Vec<_>>(),
            "iso-runtime (left) vs runc (right)"
        );
        compared += 1;
    }
    if Path::new("/usr/bin/crun").exists() {
        // crun 1.8 refuses hybrid hosts whose cgroup2 mount owns a controller: run it in a
        // private mount namespace where that file reads empty (the host is untouched).
        let empty = fx.dir.path().join("empty");
        fs::write(&empty, "").unwrap();
        let wrapper = format!(
            "mount --bind -o ro {} /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null; exec /usr/bin/crun \"$@\"",
            empty.display()
        );
        let out = view_under(
            &fx,
            "crun",
            &[
                "/usr/bin/unshare",
                "-m",
                "--propagation",
                "private",
                "/bin/sh",
                "-c",
                &wrapper,
                "crun",
            ],
        );
        assert!(out.status.success(), "crun: {}", text(&out.stderr));
        let theirs = text(&out.stdout);
        // crun's own additions: a /dev/core symlink to /proc/kcore, and net_cls/net_prio
        // directories in the cgroup tmpfs although this host mounts no such hierarchy.
        let theirs: Vec<&str> = theirs
            .lines()
            .filter(|l| !matches!(*l, "core" | "net_cls" | "net_prio"))
            .collect();
        assert_eq!(ours, theirs, "iso-runtime (left) vs crun (right)");
        compared += 1;
    }
    if compared == 0 {
        eprintln!("skipped: neither runc nor crun is installed");
    }
}

/// The VM tier (pure cgroup v2, AppArmor active): limits seen from the host and from inside,
/// and the AppArmor profile the container runs under.
#[test]
fn vm_cgroup_v2_limits_and_apparmor_profile() {
    if !iso_testutil::vm_feature_or_skip(iso_testutil::VmFeature::CgroupV2) {
        return;
    }
    if !iso_testutil::vm_feature_or_skip(iso_testutil::VmFeature::AppArmor) {
        return;
    }
    let Some(mut fx) = Fixture::new("rt-vm") else {
        return;
    };
    let profile = "iso-test-runtime";
    let rules = format!(
        "profile {profile} flags=(attach_disconnected,mediate_deleted) {{\n  file,\n  capability,\n  \
         network,\n  mount,\n  umount,\n  pivot_root,\n  signal,\n  ptrace,\n  unix,\n  \
         deny /proc/sysrq-trigger rwklx,\n}}\n"
    );
    let path = fx.dir.path().join("profile");
    fs::write(&path, rules).unwrap();
    let st = Command::new("apparmor_parser")
        .arg("-r")
        .arg(&path)
        .status()
        .unwrap();
    assert!(st.success(), "apparmor_parser failed");
    let mut config = fx.config(
        "cat /proc/self/attr/current; cat /sys/fs/cgroup/pids.max; cat /sys/fs/cgroup/memory.max; sleep 30",
    );
    config["process"]["apparmorProfile"] = json!(profile);
    config["linux"]["resources"]["memory"] = json!({"limit": 33554432});
    config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "cgroup"}));
    fx.write_config(&config);
    let id = fx.id("vm");
    let out = fx.rt(&["run", "-d", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let host_dir = fx.cgroup_dir("");
    assert_eq!(
        fs::read_to_string(host_dir.join("pids.max"))
            .unwrap()
            .trim(),
        "42"
    );
    assert_eq!(
        fs::read_to_string(host_dir.join("memory.max"))
            .unwrap()
            .trim(),
        "33554432"
    );
    let pid = fx.state(&id)["pid"].as_i64().unwrap();
    let label = fs::read_to_string(format!("/proc/{pid}/attr/current")).unwrap();
    assert!(label.starts_with(profile), "{label}");
    let out = fx.rt(&["delete", "--force", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!host_dir.exists());
    let _ = Command::new("apparmor_parser")
        .arg("-R")
        .arg(&path)
        .status();
}

#[test]
fn namespaces_joined_by_path_like_a_pod() {
    let Some(mut fx) = Fixture::new("rt-join") else {
        return;
    };
    // The "pause" container owns the namespaces.
    fx.write_config(&fx.config("sleep 30"));
    let pause = fx.id("pause");
    assert!(fx.rt(&["run", "-d", &pause]).status.success());
    let pid = fx.state(&pause)["pid"].as_i64().unwrap();
    let ns = |kind: &str| fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap();
    let mut config =
        fx.config(
        "readlink /proc/self/ns/net; readlink /proc/self/ns/ipc; readlink /proc/self/ns/uts; hostname",
    );
    config["linux"]["cgroupsPath"] = json!(format!("{}-b", fx.cgroup));
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
    // A hostname without a new UTS namespace is refused (it would change the joined one).
    config["hostname"] = json!("other");
    fx.write_config(&config);
    let id = fx.id("refused");
    let out = fx.rt(&["create", &id]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("hostname"),
        "{}",
        text(&out.stderr)
    );
    assert!(!fx.root().join(&id).exists());
}

#[test]
fn exec_joins_the_running_container() {
    let Some(mut fx) = Fixture::new("rt-exec") else {
        return;
    };
    fx.write_config(&fx.config("sleep 30"));
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
    let proc_file = fx.dir.path().join("process.json");
    fs::write(
        &proc_file,
        json!({"cwd": "/tmp", "args": ["sleep", "30"], "env": ["PATH=/bin"],
               "user": {"uid": 1000, "gid": 1000}})
        .to_string(),
    )
    .unwrap();
    let pid_file = fx.dir.path().join("exec.pid");
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
    let procs = fs::read_to_string(fx.cgroup_dir("pids").join("cgroup.procs")).unwrap();
    assert!(procs.lines().any(|l| l == pid.trim()), "{procs}");
    let status = fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap();
    assert!(status.contains("Uid:\t1000"), "{status}");
    // A missing program is reported by exec.
    let out = fx.rt(&["exec", &id, "no-such-program"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no-such-program"));
    // Exec in a stopped container fails.
    assert!(fx.rt(&["kill", &id, "KILL"]).status.success());
    fx.wait_status(&id, "stopped");
    assert!(!fx.rt(&["exec", &id, "true"]).status.success());
}

/// CVE-2019-5736: while the init waits for `start` it is the runtime's binary; a process in
/// the container must not be able to open it through /proc/1/exe.
#[test]
fn waiting_init_is_not_reachable_from_the_container_and_no_pivot_works() {
    let Some(mut fx) = Fixture::new("rt-exe") else {
        return;
    };
    fx.write_config(&fx.config("true"));
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

    fx.write_config(&fx.config("ls /bin/busybox; hostname"));
    let id = fx.id("nopivot");
    let out = fx.rt(&["run", "--no-pivot", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "/bin/busybox\nisotest\n");
}

// ---- The rest of runc's command set: exec flags, ps, list, pause/resume, update, events,
// spec, features.

/// Runs `sleep 30` detached and returns its id and init pid.
fn running(fx: &mut Fixture, name: &str, script: &str) -> (String, i64) {
    fx.write_config(&fx.config(script));
    let id = fx.id(name);
    let out = fx.rt(&["run", "-d", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pid = fx.state(&id)["pid"].as_i64().unwrap();
    (id, pid)
}

/// Every hierarchy directory of the fixture's cgroup that exists.
fn cgroup_dirs(fx: &Fixture) -> Vec<PathBuf> {
    fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .filter_map(|e| {
            let d = e.unwrap().path().join(fx.cgroup.trim_start_matches('/'));
            d.is_dir().then_some(d)
        })
        .collect()
}

#[test]
fn exec_sees_the_init_namespaces_and_cgroup_and_applies_its_flags() {
    let Some(mut fx) = Fixture::new("rt-exec2") else {
        return;
    };
    let (id, init) = running(&mut fx, "exec2", "sleep 30");
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
        stdout.contains(&format!("pids:{}", fx.cgroup)),
        "cgroup: {stdout}"
    );
    // --cgroup: into an existing sub-cgroup of the container.
    let dirs = cgroup_dirs(&fx);
    for d in &dirs {
        fs::create_dir(d.join("sub")).unwrap();
        // A v1 cpuset group starts empty: give it its parent's CPUs and nodes.
        for f in ["cpuset.cpus", "cpuset.mems"] {
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
        stdout.contains(&format!("pids:{}/sub", fx.cgroup)),
        "{stdout}"
    );
    // A sub-cgroup may not climb out.
    let out = fx.rt(&["exec", "--cgroup", "../x", &id, "true"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--cgroup"),
        "{}",
        text(&out.stderr)
    );
    // An unknown capability is named.
    let out = fx.rt(&["exec", "--cap", "CAP_NOPE", &id, "true"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("CAP_NOPE"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn exec_tty_sends_a_pty_to_the_console_socket() {
    use std::io::Read;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixListener;
    let Some(mut fx) = Fixture::new("rt-exectty") else {
        return;
    };
    let (id, _) = running(&mut fx, "exectty", "sleep 30");
    let sock = fx.dir.path().join("exec-console.sock");
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
    // -t without a console socket is refused.
    let out = fx.rt(&["exec", "-t", &id, "true"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("console"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn ps_and_list_show_init_and_exec_processes() {
    let Some(mut fx) = Fixture::new("rt-ps") else {
        return;
    };
    let (id, init) = running(&mut fx, "ps", "sleep 30");
    let pid_file = fx.dir.path().join("exec.pid");
    let out = fx.rt(&[
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
        "sleep",
        "30",
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
    let table = text(&fx.rt(&["ps", &id]).stdout);
    assert!(table.starts_with("PID\n"), "{table}");
    assert!(table.contains(&format!("\n{exec_pid}\n")), "{table}");
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
    let quiet = text(&fx.rt(&["list", "-q"]).stdout);
    assert_eq!(quiet, format!("{id}\n"));
    let json: Value = serde_json::from_slice(&fx.rt(&["list", "--format", "json"]).stdout).unwrap();
    assert_eq!(json[0]["id"], id.as_str());
    assert_eq!(json[0]["status"], "running");
    assert_eq!(json[0]["pid"], init);
}

fn cpu_usage(fx: &Fixture) -> u64 {
    fs::read_to_string(fx.cgroup_dir("cpuacct").join("cpuacct.usage"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn pause_stops_a_busy_loop_and_resume_restarts_it() {
    let Some(mut fx) = Fixture::new("rt-pause") else {
        return;
    };
    let (id, init) = running(&mut fx, "pause", "while :; do :; done");
    assert!(fx.cgroup_dir("cpuacct").is_dir());
    let out = fx.rt(&["pause", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(fx.state(&id)["status"], "paused");
    let state = fs::read_to_string(fx.cgroup_dir("freezer").join("freezer.state")).unwrap();
    assert_eq!(state.trim(), "FROZEN");
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
    let deadline = Instant::now() + Duration::from_secs(10);
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
    let Some(mut fx) = Fixture::new("rt-update") else {
        return;
    };
    let mut config = fx.config("sleep 30");
    config["linux"]["resources"]["memory"] = json!({"limit": 32 << 20, "swap": 32 << 20});
    fx.write_config(&config);
    let id = fx.id("update");
    let out = fx.rt(&["run", "-d", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pids_max = || {
        fs::read_to_string(fx.cgroup_dir("pids").join("pids.max"))
            .unwrap()
            .trim()
            .to_owned()
    };
    assert_eq!(pids_max(), "42");
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
    let mem = fs::read_to_string(fx.cgroup_dir("memory").join("memory.limit_in_bytes")).unwrap();
    assert_eq!(mem.trim(), (64u64 << 20).to_string());
    // Raising memory above the old memory+swap limit needs the swap limit raised first.
    let memsw =
        fs::read_to_string(fx.cgroup_dir("memory").join("memory.memsw.limit_in_bytes")).unwrap();
    assert_eq!(memsw.trim(), (128u64 << 20).to_string());
    let quota = fs::read_to_string(fx.cgroup_dir("cpu").join("cpu.cfs_quota_us")).unwrap();
    assert_eq!(quota.trim(), "50000");
    let shares = fs::read_to_string(fx.cgroup_dir("cpu").join("cpu.shares")).unwrap();
    assert_eq!(shares.trim(), "512");
    let rec = record(&fx, &id);
    assert_eq!(rec["resources"]["pids"]["limit"], 4, "{rec}");
    assert_eq!(rec["resources"]["memory"]["limit"], 64 << 20, "{rec}");
    // The limit bites: init + sh + 2 sleeps = 4 tasks; the next fork fails.
    let out = fx.rt(&[
        "exec",
        &id,
        "sh",
        "-c",
        "sleep 5 & sleep 5 & sleep 5 & echo forked-all",
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
    let Some(mut fx) = Fixture::new("rt-events") else {
        return;
    };
    let (id, _) = running(&mut fx, "events", "sleep 30");
    let out = fx.rt(&["events", "--stats", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ev: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ev["type"], "stats");
    assert_eq!(ev["id"], id.as_str());
    let d = &ev["data"];
    assert!(d["pids"]["current"].as_u64().unwrap() >= 1, "{ev}");
    assert_eq!(d["pids"]["limit"], 42);
    assert!(d["cpu"]["usage"]["total"].as_u64().unwrap() > 0, "{ev}");
    assert!(d["cpu"]["usage"]["percpu"].is_array(), "{ev}");
    assert!(d["cpu"]["throttling"]["periods"].is_u64(), "{ev}");
    assert!(d["memory"]["usage"]["usage"].as_u64().unwrap() > 0, "{ev}");
    assert!(d["memory"]["usage"]["limit"].is_u64(), "{ev}");
    assert!(d["memory"]["raw"].is_object(), "{ev}");
    assert!(d["blkio"]["ioServiceBytesRecursive"].is_array(), "{ev}");
    assert!(d["hugetlb"].is_object(), "{ev}");
    // Streaming: a stats line per interval until the container stops.
    let mut cmd = fx.cmd(&["events", "--interval", "100ms", &id]);
    let log = fx.dir.path().join("events.out");
    cmd.stdout(fs::File::create(&log).unwrap())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
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
    fx.wait_status(&id, "stopped");
    assert!(!fx.rt(&["events", "--stats", &id]).status.success());
    assert!(!fx
        .rt(&["events", "--interval", "soon", &id])
        .status
        .success());
}

#[test]
fn spec_output_runs_under_iso_runtime_and_runc() {
    let Some(mut fx) = Fixture::new("rt-spec") else {
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
    spec["linux"]["cgroupsPath"] = json!(fx.cgroup);
    fx.write_config(&spec);
    let id = fx.id("spec");
    let out = fx.rt(&["run", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "iso\nspec-ok\n");
    if Path::new("/usr/sbin/runc").exists() {
        let runc_root = fx.dir.path().join("runc-root");
        let mut cmd = Command::new("/usr/sbin/runc");
        cmd.arg("--root")
            .arg(&runc_root)
            .args(["run", &format!("runc-{id}")])
            .current_dir(fx.bundle())
            .stdin(Stdio::null());
        let out = run_to_files(cmd, fx.dir.path());
        let _ = Command::new("/usr/sbin/runc")
            .arg("--root")
            .arg(&runc_root)
            .args(["delete", "-f", &format!("runc-{id}")])
            .output();
        assert!(out.status.success(), "runc: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "iso\nspec-ok\n");
    }
    // --rootless: a user namespace mapping one id, no network namespace.
    let other = fx.dir.path().join("rootless");
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
    let out = Command::new(BIN).arg("features").output().unwrap();
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
    let Some(mut fx) = Fixture::new("rt-oom") else {
        return;
    };
    // Waits for a file the test creates, then grows a buffer without bound (tail keeps the
    // last line, and /dev/zero has no newline) until the 16M limit kills it.
    let mut config =
        fx.config("while [ ! -e /tmp/go ]; do sleep 0.05; done; tail /dev/zero; sleep 30");
    config["linux"]["resources"]["memory"] = json!({"limit": 16 << 20});
    config["root"]["readonly"] = json!(false);
    fx.write_config(&config);
    let id = fx.id("oom");
    let out = fx.rt(&["run", "-d", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let log = fx.dir.path().join("oom-events.out");
    let mut cmd = fx.cmd(&["events", "--interval", "60s", &id]);
    cmd.stdout(fs::File::create(&log).unwrap())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    // The first stats line shows events started (and read the OOM counters) before the kill.
    let deadline = Instant::now() + Duration::from_secs(10);
    while fs::read_to_string(&log).unwrap().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(fx.rt(&["exec", &id, "touch", "/tmp/go"]).status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
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

/// The cgroup v2 side of pause/resume (cgroup.freeze), update and events, and exec
/// --apparmor, in the VM.
#[test]
fn vm_pause_update_events_and_exec_apparmor_on_cgroup_v2() {
    if !iso_testutil::vm_feature_or_skip(iso_testutil::VmFeature::CgroupV2) {
        return;
    }
    if !iso_testutil::vm_feature_or_skip(iso_testutil::VmFeature::AppArmor) {
        return;
    }
    let Some(mut fx) = Fixture::new("rt-vm2") else {
        return;
    };
    let profile = "iso-test-runtime-exec";
    let path = fx.dir.path().join("exec-profile");
    fs::write(
        &path,
        format!(
            "profile {profile} flags=(attach_disconnected,mediate_deleted) {{\n  file,\n  \
             capability,\n  signal,\n  unix,\n}}\n"
        ),
    )
    .unwrap();
    let st = Command::new("apparmor_parser")
        .arg("-r")
        .arg(&path)
        .status()
        .unwrap();
    assert!(st.success(), "apparmor_parser failed");
    let (id, _) = running(&mut fx, "vm2", "while :; do :; done");
    let dir = fx.cgroup_dir("");
    let usage = || -> u64 {
        fs::read_to_string(dir.join("cpu.stat"))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("usage_usec ").map(|v| v.parse().unwrap()))
            .unwrap()
    };
    assert!(fx.rt(&["pause", &id]).status.success());
    assert_eq!(fx.state(&id)["status"], "paused");
    assert_eq!(
        fs::read_to_string(dir.join("cgroup.freeze"))
            .unwrap()
            .trim(),
        "1"
    );
    let before = usage();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(usage(), before);
    assert!(fx.rt(&["resume", &id]).status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while usage() == before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(usage() > before);
    let out = fx.rt(&["update", "--pids-limit", "7", "--memory", "48m", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        fs::read_to_string(dir.join("pids.max")).unwrap().trim(),
        "7"
    );
    assert_eq!(
        fs::read_to_string(dir.join("memory.max")).unwrap().trim(),
        (48u64 << 20).to_string()
    );
    let out = fx.rt(&["events", "--stats", &id]);
    let ev: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ev["data"]["pids"]["limit"], 7, "{ev}");
    assert_eq!(ev["data"]["memory"]["usage"]["limit"], 48u64 << 20, "{ev}");
    let out = fx.rt(&[
        "exec",
        "--apparmor",
        profile,
        &id,
        "cat",
        "/proc/self/attr/current",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with(profile),
        "{}",
        text(&out.stdout)
    );
    assert!(fx.rt(&["delete", "--force", &id]).status.success());
    let _ = Command::new("apparmor_parser")
        .arg("-R")
        .arg(&path)
        .status();
}

#[test]
fn exec_preserve_fds_and_pidfd_socket() {
    use std::os::fd::{AsFd, AsRawFd};
    use std::os::unix::net::UnixListener;
    use std::os::unix::process::CommandExt;
    let Some(mut fx) = Fixture::new("rt-execfds") else {
        return;
    };
    let (id, _) = running(&mut fx, "execfds", "sleep 30");
    let file = fs::File::create(fx.dir.path().join("exec-fd3")).unwrap();
    let raw = file.as_raw_fd();
    let sock = fx.dir.path().join("exec-pidfd.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let mut cmd = fx.cmd(&[
        "exec",
        "--preserve-fds",
        "1",
        "--pidfd-socket",
        sock.to_str().unwrap(),
        "--pid-file",
        fx.dir.path().join("execfds.pid").to_str().unwrap(),
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
    let out_path = fx.dir.path().join("exec-fds.out");
    cmd.stdout(fs::File::create(&out_path).unwrap())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let (conn, _) = listener.accept().unwrap();
    let mut name = [0u8; 64];
    let (pidfd, _) = iso_seccomp::notify::recv_fd(conn.as_fd(), &mut name).unwrap();
    let fdinfo = fs::read_to_string(format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd())).unwrap();
    assert!(child.wait().unwrap().success());
    // The pidfd refers to the exec'd process.
    let pid = fs::read_to_string(fx.dir.path().join("execfds.pid")).unwrap();
    assert!(
        fdinfo.contains(&format!("Pid:\t{}\n", pid.trim())),
        "{fdinfo}"
    );
    assert_eq!(
        fs::read_to_string(fx.dir.path().join("exec-fd3")).unwrap(),
        "exec-via-fd3\n"
    );
    // 0, 1, 2, 3 and the directory ls reads: nothing of the runtime's leaked.
    assert_eq!(fs::read_to_string(&out_path).unwrap().trim(), "5");
}
