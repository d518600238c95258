//! Architecture checks: 32-bit calls made through `int 0x80` from a 64-bit process carry
//! the i386 audit arch. A filter that does not list x86 kills them; the default profile
//! lists x86 and applies its translated rules.
#![cfg(target_arch = "x86_64")]

mod common;

use common::{fork_and_wait, Ended};
use iso_seccomp::{default_profile, Action, Profile, SyscallRule};

const I386_GETPID: u32 = 20;
const I386_MOUNT: u32 = 21;
const I386_KEXEC_LOAD: u32 = 283;

/// A 32-bit system call through the i386 entry point; returns the raw result.
fn int80(nr: u32, a: u32) -> i32 {
    let ret: i32;
    // SAFETY: int 0x80 enters the compat syscall path; the kernel clobbers r8-r11, which
    // are declared; rbx is restored by the second xchg; the arguments are plain integers (null pointers for mount).
    unsafe {
        core::arch::asm!(
            // rbx is reserved by LLVM: swap the first argument in and out around the call.
            "xchg {arg}, rbx",
            "int 0x80",
            "xchg {arg}, rbx",
            arg = inout(reg) u64::from(a) => _,
            inlateout("eax") nr as i32 => ret,
            in("ecx") 0u32,
            in("edx") 0u32,
            in("esi") 0u32,
            in("edi") 0u32,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
            options(nostack)
        );
    }
    ret
}

fn ia32_available() -> bool {
    // SAFETY: getpid cannot fail.
    let pid = unsafe { libc::getpid() };
    int80(I386_GETPID, 0) == pid
}

#[test]
fn a_native_only_filter_kills_32_bit_calls() {
    if !ia32_available() {
        eprintln!("skipped: kernel without IA32 emulation");
        return;
    }
    let bpf = Profile::new(Action::Allow)
        .rule(SyscallRule::new(Action::Errno(1), ["kexec_load"]))
        .compile()
        .unwrap()
        .to_bpf()
        .unwrap();
    let ended = fork_and_wait(|| {
        if bpf.load().is_err() {
            return 3;
        }
        int80(I386_GETPID, 0);
        0
    });
    assert_eq!(ended, Ended::Signaled(libc::SIGSYS));
}

#[test]
fn the_default_profile_translates_its_rules_for_x86() {
    if !ia32_available() {
        eprintln!("skipped: kernel without IA32 emulation");
        return;
    }
    let bpf = default_profile(&[]).compile().unwrap().to_bpf().unwrap();
    let ended = fork_and_wait(|| {
        if bpf.load().is_err() {
            return 3;
        }
        // SAFETY: getpid cannot fail.
        if int80(I386_GETPID, 0) != unsafe { libc::getpid() } {
            return 4;
        }
        if int80(I386_KEXEC_LOAD, 0) != -libc::EPERM {
            return 5;
        }
        if int80(I386_MOUNT, 0) != -libc::EPERM {
            return 6;
        }
        0
    });
    assert_eq!(ended, Ended::Exited(0));
}
