//! `pledge bench`'s review-desk figures: a ledger of `--desk-events` events written as a team
//! would (runs, backtest windows, drift checks and their alerts, hypotheses, alerts read), then
//! every page of the desk loaded over loopback: the first load after the server started, then
//! the median and 99th percentile of repeated loads, each from sending the request to the last
//! byte of the page, and the page's weight (the HTML with its style sheet and script; a page
//! loads nothing else). Beside them, the floor: the same server's smallest route
//! (`/api/v1/ready`) loaded the same way.

use std::sync::Arc;
use std::time::Instant;

use ledger::canonical::{SystemClock, Timestamp};
use ledger::{Command, Ledger};
use serde_json::{json, Value};

use super::bench::{setup, Served};
use crate::app::failure::Failure;
use crate::app::keystore;
use crate::domain::PledgeDomain;

/// The goal for a page's first load, in milliseconds.
pub const FIRST_LOAD_GOAL_MS: f64 = 200.0;
/// The goal for a page's weight, in bytes.
pub const WEIGHT_GOAL_BYTES: usize = 300_000;
const MODELS: usize = 8;
const LOADS: usize = 30;

fn digest(i: usize) -> String {
    ledger::Digest::of(format!("artifact {i}").as_bytes()).to_string()
}

fn metrics(mae: f64) -> Value {
    json!({"mae": mae, "mape": mae / 60.0, "coverage": 0.9})
}

/// The commands of one week of model `m`: a retrain, four backtest windows each of the
/// champion and of the retrain, a hypothesis; every fourth week, from the first, a drift check (an alert when
/// it exceeds the policy, then read by an approver).
fn week(m: usize, w: usize, version: u64, alert: Option<String>) -> Vec<(&'static str, &'static str, Value)> {
    let model = format!("model-{m}");
    let mae = 12.0 + ((w * 7 + m * 3) % 11) as f64 / 10.0;
    let mut out = vec![(
        "maya",
        "run.record",
        json!({"run_id": format!("r-{m}-{w}"), "model": model, "task": "forecast", "trigger": "manual",
               "dataset_digest": digest(w), "dataset_version": format!("week-{w}"), "trainer": "external",
               "params": {"alpha": 0.1 * (w % 7) as f64, "lags": [1, 7]}, "metrics": metrics(mae),
               "models": [{"segment": null, "artifact_digest": digest(m * 100_000 + w), "metrics": metrics(mae)}]}),
    )];
    let start =
        chrono::DateTime::parse_from_rfc3339("2020-01-06T00:00:00Z").expect("a constant time").to_utc()
            + chrono::Duration::weeks(w as i64);
    for day in 0..4i64 {
        let from = start + chrono::Duration::days(day);
        let to = from + chrono::Duration::days(1);
        for v in [1, version] {
            let window_mae = 12.0 + ((w + day as usize + v as usize) % 5) as f64 / 10.0;
            out.push((
                "maya",
                "backtest.record",
                json!({"model": model, "version": v, "window_start": Timestamp::from_datetime(from).to_string(),
                       "window_end": Timestamp::from_datetime(to).to_string(), "metrics": metrics(window_mae), "rows": 24}),
            ));
        }
    }
    out.push((
        "maya",
        "hypothesis.propose",
        json!({"hypothesis_id": format!("H-{m}-{w}"), "model": model, "statement": "weekly lags cut MAE",
               "change_type": "feature", "target_metric": "mae", "expected_improvement_pct": 5.0, "owner": "maya"}),
    ));
    if w % 4 == 0 {
        out.push((
            "maya",
            "drift.record",
            json!({"model": model, "baseline": 12.0, "recent": 15.0, "psi": {"hour": 0.31, "temp": 0.04, "humidity": 0.12}}),
        ));
    }
    if let Some(a) = alert {
        out.push(("root", "alert.read", json!({"alert_id": a})));
    }
    out
}

/// Writes a ledger of about `events` events under `dir`, with `root` (admin, approver) and
/// `maya` (scientist) in `dir/home`.
pub(super) fn write_ledger(dir: &std::path::Path, events: usize) -> Result<std::path::PathBuf, Failure> {
    let common = setup(dir, true)?;
    let home = common.home()?;
    let keys = [("root", keystore::load(&home, "root")?), ("maya", keystore::load(&home, "maya")?)];
    let mut l = Ledger::open(&common.ledger, Arc::new(SystemClock), PledgeDomain::default())?;
    let ledger_id = l.trust().ledger_id().ok_or_else(|| Failure::internal(anyhow::anyhow!("no genesis")))?;
    let sign = |who: &str, kind: &str, body: Value| {
        let key = &keys.iter().find(|k| k.0 == who).expect("a bench identity").1;
        Command::new(ledger_id, Timestamp::from_datetime(chrono::Utc::now()), kind, body).sign(key)
    };
    // Each model: a first run and its champion.
    let mut batch = vec![];
    for m in 0..MODELS {
        let model = format!("model-{m}");
        batch.push(sign(
            "maya",
            "run.record",
            json!({"run_id": format!("r-{m}-first"), "model": model, "task": "forecast", "trigger": "manual",
                   "dataset_digest": digest(0), "trainer": "external", "metrics": metrics(12.5),
                   "models": [{"segment": null, "artifact_digest": digest(m), "metrics": metrics(12.5)}]}),
        ));
        batch.push(sign(
            "root",
            "champion.bootstrap",
            json!({"model": model, "segment": null, "version": 1}),
        ));
    }
    commit(&mut l, batch)?;
    let mut w = 0;
    while l.store().len() < events as u64 {
        let mut batch = vec![];
        let state = &l.domain().state;
        // Each model's newest unread alert, read in its next week: one pass over the inbox per
        // week (a pass per model made writing ten million events slow down as alerts piled up).
        let mut unread: std::collections::HashMap<&str, (u64, &str)> = std::collections::HashMap::new();
        for a in state.alerts.values().filter(|a| a.status == projections::state::AlertStatus::Unread) {
            if let Some(s) = &a.subject {
                let newest = unread.entry(s.model.as_str()).or_insert((a.raised_seq, a.id.as_str()));
                if a.raised_seq > newest.0 {
                    *newest = (a.raised_seq, a.id.as_str());
                }
            }
        }
        for m in 0..MODELS {
            let model = format!("model-{m}");
            let version = state.model(&model).map_or(1, |s| s.next_version());
            let alert = unread.get(model.as_str()).map(|(_, id)| id.to_string());
            for (who, kind, body) in week(m, w, version, alert) {
                batch.push(sign(who, kind, body));
            }
        }
        commit(&mut l, batch)?;
        w += 1;
    }
    Ok(common.ledger)
}

fn commit(
    l: &mut Ledger<PledgeDomain>,
    batch: Vec<Result<ledger::dsse::Envelope, serde_json::Error>>,
) -> Result<(), Failure> {
    let envelopes = batch.into_iter().collect::<Result<Vec<_>, _>>().map_err(Failure::internal)?;
    for r in l.submit_batch(envelopes)? {
        r.map_err(|e| Failure::internal(anyhow::anyhow!("desk bench ledger: {e}")))?;
    }
    Ok(())
}

/// Runs the desk figures on a fresh ledger of about `events` events.
pub fn run(dir: &std::path::Path, events: usize) -> Result<Value, Failure> {
    let started = Instant::now();
    let path = write_ledger(dir, events)?;
    let write_secs = started.elapsed().as_secs_f64();
    let served = Served::start(&path, crate::api::Options::default())?;
    let written = served.state.committed();
    let get = |path: &str| -> Result<(f64, usize, Value), Failure> {
        let (ms, body) = served.get(path)?;
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Ok((ms, body.len(), json))
    };
    // Ids from the API (loaded before the pages, so the pages' first loads are still cold).
    let alerts = get("/api/v1/ml-alerts?severity=critical")?.2;
    let alert = alerts["alerts"][0]["id"].as_str().unwrap_or("A-none").to_string();
    let hypothesis = "H-0-0".to_string();
    let versions = get("/api/v1/models/model-0/versions")?.2;
    let challenger = versions["versions"]
        .as_array()
        .and_then(|v| v.last())
        .and_then(|v| v["version"].as_u64())
        .unwrap_or(1);
    let assets: usize = [crate::api::desk::SCRIPT.len(), crate::api::desk::STYLE.len()].iter().sum();
    let pages = [
        "/".to_string(),
        "/alerts".into(),
        format!("/alerts/{alert}"),
        "/models".into(),
        "/models/model-0".into(),
        format!("/models/model-0/versions/{challenger}"),
        "/models/model-0/timeline".into(),
        // The as-of picker, halfway through the ledger.
        format!("/models/model-0/timeline?as_of={}", written / 2),
        "/models/model-0/runs".into(),
        "/experiments".into(),
        format!("/experiments/{hypothesis}"),
        "/audit".into(),
    ];
    // The floor: the smallest route of the same server, on the same connection pool.
    let mut floor = vec![];
    for _ in 0..LOADS {
        floor.push(get("/api/v1/ready")?.0);
    }
    floor.sort_by(f64::total_cmp);
    let mut rows = vec![];
    for p in &pages {
        let (first, bytes, _) = get(p)?;
        let mut times = vec![];
        for _ in 0..LOADS {
            times.push(get(p)?.0);
        }
        times.sort_by(f64::total_cmp);
        rows.push(json!({
            "page": p,
            "first_load_ms": first,
            "p50_ms": times[times.len() / 2],
            "p99_ms": times[(times.len() * 99 / 100).min(times.len() - 1)],
            "html_bytes": bytes,
            "weight_bytes": bytes + assets,
        }));
    }
    served.stop();
    Ok(json!({
        "events": written,
        "ledger_write_secs": write_secs,
        "loads_per_page": LOADS,
        "first_load_goal_ms": FIRST_LOAD_GOAL_MS,
        "weight_goal_bytes": WEIGHT_GOAL_BYTES,
        "assets_bytes": assets,
        "floor_p50_ms": floor[floor.len() / 2],
        "pages": rows,
    }))
}
