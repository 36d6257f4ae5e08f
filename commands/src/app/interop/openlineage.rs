//! OpenLineage run events (spec 2-0-2): a START and a COMPLETE event per training run and per
//! backtest window, and an OTHER event on the training run for each promotion decision about a
//! version it produced. Custom facets are prefixed `pledge_`, their schemas are in
//! `schemas/openlineage/`. The mapping is `docs/FORMAT.md` section 18.1.

use serde_json::{json, Map, Value};

use super::{BacktestRec, DecisionRec, Lineage, RunRec, VersionRec, URI_BASE};

/// The OpenLineage spec version the events follow.
pub const SPEC: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";

const VERSION_FACET: &str =
    "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet";
const SCHEMA_FACET: &str =
    "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet";
const JOB_TYPE_FACET: &str =
    "https://openlineage.io/spec/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet";
const ENGINE_FACET: &str =
    "https://openlineage.io/spec/facets/1-1-1/ProcessingEngineRunFacet.json#/$defs/ProcessingEngineRunFacet";
const PARENT_FACET: &str =
    "https://openlineage.io/spec/facets/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet";

/// The `producer` (and every facet's `_producer`): this build of Pledge.
pub fn producer() -> String {
    format!("{URI_BASE}/pledge/{}", env!("CARGO_PKG_VERSION"))
}

/// The `_schemaURL` of a custom facet, e.g. `PledgeRunFacet`.
pub fn custom_schema(name: &str) -> String {
    format!("{URI_BASE}/schemas/openlineage/{name}.json#/$defs/{name}")
}

fn facet(schema: &str, body: Value) -> Value {
    let mut m = Map::new();
    m.insert("_producer".into(), Value::String(producer()));
    m.insert("_schemaURL".into(), Value::String(schema.to_string()));
    if let Value::Object(b) = body {
        m.extend(b);
    }
    Value::Object(m)
}

/// The namespace of every job and dataset: `pledge://<ledger id>`.
fn namespace(l: &Lineage) -> String {
    format!("pledge://{}", l.ledger_id.map(|u| u.to_string()).unwrap_or_default())
}

fn train_job(l: &Lineage, model: &str) -> Value {
    job(l, &format!("{model}/train"), "TRAINING")
}

fn job(l: &Lineage, name: &str, kind: &str) -> Value {
    json!({
        "namespace": namespace(l),
        "name": name,
        "facets": {"jobType": facet(JOB_TYPE_FACET, json!({
            "processingType": "BATCH", "integration": "PLEDGE", "jobType": kind
        }))}
    })
}

/// The trainer string split as `name version (details)`.
fn engine(trainer: &str) -> Value {
    let mut parts = trainer.splitn(2, ' ');
    let name = parts.next().unwrap_or(trainer);
    let rest = parts.next().unwrap_or("");
    let version =
        rest.split(' ').next().filter(|v| v.starts_with(|c: char| c.is_ascii_digit())).unwrap_or("");
    facet(
        ENGINE_FACET,
        json!({"name": name, "version": version, "openlineageAdapterVersion": env!("CARGO_PKG_VERSION")}),
    )
}

fn model_name(v: &VersionRec) -> String {
    match &v.segment {
        Some(s) => format!("models/{}/{s}", v.model),
        None => format!("models/{}", v.model),
    }
}

/// A model version as a dataset, named and versioned, without its `pledge_model` facet.
fn model_ref(l: &Lineage, v: &VersionRec) -> Value {
    json!({
        "namespace": namespace(l),
        "name": model_name(v),
        "facets": {"version": facet(VERSION_FACET, json!({"datasetVersion": v.artifact.blake3}))},
    })
}

fn model_dataset(l: &Lineage, v: &VersionRec) -> Value {
    json!({
        "namespace": namespace(l),
        "name": model_name(v),
        "facets": {
            "version": facet(VERSION_FACET, json!({"datasetVersion": v.artifact.blake3})),
            "pledge_model": facet(&custom_schema("PledgeModelDatasetFacet"), json!({
                "model": v.model,
                "segment": v.segment,
                "version": v.version,
                "artifact": {"blake3": v.artifact.blake3, "sha256": v.artifact.sha256},
                "metrics": v.metrics,
                "event": v.event,
            })),
        }
    })
}

/// The schema facet from a built-in trainer's spec: the columns the trainer read.
fn schema_fields(spec: &Value) -> Vec<Value> {
    let mut fields = vec![];
    let mut push = |name: Option<&str>, ty: Option<&str>, what: &str| {
        if let Some(n) = name {
            let mut f = json!({"name": n, "description": what});
            if let Some(t) = ty {
                f["type"] = json!(t);
            }
            fields.push(f);
        }
    };
    push(spec["time"]["column"].as_str(), None, "time axis");
    push(spec["segment"].as_str(), None, "segment");
    for f in spec["features"].as_array().into_iter().flatten() {
        push(f["column"].as_str(), f["type"].as_str(), "feature");
    }
    push(spec["target"]["column"].as_str(), None, "target");
    fields
}

fn input_dataset(l: &Lineage, r: &RunRec) -> Value {
    let mut facets = json!({
        "version": facet(VERSION_FACET, json!({"datasetVersion": r.run.dataset_digest})),
    });
    if let Some(spec) = r.versions.iter().find_map(|v| v.artifact.spec.as_ref()) {
        facets["schema"] = facet(SCHEMA_FACET, json!({"fields": schema_fields(spec)}));
    }
    json!({"namespace": namespace(l), "name": format!("datasets/{}", r.dataset_name()), "facets": facets})
}

/// A run's `startedOn`: the run's own start, when it is RFC 3339 and not after the ledger
/// recorded the run, else when the ledger recorded it.
fn started(r: &RunRec) -> String {
    r.run
        .started_at
        .as_deref()
        .filter(|s| {
            let (Ok(a), Ok(b)) = (
                chrono::DateTime::parse_from_rfc3339(s),
                chrono::DateTime::parse_from_rfc3339(&r.event.recorded_at),
            ) else {
                return false;
            };
            a <= b
        })
        .map(str::to_string)
        .unwrap_or_else(|| r.event.recorded_at.clone())
}

fn run_facet(r: &RunRec) -> Value {
    facet(
        &custom_schema("PledgeRunFacet"),
        json!({
            "run_id": r.run.run_id,
            "trigger": r.run.trigger,
            "hypothesis_id": r.run.hypothesis_id,
            "drift_alert_id": r.run.drift_event,
            "trainer": r.run.trainer,
            "dataset_digest": r.run.dataset_digest,
            "dataset_version": r.run.dataset_version,
            "config_digest": r.run.config_digest,
            "spec_digest": r.run.params.get("spec_digest"),
            "params_digest": r.params_digest(),
            "code_version": r.run.code_version,
            "metrics": r.run.metrics,
            "recorded_by": r.run.recorded_by,
            "command": r.command,
            "event": r.event,
        }),
    )
}

fn training_events(l: &Lineage, r: &RunRec, out: &mut Vec<(u64, u8, Value)>) {
    let run_id = super::run_uuid(&r.event.recorded_at, &r.event.hash);
    let inputs = vec![input_dataset(l, r)];
    let outputs: Vec<Value> = r.versions.iter().map(|v| model_dataset(l, v)).collect();
    let start = json!({
        "eventType": "START",
        "eventTime": started(r),
        "producer": producer(),
        "schemaURL": SPEC,
        "run": {"runId": run_id, "facets": {"processing_engine": engine(&r.run.trainer)}},
        "job": train_job(l, &r.model),
        "inputs": inputs,
    });
    let complete = json!({
        "eventType": "COMPLETE",
        "eventTime": r.event.recorded_at,
        "producer": producer(),
        "schemaURL": SPEC,
        "run": {"runId": run_id, "facets": {"processing_engine": engine(&r.run.trainer), "pledge_run": run_facet(r)}},
        "job": train_job(l, &r.model),
        "inputs": inputs,
        "outputs": outputs,
    });
    out.push((r.event.seq, 0, start));
    out.push((r.event.seq, 1, complete));
}

fn backtest_events(l: &Lineage, b: &BacktestRec, out: &mut Vec<(u64, u8, Value)>) {
    let run_id = super::run_uuid(&b.event.recorded_at, &b.event.hash);
    let version = l.version(&b.model, &b.segment, b.backtest.version);
    let mut facets = json!({
        "pledge_backtest": facet(&custom_schema("PledgeBacktestRunFacet"), json!({
            "model": b.model,
            "segment": b.segment,
            "version": b.backtest.version,
            "window_start": b.backtest.window_start,
            "window_end": b.backtest.window_end,
            "rows": b.backtest.rows,
            "metrics": b.backtest.metrics,
            "degraded": b.backtest.degraded,
            "policy_version": b.backtest.policy_version,
            "command": b.command,
            "event": b.event,
        }))
    });
    if let Some(parent) = b.run.map(|i| &l.runs[i]) {
        let parent_id = super::run_uuid(&parent.event.recorded_at, &parent.event.hash);
        let parent_job = json!({"namespace": namespace(l), "name": format!("{}/train", parent.model)});
        facets["parent"] = facet(
            PARENT_FACET,
            json!({"run": {"runId": parent_id}, "job": parent_job,
                   "root": {"run": {"runId": parent_id}, "job": parent_job}}),
        );
    }
    // The version's model dataset, by name and version (its `pledge_model` facet is on the
    // training run's output).
    let inputs: Vec<Value> = version.iter().map(|v| model_ref(l, v)).collect();
    let job = job(l, &format!("{}/backtest", b.model), "BACKTEST");
    for (i, kind) in ["START", "COMPLETE"].into_iter().enumerate() {
        let mut e = json!({
            "eventType": kind,
            "eventTime": b.event.recorded_at,
            "producer": producer(),
            "schemaURL": SPEC,
            "run": {"runId": run_id},
            "job": job,
            "inputs": inputs,
        });
        if kind == "COMPLETE" {
            e["run"]["facets"] = facets.clone();
        }
        out.push((b.event.seq, i as u8, e));
    }
}

/// The `pledge_promotion` facet of a decision.
pub fn promotion_body(l: &Lineage, d: &DecisionRec) -> Value {
    json!({
        "decision": d.decision,
        "model": d.model,
        "segment": d.segment,
        "version": d.version,
        "champion": d.champion,
        "cause": d.cause,
        "passed": d.passed,
        "gates": d.gates,
        "policy_version": d.policy_version,
        "by": d.by,
        "notes": d.notes,
        "proposal_id": d.proposal_id,
        "artifact": l.version(&d.model, &d.segment, d.version).map(|v| json!({"blake3": v.artifact.blake3, "sha256": v.artifact.sha256})),
        "command": d.command,
        "event": d.event,
    })
}

fn decision_event(l: &Lineage, d: &DecisionRec, out: &mut Vec<(u64, u8, Value)>) {
    let Some(r) = d.run.map(|i| &l.runs[i]) else { return };
    let run_id = super::run_uuid(&r.event.recorded_at, &r.event.hash);
    let outputs: Vec<Value> =
        l.version(&d.model, &d.segment, d.version).iter().map(|v| model_ref(l, v)).collect();
    out.push((
        d.event.seq,
        2,
        json!({
            "eventType": "OTHER",
            "eventTime": d.event.recorded_at,
            "producer": producer(),
            "schemaURL": SPEC,
            "run": {"runId": run_id, "facets": {
                "pledge_promotion": facet(&custom_schema("PledgePromotionRunFacet"), promotion_body(l, d))
            }},
            "job": train_job(l, &r.model),
            "outputs": outputs,
        }),
    ));
}

/// Every run event of the ledger, in ledger order.
pub fn events(l: &Lineage) -> Vec<Value> {
    let mut out = vec![];
    for r in &l.runs {
        training_events(l, r, &mut out);
    }
    for b in &l.backtests {
        backtest_events(l, b, &mut out);
    }
    for d in &l.decisions {
        decision_event(l, d, &mut out);
    }
    out.sort_by_key(|(seq, sub, _)| (*seq, *sub));
    out.into_iter().map(|(_, _, e)| e).collect()
}
