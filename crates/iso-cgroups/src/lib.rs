//! # iso-cgroups: control groups on v1, v2 and hybrid hosts
//!
//! A **cgroup** is a directory in a special filesystem; every process belongs to exactly one
//! cgroup per *hierarchy*, and **controllers** attached to a hierarchy account and limit what
//! the processes of each cgroup use: `pids` (task count), `memory`, `cpu` (weight and CFS
//! quota), `cpuset` (which CPUs and memory nodes), `io`/`blkio`, `hugetlb`, `rdma`, and on v1
//! `devices`, `freezer`, `net_cls`, `net_prio`. Limits are written as text to files in the
//! cgroup's directory (`pids.max`, `memory.max`, ...); a process joins by writing its pid to
//! `cgroup.procs`, and its children are born in the same cgroup.
//!
//! ## v1, v2 and hybrid
//! - **v1** mounts one hierarchy per controller set (`/sys/fs/cgroup/memory`, ...), each with
//!   its own tree, so a process has a separate cgroup in each. Files carry v1 names
//!   (`memory.limit_in_bytes`, `cpu.cfs_quota_us`, `-1` for unlimited).
//! - **v2** has one unified tree (`/sys/fs/cgroup`, type `cgroup2`). A parent hands
//!   controllers to its children with `cgroup.subtree_control`; freezing (`cgroup.freeze`)
//!   and killing (`cgroup.kill`, Linux 5.14) are core files; device access is an eBPF
//!   program attached to the directory; "unlimited" is written `max`.
//! - **hybrid** hosts run v1 controllers plus a `cgroup2` mount (typically
//!   `/sys/fs/cgroup/unified`) that owns whatever controllers no v1 hierarchy holds. A
//!   controller can be bound to one hierarchy only. [`Layout::detect`] reads
//!   `/proc/self/mountinfo`, and a [`Cgroup`] drives each controller on the hierarchy that
//!   owns it and joins processes to the same path in every hierarchy.
//!
//! ## What the kernel checks, and pitfalls
//! - **No internal processes (v2)**: a non-root cgroup that has enabled controllers for its
//!   children in `cgroup.subtree_control` may not hold processes itself, and enabling fails
//!   with `EBUSY` while it does. Put processes in leaves.
//! - **Delegation**: writing `cgroup.procs` needs write access to the common ancestor of
//!   the source and destination cgroups; an unprivileged manager is given (delegated) a
//!   sub-tree by chowning its directory and `cgroup.procs`, `cgroup.subtree_control`,
//!   `cgroup.threads`. Relative paths are therefore never guessed: see [`CgroupPath`].
//! - **v1 cpuset** directories start with empty `cpuset.cpus`/`cpuset.mems`, and joining
//!   them fails with `ENOSPC`; [`Cgroup::create`] copies the parent's values.
//! - **Moving is slow, joining yourself is not**: writing a pid to `cgroup.procs` takes the
//!   global `cgroup_threadgroup_rwsem` for writing, which waits for an RCU grace period
//!   (milliseconds). A single-threaded process writing `0` to a v1 `tasks` file moves only
//!   itself and skips that lock, and a child cloned with `CLONE_INTO_CGROUP` is born in its
//!   v2 cgroup: see [`PreparedJoin`] and [`Cgroup::open_v2_dir`].
//! - **Freezing** is asynchronous: v1 reports `FREEZING` until every task has stopped and
//!   v2 sets `frozen 1` in `cgroup.events`. [`Cgroup::freeze`] waits for the real state. A
//!   frozen task cannot fork, which makes a frozen cgroup's process list stable.
//! - **Deleting** a cgroup is `rmdir`; it fails with `EBUSY` while any task (even one that is
//!   exiting) is still counted, so [`Cgroup::delete`] retries with a bounded backoff.
//! - **Unset is not unlimited**: every field of [`Resources`] is an `Option`; `None` leaves
//!   the kernel default, [`Limit::Max`] writes "unlimited", and a pids limit of 0 is real.
//!
//! ## Example
//! ```no_run
//! use iso_cgroups::{Cgroup, CgroupPath, Cpu, Layout, Limit, Memory, Pids, Resources};
//!
//! let layout = Layout::detect()?;
//! let cg = Cgroup::create(&layout, CgroupPath::new("/iso/job-42")?)?;
//! cg.apply(&Resources {
//!     pids: Some(Pids { limit: Some(Limit::Value(32)) }),
//!     memory: Some(Memory { limit: Some(Limit::Value(64 << 20)), ..Memory::default() }),
//!     cpu: Some(Cpu { cpus: Some("0".into()), ..Cpu::default() }),
//!     ..Resources::default()
//! })?;
//! let child = std::process::Command::new("sleep").arg("5").spawn().expect("spawn");
//! cg.add_process(iso_sys::Pid::from_raw(child.id() as i32).expect("pid"))?;
//! println!("{:?}", cg.stats()?.pids);
//! cg.kill()?;
//! cg.delete()?;
//! # Ok::<(), iso_cgroups::Error>(())
//! ```
//!
//! # Features
//!
//! `oci` (off by default): conversions from and to the types of the
//! [`oci-spec`](https://docs.rs/oci-spec) crate (version 0.10). With it, `oci-spec` is a
//! *public* dependency: its types appear in this crate's API, so use the same `oci-spec`
//! version as this crate, and a new major version of `oci-spec` means a new major version of
//! this crate.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod apply;
mod bpf;
mod cgroup;
mod devices;
mod error;
mod join;
mod layout;
#[cfg(feature = "oci")]
mod oci;
mod path;
mod resources;
mod stats;
mod systemd;

pub use cgroup::{Cgroup, FreezerState};
pub use error::{Error, Result};
/// The shared types of `iso-sys` this crate's API uses, so one dependency is enough.
pub use iso_sys::{Error as SysError, InvalidPid, Pid};
pub use join::PreparedJoin;
pub use layout::{parse_mountinfo, CgroupMount, Controller, Hierarchy, Layout, Mode, Version};
pub use path::{Anchor, CgroupPath};
pub use resources::{
    blkio_weight_to_io, shares_to_weight, BlockIo, Cpu, DeviceAccess, DeviceKind, DeviceRule,
    HugepageLimit, Limit, Memory, Network, Pids, Rdma, Resources, ThrottleDevice, WeightDevice,
};
pub use stats::{
    hugepage_sizes, BlkioEntry, BlkioStats, CpuStats, HugetlbStats, MemoryCounter, MemoryStats,
    PidsStats, Stats,
};

/// The README's examples, compiled as doctests so they stay correct.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
pub use systemd::{systemd_slice_path, Systemd, SystemdUnit, SYSTEMD_PRIVATE_SOCKET};
