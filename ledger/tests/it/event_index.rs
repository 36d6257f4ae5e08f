//! The event index's runs (ADR 0021): written by the store's writer as events are committed,
//! merged, rebuilt when missing, refused when damaged, and answering exactly what a scan of
//! the events answers.

use std::path::Path;

use ledger::event_index::{self, Name, Reader, BASE, FANOUT};
use ledger::keys::SecretKey;
use ledger::store::CommittedEvents;
use ledger::{ChainCursor, DraftCause, EventDraft, EventSource, ExpectedHead, RecordedEvent, Store, Subject};
use serde_json::json;

use crate::support::*;

const KINDS: [&str; 3] = ["a.happened", "b.happened", "c.happened"];
const MODELS: [&str; 2] = ["m", "n"];

/// Appends `n` events to the store in `dir` as runs of one to three events, each run signed by
/// one of three keys, with kinds, models and segments varying: deterministic, so that two
/// stores written alike hold the same events.
fn write_events(dir: &Path, n: u64) {
    let store = Store::open(dir).unwrap();
    let keys: Vec<SecretKey> = (1..=3).map(key).collect();
    let mut cursor = ChainCursor::after(store.head().as_ref());
    let mut pending = vec![];
    let mut i = store.len();
    let mut run = 0u64;
    while i < n {
        let len = (1 + run % 3).min(n - i);
        let drafts = (0..len)
            .map(|j| {
                let x = i + j;
                EventDraft {
                    kind: KINDS[(x * 7 % 3) as usize].into(),
                    kind_version: 1,
                    subject: match x % 5 {
                        0 => None,
                        1 => Some(Subject::model(MODELS[(x % 2) as usize])),
                        s => Some(Subject::segment(MODELS[(x % 2) as usize], &format!("s{s}"))),
                    },
                    cause: if j == 0 { DraftCause::ThisCommand } else { DraftCause::EarlierDraft(0) },
                    payload: json!({ "x": x }),
                }
            })
            .collect();
        let env = signed("note.record", json!({ "run": run }), &keys[(run % 3) as usize]);
        pending.extend(cursor.seal(drafts, &env, t0()).unwrap());
        i += len;
        run += 1;
        if pending.len() >= 500 || i == n {
            store.commit(ExpectedHead::Any, &std::mem::take(&mut pending), &[]).unwrap();
        }
    }
}

fn runs(dir: &Path) -> Vec<(u64, u64)> {
    event_index::list(&dir.join(event_index::DIR)).into_iter().map(|(s, e, _)| (s, e)).collect()
}

fn all(events: &CommittedEvents) -> Vec<RecordedEvent> {
    (0..events.count()).map(|s| events.event(s).unwrap().unwrap()).collect()
}

/// The signer of every event: the key of its run's first event.
fn signers(evs: &[RecordedEvent]) -> Vec<Option<ledger::keys::KeyId>> {
    let mut cur = None;
    evs.iter()
        .map(|ev| {
            if let ledger::Cause::Command(env) = &ev.event.cause {
                cur = env.signatures.first().map(|s| s.keyid);
            }
            cur
        })
        .collect()
}

/// Which events a name should list, by position.
type Is<'a> = Box<dyn Fn(usize) -> bool + 'a>;

/// Every name and many ranges, both ways, against a scan of the events; and every event's id.
fn assert_answers_as_a_scan(dir: &Path) {
    let events = CommittedEvents::open(dir).unwrap().expect("committed events readable");
    let all_events = all(&events);
    let evs = &all_events[..];
    let all_signers = signers(evs);
    let by = &all_signers[..];
    let reader = Reader::open(dir, &events).unwrap().expect("the runs cover the ledger");
    let n = evs.len() as u64;
    let mut cuts = vec![0, 1, BASE - 1, BASE, BASE + 1, 3 * BASE + 17, BASE * FANOUT, n / 2, n - 1, n];
    cuts.retain(|&c| c <= n);
    let keys: Vec<ledger::keys::KeyId> = (1..=3).map(|k| key(k).public().key_id()).collect();
    let mut names: Vec<(Name, Is)> = vec![];
    for k in KINDS {
        names.push((Name::Kind(k), Box::new(move |i: usize| evs[i].event.kind == k)));
    }
    for m in MODELS {
        names.push((
            Name::Model(m),
            Box::new(move |i: usize| evs[i].event.subject.as_ref().is_some_and(|s| s.model == m)),
        ));
        for seg in [None, Some("s2"), Some("s4"), Some("s9")] {
            names.push((
                Name::Subject(m, seg),
                Box::new(move |i: usize| {
                    evs[i].event.subject.as_ref().is_some_and(|s| s.model == m && s.segment.as_deref() == seg)
                }),
            ));
        }
    }
    for k in &keys {
        names.push((Name::Signer(k), Box::new(move |i: usize| by[i].as_ref() == Some(k))));
    }
    for (name, is) in &names {
        for &a in &cuts {
            for &b in cuts.iter().filter(|&&b| b >= a) {
                let want: Vec<u64> = (a..b).filter(|&s| is(s as usize)).collect();
                let got: Vec<u64> = reader.seqs(*name, a..b, false).map(Result::unwrap).collect();
                assert_eq!(got, want, "{name:?} in {a}..{b}");
                let back: Vec<u64> = reader.seqs(*name, a..b, true).map(Result::unwrap).collect();
                assert_eq!(
                    back,
                    want.iter().rev().copied().collect::<Vec<_>>(),
                    "{name:?} in {a}..{b} reversed"
                );
            }
        }
    }
    for (seq, ev) in evs.iter().enumerate() {
        let found = reader.with_id(&ev.hash).unwrap();
        assert!(found.contains(&(seq as u64)), "the id of event {seq} is found");
        assert!(found.iter().all(|s| evs[*s as usize].hash.0[..8] == ev.hash.0[..8]));
    }
}

#[test]
fn committed_events_are_indexed_in_runs_merged_as_they_fill_and_answer_as_a_scan() {
    let dir = tempfile::tempdir().unwrap();
    let n = BASE * FANOUT + BASE + 300;
    write_events(dir.path(), n);
    // Eight runs of BASE merged into one, then one more of BASE; the rest is read by readers.
    assert_eq!(runs(dir.path()), vec![(0, BASE * FANOUT), (BASE * FANOUT, BASE * FANOUT + BASE)]);
    assert_answers_as_a_scan(dir.path());
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(event_index::check(dir.path(), &store), Ok(2));
}

#[test]
fn a_merged_run_is_byte_for_byte_the_run_its_events_give_and_missing_runs_are_built_again() {
    let dir = tempfile::tempdir().unwrap();
    let n = BASE * FANOUT + 5;
    write_events(dir.path(), n);
    let index = dir.path().join(event_index::DIR);
    let merged = std::fs::read(index.join(event_index::file_name(0, BASE * FANOUT))).unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(merged, event_index::build(&store, 0, BASE * FANOUT).unwrap());
    // The merge of the parts built from the events is the same bytes.
    let parts_dir = tempfile::tempdir().unwrap();
    let parts: Vec<event_index::Run> = (0..FANOUT)
        .map(|i| {
            let (s, e) = (i * BASE, (i + 1) * BASE);
            let path = parts_dir.path().join(event_index::file_name(s, e));
            std::fs::write(&path, event_index::build(&store, s, e).unwrap()).unwrap();
            event_index::Run::open(&path).unwrap()
        })
        .collect();
    assert_eq!(event_index::merge(&parts).unwrap(), merged);
    drop(store);
    // Removed, the index is built again on the next open, the same bytes; a stray temporary
    // file and a run of the wrong range are removed.
    std::fs::remove_dir_all(&index).unwrap();
    std::fs::create_dir_all(&index).unwrap();
    std::fs::write(index.join("0000000000000000-0000000000000400.run.tmp"), b"half").unwrap();
    std::fs::write(index.join(event_index::file_name(BASE * FANOUT, BASE * FANOUT + BASE)), b"x").unwrap();
    drop(Store::open(dir.path()).unwrap());
    assert_eq!(runs(dir.path()), vec![(0, BASE * FANOUT)]);
    assert_eq!(std::fs::read(index.join(event_index::file_name(0, BASE * FANOUT))).unwrap(), merged);
    assert_eq!(std::fs::read_dir(&index).unwrap().count(), 1);
}

#[test]
fn a_damaged_or_foreign_run_is_never_used_and_verification_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let n = 2 * BASE + 10;
    write_events(dir.path(), n);
    let index = dir.path().join(event_index::DIR);
    let first = index.join(event_index::file_name(0, BASE));
    let good = std::fs::read(&first).unwrap();
    // Every byte of the header and directory, flipped, makes the run unreadable, so that the
    // cover stops before it; a flipped byte of a list or of the ids is found by the check
    // against the events. Both name the run.
    let dir_end = 152 + 32 * u64::from_be_bytes(good[32..40].try_into().unwrap()) as usize;
    let flips: Vec<usize> =
        (0..dir_end).chain((dir_end..good.len()).step_by(97)).chain([good.len() - 1]).collect();
    for i in flips {
        let mut bad = good.clone();
        bad[i] ^= 0x40;
        std::fs::write(&first, &bad).unwrap();
        let events = CommittedEvents::open(dir.path()).unwrap().unwrap();
        if i < dir_end {
            assert!(event_index::Run::open(&first).is_err(), "byte {i} of the header or directory");
            assert!(event_index::cover(&index, &events).unwrap().is_empty(), "byte {i}: the cover stops");
        }
        let err = event_index::check(dir.path(), &events).unwrap_err();
        assert_eq!(err.0, 0, "byte {i}");
        assert!(err.1.contains(&first.display().to_string()), "byte {i}: {}", err.1);
    }
    // A run of another chain (same range, other events: other command ids) is not used, and
    // the store's writer replaces it on open.
    let other = tempfile::tempdir().unwrap();
    write_events(other.path(), BASE + 1);
    let theirs = other.path().join(event_index::DIR).join(event_index::file_name(0, BASE));
    std::fs::copy(&theirs, &first).unwrap();
    let events = CommittedEvents::open(dir.path()).unwrap().unwrap();
    assert!(event_index::cover(&index, &events).unwrap().is_empty());
    assert_eq!(event_index::check(dir.path(), &events).unwrap_err().0, 0);
    drop(events);
    drop(Store::open(dir.path()).unwrap());
    assert_eq!(std::fs::read(&first).unwrap(), good, "rebuilt from this ledger's events");
    assert_answers_as_a_scan(dir.path());
}

#[test]
fn a_reader_declines_when_the_runs_leave_too_many_events_uncovered() {
    let dir = tempfile::tempdir().unwrap();
    write_events(dir.path(), event_index::MAX_TAIL + BASE);
    std::fs::remove_dir_all(dir.path().join(event_index::DIR)).unwrap();
    let events = CommittedEvents::open(dir.path()).unwrap().unwrap();
    assert!(Reader::open(dir.path(), &events).unwrap().is_none());
}

/// Given a ledger whose events fill a run, verification compares the run with the one the
/// events give and counts it; a byte of a list altered (which a reader's checks of the header
/// and directory do not see) fails verification, naming the run.
#[test]
fn verification_checks_every_run_and_names_an_altered_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = setup(dir.path());
    for i in 0..60 {
        let seg = ["north", "south", "east"][i % 3];
        l.submit(note(20, Some(seg), &key(2)), ExpectedHead::Any).unwrap();
    }
    drop(l);
    assert_eq!(runs(dir.path()), vec![(0, BASE)]);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(ledger::verify_store(&store, verifier()).unwrap().index_runs, 1);
    drop(store);
    let run = dir.path().join(event_index::DIR).join(event_index::file_name(0, BASE));
    let mut bytes = std::fs::read(&run).unwrap();
    let lists = 152 + 32 * u64::from_be_bytes(bytes[32..40].try_into().unwrap()) as usize;
    bytes[lists + 5] ^= 1;
    std::fs::write(&run, &bytes).unwrap();
    let store = Store::open(dir.path()).unwrap();
    let err = ledger::verify_store(&store, verifier()).unwrap_err();
    assert!(err.to_string().contains(&run.display().to_string()), "{err}");
    assert!(err.to_string().contains("event 0"), "{err}");
}

/// Given runs of two lengths (a merged run and two of the shortest), a `RunCheck` fed the
/// events in order agrees with `check`, which reads them again: every run equal, and a byte of
/// any run altered is named at that run's first event. Runs it was not fed (listed after it
/// started, or past a gap in the events it was given) are compared with the events read again.
#[test]
fn runs_rebuilt_while_reading_agree_with_runs_built_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    write_events(dir.path(), BASE * FANOUT + 2 * BASE + 5);
    let want = vec![
        (0, BASE * FANOUT),
        (BASE * FANOUT, BASE * FANOUT + BASE),
        (BASE * FANOUT + BASE, BASE * FANOUT + 2 * BASE),
    ];
    assert_eq!(runs(dir.path()), want);
    let events = CommittedEvents::open(dir.path()).unwrap().unwrap();
    let recorded = all(&events);
    let fed = |upto: usize| {
        let mut c = event_index::RunCheck::listed(dir.path());
        recorded.iter().take(upto).for_each(|e| c.add(e, event_index::run_command(e).as_ref()));
        c
    };
    let n = recorded.len();
    assert_eq!(fed(n).finish(dir.path(), &events), Ok(3));
    assert_eq!(event_index::check(dir.path(), &events), Ok(3));
    let index = dir.path().join(event_index::DIR);
    for (start, end) in want.clone() {
        let path = index.join(event_index::file_name(start, end));
        let good = std::fs::read(&path).unwrap();
        let lists = 152 + 32 * u64::from_be_bytes(good[32..40].try_into().unwrap()) as usize;
        for at in [lists, lists + 4 * 3 + 1, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 0x10;
            std::fs::write(&path, &bad).unwrap();
            // Altered before the events are read (after them: `early` below); the files are
            // compared at the end either way.
            let err = fed(n).finish(dir.path(), &events).unwrap_err();
            assert_eq!(err.0, start, "run {start}-{end}, byte {at}: {}", err.1);
            assert!(err.1.contains(&path.display().to_string()), "{}", err.1);
            assert_eq!(event_index::check(dir.path(), &events).unwrap_err().0, start);
        }
        std::fs::write(&path, &good).unwrap();
    }
    // Fed part of the events, or with a gap, or listed before the runs existed: the rest is
    // compared from the store, with the same verdicts.
    let mut gap = event_index::RunCheck::listed(dir.path());
    recorded
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 5000)
        .for_each(|(_, e)| gap.add(e, event_index::run_command(e).as_ref()));
    assert_eq!(gap.finish(dir.path(), &events), Ok(3));
    assert_eq!(fed(BASE as usize * 3).finish(dir.path(), &events), Ok(3));
    let aside = tempfile::tempdir().unwrap();
    let moved = aside.path().join("index");
    std::fs::rename(&index, &moved).unwrap();
    let mut early = event_index::RunCheck::listed(dir.path());
    recorded.iter().for_each(|e| early.add(e, event_index::run_command(e).as_ref()));
    std::fs::rename(&moved, &index).unwrap();
    let last = index.join(event_index::file_name(want[2].0, want[2].1));
    let mut bad = std::fs::read(&last).unwrap();
    *bad.last_mut().unwrap() ^= 1;
    std::fs::write(&last, &bad).unwrap();
    assert_eq!(early.finish(dir.path(), &events).unwrap_err().0, want[2].0);
}

/// What `events_in(range)` gives, and what `event` gives one at a time (an error for a missing
/// event, as the trait's default does), each as bytes or the error's text.
type Read = Vec<Result<Vec<u8>, String>>;

fn chunked_and_single(events: &CommittedEvents, range: std::ops::Range<u64>) -> (Read, Read) {
    let text = |r: Result<RecordedEvent, ledger::StoreError>| r.map(|e| e.bytes).map_err(|e| e.to_string());
    let chunked = events.events_in(range.clone()).map(text).collect();
    let single = range
        .map(|seq| {
            events
                .event(seq)
                .and_then(|e| e.ok_or(ledger::StoreError::Corrupt { seq, reason: "event is missing".into() }))
        })
        .map(text)
        .collect();
    (chunked, single)
}

#[test]
fn committed_events_read_in_chunks_are_the_events_read_one_at_a_time_errors_included() {
    let dir = tempfile::tempdir().unwrap();
    write_events(dir.path(), 1_300);
    let ranges = |head: u64| {
        vec![
            0..head + 1,
            0..1,
            0..512,
            511..514,
            500..1_100,
            1_023..1_025,
            head - 3..head + 4,
            7..7,
            head + 2..head + 5,
        ]
    };
    let events = CommittedEvents::open(dir.path()).unwrap().expect("a closed store is read");
    let head = events.count() - 1;
    for r in ranges(head) {
        let (chunked, single) = chunked_and_single(&events, r.clone());
        assert_eq!(chunked.len() as u64, r.end - r.start, "{r:?}");
        assert!(chunked == single, "{r:?}: chunked reads differ from single reads");
        let past_head = r.end.saturating_sub(head + 1).min(r.end - r.start) as usize;
        assert_eq!(chunked.iter().filter(|e| e.is_err()).count(), past_head, "{r:?}");
    }
    drop(events);

    // An index entry that gives event 700 impossible bounds: the chunk holding it is cut short
    // there; the events before it are read, it is an error naming it, and so is every later
    // one `get` cannot read alone either.
    let idx = dir.path().join("events.idx");
    let original = std::fs::read(&idx).unwrap();
    let mut damaged = original.clone();
    damaged[700 * 8..701 * 8].copy_from_slice(&0u64.to_be_bytes());
    std::fs::write(&idx, &damaged).unwrap();
    let events = CommittedEvents::open(dir.path()).unwrap().expect("only the head is vouched for at open");
    for r in ranges(head) {
        let (chunked, single) = chunked_and_single(&events, r.clone());
        assert!(chunked == single, "{r:?}: chunked reads differ from single reads around a damaged entry");
    }
    let (chunked, _) = chunked_and_single(&events, 0..head + 1);
    let first_error = chunked.iter().position(|e| e.is_err());
    assert_eq!(first_error, Some(700), "the damaged entry is the first error");
    assert!(chunked[700].as_ref().unwrap_err().contains("event 700"), "{:?}", chunked[700]);
    drop(events);
    std::fs::write(&idx, original).unwrap();
}
