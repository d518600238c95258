//! A program as a dependent writes it: it depends on iso-cgroups, iso-seccomp and iso-linux
//! (the jail) and on nothing else of the workspace (no iso-sys), so every shared type it
//! names must be re-exported. `tests/dependent.rs` compiles it as its own cargo project.

use std::io;
use std::process::{Child, Command};

use iso::jail::{CommandJailExt, Jail, SeccompPolicy};
use iso_cgroups::{Cgroup, CgroupPath, Layout, Limit, Memory, Pid, Pids, Resources};
use iso_seccomp::{Action, Profile, SyscallRule, UnknownSyscalls};

const EPERM: u32 = 1;

/// A worker in its own cgroup, under a seccomp profile that denies `ptrace`.
fn start_worker(cgroup: &Cgroup) -> io::Result<Child> {
    let profile = Profile::new(Action::Allow)
        .rule(SyscallRule::new(Action::Errno(EPERM), ["ptrace"]))
        .unknown_syscalls(UnknownSyscalls::Fail);
    // Every crate's Error converts into io::Error (`?` in io code).
    let jail = Jail::new()
        .cgroup(cgroup)
        .seccomp(SeccompPolicy::Profile(profile))
        .prepare()?;
    Ok(Command::new("/bin/true").spawn_jailed(jail)?)
}

fn main() -> io::Result<()> {
    let layout = Layout::detect()?;
    let path = CgroupPath::new("/iso-dependent-example")?;
    let cgroup = Cgroup::create(&layout, path)?;
    // One shape for every controller: each limit is an Option.
    cgroup.apply(&Resources {
        pids: Some(Pids {
            limit: Some(Limit::Value(16)),
        }),
        memory: Some(Memory {
            limit: Some(Limit::Value(64 << 20)),
            ..Memory::default()
        }),
        ..Resources::default()
    })?;
    let mut worker = start_worker(&cgroup)?;
    let pid: Pid = Pid::from(&worker);
    let same = Pid::try_from(worker.id()).map_err(io::Error::other)?;
    assert_eq!(pid, same);
    let procs: Vec<Pid> = cgroup.procs()?;
    println!("worker {pid}, {} in the cgroup", procs.len());
    worker.wait()?;
    // Kill whatever is left and wait until the cgroup is really empty, then remove it.
    cgroup.kill_and_wait()?;
    cgroup.delete()?;
    // The seccomp crate alone: a profile checked for typos, compiled to BPF.
    let bpf = Profile::new(Action::Allow)
        .rule(SyscallRule::new(Action::Errno(EPERM), ["mkdir", "mkdirat"]))
        .compile()?
        .to_bpf()?;
    println!("{} BPF instructions", bpf.len());
    let _unused: Option<iso_seccomp::Pid> = None;
    Ok(())
}
