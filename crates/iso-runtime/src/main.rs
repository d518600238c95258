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
