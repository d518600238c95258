//! Property test: any profile either compiles and loads in a child, or fails with an error
//! that names the rule; never a panic, never a half-loaded filter.

mod common;

use common::{fork_and_wait, Ended};
use iso_seccomp::{Action, Arch, Condition, Error, Flags, Op, Profile, SyscallRule};
use proptest::prelude::*;

/// Syscalls the forked child does not make after loading (it only closes fds and exits),
/// plus unknown and empty names.
const POOL: &[&str] = &[
    "getppid",
    "getpid",
    "mkdir",
    "mkdirat",
    "uname",
    "kexec_load",
    "keyctl",
    "mount",
    "personality",
    "socket",
    "no_such_call",
    "",
    "chmod",
    "getuid",
    "setns",
];

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        Just(Action::KillThread),
        Just(Action::KillProcess),
        Just(Action::Kill),
        Just(Action::Trap),
        (0u32..5000).prop_map(Action::Errno),
        (0u32..70000).prop_map(Action::Trace),
        Just(Action::Allow),
        Just(Action::Log),
        Just(Action::Notify),
    ]
}

fn condition() -> impl Strategy<Value = Condition> {
    let v = prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>(), 0u64..10];
    (0u32..8, 0u8..7, v.clone(), v).prop_map(|(arg, op, a, b)| Condition {
        arg,
        op: match op {
            0 => Op::Ne(a),
            1 => Op::Lt(a),
            2 => Op::Le(a),
            3 => Op::Eq(a),
            4 => Op::Ge(a),
            5 => Op::Gt(a),
            _ => Op::MaskedEq { mask: a, value: b },
        },
    })
}

fn rule() -> impl Strategy<Value = SyscallRule> {
    (
        action(),
        proptest::collection::vec(proptest::sample::select(POOL), 0..3),
        proptest::collection::vec(condition(), 0..4),
    )
        .prop_map(|(action, names, conditions)| SyscallRule {
            names: names.into_iter().map(String::from).collect(),
            action,
            conditions,
        })
}

fn profile() -> impl Strategy<Value = Profile> {
    let arch = proptest::sample::select(vec![
        Arch::Native,
        Arch::X86_64,
        Arch::X86,
        Arch::X32,
        Arch::Aarch64,
        Arch::Mips,
    ]);
    (
        action(),
        proptest::collection::vec(arch, 0..3),
        0u32..64,
        proptest::collection::vec(rule(), 0..6),
    )
        .prop_map(|(default, archs, flags, rules)| {
            let mut p = Profile::new(default).flags(Flags::from_bits_truncate(flags));
            for a in archs {
                p = p.arch(a);
            }
            for r in rules {
                p = p.rule(r);
            }
            p
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn profiles_compile_and_load_or_name_the_rule(p in profile()) {
        match p.compile() {
            Ok(filter) => {
                let bpf = filter.to_bpf().expect("a compiled filter exports");
                let ended = fork_and_wait(|| match bpf.load() {
                    Ok(listener) => {
                        drop(listener);
                        0
                    }
                    Err(_) => 1,
                });
                // After loading, close/exit_group meet the default action: kill or trap
                // (SIGSYS), errno/trace make _exit fall through to a fault (SIGSEGV).
                prop_assert!(
                    matches!(ended, Ended::Exited(0) | Ended::Signaled(libc::SIGSYS) | Ended::Signaled(libc::SIGSEGV)),
                    "compiled profile failed to load: {ended:?} {p:?}"
                );
            }
            Err(Error::InvalidRule { index, syscall, reason }) => {
                prop_assert!(index < p.syscalls.len(), "bad index {index}");
                let r = &p.syscalls[index];
                prop_assert!(r.names.contains(&syscall) || (syscall.is_empty() && r.names.is_empty()),
                    "error names {syscall:?}, rule has {:?}: {reason}", r.names);
            }
            Err(Error::InvalidProfile { field, .. }) => {
                prop_assert!(["default_action", "architectures", "flags"].contains(&field));
            }
            Err(other) => prop_assert!(false, "unexpected error kind: {other}"),
        }
    }
}
