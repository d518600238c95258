//! No runtime fd leaks into the user process, and a `cwd` of `/proc/self/fd/N` (runc
//! CVE-2024-21626) cannot reach the host.

use std::fs;

use iso_testutil::bundle::{text, Fixture};

use crate::BIN;

#[test]
fn user_process_has_only_stdio_fds() {
    let Some(mut fx) = Fixture::new(BIN, "sec-fds") else {
        return;
    };
    // The shell's own fds: 0-2, plus the directory fd of the glob (not a symlink target).
    let script = "for f in /proc/self/fd/*; do echo \"$f -> $(readlink $f)\"; done";
    fx.write_config(&fx.config(script));
    let out = fx.run("fds");
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("/proc/self/fd/1 -> "), "{stdout}");
    let extra: Vec<&str> = stdout
        .lines()
        .filter(|l| {
            let n = l.trim_start_matches("/proc/self/fd/");
            !(n.starts_with("0 ") || n.starts_with("1 ") || n.starts_with("2 "))
        })
        .filter(|l| !l.ends_with("-> ")) // the glob's dir fd, closed by then
        .collect();
    assert!(
        extra.is_empty(),
        "extra fds in the container: {extra:?}\n{stdout}"
    );
}

#[test]
fn cwd_proc_self_fd_cannot_reach_the_host() {
    let Some(mut fx) = Fixture::new(BIN, "sec-cwdfd") else {
        return;
    };
    fs::write(fx.path().join("HOST-MARKER"), "x").unwrap();
    for n in 3..=9 {
        let mut config = fx.config("ls -a . .. ../.. ../../.. ../../../.. 2>&1; true");
        config["process"]["cwd"] = serde_json::json!(format!("/proc/self/fd/{n}"));
        fx.write_config(&config);
        let out = fx.run(&format!("cwdfd{n}"));
        let stdout = text(&out.stdout);
        assert!(
            !stdout.contains("HOST-MARKER") && !stdout.contains("config.json"),
            "cwd /proc/self/fd/{n} reached the host:\n{stdout}"
        );
    }
}

/// Between `create` and `start` the waiting init holds no descriptor of the caller beyond
/// stdio (and `--preserve-fds`): a pipe the caller left open must not be kept open by a
/// container that has not started.
#[test]
fn waiting_init_holds_no_descriptor_of_the_caller() {
    let Some(mut fx) = Fixture::new(BIN, "sec-fds-wait") else {
        return;
    };
    fx.write_config(&fx.config("true"));
    let id = fx.id("wait");
    let bundle = fx.bundle();
    // An inheritable pipe, as a shell's process substitution would leave it.
    let mut fds = [0; 2];
    // SAFETY: pipe writes two descriptors into a valid array; they are closed below.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let out = fx.rt(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
    // SAFETY: closing the two descriptors made above.
    unsafe {
        libc::close(fds[0]);
        libc::close(fds[1]);
    }
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pid = fx.state(&id)["pid"].as_i64().unwrap();
    let held: Vec<String> = fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let target = fs::read_link(e.path()).unwrap_or_default();
            format!(
                "{} -> {}",
                e.file_name().to_string_lossy(),
                target.display()
            )
        })
        .filter(|l| !l.starts_with("0 ") && !l.starts_with("1 ") && !l.starts_with("2 "))
        // The sealed exec trampoline the program is executed through (the runtime's own).
        .filter(|l| !l.contains("/memfd:iso-trampoline"))
        .collect();
    assert!(
        held.iter().all(|l| l.contains("socket:")) && held.len() == 1,
        "the waiting init holds more than its start socket: {held:?}"
    );
}
