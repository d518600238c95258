//! The decisions of `checkpoint` and `restore`: the CRIU request built from the container's
//! plan and the command's flags. No effects: table tests below.

use std::path::{Path, PathBuf};

use super::rpc::{CgroupMode, Opts, Request, RequestType};
use super::{CheckpointOptions, CriuFlags, RestoreOptions};
use crate::plan::{NamespacePlan, PlannedMount, RootfsPlan};
use crate::Error;

/// The verbosity runc asks CRIU for: its log has enough to say why a dump failed.
const LOG_LEVEL: i32 = 4;

/// The descriptors the request names, as numbers in the CRIU process (inherited from the
/// runtime, so the same numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dirs {
    /// The image directory.
    pub images: i32,
    /// The work directory (logs), when `--work-path` is given.
    pub work: Option<i32>,
}

/// A mount CRIU must treat as external: it cannot dump it (its source is outside the
/// container's mount namespace), so the dump names it by its mount point and the restore
/// says where its source is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct External {
    /// The mount point in the container, also the key in the image.
    pub mount_point: String,
    /// The host path bound there at restore.
    pub source: PathBuf,
}

fn text(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// The container's external mounts: every bind mount (a `bind`/`rbind` option or type),
/// the binds of the container's cgroup directories under a `cgroup` mount, and each masked
/// path (a file masked is a bind of the host's `/dev/null`; a directory masked is a tmpfs,
/// which CRIU dumps itself and never looks its key up).
pub(crate) fn external_mounts(rootfs: &RootfsPlan) -> Vec<External> {
    let mut out = Vec::new();
    for m in &rootfs.mounts {
        match m {
            PlannedMount::Plain(m) | PlannedMount::HostProc(m) if m.kind().is_bind() => {
                if let Some(src) = m.source_path() {
                    out.push(External {
                        mount_point: text(m.destination()),
                        source: src.to_path_buf(),
                    });
                }
            }
            PlannedMount::Cgroup {
                destination, binds, ..
            } => out.extend(binds.iter().map(|(name, dir)| External {
                mount_point: text(&if name.is_empty() {
                    destination.clone()
                } else {
                    destination.join(name)
                }),
                source: dir.clone(),
            })),
            _ => {}
        }
    }
    out.extend(rootfs.masked.iter().map(|p| External {
        mount_point: text(p),
        source: "/dev/null".into(),
    }));
    out
}

/// How the container's stdio descriptor whose `/proc/PID/fd` link is `link` is named to
/// CRIU, and whether the dump must declare it external: a file (the host's `/dev/null`, a
/// log file) usually lies outside the container's mounts, so it is external, named
/// `file[MNT_ID:INODE]` (hexadecimal, CRIU's format); a pipe or socket is named by its link
/// (`pipe:[INODE]`), as CRIU looks it up. At restore the runtime's descriptor of the same
/// number replaces it.
pub(crate) fn stdio_key(link: &str, mnt_id: u32, inode: u64) -> (String, bool) {
    if link.starts_with('/') {
        (format!("file[{mnt_id:x}:{inode:x}]"), true)
    } else {
        (link.to_owned(), false)
    }
}

/// The key under which a joined network namespace is external to CRIU: declared at dump
/// (`net[INODE]:KEY`), and given back at restore as an inherited descriptor of that key
/// (the names runc uses, so images move between runtimes).
pub(crate) const EXTERNAL_NET_NS: &str = "extRootNetNS";

/// The network namespace the container joins by path (a pod's), if any: external to CRIU,
/// which neither dumps nor recreates it.
pub(crate) fn joined_net_ns(namespaces: &NamespacePlan) -> Option<&Path> {
    namespaces
        .join
        .iter()
        .find(|j| j.kind == iso_ns::Namespace::Net)
        .map(|j| j.path.as_path())
}

/// Refuses what the runtime does not describe to CRIU: a namespace other than the network
/// one joined by path (CRIU would need it declared external at dump and joined at
/// restore), an idmapped mount (CRIU 3.17 does not dump idmapped mounts), and a terminal
/// (its pty master would have to go to a console socket at restore).
pub(crate) fn check_supported(
    namespaces: &NamespacePlan,
    rootfs: &RootfsPlan,
    terminal: bool,
    config: &Path,
) -> Result<(), Error> {
    let refuse = |field: &'static str, reason: &str| Error::ConfigField {
        path: config.to_path_buf(),
        field,
        reason: format!("{reason}: checkpoint and restore do not support it"),
    };
    let joins_other = namespaces
        .join
        .iter()
        .any(|j| j.kind != iso_ns::Namespace::Net);
    if namespaces.join_user.is_some() || namespaces.join_pid.is_some() || joins_other {
        return Err(refuse(
            "linux.namespaces",
            "joins an existing namespace other than the network one by path",
        ));
    }
    if let Some(m) = rootfs.mounts.iter().find_map(|m| match m {
        PlannedMount::Idmapped { mount, .. } => Some(mount),
        _ => None,
    }) {
        let reason = format!("{} is an idmapped mount", m.destination().display());
        return Err(refuse("mounts", &reason));
    }
    if terminal {
        return Err(refuse("process.terminal", "is true"));
    }
    Ok(())
}

/// The `CLONE_NEW*` bits of `--empty-ns` (runc accepts `network` only).
fn empty_ns(name: Option<&str>) -> Result<u32, Error> {
    match name {
        None => Ok(0),
        Some("network") => Ok(libc::CLONE_NEWNET as u32),
        Some(other) => Err(Error::InvalidArgument {
            what: "--empty-ns",
            value: other.to_owned(),
            reason: "only network is supported".into(),
        }),
    }
}

/// The options both commands share, from the flags both have.
fn common(dirs: Dirs, log_file: &str, flags: &CriuFlags) -> Result<Opts, Error> {
    Ok(Opts {
        images_dir_fd: dirs.images,
        work_dir_fd: dirs.work,
        log_level: LOG_LEVEL,
        log_file: log_file.into(),
        notify_scripts: true,
        manage_cgroups: true,
        manage_cgroups_mode: Some(flags.manage_cgroups_mode.unwrap_or(CgroupMode::Soft)),
        tcp_established: flags.tcp_established,
        ext_unix_sk: flags.ext_unix_sk,
        shell_job: flags.shell_job,
        file_locks: flags.file_locks,
        auto_dedup: flags.auto_dedup,
        lazy_pages: flags.lazy_pages,
        empty_ns: empty_ns(flags.empty_ns.as_deref())?,
        ..Opts::default()
    })
}

/// The dump (or pre-dump) of the container whose init is `pid`: its external mounts named
/// by their mount points, its cgroup frozen through `freezer` (the v2 directory or the v1
/// freezer directory), the flags as runc passes them. A pre-dump leaves the container
/// running and tracks memory for the dump that follows; `--parent-path` makes the dump
/// incremental on that image.
pub(crate) fn dump_request(
    pid: i32,
    externals: &[External],
    external_files: &[String],
    joined_net_inode: Option<u64>,
    freezer: Option<&Path>,
    dirs: Dirs,
    flags: &CheckpointOptions,
) -> Result<Request, Error> {
    let (kind, log) = if flags.pre_dump {
        (RequestType::PreDump, "pre-dump.log")
    } else {
        (RequestType::Dump, "dump.log")
    };
    let mut opts = common(dirs, log, &flags.criu)?;
    opts.pid = Some(pid);
    opts.leave_running = flags.leave_running || flags.pre_dump;
    opts.status_fd = flags.status_fd;
    opts.track_mem = flags.pre_dump || flags.parent_path.is_some();
    opts.parent_img = flags.parent_path.as_deref().map(text);
    opts.freeze_cgroup = freezer.map(text);
    opts.external = external_files.to_vec();
    opts.external
        .extend(joined_net_inode.map(|ino| format!("net[{ino}]:{EXTERNAL_NET_NS}")));
    opts.ext_mnt = externals
        .iter()
        .map(|e| (e.mount_point.clone(), e.mount_point.clone()))
        .collect();
    Ok(Request {
        kind,
        opts: Some(opts),
        notify_success: false,
    })
}

/// The restore of a container into `rootfs` and its cgroup `cgroup` (CRIU runs in it
/// already, so the tasks it creates start there): the external mounts bound from their
/// sources, the restored init a child of the runtime (`rst_sibling`), each of the
/// container's stdio descriptors recorded at checkpoint (`stdio[i]`, as `/proc/PID/fd/i`
/// read) replaced by the runtime's descriptor `i`, and the joined network namespace (the
/// runtime's descriptor `joined_net_fd` of it) given back for the key the dump declared.
pub(crate) fn restore_request(
    rootfs: &Path,
    cgroup: Option<&str>,
    externals: &[External],
    stdio: &[String],
    joined_net_fd: Option<i32>,
    dirs: Dirs,
    flags: &RestoreOptions,
) -> Result<Request, Error> {
    let mut opts = common(dirs, "restore.log", &flags.criu)?;
    opts.root = Some(text(rootfs));
    opts.rst_sibling = true;
    opts.cg_root = cgroup.map(|c| (None, c.to_owned())).into_iter().collect();
    opts.ext_mnt = externals
        .iter()
        .map(|e| (e.mount_point.clone(), text(&e.source)))
        .collect();
    opts.inherit_fd = stdio
        .iter()
        .zip(0..)
        .filter(|(key, _)| !key.is_empty())
        .map(|(key, fd)| (key.clone(), fd))
        .chain(joined_net_fd.map(|fd| (EXTERNAL_NET_NS.to_owned(), fd)))
        .collect();
    Ok(Request {
        kind: RequestType::Restore,
        opts: Some(opts),
        notify_success: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use iso_chroot::{EnterMethod, Mount};

    fn rootfs(mounts: Vec<PlannedMount>, masked: &[&str]) -> RootfsPlan {
        RootfsPlan {
            path: "/b/rootfs".into(),
            propagation: None,
            mounts,
            devices: Vec::new(),
            dev_tmpfs: true,
            dev_readonly: false,
            masked: masked.iter().map(PathBuf::from).collect(),
            readonly: Vec::new(),
            enter: EnterMethod::PivotRoot,
            readonly_root: false,
            clone_bind_sources: false,
        }
    }

    fn ext(at: &str, from: &str) -> External {
        External {
            mount_point: at.into(),
            source: from.into(),
        }
    }

    const DIRS: Dirs = Dirs {
        images: 7,
        work: None,
    };

    #[test]
    fn externals_are_binds_cgroup_binds_and_masked_paths() {
        let cases: Vec<(RootfsPlan, Vec<External>)> = vec![
            (rootfs(vec![], &[]), vec![]),
            (
                rootfs(
                    vec![
                        PlannedMount::Plain(Mount::tmpfs("/tmp")),
                        PlannedMount::Plain(Mount::bind("/srv/data", "/data")),
                        PlannedMount::Plain(Mount::rbind("/b/conf", "/etc/app")),
                    ],
                    &["/proc/kcore"],
                ),
                vec![
                    ext("/data", "/srv/data"),
                    ext("/etc/app", "/b/conf"),
                    ext("/proc/kcore", "/dev/null"),
                ],
            ),
            (
                rootfs(
                    vec![PlannedMount::Cgroup {
                        destination: "/sys/fs/cgroup".into(),
                        tmpfs: true,
                        readonly: true,
                        binds: vec![
                            ("memory".into(), "/sys/fs/cgroup/memory/c".into()),
                            ("".into(), "/sys/fs/cgroup/c".into()),
                        ],
                    }],
                    &[],
                ),
                vec![
                    ext("/sys/fs/cgroup/memory", "/sys/fs/cgroup/memory/c"),
                    ext("/sys/fs/cgroup", "/sys/fs/cgroup/c"),
                ],
            ),
        ];
        for (plan, want) in cases {
            assert_eq!(external_mounts(&plan), want, "{plan:?}");
        }
    }

    #[test]
    fn dump_flags_become_criu_options() {
        let externals = [ext("/data", "/srv/data")];
        type Check = fn(&Opts) -> bool;
        let cases: Vec<(CheckpointOptions, RequestType, Check)> = vec![
            (CheckpointOptions::default(), RequestType::Dump, |o| {
                !o.leave_running
                    && !o.track_mem
                    && o.log_file == "dump.log"
                    && o.manage_cgroups_mode == Some(CgroupMode::Soft)
                    && o.ext_mnt == [("/data".to_owned(), "/data".to_owned())]
                    && o.pid == Some(42)
                    && o.notify_scripts
            }),
            (
                CheckpointOptions {
                    leave_running: true,
                    criu: CriuFlags {
                        tcp_established: true,
                        ext_unix_sk: true,
                        shell_job: true,
                        file_locks: true,
                        auto_dedup: true,
                        ..Default::default()
                    },
                    ..Default::default()
                },
                RequestType::Dump,
                |o| {
                    o.leave_running
                        && o.tcp_established
                        && o.ext_unix_sk
                        && o.shell_job
                        && o.file_locks
                        && o.auto_dedup
                },
            ),
            (
                CheckpointOptions {
                    pre_dump: true,
                    ..Default::default()
                },
                RequestType::PreDump,
                |o| o.leave_running && o.track_mem && o.log_file == "pre-dump.log",
            ),
            (
                CheckpointOptions {
                    parent_path: Some("../pre".into()),
                    criu: CriuFlags {
                        manage_cgroups_mode: Some(CgroupMode::Full),
                        empty_ns: Some("network".into()),
                        lazy_pages: true,
                        ..Default::default()
                    },
                    status_fd: Some(9),
                    ..Default::default()
                },
                RequestType::Dump,
                |o| {
                    o.track_mem
                        && o.parent_img.as_deref() == Some("../pre")
                        && o.manage_cgroups_mode == Some(CgroupMode::Full)
                        && o.empty_ns == libc::CLONE_NEWNET as u32
                        && o.lazy_pages
                        && o.status_fd == Some(9)
                },
            ),
        ];
        for (flags, kind, check) in cases {
            let files = ["file[2a:3]".to_owned()];
            let req = dump_request(
                42,
                &externals,
                &files,
                None,
                Some(Path::new("/cg")),
                DIRS,
                &flags,
            )
            .unwrap();
            assert_eq!(req.kind, kind, "{flags:?}");
            let opts = req.opts.unwrap();
            assert!(check(&opts), "{flags:?}: {opts:?}");
            assert_eq!(opts.freeze_cgroup.as_deref(), Some("/cg"));
            assert_eq!(opts.external, files);
        }
    }

    #[test]
    fn restore_binds_sources_and_inherits_stdio() {
        let flags = RestoreOptions::default();
        let stdio = [
            "pipe:[12]".to_owned(),
            String::new(),
            "/dev/null".to_owned(),
        ];
        let req = restore_request(
            Path::new("/b/rootfs"),
            Some("/iso/c"),
            &[ext("/data", "/srv/data"), ext("/proc/kcore", "/dev/null")],
            &stdio,
            None,
            Dirs {
                images: 7,
                work: Some(8),
            },
            &flags,
        )
        .unwrap();
        assert_eq!(req.kind, RequestType::Restore);
        let o = req.opts.unwrap();
        assert_eq!(o.root.as_deref(), Some("/b/rootfs"));
        assert!(o.rst_sibling && o.manage_cgroups);
        assert_eq!(o.cg_root, [(None, "/iso/c".to_owned())]);
        assert_eq!(
            o.ext_mnt,
            [
                ("/data".to_owned(), "/srv/data".to_owned()),
                ("/proc/kcore".to_owned(), "/dev/null".to_owned())
            ]
        );
        assert_eq!(
            o.inherit_fd,
            [("pipe:[12]".to_owned(), 0), ("/dev/null".to_owned(), 2)]
        );
        assert_eq!((o.images_dir_fd, o.work_dir_fd), (7, Some(8)));
        assert_eq!(o.log_file, "restore.log");
    }

    #[test]
    fn stdio_files_are_external_pipes_are_not() {
        let cases = [
            ("/dev/null", 0x2a, 5, ("file[2a:5]", true)),
            ("/tmp/out.log", 300, 0x1234, ("file[12c:1234]", true)),
            ("pipe:[812]", 1, 2, ("pipe:[812]", false)),
            ("socket:[9]", 1, 2, ("socket:[9]", false)),
        ];
        for (link, mnt, ino, (key, external)) in cases {
            assert_eq!(
                stdio_key(link, mnt, ino),
                (key.to_owned(), external),
                "{link}"
            );
        }
    }

    #[test]
    fn bad_empty_ns_names_the_flag() {
        let flags = RestoreOptions {
            criu: CriuFlags {
                empty_ns: Some("ipc".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let err = restore_request(Path::new("/r"), None, &[], &[], None, DIRS, &flags).unwrap_err();
        assert!(err.to_string().contains("--empty-ns"), "{err}");
    }

    #[test]
    fn a_joined_network_namespace_is_external_at_dump_and_inherited_at_restore() {
        let dump = dump_request(
            42,
            &[],
            &[],
            Some(4026532001),
            None,
            DIRS,
            &CheckpointOptions::default(),
        )
        .unwrap();
        assert_eq!(
            dump.opts.unwrap().external,
            ["net[4026532001]:extRootNetNS"]
        );
        let restore = restore_request(
            Path::new("/r"),
            None,
            &[],
            &["pipe:[3]".to_owned()],
            Some(9),
            DIRS,
            &RestoreOptions::default(),
        )
        .unwrap();
        assert_eq!(
            restore.opts.unwrap().inherit_fd,
            [("pipe:[3]".to_owned(), 0), ("extRootNetNS".to_owned(), 9)]
        );
    }
}
