//! Changing uid and gid while keeping chosen capabilities: [`UserSwitch`].

use crate::apply::{clear_ambient, raise_ambient, set_base};
use crate::error::cap_label;
use crate::{sys, CapSet, Capabilities, Error, PreparedCaps, SecureBits};

/// Switch the calling process to another user and group, keeping only the chosen
/// capabilities: what `capsh --keep=1 --user=nobody --caps=cap_net_raw+epi` does.
///
/// Without help, the kernel clears the permitted and effective sets when a process whose
/// uids included 0 changes all of them to non-zero ids (the "setuid fixup"). The keep-caps
/// flag (`PR_SET_KEEPCAPS`, or [`SecureBits::KEEP_CAPS`]) keeps the permitted set through
/// that change; the effective set is still cleared and must be raised again, and ambient is
/// always cleared.
///
/// [`apply`](UserSwitch::apply) does, in this order:
///
/// 1. check that every capability to keep is permitted now (else [`Error::NotPermitted`]);
/// 2. set keep-caps (unless [`SecureBits::KEEP_CAPS`] is already set);
/// 3. `setgroups` (the supplementary groups; empty by default, so root's groups do not
///    leak), then `setresgid`, then `setresuid`. The order matters: `setgroups` and
///    `setresgid` need `CAP_SETGID`, which a process that is no longer uid 0 has only in
///    its effective set, and that set is cleared by `setresuid`. Changing the uid last also
///    means no moment where the process runs as the new user with the old groups;
/// 4. raise effective to the retained permitted set (so `CAP_SETPCAP` is usable for the
///    next steps); with a full configuration ([`UserSwitch::capabilities`]), drop the
///    bounding set now; then set inheritable to the kept capabilities when `ambient` is asked
///    for (empty otherwise: inheritable is never filled implicitly);
/// 5. clear the ambient set and, when asked, raise the kept capabilities in it, so that they
///    survive `execve` of a program without file capabilities;
/// 6. write the securebits, if given (needs `CAP_SETPCAP`, which is still effective);
/// 7. reduce permitted and effective to exactly the kept capabilities;
/// 8. clear keep-caps again (when no securebits were given), and set `no_new_privs` if asked.
///
/// With [`keep`](UserSwitch::keep) the bounding set is not changed;
/// [`capabilities`](UserSwitch::capabilities) sets all five sets instead.
///
/// Credentials are process-wide in glibc (`setresuid` and friends are broadcast to all
/// threads), but capabilities are per thread: `capset(2)` and the capability `prctl`s change
/// only the calling thread. Call `apply` in a single-threaded process (a child after `fork`,
/// before `execve`, or early in `main`). It allocates nothing on success.
///
/// ```no_run
/// use iso_caps::{Capabilities, Capability, UserSwitch};
///
/// // In a forked child running as root:
/// UserSwitch::new(65534, 65534)
///     .keep(Capability::NetRaw)
///     .ambient(true) // also keep it across execve
///     .apply()?;
/// let caps = Capabilities::current()?;
/// assert_eq!(caps.effective.to_string(), "CAP_NET_RAW");
/// # Ok::<(), iso_caps::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSwitch {
    uid: u32,
    gid: u32,
    groups: Vec<libc::gid_t>,
    keep: CapSet,
    ambient: bool,
    securebits: Option<SecureBits>,
    no_new_privs: bool,
    config: Option<PreparedCaps>,
}

impl UserSwitch {
    /// A switch to `uid` and `gid` (real, effective and saved), with no supplementary
    /// groups and no capabilities kept.
    ///
    /// ```
    /// let switch = iso_caps::UserSwitch::new(1000, 1000);
    /// ```
    pub fn new(uid: u32, gid: u32) -> Self {
        UserSwitch {
            uid,
            gid,
            groups: Vec::new(),
            keep: CapSet::empty(),
            ambient: false,
            securebits: None,
            no_new_privs: false,
            config: None,
        }
    }

    /// The supplementary groups to set (default: none).
    ///
    /// ```
    /// let switch = iso_caps::UserSwitch::new(1000, 1000).groups([27, 100]);
    /// ```
    pub fn groups(mut self, groups: impl IntoIterator<Item = u32>) -> Self {
        self.groups = groups.into_iter().collect();
        self
    }

    /// The capabilities to keep in the permitted and effective sets (default: none).
    ///
    /// ```
    /// use iso_caps::{CapSet, Capability, UserSwitch};
    /// let one = UserSwitch::new(1000, 1000).keep(Capability::NetBindService);
    /// let several = UserSwitch::new(1000, 1000).keep("cap_net_raw,cap_net_bind_service".parse::<CapSet>()?);
    /// # Ok::<(), iso_caps::Error>(())
    /// ```
    pub fn keep(mut self, caps: impl Into<CapSet>) -> Self {
        self.keep = caps.into();
        self
    }

    /// Also put the kept capabilities in the inheritable and ambient sets, so that they
    /// survive `execve` of a program without file capabilities (default: no; then `execve`
    /// of an ordinary program leaves the new user with no capabilities).
    ///
    /// ```
    /// let switch = iso_caps::UserSwitch::new(1000, 1000).ambient(true);
    /// ```
    pub fn ambient(mut self, ambient: bool) -> Self {
        self.ambient = ambient;
        self
    }

    /// Securebits to write after the uid change (replacing the current ones). With
    /// `_LOCKED` flags this makes the arrangement permanent, for example
    /// `NOROOT | NOROOT_LOCKED` so that a later `execve` of a set-user-ID-root program
    /// grants nothing.
    ///
    /// ```
    /// use iso_caps::{SecureBits, UserSwitch};
    /// let switch = UserSwitch::new(1000, 1000)
    ///     .securebits(SecureBits::NOROOT | SecureBits::NOROOT_LOCKED);
    /// ```
    pub fn securebits(mut self, bits: SecureBits) -> Self {
        self.securebits = Some(bits);
        self
    }

    /// Instead of [`keep`](UserSwitch::keep) and [`ambient`](UserSwitch::ambient), apply a
    /// full five-set configuration after the uid change: what an OCI runtime does for a
    /// process with both `user` and `capabilities`. The bounding set is dropped *after* the
    /// uid change (with `CAP_SETPCAP` raised from the kept permitted set), so the
    /// configuration's permitted set must be a subset of the current one. Skipped names are
    /// reported by [`CapConfig::skipped`](crate::CapConfig::skipped) before preparing.
    ///
    /// ```no_run
    /// use iso_caps::{CapConfig, Set, UserSwitch};
    /// let config = CapConfig::new()
    ///     .names(Set::Bounding, ["CAP_NET_BIND_SERVICE"])?
    ///     .names(Set::Permitted, ["CAP_NET_BIND_SERVICE"])?
    ///     .names(Set::Effective, ["CAP_NET_BIND_SERVICE"])?;
    /// UserSwitch::new(1000, 1000).capabilities(config.prepare()?).apply()?;
    /// # Ok::<(), iso_caps::Error>(())
    /// ```
    pub fn capabilities(mut self, config: PreparedCaps) -> Self {
        self.config = Some(config);
        self
    }

    /// Set `no_new_privs` at the end (default: no).
    ///
    /// ```
    /// let switch = iso_caps::UserSwitch::new(1000, 1000).no_new_privs(true);
    /// ```
    pub fn no_new_privs(mut self, yes: bool) -> Self {
        self.no_new_privs = yes;
        self
    }

    /// Performs the switch on the calling process (credentials) and thread (capabilities),
    /// in the order documented on [`UserSwitch`]. On error the process may be half-switched;
    /// it should exit rather than continue.
    ///
    /// ```no_run
    /// iso_caps::UserSwitch::new(65534, 65534).apply()?;
    /// assert!(iso_caps::Capabilities::current()?.permitted.is_empty());
    /// # Ok::<(), iso_caps::Error>(())
    /// ```
    pub fn apply(&self) -> Result<(), Error> {
        let before = Capabilities::current()?;
        let target = self.target();
        if let Some(n) = target
            .permitted
            .difference(before.permitted)
            .numbers()
            .next()
        {
            return Err(Error::NotPermitted { cap: cap_label(n) });
        }

        let securebits_keep = SecureBits::current()?.contains(SecureBits::KEEP_CAPS);
        if !securebits_keep {
            crate::set_keep_caps(true)?;
        }

        self.set_ids()?;

        // Effective was cleared by the uid change: raise it to what was kept, so that
        // CAP_SETPCAP works for the bounding set and the securebits.
        let retained = sys::capget(0).map_err(|source| Error::Capget { source })?;
        let retained = CapSet::from_bits(retained.permitted);
        let raised = Capabilities {
            effective: retained,
            permitted: retained,
            inheritable: before.inheritable.intersection(target.inheritable),
            ..before
        };
        set_base(raised)?;
        if let Some(config) = &self.config {
            config.drop_bounding()?;
        }
        set_base(Capabilities {
            inheritable: target.inheritable,
            ..raised
        })?;

        clear_ambient(target.ambient.is_empty())?;
        raise_ambient(target.ambient)?;

        if let Some(bits) = self.securebits {
            bits.apply()?;
        }

        set_base(target)?;

        if self.securebits.is_none() && !securebits_keep {
            crate::set_keep_caps(false)?;
        }
        if self.no_new_privs {
            crate::set_no_new_privs()?;
        }
        Ok(())
    }

    /// The effective, permitted, inheritable and ambient sets to end with.
    fn target(&self) -> Capabilities {
        if let Some(config) = &self.config {
            return *config.capabilities();
        }
        let passed_on = if self.ambient {
            self.keep
        } else {
            CapSet::empty()
        };
        Capabilities {
            bounding: CapSet::empty(),
            effective: self.keep,
            permitted: self.keep,
            inheritable: passed_on,
            ambient: passed_on,
        }
    }

    /// `setgroups`, `setresgid`, `setresuid`. In a user namespace where `setgroups` is
    /// denied for good (`/proc/self/setgroups` is `deny`: an unprivileged user mapped its own
    /// gid), an empty group list is not an error: the groups cannot be changed there, and
    /// those the process entered with stay (shown as the overflow gid).
    fn set_ids(&self) -> Result<(), Error> {
        // SAFETY: the pointer and length describe self.groups, which outlives the call.
        let r = unsafe { libc::setgroups(self.groups.len(), self.groups.as_ptr()) };
        if r != 0 && !(self.groups.is_empty() && setgroups_denied()) {
            return Err(Error::Credentials {
                op: "setgroups",
                id: format!("{:?}", self.groups),
                source: std::io::Error::last_os_error(),
            });
        }
        // SAFETY: plain integer arguments.
        if unsafe { libc::setresgid(self.gid, self.gid, self.gid) } != 0 {
            return Err(Error::Credentials {
                op: "setresgid",
                id: self.gid.to_string(),
                source: std::io::Error::last_os_error(),
            });
        }
        // SAFETY: plain integer arguments.
        if unsafe { libc::setresuid(self.uid, self.uid, self.uid) } != 0 {
            return Err(Error::Credentials {
                op: "setresuid",
                id: self.uid.to_string(),
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(())
    }
}

/// Whether `setgroups(2)` is denied for good in this process' user namespace
/// (`/proc/self/setgroups` reads `deny`). Read with plain system calls into a stack buffer:
/// this runs between a fork and an exec.
fn setgroups_denied() -> bool {
    const PATH: &[u8] = b"/proc/self/setgroups\0";
    // SAFETY: open of a NUL-terminated constant path.
    let fd = unsafe { libc::open(PATH.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return false;
    }
    let mut buf = [0u8; 8];
    // SAFETY: read into a stack buffer of its length; fd is ours and closed after.
    let n = unsafe {
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        libc::close(fd);
        n
    };
    n >= 4 && &buf[..4] == b"deny"
}
