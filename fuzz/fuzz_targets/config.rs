//! config.json loading and validation: `iso_runtime::Bundle::load` on arbitrary bytes.
//! Every input must give `Ok` or an `Err` whose message is not empty; never a panic or hang.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// One bundle directory per fuzzing process (with an empty rootfs), reused for every input.
fn bundle() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("iso-fuzz-config-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("rootfs")).expect("create the fuzz bundle");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = bundle();
    std::fs::write(dir.join("config.json"), data).expect("write config.json");
    match iso_runtime::Bundle::load(dir) {
        Ok(b) => assert!(b.rootfs().starts_with(b.path()) || b.rootfs().is_absolute()),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
