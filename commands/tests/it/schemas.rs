//! The schemas of domain events and commands in `schemas/` are generated from the Rust types
//! and checked here; every event the domain tests write is validated against them (see
//! `harness::World::ok`), and compared with the reference RFC 8785 encoder's bytes.
//!
//! `PLEDGE_WRITE_SCHEMAS=1` rewrites the generated files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use jsonschema::{Retrieve, Uri, Validator};
use serde_json::Value;

const BASE: &str = "https://pledge.invalid/schemas/";

fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

struct Local;

impl Retrieve for Local {
    fn retrieve(&self, uri: &Uri<String>) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let rel = uri.as_str().strip_prefix(BASE).ok_or_else(|| format!("not a Pledge schema: {uri}"))?;
        Ok(serde_json::from_str(&std::fs::read_to_string(schema_dir().join(rel))?)?)
    }
}

fn with_validator<R>(rel: &str, f: impl FnOnce(&Validator) -> R) -> R {
    static CACHE: OnceLock<Mutex<HashMap<String, Validator>>> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    let v = cache.entry(rel.to_string()).or_insert_with(|| {
        let path = schema_dir().join(rel);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("no schema {}: {e}", path.display()));
        jsonschema::options().with_retriever(Local).build(&serde_json::from_str(&text).unwrap()).unwrap()
    });
    f(v)
}

#[track_caller]
fn assert_valid(rel: &str, instance: &Value, what: &str) {
    let errors: Vec<String> = with_validator(rel, |v| {
        v.iter_errors(instance).map(|e| format!("{e} at {}", e.instance_path())).collect()
    });
    assert!(errors.is_empty(), "{what} does not match {rel}:\n{}\n{instance:#}", errors.join("\n"));
}

/// Validates events (envelope, payload, and the command that caused them) against `schemas/`.
#[track_caller]
pub fn check(events: &[ledger::RecordedEvent]) {
    for ev in events {
        // The canonical encoder writes what the reference encoder writes.
        assert_eq!(
            serde_json_canonicalizer::to_vec(&ev.event).unwrap(),
            ev.bytes,
            "`{}` is not encoded as serde_json_canonicalizer encodes it",
            ev.event.kind
        );
        let value: Value = serde_json::from_slice(&ev.bytes).unwrap();
        assert_valid("event.schema.json", &value, "event");
        let kind = &ev.event.kind;
        assert_valid(
            &format!("events/{kind}.v{}.schema.json", ev.event.kind_version),
            &ev.event.payload,
            kind,
        );
        if let Some(env) = ev.event.command_envelope() {
            let cmd: Value = serde_json::from_slice(&env.payload_bytes().unwrap()).unwrap();
            assert_valid("command.schema.json", &cmd, "command");
            let ck = cmd["kind"].as_str().unwrap();
            assert_valid(&format!("commands/{ck}.schema.json"), &cmd["body"], ck);
        }
    }
}

#[track_caller]
fn check_or_write(rel: &str, generated: &Value) {
    let path = schema_dir().join(rel);
    let text = serde_json::to_string_pretty(generated).unwrap() + "\n";
    if std::env::var_os("PLEDGE_WRITE_SCHEMAS").is_some() {
        std::fs::write(&path, text).unwrap();
        return;
    }
    let stored = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with PLEDGE_WRITE_SCHEMAS=1)", path.display()));
    assert_eq!(
        serde_json::from_str::<Value>(&stored).unwrap(),
        *generated,
        "{rel} is stale: run with PLEDGE_WRITE_SCHEMAS=1"
    );
}

/// The OpenAPI document's read answers are the `app::query` answer types' schemas
/// (`PLEDGE_WRITE_SCHEMAS=1` rewrites `schemas/openapi.json`).
#[test]
fn the_openapi_answers_are_generated_from_the_answer_types() {
    let path = schema_dir().join("openapi.json");
    let committed: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let generated = commands::api::openapi::with_answer_schemas(committed.clone()).unwrap();
    if std::env::var_os("PLEDGE_WRITE_SCHEMAS").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&generated).unwrap() + "\n").unwrap();
        return;
    }
    assert_eq!(committed, generated, "schemas/openapi.json is stale: run with PLEDGE_WRITE_SCHEMAS=1");
    for name in ["ChampionsAnswer", "HealthAnswer", "Alert", "EventsAnswer", "Route", "Entry"] {
        assert!(generated["components"]["schemas"][name].is_object(), "no component `{name}`");
    }
}

#[test]
fn the_default_policy_matches_its_schema() {
    assert_valid("policy.schema.json", &commands::domain::default_policy(), "the default policy");
}

#[test]
fn generated_schemas_are_current() {
    for kind in projections::events::EventKind::ALL {
        check_or_write(&format!("events/{kind}.v1.schema.json"), &kind.schema());
    }
    for kind in commands::domain::CommandKind::ALL {
        check_or_write(&format!("commands/{kind}.schema.json"), &kind.schema());
    }
    let policy = serde_json::to_value(schemars::schema_for!(commands::domain::Policy)).unwrap();
    check_or_write("policy.schema.json", &policy);
}
