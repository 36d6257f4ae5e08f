//! # ledger: Pledge's event format, signed commands, sled store and verification
//!
//! Every change to a Pledge ledger is a **signed command** (a DSSE envelope holding the exact
//! command bytes, signed with ed25519) that the append path turns into **events**. Each event is
//! canonical JSON (RFC 8785), identified by the blake3 hash of those bytes and linked to the
//! previous event's hash. `docs/FORMAT.md` specifies the bytes; this crate produces and checks
//! them.
//!
//! Main types:
//! - [`Event`], [`RecordedEvent`]: the envelope and its canonical bytes and hash;
//! - [`Command`], [`SignedCommand`], [`dsse::Envelope`]: what clients sign;
//! - [`Store`]: the sled store (atomic, durable appends; lookups by seq, hash, subject, command);
//! - [`Ledger`]: the append path (idempotency, authentication, authorization, decide, commit),
//!   generic over a [`Domain`] that decides the commands this crate does not know;
//! - [`TrustState`]: keys, roles and policy folded from the trust events;
//! - [`Verifier`], [`verify_store`], [`export`]: verification (which re-runs every command's
//!   decide step and requires the recorded events byte for byte) and export/import.
//!
//! ```
//! use std::sync::Arc;
//! use ledger::{keys::SecretKey, canonical::{StepClock, Timestamp}, Command, ExpectedHead,
//!              Ledger, NoDomain, trust::base_policy};
//! use serde_json::json;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let t0 = Timestamp::parse_exact("2026-01-01T00:00:00.000000Z").unwrap();
//! let mut ledger = Ledger::open(dir.path().join("l"), Arc::new(StepClock::new(t0, 1_000)), NoDomain).unwrap();
//! let admin = SecretKey::from_seed([1; 32]);
//! let ledger_id = uuid::Uuid::now_v7();
//! let genesis = Command::new(ledger_id, t0, "ledger.create", json!({
//!     "admins": [{"principal": "root", "public_key": admin.public().to_string()}],
//!     "policy": base_policy(),
//! }));
//! let receipt = ledger.submit(genesis.sign(&admin).unwrap(), ExpectedHead::Empty).unwrap();
//! assert_eq!(receipt.events[0].event.kind, "ledger.created");
//! let summary = ledger::verify_store(ledger.store(), ledger::Verifier::new()).unwrap();
//! assert_eq!(summary.events, 1);
//! ```

pub mod bench;
pub mod canonical;
pub mod checkpoints;
pub mod command;
pub mod digest;
pub mod dsse;
pub mod error;
pub mod event;
mod event_files;
pub mod event_index;
pub mod export;
pub mod forge;
pub mod keys;
pub mod ledger;
pub mod merkle;
pub mod note;
pub mod par;
pub mod pieces;
pub mod snapshot;
pub mod store;
pub mod trust;
pub mod verify;
mod wal;

pub use crate::command::{Command, SignedCommand};
pub use crate::digest::Digest;
pub use crate::error::{Mismatch, Refusal, Rejection, StoreError, SubmitError, VerifyFailure};
pub use crate::event::{Cause, DraftCause, Event, EventDraft, RecordedEvent, Subject};
pub use crate::ledger::{trust_at_head, Context, Domain, Ledger, NoDomain, Receipt};
pub use crate::store::{ChainCursor, CommandRecord, EventSource, ExpectedHead, Head, Store};
pub use crate::trust::{Actor, Role, TrustState};
pub use crate::verify::{
    verify_entries, verify_store, verify_store_with_domain, Entry, Verifier, VerifySummary,
};
