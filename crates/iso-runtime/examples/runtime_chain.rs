//! `runtime_chain`: how a container's processes descend from the runtime, read from `/proc`
//! the way one would with `pstree`, `ps` and `ls -l /proc/PID/fd` on a Docker host.
//!
//! The example is the runtime: it writes a busybox bundle to a temporary directory (the
//! host's static busybox, the default seccomp profile, new pid, mount, network, IPC, UTS and
//! cgroup namespaces, the absolute `cgroupsPath` `/iso-example-chain-<pid>`), creates and
//! starts the container with the library API ([`iso_runtime::Runtime`], state under a
//! private root in the same temporary directory), whose init (`sh`) starts a child
//! (`sleep`). Then it walks `/proc` from that child up through `PPid`:
//!
//! ```text
//! runtime_chain(4100)         the runtime (this process): created and started the container
//!  └─ sh(4107)                container init; pid 1 inside (NSpid 4107 1)
//!      └─ sleep(4109)         its child; pid 2 inside
//! ```
//!
//! and shows, for each of them, the namespaces (`/proc/PID/ns/*`, compared with the
//! host's), the cgroup (`/proc/PID/cgroup`) and the open descriptors (`/proc/PID/fd`). It
//! exits 0 only when the kernel shows what a container is: the init is the runtime's child
//! and pid 1 in its namespace, the child is the init's, both share namespaces that differ
//! from the host's in every kind the bundle asked for, they sit in the container's cgroup,
//! and the init holds nothing but stdin, stdout and stderr (nothing of the runtime leaked).
//! The container, its cgroup and the temporary directory are removed at the end.
//! Run as root: `cargo run -p iso-runtime --example runtime_chain`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use iso_runtime::{CreateOptions, Runtime, Signal};

/// The namespace kinds the demo bundle unshares (`/proc/PID/ns` names).
const NEW_KINDS: [&str; 6] = ["pid", "mnt", "net", "ipc", "uts", "cgroup"];
/// The kinds it shares with the host.
const SHARED_KINDS: [&str; 2] = ["user", "time"];

fn main() -> ExitCode {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("runtime_chain: run me as root");
        return ExitCode::FAILURE;
    }
    // The runtime's init runs this program's code inside the container until it executes
    // the container's program: run from a copy that no container can write (CVE-2019-5736).
    if let Err(e) = iso_chroot::exe::ensure_sealed() {
        eprintln!("runtime_chain: {e}");
        return ExitCode::FAILURE;
    }
    let Some(busybox) = ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(Path::new)
        .find(|p| p.exists())
    else {
        eprintln!("runtime_chain: needs a static busybox (apt-get install busybox-static)");
        return ExitCode::FAILURE;
    };
    let pid = std::process::id();
    let dir = std::env::temp_dir().join(format!("iso-example-chain-{pid}"));
    let cgroup = format!("/iso-example-chain-{pid}");
    let id = format!("iso-example-chain-{pid}");
    let rt = Runtime::new(dir.join("state"));

    // A panic (say, stdout closed under us) must not skip the clean-up below.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run(&rt, &id, &dir, busybox, &cgroup)
    }))
    .unwrap_or_else(|_| Err("panicked while showing the chain".into()));

    // Clean up whatever happened: the container (killed, reaped, deleted with its cgroup and
    // state) and the bundle.
    let _ = rt.kill(&id, Signal::KILL, true);
    let ok = match result {
        Ok((ok, mut created)) => {
            let _ = created.wait();
            ok
        }
        Err(e) => {
            eprintln!("runtime_chain: {e}");
            false
        }
    };
    let cleaned = rt.delete(&id, true);
    let _ = std::fs::remove_dir_all(&dir);
    match cleaned {
        Ok(()) => {
            println!("\ncleaned up: container {id} deleted with its cgroup {cgroup} and its state")
        }
        Err(e) => {
            eprintln!("runtime_chain: delete {id}: {e}");
            return ExitCode::FAILURE;
        }
    }
    if ok {
        println!("the kernel showed the chain runtime -> container init -> child as described");
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Starts the container and walks `/proc`; returns whether every check held, and the
/// created container (to be reaped).
fn run(
    rt: &Runtime,
    id: &str,
    dir: &Path,
    busybox: &Path,
    cgroup: &str,
) -> Result<(bool, iso_runtime::Created), String> {
    let bundle =
        iso_runtime::demo::write_bundle(dir, busybox, cgroup).map_err(|e| e.to_string())?;
    // The demo bundle prints and exits; this container should stay up with a child.
    let config_path = bundle.join("config.json");
    let text = std::fs::read_to_string(&config_path).map_err(|e| e.to_string())?;
    let mut config: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    config["process"]["args"] = serde_json::json!(["/bin/sh", "-c", "sleep 300 & wait"]);
    std::fs::write(&config_path, config.to_string()).map_err(|e| e.to_string())?;
    println!(
        "bundle {} (busybox rootfs, cgroupsPath {cgroup})",
        bundle.display()
    );

    let created = rt
        .create(id, &bundle, &CreateOptions::default())
        .map_err(|e| format!("create: {e}"))?;
    let init = created.pid();
    rt.start(id).map_err(|e| format!("start: {e}"))?;
    let me = std::process::id() as i32;
    println!(
        "created and started {id}: the init is pid {init}, this process (the runtime) is {me}\n"
    );

    let child = wait_for_child(init)?;
    Ok((report(me, init, child, cgroup), created))
}

/// The first process whose parent is `init` (the `sleep`), waiting a bounded while for the
/// init's `sh` to start it.
fn wait_for_child(init: i32) -> Result<i32, String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = std::fs::read_dir("/proc")
            .map_err(|e| e.to_string())?
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .find(|&pid| {
                let st = status(pid);
                st.get("PPid").map(String::as_str) == Some(&init.to_string())
                    && st.get("Name").map(String::as_str) == Some("sleep")
            });
        if let Some(pid) = found {
            return Ok(pid);
        }
        if Instant::now() > deadline {
            return Err(format!("the init {init} started no sleep within 10 s"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `/proc/PID/status` as key → value.
fn status(pid: i32) -> BTreeMap<String, String> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

fn ns(pid: &str, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .map(|p| p.display().to_string())
        .unwrap_or_else(|e| format!("({e})"))
}

fn fds(pid: i32) -> Vec<(i32, PathBuf)> {
    let mut out: Vec<(i32, PathBuf)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| {
                let e = e.ok()?;
                let fd = e.file_name().to_str()?.parse().ok()?;
                Some((fd, std::fs::read_link(e.path()).ok()?))
            })
            .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn check(ok: &mut bool, cond: bool, what: &str) {
    println!("  [{}] {what}", if cond { "ok" } else { "FAILED" });
    *ok &= cond;
}

/// Prints the chain, namespaces, cgroups and descriptors, and checks each.
fn report(me: i32, init: i32, child: i32, cgroup: &str) -> bool {
    let mut ok = true;

    // The chain, from the child up through PPid to this process.
    println!("== the chain, walked up from the container's child through /proc/PID/status PPid ==");
    let mut chain = vec![child];
    let mut at = child;
    while at != me && at > 1 && chain.len() < 16 {
        at = status(at)
            .get("PPid")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        chain.push(at);
    }
    chain.reverse();
    let nspid = |pid: i32| -> Vec<String> {
        status(pid)
            .get("NSpid")
            .map(|v| v.split_whitespace().map(String::from).collect())
            .unwrap_or_default()
    };
    for (depth, pid) in chain.iter().enumerate() {
        let name = status(*pid).get("Name").cloned().unwrap_or_default();
        let role = match *pid {
            p if p == me => "the runtime (this process): created and started the container".into(),
            p if p == init => format!("container init; NSpid {}", nspid(p).join(" ")),
            p if p == child => format!("its child; NSpid {}", nspid(p).join(" ")),
            _ => String::new(),
        };
        let indent = if depth == 0 {
            String::new()
        } else {
            format!("{}└─ ", "    ".repeat(depth - 1))
        };
        println!("  {indent}{name}({pid})  {role}");
    }
    check(
        &mut ok,
        chain == [me, init, child],
        "runtime -> container init -> child, each the parent of the next",
    );
    let init_ns = nspid(init);
    check(
        &mut ok,
        init_ns.len() == 2 && init_ns[1] == "1",
        &format!(
            "the init is pid 1 in its own pid namespace (NSpid {})",
            init_ns.join(" ")
        ),
    );
    let child_ns = nspid(child);
    check(
        &mut ok,
        child_ns.len() == 2 && child_ns[1] != "1",
        &format!(
            "the child has a pid in the same namespace (NSpid {})",
            child_ns.join(" ")
        ),
    );

    // Namespaces: /proc/PID/ns links, compared with the host's (this process, which the
    // runtime never moves).
    println!("\n== namespaces: readlink /proc/PID/ns/KIND ==");
    println!(
        "  {:<8} {:<22} {:<22} {:<22}",
        "kind", "host (runtime)", "init", "child"
    );
    let (me_s, init_s, child_s) = (me.to_string(), init.to_string(), child.to_string());
    let mut differ = Vec::new();
    for kind in NEW_KINDS.iter().chain(SHARED_KINDS.iter()) {
        let (h, i, c) = (ns(&me_s, kind), ns(&init_s, kind), ns(&child_s, kind));
        println!("  {kind:<8} {h:<22} {i:<22} {c:<22}");
        if NEW_KINDS.contains(kind) {
            if h != i && i == c {
                differ.push(*kind);
            }
        } else if h != i || i != c {
            check(&mut ok, false, &format!("{kind} should be the host's"));
        }
    }
    check(
        &mut ok,
        differ.len() == NEW_KINDS.len(),
        &format!(
            "namespaces {} differ from the host's and are shared by init and child",
            differ.join(" ")
        ),
    );

    // The cgroup, as the host sees it.
    println!("\n== cgroup: /proc/PID/cgroup of the init ==");
    let cg = std::fs::read_to_string(format!("/proc/{init}/cgroup")).unwrap_or_default();
    for line in cg.lines() {
        println!("  {line}");
    }
    let child_cg = std::fs::read_to_string(format!("/proc/{child}/cgroup")).unwrap_or_default();
    let in_cgroup = cg
        .lines()
        .filter(|l| !l.contains("name="))
        .all(|l| l.ends_with(cgroup));
    check(
        &mut ok,
        in_cgroup && !cg.is_empty() && child_cg == cg,
        &format!("init and child are in the cgroup {cgroup} in every hierarchy"),
    );

    // Open descriptors.
    println!("\n== descriptors: ls -l /proc/PID/fd ==");
    for (label, pid) in [("init", init), ("child", child)] {
        println!("  {label} ({pid}):");
        for (fd, target) in fds(pid) {
            println!("    {fd} -> {}", target.display());
        }
    }
    let init_fds: Vec<i32> = fds(init).into_iter().map(|(fd, _)| fd).collect();
    check(
        &mut ok,
        init_fds.iter().all(|fd| *fd <= 2),
        "the init holds only stdin, stdout and stderr: nothing of the runtime crossed the exec",
    );
    ok
}
