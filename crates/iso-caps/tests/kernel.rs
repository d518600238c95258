//! iso-caps against the real kernel. Every test that changes credentials or capabilities
//! runs in a forked child (`iso_testutil::in_child`), so the test process keeps its own.

use iso_caps::{
    CapConfig, CapSet, Capabilities, Capability, Error, SecureBits, Set, SkipReason, UserSwitch,
};

const NOBODY: u32 = 65534;

/// A `/proc/self/status` line's value, read fresh.
fn status_line(key: &str) -> Result<String, String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{key}:"))
                .map(|v| v.trim().to_owned())
        })
        .ok_or_else(|| format!("no {key} in status"))
}

fn check(cond: bool, msg: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(msg())
    }
}

fn s(e: Error) -> String {
    e.to_string()
}

#[test]
fn keep_caps_leaves_only_net_raw_after_uid_change() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    iso_testutil::in_child(|| {
        UserSwitch::new(NOBODY, NOBODY)
            .keep(Capability::NetRaw)
            .apply()
            .map_err(s)?;
        let eff = status_line("CapEff")?;
        check(eff == "0000000000002000", || format!("CapEff {eff}"))?;
        let prm = status_line("CapPrm")?;
        check(prm == "0000000000002000", || format!("CapPrm {prm}"))?;
        let inh = status_line("CapInh")?;
        check(inh == "0000000000000000", || format!("CapInh {inh}"))?;
        let uid = status_line("Uid")?;
        check(uid.split_whitespace().all(|u| u == "65534"), || {
            format!("Uid {uid}")
        })?;
        let gid = status_line("Gid")?;
        check(gid.split_whitespace().all(|g| g == "65534"), || {
            format!("Gid {gid}")
        })?;
        let groups = status_line("Groups")?;
        check(groups.is_empty(), || format!("Groups {groups:?}"))?;
        // keep-caps is cleared again afterwards.
        check(!iso_caps::keep_caps().map_err(s)?, || {
            "keep-caps still set".into()
        })?;
        let typed = Capabilities::current().map_err(s)?;
        check(
            typed.effective == CapSet::from(Capability::NetRaw) && typed.ambient.is_empty(),
            || format!("{typed}"),
        )
    });
}

#[test]
fn uid_change_without_keep_leaves_nothing_and_groups_are_set() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    iso_testutil::in_child(|| {
        UserSwitch::new(NOBODY, NOBODY)
            .groups([NOBODY, 100])
            .apply()
            .map_err(s)?;
        let caps = Capabilities::current().map_err(s)?;
        check(
            caps.permitted.is_empty() && caps.effective.is_empty(),
            || format!("{caps}"),
        )?;
        let groups = status_line("Groups")?;
        check(groups == "100 65534", || format!("Groups {groups:?}"))
    });
}

#[test]
fn bounding_drop_prevents_regaining() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    iso_testutil::in_child(|| {
        let mut caps = Capabilities::current().map_err(s)?;
        for set in [
            Set::Bounding,
            Set::Permitted,
            Set::Effective,
            Set::Inheritable,
        ] {
            caps.get_mut(set).remove(Capability::NetRaw);
        }
        let report = CapConfig::from(caps).apply().map_err(s)?;
        check(report.is_complete(), || format!("{:?}", report.skipped))?;
        check(
            !report.applied.bounding.contains(Capability::NetRaw),
            || format!("{}", report.applied),
        )?;
        // The kernel's own answer: PR_CAPBSET_READ says it is gone.
        // SAFETY: integer-only prctl.
        let r = unsafe { libc::prctl(libc::PR_CAPBSET_READ, 13 as libc::c_ulong, 0, 0, 0) };
        check(r == 0, || format!("PR_CAPBSET_READ(CAP_NET_RAW) = {r}"))?;
        // Still holding CAP_SETPCAP, adding it to inheritable would be allowed by permitted
        // rules; the bounding set forbids it.
        let mut regain = report.applied;
        regain.inheritable.insert(Capability::NetRaw);
        let err = CapConfig::from(regain).apply().unwrap_err();
        check(err.errno() == Some(libc::EPERM), || format!("{err}"))?;
        let text = err.to_string();
        check(
            text.contains("outside the bounding set: CAP_NET_RAW"),
            || format!("error does not explain: {text}"),
        )?;
        // And permitted cannot grow back.
        let mut regain = report.applied;
        regain.permitted.insert(Capability::NetRaw);
        let err = CapConfig::from(regain).apply().unwrap_err();
        check(err.errno() == Some(libc::EPERM), || format!("{err}"))?;
        check(
            err.to_string()
                .contains("permitted set cannot grow: CAP_NET_RAW"),
            || err.to_string(),
        )?;
        // And a raw socket really fails.
        // SAFETY: plain socket call; the fd is closed if it is ever returned.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP) };
        let errno = std::io::Error::last_os_error().raw_os_error();
        if fd >= 0 {
            // SAFETY: fd was just returned by socket.
            unsafe { libc::close(fd) };
        }
        check(fd < 0 && errno == Some(libc::EPERM), || {
            format!("socket: {fd} {errno:?}")
        })
    });
}

#[test]
fn ambient_caps_survive_execve() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    iso_testutil::in_child(|| {
        UserSwitch::new(NOBODY, NOBODY)
            .keep(Capability::NetRaw)
            .ambient(true)
            .apply()
            .map_err(s)?;
        let out = std::process::Command::new("/bin/grep")
            .args(["^Cap", "/proc/self/status"])
            .output()
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let after = Capabilities::from_status(&text).map_err(s)?;
        let net_raw = CapSet::from(Capability::NetRaw);
        check(
            after.effective == net_raw
                && after.permitted == net_raw
                && after.ambient == net_raw
                && after.inheritable == net_raw,
            || format!("after execve:\n{text}"),
        )
    });
}

#[test]
fn without_ambient_execve_drops_everything() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    iso_testutil::in_child(|| {
        UserSwitch::new(NOBODY, NOBODY)
            .keep(Capability::NetRaw)
            .apply()
            .map_err(s)?;
        let out = std::process::Command::new("/bin/grep")
            .args(["^Cap", "/proc/self/status"])
            .output()
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let after = Capabilities::from_status(&text).map_err(s)?;
        check(
            after.effective.is_empty() && after.permitted.is_empty(),
            || format!("after execve:\n{text}"),
        )
    });
}

#[test]
fn full_config_applies_in_order_and_skips_unsupported() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    iso_testutil::in_child(|| {
        let default = [
            "CAP_CHOWN",
            "CAP_DAC_OVERRIDE",
            "CAP_FSETID",
            "CAP_FOWNER",
            "CAP_MKNOD",
            "CAP_NET_RAW",
            "CAP_SETGID",
            "CAP_SETUID",
            "CAP_SETFCAP",
            "CAP_SETPCAP",
            "CAP_NET_BIND_SERVICE",
            "CAP_SYS_CHROOT",
            "CAP_KILL",
            "CAP_AUDIT_WRITE",
            "CAP_FUTURE_NOT_YET",
        ];
        let last = iso_caps::last_cap().map_err(s)?;
        let mut bounding: CapSet = default
            .join(",")
            .replace(",CAP_FUTURE_NOT_YET", "")
            .parse()
            .map_err(s)?;
        // A capability number the kernel does not have.
        bounding.insert_number(63).map_err(s)?;
        let report = CapConfig::new()
            .set(Set::Bounding, bounding)
            .names_skip_unknown(Set::Effective, default)
            .names_skip_unknown(Set::Permitted, default)
            .names(Set::Inheritable, ["CAP_NET_BIND_SERVICE"])
            .map_err(s)?
            .names(Set::Ambient, ["cap_net_bind_service"])
            .map_err(s)?
            .apply()
            .map_err(s)?;
        let expected: CapSet = default[..14].join(",").parse().map_err(s)?;
        let a = report.applied;
        check(a.bounding == expected, || {
            format!("bounding {}", a.bounding)
        })?;
        check(a.effective == expected && a.permitted == expected, || {
            format!("{a}")
        })?;
        let nbs = CapSet::from(Capability::NetBindService);
        check(a.inheritable == nbs && a.ambient == nbs, || format!("{a}"))?;
        // What /proc says agrees with what capget/prctl say.
        let status = Capabilities::of_pid(iso_sys::Pid::this()).map_err(s)?;
        check(status == a, || format!("status {status:?} vs {a:?}"))?;
        let mut skipped: Vec<_> = report
            .skipped
            .iter()
            .map(|w| (w.set, w.name.clone(), w.reason.clone()))
            .collect();
        skipped.sort();
        let mut want = vec![
            (
                Set::Effective,
                "CAP_FUTURE_NOT_YET".to_owned(),
                SkipReason::UnknownName,
            ),
            (
                Set::Permitted,
                "CAP_FUTURE_NOT_YET".to_owned(),
                SkipReason::UnknownName,
            ),
        ];
        if last < 63 {
            want.push((
                Set::Bounding,
                "capability 63".to_owned(),
                SkipReason::UnsupportedByKernel { last_cap: last },
            ));
        }
        want.sort();
        check(skipped == want, || format!("skipped {skipped:?}"))?;
        check(!report.is_complete(), || "report claims complete".into())?;
        // Warnings are printable.
        for w in &report.skipped {
            check(w.to_string().starts_with("skipping"), || w.to_string())?;
        }
        Ok(())
    });
}

#[test]
fn ambient_raise_error_names_cap_and_set_with_errno() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    iso_testutil::in_child(|| {
        // Ambient CAP_KILL without CAP_KILL in inheritable: the kernel refuses the raise.
        let now = Capabilities::current().map_err(s)?;
        let err = CapConfig::new()
            .set(Set::Bounding, now.bounding)
            .set(Set::Permitted, now.permitted)
            .set(Set::Effective, now.permitted)
            .set(Set::Ambient, CapSet::from(Capability::Kill))
            .apply()
            .unwrap_err();
        match &err {
            Error::CapPrctl {
                op,
                cap,
                set,
                source,
            } => {
                check(*op == "PR_CAP_AMBIENT_RAISE", || err.to_string())?;
                check(cap == "CAP_KILL" && *set == Set::Ambient, || {
                    err.to_string()
                })?;
                check(source.raw_os_error() == Some(libc::EPERM), || {
                    err.to_string()
                })?;
            }
            other => return Err(format!("unexpected error {other:?}")),
        }
        check(
            err.to_string() == "prctl(PR_CAP_AMBIENT_RAISE) for CAP_KILL in the ambient set: Operation not permitted (os error 1)",
            || err.to_string(),
        )
    });
}

#[test]
fn bounding_drop_without_setpcap_fails_with_eperm() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    iso_testutil::in_child(|| {
        let mut caps = Capabilities::current().map_err(s)?;
        caps.effective.remove(Capability::Setpcap);
        CapConfig::from(caps).apply().map_err(s)?;
        caps.bounding.remove(Capability::SysAdmin);
        let err = CapConfig::from(caps).apply().unwrap_err();
        check(err.errno() == Some(libc::EPERM), || err.to_string())?;
        check(
            err.to_string()
                .starts_with("prctl(PR_CAPBSET_DROP) for CAP_SYS_ADMIN in the bounding set"),
            || err.to_string(),
        )
    });
}

#[test]
fn credential_errors_keep_errno() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    iso_testutil::in_child(|| {
        UserSwitch::new(NOBODY, NOBODY).apply().map_err(s)?;
        // Now unprivileged: going back to root is refused at the first step, setgroups.
        let err = UserSwitch::new(0, 0).apply().unwrap_err();
        check(err.errno() == Some(libc::EPERM), || err.to_string())?;
        check(err.to_string().starts_with("setgroups([])"), || {
            err.to_string()
        })?;
        // Keeping a capability we do not have is refused before anything changes.
        let err = UserSwitch::new(NOBODY, NOBODY)
            .keep(Capability::NetRaw)
            .apply()
            .unwrap_err();
        check(
            matches!(err, Error::NotPermitted { ref cap } if cap == "CAP_NET_RAW"),
            || err.to_string(),
        )
    });
}

#[test]
fn securebits_locked_and_no_new_privs() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    iso_testutil::in_child(|| {
        let bits = SecureBits::NOROOT
            | SecureBits::NOROOT_LOCKED
            | SecureBits::NO_SETUID_FIXUP
            | SecureBits::NO_SETUID_FIXUP_LOCKED
            | SecureBits::KEEP_CAPS_LOCKED;
        UserSwitch::new(NOBODY, NOBODY)
            .keep(Capability::NetRaw)
            .securebits(bits)
            .no_new_privs(true)
            .apply()
            .map_err(s)?;
        let now = SecureBits::current().map_err(s)?;
        check(now == bits, || format!("securebits {now:?}"))?;
        check(iso_caps::no_new_privs().map_err(s)?, || {
            "no_new_privs not set".into()
        })?;
        let nnp = status_line("NoNewPrivs")?;
        check(nnp == "1", || format!("NoNewPrivs {nnp}"))?;
        let eff = status_line("CapEff")?;
        check(eff == "0000000000002000", || format!("CapEff {eff}"))?;
        // KEEP_CAPS is locked off: PR_SET_KEEPCAPS is refused.
        let err = iso_caps::set_keep_caps(true).unwrap_err();
        check(err.errno() == Some(libc::EPERM), || err.to_string())
    });
}

#[test]
fn securebits_keep_caps_instead_of_prctl() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    iso_testutil::in_child(|| {
        (SecureBits::KEEP_CAPS | SecureBits::KEEP_CAPS_LOCKED)
            .apply()
            .map_err(s)?;
        // With KEEP_CAPS locked on, the switch must not touch PR_SET_KEEPCAPS.
        UserSwitch::new(NOBODY, NOBODY)
            .keep(Capability::NetRaw)
            .apply()
            .map_err(s)?;
        let eff = status_line("CapEff")?;
        check(eff == "0000000000002000", || format!("CapEff {eff}"))?;
        check(iso_caps::keep_caps().map_err(s)?, || {
            "keep-caps cleared".into()
        })
    });
}

#[test]
fn prepared_apply_in_a_forked_child_of_a_threaded_process() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    // Prepare (allocating) before the fork; apply (not allocating) after it.
    let prepared = CapConfig::new()
        .set(Set::Bounding, CapSet::from(Capability::Kill))
        .set(Set::Permitted, CapSet::from(Capability::Kill))
        .set(Set::Effective, CapSet::from(Capability::Kill))
        .prepare()
        .unwrap();
    iso_testutil::in_child(move || {
        prepared.apply().map_err(s)?;
        let eff = status_line("CapEff")?;
        check(eff == "0000000000000020", || format!("CapEff {eff}"))?;
        let bnd = status_line("CapBnd")?;
        check(bnd == "0000000000000020", || format!("CapBnd {bnd}"))
    });
}

#[test]
fn user_switch_with_full_config_like_an_oci_process() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    iso_testutil::in_child(|| {
        let nbs = ["CAP_NET_BIND_SERVICE"];
        let config = CapConfig::new()
            .names(Set::Bounding, ["CAP_NET_BIND_SERVICE", "CAP_NET_RAW"])
            .and_then(|c| c.names(Set::Permitted, nbs))
            .and_then(|c| c.names(Set::Effective, nbs))
            .and_then(|c| c.names(Set::Inheritable, nbs))
            .and_then(|c| c.names(Set::Ambient, nbs))
            .map_err(s)?;
        UserSwitch::new(NOBODY, NOBODY)
            .capabilities(config.prepare().map_err(s)?)
            .apply()
            .map_err(s)?;
        let bnd = status_line("CapBnd")?;
        check(bnd == "0000000000002400", || format!("CapBnd {bnd}"))?;
        for key in ["CapEff", "CapPrm", "CapInh", "CapAmb"] {
            let v = status_line(key)?;
            check(v == "0000000000000400", || format!("{key} {v}"))?;
        }
        let uid = status_line("Uid")?;
        check(uid.split_whitespace().all(|u| u == "65534"), || {
            format!("Uid {uid}")
        })?;
        // And across execve, the ambient capability is what the program gets.
        let out = std::process::Command::new("/bin/grep")
            .args(["^Cap", "/proc/self/status"])
            .output()
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let after = Capabilities::from_status(&text).map_err(s)?;
        check(
            after.effective == CapSet::from(Capability::NetBindService)
                && after.bounding.len() == 2,
            || format!("after execve:\n{text}"),
        )
    });
}

/// Makes the (forked, single-threaded) caller, uid and gid `NOBODY`, root of a new user
/// namespace mapping only itself, as an unprivileged user can: `setgroups` denied first, as
/// the kernel demands for the gid map.
fn unprivileged_user_namespace() -> Result<(), String> {
    let os = |what: &str| format!("{what}: {}", std::io::Error::last_os_error());
    // SAFETY: credential calls with integer arguments in a forked child.
    unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0
            || libc::setresgid(NOBODY, NOBODY, NOBODY) != 0
            || libc::setresuid(NOBODY, NOBODY, NOBODY) != 0
        {
            return Err(os("become nobody"));
        }
        // The uid change made us non-dumpable: our /proc files would be root's.
        if libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) != 0
            || libc::unshare(libc::CLONE_NEWUSER) != 0
        {
            return Err(os("unshare a user namespace"));
        }
    }
    for (file, text) in [
        ("setgroups", "deny"),
        ("uid_map", "0 65534 1"),
        ("gid_map", "0 65534 1"),
    ] {
        std::fs::write(format!("/proc/self/{file}"), text).map_err(|e| format!("{file}: {e}"))?;
    }
    Ok(())
}

/// Unprivileged, inside a user namespace whose gid map the user wrote: `setgroups` is
/// denied for good, so a switch with no supplementary groups leaves them as they are
/// instead of failing, and one that asks for groups fails with the kernel's EPERM.
#[test]
fn user_switch_in_an_unprivileged_user_namespace_with_setgroups_denied() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    iso_testutil::in_child(|| {
        unprivileged_user_namespace()?;
        UserSwitch::new(0, 0)
            .keep(Capability::NetBindService)
            .apply()
            .map_err(s)?;
        let eff = status_line("CapEff")?;
        check(eff == "0000000000000400", || format!("CapEff {eff}"))?;
        let err = UserSwitch::new(0, 0).groups([0]).apply().unwrap_err();
        check(err.errno() == Some(libc::EPERM), || format!("{err}"))
    });
}
