//! uid/gid map parsing (`/proc/PID/uid_map` format) with `UidMap`/`GidMap::from_str`;
//! whatever parses must round-trip through `to_proc_string`.
#![no_main]

use libfuzzer_sys::fuzz_target;

use iso_ns::{GidMap, UidMap};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(map) = text.parse::<UidMap>() {
        let again: UidMap = map.to_proc_string().parse().expect("round trip");
        assert_eq!(again.entries(), map.entries());
        for e in map.entries() {
            let _ = map.to_outside(e.inside);
        }
    }
    if let Ok(map) = text.parse::<GidMap>() {
        let again: GidMap = map.to_proc_string().parse().expect("round trip");
        assert_eq!(again.entries(), map.entries());
    }
});
