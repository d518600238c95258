//! Conversions from `oci-spec` (feature `oci`).

use oci_spec::runtime::LinuxCapabilities;

use crate::{CapConfig, Set};

#[cfg_attr(docsrs, doc(cfg(feature = "oci")))]
impl From<&LinuxCapabilities> for CapConfig {
    /// The five sets of an OCI `process.capabilities`; an absent set is empty. Names
    /// `oci-spec` knows and this crate does not are recorded as skipped.
    ///
    /// ```
    /// let spec: oci_spec::runtime::LinuxCapabilities = serde_json::from_str(
    ///     r#"{"bounding": ["CAP_NET_RAW", "CAP_KILL"], "effective": ["CAP_KILL"]}"#,
    /// )?;
    /// let config = iso_caps::CapConfig::from(&spec);
    /// assert_eq!(config.capabilities().bounding.to_string(), "CAP_KILL,CAP_NET_RAW");
    /// assert_eq!(config.capabilities().effective.to_string(), "CAP_KILL");
    /// assert!(config.capabilities().permitted.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn from(spec: &LinuxCapabilities) -> Self {
        let sets = [
            (Set::Bounding, spec.bounding()),
            (Set::Effective, spec.effective()),
            (Set::Permitted, spec.permitted()),
            (Set::Inheritable, spec.inheritable()),
            (Set::Ambient, spec.ambient()),
        ];
        let mut config = CapConfig::new();
        for (set, caps) in sets {
            // oci-spec prints names without the CAP_ prefix ("NET_RAW"), which we accept.
            let names = caps.iter().flatten().map(|cap| cap.to_string());
            config = config.names_skip_unknown(set, names);
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Capability;

    #[test]
    fn every_capability_converts() {
        let names: Vec<&str> = Capability::ALL.iter().map(|c| c.name()).collect();
        let json = serde_json::json!({
            "bounding": names, "effective": names, "permitted": names,
            "inheritable": names, "ambient": names,
        });
        let spec: LinuxCapabilities = serde_json::from_value(json).unwrap();
        let config = CapConfig::from(&spec);
        assert!(config.skipped().is_empty(), "{:?}", config.skipped());
        for set in Set::ALL {
            assert_eq!(
                config.capabilities().get(set),
                crate::CapSet::all_known(),
                "{set}"
            );
        }
    }

    #[test]
    fn absent_sets_are_empty() {
        let spec: LinuxCapabilities = serde_json::from_str("{}").unwrap();
        let config = CapConfig::from(&spec);
        assert_eq!(*config.capabilities(), crate::Capabilities::default());
    }
}
