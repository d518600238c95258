//! CRIU's RPC messages (`criu_req`, `criu_opts`, `criu_resp`, `criu_notify`, ...): the
//! fields the runtime uses, with the field numbers of CRIU's `images/rpc.proto`.

use super::wire::{as_i32, Encoder, Field, Fields, WireError};

/// `criu_req_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestType {
    Dump = 1,
    Restore = 2,
    PreDump = 4,
    Notify = 6,
}

/// `criu_cg_mode`: what CRIU does with the cgroups of the tree (`--manage-cgroups-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupMode {
    /// `ignore`: cgroups are neither dumped nor restored.
    Ignore = 0,
    /// `props`: only the properties.
    Props = 2,
    /// `soft` (runc's default): restore properties only of cgroups CRIU creates.
    Soft = 3,
    /// `full`: restore every property.
    Full = 4,
    /// `strict`: fail when a property cannot be restored.
    Strict = 5,
}

impl std::str::FromStr for CgroupMode {
    type Err = String;

    /// runc's names for `--manage-cgroups-mode`.
    ///
    /// ```
    /// use iso_runtime::criu::CgroupMode;
    /// assert_eq!("soft".parse::<CgroupMode>(), Ok(CgroupMode::Soft));
    /// assert!("hard".parse::<CgroupMode>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "ignore" => CgroupMode::Ignore,
            "props" => CgroupMode::Props,
            "soft" => CgroupMode::Soft,
            "full" => CgroupMode::Full,
            "strict" => CgroupMode::Strict,
            _ => return Err("expected ignore, props, soft, full or strict".into()),
        })
    }
}

/// `criu_opts`: the options of one dump or restore. Unset (`None`, false, empty) fields are
/// not sent, so CRIU's defaults apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Opts {
    pub images_dir_fd: i32,
    pub pid: Option<i32>,
    pub leave_running: bool,
    pub ext_unix_sk: bool,
    pub tcp_established: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    pub log_level: i32,
    pub log_file: String,
    pub notify_scripts: bool,
    pub root: Option<String>,
    pub parent_img: Option<String>,
    pub track_mem: bool,
    pub auto_dedup: bool,
    pub work_dir_fd: Option<i32>,
    /// `ext_mnt`: (mount point in the container, key or host path).
    pub ext_mnt: Vec<(String, String)>,
    pub manage_cgroups: bool,
    /// `cg_root`: (controller, path); no controller means every one.
    pub cg_root: Vec<(Option<String>, String)>,
    pub rst_sibling: bool,
    /// `inherit_fd`: (key, descriptor of the CRIU process).
    pub inherit_fd: Vec<(String, i32)>,
    pub manage_cgroups_mode: Option<CgroupMode>,
    /// `external`: resources CRIU leaves to the restore (`file[MNT:INODE]`).
    pub external: Vec<String>,
    pub empty_ns: u32,
    pub freeze_cgroup: Option<String>,
    pub lazy_pages: bool,
    pub status_fd: Option<i32>,
}

impl Opts {
    fn encode(&self) -> Encoder {
        let mut e = Encoder::default();
        e.int32(1, self.images_dir_fd);
        if let Some(pid) = self.pid {
            e.int32(2, pid);
        }
        e.flag(3, self.leave_running)
            .flag(4, self.ext_unix_sk)
            .flag(5, self.tcp_established)
            .flag(7, self.shell_job)
            .flag(8, self.file_locks)
            .int32(9, self.log_level)
            .bytes(10, self.log_file.as_bytes())
            .flag(12, self.notify_scripts);
        let strings = [
            (13, &self.root),
            (14, &self.parent_img),
            (44, &self.freeze_cgroup),
        ];
        for (field, value) in strings {
            if let Some(v) = value {
                e.bytes(field, v.as_bytes());
            }
        }
        e.flag(15, self.track_mem).flag(16, self.auto_dedup);
        if let Some(fd) = self.work_dir_fd {
            e.int32(17, fd);
        }
        for (key, val) in &self.ext_mnt {
            let mut m = Encoder::default();
            m.bytes(1, key.as_bytes()).bytes(2, val.as_bytes());
            e.message(23, &m);
        }
        e.flag(24, self.manage_cgroups);
        for (ctrl, path) in &self.cg_root {
            let mut m = Encoder::default();
            if let Some(ctrl) = ctrl {
                m.bytes(1, ctrl.as_bytes());
            }
            m.bytes(2, path.as_bytes());
            e.message(25, &m);
        }
        e.flag(26, self.rst_sibling);
        for (key, fd) in &self.inherit_fd {
            let mut m = Encoder::default();
            m.bytes(1, key.as_bytes()).int32(2, *fd);
            e.message(27, &m);
        }
        if let Some(mode) = self.manage_cgroups_mode {
            e.uint32(34, mode as u32);
        }
        for ext in &self.external {
            e.bytes(37, ext.as_bytes());
        }
        if self.empty_ns != 0 {
            e.uint32(38, self.empty_ns);
        }
        e.flag(48, self.lazy_pages);
        if let Some(fd) = self.status_fd {
            e.int32(49, fd);
        }
        e
    }
}

/// `criu_req`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub kind: RequestType,
    pub opts: Option<Opts>,
    pub notify_success: bool,
}

impl Request {
    /// The encoded message.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::default();
        e.uint32(1, self.kind as u32);
        if let Some(opts) = &self.opts {
            e.message(2, &opts.encode());
        }
        if self.kind == RequestType::Notify {
            e.bool(3, self.notify_success);
        }
        e.finish()
    }
}

/// `criu_notify`: CRIU stopped at an action-script point (`setup-namespaces`,
/// `post-restore`, `post-dump`, ...) and waits for the answer.
///
/// ```
/// use iso_runtime::criu::Response;
/// // type NOTIFY, success, notify { script "post-restore", pid 42 }
/// let bytes = [0x08, 6, 0x10, 1, 0x2a, 16, 0x0a, 12, b'p', b'o', b's', b't', b'-', b'r',
///              b'e', b's', b't', b'o', b'r', b'e', 0x10, 42];
/// let notify = Response::decode(&bytes)?.notify.expect("a notification");
/// assert_eq!((notify.script.as_str(), notify.pid), ("post-restore", Some(42)));
/// # Ok::<(), iso_runtime::criu::WireError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notify {
    /// The action-script name.
    pub script: String,
    /// The pid it concerns (the restored init at `setup-namespaces` and `post-restore`).
    pub pid: Option<i32>,
}

/// `criu_version`.
///
/// ```
/// use iso_runtime::criu::Response;
/// // type VERSION, success, version { major 3, minor 17 }
/// let v = Response::decode(&[0x08, 10, 0x10, 1, 0x52, 4, 0x08, 3, 0x10, 17])?.version;
/// assert_eq!(v.map(|v| (v.major, v.minor)), Some((3, 17)));
/// # Ok::<(), iso_runtime::criu::WireError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Version {
    /// The major number.
    pub major: i32,
    /// The minor number.
    pub minor: i32,
    /// The sublevel, when CRIU sends it.
    pub sublevel: Option<i32>,
}

/// `criu_resp`: CRIU's answer to a request, or a notification.
///
/// ```
/// use iso_runtime::criu::Response;
/// // type DUMP (1), success false, cr_errno 1, cr_errmsg "nope"
/// let r = Response::decode(&[0x08, 1, 0x10, 0, 0x38, 1, 0x4a, 4, b'n', b'o', b'p', b'e'])?;
/// assert!(!r.success);
/// assert_eq!((r.errno, r.errmsg.as_deref()), (Some(1), Some("nope")));
/// assert!(Response::decode(&[0x08]).is_err());
/// # Ok::<(), iso_runtime::criu::WireError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    /// The request type answered (`criu_req_type`; 6 for a notification).
    pub kind: u32,
    /// Whether CRIU served it.
    pub success: bool,
    /// The restored init's pid (`restore.pid`).
    pub restored_pid: Option<i32>,
    /// A notification, for `kind` 6.
    pub notify: Option<Notify>,
    /// CRIU's errno.
    pub errno: Option<i32>,
    /// CRIU's error message.
    pub errmsg: Option<String>,
    /// The answer to a version request.
    pub version: Option<Version>,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn decode_notify(data: &[u8]) -> Result<Notify, WireError> {
    let mut n = Notify::default();
    for f in Fields::new(data) {
        match f? {
            Field::Bytes(1, b) => n.script = text(b),
            Field::Varint(2, v) => n.pid = Some(as_i32(v)),
            _ => {}
        }
    }
    Ok(n)
}

fn decode_version(data: &[u8]) -> Result<Version, WireError> {
    let mut v = Version::default();
    for f in Fields::new(data) {
        match f? {
            Field::Varint(1, x) => v.major = as_i32(x),
            Field::Varint(2, x) => v.minor = as_i32(x),
            Field::Varint(4, x) => v.sublevel = Some(as_i32(x)),
            _ => {}
        }
    }
    Ok(v)
}

fn decode_restore_pid(data: &[u8]) -> Result<Option<i32>, WireError> {
    let mut pid = None;
    for f in Fields::new(data) {
        if let Field::Varint(1, v) = f? {
            pid = Some(as_i32(v));
        }
    }
    Ok(pid)
}

impl Response {
    /// Decodes a `criu_resp` read from CRIU's socket; fields the runtime does not use are
    /// skipped, a malformed message or one without its required `type` and `success` is an
    /// error.
    pub fn decode(data: &[u8]) -> Result<Response, WireError> {
        let mut r = Response::default();
        let (mut kind, mut success) = (false, false);
        for f in Fields::new(data) {
            match f? {
                Field::Varint(1, v) => (r.kind, kind) = (v as u32, true),
                Field::Varint(2, v) => (r.success, success) = (v != 0, true),
                Field::Bytes(4, b) => r.restored_pid = decode_restore_pid(b)?,
                Field::Bytes(5, b) => r.notify = Some(decode_notify(b)?),
                Field::Varint(7, v) => r.errno = Some(as_i32(v)),
                Field::Bytes(9, b) => r.errmsg = Some(text(b)),
                Field::Bytes(10, b) => r.version = Some(decode_version(b)?),
                _ => {}
            }
        }
        if !(kind && success) {
            return Err(WireError {
                offset: data.len(),
                reason: "criu_resp without its required type and success",
            });
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_dump_request_has_criu_field_numbers() {
        let opts = Opts {
            images_dir_fd: 5,
            pid: Some(77),
            leave_running: true,
            log_level: 4,
            log_file: "dump.log".into(),
            ext_mnt: vec![("/data".into(), "/data".into())],
            manage_cgroups_mode: Some(CgroupMode::Soft),
            ..Opts::default()
        };
        let req = Request {
            kind: RequestType::Dump,
            opts: Some(opts),
            notify_success: false,
        };
        let bytes = req.encode();
        let top: Vec<_> = Fields::new(&bytes).collect::<Result<_, _>>().unwrap();
        assert_eq!(top[0], Field::Varint(1, 1));
        let Field::Bytes(2, opts) = top[1] else {
            panic!("opts: {top:?}")
        };
        let fields: Vec<_> = Fields::new(opts).collect::<Result<_, _>>().unwrap();
        assert!(fields.contains(&Field::Varint(1, 5)));
        assert!(fields.contains(&Field::Varint(2, 77)));
        assert!(fields.contains(&Field::Varint(3, 1)));
        assert!(fields.contains(&Field::Bytes(10, b"dump.log")));
        assert!(fields.contains(&Field::Bytes(23, b"\x0a\x05/data\x12\x05/data")));
        assert!(fields.contains(&Field::Varint(34, 3)));
        // Unset flags are not sent.
        assert!(!fields.iter().any(|f| matches!(f, Field::Varint(4, _))));
    }

    #[test]
    fn a_notify_answer_carries_notify_success() {
        let req = Request {
            kind: RequestType::Notify,
            opts: None,
            notify_success: true,
        };
        assert_eq!(req.encode(), [0x08, 6, 0x18, 1]);
    }

    #[test]
    fn decodes_a_restore_answer() {
        let mut restore = Encoder::default();
        restore.int32(1, 4321);
        let mut e = Encoder::default();
        e.uint32(1, 2).bool(2, true).message(4, &restore);
        let r = Response::decode(&e.finish()).unwrap();
        assert_eq!((r.kind, r.success, r.restored_pid), (2, true, Some(4321)));
    }

    proptest! {
        #[test]
        fn response_decoder_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Response::decode(&data);
        }

        #[test]
        fn decodes_any_encoded_notification(script in "[a-z-]{0,30}", pid in any::<i32>()) {
            let mut n = Encoder::default();
            n.bytes(1, script.as_bytes()).int32(2, pid);
            let mut e = Encoder::default();
            e.uint32(1, 6).bool(2, true).message(5, &n);
            let r = Response::decode(&e.finish()).unwrap();
            prop_assert_eq!(r.notify, Some(Notify { script, pid: Some(pid) }));
        }
    }
}
