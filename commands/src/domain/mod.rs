//! The domain: Pledge's decide step, its policy and the rules that judge evidence. Pure: no
//! clap, axum, I/O or printing; it reads the folded [`State`] and a typed command and returns
//! events or a refusal naming its rule.
//!
//! - [`command`]: the command vocabulary ([`DomainCommand`], one body type per kind);
//! - [`policy`]: the typed policy document and its rules as methods;
//! - `decide` (with `runs`, `experiments`, `promotions`): what each command decides;
//! - [`judge`]: the rules read models ask (release gates, health trends);
//! - [`counterfactual`]: re-judging recorded decisions under another policy;
//! - [`metrics`], [`window`]: what metric values and window bounds may be.

pub mod command;
pub mod counterfactual;
mod decide;
mod experiments;
pub mod judge;
pub mod metrics;
pub mod policy;
mod promotions;
mod runs;
pub mod window;

use std::sync::Arc;

use ledger::{Context, EventDraft, RecordedEvent, Refusal, Rejection, SignedCommand};
use projections::snapshot::SnapshotIndex;
use projections::State;
use serde_json::Value;

pub use command::{CommandKind, DomainCommand};
pub use policy::{default_policy, Policy};

/// The Pledge domain plugged into the ledger's append path: the read models and the policy in
/// force, parsed once per policy version.
#[derive(Debug, Default, Clone)]
pub struct PledgeDomain {
    /// Every read model, as of the last applied event.
    pub state: State,
    /// The policy in force (`None` before genesis).
    pub policy: Option<Arc<Policy>>,
}

impl PledgeDomain {
    /// The policy in force, or a refusal when the ledger has none yet.
    pub fn policy(&self) -> Result<&Policy, Refusal> {
        self.policy
            .as_deref()
            .ok_or_else(|| Rejection::new("policy.none", "the ledger has no policy yet (no genesis)").into())
    }
}

impl ledger::Domain for PledgeDomain {
    fn decide(&self, ctx: &Context<'_>, cmd: &SignedCommand) -> Result<Vec<EventDraft>, Refusal> {
        let c = cmd.command();
        let kind = CommandKind::parse(&c.kind).ok_or_else(|| {
            Refusal::from(Rejection::new(
                "command.unknown_kind",
                format!("no handler for command kind `{}`", c.kind),
            ))
        })?;
        let command = DomainCommand::decode(kind, &c.body).map_err(Refusal::Invalid)?;
        decide::decide(&self.state, self.policy()?, ctx, &command)
    }

    fn apply(&mut self, event: &RecordedEvent) -> Result<(), String> {
        let applied = self.state.apply(event).map_err(|e| e.to_string());
        // A part restored on demand that failed to read makes the fold's answer meaningless.
        if let Some(reason) = self.state.damage() {
            return Err(reason.to_string());
        }
        applied?;
        if matches!(event.event.kind.as_str(), "ledger.created" | "policy.changed") {
            let policy = Policy::parse(&self.state.policy)
                .map_err(|e| format!("the policy it puts in force is not valid: {e}"))?;
            self.policy = Some(Arc::new(policy));
        }
        Ok(())
    }

    fn check_policy(&self, policy: &Value) -> Result<(), Refusal> {
        Policy::parse(policy)
            .map(drop)
            .map_err(|e| Rejection::new("policy.invalid", format!("the policy is not valid: {e}")).into())
    }

    /// The read models ([`State::to_snapshot`]); the policy is parsed again from the state's
    /// copy of it on restore.
    fn snapshot(&self) -> Option<Vec<u8>> {
        Some(self.state.to_snapshot())
    }

    /// The timelines of every model and what serves each ([`SnapshotIndex`]), which `pledge
    /// timeline` reads with a few events and `pledge champion` alone, instead of the read
    /// models. Empty, logged, when an event the timelines read cannot be read (the snapshot is
    /// then written without an index).
    fn snapshot_index(&self, events: &dyn ledger::EventSource) -> Vec<u8> {
        match SnapshotIndex::of(events, &self.state) {
            Ok(index) => index.encode(),
            Err(e) => {
                tracing::warn!(error = %e, "a snapshot without an index: an event the timelines read cannot be read");
                vec![]
            }
        }
    }

    /// Only the layout [`SnapshotIndex::encode`] writes.
    fn reads_index(&self, index: &[u8]) -> bool {
        SnapshotIndex::is_current(index)
    }

    fn restore(&self, section: ledger::snapshot::DomainSection<'_>, seq: u64) -> Option<Self> {
        State::from_section(section)
            .and_then(|state| PledgeDomain::from_state(state, seq))
            .map_err(|e| tracing::warn!(reason = %e, "snapshot not restored"))
            .ok()
    }

    /// The experiments and runs are read block by block as commands and events read them
    /// ([`State::from_section_on_demand`]).
    fn restore_on_demand(&self, section: ledger::snapshot::SharedSection, seq: u64) -> Option<Self> {
        State::from_section_on_demand(section)
            .and_then(|state| PledgeDomain::from_state(state, seq))
            .map_err(|e| tracing::warn!(reason = %e, "snapshot not restored"))
            .ok()
    }

    fn damage(&self) -> Option<String> {
        self.state.damage().map(String::from)
    }
}

impl PledgeDomain {
    /// The domain holding a state restored from a snapshot of event `seq`, its policy parsed
    /// again from the state's copy of it; refused when the state is of another event or that
    /// copy does not parse.
    pub fn from_state(state: State, seq: u64) -> Result<PledgeDomain, String> {
        if state.last_seq != Some(seq) {
            return Err(format!("its state is not of event {seq}"));
        }
        let policy = match state.policy_version {
            0 => None,
            _ => Some(Arc::new(
                Policy::parse(&state.policy).map_err(|e| format!("its policy does not parse: {e}"))?,
            )),
        };
        Ok(PledgeDomain { state, policy })
    }
}
