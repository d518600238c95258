//! Test helpers shared by the iso crates (not published).
//!
//! - [`root_or_skip`]: privileged tests skip when not root, except under
//!   `ISO_REQUIRE_ROOT=1` (CI), where they fail instead.
//! - [`in_child`]: runs a test body in a forked child, so that changes to global state
//!   (mounts, namespaces, credentials, the root directory) die with the child. The child is
//!   single-threaded, which `unshare(CLONE_NEWUSER)` and `setns` into a user namespace
//!   require.
//! - [`bundle`]: a runtime test fixture (busybox bundle, private state root, test-owned
//!   cgroup, the `iso-runtime` binary run with captured output, a leftovers check).
//! - [`user`]: a fresh unprivileged user with subordinate ids, for rootless tests.
//! - [`ptrace`]: fault injection: run a command traced and `SIGKILL` it at its N-th system
//!   call.

pub mod bundle;
pub mod ptrace;
pub mod user;

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};

/// Whether the current test should run: true as root. Otherwise prints a skip note and
/// returns false, or panics when `ISO_REQUIRE_ROOT=1`.
pub fn root_or_skip() -> bool {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var("ISO_REQUIRE_ROOT").as_deref() == Ok("1") {
        panic!("this test needs root and ISO_REQUIRE_ROOT=1 forbids skipping it");
    }
    eprintln!("skipped: needs root (set ISO_REQUIRE_ROOT=1 to make this a failure)");
    false
}

/// Runs `body` in a forked child process and panics with the child's message if it returned
/// an error, panicked, or died from a signal. Returns when the child has been reaped.
pub fn in_child<F>(body: F)
where
    F: FnOnce() -> Result<(), String>,
{
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both descriptors were just created and are owned here.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: the child only runs the test body and exits with _exit; tests accept the
    // usual caveats of forking a test harness (other harness threads are not running code
    // the child depends on).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
    if pid == 0 {
        drop(read_end);
        let mut out = std::fs::File::from(write_end);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
        let code = match result {
            Ok(Ok(())) => 0,
            Ok(Err(msg)) => {
                let _ = out.write_all(msg.as_bytes());
                1
            }
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panic".into());
                let _ = out.write_all(format!("panicked: {msg}").as_bytes());
                2
            }
        };
        drop(out);
        // SAFETY: _exit ends the child without running the parent's atexit handlers.
        unsafe { libc::_exit(code) };
    }
    drop(write_end);
    let mut msg = String::new();
    let _ = std::fs::File::from(read_end).read_to_string(&mut msg);
    let mut status = 0;
    // SAFETY: pid is our child; status is a valid out-pointer.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid, "waitpid: {}", std::io::Error::last_os_error());
    if libc::WIFSIGNALED(status) {
        panic!(
            "test child killed by signal {}: {msg}",
            libc::WTERMSIG(status)
        );
    }
    let code = libc::WEXITSTATUS(status);
    assert!(code == 0, "test child failed (exit {code}): {msg}");
}

/// A fresh temporary directory under `/tmp` (named `iso-test-<tag>-<pid>-<n>`), removed when
/// the guard drops.
pub struct TempDir {
    path: std::path::PathBuf,
}

impl TempDir {
    /// Creates the directory.
    pub fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("iso-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    /// The directory's path.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A host property that some tests need and this development host lacks; such tests run in
/// the QEMU guest of `tests/vm/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmFeature {
    /// `/sys/fs/cgroup` is a cgroup2 filesystem (a pure v2 host).
    CgroupV2,
    /// AppArmor is the active LSM (listed in `/sys/kernel/security/lsm`).
    AppArmor,
}

impl VmFeature {
    /// Whether the running host has the feature.
    pub fn present(self) -> bool {
        match self {
            VmFeature::CgroupV2 => {
                const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
                let Ok(c) = std::ffi::CString::new("/sys/fs/cgroup") else {
                    return false;
                };
                // SAFETY: statfs is plain data; c is NUL-terminated; st a valid out-pointer.
                let mut st: libc::statfs = unsafe { std::mem::zeroed() };
                (unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0)
                    && st.f_type as i64 == CGROUP2_SUPER_MAGIC
            }
            VmFeature::AppArmor => std::fs::read_to_string("/sys/kernel/security/lsm")
                .map(|l| l.split(',').any(|m| m.trim() == "apparmor"))
                .unwrap_or(false),
        }
    }
}

/// Whether a `vm_*` test should run: true when root and the host has `feature`. Inside the
/// test guest (`ISO_IN_VM=1`) a missing feature is a failure; elsewhere it is a skip.
pub fn vm_feature_or_skip(feature: VmFeature) -> bool {
    if !root_or_skip() {
        return false;
    }
    if feature.present() {
        return true;
    }
    if std::env::var("ISO_IN_VM").as_deref() == Ok("1") {
        panic!("the test guest lacks {feature:?}");
    }
    eprintln!("skipped: host lacks {feature:?}; the VM tier (tests/vm) runs this test");
    false
}
