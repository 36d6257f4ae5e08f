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
    #[error("{}", sled_message(.0))]
    Sled(#[from] sled::Error),
    /// Another process has the ledger open (sled allows one process per directory), and kept
    /// it for longer than the lock wait ([`crate::store::set_lock_wait`]).
    ///
    /// ### Handling
    /// Use the other process's server (`pledge serve` owns its ledger), wait longer, or stop
    /// it; then retry. Nothing was read or written.
    #[error("the ledger at `{}` is in use by another process (a `pledge serve`, or another command still running)", .0.display())]
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
    #[error("the ledger is damaged at event {seq}: {reason}")]
    Corrupt {
        /// The sequence number concerned.
        seq: u64,
        /// What is wrong.
        reason: String,
    },
    /// sled found one of its files damaged when opening the store (a checksum that does not
    /// match: a flipped bit, a torn or overwritten block).
    ///
    /// ### Handling
    /// Run `pledge verify` on a copy; restore the ledger from a verified export.
    #[error("the ledger's file `{}` is damaged{}: sled's checksums do not match its contents", .file.display(), .offset.map_or(" (sled did not report where)".to_string(), |o| format!(" at byte {o}")))]
    Damaged {
        /// The damaged file.
        file: std::path::PathBuf,
        /// Where in it, when sled says.
        offset: Option<u64>,
    },
    /// The ledger was written in another envelope format than this version of Pledge reads
    /// (`docs/FORMAT.md`, section 17).
    ///
    /// ### Handling
    /// Read it with the version of Pledge that wrote it (`pledge export` works there).
    #[error("the ledger is in format {found}; this version of Pledge reads format {supported} (docs/FORMAT.md, section 17)")]
    Format {
        /// The format of the ledger's genesis.
        found: u32,
        /// The format this version reads and writes.
        supported: u32,
    },
    /// An earlier commit failed in a way that leaves the store needing a reopen: sled could not
    /// apply a commit the journal made durable, or a failed journal append could not be wiped.
    /// Nothing was written by this call.
    ///
    /// ### Handling
    /// Close and reopen the ledger (the journal re-applies or cuts what it holds); check the
    /// disk if it happens again.
    #[error("the store needs to be reopened: {0}")]
    Poisoned(String),
    /// The file system holding the ledger is (nearly) full: a commit was refused before
    /// anything was written, because less than the minimum free space
    /// ([`crate::store::set_min_free_space`]) is available, the journal append ran out of
    /// space (and was wiped), or opening or reading the store met a full disk.
    ///
    /// ### Handling
    /// Nothing was committed. Free space on that file system; the next command then succeeds
    /// (a server recovers by itself, no restart). Resending the same signed command is safe.
    #[error("the disk holding the ledger at `{}` is full ({detail}): nothing was committed", .dir.display())]
    NoSpace {
        /// The ledger directory.
        dir: std::path::PathBuf,
        /// How full, or the operating system's error.
        detail: String,
    },
    /// A journal append failed and could not be wiped: the commit may or may not be on disk.
    ///
    /// ### Handling
    /// Resend the same signed command once storage works again: commands are idempotent, so
    /// the answer is then the original outcome (committed, with its events) or a fresh commit.
    #[error("a commit may or may not have been written ({0}); resend the same signed command to learn its outcome (it is idempotent)")]
    InDoubt(String),
    /// The ledger was opened read-only (the user may only read it, or its file system is
    /// mounted read-only): reads, verification and export work, appends do not.
    ///
    /// ### Handling
    /// Write through a process that may write the ledger (its owner, or its `pledge serve`).
    /// Nothing was written.
    #[error("the ledger at `{}` is read-only here ({reason}): it can be read, verified and exported, not written", .dir.display())]
    ReadOnly {
        /// The ledger directory.
        dir: std::path::PathBuf,
        /// Why it could not be opened for writing.
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

/// sled's error, saying for corruption which file and where (sled keeps its log in the file
/// `db` of the ledger directory; an offset is a byte position in it).
fn sled_message(e: &sled::Error) -> String {
    match e {
        sled::Error::Corruption { at: Some(ptr), .. } => {
            format!("storage: sled found corrupted data in the ledger's file `db` at byte {}", ptr.lid())
        }
        sled::Error::Corruption { at: None, .. } => {
            "storage: sled found corrupted data in the ledger's file `db` (sled did not report the offset)"
                .into()
        }
        other => format!("storage: {other}"),
    }
}

impl StoreError {
    /// True when opening for writing was denied (no write permission, a read-only mount).
    pub(crate) fn is_write_denied(&self) -> bool {
        let io = match self {
            StoreError::Sled(sled::Error::Io(e)) | StoreError::Io(e) => e,
            _ => return false,
        };
        matches!(io.kind(), std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem)
    }

    /// True when the stored data itself is damaged (as opposed to I/O failing or a lock).
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            StoreError::Corrupt { .. }
                | StoreError::Damaged { .. }
                | StoreError::Sled(sled::Error::Corruption { .. })
        )
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
    /// Sequence number of the first bad event (its position in the store or export; one past
    /// the last event when something is missing at the end).
    pub seq: u64,
    /// The blake3 hash of that event's bytes as found, if they could be read.
    pub hash: Option<Digest>,
    /// What is wrong.
    pub reason: String,
    /// When the event is not what its command re-derives: the first member that differs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mismatch: Option<Box<Mismatch>>,
}

impl VerifyFailure {
    /// A failure at `seq`.
    pub fn new(seq: u64, hash: Option<Digest>, reason: impl Into<String>) -> VerifyFailure {
        VerifyFailure { seq, hash, reason: reason.into(), mismatch: None }
    }

    /// The same failure, with the member that differs from the re-derived event.
    pub fn with_mismatch(mut self, mismatch: Option<Mismatch>) -> VerifyFailure {
        self.mismatch = mismatch.map(Box::new);
        self
    }
}

/// Where a recorded event differs from the event its command re-derives.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mismatch {
    /// The path of the first differing member, e.g. `payload.gates[0].candidate` (empty when
    /// the whole event is missing).
    pub member: String,
    /// Its value in the ledger (`None`: absent).
    pub recorded: Option<serde_json::Value>,
    /// Its value when the command is decided again (`None`: absent).
    pub derived: Option<serde_json::Value>,
}

impl Mismatch {
    /// `` `member` is X in the ledger, Y when re-derived ``.
    pub fn describe(&self) -> String {
        let show = |v: &Option<serde_json::Value>| {
            v.as_ref().map_or("absent".to_string(), |v| {
                let s = v.to_string();
                match s.char_indices().nth(200) {
                    Some((cut, _)) => format!("{}…", &s[..cut]),
                    None => s,
                }
            })
        };
        format!(
            "`{}` is {} in the ledger, {} when re-derived",
            self.member,
            show(&self.recorded),
            show(&self.derived)
        )
    }
}
