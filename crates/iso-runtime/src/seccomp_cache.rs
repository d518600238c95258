//! Compiled seccomp filters, cached by content in the state root.
//!
//! Compiling a profile through libseccomp costs milliseconds (Docker's default profile, with
//! its ~300 rules, about 6 ms), and every container of an engine gets the same few profiles.
//! So the BPF program is kept in `<root>/@seccomp/<hash>` (`@` cannot appear in a container
//! id) and reused by the next `create` or `exec` with the same profile.
//!
//! The hash only names the file. An entry stores the whole key (the runtime, libseccomp and
//! kernel versions, the architecture and the profile's JSON) and is used only when that key
//! is byte for byte the one asked for: a colliding or corrupt entry is a miss, never another
//! profile's filter. Entries are written atomically and readable by root only, like the rest
//! of the state root. Failing to write an entry costs speed, nothing else.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use iso_seccomp::{BpfProgram, Flags, Profile};
use oci_spec::runtime::LinuxSeccomp;

use crate::store::write_atomic;
use crate::Error;

/// The cache directory in the state root.
const DIR: &str = "@seccomp";
/// The first bytes of an entry: the format.
const MAGIC: &[u8; 8] = b"isobpf01";

/// The BPF program of `profile`, from the cache in `root` or compiled (and then cached).
pub(crate) fn compiled(root: &Path, profile: &LinuxSeccomp) -> Result<BpfProgram, Error> {
    let key = key(profile)?;
    let path = entry_path(root, &key);
    if let Some(bpf) = std::fs::read(&path).ok().and_then(|e| decode(&e, &key)) {
        return Ok(bpf);
    }
    let bpf = compile(profile)?;
    if std::fs::create_dir_all(root.join(DIR)).is_ok() {
        let _ = write_atomic(&path, &encode(&key, &bpf), 0o600, "cache a seccomp filter");
    }
    Ok(bpf)
}

/// The BPF program of `profile`, compiled without the cache (nothing is read or written).
pub(crate) fn compile(profile: &LinuxSeccomp) -> Result<BpfProgram, Error> {
    Ok(Profile::try_from(profile)?.compile()?.to_bpf()?)
}

/// Everything the compiled program depends on.
fn key(profile: &LinuxSeccomp) -> Result<Vec<u8>, Error> {
    let ((major, minor, micro), api) = iso_seccomp::library_version()?;
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut key = format!(
        "iso-runtime {}; libseccomp {major}.{minor}.{micro} api {api}; linux {}; {}\n",
        env!("CARGO_PKG_VERSION"),
        kernel.trim(),
        std::env::consts::ARCH,
    )
    .into_bytes();
    serde_json::to_writer(&mut key, profile).map_err(|e| Error::Record {
        path: PathBuf::from("linux.seccomp"),
        reason: e.to_string(),
    })?;
    Ok(key)
}

fn entry_path(root: &Path, key: &[u8]) -> PathBuf {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut hasher);
    root.join(DIR).join(format!("{:016x}", hasher.finish()))
}

/// `MAGIC`, key length (u32 LE), key, flags (u32 LE), new-listener (u8), the program.
fn encode(key: &[u8], bpf: &BpfProgram) -> Vec<u8> {
    let program = bpf.to_bytes();
    let mut out = Vec::with_capacity(MAGIC.len() + 9 + key.len() + program.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&bpf.flags().bits().to_le_bytes());
    out.push(u8::from(bpf.new_listener()));
    out.extend_from_slice(&program);
    out
}

/// The program of an entry, if the entry is well formed and made for exactly `key`.
fn decode(entry: &[u8], key: &[u8]) -> Option<BpfProgram> {
    let rest = entry.strip_prefix(MAGIC.as_slice())?;
    let (len, rest) = rest.split_first_chunk::<4>()?;
    let len = u32::from_le_bytes(*len) as usize;
    if rest.get(..len)? != key {
        return None;
    }
    let (flags, rest) = rest[len..].split_first_chunk::<4>()?;
    let (&listener, program) = rest.split_first()?;
    let flags = Flags::from_bits(u32::from_le_bytes(*flags))?;
    let mut bpf = BpfProgram::from_bytes(program, flags).ok()?;
    bpf.set_new_listener(listener == 1);
    Some(bpf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn profile(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).unwrap()
    }

    const NOTIFY: &str = r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_LOG"],
        "syscalls":[{"names":["getppid"],"action":"SCMP_ACT_NOTIFY"}]}"#;

    #[test]
    fn an_entry_round_trips_with_its_flags_and_listener() {
        let p = profile(NOTIFY);
        let bpf = Profile::try_from(&p)
            .unwrap()
            .compile()
            .unwrap()
            .to_bpf()
            .unwrap();
        let key = key(&p).unwrap();
        let again = decode(&encode(&key, &bpf), &key).unwrap();
        assert_eq!(again, bpf);
        assert!(again.new_listener());
    }

    #[test]
    fn the_cache_is_used_only_for_the_same_profile() {
        let root = iso_testutil::TempDir::new("iso-seccomp-cache");
        let p = profile(NOTIFY);
        let first = compiled(root.path(), &p).unwrap();
        let entry = entry_path(root.path(), &key(&p).unwrap());
        assert!(entry.is_file(), "no cache entry at {}", entry.display());
        assert_eq!(compiled(root.path(), &p).unwrap(), first);
        // Another profile's entry under this name (a hash collision) is not used.
        let other = profile(r#"{"defaultAction":"SCMP_ACT_ERRNO"}"#);
        let other_bpf = compiled(root.path(), &other).unwrap();
        std::fs::write(&entry, encode(&key(&other).unwrap(), &other_bpf)).unwrap();
        assert_eq!(compiled(root.path(), &p).unwrap(), first);
        // Nor is a corrupt one.
        std::fs::write(&entry, b"isobpf01garbage").unwrap();
        assert_eq!(compiled(root.path(), &p).unwrap(), first);
    }

    proptest! {
        #[test]
        fn decode_never_panics(entry in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&entry, b"key");
        }
    }
}
