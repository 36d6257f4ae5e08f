//! Provable history: every event is signed or re-derived byte for byte from a signed command,
//! commands are fresh, and the append path never runs ahead of the store. Consistent forgeries
//! (every id, link, reference, index, anchor and manifest recomputed) are caught at the forged
//! event; the domain-level forgeries of Pledge itself are in `commands/tests/it/forgery.rs`.

use ledger::canonical::Timestamp;
use ledger::export::{self, ExportError};
use ledger::forge::Forgery;
use ledger::{ExpectedHead, Ledger, StoreError, SubmitError, VerifyFailure};
use serde_json::{json, Value};

use crate::support::*;

/// A ledger with domain runs of 1 and 3 events, a policy change, and a segment.
fn sample(dir: &std::path::Path) -> Ledger<Notes> {
    let mut l = setup(dir);
    l.submit(note(3, Some("toys"), &key(2)), ExpectedHead::Any).unwrap();
    l.submit(note(1, None, &key(2)), ExpectedHead::Any).unwrap();
    l.submit(note(2, None, &key(2)), ExpectedHead::Any).unwrap();
    l
}

/// Verifies the forgery both ways an operator could plant it: rewritten in the store, and as
/// an export with its manifest recomputed. Both must fail at `seq`.
#[track_caller]
fn caught_at(forgery: &Forgery, seq: u64) -> VerifyFailure {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("forged.jsonl");
    forgery.write_export(&out).unwrap();
    let from_export = match export::verify_export(&out, verifier()) {
        Err(ExportError::Verify(f)) => f,
        other => panic!("the forged export was not caught at an event: {other:?}"),
    };
    let store_dir = dir.path().join("store");
    std::fs::create_dir(&store_dir).unwrap();
    forgery.write_store(&store_dir).unwrap();
    let store = ledger::Store::open(&store_dir).unwrap();
    let at_rest = ledger::verify_store(&store, verifier()).expect_err("the forged store verified");
    assert_eq!(from_export.seq, seq, "export: {from_export}");
    assert_eq!(at_rest.seq, seq, "store: {at_rest}");
    assert_eq!(at_rest.reason, from_export.reason);
    at_rest
}

fn forgery() -> (tempfile::TempDir, Forgery) {
    let dir = tempfile::tempdir().unwrap();
    let l = sample(&dir.path().join("l"));
    let f = Forgery::of_store(l.store()).unwrap();
    // The untouched copy verifies both ways: the forgeries below are the only difference.
    let out = dir.path().join("copy.jsonl");
    f.write_export(&out).unwrap();
    export::verify_export(&out, verifier()).unwrap();
    (dir, f)
}

#[test]
fn an_altered_derived_event_is_caught_naming_the_member() {
    let (_d, mut f) = forgery();
    // Event 6 is the second of the three-event run at 5..=7 (caused by event 5).
    assert_eq!(f.event(6)["cause"]["event"].as_str().map(str::len), Some(64));
    f.edit(6, |ev| ev["payload"]["x"] = json!(0.5));
    let fail = caught_at(&f, 6);
    let m = fail.mismatch.expect("the member is named");
    assert_eq!(m.member, "payload.x");
    assert_eq!(m.recorded, Some(json!(0.5)));
    assert_eq!(m.derived, Some(json!(0.1)));
}

#[test]
fn an_unsigned_event_inserted_after_a_run_is_caught() {
    let (_d, mut f) = forgery();
    // A copy of a derived event, caused by the first event of the run, right after the run.
    let extra = f.event(7).clone();
    f.insert(8, extra);
    let fail = caught_at(&f, 8);
    assert!(fail.reason.contains("no command produces it"), "{fail}");
    // Also at the very end of the ledger.
    let (_d, mut f) = forgery();
    let extra = f.event(6).clone();
    let end = f.len();
    f.insert(end, extra);
    caught_at(&f, end as u64);
}

#[test]
fn an_event_removed_from_a_run_is_caught() {
    let (_d, mut f) = forgery();
    f.remove(6);
    let fail = caught_at(&f, 6);
    assert!(fail.reason.contains("is not what command"), "{fail}");
    // The last event of the last run: the ledger ends inside the run.
    let (_d, mut f) = forgery();
    let last = f.len() - 1;
    f.remove(last);
    let fail = caught_at(&f, last as u64);
    assert!(fail.reason.contains("end inside the run"), "{fail}");
}

#[test]
fn a_duplicated_signed_event_is_caught() {
    let (_d, mut f) = forgery();
    // The single-event run at 8, repeated right after itself and later.
    let copy = f.event(8).clone();
    f.insert(9, copy.clone());
    caught_at(&f, 9);
    // (Each sample ledger has its own command ids: copy from this one.)
    let (_d, mut f) = forgery();
    let end = f.len();
    let mut copy = f.event(8).clone();
    copy["recorded_at"] = f.event(end - 1)["recorded_at"].clone();
    f.insert(end, copy);
    let fail = caught_at(&f, end as u64);
    assert!(fail.reason.contains("already used"), "{fail}");
}

#[test]
fn a_trust_event_altered_consistently_is_caught() {
    let (_d, mut f) = forgery();
    // Grant the scientist the approver role instead.
    f.edit(2, |ev| ev["payload"]["role"] = json!("approver"));
    let fail = caught_at(&f, 2);
    assert_eq!(fail.mismatch.unwrap().member, "payload.role");
}

#[test]
fn a_recorded_time_moved_past_the_freshness_window_is_caught() {
    let (_d, mut f) = forgery();
    // Move the last command's run eight days later: its events re-derive (they are recorded
    // at that time), but its command was issued eight days before it was recorded.
    let later = |ev: &mut Value| {
        let t = Timestamp::parse_exact(ev["recorded_at"].as_str().unwrap()).unwrap();
        let moved = chrono::DateTime::from_timestamp_micros(t.micros() + 8 * 86_400_000_000).unwrap();
        ev["recorded_at"] = json!(Timestamp::from_datetime(moved).to_string());
    };
    let n = f.len();
    f.edit(n - 2, later).edit(n - 1, later);
    let fail = caught_at(&f, n as u64 - 2);
    assert!(fail.reason.contains("command.stale"), "{fail}");
}

fn signed_at(kind: &str, body: Value, by: &ledger::keys::SecretKey, at: Timestamp) -> ledger::dsse::Envelope {
    let mut c = command(kind, body);
    c.issued_at = at;
    c.sign(by).unwrap()
}

fn shifted(seconds: i64) -> Timestamp {
    // The clock of `setup` has read t0 + 0..=4 s; the next reading is t0 + 5 s.
    let at = t0().micros() + 5_000_000 + seconds * 1_000_000;
    Timestamp::from_datetime(chrono::DateTime::from_timestamp_micros(at).unwrap())
}

#[track_caller]
fn refused(l: &mut Ledger<Notes>, env: ledger::dsse::Envelope, rule: &str) {
    let head = l.store().head();
    match l.submit(env, ExpectedHead::Any) {
        Err(SubmitError::Rejected(r)) => assert_eq!(r.rule, rule, "{r}"),
        other => panic!("expected `{rule}`, got {other:?}"),
    }
    assert_eq!(l.store().head(), head, "a refused command appends nothing");
}

#[test]
fn commands_from_the_future_or_long_ago_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = setup(dir.path());
    // Defaults: 300 s of clock skew, a week of age.
    refused(
        &mut l,
        signed_at("note.record", json!({"count": 1}), &key(2), shifted(301 + 1)),
        "command.from_future",
    );
    refused(
        &mut l,
        signed_at("note.record", json!({"count": 1}), &key(2), shifted(-8 * 86_400)),
        "command.stale",
    );
    // Each failed submission read the clock once; the next reading is two seconds later.
    l.submit(signed_at("note.record", json!({"count": 1}), &key(2), shifted(2 + 299)), ExpectedHead::Any)
        .unwrap();
    l.submit(
        signed_at("note.record", json!({"count": 1}), &key(2), shifted(3 - 6 * 86_400)),
        ExpectedHead::Any,
    )
    .unwrap();
    // A policy may allow longer offline signing, within bounds; verification re-checks each
    // command against the policy in force when it was recorded.
    let mut p = policy();
    p["freshness"] = json!({"max_age_seconds": 30 * 86_400});
    l.submit(signed("policy.set", json!({"policy": p}), &key(1)), ExpectedHead::Any).unwrap();
    l.submit(
        signed_at("note.record", json!({"count": 1}), &key(2), shifted(-20 * 86_400)),
        ExpectedHead::Any,
    )
    .unwrap();
    ledger::verify_store(l.store(), verifier()).unwrap();
    for (bad, why) in [
        (json!({"max_age_seconds": 400 * 86_400}), "max_age_seconds"),
        (json!({"max_future_seconds": -1}), "max_future_seconds"),
        (json!({"max_age_seconds": 1.5}), "max_age_seconds"),
        (json!({"max_age": 60}), "unknown key `max_age`"),
        (json!([60]), "must be an object"),
    ] {
        let mut p = policy();
        p["freshness"] = bad;
        let head = l.store().head();
        match l.submit(signed("policy.set", json!({"policy": p}), &key(1)), ExpectedHead::Any) {
            Err(SubmitError::Rejected(r)) => {
                assert_eq!(r.rule, "policy.invalid");
                assert!(r.message.contains(why), "{}", r.message)
            }
            other => panic!("a bad freshness section must be refused by `policy.invalid`: {other:?}"),
        }
        assert_eq!(l.store().head(), head);
    }
}

#[test]
fn a_failed_commit_leaves_the_state_equal_to_the_store_and_the_next_command_works() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = setup(dir.path());
    l.submit(note(2, None, &key(2)), ExpectedHead::Any).unwrap();
    let (head, applied, roles) = (l.store().head(), l.domain().applied.clone(), l.trust().roles().clone());
    // A full disk: the commit fails after the domain folded the command's events.
    l.store().fail_next_commits(1);
    match l.submit(note(3, None, &key(2)), ExpectedHead::Any) {
        Err(SubmitError::Store(StoreError::NoSpace { .. })) => {}
        other => panic!("expected the injected full disk, got {other:?}"),
    }
    assert_eq!(l.store().head(), head, "nothing was written");
    assert_eq!(l.domain().applied, applied, "the domain state is the store's again");
    // The same for a batch holding a trust command and a domain command.
    l.store().fail_next_commits(1);
    let results = l.submit_batch(vec![grant("sci", "service", &key(1)), note(1, Some("s"), &key(2))]);
    assert!(matches!(results, Err(StoreError::NoSpace { .. })), "{results:?}");
    assert_eq!(l.store().head(), head);
    assert_eq!(l.domain().applied, applied);
    assert_eq!(l.trust().roles(), &roles, "the trust state did not take the failed grant");
    // The next commands work, and the ledger reopens to the same state.
    l.submit(grant("sci", "service", &key(1)), ExpectedHead::Any).unwrap();
    l.submit(note(1, None, &key(2)), ExpectedHead::Any).unwrap();
    assert_eq!(l.domain().applied, (0..l.store().len()).collect::<Vec<_>>());
    ledger::verify_store(l.store(), verifier()).unwrap();
    let applied = l.domain().applied.clone();
    drop(l);
    let again = Ledger::open(dir.path(), clock(), Notes::default()).unwrap();
    assert_eq!(again.domain().applied, applied);
}

/// A decide step whose drafts do not have the shape of a run is refused, and writes nothing.
#[derive(Clone, Default)]
struct TwoCommands;

impl ledger::Domain for TwoCommands {
    fn decide(
        &self,
        _: &ledger::Context<'_>,
        _: &ledger::SignedCommand,
    ) -> Result<Vec<ledger::EventDraft>, ledger::Refusal> {
        Ok(vec![
            ledger::EventDraft::new("note.recorded", None, json!({})),
            ledger::EventDraft::new("note.recorded", None, json!({})),
        ])
    }
    fn apply(&mut self, _: &ledger::RecordedEvent) -> Result<(), String> {
        Ok(())
    }
}

#[test]
fn drafts_that_are_not_a_run_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(setup(dir.path()));
    let mut l = Ledger::open(dir.path(), clock(), TwoCommands).unwrap();
    let head = l.store().head();
    match l.submit(note(1, None, &key(2)), ExpectedHead::Any) {
        Err(SubmitError::Invalid(m)) => assert!(m.contains("only the first may"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(l.store().head(), head);
}
