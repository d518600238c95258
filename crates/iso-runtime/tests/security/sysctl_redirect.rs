//! Sysctl writes cannot be redirected by a bind mount over /proc/sys (CVE-2025-52881 class:
//! the runtime writes `linux.sysctl` through the container's /proc after the config's mounts
//! are in place; a bind there can swallow the write, or point it at another procfs file such
//! as the kernel-global core_pattern).
//!
//! Each case asks for a namespaced sysctl (kernel.domainname, per UTS namespace) and binds a
//! decoy over the file or a directory above it. Either create refuses the bundle, or the
//! value really lands in the container's UTS namespace (read from the host with nsenter);
//! the host's core_pattern and domainname and every decoy stay untouched. Runs in the VM
//! tier: a vulnerable runtime would overwrite the kernel-global core_pattern, acceptable in
//! the throwaway guest only.

use std::fs;
use std::process::Command;

use iso_testutil::bundle::{text, Fixture};
use serde_json::json;

use crate::apparmor_redirect::{init_pid, HostFile, Source, CORE_PATTERN};
use crate::BIN;

const VALUE: &str = "iso-redirect.example";

fn sysctl_not_redirected(tag: &str, destination: &str, source: Source) {
    // Needs no VM feature itself; gated on one so that it runs only in the guest (see the
    // module doc).
    if !iso_testutil::vm_feature_or_skip(iso_testutil::VmFeature::CgroupV2) {
        return;
    }
    let Some(mut fx) = Fixture::new(BIN, tag) else {
        return;
    };
    let core_pattern = HostFile::save(CORE_PATTERN);
    let domainname = HostFile::save("/proc/sys/kernel/domainname");
    let decoy = fx.path().join("decoy");
    let decoy_file = match destination {
        "/proc/sys" => decoy.join("kernel/domainname"),
        "/proc/sys/kernel" => decoy.join("domainname"),
        _ => decoy.clone(),
    };
    fs::create_dir_all(decoy_file.parent().unwrap()).unwrap();
    fs::write(&decoy_file, "decoy\n").unwrap();
    let source = match source {
        Source::Decoy => decoy.to_str().unwrap().to_owned(),
        Source::CorePattern => CORE_PATTERN.to_owned(),
    };
    let mut config = fx.config("sleep 600");
    config["linux"]["sysctl"] = json!({"kernel.domainname": VALUE});
    config["mounts"].as_array_mut().unwrap().push(json!({
        "destination": destination, "type": "bind", "source": source, "options": ["rbind", "rw"]
    }));
    fx.write_config(&config);
    let id = fx.id(tag);
    let created = fx.rt(&["create", &id]);
    if created.status.success() {
        let pid = init_pid(&fx, &id).expect("created container has an init");
        let out = Command::new("nsenter")
            .args([
                "-t",
                &pid.to_string(),
                "-u",
                "cat",
                "/proc/sys/kernel/domainname",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "nsenter: {}", text(&out.stderr));
        assert_eq!(
            text(&out.stdout).trim_end(),
            VALUE,
            "{destination}: the sysctl did not reach the container's UTS namespace"
        );
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
    domainname.assert_unchanged();
    assert_eq!(fs::read_to_string(&decoy_file).unwrap(), "decoy\n");
}

#[test]
fn vm_sysctl_file_bound_over_with_a_plain_file() {
    sysctl_not_redirected(
        "sec-sysctl-file",
        "/proc/sys/kernel/domainname",
        Source::Decoy,
    );
}

#[test]
fn vm_sysctl_file_bound_over_with_core_pattern() {
    sysctl_not_redirected(
        "sec-sysctl-core",
        "/proc/sys/kernel/domainname",
        Source::CorePattern,
    );
}

#[test]
fn vm_sysctl_directory_bound_over() {
    sysctl_not_redirected("sec-sysctl-dir", "/proc/sys/kernel", Source::Decoy);
}

#[test]
fn vm_proc_sys_bound_over() {
    sysctl_not_redirected("sec-sysctl-procsys", "/proc/sys", Source::Decoy);
}
