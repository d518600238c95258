//! Fault injection: `iso-runtime` is killed (`SIGKILL`) at the system calls of `create`,
//! `start`, `exec` and `delete`, and what it leaves must be cleaned up by the next commands.
//!
//! Each command is run under ptrace (`iso_testutil::ptrace`): the runtime's own process is
//! traced and killed at the entry of its N-th system call (that call never runs). The
//! container's processes are not traced: they live on as after a real crash. After each
//! kill:
//! - `delete --force <id>` succeeds, and nothing is left: no process, no cgroup in any
//!   hierarchy, no mount, no state entry (`Fixture::leftovers`, polled briefly while
//!   orphaned processes notice and exit);
//! - a later `create` of the same id succeeds (for `start`, `exec` and `delete` it is the
//!   next round's setup; the `create` stages try it after every [`RECREATE_EVERY`]-th kill
//!   and after the last), and deleting it leaves nothing.
//!
//! What is swept, once each (an undisturbed run of the command first says which calls it
//! makes; the N-th call of a later run is usually the same one, but a poll may run a
//! different number of rounds):
//! - `create` of a fresh container: every system call, the dynamic loader's included;
//! - `create` of a container with new user and cgroup namespaces (uid/gid maps written by
//!   the runtime while the init waits) and a seccomp filter: the calls outside loops, as
//!   below;
//! - `start` of a created container, `exec` of `true` in a running container,
//!   `delete --force` of a running container, and `run` of a container whose program exits
//!   at once (create, start, wait, delete in one process): every system call after the
//!   start-up they share with `create` (loader, runtime start-up, argument parsing, and for
//!   `run` the whole create part: the same calls in the
//!   same order, swept by the create test), except the calls that repeat a loop (the last
//!   `p` call numbers equal the `p` before them, `p` up to [`MAX_PERIOD`]): the second and
//!   later rounds of `delete` waiting for the init to go, of a directory being emptied,
//!   which would multiply the run time without reaching a new kind of state.
//!
//! Each sweep runs in a forked child that is a child subreaper and reaps the container
//! processes a killed runtime orphans (see [`reap_container_orphans`]).
//!
//! `ISO_FAULTS_FULL=1` drops the loop rule: every system call of `create`, and every one
//! after the shared start-up of the others (several minutes).

use std::fs;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use iso_testutil::bundle::{text, Fixture};
use iso_testutil::ptrace::{run_traced, Ending, Trace};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_iso-runtime");

/// Runs the runtime command `args` traced, killed at `kill_at`; its stderr is returned.
fn traced(fx: &Fixture, args: &[&str], kill_at: Option<u64>) -> (Trace, String) {
    let err = fx.path().join("traced.err");
    let mut cmd: Command = fx.cmd(args);
    cmd.stdout(Stdio::null());
    cmd.stderr(fs::File::create(&err).unwrap());
    let t = run_traced(cmd, kill_at).unwrap();
    let stderr = fs::read_to_string(&err).unwrap_or_default();
    (t, stderr)
}

/// A `create` stage checks that the id can be created again after every this many kills
/// (and after the last); in between, `delete --force` leaving no state entry, cgroup or
/// process is what a new create needs.
const RECREATE_EVERY: usize = 4;

/// The longest loop body, in system calls, that [`kill_points`] recognises.
const MAX_PERIOD: usize = 16;

/// Whether the call at `i` repeats a loop: the last `p` calls (ending at `i`) are the same
/// numbers as the `p` before them, for some `p` up to [`MAX_PERIOD`].
fn repeats_loop(calls: &[u64], i: usize) -> bool {
    (1..=MAX_PERIOD)
        .filter(|&p| i + 1 >= 2 * p)
        .any(|p| calls[i + 1 - p..=i] == calls[i + 1 - 2 * p..=i - p])
}

/// The kill points (1-based) among `calls` from index `from` on: all of them with
/// `ISO_FAULTS_FULL=1` or when `every` is set, otherwise those that do not repeat a loop
/// (see [`repeats_loop`]): the first round of a loop and the calls after it stay.
fn kill_points(calls: &[u64], from: usize, every: bool) -> Vec<u64> {
    let every = every || std::env::var("ISO_FAULTS_FULL").as_deref() == Ok("1");
    (from..calls.len())
        .filter(|&i| every || !repeats_loop(calls, i))
        .map(|i| i as u64 + 1)
        .collect()
}

/// A stage of the lifecycle: how to bring a fresh container to it, and the command killed.
struct Stage {
    name: &'static str,
    /// Changes to the fixture's config (`sleep 1000` in the fixture's namespaces).
    configure: fn(&mut Value),
    /// Runtime commands run (untraced, must succeed) before the traced one.
    setup: &'static [&'static [&'static str]],
    /// The traced command; `ID` stands for the container id.
    command: &'static [&'static str],
    /// Kill at every system call, not only at the distinct ones (see [`kill_points`]).
    every: bool,
}

/// The fixture's config as it is.
fn plain(_: &mut Value) {}

/// A container whose program exits at once (for `run`, which waits for it and deletes it).
fn exits_at_once(config: &mut Value) {
    config["process"]["args"] = json!(["/bin/true"]);
}

/// New user and cgroup namespaces with uid/gid mappings (the runtime writes the maps while
/// the init waits) and a seccomp filter (compiled, cached in the state root, loaded).
fn userns_seccomp(config: &mut Value) {
    config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .extend([json!({"type": "user"}), json!({"type": "cgroup"})]);
    config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    });
}

const STAGES: &[Stage] = &[
    Stage {
        name: "create",
        configure: plain,
        setup: &[],
        command: &["create", "ID"],
        every: true,
    },
    Stage {
        name: "start",
        configure: plain,
        setup: &[&["create", "ID"]],
        command: &["start", "ID"],
        every: false,
    },
    Stage {
        name: "exec",
        configure: plain,
        setup: &[&["create", "ID"], &["start", "ID"]],
        command: &["exec", "ID", "true"],
        every: false,
    },
    Stage {
        name: "delete",
        configure: plain,
        setup: &[&["create", "ID"], &["start", "ID"]],
        command: &["delete", "--force", "ID"],
        every: false,
    },
    Stage {
        name: "run",
        configure: exits_at_once,
        setup: &[],
        command: &["run", "ID"],
        every: false,
    },
    Stage {
        name: "create-userns",
        configure: userns_seccomp,
        setup: &[],
        command: &["create", "ID"],
        every: false,
    },
];

fn with_id<'a>(args: &[&'a str], id: &'a str) -> Vec<&'a str> {
    args.iter()
        .map(|a| if *a == "ID" { id } else { a })
        .collect()
}

/// Runs `args`, untraced; an error names the command and its stderr.
fn must(fx: &Fixture, args: &[&str]) -> Result<(), String> {
    let out = fx.rt(args);
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "`{}` failed: {}",
        args.join(" "),
        text(&out.stderr).trim()
    ))
}

/// After a crash: `delete --force` succeeds and leaves nothing.
fn cleaned_up(fx: &Fixture, id: &str) -> Result<(), String> {
    must(fx, &["delete", "--force", id])?;
    let left = fx.leftovers_after(id, Duration::from_secs(10));
    if !left.is_empty() {
        return Err(format!("left after delete --force: {left:?}"));
    }
    Ok(())
}

/// The id can be created again, and deleting it leaves nothing.
fn recreated(fx: &Fixture, id: &str) -> Result<(), String> {
    must(fx, &["create", id]).map_err(|e| format!("a later create: {e}"))?;
    cleaned_up(fx, id).map_err(|e| format!("after a later create: {e}"))
}

/// Sweeps one stage; returns the first failure.
fn sweep(stage: &Stage) -> Result<(), String> {
    let Some(mut fx) = Fixture::new(BIN, &format!("harden-fault-{}", stage.name)) else {
        return Ok(());
    };
    let mut config = fx.config("sleep 1000");
    (stage.configure)(&mut config);
    fx.write_config(&config);
    let id = fx.id(&format!("harden-fault-{}", stage.name));
    let command = with_id(stage.command, &id);
    let name = stage.name;
    // Setup commands; the first round traces its create to learn the shared start-up.
    let setup = |fx: &Fixture, trace_create: bool| -> Result<Option<Trace>, String> {
        let mut create = None;
        for args in stage.setup {
            let args = with_id(args, &id);
            if trace_create && args[0] == "create" {
                let (t, err) = traced(fx, &args, None);
                if t.ending != Ending::Exited(0) {
                    return Err(format!("create ended {:?}: {err}", t.ending));
                }
                create = Some(t);
            } else {
                must(fx, &args)?;
            }
        }
        Ok(create)
    };
    let mut create = setup(&fx, true).map_err(|e| format!("{name}: setup: {e}"))?;
    if create.is_none() && command[0] != "create" {
        // No create in the setup: trace one on its own for the shared start-up.
        let (t, err) = traced(&fx, &["create", &id], None);
        if t.ending != Ending::Exited(0) {
            return Err(format!(
                "{name}: reference create ended {:?}: {err}",
                t.ending
            ));
        }
        cleaned_up(&fx, &id).map_err(|e| format!("{name}: after the reference create: {e}"))?;
        create = Some(t);
    }
    let (full, err) = traced(&fx, &command, None);
    if full.ending != Ending::Exited(0) {
        return Err(format!(
            "{name}: undisturbed run ended {:?}: {err}",
            full.ending
        ));
    }
    let common = create.map_or(0, |c| {
        c.calls
            .iter()
            .zip(&full.calls)
            .take_while(|(a, b)| a == b)
            .count()
    });
    cleaned_up(&fx, &id).map_err(|e| format!("{name}: after an undisturbed run: {e}"))?;
    let points = kill_points(&full.calls, common, stage.every);
    let mut last = String::new();
    for (i, &n) in points.iter().enumerate() {
        // The setup's create is also the later create after the previous round's kill.
        setup(&fx, false).map_err(|e| format!("{name}: after {last}: {e}"))?;
        let (t, err) = traced(&fx, &command, Some(n));
        last = match t.ending {
            Ending::Killed { nr, .. } => format!("the kill at system call {n} (nr {nr})"),
            // This run made fewer calls: it completed.
            Ending::Exited(0) => format!("run {n}, which completed"),
            other => return Err(format!("{name}: run {n} ended {other:?}: {err}")),
        };
        cleaned_up(&fx, &id).map_err(|e| format!("{name}: after {last}: {e}"))?;
        if stage.setup.is_empty() && i % RECREATE_EVERY == 0 {
            recreated(&fx, &id).map_err(|e| format!("{name}: after {last}: {e}"))?;
        }
    }
    recreated(&fx, &id).map_err(|e| format!("{name}: after {last}: {e}"))?;
    eprintln!(
        "{name}: killed at {} of its {} system calls ({} shared with create)",
        points.len(),
        full.syscalls(),
        common
    );
    Ok(())
}

/// Whether `pid` is a zombie that lived in a PID namespace below ours (two or more pids in
/// the `NSpid` line of its status): a container process, never a runtime command.
fn container_zombie(pid: i32) -> bool {
    let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or("")
            .to_owned()
    };
    field("State:").starts_with('Z') && field("NSpid:").split_whitespace().count() > 1
}

/// Reaps, until `stop`, the container processes orphaned to this process (a subreaper) by
/// a killed runtime. Without this they go to the host's init, and a container's init, when
/// killed, waits in the kernel until they are reaped: on a host whose init reaps lazily,
/// each cleanup after such a kill would take seconds.
fn reap_container_orphans(stop: &AtomicBool) {
    let me = std::process::id().to_string();
    while !stop.load(Ordering::Relaxed) {
        // Only look when some child has exited (WNOWAIT: it stays to be waited for).
        // SAFETY: siginfo_t is plain data; waitid writes into it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: a valid out-pointer; WNOWAIT leaves the child's status in place.
        let r = unsafe {
            libc::waitid(
                libc::P_ALL,
                0,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: si_pid is set by waitid when it reports a child.
        if r == 0 && unsafe { info.si_pid() } != 0 {
            for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
                let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                    continue;
                };
                let stat = fs::read_to_string(e.path().join("stat")).unwrap_or_default();
                // "pid (comm) state ppid ...": the ppid after the last ')'.
                let ppid = stat
                    .rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1));
                if ppid == Some(me.as_str()) && container_zombie(pid) {
                    let mut status = 0;
                    // SAFETY: reaps one zombie child of ours that no other code waits for.
                    unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
                }
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Runs the sweep of `stage` in a forked child that is a child subreaper (see
/// [`reap_container_orphans`]).
fn run_stage(stage: &'static Stage) {
    iso_testutil::in_child(|| {
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
            return Err(format!(
                "PR_SET_CHILD_SUBREAPER: {}",
                std::io::Error::last_os_error()
            ));
        }
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| reap_container_orphans(&stop));
            let result = sweep(stage);
            stop.store(true, Ordering::Relaxed);
            result
        })
    });
}

#[test]
fn killed_create_is_cleaned_up() {
    run_stage(&STAGES[0]);
}

#[test]
fn killed_start_is_cleaned_up() {
    run_stage(&STAGES[1]);
}

#[test]
fn killed_exec_is_cleaned_up() {
    run_stage(&STAGES[2]);
}

#[test]
fn killed_delete_is_cleaned_up() {
    run_stage(&STAGES[3]);
}

#[test]
fn killed_run_is_cleaned_up() {
    run_stage(&STAGES[4]);
}

#[test]
fn killed_create_with_userns_and_seccomp_is_cleaned_up() {
    run_stage(&STAGES[5]);
}

/// A `start` killed after it released the init but before it removed `exec.sock` leaves the
/// socket file behind while the user's program runs. The container must read as running,
/// not created: a second `start` would otherwise be attempted, and a plain `delete`
/// accepted, for a container whose program runs.
#[test]
fn stale_exec_socket_does_not_read_as_created() {
    let Some(mut fx) = Fixture::new(BIN, "stale-sock") else {
        return;
    };
    fx.write_config(&fx.config("sleep 30"));
    let id = fx.id("stale");
    let bundle = fx.bundle();
    must(&fx, &["create", "--bundle", bundle.to_str().unwrap(), &id]).unwrap();
    assert_eq!(fx.state(&id)["status"], "created");
    must(&fx, &["start", &id]).unwrap();
    // What the killed `start` leaves: the socket's file, with nobody listening.
    let sock = fx.root().join(&id).join("exec.sock");
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    assert!(sock.exists());
    assert_eq!(fx.state(&id)["status"], "running");
    let second = fx.rt(&["start", &id]);
    assert!(!second.status.success(), "a second start was accepted");
    let plain_delete = fx.rt(&["delete", &id]);
    assert!(
        !plain_delete.status.success(),
        "delete without --force removed a running container"
    );
    must(&fx, &["delete", "--force", &id]).unwrap();
    assert_eq!(fx.leftovers(&id), Vec::<String>::new());
}

/// A container record that cannot be read (truncated, or garbage): a plain `delete` fails
/// naming the record; `delete --force` still kills the init and everything in the
/// container's cgroup (from the cgroup `create` noted beside the record), and removes the
/// cgroup in every hierarchy and the state directory.
#[test]
fn delete_force_with_a_corrupt_record_removes_everything() {
    let Some(mut fx) = Fixture::new(BIN, "corrupt-rec") else {
        return;
    };
    // A second process in the cgroup, besides the init.
    fx.write_config(&fx.config("sleep 1000 & exec sleep 1000"));
    for (round, corrupt) in [&b""[..], &b"{\"ociVersion\": \"1.0.2\", \"id\": \"x"[..]]
        .into_iter()
        .enumerate()
    {
        let id = fx.id(&format!("corrupt{round}"));
        must(&fx, &["create", &id]).unwrap();
        must(&fx, &["start", &id]).unwrap();
        let pid = fx.state(&id)["pid"].as_i64().unwrap();
        let record = fx.root().join(&id).join("state.json");
        fs::write(&record, corrupt).unwrap();
        let plain = fx.rt(&["delete", &id]);
        let err = text(&plain.stderr);
        assert!(!plain.status.success(), "plain delete of a corrupt record");
        assert!(err.contains(&record.display().to_string()), "{err}");
        assert!(fs::metadata(format!("/proc/{pid}")).is_ok(), "init gone");
        must(&fx, &["delete", "--force", &id]).unwrap();
        let left = fx.leftovers_after(&id, Duration::from_secs(10));
        assert_eq!(left, Vec::<String>::new());
        assert!(!fx.root().join(&id).exists());
        for dir in fx.cgroup_dirs() {
            assert!(!dir.exists(), "{} left", dir.display());
        }
        // The init was reaped by its new parent; its pid names nothing, or another process.
        let stat = fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(!stat.contains("sleep"), "init {pid} still runs: {stat}");
    }
}
