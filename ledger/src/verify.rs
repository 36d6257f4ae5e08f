//! Verification: recompute every hash, link, sequence number, signature and key validity from
//! the event bytes alone, trusting no index, and **re-derive** every event: each command is
//! decided again, against the state before it and at its recorded time, and the events it
//! produces must equal the recorded ones byte for byte (`docs/FORMAT.md`, section 7).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use uuid::Uuid;

use crate::canonical::Timestamp;
use crate::command::SignedCommand;
use crate::digest::Digest;
use crate::error::{Mismatch, Refusal, VerifyFailure};
use crate::event::{Cause, EventDraft, RecordedEvent, FORMAT_VERSION, MAX_EVENT_BYTES};
use crate::keys::{KeyTable, PublicKey};
use crate::ledger::{Context, Domain, NoDomain};
use crate::merkle::{self, CompactRange, Hash};
use crate::par::par_map_owned;
use crate::snapshot::{self, Snapshot};
use crate::store::{ChainCursor, Head, Store, STORED_LEVELS_FROM};
use crate::trust::{kinds, signature_invalid, TrustState};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// What a successful verification saw.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VerifySummary {
    /// Events checked.
    pub events: u64,
    /// The last event.
    pub head: Option<Head>,
    /// The ledger id from genesis.
    pub ledger_id: Option<Uuid>,
    /// Distinct signed commands (one signature check each): one per run.
    pub commands: u64,
    /// Events after the first of their run: caused by an earlier event of the run, derived
    /// by the decide step rather than signed themselves.
    pub system_events: u64,
    /// True when every run was re-derived from its command (false only for
    /// [`Verifier::without_rederivation`]).
    #[serde(default)]
    pub rederived: bool,
    /// The root of the RFC 6962 Merkle tree over the events (`docs/FORMAT.md`, section 15),
    /// base64, as a checkpoint writes it.
    #[serde(default)]
    pub tree_root: String,
    /// The verifier keys (vkeys, `docs/FORMAT.md` section 16) of the ledger's active log keys
    /// after the last event: the keys that sign its checkpoints.
    #[serde(default)]
    pub log_keys: Vec<String>,
    /// Snapshots of the state in the ledger's directory found equal to the state the events
    /// give at their event (`docs/FORMAT.md`, section 19; only [`verify_store`] checks them).
    #[serde(default)]
    pub snapshots: u64,
    /// Runs of the event index in the ledger's directory found equal to the runs the events
    /// give (ADR 0021; only [`verify_store`] checks them).
    #[serde(default)]
    pub index_runs: u64,
}

/// The command whose events are being read (a command's events are contiguous: its run).
#[derive(Clone)]
struct Run {
    id: Uuid,
    kind: String,
    first_seq: u64,
    /// What the decide step produced for the command at that point, to be encoded and
    /// compared with the recorded events (in parallel, see [`DeriveJob`]). `None` only when not
    /// re-deriving, for a domain command.
    expected: Option<Decided>,
    /// The events of the run seen so far: position, id, bytes.
    seen: Vec<(u64, Digest, Vec<u8>)>,
}

/// A command's decision, as the verifier made it again: enough to encode the events it
/// produces exactly as the append path does.
#[derive(Clone)]
struct Decided {
    drafts: Vec<EventDraft>,
    envelope: crate::dsse::Envelope,
    /// The event before the run.
    head: Option<Head>,
    /// The run's recorded time, given to the decide step.
    now: Timestamp,
}

impl Run {
    /// Whether the event with `cause` continues this run rather than starting another.
    fn expects_more(&self, cause: &Cause) -> bool {
        match &self.expected {
            Some(d) => self.seen.len() < d.drafts.len(),
            None => matches!(cause, Cause::Event(_)),
        }
    }

    /// The comparison of the events recorded so far with the re-derived ones, when
    /// verification stopped inside the run for another reason.
    fn prefix_job(&self, end: u64) -> Option<Job> {
        let d = self.expected.as_ref()?;
        Some(Job::Derive(Box::new(DeriveJob {
            id: self.id,
            kind: self.kind.clone(),
            first_seq: self.first_seq,
            decided: d.clone(),
            recorded: self.seen.clone(),
            complete: false,
            end,
        })))
    }
}

/// Checks events one at a time, in order. Feed it with [`Verifier::push`], then call
/// [`Verifier::finish`].
///
/// It folds the events into the trust state and into a [`Domain`], and re-derives every run
/// with that domain's decide step: a ledger can only be verified with the rules that wrote it.
/// [`Verifier::new`] knows only the trust commands.
///
/// # Examples
///
/// ```
/// let v = ledger::Verifier::new();
/// let summary = v.finish().unwrap();
/// assert_eq!(summary.events, 0);
/// ```
///
/// A verifier can be cloned to check several continuations of the same prefix.
#[derive(Clone)]
pub struct Verifier<D: Domain = NoDomain> {
    trust: TrustState,
    domain: D,
    rederive: bool,
    next_seq: u64,
    prev: Option<(Digest, Timestamp)>,
    commands: HashMap<Uuid, u64>,
    run: Option<Run>,
    /// The last run closed: `(command id, kind, first event)`, for messages.
    last_run: Option<(Uuid, String, u64)>,
    expect_head: Option<(Digest, bool)>,
    /// The Merkle tree over the events so far.
    tree: CompactRange,
    /// Tree nodes completed since the caller last took them, when it asked for them.
    completed: Option<Vec<(u8, u64, Hash)>>,
    /// Snapshot files to compare with the state after their event, by sequence number (each
    /// read when its event is reached).
    snapshots: std::collections::BTreeMap<u64, std::path::PathBuf>,
    /// Snapshots whose sections held the state the events give and that hold an index: the
    /// event, the file and the index, compared once the store is at hand (see
    /// [`verify_store_with_domain`]).
    indexed: Vec<(u64, std::path::PathBuf, Vec<u8>)>,
    /// The event index's runs rebuilt from the events as they are read, when the caller
    /// compares them with the run files (see [`verify_store_with_domain`]).
    runs: Option<crate::event_index::RunCheck>,
    summary: VerifySummary,
    signers: Signers,
}

impl Default for Verifier<NoDomain> {
    fn default() -> Self {
        Self::new()
    }
}

impl Verifier<NoDomain> {
    /// A verifier for ledgers of trust commands only, expecting genesis first.
    pub fn new() -> Verifier<NoDomain> {
        Verifier::with_domain(NoDomain)
    }
}

impl<D: Domain> Verifier<D> {
    /// A verifier that re-derives domain commands with `domain` (given empty: the state before
    /// genesis), expecting genesis first.
    pub fn with_domain(domain: D) -> Verifier<D> {
        Verifier {
            trust: TrustState::default(),
            domain,
            rederive: true,
            next_seq: 0,
            prev: None,
            commands: HashMap::new(),
            run: None,
            last_run: None,
            expect_head: None,
            tree: CompactRange::default(),
            completed: None,
            snapshots: Default::default(),
            indexed: Vec::new(),
            runs: None,
            summary: VerifySummary {
                events: 0,
                head: None,
                ledger_id: None,
                commands: 0,
                system_events: 0,
                rederived: true,
                tree_root: String::new(),
                log_keys: Vec::new(),
                snapshots: 0,
                index_runs: 0,
            },
            signers: Signers::default(),
        }
    }

    /// Checks everything but the domain's derived events: bytes, chain, signatures, trust
    /// events, freshness and the shape of each run, as the verifier did before re-derivation.
    /// It does **not** detect a forged or altered derived event (a gate, a promotion by
    /// policy, a version number); it exists to measure what re-derivation costs and for tools
    /// that do not have the domain's rules. Never use it to accept a ledger.
    pub fn without_rederivation(mut self) -> Verifier<D> {
        self.rederive = false;
        self.summary.rederived = false;
        self
    }

    /// Also requires the ledger to contain the event `hash` (a head seen earlier, e.g. in an
    /// auditor's notes or a checkpoint): catches a ledger truncated, rolled back to an older
    /// copy, or replaced by another one, which verify as valid ledgers on their own.
    pub fn expect_head(mut self, hash: Digest) -> Verifier<D> {
        self.expect_head = Some((hash, false));
        self
    }

    /// The domain state folded so far.
    pub fn domain(&self) -> &D {
        &self.domain
    }

    /// Checks the next event. `pos` is its position (the store key or the export line, from 0);
    /// `claimed` is a hash recorded for it elsewhere (the store keeps one beside each event; an
    /// export has the next event's `prev`), used to point at the damaged event rather than its
    /// successor.
    pub fn push(&mut self, pos: u64, bytes: &[u8], claimed: Option<Digest>) -> Result<(), VerifyFailure> {
        let prepared = prepare(pos, bytes.to_vec(), claimed, self.rederive)?;
        let mut jobs = Vec::new();
        let pushed = self.push_prepared(prepared, &mut jobs);
        if pushed.is_err() {
            self.flush_open_run(&mut jobs);
        }
        earliest(jobs.into_iter().map(Job::check).filter_map(Result::err).chain(pushed.err()))
    }

    /// The sequential part of verification, for an event whose bytes [`prepare`] checked.
    /// Signature checks are appended to `jobs` instead of being done here, so that they can run
    /// in parallel; the caller must run them (see [`verify_entries`]).
    fn push_prepared(&mut self, p: Prepared, jobs: &mut Vec<Job>) -> Result<(), VerifyFailure> {
        let Prepared { pos, rec, command, leaf } = p;
        let command_id = command.as_ref().map(|c| c.command().id);
        let hash = rec.hash;
        let fail = |reason: String| VerifyFailure::new(pos, Some(hash), reason);
        let ev = &rec.event;
        if pos != self.next_seq {
            return Err(fail(format!("expected event {} at this position", self.next_seq)));
        }
        if ev.format != FORMAT_VERSION {
            return Err(fail(format!("format {} is not supported (expected {FORMAT_VERSION})", ev.format)));
        }
        if ev.seq != pos {
            return Err(fail(format!("event says seq {}, but it is at position {pos}", ev.seq)));
        }
        match (self.prev, ev.prev) {
            (None, None) => {}
            (Some((p, _)), Some(q)) if p == q => {}
            (Some((p, _)), q) => {
                return Err(fail(format!(
                    "`prev` is {}, but event {} hashes to {p}",
                    q.map_or("null".into(), |q| q.to_string()),
                    pos - 1
                )))
            }
            (None, Some(_)) => return Err(fail("genesis must have `prev: null`".into())),
        }
        if let Some((_, t)) = self.prev {
            if ev.recorded_at < t {
                return Err(fail(format!(
                    "recorded_at {} is earlier than the previous event's {t}",
                    ev.recorded_at
                )));
            }
        }
        if pos == 0 && ev.kind != "ledger.created" {
            return Err(fail(format!("the first event must be `ledger.created`, found `{}`", ev.kind)));
        }
        let in_run = self.run.as_ref().is_some_and(|r| r.expects_more(&ev.cause));
        if !in_run {
            self.close_run(jobs);
            self.start_run(&rec, command, jobs)?;
        }
        self.check_in_run(&rec)?;
        // A trust event its command does not decide may not fold; the run keeps it anyway, so
        // that the comparison with the re-derived event reports what differs.
        let folded = self.trust.apply(&rec).and_then(|()| self.domain.apply(&rec)).map_err(fail);
        let recorded_at = ev.recorded_at;
        let seq = ev.seq;
        if pos == 0 {
            self.summary.ledger_id = self.trust.ledger_id();
        }
        if let Some((h, seen)) = &mut self.expect_head {
            *seen |= *h == hash;
        }
        if let Some(runs) = self.runs.as_mut() {
            runs.add(&rec, command_id.as_ref());
        }
        if let Some(run) = self.run.as_mut() {
            run.seen.push((seq, hash, rec.bytes));
        }
        folded?;
        if let Some(path) = self.snapshots.remove(&seq) {
            // One that does not decode, or whose contents are of another event, is skipped by
            // readers too.
            if let Some(snap) = Snapshot::read(&path).ok().filter(|s| s.seq == seq) {
                self.check_snapshot(&path, &snap, hash).map_err(fail)?;
            }
        }
        let nodes = self.tree.push(leaf);
        if let Some(c) = self.completed.as_mut() {
            c.extend(nodes);
        }
        self.prev = Some((hash, recorded_at));
        self.next_seq += 1;
        self.summary.events += 1;
        self.summary.head = Some(Head { seq, hash, recorded_at });
        Ok(())
    }

    /// Compares a snapshot taken after event `seq` (hash `hash`) with the state the events
    /// gave. A snapshot of another chain, or one whose sections the ledger would not restore
    /// (another format), is ignored as opening ignores it; one it would restore must hold
    /// exactly this state.
    /// One that holds this state and an index of a layout the domain reads
    /// ([`Domain::reads_index`]) has its index compared later ([`Verifier::indexed`]).
    fn check_snapshot(
        &mut self,
        path: &std::path::Path,
        snap: &Snapshot,
        hash: Digest,
    ) -> Result<(), String> {
        if snap.event != hash {
            return Ok(());
        }
        let trust_ok = snap.trust == self.trust.to_snapshot();
        let domain_ok = self.domain.snapshot().is_some_and(|d| d == snap.domain);
        if trust_ok && domain_ok {
            self.summary.snapshots += 1;
            if self.domain.reads_index(&snap.index) {
                self.indexed.push((snap.seq, path.to_path_buf(), snap.index.clone()));
            }
            return Ok(());
        }
        if TrustState::from_snapshot(&snap.trust).is_err()
            || self.domain.restore(snapshot::DomainSection::in_memory(&snap.domain), snap.seq).is_none()
        {
            return Ok(());
        }
        Err(format!(
            "the snapshot `{}` does not hold the state the events give after this event ({} differs): it was altered or written by a faulty build; remove it (opening then folds from an older snapshot or from genesis)",
            path.display(),
            if trust_ok { "the domain state" } else { "the trust state" }
        ))
    }

    /// After a failure inside a run: the comparison of the run's events seen so far, so that
    /// an earlier event of the run that differs from its re-derivation is reported first.
    fn flush_open_run(&self, jobs: &mut Vec<Job>) {
        if let Some(job) = self.run.as_ref().and_then(|r| r.prefix_job(self.next_seq)) {
            jobs.push(job);
        }
    }

    /// Opens the run of the command that caused `rec`: authenticates and authorizes its signer
    /// as of the state before it, checks its freshness, and decides it again.
    fn start_run(
        &mut self,
        rec: &RecordedEvent,
        command: Option<SignedCommand>,
        jobs: &mut Vec<Job>,
    ) -> Result<(), VerifyFailure> {
        let ev = &rec.event;
        let fail = |reason: String| VerifyFailure::new(ev.seq, Some(rec.hash), reason);
        let cmd = match (&ev.cause, command) {
            (Cause::Command(_), Some(cmd)) => cmd,
            (Cause::Event(h), _) => {
                return Err(fail(match &self.last_run {
                    Some((id, kind, first)) => format!(
                        "`{}` names event {h} as its cause, but no command produces it: the run of command `{id}` (`{kind}`, event {first}) ended before it",
                        ev.kind
                    ),
                    None => format!("`{}` names event {h} as its cause, but no command produces it", ev.kind),
                }))
            }
            (Cause::Command(_), None) => return Err(fail("embedded command was not prepared".into())),
        };
        // Shared with its signature check rather than copied.
        let cmd = Arc::new(cmd);
        let id = cmd.command().id;
        if let Some(first) = self.commands.get(&id) {
            return Err(fail(format!(
                "command id `{id}` was already used at event {first} (a replayed or reused command)"
            )));
        }
        let kind = cmd.command().kind.clone();
        let actor = if kind == kinds::LEDGER_CREATE {
            if ev.seq != 0 {
                return Err(fail("`ledger.create` may only cause the first event".into()));
            }
            self.trust.authenticate_genesis(&cmd).map_err(|r| fail(r.to_string()))?
        } else {
            let key = self.trust.signing_key(&cmd).map_err(|r| fail(r.to_string()))?;
            jobs.push(Job::Signature(Box::new(SigJob {
                pos: ev.seq,
                hash: rec.hash,
                key: self.signers.signer(key.public_key),
                principal: key.principal.clone(),
                command: Arc::clone(&cmd),
            })));
            let actor = self.trust.check_signer(&cmd, key).map_err(|r| fail(r.to_string()))?;
            self.trust.authorize(&actor, &kind).map_err(|r| fail(r.to_string()))?;
            actor
        };
        self.trust.check_fresh(&cmd, ev.recorded_at).map_err(|r| fail(r.to_string()))?;
        let head = self.prev.map(|(hash, recorded_at)| Head { seq: ev.seq - 1, hash, recorded_at });
        let drafts = match self.trust.decide(&cmd) {
            Some(Ok(drafts)) => Some(match kinds::policy_of(&cmd) {
                Some(policy) => self.domain.check_policy(policy).map(|()| drafts),
                None => Ok(drafts),
            }),
            Some(decided) => Some(decided),
            None if self.rederive => {
                let ctx = Context { actor: &actor, trust: &self.trust, now: ev.recorded_at, head };
                Some(self.domain.decide(&ctx, &cmd))
            }
            None => None,
        };
        let expected = match drafts {
            None => None,
            Some(Err(refusal)) => {
                let why = match refusal {
                    Refusal::Rejected(r) => format!("rule `{}` refuses it: {}", r.rule, r.message),
                    Refusal::Invalid(m) => format!("it is invalid: {m}"),
                };
                return Err(fail(format!(
                    "command `{id}` (`{kind}`) could not have been appended here: decided again against the state before it, {why}"
                )));
            }
            Some(Ok(drafts)) if drafts.is_empty() => {
                return Err(fail(format!("command `{id}` (`{kind}`) changes nothing, yet it was recorded")))
            }
            Some(Ok(drafts)) => {
                Some(Decided { drafts, envelope: cmd.envelope().clone(), head, now: ev.recorded_at })
            }
        };
        self.commands.insert(id, ev.seq);
        self.summary.commands += 1;
        self.run = Some(Run { id, kind, first_seq: ev.seq, expected, seen: Vec::new() });
        Ok(())
    }

    /// Checks `rec` as the next event of the open run. With re-derivation its bytes are
    /// compared later, in parallel ([`DeriveJob`]); without, the shape of a run is checked.
    fn check_in_run(&mut self, rec: &RecordedEvent) -> Result<(), VerifyFailure> {
        let ev = &rec.event;
        let fail = |reason: String| VerifyFailure::new(ev.seq, Some(rec.hash), reason);
        let run = self.run.as_ref().ok_or_else(|| fail("no command's run is open".into()))?;
        let index = run.seen.len();
        if run.expected.is_none() {
            if index > 0 {
                match &ev.cause {
                    Cause::Event(h) if run.seen.iter().any(|(_, seen, _)| seen == h) => {}
                    Cause::Event(h) => {
                        return Err(fail(format!(
                            "caused by event {h}, which is not an earlier event of its run"
                        )))
                    }
                    Cause::Command(_) => {
                        return Err(fail("only the first event of a run embeds its command".into()))
                    }
                }
            }
            if kinds::EVENTS.contains(&ev.kind.as_str()) {
                return Err(fail(format!(
                    "`{}` caused by `{}`, which is not a trust command",
                    ev.kind, run.kind
                )));
            }
        }
        if index > 0 {
            self.summary.system_events += 1;
        }
        Ok(())
    }

    /// Ends the open run, whole: its comparison with the re-derived events joins `jobs`.
    fn close_run(&mut self, jobs: &mut Vec<Job>) {
        let Some(run) = self.run.take() else { return };
        self.last_run = Some((run.id, run.kind.clone(), run.first_seq));
        if let Some(decided) = run.expected {
            jobs.push(Job::Derive(Box::new(DeriveJob {
                id: run.id,
                kind: run.kind,
                first_seq: run.first_seq,
                decided,
                recorded: run.seen,
                complete: true,
                end: self.next_seq,
            })));
        }
    }

    /// Ends verification.
    pub fn finish(self) -> Result<VerifySummary, VerifyFailure> {
        self.finish_with_domain().map(|(summary, _)| summary)
    }

    /// Like [`Verifier::finish`], and also gives the domain state the verified events fold to
    /// (what a caller checks further without reading the events again).
    pub fn finish_with_domain(mut self) -> Result<(VerifySummary, D), VerifyFailure> {
        let end = self.next_seq;
        let mut jobs = Vec::new();
        self.close_run(&mut jobs);
        jobs.into_iter().try_for_each(Job::check)?;
        self.summary.tree_root = STANDARD.encode(self.tree.root());
        if let Some(id) = self.trust.ledger_id() {
            let origin = crate::note::origin(&id);
            self.summary.log_keys = self
                .trust
                .log_keys()
                .iter()
                .map(|k| crate::note::NoteKey::log(&origin, k.public_key).vkey())
                .collect();
        }
        if let Some((hash, false)) = self.expect_head {
            return Err(VerifyFailure::new(
                end,
                None,
                format!(
                    "the expected head {hash} is not among these {end} events: the ledger was truncated, rolled back to an older copy, or is another ledger"
                ),
            ));
        }
        Ok((self.summary, self.domain))
    }
}

/// A check that needs no state and is deferred to run in parallel with others.
enum Job {
    /// A command's signature.
    Signature(Box<SigJob>),
    /// A run's recorded events against the events its command's decision encodes to.
    Derive(Box<DeriveJob>),
}

impl Job {
    /// Checks it, consuming it (a run's drafts are encoded without a copy).
    fn check(self) -> Result<(), VerifyFailure> {
        match self {
            Job::Signature(j) => j.check(),
            Job::Derive(j) => j.check(),
        }
    }
}

/// Encodes a run's re-derived events exactly as the append path does and compares them, byte
/// for byte, with the recorded ones.
struct DeriveJob {
    id: Uuid,
    kind: String,
    first_seq: u64,
    decided: Decided,
    recorded: Vec<(u64, Digest, Vec<u8>)>,
    /// The run must be whole (it ended, or the events did); otherwise only its prefix is
    /// compared.
    complete: bool,
    /// The position after the last event seen, where a missing event is reported.
    end: u64,
}

impl DeriveJob {
    fn check(self) -> Result<(), VerifyFailure> {
        let Decided { drafts, envelope, head, now } = self.decided;
        let mut cursor = ChainCursor::after(head.as_ref());
        let recorded: Vec<(Digest, &[u8])> = self.recorded.iter().map(|(_, h, b)| (*h, &b[..])).collect();
        let derived = cursor.encode_against(drafts, &envelope, now, &recorded).map_err(|e| {
            VerifyFailure::new(
                self.first_seq,
                self.recorded.first().map(|r| r.1),
                format!("command `{}` (`{}`) decides events that cannot be encoded: {e}", self.id, self.kind),
            )
        })?;
        for (i, (pos, hash, bytes)) in self.recorded.iter().enumerate() {
            let Some((want_hash, want)) = derived.get(i) else {
                return Err(VerifyFailure::new(
                    *pos,
                    Some(*hash),
                    format!("command `{}` re-derives no event {i}", self.id),
                ));
            };
            if want_hash == hash {
                continue;
            }
            // The same event in another spelling: its bytes are not canonical (which
            // `prepare` leaves to this comparison).
            if let (Ok(r), Ok(d)) =
                (serde_json::from_slice::<Value>(bytes), serde_json::from_slice::<Value>(want))
            {
                if r == d {
                    return Err(VerifyFailure::new(
                        *pos,
                        Some(*hash),
                        "event bytes are not in canonical form (RFC 8785)".to_string(),
                    ));
                }
            }
            let m = mismatch(bytes, want);
            let starts_another = i > 0
                && serde_json::from_slice::<Value>(bytes).is_ok_and(|v| v["cause"].get("command").is_some());
            let reason = if starts_another {
                format!(
                    "command `{}` (`{}`, event {}) re-derives {} events, but only {i} are recorded before this one: `{}` is missing",
                    self.id,
                    self.kind,
                    self.first_seq,
                    derived.len(),
                    kind_of(want)
                )
            } else {
                format!(
                    "`{}` is not what command `{}` (`{}`, event {}) decides from the state before it: {}",
                    kind_of(bytes),
                    self.id,
                    self.kind,
                    self.first_seq,
                    m.describe()
                )
            };
            return Err(VerifyFailure::new(*pos, Some(*hash), reason).with_mismatch(Some(m)));
        }
        if let Some((_, missing)) = derived.get(self.recorded.len()).filter(|_| self.complete) {
            return Err(VerifyFailure::new(
                self.end,
                None,
                format!(
                    "the events end inside the run of command `{}` (`{}`, event {}): it re-derives {} events, {} are recorded; `{}` is missing",
                    self.id,
                    self.kind,
                    self.first_seq,
                    derived.len(),
                    self.recorded.len(),
                    kind_of(missing)
                ),
            )
            .with_mismatch(serde_json::from_slice::<Value>(missing).ok().map(|v| Mismatch {
                member: String::new(),
                recorded: None,
                derived: Some(v),
            })));
        }
        Ok(())
    }
}

/// The `kind` of encoded event bytes, for messages.
fn kind_of(bytes: &[u8]) -> String {
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|v| v.get("kind").and_then(Value::as_str).map(String::from))
        .unwrap_or_else(|| "(unreadable)".into())
}

/// The first member in which the recorded event differs from the re-derived one, in the
/// envelope's order of importance (`kind`, `subject`, `payload`, `cause`, ...), depth first.
fn mismatch(recorded: &[u8], derived: &[u8]) -> Mismatch {
    let (Ok(r), Ok(d)) =
        (serde_json::from_slice::<Value>(recorded), serde_json::from_slice::<Value>(derived))
    else {
        return Mismatch { member: String::new(), recorded: None, derived: None };
    };
    const ORDER: [&str; 9] =
        ["kind", "kind_version", "subject", "payload", "cause", "recorded_at", "seq", "prev", "format"];
    for member in ORDER {
        if let Some(m) = first_difference(member.to_string(), r.get(member), d.get(member)) {
            return m;
        }
    }
    // The same members in another spelling cannot happen with canonical bytes on both sides.
    Mismatch { member: String::new(), recorded: Some(r), derived: Some(d) }
}

fn first_difference(path: String, r: Option<&Value>, d: Option<&Value>) -> Option<Mismatch> {
    match (r, d) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
            names.sort();
            names.dedup();
            names.into_iter().find_map(|k| first_difference(format!("{path}.{k}"), a.get(k), b.get(k)))
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) => (0..a.len().max(b.len()))
            .find_map(|i| first_difference(format!("{path}[{i}]"), a.get(i), b.get(i))),
        (a, b) if a == b => None,
        (a, b) => Some(Mismatch { member: path, recorded: a.cloned(), derived: b.cloned() }),
    }
}

/// An event whose bytes have been checked on their own (size, claimed hash, and canonical
/// form unless its re-derivation checks it) and whose embedded command has been parsed: the
/// part of verification that needs no state, done in parallel.
struct Prepared {
    pos: u64,
    rec: RecordedEvent,
    command: Option<SignedCommand>,
    /// The event's Merkle leaf hash.
    leaf: Hash,
}

/// Checks one event's bytes on their own (see [`Prepared`]). With `rederived`, every event is
/// compared byte for byte with the canonical encoding its command re-derives (a [`DeriveJob`]),
/// which is a check of its canonical form too, so it is not re-encoded here as well.
fn prepare(
    pos: u64,
    bytes: Vec<u8>,
    claimed: Option<Digest>,
    rederived: bool,
) -> Result<Prepared, VerifyFailure> {
    let hash = Digest::of(&bytes);
    let fail = |reason: String| VerifyFailure::new(pos, Some(hash), reason);
    if bytes.len() > MAX_EVENT_BYTES {
        return Err(fail(format!("event is {} bytes, the limit is {MAX_EVENT_BYTES}", bytes.len())));
    }
    let leaf = merkle::leaf_hash(&bytes);
    let rec = if rederived {
        RecordedEvent::decode_unchecked_hashed(bytes, hash)
    } else {
        RecordedEvent::decode_hashed(bytes, hash)
    }
    .map_err(fail)?;
    if let Some(c) = claimed {
        if c != hash {
            return Err(fail(format!("the event's bytes hash to {hash}, but {c} was recorded for it")));
        }
    }
    let command = match &rec.event.cause {
        Cause::Command(env) => {
            Some(SignedCommand::parse(env.clone()).map_err(|e| fail(format!("embedded command: {e}")))?)
        }
        Cause::Event(_) => None,
    };
    Ok(Prepared { pos, rec, command, leaf })
}

/// A deferred signature check: the first event of a command run.
struct SigJob {
    pos: u64,
    hash: Digest,
    key: Signer,
    principal: String,
    command: Arc<SignedCommand>,
}

/// The key a signature is checked with: with its table of multiples once it has signed
/// [`TABLE_AFTER`] commands (the same verdicts, faster; see [`KeyTable`]).
#[derive(Clone)]
enum Signer {
    Key(PublicKey),
    Table(Arc<KeyTable>),
}

/// A key's table is built when it has signed this many commands: it is paid back after about
/// 75 checks (each saves about a third of 32 µs): a key that signs fewer commands costs
/// nothing more, and any other at most the table's 0.75 ms.
const TABLE_AFTER: u32 = 64;

/// How often each key has signed so far, and its table once built.
#[derive(Clone, Default)]
struct Signers(HashMap<[u8; 32], (u32, Option<Arc<KeyTable>>)>);

impl Signers {
    fn signer(&mut self, key: PublicKey) -> Signer {
        let (count, table) = self.0.entry(*key.as_bytes()).or_default();
        *count = count.saturating_add(1);
        if table.is_none() && *count >= TABLE_AFTER {
            *table = Some(Arc::new(KeyTable::new(&key)));
        }
        table.as_ref().map_or(Signer::Key(key), |t| Signer::Table(Arc::clone(t)))
    }
}

impl SigJob {
    fn check(&self) -> Result<(), VerifyFailure> {
        let (msg, sig) = (self.command.signed_bytes(), self.command.signature());
        let valid = match &self.key {
            Signer::Key(key) => key.verify_strict(&msg, sig),
            Signer::Table(table) => table.verify_strict(&msg, sig),
        };
        if valid {
            Ok(())
        } else {
            Err(VerifyFailure::new(
                self.pos,
                Some(self.hash),
                signature_invalid(&self.command, &self.principal).to_string(),
            ))
        }
    }
}

/// The failure at the earliest position, if any (the first of equals).
fn earliest(failures: impl Iterator<Item = VerifyFailure>) -> Result<(), VerifyFailure> {
    match failures.reduce(|a, b| if b.seq < a.seq { b } else { a }) {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

/// Events are verified in chunks of this many. The chain, trust and re-derivation checks
/// run in order on one thread; meanwhile the other cores check the previous chunk's
/// signatures and re-derived events and decode the next chunk, and the folding thread joins
/// them when it is done (see [`verify_entries_with`]).
const CHUNK: usize = 4096;

/// One entry to verify: `(position, bytes, claimed hash)`.
pub type Entry = (u64, Vec<u8>, Option<Digest>);

/// Verifies a sequence of entries from genesis on with `verifier`, using every core. Reports
/// the same first failure as feeding them to [`Verifier::push`] one by one.
pub fn verify_entries<D, I>(verifier: Verifier<D>, entries: I) -> Result<VerifySummary, VerifyFailure>
where
    D: Domain,
    I: IntoIterator<Item = Result<Entry, VerifyFailure>>,
{
    verify_entries_with(verifier, entries, |_| Ok(()))?.finish()
}

/// Up to [`CHUNK`] entries, and the read error that ended them, if any (nothing is read after
/// it).
#[derive(Default)]
struct Chunk<T> {
    items: Vec<T>,
    error: Option<VerifyFailure>,
}

fn read_chunk(entries: &mut impl Iterator<Item = Result<Entry, VerifyFailure>>) -> Chunk<Entry> {
    let mut chunk = Chunk { items: Vec::with_capacity(CHUNK), error: None };
    for item in entries.by_ref() {
        match item {
            Ok(e) => chunk.items.push(e),
            Err(f) => {
                chunk.error = Some(f);
                break;
            }
        }
        if chunk.items.len() == CHUNK {
            break;
        }
    }
    chunk
}

/// Work that needs no state, done on every core beside the fold.
enum Task {
    /// A deferred check of the chunk folded before.
    Check(Job),
    /// Decoding an entry of the chunk to fold next (whether the verifier re-derives); the
    /// event keeps the entry's bytes.
    Prepare(Entry, bool),
}

enum Done {
    Checked(Result<(), VerifyFailure>),
    Prepared(Result<Box<Prepared>, VerifyFailure>),
}

impl Task {
    fn run(self) -> Done {
        match self {
            Task::Check(job) => Done::Checked(job.check()),
            Task::Prepare((pos, bytes, claimed), rederived) => {
                Done::Prepared(prepare(pos, bytes, claimed, rederived).map(Box::new))
            }
        }
    }
}

/// A pipeline of three stages over chunks of entries: while chunk `i` is folded in order
/// (with `after_chunk` after it, then chunk `i + 2` read), the other cores check the
/// signatures and re-derived events of chunk `i - 1` and decode chunk `i + 1`; the folding
/// thread joins them once done. Every failure found in a round is gathered, with the checks of
/// the chunk just folded, and the earliest is reported: a deferred check concerns events
/// before any failure of a later chunk, so the report is the one of folding event by event.
fn verify_entries_with<D, I>(
    mut v: Verifier<D>,
    entries: I,
    mut after_chunk: impl FnMut(&mut Verifier<D>) -> Result<(), VerifyFailure>,
) -> Result<Verifier<D>, VerifyFailure>
where
    D: Domain,
    I: IntoIterator<Item = Result<Entry, VerifyFailure>>,
{
    let mut entries = entries.into_iter();
    let rederived = v.rederive;
    let first = read_chunk(&mut entries);
    let mut next = if first.error.is_none() && first.items.len() == CHUNK {
        read_chunk(&mut entries)
    } else {
        Chunk::default()
    };
    let mut folding = Chunk {
        items: par_map_owned(first.items, |(pos, bytes, claimed)| {
            prepare(pos, bytes, claimed, rederived).map(Box::new)
        }),
        error: first.error,
    };
    // The deferred checks of the chunk folded last.
    let mut unchecked: Vec<Job> = Vec::new();
    loop {
        if folding.items.is_empty() && folding.error.is_none() {
            earliest(par_map_owned(unchecked, Job::check).into_iter().filter_map(Result::err))?;
            return Ok(v);
        }
        let read_more = next.error.is_none() && next.items.len() == CHUNK;
        let preparing = next.items.len();
        let tasks: Vec<Task> = std::mem::take(&mut unchecked)
            .into_iter()
            .map(Task::Check)
            .chain(std::mem::take(&mut next.items).into_iter().map(|e| Task::Prepare(e, rederived)))
            .collect();
        let (done, (jobs, failure, after_next)) = crate::par::overlap_owned(tasks, Task::run, || {
            let mut jobs = Vec::new();
            let mut failure = None;
            for p in folding.items {
                if let Err(f) = p.and_then(|p| v.push_prepared(*p, &mut jobs)) {
                    v.flush_open_run(&mut jobs);
                    failure = Some(f);
                    break;
                }
            }
            let failure = failure.or(folding.error).or_else(|| after_chunk(&mut v).err());
            let after_next =
                if read_more && failure.is_none() { read_chunk(&mut entries) } else { Chunk::default() };
            (jobs, failure, after_next)
        });
        let mut checked = Vec::with_capacity(unchecked.len());
        let mut prepared = Vec::with_capacity(preparing);
        for d in done {
            match d {
                Done::Checked(r) => checked.push(r),
                Done::Prepared(p) => prepared.push(p),
            }
        }
        if let Some(f) = failure {
            let now = par_map_owned(jobs, Job::check);
            let all = checked.into_iter().chain(now).filter_map(Result::err).chain([f]);
            return Err(earliest(all).expect_err("a failure was found"));
        }
        earliest(checked.into_iter().filter_map(Result::err))?;
        unchecked = jobs;
        folding = Chunk { items: prepared, error: next.error };
        next = after_next;
    }
}

/// Compares `index`, the index of the snapshot at `path` taken after event `seq`, whose
/// sections were found to hold the state the events give after that event, with the index
/// that state and the store's events give: the state restored by `pristine` (the domain
/// before genesis) from the snapshot's (verified) domain section, decoded from the file as it
/// is read, as opening does, rather than held beside the state.
fn check_snapshot_index<D: Domain>(
    store: &Store,
    pristine: &D,
    seq: u64,
    path: &std::path::Path,
    index: &[u8],
) -> Result<(), VerifyFailure> {
    let fail = |m: String| VerifyFailure::new(seq, None, m);
    let unreadable = |e: String| fail(format!("the snapshot `{}` cannot be read again: {e}", path.display()));
    let file = snapshot::SnapshotFile::open(path).map_err(unreadable)?;
    let Some(state) = pristine.restore(file.section(), seq) else {
        return Err(unreadable("its domain section is not restored".into()));
    };
    if state.snapshot_index(store) != index {
        return Err(fail(format!(
            "the snapshot `{}` does not hold the index the events give after this event: it was altered or written by a faulty build; remove it (opening then folds from an older snapshot or from genesis)",
            path.display()
        )));
    }
    Ok(())
}

/// Verifies a whole store from its raw event bytes with `verifier` (re-deriving with its
/// domain), then checks that the events reach the head the last commit recorded (so a store
/// that lost its last events does not verify), that every stored Merkle tree node is the one
/// the events give and no other is stored, and that the commit journal lost nothing.
pub fn verify_store<D: Domain>(store: &Store, verifier: Verifier<D>) -> Result<VerifySummary, VerifyFailure> {
    verify_store_with_domain(store, verifier).map(|(summary, _)| summary)
}

/// Like [`verify_store`], and also gives the domain state the verified events fold to.
pub fn verify_store_with_domain<D: Domain>(
    store: &Store,
    mut verifier: Verifier<D>,
) -> Result<(VerifySummary, D), VerifyFailure> {
    let entries = store.raw().map(|item| {
        item.map(|(seq, stored_hash, bytes)| (seq, bytes, Some(stored_hash))).map_err(|e| {
            // Damage the store names (an index entry with impossible bounds) is reported
            // at its event.
            let seq = match &e {
                crate::StoreError::Corrupt { seq, .. } => *seq,
                _ => 0,
            };
            VerifyFailure::new(seq, None, format!("cannot read stored event: {e}"))
        })
    });
    verifier.completed = Some(Vec::new());
    verifier.snapshots = snapshot::list(store.dir()).into_iter().collect();
    verifier.runs = Some(crate::event_index::RunCheck::listed(store.dir()));
    let pristine = verifier.domain.clone();
    // A store an older build wrote (opened read-only, so not converted) may still hold nodes
    // of the levels no longer kept: each must be the node its events give.
    let has_unkept = store.unkept_tree_nodes().next().is_some();
    let mut v = verify_entries_with(verifier, entries, |v| {
        for (level, index, want) in v.completed.as_mut().map(std::mem::take).unwrap_or_default() {
            // The node covers leaves up to this one; a wrong node is reported there.
            let last = (index + 1).saturating_mul(1 << level) - 1;
            if level < STORED_LEVELS_FROM {
                // Not kept: the store computes it from these very events.
                let stored = if has_unkept {
                    store
                        .unkept_tree_node(level, index)
                        .map_err(|e| VerifyFailure::new(last, None, e.to_string()))?
                } else {
                    None
                };
                if stored.is_some_and(|stored| stored != want) {
                    return Err(VerifyFailure::new(
                        last,
                        None,
                        format!(
                            "the stored Merkle tree node (level {level}, index {index}) is not the one the events give"
                        ),
                    ));
                }
                continue;
            }
            let stored = store.node(level, index).map_err(|e| VerifyFailure::new(last, None, e))?;
            if stored != want {
                return Err(VerifyFailure::new(
                    last,
                    None,
                    format!(
                        "the stored Merkle tree node (level {level}, index {index}) is {}, but the events give {}",
                        STANDARD.encode(stored),
                        STANDARD.encode(want)
                    ),
                ));
            }
        }
        Ok(())
    })?;
    let next = v.next_seq;
    let anchor = store.anchor().map_err(|e| VerifyFailure::new(next, None, e.to_string()))?;
    let indexed = std::mem::take(&mut v.indexed);
    let runs = v.runs.take().unwrap_or_default();
    let (mut summary, domain) = v.finish_with_domain()?;
    for (seq, path, index) in indexed {
        check_snapshot_index(store, &pristine, seq, &path, &index)?;
    }
    summary.index_runs =
        runs.finish(store.dir(), store).map_err(|(seq, reason)| VerifyFailure::new(seq, None, reason))?;
    if let Some((seq, hash)) = anchor {
        let head = summary.head.map(|h| (h.seq, h.hash));
        if head != Some((seq, hash)) {
            return Err(VerifyFailure::new(
                head.map_or(0, |h| h.0 + 1).min(seq),
                None,
                format!(
                    "the last commit ended at event {seq} ({hash}), but the stored events {}: events were lost or rewritten",
                    head.map_or("are empty".into(), |h| format!("end at event {} ({})", h.0, h.1))
                ),
            ));
        }
    } else if let Some(head) = summary.head {
        // Every commit writes the anchor: sled lost it (its log cut short where a message no
        // longer matched its checksum), and what else it lost no one can tell.
        return Err(VerifyFailure::new(
            head.seq,
            None,
            format!(
                "sled (`{}`) holds no record of the last commit, though the store holds events up to {}: sled lost part of its log",
                store.dir().join("db").display(),
                head.seq
            ),
        ));
    }
    // Each node of the unkept levels the events complete was compared above; one they do not
    // complete belongs to no event.
    for node in store.unkept_tree_nodes() {
        let (level, index, _) = node.map_err(|e| VerifyFailure::new(next, None, e.to_string()))?;
        let end = (index + 1).saturating_mul(1 << level);
        if end > next {
            return Err(VerifyFailure::new(
                next,
                None,
                format!(
                    "the store holds a Merkle tree node (level {level}, index {index}) over events it does not hold"
                ),
            ));
        }
    }
    store.check_sled_records().map_err(|(seq, reason)| VerifyFailure::new(seq, None, reason))?;
    let expected_nodes = crate::store::stored_tree_nodes(next);
    let stored_nodes = store.tree_nodes();
    if stored_nodes != expected_nodes {
        return Err(VerifyFailure::new(
            next,
            None,
            format!(
                "the store holds {stored_nodes} Merkle tree nodes, but a tree of {next} events has {expected_nodes}: nodes of other events were left or added"
            ),
        ));
    }
    if let Some(damage) = store.damage() {
        return Err(VerifyFailure::new(next, None, damage.to_string()));
    }
    Ok((summary, domain))
}
