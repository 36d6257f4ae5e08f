//! Error types of the append path. Domain refusals (a rule said no, the input was malformed)
//! are kept apart from storage failures (the disk said no).

use crate::digest::Digest;

/// A rule refused a well-formed command. Nothing was written.
///
/// ### Handling
/// Show `rule` and `message` to the person; the command will be refused again unless the
/// ledger's state or the command changes (e.g. an admin enrolls the key first).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[error("rejected by rule `{rule}`: {message}")]
pub struct Rejection {
    /// Stable, dotted rule name, e.g. `key.revoked`, `four_eyes`.
    pub rule: String,
    /// What was wrong, naming the things involved.
    pub message: String,
}

impl Rejection {
    /// A rejection by `rule`.
    pub fn new(rule: &str, message: impl Into<String>) -> Rejection {
        Rejection { rule: rule.to_string(), message: message.into() }
    }
}

/// Why a decide step said no.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The command is malformed (bad JSON, missing field, wrong type, unknown field).
    ///
    /// ### Handling
    /// Fix the input; nothing was written.
    #[error("invalid command: {0}")]
    Invalid(String),
    /// A rule refused the command.
    ///
    /// ### Handling
    /// See [`Rejection`].
    #[error(transparent)]
    Rejected(#[from] Rejection),
}

/// A failure of the storage layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// sled reported an error (I/O, corruption it detected, or the database is locked by
    /// another process).
    ///
    /// ### Handling
    /// Report it; if it says the database is locked, another `pledge` holds the ledger.
    #[error("storage: {0}")]
    Sled(#[from] sled::Error),
    /// Another process has the ledger open (sled allows one process per directory).
    ///
    /// ### Handling
    /// Stop the other `pledge` process (or use its server), then retry.
    #[error("the ledger at `{}` is in use by another process", .0.display())]
    Locked(std::path::PathBuf),
    /// An I/O error while making an append durable.
    ///
    /// ### Handling
    /// The append was not acknowledged; it may or may not be on disk. Reopen the ledger and
    /// check the head before retrying (retrying the same command is safe: it is idempotent).
    #[error("storage I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The head is not what the writer expected (optimistic concurrency). Nothing was written.
    ///
    /// ### Handling
    /// Re-read the state and decide again.
    #[error("conflict: expected head {expected}, found {actual}")]
    Conflict {
        /// What the writer expected, as text.
        expected: String,
        /// The actual head, as text.
        actual: String,
    },
    /// The stored data is not what this version of Pledge wrote.
    ///
    /// ### Handling
    /// Run `pledge verify`; restore from an export if it fails.
    #[error("stored event {seq} is unreadable: {reason}")]
    Corrupt {
        /// The sequence number concerned.
        seq: u64,
        /// What is wrong.
        reason: String,
    },
    /// The events handed to the store do not continue its chain (a caller bug).
    ///
    /// ### Handling
    /// This is a bug in the caller; report it.
    #[error("events do not continue the chain: {0}")]
    Discontinuous(String),
    /// An event could not be encoded (e.g. a NaN in a payload) or is too large.
    ///
    /// ### Handling
    /// A decide step produced an unencodable payload; report it.
    #[error("event cannot be encoded: {0}")]
    Encoding(String),
}

impl StoreError {
    /// True when the stored data itself is damaged (as opposed to I/O failing or a lock).
    pub fn is_corruption(&self) -> bool {
        matches!(self, StoreError::Corrupt { .. } | StoreError::Sled(sled::Error::Corruption { .. }))
    }
}

/// Why a submitted command was not appended. In every case nothing was written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The envelope or command is malformed.
    ///
    /// ### Handling
    /// Fix the input (exit code 2 in the CLI).
    #[error("invalid command: {0}")]
    Invalid(String),
    /// A rule refused the command (exit code 1 in the CLI).
    ///
    /// ### Handling
    /// See [`Rejection`].
    #[error(transparent)]
    Rejected(Rejection),
    /// Storage failed or the expected head did not match (see [`StoreError`]).
    ///
    /// ### Handling
    /// See [`StoreError`].
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Refusal> for SubmitError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Invalid(m) => SubmitError::Invalid(m),
            Refusal::Rejected(r) => SubmitError::Rejected(r),
        }
    }
}

impl From<Rejection> for SubmitError {
    fn from(r: Rejection) -> Self {
        SubmitError::Rejected(r)
    }
}

/// The first problem found by verification.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("event {seq} ({}) fails verification: {reason}", hash.map(|h| h.to_string()).unwrap_or_else(|| "unreadable".into()))]
pub struct VerifyFailure {
    /// Sequence number of the first bad event (its position in the store or export).
    pub seq: u64,
    /// The blake3 hash of that event's bytes as found, if they could be read.
    pub hash: Option<Digest>,
    /// What is wrong.
    pub reason: String,
}
