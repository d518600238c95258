//! cgcreate + cgclassify + cpuset demo: create a cgroup, move a running process into it,
//! pin it to CPU 0, limit its tasks and memory, print what the kernel now reports, kill the
//! process and remove the group. Works on cgroup v1, v2 and hybrid hosts. Needs root.
//!
//! ```text
//! sudo cargo run --example cgroups
//! ```
//!
//! Exits 0 only when the kernel reported back every value that was set.

use std::process::{Command, ExitCode};

use iso::cgroups::{Cgroup, CgroupPath, Controller, Cpu, Layout, Limit, Memory, Pids, Resources};
use iso::sys::Pid;

const PIDS: u64 = 16;
const MEMORY: u64 = 64 << 20;

fn main() -> ExitCode {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("cgroups: run me as root (creating a cgroup needs root)");
        return ExitCode::FAILURE;
    }
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("the kernel did not report what was set");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool, Box<dyn std::error::Error>> {
    let layout = Layout::detect()?;
    println!("cgroup layout: {:?}", layout.mode());
    for h in layout.hierarchies() {
        println!(
            "  {:?} {} drives {:?}",
            h.version,
            h.mount_point.display(),
            h.controllers
        );
    }

    // cgcreate: an absolute path, the same in every hierarchy.
    let path = CgroupPath::new(&format!("/iso-example-cgroups-{}", std::process::id()))?;
    let cg = Cgroup::create(&layout, path)?;
    println!("created {}", cg.path());

    let mut child = Command::new("sleep").arg("60").spawn()?;
    let pid = Pid::from_raw(child.id() as i32).ok_or("bad pid")?;
    let result = demo(&cg, &layout, pid);

    // Clean up whatever happened above.
    let killed = cg.kill();
    let _ = child.wait();
    let deleted = cg.delete();
    println!("killed the child and removed {}", cg.path());
    let ok = result?;
    killed?;
    deleted?;
    Ok(ok)
}

fn demo(cg: &Cgroup, layout: &Layout, pid: Pid) -> Result<bool, Box<dyn std::error::Error>> {
    // Limits first, so the process never runs unconfined inside the group.
    let mut resources = Resources {
        pids: Some(Pids {
            limit: Some(Limit::Value(PIDS)),
        }),
        memory: Some(Memory {
            limit: Some(Limit::Value(MEMORY)),
            ..Memory::default()
        }),
        ..Resources::default()
    };
    if layout.owner(Controller::Cpuset).is_some() {
        resources.cpu = Some(Cpu {
            cpus: Some("0".into()),
            mems: Some("0".into()),
            ..Cpu::default()
        });
    }
    cg.apply(&resources)?;

    // cgclassify: move the running process into the group in every hierarchy.
    cg.add_process(pid)?;
    println!("moved sleep (pid {pid}) into {}", cg.path());

    let membership = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    println!("/proc/{pid}/cgroup:\n{}", membership.trim_end());
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let allowed = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(str::trim)
        .unwrap_or("?")
        .to_string();

    let stats = cg.stats()?;
    println!("kernel reports:");
    println!("  processes in group: {:?}", cg.procs()?);
    println!(
        "  pids: current {} limit {:?}",
        stats.pids.current, stats.pids.limit
    );
    println!(
        "  memory: usage {} limit {:?}",
        stats.memory.usage, stats.memory.limit
    );
    println!("  Cpus_allowed_list of the child: {allowed}");

    let mut ok = cg.procs()?.contains(&pid);
    ok &= stats.pids.limit == Some(PIDS);
    ok &= stats.memory.limit == Some(MEMORY);
    if resources.cpu.is_some() {
        ok &= allowed == "0";
    }
    Ok(ok)
}
