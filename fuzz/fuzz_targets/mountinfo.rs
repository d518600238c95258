//! cgroup discovery: `iso_cgroups::parse_mountinfo` on arbitrary `/proc/self/mountinfo`
//! text. No panic, no hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(mounts) = iso_cgroups::parse_mountinfo(text) {
        assert!(mounts.len() <= text.lines().count());
    }
});
