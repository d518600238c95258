//! The securebits: per-thread flags that turn off the special treatment of uid 0.

use crate::{sys, Error};

bitflags::bitflags! {
    /// The thread's securebits (`<linux/securebits.h>`), read and written with
    /// `prctl(PR_GET_SECUREBITS / PR_SET_SECUREBITS)`.
    ///
    /// Each flag has a `_LOCKED` companion; once a lock bit is set, the flag it guards can
    /// never change again, in this thread or any descendant. Changing securebits needs
    /// `CAP_SETPCAP` in the effective set. They are inherited across `fork` and kept across
    /// `execve`, except [`SecureBits::KEEP_CAPS`], which `execve` clears.
    ///
    /// ```
    /// use iso_caps::SecureBits;
    /// // The "pure capabilities" mode: uid 0 gets no capabilities for free, ever.
    /// let pure = SecureBits::NOROOT | SecureBits::NOROOT_LOCKED
    ///     | SecureBits::NO_SETUID_FIXUP | SecureBits::NO_SETUID_FIXUP_LOCKED;
    /// assert_eq!(pure.bits(), 0x0f);
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct SecureBits: u32 {
        /// uid 0 gains no capabilities by executing a program (set-user-ID-root programs
        /// and a root process' `execve` no longer grant the full permitted set).
        const NOROOT = 1 << 0;
        /// Locks [`SecureBits::NOROOT`].
        const NOROOT_LOCKED = 1 << 1;
        /// Changing uids to or from 0 does not adjust the capability sets (no clearing of
        /// permitted/effective when the last uid 0 goes away).
        const NO_SETUID_FIXUP = 1 << 2;
        /// Locks [`SecureBits::NO_SETUID_FIXUP`].
        const NO_SETUID_FIXUP_LOCKED = 1 << 3;
        /// Keep the permitted set when all uids change from 0 to non-zero (what
        /// `PR_SET_KEEPCAPS` sets); effective is still cleared. Cleared by `execve`.
        const KEEP_CAPS = 1 << 4;
        /// Locks [`SecureBits::KEEP_CAPS`].
        const KEEP_CAPS_LOCKED = 1 << 5;
        /// Forbid raising ambient capabilities (`PR_CAP_AMBIENT_RAISE`).
        const NO_CAP_AMBIENT_RAISE = 1 << 6;
        /// Locks [`SecureBits::NO_CAP_AMBIENT_RAISE`].
        const NO_CAP_AMBIENT_RAISE_LOCKED = 1 << 7;
    }
}

impl SecureBits {
    /// The calling thread's securebits.
    ///
    /// ```
    /// let bits = iso_caps::SecureBits::current()?;
    /// println!("securebits: {bits:?}");
    /// # Ok::<(), iso_caps::Error>(())
    /// ```
    pub fn current() -> Result<SecureBits, Error> {
        let raw = sys::prctl(sys::PR_GET_SECUREBITS, 0, 0).map_err(|source| Error::Prctl {
            op: "PR_GET_SECUREBITS",
            value: 0,
            source,
        })?;
        Ok(SecureBits::from_bits_retain(raw as u32))
    }

    /// Replaces the calling thread's securebits with `self` (needs `CAP_SETPCAP`; changing a
    /// locked flag fails with `EPERM`).
    ///
    /// ```no_run
    /// use iso_caps::SecureBits;
    /// (SecureBits::current()? | SecureBits::NOROOT | SecureBits::NOROOT_LOCKED).apply()?;
    /// # Ok::<(), iso_caps::Error>(())
    /// ```
    pub fn apply(self) -> Result<(), Error> {
        sys::prctl(sys::PR_SET_SECUREBITS, libc::c_ulong::from(self.bits()), 0).map_err(
            |source| Error::Prctl {
                op: "PR_SET_SECUREBITS",
                value: u64::from(self.bits()),
                source,
            },
        )?;
        Ok(())
    }
}

/// Whether the calling thread has `no_new_privs` set: `execve` can then never grant
/// privileges (set-user-ID bits and file capabilities are ignored). It is inherited and can
/// never be unset.
///
/// ```
/// let _nnp = iso_caps::no_new_privs()?;
/// # Ok::<(), iso_caps::Error>(())
/// ```
pub fn no_new_privs() -> Result<bool, Error> {
    let r = sys::prctl(sys::PR_GET_NO_NEW_PRIVS, 0, 0).map_err(|source| Error::Prctl {
        op: "PR_GET_NO_NEW_PRIVS",
        value: 0,
        source,
    })?;
    Ok(r == 1)
}

/// Sets `no_new_privs` for the calling thread (irreversible; needs no privilege). Required
/// before an unprivileged process may install a seccomp filter.
///
/// ```no_run
/// iso_caps::set_no_new_privs()?;
/// assert!(iso_caps::no_new_privs()?);
/// # Ok::<(), iso_caps::Error>(())
/// ```
pub fn set_no_new_privs() -> Result<(), Error> {
    sys::prctl(sys::PR_SET_NO_NEW_PRIVS, 1, 0).map_err(|source| Error::Prctl {
        op: "PR_SET_NO_NEW_PRIVS",
        value: 1,
        source,
    })?;
    Ok(())
}

/// Whether the calling thread has the keep-caps flag (`PR_GET_KEEPCAPS`).
///
/// ```
/// assert!(!iso_caps::keep_caps()?);
/// # Ok::<(), iso_caps::Error>(())
/// ```
pub fn keep_caps() -> Result<bool, Error> {
    let r = sys::prctl(sys::PR_GET_KEEPCAPS, 0, 0).map_err(|source| Error::Prctl {
        op: "PR_GET_KEEPCAPS",
        value: 0,
        source,
    })?;
    Ok(r == 1)
}

/// Sets or clears the keep-caps flag (`PR_SET_KEEPCAPS`): while set, a change of all uids
/// from 0 to non-zero keeps the permitted set. `execve` clears it. Fails with `EPERM` when
/// [`SecureBits::KEEP_CAPS_LOCKED`] is set.
///
/// ```no_run
/// iso_caps::set_keep_caps(true)?;
/// assert!(iso_caps::keep_caps()?);
/// # Ok::<(), iso_caps::Error>(())
/// ```
pub fn set_keep_caps(keep: bool) -> Result<(), Error> {
    let value = libc::c_ulong::from(keep);
    sys::prctl(sys::PR_SET_KEEPCAPS, value, 0).map_err(|source| Error::Prctl {
        op: "PR_SET_KEEPCAPS",
        value: u64::from(keep),
        source,
    })?;
    Ok(())
}
