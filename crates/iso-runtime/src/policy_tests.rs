//! Unit tests of every default and ceiling on `Spec` values.

use super::*;
use proptest::prelude::*;

fn spec(v: Value) -> Spec {
    serde_json::from_value(v).expect("test spec parses")
}

fn base() -> Value {
    json!({
        "ociVersion": "1.0.2",
        "process": {"args": ["/bin/sh"], "cwd": "/", "user": {"uid": 0, "gid": 0},
                    "capabilities": {"bounding": ["CAP_KILL", "CAP_SYS_ADMIN"],
                                     "effective": ["CAP_KILL", "CAP_SYS_ADMIN"]}},
        "root": {"path": "rootfs"},
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "mount"}]}
    })
}

fn policy(text: &str) -> Policy {
    Policy::from_toml(text).expect("test policy parses")
}

fn applied(p: &str, v: Value) -> (Value, Vec<Change>) {
    let (s, c) = policy(p).apply(&spec(v)).expect("policy applies");
    (serde_json::to_value(s).expect("serialises"), c)
}

fn rejected(p: &str, v: Value) -> String {
    policy(p)
        .apply(&spec(v))
        .expect_err("policy rejects")
        .to_string()
}

fn with(mut v: Value, path: &[&str], val: Value) -> Value {
    set(&mut v, path, val);
    v
}

const PIDS: [&str; 4] = ["linux", "resources", "pids", "limit"];

#[test]
fn pids_default_fills_only_unset() {
    let (v, c) = applied("[defaults]\npids = 500", base());
    assert_eq!(get(&v, &PIDS), Some(&json!(500)));
    assert_eq!(c[0].rule, "defaults.pids");
    assert_eq!(c[0].field, "linux.resources.pids.limit");
    for own in [0, -1, 42] {
        let (v, c) = applied("[defaults]\npids = 500", with(base(), &PIDS, json!(own)));
        assert_eq!(get(&v, &PIDS), Some(&json!(own)), "own limit {own} is kept");
        assert!(c.is_empty());
    }
}

#[test]
fn memory_and_swap_defaults() {
    let p = "[defaults]\nmemory = 1000\nmemory_swap = 2000";
    let (v, _) = applied(p, base());
    assert_eq!(
        get(&v, &["linux", "resources", "memory", "limit"]),
        Some(&json!(1000))
    );
    assert_eq!(
        get(&v, &["linux", "resources", "memory", "swap"]),
        Some(&json!(2000))
    );
    // An own swap smaller than the default memory keeps the config valid.
    let own = with(
        base(),
        &["linux", "resources", "memory", "swap"],
        json!(500),
    );
    let (v, _) = applied(p, own);
    assert_eq!(
        get(&v, &["linux", "resources", "memory", "limit"]),
        Some(&json!(500))
    );
    assert_eq!(
        get(&v, &["linux", "resources", "memory", "swap"]),
        Some(&json!(500))
    );
    // An own memory above the default swap gets a swap no smaller than it.
    let own = with(
        base(),
        &["linux", "resources", "memory", "limit"],
        json!(5000),
    );
    let (v, _) = applied(p, own);
    assert_eq!(
        get(&v, &["linux", "resources", "memory", "swap"]),
        Some(&json!(5000))
    );
}

#[test]
fn cpu_defaults() {
    let p = "[defaults]\ncpu_quota = 50000\ncpu_period = 100000\ncpu_shares = 512";
    let own = with(
        base(),
        &["linux", "resources", "cpu", "shares"],
        json!(2048),
    );
    let (v, c) = applied(p, own);
    assert_eq!(
        get(&v, &["linux", "resources", "cpu", "quota"]),
        Some(&json!(50000))
    );
    assert_eq!(
        get(&v, &["linux", "resources", "cpu", "period"]),
        Some(&json!(100000))
    );
    assert_eq!(
        get(&v, &["linux", "resources", "cpu", "shares"]),
        Some(&json!(2048))
    );
    assert_eq!(c.len(), 2);
}

#[test]
fn rlimit_defaults_fill_missing_types_only() {
    let p =
        "[defaults.rlimits]\nnofile = { soft = 1024, hard = 4096 }\ncore = { soft = 0, hard = 0 }";
    let own = with(
        base(),
        &["process", "rlimits"],
        json!([{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20}]),
    );
    let (v, c) = applied(p, own);
    let list = get(&v, &["process", "rlimits"])
        .and_then(Value::as_array)
        .cloned();
    let list = list.expect("rlimits");
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["soft"], json!(10));
    assert_eq!(list[1]["type"], json!("RLIMIT_CORE"));
    assert_eq!(c.len(), 1);
    assert!(Policy::from_toml("[defaults.rlimits]\nstack = { soft = 1, hard = 1 }").is_err());
}

#[test]
fn no_new_privileges_readonly_root_and_paths() {
    let p = "[defaults]\nno_new_privileges = true\nreadonly_root = true\n\
             masked_paths = [\"/proc/kcore\", \"/proc/acpi\"]\nreadonly_paths = [\"/proc/sys\"]";
    let own = with(base(), &["linux", "maskedPaths"], json!(["/proc/kcore"]));
    let (v, _) = applied(p, own);
    assert_eq!(get(&v, &["process", "noNewPrivileges"]), Some(&json!(true)));
    assert_eq!(get(&v, &["root", "readonly"]), Some(&json!(true)));
    assert_eq!(
        get(&v, &["linux", "maskedPaths"]),
        Some(&json!(["/proc/kcore", "/proc/acpi"]))
    );
    assert_eq!(
        get(&v, &["linux", "readonlyPaths"]),
        Some(&json!(["/proc/sys"]))
    );
    let own = with(base(), &["process", "noNewPrivileges"], json!(false));
    let own = with(own, &["root", "readonly"], json!(false));
    let (v, _) = applied(p, own);
    assert_eq!(
        get(&v, &["process", "noNewPrivileges"]),
        Some(&json!(false))
    );
    assert_eq!(get(&v, &["root", "readonly"]), Some(&json!(false)));
}

#[test]
fn seccomp_default_profile_when_none() {
    let (v, c) = applied("[defaults]\nseccomp = \"default\"", base());
    let s = get(&v, &["linux", "seccomp"]).expect("profile set");
    assert_eq!(s["defaultAction"], json!("SCMP_ACT_ERRNO"));
    let compiled: oci_spec::runtime::LinuxSeccomp =
        serde_json::from_value(s.clone()).expect("valid");
    iso_seccomp::Profile::try_from(&compiled).expect("compiles back");
    assert_eq!(c[0].field, "linux.seccomp");
    let own = with(
        base(),
        &["linux", "seccomp"],
        json!({"defaultAction": "SCMP_ACT_ALLOW"}),
    );
    let (v, c) = applied("[defaults]\nseccomp = \"default\"", own);
    assert_eq!(
        get(&v, &["linux", "seccomp", "defaultAction"]),
        Some(&json!("SCMP_ACT_ALLOW"))
    );
    assert!(c.is_empty());
    assert!(Policy::from_toml("[defaults]\nseccomp = \"strict\"").is_err());
}

#[test]
fn pids_ceiling_clamps_or_rejects() {
    let clamp = "[ceilings.pids]\nmax = 1000\naction = \"clamp\"";
    let (v, c) = applied(clamp, with(base(), &PIDS, json!(5000)));
    assert_eq!(get(&v, &PIDS), Some(&json!(1000)));
    assert_eq!(
        (c[0].before.as_str(), c[0].after.as_str()),
        ("5000", "1000")
    );
    assert!(c[0].is_clamp());
    for unlimited in [None, Some(json!(-1))] {
        let v0 = match unlimited {
            Some(u) => with(base(), &PIDS, u),
            None => base(),
        };
        let (v, _) = applied(clamp, v0);
        assert_eq!(get(&v, &PIDS), Some(&json!(1000)));
    }
    let (v, c) = applied(clamp, with(base(), &PIDS, json!(0)));
    assert_eq!(
        get(&v, &PIDS),
        Some(&json!(0)),
        "0 is a real limit, below the ceiling"
    );
    assert!(c.is_empty());
    let msg = rejected(
        "[ceilings.pids]\nmax = 1000",
        with(base(), &PIDS, json!(5000)),
    );
    assert!(
        msg.contains("ceilings.pids") && msg.contains("linux.resources.pids.limit"),
        "{msg}"
    );
    // A default below the ceiling satisfies it.
    let (v, _) = applied(
        "[defaults]\npids = 500\n[ceilings.pids]\nmax = 1000",
        base(),
    );
    assert_eq!(get(&v, &PIDS), Some(&json!(500)));
}

#[test]
fn memory_ceiling_keeps_swap_valid() {
    let p = "[ceilings.memory]\nmax = 1000\naction = \"clamp\"";
    let own = with(
        base(),
        &["linux", "resources", "memory"],
        json!({"limit": -1, "swap": 500}),
    );
    let (v, _) = applied(p, own);
    assert_eq!(
        get(&v, &["linux", "resources", "memory", "limit"]),
        Some(&json!(1000))
    );
    assert_eq!(
        get(&v, &["linux", "resources", "memory", "swap"]),
        Some(&json!(1000))
    );
    let msg = rejected("[ceilings.memory]\nmax = 1000", base());
    assert!(msg.contains("linux.resources.memory.limit"), "{msg}");
}

#[test]
fn cpu_ceiling() {
    let p = "[ceilings.cpu]\nmax_cpus = 1.5\naction = \"clamp\"";
    let own = with(
        base(),
        &["linux", "resources", "cpu"],
        json!({"quota": 400000, "period": 100000}),
    );
    let (v, _) = applied(p, own);
    assert_eq!(
        get(&v, &["linux", "resources", "cpu", "quota"]),
        Some(&json!(150000))
    );
    let (v, _) = applied(p, base());
    assert_eq!(
        get(&v, &["linux", "resources", "cpu", "period"]),
        Some(&json!(100000))
    );
    let own = with(
        base(),
        &["linux", "resources", "cpu"],
        json!({"quota": 50000, "period": 100000}),
    );
    assert!(applied(p, own).1.is_empty());
    assert!(rejected("[ceilings.cpu]\nmax_cpus = 1", base()).contains("linux.resources.cpu.quota"));
}

#[test]
fn capability_ceiling() {
    let p = "[ceilings.capabilities]\nallowed = [\"kill\"]\naction = \"clamp\"";
    let (v, c) = applied(p, base());
    assert_eq!(
        get(&v, &["process", "capabilities", "bounding"]),
        Some(&json!(["CAP_KILL"]))
    );
    assert_eq!(
        get(&v, &["process", "capabilities", "effective"]),
        Some(&json!(["CAP_KILL"]))
    );
    assert_eq!(c.len(), 2);
    let msg = rejected("[ceilings.capabilities]\nallowed = [\"CAP_KILL\"]", base());
    assert!(
        msg.contains("CAP_SYS_ADMIN") && msg.contains("process.capabilities.bounding"),
        "{msg}"
    );
}

#[test]
fn namespace_ceiling() {
    let p = "[ceilings.namespaces]\nforbid_host = [\"network\", \"ipc\"]\naction = \"clamp\"";
    let own = with(
        base(),
        &["linux", "namespaces"],
        json!([{"type": "pid"}, {"type": "network", "path": "/proc/self/ns/net"}, {"type": "mount"}]),
    );
    let (v, c) = applied(p, own);
    let ns = get(&v, &["linux", "namespaces"])
        .cloned()
        .expect("namespaces");
    assert!(
        ns.as_array().is_some_and(
            |a| a.contains(&json!({"type": "network"})) && a.contains(&json!({"type": "ipc"}))
        ),
        "{ns}"
    );
    assert_eq!(c.len(), 2);
    // The base config has its own network namespace; ipc is the host's (absent).
    let msg = rejected(
        "[ceilings.namespaces]\nforbid_host = [\"network\", \"ipc\"]",
        base(),
    );
    assert!(msg.contains("linux.namespaces[ipc]"), "{msg}");
    // A user namespace cannot be invented by a clamp (it needs id mappings).
    let msg = rejected(
        "[ceilings.namespaces]\nforbid_host = [\"user\"]\naction = \"clamp\"",
        base(),
    );
    assert!(msg.contains("user"), "{msg}");
    assert!(Policy::from_toml("[ceilings.namespaces]\nforbid_host = [\"net\"]").is_err());
}

#[test]
fn device_ceiling() {
    let devs = json!([{"allow": false, "access": "rwm"},
                      {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                      {"allow": true, "access": "rwm"}]);
    let own = with(base(), &["linux", "resources", "devices"], devs);
    let msg = rejected("[ceilings.devices]\nforbid = [\"a *:* rwm\"]", own.clone());
    assert!(msg.contains("linux.resources.devices[1]"), "{msg}");
    let (v, c) = applied(
        "[ceilings.devices]\nforbid = [\"c 1:3 m\", \"b *:* rwm\"]\naction = \"clamp\"",
        own,
    );
    let list = get(&v, &["linux", "resources", "devices"])
        .cloned()
        .expect("devices");
    assert_eq!(list[1]["access"], json!("rw"));
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(2),
        "the a *:* grant overlaps b *:* and goes"
    );
    assert_eq!(c.len(), 2);
    assert!(Policy::from_toml("[ceilings.devices]\nforbid = [\"x 1:1 r\"]").is_err());
}

#[test]
fn mount_ceiling_names_the_mount() {
    let mounts = json!([{"destination": "/proc", "type": "proc", "source": "proc"},
                        {"destination": "/host", "type": "bind", "source": "/etc/../etc", "options": ["rbind"]},
                        {"destination": "/all", "source": "/", "options": ["bind", "ro"]},
                        {"destination": "/data", "source": "/srv/data", "options": ["bind"]}]);
    let own = with(base(), &["mounts"], mounts);
    let msg = rejected(
        "[ceilings.mounts]\nforbid_sources = [\"/etc\"]",
        own.clone(),
    );
    assert!(
        msg.contains("ceilings.mounts") && msg.contains("mounts[1]") && msg.contains("/host"),
        "{msg}"
    );
    let (v, c) = applied(
        "[ceilings.mounts]\nforbid_sources = [\"/etc/passwd\"]\naction = \"clamp\"",
        own,
    );
    let dests: Vec<_> = get(&v, &["mounts"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|m| m["destination"].clone())
        .collect();
    assert_eq!(dests, vec![json!("/proc"), json!("/data")]);
    assert_eq!(c[1].field, "mounts[2]");
}

#[test]
fn sysctl_ceiling() {
    let own = with(
        base(),
        &["linux", "sysctl"],
        json!({"kernel.shmmax": "1", "net.ipv4.ip_forward": "1"}),
    );
    let (v, c) = applied(
        "[ceilings.sysctls]\nforbid = [\"kernel.*\"]\naction = \"clamp\"",
        own.clone(),
    );
    assert_eq!(
        get(&v, &["linux", "sysctl"]),
        Some(&json!({"net.ipv4.ip_forward": "1"}))
    );
    assert_eq!(c[0].field, "linux.sysctl.kernel.shmmax");
    assert!(rejected(
        "[ceilings.sysctls]\nforbid = [\"net.ipv4.ip_forward\"]",
        own
    )
    .contains("linux.sysctl.net.ipv4.ip_forward"));
}

#[test]
fn update_is_held_to_the_numeric_ceilings() {
    let res = |v: Value| -> oci_spec::runtime::LinuxResources {
        serde_json::from_value(v).expect("resources parse")
    };
    let p = policy("[ceilings.pids]\nmax = 100\n[ceilings.memory]\nmax = 1000\naction = \"clamp\"");
    let msg = p
        .apply_update(&res(json!({"pids": {"limit": 500}})))
        .expect_err("rejects");
    assert!(
        msg.to_string().contains("linux.resources.pids.limit"),
        "{msg}"
    );
    let (r, c) = p
        .apply_update(&res(json!({"memory": {"limit": 5000}})))
        .expect("clamps");
    assert_eq!(r.memory().as_ref().and_then(|m| m.limit()), Some(1000));
    assert_eq!(c.len(), 1);
    // What the update leaves unset is not checked.
    let (_, c) = p
        .apply_update(&res(json!({"cpu": {"shares": 10}})))
        .expect("passes");
    assert!(c.is_empty());
}

#[test]
fn annotations_record_changes_and_file() {
    let mut p = policy("[defaults]\npids = 7");
    p.source = Some("/etc/iso/policy.toml".into());
    let (s, _) = p.apply_annotated(&spec(base())).expect("applies");
    let notes = s.annotations().clone().unwrap_or_default();
    let changes: Vec<Change> = serde_json::from_str(&notes[ANNOTATION_CHANGES]).expect("json list");
    assert_eq!(changes[0].after, "7");
    assert_eq!(notes[ANNOTATION_FILE], "/etc/iso/policy.toml");
}

#[test]
fn landlock_section_is_recorded_in_its_annotation_once() {
    let text = "[landlock]\nrootfs = \"read-only\"\nwritable = [\"/tmp\"]\nconnect_tcp = [443]\n";
    let v = with(
        base(),
        &["annotations"],
        json!({"org.iso.policy.landlock": "{}"}),
    );
    let (out, changes) = applied(text, v);
    let recorded = out["annotations"]["org.iso.policy.landlock"]
        .as_str()
        .expect("set");
    let section = crate::landlock::parse_policy("p", recorded).expect("recorded section parses");
    assert_eq!(section.writable, [std::path::PathBuf::from("/tmp")]);
    assert_eq!(section.connect_tcp, Some(vec![443]));
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].rule, "landlock");
    assert_eq!(changes[0].before, "{}");
    assert!(!changes[0].is_clamp());
    let (_, again) = applied(text, out);
    assert!(again.is_empty(), "{again:?}");
    for (bad, want) in [
        (
            "[landlock]\nwritable = [\"/tmp\"]\nbind_tcp = []\n",
            "only with",
        ),
        (
            "[landlock]\nrootfs = \"read-only\"\nwritable = [\"tmp\"]\n",
            "writable[0]",
        ),
        ("[landlock]\ncompatibility = \"strict\"\n", "compatibility"),
        ("[landlock]\n", "restricts nothing"),
    ] {
        let e = Policy::from_toml(bad).expect_err(bad).to_string();
        assert!(e.contains(want), "{bad}: {e}");
    }
}

#[test]
fn example_file_parses() {
    let text = include_str!("../policy.example.toml");
    Policy::from_toml(text).expect("policy.example.toml is valid");
}

#[test]
fn locate_order() {
    let dir = iso_testutil::TempDir::new("policy-locate");
    let f = dir.path().join("p.toml");
    std::fs::write(&f, "[defaults]\npids = 3\n").expect("write");
    let p = Policy::locate(Some(&f)).expect("loads").expect("some");
    assert_eq!(p.defaults.pids, Some(3));
    assert_eq!(p.source.as_deref(), Some(f.as_path()));
    let err =
        Policy::locate(Some(&dir.path().join("missing.toml"))).expect_err("missing flag file");
    assert!(err.to_string().contains("missing.toml"));
}

fn arb_policy() -> impl Strategy<Value = String> {
    let lines = prop::collection::vec(
        prop_oneof![
            (-2i64..3000).prop_map(|n| format!("[defaults]\npids = {n}\n")),
            (0i64..1 << 32).prop_map(|n| format!("[defaults]\nmemory = {n}\n")),
            (0i64..3000, any::<bool>()).prop_map(|(n, c)| format!(
                "[ceilings.pids]\nmax = {n}\naction = \"{}\"\n",
                if c { "clamp" } else { "reject" }
            )),
            (0i64..1 << 32)
                .prop_map(|n| format!("[ceilings.memory]\nmax = {n}\naction = \"clamp\"\n")),
            (1u32..400).prop_map(|n| format!(
                "[ceilings.cpu]\nmax_cpus = {}\naction = \"clamp\"\n",
                n as f64 / 100.0
            )),
            Just(
                "[ceilings.capabilities]\nallowed = [\"CAP_KILL\"]\naction = \"clamp\"\n"
                    .to_owned()
            ),
            Just("[ceilings.devices]\nforbid = [\"a *:* m\"]\naction = \"clamp\"\n".to_owned()),
            Just("[defaults]\nreadonly_root = true\nno_new_privileges = false\n".to_owned()),
            Just("[landlock]\nrootfs = \"read-only\"\nwritable = [\"/tmp\"]\n".to_owned()),
        ],
        0..4,
    );
    // Later duplicates of a table are a TOML error: keep the first of each header.
    lines.prop_map(|ls| {
        let mut seen = std::collections::BTreeSet::new();
        ls.into_iter()
            .filter(|l| seen.insert(l.lines().next().unwrap_or("").to_owned()))
            .collect()
    })
}

fn arb_spec() -> impl Strategy<Value = Value> {
    (
        prop::option::of(-1i64..5000),
        prop::option::of(-1i64..1 << 33),
        prop::option::of(-1i64..1 << 33),
        prop::option::of((-1i64..1_000_000, 1000u64..1_000_000)),
        any::<bool>(),
    )
        .prop_map(|(pids, mem, swap, cpu, dev)| {
            let mut v = base();
            if let Some(p) = pids {
                set(&mut v, &PIDS, json!(p));
            }
            if let Some(m) = mem {
                set(&mut v, &["linux", "resources", "memory", "limit"], json!(m));
            }
            // A valid input: swap (memory + swap) is unlimited or no smaller than memory.
            if let Some(s) = swap {
                let s = match mem {
                    Some(m) if m < 0 => -1,
                    Some(m) if s >= 0 => s.max(m),
                    _ => s,
                };
                set(&mut v, &["linux", "resources", "memory", "swap"], json!(s));
            }
            if let Some((q, p)) = cpu {
                set(
                    &mut v,
                    &["linux", "resources", "cpu"],
                    json!({"quota": q, "period": p}),
                );
            }
            if dev {
                set(
                    &mut v,
                    &["linux", "resources", "devices"],
                    json!([{"allow": true, "access": "rwm"}]),
                );
            }
            v
        })
}

proptest! {
    #[test]
    fn parsing_never_panics(text in "\\PC{0,200}") {
        let _ = Policy::from_toml(&text);
    }

    #[test]
    fn parsing_structured_noise_never_panics(
        text in "(\\[(defaults|ceilings\\.(pids|cpu|devices|mounts))\\]\n)?([a-z_]{1,10} = (-?[0-9]{1,20}|\"[a-z *:/]{0,8}\"|\\[\\]|true|[0-9]\\.[0-9])\n){0,4}"
    ) {
        let _ = Policy::from_toml(&text);
    }

    #[test]
    fn apply_is_idempotent_and_valid(p in arb_policy(), v in arb_spec()) {
        let policy = Policy::from_toml(&p);
        prop_assume!(policy.is_ok());
        let policy = policy.unwrap();
        if let Ok((once, _)) = policy.apply(&spec(v)) {
            let (twice, changes) = policy.apply(&once).expect("an applied config passes again");
            prop_assert!(changes.is_empty(), "second pass changed {:?}", changes);
            prop_assert_eq!(&once, &twice);
            let json = serde_json::to_value(&once).expect("serialises");
            let res = &json["linux"]["resources"];
            if let (Some(m), Some(s)) = (res["memory"]["limit"].as_i64(), res["memory"]["swap"].as_i64()) {
                prop_assert!(s < 0 || m < 0 || s >= m, "swap {} below memory {}", s, m);
            }
            if let Some(c) = policy.ceilings.pids {
                let n = res["pids"]["limit"].as_i64().expect("set");
                prop_assert!((0..=c.max).contains(&n));
            }
        }
    }
}
