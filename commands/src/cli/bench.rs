//! `pledge bench`: the ledger's figures (the same code as `cargo run -p ledger --example
//! bench`) plus end-to-end signed commands per second through the CLI's own code path.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger::canonical::{SystemClock, Timestamp};
use ledger::{Command, ExpectedHead, Ledger};
use serde_json::{json, Value};

use super::common::Common;
use super::output::outln;
use crate::app::failure::{Failure, INVALID_INPUT};
use crate::app::keystore;
use crate::domain::command::HypothesisBody;
use crate::domain::{DomainCommand, PledgeDomain};

/// Measure this machine: durable appends, group commits, verification, scans, signed
/// commands per second through the CLI's path and over HTTP, champion-query latency.
///
/// Everything runs in a fresh temporary directory that is removed afterwards; the ledger named
/// by `--ledger` is not touched. Figures are from one run: repeat on a quiet machine before
/// quoting them, and quote medians.
///
/// The CLI figure covers what one `pledge` invocation does after parsing its flags: open the
/// ledger (replaying its events), load the signer's key from PLEDGE_HOME, sign, decide, append
/// durably, close. It grows with the ledger, as real invocations do.
///
/// The HTTP figures run `pledge serve`'s code on a loopback port, with the clients in this
/// process (on the same cores): signed commands per second with 1, 8 and 64 clients (each
/// waits for its answer, so commands group-commit), champion queries from 64 clients as fast
/// as they go (throughput), and champion queries at a fixed --query-rate (open loop: latency
/// from each request's scheduled send time, and from its actual send as service_*).
///
/// The desk figures write a ledger of --desk-events events as a team would (runs, backtest
/// windows, drift checks and their alerts, hypotheses) and load every page of the review desk
/// over loopback: the first load after the server started, then the median and p99 of 30
/// loads, from the request sent to the page's last byte, and each page's weight.
///
/// The scale figures write the same team ledger of --scale-events events (or reuse the one
/// kept in --scale-ledger) and report its bytes on disk, a rebuild of the read models from
/// genesis, the snapshot of its state, and real `pledge` commands run as child processes,
/// timed from spawn to exit with their peak memory: `champion` without a snapshot and from
/// one, `timeline --as-of` near the head and halfway through the ledger, `log --kind`, `show`
/// of one event by sequence number and by hash (neither opens sled), `verify`, and five
/// `hypothesis propose` writes (each a signed append), each followed by the `champion` a user
/// asks next (which folds the write and leaves a snapshot at the head); and the same timelines
/// asked of `pledge serve`'s API over loopback.
///
/// The interop figures write the same team ledger of --interop-events events and time full
/// verification (what the OpenLineage and in-toto exports run first), the lineage pass, the
/// OpenLineage export, the in-toto export (every statement signed by a log key), and a raw
/// export imported into a new ledger.
///
/// The serving figures fit two small ridge models on synthetic rows and serve them: single
/// rows at --predict-rate (open loop) and batches of 1,000 rows, without and with a shadow
/// version scoring every row (and every answer logged), and the time from sending a champion
/// change to the first answer of the new champion.
///
/// Examples:
///   pledge bench
///   pledge bench --events 100000 --json
///   pledge bench --cli-commands 500
///   pledge bench --query-rate 5000 --http-queries 50000
///   pledge bench --only desk --desk-events 100000 --json
///   pledge bench --only interop --interop-events 100000
///   pledge bench --only scale --scale-events 1000000 --scale-ledger /var/tmp/pledge-1m
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Events in the ledger benchmark's ledger.
    #[arg(long, default_value_t = 20_000)]
    events: usize,
    /// Commands appended one durable commit each (latency figures).
    #[arg(long, default_value_t = 2_000)]
    single: usize,
    /// Commands per group commit for the rest.
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Signed commands sent through the CLI's code path.
    #[arg(long, default_value_t = 200)]
    cli_commands: usize,
    /// Signed commands sent over loopback HTTP at each concurrency (1, 8, 64 clients).
    #[arg(long, default_value_t = 4_000)]
    http_commands: usize,
    /// Champion queries sent over loopback HTTP by 64 clients (closed loop: throughput), and
    /// again at the fixed rate of --query-rate (open loop: latency at that load).
    #[arg(long, default_value_t = 20_000)]
    http_queries: usize,
    /// Requests per second of the open-loop champion-query run.
    #[arg(long, default_value_t = 10_000)]
    query_rate: u32,
    /// Single-row predictions sent at --predict-rate (open loop), with and without a shadow
    /// version.
    #[arg(long, default_value_t = 20_000)]
    predictions: usize,
    /// Requests per second of the open-loop predict runs.
    #[arg(long, default_value_t = 5_000)]
    predict_rate: u32,
    /// Events in the review desk's ledger.
    #[arg(long, default_value_t = 100_000)]
    desk_events: usize,
    /// Events in the interop figures' ledger (the same team ledger as the desk's).
    #[arg(long, default_value_t = 100_000)]
    interop_events: usize,
    /// Events in the scale figures' ledger (the same team ledger as the desk's).
    #[arg(long, default_value_t = 100_000)]
    scale_events: usize,
    /// Keep the scale figures' ledger in this directory (written on the first run, reused by
    /// later ones, which then ignore --scale-events): large ledgers take minutes to write.
    #[arg(long, value_name = "DIR")]
    scale_ledger: Option<std::path::PathBuf>,
    /// Run only these sections (repeatable; default: all).
    #[arg(long, value_enum)]
    only: Vec<Section>,
    /// Print a JSON document instead of text.
    #[arg(long)]
    json: bool,
}

/// A section of the bench.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Section {
    /// Durable appends, group commits, verification, scans.
    Ledger,
    /// Signed commands through the CLI's path.
    Cli,
    /// Signed commands and champion queries over HTTP.
    Http,
    /// Appends to a signed checkpoint.
    Checkpoints,
    /// Predictions, shadow scoring, hot swap.
    Serving,
    /// The review desk's pages.
    Desk,
    /// Exports for other tools, and an import.
    Interop,
    /// Bytes on disk, rebuilds, snapshots, and real commands' start and memory on a large ledger.
    Scale,
}

/// Runs `pledge bench`.
pub fn run(args: Args) -> Result<(), Failure> {
    if args.events < 10 || args.cli_commands == 0 || args.batch == 0 || args.query_rate == 0 {
        return Err(Failure::new(
            INVALID_INPUT,
            "--events must be at least 10, --cli-commands, --batch and --query-rate at least 1",
        ));
    }
    let tmp = tempfile::tempdir().map_err(Failure::internal)?;
    let on = |s: Section| args.only.is_empty() || args.only.contains(&s);
    let mut report = serde_json::Map::new();
    if on(Section::Ledger) {
        let cfg = ledger::bench::Config {
            events: args.events,
            single: args.single.min(args.events),
            batch: args.batch,
            per_command: 1,
        };
        std::fs::create_dir(tmp.path().join("ledger-bench")).map_err(Failure::internal)?;
        report.insert("ledger".into(), ledger::bench::run(&tmp.path().join("ledger-bench"), cfg)?);
    }
    if on(Section::Cli) {
        report.insert("cli".into(), cli_path(&tmp.path().join("cli"), args.cli_commands)?);
    }
    if on(Section::Http) {
        report.insert(
            "http".into(),
            http_path(
                &tmp.path().join("http"),
                args.http_commands.max(64),
                args.http_queries.max(64),
                args.query_rate,
            )?,
        );
    }
    if on(Section::Checkpoints) {
        report.insert(
            "checkpoints".into(),
            checkpoint_latency(&tmp.path().join("checkpoints"), args.http_commands.clamp(20, 500))?,
        );
    }
    if on(Section::Serving) {
        report.insert(
            "serving".into(),
            super::bench_serving::run(
                &tmp.path().join("serving"),
                args.predict_rate,
                args.predictions.max(100),
            )?,
        );
    }
    if on(Section::Desk) {
        report.insert(
            "desk".into(),
            super::bench_desk::run(&tmp.path().join("desk"), args.desk_events.max(100))?,
        );
    }
    if on(Section::Interop) {
        report.insert(
            "interop".into(),
            super::bench_interop::run(&tmp.path().join("interop"), args.interop_events.max(100))?,
        );
    }
    if on(Section::Scale) {
        report.insert(
            "scale".into(),
            super::bench_scale::run(
                &tmp.path().join("scale"),
                args.scale_events.max(100),
                args.scale_ledger.as_deref(),
            )?,
        );
    }
    let report = Value::Object(report);
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report).map_err(Failure::internal)?);
    } else {
        render(&report);
    }
    Ok(())
}

/// The report as text, section by section (those that ran).
fn render(report: &Value) {
    if let Some(l) = report.get("ledger") {
        outln!("{}", ledger::bench::render(l));
    }
    if let Some(cli) = report.get("cli") {
        outln!(
            "cli: {} signed commands through the CLI path\n  per command            p50 {:>8.1} us   p99 {:>8.1} us   {:>9.1} /s",
            cli["commands"],
            cli["p50_us"].as_f64().unwrap_or(0.0),
            cli["p99_us"].as_f64().unwrap_or(0.0),
            cli["commands_per_sec"].as_f64().unwrap_or(0.0)
        );
    }
    if let Some(http) = report.get("http") {
        outln!("http (loopback, pledge serve):");
        for c in http["commands"].as_array().into_iter().flatten() {
            outln!(
                "  signed commands, {:>2} clients                                {:>9.0} /s",
                c["clients"].as_u64().unwrap_or(0),
                c["commands_per_sec"].as_f64().unwrap_or(0.0)
            );
        }
        let q = &http["champion_query"];
        outln!(
            "  champion query, {:>2} clients  p50 {:>8.1} us   p99 {:>8.1} us   {:>9.0} /s",
            q["clients"].as_u64().unwrap_or(0),
            q["p50_us"].as_f64().unwrap_or(0.0),
            q["p99_us"].as_f64().unwrap_or(0.0),
            q["requests_per_sec"].as_f64().unwrap_or(0.0)
        );
        let o = &http["champion_query_open_loop"];
        outln!(
            "  champion query at {:>6.0}/s   p50 {:>8.1} us   p99 {:>8.1} us   (open loop, from the scheduled send time)",
            o["achieved_per_sec"].as_f64().unwrap_or(0.0),
            o["p50_us"].as_f64().unwrap_or(0.0),
            o["p99_us"].as_f64().unwrap_or(0.0)
        );
    }
    if let Some(c) = report.get("checkpoints") {
        outln!(
            "  append to a signed checkpoint covering it  p50 {:>8.1} us   p99 {:>8.1} us   ({} appends, a checkpoint every event)",
            c["append_to_checkpoint_p50_us"].as_f64().unwrap_or(0.0),
            c["append_to_checkpoint_p99_us"].as_f64().unwrap_or(0.0),
            c["appends"]
        );
    }
    if let Some(s) = report.get("serving") {
        for (what, f) in [("predict", &s["predict"]), ("predict, one shadow", &s["predict_with_one_shadow"])]
        {
            let o = &f["single_row_open_loop"];
            outln!(
                "  {what:<20} 1 row at {:>6.0}/s   p50 {:>8.1} us   p99 {:>8.1} us   batches of {}: {:>9.0} rows/s",
                o["achieved_per_sec"].as_f64().unwrap_or(0.0),
                o["p50_us"].as_f64().unwrap_or(0.0),
                o["p99_us"].as_f64().unwrap_or(0.0),
                f["batch"]["rows_per_request"],
                f["batch"]["rows_per_sec"].as_f64().unwrap_or(0.0)
            );
        }
        let h = &s["hot_swap"];
        outln!(
            "  hot swap: champion change sent to first answer of the new one  p50 {:>8.1} us   p99 {:>8.1} us",
            h["send_to_first_new_answer_p50_us"].as_f64().unwrap_or(0.0),
            h["send_to_first_new_answer_p99_us"].as_f64().unwrap_or(0.0)
        );
    }
    if let Some(i) = report.get("interop") {
        outln!("{}", super::bench_interop::render(i));
    }
    if let Some(s) = report.get("scale") {
        outln!("{}", super::bench_scale::render(s));
    }
    if let Some(d) = report.get("desk") {
        outln!(
            "review desk ({} events; loopback, request sent to last byte, floor p50 {:.2} ms; goals: first load < {} ms, weight < {} KB):",
            d["events"],
            d["floor_p50_ms"].as_f64().unwrap_or(0.0),
            d["first_load_goal_ms"],
            d["weight_goal_bytes"].as_u64().unwrap_or(0) / 1000
        );
        for p in d["pages"].as_array().into_iter().flatten() {
            outln!(
                "  {:<40} first {:>7.1} ms   p50 {:>7.1} ms   p99 {:>7.1} ms   {:>6.1} KB",
                p["page"].as_str().unwrap_or(""),
                p["first_load_ms"].as_f64().unwrap_or(0.0),
                p["p50_ms"].as_f64().unwrap_or(0.0),
                p["p99_ms"].as_f64().unwrap_or(0.0),
                p["weight_bytes"].as_f64().unwrap_or(0.0) / 1000.0
            );
        }
    }
}

/// A ledger with `root` (admin) and `maya` (scientist) keys in `dir/home`; with `champion`,
/// root is also an approver and model `demand` has a champion, so that champion queries answer
/// with a real routing table.
pub(super) fn setup(dir: &std::path::Path, champion: bool) -> Result<Common, Failure> {
    let common = Common {
        ledger: dir.join("ledger"),
        identity: Some("maya".into()),
        home: Some(dir.join("home")),
        json: true,
        server: None,
        read_token: None,
    };
    let home = common.home()?;
    let root = keystore::create(&home, "root")?;
    let maya = keystore::create(&home, "maya")?;
    let id = uuid::Uuid::now_v7();
    let mut l = Ledger::open(&common.ledger, Arc::new(SystemClock), PledgeDomain::default())?;
    let mut commands = vec![
        (
            &root,
            "ledger.create",
            json!({"admins": [{"principal": "root", "public_key": root.public().to_string()}], "policy": crate::domain::default_policy()}),
        ),
        (&root, "key.enroll", json!({"principal": "maya", "public_key": maya.public().to_string()})),
        (&root, "role.grant", json!({"principal": "maya", "role": "scientist"})),
    ];
    if champion {
        let digest = ledger::Digest::of(b"bench").to_string();
        let metrics = json!({"mae": 12.3, "mape": 0.2, "coverage": 0.9});
        commands.extend([
            (&root, "role.grant", json!({"principal": "root", "role": "approver"})),
            (
                &maya,
                "run.record",
                json!({"run_id": "r1", "model": "demand", "task": "forecast", "trigger": "manual", "dataset_digest": digest,
                       "trainer": "external", "metrics": metrics, "models": [{"segment": null, "artifact_digest": digest, "metrics": metrics}]}),
            ),
            (&root, "champion.bootstrap", json!({"model": "demand", "segment": null, "version": 1})),
        ]);
    }
    for (key, kind, body) in commands {
        let env = Command::new(id, Timestamp::from_datetime(chrono::Utc::now()), kind, body)
            .sign(key)
            .map_err(Failure::internal)?;
        l.submit(env, ExpectedHead::Any).map_err(Failure::internal)?;
    }
    Ok(common)
}

fn hypothesis(i: usize) -> Value {
    DomainCommand::HypothesisPropose(HypothesisBody {
        hypothesis_id: format!("H-{i}"),
        model: "demand".into(),
        statement: "segment interactions cut MAE".into(),
        change_type: projections::events::ChangeType::Feature,
        change_summary: None,
        target_metric: "mae".into(),
        expected_improvement_pct: 5.0,
        owner: "maya".into(),
        dataset_version: None,
        feature_set_version: None,
    })
    .body()
}

/// Signed commands through the CLI's submit path (`Backend::submit`), one invocation's work each.
fn cli_path(dir: &std::path::Path, n: usize) -> Result<Value, Failure> {
    let common = setup(dir, false)?;
    let mut lat: Vec<Duration> = Vec::with_capacity(n);
    let started = Instant::now();
    for i in 0..n {
        let body = hypothesis(i);
        let t = Instant::now();
        common.submit("hypothesis.propose", body)?;
        lat.push(t.elapsed());
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort();
    Ok(json!({"commands": n, "commands_per_sec": n as f64 / secs,
              "p50_us": ledger::bench::percentile_us(&lat, 0.5), "p99_us": ledger::bench::percentile_us(&lat, 0.99)}))
}

/// `pledge serve`'s figures over loopback: signed commands per second with 1, 8 and 64
/// concurrent clients (each sends its share one request at a time; the writer group-commits
/// what arrives together), then champion queries (a model with a champion): from 64 clients
/// as fast as they go (throughput), and at a fixed rate (latency under that load). Commands
/// are signed before timing starts, as a client would.
fn http_path(dir: &std::path::Path, commands: usize, queries: usize, rate: u32) -> Result<Value, Failure> {
    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;

    let common = setup(dir, true)?;
    let key = keystore::load(&common.home()?, "maya")?;
    let served = Served::start(&common.ledger, crate::api::Options::default())?;
    let (rt, client, state, addr) = (&served.rt, &served.client, &served.state, served.addr);
    let ledger_id = state.ledger_id().ok_or_else(|| Failure::internal(anyhow::anyhow!("no genesis")))?;
    let mut next = 0usize;
    let mut levels = vec![];
    for clients in [1usize, 8, 64] {
        let per = (commands / clients).max(1);
        let mut batches = vec![];
        for _ in 0..clients {
            let mut bodies = Vec::with_capacity(per);
            for _ in 0..per {
                let cmd = Command::new(
                    ledger_id,
                    Timestamp::from_datetime(chrono::Utc::now()),
                    "hypothesis.propose",
                    hypothesis(next),
                );
                next += 1;
                let env = cmd.sign(&key).map_err(Failure::internal)?;
                bodies.push(Bytes::from(serde_json::to_vec(&env).map_err(Failure::internal)?));
            }
            batches.push(bodies);
        }
        let started = Instant::now();
        let results: Vec<Result<(), String>> = rt.block_on(async {
            let tasks: Vec<_> = batches
                .into_iter()
                .map(|bodies| {
                    let client = client.clone();
                    tokio::spawn(async move {
                        for body in bodies {
                            let req = hyper::Request::post(format!("http://{addr}/api/v1/commands"))
                                .header("content-type", "application/json")
                                .body(Full::new(body))
                                .map_err(|e| e.to_string())?;
                            let resp = client.request(req).await.map_err(|e| e.to_string())?;
                            let status = resp.status();
                            let _ = resp.into_body().collect().await;
                            if status != hyper::StatusCode::CREATED {
                                return Err(format!("command answered {status}"));
                            }
                        }
                        Ok(())
                    })
                })
                .collect();
            let mut out = vec![];
            for t in tasks {
                out.push(t.await.map_err(|e| e.to_string()).and_then(|r| r));
            }
            out
        });
        let secs = started.elapsed().as_secs_f64();
        for r in results {
            r.map_err(|e| Failure::internal(anyhow::anyhow!("http bench: {e}")))?;
        }
        levels.push(json!({"clients": clients, "commands": per * clients, "commands_per_sec": (per * clients) as f64 / secs}));
    }
    let champion_url: hyper::Uri =
        format!("http://{addr}/api/v1/champions").parse().map_err(Failure::internal)?;
    let clients = 64usize;
    let per = (queries / clients).max(1);
    let started = Instant::now();
    let lat: Result<Vec<Duration>, String> = rt.block_on(async {
        let tasks: Vec<_> = (0..clients)
            .map(|_| {
                let (client, url) = (client.clone(), champion_url.clone());
                tokio::spawn(async move {
                    let mut lat = Vec::with_capacity(per);
                    for _ in 0..per {
                        let t = Instant::now();
                        get_ok(&client, url.clone()).await?;
                        lat.push(t.elapsed());
                    }
                    Ok::<_, String>(lat)
                })
            })
            .collect();
        let mut all = vec![];
        for t in tasks {
            all.extend(t.await.map_err(|e| e.to_string())??);
        }
        Ok(all)
    });
    let secs = started.elapsed().as_secs_f64();
    let mut lat = lat.map_err(|e| Failure::internal(anyhow::anyhow!("http bench: {e}")))?;
    lat.sort();
    let get = || {
        hyper::Request::get(champion_url.clone())
            .body(http_body_util::Full::new(hyper::body::Bytes::new()))
            .expect("a GET of a parsed URI")
    };
    let open_loop = open_loop(rt, client, &get, rate, queries)
        .map_err(|e| Failure::internal(anyhow::anyhow!("http bench: {e}")))?;
    served.stop();
    Ok(json!({
        "commands": levels,
        "champion_query": {"clients": clients, "requests": lat.len(), "requests_per_sec": lat.len() as f64 / secs,
                           "p50_us": ledger::bench::percentile_us(&lat, 0.5), "p99_us": ledger::bench::percentile_us(&lat, 0.99)},
        "champion_query_open_loop": open_loop,
    }))
}

/// The time from sending a command to `pledge serve` (publishing a checkpoint after every
/// event) to reading a signed checkpoint that covers it: the commit, the publisher's wake-up,
/// signing, and keeping the checkpoint file (written and fsynced), over loopback HTTP.
fn checkpoint_latency(dir: &std::path::Path, n: usize) -> Result<Value, Failure> {
    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;

    let common = setup(dir, false)?;
    let home = common.home()?;
    let log = keystore::create(&home, "plog")?;
    let root = keystore::load(&home, "root")?;
    let key = keystore::load(&home, "maya")?;
    {
        let mut l = Ledger::open(&common.ledger, Arc::new(SystemClock), PledgeDomain::default())?;
        let id = l.trust().ledger_id().ok_or_else(|| Failure::internal(anyhow::anyhow!("no genesis")))?;
        for (kind, body) in [
            ("key.enroll", json!({"principal": "plog", "public_key": log.public().to_string()})),
            ("role.grant", json!({"principal": "plog", "role": "log"})),
        ] {
            let env = Command::new(id, Timestamp::from_datetime(chrono::Utc::now()), kind, body)
                .sign(&root)
                .map_err(Failure::internal)?;
            l.submit(env, ExpectedHead::Any).map_err(Failure::internal)?;
        }
    }
    let options = crate::api::Options {
        checkpoints: Some(crate::api::Publishing {
            key: Arc::new(log),
            every: 1,
            interval: Duration::from_secs(3600),
        }),
        ..crate::api::Options::default()
    };
    let served = Served::start(&common.ledger, options)?;
    let (rt, client, state, addr) = (&served.rt, &served.client, &served.state, served.addr);
    let ledger_id = state.ledger_id().ok_or_else(|| Failure::internal(anyhow::anyhow!("no genesis")))?;
    let mut bodies = Vec::with_capacity(n);
    for i in 0..n {
        let cmd = Command::new(
            ledger_id,
            Timestamp::from_datetime(chrono::Utc::now()),
            "hypothesis.propose",
            hypothesis(i),
        );
        bodies.push(Bytes::from(
            serde_json::to_vec(&cmd.sign(&key).map_err(Failure::internal)?).map_err(Failure::internal)?,
        ));
    }
    let timed: Result<Vec<(Duration, Duration)>, String> = rt.block_on(async {
        let mut out = Vec::with_capacity(n);
        for body in bodies {
            let t0 = Instant::now();
            let req = hyper::Request::post(format!("http://{addr}/api/v1/commands"))
                .header("content-type", "application/json")
                .body(Full::new(body))
                .map_err(|e| e.to_string())?;
            let resp = client.request(req).await.map_err(|e| e.to_string())?;
            let bytes = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
            let acked = t0.elapsed();
            let doc: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
            let seq = doc["events"][0]["seq"].as_u64().ok_or("no event in the answer")?;
            let url: hyper::Uri = format!("http://{addr}/api/v1/checkpoints/latest?wait_for={}", seq + 1)
                .parse()
                .map_err(|e: hyper::http::uri::InvalidUri| e.to_string())?;
            get_ok(client, url).await?;
            out.push((t0.elapsed(), acked));
        }
        Ok(out)
    });
    served.stop();
    let timed = timed.map_err(|e| Failure::internal(anyhow::anyhow!("checkpoint bench: {e}")))?;
    let mut total: Vec<Duration> = timed.iter().map(|t| t.0).collect();
    let mut acked: Vec<Duration> = timed.iter().map(|t| t.1).collect();
    total.sort();
    acked.sort();
    Ok(json!({"appends": n,
        "append_to_checkpoint_p50_us": ledger::bench::percentile_us(&total, 0.5),
        "append_to_checkpoint_p99_us": ledger::bench::percentile_us(&total, 0.99),
        "append_acknowledged_p50_us": ledger::bench::percentile_us(&acked, 0.5),
        "append_acknowledged_p99_us": ledger::bench::percentile_us(&acked, 0.99)}))
}

/// GETs `url` and reads the whole answer; an error unless it is a success.
async fn get_ok(client: &BenchClient, url: hyper::Uri) -> Result<(), String> {
    let req = hyper::Request::get(url)
        .body(http_body_util::Full::new(hyper::body::Bytes::new()))
        .map_err(|e| e.to_string())?;
    send_ok(client, req).await.map(drop)
}

/// Sends `req` and reads the whole answer; the body, or an error unless it is a success.
pub(super) async fn send_ok(
    client: &BenchClient,
    req: hyper::Request<http_body_util::Full<hyper::body::Bytes>>,
) -> Result<hyper::body::Bytes, String> {
    use http_body_util::BodyExt;
    let what = format!("{} {}", req.method(), req.uri().path());
    let resp = client.request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    status.is_success().then_some(body).ok_or_else(|| format!("{what} answered {status}"))
}

/// `pledge serve`'s code on a loopback port of this process, and a client for it.
pub(super) struct Served {
    pub(super) rt: tokio::runtime::Runtime,
    pub(super) client: BenchClient,
    pub(super) addr: std::net::SocketAddr,
    pub(super) state: crate::api::AppState,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    writer: crate::api::Writer,
}

impl Served {
    /// Opens the ledger at `ledger` and serves it on a port the system picks.
    pub(super) fn start(ledger: &std::path::Path, options: crate::api::Options) -> Result<Served, Failure> {
        let (state, writer) = crate::api::AppState::open(ledger, options)?;
        let rt =
            tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(Failure::internal)?;
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let listener =
            rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).map_err(Failure::internal)?;
        let addr = listener.local_addr().map_err(Failure::internal)?;
        let server = rt.spawn(crate::api::serve_on(listener, state.clone(), async move {
            let _ = stop_rx.await;
        }));
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(crate::app::remote::connector());
        Ok(Served { rt, client, addr, state, stop, server, writer })
    }

    /// GETs `path` and reads the whole answer: the milliseconds from the request sent to its
    /// last byte, and the body; an error unless it is a success.
    pub(super) fn get(&self, path: &str) -> Result<(f64, hyper::body::Bytes), Failure> {
        let uri: hyper::Uri = format!("http://{}{path}", self.addr).parse().map_err(Failure::internal)?;
        let req = hyper::Request::get(uri)
            .body(http_body_util::Full::new(hyper::body::Bytes::new()))
            .map_err(Failure::internal)?;
        let t = std::time::Instant::now();
        let body = self
            .rt
            .block_on(send_ok(&self.client, req))
            .map_err(|e| Failure::internal(anyhow::anyhow!("bench: {e}")))?;
        Ok((t.elapsed().as_secs_f64() * 1e3, body))
    }

    /// Stops the server, then the writer: after the server's connections, the client's
    /// keep-alive connections and every handle on the state are gone (they hold the writer's
    /// queue open).
    pub(super) fn stop(self) {
        let Served { rt, client, state, stop, server, writer, .. } = self;
        let _ = stop.send(());
        let _ = rt.block_on(server);
        drop(state);
        drop(client);
        drop(rt);
        writer.join();
    }
}

/// A request the open loop sends, made afresh for each send.
pub(super) type MakeRequest<'a> =
    &'a (dyn Fn() -> hyper::Request<http_body_util::Full<hyper::body::Bytes>> + Sync);

pub(super) type BenchClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Full<hyper::body::Bytes>,
>;

/// GET `url` at a fixed `rate` (requests per second), `n` times, whatever the answers' pace
/// (open loop, as independent dashboards and services send), after a warm-up of a tenth as
/// many. Each latency is measured from the request's *scheduled* send time, so a server (or a
/// pacer) that falls behind shows up in the figures instead of slowing the load down
/// ("coordinated omission"); `service_*` are measured from the actual send, for comparison.
///
/// The pacer is a plain thread: it sleeps until the next request is due, or sends at once if
/// it is late (thread sleeps overshoot by tens of microseconds, so requests then leave in
/// pairs; the rate holds on average and the lateness counts against the latency).
pub(super) fn open_loop(
    rt: &tokio::runtime::Runtime,
    client: &BenchClient,
    make: MakeRequest<'_>,
    rate: u32,
    n: usize,
) -> Result<Value, String> {
    let period = Duration::from_secs_f64(1.0 / f64::from(rate));
    let run = |n: usize| -> Result<(Vec<Duration>, Vec<Duration>, f64), String> {
        let start = Instant::now() + Duration::from_millis(5);
        let mut tasks = Vec::with_capacity(n);
        for i in 0..n {
            let due = start + period * u32::try_from(i).map_err(|e| e.to_string())?;
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            let (client, req) = (client.clone(), make());
            tasks.push(rt.spawn(async move {
                let sent = Instant::now();
                send_ok(&client, req).await?;
                let done = Instant::now();
                Ok::<_, String>((done - due.min(sent), done - sent))
            }));
        }
        let sent_secs = (Instant::now() - start).as_secs_f64();
        let (mut total, mut service) = (Vec::with_capacity(n), Vec::with_capacity(n));
        rt.block_on(async {
            for t in tasks {
                let (a, b) = t.await.map_err(|e| e.to_string())??;
                total.push(a);
                service.push(b);
            }
            Ok::<_, String>(())
        })?;
        Ok((total, service, n as f64 / sent_secs))
    };
    run((n / 10).max(1))?;
    let (mut total, mut service, achieved) = run(n)?;
    total.sort();
    service.sort();
    let pct = ledger::bench::percentile_us;
    Ok(json!({
        "target_per_sec": rate, "achieved_per_sec": achieved, "requests": n,
        "p50_us": pct(&total, 0.5), "p99_us": pct(&total, 0.99), "p999_us": pct(&total, 0.999),
        "max_us": total.last().map_or(0.0, |d| d.as_secs_f64() * 1e6),
        "service_p50_us": pct(&service, 0.5), "service_p99_us": pct(&service, 0.99),
    }))
}
