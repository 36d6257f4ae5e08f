//! Every event, command and manifest the code writes validates against its file in `schemas/`.

use std::path::{Path, PathBuf};

use jsonschema::{Retrieve, Uri, Validator};
use ledger::export;
use serde_json::{json, Value};

use crate::support::*;

const BASE: &str = "https://pledge.invalid/schemas/";

pub fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

/// Resolves `$ref`s to the files in `schemas/` (never the network).
struct Local;

impl Retrieve for Local {
    fn retrieve(&self, uri: &Uri<String>) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let rel = uri.as_str().strip_prefix(BASE).ok_or_else(|| format!("not a Pledge schema: {uri}"))?;
        let text = std::fs::read_to_string(schema_dir().join(rel))?;
        Ok(serde_json::from_str(&text)?)
    }
}

pub fn validator(rel: &str) -> Validator {
    let path = schema_dir().join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::options().with_retriever(Local).build(&schema).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[track_caller]
pub fn assert_valid(v: &Validator, instance: &Value, what: &str) {
    let errors: Vec<String> =
        v.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{what} does not match its schema:\n{}\n{instance:#}", errors.join("\n"));
}

/// A ledger with every trust event kind the ledger crate writes.
fn every_trust_kind(dir: &Path) -> ledger::Ledger<Notes> {
    let mut l = setup(dir);
    let admin = key(1);
    for env in [
        signed("role.revoke", json!({"principal": "ana", "role": "approver"}), &admin),
        signed("key.revoke", json!({"key_id": key(3).public().key_id(), "reason": "left the team"}), &admin),
        signed(
            "policy.set",
            json!({"policy": {"permissions": {
            "key.enroll": ["admin"], "key.revoke": ["admin"], "role.grant": ["admin"],
            "role.revoke": ["admin"], "policy.set": ["admin"], "note.record": ["scientist"]}, "gates": {"x": 0.05}}}),
            &admin,
        ),
    ] {
        l.submit(env, ledger::ExpectedHead::Any).unwrap();
    }
    l
}

#[test]
fn every_event_the_ledger_writes_validates() {
    let dir = tempfile::tempdir().unwrap();
    let l = every_trust_kind(dir.path());
    let envelope = validator("event.schema.json");
    let command = validator("command.schema.json");
    let mut kinds = std::collections::BTreeSet::new();
    for ev in l.store().iter() {
        let ev = ev.unwrap();
        let value: Value = serde_json::from_slice(&ev.bytes).unwrap();
        assert_valid(&envelope, &value, &format!("event {}", ev.seq()));
        let kind = &ev.event.kind;
        let payload = validator(&format!("events/{kind}.v{}.schema.json", ev.event.kind_version));
        assert_valid(&payload, &ev.event.payload, &format!("`{kind}` payload"));
        if let Some(env) = ev.event.command_envelope() {
            let cmd: Value = serde_json::from_slice(&env.payload_bytes().unwrap()).unwrap();
            assert_valid(&command, &cmd, "command");
            let body = validator(&format!("commands/{}.schema.json", cmd["kind"].as_str().unwrap()));
            assert_valid(&body, &cmd["body"], "command body");
        }
        kinds.insert(kind.clone());
    }
    let all: std::collections::BTreeSet<String> =
        ledger::trust::kinds::EVENTS.iter().map(|s| s.to_string()).collect();
    assert_eq!(kinds, all, "the sample must cover every trust event kind");
}

#[test]
fn export_manifest_validates() {
    let dir = tempfile::tempdir().unwrap();
    let l = every_trust_kind(&dir.path().join("l"));
    let out = dir.path().join("x.jsonl");
    export::export(l.store(), &out).unwrap();
    let m: Value = serde_json::from_slice(&std::fs::read(export::manifest_path(&out)).unwrap()).unwrap();
    assert_valid(&validator("export-manifest.schema.json"), &m, "manifest");
}

#[test]
fn every_schema_file_compiles_and_every_trust_kind_has_one() {
    for sub in ["", "events", "commands"] {
        for entry in std::fs::read_dir(schema_dir().join(sub)).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "json") {
                let rel = p.strip_prefix(schema_dir()).unwrap().to_str().unwrap().to_string();
                validator(&rel);
            }
        }
    }
    for kind in ledger::trust::kinds::EVENTS {
        assert!(schema_dir().join(format!("events/{kind}.v1.schema.json")).exists(), "{kind}");
    }
}

#[test]
fn schemas_reject_what_the_code_rejects() {
    let envelope = validator("event.schema.json");
    let dir = tempfile::tempdir().unwrap();
    let l = setup(dir.path());
    let ev: Value = serde_json::from_slice(&l.store().get(1).unwrap().unwrap().bytes).unwrap();
    for (field, bad) in [
        ("recorded_at", json!("2026-11-01T09:00:00Z")),
        ("prev", json!("ABC")),
        ("format", json!(1)),
        ("extra", json!(1)),
    ] {
        let mut e = ev.clone();
        e[field] = bad;
        assert!(!envelope.is_valid(&e), "schema accepted a bad `{field}`");
    }
}
