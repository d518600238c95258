//! Fault injection by ptrace: run a command as our tracee, count its system calls at their
//! entry stops, and `SIGKILL` it at the entry of the N-th one (that call never runs). A test
//! sweeps N over every system call a command makes to see what a crash at each point leaves
//! behind.
//!
//! Only the command's own process is traced: its children (a container's init, hooks) are
//! not (no `PTRACE_O_TRACECLONE`/`TRACEFORK`), so they run on and outlive the kill as they
//! would after a real crash. The tracee is started with `PTRACE_TRACEME` and traced with
//! `PTRACE_O_EXITKILL`, so it dies with the tracer if the test itself dies.
//!
//! The tracer is the calling thread: call [`run_traced`] from one thread and do not wait for
//! the command's process anywhere else.
//!
//! ```no_run
//! use std::process::Command;
//! use iso_testutil::ptrace::{run_traced, Ending};
//! let full = run_traced(Command::new("/bin/true"), None)?;
//! assert_eq!(full.ending, Ending::Exited(0));
//! for n in 1..=full.syscalls() {
//!     let t = run_traced(Command::new("/bin/true"), Some(n))?;
//!     assert!(matches!(t.ending, Ending::Killed { .. }));
//! }
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

/// How long [`run_traced`] lets a command run before it kills it as hung.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// How a traced run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The command exited with this status.
    Exited(i32),
    /// The command died from this signal (not ours).
    Signaled(i32),
    /// We killed it at the entry of its `at`-th system call (counted from 1), whose number
    /// (`SYS_*`) was `nr`.
    Killed {
        /// The position of the system call in the run.
        at: u64,
        /// The system call's number.
        nr: u64,
    },
}

/// What a traced run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    /// The numbers (`SYS_*`) of the system calls entered, in order, up to and including the
    /// one killed at.
    pub calls: Vec<u64>,
    /// How it ended.
    pub ending: Ending,
}

impl Trace {
    /// How many system calls were entered.
    pub fn syscalls(&self) -> u64 {
        self.calls.len() as u64
    }
}

fn last_err(op: &str) -> io::Error {
    let e = io::Error::last_os_error();
    io::Error::new(e.kind(), format!("{op}: {e}"))
}

/// `waitpid(pid, __WALL)`, retried on EINTR: the raw wait status.
fn wait(pid: libc::pid_t) -> io::Result<i32> {
    loop {
        let mut status = 0;
        // SAFETY: status is a valid out-pointer; pid is our child.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if r == pid {
            return Ok(status);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(io::Error::new(e.kind(), format!("waitpid {pid}: {e}")));
        }
    }
}

/// One `ptrace` request on our stopped tracee with an integer `data` argument.
fn request(req: libc::c_uint, pid: libc::pid_t, data: usize) -> io::Result<()> {
    // SAFETY: the requests used here (SETOPTIONS, SYSCALL) take no pointer arguments.
    if unsafe { libc::ptrace(req, pid, std::ptr::null_mut::<libc::c_void>(), data) } < 0 {
        return Err(last_err("ptrace"));
    }
    Ok(())
}

/// At a syscall stop: `Some(nr)` when it is a syscall-entry stop, `None` at an exit stop.
fn entry_syscall(pid: libc::pid_t) -> io::Result<Option<u64>> {
    // SAFETY: ptrace_syscall_info is plain data; all-zero is a valid value.
    let mut info: libc::ptrace_syscall_info = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::ptrace_syscall_info>();
    // SAFETY: the kernel writes at most `size` bytes into `info`.
    let r = unsafe {
        libc::ptrace(
            libc::PTRACE_GET_SYSCALL_INFO,
            pid,
            size,
            &mut info as *mut libc::ptrace_syscall_info,
        )
    };
    if r < 0 {
        return Err(last_err("PTRACE_GET_SYSCALL_INFO"));
    }
    if info.op != libc::PTRACE_SYSCALL_INFO_ENTRY {
        return Ok(None);
    }
    // SAFETY: op says the entry member of the union is the one filled in.
    Ok(Some(unsafe { info.u.entry.nr }))
}

/// Sends `SIGKILL` through a pidfd (safe against pid reuse).
fn kill_pidfd(pidfd: &OwnedFd) {
    // SAFETY: a signal through a pidfd we own; no memory is passed.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            libc::SIGKILL,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
}

/// Runs `cmd` traced. With `kill_at: Some(n)`, sends `SIGKILL` at the entry stop of its
/// `n`-th system call and reaps it; with `None` (or when it makes fewer calls) it runs to
/// the end and the count says how many system calls it made. Counting starts at the
/// program's first system call after `execve`. A command still running after [`TIMEOUT`] is
/// killed and reported as an error of kind `TimedOut`, so that a hang fails the test.
///
/// ```no_run
/// let t = iso_testutil::ptrace::run_traced(std::process::Command::new("/bin/true"), None)?;
/// println!("/bin/true makes {} system calls", t.syscalls());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn run_traced(mut cmd: Command, kill_at: Option<u64>) -> io::Result<Trace> {
    // SAFETY: the closure runs between fork and exec and only makes one system call.
    unsafe {
        cmd.pre_exec(|| {
            if libc::ptrace(
                libc::PTRACE_TRACEME,
                0,
                std::ptr::null_mut::<libc::c_void>(),
                std::ptr::null_mut::<libc::c_void>(),
            ) < 0
            {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // The child stops with SIGTRAP after its execve; std only waits for the exec itself.
    let child = cmd.spawn()?;
    let pid = child.id() as libc::pid_t;
    drop(child);
    // The pid cannot be reused before we reap it, so the pidfd names our child.
    // SAFETY: pidfd_open takes a pid and flags; the result is a new descriptor or -1.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if raw < 0 {
        let e = last_err("pidfd_open");
        // SAFETY: kill sends a signal to our own child, not yet reaped.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let _ = wait(pid);
        return Err(e);
    }
    // SAFETY: a fresh descriptor that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(raw as RawFd) };
    let (finished, watch) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let hung = watch.recv_timeout(TIMEOUT) == Err(mpsc::RecvTimeoutError::Timeout);
        if hung {
            kill_pidfd(&pidfd);
        }
        (hung, pidfd)
    });
    let result = trace(pid, kill_at);
    let _ = finished.send(());
    let (timed_out, pidfd) = watchdog
        .join()
        .map_err(|_| io::Error::other("the ptrace watchdog panicked"))?;
    if result.is_err() {
        // Tracing failed midway: do not leave the command stopped under our trace.
        kill_pidfd(&pidfd);
        let _ = wait(pid);
    }
    if timed_out {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the traced command ran longer than {TIMEOUT:?}"),
        ));
    }
    result
}

/// Traces our child `pid` from its stop after `execve` to its end (see [`run_traced`]).
fn trace(pid: libc::pid_t, kill_at: Option<u64>) -> io::Result<Trace> {
    let status = wait(pid)?;
    if !libc::WIFSTOPPED(status) {
        return Err(io::Error::other(format!(
            "traced command did not stop after exec (status {status:#x})"
        )));
    }
    let options = libc::PTRACE_O_EXITKILL | libc::PTRACE_O_TRACESYSGOOD | libc::PTRACE_O_TRACEEXEC;
    request(libc::PTRACE_SETOPTIONS, pid, options as usize)?;
    let mut calls = Vec::new();
    let mut inject = 0usize;
    loop {
        request(libc::PTRACE_SYSCALL, pid, inject)?;
        inject = 0;
        let status = wait(pid)?;
        if libc::WIFEXITED(status) {
            return Ok(Trace {
                calls,
                ending: Ending::Exited(libc::WEXITSTATUS(status)),
            });
        }
        if libc::WIFSIGNALED(status) {
            return Ok(Trace {
                calls,
                ending: Ending::Signaled(libc::WTERMSIG(status)),
            });
        }
        let sig = libc::WSTOPSIG(status);
        if sig == libc::SIGTRAP | 0x80 {
            let Some(nr) = entry_syscall(pid)? else {
                continue;
            };
            calls.push(nr);
            let at = calls.len() as u64;
            if kill_at == Some(at) {
                // SAFETY: kill sends a signal to our own stopped tracee.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                loop {
                    let status = wait(pid)?;
                    if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
                        return Ok(Trace {
                            calls,
                            ending: Ending::Killed { at, nr },
                        });
                    }
                }
            }
        } else if sig == libc::SIGTRAP && (status >> 16) != 0 {
            // A ptrace event (exec): nothing to deliver.
        } else {
            // A signal for the tracee: deliver it.
            inject = sig as usize;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_kills_at_each_system_call() {
        let full = run_traced(Command::new("/bin/true"), None).unwrap();
        assert_eq!(full.ending, Ending::Exited(0));
        assert!(full.syscalls() > 3, "{full:?}");
        // The last call of /bin/true is exit_group.
        assert_eq!(full.calls.last(), Some(&(libc::SYS_exit_group as u64)));
        for n in [1, 2, full.syscalls()] {
            let t = run_traced(Command::new("/bin/true"), Some(n)).unwrap();
            assert_eq!(t.syscalls(), n);
            assert_eq!(
                t.ending,
                Ending::Killed {
                    at: n,
                    nr: full.calls[n as usize - 1]
                }
            );
        }
        let past = run_traced(Command::new("/bin/true"), Some(full.syscalls() + 1)).unwrap();
        assert_eq!(past.ending, Ending::Exited(0));
    }

    #[test]
    fn signals_reach_the_tracee_and_exit_status_is_kept() {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "kill -TERM $$; exit 3"]);
        let t = run_traced(cmd, None).unwrap();
        assert_eq!(t.ending, Ending::Signaled(libc::SIGTERM));
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "exit 3"]);
        assert_eq!(run_traced(cmd, None).unwrap().ending, Ending::Exited(3));
    }
}
