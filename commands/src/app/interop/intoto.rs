//! in-toto attestations (Statement v1 in DSSE envelopes, signed by the ledger's log key): an
//! SLSA Provenance v1 statement per training run, and a statement of Pledge's promotion
//! predicate per promotion and per rejected proposal. The mapping is `docs/FORMAT.md` section
//! 18.2.

use std::path::{Path, PathBuf};

use ledger::dsse::Envelope;
use ledger::keys::SecretKey;
use serde::Serialize;
use serde_json::{json, Value};

use super::{DecisionKind, DecisionRec, Lineage, RunRec, VersionRec, URI_BASE};
use crate::app::failure::{Failure, INVALID_INPUT};

/// The DSSE payload type of an in-toto statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// SLSA Provenance v1.
pub const PROVENANCE: &str = "https://slsa.dev/provenance/v1";
/// Pledge's promotion predicate (`schemas/in-toto/promotion.v1.schema.json`).
pub fn promotion_predicate() -> String {
    format!("{URI_BASE}/attestation/promotion/v1")
}
/// The build type of a training run's provenance.
pub fn build_type() -> String {
    format!("{URI_BASE}/build-types/training-run/v1")
}

/// One attestation written.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    /// The file, relative to the directory.
    pub file: String,
    /// The predicate type.
    pub predicate_type: String,
    /// The subjects' names.
    pub subjects: Vec<String>,
    /// The subjects without a sha256 (their artifact was not in the ledger's `artifacts`).
    pub without_sha256: usize,
    /// The ledger event it attests.
    pub event_seq: u64,
    /// That event's id.
    pub event_hash: String,
}

/// What an in-toto export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The directory.
    pub dir: PathBuf,
    /// The log key's id that signed every envelope.
    pub key_id: String,
    /// Training-run provenance statements.
    pub runs: usize,
    /// Promotion statements.
    pub promotions: usize,
    /// Every attestation, in ledger order.
    pub attestations: Vec<Written>,
}

fn subject(v: &VersionRec) -> Value {
    let mut digest = json!({"blake3": v.artifact.blake3});
    if let Some(s) = &v.artifact.sha256 {
        digest["sha256"] = json!(s);
    }
    json!({"name": v.label(), "digest": digest})
}

fn rfc3339(s: &str) -> Option<String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

fn event_uri(l: &Lineage, seq: u64) -> String {
    format!("pledge://{}/events/{seq}", l.ledger_id.map(|u| u.to_string()).unwrap_or_default())
}

/// The SLSA Provenance v1 statement of a training run (`None` when it registered no version:
/// a statement needs a subject).
pub fn provenance(l: &Lineage, r: &RunRec) -> Option<Value> {
    if r.versions.is_empty() {
        return None;
    }
    let annotations = match (&r.dataset, &r.run.dataset_version) {
        (Some((_, v)), _) | (None, Some(v)) => json!({"dataset_version": v}),
        (None, None) => json!({}),
    };
    let builder_id = format!("{URI_BASE}/builders/{}", super::percent_encode(r.trainer_name()));
    let mut metadata = json!({"invocationId": r.run.run_id});
    if let Some(s) = r.run.started_at.as_deref().and_then(rfc3339) {
        metadata["startedOn"] = json!(s);
    }
    if let Some(s) = r.run.finished_at.as_deref().and_then(rfc3339) {
        metadata["finishedOn"] = json!(s);
    }
    let mut external = json!({
        "model": r.model,
        "run_id": r.run.run_id,
        "trigger": r.run.trigger,
        "dataset": {"blake3": r.run.dataset_digest, "version": r.run.dataset_version},
        "params_digest": r.params_digest(),
        "params": r.run.params,
    });
    for (k, v) in [
        ("spec_digest", r.run.params.get("spec_digest").cloned()),
        ("config_digest", r.run.config_digest.clone().map(Value::String)),
        ("feature_set", r.run.feature_set.clone().map(Value::String)),
        ("code_version", r.run.code_version.clone().map(Value::String)),
        ("hypothesis_id", r.run.hypothesis_id.clone().map(Value::String)),
        ("drift_alert_id", r.run.drift_event.clone().map(Value::String)),
    ] {
        if let Some(v) = v.filter(|v| !v.is_null()) {
            external[k] = v;
        }
    }
    Some(json!({
        "_type": STATEMENT_TYPE,
        "subject": r.versions.iter().map(subject).collect::<Vec<_>>(),
        "predicateType": PROVENANCE,
        "predicate": {
            "buildDefinition": {
                "buildType": build_type(),
                "externalParameters": external,
                "internalParameters": {
                    "ledger_id": l.ledger_id,
                    "recorded_by": r.run.recorded_by,
                    "command": r.command,
                    "metrics": r.run.metrics,
                },
                "resolvedDependencies": [{
                    "name": format!("datasets/{}", r.dataset_name()),
                    "digest": {"blake3": r.run.dataset_digest},
                    "annotations": annotations,
                }],
            },
            "runDetails": {
                "builder": {"id": builder_id, "version": {"trainer": r.run.trainer}},
                "metadata": metadata,
                "byproducts": [{
                    "name": "pledge-event",
                    "uri": event_uri(l, r.event.seq),
                    "digest": {"blake3": r.event.hash},
                    "annotations": {"kind": r.event.kind, "recorded_at": r.event.recorded_at},
                }],
            },
        },
    }))
}

/// The promotion statement of a decision that promoted a version or rejected a proposal
/// (`None` for other decisions, or when the version's artifact is unknown).
pub fn promotion(l: &Lineage, d: &DecisionRec) -> Option<Value> {
    if !matches!(d.decision, DecisionKind::Promoted | DecisionKind::Rejected) {
        return None;
    }
    let v = l.version(&d.model, &d.segment, d.version)?;
    let mut predicate = super::openlineage::promotion_body(l, d);
    predicate["ledger_id"] = json!(l.ledger_id);
    predicate["event_uri"] = json!(event_uri(l, d.event.seq));
    Some(json!({
        "_type": STATEMENT_TYPE,
        "subject": [subject(v)],
        "predicateType": promotion_predicate(),
        "predicate": predicate,
    }))
}

/// Signs `statement` (its canonical JSON, RFC 8785) in a DSSE envelope with `key`.
pub fn sign(statement: &Value, key: &SecretKey) -> Result<Envelope, Failure> {
    let bytes = ledger::canonical::to_vec(statement).map_err(Failure::internal)?;
    Ok(Envelope::sign(PAYLOAD_TYPE, &bytes, key))
}

/// Writes every attestation into `dir` (which must not exist, or be empty): one file per
/// attestation (`run-<seq>.intoto.jsonl`, `promotion-<seq>.intoto.jsonl`, each one DSSE envelope
/// on one line, the in-toto bundle format), all of them in `attestations.intoto.jsonl`, and
/// `index.json`. Written beside `dir` first and renamed into place: never half a directory.
pub fn write(l: &Lineage, key: &SecretKey, principal: &str, dir: &Path) -> Result<Report, Failure> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir).map(|mut d| d.next().is_none()).unwrap_or(false);
        if !empty {
            return Err(Failure::new(
                INVALID_INPUT,
                format!("`{}` exists and is not an empty directory", dir.display()),
            )
            .hint("an in-toto export is written into a new directory"));
        }
    }
    let mut files: Vec<(String, Envelope)> = vec![];
    let mut report = Report {
        dir: dir.to_path_buf(),
        key_id: key.public().key_id().to_string(),
        runs: 0,
        promotions: 0,
        attestations: vec![],
    };
    let mut items: Vec<(&super::EventRef, String, Value)> = vec![];
    for r in &l.runs {
        if let Some(s) = provenance(l, r) {
            items.push((&r.event, format!("run-{}.intoto.jsonl", r.event.seq), s));
            report.runs += 1;
        }
    }
    for d in &l.decisions {
        if let Some(s) = promotion(l, d) {
            items.push((&d.event, format!("promotion-{}.intoto.jsonl", d.event.seq), s));
            report.promotions += 1;
        }
    }
    items.sort_by_key(|(event, _, _)| event.seq);
    for (event, file, statement) in items {
        let subjects = statement["subject"].as_array().cloned().unwrap_or_default();
        report.attestations.push(Written {
            file: file.clone(),
            predicate_type: statement["predicateType"].as_str().unwrap_or_default().to_string(),
            subjects: subjects.iter().filter_map(|s| s["name"].as_str().map(str::to_string)).collect(),
            without_sha256: subjects.iter().filter(|s| s["digest"].get("sha256").is_none()).count(),
            event_seq: event.seq,
            event_hash: event.hash.clone(),
        });
        files.push((file, sign(&statement, key)?));
    }
    let index = json!({
        "format": 1,
        "ledger_id": l.ledger_id,
        "head": l.head.as_ref().map(|(n, h)| json!({"events": n, "hash": h})),
        "payload_type": PAYLOAD_TYPE,
        "signer": {
            "principal": principal,
            "key_id": report.key_id,
            "public_key": key.public().to_string(),
        },
        "attestations": report.attestations,
    });
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "in-toto".into());
    let tmp = parent.join(format!(".{name}.{}.tmp", std::process::id()));
    let io = |what: &Path| {
        let what = what.to_path_buf();
        move |e: std::io::Error| {
            Failure::new(INVALID_INPUT, format!("cannot write `{}`: {e}", what.display()))
        }
    };
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    let result = (|| -> Result<(), Failure> {
        let mut bundle = String::new();
        for (file, env) in &files {
            let line = serde_json::to_string(env).map_err(Failure::internal)? + "\n";
            std::fs::write(tmp.join(file), &line).map_err(io(&tmp.join(file)))?;
            bundle.push_str(&line);
        }
        let bundle_path = tmp.join("attestations.intoto.jsonl");
        std::fs::File::create(&bundle_path)
            .and_then(|mut f| ledger::pieces::write_all(&mut f, bundle.as_bytes()))
            .map_err(io(&bundle_path))?;
        let index = serde_json::to_string_pretty(&index).map_err(Failure::internal)? + "\n";
        std::fs::write(tmp.join("index.json"), index).map_err(io(&tmp))?;
        if dir.exists() {
            std::fs::remove_dir(dir).map_err(io(dir))?;
        }
        std::fs::rename(&tmp, dir).map_err(io(dir))
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result.map(|()| report)
}
