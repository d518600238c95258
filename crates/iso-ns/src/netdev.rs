//! Network devices between network namespaces: find a link by name, read its addresses,
//! move it to another namespace under a new name, and put its permanent addresses back.
//!
//! A network device belongs to exactly one network namespace. Moving it (`RTM_NEWLINK`
//! with `IFLA_NET_NS_FD`) brings it down and the kernel drops its addresses on the way;
//! [`move_device`] reads the permanent ones first (`IFA_F_PERMANENT`: configured, not
//! learned from the network or expiring), moves and renames the device in one request (the
//! kernel renames it on arrival, so a name taken in the source does not matter), then adds
//! them again in the target namespace through a socket opened there.
//!
//! The messages are written by hand ([`parse_reply`] reads the replies): the handful this
//! needs does not justify a netlink crate and its build time.
//!
//! ```no_run
//! use iso_ns::netdev::{move_device, IfName, LinkState};
//! use iso_ns::{Namespace, NsFd};
//!
//! # fn main() -> Result<(), iso_ns::Error> {
//! let target = NsFd::open_kind("/run/netns/blue", Namespace::Net)?;
//! let moved = move_device(
//!     None,
//!     &IfName::new("dummy0")?,
//!     &target,
//!     &IfName::new("eth9")?,
//!     LinkState::Up,
//! )?;
//! for addr in &moved {
//!     println!("eth9 keeps {addr}");
//! }
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use crate::netdev_wire::{errno, Request, RTM_GETADDR, RTM_GETLINK, RTM_NEWADDR, RTM_NEWLINK};
pub use crate::netdev_wire::{parse_reply, Reply};
use crate::{Error, Namespace, NsFd, Result};

/// The kernel's limit on interface names, including the terminating NUL (`IFNAMSIZ`).
pub const IFNAMSIZ: usize = 16;

/// A network interface name the kernel accepts (`dev_valid_name`): 1 to 15 bytes, not `.`
/// or `..`, without `/`, `:`, whitespace or NUL.
///
/// ```
/// use iso_ns::netdev::IfName;
/// assert_eq!(IfName::new("eth0")?.as_str(), "eth0");
/// assert!(IfName::new("").is_err());
/// assert!(IfName::new("a-name-of-16-byt").is_err());
/// assert!(IfName::new("eth0:1").is_err());
/// # Ok::<(), iso_ns::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IfName(String);

impl IfName {
    /// Validates `name`.
    ///
    /// ```
    /// let err = iso_ns::netdev::IfName::new("..").unwrap_err();
    /// assert!(err.to_string().contains("interface name"));
    /// ```
    pub fn new(name: &str) -> Result<IfName> {
        let refuse = |reason: &str| Error::InvalidValue {
            field: "interface name",
            reason: format!("{name:?}: {reason}"),
        };
        if name.is_empty() {
            return Err(refuse("is empty"));
        }
        if name.len() >= IFNAMSIZ {
            return Err(refuse("is longer than 15 bytes"));
        }
        if name == "." || name == ".." {
            return Err(refuse("is . or .."));
        }
        if let Some(c) = name
            .chars()
            .find(|c| matches!(c, '/' | ':' | '\0') || c.is_ascii_whitespace() || *c == '\x0b')
        {
            return Err(refuse(&format!("contains {c:?}")));
        }
        Ok(IfName(name.to_owned()))
    }

    /// The name.
    ///
    /// ```
    /// assert_eq!(iso_ns::netdev::IfName::new("lo")?.as_str(), "lo");
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for IfName {
    type Err = Error;

    fn from_str(s: &str) -> Result<IfName> {
        IfName::new(s)
    }
}

/// An address of an interface, as `RTM_GETADDR` reports it and `RTM_NEWADDR` takes it.
///
/// ```
/// use iso_ns::netdev::IfAddr;
/// let addr = IfAddr::new("10.9.0.1".parse().unwrap(), 24);
/// assert_eq!(addr.to_string(), "10.9.0.1/24");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IfAddr {
    /// The interface's own address (`IFA_LOCAL`, or `IFA_ADDRESS` without it).
    pub address: IpAddr,
    /// The other end of a point-to-point link (`IFA_ADDRESS` when it differs).
    pub peer: Option<IpAddr>,
    /// The prefix length.
    pub prefix_len: u8,
    /// `RT_SCOPE_*`: 0 universe, 253 link, 254 host.
    pub scope: u8,
    /// The IPv4 broadcast address, when one is set.
    pub broadcast: Option<Ipv4Addr>,
    /// `IFA_F_*` flags.
    pub flags: u32,
}

impl IfAddr {
    /// A global-scope address without peer, broadcast or flags.
    ///
    /// ```
    /// let a = iso_ns::netdev::IfAddr::new("fd00::1".parse().unwrap(), 64);
    /// assert_eq!(a.scope, 0);
    /// ```
    pub fn new(address: IpAddr, prefix_len: u8) -> IfAddr {
        IfAddr {
            address,
            peer: None,
            prefix_len,
            scope: 0,
            broadcast: None,
            flags: 0,
        }
    }

    /// Whether the address is configured rather than learned or expiring
    /// (`IFA_F_PERMANENT`): the ones a move preserves.
    ///
    /// ```
    /// let mut a = iso_ns::netdev::IfAddr::new("10.0.0.1".parse().unwrap(), 8);
    /// assert!(!a.is_permanent());
    /// a.flags |= libc::IFA_F_PERMANENT;
    /// assert!(a.is_permanent());
    /// ```
    pub fn is_permanent(&self) -> bool {
        self.flags & libc::IFA_F_PERMANENT != 0
    }
}

impl fmt::Display for IfAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)
    }
}

/// The administrative state a device is left in after a move.
///
/// ```
/// use iso_ns::netdev::LinkState;
/// assert_ne!(LinkState::Up, LinkState::Down);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Set `IFF_UP` after the move.
    Up,
    /// Leave it down (the state a move leaves it in).
    Down,
}

/// An `AF_NETLINK`/`NETLINK_ROUTE` socket: talks to the network namespace it was opened in,
/// whatever namespace the caller later moves to.
///
/// ```no_run
/// use iso_ns::netdev::{IfName, RouteSocket};
/// let mut sock = RouteSocket::open()?;
/// let lo = sock.link_index(&IfName::new("lo")?)?;
/// for addr in sock.addresses(lo)? {
///     println!("lo has {addr}");
/// }
/// # Ok::<(), iso_ns::Error>(())
/// ```
#[derive(Debug)]
pub struct RouteSocket {
    fd: OwnedFd,
    seq: u32,
    /// Where it was opened, for messages.
    netns: String,
}

impl RouteSocket {
    /// Opens a socket in the caller's network namespace.
    ///
    /// ```no_run
    /// let sock = iso_ns::netdev::RouteSocket::open()?;
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn open() -> Result<RouteSocket> {
        Self::open_here("the runtime's network namespace".into())
    }

    /// Opens a socket in network namespace `netns`. A helper thread enters it, opens the
    /// socket and ends, so the caller's own namespaces never change (a thread may enter a
    /// network namespace alone: `setns(2)` refuses only user and mount namespaces to a
    /// multi-threaded process).
    ///
    /// ```no_run
    /// use iso_ns::{netdev::RouteSocket, Namespace, NsFd};
    /// let ns = NsFd::open_kind("/run/netns/blue", Namespace::Net)?;
    /// let sock = RouteSocket::open_in(&ns)?;
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn open_in(netns: &NsFd) -> Result<RouteSocket> {
        let netns = netns.expect_net()?;
        let name = format!("network namespace {}", netns.origin().display());
        std::thread::scope(|s| {
            s.spawn(|| {
                netns.enter()?;
                Self::open_here(name)
            })
            .join()
            .unwrap_or_else(|_| {
                Err(Error::syscall(
                    "setns",
                    Namespace::Net,
                    io::Error::other("the helper thread panicked"),
                ))
            })
        })
    }

    fn open_here(netns: String) -> Result<RouteSocket> {
        // SAFETY: socket has no memory arguments.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if raw < 0 {
            return Err(Error::syscall(
                "socket(NETLINK_ROUTE)",
                Namespace::Net,
                io::Error::last_os_error(),
            ));
        }
        // SAFETY: a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(RouteSocket { fd, seq: 0, netns })
    }

    /// The index of link `name`; `ENODEV` when there is none.
    ///
    /// ```no_run
    /// # let mut sock = iso_ns::netdev::RouteSocket::open()?;
    /// let err = sock.link_index(&"nonexistent0".parse()?).unwrap_err();
    /// assert_eq!(err.errno(), Some(libc::ENODEV));
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn link_index(&mut self, name: &IfName) -> Result<u32> {
        let seq = self.next_seq();
        let msg = Request::new(RTM_GETLINK, libc::NLM_F_ACK as u16, seq)
            .ifinfo(0, 0, 0)
            .ifname(name)
            .finish();
        let mut index = None;
        self.exchange("RTM_GETLINK", name.as_str(), &msg, seq, |reply| {
            if let Reply::Link { index: i, .. } = reply {
                index = Some(i);
            }
        })?;
        index.ok_or_else(|| self.failed("RTM_GETLINK", name.as_str(), errno(libc::ENODEV)))
    }

    /// Every address of link `index` (all families).
    ///
    /// ```no_run
    /// # let mut sock = iso_ns::netdev::RouteSocket::open()?;
    /// let lo = sock.link_index(&"lo".parse()?)?;
    /// assert!(sock.addresses(lo)?.iter().any(|a| a.address.is_loopback()));
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn addresses(&mut self, index: u32) -> Result<Vec<IfAddr>> {
        let seq = self.next_seq();
        let msg = Request::new(RTM_GETADDR, libc::NLM_F_DUMP as u16, seq)
            .ifaddr_all()
            .finish();
        let mut found = Vec::new();
        self.exchange(
            "RTM_GETADDR",
            &format!("index {index}"),
            &msg,
            seq,
            |reply| {
                if let Reply::Addr { index: i, addr } = reply {
                    if i == index {
                        found.push(addr);
                    }
                }
            },
        )?;
        Ok(found)
    }

    /// Sets link `index` up or down.
    ///
    /// ```no_run
    /// # let mut sock = iso_ns::netdev::RouteSocket::open()?;
    /// let lo = sock.link_index(&"lo".parse()?)?;
    /// sock.set_state(lo, iso_ns::netdev::LinkState::Up)?;
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn set_state(&mut self, index: u32, state: LinkState) -> Result<()> {
        let seq = self.next_seq();
        let up = libc::IFF_UP as u32;
        let flags = if state == LinkState::Up { up } else { 0 };
        let msg = Request::new(RTM_NEWLINK, libc::NLM_F_ACK as u16, seq)
            .ifinfo(index, flags, up)
            .finish();
        self.exchange(
            "RTM_NEWLINK(IFF_UP)",
            &format!("index {index}"),
            &msg,
            seq,
            |_| {},
        )
    }

    /// Moves link `index` to network namespace `target`, named `name` there.
    ///
    /// ```no_run
    /// use iso_ns::{netdev::RouteSocket, Namespace, NsFd};
    /// # let mut sock = RouteSocket::open()?;
    /// let blue = NsFd::open_kind("/run/netns/blue", Namespace::Net)?;
    /// let index = sock.link_index(&"dummy0".parse()?)?;
    /// sock.move_link(index, &blue, &"eth9".parse()?)?;
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn move_link(&mut self, index: u32, target: &NsFd, name: &IfName) -> Result<()> {
        let target = target.expect_net()?;
        let seq = self.next_seq();
        let msg = Request::new(RTM_NEWLINK, libc::NLM_F_ACK as u16, seq)
            .ifinfo(index, 0, 0)
            .net_ns_fd(target.as_fd().as_raw_fd())
            .ifname(name)
            .finish();
        let what = format!("index {index} to {} as {name}", target.origin().display());
        self.exchange("RTM_NEWLINK(IFLA_NET_NS_FD)", &what, &msg, seq, |_| {})
    }

    /// Adds `addr` to link `index`.
    ///
    /// ```no_run
    /// use iso_ns::netdev::{IfAddr, RouteSocket};
    /// # let mut sock = RouteSocket::open()?;
    /// let index = sock.link_index(&"dummy0".parse()?)?;
    /// sock.add_address(index, &IfAddr::new("10.9.0.1".parse().unwrap(), 24))?;
    /// # Ok::<(), iso_ns::Error>(())
    /// ```
    pub fn add_address(&mut self, index: u32, addr: &IfAddr) -> Result<()> {
        let seq = self.next_seq();
        let flags = libc::NLM_F_ACK | libc::NLM_F_CREATE | libc::NLM_F_EXCL;
        let msg = Request::new(RTM_NEWADDR, flags as u16, seq)
            .ifaddr(index, addr)
            .addr_attrs(addr)
            .finish();
        self.exchange(
            "RTM_NEWADDR",
            &format!("{addr} on index {index}"),
            &msg,
            seq,
            |_| {},
        )
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn failed(&self, op: &'static str, what: &str, source: io::Error) -> Error {
        Error::Netlink {
            op,
            target: format!("{what} in {}", self.netns),
            source,
        }
    }

    /// Sends `msg` and reads replies of sequence `seq` until the ack, the end of the dump,
    /// or an error; every other message goes to `each`.
    fn exchange(
        &mut self,
        op: &'static str,
        what: &str,
        msg: &[u8],
        seq: u32,
        mut each: impl FnMut(Reply),
    ) -> Result<()> {
        // SAFETY: msg is a valid buffer of msg.len() bytes; a NULL address sends to the
        // kernel on an unbound netlink socket.
        let sent = unsafe { libc::send(self.fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        if sent < 0 {
            return Err(self.failed(op, what, io::Error::last_os_error()));
        }
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            // SAFETY: buf is a valid, writable buffer of buf.len() bytes.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(self.failed(op, what, e));
            }
            for (reply_seq, reply) in parse_reply(&buf[..n as usize])? {
                if reply_seq != seq {
                    continue;
                }
                match reply {
                    Reply::Ack | Reply::Done => return Ok(()),
                    Reply::Failed(code) => return Err(self.failed(op, what, errno(code))),
                    other => each(other),
                }
            }
        }
    }
}

impl NsFd {
    fn expect_net(&self) -> Result<&NsFd> {
        if self.kind() != Namespace::Net {
            return Err(Error::WrongNamespaceKind {
                path: self.origin().to_path_buf(),
                expected: Namespace::Net,
                found: self.kind(),
            });
        }
        Ok(self)
    }
}

/// Moves device `name` from network namespace `from` (the caller's when `None`) to `to`,
/// renamed `new_name`, preserving its permanent addresses, and leaves it in `state`.
/// Returns the addresses it was given back.
///
/// Before the move the device is set down (so that it stops sending before it leaves).
/// When a step after the move fails, the device is moved back under its old name with its
/// addresses, best effort, and the first error is returned: a failed call leaves the device
/// where it was. An address the target already has (an IPv6 link-local address the kernel
/// generated when the device came up) is not an error.
///
/// ```no_run
/// use iso_ns::netdev::{move_device, IfName, LinkState};
/// use iso_ns::{Namespace, NsFd};
/// let here = NsFd::open_kind("/proc/self/ns/net", Namespace::Net)?;
/// let there = NsFd::open_kind("/proc/4242/ns/net", Namespace::Net)?;
/// let (eth9, dummy0) = (IfName::new("eth9")?, IfName::new("dummy0")?);
/// move_device(None, &dummy0, &there, &eth9, LinkState::Up)?;
/// // ... and back, under the first name.
/// move_device(Some(&there), &eth9, &here, &dummy0, LinkState::Down)?;
/// # Ok::<(), iso_ns::Error>(())
/// ```
pub fn move_device(
    from: Option<&NsFd>,
    name: &IfName,
    to: &NsFd,
    new_name: &IfName,
    state: LinkState,
) -> Result<Vec<IfAddr>> {
    let mut source = match from {
        Some(ns) => RouteSocket::open_in(ns)?,
        None => RouteSocket::open()?,
    };
    let index = source.link_index(name)?;
    let addresses: Vec<IfAddr> = source
        .addresses(index)?
        .into_iter()
        .filter(IfAddr::is_permanent)
        .collect();
    // The target's socket first: once the device moved, failing to reach it would leave
    // the device without its addresses.
    let mut target = RouteSocket::open_in(to)?;
    // The kernel moves first and renames in the target after: a taken name would fail the
    // request with the device already moved. Checked here, and undone below if it races.
    match target.link_index(new_name) {
        Err(e) if e.errno() == Some(libc::ENODEV) => {}
        Err(e) => return Err(e),
        Ok(_) => {
            let taken = errno(libc::EEXIST);
            return Err(target.failed("RTM_GETLINK", new_name.as_str(), taken));
        }
    }
    source.set_state(index, LinkState::Down)?;
    let moved = source.move_link(index, to, new_name);
    // Where the device is when a step failed: in the target, under the old name if the
    // move itself failed half-way (moved, not renamed).
    let arrived_as = if moved.is_ok() { new_name } else { name };
    let result = moved.and_then(|()| configure(&mut target, new_name, &addresses, state));
    if let Err(e) = result {
        if target.link_index(arrived_as).is_ok() {
            let back = match from {
                Some(ns) => NsFd::from_fd(dup(ns)?, ns.origin()),
                None => NsFd::of_process(crate::ProcPid::SelfPid, Namespace::Net),
            };
            if let Ok(back) = back {
                let _ = move_back_best_effort(
                    &mut target,
                    arrived_as,
                    &back,
                    name,
                    &mut source,
                    &addresses,
                );
            }
        }
        return Err(e);
    }
    Ok(addresses)
}

fn dup(ns: &NsFd) -> Result<OwnedFd> {
    ns.as_fd()
        .try_clone_to_owned()
        .map_err(|e| Error::io("dup", ns.origin(), e))
}

/// In the target: finds the device by its new name, adds the addresses, sets the state.
fn configure(
    target: &mut RouteSocket,
    name: &IfName,
    addresses: &[IfAddr],
    state: LinkState,
) -> Result<()> {
    let index = target.link_index(name)?;
    for addr in addresses {
        match target.add_address(index, addr) {
            Err(e) if e.errno() == Some(libc::EEXIST) => {}
            other => other?,
        }
    }
    if state == LinkState::Up {
        target.set_state(index, LinkState::Up)?;
    }
    Ok(())
}

fn move_back_best_effort(
    target: &mut RouteSocket,
    new_name: &IfName,
    back: &NsFd,
    name: &IfName,
    source: &mut RouteSocket,
    addresses: &[IfAddr],
) -> Result<()> {
    let index = target.link_index(new_name)?;
    target.move_link(index, back, name)?;
    configure(source, name, addresses, LinkState::Down)
}
