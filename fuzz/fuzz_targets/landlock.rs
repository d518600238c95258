//! Landlock annotations: `iso_runtime::landlock::parse` (the `org.iso.landlock` JSON) and
//! `parse_policy` (the policy's recorded `[landlock]` section) on arbitrary bytes, then the
//! ruleset and what each Landlock ABI would enforce of it. Never a panic; every error names
//! a field under the annotation; a parsed value prints back to the same value.
#![no_main]

use iso_runtime::landlock::{parse, parse_policy, ANNOTATION, POLICY_ANNOTATION};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&abi, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let abi = u32::from(abi % 12);
    match parse(ANNOTATION, text) {
        Ok(config) => {
            let again = parse(ANNOTATION, &serde_json::to_string(&config).unwrap())
                .expect("a parsed annotation re-parses");
            assert_eq!(again, config);
            match config.ruleset(ANNOTATION) {
                Ok(ruleset) => {
                    let _ = ruleset.plan_for(abi).to_string();
                }
                Err(e) => assert!(e.field.starts_with("annotations[\"org.iso.landlock\"]")),
            }
        }
        Err(e) => assert!(e.field.starts_with("annotations[\"org.iso.landlock\"]")),
    }
    match parse_policy(POLICY_ANNOTATION, text) {
        Ok(policy) => {
            let again = parse_policy(POLICY_ANNOTATION, &serde_json::to_string(&policy).unwrap())
                .expect("a parsed policy section re-parses");
            assert_eq!(again, policy);
            let _ = policy.ruleset(abi).plan_for(abi).to_string();
        }
        Err(e) => assert!(!e.reason.is_empty()),
    }
});
