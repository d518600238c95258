//! Differential tests of the container's process against runc (issue 18): the same bundle
//! run by iso-runtime and by runc (and crun where it behaves like runc), comparing what the
//! container sees and the exit status. Skipped (passing) where runc is not installed or the
//! test does not run as root.

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use iso_testutil::bundle::{run_to_files, text, Fixture};
use serde_json::{json, Value};

/// The runtime under test (see conformance.rs).
fn bin() -> String {
    std::env::var("ISO_RUNTIME_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_iso-runtime").to_owned())
}

const RUNC: &str = "/usr/sbin/runc";

/// The fixture, or `None` (skip) without root, busybox or runc.
fn fixture(tag: &str) -> Option<Fixture> {
    if !Path::new(RUNC).exists() {
        eprintln!("skipped: runc is not installed");
        return None;
    }
    Fixture::new(bin(), tag)
}

/// One runtime's use of the fixture: `config` written as the bundle's config in a cgroup of
/// its own (removed when this drops), and a state root of its own.
struct Under<'a> {
    fx: &'a Fixture,
    runtime: &'a str,
    /// The runtime's file name (`iso-runtime`, `runc`).
    name: String,
    cgroup: String,
}

impl<'a> Under<'a> {
    fn new(fx: &'a Fixture, runtime: &'a str, config: &Value) -> Self {
        let name = Path::new(runtime)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let cgroup = format!("{}-{name}", fx.cgroup());
        let under = Under {
            fx,
            runtime,
            name,
            cgroup,
        };
        under.write(config);
        under
    }

    /// Writes `config` (in this runtime's cgroup) as the bundle's config.
    fn write(&self, config: &Value) {
        let mut config = config.clone();
        config["linux"]["cgroupsPath"] = json!(self.cgroup);
        self.fx.write_config(&config);
    }

    /// The container id for `tag`.
    fn id(&self, tag: &str) -> String {
        format!("{}-{tag}-{}", self.name, std::process::id())
    }

    /// `runtime --root <state> args`, in the bundle, stdin from `/dev/null`.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(self.runtime);
        cmd.env_remove("ISO_POLICY")
            .arg("--root")
            .arg(self.fx.path().join(format!("{}-state", self.name)))
            .args(args)
            .current_dir(self.fx.bundle())
            .stdin(Stdio::null());
        cmd
    }

    /// [`Under::cmd`] run, its output in files.
    fn rt(&self, args: &[&str]) -> Output {
        run_to_files(self.cmd(args), self.fx.path())
    }
}

impl Drop for Under<'_> {
    fn drop(&mut self) {
        for h in iso_testutil::bundle::cgroup_hierarchies() {
            let _ = fs::remove_dir(h.join(self.cgroup.trim_start_matches('/')));
        }
    }
}

/// `runtime --root <own state> <args> <id>` with `config` as the bundle's config in its
/// own cgroup (removed afterwards); stdin from `/dev/null`.
fn run_under(fx: &Fixture, runtime: &str, config: &Value, args: &[&str]) -> Output {
    let under = Under::new(fx, runtime, config);
    let id = under.id("run");
    let mut full = args.to_vec();
    full.push(&id);
    let out = under.rt(&full);
    let _ = under.rt(&["delete", "--force", &id]);
    out
}

/// `run` of `config` under iso-runtime and runc: both outputs, compared on stdout and exit
/// status; returns ours.
fn same_as_runc(fx: &Fixture, config: &Value) -> Output {
    same_as_runc_with(fx, config, &["run"])
}

/// [`same_as_runc`] with other arguments before the id.
fn same_as_runc_with(fx: &Fixture, config: &Value, args: &[&str]) -> Output {
    let ours = run_under(fx, &bin(), config, args);
    let theirs = run_under(fx, RUNC, config, args);
    assert_eq!(
        (text(&ours.stdout), ours.status.code()),
        (text(&theirs.stdout), theirs.status.code()),
        "iso-runtime (left) vs runc (right)\nours: {}\nrunc: {}",
        text(&ours.stderr),
        text(&theirs.stderr)
    );
    ours
}

/// The system calls busybox makes for the scripts below, the user switch's, and the few
/// more runc's own init makes under the filter (runc runs the test too): no `close_range`.
const STRICT_ALLOW: &[&str] = &[
    "arch_prctl",
    "brk",
    "capget",
    "capset",
    "chdir",
    "clone",
    "close",
    "dup2",
    "dup3",
    "epoll_create1",
    "epoll_ctl",
    "epoll_pwait",
    "execve",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fchdir",
    "fcntl",
    "fstat",
    "fstatfs",
    "futex",
    "getcwd",
    "getdents64",
    "getegid",
    "geteuid",
    "getgid",
    "getpid",
    "getppid",
    "getrandom",
    "gettid",
    "getuid",
    "lseek",
    "madvise",
    "mincore",
    "mmap",
    "mprotect",
    "munmap",
    "nanosleep",
    "newfstatat",
    "openat",
    "pipe2",
    "prctl",
    "pread64",
    "prlimit64",
    "read",
    "readlink",
    "rseq",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sched_getaffinity",
    "sched_yield",
    "sendfile",
    "set_robust_list",
    "set_tid_address",
    "setgid",
    "setgroups",
    "setresgid",
    "setresuid",
    "setuid",
    "sigaltstack",
    "statfs",
    "tgkill",
    "uname",
    "wait4",
    "write",
];

/// Issue 18.1: a profile whose default is ERRNO and that allows little more than what
/// busybox needs (no `close_range`; `execveat` kills) runs under both runtimes, with and
/// without noNewPrivileges, as root and as another user.
#[test]
fn strict_seccomp_profile_runs_like_runc() {
    let Some(fx) = fixture("rp-seccomp") else {
        return;
    };
    let mut config = fx.config(
        "echo hi; id -u; grep Seccomp: /proc/self/status; mkdir /tmp/x 2>/dev/null || echo refused",
    );
    config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"names": STRICT_ALLOW, "action": "SCMP_ACT_ALLOW"},
            {"names": ["execveat"], "action": "SCMP_ACT_KILL"}
        ]
    });
    for nnp in [false, true] {
        for uid in [0, 1000] {
            config["process"]["noNewPrivileges"] = json!(nnp);
            config["process"]["user"] = json!({"uid": uid, "gid": uid});
            let out = same_as_runc(&fx, &config);
            assert_eq!(
                text(&out.stdout),
                format!("hi\n{uid}\nSeccomp:\t2\nrefused\n"),
                "nnp {nnp} uid {uid}: {}",
                text(&out.stderr)
            );
        }
    }
}

/// Runs `config` detached (`run -d`, its program waiting) under `runtime`, then each `exec`
/// command line; returns each exec's stdout and exit status, and removes the container.
fn execs_under(
    fx: &Fixture,
    runtime: &str,
    config: &Value,
    execs: &[Vec<String>],
) -> Vec<(String, Option<i32>)> {
    let under = Under::new(fx, runtime, config);
    let name = &under.name;
    let id = under.id("x");
    let rt = |args: &[&str]| under.rt(args);
    let started = rt(&["run", "-d", &id]);
    let mut results = Vec::new();
    if started.status.success() {
        for argv in execs {
            let mut args: Vec<&str> = vec!["exec"];
            let (flags, rest) = argv.split_at(argv.iter().position(|a| a == "--").unwrap_or(0));
            args.extend(flags.iter().map(String::as_str));
            args.push(&id);
            args.extend(rest.iter().skip(1).map(String::as_str));
            let out = rt(&args);
            results.push((text(&out.stdout), out.status.code()));
            if !out.status.success() {
                eprintln!("{name} exec {argv:?}: {}", text(&out.stderr));
            }
        }
    } else {
        eprintln!("{name} run -d: {}", text(&started.stderr));
    }
    let _ = rt(&["delete", "--force", &id]);
    results
}

/// [`execs_under`] under iso-runtime and runc, compared; returns ours.
fn execs_like_runc(
    fx: &Fixture,
    config: &Value,
    execs: &[Vec<String>],
) -> Vec<(String, Option<i32>)> {
    let ours = execs_under(fx, &bin(), config, execs);
    let theirs = execs_under(fx, RUNC, config, execs);
    assert_eq!(ours, theirs, "iso-runtime (left) vs runc (right)");
    assert_eq!(ours.len(), execs.len(), "the container did not start");
    ours
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Issue 18.4: HOME from the container's /etc/passwd when the env has none or an empty one
/// (else `/`), for run and exec; each variable once, last value wins; `exec --env`
/// overrides; newlines pass verbatim; `exec -p` of a process without user or env.
#[test]
fn environment_like_runc() {
    let Some(fx) = fixture("rp-env") else {
        return;
    };
    fs::write(
        fx.rootfs().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n",
    )
    .unwrap();
    let mut config = fx.config("env; echo \"[$B]\"");
    for (env, uid, home) in [
        (
            json!(["PATH=/bin", "A=1", "B=x\ny", "A=2"]),
            0,
            "HOME=/root",
        ),
        (json!(["PATH=/bin", "HOME=", "A=1"]), 1000, "HOME=/home/u"),
        (json!(["PATH=/bin"]), 1001, "HOME=/\n"),
        (json!(["PATH=/bin", "HOME=/mine"]), 1000, "HOME=/mine"),
    ] {
        config["process"]["env"] = env;
        config["process"]["user"] = json!({"uid": uid, "gid": uid});
        let out = same_as_runc(&fx, &config);
        assert!(text(&out.stdout).contains(home), "{}", text(&out.stdout));
    }
    config["process"]["env"] = json!(["PATH=/bin", "A=1", "K=spec"]);
    config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    config["process"]["args"] = json!(["sleep", "100"]);
    let process = fx.path().join("process.json");
    fs::write(
        &process,
        r#"{"args": ["/bin/sh", "-c", "id; env"], "cwd": "/"}"#,
    )
    .unwrap();
    let process = process.to_string_lossy().into_owned();
    let out = execs_like_runc(
        &fx,
        &config,
        &[
            strings(&["--", "sh", "-c", "env"]),
            strings(&["--env", "K=cli", "--env", "HOME=", "--", "sh", "-c", "env"]),
            strings(&["-p", &process, "--"]),
        ],
    );
    assert!(out[1].0.contains("K=cli"), "{}", out[1].0);
    assert!(out[2].0.contains("uid=0"), "{}", out[2].0);
}

/// Issue 18.5: unknown capability names are ignored (with a warning); `exec` keeps the
/// spec's ambient set and `--cap` adds to it where the inheritable set allows; a program
/// executable only with CAP_DAC_OVERRIDE starts for a user holding it.
#[test]
fn capabilities_like_runc() {
    let Some(fx) = fixture("rp-caps") else {
        return;
    };
    let opt = fx.rootfs().join("opt");
    fs::create_dir_all(&opt).unwrap();
    fs::copy("/bin/busybox", opt.join("echo")).unwrap();
    let owner_only = std::os::unix::fs::PermissionsExt::from_mode(0o700);
    fs::set_permissions(opt.join("echo"), owner_only).unwrap();
    let mut config = fx.config("grep -E '^Cap(Inh|Prm|Eff|Amb)' /proc/self/status");
    let caps = json!([
        "CAP_KILL",
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FROM_THE_FUTURE"
    ]);
    config["process"]["capabilities"] = json!({
        "bounding": caps, "effective": caps, "permitted": caps,
        "inheritable": ["CAP_KILL", "CAP_CHOWN"], "ambient": ["CAP_KILL", "CAP_NOT_YET"]
    });
    config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let out = same_as_runc(&fx, &config);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("CAP_FROM_THE_FUTURE"),
        "{}",
        text(&out.stderr)
    );
    config["process"]["args"] = json!(["/opt/echo", "ran"]);
    let out = same_as_runc(&fx, &config);
    assert_eq!(text(&out.stdout), "ran\n", "{}", text(&out.stderr));
    config["process"]["args"] = json!(["sleep", "100"]);
    let status = strings(&[
        "--",
        "sh",
        "-c",
        "grep -E '^Cap(Inh|Prm|Eff|Amb)' /proc/self/status",
    ]);
    let mut with_cap = strings(&["--cap", "CAP_CHOWN"]);
    with_cap.extend(status.iter().cloned());
    execs_like_runc(
        &fx,
        &config,
        &[status, with_cap, strings(&["--", "/opt/echo", "exec-ran"])],
    );
}

/// Issue 18.7: a program that cannot be executed: `run` and `exec` exit with runc's
/// status, and the message names the program and the reason.
#[test]
fn exec_failures_like_runc() {
    let Some(fx) = fixture("rp-execfail") else {
        return;
    };
    fs::write(fx.rootfs().join("bin/noexec"), "#!/bin/sh\necho no\n").unwrap();
    fs::write(fx.rootfs().join("bin/garbage"), "echo not a script\n").unwrap();
    // A script whose interpreter is missing, and a dynamically linked program without its
    // loader (the rootfs is busybox-static's).
    fs::write(
        fx.rootfs().join("bin/bashscript"),
        "#!/bin/bash -e\necho no\n",
    )
    .unwrap();
    fs::copy("/usr/bin/true", fx.rootfs().join("bin/dynamic")).unwrap();
    // A program of another architecture (e_machine of an arm64 or an x86_64 ELF).
    let mut foreign = fs::read("/bin/busybox").unwrap();
    let other: u16 = if cfg!(target_arch = "aarch64") {
        62
    } else {
        183
    };
    foreign[18..20].copy_from_slice(&other.to_le_bytes());
    fs::write(fx.rootfs().join("bin/foreign"), foreign).unwrap();
    for name in ["garbage", "bashscript", "dynamic", "foreign"] {
        let exec_mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        fs::set_permissions(fx.rootfs().join("bin").join(name), exec_mode).unwrap();
    }
    let cases = [
        (json!(["/bin/missing"]), "/bin/missing", "no such file"),
        (json!(["missing"]), "missing", "not found"),
        (json!(["/bin/noexec"]), "/bin/noexec", "permission denied"),
        (json!(["/bin/garbage"]), "/bin/garbage", "exec format error"),
        (json!(["/tmp"]), "/tmp", "permission denied"),
        (
            json!(["/bin/bashscript"]),
            "/bin/bashscript",
            "no such file",
        ),
        (json!(["/bin/dynamic"]), "/bin/dynamic", "no such file"),
        (json!(["/bin/foreign"]), "/bin/foreign", "exec format error"),
    ];
    let mut config = fx.config("true");
    for (args, program, reason) in &cases {
        config["process"]["args"] = args.clone();
        let out = same_as_runc(&fx, &config);
        let err = text(&out.stderr).to_lowercase();
        assert!(
            err.contains(program) && err.contains(reason),
            "{args}: {err}"
        );
    }
    config["process"]["args"] = json!(["sleep", "100"]);
    let execs: Vec<Vec<String>> = cases
        .iter()
        .map(|(args, _, _)| {
            let mut argv = strings(&["--"]);
            argv.extend(
                args.as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_owned()),
            );
            argv
        })
        .collect();
    execs_like_runc(&fx, &config, &execs);
}

/// A hook running `/bin/sh -c script` with `args[0]` = `name`, and `env` when given.
fn sh_hook(name: &str, script: &str, env: Option<&[&str]>) -> Value {
    let mut hook = json!({"path": "/bin/sh", "args": [name, "-c", script]});
    if let Some(env) = env {
        hook["env"] = json!(env);
    }
    hook
}

/// Issue 18.6: all six hook kinds run when configured at once, each with its `args[0]` as
/// given; a hook without `env` gets the process environment when the init runs it
/// (`createContainer`, `startContainer`) and the runtime's otherwise; a failing hook is
/// named by kind and index.
#[test]
fn hooks_like_runc() {
    let Some(fx) = fixture("rp-hooks") else {
        return;
    };
    let log = fx.path().join("hooks.log");
    let line =
        |kind: &str, log: &str| format!("echo {kind} $0 ${{X-unset}} ${{PATH:+path}} >> {log}");
    let host_log = log.to_string_lossy().into_owned();
    let mut config = fx.config("true");
    config["process"]["env"] = json!(["PATH=/bin", "X=proc"]);
    config["hooks"] = json!({
        "prestart": [sh_hook("hook-prestart", &line("prestart", &host_log), Some(&["X=given"]))],
        "createRuntime": [sh_hook("hook-cr", &line("createRuntime", &host_log), None)],
        "createContainer": [sh_hook("hook-cc", &line("createContainer", &host_log), None)],
        "startContainer": [sh_hook("sh", &line("startContainer", "/start.log"), None)],
        "poststart": [sh_hook("hook-ps", &line("poststart", &host_log), Some(&[]))],
        "poststop": [sh_hook("hook-stop", &line("poststop", &host_log), None)]
    });
    let start_log = fx.rootfs().join("start.log");
    let mut logs = Vec::new();
    for runtime in [bin(), RUNC.to_owned()] {
        let _ = fs::remove_file(&log);
        let _ = fs::remove_file(&start_log);
        let out = run_under(&fx, &runtime, &config, &["run"]);
        assert!(out.status.success(), "{runtime}: {}", text(&out.stderr));
        logs.push((
            fs::read_to_string(&log).unwrap_or_default(),
            fs::read_to_string(&start_log).unwrap_or_default(),
        ));
    }
    assert_eq!(logs[0], logs[1], "iso-runtime (left) vs runc (right)");
    assert_eq!(logs[0].0.lines().count(), 5, "{}", logs[0].0);
    assert!(
        logs[0].1.starts_with("startContainer sh proc"),
        "{}",
        logs[0].1
    );
    config["hooks"] = json!({"prestart": [
        sh_hook("ok", "true", None),
        sh_hook("bad", "exit 3", None)
    ]});
    let out = same_as_runc(&fx, &config);
    let err = text(&out.stderr);
    assert!(
        err.contains("prestart hook #1") && err.contains("status 3"),
        "{err}"
    );
}

/// A seccomp agent at `path`: for each listener it receives, records the message (the
/// container process state) and answers `mkdir`/`mkdirat` with a faked success, letting
/// every other notified call run.
fn fake_mkdir_agent(path: &Path) -> std::sync::mpsc::Receiver<Value> {
    let socket = std::os::unix::net::UnixListener::bind(path).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in socket.incoming().flatten() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 64 << 10];
                let Ok((fd, n)) =
                    iso_seccomp::notify::recv_fd(std::os::fd::AsFd::as_fd(&conn), &mut buf)
                else {
                    return;
                };
                let _ = tx.send(serde_json::from_slice(&buf[..n]).unwrap_or(Value::Null));
                let listener = iso_seccomp::notify::Listener::from_fd(fd);
                while let Ok(req) = listener.recv() {
                    let answer = match req.syscall_name().as_deref() {
                        Some("mkdir" | "mkdirat") => iso_seccomp::notify::Response::Value(0),
                        _ => iso_seccomp::notify::Response::Continue,
                    };
                    let _ = listener.respond(req.id, answer);
                }
            });
        }
    });
    rx
}

/// Issue 18.2: the listener of `listenerPath` reaches the agent with the container process
/// state, also when the profile notifies on `connect` and `sendmsg` (the runtime process
/// sends it, not the filtered init), for `run` and `exec`; the agent's answers count.
#[test]
fn seccomp_listener_path_like_runc() {
    let Some(fx) = fixture("rp-listener") else {
        return;
    };
    let agent = fx.path().join("agent.sock");
    let messages = fake_mkdir_agent(&agent);
    let mut config =
        fx.config("mkdir /tmp/x && echo faked; ls -d /tmp/x 2>/dev/null || echo absent");
    config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "listenerPath": agent,
        "listenerMetadata": "meta",
        "syscalls": [{"names": ["mkdir", "mkdirat", "connect", "sendmsg"],
                      "action": "SCMP_ACT_NOTIFY"}]
    });
    for nnp in [true, false] {
        config["process"]["noNewPrivileges"] = json!(nnp);
        let out = same_as_runc(&fx, &config);
        assert_eq!(
            text(&out.stdout),
            "faked\nabsent\n",
            "{}",
            text(&out.stderr)
        );
    }
    let mut received: Vec<Value> = messages.try_iter().collect();
    assert_eq!(received.len(), 4, "{received:?}");
    for m in &received {
        assert_eq!(m["fds"], json!(["seccompFd"]), "{m}");
        assert_eq!(m["metadata"], "meta", "{m}");
        assert!(m["pid"].as_i64().unwrap_or(0) > 0, "{m}");
        assert!(m["state"]["id"].is_string(), "{m}");
    }
    config["process"]["args"] = json!(["sleep", "100"]);
    config["process"]["noNewPrivileges"] = json!(true);
    let out = execs_like_runc(
        &fx,
        &config,
        &[strings(&[
            "--",
            "sh",
            "-c",
            "mkdir /tmp/e && echo faked; ls -d /tmp/e 2>/dev/null || echo absent",
        ])],
    );
    assert_eq!(out[0].0, "faked\nabsent\n");
    received = messages.try_iter().collect();
    assert!(received.len() >= 2, "{received:?}");
}

/// What a terminal showed, and the exit status.
type Seen = (String, Option<i32>);

/// Runs `runtime --root <state> args` with a new pty (24 rows, 80 columns) as its stdio and
/// controlling terminal, as from an interactive shell; returns what it wrote there (line
/// ends normalised) and its exit status.
fn on_a_terminal(under: &Under<'_>, args: &[&str]) -> Seen {
    use std::io::Read;
    use std::os::fd::{AsRawFd, FromRawFd};
    use std::os::unix::process::CommandExt;
    // SAFETY: posix_openpt/grantpt/unlockpt/ptsname_r on a fresh master; checked below.
    let master = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    assert!(master >= 0);
    // SAFETY: master is a fresh descriptor we own.
    let master = unsafe { fs::File::from_raw_fd(master) };
    let mut name = [0u8; 64];
    // SAFETY: as above, with a valid buffer.
    unsafe {
        assert_eq!(libc::grantpt(master.as_raw_fd()), 0);
        assert_eq!(libc::unlockpt(master.as_raw_fd()), 0);
        assert_eq!(
            libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr().cast(), name.len()),
            0
        );
    }
    let end = name.iter().position(|&b| b == 0).unwrap();
    let slave_path = String::from_utf8_lossy(&name[..end]).into_owned();
    let slave = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&slave_path)
        .unwrap();
    let ws = libc::winsize {
        ws_row: 24,
        ws_col: 80,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a valid winsize.
    unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    let mut cmd = under.cmd(args);
    cmd.stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave.try_clone().unwrap());
    // SAFETY: setsid and TIOCSCTTY between fork and exec, no allocation.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    // The command holds copies of the terminal: the master reads EIO only once all are gone.
    drop(cmd);
    drop(slave);
    let mut reader = master.try_clone().unwrap();
    let collector = std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        out
    });
    let status = child.wait().unwrap();
    drop(master);
    let out = collector.join().unwrap();
    (text(&out).replace("\r\n", "\n"), status.code())
}

/// Issue 18.3: `run` and `exec -t` with `process.terminal` and no console socket: the
/// runtime relays its own terminal; the process sees a pty owned by its user as its
/// controlling terminal, with the caller's size or `consoleSize`, and its exit status is
/// the command's.
#[test]
fn terminal_without_console_socket_like_runc() {
    let Some(fx) = fixture("rp-tty") else {
        return;
    };
    for applet in ["tty", "stty"] {
        let _ = std::os::unix::fs::symlink("busybox", fx.rootfs().join("bin").join(applet));
    }
    let script = "tty; stty size; stat -c '%u %g' $(tty); read -t 1 x; echo in=$x; exit 3";
    let mut config = fx.config(script);
    config["process"]["terminal"] = json!(true);
    config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    config["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/dev/pts", "type": "devpts", "source": "devpts",
        "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]}));
    let mut outs = Vec::new();
    for runtime in [bin(), RUNC.to_owned()] {
        let mut c = config.clone();
        let under = Under::new(&fx, &runtime, &c);
        let id = under.id("tty");
        let run = on_a_terminal(&under, &["run", &id]);
        c["process"]["args"] = json!(["sleep", "100"]);
        c["process"]["terminal"] = json!(false);
        under.write(&c);
        let started = under.rt(&["run", "-d", &id]);
        assert!(
            started.status.success(),
            "{runtime}: {}",
            text(&started.stderr)
        );
        let process = fx.path().join("tty-process.json");
        fs::write(
            &process,
            serde_json::to_vec(&json!({
            "terminal": true, "consoleSize": {"height": 30, "width": 100},
            "user": {"uid": 1000, "gid": 1000}, "cwd": "/", "env": ["PATH=/bin"],
            "args": ["/bin/sh", "-c", script]}))
            .unwrap(),
        )
        .unwrap();
        let exec = on_a_terminal(&under, &["exec", "-p", &process.to_string_lossy(), &id]);
        let _ = under.rt(&["delete", "--force", &id]);
        outs.push((run, exec));
    }
    // runc 1.1 sizes the pty only after starting the program (first with consoleSize for
    // exec, then with the caller's size): what `stty size` sees races with that, and so does
    // its terminal mode. Compared without the size line; ours is checked below.
    fn without_size(seen: &Seen) -> (Vec<String>, Option<i32>) {
        let lines = seen.0.replace('\r', "");
        let kept = lines.lines().enumerate().filter(|(i, _)| *i != 1);
        (kept.map(|(_, l)| l.to_owned()).collect(), seen.1)
    }
    let unsized_both = |o: &(Seen, Seen)| (without_size(&o.0), without_size(&o.1));
    assert_eq!(
        unsized_both(&outs[0]),
        unsized_both(&outs[1]),
        "iso-runtime (left) vs runc (right)"
    );
    assert!(outs[0].1 .0.contains("\n24 80\n"), "{}", outs[0].1 .0);
    let ((run, code), _) = &outs[0];
    assert_eq!(*code, Some(3));
    assert!(run.contains("/dev/pts/0\n24 80\n1000 0\n"), "{run}");
    // A caller whose stdin is not a terminal (runc 1.1 then fails opening /dev/tty):
    // consoleSize applies.
    config["process"]["consoleSize"] = json!({"height": 30, "width": 100});
    let out = run_under(&fx, &bin(), &config, &["run"]);
    let seen = text(&out.stdout).replace("\r\n", "\n");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(seen.starts_with("/dev/pts/0\n30 100\n1000 0\n"), "{seen}");
}
