//! Security regression tests: one module per class of container escape known from the
//! advisories of other runtimes (see ../shared/NOTES.md). Each builds a hostile bundle or
//! rootfs, runs the real `iso-runtime` binary as root, and asserts the host is untouched.
//! The bundle, state root and cleanup come from `iso_testutil::bundle::Fixture`.

mod caps;
mod dev_symlinks;
mod exe;
mod fds;
mod masked_paths;
mod mount_symlinks;
mod proc_sys_symlinks;
mod race;
mod sysctl;

use std::fs;
use std::path::Path;

/// The runtime binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_iso-runtime");

/// Every line of the host's mountinfo that mentions `path`.
pub fn mounts_mentioning(path: &Path) -> Vec<String> {
    let p = path.to_str().unwrap();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(p))
        .map(str::to_owned)
        .collect()
}
