//! `iso-runtime`: an OCI runtime with runc's command line.
//!
//! ```text
//! iso-runtime [--root DIR] [--log FILE] [--log-format text|json] [--debug] [--policy FILE] COMMAND ...
//!   create <id> [--bundle DIR] [--pid-file F] [--console-socket S] [--preserve-fds N] [--no-pivot]
//!   start <id> | state <id> | kill <id> [SIGNAL] [--all] | delete <id> [--force]
//!   run <id> [create flags] [--detach] [--keep]
//!   exec <id> [--process F | -- cmd...] [-t --console-socket S] [--detach] [--pid-file F]
//!        [--env K=V]... [--cwd D] [--user U[:G]] [--additional-gids G]... [--cap C]...
//!        [--no-new-privs] [--apparmor P] [--process-label L] [--preserve-fds N] [--cgroup C]
//!   ps <id> [--format table|json] [-- ps-args] | list [--format table|json] [-q]
//!   pause <id> | resume <id> | update <id> [--resources F|-] [--memory N] [--pids-limit N] ...
//!   events <id> [--stats] [--interval D] | spec [--bundle B] [--rootless] | features
//!   policy check [--bundle B]
//! ```
//! Single-threaded on purpose: `create` clones the container's init from this process.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use iso_runtime::{CreateOptions, Error, Level, LogFormat, Logger, Runtime, Signal};

#[derive(Parser, Debug)]
#[command(
    name = "iso-runtime",
    version = concat!(env!("CARGO_PKG_VERSION"), "\nspec: 1.2.0"),
    about = "An OCI container runtime composed from the iso crates"
)]
struct Cli {
    /// Root directory for container state.
    #[arg(long, global = true, default_value = "/run/iso")]
    root: PathBuf,
    /// Also write errors (and with --debug, debug lines) to this file.
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long = "log-format", global = true, default_value = "text")]
    log_format: String,
    /// Debug logging.
    #[arg(long, global = true)]
    debug: bool,
    /// Use systemd to manage cgroups (not supported).
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// Accepted for compatibility (true, false or auto).
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "true")]
    rootless: Option<String>,
    /// Site policy file (defaults and ceilings; see policy.example.toml). Default: $ISO_POLICY,
    /// else /etc/iso/policy.toml if it exists.
    #[arg(long, global = true)]
    policy: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug, Clone)]
struct CreateArgs {
    /// The container id.
    id: String,
    /// The bundle directory.
    #[arg(long, short = 'b', default_value = ".")]
    bundle: PathBuf,
    /// File to write the init's pid to.
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master (terminal: true).
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// Unix socket that receives a pidfd of the init.
    #[arg(long = "pidfd-socket")]
    pidfd_socket: Option<PathBuf>,
    /// Number of descriptors after stderr to pass to the program.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: i32,
    /// Do not use pivot_root (MS_MOVE + chroot instead).
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    /// Accepted for compatibility (no session keyring is created).
    #[arg(long = "no-new-keyring")]
    no_new_keyring: bool,
}

#[derive(Args, Debug, Clone)]
struct ExecArgs {
    /// The container id.
    id: String,
    /// The program and its arguments (unless --process is given).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
    /// A JSON file with the OCI process to run.
    #[arg(long, short = 'p')]
    process: Option<PathBuf>,
    /// Return once the program was executed.
    #[arg(long, short = 'd')]
    detach: bool,
    /// File to write the process' pid to.
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master.
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// Allocate a pseudo-terminal.
    #[arg(long, short = 't')]
    tty: bool,
    /// Working directory in the container.
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// Extra environment variables (KEY=VALUE).
    #[arg(long, short = 'e')]
    env: Vec<String>,
    /// UID[:GID] to run as.
    #[arg(long, short = 'u')]
    user: Option<String>,
    /// Number of descriptors after stderr to pass on.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: i32,
    /// Set no_new_privs.
    #[arg(long = "no-new-privs")]
    no_new_privs: bool,
    /// Additional capability (bounding, effective, permitted; never inheritable).
    #[arg(long = "cap", short = 'c')]
    cap: Vec<String>,
    /// Additional supplementary group id.
    #[arg(long = "additional-gids", short = 'g')]
    additional_gids: Vec<u32>,
    /// AppArmor profile of the process.
    #[arg(long)]
    apparmor: Option<String>,
    /// SELinux label of the process.
    #[arg(long = "process-label")]
    process_label: Option<String>,
    /// Sub-cgroup of the container's cgroup to run in (`path` or `controller:path`).
    #[arg(long)]
    cgroup: Option<String>,
    /// Unix socket that receives a pidfd of the process.
    #[arg(long = "pidfd-socket")]
    pidfd_socket: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
struct UpdateArgs {
    /// The container id.
    id: String,
    /// A JSON file with the OCI linux.resources to apply (`-` for stdin).
    #[arg(long, short = 'r')]
    resources: Option<PathBuf>,
    /// Memory limit in bytes (suffixes k, m, g allowed; -1 is unlimited).
    #[arg(long, short = 'm', allow_hyphen_values = true)]
    memory: Option<String>,
    /// Memory soft limit in bytes.
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    memory_reservation: Option<String>,
    /// Memory plus swap limit in bytes (-1 is unlimited).
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// CFS quota in microseconds (-1 is unlimited).
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    cpu_quota: Option<i64>,
    /// CFS period in microseconds.
    #[arg(long = "cpu-period")]
    cpu_period: Option<u64>,
    /// CPU shares (relative weight).
    #[arg(long = "cpu-shares")]
    cpu_shares: Option<u64>,
    /// Realtime period in microseconds.
    #[arg(long = "cpu-rt-period")]
    cpu_rt_period: Option<u64>,
    /// Realtime runtime in microseconds.
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    cpu_rt_runtime: Option<i64>,
    /// CPUs to run on (`0-3,6`).
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    /// Memory nodes (`0`).
    #[arg(long = "cpuset-mems")]
    cpuset_mems: Option<String>,
    /// Block I/O weight (10..1000).
    #[arg(long = "blkio-weight")]
    blkio_weight: Option<u16>,
    /// Maximum number of tasks (-1 is unlimited).
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pids_limit: Option<i64>,
}

#[derive(Subcommand, Debug)]
enum Command {
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
    /// Run a demo container from the host's static busybox, print what it sees, clean up.
    Demo {
        /// A statically linked busybox.
        #[arg(long, default_value = "/bin/busybox")]
        busybox: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let format: LogFormat = cli.log_format.parse().unwrap_or_default();
    let mut file_log = cli
        .log
        .as_ref()
        .and_then(|p| Logger::to_file(p, format, cli.debug).ok());
    if let Some(log) = &mut file_log {
        log.log(Level::Debug, &format!("{:?}", cli.command));
    }
    match run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let msg = e.to_string();
            let mut stderr = Logger::to_stderr(LogFormat::Text, cli.debug);
            if cli.log.is_none() || format == LogFormat::Text {
                stderr.log(Level::Error, &msg);
            } else {
                let _ = writeln!(std::io::stderr(), "iso-runtime: {msg}");
            }
            if let Some(log) = &mut file_log {
                log.log(Level::Error, &msg);
            }
            ExitCode::from(1)
        }
    }
}

fn create_options(a: &CreateArgs) -> Result<CreateOptions, Error> {
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
    })
}

fn exec_options(root: &std::path::Path, a: &ExecArgs) -> Result<iso_runtime::ExecOptions, Error> {
    let invalid = |what: &'static str, value: &str, reason: &str| Error::InvalidArgument {
        what,
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    let process: oci_spec::runtime::Process = match &a.process {
        Some(path) => {
            let data = std::fs::read(path).map_err(|e| Error::Io {
                op: "read",
                path: path.clone(),
                source: e,
            })?;
            serde_json::from_slice(&data).map_err(|e| Error::Config {
                path: path.clone(),
                reason: e.to_string(),
            })?
        }
        None => {
            if a.command.is_empty() {
                return Err(invalid("command", "", "exec needs a program or --process"));
            }
            // The container's own process settings, with this command line.
            let state = Runtime::new(root).state(&a.id)?;
            let bundle = iso_runtime::Bundle::load(&state.bundle)?;
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
    exec_security(&mut process, a)?;
    if a.preserve_fds < 0 {
        return Err(invalid(
            "--preserve-fds",
            &a.preserve_fds.to_string(),
            "must not be negative",
        ));
    }
    Ok(iso_runtime::ExecOptions {
        process,
        detach: a.detach,
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        preserve_fds: a.preserve_fds,
        sub_cgroup: a.cgroup.clone(),
        pidfd_socket: a.pidfd_socket.clone(),
    })
}

/// The security flags of `exec`, applied on top of the process (also a `--process` one).
/// `--cap` adds to the bounding, effective and permitted sets only: an inheritable
/// capability would survive into programs run by the process (CVE-2022-29162).
fn exec_security(p: &mut oci_spec::runtime::Process, a: &ExecArgs) -> Result<(), Error> {
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
        caps.set_bounding(add(caps.bounding().clone())?);
        caps.set_effective(add(caps.effective().clone())?);
        caps.set_permitted(add(caps.permitted().clone())?);
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

/// A byte count: digits with an optional k/m/g/t suffix (powers of 1024, as runc and docker
/// read them); `-1` is unlimited.
fn parse_bytes(what: &'static str, s: &str) -> Result<i64, Error> {
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

/// The resources of `update`: the `--resources` document (a file or `-` for stdin) with the
/// individual flags on top.
fn update_resources(a: &UpdateArgs) -> Result<oci_spec::runtime::LinuxResources, Error> {
    use serde_json::{json, Value};
    let mut doc: Value = match &a.resources {
        Some(path) => {
            let data = if path.as_os_str() == "-" {
                let mut v = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut v).map_err(|e| {
                    Error::Io {
                        op: "read",
                        path: path.clone(),
                        source: e,
                    }
                })?;
                v
            } else {
                std::fs::read(path).map_err(|e| Error::Io {
                    op: "read",
                    path: path.clone(),
                    source: e,
                })?
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
    serde_json::from_value(doc).map_err(|e| Error::InvalidArgument {
        what: "--resources",
        value: String::new(),
        reason: e.to_string(),
    })
}

/// A duration such as `5s`, `500ms`, `1m` or a plain number of seconds.
fn parse_interval(s: &str) -> Result<std::time::Duration, Error> {
    use std::time::Duration;
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

fn run(cli: &Cli) -> Result<u8, Error> {
    if cli.log_format != "text" && cli.log_format != "json" {
        cli.log_format.parse::<LogFormat>()?;
    }
    if cli.systemd_cgroup {
        return Err(Error::Unsupported(
            "--systemd-cgroup (no systemd cgroup driver yet; use an absolute cgroupsPath)",
        ));
    }
    let rt = Runtime::new(&cli.root);
    match &cli.command {
        Command::Create(a) => {
            let mut opts = create_options(a)?;
            opts.policy = policy_for(cli, &a.bundle)?;
            rt.create(&a.id, &a.bundle, &opts)?;
            Ok(0)
        }
        Command::Start { id } => rt.start(id).map(|()| 0),
        Command::State { id } => {
            let state = rt.state(id)?;
            let text = serde_json::to_string_pretty(&state).map_err(|e| Error::Record {
                path: cli.root.join(id),
                reason: e.to_string(),
            })?;
            println!("{text}");
            Ok(0)
        }
        Command::Kill { id, signal, all } => {
            let sig = match signal {
                Some(s) => s.parse::<Signal>()?,
                None => Signal::TERM,
            };
            rt.kill(id, sig, *all).map(|()| 0)
        }
        Command::Delete { id, force } => rt.delete(id, *force).map(|()| 0),
        Command::Run {
            create,
            detach,
            keep,
        } => {
            let mut opts = create_options(create)?;
            opts.policy = policy_for(cli, &create.bundle)?;
            let mut created = rt.create(&create.id, &create.bundle, &opts)?;
            if let Err(e) = rt.start(&create.id) {
                let _ = rt.delete(&create.id, true);
                return Err(e);
            }
            if *detach {
                return Ok(0);
            }
            let code = created.wait_forwarding_signals()?;
            if !keep {
                rt.delete(&create.id, true)?;
            }
            Ok(u8::try_from(code).unwrap_or(255))
        }
        Command::Demo { busybox } => demo(busybox),
        Command::Policy { action, bundle } => policy_check(cli, action, bundle),
        Command::Features => {
            let doc = iso_runtime::features::features();
            println!(
                "{}",
                serde_json::to_string_pretty(&doc).unwrap_or_else(|_| doc.to_string())
            );
            Ok(0)
        }
        Command::Ps {
            id,
            format,
            ps_args,
        } => ps(&rt, id, format, ps_args),
        Command::Update(a) => {
            let mut res = update_resources(a)?;
            if let Some(p) = iso_runtime::policy::Policy::locate(cli.policy.as_deref())? {
                let (clamped, changes) = p.apply_update(&res)?;
                let mut stderr = Logger::to_stderr(LogFormat::Text, cli.debug);
                for c in &changes {
                    stderr.log(Level::Warn, &format!("policy: {c}"));
                }
                res = clamped;
            }
            rt.update(&a.id, &res).map(|()| 0)
        }
        Command::Events {
            id,
            stats,
            interval,
        } => {
            let interval = parse_interval(interval)?;
            rt.events(id, interval, *stats, &mut std::io::stdout().lock())
                .map(|()| 0)
        }
        Command::Spec { bundle } => {
            let rootless = cli.rootless.as_deref().is_some_and(|r| r == "true");
            iso_runtime::spec::write_default(bundle, rootless).map(|()| 0)
        }
        Command::Exec(a) => {
            let mut opts = exec_options(&cli.root, a)?;
            if let Some(p) = iso_runtime::policy::Policy::locate(cli.policy.as_deref())? {
                let (process, changes) = p.apply_exec(&opts.process)?;
                let mut stderr = Logger::to_stderr(LogFormat::Text, cli.debug);
                for c in &changes {
                    stderr.log(Level::Warn, &format!("policy: {c}"));
                }
                opts.process = process;
            }
            let code = rt.exec(&a.id, &opts)?;
            Ok(u8::try_from(code).unwrap_or(255))
        }
        Command::Pause { id } => rt.pause(id).map(|()| 0),
        Command::Resume { id } => rt.resume(id).map(|()| 0),
        Command::List { format, quiet } => list(&rt, format, *quiet),
    }
}

fn demo(busybox: &std::path::Path) -> Result<u8, Error> {
    let pid = std::process::id();
    let dir = std::env::temp_dir().join(format!("iso-demo-{pid}"));
    let id = format!("iso-demo-{pid}");
    let result = (|| {
        let bundle = iso_runtime::demo::write_bundle(&dir, busybox, &format!("/iso/demo-{pid}"))?;
        let rt = Runtime::new(dir.join("state"));
        println!(
            "bundle {} (busybox rootfs, default seccomp profile, pids 64, memory 64M)",
            bundle.display()
        );
        let mut created = rt.create(&id, &bundle, &CreateOptions::default())?;
        let started = rt.start(&id);
        let code = created.wait();
        rt.delete(&id, true)?;
        started?;
        let code = code?;
        println!("container exited with {code}; cgroup and state removed");
        Ok(u8::try_from(code).unwrap_or(255))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    // The /iso parent too, when the demo was its only user (rmdir fails otherwise).
    if let Ok(layout) = iso_cgroups::Layout::detect() {
        for h in layout.hierarchies() {
            let _ = std::fs::remove_dir(h.mount_point.join("iso"));
        }
    }
    result
}

fn check_format(format: &str) -> Result<(), Error> {
    if format == "table" || format == "json" {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            what: "--format",
            value: format.to_owned(),
            reason: "expected table or json".into(),
        })
    }
}

/// `ps`: the pids as a JSON list, or a table: `PID` alone, or with ps(1) arguments the
/// lines of `ps ARGS` whose PID column names a process of the container.
fn ps(rt: &Runtime, id: &str, format: &str, args: &[String]) -> Result<u8, Error> {
    check_format(format)?;
    let pids = rt.pids(id)?;
    if format == "json" {
        println!("{}", serde_json::Value::from(pids));
        return Ok(0);
    }
    if args.is_empty() {
        println!("PID");
        for p in pids {
            println!("{p}");
        }
        return Ok(0);
    }
    let out = std::process::Command::new("ps")
        .args(args)
        .output()
        .map_err(|e| Error::Io {
            op: "run",
            path: "ps".into(),
            source: e,
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| Error::InvalidArgument {
            what: "ps arguments",
            value: args.join(" "),
            reason: "ps output has no PID column".into(),
        })?;
    println!("{header}");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            println!("{line}");
        }
    }
    Ok(0)
}

/// `list`: a table like runc's, a JSON array of states, or (`-q`) the ids.
fn list(rt: &Runtime, format: &str, quiet: bool) -> Result<u8, Error> {
    check_format(format)?;
    let states = rt.list()?;
    if quiet {
        for s in &states {
            println!("{}", s.id);
        }
        return Ok(0);
    }
    if format == "json" {
        let text = serde_json::to_string(&states).map_err(|e| Error::Record {
            path: rt.store().root().to_path_buf(),
            reason: e.to_string(),
        })?;
        println!("{text}");
        return Ok(0);
    }
    println!(
        "{:<20} {:<8} {:<10} {:<40} {:<30} OWNER",
        "ID", "PID", "STATUS", "BUNDLE", "CREATED"
    );
    for s in states {
        let owner = if s.owner.is_empty() { "root" } else { &s.owner };
        println!(
            "{:<20} {:<8} {:<10} {:<40} {:<30} {owner}",
            s.id,
            s.pid,
            s.status,
            s.bundle.display(),
            s.created
        );
    }
    Ok(0)
}

/// The policy in force for `create`/`run`, with its effect on the bundle logged (clamps as
/// warnings, defaults as info) to `--log`, or clamps to stderr without it. A rejection is
/// returned as the command's error before anything is created.
fn policy_for(
    cli: &Cli,
    bundle: &std::path::Path,
) -> Result<Option<iso_runtime::policy::Policy>, Error> {
    let Some(policy) = iso_runtime::policy::Policy::locate(cli.policy.as_deref())? else {
        return Ok(None);
    };
    let loaded = iso_runtime::Bundle::load(bundle)?;
    let (_, changes) = policy.apply(loaded.spec())?;
    let format: LogFormat = cli.log_format.parse().unwrap_or_default();
    let mut file = cli
        .log
        .as_ref()
        .and_then(|p| Logger::to_file(p, format, cli.debug).ok());
    let mut stderr = Logger::to_stderr(LogFormat::Text, cli.debug);
    for c in &changes {
        let level = if c.is_clamp() {
            Level::Warn
        } else {
            Level::Info
        };
        let msg = format!("policy: {c}");
        match &mut file {
            Some(log) => log.log(level, &msg),
            None if c.is_clamp() => stderr.log(level, &msg),
            None => {}
        }
    }
    Ok(Some(policy))
}

/// `policy check`: prints each change as a diff line, then the effective config; a rejection
/// is the command's error (exit 1).
fn policy_check(cli: &Cli, action: &str, bundle: &std::path::Path) -> Result<u8, Error> {
    if action != "check" {
        return Err(Error::InvalidArgument {
            what: "policy action",
            value: action.to_owned(),
            reason: "must be check".into(),
        });
    }
    let loaded = iso_runtime::Bundle::load(bundle)?;
    let Some(policy) = iso_runtime::policy::Policy::locate(cli.policy.as_deref())? else {
        println!("no policy in force");
        return Ok(0);
    };
    let (spec, changes) = policy.apply(loaded.spec())?;
    for c in &changes {
        println!("-{}: {}", c.field, c.before);
        println!("+{}: {}   # {}", c.field, c.after, c.rule);
    }
    let text = serde_json::to_string_pretty(&spec).map_err(|e| Error::Record {
        path: bundle.join("config.json"),
        reason: e.to_string(),
    })?;
    println!("{text}");
    Ok(0)
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
        exec_security(&mut p, &a).unwrap();
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
        let r = update_resources(&a).unwrap();
        assert_eq!(r.pids().as_ref().map(|p| p.limit()), Some(-1));
        assert_eq!(r.memory().as_ref().and_then(|m| m.limit()), Some(1024));
        assert_eq!(r.cpu().as_ref().and_then(|c| c.quota()), Some(-1));
        assert_eq!(
            r.cpu().as_ref().and_then(|c| c.cpus().clone()).as_deref(),
            Some("0")
        );
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
