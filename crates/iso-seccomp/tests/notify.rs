//! User notification: a supervisor answers a child's calls from the outside.

mod common;

use std::ffi::CString;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};

use common::{fork_and_wait, Ended};
use iso_seccomp::notify::{recv_fd, send_fd, Listener, Response};
use iso_seccomp::{Action, Profile, SyscallRule};

#[test]
fn supervisor_answers_value_errno_and_continue() {
    let dir = iso_testutil::TempDir::new("seccomp-notify");
    let fake = CString::new(
        dir.path()
            .join("fake")
            .into_os_string()
            .into_encoded_bytes(),
    )
    .unwrap();
    let denied = CString::new(
        dir.path()
            .join("denied")
            .into_os_string()
            .into_encoded_bytes(),
    )
    .unwrap();
    let real = CString::new(
        dir.path()
            .join("real")
            .into_os_string()
            .into_encoded_bytes(),
    )
    .unwrap();
    let bpf = Profile::new(Action::Allow)
        .rule(SyscallRule::new(Action::Notify, ["mkdir", "mkdirat"]))
        .compile()
        .unwrap()
        .to_bpf()
        .unwrap();
    assert!(bpf.new_listener());
    let mut sv = [0; 2];
    // SAFETY: sv is a valid out-array.
    assert_eq!(
        unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                0,
                sv.as_mut_ptr(),
            )
        },
        0
    );
    // SAFETY: fresh descriptors owned here.
    let (ours, theirs) = unsafe { (OwnedFd::from_raw_fd(sv[0]), OwnedFd::from_raw_fd(sv[1])) };

    let supervisor = std::thread::spawn(move || {
        let mut buf = [0u8; 8];
        let (fd, n) = recv_fd(ours.as_fd(), &mut buf).expect("recv listener");
        assert_eq!(&buf[..n], b"state");
        let listener = Listener::from_fd(fd);
        let mut seen = Vec::new();
        for _ in 0..3 {
            let req = listener.recv().expect("recv");
            let name = req.syscall_name().unwrap_or_default();
            assert!(name == "mkdir" || name == "mkdirat", "{name}");
            let path_arg = if name == "mkdirat" {
                req.args[1]
            } else {
                req.args[0]
            };
            let path = listener
                .read_c_string(&req, path_arg, 4096)
                .expect("read path");
            let path = String::from_utf8(path).unwrap();
            let resp = if path.ends_with("/fake") {
                Response::Value(0)
            } else if path.ends_with("/denied") {
                Response::Errno(libc::EXDEV)
            } else {
                Response::Continue
            };
            listener.respond(req.id, resp).expect("respond");
            seen.push(path);
        }
        seen
    });

    let ended = fork_and_wait(|| {
        let Ok(Some(listener)) = bpf.load() else {
            return 10;
        };
        if send_fd(theirs.as_fd(), listener.as_fd(), b"state").is_err() {
            return 11;
        }
        // Only the supervisor holds the listener now (close is async-signal-safe).
        drop(listener);
        // SAFETY: paths were prepared before the fork.
        unsafe {
            if libc::mkdir(fake.as_ptr(), 0o755) != 0 {
                return 12;
            }
            if libc::mkdir(denied.as_ptr(), 0o755) == 0 || *libc::__errno_location() != libc::EXDEV
            {
                return 13;
            }
            if libc::mkdir(real.as_ptr(), 0o755) != 0 {
                return 14;
            }
        }
        0
    });
    assert_eq!(ended, Ended::Exited(0));
    let seen = supervisor.join().unwrap();
    assert_eq!(seen.len(), 3);
    assert!(
        !dir.path().join("fake").exists(),
        "the faked mkdir must not run"
    );
    assert!(!dir.path().join("denied").exists());
    assert!(
        dir.path().join("real").is_dir(),
        "continue must run the real mkdir"
    );
}

#[test]
fn id_becomes_invalid_when_the_target_dies() {
    let bpf = Profile::new(Action::Allow)
        .rule(SyscallRule::new(Action::Notify, ["getppid"]))
        .compile()
        .unwrap()
        .to_bpf()
        .unwrap();
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    // SAFETY: the child only loads, sends the fd, and calls getppid.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let code = match bpf.load() {
            Ok(Some(l)) if send_fd(b.as_fd(), l.as_fd(), b"x").is_ok() => {
                // SAFETY: plain syscall; blocks until answered or killed.
                unsafe { libc::syscall(libc::SYS_getppid) };
                0
            }
            _ => 1,
        };
        // SAFETY: child exit.
        unsafe { libc::_exit(code) };
    }
    let mut buf = [0u8; 1];
    let (fd, _) = recv_fd(a.as_fd(), &mut buf).unwrap();
    let listener = Listener::from_fd(fd);
    let req = listener.recv().unwrap();
    assert_eq!(req.pid.as_raw(), pid);
    assert!(listener.id_valid(req.id).unwrap());
    // SAFETY: pid is our child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let mut status = 0;
    // SAFETY: reaping our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(!listener.id_valid(req.id).unwrap());
    let mut mem = [0u8; 8];
    let err = listener
        .read_memory(&req, req.instruction_pointer, &mut mem)
        .unwrap_err();
    assert!(
        matches!(err, iso_seccomp::Error::NotificationGone { .. }),
        "{err}"
    );
    assert_eq!(
        listener
            .respond(req.id, Response::Value(0))
            .unwrap_err()
            .errno(),
        Some(libc::ENOENT)
    );
}

#[test]
fn filter_load_returns_a_listener_for_notify_profiles() {
    iso_testutil::in_child(|| {
        let fd = Profile::new(Action::Allow)
            .rule(SyscallRule::new(Action::Notify, ["mknodat"]))
            .compile()
            .map_err(|e| e.to_string())?
            .load()
            .map_err(|e| e.to_string())?;
        common::ensure(fd.is_some(), || "no listener fd".into())
    });
}

#[test]
fn send_fd_to_path_delivers_fd_and_payload() {
    let dir = iso_testutil::TempDir::new("seccomp-listener-path");
    let path = dir.path().join("agent.sock");
    let server = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let file = std::fs::File::open("/dev/null").unwrap();
    let t = std::thread::spawn(move || {
        let (conn, _) = server.accept().unwrap();
        let mut buf = [0u8; 32];
        let (fd, n) = recv_fd(conn.as_fd(), &mut buf).unwrap();
        (
            std::fs::read_link(format!(
                "/proc/self/fd/{}",
                std::os::fd::AsRawFd::as_raw_fd(&fd)
            ))
            .unwrap(),
            buf[..n].to_vec(),
        )
    });
    iso_seccomp::notify::send_fd_to_path(&path, file.as_fd(), br#"{"ociVersion":"1.2.0"}"#)
        .unwrap();
    let (target, payload) = t.join().unwrap();
    assert_eq!(target, std::path::Path::new("/dev/null"));
    assert_eq!(payload, br#"{"ociVersion":"1.2.0"}"#);
}
