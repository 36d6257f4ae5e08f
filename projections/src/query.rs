//! Questions asked of the read models: the timeline of how a champion got there, the lineage
//! of a version, and model health.

use std::ops::Range;

use std::collections::BTreeMap;

use ledger::event_index::{EventIndex, Name};
use ledger::{Cause, EventSource, RecordedEvent, SignedCommand, Store, StoreError, TrustState};
use serde::Serialize;
use serde_json::Value;

use crate::events::*;
use crate::metrics::Metrics;
use crate::state::name;
use crate::state::{BacktestWindow, ChampionChange, ModelState, WindowRef};
use crate::{seg_key, State};

/// One event of a timeline or a lineage, with who did it under which policy.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Entry {
    /// Sequence number.
    pub seq: u64,
    /// Event id.
    pub hash: String,
    /// When it was recorded.
    pub recorded_at: String,
    /// Event kind.
    pub kind: String,
    /// The principal whose signed command caused it (directly or through earlier events).
    pub actor: Option<String>,
    /// The key that signed that command.
    pub key_id: Option<String>,
    /// Policy version the decision used, when the event records one.
    pub policy_version: Option<u64>,
    /// One line for a person.
    pub summary: String,
    /// The evidence: the event's payload.
    pub payload: Value,
}

/// Resolves who caused `ev`: its command's signer, or the signer of the command behind the
/// event that caused it.
pub fn signer(
    events: &dyn EventSource,
    trust: &TrustState,
    ev: &RecordedEvent,
) -> Result<(Option<String>, Option<String>), StoreError> {
    let mut cur = ev.clone();
    for _ in 0..16 {
        if let Cause::Command(env) = &cur.event.cause {
            let Ok(cmd) = SignedCommand::parse(env.clone()) else { return Ok((None, None)) };
            let who = trust.key(&cmd.key_id()).map(|k| k.principal.clone());
            return Ok((who, Some(cmd.key_id().to_string())));
        }
        match events.caused_by(&cur)? {
            Some(e) => cur = e,
            None => return Ok((None, None)),
        }
    }
    Ok((None, None))
}

fn v(p: &Value, f: &str) -> String {
    match &p[f] {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A one-line description of an event.
pub fn summarize(ev: &RecordedEvent) -> String {
    summarize_parts(&ev.event.kind, &ev.event.payload)
}

/// A one-line description of an event of `kind` with `payload`.
pub fn summarize_parts(kind: &str, p: &Value) -> String {
    match decode(kind, p) {
        Ok(Decoded::Domain(d)) => summarize_domain(&d),
        Ok(Decoded::Trust) => summarize_trust(kind, p),
        Err(e) => format!("{kind}: {e}"),
    }
}

fn short(s: &str) -> &str {
    &s[..12.min(s.len())]
}

fn summarize_trust(kind: &str, p: &Value) -> String {
    match kind {
        "ledger.created" => format!("ledger created; policy v{}", v(p, "policy_version")),
        "key.enrolled" => format!("key {} enrolled for {}", short(&v(p, "key_id")), v(p, "principal")),
        "key.revoked" => {
            format!("key {} of {} revoked: {}", short(&v(p, "key_id")), v(p, "principal"), v(p, "reason"))
        }
        "role.granted" => format!("{} granted `{}`", v(p, "principal"), v(p, "role")),
        "role.revoked" => format!("{} lost `{}`", v(p, "principal"), v(p, "role")),
        "policy.changed" => format!("policy v{} in force", v(p, "version")),
        other => other.to_string(),
    }
}

fn gates(passed: bool) -> &'static str {
    if passed {
        "passed"
    } else {
        "failed"
    }
}

fn version_or_none(v: Option<u64>) -> String {
    v.map_or("(none)".to_string(), |v| format!("v{v}"))
}

fn target_text(t: &ApprovalTarget) -> String {
    match t {
        ApprovalTarget::Proposal { proposal_id } => proposal_id.clone(),
        ApprovalTarget::DriftAlert { alert_id, version } => format!("v{version} (drift alert {alert_id})"),
        ApprovalTarget::Experiment { hypothesis_id, decision, .. } => {
            format!("{} of experiment {hypothesis_id}", name(decision))
        }
    }
}

/// A one-line description of a domain event.
pub fn summarize_domain(d: &DomainEvent) -> String {
    match d {
        DomainEvent::DatasetRegistered(p) => format!("dataset {}@{} registered", p.dataset, p.version),
        DomainEvent::ModelRegistered(p) => format!("model registered ({}) by {}", p.task.as_str(), p.by),
        DomainEvent::HypothesisProposed(p) => {
            format!("hypothesis {} proposed: {}", p.hypothesis_id, p.statement)
        }
        DomainEvent::ExperimentApproved(p) => {
            format!("experiment {} approved by {}: {}", p.hypothesis_id, p.approved_by, p.rationale)
        }
        DomainEvent::ExperimentRejected(p) => {
            format!("experiment {} rejected by {}", p.hypothesis_id, p.rejected_by)
        }
        DomainEvent::ExperimentStarted(p) => format!("experiment {} started", p.hypothesis_id),
        DomainEvent::ExperimentShadowStarted(p) => format!(
            "experiment {} shadow testing ({} windows)",
            p.hypothesis_id,
            p.planned_windows.map_or("-".into(), |w| w.to_string())
        ),
        DomainEvent::ExperimentCompleted(p) => {
            let c = &p.criterion;
            let verdict = match (c.met, p.decision) {
                (None, _) => "no evidence for its criterion".to_string(),
                (Some(true), Decision::Reject) => {
                    format!(
                        "against the evidence: the criterion ({} {:+}%) was met",
                        c.metric, c.expected_improvement_pct
                    )
                }
                (Some(false), Decision::Adopt | Decision::PartialAdopt) => format!(
                    "against the evidence: the criterion ({} {:+}%) was not met",
                    c.metric, c.expected_improvement_pct
                ),
                (Some(met), _) => format!(
                    "criterion ({} {:+}%) {}",
                    c.metric,
                    c.expected_improvement_pct,
                    if met { "met" } else { "not met" }
                ),
            };
            format!(
                "experiment {} completed: {} by {}; {verdict}",
                p.hypothesis_id,
                name(&p.decision),
                p.completed_by
            )
        }
        DomainEvent::RunRecorded(p) => {
            format!("run {} ({}) on dataset {}", p.run_id, p.trigger.as_str(), short(&p.dataset_digest))
        }
        DomainEvent::VersionRegistered(p) => format!(
            "v{} registered as {} (artifact {})",
            p.version,
            name(&p.status),
            short(&p.artifact_digest)
        ),
        DomainEvent::VersionStatusChanged(p) => {
            format!("v{} {} -> {}: {}", p.version, name(&p.from), name(&p.to), p.reason)
        }
        DomainEvent::PromotionEvaluated(p) => format!(
            "v{} vs champion {}: gates {} (policy v{}{})",
            p.candidate,
            version_or_none(p.champion),
            gates(p.passed),
            p.policy_version,
            if p.evidence == GateEvidence::Baseline { ", on the candidate's evaluation rows" } else { "" }
        ),
        DomainEvent::PromotionProposed(p) => format!(
            "{} proposes v{} over {}: gates {}",
            p.proposal_id,
            p.challenger,
            version_or_none(p.champion),
            gates(p.passed)
        ),
        DomainEvent::PromotionEndorsed(p) => format!(
            "{} endorsed by {} ({} of {} approvals){}",
            target_text(&p.target),
            p.by,
            p.approvals,
            p.required,
            p.override_reason.as_ref().map(|r| format!(", overriding failed gates: {r}")).unwrap_or_default()
        ),
        DomainEvent::PromotionApproved(p) => {
            let mut s = format!("{} approved by {}", p.proposal_id, p.by);
            if !p.endorsed_by.is_empty() {
                s.push_str(&format!(" after {}", p.endorsed_by.join(", ")));
            }
            if let Some(r) = &p.override_reason {
                s.push_str(&format!(", overriding failed gates: {r}"));
            }
            s
        }
        DomainEvent::PromotionRejected(p) => format!("{} rejected by {}: {}", p.proposal_id, p.by, p.notes),
        DomainEvent::ChampionChanged(p) => {
            format!("champion {} -> v{} ({}, by {})", version_or_none(p.from), p.to, name(&p.cause), p.by)
        }
        DomainEvent::DriftRecorded(p) => format!(
            "drift {} {} -> {} ({:.1}%){}",
            p.metric,
            p.baseline,
            p.recent,
            p.drift_pct,
            if p.exceeded { ": exceeds policy" } else { "" }
        ),
        DomainEvent::BacktestRecorded(p) => format!(
            "backtest v{} {}..{}{}",
            p.version,
            p.window_start,
            p.window_end,
            if p.degraded { " (degraded)" } else { "" }
        ),
        DomainEvent::ShadowRecorded(p) => format!(
            "shadow v{} vs v{} {}..{} ({} samples, window {}{})",
            p.challenger,
            p.champion,
            p.window_start,
            p.window_end,
            p.samples,
            p.window_index,
            if p.complete { ", complete" } else { "" }
        ),
        DomainEvent::ShadowStarted(p) => format!("v{} put in shadow by {}: {}", p.version, p.by, p.reason),
        DomainEvent::ShadowStopped(p) => format!("v{} out of shadow by {}: {}", p.version, p.by, p.reason),
        DomainEvent::AlertRead(p) => format!("alert {} read by {}", p.alert_id, p.by),
        DomainEvent::AlertActioned(p) => format!(
            "alert {} {}{} by {}: {}",
            p.alert_id,
            p.action.as_str(),
            p.version.map(|v| format!(" (promotes v{v})")).unwrap_or_default(),
            p.by,
            p.notes
        ),
        DomainEvent::ReleaseDecided(p) => format!(
            "release {}: {} by {}",
            if p.green { "gates green" } else { "gates red" },
            name(&p.decision),
            p.by
        ),
    }
}

fn entry(events: &dyn EventSource, trust: &TrustState, ev: &RecordedEvent) -> Result<Entry, StoreError> {
    let (actor, key_id) = signer(events, trust, ev)?;
    Ok(Entry {
        seq: ev.seq(),
        hash: ev.hash.to_string(),
        recorded_at: ev.event.recorded_at.to_string(),
        kind: ev.event.kind.clone(),
        actor,
        key_id,
        policy_version: ev.event.payload["policy_version"].as_u64(),
        summary: summarize(ev),
        payload: ev.event.payload.clone(),
    })
}

/// The entries of the events `seqs` names, in ledger order, each once.
pub fn entries(
    events: &dyn EventSource,
    trust: &TrustState,
    mut seqs: Vec<u64>,
) -> Result<Vec<Entry>, StoreError> {
    seqs.sort_unstable();
    seqs.dedup();
    seqs.into_iter()
        .map(|s| {
            let ev = events.event(s)?.ok_or(StoreError::Corrupt {
                seq: s,
                reason: "event named by a read model is missing".into(),
            })?;
            entry(events, trust, &ev)
        })
        .collect()
}

/// The events that explain how `version` came to exist: its run, the hypothesis and approval
/// behind an experiment run, the drift signal behind a drift retrain.
fn provenance(state: &State, model: &str, version: u64) -> Vec<u64> {
    let mut seqs = vec![];
    let Some(info) = state.model(model).and_then(|m| m.versions.get(&version)) else { return seqs };
    seqs.push(info.registered_seq);
    if let Some(run) = state.runs.get(&info.run_id) {
        seqs.push(run.seq);
        if let Some(x) = run.run.hypothesis_id.as_ref().and_then(|h| state.experiments.get(h)) {
            seqs.extend(x.transitions.iter().map(|t| t.seq));
        }
        if let Some(a) = run.run.drift_event.as_ref().and_then(|a| state.alerts.get(a)) {
            seqs.push(a.raised_seq);
            seqs.extend(a.history.iter().map(|h| h.seq));
        }
    }
    seqs
}

/// The auditor's "how did we get here": for `model` and `segment` (in `state`, typically as of
/// some point), every champion change that led to the serving version, each with the decision
/// that caused it (evaluation, proposal and approval, experiment, rollback, bootstrap) and the
/// provenance of the version it installed, in ledger order.
pub fn timeline(
    events: &dyn EventSource,
    trust: &TrustState,
    state: &State,
    model: &str,
    segment: Option<&str>,
) -> Result<Vec<Entry>, StoreError> {
    timeline_up_to(events, trust, state, model, segment, u64::MAX)
}

/// What the timelines of one model list, gathered from the head's read models and events once
/// for every point: its `model.registered` event, and per segment key (`""` for the whole
/// model) each champion change in order, with the events that explain it. The timeline as of
/// any point is cut from it ([`ModelTimeline::up_to`]); a snapshot keeps the one of every model
/// (its index section, `docs/FORMAT.md` section 19), so that a timeline is answered from it
/// and a few events, without the read models.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ModelTimeline {
    /// The `model.registered` event.
    pub registered_seq: Option<u64>,
    /// Per segment key, each champion change: its `champion.changed` event and the events
    /// that explain it ([`change_events`]), in the order gathered.
    pub changes: BTreeMap<String, Vec<(u64, Vec<u64>)>>,
}

impl ModelTimeline {
    /// The timeline's events as of event `last`, in the order gathered (not sorted, possibly
    /// repeated); `None` when the model was not registered by then.
    ///
    /// A segment without its own champion by then is served by the global one, whose story
    /// it tells. Only the changes up to `last` are followed, and of what they gather only what
    /// was recorded up to `last`: an experiment's transitions and an alert's history go on
    /// after the change they explain.
    pub fn up_to(&self, segment: Option<&str>, last: u64) -> Option<Vec<u64>> {
        self.registered_seq.filter(|s| *s <= last)?;
        let changes =
            |key: &str| self.changes.get(key).into_iter().flatten().take_while(move |(seq, _)| *seq <= last);
        let own = segment.is_some_and(|s| changes(s).next().is_some());
        let key = if own { seg_key(segment) } else { seg_key(None) };
        let mut seqs: Vec<u64> =
            changes(&key).flat_map(|(seq, why)| std::iter::once(*seq).chain(why.iter().copied())).collect();
        seqs.retain(|s| *s <= last);
        Some(seqs)
    }
}

/// The [`ModelTimeline`] of `model` in `state` (the head's), over `events`, for the segment
/// keys `keys` names (every key when `None`) and the changes up to event `last` (which is all
/// any timeline as of `last` or before reads of it); `None` for a model `state` does not hold.
pub fn model_timeline(
    events: &dyn EventSource,
    state: &State,
    model: &str,
    keys: Option<&[String]>,
    last: u64,
) -> Result<Option<ModelTimeline>, StoreError> {
    let Some(m) = state.model(model) else { return Ok(None) };
    let mut changes = BTreeMap::new();
    for (key, history) in &m.champion_history {
        if keys.is_some_and(|k| !k.contains(key)) {
            continue;
        }
        let gathered = history
            .iter()
            .take_while(|c| c.seq <= last)
            .map(|c| Ok((c.seq, change_events(events, state, model, c)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        changes.insert(key.clone(), gathered);
    }
    Ok(Some(ModelTimeline { registered_seq: m.registered_seq, changes }))
}

/// The timelines of every model, by name, as a snapshot's index keeps them.
pub type Timelines = BTreeMap<String, ModelTimeline>;

/// The [`ModelTimeline`] of every model in `state`, by name.
pub fn timelines(events: &dyn EventSource, state: &State) -> Result<Timelines, StoreError> {
    let mut all = BTreeMap::new();
    for name in state.models.keys() {
        if let Some(t) = model_timeline(events, state, name, None, u64::MAX)? {
            all.insert(name.clone(), t);
        }
    }
    Ok(all)
}

/// One champion of a model, as `pledge champion` lists it: the version serving a segment key,
/// its metrics, and the challengers of the same segment.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ServingChampion {
    /// Segment (`null`: the whole model).
    pub segment: Option<String>,
    /// The serving version.
    pub version: u64,
    /// Its metrics.
    pub metrics: Metrics,
    /// Challengers of the same segment, by version number.
    pub challengers: Vec<u64>,
}

/// Where one segment's requests go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Route {
    /// Segment (`null`: every segment without a champion of its own).
    pub segment: Option<String>,
    /// The version serving it (`null`: none yet).
    pub version: Option<u64>,
    /// Served by its own champion (or else by the global one).
    pub own_champion: bool,
}

/// What serves one model's requests: its champions, each with its challengers, and its routing
/// table. `pledge champion` lists it; a snapshot's index keeps it for every model
/// (`docs/FORMAT.md`, section 19), so that the question is answered without the read models.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct ModelServing {
    /// Every champion, by segment key (the whole model's first).
    pub champions: Vec<ServingChampion>,
    /// Every segment the model has a version or a champion for, in order, then the global
    /// route.
    pub routes: Vec<Route>,
}

impl ModelServing {
    /// What serves `m`'s requests.
    pub fn of(m: &ModelState) -> ModelServing {
        let champions = m
            .champions
            .iter()
            .map(|(key, version)| {
                let info = m.versions.get(version);
                let segment =
                    info.map_or_else(|| (!key.is_empty()).then(|| key.clone()), |v| v.segment.clone());
                ServingChampion {
                    segment: (!key.is_empty()).then(|| key.clone()),
                    version: *version,
                    metrics: info.map(|v| v.metrics.clone()).unwrap_or_default(),
                    challengers: m
                        .versions
                        .values()
                        .filter(|x| x.segment == segment && x.status == VersionStatus::Challenger)
                        .map(|x| x.version)
                        .collect(),
                }
            })
            .collect();
        let segments: std::collections::BTreeSet<&String> = m
            .versions
            .values()
            .filter_map(|x| x.segment.as_ref())
            .chain(m.champions.keys().filter(|k| !k.is_empty()))
            .collect();
        let mut routes: Vec<Route> = segments
            .into_iter()
            .map(|s| Route {
                segment: Some(s.clone()),
                version: m.route(Some(s)),
                own_champion: m.champions.contains_key(s),
            })
            .collect();
        routes.push(Route { segment: None, version: m.route(None), own_champion: true });
        ModelServing { champions, routes }
    }
}

/// What serves every model's requests, by model name, as a snapshot's index keeps it.
pub type Serving = BTreeMap<String, ModelServing>;

/// The [`ModelServing`] of every model in `state`, by name.
pub fn serving(state: &State) -> Serving {
    state.models.iter().map(|(name, m)| (name.clone(), ModelServing::of(m))).collect()
}

/// The [`ModelServing`] of every model in `state`, given `before`, the serving tables of the
/// snapshot `state` was restored from on demand ([`State::from_section_on_demand`]): a model whose block was
/// not read since cannot have changed, so its table is taken from `before`; the tables of the
/// models in every block read (and of none that left such a block) are derived again. For a
/// state restored or folded whole, every block is in memory and this is [`serving`].
pub fn serving_since(state: &State, before: &Serving) -> Serving {
    let mut all = before.clone();
    for (first, below, models) in state.models.blocks_in_memory() {
        let within = |name: &str| first <= name && below.is_none_or(|b| name < b);
        all.retain(|name, _| !within(name));
        all.extend(models.iter().map(|(name, m)| (name.clone(), ModelServing::of(m))));
    }
    all
}

/// The events that explain champion change `c` of `model`: the provenance of the version it
/// installed, then the decision that caused it (the event its cause names) and what that
/// decision rests on: the proposal it names, the transitions of the experiment it names, and,
/// for an approval, the raising of the alert it names.
fn change_events(
    events: &dyn EventSource,
    state: &State,
    model: &str,
    c: &ChampionChange,
) -> Result<Vec<u64>, StoreError> {
    let ChampionChange { seq, version, cause } = c;
    let mut seqs = provenance(state, model, *version);
    let Some(ev) = events.event(*seq)? else { return Ok(seqs) };
    if let Some(decision) = events.caused_by(&ev)? {
        seqs.push(decision.seq());
        let p = &decision.event.payload;
        if let Some(pr) = p["proposal_id"].as_str().and_then(|id| state.proposals.get(id)) {
            seqs.push(pr.seq);
        }
        if let Some(x) = p["hypothesis_id"].as_str().and_then(|h| state.experiments.get(h)) {
            seqs.extend(x.transitions.iter().map(|t| t.seq));
        }
        if *cause == ChampionCause::Approval {
            if let Some(a) = p["alert_id"].as_str().and_then(|a| state.alerts.get(a)) {
                seqs.push(a.raised_seq);
            }
        }
    }
    Ok(seqs)
}

/// [`timeline`] as of event `last`, from a later `state` (the head's): the timeline of the
/// state folded up to `last`, without folding it. What the timeline lists is kept in the read
/// models with the sequence number of the event that recorded it, and only ever appended to
/// (champion changes, experiments' transitions, alerts' histories), and a segment has its own
/// champion from its first change on; so as of `last` is whatever of it was recorded by then
/// ([`ModelTimeline::up_to`]). Its cost is that of the answer, wherever `last` is in the ledger.
pub fn timeline_up_to(
    events: &dyn EventSource,
    trust: &TrustState,
    state: &State,
    model: &str,
    segment: Option<&str>,
    last: u64,
) -> Result<Vec<Entry>, StoreError> {
    let keys = [seg_key(None), seg_key(segment)];
    let Some(t) = model_timeline(events, state, model, Some(&keys), last)? else { return Ok(vec![]) };
    match t.up_to(segment, last) {
        Some(seqs) => entries(events, trust, seqs),
        None => Ok(vec![]),
    }
}

/// Lineage of a version.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Lineage {
    /// Model.
    pub model: String,
    /// Version.
    pub version: u64,
    /// Where it came from: hypothesis, approval, run (dataset, config, code, artifact), drift.
    pub upstream: Vec<Entry>,
    /// What happened to it: backtests, shadow windows, evaluations, proposals, approvals,
    /// promotions, archiving.
    pub downstream: Vec<Entry>,
}

/// The backtest windows `refs` names, each read from its `backtest.recorded` event in `store`
/// (the read models keep only its sequence number and judgement, [`WindowRef`]). An event that
/// is missing, of another kind, or whose judgement differs from the read models' is damage.
pub fn backtest_windows(store: &Store, refs: &[WindowRef]) -> Result<Vec<BacktestWindow>, StoreError> {
    refs.iter().map(|r| backtest_window(store, *r)).collect()
}

/// The whole `run.recorded` event of `run`, parameters included (the read models keep a
/// [`crate::state::RunSummary`]). An event that is missing, of another kind, or of another run
/// is damage.
pub fn run_recorded(store: &Store, run: &crate::state::Run) -> Result<RunRecorded, StoreError> {
    let pick = |d| match d {
        DomainEvent::RunRecorded(p) => Some(p),
        _ => None,
    };
    let p = referenced(store, run.seq, "a run", pick)?;
    if p.run_id != run.run.run_id {
        let reason = format!("run `{}` names the event of run `{}`", run.run.run_id, p.run_id);
        return Err(StoreError::Corrupt { seq: run.seq, reason });
    }
    Ok(p)
}

/// The payload of the event at `seq` that a read model refers to as `what`, when `pick` takes
/// it; a missing event, one that does not decode, or one `pick` refuses is damage.
fn referenced<T>(
    store: &Store,
    seq: u64,
    what: &str,
    pick: impl FnOnce(DomainEvent) -> Option<T>,
) -> Result<T, StoreError> {
    let damaged = |reason: String| StoreError::Corrupt { seq, reason };
    let ev = store.get(seq)?.ok_or_else(|| damaged(format!("{what} names a missing event")))?;
    match decode(&ev.event.kind, &ev.event.payload) {
        Ok(Decoded::Domain(d)) => {
            let kind = d.kind();
            pick(*d).ok_or_else(|| damaged(format!("{what} names a `{kind}` event")))
        }
        Ok(Decoded::Trust) => Err(damaged(format!("{what} names a `{}` event", ev.event.kind))),
        Err(e) => Err(damaged(e.to_string())),
    }
}

/// One window of [`backtest_windows`].
pub fn backtest_window(store: &Store, r: WindowRef) -> Result<BacktestWindow, StoreError> {
    let pick = |d| match d {
        DomainEvent::BacktestRecorded(p) => Some(p),
        _ => None,
    };
    let p = referenced(store, r.seq, "a backtest window", pick)?;
    if p.degraded != r.degraded {
        let reason = "the backtest window's judgement differs from its event's".into();
        return Err(StoreError::Corrupt { seq: r.seq, reason });
    }
    Ok(BacktestWindow {
        window_start: p.window_start,
        window_end: p.window_end,
        metrics: p.metrics,
        rows: p.rows,
        degraded: p.degraded,
        seq: r.seq,
    })
}

/// The lineage of `model` version `version`, or `None` if there is no such version.
pub fn lineage(
    store: &Store,
    trust: &TrustState,
    state: &State,
    model: &str,
    version: u64,
) -> Result<Option<Lineage>, StoreError> {
    let Some(info) = state.model(model).and_then(|m| m.versions.get(&version)) else { return Ok(None) };
    let Some(upstream) = upstream(store, trust, state, model, version)? else { return Ok(None) };
    let mut down: Vec<u64> = info.history.iter().map(|h| h.seq).collect();
    down.extend(info.backtests.iter().map(|b| b.seq));
    Ok(Some(Lineage { model: model.into(), version, upstream, downstream: entries(store, trust, down)? }))
}

/// The upstream half of [`lineage`] alone (what a review shows), without reading the events
/// downstream: a version backtested daily for years has thousands of them.
pub fn upstream(
    store: &Store,
    trust: &TrustState,
    state: &State,
    model: &str,
    version: u64,
) -> Result<Option<Vec<Entry>>, StoreError> {
    if state.model(model).and_then(|m| m.versions.get(&version)).is_none() {
        return Ok(None);
    }
    entries(store, trust, provenance(state, model, version)).map(Some)
}

/// Which events a log or an event page shows. Every field narrows; the default matches all.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventFilter {
    /// Only this event kind.
    pub kind: Option<String>,
    /// Only events whose subject is this model.
    pub model: Option<String>,
    /// Only events whose subject is this segment of the model (`""` for the whole model).
    pub segment: Option<String>,
    /// Only events caused (directly or through earlier events) by this principal's command.
    pub actor: Option<String>,
    /// Only events recorded at or after this time.
    pub since: Option<ledger::canonical::Timestamp>,
    /// Only events recorded before this time.
    pub until: Option<ledger::canonical::Timestamp>,
}

impl EventFilter {
    /// Whether `ev` passes. Resolving the actor reads the causing events from `events`.
    pub fn matches(
        &self,
        events: &dyn EventSource,
        trust: &TrustState,
        ev: &RecordedEvent,
    ) -> Result<bool, StoreError> {
        if self.kind.as_ref().is_some_and(|k| *k != ev.event.kind) {
            return Ok(false);
        }
        let subject = ev.event.subject.as_ref();
        if self.model.as_ref().is_some_and(|m| subject.is_none_or(|s| s.model != *m)) {
            return Ok(false);
        }
        if let Some(seg) = &self.segment {
            if subject.is_none_or(|s| s.segment.as_deref().unwrap_or("") != seg) {
                return Ok(false);
            }
        }
        if self.since.is_some_and(|t| ev.event.recorded_at < t)
            || self.until.is_some_and(|t| ev.event.recorded_at >= t)
        {
            return Ok(false);
        }
        if let Some(actor) = &self.actor {
            return Ok(signer(events, trust, ev)?.0.as_deref() == Some(actor.as_str()));
        }
        Ok(true)
    }

    /// The sequence numbers worth reading for this filter within `range`, in order (reversed
    /// with `reverse`): from the index of the kind when a kind is asked for, else of the
    /// actor's signing keys (merged), else of the segment, else of the model, else every
    /// event; where `index` does not answer for a name, the next is tried. A candidate still
    /// has to pass [`EventFilter::matches`], so an index makes a query cheaper, never its
    /// answer different.
    fn candidates<'a>(
        &self,
        index: &'a dyn EventIndex,
        trust: &TrustState,
        range: Range<u64>,
        reverse: bool,
    ) -> Box<dyn Iterator<Item = Result<u64, StoreError>> + 'a> {
        if let Some(seqs) =
            self.kind.as_ref().and_then(|k| index.seqs_under(Name::Kind(k), range.clone(), reverse))
        {
            return seqs;
        }
        if let Some(actor) = &self.actor {
            let keys: Vec<_> = trust.keys().filter(|k| k.principal == *actor).map(|k| k.key_id).collect();
            let streams: Option<Vec<_>> = keys
                .iter()
                .map(|k| index.seqs_under(Name::Signer(k), range.clone(), reverse).map(Iterator::peekable))
                .collect();
            if let Some(streams) = streams {
                return Box::new(Merged { streams, reverse });
            }
        }
        if let Some(model) = &self.model {
            let name = match &self.segment {
                Some(segment) => Name::Subject(model, Some(segment)),
                None => Name::Model(model),
            };
            if let Some(seqs) = index.seqs_under(name, range.clone(), reverse) {
                return seqs;
            }
        }
        if reverse {
            Box::new(range.rev().map(Ok))
        } else {
            Box::new(range.map(Ok))
        }
    }

    /// The sequence numbers the time bounds leave, from `start`: `recorded_at` never
    /// decreases along the chain, so both ends are found by binary search.
    fn bounds(&self, events: &dyn EventSource, start: u64) -> Result<Range<u64>, StoreError> {
        let lo = match self.since {
            Some(t) => events.seq_at_time(t)?.max(start),
            None => start,
        };
        let hi = match self.until {
            Some(t) => events.seq_at_time(t)?,
            None => events.count(),
        };
        Ok(lo..hi.max(lo))
    }

    /// Up to `limit` matching events of `events` in ledger order, starting after sequence
    /// number `after` (from genesis when `None`), and the sequence number to continue from
    /// when more remain. The cost follows the index entries and events read (see
    /// `candidates`), not the ledger's length.
    pub fn page(
        &self,
        events: &dyn EventSource,
        index: &dyn EventIndex,
        trust: &TrustState,
        after: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<RecordedEvent>, Option<u64>), StoreError> {
        let start = after.map_or(0, |a| a.saturating_add(1));
        let range = self.bounds(events, start)?;
        let mut out = Vec::new();
        for seq in self.candidates(index, trust, range, false) {
            let seq = seq?;
            if out.len() == limit {
                return Ok((out, Some(seq - 1)));
            }
            let ev = events
                .event(seq)?
                .ok_or(StoreError::Corrupt { seq, reason: "an index names a missing event".into() })?;
            if self.matches(events, trust, &ev)? {
                out.push(ev);
            }
        }
        Ok((out, None))
    }

    /// The last `limit` matching events of `events` after sequence number `after` (all when
    /// `None`), in ledger order.
    pub fn last(
        &self,
        events: &dyn EventSource,
        index: &dyn EventIndex,
        trust: &TrustState,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let start = after.map_or(0, |a| a.saturating_add(1));
        let range = self.bounds(events, start)?;
        let mut out = Vec::new();
        for seq in self.candidates(index, trust, range, true) {
            if out.len() == limit {
                break;
            }
            let seq = seq?;
            let ev = events
                .event(seq)?
                .ok_or(StoreError::Corrupt { seq, reason: "an index names a missing event".into() })?;
            if self.matches(events, trust, &ev)? {
                out.push(ev);
            }
        }
        out.reverse();
        Ok(out)
    }
}

/// Several ordered streams of sequence numbers merged into one (an actor's keys).
struct Merged<I: Iterator<Item = Result<u64, StoreError>>> {
    streams: Vec<std::iter::Peekable<I>>,
    reverse: bool,
}

impl<I: Iterator<Item = Result<u64, StoreError>>> Iterator for Merged<I> {
    type Item = Result<u64, StoreError>;
    fn next(&mut self) -> Option<Self::Item> {
        let mut best: Option<(usize, u64)> = None;
        for (i, s) in self.streams.iter_mut().enumerate() {
            match s.peek() {
                Some(Err(_)) => return s.next(),
                Some(Ok(seq)) => {
                    let better = best.is_none_or(|(_, b)| if self.reverse { *seq > b } else { *seq < b });
                    if better {
                        best = Some((i, *seq));
                    }
                }
                None => {}
            }
        }
        best.and_then(|(i, _)| self.streams[i].next())
    }
}
