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

use std::ffi::{CString, OsStr};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
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

/// The environment of a hook whose `env` is not set (as runc's): the container process'
/// for the hooks the init runs, the runtime's own for the others.
#[derive(Debug, Clone, Copy)]
pub(crate) enum HookEnv<'a> {
    /// The runtime's environment.
    Runtime,
    /// The container process' `process.env`.
    Process(&'a [CString]),
}

/// Runs `hooks` one after the other; the first failure stops the list. Each gets its `env`
/// when set (an empty list: an empty environment), else `default_env`; its `args[0]` as
/// given.
pub(crate) fn run_hooks(
    kind: HookKind,
    hooks: &[Hook],
    state: &[u8],
    default_env: HookEnv<'_>,
) -> Result<(), Error> {
    for (index, hook) in hooks.iter().enumerate() {
        run_hook(kind, index, hook, state, default_env)?;
    }
    Ok(())
}

fn run_hook(
    kind: HookKind,
    index: usize,
    hook: &Hook,
    state: &[u8],
    default_env: HookEnv<'_>,
) -> Result<(), Error> {
    let fail = |reason: String| Error::Hook {
        kind: kind.name(),
        index,
        path: hook.path().clone(),
        reason,
    };
    let mut cmd = Command::new(hook.path());
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(args) = hook.args() {
        if let Some((first, rest)) = args.split_first() {
            cmd.arg0(first).args(rest);
        }
    }
    let env = match (hook.env(), default_env) {
        (Some(env), _) => Some(env.iter().map(|kv| kv.as_bytes()).collect::<Vec<_>>()),
        (None, HookEnv::Process(env)) => Some(env.iter().map(|kv| kv.as_bytes()).collect()),
        (None, HookEnv::Runtime) => None,
    };
    if let Some(env) = env {
        cmd.env_clear();
        for kv in env {
            if let Some(eq) = kv.iter().position(|&b| b == b'=') {
                cmd.env(
                    OsStr::from_bytes(&kv[..eq]),
                    OsStr::from_bytes(&kv[eq + 1..]),
                );
            }
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
        run_hooks(
            HookKind::Prestart,
            &[ok],
            br#"{"id":"x"}"#,
            HookEnv::Runtime,
        )
        .unwrap();
        let bad = HookBuilder::default()
            .path("/bin/sh")
            .args(vec!["sh".into(), "-c".into(), "exit 3".into()])
            .build()
            .unwrap();
        let err = run_hooks(HookKind::Poststop, &[bad], b"{}", HookEnv::Runtime).unwrap_err();
        assert!(err.to_string().contains("status 3"), "{err}");
        assert!(err.to_string().contains("poststop hook #0"), "{err}");
    }

    #[test]
    fn a_hook_without_env_gets_the_default_one() {
        let hook = |env: Option<Vec<String>>| {
            let mut b = HookBuilder::default().path("/bin/sh").args(vec![
                "sh".into(),
                "-c".into(),
                "test \"$0,${X-unset}\" = sh,proc".into(),
            ]);
            if let Some(env) = env {
                b = b.env(env);
            }
            b.build().unwrap()
        };
        let proc_env = [CString::new("X=proc").unwrap()];
        let default = HookEnv::Process(&proc_env);
        run_hooks(HookKind::StartContainer, &[hook(None)], b"{}", default).unwrap();
        run_hooks(
            HookKind::StartContainer,
            &[hook(Some(vec!["X=proc".into()]))],
            b"{}",
            HookEnv::Runtime,
        )
        .unwrap();
        let err = run_hooks(
            HookKind::StartContainer,
            &[hook(Some(vec![]))],
            b"{}",
            default,
        );
        assert!(err.is_err(), "an empty env is empty");
    }

    #[test]
    fn hook_timeout_kills() {
        let slow = HookBuilder::default()
            .path("/bin/sleep")
            .args(vec!["sleep".into(), "30".into()])
            .timeout(1i64)
            .build()
            .unwrap();
        let err = run_hooks(HookKind::Poststart, &[slow], b"{}", HookEnv::Runtime).unwrap_err();
        assert!(err.to_string().contains("timed out"), "{err}");
    }
}
