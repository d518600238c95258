//! CRIU's answers: `iso_runtime::criu::Response::decode` on arbitrary bytes read from the
//! `criu swrk` socket. No panic, no hang, no allocation sized by the input: the message has
//! at most one character per input byte (invalid UTF-8 becomes U+FFFD, three bytes each).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(resp) = iso_runtime::criu::Response::decode(data) {
        let text = resp.errmsg.as_deref().map_or(0, |m| m.chars().count());
        assert!(text <= data.len());
    }
});
