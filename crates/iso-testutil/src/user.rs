//! A fresh unprivileged user for rootless tests: created with `useradd` (no home), given a
//! range of 65536 subordinate uids and gids (`/etc/subuid`, `/etc/subgid`) and an
//! `XDG_RUNTIME_DIR` (`/run/user/UID`, mode 0700); removed with all of it when dropped
//! (and `/run/user` when it is then empty), after its remaining processes (all started by
//! the test) are killed.
//!
//! ```no_run
//! let Some(user) = iso_testutil::user::TestUser::create("doc") else { return };
//! let out = user.command("id").arg("-u").output().unwrap();
//! assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), user.uid().to_string());
//! ```

use std::fs;
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// How many subordinate ids the user gets.
pub const SUBID_COUNT: u32 = 65536;

/// An unprivileged user that exists while this value lives.
#[derive(Debug)]
pub struct TestUser {
    name: String,
    uid: u32,
    gid: u32,
    subid_start: u32,
    runtime_dir: PathBuf,
}

impl TestUser {
    /// Creates the user `isot<pid>-<n>` (`tag` only names the skip message). `None` (the
    /// test skips) when not root or when `useradd`, `setpriv` or `newuidmap` is missing
    /// (`scripts/setup.sh` installs the `uidmap` package).
    pub fn create(tag: &str) -> Option<TestUser> {
        if !crate::root_or_skip() {
            return None;
        }
        for tool in ["useradd", "setpriv", "newuidmap", "newgidmap"] {
            if !on_path(tool) {
                let msg = format!("{tag}: {tool} is not installed (scripts/setup.sh)");
                if std::env::var("ISO_REQUIRE_ROOT").as_deref() == Ok("1") {
                    panic!("{msg}");
                }
                eprintln!("skipped: {msg}");
                return None;
            }
        }
        let pid = std::process::id();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("isot{pid}-{n}");
        // Disjoint per process and fixture, inside u32, away from the usual 100000 ranges.
        let subid_start = 1_000_000 + ((pid % 4096) * 8 + n % 8) * SUBID_COUNT;
        let range = format!("{subid_start}-{}", subid_start + SUBID_COUNT - 1);
        // A system user: useradd gives it no subordinate ids of its own choosing.
        retry_locked(&[
            "useradd",
            "--no-create-home",
            "--shell",
            "/bin/sh",
            "--system",
            &name,
        ]);
        retry_locked(&[
            "usermod",
            "--add-subuids",
            &range,
            "--add-subgids",
            &range,
            &name,
        ]);
        let uid = id_of(&name, "-u");
        let gid = id_of(&name, "-g");
        let runtime_dir = PathBuf::from(format!("/run/user/{uid}"));
        // Again if a test that just dropped its user removed an empty /run/user meanwhile.
        let made = (0..5).any(|_| fs::create_dir_all(&runtime_dir).is_ok());
        assert!(made, "create {}", runtime_dir.display());
        chown(&runtime_dir, Some(uid), Some(gid)).expect("chown /run/user/UID");
        fs::set_permissions(&runtime_dir, fs::Permissions::from_mode(0o700))
            .expect("chmod /run/user/UID");
        Some(TestUser {
            name,
            uid,
            gid,
            subid_start,
            runtime_dir,
        })
    }

    /// The user's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The user's uid.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// The user's primary gid.
    pub fn gid(&self) -> u32 {
        self.gid
    }

    /// The first of the user's [`SUBID_COUNT`] subordinate uids (and gids: the same range).
    pub fn subid_start(&self) -> u32 {
        self.subid_start
    }

    /// `$XDG_RUNTIME_DIR` of the user.
    pub fn runtime_dir(&self) -> &Path {
        &self.runtime_dir
    }

    /// `program` run as the user (real and effective ids, its groups) with `setpriv`, with
    /// `HOME`, `USER`, `LOGNAME` and `XDG_RUNTIME_DIR` set for it.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("setpriv");
        c.args(["--reuid", &self.uid.to_string()])
            .args(["--regid", &self.gid.to_string()])
            .arg("--init-groups")
            .arg("--")
            .arg(program)
            .env("HOME", &self.runtime_dir)
            .env("USER", &self.name)
            .env("LOGNAME", &self.name)
            .env("XDG_RUNTIME_DIR", &self.runtime_dir);
        c
    }

    /// Gives `path` and everything below it to the user.
    pub fn give(&self, path: &Path) {
        let status = Command::new("chown")
            .arg("-R")
            .arg(format!("{}:{}", self.uid, self.gid))
            .arg(path)
            .status()
            .expect("run chown");
        assert!(status.success(), "chown -R {}", path.display());
    }

    /// The pids of the user's processes (by real uid).
    fn processes(&self) -> Vec<i32> {
        let Ok(rd) = fs::read_dir("/proc") else {
            return Vec::new();
        };
        rd.flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                fs::read_to_string(format!("/proc/{pid}/status"))
                    .ok()
                    .and_then(|s| {
                        let line = s.lines().find(|l| l.starts_with("Uid:"))?.to_owned();
                        line.split_whitespace().nth(1)?.parse::<u32>().ok()
                    })
                    == Some(self.uid)
            })
            .collect()
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        // Every process of this fresh user was started by the test.
        for _ in 0..50 {
            let left = self.processes();
            if left.is_empty() {
                break;
            }
            for pid in left {
                // SAFETY: kill sends a signal to a process of the test's own user.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let range = format!(
            "{}-{}",
            self.subid_start,
            self.subid_start + SUBID_COUNT - 1
        );
        retry_locked(&[
            "usermod",
            "--del-subuids",
            &range,
            "--del-subgids",
            &range,
            &self.name,
        ]);
        retry_locked(&["userdel", &self.name]);
        let _ = fs::remove_dir_all(&self.runtime_dir);
        // /run/user itself too when no other user has a directory there (rmdir refuses).
        if let Some(parent) = self.runtime_dir.parent() {
            let _ = fs::remove_dir(parent);
        }
    }
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).exists()))
        .unwrap_or(false)
        || ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
            .iter()
            .any(|d| Path::new(d).join(tool).exists())
}

/// Runs a shadow tool, again while another test holds the lock on `/etc/passwd` (exit
/// status 10 for `useradd`/`usermod`/`userdel`); panics when it fails otherwise.
fn retry_locked(argv: &[&str]) {
    for _ in 0..100 {
        let out = Command::new(argv[0])
            .args(&argv[1..])
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", argv[0]));
        if out.status.success() {
            return;
        }
        let err = String::from_utf8_lossy(&out.stderr);
        if !err.contains("lock") {
            panic!("{argv:?}: {} {err}", out.status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{argv:?}: /etc/passwd stayed locked");
}

fn id_of(name: &str, flag: &str) -> u32 {
    let out = Command::new("id")
        .arg(flag)
        .arg(name)
        .output()
        .expect("run id");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("id {flag} {name}"))
}
