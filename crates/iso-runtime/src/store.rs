//! Where containers live between commands: one directory per container under the runtime
//! root (`--root`, default `/run/iso`), holding its record as JSON.
//!
//! Each `iso-runtime` command is a separate short-lived process, so everything a later command
//! needs is written here. Two commands on the same container are serialised by an exclusive
//! `flock(2)` on the container's directory, taken when it is opened and released when the
//! [`ContainerDir`] drops (or the process dies). Records are replaced atomically (write a
//! temporary file, `rename`), so a reader never sees half a record.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::Error;

const RECORD: &str = "state.json";

/// A symlink beside the record whose target is the container's absolute cgroup path: written
/// once by `create` and never replaced, so that `delete --force` still finds the processes
/// to kill when the record cannot be read. One `symlinkat` (no file to open, write and
/// rename); it is only ever read with `readlink`, never followed.
const CGROUP_NOTE: &str = "cgroup";

/// A bind mount of the container's new network namespace when it holds `linux.netDevices`
/// (removed by [`ContainerDir::unpin_netns`]):
/// it keeps the namespace, and the devices in it, after the container's processes ended, so
/// that `delete` can still move them back (see `crate::netdev`).
const NETNS_PIN: &str = "netns";

/// A validated container id: 1 to 1024 characters from `[A-Za-z0-9_+.-]`, not `.` or `..`,
/// so it is always a single safe path component.
///
/// ```
/// use iso_runtime::ContainerId;
/// assert!(ContainerId::new("web-1").is_ok());
/// assert!(ContainerId::new("../etc").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContainerId(String);

impl ContainerId {
    /// Checks `id`.
    pub fn new(id: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::InvalidArgument {
            what: "container id",
            value: id.to_owned(),
            reason: reason.to_owned(),
        };
        if id.is_empty() || id.len() > 1024 {
            return Err(invalid("must be 1 to 1024 characters long"));
        }
        if id == "." || id == ".." {
            return Err(invalid("must not be . or .."));
        }
        if !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'))
        {
            return Err(invalid("may only contain letters, digits, _ + - ."));
        }
        Ok(ContainerId(id.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ContainerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The runtime root directory (`--root`).
///
/// ```no_run
/// use iso_runtime::{ContainerId, Store};
/// let store = Store::new("/run/iso");
/// let dir = store.create(&ContainerId::new("demo")?)?;
/// dir.save(&serde_json::json!({"status": "creating"}))?;
/// # Ok::<(), iso_runtime::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// A store rooted at `root` (created on first use, mode 0700).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Store { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates the directory of a new container and locks it. Fails with
    /// [`Error::AlreadyExists`] when the id is taken.
    ///
    /// A directory without a record is not a container: it is what a command killed between
    /// making the directory and writing the record (or while removing it) leaves. Once its
    /// lock is free nobody works on it, so it is emptied and taken over.
    pub fn create(&self, id: &ContainerId) -> Result<ContainerDir, Error> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
            .map_err(|e| Error::io("create runtime root", &self.root, e))?;
        let path = self.root.join(id.as_str());
        // Each round either takes the directory or sees it removed by a command that held its
        // lock; a bound keeps a pathological race from spinning forever.
        for _ in 0..100 {
            let made = match fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => true,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
                Err(e) => return Err(Error::io("create container directory", &path, e)),
            };
            // Checked before locking too: a record means the id is taken, and this process
            // may itself hold that lock.
            if !made && path.join(RECORD).exists() {
                return Err(Error::AlreadyExists(id.clone()));
            }
            let dir = match ContainerDir::lock(id.clone(), path.clone()) {
                Ok(dir) => dir,
                Err(Error::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            if !dir.is_current()? {
                continue;
            }
            if path.join(RECORD).exists() {
                return Err(Error::AlreadyExists(id.clone()));
            }
            if !made {
                dir.clear()?;
            }
            return Ok(dir);
        }
        Err(Error::AlreadyExists(id.clone()))
    }

    /// Removes the directory of `id` if it has no record (see [`Store::create`]), once no
    /// command holds its lock. Returns whether there was one.
    pub(crate) fn remove_stale(&self, id: &ContainerId) -> Result<bool, Error> {
        let path = self.root.join(id.as_str());
        if !path.is_dir() || path.join(RECORD).exists() {
            return Ok(false);
        }
        let dir = match ContainerDir::lock(id.clone(), path.clone()) {
            Ok(dir) => dir,
            Err(Error::NotFound(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        if !dir.is_current()? || path.join(RECORD).exists() {
            return Ok(false);
        }
        dir.remove()?;
        Ok(true)
    }

    /// Opens and locks the directory of an existing container (waiting for another command
    /// that holds the lock). Fails with [`Error::NotFound`] when there is none.
    pub fn open(&self, id: &ContainerId) -> Result<ContainerDir, Error> {
        let path = self.root.join(id.as_str());
        if !path.join(RECORD).exists() && !path.is_dir() {
            return Err(Error::NotFound(id.clone()));
        }
        ContainerDir::lock(id.clone(), path)
    }

    /// The directory of container `id` (which may not exist).
    pub fn path_of(&self, id: &ContainerId) -> PathBuf {
        self.root.join(id.as_str())
    }

    /// Reads the record of `id` without taking its lock, for readers that must not wait
    /// behind a command in progress (`list`, like runc's). Records are replaced atomically,
    /// so what is read is whole, if perhaps a moment old.
    pub fn peek<T: DeserializeOwned>(&self, id: &ContainerId) -> Result<T, Error> {
        load_record(id, &self.path_of(id))
    }

    /// The ids of every container directory in the store, sorted (one being created may
    /// not hold a record yet). A missing root means no containers.
    pub fn ids(&self) -> Result<Vec<ContainerId>, Error> {
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("list runtime root", &self.root, e)),
        };
        let mut ids: Vec<ContainerId> = entries
            .filter_map(|entry| entry.ok())
            // The directory's type comes with the entry (no system call per entry); one
            // without a record is skipped by whoever reads it.
            .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|entry| ContainerId::new(entry.file_name().to_str()?).ok())
            .collect();
        ids.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(ids)
    }
}

/// The locked directory of one container. The lock is released on drop.
#[derive(Debug)]
pub struct ContainerDir {
    id: ContainerId,
    path: PathBuf,
    _lock: File,
}

impl ContainerDir {
    fn lock(id: ContainerId, path: PathBuf) -> Result<Self, Error> {
        let lock = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => Error::NotFound(id.clone()),
                _ => Error::io("open container directory", &path, e),
            })?;
        loop {
            // SAFETY: flock on a descriptor we own; no memory is involved.
            if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } == 0 {
                break;
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(Error::io("lock container directory", &path, err));
            }
        }
        Ok(ContainerDir {
            id,
            path,
            _lock: lock,
        })
    }

    /// Whether the locked directory is still the one at its path: the command that held the
    /// lock before may have removed it (and another made a new one).
    fn is_current(&self) -> Result<bool, Error> {
        use std::os::unix::fs::MetadataExt;
        let locked = self
            ._lock
            .metadata()
            .map_err(|e| Error::io("stat container directory", &self.path, e))?;
        Ok(match fs::symlink_metadata(&self.path) {
            Ok(now) => now.dev() == locked.dev() && now.ino() == locked.ino(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(Error::io("stat container directory", &self.path, e)),
        })
    }

    /// Removes everything in the directory (what a killed command left in it).
    fn clear(&self) -> Result<(), Error> {
        let entries = fs::read_dir(&self.path)
            .map_err(|e| Error::io("list container directory", &self.path, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("list container directory", &self.path, e))?;
            let p = entry.path();
            let removed = match entry.file_type() {
                Ok(t) if t.is_dir() => fs::remove_dir_all(&p),
                _ => fs::remove_file(&p),
            };
            match removed {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("clear container directory", &p, e)),
            }
        }
        Ok(())
    }

    /// The descriptor that holds the lock (the container's init closes its inherited copy).
    pub(crate) fn lock_raw_fd(&self) -> std::os::fd::RawFd {
        self._lock.as_raw_fd()
    }

    /// The container's id.
    pub fn id(&self) -> &ContainerId {
        &self.id
    }

    /// The directory's path (for files a command keeps beside the record, such as sockets).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the record atomically.
    pub fn save<T: Serialize>(&self, record: &T) -> Result<(), Error> {
        let target = self.path.join(RECORD);
        let data = serde_json::to_vec(record).map_err(|e| Error::Record {
            path: target.clone(),
            reason: e.to_string(),
        })?;
        write_atomic(&target, &data, 0o600, "write container record")
    }

    /// Notes the container's cgroup path beside the record (see [`CGROUP_NOTE`]).
    pub(crate) fn note_cgroup(&self, cgroup: &str) -> Result<(), Error> {
        let note = self.path.join(CGROUP_NOTE);
        std::os::unix::fs::symlink(cgroup, &note)
            .map_err(|e| Error::io("write cgroup note", note, e))
    }

    /// The cgroup path noted by [`ContainerDir::note_cgroup`], if there is one.
    pub(crate) fn noted_cgroup(&self) -> Option<String> {
        let target = fs::read_link(self.path.join(CGROUP_NOTE)).ok()?;
        target.into_os_string().into_string().ok()
    }

    /// Reads the record.
    pub fn load<T: DeserializeOwned>(&self) -> Result<T, Error> {
        load_record(&self.id, &self.path)
    }

    /// Bind-mounts the network namespace `netns` on a file in the directory (see
    /// [`NETNS_PIN`]) and returns its path.
    pub(crate) fn pin_netns(&self, netns: &iso_ns::NsFd) -> Result<PathBuf, Error> {
        let pin = self.path.join(NETNS_PIN);
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o400)
            .open(&pin)
            .map_err(|e| Error::io("create namespace pin", &pin, e))?;
        let source = format!("/proc/self/fd/{}", netns.as_fd().as_raw_fd());
        let (Ok(c_source), Ok(c_pin)) = (
            std::ffi::CString::new(source),
            std::ffi::CString::new(pin.as_os_str().as_encoded_bytes()),
        ) else {
            return Err(Error::io(
                "mount",
                &pin,
                io::Error::from_raw_os_error(libc::EINVAL),
            ));
        };
        // SAFETY: both paths are NUL-terminated; a bind mount of a namespace file on a file
        // of the runtime's own state directory.
        let r = unsafe {
            libc::mount(
                c_source.as_ptr(),
                c_pin.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            )
        };
        if r != 0 {
            let e = io::Error::last_os_error();
            let _ = fs::remove_file(&pin);
            return Err(Error::io("bind-mount network namespace", &pin, e));
        }
        Ok(pin)
    }

    /// Unmounts the network namespace [`ContainerDir::pin_netns`] pinned, if any (which may
    /// end the namespace), so that [`ContainerDir::remove`] can remove the file. Called only
    /// for containers that may have one: it costs a system call.
    pub(crate) fn unpin_netns(&self) {
        let pin = self.path.join(NETNS_PIN);
        if let Ok(c_pin) = std::ffi::CString::new(pin.as_os_str().as_encoded_bytes()) {
            // SAFETY: a NUL-terminated path; fails harmlessly (EINVAL, ENOENT) when nothing
            // is mounted there.
            unsafe { libc::umount2(c_pin.as_ptr(), libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW) };
        }
    }

    /// Removes the directory and everything in it, ending the container's existence in the
    /// store.
    pub fn remove(self) -> Result<(), Error> {
        fs::remove_dir_all(&self.path)
            .or_else(|e| match e.kind() {
                io::ErrorKind::NotFound => Ok(()),
                _ => Err(e),
            })
            .map_err(|e| Error::io("remove container directory", &self.path, e))
    }
}

/// Reads the record in the container directory `dir`.
fn load_record<T: DeserializeOwned>(id: &ContainerId, dir: &Path) -> Result<T, Error> {
    let path = dir.join(RECORD);
    // A record is a few hundred bytes (`list` reads every one): no size hint needed.
    let data = fs::File::open(&path)
        .and_then(iso_sys::fd::read_whole)
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::NotFound(id.clone()),
            _ => Error::io("read container record", &path, e),
        })?;
    crate::bundle::parse_json(&data).map_err(|reason| Error::Record { path, reason })
}

/// Replaces `path` with `data` atomically: a temporary file next to it, then `rename(2)`, so
/// that a reader sees the old content or the new, never half of one. `what` names the
/// operation in errors.
///
/// There is no `fsync`: the runtime's state lives in `/run` (a tmpfs, empty after a reboot),
/// and after a crash of the machine the processes a record describes are gone anyway, so a
/// disk flush per command (milliseconds where the root is on disk) would buy nothing.
pub(crate) fn write_atomic(
    path: &Path,
    data: &[u8],
    mode: u32,
    what: &'static str,
) -> Result<(), Error> {
    let tmp = path.with_extension("iso-tmp");
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .and_then(|mut file| file.write_all(data))
        .map_err(|e| Error::io(what, &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| Error::io(what, path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use iso_testutil::TempDir;
    use proptest::prelude::*;

    #[test]
    fn peek_reads_a_record_whose_lock_is_held() {
        let tmp = TempDir::new("store-peek");
        let store = Store::new(tmp.path().join("root"));
        let id = ContainerId::new("busy").unwrap();
        let dir = store.create(&id).unwrap();
        dir.save(&serde_json::json!({"pid": 7})).unwrap();
        // `dir` still holds the lock, as a create in progress does.
        let seen: serde_json::Value = store.peek(&id).unwrap();
        assert_eq!(seen["pid"], 7);
        let gone = ContainerId::new("gone").unwrap();
        assert!(matches!(
            store.peek::<serde_json::Value>(&gone),
            Err(Error::NotFound(_))
        ));
    }

    #[test]
    fn create_save_load_list_remove() {
        let tmp = TempDir::new("store");
        let store = Store::new(tmp.path().join("root"));
        let id = ContainerId::new("c1").unwrap();
        let dir = store.create(&id).unwrap();
        dir.save(&serde_json::json!({"status": "created", "pid": 42}))
            .unwrap();
        let back: serde_json::Value = dir.load().unwrap();
        assert_eq!(back["pid"], 42);
        assert!(matches!(store.create(&id), Err(Error::AlreadyExists(_))));
        drop(dir);
        assert_eq!(store.ids().unwrap(), vec![id.clone()]);
        let dir = store.open(&id).unwrap();
        dir.remove().unwrap();
        assert!(matches!(store.open(&id), Err(Error::NotFound(_))));
        assert!(store.ids().unwrap().is_empty());
    }

    #[test]
    fn lock_serialises_commands() {
        let tmp = TempDir::new("store-lock");
        let store = Store::new(tmp.path());
        let id = ContainerId::new("locked").unwrap();
        let dir = store.create(&id).unwrap();
        dir.save(&0u32).unwrap();
        // A second process must wait until the first drops its ContainerDir.
        let path = dir.path().to_path_buf();
        let lock = File::open(&path).unwrap();
        // SAFETY: non-blocking flock on a descriptor we own.
        let r = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_eq!(r, -1);
        assert_eq!(
            io::Error::last_os_error().raw_os_error(),
            Some(libc::EWOULDBLOCK)
        );
        drop(dir);
        // SAFETY: as above.
        let r = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_eq!(r, 0);
    }

    #[test]
    fn directory_without_record_is_taken_over_or_removed() {
        let tmp = TempDir::new("store-stale");
        let store = Store::new(tmp.path());
        let id = ContainerId::new("stale").unwrap();
        // What a create killed before its first save leaves.
        fs::create_dir_all(tmp.path().join("stale")).unwrap();
        fs::write(tmp.path().join("stale/.state.json.tmp"), b"{").unwrap();
        // Listed as a directory, but it has no record to read (`list` skips it).
        assert_eq!(store.ids().unwrap(), vec![id.clone()]);
        assert!(matches!(store.peek::<u32>(&id), Err(Error::NotFound(_))));
        let dir = store.create(&id).unwrap();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        dir.save(&1u32).unwrap();
        drop(dir);
        assert!(matches!(store.create(&id), Err(Error::AlreadyExists(_))));
        assert!(!store.remove_stale(&id).unwrap(), "a record is not stale");
        fs::remove_file(tmp.path().join("stale").join(RECORD)).unwrap();
        assert!(store.remove_stale(&id).unwrap());
        assert!(!tmp.path().join("stale").exists());
        assert!(!store.remove_stale(&id).unwrap());
    }

    #[test]
    fn the_cgroup_note_survives_a_corrupt_record() {
        let tmp = TempDir::new("store-note");
        let store = Store::new(tmp.path());
        let id = ContainerId::new("noted").unwrap();
        let dir = store.create(&id).unwrap();
        assert_eq!(dir.noted_cgroup(), None);
        dir.save(&1u32).unwrap();
        dir.note_cgroup("/iso/some where/x").unwrap();
        fs::write(dir.path().join(RECORD), b"").unwrap();
        assert!(dir.load::<u32>().is_err());
        assert_eq!(dir.noted_cgroup().as_deref(), Some("/iso/some where/x"));
        // A second note is refused, not replaced.
        assert!(dir.note_cgroup("/other").is_err());
        dir.remove().unwrap();
        assert!(!tmp.path().join("noted").exists());
    }

    #[test]
    fn corrupt_record_names_the_file() {
        let tmp = TempDir::new("store-corrupt");
        let store = Store::new(tmp.path());
        let id = ContainerId::new("bad").unwrap();
        let dir = store.create(&id).unwrap();
        fs::write(dir.path().join(RECORD), b"{not json").unwrap();
        let err = dir.load::<serde_json::Value>().unwrap_err();
        assert!(err.to_string().contains("state.json"), "{err}");
    }

    proptest! {
        #[test]
        fn ids_are_single_safe_components(id in "\\PC{0,20}") {
            if let Ok(valid) = ContainerId::new(&id) {
                let s = valid.as_str();
                prop_assert!(!s.contains('/') && s != "." && s != ".." && !s.is_empty());
            }
        }
    }
}
