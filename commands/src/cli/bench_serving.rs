//! `pledge bench`'s serving figures: `pledge serve`'s predict route over loopback with a model
//! the built-in trainer fitted on synthetic rows (single rows at a fixed rate, open loop;
//! batches of 1,000 rows), the same with one shadow version scoring every row, and the
//! hot-swap latency from sending a champion change to the first answer of the new champion.

use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;
use serde_json::{json, Value};

use super::bench::{open_loop, send_ok, setup, Served};
use super::common::Common;
use crate::app::failure::Failure;

fn err(e: impl std::fmt::Display) -> Failure {
    Failure::internal(anyhow::anyhow!("serving bench: {e}"))
}

/// 2,000 rows of `y = 3x ± 5` by store; returns the file.
fn data(dir: &std::path::Path) -> Result<std::path::PathBuf, Failure> {
    let mut csv = String::from("x,store,y\n");
    for i in 0..2000u32 {
        let x = f64::from(i % 200) / 10.0;
        let (store, shift) = if i % 2 == 0 { ("a", 5.0) } else { ("b", -5.0) };
        csv.push_str(&format!("{x},{store},{}\n", 3.0 * x + shift + f64::from((i * 7) % 5) * 0.1));
    }
    let path = dir.join("rows.csv");
    std::fs::write(&path, csv).map_err(err)?;
    Ok(path)
}

const SPEC: &str = r#"{"name": "bench", "task": "regression", "target": {"column": "y"},
  "features": [{"column": "x", "type": "numeric"}, {"column": "store", "type": "categorical"}], "missing": "refuse"}"#;

/// Fits a ridge model with `alpha` into the ledger's artifacts; returns its digest.
fn fit(ledger: &std::path::Path, rows: &std::path::Path, alpha: f64) -> Result<String, Failure> {
    let spec = trainer::DatasetSpec::from_json(SPEC).map_err(err)?;
    let (table, digest) = trainer::data::load(rows, &spec).map_err(err)?;
    let params = trainer::spec::TrainParams { alpha, ..Default::default() };
    let c = trainer::train::fit_candidate(&spec, &params, &table, &digest, "every row").map_err(err)?;
    let (d, _, _) = c.global.save(&crate::app::training::artifact_dir(ledger)).map_err(err)?;
    Ok(d)
}

fn run_body(id: &str, trigger: &str, mae: f64, digest: &str, hypothesis: Option<&str>) -> Value {
    let metrics = json!({"mae": mae, "rmse": mae * 1.2});
    json!({"run_id": id, "model": "sales", "task": "regression", "trigger": trigger, "hypothesis_id": hypothesis,
           "dataset_digest": digest, "trainer": "pledge-trainer ridge", "metrics": metrics,
           "models": [{"segment": null, "artifact_digest": digest, "metrics": metrics}]})
}

/// A ledger whose model `sales` has champion v2 (v1 served before it), fitted here.
fn ledger(dir: &std::path::Path) -> Result<(Common, std::path::PathBuf), Failure> {
    let common = setup(dir, true)?;
    let rows = data(dir)?;
    let (v1, v2) = (fit(&common.ledger, &rows, 1.0)?, fit(&common.ledger, &rows, 2.0)?);
    let root = common_as(&common, "root");
    common.submit("run.record", run_body("s1", "manual", 10.0, &v1, None))?;
    root.submit("champion.bootstrap", json!({"model": "sales", "segment": null, "version": 1}))?;
    // 10% better: promoted by the policy; both have served, so rollbacks may swap them.
    common.submit("run.record", run_body("s2", "scheduled", 9.0, &v2, None))?;
    Ok((common, rows))
}

fn common_as(c: &Common, who: &str) -> Common {
    Common { identity: Some(who.into()), ..c.clone() }
}

/// Puts a third fitted version in shadow (an experiment in shadow testing).
fn add_shadow(common: &Common, rows: &std::path::Path) -> Result<(), Failure> {
    let v3 = fit(&common.ledger, rows, 50.0)?;
    let root = common_as(common, "root");
    common.submit(
        "hypothesis.propose",
        json!({"hypothesis_id": "H-SHADOW", "model": "sales", "statement": "more shrinkage", "change_type": "tuning",
               "target_metric": "mae", "expected_improvement_pct": 5.0, "owner": "maya"}),
    )?;
    root.submit("experiment.approve", json!({"hypothesis_id": "H-SHADOW", "rationale": "bench"}))?;
    common.submit("experiment.start", json!({"hypothesis_id": "H-SHADOW"}))?;
    common.submit("run.record", run_body("s3", "experiment", 9.5, &v3, Some("H-SHADOW")))?;
    common.submit("experiment.shadow", json!({"hypothesis_id": "H-SHADOW", "planned_windows": 1}))?;
    Ok(())
}

/// The server of the serving figures, on the team's ledger.
fn start(common: &Common) -> Result<Served, Failure> {
    Served::start(&common.ledger, crate::api::Options::default())
}

/// The serving figures of a server.
trait Figures {
    fn predict(&self, body: &Bytes) -> hyper::Request<Full<Bytes>>;
    fn figures(&self, rate: u32, n: usize, rows: usize, batches: usize) -> Result<Value, Failure>;
    fn hot_swap(&self, common: &Common, swaps: usize) -> Result<Value, Failure>;
}

impl Figures for Served {
    fn predict(&self, body: &Bytes) -> hyper::Request<Full<Bytes>> {
        hyper::Request::post(format!("http://{}/api/v1/models/sales/predict", self.addr))
            .header("content-type", "application/json")
            .body(Full::new(body.clone()))
            .expect("a well-formed request")
    }

    /// Single rows at `rate`, open loop; then batches of `batch` rows from 2 clients.
    fn figures(&self, rate: u32, n: usize, batch: usize, batches: usize) -> Result<Value, Failure> {
        let one = Bytes::from(json!({"rows": [{"x": 1.5, "store": "a"}]}).to_string());
        let single = open_loop(&self.rt, &self.client, &|| self.predict(&one), rate, n).map_err(err)?;
        let rows: Vec<Value> = (0..batch)
            .map(|i| json!({"x": (i % 200) as f64 / 10.0, "store": if i % 2 == 0 { "a" } else { "b" }}))
            .collect();
        let body = Bytes::from(json!({"rows": rows}).to_string());
        let clients = 2usize;
        let started = Instant::now();
        let done: Result<Vec<()>, String> = self.rt.block_on(async {
            let tasks: Vec<_> = (0..clients)
                .map(|_| {
                    let (client, reqs) =
                        (self.client.clone(), (0..batches).map(|_| self.predict(&body)).collect::<Vec<_>>());
                    tokio::spawn(async move {
                        for req in reqs {
                            send_ok(&client, req).await?;
                        }
                        Ok::<(), String>(())
                    })
                })
                .collect();
            let mut out = vec![];
            for t in tasks {
                out.push(t.await.map_err(|e| e.to_string())??);
            }
            Ok(out)
        });
        done.map_err(err)?;
        let secs = started.elapsed().as_secs_f64();
        Ok(json!({"single_row_open_loop": single,
                  "batch": {"rows_per_request": batch, "requests": batches * clients, "clients": clients,
                            "rows_per_sec": (batch * batches * clients) as f64 / secs}}))
    }

    /// Champion changes (rollbacks between v1 and v2) while one client predicts without
    /// pause: from sending the change to the first answer naming the new champion, and to its
    /// acknowledgement.
    fn hot_swap(&self, common: &Common, swaps: usize) -> Result<Value, Failure> {
        let key = crate::app::keystore::load(&common.home()?, "root")?;
        let info: Value = {
            let req = hyper::Request::get(format!("http://{}/api/v1/ledger", self.addr))
                .body(Full::new(Bytes::new()))
                .map_err(err)?;
            serde_json::from_slice(&self.rt.block_on(send_ok(&self.client, req)).map_err(err)?)
                .map_err(err)?
        };
        let ledger_id: uuid::Uuid = info["ledger_id"].as_str().unwrap_or_default().parse().map_err(err)?;
        let one = Bytes::from(json!({"rows": [{"x": 1.5, "store": "a"}]}).to_string());
        let (mut to_first, mut to_ack) = (vec![], vec![]);
        for i in 0..swaps {
            let target = if i % 2 == 0 { 1 } else { 2 };
            let cmd = ledger::Command::new(
                ledger_id,
                ledger::canonical::Timestamp::from_datetime(chrono::Utc::now()),
                "rollback",
                json!({"model": "sales", "segment": null, "version": target, "reason": format!("bench swap {i}")}),
            );
            let env = Bytes::from(serde_json::to_vec(&cmd.sign(&key).map_err(err)?).map_err(err)?);
            let (client, addr, predict) = (self.client.clone(), self.addr, self.predict(&one));
            let (first, acked) = self
                .rt
                .block_on(async move {
                    let sent = Instant::now();
                    let post = hyper::Request::post(format!("http://{addr}/api/v1/commands"))
                        .header("content-type", "application/json")
                        .body(Full::new(env))
                        .map_err(|e| e.to_string())?;
                    let change = tokio::spawn({
                        let client = client.clone();
                        async move {
                            send_ok(&client, post).await?;
                            Ok::<Instant, String>(Instant::now())
                        }
                    });
                    let deadline = sent + Duration::from_secs(10);
                    let mut req = Some(predict);
                    let first = loop {
                        let r = req.take().ok_or("no request")?;
                        let again = clone_request(&r);
                        let body = send_ok(&client, r).await?;
                        let v: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
                        if v["predictions"][0]["version"] == target {
                            break Instant::now();
                        }
                        if Instant::now() > deadline {
                            return Err(format!("v{target} was not served within 10 s"));
                        }
                        req = Some(again);
                    };
                    let acked = change.await.map_err(|e| e.to_string())??;
                    Ok::<_, String>((first - sent, acked - sent))
                })
                .map_err(err)?;
            to_first.push(first);
            to_ack.push(acked);
        }
        to_first.sort();
        to_ack.sort();
        let pct = ledger::bench::percentile_us;
        Ok(json!({"swaps": swaps,
                  "send_to_first_new_answer_p50_us": pct(&to_first, 0.5), "send_to_first_new_answer_p99_us": pct(&to_first, 0.99),
                  "send_to_ack_p50_us": pct(&to_ack, 0.5), "send_to_ack_p99_us": pct(&to_ack, 0.99)}))
    }
}

fn clone_request(r: &hyper::Request<Full<Bytes>>) -> hyper::Request<Full<Bytes>> {
    let mut b = hyper::Request::builder().method(r.method().clone()).uri(r.uri().clone());
    for (k, v) in r.headers() {
        b = b.header(k, v);
    }
    b.body(r.body().clone()).expect("a copy of a well-formed request")
}

/// The serving figures: without and with a shadow version, and hot swaps.
pub fn run(dir: &std::path::Path, rate: u32, n: usize) -> Result<Value, Failure> {
    std::fs::create_dir_all(dir).map_err(err)?;
    let (common, rows) = ledger(dir)?;
    let served = start(&common)?;
    let plain = served.figures(rate, n, 1000, 20)?;
    let swaps = served.hot_swap(&common, 20)?;
    served.stop();
    add_shadow(&common, &rows)?;
    let served = start(&common)?;
    let shadow = served.figures(rate, n, 1000, 20)?;
    served.stop();
    Ok(json!({"predict": plain, "predict_with_one_shadow": shadow, "hot_swap": swaps}))
}
