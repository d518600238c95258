//! `iso-runtime`: an OCI runtime with runc's command line.
//!
//!
//! The commands and flags are defined in `iso_runtime::cli`; this file dispatches them.
//! Single-threaded on purpose: `create` clones the container's init from this process.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use iso_runtime::cli::{parse_interval, Cli, Command};
use iso_runtime::{CreateOptions, Error, Level, LogFormat, Logger, Runtime, Signal};

mod relay;

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
    let result = match run(&cli) {
        // This container needs the runtime to run from a copy of itself no container can
        // write (see iso_runtime's guard): re-execute from one, which starts over.
        Err(Error::SealRequired { .. }) => iso_chroot::exe::ensure_sealed()
            .map_err(Error::from)
            .and_then(|_| run(&cli)),
        other => other,
    };
    match result {
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
            ExitCode::from(failure_status(&cli.command, &e))
        }
    }
}

/// For `process.terminal` without a console socket (`run`, `exec -t` in the foreground):
/// the relay of the runtime's own terminal and the console socket it listens on.
fn own_terminal(
    cli: &Cli,
    process: &oci_spec::runtime::Process,
) -> Result<Option<(relay::Relay, std::path::PathBuf)>, Error> {
    if process.terminal() != Some(true) {
        return Ok(None);
    }
    let size = process
        .console_size()
        .map(|b| (b.height() as u16, b.width() as u16));
    relay::Relay::start(&cli.root, size).map(Some)
}

/// The exit status of a failed command, as runc's: 255 for `exec` (its process did not
/// start), except a program whose format the kernel refused at its exec (`ENOEXEC`), which
/// runc reports as the process' own failure, 1; 1 for every other command.
fn failure_status(command: &Command, e: &Error) -> u8 {
    match (command, e) {
        (Command::Exec(_), Error::Init { source, .. })
            if source.raw_os_error() == Some(libc::ENOEXEC) =>
        {
            1
        }
        (Command::Exec(_), _) => 255,
        _ => 1,
    }
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
            let mut opts = a.options()?;
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
            let mut opts = create.options()?;
            opts.policy = policy_for(cli, &create.bundle)?;
            let relay = match (*detach, &opts.console_socket) {
                (false, None) => own_terminal(
                    cli,
                    &iso_runtime::Bundle::load(&create.bundle)?
                        .spec()
                        .process()
                        .clone()
                        .unwrap_or_default(),
                )?,
                _ => None,
            };
            let relay = relay.map(|(relay, socket)| {
                opts.console_socket = Some(socket);
                relay
            });
            let mut relay = relay;
            let mut created = rt.create(&create.id, &create.bundle, &opts)?;
            if let Some(relay) = &mut relay {
                relay.wait_ready();
            }
            if !detach {
                created.hold_signals();
            }
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
            if let Some(relay) = relay {
                relay.finish();
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
            let mut res = a.resources()?;
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
            let mut opts = a.options(&cli.root)?;
            if let Some(p) = iso_runtime::policy::Policy::locate(cli.policy.as_deref())? {
                let (process, changes) = p.apply_exec(&opts.process)?;
                let mut stderr = Logger::to_stderr(LogFormat::Text, cli.debug);
                for c in &changes {
                    stderr.log(Level::Warn, &format!("policy: {c}"));
                }
                opts.process = process;
            }
            let relay = match (opts.detach, &opts.console_socket) {
                (false, None) => {
                    // The exec child hands the pty over and executes at once: it sizes
                    // the pty itself, with the caller's terminal's size as runc.
                    if let (Some(true), Some((rows, cols))) =
                        (opts.process.terminal(), relay::caller_size())
                    {
                        let size = oci_spec::runtime::BoxBuilder::default()
                            .height(u64::from(rows))
                            .width(u64::from(cols))
                            .build()
                            .ok();
                        opts.process.set_console_size(size);
                    }
                    own_terminal(cli, &opts.process)?
                }
                _ => None,
            };
            let relay = relay.map(|(relay, socket)| {
                opts.console_socket = Some(socket);
                relay
            });
            let code = rt.exec(&a.id, &opts)?;
            if let Some(relay) = relay {
                relay.finish();
            }
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
    // One write for the whole answer: Rust's stdout flushes at every newline.
    let mut out = String::new();
    if quiet {
        for s in &states {
            out.push_str(&s.id);
            out.push('\n');
        }
    } else if format == "json" {
        out = serde_json::to_string(&states).map_err(|e| Error::Record {
            path: rt.store().root().to_path_buf(),
            reason: e.to_string(),
        })?;
        out.push('\n');
    } else {
        use std::fmt::Write as _;
        let _ = writeln!(
            out,
            "{:<20} {:<8} {:<10} {:<40} {:<30} OWNER",
            "ID", "PID", "STATUS", "BUNDLE", "CREATED"
        );
        for s in states {
            let owner = if s.owner.is_empty() { "root" } else { &s.owner };
            let _ = writeln!(
                out,
                "{:<20} {:<8} {:<10} {:<40} {:<30} {owner}",
                s.id,
                s.pid,
                s.status,
                s.bundle.display(),
                s.created
            );
        }
    }
    print!("{out}");
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
