//! Plans from configuration snippets, without root and without touching the host: every
//! field `create` and `exec` read, and what an invalid one is refused with.

use std::path::{Path, PathBuf};

use iso_cgroups::{parse_mountinfo, Controller, Layout, Mode};
use iso_chroot::{DeviceKind, EnterMethod, Mount, MountKind, Propagation};
use iso_ns::Namespace;
use proptest::prelude::*;
use serde_json::{json, Value};

use super::namespaces::{sysctl_namespace, JoinNs};
use super::*;
use crate::hooks::HookKind;

const HYBRID: &str = "\
30 25 0:26 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
31 25 0:27 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n\
32 25 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
33 25 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n\
34 25 0:30 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n";

const UNIFIED: &str = "30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";

fn layout(mountinfo: &str) -> Layout {
    Layout::from_mounts(&parse_mountinfo(mountinfo).unwrap(), |_| {
        vec![Controller::Memory, Controller::Pids, Controller::Cpu]
    })
    .unwrap()
}

/// The facts of a hybrid host without AppArmor or SELinux and without a seccomp cache.
fn facts(layout: &Layout) -> HostFacts<'_> {
    HostFacts {
        layout,
        last_cap: 40,
        lsm_active: &|_| false,
        landlock_abi: &|| 7,
        seccomp_cache: None,
        other_exec_formats: &|| false,
        rootless: false,
        unprivileged: false,
    }
}

/// Merges `snippet` into a minimal valid configuration (objects merge, other values
/// replace).
fn config(snippet: Value) -> Value {
    let mut base = json!({
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs"},
        "process": {"cwd": "/", "args": ["/bin/true"], "user": {"uid": 0, "gid": 0}},
        // Without these, oci-spec fills in its defaults (runc's namespaces and paths).
        "linux": {"namespaces": [], "maskedPaths": [], "readonlyPaths": []},
    });
    merge(&mut base, snippet);
    base
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(slot) if v.is_object() => merge(slot, v),
                    _ => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

fn spec(snippet: Value) -> Spec {
    serde_json::from_value(config(snippet)).expect("the snippet is a valid configuration")
}

struct Case {
    id: ContainerId,
    preserve_fds: i32,
    no_pivot: bool,
    console_socket: bool,
    mountinfo: &'static str,
    lsm: bool,
    policy: Option<Policy>,
    rootless: bool,
    unprivileged: bool,
    systemd_cgroup: bool,
}

impl Case {
    fn new() -> Self {
        Case {
            id: ContainerId::new("c1").unwrap(),
            preserve_fds: 0,
            no_pivot: false,
            console_socket: false,
            mountinfo: HYBRID,
            lsm: false,
            policy: None,
            rootless: false,
            unprivileged: false,
            systemd_cgroup: false,
        }
    }

    fn plan(&self, snippet: Value) -> Result<Plan, Error> {
        self.plan_spec(&spec(snippet))
    }

    fn plan_spec(&self, spec: &Spec) -> Result<Plan, Error> {
        let layout = layout(self.mountinfo);
        let lsm = |_| self.lsm;
        let facts = HostFacts {
            lsm_active: &lsm,
            rootless: self.rootless,
            unprivileged: self.unprivileged,
            ..facts(&layout)
        };
        let req = Request {
            id: &self.id,
            bundle: Path::new("/b"),
            rootfs: Path::new("/b/rootfs"),
            preserve_fds: self.preserve_fds,
            no_pivot: self.no_pivot,
            console_socket: self.console_socket,
            systemd_cgroup: self.systemd_cgroup,
        };
        Plan::from_spec(spec, &req, &facts, self.policy.as_ref())
    }
}

fn plan(snippet: Value) -> Plan {
    Case::new().plan(snippet).expect("plan")
}

/// The error's text; it must name `field`.
fn refused(snippet: Value, field: &str) -> String {
    let err = Case::new().plan(snippet).expect_err("refused").to_string();
    assert!(err.contains(field), "{field} not in: {err}");
    err
}

fn set(kinds: &[Namespace]) -> iso_ns::NamespaceSet {
    let mut s = iso_ns::NamespaceSet::default();
    for k in kinds {
        s.insert(*k);
    }
    s
}

// ---- record and cgroup ----

#[test]
fn a_minimal_config_plans_a_container_in_the_hosts_namespaces() {
    let p = plan(json!({}));
    assert_eq!(p.record.id, "c1");
    assert_eq!(p.record.bundle, Path::new("/b"));
    assert_eq!(p.record.rootfs, Path::new("/b/rootfs"));
    assert_eq!(p.record.oci_version, "1.0.2");
    assert_eq!((p.record.pid, p.record.created_done), (0, false));
    assert_eq!(p.cgroup.path.as_str(), "/iso/c1");
    assert_eq!(p.cgroup.resources, None);
    assert!(p.namespaces.new.is_empty());
    assert!(p.namespaces.join.is_empty());
    assert!(!p.init.become_root && !p.init.new_mount_ns && !p.init.new_cgroup_ns);
    assert!(!p.terminal);
    assert_eq!(p.init.rootfs.path, Path::new("/b/rootfs"));
}

#[test]
fn an_absolute_cgroups_path_is_used_as_is() {
    let p = plan(json!({"linux": {"cgroupsPath": "/iso-test/x"}}));
    assert_eq!(p.cgroup.path.as_str(), "/iso-test/x");
    assert_eq!(p.record.cgroup, "/iso-test/x");
}

#[test]
fn a_relative_cgroups_path_goes_below_the_default_parent() {
    let p = plan(json!({"linux": {"cgroupsPath": "a/b"}}));
    assert_eq!(p.cgroup.path.as_str(), "/iso/a/b");
    assert_eq!(cgroup_path_for(Some(""), "x"), "/iso/x");
}

#[test]
fn a_cgroups_path_that_climbs_is_refused() {
    assert!(Case::new()
        .plan(json!({"linux": {"cgroupsPath": "/a/../../b"}}))
        .is_err());
}

#[test]
fn resources_are_converted_and_recorded() {
    let p = plan(json!({"linux": {"resources": {"pids": {"limit": 64}}}}));
    let res = p.cgroup.resources.expect("resources");
    assert_eq!(
        res.pids.and_then(|p| p.limit),
        Some(iso_cgroups::Limit::Value(64))
    );
    assert!(res.devices.is_empty(), "no device list, no default rules");
    assert!(p.record.resources.is_some());
}

#[test]
fn a_device_list_gets_the_default_devices_allowed_after_it() {
    let p = plan(json!({"linux": {"resources": {"devices": [{"allow": false, "access": "rwm"}]}}}));
    let devices = p.cgroup.resources.expect("resources").devices;
    assert_eq!(devices.len(), 1 + default_device_rules().len());
    assert!(!devices[0].allow);
    assert!(devices[1..].iter().all(|r| r.allow));
}

#[test]
fn annotations_and_hooks_are_recorded() {
    let p = plan(json!({
        "annotations": {"k": "v"},
        "hooks": {"poststop": [{"path": "/bin/true"}]},
    }));
    assert_eq!(p.record.annotations.get("k").map(String::as_str), Some("v"));
    assert!(p.record.hooks.is_some());
}

#[test]
fn a_policy_is_applied_and_its_changes_annotated() {
    let mut case = Case::new();
    case.policy = Some(Policy::from_toml("[defaults]\npids = 100\n").unwrap());
    let p = case.plan(json!({})).unwrap();
    let res = p.cgroup.resources.expect("the policy's pids limit");
    assert_eq!(
        res.pids.and_then(|p| p.limit),
        Some(iso_cgroups::Limit::Value(100))
    );
    assert!(p
        .record
        .annotations
        .contains_key(crate::policy::ANNOTATION_CHANGES));
}

// ---- namespaces ----

#[test]
fn namespaces_without_a_path_are_new() {
    let p = plan(json!({"linux": {"namespaces": [
        {"type": "pid"}, {"type": "network"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}
    ]}}));
    assert_eq!(
        p.namespaces.new,
        set(&[
            Namespace::Pid,
            Namespace::Net,
            Namespace::Mount,
            Namespace::Ipc,
            Namespace::Uts
        ])
    );
    assert!(p.init.new_mount_ns);
    assert!(!p.init.become_root);
}

#[test]
fn namespaces_with_a_path_are_joined_and_pid_is_the_runtimes() {
    let p = plan(json!({"linux": {"namespaces": [
        {"type": "network", "path": "/proc/1/ns/net"},
        {"type": "pid", "path": "/proc/1/ns/pid"},
        {"type": "mount"}
    ]}}));
    assert_eq!(
        p.namespaces.join,
        vec![JoinNs {
            kind: Namespace::Net,
            path: PathBuf::from("/proc/1/ns/net")
        }]
    );
    assert_eq!(
        p.namespaces.join_pid.as_deref(),
        Some(Path::new("/proc/1/ns/pid"))
    );
    assert_eq!(p.namespaces.new, set(&[Namespace::Mount]));
}

#[test]
fn an_empty_path_means_a_new_namespace() {
    let p = plan(json!({"linux": {"namespaces": [{"type": "ipc", "path": ""}]}}));
    assert_eq!(p.namespaces.new, set(&[Namespace::Ipc]));
}

#[test]
fn a_joined_user_namespace_is_joined_first() {
    let p = plan(json!({"linux": {"namespaces": [
        {"type": "network", "path": "/n"},
        {"type": "ipc", "path": "/i"},
        {"type": "user", "path": "/u"},
    ]}}));
    // The clone happens inside it (its new namespaces belong to it); the others are
    // joined after, with its credentials.
    assert_eq!(p.namespaces.join_user.as_deref(), Some(Path::new("/u")));
    let kinds: Vec<_> = p.namespaces.join.iter().map(|j| j.kind).collect();
    assert_eq!(kinds, [Namespace::Net, Namespace::Ipc]);
    assert!(p.init.become_root, "root of the joined user namespace");
    assert!(p.namespaces.uid_map.is_none());
}

#[test]
fn a_new_cgroup_namespace_is_unshared_by_the_init_not_cloned() {
    let p = plan(json!({"linux": {"namespaces": [{"type": "cgroup"}, {"type": "pid"}]}}));
    assert!(p.init.new_cgroup_ns);
    assert!(p.namespaces.new_cgroup_ns);
    assert_eq!(p.namespaces.new, set(&[Namespace::Pid]));
}

#[test]
fn a_hostname_needs_a_uts_namespace_new_or_joined() {
    refused(json!({"hostname": "box"}), "needs a UTS namespace");
    let p = plan(json!({"hostname": "box", "domainname": "ex",
        "linux": {"namespaces": [{"type": "uts"}]}}));
    assert_eq!(p.init.hostname.as_deref(), Some("box"));
    assert_eq!(p.init.domainname.as_deref(), Some("ex"));
    assert!(!p.namespaces.uts_joined);
    // Set in the joined one; launch checks that it is not the runtime's own.
    let p = plan(json!({"domainname": "example",
        "linux": {"namespaces": [{"type": "uts", "path": "/u"}]}}));
    assert!(p.namespaces.uts_joined);
    assert_eq!(p.init.domainname.as_deref(), Some("example"));
}

#[test]
fn time_offsets_go_with_a_new_time_namespace() {
    let p = plan(json!({"linux": {"namespaces": [{"type": "time"}],
        "timeOffsets": {"monotonic": {"secs": 86400}, "boottime": {"secs": -5, "nanosecs": 7}}}}));
    let offsets = p.namespaces.time_offsets.expect("offsets");
    assert_eq!(offsets.monotonic, iso_ns::ClockOffset::from_secs(86400));
    assert_eq!(offsets.boottime, iso_ns::ClockOffset { secs: -5, nanos: 7 });
    assert!(p.namespaces.new.contains(Namespace::Time));
    refused(
        json!({"linux": {"timeOffsets": {"monotonic": {"secs": 1}}}}),
        "needs a new time namespace",
    );
    refused(
        json!({"linux": {"namespaces": [{"type": "time"}],
            "timeOffsets": {"realtime": {"secs": 1}}}}),
        "linux.timeOffsets",
    );
    refused(
        json!({"linux": {"namespaces": [{"type": "time"}],
            "timeOffsets": {"boottime": {"secs": 1, "nanosecs": 1000000000u32}}}}),
        "linux.timeOffsets",
    );
}

#[test]
fn id_maps_go_with_a_new_user_namespace() {
    let maps = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    let p = plan(json!({"linux": {"namespaces": [{"type": "user"}],
        "uidMappings": maps, "gidMappings": maps}}));
    let expected = vec![iso_ns::IdMapEntry::new(0, 100000, 65536)];
    assert_eq!(
        p.namespaces.uid_map,
        Some(iso_ns::UidMap::new(expected.clone()).unwrap())
    );
    assert_eq!(
        p.namespaces.gid_map,
        Some(iso_ns::GidMap::new(expected).unwrap())
    );
    assert!(p.init.become_root);
}

#[test]
fn id_maps_without_a_new_user_namespace_are_not_written() {
    let maps = json!([{"containerID": 0, "hostID": 100000, "size": 1}]);
    let p = plan(json!({"linux": {"uidMappings": maps}}));
    assert_eq!(p.namespaces.uid_map, None);
}

// ---- mounts ----

#[test]
fn mounts_keep_their_order_and_get_their_kind_from_the_type() {
    let p = plan(
        json!({"linux": {"namespaces": [{"type": "mount"}]}, "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts"},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue"},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]},
            {"destination": "/mnt", "type": "fuse.x", "source": "x"},
        ]}),
    );
    let kinds: Vec<_> = p
        .init
        .rootfs
        .mounts
        .iter()
        .map(|m| match m {
            PlannedMount::Plain(m) => m.kind().clone(),
            other => panic!("not a plain mount: {other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            MountKind::Proc,
            MountKind::Tmpfs,
            MountKind::Devpts,
            MountKind::Mqueue,
            MountKind::Sysfs,
            MountKind::Other("fuse.x".into())
        ]
    );
    assert!(p.init.rootfs.dev_tmpfs, "a tmpfs on /dev gets the symlinks");
}

#[test]
fn mount_options_are_parsed_into_the_mount() {
    let p = plan(json!({"mounts": [
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "size=64k"]},
    ]}));
    let expected = Mount::new(MountKind::Tmpfs, "/tmp")
        .source("tmpfs")
        .options("nosuid,nodev,size=64k")
        .unwrap();
    assert_eq!(p.init.rootfs.mounts, [PlannedMount::Plain(expected)]);
}

#[test]
fn tmpcopyup_is_the_runtimes_and_a_read_only_dev_is_made_read_only_last() {
    let p = plan(json!({"mounts": [
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["ro", "mode=755"]},
        {"destination": "/etc", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "ro"]},
    ]}));
    let dev = Mount::new(MountKind::Tmpfs, "/dev")
        .source("tmpfs")
        .options("mode=755")
        .unwrap();
    let etc = Mount::new(MountKind::Tmpfs, "/etc")
        .source("tmpfs")
        .options("ro")
        .unwrap();
    assert_eq!(
        p.init.rootfs.mounts,
        [PlannedMount::Plain(dev), PlannedMount::TmpfsCopyUp(etc)]
    );
    assert!(p.init.rootfs.dev_tmpfs && p.init.rootfs.dev_readonly);
    let p = plan(json!({"mounts": [
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
    ]}));
    assert!(p.init.rootfs.dev_tmpfs && !p.init.rootfs.dev_readonly);
}

#[test]
fn a_bind_at_proc_is_the_hosts_proc_checked_when_mounted() {
    let p = plan(json!({"mounts": [
        {"destination": "/proc", "type": "bind", "source": "/proc", "options": ["rbind"]},
    ]}));
    assert!(matches!(&p.init.rootfs.mounts[0], PlannedMount::HostProc(m)
        if m.source_path() == Some(Path::new("/proc"))));
}

#[test]
fn bind_sources_are_cloned_by_the_runtime_for_a_user_namespace() {
    let mounts = json!([
        {"destination": "/data", "type": "bind", "source": "/srv", "options": ["rbind"]},
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"},
    ]);
    let p = plan(json!({"mounts": mounts.clone()}));
    assert_eq!(p.init.rootfs.detached_mounts().count(), 0);
    let p = plan(json!({"mounts": mounts, "linux": {"namespaces": [{"type": "user"}]}}));
    let cloned: Vec<usize> = p.init.rootfs.detached_mounts().map(|(i, _, _)| i).collect();
    assert_eq!(cloned, [0]);
}

#[test]
fn a_relative_bind_source_is_the_bundles() {
    let p = plan(json!({"mounts": [
        {"destination": "/data", "type": "bind", "source": "data", "options": ["rbind"]},
        {"destination": "/etc/hosts", "source": "/etc/hosts", "options": ["bind", "ro"]},
    ]}));
    let sources: Vec<_> = p
        .init
        .rootfs
        .mounts
        .iter()
        .map(|m| match m {
            PlannedMount::Plain(m) => (m.kind().clone(), m.source_path().map(Path::to_path_buf)),
            other => panic!("not a plain mount: {other:?}"),
        })
        .collect();
    assert_eq!(
        sources,
        [
            (MountKind::RBind, Some(PathBuf::from("/b/data"))),
            (MountKind::Bind, Some(PathBuf::from("/etc/hosts"))),
        ]
    );
    assert!(!p.init.rootfs.dev_tmpfs);
}

#[test]
fn a_bind_option_makes_any_type_a_bind() {
    let p = plan(
        json!({"mounts": [{"destination": "/x", "type": "none", "source": "/y", "options": ["rbind"]}]}),
    );
    assert!(matches!(&p.init.rootfs.mounts[0],
        PlannedMount::Plain(m) if m.kind() == &MountKind::RBind && m.source_path() == Some(Path::new("/y"))));
}

#[test]
fn a_relative_mount_destination_is_refused() {
    refused(
        json!({"mounts": [{"destination": "tmp", "type": "tmpfs"}]}),
        "mounts.destination",
    );
}

#[test]
fn a_mount_without_a_type_is_refused() {
    refused(json!({"mounts": [{"destination": "/tmp"}]}), "mounts.type");
}

#[test]
fn a_cgroup_mount_on_a_hybrid_host_binds_each_v1_hierarchy() {
    let p = plan(json!({"linux": {"cgroupsPath": "/t/c"},
        "mounts": [{"destination": "/sys/fs/cgroup", "type": "cgroup", "options": ["ro"]}]}));
    let PlannedMount::Cgroup {
        destination,
        tmpfs,
        readonly,
        binds,
    } = &p.init.rootfs.mounts[0]
    else {
        panic!("a cgroup mount");
    };
    assert_eq!(destination, Path::new("/sys/fs/cgroup"));
    assert!(*tmpfs && *readonly);
    let names: Vec<_> = binds.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["systemd", "memory", "cpu,cpuacct", "pids", "unified"]
    );
    assert_eq!(binds[1].1, Path::new("/sys/fs/cgroup/memory/t/c"));
}

#[test]
fn a_cgroup_mount_on_a_v2_host_is_one_bind() {
    let mut case = Case::new();
    case.mountinfo = UNIFIED;
    let p = case
        .plan(json!({"linux": {"cgroupsPath": "/t/c"},
            "mounts": [{"destination": "/sys/fs/cgroup", "type": "cgroup2"}]}))
        .unwrap();
    assert_eq!(
        p.init.rootfs.mounts,
        [PlannedMount::Cgroup {
            destination: PathBuf::from("/sys/fs/cgroup"),
            tmpfs: false,
            readonly: false,
            binds: vec![(String::new(), PathBuf::from("/sys/fs/cgroup/t/c"))],
        }]
    );
    assert_eq!(layout(UNIFIED).mode(), Mode::Unified);
}

#[test]
fn configured_devices_are_allowed_after_a_device_list() {
    let p = plan(json!({"linux": {
        "resources": {"devices": [{"allow": false, "access": "rwm"}]},
        "devices": [{"path": "/dev/tun", "type": "c", "major": 10, "minor": 200},
                    {"path": "/dev/fifo", "type": "p", "major": 0, "minor": 0}]}}));
    let devices = p.cgroup.resources.expect("resources").devices;
    assert_eq!(devices.len(), 2 + default_device_rules().len());
    let last = devices.last().expect("a rule");
    assert!(last.allow);
    assert_eq!((last.major, last.minor), (Some(10), Some(200)));
}

#[test]
fn a_configured_dev_ptmx_stays_the_devpts_symlink() {
    let p = plan(json!({"linux": {"devices": [
        {"path": "/dev/ptmx", "type": "c", "major": 5, "minor": 2}]}}));
    assert!(p
        .init
        .rootfs
        .devices
        .iter()
        .all(|d| d.path() != Path::new("/dev/ptmx")));
}

// ---- devices, propagation, paths, root ----

#[test]
fn the_default_devices_are_always_created() {
    let p = plan(json!({}));
    let paths: Vec<_> = p
        .init
        .rootfs
        .devices
        .iter()
        .map(|d| d.path().to_path_buf())
        .collect();
    for dev in [
        "/dev/null",
        "/dev/zero",
        "/dev/full",
        "/dev/random",
        "/dev/urandom",
        "/dev/tty",
    ] {
        assert!(paths.contains(&PathBuf::from(dev)), "{dev} in {paths:?}");
    }
}

#[test]
fn a_configured_device_replaces_a_default_at_its_path_and_others_are_added() {
    let p = plan(json!({"linux": {"devices": [
        {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600, "uid": 5, "gid": 6},
        {"path": "/dev/sda", "type": "b", "major": 8, "minor": 0},
        {"path": "/dev/fifo", "type": "p", "major": 0, "minor": 0},
    ]}}));
    let devices = &p.init.rootfs.devices;
    assert_eq!(
        devices
            .iter()
            .filter(|d| d.path() == Path::new("/dev/null"))
            .count(),
        1
    );
    let null = iso_chroot::Device::new(DeviceKind::Char, "/dev/null", 1, 3)
        .mode(0o600)
        .owner(5, 6);
    assert!(devices.contains(&null), "{devices:?}");
    let sda = devices
        .iter()
        .find(|d| d.path() == Path::new("/dev/sda"))
        .unwrap();
    assert_eq!((sda.kind(), sda.major_minor()), (DeviceKind::Block, (8, 0)));
    let fifo = devices
        .iter()
        .find(|d| d.path() == Path::new("/dev/fifo"))
        .unwrap();
    assert_eq!(fifo.kind(), DeviceKind::Fifo);
    assert_eq!(
        devices.last().map(|d| d.path()),
        Some(Path::new("/dev/fifo"))
    );
}

#[test]
fn rootfs_propagation_is_parsed() {
    assert_eq!(plan(json!({})).init.rootfs.propagation, None);
    let p = plan(json!({"linux": {"rootfsPropagation": "rprivate"}}));
    assert_eq!(p.init.rootfs.propagation, Some(Propagation::RPrivate));
    let p = plan(json!({"linux": {"rootfsPropagation": "shared"}}));
    assert_eq!(p.init.rootfs.propagation, Some(Propagation::Shared));
    refused(
        json!({"linux": {"rootfsPropagation": "sideways"}}),
        "linux.rootfsPropagation",
    );
}

#[test]
fn masked_and_readonly_paths_are_kept_in_order() {
    let p = plan(
        json!({"linux": {"maskedPaths": ["/proc/kcore", "/proc/keys"],
        "readonlyPaths": ["/proc/sys"]}}),
    );
    assert_eq!(
        p.init.rootfs.masked,
        [PathBuf::from("/proc/kcore"), PathBuf::from("/proc/keys")]
    );
    assert_eq!(p.init.rootfs.readonly, [PathBuf::from("/proc/sys")]);
}

#[test]
fn no_pivot_enters_with_move_and_chroot() {
    assert_eq!(plan(json!({})).init.rootfs.enter, EnterMethod::Auto);
    let mut case = Case::new();
    case.no_pivot = true;
    assert_eq!(
        case.plan(json!({})).unwrap().init.rootfs.enter,
        EnterMethod::MoveRoot
    );
}

#[test]
fn root_readonly_is_planned() {
    assert!(!plan(json!({})).init.rootfs.readonly_root);
    assert!(
        plan(json!({"root": {"path": "rootfs", "readonly": true}}))
            .init
            .rootfs
            .readonly_root
    );
}

// ---- sysctls ----

#[test]
fn a_sysctl_names_its_file_and_namespace() {
    let p = plan(
        json!({"linux": {"namespaces": [{"type": "network"}, {"type": "ipc"}],
        "sysctl": {"net.ipv4.ip_forward": "1", "kernel.shmmax": "4096"}}}),
    );
    let got: Vec<_> = p
        .init
        .sysctls
        .iter()
        .map(|s| (s.path.clone(), s.value.as_str(), s.namespace, s.joined))
        .collect();
    assert_eq!(
        got,
        [
            (
                PathBuf::from("sys/kernel/shmmax"),
                "4096",
                Namespace::Ipc,
                false
            ),
            (
                PathBuf::from("sys/net/ipv4/ip_forward"),
                "1",
                Namespace::Net,
                false
            ),
        ]
    );
}

#[test]
fn a_sysctl_in_a_joined_namespace_is_left_for_launch_to_check() {
    let p = plan(
        json!({"linux": {"namespaces": [{"type": "network", "path": "/n"}],
        "sysctl": {"net.core.somaxconn": "100"}}}),
    );
    assert!(p.init.sysctls[0].joined);
}

#[test]
fn a_global_sysctl_or_one_without_its_namespace_is_refused() {
    for (sysctl, reason) in [
        (json!({"vm.swappiness": "1"}), "not namespaced"),
        (json!({"net.ipv4.ip_forward": "1"}), "its own Net namespace"),
    ] {
        let err = refused(json!({"linux": {"sysctl": sysctl}}), "linux.sysctl");
        assert!(err.contains(reason), "{reason} not in: {err}");
    }
}

#[test]
fn a_malformed_sysctl_key_is_refused() {
    for key in ["net..ipv4", "net/ipv4.ip_forward", "net.ipv4/../x"] {
        refused(
            json!({"linux": {"namespaces": [{"type": "network"}], "sysctl": {key: "1"}}}),
            "linux.sysctl",
        );
    }
}

#[test]
fn only_namespaced_sysctls_have_a_namespace() {
    assert_eq!(
        sysctl_namespace("net.ipv4.ip_forward"),
        Some(Namespace::Net)
    );
    assert_eq!(
        sysctl_namespace("net/ipv4/ip_forward"),
        Some(Namespace::Net)
    );
    assert_eq!(sysctl_namespace("kernel.shmmax"), Some(Namespace::Ipc));
    assert_eq!(sysctl_namespace("fs.mqueue.msg_max"), Some(Namespace::Ipc));
    assert_eq!(sysctl_namespace("kernel.domainname"), Some(Namespace::Uts));
    for global in [
        "vm.swappiness",
        "kernel.pid_max",
        "fs.file-max",
        "kernel.shmmaxx",
    ] {
        assert_eq!(sysctl_namespace(global), None, "{global}");
    }
}

// ---- process ----

#[test]
fn a_config_without_a_process_is_refused() {
    let mut v = config(json!({}));
    v.as_object_mut().unwrap().remove("process");
    let spec: Spec = serde_json::from_value(v).unwrap();
    let err = Case::new().plan_spec(&spec).unwrap_err();
    assert!(err.to_string().contains("process is required"), "{err}");
    assert!(err.to_string().contains("/b/config.json"), "{err}");
}

#[test]
fn args_and_env_become_c_strings() {
    let p = plan(json!({"process": {"args": ["sh", "-c", "echo"], "env": ["A=1", "B=2"]}}));
    let proc = &p.init.proc;
    assert_eq!(proc.program.as_bytes(), b"sh");
    let argv: Vec<_> = proc.argv.iter().map(|a| a.to_str().unwrap()).collect();
    assert_eq!(argv, ["sh", "-c", "echo"]);
    let envp: Vec<_> = proc.envp.iter().map(|a| a.to_str().unwrap()).collect();
    assert_eq!(envp, ["A=1", "B=2"]);
}

#[test]
fn empty_args_are_refused() {
    refused(json!({"process": {"args": []}}), "process.args");
}

#[test]
fn a_nul_in_args_or_env_is_refused() {
    refused(json!({"process": {"args": ["a\u{0}b"]}}), "process.args");
    refused(json!({"process": {"env": ["A=\u{0}"]}}), "process.env");
}

#[test]
fn a_relative_cwd_is_refused() {
    refused(json!({"process": {"cwd": "tmp"}}), "process.cwd");
    assert_eq!(
        plan(json!({"process": {"cwd": "/srv"}})).init.proc.cwd,
        Path::new("/srv")
    );
}

#[test]
fn the_program_is_searched_in_the_last_path_of_env() {
    let p = plan(json!({"process": {"env": ["PATH=/a:rel", "PATH=/x:/y:z"]}}));
    assert_eq!(
        p.init.proc.path_dirs,
        [PathBuf::from("/x"), PathBuf::from("/y")]
    );
    let p = plan(json!({}));
    assert_eq!(p.init.proc.path_dirs.len(), 6, "the default PATH");
}

#[test]
fn rlimits_are_converted() {
    let p = plan(json!({"process": {"rlimits": [
        {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
    ]}}));
    assert_eq!(
        p.init.proc.rlimits,
        [(libc::RLIMIT_NOFILE, 1024, 4096), (libc::RLIMIT_CORE, 0, 0)]
    );
}

#[test]
fn user_groups_umask_and_no_new_privileges_are_planned() {
    let p = plan(json!({"process": {"noNewPrivileges": true,
        "user": {"uid": 1000, "gid": 100, "additionalGids": [5, 6], "umask": 0o27}}}));
    let proc = &p.init.proc;
    assert_eq!(proc.umask, Some(0o27));
    assert!(proc.no_new_privs);
    let expected = iso_caps::UserSwitch::new(1000, 100)
        .groups([5, 6])
        .capabilities(iso_caps::CapConfig::new().prepare_for(40))
        .no_new_privs(true);
    assert_eq!(proc.user, expected);
}

#[test]
fn an_ambient_capability_not_permitted_and_inheritable_is_not_raised() {
    let p = plan(json!({"process": {"capabilities": {
        "bounding": ["CAP_CHOWN", "CAP_KILL"], "permitted": ["CAP_CHOWN", "CAP_KILL"],
        "inheritable": ["CAP_CHOWN"], "ambient": ["CAP_CHOWN", "CAP_KILL"],
    }}}));
    let caps: oci_spec::runtime::LinuxCapabilities = serde_json::from_value(json!({
        "bounding": ["CAP_CHOWN", "CAP_KILL"], "permitted": ["CAP_CHOWN", "CAP_KILL"],
        "inheritable": ["CAP_CHOWN"], "ambient": ["CAP_CHOWN"],
    }))
    .unwrap();
    let expected = iso_caps::UserSwitch::new(0, 0)
        .groups([])
        .capabilities(iso_caps::CapConfig::from(&caps).prepare_for(40))
        .no_new_privs(false);
    assert_eq!(p.init.proc.user, expected);
}

#[test]
fn seccomp_is_compiled_without_touching_a_cache() {
    let p = plan(json!({"linux": {"seccomp": {
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": "/run/listener.sock",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}],
    }}}));
    let bpf = p.init.proc.seccomp.as_ref().expect("a program");
    assert!(!bpf.is_empty());
    assert_eq!(
        p.init.proc.listener_path.as_deref(),
        Some(Path::new("/run/listener.sock"))
    );
    assert!(plan(json!({})).init.proc.seccomp.is_none());
}

#[test]
fn labels_need_their_security_module() {
    refused(
        json!({"process": {"apparmorProfile": "docker-default"}}),
        "process.apparmorProfile",
    );
    refused(
        json!({"process": {"selinuxLabel": "system_u:system_r:container_t:s0"}}),
        "process.selinuxLabel",
    );
    let mut case = Case::new();
    case.lsm = true;
    let p = case
        .plan(json!({"process": {"apparmorProfile": "docker-default"}}))
        .unwrap();
    assert_eq!(
        p.init.proc.apparmor_profile.as_deref(),
        Some("docker-default")
    );
}

#[test]
fn scheduling_personality_and_oom_score_are_converted() {
    let p = plan(json!({
        "process": {
            "scheduler": {"policy": "SCHED_BATCH", "nice": 5},
            "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 4},
            "oomScoreAdj": 500,
        },
        "linux": {"personality": {"domain": "LINUX32"}},
    }));
    let proc = &p.init.proc;
    assert!(proc.scheduler.is_some());
    assert_eq!(proc.ioprio, Some((2 << 13) | 4));
    assert!(proc.personality.is_some());
    assert_eq!(proc.oom_score_adj, Some(500));
}

#[test]
fn cpu_affinity_is_parsed_and_a_bad_list_names_its_field() {
    let p = plan(json!({"process": {"execCPUAffinity": {"initial": "0-1", "final": "0"}}}));
    assert!(p.init.proc.affinity_initial.is_some() && p.init.proc.affinity_final.is_some());
    refused(
        json!({"process": {"execCPUAffinity": {"initial": "5-2"}}}),
        "process.execCPUAffinity.initial",
    );
    refused(
        json!({"process": {"execCPUAffinity": {"final": "3-1"}}}),
        "process.execCPUAffinity.final",
    );
}

#[test]
fn preserved_descriptors_are_planned() {
    let mut case = Case::new();
    case.preserve_fds = 3;
    assert_eq!(case.plan(json!({})).unwrap().init.proc.preserve_fds, 3);
}

#[test]
fn a_terminal_needs_a_console_socket() {
    refused(json!({"process": {"terminal": true}}), "--console-socket");
    let mut case = Case::new();
    case.console_socket = true;
    assert!(
        case.plan(json!({"process": {"terminal": true}}))
            .unwrap()
            .terminal
    );
}

#[test]
fn hooks_go_to_the_runtime_or_the_init_by_kind() {
    let hook = |p: &str| json!([{"path": p}]);
    let p = plan(json!({"hooks": {
        "prestart": hook("/p"), "createRuntime": hook("/cr"),
        "createContainer": hook("/cc"), "startContainer": hook("/sc"),
        "poststart": hook("/ps"),
    }}));
    let runtime: Vec<_> = p
        .runtime_hooks
        .iter()
        .map(|(k, h)| (*k, h[0].path().clone()))
        .collect();
    assert_eq!(
        runtime,
        [
            (HookKind::Prestart, PathBuf::from("/p")),
            (HookKind::CreateRuntime, PathBuf::from("/cr"))
        ]
    );
    assert_eq!(p.init.create_container_hooks[0].path(), Path::new("/cc"));
    assert_eq!(p.init.start_container_hooks[0].path(), Path::new("/sc"));
}

// ---- exec ----

fn exec_plan(
    snippet: Value,
    process: Value,
    sub: Option<&str>,
    console: bool,
) -> Result<ExecPlan, Error> {
    exec_plan_in(Some("/iso/c1"), snippet, process, sub, console)
}

/// As [`exec_plan`], in a container whose cgroup is `cgroup` (`None`: rootless without one).
fn exec_plan_in(
    cgroup: Option<&str>,
    snippet: Value,
    process: Value,
    sub: Option<&str>,
    console: bool,
) -> Result<ExecPlan, Error> {
    let layout = layout(HYBRID);
    let process: oci_spec::runtime::Process = serde_json::from_value(process).unwrap();
    let req = ExecRequest {
        bundle: Path::new("/b"),
        cgroup,
        sub_cgroup: sub,
        preserve_fds: 1,
        console_socket: console,
        annotations: &Default::default(),
    };
    ExecPlan::from_process(&spec(snippet), &process, &req, &facts(&layout))
}

#[test]
fn exec_joins_every_namespace_of_the_config_and_pid_before_the_fork() {
    let proc = json!({"cwd": "/", "args": ["/bin/sh"], "user": {"uid": 0, "gid": 0}});
    let p = exec_plan(
        json!({"linux": {"namespaces": [{"type": "pid"}, {"type": "user"}, {"type": "network", "path": "/n"}]}}),
        proc,
        None,
        false,
    )
    .unwrap();
    assert!(p.namespaces.pid);
    assert_eq!(p.namespaces.join, set(&[Namespace::User, Namespace::Net]));
    assert!(p.namespaces.become_root());
    assert_eq!(p.cgroup.as_deref(), Some("/iso/c1"));
    assert_eq!(p.proc.preserve_fds, 1);
}

#[test]
fn exec_goes_to_a_sub_cgroup_and_refuses_one_that_climbs() {
    let proc = json!({"cwd": "/", "args": ["/bin/sh"], "user": {"uid": 0, "gid": 0}});
    let p = exec_plan(json!({}), proc.clone(), Some("pids:a/b"), false).unwrap();
    assert_eq!(p.cgroup.as_deref(), Some("/iso/c1/a/b"));
    let err = exec_plan(json!({}), proc, Some("../x"), false).unwrap_err();
    assert!(err.to_string().contains("--cgroup"), "{err}");
}

#[test]
fn exec_in_a_container_without_a_cgroup_joins_none_and_refuses_a_sub_cgroup() {
    let proc = json!({"cwd": "/", "args": ["/bin/sh"], "user": {"uid": 0, "gid": 0}});
    let p = exec_plan_in(None, json!({}), proc.clone(), None, false).unwrap();
    assert_eq!(p.cgroup, None);
    let err = exec_plan_in(None, json!({}), proc, Some("a"), false).unwrap_err();
    assert!(err.to_string().contains("--cgroup"), "{err}");
    assert!(err.to_string().contains("no cgroup"), "{err}");
}

#[test]
fn exec_checks_its_process_like_create() {
    let bad = json!({"cwd": "rel", "args": ["/bin/sh"], "user": {"uid": 0, "gid": 0}});
    let err = exec_plan(json!({}), bad, None, false).unwrap_err();
    assert!(err.to_string().contains("process.cwd"), "{err}");
    let tty =
        json!({"cwd": "/", "args": ["/bin/sh"], "terminal": true, "user": {"uid": 0, "gid": 0}});
    let err = exec_plan(json!({}), tty.clone(), None, false).unwrap_err();
    assert!(err.to_string().contains("--console-socket"), "{err}");
    assert!(exec_plan(json!({}), tty, None, true).unwrap().terminal);
}

#[test]
fn sub_cgroups_stay_below_the_container() {
    assert_eq!(sub_cgroup_path("/iso/c", "a/b").unwrap(), "/iso/c/a/b");
    assert_eq!(sub_cgroup_path("/iso/c/", "pids:a").unwrap(), "/iso/c/a");
    for bad in ["", "/", "..", "a/../..", "pids:../x", "a//b", "./a"] {
        assert!(sub_cgroup_path("/iso/c", bad).is_err(), "{bad}");
    }
}

// ---- arbitrary configurations ----

/// A configuration with arbitrary values in the fields the plan reads: mostly valid ones,
/// so that a plan gets past the first field, with invalid ones mixed in.
fn arbitrary_config() -> impl Strategy<Value = Value> {
    let ns = prop::sample::select(vec![
        "pid", "network", "mount", "ipc", "uts", "user", "cgroup",
    ]);
    let namespaces = prop::collection::vec((ns, prop::option::weighted(0.2, "/[a-z]{0,3}")), 0..6);
    let mount_type = prop::sample::select(vec![
        "bind", "proc", "tmpfs", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue", "weird", "",
    ]);
    let option = prop::sample::select(vec![
        "ro", "rbind", "nosuid", "mode=755", "size=1k", "rprivate", "bogus", "uid=x",
    ]);
    let dest = prop_oneof![9 => "/[a-z]{1,4}", 1 => "[a-z]{0,3}"];
    let mounts = prop::collection::vec(
        (dest, mount_type, prop::collection::vec(option, 0..3)),
        0..4,
    );
    let sysctl_key = prop::sample::select(vec![
        "net.ipv4.ip_forward",
        "kernel.shmmax",
        "net.core.somaxconn",
        "fs.mqueue.msg_max",
        "kernel.domainname",
        "vm.swappiness",
        "net..x",
        "a/b.c",
    ]);
    let word = prop_oneof![19 => "[a-z/=]{1,4}", 1 => "[a-z]{0,2}\\x00"];
    let cwd = prop_oneof![9 => "/[a-z]{0,3}", 1 => "[a-z]{1,3}"];
    let propagation = prop::sample::select(vec![
        "",
        "rprivate",
        "private",
        "shared",
        "rslave",
        "unbindable",
        "sideways",
    ]);
    let cpus = prop::sample::select(vec!["0", "0-1", "0,1", "3-1"]);
    (
        namespaces,
        mounts,
        prop::collection::btree_map(sysctl_key, "[0-9]{1,2}", 0..3),
        (
            prop::collection::vec(word.clone(), 0..3),
            prop::collection::vec(word, 0..3),
            cwd,
        ),
        (
            prop::option::weighted(0.3, "/?[a-z]{1,3}(/[a-z.]{1,3}){0,2}"),
            propagation,
            prop::option::weighted(0.2, cpus),
            prop::option::weighted(0.2, "[a-z]{1,4}"),
            prop::bool::weighted(0.1),
        ),
    )
        .prop_map(
            |(namespaces, mounts, sysctl, (args, env, cwd), (cgroups, prop, cpus, host, tty))| {
                let namespaces: Vec<Value> = namespaces
                    .into_iter()
                    .map(|(t, p)| match p {
                        Some(p) => json!({"type": t, "path": p}),
                        None => json!({"type": t}),
                    })
                    .collect();
                let mounts: Vec<Value> = mounts
                    .into_iter()
                    .map(|(d, t, o)| json!({"destination": d, "type": t, "source": "s", "options": o}))
                    .collect();
                let mut linux = json!({"namespaces": namespaces, "sysctl": sysctl,
                    "rootfsPropagation": prop,
                    "devices": [{"path": "/dev/x", "type": "c", "major": 1, "minor": 1}]});
                if let Some(c) = cgroups {
                    linux["cgroupsPath"] = json!(c);
                }
                let mut process = json!({"args": args, "env": env, "cwd": cwd, "terminal": tty});
                if let Some(c) = cpus {
                    process["execCPUAffinity"] = json!({"initial": c});
                }
                let mut snippet = json!({"linux": linux, "mounts": mounts, "process": process});
                if let Some(h) = host {
                    snippet["hostname"] = json!(h);
                }
                config(snippet)
            },
        )
}

/// Words one of which every refusal of an arbitrary configuration names.
const FIELDS: &[&str] = &[
    "process.args",
    "process.env",
    "process.cwd",
    "process.execCPUAffinity",
    "mounts.",
    "linux.sysctl",
    "linux.rootfsPropagation",
    "hostname",
    "--console-socket",
    "cgroup",
    "option",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_configs_never_panic_and_errors_name_a_field(v in arbitrary_config()) {
        let Ok(spec) = serde_json::from_value::<Spec>(v) else {
            return Ok(());
        };
        if let Err(e) = Case::new().plan_spec(&spec) {
            let text = e.to_string();
            prop_assert!(FIELDS.iter().any(|f| text.contains(f)), "no field named: {text}");
        }
    }

    #[test]
    fn sub_cgroup_never_climbs(s in "[a-z./:]{0,16}") {
        if let Ok(p) = sub_cgroup_path("/iso/c", &s) {
            prop_assert!(p.starts_with("/iso/c/"));
            prop_assert!(!p.split('/').any(|c| c == ".." || c == "."));
        }
    }
}

#[test]
fn ptrace_capability_or_start_container_hooks_ask_for_a_sealed_runtime() {
    assert_eq!(plan(json!({})).seal_reason, None);
    let caps = json!(["CAP_KILL", "CAP_SYS_PTRACE"]);
    let ptrace = plan(json!({"process": {"capabilities": {"bounding": caps}}}));
    assert!(ptrace.seal_reason.unwrap().contains("CAP_SYS_PTRACE"));
    let hooks = plan(json!({"hooks": {"startContainer": [{"path": "/bin/true"}]}}));
    assert!(hooks.seal_reason.unwrap().contains("startContainer"));
    // Hooks the runtime runs in its own namespaces, from the host's files, do not.
    let runtime_hooks = plan(json!({"hooks": {"createRuntime": [{"path": "/bin/true"}]}}));
    assert_eq!(runtime_hooks.seal_reason, None);
}

#[test]
fn env_keeps_each_variable_once_at_its_first_place_with_its_last_value() {
    let p = plan(json!({"process": {"env": ["A=1", "B=x\ny", "A=2", "C", "HOME=/h"]}}));
    let envp: Vec<_> = p
        .init
        .proc
        .envp
        .iter()
        .map(|a| a.to_str().unwrap())
        .collect();
    assert_eq!(envp, ["A=2", "B=x\ny", "C", "HOME=/h"]);
    assert_eq!(p.init.proc.home_of, None);
}

#[test]
fn home_is_looked_up_when_missing_or_empty() {
    let uid = |env: Value| {
        plan(json!({"process": {"env": env, "user": {"uid": 7, "gid": 7}}}))
            .init
            .proc
            .home_of
    };
    assert_eq!(uid(json!(["A=1"])), Some(7));
    assert_eq!(uid(json!(["HOME="])), Some(7));
    assert_eq!(uid(json!(["HOME=/x", "HOME="])), Some(7));
    assert_eq!(uid(json!(["HOME=", "HOME=/x"])), None);
}

#[test]
fn passwd_home_finds_the_first_entry_of_the_uid() {
    let passwd = b"root:x:0:0:root:/root:/bin/sh\nbad line\nu:x:1000:1000::/home/u:/bin/sh\n\
                   v:x:1000:1000::/other:/bin/sh\nshort:x:5\n";
    assert_eq!(passwd_home(passwd, 0), Some(&b"/root"[..]));
    assert_eq!(passwd_home(passwd, 1000), Some(&b"/home/u"[..]));
    assert_eq!(passwd_home(passwd, 5), None);
    assert_eq!(passwd_home(passwd, 42), None);
    assert_eq!(passwd_field(passwd, 1000, 0), Some(&b"u"[..]));
}

#[test]
fn with_home_replaces_an_empty_home_or_appends() {
    let c = |v: &[&str]| -> Vec<std::ffi::CString> {
        v.iter()
            .map(|s| std::ffi::CString::new(*s).unwrap())
            .collect()
    };
    assert_eq!(
        with_home(&c(&["A=1", "HOME=", "B=2"]), b"/root"),
        c(&["A=1", "HOME=/root", "B=2"])
    );
    assert_eq!(with_home(&c(&["A=1"]), b"/"), c(&["A=1", "HOME=/"]));
}

#[test]
fn a_non_root_user_with_dac_override_outside_ambient_needs_a_sealed_runtime() {
    let caps = |uid: u32, ambient: Value| {
        plan(
            json!({"process": {"user": {"uid": uid, "gid": 0}, "capabilities": {
            "bounding": ["CAP_DAC_OVERRIDE"], "effective": ["CAP_DAC_OVERRIDE"],
            "permitted": ["CAP_DAC_OVERRIDE"], "inheritable": ["CAP_DAC_OVERRIDE"],
            "ambient": ambient}}}),
        )
        .seal_reason
    };
    assert!(caps(1000, json!([])).unwrap().contains("DAC_OVERRIDE"));
    assert_eq!(caps(0, json!([])), None);
    assert_eq!(caps(1000, json!(["CAP_DAC_OVERRIDE"])), None);
}

#[test]
fn the_terminal_belongs_to_the_user_and_has_the_console_size() {
    let p = plan(json!({"process": {"user": {"uid": 7, "gid": 8},
        "consoleSize": {"height": 30, "width": 100000}}}));
    assert_eq!(p.init.proc.tty_owner, 7);
    assert_eq!(p.init.proc.console_size, Some((30, u16::MAX)));
}

// ---- rootless ----

/// A user namespace mapping one id, a bind mount and a cgroup mount: `spec --rootless`.
fn rootless_snippet() -> Value {
    json!({
        "mounts": [
            {"destination": "/data", "type": "bind", "source": "/srv/data", "options": ["rbind"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro"]}
        ],
        "linux": {
            "namespaces": [{"type": "user"}, {"type": "mount"}, {"type": "pid"}],
            "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
            "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
            "resources": {"pids": {"limit": 10}}
        }
    })
}

#[test]
fn rootless_makes_the_cgroup_optional_and_leaves_bind_sources_to_the_init() {
    let root = plan(rootless_snippet());
    assert!(!root.cgroup.optional);
    assert!(root.init.rootfs.clone_bind_sources);
    let mut case = Case::new();
    case.rootless = true;
    let rootless = case.plan(rootless_snippet()).unwrap();
    assert!(rootless.cgroup.optional);
    // The resources stay requested: launch warns when it cannot apply them.
    assert!(rootless.cgroup.resources.is_some());
    assert!(!rootless.init.rootfs.clone_bind_sources);
    assert_eq!(rootless.init.rootfs.detached_mounts().count(), 0);
}

#[test]
fn without_a_cgroup_the_cgroup_mount_is_an_empty_tmpfs() {
    let mut case = Case::new();
    case.rootless = true;
    let mut rootfs = case.plan(rootless_snippet()).unwrap().init.rootfs;
    let cgroup_mount = |r: &RootfsPlan| {
        r.mounts
            .iter()
            .find_map(|m| match m {
                PlannedMount::Cgroup {
                    tmpfs,
                    binds,
                    readonly,
                    ..
                } => Some((*tmpfs, binds.len(), *readonly)),
                _ => None,
            })
            .expect("a cgroup mount")
    };
    assert!(cgroup_mount(&rootfs).1 > 0);
    rootfs.without_cgroup();
    assert_eq!(cgroup_mount(&rootfs), (true, 0, true));
}

#[test]
fn unprivileged_refuses_a_new_user_namespace_in_a_joined_pid_namespace() {
    let snippet = json!({"linux": {
        "namespaces": [{"type": "user"}, {"type": "mount"}, {"type": "pid", "path": "/proc/1/ns/pid"}],
        "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
        "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]
    }});
    let mut case = Case::new();
    // Root of a user namespace (rootless Podman): the maps are written without a window.
    case.rootless = true;
    assert!(case.plan(snippet.clone()).is_ok());
    case.unprivileged = true;
    let err = case.plan(snippet).unwrap_err().to_string();
    assert!(err.contains("linux.namespaces"), "{err}");
}

#[test]
fn process_ids_must_be_mapped_in_a_new_user_namespace() {
    let with_user = |user: Value| {
        let mut snippet = rootless_snippet();
        snippet["process"] = json!({"cwd": "/", "args": ["/bin/true"], "user": user});
        snippet
    };
    assert!(Case::new()
        .plan(with_user(json!({"uid": 0, "gid": 0})))
        .is_ok());
    refused(with_user(json!({"uid": 1, "gid": 0})), "process.user.uid");
    refused(with_user(json!({"uid": 0, "gid": 5})), "process.user.gid");
    let err = refused(
        with_user(json!({"uid": 0, "gid": 0, "additionalGids": [0, 5]})),
        "process.user.additionalGids",
    );
    assert!(err.contains("5 is not mapped"), "{err}");
}

#[test]
fn systemd_cgroup_plans_the_unit_its_cgroup_and_the_record() {
    let case = Case {
        systemd_cgroup: true,
        ..Case::new()
    };
    let p = case
        .plan(
            json!({"linux": {"cgroupsPath": "kubepods-pod1.slice:cri:c1",
                               "resources": {"pids": {"limit": 1}, "memory": {"limit": 1048576}}}}),
        )
        .unwrap();
    let unit = p.cgroup.unit.as_ref().unwrap();
    assert_eq!(unit.name(), "cri-c1.scope");
    assert_eq!(
        p.cgroup.path.as_str(),
        "/kubepods.slice/kubepods-pod1.slice/cri-c1.scope"
    );
    assert_eq!(p.record.cgroup, p.cgroup.path.as_str());
    let rec = p.record.systemd.as_ref().unwrap();
    assert_eq!(
        (rec.slice.as_str(), rec.unit.as_str()),
        ("kubepods-pod1.slice", "cri-c1.scope")
    );
    // A pids limit of 1 waits for the placeholder to go; other resources do not.
    let r = p.cgroup.resources.as_ref().unwrap();
    assert!(r.pids.is_none());
    assert!(r.memory.is_some());
    assert_eq!(
        p.cgroup.deferred_pids,
        Some(iso_cgroups::Pids {
            limit: Some(iso_cgroups::Limit::Value(1))
        })
    );
    // A limit of 2 and more is set at the start; cgroupfs never defers.
    let p = case
        .plan(json!({"linux": {"cgroupsPath": "", "resources": {"pids": {"limit": 2}}}}))
        .unwrap();
    assert_eq!(p.cgroup.path.as_str(), "/system.slice/iso-c1.scope");
    assert!(p.cgroup.deferred_pids.is_none());
    let p = plan(json!({"linux": {"resources": {"pids": {"limit": 1}}}}));
    assert!(p.cgroup.unit.is_none() && p.record.systemd.is_none());
    assert!(p.cgroup.deferred_pids.is_none());
    // A cgroupfs path is refused, naming the field.
    let e = case
        .plan(json!({"linux": {"cgroupsPath": "/iso/c1"}}))
        .unwrap_err();
    assert!(e.to_string().contains("linux.cgroupsPath"), "{e}");
}

fn userns_snippet(mounts: Value) -> Value {
    json!({
        "mounts": mounts,
        "linux": {
            "namespaces": [{"type": "user"}, {"type": "mount"}],
            "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
            "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]
        }
    })
}

#[test]
fn a_mount_with_mappings_is_idmapped_by_the_runtime_without_the_idmap_options() {
    let p = plan(json!({"mounts": [
        {"destination": "/data", "type": "bind", "source": "/srv", "options": ["rbind", "ridmap", "ro"],
         "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
         "gidMappings": [{"containerID": 0, "hostID": 2000, "size": 10}]},
        {"destination": "/shared", "type": "tmpfs", "source": "tmpfs",
         "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
         "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]},
    ]}));
    let PlannedMount::Idmapped { mount, idmap } = &p.init.rootfs.mounts[0] else {
        panic!("not idmapped: {:?}", p.init.rootfs.mounts[0]);
    };
    assert_eq!(mount.kind(), &MountKind::RBind);
    assert!(
        mount.data_options().is_empty(),
        "{:?}",
        mount.data_options()
    );
    assert_eq!(idmap.uid, iso_ns::UidMap::single(0, 1000, 1).unwrap());
    assert_eq!(idmap.gid, iso_ns::GidMap::single(0, 2000, 10).unwrap());
    assert!(idmap.recursive);
    // Without `ridmap` only the top mount; mappings alone are enough (as runc does).
    let PlannedMount::Idmapped { mount, idmap } = &p.init.rootfs.mounts[1] else {
        panic!("not idmapped: {:?}", p.init.rootfs.mounts[1]);
    };
    assert_eq!(mount.kind(), &MountKind::Tmpfs);
    assert!(!idmap.recursive);
    // Both are made by the runtime, even without a user namespace.
    let made: Vec<usize> = p.init.rootfs.detached_mounts().map(|(i, _, _)| i).collect();
    assert_eq!(made, [0, 1]);
}

#[test]
fn a_bare_idmap_option_takes_the_containers_user_namespace_maps() {
    let p = plan(userns_snippet(json!([
        {"destination": "/data", "type": "bind", "source": "/srv", "options": ["bind", "idmap"]}
    ])));
    let PlannedMount::Idmapped { idmap, .. } = &p.init.rootfs.mounts[0] else {
        panic!("not idmapped: {:?}", p.init.rootfs.mounts[0]);
    };
    assert_eq!(idmap.uid, iso_ns::UidMap::single(0, 100000, 65536).unwrap());
    assert_eq!(idmap.gid, iso_ns::GidMap::single(0, 100000, 65536).unwrap());
    assert!(!idmap.recursive);
}

#[test]
fn idmapped_mounts_that_cannot_be_made_are_refused_naming_the_field() {
    let bind = |extra: Value| {
        let mut m =
            json!({"destination": "/data", "type": "bind", "source": "/srv", "options": ["bind"]});
        merge(&mut m, extra);
        json!({"mounts": [m]})
    };
    let map = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
    // A bare idmap needs the container's maps.
    let err = refused(
        bind(json!({"options": ["bind", "idmap"]})),
        "mounts.options",
    );
    assert!(err.contains("/data"), "{err}");
    // Both maps or neither.
    refused(
        bind(json!({"uidMappings": map.clone()})),
        "mounts.gidMappings",
    );
    refused(
        bind(json!({"gidMappings": map.clone()})),
        "mounts.uidMappings",
    );
    // A map the kernel would refuse, named by its line.
    let overlapping = json!([
        {"containerID": 0, "hostID": 1000, "size": 10},
        {"containerID": 5, "hostID": 5000, "size": 1}
    ]);
    refused(
        bind(json!({"uidMappings": overlapping, "gidMappings": map.clone()})),
        "mounts.uidMappings",
    );
    refused(
        bind(json!({"options": ["bind", "idmap", "ridmap"]})),
        "mounts.options",
    );
    // Mounts the runtime cannot make detached and idmap.
    let both = json!({"uidMappings": map.clone(), "gidMappings": map.clone()});
    let mut copy_up =
        json!({"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]});
    merge(&mut copy_up, both.clone());
    refused(json!({"mounts": [copy_up]}), "mounts.options");
    let mut cgroup = json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup"});
    merge(&mut cgroup, both.clone());
    refused(json!({"mounts": [cgroup]}), "mounts.options");
    // Rootless: the kernel allows idmapping only to a privileged caller.
    let mut case = Case::new();
    case.rootless = true;
    let mut snippet = rootless_snippet();
    merge(
        &mut snippet,
        json!({"mounts": [{"destination": "/data", "type": "bind", "source": "/srv/data",
                           "options": ["rbind", "idmap"]}]}),
    );
    let err = case.plan(snippet).expect_err("refused").to_string();
    assert!(
        err.contains("mounts.options") && err.contains("privileged"),
        "{err}"
    );
}

// linux.netDevices ------------------------------------------------------------------------

fn net_devices(devices: Value) -> Value {
    json!({"linux": {"namespaces": [{"type": "network"}], "netDevices": devices}})
}

#[test]
fn net_devices_are_planned_sorted_with_their_container_names() {
    let p = plan(net_devices(
        json!({"veth1": {}, "dummy0": {"name": "eth9"}, "x0": {"name": ""}}),
    ));
    let got: Vec<(&str, &str)> = p
        .net_devices
        .iter()
        .map(|d| (d.host.as_str(), d.container.as_str()))
        .collect();
    assert_eq!(got, [("dummy0", "eth9"), ("veth1", "veth1"), ("x0", "x0")]);
    // None, or an empty map: nothing to move, and no network namespace needed.
    assert!(plan(json!({})).net_devices.is_empty());
    assert!(plan(json!({"linux": {"netDevices": {}}}))
        .net_devices
        .is_empty());
}

#[test]
fn net_devices_refusals_name_the_field() {
    let case = Case::new();
    let cases = [
        (json!({"eth0:1": {}}), r#"linux.netDevices["eth0:1"]"#),
        (
            json!({"a": {"name": "a-name-of-16-byt"}}),
            r#"linux.netDevices["a"].name"#,
        ),
        (
            json!({"a": {"name": "x/y"}}),
            r#"linux.netDevices["a"].name"#,
        ),
        (json!({"a": {"name": "."}}), r#"linux.netDevices["a"].name"#),
        (
            json!({"a": {"name": "eth0"}, "b": {"name": "eth0"}}),
            r#"linux.netDevices["b"].name"#,
        ),
        (
            json!({"a": {}, "b": {"name": "a"}}),
            r#"linux.netDevices["b"].name"#,
        ),
    ];
    for (devices, field) in cases {
        let e = case.plan(net_devices(devices.clone())).unwrap_err();
        assert!(e.to_string().contains(field), "{devices}: {e}");
    }
    // No network namespace of its own: the runtime's.
    let e = case
        .plan(json!({"linux": {"namespaces": [], "netDevices": {"a": {}}}}))
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("linux.netDevices needs a network namespace of the container's own"),
        "{e}"
    );
    // A joined one (a pod's) is the container's: launch checks it is not the runtime's.
    let joined = json!([{"type": "network", "path": "/run/netns/pod"}]);
    let p = plan(json!({"linux": {"namespaces": joined, "netDevices": {"a": {}}}}));
    assert_eq!(p.net_devices.len(), 1);
    let unprivileged = Case {
        unprivileged: true,
        ..Case::new()
    };
    let e = unprivileged
        .plan(net_devices(json!({"a": {}})))
        .unwrap_err();
    assert!(e.to_string().contains("linux.netDevices"), "{e}");
}
