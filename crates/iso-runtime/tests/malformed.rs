//! Malformed-input corpus: every case in `tests/malformed/*.json` turns the fixture's valid
//! config into a hostile or broken one, runs `iso-runtime create`, and checks that it fails,
//! that the message names the field, and that nothing is left behind (state entry, cgroup,
//! mount, process).
//!
//! A case file is a JSON object:
//! - `raw`: the whole config.json text (truncated JSON, not an object, ...), or
//! - `raw-append`: text appended to the valid config (trailing garbage), or
//! - `set`: `{json-pointer: value}` applied to the valid config (an index one past the end
//!   of an array appends), `remove`: `[json-pointer]`, and `repeat`:
//!   `{json-pointer: [prefix, char, count]}` for very long strings;
//! - `expect`: substrings, at least one of which the error output must contain;
//! - `known_bug` (optional): why the runtime fails this case today. Such cases are left out
//!   of the main test and run by the ignored `known_bugs` test; delete the key once fixed.
//!   No case has one now: the last twelve were fixed by the load-time checks of
//!   `src/validate.rs`, which refuse the config before anything is created.

use std::fs;
use std::path::Path;

use iso_testutil::bundle::{text, Fixture};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_iso-runtime");

struct Case {
    name: String,
    spec: Value,
}

fn corpus() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed");
    let mut cases: Vec<Case> = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| Case {
            name: p.file_stem().unwrap().to_string_lossy().into_owned(),
            spec: serde_json::from_slice(&fs::read(&p).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", p.display())),
        })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}

/// Sets `value` at `pointer`, creating objects on the way; an array index equal to the
/// length appends.
fn set(config: &mut Value, pointer: &str, value: Value) {
    let mut cur = config;
    let parts: Vec<&str> = pointer.split('/').skip(1).collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        if cur.is_null() {
            *cur = Value::Object(Default::default());
        }
        cur = match cur {
            Value::Array(a) => {
                let idx: usize = part.parse().unwrap();
                if idx == a.len() {
                    a.push(Value::Null);
                }
                &mut a[idx]
            }
            Value::Object(o) => o.entry(part.to_string()).or_insert(Value::Null),
            other => panic!("{pointer}: cannot descend into {other}"),
        };
        if last {
            *cur = value;
            return;
        }
    }
}

fn remove(config: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let p = config.pointer_mut(parent).unwrap();
    p.as_object_mut().unwrap().remove(key);
}

/// The config.json bytes for a case.
fn build(fx: &Fixture, spec: &Value) -> Vec<u8> {
    if let Some(raw) = spec["raw"].as_str() {
        return raw.as_bytes().to_vec();
    }
    let mut config = fx.config("true");
    if let Some(m) = spec["set"].as_object() {
        for (ptr, v) in m {
            set(&mut config, ptr, v.clone());
        }
    }
    if let Some(m) = spec["repeat"].as_object() {
        for (ptr, v) in m {
            let prefix = v[0].as_str().unwrap();
            let ch = v[1].as_str().unwrap();
            let n = v[2].as_u64().unwrap() as usize;
            set(
                &mut config,
                ptr,
                Value::String(format!("{prefix}{}", ch.repeat(n))),
            );
        }
    }
    if let Some(list) = spec["remove"].as_array() {
        for ptr in list {
            remove(&mut config, ptr.as_str().unwrap());
        }
    }
    let mut data = serde_json::to_vec_pretty(&config).unwrap();
    if let Some(tail) = spec["raw-append"].as_str() {
        data.extend_from_slice(tail.as_bytes());
    }
    data
}

/// Runs one case; returns what went wrong, if anything.
fn check(case: &Case) -> Option<String> {
    let mut fx = Fixture::new(
        BIN,
        &format!("mal-{}", &case.name[..case.name.len().min(20)]),
    )?;
    fx.write_config_raw(&build(&fx, &case.spec));
    let id = fx.id(&format!("mal-{}", case.name));
    let out = fx.rt(&["create", &id]);
    let err = text(&out.stderr);
    let mut problems = Vec::new();
    if out.status.success() {
        problems.push("create succeeded".to_string());
    } else {
        let expect: Vec<&str> = case.spec["expect"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !expect.is_empty() && !expect.iter().any(|e| err.contains(e)) {
            problems.push(format!("message names none of {expect:?}"));
        }
    }
    // Only a failed create must leave nothing: a (wrongly) successful one is deleted by the
    // fixture, and reported above.
    if !out.status.success() {
        for l in fx.leftovers(&id) {
            problems.push(format!("left behind: {l}"));
        }
    }
    for escape in ["/tmp/iso-malformed-escape", "/tmp/iso-malformed-dev"] {
        if Path::new(escape).exists() {
            let _ = fs::remove_dir(escape);
            let _ = fs::remove_file(escape);
            problems.push(format!("created {escape} on the host"));
        }
    }
    (!problems.is_empty()).then(|| {
        let short: String = err.chars().take(300).collect();
        format!(
            "{}: {}\n    stderr: {}",
            case.name,
            problems.join("; "),
            short.trim()
        )
    })
}

/// Every corpus case fails cleanly. All cases run; the failures are reported together.
#[test]
fn malformed_configs_fail_create_naming_the_field_and_leave_nothing() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    let cases = corpus();
    assert!(cases.len() >= 40, "corpus has only {} cases", cases.len());
    run_cases(cases.iter().filter(|c| c.spec["known_bug"].is_null()));
}

/// The cases the runtime gets wrong today (their `known_bug` says how).
#[test]
#[ignore = "runtime bugs: see the known_bug key of the corpus cases"]
fn known_bugs() {
    if !iso_testutil::root_or_skip() {
        return;
    }
    let cases = corpus();
    run_cases(cases.iter().filter(|c| !c.spec["known_bug"].is_null()));
}

/// Runs the cases (only `ISO_MALFORMED_CASE` if set) and reports every failure at once.
fn run_cases<'a>(cases: impl Iterator<Item = &'a Case>) {
    let only = std::env::var("ISO_MALFORMED_CASE").ok();
    let cases: Vec<&Case> = cases
        .filter(|c| only.as_deref().map_or(true, |o| c.name == o))
        .collect();
    let failures: Vec<String> = cases.iter().filter_map(|c| check(c)).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Hostile container ids on the command line are refused before anything is created.
#[test]
fn hostile_container_ids_are_refused() {
    let Some(fx) = Fixture::new(BIN, "mal-ids") else {
        return;
    };
    fx.write_config(&fx.config("true"));
    let long = "i".repeat(5000);
    for id in ["", ".", "..", "../escape", "a/b", "/abs", &long, "sp ace"] {
        let out = fx.rt(&["create", "--", id]);
        let err = text(&out.stderr);
        if out.status.success() {
            let _ = fx.rt(&["delete", "--force", "--", id]);
            panic!("id {id:?} accepted");
        }
        assert!(err.to_lowercase().contains("id"), "id {id:?}: {err}");
        assert!(!fx.path().join("escape").exists());
        let left = fx.leftovers("\0never");
        assert!(left.is_empty(), "id {id:?} left {left:?}");
    }
}

/// A `config.json` that never ends (a symlink to `/dev/zero`) or is huge (a sparse 1 TiB
/// file) is refused after reading 4 MiB, naming the file and the limit; so is an `exec
/// --process` file. The commands run under a 512 MiB address-space limit: a runtime that
/// read without bound would die of an allocation failure instead of taking the machine's
/// memory, and fail the test.
#[test]
fn endless_and_huge_config_files_are_refused_at_the_size_limit() {
    use std::os::unix::process::CommandExt;
    let Some(mut fx) = Fixture::new(BIN, "mal-size") else {
        return;
    };
    let id = fx.id("mal-size");
    let config = fx.bundle().join("config.json");
    let zero = fx.path().join("zero.json");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let bounded = |args: &[&str]| {
        let mut cmd = fx.cmd(args);
        // SAFETY: setrlimit is async-signal-safe and touches only the child's limits.
        unsafe {
            cmd.pre_exec(|| {
                let limit = libc::rlimit {
                    rlim_cur: 512 << 20,
                    rlim_max: 512 << 20,
                };
                if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        iso_testutil::bundle::run_to_files(cmd, fx.path())
    };
    let refused = |out: &std::process::Output, file: &Path, what: &str| {
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{what}: accepted");
        assert!(
            err.contains(&file.display().to_string()) && err.contains("4194304 bytes"),
            "{what}: {err}"
        );
    };
    let _ = fs::remove_file(&config);
    std::os::unix::fs::symlink("/dev/zero", &config).unwrap();
    refused(
        &bounded(&["create", &id]),
        &config,
        "config.json -> /dev/zero",
    );
    assert_eq!(fx.leftovers(&id), Vec::<String>::new());
    fs::remove_file(&config).unwrap();
    fs::File::create(&config).unwrap().set_len(1 << 40).unwrap();
    refused(&bounded(&["create", &id]), &config, "1 TiB config.json");
    assert_eq!(fx.leftovers(&id), Vec::<String>::new());
    let zero_arg = zero.to_str().unwrap();
    refused(
        &bounded(&["exec", "--process", zero_arg, &id]),
        &zero,
        "exec --process /dev/zero",
    );
}
