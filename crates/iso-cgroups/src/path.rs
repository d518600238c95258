//! Cgroup paths and the policy for relative ones.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// An absolute cgroup path, such as `/iso/web-1`, the same in every hierarchy.
///
/// The path is interpreted from the root of each hierarchy as this process sees it (its
/// mount point; inside a cgroup namespace that is the namespace root).
///
/// **Relative paths** are refused by [`CgroupPath::new`]. The caller's own cgroup differs
/// from hierarchy to hierarchy on hybrid and v1 hosts (here the memory cgroup may be
/// `/system.slice/x` while pids is `/`), so silently nesting a relative path under "our"
/// cgroup would place the group in a different spot in each hierarchy, and under a
/// delegated v2 tree it would violate the no-internal-process rule for the caller. The
/// caller chooses the anchor explicitly with [`CgroupPath::relative`]:
/// [`Anchor::Root`] (the OCI reading: relative to the hierarchy root) or
/// [`Anchor::Under`] another absolute path.
///
/// `..`, `.` and NUL bytes are refused everywhere, so a path can never climb above its
/// anchor.
///
/// ```
/// use iso_cgroups::{Anchor, CgroupPath};
/// let p = CgroupPath::new("/iso/web-1")?;
/// assert_eq!(p.as_str(), "/iso/web-1");
/// assert!(CgroupPath::new("web-1").is_err());
/// let q = CgroupPath::relative("web-1", &Anchor::Under(CgroupPath::new("/iso")?))?;
/// assert_eq!(q, p);
/// assert!(CgroupPath::new("/iso/../etc").is_err());
/// # Ok::<(), iso_cgroups::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CgroupPath(String);

/// Where a relative cgroup path is anchored (see [`CgroupPath::relative`]).
///
/// ```
/// use iso_cgroups::{Anchor, CgroupPath};
/// let p = CgroupPath::relative("job", &Anchor::Under(CgroupPath::new("/iso")?))?;
/// assert_eq!(p.as_str(), "/iso/job");
/// # Ok::<(), iso_cgroups::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anchor {
    /// The root of each hierarchy: `web` becomes `/web`.
    Root,
    /// Below the given absolute path: `web` under `/iso` becomes `/iso/web`.
    Under(CgroupPath),
}

impl CgroupPath {
    /// Checks an absolute path. Repeated and trailing slashes are normalised away.
    ///
    /// ```
    /// use iso_cgroups::{Anchor, CgroupPath};
    /// assert_eq!(CgroupPath::new("/a//b/")?.as_str(), "/a/b");
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn new(path: &str) -> Result<CgroupPath> {
        if !path.starts_with('/') {
            return Err(Error::BadPath {
                path: path.into(),
                reason: "relative; choose an anchor with CgroupPath::relative".into(),
            });
        }
        Self::checked(path, path)
    }

    /// Anchors a relative path explicitly. An absolute `path` is accepted as is.
    ///
    /// ```
    /// use iso_cgroups::{Anchor, CgroupPath};
    /// assert_eq!(CgroupPath::relative("web", &Anchor::Root)?.as_str(), "/web");
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn relative(path: &str, anchor: &Anchor) -> Result<CgroupPath> {
        if path.starts_with('/') {
            return CgroupPath::new(path);
        }
        let base = match anchor {
            Anchor::Root => "",
            Anchor::Under(p) => p.as_str().trim_end_matches('/'),
        };
        Self::checked(path, &format!("{base}/{path}"))
    }

    fn checked(original: &str, joined: &str) -> Result<CgroupPath> {
        let refuse = |reason: &str| Error::BadPath {
            path: original.into(),
            reason: reason.into(),
        };
        if joined.contains('\0') {
            return Err(refuse("contains a NUL byte"));
        }
        let mut parts = Vec::new();
        for c in Path::new(joined).components() {
            match c {
                Component::RootDir => {}
                Component::Normal(s) => parts.push(s.to_str().ok_or_else(|| refuse("not UTF-8"))?),
                Component::CurDir | Component::ParentDir | Component::Prefix(_) => {
                    return Err(refuse("`.` and `..` are not allowed"))
                }
            }
        }
        if joined.split('/').any(|s| s == "." || s == "..") {
            return Err(refuse("`.` and `..` are not allowed"));
        }
        Ok(CgroupPath(format!("/{}", parts.join("/"))))
    }

    /// The path as a string, always starting with `/`.
    ///
    /// ```
    /// use iso_cgroups::{Anchor, CgroupPath};
    /// assert_eq!(CgroupPath::new("/x")?.as_str(), "/x");
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the root cgroup `/`.
    ///
    /// ```
    /// use iso_cgroups::{Anchor, CgroupPath};
    /// assert!(CgroupPath::new("/")?.is_root());
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    /// The directory of this cgroup below a hierarchy mount point.
    ///
    /// ```
    /// let p = iso_cgroups::CgroupPath::new("/a/b")?;
    /// assert_eq!(p.dir_in("/sys/fs/cgroup/pids"), std::path::Path::new("/sys/fs/cgroup/pids/a/b"));
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn dir_in(&self, mount_point: impl AsRef<Path>) -> PathBuf {
        mount_point.as_ref().join(self.0.trim_start_matches('/'))
    }
}

impl fmt::Display for CgroupPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn policy() {
        assert_eq!(CgroupPath::new("//a///b/").unwrap().as_str(), "/a/b");
        assert!(CgroupPath::new("/").unwrap().is_root());
        assert_eq!(
            CgroupPath::relative("x/y", &Anchor::Root).unwrap().as_str(),
            "/x/y"
        );
        assert!(CgroupPath::relative("../x", &Anchor::Root).is_err());
        assert!(CgroupPath::new("/a/./b").is_err());
        assert!(CgroupPath::new("/a\0b").is_err());
    }

    proptest! {
        #[test]
        fn never_escapes(s in "\\PC*") {
            if let Ok(p) = CgroupPath::relative(&s, &Anchor::Under(CgroupPath::new("/base").unwrap())) {
                prop_assert!(p.as_str().starts_with('/'));
                prop_assert!(!p.as_str().split('/').any(|c| c == ".."));
                let dir = p.dir_in("/m");
                prop_assert!(dir.starts_with("/m"));
            }
        }
    }
}
