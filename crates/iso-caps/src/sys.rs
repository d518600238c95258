//! Thin, safe wrappers around the capability system calls. Each returns the raw
//! `std::io::Error` so callers can attach the capability and set to it.
//!
//! None of these allocate, so they may run between `fork` and `exec`.

use std::io;

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit masks as two 32-bit words.
const CAP_VERSION_3: u32 = 0x2008_0522;

// prctl options and arguments from <linux/prctl.h>; stable kernel ABI.
pub(crate) const PR_SET_KEEPCAPS: libc::c_int = 8;
pub(crate) const PR_GET_KEEPCAPS: libc::c_int = 7;
pub(crate) const PR_CAPBSET_READ: libc::c_int = 23;
pub(crate) const PR_CAPBSET_DROP: libc::c_int = 24;
pub(crate) const PR_GET_SECUREBITS: libc::c_int = 27;
pub(crate) const PR_SET_SECUREBITS: libc::c_int = 28;
pub(crate) const PR_SET_NO_NEW_PRIVS: libc::c_int = 38;
pub(crate) const PR_GET_NO_NEW_PRIVS: libc::c_int = 39;
pub(crate) const PR_CAP_AMBIENT: libc::c_int = 47;
pub(crate) const PR_CAP_AMBIENT_IS_SET: libc::c_ulong = 1;
pub(crate) const PR_CAP_AMBIENT_RAISE: libc::c_ulong = 2;
pub(crate) const PR_CAP_AMBIENT_CLEAR_ALL: libc::c_ulong = 4;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The effective, permitted and inheritable masks of one thread (`tid` 0 = the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct BaseSets {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

pub(crate) fn capget(tid: libc::c_int) -> io::Result<BaseSets> {
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: tid,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and data are valid for the version-3 layout (two CapData entries).
    let r = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut CapHeader,
            data.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    let join = |lo: u32, hi: u32| u64::from(lo) | u64::from(hi) << 32;
    Ok(BaseSets {
        effective: join(data[0].effective, data[1].effective),
        permitted: join(data[0].permitted, data[1].permitted),
        inheritable: join(data[0].inheritable, data[1].inheritable),
    })
}

/// Sets the calling thread's effective, permitted and inheritable masks.
pub(crate) fn capset(sets: BaseSets) -> io::Result<()> {
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let split = |v: u64| (v as u32, (v >> 32) as u32);
    let (e0, e1) = split(sets.effective);
    let (p0, p1) = split(sets.permitted);
    let (i0, i1) = split(sets.inheritable);
    let data = [
        CapData {
            effective: e0,
            permitted: p0,
            inheritable: i0,
        },
        CapData {
            effective: e1,
            permitted: p1,
            inheritable: i1,
        },
    ];
    // SAFETY: header and data are valid for the version-3 layout; the kernel only reads data.
    let r = unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapHeader,
            data.as_ptr(),
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `prctl(option, a2, a3, 0, 0)`, returning its non-negative result.
pub(crate) fn prctl(
    option: libc::c_int,
    a2: libc::c_ulong,
    a3: libc::c_ulong,
) -> io::Result<libc::c_int> {
    let zero: libc::c_ulong = 0;
    // SAFETY: every option used by this crate takes integer arguments only.
    let r = unsafe { libc::prctl(option, a2, a3, zero, zero) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r)
}

/// Whether capability number `n` is in the calling thread's bounding set; `None` when the
/// kernel does not know the capability (`EINVAL`).
pub(crate) fn bounding_has(n: u8) -> io::Result<Option<bool>> {
    match prctl(PR_CAPBSET_READ, libc::c_ulong::from(n), 0) {
        Ok(r) => Ok(Some(r == 1)),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether capability number `n` is in the calling thread's ambient set; `None` when the
/// kernel does not know the capability or has no ambient set (`EINVAL`).
pub(crate) fn ambient_has(n: u8) -> io::Result<Option<bool>> {
    match prctl(
        PR_CAP_AMBIENT,
        PR_CAP_AMBIENT_IS_SET,
        libc::c_ulong::from(n),
    ) {
        Ok(r) => Ok(Some(r == 1)),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(None),
        Err(e) => Err(e),
    }
}
