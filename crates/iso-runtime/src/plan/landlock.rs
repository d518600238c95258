//! Landlock: which rulesets confine the container's processes (see [`crate::landlock`]),
//! decided from the annotations and the kernel's Landlock ABI.
//!
//! Each source (the `org.iso.landlock` annotation, the policy's `org.iso.policy.landlock`)
//! gives one ruleset; both are applied, so an access must pass each. A ruleset the kernel
//! cannot fully enforce fails here, before anything is created, under a hard requirement;
//! under best effort the parts the kernel lacks are reported and the rest applied (nothing,
//! on a kernel without Landlock).

use iso_mac::landlock::{Compat, EnforcementStatus, Ruleset};

use super::ConfigFile;
use crate::landlock::{parse, parse_policy, FieldError, ANNOTATION, POLICY_ANNOTATION};
use crate::Error;

/// The rulesets to apply just before the exec, and what best effort left out.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct LandlockPlan {
    /// In the order applied: the annotation's, then the policy's.
    pub rulesets: Vec<Ruleset>,
    /// One line per source the kernel does not fully enforce (best effort).
    pub not_enforced: Vec<String>,
}

impl LandlockPlan {
    /// Decides from the two annotations' values, under Landlock ABI `abi` (0: none).
    pub fn decide(
        annotation: Option<&str>,
        policy: Option<&str>,
        abi: u32,
        config: &ConfigFile,
    ) -> Result<LandlockPlan, Error> {
        let mut plan = LandlockPlan::default();
        if let Some(text) = annotation {
            let ruleset = parse(ANNOTATION, text)
                .and_then(|c| c.ruleset(ANNOTATION))
                .map_err(|e| field_error(config, e))?;
            plan.add(ANNOTATION, ruleset, abi, |reason| {
                field_error(
                    config,
                    FieldError {
                        field: format!("annotations[{ANNOTATION:?}].disableBestEffort"),
                        reason,
                    },
                )
            })?;
        }
        if let Some(text) = policy {
            let section = parse_policy(POLICY_ANNOTATION, text).map_err(|e| Error::Policy {
                rule: "landlock".into(),
                field: e.field,
                reason: e.reason,
            })?;
            plan.add(POLICY_ANNOTATION, section.ruleset(abi), abi, |reason| {
                Error::Policy {
                    rule: "landlock".into(),
                    field: "compatibility = \"hard-requirement\"".into(),
                    reason,
                }
            })?;
        }
        Ok(plan)
    }

    /// Adds `ruleset` if the kernel enforces some of it; fails with `refuse` if it is a hard
    /// requirement the kernel does not meet.
    fn add(
        &mut self,
        source: &str,
        ruleset: Ruleset,
        abi: u32,
        refuse: impl FnOnce(String) -> Error,
    ) -> Result<(), Error> {
        let report = ruleset.plan_for(abi);
        if report.is_full() {
            self.rulesets.push(ruleset);
            return Ok(());
        }
        if ruleset.compatibility() == Compat::Required {
            return Err(refuse(format!("{report}")));
        }
        self.not_enforced
            .push(format!("{source}: {report} (best effort)"));
        if report.status != EnforcementStatus::None {
            self.rulesets.push(ruleset);
        }
        Ok(())
    }

    /// Says on stderr what best effort left out.
    pub fn warn(&self) {
        for line in &self.not_enforced {
            eprintln!("warning: Landlock: {line}");
        }
    }
}

fn field_error(config: &ConfigFile, e: FieldError) -> Error {
    Error::ConfigValue {
        path: config.0.clone(),
        field: e.field,
        reason: e.reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const READ_ONLY: &str = r#"{"rootfs":"read-only","writable":["/tmp"]}"#;
    const HARD: &str = r#"{"rootfs":"read-only","compatibility":"hard-requirement"}"#;
    const UNIX: &str = r#"{"ruleset":{"handledAccessFS":["write_file","resolve_unix"]}}"#;
    const UNIX_HARD: &str =
        r#"{"ruleset":{"handledAccessFS":["write_file","resolve_unix"]},"disableBestEffort":true}"#;

    fn decide(user: Option<&str>, policy: Option<&str>, abi: u32) -> Result<LandlockPlan, Error> {
        LandlockPlan::decide(user, policy, abi, &ConfigFile::of_bundle(Path::new("/b")))
    }

    #[test]
    fn both_sources_stack_in_order() {
        let plan = decide(Some(UNIX), Some(READ_ONLY), 9).unwrap();
        assert_eq!(plan.rulesets.len(), 2);
        assert!(plan.not_enforced.is_empty());
        assert_eq!(plan.rulesets[1].compatibility(), Compat::BestEffort);
    }

    #[test]
    fn best_effort_reports_what_the_abi_lacks_and_applies_the_rest() {
        let plan = decide(Some(UNIX), None, 7).unwrap();
        assert_eq!(plan.rulesets.len(), 1);
        assert!(plan.not_enforced[0].contains("RESOLVE_UNIX"), "{plan:?}");
        // No Landlock: nothing to apply, and said so.
        let plan = decide(Some(UNIX), Some(READ_ONLY), 0).unwrap();
        assert!(plan.rulesets.is_empty());
        assert_eq!(plan.not_enforced.len(), 2);
        assert!(plan.not_enforced[1].contains("not enforced"), "{plan:?}");
    }

    #[test]
    fn a_hard_requirement_the_kernel_misses_fails_naming_the_field() {
        let e = decide(Some(UNIX_HARD), None, 7).unwrap_err().to_string();
        assert!(
            e.contains(r#"annotations["org.iso.landlock"].disableBestEffort"#)
                && e.contains("RESOLVE_UNIX"),
            "{e}"
        );
        assert!(decide(Some(UNIX_HARD), None, 9).is_ok());
        let e = decide(None, Some(HARD), 0).unwrap_err().to_string();
        assert!(
            e.contains("landlock") && e.contains("hard-requirement"),
            "{e}"
        );
        assert!(decide(None, Some(HARD), 1).is_ok());
    }

    #[test]
    fn a_bad_annotation_names_its_field() {
        let e = decide(Some(r#"{"ruleset":{"handledAccessFS":["nope"]}}"#), None, 7)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(r#"annotations["org.iso.landlock"].ruleset.handledAccessFS[0]"#),
            "{e}"
        );
        let e = decide(None, Some(r#"{"writable":["x"]}"#), 7)
            .unwrap_err()
            .to_string();
        assert!(e.contains("landlock.writable[0]"), "{e}");
    }
}
