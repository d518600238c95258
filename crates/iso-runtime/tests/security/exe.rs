//! The host's runtime binary cannot be written through `/proc/PID/exe` of any process a
//! container can see (runc CVE-2019-5736), in each way a runtime process shows up in a
//! container:
//! - the waiting init, tried from an `exec` (created, not started);
//! - the child of `exec` while it joins the container (a race);
//! - the runtime binary started by the kernel for a `#!/proc/self/exe` script that `exec`
//!   runs, and that the init of `run` runs (seen from a container sharing its PID namespace).
//!
//! Each attack aims at a copy of the binary (the tests run the copy), and checks that the
//! copy's bytes are unchanged. The attacker is a busybox shell, the init of a container of
//! its own: it stops every process it finds (so no window is too short), opens its
//! `/proc/PID/exe` read-only, lets it go on, and then tries to append to the file through
//! `/proc/self/fd/3` until the runtime has exited (a running binary cannot be opened for
//! writing: `ETXTBSY`).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;

use iso_testutil::bundle::{text, Fixture};

use crate::BIN;

/// A copy of the runtime binary in a directory of its own: what the attacks aim at.
struct Target {
    dir: PathBuf,
    bin: PathBuf,
    original: Vec<u8>,
}

impl Target {
    fn new(tag: &str) -> Target {
        let dir = std::env::temp_dir().join(format!("iso-exe-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let bin = dir.join("iso-runtime");
        fs::copy(BIN, &bin).unwrap();
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
        let original = fs::read(&bin).unwrap();
        Target { dir, bin, original }
    }

    fn assert_unchanged(&self, log: &str) {
        assert!(!log.contains("WROTE"), "the attacker wrote:\n{log}");
        assert!(
            fs::read(&self.bin).unwrap() == self.original,
            "the runtime binary changed:\n{log}"
        );
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The attacker, run as a container's init (pid 1 of its PID namespace).
const ATTACKER: &str = r#"
grab() {
  kill -CONT $1
  [ /proc/self/fd/3 -ef /bin/busybox ] && return
  echo "opened /proc/$1/exe" >> /attack.log
  n=0
  while [ $n -lt 20000 ]; do
    if { echo pwned >> /proc/self/fd/3; } 2>/dev/null; then echo "WROTE via $1" >> /attack.log; return; fi
    n=$((n+1))
  done
}
echo ready > /ready
while [ ! -e /stop ]; do
  for p in /proc/[0-9]*; do
    n=${p#/proc/}
    [ "$n" = 1 ] && continue
    kill -STOP $n 2>/dev/null || continue
    { grab $n; } 3< $p/exe 2>/dev/null
    kill -CONT $n 2>/dev/null
  done
done
echo done > /done
"#;

/// A fixture running `target`, whose container `attacker` runs [`ATTACKER`], and a script
/// `/evil` in the rootfs whose interpreter is `/proc/self/exe`. The rootfs also gets the
/// shared libraries of the binary (as a distribution image has them), so that the kernel
/// can start a dynamically linked runtime binary in the container.
fn attacked(target: &Target, tag: &str, ptrace: bool) -> Option<(Fixture, String)> {
    attacked_in(Fixture::new(&target.bin, tag)?, ptrace)
}

/// As [`attacked`], in the fixture `fx` (rootless or not) running the target.
fn attacked_in(mut fx: Fixture, ptrace: bool) -> Option<(Fixture, String)> {
    copy_libraries(fx.bin(), &fx.rootfs());
    let evil = fx.rootfs().join("evil");
    fs::write(&evil, "#!/proc/self/exe\n").unwrap();
    fs::set_permissions(&evil, fs::Permissions::from_mode(0o755)).unwrap();
    let mut config = fx.config(ATTACKER);
    if ptrace {
        // CAP_SYS_PTRACE opens non-dumpable processes: the runtime must run sealed.
        for set in ["bounding", "effective", "permitted"] {
            let caps = config["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap();
            caps.push(json!("CAP_SYS_PTRACE"));
        }
    }
    fx.write_config(&config);
    let id = fx.id("attacker");
    let bundle = fx.bundle();
    let out = fx.rt(&["run", "-d", "--bundle", bundle.to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    wait_for(&fx.rootfs().join("ready"));
    Some((fx, id))
}

/// Stops the attacker and returns what it logged.
fn finish(fx: &Fixture, id: &str) -> String {
    fs::write(fx.rootfs().join("stop"), "").unwrap();
    wait_for(&fx.rootfs().join("done"));
    let log = fs::read_to_string(fx.rootfs().join("attack.log")).unwrap_or_default();
    let out = fx.rt(&["delete", "--force", id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    eprintln!("attack log:\n{log}");
    log
}

/// Copies the libraries `ldd` lists for `bin` (the loader included) to the same paths under
/// `rootfs`; nothing for a static binary.
fn copy_libraries(bin: &Path, rootfs: &Path) {
    let out = std::process::Command::new("ldd").arg(bin).output().unwrap();
    for word in text(&out.stdout).split_whitespace() {
        let lib = Path::new(word);
        if lib.is_absolute() && lib.exists() {
            let dest = rootfs.join(lib.strip_prefix("/").unwrap());
            fs::create_dir_all(dest.parent().unwrap()).unwrap();
            fs::copy(lib, &dest).unwrap();
        }
    }
}

fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{path:?} never appeared"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn runtime_binary_not_writable_through_proc_exe() {
    let Some(mut fx) = Fixture::new(BIN, "sec-exe") else {
        return;
    };
    fx.write_config(&fx.config("true"));
    let before = fs::read(BIN).unwrap();
    let id = fx.id("exe");
    let out = fx.rt(&["create", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let script = "for p in /proc/[0-9]*; do \
                    echo pwned 2>/dev/null >> $p/exe && echo WROTE $p; \
                    echo pwned 2>/dev/null 1<> $p/exe && echo WROTE-RW $p; \
                  done; ls -l /proc/[0-9]*/exe; echo done";
    let out = fx.rt(&["exec", &id, "--", "/bin/sh", "-c", script]);
    let stdout = text(&out.stdout);
    eprintln!("exec: {:?} {stdout} {}", out.status, text(&out.stderr));
    assert!(!stdout.contains("WROTE"), "{stdout}");
    // The waiting init (pid 1) was visible to the exec, so it was tried.
    assert!(stdout.contains("/proc/1/exe"), "{stdout}");
    assert!(
        fs::read(BIN).unwrap() == before,
        "the runtime binary changed"
    );
    assert!(
        fs::read("/bin/busybox").unwrap() == fs::read(fx.rootfs().join("bin/busybox")).unwrap()
    );
}

/// 8 `exec`s of `/bin/true` while the attacker races each exec child.
fn race_exec_children(tag: &str, ptrace: bool) {
    let target = Target::new(tag);
    let Some((fx, id)) = attacked(&target, &format!("sec-exe-{tag}"), ptrace) else {
        return;
    };
    for _ in 0..8 {
        let out = fx.rt(&["exec", &id, "/bin/true"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    target.assert_unchanged(&finish(&fx, &id));
}

#[test]
fn exec_child_cannot_be_opened_while_it_joins() {
    race_exec_children("race", false);
}

#[test]
fn exec_child_cannot_be_opened_by_a_container_with_cap_sys_ptrace() {
    race_exec_children("ptrace", true);
}

/// Rootless (issue 22): the runtime is a copy the user owns, so the container's root (the
/// user on the host) could write it but for the protection. The attacker races the `exec`
/// children, and those of `#!/proc/self/exe` scripts; the waiting init of a created
/// container is non-dumpable (its `/proc/PID/exe` is the host root's) and, for the same
/// reason, refuses a rootless `exec` with a clear error.
#[test]
fn rootless_runtime_binary_not_writable_through_proc_exe() {
    let target = Target::new("rootless");
    let Some(fx) = Fixture::rootless(&target.bin, "sec-exe-rootless") else {
        return;
    };
    fx.user().unwrap().give(&target.dir);
    let Some((mut fx, attacker)) = attacked_in(fx, false) else {
        return;
    };
    for _ in 0..8 {
        let out = fx.rt(&["exec", &attacker, "/bin/true"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    for _ in 0..4 {
        let out = fx.rt(&["exec", &attacker, "/evil"]);
        eprintln!("exec /evil: {:?} {}", out.status, text(&out.stderr));
    }
    let mut config = fx.config("true");
    config["linux"]["cgroupsPath"] = json!(format!("{}-waiting", fx.cgroup()));
    fx.write_config(&config);
    let id = fx.id("waiting");
    let out = fx.rt(&["create", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pid = fx.state(&id)["pid"].as_i64().unwrap();
    let exe = fs::symlink_metadata(format!("/proc/{pid}/exe")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&exe), 0);
    let out = fx.rt(&["exec", &id, "/bin/true"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("non-dumpable"),
        "{}",
        text(&out.stderr)
    );
    target.assert_unchanged(&finish(&fx, &attacker));
}

#[test]
fn proc_self_exe_script_through_exec_cannot_write_the_runtime() {
    let target = Target::new("script");
    let Some((fx, id)) = attacked(&target, "sec-exe-script", false) else {
        return;
    };
    for _ in 0..4 {
        // The kernel runs the runtime binary as the program: it refuses its arguments.
        let out = fx.rt(&["exec", &id, "/evil"]);
        eprintln!("exec /evil: {:?} {}", out.status, text(&out.stderr));
    }
    target.assert_unchanged(&finish(&fx, &id));
}

#[test]
fn proc_self_exe_script_as_init_cannot_write_the_runtime() {
    let target = Target::new("init");
    let Some((mut fx, attacker)) = attacked(&target, "sec-exe-init", false) else {
        return;
    };
    // A second container in the attacker's PID namespace (a pod sharing its PID namespace)
    // whose program is the script: its init, then the runtime binary the kernel starts for
    // the script, are both visible to the attacker.
    let pid = fx.state(&attacker)["pid"].as_i64().unwrap();
    let mut config = fx.config("unused");
    config["process"]["args"] = json!(["/evil"]);
    config["linux"]["cgroupsPath"] = json!(format!("{}-victim", fx.cgroup()));
    config["linux"]["namespaces"] = json!([
        {"type": "pid", "path": format!("/proc/{pid}/ns/pid")},
        {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}
    ]);
    fx.write_config(&config);
    for i in 0..4 {
        let out = fx.run(&format!("victim{i}"));
        eprintln!("run /evil: {:?} {}", out.status, text(&out.stderr));
    }
    target.assert_unchanged(&finish(&fx, &attacker));
}
