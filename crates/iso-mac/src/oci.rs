//! Conversions from the OCI runtime spec (`oci` feature).

use oci_spec::runtime::{Linux, Process};

use crate::selinux::SeLinuxContext;
use crate::{apparmor, Result};

/// The security labels an OCI `process` asks for, validated.
///
/// ```
/// use oci_spec::runtime::ProcessBuilder;
/// let process = ProcessBuilder::default()
///     .apparmor_profile("iso-default")
///     .selinux_label("system_u:system_r:container_t:s0:c1,c2")
///     .build()
///     .unwrap();
/// let labels = iso_mac::oci::ProcessLabels::from_process(&process)?;
/// assert_eq!(labels.apparmor_profile.as_deref(), Some("iso-default"));
/// assert_eq!(labels.selinux_label.unwrap().level(), Some("s0:c1,c2"));
/// # Ok::<(), iso_mac::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcessLabels {
    /// `process.apparmorProfile`: the profile to enter at exec.
    pub apparmor_profile: Option<String>,
    /// `process.selinuxLabel`: the process context to run with.
    pub selinux_label: Option<SeLinuxContext>,
}

impl ProcessLabels {
    /// Reads and validates the labels of `process`; empty strings count as unset.
    pub fn from_process(process: &Process) -> Result<Self> {
        let apparmor_profile = match process.apparmor_profile().as_deref() {
            None | Some("") => None,
            Some(name) => {
                apparmor::validate_profile_name(name)?;
                Some(name.to_string())
            }
        };
        let selinux_label = match process.selinux_label().as_deref() {
            None | Some("") => None,
            Some(label) => Some(label.parse()?),
        };
        Ok(ProcessLabels {
            apparmor_profile,
            selinux_label,
        })
    }
}

/// `linux.mountLabel`, parsed: the label for the container's mounts (see
/// [`selinux::mount_context_option`](crate::selinux::mount_context_option)).
///
/// ```
/// use oci_spec::runtime::LinuxBuilder;
/// let linux = LinuxBuilder::default()
///     .mount_label("system_u:object_r:container_file_t:s0:c1,c2")
///     .build()
///     .unwrap();
/// let label = iso_mac::oci::mount_label(&linux)?.unwrap();
/// assert_eq!(label.kind(), "container_file_t");
/// # Ok::<(), iso_mac::Error>(())
/// ```
pub fn mount_label(linux: &Linux) -> Result<Option<SeLinuxContext>> {
    match linux.mount_label().as_deref() {
        None | Some("") => Ok(None),
        Some(label) => label.parse().map(Some),
    }
}
