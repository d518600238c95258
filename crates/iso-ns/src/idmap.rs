//! uid and gid maps of user namespaces (`/proc/PID/uid_map`, `gid_map`, `setgroups`).

use std::fmt;
use std::process::Command;
use std::str::FromStr;

use iso_sys::procfs::ProcRoot;
use iso_sys::{Pid, ProcPid};

use crate::{Error, Result};

/// The most lines a uid or gid map may have (Linux 4.15 and later).
pub const MAX_MAP_LINES: usize = 340;

const CAP_SETGID: u32 = 6;
const CAP_SETUID: u32 = 7;

/// One line of a uid or gid map: `count` consecutive ids starting at `inside` in the
/// namespace are ids starting at `outside` in the parent namespace.
///
/// ```
/// use iso_ns::IdMapEntry;
/// let e = IdMapEntry::new(0, 100000, 65536);
/// assert_eq!(e.to_outside(1), Some(100001));
/// assert_eq!(e.to_outside(65536), None);
/// assert_eq!(e.to_string(), "0 100000 65536");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdMapEntry {
    /// First id inside the namespace.
    pub inside: u32,
    /// First id in the parent namespace that `inside` stands for.
    pub outside: u32,
    /// How many consecutive ids the line maps (at least 1).
    pub count: u32,
}

impl IdMapEntry {
    /// A line mapping `count` ids from `inside` to `outside`. Checked when it becomes part
    /// of a [`UidMap`] or [`GidMap`].
    pub const fn new(inside: u32, outside: u32, count: u32) -> Self {
        IdMapEntry {
            inside,
            outside,
            count,
        }
    }

    /// The parent-namespace id that `inside_id` stands for, if this line maps it.
    pub fn to_outside(&self, inside_id: u32) -> Option<u32> {
        let offset = inside_id.checked_sub(self.inside)?;
        (offset < self.count).then(|| self.outside.wrapping_add(offset))
    }

    fn inside_range(&self) -> (u64, u64) {
        (
            u64::from(self.inside),
            u64::from(self.inside) + u64::from(self.count),
        )
    }

    fn outside_range(&self) -> (u64, u64) {
        (
            u64::from(self.outside),
            u64::from(self.outside) + u64::from(self.count),
        )
    }
}

impl fmt::Display for IdMapEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.inside, self.outside, self.count)
    }
}

/// How a map reached the kernel.
///
/// ```
/// assert_ne!(iso_ns::MapWriter::Direct, iso_ns::MapWriter::Helper);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapWriter {
    /// Written to `/proc/PID/{uid,gid}_map` by this process.
    Direct,
    /// Written by the setuid helper `newuidmap`/`newgidmap` (shadow's `uidmap` package),
    /// which checks the ranges against `/etc/subuid` and `/etc/subgid`.
    Helper,
}

fn check_entries(map: &'static str, entries: &[IdMapEntry]) -> Result<()> {
    let invalid = |line: usize, reason: String| Error::InvalidMap { map, line, reason };
    if entries.is_empty() {
        return Err(invalid(0, "a map needs at least one line".into()));
    }
    if entries.len() > MAX_MAP_LINES {
        return Err(invalid(
            0,
            format!(
                "{} lines, the kernel accepts at most {MAX_MAP_LINES}",
                entries.len()
            ),
        ));
    }
    // The kernel computes first + count in 32 bits and refuses a wrap; (u32)-1 is never an id.
    let limit = u64::from(u32::MAX);
    for (i, e) in entries.iter().enumerate() {
        let line = i + 1;
        if e.count == 0 {
            return Err(invalid(line, format!("`{e}`: count must be at least 1")));
        }
        if e.inside_range().1 > limit {
            return Err(invalid(
                line,
                format!("`{e}`: inside range ends past {}", u32::MAX - 1),
            ));
        }
        if e.outside_range().1 > limit {
            return Err(invalid(
                line,
                format!("`{e}`: outside range ends past {}", u32::MAX - 1),
            ));
        }
        for (j, earlier) in entries[..i].iter().enumerate() {
            let overlaps = |a: (u64, u64), b: (u64, u64)| a.0 < b.1 && b.0 < a.1;
            if overlaps(e.inside_range(), earlier.inside_range()) {
                return Err(invalid(
                    line,
                    format!(
                        "`{e}` overlaps line {} `{earlier}` inside the namespace",
                        j + 1
                    ),
                ));
            }
            if overlaps(e.outside_range(), earlier.outside_range()) {
                return Err(invalid(
                    line,
                    format!(
                        "`{e}` overlaps line {} `{earlier}` outside the namespace",
                        j + 1
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn parse_entries(map: &'static str, text: &str) -> Result<Vec<IdMapEntry>> {
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let parse_err = |reason: String| Error::Parse {
            what: map,
            input: line.to_owned(),
            reason: format!("line {}: {reason}", i + 1),
        };
        if fields.len() != 3 {
            return Err(parse_err(format!(
                "expected `inside outside count`, found {} fields",
                fields.len()
            )));
        }
        let mut nums = [0u32; 3];
        for (slot, field) in nums.iter_mut().zip(&fields) {
            *slot = field
                .parse()
                .map_err(|e| parse_err(format!("{field:?} is not a u32 ({e})")))?;
        }
        entries.push(IdMapEntry::new(nums[0], nums[1], nums[2]));
    }
    check_entries(map, &entries)?;
    Ok(entries)
}

fn render(entries: &[IdMapEntry]) -> String {
    entries.iter().map(|e| format!("{e}\n")).collect()
}

fn to_outside(entries: &[IdMapEntry], inside: u32) -> Option<u32> {
    entries.iter().find_map(|e| e.to_outside(inside))
}

/// Whether the calling process has capability number `cap` in its effective set (in its
/// own user namespace), read from `/proc/self/status`.
fn has_effective_cap(proc_root: &ProcRoot, cap: u32) -> Result<bool> {
    let status = proc_root.read_to_string(ProcPid::SelfPid, "status")?;
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(str::trim)
        .ok_or_else(|| Error::Parse {
            what: "/proc/self/status",
            input: String::new(),
            reason: "no CapEff line".into(),
        })?;
    let bits = u64::from_str_radix(hex, 16).map_err(|e| Error::Parse {
        what: "CapEff",
        input: hex.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(bits & (1u64 << cap) != 0)
}

/// Writes `deny` to `/proc/PID/setgroups`, which makes `setgroups(2)` fail for good in
/// that user namespace.
///
/// The kernel requires this before a process without `CAP_SETGID` in the parent namespace
/// may write a `gid_map`: otherwise it could drop a supplementary group that a file's
/// permissions use to *deny* it access. [`GidMap::write`] does it when needed.
///
/// ```no_run
/// let child = iso_sys::Pid::from_raw(4242).unwrap();
/// iso_ns::deny_setgroups(child)?;
/// # Ok::<(), iso_ns::Error>(())
/// ```
pub fn deny_setgroups(pid: Pid) -> Result<()> {
    let proc_root = ProcRoot::open()?;
    proc_root.write(ProcPid::Pid(pid), "setgroups", b"deny")?;
    Ok(())
}

fn run_helper(helper: &'static str, pid: Pid, entries: &[IdMapEntry]) -> Result<()> {
    let mut cmd = Command::new(helper);
    cmd.arg(pid.to_string());
    for e in entries {
        cmd.arg(e.inside.to_string())
            .arg(e.outside.to_string())
            .arg(e.count.to_string());
    }
    let out = cmd.output().map_err(|e| Error::io("spawn", helper, e))?;
    if !out.status.success() {
        return Err(Error::MapHelper {
            helper,
            pid: pid.as_raw(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(())
}

macro_rules! id_map {
    ($name:ident, $file:literal, $helper:literal, $cap:ident, $own:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(Vec<IdMapEntry>);

        impl $name {
            /// A validated map: at least one and at most 340 lines, every count at least 1,
            /// every range inside `u32`, no two ranges overlapping inside or outside.
            /// Errors name the offending line (1-based).
            ///
            /// ```
            #[doc = concat!("let map = iso_ns::", stringify!($name), "::new(vec![iso_ns::IdMapEntry::new(0, 1000, 1), iso_ns::IdMapEntry::new(1, 100000, 65535)])?;")]
            #[doc = concat!("# Ok::<(), iso_ns::Error>(())")]
            /// ```
            pub fn new(entries: Vec<IdMapEntry>) -> Result<Self> {
                check_entries($file, &entries)?;
                Ok($name(entries))
            }

            /// A map of one line.
            ///
            /// ```
            #[doc = concat!("let map = iso_ns::", stringify!($name), "::single(0, 100000, 65536)?;")]
            #[doc = concat!("# Ok::<(), iso_ns::Error>(())")]
            /// ```
            pub fn single(inside: u32, outside: u32, count: u32) -> Result<Self> {
                Self::new(vec![IdMapEntry::new(inside, outside, count)])
            }

            /// The lines of the map.
            ///
            /// ```
            #[doc = concat!("assert_eq!(iso_ns::", stringify!($name), "::single(0, 5, 1)?.entries()[0].outside, 5);")]
            #[doc = concat!("# Ok::<(), iso_ns::Error>(())")]
            /// ```
            pub fn entries(&self) -> &[IdMapEntry] {
                &self.0
            }

            /// The parent-namespace id of `inside`, if mapped.
            ///
            /// ```
            #[doc = concat!("assert_eq!(iso_ns::", stringify!($name), "::single(0, 5, 2)?.to_outside(1), Some(6));")]
            #[doc = concat!("# Ok::<(), iso_ns::Error>(())")]
            /// ```
            pub fn to_outside(&self, inside: u32) -> Option<u32> {
                to_outside(&self.0, inside)
            }

            /// The text the kernel expects, one `inside outside count` line each.
            ///
            /// ```
            #[doc = concat!("assert_eq!(iso_ns::", stringify!($name), "::single(0, 5, 2)?.to_proc_string(), \"0 5 2\\n\");")]
            #[doc = concat!("# Ok::<(), iso_ns::Error>(())")]
            /// ```
            pub fn to_proc_string(&self) -> String {
                render(&self.0)
            }

            /// Reads the map of process `pid`; `None` while none has been written.
            ///
            /// ```
            #[doc = concat!("let own = iso_ns::", stringify!($name), "::read(iso_sys::ProcPid::SelfPid)?;")]
            #[doc = concat!("assert!(own.is_some()); // every process but a fresh user namespace has one")]
            #[doc = concat!("# Ok::<(), iso_ns::Error>(())")]
            /// ```
            pub fn read(pid: ProcPid) -> Result<Option<Self>> {
                let text = ProcRoot::open()?.read_to_string(pid, $file)?;
                if text.trim().is_empty() {
                    return Ok(None);
                }
                text.parse().map(Some)
            }

            /// Installs the map for the user namespace of process `pid` (which must not have
            /// one yet: a map can be written once).
            ///
            /// - With the capability in our effective set, the map is written directly to
            #[doc = concat!("  `/proc/PID/", $file, "` through a verified `/proc`.")]
            /// - Without it, a single line that maps one id onto our own effective id is
            ///   still allowed by the kernel and written directly (for gids, after writing
            ///   `deny` to `/proc/PID/setgroups`, which the kernel demands).
            #[doc = concat!("- Anything else is handed to `", $helper, "`, which checks it against")]
            ///   `/etc/subuid` or `/etc/subgid`.
            ///
            /// ```no_run
            #[doc = concat!("let child = iso_sys::Pid::from_raw(4242).unwrap(); // in a new user namespace, waiting")]
            #[doc = concat!("let how = iso_ns::", stringify!($name), "::single(0, 100000, 65536)?.write(child)?;")]
            #[doc = concat!("# Ok::<(), iso_ns::Error>(())")]
            /// ```
            pub fn write(&self, pid: Pid) -> Result<MapWriter> {
                let proc_root = ProcRoot::open()?;
                // SAFETY: the effective-id getters cannot fail.
                let own = unsafe { libc::$own() };
                let privileged = has_effective_cap(&proc_root, $cap)?;
                let own_only = matches!(self.0.as_slice(),
                    [e] if e.count == 1 && e.outside == own);
                if privileged || own_only {
                    if !privileged && $file == "gid_map" {
                        proc_root.write(ProcPid::Pid(pid), "setgroups", b"deny")?;
                    }
                    proc_root.write(ProcPid::Pid(pid), $file, self.to_proc_string().as_bytes())?;
                    return Ok(MapWriter::Direct);
                }
                run_helper($helper, pid, &self.0)?;
                Ok(MapWriter::Helper)
            }
        }

        impl FromStr for $name {
            type Err = Error;

            /// Parses the `/proc` format: lines of three numbers separated by whitespace.
            fn from_str(s: &str) -> Result<Self> {
                parse_entries($file, s).map($name)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_proc_string())
            }
        }
    };
}

id_map!(
    UidMap,
    "uid_map",
    "newuidmap",
    CAP_SETUID,
    geteuid,
    r#"The uid map of a user namespace (`/proc/PID/uid_map`).

```
use iso_ns::{IdMapEntry, UidMap};
// root inside is 100000 outside, and 65536 ids in all.
let map = UidMap::single(0, 100000, 65536)?;
assert_eq!(map.to_outside(0), Some(100000));
assert_eq!(map.to_proc_string(), "0 100000 65536\n");
let parsed: UidMap = "         0     100000      65536\n".parse()?;
assert_eq!(parsed, map);
// Overlapping ranges are refused, naming the line.
let err = UidMap::new(vec![IdMapEntry::new(0, 1000, 1), IdMapEntry::new(1, 1000, 1)]).unwrap_err();
assert!(err.to_string().contains("line 2"), "{err}");
# Ok::<(), iso_ns::Error>(())
```"#
);

id_map!(
    GidMap,
    "gid_map",
    "newgidmap",
    CAP_SETGID,
    getegid,
    r#"The gid map of a user namespace (`/proc/PID/gid_map`).

```
use iso_ns::GidMap;
let map = GidMap::single(0, 100000, 65536)?;
assert_eq!(map.entries().len(), 1);
assert!(GidMap::single(0, 100000, 0).is_err()); // count 0
assert!(GidMap::single(0, u32::MAX, 1).is_err()); // outside range leaves u32
# Ok::<(), iso_ns::Error>(())
```"#
);

/// A user namespace that holds the maps `uid` and `gid` and no process: what an idmapped
/// mount is given (`mount_setattr(MOUNT_ATTR_IDMAP)` reads the maps of a user namespace
/// from its descriptor). A short-lived child creates it, waits while its maps are written
/// ([`UidMap::write`], [`GidMap::write`]) and the namespace is opened, and is then killed;
/// the returned descriptor keeps the namespace alive.
///
/// ```no_run
/// use iso_ns::{GidMap, UidMap};
/// let userns = iso_ns::user_namespace_with_maps(
///     &UidMap::single(0, 100000, 65536)?,
///     &GidMap::single(0, 100000, 65536)?,
/// )?;
/// # Ok::<(), iso_ns::Error>(())
/// ```
pub fn user_namespace_with_maps(uid: &UidMap, gid: &GidMap) -> Result<crate::NsFd> {
    let spawn = crate::Spawn::new(crate::Namespace::User.into())
        .uid_map(uid.clone())
        .gid_map(gid.clone());
    // SAFETY: the child only calls pause(2), which is async-signal-safe, until it is killed.
    let mut child = unsafe { spawn.run(pause_until_killed) }?;
    let opened = crate::NsFd::of_process(ProcPid::Pid(child.pid()), crate::Namespace::User);
    let killed = child.kill(libc::SIGKILL);
    let reaped = child.wait();
    let ns = opened?;
    killed?;
    reaped?;
    Ok(ns)
}

fn pause_until_killed() -> i32 {
    loop {
        // SAFETY: pause takes no arguments and only waits for a signal.
        unsafe { libc::pause() };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn validation_names_the_line() {
        let err =
            UidMap::new(vec![IdMapEntry::new(0, 0, 10), IdMapEntry::new(10, 10, 0)]).unwrap_err();
        assert!(matches!(err, Error::InvalidMap { line: 2, .. }), "{err}");
        let err =
            GidMap::new(vec![IdMapEntry::new(0, 0, 10), IdMapEntry::new(100, 5, 1)]).unwrap_err();
        assert!(err.to_string().contains("outside"), "{err}");
        assert!(UidMap::new(vec![]).is_err());
        let too_many = (0..341).map(|i| IdMapEntry::new(i, i, 1)).collect();
        assert!(UidMap::new(too_many).is_err());
        let max = (0..340).map(|i| IdMapEntry::new(i, i, 1)).collect();
        assert!(UidMap::new(max).is_ok());
        // The initial namespace's own map is valid.
        assert!("0 0 4294967295".parse::<UidMap>().is_ok());
        assert!("0 0 4294967296".parse::<UidMap>().is_err());
        assert!("1 0 4294967295".parse::<UidMap>().is_err());
        assert!("0 0".parse::<UidMap>().is_err());
        assert!("a b c".parse::<UidMap>().is_err());
    }

    #[test]
    fn reads_own_map() {
        let map = UidMap::read(ProcPid::SelfPid).unwrap().unwrap();
        assert!(!map.entries().is_empty());
    }

    fn entry() -> impl Strategy<Value = IdMapEntry> {
        (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(a, b, c)| IdMapEntry::new(a, b, c))
    }

    proptest! {
        #[test]
        fn valid_maps_round_trip(entries in proptest::collection::vec(entry(), 0..6)) {
            if let Ok(map) = UidMap::new(entries.clone()) {
                let parsed: UidMap = map.to_proc_string().parse().unwrap();
                prop_assert_eq!(&parsed, &map);
                for e in &entries {
                    prop_assert_eq!(map.to_outside(e.inside), Some(e.outside));
                }
            }
        }

        #[test]
        fn accepted_maps_obey_the_rules(entries in proptest::collection::vec(entry(), 0..6)) {
            if UidMap::new(entries.clone()).is_ok() {
                for (i, a) in entries.iter().enumerate() {
                    prop_assert!(a.count > 0);
                    prop_assert!(u64::from(a.inside) + u64::from(a.count) <= u64::from(u32::MAX));
                    prop_assert!(u64::from(a.outside) + u64::from(a.count) <= u64::from(u32::MAX));
                    for b in &entries[..i] {
                        prop_assert!(a.inside_range().1 <= b.inside_range().0
                            || b.inside_range().1 <= a.inside_range().0);
                        prop_assert!(a.outside_range().1 <= b.outside_range().0
                            || b.outside_range().1 <= a.outside_range().0);
                    }
                }
            }
        }

        #[test]
        fn disjoint_ranges_are_accepted(n in 1usize..20, width in 1u32..1000, base in 0u32..1_000_000) {
            let entries = (0..n as u32)
                .map(|i| IdMapEntry::new(i * width, base + (n as u32 - 1 - i) * width, width))
                .collect();
            prop_assert!(GidMap::new(entries).is_ok());
        }

        #[test]
        fn parse_never_panics(s in "[0-9 \n-]{0,60}") {
            let _ = s.parse::<GidMap>();
        }
    }
}
