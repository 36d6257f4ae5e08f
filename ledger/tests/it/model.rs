//! Property test: random sequences of appends, batch appends, resent and reused command ids,
//! unknown signers, stale heads and reopens, checked against a plain in-memory model.

use std::collections::HashMap;

use ledger::dsse::Envelope;
use ledger::{Digest, ExpectedHead, Ledger, StoreError, SubmitError};
use proptest::prelude::*;
use serde_json::json;

use crate::support::*;

#[derive(Clone, Debug)]
enum Cmd {
    /// A new note command: count and segment.
    Note(u8, Option<u8>),
    /// Resend an earlier command byte for byte (pick by index).
    Resend(usize),
    /// Reuse an earlier command's id with other content.
    Reuse(usize),
    /// Signed by a key the ledger does not know.
    Stranger,
    /// Enroll a new key (admin command).
    Enroll,
}

#[derive(Clone, Debug)]
enum Op {
    Submit(Cmd, bool),
    Batch(Vec<Cmd>),
    Reopen,
}

fn cmd() -> impl Strategy<Value = Cmd> {
    prop_oneof![
        4 => (1u8..4, proptest::option::of(0u8..3)).prop_map(|(n, s)| Cmd::Note(n, s)),
        2 => any::<usize>().prop_map(Cmd::Resend),
        1 => any::<usize>().prop_map(Cmd::Reuse),
        1 => Just(Cmd::Stranger),
        1 => Just(Cmd::Enroll),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (cmd(), any::<bool>()).prop_map(|(c, stale)| Op::Submit(c, stale)),
        2 => proptest::collection::vec(cmd(), 1..6).prop_map(Op::Batch),
        1 => Just(Op::Reopen),
    ]
}

/// An event of the model: its kind and segment.
type ModelEvent = (String, Option<String>);

/// The model: the list of events (kind, segment) and, per command, its digest and event seqs.
#[derive(Default)]
struct Model {
    events: Vec<(String, Option<String>)>,
    hashes: Vec<Digest>,
    commands: HashMap<uuid::Uuid, (Digest, Vec<u64>)>,
    sent: Vec<(ledger::Command, Envelope)>,
    enrolled: u8,
}

enum Expect {
    Append(Vec<(String, Option<String>)>),
    Duplicate(Vec<u64>),
    Rejected(&'static str),
}

impl Model {
    fn build(&mut self, c: &Cmd) -> (ledger::Command, Envelope, Expect) {
        let fresh_note = |n: u8, s: Option<u8>| {
            let seg = s.map(|s| format!("seg{s}"));
            let c = command("note.record", json!({"count": n, "segment": seg}));
            let exp = (0..n).map(|_| ("note.recorded".to_string(), seg.clone())).collect();
            (c, exp)
        };
        match c {
            Cmd::Note(n, s) => {
                let (c, exp) = fresh_note(*n, *s);
                let env = c.sign(&key(2)).unwrap();
                (c, env, Expect::Append(exp))
            }
            Cmd::Resend(i) if !self.sent.is_empty() => {
                let (c, env) = self.sent[i % self.sent.len()].clone();
                let digest = Digest::of(&env.payload_bytes().unwrap());
                let exp = match self.commands.get(&c.id) {
                    Some((d, seqs)) if *d == digest => Expect::Duplicate(seqs.clone()),
                    Some(_) => Expect::Rejected("command.id_reused"),
                    None => Expect::Rejected("?"), // it was rejected before, so it is again
                };
                (c, env, exp)
            }
            Cmd::Reuse(i) if !self.commands.is_empty() => {
                let (orig, _) =
                    self.sent.iter().find(|(c, _)| self.commands.contains_key(&c.id)).cloned().unwrap();
                let pick = self
                    .sent
                    .iter()
                    .filter(|(c, _)| self.commands.contains_key(&c.id))
                    .nth(i % self.commands.len());
                let orig = pick.map(|p| p.0.clone()).unwrap_or(orig);
                let mut c = orig.clone();
                c.body = json!({"count": 9, "segment": "other"});
                let env = c.sign(&key(2)).unwrap();
                (c, env, Expect::Rejected("command.id_reused"))
            }
            Cmd::Stranger => {
                let c = command("note.record", json!({"count": 1, "segment": null}));
                let env = c.sign(&key(99)).unwrap();
                (c, env, Expect::Rejected("key.unknown"))
            }
            Cmd::Enroll => {
                self.enrolled += 1;
                let k = key(100 + self.enrolled);
                let c = command(
                    "key.enroll",
                    json!({"principal": format!("p{}", self.enrolled), "public_key": k.public().to_string()}),
                );
                let env = c.sign(&key(1)).unwrap();
                (c, env, Expect::Append(vec![("key.enrolled".into(), None)]))
            }
            // Nothing to resend or reuse yet: a plain note.
            _ => self.build(&Cmd::Note(1, None)),
        }
    }

    #[track_caller]
    fn check_result(
        &mut self,
        c: ledger::Command,
        env: Envelope,
        exp: Expect,
        got: Result<ledger::Receipt, SubmitError>,
    ) {
        let digest = Digest::of(&env.payload_bytes().unwrap());
        self.sent.push((c.clone(), env));
        match (exp, got) {
            (Expect::Append(evs), Ok(r)) => {
                assert!(!r.duplicate);
                let first = self.events.len() as u64;
                assert_eq!(r.events.len(), evs.len());
                for (i, (e, (kind, seg))) in r.events.iter().zip(evs).enumerate() {
                    assert_eq!(e.seq(), first + i as u64);
                    assert_eq!(e.event.kind, kind);
                    assert_eq!(e.event.subject.as_ref().and_then(|s| s.segment.clone()), seg);
                    self.events.push((kind, seg));
                    self.hashes.push(e.hash);
                }
                self.commands.insert(c.id, (digest, (first..first + r.events.len() as u64).collect()));
            }
            (Expect::Duplicate(seqs), Ok(r)) => {
                assert!(r.duplicate);
                assert_eq!(r.events.iter().map(|e| e.seq()).collect::<Vec<_>>(), seqs);
            }
            (Expect::Rejected("?"), Err(SubmitError::Rejected(_))) => {}
            (Expect::Rejected(rule), Err(SubmitError::Rejected(r))) => assert_eq!(r.rule, rule),
            (_, got) => panic!("model and ledger disagree: got {got:?}"),
        }
    }

    #[track_caller]
    fn check_store(&self, l: &Ledger<Notes>) {
        let store = l.store();
        assert_eq!(store.len(), self.events.len() as u64);
        let all: Vec<_> = store.iter().map(Result::unwrap).collect();
        for (i, ev) in all.iter().enumerate() {
            assert_eq!(ev.seq(), i as u64);
            assert_eq!(ev.event.kind, self.events[i].0);
            assert_eq!(ev.hash, self.hashes[i]);
            assert_eq!(store.get_by_hash(&ev.hash).unwrap().unwrap().seq(), i as u64);
        }
        for (id, (digest, seqs)) in &self.commands {
            let rec = store.command(id).unwrap().expect("command indexed");
            assert_eq!(rec.digest, *digest);
            assert_eq!(rec.first_seq, seqs[0]);
            assert_eq!(rec.count as usize, seqs.len());
        }
        for seg in ["seg0", "seg1", "seg2"] {
            let want = self.events.iter().filter(|e| e.1.as_deref() == Some(seg)).count();
            assert_eq!(store.by_subject(&ledger::Subject::segment("m", seg)).unwrap().len(), want);
        }
        // The subject and kind indexes (bitmaps over blocks of 64 events) answer every range,
        // both ways, exactly as a scan of the model would: ranges cut inside and at the
        // blocks' edges.
        assert!(store.indexed());
        let len = store.len();
        let mut cuts = vec![0, 1, 63, 64, 65, 127, 128, len / 3, len / 2, len.saturating_sub(1), len];
        cuts.retain(|&c| c <= len);
        for &a in &cuts {
            for &b in cuts.iter().filter(|&&b| b >= a) {
                let want = |f: &dyn Fn(&ModelEvent) -> bool| -> Vec<u64> {
                    (a..b).filter(|&i| f(&self.events[i as usize])).collect()
                };
                for kind in ["note.recorded", "key.enrolled", "ledger.created"] {
                    let w = want(&|e| e.0 == kind);
                    let got: Vec<u64> = store.seqs_by_kind(kind, a..b, false).map(Result::unwrap).collect();
                    assert_eq!(got, w, "{kind} in {a}..{b}");
                    let back: Vec<u64> = store.seqs_by_kind(kind, a..b, true).map(Result::unwrap).collect();
                    assert_eq!(
                        back,
                        w.iter().rev().copied().collect::<Vec<_>>(),
                        "{kind} in {a}..{b} reversed"
                    );
                }
                for seg in [Some("seg0"), Some("seg1"), Some("seg2"), None] {
                    let w = want(&|e| e.0 == "note.recorded" && e.1.as_deref() == seg);
                    let got: Vec<u64> =
                        store.seqs_by_exact_subject("m", seg, a..b, false).map(Result::unwrap).collect();
                    assert_eq!(got, w, "{seg:?} in {a}..{b}");
                    let back: Vec<u64> =
                        store.seqs_by_exact_subject("m", seg, a..b, true).map(Result::unwrap).collect();
                    assert_eq!(
                        back,
                        w.iter().rev().copied().collect::<Vec<_>>(),
                        "{seg:?} in {a}..{b} reversed"
                    );
                }
            }
        }
        let all_m: Vec<u64> = (0..len).filter(|&i| self.events[i as usize].0 == "note.recorded").collect();
        assert_eq!(store.seqs_by_subject("m", None).unwrap(), all_m, "every subject of the model");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    #[test]
    fn ledger_matches_model(ops in proptest::collection::vec(op(), 1..24)) {
        let dir = tempfile::tempdir().unwrap();
        let mut l = setup(dir.path());
        let mut m = Model::default();
        for ev in l.store().iter() {
            let ev = ev.unwrap();
            m.events.push((ev.event.kind.clone(), None));
            m.hashes.push(ev.hash);
        }
        let mut stale_head = l.store().head().unwrap().hash;
        for op in ops {
            match op {
                Op::Submit(c, stale) => {
                    let (c, env, exp) = m.build(&c);
                    let head = l.store().head().unwrap();
                    if stale && head.hash != stale_head {
                        let before = l.store().len();
                        let got = l.submit(env, ExpectedHead::At(stale_head));
                        // A duplicate is answered before the head is compared; anything else conflicts.
                        match got {
                            Err(SubmitError::Store(StoreError::Conflict { .. })) => {}
                            other => panic!("stale head not refused: {other:?}"),
                        }
                        prop_assert_eq!(l.store().len(), before);
                    } else {
                        let got = l.submit(env.clone(), ExpectedHead::At(head.hash));
                        m.check_result(c, env, exp, got);
                    }
                    stale_head = head.hash;
                }
                Op::Batch(cs) => {
                    let built: Vec<_> = cs.iter().map(|c| m.build(c)).collect();
                    // Within a batch, a later copy of a command is a duplicate of the earlier one.
                    let envs = built.iter().map(|b| b.1.clone()).collect();
                    let results = l.submit_batch(envs).unwrap();
                    for ((c, env, exp), got) in built.into_iter().zip(results) {
                        let exp = match exp {
                            Expect::Append(evs) if m.commands.contains_key(&c.id) => {
                                let _ = evs;
                                Expect::Duplicate(m.commands[&c.id].1.clone())
                            }
                            e => e,
                        };
                        m.check_result(c, env, exp, got);
                    }
                }
                Op::Reopen => {
                    drop(l);
                    l = Ledger::open(dir.path(), clock(), Notes::default()).unwrap();
                }
            }
            m.check_store(&l);
        }
        ledger::verify_store(l.store(), verifier()).unwrap();
    }
}
