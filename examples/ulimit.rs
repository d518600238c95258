//! `ulimit`: a per-user `RLIMIT_NPROC` against a cgroup `pids` limit on a group of processes.
//!
//! `ulimit -u` (`RLIMIT_NPROC`) looks like a per-process limit but is checked against the
//! number of processes the **real user** has on the whole machine, and root ignores it. A
//! `pids` cgroup limits a **group of processes**, whoever they run as, root included.
//!
//! 1. Process A becomes uid 61010 with `RLIMIT_NPROC` 3 (through [`iso::jail::Jail`]) and
//!    forks until the kernel refuses: 2 children (A itself is the first of the user's 3).
//! 2. Process B, unrelated to A, becomes the same uid with the same limit: its first fork
//!    fails with `EAGAIN`, because A's processes count against the same user.
//! 3. Process C, root with all its capabilities, is placed in a new cgroup
//!    `/iso-example-ulimit-<pid>` with `pids.max` 3 and forks until refused: 2 children.
//!
//! Exits 0 only when all three behaved so; every process it started is killed (by process
//! group or through the cgroup) and the cgroup removed. Run as root:
//! `cargo run --example ulimit`.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::ExitCode;

use iso::caps::Capabilities;
use iso::cgroups::{Cgroup, CgroupPath, Layout, Limit, Pids, Resources};
use iso::jail::{Jail, Resource};

const USER: u32 = 61010;
const LIMIT: u64 = 3;

fn main() -> ExitCode {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("ulimit: run me as root");
        return ExitCode::FAILURE;
    }
    // Orphaned grandchildren come back to us, so that we can reap them.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    println!("== RLIMIT_NPROC = {LIMIT} for uid {USER} ==");
    let nproc_ok = rlimit_demo().unwrap_or_else(|e| {
        println!("ulimit: {e}");
        false
    });
    println!("\n== cgroup pids.max = {LIMIT} ==");
    let pids_ok = cgroup_demo().unwrap_or_else(|e| {
        println!("ulimit: {e}");
        false
    });
    println!();
    if nproc_ok && pids_ok {
        println!("ulimit: OK: RLIMIT_NPROC counts the user's processes machine-wide; pids.max counts the group's, root included");
        ExitCode::SUCCESS
    } else {
        println!("ulimit: FAILED");
        ExitCode::FAILURE
    }
}

/// Forks children that wait (at most 30 s) until `max` forks or the first refusal; returns
/// how many succeeded and the refusal.
fn fork_until_refused(max: usize) -> (usize, Option<std::io::Error>) {
    for n in 0..max {
        // SAFETY: the child only sleeps and exits.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return (n, Some(std::io::Error::last_os_error()));
        }
        if pid == 0 {
            // SAFETY: alarm, pause and _exit are async-signal-safe.
            unsafe {
                libc::alarm(30);
                libc::pause();
                libc::_exit(0);
            }
        }
    }
    (max, None)
}

/// Forks a process in its own process group that enters `jail`, runs `body` (which gets
/// the write end of a pipe) and then waits to be killed. Returns its pid and the read end.
fn start(jail: &Jail, body: fn(File) -> u8) -> Result<(libc::pid_t, File), String> {
    let (read_end, write_end) = pipe()?;
    let prepared = jail
        .clone()
        .keep_fd(write_end.as_raw_fd())
        .prepare()
        .map_err(|e| e.to_string())?;
    // SAFETY: this example is single-threaded; the child runs its own code and _exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        // SAFETY: setpgid and alarm have no memory-safety preconditions.
        unsafe {
            libc::setpgid(0, 0);
            libc::alarm(30);
        }
        let code = match prepared.enter() {
            Ok(()) => body(File::from(write_end)),
            Err(e) => {
                println!("   jail: {e}");
                99
            }
        };
        // SAFETY: _exit leaves without running destructors of fds the jail closed.
        unsafe { libc::_exit(i32::from(code)) };
    }
    // Also set it here, so that kill(-pid) works whichever process runs first.
    // SAFETY: as above.
    unsafe { libc::setpgid(pid, pid) };
    drop(write_end);
    Ok((pid, File::from(read_end)))
}

/// Kills process group `pgid` (a process this example started, and its children) and reaps
/// them all: the leader first, then its orphans, which the subreaper flag made ours.
fn kill_group(pgid: libc::pid_t) {
    // SAFETY: kill and waitpid on a process group and pid this example created.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
        libc::waitpid(pgid, std::ptr::null_mut(), 0);
        while libc::waitpid(-pgid, std::ptr::null_mut(), 0) > 0 {}
    }
}

fn wait_code(pid: libc::pid_t) -> Option<i32> {
    let mut status = 0;
    // SAFETY: pid is our child; status is a valid out-pointer.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status))
}

fn describe(n: usize, err: &Option<std::io::Error>) -> String {
    match err {
        Some(e) => format!("{n} fork(s) succeeded, then fork failed: {e}"),
        None => format!("{n} fork(s) succeeded and none was refused"),
    }
}

fn rlimit_demo() -> Result<bool, String> {
    let jail = Jail::new()
        .user(USER, USER)
        .rlimit(Resource::Nproc, LIMIT, LIMIT);

    // A: fill the user's quota and hold it.
    let (a, mut a_ready) = start(&jail, |mut ready| {
        let (n, err) = fork_until_refused(10);
        println!("   A (uid {USER}): {}", describe(n, &err));
        let refused = err.and_then(|e| e.raw_os_error()) == Some(libc::EAGAIN);
        let _ = ready.write_all(&[n as u8, u8::from(refused)]);
        // Hold the children until the master kills this process group.
        // SAFETY: pause only waits for a signal.
        unsafe { libc::pause() };
        0
    })?;
    let mut buf = [0u8; 2];
    let a_result = a_ready.read_exact(&mut buf);
    let a_ok = a_result.is_ok() && buf == [(LIMIT - 1) as u8, 1];

    // B: an unrelated process of the same user.
    let b_ok = if a_result.is_ok() {
        let (b, _) = start(&jail, |_| {
            let (n, err) = fork_until_refused(1);
            println!(
                "   B (uid {USER}, another process tree): {}",
                describe(n, &err)
            );
            u8::from(!(n == 0 && err.and_then(|e| e.raw_os_error()) == Some(libc::EAGAIN)))
        })?;
        wait_code(b) == Some(0)
    } else {
        false
    };
    kill_group(a);
    println!(
        "   => A {}: the user's third process is A's second child",
        verdict(a_ok)
    );
    println!(
        "   => B {}: the limit is per user, not per process tree (root would be exempt)",
        verdict(b_ok)
    );
    Ok(a_ok && b_ok)
}

fn cgroup_demo() -> Result<bool, String> {
    let layout = Layout::detect().map_err(|e| e.to_string())?;
    let path = CgroupPath::new(&format!("/iso-example-ulimit-{}", std::process::id()))
        .map_err(|e| e.to_string())?;
    let cg = Cgroup::create(&layout, path).map_err(|e| e.to_string())?;
    let result = cgroup_demo_in(&cg);
    let killed = cg.kill();
    let deleted = cg.delete();
    println!(
        "   cleanup: killed the group ({}), removed {} ({})",
        if killed.is_ok() { "ok" } else { "FAILED" },
        cg.path(),
        if deleted.is_ok() { "ok" } else { "FAILED" }
    );
    Ok(result? && killed.is_ok() && deleted.is_ok())
}

fn cgroup_demo_in(cg: &Cgroup) -> Result<bool, String> {
    cg.apply(&Resources {
        pids: Some(Pids {
            limit: Some(Limit::Value(LIMIT)),
        }),
        ..Default::default()
    })
    .map_err(|e| e.to_string())?;
    println!("   created {} with pids.max {LIMIT}", cg.path());
    // Root, keeping every capability it has: pids.max still applies.
    let all = Capabilities::current()
        .map_err(|e| e.to_string())?
        .permitted;
    let jail = Jail::new().cgroup(cg).keep_caps(all);
    let (c, mut c_ready) = start(&jail, |mut ready| {
        let (n, err) = fork_until_refused(10);
        println!(
            "   C (root, all capabilities, in the cgroup): {}",
            describe(n, &err)
        );
        let refused = err.and_then(|e| e.raw_os_error()) == Some(libc::EAGAIN);
        let _ = ready.write_all(&[n as u8, u8::from(refused)]);
        // SAFETY: pause only waits for a signal.
        unsafe { libc::pause() };
        0
    })?;
    let mut buf = [0u8; 2];
    let read = c_ready.read_exact(&mut buf);
    let current = cg.stats().map(|s| s.pids.current).unwrap_or(0);
    println!("   pids.current of the group: {current}");
    let ok = read.is_ok() && buf == [(LIMIT - 1) as u8, 1] && current == LIMIT;
    kill_group(c);
    println!(
        "   => C {}: the group holds at most {LIMIT} tasks, whoever runs them",
        verdict(ok)
    );
    Ok(ok)
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "as expected"
    } else {
        "NOT as expected"
    }
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
