//! `iso-runtime`: an OCI runtime with runc's command line.
//!
//! ```text
//! iso-runtime [--root DIR] [--log FILE] [--log-format text|json] [--debug] COMMAND ...
//!   create <id> [--bundle DIR] [--pid-file F] [--console-socket S] [--preserve-fds N] [--no-pivot]
//!   start <id> | state <id> | kill <id> [SIGNAL] [--all] | delete <id> [--force]
//!   run <id> [create flags] [--detach] [--keep] | list
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
        /// Arguments for ps(1) in table format (ignored).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Print what this runtime supports (the OCI features JSON).
    Features,
    /// List containers.
    List,
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
    Ok(iso_runtime::ExecOptions {
        process,
        detach: a.detach,
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        preserve_fds: a.preserve_fds,
    })
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
            let opts = create_options(a)?;
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
            let opts = create_options(create)?;
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
        Command::Features => {
            println!("{}", features());
            Ok(0)
        }
        Command::Ps { id, format, .. } => {
            let pids = rt.pids(id)?;
            if format == "json" {
                println!("{}", serde_json::Value::from(pids));
            } else {
                println!("PID");
                for p in pids {
                    println!("{p}");
                }
            }
            Ok(0)
        }
        Command::Exec(a) => {
            let opts = exec_options(&cli.root, a)?;
            let code = rt.exec(&a.id, &opts)?;
            Ok(u8::try_from(code).unwrap_or(255))
        }
        Command::Pause { id } => rt.pause(id).map(|()| 0),
        Command::Resume { id } => rt.resume(id).map(|()| 0),
        Command::List => {
            println!("{:<20} {:<8} {:<10} BUNDLE", "ID", "PID", "STATUS");
            for s in rt.list()? {
                println!(
                    "{:<20} {:<8} {:<10} {}",
                    s.id,
                    s.pid,
                    s.status,
                    s.bundle.display()
                );
            }
            Ok(0)
        }
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

/// The OCI "features" document (runtime-spec features.md).
fn features() -> serde_json::Value {
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": ["async", "atime", "bind", "defaults", "dev", "diratime", "exec", "mand",
            "noatime", "nodev", "nodiratime", "noexec", "nomand", "norelatime", "nostrictatime",
            "nosuid", "nosymfollow", "private", "rbind", "relatime", "ro", "rprivate", "rshared",
            "rslave", "runbindable", "rw", "shared", "slave", "strictatime", "suid", "sync",
            "unbindable", "rro", "rrw", "rnosuid", "rnodev", "rnoexec"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "capabilities": iso_caps::Capability::ALL.iter().map(|c| c.name()).collect::<Vec<_>>(),
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false},
            "seccomp": {"enabled": true, "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO",
                "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",
                "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"]},
            "apparmor": {"enabled": true},
            "selinux": {"enabled": true}
        },
        "annotations": {"org.opencontainers.runtime-spec.features.runtime": "iso-runtime"}
    })
}
