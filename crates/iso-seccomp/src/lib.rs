//! # iso-seccomp: seccomp-bpf filters for containers
//!
//! **seccomp-bpf** lets a process attach a small classic-BPF program to itself that the
//! kernel runs on *every* system call, before the call does anything. The program sees the
//! syscall number, the caller's architecture, its instruction pointer and the six argument
//! registers (never the memory they point to) and returns an action: run the call, fail it
//! with an errno, kill, raise SIGSYS, ask a tracer, log it, or ask a supervisor process.
//!
//! ## What the kernel guarantees and checks
//!
//! - **Filters are inherited and irremovable.** A loaded filter stays for the life of the
//!   thread, is copied to every child by `fork`/`clone`, and survives `execve`. Loading
//!   another filter *adds* to the stack: every filter runs, and the most restrictive
//!   answer wins. There is no unload. (That is why this crate's tests load each filter in
//!   a forked child.)
//! - **no_new_privs.** Without `CAP_SYS_ADMIN` the kernel only accepts a filter from a
//!   thread with `PR_SET_NO_NEW_PRIVS` set, otherwise a filter could make a setuid program
//!   misbehave (make `setuid()` "fail" silently). Loading sets it by default
//!   ([`Filter::set_no_new_privs`]).
//! - **Action precedence.** When several filters (or rules) match, the kernel takes, in
//!   order: `KILL_PROCESS` > `KILL_THREAD` > `TRAP` > `ERRNO` > `USER_NOTIF` > `TRACE` >
//!   `LOG` > `ALLOW`.
//! - **Architecture checks.** Syscall numbers differ per ABI (x86_64's 59 is `execve`,
//!   i386's 59 is `oldolduname`). A filter must check `seccomp_data.arch` first or a
//!   process could bypass it through the 32-bit entry point. libseccomp emits that check;
//!   ABIs not listed in [`Profile::architectures`] are killed.
//! - **Arguments are registers.** A filter compares 64-bit register values ([`Op`]); it
//!   cannot follow pointers, so path- or struct-based policy (`clone3`'s flags, `open`'s
//!   path) needs notify or an LSM.
//! - **A rule names one syscall, exactly.** `mkdir` and `mkdirat` are two system calls (and
//!   libc may call either for `mkdir()`), as are `open`, `openat` and `openat2`: a deny rule
//!   must name every variant. A name the running architecture does not have is an error
//!   when compiling ([`UnknownSyscalls::Fail`], the default), so a typo cannot turn a deny
//!   rule into nothing; OCI profiles skip such names ([`UnknownSyscalls::Skip`]).
//! - **TSYNC.** A filter applies to the calling thread; [`Flags::TSYNC`] installs it on all
//!   threads of the process atomically, or fails if one already diverged.
//!
//! ## User notification and its TOCTOU caveat
//!
//! [`Action::Notify`] suspends the caller and hands a description of the call to the
//! holder of the *listener fd* (see [`notify`]), which answers with a value, an errno, or
//! "continue". The supervisor can read the caller's memory, but the caller's other threads
//! can change it afterwards: "continue" after checking a path is racy and is not a
//! security boundary. Emulate the call instead; and check the notification id is still
//! valid after reading memory (done by [`notify::Listener::read_memory`]), since the target
//! may have died and its pid been reused.
//!
//! ## This crate
//!
//! - [`Profile`]: a typed model as expressive as OCI `linux.seccomp` (actions, errno,
//!   architectures, [`Flags`], rules with [`Condition`]s). Conversions and JSON behind the
//!   `oci` feature.
//! - [`Profile::compile`] → [`Filter`] (through libseccomp): [`Filter::load`], or
//!   [`Filter::to_bpf`] → [`BpfProgram`], whose [`BpfProgram::load`] is async-signal-safe
//!   so a runtime compiles before `fork` and loads in the child.
//! - [`notify`]: receive, read memory, answer; pass the listener over a unix socket.
//! - [`default_profile`]: an allow-list profile for containers, with capability-dependent
//!   additions and namespace-flag filtering of `clone`.
//!
//! ```no_run
//! use iso_seccomp::{Action, Condition, Profile, SyscallRule};
//!
//! # fn main() -> Result<(), iso_seccomp::Error> {
//! let profile = Profile::new(Action::Allow)
//!     // kill(pid, SIGKILL) fails with EPERM, other signals go through
//!     .rule(SyscallRule::new(Action::Errno(libc::EPERM as u32), ["kill"])
//!         .when(Condition::eq(1, libc::SIGKILL as u64)))
//!     .rule(SyscallRule::new(Action::KillProcess, ["kexec_load"]));
//! let bpf = profile.compile()?.to_bpf()?; // before fork: allocates
//! // SAFETY: the child only loads the prepared program and exits.
//! match unsafe { libc::fork() } {
//!     0 => {
//!         let code = if bpf.load().is_ok() { 0 } else { 1 }; // after fork: no allocation
//!         unsafe { libc::_exit(code) }
//!     }
//!     _pid => { /* waitpid */ }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! `oci` (off by default): conversions from and to the types of the
//! [`oci-spec`](https://docs.rs/oci-spec) crate (version 0.10). With it, `oci-spec` is a
//! *public* dependency: its types appear in this crate's API, so use the same `oci-spec`
//! version as this crate, and a new major version of `oci-spec` means a new major version of
//! this crate.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod bpf;
mod compile;
mod default_profile;
mod error;
pub mod notify;
#[cfg(feature = "oci")]
mod oci;
mod profile;

pub use bpf::{BpfProgram, MAX_INSTRUCTIONS};
pub use compile::{library_version, Filter};
pub use default_profile::{default_profile, NAMESPACE_CLONE_FLAGS};
pub use error::{Error, Result};
/// The shared types of `iso-sys` this crate's API uses, so one dependency is enough.
pub use iso_sys::{InvalidPid, Pid};
pub use profile::{
    Action, Arch, Condition, Flags, Op, Profile, SyscallRule, UnknownSyscalls, MAX_ERRNO,
};

/// The README's example, compiled as a doctest so it stays correct.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
