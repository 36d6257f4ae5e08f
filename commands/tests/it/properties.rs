//! Property tests over random command sequences: (i) incremental state == rebuilt state (and
//! == resumed from a checkpoint), (ii) at most one champion per model/segment at every point,
//! (iii) every champion change is explained by a policy pass, an approval, a bootstrap, a
//! rollback or an experiment decision, (iv) replaying a prefix gives the as-of state.

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
                .filter(|a| a.alert_type == "drift_detected")
                .map(|a| a.id.clone())
                .next_back();
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
            replay::save_checkpoint(w.ledger.store(), w.state()).unwrap();
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
        let rebuilt = replay::replay(store, AsOf::Head).unwrap();
        prop_assert_eq!(rebuilt.digest(), w.state().digest());
        let (resumed, _) = replay::resume(store).unwrap();
        prop_assert_eq!(resumed.digest(), rebuilt.digest());
        // (ii), (iii), (iv) along the history.
        let mut folded = State::default();
        for ev in store.iter() {
            let ev = ev.unwrap();
            folded.apply(&ev);
            prop_assert!(one_champion_per_segment(&folded).is_ok(), "{:?}", one_champion_per_segment(&folded));
            if ev.event.kind == "champion.changed" {
                prop_assert!(explained(&w, &ev).is_ok(), "{:?}", explained(&w, &ev));
            }
            if ev.seq() % 7 == 0 {
                prop_assert_eq!(replay::replay(store, AsOf::Seq(ev.seq())).unwrap().digest(), folded.digest());
            }
        }
        prop_assert_eq!(folded.digest(), w.state().digest());
        ledger::verify_store(store, commands::verify::verifier(None)).unwrap();
    }
}
