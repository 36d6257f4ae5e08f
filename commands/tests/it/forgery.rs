//! The forgeries an operator with write access could plant in a Pledge ledger, each made
//! consistent (every id, link, reference, stored hash, index, head anchor and export manifest
//! recomputed) and each caught by verification at the forged event, both at rest and in an
//! export. Random forgeries of random histories: `properties.rs`.

use ledger::export::{self, ExportError};
use ledger::forge::Forgery;
use ledger::VerifyFailure;
use serde_json::{json, Value};

use crate::harness::*;

/// The seeds' workflows in one ledger: a bootstrap, a scheduled retrain promoted by policy, a
/// retrain with backtest windows that stays challenger, a drift signal, an arena proposal
/// approved by another person, a policy change and a backtest under it.
fn history() -> (World, Forgery) {
    let mut w = with_champion();
    w.ok("scheduler", "run.record", run("r2", "scheduled", 11.5, 0.18, 0.91));
    let mut r3 = run("r3", "manual", 11.4, 0.178, 0.91);
    r3["backtests"] = json!([
        {"segment": null, "window_start": "2026-01-01", "window_end": "2026-01-08", "metrics": {"mae": 11.6}, "rows": 700},
        {"segment": null, "window_start": "2026-01-08", "window_end": "2026-01-15", "metrics": {"mae": 11.9}, "rows": 710},
    ]);
    w.ok("maya", "run.record", r3);
    w.ok("scheduler", "drift.record", json!({"model": "demand", "baseline": 12.0, "recent": 14.5}));
    let proposed =
        w.ok("maya", "arena.propose", json!({"model": "demand", "segment": null, "challenger": 3}));
    let id = proposed[0].event.payload["proposal_id"].as_str().unwrap().to_string();
    w.ok(
        "colby",
        "arena.approve",
        json!({"proposal_id": id, "notes": "margin is thin but real", "override_reason": "MAE 7% better on the last two windows"}),
    );
    let mut p = commands::domain::default_policy();
    p["drift"]["max_degradation_pct"] = json!(20.0);
    p["promotion"]["approvals"] = json!(2);
    w.ok("root", "policy.set", json!({"policy": p}));
    w.ok(
        "scheduler",
        "backtest.record",
        json!({"model": "demand", "version": 3, "window_start": "2026-02-01", "window_end": "2026-02-08", "metrics": {"mae": 11.7}, "rows": 720}),
    );
    // A segmented router judged per segment on the champion's figures on its own rows.
    let mut router = run("r4", "scheduled", 11.0, 0.17, 0.91);
    router["models"] = json!([
        {"segment": null, "artifact_digest": DIGEST, "metrics": {"mae": 11.4, "mape": 0.178, "coverage": 0.91},
         "baseline": {"version": 3, "metrics": {"mae": 11.4, "mape": 0.178, "coverage": 0.91}}},
        {"segment": "eu", "artifact_digest": DIGEST, "metrics": {"mae": 9.0, "mape": 0.15, "coverage": 0.92},
         "baseline": {"version": 3, "metrics": {"mae": 10.2, "mape": 0.17, "coverage": 0.9}}},
    ]);
    w.ok("scheduler", "run.record", router);
    // An experiment adopted by two approvers after its shadow test, its criterion judged.
    w.ok(
        "maya",
        "hypothesis.propose",
        json!({"hypothesis_id": "H-1", "model": "demand", "statement": "lags help", "change_type": "feature",
               "target_metric": "mae", "expected_improvement_pct": 5.0, "owner": "maya"}),
    );
    w.ok("colby", "experiment.approve", json!({"hypothesis_id": "H-1", "rationale": "worth a try"}));
    w.ok("maya", "experiment.start", json!({"hypothesis_id": "H-1"}));
    let mut exp = run("r5", "experiment", 10.6, 0.16, 0.91);
    exp["hypothesis_id"] = json!("H-1");
    w.ok("maya", "run.record", exp);
    w.ok("maya", "experiment.shadow", json!({"hypothesis_id": "H-1", "planned_windows": 1}));
    w.ok(
        "scheduler",
        "shadow.record",
        json!({"model": "demand", "segment": null, "hypothesis_id": "H-1", "champion": 3, "challenger": 6,
               "window_start": "2026-02-08", "window_end": "2026-02-15", "champion_metrics": {"mae": 11.5},
               "challenger_metrics": {"mae": 10.7}, "samples": 500}),
    );
    let adopt = json!({"hypothesis_id": "H-1", "decision": "adopt", "rationale": "7% better in shadow"});
    w.ok("colby", "experiment.complete", adopt.clone());
    w.ok("ana", "experiment.complete", adopt);
    let f = Forgery::of_store(w.ledger.store()).unwrap();
    (w, f)
}

/// The position of the first event of `kind` (after `from`) satisfying `pred`.
fn find(f: &Forgery, kind: &str, pred: impl Fn(&Value) -> bool) -> usize {
    (0..f.len())
        .find(|k| f.event(*k)["kind"] == kind && pred(f.event(*k)))
        .unwrap_or_else(|| panic!("no `{kind}` event in the history"))
}

/// Plants the forgery at rest (the store rebuilt around it) and as an export (manifest
/// recomputed); both must fail verification at `seq`, for the same reason.
#[track_caller]
fn caught_at(f: &Forgery, seq: usize) -> VerifyFailure {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("forged.jsonl");
    f.write_export(&out).unwrap();
    let in_export = match export::verify_export(&out, commands::app::verify::verifier(None)) {
        Err(ExportError::Verify(fail)) => fail,
        other => panic!("the forged export was accepted or refused elsewhere: {other:?}"),
    };
    let store_dir = dir.path().join("ledger");
    std::fs::create_dir(&store_dir).unwrap();
    f.write_store(&store_dir).unwrap();
    let store = ledger::Store::open(&store_dir).unwrap();
    let at_rest = ledger::verify_store(&store, commands::app::verify::verifier(None))
        .expect_err("the forged store verified");
    assert_eq!(at_rest.seq, seq as u64, "at rest: {at_rest}");
    assert_eq!(in_export.seq, seq as u64, "in the export: {in_export}");
    assert_eq!(at_rest.reason, in_export.reason);
    at_rest
}

#[track_caller]
fn member(fail: &VerifyFailure, path: &str, recorded: Value, derived: Value) {
    let m = fail.mismatch.as_ref().unwrap_or_else(|| panic!("no member named: {fail}"));
    assert_eq!(
        (m.member.as_str(), &m.recorded, &m.derived),
        (path, &Some(recorded), &Some(derived)),
        "{fail}"
    );
}

#[test]
fn the_untouched_history_verifies_both_ways() {
    let (_w, f) = history();
    let dir = tempfile::tempdir().unwrap();
    f.write_export(&dir.path().join("copy.jsonl")).unwrap();
    export::verify_export(&dir.path().join("copy.jsonl"), commands::app::verify::verifier(None)).unwrap();
    f.write_store(&dir.path().join("copy")).unwrap();
    let store = ledger::Store::open(dir.path().join("copy")).unwrap();
    ledger::verify_store(&store, commands::app::verify::verifier(None)).unwrap();
}

#[test]
fn an_unsigned_champion_change_appended_at_the_end_is_caught() {
    let (_w, mut f) = history();
    let last = f.len() - 1;
    let mut forged = f.event(find(&f, "champion.changed", |e| e["payload"]["cause"] == "approval")).clone();
    forged["payload"]["from"] = forged["payload"]["to"].clone();
    forged["payload"]["to"] = json!(2);
    forged["cause"] =
        json!({"event": ledger::Digest::of(&ledger::canonical::to_vec(f.event(last)).unwrap()).to_string()});
    forged["recorded_at"] = f.event(last)["recorded_at"].clone();
    f.insert(last + 1, forged);
    let fail = caught_at(&f, last + 1);
    assert!(fail.reason.contains("no command produces it"), "{fail}");
}

#[test]
fn a_different_approver_on_the_champion_change_is_caught() {
    let (_w, mut f) = history();
    let k = find(&f, "champion.changed", |e| e["payload"]["cause"] == "approval");
    f.edit(k, |e| e["payload"]["by"] = json!("ana"));
    member(&caught_at(&f, k), "payload.by", json!("ana"), json!("colby"));
}

#[test]
fn a_bootstrap_champion_changed_with_everything_after_it_rewritten_is_caught() {
    let (_w, mut f) = history();
    let k = find(&f, "champion.changed", |e| e["payload"]["cause"] == "bootstrap");
    f.edit(k, |e| e["payload"]["reason"] = json!("chosen by the board"));
    assert!(f.len() - k > 15, "the forger rewrites the {} events after it", f.len() - k - 1);
    member(
        &caught_at(&f, k),
        "payload.reason",
        json!("chosen by the board"),
        json!("first production model"),
    );
}

#[test]
fn a_run_with_a_lower_mae_is_caught() {
    let (_w, mut f) = history();
    let k = find(&f, "run.recorded", |e| e["payload"]["run_id"] == "r2");
    f.edit(k, |e| e["payload"]["metrics"]["mae"] = json!(9.5));
    member(&caught_at(&f, k), "payload.metrics.mae", json!(9.5), json!(11.5));
}

#[test]
fn a_backtest_window_removed_from_its_run_is_caught() {
    let (_w, mut f) = history();
    let k = find(&f, "backtest.recorded", |e| e["payload"]["window_start"] == "2026-01-01");
    assert!(f.event(k)["cause"].get("event").is_some(), "a derived window, inside its run");
    f.remove(k);
    let fail = caught_at(&f, k);
    assert!(
        fail.reason.contains("`backtest.recorded` is missing") || fail.reason.contains("is not what command"),
        "{fail}"
    );
}

#[test]
fn a_signed_drift_signal_duplicated_is_caught() {
    let (_w, mut f) = history();
    let k = find(&f, "drift.recorded", |_| true);
    let mut copy = f.event(k).clone();
    let at = f.len();
    copy["recorded_at"] = f.event(at - 1)["recorded_at"].clone();
    f.insert(at, copy);
    let fail = caught_at(&f, at);
    assert!(fail.reason.contains("already used"), "{fail}");
}

#[test]
fn a_changed_policy_version_is_caught() {
    let (_w, mut f) = history();
    let k = find(&f, "backtest.recorded", |e| e["payload"]["window_start"] == "2026-02-01");
    f.edit(k, |e| e["payload"]["policy_version"] = json!(1));
    member(&caught_at(&f, k), "payload.policy_version", json!(1), json!(2));
}

#[test]
fn a_halved_gate_value_is_caught() {
    let (_w, mut f) = history();
    let k = find(&f, "promotion.evaluated", |_| true);
    let candidate = f.event(k)["payload"]["gates"][0]["candidate"].as_f64().unwrap();
    f.edit(k, |e| e["payload"]["gates"][0]["candidate"] = json!(candidate / 2.0));
    member(&caught_at(&f, k), "payload.gates[0].candidate", json!(candidate / 2.0), json!(candidate));
}

#[test]
fn changed_version_metrics_are_caught() {
    let (_w, mut f) = history();
    let k = find(&f, "version.registered", |e| e["payload"]["version"] == 3);
    f.edit(k, |e| e["payload"]["metrics"]["coverage"] = json!(0.99));
    member(&caught_at(&f, k), "payload.metrics.coverage", json!(0.99), json!(0.91));
}

#[test]
fn an_unsigned_derived_event_inserted_inside_the_history_is_caught() {
    let (_w, mut f) = history();
    // A second archival, right after the run that archived v1.
    let k = find(&f, "version.status_changed", |e| e["payload"]["to"] == "archived");
    let copy = f.event(k).clone();
    f.insert(k + 1, copy);
    let fail = caught_at(&f, k + 1);
    assert!(fail.reason.contains("no command produces it"), "{fail}");
}

#[test]
fn a_promotion_by_policy_turned_into_an_approval_is_caught() {
    let (_w, mut f) = history();
    let k = find(&f, "champion.changed", |e| e["payload"]["cause"] == "policy");
    f.edit(k, |e| {
        e["payload"]["cause"] = json!("approval");
        e["payload"]["by"] = json!("colby");
    });
    member(&caught_at(&f, k), "payload.by", json!("colby"), json!("policy"));
}

/// `schemas/vectors/derivation.json`: this history as an export, and consistent forgeries of
/// it with the position and member verification must report. An outside verifier replays the
/// ledger (every event must re-derive) and each forgery (the ledger's lines before `from`, then
/// the forgery's `lines`; its manifest) and compares. `PLEDGE_WRITE_VECTORS=1` rewrites it.
#[test]
fn the_derivation_vector_matches_the_code() {
    let (_w, f) = history();
    let dir = tempfile::tempdir().unwrap();
    let export = |f: &Forgery, name: &str| -> (Vec<String>, Value) {
        let path = dir.path().join(name);
        let manifest = f.write_export(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        (text.lines().map(String::from).collect(), serde_json::to_value(manifest).unwrap())
    };
    let (lines, manifest) = export(&f, "ledger.jsonl");
    let mut cases: Vec<(&str, Forgery, usize)> = vec![];
    let mut g = f.clone();
    let k = find(&g, "promotion.evaluated", |_| true);
    let c = g.event(k)["payload"]["gates"][0]["candidate"].as_f64().unwrap();
    g.edit(k, |e| e["payload"]["gates"][0]["candidate"] = json!(c / 2.0));
    cases.push(("a gate's candidate value halved", g, k));
    let mut g = f.clone();
    let k = find(&g, "backtest.recorded", |e| e["payload"]["window_start"] == "2026-01-08");
    g.remove(k);
    cases.push(("a backtest window removed from inside its run", g, k));
    let mut g = f.clone();
    let k = find(&g, "backtest.recorded", |e| e["payload"]["window_start"] == "2026-02-01");
    g.edit(k, |e| e["payload"]["policy_version"] = json!(1));
    cases.push(("the policy version of a decision changed", g, k));
    let mut g = f.clone();
    let k = find(&g, "champion.changed", |e| e["payload"]["cause"] == "bootstrap");
    g.edit(k, |e| e["payload"]["by"] = json!("maya"));
    cases.push(("the bootstrap's approver changed, every later event re-chained", g, k));
    let mut g = f.clone();
    let k = find(&g, "drift.recorded", |_| true);
    let mut copy = g.event(k).clone();
    let end = g.len();
    copy["recorded_at"] = g.event(end - 1)["recorded_at"].clone();
    g.insert(end, copy);
    cases.push(("a signed drift signal appended a second time", g, end));
    let mut g = f.clone();
    let approval = g.event(find(&g, "champion.changed", |e| e["payload"]["cause"] == "approval")).clone();
    let mut forged = approval;
    forged["payload"]["to"] = json!(2);
    forged["cause"] = json!({"event": ledger::Digest::of(lines[end - 1].as_bytes()).to_string()});
    forged["recorded_at"] = g.event(end - 1)["recorded_at"].clone();
    g.insert(end, forged);
    cases.push(("an unsigned champion change appended at the end", g, end));
    let mut forgeries = vec![];
    for (i, (what, g, at)) in cases.iter().enumerate() {
        let (forged, m) = export(g, &format!("forged-{i}.jsonl"));
        let fail = caught_at(g, *at);
        let from = (0..forged.len().max(lines.len())).find(|k| forged.get(*k) != lines.get(*k)).unwrap();
        forgeries.push(json!({
            "description": what, "from": from, "lines": forged[from..], "manifest": m,
            "expect": {"seq": fail.seq, "mismatch": fail.mismatch},
        }));
    }
    let vector = json!({
        "description": "A Pledge ledger of the seed workflows with the default policy (the first run registering the model, a bootstrap, a retrain promoted by policy, a retrain with backtest windows kept as challenger, drift, a proposal whose gates failed approved with an override, a policy change to two approvers, a segmented router judged per segment on baselines, an experiment shadow-tested and adopted by two approvers with its criterion judged), as export lines and manifest: every event must re-derive. Each forgery keeps the ledger's lines before `from`, replaces the rest with `lines` (ids, links and references recomputed) and has its own consistent manifest; verification must fail at `expect.seq`, and where an event differs from its re-derivation, at `expect.mismatch.member` with the recorded and re-derived values.",
        "lines": lines, "manifest": manifest, "forgeries": forgeries,
    });
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/vectors/derivation.json");
    let text = serde_json::to_string_pretty(&vector).unwrap() + "\n";
    if std::env::var_os("PLEDGE_WRITE_VECTORS").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(stored, vector, "schemas/vectors/derivation.json differs from what the code produces");
}
