//! Exports for other tools: the ledger's lineage read in one pass ([`Lineage`]) and written
//! as OpenLineage run events ([`openlineage`]) or in-toto attestations signed by the log key
//! ([`intoto`]). The mapping is specified in `docs/FORMAT.md` section 18.

pub mod intoto;
pub mod openlineage;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use ledger::command::SignedCommand;
use ledger::event::Cause;
use ledger::{Digest, Store};
use projections::events::{
    decode, BacktestRecorded, ChampionChanged, Decoded, DomainEvent, GateResult, PromotionDecided,
    PromotionEvaluated, PromotionProposed, RunRecorded,
};
use serde::Serialize;
use serde_json::Value;
use sha2::Digest as _;
use uuid::Uuid;

use super::failure::{Failure, INTEGRITY};

/// The URI prefix of everything Pledge names itself (schemas, predicate and build types). The
/// `.invalid` top-level domain (RFC 2606) says these are names, not addresses to fetch: the
/// schemas are in the repository's `schemas/` directory.
pub const URI_BASE: &str = "https://pledge.invalid";

/// Who signed the command an event comes from.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Signer {
    /// The principal the key is enrolled for.
    pub principal: String,
    /// The key id (blake3 of the public key, hex).
    pub key_id: String,
}

/// The signed command an event comes from.
#[derive(Clone, Debug, Serialize)]
pub struct CommandRef {
    /// The command's id (UUID v7).
    pub id: String,
    /// The command kind.
    pub kind: String,
    /// Who signed it.
    pub signer: Signer,
}

/// Where a fact is in the ledger.
#[derive(Clone, Debug, Serialize)]
pub struct EventRef {
    /// Sequence number.
    pub seq: u64,
    /// Event id (blake3 of its canonical bytes, hex).
    pub hash: String,
    /// Event kind.
    pub kind: String,
    /// When the ledger recorded it (RFC 3339, UTC).
    pub recorded_at: String,
}

/// A model artifact: its digests and, when the ledger's `artifacts` directory holds it, its
/// sha256 and the columns its trainer read.
#[derive(Clone, Debug)]
pub struct Artifact {
    /// blake3 of the artifact (what the ledger records).
    pub blake3: String,
    /// sha256 of the artifact's bytes, when the file is present and hashes to `blake3`.
    pub sha256: Option<String>,
    /// The built-in trainer's spec (its columns), when the artifact is one of its models.
    pub spec: Option<Value>,
}

/// A registered version.
#[derive(Clone, Debug)]
pub struct VersionRec {
    /// The model.
    pub model: String,
    /// The segment (`None`: the whole model).
    pub segment: Option<String>,
    /// The version number.
    pub version: u64,
    /// Its artifact.
    pub artifact: Artifact,
    /// Its overall metrics.
    pub metrics: BTreeMap<String, f64>,
    /// The `version.registered` event.
    pub event: EventRef,
}

impl VersionRec {
    /// `model@vN` or `model/segment@vN`.
    pub fn label(&self) -> String {
        match &self.segment {
            Some(s) => format!("{}/{s}@v{}", self.model, self.version),
            None => format!("{}@v{}", self.model, self.version),
        }
    }
}

/// A training run with the versions it registered.
#[derive(Clone, Debug)]
pub struct RunRec {
    /// The model.
    pub model: String,
    /// The recorded run.
    pub run: RunRecorded,
    /// The `run.recorded` event.
    pub event: EventRef,
    /// The signed command.
    pub command: Option<CommandRef>,
    /// The versions it registered, in order.
    pub versions: Vec<VersionRec>,
    /// The dataset's registered name and version, when a `dataset.registered` has its digest.
    pub dataset: Option<(String, String)>,
}

impl RunRec {
    /// The dataset's name: the `dataset` of a `dataset.registered` with its digest, else the
    /// run's dataset version, else `blake3:<digest>`.
    pub fn dataset_name(&self) -> String {
        match (&self.dataset, &self.run.dataset_version) {
            (Some((name, _)), _) => name.clone(),
            (None, Some(v)) => v.clone(),
            (None, None) => format!("blake3:{}", self.run.dataset_digest),
        }
    }

    /// blake3 of the canonical JSON of the run's `params`.
    pub fn params_digest(&self) -> Option<String> {
        ledger::canonical::to_vec(&self.run.params).map(|b| Digest::of(&b).to_string()).ok()
    }

    /// The trainer string's first word (`pledge-trainer` of `pledge-trainer 0.1.0 (ridge)`).
    pub fn trainer_name(&self) -> &str {
        self.run.trainer.split(' ').next().unwrap_or(&self.run.trainer)
    }
}

/// One backtest window of a version.
#[derive(Clone, Debug)]
pub struct BacktestRec {
    /// The model.
    pub model: String,
    /// The segment.
    pub segment: Option<String>,
    /// The window.
    pub backtest: BacktestRecorded,
    /// The event.
    pub event: EventRef,
    /// The signed command.
    pub command: Option<CommandRef>,
    /// The run that registered the version (index into [`Lineage::runs`]).
    pub run: Option<usize>,
}

/// What a promotion decision decided.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    /// The version's gates were evaluated when it was registered (`promotion.evaluated`).
    Evaluated,
    /// A promotion was proposed to the approvers (`promotion.proposed`).
    Proposed,
    /// The version became champion (`champion.changed`).
    Promoted,
    /// A proposal was rejected (`promotion.rejected`).
    Rejected,
}

/// A promotion decision about one version.
#[derive(Clone, Debug)]
pub struct DecisionRec {
    /// What was decided.
    pub decision: DecisionKind,
    /// The model.
    pub model: String,
    /// The segment.
    pub segment: Option<String>,
    /// The version decided on.
    pub version: u64,
    /// The champion it was judged against or replaced.
    pub champion: Option<u64>,
    /// How a promotion came about (`policy`, `approval`, `bootstrap`, `rollback`, `experiment`).
    pub cause: Option<String>,
    /// Whether every gate passed (`None`: no gates were evaluated for it).
    pub passed: Option<bool>,
    /// The gates, with their inputs and outcomes.
    pub gates: Vec<GateResult>,
    /// The policy version that judged it.
    pub policy_version: Option<u32>,
    /// Who decided: the signer's principal, or `policy`.
    pub by: String,
    /// Notes, reason or override reason.
    pub notes: Option<String>,
    /// The proposal, for `proposed` and `rejected` and approvals of a proposal.
    pub proposal_id: Option<String>,
    /// The decision's event.
    pub event: EventRef,
    /// The signed command it follows from.
    pub command: Option<CommandRef>,
    /// The run that registered the version (index into [`Lineage::runs`]).
    pub run: Option<usize>,
}

impl DecisionRec {
    /// A decision about `version` of `subject` by `by`, not yet judged, placed or caused.
    fn of(
        decision: DecisionKind,
        subject: (String, Option<String>),
        version: u64,
        by: String,
    ) -> DecisionRec {
        DecisionRec {
            decision,
            model: subject.0,
            segment: subject.1,
            version,
            champion: None,
            cause: None,
            passed: None,
            gates: vec![],
            policy_version: None,
            by,
            notes: None,
            proposal_id: None,
            event: EventRef { seq: 0, hash: String::new(), kind: String::new(), recorded_at: String::new() },
            command: None,
            run: None,
        }
    }

    /// The gates that judged it.
    fn judged(&mut self, gates: &[GateResult], passed: bool, policy_version: u32) {
        self.gates = gates.to_vec();
        self.passed = Some(passed);
        self.policy_version = Some(policy_version);
    }
}

/// The ledger's lineage, read from a store in one pass.
#[derive(Debug, Default)]
pub struct Lineage {
    /// The ledger id.
    pub ledger_id: Option<Uuid>,
    /// The head: (count, last event hash).
    pub head: Option<(u64, String)>,
    /// Training runs, in ledger order.
    pub runs: Vec<RunRec>,
    /// Backtest windows, in ledger order.
    pub backtests: Vec<BacktestRec>,
    /// Promotion decisions, in ledger order.
    pub decisions: Vec<DecisionRec>,
    /// (model, segment, version) -> (run index, position in its versions).
    versions: HashMap<(String, Option<String>, u64), (usize, usize)>,
    /// run id -> run index (the latest).
    run_ids: HashMap<String, usize>,
    /// key id -> the principal holding it.
    principals: HashMap<String, String>,
}

impl Lineage {
    /// The run that registered a version, and the version.
    fn find_version(
        &self,
        model: &str,
        segment: &Option<String>,
        version: u64,
    ) -> Option<(usize, &VersionRec)> {
        let &(r, v) = self.versions.get(&(model.to_string(), segment.clone(), version))?;
        Some((r, &self.runs[r].versions[v]))
    }

    /// Records `d` at its event, with its command and the run that produced its version.
    fn push_decision(&mut self, mut d: DecisionRec, at: EventRef, command: &Option<CommandRef>) {
        d.run = self.find_version(&d.model, &d.segment, d.version).map(|(i, _)| i);
        d.event = at;
        d.command = command.clone();
        self.decisions.push(d);
    }

    /// The principal holding the key `key_id` (hex), as the ledger enrolled it.
    pub fn principal_of(&self, key_id: &str) -> Option<&str> {
        self.principals.get(key_id).map(String::as_str)
    }

    /// The version a decision or backtest names.
    pub fn version(&self, model: &str, segment: &Option<String>, version: u64) -> Option<&VersionRec> {
        self.find_version(model, segment, version).map(|(_, v)| v)
    }

    /// Reads the lineage of a verified store. Artifacts are looked up in `artifacts` (the
    /// ledger's `artifacts` directory) for their sha256 and columns; an artifact that is there
    /// but does not hash to its recorded digest is an integrity failure.
    pub fn read(store: &Store, artifacts: Option<&Path>) -> Result<Lineage, Failure> {
        let mut l = Lineage::default();
        let mut command: Option<CommandRef> = None;
        let mut evaluation: Option<PromotionEvaluated> = None;
        let mut approved: Option<PromotionDecided> = None;
        let mut proposals: HashMap<String, PromotionProposed> = HashMap::new();
        let mut datasets: HashMap<String, (String, String)> = HashMap::new();
        let mut current_run: Option<usize> = None;
        for rec in store.iter() {
            let rec = rec?;
            let ev = &rec.event;
            let at = EventRef {
                seq: ev.seq,
                hash: rec.hash.to_string(),
                kind: ev.kind.clone(),
                recorded_at: ev.recorded_at.to_string(),
            };
            l.head = Some((ev.seq + 1, rec.hash.to_string()));
            if let Cause::Command(env) = &ev.cause {
                let sc = SignedCommand::parse(env.clone())
                    .map_err(|e| Failure::new(INTEGRITY, format!("event {}: {e}", ev.seq)))?;
                let key_id = sc.key_id().to_string();
                command = Some(CommandRef {
                    id: sc.command().id.to_string(),
                    kind: sc.command().kind.clone(),
                    signer: Signer {
                        principal: l.principals.get(&key_id).cloned().unwrap_or_default(),
                        key_id,
                    },
                });
                evaluation = None;
                approved = None;
                current_run = None;
            }
            let (model, segment) = match &ev.subject {
                Some(s) => (s.model.clone(), s.segment.clone()),
                None => (String::new(), None),
            };
            let domain = match decode(&ev.kind, &ev.payload) {
                Ok(Decoded::Domain(d)) => *d,
                Ok(Decoded::Trust) => {
                    // Who holds each key: the genesis admins, then each enrolled key.
                    let keys: Vec<&Value> = match ev.kind.as_str() {
                        "ledger.created" => {
                            l.ledger_id = ev.payload["ledger_id"].as_str().and_then(|s| s.parse().ok());
                            ev.payload["admins"].as_array().into_iter().flatten().collect()
                        }
                        "key.enrolled" => vec![&ev.payload],
                        _ => vec![],
                    };
                    for k in keys {
                        if let (Some(id), Some(p)) = (k["key_id"].as_str(), k["principal"].as_str()) {
                            l.principals.insert(id.to_string(), p.to_string());
                        }
                    }
                    continue;
                }
                Err(e) => return Err(Failure::new(INTEGRITY, format!("event {}: {e}", ev.seq))),
            };
            match domain {
                DomainEvent::DatasetRegistered(d) => {
                    datasets.insert(d.digest.clone(), (d.dataset, d.version));
                }
                DomainEvent::RunRecorded(run) => {
                    let dataset = datasets.get(&run.dataset_digest).cloned();
                    l.runs.push(RunRec {
                        model,
                        run,
                        event: at,
                        command: command.clone(),
                        versions: vec![],
                        dataset,
                    });
                    current_run = Some(l.runs.len() - 1);
                    l.run_ids.insert(l.runs[l.runs.len() - 1].run.run_id.clone(), l.runs.len() - 1);
                }
                DomainEvent::VersionRegistered(v) => {
                    let artifact = artifact(artifacts, &v.artifact_digest)?;
                    let rec = VersionRec {
                        model,
                        segment,
                        version: v.version,
                        artifact,
                        metrics: BTreeMap::from(&v.metrics),
                        event: at,
                    };
                    // A version belongs to the run of its command, else to the run it names.
                    let run = current_run.or_else(|| l.run_ids.get(&v.run_id).copied());
                    if let Some(i) = run {
                        l.versions.insert(
                            (rec.model.clone(), rec.segment.clone(), rec.version),
                            (i, l.runs[i].versions.len()),
                        );
                        l.runs[i].versions.push(rec);
                    }
                }
                DomainEvent::BacktestRecorded(b) => {
                    let run = l.find_version(&model, &segment, b.version).map(|(i, _)| i);
                    l.backtests.push(BacktestRec {
                        model,
                        segment,
                        backtest: b,
                        event: at,
                        command: command.clone(),
                        run,
                    });
                }
                DomainEvent::PromotionEvaluated(e) => {
                    let mut d = DecisionRec::of(
                        DecisionKind::Evaluated,
                        (model, segment),
                        e.candidate,
                        "policy".into(),
                    );
                    d.champion = e.champion;
                    d.judged(&e.gates, e.passed, e.policy_version);
                    l.push_decision(d, at, &command);
                    evaluation = Some(e);
                }
                DomainEvent::PromotionProposed(p) => {
                    let mut d = DecisionRec::of(
                        DecisionKind::Proposed,
                        (model, segment),
                        p.challenger,
                        p.proposed_by.clone(),
                    );
                    d.champion = p.champion;
                    d.judged(&p.gates, p.passed, p.policy_version);
                    d.proposal_id = Some(p.proposal_id.clone());
                    l.push_decision(d, at, &command);
                    proposals.insert(p.proposal_id.clone(), p);
                }
                DomainEvent::PromotionApproved(a) => approved = Some(a),
                DomainEvent::PromotionRejected(r) => {
                    let Some(p) = proposals.get(&r.proposal_id) else { continue };
                    let mut d = DecisionRec::of(DecisionKind::Rejected, (model, segment), p.challenger, r.by);
                    d.champion = p.champion;
                    d.judged(&p.gates, p.passed, p.policy_version);
                    d.notes = Some(r.notes);
                    d.proposal_id = Some(r.proposal_id);
                    l.push_decision(d, at, &command);
                }
                DomainEvent::ChampionChanged(c) => {
                    let ChampionChanged { from, to, cause, by, reason, policy_version } = c;
                    let mut d = DecisionRec::of(DecisionKind::Promoted, (model, segment), to, by);
                    d.champion = from;
                    d.cause = serde_json::to_value(cause).ok().and_then(|v| v.as_str().map(str::to_string));
                    d.notes = reason;
                    // The gates behind it: the proposal an approval approved, else the
                    // evaluation of the same command (a promotion by policy).
                    let proposal = approved.as_ref().and_then(|a| proposals.get(&a.proposal_id));
                    match (proposal, &evaluation) {
                        (Some(p), _) => {
                            d.judged(&p.gates, p.passed, policy_version);
                            d.proposal_id = Some(p.proposal_id.clone());
                            d.notes = approved.as_ref().map(|a| match &a.override_reason {
                                Some(o) => format!("{} (override: {o})", a.notes),
                                None => a.notes.clone(),
                            });
                        }
                        (None, Some(e)) if e.candidate == to => d.judged(&e.gates, e.passed, policy_version),
                        _ => {}
                    }
                    d.policy_version = Some(policy_version);
                    l.push_decision(d, at, &command);
                }
                _ => {}
            }
        }
        Ok(l)
    }
}

/// The artifact `digest`, with its sha256 and spec when `dir` holds it.
fn artifact(dir: Option<&Path>, digest: &str) -> Result<Artifact, Failure> {
    let mut a = Artifact { blake3: digest.to_string(), sha256: None, spec: None };
    let Some(dir) = dir else { return Ok(a) };
    let path = dir.join(format!("{digest}.json"));
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(a),
        Err(e) => return Err(Failure::internal(anyhow::anyhow!("cannot read `{}`: {e}", path.display()))),
    };
    if Digest::of(&bytes).to_string() != digest {
        return Err(Failure::new(
            INTEGRITY,
            format!("artifact `{}` does not hash to the digest the ledger records for it", path.display()),
        )
        .hint("restore it from a copy that verifies; nothing was exported"));
    }
    a.sha256 = Some(hex(&sha2::Sha256::digest(&bytes)));
    a.spec = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v.get("spec").cloned())
        .filter(Value::is_object);
    Ok(a)
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A deterministic UUID v7 for an event: the event's `recorded_at` in milliseconds, then the
/// first bytes of blake3("pledge-openlineage-run" || event hash bytes) with the version and
/// variant bits set. The same ledger always exports the same ids, and they sort by time.
pub fn run_uuid(recorded_at: &str, event_hash: &str) -> Uuid {
    let ms =
        chrono::DateTime::parse_from_rfc3339(recorded_at).map(|t| t.timestamp_millis()).unwrap_or(0).max(0)
            as u64;
    let mut input = b"pledge-openlineage-run".to_vec();
    input.extend_from_slice(&event_hash.parse::<Digest>().map(|d| d.0).unwrap_or_default());
    let r = Digest::of(&input).0;
    let mut b = [0u8; 16];
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    b[6..].copy_from_slice(&r[..10]);
    b[6] = 0x70 | (b[6] & 0x0f);
    b[8] = 0x80 | (b[8] & 0x3f);
    Uuid::from_bytes(b)
}
