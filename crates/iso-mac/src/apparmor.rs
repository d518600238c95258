//! AppArmor: path-based profiles, loaded by `apparmor_parser`, attached at exec.
//!
//! A [`Profile`] is a typed description (file, capability and network rules, each allowed
//! or denied) that [`Profile::render`] turns into AppArmor's policy language. The kernel
//! does not parse that language: `apparmor_parser` compiles it and loads the binary policy
//! through securityfs ([`load`], [`remove`]). A process then enters a profile either at its
//! next `execve(2)` ([`set_exec_profile`], the way container runtimes do it) or at once
//! ([`change_profile`]), or automatically when it executes a file that matches a profile's
//! attachment path.
//!
//! ```
//! use iso_mac::apparmor::{Capability, FilePerms, NetDomain, NetType, Profile};
//!
//! let profile = Profile::new("iso-ping")?
//!     .attach("/usr/bin/ping")?
//!     .allow_capability(Capability::new("net_raw")?)
//!     .allow_network(Some(NetDomain::Inet), Some(NetType::Raw))
//!     .allow_file("/usr/bin/ping", FilePerms::READ | FilePerms::MMAP_EXEC)?
//!     .deny_file("/etc/shadow", FilePerms::READ)?;
//! let text = profile.render();
//! assert!(text.contains("capability net_raw,"));
//! assert!(text.contains("deny /etc/shadow r,"));
//! # Ok::<(), iso_mac::Error>(())
//! ```

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};

use iso_sys::procfs::ProcRoot;

use crate::{attr, detect, Error, Lsm, Result};

/// The per-task attribute files of AppArmor, newest interface first (`attr/apparmor/*`
/// exists since Linux 5.1 where several modules may stack).
pub(crate) const CURRENT_FILES: &[&str] = &["attr/apparmor/current", "attr/current"];
const EXEC_FILES: &[&str] = &["attr/apparmor/exec", "attr/exec"];

bitflags::bitflags! {
    /// Permissions of a file rule.
    ///
    /// ```
    /// use iso_mac::apparmor::FilePerms;
    /// assert_eq!((FilePerms::READ | FilePerms::MMAP_EXEC).to_string(), "rm");
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct FilePerms: u16 {
        /// `r`: read.
        const READ = 1 << 0;
        /// `w`: write (implies append; may not be combined with `a`).
        const WRITE = 1 << 1;
        /// `a`: append only.
        const APPEND = 1 << 2;
        /// `l`: create hard links.
        const LINK = 1 << 3;
        /// `k`: lock.
        const LOCK = 1 << 4;
        /// `m`: mmap with PROT_EXEC (needed by shared libraries and the program itself).
        const MMAP_EXEC = 1 << 5;
    }
}

impl std::fmt::Display for FilePerms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (flag, c) in [
            (FilePerms::READ, 'r'),
            (FilePerms::WRITE, 'w'),
            (FilePerms::APPEND, 'a'),
            (FilePerms::LINK, 'l'),
            (FilePerms::LOCK, 'k'),
            (FilePerms::MMAP_EXEC, 'm'),
        ] {
            if self.contains(flag) {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

/// How a program executed from a confined task is confined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecMode {
    /// `ix`: it stays in the current profile.
    Inherit,
    /// `Px`: it must have its own profile (environment scrubbed).
    Profile,
    /// `Cx`: a child profile of this one (environment scrubbed).
    Child,
    /// `Ux`: unconfined (environment scrubbed). Use with care.
    Unconfined,
}

impl ExecMode {
    fn as_str(self) -> &'static str {
        match self {
            ExecMode::Inherit => "ix",
            ExecMode::Profile => "Px",
            ExecMode::Child => "Cx",
            ExecMode::Unconfined => "Ux",
        }
    }
}

/// The capability names AppArmor knows (`capability NAME,`).
const CAPABILITIES: &[&str] = &[
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
];

/// A capability, by its AppArmor name (lower case, without `CAP_`).
///
/// ```
/// use iso_mac::apparmor::Capability;
/// assert_eq!(Capability::new("CAP_NET_RAW")?.name(), "net_raw");
/// assert!(Capability::new("fly").is_err());
/// # Ok::<(), iso_mac::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Capability(&'static str);

impl Capability {
    /// The capability named `name` (`net_raw`, `NET_RAW` and `CAP_NET_RAW` all work).
    pub fn new(name: &str) -> Result<Capability> {
        let lower = name.to_ascii_lowercase();
        let bare = lower.strip_prefix("cap_").unwrap_or(&lower);
        CAPABILITIES
            .iter()
            .find(|c| **c == bare)
            .map(|c| Capability(c))
            .ok_or_else(|| Error::invalid("capability", format!("unknown capability {name:?}")))
    }

    /// The AppArmor name.
    ///
    /// ```
    /// assert_eq!(iso_mac::apparmor::Capability::new("sys_admin")?.name(), "sys_admin");
    /// # Ok::<(), iso_mac::Error>(())
    /// ```
    pub fn name(self) -> &'static str {
        self.0
    }
}

/// A network address family in a network rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetDomain {
    /// `inet` (IPv4).
    Inet,
    /// `inet6` (IPv6).
    Inet6,
    /// `unix`.
    Unix,
    /// `netlink`.
    Netlink,
    /// `packet`.
    Packet,
}

/// A socket type in a network rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetType {
    /// `stream` (TCP).
    Stream,
    /// `dgram` (UDP, ICMP datagram sockets).
    Dgram,
    /// `raw`.
    Raw,
    /// `seqpacket`.
    SeqPacket,
}

impl NetDomain {
    fn as_str(self) -> &'static str {
        match self {
            NetDomain::Inet => "inet",
            NetDomain::Inet6 => "inet6",
            NetDomain::Unix => "unix",
            NetDomain::Netlink => "netlink",
            NetDomain::Packet => "packet",
        }
    }
}

impl NetType {
    fn as_str(self) -> &'static str {
        match self {
            NetType::Stream => "stream",
            NetType::Dgram => "dgram",
            NetType::Raw => "raw",
            NetType::SeqPacket => "seqpacket",
        }
    }
}

/// One rule of a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// A file rule: `[deny] PATH PERMS,`.
    File {
        /// Deny instead of allow. Deny rules win over allow rules.
        deny: bool,
        /// Path or glob (`/usr/**`), absolute.
        path: String,
        /// The permissions.
        perms: FilePerms,
        /// Execute permission with its transition, if any.
        exec: Option<ExecMode>,
    },
    /// `[deny] capability NAME,`.
    Capability {
        /// Deny instead of allow.
        deny: bool,
        /// The capability.
        capability: Capability,
    },
    /// `[deny] network [DOMAIN] [TYPE],`; `None` for both means all networking.
    Network {
        /// Deny instead of allow.
        deny: bool,
        /// The address family, or any.
        domain: Option<NetDomain>,
        /// The socket type, or any.
        kind: Option<NetType>,
    },
}

/// Profile flags (`flags=(...)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProfileMode {
    /// Denials are enforced (the default).
    #[default]
    Enforce,
    /// Denials are only logged: `flags=(complain)`.
    Complain,
}

/// A typed AppArmor profile.
///
/// ```
/// use iso_mac::apparmor::{FilePerms, Profile, ProfileMode};
/// let text = Profile::new("demo")?
///     .mode(ProfileMode::Complain)
///     .allow_file("/tmp/**", FilePerms::READ | FilePerms::WRITE)?
///     .render();
/// assert_eq!(text, "profile demo flags=(complain) {\n  /tmp/** rw,\n}\n");
/// # Ok::<(), iso_mac::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    name: String,
    attach: Option<String>,
    mode: ProfileMode,
    attach_disconnected: bool,
    includes: Vec<String>,
    rules: Vec<Rule>,
}

/// Checks a profile name: no whitespace, quotes, braces, commas or control characters,
/// and not one of the names with special meaning.
///
/// ```
/// assert!(iso_mac::apparmor::validate_profile_name("iso-default").is_ok());
/// assert!(iso_mac::apparmor::validate_profile_name("two words").is_err());
/// ```
pub fn validate_profile_name(name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.len() > 255
        || name.starts_with('-')
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "\"'{},#\\^".contains(c));
    if bad {
        return Err(Error::invalid(
            "AppArmor profile name",
            format!("{name:?} must be 1-255 characters without whitespace, quotes, braces, commas, '#' or a leading '-'"),
        ));
    }
    Ok(())
}

fn validate_path(what: &'static str, path: &str) -> Result<()> {
    if !(path.starts_with('/') || path.starts_with("@{")) {
        return Err(Error::invalid(what, format!("{path:?} is not absolute")));
    }
    if path.chars().any(|c| c.is_control() || c == '"') {
        return Err(Error::invalid(
            what,
            format!("{path:?} contains a quote or a control character"),
        ));
    }
    Ok(())
}

/// Quotes a path when it holds characters that end a token.
fn path_token(path: &str) -> String {
    if path
        .chars()
        .any(|c| c.is_whitespace() || c == ',' || c == '#' || c == '{' || c == '}')
    {
        format!("\"{path}\"")
    } else {
        path.to_string()
    }
}

impl Profile {
    /// A profile named `name` with no rules (which denies everything it mediates).
    pub fn new(name: &str) -> Result<Profile> {
        validate_profile_name(name)?;
        Ok(Profile {
            name: name.to_string(),
            attach: None,
            mode: ProfileMode::Enforce,
            attach_disconnected: false,
            includes: Vec::new(),
            rules: Vec::new(),
        })
    }

    /// The profile's name.
    ///
    /// ```
    /// assert_eq!(iso_mac::apparmor::Profile::new("x")?.name(), "x");
    /// # Ok::<(), iso_mac::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The profile's rules, in order.
    ///
    /// ```
    /// assert!(iso_mac::apparmor::Profile::new("x")?.rules().is_empty());
    /// # Ok::<(), iso_mac::Error>(())
    /// ```
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Attaches the profile by path: every program executed at `path` (a glob) enters it.
    ///
    /// ```
    /// let p = iso_mac::apparmor::Profile::new("ping")?.attach("/usr/bin/ping")?;
    /// assert!(p.render().starts_with("profile ping /usr/bin/ping {"));
    /// # Ok::<(), iso_mac::Error>(())
    /// ```
    pub fn attach(mut self, path: &str) -> Result<Profile> {
        validate_path("AppArmor attachment", path)?;
        self.attach = Some(path.to_string());
        Ok(self)
    }

    /// Enforce (default) or complain.
    ///
    /// ```
    /// use iso_mac::apparmor::{Profile, ProfileMode};
    /// let p = Profile::new("x")?.mode(ProfileMode::Complain);
    /// # Ok::<(), iso_mac::Error>(())
    /// ```
    pub fn mode(mut self, mode: ProfileMode) -> Profile {
        self.mode = mode;
        self
    }

    /// Sets `attach_disconnected`: paths outside the task's namespace root (a container's
    /// mounts seen from inside) are mediated as if attached to `/` instead of denied.
    ///
    /// ```
    /// let p = iso_mac::apparmor::Profile::new("c")?.attach_disconnected(true);
    /// assert!(p.render().contains("flags=(attach_disconnected)"));
    /// # Ok::<(), iso_mac::Error>(())
    /// ```
    pub fn attach_disconnected(mut self, yes: bool) -> Profile {
        self.attach_disconnected = yes;
        self
    }

    /// Adds `#include <NAME>` (for example `abstractions/base`, which the parser must find
    /// under `/etc/apparmor.d`).
    ///
    /// ```
    /// let p = iso_mac::apparmor::Profile::new("x")?.include("abstractions/base")?;
    /// assert!(p.render().contains("  #include <abstractions/base>\n"));
    /// # Ok::<(), iso_mac::Error>(())
    /// ```
    pub fn include(mut self, name: &str) -> Result<Profile> {
        if name.is_empty()
            || name
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "<>\"".contains(c))
        {
            return Err(Error::invalid("AppArmor include", format!("{name:?}")));
        }
        self.includes.push(name.to_string());
        Ok(self)
    }

    fn file(
        mut self,
        deny: bool,
        path: &str,
        perms: FilePerms,
        exec: Option<ExecMode>,
    ) -> Result<Profile> {
        validate_path("AppArmor file rule", path)?;
        if perms.contains(FilePerms::WRITE | FilePerms::APPEND) {
            return Err(Error::invalid(
                "AppArmor file rule",
                format!("{path:?}: 'w' and 'a' are mutually exclusive ('w' implies append)"),
            ));
        }
        if perms.is_empty() && exec.is_none() {
            return Err(Error::invalid(
                "AppArmor file rule",
                format!("{path:?} has no permission"),
            ));
        }
        self.rules.push(Rule::File {
            deny,
            path: path.to_string(),
            perms,
            exec,
        });
        Ok(self)
    }

    /// Allows `perms` on `path` (a glob such as `/usr/**`).
    ///
    /// ```
    /// use iso_mac::apparmor::{FilePerms, Profile};
    /// let p = Profile::new("x")?.allow_file("/etc/hosts", FilePerms::READ)?;
    /// assert!(p.render().contains("  /etc/hosts r,\n"));
    /// # Ok::<(), iso_mac::Error>(())
    /// ```
    pub fn allow_file(self, path: &str, perms: FilePerms) -> Result<Profile> {
        self.file(false, path, perms, None)
    }

    /// Allows executing `path` with transition `mode` (plus `perms`, often `r`).
    ///
    /// ```
    /// use iso_mac::apparmor::{ExecMode, FilePerms, Profile};
    /// let p = Profile::new("x")?.allow_exec("/bin/true", FilePerms::READ, ExecMode::Inherit)?;
    /// assert!(p.render().contains("  /bin/true rix,\n"));
    /// # Ok::<(), iso_mac::Error>(())
    /// ```
    pub fn allow_exec(self, path: &str, perms: FilePerms, mode: ExecMode) -> Result<Profile> {
        self.file(false, path, perms, Some(mode))
    }

    /// Denies `perms` on `path`, whatever other rules allow.
    ///
    /// ```
    /// use iso_mac::apparmor::{FilePerms, Profile};
    /// let p = Profile::new("x")?.deny_file("/proc/sysrq-trigger", FilePerms::WRITE)?;
    /// assert!(p.render().contains("  deny /proc/sysrq-trigger w,\n"));
    /// # Ok::<(), iso_mac::Error>(())
    /// ```
    pub fn deny_file(self, path: &str, perms: FilePerms) -> Result<Profile> {
        self.file(true, path, perms, None)
    }

    /// Allows a capability.
    ///
    /// ```
    /// use iso_mac::apparmor::{Capability, Profile};
    /// let p = Profile::new("x")?.allow_capability(Capability::new("chown")?);
    /// # Ok::<(), iso_mac::Error>(())
    /// ```
    pub fn allow_capability(mut self, capability: Capability) -> Profile {
        self.rules.push(Rule::Capability {
            deny: false,
            capability,
        });
        self
    }

    /// Denies a capability.
    ///
    /// ```
    /// use iso_mac::apparmor::{Capability, Profile};
    /// let p = Profile::new("x")?.deny_capability(Capability::new("sys_admin")?);
    /// assert!(p.render().contains("deny capability sys_admin,"));
    /// # Ok::<(), iso_mac::Error>(())
    /// ```
    pub fn deny_capability(mut self, capability: Capability) -> Profile {
        self.rules.push(Rule::Capability {
            deny: true,
            capability,
        });
        self
    }

    /// Allows networking of `domain` and `kind` (`None` = any).
    ///
    /// ```
    /// use iso_mac::apparmor::{NetDomain, NetType, Profile};
    /// let p = Profile::new("x")?.allow_network(Some(NetDomain::Inet), Some(NetType::Stream));
    /// assert!(p.render().contains("  network inet stream,\n"));
    /// # Ok::<(), iso_mac::Error>(())
    /// ```
    pub fn allow_network(mut self, domain: Option<NetDomain>, kind: Option<NetType>) -> Profile {
        self.rules.push(Rule::Network {
            deny: false,
            domain,
            kind,
        });
        self
    }

    /// Denies networking of `domain` and `kind` (`None` = any).
    ///
    /// ```
    /// use iso_mac::apparmor::{NetDomain, Profile};
    /// let p = Profile::new("x")?.deny_network(Some(NetDomain::Packet), None);
    /// assert!(p.render().contains("  deny network packet,\n"));
    /// # Ok::<(), iso_mac::Error>(())
    /// ```
    pub fn deny_network(mut self, domain: Option<NetDomain>, kind: Option<NetType>) -> Profile {
        self.rules.push(Rule::Network {
            deny: true,
            domain,
            kind,
        });
        self
    }

    /// The profile in AppArmor's policy language, as `apparmor_parser` reads it.
    ///
    /// ```
    /// let text = iso_mac::apparmor::Profile::new("empty")?.render();
    /// assert_eq!(text, "profile empty {\n}\n");
    /// # Ok::<(), iso_mac::Error>(())
    /// ```
    pub fn render(&self) -> String {
        // Abstractions use variables such as @{HOMEDIRS} that tunables/global declares.
        let mut out = if self.includes.is_empty() {
            String::new()
        } else {
            "#include <tunables/global>\n".to_string()
        };
        let _ = write!(out, "profile {}", self.name);
        if let Some(attach) = &self.attach {
            out.push(' ');
            out.push_str(&path_token(attach));
        }
        let mut flags = Vec::new();
        if self.mode == ProfileMode::Complain {
            flags.push("complain");
        }
        if self.attach_disconnected {
            flags.push("attach_disconnected");
        }
        if !flags.is_empty() {
            let _ = write!(out, " flags=({})", flags.join(","));
        }
        out.push_str(" {\n");
        for include in &self.includes {
            let _ = writeln!(out, "  #include <{include}>");
        }
        for rule in &self.rules {
            out.push_str("  ");
            match rule {
                Rule::File {
                    deny,
                    path,
                    perms,
                    exec,
                } => {
                    if *deny {
                        out.push_str("deny ");
                    }
                    let _ = write!(out, "{} {perms}", path_token(path));
                    if let Some(mode) = exec {
                        out.push_str(mode.as_str());
                    }
                }
                Rule::Capability { deny, capability } => {
                    if *deny {
                        out.push_str("deny ");
                    }
                    let _ = write!(out, "capability {}", capability.name());
                }
                Rule::Network { deny, domain, kind } => {
                    if *deny {
                        out.push_str("deny ");
                    }
                    out.push_str("network");
                    if let Some(d) = domain {
                        let _ = write!(out, " {}", d.as_str());
                    }
                    if let Some(t) = kind {
                        let _ = write!(out, " {}", t.as_str());
                    }
                }
            }
            out.push_str(",\n");
        }
        out.push_str("}\n");
        out
    }

    /// Compiles the profile with `apparmor_parser -Q -K` (parse and compile only, nothing
    /// loaded), which works without AppArmor active. Fails with [`Error::Parser`] when the
    /// parser is missing or rejects the text.
    ///
    /// ```no_run
    /// iso_mac::apparmor::Profile::new("x")?.check_syntax()?;
    /// # Ok::<(), iso_mac::Error>(())
    /// ```
    pub fn check_syntax(&self) -> Result<()> {
        run_parser("check", &["-Q", "-K"], Some(&self.render()))
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render())
    }
}

/// The path of `apparmor_parser`, if installed in one of the usual places or on `PATH`.
///
/// ```
/// if let Some(parser) = iso_mac::apparmor::parser_path() {
///     println!("apparmor_parser at {}", parser.display());
/// }
/// ```
pub fn parser_path() -> Option<std::path::PathBuf> {
    let mut dirs: Vec<std::path::PathBuf> =
        vec!["/usr/sbin".into(), "/sbin".into(), "/usr/bin".into()];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.into_iter()
        .map(|d| d.join("apparmor_parser"))
        .find(|p| p.is_file())
}

fn run_parser(action: &'static str, args: &[&str], stdin_text: Option<&str>) -> Result<()> {
    let parser = parser_path().ok_or_else(|| Error::Parser {
        action,
        detail: "apparmor_parser is not installed (Debian: apt-get install apparmor)".into(),
    })?;
    let mut child = Command::new(&parser)
        .args(args)
        .stdin(if stdin_text.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::io("spawn", &parser, e))?;
    if let (Some(text), Some(mut stdin)) = (stdin_text, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| Error::io("write to", &parser, e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::io("wait for", &parser, e))?;
    if !out.status.success() {
        return Err(Error::Parser {
            action,
            detail: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(())
}

/// Loads `profile` into the kernel, replacing a loaded profile of the same name
/// (`apparmor_parser --replace`). Needs AppArmor active and `CAP_MAC_ADMIN`.
///
/// ```no_run
/// let profile = iso_mac::apparmor::Profile::new("iso-demo")?;
/// iso_mac::apparmor::load(&profile)?;
/// # Ok::<(), iso_mac::Error>(())
/// ```
pub fn load(profile: &Profile) -> Result<()> {
    detect::require(Lsm::AppArmor, "load an AppArmor profile")?;
    run_parser(
        "load",
        &["--replace", "--skip-cache"],
        Some(&profile.render()),
    )
}

/// Removes the loaded profile named `name` (`apparmor_parser --remove`). Tasks confined by
/// it become unconfined.
///
/// ```no_run
/// iso_mac::apparmor::remove("iso-demo")?;
/// # Ok::<(), iso_mac::Error>(())
/// ```
pub fn remove(name: &str) -> Result<()> {
    validate_profile_name(name)?;
    detect::require(Lsm::AppArmor, "remove an AppArmor profile")?;
    // The parser identifies what to remove by parsing a profile of that name.
    run_parser(
        "remove",
        &["--remove", "--skip-cache"],
        Some(&format!("profile {name} {{\n}}\n")),
    )
}

/// Whether a profile named `name` is loaded (listed in securityfs `apparmor/profiles`).
///
/// ```no_run
/// println!("{}", iso_mac::apparmor::is_loaded("iso-demo")?);
/// # Ok::<(), iso_mac::Error>(())
/// ```
pub fn is_loaded(name: &str) -> Result<bool> {
    detect::require(Lsm::AppArmor, "list AppArmor profiles")?;
    let path = "/sys/kernel/security/apparmor/profiles";
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
    Ok(text
        .lines()
        .any(|l| l.rsplit_once(" (").map(|(n, _)| n) == Some(name)))
}

/// Makes the calling thread's next `execve(2)` enter profile `name` (writes
/// `exec NAME` to `/proc/thread-self/attr/apparmor/exec`, or `attr/exec` on kernels
/// before 5.1), through the verified `proc_root`.
///
/// ```no_run
/// use iso_sys::procfs::ProcRoot;
/// let proc_root = ProcRoot::open()?;
/// iso_mac::apparmor::set_exec_profile(&proc_root, "iso-default")?;
/// // ... execve: the new program runs confined by iso-default.
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn set_exec_profile(proc_root: &ProcRoot, name: &str) -> Result<()> {
    validate_profile_name(name)?;
    attr::write_label(
        proc_root,
        Lsm::AppArmor,
        "set the AppArmor profile for the next exec",
        EXEC_FILES,
        format!("exec {name}").as_bytes(),
    )
}

/// Moves the calling thread into profile `name` now (`changeprofile NAME` written to
/// `attr/apparmor/current`). The current profile must allow the change.
///
/// ```no_run
/// use iso_sys::procfs::ProcRoot;
/// iso_mac::apparmor::change_profile(&ProcRoot::open()?, "iso-default")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn change_profile(proc_root: &ProcRoot, name: &str) -> Result<()> {
    validate_profile_name(name)?;
    attr::write_label(
        proc_root,
        Lsm::AppArmor,
        "change the AppArmor profile",
        CURRENT_FILES,
        format!("changeprofile {name}").as_bytes(),
    )
}

/// The calling thread's AppArmor label, for example `unconfined` or `iso-ping (enforce)`.
///
/// ```no_run
/// use iso_sys::procfs::ProcRoot;
/// println!("{}", iso_mac::apparmor::current_label(&ProcRoot::open()?)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn current_label(proc_root: &ProcRoot) -> Result<String> {
    attr::read_label(
        proc_root,
        Lsm::AppArmor,
        "read the AppArmor label",
        CURRENT_FILES,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ping_profile() -> Profile {
        Profile::new("iso-ping")
            .unwrap()
            .attach("/usr/bin/ping")
            .unwrap()
            .include("abstractions/base")
            .unwrap()
            .allow_capability(Capability::new("CAP_NET_RAW").unwrap())
            .allow_network(Some(NetDomain::Inet), Some(NetType::Raw))
            .allow_network(Some(NetDomain::Inet), Some(NetType::Dgram))
            .deny_network(Some(NetDomain::Packet), None)
            .allow_file("/usr/bin/ping", FilePerms::READ | FilePerms::MMAP_EXEC)
            .unwrap()
            .allow_file(
                "/tmp/with space/**",
                FilePerms::READ | FilePerms::WRITE | FilePerms::LOCK,
            )
            .unwrap()
            .allow_exec("/bin/true", FilePerms::READ, ExecMode::Inherit)
            .unwrap()
            .deny_file("/etc/shadow", FilePerms::READ)
            .unwrap()
            .deny_capability(Capability::new("sys_admin").unwrap())
    }

    #[test]
    fn renders_expected_text() {
        let expected = "\
#include <tunables/global>
profile iso-ping /usr/bin/ping {
  #include <abstractions/base>
  capability net_raw,
  network inet raw,
  network inet dgram,
  deny network packet,
  /usr/bin/ping rm,
  \"/tmp/with space/**\" rwk,
  /bin/true rix,
  deny /etc/shadow r,
  deny capability sys_admin,
}
";
        assert_eq!(ping_profile().render(), expected);
        let flags = Profile::new("c")
            .unwrap()
            .mode(ProfileMode::Complain)
            .attach_disconnected(true)
            .allow_network(None, None)
            .render();
        assert_eq!(
            flags,
            "profile c flags=(complain,attach_disconnected) {\n  network,\n}\n"
        );
    }

    #[test]
    fn refuses_what_cannot_be_rendered() {
        assert!(Profile::new("").is_err());
        assert!(Profile::new("a b").is_err());
        assert!(Profile::new("a{").is_err());
        assert!(Profile::new("-x").is_err());
        let p = Profile::new("x").unwrap();
        assert!(p.clone().allow_file("relative", FilePerms::READ).is_err());
        assert!(p.clone().allow_file("/a\"b", FilePerms::READ).is_err());
        assert!(p.clone().allow_file("/a\nb", FilePerms::READ).is_err());
        assert!(p
            .clone()
            .allow_file("/a", FilePerms::WRITE | FilePerms::APPEND)
            .is_err());
        assert!(p.clone().allow_file("/a", FilePerms::empty()).is_err());
        assert!(p.clone().attach("bin/ping").is_err());
        assert!(p.include("a>b").is_err());
        assert!(Capability::new("net_rawx").is_err());
    }

    #[test]
    fn apparmor_parser_accepts_the_rendering() {
        if parser_path().is_none() {
            eprintln!("skipped: apparmor_parser not installed (apt-get install apparmor)");
            return;
        }
        ping_profile().check_syntax().unwrap();
        Profile::new("c")
            .unwrap()
            .mode(ProfileMode::Complain)
            .attach_disconnected(true)
            .allow_exec("/usr/bin/*", FilePerms::READ, ExecMode::Profile)
            .unwrap()
            .allow_exec("/usr/sbin/*", FilePerms::empty(), ExecMode::Unconfined)
            .unwrap()
            .check_syntax()
            .unwrap();
        // And it rejects what AppArmor rejects: the parser is really consulted.
        let err =
            run_parser("check", &["-Q", "-K"], Some("profile x {\n  /a rwa,\n}\n")).unwrap_err();
        assert!(err.to_string().contains("mutually exclusive"), "{err}");
    }

    proptest! {
        #[test]
        fn any_valid_path_renders_as_one_token(path in "/[a-zA-Z0-9 ,#{}*._-]{0,20}") {
            let text = Profile::new("p").unwrap().allow_file(&path, FilePerms::READ).unwrap().render();
            let line = text.lines().nth(1).unwrap().trim();
            let needs_quotes = path.contains([' ', ',', '#', '{', '}']);
            prop_assert_eq!(line.starts_with('"'), needs_quotes);
            prop_assert!(line.ends_with(" r,"));
        }

        #[test]
        fn profile_names_never_break_the_header(name in ".{0,12}") {
            if let Ok(p) = Profile::new(&name) {
                let first = p.render();
                let first = first.lines().next().unwrap();
                prop_assert_eq!(first, format!("profile {name} {{"));
            }
        }
    }
}
