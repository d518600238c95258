//! Applying a full capability configuration (the five sets of an OCI `process.capabilities`)
//! to the calling thread: [`CapConfig`].

use std::fmt;

use crate::error::cap_label;
use crate::set::MAX_CAP_NUMBER;
use crate::sys::{self, BaseSets};
use crate::{CapSet, Capabilities, Capability, Error, Set};

/// Why a capability of a configuration was not applied.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum SkipReason {
    /// The name is no capability this crate knows (a typo, or a capability newer than this
    /// crate).
    UnknownName,
    /// The running kernel does not support the capability (its number is above
    /// [`last_cap`](crate::last_cap)).
    UnsupportedByKernel {
        /// The kernel's highest capability number.
        last_cap: u8,
    },
}

/// One capability of a configuration that was skipped, with a warning to report.
///
/// ```
/// use iso_caps::{CapConfig, Set};
/// let config = CapConfig::new().names_skip_unknown(Set::Effective, ["CAP_CHOWN", "CAP_TYPO"]);
/// let skipped = config.skipped();
/// assert_eq!(skipped.len(), 1);
/// assert_eq!(skipped[0].to_string(), "skipping unknown capability \"CAP_TYPO\" in the effective set");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The set it was meant for.
    pub set: Set,
    /// The capability as named in the configuration (canonical name or number for
    /// capabilities the kernel lacks).
    pub name: String,
    /// Why it was skipped.
    pub reason: SkipReason,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            SkipReason::UnknownName => write!(
                f,
                "skipping unknown capability {:?} in the {} set",
                self.name, self.set
            ),
            SkipReason::UnsupportedByKernel { last_cap } => write!(
                f,
                "skipping {} in the {} set: the running kernel supports capabilities up to {last_cap}",
                self.name, self.set
            ),
        }
    }
}

/// What [`CapConfig::apply`] did: the sets as the thread has them afterwards, and what it
/// skipped. A caller that must not run with less than it asked for checks
/// [`ApplyReport::is_complete`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    /// The calling thread's capabilities after applying, read back from the kernel.
    pub applied: Capabilities,
    /// Capabilities of the configuration that were not applied, one warning each.
    pub skipped: Vec<Skipped>,
}

impl ApplyReport {
    /// True when nothing was skipped.
    ///
    /// ```
    /// let report = iso_caps::ApplyReport {
    ///     applied: iso_caps::Capabilities::default(),
    ///     skipped: vec![],
    /// };
    /// assert!(report.is_complete());
    /// ```
    pub fn is_complete(&self) -> bool {
        self.skipped.is_empty()
    }
}

/// A full capability configuration (all five sets) to apply to the calling thread, like
/// OCI's `process.capabilities`.
///
/// Build it from a typed [`Capabilities`] or from names (an unknown name is an error with
/// [`CapConfig::names`]; [`CapConfig::names_skip_unknown`] skips it with a warning, as runc
/// does for OCI configurations), then [`apply`](CapConfig::apply) it. Sets not given are
/// empty, as in OCI.
///
/// # The order of application
///
/// 1. **Bounding**: every capability the kernel supports and the configuration leaves out is
///    dropped with `prctl(PR_CAPBSET_DROP)`. This needs `CAP_SETPCAP` in the effective set, so
///    it happens first, while the thread still holds it.
/// 2. **Ambient cleared**: `PR_CAP_AMBIENT_CLEAR_ALL`, so no ambient capability survives that
///    the configuration does not name (skipped on kernels without ambient capabilities when
///    none is asked for).
/// 3. **Inheritable, permitted, effective** in one `capset(2)`. Permitted can only shrink;
///    inheritable may only grow within the bounding set (and, without `CAP_SETPCAP`, within
///    permitted); effective must be within permitted. If the kernel refuses, the error names
///    the set and capabilities that broke these rules.
/// 4. **Ambient raised** one by one with `PR_CAP_AMBIENT_RAISE`; each must be in permitted
///    and inheritable by now.
///
/// Capabilities are a property of a *thread*: `capset(2)` and these `prctl`s change only the
/// caller. Apply in a single-threaded process (for example the child after `fork`, before
/// `execve`) or before spawning threads, or other threads keep their old capabilities.
///
/// ```no_run
/// use iso_caps::{CapConfig, Set};
///
/// // The Docker default set, in a child about to exec the container's process.
/// let default = [
///     "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
///     "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
///     "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
/// ];
/// let report = CapConfig::new()
///     .names(Set::Bounding, default)?
///     .names(Set::Effective, default)?
///     .names(Set::Permitted, default)?
///     .apply()?;
/// for warning in &report.skipped {
///     eprintln!("warning: {warning}");
/// }
/// # Ok::<(), iso_caps::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapConfig {
    caps: Capabilities,
    skipped: Vec<Skipped>,
}

impl From<Capabilities> for CapConfig {
    fn from(caps: Capabilities) -> Self {
        CapConfig {
            caps,
            skipped: Vec::new(),
        }
    }
}

impl CapConfig {
    /// A configuration with all five sets empty.
    ///
    /// ```
    /// assert!(iso_caps::CapConfig::new().capabilities().bounding.is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `set` to `caps`.
    ///
    /// ```
    /// use iso_caps::{CapConfig, CapSet, Capability, Set};
    /// let config = CapConfig::new().set(Set::Bounding, CapSet::from(Capability::NetRaw));
    /// assert_eq!(config.capabilities().bounding.len(), 1);
    /// ```
    pub fn set(mut self, set: Set, caps: CapSet) -> Self {
        *self.caps.get_mut(set) = caps;
        self
    }

    /// Sets `set` to the capabilities named by `names` (any spelling [`Capability`] parses).
    /// A name that is no capability is an error naming it ([`Error::UnknownName`]): a typo
    /// must not silently give a process less (or, in a drop list, more) than meant.
    ///
    /// ```
    /// use iso_caps::{CapConfig, Error, Set};
    /// let config = CapConfig::new().names(Set::Ambient, ["net_raw"])?;
    /// assert_eq!(config.capabilities().ambient.to_string(), "CAP_NET_RAW");
    /// let err = CapConfig::new().names(Set::Ambient, ["CAP_NET_RWA"]).unwrap_err();
    /// assert!(matches!(err, Error::UnknownName { ref name } if name == "CAP_NET_RWA"));
    /// # Ok::<(), iso_caps::Error>(())
    /// ```
    pub fn names<I, S>(mut self, set: Set, names: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let caps = names
            .into_iter()
            .map(|name| name.as_ref().parse::<Capability>())
            .collect::<Result<CapSet, Error>>()?;
        *self.caps.get_mut(set) = caps;
        Ok(self)
    }

    /// Like [`CapConfig::names`], but an unknown name is recorded as [`Skipped`] and reported
    /// by [`CapConfig::apply`] instead of failing: what runc does with an OCI configuration,
    /// which may name capabilities newer than this crate.
    ///
    /// ```
    /// use iso_caps::{CapConfig, Set};
    /// let config = CapConfig::new().names_skip_unknown(Set::Ambient, ["net_raw", "CAP_FUTURE_THING"]);
    /// assert_eq!(config.capabilities().ambient.to_string(), "CAP_NET_RAW");
    /// assert_eq!(config.skipped().len(), 1);
    /// ```
    pub fn names_skip_unknown<I, S>(mut self, set: Set, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut caps = CapSet::empty();
        for name in names {
            let name = name.as_ref();
            match name.parse::<Capability>() {
                Ok(cap) => caps.insert(cap),
                Err(_) => self.skipped.push(Skipped {
                    set,
                    name: name.to_owned(),
                    reason: SkipReason::UnknownName,
                }),
            }
        }
        *self.caps.get_mut(set) = caps;
        self
    }

    /// The capabilities the configuration asks for.
    ///
    /// ```
    /// assert!(iso_caps::CapConfig::new().capabilities().effective.is_empty());
    /// ```
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// What has been skipped so far (unknown names).
    ///
    /// ```
    /// assert!(iso_caps::CapConfig::new().skipped().is_empty());
    /// ```
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// Applies the configuration to the calling thread, in the order documented on
    /// [`CapConfig`], and reads the result back. Capabilities the running kernel does not
    /// support are skipped and reported; the first refusal by the kernel is an error that
    /// names the operation, the capability and the set, and keeps the errno.
    ///
    /// This allocates (the report); to apply between `fork` and `exec` in a multi-threaded
    /// program, see [`CapConfig::prepare`].
    ///
    /// ```no_run
    /// use iso_caps::{CapConfig, Capabilities, Capability, CapSet, Set};
    /// // Keep everything but CAP_SYS_ADMIN.
    /// let mut caps = Capabilities::current()?;
    /// for set in Set::ALL {
    ///     caps.get_mut(set).remove(Capability::SysAdmin);
    /// }
    /// let report = CapConfig::from(caps).apply()?;
    /// assert!(!report.applied.bounding.contains(Capability::SysAdmin));
    /// # Ok::<(), iso_caps::Error>(())
    /// ```
    pub fn apply(&self) -> Result<ApplyReport, Error> {
        let last = crate::last_cap_probe()?;
        let mut skipped = self.skipped.clone();
        let supported = CapSet::up_to(last);
        for set in Set::ALL {
            for n in self.caps.get(set).difference(supported).numbers() {
                skipped.push(Skipped {
                    set,
                    name: cap_label(n),
                    reason: SkipReason::UnsupportedByKernel { last_cap: last },
                });
            }
        }
        let prepared = self.prepare_for(last);
        prepared.apply()?;
        Ok(ApplyReport {
            applied: Capabilities::current()?,
            skipped,
        })
    }

    /// Does the allocating part of [`CapConfig::apply`] (finding the kernel's last
    /// capability, masking unsupported ones) now, and returns a [`PreparedCaps`] whose
    /// `apply` does no allocation on success, for use between `fork` and `exec`.
    ///
    /// ```no_run
    /// let prepared = iso_caps::CapConfig::new().prepare()?;
    /// // ... fork; in the child:
    /// prepared.apply()?;
    /// # Ok::<(), iso_caps::Error>(())
    /// ```
    pub fn prepare(&self) -> Result<PreparedCaps, Error> {
        Ok(self.prepare_for(crate::last_cap_probe()?))
    }

    /// [`CapConfig::prepare`] for a kernel whose highest capability number is `last` (what
    /// [`last_cap_probe`](crate::last_cap_probe) returns): no system call, so a caller that
    /// probed once can prepare many configurations, or plan for a kernel it describes.
    ///
    /// ```
    /// use iso_caps::{CapConfig, Set};
    /// let config = CapConfig::new().names(Set::Bounding, ["CAP_CHOWN", "CAP_BPF"])?;
    /// // CAP_BPF (39) is unknown to a kernel whose last capability is CAP_AUDIT_READ (37).
    /// let prepared = config.prepare_for(37);
    /// assert_eq!(prepared.capabilities().bounding.iter().count(), 1);
    /// # Ok::<(), iso_caps::Error>(())
    /// ```
    pub fn prepare_for(&self, last: u8) -> PreparedCaps {
        let supported = CapSet::up_to(last);
        let mask = |set: Set| self.caps.get(set).intersection(supported);
        PreparedCaps {
            last_cap: last,
            caps: Capabilities {
                bounding: mask(Set::Bounding),
                effective: mask(Set::Effective),
                permitted: mask(Set::Permitted),
                inheritable: mask(Set::Inheritable),
                ambient: mask(Set::Ambient),
            },
        }
    }
}

/// A [`CapConfig`] checked against the running kernel, ready to apply without allocating
/// (see [`CapConfig::prepare`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreparedCaps {
    last_cap: u8,
    caps: Capabilities,
}

impl PreparedCaps {
    /// Applies the five sets to the calling thread in the order documented on [`CapConfig`].
    /// Errors (which allocate their message) only on failure.
    ///
    /// ```no_run
    /// let prepared = iso_caps::CapConfig::new().prepare()?;
    /// prepared.apply()?;
    /// assert!(iso_caps::Capabilities::current()?.effective.is_empty());
    /// # Ok::<(), iso_caps::Error>(())
    /// ```
    pub fn apply(&self) -> Result<(), Error> {
        // 1. Bounding: drop what is not wanted while CAP_SETPCAP is still effective.
        self.drop_bounding()?;
        // 2. Ambient: start from nothing.
        clear_ambient(self.caps.ambient.is_empty())?;
        // 3. Inheritable, permitted and effective together.
        set_base(self.caps)?;
        // 4. Ambient: raise each; each must be permitted and inheritable by now.
        raise_ambient(self.caps.ambient)
    }

    /// The sets this configuration applies (masked to what the kernel supports).
    ///
    /// ```
    /// let prepared = iso_caps::CapConfig::new().prepare()?;
    /// assert!(prepared.capabilities().bounding.is_empty());
    /// # Ok::<(), iso_caps::Error>(())
    /// ```
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// Drops from the bounding set every supported capability the configuration leaves out.
    pub(crate) fn drop_bounding(&self) -> Result<(), Error> {
        for n in 0..=self.last_cap.min(MAX_CAP_NUMBER) {
            if self.caps.bounding.contains_number(n) {
                continue;
            }
            match sys::bounding_has(n) {
                Ok(Some(false)) | Ok(None) => continue,
                Ok(Some(true)) => {}
                Err(source) => return Err(cap_err("PR_CAPBSET_READ", n, Set::Bounding, source)),
            }
            sys::prctl(sys::PR_CAPBSET_DROP, libc::c_ulong::from(n), 0)
                .map_err(|source| cap_err("PR_CAPBSET_DROP", n, Set::Bounding, source))?;
        }
        Ok(())
    }
}

pub(crate) fn cap_err(op: &'static str, n: u8, set: Set, source: std::io::Error) -> Error {
    Error::CapPrctl {
        op,
        cap: cap_label(n),
        set,
        source,
    }
}

/// `PR_CAP_AMBIENT_CLEAR_ALL`; `EINVAL` (a kernel without ambient capabilities) is accepted
/// when `tolerate_missing`.
pub(crate) fn clear_ambient(tolerate_missing: bool) -> Result<(), Error> {
    match sys::prctl(sys::PR_CAP_AMBIENT, sys::PR_CAP_AMBIENT_CLEAR_ALL, 0) {
        Ok(_) => Ok(()),
        Err(e) if tolerate_missing && e.raw_os_error() == Some(libc::EINVAL) => Ok(()),
        Err(source) => Err(Error::Prctl {
            op: "PR_CAP_AMBIENT_CLEAR_ALL",
            value: 0,
            source,
        }),
    }
}

pub(crate) fn raise_ambient(ambient: CapSet) -> Result<(), Error> {
    for n in ambient.numbers() {
        sys::prctl(
            sys::PR_CAP_AMBIENT,
            sys::PR_CAP_AMBIENT_RAISE,
            libc::c_ulong::from(n),
        )
        .map_err(|source| cap_err("PR_CAP_AMBIENT_RAISE", n, Set::Ambient, source))?;
    }
    Ok(())
}

/// One `capset(2)` for effective, permitted and inheritable; on failure, explains which
/// capabilities of which set broke the kernel's rules.
pub(crate) fn set_base(caps: Capabilities) -> Result<(), Error> {
    let wanted = BaseSets {
        effective: caps.effective.bits(),
        permitted: caps.permitted.bits(),
        inheritable: caps.inheritable.bits(),
    };
    sys::capset(wanted).map_err(|source| Error::Capset {
        effective: caps.effective.to_string(),
        permitted: caps.permitted.to_string(),
        inheritable: caps.inheritable.to_string(),
        detail: explain_capset_refusal(caps),
        source,
    })
}

fn explain_capset_refusal(wanted: Capabilities) -> String {
    let Ok(now) = Capabilities::current() else {
        return String::new();
    };
    let mut problems = Vec::new();
    let new_permitted = wanted.permitted.difference(now.permitted);
    if !new_permitted.is_empty() {
        problems.push(format!(
            "permitted set cannot grow: {new_permitted} not currently permitted"
        ));
    }
    let not_permitted = wanted.effective.difference(wanted.permitted);
    if !not_permitted.is_empty() {
        problems.push(format!("effective set exceeds permitted: {not_permitted}"));
    }
    let new_inheritable = wanted.inheritable.difference(now.inheritable);
    let outside_bounding = new_inheritable.difference(now.bounding);
    if !outside_bounding.is_empty() {
        problems.push(format!(
            "inheritable set cannot gain capabilities outside the bounding set: {outside_bounding}"
        ));
    }
    if !now.effective.contains(Capability::Setpcap) {
        let outside_permitted = new_inheritable.difference(now.permitted);
        if !outside_permitted.is_empty() {
            problems.push(format!(
                "inheritable set cannot gain {outside_permitted} without CAP_SETPCAP"
            ));
        }
    }
    if problems.is_empty() {
        String::new()
    } else {
        format!(" refused: {}", problems.join("; "))
    }
}
