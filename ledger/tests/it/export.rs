//! Export and import round trips.

use ledger::export;
use ledger::ExpectedHead;

use crate::support::*;

#[test]
fn export_import_round_trip_is_byte_identical_and_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = setup(&dir.path().join("a"));
    l.submit(note(3, Some("toys"), &key(2)), ExpectedHead::Any).unwrap();
    let out = dir.path().join("a.jsonl");
    let manifest = export::export(l.store(), &out).unwrap();
    assert_eq!(manifest.count, 8);
    assert_eq!(manifest.ledger_id, ledger_id());
    let (m2, summary) = export::verify_export(&out, verifier()).unwrap();
    assert_eq!(m2, manifest);
    assert_eq!(summary.events, 8);

    let b = ledger::Store::open(dir.path().join("b")).unwrap();
    export::import(&out, &b, verifier()).unwrap();
    assert_eq!(b.head(), l.store().head());
    let out2 = dir.path().join("b.jsonl");
    export::export(&b, &out2).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&out2).unwrap());
    assert_eq!(
        std::fs::read(export::manifest_path(&out)).unwrap(),
        std::fs::read(export::manifest_path(&out2)).unwrap()
    );
    // The imported ledger's command index works: a resend is idempotent there too.
    drop(b);
    let mut lb = ledger::Ledger::open(dir.path().join("b"), clock(), Notes::default()).unwrap();
    let again = lb.submit(genesis_resend(&l), ExpectedHead::Any).unwrap();
    assert!(again.duplicate);
    // Importing into a non-empty ledger is refused.
    assert!(export::import(&out, lb.store(), verifier()).is_err());
}

/// The genesis envelope exactly as stored in `l`.
fn genesis_resend(l: &ledger::Ledger<Notes>) -> ledger::dsse::Envelope {
    let g = l.store().get(0).unwrap().unwrap();
    g.event.command_envelope().unwrap().clone()
}

#[test]
fn exporting_an_empty_ledger_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let s = ledger::Store::open(dir.path().join("e")).unwrap();
    assert!(export::export(&s, &dir.path().join("x.jsonl")).is_err());
}
