//! # iso-ns: Linux namespaces as types
//!
//! A *namespace* wraps one kind of global resource so that the processes inside see their
//! own instance of it. A container is, first of all, a process in a fresh set of them.
//!
//! | kind | flag | `/proc/PID/ns/` | what a new one isolates |
//! |---|---|---|---|
//! | [`Namespace::Mount`] | `CLONE_NEWNS` | `mnt` | the mount table (starts as a copy) |
//! | [`Namespace::Uts`] | `CLONE_NEWUTS` | `uts` | hostname and NIS domain name |
//! | [`Namespace::Ipc`] | `CLONE_NEWIPC` | `ipc` | System V IPC, POSIX message queues |
//! | [`Namespace::Pid`] | `CLONE_NEWPID` | `pid` | process ids (the first child is pid 1) |
//! | [`Namespace::Net`] | `CLONE_NEWNET` | `net` | interfaces, routes, sockets, netfilter |
//! | [`Namespace::User`] | `CLONE_NEWUSER` | `user` | uids, gids, capabilities |
//! | [`Namespace::Cgroup`] | `CLONE_NEWCGROUP` | `cgroup` | the visible root of the cgroup tree |
//! | [`Namespace::Time`] | `CLONE_NEWTIME` | `time` | offsets of `CLOCK_MONOTONIC`/`BOOTTIME` |
//!
//! Three system calls move processes between namespaces, and this crate has one entry
//! point for each:
//!
//! - `clone(2)`/`clone3(2)` create a child directly inside new namespaces: [`Spawn`].
//! - `unshare(2)` moves the caller into new ones: [`unshare`].
//! - `setns(2)` moves the caller into existing ones, given a namespace file
//!   ([`NsFd`], [`join`]) or, since Linux 5.8, a pidfd and a set ([`setns_pidfd`]).
//!
//! ## User namespaces own the others
//!
//! Every namespace is owned by the user namespace its creator was in. The kernel checks
//! privileged operations on a namespace (`setns` into it, mounting in it, setting its
//! hostname) against the caller's capabilities *in the owning user namespace*. That is
//! what lets an unprivileged user create a user namespace, become root inside it, and from
//! there create and administer other namespaces, while holding no privilege over the host.
//!
//! A new user namespace starts with no ids at all: until its uid and gid maps are written
//! ([`UidMap`], [`GidMap`]), its processes run as the overflow id (65534). The maps are
//! written once, from outside (the parent), and the kernel checks them:
//! the writer needs `CAP_SETUID`/`CAP_SETGID` over the parent namespace, or may map only
//! its own id, and for a gid map must first switch `setgroups` off ([`deny_setgroups`]) so
//! that nobody can shed a group that denies them access. `newuidmap`/`newgidmap` are the
//! setuid helpers that let ordinary users map ranges from `/etc/subuid`.
//!
//! ## Ordering pitfalls
//!
//! - **PID and time namespaces apply to children.** `unshare(CLONE_NEWPID)` and `setns`
//!   into a PID namespace change `pid_for_children`, not the caller: its next child is
//!   born there. The *first* process in a new PID namespace is its init, pid 1: when it
//!   exits, the kernel kills every other process in the namespace, and signals it has no
//!   handler for are ignored. A time namespace likewise applies to children, and to the
//!   caller after `execve`; its offsets can be set only until the first process enters it.
//! - **User namespace first when joining as an unprivileged user** (it gives the
//!   capabilities needed for the rest), but namespaces *not* owned by it must be joined
//!   before: [`join`] sorts this out and documents the rule.
//! - **Threads.** `unshare`/`setns` of a user or mount namespace fail with `EINVAL` in a
//!   multi-threaded process. Code between `clone` and `execve` in a multi-threaded parent
//!   must be async-signal-safe: [`Spawn`] prepares everything before cloning.
//! - **Mount propagation.** A new mount namespace copies the mount table *including*
//!   shared propagation: make the tree private (`mount --make-rprivate /`) before mounting
//!   in it, or the mounts appear on the host.
//!
//! ## Network devices
//!
//! [`netdev`] moves a network interface into another network namespace under a new name
//! and keeps its permanent addresses (the kernel drops them on the move), over rtnetlink.
//!
//! ## Example
//!
//! ```no_run
//! use iso_ns::{Exec, Namespace, NamespaceSet, Spawn};
//!
//! # fn main() -> Result<(), iso_ns::Error> {
//! let set = NamespaceSet::from([Namespace::Pid, Namespace::Uts, Namespace::Ipc]);
//! let mut child = Spawn::new(set)
//!     .hostname("inside")?
//!     .exec(&Exec::new("/bin/sh").args(["-c", "echo \"$(hostname) pid $$\""]))?;
//! // Prints "inside pid 1"; the host's hostname is untouched.
//! assert!(child.wait()?.success());
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod idmap;
mod join;
mod namespace;
pub mod netdev;
mod netdev_wire;
mod spawn;
mod time;
mod uts;

pub use error::{Error, Result};
pub use idmap::{
    deny_setgroups, user_namespace_with_maps, GidMap, IdMapEntry, MapWriter, UidMap, MAX_MAP_LINES,
};
/// The shared types of `iso-sys` this crate's API uses, so one dependency is enough.
pub use iso_sys::{procfs::ProcRoot, Error as SysError, InvalidPid, Pid, ProcPid};
pub use join::{join, join_plan, pidfd_open, setns_pidfd, unshare, NsFd, NsId};
pub use namespace::{Namespace, NamespaceSet};
pub use spawn::{Child, Exec, ExitStatus, Spawn};
pub use time::{ClockOffset, TimeOffsets};
pub use uts::{domainname, hostname, set_domainname, set_hostname, UtsName, MAX_UTS_NAME_LEN};

/// The README's examples, compiled as doctests so they stay correct.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
