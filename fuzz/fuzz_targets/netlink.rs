//! rtnetlink reply parsing (`iso_ns::netdev::parse_reply`): bytes as one datagram from a
//! `NETLINK_ROUTE` socket. No panic; every address parsed has a prefix its family allows.
#![no_main]

use libfuzzer_sys::fuzz_target;

use iso_ns::netdev::{parse_reply, Reply};

fuzz_target!(|data: &[u8]| {
    let Ok(replies) = parse_reply(data) else {
        return;
    };
    for (_, reply) in replies {
        if let Reply::Addr { addr, .. } = reply {
            let max = if addr.address.is_ipv4() { 32 } else { 128 };
            assert!(addr.prefix_len <= max, "{addr}");
            let _ = addr.to_string();
        }
    }
});
