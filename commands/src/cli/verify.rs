//! `pledge verify`: check a stored ledger or an export, trusting no index, re-deriving every
//! event from the signed commands, and checking the model artifacts the ledger references.

use std::path::PathBuf;

use ledger::{Digest, VerifySummary};
use serde_json::json;

use super::output::outln;
use crate::app::failure::{Failure, INVALID_INPUT};
use crate::app::remote::Client;
use crate::app::verify::{self, Target, VerifyRequest};

/// Verify a ledger: every byte, hash, link, signature and key, and every derived event.
///
/// Reads the raw event bytes and recomputes everything from them; no index is trusted. Each
/// signed command is decided again against the state before it, at its recorded time, and the
/// events it produces must equal the recorded ones byte for byte: a gate evaluation, a
/// promotion by policy, a version number or an archival that was altered, inserted or removed
/// is caught even if every hash was recomputed. The model artifacts the ledger references are
/// hashed where `<ledger>/artifacts` has them (an altered one fails; a missing one is listed).
///
/// With `--export FILE`, verifies an export instead (its manifest is read from
/// `FILE.manifest.json`, and its signed checkpoint, if any, must be of exactly the exported
/// events). With `--expect-head HASH`, the ledger must also contain that event (a head noted
/// earlier). With `--checkpoint FILE` (or `--extends FILE`, the same check for an export: its
/// tree extends the checkpoint's, by an RFC 6962 consistency proof to its own signed
/// checkpoint), the ledger must contain the tree of a checkpoint kept earlier, signed by the
/// log key (`--log-key VKEY`, or the ledger's own log keys): a truncated ledger, an older copy,
/// a fork or another ledger fails.
///
/// Exits 3 at the first bad event, naming its sequence number and hash, and, for a derived
/// event, the member that differs with its recorded and re-derived values.
///
/// Examples:
///   pledge verify
///   pledge verify --ledger /srv/pledge --json
///   pledge verify --export ledger.jsonl
///   pledge verify --expect-head 3f9a…e1 --require-artifacts
///   pledge verify --checkpoint q3.checkpoint --log-key "$(cat log.vkey)"
///   pledge verify --export 2026-q4.jsonl --extends q3.checkpoint --log-key "$(cat log.vkey)"
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The ledger directory.
    #[arg(long, env = "PLEDGE_LEDGER", default_value = ".pledge", value_name = "PATH")]
    pub ledger: PathBuf,
    /// Verify this export (JSON Lines) instead of the ledger.
    #[arg(long, value_name = "FILE")]
    pub export: Option<PathBuf>,
    /// Fail unless the ledger contains this event id (64 hex characters), e.g. a head noted at
    /// the last audit: catches truncation, a restored older copy, or a different ledger.
    #[arg(long, value_name = "HASH")]
    pub expect_head: Option<String>,
    /// Fail unless the ledger contains the tree of this checkpoint (a signed note kept earlier).
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// For an export: fail unless its tree extends this checkpoint's, proved by a consistency
    /// proof to the export's own signed checkpoint.
    #[arg(long, value_name = "FILE", requires = "export")]
    pub extends: Option<PathBuf>,
    /// The log's verifier key that must have signed the checkpoints (default: the ledger's own
    /// log keys, as its events enroll them).
    #[arg(long, value_name = "VKEY")]
    pub log_key: Option<String>,
    /// Fail when an artifact the ledger references is missing from `<ledger>/artifacts`
    /// (by default a missing artifact is listed, not a failure: runs recorded from elsewhere
    /// keep their artifacts elsewhere).
    #[arg(long, conflicts_with = "export")]
    pub require_artifacts: bool,
    /// Print a JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    /// Ask a `pledge serve` at this address to verify its ledger instead.
    #[arg(long, env = "PLEDGE_SERVER", value_name = "URL", conflicts_with_all = ["export", "expect_head", "require_artifacts", "checkpoint", "extends"])]
    pub server: Option<String>,
    /// The API's read token, for `--server`.
    #[arg(long, env = "PLEDGE_READ_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub read_token: Option<String>,
}

/// Runs `pledge verify`.
pub fn run(args: Args) -> Result<(), Failure> {
    let expect_head = args
        .expect_head
        .as_deref()
        .map(|h| {
            h.parse::<Digest>().map_err(|e| {
                Failure::new(INVALID_INPUT, format!("`--expect-head {h}` is not an event id: {e}"))
                    .hint("an event id is 64 hex characters, as `pledge verify` prints after `head`")
            })
        })
        .transpose()?;
    let client = args.server.as_deref().map(|url| Client::new(url, args.read_token.clone())).transpose()?;
    let target = match (&args.export, &client) {
        (Some(f), _) => Target::Export(f),
        (None, Some(c)) => Target::Server(c),
        (None, None) => Target::Ledger(&args.ledger),
    };
    let req = VerifyRequest {
        target,
        expect_head,
        checkpoint: args.checkpoint.as_deref(),
        extends: args.extends.as_deref(),
        log_key: args.log_key.as_deref(),
    };
    let v = match verify::verify(&req)? {
        Ok(v) => v,
        Err((what, f)) => {
            if args.json {
                outln!("{}", json!({"ok": false, "failure": f}));
            }
            return Err(verify::failure_of(&what, f));
        }
    };
    let failure =
        v.artifacts.as_ref().and_then(|a| verify::artifact_failure(a, args.require_artifacts, &args.ledger));
    if args.json {
        outln!(
            "{}",
            json!({"ok": failure.is_none(), "summary": v.summary, "artifacts": v.artifacts, "anchors": v.anchors})
        );
    } else {
        outln!("{}", summary_text(&v.what, &v.summary));
        for a in &v.anchors {
            outln!("  {}", a.text);
        }
        if let Some(a) = &v.artifacts {
            outln!(
                "  artifacts: {} referenced, {} present and intact, {} missing, {} altered",
                a.referenced,
                a.ok,
                a.missing().count(),
                a.altered().count()
            );
            for p in &a.problems {
                outln!("  {:<8} {} ({}) {}", p.status, p.digest, p.versions.join(", "), p.path.display());
            }
        }
    }
    match failure {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

/// Human summary of a successful verification.
pub fn summary_text(what: &str, s: &VerifySummary) -> String {
    let mut out = format!(
        "ok: {what} verifies: {} events, {} signed commands, {} events derived from them{}",
        s.events,
        s.commands,
        s.system_events,
        if s.rederived { " (each re-derived byte for byte)" } else { "" }
    );
    if let (Some(h), Some(id)) = (&s.head, &s.ledger_id) {
        out.push_str(&format!("\n  ledger {id}\n  head   #{} {} at {}", h.seq, h.hash, h.recorded_at));
    }
    if s.snapshots > 0 {
        out.push_str(&format!(
            "\n  {} snapshot{} of the state equal to what the events give",
            s.snapshots,
            if s.snapshots == 1 { "" } else { "s" }
        ));
    }
    if s.index_runs > 0 {
        out.push_str(&format!(
            "\n  {} event index run{} equal to what the events give",
            s.index_runs,
            if s.index_runs == 1 { "" } else { "s" }
        ));
    }
    out
}
