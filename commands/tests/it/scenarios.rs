//! The three seed workflows, end to end at library level, with golden snapshots of the state.

use projections::events::{ChampionCause, VersionStatus};
use projections::{AlertStatus, ExperimentStatus};
use serde_json::json;

use crate::harness::*;

/// (a) A scheduled retrain that beats the champion by the margin is promoted in the same
/// append that records its evaluation, the old champion archived; a second one that misses
/// the margin stays challenger. No alert.
#[test]
fn scheduled_retrain_auto_promotes_then_misses_the_margin() {
    let mut w = with_champion();
    // MAE 11.5 vs 12.3 (6.5% better), MAPE 0.18 vs 0.20 (10% better), coverage not lower.
    let events = w.ok("scheduler", "run.record", run("r2", "scheduled", 11.5, 0.18, 0.91));
    assert_eq!(
        kinds(&events),
        [
            "run.recorded",
            "version.registered",
            "promotion.evaluated",
            "champion.changed",
            "version.status_changed"
        ]
    );
    let eval = &events[2].event.payload;
    assert_eq!(eval["passed"], true);
    assert_eq!(eval["policy_version"], 1);
    assert_eq!(events[3].event.payload["cause"], "policy");
    assert_eq!(
        events[3].event.cause,
        ledger::Cause::Event(events[2].hash),
        "the promotion is explained by the evaluation"
    );
    assert_eq!(w.champion("demand", None), Some(2));
    assert_eq!(w.state().model("demand").unwrap().versions[&1].status, VersionStatus::Archived);

    // MAE 11.2 vs 11.5 is only 2.6% better: stays challenger.
    let events = w.ok("scheduler", "run.record", run("r3", "scheduled", 11.2, 0.17, 0.91));
    assert_eq!(
        kinds(&events),
        ["run.recorded", "version.registered", "promotion.evaluated", "version.status_changed"]
    );
    assert_eq!(events[2].event.payload["passed"], false);
    assert_eq!(events[2].event.payload["gates"][0]["passed"], false);
    assert_eq!(w.champion("demand", None), Some(2));
    assert_eq!(w.state().model("demand").unwrap().versions[&3].status, VersionStatus::Challenger);
    assert!(w.state().alerts.is_empty(), "routine retrains raise no alert");
    insta::assert_json_snapshot!("scenario_a_state", w.state());
    assert_timelines_agree(&w);
}

/// (b) Drift 12.8 -> 18.5 MAE (44.5%) raises a critical alert; the drift retrain becomes a
/// challenger and is never auto-promoted; a different approver approves via the alert; the
/// champion changes and the alert is actioned.
#[test]
fn drift_raises_a_critical_alert_and_a_human_promotes_the_retrain() {
    let mut w = with_champion();
    let ev = w.ok(
        "scheduler",
        "drift.record",
        json!({"model": "demand", "baseline": 12.8, "recent": 18.5, "psi": {"price": 0.08}}),
    );
    assert_eq!(ev[0].event.payload["exceeded"], true);
    let alert_id = format!("A-{}", ev[0].hash.short());
    let alert = &w.state().alerts[&alert_id];
    assert_eq!((alert.alert_type.as_str(), alert.severity.as_str()), ("drift_detected", "critical"));
    assert_eq!(alert.status, AlertStatus::Unread);

    // The retrain beats the champion by far, but drift-triggered models are never auto-promoted.
    let mut body = run("r-drift", "drift_detected", 10.9, 0.15, 0.92);
    body["drift_alert_id"] = json!(alert_id);
    let events = w.ok("ana", "run.record", body);
    assert_eq!(kinds(&events), ["run.recorded", "version.registered"]);
    assert_eq!(w.state().model("demand").unwrap().versions[&2].status, VersionStatus::Challenger);
    assert_eq!(w.champion("demand", None), Some(1));

    w.ok("colby", "alert.read", json!({"alert_id": alert_id}));
    assert_eq!(w.state().alerts[&alert_id].status, AlertStatus::Read);
    // ana recorded the retrain: she may not approve it (four eyes), the service may not at all.
    w.rejected(
        "ana",
        "alert.action",
        json!({"alert_id": alert_id, "action": "approve", "notes": "mine"}),
        "four_eyes",
    );
    w.rejected(
        "scheduler",
        "alert.action",
        json!({"alert_id": alert_id, "action": "approve"}),
        "role.not_allowed",
    );
    let events = w.ok(
        "colby",
        "alert.action",
        json!({"alert_id": alert_id, "action": "approve", "notes": "Reviewed backtest, promotion approved"}),
    );
    assert_eq!(kinds(&events), ["alert.actioned", "champion.changed", "version.status_changed"]);
    assert_eq!(events[1].event.payload["cause"], "approval");
    assert_eq!(events[1].event.payload["by"], "colby");
    assert_eq!(w.champion("demand", None), Some(2));
    assert_eq!(w.state().alerts[&alert_id].status, AlertStatus::Actioned);
    w.rejected("colby", "alert.action", json!({"alert_id": alert_id, "action": "approve"}), "alert.closed");
    insta::assert_json_snapshot!("scenario_b_state", w.state());
    assert_timelines_agree(&w);
}

/// (c) The department-tiered experiment: proposed, approved by a manager, three segment
/// models, shadow windows, `partial_adopt` of Electronics only; routing sends Electronics to
/// the new version and the rest to the global champion.
#[test]
fn department_tiered_experiment_partially_adopts_electronics() {
    let mut w = with_champion();
    let h = "H-SEG-001";
    w.ok(
        "maya",
        "hypothesis.propose",
        json!({"hypothesis_id": h, "model": "demand", "statement": "Department-tiered models will improve Electronics MAE by 12-15%",
               "change_type": "architecture", "change_summary": "one model per department", "target_metric": "mae",
               "expected_improvement_pct": 12.0, "owner": "maya", "dataset_version": "20260215", "feature_set_version": "v2.0"}),
    );
    w.rejected(
        "maya",
        "experiment.approve",
        json!({"hypothesis_id": h, "rationale": "mine"}),
        "role.not_allowed",
    );
    w.ok("colby", "experiment.approve", json!({"hypothesis_id": h, "rationale": "Electronics has high variability.", "constraints": ["top 500 SKUs"]}));
    w.rejected(
        "ana",
        "experiment.approve",
        json!({"hypothesis_id": h, "rationale": "again"}),
        "experiment.already_reviewed",
    );
    w.ok("maya", "experiment.start", json!({"hypothesis_id": h}));
    let body = json!({
        "run_id": "r-seg", "model": "demand", "trigger": "experiment", "hypothesis_id": h,
        "dataset_digest": DIGEST, "trainer": "external:lightgbm-4.3", "metrics": {"mae": 12.6, "mape": 0.19, "coverage": 0.9},
        "models": [
            {"segment": "electronics", "artifact_digest": DIGEST, "metrics": {"mae": 14.2, "mape": 0.21, "coverage": 0.9}},
            {"segment": "grocery", "artifact_digest": DIGEST, "metrics": {"mae": 12.1, "mape": 0.18, "coverage": 0.9}},
            {"segment": "apparel", "artifact_digest": DIGEST, "metrics": {"mae": 13.5, "mape": 0.2, "coverage": 0.9}},
        ],
    });
    let events = w.ok("maya", "run.record", body);
    assert_eq!(
        kinds(&events),
        ["run.recorded", "version.registered", "version.registered", "version.registered"]
    );
    let versions = &w.state().model("demand").unwrap().versions;
    assert!([2, 3, 4].iter().all(|v| versions[v].status == VersionStatus::Experimental));

    w.ok("maya", "experiment.shadow", json!({"hypothesis_id": h, "planned_windows": 2}));
    for (i, end) in ["2026-02-22", "2026-03-01"].iter().enumerate() {
        let ev = w.ok(
            "scheduler",
            "shadow.record",
            json!({"model": "demand", "segment": "electronics", "hypothesis_id": h, "champion": 1, "challenger": 2,
                   "window_start": "2026-02-15", "window_end": end, "champion_metrics": {"mae": 18.2},
                   "challenger_metrics": {"mae": 14.2}, "samples": 23911}),
        );
        assert_eq!(ev[0].event.payload["complete"], i == 1);
    }
    assert!(w
        .state()
        .alerts
        .values()
        .any(|a| a.alert_type == projections::state::AlertType::ShadowTestComplete));

    w.rejected(
        "maya",
        "experiment.complete",
        json!({"hypothesis_id": h, "decision": "partial_adopt", "adopt_segments": ["electronics"], "rationale": "mine"}),
        "role.not_allowed",
    );
    let events = w.ok(
        "colby",
        "experiment.complete",
        json!({"hypothesis_id": h, "decision": "partial_adopt", "adopt_segments": ["electronics"],
               "results": {"baseline_mae": 12.8, "electronics_mae": 14.2, "grocery_mae": 12.1, "apparel_mae": 13.5, "improvement_electronics_pct": 22.0},
               "rationale": "Electronics improved 22%; grocery marginal; apparel none."}),
    );
    assert_eq!(
        kinds(&events),
        ["experiment.completed", "champion.changed", "version.status_changed", "version.status_changed"]
    );
    assert_eq!(events[1].event.payload["cause"], "experiment");
    let m = w.state().model("demand").unwrap();
    assert_eq!(m.route(Some("electronics")), Some(2));
    assert_eq!(m.route(Some("grocery")), Some(1), "other segments fall back to the global champion");
    assert_eq!(m.route(None), Some(1));
    assert_eq!(m.versions[&3].status, VersionStatus::Archived);
    assert_eq!(m.versions[&4].status, VersionStatus::Archived);
    assert_eq!(
        m.champion_history["electronics"],
        vec![projections::state::ChampionChange {
            seq: events[1].seq(),
            version: 2,
            cause: ChampionCause::Experiment
        }]
    );
    assert_eq!(w.state().experiments[h].status, ExperimentStatus::Completed);
    assert!(w
        .state()
        .alerts
        .values()
        .any(|a| a.alert_type == projections::state::AlertType::ExperimentComplete));
    insta::assert_json_snapshot!("scenario_c_state", w.state());
    assert_timelines_agree(&w);
}

/// Every timeline as of any point of the scenario, cut from the head, is the replayed one
/// (and there were timelines to compare: the scenario's model, at every event).
fn assert_timelines_agree(w: &World) {
    let compared = snapshot_index_answers_agree(w).unwrap();
    assert!(compared >= 2 * w.ledger.store().len() as usize, "{compared} answers compared");
}
