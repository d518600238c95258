//! # iso-runtime: an OCI runtime composed from the iso crates
//!
//! An OCI runtime turns a *bundle* (a directory with `config.json` and a root filesystem) into
//! a running container, and answers the commands an engine (containerd, Docker, Podman) sends
//! it over the container's life: `create`, `start`, `state`, `kill`, `delete`. Each command is
//! a separate short-lived process, so the runtime keeps a record of every container in its
//! root directory ([`Store`]), serialised by a lock.
//!
//! ## What the kernel sees
//!
//! A "container" is an ordinary process tree: the init is cloned with `clone3(2)` into new
//! namespaces (pid, mount, net, ipc, uts, user, cgroup), put in a cgroup, given a root
//! filesystem with `pivot_root(2)`, reduced to a set of capabilities and a user, and finally
//! filtered by seccomp before it `execve`s the configured program. The order matters, and is
//! where runtimes went wrong before:
//!
//! - the cgroup is joined *before* the cgroup namespace is created, or the container's cgroup
//!   root would be the runtime's own cgroup;
//! - in a new user namespace the init first becomes its root (the credentials the clone kept
//!   are host root, which has no mapping inside), or every file it creates fails with
//!   `EOVERFLOW`;
//! - until it executes the container's program the init runs the runtime's code, so it is
//!   non-dumpable from birth and executes the program through a sealed trampoline:
//!   `/proc/<pid>/exe` (the host's runtime binary) can never be opened from the container
//!   (CVE-2019-5736); a container that may hold `CAP_SYS_PTRACE` needs the runtime to run
//!   from a sealed copy of itself ([`Error::SealRequired`], `iso_chroot::exe`);
//! - every descriptor above stdio and the preserved ones is marked close-on-exec and the
//!   working directory is checked to be inside the root (CVE-2024-21626);
//! - seccomp is loaded last, so the filter need not allow the runtime's own setup calls
//!   (unless `noNewPrivileges` is false: then it must be loaded before the user switch drops
//!   `CAP_SYS_ADMIN`).
//!
//! A site [`policy`] (TOML: defaults for unset values, ceilings that clamp or reject) is
//! applied to the config after it is parsed and before anything is created.
//!
//! Status is never stored: [`Runtime::state`] derives it from the recorded init pid and its
//! start time (field 22 of `/proc/PID/stat`, so a reused pid reads as "stopped") and from the
//! presence of the handshake socket (`created`).
//!
//! ## After start: exec, pause, update, events
//!
//! - [`Runtime::exec`] runs another process in the init's namespaces: it opens a pidfd of the
//!   init and the new process `setns(2)`s into all of them in one call (with a pidfd the
//!   kernel enters the user namespace first, so the others are joined with its
//!   credentials). Joining a PID namespace moves only the caller's future *children*
//!   (`pid_for_children`), so the runtime joins it itself before it forks the process. The
//!   runtime puts the process in the cgroup before letting it run the container's program.
//!   Capabilities added for an exec go to the bounding, effective and permitted sets only: an
//!   inheritable capability would survive the program's own `execve`s (CVE-2022-29162).
//! - `pause`/`resume` use the freezer: v1 `freezer.state` (`FROZEN`/`THAWED`) or v2
//!   `cgroup.freeze`; frozen tasks get no CPU time and cannot be signalled into running.
//! - [`Runtime::update`] writes new limits into the live cgroup (the kernel refuses some,
//!   e.g. a memory limit below the usage it cannot reclaim) and records them;
//!   [`Runtime::events`] polls the controllers' counters: statistics, and an `oom` event when
//!   the OOM-kill counter grows.
//!
//! ## Example
//!
//! ```no_run
//! use iso_runtime::{CreateOptions, Runtime, Signal, Status};
//!
//! let rt = Runtime::new("/run/iso");
//! let mut created = rt.create("web", "/srv/bundles/web".as_ref(), &CreateOptions::default())?;
//! assert_eq!(rt.state("web")?.status, Status::Created);
//! rt.start("web")?;
//! rt.kill("web", Signal::TERM, false)?;
//! let code = created.wait()?;
//! rt.delete("web", false)?;
//! println!("exited with {code}");
//! # Ok::<(), iso_runtime::Error>(())
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod bundle;
pub mod cli;
mod container;
pub mod criu;
pub mod demo;
mod error;
pub mod features;
mod guard;
mod hooks;
mod init;
pub mod landlock;
mod launch;
mod log;
mod manage;
mod netdev;
mod options;
mod plan;
pub mod policy;
mod process;
pub mod rootless;
mod seccomp_cache;
mod signal;
pub mod spec;
mod state;
mod store;
mod systemd;
mod validate;

pub use bundle::Bundle;
pub use container::Runtime;
pub use error::Error;
pub use launch::Created;
pub use log::{rfc3339, Level, LogFormat, Logger};
pub use manage::stats_event;
pub use options::{CreateOptions, ExecOptions};
pub use plan::{cgroup_path_for, DEFAULT_CGROUP_PARENT};
pub use signal::Signal;
pub use state::{State, Status};
pub use store::{ContainerDir, ContainerId, Store};

/// The README's examples, compiled as doctests so they stay correct.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
