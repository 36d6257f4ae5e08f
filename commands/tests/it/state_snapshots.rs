//! Snapshots of the state (`<ledger>/snapshots/`, FORMAT.md section 19): opening from one gives
//! exactly the state of a fold from genesis; every damaged, foreign, stale or older-format
//! snapshot is skipped for an older one or for the full fold; `verify` refuses a snapshot that
//! decodes but holds another state than the events give.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use commands::domain::PledgeDomain;
use ledger::canonical::{StepClock, Timestamp};
use ledger::snapshot::{self, Snapshot};
use ledger::{Domain, Ledger};
use projections::replay::{self, AsOf};
use serde_json::json;

use crate::harness::*;

fn clock() -> Arc<StepClock> {
    Arc::new(StepClock::new(Timestamp::parse_exact("2026-03-01T00:00:00.000000Z").unwrap(), 1_000_000))
}

/// Given: a ledger with a champion and a drift alert acted on, a snapshot written after the
/// first `at` events' worth of history, and more history after it. Returns the directory (the
/// world's ledger closed), its temp dir and the snapshot's path.
fn ledger_with_snapshot() -> (PathBuf, tempfile::TempDir, PathBuf) {
    let mut w = with_champion();
    w.ok("scheduler", "drift.record", json!({"model": "demand", "baseline": 12.8, "recent": 18.5}));
    let snap = w.ledger.snapshot().unwrap();
    let path = snapshot::write(w.ledger.store().dir(), &snap).unwrap();
    w.ok("maya", "run.record", run("r2", "scheduled", 11.0, 0.15, 0.95));
    w.ok(
        "maya",
        "hypothesis.propose",
        json!({"hypothesis_id": "H-1", "model": "demand", "statement": "lags help",
        "change_type": "feature", "target_metric": "mae", "expected_improvement_pct": 5.0, "owner": "maya"}),
    );
    let (l, dir, _) = w.into_parts();
    let ledger_dir = l.store().dir().to_path_buf();
    drop(l);
    (ledger_dir, dir, path)
}

/// The trust and domain state of a fold from genesis, as snapshot sections.
fn full_fold(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let l = Ledger::open(dir, clock(), PledgeDomain::default()).unwrap();
    (l.trust().to_snapshot(), l.domain().state.to_snapshot())
}

/// Opens from snapshots; returns the state as sections and the events folded after the
/// snapshot used (all of them when none was).
fn from_snapshots(dir: &Path) -> ((Vec<u8>, Vec<u8>), u64) {
    let l = Ledger::open_with_snapshots(dir, clock(), PledgeDomain::default()).unwrap();
    let parts = (l.trust().to_snapshot(), l.domain().state.to_snapshot());
    let folded = l.events_since_snapshot();
    // Nothing is due (fewer than EVERY events): closing writes nothing.
    (parts, folded)
}

fn rewrite(path: &Path, edit: impl FnOnce(&mut Snapshot)) {
    let mut snap = Snapshot::read(path).unwrap();
    edit(&mut snap);
    std::fs::write(path, snap.encode()).unwrap();
}

#[test]
fn opening_from_a_snapshot_folds_only_the_events_after_it_and_gives_the_full_folds_state() {
    let (dir, _tmp, path) = ledger_with_snapshot();
    let snap = Snapshot::read(&path).unwrap();
    let len = ledger::Store::open(&dir).map(|s| s.len()).unwrap();
    let expected = full_fold(&dir);
    let (got, folded) = from_snapshots(&dir);
    assert_eq!(folded, len - snap.seq - 1, "only the events after the snapshot are folded");
    assert!(folded > 0);
    assert_eq!(got, expected);
    // As-of reads start from it too, and agree with a rebuild at every point.
    let store = ledger::Store::open(&dir).unwrap();
    for seq in 0..len {
        let (state, from) = replay::replay_from_snapshot(&store, AsOf::Seq(seq)).unwrap();
        assert_eq!(from, (seq >= snap.seq).then_some(snap.seq), "at {seq}");
        assert_eq!(state, replay::rebuild(&store, AsOf::Seq(seq)).unwrap(), "at {seq}");
    }
    let (_, from) = replay::replay_from_snapshot(&store, AsOf::Time(snap.recorded_at)).unwrap();
    assert_eq!(from, Some(snap.seq));
    // What `pledge log` answers with: the snapshot's trust section and the events after it.
    assert_eq!(ledger::trust_at_head(&store).unwrap().to_snapshot(), expected.0);
    // And `verify` finds it equal to the events' state.
    let summary = ledger::verify_store(&store, commands::app::verify::verifier(None)).unwrap();
    assert_eq!(summary.snapshots, 1);
}

/// Every way a snapshot can be damaged, foreign, stale or of another format. Each is applied to
/// a fresh copy of the ledger; opening must give the full fold's state, and so must as-of reads.
#[test]
fn every_damaged_foreign_or_older_snapshot_is_skipped_for_the_full_fold() {
    type Tamper = Box<dyn Fn(&Path, &Path)>;
    let flip = |at: fn(usize) -> usize| -> Tamper {
        Box::new(move |p: &Path, _: &Path| {
            let mut b = std::fs::read(p).unwrap();
            let i = at(b.len());
            b[i] ^= 0x20;
            std::fs::write(p, b).unwrap();
        })
    };
    let cases: Vec<(&str, Tamper)> = vec![
        ("empty file", Box::new(|p, _| std::fs::write(p, b"").unwrap())),
        ("garbage", Box::new(|p, _| std::fs::write(p, vec![7u8; 4096]).unwrap())),
        (
            "truncated",
            Box::new(|p, _| {
                let b = std::fs::read(p).unwrap();
                std::fs::write(p, &b[..b.len() / 2]).unwrap();
            }),
        ),
        ("magic flipped", flip(|_| 3)),
        ("seq flipped", flip(|_| 21)),
        ("event hash flipped", flip(|_| 40)),
        ("trust section flipped", flip(|_| 100)),
        ("domain section flipped", flip(|n| n - 100)),
        ("checksum flipped", flip(|n| n - 1)),
        (
            "another format",
            Box::new(|p, _| {
                let mut b = std::fs::read(p).unwrap();
                b[16] = 3;
                let n = b.len() - 32;
                let check = ledger::Digest::of(&b[..n]).0;
                b[n..].copy_from_slice(&check);
                std::fs::write(p, b).unwrap();
            }),
        ),
        ("an older state layout", Box::new(|p, _| rewrite(p, |s| s.domain[13] = b'0'))),
        ("trust section that does not decode", Box::new(|p, _| rewrite(p, |s| s.trust = vec![0xc1]))),
        ("domain section that does not decode", Box::new(|p, _| rewrite(p, |s| s.domain.truncate(40)))),
        (
            "another chain's event",
            Box::new(|p, _| rewrite(p, |s| s.event = ledger::Digest::of(b"elsewhere"))),
        ),
        (
            "beyond the head",
            Box::new(|p, dir| {
                let mut s = Snapshot::read(p).unwrap();
                s.seq = 10_000;
                std::fs::remove_file(p).unwrap();
                snapshot::write(dir, &s).unwrap();
            }),
        ),
        (
            "renamed to another event",
            Box::new(|p, _| {
                std::fs::rename(p, p.with_file_name(format!("{:020}.snapshot", 3))).unwrap();
            }),
        ),
        (
            "a directory",
            Box::new(|p, _| {
                std::fs::remove_file(p).unwrap();
                std::fs::create_dir(p).unwrap();
            }),
        ),
        // Bound to its event, but the state inside is of an earlier one.
        (
            "a state of another event",
            Box::new(|p, _| {
                rewrite(p, |s| {
                    let mut state = projections::State::from_snapshot(&s.domain[..]).unwrap();
                    state.last_seq = state.last_seq.map(|q| q - 1);
                    s.domain = state.to_snapshot();
                })
            }),
        ),
        // Decodes and is bound to the right event, but the events after it do not fold onto
        // it (the model they name is missing): the fold from genesis is used instead.
        (
            "a state the next events do not fold onto",
            Box::new(|p, _| {
                rewrite(p, |s| {
                    let mut state = projections::State::from_snapshot(&s.domain[..]).unwrap();
                    state.models = Default::default();
                    s.domain = state.to_snapshot();
                })
            }),
        ),
    ];
    for (name, tamper) in &cases {
        let (dir, _tmp, path) = ledger_with_snapshot();
        let expected = full_fold(&dir);
        tamper(&path, &dir);
        let (got, folded) = from_snapshots(&dir);
        assert!(got == expected, "{name}: opening gave another state than the full fold");
        let len = ledger::Store::open(&dir).map(|s| s.len()).unwrap();
        assert_eq!(folded, len, "{name}: the snapshot was used");
        let store = ledger::Store::open(&dir).unwrap();
        let state = replay::replay(&store, AsOf::Head).unwrap();
        assert!(state.to_snapshot() == expected.1, "{name}: as-of read gave another state");
        // `verify` passes when the snapshot is one opening skips as unreadable or foreign (no
        // evidence either way), and refuses the one that decodes with another state.
        let verified = ledger::verify_store(&store, commands::app::verify::verifier(None));
        if name.starts_with("a state the next events") {
            let f = verified.unwrap_err();
            assert!(f.reason.contains("does not hold the state the events give"), "{name}: {f}");
        } else {
            let summary = verified.unwrap_or_else(|f| panic!("{name}: verify failed: {f}"));
            assert_eq!(summary.snapshots, 0, "{name}");
        }
    }
}

#[test]
fn a_stale_snapshot_is_used_and_the_newest_usable_one_wins() {
    let (dir, _tmp, older) = ledger_with_snapshot();
    let older_seq = Snapshot::read(&older).unwrap().seq;
    // A newer, damaged snapshot: the older one is used.
    let newer = {
        let l = Ledger::open(&dir, clock(), PledgeDomain::default()).unwrap();
        snapshot::write(&dir, &l.snapshot().unwrap()).unwrap()
    };
    let mut b = std::fs::read(&newer).unwrap();
    let n = b.len();
    b[n - 50] ^= 1;
    std::fs::write(&newer, b).unwrap();
    let expected = full_fold(&dir);
    let len = ledger::Store::open(&dir).map(|s| s.len()).unwrap();
    let (got, folded) = from_snapshots(&dir);
    assert_eq!(got, expected);
    assert_eq!(folded, len - older_seq - 1, "the older snapshot was used");
    // A newer one that is intact but whose domain section does not decode (restored, and
    // refused, while the store opens): the older one again.
    let newer = {
        let l = Ledger::open(&dir, clock(), PledgeDomain::default()).unwrap();
        snapshot::write(&dir, &l.snapshot().unwrap()).unwrap()
    };
    rewrite(&newer, |s| s.domain.truncate(s.domain.len() / 2));
    assert!(Snapshot::read(&newer).is_ok(), "the newer file is intact");
    let (got, folded) = from_snapshots(&dir);
    assert_eq!(got, expected);
    assert_eq!(folded, len - older_seq - 1, "the older snapshot was used");
}

#[test]
fn verify_refuses_a_snapshot_that_decodes_but_holds_another_state() {
    let (dir, _tmp, path) = ledger_with_snapshot();
    // A consistent forgery: v1 is no longer champion, checksum recomputed.
    rewrite(&path, |s| {
        let mut state = projections::State::from_snapshot(&s.domain[..]).unwrap();
        state.models.get_mut("demand").unwrap().champions.clear();
        s.domain = state.to_snapshot();
    });
    let store = ledger::Store::open(&dir).unwrap();
    let f = ledger::verify_store(&store, commands::app::verify::verifier(None)).unwrap_err();
    assert!(f.reason.contains("does not hold the state the events give"), "{f}");
    assert!(f.reason.contains(&path.file_name().unwrap().to_string_lossy().to_string()), "{f}");
    let snap = Snapshot::read(&path).unwrap();
    assert_eq!(f.seq, snap.seq);
    // The trust section too: another ledger's, with one more key enrolled.
    let (dir, _tmp, path) = ledger_with_snapshot();
    let mut other = with_champion();
    other.ok(
        "root",
        "key.enroll",
        json!({"principal": "plog", "public_key": key("plog").public().to_string()}),
    );
    let trust = other.ledger.trust().to_snapshot();
    rewrite(&path, |s| s.trust = trust);
    let store = ledger::Store::open(&dir).unwrap();
    let f = ledger::verify_store(&store, commands::app::verify::verifier(None)).unwrap_err();
    assert!(f.reason.contains("the trust state differs"), "{f}");
}

/// A snapshot's index (the timelines `pledge timeline` reads and the serving tables `pledge
/// champion` reads, without the read models) is evidence-free like the rest of it: one that
/// decodes and is bound to its event but says other than the state and the events give is
/// refused by `verify`, at its event and by name, even with its digests made to match.
#[test]
fn verify_refuses_a_snapshot_whose_index_is_not_the_one_the_events_give() {
    use commands::app::query::SnapshotIndex;
    type Forge = fn(&mut SnapshotIndex);
    let forgeries: [(&str, Forge); 7] = [
        ("an event added to a change", |i| {
            i.timelines.get_mut("demand").unwrap().changes.get_mut("").unwrap()[0].1.push(1)
        }),
        ("a change removed", |i| i.timelines.get_mut("demand").unwrap().changes.get_mut("").unwrap().clear()),
        ("a model's timelines removed", |i| {
            i.timelines.remove("demand");
        }),
        ("another champion", |i| i.serving.get_mut("demand").unwrap().champions[0].version += 1),
        ("a challenger added", |i| i.serving.get_mut("demand").unwrap().champions[0].challengers.push(9)),
        ("a route changed", |i| i.serving.get_mut("demand").unwrap().routes[0].own_champion ^= true),
        ("a model's serving removed", |i| {
            i.serving.remove("demand");
        }),
    ];
    for (name, forge) in forgeries {
        let (dir, _tmp, path) = ledger_with_snapshot();
        let store = ledger::Store::open(&dir).unwrap();
        let honest = ledger::verify_store(&store, commands::app::verify::verifier(None)).unwrap();
        assert_eq!(honest.snapshots, 1, "{name}");
        drop(store);
        rewrite(&path, |s| {
            let mut index = SnapshotIndex::decode(&s.index).unwrap();
            forge(&mut index);
            s.index = index.encode();
        });
        let store = ledger::Store::open(&dir).unwrap();
        let f = ledger::verify_store(&store, commands::app::verify::verifier(None)).unwrap_err();
        assert!(f.reason.contains("does not hold the index the events give"), "{name}: {f}");
        assert!(f.reason.contains(&path.file_name().unwrap().to_string_lossy().to_string()), "{name}: {f}");
        assert_eq!(f.seq, Snapshot::read(&path).unwrap().seq, "{name}");
    }
}

/// Given a snapshot at the head written without an index, or with one of an earlier layout
/// (the timelines alone, by a build before the serving tables), which `verify` accepts
/// without reading it: a timeline question answers from the store and the snapshot's parts,
/// and writes the snapshot again with its index, its trust and domain sections byte for byte
/// the same; the next timeline and champion questions are answered from it, alike, and
/// `verify` accepts the snapshot.
#[test]
fn a_timeline_adds_the_index_to_a_snapshot_at_the_head_that_lacks_it() {
    use commands::app::backend::{ask_from_snapshot_index, Backend};
    use commands::app::query::{Champions, Timeline};
    for earlier in ["none", "the timelines alone"] {
        let (dir, _tmp) = {
            let mut w = with_champion();
            w.ok("maya", "run.record", run("r2", "scheduled", 11.0, 0.15, 0.95));
            let (l, tmp, _) = w.into_parts();
            let dir = l.store().dir().to_path_buf();
            drop(l);
            let mut l = Ledger::open_with_snapshots(&dir, clock(), PledgeDomain::default()).unwrap();
            l.snapshot_if_due(1).expect("a snapshot at the head");
            (dir, tmp)
        };
        let path = snapshot::list(&dir)[0].1.clone();
        rewrite(&path, |s| match earlier {
            "none" => s.index.clear(),
            _ => {
                // `pledge-timelines/1\n` then the timelines map: the first element of the
                // current index's array.
                let body = &s.index[projections::snapshot::INDEX_TAG.len() + 1..];
                let mut de = rmp_serde::Deserializer::new(std::io::Cursor::new(body));
                let _: projections::query::Timelines = serde::Deserialize::deserialize(&mut de).unwrap();
                let end = de.position() as usize;
                s.index = [&b"pledge-timelines/1\n"[..], &body[..end]].concat();
            }
        });
        let before = Snapshot::read(&path).unwrap();
        let store = ledger::Store::open(&dir).unwrap();
        let summary = ledger::verify_store(&store, commands::app::verify::verifier(None)).unwrap();
        assert_eq!(summary.snapshots, 1, "{earlier}: the snapshot is verified, its index not read");
        drop(store);
        let q = Timeline { model: "demand".into(), segment: None, as_of: None };
        let champions = Champions { model: None };
        assert!(ask_from_snapshot_index(&dir, &q).unwrap().is_none(), "{earlier}: no index yet");
        assert!(ask_from_snapshot_index(&dir, &champions).unwrap().is_none(), "{earlier}: no index yet");
        let backend = Backend::Local(dir.clone());
        let champions_answer = serde_json::to_value(backend.ask(&champions).unwrap()).unwrap();
        assert_eq!(Snapshot::read(&path).unwrap(), before, "{earlier}: a champion question writes nothing");
        let answer = serde_json::to_value(backend.ask(&q).unwrap()).unwrap();
        assert!(answer["entries"].as_array().unwrap().len() >= 3, "{answer}");
        let after = Snapshot::read(&path).unwrap();
        assert!(
            projections::snapshot::SnapshotIndex::is_current(&after.index),
            "{earlier}: the index was added"
        );
        assert_eq!(
            (&after.trust, &after.domain, after.seq, after.event),
            (&before.trust, &before.domain, before.seq, before.event)
        );
        let again = ask_from_snapshot_index(&dir, &q).unwrap().expect("answered from the index");
        assert_eq!(serde_json::to_value(again.unwrap()).unwrap(), answer);
        let again = ask_from_snapshot_index(&dir, &champions).unwrap().expect("answered from the index");
        assert_eq!(serde_json::to_value(again.unwrap()).unwrap(), champions_answer);
        let store = ledger::Store::open(&dir).unwrap();
        let summary = ledger::verify_store(&store, commands::app::verify::verifier(None)).unwrap();
        assert_eq!(summary.snapshots, 1);
    }
}

#[test]
fn snapshots_are_written_when_due_and_only_the_newest_are_kept() {
    let mut w = with_champion().reopened_with_snapshots();
    let dir = w.ledger.store().dir().to_path_buf();
    assert_eq!(w.ledger.snapshot_if_due(1_000), None, "not due");
    let mut written = vec![];
    for i in 0..(snapshot::KEEP + 2) {
        w.ok("maya", "run.record", run(&format!("w{i}"), "scheduled", 12.0, 0.2, 0.9));
        written.push(w.ledger.snapshot_if_due(1).expect("due after one command"));
        assert_eq!(w.ledger.events_since_snapshot(), 0);
    }
    let kept: Vec<u64> = snapshot::list(&dir).into_iter().map(|s| s.0).collect();
    let mut newest: Vec<u64> = written.iter().rev().take(snapshot::KEEP).copied().collect();
    newest.sort_unstable_by_key(|s| std::cmp::Reverse(*s));
    assert_eq!(kept, newest);
    let (l, _tmp, _) = w.into_parts();
    drop(l);
    let expected = full_fold(&dir);
    let (got, folded) = from_snapshots(&dir);
    assert_eq!((got, folded), (expected, 0));
}

#[test]
fn closing_writes_a_snapshot_once_enough_events_were_folded_beyond_the_last() {
    closing_writes_the_heads_snapshot(drop, true);
}

/// `Ledger::close` (what a CLI command does) writes the same snapshot as dropping the ledger,
/// of the folded state, not of the domain it hands to the freeing thread.
#[test]
fn closing_on_another_thread_writes_the_same_snapshot() {
    closing_writes_the_heads_snapshot(Ledger::close, false);
}

/// Given a ledger 2,000 events past its snapshot, when it is closed with `close`, then the
/// head's snapshot is written and opening from it gives the full fold's state (and, with
/// `reads`, what a read after it writes and answers).
fn closing_writes_the_heads_snapshot(close: fn(Ledger<PledgeDomain>), reads: bool) {
    let mut w = with_champion().reopened_with_snapshots();
    let dir = w.ledger.store().dir().to_path_buf();
    let windows = |i: u64| {
        json!({"model": "demand", "version": 1, "window_start": format!("2026-01-{:02}T00:00:00Z", 1 + i % 27),
        "window_end": format!("2026-01-{:02}T00:00:00Z", 2 + i % 27), "metrics": {"mae": 12.0, "mape": 0.2, "coverage": 0.9}, "rows": 24})
    };
    let mut i = 0;
    let mut early = None;
    while w.ledger.events_since_snapshot() < snapshot::EVERY {
        w.ok("scheduler", "backtest.record", windows(i));
        if i == 10 {
            early = w.ledger.snapshot();
        }
        i += 1;
    }
    assert!(snapshot::list(&dir).is_empty(), "nothing written while appending");
    let head = w.ledger.store().head().unwrap().seq;
    let (l, _tmp, _) = w.into_parts();
    close(l);
    let kept: Vec<u64> = snapshot::list(&dir).into_iter().map(|s| s.0).collect();
    assert_eq!(kept, vec![head], "closing wrote the head's snapshot");
    let expected = full_fold(&dir);
    assert_eq!(from_snapshots(&dir), (expected, 0));
    if !reads {
        return;
    }

    // With only a snapshot fewer than 2,000 events behind the head, opening writes none, and
    // neither does a question about the read models alone, answered from that snapshot read on
    // demand; a question of the events that had to open this ledger (of 2,000 events or more)
    // writes one at the head, from which the next question is answered.
    std::fs::remove_file(&snapshot::list(&dir)[0].1).unwrap();
    let early = early.unwrap();
    snapshot::write(&dir, &early).unwrap();
    assert!(head - early.seq < snapshot::EVERY);
    let champions = commands::app::query::Champions { model: None };
    let at_head = || commands::app::backend::ask_at_head(&dir, &champions, projections::Parts::CORE).unwrap();
    assert!(at_head().is_none());
    let backend = commands::app::backend::Backend::Local(dir.clone());
    let answer = backend.ask(&champions).unwrap();
    let kept = || snapshot::list(&dir).into_iter().map(|s| s.0).collect::<Vec<_>>();
    assert_eq!(kept(), vec![early.seq], "the champions were read on demand, nothing written");
    let timeline = commands::app::query::Timeline { model: "demand".into(), segment: None, as_of: None };
    backend.ask(&timeline).unwrap();
    assert_eq!(kept(), vec![head, early.seq], "the timeline's open wrote the head's snapshot");
    assert_eq!(at_head().map(|a| a.unwrap()), Some(answer));
}

#[test]
fn a_question_of_the_events_far_from_any_snapshot_leaves_one_at_the_head() {
    use commands::app::backend::Backend;
    use commands::app::query::{EventSelection, Events, Page, Query, View};
    // Given: a ledger of more than `snapshot::EVERY` events with no snapshot, as one written
    // by a long-lived process or an import leaves it.
    let mut w = with_champion();
    let dir = w.ledger.store().dir().to_path_buf();
    let mut i = 0u64;
    while w.ledger.store().len() < snapshot::EVERY + 10 {
        w.ok(
            "scheduler",
            "backtest.record",
            json!({"model": "demand", "version": 1, "window_start": format!("2026-01-{:02}T00:00:00Z", 1 + i % 27),
            "window_end": format!("2026-01-{:02}T00:00:00Z", 2 + i % 27), "metrics": {"mae": 12.0, "mape": 0.2, "coverage": 0.9}, "rows": 24}),
        );
        i += 1;
    }
    let head = w.ledger.store().head().unwrap().seq;
    let (l, _tmp, _) = w.into_parts();
    drop(l);
    let questions = [
        Events { selection: EventSelection::default(), page: Page::Last { n: 5, after: None } },
        Events {
            selection: EventSelection { kind: Some("champion.changed".into()), ..EventSelection::default() },
            page: Page::After { after: None, limit: 50 },
        },
        Events {
            selection: EventSelection { actor: Some("colby".into()), ..EventSelection::default() },
            page: Page::After { after: None, limit: 50 },
        },
    ];
    let expected: Vec<serde_json::Value> = {
        let store = ledger::Store::open(&dir).unwrap();
        let trust = ledger::trust_at_head(&store).unwrap();
        let state = projections::State::default();
        questions.iter().map(|q| as_json(q.answer(&View::new(&store, &trust, &state, None)))).collect()
    };
    assert!(expected[0]["events"].as_array().is_some_and(|e| e.len() == 5));
    assert!(expected[1]["events"].as_array().is_some_and(|e| !e.is_empty()));
    assert!(expected[2]["events"].as_array().is_some_and(|e| !e.is_empty()));
    assert!(snapshot::list(&dir).is_empty(), "no snapshot before the question");

    // When: the events are asked for. Then: the answer is the one the trust state at the head
    // gives. Questions that need no trust state are answered from the event index and leave
    // nothing; the actor's, which needs it, opens the ledger and leaves a snapshot of the head,
    // from which the next questions are answered alike.
    let backend = Backend::Local(dir.clone());
    for (i, (q, expected)) in questions.iter().zip(&expected).enumerate() {
        assert_eq!(&as_json(Ok(backend.ask(q).unwrap())), expected);
        let kept: Vec<u64> = snapshot::list(&dir).into_iter().map(|s| s.0).collect();
        let want = if i < 2 { vec![] } else { vec![head] };
        assert_eq!(kept, want, "question {i}: the snapshots left");
    }
    for (q, expected) in questions.iter().zip(&expected) {
        assert_eq!(&as_json(Ok(backend.ask(q).unwrap())), expected);
        let answered = commands::app::backend::ask_from_event_index(&dir, q).unwrap().map(as_json);
        assert_eq!(answered.as_ref(), Some(expected), "answered from the event index");
    }
}

/// Every question that reads no events, each as its name and `$e` evaluated with `$q` bound
/// to it (`$alert`: the id of an alert the ledger holds).
macro_rules! every_question {
    ($alert:expr, $q:ident => $e:expr) => {{
        use commands::app::query::*;
        vec![
            ("champions", {
                let $q = &Champions { model: None };
                $e
            }),
            ("champions of demand", {
                let $q = &Champions { model: Some("demand".into()) };
                $e
            }),
            ("champions of nothing", {
                let $q = &Champions { model: Some("nothing".into()) };
                $e
            }),
            ("versions", {
                let $q = &Versions { model: "demand".into() };
                $e
            }),
            ("alerts", {
                let $q = &Alerts { status: None, severity: None };
                $e
            }),
            ("alert", {
                let $q = &AlertById { id: $alert };
                $e
            }),
            ("alert stats", {
                let $q = &AlertStats;
                $e
            }),
            ("experiments", {
                let $q = &Experiments;
                $e
            }),
            ("experiment", {
                let $q = &ExperimentById { id: "H-1".into() };
                $e
            }),
            ("proposals", {
                let $q = &Proposals;
                $e
            }),
            ("release", {
                let $q = &Release { model: "demand".into() };
                $e
            }),
            ("policy", {
                let $q = &PolicyInForce;
                $e
            }),
            ("keys", {
                let $q = &Keys;
                $e
            }),
        ]
    }};
}

/// An answer as JSON, an error as its message.
fn as_json<T: serde::Serialize>(answer: Result<T, commands::app::query::QueryError>) -> serde_json::Value {
    match answer {
        Ok(a) => serde_json::to_value(a).unwrap(),
        Err(e) => json!(commands::app::failure::Failure::from(e).message),
    }
}

/// The questions that read no events, asked of the ledger opened and folded.
fn questions_and_full_answers(dir: &Path) -> Vec<(&'static str, serde_json::Value)> {
    use commands::app::query::View;
    let l = Ledger::open(dir, clock(), PledgeDomain::default()).unwrap();
    let alert = l.domain().state.alerts.keys().next().expect("an alert").clone();
    let view = View::new(l.store(), l.trust(), &l.domain().state, l.domain().policy.as_deref());
    every_question!(alert, q => as_json(q.answer(&view)))
}

/// The same questions answered from the snapshot at the head without opening the store
/// (`None` for each when there is none to answer from).
fn answers_at_head(dir: &Path) -> Vec<(&'static str, Option<serde_json::Value>)> {
    use commands::app::backend::ask_at_head;
    use commands::app::query::Query;
    fn parts<Q: Query>(_: &Q) -> projections::Parts {
        Q::PARTS.expect("a question that reads no events")
    }
    let alert = {
        let l = Ledger::open(dir, clock(), PledgeDomain::default()).unwrap();
        let id = l.domain().state.alerts.keys().next().expect("an alert").clone();
        id
    };
    every_question!(alert, q => ask_at_head(dir, q, parts(q)).unwrap().map(as_json))
}

/// The same questions answered from the index of the snapshot at the head and the committed
/// events (`None` for each that is not answered so: it reads more than the index holds, or
/// there is no snapshot to answer from).
fn answers_from_index(dir: &Path) -> Vec<(&'static str, Option<serde_json::Value>)> {
    use commands::app::backend::ask_from_snapshot_index;
    use commands::app::query::Query;
    fn from_index<Q: Query>(dir: &Path, q: &Q) -> Option<serde_json::Value> {
        let answered = ask_from_snapshot_index(dir, q).unwrap().map(as_json);
        assert!(Q::READS_SNAPSHOT_INDEX || answered.is_none(), "answered from the index, unasked");
        answered
    }
    let alert = {
        let l = Ledger::open(dir, clock(), PledgeDomain::default()).unwrap();
        let id = l.domain().state.alerts.keys().next().expect("an alert").clone();
        id
    };
    every_question!(alert, q => from_index(dir, q))
}

#[test]
fn questions_that_read_no_events_are_answered_from_the_snapshot_at_the_head_as_a_full_open_answers_them() {
    // Given: a ledger whose newest snapshot is behind its head, with backtest windows too.
    let (dir, _tmp) = {
        let mut w = with_champion();
        w.ok("scheduler", "drift.record", json!({"model": "demand", "baseline": 12.8, "recent": 18.5}));
        let snap = w.ledger.snapshot().unwrap();
        snapshot::write(w.ledger.store().dir(), &snap).unwrap();
        w.ok(
            "scheduler",
            "backtest.record",
            json!({"model": "demand", "version": 1, "window_start": "2026-02-01",
                "window_end": "2026-02-08", "metrics": {"mae": 12.9}, "rows": 5000}),
        );
        w.ok(
            "maya",
            "hypothesis.propose",
            json!({"hypothesis_id": "H-1", "model": "demand", "statement": "lags help",
            "change_type": "feature", "target_metric": "mae", "expected_improvement_pct": 5.0, "owner": "maya"}),
        );
        let (l, tmp, _) = w.into_parts();
        let dir = l.store().dir().to_path_buf();
        drop(l);
        (dir, tmp)
    };
    let expected = questions_and_full_answers(&dir);
    assert!(
        expected.iter().filter(|(_, a)| a.is_string()).count() == 1,
        "one question is refused: {expected:?}"
    );
    // When the snapshot is behind the head, none is answered from it.
    assert!(
        answers_at_head(&dir).iter().all(|(_, a)| a.is_none()),
        "a snapshot behind the head answers nothing"
    );
    assert!(
        answers_from_index(&dir).iter().all(|(_, a)| a.is_none()),
        "the index of a snapshot behind the head answers nothing"
    );
    // A read through the CLI's backend answers from the snapshot behind the head read on
    // demand and the events after it, and keeps no snapshot of the head.
    let backend = commands::app::backend::Backend::Local(dir.clone());
    let via_backend = backend.ask(&commands::app::query::Champions { model: None }).unwrap();
    assert_eq!(serde_json::to_value(via_backend).unwrap(), expected[0].1);
    let head = ledger::Store::open(&dir).unwrap().head().unwrap();
    assert!(snapshot::list(&dir)[0].0 < head.seq, "a small ledger gets no snapshot from a read");
    {
        let mut l = Ledger::open_with_snapshots(&dir, clock(), PledgeDomain::default()).unwrap();
        assert_eq!(l.snapshot_if_due(1), Some(head.seq));
    }
    // Then every question is answered from it, as the full open answers it.
    let at_head = answers_at_head(&dir);
    for ((name, full), (_, fast)) in expected.iter().zip(&at_head) {
        assert_eq!(fast.as_ref(), Some(full), "{name}");
    }
    // And the champions, the policy and the keys from its index alone, alike.
    let from_index = answers_from_index(&dir);
    let answered: Vec<&str> = from_index.iter().filter(|(_, a)| a.is_some()).map(|(n, _)| *n).collect();
    let want = ["champions", "champions of demand", "champions of nothing", "policy", "keys"];
    assert_eq!(answered, want, "the questions the index answers");
    for ((name, full), (_, indexed)) in expected.iter().zip(&from_index) {
        if let Some(indexed) = indexed {
            assert_eq!(indexed, full, "{name}: from the index");
        }
    }
}

#[test]
fn a_snapshot_at_the_head_is_not_used_when_the_journal_or_the_snapshot_does_not_vouch_for_it() {
    let (dir, _tmp, _) = ledger_with_snapshot();
    {
        let mut l = Ledger::open_with_snapshots(&dir, clock(), PledgeDomain::default()).unwrap();
        assert!(l.snapshot_if_due(1).is_some());
    }
    let champions = commands::app::query::Champions { model: None };
    let ask = |dir: &Path| {
        commands::app::backend::ask_at_head(dir, &champions, projections::Parts::CORE)
            .unwrap()
            .map(|a| a.unwrap())
    };
    let expected = ask(&dir).expect("answered from the snapshot at the head");
    let (snap_path, journal) = (snapshot::list(&dir)[0].1.clone(), dir.join("pledge.wal"));
    let (snap_bytes, journal_bytes) = (std::fs::read(&snap_path).unwrap(), std::fs::read(&journal).unwrap());
    let restore = || {
        std::fs::write(&snap_path, &snap_bytes).unwrap();
        std::fs::write(&journal, &journal_bytes).unwrap();
    };
    // Each of these leaves the reader unable to vouch for the snapshot at the head: it must
    // not answer from it (and the full open, which repairs or refuses, answers instead).
    let tampers = [
        "a flipped byte in the snapshot",
        "a flipped byte in a part the question does not read",
        "a snapshot of another event at the head's number",
        "the snapshot removed",
        "an empty journal",
        "a damaged journal",
        "a journal torn after its records",
    ];
    for name in tampers {
        restore();
        assert_eq!(ask(&dir).as_ref(), Some(&expected), "{name}: before");
        match name {
            "a flipped byte in the snapshot" => {
                let mut b = snap_bytes.clone();
                b[snap_bytes.len() / 2] ^= 1;
                std::fs::write(&snap_path, b).unwrap();
            }
            "a flipped byte in a part the question does not read" => {
                // In the alerts, the last part: only the file's checksum can tell.
                let mut b = snap_bytes.clone();
                b[snap_bytes.len() - 40] ^= 1;
                std::fs::write(&snap_path, b).unwrap();
            }
            "a snapshot of another event at the head's number" => {
                rewrite(&snap_path, |s| s.event = ledger::Digest::of(b"another event"));
            }
            "the snapshot removed" => std::fs::remove_file(&snap_path).unwrap(),
            "an empty journal" => std::fs::write(&journal, vec![0u8; journal_bytes.len()]).unwrap(),
            "a damaged journal" => {
                let mut b = journal_bytes.clone();
                b[60] ^= 1;
                std::fs::write(&journal, b).unwrap();
            }
            _ => {
                let mut b = journal_bytes.clone();
                let end = b.iter().rposition(|x| *x != 0).unwrap();
                b[end + 600] = 7;
                std::fs::write(&journal, b).unwrap();
            }
        }
        assert!(ask(&dir).is_none(), "{name}: answered from a snapshot the journal does not vouch for");
    }
}

/// Reads fold the store in a pipeline of chunks (one folded while the next is decoded and the
/// one after read): with chunks of 1, 2, 3, 7 and 64 events the state as of every event is the
/// one the default chunks give, at the head the one the ledger's own fold gives, and an event
/// whose payload does not decode (a forgery with every hash made consistent) is reported at
/// its own sequence number wherever the chunk boundaries fall.
#[test]
fn reads_fold_the_same_state_in_chunks_of_any_size() {
    let mut w = with_champion();
    for i in 0..30u64 {
        let window = json!({"model": "demand", "version": 1,
            "window_start": format!("2026-01-{:02}T00:00:00Z", 1 + i % 27),
            "window_end": format!("2026-01-{:02}T00:00:00Z", 2 + i % 27),
            "metrics": {"mae": 12.0 + i as f64, "mape": 0.2, "coverage": 0.9}, "rows": 24});
        w.ok("scheduler", "backtest.record", window);
    }
    let store = w.ledger.store();
    let n = store.len();
    assert!(n > 40, "{n} events");
    let state = |s: Result<projections::State, ledger::StoreError>| s.unwrap().to_snapshot();
    for chunk in [1, 2, 3, 7, 64] {
        for seq in 0..n {
            assert_eq!(
                state(replay::rebuild_in_chunks_of(store, AsOf::Seq(seq), chunk)),
                state(replay::rebuild(store, AsOf::Seq(seq))),
                "chunks of {chunk}, as of event {seq}"
            );
        }
        assert_eq!(
            state(replay::rebuild_in_chunks_of(store, AsOf::Head, chunk)),
            w.ledger.domain().state.to_snapshot()
        );
    }

    let mut forgery = ledger::forge::Forgery::of_store(store).unwrap();
    let k = (n as usize / 2..n as usize).find(|&k| forgery.event(k)["kind"] == "backtest.recorded").unwrap();
    forgery.edit(k, |e| e["payload"]["rows"] = json!("many"));
    let dir = tempfile::tempdir().unwrap();
    forgery.write_store(dir.path()).unwrap();
    let forged = ledger::Store::open(dir.path()).unwrap();
    for chunk in [1, 2, 3, 7, 64, 8192] {
        match replay::rebuild_in_chunks_of(&forged, AsOf::Head, chunk) {
            Err(ledger::StoreError::Corrupt { seq, reason }) => {
                assert_eq!(seq, k as u64, "chunks of {chunk}: {reason}")
            }
            other => panic!("chunks of {chunk}: the forged event gave {:?}", other.map(|_| ())),
        }
    }
}

/// Given a ledger with a snapshot at its head, timelines (at the head, as of every event and of
/// times, of a segment, of a model never registered, with a malformed point) are answered from
/// the store and the snapshot's parts, and from the snapshot's index and the committed events
/// alone, as a full open answers them; when the snapshot cannot vouch for the head (older than
/// it, damaged, of another event, removed), neither answers, except that the index, which
/// does not read the domain section, still answers (alike) when only that section is damaged;
/// and the CLI's backend answers as the full open does.
#[test]
fn timelines_are_answered_from_the_store_and_the_snapshot_at_the_head_as_a_full_open_answers_them() {
    use commands::app::backend::{ask_from_snapshot_index, ask_with_events_at_head, Backend};
    use commands::app::query::{Champions, Query, Timeline, View};
    let (dir, _tmp, older) = {
        let mut w = with_champion();
        let ev =
            w.ok("scheduler", "drift.record", json!({"model": "demand", "baseline": 12.8, "recent": 18.5}));
        let older = w.ledger.snapshot().unwrap();
        let alert_id = format!("A-{}", ev[0].hash.short());
        let mut body = run("r-drift", "drift_detected", 10.9, 0.15, 0.92);
        body["drift_alert_id"] = json!(alert_id);
        w.ok("maya", "run.record", body);
        w.ok("colby", "alert.action", json!({"alert_id": alert_id, "action": "approve", "notes": "fine"}));
        let mut body = run("r-toys", "manual", 12.0, 0.2, 0.9);
        body["models"][0]["segment"] = json!("toys");
        let version = w.ok("maya", "run.record", body)[1].event.payload["version"].clone();
        w.ok(
            "colby",
            "champion.bootstrap",
            json!({"model": "demand", "segment": "toys", "version": version, "reason": "toys apart"}),
        );
        let (l, tmp, _) = w.into_parts();
        let dir = l.store().dir().to_path_buf();
        drop(l);
        let mut l = Ledger::open_with_snapshots(&dir, clock(), PledgeDomain::default()).unwrap();
        l.snapshot_if_due(1).expect("a snapshot at the head");
        (dir, tmp, older)
    };
    let (len, times) = {
        let store = ledger::Store::open(&dir).unwrap();
        let times: Vec<String> = store.iter().map(|e| e.unwrap().event.recorded_at.to_string()).collect();
        (store.len(), times)
    };
    let mut questions = vec![];
    for model in ["demand", "nothing"] {
        for segment in [None, Some("toys"), Some("garden")] {
            let mut points: Vec<Option<String>> = vec![None, Some("yesterday".into())];
            points.extend((0..=len).map(|k| Some(k.to_string())));
            points.extend(times.iter().step_by(3).map(|t| Some(t.clone())));
            for as_of in points {
                questions.push(Timeline { model: model.into(), segment: segment.map(Into::into), as_of });
            }
        }
    }
    let champion_questions: Vec<Champions> =
        [None, Some("demand"), Some("nothing")].map(|m| Champions { model: m.map(Into::into) }).into();
    let (expected, champions_expected): (Vec<serde_json::Value>, Vec<serde_json::Value>) = {
        let l = Ledger::open(&dir, clock(), PledgeDomain::default()).unwrap();
        let view = View::new(l.store(), l.trust(), &l.domain().state, l.domain().policy.as_deref());
        (
            questions.iter().map(|q| as_json(q.answer(&view))).collect(),
            champion_questions.iter().map(|q| as_json(q.answer(&view))).collect(),
        )
    };
    assert_eq!(champions_expected[0]["champions"].as_array().map(Vec::len), Some(2), "two champions");
    assert!(expected.iter().filter(|a| a["entries"].as_array().is_some_and(|e| e.len() > 3)).count() > 10);
    let parts = Timeline::EVENT_PARTS.expect("a timeline reads events and parts of the read models");
    let fast = |q: &Timeline| ask_with_events_at_head(&dir, q, parts).unwrap().map(as_json);
    let indexed = |q: &Timeline| ask_from_snapshot_index(&dir, q).unwrap().map(as_json);
    let champions_indexed = |q: &Champions| ask_from_snapshot_index(&dir, q).unwrap().map(as_json);
    for (q, want) in questions.iter().zip(&expected) {
        assert_eq!(fast(q).as_ref(), Some(want), "{q:?}");
        assert_eq!(indexed(q).as_ref(), Some(want), "{q:?}: from the index");
    }
    for (q, want) in champion_questions.iter().zip(&champions_expected) {
        assert_eq!(champions_indexed(q).as_ref(), Some(want), "{q:?}: from the index");
    }

    let snap_path = snapshot::list(&dir)[0].1.clone();
    let snap_bytes = std::fs::read(&snap_path).unwrap();
    let index = Snapshot::read(&snap_path).unwrap().index;
    let index_len = index.len();
    let kept = projections::snapshot::SnapshotIndex::decode(&index).unwrap();
    assert!(kept.timelines["demand"].changes.len() == 2, "the snapshot at the head holds the timelines");
    assert!(kept.serving["demand"].champions.len() == 2, "and the champions");
    let tampers = [
        "an older snapshot only",
        "a flipped byte in the snapshot",
        "a flipped byte in the index",
        "a flipped byte in the trust section",
        "a snapshot of another event at the head's number",
        "the snapshot removed",
    ];
    for name in tampers {
        for (_, path) in snapshot::list(&dir) {
            std::fs::remove_file(path).unwrap();
        }
        std::fs::write(&snap_path, &snap_bytes).unwrap();
        assert!(fast(&questions[0]).is_some(), "{name}: before");
        assert!(indexed(&questions[0]).is_some(), "{name}: before, from the index");
        let flip = |at: usize| {
            let mut b = snap_bytes.clone();
            b[at] ^= 1;
            std::fs::write(&snap_path, b).unwrap();
        };
        match name {
            "an older snapshot only" => {
                std::fs::remove_file(&snap_path).unwrap();
                snapshot::write(&dir, &older).unwrap();
            }
            "a flipped byte in the snapshot" => flip(snap_bytes.len() / 2),
            "a flipped byte in the index" => flip(snap_bytes.len() - 32 - index_len / 2),
            "a flipped byte in the trust section" => flip(100),
            "a snapshot of another event at the head's number" => {
                rewrite(&snap_path, |s| s.event = ledger::Digest::of(b"another event"));
            }
            _ => std::fs::remove_file(&snap_path).unwrap(),
        }
        let backend = Backend::Local(dir.clone());
        // The index does not read the domain section, where the middle of the file is.
        let index_vouches = name == "a flipped byte in the snapshot";
        let check = |q: &dyn std::fmt::Debug, indexed: Option<serde_json::Value>, full, want| {
            match indexed {
                Some(got) => {
                    assert!(index_vouches, "{name}: answered from an index that cannot vouch for the head");
                    assert_eq!(&got, want, "{name}: {q:?}");
                }
                None => assert!(!index_vouches, "{name}: {q:?} not answered from the index"),
            }
            let full: Result<serde_json::Value, commands::app::failure::Failure> = full;
            assert_eq!(&full.unwrap_or_else(|f| json!(f.message)), want, "{name}: {q:?}");
        };
        for (q, want) in questions.iter().zip(&expected).step_by(7) {
            assert!(fast(q).is_none(), "{name}: answered from a snapshot that cannot vouch for the head");
            check(q, indexed(q), backend.ask(q).map(|a| serde_json::to_value(a).unwrap()), want);
        }
        for (q, want) in champion_questions.iter().zip(&champions_expected) {
            check(q, champions_indexed(q), backend.ask(q).map(|a| serde_json::to_value(a).unwrap()), want);
        }
    }
}

/// Given a ledger, event queries (by kind, model, segment, actor and time, first pages, later
/// pages and last pages) are answered from the committed events and the event index without
/// opening the store, as the open store answers them; an actor, which needs the trust state,
/// only when a snapshot of the head gives it; and events by id alike.
#[test]
fn event_queries_are_answered_from_the_event_index_as_the_store_answers_them() {
    use commands::app::backend::ask_from_event_index;
    use commands::app::query::{EventById, EventSelection, Events, Page, Query, View};
    let (dir, _tmp, _) = ledger_with_snapshot();
    let (evs, expected, questions) = {
        let l = Ledger::open(&dir, clock(), PledgeDomain::default()).unwrap();
        let evs: Vec<ledger::RecordedEvent> = l.store().iter().map(Result::unwrap).collect();
        let mid = evs[evs.len() / 2].event.recorded_at.to_string();
        let mut selections = vec![EventSelection::default()];
        for kind in ["run.recorded", "champion.changed", "key.enrolled", "nothing.happened"] {
            selections.push(EventSelection { kind: Some(kind.into()), ..Default::default() });
        }
        for (model, segment) in
            [("demand", None), ("demand", Some("")), ("demand", Some("toys")), ("other", None)]
        {
            selections.push(EventSelection {
                model: Some(model.into()),
                segment: segment.map(Into::into),
                ..Default::default()
            });
        }
        selections.push(EventSelection { since: Some(mid.clone()), ..Default::default() });
        selections.push(EventSelection {
            until: Some(mid.clone()),
            kind: Some("run.recorded".into()),
            ..Default::default()
        });
        let mut questions = vec![];
        for selection in selections {
            for page in [
                Page::After { after: None, limit: 3 },
                Page::After { after: Some(5), limit: 1000 },
                Page::Last { n: 2, after: None },
                Page::Last { n: 1000, after: Some(7) },
            ] {
                questions.push(Events { selection: selection.clone(), page });
            }
        }
        let view = View::new(l.store(), l.trust(), &l.domain().state, l.domain().policy.as_deref());
        let expected: Vec<serde_json::Value> = questions.iter().map(|q| as_json(q.answer(&view))).collect();
        (evs, expected, questions)
    };
    assert!(expected.iter().filter(|a| a["events"].as_array().is_some_and(|e| e.len() > 1)).count() > 10);
    for (q, want) in questions.iter().zip(&expected) {
        let got = ask_from_event_index(&dir, q).unwrap().map(as_json);
        assert_eq!(got.as_ref(), Some(want), "{q:?}");
    }
    // An actor needs the trust state: none without a snapshot of the head, alike with one.
    let by_maya = Events {
        selection: EventSelection { actor: Some("maya".into()), ..Default::default() },
        page: Page::After { after: None, limit: 1000 },
    };
    assert!(ask_from_event_index(&dir, &by_maya).unwrap().is_none(), "no snapshot of the head");
    let want = {
        let mut l = Ledger::open_with_snapshots(&dir, clock(), PledgeDomain::default()).unwrap();
        l.snapshot_if_due(1).expect("a snapshot at the head");
        let view = View::new(l.store(), l.trust(), &l.domain().state, l.domain().policy.as_deref());
        as_json(by_maya.answer(&view))
    };
    assert!(want["events"].as_array().unwrap().len() > 2);
    assert_eq!(ask_from_event_index(&dir, &by_maya).unwrap().map(as_json), Some(want));
    // Events by id and by sequence number, and an id no event has.
    for ev in &evs {
        for id in [ev.hash.to_string(), ev.seq().to_string()] {
            let got = EventById { id }.from_committed(&dir).unwrap().expect("answered without the store");
            assert_eq!((got.seq, got.hash), (ev.seq(), ev.hash.to_string()));
        }
    }
    let unknown = ledger::Digest([7; 32]).to_string();
    let err = EventById { id: unknown.clone() }.from_committed(&dir).unwrap_err();
    assert!(commands::app::failure::Failure::from(err).message.contains(&unknown));
    // An event after the newest snapshot altered in `events.log` (its stored id left as it
    // was): the events no longer check, so nothing is answered without opening the store,
    // which reports the damage.
    let idx = std::fs::read(dir.join("events.idx")).unwrap();
    let end = |i: usize| u64::from_be_bytes(idx[i * 8..][..8].try_into().unwrap()) as usize;
    let last = evs.len() - 1;
    let mut log = std::fs::read(dir.join("events.log")).unwrap();
    let text = String::from_utf8(log[end(last - 1) + 32..end(last)].to_vec()).unwrap();
    let at = end(last - 1) + 32 + text.find("\"recorded_at\":\"20").unwrap() + "\"recorded_at\":\"20".len();
    log[at] = b'1';
    std::fs::write(dir.join("events.log"), log).unwrap();
    assert!(
        ask_from_event_index(&dir, &questions[0]).unwrap().is_none(),
        "a damaged event after the snapshot"
    );
}

/// Where part `part` of a domain section (0 the core, 1 the version details, 2 the experiments,
/// 3 the runs, 4 the alerts) starts, after its length, and how long it is (FORMAT.md section 19).
fn part_at(domain: &[u8], part: usize) -> (usize, usize) {
    let len_at = |at: usize| u64::from_le_bytes(domain[at..at + 8].try_into().unwrap()) as usize;
    let mut at = projections::SNAPSHOT_TAG.len();
    for _ in 0..part {
        at += 8 + len_at(at);
    }
    (at + 8, len_at(at))
}

/// The same ledger as [`ledger_with_snapshot`], with the ids of the commands to come; with
/// `at_head`, a snapshot of the head is written too (so that nothing is folded on opening and
/// the commands alone read the experiments and runs).
fn ledger_to_write(at_head: bool) -> (PathBuf, tempfile::TempDir, PathBuf, Ids) {
    let mut w = with_champion();
    w.ok("scheduler", "drift.record", json!({"model": "demand", "baseline": 12.8, "recent": 18.5}));
    let snap = w.ledger.snapshot().unwrap();
    let mut path = snapshot::write(w.ledger.store().dir(), &snap).unwrap();
    w.ok("maya", "run.record", run("r2", "scheduled", 11.0, 0.15, 0.95));
    w.ok("maya", "hypothesis.propose", hypothesis_body("H-1", "lags help"));
    if at_head {
        path = snapshot::write(w.ledger.store().dir(), &w.ledger.snapshot().unwrap()).unwrap();
    }
    let (l, dir, ids) = w.into_parts();
    let ledger_dir = l.store().dir().to_path_buf();
    drop(l);
    (ledger_dir, dir, path, ids)
}

/// Commands decided on a state whose experiments and runs are read on demand (what the CLI's
/// write commands open, `Ledger::open_to_write`) append exactly the events the whole state
/// appends, and are refused by the same rule; with the snapshot intact, and with a block of
/// its runs damaged under a valid file checksum, which the fold of the events after it or the
/// first command reading the runs finds: nothing is committed on the damaged state, which is
/// restored whole (that snapshot skipped) and the commands decided again.
#[test]
fn commands_decided_on_a_state_read_on_demand_append_what_the_whole_state_appends() {
    let experiment_run = {
        let mut r = run("r4", "experiment", 10.5, 0.14, 0.93);
        r["hypothesis_id"] = json!("H-2");
        r
    };
    let commands: Vec<(&str, &str, serde_json::Value)> = vec![
        ("maya", "run.record", run("r3", "scheduled", 11.5, 0.16, 0.94)),
        ("maya", "run.record", run("r1", "manual", 12.3, 0.20, 0.90)),
        ("maya", "hypothesis.propose", hypothesis_body("H-1", "lags help")),
        ("maya", "hypothesis.propose", hypothesis_body("H-2", "holidays help")),
        ("colby", "experiment.approve", json!({"hypothesis_id": "H-2", "rationale": "ok"})),
        ("maya", "experiment.start", json!({"hypothesis_id": "H-2"})),
        ("maya", "run.record", experiment_run),
    ];
    for (at_head, damaged) in [(false, false), (true, false), (false, true), (true, true)] {
        let case = format!("snapshot at the head: {at_head}, damaged: {damaged}");
        let (on_demand_dir, _t1, path, on_demand_ids) = ledger_to_write(at_head);
        let (whole_dir, _t2, _, whole_ids) = ledger_to_write(at_head);
        if damaged {
            // The last byte of the runs part is in its last block: its digest no longer matches.
            rewrite(&path, |s| {
                let (at, len) = part_at(&s.domain, 3);
                s.domain[at + len - 1] ^= 0x01;
            });
        }
        let mut refused = 0;
        // The world's clock, so that its commands are fresh.
        let clock = || Arc::new(StepClock::new(Timestamp::parse_exact(T0).unwrap(), 60_000_000));
        for (who, kind, body) in &commands {
            let mut on_demand =
                Ledger::open_to_write(&on_demand_dir, clock(), PledgeDomain::default()).unwrap();
            let mut whole =
                Ledger::open_with_snapshots(&whole_dir, clock(), PledgeDomain::default()).unwrap();
            let got =
                on_demand.submit(on_demand_ids.envelope(who, kind, body.clone()), ledger::ExpectedHead::Any);
            let want = whole.submit(whole_ids.envelope(who, kind, body.clone()), ledger::ExpectedHead::Any);
            match (got, want) {
                (Ok(got), Ok(want)) => {
                    let hashes = |r: &ledger::Receipt| r.events.iter().map(|e| e.hash).collect::<Vec<_>>();
                    assert_eq!(hashes(&got), hashes(&want), "{case}: {kind}");
                    assert!(!got.events.is_empty());
                }
                (Err(got), Err(want)) => {
                    assert_eq!(got.to_string(), want.to_string(), "{case}: {kind}");
                    refused += 1;
                }
                (got, want) => panic!("{case}: {kind}: {got:?} against {want:?}"),
            }
            assert_eq!(on_demand.domain().damage(), None, "{case}: {kind}: the state kept is whole");
            assert_eq!(on_demand.store().head(), whole.store().head(), "{case}: {kind}");
        }
        assert_eq!(refused, 2, "{case}: the second r1 and H-1 are refused");
        assert_eq!(full_fold(&on_demand_dir), full_fold(&whole_dir), "{case}");
    }
}

/// A write on a state read on demand reads the blocks of the models, experiments and runs it
/// names, not the others: on a ledger of 300 runs and 300 hypotheses (several blocks each), 60
/// more models and a few alerts, proposing a hypothesis reads one block of the experiments, the block of its
/// model and none of the runs or alerts, and recording a run reads one block of the runs (and
/// of the experiments none: the run names no hypothesis).
#[test]
fn a_write_on_a_state_read_on_demand_reads_only_the_blocks_of_what_it_names() {
    let mut w = with_champion();
    for i in 0..300 {
        let mut r = run(&format!("r-{i:03}"), "scheduled", 13.0 + i as f64 / 100.0, 0.2, 0.9);
        r["params"] = json!({"note": "x".repeat(80)});
        w.ok("maya", "run.record", r);
        w.ok("maya", "hypothesis.propose", hypothesis_body(&format!("H-{i:03}"), &"s".repeat(120)));
    }
    for i in 0..3 {
        let dataset = json!({"dataset": "sales", "version": format!("v{i}"), "digest": DIGEST});
        w.ok("scheduler", "dataset.register", dataset);
    }
    for i in 0..60 {
        w.ok(
            "maya",
            "model.register",
            json!({"model": format!("m-{i:02}-{}", "x".repeat(100)), "task": "classification"}),
        );
    }
    snapshot::write(w.ledger.store().dir(), &w.ledger.snapshot().unwrap()).unwrap();
    let (l, _tmp, ids) = w.into_parts();
    let dir = l.store().dir().to_path_buf();
    drop(l);
    let clock = || Arc::new(StepClock::new(Timestamp::parse_exact(T0).unwrap(), 60_000_000));
    let mut on_demand = Ledger::open_to_write(&dir, clock(), PledgeDomain::default()).unwrap();
    let state = &on_demand.domain().state;
    let (runs, experiments) = (state.runs.blocks_read(), state.experiments.blocks_read());
    assert!(
        runs.1 >= 2 && experiments.1 >= 2,
        "several blocks each: runs {runs:?}, experiments {experiments:?}"
    );
    assert_eq!((runs.0, experiments.0), (0, 0), "nothing read on opening at the snapshot");
    let (models, alerts) = (state.models.blocks_read(), state.alerts.blocks_read());
    assert!(models.1 >= 2 && alerts.1 >= 1, "models {models:?}, alerts {alerts:?}");
    assert_eq!((models.0, alerts.0), (0, 0), "nothing read on opening at the snapshot");
    assert_eq!(state.runs.len(), 301);
    assert_eq!(state.models.len(), 61);
    on_demand
        .submit(
            ids.envelope("maya", "hypothesis.propose", hypothesis_body("H-new", "s")),
            ledger::ExpectedHead::Any,
        )
        .unwrap();
    let state = &on_demand.domain().state;
    assert_eq!(state.experiments.blocks_read().0, 1, "proposing reads the block of its id");
    assert_eq!(state.runs.blocks_read().0, 0);
    assert_eq!(state.models.blocks_read().0, 1, "proposing reads the block of its model");
    assert_eq!(state.alerts.blocks_read().0, 0);
    on_demand
        .submit(
            ids.envelope("maya", "run.record", run("r-new", "scheduled", 12.0, 0.2, 0.9)),
            ledger::ExpectedHead::Any,
        )
        .unwrap();
    let state = &on_demand.domain().state;
    assert_eq!(state.runs.blocks_read().0, 1, "recording a run reads the block of its id");
    assert_eq!(state.experiments.blocks_read().0, 1);
    assert_eq!(on_demand.domain().damage(), None);
    let written = on_demand.domain().state.to_snapshot();
    on_demand.close();
    assert_eq!(full_fold(&dir).1, written, "the state after the writes is the full fold's");
}

/// Given a ledger of 300 models (several blocks of the models part), a champion of `demand`
/// with a challenger and a drift alert, a snapshot, and after it a promotion of `demand`, a new
/// model with its own champion and a hypothesis (what a user's writes leave between snapshots).
fn ledger_written_after_its_snapshot() -> (PathBuf, tempfile::TempDir, PathBuf) {
    let mut w = with_champion();
    for i in 0..300 {
        let model = json!({"model": format!("m-{i:03}-{}", "x".repeat(100)), "task": "classification"});
        w.ok("maya", "model.register", model);
    }
    w.ok("scheduler", "drift.record", json!({"model": "demand", "baseline": 12.8, "recent": 18.5}));
    w.ok("scheduler", "run.record", run("r2", "new_data", 11.0, 0.17, 0.9));
    let path = snapshot::write(w.ledger.store().dir(), &w.ledger.snapshot().unwrap()).unwrap();
    let ev = w.ok("ana", "arena.propose", json!({"model": "demand", "segment": null}));
    let id = ev[0].event.payload["proposal_id"].as_str().unwrap().to_string();
    w.ok("colby", "arena.approve", json!({"proposal_id": id}));
    let mut r = run("r3", "manual", 9.0, 0.1, 0.9);
    r["model"] = json!("zz-new");
    w.ok("maya", "run.record", r);
    w.ok("colby", "champion.bootstrap", json!({"model": "zz-new", "segment": null, "version": 1}));
    w.ok("maya", "hypothesis.propose", hypothesis_body("H-1", "lags help"));
    assert_eq!(w.champion("demand", None), Some(2));
    let (l, tmp, _) = w.into_parts();
    let dir = l.store().dir().to_path_buf();
    drop(l);
    (dir, tmp, path)
}

/// The questions that read no events, answered since the newest snapshot
/// (`backend::ask_since_snapshot`; `None` for each not answered so).
fn answers_since_snapshot(dir: &Path) -> Vec<(&'static str, Option<serde_json::Value>)> {
    use commands::app::backend::ask_since_snapshot;
    let alert = {
        let l = Ledger::open(dir, clock(), PledgeDomain::default()).unwrap();
        let id = l.domain().state.alerts.keys().next().expect("an alert").clone();
        id
    };
    every_question!(alert, q => ask_since_snapshot(dir, q).unwrap().map(as_json))
}

/// Questions that read no events, asked when the newest snapshot is behind the head (after a
/// write), are answered from that snapshot restored on demand and the events after it as a full
/// open answers them, and leave no snapshot. The events after it read the blocks of the two
/// models they name, not the others; what serves each model is the snapshot's index with those
/// models' tables derived again (`projections::query::serving_since`), the same as the full
/// state's. With the index unreadable the answers are still the full open's (derived from the
/// state); with the block of a model the events read damaged, none is given here, and the
/// backend answers by opening the ledger whole.
#[test]
fn questions_after_a_write_are_answered_from_the_snapshot_before_it_as_a_full_open_answers_them() {
    let (dir, _tmp, path) = ledger_written_after_its_snapshot();
    let expected = questions_and_full_answers(&dir);
    assert_eq!(expected[0].1["champions"].as_array().map(Vec::len), Some(2), "{:?}", expected[0]);
    let snapshots = || snapshot::list(&dir).into_iter().map(|s| s.0).collect::<Vec<_>>();
    let before = snapshots();
    assert!(answers_at_head(&dir).iter().all(|(_, a)| a.is_none()), "no snapshot of the head");
    let since = answers_since_snapshot(&dir);
    for ((name, full), (_, answered)) in expected.iter().zip(&since) {
        assert_eq!(answered.as_ref(), Some(full), "{name}");
    }
    assert_eq!(snapshots(), before, "nothing written by the reads");

    // The fold of the events after the snapshot read two blocks of the models, and what serves
    // each model is derived from the index and those blocks without reading more.
    {
        use projections::query::{serving, serving_since};
        let l = Ledger::open_to_read(&dir, clock(), PledgeDomain::default()).unwrap();
        let seq = l.snapshot_seq().expect("restored from the snapshot");
        assert_eq!(seq, before[0]);
        let models = &l.domain().state.models;
        let (read, all) = models.blocks_read();
        assert!(all >= 4 && read == 2, "blocks of the models read {read} of {all}");
        let id = l.store().get(seq).unwrap().unwrap().hash;
        let (_, index) = snapshot::index_at(&dir, seq, id).expect("the snapshot's index");
        let index = commands::app::query::SnapshotIndex::decode(&index).unwrap();
        let derived = serving_since(&l.domain().state, &index.serving);
        assert_eq!(models.blocks_read(), (read, all), "deriving read no other block");
        assert_ne!(index.serving, derived, "the events after the snapshot changed what serves");
        drop(l);
        let whole = Ledger::open(&dir, clock(), PledgeDomain::default()).unwrap();
        assert_eq!(derived, serving(&whole.domain().state));
    }

    // An index that does not decode: the champions come from the state instead.
    let bytes = std::fs::read(&path).unwrap();
    rewrite(&path, |s| s.index = b"pledge-index/2\nnot messagepack".to_vec());
    let since = answers_since_snapshot(&dir);
    for ((name, full), (_, answered)) in expected.iter().zip(&since) {
        assert_eq!(answered.as_ref(), Some(full), "{name}, the index unreadable");
    }

    // A block of models the events after the snapshot did not touch, damaged under a valid
    // file checksum: the champions are still answered (that block is not read), the versions of
    // a model in it are not (the block is read and found damaged), and the backend answers
    // them by opening the ledger whole, which skips that snapshot.
    std::fs::write(&path, &bytes).unwrap();
    let mut damaged_model = String::new();
    rewrite(&path, |s| {
        let (at, len, first) = block_at(&s.domain, 1, 2);
        s.domain[at + len / 2] ^= 0x01;
        damaged_model = first;
    });
    assert!(damaged_model.starts_with("m-"), "{damaged_model}");
    let since = |q| commands::app::backend::ask_since_snapshot(&dir, q).unwrap().map(as_json);
    assert_eq!(since(&commands::app::query::Champions { model: None }), Some(expected[0].1.clone()));
    let versions = commands::app::query::Versions { model: damaged_model };
    assert_eq!(
        commands::app::backend::ask_since_snapshot(&dir, &versions).unwrap().map(as_json),
        None,
        "no answer from a damaged block"
    );
    let full = {
        let l = Ledger::open(&dir, clock(), PledgeDomain::default()).unwrap();
        let view = commands::app::query::View::new(
            l.store(),
            l.trust(),
            &l.domain().state,
            l.domain().policy.as_deref(),
        );
        as_json(commands::app::query::Query::answer(&versions, &view))
    };
    assert!(full["versions"].is_array(), "{full}");
    let backend = commands::app::backend::Backend::Local(dir.clone());
    assert_eq!(as_json(Ok(backend.ask(&versions).unwrap())), full);
}

/// Where block `k` of the keyed part `part` of a domain section starts, its length and its
/// first key (FORMAT.md section 19: a `u32` count of blocks, a table of rows of the first
/// key, entries, length and digest, then the blocks' bytes in order).
fn block_at(domain: &[u8], part: usize, k: usize) -> (usize, usize, String) {
    let (at, _) = part_at(domain, part);
    let u32_at = |i: usize| u32::from_le_bytes(domain[i..i + 4].try_into().unwrap()) as usize;
    let u64_at = |i: usize| u64::from_le_bytes(domain[i..i + 8].try_into().unwrap()) as usize;
    let mut i = at + 4;
    let mut rows = vec![];
    for _ in 0..u32_at(at) {
        let key_len = u32_at(i);
        let key = String::from_utf8(domain[i + 4..i + 4 + key_len].to_vec()).unwrap();
        i += 4 + key_len;
        rows.push((key, u64_at(i + 8)));
        i += 8 + 8 + 32;
    }
    let start = i + rows[..k].iter().map(|r| r.1).sum::<usize>();
    (start, rows[k].1, rows[k].0.clone())
}
