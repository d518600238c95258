//! Every example runs as root with no arguments and exits 0 only when the kernel behaved as
//! it shows; this runs each one (they are built by `cargo test`/`cargo nextest` along with
//! the tests) and checks that.

use std::path::PathBuf;
use std::process::Command;

fn example_path(name: &str) -> PathBuf {
    // The test binary is target/<profile>/deps/examples-<hash>; examples sit in
    // target/<profile>/examples/.
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile> directory");
    profile_dir.join("examples").join(name)
}

/// Runs example `name` and checks it exits 0 and prints each of `expected` (a substring of
/// some line of its stdout).
fn run_example(name: &str, expected: &[&str]) {
    if !iso_testutil::root_or_skip() {
        return;
    }
    let path = example_path(name);
    assert!(
        path.exists(),
        "{} not built: run `cargo build --examples`",
        path.display()
    );
    let out = Command::new(&path).output().expect("spawn example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "example {name} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    for line in expected {
        assert!(
            stdout.lines().any(|l| l.contains(line)),
            "example {name} did not print {line:?}:\n{stdout}"
        );
    }
}

/// One test per example: `name`, or `name => ["expected line", ...]`.
macro_rules! examples {
    ($($name:ident $(=> [$($line:expr),* $(,)?])?),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_example(stringify!($name), &[$($($line),*)?]);
            }
        )*
    };
}

examples!(
    newpid,
    chroot_ls,
    capsh,
    cgroups,
    seccomp_kill,
    seccomp_errno,
    seccomp_notify,
    landlock_ro,
    apparmor_ping,
    fpm_jail => ["denied read /etc/shadow: Permission denied"],
    ulimit,
    namespaces_tour,
    runtime_chain => [
        "[ok] runtime -> container init -> child, each the parent of the next",
        "[ok] the init is pid 1 in its own pid namespace",
        "[ok] namespaces pid mnt net ipc uts cgroup differ from the host's",
        "[ok] init and child are in the cgroup /iso-example-chain-",
        "[ok] the init holds only stdin, stdout and stderr",
        "cleaned up: container iso-example-chain-",
    ],
);
