//! Loading an OCI bundle: `config.json` plus the root filesystem it names.
//!
//! Errors name the JSON field that was wrong (`linux.resources.pids.limit: invalid type:
//! string "x", expected i64`), because a person reading `OCI runtime create failed` in an
//! engine's output has nothing else to go on. Unknown properties are ignored, as the runtime
//! specification requires ("MUST NOT generate an error if they encounter an unknown
//! property").

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use crate::Error;

/// A bundle whose configuration parsed and whose root filesystem exists.
///
/// ```no_run
/// let bundle = iso_runtime::Bundle::load("/var/lib/demo/bundle")?;
/// println!("rootfs at {}", bundle.rootfs().display());
/// # Ok::<(), iso_runtime::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Bundle {
    path: PathBuf,
    rootfs: PathBuf,
    spec: Spec,
}

impl Bundle {
    /// Reads `<dir>/config.json` (at most 4 MiB: a symlink to `/dev/zero` or a huge file is
    /// refused, naming the file and the limit), checks it against what a runtime needs to
    /// create a container (a 1.x `ociVersion`, a `root.path` naming a directory, a `process`
    /// with `args`) and against the rules of the `validate` module (no NUL bytes or `..`
    /// components in paths, no duplicate namespaces or rlimits, no mounts over `/proc`
    /// except procfs and the lxcfs files, rlimit soft at most hard, ...), and resolves the
    /// rootfs relative to the bundle. Every error names the field.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, Error> {
        let dir = dir.as_ref();
        let path = fs::canonicalize(dir).map_err(|e| Error::io("open bundle", dir, e))?;
        let config = path.join("config.json");
        let data = read_config_file(&config)?;
        let spec = parse_config(&data).map_err(|reason| Error::Config {
            path: config.clone(),
            reason,
        })?;
        let invalid = |field: &'static str, reason: String| Error::ConfigField {
            path: config.clone(),
            field,
            reason,
        };
        if !spec.version().starts_with("1.") {
            return Err(invalid(
                "ociVersion",
                format!("{:?} is not a 1.x version", spec.version()),
            ));
        }
        let root = spec
            .root()
            .as_ref()
            .ok_or_else(|| invalid("root", "is required".into()))?;
        if root.path().as_os_str().is_empty() {
            return Err(invalid("root.path", "is empty".into()));
        }
        let rootfs = path.join(root.path());
        match fs::metadata(&rootfs) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(invalid(
                    "root.path",
                    format!("{} is not a directory", rootfs.display()),
                ))
            }
            Err(e) => return Err(invalid("root.path", format!("{}: {e}", rootfs.display()))),
        }
        let process = spec
            .process()
            .as_ref()
            .ok_or_else(|| invalid("process", "is required to create a container".into()))?;
        match process.args() {
            Some(args) if !args.is_empty() => {}
            _ => return Err(invalid("process.args", "must name a program".into())),
        }
        crate::validate::config(&spec).map_err(|e| Error::ConfigValue {
            path: config.clone(),
            field: e.field,
            reason: e.reason,
        })?;
        Ok(Bundle { path, rootfs, spec })
    }

    /// The bundle directory, absolute.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The root filesystem, absolute (`root.path` joined to the bundle when relative).
    pub fn rootfs(&self) -> &Path {
        &self.rootfs
    }

    /// The parsed configuration.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }
}

/// The largest configuration file read (`config.json`, `exec --process`, `update -r`): 4 MiB.
/// The configs runc and the engines write are a few kilobytes; the bound keeps a symlink to
/// `/dev/zero` or a huge file from being read until memory runs out.
pub(crate) const MAX_CONFIG_BYTES: u64 = 4 << 20;

/// Reads the configuration file at `path` (following a symlink, as runc does), at most
/// [`MAX_CONFIG_BYTES`].
pub(crate) fn read_config_file(path: &Path) -> Result<Vec<u8>, Error> {
    let file = fs::File::open(path).map_err(|e| Error::io("read", path, e))?;
    read_config(file, path)
}

/// Reads a configuration from `src` (named `path` in errors): at most one byte more than
/// [`MAX_CONFIG_BYTES`], so that an endless source ends at once, and refused if it had that
/// byte.
pub(crate) fn read_config(src: impl Read, path: &Path) -> Result<Vec<u8>, Error> {
    // Without a size hint (one `statx` fewer than `fs::read`); runc-sized configs fit the
    // first buffer.
    let mut data = Vec::with_capacity(16 << 10);
    src.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut data)
        .map_err(|e| Error::io("read", path, e))?;
    if data.len() as u64 > MAX_CONFIG_BYTES {
        return Err(Error::Config {
            path: path.to_path_buf(),
            reason: format!(
                "larger than {MAX_CONFIG_BYTES} bytes (4 MiB), the most a configuration file \
                 may hold"
            ),
        });
    }
    Ok(data)
}

/// Parses `config.json` bytes; the error text starts with the path of the offending field.
/// The document must be the whole file: text after it (a second document, a truncated
/// edit's leftovers) is an error, not ignored. Capability names this build does not know (a
/// config written for a newer kernel) are left out with a warning, as runc does.
fn parse_config(data: &[u8]) -> Result<Spec, String> {
    let err = match parse_json(data) {
        Ok(spec) => return Ok(spec),
        Err(err) => err,
    };
    if !err.starts_with("process.capabilities.") {
        return Err(err);
    }
    let mut value: serde_json::Value = serde_json::from_slice(data).map_err(|_| err.clone())?;
    if let Some(process) = value.get_mut("process") {
        warn_unknown_capabilities(strip_unknown_capabilities(process));
    }
    parse_value(&value)
}

/// Parses one JSON document of type `T` (the whole of `data`: text after it is an error);
/// the error text starts with the path of the offending field.
///
/// Every typed JSON the runtime reads (configuration, process, resources, its own records)
/// goes through this one function, with one deserializer type: each type's deserializer is
/// then compiled into the binary once, not once per way of reading it (a second copy of the
/// configuration's alone is about 250 KB).
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(data: &[u8]) -> Result<T, String> {
    let mut de = serde_json::Deserializer::from_slice(data);
    let parsed = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        if field == "." {
            e.inner().to_string()
        } else {
            format!("{field}: {}", e.inner())
        }
    })?;
    de.end()
        .map_err(|e| format!("after the JSON document: {e}"))?;
    Ok(parsed)
}

/// [`parse_json`] of a document already parsed as a `Value` (written out and read again:
/// see there why).
pub(crate) fn parse_value<T: serde::de::DeserializeOwned>(
    value: &serde_json::Value,
) -> Result<T, String> {
    let data = serde_json::to_vec(value).map_err(|e| e.to_string())?;
    parse_json(&data)
}

/// Removes from a process' `capabilities` sets the names that are not capabilities this
/// build knows; returns them (`set: name`).
pub(crate) fn strip_unknown_capabilities(process: &mut serde_json::Value) -> Vec<String> {
    let mut unknown = Vec::new();
    let Some(sets) = process
        .get_mut("capabilities")
        .and_then(|c| c.as_object_mut())
    else {
        return unknown;
    };
    for (set, names) in sets.iter_mut() {
        if let Some(names) = names.as_array_mut() {
            names.retain(|name| {
                // Not a string: a type error, left for the parser to report.
                let known = !name.is_string()
                    || serde_json::from_value::<oci_spec::runtime::Capability>(name.clone())
                        .is_ok();
                if !known {
                    unknown.push(format!("{set}: {name}"));
                }
                known
            });
        }
    }
    unknown
}

/// The warning for [`strip_unknown_capabilities`]'s result, if any.
pub(crate) fn warn_unknown_capabilities(unknown: Vec<String>) {
    if !unknown.is_empty() {
        eprintln!(
            "warning: process.capabilities: ignoring unknown capabilities {}",
            unknown.join(", ")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iso_testutil::TempDir;
    use proptest::prelude::*;

    fn bundle_with(config: &str) -> TempDir {
        let dir = TempDir::new("bundle");
        fs::create_dir(dir.path().join("rootfs")).unwrap();
        fs::write(dir.path().join("config.json"), config).unwrap();
        dir
    }

    #[test]
    fn unknown_capabilities_are_left_out() {
        let config = r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"cwd":"/","args":["/bin/true"],"user":{"uid":0,"gid":0},"capabilities":{"bounding":["CAP_KILL","CAP_FROM_THE_FUTURE"],"effective":["CAP_NEW"]}}}"#;
        let spec = parse_config(config.as_bytes()).unwrap();
        let caps = spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .clone()
            .unwrap();
        let bounding = caps.bounding().clone().unwrap();
        assert_eq!(bounding.len(), 1);
        assert!(bounding.contains(&oci_spec::runtime::Capability::Kill));
        assert!(caps.effective().clone().unwrap().is_empty());
        let mut process: serde_json::Value =
            serde_json::json!({"capabilities": {"ambient": ["CAP_X", "CAP_CHOWN"]}});
        assert_eq!(
            strip_unknown_capabilities(&mut process),
            ["ambient: \"CAP_X\""]
        );
        assert!(parse_config(br#"{"process":{"capabilities":{"bounding":"x"}}}"#).is_err());
        let typed = br#"{"process":{"capabilities":{"bounding":["CAP_NEW",7]}}}"#;
        assert!(parse_config(typed).unwrap_err().contains("bounding"));
    }

    const MINIMAL: &str = r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"cwd":"/","args":["/bin/true"],"user":{"uid":0,"gid":0}},"somethingNew":{"x":1}}"#;

    #[test]
    fn loads_minimal_bundle_ignoring_unknown_properties() {
        let dir = bundle_with(MINIMAL);
        let bundle = Bundle::load(dir.path()).unwrap();
        assert_eq!(bundle.rootfs(), dir.path().join("rootfs"));
        assert!(bundle.path().is_absolute());
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"cwd":"/","args":["/bin/true"],"user":{"uid":"zero","gid":0}}}"#,
                "process.user.uid",
            ),
            (
                r#"{"ociVersion":"2.0.0","root":{"path":"rootfs"}}"#,
                "ociVersion",
            ),
            (r#"{"ociVersion":"1.0.0"}"#, "root"),
            (
                r#"{"ociVersion":"1.0.0","root":{"path":"nope"}}"#,
                "root.path",
            ),
            (
                r#"{"ociVersion":"1.0.0","root":{"path":"rootfs"}}"#,
                "process",
            ),
            (
                r#"{"ociVersion":"1.0.0","root":{"path":"rootfs"},"process":{"cwd":"/","args":[],"user":{"uid":0,"gid":0}}}"#,
                "process.args",
            ),
            (r#"{"ociVersion":"1.0.0","root":"#, "config.json"),
        ];
        for (config, field) in cases {
            let dir = bundle_with(config);
            let err = Bundle::load(dir.path()).unwrap_err().to_string();
            assert!(err.contains(field), "{field} not in: {err}");
        }
    }

    #[test]
    fn text_after_the_document_is_an_error() {
        let err = parse_config(format!("{MINIMAL} {{}}").as_bytes()).unwrap_err();
        assert!(err.contains("trailing characters"), "{err}");
        assert!(parse_config(format!("{MINIMAL}\n\t ").as_bytes()).is_ok());
    }

    #[test]
    fn validation_errors_name_the_indexed_field() {
        let config = MINIMAL.replace(
            r#""somethingNew""#,
            r#""linux":{"namespaces":[{"type":"pid"},{"type":"pid"}]},"somethingNew""#,
        );
        let dir = bundle_with(&config);
        let err = Bundle::load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("linux.namespaces[1]: type \"pid\" listed twice"),
            "{err}"
        );
    }

    #[test]
    fn an_endless_or_huge_config_is_refused_naming_the_file_and_the_limit() {
        let dir = bundle_with(MINIMAL);
        let config = dir.path().join("config.json");
        fs::remove_file(&config).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &config).unwrap();
        let err = Bundle::load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("config.json") && err.contains("4194304 bytes"),
            "{err}"
        );
        // A sparse file: large, but it takes no disk space.
        fs::remove_file(&config).unwrap();
        let huge = fs::File::create(&config).unwrap();
        huge.set_len(1 << 40).unwrap();
        let err = Bundle::load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("config.json") && err.contains("4194304 bytes"),
            "{err}"
        );
        // Exactly the limit is read (and then fails to parse, as zeros).
        huge.set_len(MAX_CONFIG_BYTES).unwrap();
        let data = read_config_file(&config).unwrap();
        assert_eq!(data.len() as u64, MAX_CONFIG_BYTES);
    }

    #[test]
    fn missing_bundle_names_the_path() {
        let err = Bundle::load("/nonexistent/iso-bundle").unwrap_err();
        assert!(err.to_string().contains("/nonexistent/iso-bundle"), "{err}");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_config(&data);
        }

        #[test]
        fn arbitrary_json_never_panics(text in "\\{(\"[a-z]{1,8}\":(1|\"x\"|\\[\\]|\\{\\}|null),?){0,6}\\}") {
            let _ = parse_config(text.as_bytes());
        }
    }
}
