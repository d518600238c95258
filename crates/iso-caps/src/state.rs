//! Reading a thread's capabilities: [`Capabilities`], [`last_cap`].

use std::fmt;
use std::io::Read;

use iso_sys::procfs::ProcRoot;
use iso_sys::{Pid, ProcPid};

use crate::set::MAX_CAP_NUMBER;
use crate::{sys, CapSet, Error, Set};

/// The highest capability number the running kernel supports, read from
/// `/proc/sys/kernel/cap_last_cap` through a verified procfs handle.
///
/// Capabilities above it do not exist for this kernel: the kernel refuses them in the bounding
/// and ambient sets (`EINVAL`) and ignores them in `capset(2)`. Capabilities between
/// [`Capability::LAST`](crate::Capability::LAST) and this number exist but have no name in
/// this crate; [`CapSet`] carries them by number.
///
/// ```
/// let last = iso_caps::last_cap()?;
/// assert!(last >= 40, "kernel 5.9+ knows CAP_CHECKPOINT_RESTORE");
/// # Ok::<(), iso_caps::Error>(())
/// ```
pub fn last_cap() -> Result<u8, Error> {
    let proc_root = ProcRoot::open().map_err(|source| Error::Proc {
        what: "/proc".into(),
        source,
    })?;
    last_cap_in(&proc_root)
}

/// [`last_cap`] through a procfs handle the caller already holds (for example a container's
/// `/proc`).
///
/// ```no_run
/// let proc_root = iso_sys::procfs::ProcRoot::open()?;
/// let last = iso_caps::last_cap_in(&proc_root)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn last_cap_in(proc_root: &ProcRoot) -> Result<u8, Error> {
    const WHAT: &str = "sys/kernel/cap_last_cap";
    let proc_err = |source| Error::Proc {
        what: WHAT.into(),
        source,
    };
    let fd = proc_root.open_rel(WHAT, libc::O_RDONLY).map_err(proc_err)?;
    let mut text = String::new();
    std::fs::File::from(fd)
        .read_to_string(&mut text)
        .map_err(|e| Error::Proc {
            what: WHAT.into(),
            source: iso_sys::Error::Io {
                op: "read",
                path: "/proc/sys/kernel/cap_last_cap".into(),
                source: e,
            },
        })?;
    let parse_err = || Error::Parse {
        what: WHAT.into(),
        reason: format!("expected a number 0..=63, found {:?}", text.trim()),
    };
    let n: u8 = text.trim().parse().map_err(|_| parse_err())?;
    if n > MAX_CAP_NUMBER {
        return Err(parse_err());
    }
    Ok(n)
}

/// The highest capability number the running kernel supports, found without `/proc` by
/// asking `prctl(PR_CAPBSET_READ)` until it answers `EINVAL`. Useful inside a root
/// filesystem that has no `/proc` mounted yet.
///
/// ```
/// assert_eq!(iso_caps::last_cap_probe()?, iso_caps::last_cap()?);
/// # Ok::<(), iso_caps::Error>(())
/// ```
pub fn last_cap_probe() -> Result<u8, Error> {
    let mut last = 0;
    for n in 0..=MAX_CAP_NUMBER {
        match sys::bounding_has(n) {
            Ok(Some(_)) => last = n,
            Ok(None) => break,
            Err(source) => {
                return Err(Error::CapPrctl {
                    op: "PR_CAPBSET_READ",
                    cap: crate::error::cap_label(n),
                    set: Set::Bounding,
                    source,
                })
            }
        }
    }
    Ok(last)
}

/// All five capability sets of a thread.
///
/// Read the calling thread's with [`Capabilities::current`], another process' with
/// [`Capabilities::of_pid`]; apply one with [`CapConfig`](crate::CapConfig).
///
/// ```
/// use iso_caps::{Capabilities, Capability, Set};
///
/// let caps = Capabilities::current()?;
/// println!("{caps}");
/// // Whatever we may use, we are permitted to use.
/// assert!(caps.effective.is_subset(caps.permitted));
/// let _root_like = caps.get(Set::Effective).contains(Capability::SysAdmin);
/// # Ok::<(), iso_caps::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// The bounding set.
    pub bounding: CapSet,
    /// The effective set.
    pub effective: CapSet,
    /// The permitted set.
    pub permitted: CapSet,
    /// The inheritable set.
    pub inheritable: CapSet,
    /// The ambient set.
    pub ambient: CapSet,
}

impl Capabilities {
    /// The calling thread's five sets, read with `capget(2)` and `prctl(2)` (no `/proc`
    /// needed). Capabilities are per thread; in a single-threaded process that is the process.
    ///
    /// ```
    /// let caps = iso_caps::Capabilities::current()?;
    /// assert!(caps.ambient.is_subset(caps.permitted));
    /// # Ok::<(), iso_caps::Error>(())
    /// ```
    pub fn current() -> Result<Self, Error> {
        let base = sys::capget(0).map_err(|source| Error::Capget { source })?;
        let mut bounding = CapSet::empty();
        let mut ambient = CapSet::empty();
        for n in 0..=MAX_CAP_NUMBER {
            let label = || crate::error::cap_label(n);
            match sys::bounding_has(n) {
                Ok(Some(true)) => bounding.insert_number(n)?,
                Ok(Some(false)) => {}
                // Past the kernel's last capability.
                Ok(None) => break,
                Err(source) => {
                    return Err(Error::CapPrctl {
                        op: "PR_CAPBSET_READ",
                        cap: label(),
                        set: Set::Bounding,
                        source,
                    })
                }
            }
            match sys::ambient_has(n) {
                Ok(Some(true)) => ambient.insert_number(n)?,
                // Not set, or a kernel older than 4.3 without ambient capabilities.
                Ok(_) => {}
                Err(source) => {
                    return Err(Error::CapPrctl {
                        op: "PR_CAP_AMBIENT_IS_SET",
                        cap: label(),
                        set: Set::Ambient,
                        source,
                    })
                }
            }
        }
        Ok(Capabilities {
            bounding,
            effective: CapSet::from_bits(base.effective),
            permitted: CapSet::from_bits(base.permitted),
            inheritable: CapSet::from_bits(base.inheritable),
            ambient,
        })
    }

    /// The five sets of process `pid` (its main thread), from the `CapInh`, `CapPrm`,
    /// `CapEff`, `CapBnd` and `CapAmb` lines of `/proc/PID/status`, read through a verified
    /// procfs handle.
    ///
    /// ```
    /// let mine = iso_caps::Capabilities::of_pid(iso_sys::Pid::this())?;
    /// assert_eq!(mine, iso_caps::Capabilities::current()?);
    /// # Ok::<(), iso_caps::Error>(())
    /// ```
    pub fn of_pid(pid: Pid) -> Result<Self, Error> {
        let proc_root = ProcRoot::open().map_err(|source| Error::Proc {
            what: "/proc".into(),
            source,
        })?;
        Self::of_proc_pid(&proc_root, ProcPid::Pid(pid))
    }

    /// Like [`Capabilities::of_pid`], through a procfs handle the caller holds and for any
    /// [`ProcPid`] (`ThreadSelf` reads the calling thread).
    ///
    /// ```
    /// let proc_root = iso_sys::procfs::ProcRoot::open()?;
    /// let caps = iso_caps::Capabilities::of_proc_pid(&proc_root, iso_sys::ProcPid::ThreadSelf)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn of_proc_pid(proc_root: &ProcRoot, pid: ProcPid) -> Result<Self, Error> {
        let status = proc_root
            .read_to_string(pid, "status")
            .map_err(|source| Error::Proc {
                what: format!("/proc/{}/status", pid.dir_name()),
                source,
            })?;
        Self::from_status(&status)
    }

    /// Parses the capability lines of a `/proc/PID/status` text. A missing `CapAmb` line
    /// (kernels before 4.3) reads as an empty ambient set; any other missing line is an error.
    ///
    /// ```
    /// let text = "Name:\tping\nCapInh:\t0000000000000000\nCapPrm:\t0000000000002000\n\
    ///             CapEff:\t0000000000002000\nCapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\n";
    /// let caps = iso_caps::Capabilities::from_status(text)?;
    /// assert_eq!(caps.effective.to_string(), "CAP_NET_RAW");
    /// assert_eq!(caps.bounding.len(), 41);
    /// # Ok::<(), iso_caps::Error>(())
    /// ```
    pub fn from_status(status: &str) -> Result<Self, Error> {
        let mut caps = Capabilities::default();
        for set in Set::ALL {
            let key = set.status_key();
            let value = status.lines().find_map(|line| {
                let (k, v) = line.split_once(':')?;
                (k == key).then_some(v.trim())
            });
            let value = match (value, set) {
                (Some(v), _) => v,
                (None, Set::Ambient) => continue,
                (None, _) => {
                    return Err(Error::Parse {
                        what: "/proc/PID/status".into(),
                        reason: format!("no {key} line"),
                    })
                }
            };
            let bits = u64::from_str_radix(value, 16).map_err(|_| Error::Parse {
                what: "/proc/PID/status".into(),
                reason: format!("{key} is not a hexadecimal mask: {value:?}"),
            })?;
            *caps.get_mut(set) = CapSet::from_bits(bits);
        }
        Ok(caps)
    }

    /// The set `set`.
    ///
    /// ```
    /// use iso_caps::{Capabilities, Set};
    /// let caps = Capabilities::default();
    /// assert!(caps.get(Set::Bounding).is_empty());
    /// ```
    pub fn get(&self, set: Set) -> CapSet {
        match set {
            Set::Bounding => self.bounding,
            Set::Effective => self.effective,
            Set::Permitted => self.permitted,
            Set::Inheritable => self.inheritable,
            Set::Ambient => self.ambient,
        }
    }

    /// The set `set`, to change it.
    ///
    /// ```
    /// use iso_caps::{Capabilities, Capability, Set};
    /// let mut caps = Capabilities::default();
    /// caps.get_mut(Set::Effective).insert(Capability::Kill);
    /// assert_eq!(caps.effective.len(), 1);
    /// ```
    pub fn get_mut(&mut self, set: Set) -> &mut CapSet {
        match set {
            Set::Bounding => &mut self.bounding,
            Set::Effective => &mut self.effective,
            Set::Permitted => &mut self.permitted,
            Set::Inheritable => &mut self.inheritable,
            Set::Ambient => &mut self.ambient,
        }
    }
}

impl fmt::Display for Capabilities {
    /// One line per set, `bounding: CAP_CHOWN,...`; an empty set prints as `(none)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, set) in Set::ALL.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            let value = self.get(*set);
            if value.is_empty() {
                write!(f, "{:<12} (none)", format!("{set}:"))?;
            } else {
                write!(f, "{:<12} {value}", format!("{set}:"))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn last_cap_matches_probe_and_crate() {
        let last = last_cap().unwrap();
        assert!(
            last >= crate::Capability::LAST.index(),
            "kernel 6.x: {last}"
        );
        assert_eq!(last_cap_probe().unwrap(), last);
    }

    #[test]
    fn current_matches_status_and_caps_crate() {
        // Read in a child: the harness's other threads share nothing capability-wise, but
        // /proc/PID/status shows the main thread, so compare from a single-threaded process.
        iso_testutil::in_child(|| {
            let ours = Capabilities::current().map_err(|e| e.to_string())?;
            let status = Capabilities::of_pid(Pid::this()).map_err(|e| e.to_string())?;
            if ours != status {
                return Err(format!("capget/prctl: {ours:?}\nstatus: {status:?}"));
            }
            let theirs = caps::read(None, caps::CapSet::Effective).map_err(|e| e.to_string())?;
            let theirs: u64 = theirs.iter().map(|c| c.bitmask()).sum();
            if theirs != ours.effective.bits() {
                return Err(format!("caps crate effective {theirs:#x} vs ours {ours:?}"));
            }
            let bounding = caps::read(None, caps::CapSet::Bounding).map_err(|e| e.to_string())?;
            let bounding: u64 = bounding.iter().map(|c| c.bitmask()).sum();
            if bounding != ours.bounding.bits() {
                return Err(format!(
                    "caps crate bounding {bounding:#x} vs ours {ours:?}"
                ));
            }
            Ok(())
        });
    }

    #[test]
    fn of_pid_reads_another_process() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let pid = Pid::from_raw(child.id() as i32).unwrap();
        let caps = Capabilities::of_pid(pid);
        let _ = child.kill();
        let _ = child.wait();
        let caps = caps.unwrap();
        let last = last_cap().unwrap();
        assert!(caps.bounding.is_subset(CapSet::up_to(last)));
        assert!(caps.effective.is_subset(caps.permitted));
    }

    #[test]
    fn of_pid_missing_process_keeps_errno() {
        // pid_max is at most 2^22; this pid cannot exist.
        let err = Capabilities::of_pid(Pid::from_raw(i32::MAX).unwrap()).unwrap_err();
        assert_eq!(err.errno(), Some(libc::ENOENT), "{err}");
        assert!(err.to_string().contains("status"), "{err}");
    }

    #[test]
    fn status_parsing() {
        let text = "CapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\n";
        let caps = Capabilities::from_status(text).unwrap();
        assert!(caps.ambient.is_empty());
        assert_eq!(caps.permitted, CapSet::all_known());
        assert!(Capabilities::from_status("CapInh:\tzz\n").is_err());
        assert!(Capabilities::from_status("").is_err());
    }

    #[test]
    fn display_lists_every_set() {
        let mut caps = Capabilities::default();
        caps.effective.insert(crate::Capability::NetRaw);
        let text = caps.to_string();
        assert_eq!(text.lines().count(), 5);
        assert!(text.contains("effective:   CAP_NET_RAW"), "{text}");
        assert!(text.contains("ambient:     (none)"), "{text}");
    }

    proptest! {
        #[test]
        fn status_parser_never_panics(s in "\\PC{0,200}") {
            let _ = Capabilities::from_status(&s);
        }

        #[test]
        fn status_round_trip(masks in proptest::array::uniform5(any::<u64>())) {
            let text = format!(
                "Name:\tx\nCapInh:\t{:016x}\nCapPrm:\t{:016x}\nCapEff:\t{:016x}\nCapBnd:\t{:016x}\nCapAmb:\t{:016x}\n",
                masks[0], masks[1], masks[2], masks[3], masks[4]
            );
            let caps = Capabilities::from_status(&text).unwrap();
            prop_assert_eq!(caps.inheritable.bits(), masks[0]);
            prop_assert_eq!(caps.permitted.bits(), masks[1]);
            prop_assert_eq!(caps.effective.bits(), masks[2]);
            prop_assert_eq!(caps.bounding.bits(), masks[3]);
            prop_assert_eq!(caps.ambient.bits(), masks[4]);
        }
    }
}
