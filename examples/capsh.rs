//! `capsh`: become an unprivileged user that keeps exactly one capability.
//!
//! Like `capsh --keep=1 --user=nobody --caps=cap_net_raw+epi -- -c 'ping 127.0.0.1'`, in two
//! forked children:
//!
//! 1. switches to `nobody` keeping only `CAP_NET_RAW`, prints its capabilities, opens a raw
//!    ICMP socket (`SOCK_RAW`, `IPPROTO_ICMP`: not the unprivileged ICMP datagram socket),
//!    sends one echo request to 127.0.0.1 and waits for the reply;
//! 2. switches to `nobody` keeping nothing and shows that `socket(SOCK_RAW)` fails with
//!    `EPERM`.
//!
//! Exits 0 only when both behaved so. Run as root: `cargo run --example capsh`.

use std::io::Write;
use std::process::ExitCode;

use iso::caps::{Capabilities, Capability, UserSwitch};

const ECHO_REQUEST: u8 = 8;
const ECHO_REPLY: u8 = 0;
const PAYLOAD: &[u8] = b"iso capsh example";

fn main() -> ExitCode {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("capsh: run me as root (I switch to nobody myself)");
        return ExitCode::FAILURE;
    }
    let (uid, gid) = nobody();
    println!("capsh: unprivileged user: uid {uid}, gid {gid}");

    println!("\n== child 1: nobody keeping only CAP_NET_RAW ==");
    let with_cap = run_child(|| with_net_raw(uid, gid));
    println!("\n== child 2: nobody without capabilities ==");
    let without_cap = run_child(|| without_net_raw(uid, gid));

    println!();
    match (with_cap, without_cap) {
        (true, true) => {
            println!("capsh: OK: CAP_NET_RAW alone allows a raw socket, and nothing else does");
            ExitCode::SUCCESS
        }
        (a, b) => {
            println!("capsh: FAILED (child with CAP_NET_RAW ok: {a}, child without ok: {b})");
            ExitCode::FAILURE
        }
    }
}

/// The uid and gid of `nobody` in `/etc/passwd`, or 65534 when there is no such line.
fn nobody() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&"nobody"))
        .and_then(|f| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))
        .unwrap_or((65534, 65534))
}

/// Forks; the child runs `body` and exits 0 when it returns `Ok`. Returns whether it did.
/// This program has a single thread, so the child may allocate freely.
fn run_child(body: impl FnOnce() -> Result<(), String>) -> bool {
    // SAFETY: the process is single-threaded; the child runs `body` and `_exit`s.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        eprintln!("fork: {}", std::io::Error::last_os_error());
        return false;
    }
    if pid == 0 {
        let code = match body() {
            Ok(()) => 0,
            Err(msg) => {
                println!("  FAILED: {msg}");
                1
            }
        };
        let _ = std::io::stdout().flush();
        // SAFETY: ends the child without running the parent's exit handlers twice.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: pid is our child and status a valid out-pointer.
    if unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
        eprintln!("waitpid: {}", std::io::Error::last_os_error());
        return false;
    }
    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
}

fn show_identity() -> Result<(), String> {
    let caps = Capabilities::current().map_err(|e| e.to_string())?;
    // SAFETY: getuid/getgid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    println!("  now uid {uid}, gid {gid}; capabilities:");
    for line in caps.to_string().lines() {
        println!("    {line}");
    }
    Ok(())
}

fn with_net_raw(uid: u32, gid: u32) -> Result<(), String> {
    UserSwitch::new(uid, gid)
        .keep(Capability::NetRaw)
        .apply()
        .map_err(|e| e.to_string())?;
    show_identity()?;
    let caps = Capabilities::current().map_err(|e| e.to_string())?;
    if caps.effective.iter().collect::<Vec<_>>() != [Capability::NetRaw] {
        return Err(format!(
            "expected only CAP_NET_RAW effective, got {}",
            caps.effective
        ));
    }
    let socket =
        raw_icmp_socket().map_err(|e| format!("socket(AF_INET, SOCK_RAW, IPPROTO_ICMP): {e}"))?;
    println!("  socket(AF_INET, SOCK_RAW, IPPROTO_ICMP): ok");
    ping_loopback(&socket)
}

fn without_net_raw(uid: u32, gid: u32) -> Result<(), String> {
    UserSwitch::new(uid, gid)
        .apply()
        .map_err(|e| e.to_string())?;
    show_identity()?;
    match raw_icmp_socket() {
        Ok(_) => Err("socket(SOCK_RAW) succeeded without CAP_NET_RAW".into()),
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            println!("  socket(AF_INET, SOCK_RAW, IPPROTO_ICMP): {e} (EPERM, as expected)");
            Ok(())
        }
        Err(e) => Err(format!("socket(SOCK_RAW) failed, but not with EPERM: {e}")),
    }
}

fn raw_icmp_socket() -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket call.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::IPPROTO_ICMP,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// The Internet checksum (RFC 1071) of `data`.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn ping_loopback(socket: &std::os::fd::OwnedFd) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    let fd = socket.as_raw_fd();
    let ident = (std::process::id() & 0xffff) as u16;
    let seq: u16 = 1;

    let mut packet = vec![ECHO_REQUEST, 0, 0, 0];
    packet.extend_from_slice(&ident.to_be_bytes());
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend_from_slice(PAYLOAD);
    let sum = checksum(&packet);
    packet[2..4].copy_from_slice(&sum.to_be_bytes());

    // Do not wait forever for a reply that does not come.
    let timeout = libc::timeval {
        tv_sec: 3,
        tv_usec: 0,
    };
    // SAFETY: timeout is a valid timeval of the size passed.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(format!(
            "setsockopt(SO_RCVTIMEO): {}",
            std::io::Error::last_os_error()
        ));
    }

    let dest = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(std::net::Ipv4Addr::LOCALHOST).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: packet and dest are valid for the lengths passed.
    let sent = unsafe {
        libc::sendto(
            fd,
            packet.as_ptr().cast(),
            packet.len(),
            0,
            (&dest as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(format!(
            "sendto 127.0.0.1: {}",
            std::io::Error::last_os_error()
        ));
    }
    println!("  sent ICMP echo request to 127.0.0.1 (id {ident}, seq {seq}, {sent} bytes)");

    // A raw ICMP socket sees every ICMP packet, our own request included: look for the reply.
    let mut buf = [0u8; 1500];
    for _ in 0..16 {
        // SAFETY: buf is writable for its full length.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(format!("recv: {}", std::io::Error::last_os_error()));
        }
        let datagram = &buf[..n as usize];
        // Raw IPv4 sockets deliver the IP header too.
        let Some(&first) = datagram.first() else {
            continue;
        };
        let ip_header = usize::from(first & 0x0f) * 4;
        let Some(icmp) = datagram.get(ip_header..) else {
            continue;
        };
        if icmp.len() < 8 + PAYLOAD.len() || icmp[0] != ECHO_REPLY {
            continue;
        }
        let reply_id = u16::from_be_bytes([icmp[4], icmp[5]]);
        let reply_seq = u16::from_be_bytes([icmp[6], icmp[7]]);
        if reply_id == ident && reply_seq == seq && &icmp[8..8 + PAYLOAD.len()] == PAYLOAD {
            if checksum(icmp) != 0 {
                return Err("echo reply with a bad checksum".into());
            }
            println!(
                "  received ICMP echo reply from 127.0.0.1 (id {reply_id}, seq {reply_seq}, ttl {})",
                datagram.get(8).copied().unwrap_or(0)
            );
            return Ok(());
        }
    }
    Err("no matching echo reply among 16 ICMP packets".into())
}
