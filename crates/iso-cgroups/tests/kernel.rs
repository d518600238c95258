//! Kernel tests: every limit proven against the running kernel.
//!
//! Each test works in its own cgroup `/iso-test-<pid>-<tag>-<n>` (absolute, so it never
//! nests under the test runner's own cgroup), removed by a guard even on failure. Tests
//! named `vm_*` need a pure cgroup v2 host and run in the QEMU guest.

use std::io::Write;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use iso_cgroups::*;
use iso_sys::Pid;

struct Guard(Cgroup);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.thaw();
        let _ = self.0.kill();
        let _ = self.0.delete();
    }
}

fn test_cgroup(layout: &Layout, tag: &str) -> Guard {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let path = CgroupPath::new(&format!("/iso-test-{}-{tag}-{n}", std::process::id())).unwrap();
    Guard(Cgroup::create(layout, path).unwrap())
}

fn pid_of(c: &Child) -> Pid {
    Pid::from_raw(c.id() as i32).unwrap()
}

fn spawn(args: &[&str]) -> Child {
    Command::new(args[0]).args(&args[1..]).spawn().unwrap()
}

/// utime + stime of a process in clock ticks, from /proc/PID/stat.
fn cpu_ticks(pid: Pid) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    // fields 14 and 15 of stat; after the comm, index 0 is field 3.
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "gave up waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

// ---------------------------------------------------------------- shared proofs

fn prove_pids(layout: &Layout) {
    if layout.owner(Controller::Pids).is_none() {
        eprintln!("skipped: no pids controller");
        return;
    }
    let g = test_cgroup(layout, "pids");
    g.0.apply(&Resources {
        pids: Some(Pids {
            limit: Some(Limit::Value(4)),
        }),
        ..Default::default()
    })
    .unwrap();
    let cg = g.0.clone();
    iso_testutil::in_child(move || {
        cg.add_process(Pid::this()).map_err(|e| e.to_string())?;
        let mut kids = Vec::new();
        let err = loop {
            // SAFETY: the child only pauses until killed.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                loop {
                    // SAFETY: pause has no preconditions.
                    unsafe { libc::pause() };
                }
            }
            if pid < 0 {
                break errno();
            }
            kids.push(pid);
            if kids.len() > 10 {
                break 0;
            }
        };
        let current = cg.stats().map_err(|e| e.to_string())?.pids.current;
        for k in &kids {
            // SAFETY: k is our child.
            unsafe {
                libc::kill(*k, libc::SIGKILL);
                libc::waitpid(*k, std::ptr::null_mut(), 0);
            }
        }
        if err != libc::EAGAIN || kids.len() != 3 || current != 4 {
            return Err(format!(
                "forks {} then errno {err}, pids.current {current}",
                kids.len()
            ));
        }
        Ok(())
    });
    // Limit 0 is a real limit: nothing may join by fork, but the value is accepted.
    g.0.apply(&Resources {
        pids: Some(Pids {
            limit: Some(Limit::Value(0)),
        }),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(g.0.stats().unwrap().pids.limit, Some(0));
    g.0.apply(&Resources {
        pids: Some(Pids {
            limit: Some(Limit::Max),
        }),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(g.0.stats().unwrap().pids.limit, None);
}

fn prove_memory_oom(layout: &Layout) {
    if layout.owner(Controller::Memory).is_none() {
        eprintln!("skipped: no memory controller");
        return;
    }
    let g = test_cgroup(layout, "oom");
    let limit = 32 << 20;
    let mem = Memory {
        limit: Some(Limit::Value(limit)),
        swap: None,
        ..Default::default()
    };
    g.0.apply(&Resources {
        memory: Some(mem),
        ..Default::default()
    })
    .unwrap();
    // No swap escape: where swap is accounted, cap memory+swap at the same value.
    let with_swap = Memory {
        limit: Some(Limit::Value(limit)),
        swap: Some(Limit::Value(limit)),
        ..Default::default()
    };
    let _ = g.0.apply(&Resources {
        memory: Some(with_swap),
        ..Default::default()
    });
    assert_eq!(g.0.stats().unwrap().memory.limit, Some(limit));
    let cg = g.0.clone();
    iso_testutil::in_child(move || {
        cg.add_process(Pid::this()).map_err(|e| e.to_string())?;
        // SAFETY: the child allocates and touches 256 MiB, then exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let v = vec![1u8; 256 << 20];
            // SAFETY: plain exit of the forked child.
            unsafe { libc::_exit(i32::from(v[v.len() - 1])) };
        }
        let mut status = 0;
        // SAFETY: pid is our child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        if !(libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL) {
            return Err(format!(
                "allocating child was not OOM-killed: status {status:#x}"
            ));
        }
        Ok(())
    });
    let s = g.0.stats().unwrap();
    assert!(
        s.memory.oom_kill_events >= 1,
        "OOM kill not counted: {:?}",
        s.memory
    );
    assert_eq!(
        s.memory.max_usage, limit,
        "peak not at the limit: {:?}",
        s.memory
    );
}

fn affinity() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: set is a valid cpu_set_t of the size passed.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    assert_eq!(r, 0);
    // SAFETY: CPU_ISSET reads the set.
    (0..libc::CPU_SETSIZE as usize)
        .filter(|c| unsafe { libc::CPU_ISSET(*c, &set) })
        .collect()
}

fn prove_cpuset(layout: &Layout) {
    if layout.owner(Controller::Cpuset).is_none() {
        eprintln!("skipped: no cpuset controller");
        return;
    }
    let n = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let g = test_cgroup(layout, "cpuset");
    for cpu in [0, n - 1] {
        let cpus = Cpu {
            cpus: Some(cpu.to_string()),
            mems: Some("0".into()),
            ..Default::default()
        };
        g.0.apply(&Resources {
            cpu: Some(cpus),
            ..Default::default()
        })
        .unwrap();
        let cg = g.0.clone();
        iso_testutil::in_child(move || {
            cg.add_process(Pid::this()).map_err(|e| e.to_string())?;
            let got = affinity();
            if got != vec![cpu] {
                return Err(format!("affinity {got:?}, wanted [{cpu}]"));
            }
            Ok(())
        });
    }
}

fn prove_freeze(layout: &Layout) {
    if layout.owner(Controller::Freezer).is_none() {
        eprintln!("skipped: no freezer");
        return;
    }
    let g = test_cgroup(layout, "freeze");
    let mut busy = spawn(&["sh", "-c", "while :; do :; done"]);
    let pid = pid_of(&busy);
    g.0.add_process(pid).unwrap();
    wait_until("busy loop to use CPU", || cpu_ticks(pid) > 0);
    g.0.freeze().unwrap();
    assert_eq!(g.0.freezer_state().unwrap(), FreezerState::Frozen);
    let t1 = cpu_ticks(pid);
    std::thread::sleep(Duration::from_millis(300));
    let t2 = cpu_ticks(pid);
    assert_eq!(t1, t2, "a frozen process kept running");
    g.0.thaw().unwrap();
    assert_eq!(g.0.freezer_state().unwrap(), FreezerState::Thawed);
    wait_until("the thawed loop to run again", || cpu_ticks(pid) > t2);
    g.0.kill().unwrap();
    let _ = busy.wait();
}

fn prove_kill(layout: &Layout) {
    let g = test_cgroup(layout, "kill");
    let mut kids: Vec<Child> = (0..3).map(|_| spawn(&["sleep", "100"])).collect();
    // A process that keeps forking: kill must still leave the cgroup empty.
    // It waits for a line on stdin before forking, so that every child it makes is born
    // inside the cgroup (one forked before the move would escape the kill).
    let mut forker = Command::new("sh")
        .args(["-c", "read go; while :; do sleep 100 & sleep 0.01; done"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let gate = forker.stdin.take().unwrap();
    kids.push(forker);
    for k in &kids {
        g.0.add_process(pid_of(k)).unwrap();
    }
    writeln!(&gate, "go").unwrap();
    wait_until("the forker to fork", || {
        g.0.procs_recursive().unwrap().len() > 5
    });
    g.0.kill().unwrap();
    assert!(g.0.procs_recursive().unwrap().is_empty());
    for mut k in kids {
        let st = k.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&st),
            Some(libc::SIGKILL)
        );
    }
    g.0.delete().unwrap();
    for (_, dir) in g.0.dirs() {
        assert!(!dir.exists(), "{dir:?} left behind");
    }
}

/// `kill_and_wait` returns only once no task is left in any hierarchy (v2 `populated 0`, v1
/// `tasks` empty): children of this test, and grandchildren that the kill orphans. Once all
/// are reaped, `pids.current` is 0 and `rmdir` succeeds at once.
fn prove_kill_and_wait(layout: &Layout) {
    let g = test_cgroup(layout, "killwait");
    assert!(!g.0.is_populated().unwrap());
    let quiet = |args: &[&str]| {
        Command::new(args[0])
            .args(&args[1..])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut kids: Vec<Child> = (0..3).map(|_| quiet(&["sleep", "100"])).collect();
    // The shell waits for a line before forking, so that its children are born inside.
    let mut parent = Command::new("sh")
        .args(["-c", "read go; sleep 100 & sleep 100 & echo forked; wait"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let gate = parent.stdin.take().unwrap();
    let mut forked = std::io::BufReader::new(parent.stdout.take().unwrap());
    kids.push(parent);
    for k in &kids {
        g.0.add_process(Pid::from(k)).unwrap();
    }
    writeln!(&gate, "go").unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut forked, &mut line).unwrap();
    assert_eq!(line, "forked\n");
    assert!(g.0.is_populated().unwrap());
    g.0.kill_and_wait().unwrap();
    assert!(!g.0.is_populated().unwrap());
    for mut k in kids {
        k.wait().unwrap();
    }
    if layout.owner(Controller::Pids).is_some() {
        // The shell's children were orphaned: their new parent (PID 1) reaps them, not us,
        // and some inits take a second or more.
        wait_until("pids.current 0", || g.0.stats().unwrap().pids.current == 0);
    }
    g.0.delete().unwrap();
}

fn prove_join(layout: &Layout) {
    let g = test_cgroup(layout, "join");
    let mut child = spawn(&["sleep", "100"]);
    let pid = pid_of(&child);
    g.0.add_process(pid).unwrap();
    assert_eq!(g.0.procs().unwrap(), vec![pid]);
    // The process is in the same path in every hierarchy of the layout.
    let membership = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let hits = membership
        .lines()
        .filter(|l| l.ends_with(g.0.path().as_str()))
        .count();
    assert_eq!(hits, layout.hierarchies().count(), "{membership}");
    g.0.kill().unwrap();
    let _ = child.wait();
}

/// A forked child moves itself in with files opened before the fork; a cgroup that refuses
/// tasks names the file.
fn prove_prepared_join(layout: &Layout) {
    let g = test_cgroup(layout, "prepjoin");
    let join = g.0.prepare_join().unwrap();
    assert_eq!(join.files().count(), layout.hierarchies().count());
    let expected = g.0.path().as_str().to_string();
    iso_testutil::in_child(move || {
        join.join_self().map_err(|e| e.to_string())?;
        let membership = std::fs::read_to_string("/proc/self/cgroup").map_err(|e| e.to_string())?;
        let hits = membership
            .lines()
            .filter(|l| l.ends_with(&expected))
            .count();
        if hits != join.files().count() {
            return Err(format!("not in {expected} everywhere: {membership}"));
        }
        Ok(())
    });
    assert!(g.0.procs().unwrap().is_empty(), "the child was reaped");
    // A v1 cpuset child made with a bare mkdir has no CPUs: it refuses tasks with ENOSPC.
    if let Some(h) = layout.owner(Controller::Cpuset) {
        if h.version == Version::V1 {
            let dir = g.0.path().dir_in(&h.mount_point).join("no-cpus");
            std::fs::create_dir(&dir).unwrap();
            let join = PreparedJoin::open([&dir]).unwrap();
            let refused = std::panic::catch_unwind(|| {
                iso_testutil::in_child(|| match join.join_self() {
                    Err(Error::Join { index: 0, source })
                        if source.raw_os_error() == Some(libc::ENOSPC) =>
                    {
                        Ok(())
                    }
                    other => Err(format!("expected Join #0 ENOSPC, got {other:?}")),
                })
            });
            std::fs::remove_dir(&dir).unwrap();
            assert!(refused.is_ok(), "see the child's message above");
        }
    }
}

/// A child cloned into the v2 directory (`clone3` with `CLONE_INTO_CGROUP`) that joins the
/// v1 hierarchies itself is in the cgroup in every hierarchy without ever being moved in v2.
fn prove_born_in_v2(layout: &Layout) {
    let g = test_cgroup(layout, "born");
    let Some(dir) = g.0.open_v2_dir().unwrap() else {
        eprintln!("skipped: no v2 hierarchy");
        return;
    };
    let join_v1 = g.0.prepare_join_v1().unwrap();
    let mut ends = [0; 2];
    // SAFETY: pipe writes two descriptors into a live array.
    assert_eq!(unsafe { libc::pipe(ends.as_mut_ptr()) }, 0);
    let [joined_r, joined_w] = ends;
    assert!(join_v1.files().all(|f| f.ends_with("tasks")));
    assert_eq!(
        join_v1.files().count(),
        layout
            .hierarchies()
            .filter(|h| h.version == Version::V1)
            .count()
    );
    #[repr(C)]
    #[derive(Default)]
    struct CloneArgs([u64; 11]);
    let mut args = CloneArgs::default();
    args.0[0] = 0x2_0000_0000; // CLONE_INTO_CGROUP
    args.0[4] = libc::SIGCHLD as u64; // exit_signal
    args.0[10] = std::os::fd::AsRawFd::as_raw_fd(&dir) as u64; // cgroup

    // SAFETY: clone3 without CLONE_VM behaves like fork; the child only joins its v1 cgroups
    // (no allocation), reports on a pipe and pauses until it is killed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if ret == 0 {
        let joined: &[u8] = if join_v1.join_self().is_ok() {
            b"y"
        } else {
            b"n"
        };
        // SAFETY: async-signal-safe calls only, in the child: it reports and waits to be
        // killed.
        unsafe {
            libc::write(joined_w, joined.as_ptr().cast(), 1);
            libc::pause();
            libc::_exit(0);
        }
    }
    assert!(ret > 0, "clone3: {}", std::io::Error::last_os_error());
    let pid = Pid::from_raw(ret as i32).unwrap();
    // SAFETY: closing our copy of the write end, which this function owns.
    unsafe { libc::close(joined_w) };
    let mut joined = [0u8; 1];
    // SAFETY: reading one byte into a live buffer from the pipe this function owns.
    let n = unsafe { libc::read(joined_r, joined.as_mut_ptr().cast(), 1) };
    // SAFETY: as above.
    unsafe { libc::close(joined_r) };
    assert_eq!((n, joined[0]), (1, b'y'), "the child could not join v1");
    let membership = || std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        membership()
            .lines()
            .any(|l| l == format!("0::{}", g.0.path().as_str())),
        "born outside its v2 cgroup: {}",
        membership()
    );
    let hits = membership()
        .lines()
        .filter(|l| l.ends_with(g.0.path().as_str()))
        .count();
    assert_eq!(hits, layout.hierarchies().count(), "{}", membership());
    g.0.kill().unwrap();
    // SAFETY: reaping our own child.
    unsafe { libc::waitpid(pid.as_raw(), std::ptr::null_mut(), 0) };
}

fn prove_devices_ebpf(layout: &Layout) {
    let tmp = iso_testutil::TempDir::new("cgdev");
    let node = tmp.path().join("null");
    let c = std::ffi::CString::new(node.to_str().unwrap()).unwrap();
    // SAFETY: c is a valid path; makedev(1, 3) is /dev/null.
    assert_eq!(
        unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) },
        0
    );
    let zero = std::ffi::CString::new("/dev/zero").unwrap();
    let g = test_cgroup(layout, "dev");
    let all = DeviceAccess::all();
    g.0.apply(&Resources {
        devices: vec![
            DeviceRule {
                allow: false,
                kind: DeviceKind::All,
                major: None,
                minor: None,
                access: all,
            },
            DeviceRule {
                allow: true,
                kind: DeviceKind::Char,
                major: Some(1),
                minor: Some(5),
                access: all,
            },
            DeviceRule {
                allow: true,
                kind: DeviceKind::Char,
                major: Some(1),
                minor: Some(3),
                access: DeviceAccess::READ,
            },
        ],
        ..Default::default()
    })
    .unwrap();
    let cg = g.0.clone();
    iso_testutil::in_child(move || {
        // SAFETY: c is a valid path.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDWR) };
        if fd < 0 {
            return Err("open before joining failed".into());
        }
        // SAFETY: fd is ours.
        unsafe { libc::close(fd) };
        cg.add_process(Pid::this()).map_err(|e| e.to_string())?;
        // SAFETY: c is a valid path.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDWR) };
        let e = errno();
        if fd >= 0 || e != libc::EPERM {
            return Err(format!(
                "write-open of 1:3 was not refused with EPERM (fd {fd}, errno {e})"
            ));
        }
        // SAFETY: c is a valid path.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY) };
        if fd < 0 {
            return Err(format!("read-open of 1:3 refused: errno {}", errno()));
        }
        // SAFETY: fd is ours; zero is a valid path.
        let fd2 = unsafe {
            libc::close(fd);
            libc::open(zero.as_ptr(), libc::O_RDWR)
        };
        if fd2 < 0 {
            return Err(format!("allowed /dev/zero refused: errno {}", errno()));
        }
        Ok(())
    });
}

/// Re-applying device rules on v2 replaces the attached program: a later allow-all
/// widens an earlier deny-all (with both attached, the deny would still win).
fn prove_device_rules_replace(layout: &Layout) {
    let tmp = iso_testutil::TempDir::new("cgdev2");
    let node = tmp.path().join("null");
    let c = std::ffi::CString::new(node.to_str().unwrap()).unwrap();
    // SAFETY: c is a valid path; makedev(1, 3) is /dev/null.
    assert_eq!(
        unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) },
        0
    );
    let g = test_cgroup(layout, "devrep");
    let rule = |allow| DeviceRule {
        allow,
        kind: DeviceKind::All,
        major: None,
        minor: None,
        access: DeviceAccess::all(),
    };
    let open_errno = |cg: Cgroup, c: std::ffi::CString, want: i32| {
        iso_testutil::in_child(move || {
            cg.add_process(Pid::this()).map_err(|e| e.to_string())?;
            // SAFETY: c is a valid path.
            let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY) };
            let got = if fd < 0 { errno() } else { 0 };
            if got != want {
                return Err(format!("open gave errno {got}, wanted {want}"));
            }
            Ok(())
        })
    };
    g.0.apply(&Resources {
        devices: vec![rule(false)],
        ..Default::default()
    })
    .unwrap();
    open_errno(g.0.clone(), c.clone(), libc::EPERM);
    g.0.apply(&Resources {
        devices: vec![rule(true)],
        ..Default::default()
    })
    .unwrap();
    open_errno(g.0.clone(), c.clone(), 0);
    g.0.apply(&Resources {
        devices: vec![rule(false)],
        ..Default::default()
    })
    .unwrap();
    open_errno(g.0.clone(), c, libc::EPERM);
}

/// checkBeforeUpdate refuses a limit below the current usage; without it the kernel
/// reclaims (or fails) on its own.
fn prove_check_before_update(layout: &Layout) {
    if layout.owner(Controller::Memory).is_none() {
        return;
    }
    let g = test_cgroup(layout, "cbu");
    let cg = g.0.clone();
    iso_testutil::in_child(move || {
        cg.add_process(Pid::this()).map_err(|e| e.to_string())?;
        let held = vec![1u8; 16 << 20];
        let low = Memory {
            limit: Some(Limit::Value(1 << 20)),
            check_before_update: Some(true),
            ..Default::default()
        };
        let r = cg.apply(&Resources {
            memory: Some(low),
            ..Default::default()
        });
        let field = r.as_ref().err().and_then(|e| e.field().map(str::to_string));
        if field.as_deref() != Some("memory.limit") {
            return Err(format!("expected a memory.limit refusal, got {r:?}"));
        }
        let high = Memory {
            limit: Some(Limit::Value(512 << 20)),
            check_before_update: Some(true),
            ..Default::default()
        };
        cg.apply(&Resources {
            memory: Some(high),
            ..Default::default()
        })
        .map_err(|e| e.to_string())?;
        std::hint::black_box(&held);
        Ok(())
    });
}

// ---------------------------------------------------------------- this host (v1 / hybrid)

fn host() -> Option<Layout> {
    if !iso_testutil::root_or_skip() {
        return None;
    }
    Some(Layout::detect().unwrap())
}

#[test]
fn layout_owners_exist() {
    let Some(layout) = host() else { return };
    for c in Controller::ALL {
        if let Some(h) = layout.owner(c) {
            assert!(h.mount_point.is_dir(), "{c:?} owner {:?}", h.mount_point);
        }
    }
    if layout.mode() == Mode::Hybrid {
        let u = layout.unified().unwrap();
        assert!(!u.owns(Controller::Memory) || layout.owner(Controller::Memory) == Some(u));
    }
}

#[test]
fn join_every_hierarchy() {
    let Some(layout) = host() else { return };
    prove_join(&layout);
}

#[test]
fn prepared_join_from_a_child() {
    let Some(layout) = host() else { return };
    prove_prepared_join(&layout);
}

#[test]
fn born_in_v2_then_joined_in_v1() {
    let Some(layout) = host() else { return };
    prove_born_in_v2(&layout);
}

#[test]
fn pids_limit_stops_fork_loop() {
    let Some(layout) = host() else { return };
    prove_pids(&layout);
}

#[test]
fn memory_limit_oom_kills_and_counts() {
    let Some(layout) = host() else { return };
    prove_memory_oom(&layout);
}

#[test]
fn cpuset_pins_affinity() {
    let Some(layout) = host() else { return };
    prove_cpuset(&layout);
}

#[test]
fn freeze_stops_busy_process() {
    let Some(layout) = host() else { return };
    prove_freeze(&layout);
}

#[test]
fn kill_leaves_cgroup_empty() {
    let Some(layout) = host() else { return };
    prove_kill(&layout);
}

#[test]
fn kill_and_wait_leaves_no_task() {
    let Some(layout) = host() else { return };
    prove_kill_and_wait(&layout);
}

#[test]
fn v1_devices_deny_eperm() {
    let Some(layout) = host() else { return };
    match layout.owner(Controller::Devices) {
        Some(h) if h.version == Version::V1 => prove_devices_ebpf(&layout),
        _ => eprintln!("skipped: devices is not a v1 controller here"),
    }
}

#[test]
fn memory_check_before_update() {
    let Some(layout) = host() else { return };
    prove_check_before_update(&layout);
}

#[test]
fn blkio_v1_throttle_files() {
    let Some(layout) = host() else { return };
    let Some(h) = layout.owner(Controller::Blkio) else {
        return;
    };
    if h.version != Version::V1 {
        return;
    }
    // Any block device works for a throttle rule; loop0 (7:0) exists on most hosts.
    let Ok(dev) = std::fs::read_to_string("/sys/block/loop0/dev") else {
        eprintln!("skipped: no loop0");
        return;
    };
    let (maj, min) = dev.trim().split_once(':').unwrap();
    let (major, minor) = (maj.parse().unwrap(), min.parse().unwrap());
    let g = test_cgroup(&layout, "blkio");
    let dir = g.0.path().dir_in(&h.mount_point);
    let rd = |f: &str| {
        std::fs::read_to_string(dir.join(f))
            .unwrap()
            .trim()
            .to_string()
    };
    let set = |rate| BlockIo {
        throttle_read_bps_device: vec![ThrottleDevice { major, minor, rate }],
        throttle_write_iops_device: vec![ThrottleDevice { major, minor, rate }],
        ..Default::default()
    };
    g.0.apply(&Resources {
        block_io: Some(set(1 << 20)),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        rd("blkio.throttle.read_bps_device"),
        format!("{major}:{minor} 1048576")
    );
    assert_eq!(
        rd("blkio.throttle.write_iops_device"),
        format!("{major}:{minor} 1048576")
    );
    // A rate of 0 removes the rule.
    g.0.apply(&Resources {
        block_io: Some(set(0)),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(rd("blkio.throttle.read_bps_device"), "");
    let weight = Resources {
        block_io: Some(BlockIo {
            weight: Some(500),
            ..Default::default()
        }),
        ..Default::default()
    };
    if let Err(e) = g.0.apply(&weight) {
        assert_eq!(e.field(), Some("blockIO.weight"));
    }
}

#[test]
fn cpu_v1_files_and_stats() {
    let Some(layout) = host() else { return };
    let Some(h) = layout.owner(Controller::Cpu) else {
        return;
    };
    if h.version != Version::V1 {
        return;
    }
    let g = test_cgroup(&layout, "cpu");
    let cpu = Cpu {
        shares: Some(512),
        quota: Some(Limit::Value(20_000)),
        period: Some(100_000),
        burst: Some(1000),
        idle: Some(0),
        ..Default::default()
    };
    g.0.apply(&Resources {
        cpu: Some(cpu),
        ..Default::default()
    })
    .unwrap();
    let dir = g.0.path().dir_in(&h.mount_point);
    let rd = |f: &str| {
        std::fs::read_to_string(dir.join(f))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(rd("cpu.shares"), "512");
    assert_eq!(rd("cpu.cfs_quota_us"), "20000");
    assert_eq!(rd("cpu.cfs_burst_us"), "1000");
    // Unlimited is distinct from unset.
    let max = Cpu {
        quota: Some(Limit::Max),
        ..Default::default()
    };
    g.0.apply(&Resources {
        cpu: Some(max),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(rd("cpu.cfs_quota_us"), "-1");
    assert_eq!(rd("cpu.shares"), "512");
    // A busy process is throttled at 20 % and accounted.
    g.0.apply(&Resources {
        cpu: Some(Cpu {
            quota: Some(Limit::Value(20_000)),
            ..Default::default()
        }),
        ..Default::default()
    })
    .unwrap();
    let mut busy = spawn(&["sh", "-c", "while :; do :; done"]);
    g.0.add_process(pid_of(&busy)).unwrap();
    wait_until("throttling", || {
        g.0.stats().unwrap().cpu.throttled_periods > 0
    });
    assert!(g.0.stats().unwrap().cpu.usage_total_ns > 0);
    g.0.kill().unwrap();
    let _ = busy.wait();
}

#[test]
fn errors_name_the_field() {
    let Some(layout) = host() else { return };
    let g = test_cgroup(&layout, "err");
    let r = Resources {
        pids: Some(Pids {
            limit: Some(Limit::Value(5)),
        }),
        ..Default::default()
    };
    g.0.apply(&r).unwrap();
    let bad = Resources {
        cpu: Some(Cpu {
            cpus: Some("0-".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(g.0.apply(&bad).unwrap_err().field(), Some("cpu.cpus"));
    // A CPU that does not exist passes validation and is refused by the kernel.
    let absent = Resources {
        cpu: Some(Cpu {
            cpus: Some("4000".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    if layout.owner(Controller::Cpuset).is_some() {
        let e = g.0.apply(&absent).unwrap_err();
        assert_eq!(e.field(), Some("cpu.cpus"));
        assert!(e.errno().is_some(), "{e}");
    }
    if layout.owner(Controller::NetCls).is_none() {
        let net = Resources {
            network: Some(Network {
                class_id: Some(1),
                priorities: vec![],
            }),
            ..Default::default()
        };
        assert_eq!(
            g.0.apply(&net).unwrap_err().field(),
            Some("network.classID")
        );
    }
}

/// The host's own cgroup2 mount on a hybrid host: create, join, freeze, kill, the eBPF
/// device filter, hugetlb.
#[test]
fn hybrid_unified_mount() {
    let Some(layout) = host() else { return };
    if layout.mode() != Mode::Hybrid {
        eprintln!("skipped: not a hybrid host");
        return;
    }
    let v2 = layout.unified_only().unwrap();
    prove_join(&v2);
    prove_freeze(&v2);
    prove_kill(&v2);
    // The eBPF device filter attaches to the cgroup2 mount of a hybrid host too.
    prove_devices_ebpf(&v2);
    prove_device_rules_replace(&v2);
    if v2.owner(Controller::Hugetlb).is_some() {
        prove_hugetlb(&v2);
    }
}

fn prove_hugetlb(layout: &Layout) {
    let sizes = hugepage_sizes();
    let Some(size) = sizes
        .iter()
        .find(|s| *s == "2MB")
        .or(sizes.first())
        .cloned()
    else {
        eprintln!("skipped: no huge page sizes");
        return;
    };
    let g = test_cgroup(layout, "huge");
    let (h, dir) = layout
        .owner(Controller::Hugetlb)
        .map(|h| (h, g.0.path().dir_in(&h.mount_point)))
        .unwrap();
    g.0.apply(&Resources {
        hugepage_limits: vec![HugepageLimit {
            page_size: size.clone(),
            limit: 4 << 20,
        }],
        ..Default::default()
    })
    .unwrap();
    let file = match h.version {
        Version::V1 => format!("hugetlb.{size}.limit_in_bytes"),
        Version::V2 => format!("hugetlb.{size}.max"),
    };
    let got = std::fs::read_to_string(dir.join(file)).unwrap();
    assert_eq!(got.trim(), (4u64 << 20).to_string());
    let s = g.0.stats().unwrap();
    assert!(s.hugetlb.contains_key(&size), "{:?}", s.hugetlb);
    let bad = Resources {
        hugepage_limits: vec![HugepageLimit {
            page_size: "3MB".into(),
            limit: 1,
        }],
        ..Default::default()
    };
    assert_eq!(g.0.apply(&bad).unwrap_err().field(), Some("hugepageLimits"));
}

// ---------------------------------------------------------------- property test

mod prop {
    use super::*;
    use proptest::prelude::*;

    fn limit() -> impl Strategy<Value = Option<Limit>> {
        prop_oneof![
            Just(None),
            Just(Some(Limit::Max)),
            (0u64..1 << 40).prop_map(|v| Some(Limit::Value(v)))
        ]
    }

    fn resources() -> impl Strategy<Value = Resources> {
        let pids = proptest::option::of(proptest::option::of(0u64..100).prop_map(|v| Pids {
            limit: v.map(Limit::Value),
        }));
        let memory = proptest::option::of(
            (
                limit(),
                limit(),
                limit(),
                proptest::option::of(0u64..200),
                proptest::option::of(any::<bool>()),
                limit(),
            )
                .prop_map(|(l, r, s, sw, oom, k)| Memory {
                    limit: l,
                    reservation: r,
                    swap: s,
                    swappiness: sw,
                    disable_oom_killer: oom,
                    kernel_tcp: k,
                    check_before_update: Some(true),
                    ..Default::default()
                }),
        );
        let cpus = proptest::option::of(prop_oneof![
            Just("0".to_string()),
            Just("0-1".into()),
            Just("x".into()),
            Just("999".into()),
            Just("".into())
        ]);
        let cpu = proptest::option::of(
            (
                proptest::option::of(0u64..300_000),
                limit(),
                proptest::option::of(0u64..2_000_000),
                proptest::option::of(0u64..200_000),
                cpus,
                proptest::option::of(-2i64..3),
                proptest::option::of(-2i64..100_000),
            )
                .prop_map(|(shares, quota, period, burst, cpus, idle, rt)| Cpu {
                    shares,
                    quota,
                    period,
                    burst,
                    cpus,
                    idle,
                    realtime_runtime: rt,
                    ..Default::default()
                }),
        );
        let dev = (
            any::<bool>(),
            0u8..3,
            proptest::option::of(0u32..300),
            proptest::option::of(0u32..10),
            0u8..8,
        )
            .prop_map(|(allow, k, major, minor, a)| DeviceRule {
                allow,
                kind: [DeviceKind::All, DeviceKind::Char, DeviceKind::Block][k as usize],
                major,
                minor,
                access: DeviceAccess::from_bits_truncate(a),
            });
        let huge = proptest::collection::vec(
            (
                prop_oneof![
                    Just("2MB".to_string()),
                    Just("1GB".into()),
                    Just("3MB".into()),
                    Just("a/b".into())
                ],
                0u64..1 << 30,
            )
                .prop_map(|(page_size, limit)| HugepageLimit { page_size, limit }),
            0..2,
        );
        let unified = proptest::collection::btree_map(
            prop_oneof![
                Just("hugetlb.2MB.max".to_string()),
                Just("nosuch.file".into()),
                Just("../x".into())
            ],
            prop_oneof![
                Just("max".to_string()),
                Just("1048576".into()),
                Just("junk".into())
            ],
            0..2,
        );
        let blk = proptest::option::of(
            (
                proptest::option::of(0u16..1200),
                proptest::option::of(0u64..10),
            )
                .prop_map(|(w, rate)| BlockIo {
                    weight: w,
                    throttle_read_bps_device: rate
                        .map(|r| ThrottleDevice {
                            major: 1,
                            minor: 3,
                            rate: r,
                        })
                        .into_iter()
                        .collect(),
                    ..Default::default()
                }),
        );
        (
            pids,
            memory,
            cpu,
            proptest::collection::vec(dev, 0..4),
            huge,
            unified,
            blk,
            proptest::option::of(0u32..10),
        )
            .prop_map(
                |(pids, memory, cpu, devices, hugepage_limits, unified, block_io, class)| {
                    Resources {
                        pids,
                        memory,
                        cpu,
                        devices,
                        hugepage_limits,
                        unified,
                        block_io,
                        network: class.map(|c| Network {
                            class_id: Some(c),
                            priorities: vec![],
                        }),
                        ..Default::default()
                    }
                },
            )
    }

    #[test]
    fn any_resources_apply_or_name_the_field() {
        let Some(layout) = host() else { return };
        let g = test_cgroup(&layout, "prop");
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
            cases: 64,
            ..ProptestConfig::default()
        });
        runner
            .run(&resources(), |r| {
                if let Err(e) = g.0.apply(&r) {
                    prop_assert!(e.field().is_some(), "error without a field: {e}");
                }
                Ok(())
            })
            .unwrap();
    }
}

// ---------------------------------------------------------------- pure cgroup v2 (VM tier)

fn v2() -> Option<Layout> {
    if !iso_testutil::vm_feature_or_skip(iso_testutil::VmFeature::CgroupV2) {
        return None;
    }
    let l = Layout::detect().unwrap();
    assert_eq!(l.mode(), Mode::Unified);
    Some(l)
}

#[test]
fn vm_pids() {
    let Some(l) = v2() else { return };
    prove_pids(&l);
}

#[test]
fn vm_memory_oom() {
    let Some(l) = v2() else { return };
    prove_memory_oom(&l);
}

#[test]
fn vm_cpuset() {
    let Some(l) = v2() else { return };
    prove_cpuset(&l);
}

#[test]
fn vm_freeze_and_kill() {
    let Some(l) = v2() else { return };
    prove_join(&l);
    prove_born_in_v2(&l);
    prove_freeze(&l);
    prove_kill(&l);
    prove_kill_and_wait(&l);
}

#[test]
fn vm_device_filter_ebpf() {
    let Some(l) = v2() else { return };
    prove_devices_ebpf(&l);
    prove_device_rules_replace(&l);
}

#[test]
fn vm_hugetlb() {
    let Some(l) = v2() else { return };
    prove_hugetlb(&l);
}

#[test]
fn vm_memory_swap_unified_check() {
    let Some(l) = v2() else { return };
    prove_check_before_update(&l);
    let g = test_cgroup(&l, "swap");
    let dir = g.0.path().dir_in(&l.unified().unwrap().mount_point);
    let rd = |f: &str| {
        std::fs::read_to_string(dir.join(f))
            .unwrap()
            .trim()
            .to_string()
    };
    let mem = Memory {
        limit: Some(Limit::Value(64 << 20)),
        swap: Some(Limit::Value(96 << 20)),
        reservation: Some(Limit::Value(16 << 20)),
        ..Default::default()
    };
    let mut unified = std::collections::BTreeMap::new();
    unified.insert("memory.high".to_string(), (48u64 << 20).to_string());
    let r = Resources {
        memory: Some(mem),
        unified,
        ..Default::default()
    };
    match g.0.apply(&r) {
        Ok(()) => assert_eq!(rd("memory.swap.max"), (32u64 << 20).to_string()),
        // Kernels without swap accounting have no memory.swap.max.
        Err(e) => {
            assert_eq!(e.field(), Some("memory.swap"), "{e}");
            let r = Resources {
                memory: Some(Memory { swap: None, ..mem }),
                ..r
            };
            g.0.apply(&r).unwrap();
        }
    }
    assert_eq!(rd("memory.max"), (64u64 << 20).to_string());
    assert_eq!(rd("memory.low"), (16u64 << 20).to_string());
    assert_eq!(rd("memory.high"), (48u64 << 20).to_string());
    // Unlimited is written as max.
    g.0.apply(&Resources {
        memory: Some(Memory {
            limit: Some(Limit::Max),
            ..Default::default()
        }),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(rd("memory.max"), "max");
    // v1-only fields are refused by name.
    let sw = Resources {
        memory: Some(Memory {
            swappiness: Some(10),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        g.0.apply(&sw).unwrap_err().field(),
        Some("memory.swappiness")
    );
}

#[test]
fn vm_cpu_max_throttles() {
    let Some(l) = v2() else { return };
    let g = test_cgroup(&l, "cpumax");
    let cpu = Cpu {
        shares: Some(1024),
        quota: Some(Limit::Value(10_000)),
        period: Some(100_000),
        ..Default::default()
    };
    g.0.apply(&Resources {
        cpu: Some(cpu),
        ..Default::default()
    })
    .unwrap();
    let dir = g.0.path().dir_in(&l.unified().unwrap().mount_point);
    assert_eq!(
        std::fs::read_to_string(dir.join("cpu.max")).unwrap().trim(),
        "10000 100000"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("cpu.weight"))
            .unwrap()
            .trim(),
        "39"
    );
    let mut busy = spawn(&["sh", "-c", "while :; do :; done"]);
    g.0.add_process(pid_of(&busy)).unwrap();
    wait_until("throttling", || {
        g.0.stats().unwrap().cpu.throttled_periods > 0
    });
    g.0.kill().unwrap();
    let _ = busy.wait();
}

#[test]
fn vm_io_max_ram_disk() {
    let Some(l) = v2() else { return };
    let ok = Command::new("modprobe")
        .args(["brd", "rd_nr=1", "rd_size=8192"])
        .status()
        .map(|s| s.success());
    if ok.ok() != Some(true) || !std::path::Path::new("/dev/ram0").exists() {
        eprintln!("skipped: brd (RAM disk) module not available");
        return;
    }
    let g = test_cgroup(&l, "io");
    let blk = BlockIo {
        throttle_write_bps_device: vec![ThrottleDevice {
            major: 1,
            minor: 0,
            rate: 1 << 20,
        }],
        throttle_read_iops_device: vec![ThrottleDevice {
            major: 1,
            minor: 0,
            rate: 100,
        }],
        ..Default::default()
    };
    g.0.apply(&Resources {
        block_io: Some(blk),
        ..Default::default()
    })
    .unwrap();
    let dir = g.0.path().dir_in(&l.unified().unwrap().mount_point);
    let max = std::fs::read_to_string(dir.join("io.max")).unwrap();
    assert!(
        max.contains("1:0 rbps=max wbps=1048576 riops=100 wiops=max"),
        "{max}"
    );
    let cg = g.0.clone();
    iso_testutil::in_child(move || {
        cg.add_process(Pid::this()).map_err(|e| e.to_string())?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/ram0")
            .map_err(|e| e.to_string())?;
        std::io::Write::write_all(&mut f, &vec![7u8; 256 << 10]).map_err(|e| e.to_string())?;
        f.sync_all().map_err(|e| e.to_string())?;
        Ok(())
    });
    let s = g.0.stats().unwrap();
    let written: u64 = s
        .blkio
        .io_service_bytes
        .iter()
        .filter(|e| e.major == 1 && e.minor == 0 && e.op == "Write")
        .map(|e| e.value)
        .sum();
    assert!(written >= 256 << 10, "{:?}", s.blkio);
}
