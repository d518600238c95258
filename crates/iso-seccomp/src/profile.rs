//! The typed profile model: what a seccomp profile says, before it is compiled.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The largest errno a filter can return. The kernel reads return values above 4095 as
/// success, and libseccomp refuses 4095 itself (its check is `errno < 4095`), so 4094 is the
/// largest value that both accept.
pub const MAX_ERRNO: u32 = 4094;

/// What the kernel does when a filter matches a system call.
///
/// When several filters are stacked, or several rules match, the kernel applies the most
/// restrictive action, in this order: `KillProcess`, `KillThread`/`Kill`, `Trap`,
/// `Errno`, `Notify`, `Trace`, `Log`, `Allow`.
///
/// ```
/// use iso_seccomp::Action;
/// assert_eq!("SCMP_ACT_ERRNO".parse::<Action>().unwrap(), Action::Errno(libc::EPERM as u32));
/// assert_eq!(Action::KillProcess.to_string(), "SCMP_ACT_KILL_PROCESS");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// Kill the calling thread (`SECCOMP_RET_KILL_THREAD`); the process dies with SIGSYS if
    /// it was its last thread.
    KillThread,
    /// Kill the whole process with SIGSYS (`SECCOMP_RET_KILL_PROCESS`).
    KillProcess,
    /// The OCI `SCMP_ACT_KILL`: the same as [`Action::KillThread`], kept apart so that a
    /// profile round-trips.
    Kill,
    /// Deliver SIGSYS to the thread (`SECCOMP_RET_TRAP`), which may handle it.
    Trap,
    /// Fail the call with this errno without running it (`SECCOMP_RET_ERRNO`); at most
    /// [`MAX_ERRNO`].
    Errno(u32),
    /// Stop the thread for a ptrace tracer with this message (`SECCOMP_RET_TRACE`); without
    /// a tracer the call fails with `ENOSYS`. At most 65535.
    Trace(u32),
    /// Run the call.
    Allow,
    /// Run the call and log it to the audit log (`SECCOMP_RET_LOG`).
    Log,
    /// Suspend the call and ask the supervisor holding the listener fd
    /// (`SECCOMP_RET_USER_NOTIF`); see [`crate::notify`].
    Notify,
}

impl Action {
    /// The OCI name of the action (`SCMP_ACT_*`), without its errno/trace value.
    ///
    /// ```
    /// assert_eq!(iso_seccomp::Action::Trace(3).oci_name(), "SCMP_ACT_TRACE");
    /// ```
    pub fn oci_name(self) -> &'static str {
        match self {
            Action::KillThread => "SCMP_ACT_KILL_THREAD",
            Action::KillProcess => "SCMP_ACT_KILL_PROCESS",
            Action::Kill => "SCMP_ACT_KILL",
            Action::Trap => "SCMP_ACT_TRAP",
            Action::Errno(_) => "SCMP_ACT_ERRNO",
            Action::Trace(_) => "SCMP_ACT_TRACE",
            Action::Allow => "SCMP_ACT_ALLOW",
            Action::Log => "SCMP_ACT_LOG",
            Action::Notify => "SCMP_ACT_NOTIFY",
        }
    }

    /// Checks the value range of `Errno` and `Trace`; the reason on failure.
    pub(crate) fn check(self) -> Result<(), String> {
        match self {
            Action::Errno(n) if n > MAX_ERRNO => {
                Err(format!("errno {n} is larger than MAX_ERRNO ({MAX_ERRNO})"))
            }
            Action::Trace(n) if n > u32::from(u16::MAX) => {
                Err(format!("trace value {n} does not fit in 16 bits"))
            }
            _ => Ok(()),
        }
    }

    /// Whether two actions compile to the same kernel return value.
    pub(crate) fn same_effect(self, other: Action) -> bool {
        let norm = |a: Action| {
            if a == Action::Kill {
                Action::KillThread
            } else {
                a
            }
        };
        norm(self) == norm(other)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.oci_name())
    }
}

impl FromStr for Action {
    type Err = String;

    /// Parses an OCI action name; `SCMP_ACT_ERRNO` and `SCMP_ACT_TRACE` get `EPERM`, the
    /// value runc uses when the profile gives no `errnoRet`.
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "SCMP_ACT_KILL_THREAD" => Action::KillThread,
            "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
            "SCMP_ACT_KILL" => Action::Kill,
            "SCMP_ACT_TRAP" => Action::Trap,
            "SCMP_ACT_ERRNO" => Action::Errno(libc::EPERM as u32),
            "SCMP_ACT_TRACE" => Action::Trace(libc::EPERM as u32),
            "SCMP_ACT_ALLOW" => Action::Allow,
            "SCMP_ACT_LOG" => Action::Log,
            "SCMP_ACT_NOTIFY" => Action::Notify,
            other => return Err(format!("unknown seccomp action {other:?}")),
        })
    }
}

macro_rules! arches {
    ($( $(#[$doc:meta])* $v:ident = $oci:literal, $audit:expr, $scmp:ident; )*) => {
        /// A CPU architecture (ABI) a filter accepts system calls from.
        ///
        /// Every system call carries the caller's audit architecture. A filter checks it
        /// first: calls from an architecture the filter does not list are killed, so a
        /// 64-bit filter cannot be bypassed through the 32-bit `int 0x80` entry. List the
        /// compatible ABIs (x86 and x32 on x86_64) to allow them with translated rules.
        ///
        /// ```
        /// use iso_seccomp::Arch;
        /// assert_eq!("SCMP_ARCH_X86_64".parse::<Arch>().unwrap(), Arch::X86_64);
        /// assert_eq!(Arch::from_audit(0xc000_003e), Some(Arch::X86_64));
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(non_camel_case_types)]
        #[non_exhaustive]
        pub enum Arch {
            /// The architecture this program runs as.
            Native,
            $( $(#[$doc])* $v, )*
        }

        impl Arch {
            /// Every architecture, `Native` first.
            pub const ALL: &'static [Arch] = &[Arch::Native, $(Arch::$v,)*];

            /// The OCI name (`SCMP_ARCH_*`).
            ///
            /// ```
            /// assert_eq!(iso_seccomp::Arch::Aarch64.oci_name(), "SCMP_ARCH_AARCH64");
            /// ```
            pub fn oci_name(self) -> &'static str {
                match self {
                    Arch::Native => "SCMP_ARCH_NATIVE",
                    $( Arch::$v => $oci, )*
                }
            }

            /// The architecture of a kernel `AUDIT_ARCH_*` value (what a notification
            /// reports), if known. x32 shares x86_64's audit value and is reported as
            /// x86_64.
            ///
            /// ```
            /// assert_eq!(iso_seccomp::Arch::from_audit(0), None);
            /// ```
            pub fn from_audit(audit: u32) -> Option<Arch> {
                $( if Arch::$v != Arch::X32 && audit == $audit { return Some(Arch::$v); } )*
                None
            }

            pub(crate) fn to_scmp(self) -> libseccomp::ScmpArch {
                match self {
                    Arch::Native => libseccomp::ScmpArch::Native,
                    $( Arch::$v => libseccomp::ScmpArch::$scmp, )*
                }
            }
        }

        impl FromStr for Arch {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    "SCMP_ARCH_NATIVE" => Ok(Arch::Native),
                    $( $oci => Ok(Arch::$v), )*
                    other => Err(format!("unknown seccomp architecture {other:?}")),
                }
            }
        }
    };
}

arches! {
    /// 32-bit x86.
    X86 = "SCMP_ARCH_X86", 0x4000_0003, X86;
    /// x86-64.
    X86_64 = "SCMP_ARCH_X86_64", 0xc000_003e, X8664;
    /// x32 (32-bit pointers on x86-64).
    X32 = "SCMP_ARCH_X32", 0xc000_003e, X32;
    /// 32-bit ARM.
    Arm = "SCMP_ARCH_ARM", 0x4000_0028, Arm;
    /// 64-bit ARM.
    Aarch64 = "SCMP_ARCH_AARCH64", 0xc000_00b7, Aarch64;
    /// MIPS big-endian.
    Mips = "SCMP_ARCH_MIPS", 0x0000_0008, Mips;
    /// MIPS64 big-endian.
    Mips64 = "SCMP_ARCH_MIPS64", 0x8000_0008, Mips64;
    /// MIPS64 n32 big-endian.
    Mips64N32 = "SCMP_ARCH_MIPS64N32", 0xa000_0008, Mips64N32;
    /// MIPS little-endian.
    Mipsel = "SCMP_ARCH_MIPSEL", 0x4000_0008, Mipsel;
    /// MIPS64 little-endian.
    Mipsel64 = "SCMP_ARCH_MIPSEL64", 0xc000_0008, Mipsel64;
    /// MIPS64 n32 little-endian.
    Mipsel64N32 = "SCMP_ARCH_MIPSEL64N32", 0xe000_0008, Mipsel64N32;
    /// 32-bit PowerPC.
    Ppc = "SCMP_ARCH_PPC", 0x0000_0014, Ppc;
    /// 64-bit PowerPC big-endian.
    Ppc64 = "SCMP_ARCH_PPC64", 0x8000_0015, Ppc64;
    /// 64-bit PowerPC little-endian.
    Ppc64Le = "SCMP_ARCH_PPC64LE", 0xc000_0015, Ppc64Le;
    /// 31-bit s390.
    S390 = "SCMP_ARCH_S390", 0x0000_0016, S390;
    /// 64-bit s390x.
    S390X = "SCMP_ARCH_S390X", 0x8000_0016, S390X;
    /// 32-bit PA-RISC.
    Parisc = "SCMP_ARCH_PARISC", 0x0000_000f, Parisc;
    /// 64-bit PA-RISC.
    Parisc64 = "SCMP_ARCH_PARISC64", 0x8000_000f, Parisc64;
    /// 64-bit RISC-V.
    Riscv64 = "SCMP_ARCH_RISCV64", 0xc000_00f3, Riscv64;
    /// 64-bit LoongArch.
    Loongarch64 = "SCMP_ARCH_LOONGARCH64", 0xc000_0102, Loongarch64;
    /// Motorola 68000.
    M68k = "SCMP_ARCH_M68K", 0x0000_0004, M68k;
    /// SuperH little-endian.
    Sh = "SCMP_ARCH_SH", 0x4000_002a, Sh;
    /// SuperH big-endian.
    Sheb = "SCMP_ARCH_SHEB", 0x0000_002a, Sheb;
}

bitflags::bitflags! {
    /// Flags for `seccomp(SECCOMP_SET_MODE_FILTER)`, with the kernel's values.
    ///
    /// ```
    /// use iso_seccomp::Flags;
    /// let f = Flags::TSYNC | Flags::LOG;
    /// assert_eq!(f.bits(), 3);
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Flags: u32 {
        /// Install the filter on every thread of the process (`SECCOMP_FILTER_FLAG_TSYNC`).
        const TSYNC = 1;
        /// Log every action except `Allow` (`SECCOMP_FILTER_FLAG_LOG`).
        const LOG = 1 << 1;
        /// Do not force the speculative store bypass mitigation
        /// (`SECCOMP_FILTER_FLAG_SPEC_ALLOW`).
        const SPEC_ALLOW = 1 << 2;
        /// While the supervisor has received a notification, only fatal signals interrupt
        /// the waiting call (`SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`, Linux 5.19).
        const WAIT_KILLABLE_RECV = 1 << 5;
    }
}

/// A comparison of one syscall argument with constants.
///
/// The kernel compares the 64-bit register value. For `MaskedEq` the argument is ANDed
/// with `mask` and compared with `value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// `arg != v`
    Ne(u64),
    /// `arg < v`
    Lt(u64),
    /// `arg <= v`
    Le(u64),
    /// `arg == v`
    Eq(u64),
    /// `arg >= v`
    Ge(u64),
    /// `arg > v`
    Gt(u64),
    /// `arg & mask == value`
    MaskedEq {
        /// The bits to look at.
        mask: u64,
        /// What they must be.
        value: u64,
    },
}

/// One argument condition of a rule: argument `arg` (0 to 5) compared by `op`.
///
/// ```
/// use iso_seccomp::{Condition, Op};
/// let c = Condition::masked_eq(0, 0x1000_0000, 0);
/// assert_eq!(c.op, Op::MaskedEq { mask: 0x1000_0000, value: 0 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Condition {
    /// The zero-based syscall argument index (0 to 5).
    pub arg: u32,
    /// The comparison.
    pub op: Op,
}

impl Condition {
    /// `arg == value`
    ///
    /// ```
    /// let c = iso_seccomp::Condition::eq(1, 7);
    /// assert_eq!(c.arg, 1);
    /// ```
    pub fn eq(arg: u32, value: u64) -> Self {
        Condition {
            arg,
            op: Op::Eq(value),
        }
    }

    /// `arg != value`
    ///
    /// ```
    /// let c = iso_seccomp::Condition::ne(0, 7);
    /// ```
    pub fn ne(arg: u32, value: u64) -> Self {
        Condition {
            arg,
            op: Op::Ne(value),
        }
    }

    /// `arg < value`
    ///
    /// ```
    /// let c = iso_seccomp::Condition::lt(0, 7);
    /// ```
    pub fn lt(arg: u32, value: u64) -> Self {
        Condition {
            arg,
            op: Op::Lt(value),
        }
    }

    /// `arg <= value`
    ///
    /// ```
    /// let c = iso_seccomp::Condition::le(0, 7);
    /// ```
    pub fn le(arg: u32, value: u64) -> Self {
        Condition {
            arg,
            op: Op::Le(value),
        }
    }

    /// `arg >= value`
    ///
    /// ```
    /// let c = iso_seccomp::Condition::ge(0, 7);
    /// ```
    pub fn ge(arg: u32, value: u64) -> Self {
        Condition {
            arg,
            op: Op::Ge(value),
        }
    }

    /// `arg > value`
    ///
    /// ```
    /// let c = iso_seccomp::Condition::gt(0, 7);
    /// ```
    pub fn gt(arg: u32, value: u64) -> Self {
        Condition {
            arg,
            op: Op::Gt(value),
        }
    }

    /// `arg & mask == value`
    ///
    /// ```
    /// // "none of the namespace flags is set"
    /// let c = iso_seccomp::Condition::masked_eq(0, 0x7e02_0000, 0);
    /// ```
    pub fn masked_eq(arg: u32, mask: u64, value: u64) -> Self {
        Condition {
            arg,
            op: Op::MaskedEq { mask, value },
        }
    }
}

/// A rule: for each of `names`, when all `conditions` hold, take `action`.
///
/// Conditions on different arguments are ANDed. libseccomp cannot AND two conditions on
/// the same argument; when a rule has several conditions on one argument, it is split
/// into one rule per condition, which makes the conditions ORed (the behaviour of runc,
/// so that OCI profiles mean the same under every runtime).
///
/// ```
/// use iso_seccomp::{Action, Condition, SyscallRule};
/// // personality(0) or personality(0xffffffff) are allowed
/// let r = SyscallRule::new(Action::Allow, ["personality"])
///     .when(Condition::eq(0, 0))
///     .when(Condition::eq(0, 0xffff_ffff));
/// assert_eq!(r.conditions.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyscallRule {
    /// Syscall names, resolved for the running architecture when compiled.
    pub names: Vec<String>,
    /// What to do.
    pub action: Action,
    /// Argument conditions (empty: always).
    pub conditions: Vec<Condition>,
}

impl SyscallRule {
    /// A rule for these syscall names, without conditions.
    ///
    /// Each name is one system call, matched exactly: a rule for `mkdir` does not cover
    /// `mkdirat`, nor `open` cover `openat` or `openat2`, and libc often calls the `*at`
    /// variant (glibc's `mkdir()` is `mkdirat` on aarch64 and `open()` is `openat` everywhere).
    /// Name every variant a rule is meant to catch.
    ///
    /// ```
    /// let r = iso_seccomp::SyscallRule::new(iso_seccomp::Action::Allow, ["read", "write"]);
    /// assert_eq!(r.names, ["read", "write"]);
    /// ```
    pub fn new<I, S>(action: Action, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        SyscallRule {
            names: names.into_iter().map(Into::into).collect(),
            action,
            conditions: Vec::new(),
        }
    }

    /// Adds an argument condition.
    ///
    /// ```
    /// use iso_seccomp::{Action, Condition, SyscallRule};
    /// let r = SyscallRule::new(Action::Errno(1), ["kill"]).when(Condition::eq(1, 9));
    /// ```
    pub fn when(mut self, condition: Condition) -> Self {
        self.conditions.push(condition);
        self
    }
}

/// What [`Profile::compile`] does with a syscall name libseccomp does not know on this
/// architecture (a typo, or a syscall newer than the installed libseccomp).
///
/// ```
/// use iso_seccomp::{Action, Profile, SyscallRule, UnknownSyscalls};
/// let p = Profile::new(Action::Allow).rule(SyscallRule::new(Action::Errno(1), ["getpdi"]));
/// assert_eq!(p.unknown_syscalls, UnknownSyscalls::Fail);
/// assert!(p.compile().unwrap_err().to_string().contains("unknown syscall \"getpdi\""));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UnknownSyscalls {
    /// Compiling fails with an error naming the rule and the name: a misspelt deny rule
    /// would otherwise deny nothing. The default of [`Profile::new`].
    #[default]
    Fail,
    /// The name is left out and listed in [`Filter::skipped_syscalls`](crate::Filter::skipped_syscalls),
    /// as runc does for OCI profiles, which name syscalls of newer kernels. The default for
    /// profiles read from OCI and for [`default_profile`](crate::default_profile) (an
    /// allow-list, so a left-out name is denied).
    Skip,
}

/// A seccomp profile: a default action, the architectures, flags and the rules; as
/// expressive as the OCI `LinuxSeccomp`.
///
/// ```
/// use iso_seccomp::{Action, Arch, Flags, Profile, SyscallRule};
///
/// let profile = Profile::new(Action::Errno(libc::EPERM as u32))
///     .arch(Arch::Native)
///     .flags(Flags::TSYNC)
///     .rule(SyscallRule::new(Action::Allow, ["read", "write", "exit_group"]));
/// assert_eq!(profile.syscalls.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The action for calls no rule matches (OCI `defaultAction` and `defaultErrnoRet`).
    pub default_action: Action,
    /// The architectures besides the native one (OCI `architectures`).
    pub architectures: Vec<Arch>,
    /// Filter flags (OCI `flags`).
    pub flags: Flags,
    /// The rules (OCI `syscalls`).
    pub syscalls: Vec<SyscallRule>,
    /// Where a runtime sends the listener fd (OCI `listenerPath`); not used by this crate
    /// except for round-trips, see [`crate::notify::send_fd_to_path`].
    pub listener_path: Option<PathBuf>,
    /// Opaque data for the seccomp agent (OCI `listenerMetadata`).
    pub listener_metadata: Option<String>,
    /// Whether a syscall name libseccomp does not know is an error (the default) or skipped.
    pub unknown_syscalls: UnknownSyscalls,
}

impl Profile {
    /// An empty profile with this default action.
    ///
    /// ```
    /// let p = iso_seccomp::Profile::new(iso_seccomp::Action::Allow);
    /// assert!(p.syscalls.is_empty());
    /// ```
    pub fn new(default_action: Action) -> Self {
        Profile {
            default_action,
            architectures: Vec::new(),
            flags: Flags::empty(),
            syscalls: Vec::new(),
            listener_path: None,
            listener_metadata: None,
            unknown_syscalls: UnknownSyscalls::Fail,
        }
    }

    /// Sets what compiling does with unknown syscall names ([`UnknownSyscalls`]).
    ///
    /// ```
    /// use iso_seccomp::{Action, Profile, SyscallRule, UnknownSyscalls};
    /// let f = Profile::new(Action::Allow)
    ///     .unknown_syscalls(UnknownSyscalls::Skip)
    ///     .rule(SyscallRule::new(Action::Errno(1), ["getpdi", "getpid"]))
    ///     .compile()?;
    /// assert_eq!(f.skipped_syscalls(), ["getpdi"]);
    /// # Ok::<(), iso_seccomp::Error>(())
    /// ```
    pub fn unknown_syscalls(mut self, unknown: UnknownSyscalls) -> Self {
        self.unknown_syscalls = unknown;
        self
    }

    /// Adds an architecture.
    ///
    /// ```
    /// use iso_seccomp::{Action, Arch, Profile};
    /// let p = Profile::new(Action::Allow).arch(Arch::X86_64).arch(Arch::X86);
    /// assert_eq!(p.architectures.len(), 2);
    /// ```
    pub fn arch(mut self, arch: Arch) -> Self {
        if !self.architectures.contains(&arch) {
            self.architectures.push(arch);
        }
        self
    }

    /// Adds filter flags.
    ///
    /// ```
    /// use iso_seccomp::{Action, Flags, Profile};
    /// let p = Profile::new(Action::Allow).flags(Flags::LOG);
    /// assert!(p.flags.contains(Flags::LOG));
    /// ```
    pub fn flags(mut self, flags: Flags) -> Self {
        self.flags |= flags;
        self
    }

    /// Adds a rule.
    ///
    /// ```
    /// use iso_seccomp::{Action, Profile, SyscallRule};
    /// let p = Profile::new(Action::Allow).rule(SyscallRule::new(Action::Errno(1), ["mount"]));
    /// ```
    pub fn rule(mut self, rule: SyscallRule) -> Self {
        self.syscalls.push(rule);
        self
    }

    /// Whether any rule uses [`Action::Notify`], so that loading returns a listener fd.
    ///
    /// ```
    /// use iso_seccomp::{Action, Profile, SyscallRule};
    /// let p = Profile::new(Action::Allow).rule(SyscallRule::new(Action::Notify, ["mkdir"]));
    /// assert!(p.uses_notify());
    /// ```
    pub fn uses_notify(&self) -> bool {
        self.default_action == Action::Notify
            || self.syscalls.iter().any(|r| r.action == Action::Notify)
    }
}
