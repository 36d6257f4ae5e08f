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
    let anchors = anchored(&args, &summary)?;
    let artifacts = match (&args.export, &args.server) {
        (None, None) => Some(check_artifacts(&args.ledger)?),
        _ => None,
    };
    let altered: Vec<&ArtifactCheck> = artifacts.iter().flat_map(|a| a.altered()).collect();
    let missing: Vec<&ArtifactCheck> = artifacts.iter().flat_map(|a| a.missing()).collect();
    let artifacts_fail = !altered.is_empty() || (args.require_artifacts && !missing.is_empty());
    if args.json {
        println!(
            "{}",
            json!({"ok": !artifacts_fail, "summary": summary, "artifacts": artifacts, "anchors": anchors})
        );
    } else {
        println!("{}", summary_text(&what, &summary));
        for a in &anchors {
            println!("  {}", a["text"].as_str().unwrap_or(""));
        }
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

/// The tree verification checked: a store's, or an export's built in memory.
enum VerifiedTree {
    Store(Box<Store>),
    Memory(ledger::merkle::MemoryTree),
}

impl ledger::merkle::Nodes for VerifiedTree {
    fn node(&self, level: u8, index: u64) -> Result<ledger::merkle::Hash, String> {
        match self {
            VerifiedTree::Store(s) => s.node(level, index),
            VerifiedTree::Memory(t) => t.node(level, index),
        }
    }
}

/// The checkpoints the ledger (or export) must contain, checked after its events verified:
/// each signed by the log key, for this ledger, its tree a prefix of the verified one.
fn anchored(args: &Args, summary: &VerifySummary) -> Result<Vec<serde_json::Value>, Failure> {
    use crate::transparency;
    use ledger::merkle;
    use ledger::note::Checkpoint;
    let wanted: Vec<(&PathBuf, bool)> =
        args.checkpoint.iter().map(|p| (p, false)).chain(args.extends.iter().map(|p| (p, true))).collect();
    if wanted.is_empty() {
        return Ok(vec![]);
    }
    let keys = match &args.log_key {
        Some(v) => vec![transparency::vkey(v)?],
        None => summary.log_keys.iter().filter_map(|k| ledger::note::NoteKey::parse_vkey(k).ok()).collect(),
    };
    let origin = summary.ledger_id.map(|id| ledger::note::origin(&id)).unwrap_or_default();
    // The verified tree: the store's, or one built from the export's lines.
    let tree = match &args.export {
        None => VerifiedTree::Store(Box::new(Store::open(&args.ledger)?)),
        Some(file) => {
            let data = std::fs::read(file).map_err(Failure::internal)?;
            let mut t = merkle::MemoryTree::default();
            for line in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                t.push(merkle::leaf_hash(line));
            }
            VerifiedTree::Memory(t)
        }
    };
    let tree = |old: u64, new: u64| -> Result<(merkle::Hash, Vec<merkle::Hash>), Failure> {
        let proof = if old == 0 || old == new {
            vec![]
        } else {
            merkle::consistency_proof(&tree, old, new).map_err(|e| Failure::new(INTEGRITY, e))?
        };
        Ok((merkle::root(&tree, old).map_err(|e| Failure::new(INTEGRITY, e))?, proof))
    };
    let mut out = vec![];
    for (path, extends) in wanted {
        let note = transparency::read_note(path)?;
        transparency::check_signed_by_log(&note, &keys)?;
        let cp = Checkpoint::from_note(&note).map_err(|e| Failure::new(INVALID_INPUT, e))?;
        if cp.origin != origin {
            return Err(Failure::new(
                INTEGRITY,
                format!("`{}` is a checkpoint of `{}`, this is `{origin}`", path.display(), cp.origin),
            ));
        }
        if cp.size > summary.events {
            return Err(Failure::new(
                INTEGRITY,
                format!(
                    "`{}` covers {} events, the ledger holds {}: it was truncated or rolled back to an older copy",
                    path.display(),
                    cp.size,
                    summary.events
                ),
            ));
        }
        let (root, proof) = tree(cp.size, summary.events)?;
        if root != cp.root {
            return Err(Failure::new(
                INTEGRITY,
                format!(
                    "the first {} events do not have the root `{}` names: the ledger forked from the one checkpointed",
                    cp.size,
                    path.display()
                ),
            ));
        }
        let head = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &summary.tree_root)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| Failure::internal(anyhow::anyhow!("no tree root in the summary")))?;
        if cp.size > 0 {
            merkle::verify_consistency(cp.size, summary.events, &proof, &cp.root, &head)
                .map_err(|e| Failure::new(INTEGRITY, format!("`{}`: {e}", path.display())))?;
        }
        let how = if extends { "extends" } else { "contains" };
        out.push(json!({"checkpoint": path, "size": cp.size, "relation": how, "proof_hashes": proof.len(),
            "text": format!("{how} checkpoint `{}` of {} events (consistency proof of {} hashes)", path.display(), cp.size, proof.len())}));
    }
    Ok(out)
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
