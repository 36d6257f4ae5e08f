//! Property tests over random command sequences: (i) incremental state == rebuilt state (and
//! == resumed from a checkpoint), (ii) at most one champion per model/segment at every point,
//! (iii) every champion change is explained by a policy pass, an approval, a bootstrap, a
//! rollback or an experiment decision, (iv) replaying a prefix gives the as-of state, (v) the
//! timeline as of any point, cut from the head's read models, is the replayed state's.

use ledger::{Cause, SignedCommand};
use projections::events::VersionStatus;
use projections::replay::{self, AsOf};
use projections::State;
use proptest::prelude::*;
use serde_json::json;

use crate::harness::*;

#[derive(Clone, Debug)]
enum Op {
    Run { trigger: u8, mae: f64, mape: f64, coverage: f64, segment: bool },
    Bootstrap { segment: bool, pick: usize },
    Propose { segment: bool },
    Decide { approve: bool, pick: usize },
    Drift { recent: f64 },
    DriftRetrain { mae: f64, approve: bool },
    Rollback { segment: bool, pick: usize },
    Checkpoint,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..3, 8.0f64..14.0, 0.1f64..0.3, 0.8f64..0.95, any::<bool>())
            .prop_map(|(trigger, mae, mape, coverage, segment)| Op::Run { trigger, mae, mape, coverage, segment }),
        2 => (any::<bool>(), any::<usize>()).prop_map(|(segment, pick)| Op::Bootstrap { segment, pick }),
        1 => any::<bool>().prop_map(|segment| Op::Propose { segment }),
        1 => (any::<bool>(), any::<usize>()).prop_map(|(approve, pick)| Op::Decide { approve, pick }),
        1 => (10.0f64..20.0).prop_map(|recent| Op::Drift { recent }),
        1 => (8.0f64..14.0, any::<bool>()).prop_map(|(mae, approve)| Op::DriftRetrain { mae, approve }),
        1 => (any::<bool>(), any::<usize>()).prop_map(|(segment, pick)| Op::Rollback { segment, pick }),
        1 => Just(Op::Checkpoint),
    ]
}

fn seg(b: bool) -> serde_json::Value {
    if b {
        json!("east")
    } else {
        json!(null)
    }
}

fn play(w: &mut World, op: &Op, n: usize) {
    let versions: Vec<u64> =
        w.state().model("demand").map(|m| m.versions.keys().copied().collect()).unwrap_or_default();
    let pick = |p: usize| versions.get(p % versions.len().max(1)).copied().unwrap_or(1);
    // Any of these may be refused by a rule; a refusal writes nothing, which is part of what
    // the properties check.
    let _ = match op {
        Op::Run { trigger, mae, mape, coverage, segment } => {
            let t = ["scheduled", "manual", "new_data"][*trigger as usize];
            let mut body = run(&format!("r{n}"), t, *mae, *mape, *coverage);
            body["models"][0]["segment"] = seg(*segment);
            w.submit("scheduler", "run.record", body)
        }
        Op::Bootstrap { segment, pick: p } => w.submit(
            "colby",
            "champion.bootstrap",
            json!({"model": "demand", "segment": seg(*segment), "version": pick(*p)}),
        ),
        Op::Propose { segment } => {
            w.submit("maya", "arena.propose", json!({"model": "demand", "segment": seg(*segment)}))
        }
        Op::Decide { approve, pick: p } => {
            let ids: Vec<String> = w.state().proposals.keys().cloned().collect();
            let Some(id) = ids.get(p % ids.len().max(1)) else { return };
            if *approve {
                w.submit("colby", "arena.approve", json!({"proposal_id": id}))
            } else {
                w.submit("colby", "arena.reject", json!({"proposal_id": id, "reason": "no"}))
            }
        }
        Op::Drift { recent } => w.submit(
            "scheduler",
            "drift.record",
            json!({"model": "demand", "baseline": 12.0, "recent": recent}),
        ),
        Op::DriftRetrain { mae, approve } => {
            let alert = w
                .state()
                .alerts
                .values()
                .filter(|a| a.alert_type == projections::state::AlertType::DriftDetected)
                .map(|a| a.id.clone())
                .last();
            let Some(alert) = alert else { return };
            let mut body = run(&format!("d{n}"), "drift_detected", *mae, 0.2, 0.9);
            body["drift_alert_id"] = json!(alert);
            let r = w.submit("maya", "run.record", body);
            if *approve {
                w.submit(
                    "colby",
                    "alert.action",
                    json!({"alert_id": alert, "action": "approve", "notes": "ok"}),
                )
            } else {
                r
            }
        }
        Op::Rollback { segment, pick: p } => w.submit(
            "colby",
            "rollback",
            json!({"model": "demand", "segment": seg(*segment), "version": pick(*p), "reason": "r"}),
        ),
        Op::Checkpoint => {
            if let Some(snap) = w.ledger.snapshot() {
                ledger::snapshot::write(w.ledger.store().dir(), &snap).unwrap();
            }
            return;
        }
    };
}

/// (ii): one champion per segment key, consistent with the versions' statuses.
fn one_champion_per_segment(s: &State) -> Result<(), String> {
    for (name, m) in &s.models {
        for (key, v) in &m.champions {
            let serving: Vec<u64> = m
                .versions
                .values()
                .filter(|x| {
                    x.status == VersionStatus::Champion && x.segment.clone().unwrap_or_default() == *key
                })
                .map(|x| x.version)
                .collect();
            if serving != vec![*v] {
                return Err(format!(
                    "{name}/{key}: champion map says v{v}, champion statuses say {serving:?}"
                ));
            }
        }
        let champions = m.versions.values().filter(|x| x.status == VersionStatus::Champion).count();
        if champions != m.champions.len() {
            return Err(format!("{name}: {champions} champion versions for {} segments", m.champions.len()));
        }
    }
    Ok(())
}

/// (iii): the recorded cause of every champion change is one of the five explanations.
fn explained(w: &World, ev: &ledger::RecordedEvent) -> Result<(), String> {
    let p = &ev.event.payload;
    let to = p["to"].as_u64().unwrap();
    let cause_kind = |want: &[&str]| -> Result<ledger::RecordedEvent, String> {
        let Cause::Event(h) = &ev.event.cause else {
            return Err(format!("#{}: {} change not caused by an event", ev.seq(), p["cause"]));
        };
        let c = w.ledger.store().get_by_hash(h).unwrap().ok_or("cause missing")?;
        if want.contains(&c.event.kind.as_str()) {
            Ok(c)
        } else {
            Err(format!("#{}: caused by {}", ev.seq(), c.event.kind))
        }
    };
    let command_kind = || match &ev.event.cause {
        Cause::Command(env) => SignedCommand::parse(env.clone()).unwrap().into_command().kind,
        Cause::Event(_) => String::new(),
    };
    match p["cause"].as_str().unwrap() {
        "policy" => {
            let c = cause_kind(&["promotion.evaluated"])?;
            let e = &c.event.payload;
            if !(e["passed"] == true && e["auto_promote_allowed"] == true && e["candidate"] == to) {
                return Err(format!("#{}: policy promotion without a passing evaluation", ev.seq()));
            }
        }
        "approval" => {
            let c = cause_kind(&["promotion.approved", "alert.actioned"])?;
            if c.event.kind == "alert.actioned" && c.event.payload["action"] != "approve" {
                return Err("approval by a non-approving alert action".into());
            }
        }
        "bootstrap" if command_kind() == "champion.bootstrap" => {}
        "rollback" if command_kind() == "rollback" => {}
        "experiment" => {
            cause_kind(&["experiment.completed"])?;
        }
        other => return Err(format!("#{}: unexplained champion change ({other})", ev.seq())),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn projections_are_consistent_under_random_histories(ops in proptest::collection::vec(op(), 1..30)) {
        let mut w = World::new();
        for (n, o) in ops.iter().enumerate() {
            play(&mut w, o, n);
        }
        let store = w.ledger.store();
        // (i)
        let rebuilt = replay::rebuild(store, AsOf::Head).unwrap();
        prop_assert_eq!(rebuilt.digest(), w.state().digest());
        let (resumed, _) = replay::replay_from_snapshot(store, AsOf::Head).unwrap();
        prop_assert_eq!(resumed.digest(), rebuilt.digest());
        // (ii), (iii), (iv) along the history.
        let mut folded = State::default();
        for ev in store.iter() {
            let ev = ev.unwrap();
            folded.apply(&ev).unwrap();
            prop_assert!(one_champion_per_segment(&folded).is_ok(), "{:?}", one_champion_per_segment(&folded));
            if ev.event.kind == "champion.changed" {
                prop_assert!(explained(&w, &ev).is_ok(), "{:?}", explained(&w, &ev));
            }
            if ev.seq() % 7 == 0 {
                prop_assert_eq!(replay::replay(store, AsOf::Seq(ev.seq())).unwrap().digest(), folded.digest());
            }
        }
        prop_assert_eq!(folded.digest(), w.state().digest());
        ledger::verify_store(store, commands::app::verify::verifier(None)).unwrap();
        // (v)
        let agreed = snapshot_index_answers_agree(&w);
        prop_assert!(agreed.is_ok(), "{:?}", agreed);
    }
}

/// A forgery an operator with write access could plant, consistently re-chained.
#[derive(Clone, Debug)]
enum Forge {
    /// Change one leaf of an event's payload (or its subject, or its kind).
    Alter { pick: usize, leaf: usize },
    /// Remove an event derived from a command (not the first of its run).
    RemoveDerived { pick: usize },
    /// Insert a copy of a derived event right after its run.
    InsertDerived { pick: usize },
    /// Insert a copy of a signed event (the first of a run) at a later run boundary.
    DuplicateSigned { pick: usize, later: usize },
}

fn forge() -> impl Strategy<Value = Forge> {
    prop_oneof![
        3 => (any::<usize>(), any::<usize>()).prop_map(|(pick, leaf)| Forge::Alter { pick, leaf }),
        1 => any::<usize>().prop_map(|pick| Forge::RemoveDerived { pick }),
        1 => any::<usize>().prop_map(|pick| Forge::InsertDerived { pick }),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(pick, later)| Forge::DuplicateSigned { pick, later }),
    ]
}

/// Paths to every leaf of `v` (objects and arrays descended).
fn leaves(v: &serde_json::Value, path: Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        serde_json::Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                let mut p = path.clone();
                p.push(k.clone());
                leaves(x, p, out);
            }
        }
        serde_json::Value::Array(a) if !a.is_empty() => {
            for (i, x) in a.iter().enumerate() {
                let mut p = path.clone();
                p.push(i.to_string());
                leaves(x, p, out);
            }
        }
        _ => out.push(path),
    }
}

/// A different value of the same leaf: the bytes always change.
fn altered(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value::*;
    match v {
        Bool(b) => json!(!b),
        Number(n) => match n.as_u64() {
            Some(u) => json!(u + 1),
            None => json!(n.as_f64().unwrap() * 2.0 + 1.0),
        },
        String(s) => json!(format!("{s}x")),
        Null => json!(1),
        other => json!([other]),
    }
}

fn pointer(path: &[String]) -> String {
    path.iter().map(|p| format!("/{p}")).collect()
}

/// Applies `f` to the forgery; returns the position verification must fail at, or `None` when
/// the history offers nothing to forge that way.
fn plant(f: &Forge, forgery: &mut ledger::forge::Forgery) -> Option<u64> {
    let n = forgery.len();
    let derived: Vec<usize> = (0..n).filter(|k| forgery.event(*k)["cause"].get("event").is_some()).collect();
    let signed: Vec<usize> = (0..n).filter(|k| forgery.event(*k)["cause"].get("command").is_some()).collect();
    // The position just after the run that holds event k.
    let run_end = |k: usize| signed.iter().copied().find(|s| *s > k).unwrap_or(n);
    match f {
        Forge::Alter { pick, leaf } => {
            let k = pick % n;
            let ev = forgery.event(k).clone();
            let mut paths = vec![];
            leaves(&ev["payload"], vec!["payload".into()], &mut paths);
            leaves(&ev["subject"], vec!["subject".into()], &mut paths);
            paths.push(vec!["kind".into()]);
            let path = pointer(&paths[leaf % paths.len()]);
            let old = ev.pointer(&path).cloned().unwrap_or(serde_json::Value::Null);
            forgery.edit(k, |e| *e.pointer_mut(&path).unwrap() = altered(&old));
            Some(k as u64)
        }
        Forge::RemoveDerived { pick } => {
            let k = *derived.get(pick % derived.len().max(1))?;
            forgery.remove(k);
            Some(k as u64)
        }
        Forge::InsertDerived { pick } => {
            let k = *derived.get(pick % derived.len().max(1))?;
            let at = run_end(k);
            let mut copy = forgery.event(k).clone();
            copy["recorded_at"] = forgery.event(at - 1)["recorded_at"].clone();
            forgery.insert(at, copy);
            Some(at as u64)
        }
        Forge::DuplicateSigned { pick, later } => {
            let k = signed[pick % signed.len()];
            let boundaries: Vec<usize> = signed.iter().copied().filter(|s| *s > k).chain([n]).collect();
            let at = boundaries[later % boundaries.len()];
            let mut copy = forgery.event(k).clone();
            copy["recorded_at"] = forgery.event(at - 1)["recorded_at"].clone();
            forgery.insert(at, copy);
            Some(at as u64)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    /// Every consistent forgery of a random history (every id, link, reference and the
    /// manifest recomputed) fails verification at the forged event, and nowhere earlier.
    #[test]
    fn forgeries_of_random_histories_are_caught_at_the_forged_event(
        ops in proptest::collection::vec(op(), 1..20),
        f in forge(),
    ) {
        let mut w = World::new();
        for (n, o) in ops.iter().enumerate() {
            play(&mut w, o, n);
        }
        let mut forgery = ledger::forge::Forgery::of_store(w.ledger.store()).unwrap();
        let Some(at) = plant(&f, &mut forgery) else { return Ok(()) };
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("forged.jsonl");
        forgery.write_export(&out).unwrap();
        match ledger::export::verify_export(&out, commands::app::verify::verifier(None)) {
            Err(ledger::export::ExportError::Verify(fail)) => {
                prop_assert_eq!(fail.seq, at, "{:?} caught elsewhere: {}", f, fail)
            }
            other => prop_assert!(false, "{:?} not caught: {:?}", f, other),
        }
    }
}

const FIELDS: [&str; 44] = [
    "model",
    "segment",
    "version",
    "challenger",
    "champion",
    "proposal_id",
    "alert_id",
    "hypothesis_id",
    "run_id",
    "trigger",
    "decision",
    "adopt_segments",
    "results",
    "rationale",
    "reason",
    "notes",
    "action",
    "metrics",
    "models",
    "backtests",
    "baseline",
    "recent",
    "psi",
    "dataset",
    "digest",
    "dataset_digest",
    "artifact_digest",
    "trainer",
    "statement",
    "change_type",
    "target_metric",
    "expected_improvement_pct",
    "owner",
    "planned_windows",
    "window_start",
    "window_end",
    "rows",
    "samples",
    "champion_metrics",
    "challenger_metrics",
    "drift_alert_id",
    "params",
    "policy",
    "constraints",
];

/// A value for a field: plain JSON of every type, extremes, and references to what the ledger
/// holds (resolved when the command is built: `"@proposal"`, `"@alert"`, `"@version"`).
fn field_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(json!(null)),
        Just(json!(true)),
        Just(json!(0)),
        Just(json!(1)),
        Just(json!(2)),
        Just(json!(-1)),
        Just(json!(1e308)),
        Just(json!(-0.5)),
        Just(json!(u64::MAX)),
        Just(json!("")),
        Just(json!("demand")),
        Just(json!("east")),
        Just(json!("H-1")),
        Just(json!("r1")),
        Just(json!("scheduled")),
        Just(json!("drift_detected")),
        Just(json!("experiment")),
        Just(json!("approve")),
        Just(json!("dismiss")),
        Just(json!("adopt")),
        Just(json!("partial_adopt")),
        Just(json!("release")),
        Just(json!("hold")),
        Just(json!("feature")),
        Just(json!(DIGEST)),
        Just(json!({"mae": 1.0, "mape": 0.1, "coverage": 0.9})),
        Just(json!({"mae": "x"})),
        Just(json!([null, "east"])),
        Just(json!("@proposal")),
        Just(json!("@alert")),
        Just(json!("@version")),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map(proptest::sample::select(&FIELDS[..]), inner, 0..4).prop_map(
                |m| serde_json::Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            ),
        ]
    })
}

/// A command of each kind that the ledger may well accept: the starting point of a random one.
fn template(kind: &str) -> serde_json::Value {
    match kind {
        "dataset.register" => json!({"dataset": "sales", "version": "v1", "digest": DIGEST, "rows": 10}),
        "model.register" => json!({"model": "returns", "task": "classification"}),
        "hypothesis.propose" => json!({"hypothesis_id": "H-1", "model": "demand", "statement": "lags help",
            "change_type": "feature", "target_metric": "mae", "expected_improvement_pct": 5.0, "owner": "maya"}),
        "experiment.approve" | "experiment.reject" => {
            json!({"hypothesis_id": "H-1", "rationale": "worth a try"})
        }
        "experiment.start" | "experiment.shadow" => json!({"hypothesis_id": "H-1"}),
        "experiment.complete" => json!({"hypothesis_id": "H-1", "decision": "adopt", "rationale": "better"}),
        "run.record" => {
            let mut r = run("rx", "experiment", 11.0, 0.17, 0.91);
            r["hypothesis_id"] = json!("H-1");
            r
        }
        "backtest.record" => json!({"model": "demand", "version": "@version", "window_start": "2026-01-01",
            "window_end": "2026-01-08", "metrics": {"mae": 12.0}, "rows": 5}),
        "shadow.record" => {
            json!({"model": "demand", "hypothesis_id": "H-1", "champion": 1, "challenger": "@version",
            "window_start": "2026-01-01", "window_end": "2026-01-08", "champion_metrics": {"mae": 12.0},
            "challenger_metrics": {"mae": 11.0}, "samples": 30})
        }
        "drift.record" => json!({"model": "demand", "baseline": 12.0, "recent": 15.0}),
        "champion.bootstrap" => json!({"model": "demand", "segment": null, "version": "@version"}),
        "arena.propose" => json!({"model": "demand", "segment": null}),
        "arena.approve" => json!({"proposal_id": "@proposal"}),
        "arena.reject" => json!({"proposal_id": "@proposal", "reason": "not now"}),
        "rollback" => json!({"model": "demand", "segment": null, "version": 1, "reason": "regression"}),
        "alert.read" => json!({"alert_id": "@alert"}),
        "alert.action" => json!({"alert_id": "@alert", "action": "approve", "notes": "seen"}),
        "release.decide" => json!({"model": "demand", "decision": "hold"}),
        "shadow.start" | "shadow.stop" => json!({"model": "demand", "version": 2, "reason": "live rows"}),
        other => panic!("no template for `{other}`"),
    }
}

/// A command: its kind, its signer, and up to three changes to its template (a field set to a
/// random value, or removed with `"@delete"`).
fn random_command() -> impl Strategy<Value = (usize, usize, Vec<(&'static str, serde_json::Value)>)> {
    (
        0..commands::domain::CommandKind::ALL.len(),
        0..5usize,
        proptest::collection::vec(
            (
                proptest::sample::select(&FIELDS[..]),
                prop_oneof![4 => field_value(), 1 => Just(json!("@delete"))],
            ),
            0..4,
        ),
    )
}

/// Replaces the `"@..."` placeholders by ids the ledger holds.
fn resolve(v: &mut serde_json::Value, w: &World) {
    match v {
        serde_json::Value::String(s) if s.starts_with('@') => {
            *v = match s.as_str() {
                "@proposal" => w.state().proposals.keys().next_back().map_or(json!("P-1"), |p| json!(p)),
                "@alert" => w.state().alerts.keys().next().map_or(json!("A-0"), |a| json!(a)),
                _ => w
                    .state()
                    .model("demand")
                    .and_then(|m| m.versions.keys().next_back().copied())
                    .map_or(json!(1), |x| json!(x)),
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| resolve(x, w)),
        serde_json::Value::Object(m) => m.values_mut().for_each(|x| resolve(x, w)),
        _ => {}
    }
}

#[test]
fn every_command_kind_has_a_template() {
    for kind in commands::domain::CommandKind::ALL {
        assert!(template(kind.as_str()).is_object());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// Random commands, well-formed or not, by any member of the team, after a random history:
    /// the decide step answers each with events or a refusal and never panics; a refused
    /// command writes nothing; the ledger verifies (every accepted command re-derives).
    #[test]
    fn the_decide_step_answers_any_command_without_panicking(
        ops in proptest::collection::vec(op(), 0..12),
        commands in proptest::collection::vec(random_command(), 1..24),
    ) {
        let mut w = World::new();
        for (n, o) in ops.iter().enumerate() {
            play(&mut w, o, n);
        }
        let team = ["root", "maya", "colby", "ana", "scheduler"];
        for (kind, who, changes) in commands {
            let kind = commands::domain::CommandKind::ALL[kind].as_str();
            let mut body = template(kind);
            for (field, value) in changes {
                match value.as_str() {
                    Some("@delete") => {
                        body.as_object_mut().unwrap().remove(field);
                    }
                    _ => body[field] = value,
                }
            }
            resolve(&mut body, &w);
            let head = w.ledger.store().head();
            if w.submit(team[who], kind, body).is_err() {
                prop_assert_eq!(w.ledger.store().head(), head, "a refused `{}` wrote something", kind);
            }
        }
        ledger::verify_store(w.ledger.store(), commands::app::verify::verifier(None)).unwrap();
    }

    /// The decide step is a function of the history: the same commands give the same ledger,
    /// byte for byte, and deciding the next command against the state folded as it was
    /// appended or as it is rebuilt from the store (the verifier's way) gives the same events.
    #[test]
    fn the_decide_step_is_a_function_of_the_history(ops in proptest::collection::vec(op(), 1..20), next in op()) {
        let (mut a, mut b) = (World::new(), World::new());
        for (n, o) in ops.iter().enumerate() {
            play(&mut a, o, n);
            play(&mut b, o, n);
        }
        let bytes = |w: &World| w.ledger.store().raw().map(|r| r.unwrap().2).collect::<Vec<_>>();
        prop_assert_eq!(bytes(&a), bytes(&b));
        let mut b = b.reopened();
        prop_assert_eq!(a.state().digest(), b.state().digest());
        play(&mut a, &next, ops.len());
        play(&mut b, &next, ops.len());
        prop_assert_eq!(bytes(&a), bytes(&b));
    }
}
