//! Micro-benchmarks of the library hot paths a container start goes through (issue 11):
//! compiling the default seccomp profile, creating / applying / deleting a cgroup,
//! resolving a path inside a root, and parsing a bundle's config.json.
//!
//! ```text
//! cargo bench --bench hotpaths            # all (the cgroup one needs root)
//! cargo bench --bench hotpaths -- seccomp # only names containing "seccomp"
//! ```
//!
//! A small self-contained harness (no criterion, to keep the workspace's dependency tree
//! as it is): each case is warmed up, then timed in 15 samples of enough iterations to last
//! about 20 ms; it prints the median time per iteration and the min–max over samples.
//! No assertions on time. Without `--bench` (`cargo test --benches`) each case runs once.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Times `f` and prints one line: median (min–max) per iteration.
fn bench(filter: &[String], name: &str, mut f: impl FnMut()) {
    if !filter.is_empty() && !filter.iter().any(|x| name.contains(x.as_str())) {
        return;
    }
    // Without `--bench` (as under `cargo test --benches`), run each case once as a check.
    if !std::env::args().any(|a| a == "--bench") {
        f();
        println!("{name:<44} ok (run once; time it with `cargo bench`)");
        return;
    }
    // Calibrate: how many iterations take about 20 ms.
    let start = Instant::now();
    let mut calib = 0u64;
    while start.elapsed() < Duration::from_millis(20) {
        f();
        calib += 1;
    }
    let iters = calib.max(1);
    let mut per_iter: Vec<f64> = (0..15)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    per_iter.sort_by(f64::total_cmp);
    let show = |ns: f64| {
        if ns >= 1e6 {
            format!("{:.2} ms", ns / 1e6)
        } else if ns >= 1e3 {
            format!("{:.2} µs", ns / 1e3)
        } else {
            format!("{ns:.0} ns")
        }
    };
    println!(
        "{name:<44} {:>10}  ({} – {}, {iters} iterations x 15)",
        show(per_iter[7]),
        show(per_iter[0]),
        show(per_iter[14])
    );
}

fn main() {
    // `cargo bench` passes `--bench`; anything else not starting with `-` filters by name.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();

    seccomp(&filter);
    resolve(&filter);
    config(&filter);
    cgroups(&filter);
}

fn seccomp(filter: &[String]) {
    let caps = [
        "CAP_CHOWN",
        "CAP_NET_BIND_SERVICE",
        "CAP_KILL",
        "CAP_SETUID",
    ];
    bench(filter, "seccomp: default_profile()", || {
        black_box(iso::seccomp::default_profile(black_box(&caps)));
    });
    let profile = iso::seccomp::default_profile(&caps);
    bench(filter, "seccomp: compile default profile", || {
        black_box(profile.compile().expect("compile"));
    });
    let compiled = profile.compile().expect("compile");
    bench(filter, "seccomp: default filter to BPF", || {
        black_box(compiled.to_bpf().expect("to_bpf"));
    });
}

fn resolve(filter: &[String]) {
    use iso::chroot::{Resolver, Root};
    // A root with a symlink chain, so resolution has work to do.
    let dir = std::env::temp_dir().join(format!("iso-bench-resolve-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("usr/lib/x86_64/deep/er")).expect("mkdir");
    std::fs::write(dir.join("usr/lib/x86_64/deep/er/file"), b"x").expect("write");
    std::os::unix::fs::symlink("/usr/lib", dir.join("lib")).expect("symlink");
    std::os::unix::fs::symlink("../../lib/x86_64", dir.join("usr/lib/arch")).expect("symlink");
    let path = "/lib/arch/deep/../deep/er/file";
    for (name, resolver) in [
        ("resolve in root: openat2", Resolver::Openat2),
        ("resolve in root: userspace walk", Resolver::Userspace),
    ] {
        let root = Root::open(&dir).expect("open root").with_resolver(resolver);
        if root.open_file(path, libc::O_RDONLY).is_err() {
            println!("{name:<44} unavailable on this kernel");
            continue;
        }
        bench(filter, name, || {
            black_box(
                root.open_file(black_box(path), libc::O_RDONLY)
                    .expect("resolve"),
            );
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn config(filter: &[String]) {
    // The config.json `runc spec` writes, with a seccomp-free default process.
    let dir = std::env::temp_dir().join(format!("iso-bench-config-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("rootfs")).expect("mkdir");
    std::fs::write(dir.join("config.json"), CONFIG).expect("write config");
    bench(filter, "config.json: Bundle::load", || {
        black_box(iso_runtime::Bundle::load(black_box(&dir)).expect("load"));
    });
    let _ = std::fs::remove_dir_all(&dir);
}

fn cgroups(filter: &[String]) {
    use iso::cgroups::{Cgroup, CgroupPath, Layout, Limit, Pids, Resources};
    let name = "cgroup: create + apply pids + delete";
    if !filter.is_empty() && !filter.iter().any(|x| name.contains(x.as_str())) {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("{name:<44} skipped (needs root)");
        return;
    }
    let layout = Layout::detect().expect("cgroup layout");
    let parent = format!("/iso-bench/hotpaths-{}", std::process::id());
    let resources = Resources {
        pids: Some(Pids {
            limit: Limit::Value(64),
        }),
        ..Resources::default()
    };
    let mut n = 0u64;
    bench(filter, name, || {
        n += 1;
        let path = CgroupPath::new(&format!("{parent}/{n}")).expect("path");
        let cg = Cgroup::create(&layout, path).expect("create");
        cg.apply(&resources).expect("apply");
        cg.delete().expect("delete");
    });
    // Remove the bench's parents (only if empty, which they are after each delete).
    if let Ok(p) = CgroupPath::new(&parent) {
        if let Ok(cg) = Cgroup::open(&layout, p) {
            let _ = cg.delete();
        }
    }
    if let Ok(p) = CgroupPath::new("/iso-bench") {
        if let Ok(cg) = Cgroup::open(&layout, p) {
            if cg.procs_recursive().map(|v| v.is_empty()).unwrap_or(false) {
                let _ = cg.delete();
            }
        }
    }
}

const CONFIG: &str = r#"{
  "ociVersion": "1.0.2-dev",
  "process": {
    "terminal": false, "user": {"uid": 0, "gid": 0}, "args": ["sh"],
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
    "cwd": "/",
    "capabilities": {
      "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    },
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
    "noNewPrivileges": true
  },
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "runc",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
  ],
  "linux": {
    "resources": {"devices": [{"allow": false, "access": "rwm"}]},
    "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
    "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                    "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
    "readonlyPaths": ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
  }
}"#;
