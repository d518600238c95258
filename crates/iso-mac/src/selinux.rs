//! SELinux: label-based mandatory access control.
//!
//! Every process and file carries a security context `user:role:type:level`; the loaded
//! policy says which types may do what to which types. A runtime does not load policy; it
//! picks labels: the process label the container's first program gets at `execve(2)`
//! ([`set_exec_label`]), the label of kernel keyrings it creates ([`set_keycreate_label`]),
//! of files it creates ([`set_fscreate_label`]), and of the container's mounts (the
//! `context=` mount option, [`mount_context_option`]).
//!
//! ```
//! use iso_mac::selinux::{mount_context_option, SeLinuxContext};
//! let ctx: SeLinuxContext = "system_u:object_r:container_file_t:s0:c1,c2".parse()?;
//! assert_eq!(ctx.kind(), "container_file_t");
//! assert_eq!(mount_context_option(&ctx), "context=\"system_u:object_r:container_file_t:s0:c1,c2\"");
//! # Ok::<(), iso_mac::Error>(())
//! ```

use std::fmt;
use std::str::FromStr;

use iso_sys::procfs::ProcRoot;

use crate::{attr, Error, Lsm, Result};

/// An SELinux security context, `user:role:type[:level]`. The level (MLS/MCS part) may
/// itself contain `:` and `,` (`s0-s0:c0.c1023`, `s0:c1,c2`).
///
/// ```
/// use iso_mac::selinux::SeLinuxContext;
/// let ctx: SeLinuxContext = "system_u:system_r:container_t:s0:c5,c7".parse()?;
/// assert_eq!(ctx.user(), "system_u");
/// assert_eq!(ctx.role(), "system_r");
/// assert_eq!(ctx.level(), Some("s0:c5,c7"));
/// assert_eq!(ctx.to_string(), "system_u:system_r:container_t:s0:c5,c7");
/// # Ok::<(), iso_mac::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SeLinuxContext {
    user: String,
    role: String,
    kind: String,
    level: Option<String>,
}

fn valid_part(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

fn valid_level(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-:,".contains(c))
}

impl SeLinuxContext {
    /// Builds a context from its parts.
    ///
    /// ```
    /// use iso_mac::selinux::SeLinuxContext;
    /// let ctx = SeLinuxContext::new("system_u", "system_r", "container_t", Some("s0"))?;
    /// assert_eq!(ctx.to_string(), "system_u:system_r:container_t:s0");
    /// # Ok::<(), iso_mac::Error>(())
    /// ```
    pub fn new(user: &str, role: &str, kind: &str, level: Option<&str>) -> Result<Self> {
        for (what, part) in [("user", user), ("role", role), ("type", kind)] {
            if !valid_part(part) {
                return Err(Error::invalid(
                    "SELinux context",
                    format!("{what} {part:?} must be non-empty letters, digits, '_', '.' or '-'"),
                ));
            }
        }
        if let Some(level) = level {
            if !valid_level(level) {
                return Err(Error::invalid(
                    "SELinux context",
                    format!("level {level:?} must be non-empty letters, digits, '_', '.', '-', ':' or ','"),
                ));
            }
        }
        Ok(SeLinuxContext {
            user: user.to_string(),
            role: role.to_string(),
            kind: kind.to_string(),
            level: level.map(str::to_string),
        })
    }

    /// The SELinux user.
    ///
    /// ```
    /// # let ctx: iso_mac::selinux::SeLinuxContext = "u:r:t".parse()?;
    /// assert_eq!(ctx.user(), "u");
    /// # Ok::<(), iso_mac::Error>(())
    /// ```
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The role.
    ///
    /// ```
    /// # let ctx: iso_mac::selinux::SeLinuxContext = "u:r:t".parse()?;
    /// assert_eq!(ctx.role(), "r");
    /// # Ok::<(), iso_mac::Error>(())
    /// ```
    pub fn role(&self) -> &str {
        &self.role
    }

    /// The type (the part most policy rules are about).
    ///
    /// ```
    /// # let ctx: iso_mac::selinux::SeLinuxContext = "u:r:t".parse()?;
    /// assert_eq!(ctx.kind(), "t");
    /// # Ok::<(), iso_mac::Error>(())
    /// ```
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The MLS/MCS level, if any.
    ///
    /// ```
    /// # let ctx: iso_mac::selinux::SeLinuxContext = "u:r:t".parse()?;
    /// assert_eq!(ctx.level(), None);
    /// # Ok::<(), iso_mac::Error>(())
    /// ```
    pub fn level(&self) -> Option<&str> {
        self.level.as_deref()
    }
}

impl FromStr for SeLinuxContext {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let mut parts = s.splitn(4, ':');
        let (Some(user), Some(role), Some(kind)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(Error::invalid(
                "SELinux context",
                format!("{s:?} is not user:role:type[:level]"),
            ));
        };
        SeLinuxContext::new(user, role, kind, parts.next())
    }
}

impl fmt::Display for SeLinuxContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.user, self.role, self.kind)?;
        if let Some(level) = &self.level {
            write!(f, ":{level}")?;
        }
        Ok(())
    }
}

/// The mount option that labels every file of a mount with `label`:
/// `context="LABEL"`. The value is always double-quoted, because an MCS level holds commas
/// (`s0:c1,c2`) and the mount data string is itself comma-separated.
///
/// ```
/// use iso_mac::selinux::{mount_context_option, SeLinuxContext};
/// let ctx: SeLinuxContext = "system_u:object_r:container_file_t:s0".parse()?;
/// assert_eq!(mount_context_option(&ctx), r#"context="system_u:object_r:container_file_t:s0""#);
/// # Ok::<(), iso_mac::Error>(())
/// ```
pub fn mount_context_option(label: &SeLinuxContext) -> String {
    format!("context=\"{label}\"")
}

/// Appends the `context=` option to existing mount data (`mode=755` becomes
/// `mode=755,context="..."`).
///
/// ```
/// use iso_mac::selinux::{mount_data_with_context, SeLinuxContext};
/// let ctx: SeLinuxContext = "u:object_r:t:s0:c1,c2".parse()?;
/// assert_eq!(mount_data_with_context("mode=755", &ctx), r#"mode=755,context="u:object_r:t:s0:c1,c2""#);
/// assert_eq!(mount_data_with_context("", &ctx), r#"context="u:object_r:t:s0:c1,c2""#);
/// # Ok::<(), iso_mac::Error>(())
/// ```
pub fn mount_data_with_context(data: &str, label: &SeLinuxContext) -> String {
    if data.is_empty() {
        mount_context_option(label)
    } else {
        format!("{data},{}", mount_context_option(label))
    }
}

fn write(
    proc_root: &ProcRoot,
    file: &'static str,
    operation: &'static str,
    label: Option<&SeLinuxContext>,
) -> Result<()> {
    // An empty write resets the attribute to the policy default.
    let data = label.map(|l| l.to_string()).unwrap_or_default();
    attr::write_label(proc_root, Lsm::SeLinux, operation, &[file], data.as_bytes())
}

/// Sets the label the calling thread's next `execve(2)` runs with (`attr/exec`); `None`
/// resets it to the policy's default transition.
///
/// ```no_run
/// use iso_sys::procfs::ProcRoot;
/// let ctx = "system_u:system_r:container_t:s0:c1,c2".parse()?;
/// iso_mac::selinux::set_exec_label(&ProcRoot::open()?, Some(&ctx))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn set_exec_label(proc_root: &ProcRoot, label: Option<&SeLinuxContext>) -> Result<()> {
    write(proc_root, "attr/exec", "set the SELinux exec label", label)
}

/// Sets the label of kernel keyrings the calling thread creates (`attr/keycreate`), such
/// as the container's session keyring.
///
/// ```no_run
/// use iso_sys::procfs::ProcRoot;
/// let ctx = "system_u:system_r:container_t:s0".parse()?;
/// iso_mac::selinux::set_keycreate_label(&ProcRoot::open()?, Some(&ctx))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn set_keycreate_label(proc_root: &ProcRoot, label: Option<&SeLinuxContext>) -> Result<()> {
    write(
        proc_root,
        "attr/keycreate",
        "set the SELinux keyring label",
        label,
    )
}

/// Sets the label of files the calling thread creates (`attr/fscreate`).
///
/// ```no_run
/// use iso_sys::procfs::ProcRoot;
/// let ctx = "system_u:object_r:container_file_t:s0".parse()?;
/// iso_mac::selinux::set_fscreate_label(&ProcRoot::open()?, Some(&ctx))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn set_fscreate_label(proc_root: &ProcRoot, label: Option<&SeLinuxContext>) -> Result<()> {
    write(
        proc_root,
        "attr/fscreate",
        "set the SELinux file-creation label",
        label,
    )
}

/// The calling thread's current SELinux context (`attr/current`).
///
/// ```no_run
/// use iso_sys::procfs::ProcRoot;
/// println!("{}", iso_mac::selinux::current_label(&ProcRoot::open()?)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn current_label(proc_root: &ProcRoot) -> Result<SeLinuxContext> {
    attr::read_label(
        proc_root,
        Lsm::SeLinux,
        "read the SELinux label",
        &["attr/current"],
    )?
    .parse()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_levels_with_colons_and_commas() {
        let ctx: SeLinuxContext = "system_u:system_r:spc_t:s0-s0:c0.c1023".parse().unwrap();
        assert_eq!(ctx.level(), Some("s0-s0:c0.c1023"));
        assert!("a:b".parse::<SeLinuxContext>().is_err());
        assert!("a::c".parse::<SeLinuxContext>().is_err());
        assert!("a:b:c:".parse::<SeLinuxContext>().is_err());
        assert!("a:b:c\"".parse::<SeLinuxContext>().is_err());
        assert!("a:b:c:s0\"".parse::<SeLinuxContext>().is_err());
        assert!("a b:r:t".parse::<SeLinuxContext>().is_err());
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(
            user in "[a-z_]{1,8}", role in "[a-z_]{1,8}", kind in "[a-z_]{1,12}",
            level in proptest::option::of("s[0-9](:c[0-9]{1,3}(,c[0-9]{1,3})?)?"),
        ) {
            let ctx = SeLinuxContext::new(&user, &role, &kind, level.as_deref()).unwrap();
            let back: SeLinuxContext = ctx.to_string().parse().unwrap();
            prop_assert_eq!(&back, &ctx);
            let opt = mount_context_option(&ctx);
            prop_assert!(opt.starts_with("context=\"") && opt.ends_with('"'));
            prop_assert_eq!(opt.matches('"').count(), 2);
        }

        #[test]
        fn parse_never_panics(s in ".*") {
            if let Ok(ctx) = s.parse::<SeLinuxContext>() {
                prop_assert_eq!(ctx.to_string(), s);
                prop_assert!(!mount_context_option(&ctx)[9..].trim_end_matches('"').contains('"'));
            }
        }
    }
}
