//! The demo as a use case (`pledge demo`, the README's main job): a real ledger, end to end,
//! through the same append path and decide step as every other command: a team with their own
//! keys, the trust rules refusing what they must, then the three seed workflows (a scheduled
//! retrain promoted by policy, a drift retrain promoted by a human via its alert, a
//! department-tiered experiment partially adopted), an export, verification, and the timeline
//! of how the champion got there. Returns the report; the CLI prints it.
//!
//! Workflows 1-3 train, judge, drift-check and shadow-test a demand forecaster on the real bike
//! data with the built-in trainer (`forecast`); workflow 4 trains a tip classifier on the
//! repository's real `taxi.csv`, under the classifier's own gates, and checks its drift.

use std::path::Path;
use std::sync::Arc;

use ledger::canonical::{SystemClock, Timestamp};
use ledger::dsse::Envelope;
use ledger::export;
use ledger::keys::SecretKey;
use ledger::{Command, ExpectedHead, Ledger, RecordedEvent, SubmitError};
use projections::query;
use serde_json::{json, Value};

mod forecast;

use super::failure::{Failure, INTERNAL};
use crate::domain::command::*;
use crate::domain::{default_policy, DomainCommand, PledgeDomain};
use projections::events::Trigger;

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

    /// A typed domain command that must be accepted.
    fn act(
        &mut self,
        workflow: &str,
        who: &str,
        command: DomainCommand,
    ) -> Result<Vec<RecordedEvent>, Failure> {
        self.step(workflow, who, command.kind().as_str(), command.body())
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

/// Plays the demo into a new ledger at `dir` (`scratch` holds temporary files); with `home`,
/// keeps the team's private keys there too, so that a person can go on working on the ledger.
pub fn play(dir: &Path, scratch: &Path, home: Option<&Path>) -> Result<Value, Failure> {
    let mut keys = vec![];
    for who in ["root", "maya", "colby", "scheduler", "mallory"] {
        let key = SecretKey::generate().map_err(internal)?;
        if let Some(home) = home {
            super::keystore::store(home, who, &key)?;
        }
        keys.push((who, key));
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

    // (a)-(c) The seed workflows on real forecasts (the bike data).
    let forecasts = forecast::play(&mut d, dir, scratch)?;

    // (d) Real data: a tip classifier trained by the built-in trainer on `taxi.csv`.
    let real = real_data(&mut d, dir, scratch)?;

    // Export, verify, and show that a flipped byte is caught.
    let out = dir.with_extension("jsonl");
    let manifest = export::export(d.ledger.store(), &out).map_err(internal)?;
    let store_summary =
        ledger::verify_store(d.ledger.store(), super::verify::verifier(None)).map_err(internal)?;
    let (_, export_summary) = export::verify_export(&out, super::verify::verifier(None)).map_err(internal)?;
    let tampered = scratch.join("tampered.jsonl");
    let mut bytes = std::fs::read(&out).map_err(internal)?;
    let line = 20usize;
    let start =
        bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(line - 1).map(|(i, _)| i + 1).unwrap_or(0);
    bytes[start + 40] ^= 0x01;
    std::fs::write(&tampered, &bytes).map_err(internal)?;
    std::fs::copy(export::manifest_path(&out), export::manifest_path(&tampered)).map_err(internal)?;
    let detected = match export::verify_export(&tampered, super::verify::verifier(None)) {
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
    let forgery_check = match export::verify_export(&forged, super::verify::verifier(None)) {
        Err(export::ExportError::Verify(f)) => json!({"forged_event": k, "detected": true, "failure": f}),
        Err(e) => return Err(internal(format!("the forged export was refused for another reason: {e}"))),
        Ok(_) => return Err(internal("a consistently forged export verified")),
    };

    let state = &d.ledger.domain().state;
    let model = state.model(forecast::MODEL).ok_or_else(|| internal("no model"))?;
    let segments: std::collections::BTreeSet<String> =
        model.versions.values().filter_map(|v| v.segment.clone()).collect();
    let routing: Vec<Value> = segments
        .iter()
        .map(|s| json!({"segment": s, "version": model.route(Some(s)), "own_champion": model.champions.contains_key(s)}))
        .chain(std::iter::once(json!({"segment": null, "version": model.route(None), "own_champion": true})))
        .collect();
    let alerts: Vec<Value> = state.alerts.values().map(|a| json!({"id": a.id, "type": a.alert_type, "severity": a.severity, "status": a.status, "message": a.message})).collect();
    let trust = d.ledger.trust();
    // The timeline of a segment with its own champion (the experiment's), else the global one.
    let segment = model.champions.keys().find(|k| !k.is_empty()).cloned();
    let timeline = query::timeline(d.ledger.store(), trust, state, forecast::MODEL, segment.as_deref())?;
    let timeline_global = query::timeline(d.ledger.store(), trust, state, forecast::MODEL, None)?;
    Ok(json!({
        "ledger": dir, "ledger_id": d.id, "events": d.ledger.store().len(),
        "refusals": d.refusals, "idempotent_resend": resend, "steps": d.steps,
        "routing": routing, "alerts": alerts,
        "timeline": {"model": forecast::MODEL, "segment": segment, "entries": timeline},
        "timeline_global": {"model": forecast::MODEL, "segment": null, "entries": timeline_global},
        "forecasts": forecasts,
        "export": {"path": out, "count": manifest.count, "head": manifest.head},
        "verify": {"ledger": store_summary, "export": export_summary},
        "tamper_check": {"flipped_line_index": line, "result": detected},
        "forgery_check": forgery_check,
        "real_data": real,
    }))
}

/// The repository's real data, embedded so the demo runs from any directory.
const TAXI_CSV: &[u8] = include_bytes!("../../../trainer/data/taxi.csv");
const TAXI_SPEC: &str = include_str!("../../../trainer/data/taxi.spec.json");

/// Workflow (d): `taxi-tip` on real data, under the default policy's classification gates
/// (ROC-AUC better, log-loss not worse): no policy edit for a new classifier. maya trains a
/// global model (walk-forward backtested by month; its first run registers the model as a
/// classifier) and colby makes it champion; maya's segmented router (one model per large
/// company) is judged per segment, each segment model against the champion scored on that
/// segment's own test rows; the scheduler checks drift between Jan..Mar and April with the
/// champion's artifact; the champion scores April's first trips.
fn real_data(d: &mut Demo, dir: &Path, scratch: &Path) -> Result<Value, Failure> {
    use trainer::spec::{Strategy, TrainParams};
    let model = "taxi-tip";
    let data = scratch.join("taxi.csv");
    std::fs::write(&data, TAXI_CSV).map_err(internal)?;
    let spec = trainer::DatasetSpec::from_json(TAXI_SPEC).map_err(internal)?;
    let spec_digest = ledger::Digest::of(TAXI_SPEC.as_bytes()).to_string();
    let (table, digest) = trainer::load(&data, &spec).map_err(internal)?;
    let mut trained = vec![];
    for (who, params) in [
        ("maya", TrainParams::default()),
        (
            "maya",
            TrainParams { strategy: Strategy::SegmentedRouter, min_segment_rows: 1000, ..Default::default() },
        ),
    ] {
        super::training::check_trainable(d.ledger.domain(), model, None, &spec)?;
        let out = trainer::train(&spec, &params, &table, &digest, &trainer::progress::Progress::hidden())
            .map_err(internal)?;
        let strategy = if params.strategy == Strategy::Global { "global" } else { "segmented_router" };
        let meta = super::training::RunMeta {
            model,
            trigger: Trigger::Manual,
            hypothesis_id: None,
            dataset_version: "2026-04",
            feature_set: "v1",
            extra: json!({"strategy": strategy, "owner": who}),
            task: super::training::ledger_task(d.ledger.domain(), model, &spec),
        };
        let evidence = super::training::baselines(dir, &d.ledger.domain().state, model, &data, &table, &out);
        let (run_id, body) =
            super::training::run_body(&meta, &spec, &spec_digest, &params, &out, &table.periods, &evidence)?;
        super::training::save_candidate(dir, &out.candidate)?;
        let events = d.act("real", who, DomainCommand::RunRecord(body))?;
        let judged: Vec<Value> = events
            .iter()
            .filter(|e| e.event.kind == "promotion.evaluated")
            .map(|e| {
                let p = &e.event.payload;
                json!({"segment": e.event.subject.as_ref().and_then(|s| s.segment.clone()), "candidate": p["candidate"],
                       "champion": p["champion"], "evidence": p["evidence"], "passed": p["passed"],
                       "gates": p["gates"].as_array().into_iter().flatten().map(|g| json!({"metric": g["metric"], "candidate": g["candidate"], "champion": g["champion"], "passed": g["passed"]})).collect::<Vec<_>>()})
            })
            .collect();
        trained.push(json!({"run_id": run_id, "strategy": strategy, "split": out.split,
            "roc_auc": metric(&out.metrics, "roc_auc"), "log_loss": metric(&out.metrics, "log_loss"),
            "models": out.candidate.artifacts().map(|a| json!({"segment": a.segment, "artifact": a.digest(),
                "roc_auc": metric(&out.model_metrics[&a.segment], "roc_auc")})).collect::<Vec<_>>(),
            "judged": judged,
            "backtest": out.backtest.iter().map(|w| json!({"window": w.window_start, "roc_auc": metric(&w.metrics, "roc_auc")})).collect::<Vec<_>>()}));
        if trained.len() == 1 {
            d.act(
                "real",
                "colby",
                DomainCommand::ChampionBootstrap(BootstrapBody {
                    model: model.into(),
                    segment: None,
                    version: 1,
                    reason: Some("first tip model, trained on Jan..Mar".into()),
                }),
            )?;
        }
    }
    // The router's global model is no better than the champion on the same rows: a proposal
    // of it fails its gates, an approval without a stated override is refused, and it is
    // rejected.
    let ev = d.act(
        "real",
        "maya",
        DomainCommand::ArenaPropose(ProposeBody { model: model.into(), segment: None, challenger: Some(2) }),
    )?;
    let proposal_id = ev[0].event.payload["proposal_id"].as_str().unwrap_or_default().to_string();
    let c = DomainCommand::ArenaApprove(ApproveBody {
        proposal_id: proposal_id.clone(),
        notes: Some("router looks good".into()),
        override_reason: None,
    });
    let env = d.cmd("colby", c.kind().as_str(), c.body())?;
    d.refused("colby approves a proposal whose gates failed, without an override", env)?;
    d.act(
        "real",
        "colby",
        DomainCommand::ArenaReject(ArenaRejectBody {
            proposal_id,
            reason: "no better than v1 on the same April trips".into(),
        }),
    )?;

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
    let art = trainer::Artifact::load(&super::training::artifact_dir(dir), &art_digest).map_err(internal)?;
    let period = table.period.clone().unwrap_or_default();
    let baseline = table.select(&(0..table.len()).filter(|&i| period[i] < 3).collect::<Vec<_>>());
    let recent = table.select(&(0..table.len()).filter(|&i| period[i] == 3).collect::<Vec<_>>());
    let score = |t: &trainer::Table| art.score(t);
    let drift = trainer::drift::check(&spec, &baseline, &recent, Some(&score), art.params.stock_tolerance)
        .map_err(internal)?;
    let (b, r) = match (
        drift.baseline.as_ref().and_then(|m| metric(m, "log_loss")),
        drift.recent.as_ref().and_then(|m| metric(m, "log_loss")),
    ) {
        (Some(b), Some(r)) => (b, r),
        _ => return Err(internal("drift metrics missing")),
    };
    d.act(
        "real",
        "scheduler",
        DomainCommand::DriftRecord(DriftBody {
            model: model.into(),
            segment: None,
            metric: Some("log_loss".into()),
            baseline: b,
            recent: r,
            psi: drift.psi(),
        }),
    )?;
    let first = recent.select(&[0, 1, 2]);
    let scores = art.score(&first).map_err(internal)?;
    Ok(json!({"model": model, "runs": trained, "champion": champion, "artifact": art_digest,
        "drift": {"metric": "log_loss", "baseline": b, "recent": r, "psi": drift.psi()},
        "predictions": first.row_numbers.iter().zip(scores.value).map(|(r, p)| json!({"row": r, "probability": p})).collect::<Vec<_>>()}))
}

/// One metric of an evaluation, if defined.
fn metric(m: &trainer::Metrics, name: &str) -> Option<f64> {
    m.to_map().get(name).copied()
}
