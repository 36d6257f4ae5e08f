//! Verification: recompute every hash, link, sequence number, signature and key validity from
//! the event bytes alone, trusting no index.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use crate::canonical::Timestamp;
use crate::command::SignedCommand;
use crate::digest::Digest;
use crate::error::{Refusal, VerifyFailure};
use crate::event::{Cause, Event, EventDraft, RecordedEvent, FORMAT_VERSION, MAX_EVENT_BYTES};
use crate::keys::PublicKey;
use crate::par::par_map;
use crate::store::{Head, Store};
use crate::trust::{kinds, signature_invalid, TrustState};

/// What a successful verification saw.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VerifySummary {
    /// Events checked.
    pub events: u64,
    /// The last event.
    pub head: Option<Head>,
    /// The ledger id from genesis.
    pub ledger_id: Option<Uuid>,
    /// Distinct signed commands (one signature check each).
    pub commands: u64,
    /// Events caused by another event rather than a command.
    pub system_events: u64,
}

/// The command whose events are being read (a command's events are contiguous).
#[derive(Clone)]
struct Run {
    id: Uuid,
    digest: Digest,
    signature: Vec<u8>,
    /// For trust commands: the events the ledger's own decide step produces for it.
    expected: Option<Vec<EventDraft>>,
    seen: usize,
}

/// Checks events one at a time, in order. Feed it with [`Verifier::push`], then call
/// [`Verifier::finish`].
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
pub struct Verifier {
    trust: TrustState,
    next_seq: u64,
    prev: Option<(Digest, Timestamp)>,
    seen_hashes: HashSet<Digest>,
    commands: HashMap<Uuid, u64>,
    run: Option<Run>,
    summary: VerifySummary,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

impl Verifier {
    /// A verifier expecting genesis first.
    pub fn new() -> Verifier {
        Verifier {
            trust: TrustState::default(),
            next_seq: 0,
            prev: None,
            seen_hashes: HashSet::new(),
            commands: HashMap::new(),
            run: None,
            summary: VerifySummary { events: 0, head: None, ledger_id: None, commands: 0, system_events: 0 },
        }
    }

    /// Checks the next event. `pos` is its position (the store key or the export line, from 0);
    /// `claimed` is a hash recorded for it elsewhere (the store keeps one beside each event; an
    /// export has the next event's `prev`), used to point at the damaged event rather than its
    /// successor.
    pub fn push(&mut self, pos: u64, bytes: &[u8], claimed: Option<Digest>) -> Result<(), VerifyFailure> {
        let prepared = prepare(pos, bytes, claimed)?;
        let mut jobs = Vec::new();
        self.push_prepared(prepared, &mut jobs)?;
        jobs.iter().try_for_each(SigJob::check)
    }

    /// The sequential part of verification, for an event whose bytes [`prepare`] checked.
    /// Signature checks are appended to `jobs` instead of being done here, so that they can run
    /// in parallel; the caller must run them (see [`verify_entries`]).
    fn push_prepared(&mut self, p: Prepared, jobs: &mut Vec<SigJob>) -> Result<(), VerifyFailure> {
        let Prepared { pos, rec, command } = p;
        let hash = rec.hash;
        let fail = |reason: String| VerifyFailure { seq: pos, hash: Some(hash), reason };
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
        self.check_cause(&rec, command, jobs).map_err(fail)?;
        self.trust.apply(&rec).map_err(fail)?;
        if pos == 0 {
            self.summary.ledger_id = self.trust.ledger_id();
        }
        self.seen_hashes.insert(hash);
        self.prev = Some((hash, ev.recorded_at));
        self.next_seq += 1;
        self.summary.events += 1;
        self.summary.head = Some(Head { seq: ev.seq, hash, recorded_at: ev.recorded_at });
        Ok(())
    }

    fn check_cause(
        &mut self,
        rec: &RecordedEvent,
        command: Option<SignedCommand>,
        jobs: &mut Vec<SigJob>,
    ) -> Result<(), String> {
        let ev = &rec.event;
        let is_trust_event = kinds::EVENTS.contains(&ev.kind.as_str());
        match &ev.cause {
            Cause::Event(h) => {
                self.close_run()?;
                if !self.seen_hashes.contains(h) {
                    return Err(format!("caused by event {h}, which is not an earlier event of this ledger"));
                }
                if is_trust_event {
                    return Err(format!("`{}` must be caused by a signed command", ev.kind));
                }
                self.summary.system_events += 1;
            }
            Cause::Command(_) => {
                let cmd = command.ok_or("embedded command was not prepared")?;
                let continues = self.run.as_ref().is_some_and(|r| r.id == cmd.command().id);
                if continues {
                    let run = self.run.as_mut().expect("checked");
                    if run.digest != cmd.digest() || run.signature != cmd.signature() {
                        return Err(format!(
                            "command `{}` differs from the one in the previous event",
                            cmd.command().id
                        ));
                    }
                } else {
                    self.close_run()?;
                    if let Some(first) = self.commands.get(&cmd.command().id) {
                        return Err(format!(
                            "command id `{}` was already used at event {first} (a replayed or reused command)",
                            cmd.command().id
                        ));
                    }
                    self.start_run(&cmd, ev, rec.hash, jobs)?;
                }
                let run = self.run.as_mut().expect("a run is open");
                if let Some(expected) = &run.expected {
                    let want = expected.get(run.seen).ok_or_else(|| {
                        format!(
                            "command `{}` produced more events than the ledger's rules give",
                            cmd.command().id
                        )
                    })?;
                    if want.kind != ev.kind
                        || want.kind_version != ev.kind_version
                        || want.subject != ev.subject
                        || want.payload != ev.payload
                    {
                        return Err(format!(
                            "`{}` does not match what `{}` decides from the state before it",
                            ev.kind,
                            cmd.command().kind
                        ));
                    }
                } else if is_trust_event {
                    return Err(format!(
                        "`{}` caused by `{}`, which is not a trust command",
                        ev.kind,
                        cmd.command().kind
                    ));
                }
                run.seen += 1;
            }
        }
        Ok(())
    }

    fn start_run(
        &mut self,
        cmd: &SignedCommand,
        ev: &Event,
        hash: Digest,
        jobs: &mut Vec<SigJob>,
    ) -> Result<(), String> {
        let refusal = |r: Refusal| r.to_string();
        if cmd.command().kind == kinds::LEDGER_CREATE {
            if ev.seq != 0 {
                return Err("`ledger.create` may only cause the first event".into());
            }
            self.trust.authenticate_genesis(cmd).map_err(refusal)?;
        } else {
            let key = self.trust.signing_key(cmd).map_err(|r| r.to_string())?;
            jobs.push(SigJob {
                pos: ev.seq,
                hash,
                key: key.public_key,
                principal: key.principal.clone(),
                command: cmd.clone(),
            });
            let actor = self.trust.check_signer(cmd, key).map_err(|r| r.to_string())?;
            self.trust.authorize(&actor, &cmd.command().kind).map_err(|r| r.to_string())?;
        }
        let expected = self.trust.decide(cmd).transpose().map_err(refusal)?;
        self.commands.insert(cmd.command().id, ev.seq);
        self.summary.commands += 1;
        self.run = Some(Run {
            id: cmd.command().id,
            digest: cmd.digest(),
            signature: cmd.signature().to_vec(),
            expected,
            seen: 0,
        });
        Ok(())
    }

    fn close_run(&mut self) -> Result<(), String> {
        if let Some(run) = self.run.take() {
            if let Some(expected) = run.expected {
                if run.seen != expected.len() {
                    return Err(format!(
                        "command `{}` is missing {} of its events",
                        run.id,
                        expected.len() - run.seen
                    ));
                }
            }
        }
        Ok(())
    }

    /// Ends verification.
    pub fn finish(mut self) -> Result<VerifySummary, VerifyFailure> {
        let seq = self.next_seq.saturating_sub(1);
        let hash = self.prev.map(|p| p.0);
        self.close_run().map_err(|reason| VerifyFailure { seq, hash, reason })?;
        Ok(self.summary)
    }
}

/// An event whose bytes have been checked on their own (size, canonical form, claimed hash)
/// and whose embedded command has been parsed: the part of verification that needs no state,
/// done in parallel.
pub struct Prepared {
    pos: u64,
    rec: RecordedEvent,
    command: Option<SignedCommand>,
}

/// Checks one event's bytes on their own (see [`Prepared`]).
pub fn prepare(pos: u64, bytes: &[u8], claimed: Option<Digest>) -> Result<Prepared, VerifyFailure> {
    let hash = Digest::of(bytes);
    let fail = |reason: String| VerifyFailure { seq: pos, hash: Some(hash), reason };
    if bytes.len() > MAX_EVENT_BYTES {
        return Err(fail(format!("event is {} bytes, the limit is {MAX_EVENT_BYTES}", bytes.len())));
    }
    let rec = RecordedEvent::decode(bytes.to_vec()).map_err(fail)?;
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
    Ok(Prepared { pos, rec, command })
}

/// A deferred signature check: the first event of a command run.
struct SigJob {
    pos: u64,
    hash: Digest,
    key: PublicKey,
    principal: String,
    command: SignedCommand,
}

impl SigJob {
    fn check(&self) -> Result<(), VerifyFailure> {
        if self.key.verify_strict(&self.command.signed_bytes(), self.command.signature()) {
            Ok(())
        } else {
            Err(VerifyFailure {
                seq: self.pos,
                hash: Some(self.hash),
                reason: signature_invalid(&self.command, &self.principal).to_string(),
            })
        }
    }
}

/// Events are verified in chunks of this many: decoding and signature checks run on every
/// core, the chain and trust checks in between run in order.
const CHUNK: usize = 4096;

/// Verifies a sequence of `(position, bytes, claimed hash)` entries from genesis on, using
/// every core. Reports the same first failure as feeding them to [`Verifier::push`] one by one.
pub fn verify_entries<I>(entries: I) -> Result<VerifySummary, VerifyFailure>
where
    I: IntoIterator<Item = Result<(u64, Vec<u8>, Option<Digest>), VerifyFailure>>,
{
    verify_entries_with(Verifier::new(), entries)?.finish()
}

fn verify_entries_with<I>(mut v: Verifier, entries: I) -> Result<Verifier, VerifyFailure>
where
    I: IntoIterator<Item = Result<(u64, Vec<u8>, Option<Digest>), VerifyFailure>>,
{
    let mut entries = entries.into_iter();
    loop {
        let mut chunk = Vec::with_capacity(CHUNK);
        let mut read_error = None;
        for item in entries.by_ref() {
            match item {
                Ok(e) => chunk.push(e),
                Err(f) => {
                    read_error = Some(f);
                    break;
                }
            }
            if chunk.len() == CHUNK {
                break;
            }
        }
        if chunk.is_empty() && read_error.is_none() {
            return Ok(v);
        }
        let prepared = par_map(&chunk, |(pos, bytes, claimed)| prepare(*pos, bytes, *claimed));
        drop(chunk);
        let mut jobs = Vec::new();
        let mut first_failure = None;
        for p in prepared {
            if let Err(f) = p.and_then(|p| v.push_prepared(p, &mut jobs)) {
                first_failure = Some(f);
                break;
            }
        }
        // Every deferred signature belongs to an event before the first other failure.
        let sig_failure = par_map(&jobs, SigJob::check).into_iter().find_map(Result::err);
        if let Some(f) = sig_failure.or(first_failure).or(read_error) {
            return Err(f);
        }
    }
}

/// Verifies a whole store from its raw event bytes, then checks that they reach the head the
/// last commit recorded (so a store that lost its last events does not verify).
pub fn verify_store(store: &Store) -> Result<VerifySummary, VerifyFailure> {
    let entries = store.raw().map(|item| {
        item.map(|(seq, stored_hash, bytes)| (seq, bytes, Some(stored_hash))).map_err(|e| VerifyFailure {
            seq: 0,
            hash: None,
            reason: format!("cannot read stored event: {e}"),
        })
    });
    let v = verify_entries_with(Verifier::new(), entries)?;
    let next = v.next_seq;
    let anchor =
        store.anchor().map_err(|e| VerifyFailure { seq: next, hash: None, reason: e.to_string() })?;
    let summary = v.finish()?;
    if let Some((seq, hash)) = anchor {
        let head = summary.head.map(|h| (h.seq, h.hash));
        if head != Some((seq, hash)) {
            return Err(VerifyFailure {
                seq: head.map_or(0, |h| h.0 + 1).min(seq),
                hash: None,
                reason: format!(
                    "the last commit ended at event {seq} ({hash}), but the stored events {}: events were lost or rewritten",
                    head.map_or("are empty".into(), |h| format!("end at event {} ({})", h.0, h.1))
                ),
            });
        }
    }
    Ok(summary)
}
