//! Conformance with runc, part 2 (issue 19): devices, mounts and namespaces. Each test runs
//! the same bundle through iso-runtime and runc (crun where runc 1.1 lacks the feature) and
//! compares what the container sees and its exit status; every iso-runtime run, failed or
//! not, must leave nothing behind (no mount, cgroup, state directory or process).
//!
//! Tests named `vm_` need a pure cgroup v2 host: they run in the VM tier.

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use iso_testutil::bundle::{run_to_files, text, Fixture};
use serde_json::{json, Value};

/// The runtime under test (as in conformance.rs).
fn bin() -> String {
    std::env::var("ISO_RUNTIME_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_iso-runtime").to_owned())
}

/// A runtime to compare with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Other {
    Runc,
    Crun,
}

impl Other {
    fn name(self) -> &'static str {
        match self {
            Other::Runc => "runc",
            Other::Crun => "crun",
        }
    }

    fn installed(self) -> bool {
        match self {
            Other::Runc => Path::new("/usr/sbin/runc").exists(),
            Other::Crun => Path::new("/usr/bin/crun").exists(),
        }
    }

    /// The command line before the global flags (crun through its hybrid-host wrapper).
    fn argv(self, fx: &Fixture) -> Vec<String> {
        match self {
            Other::Runc => vec!["/usr/sbin/runc".into()],
            Other::Crun => iso_testutil::bundle::crun_argv(fx.path()),
        }
    }
}

/// Runs `config` (written into `bundle`) under `other` with `args` (`run` and its flags
/// before the id), in a cgroup of its own, and removes that container and cgroup after.
fn run_other(fx: &Fixture, other: Other, bundle: &Path, config: &Value, args: &[&str]) -> Output {
    let mut config = config.clone();
    let cgroup = format!("{}-{}", fx.cgroup(), other.name());
    if config["linux"]["cgroupsPath"].is_string() {
        config["linux"]["cgroupsPath"] = json!(cgroup);
    }
    write_config(bundle, &config);
    let argv = other.argv(fx);
    let state = fx.path().join(format!("{}-state", other.name()));
    let id = format!("{}-{}", other.name(), std::process::id());
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .arg("--root")
        .arg(&state)
        .args(args)
        .arg("--bundle")
        .arg(bundle)
        .arg(&id)
        .current_dir(bundle)
        .stdin(Stdio::null());
    let out = run_to_files(cmd, fx.path());
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .arg("--root")
        .arg(&state)
        .args(["delete", "--force", &id])
        .stdin(Stdio::null());
    let _ = run_to_files(cmd, fx.path());
    for h in iso_testutil::bundle::cgroup_hierarchies() {
        let _ = fs::remove_dir(h.join(cgroup.trim_start_matches('/')));
    }
    write_config(bundle, &config);
    out
}

fn write_config(bundle: &Path, config: &Value) {
    fs::write(
        bundle.join("config.json"),
        serde_json::to_vec_pretty(config).unwrap(),
    )
    .unwrap();
}

/// Runs `config` under iso-runtime (`args` before the id, with `--bundle bundle`) and,
/// unless it was detached, checks that it left nothing behind.
fn run_ours(fx: &mut Fixture, name: &str, bundle: &Path, config: &Value, args: &[&str]) -> Output {
    write_config(bundle, config);
    let id = fx.id(name);
    // What other containers of the test hold (the owner of joined namespaces, say).
    let before = fx.leftovers(&id);
    let bundle = bundle.to_str().unwrap();
    let mut argv: Vec<&str> = args.to_vec();
    argv.extend(["--bundle", bundle, &id]);
    let out = fx.rt(&argv);
    let detached = argv.contains(&"-d") || argv.contains(&"--detach");
    if argv[0] == "run" && !detached || argv[0] == "create" && !out.status.success() {
        no_leftovers(fx, &id, &before);
    }
    out
}

/// Nothing of the container `id` is left on the host (besides `before`, what was there).
fn no_leftovers(fx: &Fixture, id: &str, before: &[String]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let left: Vec<String> = fx
            .leftovers(id)
            .into_iter()
            .filter(|l| !before.contains(l))
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{id} left: {left:#?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `config` with `run` (and `flags`) under iso-runtime and `other`, and asserts both
/// print the same and exit the same way. Returns iso-runtime's output.
fn same_as(fx: &mut Fixture, other: Other, name: &str, config: &Value, flags: &[&str]) -> String {
    let bundle = fx.bundle();
    same_as_in(fx, other, name, &bundle, config, flags, &|| {})
}

/// [`same_as`] with the bundle directory `bundle`, calling `reset` before each run (to
/// remove what a run created in the rootfs, so that both start from the same image).
fn same_as_in(
    fx: &mut Fixture,
    other: Other,
    name: &str,
    bundle: &Path,
    config: &Value,
    flags: &[&str],
    reset: &dyn Fn(),
) -> String {
    let mut args = vec!["run"];
    args.extend(flags);
    reset();
    let ours = run_ours(fx, name, bundle, config, &args);
    reset();
    let ours_out = text(&ours.stdout);
    if !other.installed() {
        eprintln!("{} is not installed: not compared", other.name());
        return ours_out;
    }
    let theirs = run_other(fx, other, bundle, config, &args);
    assert_eq!(
        (ours.status.code(), ours_out.as_str()),
        (theirs.status.code(), text(&theirs.stdout).as_str()),
        "{name}: iso-runtime (left, stderr {:?}) vs {} (right, stderr {:?})",
        text(&ours.stderr),
        other.name(),
        text(&theirs.stderr),
    );
    ours_out
}

/// `create` of `config` fails under iso-runtime (naming `needle`) and under runc, and
/// iso-runtime leaves nothing.
fn both_fail(fx: &mut Fixture, name: &str, config: &Value, needle: &str) {
    ours_fails(fx, name, config, needle);
    let bundle = fx.bundle();
    if Other::Runc.installed() {
        let theirs = run_other(fx, Other::Runc, &bundle, config, &["run"]);
        assert!(!theirs.status.success(), "{name}: runc succeeded");
    }
}

/// `create` of `config` fails under iso-runtime, naming `needle`, and leaves nothing.
fn ours_fails(fx: &mut Fixture, name: &str, config: &Value, needle: &str) {
    let bundle = fx.bundle();
    let out = run_ours(fx, name, &bundle, config, &["create"]);
    assert!(!out.status.success(), "{name}: iso-runtime succeeded");
    assert!(
        text(&out.stderr).contains(needle),
        "{name}: {}",
        text(&out.stderr)
    );
}

/// The fixture's config with `/dev/pts` and `/dev/shm`, as `runc spec` writes it.
fn config(fx: &Fixture, script: &str) -> Value {
    let mut c = fx.config(script);
    let mounts = c["mounts"].as_array_mut().unwrap();
    mounts.insert(
        2,
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]}),
    );
    c
}

fn add_namespace(config: &mut Value, ns: Value) {
    config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(ns);
}

/// Adds a new user namespace mapping 0-65535 to 100000-165535.
fn with_userns(config: &mut Value) {
    add_namespace(config, json!({"type": "user"}));
    config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
}

/// Hands the rootfs to the user namespace's root (100000), as engines do for a userns
/// container; returns a guard-free path list for the caller's cleanup.
fn chown_rootfs(fx: &Fixture) {
    let status = Command::new("chown")
        .args(["-R", "100000:100000"])
        .arg(fx.rootfs())
        .status()
        .unwrap();
    assert!(status.success());
}

// ---- 1. Devices

/// New nodes the host does not have are made with mknod (kind, numbers, mode, owner) and
/// allowed in the device cgroup after a "deny all" list, as runc does.
#[test]
fn devices_are_made_with_mknod_and_repeats_of_defaults_are_fine() {
    let Some(mut fx) = Fixture::new(bin(), "r2-dev") else {
        return;
    };
    let script = "stat -c '%n %a %u %g %t %T %F' /dev/test1 /dev/blk0 /dev/fifo0; \
                  cat /dev/test1 2>&1 | head -c 100; echo x > /dev/null && echo null-ok";
    let mut c = config(&fx, script);
    c["linux"]["resources"]["devices"] = json!([{"allow": false, "access": "rwm"}]);
    c["linux"]["devices"] = json!([
        {"path": "/dev/test1", "type": "c", "major": 10, "minor": 200, "fileMode": 0o640,
         "uid": 1000, "gid": 1001},
        {"path": "/dev/blk0", "type": "b", "major": 7, "minor": 99, "fileMode": 0o600},
        {"path": "/dev/fifo0", "type": "p", "major": 0, "minor": 0, "fileMode": 0o644}
    ]);
    let out = same_as(&mut fx, Other::Runc, "dev", &c, &[]);
    assert!(
        out.contains("/dev/test1 640 1000 1001 a c8 character special file"),
        "{out}"
    );
    // Entries repeating a default device: runc 1.1 denies such a node in the device cgroup
    // (it turns the entry into a deny rule), crun keeps them working; /dev/ptmx stays the
    // devpts symlink.
    let script = "stat -c '%n %a %t %T %F' /dev/null /dev/tty; readlink /dev/ptmx; \
                  echo x > /dev/null && echo null-ok";
    let mut c = config(&fx, script);
    c["linux"]["devices"] = json!([
        {"path": "/dev/null", "type": "c", "major": 1, "minor": 3},
        {"path": "/dev/tty", "type": "c", "major": 5, "minor": 0, "fileMode": 0o666},
        {"path": "/dev/ptmx", "type": "c", "major": 5, "minor": 2}
    ]);
    let out = same_as(&mut fx, Other::Crun, "dev-repeat", &c, &[]);
    assert!(out.contains("pts/ptmx\nnull-ok"), "{out}");
}

#[test]
fn devices_in_a_user_namespace_are_bound_from_the_host() {
    let Some(mut fx) = Fixture::new(bin(), "r2-devu") else {
        return;
    };
    chown_rootfs(&fx);
    // A character device of the host that is not among the defaults.
    let Some((host, rdev)) = ["/dev/loop-control", "/dev/kmsg", "/dev/fuse"]
        .into_iter()
        .find_map(|p| {
            use std::os::unix::fs::MetadataExt;
            fs::metadata(p).ok().map(|m| (p, m.rdev()))
        })
    else {
        eprintln!("skipped: no spare character device on this host");
        return;
    };
    let script =
        format!("stat -c '%n %t %T %F' {host} /dev/null; echo x > /dev/null && echo null-ok");
    let mut c = config(&fx, &script);
    with_userns(&mut c);
    c["linux"]["devices"] = json!([
        {"path": host, "type": "c", "major": libc::major(rdev), "minor": libc::minor(rdev)}
    ]);
    let out = same_as(&mut fx, Other::Runc, "devu", &c, &[]);
    assert!(out.contains("null-ok"), "{out}");
    // A node the host does not have cannot be bound: both fail, nothing is left.
    c["linux"]["devices"] = json!([
        {"path": "/dev/no-such-node", "type": "c", "major": 1, "minor": 3}
    ]);
    both_fail(&mut fx, "devu-missing", &c, "/dev/no-such-node");
}

// ---- 9. Root path and personality

/// `root.path` of `.` (the bundle is the root filesystem) and of `rootfs/`, as runc reads
/// them; `linux.personality` LINUX32 as crun applies it (runc 1.1 ignores the field), LINUX
/// as both.
#[test]
fn root_path_dot_or_trailing_slash_and_personality() {
    let Some(mut fx) = Fixture::new(bin(), "r2-root") else {
        return;
    };
    let mut c = config(&fx, "ls /config.json; uname -m");
    c["root"]["path"] = json!(".");
    let rootfs = fx.rootfs();
    let out = same_as_in(&mut fx, Other::Runc, "dot", &rootfs, &c, &[], &|| {});
    assert_eq!(out, "/config.json\nx86_64\n");
    fs::remove_file(rootfs.join("config.json")).unwrap();
    let mut c = config(&fx, "uname -m");
    c["root"]["path"] = json!("rootfs/");
    c["linux"]["personality"] = json!({"domain": "LINUX"});
    let out = same_as(&mut fx, Other::Runc, "slash", &c, &[]);
    assert_eq!(out, "x86_64\n");
    c["linux"]["personality"] = json!({"domain": "LINUX32"});
    let out = same_as(&mut fx, Other::Crun, "linux32", &c, &[]);
    assert_eq!(out, "i686\n");
    // A root that is not there: both fail, nothing is left.
    c["root"]["path"] = json!("no-such-rootfs/");
    both_fail(&mut fx, "noroot", &c, "no-such-rootfs");
}

// ---- 2. Joined namespaces

/// Runs `config` detached under iso-runtime as the owner of namespaces; returns its id and
/// pid.
fn pause(fx: &mut Fixture, name: &str, config: &Value) -> (String, i64) {
    fx.write_config(config);
    let id = fx.id(name);
    let out = fx.rt(&["run", "-d", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pid = fx.state(&id)["pid"].as_i64().unwrap();
    (id, pid)
}

/// A UTS namespace joined by path with `hostname` set: the name is set in it (runc does);
/// the runtime's own UTS namespace is refused (it would rename the host).
#[test]
fn hostname_in_a_joined_uts_namespace() {
    let Some(mut fx) = Fixture::new(bin(), "r2-uts") else {
        return;
    };
    let owner = config(&fx, "sleep 600");
    let (owner, pid) = pause(&mut fx, "owner", &owner);
    let mut c = config(&fx, "hostname");
    c["hostname"] = json!("joined");
    c["linux"]["cgroupsPath"] = json!(format!("{}-b", fx.cgroup()));
    c["linux"]["namespaces"] = json!([
        {"type": "pid"}, {"type": "mount"},
        {"type": "uts", "path": format!("/proc/{pid}/ns/uts")}
    ]);
    let out = same_as(&mut fx, Other::Runc, "member", &c, &[]);
    assert_eq!(out, "joined\n");
    let out = fx.rt(&["exec", &owner, "hostname"]);
    assert_eq!(text(&out.stdout), "joined\n", "{}", text(&out.stderr));
    let host = iso_ns::hostname().unwrap();
    c["linux"]["namespaces"][2]["path"] = json!("/proc/self/ns/uts");
    ours_fails(&mut fx, "hostuts", &c, "rename the host");
    assert_eq!(iso_ns::hostname().unwrap(), host);
}

/// After joining another container's user namespace by path, the new namespaces belong to
/// it: the hostname is set and the mounts are made (runc: join the user namespace first).
#[test]
fn joined_user_namespace_then_hostname_and_mounts() {
    let Some(mut fx) = Fixture::new(bin(), "r2-user") else {
        return;
    };
    chown_rootfs(&fx);
    let mut owner = config(&fx, "sleep 600");
    with_userns(&mut owner);
    let (_, pid) = pause(&mut fx, "owner", &owner);
    let mut c = config(
        &fx,
        "hostname; id -u; cat /proc/self/uid_map; grep -c ' /tmp ' /proc/self/mounts",
    );
    c["hostname"] = json!("member");
    c["linux"]["cgroupsPath"] = json!(format!("{}-b", fx.cgroup()));
    with_userns(&mut c);
    c["linux"]["namespaces"] = json!([
        {"type": "pid"}, {"type": "mount"}, {"type": "uts"}, {"type": "ipc"},
        {"type": "network"}, {"type": "user", "path": format!("/proc/{pid}/ns/user")}
    ]);
    let out = same_as(&mut fx, Other::Runc, "member", &c, &[]);
    assert!(out.starts_with("member\n0\n"), "{out}");
    let user = fs::read_link(format!("/proc/{pid}/ns/user")).unwrap();
    let mut c2 = c.clone();
    c2["process"]["args"] = json!(["/bin/readlink", "/proc/self/ns/user"]);
    let bundle = fx.bundle();
    let out = run_ours(&mut fx, "member2", &bundle, &c2, &["run"]);
    assert_eq!(text(&out.stdout).trim(), user.to_str().unwrap());
    // A user namespace path that is not one: fails, nothing is left.
    c["linux"]["namespaces"][5]["path"] = json!(format!("/proc/{pid}/ns/net"));
    both_fail(&mut fx, "notuser", &c, "ns/net");
}

// ---- 3. Time namespace offsets

/// `linux.timeOffsets` are written before the time namespace's first process: the
/// container's clocks are shifted (/proc/uptime is boottime). runc 1.1 and crun 1.8 have no
/// time namespace support, so the expected values are the spec's.
#[test]
fn time_namespace_offsets_shift_the_clocks() {
    let Some(mut fx) = Fixture::new(bin(), "r2-time") else {
        return;
    };
    let mut c = config(
        &fx,
        "cut -d' ' -f1 /proc/uptime; cat /proc/self/timens_offsets",
    );
    add_namespace(&mut c, json!({"type": "time"}));
    c["linux"]["timeOffsets"] = json!({"monotonic": {"secs": 86400},
                                      "boottime": {"secs": 172800, "nanosecs": 5}});
    let host: f64 = fs::read_to_string("/proc/uptime")
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let bundle = fx.bundle();
    let out = run_ours(&mut fx, "time", &bundle, &c, &["run"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let mut lines = stdout.lines();
    let uptime: f64 = lines.next().unwrap().parse().unwrap();
    assert!(
        uptime >= host + 172800.0 && uptime < host + 172800.0 + 600.0,
        "{stdout}"
    );
    let offsets: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(
        offsets,
        [["monotonic", "86400", "0"], ["boottime", "172800", "5"]]
    );
    // Offsets without a time namespace: refused, nothing is left.
    c["linux"]["namespaces"].as_array_mut().unwrap().pop();
    ours_fails(&mut fx, "nons", &c, "linux.timeOffsets");
}

// ---- 4. Mounts

/// Adds `mounts` after the config's own.
fn add_mounts(config: &mut Value, mounts: Value) {
    let list = config["mounts"].as_array_mut().unwrap();
    list.extend(mounts.as_array().unwrap().iter().cloned());
}

/// A tmpfs without `mode` takes the covered directory's mode; `tmpcopyup` copies its
/// content; a read-only tmpfs; a read-only /dev with its nodes and devpts made first.
#[test]
fn tmpfs_mode_copyup_read_only_and_a_read_only_dev() {
    let Some(mut fx) = Fixture::new(bin(), "r2-tmpfs") else {
        return;
    };
    let rootfs = fx.rootfs();
    for (dir, mode) in [
        ("covered", 0o710),
        ("covered/sub", 0o700),
        ("plain", 0o750),
        ("ro", 0o755),
    ] {
        fs::create_dir(rootfs.join(dir)).unwrap();
        fs::set_permissions(
            rootfs.join(dir),
            std::os::unix::fs::PermissionsExt::from_mode(mode),
        )
        .unwrap();
    }
    fs::write(rootfs.join("covered/file"), "hello\n").unwrap();
    std::os::unix::fs::symlink("file", rootfs.join("covered/link")).unwrap();
    std::os::unix::fs::chown(rootfs.join("covered/file"), Some(1000), Some(1001)).unwrap();
    let script = "stat -c '%n %a %u %g' /covered /covered/file /covered/sub /plain /ro; \
                  cat /covered/link; touch /covered/new; touch /ro/x 2>/dev/null || echo ro-ro; \
                  touch /dev/x 2>/dev/null || echo dev-ro; ls /dev/pts; \
                  echo x > /dev/null && echo null-ok";
    let mut c = config(&fx, script);
    c["mounts"][1]["options"]
        .as_array_mut()
        .unwrap()
        .push(json!("ro"));
    add_mounts(
        &mut c,
        json!([
            {"destination": "/covered", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]},
            {"destination": "/plain", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/ro", "type": "tmpfs", "source": "tmpfs", "options": ["ro"]}
        ]),
    );
    let out = same_as(&mut fx, Other::Runc, "tmpfs", &c, &[]);
    for want in [
        "/covered 710 0 0",
        "/covered/file 644 1000 1001",
        "/plain 750",
        "hello",
        "ro-ro",
        "dev-ro",
        "ptmx",
        "null-ok",
    ] {
        assert!(out.contains(want), "{want:?} in {out}");
    }
    // The copy went to the tmpfs, not to the image.
    assert!(!rootfs.join("covered/new").exists());
    // A bind whose source is missing: both fail, nothing is left.
    add_mounts(
        &mut c,
        json!([{"destination": "/x", "type": "bind",
                               "source": "/no-such-source", "options": ["rbind"]}]),
    );
    both_fail(&mut fx, "nosource", &c, "/no-such-source");
}

/// Destinations through a dangling or an absolute symlink are resolved inside the root and
/// created; a bind source inside an earlier mount of the same container sees that mount; a
/// setgid root directory and destinations that need mkdir -p.
#[test]
fn destinations_through_symlinks_sources_in_earlier_mounts_and_setgid_root() {
    let Some(mut fx) = Fixture::new(bin(), "r2-dest") else {
        return;
    };
    let rootfs = fx.rootfs();
    std::os::unix::fs::symlink("/nonexistent/deep", rootfs.join("dangling")).unwrap();
    std::os::unix::fs::symlink("/etc", rootfs.join("abslink")).unwrap();
    fs::set_permissions(
        &rootfs,
        std::os::unix::fs::PermissionsExt::from_mode(0o2755),
    )
    .unwrap();
    let host = fx.path().join("hostdata");
    fs::create_dir(&host).unwrap();
    fs::write(host.join("f"), "from-host\n").unwrap();
    let script = "grep -oE ' /(nonexistent/deep|etc/inner|a/b/c|data|data2) ' \
                  /proc/self/mountinfo | sort; cat /data2/f; stat -c '%n %a' /a /a/b /a/b/c";
    let mut c = config(&fx, script);
    add_mounts(
        &mut c,
        json!([
            {"destination": "/dangling", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/abslink/inner", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/a/b/c", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/data", "type": "bind", "source": host, "options": ["rbind"]},
            {"destination": "/data2", "type": "bind", "source": rootfs.join("data"),
             "options": ["rbind"]}
        ]),
    );
    let reset = || {
        for d in ["nonexistent", "etc/inner", "a", "data", "data2"] {
            let _ = fs::remove_dir_all(rootfs.join(d));
        }
    };
    let bundle = fx.bundle();
    let out = same_as_in(&mut fx, Other::Runc, "dest", &bundle, &c, &[], &reset);
    for want in [
        " /nonexistent/deep ",
        " /etc/inner ",
        " /data2 ",
        "from-host",
        "/a 2755",
        "/a/b/c 1777",
    ] {
        assert!(out.contains(want), "{want:?} in {out}");
    }
    reset();
}

/// `/sys/fs/cgroup` read-only, with and without a cgroup namespace (the container's own
/// cgroup is what it sees either way; its files are read-only).
#[test]
fn read_only_cgroup_mount_with_and_without_a_cgroup_namespace() {
    let Some(mut fx) = Fixture::new(bin(), "r2-cg") else {
        return;
    };
    let v2 = iso_testutil::VmFeature::CgroupV2.present();
    let pids = if v2 {
        "/sys/fs/cgroup"
    } else {
        "/sys/fs/cgroup/pids"
    };
    for cgroupns in [false, true] {
        // Without a cgroup namespace runc shows the whole v2 hierarchy (the limit is not at
        // its root) and the cgroup paths differ by name: compared is what the spec defines.
        let limit = if cgroupns || !v2 {
            format!("cat {pids}/pids.max; ")
        } else {
            String::new()
        };
        let own = if cgroupns {
            "grep -E '^(0::|[0-9]+:pids:)' /proc/self/cgroup; "
        } else {
            ""
        };
        let script = format!(
            "{limit}{own}touch {pids}/x 2>/dev/null || echo cg-ro; \
             grep -c ' /sys/fs/cgroup' /proc/self/mountinfo >/dev/null && echo mounted"
        );
        let mut c = config(&fx, &script);
        add_mounts(
            &mut c,
            json!([
                {"destination": "/sys", "type": "sysfs", "source": "sysfs",
                 "options": ["nosuid", "noexec", "nodev", "ro"]},
                {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                 "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
            ]),
        );
        if cgroupns {
            add_namespace(&mut c, json!({"type": "cgroup"}));
        }
        let out = same_as(&mut fx, Other::Runc, &format!("cg-{cgroupns}"), &c, &[]);
        assert!(out.contains("cg-ro\nmounted"), "{out}");
    }
}

// ---- 6. Read-only root in a user namespace

/// The rootfs bound onto itself on the host (as an image mount is), unmounted on drop.
struct HostMount(std::path::PathBuf);

impl HostMount {
    fn bind(path: &Path) -> HostMount {
        let status = Command::new("mount")
            .args(["--bind"])
            .arg(path)
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
        HostMount(path.to_path_buf())
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A read-only root in a user namespace, when the rootfs is a mount point of the host
/// (locked in the user namespace: pivot_root and MS_MOVE refuse it) with and without
/// `--no-pivot`; a failing rootfs setup leaves nothing on the host.
#[test]
fn read_only_root_in_a_user_namespace_and_failures_leave_nothing() {
    let Some(mut fx) = Fixture::new(bin(), "r2-rouser") else {
        return;
    };
    chown_rootfs(&fx);
    let _mounted = HostMount::bind(&fx.rootfs());
    let mut c = config(
        &fx,
        "touch /x 2>/dev/null || echo root-ro; id -u; ls /dev/pts",
    );
    with_userns(&mut c);
    c["root"]["readonly"] = json!(true);
    for flags in [&[][..], &["--no-pivot"][..]] {
        let out = same_as(
            &mut fx,
            Other::Runc,
            &format!("ro{}", flags.len()),
            &c,
            flags,
        );
        assert_eq!(out, "root-ro\n0\nptmx\n");
    }
    // Failures during the rootfs setup (a mount) and after the root is entered (the
    // program): nothing is left either way.
    let mut bad_mount = c.clone();
    add_mounts(
        &mut bad_mount,
        json!([{"destination": "/x", "type": "no-such-fs",
                                       "source": "none"}]),
    );
    both_fail(&mut fx, "badmount", &bad_mount, "/x");
    let mut bad_cwd = c.clone();
    bad_cwd["process"]["cwd"] = json!("/no/such/dir");
    bad_cwd["process"]["args"] = json!(["/no/such/program"]);
    both_fail(&mut fx, "badprog", &bad_cwd, "/no/such/program");
}

// ---- 7. --no-pivot

/// With `--no-pivot` (MS_MOVE + chroot) the masked and read-only paths apply as with
/// pivot_root, and what a root of the container's user namespace can mount (a fresh
/// procfs or sysfs, which the kernel allows only where one is fully visible) is the same as
/// under runc.
#[test]
fn no_pivot_applies_masked_and_read_only_paths() {
    let Some(mut fx) = Fixture::new(bin(), "r2-nopivot") else {
        return;
    };
    chown_rootfs(&fx);
    fs::create_dir(fx.rootfs().join("mnt")).unwrap();
    let script = "wc -c < /proc/keys; wc -c < /proc/timer_list; \
                  echo 1 > /proc/sys/kernel/domainname 2>/dev/null || echo sys-ro; \
                  echo x > /proc/sysrq-trigger 2>/dev/null || echo sysrq-ro; \
                  grep -c . /proc/self/mountinfo; \
                  mount -t proc proc /mnt 2>/dev/null && echo fresh-proc && umount /mnt; \
                  mount -t sysfs sysfs /mnt 2>/dev/null && echo fresh-sys; true";
    let mut c = config(&fx, script);
    with_userns(&mut c);
    let caps = json!(["CAP_SYS_ADMIN"]);
    c["process"]["capabilities"] = json!({"bounding": caps, "effective": caps,
                                          "permitted": caps});
    c["linux"]["maskedPaths"] = json!(["/proc/keys", "/proc/timer_list", "/proc/kcore"]);
    c["linux"]["readonlyPaths"] = json!(["/proc/sys", "/proc/sysrq-trigger"]);
    for flags in [&["--no-pivot"][..], &[][..]] {
        let out = same_as(
            &mut fx,
            Other::Runc,
            &format!("np{}", flags.len()),
            &c,
            flags,
        );
        assert!(out.starts_with("0\n0\nsys-ro\nsysrq-ro\n"), "{out}");
    }
}

// ---- 8. Host PID namespace

/// A container without a PID namespace of its own, with the host's /proc bound at /proc:
/// it sees the host's processes (as under runc); `kill --all` and `delete --force` reach
/// every process of its cgroup (without a PID namespace, the init's death ends nothing).
#[test]
fn host_pid_namespace_with_the_hosts_proc() {
    let Some(mut fx) = Fixture::new(bin(), "r2-hostpid") else {
        return;
    };
    let view = "test -d /proc/1 && echo host-proc; test $$ -ne 1 && echo not-pid1; \
                grep -c ' /proc ' /proc/self/mountinfo";
    let mut c = config(&fx, view);
    c["mounts"][0] = json!({"destination": "/proc", "type": "bind", "source": "/proc",
                            "options": ["rbind"]});
    c["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "uts"}, {"type": "ipc"},
                                      {"type": "network"}]);
    c["linux"]["maskedPaths"] = json!([]);
    c["linux"]["readonlyPaths"] = json!([]);
    let out = same_as(&mut fx, Other::Runc, "view", &c, &[]);
    assert!(out.starts_with("host-proc\nnot-pid1\n"), "{out}");
    c["process"]["args"] = json!(["/bin/sh", "-c", "sleep 600 & sleep 601 & wait"]);
    let bundle = fx.bundle();
    let out = run_ours(&mut fx, "all", &bundle, &c, &["run", "-d"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let id = fx.id("all");
    // Any hierarchy holds every process (v1, hybrid or v2).
    let procs = || {
        fx.cgroup_dirs()
            .iter()
            .find_map(|d| fs::read_to_string(d.join("cgroup.procs")).ok())
            .map_or(0, |s| s.lines().count())
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while procs() < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(procs(), 3);
    let out = fx.rt(&["kill", "--all", &id, "KILL"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(fx.wait_status(&id, "stopped")["status"], "stopped");
    assert!(fx.rt(&["delete", &id]).status.success());
    no_leftovers(&fx, &id, &[]);
    let out = run_ours(&mut fx, "force", &bundle, &c, &["run", "-d"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let id = fx.id("force");
    let out = fx.rt(&["delete", "--force", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    no_leftovers(&fx, &id, &[]);
    // Not a procfs: refused when it is mounted, nothing is left.
    c["mounts"][0]["source"] = json!("/tmp");
    ours_fails(&mut fx, "notproc", &c, "/proc");
}

// ---- 5. Bind sources the user namespace cannot reach

/// A bind source below a 0700 directory of the host's root is unreachable by the root of
/// the container's user namespace: the runtime clones it before the init enters the
/// namespace (as runc does), and it is mounted with its options.
#[test]
fn bind_sources_unreachable_from_the_user_namespace() {
    let Some(mut fx) = Fixture::new(bin(), "r2-bindu") else {
        return;
    };
    chown_rootfs(&fx);
    let secret = fx.path().join("secret");
    fs::create_dir_all(secret.join("inner")).unwrap();
    fs::write(secret.join("inner/f"), "s3cret\n").unwrap();
    fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    // As runc does, every bind source of a user-namespace container is opened by the
    // runtime, in the host's namespaces: one inside the rootfs is the image's directory, not
    // an earlier mount of the container (which only a container without one sees).
    fs::create_dir(fx.rootfs().join("early")).unwrap();
    let script = "cat /data/f /file; touch /data/x 2>/dev/null || echo data-ro; \
                  touch /early/m; ls /again";
    let mut c = config(&fx, script);
    with_userns(&mut c);
    add_mounts(
        &mut c,
        json!([
            {"destination": "/data", "type": "bind", "source": secret.join("inner"),
             "options": ["rbind", "ro"]},
            {"destination": "/file", "type": "bind", "source": secret.join("inner/f"),
             "options": ["bind"]},
            {"destination": "/early", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/again", "type": "bind", "source": "rootfs/early",
             "options": ["bind"]}
        ]),
    );
    let rootfs = fx.rootfs();
    let reset = || {
        let _ = fs::remove_dir(rootfs.join("again"));
    };
    let bundle = fx.bundle();
    let out = same_as_in(&mut fx, Other::Runc, "bindu", &bundle, &c, &[], &reset);
    assert_eq!(out, "s3cret\ns3cret\ndata-ro\n");
    assert!(!secret.join("inner/x").exists());
    // A source that is not there: both fail, nothing is left.
    add_mounts(
        &mut c,
        json!([{"destination": "/y", "type": "bind",
                               "source": secret.join("missing"), "options": ["bind"]}]),
    );
    both_fail(&mut fx, "missing", &c, "missing");
}

// ---- 10. Idmapped mounts (runtime-spec 1.2 `uidMappings`/`gidMappings`, `idmap`/`ridmap`)

/// A directory on ext4 for idmapped binds: under the fixture when that is ext4 (this host),
/// else on a 32 MiB ext4 image on a loop device (the VM tier's /tmp is a tmpfs, which Linux
/// idmaps only from 6.3). The image is unmounted on drop.
struct Ext4Dir {
    path: std::path::PathBuf,
    mounted: bool,
}

impl Ext4Dir {
    fn new(fx: &Fixture) -> Ext4Dir {
        const EXT4_SUPER_MAGIC: i64 = 0xEF53;
        let c = std::ffi::CString::new(fx.path().as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: statfs is plain data; c is NUL-terminated; st a valid out-pointer.
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::statfs(c.as_ptr(), &mut st) }, 0);
        let path = fx.path().join("ext4");
        fs::create_dir_all(&path).unwrap();
        if st.f_type as i64 == EXT4_SUPER_MAGIC {
            return Ext4Dir {
                path,
                mounted: false,
            };
        }
        let image = fx.path().join("ext4.img");
        let sh = |script: &str| {
            let out = Command::new("sh").args(["-c", script]).output().unwrap();
            assert!(out.status.success(), "{script}: {}", text(&out.stderr));
        };
        sh(&format!(
            "modprobe loop 2>/dev/null; truncate -s 32M {img} && mkfs.ext4 -q {img} && \
             mount -o loop {img} {dir}",
            img = image.display(),
            dir = path.display()
        ));
        Ext4Dir {
            path,
            mounted: true,
        }
    }
}

impl Drop for Ext4Dir {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg(&self.path).status();
        }
    }
}

/// A directory `vol` on ext4 with `by-root` (0:0) and `by-1000` (1000:1000), writable by
/// all; returns its holder and a reset that removes what a run created in it.
fn idmap_volume(fx: &Fixture) -> (Ext4Dir, std::path::PathBuf, impl Fn()) {
    let ext4 = Ext4Dir::new(fx);
    let vol = ext4.path.join("vol");
    fs::create_dir_all(&vol).unwrap();
    fs::write(vol.join("by-root"), "0").unwrap();
    fs::write(vol.join("by-1000"), "1000").unwrap();
    std::os::unix::fs::chown(vol.join("by-1000"), Some(1000), Some(1000)).unwrap();
    fs::set_permissions(&vol, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let made = vol.join("made");
    (ext4, vol, move || {
        let _ = fs::remove_file(&made);
    })
}

fn owner(path: &Path) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(path).unwrap();
    (m.uid(), m.gid())
}

/// Kubernetes' `hostUsers: false`: a container in a user namespace (0 -> 100000) with a
/// volume idmapped by the same maps sees the host's root-owned files as its root's, and
/// what its root creates is stored as the host's root, not as 100000. Same as crun.
#[test]
fn an_idmapped_bind_in_a_user_namespace_shows_host_owners_as_the_containers() {
    let Some(mut fx) = Fixture::new(bin(), "r2-idmap-userns") else {
        return;
    };
    chown_rootfs(&fx);
    let (_ext4, vol, reset) = idmap_volume(&fx);
    let script = "stat -c '%n %u %g' /vol/by-root /vol/by-1000; touch /vol/made && echo made";
    let mut c = config(&fx, script);
    with_userns(&mut c);
    let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    c["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/vol", "type": "bind", "source": vol, "options": ["bind", "idmap"],
        "uidMappings": map, "gidMappings": map
    }));
    let bundle = fx.bundle();
    let out = same_as_in(
        &mut fx,
        Other::Crun,
        "idmap-userns",
        &bundle,
        &c,
        &[],
        &|| reset(),
    );
    assert_eq!(out, "/vol/by-root 0 0\n/vol/by-1000 1000 1000\nmade\n");
    // Our run's file (the last one was crun's, if installed): stored as the host's root.
    let ours = run_ours(&mut fx, "idmap-userns-2", &bundle, &c, &["run"]);
    assert!(ours.status.success(), "{}", text(&ours.stderr));
    assert_eq!(owner(&vol.join("made")), (0, 0));
    // A bare `idmap` takes the container's own maps: the same view.
    let mounts = c["mounts"].as_array_mut().unwrap();
    let last = mounts.last_mut().unwrap().as_object_mut().unwrap();
    last.remove("uidMappings");
    last.remove("gidMappings");
    reset();
    let bare = run_ours(&mut fx, "idmap-bare", &bundle, &c, &["run"]);
    assert_eq!(text(&bare.stdout), out, "{}", text(&bare.stderr));
    assert_eq!(owner(&vol.join("made")), (0, 0));
}

/// Without a user namespace: a mount mapping on-disk uid 1000 to 0 shows the host's
/// 1000-owned file as root's, an unmapped owner as the overflow id, and stores what the
/// container's root creates as 1000. Same as crun.
#[test]
fn an_idmapped_bind_without_a_user_namespace_stores_root_as_the_mapped_id() {
    let Some(mut fx) = Fixture::new(bin(), "r2-idmap-plain") else {
        return;
    };
    let (_ext4, vol, reset) = idmap_volume(&fx);
    // The kernel refuses writes to an inode whose owner the mount does not map: the
    // directory is 1000's, so the container's root owns it.
    std::os::unix::fs::chown(&vol, Some(1000), Some(1000)).unwrap();
    let script = "stat -c '%n %u %g' /vol /vol/by-1000 /vol/by-root; touch /vol/made && echo made";
    let mut c = config(&fx, script);
    let map = json!([{"containerID": 1000, "hostID": 0, "size": 1}]);
    c["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/vol", "type": "bind", "source": vol, "options": ["rbind", "ridmap"],
        "uidMappings": map, "gidMappings": map
    }));
    let bundle = fx.bundle();
    let out = same_as_in(
        &mut fx,
        Other::Crun,
        "idmap-plain",
        &bundle,
        &c,
        &[],
        &|| reset(),
    );
    assert_eq!(
        out,
        "/vol 0 0\n/vol/by-1000 0 0\n/vol/by-root 65534 65534\nmade\n"
    );
    let ours = run_ours(&mut fx, "idmap-plain-2", &bundle, &c, &["run"]);
    assert!(ours.status.success(), "{}", text(&ours.stderr));
    assert_eq!(owner(&vol.join("made")), (1000, 1000));
}

/// The major version and patch level of the running kernel (6.1 in the VM tier's guest).
fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut parts = release
        .trim()
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (a, b) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (a, b) >= (major, minor)
}

/// An idmapped tmpfs (Linux 6.3 and later): made by the runtime, its root shows as the
/// container's root, who writes there. On an older kernel (the VM tier's 6.1) `create`
/// fails naming the mount and the kernel's refusal, and leaves nothing.
#[test]
fn an_idmapped_tmpfs_is_made_by_the_runtime_or_refused_naming_the_mount() {
    let Some(mut fx) = Fixture::new(bin(), "r2-idmap-tmpfs") else {
        return;
    };
    chown_rootfs(&fx);
    let script = "stat -c '%u %g %a' /shared; touch /shared/x && echo written";
    let mut c = config(&fx, script);
    with_userns(&mut c);
    let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    c["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/shared", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "mode=0750", "idmap"], "uidMappings": map, "gidMappings": map
    }));
    if kernel_at_least(6, 3) {
        // crun 1.8 cannot idmap a tmpfs ("open `tmpfs`: Bad file descriptor"): not compared.
        let bundle = fx.bundle();
        let out = run_ours(&mut fx, "idmap-tmpfs", &bundle, &c, &["run"]);
        assert_eq!(
            text(&out.stdout),
            "0 0 750\nwritten\n",
            "{}",
            text(&out.stderr)
        );
    } else {
        ours_fails(&mut fx, "idmap-tmpfs", &c, "MOUNT_ATTR_IDMAP");
        ours_fails(&mut fx, "idmap-tmpfs", &c, "/shared");
    }
}

/// Bad idmapped mounts fail at `create`, naming the field, and leave nothing.
#[test]
fn bad_idmapped_mounts_are_refused_naming_the_field() {
    let Some(mut fx) = Fixture::new(bin(), "r2-idmap-bad") else {
        return;
    };
    let (_ext4, vol, _reset) = idmap_volume(&fx);
    let mut c = config(&fx, "true");
    c["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/vol", "type": "bind", "source": vol, "options": ["bind", "idmap"]
    }));
    // A bare idmap without a user namespace has no maps to take.
    ours_fails(&mut fx, "idmap-no-maps", &c, "mounts.options");
    let mounts = c["mounts"].as_array_mut().unwrap();
    mounts.last_mut().unwrap()["uidMappings"] =
        json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
    ours_fails(&mut fx, "idmap-half", &c, "mounts.gidMappings");
    // A procfs cannot be idmapped: the kernel's refusal names the mount.
    let mut c = config(&fx, "true");
    c["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/proc2", "type": "proc", "source": "proc",
        "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
        "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]
    }));
    ours_fails(&mut fx, "idmap-proc", &c, "/proc2");
}
