//! Given / when / then harness: a ledger with the default policy and a small team, fixed keys,
//! a fixed clock and fixed command ids.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use commands::domain::default_policy;
use commands::domain::PledgeDomain;
use ledger::canonical::{StepClock, Timestamp};
use ledger::keys::SecretKey;
use ledger::{Command, ExpectedHead, Ledger, RecordedEvent, SubmitError};
use projections::State;
use serde_json::{json, Value};
use uuid::Uuid;

pub const T0: &str = "2026-02-15T02:00:00.000000Z";

/// The team: `root` admin, `maya` scientist, `colby` approver, `ana` approver and scientist,
/// `scheduler` service; `plog` is a log key when a test enrolls it (`with_log_key`).
pub fn key(who: &str) -> SecretKey {
    let n = match who {
        "root" => 1,
        "maya" => 2,
        "colby" => 3,
        "ana" => 4,
        "scheduler" => 5,
        "plog" => 6,
        _ => 99,
    };
    SecretKey::from_seed([n; 32])
}

pub fn ledger_id() -> Uuid {
    Uuid::parse_str("019c5e00-0000-7000-8000-0000000000aa").unwrap()
}

/// Fixed command ids, continuing a world's sequence after it is handed over.
pub struct Ids(AtomicU64);

impl Ids {
    /// A command signed by `who` with the next fixed id.
    pub fn envelope(&self, who: &str, kind: &str, body: Value) -> ledger::dsse::Envelope {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        let cmd = Command {
            id: fixed_id(n),
            ledger: ledger_id(),
            issued_at: Timestamp::parse_exact(T0).unwrap(),
            kind: kind.into(),
            body,
        };
        cmd.sign(&key(who)).unwrap()
    }
}

fn fixed_id(n: u64) -> Uuid {
    let mut b = *Uuid::parse_str("019c5e00-0000-7000-8000-000000000000").unwrap().as_bytes();
    b[8..16].copy_from_slice(&(0x8000_0000_0000_0000u64 | n).to_be_bytes());
    Uuid::from_bytes(b)
}

pub struct World {
    pub ledger: Ledger<PledgeDomain>,
    _dir: tempfile::TempDir,
    next: AtomicU64,
    clock: Arc<StepClock>,
}

impl World {
    /// Given: genesis with the default policy and the team enrolled with their roles.
    pub fn new() -> World {
        World::with_policy(default_policy())
    }

    pub fn with_policy(policy: Value) -> World {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(StepClock::new(Timestamp::parse_exact(T0).unwrap(), 60_000_000));
        let ledger = Ledger::open(dir.path().join("l"), clock.clone(), PledgeDomain::default()).unwrap();
        let mut w = World { ledger, _dir: dir, next: AtomicU64::new(1), clock };
        w.ok("root", "ledger.create", json!({"admins": [{"principal": "root", "public_key": key("root").public().to_string()}], "policy": policy}));
        for (who, roles) in [
            ("maya", &["scientist"][..]),
            ("colby", &["approver"]),
            ("ana", &["approver", "scientist"]),
            ("scheduler", &["service"]),
        ] {
            w.ok(
                "root",
                "key.enroll",
                json!({"principal": who, "public_key": key(who).public().to_string()}),
            );
            for r in roles {
                w.ok("root", "role.grant", json!({"principal": who, "role": r}));
            }
        }
        w
    }

    /// The same world with its ledger closed and opened again: the state folded from the
    /// store, the clock and the command ids continuing where they were.
    pub fn reopened(self) -> World {
        self.reopen(false)
    }

    fn reopen(self, snapshots: bool) -> World {
        let World { ledger, _dir, next, clock } = self;
        let path = ledger.store().dir().to_path_buf();
        drop(ledger);
        let ledger = if snapshots {
            Ledger::open_with_snapshots(path, clock.clone(), PledgeDomain::default())
        } else {
            Ledger::open(path, clock.clone(), PledgeDomain::default())
        };
        World { ledger: ledger.unwrap(), _dir, next, clock }
    }

    /// [`World::reopened`] with [`Ledger::open_with_snapshots`]: snapshots are loaded, and
    /// written when due ([`Ledger::snapshot_if_due`]) and on close.
    pub fn reopened_with_snapshots(self) -> World {
        self.reopen(true)
    }

    fn id(&self) -> Uuid {
        fixed_id(self.next.fetch_add(1, Ordering::Relaxed))
    }

    /// A command signed by `who`, with the next fixed id.
    pub fn envelope(&self, who: &str, kind: &str, body: Value) -> ledger::dsse::Envelope {
        let cmd = Command {
            id: self.id(),
            ledger: ledger_id(),
            issued_at: Timestamp::parse_exact(T0).unwrap(),
            kind: kind.into(),
            body,
        };
        cmd.sign(&key(who)).unwrap()
    }

    /// When: `who` signs and submits a command.
    pub fn submit(&mut self, who: &str, kind: &str, body: Value) -> Result<Vec<RecordedEvent>, SubmitError> {
        let env = self.envelope(who, kind, body);
        self.ledger.submit(env, ExpectedHead::Any).map(|r| r.events)
    }

    /// Given: `plog` enrolled with the `log` role, and a checkpoint of the ledger signed by it.
    pub fn with_log_key(&mut self) -> ledger::checkpoints::Published {
        self.ok(
            "root",
            "key.enroll",
            json!({"principal": "plog", "public_key": key("plog").public().to_string()}),
        );
        self.ok("root", "role.grant", json!({"principal": "plog", "role": "log"}));
        commands::app::transparency::sign_checkpoint(self.ledger.store(), self.ledger.trust(), &key("plog"))
            .unwrap()
    }

    /// Hands the ledger over (to a server), with the directory that holds it and the id source.
    pub fn into_parts(self) -> (Ledger<PledgeDomain>, tempfile::TempDir, Ids) {
        (self.ledger, self._dir, Ids(self.next))
    }

    /// Then: accepted; returns the events.
    #[track_caller]
    pub fn ok(&mut self, who: &str, kind: &str, body: Value) -> Vec<RecordedEvent> {
        match self.submit(who, kind, body) {
            Ok(e) => {
                crate::schemas::check(&e);
                e
            }
            Err(e) => panic!("`{kind}` by `{who}` was refused: {e}"),
        }
    }

    /// Then: rejected by `rule`, and nothing was written.
    #[track_caller]
    pub fn rejected(&mut self, who: &str, kind: &str, body: Value, rule: &str) -> String {
        let head = self.ledger.store().head();
        match self.submit(who, kind, body) {
            Err(SubmitError::Rejected(r)) => {
                assert_eq!(r.rule, rule, "`{kind}` by `{who}` rejected by another rule: {}", r.message);
                assert_eq!(self.ledger.store().head(), head, "a rejected command must append nothing");
                r.message
            }
            other => panic!("`{kind}` by `{who}` should be rejected by `{rule}`, got {other:?}"),
        }
    }

    /// Then: refused as invalid input, and nothing was written.
    #[track_caller]
    pub fn invalid(&mut self, who: &str, kind: &str, body: Value) -> String {
        let head = self.ledger.store().head();
        match self.submit(who, kind, body) {
            Err(SubmitError::Invalid(m)) => {
                assert_eq!(self.ledger.store().head(), head);
                m
            }
            other => panic!("`{kind}` should be invalid, got {other:?}"),
        }
    }

    pub fn state(&self) -> &State {
        &self.ledger.domain().state
    }

    pub fn champion(&self, model: &str, segment: Option<&str>) -> Option<u64> {
        self.state().model(model).and_then(|m| m.champions.get(&projections::seg_key(segment)).copied())
    }
}

/// Asserts that `state` survives a snapshot's domain section: it decodes to the same state,
/// which encodes to the same bytes (structs are written as arrays of their members, so a
/// member written out of place would decode into the wrong one or not at all).
pub fn assert_snapshot_round_trips(state: &State, when: &str) {
    let bytes = state.to_snapshot();
    let back = State::from_snapshot(&bytes[..]).unwrap_or_else(|e| panic!("{when}: {e}"));
    assert!(back == *state, "{when}: the snapshot decodes to another state");
    assert!(back.to_snapshot() == bytes, "{when}: the decoded state encodes to other bytes");
}

pub fn kinds(events: &[RecordedEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event.kind.as_str()).collect()
}

pub const DIGEST: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

/// A run body: one global model with these metrics.
pub fn run(run_id: &str, trigger: &str, mae: f64, mape: f64, coverage: f64) -> Value {
    json!({
        "run_id": run_id, "model": "demand", "task": "forecast", "trigger": trigger,
        "dataset_digest": DIGEST, "dataset_version": "20260215", "trainer": "external:lightgbm-4.3",
        "params": {"num_leaves": 31}, "metrics": {"mae": mae, "mape": mape, "coverage": coverage},
        "models": [{"segment": null, "artifact_digest": DIGEST, "metrics": {"mae": mae, "mape": mape, "coverage": coverage}}],
    })
}

/// A `hypothesis.propose` body: hypothesis `id` about `demand`, owned by maya.
pub fn hypothesis_body(id: &str, statement: &str) -> Value {
    json!({"hypothesis_id": id, "model": "demand", "statement": statement, "change_type": "architecture",
           "target_metric": "mae", "expected_improvement_pct": 5.0, "owner": "maya"})
}

/// Given: model `demand` with champion v1 (MAE 12.3, MAPE 0.20, coverage 0.90), bootstrapped.
pub fn with_champion() -> World {
    let mut w = World::new();
    w.ok("maya", "run.record", run("r1", "manual", 12.3, 0.20, 0.90));
    w.ok(
        "colby",
        "champion.bootstrap",
        json!({"model": "demand", "segment": null, "version": 1, "reason": "first production model"}),
    );
    w
}

/// The timeline as of every event and every recorded time of `w`'s ledger, cut from the head's
/// read models (what `pledge timeline --as-of` and the API answer), is the timeline of the
/// state replayed to that point, for every model (and one never registered) and every segment
/// (each with a champion somewhere in the ledger, one without, and none); a model registered
/// after the point is not found in both. The same question answered from the index a snapshot
/// of the head keeps (`Query::answer_from_index`, the index encoded and decoded again) gives
/// the same answer, and so do the champions of every model, of each and of one never
/// registered. Returns the number of answers compared.
pub fn snapshot_index_answers_agree(w: &World) -> Result<usize, String> {
    use commands::app::query::{Champions, Query, QueryError, SnapshotIndex, Timeline, View};
    use projections::replay::{self, AsOf};
    let store = w.ledger.store();
    let head = w.state();
    let view = View::new(store, w.ledger.trust(), head, w.ledger.domain().policy.as_deref());
    let kept = SnapshotIndex::of(store, head).map_err(|e| e.to_string())?;
    let kept = SnapshotIndex::decode(&kept.encode())?;
    let mut models: Vec<String> = head.models.keys().cloned().collect();
    models.push("never-registered".into());
    let mut compared = 0;
    for model in models.iter().map(|m| Some(m.clone())).chain([None]) {
        let q = Champions { model: model.clone() };
        let answer = q.answer(&view);
        let from_kept = q.answer_from_index(store, w.ledger.trust(), &kept).expect("a champions question");
        if format!("{answer:?}") != format!("{from_kept:?}") {
            return Err(format!(
                "champions of {model:?}: from the read models {answer:?}, from the kept index {from_kept:?}"
            ));
        }
        compared += 1;
    }
    let mut segments: Vec<Option<String>> = vec![None, Some("no-such-segment".into())];
    for m in head.models.values() {
        segments.extend(m.champion_history.keys().filter(|k| !k.is_empty()).map(|k| Some(k.clone())));
    }
    segments.sort();
    segments.dedup();
    // Every event, a point past the head, and every recorded time, a microsecond before each
    // and before the first (a time includes every event recorded at or before it).
    let mut points: Vec<(String, AsOf)> = (0..=store.len()).map(|k| (k.to_string(), AsOf::Seq(k))).collect();
    for ev in store.iter() {
        let at = ev.map_err(|e| e.to_string())?.event.recorded_at;
        let before = Timestamp::from_datetime(at.datetime() - chrono::Duration::microseconds(1));
        for t in [at, before] {
            points.push((t.to_string(), AsOf::Time(t)));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    points.retain(|(text, _)| seen.insert(text.clone()));
    for (text, at) in points {
        let past = replay::replay(store, at).map_err(|e| e.to_string())?;
        for model in &models {
            for segment in &segments {
                let q =
                    Timeline { model: model.clone(), segment: segment.clone(), as_of: Some(text.clone()) };
                let answer = q.answer(&view);
                let from_kept =
                    q.answer_from_index(store, w.ledger.trust(), &kept).expect("a timeline question");
                if format!("{answer:?}") != format!("{from_kept:?}") {
                    return Err(format!(
                        "{model} / {segment:?} as of {text}: from the read models {answer:?}, from the kept timelines {from_kept:?}"
                    ));
                }
                let cut = match answer {
                    Ok(a) => Some(a.entries),
                    Err(QueryError::NotFound(..)) => None,
                    Err(e) => return Err(format!("as of {text}: {e:?}")),
                };
                let replayed = match past.model(model) {
                    Some(_) => Some(
                        projections::query::timeline(
                            store,
                            w.ledger.trust(),
                            &past,
                            model,
                            segment.as_deref(),
                        )
                        .map_err(|e| e.to_string())?,
                    ),
                    None => None,
                };
                if cut != replayed {
                    return Err(format!(
                        "{model} / {segment:?} as of {text}: cut from the head {:?}, replayed {:?}",
                        cut.map(|e| e.iter().map(|e| e.seq).collect::<Vec<_>>()),
                        replayed.map(|e| e.iter().map(|e| e.seq).collect::<Vec<_>>())
                    ));
                }
                compared += 1;
            }
        }
    }
    Ok(compared)
}
