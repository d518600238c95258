//! The AppArmor exec label cannot be redirected by a bind mount over /proc (CVE-2019-16884:
//! a volume over /proc swallows the label write and the container runs unconfined;
//! CVE-2025-52881: a bind of another procfs file over /proc/self/attr/... passes a "this is
//! procfs" check and receives the write, here the kernel-global core_pattern).
//!
//! Each case binds a decoy over the label files of the container's init. Whatever the runtime
//! does (refuse at create, fail at start, or apply the label), the user program never runs
//! unconfined and no bind source is written to. Runs in the VM tier, where AppArmor is active
//! (and where a vulnerable runtime would only overwrite the throwaway guest's core_pattern).

use std::fs;

use iso_testutil::bundle::{text, Fixture};
use serde_json::json;

use crate::apparmor_profile::TestProfile;
use crate::BIN;

/// The kernel-global file a redirected procfs write would land in.
pub const CORE_PATTERN: &str = "/proc/sys/kernel/core_pattern";

/// The host's value of a global file, put back on drop if a failing runtime changed it (the
/// test still fails on the change).
pub struct HostFile {
    path: &'static str,
    original: String,
}

impl HostFile {
    pub fn save(path: &'static str) -> HostFile {
        HostFile {
            path,
            original: fs::read_to_string(path).unwrap(),
        }
    }

    pub fn assert_unchanged(&self) {
        assert_eq!(
            fs::read_to_string(self.path).unwrap(),
            self.original,
            "{} was written through the container",
            self.path
        );
    }
}

impl Drop for HostFile {
    fn drop(&mut self) {
        if fs::read_to_string(self.path).ok().as_deref() != Some(self.original.as_str()) {
            let _ = fs::write(self.path, self.original.trim_end());
        }
    }
}

/// The bind source of a case: a decoy made by the test, or a host path.
pub(crate) enum Source {
    /// A regular file (or, for a directory destination, a directory of the files the write
    /// would reach) that would swallow the write.
    Decoy,
    /// The host's core_pattern, a kernel-global procfs file that would receive the write.
    CorePattern,
}

/// Binds `source` over `destination` (inside the container's /proc) and runs a container
/// under a loaded profile: it must run confined or not at all.
fn label_not_redirected(tag: &str, destination: &str, source: Source) {
    if !iso_testutil::vm_feature_or_skip(iso_testutil::VmFeature::AppArmor) {
        return;
    }
    let Some(mut fx) = Fixture::new(BIN, tag) else {
        return;
    };
    let profile = TestProfile::load("iso-test-sec-aa-redirect");
    let core_pattern = HostFile::save(CORE_PATTERN);
    let is_dir = !destination.ends_with("exec");
    let decoy = fx.path().join("decoy");
    if is_dir {
        fs::create_dir_all(decoy.join("apparmor")).unwrap();
        for f in ["exec", "current", "apparmor/exec", "apparmor/current"] {
            fs::write(decoy.join(f), "decoy\n").unwrap();
        }
    } else {
        fs::write(&decoy, "decoy\n").unwrap();
    }
    let source = match source {
        Source::Decoy => decoy.to_str().unwrap().to_owned(),
        Source::CorePattern => CORE_PATTERN.to_owned(),
    };
    let mut config = fx.config("sleep 600");
    config["process"]["apparmorProfile"] = json!(profile.name);
    config["mounts"].as_array_mut().unwrap().push(json!({
        "destination": destination, "type": "bind", "source": source, "options": ["bind", "rw"]
    }));
    fx.write_config(&config);
    let id = fx.id(tag);
    let created = fx.rt(&["create", &id]);
    if created.status.success() {
        let started = fx.rt(&["start", &id]);
        match init_pid(&fx, &id) {
            Some(pid) if started.status.success() => {
                let label = fs::read_to_string(format!("/proc/{pid}/attr/current")).unwrap();
                assert_eq!(label.trim_end(), profile.label(), "{destination}");
                eprintln!("{destination}: started under {label}");
            }
            // A failed start must not have let the program run anyway.
            Some(pid) => {
                eprintln!("{destination}: refused by start: {}", text(&started.stderr));
                let exe = fs::read_link(format!("/proc/{pid}/exe")).ok();
                let label = fs::read_to_string(format!("/proc/{pid}/attr/current"));
                assert!(
                    !exe.is_some_and(|e| e.ends_with("busybox"))
                        || label.is_ok_and(|l| l.trim_end() == profile.label()),
                    "start failed ({}) but the program runs unconfined",
                    text(&started.stderr)
                );
            }
            None => eprintln!(
                "{destination}: no init after start: {}",
                text(&started.stderr)
            ),
        }
        assert!(fx.rt(&["delete", "--force", &id]).status.success());
    } else {
        eprintln!(
            "{destination}: refused by create: {}",
            text(&created.stderr)
        );
    }
    let left = fx.leftovers(&id);
    assert!(left.is_empty(), "{left:?}");
    core_pattern.assert_unchanged();
    let written: Vec<_> = walk(&decoy)
        .into_iter()
        .filter(|p| fs::read_to_string(p).unwrap() != "decoy\n")
        .collect();
    assert!(written.is_empty(), "decoy written: {written:?}");
}

/// The container's init pid while it has one (`state` reports 0 once stopped).
pub fn init_pid(fx: &Fixture, id: &str) -> Option<i64> {
    fx.state_opt(id)?["pid"].as_i64().filter(|p| *p > 0)
}

/// The regular files under `path` (itself if a file).
fn walk(path: &std::path::Path) -> Vec<std::path::PathBuf> {
    if path.is_dir() {
        fs::read_dir(path)
            .unwrap()
            .flat_map(|e| walk(&e.unwrap().path()))
            .collect()
    } else {
        vec![path.to_path_buf()]
    }
}

#[test]
fn vm_apparmor_label_file_bound_over_with_a_plain_file() {
    label_not_redirected(
        "sec-aa-file",
        "/proc/self/attr/apparmor/exec",
        Source::Decoy,
    );
}

#[test]
fn vm_apparmor_legacy_label_file_bound_over_with_a_plain_file() {
    label_not_redirected("sec-aa-legacy", "/proc/1/attr/exec", Source::Decoy);
}

/// Through the /proc/self symlink: refused by create today (a symlink in a procfs
/// destination).
#[test]
fn vm_apparmor_attr_directory_bound_over_through_proc_self() {
    label_not_redirected("sec-aa-selfdir", "/proc/self/attr", Source::Decoy);
}

/// A plain procfs directory (the init is pid 1 of its PID namespace): create accepts the
/// bind, so this is the label write itself meeting the decoy at start.
#[test]
fn vm_apparmor_attr_directory_bound_over() {
    label_not_redirected("sec-aa-dir", "/proc/1/attr", Source::Decoy);
}

#[test]
fn vm_apparmor_attr_apparmor_directory_bound_over() {
    label_not_redirected("sec-aa-subdir", "/proc/1/attr/apparmor", Source::Decoy);
}

#[test]
fn vm_apparmor_label_file_bound_over_with_core_pattern() {
    label_not_redirected(
        "sec-aa-core",
        "/proc/1/attr/apparmor/exec",
        Source::CorePattern,
    );
}
