//! # iso-mac: mandatory access control for sandboxes (AppArmor, SELinux, Landlock)
//!
//! Namespaces decide what a process can *see*; capabilities and seccomp decide which
//! privileged operations and system calls it can *make*. Linux Security Modules (LSMs)
//! decide, object by object, whether an access that passed all of that is *allowed*: the
//! kernel calls every active module at hooks such as "open this inode", "bind this socket",
//! "execute this file", and the access fails (`EACCES`, sometimes `EPERM`) if any says no.
//!
//! ## Stacking
//! Several modules are active at once, in the order of the boot `lsm=` list, shown in
//! `/sys/kernel/security/lsm` (or returned by `lsm_list_modules(2)` since Linux 6.8). The
//! small ones (capability, Yama, Lockdown, Landlock, BPF) always stack; historically only
//! one "major" module (SELinux, AppArmor or Smack) could be active, and each still uses the
//! shared files `/proc/PID/attr/{current,exec,...}`. Since Linux 5.1 AppArmor also has its
//! own `/proc/PID/attr/apparmor/`, which is what this crate writes first. [`detect`] reports
//! which modules are active; every operation on an inactive one returns
//! [`Error::NotActive`], never a silent no-op.
//!
//! ## AppArmor: path-based ([`apparmor`])
//! Rules name paths (`/etc/shadow r,`), capabilities and network families. A policy is
//! written as text, compiled by the user-space `apparmor_parser` and loaded into the
//! kernel; a task is confined by a profile when it executes a program matching the
//! profile's attachment path, or when it asked, before `execve`, to enter a named profile
//! (the `exec` attribute: what container runtimes do). Because rules are about paths, a
//! file reachable by two paths (a bind mount) is judged by the path used.
//!
//! ## SELinux: label-based ([`selinux`])
//! Every process and every file carries a context `user:role:type:level`; the policy, loaded
//! once for the whole system, says which types may do what to which. Paths do not matter,
//! labels do: a runtime picks the container's process label (`exec` attribute), the label of
//! the keyrings and files it creates, and labels its mounts with `context="..."`. MCS levels
//! (`s0:c1,c2`) keep two containers of the same type apart.
//!
//! ## Landlock: unprivileged self-sandboxing ([`landlock`])
//! Any process, without privileges, can restrict *itself* (and its future children): it
//! lists the access rights it *handles* and the paths and ports where they stay allowed;
//! everything else handled is denied, forever, for it and what it executes. Features arrive
//! as ABI versions: 1 (Linux 5.13: file access), 2 (5.19: cross-directory rename and link),
//! 3 (6.2: truncate), 4 (6.7: TCP bind and connect), 5 (6.10: device ioctl), 6 (6.12:
//! signal and abstract-socket scoping), 7 (6.15: audit logging). A ruleset asking for a
//! right newer than the kernel's ABI is either enforced partially (best effort, the default
//! of the `landlock` crate, which once surprised users by enforcing nothing) or refused
//! ([`landlock::Compat::Required`]); either way this crate reports exactly which rights were
//! dropped ([`landlock::Enforcement`]). `iso-runtime` applies it to
//! containers (its `org.iso.landlock` annotation and the site policy's `[landlock]`); runc and
//! crun do not.
//!
//! ## Writing labels safely
//! Label writes go through [`iso_sys::procfs::ProcRoot`]: `/proc` is verified to be
//! procfs, and the attribute file is opened without following symlinks or crossing a mount,
//! so a file bind-mounted over `/proc/self/attr/exec` (CVE-2019-16884) makes the write fail
//! with [`Error::Procfs`] instead of landing on the decoy. Writes go to
//! `/proc/thread-self`, because the kernel applies them to the writing thread only.
//!
//! ```
//! let status = iso_mac::detect();
//! println!("active modules: {:?} (from {:?})", status.active, status.source);
//! println!("Landlock: {:?}", status.landlock);
//!
//! // What a read-only ruleset would enforce here, without applying it.
//! use iso_mac::landlock::{FsAccess, Ruleset};
//! let plan = Ruleset::new()
//!     .handle_fs(FsAccess::supported_by(3))
//!     .allow_path("/usr", FsAccess::read())
//!     .plan();
//! println!("{plan}");
//! ```
//!
//! With the `oci` feature, the `oci` module turns an OCI `process` into typed labels.
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

pub mod apparmor;
mod attr;
mod detect;
mod error;
pub mod landlock;
#[cfg(feature = "oci")]
#[cfg_attr(docsrs, doc(cfg(feature = "oci")))]
pub mod oci;
pub mod selinux;

pub use detect::{
    detect, is_active, landlock_status, parse_lsm_list, AppArmorStatus, LandlockStatus, Lsm,
    MacStatus, SeLinuxStatus, Source,
};
pub use error::{Error, Result};
/// The shared types of `iso-sys` this crate's API uses, so one dependency is enough.
pub use iso_sys::{procfs::ProcRoot, Error as SysError};

/// The README's examples, compiled as doctests so they stay correct.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
