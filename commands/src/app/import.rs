//! Import of a Pledge export into a new ledger: everything is verified (every event
//! re-derived, the manifest, its signed checkpoint, the checkpoints the export must extend and
//! the artifacts brought along) before the first byte is written.

use std::path::{Path, PathBuf};

use ledger::export::{self, ExportError};
use ledger::{Digest, Store, VerifySummary};
use serde::Serialize;

use super::failure::{Failure, INTEGRITY, INVALID_INPUT};
use super::verify::{self, Anchor, Target, VerifyRequest};

/// An import to run.
#[derive(Debug)]
pub struct ImportRequest<'a> {
    /// The export (its manifest is `FILE.manifest.json`).
    pub file: &'a Path,
    /// The new ledger's directory: absent, or a ledger without events.
    pub ledger: &'a Path,
    /// An event the export must contain.
    pub expect_head: Option<Digest>,
    /// A checkpoint kept earlier that the export's tree must extend.
    pub extends: Option<&'a Path>,
    /// The log's verifier key for `extends` (default: the export's own log keys).
    pub log_key: Option<&'a str>,
    /// A directory holding the model artifacts (`<blake3>.json`), e.g. the old ledger's
    /// `artifacts`: those the export references are checked and copied.
    pub artifacts: Option<&'a Path>,
}

/// What an import did.
#[derive(Debug, Serialize)]
pub struct Imported {
    /// The new ledger's directory.
    pub ledger: PathBuf,
    /// What verification found.
    pub summary: VerifySummary,
    /// The checkpoints the export was proved to extend.
    pub anchors: Vec<Anchor>,
    /// Artifacts the export references.
    pub artifacts_referenced: usize,
    /// Artifacts copied into the new ledger (each hashed to its digest first).
    pub artifacts_copied: usize,
    /// Referenced artifacts that were not found (an export does not carry artifacts).
    pub artifacts_missing: Vec<String>,
}

/// Verifies `req.file` in full, then commits it into the new ledger `req.ledger`. Nothing is
/// written unless everything verifies; a directory created here is removed again if the
/// commit fails.
pub fn import(req: &ImportRequest<'_>) -> Result<Imported, Failure> {
    let existing = req.ledger.join("db").exists();
    if existing && !Store::open(req.ledger)?.is_empty() {
        return Err(Failure::new(
            INVALID_INPUT,
            format!(
                "`{}` already holds a ledger with events; an export is imported into a new one",
                req.ledger.display()
            ),
        )
        .hint("pass `--ledger NEW_DIR` (a directory that does not exist yet)"));
    }
    let verified = match export::read_verified(req.file, verify::verifier(req.expect_head)) {
        Ok(v) => v,
        Err(ExportError::Verify(f)) => {
            return Err(verify::failure_of(&format!("export `{}`", req.file.display()), f)
                .hint("the export was altered or damaged at that event: nothing was imported"))
        }
        Err(e @ ExportError::Manifest(_)) => {
            return Err(
                verify::export_failure(e).hint("the export is incomplete or altered: nothing was imported")
            )
        }
        Err(e) => return Err(verify::export_failure(e)),
    };
    let anchors = verify::anchored(
        &VerifyRequest {
            target: Target::Export(req.file),
            expect_head: req.expect_head,
            checkpoint: None,
            extends: req.extends,
            log_key: req.log_key,
        },
        &verified.summary,
    )?;
    // The artifacts: every one the versions reference, hashed before anything is written.
    let mut referenced: Vec<Digest> = verified
        .events()
        .iter()
        .filter(|e| e.event.kind == "version.registered")
        .filter_map(|e| e.event.payload["artifact_digest"].as_str().and_then(|d| d.parse().ok()))
        .collect();
    referenced.sort();
    referenced.dedup();
    let mut copies: Vec<(Digest, Vec<u8>)> = vec![];
    let mut missing = vec![];
    for d in &referenced {
        let Some(dir) = req.artifacts else {
            missing.push(d.to_string());
            continue;
        };
        let path = dir.join(format!("{d}.json"));
        match std::fs::read(&path) {
            Ok(bytes) if Digest::of(&bytes) == *d => copies.push((*d, bytes)),
            Ok(_) => {
                return Err(Failure::new(
                    INTEGRITY,
                    format!("artifact `{}` does not hash to the digest the export records for it", path.display()),
                )
                .hint("it was altered: nothing was imported; import without it, or restore it from a copy that verifies"))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing.push(d.to_string()),
            Err(e) => return Err(Failure::new(INVALID_INPUT, format!("cannot read `{}`: {e}", path.display()))),
        }
    }
    let created = !req.ledger.exists();
    let commit = || -> Result<VerifySummary, Failure> {
        let store = Store::open(req.ledger)?;
        let summary = verified.commit(&store).map_err(|e| match e {
            ExportError::Store(s) => Failure::from(s),
            other => Failure::internal(other),
        })?;
        drop(store);
        let dir = super::training::artifact_dir(req.ledger);
        for (d, bytes) in &copies {
            std::fs::create_dir_all(&dir).map_err(Failure::internal)?;
            export::write_atomic(&dir.join(format!("{d}.json")), bytes).map_err(Failure::internal)?;
        }
        Ok(summary)
    };
    let summary = match commit() {
        Ok(s) => s,
        Err(e) => {
            if created {
                let _ = std::fs::remove_dir_all(req.ledger);
            }
            return Err(e);
        }
    };
    Ok(Imported {
        ledger: req.ledger.to_path_buf(),
        summary,
        anchors,
        artifacts_referenced: referenced.len(),
        artifacts_copied: copies.len(),
        artifacts_missing: missing,
    })
}
