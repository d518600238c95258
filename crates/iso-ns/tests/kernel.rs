//! Root tests against the running kernel. Anything that changes the test process' own
//! namespaces or credentials runs in `iso_testutil::in_child`.

use std::io::{Read, Write};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};

use iso_ns::{
    join, join_plan, pidfd_open, setns_pidfd, unshare, ClockOffset, Error, Exec, ExitStatus,
    GidMap, IdMapEntry, MapWriter, Namespace, NamespaceSet, NsFd, Spawn, TimeOffsets, UidMap,
};
use iso_sys::ProcPid;

fn ns_link(pid: &str, name: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{name}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn pipe() -> (std::fs::File, std::fs::File) {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fresh descriptors owned here.
    unsafe {
        (
            OwnedFd::from_raw_fd(fds[0]).into(),
            OwnedFd::from_raw_fd(fds[1]).into(),
        )
    }
}

/// In a parked child: waits for the release byte, at most 120 s so that a failed test
/// leaves nothing behind for long. Only system calls.
fn wait_for_release(pipe: &mut std::fs::File) -> i32 {
    let mut pfd = libc::pollfd {
        fd: std::os::fd::AsRawFd::as_raw_fd(pipe),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut pfd, 1, 120_000) };
    let mut b = [0u8; 1];
    let _ = pipe.read(&mut b);
    0
}

/// Lets a parked child go. (Dropping the write end is not enough: the child holds a copy.)
fn release(mut pipe: std::fs::File) {
    pipe.write_all(&[1]).unwrap();
}

/// A child in new namespaces that blocks until `release` is called on the returned pipe.
fn parked_child(spawn: &Spawn) -> (iso_ns::Child, std::fs::File) {
    let (mut wait_read, release) = pipe();
    // SAFETY: the closure only reads a pipe (a system call) and returns.
    let child = unsafe { spawn.run(move || wait_for_release(&mut wait_read)) }.unwrap();
    (child, release)
}

#[test]
fn new_pid_namespace_gives_pid_1_to_first_child() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    // SAFETY: the closure only calls getpid.
    let mut child =
        unsafe { Spawn::new(Namespace::Pid.into()).run(|| i32::from(std::process::id() != 1)) }
            .unwrap();
    assert!(child.pid().as_raw() > 1);
    assert!(
        child.pidfd().is_some(),
        "clone3 with CLONE_PIDFD gives a pidfd"
    );
    assert_eq!(
        child.wait().unwrap(),
        ExitStatus::Exited(0),
        "closure did not see pid 1"
    );
    assert_eq!(
        child.wait().unwrap(),
        ExitStatus::Exited(0),
        "wait is idempotent"
    );

    let mut sh = Spawn::new(Namespace::Pid.into())
        .exec(&Exec::new("sh").args(["-c", "test $$ -eq 1"]))
        .unwrap();
    assert!(sh.wait().unwrap().success(), "shell did not see pid 1");
}

#[test]
fn legacy_clone_path_works_and_opens_a_pidfd() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    let mut child = Spawn::new(NamespaceSet::from([Namespace::Pid, Namespace::Ipc]))
        .force_legacy_clone()
        .exec(&Exec::new("/bin/sh").args(["-c", "test $$ -eq 1"]))
        .unwrap();
    assert!(child.pidfd().is_some());
    assert!(child.wait().unwrap().success());
}

#[test]
fn kill_through_pidfd() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    let mut child = Spawn::new(Namespace::Pid.into())
        .exec(&Exec::new("sleep").arg("1000"))
        .unwrap();
    child.kill(libc::SIGKILL).unwrap();
    assert_eq!(child.wait().unwrap(), ExitStatus::Signaled(libc::SIGKILL));
    assert!(
        child.kill(libc::SIGKILL).is_err(),
        "no signal after reaping"
    );
}

#[test]
fn exec_failure_is_reported_with_step_and_errno() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    let err = Spawn::new(Namespace::Uts.into())
        .exec(&Exec::new("/nonexistent/iso-test-binary"))
        .unwrap_err();
    assert!(
        matches!(err, Error::ChildSetup { step: "execve", .. }),
        "{err}"
    );
    assert_eq!(err.errno(), Some(libc::ENOENT));
    let err = Spawn::new(Namespace::Uts.into())
        .exec(&Exec::new("iso-test-no-such-program"))
        .unwrap_err();
    assert_eq!(err.errno(), Some(libc::ENOENT), "{err}");
}

#[test]
fn uts_namespace_hostname_is_not_visible_to_host() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    let host_name = iso_ns::hostname().unwrap();
    let mut child = Spawn::new(Namespace::Uts.into())
        .hostname("iso-test-uts")
        .unwrap()
        .domainname("iso-test.example")
        .unwrap()
        .exec(&Exec::new("/bin/sh").args([
            "-c",
            "test \"$(cat /proc/sys/kernel/hostname)\" = iso-test-uts && \
             test \"$(cat /proc/sys/kernel/domainname)\" = iso-test.example",
        ]))
        .unwrap();
    assert!(
        child.wait().unwrap().success(),
        "child did not see its hostname"
    );
    assert_eq!(iso_ns::hostname().unwrap(), host_name);

    iso_testutil::in_child(|| {
        unshare(Namespace::Uts.into()).map_err(|e| e.to_string())?;
        iso_ns::set_hostname("iso-test-unshared").map_err(|e| e.to_string())?;
        iso_ns::set_domainname("iso-dom").map_err(|e| e.to_string())?;
        assert_eq!(iso_ns::hostname().unwrap(), "iso-test-unshared");
        assert_eq!(iso_ns::domainname().unwrap(), "iso-dom");
        Ok(())
    });
    assert_eq!(iso_ns::hostname().unwrap(), host_name);

    // The prepared name, set as a forked child would between fork and exec.
    let prepared = iso_ns::UtsName::new("hostname", "iso-test-prepared").unwrap();
    iso_testutil::in_child(|| {
        unshare(Namespace::Uts.into()).map_err(|e| e.to_string())?;
        prepared.set_as_hostname().map_err(|e| e.to_string())?;
        assert_eq!(iso_ns::hostname().unwrap(), "iso-test-prepared");
        Ok(())
    });
    assert_eq!(iso_ns::hostname().unwrap(), host_name);

    // Setting a hostname without a new UTS namespace would rename the host: refused.
    let err = Spawn::new(Namespace::Pid.into()).hostname("x").unwrap();
    assert!(err.exec(&Exec::new("/bin/true")).is_err());
}

#[test]
fn unshare_gives_new_namespaces() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    let host_net = ns_link("self", "net");
    let host_ipc = ns_link("self", "ipc");
    iso_testutil::in_child(|| {
        unshare(NamespaceSet::from([
            Namespace::Net,
            Namespace::Ipc,
            Namespace::Pid,
        ]))
        .map_err(|e| e.to_string())?;
        assert_ne!(ns_link("self", "net"), host_net);
        assert_ne!(ns_link("self", "ipc"), host_ipc);
        // PID: only children move, and the first one is pid 1 there.
        // SAFETY: single-threaded test child; the grandchild only calls getpid and _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: as above.
            unsafe { libc::_exit(i32::from(libc::getpid() != 1)) };
        }
        let mut status = 0;
        // SAFETY: pid is our child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(
            libc::WEXITSTATUS(status),
            0,
            "first child after unshare(pid) is not pid 1"
        );
        assert_ne!(ns_link("self", "pid_for_children"), ns_link("self", "pid"));
        Ok(())
    });
    assert_eq!(ns_link("self", "net"), host_net);
}

#[test]
fn setns_into_another_process_net_namespace() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    let (child, release_pipe) = parked_child(&Spawn::new(NamespaceSet::from([
        Namespace::Net,
        Namespace::Uts,
    ])));
    let pid = child.pid().to_string();
    let target_net = ns_link(&pid, "net");
    let target_uts = ns_link(&pid, "uts");
    assert_ne!(target_net, ns_link("self", "net"));

    // By verified handle.
    let t = target_net.clone();
    let child_pid = child.pid();
    iso_testutil::in_child(move || {
        let ns =
            NsFd::of_process(ProcPid::Pid(child_pid), Namespace::Net).map_err(|e| e.to_string())?;
        assert_eq!(ns.kind(), Namespace::Net);
        ns.enter().map_err(|e| e.to_string())?;
        assert_eq!(ns_link("self", "net"), t);
        Ok(())
    });
    // By path.
    let (t, p) = (target_net.clone(), pid.clone());
    iso_testutil::in_child(move || {
        NsFd::open_kind(format!("/proc/{p}/ns/net"), Namespace::Net)
            .and_then(|ns| ns.enter())
            .map_err(|e| e.to_string())?;
        assert_eq!(ns_link("self", "net"), t);
        Ok(())
    });
    // By pidfd, two at once.
    let pidfd = child.pidfd().unwrap().try_clone_to_owned().unwrap();
    let (tn, tu) = (target_net.clone(), target_uts.clone());
    iso_testutil::in_child(move || {
        setns_pidfd(&pidfd, NamespaceSet::from([Namespace::Net, Namespace::Uts]))
            .map_err(|e| e.to_string())?;
        assert_eq!(ns_link("self", "net"), tn);
        assert_eq!(ns_link("self", "uts"), tu);
        Ok(())
    });
    // A fresh pidfd from pidfd_open works too.
    let pidfd = pidfd_open(child.pid()).unwrap();
    let tn = target_net.clone();
    iso_testutil::in_child(move || {
        setns_pidfd(pidfd.as_fd(), Namespace::Net.into()).map_err(|e| e.to_string())?;
        assert_eq!(ns_link("self", "net"), tn);
        Ok(())
    });
    release(release_pipe);
    let mut child = child;
    assert!(child.wait().unwrap().success());
}

#[test]
fn namespace_files_are_verified() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    let err = NsFd::open("/etc/passwd").unwrap_err();
    assert!(matches!(err, Error::NotANamespace { .. }), "{err}");
    let err = NsFd::open_kind("/proc/self/ns/uts", Namespace::Net).unwrap_err();
    assert!(
        matches!(
            err,
            Error::WrongNamespaceKind {
                expected: Namespace::Net,
                found: Namespace::Uts,
                ..
            }
        ),
        "{err}"
    );
    for kind in Namespace::ALL {
        let ns = NsFd::of_process(ProcPid::SelfPid, kind).unwrap();
        assert_eq!(ns.kind(), kind);
        let by_path = NsFd::open(format!("/proc/self/ns/{}", kind.proc_name())).unwrap();
        assert_eq!(ns.id().unwrap(), by_path.id().unwrap());
        if kind != Namespace::User {
            // The initial user namespace has no parent (EPERM); everything else has an owner.
            assert_eq!(ns.owner().unwrap().kind(), Namespace::User);
        }
    }
    // Already in all of them: nothing to do.
    let mine: Vec<NsFd> = [Namespace::Net, Namespace::Uts, Namespace::User]
        .into_iter()
        .map(|k| NsFd::of_process(ProcPid::SelfPid, k).unwrap())
        .collect();
    assert!(join_plan(&mine).unwrap().is_empty());
    join(&mine).unwrap();
    let twice = vec![
        NsFd::of_process(ProcPid::SelfPid, Namespace::Net).unwrap(),
        NsFd::open("/proc/self/ns/net").unwrap(),
    ];
    assert!(join(&twice).is_err());
}

#[test]
fn join_enters_user_namespace_then_what_it_owns() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    let set = NamespaceSet::from([
        Namespace::User,
        Namespace::Net,
        Namespace::Uts,
        Namespace::Mount,
    ]);
    let spawn = Spawn::new(set)
        .uid_map(UidMap::single(0, 0, 1).unwrap())
        .gid_map(GidMap::single(0, 0, 1).unwrap());
    let (mut child, release_pipe) = parked_child(&spawn);
    let pid = child.pid();
    let host_ipc = NsFd::of_process(ProcPid::SelfPid, Namespace::Ipc).unwrap();
    let handles: Vec<NsFd> = [
        Namespace::Mount,
        Namespace::Net,
        Namespace::User,
        Namespace::Uts,
    ]
    .into_iter()
    .map(|k| NsFd::of_process(ProcPid::Pid(pid), k).unwrap())
    .chain(std::iter::once(host_ipc))
    .collect();
    let plan: Vec<Namespace> = join_plan(&handles)
        .unwrap()
        .iter()
        .map(|h| h.kind())
        .collect();
    // Our own ipc namespace is skipped; user before what it owns; mount last.
    assert_eq!(
        plan,
        vec![
            Namespace::User,
            Namespace::Net,
            Namespace::Uts,
            Namespace::Mount
        ]
    );
    let expected: Vec<(String, String)> = ["user", "net", "uts", "mnt"]
        .iter()
        .map(|n| (n.to_string(), ns_link(&pid.to_string(), n)))
        .collect();
    iso_testutil::in_child(move || {
        join(&handles).map_err(|e| e.to_string())?;
        for (name, link) in &expected {
            assert_eq!(&ns_link("self", name), link, "{name}");
        }
        Ok(())
    });
    release(release_pipe);
    assert!(child.wait().unwrap().success());
}

/// Drops to nobody (keeping /proc/self writable for ourselves with PR_SET_DUMPABLE).
fn become_nobody() -> Result<(), String> {
    // SAFETY: credential changes in the forked test child only.
    unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0
            || libc::setresgid(65534, 65534, 65534) != 0
            || libc::setresuid(65534, 65534, 65534) != 0
            || libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) != 0
        {
            return Err(format!(
                "drop to nobody: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

#[test]
fn unprivileged_user_namespace_maps_root_inside_to_own_uid() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    iso_testutil::in_child(|| {
        become_nobody()?;
        let spawn = Spawn::new(NamespaceSet::from([Namespace::User, Namespace::Uts]))
            .uid_map(UidMap::single(0, 65534, 1).map_err(|e| e.to_string())?)
            .gid_map(GidMap::single(0, 65534, 1).map_err(|e| e.to_string())?)
            .hostname("iso-test-userns")
            .map_err(|e| e.to_string())?;
        let (mut wait_read, release_pipe) = pipe();
        let (report_read, mut report) = pipe();
        let body = move || {
            // SAFETY: getters without preconditions.
            let ids = unsafe { (libc::getuid(), libc::geteuid(), libc::getgid()) };
            let _ = writeln!(report, "{} {} {}", ids.0, ids.1, ids.2);
            drop(report);
            wait_for_release(&mut wait_read)
        };
        // SAFETY: this test child is single-threaded.
        let mut child = unsafe { spawn.run(body) }.map_err(|e| e.to_string())?;
        let mut inside = String::new();
        std::fs::File::from(OwnedFd::from(report_read))
            .read_to_string(&mut inside)
            .map_err(|e| e.to_string())?;
        assert_eq!(inside.trim(), "0 0 0", "ids inside the user namespace");
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.pid())).unwrap();
        let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        assert_eq!(
            uid_line.split_whitespace().nth(1),
            Some("65534"),
            "{uid_line}"
        );
        let map = UidMap::read(ProcPid::Pid(child.pid())).unwrap().unwrap();
        assert_eq!(map.entries(), &[IdMapEntry::new(0, 65534, 1)]);
        let setgroups =
            std::fs::read_to_string(format!("/proc/{}/setgroups", child.pid())).unwrap();
        assert_eq!(setgroups.trim(), "deny");
        // A map is written once: the kernel refuses a second one.
        let again = UidMap::single(0, 65534, 1)
            .unwrap()
            .write(child.pid())
            .unwrap_err();
        assert_eq!(again.errno(), Some(libc::EPERM), "{again}");
        release(release_pipe);
        assert!(child.wait().unwrap().success());

        // A range beyond our own uid needs newuidmap, which has no /etc/subuid entry for
        // nobody here: the helper's refusal comes back as an error, the child is reaped.
        let err = Spawn::new(Namespace::User.into())
            .uid_map(UidMap::single(0, 65534, 2).unwrap())
            .exec(&Exec::new("/bin/true"))
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::MapHelper {
                    helper: "newuidmap",
                    ..
                }
            ),
            "{err}"
        );
        Ok(())
    });
}

#[test]
fn privileged_map_writes_directly() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    let (mut child, release_pipe) = parked_child(&Spawn::new(Namespace::User.into()));
    let map = UidMap::new(vec![
        IdMapEntry::new(0, 100000, 1000),
        IdMapEntry::new(1000, 0, 1),
    ])
    .unwrap();
    assert_eq!(map.write(child.pid()).unwrap(), MapWriter::Direct);
    let gid = GidMap::single(0, 100000, 65536).unwrap();
    assert_eq!(gid.write(child.pid()).unwrap(), MapWriter::Direct);
    assert_eq!(UidMap::read(ProcPid::Pid(child.pid())).unwrap(), Some(map));
    assert_eq!(GidMap::read(ProcPid::Pid(child.pid())).unwrap(), Some(gid));
    release(release_pipe);
    assert!(child.wait().unwrap().success());
}

#[test]
fn time_offsets_shift_children_clocks() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    const SHIFT: i64 = 10_000_000; // far more than this host's uptime
    iso_testutil::in_child(|| {
        let mut before = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: valid out-pointer.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut before) };
        let offsets = TimeOffsets {
            monotonic: ClockOffset::from_secs(SHIFT),
            boottime: ClockOffset::from_secs(2 * SHIFT),
        };
        offsets.unshare().map_err(|e| e.to_string())?;
        assert_eq!(TimeOffsets::read(ProcPid::SelfPid).unwrap(), offsets);
        // SAFETY: single-threaded test child; the grandchild only calls clock_gettime/_exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let mut now = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            let mut boot = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: valid out-pointers; _exit ends the grandchild.
            unsafe {
                libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now);
                libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut boot);
                let ok = now.tv_sec >= before.tv_sec + SHIFT && boot.tv_sec >= 2 * SHIFT;
                libc::_exit(if ok { 0 } else { 1 });
            }
        }
        let mut status = 0;
        // SAFETY: pid is our child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(
            libc::WEXITSTATUS(status),
            0,
            "grandchild's clocks were not shifted"
        );
        // The caller itself is still in the old time namespace.
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: valid out-pointer.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
        assert!(now.tv_sec < before.tv_sec + SHIFT);
        Ok(())
    });
}

#[test]
fn spawn_with_time_offsets_shifts_the_executed_program() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    let offsets = TimeOffsets {
        boottime: ClockOffset::from_secs(10_000_000),
        ..Default::default()
    };
    let mut child = Spawn::new(NamespaceSet::from([Namespace::Time, Namespace::Pid]))
        .time_offsets(offsets)
        .exec(&Exec::new("/bin/sh").args([
            "-c",
            "read up rest < /proc/uptime; test \"${up%.*}\" -ge 10000000",
        ]))
        .unwrap();
    assert!(
        child.wait().unwrap().success(),
        "uptime in the child was not shifted"
    );
    // A closure is born in the new time namespace as well.
    let spawn = Spawn::new(Namespace::Time.into()).time_offsets(TimeOffsets {
        monotonic: ClockOffset::from_secs(10_000_000),
        ..Default::default()
    });
    let body = || {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: valid out-pointer.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
        i32::from(now.tv_sec < 10_000_000)
    };
    // SAFETY: the closure only calls clock_gettime.
    let mut child = unsafe { spawn.run(body) }.unwrap();
    assert!(child.pidfd().is_some());
    assert!(
        child.wait().unwrap().success(),
        "closure's CLOCK_MONOTONIC was not shifted"
    );
    // The caller's own time namespaces are untouched.
    assert_eq!(
        TimeOffsets::read(ProcPid::SelfPid).unwrap(),
        TimeOffsets::default()
    );
    assert_eq!(
        ns_link("self", "time"),
        ns_link("self", "time_for_children")
    );
    // The host's uptime is unchanged.
    let up = std::fs::read_to_string("/proc/uptime").unwrap();
    let secs: f64 = up.split_whitespace().next().unwrap().parse().unwrap();
    assert!(secs < 10_000_000.0);
}

#[test]
fn map_without_user_namespace_is_refused() {
    let err = Spawn::new(Namespace::Pid.into())
        .uid_map(UidMap::single(0, 0, 1).unwrap())
        .exec(&Exec::new("/bin/true"))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidValue {
                field: "uid map",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn vm_cgroup_namespace_root_on_pure_v2() {
    if !iso_testutil::vm_feature_or_skip(iso_testutil::VmFeature::CgroupV2) {
        return;
    }
    iso_testutil::in_child(|| {
        unshare(Namespace::Cgroup.into()).map_err(|e| e.to_string())?;
        let cgroup = std::fs::read_to_string("/proc/self/cgroup").map_err(|e| e.to_string())?;
        if cgroup.trim() != "0::/" {
            return Err(format!(
                "/proc/self/cgroup in a new cgroup namespace: {cgroup:?}"
            ));
        }
        Ok(())
    });
}

#[test]
fn unprivileged_join_enters_user_namespace_first() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    iso_testutil::in_child(|| {
        become_nobody()?;
        let set = NamespaceSet::from([Namespace::User, Namespace::Net, Namespace::Uts]);
        let spawn = Spawn::new(set)
            .uid_map(UidMap::single(0, 65534, 1).map_err(|e| e.to_string())?)
            .gid_map(GidMap::single(0, 65534, 1).map_err(|e| e.to_string())?);
        let (mut child, release_pipe) = parked_child(&spawn);
        let pid = child.pid();
        let handles: Vec<NsFd> = [Namespace::Net, Namespace::Uts, Namespace::User]
            .into_iter()
            .map(|k| NsFd::of_process(ProcPid::Pid(pid), k))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        // Without the user namespace first, nobody may not enter the others.
        let err = handles[0].enter().unwrap_err();
        assert_eq!(err.errno(), Some(libc::EPERM), "{err}");
        let plan: Vec<Namespace> = join_plan(&handles)
            .map_err(|e| e.to_string())?
            .iter()
            .map(|h| h.kind())
            .collect();
        assert_eq!(plan, vec![Namespace::User, Namespace::Net, Namespace::Uts]);
        join(&handles).map_err(|e| e.to_string())?;
        for name in ["user", "net", "uts"] {
            assert_eq!(
                ns_link("self", name),
                ns_link(&pid.to_string(), name),
                "{name}"
            );
        }
        // SAFETY: getuid cannot fail.
        assert_eq!(
            unsafe { libc::getuid() },
            0,
            "root inside the joined user namespace"
        );
        release(release_pipe);
        assert!(child.wait().unwrap().success());
        Ok(())
    });
}

/// The v2 hierarchy of this host: `/sys/fs/cgroup` on a pure v2 host, the `unified` mount of
/// a hybrid one.
fn cgroup2_mount() -> Option<&'static str> {
    ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .into_iter()
        .find(|m| std::path::Path::new(&format!("{m}/cgroup.controllers")).exists())
}

#[test]
fn child_is_born_in_its_cgroup() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    let mount = cgroup2_mount().expect("this kernel has a cgroup2 mount");
    let name = format!("iso-ns-into-cgroup-{}", std::process::id());
    let dir = format!("{mount}/{name}");
    std::fs::create_dir(&dir).unwrap();
    let result = std::panic::catch_unwind(|| {
        let fd: OwnedFd = std::fs::File::open(&dir).unwrap().into();
        let (mut cgroup_read, mut cgroup_write) = pipe();
        let spawn = Spawn::new(Namespace::Uts.into()).into_cgroup(fd);
        // SAFETY: the closure only reads a procfs file into a stack buffer and writes it to a
        // pipe (system calls), then returns.
        let mut child = unsafe {
            spawn.run(move || {
                let mut buf = [0u8; 256];
                // SAFETY: a NUL-terminated path; the descriptor is closed below.
                let fd = libc::open(c"/proc/self/cgroup".as_ptr(), libc::O_RDONLY);
                let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
                libc::close(fd);
                let _ = cgroup_write.write_all(&buf[..n.max(0) as usize]);
                0
            })
        }
        .unwrap();
        assert_eq!(child.wait().unwrap(), ExitStatus::Exited(0));
        let mut seen = String::new();
        cgroup_read.read_to_string(&mut seen).unwrap();
        assert!(
            seen.lines().any(|l| l == format!("0::/{name}")),
            "the child's /proc/self/cgroup: {seen:?}"
        );
    });
    std::fs::remove_dir(&dir).unwrap();
    result.unwrap();
}

#[test]
fn into_cgroup_needs_clone3() {
    let fd: OwnedFd = std::fs::File::open("/").unwrap().into();
    let err = Spawn::new(Namespace::Uts.into())
        .into_cgroup(fd)
        .force_legacy_clone()
        .exec(&Exec::new("/bin/true"))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidValue {
                field: "into_cgroup",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn new_namespaces_inside_a_joined_user_namespace_belong_to_it() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    let owner_spawn = Spawn::new(NamespaceSet::from([Namespace::User]))
        .uid_map(UidMap::single(0, 100000, 65536).unwrap())
        .gid_map(GidMap::single(0, 100000, 65536).unwrap());
    let (mut owner, release_owner) = parked_child(&owner_spawn);
    let user: OwnedFd = std::fs::File::open(format!("/proc/{}/ns/user", owner.pid()))
        .unwrap()
        .into();
    let user_link = ns_link(&owner.pid().to_string(), "user");
    // The child is born in the joined user namespace, in a new UTS namespace owned by it,
    // whose hostname it may set; with a time namespace made by the same helper.
    let mut child = Spawn::new(NamespaceSet::from([Namespace::Uts, Namespace::Time]))
        .in_user_namespace(user)
        .hostname("joined")
        .unwrap()
        .time_offsets(TimeOffsets {
            boottime: ClockOffset::from_secs(10_000_000),
            ..Default::default()
        })
        .exec(&Exec::new("/bin/sh").args([
            "-c",
            &format!(
                "test \"$(readlink /proc/self/ns/user)\" = '{user_link}' && \
                 test \"$(hostname)\" = joined && read up rest < /proc/uptime && \
                 test \"${{up%.*}}\" -ge 10000000"
            ),
        ]))
        .unwrap();
    let status = child.wait().unwrap();
    release(release_owner);
    owner.wait().unwrap();
    assert!(status.success(), "{status}");
    // Joining and creating a user namespace at once is refused.
    let fd: OwnedFd = std::fs::File::open("/proc/self/ns/user").unwrap().into();
    let err = Spawn::new(Namespace::User.into())
        .in_user_namespace(fd)
        .exec(&Exec::new("/bin/true"))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidValue {
                field: "in_user_namespace",
                ..
            }
        ),
        "{err}"
    );
}

/// Runs `script` with `sh` in a child of `spawn`, its stdin from `input`, its stdout into a
/// pipe and its working directory `dir`; returns what it printed.
fn exec_output(spawn: &Spawn, script: &str, input: &str, dir: &str) -> String {
    let (in_read, mut in_write) = pipe();
    in_write.write_all(input.as_bytes()).unwrap();
    drop(in_write);
    let (mut out_read, out_write) = pipe();
    let mut child = spawn
        .exec(
            &Exec::new("/bin/sh")
                .args(["-c", script])
                .stdin(in_read)
                .stdout(out_write)
                .current_dir(dir),
        )
        .unwrap();
    let mut out = String::new();
    out_read.read_to_string(&mut out).unwrap();
    assert!(child.wait().unwrap().success(), "{script}: {out}");
    out
}

/// As root, a map of 0 to an unprivileged uid: the child becomes 0 inside (its own uid 0
/// outside is not in the map, so without the switch it would be the overflow uid 65534);
/// `uid` and `gid` choose other ids; stdio and the working directory reach the program.
#[test]
fn spawn_switches_ids_inside_and_sets_stdio_and_cwd() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    let maps = || {
        Spawn::new(Namespace::User.into())
            .uid_map(UidMap::single(0, 100000, 2).unwrap())
            .gid_map(GidMap::single(0, 100000, 2).unwrap())
    };
    let script = "id -u; id -g; pwd; cat";
    let out = exec_output(&maps(), script, "from stdin\n", "/tmp");
    assert_eq!(out, "0\n0\n/tmp\nfrom stdin\n");
    let out = exec_output(&maps().uid(1).gid(1), script, "", "/");
    assert_eq!(out, "1\n1\n/\n");
    // A map without 0: the child keeps its uid, unmapped (65534 inside).
    let unmapped = Spawn::new(Namespace::User.into())
        .uid_map(UidMap::single(1, 100001, 1).unwrap())
        .gid_map(GidMap::single(1, 100001, 1).unwrap());
    assert_eq!(exec_output(&unmapped, "id -u", "", "/"), "65534\n");
    // Failures name the step and keep the errno; the child is reaped.
    let err = maps()
        .exec(&Exec::new("/bin/true").current_dir("/nonexistent-iso-dir"))
        .unwrap_err();
    assert!(
        matches!(err, Error::ChildSetup { step: "chdir", .. }),
        "{err}"
    );
    assert_eq!(err.errno(), Some(libc::ENOENT));
    let err = maps().uid(5).exec(&Exec::new("/bin/true")).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ChildSetup {
                step: "setresuid",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.errno(), Some(libc::EINVAL));
}

/// A closure keeps its ids unless asked (it may need its outside identity first), and
/// switches when `uid`/`gid` are set.
#[test]
fn spawn_run_keeps_ids_unless_set() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    let ids_inside = |spawn: Spawn| {
        let (report_read, mut report) = pipe();
        let body = move || {
            // SAFETY: getters without preconditions.
            let ids = unsafe { (libc::geteuid(), libc::getegid()) };
            let _ = writeln!(report, "{} {}", ids.0, ids.1);
            0
        };
        // SAFETY: the closure makes system calls and formats into a pipe; this test
        // process may have other threads, but the closure allocates nothing itself.
        let mut child = unsafe { spawn.run(body) }.unwrap();
        let mut out = String::new();
        let mut report_read = report_read;
        report_read.read_to_string(&mut out).unwrap();
        assert!(child.wait().unwrap().success());
        out
    };
    let maps = || {
        Spawn::new(Namespace::User.into())
            .uid_map(UidMap::single(0, 100000, 1).unwrap())
            .gid_map(GidMap::single(0, 100000, 1).unwrap())
    };
    assert_eq!(ids_inside(maps()), "65534 65534\n");
    assert_eq!(ids_inside(maps().uid(0).gid(0)), "0 0\n");
}

#[test]
fn a_user_namespace_with_maps_outlives_its_child_and_holds_the_maps() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    let ns = iso_ns::user_namespace_with_maps(
        &UidMap::new(vec![
            IdMapEntry::new(0, 100000, 1000),
            IdMapEntry::new(1000, 4242, 1),
        ])
        .unwrap(),
        &GidMap::single(0, 200000, 65536).unwrap(),
    )
    .unwrap();
    assert_eq!(ns.kind(), Namespace::User);
    assert_ne!(ns.id().unwrap().to_string(), ns_link("self", "user"));
    // A process joining it sees the maps written for it (its creator is gone).
    let mut child = Spawn::new(NamespaceSet::empty())
        .in_user_namespace(ns.into())
        .exec(&Exec::new("/bin/sh").args([
            "-c",
            "set -- $(cat /proc/self/uid_map); test \"$1 $2 $3 $4 $5 $6\" = '0 100000 1000 1000 4242 1' && \
             set -- $(cat /proc/self/gid_map); test \"$1 $2 $3\" = '0 200000 65536'",
        ]))
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
}
