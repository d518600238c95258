//! Measures how long compiling the default profile takes (libseccomp resolution, rule
//! database, BPF generation), with and without CAP_SYS_ADMIN.
//!
//! Run: `cargo bench -p iso-seccomp --bench compile_default`.

use std::time::{Duration, Instant};

fn measure(label: &str, caps: &[&str]) {
    const ROUNDS: u32 = 50;
    // Warm-up: libseccomp's syscall tables, page faults.
    let _ = iso_seccomp::default_profile(caps).compile();
    let mut compile = Duration::ZERO;
    let mut export = Duration::ZERO;
    let mut insns = 0;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let filter = match iso_seccomp::default_profile(caps).compile() {
            Ok(f) => f,
            Err(e) => {
                eprintln!("compile failed: {e}");
                std::process::exit(1);
            }
        };
        compile += t.elapsed();
        let t = Instant::now();
        match filter.to_bpf() {
            Ok(b) => insns = b.len(),
            Err(e) => {
                eprintln!("export failed: {e}");
                std::process::exit(1);
            }
        }
        export += t.elapsed();
    }
    println!(
        "{label:<28} compile {:>8.1} µs   export BPF {:>8.1} µs   ({insns} instructions, mean of {ROUNDS})",
        compile.as_secs_f64() * 1e6 / f64::from(ROUNDS),
        export.as_secs_f64() * 1e6 / f64::from(ROUNDS),
    );
}

fn main() {
    measure("default profile", &[]);
    measure(
        "default + CAP_SYS_ADMIN",
        &["CAP_SYS_ADMIN", "CAP_SYS_PTRACE"],
    );
}
