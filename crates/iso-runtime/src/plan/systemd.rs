//! `--systemd-cgroup`: which transient unit a container's cgroup is, from `cgroupsPath`.

use iso_cgroups::SystemdUnit;
use serde::{Deserialize, Serialize};

use super::ConfigFile;
use crate::Error;

/// The slice of a unit whose `cgroupsPath` names none (runc's default for root).
pub(crate) const DEFAULT_SLICE: &str = "system.slice";

/// The unit prefix of a container without a `cgroupsPath` (runc uses its own name too).
pub(crate) const DEFAULT_PREFIX: &str = "iso";

/// The unit of a container under `--systemd-cgroup`, as runc reads `cgroupsPath`:
/// `slice:prefix:name`; an empty slice is [`DEFAULT_SLICE`]; the unit is `prefix-name.scope`,
/// or `name` itself when it ends in `.slice`; an empty `cgroupsPath` is
/// `system.slice:iso:<id>`. Errors name `linux.cgroupsPath`.
pub(crate) fn unit_for(
    cgroups_path: Option<&str>,
    id: &str,
    config: &ConfigFile,
) -> Result<SystemdUnit, Error> {
    let field = "linux.cgroupsPath";
    let (slice, prefix, name) = match cgroups_path.filter(|p| !p.is_empty()) {
        None => ("", DEFAULT_PREFIX, id),
        Some(path) => {
            let parts: Vec<&str> = path.split(':').collect();
            let [slice, prefix, name] = parts[..] else {
                return Err(config.invalid(
                    field,
                    format!(
                        "{path:?}: with --systemd-cgroup the form is \"slice:prefix:name\" \
                         (for example system.slice:docker:<id>)"
                    ),
                ));
            };
            (slice, prefix, name)
        }
    };
    if name.is_empty() {
        return Err(config.invalid(field, "the unit name (after the second colon) is empty"));
    }
    let slice = if slice.is_empty() {
        DEFAULT_SLICE
    } else {
        slice
    };
    let unit = if name.ends_with(".slice") {
        name.to_owned()
    } else {
        format!("{prefix}-{name}.scope")
    };
    SystemdUnit::new(slice, &unit).map_err(|e| config.invalid(field, e.to_string()))
}

/// What the record keeps of a systemd-managed container: enough to find its unit again for
/// `update` and `delete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UnitRecord {
    /// The slice the unit was started in.
    pub slice: String,
    /// The unit's name.
    pub unit: String,
}

impl UnitRecord {
    /// The record of `unit`.
    pub fn of(unit: &SystemdUnit) -> Self {
        UnitRecord {
            slice: unit.slice().to_owned(),
            unit: unit.name().to_owned(),
        }
    }

    /// The unit again.
    pub fn unit(&self) -> Result<SystemdUnit, Error> {
        Ok(SystemdUnit::new(&self.slice, &self.unit)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn unit(path: Option<&str>) -> Result<SystemdUnit, Error> {
        unit_for(path, "c9", &ConfigFile::of_bundle(Path::new("/b")))
    }

    #[test]
    fn runc_forms() {
        let u = unit(Some("system.slice:iso:c1")).unwrap();
        assert_eq!((u.slice(), u.name()), ("system.slice", "iso-c1.scope"));
        assert_eq!(u.cgroup_path().as_str(), "/system.slice/iso-c1.scope");
        let u = unit(Some("kubepods-burstable-pod123.slice:cri-containerd:c2")).unwrap();
        assert_eq!(
            u.cgroup_path().as_str(),
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod123.slice/\
             cri-containerd-c2.scope"
        );
        // Empty parts: runc's defaults.
        let u = unit(Some(":docker:abc")).unwrap();
        assert_eq!((u.slice(), u.name()), ("system.slice", "docker-abc.scope"));
        let u = unit(None).unwrap();
        assert_eq!(u.name(), "iso-c9.scope");
        assert_eq!(unit(Some("")).unwrap(), u);
        // A name ending in .slice is a slice of its own, placed by its name.
        let u = unit(Some("kubepods.slice::kubepods-pod1.slice")).unwrap();
        assert!(u.is_slice());
        assert_eq!(
            u.cgroup_path().as_str(),
            "/kubepods.slice/kubepods-pod1.slice"
        );
    }

    #[test]
    fn malformed_paths_name_the_field() {
        for bad in [
            "/iso/c1",
            "a:b",
            "a:b:c:d",
            "system.slice:iso:",
            "system:iso:c1",
            "system.slice:iso:c/1",
            "a--b.slice:iso:c1",
        ] {
            let e = unit(Some(bad)).unwrap_err();
            assert!(e.to_string().contains("linux.cgroupsPath"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_record_round_trips() {
        let u = unit(Some("a-b.slice:p:n")).unwrap();
        let r = UnitRecord::of(&u);
        let json = serde_json::to_string(&r).unwrap();
        let back: UnitRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back.unit().unwrap(), u);
    }
}
