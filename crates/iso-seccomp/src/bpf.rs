//! Prepared BPF programs and their async-signal-safe loader.

use std::os::fd::{FromRawFd, OwnedFd};

use crate::compile::{errno, set_no_new_privs};
use crate::error::{Error, Result};
use crate::profile::Flags;

/// The kernel's limit on instructions in one classic BPF program (`BPF_MAXINSNS`).
pub const MAX_INSTRUCTIONS: usize = 4096;

const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
const FLAG_NEW_LISTENER: libc::c_ulong = 1 << 3;
const FLAG_TSYNC_ESRCH: libc::c_ulong = 1 << 4;

/// One classic BPF instruction, laid out like the kernel's `struct sock_filter`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Insn {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

/// The kernel's `struct sock_fprog`.
#[repr(C)]
struct Fprog {
    len: libc::c_ushort,
    filter: *const Insn,
}

/// A seccomp filter as a classic BPF program, with the flags to load it with.
///
/// A runtime compiles the profile and exports it before `fork` ([`crate::Filter::to_bpf`]),
/// then calls [`BpfProgram::load`] in the child, which only makes system calls.
///
/// ```
/// use iso_seccomp::{Action, BpfProgram, Flags, Profile};
///
/// let bpf = Profile::new(Action::Allow).compile().unwrap().to_bpf().unwrap();
/// let bytes = bpf.to_bytes();
/// let again = BpfProgram::from_bytes(&bytes, Flags::empty()).unwrap();
/// assert_eq!(again.len(), bpf.len());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BpfProgram {
    insns: Vec<Insn>,
    flags: Flags,
    new_listener: bool,
    no_new_privs: bool,
}

impl BpfProgram {
    /// Reads a program from its bytes (8 bytes per instruction, native endianness, as
    /// libseccomp's `seccomp_export_bpf` writes them).
    ///
    /// ```
    /// use iso_seccomp::{BpfProgram, Flags};
    /// // "return SECCOMP_RET_ALLOW"
    /// let mut bytes = vec![0x06, 0, 0, 0];
    /// bytes.extend_from_slice(&0x7fff_0000u32.to_ne_bytes());
    /// let p = BpfProgram::from_bytes(&bytes, Flags::empty()).unwrap();
    /// assert_eq!(p.len(), 1);
    /// assert!(BpfProgram::from_bytes(&bytes[..5], Flags::empty()).is_err());
    /// ```
    pub fn from_bytes(bytes: &[u8], flags: Flags) -> Result<Self> {
        if bytes.is_empty() {
            return Err(Error::InvalidBpf("empty program"));
        }
        if bytes.len() % 8 != 0 {
            return Err(Error::InvalidBpf("length is not a multiple of 8 bytes"));
        }
        if bytes.len() / 8 > MAX_INSTRUCTIONS {
            return Err(Error::InvalidBpf("more than 4096 instructions"));
        }
        let insns = bytes
            .chunks_exact(8)
            .map(|c| Insn {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        Ok(BpfProgram {
            insns,
            flags,
            new_listener: false,
            no_new_privs: true,
        })
    }

    /// The program as bytes, the inverse of [`BpfProgram::from_bytes`].
    ///
    /// ```
    /// use iso_seccomp::{Action, Profile};
    /// let bpf = Profile::new(Action::Allow).compile().unwrap().to_bpf().unwrap();
    /// assert_eq!(bpf.to_bytes().len(), bpf.len() * 8);
    /// ```
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.insns.len() * 8);
        for i in &self.insns {
            out.extend_from_slice(&i.code.to_ne_bytes());
            out.push(i.jt);
            out.push(i.jf);
            out.extend_from_slice(&i.k.to_ne_bytes());
        }
        out
    }

    /// Number of instructions.
    ///
    /// ```
    /// use iso_seccomp::{Action, Profile};
    /// let bpf = Profile::new(Action::Allow).compile().unwrap().to_bpf().unwrap();
    /// assert!(!bpf.is_empty());
    /// ```
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    /// Whether the program has no instruction (never true for a program that was built).
    ///
    /// ```
    /// use iso_seccomp::{Action, Profile};
    /// assert!(!Profile::new(Action::Allow).compile().unwrap().to_bpf().unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }

    /// The filter flags the program is loaded with.
    ///
    /// ```
    /// use iso_seccomp::{Action, Flags, Profile};
    /// let bpf = Profile::new(Action::Allow).flags(Flags::LOG).compile().unwrap().to_bpf().unwrap();
    /// assert_eq!(bpf.flags(), Flags::LOG);
    /// ```
    pub fn flags(&self) -> Flags {
        self.flags
    }

    /// Whether loading asks the kernel for a notification listener fd
    /// (`SECCOMP_FILTER_FLAG_NEW_LISTENER`); set by [`crate::Filter::to_bpf`] when the
    /// profile uses [`crate::Action::Notify`].
    ///
    /// ```
    /// use iso_seccomp::{BpfProgram, Flags};
    /// let mut bytes = vec![0x06, 0, 0, 0];
    /// bytes.extend_from_slice(&0x7fff_0000u32.to_ne_bytes());
    /// let mut p = BpfProgram::from_bytes(&bytes, Flags::empty()).unwrap();
    /// p.set_new_listener(true);
    /// assert!(p.new_listener());
    /// ```
    pub fn new_listener(&self) -> bool {
        self.new_listener
    }

    /// Sets whether loading asks for a listener fd.
    ///
    /// ```
    /// # use iso_seccomp::{BpfProgram, Flags};
    /// # let mut bytes = vec![0x06, 0, 0, 0];
    /// # bytes.extend_from_slice(&0x7fff_0000u32.to_ne_bytes());
    /// let mut p = BpfProgram::from_bytes(&bytes, Flags::empty()).unwrap();
    /// p.set_new_listener(false);
    /// ```
    pub fn set_new_listener(&mut self, on: bool) -> &mut Self {
        self.new_listener = on;
        self
    }

    /// Sets whether loading sets `no_new_privs` first (default: true); see
    /// [`crate::Filter::set_no_new_privs`].
    ///
    /// ```
    /// # use iso_seccomp::{BpfProgram, Flags};
    /// # let mut bytes = vec![0x06, 0, 0, 0];
    /// # bytes.extend_from_slice(&0x7fff_0000u32.to_ne_bytes());
    /// let mut p = BpfProgram::from_bytes(&bytes, Flags::empty()).unwrap();
    /// p.set_no_new_privs(false);
    /// ```
    pub fn set_no_new_privs(&mut self, on: bool) -> &mut Self {
        self.no_new_privs = on;
        self
    }

    /// Loads the program with `seccomp(SECCOMP_SET_MODE_FILTER)`.
    ///
    /// Async-signal-safe: it allocates nothing and makes only `prctl` and `seccomp` calls,
    /// so it may run between `fork` and `exec`. Returns the listener fd (close-on-exec)
    /// when [`BpfProgram::new_listener`] is set. With [`Flags::TSYNC`] and a listener,
    /// `SECCOMP_FILTER_FLAG_TSYNC_ESRCH` is added, as the kernel requires.
    ///
    /// ```no_run
    /// use iso_seccomp::{Action, Profile, SyscallRule};
    /// # fn main() -> Result<(), iso_seccomp::Error> {
    /// let bpf = Profile::new(Action::Allow)
    ///     .rule(SyscallRule::new(Action::Errno(libc::EPERM as u32), ["ptrace"]))
    ///     .compile()?
    ///     .to_bpf()?;
    /// // SAFETY: the child only loads the prepared filter and execs.
    /// if unsafe { libc::fork() } == 0 {
    ///     if bpf.load().is_err() {
    ///         unsafe { libc::_exit(127) };
    ///     }
    ///     // execve(...)
    ///     unsafe { libc::_exit(0) };
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn load(&self) -> Result<Option<OwnedFd>> {
        if self.no_new_privs {
            set_no_new_privs()?;
        }
        let prog = Fprog {
            // from_bytes bounded the length to 4096.
            len: self.insns.len() as libc::c_ushort,
            filter: self.insns.as_ptr(),
        };
        let mut flags = libc::c_ulong::from(self.flags.bits());
        if self.new_listener {
            flags |= FLAG_NEW_LISTENER;
            if self.flags.contains(Flags::TSYNC) {
                flags |= FLAG_TSYNC_ESRCH;
            }
        }
        // SAFETY: prog points at `len` valid instructions that outlive the call; the kernel
        // copies the program.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                SECCOMP_SET_MODE_FILTER,
                flags,
                &prog as *const Fprog,
            )
        };
        if rc < 0 {
            return Err(Error::sys(
                "seccomp(SECCOMP_SET_MODE_FILTER)",
                "filter",
                errno(),
            ));
        }
        if self.new_listener {
            // SAFETY: with NEW_LISTENER the kernel returned a new fd that we now own.
            return Ok(Some(unsafe { OwnedFd::from_raw_fd(rc as i32) }));
        }
        if rc > 0 && self.flags.contains(Flags::TSYNC) {
            return Err(Error::TsyncFailed { tid: rc as i32 });
        }
        Ok(None)
    }
}
