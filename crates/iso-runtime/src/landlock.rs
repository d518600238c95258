//! Landlock for containers: the rulesets a container's processes are confined by, from an
//! annotation and from the site policy.
//!
//! The runtime specification has no Landlock field yet; its proposal (runtime-spec pull
//! request 1241, `process.landlock`) is carried, in the same JSON shape, by the annotation
//! [`ANNOTATION`] (`org.iso.landlock`):
//!
//! ```json
//! {
//!   "ruleset": {
//!     "handledAccessFS": ["write_file", "make_reg", "make_dir", "remove_file", "remove_dir"],
//!     "handledAccessNetwork": ["bind_tcp"]
//!   },
//!   "rules": {
//!     "pathBeneath": [{"allowedAccess": ["write_file", "make_reg"], "paths": ["/tmp"]}],
//!     "netPort": [{"allowedAccess": ["bind_tcp"], "ports": [8080]}]
//!   },
//!   "disableBestEffort": false
//! }
//! ```
//!
//! Everything handled is denied unless a rule allows it beneath a path (paths are the
//! container's, taken after it entered its root) or on a TCP port. With `disableBestEffort`
//! a right the kernel's Landlock ABI cannot enforce fails `create`; without it the container
//! runs and the runtime says on stderr what was not enforced.
//!
//! The site policy's `[landlock]` section ([`LandlockPolicy`]) adds a second ruleset, which
//! the policy records in the annotation [`POLICY_ANNOTATION`]. Both apply (Landlock rulesets
//! stack: an access must be allowed by each), to the container's process and to every
//! process `exec`ed into it, from the annotations recorded at `create`.
//!
//! ```
//! use iso_runtime::landlock::{parse, ANNOTATION};
//!
//! let config = parse(ANNOTATION, r#"{"ruleset":{"handledAccessFS":["write_file"]},
//!     "rules":{"pathBeneath":[{"allowedAccess":["write_file"],"paths":["/tmp"]}]}}"#)?;
//! let ruleset = config.ruleset(ANNOTATION)?;
//! assert!(ruleset.plan_for(1).is_full());
//!
//! let err = parse(ANNOTATION, r#"{"rules":{"pathBeneath":[{"allowedAccess":["fly"],"paths":[]}]}}"#)
//!     .unwrap_err();
//! assert_eq!(err.field, r#"annotations["org.iso.landlock"].rules.pathBeneath[0].allowedAccess[0]"#);
//! # Ok::<(), iso_runtime::landlock::FieldError>(())
//! ```

use std::fmt;
use std::path::PathBuf;

use iso_mac::landlock::{Compat, FsAccess, NetAccess, Ruleset};
use serde::{Deserialize, Serialize};

/// The annotation carrying the proposed `process.landlock` object as JSON.
pub const ANNOTATION: &str = "org.iso.landlock";
/// The annotation in which the site policy records its `[landlock]` section (as JSON).
pub const POLICY_ANNOTATION: &str = "org.iso.policy.landlock";

/// A Landlock setting the runtime cannot use: the field (a JSON path under the annotation)
/// and why.
///
/// ```
/// let e = iso_runtime::landlock::parse("org.iso.landlock", "[]").unwrap_err();
/// assert!(e.field.starts_with("annotations[\"org.iso.landlock\"]"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// `annotations["org.iso.landlock"].rules.pathBeneath[0].paths[1]`.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for FieldError {}

fn field_error(annotation: &str, field: &str, reason: impl Into<String>) -> FieldError {
    let sep = if field.is_empty() { "" } else { "." };
    FieldError {
        field: format!("annotations[{annotation:?}]{sep}{field}"),
        reason: reason.into(),
    }
}

/// A filesystem access right, as the proposal names it (`LANDLOCK_ACCESS_FS_*` in lower
/// case, without the prefix).
///
/// ```
/// use iso_runtime::landlock::FsRight;
/// let r: FsRight = serde_json::from_str("\"write_file\"").unwrap();
/// assert_eq!(r.access(), iso_mac::landlock::FsAccess::WRITE_FILE);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsRight {
    /// Execute a file.
    Execute,
    /// Open a file for writing.
    WriteFile,
    /// Open a file for reading.
    ReadFile,
    /// Open or list a directory.
    ReadDir,
    /// Remove an empty directory.
    RemoveDir,
    /// Unlink a file.
    RemoveFile,
    /// Create a character device.
    MakeChar,
    /// Create a directory.
    MakeDir,
    /// Create a regular file.
    MakeReg,
    /// Create a UNIX socket.
    MakeSock,
    /// Create a named pipe.
    MakeFifo,
    /// Create a block device.
    MakeBlock,
    /// Create a symbolic link.
    MakeSym,
    /// Link or rename across directories (ABI 2).
    Refer,
    /// Truncate a file (ABI 3).
    Truncate,
    /// ioctl on a device (ABI 5).
    IoctlDev,
    /// Connect to a pathname UNIX socket (ABI 9).
    ResolveUnix,
}

impl FsRight {
    /// The right as `iso-mac` models it.
    ///
    /// ```
    /// use iso_runtime::landlock::FsRight;
    /// assert_eq!(FsRight::Refer.access(), iso_mac::landlock::FsAccess::REFER);
    /// ```
    pub fn access(self) -> FsAccess {
        match self {
            FsRight::Execute => FsAccess::EXECUTE,
            FsRight::WriteFile => FsAccess::WRITE_FILE,
            FsRight::ReadFile => FsAccess::READ_FILE,
            FsRight::ReadDir => FsAccess::READ_DIR,
            FsRight::RemoveDir => FsAccess::REMOVE_DIR,
            FsRight::RemoveFile => FsAccess::REMOVE_FILE,
            FsRight::MakeChar => FsAccess::MAKE_CHAR,
            FsRight::MakeDir => FsAccess::MAKE_DIR,
            FsRight::MakeReg => FsAccess::MAKE_REG,
            FsRight::MakeSock => FsAccess::MAKE_SOCK,
            FsRight::MakeFifo => FsAccess::MAKE_FIFO,
            FsRight::MakeBlock => FsAccess::MAKE_BLOCK,
            FsRight::MakeSym => FsAccess::MAKE_SYM,
            FsRight::Refer => FsAccess::REFER,
            FsRight::Truncate => FsAccess::TRUNCATE,
            FsRight::IoctlDev => FsAccess::IOCTL_DEV,
            FsRight::ResolveUnix => FsAccess::RESOLVE_UNIX,
        }
    }
}

/// A network access right, as the proposal names it.
///
/// ```
/// use iso_runtime::landlock::NetRight;
/// let r: NetRight = serde_json::from_str("\"connect_tcp\"").unwrap();
/// assert_eq!(r.access(), iso_mac::landlock::NetAccess::CONNECT_TCP);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetRight {
    /// bind(2) a TCP socket to a port (ABI 4).
    BindTcp,
    /// connect(2) a TCP socket to a port (ABI 4).
    ConnectTcp,
}

impl NetRight {
    /// The right as `iso-mac` models it.
    ///
    /// ```
    /// use iso_runtime::landlock::NetRight;
    /// assert_eq!(NetRight::BindTcp.access(), iso_mac::landlock::NetAccess::BIND_TCP);
    /// ```
    pub fn access(self) -> NetAccess {
        match self {
            NetRight::BindTcp => NetAccess::BIND_TCP,
            NetRight::ConnectTcp => NetAccess::CONNECT_TCP,
        }
    }
}

/// The proposed `process.landlock` object.
///
/// ```
/// let c: iso_runtime::landlock::LandlockConfig = serde_json::from_str("{}").unwrap();
/// assert!(!c.disable_best_effort);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LandlockConfig {
    /// What is handled (denied unless a rule allows it).
    #[serde(default)]
    pub ruleset: LandlockRuleset,
    /// What is allowed.
    #[serde(default)]
    pub rules: LandlockRules,
    /// Fail `create` when the kernel cannot enforce every handled right.
    #[serde(default)]
    pub disable_best_effort: bool,
}

/// `ruleset`: the handled rights.
///
/// ```
/// let r = iso_runtime::landlock::LandlockRuleset::default();
/// assert!(r.handled_access_fs.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LandlockRuleset {
    /// `handledAccessFS`.
    #[serde(rename = "handledAccessFS", default)]
    pub handled_access_fs: Vec<FsRight>,
    /// `handledAccessNetwork`.
    #[serde(default)]
    pub handled_access_network: Vec<NetRight>,
}

/// `rules`: what is allowed beneath paths and on ports.
///
/// ```
/// let r = iso_runtime::landlock::LandlockRules::default();
/// assert!(r.path_beneath.is_empty() && r.net_port.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LandlockRules {
    /// `pathBeneath`.
    #[serde(default)]
    pub path_beneath: Vec<PathBeneathRule>,
    /// `netPort`.
    #[serde(default)]
    pub net_port: Vec<NetPortRule>,
}

/// One `pathBeneath` rule: rights allowed beneath each of `paths` (container paths).
///
/// ```
/// let r: iso_runtime::landlock::PathBeneathRule =
///     serde_json::from_str(r#"{"allowedAccess":["read_file"],"paths":["/etc"]}"#).unwrap();
/// assert_eq!(r.paths.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PathBeneathRule {
    /// `allowedAccess`.
    pub allowed_access: Vec<FsRight>,
    /// `paths`.
    pub paths: Vec<PathBuf>,
}

/// One `netPort` rule: rights allowed on each of `ports`.
///
/// ```
/// let r: iso_runtime::landlock::NetPortRule =
///     serde_json::from_str(r#"{"allowedAccess":["bind_tcp"],"ports":[80]}"#).unwrap();
/// assert_eq!(r.ports, [80]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetPortRule {
    /// `allowedAccess`.
    pub allowed_access: Vec<NetRight>,
    /// `ports`.
    pub ports: Vec<u16>,
}

/// Parses the JSON of `annotation` as a [`LandlockConfig`]; the error names the field.
///
/// ```
/// let e = iso_runtime::landlock::parse("org.iso.landlock", r#"{"disableBestEffort":1}"#)
///     .unwrap_err();
/// assert_eq!(e.field, r#"annotations["org.iso.landlock"].disableBestEffort"#);
/// ```
pub fn parse(annotation: &str, text: &str) -> Result<LandlockConfig, FieldError> {
    parse_typed(annotation, text)
}

fn parse_typed<T: serde::de::DeserializeOwned>(
    annotation: &str,
    text: &str,
) -> Result<T, FieldError> {
    // serde would also take the fields in order from an array.
    if !text.trim_start().starts_with('{') {
        return Err(field_error(annotation, "", "must be a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        field_error(annotation, &field, e.inner().to_string())
    })?;
    de.end()
        .map_err(|e| field_error(annotation, "", format!("after the JSON document: {e}")))?;
    Ok(parsed)
}

impl LandlockConfig {
    /// The ruleset, checked: something is handled, every path is absolute, every allowed
    /// right is handled. Rule paths that do not exist in the container are left out (they
    /// would allow nothing); `no_new_privs` is left to the process' own setting.
    ///
    /// ```
    /// let c = iso_runtime::landlock::parse("a", r#"{"ruleset":{"handledAccessFS":["read_file"]},
    ///     "rules":{"pathBeneath":[{"allowedAccess":["write_file"],"paths":["/tmp"]}]}}"#)?;
    /// let e = c.ruleset("a").unwrap_err();
    /// assert_eq!(e.field, r#"annotations["a"].rules.pathBeneath[0].allowedAccess[0]"#);
    /// # Ok::<(), iso_runtime::landlock::FieldError>(())
    /// ```
    pub fn ruleset(&self, annotation: &str) -> Result<Ruleset, FieldError> {
        let err = |field: String, reason: String| field_error(annotation, &field, reason);
        let fs = rights(&self.ruleset.handled_access_fs, FsRight::access);
        let net = rights(&self.ruleset.handled_access_network, NetRight::access);
        if fs.is_empty() && net.is_empty() {
            return Err(err(
                "ruleset".into(),
                "handles no access right, so it would restrict nothing".into(),
            ));
        }
        let compat = match self.disable_best_effort {
            true => Compat::Required,
            false => Compat::BestEffort,
        };
        let mut ruleset = Ruleset::new()
            .handle_fs(fs)
            .handle_net(net)
            .compat(compat)
            .no_new_privs(false)
            .skip_missing_paths(true);
        for (i, rule) in self.rules.path_beneath.iter().enumerate() {
            let field = format!("rules.pathBeneath[{i}]");
            let allowed = allowed(&field, &rule.allowed_access, FsRight::access, fs, "FS")
                .map_err(|(f, r)| err(f, r))?;
            for (j, path) in rule.paths.iter().enumerate() {
                if !path.is_absolute() {
                    return Err(err(
                        format!("{field}.paths[{j}]"),
                        format!("{path:?} is not absolute (a path in the container)"),
                    ));
                }
                ruleset = ruleset.allow_path(path, allowed);
            }
        }
        for (i, rule) in self.rules.net_port.iter().enumerate() {
            let field = format!("rules.netPort[{i}]");
            let allowed = allowed(
                &field,
                &rule.allowed_access,
                NetRight::access,
                net,
                "Network",
            )
            .map_err(|(f, r)| err(f, r))?;
            for port in &rule.ports {
                ruleset = ruleset.allow_port(*port, allowed);
            }
        }
        Ok(ruleset)
    }
}

fn rights<R: Copy, A: bitflags::Flags + Copy>(list: &[R], access: fn(R) -> A) -> A {
    list.iter().fold(A::empty(), |acc, r| acc.union(access(*r)))
}

/// The union of a rule's `allowedAccess`, each of which must be handled and which may not
/// be empty; the error is (field, reason).
fn allowed<R: Copy + fmt::Debug, A: bitflags::Flags + Copy>(
    field: &str,
    list: &[R],
    access: fn(R) -> A,
    handled: A,
    kind: &str,
) -> Result<A, (String, String)> {
    if list.is_empty() {
        return Err((
            format!("{field}.allowedAccess"),
            "is empty: the rule would allow nothing".into(),
        ));
    }
    for (k, right) in list.iter().enumerate() {
        if !handled.contains(access(*right)) {
            return Err((
                format!("{field}.allowedAccess[{k}]"),
                format!("{right:?} is not in ruleset.handledAccess{kind}"),
            ));
        }
    }
    Ok(rights(list, access))
}

/// Whether the policy's `[landlock]` leaves the root filesystem writable or makes it
/// read-only except `writable`.
///
/// ```
/// let r: iso_runtime::landlock::RootfsAccess = serde_json::from_str("\"read-only\"").unwrap();
/// assert_eq!(r, iso_runtime::landlock::RootfsAccess::ReadOnly);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RootfsAccess {
    /// Filesystem access is not restricted by the policy.
    #[default]
    ReadWrite,
    /// Every writing right the kernel's Landlock knows is denied except beneath `writable`.
    ReadOnly,
}

/// What the policy does when the kernel cannot enforce its `[landlock]` section.
///
/// ```
/// let c: iso_runtime::landlock::Compatibility =
///     serde_json::from_str("\"hard-requirement\"").unwrap();
/// assert_eq!(c, iso_runtime::landlock::Compatibility::HardRequirement);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Compatibility {
    /// Run, enforcing what the kernel can, and say on stderr what was not enforced.
    #[default]
    BestEffort,
    /// Fail `create` unless everything is enforced.
    HardRequirement,
}

/// The site policy's `[landlock]` section.
///
/// ```toml
/// [landlock]
/// rootfs = "read-only"                     # or "read-write" (the default)
/// writable = ["/tmp", "/run", "/dev"]      # with read-only: where writing is allowed
/// bind_tcp = [8080]                        # if given: the only TCP ports bind(2) may use
/// connect_tcp = [53, 443]                  # if given: the only TCP ports connect(2) may use
/// compatibility = "best-effort"            # or "hard-requirement"
/// ```
///
/// ```
/// use iso_runtime::landlock::{LandlockPolicy, RootfsAccess};
/// let p = LandlockPolicy { rootfs: RootfsAccess::ReadOnly, writable: vec!["/tmp".into()],
///     ..Default::default() };
/// assert!(p.validate().is_ok());
/// assert!(p.ruleset(7).plan_for(7).is_full());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LandlockPolicy {
    /// `read-only`: every writing right is handled, allowed only beneath `writable`.
    #[serde(default)]
    pub rootfs: RootfsAccess,
    /// Container paths where writing stays allowed (with `rootfs = "read-only"`).
    #[serde(default)]
    pub writable: Vec<PathBuf>,
    /// The only TCP ports the container may bind (all, when absent).
    pub bind_tcp: Option<Vec<u16>>,
    /// The only TCP ports the container may connect to (all, when absent).
    pub connect_tcp: Option<Vec<u16>>,
    /// Best effort (default) or hard requirement.
    #[serde(default)]
    pub compatibility: Compatibility,
}

impl LandlockPolicy {
    /// Checks the section; the error names the key (`landlock.writable[0]`).
    ///
    /// ```
    /// let p = iso_runtime::landlock::LandlockPolicy::default();
    /// assert!(p.validate().unwrap_err().contains("restricts nothing"));
    /// ```
    pub fn validate(&self) -> Result<(), String> {
        for (i, p) in self.writable.iter().enumerate() {
            if !p.is_absolute() {
                return Err(format!("landlock.writable[{i}]: {p:?} is not absolute"));
            }
        }
        if !self.writable.is_empty() && self.rootfs != RootfsAccess::ReadOnly {
            return Err("landlock.writable: only with rootfs = \"read-only\"".into());
        }
        if self.rootfs == RootfsAccess::ReadWrite
            && self.bind_tcp.is_none()
            && self.connect_tcp.is_none()
        {
            return Err(
                "landlock: restricts nothing (set rootfs = \"read-only\", bind_tcp or connect_tcp)"
                    .into(),
            );
        }
        Ok(())
    }

    /// The ruleset under Landlock ABI `abi`: "read-only" handles every writing right that
    /// ABI has (those of ABI 1 when Landlock is missing, so the report says what is not
    /// enforced), and each port list handles its right.
    ///
    /// ```
    /// use iso_runtime::landlock::LandlockPolicy;
    /// let p = LandlockPolicy { bind_tcp: Some(vec![80]), ..Default::default() };
    /// assert!(!p.ruleset(3).plan_for(3).is_full());
    /// assert!(p.ruleset(4).plan_for(4).is_full());
    /// ```
    pub fn ruleset(&self, abi: u32) -> Ruleset {
        let compat = match self.compatibility {
            Compatibility::BestEffort => Compat::BestEffort,
            Compatibility::HardRequirement => Compat::Required,
        };
        let mut ruleset = Ruleset::new()
            .compat(compat)
            .no_new_privs(false)
            .skip_missing_paths(true);
        if self.rootfs == RootfsAccess::ReadOnly {
            let write = FsAccess::write_known() & FsAccess::supported_by(abi.max(1));
            ruleset = ruleset.handle_fs(write);
            for path in &self.writable {
                ruleset = ruleset.allow_path(path, write);
            }
        }
        for (ports, right) in [
            (&self.bind_tcp, NetAccess::BIND_TCP),
            (&self.connect_tcp, NetAccess::CONNECT_TCP),
        ] {
            if let Some(ports) = ports {
                ruleset = ruleset.handle_net(right);
                for port in ports {
                    ruleset = ruleset.allow_port(*port, right);
                }
            }
        }
        ruleset
    }
}

/// Parses the policy's section as recorded in [`POLICY_ANNOTATION`]; the error names the
/// field.
///
/// ```
/// let p = iso_runtime::landlock::parse_policy(
///     "org.iso.policy.landlock", r#"{"rootfs":"read-only","writable":["/tmp"]}"#)?;
/// assert_eq!(p.writable.len(), 1);
/// # Ok::<(), iso_runtime::landlock::FieldError>(())
/// ```
pub fn parse_policy(annotation: &str, text: &str) -> Result<LandlockPolicy, FieldError> {
    let policy: LandlockPolicy = parse_typed(annotation, text)?;
    policy
        .validate()
        .map_err(|reason| field_error(annotation, "", reason))?;
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FS_NAMES: [&str; 17] = [
        "execute",
        "write_file",
        "read_file",
        "read_dir",
        "remove_dir",
        "remove_file",
        "make_char",
        "make_dir",
        "make_reg",
        "make_sock",
        "make_fifo",
        "make_block",
        "make_sym",
        "refer",
        "truncate",
        "ioctl_dev",
        "resolve_unix",
    ];

    #[test]
    fn every_fs_name_maps_to_its_own_bit() {
        let mut all = FsAccess::empty();
        for name in FS_NAMES {
            let right: FsRight = serde_json::from_str(&format!("{name:?}")).unwrap();
            assert!(!all.intersects(right.access()), "{name}");
            all |= right.access();
        }
        assert_eq!(all, FsAccess::all());
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                r#"{"rules":{"pathBeneath":[{"allowedAccess":["read_file","x"],"paths":[]}]}}"#,
                r#"annotations["a"].rules.pathBeneath[0].allowedAccess[1]"#,
            ),
            (
                r#"{"ruleset":{"handledAccessFS":["read_file"]},"rules":{"pathBeneath":[{"allowedAccess":["read_file"],"paths":["/a","b"]}]}}"#,
                r#"annotations["a"].rules.pathBeneath[0].paths[1]"#,
            ),
            (
                r#"{"ruleset":{"handledAccessFS":["read_file"]},"rules":{"netPort":[{"allowedAccess":["bind_tcp"],"ports":[1]}]}}"#,
                r#"annotations["a"].rules.netPort[0].allowedAccess[0]"#,
            ),
            (
                r#"{"ruleset":{"handledAccessNetwork":["bind_tcp"]},"rules":{"netPort":[{"allowedAccess":["bind_tcp"],"ports":[70000]}]}}"#,
                r#"annotations["a"].rules.netPort[0].ports[0]"#,
            ),
            (r#"{"ruleset":{}}"#, r#"annotations["a"].ruleset"#),
            (r#"{"bogus":1}"#, r#"annotations["a"].bogus"#),
            ("{} x", r#"annotations["a"]"#),
            ("[[], {}, true]", r#"annotations["a"]"#),
        ];
        for (text, field) in cases {
            let e = parse("a", text).and_then(|c| c.ruleset("a").map(|_| c));
            assert_eq!(e.unwrap_err().field, field, "{text}");
        }
    }

    #[test]
    fn the_ruleset_has_the_rules_and_the_compatibility() {
        let c = parse(
            "a",
            r#"{"ruleset":{"handledAccessFS":["write_file","make_reg"],"handledAccessNetwork":["bind_tcp"]},
                "rules":{"pathBeneath":[{"allowedAccess":["write_file"],"paths":["/tmp","/run"]}],
                         "netPort":[{"allowedAccess":["bind_tcp"],"ports":[80,443]}]},
                "disableBestEffort":true}"#,
        )
        .unwrap();
        let want = Ruleset::new()
            .handle_fs(FsAccess::WRITE_FILE | FsAccess::MAKE_REG)
            .handle_net(NetAccess::BIND_TCP)
            .compat(Compat::Required)
            .no_new_privs(false)
            .skip_missing_paths(true)
            .allow_path("/tmp", FsAccess::WRITE_FILE)
            .allow_path("/run", FsAccess::WRITE_FILE)
            .allow_port(80, NetAccess::BIND_TCP)
            .allow_port(443, NetAccess::BIND_TCP);
        assert_eq!(c.ruleset("a").unwrap(), want);
    }

    #[test]
    fn the_policy_section_is_checked_and_follows_the_abi() {
        let bad = [
            (r#"{"writable":["/tmp"],"bind_tcp":[]}"#, "only with"),
            (
                r#"{"rootfs":"read-only","writable":["tmp"]}"#,
                "writable[0]",
            ),
            (r#"{}"#, "restricts nothing"),
            (r#"{"rootfs":"rw"}"#, "unknown variant"),
        ];
        for (text, want) in bad {
            let e = parse_policy("p", text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
        let p = parse_policy("p", r#"{"rootfs":"read-only","writable":["/tmp"]}"#).unwrap();
        assert!(p
            .ruleset(0)
            .plan_for(0)
            .dropped_fs
            .contains(FsAccess::WRITE_FILE));
        assert!(p.ruleset(3).plan_for(3).is_full());
        assert!(p.ruleset(7).plan_for(7).is_full());
    }

    fn right_name() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::sample::select(FS_NAMES.to_vec()).prop_map(str::to_owned),
            Just("bind_tcp".to_owned()),
            Just("connect_tcp".to_owned()),
            "[a-z_]{0,12}",
        ]
    }

    fn config_json() -> impl Strategy<Value = serde_json::Value> {
        let names = || proptest::collection::vec(right_name(), 0..4);
        let paths = proptest::collection::vec("/?[a-z]{0,4}(/[a-z]{1,3}){0,2}", 0..3);
        let ports = proptest::collection::vec(any::<u32>().prop_map(|p| p % 70_000), 0..3);
        (
            names(),
            names(),
            names(),
            paths,
            names(),
            ports,
            any::<bool>(),
        )
            .prop_map(|(hfs, hnet, pa, paths, na, ports, strict)| {
                serde_json::json!({
                    "ruleset": {"handledAccessFS": hfs, "handledAccessNetwork": hnet},
                    "rules": {"pathBeneath": [{"allowedAccess": pa, "paths": paths}],
                              "netPort": [{"allowedAccess": na, "ports": ports}]},
                    "disableBestEffort": strict,
                })
            })
    }

    proptest! {
        /// Any text: an error naming the annotation, never a panic.
        #[test]
        fn parse_never_panics(text in ".{0,200}") {
            if let Err(e) = parse("a", &text).and_then(|c| c.ruleset("a")) {
                prop_assert!(e.field.starts_with("annotations[\"a\"]"));
            }
        }

        /// Well-shaped configurations: accepted exactly when every allowed right is handled,
        /// every path absolute and something handled; a parsed config prints back the same.
        #[test]
        fn ruleset_checks_match_the_rules(v in config_json()) {
            let text = v.to_string();
            match parse("a", &text) {
                Ok(c) => {
                    let again: LandlockConfig =
                        serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
                    prop_assert_eq!(&again, &c);
                    let fs = rights(&c.ruleset.handled_access_fs, FsRight::access);
                    let net = rights(&c.ruleset.handled_access_network, NetRight::access);
                    let pb = &c.rules.path_beneath[0];
                    let np = &c.rules.net_port[0];
                    let handles_something = !fs.is_empty() || !net.is_empty();
                    let ok = handles_something
                        && !pb.allowed_access.is_empty()
                        && fs.contains(rights(&pb.allowed_access, FsRight::access))
                        && pb.paths.iter().all(|p| p.is_absolute())
                        && !np.allowed_access.is_empty()
                        && net.contains(rights(&np.allowed_access, NetRight::access));
                    prop_assert_eq!(c.ruleset("a").is_ok(), ok);
                }
                Err(e) => prop_assert!(e.field.starts_with("annotations[\"a\"]")),
            }
        }
    }
}
