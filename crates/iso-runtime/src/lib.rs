//! # iso-runtime: an OCI runtime composed from the iso crates
//!
//! An OCI runtime turns a *bundle* (a directory with `config.json` and a root filesystem) into
//! a running container, and answers the commands an engine (containerd, Docker, Podman) sends
//! it over the container's life: `create`, `start`, `state`, `kill`, `delete`, and the rest of
//! runc's command line. Each command is a separate short-lived process, so the runtime keeps a
//! record of every container in its root directory ([`Store`]), serialised by a lock.
//!
//! This crate is a thin composition: namespaces come from `iso-ns`, the root filesystem from
//! `iso-chroot`, capabilities from `iso-caps`, limits from `iso-cgroups`, system-call filters
//! from `iso-seccomp`, labels and Landlock from `iso-mac`. It is being built up; what exists
//! today is the part every command shares: loading a bundle with errors that name the
//! field ([`Bundle`]), container ids and their records ([`Store`]),
//! signal names ([`Signal`]) and the log that engines read back ([`Logger`]).
//!
//! ```no_run
//! use iso_runtime::{ContainerId, Store};
//!
//! let store = Store::new("/run/iso");
//! for id in store.ids()? {
//!     println!("{id}");
//! }
//! # Ok::<(), iso_runtime::Error>(())
//! ```
#![deny(missing_docs)]

mod bundle;
mod container;
mod error;
mod hooks;
mod init;
mod log;
mod process;
mod signal;
mod state;
mod store;

pub use bundle::Bundle;
pub use container::{cgroup_path_for, CreateOptions, Created, Runtime, DEFAULT_CGROUP_PARENT};
pub use error::Error;
pub use log::{rfc3339, Level, LogFormat, Logger};
pub use signal::Signal;
pub use state::{State, Status};
pub use store::{ContainerDir, ContainerId, Store};
