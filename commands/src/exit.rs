//! Exit codes and the errors that map to them. Documented in the README and `pledge --help`.

use std::fmt;

/// Exit code: a rule or policy refused the command.
pub const REJECTED: u8 = 1;
/// Exit code: the input is malformed (bad flags, missing or malformed files).
pub const INVALID_INPUT: u8 = 2;
/// Exit code: verification failed (a ledger or export was altered or is corrupt).
pub const INTEGRITY: u8 = 3;
/// Exit code: anything else (a bug, the disk).
pub const INTERNAL: u8 = 4;

/// Why a subcommand failed, with what to tell the person.
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub code: u8,
    /// What went wrong (printed after `error: `).
    pub message: String,
    /// What to do next (printed after `hint: `), if there is something useful to say.
    pub hint: Option<String>,
}

impl Failure {
    /// A failure with `code`.
    pub fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure { code, message: message.into(), hint: None }
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
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\nhint: {h}")?;
        }
        Ok(())
    }
}

impl Failure {
    /// The failure as printed on standard error: `error:` and `hint:` coloured on a terminal.
    pub fn render(&self) -> String {
        use crate::session::{paint_err, Paint};
        let mut out = format!("{} {}", paint_err("error:", Paint::Red), self.message);
        if let Some(h) = &self.hint {
            out.push_str(&format!("\n{} {h}", paint_err("hint:", Paint::Yellow)));
        }
        out
    }
}

impl From<ledger::StoreError> for Failure {
    fn from(e: ledger::StoreError) -> Failure {
        match e {
            ledger::StoreError::Locked(_) => Failure::new(INTERNAL, e.to_string())
                .hint("another `pledge` process has this ledger open; stop it or wait for it to finish"),
            ledger::StoreError::Format { .. } => Failure::new(INVALID_INPUT, e.to_string())
                .hint("this ledger was written by an earlier version of Pledge; export it with that version"),
            e if e.is_corruption() => Failure::new(INTEGRITY, e.to_string()).hint(
                "a damaged ledger is never served or extended; `pledge verify` shows the damage, `pledge show` and `pledge export` still read it; restore the ledger from a verified export",
            ),
            other => Failure::internal(other),
        }
    }
}
