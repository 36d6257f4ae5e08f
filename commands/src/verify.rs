//! `pledge verify`: check a stored ledger or an export, trusting no index.

use std::path::{Path, PathBuf};

use ledger::export::{self, ExportError};
use ledger::{Store, VerifyFailure, VerifySummary};
use serde_json::json;

use crate::exit::{Failure, INTEGRITY, INVALID_INPUT};

/// Verify every hash, chain link, sequence number, signature and key validity.
///
/// Reads the raw event bytes and recomputes everything from them; no index is trusted. With
/// `--export FILE`, verifies an export instead (its manifest is read from
/// `FILE.manifest.json`). Exits 3 at the first bad event, naming its sequence number and hash.
///
/// Examples:
///   pledge verify
///   pledge verify --ledger /srv/pledge --json
///   pledge verify --export ledger.jsonl
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The ledger directory.
    #[arg(long, env = "PLEDGE_LEDGER", default_value = ".pledge", value_name = "PATH")]
    pub ledger: PathBuf,
    /// Verify this export (JSON Lines) instead of the ledger.
    #[arg(long, value_name = "FILE")]
    pub export: Option<PathBuf>,
    /// Print a JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    /// Ask a `pledge serve` at this address to verify its ledger instead.
    #[arg(long, env = "PLEDGE_SERVER", value_name = "URL", conflicts_with = "export")]
    pub server: Option<String>,
    /// The API's read token, for `--server`.
    #[arg(long, env = "PLEDGE_READ_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub read_token: Option<String>,
}

/// What `verify` reports, in both output modes.
pub enum Outcome {
    /// Everything checked out.
    Ok(VerifySummary),
    /// The first bad event.
    Failed(VerifyFailure),
}

/// Verifies a ledger directory without creating it.
pub fn verify_ledger(dir: &Path) -> Result<Outcome, Failure> {
    crate::session::require_ledger(dir)?;
    let store = Store::open(dir)?;
    Ok(match ledger::verify_store(&store) {
        Ok(s) => Outcome::Ok(s),
        Err(f) => Outcome::Failed(f),
    })
}

/// Verifies an export file and its manifest.
pub fn verify_export_file(file: &Path) -> Result<Outcome, Failure> {
    match export::verify_export(file) {
        Ok((_, s)) => Ok(Outcome::Ok(s)),
        Err(ExportError::Verify(f)) => Ok(Outcome::Failed(f)),
        Err(ExportError::Io { path, source }) => {
            Err(Failure::new(INVALID_INPUT, format!("cannot read `{}`: {source}", path.display()))
                .hint("an export is two files: FILE and FILE.manifest.json, written by `pledge export`"))
        }
        Err(ExportError::Manifest(m)) => Err(Failure::new(INTEGRITY, format!("export manifest: {m}"))),
        Err(e) => Err(Failure::internal(e)),
    }
}

/// Runs `pledge verify`.
pub fn run(args: Args) -> Result<(), Failure> {
    let (what, outcome) = match (&args.export, &args.server) {
        (Some(f), _) => (format!("export `{}`", f.display()), verify_export_file(f)?),
        (None, Some(url)) => {
            let client = crate::api::client::Client::new(url, args.read_token.clone())?;
            let doc = client.get("/api/v1/verify")?;
            let outcome = if doc["ok"] == true {
                Outcome::Ok(serde_json::from_value(doc["summary"].clone()).map_err(Failure::internal)?)
            } else {
                Outcome::Failed(serde_json::from_value(doc["failure"].clone()).map_err(Failure::internal)?)
            };
            (format!("the ledger served at `{url}`"), outcome)
        }
        (None, None) => (format!("ledger `{}`", args.ledger.display()), verify_ledger(&args.ledger)?),
    };
    match outcome {
        Outcome::Ok(s) => {
            if args.json {
                println!("{}", json!({"ok": true, "summary": s}));
            } else {
                println!("{}", summary_text(&what, &s));
            }
            Ok(())
        }
        Outcome::Failed(f) => {
            if args.json {
                println!("{}", json!({"ok": false, "failure": f}));
            }
            Err(failure_of(&what, f))
        }
    }
}

/// The exit-3 failure for a verification failure.
pub fn failure_of(what: &str, f: VerifyFailure) -> Failure {
    Failure::new(INTEGRITY, format!("{what}: {f}"))
        .hint("the event at that sequence number (or its stored hash) was altered; restore the ledger from a verified export")
}

/// Human summary of a successful verification.
pub fn summary_text(what: &str, s: &VerifySummary) -> String {
    let mut out = format!(
        "ok: {what} verifies: {} events, {} signed commands, {} system events",
        s.events, s.commands, s.system_events
    );
    if let (Some(h), Some(id)) = (&s.head, &s.ledger_id) {
        out.push_str(&format!("\n  ledger {id}\n  head   #{} {} at {}", h.seq, h.hash, h.recorded_at));
    }
    out
}
