//! # projections: the domain's event vocabulary and read models
//!
//! - [`events`]: one payload type per domain event kind (the decide step in `commands` builds
//!   them; JSON Schemas in `schemas/events/` are generated from them);
//! - [`State`]: every read model (models with versions, champions and routing; experiments;
//!   runs; proposals; the alert inbox; datasets; the policy in force) as one fold over
//!   events, with no I/O and no rules inside, and a [`State::digest`] to compare replays.

mod details;
pub mod events;
pub mod keyed;
pub mod metrics;
pub mod query;
pub mod replay;
pub mod snapshot;
pub mod state;
pub mod vocabulary;

pub use keyed::Keyed;
pub use snapshot::{Parts, SNAPSHOT_TAG};
pub use state::{
    seg_key, Alert, AlertStatus, Experiment, ExperimentStatus, ModelState, Proposal, State, VersionInfo,
};
