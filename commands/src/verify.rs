//! `pledge verify`: check a stored ledger or an export, trusting no index, re-deriving every
//! event from the signed commands, and checking the model artifacts the ledger references.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ledger::export::{self, ExportError};
use ledger::{Digest, Store, Verifier, VerifyFailure, VerifySummary};
use serde::Serialize;
use serde_json::json;

use crate::domain::PledgeDomain;
use crate::exit::{Failure, INTEGRITY, INVALID_INPUT};

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
/// `FILE.manifest.json`). With `--expect-head HASH`, the ledger must also contain that event
/// (a head noted earlier): a truncated ledger, an older copy or another ledger fails.
///
/// Exits 3 at the first bad event, naming its sequence number and hash, and, for a derived
/// event, the member that differs with its recorded and re-derived values.
///
/// Examples:
///   pledge verify
///   pledge verify --ledger /srv/pledge --json
///   pledge verify --export ledger.jsonl
///   pledge verify --expect-head 3f9a…e1 --require-artifacts
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
    /// Fail when an artifact the ledger references is missing from `<ledger>/artifacts`
    /// (by default a missing artifact is listed, not a failure: runs recorded from elsewhere
    /// keep their artifacts elsewhere).
    #[arg(long, conflicts_with = "export")]
    pub require_artifacts: bool,
    /// Print a JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    /// Ask a `pledge serve` at this address to verify its ledger instead.
    #[arg(long, env = "PLEDGE_SERVER", value_name = "URL", conflicts_with_all = ["export", "expect_head", "require_artifacts"])]
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

/// One model artifact the ledger references.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactCheck {
    /// The blake3 digest the ledger records.
    pub digest: String,
    /// `ok` (present, hashes to its digest), `missing`, or `altered`.
    pub status: &'static str,
    /// The versions that reference it, as `model vN`.
    pub versions: Vec<String>,
    /// The file looked at.
    pub path: PathBuf,
}

/// The artifacts `verify` looked at.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ArtifactReport {
    /// Digests referenced by the ledger.
    pub referenced: usize,
    /// Present and intact.
    pub ok: usize,
    /// Each artifact that is missing or altered.
    pub problems: Vec<ArtifactCheck>,
}

impl ArtifactReport {
    fn altered(&self) -> impl Iterator<Item = &ArtifactCheck> {
        self.problems.iter().filter(|a| a.status == "altered")
    }

    fn missing(&self) -> impl Iterator<Item = &ArtifactCheck> {
        self.problems.iter().filter(|a| a.status == "missing")
    }
}

/// The verifier `pledge` uses: re-derives with the Pledge domain.
pub fn verifier(expect_head: Option<Digest>) -> Verifier<PledgeDomain> {
    let v = Verifier::with_domain(PledgeDomain::default());
    match expect_head {
        Some(h) => v.expect_head(h),
        None => v,
    }
}

/// Verifies a ledger directory without creating it. Runs on a damaged store too: that is
/// what it is for.
pub fn verify_ledger(dir: &Path, expect_head: Option<Digest>) -> Result<Outcome, Failure> {
    crate::session::require_ledger(dir)?;
    let store = Store::open(dir)?;
    Ok(match ledger::verify_store(&store, verifier(expect_head)) {
        Ok(s) => Outcome::Ok(s),
        Err(f) => Outcome::Failed(f),
    })
}

/// Verifies an export file and its manifest.
pub fn verify_export_file(file: &Path, expect_head: Option<Digest>) -> Result<Outcome, Failure> {
    match export::verify_export(file, verifier(expect_head)) {
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

/// Hashes every artifact the ledger's versions reference that `<ledger>/artifacts` holds.
/// Reads the verified store (call it after the events verified).
pub fn check_artifacts(dir: &Path) -> Result<ArtifactReport, Failure> {
    let store = Store::open(dir)?;
    let mut referenced: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for ev in store.iter() {
        let ev = ev?;
        if ev.event.kind != "version.registered" {
            continue;
        }
        let digest = ev.event.payload["artifact_digest"].as_str().unwrap_or_default().to_string();
        let model = ev.event.subject.as_ref().map_or("", |s| s.model.as_str());
        let label = format!("{model} v{}", ev.event.payload["version"]);
        referenced.entry(digest).or_default().push(label);
    }
    let artifacts = crate::training::artifact_dir(dir);
    let mut report = ArtifactReport { referenced: referenced.len(), ..Default::default() };
    for (digest, versions) in referenced {
        let path = artifacts.join(format!("{digest}.json"));
        let status = match std::fs::read(&path) {
            Ok(bytes) if Digest::of(&bytes).to_string() == digest => "ok",
            Ok(_) => "altered",
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "missing",
            Err(e) => {
                return Err(Failure::internal(anyhow::anyhow!("cannot read `{}`: {e}", path.display())))
            }
        };
        if status == "ok" {
            report.ok += 1;
        } else {
            report.problems.push(ArtifactCheck { digest, status, versions, path });
        }
    }
    Ok(report)
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
    let (what, outcome) = match (&args.export, &args.server) {
        (Some(f), _) => (format!("export `{}`", f.display()), verify_export_file(f, expect_head)?),
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
        (None, None) => {
            (format!("ledger `{}`", args.ledger.display()), verify_ledger(&args.ledger, expect_head)?)
        }
    };
    let summary = match outcome {
        Outcome::Ok(s) => s,
        Outcome::Failed(f) => {
            if args.json {
                println!("{}", json!({"ok": false, "failure": f}));
            }
            return Err(failure_of(&what, f));
        }
    };
    let artifacts = match (&args.export, &args.server) {
        (None, None) => Some(check_artifacts(&args.ledger)?),
        _ => None,
    };
    let altered: Vec<&ArtifactCheck> = artifacts.iter().flat_map(|a| a.altered()).collect();
    let missing: Vec<&ArtifactCheck> = artifacts.iter().flat_map(|a| a.missing()).collect();
    let artifacts_fail = !altered.is_empty() || (args.require_artifacts && !missing.is_empty());
    if args.json {
        println!("{}", json!({"ok": !artifacts_fail, "summary": summary, "artifacts": artifacts}));
    } else {
        println!("{}", summary_text(&what, &summary));
        if let Some(a) = &artifacts {
            println!(
                "  artifacts: {} referenced, {} present and intact, {} missing, {} altered",
                a.referenced,
                a.ok,
                missing.len(),
                altered.len()
            );
            for p in &a.problems {
                println!("  {:<8} {} ({}) {}", p.status, p.digest, p.versions.join(", "), p.path.display());
            }
        }
    }
    if let Some(first) = altered.first() {
        return Err(Failure::new(
            INTEGRITY,
            format!(
                "artifact {} of {} does not hash to the digest the ledger records for it: the file was altered",
                first.digest,
                first.versions.join(", ")
            ),
        )
        .hint("restore the artifact from a copy that verifies, or retrain; never serve it"));
    }
    if artifacts_fail {
        return Err(Failure::new(
            INTEGRITY,
            format!(
                "{} artifact(s) the ledger references are missing from `{}`",
                missing.len(),
                crate::training::artifact_dir(&args.ledger).display()
            ),
        )
        .hint("copy the artifacts into the ledger's `artifacts` directory, or drop --require-artifacts"));
    }
    Ok(())
}

/// The exit-3 failure for a verification failure.
pub fn failure_of(what: &str, f: VerifyFailure) -> Failure {
    Failure::new(INTEGRITY, format!("{what}: {f}"))
        .hint("the ledger was altered or damaged at that event; restore it from a verified export and find out who could write to it")
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
    out
}
