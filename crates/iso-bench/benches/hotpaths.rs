//! criterion micro-benchmarks of the library hot paths a container start goes through
//! (issue 11): compiling the default seccomp profile, creating / applying / deleting a
//! cgroup, resolving a path inside a root, and parsing a bundle's config.json.
//!
//! ```text
//! cargo bench -p iso-bench --bench hotpaths            # all (the cgroup group needs root)
//! cargo bench -p iso-bench --bench hotpaths -- seccomp # only benchmarks whose id contains "seccomp"
//! cargo test -p iso-bench --bench hotpaths             # each benchmark once, as a check (no timing)
//! ```
//!
//! criterion warms each benchmark up, samples it, and prints the time per iteration with a
//! confidence interval (and the change since the last run, kept in `target/criterion/`).
//! Nothing here asserts on time. Without root the cgroup group says so and is skipped.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};

/// A scratch directory under the temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(what: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("iso-bench-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the bench's scratch directory");
        Scratch(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn seccomp(c: &mut Criterion) {
    let caps = [
        "CAP_CHOWN",
        "CAP_NET_BIND_SERVICE",
        "CAP_KILL",
        "CAP_SETUID",
    ];
    let mut g = c.benchmark_group("seccomp");
    g.bench_function("default_profile", |b| {
        b.iter(|| iso::seccomp::default_profile(black_box(&caps)))
    });
    let profile = iso::seccomp::default_profile(&caps);
    g.bench_function("compile default profile", |b| {
        b.iter(|| black_box(&profile).compile().expect("compile"))
    });
    let compiled = profile.compile().expect("compile");
    g.bench_function("default filter to BPF", |b| {
        b.iter(|| black_box(&compiled).to_bpf().expect("to_bpf"))
    });
    g.finish();
}

fn resolve(c: &mut Criterion) {
    use iso::chroot::{Resolver, Root};
    // A root with a symlink chain, so resolution has work to do.
    let scratch = Scratch::new("resolve");
    let dir = scratch.path();
    std::fs::create_dir_all(dir.join("usr/lib/x86_64/deep/er")).expect("mkdir");
    std::fs::write(dir.join("usr/lib/x86_64/deep/er/file"), b"x").expect("write");
    std::os::unix::fs::symlink("/usr/lib", dir.join("lib")).expect("symlink");
    std::os::unix::fs::symlink("../../lib/x86_64", dir.join("usr/lib/arch")).expect("symlink");
    let path = "/lib/arch/deep/../deep/er/file";
    let mut g = c.benchmark_group("resolve in root");
    for (name, resolver) in [
        ("openat2", Resolver::Openat2),
        ("userspace walk", Resolver::Userspace),
    ] {
        let root = Root::open(dir).expect("open root").with_resolver(resolver);
        if let Err(e) = root.open_file(path, libc::O_RDONLY) {
            println!("resolve in root/{name}: unavailable on this kernel ({e})");
            continue;
        }
        g.bench_function(name, |b| {
            b.iter(|| {
                root.open_file(black_box(path), libc::O_RDONLY)
                    .expect("resolve")
            })
        });
    }
    g.finish();
}

fn config(c: &mut Criterion) {
    // The config.json `runc spec` writes, without a seccomp section.
    let scratch = Scratch::new("config");
    let dir = scratch.path();
    std::fs::create_dir_all(dir.join("rootfs")).expect("mkdir");
    std::fs::write(dir.join("config.json"), CONFIG).expect("write config");
    c.bench_function("config.json/Bundle::load", |b| {
        b.iter(|| iso_runtime::Bundle::load(black_box(dir)).expect("load"))
    });
}

fn cgroups(c: &mut Criterion) {
    use iso::cgroups::{Cgroup, CgroupPath, Layout, Limit, Pids, Resources};
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("cgroup: skipped (creating cgroups needs root)");
        return;
    }
    let layout = Layout::detect().expect("cgroup layout");
    let parent = format!("/iso-bench/hotpaths-{}", std::process::id());
    let resources = Resources {
        pids: Some(Pids {
            limit: Some(Limit::Value(64)),
        }),
        ..Resources::default()
    };
    let mut n = 0u64;
    let mut next_path = || {
        n += 1;
        CgroupPath::new(&format!("{parent}/{n}")).expect("cgroup path")
    };
    let mut g = c.benchmark_group("cgroup");
    g.bench_function("create + delete", |b| {
        b.iter_batched(
            &mut next_path,
            |path| {
                let cg = Cgroup::create(&layout, path).expect("create");
                cg.delete().expect("delete");
            },
            BatchSize::SmallInput,
        )
    });
    let cg = Cgroup::create(&layout, next_path()).expect("create");
    g.bench_function("apply pids limit", |b| {
        b.iter(|| cg.apply(black_box(&resources)).expect("apply"))
    });
    cg.delete().expect("delete");
    g.bench_function("create + apply pids limit + delete", |b| {
        b.iter_batched(
            &mut next_path,
            |path| {
                let cg = Cgroup::create(&layout, path).expect("create");
                cg.apply(&resources).expect("apply");
                cg.delete().expect("delete");
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
    // Remove the bench's parents (only if empty, which they are after each delete).
    for p in [parent.as_str(), "/iso-bench"] {
        if let Ok(cg) = CgroupPath::new(p).and_then(|p| Cgroup::open(&layout, p)) {
            if cg.procs_recursive().map(|v| v.is_empty()).unwrap_or(false) {
                let _ = cg.delete();
            }
        }
    }
}

criterion_group!(hotpaths, seccomp, resolve, config, cgroups);
criterion_main!(hotpaths);

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
