//! `features`: the runtime-spec's features document (`features.md`), derived from what this
//! build contains: the namespaces `iso-ns` knows, the capabilities `iso-caps` knows, the
//! seccomp actions, operators, architectures and flags `iso-seccomp` parses, and the
//! AppArmor and SELinux support of `iso-mac`.

use serde_json::{json, Value};

/// Mount options `iso-chroot` understands (`mounts[].options`).
const MOUNT_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "exec",
    "idmap",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "rbind",
    "relatime",
    "ridmap",
    "ro",
    "rprivate",
    "rshared",
    "rslave",
    "runbindable",
    "rw",
    "shared",
    "slave",
    "strictatime",
    "suid",
    "sync",
    "tmpcopyup",
    "unbindable",
    "rro",
    "rrw",
    "rnosuid",
    "rnodev",
    "rnoexec",
];

/// Every seccomp action name of the runtime-spec, kept when `iso-seccomp` parses it.
const SECCOMP_ACTIONS: &[&str] = &[
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
];

/// The runtime-spec's seccomp comparison operators (all supported by `iso_seccomp::Op`).
const SECCOMP_OPERATORS: &[&str] = &[
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];

/// The seccomp filter flags `iso-seccomp` applies.
const SECCOMP_FLAGS: &[&str] = &[
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

/// The features document, as `iso-runtime features` prints it.
///
/// ```
/// let f = iso_runtime::features::features();
/// assert_eq!(f["ociVersionMax"], "1.2.0");
/// assert_eq!(f["linux"]["netDevices"]["enabled"], true);
/// assert!(f["linux"]["namespaces"].as_array().unwrap().iter().any(|n| n == "user"));
/// ```
pub fn features() -> Value {
    let namespaces: Vec<&str> = iso_ns::Namespace::ALL
        .iter()
        .filter_map(|n| match *n {
            iso_ns::Namespace::Mount => Some("mount"),
            iso_ns::Namespace::Uts => Some("uts"),
            iso_ns::Namespace::Ipc => Some("ipc"),
            iso_ns::Namespace::User => Some("user"),
            iso_ns::Namespace::Pid => Some("pid"),
            iso_ns::Namespace::Net => Some("network"),
            iso_ns::Namespace::Cgroup => Some("cgroup"),
            iso_ns::Namespace::Time => Some("time"),
            #[allow(unreachable_patterns)]
            _ => None,
        })
        .collect();
    let actions: Vec<&str> = SECCOMP_ACTIONS
        .iter()
        .copied()
        .filter(|a| a.parse::<iso_seccomp::Action>().is_ok())
        .collect();
    let archs: Vec<&str> = iso_seccomp::Arch::ALL
        .iter()
        .filter(|a| **a != iso_seccomp::Arch::Native)
        .map(|a| a.oci_name())
        .collect();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer",
                  "poststart", "poststop"],
        "mountOptions": MOUNT_OPTIONS,
        "linux": {
            "namespaces": namespaces,
            "capabilities": iso_caps::Capability::ALL.iter().map(|c| c.name()).collect::<Vec<_>>(),
            "cgroup": {"v1": true, "v2": true, "systemd": true, "systemdUser": false,
                       "rdma": true},
            "seccomp": {
                "enabled": true,
                "actions": actions,
                "operators": SECCOMP_OPERATORS,
                "archs": archs,
                "knownFlags": SECCOMP_FLAGS,
                "supportedFlags": SECCOMP_FLAGS,
            },
            // features.md: whether support is compiled in, unrelated to the host's LSMs
            // (a process label on a host without the LSM fails `create` with its field).
            "apparmor": {"enabled": true},
            "selinux": {"enabled": true},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": true}},
            // `linux.netDevices`: moved in at `create`, back at `delete` (crate::netdev).
            "netDevices": {"enabled": true},
            // The values `linux.memoryPolicy` accepts (whether the kernel has a mode, it
            // says at `create`).
            "memoryPolicy": {
                "modes": ["MPOL_DEFAULT", "MPOL_BIND", "MPOL_INTERLEAVE",
                          "MPOL_WEIGHTED_INTERLEAVE", "MPOL_PREFERRED", "MPOL_PREFERRED_MANY",
                          "MPOL_LOCAL"],
                "flags": ["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES",
                          "MPOL_F_STATIC_NODES"],
            },
        },
        "annotations": {
            "org.opencontainers.runtime-spec.features.runtime": "iso-runtime",
            "io.github.iso.version": env!("CARGO_PKG_VERSION"),
            // Landlock (runtime-spec PR 1241's `process.landlock`, as JSON) and the
            // kernel's Landlock ABI (0: none; best effort then enforces nothing).
            (crate::landlock::ANNOTATION): "process.landlock (runtime-spec pull request 1241) as JSON",
            "org.iso.landlock.abi": iso_mac::landlock_status().abi().to_string(),
            // `checkpoint` and `restore` (through CRIU, which must be installed: `criu`).
            "io.github.iso.checkpoint.enabled": "true",
        }
    })
}
