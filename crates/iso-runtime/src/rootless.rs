//! Rootless mode: the runtime run by a user who is not the host's root.
//!
//! runc's rules, which engines rely on:
//! - `--rootless auto` (the default) is rootless when the effective uid is not 0, or when it
//!   is 0 inside a user namespace that does not map every uid (Podman runs the runtime as
//!   root of such a namespace for an ordinary user);
//! - the default state root of such a user is `$XDG_RUNTIME_DIR/iso` (the user cannot create
//!   `/run/iso`), unless the caller is root of a user namespace and `$USER` says `root`.
//!
//! What rootless changes in `create`: a cgroup the user may not create is skipped (with a
//! warning for the resources that then cannot be applied), and a device of `linux.devices`
//! (or a default one) is bind-mounted from the host instead of being created with `mknod`,
//! which needs the host's `CAP_MKNOD`.

use std::path::PathBuf;

/// `--rootless`: whether the runtime works as an unprivileged user.
///
/// ```
/// use iso_runtime::rootless::Rootless;
/// assert_eq!("auto".parse::<Rootless>(), Ok(Rootless::Auto));
/// assert!(Rootless::True.resolve());
/// assert!(!Rootless::False.resolve());
/// assert!("maybe".parse::<Rootless>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rootless {
    /// Detect it: see [`Rootless::resolve`].
    #[default]
    Auto,
    /// Rootless, whoever runs the runtime.
    True,
    /// Not rootless, whoever runs the runtime.
    False,
}

impl std::str::FromStr for Rootless {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Rootless::Auto),
            "true" => Ok(Rootless::True),
            "false" => Ok(Rootless::False),
            other => Err(format!("{other:?}: expected true, false or auto")),
        }
    }
}

impl Rootless {
    /// Whether the runtime is rootless: `Auto` asks the kernel ([`running_rootless`]).
    pub fn resolve(self) -> bool {
        match self {
            Rootless::True => true,
            Rootless::False => false,
            Rootless::Auto => running_rootless(),
        }
    }
}

/// Whether this process is not the host's root: its effective uid is not 0, or it is 0 in a
/// user namespace whose uid map is not the identity of every uid.
///
/// ```
/// // The test suite runs as the host's root or as an ordinary user.
/// // SAFETY: geteuid cannot fail and touches no memory.
/// let euid = unsafe { libc::geteuid() };
/// if euid != 0 {
///     assert!(iso_runtime::rootless::running_rootless());
/// }
/// ```
pub fn running_rootless() -> bool {
    // SAFETY: geteuid cannot fail and touches no memory.
    if unsafe { libc::geteuid() } != 0 {
        return true;
    }
    in_partial_user_namespace()
}

/// Whether this process' user namespace maps less than every uid onto the same uid (the
/// initial namespace maps `0 0 4294967295`). An unreadable map counts as the initial one.
fn in_partial_user_namespace() -> bool {
    let full = iso_ns::IdMapEntry::new(0, 0, u32::MAX);
    match iso_ns::UidMap::read(iso_sys::ProcPid::SelfPid) {
        Ok(Some(map)) => map.entries() != [full],
        _ => false,
    }
}

/// The default `--root`: `/run/iso` for the host's root; `$XDG_RUNTIME_DIR/iso` for another
/// user who has that directory, as runc (`$XDG_RUNTIME_DIR/runc`); root of a user namespace
/// counts as another user unless `$USER` is `root`.
///
/// ```
/// let root = iso_runtime::rootless::default_state_root();
/// assert!(root.ends_with("iso"));
/// ```
pub fn default_state_root() -> PathBuf {
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty());
    // SAFETY: geteuid cannot fail and touches no memory.
    let euid = unsafe { libc::geteuid() };
    // (The uid map is read only when the answer depends on it: every command asks.)
    let honour_xdg = || {
        euid != 0
            || (in_partial_user_namespace()
                && !matches!(std::env::var_os("USER"), Some(user) if user == "root"))
    };
    match xdg {
        Some(dir) if honour_xdg() => PathBuf::from(dir).join("iso"),
        _ => PathBuf::from("/run/iso"),
    }
}

/// The top-level fields of `linux.resources` that set something (`memory`, `pids`, ...):
/// what a rootless container without a cgroup reports as not applied.
///
/// ```
/// let res: oci_spec::runtime::LinuxResources =
///     serde_json::from_str(r#"{"pids": {"limit": 10}, "devices": []}"#).expect("valid");
/// assert_eq!(iso_runtime::rootless::requested_resources(Some(&res)), ["pids"]);
/// assert!(iso_runtime::rootless::requested_resources(None).is_empty());
/// ```
pub fn requested_resources(resources: Option<&oci_spec::runtime::LinuxResources>) -> Vec<String> {
    let Some(Ok(serde_json::Value::Object(fields))) = resources.map(serde_json::to_value) else {
        return Vec::new();
    };
    fields
        .into_iter()
        .filter(|(_, v)| match v {
            serde_json::Value::Null => false,
            serde_json::Value::Array(a) => !a.is_empty(),
            serde_json::Value::Object(o) => !o.is_empty(),
            _ => true,
        })
        .map(|(k, _)| k)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    #[test]
    fn the_flag_is_runcs() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("iso-runtime").chain(args.iter().copied()))
                .map(|cli| cli.rootless)
        };
        assert_eq!(parse(&["list"]).unwrap(), Rootless::Auto);
        assert_eq!(
            parse(&["--rootless=false", "list"]).unwrap(),
            Rootless::False
        );
        assert_eq!(
            parse(&["--rootless", "auto", "list"]).unwrap(),
            Rootless::Auto
        );
        // `spec --rootless` (runc's flag of `spec`) is the global flag without a value.
        assert_eq!(parse(&["spec", "--rootless"]).unwrap(), Rootless::True);
        assert_eq!(
            parse(&["spec", "--rootless", "-b", "x"]).unwrap(),
            Rootless::True
        );
        let err = parse(&["--rootless=maybe", "list"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--rootless") && err.contains("auto"), "{err}");
    }

    #[test]
    fn resources_that_set_nothing_are_not_reported() {
        let res: oci_spec::runtime::LinuxResources = serde_json::from_value(serde_json::json!({
            "devices": [{"allow": false, "access": "rwm"}],
            "memory": {"limit": 1048576},
            "cpu": {}
        }))
        .expect("valid resources");
        assert_eq!(requested_resources(Some(&res)), ["devices", "memory"]);
    }
}
