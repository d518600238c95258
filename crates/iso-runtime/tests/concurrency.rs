//! Concurrency: many `iso-runtime` processes at once on one state root.
//!
//! - 200 lifecycles (create, start, state, delete --force) run by [`WORKERS`] threads at once
//!   over [`IDS`] container ids, so that several lifecycles want the same id at the same time
//!   (a lifecycle whose create is refused tries the next id, and after a round of refusals
//!   waits a moment and starts over), while a watcher keeps running
//!   `list` and `state` and reading the records on disk;
//! - concurrent commands on one id: `kill` during `start`, `delete --force` during `exec`,
//!   `state` during `delete --force`, each for several rounds.
//!
//! Every command either succeeds or fails with an error that names the container; the
//! state never reads as corrupt (`state` and `list` print JSON that parses, `list` shows
//! only known ids with a known status, every `state.json` parses); and at the end nothing
//! is left: no process, cgroup, mount or state entry.
//!
//! The parallelism is bounded for a 2-core CI machine, but each container has its own
//! bundle and cgroup (below the fixture's), so the commands really overlap.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use iso_testutil::bundle::{text, Fixture};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_iso-runtime");

/// Threads running lifecycles at once.
const WORKERS: usize = 8;
/// Distinct container ids the lifecycles share: fewer than the workers, so that lifecycles
/// running at the same time often want the same id.
const IDS: usize = 6;
/// Lifecycles in all.
const LIFECYCLES: usize = 200;

const STATUSES: &[&str] = &["creating", "created", "running", "stopped", "paused"];

/// A bundle of its own for container `id`: the fixture's rootfs (by absolute path) and a
/// cgroup `<fixture cgroup>/<id>`.
fn bundle_for(fx: &Fixture, id: &str, script: &str) -> PathBuf {
    let dir = fx.path().join("bundles").join(id);
    fs::create_dir_all(&dir).unwrap();
    let mut config = fx.config(script);
    config["root"]["path"] = json!(fx.rootfs());
    config["linux"]["cgroupsPath"] = json!(format!("{}/{id}", fx.cgroup()));
    fs::write(
        dir.join("config.json"),
        serde_json::to_vec_pretty(&config).unwrap(),
    )
    .unwrap();
    dir
}

/// What went wrong, collected from every thread.
#[derive(Default)]
struct Problems(Mutex<Vec<String>>);

impl Problems {
    fn add(&self, p: String) {
        self.0.lock().unwrap().push(p);
    }

    /// A command's outcome: success, or a failure that names `id`.
    fn check(&self, what: &str, id: &str, out: &Output) -> bool {
        if out.status.success() {
            return true;
        }
        let err = text(&out.stderr);
        if !err.contains(id) {
            self.add(format!("{what} {id} failed without naming it: {err}"));
        }
        false
    }

    fn assert_none(&self) {
        let p = self.0.lock().unwrap();
        assert!(p.is_empty(), "{} problems:\n{}", p.len(), p.join("\n"));
    }
}

/// `state <id>`: the JSON parses, names the id and has a known status (or the command
/// failed naming the id).
fn check_state(fx: &Fixture, id: &str, problems: &Problems) {
    let out = fx.rt(&["state", id]);
    if !problems.check("state", id, &out) {
        return;
    }
    match serde_json::from_slice::<Value>(&out.stdout) {
        Ok(st) => {
            if st["id"] != id || !STATUSES.contains(&st["status"].as_str().unwrap_or("")) {
                problems.add(format!("state {id}: unexpected {st}"));
            }
        }
        Err(e) => problems.add(format!("state {id}: {e}: {}", text(&out.stdout))),
    }
}

/// `list --format json` parses and shows only `ids` with known statuses; every record on
/// disk parses.
fn check_list(fx: &Fixture, ids: &[String], problems: &Problems) {
    let out = fx.rt(&["list", "--format", "json"]);
    if !out.status.success() {
        problems.add(format!("list failed: {}", text(&out.stderr)));
        return;
    }
    match serde_json::from_slice::<Value>(&out.stdout) {
        Ok(Value::Array(list)) => {
            for c in list {
                let id = c["id"].as_str().unwrap_or("");
                if !ids.iter().any(|i| i == id)
                    || !STATUSES.contains(&c["status"].as_str().unwrap_or(""))
                {
                    problems.add(format!("list shows {c}"));
                }
            }
        }
        Ok(Value::Null) => {}
        Ok(other) => problems.add(format!("list printed {other}")),
        Err(e) => problems.add(format!("list: {e}: {}", text(&out.stdout))),
    }
    check_records(&fx.root(), problems);
}

/// Every `state.json` under the state root parses (records are replaced atomically).
fn check_records(root: &Path, problems: &Problems) {
    let Ok(rd) = fs::read_dir(root) else {
        return;
    };
    for e in rd.flatten() {
        let record = e.path().join("state.json");
        // Gone in between: deleted, which is fine.
        let Ok(data) = fs::read(&record) else {
            continue;
        };
        if let Err(err) = serde_json::from_slice::<Value>(&data) {
            problems.add(format!("{}: {err}", record.display()));
        }
    }
}

/// Nothing of the fixture is left: no container cgroup below the fixture's in any
/// hierarchy, then (with the parent cgroups removed) nothing else either.
fn assert_clean(fx: &Fixture, ids: &[String]) {
    let mut left = Vec::new();
    for d in fx.cgroup_dirs() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                left.push(format!("cgroup {}", e.path().display()));
            }
        }
    }
    fx.remove_cgroups();
    for id in ids {
        left.extend(fx.leftovers_after(id, Duration::from_secs(5)));
    }
    left.sort();
    left.dedup();
    assert!(left.is_empty(), "left behind: {left:#?}");
}

#[test]
fn parallel_lifecycles_with_overlapping_ids() {
    let Some(mut fx) = Fixture::new(BIN, "harden-conc") else {
        return;
    };
    // Registered with the fixture, which deletes them even when the test fails.
    let ids: Vec<String> = (0..IDS).map(|i| fx.id(&format!("harden-c{i}"))).collect();
    let fx = fx;
    let bundles: Vec<PathBuf> = ids
        .iter()
        .map(|id| bundle_for(&fx, id, "sleep 1000"))
        .collect();
    let problems = Problems::default();
    let next = Mutex::new(0usize);
    let done = AtomicBool::new(false);
    let (mut created, mut refused) = (Mutex::new(0usize), Mutex::new(0usize));
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                check_list(&fx, &ids, &problems);
                for id in &ids {
                    check_state(&fx, id, &problems);
                }
            }
        });
        let workers: Vec<_> = (0..WORKERS)
            .map(|_| {
                s.spawn(|| loop {
                    let k = {
                        let mut n = next.lock().unwrap();
                        if *n == LIFECYCLES {
                            return;
                        }
                        *n += 1;
                        *n - 1
                    };
                    // Starting at its own id, the first free one: a taken id is refused.
                    // When all are taken, try again a little later (for a bounded time:
                    // ids that never come free are a failure of their own).
                    let deadline = Instant::now() + Duration::from_secs(60);
                    let free = (0..)
                        .map(|j| &ids[(k + j) % IDS])
                        .take_while(|_| Instant::now() < deadline)
                        .find(|id| {
                            let i = ids.iter().position(|x| x == *id).unwrap();
                            let bundle = bundles[i].to_str().unwrap();
                            let out = fx.rt(&["create", "--bundle", bundle, id]);
                            if problems.check("create", id, &out) {
                                return true;
                            }
                            *refused.lock().unwrap() += 1;
                            if i == (k + IDS - 1) % IDS {
                                std::thread::sleep(Duration::from_millis(10));
                            }
                            false
                        });
                    let Some(id) = free else {
                        problems.add(format!("lifecycle {k} found no free id"));
                        continue;
                    };
                    *created.lock().unwrap() += 1;
                    let out = fx.rt(&["start", id]);
                    problems.check("start", id, &out);
                    check_state(&fx, id, &problems);
                    let out = fx.rt(&["delete", "--force", id]);
                    problems.check("delete --force", id, &out);
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
    });
    let (created, refused) = (*created.get_mut().unwrap(), *refused.get_mut().unwrap());
    eprintln!("{created} lifecycles ran, {refused} creates refused (id in use)");
    problems.assert_none();
    assert!(
        created >= LIFECYCLES / 4,
        "only {created} creates succeeded"
    );
    for id in &ids {
        let _ = fx.rt(&["delete", "--force", id]);
    }
    assert_clean(&fx, &ids);
}

/// Rounds of each race on one id.
const ROUNDS: usize = 8;

/// Runs the runtime commands `a` and `b` at the same moment; returns both outputs.
fn race(fx: &Fixture, a: &[&str], b: &[&str]) -> (Output, Output) {
    let barrier = Barrier::new(2);
    std::thread::scope(|s| {
        let first = s.spawn(|| {
            barrier.wait();
            fx.rt(a)
        });
        barrier.wait();
        let second = fx.rt(b);
        (first.join().unwrap(), second)
    })
}

/// One id, `rounds` times: `prepare` (must succeed), then the race; then `delete --force`
/// and nothing left, `list` consistent.
fn one_id_rounds(tag: &str, body: impl Fn(&Fixture, &str, &Problems)) {
    let Some(mut fx) = Fixture::new(BIN, tag) else {
        return;
    };
    fx.write_config(&fx.config("sleep 1000"));
    let id = fx.id(tag);
    let problems = Problems::default();
    for round in 0..ROUNDS {
        body(&fx, &id, &problems);
        check_list(&fx, std::slice::from_ref(&id), &problems);
        let out = fx.rt(&["delete", "--force", &id]);
        assert!(
            out.status.success(),
            "round {round}: delete --force: {}",
            text(&out.stderr)
        );
        let left = fx.leftovers_after(&id, Duration::from_secs(5));
        assert!(left.is_empty(), "round {round}: left behind: {left:?}");
    }
    problems.assert_none();
}

/// A command's outcome for the test log.
fn outcome(out: &Output) -> String {
    match out.status.code() {
        Some(0) => "ok".into(),
        _ => format!("{:?}: {}", out.status, text(&out.stderr).trim()),
    }
}

fn must(fx: &Fixture, args: &[&str]) {
    let out = fx.rt(args);
    assert!(
        out.status.success(),
        "{}: {}",
        args.join(" "),
        text(&out.stderr)
    );
}

#[test]
fn kill_during_start() {
    one_id_rounds("harden-killstart", |fx, id, problems| {
        must(fx, &["create", id]);
        let (start, kill) = race(fx, &["start", id], &["kill", id, "KILL"]);
        eprintln!("start {}, kill {}", outcome(&start), outcome(&kill));
        problems.check("start", id, &start);
        problems.check("kill", id, &kill);
        check_state(fx, id, problems);
    });
}

#[test]
fn delete_during_exec() {
    one_id_rounds("harden-delexec", |fx, id, problems| {
        must(fx, &["create", id]);
        must(fx, &["start", id]);
        let (exec, delete) = race(
            fx,
            &["exec", id, "--", "sleep", "2"],
            &["delete", "--force", id],
        );
        eprintln!("exec {}, delete {}", outcome(&exec), outcome(&delete));
        // The exec'd process killed by the delete is its exit status (128 + SIGKILL), not
        // a runtime failure.
        let killed = exec.status.code() == Some(128 + 9) && exec.stderr.is_empty();
        if !killed {
            problems.check("exec", id, &exec);
        }
        problems.check("delete --force", id, &delete);
        check_state(fx, id, problems);
    });
}

#[test]
fn state_during_delete() {
    one_id_rounds("harden-statedel", |fx, id, problems| {
        must(fx, &["create", id]);
        must(fx, &["start", id]);
        let deleting = AtomicBool::new(true);
        let states = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            s.spawn(|| {
                let out = fx.rt(&["delete", "--force", id]);
                eprintln!(
                    "delete {} during {} states",
                    outcome(&out),
                    states.load(Ordering::Relaxed)
                );
                problems.check("delete --force", id, &out);
                deleting.store(false, Ordering::Relaxed);
            });
            // Two readers, so that reads land at more moments of the delete.
            let reader = || {
                while deleting.load(Ordering::Relaxed) {
                    check_state(fx, id, problems);
                    states.fetch_add(1, Ordering::Relaxed);
                }
            };
            s.spawn(reader);
            reader();
        });
        check_state(fx, id, problems);
    });
}
