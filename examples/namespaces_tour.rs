//! `namespaces_tour`: one process per namespace kind, each showing what that namespace
//! isolates, next to the host's view.
//!
//! | kind | the child shows |
//! |---|---|
//! | UTS | its own hostname (`iso-tour`), the host's is unchanged |
//! | PID | it is pid 1 |
//! | network | an empty network: only `lo` |
//! | IPC | its own System V message queue, which the host never sees |
//! | user | it is root (uid 0, full capabilities) inside; the file it creates belongs to uid 61020 outside |
//! | cgroup | its cgroup is `/` inside, a sub-cgroup outside |
//! | time | an uptime ten days longer than the host's |
//! | mount | a tmpfs it mounted, absent from the host |
//!
//! Children are started with [`iso::ns::Spawn`] (which also writes the user maps and the
//! time offsets) and run `/bin/sh` scripts whose output comes back on a pipe; the cgroup one
//! is a plain fork that calls [`iso::ns::unshare`] after joining a cgroup. Exits 0 only when
//! every namespace isolated as shown; the cgroup and the scratch directory are removed.
//! Run as root: `cargo run --example namespaces_tour`.

use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::process::ExitCode;

use iso::cgroups::{Cgroup, CgroupPath, Layout};
use iso::ns::{ClockOffset, Exec, GidMap, Namespace, NamespaceSet, Spawn, TimeOffsets, UidMap};

const TEN_DAYS: i64 = 10 * 86400;
const OUTSIDE_UID: u32 = 61020;

/// One stop of the tour: given the scratch directory, whether the namespace isolated.
type Stop = fn(&str) -> Result<bool, String>;

fn main() -> ExitCode {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("namespaces_tour: run me as root");
        return ExitCode::FAILURE;
    }
    let scratch = format!("/tmp/iso-example-tour-{}", std::process::id());
    if let Err(e) = std::fs::create_dir(&scratch) {
        eprintln!("namespaces_tour: mkdir {scratch}: {e}");
        return ExitCode::FAILURE;
    }
    let stops: [(&str, Stop); 8] = [
        ("UTS", uts),
        ("PID", pid),
        ("network", net),
        ("IPC", ipc),
        ("user", user),
        ("cgroup", cgroup),
        ("time", time),
        ("mount", mount),
    ];
    let mut all = true;
    for (name, stop) in stops {
        println!("\n== {name} namespace ==");
        let ok = stop(&scratch).unwrap_or_else(|e| {
            println!("   error: {e}");
            false
        });
        println!("   => {}", if ok { "isolated" } else { "NOT as expected" });
        all &= ok;
    }
    let _ = std::fs::remove_dir_all(&scratch);
    println!();
    if all {
        println!("namespaces_tour: OK: each namespace kind gave its process a private view");
        ExitCode::SUCCESS
    } else {
        println!("namespaces_tour: FAILED");
        ExitCode::FAILURE
    }
}

/// Runs `script` with `/bin/sh` in a child made by `spawn`; returns its stdout.
fn run_in(spawn: &Spawn, script: &str) -> Result<String, String> {
    run_script(spawn, script, false)
}

/// Like [`run_in`]; with `become_root`, the child first switches to uid and gid 0 of its
/// new user namespace (its ids are unmapped there until it does).
fn run_script(spawn: &Spawn, script: &str, become_root: bool) -> Result<String, String> {
    let (read_end, write_end) = pipe()?;
    // The script writes to the pipe's write end, which the child inherits (not
    // close-on-exec).
    let script = format!("exec 1>&{}; {script}", write_end.as_raw_fd());
    let mut child = if become_root {
        // Everything the child touches is prepared here: it may only make system calls.
        let c = |s: &str| CString::new(s).map_err(|e| e.to_string());
        let args = [c("/bin/sh")?, c("-c")?, c(&script)?];
        let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        let child_main = || {
            // SAFETY: setresgid, setresuid and execv are async-signal-safe; argv is a
            // NULL-terminated array of C strings that outlive the call.
            unsafe {
                if libc::setresgid(0, 0, 0) != 0 || libc::setresuid(0, 0, 0) != 0 {
                    return 126;
                }
                libc::execv(args[0].as_ptr(), argv.as_ptr());
            }
            127
        };
        // SAFETY: the closure makes only async-signal-safe calls on prepared data.
        unsafe { spawn.run(child_main) }.map_err(|e| e.to_string())?
    } else {
        spawn
            .exec(&Exec::new("/bin/sh").args(["-c", &script]))
            .map_err(|e| e.to_string())?
    };
    drop(write_end);
    let mut out = String::new();
    File::from(read_end)
        .read_to_string(&mut out)
        .map_err(|e| e.to_string())?;
    let status = child.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("script failed ({status:?}): {out}"));
    }
    Ok(out)
}

fn ns(kinds: &[Namespace]) -> NamespaceSet {
    let mut set = NamespaceSet::default();
    for k in kinds {
        set.insert(*k);
    }
    set
}

fn uts(_: &str) -> Result<bool, String> {
    let spawn = Spawn::new(ns(&[Namespace::Uts]))
        .hostname("iso-tour")
        .map_err(|e| e.to_string())?;
    let inside = run_in(&spawn, "hostname")?;
    let host = iso::ns::hostname().map_err(|e| e.to_string())?;
    println!("   inside: hostname {:?}; host: {host:?}", inside.trim());
    Ok(inside.trim() == "iso-tour" && host != "iso-tour")
}

fn pid(_: &str) -> Result<bool, String> {
    let inside = run_in(&Spawn::new(ns(&[Namespace::Pid])), "echo $$")?;
    println!(
        "   inside: my pid is {}; host: this tour runs as pid {}",
        inside.trim(),
        std::process::id()
    );
    Ok(inside.trim() == "1")
}

fn interfaces(dev: &str) -> Vec<String> {
    dev.lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|s| s.trim().to_string())
        .collect()
}

fn net(_: &str) -> Result<bool, String> {
    // /proc/self/net shows the reader's network namespace.
    let inside = interfaces(&run_in(
        &Spawn::new(ns(&[Namespace::Net])),
        "cat /proc/self/net/dev",
    )?);
    let host =
        interfaces(&std::fs::read_to_string("/proc/self/net/dev").map_err(|e| e.to_string())?);
    println!("   inside: interfaces {inside:?}; host: {host:?}");
    Ok(inside == ["lo"])
}

fn queues() -> Result<usize, String> {
    let text = std::fs::read_to_string("/proc/sysvipc/msg").map_err(|e| e.to_string())?;
    Ok(text.lines().skip(1).count())
}

fn ipc(_: &str) -> Result<bool, String> {
    let before = queues()?;
    let inside = run_in(
        &Spawn::new(ns(&[Namespace::Ipc])),
        "ipcmk -Q >/dev/null && tail -n +2 /proc/sysvipc/msg | wc -l",
    )?;
    let after = queues()?;
    println!(
        "   inside: created a message queue, sees {} queue(s); host: {before} queue(s) before, {after} after",
        inside.trim()
    );
    // The queue died with the namespace; the host never saw it.
    Ok(inside.trim() == "1" && before == after)
}

fn user(scratch: &str) -> Result<bool, String> {
    // A directory anyone may write to, where the child leaves a file.
    let drop_box = format!("{scratch}/dropbox");
    std::fs::create_dir(&drop_box).map_err(|e| e.to_string())?;
    std::fs::set_permissions(
        &drop_box,
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .map_err(|e| e.to_string())?;
    let spawn = Spawn::new(ns(&[Namespace::User]))
        .uid_map(UidMap::single(0, OUTSIDE_UID, 1).map_err(|e| e.to_string())?)
        .gid_map(GidMap::single(0, OUTSIDE_UID, 1).map_err(|e| e.to_string())?);
    let inside = run_script(
        &spawn,
        &format!(
            "id -u; cat /proc/self/uid_map; grep CapEff /proc/self/status; touch {drop_box}/made-by-root"
        ),
        true,
    )?;
    let owner = std::fs::metadata(format!("{drop_box}/made-by-root"))
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .map_err(|e| e.to_string())?;
    let mut lines = inside.lines();
    let uid = lines.next().unwrap_or("").trim().to_string();
    let map: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    println!(
        "   inside: uid {uid}, uid_map {map:?} (inside, outside, count), {}",
        lines.next().unwrap_or("").trim()
    );
    println!("   host: the file it created is owned by uid {owner}: root inside is uid {OUTSIDE_UID} outside");
    Ok(uid == "0" && map == ["0", &OUTSIDE_UID.to_string(), "1"] && owner == OUTSIDE_UID)
}

fn cgroup(_: &str) -> Result<bool, String> {
    let layout = Layout::detect().map_err(|e| e.to_string())?;
    let path = CgroupPath::new(&format!("/iso-example-tour-{}", std::process::id()))
        .map_err(|e| e.to_string())?;
    let cg = Cgroup::create(&layout, path).map_err(|e| e.to_string())?;
    let result = cgroup_in(&cg);
    let deleted = cg.delete();
    Ok(result? && deleted.is_ok())
}

/// The line of `/proc/self/cgroup` for the first hierarchy (v2 `0::` or v1 `N:ctrl:`).
fn cgroup_line(text: &str) -> String {
    text.lines()
        .find(|l| l.contains(":pids:"))
        .or_else(|| text.lines().find(|l| l.starts_with("0::")))
        .unwrap_or("")
        .to_string()
}

fn cgroup_in(cg: &Cgroup) -> Result<bool, String> {
    let (read_end, write_end) = pipe()?;
    // SAFETY: this example is single-threaded; the child runs its own code and _exits.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if child == 0 {
        drop(read_end);
        let mut out = File::from(write_end);
        let code = cgroup_child(cg, &mut out);
        // SAFETY: _exit leaves the forked child without running the parent's handlers.
        unsafe { libc::_exit(code) };
    }
    drop(write_end);
    let mut text = String::new();
    File::from(read_end)
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    let mut status = 0;
    // SAFETY: child is our child; status a valid out-pointer.
    unsafe { libc::waitpid(child, &mut status, 0) };
    let (outside, inside) = text.split_once('\n').unwrap_or(("", ""));
    println!("   host view:   {outside}");
    println!("   inside view: {}", inside.trim());
    let name = cg.path().as_str().to_string();
    Ok(libc::WIFEXITED(status)
        && libc::WEXITSTATUS(status) == 0
        && outside.ends_with(&name)
        && inside.trim().ends_with(":/"))
}

/// In the forked child: join the cgroup, note the view, unshare, note the view again.
fn cgroup_child(cg: &Cgroup, out: &mut File) -> i32 {
    use std::io::Write;
    let me = iso::sys::Pid::this();
    if cg.add_process(me).is_err() {
        return 1;
    }
    let read = || std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let outside = cgroup_line(&read());
    if iso::ns::unshare(ns(&[Namespace::Cgroup])).is_err() {
        return 2;
    }
    let inside = cgroup_line(&read());
    if writeln!(out, "{outside}\n{inside}").is_err() {
        return 3;
    }
    0
}

fn uptime(text: &str) -> f64 {
    text.split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0)
}

fn time(_: &str) -> Result<bool, String> {
    let spawn = Spawn::new(ns(&[Namespace::Time])).time_offsets(TimeOffsets {
        boottime: ClockOffset::from_secs(TEN_DAYS),
        ..Default::default()
    });
    let inside = uptime(&run_in(&spawn, "cat /proc/uptime")?);
    let host = uptime(&std::fs::read_to_string("/proc/uptime").map_err(|e| e.to_string())?);
    println!(
        "   inside: up {inside:.0} s; host: up {host:.0} s (difference {:.0} s)",
        inside - host
    );
    // Ten days ahead, give or take the time the script took.
    Ok((inside - host - TEN_DAYS as f64).abs() < 60.0)
}

fn mount(scratch: &str) -> Result<bool, String> {
    let dir = format!("{scratch}/mnt");
    std::fs::create_dir(&dir).map_err(|e| e.to_string())?;
    let inside = run_in(
        &Spawn::new(ns(&[Namespace::Mount])),
        &format!(
            "mount --make-rprivate / && mount -t tmpfs tour {dir} && touch {dir}/only-inside \
             && grep -c ' {dir} ' /proc/self/mountinfo && ls {dir}"
        ),
    )?;
    let host_sees = std::fs::read_dir(&dir).map_err(|e| e.to_string())?.count();
    let host_mounted = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| e.to_string())?
        .contains(&format!(" {dir} "));
    let inside: Vec<&str> = inside.split_whitespace().collect();
    println!(
        "   inside: {} tmpfs mount(s) on {dir}, holding {:?}; host: mounted there: {host_mounted}, {host_sees} file(s)",
        inside.first().unwrap_or(&"?"),
        inside.get(1..).unwrap_or(&[])
    );
    Ok(inside == ["1", "only-inside"]
        && !host_mounted
        && host_sees == 0
        && Path::new(&dir).is_dir())
}

fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(format!("pipe2: {}", std::io::Error::last_os_error()));
    }
    // The write end must cross execve: clear its close-on-exec flag.
    // SAFETY: fcntl with integer arguments on the fd just created.
    unsafe { libc::fcntl(fds[1], libc::F_SETFD, 0) };
    // SAFETY: pipe2 just returned both descriptors; nothing else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}
