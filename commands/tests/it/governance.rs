//! Governance without holes: each way a reviewer walked past a rule, now a refused command with
//! a named rule that writes nothing (`harness::World::rejected` checks the head), and the
//! regression tests of the three rules that had drifted apart.

use projections::events::VersionStatus;
use projections::state::{AlertType, ProposalStatus};
use projections::AlertStatus;
use serde_json::{json, Value};

use crate::harness::*;

fn hypothesis(w: &mut World, id: &str, by: &str) {
    w.ok(
        by,
        "hypothesis.propose",
        json!({"hypothesis_id": id, "model": "demand", "statement": "s", "change_type": "feature",
               "target_metric": "mae", "expected_improvement_pct": 8.0, "owner": by}),
    );
}

/// Given: `demand` with champion v1, hypothesis H-1 by maya approved by colby and started,
/// and experimental v2 (MAE 11.0) from maya's run.
fn started_experiment() -> World {
    let mut w = with_champion();
    hypothesis(&mut w, "H-1", "maya");
    w.ok("colby", "experiment.approve", json!({"hypothesis_id": "H-1", "rationale": "ok"}));
    w.ok("maya", "experiment.start", json!({"hypothesis_id": "H-1"}));
    let mut r = run("r-x", "experiment", 11.0, 0.17, 0.9);
    r["hypothesis_id"] = json!("H-1");
    w.ok("maya", "run.record", r);
    w
}

fn shadow(
    w: &mut World,
    segment: Option<&str>,
    challenger: u64,
    champion_mae: f64,
    mae: f64,
) -> Vec<ledger::RecordedEvent> {
    w.ok(
        "scheduler",
        "shadow.record",
        json!({"model": "demand", "segment": segment, "hypothesis_id": "H-1", "champion": 1, "challenger": challenger,
               "window_start": "2026-02-01", "window_end": "2026-02-08", "champion_metrics": {"mae": champion_mae},
               "challenger_metrics": {"mae": mae}, "samples": 100}),
    )
}

fn adopt() -> Value {
    json!({"hypothesis_id": "H-1", "decision": "adopt", "rationale": "better"})
}

#[test]
fn adopting_an_experiment_is_an_approvers_decision_after_the_shadow_test() {
    let mut w = started_experiment();
    // A scientist may abandon it, but not adopt it.
    w.rejected("maya", "experiment.complete", adopt(), "role.not_allowed");
    // The shadow stage is not skipped.
    w.rejected("colby", "experiment.complete", adopt(), "experiment.shadow_required");
    w.ok("maya", "experiment.shadow", json!({"hypothesis_id": "H-1", "planned_windows": 2}));
    shadow(&mut w, None, 2, 12.3, 11.0);
    let m = w.rejected("colby", "experiment.complete", adopt(), "experiment.shadow_incomplete");
    assert!(m.contains("1 of 2"), "{m}");
    shadow(&mut w, None, 2, 12.4, 11.1);
    assert_eq!(w.champion("demand", None), Some(1));
    let ev = w.ok("colby", "experiment.complete", adopt());
    assert_eq!(kinds(&ev), ["experiment.completed", "champion.changed", "version.status_changed"]);
    assert_eq!(w.champion("demand", None), Some(2));
}

#[test]
fn the_proposer_or_a_recorder_of_its_runs_may_not_adopt_an_experiment() {
    // ana (approver and scientist) proposed it.
    let mut w = with_champion();
    hypothesis(&mut w, "H-1", "ana");
    w.ok("colby", "experiment.approve", json!({"hypothesis_id": "H-1", "rationale": "ok"}));
    w.ok("ana", "experiment.start", json!({"hypothesis_id": "H-1"}));
    let mut r = run("r-x", "experiment", 11.0, 0.17, 0.9);
    r["hypothesis_id"] = json!("H-1");
    w.ok("maya", "run.record", r);
    w.ok("ana", "experiment.shadow", json!({"hypothesis_id": "H-1", "planned_windows": 1}));
    shadow(&mut w, None, 2, 12.3, 11.0);
    let m = w.rejected("ana", "experiment.complete", adopt(), "four_eyes");
    assert!(m.contains("proposed"), "{m}");
    // colby (granted `scientist` too) recorded a run of it.
    let mut w = started_experiment();
    w.ok("root", "role.grant", json!({"principal": "colby", "role": "scientist"}));
    let mut r = run("r-y", "experiment", 11.5, 0.18, 0.9);
    r["hypothesis_id"] = json!("H-1");
    w.ok("colby", "run.record", r);
    w.ok("maya", "experiment.shadow", json!({"hypothesis_id": "H-1", "planned_windows": 1}));
    shadow(&mut w, None, 2, 12.3, 11.0);
    let m = w.rejected("colby", "experiment.complete", adopt(), "four_eyes");
    assert!(m.contains("recorded runs"), "{m}");
    w.ok("ana", "experiment.complete", adopt());
}

#[test]
fn a_policy_may_allow_adoption_without_a_shadow_test() {
    let mut p = commands::domain::default_policy();
    p["shadow"]["required"] = json!(false);
    let mut w = World::with_policy(p);
    w.ok("maya", "run.record", run("r1", "manual", 12.3, 0.20, 0.90));
    w.ok("colby", "champion.bootstrap", json!({"model": "demand", "segment": null, "version": 1}));
    hypothesis(&mut w, "H-1", "maya");
    w.ok("colby", "experiment.approve", json!({"hypothesis_id": "H-1", "rationale": "ok"}));
    w.ok("maya", "experiment.start", json!({"hypothesis_id": "H-1"}));
    let mut r = run("r-x", "experiment", 11.0, 0.17, 0.9);
    r["hypothesis_id"] = json!("H-1");
    w.ok("maya", "run.record", r);
    let ev = w.ok("colby", "experiment.complete", adopt());
    let c = &ev[0].event.payload["criterion"];
    assert_eq!(c["evidence"][0]["source"], "registered", "no shadow windows: the registered metrics");
    assert_eq!(w.champion("demand", None), Some(2));
}

#[test]
fn the_criterion_is_judged_on_the_evidence_and_a_decision_against_it_is_visible() {
    let mut w = started_experiment();
    w.ok("maya", "experiment.shadow", json!({"hypothesis_id": "H-1", "planned_windows": 2}));
    // Shadow: 12.0 -> 11.5 (4.2%), 12.0 -> 11.7 (2.5%): well short of the expected 8%.
    shadow(&mut w, None, 2, 12.0, 11.5);
    shadow(&mut w, None, 2, 12.0, 11.7);
    let ev = w.ok("colby", "experiment.complete", adopt());
    let c = &ev[0].event.payload["criterion"];
    assert_eq!((c["metric"].as_str(), c["direction"].as_str()), (Some("mae"), Some("lower")));
    assert_eq!(c["evidence"][0]["source"], "shadow");
    assert!((c["evidence"][0]["challenger_value"].as_f64().unwrap() - 11.6).abs() < 1e-9);
    assert!((c["evidence"][0]["improvement_pct"].as_f64().unwrap() - 3.333).abs() < 1e-3);
    assert_eq!(c["met"], false);
    let summary = projections::query::summarize(&ev[0]);
    assert!(summary.contains("against the evidence"), "{summary}");
}

#[test]
fn approving_a_proposal_whose_gates_failed_needs_a_recorded_override() {
    let mut w = with_champion();
    w.ok("scheduler", "run.record", run("r2", "new_data", 12.0, 0.19, 0.9));
    let ev = w.ok("maya", "arena.propose", json!({"model": "demand", "segment": null}));
    assert_eq!(ev[0].event.payload["passed"], false);
    let id = ev[0].event.payload["proposal_id"].as_str().unwrap().to_string();
    let m = w.rejected("colby", "arena.approve", json!({"proposal_id": id}), "promotion.gates_failed");
    assert!(m.contains("mae 12 vs threshold"), "{m}");
    assert!(w
        .invalid("colby", "arena.approve", json!({"proposal_id": id, "override_reason": "   "}))
        .contains("override_reason"));
    let ev = w.ok(
        "colby",
        "arena.approve",
        json!({"proposal_id": id, "notes": "n", "override_reason": "holiday peak: MAE is the wrong yardstick"}),
    );
    assert_eq!(ev[0].event.payload["override_reason"], "holiday peak: MAE is the wrong yardstick");
    assert_eq!(w.champion("demand", None), Some(2));
    let timeline =
        projections::query::timeline(w.ledger.store(), w.ledger.trust(), w.state(), "demand", None).unwrap();
    assert!(timeline.iter().any(|e| e.summary.contains("overriding failed gates: holiday peak")));
}

#[test]
fn an_override_is_only_for_failed_gates() {
    let mut w = with_champion();
    w.ok("scheduler", "run.record", run("r2", "new_data", 11.0, 0.17, 0.9));
    let ev = w.ok("maya", "arena.propose", json!({"model": "demand", "segment": null}));
    let id = ev[0].event.payload["proposal_id"].as_str().unwrap().to_string();
    w.invalid("colby", "arena.approve", json!({"proposal_id": id, "override_reason": "just because"}));
}

/// Given: a critical drift alert on `demand` and `n` drift retrains answering it (v2, v3...).
fn drift_with_retrains(n: usize) -> (World, String) {
    let mut w = with_champion();
    let ev = w.ok("scheduler", "drift.record", json!({"model": "demand", "baseline": 12.8, "recent": 18.5}));
    let alert = format!("A-{}", ev[0].hash.short());
    for i in 0..n {
        let mut r = run(&format!("r-d{i}"), "drift_detected", 10.9 + i as f64, 0.15, 0.92);
        r["drift_alert_id"] = json!(alert);
        w.ok("maya", "run.record", r);
    }
    (w, alert)
}

#[test]
fn approving_a_drift_alert_names_the_version_and_an_ambiguous_approval_is_refused() {
    let (mut w, alert) = drift_with_retrains(2);
    let approve =
        |v: Option<u64>| json!({"alert_id": alert, "action": "approve", "notes": "ok", "version": v});
    let m = w.rejected("colby", "alert.action", approve(None), "alert.ambiguous");
    assert!(m.contains("v2") && m.contains("v3"), "{m}");
    w.rejected("colby", "alert.action", approve(Some(1)), "alert.version");
    let ev = w.ok("colby", "alert.action", approve(Some(3)));
    assert_eq!(ev[0].event.payload["version"], 3);
    assert_eq!(w.champion("demand", None), Some(3));
    assert_eq!(w.state().model("demand").unwrap().versions[&2].status, VersionStatus::Challenger);
    // With one retrain the version may go unnamed, and is recorded.
    let (mut w, alert) = drift_with_retrains(1);
    let ev = w.ok("colby", "alert.action", json!({"alert_id": alert, "action": "approve"}));
    assert_eq!(ev[0].event.payload["version"], 2);
    // With none there is nothing to approve.
    let (mut w, alert) = drift_with_retrains(0);
    w.rejected(
        "colby",
        "alert.action",
        json!({"alert_id": alert, "action": "approve"}),
        "alert.nothing_to_approve",
    );
}

#[test]
fn info_alerts_are_acknowledged_or_dismissed_never_approved() {
    let mut w = with_champion();
    let ev =
        w.ok("scheduler", "dataset.register", json!({"dataset": "sales", "version": "v2", "digest": DIGEST}));
    let id = format!("A-{}", ev[0].hash.short());
    assert_eq!(w.state().alerts[&id].alert_type, AlertType::NewDataSourceReady);
    let m = w.rejected(
        "colby",
        "alert.action",
        json!({"alert_id": id, "action": "approve"}),
        "alert.not_approvable",
    );
    assert!(m.contains("acknowledge or dismiss"), "{m}");
    w.invalid("colby", "alert.action", json!({"alert_id": id, "action": "acknowledge", "version": 1}));
    w.ok("maya", "alert.action", json!({"alert_id": id, "action": "acknowledge", "notes": "schema checked"}));
    assert_eq!(w.state().alerts[&id].status, AlertStatus::Acknowledged);
    w.rejected("colby", "alert.action", json!({"alert_id": id, "action": "dismiss"}), "alert.closed");
}

#[test]
fn metric_values_are_checked_against_their_domain() {
    let mut w = with_champion();
    let m = w.invalid("maya", "run.record", run("r2", "manual", -1.0, 0.17, 0.9));
    assert!(m.contains("`mae`") && m.contains("cannot be negative"), "{m}");
    let m = w.invalid("maya", "run.record", run("r2", "manual", 11.0, 0.17, 1.3));
    assert!(m.contains("`coverage`") && m.contains("between 0 and 1"), "{m}");
    let m = w.invalid(
        "scheduler",
        "backtest.record",
        json!({"model": "demand", "version": 1, "window_start": "2026-01-01", "window_end": "2026-01-08",
               "metrics": {"roc_auc": 1.01}, "rows": 5}),
    );
    assert!(m.contains("roc_auc"), "{m}");
    w.invalid("scheduler", "drift.record", json!({"model": "demand", "baseline": 12.0, "recent": -3.0}));
    w.invalid(
        "scheduler",
        "drift.record",
        json!({"model": "demand", "baseline": 12.0, "recent": 13.0, "psi": {"x": -0.1}}),
    );
    w.invalid(
        "colby",
        "experiment.complete",
        json!({"hypothesis_id": "H-none", "decision": "reject", "rationale": "r", "results": {"mape": -2.0}}),
    );
}

#[test]
fn window_bounds_are_timestamps_or_declared_periods_in_order() {
    let mut w = with_champion();
    let bt = |from: &str, to: &str| json!({"model": "demand", "version": 1, "window_start": from, "window_end": to, "metrics": {"mae": 12.0}, "rows": 5});
    let m = w.invalid("scheduler", "backtest.record", bt("banana", "2020-01-01"));
    assert!(m.contains("`banana`"), "{m}");
    let m = w.invalid("scheduler", "backtest.record", bt("2026-03-01", "2026-02-01"));
    assert!(m.contains("ends before it starts"), "{m}");
    w.ok("scheduler", "backtest.record", bt("2026-W07", "2026-W08"));
    w.ok("scheduler", "backtest.record", bt("2026-02-01T00:00:00Z", "2026-02-08T00:00:00Z"));
    // A run declares its time axis' labels; its windows may use them, in their order.
    let mut r = run("r2", "new_data", 11.0, 0.17, 0.9);
    r["periods"] = json!(["Jan", "Feb", "Mar"]);
    r["backtests"] = json!([{"segment": null, "window_start": "Mar", "window_end": "Feb", "metrics": {"mae": 11.0}, "rows": 9}]);
    assert!(w.invalid("maya", "run.record", r.clone()).contains("ends before it starts"));
    r["backtests"][0]["window_start"] = json!("Feb");
    r["backtests"][0]["window_end"] = json!("Mar");
    w.ok("maya", "run.record", r);
    w.ok(
        "scheduler",
        "backtest.record",
        json!({"model": "demand", "version": 2, "window_start": "Jan",
        "window_end": "Jan", "metrics": {"mae": 11.2}, "rows": 3}),
    );
    let m = w.invalid(
        "scheduler",
        "backtest.record",
        json!({"model": "demand", "version": 1, "window_start": "Jan", "window_end": "Jan", "metrics": {"mae": 11.2}, "rows": 3}),
    );
    assert!(m.contains("`Jan`"), "v1's run declared no periods: {m}");
}

#[test]
fn duplicate_keys_in_a_signed_command_are_refused() {
    let mut w = with_champion();
    let cmd = ledger::Command {
        id: uuid::Uuid::parse_str("019c5e00-0000-7000-8000-00000000ffff").unwrap(),
        ledger: ledger_id(),
        issued_at: ledger::canonical::Timestamp::parse_exact(T0).unwrap(),
        kind: "drift.record".into(),
        body: json!({"model": "demand", "baseline": 12.0, "recent": 13.0}),
    };
    let mut env = cmd.sign(&key("scheduler")).unwrap();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let text = String::from_utf8(b64.decode(&env.payload).unwrap()).unwrap();
    let doubled = text.replacen("\"recent\":13", "\"recent\":13,\"recent\":30", 1);
    assert_ne!(doubled, text);
    env.payload = b64.encode(doubled);
    let head = w.ledger.store().head();
    match w.ledger.submit(env, ledger::ExpectedHead::Any) {
        Err(ledger::SubmitError::Invalid(m)) => assert!(m.contains("recent") && m.contains("twice"), "{m}"),
        other => panic!("a command with a duplicate key must be invalid: {other:?}"),
    }
    assert_eq!(w.ledger.store().head(), head);
}

#[test]
fn a_run_may_not_cite_a_hypothesis_that_was_never_proposed() {
    let mut w = with_champion();
    for trigger in ["manual", "experiment"] {
        let mut r = run("r2", trigger, 11.0, 0.17, 0.9);
        r["hypothesis_id"] = json!("H-404");
        w.rejected("maya", "run.record", r, "experiment.unknown");
    }
    // Citing one that exists is fine; only the experiment's own runs produce its versions.
    hypothesis(&mut w, "H-1", "maya");
    let mut r = run("r2", "manual", 11.0, 0.17, 0.9);
    r["hypothesis_id"] = json!("H-1");
    w.ok("maya", "run.record", r);
    assert!(w.state().experiments["H-1"].versions.is_empty());
    let mut r = run("r3", "manual", 11.0, 0.17, 0.9);
    r["drift_alert_id"] = json!("A-000000000000");
    w.invalid("maya", "run.record", r);
}

/// Given: `demand` with a global champion v1 and a segmented-router run: a global model and an
/// `electronics` model, each with (or without) figures of v1 on its own evaluation rows.
fn router_run(with_baseline: bool) -> Value {
    let seg_metrics = json!({"mae": 9.0, "mape": 0.15, "coverage": 0.9});
    let mut r = run("r-router", "scheduled", 12.3, 0.20, 0.90);
    r["models"] = json!([
        {"segment": null, "artifact_digest": DIGEST, "metrics": {"mae": 12.3, "mape": 0.20, "coverage": 0.9}},
        {"segment": "electronics", "artifact_digest": DIGEST, "metrics": seg_metrics},
    ]);
    if with_baseline {
        r["models"][0]["baseline"] =
            json!({"version": 1, "metrics": {"mae": 12.3, "mape": 0.20, "coverage": 0.9}});
        r["models"][1]["baseline"] =
            json!({"version": 1, "metrics": {"mae": 10.0, "mape": 0.17, "coverage": 0.9}});
    }
    r
}

#[test]
fn a_segmented_router_is_judged_per_segment_on_its_own_evidence() {
    let mut w = with_champion();
    let ev = w.ok("scheduler", "run.record", router_run(true));
    let evals: Vec<&Value> =
        ev.iter().filter(|e| e.event.kind == "promotion.evaluated").map(|e| &e.event.payload).collect();
    assert_eq!(evals.len(), 2);
    // The global model is the champion's twin: not better, not promoted.
    assert_eq!(
        (evals[0]["evidence"].as_str(), evals[0]["passed"].as_bool()),
        (Some("baseline"), Some(false))
    );
    // The electronics model beats v1 on electronics' rows (9.0 vs 10.0), not v1's overall 12.3.
    assert_eq!(evals[1]["gates"][0]["champion"], 10.0);
    assert_eq!(evals[1]["passed"], true);
    assert_eq!(w.champion("demand", Some("electronics")), Some(3));
    assert_eq!(w.champion("demand", None), Some(1));

    // Without figures of the serving version on the segment's rows, the segment model is not
    // judged against the global champion's overall figures: it waits as a challenger.
    let mut w = with_champion();
    let ev = w.ok("scheduler", "run.record", router_run(false));
    assert_eq!(ev.iter().filter(|e| e.event.kind == "promotion.evaluated").count(), 1);
    let seg = w.state().model("demand").unwrap().versions[&3].clone();
    assert_eq!(seg.status, VersionStatus::Challenger);
    assert_eq!(w.champion("demand", Some("electronics")), None);

    // A baseline of a version that does not serve the segment is stale.
    let mut w = with_champion();
    w.ok("scheduler", "run.record", run("r2", "new_data", 12.0, 0.19, 0.9));
    let mut r = router_run(true);
    r["models"][1]["baseline"]["version"] = json!(2);
    w.rejected("scheduler", "run.record", r, "promotion.baseline_stale");
}

#[test]
fn shadow_test_complete_counts_windows_per_segment() {
    let mut w = with_champion();
    hypothesis(&mut w, "H-1", "maya");
    w.ok("colby", "experiment.approve", json!({"hypothesis_id": "H-1", "rationale": "ok"}));
    w.ok("maya", "experiment.start", json!({"hypothesis_id": "H-1"}));
    let mut r = run("r-x", "experiment", 11.0, 0.17, 0.9);
    r["hypothesis_id"] = json!("H-1");
    r["models"] = json!([
        {"segment": "electronics", "artifact_digest": DIGEST, "metrics": {"mae": 11.0, "mape": 0.17, "coverage": 0.9}},
        {"segment": "grocery", "artifact_digest": DIGEST, "metrics": {"mae": 11.0, "mape": 0.17, "coverage": 0.9}},
    ]);
    w.ok("maya", "run.record", r);
    w.ok("maya", "experiment.shadow", json!({"hypothesis_id": "H-1", "planned_windows": 2}));
    let complete = |ev: &[ledger::RecordedEvent]| ev[0].event.payload["complete"].as_bool().unwrap();
    assert!(!complete(&shadow(&mut w, Some("electronics"), 2, 12.0, 11.0)));
    assert!(!complete(&shadow(&mut w, Some("grocery"), 3, 12.0, 11.0)), "one window each: not two");
    let alerts = |w: &World| {
        w.state().alerts.values().filter(|a| a.alert_type == AlertType::ShadowTestComplete).count()
    };
    assert_eq!(alerts(&w), 0);
    assert!(complete(&shadow(&mut w, Some("electronics"), 2, 12.0, 11.0)));
    assert_eq!(alerts(&w), 1);
    assert_eq!(w.state().experiments["H-1"].shadow_windows["electronics"], 2);
    assert_eq!(w.state().experiments["H-1"].shadow_windows["grocery"], 1);
    // Electronics may be adopted; grocery's test is not complete.
    let m = w.rejected("colby", "experiment.complete", adopt(), "experiment.shadow_incomplete");
    assert!(m.contains("grocery") && !m.contains("electronics"), "{m}");
    w.ok(
        "colby",
        "experiment.complete",
        json!({"hypothesis_id": "H-1", "decision": "partial_adopt", "adopt_segments": ["electronics"], "rationale": "r"}),
    );
    // A window for a version that is not the experiment's is refused.
    w.rejected(
        "scheduler",
        "shadow.record",
        json!({"model": "demand", "segment": null, "hypothesis_id": "H-1", "champion": 1, "challenger": 1,
               "window_start": "2026-02-01", "window_end": "2026-02-08", "champion_metrics": {"mae": 1.0},
               "challenger_metrics": {"mae": 1.0}, "samples": 1}),
        "experiment.state",
    );
}

/// A policy that wants `k` approvers for `demand` (and 3 for its `eu` segment).
fn k_of_n(k: u32) -> World {
    let mut p = commands::domain::default_policy();
    p["models"] = json!({"demand": {"approvals": k, "segments": {"eu": {"approvals": 3}}}});
    let mut w = World::with_policy(p);
    w.ok("root", "role.grant", json!({"principal": "root", "role": "approver"}));
    w.ok("maya", "run.record", run("r1", "manual", 12.3, 0.20, 0.90));
    w.ok("colby", "champion.bootstrap", json!({"model": "demand", "segment": null, "version": 1}));
    w
}

#[test]
fn a_promotion_can_need_k_distinct_approvers_and_one_person_counts_once() {
    let mut w = k_of_n(2);
    w.ok("scheduler", "run.record", run("r2", "new_data", 11.0, 0.17, 0.9));
    let ev = w.ok("maya", "arena.propose", json!({"model": "demand", "segment": null}));
    let id = ev[0].event.payload["proposal_id"].as_str().unwrap().to_string();
    let ev = w.ok("colby", "arena.approve", json!({"proposal_id": id, "notes": "first"}));
    assert_eq!(kinds(&ev), ["promotion.endorsed"]);
    assert_eq!(
        (ev[0].event.payload["approvals"].as_u64(), ev[0].event.payload["required"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(w.champion("demand", None), Some(1), "one approval of two promotes nothing");
    assert_eq!(w.state().proposals[&id].status, ProposalStatus::Pending);
    assert_snapshot_round_trips(w.state(), "a proposal's endorsement pending");
    let m = w.rejected("colby", "arena.approve", json!({"proposal_id": id}), "approval.repeated");
    assert!(m.contains("2 different approvers"), "{m}");
    // The pending alert counts as the same approval.
    let alert = w.state().alerts.values().find(|a| a.proposal_id.as_deref() == Some(&id)).unwrap().id.clone();
    w.rejected("colby", "alert.action", json!({"alert_id": alert, "action": "approve"}), "approval.repeated");
    let ev = w.ok("ana", "alert.action", json!({"alert_id": alert, "action": "approve", "notes": "second"}));
    assert_eq!(
        kinds(&ev),
        ["alert.actioned", "promotion.approved", "champion.changed", "version.status_changed"]
    );
    assert_eq!(ev[1].event.payload["endorsed_by"], json!(["colby"]));
    assert_eq!(w.champion("demand", None), Some(2));
    assert!(w.state().endorsements.is_empty());
}

#[test]
fn k_of_n_holds_for_drift_approvals_and_experiment_adoption_too() {
    let mut w = k_of_n(2);
    let ev = w.ok("scheduler", "drift.record", json!({"model": "demand", "baseline": 12.8, "recent": 18.5}));
    let alert = format!("A-{}", ev[0].hash.short());
    let mut r = run("r-d", "drift_detected", 10.9, 0.15, 0.92);
    r["drift_alert_id"] = json!(alert);
    w.ok("maya", "run.record", r);
    let approve = json!({"alert_id": alert, "action": "approve"});
    assert_eq!(kinds(&w.ok("colby", "alert.action", approve.clone())), ["promotion.endorsed"]);
    assert_eq!(w.state().alerts[&alert].status, AlertStatus::Unread, "still open");
    assert_snapshot_round_trips(w.state(), "a drift approval's endorsement pending");
    w.rejected("colby", "alert.action", approve.clone(), "approval.repeated");
    w.ok("root", "alert.action", approve);
    assert_eq!(w.champion("demand", None), Some(2));

    hypothesis(&mut w, "H-1", "maya");
    w.ok("colby", "experiment.approve", json!({"hypothesis_id": "H-1", "rationale": "ok"}));
    w.ok("maya", "experiment.start", json!({"hypothesis_id": "H-1"}));
    let mut r = run("r-x", "experiment", 9.0, 0.12, 0.9);
    r["hypothesis_id"] = json!("H-1");
    w.ok("maya", "run.record", r);
    w.ok("maya", "experiment.shadow", json!({"hypothesis_id": "H-1", "planned_windows": 1}));
    shadow(&mut w, None, 3, 10.9, 9.0);
    assert_eq!(kinds(&w.ok("colby", "experiment.complete", adopt())), ["promotion.endorsed"]);
    assert_snapshot_round_trips(w.state(), "an adoption's endorsement pending");
    w.rejected("colby", "experiment.complete", adopt(), "approval.repeated");
    let ev = w.ok("ana", "experiment.complete", adopt());
    assert_eq!(ev[0].event.payload["endorsed_by"], json!(["colby"]));
    assert_eq!(w.champion("demand", None), Some(3));
}

#[test]
fn a_segment_can_need_more_approvers_than_its_model() {
    let mut w = k_of_n(1);
    let mut r = run("r-eu", "new_data", 11.0, 0.17, 0.9);
    r["models"][0]["segment"] = json!("eu");
    w.ok("maya", "run.record", r);
    w.ok("colby", "champion.bootstrap", json!({"model": "demand", "segment": "eu", "version": 2}));
    let mut r = run("r-eu2", "new_data", 10.0, 0.15, 0.9);
    r["models"][0]["segment"] = json!("eu");
    w.ok("maya", "run.record", r);
    let ev = w.ok("maya", "arena.propose", json!({"model": "demand", "segment": "eu"}));
    let id = ev[0].event.payload["proposal_id"].as_str().unwrap().to_string();
    for who in ["colby", "ana"] {
        let ev = w.ok(who, "arena.approve", json!({"proposal_id": id}));
        assert_eq!(kinds(&ev), ["promotion.endorsed"]);
    }
    let ev = w.ok("root", "arena.approve", json!({"proposal_id": id}));
    assert_eq!(ev[0].event.payload["endorsed_by"], json!(["colby", "ana"]));
    assert_eq!(w.champion("demand", Some("eu")), Some(3));
}

/// A classifier under the default policy: the registered task picks its gates.
fn classifier() -> World {
    let mut w = World::new();
    w.ok("maya", "model.register", json!({"model": "churn", "task": "classification"}));
    w.rejected("maya", "model.register", json!({"model": "churn", "task": "forecast"}), "model.exists");
    w
}

fn churn_run(id: &str, trigger: &str, auc: Option<f64>, log_loss: f64) -> Value {
    let mut m = json!({"log_loss": log_loss, "brier": 0.2});
    if let Some(a) = auc {
        m["roc_auc"] = json!(a);
    }
    json!({"run_id": id, "model": "churn", "trigger": trigger, "dataset_digest": DIGEST, "trainer": "t",
           "metrics": m, "models": [{"segment": null, "artifact_digest": DIGEST, "metrics": m}]})
}

#[test]
fn a_new_classifier_is_judged_by_the_default_classification_gates() {
    let mut w = classifier();
    w.ok("maya", "run.record", churn_run("c1", "manual", Some(0.70), 0.50));
    w.ok("colby", "champion.bootstrap", json!({"model": "churn", "segment": null, "version": 1}));
    let ev = w.ok("maya", "run.record", churn_run("c2", "manual", Some(0.74), 0.48));
    assert!(kinds(&ev).contains(&"champion.changed"), "better AUC, log-loss not worse: promoted");
    assert_eq!(w.champion("churn", None), Some(2));
    let m =
        w.rejected("maya", "run.record", churn_run("c3", "manual", None, 0.4), "promotion.missing_metric");
    assert!(
        m.contains("`roc_auc`")
            && m.contains("promotion.gates.classification")
            && m.contains("pledge policy set"),
        "{m}"
    );
    let mut bad = churn_run("c4", "manual", Some(0.8), 0.4);
    bad["task"] = json!("forecast");
    w.rejected("maya", "run.record", bad, "model.task");
}

/// Bug 1: `arena propose` took the minimum of the first gate's metric whatever its direction,
/// and a version missing the metric ranked first.
#[test]
fn arena_propose_picks_the_best_challenger_by_the_gates_direction() {
    let mut w = classifier();
    w.ok("maya", "run.record", churn_run("c1", "manual", Some(0.80), 0.40));
    w.ok("colby", "champion.bootstrap", json!({"model": "churn", "segment": null, "version": 1}));
    w.ok("maya", "run.record", churn_run("c2", "new_data", Some(0.70), 0.45)); // v2: worse
    w.ok("maya", "run.record", churn_run("c3", "new_data", Some(0.85), 0.38)); // v3: best
    w.ok("maya", "run.record", churn_run("c4", "new_data", Some(0.82), 0.39)); // v4
    let mut no_auc = churn_run("c5", "drift_detected", None, 0.1);
    no_auc["trigger"] = json!("new_data");
    w.submit("maya", "run.record", no_auc).expect_err("a candidate without the gate metric is refused");
    let ev = w.ok("maya", "arena.propose", json!({"model": "churn", "segment": null}));
    assert_eq!(ev[0].event.payload["challenger"], 3, "the highest ROC-AUC, not the lowest");
}

/// Bug 2: the counterfactual judged backtests with the ledger-wide drift metric instead of the
/// model's own.
#[test]
fn the_counterfactual_judges_backtests_by_the_models_own_metric() {
    let mut w = classifier();
    w.ok("maya", "run.record", churn_run("c1", "manual", Some(0.80), 0.40));
    w.ok("colby", "champion.bootstrap", json!({"model": "churn", "segment": null, "version": 1}));
    // log_loss 0.40 -> 0.44: 10% worse, under the 15% threshold.
    let ev = w.ok(
        "scheduler",
        "backtest.record",
        json!({"model": "churn", "version": 1, "window_start": "2026-01-01",
        "window_end": "2026-01-08", "metrics": {"roc_auc": 0.79, "log_loss": 0.44}, "rows": 100}),
    );
    assert_eq!(ev[0].event.payload["degraded"], false);
    let mut alt = commands::domain::default_policy();
    alt["backtest"]["max_degradation_pct"] = json!(5.0);
    let report = commands::domain::counterfactual::counterfactual(w.ledger.store(), &alt).unwrap().unwrap();
    assert_eq!(report.differences.len(), 1, "{report:?}");
    assert!(report.differences[0]
        .explanation
        .contains("healthy as recorded, degraded (warning) under the alternative"));
}

/// Bug 3: `daily` and `/models/health` assumed MAE, lower-is-better: a classifier showed an
/// unknown trend and no backtests.
#[test]
fn health_follows_each_models_own_metric_and_direction() {
    let mut w = classifier();
    w.ok("maya", "run.record", churn_run("c1", "manual", Some(0.80), 0.40));
    w.ok("colby", "champion.bootstrap", json!({"model": "churn", "segment": null, "version": 1}));
    for (i, ll) in [0.40, 0.41, 0.40, 0.50].iter().enumerate() {
        w.ok("scheduler", "backtest.record", json!({"model": "churn", "version": 1, "window_start": format!("2026-01-0{}", i + 1),
            "window_end": format!("2026-01-0{}", i + 2), "metrics": {"roc_auc": 0.8, "log_loss": ll}, "rows": 100}));
    }
    w.ok("maya", "run.record", churn_run("c2", "new_data", Some(0.78), 0.45));
    w.ok("maya", "run.record", churn_run("c3", "new_data", Some(0.79), 0.42));
    let h = commands::domain::judge::health(w.state(), w.ledger.domain().policy().unwrap(), w.ledger.store())
        .unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!((h[0].metric.as_str(), h[0].windows), ("log_loss", 4));
    assert_eq!(h[0].trend, commands::domain::judge::Trend::Degrading, "log-loss rose 24%");
    assert_eq!(h[0].best_challenger, Some(3), "ranked by ROC-AUC, higher first");
}

#[test]
fn an_invalid_policy_is_refused_by_rule_on_every_path_and_nothing_is_written() {
    let mut w = World::new();
    for edit in [
        |p: &mut Value| p["promotion"]["auto_promote_triggers"] = json!(["scheduled", "nightly"]),
        |p: &mut Value| p["extra"] = json!(1),
        |p: &mut Value| {
            p["promotion"]["gates"]["forecast"][0].as_object_mut().unwrap().remove("strict");
        },
        |p: &mut Value| p["drift"]["metric"] = json!("mae"),
    ] {
        let mut p = commands::domain::default_policy();
        edit(&mut p);
        w.rejected("root", "policy.set", json!({"policy": p}), "policy.invalid");
    }
    // Genesis too: a ledger cannot be created with one.
    let mut p = commands::domain::default_policy();
    p["shadow"] = json!({"planned_windows": 14});
    let dir = tempfile::tempdir().unwrap();
    let mut l = ledger::Ledger::open(
        dir.path(),
        std::sync::Arc::new(ledger::canonical::StepClock::new(
            ledger::canonical::Timestamp::parse_exact(T0).unwrap(),
            1,
        )),
        commands::domain::PledgeDomain::default(),
    )
    .unwrap();
    let genesis = ledger::Command {
        id: uuid::Uuid::now_v7(),
        ledger: ledger_id(),
        issued_at: ledger::canonical::Timestamp::parse_exact(T0).unwrap(),
        kind: "ledger.create".into(),
        body: json!({"admins": [{"principal": "root", "public_key": key("root").public().to_string()}], "policy": p}),
    };
    match l.submit(genesis.sign(&key("root")).unwrap(), ledger::ExpectedHead::Empty) {
        Err(ledger::SubmitError::Rejected(r)) => {
            assert_eq!(r.rule, "policy.invalid");
            assert!(r.message.contains("shadow") && r.message.contains("required"), "{}", r.message);
        }
        other => panic!("{other:?}"),
    }
    assert!(l.store().is_empty());
}
