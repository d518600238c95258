//! A self-contained demo bundle: the host's static busybox copied into a fresh root
//! filesystem, and a configuration in the shape `runc spec` writes, plus limits and the
//! default seccomp profile, whose program prints what the container sees.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use crate::Error;

/// What the demo container prints: pid, hostname, user, capabilities, seccomp mode, limits.
pub const DEMO_SCRIPT: &str = "echo \"pid:        $$\"; echo \"hostname:   $(hostname)\"; \
    echo \"user:       $(id)\"; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; \
    echo \"pids.max:   $(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max)\"; \
    echo \"memory max: $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)\"; \
    echo \"root:       $(touch /x 2>&1 || true)\"; echo \"mounts:     $(cat /proc/self/mounts | wc -l)\"";

/// Writes a demo bundle under `dir` (`dir/config.json`, `dir/rootfs`) from `busybox` (a
/// statically linked busybox, usually `/bin/busybox`), placing the container in the cgroup
/// `cgroup`. Returns the bundle directory.
///
/// ```no_run
/// let bundle = iso_runtime::demo::write_bundle(
///     "/tmp/iso-demo".as_ref(), "/bin/busybox".as_ref(), "/iso/demo")?;
/// # Ok::<(), iso_runtime::Error>(())
/// ```
pub fn write_bundle(dir: &Path, busybox: &Path, cgroup: &str) -> Result<PathBuf, Error> {
    let rootfs = dir.join("rootfs");
    for d in ["bin", "proc", "sys", "dev", "etc", "tmp"] {
        fs::create_dir_all(rootfs.join(d)).map_err(|e| Error::io("mkdir", rootfs.join(d), e))?;
    }
    let target = rootfs.join("bin/busybox");
    fs::copy(busybox, &target).map_err(|e| Error::io("copy", busybox, e))?;
    for applet in [
        "sh", "cat", "echo", "id", "hostname", "grep", "touch", "wc", "ls", "sleep",
    ] {
        let link = rootfs.join("bin").join(applet);
        symlink("busybox", &link).map_err(|e| Error::io("symlink", &link, e))?;
    }
    fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n",
    )
    .map_err(|e| Error::io("write", rootfs.join("etc/passwd"), e))?;
    fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n")
        .map_err(|e| Error::io("write", rootfs.join("etc/group"), e))?;
    // The `spec` defaults, with the demo's program, a hostname, limits and a seccomp filter.
    let mut config = crate::spec::default_spec(false);
    let caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let seccomp = oci_spec::runtime::LinuxSeccomp::try_from(&iso_seccomp::default_profile(&caps))?;
    config["process"]["terminal"] = serde_json::json!(false);
    config["process"]["args"] = serde_json::json!(["/bin/sh", "-c", DEMO_SCRIPT]);
    config["process"]["env"] = serde_json::json!(["PATH=/bin", "TERM=xterm"]);
    config["hostname"] = serde_json::json!("iso-demo");
    let linux = &mut config["linux"];
    linux["cgroupsPath"] = serde_json::json!(cgroup);
    linux["resources"]["pids"] = serde_json::json!({"limit": 64});
    linux["resources"]["memory"] = serde_json::json!({"limit": 67108864});
    linux["seccomp"] = serde_json::to_value(&seccomp).map_err(|e| Error::Record {
        path: dir.join("config.json"),
        reason: e.to_string(),
    })?;
    let path = dir.join("config.json");
    let data = serde_json::to_vec_pretty(&config).map_err(|e| Error::Record {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    fs::write(&path, data).map_err(|e| Error::io("write", &path, e))?;
    Ok(dir.to_path_buf())
}
