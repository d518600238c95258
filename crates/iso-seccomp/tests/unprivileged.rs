//! Every action and every operator once more, from a process that is not root.
//!
//! Each test forks a child that drops from root to nobody (uid/gid 65534, no groups, no
//! capabilities) and sets `no_new_privs` itself, so the kernel accepts a filter only
//! because of that bit (the loaders are told not to set it again). The child compiles the
//! profile through the public API and, for both loaders ([`Filter::load`] and
//! [`BpfProgram::load`]), forks a grandchild that loads it and makes the filtered call; the
//! child observes how the grandchild ended. For notify the unprivileged child is the
//! supervisor: the grandchild sends it the listener fd and the child answers.

mod common;

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicI32, Ordering};

use common::{drop_to_nobody_with_no_new_privs, ensure, getppid_with, Ended};
use iso_seccomp::notify::{recv_fd, send_fd, Listener, Response};
use iso_seccomp::{Action, BpfProgram, Condition, Filter, Profile, SyscallRule, MAX_ERRNO};

/// The two public ways to load a compiled profile.
#[derive(Debug, Clone, Copy)]
enum Loader {
    /// `Profile::compile()?.load()`
    Libseccomp,
    /// `Profile::compile()?.to_bpf()?.load()`
    Bpf,
}

const LOADERS: [Loader; 2] = [Loader::Libseccomp, Loader::Bpf];

/// A profile compiled in the unprivileged child, ready to load in a grandchild.
enum Prepared {
    Libseccomp(Filter),
    Bpf(BpfProgram),
}

impl Prepared {
    fn new(profile: &Profile, loader: Loader) -> Result<Self, String> {
        let mut filter = profile.compile().map_err(|e| format!("compile: {e}"))?;
        // The process set no_new_privs itself: the loader must not be what makes the
        // kernel accept the filter. (to_bpf carries the setting over.)
        filter.set_no_new_privs(false);
        Ok(match loader {
            Loader::Libseccomp => Prepared::Libseccomp(filter),
            Loader::Bpf => Prepared::Bpf(filter.to_bpf().map_err(|e| format!("to_bpf: {e}"))?),
        })
    }

    /// Loads the filter; on failure, the exit code that reports it.
    fn load(&self) -> Result<Option<OwnedFd>, i32> {
        let loaded = match self {
            Prepared::Libseccomp(f) => f.load(),
            Prepared::Bpf(b) => b.load(),
        };
        loaded.map_err(|e| LOAD_FAILED + e.errno().unwrap_or(0).clamp(0, 150))
    }
}

/// Grandchild exit codes from here up: loading failed with errno `code - LOAD_FAILED`.
const LOAD_FAILED: i32 = 100;

fn describe(ended: &Ended) -> String {
    match *ended {
        Ended::Exited(c) if c >= LOAD_FAILED => {
            format!("loading the filter failed with errno {}", c - LOAD_FAILED)
        }
        Ended::Exited(c) => format!("exited with {c}"),
        Ended::Signaled(s) => format!("killed by signal {s}"),
    }
}

/// Runs `body` in a forked child that dropped to nobody and set no_new_privs.
fn as_nobody(body: impl FnOnce() -> Result<(), String>) {
    iso_testutil::in_child(|| {
        drop_to_nobody_with_no_new_privs()?;
        body()
    });
}

/// A grandchild loads `profile` with `loader`, then runs `probe` and exits with its code.
fn outcome(
    profile: &Profile,
    loader: Loader,
    probe: impl FnOnce() -> i32,
) -> Result<Ended, String> {
    let prepared = Prepared::new(profile, loader)?;
    Ok(common::fork_and_wait(|| {
        // A seccomp kill dumps core: a non-dumpable process leaves no core file behind.
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
        match prepared.load() {
            Ok(_) => probe(),
            Err(code) => code,
        }
    }))
}

/// With either loader, the grandchild that runs `probe` under `profile` ends as `want`.
fn expect(profile: &Profile, want: Ended, probe: impl Fn() -> i32) -> Result<(), String> {
    for loader in LOADERS {
        let got = outcome(profile, loader, &probe)?;
        ensure(got == want, || {
            format!(
                "{loader:?} loader, {profile:?}: the caller {}, want {want:?}",
                describe(&got)
            )
        })?;
    }
    Ok(())
}

fn on_getppid(action: Action) -> Profile {
    Profile::new(Action::Allow).rule(SyscallRule::new(action, ["getppid"]))
}

fn getpid() -> i64 {
    // SAFETY: getpid cannot fail.
    i64::from(unsafe { libc::getpid() })
}

#[test]
fn kill_process_kill_thread_and_kill_end_the_caller_with_sigsys() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    as_nobody(|| {
        for action in [Action::KillProcess, Action::KillThread, Action::Kill] {
            expect(&on_getppid(action), Ended::Signaled(libc::SIGSYS), || {
                let _ = getppid_with(0, 0);
                1 // survived
            })?;
        }
        Ok(())
    });
}

#[test]
fn errno_returns_that_errno_and_other_calls_work() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    as_nobody(|| {
        for n in [libc::EPERM as u32, 77, MAX_ERRNO] {
            expect(&on_getppid(Action::Errno(n)), Ended::Exited(0), || {
                match getppid_with(0, 0) {
                    Err(e) if e == n as i32 => {}
                    Err(_) => return 1,
                    Ok(_) => return 2,
                }
                if getpid() <= 0 {
                    return 3;
                }
                0
            })?;
        }
        Ok(())
    });
}

static TRAP_CODE: AtomicI32 = AtomicI32::new(-1);
static TRAP_SYSCALL: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_sigsys(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // siginfo_t starts with three ints; its union is pointer-aligned. For SIGSYS the union
    // is `{ void *call_addr; int syscall; unsigned arch; }` (libc has no accessor for it).
    let union_at = 12usize.next_multiple_of(std::mem::align_of::<usize>());
    let syscall_at = union_at + std::mem::size_of::<usize>();
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers, and for SIGSYS
    // from seccomp it fills the _sigsys member read here.
    let (code, nr) = unsafe {
        (
            (*info).si_code,
            std::ptr::read_unaligned(info.cast::<u8>().add(syscall_at).cast::<i32>()),
        )
    };
    TRAP_CODE.store(code, Ordering::SeqCst);
    TRAP_SYSCALL.store(nr, Ordering::SeqCst);
}

#[test]
fn trap_delivers_sigsys_to_a_handler() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    as_nobody(|| {
        expect(&on_getppid(Action::Trap), Ended::Exited(0), || {
            // SAFETY: installs a handler that only stores atomics.
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_sigsys as *const () as usize;
                sa.sa_flags = libc::SA_SIGINFO;
                if libc::sigaction(libc::SIGSYS, &sa, std::ptr::null_mut()) != 0 {
                    return 1;
                }
            }
            let _ = getppid_with(0, 0);
            const SYS_SECCOMP: i32 = 1;
            if TRAP_CODE.load(Ordering::SeqCst) != SYS_SECCOMP {
                return 2;
            }
            if i64::from(TRAP_SYSCALL.load(Ordering::SeqCst)) != libc::SYS_getppid {
                return 3;
            }
            0
        })
    });
}

#[test]
fn log_lets_the_call_through() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    as_nobody(|| {
        let me = getpid();
        expect(
            &on_getppid(Action::Log),
            Ended::Exited(0),
            || match getppid_with(0, 0) {
                Ok(p) if p == me => 0,
                Ok(_) => 1,
                Err(_) => 2,
            },
        )
    });
}

#[test]
fn trace_without_a_tracer_fails_with_enosys() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    as_nobody(|| {
        expect(
            &on_getppid(Action::Trace(5)),
            Ended::Exited(0),
            || match getppid_with(0, 0) {
                Err(libc::ENOSYS) => 0,
                Err(_) => 1,
                Ok(_) => 2,
            },
        )
    });
}

#[test]
fn allow_rules_let_calls_through_a_denying_default() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    as_nobody(|| {
        let me = getpid();
        let profile = Profile::new(Action::Errno(55)).rule(SyscallRule::new(
            Action::Allow,
            ["getppid", "exit_group", "exit"],
        ));
        expect(&profile, Ended::Exited(0), || {
            if getppid_with(0, 0) != Ok(me) {
                return 1;
            }
            // SAFETY: plain syscall.
            let r = unsafe { libc::syscall(libc::SYS_getuid) };
            if r != -1 || common::errno() != 55 {
                return 2;
            }
            0
        })
    });
}

/// What the supervisor answers to `getppid(&"value")`.
const FAKE_PPID: i64 = 4242;

/// A forked process, killed and reaped on drop unless waited for.
struct Child {
    pid: libc::pid_t,
    reaped: bool,
}

impl Child {
    /// Forks; the child runs `f` (data prepared before the fork) and `_exit`s with its code.
    fn spawn(f: impl FnOnce() -> i32) -> Result<Child, String> {
        // SAFETY: the caller is a single-threaded test child; the grandchild runs only `f`.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(format!("fork: errno {}", common::errno()));
        }
        if pid == 0 {
            let code = f();
            // SAFETY: ends the grandchild without running destructors.
            unsafe { libc::_exit(code) };
        }
        Ok(Child { pid, reaped: false })
    }

    fn wait(mut self) -> Ended {
        let mut status = 0;
        // SAFETY: pid is our child; status is a valid out-pointer.
        let r = unsafe { libc::waitpid(self.pid, &mut status, 0) };
        self.reaped = true;
        if r != self.pid {
            return Ended::Exited(-1);
        }
        if libc::WIFSIGNALED(status) {
            Ended::Signaled(libc::WTERMSIG(status))
        } else {
            Ended::Exited(libc::WEXITSTATUS(status))
        }
    }

    fn kill(self) -> Ended {
        // SAFETY: pid is our unreaped child.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        self.wait()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.reaped {
            // SAFETY: pid is our unreaped child.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                libc::waitpid(self.pid, std::ptr::null_mut(), 0);
            }
        }
    }
}

/// Waits until the listener has a notification; an error once no process uses the
/// filter any more (the caller died), so a broken caller cannot hang the test.
fn wait_for_notification(listener: &Listener) -> Result<(), String> {
    loop {
        let mut pfd = libc::pollfd {
            fd: listener.as_fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, -1) };
        if n < 0 && common::errno() == libc::EINTR {
            continue;
        }
        ensure(n == 1, || format!("poll: errno {}", common::errno()))?;
        if pfd.revents & libc::POLLIN != 0 {
            return Ok(());
        }
        return Err(format!(
            "the listener reported {:#x}: no process uses the filter any more",
            pfd.revents
        ));
    }
}

/// The supervisor: receives the listener from `caller` and answers its three calls, by
/// what the string in the first argument asks for. Returns the strings read.
fn serve(socket: &UnixStream, caller: libc::pid_t) -> Result<Vec<String>, String> {
    let mut buf = [0u8; 16];
    let (fd, n) =
        recv_fd(socket.as_fd(), &mut buf).map_err(|e| format!("receiving the listener: {e}"))?;
    ensure(&buf[..n] == b"listener", || {
        format!("payload {:?}", &buf[..n])
    })?;
    let listener = Listener::from_fd(fd);
    let mut seen = Vec::new();
    for _ in 0..3 {
        wait_for_notification(&listener)?;
        let req = listener.recv().map_err(|e| format!("recv: {e}"))?;
        ensure(req.pid.as_raw() == caller, || {
            format!("request from pid {}, want {caller}", req.pid)
        })?;
        let name = req.syscall_name();
        ensure(name.as_deref() == Some("getppid"), || {
            format!("request for {name:?}")
        })?;
        // Reading the caller's memory needs ptrace access: same uid, and dumpable.
        let what = listener
            .read_c_string(&req, req.args[0], 16)
            .map_err(|e| format!("reading the caller's argument: {e}"))?;
        let what = String::from_utf8_lossy(&what).into_owned();
        let response = match what.as_str() {
            "value" => Response::Value(FAKE_PPID),
            "errno" => Response::Errno(libc::EXDEV),
            "continue" => Response::Continue,
            other => return Err(format!("unexpected argument {other:?}")),
        };
        listener
            .respond(req.id, response)
            .map_err(|e| format!("respond {response:?}: {e}"))?;
        seen.push(what);
    }
    Ok(seen)
}

#[test]
fn notify_is_answered_by_the_unprivileged_supervisor() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    as_nobody(|| {
        // Changing uid made this process non-dumpable, and a non-dumpable caller's memory
        // cannot be read; an ordinary unprivileged process is dumpable.
        // SAFETY: prctl with integer arguments.
        ensure(
            unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) } == 0,
            || "PR_SET_DUMPABLE".into(),
        )?;
        let me = getpid();
        let profile = on_getppid(Action::Notify);
        for loader in LOADERS {
            let prepared = Prepared::new(&profile, loader)?;
            let (ours, theirs) = UnixStream::pair().map_err(|e| e.to_string())?;
            let caller = Child::spawn(|| {
                let listener = match prepared.load() {
                    Ok(Some(l)) => l,
                    Ok(None) => return 1,
                    Err(code) => return code,
                };
                if send_fd(theirs.as_fd(), listener.as_fd(), b"listener").is_err() {
                    return 2;
                }
                // Only the supervisor holds the listener now (close is async-signal-safe).
                drop(listener);
                if getppid_with(c"value".as_ptr() as u64, 0) != Ok(FAKE_PPID) {
                    return 3;
                }
                if getppid_with(c"errno".as_ptr() as u64, 0) != Err(libc::EXDEV) {
                    return 4;
                }
                if getppid_with(c"continue".as_ptr() as u64, 0) != Ok(me) {
                    return 5;
                }
                0
            })?;
            // The caller's end closes when it exits, so receiving the fd cannot hang.
            drop(theirs);
            let seen = match serve(&ours, caller.pid) {
                Ok(seen) => seen,
                Err(e) => {
                    let ended = caller.kill();
                    return Err(format!(
                        "{loader:?} loader: {e}; the caller {}",
                        describe(&ended)
                    ));
                }
            };
            let ended = caller.wait();
            ensure(ended == Ended::Exited(0), || {
                format!(
                    "{loader:?} loader: after the answers the caller {}",
                    describe(&ended)
                )
            })?;
            ensure(seen == ["value", "errno", "continue"], || {
                format!("{loader:?} loader: served {seen:?}")
            })?;
        }
        Ok(())
    });
}

/// The errno of a matching call in the operator tests.
const HIT: i32 = 99;

/// Loads "getppid fails with HIT when `cond` holds" with both loaders as nobody, and checks
/// each `(arg0, arg1, matches)` in a grandchild.
fn check_operator(cond: Condition, cases: &'static [(u64, u64, bool)]) {
    as_nobody(move || {
        let profile = Profile::new(Action::Allow)
            .rule(SyscallRule::new(Action::Errno(HIT as u32), ["getppid"]).when(cond));
        ensure(
            cases.iter().any(|c| c.2) && cases.iter().any(|c| !c.2),
            || "each operator needs matching and non-matching cases".into(),
        )?;
        for loader in LOADERS {
            let ended = outcome(&profile, loader, || {
                for (i, &(a0, a1, matches)) in cases.iter().enumerate() {
                    if (getppid_with(a0, a1) == Err(HIT)) != matches {
                        return 1 + i as i32;
                    }
                }
                0
            })?;
            if let Ended::Exited(c @ 1..LOAD_FAILED) = ended {
                let (a0, a1, matches) = cases[(c - 1) as usize];
                return Err(format!(
                    "{loader:?} loader, {cond:?} on ({a0:#x}, {a1:#x}): want matches={matches}, \
                     got the opposite"
                ));
            }
            ensure(ended == Ended::Exited(0), || {
                format!(
                    "{loader:?} loader, {cond:?}: the caller {}",
                    describe(&ended)
                )
            })?;
        }
        Ok(())
    });
}

#[test]
fn operator_ne() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    check_operator(
        Condition::ne(0, 5),
        &[
            (5, 0, false),
            (4, 0, true),
            (5 | 1 << 32, 0, true),
            (u64::MAX, 0, true),
        ],
    );
}

#[test]
fn operator_lt() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    check_operator(
        Condition::lt(1, 5),
        &[
            (0, 4, true),
            (0, 0, true),
            (0, 5, false),
            (0, 1 << 40, false),
            (4, 6, false),
        ],
    );
}

#[test]
fn operator_le() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    check_operator(
        Condition::le(0, 5),
        &[
            (5, 0, true),
            (0, 0, true),
            (6, 0, false),
            (5 | 1 << 32, 0, false),
        ],
    );
}

#[test]
fn operator_eq() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    check_operator(
        Condition::eq(0, 1 << 33),
        &[
            (1 << 33, 0, true),
            (0, 0, false),
            ((1 << 33) | 1, 0, false),
            (0, 1 << 33, false),
        ],
    );
}

#[test]
fn operator_ge() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    check_operator(
        Condition::ge(1, 5),
        &[
            (0, 5, true),
            (0, u64::MAX, true),
            (0, 4, false),
            (9, 0, false),
        ],
    );
}

#[test]
fn operator_gt() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    check_operator(
        Condition::gt(0, u32::MAX as u64),
        &[
            (1 << 32, 0, true),
            (u64::MAX, 0, true),
            (u32::MAX as u64, 0, false),
            (0, 0, false),
        ],
    );
}

#[test]
fn operator_masked_eq() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    check_operator(
        Condition::masked_eq(0, 0xf0, 0x30),
        &[
            (0x30, 0, true),
            (0x3f, 0, true),
            (0x130, 0, true),
            (0x20, 0, false),
            (0xf0, 0, false),
        ],
    );
}
