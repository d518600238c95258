//! Compiling a [`Profile`] with libseccomp, and loading the result.

use std::collections::HashMap;
use std::io::{Read, Seek};
use std::os::fd::{FromRawFd, OwnedFd};

use libseccomp::{ScmpAction, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};

use crate::bpf::BpfProgram;
use crate::error::{Error, Result};
use crate::profile::{Action, Arch, Condition, Flags, Op, Profile, UnknownSyscalls};

/// The highest argument index a syscall has.
const MAX_ARG: u32 = 5;

/// The version of the libseccomp library loaded at run time, and its API level
/// (`seccomp_api_get`: what the library found the kernel supports). Both change what
/// [`Profile::compile`] produces, so a cache of compiled programs belongs in its key.
///
/// ```
/// let ((major, _, _), api) = iso_seccomp::library_version().unwrap();
/// assert_eq!(major, 2);
/// assert!(api >= 1);
/// ```
pub fn library_version() -> Result<((u32, u32, u32), u32)> {
    let v =
        libseccomp::ScmpVersion::current().map_err(|e| Error::libseccomp("seccomp_version", &e))?;
    Ok(((v.major, v.minor, v.micro), libseccomp::get_api()))
}

fn to_scmp_action(a: Action) -> ScmpAction {
    match a {
        Action::KillThread | Action::Kill => ScmpAction::KillThread,
        Action::KillProcess => ScmpAction::KillProcess,
        Action::Trap => ScmpAction::Trap,
        // check() bounded both values before this is called.
        Action::Errno(n) => ScmpAction::Errno(n as i32),
        Action::Trace(n) => ScmpAction::Trace(n as u16),
        Action::Allow => ScmpAction::Allow,
        Action::Log => ScmpAction::Log,
        Action::Notify => ScmpAction::Notify,
    }
}

fn to_scmp_cmp(c: &Condition) -> ScmpArgCompare {
    let (op, datum) = match c.op {
        Op::Ne(v) => (ScmpCompareOp::NotEqual, v),
        Op::Lt(v) => (ScmpCompareOp::Less, v),
        Op::Le(v) => (ScmpCompareOp::LessOrEqual, v),
        Op::Eq(v) => (ScmpCompareOp::Equal, v),
        Op::Ge(v) => (ScmpCompareOp::GreaterEqual, v),
        Op::Gt(v) => (ScmpCompareOp::Greater, v),
        Op::MaskedEq { mask, value } => (ScmpCompareOp::MaskedEqual(mask), value),
    };
    ScmpArgCompare::new(c.arg, op, datum)
}

/// Whether two or more conditions test the same argument (then they are ORed, see
/// [`crate::SyscallRule`]).
fn repeats_an_argument(conditions: &[Condition]) -> bool {
    let mut seen = [false; (MAX_ARG + 1) as usize];
    for c in conditions {
        let slot = &mut seen[c.arg as usize];
        if *slot {
            return true;
        }
        *slot = true;
    }
    false
}

/// A profile compiled by libseccomp, ready to be loaded or exported as BPF.
///
/// ```no_run
/// use iso_seccomp::{Action, Profile, SyscallRule};
///
/// # fn main() -> Result<(), iso_seccomp::Error> {
/// let filter = Profile::new(Action::Allow)
///     .rule(SyscallRule::new(Action::Errno(libc::EPERM as u32), ["mount", "umount2"]))
///     .compile()?;
/// filter.load()?; // this process and its future children can no longer mount
/// # Ok(())
/// # }
/// ```
pub struct Filter {
    ctx: ScmpFilterContext,
    flags: Flags,
    uses_notify: bool,
    no_new_privs: bool,
    skipped: Vec<String>,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("flags", &self.flags)
            .field("uses_notify", &self.uses_notify)
            .field("no_new_privs", &self.no_new_privs)
            .field("skipped", &self.skipped)
            .finish()
    }
}

impl Profile {
    /// Compiles the profile with libseccomp.
    ///
    /// A syscall name unknown on the running architecture is an error naming it, or, with
    /// [`UnknownSyscalls::Skip`] (profiles read from OCI), skipped with a `tracing::debug!`
    /// message (see [`Filter::skipped_syscalls`]); rules whose action is
    /// the default action are dropped as redundant. Everything else that is wrong is an
    /// error naming the rule index and syscall: an argument index above 5, an errno above
    /// 4095, a conflicting rule libseccomp refuses. Profile-wide problems
    /// (`Notify` as default action, `WAIT_KILLABLE_RECV` without a notify rule, an
    /// architecture libseccomp cannot combine) are [`Error::InvalidProfile`].
    ///
    /// ```
    /// use iso_seccomp::{Action, Condition, Profile, SyscallRule, UnknownSyscalls};
    ///
    /// let rule = SyscallRule::new(Action::Errno(1), ["no_such_syscall", "getpid"]);
    /// let err = Profile::new(Action::Allow).rule(rule.clone()).compile().unwrap_err();
    /// assert!(err.to_string().starts_with("rule 0 (no_such_syscall): unknown syscall"));
    /// let f = Profile::new(Action::Allow)
    ///     .unknown_syscalls(UnknownSyscalls::Skip)
    ///     .rule(rule)
    ///     .compile()
    ///     .unwrap();
    /// assert_eq!(f.skipped_syscalls(), ["no_such_syscall"]);
    ///
    /// let bad = Profile::new(Action::Allow)
    ///     .rule(SyscallRule::new(Action::Errno(1), ["getpid"]).when(Condition::eq(6, 0)));
    /// assert!(bad.compile().unwrap_err().to_string().starts_with("rule 0 (getpid)"));
    /// ```
    pub fn compile(&self) -> Result<Filter> {
        let default = self.default_action;
        default.check().map_err(|reason| Error::InvalidProfile {
            field: "default_action",
            reason,
        })?;
        if default == Action::Notify {
            return Err(Error::InvalidProfile {
                field: "default_action",
                reason: "SCMP_ACT_NOTIFY cannot be the default action".into(),
            });
        }
        if self.flags.contains(Flags::WAIT_KILLABLE_RECV) && !self.uses_notify() {
            // The kernel accepts the flag only together with a listener.
            return Err(Error::InvalidProfile {
                field: "flags",
                reason: "WAIT_KILLABLE_RECV needs a rule with SCMP_ACT_NOTIFY".into(),
            });
        }
        let mut ctx = ScmpFilterContext::new(to_scmp_action(default))
            .map_err(|e| Error::libseccomp("seccomp_init", &e))?;
        for &arch in &self.architectures {
            if arch == Arch::Native {
                continue;
            }
            ctx.add_arch(arch.to_scmp())
                .map_err(|e| Error::InvalidProfile {
                    field: "architectures",
                    reason: format!("{}: {e}", arch.oci_name()),
                })?;
        }
        // We set no_new_privs ourselves (or deliberately do not), see set_no_new_privs.
        ctx.set_ctl_nnp(false)
            .map_err(|e| Error::libseccomp("seccomp_attr_set(CTL_NNP)", &e))?;
        if self.flags.contains(Flags::TSYNC) {
            ctx.set_ctl_tsync(true)
                .map_err(|e| Error::libseccomp("seccomp_attr_set(CTL_TSYNC)", &e))?;
        }
        if self.flags.contains(Flags::LOG) {
            ctx.set_ctl_log(true)
                .map_err(|e| Error::libseccomp("seccomp_attr_set(CTL_LOG)", &e))?;
        }
        if self.flags.contains(Flags::SPEC_ALLOW) {
            ctx.set_ctl_ssb(true)
                .map_err(|e| Error::libseccomp("seccomp_attr_set(CTL_SSB)", &e))?;
        }
        let mut skipped = Vec::new();
        let mut resolved: HashMap<&str, Option<ScmpSyscall>> = HashMap::new();
        for (index, rule) in self.syscalls.iter().enumerate() {
            let first = rule.names.first().map(String::as_str).unwrap_or("");
            let invalid = |syscall: &str, reason: String| Error::InvalidRule {
                index,
                syscall: syscall.to_owned(),
                reason,
            };
            if rule.names.is_empty() {
                return Err(invalid("", "the rule names no syscall".into()));
            }
            rule.action.check().map_err(|r| invalid(first, r))?;
            if let Some(c) = rule.conditions.iter().find(|c| c.arg > MAX_ARG) {
                return Err(invalid(
                    first,
                    format!("argument index {} is above {MAX_ARG}", c.arg),
                ));
            }
            if rule.action.same_effect(default) {
                tracing::debug!(index, "seccomp rule has the default action; skipped");
                continue;
            }
            let cmps: Vec<ScmpArgCompare> = rule.conditions.iter().map(to_scmp_cmp).collect();
            let split = repeats_an_argument(&rule.conditions);
            let action = to_scmp_action(rule.action);
            for name in &rule.names {
                if name.is_empty() {
                    return Err(invalid(name, "empty syscall name".into()));
                }
                let nr = *resolved
                    .entry(name.as_str())
                    .or_insert_with(|| ScmpSyscall::from_name(name).ok());
                let Some(nr) = nr else {
                    if self.unknown_syscalls == UnknownSyscalls::Fail {
                        return Err(invalid(name, unknown_syscall(name)));
                    }
                    tracing::debug!(syscall = %name, index, "unknown seccomp syscall name skipped");
                    if !skipped.contains(name) {
                        skipped.push(name.clone());
                    }
                    continue;
                };
                let added = if cmps.is_empty() {
                    ctx.add_rule(action, nr)
                } else if split {
                    cmps.iter()
                        .try_for_each(|c| ctx.add_rule_conditional(action, nr, &[*c]).map(drop))
                        .map(|()| &mut ctx)
                } else {
                    ctx.add_rule_conditional(action, nr, &cmps)
                };
                added.map_err(|e| invalid(name, format!("libseccomp refused the rule: {e}")))?;
            }
        }
        Ok(Filter {
            ctx,
            flags: self.flags,
            uses_notify: self.uses_notify(),
            no_new_privs: true,
            skipped,
        })
    }
}

impl Filter {
    /// The syscall names that were skipped because the running architecture does not know
    /// them.
    ///
    /// ```
    /// use iso_seccomp::{Action, Profile, SyscallRule};
    /// let f = Profile::new(Action::Allow)
    ///     .rule(SyscallRule::new(Action::Errno(1), ["getpid"]))
    ///     .compile()
    ///     .unwrap();
    /// assert!(f.skipped_syscalls().is_empty());
    /// ```
    pub fn skipped_syscalls(&self) -> &[String] {
        &self.skipped
    }

    /// Whether loading sets `no_new_privs` first (default: true).
    ///
    /// Without `CAP_SYS_ADMIN` the kernel only accepts a filter from a thread with
    /// `no_new_privs`, so that a filter cannot confuse a setuid program. A privileged
    /// runtime whose container must keep gaining privileges through exec (OCI
    /// `noNewPrivileges: false`) turns it off.
    ///
    /// ```
    /// use iso_seccomp::{Action, Profile};
    /// let mut f = Profile::new(Action::Allow).compile().unwrap();
    /// f.set_no_new_privs(false);
    /// ```
    pub fn set_no_new_privs(&mut self, on: bool) -> &mut Self {
        self.no_new_privs = on;
        self
    }

    /// Loads the filter into the calling thread (all threads with [`Flags::TSYNC`]).
    ///
    /// Filters with notify rules or [`Flags::WAIT_KILLABLE_RECV`] are loaded through
    /// [`BpfProgram::load`] (libseccomp 2.5 knows neither the listener ownership we need
    /// nor that flag); the others through `seccomp_load`. Returns the listener fd when the
    /// profile uses [`Action::Notify`]. Allocates: call it before `fork`, or use
    /// [`Filter::to_bpf`] and [`BpfProgram::load`] after it.
    ///
    /// ```no_run
    /// use iso_seccomp::{Action, Profile, SyscallRule};
    /// # fn main() -> Result<(), iso_seccomp::Error> {
    /// let listener = Profile::new(Action::Allow)
    ///     .rule(SyscallRule::new(Action::Notify, ["mkdir", "mkdirat"]))
    ///     .compile()?
    ///     .load()?;
    /// assert!(listener.is_some());
    /// # Ok(())
    /// # }
    /// ```
    pub fn load(&self) -> Result<Option<OwnedFd>> {
        if self.uses_notify || self.flags.contains(Flags::WAIT_KILLABLE_RECV) {
            return self.to_bpf()?.load();
        }
        if self.no_new_privs {
            set_no_new_privs()?;
        }
        self.ctx
            .load()
            .map_err(|e| Error::libseccomp("seccomp_load", &e))?;
        Ok(None)
    }

    /// Exports the compiled filter as a BPF program for [`BpfProgram::load`], the loader
    /// that is safe between `fork` and `exec`.
    ///
    /// ```
    /// use iso_seccomp::{Action, Profile, SyscallRule};
    /// let bpf = Profile::new(Action::Allow)
    ///     .rule(SyscallRule::new(Action::Errno(1), ["getpid"]))
    ///     .compile()
    ///     .unwrap()
    ///     .to_bpf()
    ///     .unwrap();
    /// assert!(bpf.len() > 3);
    /// ```
    pub fn to_bpf(&self) -> Result<BpfProgram> {
        // libseccomp 2.5 exports only to a file descriptor: use an anonymous memfd.
        // SAFETY: the name is a NUL-terminated literal.
        let raw = unsafe { libc::memfd_create(c"iso-seccomp-bpf".as_ptr(), libc::MFD_CLOEXEC) };
        if raw < 0 {
            return Err(Error::last_os("memfd_create", "iso-seccomp-bpf"));
        }
        // SAFETY: memfd_create returned a fresh descriptor we now own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        self.ctx
            .export_bpf(&fd)
            .map_err(|e| Error::libseccomp("seccomp_export_bpf", &e))?;
        let mut file = std::fs::File::from(fd);
        let mut bytes = Vec::new();
        file.rewind()
            .and_then(|_| file.read_to_end(&mut bytes))
            .map_err(|source| Error::Syscall {
                operation: "read",
                field: "exported BPF memfd",
                source,
            })?;
        let mut prog = BpfProgram::from_bytes(&bytes, self.flags)?;
        prog.set_new_listener(self.uses_notify);
        prog.set_no_new_privs(self.no_new_privs);
        Ok(prog)
    }
}

/// Sets `no_new_privs` on the calling thread. Async-signal-safe.
pub(crate) fn set_no_new_privs() -> Result<()> {
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(Error::sys(
            "prctl(PR_SET_NO_NEW_PRIVS)",
            "no_new_privs",
            errno(),
        ));
    }
    Ok(())
}

/// The thread's errno, without allocating.
pub(crate) fn errno() -> i32 {
    // SAFETY: __errno_location returns the calling thread's errno slot.
    unsafe { *libc::__errno_location() }
}

/// Why a name libseccomp does not know is refused, with the way out.
fn unknown_syscall(name: &str) -> String {
    let version = match library_version() {
        Ok(((major, minor, micro), _)) => format!(" (libseccomp {major}.{minor}.{micro})"),
        Err(_) => String::new(),
    };
    format!(
        "unknown syscall {name:?} on this architecture{version}; check the spelling, \
         or use UnknownSyscalls::Skip for syscalls newer than libseccomp"
    )
}
