//! Consistent forgeries, as the one adversary that matters would make them: an operator with
//! write access to a store or an export, who edits events and then recomputes every id, every
//! `prev` link, every reference to an edited event, the stored hashes and indexes, the head
//! anchor and the export manifest, so that nothing is left inconsistent but the signatures and
//! the rules.
//!
//! This module exists for tamper tests (every forgery must fail [`crate::verify_store`] at
//! the forged event) and for `pledge demo`, which shows one being caught. Nothing on Pledge's
//! append, read or verification paths calls it.
//!
//! ```
//! # use std::sync::Arc;
//! # use ledger::{keys::SecretKey, canonical::{StepClock, Timestamp}, Command, ExpectedHead,
//! #              Ledger, NoDomain, trust::base_policy, forge::Forgery, Verifier};
//! # use serde_json::json;
//! # let dir = tempfile::tempdir().unwrap();
//! # let t0 = Timestamp::parse_exact("2026-01-01T00:00:00.000000Z").unwrap();
//! # let mut ledger = Ledger::open(dir.path().join("l"), Arc::new(StepClock::new(t0, 1_000)), NoDomain).unwrap();
//! # let admin = SecretKey::from_seed([1; 32]);
//! # let id = uuid::Uuid::now_v7();
//! # let genesis = Command::new(id, t0, "ledger.create", json!({
//! #     "admins": [{"principal": "root", "public_key": admin.public().to_string()}],
//! #     "policy": base_policy()}));
//! # ledger.submit(genesis.sign(&admin).unwrap(), ExpectedHead::Empty).unwrap();
//! let mut forgery = Forgery::of_store(ledger.store()).unwrap();
//! forgery.edit(0, |ev| ev["payload"]["admins"][0]["principal"] = json!("mallory"));
//! let out = tempfile::tempdir().unwrap();
//! forgery.write_export(&out.path().join("forged.jsonl")).unwrap();
//! let err = ledger::export::verify_export(&out.path().join("forged.jsonl"), Verifier::new()).unwrap_err();
//! assert!(err.to_string().contains("event 0"));
//! ```

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;
use uuid::Uuid;

use crate::digest::Digest;
use crate::error::StoreError;
use crate::event::RecordedEvent;
use crate::export::{self, Manifest, EXPORT_FORMAT};
use crate::store::{ExpectedHead, Store};

/// A ledger's events being edited: each with the id it had before the edits (`None` for an
/// inserted event), so that references to it can follow it.
#[derive(Clone, Debug)]
pub struct Forgery {
    events: Vec<(Option<Digest>, Value)>,
}

impl Forgery {
    /// The events of a store.
    pub fn of_store(store: &Store) -> Result<Forgery, StoreError> {
        let mut events = Vec::new();
        for ev in store.iter() {
            let ev = ev?;
            let v = serde_json::from_slice(&ev.bytes).map_err(|e| StoreError::Encoding(e.to_string()))?;
            events.push((Some(ev.hash), v));
        }
        Ok(Forgery { events })
    }

    /// The events of an export's events file (JSON Lines).
    pub fn of_export(path: &Path) -> Result<Forgery, String> {
        let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let events = data
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| Ok((Some(Digest::of(l)), serde_json::from_slice(l).map_err(|e| e.to_string())?)))
            .collect::<Result<_, String>>()?;
        Ok(Forgery { events })
    }

    /// How many events there are.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The event at position `k`.
    pub fn event(&self, k: usize) -> &Value {
        &self.events[k].1
    }

    /// Edits the event at position `k` in place.
    pub fn edit(&mut self, k: usize, f: impl FnOnce(&mut Value)) -> &mut Forgery {
        f(&mut self.events[k].1);
        self
    }

    /// Inserts an event at position `k` (its `seq` and `prev` are set when re-chained).
    pub fn insert(&mut self, k: usize, event: Value) -> &mut Forgery {
        self.events.insert(k, (None, event));
        self
    }

    /// Removes the event at position `k`.
    pub fn remove(&mut self, k: usize) -> Value {
        self.events.remove(k).1
    }

    /// Keeps the first `n` events.
    pub fn truncate(&mut self, n: usize) -> &mut Forgery {
        self.events.truncate(n);
        self
    }

    /// The events re-chained: each event's `seq` is its position, its `prev` the id of the one
    /// before, every `cause.event` naming an event whose id changed names its new id; then
    /// their ids and canonical bytes (of whatever the events hold, valid events or not).
    pub fn rechain(&self) -> Result<Vec<(Digest, Vec<u8>)>, String> {
        let mut renamed: HashMap<Digest, Digest> = HashMap::new();
        let mut out: Vec<(Digest, Vec<u8>)> = Vec::with_capacity(self.events.len());
        for (k, (old, ev)) in self.events.iter().enumerate() {
            let mut ev = ev.clone();
            ev["seq"] = Value::from(k as u64);
            ev["prev"] = out.last().map_or(Value::Null, |p| Value::String(p.0.to_string()));
            if let Some(cause) = ev["cause"].get("event").and_then(Value::as_str) {
                let h: Digest = cause.parse().map_err(|e| format!("event {k}: cause: {e}"))?;
                if let Some(new) = renamed.get(&h) {
                    ev["cause"]["event"] = Value::String(new.to_string());
                }
            }
            let bytes = crate::canonical::to_vec(&ev).map_err(|e| format!("event {k}: {e}"))?;
            let hash = Digest::of(&bytes);
            if let Some(old) = old {
                renamed.insert(*old, hash);
            }
            out.push((hash, bytes));
        }
        Ok(out)
    }

    /// Writes the re-chained events as an export at `path`, with a manifest that matches.
    pub fn write_export(&self, path: &Path) -> Result<Manifest, String> {
        let events = self.rechain()?;
        let mut data = Vec::new();
        for (_, bytes) in &events {
            data.extend_from_slice(bytes);
            data.push(b'\n');
        }
        let (head, _) = events.last().ok_or("no events")?;
        // A genesis whose ledger id was made unreadable gets a nil one: the manifest can only
        // hold a UUID (verification fails at event 0 anyway).
        let ledger_id = self.events[0].1["payload"]["ledger_id"]
            .as_str()
            .and_then(|s| s.parse::<Uuid>().ok())
            .unwrap_or_default();
        let manifest = Manifest {
            format: EXPORT_FORMAT,
            ledger_id,
            count: events.len() as u64,
            head: *head,
            events_blake3: Digest::of(&data),
            checkpoint: None,
        };
        std::fs::write(path, &data).map_err(|e| e.to_string())?;
        let m = crate::canonical::to_vec(&manifest).map_err(|e| e.to_string())?;
        std::fs::write(export::manifest_path(path), m).map_err(|e| e.to_string())?;
        Ok(manifest)
    }

    /// Replaces the store in `dir` (which must not be open; created if missing) by one holding the re-chained
    /// events, with stored hashes, indexes, command records, head anchor and journal all
    /// consistent with them: what an operator who rebuilds the store would leave. The events
    /// must be valid events (a store cannot hold anything else).
    pub fn write_store(&self, dir: &Path) -> Result<(), String> {
        let events = self
            .rechain()?
            .into_iter()
            .enumerate()
            .map(|(k, (_, bytes))| RecordedEvent::decode(bytes).map_err(|e| format!("event {k}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let records = crate::store::command_records(&events)?;
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let store = Store::open(dir).map_err(|e| e.to_string())?;
        store.commit(ExpectedHead::Empty, &events, &records).map_err(|e| e.to_string())
    }
}
