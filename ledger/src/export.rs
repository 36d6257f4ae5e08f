//! Export and import of the raw log: JSON Lines (one canonical event per line) plus a manifest.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::digest::Digest;
use crate::error::{StoreError, VerifyFailure};
use crate::event::RecordedEvent;
use crate::ledger::Domain;
use crate::note::{Checkpoint, SignedNote};
use crate::store::{ExpectedHead, Store};
use crate::verify::{verify_entries, Verifier, VerifySummary};
use base64::Engine;

/// Format version of the export manifest.
pub const EXPORT_FORMAT: u32 = 2;

/// The manifest written beside an export: `<events file>.manifest.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`EXPORT_FORMAT`].
    pub format: u32,
    /// The ledger id (from genesis).
    pub ledger_id: Uuid,
    /// Number of events (lines).
    pub count: u64,
    /// Hash of the last event.
    pub head: Digest,
    /// blake3 of the whole events file.
    pub events_blake3: Digest,
    /// A checkpoint of exactly the exported events, signed by the ledger's log key (a C2SP
    /// signed note, `docs/FORMAT.md` section 16), when the exporter had one. Format 2 added it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
}

/// Why an export could not be written, read or imported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Reading or writing a file failed.
    ///
    /// ### Handling
    /// Check the path and permissions.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The manifest is missing, malformed, or disagrees with the events file.
    ///
    /// ### Handling
    /// The export is incomplete or altered; do not import it.
    #[error("manifest: {0}")]
    Manifest(String),
    /// An event fails verification.
    ///
    /// ### Handling
    /// The export is altered or corrupt at the reported event; do not import it.
    #[error(transparent)]
    Verify(#[from] VerifyFailure),
    /// The store failed.
    ///
    /// ### Handling
    /// See [`StoreError`].
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Import needs an empty ledger, or export a non-empty one.
    ///
    /// ### Handling
    /// Import into a new ledger directory.
    #[error("{0}")]
    State(String),
}

/// The manifest path for an events file.
pub fn manifest_path(events: &Path) -> PathBuf {
    let mut s = events.as_os_str().to_owned();
    s.push(".manifest.json");
    PathBuf::from(s)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io { path: path.to_path_buf(), source }
}

/// Writes `path` atomically: a temporary file in the same directory, fsynced, then renamed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile_in(dir, path)?;
    crate::pieces::write_all(&mut tmp.1, bytes).map_err(io(path))?;
    tmp.1.sync_all().map_err(io(path))?;
    std::fs::rename(&tmp.0, path).map_err(io(path))?;
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))?;
    Ok(())
}

fn tempfile_in(dir: &Path, target: &Path) -> Result<(PathBuf, std::fs::File), ExportError> {
    let name = format!(
        ".{}.{}.tmp",
        target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        std::process::id()
    );
    let p = dir.join(name);
    let f = std::fs::File::create(&p).map_err(io(&p))?;
    Ok((p, f))
}

/// Exports every event of `store` to `path` (JSON Lines) and its manifest beside it.
/// The output is deterministic: the same ledger always exports to the same bytes.
pub fn export(store: &Store, path: &Path) -> Result<Manifest, ExportError> {
    export_with_checkpoint(store, path, None)
}

/// [`export`], with a signed checkpoint of exactly the exported events in the manifest. The
/// checkpoint must be of the store's whole tree (its size and root are checked).
pub fn export_with_checkpoint(
    store: &Store,
    path: &Path,
    checkpoint: Option<&SignedNote>,
) -> Result<Manifest, ExportError> {
    let mut out = Vec::new();
    let mut count = 0u64;
    let mut head = None;
    let mut ledger_id = None;
    for ev in store.iter() {
        let ev = ev?;
        if ev.seq() == 0 {
            ledger_id =
                ev.event.payload.get("ledger_id").and_then(|v| v.as_str()).and_then(|s| s.parse().ok());
        }
        out.extend_from_slice(&ev.bytes);
        out.push(b'\n');
        count += 1;
        head = Some(ev.hash);
    }
    let (Some(head), Some(ledger_id)) = (head, ledger_id) else {
        return Err(ExportError::State("the ledger is empty: nothing to export".into()));
    };
    if let Some(note) = checkpoint {
        let cp = Checkpoint::from_note(note).map_err(ExportError::Manifest)?;
        if cp.size != count
            || cp.root != store.tree_root(count)?
            || cp.origin != crate::note::origin(&ledger_id)
        {
            return Err(ExportError::State(format!(
                "the checkpoint is not of the {count} exported events of ledger {ledger_id}"
            )));
        }
    }
    let manifest = Manifest {
        format: EXPORT_FORMAT,
        ledger_id,
        count,
        head,
        events_blake3: Digest::of(&out),
        checkpoint: checkpoint.map(|n| n.to_string()),
    };
    write_atomic(path, &out)?;
    let mpath = manifest_path(path);
    let mbytes = crate::canonical::to_vec(&manifest).map_err(|e| ExportError::Manifest(e.to_string()))?;
    write_atomic(&mpath, &mbytes)?;
    Ok(manifest)
}

/// Reads an export and its manifest.
pub fn read_export(path: &Path) -> Result<(Manifest, Vec<u8>), ExportError> {
    let mpath = manifest_path(path);
    let mbytes = std::fs::read(&mpath).map_err(io(&mpath))?;
    let manifest: Manifest = serde_json::from_slice(&mbytes)
        .map_err(|e| ExportError::Manifest(format!("{}: {e}", mpath.display())))?;
    if !(1..=EXPORT_FORMAT).contains(&manifest.format)
        || (manifest.format == 1 && manifest.checkpoint.is_some())
    {
        return Err(ExportError::Manifest(format!("format {} is not supported", manifest.format)));
    }
    let data = std::fs::read(path).map_err(io(path))?;
    Ok((manifest, data))
}

#[derive(Deserialize)]
struct PrevOnly {
    prev: Option<Digest>,
}

/// Verifies an export with `verifier`: every event (as [`crate::verify_store`] does,
/// re-deriving with the verifier's domain), then the manifest's count, head, ledger id and
/// file digest.
pub fn verify_export<D: Domain>(
    path: &Path,
    verifier: Verifier<D>,
) -> Result<(Manifest, VerifySummary), ExportError> {
    let (manifest, data) = read_export(path)?;
    let summary = verify_export_bytes(&data, &manifest, verifier)?;
    Ok((manifest, summary))
}

/// Verifies export bytes (the events file's content) against its manifest.
pub fn verify_export_bytes<D: Domain>(
    data: &[u8],
    manifest: &Manifest,
    verifier: Verifier<D>,
) -> Result<VerifySummary, ExportError> {
    if !data.is_empty() && !data.ends_with(b"\n") {
        return Err(ExportError::Manifest("the events file does not end with a newline (truncated?)".into()));
    }
    let lines: Vec<&[u8]> =
        if data.is_empty() { vec![] } else { data[..data.len() - 1].split(|b| *b == b'\n').collect() };
    if lines.len() as u64 != manifest.count {
        return Err(ExportError::Manifest(format!(
            "manifest says {} events, the file has {} lines",
            manifest.count,
            lines.len()
        )));
    }
    // A hash is claimed for line k by line k+1's `prev` (or by the manifest for the last line).
    // When that claim fails but line k+1 also disagrees with its own claim, line k+1 is the
    // damaged one (its `prev` changed), so line k is not blamed.
    let prevs: Vec<Option<Digest>> =
        lines.iter().map(|l| serde_json::from_slice::<PrevOnly>(l).ok().and_then(|p| p.prev)).collect();
    let claim = |k: usize| -> Option<Digest> {
        if k + 1 < lines.len() {
            prevs[k + 1]
        } else {
            Some(manifest.head)
        }
    };
    let entries = lines.iter().enumerate().map(|(k, line)| {
        let mut c = claim(k);
        if let Some(ck) = c {
            if Digest::of(line) != ck && k + 1 < lines.len() {
                let next_ok = claim(k + 1).is_some_and(|cn| cn == Digest::of(lines[k + 1]));
                if !next_ok {
                    c = None;
                }
            }
        }
        Ok((k as u64, line.to_vec(), c))
    });
    let summary = verify_entries(verifier, entries)?;
    if summary.head.map(|h| h.hash) != Some(manifest.head) {
        return Err(ExportError::Manifest("the last event is not the manifest's head".into()));
    }
    if summary.ledger_id != Some(manifest.ledger_id) {
        return Err(ExportError::Manifest("the manifest's ledger id is not the genesis ledger id".into()));
    }
    if Digest::of(data) != manifest.events_blake3 {
        return Err(ExportError::Manifest("the events file's blake3 does not match the manifest".into()));
    }
    if let Some(text) = &manifest.checkpoint {
        check_manifest_checkpoint(text, manifest, &summary)?;
    }
    Ok(summary)
}

/// The manifest's checkpoint must be of exactly the exported events (origin, size, root) and
/// signed by one of the ledger's log keys as of its last event.
fn check_manifest_checkpoint(
    text: &str,
    manifest: &Manifest,
    summary: &VerifySummary,
) -> Result<(), ExportError> {
    let bad = |m: String| ExportError::Manifest(format!("checkpoint: {m}"));
    let note = SignedNote::parse(text).map_err(bad)?;
    let cp = Checkpoint::from_note(&note).map_err(bad)?;
    if cp.origin != crate::note::origin(&manifest.ledger_id) {
        return Err(bad(format!("it is for `{}`, not this ledger", cp.origin)));
    }
    if cp.size != manifest.count {
        return Err(bad(format!("it covers {} events, the export has {}", cp.size, manifest.count)));
    }
    if base64::engine::general_purpose::STANDARD.encode(cp.root) != summary.tree_root {
        return Err(bad("its root is not the root of the exported events' tree".into()));
    }
    let signed = summary
        .log_keys
        .iter()
        .filter_map(|k| crate::note::NoteKey::parse_vkey(k).ok())
        .any(|k| k.verify(&note).is_ok());
    if !signed {
        return Err(bad("it is not signed by a log key of the ledger".into()));
    }
    Ok(())
}

/// An export read and verified in full, not yet committed: see [`read_verified`].
#[derive(Debug)]
pub struct VerifiedExport {
    /// The manifest.
    pub manifest: Manifest,
    /// What verification found.
    pub summary: VerifySummary,
    events: Vec<RecordedEvent>,
}

impl VerifiedExport {
    /// The verified events, in order.
    pub fn events(&self) -> &[RecordedEvent] {
        &self.events
    }

    /// Commits the events into `store`, which must be empty, in one atomic, durable commit.
    pub fn commit(self, store: &Store) -> Result<VerifySummary, ExportError> {
        if !store.is_empty() {
            return Err(ExportError::State(
                "import needs an empty ledger; this one already has events".into(),
            ));
        }
        // Verified, so every run is whole: its first event embeds the command.
        let records = crate::store::command_records(&self.events).map_err(ExportError::Manifest)?;
        store.commit(ExpectedHead::Empty, &self.events, &records)?;
        Ok(self.summary)
    }
}

/// Reads an export and verifies everything (with `verifier`, re-deriving with its domain)
/// without writing anything: the caller checks what else it needs (a checkpoint the export
/// must extend) before [`VerifiedExport::commit`].
pub fn read_verified<D: Domain>(path: &Path, verifier: Verifier<D>) -> Result<VerifiedExport, ExportError> {
    let (manifest, data) = read_export(path)?;
    let summary = verify_export_bytes(&data, &manifest, verifier)?;
    let mut events = Vec::with_capacity(summary.events as usize);
    if !data.is_empty() {
        for line in data[..data.len() - 1].split(|b| *b == b'\n') {
            let ev = RecordedEvent::decode(line.to_vec())
                .map_err(|reason| VerifyFailure::new(events.len() as u64, None, reason))?;
            events.push(ev);
        }
    }
    Ok(VerifiedExport { manifest, summary, events })
}

/// Imports a verified export into an empty store, in one atomic, durable commit.
/// Everything is verified (with `verifier`, re-deriving with its domain) before anything is
/// written.
pub fn import<D: Domain>(
    path: &Path,
    store: &Store,
    verifier: Verifier<D>,
) -> Result<VerifySummary, ExportError> {
    if !store.is_empty() {
        return Err(ExportError::State("import needs an empty ledger; this one already has events".into()));
    }
    read_verified(path, verifier)?.commit(store)
}
