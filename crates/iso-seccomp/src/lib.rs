//! # iso-seccomp: seccomp-bpf filters for containers
//!
//! placeholder
#![deny(missing_docs)]

mod bpf;
mod compile;
mod default_profile;
mod error;
pub mod notify;
#[cfg(feature = "oci")]
mod oci;
mod profile;

pub use bpf::{BpfProgram, MAX_INSTRUCTIONS};
pub use compile::Filter;
pub use default_profile::{default_profile, NAMESPACE_CLONE_FLAGS};
pub use error::{Error, Result};
pub use profile::{Action, Arch, Condition, Flags, Op, Profile, SyscallRule, MAX_ERRNO};
