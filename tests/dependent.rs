//! The crates as other people's dependencies: `tests/dependent/program.rs` is compiled as a
//! cargo project of its own, outside this workspace, that depends by path on iso-cgroups,
//! iso-seccomp and iso-linux only. It names `Pid`, errors and limits through those crates'
//! re-exports, so this fails when a type a dependent needs is reachable only through a
//! crate it did not ask for (iso-sys), or when a conversion it relies on goes away.

use std::path::Path;
use std::process::Command;

#[test]
fn a_dependent_project_compiles_with_only_the_reexported_types() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Kept between runs (under target/tmp) so that the second run is incremental.
    let project = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dependent-project");
    std::fs::create_dir_all(project.join("src")).unwrap();
    let dep = |name: &str, dir: &Path| format!("{name} = {{ path = {:?} }}\n", dir.display());
    let manifest = format!(
        "[package]\nname = \"iso-dependent\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
         [dependencies]\n{}{}{}\n[workspace]\n",
        dep("iso-cgroups", &root.join("crates/iso-cgroups")),
        dep("iso-seccomp", &root.join("crates/iso-seccomp")),
        dep("iso-linux", root),
    );
    std::fs::write(project.join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(
        root.join("tests/dependent/program.rs"),
        project.join("src/main.rs"),
    )
    .unwrap();
    // The workspace's lock file, so that --offline finds every version already fetched.
    std::fs::copy(root.join("Cargo.lock"), project.join("Cargo.lock")).unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["check", "--offline", "--quiet", "--manifest-path"])
        .arg(project.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", project.join("target"))
        .env("RUSTFLAGS", "-D warnings")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the dependent project does not compile:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // It names no iso-sys: the re-exports are what it used.
    let manifest = std::fs::read_to_string(project.join("Cargo.toml")).unwrap();
    assert!(!manifest.contains("iso-sys"));
}
