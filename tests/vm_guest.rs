//! Checks of the VM tier itself: inside the guest the host properties that this machine lacks
//! are really there, so the `vm_*` tests of every crate run where they mean something.

use iso_testutil::{vm_feature_or_skip, VmFeature};

#[test]
fn vm_guest_has_pure_cgroup_v2() {
    if !vm_feature_or_skip(VmFeature::CgroupV2) {
        return;
    }
    let controllers = std::fs::read_to_string("/sys/fs/cgroup/cgroup.subtree_control").unwrap();
    for c in ["cpu", "memory", "pids", "io", "cpuset"] {
        assert!(
            controllers.split_whitespace().any(|x| x == c),
            "{controllers}"
        );
    }
    assert_eq!(
        std::fs::read_to_string("/proc/self/cgroup")
            .unwrap()
            .lines()
            .count(),
        1
    );
}

#[test]
fn vm_guest_has_apparmor() {
    if !vm_feature_or_skip(VmFeature::AppArmor) {
        return;
    }
    let enabled = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").unwrap();
    assert_eq!(enabled.trim(), "Y");
}
