//! `pledge demo`: the README's main job. A real ledger, end to end, through the same append
//! path and decide step as every other command: a team with their own keys, the trust rules
//! refusing what they must, then the three seed workflows (a scheduled retrain promoted by
//! policy, a drift retrain promoted by a human via its alert, a department-tiered experiment
//! partially adopted), an export, verification, and the timeline of how the champion got there.
//!
//! Workflows 1-3 record external runs with the seeds' figures (a forecaster judged on MAE and
//! MAPE); workflow 4 trains a tip classifier on the repository's real `taxi.csv` with the
//! built-in trainer, under the classifier's own gates, and checks its drift.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ledger::canonical::{SystemClock, Timestamp};
use ledger::dsse::Envelope;
use ledger::export;
use ledger::keys::SecretKey;
use ledger::{Command, ExpectedHead, Ledger, RecordedEvent, SubmitError};
use projections::query;
use serde_json::{json, Value};

use crate::domain::PledgeDomain;
use crate::exit::{Failure, INTERNAL};
use crate::policy::default_policy;

/// Run the seed workflows end to end on a fresh ledger and print how it went.
///
/// Creates a ledger (in a temporary directory unless `--ledger` names a new one) and signs
/// every command with its own ed25519 key: `root` (admin), `maya` (scientist), `colby`
/// (approver), `scheduler` (service). Shows the trust rules refusing an unenrolled key, a
/// wrong role, a swapped payload, a reused command id and four-eyes violations; plays a
/// scheduled retrain (auto-promoted by policy, then one that misses the margin), a drift
/// retrain approved through its critical alert, and a department-tiered experiment adopted for
/// Electronics only; exports and verifies the ledger and a tampered copy; ends with the
/// routing table and the timeline of how the current champions got there.
///
/// Examples:
///   pledge demo
///   pledge demo --ledger ./demo-ledger
///   pledge demo --json | jq .timeline
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Create the ledger here (must not exist yet) and keep it; default: a temporary directory.
    #[arg(long, value_name = "PATH")]
    pub ledger: Option<PathBuf>,
    /// Print a JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

struct Demo {
    ledger: Ledger<PledgeDomain>,
    id: uuid::Uuid,
    keys: Vec<(&'static str, SecretKey)>,
    refusals: Vec<Value>,
    steps: Vec<Value>,
}

fn internal(e: impl std::fmt::Display) -> Failure {
    Failure::new(INTERNAL, e.to_string())
}

const DIGEST: &str = "5c1d3e6f7a8b9c0d1e2f30415263748596a7b8c9d0e1f2031425364758697a8b";

impl Demo {
    fn key(&self, who: &str) -> &SecretKey {
        &self.keys.iter().find(|(n, _)| *n == who).expect("a demo identity").1
    }

    fn cmd(&self, who: &str, kind: &str, body: Value) -> Result<Envelope, Failure> {
        let now = Timestamp::from_datetime(chrono::Utc::now());
        Command::new(self.id, now, kind, body).sign(self.key(who)).map_err(internal)
    }

    /// A step that must be accepted; records what it produced.
    fn step(
        &mut self,
        workflow: &str,
        who: &str,
        kind: &str,
        body: Value,
    ) -> Result<Vec<RecordedEvent>, Failure> {
        let env = self.cmd(who, kind, body)?;
        match self.ledger.submit(env, ExpectedHead::Any) {
            Ok(r) => {
                self.steps.push(json!({"workflow": workflow, "by": who, "command": kind,
                    "events": r.events.iter().map(|e| json!({"seq": e.seq(), "kind": e.event.kind, "summary": query::summarize(e)})).collect::<Vec<_>>()}));
                Ok(r.events)
            }
            Err(e) => Err(internal(format!("the demo expected `{kind}` by `{who}` to be accepted: {e}"))),
        }
    }

    /// A command that must be refused; checks that nothing was appended.
    fn refused(&mut self, attempt: &str, env: Envelope) -> Result<(), Failure> {
        let before = self.ledger.store().head();
        let (rule, message) = match self.ledger.submit(env, ExpectedHead::Any) {
            Err(SubmitError::Rejected(r)) => (r.rule, r.message),
            Err(SubmitError::Invalid(m)) => ("invalid".to_string(), m),
            other => return Err(internal(format!("`{attempt}` should have been refused, got {other:?}"))),
        };
        if self.ledger.store().head() != before {
            return Err(internal(format!("`{attempt}` was refused but the head moved")));
        }
        self.refusals.push(json!({"attempt": attempt, "rule": rule, "message": message}));
        Ok(())
    }
}

/// Runs `pledge demo`.
pub fn run(args: Args) -> Result<(), Failure> {
    let tmp = tempfile::tempdir().map_err(internal)?;
    let dir = match &args.ledger {
        Some(p) if p.exists() => {
            return Err(Failure::new(crate::exit::INVALID_INPUT, format!("`{}` already exists", p.display()))
                .hint(
                    "the demo creates a new ledger; name a path that does not exist yet, or omit --ledger",
                ))
        }
        Some(p) => p.clone(),
        None => tmp.path().join("ledger"),
    };
    let report = play(&dir, tmp.path())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).map_err(internal)?);
    } else {
        print_human(&report, args.ledger.is_none());
    }
    Ok(())
}

fn run_body(run_id: &str, trigger: &str, metrics: Value) -> Value {
    json!({"run_id": run_id, "model": "demand", "trigger": trigger, "dataset_digest": DIGEST, "dataset_version": "20260215",
           "trainer": "external:lightgbm-4.3", "params": {"num_leaves": 31, "learning_rate": 0.05},
           "metrics": metrics.clone(), "models": [{"segment": null, "artifact_digest": DIGEST, "metrics": metrics}]})
}

fn play(dir: &Path, scratch: &Path) -> Result<Value, Failure> {
    let mut keys = vec![];
    for who in ["root", "maya", "colby", "scheduler", "mallory"] {
        keys.push((who, SecretKey::generate().map_err(internal)?));
    }
    let mut d = Demo {
        ledger: Ledger::open(dir, Arc::new(SystemClock), PledgeDomain::default())?,
        id: uuid::Uuid::now_v7(),
        keys,
        refusals: vec![],
        steps: vec![],
    };
    let pk = |d: &Demo, who: &str| d.key(who).public().to_string();

    // The team: genesis names the admin and the policy; each person and the scheduler get a
    // key and a role.
    let genesis =
        json!({"admins": [{"principal": "root", "public_key": pk(&d, "root")}], "policy": default_policy()});
    d.step("setup", "root", "ledger.create", genesis)?;
    for (who, role) in [("maya", "scientist"), ("colby", "approver"), ("scheduler", "service")] {
        let k = pk(&d, who);
        d.step("setup", "root", "key.enroll", json!({"principal": who, "public_key": k}))?;
        d.step("setup", "root", "role.grant", json!({"principal": who, "role": role}))?;
    }

    // The trust rules.
    let env =
        d.cmd("mallory", "key.enroll", json!({"principal": "mallory", "public_key": pk(&d, "mallory")}))?;
    d.refused("mallory (never enrolled) enrolls herself", env)?;
    let env = d.cmd("maya", "role.grant", json!({"principal": "maya", "role": "approver"}))?;
    d.refused("maya (scientist) grants herself `approver`", env)?;
    let mut env = d.cmd("root", "role.grant", json!({"principal": "scheduler", "role": "scientist"}))?;
    env.payload = d.cmd("root", "role.grant", json!({"principal": "scheduler", "role": "admin"}))?.payload;
    d.refused("root's signature on a swapped payload", env)?;
    let first = d.ledger.store().get(1)?.ok_or_else(|| internal("event 1 missing"))?;
    let original =
        first.event.command_envelope().cloned().ok_or_else(|| internal("event 1 has no command"))?;
    let mut reused = ledger::SignedCommand::parse(original.clone()).map_err(internal)?.into_command();
    reused.body = json!({"principal": "mallory", "public_key": pk(&d, "mallory")});
    let env = reused.sign(d.key("root")).map_err(internal)?;
    d.refused("an old command id reused for new content", env)?;
    let head = d.ledger.store().head();
    let resent = d.ledger.submit(original, ExpectedHead::Any).map_err(internal)?;
    let resend = json!({"duplicate": resent.duplicate, "events": resent.events.iter().map(|e| e.seq()).collect::<Vec<_>>(),
                        "head_unchanged": d.ledger.store().head() == head});

    // (a) Scheduled retrain: the first champion is bootstrapped by an approver; a retrain that
    // beats it by the policy's margin is promoted by policy in the same append; the next one
    // misses the margin and stays challenger.
    d.step(
        "scheduled",
        "maya",
        "run.record",
        run_body("r-0210", "manual", json!({"mae": 12.3, "mape": 0.2, "coverage": 0.9})),
    )?;
    d.step(
        "scheduled",
        "colby",
        "champion.bootstrap",
        json!({"model": "demand", "segment": null, "version": 1, "reason": "first production model"}),
    )?;
    d.step(
        "scheduled",
        "scheduler",
        "run.record",
        run_body("r-0216", "scheduled", json!({"mae": 11.5, "mape": 0.18, "coverage": 0.91})),
    )?;
    d.step(
        "scheduled",
        "scheduler",
        "run.record",
        run_body("r-0223", "scheduled", json!({"mae": 11.2, "mape": 0.175, "coverage": 0.91})),
    )?;

    // (b) Drift: 12.8 -> 18.5 MAE raises a critical alert; the retrain becomes a challenger
    // and waits for a person; the service may not approve; an approver does, via the alert.
    let ev = d.step(
        "drift",
        "scheduler",
        "drift.record",
        json!({"model": "demand", "baseline": 12.8, "recent": 18.5, "psi": {"promo_flag": 0.27}}),
    )?;
    let alert = format!("A-{}", ev[0].hash.short());
    let mut body =
        run_body("r-0301-drift", "drift_detected", json!({"mae": 10.9, "mape": 0.15, "coverage": 0.92}));
    body["drift_alert_id"] = json!(alert);
    d.step("drift", "scheduler", "run.record", body)?;
    let env = d.cmd(
        "scheduler",
        "alert.action",
        json!({"alert_id": alert, "action": "approve", "notes": "looks fine"}),
    )?;
    d.refused("the scheduler approves its own drift retrain", env)?;
    d.step("drift", "colby", "alert.read", json!({"alert_id": alert}))?;
    d.step("drift", "colby", "alert.action", json!({"alert_id": alert, "action": "approve", "notes": "Drift is real (promotions); backtests of v4 reviewed."}))?;

    // (c) Department-tiered experiment.
    let h = "H-SEG-001";
    d.step("experiment", "maya", "hypothesis.propose", json!({"hypothesis_id": h, "model": "demand",
        "statement": "Department-tiered models will improve Electronics MAE by 12-15%", "change_type": "architecture",
        "change_summary": "one model per department", "target_metric": "mae", "expected_improvement_pct": 12.0,
        "owner": "maya", "dataset_version": "20260215", "feature_set_version": "v2.0"}))?;
    let env = d.cmd("maya", "experiment.approve", json!({"hypothesis_id": h, "rationale": "I like it"}))?;
    d.refused("maya approves her own experiment", env)?;
    d.step("experiment", "colby", "experiment.approve", json!({"hypothesis_id": h, "rationale": "Electronics has high variability (promotions, tech cycles).", "constraints": ["shadow test 2 windows before adoption"]}))?;
    d.step("experiment", "maya", "experiment.start", json!({"hypothesis_id": h}))?;
    let seg_model = |s: &str, mae: f64| json!({"segment": s, "artifact_digest": DIGEST, "metrics": {"mae": mae, "mape": 0.19, "coverage": 0.9}});
    d.step("experiment", "maya", "run.record", json!({"run_id": "r-seg", "model": "demand", "trigger": "experiment", "hypothesis_id": h,
        "dataset_digest": DIGEST, "trainer": "external:lightgbm-4.3", "metrics": {"mae": 12.6, "mape": 0.19, "coverage": 0.9},
        "models": [seg_model("electronics", 14.2), seg_model("grocery", 12.1), seg_model("apparel", 13.5)]}))?;
    d.step("experiment", "maya", "experiment.shadow", json!({"hypothesis_id": h, "planned_windows": 2}))?;
    for end in ["2026-03-08", "2026-03-15"] {
        d.step(
            "experiment",
            "scheduler",
            "shadow.record",
            json!({"model": "demand", "segment": "electronics", "hypothesis_id": h,
            "champion": 4, "challenger": 5, "window_start": "2026-03-01", "window_end": end,
            "champion_metrics": {"mae": 18.2}, "challenger_metrics": {"mae": 14.2}, "samples": 23911}),
        )?;
    }
    d.step("experiment", "maya", "experiment.complete", json!({"hypothesis_id": h, "decision": "partial_adopt", "adopt_segments": ["electronics"],
        "results": {"baseline_mae": 18.2, "electronics_mae": 14.2, "grocery_mae": 12.1, "apparel_mae": 13.5, "improvement_electronics_pct": 22.0},
        "rationale": "Electronics improved 22%; grocery marginal; apparel none. Adopt Electronics only."}))?;

    // (d) Real data: a tip classifier trained by the built-in trainer on `taxi.csv`.
    let real = real_data(&mut d, dir, scratch)?;

    // Export, verify, and show that a flipped byte is caught.
    let out = dir.with_extension("jsonl");
    let manifest = export::export(d.ledger.store(), &out).map_err(internal)?;
    let store_summary =
        ledger::verify_store(d.ledger.store(), crate::verify::verifier(None)).map_err(internal)?;
    let (_, export_summary) = export::verify_export(&out, crate::verify::verifier(None)).map_err(internal)?;
    let tampered = scratch.join("tampered.jsonl");
    let mut bytes = std::fs::read(&out).map_err(internal)?;
    let line = 20usize;
    let start =
        bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(line - 1).map(|(i, _)| i + 1).unwrap_or(0);
    bytes[start + 40] ^= 0x01;
    std::fs::write(&tampered, &bytes).map_err(internal)?;
    std::fs::copy(export::manifest_path(&out), export::manifest_path(&tampered)).map_err(internal)?;
    let detected = match export::verify_export(&tampered, crate::verify::verifier(None)) {
        Err(export::ExportError::Verify(f)) => json!({"detected": true, "seq": f.seq, "reason": f.reason}),
        Err(e) => json!({"detected": true, "seq": null, "reason": e.to_string()}),
        Ok(_) => return Err(internal("a tampered export verified")),
    };
    // A consistent forgery, as an operator with write access could make one: the first gate of
    // the policy's promotion halved, every id, link and the manifest recomputed. Only
    // re-deriving the evaluation from the signed run catches it.
    let mut forgery = ledger::forge::Forgery::of_export(&out).map_err(internal)?;
    let k = (0..forgery.len())
        .find(|k| forgery.event(*k)["kind"] == "promotion.evaluated")
        .ok_or_else(|| internal("no promotion evaluation in the demo"))?;
    let candidate = forgery.event(k)["payload"]["gates"][0]["candidate"].as_f64().unwrap_or(0.0);
    forgery.edit(k, |e| e["payload"]["gates"][0]["candidate"] = json!(candidate / 2.0));
    let forged = scratch.join("forged.jsonl");
    forgery.write_export(&forged).map_err(internal)?;
    let forgery_check = match export::verify_export(&forged, crate::verify::verifier(None)) {
        Err(export::ExportError::Verify(f)) => json!({"forged_event": k, "detected": true, "failure": f}),
        Err(e) => return Err(internal(format!("the forged export was refused for another reason: {e}"))),
        Ok(_) => return Err(internal("a consistently forged export verified")),
    };

    let state = &d.ledger.domain().state;
    let model = state.model("demand").ok_or_else(|| internal("no model"))?;
    let routing: Vec<Value> = ["electronics", "grocery", "apparel"]
        .iter()
        .map(|s| json!({"segment": s, "version": model.route(Some(s)), "own_champion": model.champions.contains_key(*s)}))
        .chain(std::iter::once(json!({"segment": null, "version": model.route(None), "own_champion": true})))
        .collect();
    let alerts: Vec<Value> = state.alerts.values().map(|a| json!({"id": a.id, "type": a.alert_type, "severity": a.severity, "status": a.status, "message": a.message})).collect();
    let trust = d.ledger.trust();
    let timeline = query::timeline(d.ledger.store(), trust, state, "demand", Some("electronics"))?;
    let timeline_global = query::timeline(d.ledger.store(), trust, state, "demand", None)?;
    Ok(json!({
        "ledger": dir, "ledger_id": d.id, "events": d.ledger.store().len(),
        "refusals": d.refusals, "idempotent_resend": resend, "steps": d.steps,
        "routing": routing, "alerts": alerts,
        "timeline": {"model": "demand", "segment": "electronics", "entries": timeline},
        "timeline_global": {"model": "demand", "segment": null, "entries": timeline_global},
        "export": {"path": out, "count": manifest.count, "head": manifest.head},
        "verify": {"ledger": store_summary, "export": export_summary},
        "tamper_check": {"flipped_line_index": line, "result": detected},
        "forgery_check": forgery_check,
        "real_data": real,
    }))
}

/// The repository's real data, embedded so the demo runs from any directory.
const TAXI_CSV: &[u8] = include_bytes!("../../trainer/data/taxi.csv");
const TAXI_SPEC: &str = include_str!("../../trainer/data/taxi.spec.json");

/// Workflow (d): `taxi-tip` on real data. The admin gives the classifier its own gates; maya
/// trains a global model (walk-forward backtested by month) and colby makes it champion;
/// maya's segmented router (one model per large company) is judged by those gates; the
/// scheduler checks drift between Jan..Mar and April with the champion's artifact; the
/// champion scores April's first trips.
fn real_data(d: &mut Demo, dir: &Path, scratch: &Path) -> Result<Value, Failure> {
    use trainer::spec::{Strategy, TrainParams};
    let model = "taxi-tip";
    let mut policy = default_policy();
    policy["models"] = json!({model: {
        "gates": [
            {"metric": "roc_auc", "direction": "higher", "margin": 0.0, "strict": false},
            {"metric": "log_loss", "direction": "lower", "margin": 0.0, "strict": false}
        ],
        "drift_metric": "log_loss"
    }});
    d.step("real", "root", "policy.set", json!({"policy": policy}))?;
    let data = scratch.join("taxi.csv");
    std::fs::write(&data, TAXI_CSV).map_err(internal)?;
    let spec = trainer::DatasetSpec::from_json(TAXI_SPEC).map_err(internal)?;
    let spec_digest = ledger::Digest::of(TAXI_SPEC.as_bytes()).to_string();
    let (table, digest) = trainer::load(&data, &spec).map_err(internal)?;
    let mut trained = vec![];
    for (who, params, trigger) in [
        ("maya", TrainParams::default(), "manual"),
        (
            "maya",
            TrainParams { strategy: Strategy::SegmentedRouter, min_segment_rows: 1000, ..Default::default() },
            "manual",
        ),
    ] {
        let out = trainer::train(&spec, &params, &table, &digest, &trainer::progress::Progress::hidden())
            .map_err(internal)?;
        let strategy = if params.strategy == Strategy::Global { "global" } else { "segmented_router" };
        let meta = crate::training::RunMeta {
            model,
            trigger,
            hypothesis_id: None,
            dataset_version: "2026-04",
            feature_set: "v1",
            extra: json!({"strategy": strategy, "owner": who}),
        };
        let (run_id, body) = crate::training::run_body(&meta, &spec, &spec_digest, &params, &out)?;
        crate::training::save_candidate(dir, &out.candidate)?;
        d.step("real", who, "run.record", body)?;
        trained.push(json!({"run_id": run_id, "strategy": strategy, "split": out.split,
            "roc_auc": out.metrics.roc_auc, "log_loss": out.metrics.log_loss,
            "models": out.candidate.artifacts().map(|a| json!({"segment": a.segment, "artifact": a.digest()})).collect::<Vec<_>>(),
            "backtest": out.backtest.iter().map(|w| json!({"window": w.window_start, "roc_auc": w.metrics.roc_auc})).collect::<Vec<_>>()}));
        if trained.len() == 1 {
            d.step("real", "colby", "champion.bootstrap", json!({"model": model, "segment": null, "version": 1, "reason": "first tip model, trained on Jan..Mar"}))?;
        }
    }
    // Drift: the champion's artifact on Jan..Mar versus April.
    let champion = d
        .ledger
        .domain()
        .state
        .model(model)
        .and_then(|m| m.route(None))
        .ok_or_else(|| internal("no champion"))?;
    let art_digest = d
        .ledger
        .domain()
        .state
        .model(model)
        .and_then(|m| m.versions.get(&champion))
        .map(|v| v.artifact_digest.clone())
        .unwrap_or_default();
    let art = trainer::Artifact::load(&crate::training::artifact_dir(dir), &art_digest).map_err(internal)?;
    let period = table.period.clone().unwrap_or_default();
    let baseline = table.select(&(0..table.len()).filter(|&i| period[i] < 3).collect::<Vec<_>>());
    let recent = table.select(&(0..table.len()).filter(|&i| period[i] == 3).collect::<Vec<_>>());
    let score = |t: &trainer::Table| art.score(t);
    let drift = trainer::drift::check(&spec, &baseline, &recent, Some(&score)).map_err(internal)?;
    let (b, r) = match (&drift.baseline, &drift.recent) {
        (Some(b), Some(r)) => (b.log_loss, r.log_loss),
        _ => return Err(internal("drift metrics missing")),
    };
    d.step(
        "real",
        "scheduler",
        "drift.record",
        json!({"model": model, "metric": "log_loss", "baseline": b, "recent": r, "psi": drift.psi()}),
    )?;
    let first = recent.select(&[0, 1, 2]);
    let scores = art.score(&first).map_err(internal)?;
    Ok(json!({"model": model, "runs": trained, "champion": champion, "artifact": art_digest,
        "drift": {"metric": "log_loss", "baseline": b, "recent": r, "psi": drift.psi()},
        "predictions": first.row_numbers.iter().zip(scores).map(|(r, p)| json!({"row": r, "probability": p})).collect::<Vec<_>>()}))
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn print_human(r: &Value, temporary: bool) {
    println!("Pledge demo: ledger {} at {}", s(&r["ledger_id"]), s(&r["ledger"]));
    let mut last = "";
    for step in r["steps"].as_array().into_iter().flatten() {
        let wf = s(&step["workflow"]);
        if wf != last {
            println!();
            println!(
                "== {}",
                match wf {
                    "setup" => "setup: genesis, keys and roles",
                    "scheduled" => "workflow 1: scheduled retrain",
                    "drift" => "workflow 2: drift-triggered retrain",
                    "real" => "workflow 4: real data (taxi.csv) through the built-in trainer",
                    _ => "workflow 3: hypothesis-driven experiment",
                }
            );
            last = wf;
        }
        for e in step["events"].as_array().into_iter().flatten() {
            println!("  #{:<3} {:<10} {}", e["seq"].as_u64().unwrap_or(0), s(&step["by"]), s(&e["summary"]));
        }
    }
    println!();
    println!("== refused (nothing written)");
    for x in r["refusals"].as_array().into_iter().flatten() {
        println!("  - {}: rule `{}`: {}", s(&x["attempt"]), s(&x["rule"]), s(&x["message"]));
    }
    let rs = &r["idempotent_resend"];
    println!(
        "  - an earlier command resent: duplicate={}, same events {}, head unchanged={}",
        rs["duplicate"], rs["events"], rs["head_unchanged"]
    );
    println!();
    println!("== routing for `demand`");
    for x in r["routing"].as_array().into_iter().flatten() {
        let seg = x["segment"].as_str().unwrap_or("(global)");
        let via = if x["own_champion"] == true { "own champion" } else { "global champion" };
        println!("  {seg:<12} -> v{} ({via})", x["version"]);
    }
    println!();
    println!("== alerts");
    for a in r["alerts"].as_array().into_iter().flatten() {
        println!(
            "  {} {:<8} {:<22} {:<9} {}",
            s(&a["id"]),
            s(&a["severity"]),
            s(&a["type"]),
            s(&a["status"]),
            s(&a["message"])
        );
    }
    for (title, key) in [
        ("how `demand` got its global champion (timeline)", "timeline_global"),
        ("how `demand` / electronics got its champion (timeline)", "timeline"),
    ] {
        println!();
        println!("== {title}");
        for e in r[key]["entries"].as_array().into_iter().flatten() {
            let pv = e["policy_version"].as_u64().map(|v| format!(" [policy v{v}]")).unwrap_or_default();
            let at = s(&e["recorded_at"]);
            println!(
                "  #{:<3} {}  {:<10} {}{}",
                e["seq"].as_u64().unwrap_or(0),
                &at[..19.min(at.len())],
                e["actor"].as_str().unwrap_or("-"),
                s(&e["summary"]),
                pv
            );
        }
    }
    let real = &r["real_data"];
    println!();
    println!(
        "== `{}` on real data (champion v{}, artifact {})",
        s(&real["model"]),
        real["champion"],
        s(&real["artifact"])
    );
    for run in real["runs"].as_array().into_iter().flatten() {
        println!(
            "  {:<17} {}: roc_auc {:.4}, log_loss {:.4}, {} model(s)",
            s(&run["strategy"]),
            s(&run["split"]),
            run["roc_auc"].as_f64().unwrap_or(f64::NAN),
            run["log_loss"].as_f64().unwrap_or(f64::NAN),
            run["models"].as_array().map_or(0, Vec::len)
        );
        let windows: Vec<String> = run["backtest"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|w| format!("{} {:.3}", s(&w["window"]), w["roc_auc"].as_f64().unwrap_or(f64::NAN)))
            .collect();
        println!("  {:<17} walk-forward roc_auc: {}", "", windows.join(", "));
    }
    let dr = &real["drift"];
    let psi: Vec<String> = dr["psi"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k} {:.4}", v.as_f64().unwrap_or(0.0)))
        .collect();
    println!(
        "  drift Jan..Mar -> Apr: log_loss {:.4} -> {:.4}; psi {}",
        dr["baseline"].as_f64().unwrap_or(0.0),
        dr["recent"].as_f64().unwrap_or(0.0),
        psi.join(", ")
    );
    for p in real["predictions"].as_array().into_iter().flatten() {
        println!("  April row {}: p(tip) = {:.4}", p["row"], p["probability"].as_f64().unwrap_or(0.0));
    }
    println!();
    let v = &r["verify"]["ledger"];
    println!("== verify");
    println!(
        "  ledger: ok, {} events, {} signed commands checked, every derived event re-derived",
        v["events"], v["commands"]
    );
    println!("  export: ok, {} events in {}", r["verify"]["export"]["events"], s(&r["export"]["path"]));
    let t = &r["tamper_check"];
    println!(
        "  tampered export (one byte flipped in line {}): detected at event {}",
        t["flipped_line_index"], t["result"]["seq"]
    );
    let f = &r["forgery_check"]["failure"];
    println!(
        "  forged export (a gate value halved in event {}, every hash, link and the manifest recomputed):\n    detected at event {}: `{}` is {} in the ledger, {} when re-derived from the signed run",
        r["forgery_check"]["forged_event"],
        f["seq"],
        s(&f["mismatch"]["member"]),
        f["mismatch"]["recorded"],
        f["mismatch"]["derived"]
    );
    if temporary {
        println!();
        println!("(the ledger was in a temporary directory and is gone; keep one with `pledge demo --ledger PATH`)");
    }
}
