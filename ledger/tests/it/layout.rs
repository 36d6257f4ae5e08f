//! The store's layout change (ADR 0020): a store written by an older Pledge, its events as
//! `e` keys in sled, is converted on open into `events.log` and `events.idx` with the same
//! events, and a conversion cut short anywhere is finished by the next open.

use ledger::{Digest, ExpectedHead};

use crate::support::*;

/// A closed ledger of a dozen events at `path`; returns its events as stored (seq, hash, bytes).
fn ledger_at(path: &std::path::Path) -> Vec<(u64, Digest, Vec<u8>)> {
    let mut l = setup(path);
    for n in 0..8 {
        l.submit(note(n % 3 + 1, if n % 2 == 0 { Some("toys") } else { None }, &key(2)), ExpectedHead::Any)
            .unwrap();
    }
    let raw = l.store().raw().collect::<Result<Vec<_>, _>>().unwrap();
    assert!(raw.len() >= 12, "{} events", raw.len());
    raw
}

const MARK: &[u8] = b"m:events:files";

/// sled itself on the store at `path`, waiting as `Store::open` does for the lock a store just
/// closed releases from sled's worker threads.
fn raw_sled(path: &std::path::Path) -> sled::Db {
    ledger::store::wait_until_unlocked(path, std::time::Duration::from_secs(5)).unwrap();
    sled::open(path).unwrap()
}

fn event_key(seq: u64) -> Vec<u8> {
    [&[b'e'][..], &seq.to_be_bytes()].concat()
}

/// Rewrites the closed store at `path` as the older layout kept it: each event's hash and bytes
/// as the value of key `e` ++ seq (big-endian u64) in sled, no event files, no mark.
fn to_older_layout(path: &std::path::Path, events: &[(u64, Digest, Vec<u8>)]) {
    let db = raw_sled(path);
    for (seq, hash, bytes) in events {
        db.insert(event_key(*seq), [&hash.0[..], bytes].concat()).unwrap();
    }
    db.remove(MARK).unwrap();
    db.flush().unwrap();
    drop(db);
    std::fs::remove_file(path.join("events.log")).unwrap();
    std::fs::remove_file(path.join("events.idx")).unwrap();
}

/// How many `e` keys sled holds, and whether the store is marked as converted.
fn sled_state(path: &std::path::Path) -> (usize, bool) {
    let db = raw_sled(path);
    (db.scan_prefix([b'e']).count(), db.contains_key(MARK).unwrap())
}

/// Opens the store and checks it holds exactly `events`, verifies, and takes a new command.
fn assert_converted(path: &std::path::Path, events: &[(u64, Digest, Vec<u8>)], files: &[u8], idx: &[u8]) {
    {
        let store = ledger::Store::open(path).unwrap();
        assert_eq!(store.damage(), None);
        let raw = store.raw().collect::<Result<Vec<_>, _>>().unwrap();
        assert_eq!(raw, events, "the converted store holds other events");
        ledger::verify_store(&store, verifier()).unwrap();
    }
    assert_eq!(std::fs::read(path.join("events.log")).unwrap(), files, "events.log differs");
    assert_eq!(std::fs::read(path.join("events.idx")).unwrap(), idx, "events.idx differs");
    assert_eq!(sled_state(path), (0, true), "the events are still in sled, or the store is not marked");
    let mut l = ledger::Ledger::open(path, clock(), Notes::default()).unwrap();
    l.submit(note(2, None, &key(2)), ExpectedHead::Any).unwrap();
    assert_eq!(l.store().len(), events.len() as u64 + 2, "a note of 2 records two events");
    ledger::verify_store(l.store(), verifier()).unwrap();
}

/// Given: a store in the older layout; when it is opened; then its events are in the files,
/// byte for byte as a new store writes them, sled no longer holds them, and it verifies and
/// takes new commands.
#[test]
fn a_store_in_the_older_layout_is_converted_on_open_with_the_same_events() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let events = ledger_at(&path);
    let log = std::fs::read(path.join("events.log")).unwrap();
    let idx = std::fs::read(path.join("events.idx")).unwrap();
    assert_eq!(sled_state(&path), (0, true), "a new store keeps its events in the files, marked");
    to_older_layout(&path, &events);
    assert_eq!(sled_state(&path), (events.len(), false));
    assert_converted(&path, &events, &log, &idx);
}

/// Given: a conversion cut short before the store was marked (event files half written, or
/// holding other bytes); when the store is opened; then the conversion starts over from sled
/// and ends with the same files as an uninterrupted one.
#[test]
fn a_conversion_cut_short_is_redone_from_sled() {
    type Cut = fn(&[u8], &[u8]) -> (Vec<u8>, Vec<u8>);
    let cuts: [(&str, Cut); 3] = [
        ("half written", |log, idx| (log[..log.len() / 2].to_vec(), idx[..idx.len() / 2].to_vec())),
        ("an index ahead of its log", |log, idx| (log[..100].to_vec(), idx.to_vec())),
        ("other bytes", |log, idx| (vec![7; log.len() + 5], vec![0xff; idx.len() + 3])),
    ];
    for (what, cut) in cuts {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        let events = ledger_at(&path);
        let log = std::fs::read(path.join("events.log")).unwrap();
        let idx = std::fs::read(path.join("events.idx")).unwrap();
        to_older_layout(&path, &events);
        let (cut_log, cut_idx) = cut(&log, &idx);
        std::fs::write(path.join("events.log"), cut_log).unwrap();
        std::fs::write(path.join("events.idx"), cut_idx).unwrap();
        println!("{what}");
        assert_converted(&path, &events, &log, &idx);
    }
}

/// Given: a converted store whose `e` keys were not all removed from sled yet (the removal
/// was cut short); when it is opened; then the rest are removed and the files are kept as
/// they are: they, not sled, hold the events once the store is marked.
#[test]
fn keys_left_in_sled_after_a_conversion_are_removed_and_the_files_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let events = ledger_at(&path);
    let log = std::fs::read(path.join("events.log")).unwrap();
    let idx = std::fs::read(path.join("events.idx")).unwrap();
    {
        let db = raw_sled(&path);
        // Left over, and stale: were sled read, the events would differ.
        for (seq, _, _) in &events[5..] {
            db.insert(event_key(*seq), vec![1u8; 40]).unwrap();
        }
        db.flush().unwrap();
    }
    assert_eq!(sled_state(&path), (events.len() - 5, true));
    assert_converted(&path, &events, &log, &idx);
}

/// Given: a store in the older layout missing one event's key in the middle; when it is
/// opened; then the conversion stops there and the store is damaged, naming the event that
/// is missing; the ledger does not open on it.
#[test]
fn an_older_store_with_a_missing_event_is_damage_not_a_shorter_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let events = ledger_at(&path);
    to_older_layout(&path, &events);
    let gap = 6u64;
    {
        let db = raw_sled(&path);
        db.remove(event_key(gap)).unwrap();
        db.flush().unwrap();
    }
    let store = ledger::Store::open(&path).unwrap();
    let damage = store.damage().expect("a gap in the events is damage").to_string();
    assert!(
        damage.contains(&format!("event {}", gap + 1)) || damage.contains(&format!("event {gap}")),
        "{damage}"
    );
    assert!(ledger::verify_store(&store, verifier()).is_err());
    drop(store);
    assert!(matches!(
        ledger::Ledger::open(&path, clock(), Notes::default()),
        Err(ledger::StoreError::Corrupt { .. })
    ));
    // Nothing was marked: the keys are still in sled for an operator to restore from.
    assert_eq!(sled_state(&path), (events.len() - 1, false));
}

/// Reads every event through [`ledger::store::CommittedEvents`], or `None` where it declines.
fn quick_read(path: &std::path::Path) -> Option<Vec<(u64, Digest, Vec<u8>)>> {
    let q = ledger::store::CommittedEvents::open(path).unwrap()?;
    let (head, _) = q.head();
    assert!(q.get(head + 1).unwrap().is_none());
    Some((0..=head).map(|seq| q.get(seq).unwrap().unwrap()).map(|e| (e.seq(), e.hash, e.bytes)).collect())
}

#[test]
fn a_reader_without_sled_reads_a_closed_store_and_declines_files_it_cannot_vouch_for() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("ledger");
    let events = ledger_at(&path);
    // Closed cleanly: the journal holds the head anchor only, every event comes from the files.
    let q = ledger::store::CommittedEvents::open(&path).unwrap().expect("a closed store is read");
    assert_eq!(q.journaled(), 0);
    assert_eq!(q.head(), (events.len() as u64 - 1, events.last().unwrap().1));
    drop(q);
    assert_eq!(quick_read(&path).as_deref(), Some(&events[..]));

    let (log, idx) = (path.join("events.log"), path.join("events.idx"));
    let (log_bytes, idx_bytes) = (std::fs::read(&log).unwrap(), std::fs::read(&idx).unwrap());
    let last_start = u64::from_be_bytes(idx_bytes[idx_bytes.len() - 16..][..8].try_into().unwrap()) as usize;
    let mut head_altered = log_bytes.clone();
    head_altered[last_start] ^= 1;
    let mut extra_entry = idx_bytes.clone();
    extra_entry.extend_from_slice(&idx_bytes[idx_bytes.len() - 8..]);
    let tampers: Vec<(&str, &std::path::Path, Vec<u8>)> = vec![
        ("a byte past the log's end", &log, [&log_bytes[..], b"x"].concat()),
        ("the log cut by a byte", &log, log_bytes[..log_bytes.len() - 1].to_vec()),
        ("the index's last entry removed", &idx, idx_bytes[..idx_bytes.len() - 8].to_vec()),
        ("an index entry past the head", &idx, extra_entry),
        ("the index cut mid-entry", &idx, idx_bytes[..idx_bytes.len() - 3].to_vec()),
        ("the head's stored hash altered", &log, head_altered),
    ];
    for (what, file, bytes) in tampers {
        let original = std::fs::read(file).unwrap();
        std::fs::write(file, &bytes).unwrap();
        assert!(quick_read(&path).is_none(), "{what}: the reader must decline");
        std::fs::write(file, original).unwrap();
    }
    // A store in the older layout (no event files) and a journal with a torn tail are left to
    // the store's open.
    assert_eq!(quick_read(&path).as_deref(), Some(&events[..]));
    let wal = path.join("pledge.wal");
    let journal = std::fs::read(&wal).unwrap();
    let torn = [&journal[..], &[0xff; 64]].concat();
    std::fs::write(&wal, &torn).unwrap();
    assert!(quick_read(&path).is_none(), "a journal that is not clean");
    std::fs::write(&wal, journal).unwrap();
    to_older_layout(&path, &events);
    assert!(quick_read(&path).is_none(), "the older layout");
    assert_converted(&path, &events, &log_bytes, &idx_bytes);
    let stored = ledger::Store::open(&path).unwrap().raw().collect::<Result<Vec<_>, _>>().unwrap();
    assert!(stored.len() > events.len());
    assert!(quick_read(&path) == Some(stored), "the converted store, then written to, is read as stored");
}
