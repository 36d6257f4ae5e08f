//! Serving through the API (no socket): rows routed to each segment's champion, refusals that
//! name the problem, champion changes switched atomically under load, and artifacts that are
//! missing or damaged never served.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use commands::api::Options;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use trainer::artifact::Artifact;
use trainer::spec::{DatasetSpec, Strategy, TrainParams};

use crate::api::Api;
use crate::harness::World;

const SPEC: &str = r#"{"name": "sales", "task": "regression", "target": {"column": "y"},
  "features": [{"column": "x", "type": "numeric"}, {"column": "store", "type": "categorical"}],
  "segment": "store", "missing": "refuse"}"#;

/// 120 rows: `y = 3x ± 5` by store, with a little deterministic noise.
fn data(dir: &Path) -> PathBuf {
    let mut csv = String::from("x,store,y\n");
    for i in 0..120 {
        let x = f64::from(i) / 10.0;
        let (store, shift) = if i % 2 == 0 { ("a", 5.0) } else { ("b", -5.0) };
        let noise = f64::from((i * 7) % 5 - 2) * 0.1;
        csv.push_str(&format!("{x},{store},{}\n", 3.0 * x + shift + noise));
    }
    let path = dir.join("sales.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

/// Fits the global model with `alpha` (and segment models when `segmented`), saved into the
/// ledger's artifact directory.
fn fit(ledger: &Path, alpha: f64, segmented: bool) -> trainer::artifact::Candidate {
    let spec = DatasetSpec::from_json(SPEC).unwrap();
    let (table, digest) = trainer::data::load(&data(ledger.parent().unwrap()), &spec).unwrap();
    let mut params = TrainParams { alpha, ..Default::default() };
    if segmented {
        params.strategy = Strategy::SegmentedRouter;
        params.min_segment_rows = 10;
    }
    let c = trainer::train::fit_candidate(&spec, &params, &table, &digest, "every row").unwrap();
    for a in c.artifacts() {
        a.save(&ledger.join("artifacts")).unwrap();
    }
    c
}

/// A `run.record` body of model `sales` (MAE `mae`) with one model per (segment, artifact).
fn run(id: &str, trigger: &str, mae: f64, models: &[(Option<&str>, &str)]) -> Value {
    let metrics = json!({"mae": mae, "rmse": mae * 1.2});
    json!({
        "run_id": id, "model": "sales", "task": "regression", "trigger": trigger,
        "dataset_digest": "5c1d3e6f7a8b9c0d1e2f30415263748596a7b8c9d0e1f2031425364758697a8b",
        "dataset_version": "2026-02", "trainer": "pledge-trainer ridge", "params": {},
        "metrics": metrics,
        "models": models.iter().map(|(s, d)| json!({"segment": s, "artifact_digest": d, "metrics": metrics})).collect::<Vec<_>>(),
    })
}

fn dir(w: &World) -> PathBuf {
    w.ledger.store().dir().to_path_buf()
}

async fn predict(api: &Api, model: &str, rows: Value) -> (StatusCode, Value) {
    api.send(Method::POST, &format!("/api/v1/models/{model}/predict"), &json!({"rows": rows})).await
}

/// The score `a` gives one row.
fn expected(a: &Artifact, row: Value) -> f64 {
    let frame = trainer::data::frame_from_rows(&[row.as_object().unwrap().clone()]).unwrap();
    let t = trainer::data::unlabelled(&frame, &a.spec).unwrap();
    a.score(&t).unwrap().value[0]
}

#[tokio::test]
async fn rows_go_to_their_segments_champion_and_bad_rows_are_refused_by_name() {
    let mut w = World::new();
    let l = dir(&w);
    let global = fit(&l, 1.0, false).global;
    let seg = fit(&l, 1.0, true).segments.remove("a").unwrap();
    w.ok("maya", "run.record", run("r1", "manual", 3.0, &[(None, &global.digest())]));
    w.ok("colby", "champion.bootstrap", json!({"model": "sales", "segment": null, "version": 1}));
    w.ok("maya", "run.record", run("r2", "manual", 3.0, &[(Some("a"), &seg.digest())]));
    w.ok("colby", "champion.bootstrap", json!({"model": "sales", "segment": "a", "version": 2}));
    // A model with a version but no champion is not served.
    let mut other = run("r3", "manual", 3.0, &[(None, &global.digest())]);
    other["model"] = json!("returns");
    w.ok("maya", "run.record", other);
    let api = Api::new(w);

    let rows = json!([{"x": 1.0, "store": "a"}, {"x": 2.0, "store": "b"}, {"x": 3.5, "store": "a"}]);
    let (s, v) = predict(&api, "sales", rows.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let p = v["predictions"].as_array().unwrap();
    let got: Vec<(u64, Value)> =
        p.iter().map(|r| (r["version"].as_u64().unwrap(), r["segment"].clone())).collect();
    assert_eq!(got, [(2, json!("a")), (1, Value::Null), (2, json!("a"))], "{v}");
    for (r, (row, a)) in p.iter().zip([(&rows[0], &seg), (&rows[1], &global), (&rows[2], &seg)]) {
        let want = expected(a, row.clone());
        assert!((r["prediction"].as_f64().unwrap() - want).abs() < 1e-9, "{r} vs {want}");
        let iv = r["interval"].as_array().unwrap();
        assert!(iv[0].as_f64().unwrap() <= want && want <= iv[1].as_f64().unwrap(), "{r}");
        assert_eq!(uuid::Uuid::parse_str(r["prediction_id"].as_str().unwrap()).unwrap().get_version_num(), 7);
    }
    assert_ne!(p[0]["prediction_id"], p[2]["prediction_id"]);
    assert_eq!((v["rows"].as_u64(), v["unscored"].clone()), (Some(3), json!([])));
    // A row of a segment without its own champion goes to the global one.
    let (_, v) = predict(&api, "sales", json!([{"x": 1.0, "store": "c"}])).await;
    assert_eq!(v["predictions"][0]["version"], 1, "{v}");

    // CSV, with the caller's row keys.
    let req = Request::post("/api/v1/models/sales/predict?key_column=id")
        .header("content-type", "text/csv")
        .body(Body::from("id,x,store\nk-1,1.0,b\nk-2,4,a\n"))
        .unwrap();
    let (s, v) = api.request(req).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let keyed: Vec<(&str, u64)> = v["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"].as_str().unwrap(), r["version"].as_u64().unwrap()))
        .collect();
    assert_eq!(keyed, [("k-1", 1), ("k-2", 2)]);

    // What is served.
    let (s, info) = api.get("/api/v1/models/sales").await;
    assert_eq!(s, StatusCode::OK, "{info}");
    let routes: Vec<(Value, u64, &str)> = info["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (r["segment"].clone(), r["version"].as_u64().unwrap(), r["artifact_digest"].as_str().unwrap())
        })
        .collect();
    let (gd, sd) = (global.digest(), seg.digest());
    assert_eq!(routes, [(json!("a"), 2, sd.as_str()), (Value::Null, 1, gd.as_str())]);
    assert_eq!(info["task"], "regression");
    assert_eq!(info["segment_column"], "store");
    assert_eq!(
        info["columns"],
        json!([{"column": "x", "role": "numeric"}, {"column": "store", "role": "categorical"}])
    );
    assert_eq!(info["problems"], json!([]));
    let (s, r) = api.get("/api/v1/ready").await;
    assert_eq!((s, r["ready"].clone(), r["models_served"].clone()), (StatusCode::OK, json!(true), json!(1)));

    // Refusals name the problem and its place.
    let bad: &[(&str, Value, StatusCode, &str)] = &[
        ("returns", json!([{"x": 1}]), StatusCode::NOT_FOUND, "no model `returns` is served"),
        ("nope", json!([{"x": 1}]), StatusCode::NOT_FOUND, "no model `nope`"),
        ("sales", json!([{"store": "a"}]), StatusCode::BAD_REQUEST, "`x`"),
        ("sales", json!([{"x": 1, "store": "a"}, {"x": 2}]), StatusCode::BAD_REQUEST, "row 2 has no `store`"),
        ("sales", json!([{"x": 1}, {"x": 2, "store": "a"}]), StatusCode::BAD_REQUEST, "row 2 has `store`"),
        ("sales", json!([{"x": "many", "store": "a"}]), StatusCode::BAD_REQUEST, "column `x`"),
        ("sales", json!([{"x": [1], "store": "a"}]), StatusCode::BAD_REQUEST, "row 1: `x` holds an array"),
        ("sales", json!([{"x": null, "store": "a"}]), StatusCode::BAD_REQUEST, "`x`"),
        ("sales", json!([]), StatusCode::BAD_REQUEST, "no rows"),
    ];
    for (model, rows, status, needle) in bad {
        let (s, v) = predict(&api, model, rows.clone()).await;
        assert_eq!(s, *status, "{model} {rows}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains(needle), "{rows}: `{needle}` not in {v}");
    }
    let (s, v) = api
        .send(Method::POST, "/api/v1/models/sales/predict", &json!({"rows": [{"x": 1}], "extra": 1}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("extra"), "{v}");
    for (body, needle) in [
        ("id,x\nk,1\nk,2\n", "same key `k`"),
        ("id,x\n,1\n", "row 1: the key column `id` is empty"),
        ("x\n1\n", "no key column `id`"),
        ("id,x,x\nk,1,2\n", "twice"),
    ] {
        let req = Request::post("/api/v1/models/sales/predict?key_column=id")
            .header("content-type", "text/csv")
            .body(Body::from(body))
            .unwrap();
        let (s, v) = api.request(req).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains(needle), "{body}: `{needle}` not in {v}");
    }
    let req = Request::post("/api/v1/models/sales/predict")
        .header("content-type", "text/plain")
        .body(Body::from("x"))
        .unwrap();
    assert_eq!(api.request(req).await.0, StatusCode::BAD_REQUEST);
    api.close().await;
}

/// Four versions, each champion once (v1 bootstrapped, v2..v4 promoted by the policy).
fn four_champions() -> (World, Vec<String>) {
    let mut w = World::new();
    let l = dir(&w);
    let digests: Vec<String> =
        [0.01, 1.0, 10.0, 100.0].iter().map(|&a| fit(&l, a, false).global.digest()).collect();
    let unique: std::collections::BTreeSet<&String> = digests.iter().collect();
    assert_eq!(unique.len(), 4, "four different artifacts");
    w.ok("maya", "run.record", run("r1", "manual", 10.0, &[(None, &digests[0])]));
    w.ok("colby", "champion.bootstrap", json!({"model": "sales", "segment": null, "version": 1}));
    for (k, d) in digests.iter().enumerate().skip(1) {
        // Each 10% better: promoted by the policy in the same append.
        w.ok(
            "scheduler",
            "run.record",
            run(&format!("r{}", k + 1), "scheduled", 10.0 * 0.9f64.powi(k as i32), &[(None, d)]),
        );
        assert_eq!(w.champion("sales", None), Some(k as u64 + 1));
    }
    (w, digests)
}

/// While four clients predict without pause, 100 rollbacks move the champion around four
/// versions. No request fails, and every answer names a version that was champion at some
/// instant during its request: between the send of the command that made it champion and the
/// acknowledgement of the one that ended its turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn champion_changes_switch_serving_atomically_under_load() {
    let (w, _) = four_champions();
    let api = Arc::new(Api::new(w));
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = vec![];
    for c in 0..4 {
        let (api, stop) = (Arc::clone(&api), Arc::clone(&stop));
        clients.push(tokio::spawn(async move {
            let mut seen = vec![];
            while !stop.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let (s, v) = predict(&api, "sales", json!([{"x": c, "store": "a"}])).await;
                let got = Instant::now();
                assert_eq!(s, StatusCode::OK, "{v}");
                seen.push((sent, got, v["predictions"][0]["version"].as_u64().unwrap()));
                tokio::task::yield_now().await;
            }
            seen
        }));
    }
    // (sent, acknowledged, new champion); v4 is champion from the start.
    let mut changes = vec![(start, start, 4u64)];
    for i in 0..100u64 {
        let target = i % 4 + 1; // 1, 2, 3, 4, 1, ...
        let sent = Instant::now();
        let (s, v) = api
            .command(
                "colby",
                "rollback",
                json!({"model": "sales", "segment": null, "version": target, "reason": format!("swap {i}")}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        changes.push((sent, Instant::now(), target));
    }
    stop.store(true, Ordering::Relaxed);
    let mut answers = vec![];
    for c in clients {
        answers.extend(c.await.unwrap());
    }
    assert!(answers.len() >= 100, "the clients kept predicting during the changes: {}", answers.len());
    let mut versions = std::collections::BTreeSet::new();
    for (sent, got, v) in &answers {
        versions.insert(*v);
        let champion_during = changes.iter().enumerate().any(|(k, (from, _, version))| {
            let until = changes.get(k + 1).map(|c| c.1);
            version == v && *from <= *got && until.is_none_or(|u| *sent <= u)
        });
        assert!(champion_during, "v{v} answered a request during which it was never champion");
    }
    assert_eq!(versions.len(), 4, "every version served at some point: {versions:?}");
    let (_, info) = api.get("/api/v1/models/sales").await;
    assert_eq!(info["routes"][0]["version"], 4, "the last rollback's champion serves");
    assert!(info["generation"].as_u64().unwrap() >= 100, "one table per change: {info}");
    Arc::into_inner(api).unwrap().close().await;
}

/// A champion whose artifact is damaged or missing is never served: the version before keeps
/// serving, `GET /models/{model}` and `/ready` say why, and the restored file is picked up.
#[tokio::test]
async fn a_damaged_or_missing_artifact_is_never_served_and_the_previous_champion_keeps_serving() {
    let (mut w, _) = four_champions();
    let l = dir(&w);
    let file = |d: &str| l.join("artifacts").join(format!("{d}.json"));
    // v5: its file damaged before it becomes champion (one byte changed).
    let v5 = fit(&l, 1000.0, false).global.digest();
    let good = std::fs::read(file(&v5)).unwrap();
    let mut bad = good.clone();
    let at = bad.iter().position(|&b| b == b'1').unwrap();
    bad[at] = b'2';
    std::fs::write(file(&v5), &bad).unwrap();
    w.ok("scheduler", "run.record", run("r5", "scheduled", 5.0, &[(None, &v5)]));
    assert_eq!(w.champion("sales", None), Some(5));
    let options = Options { serving_retry: std::time::Duration::ZERO, ..Options::default() };
    let api = Api::with_options(w, options);

    // Nothing served it before this server started: the route is refused, naming the cause.
    let (s, v) = predict(&api, "sales", json!([{"x": 1, "store": "a"}])).await;
    assert_eq!((s, v["error"]["rule"].clone()), (StatusCode::CONFLICT, json!("serving.unavailable")), "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("v5") && msg.contains("damaged"), "{msg}");
    let (s, r) = api.get("/api/v1/ready").await;
    assert_eq!((s, r["serving_problems"].clone()), (StatusCode::OK, json!(1)), "{r}");

    // A rollback to v4 serves v4; moving to v5 again keeps v4 serving and says why.
    let (s, _) = api
        .command(
            "colby",
            "rollback",
            json!({"model": "sales", "segment": null, "version": 4, "reason": "v5 unreadable"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(
        predict(&api, "sales", json!([{"x": 1, "store": "b"}])).await.1["predictions"][0]["version"],
        4
    );
    let (s, _) = api
        .command(
            "colby",
            "rollback",
            json!({"model": "sales", "segment": null, "version": 5, "reason": "try again"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, v) = predict(&api, "sales", json!([{"x": 1, "store": "b"}])).await;
    assert_eq!((s, v["predictions"][0]["version"].clone()), (StatusCode::OK, json!(4)), "{v}");
    let (_, info) = api.get("/api/v1/models/sales").await;
    assert_eq!(info["routes"][0]["version"], 4);
    let p = &info["problems"][0];
    assert_eq!(
        (p["version"].clone(), p["serving_instead"].clone(), p["artifact_digest"].clone()),
        (json!(5), json!(4), json!(v5))
    );
    assert!(p["reason"].as_str().unwrap().contains("damaged"), "{p}");

    // The file restored: the next refresh (here, after any commit) serves v5.
    std::fs::write(file(&v5), &good).unwrap();
    let (s, v) =
        api.command("maya", "drift.record", json!({"model": "sales", "baseline": 5.0, "recent": 5.1})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (_, info) = api.get("/api/v1/models/sales").await;
    assert_eq!(
        (info["routes"][0]["version"].clone(), info["problems"].clone()),
        (json!(5), json!([])),
        "{info}"
    );
    assert_eq!(
        predict(&api, "sales", json!([{"x": 1, "store": "b"}])).await.1["predictions"][0]["version"],
        5
    );

    // A missing file: v6's artifact was never written; v5 keeps serving.
    let missing = "0".repeat(64);
    let (s, v) =
        api.command("scheduler", "run.record", run("r6", "scheduled", 4.0, &[(None, &missing)])).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (_, info) = api.get("/api/v1/models/sales").await;
    assert_eq!(info["routes"][0]["version"], 5, "{info}");
    assert!(info["problems"][0]["reason"].as_str().unwrap().contains("cannot read"), "{info}");
    assert_eq!(
        predict(&api, "sales", json!([{"x": 1, "store": "b"}])).await.1["predictions"][0]["version"],
        5
    );
    api.close().await;
}

/// Champion v1 and, in shadow, v2 of experiment `H-1` (planned for one window).
fn champion_and_shadow() -> (World, Artifact, Artifact) {
    let mut w = World::new();
    let l = dir(&w);
    let (champion, challenger) = (fit(&l, 0.01, false).global, fit(&l, 300.0, false).global);
    w.ok("maya", "run.record", run("r1", "manual", 3.0, &[(None, &champion.digest())]));
    w.ok("colby", "champion.bootstrap", json!({"model": "sales", "segment": null, "version": 1}));
    w.ok(
        "maya",
        "hypothesis.propose",
        json!({"hypothesis_id": "H-1", "model": "sales", "statement": "more shrinkage generalises", "change_type": "tuning",
               "target_metric": "mae", "expected_improvement_pct": 5.0, "owner": "maya"}),
    );
    w.ok("colby", "experiment.approve", json!({"hypothesis_id": "H-1", "rationale": "cheap to try"}));
    w.ok("maya", "experiment.start", json!({"hypothesis_id": "H-1"}));
    let mut body = run("r2", "experiment", 3.0, &[(None, &challenger.digest())]);
    body["hypothesis_id"] = json!("H-1");
    w.ok("maya", "run.record", body);
    w.ok("maya", "experiment.shadow", json!({"hypothesis_id": "H-1", "planned_windows": 1}));
    (w, champion, challenger)
}

/// The shadow loop at library level: the shadow version scores the same rows (logged, not
/// returned), outcomes join by id and by key (all or none), and the evaluated window's metrics
/// equal those computed by hand from the logged rows; recording it completes the shadow test.
#[tokio::test]
async fn shadow_versions_are_logged_joined_to_outcomes_and_evaluated_on_the_same_rows() {
    let (w, champion, challenger) = champion_and_shadow();
    let l = dir(&w);
    let api = Api::new(w);
    let (_, info) = api.get("/api/v1/models/sales").await;
    assert_eq!(
        (info["routes"][0]["version"].clone(), info["shadows"][0]["version"].clone()),
        (json!(1), json!(2)),
        "{info}"
    );

    let rows: Vec<Value> = (0..20).map(|i| json!({"id": format!("k{i}"), "x": f64::from(i) / 2.0, "store": if i % 2 == 0 { "a" } else { "b" }})).collect();
    let (s, v) =
        api.send(Method::POST, "/api/v1/models/sales/predict?key_column=id", &json!({"rows": rows})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let answered = v["predictions"].as_array().unwrap().clone();
    assert!(
        answered.iter().all(|p| p["version"] == 1 && p.get("shadow").is_none()),
        "shadow scores are not returned"
    );

    // The log holds each answer with the shadow version's score of the same row.
    let day = chrono::Utc::now().date_naive();
    let text = std::fs::read_to_string(l.join("predictions").join(format!("{day}.jsonl"))).unwrap();
    let logged: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(logged.len(), 20);
    for (r, (p, row)) in logged.iter().zip(answered.iter().zip(&rows)) {
        assert_eq!(
            (&r["prediction_id"], &r["key"], &r["version"]),
            (&p["prediction_id"], &p["key"], &json!(1))
        );
        assert_eq!(r["value"], p["prediction"]);
        let mut features = row.clone();
        features.as_object_mut().unwrap().remove("id");
        let want = expected(&challenger, features.clone());
        assert_eq!(r["shadow"][0]["version"], 2);
        assert!((r["shadow"][0]["value"].as_f64().unwrap() - want).abs() < 1e-9, "{r}");
        assert!((r["value"].as_f64().unwrap() - expected(&champion, features)).abs() < 1e-9);
    }

    // Outcomes: y = 3x + 5 (a) or 3x - 5 (b), half by prediction id, half by key.
    let actual = |i: usize| {
        let x = i as f64 / 2.0;
        3.0 * x + if i % 2 == 0 { 5.0 } else { -5.0 } + 0.25
    };
    let mut actuals: Vec<Value> = (0..20)
        .map(|i| match i % 2 {
            0 => json!({"prediction_id": answered[i]["prediction_id"], "actual": actual(i)}),
            _ => json!({"key": format!("k{i}"), "actual": actual(i)}),
        })
        .collect();
    // One unknown key: refused whole, nothing recorded.
    actuals.push(json!({"key": "k99", "actual": 1.0}));
    let (s, v) = api.send(Method::POST, "/api/v1/models/sales/actuals", &json!({"actuals": actuals})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("actual 21: no logged prediction of `sales` has key `k99`"),
        "{v}"
    );
    assert!(!l.join("predictions").join(format!("{day}.actuals.jsonl")).exists(), "nothing recorded");
    for (bad, needle) in [
        (json!({"key": "k1", "actual": "many"}), "a regression model's outcome is a number"),
        (json!({"key": "k1", "prediction_id": answered[1]["prediction_id"], "actual": 1}), "exactly one of"),
        (json!({"prediction_id": "nope", "actual": 1}), "not a prediction id"),
    ] {
        let (s, v) = api.send(Method::POST, "/api/v1/models/sales/actuals", &json!({"actuals": [bad]})).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        assert!(v["error"]["message"].as_str().unwrap().contains(needle), "`{needle}` not in {v}");
    }
    actuals.pop();
    let (s, v) = api.send(Method::POST, "/api/v1/models/sales/actuals", &json!({"actuals": actuals})).await;
    assert_eq!((s, v["recorded"].clone()), (StatusCode::OK, json!(20)), "{v}");

    // The window, by hand from the logged rows.
    let now = chrono::Utc::now();
    let b = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let path = format!(
        "/api/v1/models/sales/shadow?since={}&until={}",
        b(now - chrono::Duration::hours(1)),
        b(now + chrono::Duration::hours(1))
    );
    let (s, e) = api.get(&path).await;
    assert_eq!(s, StatusCode::OK, "{e}");
    assert_eq!((e["predictions"].clone(), e["with_actuals"].clone()), (json!(20), json!(20)), "{e}");
    let win = &e["windows"][0];
    assert_eq!(
        (win["champion"].clone(), win["challenger"].clone(), win["samples"].clone()),
        (json!(1), json!(2), json!(20))
    );
    assert_eq!(win["hypothesis_id"], "H-1");
    let y: Vec<f64> = (0..20).map(actual).collect();
    let by_hand = |values: Vec<f64>| {
        let n = values.len() as f64;
        let mae = values.iter().zip(&y).map(|(p, a)| (p - a).abs()).sum::<f64>() / n;
        let rmse = (values.iter().zip(&y).map(|(p, a)| (p - a).powi(2)).sum::<f64>() / n).sqrt();
        let bias = values.iter().zip(&y).map(|(p, a)| p - a).sum::<f64>() / n;
        (mae, rmse, bias)
    };
    let champ = by_hand(logged.iter().map(|r| r["value"].as_f64().unwrap()).collect());
    let chall = by_hand(logged.iter().map(|r| r["shadow"][0]["value"].as_f64().unwrap()).collect());
    for (m, (mae, rmse, bias)) in [(&win["champion_metrics"], champ), (&win["challenger_metrics"], chall)] {
        assert!((m["mae"].as_f64().unwrap() - mae).abs() < 1e-9, "{m} vs {mae}");
        assert!((m["rmse"].as_f64().unwrap() - rmse).abs() < 1e-9, "{m} vs {rmse}");
        assert!((m["bias"].as_f64().unwrap() - bias).abs() < 1e-9, "{m} vs {bias}");
    }
    assert!(champ.0 < chall.0, "the heavily shrunk challenger is worse on these rows");

    // The metrics count the rows each version scored, in shadow too, and the requests.
    let resp = api.app.clone().oneshot(Request::get("/metrics").body(Body::empty()).unwrap()).await.unwrap();
    let text = String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    for line in [
        "pledge_predictions_total{model=\"sales\",version=\"1\",route=\"global\"} 20",
        "pledge_shadow_predictions_total{model=\"sales\",version=\"2\"} 20",
        "pledge_shadow_disagreement_count{model=\"sales\",version=\"2\"} 20",
        "pledge_http_requests_total{method=\"POST\",route=\"/api/v1/models/{model}/predict\",status=\"200\"} 1",
        "pledge_serving_problems 0",
    ] {
        assert!(text.lines().any(|l| l == line), "`{line}` not in:\n{text}");
    }

    // Recorded (signed by the scheduler), the one planned window completes the shadow test.
    let (s, v) = api.command("scheduler", "shadow.record", win.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let kinds: Vec<&str> =
        v["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["shadow.recorded"], "{v}");
    let (_, alerts) = api.get("/api/v1/ml-alerts").await;
    assert!(
        alerts["alerts"].as_array().unwrap().iter().any(|a| a["alert_type"] == "shadow_test_complete"),
        "{alerts}"
    );
    api.close().await;
}

/// `shadow.start` / `shadow.stop`: only a challenger goes in shadow, once; a signed command
/// puts it there and takes it out, and serving follows at the commit.
#[tokio::test]
async fn a_challenger_put_in_shadow_by_a_signed_command_scores_the_same_rows() {
    let (mut w, _) = four_champions();
    let l = dir(&w);
    let v5 = fit(&l, 30.0, false).global.digest();
    // 5% worse than v4: stays challenger.
    w.ok("scheduler", "run.record", run("r5", "scheduled", 10.0 * 0.9f64.powi(3) * 1.05, &[(None, &v5)]));
    assert_eq!(
        w.state().model("sales").unwrap().versions[&5].status,
        projections::events::VersionStatus::Challenger
    );
    let body = |v: u64, reason: &str| json!({"model": "sales", "version": v, "reason": reason});
    // Given / when / then: the rules, each refusal naming its rule and writing nothing.
    w.rejected("maya", "shadow.start", body(4, "x"), "shadow.not_challenger");
    let msg = w.rejected("maya", "shadow.start", body(1, "x"), "shadow.not_challenger");
    assert!(msg.contains("archived"), "{msg}");
    w.rejected("maya", "shadow.start", body(9, "x"), "version.unknown");
    w.rejected("maya", "shadow.stop", body(5, "x"), "shadow.not_started");
    w.rejected(
        "colby",
        "shadow.start",
        json!({"model": "nope", "version": 1, "reason": "x"}),
        "version.unknown",
    );
    w.invalid("maya", "shadow.start", body(5, " "));
    let ev = w.ok("maya", "shadow.start", body(5, "compare on live rows"));
    assert_eq!(crate::harness::kinds(&ev), ["shadow.started"]);
    assert_eq!(ev[0].event.payload, json!({"version": 5, "reason": "compare on live rows", "by": "maya"}));
    w.rejected("maya", "shadow.start", body(5, "again"), "shadow.already");

    let api = Api::new(w);
    let (_, info) = api.get("/api/v1/models/sales").await;
    assert_eq!(
        (info["routes"][0]["version"].clone(), info["shadows"][0]["version"].clone()),
        (json!(4), json!(5)),
        "{info}"
    );
    let (s, _) = predict(&api, "sales", json!([{"x": 2, "store": "a"}])).await;
    assert_eq!(s, StatusCode::OK);
    let day = chrono::Utc::now().date_naive();
    let text = std::fs::read_to_string(l.join("predictions").join(format!("{day}.jsonl"))).unwrap();
    let r: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!((r["version"].clone(), r["shadow"][0]["version"].clone()), (json!(4), json!(5)), "{r}");
    // Out of shadow: the next table has no shadow version.
    let (s, v) = api.command("maya", "shadow.stop", body(5, "enough")).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (_, info) = api.get("/api/v1/models/sales").await;
    assert_eq!(info["shadows"], json!([]), "{info}");
    api.close().await;
}
