//! The default container profile: common programs run, dangerous calls are denied.

mod common;

use std::ffi::CString;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};

use common::{ensure, errno, fork_and_wait, Ended};
use iso_seccomp::default_profile;

const BUSYBOX: &str = "/bin/busybox";

/// Runs `sh -c script` with busybox under the default profile; returns (status, stdout).
fn busybox_under_default_profile(script: &str) -> (Ended, String) {
    let bpf = default_profile(&[]).compile().unwrap().to_bpf().unwrap();
    let argv_c: Vec<CString> = ["busybox", "sh", "-c", script]
        .iter()
        .map(|s| CString::new(*s).unwrap())
        .collect();
    let mut argv: Vec<*const libc::c_char> = argv_c.iter().map(|c| c.as_ptr()).collect();
    argv.push(std::ptr::null());
    let env_c = [CString::new("PATH=/nonexistent").unwrap()];
    let envp = [env_c[0].as_ptr(), std::ptr::null()];
    let prog = CString::new(BUSYBOX).unwrap();
    let mut fds = [0; 2];
    // SAFETY: fds is a valid out-array.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fresh descriptors owned here.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let wfd = fds[1];
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = std::fs::File::from(r).read_to_string(&mut out);
        out
    });
    let ended = fork_and_wait(|| {
        // SAFETY: only dup2/execve on data prepared before the fork.
        unsafe {
            if libc::dup2(wfd, 1) != 1 {
                return 120;
            }
        }
        if bpf.load().is_err() {
            return 121;
        }
        // SAFETY: argv and envp are NULL-terminated arrays of valid C strings.
        unsafe { libc::execve(prog.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
        122
    });
    drop(w);
    (ended, reader.join().unwrap())
}

#[test]
fn busybox_shell_ls_and_ps_run_under_the_default_profile() {
    if !std::path::Path::new(BUSYBOX).exists() {
        eprintln!("skipped: no {BUSYBOX}");
        return;
    }
    let (ended, out) = busybox_under_default_profile(
        "busybox ls / && busybox ps && busybox cat /proc/self/status | busybox grep -qE 'Seccomp:[[:space:]]+2' && \
         busybox sh -c 'echo subshell' && busybox id -u && echo done",
    );
    assert_eq!(ended, Ended::Exited(0), "output: {out}");
    assert!(out.contains("PID"), "ps output missing: {out}");
    assert!(
        out.contains("subshell") && out.trim_end().ends_with("done"),
        "{out}"
    );
}

#[test]
fn dangerous_calls_are_denied_with_eperm() {
    let dir = iso_testutil::TempDir::new("seccomp-default");
    let target = CString::new(dir.path().as_os_str().as_encoded_bytes()).unwrap();
    iso_testutil::in_child(move || {
        default_profile(&["CAP_CHOWN", "CAP_SETUID"])
            .compile()
            .map_err(|e| e.to_string())?
            .load()
            .map_err(|e| e.to_string())?;
        let check = |what: &str, r: libc::c_long| {
            ensure(r == -1 && errno() == libc::EPERM, || {
                format!("{what}: {r}, errno {}", errno())
            })
        };
        // SAFETY: raw syscalls with harmless arguments; the filter must stop each of them.
        unsafe {
            check(
                "kexec_load",
                libc::syscall(libc::SYS_kexec_load, 0, 0, 0, 0),
            )?;
            check(
                "kexec_file_load",
                libc::syscall(libc::SYS_kexec_file_load, -1, -1, 0, 0, 0),
            )?;
            check(
                "keyctl",
                libc::syscall(libc::SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0),
            )?;
            check("add_key", libc::syscall(libc::SYS_add_key, 0, 0, 0, 0, 0))?;
            check(
                "mount",
                libc::mount(
                    c"none".as_ptr(),
                    target.as_ptr(),
                    c"tmpfs".as_ptr(),
                    0,
                    std::ptr::null(),
                ) as libc::c_long,
            )?;
            check(
                "umount2",
                libc::syscall(libc::SYS_umount2, target.as_ptr(), 0),
            )?;
            check(
                "unshare(CLONE_NEWUSER)",
                libc::unshare(libc::CLONE_NEWUSER) as libc::c_long,
            )?;
            check(
                "unshare(CLONE_NEWNS)",
                libc::unshare(libc::CLONE_NEWNS) as libc::c_long,
            )?;
            check("setns", libc::syscall(libc::SYS_setns, 0, 0))?;
            check(
                "clone(CLONE_NEWUSER)",
                libc::syscall(
                    libc::SYS_clone,
                    (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong,
                    0,
                    0,
                    0,
                    0,
                ),
            )?;
            check("init_module", libc::syscall(libc::SYS_init_module, 0, 0, 0))?;
            check(
                "ptrace",
                libc::syscall(libc::SYS_ptrace, libc::PTRACE_TRACEME, 0, 0, 0),
            )?;
            check(
                "personality(0x1234)",
                libc::syscall(libc::SYS_personality, 0x1234),
            )?;
            check("chroot", libc::chroot(c"/".as_ptr()) as libc::c_long)?;
            let r = libc::syscall(libc::SYS_clone3, 0, 0);
            ensure(r == -1 && errno() == libc::ENOSYS, || {
                format!("clone3: {r} {}", errno())
            })?;
            let r = libc::syscall(libc::SYS_personality, 0xffff_ffffu32 as libc::c_ulong);
            ensure(r >= 0, || "personality query denied".into())?;
        }
        // Threads and processes without new namespaces still work (clone3 falls back).
        let t = std::thread::spawn(|| 7);
        ensure(t.join().ok() == Some(7), || "thread creation failed".into())?;
        let (ended, _) = (fork_and_wait(|| 0), ());
        ensure(ended == Ended::Exited(0), || format!("fork: {ended:?}"))?;
        Ok(())
    });
    // mount would have succeeded for root without the filter: nothing may be mounted.
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mountinfo.contains(dir.path().to_str().unwrap()));
}

#[test]
fn cap_sys_admin_gives_back_namespaces_and_mounts() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    iso_testutil::in_child(|| {
        default_profile(&["sys_admin"])
            .compile()
            .map_err(|e| e.to_string())?
            .load()
            .map_err(|e| e.to_string())?;
        // SAFETY: a new mount namespace in the forked test child.
        let r = unsafe { libc::unshare(libc::CLONE_NEWNS) };
        ensure(r == 0, || {
            format!("unshare(CLONE_NEWNS) with CAP_SYS_ADMIN: errno {}", errno())
        })?;
        // SAFETY: kexec stays denied whatever the capabilities.
        let r = unsafe { libc::syscall(libc::SYS_kexec_load, 0, 0, 0, 0) };
        ensure(r == -1 && errno() == libc::EPERM, || {
            "kexec_load allowed".into()
        })
    });
}

#[test]
fn default_profile_compiles_for_every_capability_set() {
    let all = [
        "CAP_SYS_ADMIN",
        "CAP_SYS_BOOT",
        "CAP_SYS_CHROOT",
        "CAP_SYS_MODULE",
        "CAP_SYS_PACCT",
        "CAP_SYS_PTRACE",
        "CAP_SYS_RAWIO",
        "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG",
        "CAP_SYS_NICE",
        "CAP_SYSLOG",
        "CAP_BPF",
        "CAP_PERFMON",
        "CAP_DAC_READ_SEARCH",
    ];
    for n in 0..=all.len() {
        let f = default_profile(&all[..n]).compile().unwrap();
        assert!(f.to_bpf().unwrap().len() < iso_seccomp::MAX_INSTRUCTIONS);
    }
}
