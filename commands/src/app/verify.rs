//! Verification as a use case: a stored ledger, an export or a server's ledger, trusting no
//! index and re-deriving every event from the signed commands; the model artifacts the ledger
//! references; and the checkpoints it must contain.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ledger::export::{self, ExportError};
use ledger::{Digest, Store, Verifier, VerifyFailure, VerifySummary};
use serde::Serialize;

use super::failure::{Failure, INTEGRITY, INVALID_INPUT};
use super::remote::Client;
use crate::domain::PledgeDomain;

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
    /// The altered artifacts.
    pub fn altered(&self) -> impl Iterator<Item = &ArtifactCheck> {
        self.problems.iter().filter(|a| a.status == "altered")
    }

    /// The missing artifacts.
    pub fn missing(&self) -> impl Iterator<Item = &ArtifactCheck> {
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

/// Verifies a ledger directory without creating it (it runs on a damaged store too: that is
/// what it is for), and gives the artifacts the verified events reference: each digest with
/// the versions that name it (`model vN`), from the state the events fold to.
fn verify_ledger(
    dir: &Path,
    expect_head: Option<Digest>,
) -> Result<(Outcome, BTreeMap<String, Vec<String>>), Failure> {
    super::backend::require_ledger(dir)?;
    let store = Store::open(dir)?;
    Ok(match ledger::verify_store_with_domain(&store, verifier(expect_head)) {
        Ok((s, domain)) => {
            let mut referenced: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (name, model) in &domain.state.models {
                for (n, v) in &model.versions {
                    referenced.entry(v.artifact_digest.clone()).or_default().push(format!("{name} v{n}"));
                }
            }
            (Outcome::Ok(s), referenced)
        }
        Err(f) => (Outcome::Failed(f), BTreeMap::new()),
    })
}

/// Verifies an export file and its manifest.
pub fn verify_export_file(file: &Path, expect_head: Option<Digest>) -> Result<Outcome, Failure> {
    match export::verify_export(file, verifier(expect_head)) {
        Ok((_, s)) => Ok(Outcome::Ok(s)),
        Err(ExportError::Verify(f)) => Ok(Outcome::Failed(f)),
        Err(e) => Err(export_failure(e)),
    }
}

/// An export that could not be read, or whose manifest is wrong, as a failure (a bad event is
/// a [`VerifyFailure`], reported by the caller).
pub fn export_failure(e: ExportError) -> Failure {
    match e {
        ExportError::Io { path, source } => {
            Failure::new(INVALID_INPUT, format!("cannot read `{}`: {source}", path.display()))
                .hint("an export is two files: FILE and FILE.manifest.json, written by `pledge export`")
        }
        ExportError::Manifest(m) => Failure::new(INTEGRITY, format!("export manifest: {m}")),
        e => Failure::internal(e),
    }
}

/// Hashes every artifact `referenced` (digest and the versions naming it, from the verified
/// events) that `<ledger>/artifacts` holds.
fn check_artifacts(dir: &Path, referenced: BTreeMap<String, Vec<String>>) -> Result<ArtifactReport, Failure> {
    let artifacts = super::training::artifact_dir(dir);
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

/// What to verify.
#[derive(Debug)]
pub enum Target<'a> {
    /// A ledger directory (runs on a damaged store too).
    Ledger(&'a Path),
    /// An export and its manifest.
    Export(&'a Path),
    /// The ledger a server serves (it verifies; the answer is checked for shape only).
    Server(&'a Client),
}

/// A verification to run.
#[derive(Debug)]
pub struct VerifyRequest<'a> {
    /// What.
    pub target: Target<'a>,
    /// An event the ledger must contain.
    pub expect_head: Option<Digest>,
    /// A checkpoint whose tree the ledger must contain.
    pub checkpoint: Option<&'a Path>,
    /// For an export: a checkpoint its tree must extend.
    pub extends: Option<&'a Path>,
    /// The log's verifier key (default: the ledger's own log keys).
    pub log_key: Option<&'a str>,
}

/// One checkpoint the ledger was found to contain.
#[derive(Debug, Clone, Serialize)]
pub struct Anchor {
    /// The checkpoint file.
    pub checkpoint: PathBuf,
    /// Its size.
    pub size: u64,
    /// `contains` or `extends`.
    pub relation: &'static str,
    /// Hashes in the consistency proof.
    pub proof_hashes: usize,
    /// One line for a person.
    pub text: String,
}

/// A verification that passed.
#[derive(Debug)]
pub struct Verified {
    /// What was verified, for people.
    pub what: String,
    /// The summary.
    pub summary: VerifySummary,
    /// The checkpoints it contains.
    pub anchors: Vec<Anchor>,
    /// The artifacts (a local ledger only).
    pub artifacts: Option<ArtifactReport>,
}

/// Runs a verification: `Ok(Ok(..))` when the events verify (artifacts are reported, not
/// judged: see [`artifact_failure`]), `Ok(Err((what, failure)))` at the first bad event,
/// `Err` when it could not run (unreadable files, a bad checkpoint).
#[allow(clippy::type_complexity)]
pub fn verify(req: &VerifyRequest<'_>) -> Result<Result<Verified, (String, VerifyFailure)>, Failure> {
    // A local ledger's artifacts are checked once its events verified.
    let mut artifacts_of = None;
    let (what, outcome) = match req.target {
        Target::Export(f) => (format!("export `{}`", f.display()), verify_export_file(f, req.expect_head)?),
        Target::Server(client) => {
            let doc = client.get("/api/v1/verify")?;
            let outcome = if doc["ok"] == true {
                Outcome::Ok(serde_json::from_value(doc["summary"].clone()).map_err(Failure::internal)?)
            } else {
                Outcome::Failed(serde_json::from_value(doc["failure"].clone()).map_err(Failure::internal)?)
            };
            (format!("the ledger served at `{}`", client.base()), outcome)
        }
        Target::Ledger(dir) => {
            let (outcome, referenced) = verify_ledger(dir, req.expect_head)?;
            artifacts_of = Some((dir, referenced));
            (format!("ledger `{}`", dir.display()), outcome)
        }
    };
    let summary = match outcome {
        Outcome::Ok(s) => s,
        Outcome::Failed(f) => return Ok(Err((what, f))),
    };
    let anchors = anchored(req, &summary)?;
    let artifacts = artifacts_of.map(|(dir, referenced)| check_artifacts(dir, referenced)).transpose()?;
    Ok(Ok(Verified { what, summary, anchors, artifacts }))
}

/// The integrity failure artifacts give: an altered one always; a missing one when
/// `require` (`--require-artifacts`).
pub fn artifact_failure(report: &ArtifactReport, require: bool, dir: &Path) -> Option<Failure> {
    if let Some(first) = report.altered().next() {
        return Some(
            Failure::new(
                INTEGRITY,
                format!(
                    "artifact {} of {} does not hash to the digest the ledger records for it: the file was altered",
                    first.digest,
                    first.versions.join(", ")
                ),
            )
            .hint("restore the artifact from a copy that verifies, or retrain; never serve it"),
        );
    }
    let missing = report.missing().count();
    (require && missing > 0).then(|| {
        Failure::new(
            INTEGRITY,
            format!(
                "{missing} artifact(s) the ledger references are missing from `{}`",
                super::training::artifact_dir(dir).display()
            ),
        )
        .hint("copy the artifacts into the ledger's `artifacts` directory, or drop --require-artifacts")
    })
}

/// The checkpoints the ledger (or export) must contain, checked after its events verified:
/// each signed by the log key, for this ledger, its tree a prefix of the verified one.
pub fn anchored(req: &VerifyRequest<'_>, summary: &VerifySummary) -> Result<Vec<Anchor>, Failure> {
    use super::transparency;
    use ledger::merkle;
    use ledger::note::Checkpoint;
    let wanted: Vec<(&Path, bool)> =
        req.checkpoint.iter().map(|p| (*p, false)).chain(req.extends.iter().map(|p| (*p, true))).collect();
    if wanted.is_empty() {
        return Ok(vec![]);
    }
    let keys = match req.log_key {
        Some(v) => vec![transparency::vkey(v)?],
        None => summary.log_keys.iter().filter_map(|k| ledger::note::NoteKey::parse_vkey(k).ok()).collect(),
    };
    let origin = summary.ledger_id.map(|id| ledger::note::origin(&id)).unwrap_or_default();
    // The verified tree: the store's, or one built from the export's lines.
    let tree = match req.target {
        Target::Ledger(dir) => VerifiedTree::Store(Box::new(Store::open(dir)?)),
        Target::Server(_) => {
            return Err(Failure::new(INVALID_INPUT, "checkpoints are checked against a ledger or an export"))
        }
        Target::Export(file) => {
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
        out.push(Anchor {
            checkpoint: path.to_path_buf(),
            size: cp.size,
            relation: how,
            proof_hashes: proof.len(),
            text: format!(
                "{how} checkpoint `{}` of {} events (consistency proof of {} hashes)",
                path.display(),
                cp.size,
                proof.len()
            ),
        });
    }
    Ok(out)
}

/// The exit-3 failure for a verification failure.
pub fn failure_of(what: &str, f: VerifyFailure) -> Failure {
    Failure::new(INTEGRITY, format!("{what}: {f}"))
        .hint("the ledger was altered or damaged at that event; restore it from a verified export and find out who could write to it")
}
