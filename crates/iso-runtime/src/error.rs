use std::io;
use std::path::PathBuf;

use crate::ContainerId;

/// What went wrong in a runtime command: the operation, the path or field, and the errno.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call or file operation failed.
    #[error("{op} {path:?}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The kernel's answer (with its errno).
        #[source]
        source: io::Error,
    },
    /// A command-line value or configuration field is invalid.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidArgument {
        /// The flag or field.
        what: &'static str,
        /// The value given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// `create` was given an id that is already in use.
    #[error("container {0} already exists")]
    AlreadyExists(ContainerId),
    /// No container has this id.
    #[error("container {0} does not exist")]
    NotFound(ContainerId),
    /// `config.json` is not valid JSON or does not match the runtime specification's types.
    #[error("{path:?}: {reason}")]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// The parser's message, starting with the field's path.
        reason: String,
    },
    /// A configuration field has a value the runtime cannot use.
    #[error("{path:?}: {field} {reason}")]
    ConfigField {
        /// The configuration file.
        path: PathBuf,
        /// The field, as a JSON path (`process.args`).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A stored container record could not be written or read back.
    #[error("container record {path:?}: {reason}")]
    Record {
        /// The record file.
        path: PathBuf,
        /// The encoding or decoding error.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
