//! The append path: parse, deduplicate, authenticate, authorize, decide, seal, commit.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use uuid::Uuid;

use crate::canonical::{Clock, Timestamp};
use crate::command::SignedCommand;
use crate::digest::Digest;
use crate::dsse::Envelope;
use crate::error::{Refusal, Rejection, StoreError, SubmitError};
use crate::event::{EventDraft, RecordedEvent};
use crate::snapshot::{self, Snapshot, SnapshotFile};
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
    /// The state as a snapshot section (`docs/FORMAT.md`, section 19), or `None` for a domain
    /// that keeps no snapshots (the default: the ledger then always folds from genesis). The
    /// same state must always give the same bytes (verification compares them), and the bytes
    /// should name their own format so that an older one is refused by [`Domain::restore`].
    fn snapshot(&self) -> Option<Vec<u8>> {
        None
    }
    /// What a snapshot of this state holds besides it for questions answered from the snapshot
    /// and the events alone, without the state (`docs/FORMAT.md`, section 19: the index
    /// section): derived from the state and the `events` up to the state's last, so that the
    /// same state over the same events always gives the same bytes (verification compares
    /// them). Empty for none (the default). It runs on the thread that takes the snapshot,
    /// with the store at hand, so it should read few events.
    fn snapshot_index(&self, events: &dyn crate::store::EventSource) -> Vec<u8> {
        let _ = events;
        vec![]
    }
    /// Whether this domain reads an index of these bytes' layout (the one
    /// [`Domain::snapshot_index`] writes). An index of another layout, written by an earlier
    /// build, is neither read nor verified, as a domain section of another layout is not.
    fn reads_index(&self, index: &[u8]) -> bool {
        !index.is_empty()
    }
    /// The state from a section [`Domain::snapshot`] wrote after event `seq` (`self` is the
    /// pristine domain the ledger was opened with), read from `section` (the snapshot file
    /// itself when a ledger opens, so that its bytes are not held beside the state; several
    /// readers may read it at once, to decode parts of it on several threads). `None` for
    /// bytes of another format, damaged ones, or a state that is not of event `seq`: the
    /// ledger then tries an older snapshot, then folds from genesis.
    fn restore(&self, section: crate::snapshot::DomainSection<'_>, seq: u64) -> Option<Self> {
        let _ = (section, seq);
        None
    }
    /// [`Domain::restore`] for a ledger opened with [`Ledger::open_to_write`]: the state may
    /// leave parts of itself in `section` and read each only when a command or an event first
    /// reads it. What it reads then is checked as it is read; anything found wrong is held as
    /// [`Domain::damage`], which the ledger asks for before it commits. The default restores
    /// the whole state.
    fn restore_on_demand(&self, section: crate::snapshot::SharedSection, seq: u64) -> Option<Self> {
        self.restore(section.section(), seq)
    }
    /// Why a part of the state read on demand ([`Domain::restore_on_demand`]) could not be
    /// read, if one could not: the state is then not the one the events make, so nothing
    /// decided or folded on it may be kept. `None` for a state restored or folded whole (the
    /// default).
    fn damage(&self) -> Option<String> {
        None
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
    /// Set by [`Ledger::open_with_snapshots`]: the sequence number of the newest snapshot
    /// loaded or written (`None`: none yet), and snapshots are written on open and close.
    snapshots: Option<Option<u64>>,
    /// Set by [`Ledger::open_to_write`] while the domain was restored on demand
    /// ([`Domain::restore_on_demand`]); cleared by [`Ledger::reload`], which restores whole.
    on_demand: bool,
}

impl<D: Domain> Drop for Ledger<D> {
    /// Closing writes a snapshot when [`snapshot::EVERY`] events were folded beyond the newest
    /// (only for a ledger opened with [`Ledger::open_with_snapshots`]).
    fn drop(&mut self) {
        self.snapshot_if_due(snapshot::EVERY);
    }
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

/// A command's place in a batch's answers before the commit: a new command's run of the
/// batch's events (how many), or a receipt already complete (a duplicate).
enum Slot {
    New(usize),
    Done(Receipt),
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
        let (trust, domain) = fold(&store, TrustState::default(), domain, None)?;
        Ok(Ledger {
            store: Arc::new(store),
            trust,
            domain,
            pristine,
            clock,
            snapshots: None,
            on_demand: false,
        })
    }

    /// [`Ledger::open`] from the newest usable snapshot in `dir/snapshots/`: only the events
    /// after it are folded (and checked as [`Ledger::open`] checks them), so opening costs the
    /// events since the last snapshot, not the whole history. A snapshot that is missing,
    /// damaged, of another format, or not bound to an event this store holds is skipped (an
    /// older one is tried, then genesis); one whose state cannot fold the events after it is
    /// dropped for a fold from genesis. When [`snapshot::EVERY`] events or more were folded
    /// beyond the newest snapshot, a new one is written now and again when the ledger is
    /// dropped (not for a read-only or damaged store; a failed write is logged and changes
    /// nothing else). `pledge verify` checks every snapshot against the events.
    pub fn open_with_snapshots(
        dir: impl AsRef<Path>,
        clock: Arc<dyn Clock>,
        domain: D,
    ) -> Result<Self, StoreError>
    where
        D: Send + Sync,
    {
        Ledger::open_resumed(dir.as_ref(), clock, domain, Opening::Whole)
    }

    /// [`Ledger::open_with_snapshots`] for a process that submits a few commands and then
    /// ends (the CLI): the domain is restored with [`Domain::restore_on_demand`], so that the
    /// parts of its state no command or event reads stay in the snapshot file. Before each
    /// commit the ledger asks the domain for [`Domain::damage`]: when a part read on demand
    /// was found wrong, nothing is committed, the state is restored again whole (which skips
    /// that snapshot as [`Ledger::open_with_snapshots`] would have), and the commands are
    /// decided again on it. A server keeps its state for many commands and reads, and opens
    /// with [`Ledger::open_with_snapshots`].
    pub fn open_to_write(dir: impl AsRef<Path>, clock: Arc<dyn Clock>, domain: D) -> Result<Self, StoreError>
    where
        D: Send + Sync,
    {
        Ledger::open_resumed(dir.as_ref(), clock, domain, Opening::ToWrite)
    }

    /// [`Ledger::open_to_write`] for a process that answers one question about the head and
    /// ends (the CLI, when no snapshot is of the head): the same restore on demand, so that
    /// the question and the events after the snapshot read only the parts of the state they
    /// touch, without reading the store's command lookups ahead (a question looks up no
    /// command). Whoever answers from it asks [`Domain::damage`] afterwards, and opens the
    /// ledger whole when a part could not be read; a commit on it is guarded as on
    /// [`Ledger::open_to_write`].
    pub fn open_to_read(dir: impl AsRef<Path>, clock: Arc<dyn Clock>, domain: D) -> Result<Self, StoreError>
    where
        D: Send + Sync,
    {
        Ledger::open_resumed(dir.as_ref(), clock, domain, Opening::ToRead)
    }

    fn open_resumed(
        dir: &Path,
        clock: Arc<dyn Clock>,
        domain: D,
        opening: Opening,
    ) -> Result<Self, StoreError>
    where
        D: Send + Sync,
    {
        let on_demand = opening != Opening::Whole;
        let pristine = domain;
        let restore = if on_demand { restore_domain_on_demand::<D> } else { restore_domain::<D> };
        // The newest snapshot is restored while sled opens (both take a while on a large
        // ledger), then used only if it is still the newest and the store holds its event.
        let (store, early) = std::thread::scope(|scope| {
            let early = scope.spawn(|| restore_early(dir, &pristine, restore));
            let store = Store::open(dir);
            if let (Ok(store), Opening::ToWrite) = (&store, opening) {
                // A write looks its command's id up: the runs it reads for that are read now,
                // while the state is still being restored.
                store.prepare_command_lookups();
            }
            (store, early.join().ok().flatten())
        });
        let store = store?;
        let (trust, domain, from) = fold_resumed(&store, &pristine, restore, early)?;
        let mut l = Ledger {
            store: Arc::new(store),
            trust,
            domain,
            pristine,
            clock,
            snapshots: Some(from),
            on_demand,
        };
        l.snapshot_if_due(snapshot::EVERY);
        Ok(l)
    }

    /// Folds the store into the state again (from genesis, or from the newest usable snapshot
    /// when the ledger was opened with [`Ledger::open_with_snapshots`]). The append path does
    /// this itself when a commit fails; a caller that caught a panic out of [`Ledger::submit`]
    /// (a bug in a decide step) calls it before appending again.
    pub fn reload(&mut self) -> Result<(), StoreError> {
        self.on_demand = false;
        let (trust, domain) = match self.snapshots {
            Some(_) => {
                let (trust, domain, from) = fold_resumed(&self.store, &self.pristine, restore_domain, None)?;
                self.snapshots = Some(from);
                (trust, domain)
            }
            None => fold(&self.store, TrustState::default(), self.pristine.clone(), None)?,
        };
        self.trust = trust;
        self.domain = domain;
        Ok(())
    }

    /// The state at the head as a snapshot, or `None` for an empty ledger or a domain that
    /// keeps none. It encodes the whole state (seconds on a ledger of millions of events); a
    /// writer that must not stall uses [`Ledger::snapshot_job`].
    pub fn snapshot(&self) -> Option<Snapshot> {
        let index = self.domain.snapshot_index(&*self.store);
        snapshot_of(self.store.head()?, &self.trust, &self.domain, index)
    }

    /// For a writer that must not stall: when the ledger keeps snapshots and `every` events
    /// or more were folded beyond the newest one, a copy of the head's state and the work
    /// that encodes and writes it, to run on another thread (the ledger counts it as written
    /// from now on; a failed write is logged).
    pub fn snapshot_job(&mut self, every: u64) -> Option<impl FnOnce() + Send + 'static>
    where
        D: Send + 'static,
    {
        self.snapshots?;
        if self.events_since_snapshot() < every.max(1) || self.store.check_writable().is_err() {
            return None;
        }
        let head = self.store.head()?;
        let (trust, domain, dir) = (self.trust.clone(), self.domain.clone(), self.store.dir().to_path_buf());
        // The index reads the store, which stays here; it reads few events.
        let index = domain.snapshot_index(&*self.store);
        self.snapshots = Some(Some(head.seq));
        Some(move || {
            if let Some(snap) = snapshot_of(head, &trust, &domain, index) {
                if let Err(e) = snapshot::write(&dir, &snap) {
                    tracing::warn!(error = %e, "cannot write a snapshot of the ledger's state");
                }
            }
        })
    }

    /// The event of the newest snapshot this ledger loaded or wrote: `None` when it folded
    /// from genesis since, or keeps no snapshots ([`Ledger::open`]).
    pub fn snapshot_seq(&self) -> Option<u64> {
        self.snapshots.flatten()
    }

    /// Events at the head beyond the newest snapshot this ledger loaded or wrote (all of them
    /// when there is none).
    pub fn events_since_snapshot(&self) -> u64 {
        let len = self.store.len();
        match self.snapshots.flatten() {
            Some(seq) => len.saturating_sub(seq + 1),
            None => len,
        }
    }

    /// Writes a snapshot of the head when the ledger keeps snapshots and `every` events or
    /// more were folded beyond the newest one. Never fails: a store that takes no writes
    /// (read-only, damaged) is skipped, and a failed write is logged. Returns the sequence
    /// number written.
    pub fn snapshot_if_due(&mut self, every: u64) -> Option<u64> {
        self.snapshots?;
        if self.events_since_snapshot() < every.max(1) || self.store.check_writable().is_err() {
            return None;
        }
        let snap = self.snapshot()?;
        match snapshot::write(self.store.dir(), &snap) {
            Ok(_) => {
                self.snapshots = Some(Some(snap.seq));
                Some(snap.seq)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot write a snapshot of the ledger's state");
                None
            }
        }
    }

    /// Closes the ledger as dropping it does (a snapshot when [`snapshot::EVERY`] events were
    /// folded beyond the newest, then the store's checkpoint once this was its last handle),
    /// except that the folded state is freed on a thread of its own that nothing waits for.
    /// For a process that ends once its command is done (the CLI): freeing a million events'
    /// state takes about 40 ms, which a write command would otherwise spend before it exits;
    /// at exit the operating system takes back what that thread has not freed yet.
    pub fn close(mut self)
    where
        D: Send + 'static,
    {
        self.snapshot_if_due(snapshot::EVERY);
        // The drop below must write nothing: the domain it sees is the pristine one.
        self.snapshots = None;
        let state = std::mem::replace(&mut self.domain, self.pristine.clone());
        drop(self);
        // When no thread can be started, the state is freed here, as a drop would.
        let _ = std::thread::Builder::new().name("pledge-free".into()).spawn(move || drop(state));
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
        if !self.on_demand {
            return Ok(self
                .submit_batch_once(envelopes, expected)?
                .expect("a state restored whole has no damage"));
        }
        if let Some(results) = self.submit_batch_once(envelopes.clone(), expected)? {
            return Ok(results);
        }
        // A part of the state read on demand was damaged: nothing was committed, and the
        // state was restored whole (`reload`); decide again on it.
        Ok(self.submit_batch_once(envelopes, expected)?.expect("a state restored whole has no damage"))
    }

    /// One attempt at a batch: `None` when the state restored on demand turned out damaged
    /// before the commit, which then commits nothing and restores the state whole.
    fn submit_batch_once(
        &mut self,
        envelopes: Vec<Result<SignedCommand, String>>,
        expected: ExpectedHead,
    ) -> Result<Option<Vec<Result<Receipt, SubmitError>>>, StoreError> {
        self.recover()?;
        self.store.check_writable()?;
        self.store.check_head(expected)?;
        let base = self.store.head();
        let mut cursor = ChainCursor::after(base.as_ref());
        // Every run of this commit is recorded at this time, and the decide step sees exactly
        // it: verification re-runs the decide step at the recorded time.
        let now = cursor.time_after(self.clock.now());
        let mut staged = self.trust.clone();
        // The batch's events are kept once, in `all_events`, for the commit; each new command's
        // receipt is its run of them (`Slot::New`), moved out after the commit.
        let mut in_batch: HashMap<Uuid, (Digest, std::ops::Range<usize>)> = HashMap::new();
        let mut all_events = Vec::new();
        let mut records = Vec::new();
        let mut slots = Vec::with_capacity(envelopes.len());
        let mut folded = false;
        for env in envelopes {
            let outcome = self.decide_one(&staged, env, &mut cursor, now, &in_batch, &all_events);
            slots.push(match outcome {
                Ok(Decided::New { events, id, record }) => {
                    folded = true;
                    for ev in &events {
                        if let Err(reason) = staged.apply(ev).and_then(|()| self.domain.apply(ev)) {
                            let damaged = self.damaged();
                            self.reload()?;
                            if damaged {
                                return Ok(None);
                            }
                            return Err(StoreError::Corrupt { seq: ev.seq(), reason });
                        }
                    }
                    let run = all_events.len()..all_events.len() + events.len();
                    in_batch.insert(id, (record.digest, run.clone()));
                    records.push((id, record));
                    all_events.extend(events);
                    Ok(Slot::New(run.len()))
                }
                Ok(Decided::Duplicate(events)) => Ok(Slot::Done(Receipt { events, duplicate: true })),
                Err(e) => Err(e),
            });
        }
        if self.damaged() {
            self.reload()?;
            return Ok(None);
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
        let mut committed = all_events.into_iter();
        Ok(Some(
            slots
                .into_iter()
                .map(|slot| {
                    slot.map(|slot| match slot {
                        Slot::New(n) => {
                            Receipt { events: committed.by_ref().take(n).collect(), duplicate: false }
                        }
                        Slot::Done(receipt) => receipt,
                    })
                })
                .collect(),
        ))
    }

    /// Whether the state, restored on demand, met a part it could not read (logged).
    fn damaged(&self) -> bool {
        let Some(reason) = self.on_demand.then(|| self.domain.damage()).flatten() else { return false };
        tracing::warn!(%reason, "a part of the snapshot read on demand is damaged; restoring the state whole");
        true
    }

    fn decide_one(
        &self,
        trust: &TrustState,
        parsed: Result<SignedCommand, String>,
        cursor: &mut ChainCursor,
        now: Timestamp,
        in_batch: &HashMap<Uuid, (Digest, std::ops::Range<usize>)>,
        batch_events: &[RecordedEvent],
    ) -> Result<Decided, SubmitError> {
        let cmd = parsed.map_err(SubmitError::Invalid)?;
        let id = cmd.command().id;
        let earlier = match in_batch.get(&id) {
            Some((digest, run)) => Some((*digest, batch_events[run.clone()].to_vec())),
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

/// The state after event `head` as a snapshot (`None` for a domain that keeps none).
/// Nothing when a part of a state restored on demand could not be read while it was encoded
/// (or while `index` was derived from it): such a state is not written.
fn snapshot_of<D: Domain>(head: Head, trust: &TrustState, domain: &D, index: Vec<u8>) -> Option<Snapshot> {
    let section = domain.snapshot()?;
    if let Some(reason) = domain.damage() {
        tracing::warn!(%reason, "no snapshot written: a part of the state read on demand is damaged");
        return None;
    }
    Some(Snapshot {
        seq: head.seq,
        event: head.hash,
        recorded_at: head.recorded_at,
        trust: trust.to_snapshot(),
        domain: section,
        index,
    })
}

/// The trust state at the head of `store`, without folding the domain: the trust section of
/// the newest usable snapshot and the events after it, checked exactly as
/// [`Ledger::open_with_snapshots`] checks them (stored ids, links, the head anchor, the
/// journal), so that a question reading only the store and the keys (`pledge log`) refuses
/// the damage opening would refuse; from genesis when no snapshot is usable.
pub fn trust_at_head(store: &Store) -> Result<TrustState, StoreError> {
    Ok(fold_resumed(store, &NoDomain, |_, _| Some(NoDomain), None)?.0)
}

/// A snapshot restored while the store was being opened, before it could be checked against
/// the store: the newest snapshot file, opened and checked as [`snapshot::usable`] opens one,
/// and what its sections restore to (or why they do not). [`fold_resumed`] uses it only when it
/// is still the newest file once the store is open and the store holds its event.
struct Early<D> {
    path: PathBuf,
    snap: SnapshotFile,
    restored: Result<(TrustState, D), String>,
}

/// The newest snapshot file of the ledger in `dir` restored through `restore`, read before the
/// store is open (nothing is written); `None` when there is none or its file is not intact
/// (the usual path then finds, and logs, what [`snapshot::usable`] finds).
fn restore_early<D: Domain>(
    dir: &Path,
    pristine: &D,
    restore: impl Fn(&D, &SnapshotFile) -> Option<D>,
) -> Option<Early<D>> {
    let (seq, path) = snapshot::list(dir).into_iter().next()?;
    let snap = SnapshotFile::open(&path).ok().filter(|s| s.seq == seq)?;
    let restored = restore_sections(pristine, &snap, restore);
    Some(Early { path, snap, restored })
}

/// The trust state and the domain restored from `snap`'s sections.
fn restore_sections<D: Domain>(
    pristine: &D,
    snap: &SnapshotFile,
    restore: impl Fn(&D, &SnapshotFile) -> Option<D>,
) -> Result<(TrustState, D), String> {
    let trust = TrustState::from_snapshot(&snap.trust)?;
    let domain = restore(pristine, snap).ok_or("the domain section does not restore")?;
    Ok((trust, domain))
}

/// How [`Ledger::open_resumed`] restores the domain from a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Opening {
    /// Whole ([`Domain::restore`]): a server, or any open that will answer many questions.
    Whole,
    /// On demand, with the store's command lookups read while the state is restored.
    ToWrite,
    /// On demand, for one question.
    ToRead,
}

/// Restores the newest usable snapshot (see [`Ledger::open_with_snapshots`]), the domain
/// through `restore`, and folds the events after it; folds from genesis when there is none or
/// when the events after it do not fold onto it. Returns the state and the snapshot's
/// sequence number. `early`, the newest snapshot restored while the store opened, stands for
/// that file's restore when it is still the newest and bound to an event of this store.
fn fold_resumed<D: Domain>(
    store: &Store,
    pristine: &D,
    restore: impl Fn(&D, &SnapshotFile) -> Option<D>,
    early: Option<Early<D>>,
) -> Result<(TrustState, D, Option<u64>), StoreError> {
    'resume: {
        if store.damage().is_some() {
            break 'resume;
        }
        let newest = snapshot::list(store.dir()).into_iter().next().map(|(_, path)| path);
        let bound =
            |snap: &SnapshotFile| matches!(store.get(snap.seq), Ok(Some(ev)) if ev.hash == snap.event);
        let mut skip = None;
        if let Some(Early { path, snap, restored }) =
            early.filter(|e| newest.as_ref() == Some(&e.path) && bound(&e.snap))
        {
            match restored {
                Ok((trust, domain)) => match fold(store, trust, domain, Some((snap.seq, snap.event))) {
                    Ok((trust, domain)) => return Ok((trust, domain, Some(snap.seq))),
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "snapshot not used; folding from genesis");
                        break 'resume;
                    }
                },
                Err(reason) => {
                    tracing::warn!(path = %path.display(), %reason, "snapshot skipped");
                    skip = Some(path);
                }
            }
        }
        for (path, snap) in snapshot::usable(store, |_| true) {
            if skip.as_ref() == Some(&path) {
                continue;
            }
            let (trust, domain) = match restore_sections(pristine, &snap, &restore) {
                Ok(parts) => parts,
                Err(reason) => {
                    tracing::warn!(path = %path.display(), %reason, "snapshot skipped");
                    continue;
                }
            };
            match fold(store, trust, domain, Some((snap.seq, snap.event))) {
                Ok((trust, domain)) => return Ok((trust, domain, Some(snap.seq))),
                Err(e) => {
                    // Damage after the snapshot is found again by the fold from genesis; a
                    // snapshot the events do not fold onto is simply not used.
                    tracing::warn!(path = %path.display(), error = %e, "snapshot not used; folding from genesis");
                    break;
                }
            }
        }
    }
    let (trust, domain) = fold(store, TrustState::default(), pristine.clone(), None)?;
    Ok((trust, domain, None))
}

/// The domain's own restore of a snapshot's section.
fn restore_domain<D: Domain>(pristine: &D, snap: &SnapshotFile) -> Option<D> {
    pristine.restore(snap.section(), snap.seq)
}

/// The domain's own restore of a snapshot's section, parts of it left to be read on demand.
fn restore_domain_on_demand<D: Domain>(pristine: &D, snap: &SnapshotFile) -> Option<D> {
    pristine.restore_on_demand(snap.section().shared(), snap.seq)
}

/// Folds the events after `after` (`None`: every event) into `trust` and `domain`, checking on
/// the way what can be checked without signatures, as [`Ledger::open`] says (each event's bytes
/// against the hash stored beside them, its position, its link to the event before, and that
/// the events reach the committed head); `after` is the sequence number and hash of the last event
/// already folded.
fn fold<D: Domain>(
    store: &Store,
    mut trust: TrustState,
    mut domain: D,
    after: Option<(u64, Digest)>,
) -> Result<(TrustState, D), StoreError> {
    if let Some(reason) = store.damage() {
        return Err(StoreError::Corrupt { seq: store.len().saturating_sub(1), reason: reason.to_string() });
    }
    let mut prev: Option<Digest> = after.map(|a| a.1);
    let mut next = after.map_or(0, |a| a.0 + 1);
    // Events are parsed and hashed a chunk ahead on the other cores while this thread checks
    // and folds the current chunk in order; a read error ends the chunk it is in, so errors
    // still come in the order of the events.
    let mut raw = store.raw_from(next);
    let mut read = move || {
        let mut chunk = Vec::with_capacity(FOLD_CHUNK);
        for item in raw.by_ref() {
            let failed = item.is_err();
            chunk.push(item);
            if failed || chunk.len() == FOLD_CHUNK {
                break;
            }
        }
        chunk
    };
    let parse = |chunk: Vec<Result<StoredEvent, StoreError>>| {
        crate::par::par_map_owned(chunk, |item| {
            item.map(|(seq, stored, bytes)| (seq, stored, RecordedEvent::decode_unchecked(bytes)))
        })
    };
    let mut current = parse(read());
    while !current.is_empty() {
        let ahead = read();
        let (parsed, folded) = std::thread::scope(|s| {
            let worker = s.spawn(|| parse(ahead));
            let folded = fold_chunk(current, &mut trust, &mut domain, &mut prev, &mut next);
            (worker.join().expect("event parser panicked"), folded)
        });
        folded?;
        current = parsed;
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

/// Events [`fold`] parses ahead at a time.
const FOLD_CHUNK: usize = 1024;

/// A stored event as read: its sequence number, the hash stored beside it, its bytes.
type StoredEvent = (u64, Digest, Vec<u8>);
/// A stored event parsed: its sequence number, the stored hash, the event or why it is not one.
type ParsedEvent = (u64, Digest, Result<RecordedEvent, String>);

/// Checks and folds one chunk of parsed events in order (see [`fold`]).
fn fold_chunk<D: Domain>(
    chunk: Vec<Result<ParsedEvent, StoreError>>,
    trust: &mut TrustState,
    domain: &mut D,
    prev: &mut Option<Digest>,
    next: &mut u64,
) -> Result<(), StoreError> {
    for item in chunk {
        let (seq, stored, parsed) = item?;
        let damaged = |reason: String| StoreError::Corrupt { seq, reason };
        if seq != *next {
            return Err(damaged(format!("event {next} is missing (the next stored event is {seq})")));
        }
        let ev = parsed.map_err(damaged)?;
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
        if ev.event.seq != seq || ev.event.prev != *prev {
            return Err(damaged(format!(
                "it does not follow event {} (its `seq` or `prev` was altered)",
                seq.wrapping_sub(1)
            )));
        }
        trust.apply(&ev).map_err(damaged)?;
        domain.apply(&ev).map_err(damaged)?;
        *prev = Some(ev.hash);
        *next += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::{StepClock, Timestamp};
    use crate::keys::SecretKey;
    use crate::Command;

    /// A domain that counts the events folded into it, and keeps that count in its snapshots.
    #[derive(Clone, Debug, Default, PartialEq)]
    struct Counted(u64);

    impl Domain for Counted {
        fn decide(&self, _: &Context<'_>, _: &SignedCommand) -> Result<Vec<EventDraft>, Refusal> {
            Err(Rejection::new("command.unknown_kind", "trust commands only").into())
        }
        fn apply(&mut self, _: &RecordedEvent) -> Result<(), String> {
            self.0 += 1;
            Ok(())
        }
        fn snapshot(&self) -> Option<Vec<u8>> {
            Some(self.0.to_le_bytes().to_vec())
        }
        fn restore(&self, section: crate::snapshot::DomainSection<'_>, seq: u64) -> Option<Self> {
            let mut bytes = [0u8; 8];
            std::io::Read::read_exact(&mut section.reader(), &mut bytes).ok()?;
            Some(Counted(u64::from_le_bytes(bytes))).filter(|c| c.0 == seq + 1)
        }
    }

    /// A UUID v7 ending in `n`.
    fn id(n: u8) -> Uuid {
        let mut b = *Uuid::parse_str("019a3e7c-0000-7000-8000-000000000000").unwrap().as_bytes();
        b[15] = n;
        Uuid::from_bytes(b)
    }

    fn enroll(l: &mut Ledger<Counted>, admin: &SecretKey, n: u8) {
        let key = SecretKey::from_seed([n; 32]);
        let body = serde_json::json!({"principal": format!("p{n}"), "public_key": key.public().to_string()});
        let cmd = Command {
            id: id(n),
            ledger: id(200),
            issued_at: Timestamp::parse_exact("2026-11-01T09:00:00.000000Z").unwrap(),
            kind: "key.enroll".into(),
            body,
        };
        l.submit(cmd.sign(admin).unwrap(), ExpectedHead::Any).unwrap();
    }

    /// The snapshot restored while the store opens stands for the newest file only: once a
    /// newer snapshot exists, or the store does not hold its event, it is not used.
    #[test]
    fn a_snapshot_restored_early_is_used_only_while_it_is_the_newest_and_bound_to_the_store() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let clock =
            || Arc::new(StepClock::new(Timestamp::parse_exact("2026-11-01T09:00:00.000000Z").unwrap(), 1));
        let admin = SecretKey::from_seed([1; 32]);
        let mut l = Ledger::open_with_snapshots(dir, clock(), Counted::default()).unwrap();
        let genesis = Command {
            id: id(100),
            ledger: id(200),
            issued_at: Timestamp::parse_exact("2026-11-01T09:00:00.000000Z").unwrap(),
            kind: "ledger.create".into(),
            body: serde_json::json!({
                "admins": [{"principal": "root", "public_key": admin.public().to_string()}],
                "policy": crate::trust::base_policy(),
            }),
        };
        l.submit(genesis.sign(&admin).unwrap(), ExpectedHead::Empty).unwrap();
        enroll(&mut l, &admin, 2);
        snapshot::write(dir, &l.snapshot().unwrap()).unwrap();
        drop(l);
        let early = |dir: &Path| {
            let mut early = restore_early(dir, &Counted::default(), restore_domain).unwrap();
            // A state the events never give, so that an answer holding it shows it was used.
            early.restored.as_mut().unwrap().1 = Counted(1_000);
            early
        };
        let resumed = |early: Option<Early<Counted>>| {
            let store = Store::open(dir).unwrap();
            let (_, domain, from) = fold_resumed(&store, &Counted::default(), restore_domain, early).unwrap();
            (domain, from, store.len())
        };

        // Still the newest, and bound: used (the events after it folded onto it).
        let first = early(dir);
        let seq = first.snap.seq;
        let (domain, from, _) = resumed(Some(first));
        assert_eq!((domain, from), (Counted(1_000), Some(seq)));

        // A newer snapshot written since: the early one is dropped for it.
        let stale = early(dir);
        let mut l = Ledger::open(dir, clock(), Counted::default()).unwrap();
        enroll(&mut l, &admin, 3);
        let newer = l.snapshot().unwrap().seq;
        snapshot::write(dir, &l.snapshot().unwrap()).unwrap();
        drop(l);
        let (domain, from, len) = resumed(Some(stale));
        assert_eq!((domain, from), (Counted(len), Some(newer)));

        // The newest file, but of another chain: neither it nor its early restore is used.
        let other = tempfile::tempdir().unwrap();
        let mut foreign = Snapshot::read(&snapshot::list(dir)[0].1).unwrap();
        foreign.event = Digest::of(b"another chain");
        let path = snapshot::write(other.path(), &foreign).unwrap();
        let mut foreign_early = early(other.path());
        foreign_early.path = snapshot::list(dir)[0].1.clone();
        std::fs::copy(&path, &foreign_early.path).unwrap();
        let (domain, from, len) = resumed(Some(foreign_early));
        assert_eq!((domain, from), (Counted(len), Some(seq)), "the older, bound snapshot is used");
    }
}
