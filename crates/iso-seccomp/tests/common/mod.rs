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

/// uid and gid of `nobody`, the identity the unprivileged tests drop to.
pub const NOBODY: u32 = 65534;

/// `struct __user_cap_header_struct` for `capget(2)`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

/// `struct __user_cap_data_struct` for `capget(2)`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Drops the calling process (a forked, single-threaded test child running as root) to
/// uid/gid [`NOBODY`] with no supplementary groups, checks that every id took and that no
/// capability is left, then sets `no_new_privs` and checks it is on. From then on the
/// kernel accepts a seccomp filter from this process only because of `no_new_privs`.
pub fn drop_to_nobody_with_no_new_privs() -> Result<(), String> {
    // SAFETY: plain credential syscalls on the calling (forked, single-threaded) process.
    unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0 {
            return Err(format!("setgroups(0): errno {}", errno()));
        }
        if libc::setgid(NOBODY) != 0 {
            return Err(format!("setgid({NOBODY}): errno {}", errno()));
        }
        if libc::setuid(NOBODY) != 0 {
            return Err(format!("setuid({NOBODY}): errno {}", errno()));
        }
    }
    let (mut r, mut e, mut s) = (0, 0, 0);
    // SAFETY: three valid out-pointers.
    ensure(
        unsafe { libc::getresuid(&mut r, &mut e, &mut s) } == 0,
        || "getresuid".into(),
    )?;
    ensure([r, e, s] == [NOBODY; 3], || {
        format!("uids after setuid: {r} {e} {s}")
    })?;
    // SAFETY: three valid out-pointers.
    ensure(
        unsafe { libc::getresgid(&mut r, &mut e, &mut s) } == 0,
        || "getresgid".into(),
    )?;
    ensure([r, e, s] == [NOBODY; 3], || {
        format!("gids after setgid: {r} {e} {s}")
    })?;
    // SAFETY: with size 0 getgroups only counts.
    let groups = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
    ensure(groups == 0, || {
        format!("{groups} supplementary groups left")
    })?;
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: a v3 header and the two data structs v3 fills.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut CapHeader,
            data.as_mut_ptr(),
        )
    };
    ensure(rc == 0, || format!("capget: errno {}", errno()))?;
    ensure(
        data.iter().all(|d| d.effective == 0 && d.permitted == 0),
        || "capabilities survived setuid".into(),
    )?;
    // SAFETY: prctl with integer arguments.
    ensure(
        unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } == 0,
        || format!("PR_SET_NO_NEW_PRIVS: errno {}", errno()),
    )?;
    // SAFETY: prctl with integer arguments.
    let nnp = unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) };
    ensure(nnp == 1, || format!("PR_GET_NO_NEW_PRIVS returned {nnp}"))
}
