//! Seccomp: an OCI `linux.seccomp` JSON document parsed with `Profile::from_oci_json`, then
//! compiled with libseccomp and exported as BPF (never loaded). No panic, no hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(profile) = iso_seccomp::Profile::from_oci_json(text) else {
        return;
    };
    if let Ok(filter) = profile.compile() {
        let _ = filter.to_bpf();
    }
    // What was parsed can be written back and parsed again.
    if let Ok(json) = profile.to_oci_json() {
        assert!(iso_seccomp::Profile::from_oci_json(&json).is_ok(), "{json}");
    }
});
