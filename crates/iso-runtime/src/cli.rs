//! The command line of `iso-runtime`: runc's commands and flags, parsed with clap.
//!
//! ```text
//! iso-runtime [--root DIR] [--log FILE] [--log-format text|json] [--debug] [--policy FILE]
//!             [--systemd-cgroup] [--rootless[=X]] [-v|--version] COMMAND ...
//!   create <id> [--bundle DIR] [--pid-file F] [--console-socket S] [--pidfd-socket S]
//!          [--preserve-fds N] [--no-pivot] [--no-new-keyring]
//!   start <id> | state <id> | kill <id> [SIGNAL|0] [--all] | delete <id> [--force]
//!   run <id> [create flags] [--detach] [--keep]
//!   exec <id> [--process F | -- cmd...] [-t --console-socket S] [--detach] [--pid-file F]
//!        [--env K=V]... [--cwd D] [--user U[:G]] [--additional-gids G]... [--cap C]...
//!        [--no-new-privs] [--apparmor P] [--process-label L] [--preserve-fds N] [--cgroup C]
//!        [--pidfd-socket S] [--ignore-paused]
//!   ps <id> [--format table|json] [[--] ps-args] | list [--format table|json] [-q]
//!   pause <id> | resume <id> | update <id> [--resources F|-] [--memory N] [--cpu-share N] ...
//!   events <id> [--stats] [--interval D] | spec [--bundle B] [--rootless] | features
//!   policy check [--bundle B] | demo [--busybox B] | help [COMMAND]
//!   checkpoint <id> [--image-path D] [--work-path D] [--leave-running] [--pre-dump]
//!          [--parent-path D] [CRIU flags] | restore <id> [--bundle B] [--detach]
//!          [--pid-file F] [--no-subreaper] [CRIU flags]
//! ```
//!
//! The argument strings of a command line come from whoever runs the runtime (an engine, a
//! script), so parsing them is input handling like `config.json`: [`Cli::try_parse_from`]
//! and the conversions here ([`CreateArgs::options`], [`ExecArgs::apply_security`],
//! [`UpdateArgs::resources`], [`parse_bytes`], [`parse_interval`]) return errors, never
//! panic (the `cli` fuzz target under `fuzz/` feeds them arbitrary argument vectors).
//!
//! ```
//! use clap::Parser;
//! use iso_runtime::cli::{Cli, Command};
//!
//! let cli = Cli::try_parse_from(["iso-runtime", "--root", "/tmp/s", "delete", "-f", "web"])?;
//! assert!(matches!(cli.command, Command::Delete { force: true, .. }));
//! assert!(Cli::try_parse_from(["iso-runtime", "bogus"]).is_err());
//! # Ok::<(), clap::Error>(())
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::{CreateOptions, Error, ExecOptions, Runtime};

/// The whole command line: global flags and one [`Command`].
///
/// ```
/// use clap::Parser;
/// use iso_runtime::rootless::{default_state_root, Rootless};
/// let cli = iso_runtime::cli::Cli::try_parse_from(["iso-runtime", "state", "web"])?;
/// // /run/iso for root, $XDG_RUNTIME_DIR/iso for another user.
/// assert_eq!(cli.root, default_state_root());
/// assert_eq!(cli.rootless, Rootless::Auto);
/// # Ok::<(), clap::Error>(())
/// ```
#[derive(Parser, Debug)]
#[command(
    name = "iso-runtime",
    version = concat!(env!("CARGO_PKG_VERSION"), "\nspec: 1.2.0"),
    about = "An OCI container runtime composed from the iso crates",
    long_about = None,
    disable_version_flag = true
)]
pub struct Cli {
    /// Print the version (`-v`, as runc).
    #[arg(short = 'v', long = "version", action = clap::ArgAction::Version)]
    pub version: Option<bool>,
    /// Root directory for container state (created, mode 0700, when missing); default
    /// /run/iso, or $XDG_RUNTIME_DIR/iso for a user other than root.
    #[arg(long, global = true, default_value_os_t = crate::rootless::default_state_root())]
    pub root: PathBuf,
    /// Also write errors (and with --debug, debug lines) to this file.
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long = "log-format", global = true, default_value = "text")]
    pub log_format: String,
    /// Write debug lines (`level=debug`) to stderr, or to --log when given.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Create each container's cgroup as a transient systemd unit (cgroupsPath
    /// "slice:prefix:name").
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Work as an unprivileged user: true, false or auto (rootless when not the host's
    /// root). Skips a cgroup the user cannot create and bind-mounts devices.
    #[arg(long, global = true, num_args = 0..=1, default_value = "auto",
          default_missing_value = "true")]
    pub rootless: crate::rootless::Rootless,
    /// Site policy file (defaults and ceilings; see policy.example.toml). Default: $ISO_POLICY,
    /// else /etc/iso/policy.toml if it exists.
    #[arg(long, global = true)]
    pub policy: Option<PathBuf>,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The flags of `create` (and of `run`, which adds its own).
#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    /// The container id.
    pub id: String,
    /// The bundle directory.
    #[arg(long, short = 'b', default_value = ".")]
    pub bundle: PathBuf,
    /// File to write the init's pid to.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master (terminal: true).
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Unix socket that receives a pidfd of the init.
    #[arg(long = "pidfd-socket")]
    pub pidfd_socket: Option<PathBuf>,
    /// Number of descriptors after stderr to pass to the program.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: i32,
    /// Do not use pivot_root (MS_MOVE + chroot instead).
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Accepted for compatibility (no session keyring is created).
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
}

/// The flags of `exec`.
#[derive(Args, Debug, Clone)]
pub struct ExecArgs {
    /// The container id.
    pub id: String,
    /// The program and its arguments (unless --process is given).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
    /// A JSON file with the OCI process to run.
    #[arg(long, short = 'p')]
    pub process: Option<PathBuf>,
    /// Return once the program was executed.
    #[arg(long, short = 'd')]
    pub detach: bool,
    /// File to write the process' pid to.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master.
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Allocate a pseudo-terminal.
    #[arg(long, short = 't')]
    pub tty: bool,
    /// Working directory in the container.
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Extra environment variables (KEY=VALUE).
    #[arg(long, short = 'e')]
    pub env: Vec<String>,
    /// UID or UID:GID to run as.
    #[arg(long, short = 'u')]
    pub user: Option<String>,
    /// Number of descriptors after stderr to pass on.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: i32,
    /// Set no_new_privs.
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Additional capability (bounding, effective, permitted; never inheritable).
    #[arg(long = "cap", short = 'c')]
    pub cap: Vec<String>,
    /// Additional supplementary group id.
    #[arg(long = "additional-gids", short = 'g')]
    pub additional_gids: Vec<u32>,
    /// AppArmor profile of the process.
    #[arg(long)]
    pub apparmor: Option<String>,
    /// SELinux label of the process.
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    /// Sub-cgroup of the container's cgroup to run in (`path` or `controller:path`).
    #[arg(long)]
    pub cgroup: Option<String>,
    /// Unix socket that receives a pidfd of the process.
    #[arg(long = "pidfd-socket")]
    pub pidfd_socket: Option<PathBuf>,
    /// Run the process even if the container is paused (it starts frozen).
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
}

/// The flags of `update`.
#[derive(Args, Debug, Clone)]
pub struct UpdateArgs {
    /// The container id.
    pub id: String,
    /// A JSON file with the OCI linux.resources to apply (`-` for stdin).
    #[arg(long, short = 'r')]
    pub resources: Option<PathBuf>,
    /// Memory limit in bytes (suffixes k, m, g allowed; -1 is unlimited).
    #[arg(long, short = 'm', allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory soft limit in bytes.
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit in bytes (-1 is unlimited).
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// CFS quota in microseconds (-1 is unlimited).
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CFS period in microseconds.
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// CPU shares (relative weight); `--cpu-shares` is accepted too.
    #[arg(long = "cpu-share", visible_alias = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    /// CFS burst in microseconds.
    #[arg(long = "cpu-burst")]
    pub cpu_burst: Option<u64>,
    /// Realtime period in microseconds.
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    /// Realtime runtime in microseconds.
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs to run on (`0-3,6`).
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes (`0`).
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Block I/O weight (10..1000).
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Maximum number of tasks (-1 is unlimited).
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Intel RDT/CAT L3 cache schema (refused: no resctrl support).
    #[arg(long = "l3-cache-schema")]
    pub l3_cache_schema: Option<String>,
    /// Intel RDT/MBA memory bandwidth schema (refused: no resctrl support).
    #[arg(long = "mem-bw-schema")]
    pub mem_bw_schema: Option<String>,
}

/// A runtime command and its arguments.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container that waits for `start`.
    Create(CreateArgs),
    /// Start a created container.
    Start {
        /// The container id.
        id: String,
    },
    /// Print the OCI state of a container.
    State {
        /// The container id.
        id: String,
    },
    /// Send a signal to a container.
    Kill {
        /// The container id.
        id: String,
        /// Signal name or number (default TERM).
        signal: Option<String>,
        /// Signal every process of the container.
        #[arg(long, short = 'a')]
        all: bool,
    },
    /// Delete a container.
    Delete {
        /// The container id.
        id: String,
        /// Kill a running container first.
        #[arg(long, short = 'f')]
        force: bool,
    },
    /// Create, start and wait for a container; exits with its status.
    Run {
        /// The flags of `create`.
        #[command(flatten)]
        create: CreateArgs,
        /// Return after start.
        #[arg(long, short = 'd')]
        detach: bool,
        /// Keep the container's state after it exits.
        #[arg(long)]
        keep: bool,
    },
    /// Run a process in a created or running container.
    Exec(ExecArgs),
    /// List the processes of a container.
    Ps {
        /// The container id.
        id: String,
        /// table or json (a list of pids).
        #[arg(long, short = 'f', default_value = "table")]
        format: String,
        /// Arguments for ps(1) in table format (its output is filtered to the container).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Print what this runtime supports (the OCI features JSON).
    Features,
    /// `policy check [--bundle B]`: print the policy's changes to the bundle's config (a diff)
    /// and the effective config; exit 1 where create would reject it.
    Policy {
        /// The action: `check`.
        action: String,
        /// The bundle to check.
        #[arg(long, short = 'b', default_value = ".")]
        bundle: PathBuf,
    },
    /// List containers.
    List {
        /// table or json.
        #[arg(long, short = 'f', default_value = "table")]
        format: String,
        /// Print only the ids.
        #[arg(long, short = 'q')]
        quiet: bool,
    },
    /// Change the resource limits of a container.
    Update(UpdateArgs),
    /// Print cgroup statistics and OOM notices of a container as JSON lines.
    Events {
        /// The container id.
        id: String,
        /// Print the statistics once and exit.
        #[arg(long)]
        stats: bool,
        /// Interval between statistics (e.g. 5s, 500ms).
        #[arg(long, default_value = "5s")]
        interval: String,
    },
    /// Write a default config.json into a bundle.
    Spec {
        /// The bundle directory.
        #[arg(long, short = 'b', default_value = ".")]
        bundle: PathBuf,
        // `--rootless` (the global flag) makes a configuration for an unprivileged user.
    },
    /// Freeze a running container.
    Pause {
        /// The container id.
        id: String,
    },
    /// Thaw a paused container.
    Resume {
        /// The container id.
        id: String,
    },
    /// Checkpoint a running container with CRIU (then delete it, unless --leave-running).
    Checkpoint(CheckpointArgs),
    /// Restore a container from a CRIU checkpoint.
    Restore(RestoreArgs),
    /// Run a demo container from the host's static busybox, print what it sees, clean up.
    Demo {
        /// A statically linked busybox.
        #[arg(long, default_value = "/bin/busybox")]
        busybox: PathBuf,
    },
}

/// The CRIU flags `checkpoint` and `restore` share (runc's).
#[derive(Args, Debug, Clone)]
pub struct CriuArgs {
    /// The container id.
    pub id: String,
    /// Directory of the CRIU image.
    #[arg(long = "image-path", default_value = "checkpoint")]
    pub image_path: PathBuf,
    /// Directory for CRIU's log (default: the image directory).
    #[arg(long = "work-path")]
    pub work_path: Option<PathBuf>,
    /// Allow open TCP connections.
    #[arg(long = "tcp-established")]
    pub tcp_established: bool,
    /// Allow external unix sockets.
    #[arg(long = "ext-unix-sk")]
    pub ext_unix_sk: bool,
    /// Allow shell jobs.
    #[arg(long = "shell-job")]
    pub shell_job: bool,
    /// Handle file locks.
    #[arg(long = "file-locks")]
    pub file_locks: bool,
    /// Cgroups mode: soft (default), full, strict, props or ignore.
    #[arg(long = "manage-cgroups-mode")]
    pub manage_cgroups_mode: Option<String>,
    /// Create a namespace, but do not restore its properties (network).
    #[arg(long = "empty-ns")]
    pub empty_ns: Option<String>,
    /// Enable auto deduplication of memory images.
    #[arg(long = "auto-dedup")]
    pub auto_dedup: bool,
    /// Use userfaultfd to restore memory pages lazily.
    #[arg(long = "lazy-pages")]
    pub lazy_pages: bool,
}

impl CriuArgs {
    fn flags(&self) -> Result<crate::criu::CriuFlags, Error> {
        let mode = self
            .manage_cgroups_mode
            .as_deref()
            .map(|m| {
                m.parse().map_err(|reason| Error::InvalidArgument {
                    what: "--manage-cgroups-mode",
                    value: m.to_owned(),
                    reason,
                })
            })
            .transpose()?;
        Ok(crate::criu::CriuFlags {
            image_path: self.image_path.clone(),
            work_path: self.work_path.clone(),
            tcp_established: self.tcp_established,
            ext_unix_sk: self.ext_unix_sk,
            shell_job: self.shell_job,
            file_locks: self.file_locks,
            manage_cgroups_mode: mode,
            empty_ns: self.empty_ns.clone(),
            auto_dedup: self.auto_dedup,
            lazy_pages: self.lazy_pages,
        })
    }
}

/// The flags of `checkpoint`.
#[derive(Args, Debug, Clone)]
pub struct CheckpointArgs {
    /// The flags shared with `restore`.
    #[command(flatten)]
    pub criu: CriuArgs,
    /// Path of a previous pre-dump image, relative to the image path.
    #[arg(long = "parent-path")]
    pub parent_path: Option<PathBuf>,
    /// Leave the container running after the checkpoint.
    #[arg(long = "leave-running")]
    pub leave_running: bool,
    /// Dump the memory only and leave the container running.
    #[arg(long = "pre-dump")]
    pub pre_dump: bool,
    /// Descriptor CRIU writes \0 to once lazy pages are ready.
    #[arg(long = "status-fd", default_value_t = -1, allow_hyphen_values = true)]
    pub status_fd: i32,
}

impl CheckpointArgs {
    /// The [`crate::criu::CheckpointOptions`] these flags ask for.
    ///
    /// ```
    /// use clap::Parser;
    /// use iso_runtime::cli::{Cli, Command};
    /// let cli = Cli::try_parse_from(["iso-runtime", "checkpoint", "--leave-running", "web"])?;
    /// let Command::Checkpoint(args) = cli.command else { unreachable!() };
    /// let opts = args.options().expect("valid flags");
    /// assert!(opts.leave_running);
    /// assert_eq!(opts.criu.image_path, std::path::Path::new("checkpoint"));
    /// # Ok::<(), clap::Error>(())
    /// ```
    pub fn options(&self) -> Result<crate::criu::CheckpointOptions, Error> {
        Ok(crate::criu::CheckpointOptions {
            criu: self.criu.flags()?,
            parent_path: self.parent_path.clone(),
            leave_running: self.leave_running,
            pre_dump: self.pre_dump,
            status_fd: (self.status_fd >= 0).then_some(self.status_fd),
        })
    }
}

/// The flags of `restore`.
#[derive(Args, Debug, Clone)]
pub struct RestoreArgs {
    /// The flags shared with `checkpoint`.
    #[command(flatten)]
    pub criu: CriuArgs,
    /// The bundle directory.
    #[arg(long, short = 'b', default_value = ".")]
    pub bundle: PathBuf,
    /// Return once restored instead of waiting for the container.
    #[arg(long, short = 'd')]
    pub detach: bool,
    /// File to write the restored init's pid to.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that would receive the pty master (a container with a terminal is
    /// refused).
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Do not become a subreaper for the restored processes.
    #[arg(long = "no-subreaper")]
    pub no_subreaper: bool,
    /// Accepted for compatibility (CRIU enters the root filesystem itself).
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
}

impl RestoreArgs {
    /// The [`crate::criu::RestoreOptions`] these flags ask for (`policy` is left to the
    /// caller).
    ///
    /// ```
    /// use clap::Parser;
    /// use iso_runtime::cli::{Cli, Command};
    /// let cli = Cli::try_parse_from(["iso-runtime", "restore", "-d", "--manage-cgroups-mode",
    ///                                "hard", "web"])?;
    /// let Command::Restore(args) = cli.command else { unreachable!() };
    /// assert!(args.options().is_err());
    /// # Ok::<(), clap::Error>(())
    /// ```
    pub fn options(&self) -> Result<crate::criu::RestoreOptions, Error> {
        Ok(crate::criu::RestoreOptions {
            criu: self.criu.flags()?,
            bundle: self.bundle.clone(),
            detach: self.detach,
            pid_file: self.pid_file.clone(),
            console_socket: self.console_socket.clone(),
            no_subreaper: self.no_subreaper,
            policy: None,
        })
    }
}

impl CreateArgs {
    /// The [`CreateOptions`] these flags ask for (`policy` is left to the caller).
    ///
    /// ```
    /// use clap::Parser;
    /// use iso_runtime::cli::{Cli, Command};
    /// let cli = Cli::try_parse_from(["iso-runtime", "create", "--preserve-fds=-1", "web"])?;
    /// let Command::Create(args) = cli.command else { unreachable!() };
    /// assert!(args.options().is_err());
    /// # Ok::<(), clap::Error>(())
    /// ```
    pub fn options(&self) -> Result<CreateOptions, Error> {
        let a = self;
        if a.preserve_fds < 0 {
            return Err(Error::InvalidArgument {
                what: "--preserve-fds",
                value: a.preserve_fds.to_string(),
                reason: "must not be negative".into(),
            });
        }
        Ok(CreateOptions {
            pid_file: a.pid_file.clone(),
            console_socket: a.console_socket.clone(),
            preserve_fds: a.preserve_fds,
            no_pivot: a.no_pivot,
            pidfd_socket: a.pidfd_socket.clone(),
            policy: None,
            systemd_cgroup: false,
        })
    }
}

/// The process of `exec --process`: a process without `user` runs as uid and gid 0 (as
/// with runc), one without `env` with an empty environment; unknown capability names are
/// left out with a warning.
fn exec_process(data: &[u8]) -> Result<oci_spec::runtime::Process, String> {
    let mut value: serde_json::Value = serde_json::from_slice(data).map_err(|e| e.to_string())?;
    if let Some(object) = value.as_object_mut() {
        object
            .entry("user")
            .or_insert_with(|| serde_json::json!({"uid": 0, "gid": 0}));
    }
    crate::bundle::warn_unknown_capabilities(crate::bundle::strip_unknown_capabilities(&mut value));
    crate::bundle::parse_value(&value)
}

impl ExecArgs {
    /// The [`ExecOptions`] these flags ask for: the `--process` file, or the container's own
    /// process (read from its bundle under `root`) with this command line; then the security
    /// flags ([`ExecArgs::apply_security`]). The process is checked like a config's (no NUL
    /// bytes, arguments within the kernel's limits, rlimit soft at most hard).
    ///
    /// ```no_run
    /// use clap::Parser;
    /// use iso_runtime::cli::{Cli, Command};
    /// let cli = Cli::try_parse_from(["iso-runtime", "exec", "web", "--", "ls", "-l"]).unwrap();
    /// let Command::Exec(args) = &cli.command else { unreachable!() };
    /// let opts = args.options(&cli.root)?;
    /// # Ok::<(), iso_runtime::Error>(())
    /// ```
    pub fn options(&self, root: &Path) -> Result<ExecOptions, Error> {
        let a = self;
        let invalid = |what: &'static str, value: &str, reason: &str| Error::InvalidArgument {
            what,
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        let process: oci_spec::runtime::Process = match &a.process {
            Some(path) => {
                let data = crate::bundle::read_config_file(path)?;
                exec_process(&data).map_err(|reason| Error::Config {
                    path: path.clone(),
                    reason,
                })?
            }
            None => {
                if a.command.is_empty() {
                    return Err(invalid("command", "", "exec needs a program or --process"));
                }
                // The container's own process settings, with this command line.
                let state = Runtime::new(root).state(&a.id)?;
                let bundle = crate::Bundle::load(&state.bundle)?;
                let mut p = bundle.spec().process().clone().unwrap_or_default();
                p.set_args(Some(a.command.clone()));
                p.set_terminal(Some(a.tty));
                if let Some(cwd) = &a.cwd {
                    p.set_cwd(cwd.clone());
                }
                if !a.env.is_empty() {
                    let mut env = p.env().clone().unwrap_or_default();
                    env.extend(a.env.iter().cloned());
                    p.set_env(Some(env));
                }
                if let Some(user) = &a.user {
                    let (uid, gid) = match user.split_once(':') {
                        Some((u, g)) => (u, Some(g)),
                        None => (user.as_str(), None),
                    };
                    let mut u = p.user().clone();
                    u.set_uid(
                        uid.parse()
                            .map_err(|_| invalid("--user", user, "not a number"))?,
                    );
                    if let Some(g) = gid {
                        u.set_gid(
                            g.parse()
                                .map_err(|_| invalid("--user", user, "not a number"))?,
                        );
                    }
                    p.set_user(u);
                }
                if a.no_new_privs {
                    p.set_no_new_privileges(Some(true));
                }
                p
            }
        };
        let mut process = process;
        a.apply_security(&mut process)?;
        // The same rules as a config's process (NUL bytes, lengths, rlimits).
        crate::validate::process(&process).map_err(|e| Error::ConfigValue {
            path: a
                .process
                .clone()
                .unwrap_or_else(|| PathBuf::from("exec command line")),
            field: e.field,
            reason: e.reason,
        })?;
        if a.preserve_fds < 0 {
            return Err(invalid(
                "--preserve-fds",
                &a.preserve_fds.to_string(),
                "must not be negative",
            ));
        }
        Ok(crate::ExecOptions {
            process,
            detach: a.detach,
            pid_file: a.pid_file.clone(),
            console_socket: a.console_socket.clone(),
            preserve_fds: a.preserve_fds,
            sub_cgroup: a.cgroup.clone(),
            pidfd_socket: a.pidfd_socket.clone(),
            ignore_paused: a.ignore_paused,
        })
    }

    /// The security flags of `exec`, applied on top of the process (also a `--process` one).
    /// `--cap` adds to the bounding, effective and permitted sets, and to the ambient set
    /// where the process' inheritable set already holds it; never to the inheritable set:
    /// an inheritable capability would survive into programs run by the process
    /// (CVE-2022-29162).
    ///
    /// ```
    /// use clap::Parser;
    /// use iso_runtime::cli::{Cli, Command};
    /// let cli = Cli::try_parse_from(["iso-runtime", "exec", "--cap", "net_raw", "web", "ping"])?;
    /// let Command::Exec(args) = cli.command else { unreachable!() };
    /// let mut p = oci_spec::runtime::Process::default();
    /// args.apply_security(&mut p).unwrap();
    /// let caps = p.capabilities().clone().unwrap();
    /// let net_raw = oci_spec::runtime::Capability::NetRaw;
    /// assert!(caps.permitted().clone().unwrap().contains(&net_raw));
    /// assert!(!caps.inheritable().clone().unwrap_or_default().contains(&net_raw));
    /// # Ok::<(), clap::Error>(())
    /// ```
    pub fn apply_security(&self, p: &mut oci_spec::runtime::Process) -> Result<(), Error> {
        let a = self;
        if !a.cap.is_empty() {
            let mut caps = p.capabilities().clone().unwrap_or_default();
            let add = |set: Option<oci_spec::runtime::Capabilities>| -> Result<_, Error> {
                let mut set = set.unwrap_or_default();
                for name in &a.cap {
                    let full = if name.to_ascii_uppercase().starts_with("CAP_") {
                        name.to_ascii_uppercase()
                    } else {
                        format!("CAP_{}", name.to_ascii_uppercase())
                    };
                    let cap: oci_spec::runtime::Capability =
                        serde_json::from_value(serde_json::Value::String(full)).map_err(|_| {
                            Error::InvalidArgument {
                                what: "--cap",
                                value: name.clone(),
                                reason: "unknown capability".into(),
                            }
                        })?;
                    set.insert(cap);
                }
                Ok(Some(set))
            };
            let inheritable = caps.inheritable().clone().unwrap_or_default();
            let ambient = caps.ambient().clone().unwrap_or_default();
            caps.set_bounding(add(caps.bounding().clone())?);
            caps.set_effective(add(caps.effective().clone())?);
            caps.set_permitted(add(caps.permitted().clone())?);
            // Ambient too, where the spec's inheritable set allows it (as runc, whose raise
            // of one outside it fails).
            let added = add(None)?.unwrap_or_default();
            let raisable = added.into_iter().filter(|c| inheritable.contains(c));
            caps.set_ambient(Some(ambient.into_iter().chain(raisable).collect()));
            p.set_capabilities(Some(caps));
        }
        if !a.additional_gids.is_empty() {
            let mut u = p.user().clone();
            let mut gids = u.additional_gids().clone().unwrap_or_default();
            gids.extend(a.additional_gids.iter().copied());
            u.set_additional_gids(Some(gids));
            p.set_user(u);
        }
        if a.no_new_privs {
            p.set_no_new_privileges(Some(true));
        }
        if let Some(profile) = &a.apparmor {
            p.set_apparmor_profile(Some(profile.clone()));
        }
        if let Some(label) = &a.process_label {
            p.set_selinux_label(Some(label.clone()));
        }
        if a.tty {
            p.set_terminal(Some(true));
        }
        Ok(())
    }
}

impl UpdateArgs {
    /// The resources of `update`: the `--resources` document (a file or `-` for stdin) with the
    /// individual flags on top.
    ///
    /// ```
    /// use clap::Parser;
    /// use iso_runtime::cli::{Cli, Command};
    /// let cli = Cli::try_parse_from(["iso-runtime", "update", "--memory", "64m", "web"])?;
    /// let Command::Update(args) = cli.command else { unreachable!() };
    /// let r = args.resources().unwrap();
    /// assert_eq!(r.memory().as_ref().and_then(|m| m.limit()), Some(64 << 20));
    /// # Ok::<(), clap::Error>(())
    /// ```
    pub fn resources(&self) -> Result<oci_spec::runtime::LinuxResources, Error> {
        let a = self;
        use serde_json::{json, Value};
        let mut doc: Value = match &a.resources {
            Some(path) => {
                let data = if path.as_os_str() == "-" {
                    crate::bundle::read_config(std::io::stdin(), path)?
                } else {
                    crate::bundle::read_config_file(path)?
                };
                serde_json::from_slice(&data).map_err(|e| Error::Config {
                    path: path.clone(),
                    reason: e.to_string(),
                })?
            }
            None => json!({}),
        };
        let mut set = |section: &str, key: &str, v: Value| {
            if !doc[section].is_object() {
                doc[section] = json!({});
            }
            doc[section][key] = v;
        };
        if let Some(m) = &a.memory {
            set("memory", "limit", json!(parse_bytes("--memory", m)?));
        }
        if let Some(m) = &a.memory_reservation {
            set(
                "memory",
                "reservation",
                json!(parse_bytes("--memory-reservation", m)?),
            );
        }
        if let Some(m) = &a.memory_swap {
            set("memory", "swap", json!(parse_bytes("--memory-swap", m)?));
        }
        if let Some(v) = a.cpu_quota {
            set("cpu", "quota", json!(v));
        }
        if let Some(v) = a.cpu_period {
            set("cpu", "period", json!(v));
        }
        if let Some(v) = a.cpu_shares {
            set("cpu", "shares", json!(v));
        }
        if let Some(v) = a.cpu_burst {
            set("cpu", "burst", json!(v));
        }
        for (flag, v) in [
            ("--l3-cache-schema", &a.l3_cache_schema),
            ("--mem-bw-schema", &a.mem_bw_schema),
        ] {
            if let Some(v) = v {
                return Err(Error::InvalidArgument {
                    what: flag,
                    value: v.clone(),
                    reason: "Intel RDT (resctrl) is not supported by this runtime".into(),
                });
            }
        }
        if let Some(v) = a.cpu_rt_period {
            set("cpu", "realtimePeriod", json!(v));
        }
        if let Some(v) = a.cpu_rt_runtime {
            set("cpu", "realtimeRuntime", json!(v));
        }
        if let Some(v) = &a.cpuset_cpus {
            set("cpu", "cpus", json!(v));
        }
        if let Some(v) = &a.cpuset_mems {
            set("cpu", "mems", json!(v));
        }
        if let Some(v) = a.blkio_weight {
            set("blockIO", "weight", json!(v));
        }
        if let Some(v) = a.pids_limit {
            set("pids", "limit", json!(v));
        }
        crate::bundle::parse_value(&doc).map_err(|reason| Error::InvalidArgument {
            what: "--resources",
            value: String::new(),
            reason,
        })
    }
}

/// A byte count: digits with an optional k/m/g/t suffix (powers of 1024, as runc and docker
/// read them); `-1` is unlimited. `what` names the flag in the error.
///
/// ```
/// use iso_runtime::cli::parse_bytes;
/// assert_eq!(parse_bytes("--memory", "64m")?, 64 << 20);
/// assert_eq!(parse_bytes("--memory", "-1")?, -1);
/// assert!(parse_bytes("--memory", "lots").is_err());
/// # Ok::<(), iso_runtime::Error>(())
/// ```
pub fn parse_bytes(what: &'static str, s: &str) -> Result<i64, Error> {
    let bad = || Error::InvalidArgument {
        what,
        value: s.to_owned(),
        reason: "expected a byte count such as 512m or -1".into(),
    };
    if s == "-1" {
        return Ok(-1);
    }
    let lower = s.trim().to_ascii_lowercase();
    let lower = lower.strip_suffix('b').unwrap_or(&lower);
    let (digits, shift) = match lower.chars().last() {
        Some('k') => (&lower[..lower.len() - 1], 10),
        Some('m') => (&lower[..lower.len() - 1], 20),
        Some('g') => (&lower[..lower.len() - 1], 30),
        Some('t') => (&lower[..lower.len() - 1], 40),
        _ => (lower, 0),
    };
    let n: i64 = digits.parse().map_err(|_| bad())?;
    if n < 0 {
        return Err(bad());
    }
    n.checked_mul(1i64 << shift).ok_or_else(bad)
}

/// A duration such as `5s`, `500ms`, `1m` or a plain number of seconds (the `--interval` of
/// `events`); zero, negative and absurdly long durations are refused.
///
/// ```
/// use iso_runtime::cli::parse_interval;
/// assert_eq!(parse_interval("500ms")?, std::time::Duration::from_millis(500));
/// assert!(parse_interval("0s").is_err());
/// # Ok::<(), iso_runtime::Error>(())
/// ```
pub fn parse_interval(s: &str) -> Result<Duration, Error> {
    let bad = || Error::InvalidArgument {
        what: "--interval",
        value: s.to_owned(),
        reason: "expected a positive duration such as 5s or 500ms".into(),
    };
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| s.split_at(i));
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(bad()),
    };
    if !(secs > 0.0 && secs < 1e9) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn byte_counts_and_intervals() {
        assert_eq!(parse_bytes("--memory", "64m").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("--memory", "1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("--memory", "512kb").unwrap(), 512 << 10);
        assert_eq!(parse_bytes("--memory", "-1").unwrap(), -1);
        assert!(parse_bytes("--memory", "-5").is_err());
        assert!(parse_bytes("--memory", "lots").is_err());
        assert!(parse_bytes("--memory", "99999999999t").is_err());
        assert_eq!(
            parse_interval("500ms").unwrap(),
            std::time::Duration::from_millis(500)
        );
        assert_eq!(
            parse_interval("2").unwrap(),
            std::time::Duration::from_secs(2)
        );
        assert!(parse_interval("0s").is_err());
        assert!(parse_interval("5x").is_err());
    }

    #[test]
    fn exec_caps_never_reach_the_inheritable_set() {
        let cli = Cli::parse_from([
            "iso-runtime",
            "exec",
            "--cap",
            "sys_admin",
            "--cap",
            "CAP_NET_RAW",
            "-g",
            "5",
            "--apparmor",
            "p",
            "c",
            "true",
        ]);
        let Command::Exec(a) = cli.command else {
            panic!("not exec");
        };
        let mut p = oci_spec::runtime::Process::default();
        a.apply_security(&mut p).unwrap();
        let caps = p.capabilities().clone().unwrap();
        for set in [caps.bounding(), caps.effective(), caps.permitted()] {
            assert!(set
                .as_ref()
                .unwrap()
                .contains(&oci_spec::runtime::Capability::SysAdmin));
        }
        let inh = caps.inheritable().clone().unwrap_or_default();
        assert!(!inh.contains(&oci_spec::runtime::Capability::SysAdmin));
        assert!(!inh.contains(&oci_spec::runtime::Capability::NetRaw));
        assert_eq!(p.user().additional_gids().clone().unwrap(), vec![5]);
        assert_eq!(p.apparmor_profile().as_deref(), Some("p"));
    }

    #[test]
    fn update_flags_override_the_resources_document() {
        let cli = Cli::parse_from([
            "iso-runtime",
            "update",
            "--pids-limit",
            "-1",
            "--memory",
            "1k",
            "--cpu-quota",
            "-1",
            "--cpuset-cpus",
            "0",
            "c",
        ]);
        let Command::Update(a) = cli.command else {
            panic!("not update");
        };
        let r = a.resources().unwrap();
        assert_eq!(r.pids().as_ref().map(|p| p.limit()), Some(-1));
        assert_eq!(r.memory().as_ref().and_then(|m| m.limit()), Some(1024));
        assert_eq!(r.cpu().as_ref().and_then(|c| c.quota()), Some(-1));
        assert_eq!(
            r.cpu().as_ref().and_then(|c| c.cpus().clone()).as_deref(),
            Some("0")
        );
    }

    #[test]
    fn an_exec_process_file_is_checked_like_a_config() {
        let dir = iso_testutil::TempDir::new("exec-process");
        let file = dir.path().join("process.json");
        std::fs::write(
            &file,
            r#"{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0},
                "rlimits":[{"type":"RLIMIT_NOFILE","soft":30,"hard":20}]}"#,
        )
        .unwrap();
        let cli = Cli::parse_from([
            "iso-runtime",
            "exec",
            "--process",
            file.to_str().unwrap(),
            "c",
        ]);
        let Command::Exec(a) = cli.command else {
            panic!("not exec");
        };
        let err = a.options(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("process.rlimits[0] (RLIMIT_NOFILE): soft 30 above hard 20"),
            "{err}"
        );
        // Inheritable outside bounding, refused before the container is looked up; `--cap`
        // puts the capability in bounding, and then it is accepted.
        std::fs::write(
            &file,
            r#"{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0},
                "capabilities":{"bounding":["CAP_KILL"],"inheritable":["CAP_NET_RAW"]}}"#,
        )
        .unwrap();
        let exec = |extra: &[&str]| {
            let mut argv = vec!["iso-runtime", "exec", "--process", file.to_str().unwrap()];
            argv.extend_from_slice(extra);
            argv.push("c");
            let Command::Exec(a) = Cli::parse_from(argv).command else {
                panic!("not exec");
            };
            a.options(dir.path())
        };
        let err = exec(&[]).unwrap_err().to_string();
        assert!(
            err.contains("process.capabilities.inheritable: CAP_NET_RAW not in"),
            "{err}"
        );
        exec(&["--cap", "net_raw"]).unwrap();
    }

    proptest! {
        #[test]
        fn byte_counts_round_trip(n in 0i64..(1 << 40), unit in 0usize..4) {
            let (suffix, shift) = [("", 0), ("k", 10), ("m", 20), ("g", 30)][unit];
            let parsed = parse_bytes("--memory", &format!("{n}{suffix}"));
            match n.checked_mul(1 << shift) {
                Some(v) => prop_assert_eq!(parsed.unwrap(), v),
                None => prop_assert!(parsed.is_err()),
            }
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,24}") {
            let _ = parse_bytes("--memory", &s);
            let _ = parse_interval(&s);
        }
    }
}
