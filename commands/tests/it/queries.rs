//! Timeline, lineage, health, as-of replays, checkpoints and the counterfactual report.

use commands::app::query::{Backtests, Query, View};
use ledger::event_index::EventIndex;
use ledger::RecordedEvent;
use projections::query::{self, EventFilter};
use projections::replay::{self, AsOf};
use projections::state::WindowRef;
use serde_json::json;

use crate::harness::*;

/// Scenario (b) up to the approval: a drift alert, a drift retrain, an approval via the alert.
fn drift_world() -> World {
    let mut w = with_champion();
    let ev = w.ok("scheduler", "drift.record", json!({"model": "demand", "baseline": 12.8, "recent": 18.5}));
    let alert_id = format!("A-{}", ev[0].hash.short());
    let mut body = run("r-drift", "drift_detected", 10.9, 0.15, 0.92);
    body["drift_alert_id"] = json!(alert_id);
    w.ok("maya", "run.record", body);
    w.ok("colby", "alert.read", json!({"alert_id": alert_id}));
    w.ok(
        "colby",
        "alert.action",
        json!({"alert_id": alert_id, "action": "approve", "notes": "backtests fine"}),
    );
    w
}

#[test]
fn timeline_explains_the_champion_with_actors_and_evidence() {
    let w = drift_world();
    let t = query::timeline(w.ledger.store(), w.ledger.trust(), w.state(), "demand", None).unwrap();
    let lines: Vec<String> = t
        .iter()
        .map(|e| format!("#{} {} [{}] {}", e.seq, e.kind, e.actor.as_deref().unwrap_or("-"), e.summary))
        .collect();
    insta::assert_snapshot!("timeline_drift", lines.join("\n"));
    // Every champion change is there with the decision behind it.
    let changes: Vec<_> = t.iter().filter(|e| e.kind == "champion.changed").collect();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[1].actor.as_deref(), Some("colby"));
    assert!(t.iter().any(|e| e.kind == "drift.recorded" && e.actor.as_deref() == Some("scheduler")));
    assert!(t.iter().any(|e| e.kind == "run.recorded" && e.actor.as_deref() == Some("maya")));
    // Segments without their own champion are explained by the global story.
    let seg = query::timeline(w.ledger.store(), w.ledger.trust(), w.state(), "demand", Some("toys")).unwrap();
    assert_eq!(seg, t);
}

#[test]
fn timeline_as_of_shows_the_past() {
    let w = drift_world();
    let store = w.ledger.store();
    // Before the drift retrain was approved, v1 was serving.
    let approval_seq = w.state().model("demand").unwrap().champion_history[""][1].seq;
    let past = replay::replay(store, AsOf::Seq(approval_seq - 1)).unwrap();
    assert_eq!(past.model("demand").unwrap().champions[""], 1);
    let t = query::timeline(store, w.ledger.trust(), &past, "demand", None).unwrap();
    assert_eq!(t.iter().filter(|e| e.kind == "champion.changed").count(), 1);
    // By time, too: a time includes whole commands (their events share one recorded_at), so
    // as of the alert being read is as of the event before the approving command.
    let read = store.get(approval_seq - 2).unwrap().unwrap();
    assert_eq!(read.event.kind, "alert.read");
    let by_time = replay::replay(store, AsOf::Time(read.event.recorded_at)).unwrap();
    assert_eq!(by_time.digest(), replay::replay(store, AsOf::Seq(read.seq())).unwrap().digest());
    assert_eq!(by_time.model("demand").unwrap().champions[""], 1);
    assert_eq!(AsOf::parse("12").unwrap(), AsOf::Seq(12));
    assert!(AsOf::parse("yesterday").is_err());
    // What the CLI and the API answer, cut from the head, is that at every point.
    let compared = snapshot_index_answers_agree(&w).unwrap();
    assert!(compared >= 2 * store.len() as usize, "{compared} answers compared");
}

#[test]
fn lineage_goes_up_to_the_drift_and_down_to_the_promotion() {
    let w = drift_world();
    let l = query::lineage(w.ledger.store(), w.ledger.trust(), w.state(), "demand", 2).unwrap().unwrap();
    let up: Vec<&str> = l.upstream.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(up, ["drift.recorded", "run.recorded", "version.registered", "alert.read", "alert.actioned"]);
    let down: Vec<&str> = l.downstream.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        down,
        ["alert.actioned", "champion.changed"],
        "the approval that named v2, then its promotion"
    );
    let l1 = query::lineage(w.ledger.store(), w.ledger.trust(), w.state(), "demand", 1).unwrap().unwrap();
    let down1: Vec<&str> = l1.downstream.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(down1, ["champion.changed", "drift.recorded", "champion.changed", "version.status_changed"]);
    assert!(query::lineage(w.ledger.store(), w.ledger.trust(), w.state(), "demand", 9).unwrap().is_none());
}

#[test]
fn health_follows_backtest_windows_and_the_best_challenger() {
    let mut w = with_champion();
    for (i, mae) in [12.0, 12.1, 11.9, 12.0, 13.4].iter().enumerate() {
        w.ok("scheduler", "backtest.record", json!({"model": "demand", "version": 1, "window_start": format!("2026-01-0{}", i + 1), "window_end": format!("2026-01-0{}", i + 2), "metrics": {"mae": mae}, "rows": 1000}));
        if i == 2 {
            // A window without the drift metric: counted, not followed.
            w.ok("scheduler", "backtest.record", json!({"model": "demand", "version": 1, "window_start": "2026-02-01", "window_end": "2026-02-02", "metrics": {"mape": 0.5}, "rows": 10}));
        }
    }
    w.ok("scheduler", "run.record", run("r2", "new_data", 11.7, 0.19, 0.9));
    let h = commands::domain::judge::health(w.state(), w.ledger.domain().policy().unwrap(), w.ledger.store())
        .unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].champion, 1);
    assert_eq!(h[0].windows, 6);
    assert_eq!(h[0].recent, Some(13.4));
    assert!((h[0].baseline.unwrap() - 12.0).abs() < 1e-9);
    assert_eq!(h[0].trend, commands::domain::judge::Trend::Degrading);
    assert_eq!(h[0].best_challenger, Some(2));
}

/// The read models keep a window's event and judgement; the rest is read from the event, and
/// a reference to anything but that event is damage, not a window.
#[test]
fn backtest_windows_are_read_from_their_events() {
    let mut w = with_champion();
    let mut recorded = vec![];
    for (i, mae) in [12.0, 15.5].iter().enumerate() {
        let evs = w.ok("scheduler", "backtest.record", json!({"model": "demand", "version": 1, "window_start": format!("2026-01-0{}", i + 1), "window_end": format!("2026-01-0{}", i + 2), "metrics": {"mae": mae, "mape": 0.2}, "rows": 100 + i}));
        recorded.push(evs.into_iter().find(|e| e.event.kind == "backtest.recorded").unwrap());
    }
    let refs = w.state().model("demand").unwrap().versions[&1].backtests.clone();
    assert_eq!(
        refs.iter().map(|r| r.seq).collect::<Vec<_>>(),
        recorded.iter().map(|e| e.seq()).collect::<Vec<_>>()
    );
    let store = w.ledger.store();
    let windows = query::backtest_windows(store, &refs).unwrap();
    for (got, ev) in windows.iter().zip(&recorded) {
        let p = &ev.event.payload;
        assert_eq!(got.seq, ev.seq());
        assert_eq!(
            (got.window_start.as_str(), got.window_end.as_str()),
            (p["window_start"].as_str().unwrap(), p["window_end"].as_str().unwrap())
        );
        assert_eq!(got.rows, p["rows"].as_u64().unwrap());
        assert_eq!(got.degraded, p["degraded"].as_bool().unwrap());
        assert_eq!(
            got.metrics,
            serde_json::from_value::<projections::events::Metrics>(p["metrics"].clone()).unwrap()
        );
    }
    assert_eq!(windows.len(), 2);
    let view = View::new(store, w.ledger.trust(), w.state(), w.ledger.domain().policy().ok());
    let answer = Backtests { model: "demand".into(), version: 1 }.answer(&view).unwrap();
    assert_eq!(answer.windows, windows);

    let last = refs[1];
    let damaged = [
        (WindowRef { seq: 0, degraded: false }, "names a `ledger.created` event"),
        (WindowRef { seq: recorded[0].seq() - 1, ..last }, "names a `"),
        (WindowRef { seq: store.len() + 5, ..last }, "names a missing event"),
        (WindowRef { degraded: !last.degraded, ..last }, "judgement differs"),
    ];
    for (r, why) in damaged {
        match query::backtest_window(store, r) {
            Err(ledger::StoreError::Corrupt { seq, reason }) => {
                assert_eq!(seq, r.seq);
                assert!(reason.contains(why), "{r:?}: {reason}");
            }
            other => panic!("{r:?}: {other:?}"),
        }
    }
}

/// The read models keep a run without its parameters; the review, the runs compared and
/// `query::run_recorded` read them from its event, and a run naming any other event is damage.
#[tokio::test]
async fn a_runs_parameters_are_read_from_its_event() {
    let mut w = with_champion();
    let mut body = run("r2", "manual", 12.0, 0.19, 0.91);
    body["params"] = json!({"num_leaves": 63, "learning_rate": 0.05, "objective": "l1"});
    w.ok("maya", "run.record", body.clone());
    let r2 = w.state().runs["r2"].clone();
    let recorded = query::run_recorded(w.ledger.store(), &r2).unwrap();
    assert_eq!(serde_json::to_value(&recorded.params).unwrap(), body["params"]);
    assert_eq!(projections::state::RunSummary::from(recorded.clone()), r2.run);
    let store = w.ledger.store();
    let r1 = w.state().runs["r1"].clone();
    let damaged = [
        (projections::state::Run { seq: 0, ..r2.clone() }, "names a `ledger.created` event"),
        (projections::state::Run { seq: store.len() + 3, ..r2.clone() }, "names a missing event"),
        (projections::state::Run { seq: r1.seq, ..r2.clone() }, "run `r2` names the event of run `r1`"),
    ];
    for (r, why) in damaged {
        match query::run_recorded(store, &r) {
            Err(ledger::StoreError::Corrupt { seq, reason }) => {
                assert_eq!(seq, r.seq);
                assert!(reason.contains(why), "{reason}");
            }
            other => panic!("{why}: {other:?}"),
        }
    }
    let api = crate::api::Api::new(w);
    let (_, review) = api.get("/api/v1/models/demand/versions/2/review").await;
    assert_eq!(review["run"]["params"], body["params"], "{review}");
    let resp = tower::ServiceExt::oneshot(
        api.app.clone(),
        axum::http::Request::get("/models/demand/runs?run=r1&run=r2")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    let html = http_body_util::BodyExt::collect(resp.into_body()).await.unwrap().to_bytes();
    let html = String::from_utf8(html.to_vec()).unwrap();
    for cell in [">learning_rate<", ">0.05<", ">l1<", ">63<", ">31<"] {
        assert!(html.contains(cell), "{cell} in the runs compared");
    }
    api.close().await;
}

#[test]
fn snapshot_resume_equals_a_full_rebuild() {
    let mut w = drift_world();
    let snap = w.ledger.snapshot().unwrap();
    ledger::snapshot::write(w.ledger.store().dir(), &snap).unwrap();
    let cp_seq = w.state().last_seq.unwrap();
    assert_eq!(snap.seq, cp_seq);
    w.ok("scheduler", "run.record", run("r9", "scheduled", 10.0, 0.13, 0.95));
    let store = w.ledger.store();
    let (resumed, from) = replay::replay_from_snapshot(store, AsOf::Head).unwrap();
    assert_eq!(from, Some(cp_seq));
    let rebuilt = replay::rebuild(store, AsOf::Head).unwrap();
    assert_eq!(resumed.digest(), rebuilt.digest());
    assert_eq!(rebuilt.digest(), w.state().digest(), "incremental state == rebuilt state");
}

#[test]
fn counterfactual_reports_decisions_that_would_have_differed() {
    let mut w = with_champion();
    // 6.5% better on MAE: promoted at a 5% margin.
    w.ok("scheduler", "run.record", run("r2", "scheduled", 11.5, 0.18, 0.91));
    w.ok("scheduler", "drift.record", json!({"model": "demand", "baseline": 12.8, "recent": 18.5}));
    let mut alt = commands::domain::default_policy();
    alt["promotion"]["gates"]["forecast"][0]["margin"] = json!(0.08);
    alt["drift"]["max_degradation_pct"] = json!(50.0);
    let head = w.ledger.store().head();
    let report = commands::domain::counterfactual::counterfactual(w.ledger.store(), &alt).unwrap().unwrap();
    assert_eq!(w.ledger.store().head(), head, "a counterfactual replay writes nothing");
    assert_eq!(report.decisions, 2);
    let text: Vec<&str> = report.differences.iter().map(|d| d.explanation.as_str()).collect();
    assert_eq!(
        text,
        [
            "under policy v1 v2 was auto-promoted; under the alternative it would have been kept as challenger",
            "drift of 44.5%: critical drift alert at 15%, no alert at 50%",
        ]
    );
    // The same policy changes nothing.
    let same = commands::domain::counterfactual::counterfactual(
        w.ledger.store(),
        &commands::domain::default_policy(),
    )
    .unwrap()
    .unwrap();
    assert!(same.differences.is_empty());
    assert!(commands::domain::counterfactual::counterfactual(w.ledger.store(), &json!({"promotion": 3}))
        .unwrap()
        .is_err());
}

/// The event filters read through the kind, signer and subject indexes and binary-search the
/// time bounds; every page must be exactly what a scan of every event with the same filter
/// gives, forwards (paged) and from the end.
#[test]
fn indexed_event_queries_answer_exactly_what_a_scan_answers() {
    let mut w = drift_world();
    w.ok("maya", "run.record", run("r3", "scheduled", 11.9, 0.19, 0.9));
    w.ok("ana", "run.record", run("r4", "manual", 12.8, 0.21, 0.9));
    // A second key of maya's: her events come from two signer indexes, merged in order.
    w.ok("root", "key.enroll", json!({"principal": "maya", "public_key": key("maya2").public().to_string()}));
    w.ok("maya2", "run.record", run("r5", "manual", 12.9, 0.21, 0.9));
    w.ok("maya", "run.record", run("r6", "manual", 13.0, 0.21, 0.9));
    w.ok("maya2", "run.record", run("r7", "manual", 13.1, 0.21, 0.9));
    w.ok("colby", "rollback", json!({"model": "demand", "segment": null, "version": 1, "reason": "r"}));
    let store = w.ledger.store();
    let trust = w.ledger.trust();
    let all: Vec<RecordedEvent> = store.iter().map(|e| e.unwrap()).collect();
    let mid = all[all.len() / 2].event.recorded_at;
    let late = all[all.len() * 3 / 4].event.recorded_at;
    let f =
        |kind: Option<&str>, actor: Option<&str>, model: Option<&str>, segment: Option<&str>| EventFilter {
            kind: kind.map(String::from),
            actor: actor.map(String::from),
            model: model.map(String::from),
            segment: segment.map(String::from),
            ..EventFilter::default()
        };
    let mut filters = vec![
        f(None, None, None, None),
        f(Some("champion.changed"), None, None, None),
        f(Some("run.recorded"), Some("maya"), None, None),
        f(None, Some("maya"), None, None),
        f(None, Some("colby"), None, None),
        f(None, Some("root"), None, None),
        f(None, Some("nobody"), None, None),
        f(None, None, Some("demand"), Some("")),
        f(Some("version.status_changed"), None, Some("demand"), None),
        f(Some("no.such_kind"), None, None, None),
    ];
    for base in filters.clone() {
        filters.push(EventFilter { since: Some(mid), ..base.clone() });
        filters.push(EventFilter { since: Some(mid), until: Some(late), ..base });
    }
    let check = |events: &dyn ledger::EventSource, index: &dyn EventIndex, trust: &ledger::TrustState| {
        let mut nonempty = 0;
        for filter in &filters {
            let expected: Vec<u64> =
                all.iter().filter(|e| filter.matches(events, trust, e).unwrap()).map(|e| e.seq()).collect();
            nonempty += usize::from(!expected.is_empty());
            // Forwards, two events a page.
            let mut got = vec![];
            let mut after = None;
            loop {
                let (page, next) = filter.page(events, index, trust, after, 2).unwrap();
                got.extend(page.iter().map(|e| e.seq()));
                match next {
                    Some(n) => after = Some(n),
                    None => break,
                }
            }
            assert_eq!(got, expected, "{filter:?}");
            let tail: Vec<u64> =
                filter.last(events, index, trust, None, 3).unwrap().iter().map(|e| e.seq()).collect();
            assert_eq!(tail, expected[expected.len().saturating_sub(3)..], "{filter:?}");
        }
        nonempty
    };
    let nonempty = check(store, store, trust);
    assert!(nonempty >= 12, "the filters must select something: {nonempty}");
    // What `pledge log` answers with: the trust state `trust_at_head` folds without the
    // domain (no snapshot here: every event, checked as an open checks them) is the full
    // fold's, maya's second key included.
    let trust_only = ledger::trust_at_head(store).unwrap();
    assert_eq!(trust_only.to_snapshot(), trust.to_snapshot());
    assert_eq!(trust_only.keys().filter(|k| k.principal == "maya").count(), 2);
    // The same pages from the committed events and the event index, without the store.
    let trust = trust.clone();
    let (l, _tmp, _) = w.into_parts();
    let dir = l.store().dir().to_path_buf();
    drop(l);
    let events = ledger::store::CommittedEvents::open(&dir).unwrap().expect("committed events");
    let index = ledger::event_index::Reader::open(&dir, &events).unwrap().expect("the event index");
    assert_eq!(check(&events, &index, &trust), nonempty);
}

/// A version from an experiment's run can serve before the experiment ends (here bootstrapped
/// for a segment without a champion of its own); what the experiment records afterwards is
/// in the segment's timeline at the head, and in none as of before it was recorded.
#[test]
fn a_timeline_as_of_a_point_leaves_out_what_was_recorded_after_it() {
    let mut w = with_champion();
    let h = "H-GROCERY";
    w.ok("maya", "hypothesis.propose", hypothesis_body(h, "a grocery model beats the global one"));
    w.ok("colby", "experiment.approve", json!({"hypothesis_id": h, "rationale": "worth a try"}));
    w.ok("maya", "experiment.start", json!({"hypothesis_id": h}));
    let metrics = json!({"mae": 11.0, "mape": 0.18, "coverage": 0.9});
    w.ok(
        "maya",
        "run.record",
        json!({"run_id": "r-grocery", "model": "demand", "trigger": "experiment", "hypothesis_id": h,
               "dataset_digest": DIGEST, "trainer": "external:lightgbm-4.3", "metrics": metrics,
               "models": [{"segment": "grocery", "artifact_digest": DIGEST, "metrics": metrics}]}),
    );
    let served = w.ok(
        "colby",
        "champion.bootstrap",
        json!({"model": "demand", "segment": "grocery", "version": 2, "reason": "grocery needs its own now"}),
    );
    let served_at = served.last().unwrap().seq();
    let done = w.ok(
        "colby",
        "experiment.complete",
        json!({"hypothesis_id": h, "decision": "reject", "rationale": "kept as it is"}),
    );
    let timeline = |as_of: Option<u64>| {
        let q = commands::app::query::Timeline {
            model: "demand".into(),
            segment: Some("grocery".into()),
            as_of: as_of.map(|s| s.to_string()),
        };
        let view = View::new(w.ledger.store(), w.ledger.trust(), w.state(), None);
        q.answer(&view).unwrap().entries.iter().map(|e| e.seq).collect::<Vec<_>>()
    };
    assert!(timeline(None).contains(&done[0].seq()), "the completion explains v2 at the head");
    let then = timeline(Some(served_at));
    assert!(then.contains(&served_at) && then.iter().all(|s| *s <= served_at), "{then:?}");
    let compared = snapshot_index_answers_agree(&w).unwrap();
    assert!(compared >= 2 * w.ledger.store().len() as usize, "{compared} answers compared");
}
