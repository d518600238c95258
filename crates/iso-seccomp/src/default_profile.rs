//! The built-in default profile for containers.
//!
//! Written from the kernel's syscall tables: allow what ordinary programs use, deny (with
//! `EPERM`) what reaches kernel-wide state (modules, kexec, the keyring, clocks, swap,
//! mounts, new namespaces), and give back the privileged calls when the container holds
//! the capability that the kernel would check anyway.

use crate::profile::{Action, Arch, Condition, Profile, SyscallRule, UnknownSyscalls};

/// Calls every container may make. Names the running architecture does not know are
/// skipped when compiling (32-bit `*32`/`*64` variants, `socketcall`, ...).
const BASE: &[&str] = &[
    // files and directories
    "access",
    "faccessat",
    "faccessat2",
    "open",
    "openat",
    "openat2",
    "creat",
    "close",
    "close_range",
    "read",
    "readv",
    "pread64",
    "preadv",
    "preadv2",
    "write",
    "writev",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "lseek",
    "_llseek",
    "stat",
    "stat64",
    "lstat",
    "lstat64",
    "fstat",
    "fstat64",
    "newfstatat",
    "fstatat64",
    "statx",
    "statfs",
    "statfs64",
    "fstatfs",
    "fstatfs64",
    "truncate",
    "truncate64",
    "ftruncate",
    "ftruncate64",
    "fallocate",
    "fadvise64",
    "fadvise64_64",
    "arm_fadvise64_64",
    "readahead",
    "fsync",
    "fdatasync",
    "sync",
    "syncfs",
    "sync_file_range",
    "sync_file_range2",
    "arm_sync_file_range",
    "getdents",
    "getdents64",
    "mkdir",
    "mkdirat",
    "rmdir",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "unlink",
    "unlinkat",
    "symlink",
    "symlinkat",
    "readlink",
    "readlinkat",
    "mknod",
    "mknodat",
    "chmod",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "chown",
    "chown32",
    "fchown",
    "fchown32",
    "fchownat",
    "lchown",
    "lchown32",
    "umask",
    "utime",
    "utimes",
    "utimensat",
    "utimensat_time64",
    "futimesat",
    "chdir",
    "fchdir",
    "getcwd",
    "dup",
    "dup2",
    "dup3",
    "fcntl",
    "fcntl64",
    "flock",
    "ioctl",
    "pipe",
    "pipe2",
    "splice",
    "tee",
    "vmsplice",
    "sendfile",
    "sendfile64",
    "copy_file_range",
    "name_to_handle_at",
    "memfd_create",
    "getxattr",
    "lgetxattr",
    "fgetxattr",
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "listxattr",
    "llistxattr",
    "flistxattr",
    "removexattr",
    "lremovexattr",
    "fremovexattr",
    "inotify_init",
    "inotify_init1",
    "inotify_add_watch",
    "inotify_rm_watch",
    "fanotify_mark",
    // memory
    "brk",
    "mmap",
    "mmap2",
    "munmap",
    "mremap",
    "mprotect",
    "madvise",
    "mincore",
    "msync",
    "mlock",
    "mlock2",
    "mlockall",
    "munlock",
    "munlockall",
    "remap_file_pages",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "membarrier",
    "memfd_secret",
    // processes and threads
    "fork",
    "vfork",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "wait4",
    "waitid",
    "waitpid",
    "getpid",
    "getppid",
    "gettid",
    "getpgid",
    "setpgid",
    "getpgrp",
    "getsid",
    "setsid",
    "set_tid_address",
    "set_robust_list",
    "get_robust_list",
    "rseq",
    "arch_prctl",
    "prctl",
    "set_thread_area",
    "get_thread_area",
    "set_tls",
    "cacheflush",
    "breakpoint",
    "capget",
    "capset",
    "getrlimit",
    "ugetrlimit",
    "setrlimit",
    "prlimit64",
    "getrusage",
    "times",
    "getpriority",
    "setpriority",
    "sched_yield",
    "sched_getaffinity",
    "sched_setaffinity",
    "sched_getparam",
    "sched_setparam",
    "sched_getscheduler",
    "sched_setscheduler",
    "sched_getattr",
    "sched_setattr",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "ioprio_get",
    "ioprio_set",
    "getcpu",
    "seccomp",
    "landlock_create_ruleset",
    "landlock_add_rule",
    "landlock_restrict_self",
    "pidfd_open",
    "pidfd_send_signal",
    "process_mrelease",
    "restart_syscall",
    // credentials (the kernel checks CAP_SETUID/CAP_SETGID)
    "getuid",
    "getuid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getegid",
    "getegid32",
    "getresuid",
    "getresuid32",
    "getresgid",
    "getresgid32",
    "getgroups",
    "getgroups32",
    "setuid",
    "setuid32",
    "setgid",
    "setgid32",
    "setreuid",
    "setreuid32",
    "setregid",
    "setregid32",
    "setresuid",
    "setresuid32",
    "setresgid",
    "setresgid32",
    "setfsuid",
    "setfsuid32",
    "setfsgid",
    "setfsgid32",
    "setgroups",
    "setgroups32",
    // signals
    "kill",
    "tkill",
    "tgkill",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sigreturn",
    "rt_sigpending",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_sigqueueinfo",
    "rt_tgsigqueueinfo",
    "sigaltstack",
    "sigprocmask",
    "signalfd",
    "signalfd4",
    "pause",
    "alarm",
    // time
    "time",
    "gettimeofday",
    "clock_gettime",
    "clock_gettime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "nanosleep",
    "getitimer",
    "setitimer",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    // waiting and events
    "poll",
    "ppoll",
    "ppoll_time64",
    "select",
    "_newselect",
    "pselect6",
    "pselect6_time64",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "eventfd",
    "eventfd2",
    "futex",
    "futex_time64",
    "futex_waitv",
    "io_setup",
    "io_destroy",
    "io_submit",
    "io_cancel",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    // sockets
    "socket",
    "socketpair",
    "socketcall",
    "bind",
    "listen",
    "accept",
    "accept4",
    "connect",
    "getsockname",
    "getpeername",
    "getsockopt",
    "setsockopt",
    "shutdown",
    "send",
    "sendto",
    "sendmsg",
    "sendmmsg",
    "recv",
    "recvfrom",
    "recvmsg",
    "recvmmsg",
    "recvmmsg_time64",
    // System V and POSIX IPC (namespaced by the IPC namespace)
    "ipc",
    "shmget",
    "shmat",
    "shmdt",
    "shmctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "semctl",
    "msgget",
    "msgsnd",
    "msgrcv",
    "msgctl",
    "mq_open",
    "mq_unlink",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_notify",
    "mq_getsetattr",
    // information
    "uname",
    "sysinfo",
    "getrandom",
];

/// Calls allowed only when the container holds a capability, as `(capability, calls)`.
const BY_CAPABILITY: &[(&str, &[&str])] = &[
    (
        "CAP_SYS_ADMIN",
        &[
            "mount",
            "umount",
            "umount2",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "fsopen",
            "fsconfig",
            "fsmount",
            "fspick",
            "pivot_root",
            "unshare",
            "setns",
            "sethostname",
            "setdomainname",
            "quotactl",
            "quotactl_fd",
            "fanotify_init",
            "lookup_dcookie",
            "bpf",
            "perf_event_open",
            "syslog",
            "clone3",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    (
        "CAP_SYS_MODULE",
        &["init_module", "finit_module", "delete_module"],
    ),
    ("CAP_SYS_PACCT", &["acct"]),
    (
        "CAP_SYS_PTRACE",
        &[
            "ptrace",
            "process_vm_readv",
            "process_vm_writev",
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
        ],
    ),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    (
        "CAP_SYS_TIME",
        &[
            "settimeofday",
            "stime",
            "clock_settime",
            "clock_settime64",
            "adjtimex",
            "clock_adjtime",
            "clock_adjtime64",
        ],
    ),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    (
        "CAP_SYS_NICE",
        &[
            "mbind",
            "set_mempolicy",
            "get_mempolicy",
            "set_mempolicy_home_node",
            "migrate_pages",
            "move_pages",
        ],
    ),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
];

/// `clone` flags that create namespaces; without `CAP_SYS_ADMIN` clone may set none.
pub const NAMESPACE_CLONE_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP) as u64;

/// The argument that holds clone's flags (s390 swaps the first two).
const CLONE_FLAGS_ARG: u32 = if cfg!(target_arch = "s390x") { 1 } else { 0 };

/// `personality(2)` values programs use (Linux, `PER_LINUX32`, `UNAME26`, queries).
const PERSONALITIES: &[u64] = &[0x0, 0x8, 0x2_0000, 0x2_0008, 0xffff_ffff];

fn normalise(cap: &str) -> String {
    let up = cap.trim().to_ascii_uppercase();
    if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// The architectures a default profile accepts on this machine: the native one and its
/// compatible 32-bit ABIs (other ABIs are killed by the filter's architecture check).
fn native_family() -> &'static [Arch] {
    if cfg!(target_arch = "x86_64") {
        &[Arch::X86_64, Arch::X86, Arch::X32]
    } else if cfg!(target_arch = "aarch64") {
        &[Arch::Aarch64, Arch::Arm]
    } else {
        &[Arch::Native]
    }
}

/// A default profile for containers, comparable in coverage to Docker's and Podman's:
/// default action `EPERM`; an allow-list of about 350 syscalls; privileged syscalls added
/// for the capabilities held (names as `CAP_SYS_ADMIN` or `sys_admin`); `clone` allowed
/// without namespace flags unless `CAP_SYS_ADMIN` is held; `clone3` answered with `ENOSYS`
/// (its flags live in memory a filter cannot read) so that libc falls back to `clone`;
/// `personality` limited to common values. Stricter than Docker in one place: `ptrace`,
/// `process_vm_readv`/`writev` and `kcmp` need `CAP_SYS_PTRACE`. Never allowed: `kexec_load`,
/// `kexec_file_load`, the keyring (`keyctl`, `add_key`, `request_key`), `userfaultfd`,
/// `swapon`/`swapoff`, `io_uring_*`, obsolete calls.
///
/// Capability names are matched without regard to case or the `CAP_` prefix; a name this
/// list does not know adds nothing (so a typo allows less, never more).
///
/// ```
/// use iso_seccomp::{default_profile, Action};
///
/// let none = default_profile(&[]); // no capability: the narrowest profile
/// let p = default_profile(&["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]);
/// assert!(p.syscalls.len() >= none.syscalls.len());
/// assert_eq!(p.default_action, Action::Errno(libc::EPERM as u32));
/// let filter = p.compile().unwrap();
/// assert!(filter.to_bpf().unwrap().len() > 100);
/// ```
pub fn default_profile(capabilities: &[&str]) -> Profile {
    let caps: Vec<String> = capabilities.iter().map(|c| normalise(c)).collect();
    let has = |c: &str| caps.iter().any(|h| h == c);
    // An allow-list naming syscalls newer than some libseccomp: a name it does not know stays
    // denied.
    let mut p =
        Profile::new(Action::Errno(libc::EPERM as u32)).unknown_syscalls(UnknownSyscalls::Skip);
    for &a in native_family() {
        p = p.arch(a);
    }
    let mut allowed: Vec<&str> = BASE.to_vec();
    for (cap, calls) in BY_CAPABILITY {
        if has(cap) {
            allowed.extend(calls.iter().copied());
        }
    }
    allowed.sort_unstable();
    allowed.dedup();
    p = p.rule(SyscallRule::new(Action::Allow, allowed));
    let personality = PERSONALITIES
        .iter()
        .fold(SyscallRule::new(Action::Allow, ["personality"]), |r, &v| {
            r.when(Condition::eq(0, v))
        });
    p = p.rule(personality);
    if has("CAP_SYS_ADMIN") {
        p = p.rule(SyscallRule::new(Action::Allow, ["clone"]));
    } else {
        p = p
            .rule(
                SyscallRule::new(Action::Allow, ["clone"]).when(Condition::masked_eq(
                    CLONE_FLAGS_ARG,
                    NAMESPACE_CLONE_FLAGS,
                    0,
                )),
            )
            .rule(SyscallRule::new(
                Action::Errno(libc::ENOSYS as u32),
                ["clone3"],
            ));
    }
    p
}
