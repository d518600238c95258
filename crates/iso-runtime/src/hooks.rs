//! OCI hooks: programs the runtime runs at fixed points of the lifecycle, each given the
//! container's state JSON on its stdin.
//!
//! | hook | where it runs | when | a failure |
//! |------|---------------|------|-----------|
//! | `prestart`, `createRuntime` | runtime's namespaces (`create`) | mounts made, before the root is entered | fails `create` |
//! | `createContainer` | the init, in the container's namespaces | same point | fails `create` |
//! | `startContainer` | the init, in the container | after `start`, before the user's program | fails `start` |
//! | `poststart` | runtime (`start`) | after the program was executed | logged as a warning |
//! | `poststop` | runtime (`delete`) | after the container was deleted | logged as a warning |
//!
//! A hook with `timeout` is killed (SIGKILL) when it runs longer and counts as failed.

use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

use crate::Error;

/// Which list of hooks runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HookKind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl HookKind {
    /// Every list, in the order the specification names them.
    pub(crate) const ALL: [HookKind; 6] = [
        HookKind::Prestart,
        HookKind::CreateRuntime,
        HookKind::CreateContainer,
        HookKind::StartContainer,
        HookKind::Poststart,
        HookKind::Poststop,
    ];

    /// The list's key in `config.json` (`createRuntime`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            HookKind::Prestart => "prestart",
            HookKind::CreateRuntime => "createRuntime",
            HookKind::CreateContainer => "createContainer",
            HookKind::StartContainer => "startContainer",
            HookKind::Poststart => "poststart",
            HookKind::Poststop => "poststop",
        }
    }
}

/// The hooks of `kind` in `hooks`, in order.
pub(crate) fn hooks_of(hooks: Option<&oci_spec::runtime::Hooks>, kind: HookKind) -> Vec<Hook> {
    let Some(h) = hooks else {
        return Vec::new();
    };
    #[allow(deprecated)]
    let list = match kind {
        HookKind::Prestart => h.prestart(),
        HookKind::CreateRuntime => h.create_runtime(),
        HookKind::CreateContainer => h.create_container(),
        HookKind::StartContainer => h.start_container(),
        HookKind::Poststart => h.poststart(),
        HookKind::Poststop => h.poststop(),
    };
    list.clone().unwrap_or_default()
}

/// Runs `hooks` one after the other; the first failure stops the list.
pub(crate) fn run_hooks(kind: HookKind, hooks: &[Hook], state: &[u8]) -> Result<(), Error> {
    for hook in hooks {
        run_hook(kind, hook, state)?;
    }
    Ok(())
}

fn run_hook(kind: HookKind, hook: &Hook, state: &[u8]) -> Result<(), Error> {
    let fail = |reason: String| Error::Hook {
        kind: kind.name(),
        path: hook.path().clone(),
        reason,
    };
    let mut cmd = Command::new(hook.path());
    cmd.env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(args) = hook.args() {
        if let Some((first, rest)) = args.split_first() {
            cmd.arg0(first).args(rest);
        }
    }
    for kv in hook.env().as_deref().unwrap_or_default() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    let mut child = cmd.spawn().map_err(|e| fail(format!("spawn: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is not an error (EPIPE).
        let _ = stdin.write_all(state);
    }
    let deadline = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => return Err(fail(format!("wait: {e}"))),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(format!(
                "timed out after {}s",
                hook.timeout().unwrap_or(0)
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    if status.success() {
        return Ok(());
    }
    Err(fail(match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (_, Some(sig)) => format!("killed by signal {sig}"),
        _ => "failed".into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::HookBuilder;

    #[test]
    fn hook_gets_state_and_failure_is_reported() {
        let ok = HookBuilder::default()
            .path("/bin/sh")
            .args(vec!["sh".into(), "-c".into(), "grep -q '\"id\"'".into()])
            .build()
            .unwrap();
        run_hooks(HookKind::Prestart, &[ok], br#"{"id":"x"}"#).unwrap();
        let bad = HookBuilder::default()
            .path("/bin/sh")
            .args(vec!["sh".into(), "-c".into(), "exit 3".into()])
            .build()
            .unwrap();
        let err = run_hooks(HookKind::Poststop, &[bad], b"{}").unwrap_err();
        assert!(err.to_string().contains("status 3"), "{err}");
    }

    #[test]
    fn hook_timeout_kills() {
        let slow = HookBuilder::default()
            .path("/bin/sleep")
            .args(vec!["sleep".into(), "30".into()])
            .timeout(1i64)
            .build()
            .unwrap();
        let err = run_hooks(HookKind::Poststart, &[slow], b"{}").unwrap_err();
        assert!(err.to_string().contains("timed out"), "{err}");
    }
}
