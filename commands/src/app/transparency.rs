//! Checkpoints, witnesses and proofs, shared by the CLI and the API: what a checkpoint is
//! checked against before it is kept, proofs from the store, and their offline verification.
//! `docs/FORMAT.md` sections 15 and 16 specify the bytes; `docs/AUDITING.md` the workflow.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ledger::checkpoints::{Checkpoints, Published};
use ledger::keys::SecretKey;
use ledger::merkle::{self, Hash};
use ledger::note::{self, Checkpoint, NoteKey, SignedNote, TlogProof};
use ledger::trust::WitnessPolicy;
use ledger::{RecordedEvent, Store, TrustState};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::failure::{Failure, INTEGRITY, INTERNAL, INVALID_INPUT, REJECTED};

/// The note keys that may sign this ledger's checkpoints: the active keys of `log` principals.
pub fn log_keys(trust: &TrustState) -> Vec<NoteKey> {
    let Some(id) = trust.ledger_id() else { return vec![] };
    let origin = note::origin(&id);
    trust.log_keys().into_iter().map(|k| NoteKey::log(&origin, k.public_key)).collect()
}

/// Checks that `key` may sign checkpoints of this ledger: enrolled, not revoked, held by a
/// principal with the `log` role.
pub fn check_log_key(trust: &TrustState, key: &SecretKey, name: &str) -> Result<(), Failure> {
    if trust.log_keys().iter().any(|k| k.public_key == key.public()) {
        return Ok(());
    }
    Err(not_a_log_key(name))
}

/// [`check_log_key`] against a verification's summary: its log keys as of the last event.
pub fn check_log_key_verified(
    summary: &ledger::VerifySummary,
    key: &SecretKey,
    name: &str,
) -> Result<(), Failure> {
    let vkey = summary.ledger_id.map(|id| NoteKey::log(&note::origin(&id), key.public()).vkey());
    if vkey.is_some_and(|v| summary.log_keys.contains(&v)) {
        return Ok(());
    }
    Err(not_a_log_key(name))
}

fn not_a_log_key(name: &str) -> Failure {
    Failure::new(REJECTED, format!("key `{name}` is not an active key of a principal with the `log` role"))
        .hint(format!("an admin runs `pledge keys enroll {name} --role log --as ADMIN`"))
}

/// Signs a checkpoint of the whole tree with `key` and keeps it beside the store.
pub fn sign_checkpoint(store: &Store, trust: &TrustState, key: &SecretKey) -> Result<Published, Failure> {
    let id = trust.ledger_id().ok_or_else(|| Failure::new(INVALID_INPUT, "the ledger has no genesis"))?;
    let (size, root) = store.tree_head();
    let cp = Checkpoint { origin: note::origin(&id), size, root };
    Checkpoints::of(store.dir()).publish(&cp.sign(key)).map_err(Failure::internal)
}

/// Keeps a checkpoint signed elsewhere (a `pledge checkpoint` in remote mode), after checking
/// that an active log key signed it and that it is this ledger's tree at its size.
pub fn accept_checkpoint(store: &Store, trust: &TrustState, note: &SignedNote) -> Result<Published, Failure> {
    let cp =
        Checkpoint::from_note(note).map_err(|e| Failure::new(INVALID_INPUT, format!("checkpoint: {e}")))?;
    check_signed_by_log(note, &log_keys(trust))?;
    check_against_store(store, &cp)?;
    Checkpoints::of(store.dir()).publish(note).map_err(|e| Failure::new(REJECTED, e.to_string()))
}

/// Fails unless one of `keys` signed the note.
pub fn check_signed_by_log(note: &SignedNote, keys: &[NoteKey]) -> Result<(), Failure> {
    if keys.is_empty() {
        return Err(Failure::new(REJECTED, "no log key is known to check the checkpoint's signature")
            .hint("enroll one (`pledge keys enroll NAME --role log`) or pass --log-key VKEY"));
    }
    let errors: Vec<String> = keys.iter().filter_map(|k| k.verify(note).err()).collect();
    if errors.len() == keys.len() {
        return Err(Failure::new(
            INTEGRITY,
            format!("the checkpoint is not signed by the log: {}", errors.join("; ")),
        ));
    }
    Ok(())
}

/// Fails (integrity) unless the store's tree at the checkpoint's size has its root: the ledger
/// contains the tree the checkpoint names.
pub fn check_against_store(store: &Store, cp: &Checkpoint) -> Result<(), Failure> {
    let len = store.len();
    if cp.size > len {
        return Err(Failure::new(
            INTEGRITY,
            format!(
                "the checkpoint covers {} events, the ledger holds {len}: it was truncated or rolled back to an older copy",
                cp.size
            ),
        ));
    }
    let root = store.tree_root(cp.size)?;
    if root != cp.root {
        return Err(Failure::new(
            INTEGRITY,
            format!(
                "the ledger's tree of its first {} events has root {}, the checkpoint {}: the ledger forked from the one checkpointed",
                cp.size,
                STANDARD.encode(root),
                STANDARD.encode(cp.root)
            ),
        ));
    }
    Ok(())
}

/// Keeps the cosignatures a note carries for the published checkpoint of the same text: those
/// of the witnesses the policy names are checked and kept; a note with none of them is refused.
pub fn add_cosignatures(store: &Store, trust: &TrustState, note: &SignedNote) -> Result<Published, Failure> {
    let cp =
        Checkpoint::from_note(note).map_err(|e| Failure::new(INVALID_INPUT, format!("checkpoint: {e}")))?;
    let kept = Checkpoints::of(store.dir());
    let mut current = kept
        .get(cp.size)
        .map_err(io)?
        .ok_or_else(|| Failure::not_found(format!("no checkpoint of size {} is published", cp.size)))?;
    if current.note.text != note.text {
        return Err(Failure::new(
            INTEGRITY,
            format!("the note is not the published checkpoint of size {}", cp.size),
        ));
    }
    let policy = trust.witnesses();
    let mut added = 0;
    for sig in &note.signatures {
        let Some(key) = policy.keys.iter().find(|k| k.name == sig.name && k.id() == sig.key_id) else {
            continue;
        };
        current = kept
            .add_cosignature(cp.size, key, sig.clone())
            .map_err(|e| Failure::new(INTEGRITY, format!("cosignature of `{}`: {e}", key.name)))?;
        added += 1;
    }
    if added == 0 {
        return Err(Failure::new(REJECTED, "the note carries no cosignature by a witness the policy names")
            .hint("an admin lists the witness's vkey in the policy's `witnesses.keys`"));
    }
    Ok(current)
}

/// The witnesses of `policy` whose cosignatures on the note verify, by name.
pub fn cosigners(note: &SignedNote, policy: &WitnessPolicy) -> Vec<String> {
    policy.keys.iter().filter(|k| k.verify(note).is_ok()).map(|k| k.name.clone()).collect()
}

/// The JSON document of a published checkpoint, as `--json` prints it and the API serves it.
pub fn checkpoint_json(p: &Published, policy: &WitnessPolicy) -> Value {
    let cosigned = cosigners(&p.note, policy);
    json!({
        "origin": p.checkpoint.origin, "size": p.checkpoint.size, "root": STANDARD.encode(p.checkpoint.root),
        "note": p.note.to_string(), "cosigned_by": cosigned,
        "witness_quorum": policy.quorum, "published": cosigned.len() >= policy.quorum,
    })
}

/// An event id given as a sequence number or a hash, resolved in the store.
pub fn event(store: &Store, id: &str) -> Result<RecordedEvent, Failure> {
    let ev = match id.parse::<u64>() {
        Ok(seq) => store.get(seq)?,
        Err(_) => {
            let h: ledger::Digest = id.parse().map_err(|e| {
                Failure::new(
                    INVALID_INPUT,
                    format!("`{id}` is neither a sequence number nor an event hash: {e}"),
                )
            })?;
            store.get_by_hash(&h)?
        }
    };
    ev.ok_or_else(|| Failure::not_found(format!("no event `{id}` in this ledger")))
}

/// The `tlog-proof` of an event in a published checkpoint (unless one is given: the smallest
/// covering it whose cosignatures meet the witness quorum, else the smallest covering it): its
/// index, inclusion proof, the checkpoint with its cosignatures, and the event's canonical
/// bytes as extra data.
pub fn inclusion(
    store: &Store,
    policy: &WitnessPolicy,
    ev: &RecordedEvent,
    checkpoint: Option<Published>,
) -> Result<TlogProof, Failure> {
    let seq = ev.seq();
    let p = match checkpoint {
        Some(p) => p,
        None => {
            let kept = Checkpoints::of(store.dir());
            let mut first = None;
            let mut witnessed = None;
            for size in kept.sizes().map_err(io)?.into_iter().filter(|s| *s > seq) {
                let Some(p) = kept.get(size).map_err(io)? else { continue };
                if cosigners(&p.note, policy).len() >= policy.quorum {
                    witnessed = Some(p);
                    break;
                }
                first.get_or_insert(p);
            }
            witnessed.or(first).ok_or_else(|| {
                Failure::not_found(format!("no published checkpoint covers event {seq} yet")).hint(
                    "sign one with `pledge checkpoint --as LOGKEY` (pledge serve publishes them itself)",
                )
            })?
        }
    };
    if seq >= p.checkpoint.size {
        return Err(Failure::new(
            INVALID_INPUT,
            format!(
                "the checkpoint covers events 0 to {}, not event {seq}",
                p.checkpoint.size.saturating_sub(1)
            ),
        ));
    }
    check_against_store(store, &p.checkpoint)?;
    let proof = store.inclusion_proof(seq, p.checkpoint.size)?;
    Ok(TlogProof { extra: Some(ev.bytes.clone()), index: seq, proof, checkpoint: p.note })
}

/// What a verified `tlog-proof` proves.
#[derive(Debug, Clone, Serialize)]
pub struct Proven {
    /// The checkpoint the event is included in.
    pub origin: String,
    /// Its size.
    pub size: u64,
    /// The event's sequence number.
    pub seq: u64,
    /// The event's id (blake3 of its bytes).
    pub hash: ledger::Digest,
    /// Its kind.
    pub kind: String,
    /// The witnesses whose cosignatures verified.
    pub cosigned_by: Vec<String>,
}

/// Verifies a `tlog-proof` offline: the log key signed the checkpoint, at least `quorum` of
/// `witnesses` cosigned it, and the event in the extra data is at the index under its root.
pub fn check_tlog_proof(
    proof: &TlogProof,
    log: &NoteKey,
    witnesses: &[NoteKey],
    quorum: usize,
) -> Result<Proven, Failure> {
    let bad = |m: String| Failure::new(INTEGRITY, m);
    log.verify(&proof.checkpoint).map_err(|e| bad(format!("checkpoint: {e}")))?;
    let cp = Checkpoint::from_note(&proof.checkpoint).map_err(|e| bad(format!("checkpoint: {e}")))?;
    if cp.origin != log.name {
        return Err(bad(format!("the checkpoint is for `{}`, the log key for `{}`", cp.origin, log.name)));
    }
    let cosigned_by: Vec<String> =
        witnesses.iter().filter(|w| w.verify(&proof.checkpoint).is_ok()).map(|w| w.name.clone()).collect();
    if cosigned_by.len() < quorum {
        return Err(bad(format!(
            "{} of the {} witnesses given cosigned the checkpoint, {quorum} are required",
            cosigned_by.len(),
            witnesses.len()
        )));
    }
    let bytes =
        proof.extra.as_ref().ok_or_else(|| bad("the proof carries no event (no `extra` line)".into()))?;
    let ev = RecordedEvent::decode(bytes.clone())
        .map_err(|e| bad(format!("the extra data is not a Pledge event: {e}")))?;
    if ev.seq() != proof.index {
        return Err(bad(format!("the event is event {}, the proof is for index {}", ev.seq(), proof.index)));
    }
    merkle::verify_inclusion(proof.index, cp.size, &merkle::leaf_hash(bytes), &proof.proof, &cp.root)
        .map_err(|e| bad(format!("inclusion: {e}")))?;
    Ok(Proven {
        origin: cp.origin,
        size: cp.size,
        seq: ev.seq(),
        hash: ev.hash,
        kind: ev.event.kind,
        cosigned_by,
    })
}

/// A consistency proof between two signed checkpoints, self-contained: verifiable with the
/// log's key alone (`docs/FORMAT.md`, section 16).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProof {
    /// Always [`CONSISTENCY_FORMAT`].
    pub format: String,
    /// The older checkpoint, a signed note.
    pub old: String,
    /// The newer checkpoint, a signed note.
    pub new: String,
    /// The RFC 6962 consistency proof, base64 hashes.
    pub proof: Vec<String>,
}

/// The `format` of a consistency proof file.
pub const CONSISTENCY_FORMAT: &str = "pledge/consistency-proof@v1";

impl ConsistencyProof {
    /// The proof from `old` to `new`, from the store.
    pub fn make(store: &Store, old: &Published, new: &Published) -> Result<ConsistencyProof, Failure> {
        check_against_store(store, &old.checkpoint)?;
        check_against_store(store, &new.checkpoint)?;
        let proof = if old.checkpoint.size == 0 {
            vec![]
        } else {
            store.consistency_proof(old.checkpoint.size, new.checkpoint.size)?
        };
        Ok(ConsistencyProof {
            format: CONSISTENCY_FORMAT.into(),
            old: old.note.to_string(),
            new: new.note.to_string(),
            proof: proof.iter().map(|h| STANDARD.encode(h)).collect(),
        })
    }

    /// Verifies it with the log key alone: both checkpoints signed by it, for the same log,
    /// and the newer tree extends the older.
    pub fn check(&self, log: &NoteKey) -> Result<(Checkpoint, Checkpoint), Failure> {
        let bad = |m: String| Failure::new(INTEGRITY, m);
        if self.format != CONSISTENCY_FORMAT {
            return Err(Failure::new(
                INVALID_INPUT,
                format!("`{}` is not `{CONSISTENCY_FORMAT}`", self.format),
            ));
        }
        let parse = |text: &str, which: &str| -> Result<(SignedNote, Checkpoint), Failure> {
            let note = SignedNote::parse(text).map_err(|e| bad(format!("the {which} checkpoint: {e}")))?;
            log.verify(&note).map_err(|e| bad(format!("the {which} checkpoint: {e}")))?;
            let cp = Checkpoint::from_note(&note).map_err(|e| bad(format!("the {which} checkpoint: {e}")))?;
            Ok((note, cp))
        };
        let (_, old) = parse(&self.old, "old")?;
        let (_, new) = parse(&self.new, "new")?;
        if old.origin != new.origin {
            return Err(bad(format!(
                "the checkpoints are of two logs: `{}` and `{}`",
                old.origin, new.origin
            )));
        }
        let proof = self
            .proof
            .iter()
            .map(|b| {
                let raw = STANDARD.decode(b).map_err(|e| bad(format!("proof: {e}")))?;
                raw.try_into().map_err(|_| bad("a proof hash is 32 bytes".into()))
            })
            .collect::<Result<Vec<Hash>, Failure>>()?;
        if old.size == 0 {
            // Every tree extends the empty one.
            if !proof.is_empty() || old.root != merkle::empty_root() {
                return Err(bad("a checkpoint of the empty tree has the empty root and no proof".into()));
            }
            return Ok((old, new));
        }
        merkle::verify_consistency(old.size, new.size, &proof, &old.root, &new.root).map_err(|e| {
            bad(format!(
                "the tree of {} events does not extend the one of {}: {e} (a fork, or a rewritten history)",
                new.size, old.size
            ))
        })?;
        Ok((old, new))
    }
}

/// Reads a signed note from a file.
pub fn read_note(path: &std::path::Path) -> Result<SignedNote, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::new(INVALID_INPUT, format!("cannot read `{}`: {e}", path.display())))?;
    SignedNote::parse(&text)
        .map_err(|e| Failure::new(INVALID_INPUT, format!("`{}` is not a signed note: {e}", path.display())))
}

/// Parses a vkey given on the command line.
pub fn vkey(text: &str) -> Result<NoteKey, Failure> {
    NoteKey::parse_vkey(text).map_err(|e| Failure::new(INVALID_INPUT, e))
}

/// An internal error for a failure to keep a file.
pub fn io(e: std::io::Error) -> Failure {
    Failure::new(INTERNAL, e.to_string())
}
