//! `isobench`: the small native helper of `benches/lifecycle.sh`.
//!
//! Built by the script with plain `rustc -O` (no crates, only glibc), so the benchmark
//! does not depend on the state of the workspace. Linux x86_64 / aarch64 only.
//!
//! ```text
//! isobench cycle RUNTIME ROOT ID BUNDLE   create; start; wait for the init to exit; delete
//! isobench ok CMD ARGS...               run CMD quietly, always exit 0
//! isobench floor ROOTFS                   lower bound: new pid/net/ipc/uts/mount namespaces,
//!                                         pivot_root into ROOTFS, exec /bin/true
//! isobench parallel N RUNTIME ROOT BUNDLE ID
//!                                         N `RUNTIME run` at once, of bundles BUNDLE-1..BUNDLE-N
//!                                         as ids ID-1..ID-N; waits for all: lock contention
//!                                         in the state root
//! ```
//!
//! `cycle` is what a shim does: it makes itself a child subreaper, so the container's init,
//! orphaned when `RUNTIME create` exits, is reparented to it and its exit is seen with a
//! blocking `waitpid` (no polling of `state`).

use std::ffi::{c_char, c_int, c_long, c_ulong, c_void, CString};
use std::process::{Command, ExitCode, Stdio};

extern "C" {
    fn unshare(flags: c_int) -> c_int;
    fn mount(
        src: *const c_char,
        target: *const c_char,
        fstype: *const c_char,
        flags: c_ulong,
        data: *const c_void,
    ) -> c_int;
    fn umount2(target: *const c_char, flags: c_int) -> c_int;
    fn chdir(path: *const c_char) -> c_int;
    fn fork() -> c_int;
    fn execv(path: *const c_char, argv: *const *const c_char) -> c_int;
    fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
    fn prctl(option: c_int, arg2: c_ulong, arg3: c_ulong, arg4: c_ulong, arg5: c_ulong) -> c_int;
    fn alarm(seconds: u32) -> u32;
    fn syscall(num: c_long, ...) -> c_long;
    fn _exit(code: c_int) -> !;
}

const CLONE_NEWNS: c_int = 0x0002_0000;
const CLONE_NEWUTS: c_int = 0x0400_0000;
const CLONE_NEWIPC: c_int = 0x0800_0000;
const CLONE_NEWPID: c_int = 0x2000_0000;
const CLONE_NEWNET: c_int = 0x4000_0000;
const MS_BIND: c_ulong = 4096;
const MS_REC: c_ulong = 16384;
const MS_PRIVATE: c_ulong = 1 << 18;
const MNT_DETACH: c_int = 2;
const PR_SET_CHILD_SUBREAPER: c_int = 36;
#[cfg(target_arch = "x86_64")]
const SYS_PIVOT_ROOT: c_long = 155;
#[cfg(target_arch = "aarch64")]
const SYS_PIVOT_ROOT: c_long = 41;

fn cstr(s: &str) -> CString {
    // Arguments come from the benchmark script; an interior NUL is a script bug.
    CString::new(s).unwrap_or_else(|_| die(&format!("argument with NUL byte: {s:?}")))
}

fn die(msg: &str) -> ! {
    eprintln!("isobench: {msg}: {}", std::io::Error::last_os_error());
    std::process::exit(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("cycle") if args.len() == 6 => cycle(&args[2], &args[3], &args[4], &args[5]),
        Some("floor") if args.len() == 3 => floor(&args[2]),
        Some("parallel") if args.len() == 7 => match args[2].parse() {
            Ok(n) => parallel(n, &args[3], &args[4], &args[5], &args[6]),
            Err(_) => die(&format!("parallel: {:?} is not a count", args[2])),
        },
        // Used as a hyperfine --prepare step that may fail (delete of an absent container).
        Some("ok") if args.len() > 2 => {
            let _ = Command::new(&args[2])
                .args(&args[3..])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: isobench cycle RUNTIME ROOT ID BUNDLE | floor ROOTFS | \
                 parallel N RUNTIME ROOT BUNDLE ID | ok CMD...");
            ExitCode::from(2)
        }
    }
}

/// Runs one runtime command; stdout and stdin are /dev/null, stderr is inherited so a
/// failure is visible to the script's smoke check.
fn runtime(rt: &str, root: &str, args: &[&str]) -> bool {
    Command::new(rt)
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn cycle(rt: &str, root: &str, id: &str, bundle: &str) -> ExitCode {
    // A hung container must not hang the benchmark: SIGALRM's default action ends us.
    // SAFETY: alarm has no memory effects.
    unsafe { alarm(30) };
    // SAFETY: plain prctl with integer arguments.
    if unsafe { prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        die("prctl(PR_SET_CHILD_SUBREAPER)");
    }
    let pid_file = format!("{root}/{id}.pid");
    if !runtime(
        rt,
        root,
        &["create", "--bundle", bundle, "--pid-file", &pid_file, id],
    ) {
        eprintln!("isobench: {rt} create {id} failed");
        return ExitCode::from(1);
    }
    let pid: c_int = match std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
    {
        Some(p) => p,
        None => {
            eprintln!("isobench: {rt} create wrote no pid to {pid_file}");
            runtime(rt, root, &["delete", "--force", id]);
            return ExitCode::from(1);
        }
    };
    if !runtime(rt, root, &["start", id]) {
        eprintln!("isobench: {rt} start {id} failed");
        runtime(rt, root, &["delete", "--force", id]);
        return ExitCode::from(1);
    }
    // Reap orphans until the init itself is reaped (ECHILD: nothing left to wait for).
    loop {
        let mut status: c_int = 0;
        // SAFETY: status is a valid out pointer.
        let r = unsafe { waitpid(-1, &mut status, 0) };
        if r == pid || r < 0 {
            break;
        }
    }
    let _ = std::fs::remove_file(&pid_file);
    if !runtime(rt, root, &["delete", id]) {
        eprintln!("isobench: {rt} delete {id} failed");
        runtime(rt, root, &["delete", "--force", id]);
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

fn floor(rootfs: &str) -> ExitCode {
    // Everything the child needs is prepared before fork.
    let root = cstr(rootfs);
    let slash = cstr("/");
    let dot = cstr(".");
    let true_bin = cstr("/bin/true");
    let argv: [*const c_char; 2] = [true_bin.as_ptr(), std::ptr::null()];
    let flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID;
    // SAFETY: single-threaded process; unshare only changes our own namespaces.
    if unsafe { unshare(flags) } != 0 {
        die("unshare");
    }
    // SAFETY: single-threaded, so the child may run the raw syscalls below.
    let child = unsafe { fork() };
    if child < 0 {
        die("fork");
    }
    if child == 0 {
        // SAFETY: only async-signal-safe syscalls on prepared C strings, then exec or _exit.
        unsafe {
            let null = std::ptr::null::<c_char>();
            if mount(
                null,
                slash.as_ptr(),
                null,
                MS_REC | MS_PRIVATE,
                std::ptr::null(),
            ) != 0
                || mount(
                    root.as_ptr(),
                    root.as_ptr(),
                    null,
                    MS_BIND | MS_REC,
                    std::ptr::null(),
                ) != 0
                || chdir(root.as_ptr()) != 0
                || syscall(SYS_PIVOT_ROOT, dot.as_ptr(), dot.as_ptr()) != 0
                || umount2(dot.as_ptr(), MNT_DETACH) != 0
                || chdir(slash.as_ptr()) != 0
            {
                _exit(126);
            }
            execv(true_bin.as_ptr(), argv.as_ptr());
            _exit(127);
        }
    }
    let mut status: c_int = 0;
    // SAFETY: status is a valid out pointer.
    if unsafe { waitpid(child, &mut status, 0) } != child {
        die("waitpid");
    }
    if status == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "isobench: floor child failed (wait status {status:#x}; 126 = setup, 127 = exec)"
        );
        ExitCode::from(1)
    }
}

/// `n` runs of the bundles `{bundle}-{i}` started together; succeeds when every one exited 0.
fn parallel(n: usize, rt: &str, root: &str, bundle: &str, id: &str) -> ExitCode {
    let children: Vec<_> = (1..=n)
        .map(|i| {
            Command::new(rt)
                .args(["--root", root, "run", "--bundle"])
                .arg(format!("{bundle}-{i}"))
                .arg(format!("{id}-{i}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
        })
        .collect();
    let mut ok = true;
    for child in children {
        ok &= child.and_then(|mut c| c.wait()).is_ok_and(|s| s.success());
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        eprintln!("isobench: one of {n} parallel `{rt} run` failed");
        ExitCode::from(1)
    }
}
