//! `linux.netDevices` (runtime-spec 1.3): the host interfaces `create` moves into the
//! container's new network namespace, and the names they get there.

use iso_ns::netdev::IfName;
use iso_ns::Namespace;
use oci_spec::runtime::Linux;
use serde::{Deserialize, Serialize};

use super::{ConfigFile, NamespacePlan};
use crate::Error;

/// One device to move: its name in the runtime's network namespace and in the container's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NetDevice {
    /// The key of `linux.netDevices`: the name in the runtime's namespace, restored when
    /// the device is moved back.
    pub host: String,
    /// `name`, or the key when it is absent or empty.
    pub container: String,
}

impl NetDevice {
    /// The two names as the kernel's type (valid: checked by [`plan`]).
    pub fn names(&self) -> Result<(IfName, IfName), iso_ns::Error> {
        Ok((IfName::new(&self.host)?, IfName::new(&self.container)?))
    }
}

/// Reads `linux.netDevices`, sorted by host name. Refused: names the kernel would refuse,
/// two devices given the same name in the container, devices without a network namespace
/// of the container's own to move them to (new, or joined by path as a pod's: the spec
/// asks for a dedicated one; `launch` checks a joined one is not the runtime's), and a
/// rootless runtime (moving a device needs `CAP_NET_ADMIN` in the runtime's namespace).
pub(crate) fn plan(
    linux: &Linux,
    namespaces: &NamespacePlan,
    rootless: bool,
    config: &ConfigFile,
) -> Result<Vec<NetDevice>, Error> {
    let Some(map) = linux.net_devices().as_ref().filter(|m| !m.is_empty()) else {
        return Ok(Vec::new());
    };
    let joined = namespaces.join.iter().any(|j| j.kind == Namespace::Net);
    if !namespaces.new.contains(Namespace::Net) && !joined {
        return Err(config.invalid(
            "linux.netDevices",
            "needs a network namespace of the container's own (a \"network\" entry in \
             linux.namespaces): devices are moved into it, not into the runtime's",
        ));
    }
    if rootless {
        return Err(config.invalid(
            "linux.netDevices",
            "a rootless runtime cannot move network devices (needs CAP_NET_ADMIN in the \
             runtime's network namespace)",
        ));
    }
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    let mut out: Vec<NetDevice> = Vec::with_capacity(keys.len());
    for key in keys {
        let field = |suffix: &str| format!("linux.netDevices[{key:?}]{suffix}");
        let invalid = |suffix: &str, reason: String| config.invalid_at(field(suffix), reason);
        IfName::new(key).map_err(|e| invalid("", e.to_string()))?;
        let container = match map[key].name().as_deref() {
            Some(name) if !name.is_empty() => {
                IfName::new(name).map_err(|e| invalid(".name", e.to_string()))?;
                name.to_owned()
            }
            _ => key.clone(),
        };
        if let Some(other) = out.iter().find(|d| d.container == container) {
            return Err(invalid(
                ".name",
                format!(
                    "{container:?} is also the container name of linux.netDevices[{:?}]",
                    other.host
                ),
            ));
        }
        out.push(NetDevice {
            host: key.clone(),
            container,
        });
    }
    Ok(out)
}
