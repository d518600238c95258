//! `hotlist`: which functions of a program run, in the order they first run.
//!
//! Built by `benches/hot-functions.sh` with plain `rustc -O` (no crates, only glibc).
//! Linux x86_64 only (it reads `rip`).
//!
//! ```text
//! hotlist OUT PROGRAM ARGS...
//! ```
//!
//! Runs PROGRAM under `ptrace` with a breakpoint (`int3`) on the first byte of each of its
//! functions (`nm -nC` of PROGRAM), in it and in every process it forks or clones until
//! that process executes another program (a container's init becomes the user's program: it
//! is let go at its `execve`). A breakpoint that is hit is removed (in that process; the
//! original byte is put back and the instruction re-run), so each function costs one trap.
//! The names of the functions that ran, hash suffixes removed, are appended to OUT in
//! first-execution order. PROGRAM's exit status is hotlist's.
//!
//! Unlike sampling it sees every function that runs, however briefly; unlike valgrind it
//! follows `clone3`; unlike single-stepping it is fast.

use std::collections::{HashMap, HashSet};
use std::ffi::{c_int, c_long, c_void, CString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

extern "C" {
    fn fork() -> c_int;
    fn execv(path: *const std::ffi::c_char, argv: *const *const std::ffi::c_char) -> c_int;
    fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
    fn ptrace(request: c_int, pid: c_int, addr: *mut c_void, data: *mut c_void) -> c_long;
    fn _exit(code: c_int) -> !;
    fn kill(pid: c_int, signal: c_int) -> c_int;
}

const PTRACE_TRACEME: c_int = 0;
const PTRACE_PEEKTEXT: c_int = 1;
const PTRACE_PEEKUSER: c_int = 3;
const PTRACE_POKETEXT: c_int = 4;
const PTRACE_POKEUSER: c_int = 6;
const PTRACE_CONT: c_int = 7;
const PTRACE_DETACH: c_int = 17;
const PTRACE_SETOPTIONS: c_int = 0x4200;
const PTRACE_O_TRACEFORK: usize = 0x02;
const PTRACE_O_TRACEVFORK: usize = 0x04;
const PTRACE_O_TRACECLONE: usize = 0x08;
const PTRACE_O_TRACEEXEC: usize = 0x10;
const PTRACE_EVENT_EXEC: c_int = 4;
const WALL: c_int = 0x4000_0000;
const SIGTRAP: c_int = 5;
const SIGSTOP: c_int = 19;
/// The breakpoint instruction.
const INT3: u8 = 0xcc;
/// Offset of `rip` in `struct user_regs_struct` (x86_64).
const RIP_OFFSET: usize = 16 * 8;

/// One function of PROGRAM: start offset and demangled name without its hash.
struct Function {
    start: u64,
    name: String,
}

fn functions(program: &str) -> Result<Vec<Function>, String> {
    let out = std::process::Command::new("nm")
        .args(["-nC", "--defined-only", program])
        .output()
        .map_err(|e| format!("nm: {e}"))?;
    let mut all = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut parts = line.splitn(3, ' ');
        let (Some(start), Some(kind), Some(name)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if !matches!(kind, "t" | "T" | "W" | "w" | "i") {
            continue;
        }
        let Ok(start) = u64::from_str_radix(start, 16) else {
            continue;
        };
        all.push(Function {
            start,
            name: strip_hash(name).to_owned(),
        });
    }
    if all.is_empty() {
        return Err(format!("nm found no functions in {program}"));
    }
    Ok(all)
}

/// `a::b::h0123456789abcdef` → `a::b` (the legacy mangling's hash changes between builds).
fn strip_hash(name: &str) -> &str {
    match name.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            head
        }
        _ => name,
    }
}

/// The address range and load base of `program`'s mappings in `pid`.
fn mapping(pid: c_int, program: &str) -> Result<(u64, u64, u64), String> {
    let real = std::fs::canonicalize(program).map_err(|e| format!("{program}: {e}"))?;
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).map_err(|e| e.to_string())?;
    let (mut low, mut high, mut base) = (u64::MAX, 0, None);
    for line in maps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 6 || std::path::Path::new(fields[5]) != real {
            continue;
        }
        let (a, b) = fields[0].split_once('-').ok_or("bad maps line")?;
        let (a, b) = (
            u64::from_str_radix(a, 16).map_err(|e| e.to_string())?,
            u64::from_str_radix(b, 16).map_err(|e| e.to_string())?,
        );
        low = low.min(a);
        high = high.max(b);
        if u64::from_str_radix(fields[2], 16) == Ok(0) {
            base.get_or_insert(a);
        }
    }
    Ok((low, high, base.ok_or("program not mapped")?))
}

fn resume(pid: c_int, signal: c_int) {
    // SAFETY: ptrace on a tracee of ours; a failure (the tracee died) shows in waitpid.
    unsafe {
        ptrace(
            PTRACE_CONT,
            pid,
            std::ptr::null_mut(),
            signal as usize as *mut c_void,
        )
    };
}

fn peek(pid: c_int, addr: u64) -> u64 {
    // SAFETY: reading a word of a stopped tracee's memory.
    unsafe {
        ptrace(
            PTRACE_PEEKTEXT,
            pid,
            addr as *mut c_void,
            std::ptr::null_mut(),
        ) as u64
    }
}

/// If the stopped `pid` has just hit one of the breakpoints in `original`: puts its byte
/// back, moves the instruction pointer back onto it, and returns the function's index.
fn undo_breakpoint(pid: c_int, original: &HashMap<u64, (usize, u8)>) -> Option<usize> {
    // SAFETY: reading one word of the stopped tracee's registers.
    let rip = unsafe {
        ptrace(
            PTRACE_PEEKUSER,
            pid,
            RIP_OFFSET as *mut c_void,
            std::ptr::null_mut(),
        )
    } as u64;
    let at = rip.wrapping_sub(1);
    let &(i, byte) = original.get(&at)?;
    put_byte(pid, at, byte);
    // SAFETY: moving the stopped tracee back onto the restored instruction.
    unsafe {
        ptrace(
            PTRACE_POKEUSER,
            pid,
            RIP_OFFSET as *mut c_void,
            at as *mut c_void,
        )
    };
    Some(i)
}

fn detach(pid: c_int) {
    // SAFETY: detaching a stopped tracee of ours.
    unsafe {
        ptrace(
            PTRACE_DETACH,
            pid,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
}

/// Sets the byte at `addr` in `pid`'s memory (an `int3`, or the original byte back).
fn put_byte(pid: c_int, addr: u64, byte: u8) {
    let word = peek(pid, addr);
    poke(pid, addr, (word & !0xff) | u64::from(byte));
}

fn poke(pid: c_int, addr: u64, word: u64) {
    // SAFETY: writing a word of a stopped tracee's (private, copy-on-write) text.
    unsafe {
        ptrace(
            PTRACE_POKETEXT,
            pid,
            addr as *mut c_void,
            word as *mut c_void,
        )
    };
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: hotlist OUT PROGRAM ARGS...");
        return ExitCode::from(2);
    }
    let (out_path, program) = (&args[0], &args[1]);
    let funcs = match functions(program) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("hotlist: {e}");
            return ExitCode::from(2);
        }
    };
    let c_args: Vec<CString> = args[1..]
        .iter()
        .map(|a| CString::new(std::ffi::OsStr::new(a).as_bytes()).expect("argument with NUL"))
        .collect();
    let mut argv: Vec<*const std::ffi::c_char> = c_args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    // SAFETY: the child only calls ptrace, execv and _exit before it becomes PROGRAM.
    let child = unsafe { fork() };
    if child == 0 {
        // SAFETY: as above.
        unsafe {
            ptrace(
                PTRACE_TRACEME,
                0,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
            execv(argv[0], argv.as_ptr());
            _exit(127);
        }
    }
    let mut status: c_int = 0;
    // SAFETY: waiting for our child's stop at its execve.
    unsafe { waitpid(child, &mut status, 0) };
    let options =
        PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC;
    // SAFETY: setting options on our stopped tracee.
    unsafe {
        ptrace(
            PTRACE_SETOPTIONS,
            child,
            std::ptr::null_mut(),
            options as *mut c_void,
        )
    };
    let (low, high, base) = match mapping(child, program) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("hotlist: {e}");
            return ExitCode::from(2);
        }
    };
    // One breakpoint per distinct function start inside the mapping: the original byte is
    // kept to put back.
    let mut original: HashMap<u64, (usize, u8)> = HashMap::new();
    for (i, f) in funcs.iter().enumerate() {
        let addr = base + f.start;
        if !(low..high).contains(&addr) || original.contains_key(&addr) {
            continue;
        }
        original.insert(addr, (i, peek(child, addr) as u8));
        put_byte(child, addr, INT3);
    }
    let mut order: Vec<usize> = Vec::new();
    let mut seen: HashSet<usize> = HashSet::new();
    let mut live: HashSet<c_int> = HashSet::from([child]);
    let mut exit_code = 1u8;
    let mut releasing = false;
    resume(child, 0);
    while !live.is_empty() {
        // SAFETY: waiting for any tracee (__WALL: clones too).
        let pid = unsafe { waitpid(-1, &mut status, WALL) };
        if pid < 0 {
            break;
        }
        let stopped = status & 0xff == 0x7f;
        if !stopped {
            live.remove(&pid);
            if pid == child {
                exit_code = if status & 0x7f == 0 {
                    ((status >> 8) & 0xff) as u8
                } else {
                    128
                };
                // What PROGRAM leaves running (a created container's init, waiting for
                // `start`, perhaps blocked in a system call) is let go: stopped with SIGSTOP,
                // which also interrupts a blocking call, then detached without it. Its
                // remaining breakpoints would kill it: they are removed first.
                for &other in &live {
                    // SAFETY: signalling a process we trace.
                    unsafe { kill(other, SIGSTOP) };
                }
                releasing = true;
            }
            continue;
        }
        live.insert(pid);
        let signal = (status >> 8) & 0xff;
        let event = status >> 16;
        if releasing {
            if signal == SIGSTOP {
                for (&addr, &(_, byte)) in &original {
                    if peek(pid, addr) as u8 == INT3 {
                        put_byte(pid, addr, byte);
                    }
                }
                detach(pid);
                live.remove(&pid);
            } else {
                // A breakpoint hit before the SIGSTOP arrives must still be undone, or the
                // process resumes in the middle of an instruction.
                if signal == SIGTRAP {
                    undo_breakpoint(pid, &original);
                }
                resume(pid, 0);
            }
            continue;
        }
        if event == PTRACE_EVENT_EXEC && pid != child {
            // Another program now: let it run untraced.
            detach(pid);
            live.remove(&pid);
            continue;
        }
        if event != 0 || signal == SIGSTOP {
            // A new clone's first stop, or a fork/clone event: nothing to deliver.
            resume(pid, 0);
            continue;
        }
        if signal == SIGTRAP {
            if let Some(i) = undo_breakpoint(pid, &original) {
                if seen.insert(i) {
                    order.push(i);
                }
                resume(pid, 0);
                continue;
            }
        }
        resume(pid, signal);
    }
    let mut out = match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out_path)
    {
        Ok(f) => f,
        Err(e) => {
            eprintln!("hotlist: {out_path}: {e}");
            return ExitCode::from(2);
        }
    };
    let mut names = HashSet::new();
    for i in order {
        if names.insert(&funcs[i].name) {
            let _ = writeln!(out, "{}", funcs[i].name);
        }
    }
    ExitCode::from(exit_code)
}
