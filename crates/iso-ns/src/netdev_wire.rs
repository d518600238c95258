//! The rtnetlink messages [`crate::netdev`] sends and the replies it reads: building is
//! plain byte pushing, parsing checks every length against the buffer before reading.
//!
//! Layout (all host-endian, everything aligned to 4 bytes): a datagram is a sequence of
//! messages, each a 16-byte `nlmsghdr` (length, type, flags, sequence, port) and a payload;
//! link payloads start with a 16-byte `ifinfomsg`, address payloads with an 8-byte
//! `ifaddrmsg`, and both continue with attributes (`rtattr`: 2-byte length, 2-byte type,
//! data).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::netdev::{IfAddr, IfName};
use crate::Error;

const NLMSG_HDRLEN: usize = 16;
const IFINFOMSG_LEN: usize = 16;
const IFADDRMSG_LEN: usize = 8;
const RTA_HDRLEN: usize = 4;

pub(crate) const RTM_NEWLINK: u16 = 16;
pub(crate) const RTM_GETLINK: u16 = 18;
pub(crate) const RTM_NEWADDR: u16 = 20;
pub(crate) const RTM_GETADDR: u16 = 22;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;

const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_FD: u16 = 28;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const IFA_FLAGS: u16 = 8;

/// The address flags a caller may set on `RTM_NEWADDR` (the others, `tentative`,
/// `dadfailed`, `deprecated`, ..., are the kernel's state, not configuration).
pub(crate) const SETTABLE_ADDR_FLAGS: u32 = libc::IFA_F_NODAD
    | libc::IFA_F_HOMEADDRESS
    | libc::IFA_F_MANAGETEMPADDR
    | libc::IFA_F_NOPREFIXROUTE
    | libc::IFA_F_MCAUTOJOIN;

fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// One request under construction.
pub(crate) struct Request {
    buf: Vec<u8>,
}

impl Request {
    /// A message of `kind` with `flags` (`NLM_F_REQUEST` is added) and sequence `seq`.
    pub(crate) fn new(kind: u16, flags: u16, seq: u32) -> Self {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, set by finish
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&(flags | libc::NLM_F_REQUEST as u16).to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // port: the kernel
        Request { buf }
    }

    /// Appends an `ifinfomsg` for link `index` setting `flags` under `change`.
    pub(crate) fn ifinfo(mut self, index: u32, flags: u32, change: u32) -> Self {
        self.buf.extend_from_slice(&[libc::AF_UNSPEC as u8, 0]);
        self.buf.extend_from_slice(&0u16.to_ne_bytes()); // device type
        self.buf.extend_from_slice(&index.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&change.to_ne_bytes());
        self
    }

    /// Appends an `ifaddrmsg` for `addr` on link `index`.
    pub(crate) fn ifaddr(mut self, index: u32, addr: &IfAddr) -> Self {
        self.buf.extend_from_slice(&[
            family_of(&addr.address),
            addr.prefix_len,
            (addr.flags & 0xff) as u8,
            addr.scope,
        ]);
        self.buf.extend_from_slice(&index.to_ne_bytes());
        self
    }

    /// Appends an `ifaddrmsg` that asks for every family (a dump).
    pub(crate) fn ifaddr_all(mut self) -> Self {
        self.buf.extend_from_slice(&[0; IFADDRMSG_LEN]);
        self
    }

    fn attr(mut self, kind: u16, data: &[u8]) -> Self {
        let len = RTA_HDRLEN + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.buf.resize(align(self.buf.len()), 0);
        self
    }

    /// `IFLA_IFNAME`: the NUL-terminated name.
    pub(crate) fn ifname(self, name: &IfName) -> Self {
        let mut data = name.as_str().as_bytes().to_vec();
        data.push(0);
        self.attr(IFLA_IFNAME, &data)
    }

    /// `IFLA_NET_NS_FD`: the namespace to move the link to.
    pub(crate) fn net_ns_fd(self, fd: i32) -> Self {
        self.attr(IFLA_NET_NS_FD, &(fd as u32).to_ne_bytes())
    }

    /// The attributes of `addr` for `RTM_NEWADDR`.
    pub(crate) fn addr_attrs(self, addr: &IfAddr) -> Self {
        // The kernel reads IFA_LOCAL as the interface's address for both families, and an
        // IFA_ADDRESS that differs from it as the peer of a point-to-point link.
        let peer = addr.peer.unwrap_or(addr.address);
        let this = self
            .attr(IFA_LOCAL, &ip_bytes(&addr.address))
            .attr(IFA_ADDRESS, &ip_bytes(&peer));
        let this = match addr.broadcast {
            Some(b) => this.attr(IFA_BROADCAST, &b.octets()),
            None => this,
        };
        this.attr(IFA_FLAGS, &(addr.flags & SETTABLE_ADDR_FLAGS).to_ne_bytes())
    }

    /// The finished message, its length written in.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }
}

fn family_of(ip: &IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => libc::AF_INET as u8,
        IpAddr::V6(_) => libc::AF_INET6 as u8,
    }
}

fn ip_bytes(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// One message of a reply, as far as [`crate::netdev`] needs it.
///
/// ```
/// use iso_ns::netdev::{parse_reply, Reply};
/// // An NLMSG_DONE message of sequence 7: 16-byte header, 4-byte payload.
/// let mut done = Vec::new();
/// done.extend_from_slice(&20u32.to_ne_bytes());
/// done.extend_from_slice(&3u16.to_ne_bytes());
/// done.extend_from_slice(&0u16.to_ne_bytes());
/// done.extend_from_slice(&7u32.to_ne_bytes());
/// done.extend_from_slice(&0u32.to_ne_bytes());
/// done.extend_from_slice(&0i32.to_ne_bytes());
/// assert_eq!(parse_reply(&done)?, vec![(7, Reply::Done)]);
/// # Ok::<(), iso_ns::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// `NLMSG_ERROR` with error 0: the request succeeded.
    Ack,
    /// `NLMSG_ERROR` with an errno: the request failed.
    Failed(i32),
    /// `NLMSG_DONE`: the end of a dump.
    Done,
    /// `RTM_NEWLINK`: a link's index, and its name when the message carries one.
    Link {
        /// The interface index.
        index: u32,
        /// `IFLA_IFNAME`, when present and a valid name.
        name: Option<IfName>,
    },
    /// `RTM_NEWADDR`: an address of link `index`.
    Addr {
        /// The interface index.
        index: u32,
        /// The address.
        addr: IfAddr,
    },
    /// Any other message type.
    Other(u16),
}

fn malformed(reason: impl Into<String>) -> Error {
    Error::Parse {
        what: "rtnetlink reply",
        input: String::new(),
        reason: reason.into(),
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Parses one datagram from an rtnetlink socket into `(sequence, message)` pairs.
///
/// Fails on a message whose length runs past the datagram or is shorter than its header,
/// and on a link or address message too short for its fixed part; unknown attributes are
/// skipped.
///
/// ```
/// // Too short for a header.
/// assert!(iso_ns::netdev::parse_reply(&[1, 2, 3]).is_err());
/// assert!(iso_ns::netdev::parse_reply(&[]).unwrap().is_empty());
/// ```
pub fn parse_reply(datagram: &[u8]) -> Result<Vec<(u32, Reply)>, Error> {
    let mut out = Vec::new();
    let mut rest = datagram;
    while !rest.is_empty() {
        let len = u32_at(rest, 0).ok_or_else(|| malformed("truncated message header"))? as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            return Err(malformed(format!(
                "message length {len} outside 16..={}",
                rest.len()
            )));
        }
        let kind = u16_at(rest, 4).ok_or_else(|| malformed("truncated header"))?;
        let seq = u32_at(rest, 8).ok_or_else(|| malformed("truncated header"))?;
        let payload = &rest[NLMSG_HDRLEN..len];
        out.push((seq, parse_message(kind, payload)?));
        rest = &rest[align(len).min(rest.len())..];
    }
    Ok(out)
}

fn parse_message(kind: u16, payload: &[u8]) -> Result<Reply, Error> {
    Ok(match kind {
        NLMSG_ERROR => {
            let code = u32_at(payload, 0).ok_or_else(|| malformed("short NLMSG_ERROR"))? as i32;
            if code == 0 {
                Reply::Ack
            } else {
                Reply::Failed(code.checked_neg().unwrap_or(libc::EINVAL))
            }
        }
        NLMSG_DONE => Reply::Done,
        RTM_NEWLINK => {
            let index = u32_at(payload, 4).ok_or_else(|| malformed("short ifinfomsg"))?;
            let attrs = payload.get(IFINFOMSG_LEN..).unwrap_or_default();
            let name = attributes(attrs)?
                .into_iter()
                .find(|(k, _)| *k == IFLA_IFNAME)
                .and_then(|(_, data)| {
                    let text = data.split(|b| *b == 0).next()?;
                    IfName::new(std::str::from_utf8(text).ok()?).ok()
                });
            Reply::Link { index, name }
        }
        RTM_NEWADDR => parse_addr(payload)?,
        other => Reply::Other(other),
    })
}

fn parse_addr(payload: &[u8]) -> Result<Reply, Error> {
    let head = payload
        .get(..IFADDRMSG_LEN)
        .ok_or_else(|| malformed("short ifaddrmsg"))?;
    let (family, prefix_len, flags8, scope) = (head[0], head[1], head[2], head[3]);
    let index = u32_at(head, 4).ok_or_else(|| malformed("short ifaddrmsg"))?;
    let ip = |data: &[u8]| -> Result<IpAddr, Error> {
        match (i32::from(family), data.len()) {
            (libc::AF_INET, 4) => Ok(IpAddr::V4(Ipv4Addr::from(
                <[u8; 4]>::try_from(data).unwrap_or_default(),
            ))),
            (libc::AF_INET6, 16) => Ok(IpAddr::V6(Ipv6Addr::from(
                <[u8; 16]>::try_from(data).unwrap_or_default(),
            ))),
            (f, n) => Err(malformed(format!("address of {n} bytes for family {f}"))),
        }
    };
    let (mut local, mut address, mut broadcast, mut flags) = (None, None, None, u32::from(flags8));
    for (kind, data) in attributes(&payload[IFADDRMSG_LEN..])? {
        match kind {
            IFA_LOCAL => local = Some(ip(data)?),
            IFA_ADDRESS => address = Some(ip(data)?),
            IFA_BROADCAST => match ip(data)? {
                IpAddr::V4(b) => broadcast = Some(b),
                IpAddr::V6(_) => return Err(malformed("IPv6 broadcast address")),
            },
            IFA_FLAGS => flags = u32_at(data, 0).ok_or_else(|| malformed("short IFA_FLAGS"))?,
            _ => {}
        }
    }
    let max_prefix = if i32::from(family) == libc::AF_INET {
        32
    } else {
        128
    };
    if prefix_len > max_prefix {
        return Err(malformed(format!("prefix length {prefix_len}")));
    }
    // IFA_LOCAL is the interface's own address when both are present; IFA_ADDRESS is then
    // the peer (point-to-point), or the same address.
    let (address, peer) = match (local, address) {
        (Some(l), Some(a)) if l != a => (l, Some(a)),
        (Some(l), _) => (l, None),
        (None, Some(a)) => (a, None),
        (None, None) => return Err(malformed("address message without an address")),
    };
    Ok(Reply::Addr {
        index,
        addr: IfAddr {
            address,
            peer,
            prefix_len,
            scope,
            broadcast,
            flags,
        },
    })
}

/// The `rtattr`s of `b` as `(type, data)`; the nested bit and byte-order bit are masked off.
fn attributes(mut b: &[u8]) -> Result<Vec<(u16, &[u8])>, Error> {
    let mut out = Vec::new();
    while b.len() >= RTA_HDRLEN {
        let len = usize::from(u16_at(b, 0).unwrap_or_default());
        let kind = u16_at(b, 2).unwrap_or_default() & 0x3fff;
        if len < RTA_HDRLEN || len > b.len() {
            return Err(malformed(format!(
                "attribute length {len} outside 4..={}",
                b.len()
            )));
        }
        out.push((kind, &b[RTA_HDRLEN..len]));
        b = &b[align(len).min(b.len())..];
    }
    Ok(out)
}

/// The errno of a failed request as an [`io::Error`].
pub(crate) fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A reply message the kernel would send for `addr` on `index`: the request bytes with
    /// the type the dump uses.
    fn as_reply(index: u32, addr: &IfAddr) -> Vec<u8> {
        Request::new(RTM_NEWADDR, 0, 9)
            .ifaddr(index, addr)
            .addr_attrs(addr)
            .finish()
    }

    fn any_addr() -> impl Strategy<Value = IfAddr> {
        let v4 = (
            any::<[u8; 4]>(),
            0u8..=32,
            proptest::option::of(any::<[u8; 4]>()),
            proptest::option::of(any::<[u8; 4]>()),
        )
            .prop_map(|(a, p, peer, brd)| IfAddr {
                address: IpAddr::V4(a.into()),
                peer: peer
                    .map(|x| IpAddr::V4(x.into()))
                    .filter(|x| *x != IpAddr::V4(a.into())),
                prefix_len: p,
                scope: 0,
                broadcast: brd.map(Ipv4Addr::from),
                flags: 0,
            });
        let v6 = (any::<[u8; 16]>(), 0u8..=128, any::<u8>(), any::<u32>()).prop_map(
            |(a, p, scope, f)| IfAddr {
                address: IpAddr::V6(a.into()),
                peer: None,
                prefix_len: p,
                scope,
                broadcast: None,
                flags: f & SETTABLE_ADDR_FLAGS,
            },
        );
        prop_oneof![v4, v6]
    }

    proptest! {
        #[test]
        fn address_messages_round_trip(index in any::<u32>(), addr in any_addr()) {
            let parsed = parse_reply(&as_reply(index, &addr)).unwrap();
            prop_assert_eq!(parsed, vec![(9, Reply::Addr { index, addr })]);
        }

        #[test]
        fn any_bytes_parse_or_fail_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_reply(&bytes);
        }

        #[test]
        fn truncated_messages_are_refused(index in any::<u32>(), addr in any_addr(), cut in 1usize..16) {
            let msg = as_reply(index, &addr);
            let cut = msg.len().saturating_sub(cut);
            prop_assert!(parse_reply(&msg[..cut]).is_err());
        }
    }

    #[test]
    fn link_reply_gives_index_and_name() {
        let name = IfName::new("eth9").unwrap();
        let msg = Request::new(RTM_NEWLINK, 0, 3)
            .ifinfo(42, 0, 0)
            .ifname(&name)
            .finish();
        assert_eq!(
            parse_reply(&msg).unwrap(),
            vec![(
                3,
                Reply::Link {
                    index: 42,
                    name: Some(name)
                }
            )]
        );
    }

    #[test]
    fn error_reply_gives_errno() {
        let mut msg = Request::new(NLMSG_ERROR, 0, 5).finish();
        msg.extend_from_slice(&(-libc::ENODEV).to_ne_bytes());
        msg[..4].copy_from_slice(&20u32.to_ne_bytes());
        assert_eq!(
            parse_reply(&msg).unwrap(),
            vec![(5, Reply::Failed(libc::ENODEV))]
        );
    }

    #[test]
    fn attribute_running_past_the_message_is_refused() {
        let mut msg = Request::new(RTM_NEWLINK, 0, 1).ifinfo(1, 0, 0).finish();
        msg.extend_from_slice(&200u16.to_ne_bytes());
        msg.extend_from_slice(&IFLA_IFNAME.to_ne_bytes());
        let len = msg.len() as u32;
        msg[..4].copy_from_slice(&len.to_ne_bytes());
        assert!(parse_reply(&msg).is_err());
    }
}
