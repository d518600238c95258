//! Root tests of `iso_ns::netdev` against the running kernel. Every test runs in a forked
//! child that first unshares a network namespace of its own, creates its veth pairs
//! there, and moves them to a second fresh namespace: the host's interfaces are never
//! involved.

use std::os::fd::{AsFd, AsRawFd};
use std::process::Command;

use iso_ns::netdev::{move_device, IfName, LinkState, RouteSocket};
use iso_ns::{unshare, Namespace, NamespaceSet, NsFd};
use iso_sys::ProcPid;

fn sh(cmd: &str) -> Result<String, String> {
    let out = Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{cmd}: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn net_here() -> Result<NsFd, String> {
    NsFd::of_process(ProcPid::SelfPid, Namespace::Net).map_err(|e| e.to_string())
}

/// Unshares a "host" namespace with a veth `d0` (its peer stays) holding two permanent addresses, then a
/// second, empty one (the "container"); returns to the host one and returns both.
fn two_namespaces() -> Result<(NsFd, NsFd), String> {
    unshare(NamespaceSet::from([Namespace::Net])).map_err(|e| e.to_string())?;
    let host = net_here()?;
    sh(
        "ip link add d0 type veth peer name d0peer && ip addr add 10.77.0.1/24 dev d0 \
        && ip addr add fd77::1/64 dev d0 nodad && ip link set d0 up",
    )?;
    unshare(NamespaceSet::from([Namespace::Net])).map_err(|e| e.to_string())?;
    let container = net_here()?;
    host.enter().map_err(|e| e.to_string())?;
    Ok((host, container))
}

/// `ip -o addr show dev NAME` in the namespace of `ns` (through its descriptor's path).
fn ip_in(ns: &NsFd, args: &str) -> Result<String, String> {
    let path = format!("/proc/{}/fd/{}", std::process::id(), ns.as_fd().as_raw_fd());
    sh(&format!("nsenter --net={path} ip {args}"))
}

fn name(s: &str) -> IfName {
    IfName::new(s).unwrap()
}

#[test]
fn move_renames_keeps_addresses_and_moves_back() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    iso_testutil::in_child(|| {
        let (host, container) = two_namespaces()?;
        let kept = move_device(None, &name("d0"), &container, &name("eth9"), LinkState::Up)
            .map_err(|e| e.to_string())?;
        assert_eq!(kept.len(), 2, "{kept:?}");
        let inside = ip_in(&container, "-o addr show dev eth9")?;
        assert!(inside.contains("10.77.0.1/24"), "{inside}");
        assert!(inside.contains("fd77::1/64"), "{inside}");
        let link = ip_in(&container, "-o link show dev eth9")?;
        assert!(link.contains(",UP"), "not up: {link}");
        assert!(
            sh("ip link show d0").is_err(),
            "d0 is still in the host namespace"
        );

        move_device(
            Some(&container),
            &name("eth9"),
            &host,
            &name("d0"),
            LinkState::Down,
        )
        .map_err(|e| e.to_string())?;
        let back = sh("ip -o addr show dev d0")?;
        assert!(
            back.contains("10.77.0.1/24") && back.contains("fd77::1/64"),
            "{back}"
        );
        assert!(ip_in(&container, "link show eth9").is_err());
        Ok(())
    });
}

#[test]
fn missing_device_fails_with_enodev_and_moves_nothing() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    iso_testutil::in_child(|| {
        let (_host, container) = two_namespaces()?;
        let err = move_device(
            None,
            &name("nope0"),
            &container,
            &name("eth9"),
            LinkState::Up,
        )
        .unwrap_err();
        assert_eq!(err.errno(), Some(libc::ENODEV), "{err}");
        assert!(err.to_string().contains("nope0"), "{err}");
        assert!(sh("ip link show d0").is_ok());
        Ok(())
    });
}

#[test]
fn taken_name_in_target_fails_and_leaves_device_in_place() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    iso_testutil::in_child(|| {
        let (_host, container) = two_namespaces()?;
        ip_in(&container, "link add eth9 type bridge")?;
        let err =
            move_device(None, &name("d0"), &container, &name("eth9"), LinkState::Up).unwrap_err();
        assert_eq!(err.errno(), Some(libc::EEXIST), "{err}");
        let here = sh("ip -o addr show dev d0")?;
        assert!(here.contains("10.77.0.1/24"), "d0 lost its address: {here}");
        Ok(())
    });
}

#[test]
fn socket_in_another_namespace_sees_only_its_links() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    iso_testutil::in_child(|| {
        let (_host, container) = two_namespaces()?;
        let mut inside = RouteSocket::open_in(&container).map_err(|e| e.to_string())?;
        assert!(inside.link_index(&name("d0")).is_err());
        let lo = inside.link_index(&name("lo")).map_err(|e| e.to_string())?;
        assert!(lo > 0);
        // The caller's namespace is unchanged: d0 is still visible here.
        let mut here = RouteSocket::open().map_err(|e| e.to_string())?;
        let d0 = here.link_index(&name("d0")).map_err(|e| e.to_string())?;
        assert!(here.addresses(d0).map_err(|e| e.to_string())?.len() >= 2);
        Ok(())
    });
}

#[test]
fn wrong_namespace_kind_is_refused() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    let uts = NsFd::of_process(ProcPid::SelfPid, Namespace::Uts).unwrap();
    let err = RouteSocket::open_in(&uts).unwrap_err();
    assert!(
        matches!(err, iso_ns::Error::WrongNamespaceKind { .. }),
        "{err}"
    );
}
