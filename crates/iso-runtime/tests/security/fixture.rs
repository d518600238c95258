//! Shared helpers for the hardening tests (`tests/malformed.rs` and `tests/security/`):
//! a busybox bundle, a private `--root`, an absolute cgroup path under `/iso-test-*`, the
//! `iso-runtime` binary run with its output in files, and a check that nothing is left behind.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use iso_testutil::TempDir;
use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_iso-runtime");
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The v1 controllers of this host, plus the v2 mount, where a left-over cgroup could hide.
pub const CGROUP_MOUNTS: &[&str] = &[
    "pids", "memory", "cpu", "cpuacct", "cpuset", "devices", "freezer", "blkio", "systemd",
    "unified",
];

/// One test's bundle, state root and cgroup path; deletes its containers on drop.
pub struct Fixture {
    pub dir: TempDir,
    pub ids: Vec<String>,
    pub cgroup: String,
}

pub fn busybox_rootfs(rootfs: &Path) {
    for d in ["bin", "proc", "sys", "dev", "etc", "tmp", "root"] {
        fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    for a in [
        "sh", "cat", "echo", "id", "ls", "grep", "readlink", "stat", "true", "sleep", "touch",
        "mkdir", "ln", "rm", "mv", "test", "dd",
    ] {
        symlink("busybox", rootfs.join("bin").join(a)).unwrap();
    }
    fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
}

impl Fixture {
    /// `None` (test skipped) when not root or busybox-static is missing.
    pub fn new(tag: &str) -> Option<Fixture> {
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
        let cgroup = format!("/iso-test-{tag}-{}-{n}", std::process::id());
        Some(Fixture {
            dir,
            ids: Vec::new(),
            cgroup,
        })
    }

    pub fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }

    pub fn rootfs(&self) -> PathBuf {
        self.bundle().join("rootfs")
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// A minimal valid config running `script` with `sh -c`.
    pub fn config(&self, script: &str) -> Value {
        let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
        json!({
            "ociVersion": "1.0.2",
            "process": {
                "terminal": false,
                "user": {"uid": 0, "gid": 0},
                "args": ["/bin/sh", "-c", script],
                "env": ["PATH=/bin"],
                "cwd": "/",
                "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
                "noNewPrivileges": true
            },
            "root": {"path": "rootfs", "readonly": false},
            "hostname": "isotest",
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                 "options": ["nosuid", "mode=755", "size=65536k"]},
                {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}
            ],
            "linux": {
                "cgroupsPath": self.cgroup,
                "resources": {"pids": {"limit": 42}},
                "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                               {"type": "uts"}, {"type": "mount"}],
                "maskedPaths": ["/proc/kcore", "/proc/keys"],
                "readonlyPaths": ["/proc/sys"]
            }
        })
    }

    pub fn write_config(&self, config: &Value) {
        self.write_config_raw(&serde_json::to_vec_pretty(config).unwrap());
    }

    pub fn write_config_raw(&self, data: &[u8]) {
        fs::write(self.bundle().join("config.json"), data).unwrap();
    }

    /// A container id unique to this process, deleted (`--force`) on drop.
    pub fn id(&mut self, name: &str) -> String {
        let id = format!("{name}-{}", std::process::id());
        self.ids.push(id.clone());
        id
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--root").arg(self.root()).args(args);
        c.current_dir(self.bundle());
        c.stdin(Stdio::null());
        c
    }

    /// Runs the binary with stdout and stderr in files (a container's init inherits them).
    pub fn rt(&self, args: &[&str]) -> Output {
        run_to_files(self.cmd(args), self.dir.path())
    }

    /// `run --bundle <bundle> <id>`: the container's output and exit status.
    pub fn run(&mut self, name: &str) -> Output {
        let id = self.id(name);
        let bundle = self.bundle();
        self.rt(&["run", "--bundle", bundle.to_str().unwrap(), &id])
    }

    pub fn cgroup_dir(&self, mount: &str) -> PathBuf {
        Path::new("/sys/fs/cgroup")
            .join(mount)
            .join(self.cgroup.trim_start_matches('/'))
    }

    /// What this fixture left on the host: state entries, cgroups, mounts, processes.
    pub fn leftovers(&self, id: &str) -> Vec<String> {
        let mut found = Vec::new();
        if let Ok(rd) = fs::read_dir(self.root()) {
            for e in rd.flatten() {
                found.push(format!("state entry {}", e.path().display()));
            }
        }
        for m in CGROUP_MOUNTS {
            let d = self.cgroup_dir(m);
            if d.exists() {
                found.push(format!("cgroup {}", d.display()));
            }
        }
        let dir = self.dir.path().to_str().unwrap().to_owned();
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
        for l in mountinfo.lines().filter(|l| l.contains(&dir)) {
            found.push(format!("mount {l}"));
        }
        for e in fs::read_dir("/proc").unwrap().flatten() {
            let name = e.file_name();
            let Some(pid) = name
                .to_str()
                .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            let p = e.path();
            let cmdline = fs::read(p.join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let at = |l: &str| {
                fs::read_link(p.join(l))
                    .map(|t| t.to_string_lossy().contains(&dir))
                    .unwrap_or(false)
            };
            if cmdline.contains(id) || at("cwd") || at("root") {
                found.push(format!("process {pid}: {cmdline}"));
            }
        }
        found
    }

    /// Removes cgroups a failing runtime left (the test still reports them).
    fn cleanup_cgroups(&self) {
        for m in CGROUP_MOUNTS {
            let _ = fs::remove_dir(self.cgroup_dir(m));
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = self.rt(&["delete", "--force", id]);
        }
        self.cleanup_cgroups();
    }
}

pub fn run_to_files(mut cmd: Command, dir: &Path) -> Output {
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

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
