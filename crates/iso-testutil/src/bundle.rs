//! A runtime test fixture: a busybox-static bundle, a private `--root` state directory and an
//! absolute, test-owned `cgroupsPath`, the `iso-runtime` binary run with its output captured
//! in files, and a check that nothing is left behind (processes, cgroups in every hierarchy,
//! mounts, state entries). Dropping the fixture deletes its containers (`delete --force`)
//! and removes whatever cgroups a failing runtime left.
//!
//! The binary's path is given by the caller: integration tests of `iso-runtime` know it as
//! `env!("CARGO_BIN_EXE_iso-runtime")`.
//!
//! ```no_run
//! use iso_testutil::bundle::{text, Fixture};
//! # const BIN: &str = "/path/to/iso-runtime";
//! let Some(mut fx) = Fixture::new(BIN, "doc") else { return };
//! fx.write_config(&fx.config("echo hello"));
//! let out = fx.run("hello");
//! assert!(out.status.success(), "{}", text(&out.stderr));
//! assert_eq!(text(&out.stdout), "hello\n");
//! let id = fx.id("hello");
//! assert!(fx.leftovers(&id).is_empty());
//! ```

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::user::TestUser;
use crate::TempDir;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The busybox applets linked into `/bin` of the fixture's rootfs.
pub const APPLETS: &[&str] = &[
    "sh", "cat", "echo", "id", "hostname", "ls", "grep", "readlink", "stat", "true", "false",
    "sleep", "touch", "mkdir", "ln", "rm", "mv", "test", "dd", "seq", "ps", "head", "mount", "wc",
    "kill",
];

/// Fills `rootfs` with a minimal busybox-static system: `/bin/busybox` and the [`APPLETS`]
/// linked to it, the usual empty mount points, and an `/etc/passwd` with root.
///
/// ```no_run
/// let dir = iso_testutil::TempDir::new("doc-rootfs");
/// iso_testutil::bundle::busybox_rootfs(&dir.path().join("rootfs"));
/// ```
pub fn busybox_rootfs(rootfs: &Path) {
    for d in ["bin", "proc", "sys", "dev", "etc", "tmp", "root"] {
        fs::create_dir_all(rootfs.join(d)).expect("create rootfs directory");
    }
    fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("copy /bin/busybox");
    for a in APPLETS {
        symlink("busybox", rootfs.join("bin").join(a)).expect("link busybox applet");
    }
    fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
        .expect("write /etc/passwd");
}

/// The mount points of every cgroup hierarchy of this host (each v1 controller mount and the
/// cgroup2 mount), read from `/proc/self/mountinfo`.
///
/// ```no_run
/// for h in iso_testutil::bundle::cgroup_hierarchies() {
///     println!("{}", h.display());
/// }
/// ```
pub fn cgroup_hierarchies() -> Vec<PathBuf> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut found: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|l| {
            // "id parent major:minor root mountpoint options... - fstype source superoptions"
            let (left, right) = l.split_once(" - ")?;
            let fstype = right.split_whitespace().next()?;
            let mountpoint = left.split_whitespace().nth(4)?;
            (fstype == "cgroup" || fstype == "cgroup2").then(|| PathBuf::from(mountpoint))
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

/// Removes the cgroup directory `dir` and every cgroup below it (children first). Errors are
/// ignored: a cgroup that still has processes stays, and the caller reports it.
fn remove_cgroup_tree(dir: &Path) {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    let _ = fs::remove_dir(dir);
}

/// One test's bundle, state root and cgroup path. Deletes its containers on drop.
pub struct Fixture {
    bin: PathBuf,
    dir: TempDir,
    ids: Vec<String>,
    cgroup: String,
    /// Rootless: the user that runs the runtime (dropped, so removed, last).
    user: Option<TestUser>,
}

impl Fixture {
    /// A fixture running the runtime binary `bin`, with a busybox bundle under a fresh
    /// `/tmp/iso-test-<tag>-*` directory and the cgroup path `/iso-test-<tag>-<pid>-<n>`.
    /// `None` (the test skips) when not root or `/bin/busybox` (busybox-static) is missing.
    ///
    /// ```no_run
    /// # const BIN: &str = "/path/to/iso-runtime";
    /// let Some(fx) = iso_testutil::bundle::Fixture::new(BIN, "doc") else { return };
    /// assert!(fx.rootfs().join("bin/sh").exists());
    /// ```
    pub fn new(bin: impl Into<PathBuf>, tag: &str) -> Option<Fixture> {
        if !crate::root_or_skip() {
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
            bin: bin.into(),
            dir,
            ids: Vec::new(),
            cgroup,
            user: None,
        })
    }

    /// A rootless fixture: as [`Fixture::new`], but the runtime runs as a fresh
    /// unprivileged user ([`TestUser`]) who owns the fixture's directory, with its default
    /// state root (`$XDG_RUNTIME_DIR/iso`), and [`Fixture::config`] gives the container a
    /// user namespace that maps the user's uid and gid to 0.
    ///
    /// ```no_run
    /// # const BIN: &str = "/path/to/iso-runtime";
    /// let Some(mut fx) = iso_testutil::bundle::Fixture::rootless(BIN, "doc") else { return };
    /// fx.write_config(&fx.config("id -u"));
    /// assert_eq!(iso_testutil::bundle::text(&fx.run("id").stdout), "0\n");
    /// ```
    pub fn rootless(bin: impl Into<PathBuf>, tag: &str) -> Option<Fixture> {
        let user = TestUser::create(tag)?;
        let mut fx = Fixture::new(bin, tag)?;
        user.give(fx.path());
        fx.user = Some(user);
        Some(fx)
    }

    /// The user of a [`Fixture::rootless`] fixture.
    pub fn user(&self) -> Option<&TestUser> {
        self.user.as_ref()
    }

    /// The fixture's temporary directory (bundle, state root and captured output live here).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The runtime binary the fixture runs.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// The bundle directory (`config.json` and `rootfs/`).
    pub fn bundle(&self) -> PathBuf {
        self.path().join("bundle")
    }

    /// The bundle's root filesystem.
    pub fn rootfs(&self) -> PathBuf {
        self.bundle().join("rootfs")
    }

    /// The runtime's state root (`--root`; rootless, the user's default one).
    pub fn root(&self) -> PathBuf {
        match &self.user {
            Some(user) => user.runtime_dir().join("iso"),
            None => self.path().join("state"),
        }
    }

    /// The absolute `cgroupsPath` of [`Fixture::config`].
    pub fn cgroup(&self) -> &str {
        &self.cgroup
    }

    /// A minimal valid config running `script` with `sh -c`: new pid, network, ipc, uts and
    /// mount namespaces, procfs and tmpfs on `/proc`, `/dev` and `/tmp`, a pids limit of 42,
    /// two masked paths and a read-only `/proc/sys`, in the fixture's cgroup; rootless, a
    /// user namespace too, mapping the user to 0.
    ///
    /// ```no_run
    /// # let fx = iso_testutil::bundle::Fixture::new("/bin/true", "doc").unwrap();
    /// let mut config = fx.config("true");
    /// config["root"]["readonly"] = serde_json::json!(true);
    /// fx.write_config(&config);
    /// ```
    pub fn config(&self, script: &str) -> Value {
        let mut config = self.root_config(script);
        if let Some(user) = &self.user {
            let linux = &mut config["linux"];
            linux["namespaces"]
                .as_array_mut()
                .expect("namespaces")
                .push(json!({"type": "user"}));
            linux["uidMappings"] = json!([{"containerID": 0, "hostID": user.uid(), "size": 1}]);
            linux["gidMappings"] = json!([{"containerID": 0, "hostID": user.gid(), "size": 1}]);
        }
        config
    }

    fn root_config(&self, script: &str) -> Value {
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

    /// Writes `config` as the bundle's `config.json`.
    pub fn write_config(&self, config: &Value) {
        self.write_config_raw(&serde_json::to_vec_pretty(config).expect("serialise config"));
    }

    /// Writes `data` (valid JSON or not) as the bundle's `config.json`.
    pub fn write_config_raw(&self, data: &[u8]) {
        fs::write(self.bundle().join("config.json"), data).expect("write config.json");
    }

    /// Writes `text` as `policy.toml` in the fixture's directory and returns its path.
    pub fn policy(&self, text: &str) -> PathBuf {
        let p = self.path().join("policy.toml");
        fs::write(&p, text).expect("write policy.toml");
        p
    }

    /// The container id `<name>-<pid>`, deleted (`delete --force`) when the fixture drops.
    pub fn id(&mut self, name: &str) -> String {
        let id = format!("{name}-{}", std::process::id());
        if !self.ids.contains(&id) {
            self.ids.push(id.clone());
        }
        id
    }

    /// The runtime command `iso-runtime --root <root> <args>` (rootless: as the user, with
    /// its default root), run in the bundle directory with stdin from `/dev/null` and
    /// without the caller's `ISO_POLICY`.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = match &self.user {
            Some(user) => user.command(&self.bin),
            None => {
                let mut c = Command::new(&self.bin);
                c.arg("--root").arg(self.root());
                c
            }
        };
        c.env_remove("ISO_POLICY")
            .args(args)
            .current_dir(self.bundle())
            .stdin(Stdio::null());
        c
    }

    /// Runs the runtime with `args`, its stdout and stderr in files: a container's init
    /// inherits them, so pipes would stay open (and `output()` would wait) while it lives.
    pub fn rt(&self, args: &[&str]) -> Output {
        run_to_files(self.cmd(args), self.path())
    }

    /// `run --bundle <bundle> <id>` for the id of `name`: the container's output and exit
    /// status.
    pub fn run(&mut self, name: &str) -> Output {
        let id = self.id(name);
        let bundle = self.bundle();
        let bundle = bundle.to_str().expect("bundle path is UTF-8");
        self.rt(&["run", "--bundle", bundle, &id])
    }

    /// The parsed output of `state <id>`; panics when the command fails.
    pub fn state(&self, id: &str) -> Value {
        let out = self.rt(&["state", id]);
        assert!(out.status.success(), "state: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("state prints JSON")
    }

    /// The parsed output of `state <id>`, or `None` when the command fails.
    pub fn state_opt(&self, id: &str) -> Option<Value> {
        let out = self.rt(&["state", id]);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).ok())
            .flatten()
    }

    /// Polls `state <id>` until its status is `want` (at most 10 s); returns the last state.
    pub fn wait_status(&self, id: &str, want: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let st = self.state(id);
            if st["status"] == want || Instant::now() > deadline {
                return st;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The fixture's cgroup in the hierarchy mounted at `/sys/fs/cgroup/<controller>`.
    pub fn cgroup_dir(&self, controller: &str) -> PathBuf {
        Path::new("/sys/fs/cgroup")
            .join(controller)
            .join(self.cgroup.trim_start_matches('/'))
    }

    /// The fixture's cgroup in every hierarchy of the host (whether it exists or not).
    pub fn cgroup_dirs(&self) -> Vec<PathBuf> {
        cgroup_hierarchies()
            .into_iter()
            .map(|h| h.join(self.cgroup.trim_start_matches('/')))
            .collect()
    }

    /// A trimmed file of the fixture's cgroup in the pids hierarchy (`""` when unreadable).
    pub fn pids_file(&self, name: &str) -> String {
        fs::read_to_string(self.cgroup_dir("pids").join(name))
            .unwrap_or_default()
            .trim()
            .to_owned()
    }

    /// What the fixture left on the host: entries of the state root (but the runtime's
    /// `@`-named caches), the fixture's cgroup in
    /// any hierarchy, mounts under its directory, and processes whose command line names
    /// `id` or whose cwd or root is under its directory, or that sit in its cgroup.
    pub fn leftovers(&self, id: &str) -> Vec<String> {
        let mut found = Vec::new();
        if let Ok(rd) = fs::read_dir(self.root()) {
            // `@...` entries are the runtime's caches (an id cannot contain `@`).
            for e in rd
                .flatten()
                .filter(|e| !e.file_name().to_string_lossy().starts_with('@'))
            {
                found.push(format!("state entry {}", e.path().display()));
            }
        }
        for d in self.cgroup_dirs() {
            if d.exists() {
                found.push(format!("cgroup {}", d.display()));
            }
        }
        let dir = self.path().to_string_lossy().into_owned();
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        for l in mountinfo.lines().filter(|l| l.contains(&dir)) {
            found.push(format!("mount {l}"));
        }
        for (pid, cmdline, ours) in self.processes() {
            if ours || cmdline.contains(id) {
                found.push(format!("process {pid}: {cmdline}"));
            }
        }
        found
    }

    /// Every process on the host with its command line, and whether it is tied to this
    /// fixture: its cwd or root is under the fixture's directory, or it sits in the
    /// fixture's cgroup.
    fn processes(&self) -> Vec<(i32, String, bool)> {
        let dir = self.path().to_string_lossy().into_owned();
        let in_cgroup = format!(":{}", self.cgroup);
        let Ok(procs) = fs::read_dir("/proc") else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for e in procs.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
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
            let cgroups = fs::read_to_string(p.join("cgroup")).unwrap_or_default();
            let member = cgroups.lines().any(|l| {
                l.find(&in_cgroup)
                    .map(|i| &l[i + in_cgroup.len()..])
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            });
            found.push((pid, cmdline, at("cwd") || at("root") || member));
        }
        found
    }

    /// Sends `SIGKILL` to every process tied to this fixture (see [`Fixture::leftovers`]):
    /// what a failing runtime left running. Returns how many were signalled.
    pub fn kill_processes(&self) -> usize {
        let me = std::process::id() as i32;
        let mut n = 0;
        for (pid, _, ours) in self.processes() {
            if ours && pid != me {
                // SAFETY: kill sends a signal; the process runs in this fixture's directory
                // or cgroup, so the test started it.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                n += 1;
            }
        }
        n
    }

    /// [`Fixture::leftovers`], polled for up to `limit` while processes are still exiting:
    /// a process orphaned by a killed runtime needs a moment to notice and go.
    pub fn leftovers_after(&self, id: &str, limit: Duration) -> Vec<String> {
        let deadline = Instant::now() + limit;
        loop {
            let left = self.leftovers(id);
            if left.is_empty() || Instant::now() > deadline {
                return left;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Removes the fixture's cgroup (and any below it) from every hierarchy.
    pub fn remove_cgroups(&self) {
        for d in self.cgroup_dirs() {
            remove_cgroup_tree(&d);
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = self.rt(&["delete", "--force", id]);
        }
        if self.kill_processes() > 0 {
            // Let them die before their cgroups are removed.
            std::thread::sleep(Duration::from_millis(100));
        }
        self.remove_cgroups();
    }
}

/// The command line that runs crun (`/usr/bin/crun`, then the caller's arguments) on this
/// host: crun 1.8 refuses hybrid hosts whose cgroup2 mount owns a controller, so it runs in
/// a private mount namespace where that file reads empty (an empty file made in `dir`; the
/// host is untouched). On a pure v2 host there is no such file and the bind fails harmlessly.
///
/// ```no_run
/// let dir = iso_testutil::TempDir::new("doc-crun");
/// let argv = iso_testutil::bundle::crun_argv(dir.path());
/// let status = std::process::Command::new(&argv[0]).args(&argv[1..]).arg("--version").status();
/// ```
pub fn crun_argv(dir: &Path) -> Vec<String> {
    let empty = dir.join("empty");
    fs::write(&empty, "").expect("write an empty file");
    let wrapper = format!(
        "mount --bind -o ro {} /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null; \
         exec /usr/bin/crun \"$@\"",
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

/// Runs `cmd` with its stdout and stderr in fresh files under `dir` and returns both with
/// the exit status.
///
/// ```no_run
/// let dir = iso_testutil::TempDir::new("doc-run");
/// let mut cmd = std::process::Command::new("echo");
/// cmd.arg("hi");
/// let out = iso_testutil::bundle::run_to_files(cmd, dir.path());
/// assert_eq!(out.stdout, b"hi\n");
/// ```
pub fn run_to_files(mut cmd: Command, dir: &Path) -> Output {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let (o, e) = (dir.join(format!("out.{n}")), dir.join(format!("err.{n}")));
    cmd.stdout(fs::File::create(&o).expect("create stdout file"));
    cmd.stderr(fs::File::create(&e).expect("create stderr file"));
    let status = cmd.status().expect("run command");
    let out = Output {
        status,
        stdout: fs::read(&o).unwrap_or_default(),
        stderr: fs::read(&e).unwrap_or_default(),
    };
    let _ = fs::remove_file(&o);
    let _ = fs::remove_file(&e);
    out
}

/// Bytes as text (lossy UTF-8), for messages.
///
/// ```
/// assert_eq!(iso_testutil::bundle::text(b"ok"), "ok");
/// ```
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
