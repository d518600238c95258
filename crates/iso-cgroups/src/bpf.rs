//! The cgroup v2 device filter: an eBPF program of type `BPF_PROG_TYPE_CGROUP_DEVICE`,
//! assembled here from the rules (no libbpf) and attached to the cgroup directory.
//!
//! The kernel calls the program for each device access with a `struct bpf_cgroup_dev_ctx`
//! (`access_type` = access bits << 16 | device type, `major`, `minor`); returning 1 allows
//! the access and 0 makes the system call fail with `EPERM`.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use crate::error::{Error, Result};
use crate::resources::{DeviceAccess, DeviceKind, DeviceRule};

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

// Opcodes (class | op | source), from linux/bpf_common.h and linux/bpf.h.
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const MOV64_REG: u8 = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
const MOV64_IMM: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const AND64_IMM: u8 = 0x57; // BPF_ALU64 | BPF_AND | BPF_K
const RSH64_IMM: u8 = 0x77; // BPF_ALU64 | BPF_RSH | BPF_K
const JNE32_IMM: u8 = 0x56; // BPF_JMP32 | BPF_JNE | BPF_K
const JEQ64_IMM: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JNE64_IMM: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

const DEV_BLOCK: i32 = 1; // BPF_DEVCG_DEV_BLOCK
const DEV_CHAR: i32 = 2; // BPF_DEVCG_DEV_CHAR
const ACC_MKNOD: i32 = 1; // BPF_DEVCG_ACC_MKNOD
const ACC_READ: i32 = 2; // BPF_DEVCG_ACC_READ
const ACC_WRITE: i32 = 4; // BPF_DEVCG_ACC_WRITE

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (dst & 0x0f) | (src << 4),
        off,
        imm,
    }
}

fn access_bits(a: DeviceAccess) -> i32 {
    let mut bits = 0;
    if a.contains(DeviceAccess::READ) {
        bits |= ACC_READ;
    }
    if a.contains(DeviceAccess::WRITE) {
        bits |= ACC_WRITE;
    }
    if a.contains(DeviceAccess::MKNOD) {
        bits |= ACC_MKNOD;
    }
    bits
}

/// Assembles the filter. Rules are checked from the last to the first and the first match
/// decides, which is "the last matching rule wins", the order v1 applies rules in. An
/// allow rule matches when it covers every requested access bit; a deny rule when it
/// covers any of them. When no rule matches the access is allowed, as in a fresh v1
/// cgroup: OCI configurations start with a deny-all rule to get a default-deny filter.
pub(crate) fn assemble(rules: &[DeviceRule]) -> Vec<Insn> {
    // r2 = type, r3 = access, r4 = major, r5 = minor.
    let mut prog = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(MOV64_REG, 3, 2, 0, 0),
        insn(AND64_IMM, 2, 0, 0, 0xffff),
        insn(RSH64_IMM, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    for rule in rules.iter().rev() {
        // Each block: conditional jumps to its end (patched below), then return verdict.
        let mut block: Vec<Insn> = Vec::new();
        match rule.kind {
            DeviceKind::All => {}
            DeviceKind::Char => block.push(insn(JNE32_IMM, 2, 0, 0, DEV_CHAR)),
            DeviceKind::Block => block.push(insn(JNE32_IMM, 2, 0, 0, DEV_BLOCK)),
        }
        if let Some(major) = rule.major {
            block.push(insn(JNE32_IMM, 4, 0, 0, major as i32));
        }
        if let Some(minor) = rule.minor {
            block.push(insn(JNE32_IMM, 5, 0, 0, minor as i32));
        }
        let bits = access_bits(rule.access);
        block.push(insn(MOV64_REG, 6, 3, 0, 0));
        if rule.allow {
            // Requested bits outside the rule: no match.
            block.push(insn(AND64_IMM, 6, 0, 0, !bits & 7));
            block.push(insn(JNE64_IMM, 6, 0, 0, 0));
        } else {
            // No requested bit inside the rule: no match.
            block.push(insn(AND64_IMM, 6, 0, 0, bits));
            block.push(insn(JEQ64_IMM, 6, 0, 0, 0));
        }
        block.push(insn(MOV64_IMM, 0, 0, 0, i32::from(rule.allow)));
        block.push(insn(EXIT, 0, 0, 0, 0));
        let len = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if matches!(ins.code, JNE32_IMM | JNE64_IMM | JEQ64_IMM) {
                ins.off = (len - i - 1) as i16;
            }
        }
        prog.extend(block);
    }
    prog.push(insn(MOV64_IMM, 0, 0, 0, 1));
    prog.push(insn(EXIT, 0, 0, 0, 0));
    prog
}

/// `union bpf_attr` for BPF_PROG_LOAD (the fields we use, zero-padded).
#[repr(C)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// `union bpf_attr` for BPF_PROG_ATTACH.
#[repr(C)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// `union bpf_attr` for BPF_PROG_QUERY.
#[repr(C)]
struct ProgQueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

/// `union bpf_attr` for BPF_PROG_GET_FD_BY_ID.
#[repr(C)]
struct GetFdByIdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

fn load(prog: &[Insn], dir: &Path) -> Result<OwnedFd> {
    let license = CString::from(c"Apache-2.0");
    let mut log = vec![0u8; 0];
    for attempt in 0..2 {
        let mut name = [0u8; 16];
        name[..10].copy_from_slice(b"iso_device");
        let attr = ProgLoadAttr {
            prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
            insn_cnt: prog.len() as u32,
            insns: prog.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level: u32::from(attempt == 1),
            log_size: log.len() as u32,
            log_buf: if log.is_empty() {
                0
            } else {
                log.as_mut_ptr() as u64
            },
            kern_version: 0,
            prog_flags: 0,
            prog_name: name,
            prog_ifindex: 0,
            expected_attach_type: BPF_CGROUP_DEVICE,
        };
        // SAFETY: attr is a valid, fully initialised bpf_attr prefix; the pointers inside
        // (instructions, license, log buffer) outlive the call and have the stated lengths.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_PROG_LOAD,
                &attr as *const ProgLoadAttr,
                std::mem::size_of::<ProgLoadAttr>(),
            )
        };
        if fd >= 0 {
            // SAFETY: the kernel returned a new file descriptor that nothing else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) });
        }
        let err = std::io::Error::last_os_error();
        if attempt == 1
            || err.raw_os_error() != Some(libc::EACCES) && err.raw_os_error() != Some(libc::EINVAL)
        {
            let text = String::from_utf8_lossy(&log);
            let text = text.trim_end_matches('\0').trim();
            return Err(Error::Bpf {
                op: "BPF_PROG_LOAD",
                path: dir.into(),
                log: if text.is_empty() {
                    String::new()
                } else {
                    format!("\n{text}")
                },
                source: err,
            });
        }
        // Retry once with the verifier log, so the error explains the refusal.
        log = vec![0u8; 64 * 1024];
    }
    Err(Error::Bpf {
        op: "BPF_PROG_LOAD",
        path: dir.into(),
        log: String::new(),
        source: std::io::Error::from_raw_os_error(libc::EINVAL),
    })
}

/// Runs one `bpf(2)` command on a plain-data attribute struct.
///
/// # Safety
/// `attr` must be a valid `union bpf_attr` prefix for `cmd`; every pointer inside it must
/// be valid for the access the command makes.
unsafe fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<libc::c_long> {
    // SAFETY: forwarded from the caller's contract; the size matches the struct.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>()) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn bpf_err(op: &'static str, dir: &Path, source: std::io::Error) -> Error {
    Error::Bpf {
        op,
        path: dir.into(),
        log: String::new(),
        source,
    }
}

/// The ids of the device programs attached directly to the cgroup.
fn attached_ids(cg: &std::fs::File, dir: &Path) -> Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    let mut attr = ProgQueryAttr {
        target_fd: cg.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        query_flags: 0,
        attach_flags: 0,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        _pad: 0,
    };
    // SAFETY: attr is a BPF_PROG_QUERY attribute; prog_ids points at prog_cnt u32s.
    unsafe { bpf(BPF_PROG_QUERY, &mut attr) }.map_err(|e| bpf_err("BPF_PROG_QUERY", dir, e))?;
    ids.truncate(attr.prog_cnt.min(64) as usize);
    Ok(ids)
}

/// Loads the filter for `rules`, attaches it to the cgroup directory `dir` with
/// `BPF_F_ALLOW_MULTI`, then detaches the device programs that were attached to that
/// cgroup before, so the new rules replace the old ones instead of narrowing them (with
/// several programs attached, an access needs every one's approval). The attachment lives
/// as long as the cgroup; the program fd is closed on return.
pub(crate) fn attach_device_filter(dir: &Path, rules: &[DeviceRule]) -> Result<()> {
    let prog = assemble(rules);
    let prog_fd = load(&prog, dir)?;
    let cg = std::fs::File::open(dir).map_err(|e| Error::io("open", dir, e))?;
    let old = attached_ids(&cg, dir)?;
    let mut attr = ProgAttachAttr {
        target_fd: cg.as_raw_fd() as u32,
        attach_bpf_fd: prog_fd.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
    };
    // SAFETY: attr is a BPF_PROG_ATTACH attribute without pointers; both fds are open.
    unsafe { bpf(BPF_PROG_ATTACH, &mut attr) }.map_err(|e| bpf_err("BPF_PROG_ATTACH", dir, e))?;
    for id in old {
        let mut by_id = GetFdByIdAttr {
            prog_id: id,
            next_id: 0,
            open_flags: 0,
        };
        // SAFETY: a BPF_PROG_GET_FD_BY_ID attribute without pointers.
        let fd = match unsafe { bpf(BPF_PROG_GET_FD_BY_ID, &mut by_id) } {
            // SAFETY: the kernel returned a new fd that nothing else owns.
            Ok(fd) => unsafe { OwnedFd::from_raw_fd(fd as i32) },
            // Detached meanwhile by someone else: nothing to do.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(bpf_err("BPF_PROG_GET_FD_BY_ID", dir, e)),
        };
        let mut detach = ProgAttachAttr {
            target_fd: cg.as_raw_fd() as u32,
            attach_bpf_fd: fd.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            attach_flags: 0,
            replace_bpf_fd: 0,
        };
        // SAFETY: a BPF_PROG_DETACH attribute without pointers; both fds are open.
        match unsafe { bpf(BPF_PROG_DETACH, &mut detach) } {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(bpf_err("BPF_PROG_DETACH", dir, e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jumps_stay_inside_the_program() {
        let rules = [
            DeviceRule {
                allow: false,
                kind: DeviceKind::All,
                major: None,
                minor: None,
                access: DeviceAccess::all(),
            },
            DeviceRule {
                allow: true,
                kind: DeviceKind::Char,
                major: Some(1),
                minor: Some(3),
                access: DeviceAccess::READ | DeviceAccess::WRITE,
            },
        ];
        let p = assemble(&rules);
        for (i, ins) in p.iter().enumerate() {
            if matches!(ins.code, JNE32_IMM | JNE64_IMM | JEQ64_IMM) {
                let target = i as i64 + 1 + i64::from(ins.off);
                assert!(target > i as i64 && (target as usize) < p.len());
            }
        }
        assert_eq!(p.last().unwrap().code, EXIT);
    }
}
