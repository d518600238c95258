//! # iso-caps: Linux capabilities as types
//!
//! Linux splits the power of root into about forty *capabilities* (`CAP_NET_RAW` to open raw
//! sockets, `CAP_SYS_ADMIN` to mount, `CAP_SETUID` to change uids, ...). The kernel checks the
//! capability an operation needs, not the uid. A container's process is usually uid 0, and
//! what keeps it from being the host's root is largely which capabilities it holds: root with
//! the fourteen capabilities of Docker's default set cannot load modules, mount, trace other
//! processes or change the clock; root with all of them can do everything. Keeping the set
//! small is one of the cheapest and strongest protections a runtime has.
//!
//! ## The five sets
//!
//! Every *thread* has five capability sets ([`Set`]), each a 64-bit mask ([`CapSet`]):
//!
//! - **effective**: what the kernel checks right now;
//! - **permitted**: the ceiling for effective. It can only shrink (except through `execve`);
//! - **inheritable**: what may be passed on across `execve`, to programs whose file has the
//!   same capabilities in its inheritable set;
//! - **bounding**: the limit on what `execve` can ever grant and on what may be added to
//!   inheritable. Dropping from it needs `CAP_SETPCAP` and is permanent for the thread and its
//!   descendants;
//! - **ambient** (Linux 4.3): capabilities kept across `execve` of an ordinary program
//!   (without file capabilities). Always a subset of permitted and inheritable; cleared when
//!   either loses the capability.
//!
//! ## What `execve` does
//!
//! For a program with file capabilities F (permitted F(p), inheritable F(i), effective bit
//! F(e)), the new sets are (capabilities(7)):
//!
//! ```text
//! P'(ambient)     = (file is privileged) ? 0 : P(ambient)
//! P'(permitted)   = (P(inheritable) & F(inheritable)) | (F(permitted) & P(bounding)) | P'(ambient)
//! P'(effective)   = F(effective) ? P'(permitted) : P'(ambient)
//! P'(inheritable) = P(inheritable)
//! P'(bounding)    = P(bounding)
//! ```
//!
//! So a non-root process running an ordinary program keeps exactly its ambient set, and
//! nothing else; root (uid 0) is treated as if every file had all file capabilities, unless
//! [`SecureBits::NOROOT`] is set. `no_new_privs` ([`set_no_new_privs`]) makes the kernel
//! ignore set-user-ID bits and file capabilities altogether.
//!
//! ## Changing uid
//!
//! When a thread whose uids include 0 changes all of them to non-zero, the kernel clears
//! permitted, effective and ambient. The keep-caps flag (`PR_SET_KEEPCAPS`, or
//! [`SecureBits::KEEP_CAPS`]) keeps permitted; effective must then be raised again.
//! [`UserSwitch`] does that dance in the right order (groups, gid, uid, then capabilities),
//! keeping a few capabilities or applying a full configuration afterwards.
//! [`Capabilities::from_text`] reads libcap's `cap_net_raw+epi` notation.
//! Securebits ([`SecureBits`]) switch off the special treatment of uid 0 for good, with lock
//! bits that make the choice irreversible.
//!
//! ## Per thread
//!
//! `capset(2)` and the capability `prctl`s change only the *calling thread*. Apply
//! capabilities in a single-threaded process (the child after `fork`, before `execve`) or
//! before starting threads; other threads keep what they had.
//!
//! ## Kernels newer than this crate
//!
//! [`Capability`] names every capability up to `CAP_CHECKPOINT_RESTORE` (40). The running
//! kernel's highest is [`last_cap`] (`/proc/sys/kernel/cap_last_cap`). A [`CapSet`] holds
//! capabilities by number, so sets read from a newer kernel keep their unnamed bits;
//! [`CapConfig::apply`] skips what the running kernel does not support and reports it
//! ([`ApplyReport::skipped`]), as runc does, so one configuration works across kernels and the
//! caller can still insist with [`ApplyReport::is_complete`].
//!
//! ## OCI
//!
//! With the `oci` feature, `CapConfig: From<&oci_spec::runtime::LinuxCapabilities>` turns a
//! bundle's `process.capabilities` into a configuration (absent sets are empty).
//!
//! ## Why not the `caps` crate directly
//!
//! The `caps` crate reports errors as strings; a runtime needs the errno and which
//! capability of which set failed. This crate makes the few system calls itself (see
//! [`Error`]), and its tests cross-check what it reads against `caps`.
//!
//! ## Example
//!
//! ```no_run
//! use iso_caps::{Capabilities, Capability, UserSwitch};
//!
//! // As root, in a child process: become nobody, keeping only CAP_NET_RAW (like
//! // `capsh --keep=1 --user=nobody --caps=cap_net_raw+epi`).
//! UserSwitch::new(65534, 65534).keep(Capability::NetRaw).apply()?;
//! let caps = Capabilities::current()?;
//! println!("{caps}");
//! assert_eq!(caps.effective.iter().collect::<Vec<_>>(), [Capability::NetRaw]);
//! # Ok::<(), iso_caps::Error>(())
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
mod capability;
mod error;
#[cfg(feature = "oci")]
mod oci;
mod securebits;
mod set;
mod state;
mod sys;
mod text;
mod user;

pub use apply::{ApplyReport, CapConfig, PreparedCaps, SkipReason, Skipped};
pub use capability::Capability;
pub use error::Error;
/// The shared types of `iso-sys` this crate's API uses, so one dependency is enough.
pub use iso_sys::{procfs::ProcRoot, Error as SysError, InvalidPid, Pid, ProcPid};
pub use securebits::{keep_caps, no_new_privs, set_keep_caps, set_no_new_privs, SecureBits};
pub use set::{CapSet, Set, MAX_CAP_NUMBER};
pub use state::{last_cap, last_cap_in, last_cap_probe, Capabilities};
pub use user::UserSwitch;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The README's examples, compiled as doctests so they stay correct.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
