//! Hostname and NIS domain name, the two strings a UTS namespace holds.

use std::ffi::{CStr, CString};
use std::io;

use crate::{Error, Result};

/// The longest hostname or domain name the kernel stores (`__NEW_UTS_LEN`).
pub const MAX_UTS_NAME_LEN: usize = 64;

/// A hostname or domain name checked for what the kernel accepts: at most 64 bytes, no NUL.
/// Prepared before a fork so that setting it in the child allocates nothing.
///
/// ```
/// use iso_ns::UtsName;
/// assert!(UtsName::new("hostname", "box-1").is_ok());
/// assert!(UtsName::new("hostname", &"x".repeat(65)).is_err());
/// assert!(UtsName::new("hostname", "a\0b").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UtsName(CString);

impl UtsName {
    /// Checks `value`; `field` names it in errors.
    ///
    /// ```
    /// let name = iso_ns::UtsName::new("hostname", "web-1")?;
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn new(field: &'static str, value: &str) -> Result<Self> {
        if value.len() > MAX_UTS_NAME_LEN {
            return Err(Error::InvalidValue {
                field,
                reason: format!("{} bytes, at most {MAX_UTS_NAME_LEN} allowed", value.len()),
            });
        }
        let c = CString::new(value).map_err(|_| Error::InvalidValue {
            field,
            reason: "contains a NUL byte".into(),
        })?;
        Ok(UtsName(c))
    }

    /// The value.
    ///
    /// ```
    /// let name = iso_ns::UtsName::new("hostname", "web-1")?;
    /// assert_eq!(name.as_c_str().to_bytes(), b"web-1");
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn as_c_str(&self) -> &CStr {
        &self.0
    }

    /// Makes this the hostname of the caller's UTS namespace (`sethostname(2)`), allocating
    /// nothing: a child may call it between `fork` and `execve` with the name prepared
    /// before the fork. Returns the kernel's error as it is (`EPERM` without
    /// `CAP_SYS_ADMIN`); [`set_hostname`] is the same with a named error.
    ///
    /// ```no_run
    /// use iso_ns::{unshare, Namespace, UtsName};
    /// let name = UtsName::new("hostname", "worker-1")?; // before the fork
    /// // In the child:
    /// unshare(Namespace::Uts.into())?;
    /// name.set_as_hostname().expect("sethostname");
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn set_as_hostname(&self) -> io::Result<()> {
        set_hostname_raw(self)
    }
}

/// Sets the hostname of the caller's UTS namespace (`sethostname(2)`; needs
/// `CAP_SYS_ADMIN` in the user namespace that owns it). Call it in a new UTS namespace, or
/// the host's name changes.
///
/// ```no_run
/// use iso_ns::{set_hostname, unshare, Namespace};
/// unshare(Namespace::Uts.into())?;
/// set_hostname("sandbox")?;
/// assert_eq!(iso_ns::hostname()?, "sandbox");
/// # Ok::<(), iso_ns::Error>(())
/// ```
pub fn set_hostname(name: &str) -> Result<()> {
    let name = UtsName::new("hostname", name)?;
    set_hostname_raw(&name).map_err(|e| Error::syscall("sethostname", "uts", e))
}

/// Sets the NIS domain name of the caller's UTS namespace (`setdomainname(2)`).
///
/// ```no_run
/// iso_ns::unshare(iso_ns::Namespace::Uts.into())?;
/// iso_ns::set_domainname("example.internal")?;
/// # Ok::<(), iso_ns::Error>(())
/// ```
pub fn set_domainname(name: &str) -> Result<()> {
    let name = UtsName::new("domainname", name)?;
    set_domainname_raw(&name).map_err(|e| Error::syscall("setdomainname", "uts", e))
}

/// The hostname of the caller's UTS namespace (`uname(2)`).
///
/// ```
/// assert!(!iso_ns::hostname()?.is_empty());
/// # Ok::<(), iso_ns::Error>(())
/// ```
pub fn hostname() -> Result<String> {
    uname_field(|u| &u.nodename)
}

/// The NIS domain name of the caller's UTS namespace (`(none)` when unset).
///
/// ```
/// let _ = iso_ns::domainname()?;
/// # Ok::<(), iso_ns::Error>(())
/// ```
pub fn domainname() -> Result<String> {
    uname_field(|u| &u.domainname)
}

fn uname_field(pick: impl Fn(&libc::utsname) -> &[libc::c_char; 65]) -> Result<String> {
    // SAFETY: utsname is plain data; all-zero is valid.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: u is a valid out-pointer.
    if unsafe { libc::uname(&mut u) } < 0 {
        return Err(Error::syscall("uname", "uts", io::Error::last_os_error()));
    }
    let bytes: Vec<u8> = pick(&u)
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Async-signal-safe: no allocation.
pub(crate) fn set_hostname_raw(name: &UtsName) -> io::Result<()> {
    let bytes = name.0.as_bytes();
    // SAFETY: the pointer and length describe the CString's bytes.
    if unsafe { libc::sethostname(bytes.as_ptr().cast(), bytes.len()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Async-signal-safe: no allocation.
pub(crate) fn set_domainname_raw(name: &UtsName) -> io::Result<()> {
    let bytes = name.0.as_bytes();
    // SAFETY: the pointer and length describe the CString's bytes.
    if unsafe { libc::setdomainname(bytes.as_ptr().cast(), bytes.len()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
