//! Every comparison operator filters on real argument values, in a real child.

mod common;

use common::{ensure, getppid_with};
use iso_seccomp::{Action, Condition, Profile, SyscallRule};

const HIT: i32 = 99;

/// Loads "getppid fails with HIT when `conds` hold" and checks each `(arg0, arg1, hit)`.
fn check(conds: Vec<Condition>, cases: &[(u64, u64, bool)]) {
    let cases = cases.to_vec();
    iso_testutil::in_child(move || {
        let rule = conds.iter().fold(
            SyscallRule::new(Action::Errno(HIT as u32), ["getppid"]),
            |r, c| r.when(*c),
        );
        Profile::new(Action::Allow)
            .rule(rule)
            .compile()
            .map_err(|e| e.to_string())?
            .load()
            .map_err(|e| e.to_string())?;
        for (a0, a1, hit) in cases {
            let r = getppid_with(a0, a1);
            let got_hit = r == Err(HIT);
            ensure(got_hit == hit, || {
                format!("{conds:?} on ({a0:#x}, {a1:#x}): got {r:?}, want hit={hit}")
            })?;
        }
        Ok(())
    });
}

#[test]
fn ne() {
    check(
        vec![Condition::ne(0, 5)],
        &[(5, 0, false), (4, 0, true), (u64::MAX, 0, true)],
    );
}

#[test]
fn lt() {
    check(
        vec![Condition::lt(0, 5)],
        &[
            (4, 0, true),
            (5, 0, false),
            (1 << 40, 0, false),
            (0, 0, true),
        ],
    );
}

#[test]
fn le() {
    check(
        vec![Condition::le(0, 5)],
        &[(5, 0, true), (6, 0, false), (0, 0, true)],
    );
}

#[test]
fn eq_compares_all_64_bits() {
    check(
        vec![Condition::eq(0, 1 << 33)],
        &[(1 << 33, 0, true), (0, 0, false), ((1 << 33) | 1, 0, false)],
    );
}

#[test]
fn ge() {
    check(
        vec![Condition::ge(0, 5)],
        &[(5, 0, true), (4, 0, false), (u64::MAX, 0, true)],
    );
}

#[test]
fn gt() {
    check(
        vec![Condition::gt(0, u32::MAX as u64)],
        &[(1 << 32, 0, true), (u32::MAX as u64, 0, false)],
    );
}

#[test]
fn masked_eq() {
    check(
        vec![Condition::masked_eq(0, 0xf0, 0x30)],
        &[
            (0x30, 0, true),
            (0x3f, 0, true),
            (0x130, 0, true),
            (0x20, 0, false),
            (0xf0, 0, false),
        ],
    );
}

#[test]
fn conditions_on_different_arguments_are_anded() {
    check(
        vec![Condition::eq(0, 1), Condition::eq(1, 2)],
        &[(1, 2, true), (1, 3, false), (0, 2, false)],
    );
}

#[test]
fn conditions_on_the_same_argument_are_ored_like_runc() {
    check(
        vec![Condition::eq(0, 5), Condition::eq(0, 7)],
        &[(5, 0, true), (7, 0, true), (6, 0, false)],
    );
}

#[test]
fn a_repeated_argument_splits_all_conditions_of_the_rule() {
    // runc's rule: once an argument repeats, every condition becomes its own rule.
    check(
        vec![
            Condition::eq(0, 5),
            Condition::eq(0, 7),
            Condition::eq(1, 9),
        ],
        &[(5, 0, true), (7, 1, true), (0, 9, true), (6, 8, false)],
    );
}
