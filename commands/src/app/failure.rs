//! Why a use case failed, in the kinds both front ends report: the CLI as exit codes
//! (documented in the README and `pledge --help`), the API as HTTP statuses.

use std::fmt;

use ledger::SubmitError;

/// Exit code: a rule or policy refused the command.
pub const REJECTED: u8 = 1;
/// Exit code: the input is malformed (bad flags, missing or malformed files).
pub const INVALID_INPUT: u8 = 2;
/// Exit code: verification failed (a ledger or export was altered or is corrupt).
pub const INTEGRITY: u8 = 3;
/// Exit code: anything else (a bug, the disk).
pub const INTERNAL: u8 = 4;
/// Exit code: the ledger is in use by another process (a `pledge serve`, another command);
/// nothing was read or written, and the same command can simply be retried.
pub const BUSY: u8 = 5;
/// Exit code: the ledger's storage did not take the write: its disk is full, or the ledger is
/// read-only for this process. The message says whether anything was committed (nothing, or
/// an outcome in doubt that resending the same signed command tells).
pub const STORAGE: u8 = 6;

/// Why a use case failed, with what to tell the person.
#[derive(Debug)]
pub struct Failure {
    /// The kind, as an exit code ([`REJECTED`], [`INVALID_INPUT`], [`INTEGRITY`], [`INTERNAL`],
    /// [`BUSY`], [`STORAGE`]).
    pub code: u8,
    /// What went wrong.
    pub message: String,
    /// What to do next, if there is something useful to say.
    pub hint: Option<String>,
    /// The rule that refused it, when a rule did.
    pub rule: Option<String>,
    /// The thing asked for does not exist (an event, a published checkpoint): HTTP 404; in the
    /// CLI invalid input (exit 2).
    pub missing: bool,
}

impl Failure {
    /// A failure with `code`.
    pub fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure { code, message: message.into(), hint: None, rule: None, missing: false }
    }

    /// A refusal by `rule`.
    pub fn rejected(rule: &str, message: impl Into<String>) -> Failure {
        Failure {
            code: REJECTED,
            message: message.into(),
            hint: None,
            rule: Some(rule.to_string()),
            missing: false,
        }
    }

    /// The thing asked for does not exist (see [`Failure::missing`]).
    pub fn not_found(message: impl Into<String>) -> Failure {
        Failure { missing: true, ..Failure::new(INVALID_INPUT, message) }
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Failure {
        self.hint = Some(hint.into());
        self
    }

    /// An internal error: the full chain of causes, no hint.
    pub fn internal(e: impl Into<anyhow::Error>) -> Failure {
        Failure::new(INTERNAL, format!("{:#}", e.into()))
    }

    /// The message with the rule that refused it, as people read it.
    pub fn message_with_rule(&self) -> String {
        match &self.rule {
            Some(rule) if !self.message.contains(&format!("`{rule}`")) => {
                format!("{} (rule `{rule}`)", self.message)
            }
            _ => self.message.clone(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message_with_rule())?;
        if let Some(h) = &self.hint {
            write!(f, "\nhint: {h}")?;
        }
        Ok(())
    }
}

impl From<ledger::StoreError> for Failure {
    fn from(e: ledger::StoreError) -> Failure {
        match e {
            ledger::StoreError::Locked(_) => Failure::new(BUSY, e.to_string()).hint(
                "send the command to the server that holds it (`--server URL` or PLEDGE_SERVER), or wait longer with `--wait SECONDS`",
            ),
            ledger::StoreError::Format { .. } => Failure::new(INVALID_INPUT, e.to_string())
                .hint("this ledger was written by an earlier version of Pledge; export it with that version"),
            ledger::StoreError::NoSpace { .. } => Failure::new(STORAGE, e.to_string()).hint(
                "free space on that disk (Pledge keeps --min-free-space free for its own files), then run the same command again",
            ),
            ledger::StoreError::InDoubt(_) => Failure::new(STORAGE, e.to_string())
                .hint("the next command that opens the ledger settles it (`pledge log --limit 5` then shows whether it was committed); an envelope from `pledge sign` can be sent again with `pledge submit --envelope FILE`"),
            ledger::StoreError::ReadOnly { .. } => Failure::new(STORAGE, e.to_string())
                .hint("write as a user who may write the ledger, or send the command to its server (`--server URL`)"),
            ledger::StoreError::Poisoned(_) => Failure::new(STORAGE, e.to_string())
                .hint("the commits before this one are durable; run the command again"),
            ledger::StoreError::Damaged { .. } => Failure::new(INTEGRITY, e.to_string())
                .hint("sled cannot open a ledger whose files are damaged; restore it from a verified export or a backup, and verify that with `pledge verify`"),
            e if e.is_corruption() => Failure::new(INTEGRITY, e.to_string()).hint(
                "a damaged ledger is never served or extended; `pledge verify` shows the damage, `pledge show` and `pledge export` still read it; restore the ledger from a verified export",
            ),
            other => Failure::internal(other),
        }
    }
}

impl From<SubmitError> for Failure {
    /// A command the append path did not take: refused by a rule, malformed, or the store.
    fn from(e: SubmitError) -> Failure {
        match e {
            SubmitError::Rejected(r) => Failure::rejected(&r.rule, r.message),
            SubmitError::Invalid(m) => Failure::new(INVALID_INPUT, m),
            SubmitError::Store(e) => e.into(),
            e => Failure::internal(e),
        }
    }
}

impl From<ledger::Refusal> for Failure {
    fn from(r: ledger::Refusal) -> Failure {
        match r {
            ledger::Refusal::Rejected(r) => Failure::rejected(&r.rule, r.message),
            ledger::Refusal::Invalid(m) => Failure::new(INVALID_INPUT, m),
            other => Failure::internal(anyhow::anyhow!("{other}")),
        }
    }
}
