//! # iso: Linux isolation primitives and an OCI runtime built from them
//!
//! Each kernel feature that a container is made of lives in its own small crate, usable on
//! its own; this facade re-exports them as modules:
//!
//! | module | crate | kernel feature |
//! |---|---|---|
//! | [`sys`] | `iso-sys` | verified procfs handles, `openat2`, fd hygiene |
//! | [`ns`] | `iso-ns` | namespaces: unshare, setns, clone, uid/gid maps, time offsets |
//! | [`chroot`] | `iso-chroot` | root filesystems: chroot, pivot_root, mounts, /dev, masked paths |
//! | [`caps`] | `iso-caps` | capabilities: the five sets, keep-caps across a uid change |
//! | [`cgroups`] | `iso-cgroups` | cgroups v1, v2 and hybrid |
//! | [`seccomp`] | `iso-seccomp` | seccomp filters through libseccomp |
//! | [`mac`] | `iso-mac` | AppArmor, SELinux, Landlock |
//! | [`jail`] | (this crate) | all of the above as one ordered sequence for a worker process |
//!
//! The OCI runtime, `iso-runtime`, composes them into a runc-compatible command line.
//!
//! ```
//! // Every crate is reachable through the facade.
//! let me = iso::sys::Pid::this();
//! assert!(me.as_raw() > 0);
//! ```

#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod jail;

pub use iso_caps as caps;
pub use iso_cgroups as cgroups;
pub use iso_chroot as chroot;
pub use iso_mac as mac;
pub use iso_ns as ns;
pub use iso_seccomp as seccomp;
pub use iso_sys as sys;

/// The README's examples, compiled as doctests so they stay correct.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
