//! The options of `create` and `exec` beyond the bundle and the process.

use std::path::PathBuf;

/// Options of `create` beyond the bundle.
///
/// ```
/// let opts = iso_runtime::CreateOptions { preserve_fds: 2, ..Default::default() };
/// assert!(!opts.no_pivot);
/// ```
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Where to write the init's pid (`--pid-file`).
    pub pid_file: Option<PathBuf>,
    /// The unix socket that receives the pty master for `terminal: true` (`--console-socket`).
    pub console_socket: Option<PathBuf>,
    /// How many descriptors after stderr the program inherits (`--preserve-fds`).
    pub preserve_fds: i32,
    /// Enter the root with `MS_MOVE` + `chroot` instead of `pivot_root` (`--no-pivot`).
    pub no_pivot: bool,
    /// A unix socket that receives a pidfd of the init (`--pidfd-socket`).
    pub pidfd_socket: Option<PathBuf>,
    /// The site policy applied to the config before anything is created (`--policy`); the
    /// changes it makes are recorded in the container's annotations.
    pub policy: Option<crate::policy::Policy>,
    /// Create the cgroup as a transient systemd unit (`--systemd-cgroup`; `cgroupsPath` is
    /// then `slice:prefix:name`).
    pub systemd_cgroup: bool,
}

/// Options of `exec`.
///
/// ```no_run
/// let process: oci_spec::runtime::Process = serde_json::from_str(
///     r#"{"cwd":"/","args":["/bin/echo","hi"],"user":{"uid":0,"gid":0}}"#,
/// ).expect("valid process");
/// let opts = iso_runtime::ExecOptions { process, detach: false, pid_file: None,
///     console_socket: None, preserve_fds: 0, sub_cgroup: None, pidfd_socket: None,
///     ignore_paused: false };
/// let code = iso_runtime::Runtime::new("/run/iso").exec("web", &opts)?;
/// # Ok::<(), iso_runtime::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// The process to run (args, env, cwd, user, capabilities, ...).
    pub process: oci_spec::runtime::Process,
    /// Return once the program was executed instead of waiting for it.
    pub detach: bool,
    /// Where to write the new process' pid.
    pub pid_file: Option<PathBuf>,
    /// The unix socket that receives the pty master when `process.terminal` is true.
    pub console_socket: Option<PathBuf>,
    /// How many descriptors after stderr the program inherits.
    pub preserve_fds: i32,
    /// A cgroup below the container's to run the process in (`--cgroup`); it must exist.
    pub sub_cgroup: Option<String>,
    /// A unix socket that receives a pidfd of the new process (`--pidfd-socket`).
    pub pidfd_socket: Option<PathBuf>,
    /// Run the process in a paused container too (`--ignore-paused`); otherwise `exec` into
    /// a paused container is refused.
    pub ignore_paused: bool,
}
