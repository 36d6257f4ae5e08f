//! Given / when / then tests of every domain rule, including each rejection.

use projections::events::VersionStatus;
use serde_json::json;

use crate::harness::*;

#[test]
fn first_champion_needs_a_bootstrap_by_an_approver() {
    let mut w = World::new();
    let ev = w.ok("maya", "run.record", run("r1", "manual", 12.3, 0.2, 0.9));
    assert_eq!(
        kinds(&ev),
        ["run.recorded", "model.registered", "version.registered"],
        "the first run registers the model; no champion: nothing to judge against"
    );
    assert_eq!(w.state().model("demand").unwrap().task, Some(projections::events::Task::Forecast));
    assert_eq!(w.state().model("demand").unwrap().versions[&1].status, VersionStatus::Candidate);
    w.rejected(
        "maya",
        "champion.bootstrap",
        json!({"model": "demand", "segment": null, "version": 1}),
        "role.not_allowed",
    );
    let ev = w.ok("colby", "champion.bootstrap", json!({"model": "demand", "segment": null, "version": 1}));
    assert_eq!(ev[0].event.payload["cause"], "bootstrap");
    w.rejected(
        "colby",
        "champion.bootstrap",
        json!({"model": "demand", "segment": null, "version": 1}),
        "champion.exists",
    );
}

#[test]
fn promoting_a_version_of_another_model_is_rejected() {
    let mut w = with_champion();
    let mut body = run("r-other", "manual", 5.0, 0.1, 0.9);
    body["model"] = json!("returns");
    w.ok("maya", "run.record", body);
    // `returns` has v1 only; `demand` v2 does not exist.
    w.rejected(
        "colby",
        "champion.bootstrap",
        json!({"model": "demand", "segment": null, "version": 2}),
        "version.unknown",
    );
    w.rejected(
        "colby",
        "rollback",
        json!({"model": "returns", "segment": null, "version": 7, "reason": "x"}),
        "version.unknown",
    );
}

#[test]
fn arena_proposal_records_gates_and_needs_another_approver() {
    let mut w = with_champion();
    w.ok("scheduler", "run.record", run("r2", "new_data", 11.0, 0.17, 0.9));
    assert_eq!(
        w.state().model("demand").unwrap().versions[&2].status,
        VersionStatus::Challenger,
        "new_data is not auto-promoted"
    );
    let ev = w.ok("ana", "arena.propose", json!({"model": "demand", "segment": null}));
    let p = &ev[0].event.payload;
    assert_eq!(p["challenger"], 2);
    assert_eq!(p["passed"], true);
    assert_eq!(p["gates"].as_array().unwrap().len(), 3);
    let id = p["proposal_id"].as_str().unwrap().to_string();
    assert!(w
        .state()
        .alerts
        .values()
        .any(|a| a.alert_type == projections::state::AlertType::PromotionPending
            && a.severity == projections::state::Severity::Warning));
    w.rejected(
        "ana",
        "arena.propose",
        json!({"model": "demand", "segment": null, "challenger": 2}),
        "proposal.pending",
    );
    w.rejected("ana", "arena.approve", json!({"proposal_id": id}), "four_eyes");
    w.rejected("maya", "arena.approve", json!({"proposal_id": id}), "role.not_allowed");
    let ev = w.ok("colby", "arena.approve", json!({"proposal_id": id, "notes": "gates green"}));
    assert_eq!(kinds(&ev), ["promotion.approved", "champion.changed", "version.status_changed"]);
    assert_eq!(w.champion("demand", None), Some(2));
    w.rejected("colby", "arena.approve", json!({"proposal_id": id}), "proposal.decided");
    w.rejected("colby", "arena.reject", json!({"proposal_id": id, "reason": "late"}), "proposal.decided");
    w.rejected("colby", "arena.approve", json!({"proposal_id": "P-999"}), "proposal.unknown");
    // The pending alert was actioned by the approval.
    assert!(w
        .state()
        .alerts
        .values()
        .all(|a| a.alert_type != projections::state::AlertType::PromotionPending
            || a.status == projections::AlertStatus::Actioned));
}

#[test]
fn a_proposal_approved_through_its_alert_is_one_run_explained_by_the_action() {
    let mut w = with_champion();
    w.ok("scheduler", "run.record", run("r2", "new_data", 11.0, 0.17, 0.92));
    let ev = w.ok("maya", "arena.propose", json!({"model": "demand", "segment": null}));
    let alert = format!("A-{}", ev[0].hash.short());
    w.rejected("maya", "alert.action", json!({"alert_id": alert, "action": "approve"}), "role.not_allowed");
    let ev = w.ok("colby", "alert.action", json!({"alert_id": alert, "action": "approve", "notes": "green"}));
    assert_eq!(
        kinds(&ev),
        ["alert.actioned", "promotion.approved", "champion.changed", "version.status_changed"]
    );
    assert!(matches!(ev[0].event.cause, ledger::Cause::Command(_)));
    for later in &ev[1..] {
        let ledger::Cause::Event(h) = later.event.cause else {
            panic!("only the first event embeds the command")
        };
        assert!(
            ev.iter().any(|e| e.hash == h && e.seq() < later.seq()),
            "caused by an earlier event of the run"
        );
    }
    assert_eq!(w.champion("demand", None), Some(2));
    assert_eq!(w.state().alerts[&alert].status, projections::AlertStatus::Actioned);
    ledger::verify_store(w.ledger.store(), commands::app::verify::verifier(None)).unwrap();
}

#[test]
fn rejected_proposal_keeps_the_champion() {
    let mut w = with_champion();
    w.ok("scheduler", "run.record", run("r2", "new_data", 12.0, 0.19, 0.9));
    let ev = w.ok("maya", "arena.propose", json!({"model": "demand", "segment": null}));
    assert_eq!(ev[0].event.payload["passed"], false);
    let id = ev[0].event.payload["proposal_id"].as_str().unwrap().to_string();
    w.ok("colby", "arena.reject", json!({"proposal_id": id, "reason": "segment regression"}));
    assert_eq!(w.champion("demand", None), Some(1));
    assert_eq!(w.state().proposals[&id].status, projections::state::ProposalStatus::Rejected);
}

#[test]
fn rollback_restores_only_a_version_that_served() {
    let mut w = with_champion();
    w.ok("scheduler", "run.record", run("r2", "scheduled", 11.0, 0.17, 0.91));
    w.ok("scheduler", "run.record", run("r3", "scheduled", 11.0, 0.17, 0.91));
    assert_eq!(w.champion("demand", None), Some(2));
    w.rejected(
        "colby",
        "rollback",
        json!({"model": "demand", "segment": null, "version": 3, "reason": "x"}),
        "rollback.never_served",
    );
    w.rejected(
        "colby",
        "rollback",
        json!({"model": "demand", "segment": null, "version": 2, "reason": "x"}),
        "rollback.current",
    );
    w.rejected(
        "maya",
        "rollback",
        json!({"model": "demand", "segment": null, "version": 1, "reason": "x"}),
        "role.not_allowed",
    );
    let ev = w.ok(
        "colby",
        "rollback",
        json!({"model": "demand", "segment": null, "version": 1, "reason": "v2 misbehaves on holidays"}),
    );
    assert_eq!(ev[0].event.payload["cause"], "rollback");
    assert_eq!(w.champion("demand", None), Some(1));
}

#[test]
fn experiment_state_machine_rules() {
    let mut w = with_champion();
    let h = json!({"hypothesis_id": "H-1", "model": "demand", "statement": "s", "change_type": "feature",
                   "target_metric": "mae", "expected_improvement_pct": 8.0, "owner": "maya"});
    w.ok("maya", "hypothesis.propose", h.clone());
    w.rejected("maya", "hypothesis.propose", h, "hypothesis.exists");
    let complete = json!({"hypothesis_id": "H-1", "decision": "adopt", "rationale": "r"});
    w.rejected("maya", "experiment.complete", complete.clone(), "experiment.not_approved");
    w.rejected("maya", "experiment.start", json!({"hypothesis_id": "H-1"}), "experiment.not_approved");
    let mut exp_run = run("r-x", "experiment", 11.0, 0.17, 0.9);
    exp_run["hypothesis_id"] = json!("H-1");
    w.rejected("maya", "run.record", exp_run.clone(), "experiment.not_approved");
    w.ok("colby", "experiment.approve", json!({"hypothesis_id": "H-1", "rationale": "ok"}));
    w.rejected(
        "colby",
        "experiment.reject",
        json!({"hypothesis_id": "H-1", "rationale": "no"}),
        "experiment.already_reviewed",
    );
    w.rejected("maya", "experiment.complete", complete.clone(), "experiment.not_started");
    w.rejected("maya", "experiment.shadow", json!({"hypothesis_id": "H-1"}), "experiment.state");
    w.ok("maya", "experiment.start", json!({"hypothesis_id": "H-1"}));
    w.ok("maya", "run.record", exp_run);
    assert_eq!(
        w.state().model("demand").unwrap().versions[&2].status,
        VersionStatus::Experimental,
        "experimental until completion"
    );
    assert_eq!(w.champion("demand", None), Some(1));
    w.rejected("colby", "experiment.complete", complete.clone(), "experiment.shadow_required");
    w.ok("maya", "experiment.shadow", json!({"hypothesis_id": "H-1", "planned_windows": 1}));
    w.rejected("colby", "experiment.complete", complete.clone(), "experiment.shadow_incomplete");
    w.ok(
        "scheduler",
        "shadow.record",
        json!({"model": "demand", "segment": null, "hypothesis_id": "H-1", "champion": 1, "challenger": 2,
               "window_start": "2026-02-01", "window_end": "2026-02-08", "champion_metrics": {"mae": 12.3},
               "challenger_metrics": {"mae": 11.0}, "samples": 400}),
    );
    let ev = w.ok("colby", "experiment.complete", complete.clone());
    assert_eq!(ev[0].event.payload["criterion"]["met"], true, "MAE 12.3 -> 11.0 is 10.6% better than 8%");
    assert_eq!(w.champion("demand", None), Some(2));
    w.rejected("colby", "experiment.complete", complete, "experiment.completed");
}

#[test]
fn four_eyes_on_experiment_review() {
    let mut w = with_champion();
    w.ok(
        "ana",
        "hypothesis.propose",
        json!({"hypothesis_id": "H-2", "model": "demand", "statement": "s", "change_type": "data",
        "target_metric": "mae", "expected_improvement_pct": 5.0, "owner": "ana"}),
    );
    w.rejected(
        "ana",
        "experiment.approve",
        json!({"hypothesis_id": "H-2", "rationale": "mine"}),
        "four_eyes",
    );
}

#[test]
fn drift_below_threshold_raises_nothing() {
    let mut w = with_champion();
    let ev = w.ok("scheduler", "drift.record", json!({"model": "demand", "baseline": 12.8, "recent": 14.0}));
    assert_eq!(ev[0].event.payload["exceeded"], false);
    assert!(w.state().alerts.is_empty());
    // Feature drift alone (PSI above 0.2) is enough.
    let ev = w.ok(
        "scheduler",
        "drift.record",
        json!({"model": "demand", "baseline": 12.8, "recent": 12.9, "psi": {"weekday": 0.31}}),
    );
    assert_eq!(ev[0].event.payload["exceeded"], true);
}

#[test]
fn drift_retrain_must_name_its_alert_and_is_never_auto_promoted() {
    let mut w = with_champion();
    w.invalid("scheduler", "run.record", run("r-d", "drift_detected", 5.0, 0.1, 0.99));
    let mut body = run("r-d", "drift_detected", 5.0, 0.1, 0.99);
    body["drift_alert_id"] = json!("A-000000000000");
    w.rejected("scheduler", "run.record", body, "alert.unknown");
}

#[test]
fn malformed_bodies_are_invalid_and_write_nothing() {
    let mut w = with_champion();
    let mut body = run("r9", "manual", 11.0, 0.17, 0.9);
    body["metrics"]["mae"] = json!("eleven");
    w.invalid("maya", "run.record", body);
    let mut body = run("r9", "manual", 11.0, 0.17, 0.9);
    body["surprise"] = json!(1);
    assert!(w.invalid("maya", "run.record", body).contains("unknown field"));
    let mut body = run("r9", "manual", 11.0, 0.17, 0.9);
    body["dataset_digest"] = json!("not-a-digest");
    w.invalid("maya", "run.record", body);
    w.invalid("maya", "hypothesis.propose", json!({"hypothesis_id": "H", "model": "demand"}));
    w.invalid("colby", "alert.action", json!({"alert_id": "A-x"}));
    w.rejected("maya", "run.record", run("r1", "manual", 11.0, 0.17, 0.9), "run.exists");
}

#[test]
fn missing_gate_metric_is_named() {
    let mut w = with_champion();
    let mut body = run("r5", "scheduled", 11.0, 0.17, 0.9);
    body["models"][0]["metrics"] = json!({"mae": 11.0});
    let m = w.rejected("scheduler", "run.record", body, "promotion.missing_metric");
    assert!(m.contains("`mape`"), "{m}");
}

#[test]
fn higher_is_better_gates_work_for_auc() {
    let mut policy = commands::domain::default_policy();
    policy["promotion"]["gates"]["classification"] =
        json!([{"metric": "auc", "direction": "higher", "margin": 0.01, "strict": true}]);
    let mut w = World::with_policy(policy);
    let body = |id: &str, auc: f64| {
        json!({"run_id": id, "model": "churn", "task": "classification", "trigger": "scheduled", "dataset_digest": DIGEST,
        "trainer": "pledge-trainer", "metrics": {"auc": auc}, "models": [{"segment": null, "artifact_digest": DIGEST, "metrics": {"auc": auc}}]})
    };
    w.ok("scheduler", "run.record", body("a", 0.80));
    w.ok("colby", "champion.bootstrap", json!({"model": "churn", "segment": null, "version": 1}));
    w.ok("scheduler", "run.record", body("b", 0.805)); // +0.6%: not enough
    assert_eq!(w.champion("churn", None), Some(1));
    w.ok("scheduler", "run.record", body("c", 0.82)); // +2.5%
    assert_eq!(w.champion("churn", None), Some(3));
}

#[test]
fn alerts_can_be_read_and_dismissed_by_anyone_allowed() {
    let mut w = with_champion();
    let ev = w.ok(
        "scheduler",
        "dataset.register",
        json!({"dataset": "transactions", "version": "20260301", "digest": DIGEST, "rows": 120000}),
    );
    let id = format!("A-{}", ev[0].hash.short());
    assert_eq!(w.state().alerts[&id].alert_type, projections::state::AlertType::NewDataSourceReady);
    w.rejected(
        "scheduler",
        "dataset.register",
        json!({"dataset": "transactions", "version": "20260301", "digest": DIGEST}),
        "dataset.exists",
    );
    w.invalid("colby", "alert.action", json!({"alert_id": id, "action": "snooze"}));
    w.ok("maya", "alert.action", json!({"alert_id": id, "action": "dismiss", "notes": "schema checked"}));
    assert_eq!(w.state().alerts[&id].status, projections::AlertStatus::Dismissed);
    let m = w.rejected("colby", "alert.action", json!({"alert_id": id, "action": "dismiss"}), "alert.closed");
    assert!(m.contains(&format!("`{id}` is already dismissed")), "{m}");
    w.rejected("colby", "alert.read", json!({"alert_id": "A-nope"}), "alert.unknown");
}

#[test]
fn backtest_degradation_of_the_champion_raises_a_warning() {
    let mut w = with_champion();
    let ok = w.ok("scheduler", "backtest.record", json!({"model": "demand", "version": 1, "window_start": "2026-02-01", "window_end": "2026-02-08", "metrics": {"mae": 12.9}, "rows": 5000}));
    assert_eq!(ok[0].event.payload["degraded"], false);
    let bad = w.ok("scheduler", "backtest.record", json!({"model": "demand", "version": 1, "window_start": "2026-02-08", "window_end": "2026-02-15", "metrics": {"mae": 15.1}, "rows": 5000}));
    assert_eq!(bad[0].event.payload["degraded"], true);
    assert!(w
        .state()
        .alerts
        .values()
        .any(|a| a.alert_type == projections::state::AlertType::BacktestDegradation
            && a.severity == projections::state::Severity::Warning));
    assert_eq!(w.state().model("demand").unwrap().versions[&1].backtests.len(), 2);
}

#[test]
fn release_needs_green_production_gates() {
    let mut w = with_champion();
    let ev = w.ok("scheduler", "drift.record", json!({"model": "demand", "baseline": 12.8, "recent": 18.5}));
    let alert = format!("A-{}", ev[0].hash.short());
    let counts = w.state().alert_counts();
    assert_eq!(counts.open_by_severity.get("critical"), Some(&1));
    let m = w.rejected(
        "colby",
        "release.decide",
        json!({"model": "demand", "decision": "release"}),
        "release.gates_red",
    );
    assert!(m.contains("no_open_critical_alert") && m.contains(&alert), "{m}");
    w.rejected("maya", "release.decide", json!({"model": "demand", "decision": "hold"}), "role.not_allowed");
    let hold = w.ok(
        "colby",
        "release.decide",
        json!({"model": "demand", "decision": "hold", "notes": "drift under review"}),
    );
    assert_eq!(hold[0].event.payload["green"], false);
    w.ok("colby", "alert.action", json!({"alert_id": alert, "action": "dismiss", "notes": "data glitch"}));
    assert!(w.state().alert_counts().open_by_severity.is_empty());
    let m = w.rejected(
        "colby",
        "release.decide",
        json!({"model": "demand", "decision": "release"}),
        "release.gates_red",
    );
    assert!(
        m.contains("champions_backtested") && m.contains("v1"),
        "a champion without a backtest is not green: {m}"
    );
    w.ok(
        "scheduler",
        "backtest.record",
        json!({"model": "demand", "version": 1, "window_start": "2026-02-01", "window_end": "2026-02-08",
               "metrics": {"mae": 12.4}, "rows": 5000}),
    );
    let ev = w.ok("colby", "release.decide", json!({"model": "demand", "decision": "release"}));
    assert_eq!(ev[0].event.payload["green"], true);
    assert_eq!(ev[0].event.payload["gates"].as_array().unwrap().len(), 5);
    assert_eq!(w.state().releases["demand"].len(), 2);
    assert_snapshot_round_trips(w.state(), "releases, a dismissed alert, a backtest window");
    w.invalid("colby", "release.decide", json!({"model": "demand", "decision": "ship-it"}));
    w.rejected("colby", "release.decide", json!({"model": "nope", "decision": "hold"}), "model.unknown");
}
