//! The jail against the real kernel: each step proven in a child (a spawned, jailed
//! program, or a forked test child that enters the jail itself).

use std::collections::BTreeSet;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use iso::caps::{CapConfig, CapSet, Capabilities, Capability, Set};
use iso::jail::{CommandJailExt, Error, Jail, PreparedJail, Resource, SeccompPolicy, Step};
use iso::seccomp::{Action, Profile, SyscallRule};
use iso_testutil::{in_child, root_or_skip, TempDir};

const NOBODY: u32 = 65534;
const BUSYBOX: &str = "/usr/bin/busybox";

/// A root directory holding `/bin/busybox` (bind-mounted read-only from the host), empty
/// `/proc` and `/tmp`, and a marker file.
struct JailRoot {
    dir: TempDir,
}

impl JailRoot {
    fn new(tag: &str) -> JailRoot {
        let dir = TempDir::new(tag);
        for d in ["bin", "proc", "tmp"] {
            std::fs::create_dir(dir.path().join(d)).expect("mkdir");
        }
        std::fs::write(dir.path().join("bin/busybox"), b"").expect("bind target");
        std::fs::write(dir.path().join("inside-marker"), b"inside").expect("marker");
        JailRoot { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A pivot_root jail into this root with busybox and /proc, as nobody.
    fn jail(&self) -> Jail {
        Jail::new()
            .pivot_root(self.path())
            .bind_ro(BUSYBOX, "/bin/busybox")
            .mount_proc()
            .user(NOBODY, NOBODY)
    }
}

fn have_busybox() -> bool {
    let ok = Path::new(BUSYBOX).exists();
    if !ok {
        eprintln!("skipped: needs a static {BUSYBOX}");
    }
    ok
}

/// Runs `script` with busybox sh in the prepared jail and returns its output.
fn sh(prepared: PreparedJail, script: &str) -> Output {
    let child = Command::new("/bin/busybox")
        .args(["sh", "-c", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn_jailed(prepared)
        .expect("spawn_jailed");
    child.wait_with_output().expect("wait")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "payload failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

fn ensure(cond: bool, msg: impl Into<String>) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(msg.into())
    }
}

/// Writes straight to fd 2 (the test harness' capture does not reach a forked child).
fn say(msg: &str) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(format!("jail test child: {msg}\n").as_bytes());
}

/// Forks a worker that enters `prepared` and runs `body`, and checks it succeeded.
///
/// Not `iso_testutil::in_child`: the jail closes every fd it was not told to keep, including
/// that helper's result pipe, and Rust aborts when an owner drops an fd closed behind its
/// back. This worker reports on stderr and leaves with `_exit`, dropping nothing.
fn in_jail<F: FnOnce() -> Result<(), String>>(prepared: PreparedJail, body: F) {
    // SAFETY: the child enters the jail, runs the body and _exits; the test accepts the
    // usual caveats of forking a multi-threaded harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = match prepared.enter() {
            Err(e) => {
                say(&format!("enter: {e}"));
                3
            }
            Ok(()) => match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
                Ok(Ok(())) => 0,
                Ok(Err(msg)) => {
                    say(&msg);
                    1
                }
                Err(_) => {
                    say("panicked");
                    2
                }
            },
        };
        // SAFETY: _exit ends the worker without running destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: pid is our child; status a valid out-pointer.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "jailed worker failed (wait status {status:#x}); see its stderr above"
    );
}

#[test]
fn spawned_child_sees_only_its_root() {
    if !root_or_skip() || !have_busybox() {
        return;
    }
    let root = JailRoot::new("jail-root");
    let out = sh(
        root.jail().prepare().expect("prepare"),
        "/bin/busybox ls -a /; /bin/busybox cat /inside-marker; echo; \
         /bin/busybox test -e /etc/passwd && echo HOST-VISIBLE; \
         /bin/busybox test -e /usr && echo HOST-VISIBLE; \
         /bin/busybox cat /proc/self/mountinfo",
    );
    let text = stdout(&out);
    let mut lines = text.lines();
    let listing: Vec<&str> = lines.by_ref().take(6).collect();
    assert_eq!(
        listing,
        [".", "..", "bin", "inside-marker", "proc", "tmp"],
        "{text}"
    );
    assert!(text.contains("inside"), "{text}");
    assert!(!text.contains("HOST-VISIBLE"), "{text}");
    // The old root was detached: only the new root, busybox and /proc are mounted.
    let mounts: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" - "))
        .map(|l| l.split_whitespace().nth(4).unwrap_or(""))
        .collect();
    assert_eq!(mounts, ["/", "/bin/busybox", "/proc"], "{text}");
    // The busybox bind is read-only.
    let bb = text
        .lines()
        .find(|l| l.contains(" /bin/busybox "))
        .expect("busybox mount");
    assert!(bb.contains(" ro,"), "{bb}");
}

#[test]
fn spawned_child_cannot_regain_privileges() {
    if !root_or_skip() || !have_busybox() {
        return;
    }
    let root = JailRoot::new("jail-privs");
    let out = sh(
        root.jail().prepare().expect("prepare"),
        "/bin/busybox cat /proc/self/status; /bin/busybox su -c id root 2>&1 || echo SU-FAILED",
    );
    let text = stdout(&out);
    for key in ["CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:"] {
        assert_eq!(
            status_field(&text, key),
            "0000000000000000",
            "{key} in {text}"
        );
    }
    assert_eq!(status_field(&text, "NoNewPrivs:"), "1", "{text}");
    assert_eq!(status_field(&text, "Seccomp:"), "2", "{text}");
    assert!(
        status_field(&text, "Uid:")
            .split_whitespace()
            .all(|u| u == "65534"),
        "{text}"
    );
    assert!(
        status_field(&text, "Gid:")
            .split_whitespace()
            .all(|g| g == "65534"),
        "{text}"
    );
    assert_eq!(status_field(&text, "Groups:"), "", "{text}");
    assert!(text.contains("SU-FAILED"), "{text}");
}

#[test]
fn worker_in_chroot_cannot_see_out_or_regain_root() {
    if !root_or_skip() {
        return;
    }
    let root = JailRoot::new("jail-worker");
    let prepared = Jail::new()
        .chroot(root.path())
        .user(NOBODY, NOBODY)
        .prepare()
        .expect("prepare");
    in_jail(prepared, move || {
        ensure(
            std::fs::metadata("/etc/passwd").is_err(),
            "/etc/passwd visible",
        )?;
        ensure(
            std::fs::read("/inside-marker")
                .map(|b| b == b"inside")
                .unwrap_or(false),
            "marker not readable",
        )?;
        // SAFETY: setuid with a plain integer.
        let rc = unsafe { libc::setuid(0) };
        let errno = std::io::Error::last_os_error().raw_os_error();
        ensure(
            rc == -1 && errno == Some(libc::EPERM),
            format!("setuid(0): {rc} {errno:?}"),
        )?;
        let caps = Capabilities::current().map_err(|e| e.to_string())?;
        ensure(caps.effective.is_empty(), "CapEff not empty")?;
        ensure(caps.permitted.is_empty(), "CapPrm not empty")?;
        ensure(caps.bounding.is_empty(), "CapBnd not empty")?;
        // The classic chroot escape needs CAP_SYS_CHROOT.
        let _ = std::fs::create_dir("/tmp/x");
        // SAFETY: chroot with a NUL-terminated literal.
        let rc = unsafe { libc::chroot(c"/tmp".as_ptr()) };
        ensure(rc == -1, "chroot again succeeded")?;
        // SAFETY: geteuid cannot fail.
        ensure(unsafe { libc::geteuid() } == NOBODY, "euid")?;
        Ok(())
    });
}

#[test]
fn denied_syscalls_fail_with_eperm() {
    if !root_or_skip() {
        return;
    }
    let prepared = Jail::new().user(NOBODY, NOBODY).prepare().expect("prepare");
    in_jail(prepared, move || {
        let err = || std::io::Error::last_os_error().raw_os_error();
        // mount: not in the default allow-list without CAP_SYS_ADMIN.
        // SAFETY: mount with NUL-terminated literals.
        let rc = unsafe {
            libc::mount(
                c"none".as_ptr(),
                c"/tmp".as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        ensure(
            rc == -1 && err() == Some(libc::EPERM),
            format!("mount: {rc} {:?}", err()),
        )?;
        // A raw socket needs CAP_NET_RAW.
        // SAFETY: socket with integer arguments.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP) };
        ensure(
            fd == -1 && err() == Some(libc::EPERM),
            format!("raw socket: {fd} {:?}", err()),
        )?;
        // New namespaces.
        // SAFETY: unshare with a flag.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWUSER) };
        ensure(
            rc == -1 && err() == Some(libc::EPERM),
            format!("unshare: {rc} {:?}", err()),
        )?;
        // The keyring is never allowed.
        // SAFETY: keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0).
        let rc = unsafe { libc::syscall(libc::SYS_keyctl, 0, -3, 0) };
        ensure(
            rc == -1 && err() == Some(libc::EPERM),
            format!("keyctl: {rc} {:?}", err()),
        )?;
        Ok(())
    });
}

#[test]
fn a_custom_profile_is_loaded_last() {
    if !root_or_skip() {
        return;
    }
    let profile = Profile::new(Action::Allow).rule(SyscallRule::new(
        Action::Errno(libc::EPERM as u32),
        ["uname"],
    ));
    let prepared = Jail::new()
        .seccomp(SeccompPolicy::Profile(profile))
        .user(NOBODY, NOBODY)
        .prepare()
        .expect("prepare");
    in_jail(prepared, move || {
        // SAFETY: utsname is plain data; uname fills it.
        let mut u: libc::utsname = unsafe { std::mem::zeroed() };
        // SAFETY: u is a valid out-pointer.
        let rc = unsafe { libc::uname(&mut u) };
        let errno = std::io::Error::last_os_error().raw_os_error();
        ensure(
            rc == -1 && errno == Some(libc::EPERM),
            format!("uname: {rc} {errno:?}"),
        )
    });
}

/// Opens /dev/null without close-on-exec, so only the jail can keep it from the payload.
fn inheritable_dev_null() -> OwnedFd {
    // SAFETY: open with a NUL-terminated literal and no O_CLOEXEC on purpose.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY) };
    assert!(fd >= 0);
    // SAFETY: fd was just opened and is owned here.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn dup_to(fd: &OwnedFd, target: RawFd) -> OwnedFd {
    // SAFETY: dup2 onto a number this test reserves; the new fd is owned by the result.
    let new = unsafe { libc::dup2(fd.as_raw_fd(), target) };
    assert_eq!(new, target);
    // SAFETY: as above.
    unsafe { OwnedFd::from_raw_fd(new) }
}

#[test]
fn spawned_child_has_no_leaked_fds() {
    if !root_or_skip() || !have_busybox() {
        return;
    }
    let root = JailRoot::new("jail-fds");
    let leaked = inheritable_dev_null();
    let kept = dup_to(&leaked, 200);
    // SAFETY: fcntl on our fd: mark the kept one close-on-exec, the jail must undo it.
    unsafe { libc::fcntl(kept.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    let prepared = root.jail().keep_fd(200).prepare().expect("prepare");
    // ls shows its own descriptor of /proc/self/fd too: anything pointing elsewhere leaked.
    let out = sh(prepared, "/bin/busybox ls -l /proc/self/fd/");
    let text = stdout(&out);
    let fds: BTreeSet<(String, String)> = text
        .lines()
        .filter_map(|l| {
            let (left, target) = l.split_once(" -> ")?;
            let fd = left.split_whitespace().last()?;
            Some((fd.to_string(), target.to_string()))
        })
        .filter(|(_, target)| !(target.starts_with("/proc/") && target.ends_with("/fd")))
        .collect();
    let names: BTreeSet<&str> = fds.iter().map(|(fd, _)| fd.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["0", "1", "2", "200"]), "{text}");
    assert!(
        fds.contains(&("200".to_string(), "/dev/null".to_string())),
        "{text}"
    );
    drop((leaked, kept));
}

#[test]
fn worker_keeps_only_the_kept_fds() {
    if !root_or_skip() {
        return;
    }
    let leaked = inheritable_dev_null();
    let kept = dup_to(&leaked, 201);
    let prepared = Jail::new()
        .keep_fd(201)
        .seccomp(SeccompPolicy::Disabled)
        .prepare()
        .expect("prepare");
    let leaked_no = leaked.as_raw_fd();
    in_jail(prepared, move || {
        // Walk /proc/self/fd; the walk's own descriptor points at that directory.
        let mut open = Vec::new();
        for entry in std::fs::read_dir("/proc/self/fd").map_err(|e| e.to_string())? {
            let entry = entry.map_err(|e| e.to_string())?;
            let target = std::fs::read_link(entry.path()).unwrap_or_default();
            if target.to_string_lossy().ends_with("/fd") {
                continue;
            }
            open.push(entry.file_name().to_string_lossy().into_owned());
        }
        open.sort();
        ensure(
            open == ["0", "1", "2", "201"],
            format!("open fds after the jail: {open:?} (leaked was {leaked_no})"),
        )
    });
    drop((leaked, kept));
}

fn expect_step(result: Result<std::process::Child, Error>, step: Step) -> Error {
    match result {
        Ok(mut child) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the payload started although step {step} should have failed");
        }
        Err(e) => {
            assert_eq!(e.step(), step, "{e}");
            e
        }
    }
}

/// A host command that would leave `marker` behind if it ever ran.
fn touch(marker: &Path) -> Command {
    let mut c = Command::new("/usr/bin/touch");
    c.arg(marker);
    c
}

#[test]
fn a_failing_step_never_runs_the_payload() {
    if !root_or_skip() {
        return;
    }
    let scratch = TempDir::new("jail-fail");
    let marker = scratch.path().join("payload-ran");

    // Rlimits: a hard RLIMIT_NOFILE above fs.nr_open is refused even to root.
    let jail = Jail::new().rlimit(Resource::Nofile, 1 << 40, 1 << 40);
    let e = expect_step(
        touch(&marker).spawn_jailed(jail.prepare().expect("prepare")),
        Step::Rlimits,
    );
    assert_eq!(e.errno(), Some(libc::EPERM), "{e}");
    assert!(e.to_string().contains("RLIMIT_NOFILE"), "{e}");

    // Mounts: the bind source vanished after prepare.
    let root = JailRoot::new("jail-fail-root");
    let source = scratch.path().join("volume");
    std::fs::create_dir(&source).expect("mkdir");
    let prepared = Jail::new()
        .pivot_root(root.path())
        .bind(&source, "/tmp")
        .prepare()
        .expect("prepare");
    std::fs::remove_dir(&source).expect("rmdir");
    let e = expect_step(touch(&marker).spawn_jailed(prepared), Step::Mounts);
    assert_eq!(e.errno(), Some(libc::ENOENT), "{e}");
    assert!(e.to_string().contains("volume"), "{e}");

    // Root: the root directory vanished after prepare.
    let gone = TempDir::new("jail-fail-gone");
    let prepared = Jail::new().chroot(gone.path()).prepare().expect("prepare");
    let gone_path = gone.path().to_path_buf();
    drop(gone);
    let e = expect_step(touch(&marker).spawn_jailed(prepared), Step::Root);
    assert_eq!(e.errno(), Some(libc::ENOENT), "{e}");
    assert!(e.to_string().contains(&*gone_path.to_string_lossy()), "{e}");

    // Fds: a kept descriptor that is not open.
    let e = expect_step(
        touch(&marker).spawn_jailed(Jail::new().keep_fd(987).prepare().expect("prepare")),
        Step::Fds,
    );
    assert_eq!(e.errno(), Some(libc::EBADF), "{e}");

    // Seccomp: without no_new_privs and without CAP_SYS_ADMIN the kernel refuses a filter.
    let e = expect_step(
        touch(&marker).spawn_jailed(
            Jail::new()
                .user(NOBODY, NOBODY)
                .no_new_privs(false)
                .prepare()
                .expect("prepare"),
        ),
        Step::Seccomp,
    );
    assert_eq!(e.errno(), Some(libc::EACCES), "{e}");

    // Exec: the jail worked, the program is not in the new root.
    let empty = TempDir::new("jail-fail-empty");
    let e = expect_step(
        touch(&marker).spawn_jailed(Jail::new().chroot(empty.path()).prepare().expect("prepare")),
        Step::Exec,
    );
    assert_eq!(e.errno(), Some(libc::ENOENT), "{e}");

    assert!(!marker.exists(), "a payload ran");
    // And the same command without a failing step does run: the marker check is meaningful.
    let mut child = touch(&marker)
        .spawn_jailed(Jail::new().prepare().expect("prepare"))
        .expect("spawn");
    assert!(child.wait().expect("wait").success());
    assert!(marker.exists());
}

#[test]
fn a_capability_not_held_fails_the_user_step() {
    if !root_or_skip() {
        return;
    }
    let scratch = TempDir::new("jail-fail-user");
    let marker = scratch.path().join("payload-ran");
    let marker_in = marker.clone();
    in_child(move || {
        // Give up CAP_NET_RAW in this child, then ask the jail to keep it.
        let mut all = Capabilities::current()
            .map_err(|e| e.to_string())?
            .permitted;
        all.remove(Capability::NetRaw);
        CapConfig::new()
            .set(Set::Bounding, all)
            .set(Set::Permitted, all)
            .set(Set::Effective, all)
            .apply()
            .map_err(|e| e.to_string())?;
        let prepared = Jail::new()
            .user(NOBODY, NOBODY)
            .keep_caps(CapSet::from(Capability::NetRaw))
            .prepare()
            .map_err(|e| e.to_string())?;
        match touch(&marker_in).spawn_jailed(prepared) {
            Ok(_) => Err("the payload started".into()),
            Err(e) if e.step() == Step::User && e.errno() == Some(libc::EPERM) => Ok(()),
            Err(e) => Err(format!("unexpected error: {e}")),
        }
    });
    assert!(!marker.exists());
}

#[test]
fn entering_reports_the_failing_step() {
    if !root_or_skip() {
        return;
    }
    let prepared = Jail::new()
        .rlimit(Resource::Nofile, 1 << 40, 1 << 40)
        .prepare()
        .expect("prepare");
    in_child(move || match prepared.enter() {
        Err(e) if e.step() == Step::Rlimits => Ok(()),
        other => Err(format!("{other:?}")),
    });
}

#[test]
fn kept_capabilities_survive_exec_and_seccomp_follows_them() {
    if !root_or_skip() || !have_busybox() {
        return;
    }
    let root = JailRoot::new("jail-keep");
    let prepared = root
        .jail()
        .keep_caps(CapSet::from(Capability::NetBindService))
        .prepare()
        .expect("prepare");
    let text = stdout(&sh(prepared, "/bin/busybox cat /proc/self/status"));
    let bit = format!("{:016x}", 1u64 << 10); // CAP_NET_BIND_SERVICE
    for key in ["CapPrm:", "CapEff:", "CapBnd:", "CapAmb:"] {
        assert_eq!(status_field(&text, key), bit, "{key} in {text}");
    }
}

#[test]
fn rlimits_and_cgroup_placement_apply_to_the_child() {
    if !root_or_skip() || !have_busybox() {
        return;
    }
    use iso::cgroups::{Cgroup, CgroupPath, Layout};
    // Every hierarchy of this host (v1, v2 or hybrid).
    let name = format!("iso-test-jail-{}", std::process::id());
    let layout = Layout::detect().expect("cgroup layout");
    let cg = Cgroup::create(&layout, CgroupPath::new(&format!("/{name}")).expect("path"))
        .expect("create cgroup");
    let root = JailRoot::new("jail-cg");
    let prepared = root
        .jail()
        .rlimit(Resource::Nofile, 42, 42)
        .cgroup(&cg)
        .prepare();
    // Delete the cgroup even when the payload or the jail fails (sh panics then).
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        prepared.map(|p| sh(p, "ulimit -n; /bin/busybox cat /proc/self/cgroup"))
    }));
    let deleted = cg.delete();
    let out = out.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    let text = stdout(&out.expect("prepare"));
    deleted.expect("delete cgroup");
    assert_eq!(text.lines().next(), Some("42"), "{text}");
    let cgroup_lines: Vec<&str> = text.lines().skip(1).collect();
    assert!(!cgroup_lines.is_empty(), "{text}");
    // In every hierarchy the jail wrote to (all but named v1 ones such as name=systemd).
    for line in cgroup_lines.iter().filter(|l| !l.contains("name=")) {
        assert!(line.ends_with(&format!("/{name}")), "{line} in {text}");
    }
}

#[test]
fn prepare_refuses_bad_configurations() {
    let e = Jail::new().pivot_root("relative").prepare().unwrap_err();
    assert_eq!(e.step(), Step::Root);
    let e = Jail::new().bind("/usr", "/usr").prepare().unwrap_err();
    assert_eq!(e.step(), Step::Mounts);
    let e = Jail::new()
        .namespaces(iso::ns::NamespaceSet::from([iso::ns::Namespace::User]))
        .prepare()
        .unwrap_err();
    assert_eq!(e.step(), Step::Namespaces);
    let e = Jail::new()
        .rlimit(Resource::Nofile, 10, 5)
        .prepare()
        .unwrap_err();
    assert_eq!(e.step(), Step::Rlimits);
    let dir = TempDir::new("jail-symlink");
    std::os::unix::fs::symlink("/etc", dir.path().join("etc")).expect("symlink");
    let e = Jail::new()
        .chroot(dir.path())
        .bind("/usr", "/etc")
        .prepare()
        .unwrap_err();
    assert_eq!(
        (e.step(), e.errno()),
        (Step::Mounts, Some(libc::ELOOP)),
        "{e}"
    );
}

#[test]
fn landlock_restricts_even_root_in_the_jail() {
    if !root_or_skip() {
        return;
    }
    use iso::mac::landlock::{FsAccess, Ruleset};
    let scratch = TempDir::new("jail-landlock");
    let allowed = scratch.path().join("allowed");
    std::fs::create_dir(&allowed).expect("mkdir");
    let prepared = Jail::new()
        .keep_caps(Capabilities::current().expect("caps").permitted)
        .landlock(
            Ruleset::new()
                .handle_fs(FsAccess::write_known())
                .allow_path(&allowed, FsAccess::write_known()),
        )
        .prepare()
        .expect("prepare");
    let (inside, outside) = (allowed.join("ok"), scratch.path().join("denied"));
    in_jail(prepared, move || {
        std::fs::write(&inside, b"x").map_err(|e| format!("allowed write: {e}"))?;
        let denied = std::fs::write(&outside, b"x");
        ensure(
            denied.as_ref().err().and_then(|e| e.raw_os_error()) == Some(libc::EACCES),
            format!("write outside the rule: {denied:?}"),
        )
    });
    assert!(allowed.join("ok").exists());
    assert!(!scratch.path().join("denied").exists());
}

#[test]
fn a_cgroup_that_refuses_tasks_fails_the_cgroup_step() {
    if !root_or_skip() {
        return;
    }
    // A new v1 cpuset child has no CPUs and no memory nodes: the kernel refuses tasks.
    if !Path::new("/sys/fs/cgroup/cpuset/cgroup.procs").exists() {
        eprintln!("skipped: no v1 cpuset hierarchy");
        return;
    }
    let cg = PathBuf::from(format!(
        "/sys/fs/cgroup/cpuset/iso-test-jail-{}",
        std::process::id()
    ));
    std::fs::create_dir(&cg).expect("mkdir cgroup");
    let prepared = Jail::new().cgroup_dir(&cg).prepare();
    let scratch = TempDir::new("jail-fail-cg");
    let marker = scratch.path().join("payload-ran");
    let result = prepared.map(|p| touch(&marker).spawn_jailed(p));
    let _ = std::fs::remove_dir(&cg);
    let e = expect_step(result.expect("prepare"), Step::Cgroup);
    assert_eq!(e.errno(), Some(libc::ENOSPC), "{e}");
    assert!(e.to_string().contains("cgroup.procs"), "{e}");
    assert!(!marker.exists());
    assert!(!cg.exists(), "cgroup left behind");
}

#[test]
fn namespaces_chroot_mounts_and_workdir_apply_to_the_child() {
    if !root_or_skip() || !have_busybox() {
        return;
    }
    use iso::ns::{Namespace, NamespaceSet};
    let root = JailRoot::new("jail-ns");
    let prepared = Jail::new()
        .namespaces(NamespaceSet::from([Namespace::Net, Namespace::Ipc]))
        .hostname("iso-jail")
        .chroot(root.path())
        .bind_ro(BUSYBOX, "/bin/busybox")
        .mount_proc()
        .current_dir("/tmp")
        .user(NOBODY, NOBODY)
        .prepare()
        .expect("prepare");
    let text = stdout(&sh(
        prepared,
        "pwd; /bin/busybox hostname; /bin/busybox cat /proc/self/net/dev; \
         /bin/busybox readlink /proc/self/ns/uts",
    ));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("/tmp"), "{text}");
    assert_eq!(lines.next(), Some("iso-jail"), "{text}");
    assert_ne!(iso::ns::hostname().expect("hostname"), "iso-jail");
    let ifaces: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_once(':').map(|(name, _)| name.trim()))
        .filter(|n| !n.contains(' ') && !n.starts_with("uts"))
        .collect();
    assert_eq!(ifaces, ["lo"], "{text}");
    let host_uts = std::fs::read_link("/proc/self/ns/uts").expect("readlink");
    let inside_uts = text.lines().last().unwrap_or("");
    assert!(inside_uts.starts_with("uts:["), "{text}");
    assert_ne!(Path::new(inside_uts), host_uts, "{text}");
    // The mounts lived in the child's namespace only.
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(!mountinfo.contains(&*root.path().to_string_lossy()));
}

#[test]
fn namespaces_capabilities_and_landlock_failures_name_their_step() {
    if !root_or_skip() {
        return;
    }
    use iso::mac::landlock::{FsAccess, Ruleset};
    use iso::ns::{Namespace, NamespaceSet};
    let scratch = TempDir::new("jail-fail-more");
    let marker = scratch.path().join("payload-ran");
    let marker_in = marker.clone();
    in_child(move || {
        // Without CAP_SYS_ADMIN and CAP_NET_RAW from here on.
        let mut held = Capabilities::current()
            .map_err(|e| e.to_string())?
            .permitted;
        held.remove(Capability::SysAdmin);
        held.remove(Capability::NetRaw);
        CapConfig::new()
            .set(Set::Bounding, held)
            .set(Set::Permitted, held)
            .set(Set::Effective, held)
            .apply()
            .map_err(|e| e.to_string())?;
        let cases = [
            (
                Jail::new().namespaces(NamespaceSet::from([Namespace::Net])),
                Step::Namespaces,
            ),
            (
                Jail::new().keep_caps(CapSet::from(Capability::NetRaw)),
                Step::Capabilities,
            ),
            (
                Jail::new()
                    .user(NOBODY, NOBODY)
                    .no_new_privs(false)
                    .seccomp(SeccompPolicy::Disabled)
                    .landlock(Ruleset::new().handle_fs(FsAccess::write_known())),
                Step::Landlock,
            ),
        ];
        for (jail, step) in cases {
            let prepared = jail.prepare().map_err(|e| e.to_string())?;
            match touch(&marker_in).spawn_jailed(prepared) {
                Ok(mut child) => {
                    let _ = child.wait();
                    return Err(format!("the payload started although {step} should fail"));
                }
                Err(e) if e.step() == step && e.errno() == Some(libc::EPERM) => {}
                Err(e) => return Err(format!("expected {step}/EPERM, got: {e}")),
            }
        }
        Ok(())
    });
    assert!(!marker.exists(), "a payload ran");
}
