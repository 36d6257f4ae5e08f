//! The domain state: every read model in one fold. The decide step reads it; queries read it.
//! `apply` only records facts the events state; it contains no rules. An event the fold
//! cannot decode, or one that names something the state does not hold, is an error: only a
//! damaged or forged ledger has one, and the fold never drops it silently.

use std::collections::BTreeMap;

use ledger::canonical::Timestamp;
use ledger::{Digest, RecordedEvent, Subject};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::events::*;
use crate::keyed::Keyed;

/// The key of a segment in maps: the segment name, or `""` for the whole model (segment names
/// are never empty).
pub fn seg_key(segment: Option<&str>) -> String {
    segment.unwrap_or("").to_string()
}

/// One model version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VersionInfo {
    /// Version number.
    pub version: u64,
    /// Segment it serves (`None`: whole model).
    pub segment: Option<String>,
    /// The run that produced it.
    pub run_id: String,
    /// Why that run happened.
    pub trigger: Trigger,
    /// blake3 of its artifact.
    pub artifact_digest: String,
    /// Current status.
    pub status: VersionStatus,
    /// Metrics at registration.
    pub metrics: Metrics,
    /// The serving version's metrics on the same evaluation rows, when the run recorded them.
    pub baseline: Option<Baseline>,
    /// Event that registered it.
    pub registered_seq: u64,
    /// Has it ever been champion (rollback targets must have served).
    pub served: bool,
    /// Backtest windows recorded for it, in order: what the rules read of each; the rest is
    /// in its event ([`crate::query::backtest_windows`] reads them).
    pub backtests: Vec<WindowRef>,
    /// Every event about this version after its registration.
    pub history: Vec<VersionEvent>,
}

/// An event that concerns a version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VersionEvent {
    /// Sequence number.
    pub seq: u64,
    /// Kind.
    #[schemars(with = "String")]
    pub kind: EventKind,
}

/// A backtest window as the read models hold it: its `backtest.recorded` event and the
/// policy's judgement, which is what the rules read (a champion whose newest window is
/// degraded fails a release gate). Its bounds, metrics and rows stay in the event: at a million
/// events the windows were a third of the read models' memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WindowRef {
    /// The `backtest.recorded` event.
    pub seq: u64,
    /// Judged degraded by the policy.
    pub degraded: bool,
}

/// One backtest window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BacktestWindow {
    /// Window start.
    pub window_start: String,
    /// Window end.
    pub window_end: String,
    /// Metrics.
    pub metrics: Metrics,
    /// Rows.
    pub rows: u64,
    /// Judged degraded by the policy.
    pub degraded: bool,
    /// Event sequence number.
    pub seq: u64,
}

/// One change of a segment's champion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChampionChange {
    /// The `champion.changed` event.
    pub seq: u64,
    /// The new champion.
    pub version: u64,
    /// Why.
    pub cause: ChampionCause,
}

/// A model: its task, its versions and the champion per segment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModelState {
    /// What it predicts (from its `model.registered`).
    pub task: Option<Task>,
    /// The `model.registered` event.
    pub registered_seq: Option<u64>,
    /// Versions by number.
    #[serde(deserialize_with = "bulk_map")]
    pub versions: BTreeMap<u64, VersionInfo>,
    /// Serving version per segment key (`""` = global).
    pub champions: BTreeMap<String, u64>,
    /// The champion history per segment key.
    pub champion_history: BTreeMap<String, Vec<ChampionChange>>,
    /// Versions put in shadow by a signed `shadow.start` (and not stopped since); a champion
    /// or a version no longer a challenger is not scored.
    #[serde(default)]
    pub shadows: std::collections::BTreeSet<u64>,
}

impl ModelState {
    /// The next version number the ledger assigns.
    pub fn next_version(&self) -> u64 {
        self.versions.keys().next_back().map_or(1, |v| v + 1)
    }

    /// The champion serving `segment`: its own, else the global one.
    pub fn route(&self, segment: Option<&str>) -> Option<u64> {
        segment.and_then(|s| self.champions.get(s)).or_else(|| self.champions.get("")).copied()
    }

    /// The champion of exactly this segment key (no fallback to the global one).
    pub fn champion_of(&self, segment: Option<&str>) -> Option<u64> {
        self.champions.get(segment.unwrap_or("")).copied()
    }
}

/// Experiment status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExperimentStatus {
    /// Hypothesis proposed, awaiting approval.
    Proposed,
    /// Approved.
    Approved,
    /// Rejected.
    Rejected,
    /// Being implemented / trained.
    InProgress,
    /// Shadow testing.
    ShadowTesting,
    /// Completed with a decision.
    Completed,
}

/// One status change of an experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Transition {
    /// The status entered.
    pub status: ExperimentStatus,
    /// The event.
    pub seq: u64,
    /// When.
    pub recorded_at: String,
}

/// The approval or rejection of a hypothesis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Review {
    /// Approved (or rejected).
    pub approved: bool,
    /// Who.
    pub by: String,
    /// Why.
    pub rationale: String,
    /// Conditions attached to an approval.
    pub constraints: Vec<String>,
}

/// A hypothesis and the experiment that tests it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Experiment {
    // Boxed, as `completion` is: an experiment is moved into a vector and then into the map's
    // nodes when the read models are decoded in bulk, and the two held inline made it 664
    // bytes (now 256): at a million events, 30 MB more memory touched by every write command.
    // (Doc comments here are the API schema's descriptions.)
    /// The hypothesis as proposed.
    pub hypothesis: Box<HypothesisProposed>,
    /// Model.
    pub model: String,
    /// Status.
    pub status: ExperimentStatus,
    /// Every transition, in order.
    pub transitions: Vec<Transition>,
    /// Approval or rejection.
    pub review: Option<Review>,
    /// Experimental versions produced.
    pub versions: Vec<u64>,
    /// Principals who recorded its runs.
    pub recorders: Vec<String>,
    /// Planned shadow windows (per segment).
    pub planned_windows: Option<u32>,
    /// Shadow windows recorded, per segment key (`""` = the whole model).
    pub shadow_windows: BTreeMap<String, u32>,
    /// The shadow windows recorded for it, in order.
    pub shadow: Vec<ShadowWindow>,
    /// Completion.
    pub completion: Option<Box<ExperimentCompleted>>,
}

/// One shadow window of an experiment: champion and challenger on the same actuals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ShadowWindow {
    /// Segment.
    pub segment: Option<String>,
    /// Champion version.
    pub champion: u64,
    /// Challenger version.
    pub challenger: u64,
    /// Champion's metrics.
    pub champion_metrics: Metrics,
    /// Challenger's metrics.
    pub challenger_metrics: Metrics,
    /// Compared samples.
    pub samples: u64,
    /// The `shadow.recorded` event.
    pub seq: u64,
}

/// The six alert types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertType {
    /// A drift check exceeded the policy (critical).
    DriftDetected,
    /// An arena proposal awaits approvers (warning).
    PromotionPending,
    /// A champion's backtest window degraded past the policy (warning).
    BacktestDegradation,
    /// An experiment completed (info).
    ExperimentComplete,
    /// A shadow test reached its planned length for a segment (info).
    ShadowTestComplete,
    /// A dataset version was registered (info).
    NewDataSourceReady,
}

impl AlertType {
    /// Every alert type.
    pub const ALL: [AlertType; 6] = [
        AlertType::DriftDetected,
        AlertType::PromotionPending,
        AlertType::BacktestDegradation,
        AlertType::ExperimentComplete,
        AlertType::ShadowTestComplete,
        AlertType::NewDataSourceReady,
    ];

    /// Its severity (fixed per type).
    pub fn severity(self) -> Severity {
        match self {
            AlertType::DriftDetected => Severity::Critical,
            AlertType::PromotionPending | AlertType::BacktestDegradation => Severity::Warning,
            _ => Severity::Info,
        }
    }

    /// Whether approving it decides something (a promotion); other alerts are acknowledged
    /// or dismissed.
    pub fn approvable(self) -> bool {
        matches!(self, AlertType::DriftDetected | AlertType::PromotionPending)
    }

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertType::DriftDetected => "drift_detected",
            AlertType::PromotionPending => "promotion_pending",
            AlertType::BacktestDegradation => "backtest_degradation",
            AlertType::ExperimentComplete => "experiment_complete",
            AlertType::ShadowTestComplete => "shadow_test_complete",
            AlertType::NewDataSourceReady => "new_data_source_ready",
        }
    }
}

/// Alert severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Needs a decision now.
    Critical,
    /// Needs a decision.
    Warning,
    /// For information.
    Info,
}

impl Severity {
    /// Every severity, most severe first.
    pub const ALL: [Severity; 3] = [Severity::Critical, Severity::Warning, Severity::Info];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Severity, String> {
        Severity::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a severity (critical, warning, info)"))
    }
}

/// Alert status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// New.
    Unread,
    /// Seen.
    Read,
    /// Approved, or its subject decided.
    Actioned,
    /// Acknowledged (informational alerts).
    Acknowledged,
    /// Dismissed.
    Dismissed,
}

impl AlertStatus {
    /// Every status.
    pub const ALL: [AlertStatus; 5] = [
        AlertStatus::Unread,
        AlertStatus::Read,
        AlertStatus::Actioned,
        AlertStatus::Acknowledged,
        AlertStatus::Dismissed,
    ];

    /// Open: unread or read.
    pub fn is_open(self) -> bool {
        matches!(self, AlertStatus::Unread | AlertStatus::Read)
    }

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Unread => "unread",
            AlertStatus::Read => "read",
            AlertStatus::Actioned => "actioned",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Dismissed => "dismissed",
        }
    }
}

impl std::str::FromStr for AlertStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<AlertStatus, String> {
        AlertStatus::ALL.into_iter().find(|x| x.as_str() == s).ok_or_else(|| {
            format!("`{s}` is not an alert status (unread, read, actioned, acknowledged, dismissed)")
        })
    }
}

/// Something done to an alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AlertEvent {
    /// `read`, or the status it moved to.
    pub action: String,
    /// Who.
    pub by: String,
    /// Notes.
    pub notes: String,
    /// The event.
    pub seq: u64,
}

/// An alert, derived from an event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Alert {
    /// Stable id: `A-` and the first 12 hex characters of the raising event's hash.
    pub id: String,
    /// Type.
    pub alert_type: AlertType,
    /// Severity (the type's).
    pub severity: Severity,
    /// Status.
    pub status: AlertStatus,
    /// Model and segment.
    pub subject: Option<Subject>,
    /// Human message.
    pub message: String,
    /// Version it concerns (drift: the champion; pending: the challenger).
    pub version: Option<u64>,
    /// Proposal it concerns.
    pub proposal_id: Option<String>,
    /// Raising event.
    pub raised_seq: u64,
    /// When.
    pub raised_at: String,
    /// What was done to it, in order.
    pub history: Vec<AlertEvent>,
}

/// Where an arena proposal stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProposalStatus {
    /// Awaiting approvers.
    Pending,
    /// Approved: the challenger was promoted.
    Approved,
    /// Rejected.
    Rejected,
}

/// An arena proposal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Proposal {
    /// The proposal as recorded.
    pub proposed: PromotionProposed,
    /// Model and segment.
    pub subject: Subject,
    /// Where it stands.
    pub status: ProposalStatus,
    /// Raising event.
    pub seq: u64,
}

/// A training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Run {
    /// As recorded, without its parameters ([`crate::query::run_recorded`] reads the whole
    /// event).
    pub run: RunSummary,
    /// Model.
    pub model: String,
    /// Versions it produced.
    pub versions: Vec<u64>,
    /// Event sequence number.
    pub seq: u64,
}

/// What a `run.recorded` event says of a run, except its `params`: the read models keep what
/// questions filter, order and show for many runs at once; the parameters, as large as the
/// trainer makes them, stay in the event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunSummary {
    /// Client-chosen run id, unique in the ledger.
    pub run_id: String,
    /// Why it ran.
    pub trigger: Trigger,
    /// Hypothesis (experiment) it belongs to.
    pub hypothesis_id: Option<String>,
    /// Drift alert it answers (drift-triggered runs).
    pub drift_event: Option<String>,
    /// blake3 of the training data.
    pub dataset_digest: String,
    /// Dataset version label.
    pub dataset_version: Option<String>,
    /// Feature-set version or digest.
    pub feature_set: Option<String>,
    /// blake3 of the training configuration.
    pub config_digest: Option<String>,
    /// Code version (commit).
    pub code_version: Option<String>,
    /// Trainer name and version.
    pub trainer: String,
    /// Overall metrics.
    pub metrics: Metrics,
    /// Who recorded it (signer).
    pub recorded_by: String,
    /// When training started (client's clock).
    pub started_at: Option<String>,
    /// When training finished (client's clock).
    pub finished_at: Option<String>,
    /// The time axis' period labels in order, which its windows may be named by.
    pub periods: Vec<String>,
}

impl From<RunRecorded> for RunSummary {
    fn from(r: RunRecorded) -> RunSummary {
        // Every field but `params`, by name: a field added to the event is a compile error
        // here until it is either kept or left out on purpose.
        let RunRecorded {
            run_id,
            trigger,
            hypothesis_id,
            drift_event,
            dataset_digest,
            dataset_version,
            feature_set,
            config_digest,
            code_version,
            trainer,
            params: _,
            metrics,
            recorded_by,
            started_at,
            finished_at,
            periods,
        } = r;
        RunSummary {
            run_id,
            trigger,
            hypothesis_id,
            drift_event,
            dataset_digest,
            dataset_version,
            feature_set,
            config_digest,
            code_version,
            trainer,
            metrics,
            recorded_by,
            started_at,
            finished_at,
            periods,
        }
    }
}

/// Approvals collected for a promotion that needs several.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Endorsements {
    /// What they approve.
    pub target: ApprovalTarget,
    /// The approvers, in order, each once.
    pub by: Vec<String>,
    /// Their `promotion.endorsed` events.
    pub seqs: Vec<u64>,
}

/// A release decision and where it is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Release {
    /// The `release.decided` event.
    pub seq: u64,
    /// The decision as recorded.
    pub decided: ReleaseDecided,
}

/// Alert counts for the inbox badge.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AlertCounts {
    /// Open alerts (unread or read) by severity.
    pub open_by_severity: BTreeMap<String, usize>,
    /// Unread alerts by severity (the review desk's badge).
    #[serde(default)]
    pub unread_by_severity: BTreeMap<String, usize>,
    /// All alerts by status.
    pub by_status: BTreeMap<String, usize>,
}

/// Reads a map by collecting its entries, then building the `BTreeMap` from them in one pass
/// instead of inserting them one by one (what serde's own impl does). Entries inserted in
/// order leave the tree's nodes about half full; built in bulk they are full, which at a
/// million events is about 100 MB less of a snapshot's decoded state for the large maps of
/// large values (runs, experiments, versions), and a faster decode. A key given twice keeps
/// its last value, as inserting would.
pub(crate) fn bulk_map<'de, D, K, V>(d: D) -> Result<BTreeMap<K, V>, D::Error>
where
    D: serde::Deserializer<'de>,
    K: Deserialize<'de> + Ord,
    V: Deserialize<'de>,
{
    map_entries_within(d, 1 << 16).map(BTreeMap::from_iter)
}

/// A map's entries in the order it holds them, reserving room for as many as the map states
/// up to `most` (a reader that knows how many bytes the map is read from can bound it: every
/// entry takes at least two). The stated count is not checked against the bytes that follow,
/// so it is bounded; past the bound the entries grow as a vector does (each growth a copy of
/// those already decoded: at a million events, 45 MB of experiments with the default bound).
pub(crate) fn map_entries_within<'de, D, K, V>(d: D, most: usize) -> Result<Vec<(K, V)>, D::Error>
where
    D: serde::Deserializer<'de>,
    K: Deserialize<'de>,
    V: Deserialize<'de>,
{
    struct Entries<K, V>(usize, std::marker::PhantomData<(K, V)>);
    impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> serde::de::Visitor<'de> for Entries<K, V> {
        type Value = Vec<(K, V)>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a map")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<Vec<(K, V)>, A::Error> {
            let mut entries = Vec::with_capacity(access.size_hint().unwrap_or(0).min(self.0));
            while let Some(entry) = access.next_entry()? {
                entries.push(entry);
            }
            Ok(entries)
        }
    }
    d.deserialize_map(Entries(most, std::marker::PhantomData))
}

crate::plain_entry!(Experiment, Run, Alert);

/// The whole domain state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Models by name.
    pub models: Keyed<ModelState>,
    /// Experiments by hypothesis id.
    pub experiments: Keyed<Experiment>,
    /// Runs by id.
    pub runs: Keyed<Run>,
    /// Proposals by id.
    #[serde(deserialize_with = "bulk_map")]
    pub proposals: BTreeMap<String, Proposal>,
    /// Alerts by id.
    pub alerts: Keyed<Alert>,
    /// Datasets by `name@version`.
    #[serde(deserialize_with = "bulk_map")]
    pub datasets: BTreeMap<String, DatasetRegistered>,
    /// Approvals collected towards promotions that need several, by [`ApprovalTarget::key`].
    #[serde(deserialize_with = "bulk_map")]
    pub endorsements: BTreeMap<String, Endorsements>,
    /// Policy version in force.
    pub policy_version: u32,
    /// Policy document in force.
    pub policy: Value,
    /// Release decisions per model, in order.
    pub releases: BTreeMap<String, Vec<Release>>,
    /// Last event applied.
    pub last_seq: Option<u64>,
}

impl ApprovalTarget {
    /// A stable text key for maps.
    pub fn key(&self) -> String {
        match self {
            ApprovalTarget::Proposal { proposal_id } => format!("proposal/{proposal_id}"),
            ApprovalTarget::DriftAlert { alert_id, version } => format!("drift/{alert_id}/v{version}"),
            ApprovalTarget::Experiment { hypothesis_id, decision, adopt_segments } => {
                let segs: Vec<&str> =
                    adopt_segments.iter().map(|s| s.as_deref().unwrap_or("(global)")).collect();
                format!("experiment/{hypothesis_id}/{}/{}", name(decision), segs.join(","))
            }
        }
    }
}

/// The snake_case name of a status enum, as written in events.
pub fn name<T: Serialize>(status: &T) -> String {
    serde_json::to_value(status).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
}

/// What a fold reads of an event besides its payload: everything but its cause and its bytes.
#[derive(Clone, Copy, Debug)]
pub struct EventMeta<'a> {
    /// Sequence number.
    pub seq: u64,
    /// Event id.
    pub hash: Digest,
    /// Kind.
    pub kind: &'a str,
    /// Model and segment.
    pub subject: Option<&'a Subject>,
    /// When it was recorded.
    pub recorded_at: Timestamp,
    /// The payload as recorded (the fold reads the policy of trust events from it).
    pub payload: &'a Value,
}

impl<'a> From<&'a RecordedEvent> for EventMeta<'a> {
    fn from(ev: &'a RecordedEvent) -> Self {
        EventMeta {
            seq: ev.seq(),
            hash: ev.hash,
            kind: &ev.event.kind,
            subject: ev.event.subject.as_ref(),
            recorded_at: ev.event.recorded_at,
            payload: &ev.event.payload,
        }
    }
}

fn broken(ev: &EventMeta<'_>, what: impl std::fmt::Display) -> FoldError {
    FoldError(format!("event {} (`{}`) {what}", ev.seq, ev.kind))
}

impl State {
    /// The model named, which must exist (registered).
    fn model_mut(&mut self, ev: &EventMeta<'_>, name: &str) -> Result<&mut ModelState, FoldError> {
        self.models.get_mut(name).ok_or_else(|| broken(ev, format!("names model `{name}`, never registered")))
    }

    fn version_mut(
        &mut self,
        ev: &EventMeta<'_>,
        model: &str,
        version: u64,
    ) -> Result<&mut VersionInfo, FoldError> {
        self.model_mut(ev, model)?
            .versions
            .get_mut(&version)
            .ok_or_else(|| broken(ev, format!("names v{version} of `{model}`, never registered")))
    }

    fn experiment_mut(&mut self, ev: &EventMeta<'_>, id: &str) -> Result<&mut Experiment, FoldError> {
        self.experiments
            .get_mut(id)
            .ok_or_else(|| broken(ev, format!("names hypothesis `{id}`, never proposed")))
    }

    fn raise(
        &mut self,
        ev: &EventMeta<'_>,
        alert_type: AlertType,
        message: String,
        version: Option<u64>,
        proposal_id: Option<String>,
    ) {
        let id = format!("A-{}", ev.hash.short());
        self.alerts.insert(
            id.clone(),
            Alert {
                id,
                alert_type,
                severity: alert_type.severity(),
                status: AlertStatus::Unread,
                subject: ev.subject.cloned(),
                message,
                version,
                proposal_id,
                raised_seq: ev.seq,
                raised_at: ev.recorded_at.to_string(),
                history: vec![],
            },
        );
    }

    fn close_alerts(
        &mut self,
        pred: impl Fn(&Alert) -> bool,
        status: AlertStatus,
        by: &str,
        notes: &str,
        seq: u64,
    ) {
        for a in self.alerts.values_mut().filter(|a| pred(a)) {
            if a.status.is_open() {
                a.status = status;
                a.history.push(AlertEvent { action: name(&status), by: by.into(), notes: notes.into(), seq });
            }
        }
    }

    fn mention(&mut self, model: &str, version: Option<u64>, seq: u64, kind: EventKind) {
        if let Some(v) = version.and_then(|v| self.models.get_mut(model)?.versions.get_mut(&v)) {
            if v.history.last().map(|h| h.seq) != Some(seq) {
                v.history.push(VersionEvent { seq, kind });
            }
        }
    }

    /// Why a part of the state restored on demand ([`State::from_section_on_demand`]) could
    /// not be read when something first read it, if one could not: the state is then not the
    /// one its events make.
    pub fn damage(&self) -> Option<&str> {
        self.models.damage().or(self.experiments.damage()).or(self.runs.damage()).or(self.alerts.damage())
    }

    /// Folds one event (of any kind) into the state.
    pub fn apply(&mut self, ev: &RecordedEvent) -> Result<(), FoldError> {
        let meta = EventMeta::from(ev);
        let decoded = decode(meta.kind, meta.payload)?;
        self.apply_decoded(&meta, decoded)
    }

    /// Folds an event already decoded (rebuilds decode on other cores). The payload is moved
    /// into the read models, not copied.
    pub fn apply_decoded(&mut self, ev: &EventMeta<'_>, decoded: Decoded) -> Result<(), FoldError> {
        self.last_seq = Some(ev.seq);
        match decoded {
            Decoded::Trust => self.apply_trust(ev),
            Decoded::Domain(d) => {
                let kind = d.kind();
                let mentioned = self.mentioned(&d);
                self.settle(&d);
                self.apply_domain(ev, *d)?;
                let model = ev.subject.map(|s| s.model.as_str()).unwrap_or_default();
                for v in mentioned {
                    self.mention(model, v, ev.seq, kind);
                }
                Ok(())
            }
        }
    }

    /// A decided promotion leaves nothing to endorse: the endorsements of a completed
    /// experiment, an actioned drift alert or a decided proposal are dropped.
    fn settle(&mut self, d: &DomainEvent) {
        match d {
            DomainEvent::ExperimentCompleted(p) => self.endorsements.retain(|_, e| {
                !matches!(&e.target, ApprovalTarget::Experiment { hypothesis_id, .. } if *hypothesis_id == p.hypothesis_id)
            }),
            DomainEvent::AlertActioned(p) => self.endorsements.retain(|_, e| {
                !matches!(&e.target, ApprovalTarget::DriftAlert { alert_id, .. } if *alert_id == p.alert_id)
            }),
            DomainEvent::PromotionApproved(p) | DomainEvent::PromotionRejected(p) => {
                self.endorsements.retain(|_, e| {
                    !matches!(&e.target, ApprovalTarget::Proposal { proposal_id } if *proposal_id == p.proposal_id)
                })
            }
            _ => {}
        }
    }

    fn apply_trust(&mut self, ev: &EventMeta<'_>) -> Result<(), FoldError> {
        match ev.kind {
            "ledger.created" => {
                self.policy_version = 1;
                self.policy = ev.payload["policy"].clone();
            }
            "policy.changed" => {
                let v = ev.payload["version"].as_u64().and_then(|v| u32::try_from(v).ok());
                self.policy_version = v.ok_or_else(|| broken(ev, "has no policy version"))?;
                self.policy = ev.payload["policy"].clone();
            }
            _ => {}
        }
        Ok(())
    }

    /// Which versions an event concerns, for lineage.
    fn mentioned(&self, d: &DomainEvent) -> Vec<Option<u64>> {
        match d {
            DomainEvent::VersionStatusChanged(p) => vec![Some(p.version)],
            DomainEvent::BacktestRecorded(p) => vec![Some(p.version)],
            DomainEvent::DriftRecorded(p) => vec![p.version],
            DomainEvent::ChampionChanged(p) => vec![p.from, Some(p.to)],
            DomainEvent::ShadowRecorded(p) => vec![Some(p.champion), Some(p.challenger)],
            DomainEvent::ShadowStarted(p) | DomainEvent::ShadowStopped(p) => vec![Some(p.version)],
            DomainEvent::PromotionEvaluated(p) => vec![Some(p.candidate), p.champion],
            DomainEvent::PromotionProposed(p) => vec![Some(p.challenger), p.champion],
            DomainEvent::PromotionApproved(p) | DomainEvent::PromotionRejected(p) => {
                vec![self.proposals.get(&p.proposal_id).map(|pr| pr.proposed.challenger)]
            }
            DomainEvent::PromotionEndorsed(p) => match &p.target {
                ApprovalTarget::Proposal { proposal_id } => {
                    vec![self.proposals.get(proposal_id).map(|pr| pr.proposed.challenger)]
                }
                ApprovalTarget::DriftAlert { version, .. } => vec![Some(*version)],
                ApprovalTarget::Experiment { hypothesis_id, .. } => self
                    .experiments
                    .get(hypothesis_id)
                    .map(|x| x.versions.iter().map(|v| Some(*v)).collect())
                    .unwrap_or_default(),
            },
            DomainEvent::AlertActioned(p) => vec![p.version],
            DomainEvent::DatasetRegistered(_)
            | DomainEvent::ModelRegistered(_)
            | DomainEvent::HypothesisProposed(_)
            | DomainEvent::ExperimentApproved(_)
            | DomainEvent::ExperimentRejected(_)
            | DomainEvent::ExperimentStarted(_)
            | DomainEvent::ExperimentShadowStarted(_)
            | DomainEvent::ExperimentCompleted(_)
            | DomainEvent::RunRecorded(_)
            | DomainEvent::VersionRegistered(_)
            | DomainEvent::AlertRead(_)
            | DomainEvent::ReleaseDecided(_) => vec![],
        }
    }

    fn apply_domain(&mut self, ev: &EventMeta<'_>, d: DomainEvent) -> Result<(), FoldError> {
        let seq = ev.seq;
        let at = ev.recorded_at.to_string();
        let subject = ev.subject.cloned();
        let model = subject.as_ref().map(|s| s.model.clone()).unwrap_or_default();
        let segment = subject.as_ref().and_then(|s| s.segment.clone());
        match d {
            DomainEvent::DatasetRegistered(p) => {
                let msg = format!("dataset `{}` version `{}` registered", p.dataset, p.version);
                self.datasets.insert(format!("{}@{}", p.dataset, p.version), p);
                self.raise(ev, AlertType::NewDataSourceReady, msg, None, None);
            }
            DomainEvent::ModelRegistered(p) => {
                if !self.models.contains_key(&model) {
                    self.models.insert(model.clone(), ModelState::default());
                }
                let m = self.models.get_mut(&model).expect("inserted above");
                if m.task.is_some() {
                    return Err(broken(ev, format!("registers `{model}` again")));
                }
                m.task = Some(p.task);
                m.registered_seq = Some(seq);
            }
            DomainEvent::HypothesisProposed(p) => {
                self.experiments.insert(
                    p.hypothesis_id.clone(),
                    Experiment {
                        hypothesis: Box::new(p),
                        model,
                        status: ExperimentStatus::Proposed,
                        transitions: vec![Transition {
                            status: ExperimentStatus::Proposed,
                            seq,
                            recorded_at: at,
                        }],
                        review: None,
                        versions: vec![],
                        recorders: vec![],
                        planned_windows: None,
                        shadow_windows: BTreeMap::new(),
                        shadow: vec![],
                        completion: None,
                    },
                );
            }
            DomainEvent::ExperimentApproved(p) => {
                let x = self.experiment_mut(ev, &p.hypothesis_id)?;
                x.status = ExperimentStatus::Approved;
                x.transitions.push(Transition { status: x.status, seq, recorded_at: at });
                x.review = Some(Review {
                    approved: true,
                    by: p.approved_by,
                    rationale: p.rationale,
                    constraints: p.constraints,
                });
            }
            DomainEvent::ExperimentRejected(p) => {
                let x = self.experiment_mut(ev, &p.hypothesis_id)?;
                x.status = ExperimentStatus::Rejected;
                x.transitions.push(Transition { status: x.status, seq, recorded_at: at });
                x.review = Some(Review {
                    approved: false,
                    by: p.rejected_by,
                    rationale: p.rationale,
                    constraints: vec![],
                });
            }
            DomainEvent::ExperimentStarted(p) => {
                let x = self.experiment_mut(ev, &p.hypothesis_id)?;
                x.status = ExperimentStatus::InProgress;
                x.transitions.push(Transition { status: x.status, seq, recorded_at: at });
            }
            DomainEvent::ExperimentShadowStarted(p) => {
                let x = self.experiment_mut(ev, &p.hypothesis_id)?;
                x.status = ExperimentStatus::ShadowTesting;
                x.planned_windows = p.planned_windows;
                x.transitions.push(Transition { status: x.status, seq, recorded_at: at });
            }
            DomainEvent::ExperimentCompleted(p) => {
                let msg = format!("experiment `{}` completed: {}", p.hypothesis_id, name(&p.decision));
                let x = self.experiment_mut(ev, &p.hypothesis_id)?;
                x.status = ExperimentStatus::Completed;
                x.transitions.push(Transition { status: x.status, seq, recorded_at: at });
                x.completion = Some(Box::new(p));
                self.raise(ev, AlertType::ExperimentComplete, msg, None, None);
            }
            DomainEvent::RunRecorded(p) => {
                if let Some(h) = &p.hypothesis_id {
                    let x = self.experiment_mut(ev, h)?;
                    if !x.recorders.contains(&p.recorded_by) {
                        x.recorders.push(p.recorded_by.clone());
                    }
                }
                self.runs.insert(p.run_id.clone(), Run { run: p.into(), model, versions: vec![], seq });
            }
            DomainEvent::VersionRegistered(p) => {
                let run = self
                    .runs
                    .get_mut(&p.run_id)
                    .ok_or_else(|| broken(ev, format!("names run `{}`, never recorded", p.run_id)))?;
                run.versions.push(p.version);
                let (trigger, hypothesis) = (run.run.trigger, run.run.hypothesis_id.clone());
                // Only an experiment's own runs produce its (experimental) versions.
                if let (Trigger::Experiment, Some(h)) = (trigger, hypothesis) {
                    self.experiment_mut(ev, &h)?.versions.push(p.version);
                }
                self.model_mut(ev, &model)?.versions.insert(
                    p.version,
                    VersionInfo {
                        version: p.version,
                        segment,
                        run_id: p.run_id,
                        trigger,
                        artifact_digest: p.artifact_digest,
                        status: p.status,
                        metrics: p.metrics,
                        baseline: p.baseline,
                        registered_seq: seq,
                        served: false,
                        backtests: vec![],
                        history: vec![],
                    },
                );
            }
            DomainEvent::VersionStatusChanged(p) => {
                self.version_mut(ev, &model, p.version)?.status = p.to;
            }
            DomainEvent::ChampionChanged(p) => {
                let key = seg_key(segment.as_deref());
                if let Some(old) = p.from {
                    let old = self.version_mut(ev, &model, old)?;
                    if old.status == VersionStatus::Champion {
                        old.status = VersionStatus::Archived;
                    }
                }
                let v = self.version_mut(ev, &model, p.to)?;
                v.status = VersionStatus::Champion;
                v.served = true;
                let m = self.model_mut(ev, &model)?;
                m.champions.insert(key.clone(), p.to);
                m.champion_history.entry(key).or_default().push(ChampionChange {
                    seq,
                    version: p.to,
                    cause: p.cause,
                });
            }
            DomainEvent::BacktestRecorded(p) => {
                self.version_mut(ev, &model, p.version)?
                    .backtests
                    .push(WindowRef { seq, degraded: p.degraded });
                if p.degraded {
                    let msg = format!("backtest window of v{} of `{model}` degraded past policy", p.version);
                    self.raise(ev, AlertType::BacktestDegradation, msg, Some(p.version), None);
                }
            }
            DomainEvent::ShadowRecorded(p) => {
                if let Some(h) = &p.hypothesis_id {
                    let x = self.experiment_mut(ev, h)?;
                    x.shadow_windows.insert(seg_key(segment.as_deref()), p.window_index);
                    x.shadow.push(ShadowWindow {
                        segment: segment.clone(),
                        champion: p.champion,
                        challenger: p.challenger,
                        champion_metrics: p.champion_metrics,
                        challenger_metrics: p.challenger_metrics,
                        samples: p.samples,
                        seq,
                    });
                }
                if p.complete {
                    let msg = format!(
                        "shadow test of v{} against v{}{} reached its planned length",
                        p.challenger,
                        p.champion,
                        segment.as_deref().map(|s| format!(" on segment `{s}`")).unwrap_or_default()
                    );
                    self.raise(ev, AlertType::ShadowTestComplete, msg, Some(p.challenger), None);
                }
            }
            DomainEvent::PromotionEvaluated(_) => {}
            DomainEvent::DriftRecorded(p) => {
                if p.exceeded {
                    let msg = format!(
                        "{} drift {:.1}% ({} -> {}) on `{model}` exceeds {:.0}%: review required",
                        p.metric, p.drift_pct, p.baseline, p.recent, p.threshold_pct
                    );
                    self.raise(ev, AlertType::DriftDetected, msg, p.version, None);
                }
            }
            DomainEvent::PromotionProposed(p) => {
                let msg = format!(
                    "v{} proposed to replace {} for `{model}`",
                    p.challenger,
                    p.champion.map_or("nothing".into(), |c| format!("v{c}"))
                );
                let subject = subject.clone().unwrap_or_else(|| Subject::model(&model));
                let (id, challenger) = (p.proposal_id.clone(), p.challenger);
                self.raise(ev, AlertType::PromotionPending, msg, Some(challenger), Some(id.clone()));
                self.proposals
                    .insert(id, Proposal { proposed: p, subject, status: ProposalStatus::Pending, seq });
            }
            DomainEvent::PromotionEndorsed(p) => {
                let e = self.endorsements.entry(p.target.key()).or_insert_with(|| Endorsements {
                    target: p.target.clone(),
                    by: vec![],
                    seqs: vec![],
                });
                e.by.push(p.by.clone());
                e.seqs.push(seq);
            }
            DomainEvent::PromotionApproved(ref p) | DomainEvent::PromotionRejected(ref p) => {
                let approved = matches!(d, DomainEvent::PromotionApproved(_));
                let pr = self.proposals.get_mut(&p.proposal_id).ok_or_else(|| {
                    broken(ev, format!("decides proposal `{}`, never proposed", p.proposal_id))
                })?;
                pr.status = if approved { ProposalStatus::Approved } else { ProposalStatus::Rejected };
                let status = if approved { AlertStatus::Actioned } else { AlertStatus::Dismissed };
                let id = p.proposal_id.clone();
                self.close_alerts(|a| a.proposal_id.as_deref() == Some(&id), status, &p.by, &p.notes, seq);
            }
            DomainEvent::ReleaseDecided(p) => {
                self.releases.entry(model).or_default().push(Release { seq, decided: p });
            }
            DomainEvent::ShadowStarted(p) => {
                self.version_mut(ev, &model, p.version)?;
                self.model_mut(ev, &model)?.shadows.insert(p.version);
            }
            DomainEvent::ShadowStopped(p) => {
                if !self.model_mut(ev, &model)?.shadows.remove(&p.version) {
                    return Err(broken(ev, format!("stops the shadow of v{}, never started", p.version)));
                }
            }
            DomainEvent::AlertRead(p) => {
                let a = self
                    .alerts
                    .get_mut(&p.alert_id)
                    .ok_or_else(|| broken(ev, format!("reads alert `{}`, never raised", p.alert_id)))?;
                if a.status == AlertStatus::Unread {
                    a.status = AlertStatus::Read;
                }
                a.history.push(AlertEvent {
                    action: "read".into(),
                    by: p.by.clone(),
                    notes: String::new(),
                    seq,
                });
            }
            DomainEvent::AlertActioned(p) => {
                if !self.alerts.contains_key(&p.alert_id) {
                    return Err(broken(ev, format!("acts on alert `{}`, never raised", p.alert_id)));
                }
                let status = match p.action {
                    AlertAction::Approve => AlertStatus::Actioned,
                    AlertAction::Acknowledge => AlertStatus::Acknowledged,
                    AlertAction::Dismiss => AlertStatus::Dismissed,
                };
                let id = p.alert_id.clone();
                self.close_alerts(|a| a.id == id, status, &p.by, &p.notes, seq);
            }
        }
        Ok(())
    }
    /// blake3 of the state's canonical JSON: two replays agree iff their digests do.
    pub fn digest(&self) -> ledger::Digest {
        let bytes = ledger::canonical::to_vec(self).expect("the state holds finite numbers only");
        ledger::Digest::of(&bytes)
    }

    /// The model, if known.
    pub fn model(&self, name: &str) -> Option<&ModelState> {
        self.models.get(name)
    }

    /// Open (unread or read) alerts by severity, and every alert by status.
    pub fn alert_counts(&self) -> AlertCounts {
        let mut c = AlertCounts::default();
        for a in self.alerts.values() {
            if a.status.is_open() {
                *c.open_by_severity.entry(a.severity.as_str().to_string()).or_default() += 1;
            }
            if a.status == AlertStatus::Unread {
                *c.unread_by_severity.entry(a.severity.as_str().to_string()).or_default() += 1;
            }
            *c.by_status.entry(a.status.as_str().to_string()).or_default() += 1;
        }
        c
    }
}
