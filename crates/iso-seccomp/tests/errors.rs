//! Compile-time validation: what is skipped, what is an error, and how errors name rules.

use iso_seccomp::{Action, Arch, Condition, Error, Profile, SyscallRule, UnknownSyscalls};

fn rule_error(p: &Profile) -> (usize, String) {
    match p.compile().unwrap_err() {
        Error::InvalidRule { index, syscall, .. } => (index, syscall),
        other => panic!("expected InvalidRule, got {other}"),
    }
}

fn misspelt_deny() -> Profile {
    Profile::new(Action::Allow)
        .rule(SyscallRule::new(Action::Errno(1), ["getpid"]))
        .rule(SyscallRule::new(
            Action::Errno(1),
            ["getppid", "ptarce", "getppid"],
        ))
}

#[test]
fn unknown_syscalls_fail_by_default_naming_the_rule_and_name() {
    let p = misspelt_deny();
    assert_eq!(p.unknown_syscalls, UnknownSyscalls::Fail);
    let err = p.compile().unwrap_err();
    assert_eq!(rule_error(&p), (1, "ptarce".into()));
    let msg = err.to_string();
    assert!(
        msg.starts_with("rule 1 (ptarce): unknown syscall \"ptarce\" on this architecture"),
        "{msg}"
    );
    assert!(msg.contains("UnknownSyscalls::Skip"), "{msg}");
    assert_eq!(err.errno(), None);
}

#[test]
fn unknown_syscalls_are_skipped_and_reported_when_asked() {
    let f = misspelt_deny()
        .unknown_syscalls(UnknownSyscalls::Skip)
        .compile()
        .unwrap();
    assert_eq!(f.skipped_syscalls(), ["ptarce"]);
}

#[test]
fn errors_name_the_rule_index_and_syscall() {
    let base = Profile::new(Action::Allow).rule(SyscallRule::new(Action::Errno(1), ["getpid"]));
    let p = base
        .clone()
        .rule(SyscallRule::new(Action::Errno(4096), ["getppid"]));
    assert_eq!(rule_error(&p), (1, "getppid".into()));
    let p = base
        .clone()
        .rule(SyscallRule::new(Action::Trace(65536), ["uname"]));
    assert_eq!(rule_error(&p), (1, "uname".into()));
    let p = base
        .clone()
        .rule(SyscallRule::new(Action::Errno(2), ["read"]).when(Condition::eq(6, 0)));
    assert_eq!(rule_error(&p), (1, "read".into()));
    let p = base
        .clone()
        .rule(SyscallRule::new(Action::Errno(2), Vec::<String>::new()));
    assert_eq!(rule_error(&p), (1, "".into()));
    let p = base.rule(SyscallRule::new(Action::Errno(2), ["read", ""]));
    assert_eq!(rule_error(&p).0, 1);
}

#[test]
fn errors_display_the_rule() {
    let p = Profile::new(Action::Allow).rule(SyscallRule::new(Action::Errno(9999), ["getpid"]));
    let msg = p.compile().unwrap_err().to_string();
    assert!(msg.starts_with("rule 0 (getpid): errno 9999"), "{msg}");
}

#[test]
fn notify_cannot_be_the_default_action() {
    let err = Profile::new(Action::Notify).compile().unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidProfile {
                field: "default_action",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn rules_with_the_default_action_are_dropped_not_refused() {
    let f = Profile::new(Action::Errno(1))
        .rule(SyscallRule::new(Action::Errno(1), ["getpid"]))
        .rule(SyscallRule::new(Action::Allow, ["read"]))
        .compile()
        .unwrap();
    assert!(f.skipped_syscalls().is_empty());
    let f = Profile::new(Action::KillThread)
        .rule(SyscallRule::new(Action::Kill, ["getpid"]))
        .compile();
    assert!(f.is_ok());
}

#[test]
fn conflicting_rules_are_errors_naming_the_second_rule() {
    let p = Profile::new(Action::Allow)
        .rule(SyscallRule::new(Action::Errno(1), ["getpid"]))
        .rule(SyscallRule::new(Action::Errno(2), ["getpid"]));
    match p.compile() {
        // libseccomp keeps the first action for an identical rule or refuses the second;
        // both are acceptable, silently mixing them is not observable here.
        Ok(_) => {}
        Err(Error::InvalidRule { index, syscall, .. }) => {
            assert_eq!((index, syscall.as_str()), (1, "getpid"))
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn foreign_architectures_compile() {
    let f = Profile::new(Action::Errno(1))
        .arch(Arch::X86_64)
        .arch(Arch::X86)
        .arch(Arch::Aarch64)
        .rule(SyscallRule::new(
            Action::Allow,
            ["read", "write", "socketcall"],
        ))
        .compile()
        .unwrap();
    assert!(f.to_bpf().unwrap().len() > 10);
}
