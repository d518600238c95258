//! The runtime's log: plain text for people, or JSON lines for engines.
//!
//! containerd's shim and Podman's conmon pass `--log FILE --log-format json` and, when a
//! command fails, read the last error line back and show its `msg` to the user (containerd:
//! `OCI runtime create failed: <msg>`). Each line is one JSON object with `level`, `msg` and
//! `time` (RFC 3339, UTC), the shape those readers expect.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::Error;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `time="..." level=error msg="..."`, as runc writes for people.
    #[default]
    Text,
    /// `{"level":"error","msg":"...","time":"..."}`, one object a line.
    Json,
}

impl FromStr for LogFormat {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        match text {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(Error::InvalidArgument {
                what: "--log-format",
                value: text.to_owned(),
                reason: "must be text or json".to_owned(),
            }),
        }
    }
}

/// The severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Shown only with `--debug`.
    Debug,
    /// Normal progress.
    Info,
    /// Something was adjusted or skipped.
    Warn,
    /// The command failed.
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warning",
            Level::Error => "error",
        }
    }
}

/// Writes log lines to the `--log` file (appending) or to stderr.
///
/// ```
/// use iso_runtime::{Level, LogFormat, Logger};
/// let mut out = Vec::new();
/// Logger::to_writer(&mut out, LogFormat::Json, false).log(Level::Error, "no such file");
/// let line: serde_json::Value = serde_json::from_slice(&out).unwrap();
/// assert_eq!(line["level"], "error");
/// ```
pub struct Logger<W: Write> {
    out: W,
    format: LogFormat,
    debug: bool,
}

impl Logger<File> {
    /// Appends to `path`, creating it (mode 0600) if needed.
    pub fn to_file(path: &Path, format: LogFormat, debug: bool) -> Result<Self, Error> {
        let out = OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| Error::io("open log file", path, e))?;
        Ok(Logger { out, format, debug })
    }
}

impl Logger<io::Stderr> {
    /// Writes to the process' stderr.
    pub fn to_stderr(format: LogFormat, debug: bool) -> Self {
        Logger {
            out: io::stderr(),
            format,
            debug,
        }
    }
}

impl<W: Write> Logger<W> {
    /// Writes to any writer (tests, buffers).
    pub fn to_writer(out: W, format: LogFormat, debug: bool) -> Self {
        Logger { out, format, debug }
    }

    /// Writes one line; debug lines only with `--debug`. Logging never fails a command: a
    /// line that cannot be written is dropped.
    pub fn log(&mut self, level: Level, msg: &str) {
        if level == Level::Debug && !self.debug {
            return;
        }
        let time = rfc3339(SystemTime::now());
        let line = match self.format {
            LogFormat::Json => serde_json::json!({
                "level": level.as_str(),
                "msg": msg,
                "time": time,
            })
            .to_string(),
            LogFormat::Text => format!("time={time:?} level={} msg={msg:?}", level.as_str()),
        };
        let _ = writeln!(self.out, "{line}");
    }
}

/// Formats a time as RFC 3339 in UTC with nanoseconds, e.g. `2026-11-23T10:15:00.000000001Z`.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let t = UNIX_EPOCH + Duration::new(1_000_000_000, 5);
/// assert_eq!(iso_runtime::rfc3339(t), "2001-09-09T01:46:40.000000005Z");
/// ```
pub fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_nanos()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (the era-based algorithm: 400-year
/// eras of 146097 days).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_match_known_points() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        // 2024-02-29 (a leap day) 12:00:00 UTC.
        let leap = UNIX_EPOCH + Duration::from_secs(1_709_208_000);
        assert_eq!(rfc3339(leap), "2024-02-29T12:00:00.000000000Z");
        let y2100 = UNIX_EPOCH + Duration::from_secs(4_107_542_400);
        assert_eq!(rfc3339(y2100), "2100-03-01T00:00:00.000000000Z");
    }

    #[test]
    fn json_lines_have_level_msg_time() {
        let mut out = Vec::new();
        {
            let mut logger = Logger::to_writer(&mut out, LogFormat::Json, false);
            logger.log(Level::Debug, "hidden");
            logger.log(Level::Warn, "quote \" and newline \n");
        }
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["level"], "warning");
        assert_eq!(v["msg"], "quote \" and newline \n");
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn text_lines_and_debug() {
        let mut out = Vec::new();
        Logger::to_writer(&mut out, LogFormat::Text, true).log(Level::Debug, "shown");
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("level=debug msg=\"shown\""), "{text}");
        assert!("yaml".parse::<LogFormat>().is_err());
    }
}
