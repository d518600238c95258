//! Time namespace offsets (`/proc/PID/timens_offsets`).

use std::fmt;
use std::str::FromStr;

use iso_sys::procfs::ProcRoot;
use iso_sys::{Pid, ProcPid};

use crate::{unshare, Error, Namespace, Result};

/// A signed offset of one clock: `secs` seconds plus `nanos` nanoseconds (`0..1e9`), as
/// `timens_offsets` spells it. Negative offsets have negative `secs` and non-negative
/// `nanos` (−1.5 s is `secs: -2, nanos: 500_000_000`).
///
/// ```
/// use iso_ns::ClockOffset;
/// let o = ClockOffset::from_secs(-3600);
/// assert_eq!(o.secs, -3600);
/// assert!(ClockOffset::new(1, 1_000_000_000).is_err());
/// # Ok::<(), iso_ns::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct ClockOffset {
    /// Whole seconds (may be negative).
    pub secs: i64,
    /// Nanoseconds, `0..1_000_000_000`.
    pub nanos: u32,
}

impl ClockOffset {
    /// An offset, refusing `nanos` of a second or more.
    ///
    /// ```
    /// let half = iso_ns::ClockOffset::new(0, 500_000_000)?;
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn new(secs: i64, nanos: u32) -> Result<Self> {
        if nanos >= 1_000_000_000 {
            return Err(Error::InvalidValue {
                field: "clock offset nanoseconds",
                reason: format!("{nanos} is not below 1000000000"),
            });
        }
        Ok(ClockOffset { secs, nanos })
    }

    /// Whole seconds.
    ///
    /// ```
    /// assert_eq!(iso_ns::ClockOffset::from_secs(5).nanos, 0);
    /// ```
    pub const fn from_secs(secs: i64) -> Self {
        ClockOffset { secs, nanos: 0 }
    }
}

/// The clock offsets of a time namespace. Only `CLOCK_MONOTONIC` (and its `_RAW`/`_COARSE`
/// variants) and `CLOCK_BOOTTIME` can be shifted; `CLOCK_REALTIME` is the same everywhere.
///
/// The kernel accepts offsets only between the creation of a time namespace and the moment
/// the first process enters it, so the sequence is: `unshare(CLONE_NEWTIME)` (the caller
/// stays in its old namespace; the new one is its `time_for_children`), write
/// `/proc/self/timens_offsets`, then create children (or `execve`, which also enters it).
/// [`TimeOffsets::unshare`] does the first two steps.
///
/// ```
/// use iso_ns::{ClockOffset, TimeOffsets};
/// let offsets = TimeOffsets { monotonic: ClockOffset::from_secs(86400), ..Default::default() };
/// assert_eq!(offsets.to_proc_string(), "monotonic 86400 0\nboottime 0 0\n");
/// let parsed: TimeOffsets = "monotonic  86400 0\nboottime 0 0\n".parse()?;
/// assert_eq!(parsed, offsets);
/// # Ok::<(), iso_ns::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct TimeOffsets {
    /// Added to `CLOCK_MONOTONIC`.
    pub monotonic: ClockOffset,
    /// Added to `CLOCK_BOOTTIME`.
    pub boottime: ClockOffset,
}

impl TimeOffsets {
    /// The text the kernel expects, one `<clock> <secs> <nanos>` line each.
    ///
    /// ```
    /// assert_eq!(iso_ns::TimeOffsets::default().to_proc_string(), "monotonic 0 0\nboottime 0 0\n");
    /// ```
    pub fn to_proc_string(&self) -> String {
        format!(
            "monotonic {} {}\nboottime {} {}\n",
            self.monotonic.secs, self.monotonic.nanos, self.boottime.secs, self.boottime.nanos
        )
    }

    /// Creates a new time namespace for the caller's future children
    /// (`unshare(CLONE_NEWTIME)`) and sets these offsets in it. Children created afterwards
    /// (and the caller itself after its next `execve`) see the shifted clocks. Needs
    /// `CAP_SYS_ADMIN` (for the namespace) and `CAP_SYS_TIME` (for the offsets).
    ///
    /// ```no_run
    /// use iso_ns::{ClockOffset, TimeOffsets};
    /// TimeOffsets { boottime: ClockOffset::from_secs(10 * 86400), ..Default::default() }.unshare()?;
    /// // A child started now believes the machine has been up for ten more days.
    /// std::process::Command::new("cat").arg("/proc/uptime").status().ok();
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn unshare(&self) -> Result<()> {
        unshare(Namespace::Time.into())?;
        self.write(ProcPid::SelfPid)
    }

    /// Writes the offsets of the `time_for_children` namespace of `pid`, which must be new
    /// and not yet entered by any process (`EACCES` otherwise).
    ///
    /// ```no_run
    /// use iso_ns::{ClockOffset, TimeOffsets};
    /// let child = iso_sys::ProcPid::Pid(iso_sys::Pid::from_raw(4242).unwrap());
    /// TimeOffsets { monotonic: ClockOffset::from_secs(60), ..Default::default() }.write(child)?;
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn write(&self, pid: ProcPid) -> Result<()> {
        let proc_root = ProcRoot::open()?;
        proc_root.write(pid, "timens_offsets", self.to_proc_string().as_bytes())?;
        Ok(())
    }

    /// Reads the offsets of the `time_for_children` namespace of `pid`.
    ///
    /// ```
    /// let offsets = iso_ns::TimeOffsets::read(iso_sys::ProcPid::SelfPid)?;
    /// println!("{offsets:?}");
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn read(pid: ProcPid) -> Result<Self> {
        ProcRoot::open()?
            .read_to_string(pid, "timens_offsets")?
            .parse()
    }

    /// Reads the offsets of a process given by pid number.
    ///
    /// ```
    /// let offsets = iso_ns::TimeOffsets::read_pid(iso_sys::Pid::this())?;
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn read_pid(pid: Pid) -> Result<Self> {
        Self::read(ProcPid::Pid(pid))
    }
}

impl fmt::Display for TimeOffsets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_proc_string())
    }
}

impl FromStr for TimeOffsets {
    type Err = Error;

    /// Parses the `timens_offsets` format. Clocks may be named (`monotonic`, `boottime`) or
    /// given by clock id (1 and 7), as the kernel accepts both; a missing clock is 0.
    fn from_str(s: &str) -> Result<Self> {
        let mut offsets = TimeOffsets::default();
        for line in s.lines().filter(|l| !l.trim().is_empty()) {
            let err = |reason: String| Error::Parse {
                what: "timens_offsets line",
                input: line.to_owned(),
                reason,
            };
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [clock, secs, nanos] = fields.as_slice() else {
                return Err(err(format!(
                    "expected `clock secs nanos`, found {} fields",
                    fields.len()
                )));
            };
            let secs: i64 = secs.parse().map_err(|e| err(format!("seconds: {e}")))?;
            let nanos: u32 = nanos
                .parse()
                .map_err(|e| err(format!("nanoseconds: {e}")))?;
            let offset = ClockOffset::new(secs, nanos).map_err(|e| err(e.to_string()))?;
            let clock_id = libc::CLOCK_MONOTONIC.to_string();
            let boot_id = libc::CLOCK_BOOTTIME.to_string();
            match *clock {
                "monotonic" => offsets.monotonic = offset,
                "boottime" => offsets.boottime = offset,
                c if c == clock_id => offsets.monotonic = offset,
                c if c == boot_id => offsets.boottime = offset,
                other => return Err(err(format!("unknown clock {other:?}"))),
            }
        }
        Ok(offsets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_kernel_format() {
        let own = TimeOffsets::read(ProcPid::SelfPid).unwrap();
        assert_eq!(own, TimeOffsets::default());
        let t: TimeOffsets = "1 5 7\n7 -3 0\n".parse().unwrap();
        assert_eq!(t.monotonic, ClockOffset { secs: 5, nanos: 7 });
        assert_eq!(t.boottime.secs, -3);
        assert!("realtime 1 0".parse::<TimeOffsets>().is_err());
        assert!("monotonic 1 1000000000".parse::<TimeOffsets>().is_err());
    }

    proptest! {
        #[test]
        fn round_trip(ms in any::<i64>(), mn in 0u32..1_000_000_000, bs in any::<i64>(), bn in 0u32..1_000_000_000) {
            let t = TimeOffsets {
                monotonic: ClockOffset::new(ms, mn).unwrap(),
                boottime: ClockOffset::new(bs, bn).unwrap(),
            };
            prop_assert_eq!(t.to_proc_string().parse::<TimeOffsets>().unwrap(), t);
        }

        #[test]
        fn parse_never_panics(s in "[a-z0-9 \n-]{0,50}") {
            let _ = s.parse::<TimeOffsets>();
        }
    }
}
