//! Shared fixtures: deterministic keys, clock and ids, a small test domain, command builders.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ledger::canonical::{StepClock, Timestamp};
use ledger::dsse::Envelope;
use ledger::keys::SecretKey;
use ledger::trust::base_policy;
use ledger::{
    Command, Context, Domain, DraftCause, EventDraft, ExpectedHead, Ledger, RecordedEvent, Refusal,
    SignedCommand, Subject,
};
use serde_json::{json, Value};
use uuid::Uuid;

pub const T0: &str = "2026-11-01T09:00:00.000000Z";

pub fn t0() -> Timestamp {
    Timestamp::parse_exact(T0).unwrap()
}

pub fn clock() -> Arc<StepClock> {
    Arc::new(StepClock::new(t0(), 1_000_000))
}

/// Deterministic keys: `key(1)` is the admin, `key(2)` a scientist, `key(3)` an approver.
pub fn key(n: u8) -> SecretKey {
    SecretKey::from_seed([n; 32])
}

pub fn ledger_id() -> Uuid {
    Uuid::parse_str("019a3e7c-0000-7000-8000-000000000001").unwrap()
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh deterministic UUID v7 (a counter in the random bits, a fixed time).
pub fn next_id() -> Uuid {
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let mut b = *Uuid::parse_str("019a3e7c-0000-7000-8000-000000000000").unwrap().as_bytes();
    b[8..16].copy_from_slice(&(0x8000_0000_0000_0000u64 | n).to_be_bytes());
    Uuid::from_bytes(b)
}

pub fn command(kind: &str, body: Value) -> Command {
    Command { id: next_id(), ledger: ledger_id(), issued_at: t0(), kind: kind.into(), body }
}

pub fn signed(kind: &str, body: Value, by: &SecretKey) -> Envelope {
    command(kind, body).sign(by).unwrap()
}

/// The test policy: the base policy plus `note.record` for scientists.
pub fn policy() -> Value {
    let mut p = base_policy();
    p["permissions"]["note.record"] = json!(["scientist"]);
    p
}

pub fn genesis(admin: &SecretKey) -> Envelope {
    signed(
        "ledger.create",
        json!({"admins": [{"principal": "root", "public_key": admin.public().to_string()}], "policy": policy()}),
        admin,
    )
}

pub fn enroll(principal: &str, k: &SecretKey, admin: &SecretKey) -> Envelope {
    signed("key.enroll", json!({"principal": principal, "public_key": k.public().to_string()}), admin)
}

pub fn grant(principal: &str, role: &str, admin: &SecretKey) -> Envelope {
    signed("role.grant", json!({"principal": principal, "role": role}), admin)
}

pub fn note(n: u64, segment: Option<&str>, by: &SecretKey) -> Envelope {
    signed("note.record", json!({"count": n, "segment": segment}), by)
}

/// A domain for tests of the append path: `note.record {count, segment}` records `count` events
/// about model `m` (the first caused by the command, the rest by the first event).
#[derive(Default, Debug, Clone, PartialEq)]
pub struct Notes {
    pub applied: Vec<u64>,
}

impl Domain for Notes {
    fn decide(&self, _ctx: &Context<'_>, cmd: &SignedCommand) -> Result<Vec<EventDraft>, Refusal> {
        if cmd.command().kind != "note.record" {
            return Err(ledger::Rejection::new("command.unknown_kind", "not a note").into());
        }
        let count = cmd.command().body["count"].as_u64().ok_or(Refusal::Invalid("count".into()))?;
        if count == 0 || count > 20 {
            return Err(ledger::Rejection::new("note.count", "count must be 1..=20").into());
        }
        let subject = match cmd.command().body["segment"].as_str() {
            Some(s) => Subject::segment("m", s),
            None => Subject::model("m"),
        };
        Ok((0..count)
            .map(|i| EventDraft {
                kind: "note.recorded".into(),
                kind_version: 1,
                subject: Some(subject.clone()),
                cause: if i == 0 { DraftCause::ThisCommand } else { DraftCause::EarlierDraft(0) },
                payload: json!({"i": i, "x": 0.1 * i as f64}),
            })
            .collect())
    }

    fn apply(&mut self, event: &RecordedEvent) -> Result<(), String> {
        self.applied.push(event.seq());
        Ok(())
    }
}

/// A ledger with genesis (admin `root` = key 1), scientist `sci` (key 2), approver `ana` (key 3).
pub fn setup(dir: &Path) -> Ledger<Notes> {
    let mut l = Ledger::open(dir, clock(), Notes::default()).unwrap();
    let admin = key(1);
    l.submit(genesis(&admin), ExpectedHead::Empty).unwrap();
    for env in [
        enroll("sci", &key(2), &admin),
        grant("sci", "scientist", &admin),
        enroll("ana", &key(3), &admin),
        grant("ana", "approver", &admin),
    ] {
        l.submit(env, ExpectedHead::Any).unwrap();
    }
    l
}

/// A verifier that re-derives with the test domain.
pub fn verifier() -> ledger::Verifier<Notes> {
    ledger::Verifier::with_domain(Notes::default())
}
