//! `fpm_jail`: a pre-forking server whose workers lock themselves into their pool, the way
//! PHP-FPM's `chroot` and `user` settings do per pool, with [`iso::jail`].
//!
//! The master runs as root. For each pool (`pool-a`, `pool-b`) it creates a directory (the
//! pool's root, holding a `greeting` file and the host's `/etc` bound read-only, as a pool
//! that needs its resolver and time zone files would), a TCP listener on 127.0.0.1 and a
//! report pipe, prepares a jail, and forks one worker. The worker enters the jail in this
//! order: its own mount, network, IPC and UTS namespaces (the hostname is the pool's name),
//! `pivot_root` into the pool directory, the pool's unprivileged uid/gid (no supplementary
//! groups, no capabilities), `no_new_privs`, every fd closed except its listener and report
//! pipe, and the default seccomp profile last.
//!
//! The worker then tries to break out, and reports each result on its pipe: read
//! `/etc/shadow` (it is there, but the worker is no longer root and holds no
//! `CAP_DAC_OVERRIDE`: `EACCES`), open a raw socket, mount a tmpfs, and regain root with
//! `setuid(0)`. A file that is simply missing (`ENOENT`) would prove nothing, so it counts
//! as a failure of the example.
//! Finally it answers one request: it echoes the line it receives, prefixed with its pool's
//! greeting (read from `/greeting` inside its root).
//!
//! The master prints every report, sends each pool a request, and exits 0 only when every
//! attempt was denied and every echo came back. Workers have a 20 s alarm, the master's
//! sockets time out, and the pool directories are removed at the end.
//! Run as root: `cargo run --example fpm_jail`.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use iso::jail::{Jail, PreparedJail, Resource};
use iso::ns::{Namespace, NamespaceSet};

struct Pool {
    name: &'static str,
    uid: u32,
    gid: u32,
}

const POOLS: [Pool; 2] = [
    Pool {
        name: "pool-a",
        uid: 61001,
        gid: 61001,
    },
    Pool {
        name: "pool-b",
        uid: 61002,
        gid: 61002,
    },
];

/// What a worker tries; each must be denied.
const ATTEMPTS: [&str; 4] = [
    "read /etc/shadow",
    "open a raw socket",
    "mount a tmpfs",
    "regain root",
];

struct Running {
    pool: &'static Pool,
    pid: libc::pid_t,
    port: u16,
    reports: File,
}

fn main() -> ExitCode {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("fpm_jail: run me as root (the master forks jailed workers)");
        return ExitCode::FAILURE;
    }
    let base = PathBuf::from(format!("/tmp/iso-example-fpm-{}", std::process::id()));
    let ok = match run(&base) {
        Ok(ok) => ok,
        Err(e) => {
            eprintln!("fpm_jail: {e}");
            false
        }
    };
    let _ = std::fs::remove_dir_all(&base);
    if ok {
        println!(
            "\nfpm_jail: OK: every worker stayed in its pool, denied all four escapes, and served"
        );
        ExitCode::SUCCESS
    } else {
        println!("\nfpm_jail: FAILED");
        ExitCode::FAILURE
    }
}

fn run(base: &Path) -> Result<bool, String> {
    std::fs::create_dir(base).map_err(|e| format!("mkdir {}: {e}", base.display()))?;
    let mut running = Vec::new();
    for pool in &POOLS {
        running.push(start_worker(base, pool)?);
    }

    let mut ok = true;
    for w in running {
        println!(
            "\n== {} (worker pid {}, uid {}, port {}) ==",
            w.pool.name, w.pid, w.pool.uid, w.port
        );
        ok &= talk(&w);
        ok &= read_reports(w.reports);
        let mut status = 0;
        // SAFETY: w.pid is our child; status is a valid out-pointer.
        unsafe { libc::waitpid(w.pid, &mut status, 0) };
        let clean = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        println!("   worker exit: {}", if clean { "clean" } else { "FAILED" });
        ok &= clean;
    }
    Ok(ok)
}

/// Creates the pool's root, listener and pipe, prepares the jail, and forks the worker.
fn start_worker(base: &Path, pool: &'static Pool) -> Result<Running, String> {
    let root = base.join(pool.name);
    std::fs::create_dir(&root).map_err(|e| format!("mkdir {}: {e}", root.display()))?;
    std::fs::write(root.join("greeting"), format!("hello from {}", pool.name))
        .map_err(|e| format!("write greeting: {e}"))?;
    std::fs::create_dir(root.join("etc")).map_err(|e| format!("mkdir etc: {e}"))?;

    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let (report_read, report_write) = pipe()?;

    // Everything that allocates happens here, in the master, before the fork.
    let prepared = Jail::new()
        .namespaces(NamespaceSet::from([Namespace::Net, Namespace::Ipc]))
        .hostname(pool.name)
        .pivot_root(&root)
        .bind_ro("/etc", "/etc")
        .user(pool.uid, pool.gid)
        .rlimit(Resource::Nofile, 16, 16)
        .rlimit(Resource::Core, 0, 0)
        .keep_fd(listener.as_raw_fd())
        .keep_fd(report_write.as_raw_fd())
        .prepare()
        .map_err(|e| format!("{}: preparing the jail: {e}", pool.name))?;

    // SAFETY: the master is single-threaded; the worker runs only its own code and _exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        drop(report_read);
        worker(prepared, &listener, File::from(report_write));
    }
    drop(prepared);
    drop(report_write);
    drop(listener); // the worker holds its own copy
    Ok(Running {
        pool,
        pid,
        port,
        reports: File::from(report_read),
    })
}

/// The worker: enter the jail, try the four escapes, serve one request, `_exit`.
fn worker(prepared: PreparedJail, listener: &TcpListener, mut report: File) -> ! {
    // SAFETY: alarm only arms a timer; a stuck worker dies of SIGALRM.
    unsafe { libc::alarm(20) };
    if let Err(e) = prepared.enter() {
        let _ = writeln!(report, "FAIL jail: {e}");
        // SAFETY: leaving without destructors (the jail closed fds they would close again).
        unsafe { libc::_exit(1) };
    }
    // Who and where the worker is now.
    let listing: Vec<String> = std::fs::read_dir("/")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    // SAFETY: getuid and getgid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let host = iso::ns::hostname().unwrap_or_default();
    let _ = writeln!(
        report,
        "jailed: uid {uid} gid {gid}, hostname {host:?}, / holds {listing:?}"
    );
    let mut all_denied = true;
    for (what, result) in ATTEMPTS.iter().zip(attempts()) {
        let line = match result {
            Ok(()) => {
                all_denied = false;
                format!("ALLOWED {what}")
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                all_denied = false;
                format!("FAIL {what}: nothing to deny ({e})")
            }
            Err(e) => format!("denied {what}: {e}"),
        };
        let _ = writeln!(report, "{line}");
    }
    let served = serve_one(listener);
    let _ = writeln!(
        report,
        "{}",
        match &served {
            Ok(()) => "served one request".to_string(),
            Err(e) => format!("FAIL serving: {e}"),
        }
    );
    let code = if all_denied && served.is_ok() { 0 } else { 1 };
    // SAFETY: as above.
    unsafe { libc::_exit(code) }
}

/// The four escapes, in the order of [`ATTEMPTS`].
fn attempts() -> [Result<(), std::io::Error>; 4] {
    let last = std::io::Error::last_os_error;
    let shadow = File::open("/etc/shadow").map(drop);
    // SAFETY: socket with integer arguments.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP) };
    let raw = if fd >= 0 {
        // SAFETY: the socket was just created and is owned here.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
        Ok(())
    } else {
        Err(last())
    };
    // SAFETY: mount with NUL-terminated literals.
    let rc = unsafe {
        libc::mount(
            c"none".as_ptr(),
            c"/".as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    let mount = if rc == 0 { Ok(()) } else { Err(last()) };
    // SAFETY: setuid with a plain integer.
    let root = if unsafe { libc::setuid(0) } == 0 {
        Ok(())
    } else {
        Err(last())
    };
    [shadow, raw, mount, root]
}

fn serve_one(listener: &TcpListener) -> std::io::Result<()> {
    let greeting = std::fs::read_to_string("/greeting")?;
    let (stream, _) = listener.accept()?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line)?;
    let mut out = &stream;
    writeln!(out, "{greeting}: {}", line.trim_end())
}

/// The master's side of one request.
fn talk(w: &Running) -> bool {
    let request = format!("ping {}", w.pool.name);
    let result = (|| -> std::io::Result<String> {
        let mut s = TcpStream::connect(("127.0.0.1", w.port))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        writeln!(s, "{request}")?;
        let mut reply = String::new();
        BufReader::new(&s).read_line(&mut reply)?;
        Ok(reply.trim_end().to_string())
    })();
    let expected = format!("hello from {}: {request}", w.pool.name);
    match result {
        Ok(reply) if reply == expected => {
            println!("   echo: {reply:?}");
            true
        }
        Ok(reply) => {
            println!("   echo: unexpected reply {reply:?} (wanted {expected:?})");
            false
        }
        Err(e) => {
            println!("   echo: FAILED: {e}");
            false
        }
    }
}

/// Prints the worker's reports; true when all four escapes were denied.
fn read_reports(mut reports: File) -> bool {
    let mut text = String::new();
    if let Err(e) = reports.read_to_string(&mut text) {
        println!("   reports: {e}");
        return false;
    }
    let mut denied = 0;
    let mut ok = true;
    for line in text.lines() {
        println!("   worker: {line}");
        if line.starts_with("denied ") {
            denied += 1;
        } else if line.starts_with("ALLOWED") || line.starts_with("FAIL") {
            ok = false;
        }
    }
    ok && denied == ATTEMPTS.len()
}

fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(format!("pipe2: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: pipe2 just returned both descriptors; nothing else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}
