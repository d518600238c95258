//! Directory creation for mount destinations, while a racer swaps a path component between
//! a directory and a symlink to the host, never creates or mounts anything on the host.

use std::fs;
use std::os::unix::fs::symlink;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::json;

use iso_testutil::bundle::Fixture;

use crate::{mounts_mentioning, BIN};

#[test]
fn mkdir_race_with_symlink_swap_stays_in_rootfs() {
    let Some(mut fx) = Fixture::new(BIN, "sec-race") else {
        return;
    };
    let host = fx.path().join("host");
    fs::create_dir(&host).unwrap();
    let mut config = fx.config("true");
    config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/race/sub/deeper", "type": "tmpfs", "source": "tmpfs"}));
    fx.write_config(&config);
    let race = fx.rootfs().join("race");
    let stop = Arc::new(AtomicBool::new(false));
    let racer = {
        let (stop, race, host) = (stop.clone(), race.clone(), host.clone());
        std::thread::spawn(move || {
            let tmp = race.with_file_name("race.tmp");
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // dir -> symlink (absolute or relative) -> dir, via atomic renames.
                let _ = fs::remove_file(&tmp);
                let _ = if n % 2 == 0 {
                    symlink(&host, &tmp)
                } else {
                    symlink("../../../../../../../..", &tmp)
                };
                let _ = fs::rename(&tmp, &race);
                let _ = fs::remove_file(&race);
                let _ = fs::remove_dir_all(&race);
                let _ = fs::create_dir(&race);
                n += 1;
            }
        })
    };
    let mut started = 0;
    for i in 0..12 {
        started += usize::from(fx.run(&format!("race{i}")).status.success());
        assert!(mounts_mentioning(&host).is_empty(), "mounted on the host");
        assert_eq!(
            fs::read_dir(&host).unwrap().count(),
            0,
            "created on the host"
        );
        assert!(
            !std::path::Path::new("/sub").exists(),
            "created /sub on the host"
        );
    }
    stop.store(true, Ordering::Relaxed);
    racer.join().unwrap();
    eprintln!("{started} of 12 containers ran while racing");
}
