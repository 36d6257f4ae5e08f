//! Tamper evidence: flipping any single byte of any event, in the store or in an export, is
//! detected, and the reported sequence number is the tampered event's.

use ledger::export::{self, ExportError};
use ledger::{Digest, ExpectedHead, VerifyFailure};
use serde_json::json;

use crate::support::*;

/// A small ledger with every trust event kind, command-caused and event-caused domain events.
fn sample(dir: &std::path::Path) -> ledger::Ledger<Notes> {
    let mut l = setup(dir);
    l.submit(note(2, Some("toys"), &key(2)), ExpectedHead::Any).unwrap();
    l.submit(
        signed("key.revoke", json!({"key_id": key(3).public().key_id(), "reason": "left"}), &key(1)),
        ExpectedHead::Any,
    )
    .unwrap();
    let mut p = policy();
    p["permissions"]["note.record"] = json!(["scientist", "service"]);
    l.submit(signed("policy.set", json!({"policy": p}), &key(1)), ExpectedHead::Any).unwrap();
    l.submit(note(1, None, &key(2)), ExpectedHead::Any).unwrap();
    l
}

fn verify_raw(entries: &[(u64, Digest, Vec<u8>)]) -> Result<(), VerifyFailure> {
    let mut v = verifier();
    for (seq, h, bytes) in entries {
        v.push(*seq, bytes, Some(*h))?;
    }
    v.finish().map(|_| ())
}

const MASKS: [u8; 4] = [0x01, 0x20, 0x80, 0xff];

/// Where event `k`'s entry (its stored hash, then its bytes) lies in the store's
/// `events.log`, from `events.idx` (one big-endian u64 per event: where its entry ends).
fn entry_span(path: &std::path::Path, k: u64) -> (u64, u64) {
    let idx = std::fs::read(path.join("events.idx")).unwrap();
    let end = |n: u64| u64::from_be_bytes(idx[n as usize * 8..n as usize * 8 + 8].try_into().unwrap());
    (if k == 0 { 0 } else { end(k - 1) }, end(k))
}

/// XORs byte `pos` of file `name` in the closed store at `path`, as someone with write access
/// to the directory could.
fn flip_file_byte(path: &std::path::Path, name: &str, pos: u64, mask: u8) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().read(true).write(true).open(path.join(name)).unwrap();
    let mut b = [0u8];
    f.read_exact_at(&mut b, pos).unwrap();
    f.write_all_at(&[b[0] ^ mask], pos).unwrap();
}

/// XORs byte `pos` of the stored entry of event `k` (hash ++ canonical bytes).
fn flip_stored_byte(path: &std::path::Path, k: u64, pos: usize) {
    let (start, _) = entry_span(path, k);
    flip_file_byte(path, "events.log", start + pos as u64, 0x04);
}

#[test]
fn every_flipped_byte_in_stored_events_is_detected_at_its_event() {
    let dir = tempfile::tempdir().unwrap();
    let l = sample(dir.path());
    let entries: Vec<_> = l.store().raw().collect::<Result<_, _>>().unwrap();
    verify_raw(&entries).unwrap();
    let mut checked = 0;
    // `prefix` has verified events 0..k; each flip of event k is checked from there on.
    let mut prefix = verifier();
    for k in 0..entries.len() {
        // The stored value is hash ++ bytes: flip bytes of both parts.
        let len = 32 + entries[k].2.len();
        for pos in 0..len {
            for mask in MASKS {
                let mut e = entries[k..].to_vec();
                if pos < 32 {
                    e[0].1 .0[pos] ^= mask;
                } else {
                    e[0].2[pos - 32] ^= mask;
                }
                let mut v = prefix.clone();
                let err = e
                    .iter()
                    .try_for_each(|(seq, h, b)| v.push(*seq, b, Some(*h)))
                    .and_then(|_| v.finish().map(|_| ()))
                    .expect_err("a flipped byte must be detected");
                assert_eq!(err.seq, k as u64, "flip at byte {pos} of event {k} reported as {err:?}");
                checked += 1;
            }
        }
        let (seq, h, b) = &entries[k];
        prefix.push(*seq, b, Some(*h)).unwrap();
    }
    assert!(checked > 10_000, "checked {checked} flips");
}

#[test]
fn flipped_byte_in_the_event_file_through_the_store_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let (n, lens) = {
        let l = sample(&path);
        let lens: Vec<usize> = l.store().raw().map(|r| r.unwrap().2.len()).collect();
        (l.store().len(), lens)
    };
    // Tamper with the event file (as someone with write access to the directory would), then
    // reopen the store and verify.
    for (k, pos) in [(0u64, 40usize), (3, 100), (n - 1, 33), (5, 32 + lens[5] - 1)] {
        flip_stored_byte(&path, k, pos);
        let store = ledger::Store::open(&path).unwrap();
        let err = ledger::verify_store(&store, verifier()).unwrap_err();
        assert_eq!(err.seq, k, "{err}");
        drop(store);
        flip_stored_byte(&path, k, pos); // undo it for the next round
    }
    let store = ledger::Store::open(&path).unwrap();
    ledger::verify_store(&store, verifier()).unwrap();
}

#[test]
fn every_flipped_byte_in_an_export_is_detected_at_its_event() {
    let dir = tempfile::tempdir().unwrap();
    let l = sample(&dir.path().join("l"));
    let out = dir.path().join("ledger.jsonl");
    let manifest = export::export(l.store(), &out).unwrap();
    let data = std::fs::read(&out).unwrap();
    export::verify_export_bytes(&data, &manifest, verifier()).unwrap();
    // Line k spans [starts[k], starts[k+1] - 1).
    let mut starts = vec![0];
    starts.extend(data.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i + 1));
    for k in 0..starts.len() - 1 {
        for pos in starts[k]..starts[k + 1] - 1 {
            for mask in MASKS {
                let mut d = data.clone();
                d[pos] ^= mask;
                if d[pos] == b'\n' {
                    continue; // that splits the line in two: not a flip inside one event
                }
                match export::verify_export_bytes(&d, &manifest, verifier()) {
                    Err(ExportError::Verify(f)) => {
                        assert_eq!(f.seq, k as u64, "flip at byte {} of line {k}: {f}", pos - starts[k])
                    }
                    other => panic!(
                        "flip at byte {} of line {k} not pinned to an event: {other:?}",
                        pos - starts[k]
                    ),
                }
            }
        }
    }
}

#[test]
fn export_file_tampering_is_detected_on_disk_and_import_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let l = sample(&dir.path().join("l"));
    let out = dir.path().join("ledger.jsonl");
    export::export(l.store(), &out).unwrap();
    let mut data = std::fs::read(&out).unwrap();
    let second_line = data.iter().position(|b| *b == b'\n').unwrap() + 10;
    data[second_line] ^= 0x01;
    std::fs::write(&out, &data).unwrap();
    match export::verify_export(&out, verifier()) {
        Err(ExportError::Verify(f)) => assert_eq!(f.seq, 1),
        other => panic!("{other:?}"),
    }
    let target = ledger::Store::open(dir.path().join("imported")).unwrap();
    assert!(export::import(&out, &target, verifier()).is_err());
    assert!(target.is_empty(), "a refused import writes nothing");
}

#[test]
fn truncated_or_padded_exports_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let l = sample(&dir.path().join("l"));
    let out = dir.path().join("ledger.jsonl");
    let manifest = export::export(l.store(), &out).unwrap();
    let data = std::fs::read(&out).unwrap();
    // Drop the last line: the manifest's count and head catch it.
    let cut = data[..data.len() - 1].iter().rposition(|b| *b == b'\n').unwrap() + 1;
    assert!(matches!(
        export::verify_export_bytes(&data[..cut], &manifest, verifier()),
        Err(ExportError::Manifest(_))
    ));
    // Cut mid-line.
    assert!(export::verify_export_bytes(&data[..data.len() - 5], &manifest, verifier()).is_err());
    // Drop the first line: the chain no longer starts at genesis.
    let first = data.iter().position(|b| *b == b'\n').unwrap() + 1;
    assert!(export::verify_export_bytes(&data[first..], &manifest, verifier()).is_err());
}

#[test]
fn events_lost_from_the_end_of_the_store_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let n = sample(&path).store().len();
    // Remove the last event from both files, as if the file system had lost their tails: the
    // chain that is left is valid on its own, so only the head anchor kept in sled and in the
    // commit journal can tell.
    let (start, _) = entry_span(&path, n - 1);
    std::fs::OpenOptions::new().write(true).open(path.join("events.log")).unwrap().set_len(start).unwrap();
    let idx = std::fs::OpenOptions::new().write(true).open(path.join("events.idx")).unwrap();
    idx.set_len((n - 1) * 8).unwrap();
    let store = ledger::Store::open(&path).unwrap();
    assert_eq!(store.len(), n - 1);
    let err = ledger::verify_store(&store, verifier()).unwrap_err();
    assert_eq!(err.seq, n - 1, "{err}");
    assert!(err.reason.contains("were lost"), "{err}");
    // And the damaged store is never served or extended: the ledger refuses to open on it.
    drop(store);
    match ledger::Ledger::open(&path, clock(), Notes::default()) {
        Err(e @ ledger::StoreError::Corrupt { .. }) => assert!(e.to_string().contains("were lost"), "{e}"),
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(_) => panic!("a ledger that lost its last event must not open"),
    }
}

/// The store's files, read whole (to restore them between tampers).
fn files_of(path: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    ["events.log", "events.idx", "db", "pledge.wal"]
        .iter()
        .map(|name| (path.join(name), std::fs::read(path.join(name)).unwrap()))
        .collect()
}

fn restore(files: &[(std::path::PathBuf, Vec<u8>)]) {
    for (p, bytes) in files {
        std::fs::write(p, bytes).unwrap();
    }
}

/// Given: a closed store; when any one byte of its event index is changed (so that an event's
/// entry ends elsewhere in `events.log`), or a byte of `events.log` (every 53rd); then
/// verification fails at that event, every time, and the ledger does not open on it.
#[test]
fn every_changed_byte_of_the_event_files_is_caught_at_its_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let n = sample(&path).store().len();
    let clean = files_of(&path);
    let log_len = clean[0].1.len() as u64;
    let entries: Vec<(u64, u64)> = (0..n).map(|k| entry_span(&path, k)).collect();
    let event_at = |pos: u64| entries.iter().position(|(s, e)| (*s..*e).contains(&pos)).unwrap() as u64;
    let mut tampers: Vec<(&str, u64, u64)> = (0..n * 8).map(|pos| ("events.idx", pos, pos / 8)).collect();
    // Every byte of every event is flipped through verification alone (above); here the log
    // at a prime stride, so that hashes and bodies of many events are hit at varied offsets.
    tampers.extend((0..log_len).step_by(53).map(|pos| ("events.log", pos, event_at(pos))));
    assert!(
        tampers.len() as u64 > n * 8 + n,
        "too few bytes of the log are tampered with: {}",
        tampers.len()
    );
    for (name, pos, k) in &tampers {
        for mask in [0x01u8, 0x80] {
            flip_file_byte(&path, name, *pos, mask);
            {
                let store = ledger::Store::open(&path).unwrap();
                match ledger::verify_store(&store, verifier()) {
                    Err(f) => assert_eq!(f.seq, *k, "{name} byte {pos} ^ {mask:#x}: {f}"),
                    Ok(s) => panic!("{name} byte {pos} ^ {mask:#x} verified: {s:?}"),
                }
            }
            assert!(
                ledger::Ledger::open(&path, clock(), Notes::default()).is_err(),
                "{name} byte {pos} ^ {mask:#x}: the ledger opened"
            );
            restore(&clean);
        }
    }
    ledger::verify_store(&ledger::Store::open(&path).unwrap(), verifier()).unwrap();
}

/// Given: a closed store; when its event files are cut or extended (a partial index entry,
/// bytes past the last event, a log cut inside its last event, or a whole extra event copied
/// with its index entry); then the store opens damaged, naming what is wrong, verification
/// fails, and the ledger refuses to open on it; nothing of it is served.
#[test]
fn event_files_cut_or_extended_are_damage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let n = sample(&path).store().len();
    let clean = files_of(&path);
    let (start, end) = entry_span(&path, n - 1);
    let last = clean[0].1[start as usize..end as usize].to_vec();
    let append = |name: &str, bytes: &[u8]| {
        use std::io::Write;
        std::fs::OpenOptions::new().append(true).open(path.join(name)).unwrap().write_all(bytes).unwrap();
    };
    let cut = |name: &str, len: u64| {
        std::fs::OpenOptions::new().write(true).open(path.join(name)).unwrap().set_len(len).unwrap();
    };
    type Tamper<'a> = (&'a str, Box<dyn Fn() + 'a>, &'a str);
    let tampers: Vec<Tamper> = vec![
        ("a partial index entry", Box::new(|| append("events.idx", &[0, 0, 1])), "not a whole number"),
        ("bytes past the last event", Box::new(|| append("events.log", b"{}")), "was extended"),
        ("the log cut inside its last event", Box::new(|| cut("events.log", end - 1)), "was cut"),
        ("the index cut by one entry", Box::new(|| cut("events.idx", (n - 1) * 8)), "was extended"),
        (
            "an extra event",
            Box::new(|| {
                append("events.log", &last);
                append("events.idx", &(end + (end - start)).to_be_bytes());
            }),
            "lost or rewritten",
        ),
    ];
    for (what, tamper, named) in &tampers {
        tamper();
        let store = ledger::Store::open(&path).unwrap();
        let damage = store.damage().unwrap_or_else(|| panic!("{what}: not damage")).to_string();
        assert!(damage.contains(named), "{what}: {damage}");
        assert!(ledger::verify_store(&store, verifier()).is_err(), "{what} verified");
        drop(store);
        match ledger::Ledger::open(&path, clock(), Notes::default()) {
            Err(ledger::StoreError::Corrupt { reason, .. }) => {
                assert!(reason.contains(named), "{what}: {reason}")
            }
            Err(e) => panic!("{what}: refused for another reason: {e}"),
            Ok(_) => panic!("{what}: the ledger opened"),
        }
        restore(&clean);
    }
    ledger::verify_store(&ledger::Store::open(&path).unwrap(), verifier()).unwrap();
}

/// The raw events of a ledger of at least three verification chunks, signed by one key (so
/// its signatures are checked with the key's table).
fn ledger_of_three_chunks() -> Vec<(u64, Digest, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap();
    let mut l = setup(dir.path());
    for _ in 0..26 {
        let envs = (0..400).map(|i| note(1 + i % 2, Some("s"), &key(2))).collect();
        for r in l.submit_batch(envs).unwrap() {
            r.unwrap();
        }
    }
    let entries: Vec<(u64, Digest, Vec<u8>)> = l.store().raw().collect::<Result<_, _>>().unwrap();
    assert!(entries.len() > 2 * 4096 + 1000, "{} events: fewer than three chunks", entries.len());
    entries
}

fn verify_parallel(e: &[(u64, Digest, Vec<u8>)]) -> Result<(), VerifyFailure> {
    ledger::verify_entries(verifier(), e.iter().map(|(s, h, b)| Ok((*s, b.clone(), Some(*h))))).map(|_| ())
}

/// The parallel verifier (a pipeline of chunks: one folded while the one before is checked
/// and the one after decoded) reports exactly what the one-event-at-a-time verifier reports,
/// for intact and damaged ledgers of at least three chunks.
#[test]
fn parallel_verification_agrees_with_sequential() {
    let entries = ledger_of_three_chunks();
    let sequential = |e: &[(u64, Digest, Vec<u8>)]| verify_raw(e).map_err(|f| f.seq);
    let parallel = |e: &[(u64, Digest, Vec<u8>)]| verify_parallel(e).map_err(|f| f.seq);
    assert_eq!(parallel(&entries), Ok(()));
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..16 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let k = (rng as usize) % entries.len();
        let pos = (rng >> 32) as usize % entries[k].2.len();
        let mut e = entries.clone();
        e[k].2[pos] ^= 0x01;
        // Also damage a later event's signature-bearing bytes: the first failure must win.
        let later = (k + 1 + (rng as usize >> 8) % 3000).min(e.len() - 1);
        let lp = e[later].2.len() / 3;
        e[later].2[lp] ^= 0x04;
        assert_eq!(parallel(&e), sequential(&e), "flip at event {k} byte {pos}");
        assert_eq!(parallel(&e), Err(k as u64));
    }
}

/// Re-encodes the events from `from` on with `prev` linking to the event before, as someone
/// who rewrites a store and fixes up its hashes would.
fn rechain(entries: &mut [(u64, Digest, Vec<u8>)], from: usize) {
    for i in from..entries.len() {
        let mut v: serde_json::Value = serde_json::from_slice(&entries[i].2).unwrap();
        if i > 0 {
            v["prev"] = json!(entries[i - 1].1.to_string());
        }
        let bytes = ledger::canonical::to_vec(&v).unwrap();
        entries[i].1 = Digest::of(&bytes);
        entries[i].2 = bytes;
    }
}

/// A signature that does not verify, in an event whose hash and every later link were made
/// consistent again, is found only by the signature check, which the pipeline defers to the
/// round after the fold: it is reported at its event, in whichever chunk it is, with a second
/// forgery further on, and the sequential verifier reports the same.
#[test]
fn a_forged_signature_in_any_chunk_is_reported_at_its_event() {
    let entries = ledger_of_three_chunks();
    let n = entries.len();
    let forge = |k: usize| -> (Vec<(u64, Digest, Vec<u8>)>, usize) {
        let mut e = entries.clone();
        let mut forged = Vec::new();
        for start in [k, (k + 5000).min(n - 3)] {
            let at = (start..n)
                .find(|&i| {
                    serde_json::from_slice::<serde_json::Value>(&e[i].2).unwrap()["cause"]["command"]
                        .is_object()
                })
                .unwrap();
            let mut v: serde_json::Value = serde_json::from_slice(&e[at].2).unwrap();
            let sig = v["cause"]["command"]["signatures"][0]["sig"].as_str().unwrap().to_string();
            // Another valid base64 character in the middle: the same length, other bits.
            let mut chars: Vec<char> = sig.chars().collect();
            chars[20] = if chars[20] == 'A' { 'B' } else { 'A' };
            v["cause"]["command"]["signatures"][0]["sig"] = json!(chars.into_iter().collect::<String>());
            e[at].2 = ledger::canonical::to_vec(&v).unwrap();
            e[at].1 = Digest::of(&e[at].2);
            rechain(&mut e, at + 1);
            forged.push(at);
        }
        (e, forged[0])
    };
    for k in [10, 4096 - 3, 4096 + 700, 2 * 4096 + 10, n - 40] {
        let (e, at) = forge(k);
        let failure = verify_parallel(&e).unwrap_err();
        assert_eq!(failure.seq, at as u64, "{failure}");
        assert!(failure.reason.contains("signature"), "{failure}");
        assert_eq!(verify_raw(&e).unwrap_err().seq, at as u64);
    }
}

/// The same event in another spelling (spaces between members, or a letter written as a
/// `\u` escape), with its hash and every later link made consistent again, is refused at its
/// event as not canonical, by the sequential and the parallel verifier: the parallel one
/// leaves the check to the byte-for-byte comparison with the re-derived event.
#[test]
fn an_event_in_another_spelling_is_refused_at_its_event() {
    let dir = tempfile::tempdir().unwrap();
    let l = sample(dir.path());
    let entries: Vec<(u64, Digest, Vec<u8>)> = l.store().raw().collect::<Result<_, _>>().unwrap();
    type Respell = fn(&[u8]) -> Vec<u8>;
    let respell: [(&str, Respell); 2] = [
        ("spaces", |b| {
            serde_json::to_vec_pretty(&serde_json::from_slice::<serde_json::Value>(b).unwrap()).unwrap()
        }),
        ("escape", |b| {
            String::from_utf8(b.to_vec()).unwrap().replacen("\"kind\"", "\"\\u006bind\"", 1).into_bytes()
        }),
    ];
    for (name, f) in respell {
        for k in 0..entries.len() {
            let mut e = entries.clone();
            e[k].2 = f(&e[k].2);
            assert_ne!(e[k].2, entries[k].2);
            e[k].1 = Digest::of(&e[k].2);
            rechain(&mut e, k + 1);
            for failure in [verify_raw(&e).unwrap_err(), verify_parallel(&e).unwrap_err()] {
                assert_eq!(failure.seq, k as u64, "{name} at {k}: {failure}");
                assert!(failure.reason.contains("not in canonical form"), "{name} at {k}: {failure}");
            }
        }
    }
}

/// Opening folds in chunks that are parsed ahead on another thread: damage is still reported
/// at its own event, however far into the ledger, and never as a later chunk's.
#[test]
fn damage_beyond_the_first_chunks_is_reported_at_its_event_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let n = {
        let mut l = setup(&path);
        for _ in 0..130 {
            l.submit(note(20, None, &key(2)), ExpectedHead::Any).unwrap();
        }
        l.store().len()
    };
    assert!(n > 2_500, "{n} events: fewer than three chunks");
    // Bytes of the event in the third chunk, then the stored hash of one in the second.
    for (k, pos) in [(2_100u64, 40usize), (1_500, 3), (n - 1, 60)] {
        flip_stored_byte(&path, k, pos);
        match ledger::Ledger::open(&path, clock(), Notes::default()).map(|_| ()) {
            Err(ledger::StoreError::Corrupt { seq, reason }) => assert_eq!(seq, k, "{reason}"),
            other => panic!("a flip in event {k} gave {other:?}"),
        }
        flip_stored_byte(&path, k, pos);
    }
    let expected = sample_fold(&path);
    let l = ledger::Ledger::open(&path, clock(), Notes::default()).unwrap();
    assert_eq!(l.store().len(), n);
    assert_eq!(l.domain(), &expected);
}

/// The test domain folded one event at a time from the stored events.
fn sample_fold(path: &std::path::Path) -> Notes {
    let store = ledger::Store::open(path).unwrap();
    let mut notes = Notes::default();
    for ev in store.iter() {
        ledger::Domain::apply(&mut notes, &ev.unwrap()).unwrap();
    }
    notes
}
