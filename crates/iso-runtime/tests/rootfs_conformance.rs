//! Conformance with runc, part 2 (issue 19): devices, mounts and namespaces. Each test runs
//! the same bundle through iso-runtime and runc (crun where runc 1.1 lacks the feature) and
//! compares what the container sees and its exit status; every iso-runtime run, failed or
//! not, must leave nothing behind (no mount, cgroup, state directory or process).
//!
//! Tests named `vm_` need a pure cgroup v2 host: they run in the VM tier.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
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

    /// The command line before the global flags. crun 1.8 refuses hybrid hosts whose
    /// cgroup2 mount owns a controller: it runs in a private mount namespace where that file
    /// reads empty (the host is untouched).
    fn argv(self, fx: &Fixture) -> Vec<String> {
        match self {
            Other::Runc => vec!["/usr/sbin/runc".into()],
            Other::Crun => {
                let empty = fx.path().join("empty");
                fs::write(&empty, "").unwrap();
                let wrapper = format!(
                    "mount --bind -o ro {} /sys/fs/cgroup/unified/cgroup.controllers \
                     2>/dev/null; exec /usr/bin/crun \"$@\"",
                    empty.display()
                );
                [
                    "/usr/bin/unshare",
                    "-m",
                    "--propagation",
                    "private",
                    "/bin/sh",
                    "-c",
                    &wrapper,
                    "crun",
                ]
                .map(String::from)
                .to_vec()
            }
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

/// Runs `config` under iso-runtime (`args` before the id, with `--bundle bundle`) and
/// checks that it left nothing behind.
fn run_ours(fx: &mut Fixture, name: &str, bundle: &Path, config: &Value, args: &[&str]) -> Output {
    write_config(bundle, config);
    let id = fx.id(name);
    let bundle = bundle.to_str().unwrap();
    let mut argv: Vec<&str> = args.to_vec();
    argv.extend(["--bundle", bundle, &id]);
    let out = fx.rt(&argv);
    if argv[0] == "run" && !argv.contains(&"-d") && !argv.contains(&"--detach") {
        no_leftovers(fx, &id);
    }
    out
}

/// Nothing of the container `id` is left on the host.
fn no_leftovers(fx: &Fixture, id: &str) {
    let left = fx.leftovers_after(id, Duration::from_secs(5));
    assert!(left.is_empty(), "{id} left: {left:#?}");
}

/// Runs `config` with `run` (and `flags`) under iso-runtime and `other`, and asserts both
/// print the same and exit the same way. Returns iso-runtime's output.
fn same_as(fx: &mut Fixture, other: Other, name: &str, config: &Value, flags: &[&str]) -> String {
    let bundle = fx.bundle();
    same_as_in(fx, other, name, &bundle, config, flags)
}

/// [`same_as`] with the bundle directory `bundle`.
fn same_as_in(
    fx: &mut Fixture,
    other: Other,
    name: &str,
    bundle: &Path,
    config: &Value,
    flags: &[&str],
) -> String {
    let mut args = vec!["run"];
    args.extend(flags);
    let ours = run_ours(fx, name, bundle, config, &args);
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
    let bundle = fx.bundle();
    let ours = run_ours(fx, name, &bundle, config, &["create"]);
    let id = fx.id(name);
    assert!(!ours.status.success(), "{name}: iso-runtime succeeded");
    assert!(
        text(&ours.stderr).contains(needle),
        "{name}: {}",
        text(&ours.stderr)
    );
    no_leftovers(fx, &id);
    if Other::Runc.installed() {
        let theirs = run_other(fx, Other::Runc, &bundle, config, &["run"]);
        assert!(!theirs.status.success(), "{name}: runc succeeded");
    }
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
    let script = "stat -c '%n %t %T %F' /dev/loop-control /dev/null; \
                  echo x > /dev/null && echo null-ok";
    let mut c = config(&fx, script);
    with_userns(&mut c);
    c["linux"]["devices"] = json!([
        {"path": "/dev/loop-control", "type": "c", "major": 10, "minor": 237}
    ]);
    let out = same_as(&mut fx, Other::Runc, "devu", &c, &[]);
    assert!(out.contains("null-ok"), "{out}");
    // A node the host does not have cannot be bound: both fail, nothing is left.
    c["linux"]["devices"] = json!([
        {"path": "/dev/no-such-node", "type": "c", "major": 1, "minor": 3}
    ]);
    both_fail(&mut fx, "devu-missing", &c, "/dev/no-such-node");
}
