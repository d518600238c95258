//! Running the current program from a copy of itself that nothing can write
//! (runc's CVE-2019-5736).
//!
//! A runtime's own process enters the container: the init it clones, the child that `exec`
//! sends in, and any program the kernel starts through `/proc/self/exe` (a script in the
//! container whose first line is `#!/proc/self/exe` makes the kernel run the *runtime's*
//! binary inside the container). A process in the container can open `/proc/<pid>/exe` of
//! each of them, keep the descriptor, and write through it once the runtime has exited:
//! the host's runtime binary is then the attacker's, and the next container start runs it
//! as root on the host.
//!
//! The defence is to make the file behind `/proc/self/exe` one that cannot be opened for
//! writing, before any runtime process becomes visible in a container.
//! [`ensure_sealed`] re-executes the program, once, from one of:
//!
//! 1. **a read-only overlayfs of its own directory** (the default). The overlay has no upper
//!    layer, so the superblock itself is read-only: unlike a read-only bind mount, no
//!    `mount_setattr` or remount by a process with `CAP_SYS_ADMIN` can make it writable.
//!    The mount is detached (`fsmount` without `move_mount`): it is in no mount namespace,
//!    costs no propagation, and disappears with the last process running from it. Nothing
//!    is copied, so it costs about a tenth of a millisecond and no memory.
//! 2. **a sealed memfd copy** (when overlayfs cannot be used: no `fsopen`, no privilege,
//!    a binary whose file was deleted): the whole file is copied into memory and sealed
//!    against writes, growth and shrinking.
//!
//! A program already run from a read-only mount (a read-only `/usr`, say) or from a sealed
//! memfd is not re-executed. [`is_sealed`] tells which case the caller is in.
//!
//! ```no_run
//! // First thing in main: before any thread exists and before anything enters a container.
//! if let Err(e) = iso_chroot::exe::ensure_sealed() {
//!     eprintln!("cannot protect the runtime binary: {e}");
//!     std::process::exit(1);
//! }
//! // ... the rest of the program runs from the read-only copy.
//! ```

use std::convert::Infallible;
use std::ffi::{CStr, CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::{sys, Error};

const SELF_EXE: &str = "/proc/self/exe";

/// How the running program's binary is protected, as [`is_sealed`] finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sealing {
    /// The binary is on a read-only mount (the overlay [`ensure_sealed`] makes, or a
    /// read-only filesystem of the host's): it cannot be opened for writing.
    ReadOnlyMount,
    /// The binary is a memfd sealed against writing.
    SealedMemfd,
}

/// Whether `/proc/self/exe` is a file that cannot be opened for writing, and how.
/// `Ok(None)`: it can be (the program runs from an ordinary writable file).
///
/// ```no_run
/// use iso_chroot::exe::{is_sealed, Sealing};
/// match is_sealed()? {
///     Some(Sealing::ReadOnlyMount) => println!("running from a read-only mount"),
///     Some(how) => println!("sealed: {how:?}"),
///     None => println!("a container could overwrite this binary"),
/// }
/// # Ok::<(), iso_chroot::Error>(())
/// ```
pub fn is_sealed() -> Result<Option<Sealing>, Error> {
    let exe = std::fs::File::open(SELF_EXE).map_err(|e| Error::sys("open", SELF_EXE, e))?;
    sealing_of(exe.as_fd()).map_err(|e| Error::sys("fstatfs", SELF_EXE, e))
}

/// The protection of the file `fd` refers to (any kind of descriptor, `O_PATH` too).
fn sealing_of(fd: BorrowedFd<'_>) -> io::Result<Option<Sealing>> {
    // SAFETY: statvfs is plain data; an all-zero value is valid before the call fills it.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: fd is valid and st is a writable statvfs.
    if unsafe { libc::fstatvfs(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if st.f_flag & libc::ST_RDONLY != 0 {
        return Ok(Some(Sealing::ReadOnlyMount));
    }
    // SAFETY: F_GET_SEALS takes no argument; it fails with EINVAL on files that are not memfds.
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    if seals >= 0 && seals & libc::F_SEAL_WRITE != 0 {
        return Ok(Some(Sealing::SealedMemfd));
    }
    Ok(None)
}

/// Makes sure the running program's `/proc/self/exe` cannot be opened for writing: returns
/// how when it already is, and otherwise re-executes the program (same arguments and
/// environment) from a read-only overlay of its directory, or from a sealed memfd copy when
/// overlayfs cannot be used; the re-executed program then finds itself sealed and carries
/// on. Call it at the top of `main`, while the process has one thread.
///
/// Errors when neither way works (no `/proc`, memfds refused), so that a caller can refuse
/// to run containers rather than run them unprotected.
///
/// ```no_run
/// let how = iso_chroot::exe::ensure_sealed()?; // may not return: the program starts over
/// println!("running sealed: {how:?}");
/// # Ok::<(), iso_chroot::Error>(())
/// ```
pub fn ensure_sealed() -> Result<Sealing, Error> {
    if let Some(how) = is_sealed()? {
        return Ok(how);
    }
    let argv = c_strings(std::env::args_os());
    let envp = c_strings(std::env::vars_os().map(|(k, v)| {
        let mut kv = k;
        kv.push("=");
        kv.push(v);
        kv
    }));
    match reexec_sealed(&argv, &envp)? {}
}

fn c_strings(items: impl Iterator<Item = OsString>) -> Vec<CString> {
    // Arguments and environment strings came from the kernel NUL-terminated: none holds a NUL.
    items
        .filter_map(|s| CString::new(s.into_vec()).ok())
        .collect()
}

/// Re-executes the running program from a read-only overlay of its directory, else from a
/// sealed memfd copy, with `argv` and `envp`. Returns only on failure.
fn reexec_sealed(argv: &[CString], envp: &[CString]) -> Result<Infallible, Error> {
    let exe = match overlay_copy() {
        Ok(fd) => fd,
        Err(_) => memfd_copy()?,
    };
    if sealing_of(exe.as_fd())
        .map_err(|e| Error::sys("fstatfs", "sealed copy", e))?
        .is_none()
    {
        // Never exec something that would re-execute itself again.
        return Err(Error::refused(
            SELF_EXE,
            "the sealed copy of the binary is writable",
        ));
    }
    Err(Error::sys(
        "execveat",
        "sealed copy of /proc/self/exe",
        execveat(&exe, argv, envp),
    ))
}

/// An `O_PATH` descriptor of the running binary inside a new, detached, read-only overlayfs
/// whose lower layers are the binary's directory and an empty tmpfs (an overlay without an
/// upper layer needs two lower layers).
fn overlay_copy() -> io::Result<OwnedFd> {
    let target = std::fs::read_link(SELF_EXE)?;
    let (dir, name) = match (target.parent(), target.file_name()) {
        (Some(dir), Some(name)) if !target.as_os_str().as_bytes().ends_with(b" (deleted)") => {
            (dir, name)
        }
        _ => return Err(io::Error::from_raw_os_error(libc::ENOENT)),
    };
    let empty = detached_mount(c"tmpfs", &[])?;
    let mut lower = overlay_escape(dir.as_os_str());
    lower.extend_from_slice(format!(":/proc/self/fd/{}", empty.as_raw_fd()).as_bytes());
    let lower = CString::new(lower).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let overlay = detached_mount(c"overlay", &[(c"lowerdir", &lower)])?;
    drop(empty);
    let fd = sys::openat(overlay.as_fd(), name, libc::O_PATH | libc::O_NOFOLLOW, 0)?;
    let st = sys::fstat(fd.as_fd())?;
    if sys::file_type(&st) != libc::S_IFREG {
        return Err(io::Error::from_raw_os_error(libc::ENOEXEC));
    }
    Ok(fd)
}

/// A new filesystem of `fstype` with string `options`, mounted read-only, nosuid and nodev
/// but attached nowhere.
fn detached_mount(
    fstype: &std::ffi::CStr,
    options: &[(&std::ffi::CStr, &std::ffi::CStr)],
) -> io::Result<OwnedFd> {
    let fs = sys::fsopen(fstype)?;
    for (key, value) in options {
        sys::fsconfig(
            fs.as_fd(),
            libc::FSCONFIG_SET_STRING,
            Some(key),
            Some(value),
        )?;
    }
    sys::fsconfig(fs.as_fd(), libc::FSCONFIG_CMD_CREATE, None, None)?;
    sys::fsmount(
        fs.as_fd(),
        libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV,
    )
}

/// `path` as one overlayfs layer: `:` separates layers and `\` escapes.
fn overlay_escape(path: &OsStr) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len());
    for &b in path.as_bytes() {
        if b == b':' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

/// A memfd holding a copy of the running binary, sealed against every change.
fn memfd_copy() -> Result<OwnedFd, Error> {
    let src = std::fs::File::open(SELF_EXE).map_err(|e| Error::sys("open", SELF_EXE, e))?;
    let memfd = memfd_create(c"iso-sealed-exe")
        .map_err(|e| Error::sys("memfd_create", "iso-sealed-exe", e))?;
    let mut dst = std::fs::File::from(memfd);
    std::io::copy(&mut &src, &mut dst).map_err(|e| Error::sys("copy", SELF_EXE, e))?;
    let memfd = OwnedFd::from(dst);
    seal(&memfd).map_err(|e| Error::sys("F_ADD_SEALS", "iso-sealed-exe", e))?;
    Ok(memfd)
}

/// Seals a memfd against every change: writes, growth, shrinking, and more seals.
fn seal(memfd: &OwnedFd) -> io::Result<()> {
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: F_ADD_SEALS with an integer argument on a memfd we own.
    if unsafe { libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// An executable, sealable, close-on-exec memfd. `MFD_EXEC` is asked for explicitly (a host
/// with `vm.memfd_noexec = 1` otherwise makes it non-executable) and left out on kernels
/// before 6.3, which do not know it.
fn memfd_create(name: &CStr) -> io::Result<OwnedFd> {
    let base = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    for flags in [base | libc::MFD_EXEC, base] {
        // SAFETY: a NUL-terminated name and integer flags; the result is checked.
        let fd = unsafe { libc::memfd_create(name.as_ptr(), flags) };
        if fd >= 0 {
            // SAFETY: a fresh descriptor nothing else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINVAL) {
            return Err(e);
        }
    }
    Err(io::Error::from_raw_os_error(libc::EINVAL))
}

/// `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`; returns the error when it fails.
fn execveat(fd: &OwnedFd, argv: &[CString], envp: &[CString]) -> io::Error {
    execveat_raw(fd, &null_terminated(argv), &null_terminated(envp))
}

/// [`execveat`] with the pointer arrays made: each NULL-terminated.
fn execveat_raw(
    fd: &OwnedFd,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
) -> io::Error {
    // SAFETY: argv and envp are NULL-terminated arrays of pointers to NUL-terminated strings
    // that outlive the call; fd is a valid descriptor.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    io::Error::last_os_error()
}

fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// A program of a few hundred bytes, in a sealed memfd, that executes its first argument with
/// the others as that program's arguments (`argv[0]` included) and the same environment.
///
/// A runtime that does not run sealed ([`ensure_sealed`] costs a re-execution and a mount,
/// about two milliseconds here) executes the container's program through it: at that
/// `execve` the process' `/proc/self/exe` is the trampoline, so a `#!/proc/self/exe` script
/// as the program starts a harmless copy of the trampoline rather than the runtime, and the
/// runtime's binary is never the executable of a dumpable process in the container. The
/// trampoline makes one system call, `execve` (and `exit_group(127)` when it fails), so it
/// runs under any seccomp filter that lets the program start.
///
/// Available on x86_64 and aarch64; [`Trampoline::new`] fails elsewhere.
///
/// ```no_run
/// use std::ffi::CString;
/// let t = iso_chroot::exe::Trampoline::new()?;
/// let program = CString::new("/bin/echo").unwrap();
/// let argv = [CString::new("echo").unwrap(), CString::new("hi").unwrap()];
/// let err = t.exec(&program, &argv, &[]); // returns only on failure
/// eprintln!("exec: {err}");
/// # Ok::<(), iso_chroot::Error>(())
/// ```
#[derive(Debug)]
pub struct Trampoline {
    memfd: OwnedFd,
    /// `/proc/self/fd/N` for the memfd, made before a fork.
    proc_path: CString,
}

impl Trampoline {
    /// Writes the trampoline for this architecture into a new memfd and seals it.
    pub fn new() -> Result<Trampoline, Error> {
        let Some(image) = trampoline_image(std::env::consts::ARCH) else {
            return Err(Error::Invalid {
                field: "architecture",
                reason: format!("no exec trampoline for {}", std::env::consts::ARCH),
            });
        };
        let memfd = memfd_create(c"iso-trampoline")
            .map_err(|e| Error::sys("memfd_create", "iso-trampoline", e))?;
        let mut file = std::fs::File::from(memfd);
        std::io::Write::write_all(&mut file, &image)
            .map_err(|e| Error::sys("write", "iso-trampoline", e))?;
        let memfd = OwnedFd::from(file);
        seal(&memfd).map_err(|e| Error::sys("F_ADD_SEALS", "iso-trampoline", e))?;
        let proc_path =
            CString::new(format!("/proc/self/fd/{}", memfd.as_raw_fd())).map_err(|_| {
                Error::Invalid {
                    field: "trampoline path",
                    reason: "NUL".into(),
                }
            })?;
        Ok(Trampoline { memfd, proc_path })
    }

    /// Executes `program` with `argv` and `envp` through the trampoline; returns only on
    /// failure. See [`TrampolineExec::exec`].
    pub fn exec(&self, program: &CStr, argv: &[CString], envp: &[CString]) -> io::Error {
        self.prepare(program, argv, envp).exec()
    }

    /// Makes the pointer arrays of [`Trampoline::exec`] now, so that the exec itself
    /// allocates nothing: after a strict seccomp filter is loaded the process should make
    /// no call the program does not make anyway (the allocator's `brk` or `mmap` included).
    pub fn prepare<'a>(
        &'a self,
        program: &'a CStr,
        argv: &'a [CString],
        envp: &'a [CString],
    ) -> TrampolineExec<'a> {
        let mut args: Vec<*const libc::c_char> = Vec::with_capacity(argv.len() + 2);
        args.push(program.as_ptr());
        args.extend(null_terminated(argv));
        TrampolineExec {
            trampoline: self,
            args,
            envp: null_terminated(envp),
            _strings: std::marker::PhantomData,
        }
    }
}

/// An exec through the [`Trampoline`] whose arguments are ready ([`Trampoline::prepare`]).
#[derive(Debug)]
pub struct TrampolineExec<'a> {
    trampoline: &'a Trampoline,
    /// `program`, then `argv`, NULL-terminated.
    args: Vec<*const libc::c_char>,
    /// NULL-terminated.
    envp: Vec<*const libc::c_char>,
    /// The strings the pointers point into.
    _strings: std::marker::PhantomData<&'a CStr>,
}

impl TrampolineExec<'_> {
    /// Executes the program; returns only on failure, without allocating. The trampoline is
    /// executed by path (`/proc/self/fd/N`): a plain `execve`, which any seccomp profile that
    /// lets the program start allows. Only when that path does not resolve (no `/proc` in
    /// the container) is `execveat` on the descriptor tried: a refusal (`EPERM`, `ENOSYS`,
    /// what a seccomp filter answers) is returned as it is, never retried with a call the
    /// profile may kill the process for.
    pub fn exec(&self) -> io::Error {
        // SAFETY: args and envp are NULL-terminated arrays of pointers to NUL-terminated
        // strings that outlive the call (the lifetime 'a).
        unsafe {
            libc::execve(
                self.trampoline.proc_path.as_ptr(),
                self.args.as_ptr(),
                self.envp.as_ptr(),
            )
        };
        let err = io::Error::last_os_error();
        if !matches!(err.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) {
            return err;
        }
        execveat_raw(&self.trampoline.memfd, &self.args, &self.envp)
    }
}

impl AsFd for Trampoline {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.memfd.as_fd()
    }
}

/// The trampoline's machine code: `execve(argv[0], &argv[1], envp)`, then
/// `exit_group(127)`. The stack at entry holds argc, then argv, NULL, envp. With fewer than
/// two arguments (no program, or an empty argv for it) it exits 127 at once: that is how a
/// `#!/proc/self/exe` script, which runs the trampoline again with the script's path as the
/// program, ends instead of executing itself forever.
fn trampoline_code(arch: &str) -> Option<(u16, &'static [u8])> {
    if arch == "x86_64" {
        const CODE: &[u8] = &[
            0x48, 0x8b, 0x0c, 0x24, // mov (%rsp), %rcx            argc
            0x48, 0x83, 0xf9, 0x02, // cmp $2, %rcx
            0x72, 0x16, // jb fail                                 no program, or no argv[0]
            0x48, 0x8b, 0x7c, 0x24, 0x08, // mov 8(%rsp), %rdi     argv[0]
            0x48, 0x8d, 0x74, 0x24, 0x10, // lea 16(%rsp), %rsi    &argv[1]
            0x48, 0x8d, 0x54, 0xcc, 0x10, // lea 16(%rsp,%rcx,8), %rdx   envp
            0xb8, 0x3b, 0x00, 0x00, 0x00, // mov $59, %eax         execve
            0x0f, 0x05, // syscall
            0xbf, 0x7f, 0x00, 0x00, 0x00, // fail: mov $127, %edi
            0xb8, 0xe7, 0x00, 0x00, 0x00, // mov $231, %eax        exit_group
            0x0f, 0x05, // syscall
        ];
        Some((62, CODE)) // EM_X86_64
    } else if arch == "aarch64" {
        const CODE: &[u8] = &[
            0xe3, 0x03, 0x40, 0xf9, // ldr x3, [sp]               argc
            0x7f, 0x08, 0x00, 0xf1, // cmp x3, #2
            0xc3, 0x00, 0x00, 0x54, // b.lo fail                  no program, or no argv[0]
            0xe0, 0x07, 0x40, 0xf9, // ldr x0, [sp, #8]           argv[0]
            0xe1, 0x43, 0x00, 0x91, // add x1, sp, #16            &argv[1]
            0x22, 0x0c, 0x03, 0x8b, // add x2, x1, x3, lsl #3     envp
            0xa8, 0x1b, 0x80, 0xd2, // mov x8, #221               execve
            0x01, 0x00, 0x00, 0xd4, // svc #0
            0xe0, 0x0f, 0x80, 0xd2, // fail: mov x0, #127
            0xc8, 0x0b, 0x80, 0xd2, // mov x8, #94                exit_group
            0x01, 0x00, 0x00, 0xd4, // svc #0
        ];
        Some((183, CODE)) // EM_AARCH64
    } else {
        None
    }
}

/// A static ELF64 executable around [`trampoline_code`]: the ELF header, a read+execute
/// `PT_LOAD` of the whole file at a fixed address, and a `PT_GNU_STACK` without execute.
fn trampoline_image(arch: &str) -> Option<Vec<u8>> {
    const BASE: u64 = 0x40_0000;
    const EHDR: u64 = 64;
    const PHDR: u64 = 56;
    let (machine, code) = trampoline_code(arch)?;
    let entry = BASE + EHDR + 2 * PHDR;
    let size = entry - BASE + code.len() as u64;
    let mut elf = Vec::with_capacity(size as usize);
    elf.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    elf.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    elf.extend_from_slice(&machine.to_le_bytes());
    elf.extend_from_slice(&1u32.to_le_bytes()); // EV_CURRENT
    elf.extend_from_slice(&entry.to_le_bytes());
    elf.extend_from_slice(&EHDR.to_le_bytes()); // program headers right after
    elf.extend_from_slice(&0u64.to_le_bytes()); // no section headers
    elf.extend_from_slice(&0u32.to_le_bytes()); // flags
    for half in [EHDR as u16, PHDR as u16, 2, 0, 0, 0] {
        // ehsize, phentsize, phnum, shentsize, shnum, shstrndx
        elf.extend_from_slice(&half.to_le_bytes());
    }
    let load = [1u32, libc::PF_R | libc::PF_X];
    let stack = [0x6474_e551u32, libc::PF_R | libc::PF_W]; // PT_GNU_STACK
    for (kind, addr, filesz, align) in [(load, BASE, size, 0x1_0000u64), (stack, 0, 0, 16)] {
        elf.extend_from_slice(&kind[0].to_le_bytes());
        elf.extend_from_slice(&kind[1].to_le_bytes());
        for word in [0, addr, addr, filesz, filesz, align] {
            // offset, vaddr, paddr, filesz, memsz, align
            elf.extend_from_slice(&word.to_le_bytes());
        }
    }
    elf.extend_from_slice(code);
    Some(elf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_separators_are_escaped() {
        assert_eq!(
            overlay_escape(OsStr::new("/a:b\\c")),
            b"/a\\:b\\\\c".to_vec()
        );
        assert_eq!(overlay_escape(OsStr::new("/usr/bin")), b"/usr/bin".to_vec());
    }

    #[test]
    fn a_sealed_memfd_is_sealed_and_a_plain_one_is_not() {
        let fd = memfd_create(c"iso-test").unwrap();
        assert_eq!(sealing_of(fd.as_fd()).unwrap(), None);
        let copy = memfd_copy().unwrap();
        assert_eq!(
            sealing_of(copy.as_fd()).unwrap(),
            Some(Sealing::SealedMemfd)
        );
        let mut f = std::fs::File::from(copy);
        assert!(std::io::Write::write_all(&mut f, b"x").is_err());
    }

    #[test]
    fn the_trampoline_executes_its_first_argument() {
        use std::os::unix::process::CommandExt;
        let Ok(t) = Trampoline::new() else {
            assert!(trampoline_code(std::env::consts::ARCH).is_none());
            return;
        };
        assert_eq!(sealing_of(t.as_fd()).unwrap(), Some(Sealing::SealedMemfd));
        let out = std::process::Command::new(format!("/proc/self/fd/{}", t.as_fd().as_raw_fd()))
            .arg0("/bin/sh")
            .args(["sh", "-c", "echo \"$0\" $ISO_T", "two words"])
            .env_clear()
            .env("ISO_T", "env")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "two words env\n");
        let missing =
            std::process::Command::new(format!("/proc/self/fd/{}", t.as_fd().as_raw_fd()))
                .arg0("/nonexistent")
                .arg("x")
                .status()
                .unwrap();
        assert_eq!(missing.code(), Some(127));
        let script = std::env::temp_dir().join(format!("iso-tramp-loop-{}", std::process::id()));
        std::fs::write(&script, "#!/proc/self/exe\n").unwrap();
        let exec = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(&script, exec).unwrap();
        let looped = std::process::Command::new(format!("/proc/self/fd/{}", t.as_fd().as_raw_fd()))
            .arg0(&script)
            .arg(&script)
            .status()
            .unwrap();
        std::fs::remove_file(&script).unwrap();
        assert_eq!(looped.code(), Some(127), "a #!/proc/self/exe script ends");
    }

    /// The aarch64 trampoline under qemu-user, when installed (qemu-aarch64 runs the target
    /// of the trampoline's execve as a host program).
    #[test]
    fn the_aarch64_trampoline_runs_under_qemu() {
        let Some(qemu) = ["/usr/bin/qemu-aarch64", "/usr/bin/qemu-aarch64-static"]
            .into_iter()
            .find(|q| std::path::Path::new(q).exists())
        else {
            eprintln!("skipped: qemu-aarch64 (qemu-user) is not installed");
            return;
        };
        let path = std::env::temp_dir().join(format!("iso-tramp-a64-{}", std::process::id()));
        std::fs::write(&path, trampoline_image("aarch64").unwrap()).unwrap();
        let exec = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(&path, exec).unwrap();
        // qemu passes the program's path as argv[0] unless told otherwise (-0).
        let run = |args: &[&str]| {
            std::process::Command::new(qemu)
                .arg("-0")
                .arg(args[0])
                .arg(&path)
                .args(&args[1..])
                .env_clear()
                .env("ISO_T", "env")
                .output()
                .unwrap()
        };
        let ok = run(&["/bin/sh", "sh", "-c", "echo \"$0\" $ISO_T", "two words"]);
        let missing = run(&["/nonexistent", "x"]);
        let no_argv = run(&["/bin/true"]);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&ok.stdout),
            "two words env\n",
            "{ok:?}"
        );
        assert_eq!(missing.status.code(), Some(127));
        assert_eq!(no_argv.status.code(), Some(127));
    }
}
