//! OCI conversions (feature `oci`).
#![cfg(feature = "oci")]

use iso_seccomp::{
    default_profile, Action, Arch, Condition, Flags, Op, Profile, SyscallRule, UnknownSyscalls,
};

#[test]
fn parses_an_oci_profile_with_every_field() {
    let p = Profile::from_oci_json(
        r#"{
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "listenerPath": "/run/agent.sock",
        "listenerMetadata": "meta",
        "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
            {"names": ["kill"], "action": "SCMP_ACT_KILL"},
            {"names": ["ptrace"], "action": "SCMP_ACT_TRACE", "errnoRet": 7},
            {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"},
            {"names": ["uname"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["a"], "action": "SCMP_ACT_KILL_PROCESS"},
            {"names": ["b"], "action": "SCMP_ACT_KILL_THREAD"},
            {"names": ["c"], "action": "SCMP_ACT_TRAP"},
            {"names": ["d"], "action": "SCMP_ACT_LOG",
             "args": [{"index": 1, "value": 1, "op": "SCMP_CMP_NE"}, {"index": 2, "value": 2, "op": "SCMP_CMP_LT"},
                      {"index": 3, "value": 3, "op": "SCMP_CMP_LE"}, {"index": 4, "value": 4, "op": "SCMP_CMP_GE"},
                      {"index": 5, "value": 5, "op": "SCMP_CMP_GT"}]}
        ]
    }"#,
    )
    .unwrap();
    assert_eq!(p.default_action, Action::Errno(1));
    assert_eq!(p.architectures, [Arch::X86_64, Arch::X86, Arch::X32]);
    assert_eq!(p.flags, Flags::all());
    assert_eq!(
        p.listener_path.as_deref(),
        Some(std::path::Path::new("/run/agent.sock"))
    );
    assert_eq!(
        p.syscalls[1].conditions,
        [Condition::masked_eq(0, 2114060288, 0)]
    );
    assert_eq!(p.syscalls[2].conditions.len(), 2);
    assert_eq!(p.syscalls[3].action, Action::Kill);
    assert_eq!(p.syscalls[4].action, Action::Trace(7));
    assert_eq!(p.syscalls[5].action, Action::Notify);
    assert_eq!(p.syscalls[6].action, Action::Errno(libc::EPERM as u32));
    assert_eq!(p.syscalls[10].conditions[4].op, Op::Gt(5));
    // and it round-trips
    let again = Profile::from_oci_json(&p.to_oci_json().unwrap()).unwrap();
    assert_eq!(again, p);
}

#[test]
fn errno_ret_on_other_actions_is_refused() {
    let err = Profile::from_oci_json(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}]}"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("syscalls[0]"), "{err}");
}

#[test]
fn unknown_names_are_refused() {
    assert!(Profile::from_oci_json(r#"{"defaultAction": "SCMP_ACT_NOPE"}"#).is_err());
    assert!(Profile::from_oci_json(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]}"#
    )
    .is_err());
}

#[test]
fn linux_seccomp_round_trips_the_default_profile() {
    let p = default_profile(&["CAP_SYS_ADMIN"]);
    let oci = oci_spec::runtime::LinuxSeccomp::try_from(&p).unwrap();
    assert_eq!(Profile::try_from(&oci).unwrap(), p);
    let p = Profile::new(Action::Trap).rule(SyscallRule::new(Action::Allow, ["read"]));
    let oci = oci_spec::runtime::LinuxSeccomp::try_from(&p).unwrap();
    // Read back as an OCI profile: unknown names are skipped there.
    assert_eq!(
        Profile::try_from(&oci).unwrap(),
        p.unknown_syscalls(UnknownSyscalls::Skip)
    );
}

/// OCI profiles list syscalls of kernels newer than libseccomp: they still compile, as
/// under runc, and the unknown names are reported.
#[test]
fn oci_profiles_skip_unknown_syscalls() {
    let p = Profile::from_oci_json(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read", "syscall_of_linux_9"], "action": "SCMP_ACT_ALLOW"}]}"#,
    )
    .unwrap();
    assert_eq!(p.unknown_syscalls, UnknownSyscalls::Skip);
    assert_eq!(
        p.compile().unwrap().skipped_syscalls(),
        ["syscall_of_linux_9"]
    );
}
