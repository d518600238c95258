//! Every action, loaded into a real child process, observed from the outside or inside.

mod common;

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use common::{ensure, fork_and_wait, getppid_with, Ended};
use iso_seccomp::{Action, BpfProgram, Flags, Profile, SyscallRule};

fn deny_getppid(action: Action) -> Profile {
    Profile::new(Action::Allow).rule(SyscallRule::new(action, ["getppid"]))
}

#[test]
fn errno_action_returns_the_errno_and_other_calls_work() {
    iso_testutil::in_child(|| {
        let before = getppid_with(0, 0).map_err(|e| format!("getppid {e}"))?;
        deny_getppid(Action::Errno(77))
            .compile()
            .map_err(|e| e.to_string())?
            .load()
            .map_err(|e| e.to_string())?;
        ensure(getppid_with(0, 0) == Err(77), || {
            "getppid not denied with 77".into()
        })?;
        // SAFETY: getpid cannot fail.
        ensure(unsafe { libc::getpid() } > 0 && before > 0, || {
            "getpid broken".into()
        })
    });
}

#[test]
fn kill_process_kills_with_sigsys() {
    let bpf = deny_getppid(Action::KillProcess)
        .compile()
        .unwrap()
        .to_bpf()
        .unwrap();
    let ended = fork_and_wait(|| {
        if bpf.load().is_err() {
            return 3;
        }
        let _ = getppid_with(0, 0);
        0
    });
    assert_eq!(ended, Ended::Signaled(libc::SIGSYS));
}

#[test]
fn kill_thread_and_kill_kill_a_single_threaded_process_with_sigsys() {
    for action in [Action::KillThread, Action::Kill] {
        let bpf = deny_getppid(action).compile().unwrap().to_bpf().unwrap();
        let ended = fork_and_wait(|| {
            if bpf.load().is_err() {
                return 3;
            }
            let _ = getppid_with(0, 0);
            0
        });
        assert_eq!(ended, Ended::Signaled(libc::SIGSYS), "{action:?}");
    }
}

static THREAD_RETURNED: AtomicBool = AtomicBool::new(false);

extern "C" fn call_getppid(_: *mut libc::c_void) -> *mut libc::c_void {
    let _ = getppid_with(0, 0);
    THREAD_RETURNED.store(true, Ordering::SeqCst);
    std::ptr::null_mut()
}

#[test]
fn kill_thread_kills_only_the_calling_thread() {
    iso_testutil::in_child(|| {
        deny_getppid(Action::KillThread)
            .compile()
            .map_err(|e| e.to_string())?
            .load()
            .map_err(|e| e.to_string())?;
        let mut t: libc::pthread_t = 0;
        // SAFETY: call_getppid has the pthread signature; t is a valid out-pointer.
        let rc = unsafe {
            libc::pthread_create(&mut t, std::ptr::null(), call_getppid, std::ptr::null_mut())
        };
        ensure(rc == 0, || format!("pthread_create {rc}"))?;
        // SAFETY: t is a joinable thread we created; the kernel wakes the join when it dies.
        unsafe { libc::pthread_join(t, std::ptr::null_mut()) };
        ensure(!THREAD_RETURNED.load(Ordering::SeqCst), || {
            "the thread survived".into()
        })
        // and this thread is still alive to report it
    });
}

static TRAP_CODE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_sigsys(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let code = unsafe { (*info).si_code };
    TRAP_CODE.store(code, Ordering::SeqCst);
}

#[test]
fn trap_delivers_sigsys_to_a_handler() {
    iso_testutil::in_child(|| {
        // SAFETY: installs a handler that only stores an atomic.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_sigsys as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO;
            if libc::sigaction(libc::SIGSYS, &sa, std::ptr::null_mut()) != 0 {
                return Err("sigaction".into());
            }
        }
        deny_getppid(Action::Trap)
            .compile()
            .map_err(|e| e.to_string())?
            .load()
            .map_err(|e| e.to_string())?;
        let _ = getppid_with(0, 0);
        const SYS_SECCOMP: i32 = 1;
        let code = TRAP_CODE.load(Ordering::SeqCst);
        ensure(code == SYS_SECCOMP, || {
            format!("si_code {code}, want SYS_SECCOMP")
        })
    });
}

#[test]
fn log_allows_the_call() {
    iso_testutil::in_child(|| {
        let before = getppid_with(0, 0).map_err(|e| format!("{e}"))?;
        deny_getppid(Action::Log)
            .compile()
            .map_err(|e| e.to_string())?
            .load()
            .map_err(|e| e.to_string())?;
        ensure(getppid_with(0, 0) == Ok(before), || {
            "log did not allow the call".into()
        })
    });
}

#[test]
fn trace_without_a_tracer_fails_with_enosys() {
    iso_testutil::in_child(|| {
        deny_getppid(Action::Trace(5))
            .compile()
            .map_err(|e| e.to_string())?
            .load()
            .map_err(|e| e.to_string())?;
        let r = getppid_with(0, 0);
        ensure(r == Err(libc::ENOSYS), || format!("got {r:?}"))
    });
}

#[test]
fn allow_rules_punch_holes_in_a_denying_default() {
    let bpf = Profile::new(Action::Errno(55))
        .rule(SyscallRule::new(
            Action::Allow,
            ["getpid", "exit_group", "exit"],
        ))
        .compile()
        .unwrap()
        .to_bpf()
        .unwrap();
    let ended = fork_and_wait(|| {
        if bpf.load().is_err() {
            return 3;
        }
        // SAFETY: plain syscalls.
        let pid = unsafe { libc::syscall(libc::SYS_getpid) };
        if pid <= 0 {
            return 4;
        }
        if getppid_with(0, 0) != Err(55) {
            return 5;
        }
        0
    });
    assert_eq!(ended, Ended::Exited(0));
}

#[test]
fn log_flag_and_spec_allow_load() {
    iso_testutil::in_child(|| {
        deny_getppid(Action::Errno(9))
            .flags(Flags::LOG | Flags::SPEC_ALLOW)
            .compile()
            .map_err(|e| e.to_string())?
            .load()
            .map_err(|e| e.to_string())?;
        ensure(getppid_with(0, 0) == Err(9), || "not filtered".into())
    });
}

/// Runs a thread that waits until the main thread loaded a filter, then calls getppid.
fn other_thread_result(flags: Flags) -> Result<Result<i64, i32>, String> {
    let (tx_go, rx_go) = std::sync::mpsc::channel::<()>();
    let (tx_res, rx_res) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        let _ = rx_go.recv();
        let _ = tx_res.send(getppid_with(0, 0));
    });
    deny_getppid(Action::Errno(66))
        .flags(flags)
        .compile()
        .map_err(|e| e.to_string())?
        .load()
        .map_err(|e| e.to_string())?;
    tx_go.send(()).map_err(|e| e.to_string())?;
    let r = rx_res.recv().map_err(|e| e.to_string())?;
    t.join().map_err(|_| "join".to_string())?;
    Ok(r)
}

#[test]
fn tsync_applies_the_filter_to_every_thread() {
    iso_testutil::in_child(|| {
        let r = other_thread_result(Flags::TSYNC)?;
        ensure(r == Err(66), || {
            format!("with TSYNC the other thread got {r:?}")
        })
    });
    iso_testutil::in_child(|| {
        let r = other_thread_result(Flags::empty())?;
        ensure(r.is_ok(), || {
            format!("without TSYNC the other thread got {r:?}")
        })
    });
}

#[test]
fn wait_killable_recv_flag_loads_through_the_raw_loader() {
    iso_testutil::in_child(|| {
        let fd = Profile::new(Action::Allow)
            .flags(Flags::WAIT_KILLABLE_RECV)
            .rule(SyscallRule::new(Action::Notify, ["mknodat"]))
            .compile()
            .map_err(|e| e.to_string())?
            .load()
            .map_err(|e| e.to_string())?;
        ensure(fd.is_some(), || "no listener".into())
    });
}

/// A profile exercising several actions and conditions, and what each probe returns under
/// it.
fn probes() -> Vec<Result<i64, i32>> {
    vec![
        getppid_with(1, 0).map(|_| 0),
        getppid_with(2, 0).map(|_| 0),
        getppid_with(3, 9).map(|_| 0),
        getppid_with(3, 8).map(|_| 0),
        // SAFETY: plain syscall.
        Ok(unsafe { libc::syscall(libc::SYS_getuid) }),
        // SAFETY: plain syscall.
        match unsafe { libc::syscall(libc::SYS_getgid) } {
            r if r < 0 => Err(common::errno()),
            r => Ok(r),
        },
    ]
}

#[test]
fn exported_bpf_behaves_like_libseccomp_load() {
    use iso_seccomp::Condition;
    let profile = Profile::new(Action::Allow)
        .rule(SyscallRule::new(Action::Errno(11), ["getppid"]).when(Condition::eq(0, 1)))
        .rule(SyscallRule::new(Action::Errno(12), ["getppid"]).when(Condition::eq(0, 2)))
        .rule(
            SyscallRule::new(Action::Errno(13), ["getppid"])
                .when(Condition::eq(0, 3))
                .when(Condition::gt(1, 8)),
        )
        .rule(SyscallRule::new(Action::Errno(14), ["getgid"]));
    // SAFETY: getuid cannot fail.
    let uid = i64::from(unsafe { libc::getuid() });
    let expected = vec![Err(11), Err(12), Err(13), Ok(0), Ok(uid), Err(14)];
    let bytes = profile.compile().unwrap().to_bpf().unwrap().to_bytes();
    for via_bpf in [false, true] {
        let profile = profile.clone();
        let bytes = bytes.clone();
        let expected = expected.clone();
        iso_testutil::in_child(move || {
            if via_bpf {
                BpfProgram::from_bytes(&bytes, Flags::empty())
                    .map_err(|e| e.to_string())?
                    .load()
                    .map_err(|e| e.to_string())?;
            } else {
                profile
                    .compile()
                    .map_err(|e| e.to_string())?
                    .load()
                    .map_err(|e| e.to_string())?;
            }
            let got = probes();
            ensure(got == expected, || {
                format!("via_bpf={via_bpf}: got {got:?}, want {expected:?}")
            })
        });
    }
}

#[test]
fn an_unprivileged_process_loads_with_no_new_privs() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    iso_testutil::in_child(|| {
        let mut bpf = deny_getppid(Action::Errno(21))
            .compile()
            .map_err(|e| e.to_string())?
            .to_bpf()
            .map_err(|e| e.to_string())?;
        // SAFETY: dropping to nobody in the forked test child.
        unsafe {
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(65534) != 0
                || libc::setuid(65534) != 0
            {
                return Err("drop to nobody".into());
            }
        }
        bpf.set_no_new_privs(false);
        let err = bpf
            .load()
            .err()
            .ok_or("loaded without no_new_privs or CAP_SYS_ADMIN")?;
        ensure(err.errno() == Some(libc::EACCES), || {
            format!("want EACCES, got {err}")
        })?;
        bpf.set_no_new_privs(true);
        bpf.load().map_err(|e| e.to_string())?;
        ensure(getppid_with(0, 0) == Err(21), || "not filtered".into())
    });
}
