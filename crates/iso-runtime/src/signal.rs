//! Signals as the `kill` command takes them: `TERM`, `SIGTERM`, `sigterm`, `15`, `RTMIN+3`.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// The standard signals by name, in the kernel's numbering for x86 and arm.
const NAMES: [(&str, i32); 31] = [
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("SYS", libc::SIGSYS),
];

/// A signal number between 1 and `SIGRTMAX`, or 0: no signal, only the check that the
/// target exists and may be signalled, as `kill(2)` does (`kill ID 0`).
///
/// ```
/// use iso_runtime::Signal;
/// let term: Signal = "SIGTERM".parse()?;
/// assert_eq!(term, "15".parse()?);
/// assert_eq!(term.as_raw(), libc::SIGTERM);
/// assert_eq!("rtmin+2".parse::<Signal>()?.as_raw(), libc::SIGRTMIN() + 2);
/// assert_eq!("0".parse::<Signal>()?, Signal::PROBE);
/// # Ok::<(), iso_runtime::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal(i32);

impl Signal {
    /// `SIGTERM`, what `kill` sends when no signal is named.
    pub const TERM: Signal = Signal(libc::SIGTERM);
    /// `SIGKILL`.
    pub const KILL: Signal = Signal(libc::SIGKILL);
    /// 0: nothing is delivered; sending it checks that the process is alive.
    pub const PROBE: Signal = Signal(0);

    /// The raw signal number.
    pub fn as_raw(self) -> i32 {
        self.0
    }
}

impl FromStr for Signal {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let invalid = || Error::InvalidArgument {
            what: "signal",
            value: text.to_owned(),
            reason: "not a signal name or number".to_owned(),
        };
        if let Ok(number) = text.parse::<i32>() {
            return if (0..=libc::SIGRTMAX()).contains(&number) {
                Ok(Signal(number))
            } else {
                Err(invalid())
            };
        }
        let upper = text.to_ascii_uppercase();
        let name = upper.strip_prefix("SIG").unwrap_or(&upper);
        if let Some(&(_, number)) = NAMES.iter().find(|(n, _)| *n == name) {
            return Ok(Signal(number));
        }
        let realtime = |base: i32, rest: &str, sign: i32| -> Option<Signal> {
            let offset: i32 = if rest.is_empty() {
                0
            } else {
                rest.parse().ok()?
            };
            let number = base + sign * offset;
            (libc::SIGRTMIN()..=libc::SIGRTMAX())
                .contains(&number)
                .then_some(Signal(number))
        };
        let parsed = if let Some(rest) = name.strip_prefix("RTMIN") {
            realtime(libc::SIGRTMIN(), rest.strip_prefix('+').unwrap_or(rest), 1)
        } else if let Some(rest) = name.strip_prefix("RTMAX") {
            realtime(libc::SIGRTMAX(), rest.strip_prefix('-').unwrap_or(rest), -1)
        } else {
            None
        };
        parsed.ok_or_else(invalid)
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match NAMES.iter().find(|(_, n)| *n == self.0) {
            Some((name, _)) => write!(f, "SIG{name}"),
            None => write!(f, "signal {}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_numbers_and_realtime() {
        assert_eq!("KILL".parse::<Signal>().unwrap(), Signal::KILL);
        assert_eq!("sigkill".parse::<Signal>().unwrap(), Signal::KILL);
        assert_eq!("9".parse::<Signal>().unwrap(), Signal::KILL);
        assert_eq!(
            "RTMAX".parse::<Signal>().unwrap().as_raw(),
            libc::SIGRTMAX()
        );
        assert_eq!(
            "RTMAX-1".parse::<Signal>().unwrap().as_raw(),
            libc::SIGRTMAX() - 1
        );
        assert_eq!(Signal::TERM.to_string(), "SIGTERM");
        for bad in ["", "-1", "65", "SIGFOO", "RTMIN+99", "RTMIN+x"] {
            let err = bad.parse::<Signal>().unwrap_err();
            assert!(err.to_string().contains("signal"), "{err}");
        }
    }

    proptest! {
        #[test]
        fn parsing_never_panics(text in "\\PC{0,12}") {
            let _ = text.parse::<Signal>();
        }

        #[test]
        fn every_number_round_trips(number in 1i32..=64) {
            let signal: Signal = number.to_string().parse().unwrap();
            prop_assert_eq!(signal.as_raw(), number);
        }
    }
}
