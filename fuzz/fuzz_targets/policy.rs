//! Site policy files: `iso_runtime::policy::Policy::from_toml` on arbitrary text, then every
//! way the runtime applies a policy (`apply`, `apply_annotated`, `apply_update`,
//! `apply_exec`) to a config. The input is the policy TOML, a NUL byte, and the config JSON
//! (a default config when that part is missing or does not parse). Never a panic or hang,
//! and applying a policy to its own output changes nothing more.
#![no_main]

use iso_runtime::policy::Policy;
use libfuzzer_sys::fuzz_target;
use oci_spec::runtime::Spec;

fuzz_target!(|data: &[u8]| {
    let (policy, config) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(text) = std::str::from_utf8(policy) else {
        return;
    };
    let policy = match Policy::from_toml(text) {
        Ok(p) => p,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let spec: Spec = serde_json::from_slice(config).unwrap_or_default();
    match policy.apply(&spec) {
        Ok((effective, _)) => {
            let (again, changes) = policy
                .apply(&effective)
                .expect("a policy accepts its own output");
            assert!(changes.is_empty(), "second apply changed {changes:?}");
            // Compared as values: capability sets are hash sets, serialised in any order.
            assert!(again == effective, "second apply changed the config");
            let _ = policy.apply_annotated(&spec);
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    if let Some(res) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) {
        let _ = policy.apply_update(res);
    }
    if let Some(process) = spec.process() {
        let _ = policy.apply_exec(process);
    }
});
