//! `seccomp_notify`: a supervisor answers a child's `mkdir` from the outside.
//!
//! The child loads a filter whose `mkdir`/`mkdirat` rule is SCMP_ACT_NOTIFY, and passes the
//! listener fd to the parent over a unix socket (SCM_RIGHTS), as a container runtime
//! passes it to a seccomp agent. Each `mkdir` of the child then blocks until the parent,
//! the supervisor, has read the path from the child's memory and answered:
//!
//! - a path inside the sandbox directory: the supervisor creates the directory itself
//!   (emulation, mode 0750) and answers "return 0";
//! - anything else: the supervisor answers EACCES, and nothing is created.
//!
//! Exits 0 only when both happened as shown. Run as root: `cargo run --example seccomp_notify`.

use std::ffi::CString;
use std::os::fd::AsFd;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use iso::seccomp::notify::{recv_fd, send_fd, Listener, Response};
use iso::seccomp::{Action, Profile, SyscallRule};

fn main() -> ExitCode {
    let base =
        std::env::temp_dir().join(format!("iso-example-seccomp-notify-{}", std::process::id()));
    let sandbox = base.join("sandbox");
    let allowed = sandbox.join("made-by-supervisor");
    let refused = base.join("outside");
    if let Err(e) = std::fs::create_dir_all(&sandbox) {
        eprintln!("seccomp_notify: {}: {e}", sandbox.display());
        return ExitCode::FAILURE;
    }
    let ok = run(&sandbox, &allowed, &refused);
    let _ = std::fs::remove_dir_all(&base);
    if ok {
        println!("seccomp_notify: OK");
        ExitCode::SUCCESS
    } else {
        println!("seccomp_notify: FAILED");
        ExitCode::FAILURE
    }
}

fn run(sandbox: &Path, allowed: &Path, refused: &Path) -> bool {
    let bpf = match Profile::new(Action::Allow)
        .rule(SyscallRule::new(Action::Notify, ["mkdir", "mkdirat"]))
        .compile()
        .and_then(|f| f.to_bpf())
    {
        Ok(b) => b,
        Err(e) => {
            eprintln!("seccomp_notify: compiling: {e}");
            return false;
        }
    };
    let (parent_end, child_end) = match UnixStream::pair() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("seccomp_notify: socketpair: {e}");
            return false;
        }
    };
    let (Ok(c_allowed), Ok(c_refused)) = (cstr(allowed), cstr(refused)) else {
        return false;
    };
    println!("seccomp_notify: child: mkdir/mkdirat -> notify the supervisor");

    // SAFETY: the child only makes system calls on data prepared before the fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return false;
    }
    if pid == 0 {
        drop(parent_end);
        let code = child(&bpf, &child_end, &c_allowed, &c_refused);
        // SAFETY: ends the child.
        unsafe { libc::_exit(code) };
    }
    drop(child_end);
    let served = supervise(&parent_end, sandbox);
    let mut status = 0;
    // SAFETY: pid is our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let child_ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    if !child_ok {
        println!("seccomp_notify: child failed (status {status:#x})");
    }
    let created = allowed.is_dir();
    let not_created = !refused.exists();
    println!(
        "seccomp_notify: {} exists: {created}; {} exists: {}",
        allowed.display(),
        refused.display(),
        !not_created
    );
    served && child_ok && created && not_created
}

/// The child: load the filter, hand the listener over, make two mkdir calls.
/// Exit code 0 when the answers were what the supervisor decided.
fn child(
    bpf: &iso::seccomp::BpfProgram,
    sock: &UnixStream,
    allowed: &CString,
    refused: &CString,
) -> i32 {
    let listener = match bpf.load() {
        Ok(Some(l)) => l,
        _ => return 10,
    };
    if send_fd(sock.as_fd(), listener.as_fd(), b"child").is_err() {
        return 11;
    }
    drop(listener);
    // SAFETY: valid C strings; the calls block until the supervisor answers.
    unsafe {
        if libc::mkdir(allowed.as_ptr(), 0o777) != 0 {
            return 12;
        }
        if libc::mkdir(refused.as_ptr(), 0o777) == 0 || *libc::__errno_location() != libc::EACCES {
            return 13;
        }
    }
    0
}

/// The supervisor: receive the listener, answer two notifications.
fn supervise(sock: &UnixStream, sandbox: &Path) -> bool {
    let mut buf = [0u8; 16];
    let listener = match recv_fd(sock.as_fd(), &mut buf) {
        Ok((fd, _)) => Listener::from_fd(fd),
        Err(e) => {
            eprintln!("seccomp_notify: receiving the listener: {e}");
            return false;
        }
    };
    println!("seccomp_notify: supervisor: got the listener fd from the child");
    for _ in 0..2 {
        let req = match listener.recv() {
            Ok(r) => r,
            Err(e) => {
                eprintln!("seccomp_notify: recv: {e}");
                return false;
            }
        };
        let name = req
            .syscall_name()
            .unwrap_or_else(|| req.syscall.to_string());
        let path_arg = if name == "mkdirat" {
            req.args[1]
        } else {
            req.args[0]
        };
        let path = match listener.read_c_string(&req, path_arg, libc::PATH_MAX as usize) {
            Ok(p) => PathBuf::from(String::from_utf8_lossy(&p).into_owned()),
            Err(e) => {
                eprintln!("seccomp_notify: reading the path: {e}");
                let _ = listener.respond(req.id, Response::Errno(libc::EFAULT));
                continue;
            }
        };
        // Decide on our copy of the path and act on it ourselves: answering "continue"
        // would let the child's kernel call re-read memory the child may have changed.
        let inside = path.parent() == Some(sandbox) && path.file_name().is_some();
        let response = if inside {
            match std::fs::DirBuilder::new().mode(0o750).create(&path) {
                Ok(()) => Response::Value(0),
                Err(e) => Response::Errno(e.raw_os_error().unwrap_or(libc::EIO)),
            }
        } else {
            Response::Errno(libc::EACCES)
        };
        println!(
            "seccomp_notify: supervisor: pid {} {name}({}) -> {}",
            req.pid,
            path.display(),
            match response {
                Response::Value(v) => format!("created by the supervisor, return {v}"),
                Response::Errno(e) => format!("refused: {}", std::io::Error::from_raw_os_error(e)),
                Response::Continue => "continue".into(),
            }
        );
        if let Err(e) = listener.respond(req.id, response) {
            eprintln!("seccomp_notify: respond: {e}");
            return false;
        }
    }
    true
}

fn cstr(p: &Path) -> Result<CString, std::ffi::NulError> {
    CString::new(p.as_os_str().as_encoded_bytes())
}
