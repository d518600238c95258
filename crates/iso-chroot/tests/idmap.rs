//! Idmapped mounts ([`iso_chroot::set_idmap`]) on the running kernel, as root, each in a
//! child with a fresh private mount namespace.

mod common;

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Child, Command};

use common::fresh_mount_ns;
use iso_chroot::{Mount, Root};
use iso_testutil::{in_child, root_or_skip, TempDir};

/// A user namespace mapping 0..65536 onto 100000..165536 (uids and gids), held by a
/// sleeping `unshare` child whose maps this process writes.
struct MappedUserNs {
    child: Child,
    fd: OwnedFd,
}

impl MappedUserNs {
    fn new() -> MappedUserNs {
        let mut child = Command::new("unshare")
            .args(["--user", "sleep", "60"])
            .spawn()
            .unwrap();
        let ns = format!("/proc/{}/ns/user", child.id());
        let own = fs::read_link("/proc/self/ns/user").unwrap();
        // Wait until the child has unshared.
        for _ in 0..500 {
            if fs::read_link(&ns).is_ok_and(|l| l != own) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        for map in ["uid_map", "gid_map"] {
            let path = format!("/proc/{}/{map}", child.id());
            if let Err(e) = fs::write(&path, "0 100000 65536\n") {
                let _ = child.kill();
                panic!("write {path}: {e}");
            }
        }
        let fd = fs::File::open(&ns).unwrap().into();
        MappedUserNs { child, fd }
    }
}

impl Drop for MappedUserNs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates `name` in the directory `dir` (opened first, as root: its ancestors need not be
/// searchable) with fsuid and fsgid `id`, in a forked child so the test's own credentials
/// stay.
fn create_as(dir: &Path, name: &str, id: u32) {
    let dir = fs::File::open(dir).unwrap();
    let name = std::ffi::CString::new(name).unwrap();
    in_child(move || {
        // SAFETY: a forked child; setfsuid/setfsgid take integers, openat gets a valid
        // descriptor and C string.
        let fd = unsafe {
            libc::setfsgid(id);
            libc::setfsuid(id);
            libc::openat(
                std::os::fd::AsRawFd::as_raw_fd(&dir),
                name.as_ptr(),
                libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                0o644,
            )
        };
        if fd < 0 {
            return Err(format!(
                "create as {id}: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    });
}

#[test]
fn an_idmapped_bind_shows_and_stores_owners_through_the_user_namespace_maps() {
    if !root_or_skip() {
        return;
    }
    let userns = MappedUserNs::new();
    let tmp = TempDir::new("chroot-idmap");
    let (root_path, src) = (tmp.path().join("root"), tmp.path().join("src"));
    fs::create_dir_all(&root_path).unwrap();
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("by-root"), "0").unwrap();
    fs::write(src.join("by-1000"), "1000").unwrap();
    std::os::unix::fs::chown(src.join("by-1000"), Some(1000), Some(1000)).unwrap();
    fs::set_permissions(&src, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let userns_fd = userns.fd.as_fd().try_clone_to_owned().unwrap();
    let (root_p, src_p) = (root_path.clone(), src.clone());
    in_child(move || {
        fresh_mount_ns();
        let m = Mount::bind(&src_p, "/data");
        let tree = m.detached().map_err(|e| e.to_string())?;
        iso_chroot::set_idmap(tree.as_fd(), userns_fd.as_fd(), false, Path::new("/data"))
            .map_err(|e| e.to_string())?;
        Root::open(&root_p)
            .and_then(|r| r.mount_tree(&m, tree))
            .map_err(|e| e.to_string())?;
        let data = root_p.join("data");
        let owner = |name: &str| fs::metadata(data.join(name)).map(|m| (m.uid(), m.gid()));
        if owner("by-root").ok() != Some((100000, 100000)) {
            return Err(format!("by-root shows as {:?}", owner("by-root")));
        }
        if owner("by-1000").ok() != Some((101000, 101000)) {
            return Err(format!("by-1000 shows as {:?}", owner("by-1000")));
        }
        // The source itself is unchanged.
        let src_owner = fs::metadata(src_p.join("by-1000")).map_err(|e| e.to_string())?;
        if src_owner.uid() != 1000 {
            return Err(format!("the source changed owner: {}", src_owner.uid()));
        }
        // A file created as 100005 through the mount is stored as 5.
        create_as(&data, "made", 100005);
        let made = fs::metadata(src_p.join("made")).map_err(|e| e.to_string())?;
        if (made.uid(), made.gid()) != (5, 5) {
            return Err(format!("stored as {}:{}", made.uid(), made.gid()));
        }
        Ok(())
    });
}

#[test]
fn a_detached_tmpfs_is_idmapped_and_an_attached_mount_is_refused() {
    if !root_or_skip() {
        return;
    }
    let userns = MappedUserNs::new();
    let tmp = TempDir::new("chroot-idmap-tmpfs");
    let root_path = tmp.path().join("root");
    fs::create_dir_all(&root_path).unwrap();
    let userns_fd = userns.fd.as_fd().try_clone_to_owned().unwrap();
    let root_p = root_path.clone();
    in_child(move || {
        fresh_mount_ns();
        let m = Mount::tmpfs("/shared")
            .options("mode=0755,size=1m")
            .map_err(|e| e.to_string())?;
        let tree = m.detached().map_err(|e| e.to_string())?;
        // tmpfs supports idmapped mounts from Linux 6.3.
        iso_chroot::set_idmap(tree.as_fd(), userns_fd.as_fd(), false, Path::new("/shared"))
            .map_err(|e| e.to_string())?;
        let root = Root::open(&root_p).map_err(|e| e.to_string())?;
        let attached = root.mount_tree(&m, tree).map_err(|e| e.to_string())?;
        let dir = root_p.join("shared");
        let st = fs::metadata(&dir).map_err(|e| e.to_string())?;
        if st.uid() != 100000 {
            return Err(format!("the tmpfs root shows as uid {}", st.uid()));
        }
        // Once attached (and idmapped), a mount is refused, naming it.
        let err = iso_chroot::set_idmap(
            attached.as_fd(),
            userns_fd.as_fd(),
            false,
            Path::new("/shared"),
        )
        .expect_err("an attached mount cannot be idmapped");
        if !err.to_string().contains("/shared") {
            return Err(format!("the error does not name the mount: {err}"));
        }
        Ok(())
    });
}
