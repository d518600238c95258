//! Helpers shared by the integration tests.
#![allow(dead_code)]

/// The calling thread's errno.
pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `getppid` with two extra argument registers: the kernel ignores them, the filter
/// sees them. Ok(ppid) or Err(errno).
pub fn getppid_with(a0: u64, a1: u64) -> Result<i64, i32> {
    // SAFETY: getppid ignores its argument registers.
    let r = unsafe { libc::syscall(libc::SYS_getppid, a0, a1) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(r)
    }
}

/// How a forked child ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// exit code
    Exited(i32),
    /// killed by this signal
    Signaled(i32),
}

/// Forks; the child runs `f` (which must only make system calls on data prepared before the
/// fork) and `_exit`s with its result; returns how the child ended.
pub fn fork_and_wait(f: impl FnOnce() -> i32) -> Ended {
    // SAFETY: the child runs only `f`, which by contract does no allocation, then _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = f();
        // SAFETY: ends the child without running the harness's destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: pid is our child; status is a valid out-pointer.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid);
    if libc::WIFSIGNALED(status) {
        Ended::Signaled(libc::WTERMSIG(status))
    } else {
        Ended::Exited(libc::WEXITSTATUS(status))
    }
}

/// Maps a condition to Err(message) for in_child bodies.
pub fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(msg())
    }
}
