//! The command line: arbitrary argument vectors through `iso_runtime::cli::Cli` (clap), then
//! the conversions that need no container (create/exec/update options, `--interval`,
//! signals). The input is split at NUL bytes into arguments, which need not be UTF-8. Every
//! argv must give `Ok` or an error with a message; never a panic or hang.
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use clap::Parser;
use iso_runtime::cli::{parse_bytes, parse_interval, Cli, Command};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let argv = std::iter::once(OsString::from("iso-runtime")).chain(
        data.split(|b| *b == 0)
            .map(|a| OsString::from_vec(a.to_vec())),
    );
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        // --help and --version are errors too (clap's "display" kinds): render them all.
        Err(e) => {
            assert!(!e.render().to_string().is_empty());
            return;
        }
    };
    let _ = cli.log_format.parse::<iso_runtime::LogFormat>();
    match &cli.command {
        Command::Create(a) | Command::Run { create: a, .. } => {
            if let Err(e) = a.options() {
                assert!(!e.to_string().is_empty());
            }
        }
        // `options` would read the container's state: only the flags that need none.
        Command::Exec(a) => {
            let inheritable = |p: &oci_spec::runtime::Process| {
                p.capabilities()
                    .as_ref()
                    .and_then(|c| c.inheritable().clone())
            };
            let mut p = oci_spec::runtime::Process::default();
            let before = inheritable(&p);
            if a.apply_security(&mut p).is_ok() {
                assert_eq!(
                    inheritable(&p),
                    before,
                    "exec --cap reached the inheritable set"
                );
            }
        }
        // `--resources` names a file (or stdin): only the flags.
        Command::Update(a) if a.resources.is_none() => {
            if let (Some(m), Ok(r)) = (&a.memory, a.resources()) {
                let limit = r.memory().as_ref().and_then(|m| m.limit());
                assert_eq!(limit, parse_bytes("--memory", m).ok());
            }
        }
        Command::Events { interval, .. } => {
            if let Ok(d) = parse_interval(interval) {
                assert!(!d.is_zero());
            }
        }
        Command::Kill {
            signal: Some(s), ..
        } => {
            let _ = s.parse::<iso_runtime::Signal>();
        }
        _ => {}
    }
});
