//! Where commands go and questions are answered: a ledger directory opened in this process
//! ([`Backend::Local`]), or a `pledge serve` reached over HTTP ([`Backend::Remote`]). Both take
//! the same signed commands through the same decide step and answer the same typed questions.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ledger::canonical::{SystemClock, Timestamp};
use ledger::dsse::Envelope;
use ledger::keys::SecretKey;
use ledger::{ExpectedHead, Ledger, RecordedEvent, Store};
use serde_json::Value;

use super::clock::{new_command, Reproducible};
use super::failure::{Failure, INTEGRITY, INVALID_INPUT, REJECTED};
use super::keystore;
use super::query::{Keys, LedgerInfo, Query, QueryError, SnapshotIndex, StateView, View};
use super::remote::Client;
use crate::domain::{DomainCommand, PledgeDomain};

/// Who signs: a key name and the private key it names.
#[derive(Debug)]
pub struct Signer {
    /// The key's name (and, once enrolled, its principal's).
    pub name: String,
    /// The private key.
    pub key: SecretKey,
}

impl Signer {
    /// The key `name` from the key store in `home`.
    pub fn load(home: &Path, name: &str) -> Result<Signer, Failure> {
        Ok(Signer { name: name.to_string(), key: keystore::load(home, name)? })
    }

    /// Checks, before any long work, that this key may issue `kind` in the ledger whose trust
    /// state is `trust`: enrolled, not revoked, and allowed by the policy's permission table
    /// (the ledger's own [`ledger::TrustState::authorize`]). The ledger checks it all again
    /// when the command arrives.
    pub fn may_issue(&self, trust: &ledger::TrustState, kind: &str) -> Result<(), Failure> {
        let rec = trust.key(&self.key.public().key_id()).ok_or_else(|| self.not_enrolled())?;
        if let Some(at) = rec.revoked_seq {
            return Err(Failure::rejected(
                "key.revoked",
                format!("key `{}` of `{}` was revoked at event {at}", self.name, rec.principal),
            ));
        }
        let actor = ledger::Actor {
            principal: rec.principal.clone(),
            key_id: rec.key_id,
            roles: trust.roles_of(&rec.principal),
        };
        trust.authorize(&actor, kind).map_err(|r| Failure::rejected(&r.rule, r.message))
    }

    /// The refusal of a key the ledger does not know, with how to enroll it.
    pub fn not_enrolled(&self) -> Failure {
        Failure::new(REJECTED, format!("key `{}` is not enrolled in this ledger", self.name)).hint(format!(
            "an admin runs `pledge keys enroll {} --public-key {}`",
            self.name,
            self.key.public()
        ))
    }
}

/// A ledger directory, or a server.
#[derive(Debug)]
pub enum Backend {
    /// A ledger directory opened by this process.
    Local(PathBuf),
    /// `pledge serve` at an address.
    Remote(Box<Client>),
}

/// Fails with exit 2 unless `dir` holds a ledger, so that a mistyped path is never created.
pub fn require_ledger(dir: &Path) -> Result<(), Failure> {
    if dir.join("db").exists() {
        return Ok(());
    }
    Err(Failure::new(INVALID_INPUT, format!("no ledger at `{}`", dir.display()))
        .hint("create one with `pledge init`, or pass `--ledger PATH` / set PLEDGE_LEDGER"))
}

/// Opens (or creates) the ledger in `dir` with the session's clock (see [`Reproducible`]),
/// from its newest snapshot ([`Ledger::open_with_snapshots`]).
pub fn open_ledger(dir: &Path) -> Result<Ledger<PledgeDomain>, Failure> {
    Ok(open_ledger_reproducible(dir)?.0)
}

/// [`open_ledger`], and the reproducible clock when `PLEDGE_FIXED_TIME` is set.
pub fn open_ledger_reproducible(
    dir: &Path,
) -> Result<(Ledger<PledgeDomain>, Option<Arc<Reproducible>>), Failure> {
    open_with(dir, |d, c, p| Ledger::open_with_snapshots(d, c, p))
}

/// [`open_ledger_reproducible`] for a process that appends a few commands and ends: the
/// experiments and runs are read from the snapshot as the commands and events read them
/// ([`Ledger::open_to_write`]).
fn open_ledger_to_write(dir: &Path) -> Result<(Ledger<PledgeDomain>, Option<Arc<Reproducible>>), Failure> {
    open_with(dir, |d, c, p| Ledger::open_to_write(d, c, p))
}

type Opener = fn(
    &Path,
    Arc<dyn ledger::canonical::Clock>,
    PledgeDomain,
) -> Result<Ledger<PledgeDomain>, ledger::StoreError>;

fn open_with(dir: &Path, open: Opener) -> Result<(Ledger<PledgeDomain>, Option<Arc<Reproducible>>), Failure> {
    match Reproducible::from_env()? {
        None => Ok((open(dir, Arc::new(SystemClock), PledgeDomain::default())?, None)),
        Some(r) => {
            let l = open(dir, r.clone(), PledgeDomain::default())?;
            r.restart(l.store().head().map(|h| h.recorded_at));
            Ok((l, Some(r)))
        }
    }
}

/// Answers `q`, a question that reads no events, from the snapshot taken at the committed
/// head of the ledger in `dir` without opening the store, decoding only the `parts` of the
/// read models it reads ([`ledger::snapshot::at_committed_head`]). `None` when there is no
/// such snapshot or its domain section does not decode: the caller opens the ledger.
pub fn ask_at_head<Q: Query>(
    dir: &Path,
    q: &Q,
    parts: projections::Parts,
) -> Result<Option<Result<Q::Answer, QueryError>>, Failure> {
    let Some(at) = ledger::snapshot::at_committed_head(dir)? else { return Ok(None) };
    Ok(at.read(|trust, file| {
        let domain = domain_parts(file, parts)?;
        let view = StateView { trust, state: &domain.state, policy: domain.policy.as_deref() };
        q.answer_state(&view)
    }))
}

/// The `parts` of the domain section of `file` (and the core), as the domain; `None`, logged,
/// when they do not decode.
fn domain_parts(
    file: &mut ledger::snapshot::SnapshotFile,
    parts: projections::Parts,
) -> Option<PledgeDomain> {
    let seq = file.seq;
    let decoded = file
        .domain()
        .map_err(|e| e.to_string())
        .and_then(|section| projections::State::from_snapshot_parts(section, parts))
        .and_then(|state| PledgeDomain::from_state(state, seq));
    decoded.map_err(|reason| tracing::debug!(seq, %reason, "snapshot at the head not used")).ok()
}

/// Answers `q`, a question that reads no events ([`Query::PARTS`]), when no snapshot is of the
/// head (after a write, say): from the newest usable snapshot restored on demand
/// ([`Ledger::open_to_read`]) and the events after it, so that only the blocks of the read
/// models those events and the question read are decoded. A question answered from what serves
/// each model ([`Query::READS_SERVING`]) takes the tables kept in that snapshot's index and
/// derives again those of the models whose blocks were read since
/// ([`projections::query::serving_since`]); any other reads the state restored on demand. No
/// snapshot is written for a few events folded (a write leaves one every
/// [`ledger::snapshot::EVERY`] events); a ledger folded from genesis, whose state is then
/// whole, leaves one of its head, as an open whole does. `None`, with the ledger closed again,
/// when a block read on demand is damaged: the caller opens the ledger whole, which skips that
/// snapshot.
pub fn ask_since_snapshot<Q: Query>(
    dir: &Path,
    q: &Q,
) -> Result<Option<Result<Q::Answer, QueryError>>, Failure> {
    use ledger::Domain;
    let (mut l, _) = open_with(dir, |d, c, p| Ledger::open_to_read(d, c, p))?;
    let from = l.snapshot_seq();
    let answer = from
        .filter(|_| Q::READS_SERVING)
        .and_then(|seq| serving_since(&l, seq))
        .and_then(|serving| q.answer_from_serving(&serving))
        .or_else(|| {
            let domain = l.domain();
            q.answer_state(&StateView {
                trust: l.trust(),
                state: &domain.state,
                policy: domain.policy.as_deref(),
            })
        });
    if let Some(reason) = l.domain().damage() {
        tracing::warn!(%reason, "a block of the snapshot read on demand is damaged; opening the ledger whole");
        l.close();
        return Ok(None);
    }
    if from.is_none() && l.store().len() >= ledger::snapshot::EVERY {
        l.snapshot_if_due(1);
    }
    l.close();
    Ok(answer)
}

/// What serves each model at the head of `l`, restored on demand from its snapshot of event
/// `seq`: that snapshot's tables, with those of the models read since derived again. `None`
/// when the snapshot keeps no index of this layout whose digest matches.
fn serving_since(l: &Ledger<PledgeDomain>, seq: u64) -> Option<projections::query::Serving> {
    let id = l.store().get(seq).ok()??.hash;
    let (_, index) = ledger::snapshot::index_at(l.store().dir(), seq, id)?;
    let index = SnapshotIndex::decode(&index)
        .map_err(|reason| tracing::debug!(seq, %reason, "the snapshot's serving tables not used"))
        .ok()?;
    Some(projections::query::serving_since(&l.domain().state, &index.serving))
}

/// Whether the trust state at the head of the ledger in `dir` is fewer than
/// [`ledger::snapshot::EVERY`] events from the newest snapshot, or from genesis when there is
/// none, as the journal names the head (without opening the store). A journal that names no
/// head (a new ledger, or one that needs repair, which the store's open reports) counts as
/// short.
fn trust_fold_is_short(dir: &Path) -> Result<bool, Failure> {
    let (lock, head) = ledger::store::committed_head(dir)?;
    drop(lock);
    let Some((head, _)) = head else { return Ok(true) };
    let from = ledger::snapshot::list(dir).first().map_or(0, |(seq, _)| seq + 1);
    Ok((head + 1).saturating_sub(from) < ledger::snapshot::EVERY)
}

/// Answers `q`, a question that reads events and the `parts` of the read models at the head,
/// from the store of the ledger in `dir` and the snapshot taken at its head, decoding only
/// those parts of it. `None`, with the store closed again, when the newest snapshot is not of
/// the head (no store is opened when the journal already says so), the store is damaged, or
/// the snapshot is not intact or does not decode: the caller opens the ledger, which folds
/// what the snapshot lacks or reports the damage.
pub fn ask_with_events_at_head<Q: Query>(
    dir: &Path,
    q: &Q,
    parts: projections::Parts,
) -> Result<Option<Result<Q::Answer, QueryError>>, Failure> {
    let newest = ledger::snapshot::list(dir).first().map(|(seq, _)| *seq);
    let (lock, head) = ledger::store::committed_head(dir)?;
    drop(lock);
    if newest.is_none() || head.map(|(seq, _)| seq) != newest {
        return Ok(None);
    }
    let store = Store::open(dir)?;
    let Some(head) = store.head().filter(|_| store.damage().is_none()) else { return Ok(None) };
    let Some((path, mut file)) = ledger::snapshot::usable(&store, |s| s.seq == head.seq).next() else {
        return Ok(None);
    };
    let trust = match ledger::TrustState::from_snapshot(&file.trust) {
        Ok(trust) => trust,
        Err(reason) => {
            tracing::debug!(seq = head.seq, %reason, "snapshot at the head not used");
            return Ok(None);
        }
    };
    let Some(domain) = domain_parts(&mut file, parts) else { return Ok(None) };
    let answer = q.answer(&View::new(&store, &trust, &domain.state, domain.policy.as_deref()));
    if Q::READS_SNAPSHOT_INDEX
        && !index_is_current(&store, head.seq, head.hash)
        && store.check_writable().is_ok()
    {
        add_index(&store, &domain, &path);
    }
    Ok(Some(answer))
}

/// Whether the snapshot of event `seq` (id `id`) holds an index of the layout this build reads
/// ([`SnapshotIndex::is_current`]), vouched for by its digest.
fn index_is_current(store: &Store, seq: u64, id: ledger::Digest) -> bool {
    ledger::snapshot::index_at(store.dir(), seq, id)
        .is_some_and(|(_, index)| SnapshotIndex::is_current(&index))
}

/// Writes the snapshot at `path` again with the index its state and the events give (a
/// snapshot written before snapshots held one, or held one of this layout), so that the next
/// question is answered from it ([`ask_from_snapshot_index`]). `domain` holds the parts of the
/// snapshot's read models the index reads (all but the versions' details:
/// [`projections::query::timelines`], [`projections::query::serving`]); the trust and domain
/// sections are kept byte for byte. A failure is logged: the snapshot stays as it was.
fn add_index(store: &Store, domain: &PledgeDomain, path: &Path) {
    use ledger::Domain;
    let written = ledger::snapshot::Snapshot::read(path).and_then(|mut snap| {
        snap.index = domain.snapshot_index(store);
        ledger::snapshot::write(store.dir(), &snap).map_err(|e| e.to_string())
    });
    if let Err(reason) = written {
        tracing::warn!(path = %path.display(), %reason, "cannot add the index to the snapshot");
    }
}

/// Answers `q`, a question with [`Query::READS_SNAPSHOT_INDEX`], from the index kept by the
/// snapshot taken at the committed head of the ledger in `dir` (the models' timelines and what
/// serves each) and the committed events, without opening the store or decoding the read
/// models. `None` when the committed events cannot be read without the store, or no snapshot
/// of exactly that head holds an index whose digest matches and that decodes (one of an
/// earlier layout does not): the caller answers otherwise.
pub fn ask_from_snapshot_index<Q: Query>(
    dir: &Path,
    q: &Q,
) -> Result<Option<Result<Q::Answer, QueryError>>, Failure> {
    let Some(events) = ledger::store::CommittedEvents::open(dir)? else { return Ok(None) };
    let (seq, id) = events.head();
    let Some((trust, index)) = ledger::snapshot::index_at(dir, seq, id) else { return Ok(None) };
    let decoded = ledger::TrustState::from_snapshot(&trust)
        .and_then(|trust| Ok((trust, SnapshotIndex::decode(&index)?)));
    match decoded {
        Ok((trust, index)) => Ok(q.answer_from_index(&events, &trust, &index)),
        Err(reason) => {
            tracing::debug!(seq, %reason, "snapshot index at the head not used");
            Ok(None)
        }
    }
}

/// Answers `q`, a question with [`Query::READS_EVENT_INDEX`], from the committed events of the
/// ledger in `dir` and the event index's runs, without opening the store; the trust state,
/// when the question needs it, from the snapshot taken at the head (its index section's digest
/// vouches for it). The events after the newest snapshot bound to the chain are checked first,
/// as opening the store from it checks them. `None` when the committed events cannot be read
/// without the store or do not check, the
/// runs leave too many events uncovered ([`ledger::event_index::Reader::open`]), or the
/// question needs a trust state no snapshot of the head gives: the caller answers otherwise.
pub fn ask_from_event_index<Q: Query>(
    dir: &Path,
    q: &Q,
) -> Result<Option<Result<Q::Answer, QueryError>>, Failure> {
    let Some(events) = ledger::store::CommittedEvents::open(dir)? else { return Ok(None) };
    // The events after the newest snapshot bound to this chain are checked as opening the
    // store checks them, so that a damaged ledger is reported by the open, never answered.
    let (seq, id) = events.head();
    let bound = ledger::snapshot::list(dir).into_iter().filter(|(s, _)| *s <= seq).find_map(|(_, path)| {
        let (s, event) = ledger::snapshot::bound_event(&path)?;
        (events.get(s).ok()??.hash == event).then_some((s, event))
    });
    if let Err(e) = events.check_since(bound) {
        tracing::debug!(error = %e, "the events after the newest snapshot do not check; opening the store");
        return Ok(None);
    }
    let Some(index) = ledger::event_index::Reader::open(dir, &events)? else { return Ok(None) };
    let trust = || {
        let (trust, _) = ledger::snapshot::index_at(dir, seq, id)?;
        ledger::TrustState::from_snapshot(&trust)
            .map_err(|reason| tracing::debug!(seq, %reason, "snapshot trust at the head not used"))
            .ok()
    };
    Ok(q.answer_indexed(&events, &index, &trust))
}

/// The events of a server's answer to a command, each checked against its hash.
fn remote_events(answer: &Value) -> Result<Vec<RecordedEvent>, Failure> {
    let mut events = vec![];
    for e in answer["events"].as_array().into_iter().flatten() {
        let bytes = e["canonical"].as_str().unwrap_or("").as_bytes().to_vec();
        let ev = RecordedEvent::decode(bytes).map_err(|m| {
            Failure::new(INTEGRITY, format!("the server sent an event that does not decode: {m}"))
        })?;
        if e["hash"].as_str() != Some(ev.hash.to_string().as_str()) {
            return Err(Failure::new(
                INTEGRITY,
                format!("the server sent event {} with a hash that is not its bytes'", ev.seq()),
            ));
        }
        events.push(ev);
    }
    Ok(events)
}

fn envelope_json(env: &Envelope) -> Result<Value, Failure> {
    serde_json::to_value(env).map_err(Failure::internal)
}

impl Backend {
    /// The ledger directory, or a refusal naming the server for the few use cases that need
    /// the directory itself (model artifacts, exports, replays of the raw log).
    pub fn dir(&self) -> Result<&Path, Failure> {
        match self {
            Backend::Local(dir) => Ok(dir),
            Backend::Remote(client) => Err(Failure::new(
                INVALID_INPUT,
                format!(
                    "this command needs the ledger's directory and cannot run against the server `{}`",
                    client.base()
                ),
            )
            .hint("run it on the host that holds the ledger, without --server / PLEDGE_SERVER")),
        }
    }

    /// The server's client, in remote mode.
    pub fn client(&self) -> Option<&Client> {
        match self {
            Backend::Remote(c) => Some(c.as_ref()),
            Backend::Local(_) => None,
        }
    }

    /// Opens the existing ledger with its read models (never creates one; local only).
    pub fn open(&self) -> Result<Ledger<PledgeDomain>, Failure> {
        let dir = self.dir()?;
        require_ledger(dir)?;
        open_ledger(dir)
    }

    /// Opens the existing ledger's store without folding it, for what must run on a damaged
    /// ledger too (`verify`, `show`, `export`; local only).
    pub fn open_store(&self) -> Result<Store, Failure> {
        let dir = self.dir()?;
        require_ledger(dir)?;
        Ok(Store::open(dir)?)
    }

    /// Asks `q`: of the ledger, opened for the question, or of the server.
    pub fn ask<Q: Query>(&self, q: &Q) -> Result<Q::Answer, Failure> {
        if let Backend::Remote(client) = self {
            return client.ask(q);
        }
        if Q::READS_EVENT_INDEX {
            let dir = self.dir()?;
            require_ledger(dir)?;
            if let Some(answer) = ask_from_event_index(dir, q)? {
                return Ok(answer?);
            }
        }
        if !Q::READS_STATE {
            let dir = self.dir()?;
            require_ledger(dir)?;
            if trust_fold_is_short(dir)? {
                let store = Store::open(dir)?;
                let trust = ledger::trust_at_head(&store)?;
                let state = projections::State::default();
                return Ok(q.answer(&View::new(&store, &trust, &state, None))?);
            }
            // The trust state would be folded over `snapshot::EVERY` events or more, and again
            // by every later question, since folding the trust alone leaves no snapshot: the
            // ledger is opened below instead, and leaves one at the head.
        }
        if Q::READS_SNAPSHOT_INDEX {
            let dir = self.dir()?;
            require_ledger(dir)?;
            if let Some(answer) = ask_from_snapshot_index(dir, q)? {
                return Ok(answer?);
            }
        }
        if let Some(parts) = Q::PARTS {
            let dir = self.dir()?;
            require_ledger(dir)?;
            if let Some(answer) = ask_at_head(dir, q, parts)? {
                return Ok(answer?);
            }
            if let Some(answer) = ask_since_snapshot(dir, q)? {
                return Ok(answer?);
            }
        }
        if let Some(parts) = Q::EVENT_PARTS {
            let dir = self.dir()?;
            require_ledger(dir)?;
            if let Some(answer) = ask_with_events_at_head(dir, q, parts)? {
                return Ok(answer?);
            }
        }
        let mut l = self.open()?;
        let view = View::new(l.store(), l.trust(), &l.domain().state, l.domain().policy.as_deref());
        let answer = q.answer(&view)?;
        // The next question about this head is answered from a snapshot of it, once the
        // ledger is large enough to keep snapshots at all (a smaller one is folded, and every
        // event of it checked, by every open).
        if l.store().len() >= ledger::snapshot::EVERY {
            l.snapshot_if_due(1);
        }
        l.close();
        Ok(answer)
    }

    /// Signs one typed domain command as `signer` and appends it.
    /// Submits one typed domain command signed by `signer`.
    pub fn submit_domain(
        &self,
        signer: &Signer,
        command: &DomainCommand,
    ) -> Result<Vec<RecordedEvent>, Failure> {
        self.submit(signer, vec![(command.kind().as_str().to_string(), command.body())])
    }

    /// Signs commands as `signer` and appends them in order (one open of the ledger, or one
    /// connection), stopping at the first refusal: the commands before it stay appended, each
    /// being its own signed command. Returns every appended event.
    pub fn submit(
        &self,
        signer: &Signer,
        commands: Vec<(String, Value)>,
    ) -> Result<Vec<RecordedEvent>, Failure> {
        self.submit_with_ids(signer, commands.into_iter().map(|(k, b)| (None, k, b)).collect())
    }

    /// [`Backend::submit`], with each command's id when the caller chose it (a scheduled job's
    /// id is derived from the job and its instant, so that running it twice appends it once).
    pub fn submit_with_ids(
        &self,
        signer: &Signer,
        commands: Vec<(Option<uuid::Uuid>, String, Value)>,
    ) -> Result<Vec<RecordedEvent>, Failure> {
        match self {
            Backend::Remote(client) => submit_remote(client, signer, commands),
            Backend::Local(dir) => {
                require_ledger(dir)?;
                let (mut ledger, repro) = open_ledger_to_write(dir)?;
                let ledger_id = ledger
                    .trust()
                    .ledger_id()
                    .ok_or_else(|| Failure::new(INVALID_INPUT, "the ledger has no genesis"))?;
                if ledger.trust().key(&signer.key.public().key_id()).is_none() {
                    return Err(signer.not_enrolled());
                }
                let mut events = vec![];
                for (id, kind, body) in commands {
                    let head = ledger.store().head().map(|h| h.hash);
                    let cmd = command_with(id, ledger_id, head, repro.as_deref(), &kind, body)?;
                    let env = cmd.sign(&signer.key).map_err(Failure::internal)?;
                    events.extend(ledger.submit(env, ExpectedHead::Any)?.events);
                }
                ledger.close();
                Ok(events)
            }
        }
    }

    /// Appends a command signed elsewhere (`pledge sign`, another tool) through the same
    /// checks. A resend of an appended command answers its events again.
    pub fn submit_signed(&self, envelope: Envelope) -> Result<Vec<RecordedEvent>, Failure> {
        match self {
            Backend::Remote(client) => {
                remote_events(&client.post("/api/v1/commands", &envelope_json(&envelope)?)?)
            }
            Backend::Local(dir) => {
                require_ledger(dir)?;
                let mut ledger = open_ledger_to_write(dir)?.0;
                let events = ledger.submit(envelope, ExpectedHead::Any)?.events;
                ledger.close();
                Ok(events)
            }
        }
    }

    /// The ledger's id: from the server, or from the genesis in the store.
    pub fn ledger_id(&self) -> Result<uuid::Uuid, Failure> {
        match self {
            Backend::Remote(client) => client.ask(&LedgerInfo)?.ledger_id.ok_or_else(|| {
                Failure::new(INVALID_INPUT, format!("the server `{}` serves no ledger", client.base()))
            }),
            Backend::Local(_) => {
                let store = self.open_store()?;
                let genesis =
                    store.get(0)?.ok_or_else(|| Failure::new(INVALID_INPUT, "the ledger has no genesis"))?;
                serde_json::from_value(genesis.event.payload["ledger_id"].clone()).map_err(Failure::internal)
            }
        }
    }
}

/// [`Backend::submit`] against a server: the same checks and signatures, sent over HTTP. The
/// events come back with their canonical bytes and are checked against their hashes.
/// A new command: with the id given, issued now (or at the reproducible clock's time), else as
/// [`new_command`] makes it.
fn command_with(
    id: Option<uuid::Uuid>,
    ledger: uuid::Uuid,
    head: Option<ledger::Digest>,
    repro: Option<&Reproducible>,
    kind: &str,
    body: Value,
) -> Result<ledger::Command, Failure> {
    let mut cmd = new_command(ledger, head, repro, kind, body)?;
    if let Some(id) = id {
        cmd.id = id;
    }
    Ok(cmd)
}

fn submit_remote(
    client: &Client,
    signer: &Signer,
    commands: Vec<(Option<uuid::Uuid>, String, Value)>,
) -> Result<Vec<RecordedEvent>, Failure> {
    let info = client.ask(&LedgerInfo)?;
    let ledger_id = info.ledger_id.ok_or_else(|| {
        Failure::new(INVALID_INPUT, format!("the server `{}` serves no ledger", client.base()))
    })?;
    let key_id = signer.key.public().key_id().to_string();
    if !client.ask(&Keys)?.enrolled.iter().any(|k| k.key_id == key_id) {
        return Err(signer.not_enrolled());
    }
    let repro = Reproducible::from_env()?;
    let mut head: Option<ledger::Digest> = info.head.as_ref().and_then(|h| h.hash.parse().ok());
    if let Some(r) = &repro {
        r.restart(info.head.as_ref().and_then(|h| Timestamp::parse_exact(&h.recorded_at).ok()));
    }
    let mut events = vec![];
    for (id, kind, body) in commands {
        let env = command_with(id, ledger_id, head, repro.as_deref(), &kind, body)?
            .sign(&signer.key)
            .map_err(Failure::internal)?;
        for ev in remote_events(&client.post("/api/v1/commands", &envelope_json(&env)?)?)? {
            head = Some(ev.hash);
            if let Some(r) = &repro {
                r.restart(Some(ev.event.recorded_at));
            }
            events.push(ev);
        }
    }
    Ok(events)
}

/// Where a use case reads the ledger and appends to it: a directory this process opens or a
/// server over HTTP ([`Backend`]), or, inside `pledge serve`, the server's own read model and
/// writer. Training, drift checks and scheduled jobs take one.
pub trait Port: Send + Sync {
    /// The ledger's directory (model artifacts, the prediction log), or a refusal.
    fn dir(&self) -> Result<&Path, Failure>;
    /// The trust and domain state now.
    fn snapshot(&self) -> Result<(Arc<ledger::TrustState>, PledgeDomain), Failure>;
    /// Signs and appends commands in order, each with its id when one is given; stops at the
    /// first refusal.
    fn append(
        &self,
        signer: &Signer,
        commands: Vec<(Option<uuid::Uuid>, String, Value)>,
    ) -> Result<Vec<RecordedEvent>, Failure>;
    /// Whether the ledger holds the command with this id.
    fn has_command(&self, id: &uuid::Uuid) -> Result<bool, Failure>;
    /// The prediction log's reader (the server's own log; a reader of the directory's files).
    fn predictions(&self) -> Result<Arc<super::predlog::PredictionLog>, Failure> {
        let dir = self.dir()?;
        super::predlog::PredictionLog::open(&super::predlog::log_dir(dir), None, Arc::new(SystemClock))
            .map(Arc::new)
            .map_err(|m| Failure::new(super::failure::STORAGE, m))
    }
}

impl Port for Backend {
    fn dir(&self) -> Result<&Path, Failure> {
        Backend::dir(self)
    }

    fn snapshot(&self) -> Result<(Arc<ledger::TrustState>, PledgeDomain), Failure> {
        let l = self.open()?;
        Ok((Arc::new(l.trust().clone()), l.domain().clone()))
    }

    fn append(
        &self,
        signer: &Signer,
        commands: Vec<(Option<uuid::Uuid>, String, Value)>,
    ) -> Result<Vec<RecordedEvent>, Failure> {
        self.submit_with_ids(signer, commands)
    }

    fn has_command(&self, id: &uuid::Uuid) -> Result<bool, Failure> {
        Ok(self.open_store()?.command(id)?.is_some())
    }
}
