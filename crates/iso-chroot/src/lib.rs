//! # iso-chroot: getting a process into a root filesystem, and keeping it there
//!
//! A container's filesystem view is built in three steps, each of which this crate covers:
//!
//! 1. **Populate the root** ([`Root::mount`], [`Root::setup_dev`], [`Root::mask_paths`],
//!    [`Root::readonly_paths`]): mount proc, sysfs, tmpfs, bind mounts of volumes, device
//!    nodes, and hide the sensitive parts of procfs.
//! 2. **Switch to it** ([`pivot_root`], [`move_root`], [`chroot`]).
//! 3. **Lock it** ([`remount_readonly`] of the new `/`).
//!
//! ## chroot versus pivot_root
//!
//! `chroot(2)` only changes the directory where the calling process' absolute path lookups
//! start. Nothing else moves: the host's mounts remain, descriptors opened before stay valid,
//! and the working directory may still be outside. A process that is root (more precisely,
//! has `CAP_SYS_CHROOT`) can leave: `mkdir x; chroot x; cd ../../..` — after the second chroot
//! its working directory is above its root, so `..` is never clamped. [`chroot`] does the
//! three steps in the safe order (`fchdir` into the root, `chroot(".")`, `chdir("/")`) and
//! checks that the working directory is `/` afterwards (CVE-2024-21626), but a chroot is only
//! a jail for processes that have dropped `CAP_SYS_CHROOT`.
//!
//! Containers instead unshare a **mount namespace** and call `pivot_root(2)`, which makes the
//! new root the namespace's root *mount* and puts the old root on a mount point below it;
//! [`pivot_root`] then detaches the old root with `umount2(MNT_DETACH)`, so no path in the
//! namespace leads to the host any more. `pivot_root` needs the new root to be a mount point
//! ([`Root::ensure_mount_point`] bind-mounts it onto itself) and refuses to pivot away from
//! the initial ramfs; [`move_root`] (`MS_MOVE` the root onto `/`, then chroot) is the fallback
//! there, and [`enter`] with [`EnterMethod::Auto`] picks it when `pivot_root` says `EINVAL`.
//!
//! ## Between fork and exec
//!
//! A jail that starts a program builds its root in the child, after `fork` and after the
//! child has unshared its mount namespace, where only async-signal-safe work is allowed.
//! [`PreparedRoot`] does every check and allocation before the fork; its
//! [`apply`](PreparedRoot::apply) then opens the root, mounts, enters and changes directory
//! with system calls on prepared data only, and reports a failure as [`Error::Apply`]
//! (stage, system call, errno) without allocating.
//!
//! ## Mount propagation
//!
//! Mounts belong to peer groups: a mount event under a *shared* mount is replayed on every
//! peer, a *slave* receives events from its master but sends none, a *private* mount does
//! neither, and an *unbindable* one cannot even be bind-mounted. A fresh mount namespace
//! starts as a copy with the same propagation, so on a systemd host (where `/` is shared) the
//! first thing a runtime does is make its tree private (or slave): otherwise the container's
//! mounts appear on the host. [`Propagation`] models the eight settings;
//! [`pivot_root`] makes the tree `rprivate` itself because the kernel refuses to pivot shared
//! mounts.
//!
//! ## Symlink races, and why everything is done by descriptor
//!
//! The rootfs belongs to the container's author, and volumes may be shared with running
//! containers, so every path inside it is hostile. Joining `"/srv/rootfs"` and `"/etc"` and
//! calling `mount(2)` on the result follows whatever symlinks the rootfs holds —
//! `etc -> /etc` mounts on the host's `/etc`. Checking first does not help: a symlink swapped
//! in between the check and the mount wins the race (CVE-2021-30465); creating directories by
//! path can create them on the host (CVE-2024-45310); `/dev/null` or `/dev/console` replaced by
//! symlinks redirect bind mounts (CVE-2025-31133, CVE-2025-52565); `/proc` as a symlink
//! redirects the procfs mount (CVE-2019-19921).
//!
//! This crate therefore resolves every container path inside a [`Root`] — a held-open
//! descriptor of the rootfs — with `openat2(RESOLVE_IN_ROOT)` (or a careful userspace walk,
//! see [`Resolver`]), creates directories one `mkdirat` at a time relative to the verified
//! parent, and attaches mounts onto the resulting *descriptor* (`move_mount` with
//! `MOVE_MOUNT_T_EMPTY_PATH`). Once resolved, a path is never looked up again, so swapping
//! symlinks afterwards changes nothing.
//!
//! ## The runtime's own binary
//!
//! A runtime's process that enters a container shows the runtime's binary as its
//! `/proc/<pid>/exe`; a container that writes that file owns the host (CVE-2019-5736).
//! [`exe`] has the two ways out: a sealed trampoline to execute the container's program
//! through, and re-executing the runtime from a read-only overlay of itself.
//!
//! ## Example
//!
//! ```no_run
//! use iso_chroot::{enter, EnterMethod, Mount, Root, DeviceMode};
//!
//! # fn main() -> Result<(), iso_chroot::Error> {
//! // In a child process that has unshared its mount namespace:
//! let root = Root::open("/srv/rootfs")?.ensure_mount_point()?;
//! root.mount(&Mount::proc("/proc"))?;
//! root.mount(&Mount::sysfs("/sys"))?;
//! root.setup_dev(DeviceMode::Auto)?;
//! root.mount(&Mount::bind("/srv/volumes/data", "/data").options("rbind,rro,nosuid")?)?;
//! root.mask_paths(["/proc/kcore", "/proc/keys", "/sys/firmware"])?;
//! root.readonly_paths(["/proc/sys", "/proc/sysrq-trigger"])?;
//! enter(&root, EnterMethod::Auto)?;
//! let slash = std::fs::File::open("/").map_err(|e| iso_chroot::Error::Invalid {
//!     field: "/",
//!     reason: e.to_string(),
//! })?;
//! iso_chroot::remount_readonly(std::os::fd::AsFd::as_fd(&slash))?;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod copy;
mod dev;
mod enter;
mod error;
pub mod exe;
mod mask;
mod mount;
mod prepared;
mod resolve;
mod sys;

pub use dev::{default_devices, Device, DeviceKind, DeviceMode};
pub use enter::{chroot, enter, is_mount_root, move_root, pivot_root, verify_cwd, EnterMethod};
pub use error::{Error, Result};
/// The shared types of `iso-sys` this crate's API uses, so one dependency is enough.
pub use iso_sys::Error as SysError;
pub use mask::{Masked, NullDevice};
pub use mount::{
    remount_readonly, set_idmap, set_propagation, Mount, MountApi, MountFlags, MountKind,
    Propagation,
};
pub use prepared::{ApplyStage, PreparedRoot};
pub use resolve::{Resolver, Root, MAX_SYMLINKS};

/// The README's examples, compiled as doctests so they stay correct.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
