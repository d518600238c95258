//! In-root path resolution, with both resolvers. These tests need no privileges.

mod common;

use std::fs;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use iso_chroot::{Resolver, Root};
use iso_testutil::TempDir;
use proptest::prelude::*;

const RESOLVERS: [Resolver; 2] = [Resolver::Openat2, Resolver::Userspace];

/// A rootfs full of hostile links, next to a host-only file.
///
/// ```text
/// <tmp>/outside                   host-only file
/// <tmp>/root/a/b/file             "inner"
/// <tmp>/root/etc/passwd           "fake"
/// <tmp>/root/hostetc -> /etc
/// <tmp>/root/etc-self/etc -> /etc-self/etc  (loops)
/// <tmp>/root/up -> ../../..
/// <tmp>/root/a/b/upup -> ../../../../outside
/// <tmp>/root/c1 -> c2, c2 -> /a/b
/// <tmp>/root/loop -> loop
/// <tmp>/root/dangling -> <tmp>/outside-created
/// ```
fn fixture() -> (TempDir, PathBuf) {
    let tmp = TempDir::new("chroot-resolve");
    let root = tmp.path().join("root");
    fs::write(tmp.path().join("outside"), "host secret").unwrap();
    fs::create_dir_all(root.join("a/b")).unwrap();
    fs::write(root.join("a/b/file"), "inner").unwrap();
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(root.join("etc/passwd"), "fake").unwrap();
    symlink("/etc", root.join("hostetc")).unwrap();
    fs::create_dir_all(root.join("etc-self")).unwrap();
    symlink("/etc-self/etc", root.join("etc-self/etc")).unwrap();
    symlink("../../..", root.join("up")).unwrap();
    symlink("../../../../outside", root.join("a/b/upup")).unwrap();
    symlink("c2", root.join("c1")).unwrap();
    symlink("/a/b", root.join("c2")).unwrap();
    symlink("loop", root.join("loop")).unwrap();
    symlink(tmp.path().join("outside-created"), root.join("dangling")).unwrap();
    (tmp, root)
}

fn read(fd: OwnedFd) -> String {
    let mut s = String::new();
    fs::File::from(fd).read_to_string(&mut s).unwrap();
    s
}

fn open(root: &Path, resolver: Resolver) -> Root {
    Root::open(root).unwrap().with_resolver(resolver)
}

#[test]
fn absolute_symlink_to_etc_resolves_inside() {
    let (_tmp, root_path) = fixture();
    for r in RESOLVERS {
        let root = open(&root_path, r);
        // `hostetc -> /etc` is the rootfs' /etc, not the host's.
        let fd = root.open_file("/hostetc/passwd", libc::O_RDONLY).unwrap();
        assert_eq!(read(fd), "fake", "{r:?}");
        // `etc -> /etc` pointing at itself is a loop inside the root, never the host's /etc.
        let err = root
            .open_file("/etc-self/etc/passwd", libc::O_RDONLY)
            .unwrap_err();
        assert_eq!(err.errno(), Some(libc::ELOOP), "{r:?}: {err}");
    }
}

#[test]
fn dotdot_and_relative_escapes_are_clamped() {
    let (_tmp, root_path) = fixture();
    for r in RESOLVERS {
        let root = open(&root_path, r);
        for p in [
            "/../../a/b/file",
            "../a/b/file",
            "/up/a/b/file",
            "/a/b/../../../../../a/b/file",
            "up/up/up/a/b/file",
        ] {
            let fd = root
                .open_file(p, libc::O_RDONLY)
                .unwrap_or_else(|e| panic!("{r:?} {p}: {e}"));
            assert_eq!(read(fd), "inner", "{r:?} {p}");
        }
        // The host-only file beside the root is unreachable.
        for p in [
            "../outside",
            "/a/b/upup",
            "/up/outside",
            "/../../../outside",
        ] {
            let err = root.open_file(p, libc::O_RDONLY).unwrap_err();
            assert_eq!(err.errno(), Some(libc::ENOENT), "{r:?} {p}: {err}");
        }
    }
}

#[test]
fn symlink_chains_and_loops() {
    let (_tmp, root_path) = fixture();
    for r in RESOLVERS {
        let root = open(&root_path, r);
        assert_eq!(
            read(root.open_file("/c1/file", libc::O_RDONLY).unwrap()),
            "inner",
            "{r:?}"
        );
        let err = root.open_file("/loop/x", libc::O_RDONLY).unwrap_err();
        assert_eq!(err.errno(), Some(libc::ELOOP), "{r:?}");
        // O_NOFOLLOW on the last component: the link itself is refused.
        let err = root
            .open_file("/c1", libc::O_RDONLY | libc::O_NOFOLLOW)
            .unwrap_err();
        assert_eq!(err.errno(), Some(libc::ELOOP), "{r:?}");
        // Trailing slash or "/." after a file is ENOTDIR, as in the kernel.
        for p in ["/a/b/file/", "/a/b/file/."] {
            let err = root.open_file(p, libc::O_RDONLY).unwrap_err();
            assert_eq!(err.errno(), Some(libc::ENOTDIR), "{r:?} {p}");
        }
        assert_eq!(
            root.open_dir("/").map(|_| ()).map_err(|e| e.to_string()),
            Ok(())
        );
    }
}

#[test]
fn mkdir_all_creates_inside_by_fd() {
    let (tmp, root_path) = fixture();
    for (i, r) in RESOLVERS.into_iter().enumerate() {
        let root = open(&root_path, r);
        let name = format!("made{i}");
        // Through `up -> ../../..`: lands in <root>/made/x/y, not above the root.
        root.mkdir_all(format!("/up/{name}/x/y"), 0o755).unwrap();
        assert!(root_path.join(&name).join("x/y").is_dir(), "{r:?}");
        assert!(!tmp.path().join(&name).exists(), "{r:?}");
        // Through an absolute link to the host's /etc: lands in the rootfs' /etc.
        root.mkdir_all(format!("/hostetc/{name}"), 0o755).unwrap();
        assert!(root_path.join("etc").join(&name).is_dir());
        assert!(!Path::new("/etc").join(&name).exists());
        // A dangling absolute link: its target is created inside the root, not on the host.
        root.mkdir_all(format!("/dangling/sub{i}"), 0o755).unwrap();
        let inside = root_path
            .join(tmp.path().strip_prefix("/").unwrap())
            .join("outside-created");
        assert!(inside.join(format!("sub{i}")).is_dir(), "{r:?}");
        assert!(!tmp.path().join("outside-created").exists(), "{r:?}");
        // A dangling link loop is an error, not an endless recursion.
        let err = root.mkdir_all("/loop/sub", 0o755).unwrap_err();
        assert_eq!(err.errno(), Some(libc::ELOOP), "{r:?}: {err}");
    }
}

#[test]
fn create_file_refuses_final_symlink() {
    let (tmp, root_path) = fixture();
    for r in RESOLVERS {
        let root = open(&root_path, r);
        let err = root.create_file("/dangling", 0o644).unwrap_err();
        assert!(!root_path
            .join(tmp.path().strip_prefix("/").unwrap())
            .join("outside-created")
            .is_file());
        assert_eq!(err.errno(), Some(libc::ELOOP), "{r:?}: {err}");
        assert!(!tmp.path().join("outside-created").exists());
        let fd = root.create_file("/up/new/file.txt", 0o644).unwrap();
        drop(fd);
        assert!(root_path.join("new/file.txt").is_file());
    }
}

#[test]
fn auto_resolver_matches_kernel() {
    let (_tmp, root_path) = fixture();
    let root = Root::open(&root_path).unwrap();
    assert_eq!(
        read(root.open_file("/up/c1/file", libc::O_RDONLY).unwrap()),
        "inner"
    );
}

/// Where an fd points, from the host's view.
fn fd_path(fd: &OwnedFd) -> PathBuf {
    fs::read_link(format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd())).unwrap()
}

fn inode(fd: &OwnedFd) -> (u64, u64) {
    let st = nix_stat(fd);
    (st.st_dev, st.st_ino)
}

fn nix_stat(fd: &OwnedFd) -> libc::stat {
    // SAFETY: plain data out-parameter, valid descriptor.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) }, 0);
    st
}

fn segment() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "a", "b", "file", "..", ".", "", "up", "hostetc", "etc", "c1", "c2", "loop", "upup",
        "outside", "dangling", "passwd", "etc-self",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Any path, however hostile, resolves to something inside the root or fails; and both
    /// resolvers agree.
    #[test]
    fn any_path_resolves_inside_the_root(abs in any::<bool>(), parts in prop::collection::vec(segment(), 0..10)) {
        let (_tmp, root_path) = fixture();
        let canon = fs::canonicalize(&root_path).unwrap();
        let path = format!("{}{}", if abs { "/" } else { "" }, parts.join("/"));
        let a = open(&root_path, Resolver::Openat2).open_path(&path);
        let b = open(&root_path, Resolver::Userspace).open_path(&path);
        for fd in [&a, &b].into_iter().flatten() {
            let p = fd_path(fd);
            prop_assert!(p.starts_with(&canon), "{path:?} escaped to {p:?}");
        }
        match (&a, &b) {
            (Ok(x), Ok(y)) => prop_assert_eq!(inode(x), inode(y), "{:?}", path),
            (Err(x), Err(y)) => prop_assert_eq!(x.errno(), y.errno(), "{:?}", path),
            _ => prop_assert!(false, "{path:?}: openat2 {:?} vs userspace {:?}", a.as_ref().err().map(|e| e.to_string()), b.as_ref().err().map(|e| e.to_string())),
        }
    }
}

/// A directory of the walk moved out of the root while the lookup runs: `..` below it must
/// not climb into the host (the attack on naive resolvers that let the kernel walk `..`).
#[test]
fn directory_moved_out_during_lookup_does_not_escape() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let tmp = TempDir::new("chroot-moved");
    let root_path = tmp.path().join("root");
    fs::create_dir_all(root_path.join("x/deep/er")).unwrap();
    fs::write(root_path.join("hostfile"), "inside").unwrap();
    fs::write(tmp.path().join("hostfile"), "HOST").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mover = {
        let stop = stop.clone();
        let (inside, away) = (root_path.join("x"), tmp.path().join("away"));
        std::thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) && n < 5_000_000 {
                let _ = fs::rename(&inside, &away);
                let _ = fs::rename(&away, &inside);
                n += 1;
            }
        })
    };
    let mut found = 0;
    for r in RESOLVERS {
        let root = open(&root_path, r);
        for _ in 0..3000 {
            if let Ok(fd) = root.open_file("/x/deep/er/../../../hostfile", libc::O_RDONLY) {
                assert_eq!(read(fd), "inside", "{r:?} escaped");
                found += 1;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    mover.join().unwrap();
    assert!(found > 0);
}
