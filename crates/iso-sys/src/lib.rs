//! # iso-sys: the small shared floor under the iso crates
//!
//! Every isolation primitive ends up touching the same few kernel interfaces in the same
//! careful way, and each of runc's advisories (see the project's notes) was a place where one
//! of them was used carelessly:
//!
//! - **procfs** ([`procfs`]): a runtime writes security labels, uid maps and sysctls through
//!   `/proc`. If `/proc` is not really procfs (a bind mount over it, a symlink, a tmpfs), the
//!   write silently lands somewhere harmless and the protection it was meant to install is
//!   missing. [`procfs::ProcRoot`] opens `/proc` once, checks the filesystem magic with
//!   `fstatfs(2)`, and resolves every file below it without following symlinks and without
//!   crossing into other mounts.
//! - **file descriptors** ([`fd`]): an fd the runtime forgot to close is a door into the host
//!   (CVE-2024-21626). [`fd::cloexec_from`] marks every fd above a bound close-on-exec with
//!   `close_range(2)`, falling back to walking `/proc/self/fd`.
//! - **openat2** ([`openat2`]): path resolution with `RESOLVE_*` rules enforced by the kernel,
//!   the building block of in-root resolution.
//!
//! Nothing here allocates after a fork unless its documentation says so.
//!
//! ```no_run
//! use iso_sys::procfs::ProcRoot;
//!
//! # fn main() -> Result<(), iso_sys::Error> {
//! let proc_root = ProcRoot::open()?;
//! let status = proc_root.read_to_string(iso_sys::ProcPid::SelfPid, "status")?;
//! assert!(status.contains("Pid:"));
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
pub mod fd;
mod openat2;
mod pid;
pub mod procfs;

pub use error::{into_io_error, Error};
pub use openat2::{openat2, openat2_cstr, Resolve};
pub use pid::{InvalidPid, Pid, ProcPid};

/// The README's examples, compiled as doctests so they stay correct.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
