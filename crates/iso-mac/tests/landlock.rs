//! Landlock on the real kernel: each test restricts a forked child, never the harness.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::os::unix::process::CommandExt;
use std::process::Command;

use iso_mac::landlock::{Compat, EnforcementStatus, FsAccess, NetAccess, Ruleset};
use iso_mac::{landlock_status, Error};
use iso_testutil::{in_child, TempDir};

fn abi() -> u32 {
    landlock_status().abi()
}

fn errno_of(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

#[test]
fn denied_read_is_eacces_and_allowed_path_works() {
    if abi() == 0 {
        eprintln!("skipped: no Landlock");
        return;
    }
    let tmp = TempDir::new("mac-ll");
    let allowed = tmp.path().join("allowed");
    let denied = tmp.path().join("denied");
    std::fs::create_dir_all(&allowed).unwrap();
    std::fs::create_dir_all(&denied).unwrap();
    std::fs::write(allowed.join("f"), b"ok").unwrap();
    std::fs::write(denied.join("f"), b"secret").unwrap();
    in_child(|| {
        let report = Ruleset::new()
            .handle_fs(FsAccess::supported_by(abi()))
            .allow_path(&allowed, FsAccess::read() | FsAccess::WRITE_FILE)
            .compat(Compat::Required)
            .restrict_self()
            .map_err(|e| e.to_string())?;
        if report.status != EnforcementStatus::Full || !report.dropped_fs.is_empty() {
            return Err(format!("expected full enforcement: {report}"));
        }
        if !report.no_new_privs {
            return Err("no_new_privs not set".into());
        }
        let ok = std::fs::read(allowed.join("f")).map_err(|e| format!("allowed read: {e}"))?;
        if ok != b"ok" {
            return Err("wrong content".into());
        }
        std::fs::OpenOptions::new()
            .write(true)
            .open(allowed.join("f"))
            .map_err(|e| format!("allowed write: {e}"))?;
        match std::fs::read(denied.join("f")) {
            Err(e) if errno_of(&e) == libc::EACCES => {}
            other => return Err(format!("denied read should be EACCES: {other:?}")),
        }
        match std::fs::read("/etc/hostname") {
            Err(e) if errno_of(&e) == libc::EACCES => {}
            other => return Err(format!("/etc read should be EACCES: {other:?}")),
        }
        // Creating a file needs MAKE_REG, which is handled and not allowed.
        match std::fs::write(allowed.join("new"), b"x") {
            Err(e) if errno_of(&e) == libc::EACCES => {}
            other => return Err(format!("create should be EACCES: {other:?}")),
        }
        Ok(())
    });
    // The harness itself is not restricted.
    assert_eq!(std::fs::read(denied.join("f")).unwrap(), b"secret");
}

#[test]
fn tcp_bind_is_denied_except_on_allowed_port() {
    if abi() < 4 {
        eprintln!("skipped: Landlock ABI {} has no network rights", abi());
        return;
    }
    // Find a free port for the allowed bind; the denied one is any other port.
    let probe = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).unwrap();
    let allowed_port = probe.local_addr().unwrap().port();
    drop(probe);
    in_child(|| {
        let report = Ruleset::new()
            .handle_net(NetAccess::BIND_TCP)
            .allow_port(allowed_port, NetAccess::BIND_TCP)
            .compat(Compat::Required)
            .restrict_self()
            .map_err(|e| e.to_string())?;
        if !report.is_full() {
            return Err(format!("{report}"));
        }
        let denied_port = if allowed_port == 65535 {
            65534
        } else {
            allowed_port + 1
        };
        match TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, denied_port)) {
            Err(e) if errno_of(&e) == libc::EACCES => {}
            other => return Err(format!("bind {denied_port} should be EACCES: {other:?}")),
        }
        match TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, allowed_port)) {
            Ok(_) => Ok(()),
            // Someone else took the port in between: that is not a Landlock denial.
            Err(e) if e.kind() == ErrorKind::AddrInUse => Ok(()),
            Err(e) => Err(format!("bind {allowed_port} should work: {e}")),
        }
    });
}

#[test]
fn required_mode_refuses_rights_beyond_the_abi_and_applies_nothing() {
    let abi = abi();
    if abi == 0 || abi >= 9 {
        eprintln!("skipped: needs a kernel with Landlock ABI 1..=8 (have {abi})");
        return;
    }
    in_child(|| {
        let ruleset = Ruleset::new()
            .handle_fs(FsAccess::READ_FILE | FsAccess::RESOLVE_UNIX)
            .allow_path("/usr", FsAccess::READ_FILE);
        match ruleset.clone().compat(Compat::Required).restrict_self() {
            Err(Error::LandlockUnsupported { abi: a, what }) => {
                if a != abi || !what.contains("RESOLVE_UNIX") {
                    return Err(format!("wrong report: abi {a}, {what}"));
                }
            }
            other => return Err(format!("expected LandlockUnsupported, got {other:?}")),
        }
        // Nothing was applied: /etc is still readable.
        std::fs::read("/etc/hostname").map_err(|e| format!("still readable: {e}"))?;
        // Best effort enforces the rest and reports what it dropped.
        let report = ruleset
            .compat(Compat::BestEffort)
            .restrict_self()
            .map_err(|e| e.to_string())?;
        if report.status != EnforcementStatus::Partial
            || report.dropped_fs != FsAccess::RESOLVE_UNIX
            || report.enforced_fs != FsAccess::READ_FILE
        {
            return Err(format!("expected partial enforcement: {report:?}"));
        }
        match std::fs::read("/etc/hostname") {
            Err(e) if errno_of(&e) == libc::EACCES => Ok(()),
            other => Err(format!("read outside /usr should be EACCES: {other:?}")),
        }
    });
}

#[test]
fn invalid_rulesets_are_refused_before_anything_happens() {
    let err = Ruleset::new().prepare().unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    let err = Ruleset::new()
        .handle_fs(FsAccess::READ_FILE)
        .allow_path("/usr", FsAccess::WRITE_FILE)
        .prepare()
        .unwrap_err();
    assert!(err.to_string().contains("does not handle"), "{err}");
    let err = Ruleset::new()
        .handle_net(NetAccess::BIND_TCP)
        .allow_port(80, NetAccess::CONNECT_TCP)
        .prepare()
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    if abi() > 0 {
        // Directory-only rights on a regular file.
        let err = Ruleset::new()
            .handle_fs(FsAccess::READ_DIR)
            .allow_path("/etc/hostname", FsAccess::READ_DIR)
            .prepare()
            .unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
        let err = Ruleset::new()
            .handle_fs(FsAccess::READ_FILE)
            .allow_path("/nonexistent-iso-mac", FsAccess::READ_FILE)
            .prepare()
            .unwrap_err();
        assert!(matches!(err, Error::Landlock { .. }), "{err}");
        assert_eq!(err.errno(), Some(libc::ENOENT), "{err:?}");
    }
}

#[test]
fn prepared_before_fork_restricts_an_exec_child() {
    if abi() == 0 {
        eprintln!("skipped: no Landlock");
        return;
    }
    let prepared = Ruleset::new()
        .handle_fs(FsAccess::supported_by(abi()))
        .allow_path("/", FsAccess::read())
        .allow_path("/dev/null", FsAccess::WRITE_FILE)
        .prepare()
        .unwrap();
    assert!(prepared.report().is_full(), "{}", prepared.report());
    let tmp = TempDir::new("mac-ll-exec");
    let target = tmp.path().join("out");
    let mut slot = Some(prepared);
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(format!("echo hi > {}", target.display()));
    // SAFETY: the closure only makes the two restrict system calls (no allocation on success).
    unsafe {
        cmd.pre_exec(move || match slot.take() {
            Some(p) => p
                .restrict_self()
                .map(|_| ())
                .map_err(|_| std::io::Error::from_raw_os_error(libc::EPERM)),
            None => Ok(()),
        });
    }
    let status = cmd.status().unwrap();
    assert!(!status.success(), "the write should have been denied");
    assert!(!target.exists());
    // Reading is allowed.
    let mut slot2 = Some(
        Ruleset::new()
            .handle_fs(FsAccess::supported_by(abi()))
            .allow_path("/", FsAccess::read())
            .prepare()
            .unwrap(),
    );
    let mut cat = Command::new("/bin/cat");
    cat.arg("/etc/hostname");
    // SAFETY: as above.
    unsafe {
        cat.pre_exec(move || match slot2.take() {
            Some(p) => p
                .restrict_self()
                .map(|_| ())
                .map_err(|_| std::io::Error::from_raw_os_error(libc::EPERM)),
            None => Ok(()),
        });
    }
    assert!(cat.output().unwrap().status.success());
}

#[test]
fn signal_and_abstract_socket_scopes_cut_off_the_outside() {
    if abi() < 6 {
        eprintln!("skipped: Landlock ABI {} has no scopes", abi());
        return;
    }
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
    let name = format!("iso-test-mac-scope-{}", std::process::id());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let _listener = UnixListener::bind_addr(&addr).unwrap();
    in_child(|| {
        // Before: both work.
        UnixStream::connect_addr(&addr).map_err(|e| format!("connect before: {e}"))?;
        // SAFETY: getppid cannot fail.
        let parent = unsafe { libc::getppid() };
        // SAFETY: signal 0 only checks permission.
        if unsafe { libc::kill(parent, 0) } != 0 {
            return Err(format!("kill before: {}", std::io::Error::last_os_error()));
        }
        let report = Ruleset::new()
            .scope(iso_mac::landlock::Scoped::all())
            .compat(Compat::Required)
            .restrict_self()
            .map_err(|e| e.to_string())?;
        if !report.is_full() {
            return Err(format!("{report}"));
        }
        match UnixStream::connect_addr(&addr) {
            Err(e) if errno_of(&e) == libc::EPERM => {}
            other => return Err(format!("connect after should be EPERM: {other:?}")),
        }
        // SAFETY: as above.
        let r = unsafe { libc::kill(parent, 0) };
        let e = std::io::Error::last_os_error();
        if r == 0 || errno_of(&e) != libc::EPERM {
            return Err(format!("kill after should be EPERM: {r} {e}"));
        }
        // Inside the sandbox, signalling itself still works.
        // SAFETY: as above.
        if unsafe { libc::kill(libc::getpid(), 0) } != 0 {
            return Err("signal to self denied".into());
        }
        Ok(())
    });
}
