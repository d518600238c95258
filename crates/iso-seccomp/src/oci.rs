//! Conversions from and to oci-spec's `LinuxSeccomp`, and OCI JSON (feature `oci`).

use oci_spec::runtime::{
    Arch as OciArch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder,
    LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::profile::{Action, Condition, Flags, Op, Profile, SyscallRule, UnknownSyscalls};

fn oci_err(field: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::Oci {
        field: field.into(),
        reason: reason.into(),
    }
}

/// The JSON name of a unit enum value of oci-spec (`"SCMP_ACT_ERRNO"`).
fn json_name<T: Serialize>(v: &T, field: &str) -> Result<String> {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => Ok(s),
        _ => Err(oci_err(field, "not a string enum")),
    }
}

/// The oci-spec enum value of a JSON name.
fn from_json_name<T: DeserializeOwned>(name: &str, field: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(name.to_owned()))
        .map_err(|e| oci_err(field, e.to_string()))
}

fn action_from_oci(a: LinuxSeccompAction, errno_ret: Option<u32>, field: &str) -> Result<Action> {
    let name = json_name(&a, field)?;
    let action: Action = name.parse().map_err(|e: String| oci_err(field, e))?;
    Ok(match action {
        // Runtimes return EPERM when the profile names no errno.
        Action::Errno(_) => Action::Errno(errno_ret.unwrap_or(libc::EPERM as u32)),
        Action::Trace(_) => Action::Trace(errno_ret.unwrap_or(libc::EPERM as u32)),
        other if errno_ret.is_some() => {
            return Err(oci_err(
                field,
                format!(
                    "errnoRet is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not {other}"
                ),
            ))
        }
        other => other,
    })
}

fn action_to_oci(a: Action) -> Result<(LinuxSeccompAction, Option<u32>)> {
    let oci = from_json_name(a.oci_name(), "action")?;
    let ret = match a {
        Action::Errno(n) | Action::Trace(n) => Some(n),
        _ => None,
    };
    Ok((oci, ret))
}

#[cfg_attr(docsrs, doc(cfg(feature = "oci")))]
impl TryFrom<&LinuxSeccomp> for Profile {
    type Error = Error;

    /// Reads an OCI `linux.seccomp` object. `SCMP_ACT_ERRNO` without `errnoRet` means
    /// `EPERM`; for `SCMP_CMP_MASKED_EQ`, `value` is the mask and `valueTwo` the value.
    fn try_from(s: &LinuxSeccomp) -> Result<Profile> {
        // OCI profiles name syscalls of newer kernels: skipped, as runc does.
        let mut p = Profile::new(action_from_oci(
            s.default_action(),
            s.default_errno_ret(),
            "defaultAction",
        )?)
        .unknown_syscalls(UnknownSyscalls::Skip);
        for a in s.architectures().iter().flatten() {
            let name = json_name(a, "architectures")?;
            p = p.arch(
                name.parse()
                    .map_err(|e: String| oci_err("architectures", e))?,
            );
        }
        for f in s.flags().iter().flatten() {
            p.flags |= match f {
                LinuxSeccompFilterFlag::SeccompFilterFlagTsync => Flags::TSYNC,
                LinuxSeccompFilterFlag::SeccompFilterFlagLog => Flags::LOG,
                LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => Flags::SPEC_ALLOW,
                LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                    Flags::WAIT_KILLABLE_RECV
                }
            };
        }
        for (i, sc) in s.syscalls().iter().flatten().enumerate() {
            let field = format!("syscalls[{i}]");
            let action = action_from_oci(sc.action(), sc.errno_ret(), &field)?;
            let mut rule = SyscallRule::new(action, sc.names().iter().cloned());
            for (j, arg) in sc.args().iter().flatten().enumerate() {
                let field = format!("syscalls[{i}].args[{j}]");
                let index = u32::try_from(arg.index())
                    .map_err(|_| oci_err(&field, format!("index {} too large", arg.index())))?;
                let v = arg.value();
                let op = match arg.op() {
                    LinuxSeccompOperator::ScmpCmpNe => Op::Ne(v),
                    LinuxSeccompOperator::ScmpCmpLt => Op::Lt(v),
                    LinuxSeccompOperator::ScmpCmpLe => Op::Le(v),
                    LinuxSeccompOperator::ScmpCmpEq => Op::Eq(v),
                    LinuxSeccompOperator::ScmpCmpGe => Op::Ge(v),
                    LinuxSeccompOperator::ScmpCmpGt => Op::Gt(v),
                    LinuxSeccompOperator::ScmpCmpMaskedEq => Op::MaskedEq {
                        mask: v,
                        value: arg.value_two().unwrap_or(0),
                    },
                };
                rule = rule.when(Condition { arg: index, op });
            }
            p = p.rule(rule);
        }
        p.listener_path = s.listener_path().clone();
        p.listener_metadata = s.listener_metadata().clone();
        Ok(p)
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "oci")))]
impl TryFrom<&Profile> for LinuxSeccomp {
    type Error = Error;

    /// Writes the profile as an OCI `linux.seccomp` object.
    fn try_from(p: &Profile) -> Result<LinuxSeccomp> {
        let mut s = LinuxSeccomp::default();
        let (a, ret) = action_to_oci(p.default_action)?;
        s.set_default_action(a);
        s.set_default_errno_ret(ret);
        if !p.architectures.is_empty() {
            let archs = p
                .architectures
                .iter()
                .map(|a| from_json_name::<OciArch>(a.oci_name(), "architectures"))
                .collect::<Result<Vec<_>>>()?;
            s.set_architectures(Some(archs));
        }
        let mut flags = Vec::new();
        for (f, oci) in [
            (Flags::TSYNC, LinuxSeccompFilterFlag::SeccompFilterFlagTsync),
            (Flags::LOG, LinuxSeccompFilterFlag::SeccompFilterFlagLog),
            (
                Flags::SPEC_ALLOW,
                LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow,
            ),
            (
                Flags::WAIT_KILLABLE_RECV,
                LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv,
            ),
        ] {
            if p.flags.contains(f) {
                flags.push(oci);
            }
        }
        if !flags.is_empty() {
            s.set_flags(Some(flags));
        }
        let mut syscalls = Vec::new();
        for r in &p.syscalls {
            let mut sc = LinuxSyscall::default();
            sc.set_names(r.names.clone());
            let (a, ret) = action_to_oci(r.action)?;
            sc.set_action(a);
            sc.set_errno_ret(ret);
            if !r.conditions.is_empty() {
                let args = r
                    .conditions
                    .iter()
                    .map(|c| {
                        let (op, value, two) = match c.op {
                            Op::Ne(v) => (LinuxSeccompOperator::ScmpCmpNe, v, None),
                            Op::Lt(v) => (LinuxSeccompOperator::ScmpCmpLt, v, None),
                            Op::Le(v) => (LinuxSeccompOperator::ScmpCmpLe, v, None),
                            Op::Eq(v) => (LinuxSeccompOperator::ScmpCmpEq, v, None),
                            Op::Ge(v) => (LinuxSeccompOperator::ScmpCmpGe, v, None),
                            Op::Gt(v) => (LinuxSeccompOperator::ScmpCmpGt, v, None),
                            Op::MaskedEq { mask, value } => {
                                (LinuxSeccompOperator::ScmpCmpMaskedEq, mask, Some(value))
                            }
                        };
                        let mut b = LinuxSeccompArgBuilder::default()
                            .index(c.arg as usize)
                            .value(value)
                            .op(op);
                        if let Some(two) = two {
                            b = b.value_two(two);
                        }
                        b.build().map_err(|e| oci_err("args", e.to_string()))
                    })
                    .collect::<Result<Vec<_>>>()?;
                sc.set_args(Some(args));
            }
            syscalls.push(sc);
        }
        if !syscalls.is_empty() {
            s.set_syscalls(Some(syscalls));
        }
        s.set_listener_path(p.listener_path.clone());
        s.set_listener_metadata(p.listener_metadata.clone());
        Ok(s)
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "oci")))]
impl Profile {
    /// Parses an OCI `linux.seccomp` JSON object (the format of Docker's and Podman's
    /// profile files). Requires the `oci` feature.
    ///
    /// ```
    /// use iso_seccomp::{Action, Profile};
    /// let p = Profile::from_oci_json(r#"{
    ///     "defaultAction": "SCMP_ACT_ERRNO",
    ///     "defaultErrnoRet": 38,
    ///     "syscalls": [{ "names": ["read", "write"], "action": "SCMP_ACT_ALLOW" }]
    /// }"#).unwrap();
    /// assert_eq!(p.default_action, Action::Errno(38));
    /// ```
    pub fn from_oci_json(json: &str) -> Result<Profile> {
        let s: LinuxSeccomp =
            serde_json::from_str(json).map_err(|e| oci_err("(document)", e.to_string()))?;
        Profile::try_from(&s)
    }

    /// Writes the profile as OCI `linux.seccomp` JSON. Requires the `oci` feature.
    ///
    /// ```
    /// use iso_seccomp::{default_profile, Profile};
    /// let p = default_profile(&["CAP_SYS_CHROOT"]);
    /// let json = p.to_oci_json().unwrap();
    /// assert_eq!(Profile::from_oci_json(&json).unwrap(), p);
    /// ```
    pub fn to_oci_json(&self) -> Result<String> {
        let s = LinuxSeccomp::try_from(self)?;
        serde_json::to_string_pretty(&s).map_err(|e| oci_err("(document)", e.to_string()))
    }
}
