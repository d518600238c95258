//! `iso-runtime`: an OCI runtime with runc's command line.
//!
//!
//! The commands and flags are defined in `iso_runtime::cli`; this file dispatches them.
//! Single-threaded on purpose: `create` clones the container's init from this process.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use iso_runtime::cli::{parse_interval, Cli, Command, CreateArgs, ExecArgs, UpdateArgs};
use iso_runtime::{CreateOptions, Created, Error, Level, LogFormat, Logger, Runtime, Signal};

mod relay;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let mut logs = Logs::new(&cli);
    logs.debug(&format!(
        "iso-runtime {}: {:?}",
        env!("CARGO_PKG_VERSION"),
        std::env::args().collect::<Vec<_>>()
    ));
    let result = match run(&cli) {
        // This container needs the runtime to run from a copy of itself no container can
        // write (see iso_runtime's guard): re-execute from one, which starts over.
        Err(Error::SealRequired { .. }) => iso_chroot::exe::ensure_sealed()
            .map_err(Error::from)
            .and_then(|_| run(&cli)),
        other => other,
    };
    match result {
        Ok(code) => {
            logs.debug(&format!("{} done, exit status {code}", command_name(&cli)));
            ExitCode::from(code)
        }
        Err(e) => {
            logs.error(&e.to_string());
            ExitCode::from(failure_status(&cli.command, &e))
        }
    }
}

/// A command line clap refused, or `--help`/`--version`: printed as clap formats it, with
/// runc's exit statuses (0 for help and version, 3 for an unknown command, 1 otherwise).
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let _ = e.print();
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => ExitCode::SUCCESS,
        ErrorKind::InvalidSubcommand => ExitCode::from(3),
        _ => ExitCode::from(1),
    }
}

/// The exit status of a failed command, as runc's: 255 for `exec` (its process did not
/// start; its successful status is the process' own), except a program the kernel would not
/// execute (its format, its interpreter: [`Error::Exec`]), which runc reports as the
/// process' own failure, 1; 1 for every other command.
fn failure_status(command: &Command, e: &Error) -> u8 {
    match (command, e) {
        (Command::Exec(_), Error::Exec { .. }) => 1,
        (Command::Exec(_), _) => 255,
        _ => 1,
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

/// The command's name, for log lines.
fn command_name(cli: &Cli) -> String {
    format!("{:?}", cli.command)
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// Where this command's log lines go: errors to stderr and to `--log`; with `--debug`,
/// debug lines to `--log` when given, else to stderr (as runc writes them).
struct Logs {
    file: Option<Logger<std::fs::File>>,
    stderr: Logger<std::io::Stderr>,
    /// Errors go to stderr as plain `iso-runtime: msg` (a JSON `--log` has them).
    plain_stderr: bool,
}

impl Logs {
    fn new(cli: &Cli) -> Self {
        let format: LogFormat = cli.log_format.parse().unwrap_or_default();
        let file = cli
            .log
            .as_ref()
            .and_then(|p| Logger::to_file(p, format, cli.debug).ok());
        Logs {
            plain_stderr: file.is_some() && format != LogFormat::Text,
            file,
            stderr: Logger::to_stderr(LogFormat::Text, cli.debug),
        }
    }

    fn debug(&mut self, msg: &str) {
        match &mut self.file {
            Some(file) => file.log(Level::Debug, msg),
            None => self.stderr.log(Level::Debug, msg),
        }
    }

    fn error(&mut self, msg: &str) {
        if self.plain_stderr {
            let _ = writeln!(std::io::stderr(), "iso-runtime: {msg}");
        } else {
            self.stderr.log(Level::Error, msg);
        }
        if let Some(file) = &mut self.file {
            file.log(Level::Error, msg);
        }
    }
}

/// Checks the global flags and creates `--root` (mode 0700) when it is missing, as runc.
fn prepare(cli: &Cli) -> Result<(), Error> {
    cli.log_format.parse::<LogFormat>()?;
    // As runc: the commands that keep containers create a missing root; those that do not
    // (features, spec, policy, demo with its own root) leave the default one alone.
    if matches!(
        cli.command,
        Command::Features | Command::Spec { .. } | Command::Policy { .. } | Command::Demo { .. }
    ) {
        return Ok(());
    }
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&cli.root)
        .map_err(|e| Error::Io {
            op: "create the state root",
            path: cli.root.clone(),
            source: e,
        })
}

fn run(cli: &Cli) -> Result<u8, Error> {
    prepare(cli)?;
    let rt = Runtime::new(&cli.root).rootless(cli.rootless.resolve());
    let done = |r: Result<(), Error>| r.map(|()| 0);
    match &cli.command {
        Command::Create(a) => create(cli, &rt, a).map(|_| 0),
        Command::Start { id } => done(rt.start(id)),
        Command::State { id } => state(cli, &rt, id),
        Command::Kill { id, signal, all } => kill(&rt, id, signal.as_deref(), *all),
        Command::Delete { id, force } => done(rt.delete(id, *force)),
        Command::Run {
            create,
            detach,
            keep,
        } => run_container(cli, &rt, create, *detach, *keep),
        Command::Demo { busybox } => demo(busybox),
        Command::Policy { action, bundle } => policy_check(cli, action, bundle),
        Command::Features => features(),
        Command::Ps {
            id,
            format,
            ps_args,
        } => ps(&rt, id, format, ps_args),
        Command::Update(a) => update(cli, &rt, a),
        Command::Events {
            id,
            stats,
            interval,
        } => events(&rt, id, *stats, interval),
        Command::Spec { bundle } => spec(cli, bundle),
        Command::Exec(a) => exec(cli, &rt, a),
        Command::Pause { id } => done(rt.pause(id)),
        Command::Resume { id } => done(rt.resume(id)),
        Command::List { format, quiet } => list(&rt, format, *quiet),
        Command::Checkpoint(a) => rt.checkpoint(&a.criu.id, &a.options()?).map(|()| 0),
        Command::Restore(a) => restore(cli, &rt, a),
    }
}

/// `create`'s options: the flags and the site policy.
fn create_options(cli: &Cli, a: &CreateArgs) -> Result<CreateOptions, Error> {
    let mut opts = a.options()?;
    opts.policy = policy_for(cli, &a.bundle)?;
    opts.systemd_cgroup = cli.systemd_cgroup;
    Ok(opts)
}

/// `create`: the container, with the site policy applied.
fn create(cli: &Cli, rt: &Runtime, a: &CreateArgs) -> Result<Created, Error> {
    rt.create(&a.id, &a.bundle, &create_options(cli, a)?)
}

/// `run`: create, start, and (unless `detach`) wait forwarding signals, then delete unless
/// `keep`; the container's exit status is the command's.
fn run_container(
    cli: &Cli,
    rt: &Runtime,
    a: &CreateArgs,
    detach: bool,
    keep: bool,
) -> Result<u8, Error> {
    let mut opts = create_options(cli, a)?;
    let mut relay = None;
    if !detach && opts.console_socket.is_none() {
        let bundle = iso_runtime::Bundle::load(&a.bundle)?;
        let process = bundle.spec().process().clone().unwrap_or_default();
        if let Some((r, socket)) = own_terminal(cli, &process)? {
            opts.console_socket = Some(socket);
            relay = Some(r);
        }
    }
    let mut created = rt.create(&a.id, &a.bundle, &opts)?;
    if let Some(relay) = &mut relay {
        relay.wait_ready();
    }
    if !detach {
        created.hold_signals();
    }
    if let Err(e) = rt.start(&a.id) {
        let _ = rt.delete(&a.id, true);
        return Err(e);
    }
    if detach {
        return Ok(0);
    }
    let code = created.wait_forwarding_signals()?;
    if !keep {
        rt.delete(&a.id, true)?;
    }
    if let Some(relay) = relay {
        relay.finish();
    }
    Ok(u8::try_from(code).unwrap_or(255))
}

/// `restore`: the container restored from its CRIU image (with the site policy applied to
/// the bundle); unless `--detach`, waits for it, deletes it, and exits with its status.
fn restore(cli: &Cli, rt: &Runtime, a: &iso_runtime::cli::RestoreArgs) -> Result<u8, Error> {
    if cli.systemd_cgroup {
        return Err(Error::InvalidArgument {
            what: "--systemd-cgroup",
            value: "true".into(),
            reason: "restore does not support the systemd cgroup driver".into(),
        });
    }
    let mut opts = a.options()?;
    opts.policy = policy_for(cli, &a.bundle)?;
    let restored = rt.restore(&a.criu.id, &opts)?;
    if a.detach {
        return Ok(0);
    }
    let code = restored.wait()?;
    rt.delete(&a.criu.id, true)?;
    Ok(u8::try_from(code).unwrap_or(255))
}

/// `state`: the OCI state as pretty JSON.
fn state(cli: &Cli, rt: &Runtime, id: &str) -> Result<u8, Error> {
    let state = rt.state(id)?;
    let text = serde_json::to_string_pretty(&state).map_err(|e| Error::Record {
        path: cli.root.join(id),
        reason: e.to_string(),
    })?;
    println!("{text}");
    Ok(0)
}

/// `kill ID [SIGNAL]`: TERM by default; 0 only checks the container is alive.
fn kill(rt: &Runtime, id: &str, signal: Option<&str>, all: bool) -> Result<u8, Error> {
    let sig = match signal {
        Some(s) => s.parse::<Signal>()?,
        None => Signal::TERM,
    };
    rt.kill(id, sig, all).map(|()| 0)
}

/// `features`: the OCI features document.
fn features() -> Result<u8, Error> {
    let doc = iso_runtime::features::features();
    println!(
        "{}",
        serde_json::to_string_pretty(&doc).unwrap_or_else(|_| doc.to_string())
    );
    Ok(0)
}

/// Logs each change a site policy made to a command's request as a warning on stderr.
fn warn_policy_changes(cli: &Cli, changes: &[impl std::fmt::Display]) {
    let mut stderr = Logger::to_stderr(LogFormat::Text, cli.debug);
    for c in changes {
        stderr.log(Level::Warn, &format!("policy: {c}"));
    }
}

/// `update`: the flags' resources, clamped by the site policy, applied.
fn update(cli: &Cli, rt: &Runtime, a: &UpdateArgs) -> Result<u8, Error> {
    let mut res = a.resources()?;
    if let Some(p) = iso_runtime::policy::Policy::locate(cli.policy.as_deref())? {
        let (clamped, changes) = p.apply_update(&res)?;
        warn_policy_changes(cli, &changes);
        res = clamped;
    }
    rt.update(&a.id, &res).map(|()| 0)
}

/// `events`: statistics every `interval` (or once with `stats`) and OOM notices.
fn events(rt: &Runtime, id: &str, stats: bool, interval: &str) -> Result<u8, Error> {
    let interval = parse_interval(interval)?;
    rt.events(id, interval, stats, &mut std::io::stdout().lock())
        .map(|()| 0)
}

/// `spec`: a default `config.json` in `bundle` (rootless with `--rootless`).
fn spec(cli: &Cli, bundle: &std::path::Path) -> Result<u8, Error> {
    let rootless = cli.rootless == iso_runtime::rootless::Rootless::True;
    iso_runtime::spec::write_default(bundle, rootless).map(|()| 0)
}

/// `exec`: the process (clamped by the site policy) run in the container; its exit status.
fn exec(cli: &Cli, rt: &Runtime, a: &ExecArgs) -> Result<u8, Error> {
    let mut opts = a.options(&cli.root)?;
    if let Some(p) = iso_runtime::policy::Policy::locate(cli.policy.as_deref())? {
        let (process, changes) = p.apply_exec(&opts.process)?;
        warn_policy_changes(cli, &changes);
        opts.process = process;
    }
    let mut relay = None;
    if !opts.detach && opts.console_socket.is_none() {
        // The exec child hands the pty over and executes at once: it sizes the pty itself,
        // with the caller's terminal's size as runc.
        if let (Some(true), Some((rows, cols))) = (opts.process.terminal(), relay::caller_size()) {
            let size = oci_spec::runtime::BoxBuilder::default()
                .height(u64::from(rows))
                .width(u64::from(cols))
                .build()
                .ok();
            opts.process.set_console_size(size);
        }
        if let Some((r, socket)) = own_terminal(cli, &opts.process)? {
            opts.console_socket = Some(socket);
            relay = Some(r);
        }
    }
    let code = rt.exec(&a.id, &opts)?;
    if let Some(relay) = relay {
        relay.finish();
    }
    Ok(u8::try_from(code).unwrap_or(255))
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

/// `ps`: the pids as a JSON list, or the lines of the host's `ps ARGS` (`ps -ef` without
/// arguments) whose PID column names a process of the container, under ps' header.
fn ps(rt: &Runtime, id: &str, format: &str, args: &[String]) -> Result<u8, Error> {
    check_format(format)?;
    let pids = rt.pids(id)?;
    if format == "json" {
        println!("{}", serde_json::Value::from(pids));
        return Ok(0);
    }
    let default = ["-ef".to_owned()];
    let args = if args.is_empty() { &default[..] } else { args };
    let out = std::process::Command::new("ps")
        .args(args)
        .output()
        .map_err(|e| Error::Io {
            op: "run",
            path: "ps".into(),
            source: e,
        })?;
    if !out.status.success() {
        return Err(Error::InvalidArgument {
            what: "ps arguments",
            value: args.join(" "),
            reason: format!(
                "ps {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
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
    // Each with its owner, as runc's `list` (`state` leaves it empty).
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
            let _ = writeln!(
                out,
                "{:<20} {:<8} {:<10} {:<40} {:<30} {}",
                s.id,
                s.pid,
                s.status,
                s.bundle.display(),
                s.created,
                s.owner
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
