//! The append path: parse, deduplicate, authenticate, authorize, decide, seal, commit.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use uuid::Uuid;

use crate::canonical::{Clock, Timestamp};
use crate::command::SignedCommand;
use crate::digest::Digest;
use crate::dsse::Envelope;
use crate::error::{Refusal, Rejection, StoreError, SubmitError};
use crate::event::{EventDraft, RecordedEvent};
use crate::store::{ChainCursor, CommandRecord, ExpectedHead, Head, Store};
use crate::trust::{kinds, Actor, TrustState};

/// What a decide step sees besides the command. Verification rebuilds the same context from
/// the recorded events (the signer, the trust state before the command, the run's
/// `recorded_at`, the event before it), so that it can re-run the decide step.
#[derive(Debug)]
pub struct Context<'a> {
    /// The authenticated signer.
    pub actor: &'a Actor,
    /// Keys, roles and the policy in force.
    pub trust: &'a TrustState,
    /// The time the events will be recorded at, exactly.
    pub now: Timestamp,
    /// The head before this command's events.
    pub head: Option<Head>,
}

/// The domain plugged into the append path: decides the commands the ledger does not know and
/// folds every event into its state.
///
/// `decide` must be a pure function of the state, the context and the command: no I/O, no
/// clock but `ctx.now`, no randomness, no dependence on hash-map iteration order, no panics.
/// Verification re-runs it on every recorded command and requires the same bytes, so anything
/// else makes honest ledgers fail to verify. The state is cloned when verification or the
/// append path needs a copy (e.g. to start again after a failed commit).
pub trait Domain: Clone {
    /// Turns a command into events, or refuses it.
    fn decide(&self, ctx: &Context<'_>, cmd: &SignedCommand) -> Result<Vec<EventDraft>, Refusal>;
    /// Folds one event (of any kind, trust events included) into the state. No rules, no I/O.
    /// Fails when the event cannot be folded (a payload that does not decode, a reference to
    /// something the state does not hold): only a damaged or forged ledger has such an event,
    /// and the ledger refuses it as it refuses any other damage.
    fn apply(&mut self, event: &RecordedEvent) -> Result<(), String>;
    /// Checks a policy document before `ledger.create` or `policy.set` records it: the
    /// domain's own sections (the ledger has checked its sections). Refusing names the rule;
    /// nothing is written. The default accepts every document.
    fn check_policy(&self, policy: &Value) -> Result<(), Refusal> {
        let _ = policy;
        Ok(())
    }
}

/// A domain that knows no commands: the ledger accepts only trust commands.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoDomain;

impl Domain for NoDomain {
    fn decide(&self, _: &Context<'_>, cmd: &SignedCommand) -> Result<Vec<EventDraft>, Refusal> {
        Err(Rejection::new(
            "command.unknown_kind",
            format!("no handler for command kind `{}`", cmd.command().kind),
        )
        .into())
    }
    fn apply(&mut self, _: &RecordedEvent) -> Result<(), String> {
        Ok(())
    }
}

/// The outcome of an accepted command.
#[derive(Clone, Debug, PartialEq)]
pub struct Receipt {
    /// The events the command produced (the original ones for a duplicate).
    pub events: Vec<RecordedEvent>,
    /// True when the command had already been appended and nothing new was written.
    pub duplicate: bool,
}

/// A ledger open for reading and appending: the store plus the folded trust and domain state.
pub struct Ledger<D: Domain = NoDomain> {
    store: Arc<Store>,
    trust: TrustState,
    domain: D,
    /// The domain as handed to [`Ledger::open`], before any event: what [`Ledger::reload`]
    /// folds the store into again.
    pristine: D,
    clock: Arc<dyn Clock>,
}

impl<D: Domain> std::fmt::Debug for Ledger<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").field("store", &self.store).finish_non_exhaustive()
    }
}

enum Decided {
    New { events: Vec<RecordedEvent>, id: Uuid, record: CommandRecord },
    Duplicate(Vec<RecordedEvent>),
}

impl<D: Domain> Ledger<D> {
    /// Opens (or creates) the ledger in `dir`, folding every stored event into `domain`.
    ///
    /// While folding, every stored event's bytes are checked against the hash stored beside
    /// them and its `prev` against the event before it, and the events must reach the head
    /// the last commit recorded. A store that fails any of these (or whose commit journal is
    /// damaged) is refused with [`StoreError::Corrupt`] naming the event: it is never served
    /// or extended. Open it with [`Store::open`] to verify or export it.
    pub fn open(dir: impl AsRef<Path>, clock: Arc<dyn Clock>, domain: D) -> Result<Self, StoreError> {
        let store = Store::open(dir)?;
        let pristine = domain.clone();
        let (trust, domain) = fold(&store, domain)?;
        Ok(Ledger { store: Arc::new(store), trust, domain, pristine, clock })
    }

    /// Folds the store into the state again, from genesis. The append path does this itself
    /// when a commit fails; a caller that caught a panic out of [`Ledger::submit`] (a bug in a
    /// decide step) calls it before appending again.
    pub fn reload(&mut self) -> Result<(), StoreError> {
        let (trust, domain) = fold(&self.store, self.pristine.clone())?;
        self.trust = trust;
        self.domain = domain;
        Ok(())
    }

    /// Reopens the store's files if an earlier commit left it needing that (a full disk made
    /// sled fail after the journal had made the commit durable; see [`Store::recover`]), and
    /// folds the state again if the head moved. The append path does this itself before every
    /// commit; a server calls it after a failed commit, so that reads see the store again.
    /// Fails with [`StoreError::NoSpace`] while the disk is still full.
    pub fn recover(&mut self) -> Result<(), StoreError> {
        if self.store.recover()? {
            self.reload()?;
        }
        Ok(())
    }

    /// The store, for reads.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A handle on the store that outlives this borrow, for readers on other threads (sled
    /// serves concurrent reads while this ledger appends). The store closes when the last
    /// handle is dropped.
    pub fn shared_store(&self) -> Arc<Store> {
        Arc::clone(&self.store)
    }

    /// Keys, roles and policy at the head.
    pub fn trust(&self) -> &TrustState {
        &self.trust
    }

    /// The domain state at the head.
    pub fn domain(&self) -> &D {
        &self.domain
    }

    /// The clock events are stamped with.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Submits one signed command. On success its events are durable. On any error nothing
    /// was written, except [`StoreError::InDoubt`], whose outcome resending tells.
    pub fn submit(&mut self, envelope: Envelope, expected: ExpectedHead) -> Result<Receipt, SubmitError> {
        let mut results = self.submit_batch_expecting(vec![SignedCommand::parse(envelope)], expected)?;
        results.pop().expect("one result per command")
    }

    /// Submits many commands with one durable commit (group commit). Each command is decided
    /// against the state left by the ones before it; refused ones are reported and skipped.
    /// A storage error fails the whole batch and nothing is written.
    pub fn submit_batch(
        &mut self,
        envelopes: Vec<Envelope>,
    ) -> Result<Vec<Result<Receipt, SubmitError>>, StoreError> {
        self.submit_batch_expecting(
            envelopes.into_iter().map(SignedCommand::parse).collect(),
            ExpectedHead::Any,
        )
    }

    /// [`Ledger::submit_batch`] for commands already parsed, some perhaps with their signature
    /// checked already ([`SignedCommand::check_signature`], e.g. by a server's request
    /// handlers in parallel): those are not verified again. Every other check is made here,
    /// against the state at the moment each command is decided.
    pub fn submit_commands(
        &mut self,
        commands: Vec<SignedCommand>,
    ) -> Result<Vec<Result<Receipt, SubmitError>>, StoreError> {
        self.submit_batch_expecting(commands.into_iter().map(Ok).collect(), ExpectedHead::Any)
    }

    fn submit_batch_expecting(
        &mut self,
        envelopes: Vec<Result<SignedCommand, String>>,
        expected: ExpectedHead,
    ) -> Result<Vec<Result<Receipt, SubmitError>>, StoreError> {
        self.recover()?;
        self.store.check_writable()?;
        self.store.check_head(expected)?;
        let base = self.store.head();
        let mut cursor = ChainCursor::after(base.as_ref());
        // Every run of this commit is recorded at this time, and the decide step sees exactly
        // it: verification re-runs the decide step at the recorded time.
        let now = cursor.time_after(self.clock.now());
        let mut staged = self.trust.clone();
        let mut in_batch: HashMap<Uuid, (Digest, Vec<RecordedEvent>)> = HashMap::new();
        let mut all_events = Vec::new();
        let mut records = Vec::new();
        let mut results = Vec::with_capacity(envelopes.len());
        let mut folded = false;
        for env in envelopes {
            let outcome = self.decide_one(&staged, env, &mut cursor, now, &in_batch);
            results.push(match outcome {
                Ok(Decided::New { events, id, record }) => {
                    folded = true;
                    for ev in &events {
                        if let Err(reason) = staged.apply(ev).and_then(|()| self.domain.apply(ev)) {
                            self.reload()?;
                            return Err(StoreError::Corrupt { seq: ev.seq(), reason });
                        }
                    }
                    in_batch.insert(id, (record.digest, events.clone()));
                    records.push((id, record));
                    all_events.extend(events.iter().cloned());
                    Ok(Receipt { events, duplicate: false })
                }
                Ok(Decided::Duplicate(events)) => Ok(Receipt { events, duplicate: true }),
                Err(e) => Err(e),
            });
        }
        let expect = match base {
            Some(h) => ExpectedHead::At(h.hash),
            None => ExpectedHead::Empty,
        };
        if let Err(e) = self.store.commit(expect, &all_events, &records) {
            // The domain state already folded the staged events, which are not in the store:
            // fold the store again so that the state never runs ahead of it. (A commit whose
            // outcome is in doubt is settled by the next `recover`, which folds again if the
            // journal held it.)
            if folded {
                if let Err(again) = self.reload() {
                    tracing::error!(error = %again, "cannot fold the store again after a failed commit");
                }
            }
            return Err(e);
        }
        self.trust = staged;
        Ok(results)
    }

    fn decide_one(
        &self,
        trust: &TrustState,
        parsed: Result<SignedCommand, String>,
        cursor: &mut ChainCursor,
        now: Timestamp,
        in_batch: &HashMap<Uuid, (Digest, Vec<RecordedEvent>)>,
    ) -> Result<Decided, SubmitError> {
        let cmd = parsed.map_err(SubmitError::Invalid)?;
        let id = cmd.command().id;
        let earlier = match in_batch.get(&id) {
            Some((digest, events)) => Some((*digest, events.clone())),
            None => match self.store.command(&id)? {
                Some(rec) => Some((rec.digest, self.store.command_events(&rec)?)),
                None => None,
            },
        };
        if let Some((digest, events)) = earlier {
            if digest != cmd.digest() {
                return Err(Rejection::new(
                    "command.id_reused",
                    format!(
                        "command id `{id}` was already used for a different command (event {})",
                        events[0].seq()
                    ),
                )
                .into());
            }
            // Same bytes: a retry. The signature must still be genuine (the key may since have
            // been revoked; it was valid when the command was first appended).
            let genuine = trust.key(&cmd.key_id()).is_some_and(|k| cmd.signature_valid(&k.public_key));
            if !genuine {
                return Err(Rejection::new(
                    "signature.invalid",
                    "the signature on this resent command does not verify",
                )
                .into());
            }
            return Ok(Decided::Duplicate(events));
        }
        let actor = if cmd.command().kind == kinds::LEDGER_CREATE {
            trust.authenticate_genesis(&cmd)?
        } else {
            let actor = trust.authenticate(&cmd)?;
            trust.authorize(&actor, &cmd.command().kind)?;
            actor
        };
        trust.check_fresh(&cmd, now)?;
        let drafts = match trust.decide(&cmd) {
            Some(r) => {
                let drafts = r?;
                if let Some(policy) = kinds::policy_of(&cmd) {
                    self.domain.check_policy(policy)?;
                }
                drafts
            }
            None => {
                let ctx = Context { actor: &actor, trust, now, head: cursor.head() };
                self.domain.decide(&ctx, &cmd)?
            }
        };
        if drafts.is_empty() {
            return Err(Rejection::new(
                "command.no_effect",
                format!("`{}` changes nothing", cmd.command().kind),
            )
            .into());
        }
        let mut attempt = cursor.clone();
        let events = attempt.seal(drafts, cmd.envelope(), now).map_err(|e| match e {
            StoreError::Encoding(m) => SubmitError::Invalid(m),
            other => SubmitError::Store(other),
        })?;
        *cursor = attempt;
        let record = CommandRecord {
            digest: cmd.digest(),
            first_seq: events[0].seq(),
            count: u32::try_from(events.len()).map_err(|_| SubmitError::Invalid("too many events".into()))?,
        };
        Ok(Decided::New { events, id, record })
    }
}

/// Folds every stored event into the trust state and `domain`, checking on the way what can be
/// checked without signatures: each event's bytes against the hash stored beside them, its
/// position, its link to the event before, and that the events reach the committed head.
fn fold<D: Domain>(store: &Store, mut domain: D) -> Result<(TrustState, D), StoreError> {
    if let Some(reason) = store.damage() {
        return Err(StoreError::Corrupt { seq: store.len().saturating_sub(1), reason: reason.to_string() });
    }
    let mut trust = TrustState::default();
    let mut prev: Option<Digest> = None;
    let mut next = 0u64;
    for item in store.raw() {
        let (seq, stored, bytes) = item?;
        let damaged = |reason: String| StoreError::Corrupt { seq, reason };
        if seq != next {
            return Err(damaged(format!("event {next} is missing (the next stored event is {seq})")));
        }
        let ev = RecordedEvent::decode_unchecked(bytes).map_err(damaged)?;
        if ev.event.format != crate::event::FORMAT_VERSION {
            return Err(StoreError::Format {
                found: ev.event.format,
                supported: crate::event::FORMAT_VERSION,
            });
        }
        if ev.hash != stored {
            return Err(damaged(format!(
                "its bytes hash to {}, but {stored} was recorded for it: the event was altered",
                ev.hash
            )));
        }
        if ev.event.seq != seq || ev.event.prev != prev {
            return Err(damaged(format!(
                "it does not follow event {} (its `seq` or `prev` was altered)",
                seq.wrapping_sub(1)
            )));
        }
        trust.apply(&ev).map_err(damaged)?;
        domain.apply(&ev).map_err(damaged)?;
        prev = Some(ev.hash);
        next += 1;
    }
    if let Some((seq, hash)) = store.anchor()? {
        if next != seq + 1 || prev != Some(hash) {
            return Err(StoreError::Corrupt {
                seq: next.min(seq),
                reason: format!(
                    "the last commit ended at event {seq} ({hash}), but the stored events end at {}: events were lost or rewritten",
                    prev.map_or("nothing".into(), |p| format!("event {} ({p})", next - 1))
                ),
            });
        }
    }
    Ok((trust, domain))
}
