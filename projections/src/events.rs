//! The domain's event vocabulary: one payload type per event kind, and [`DomainEvent`], the
//! one enum over them that the decide step produces and the fold consumes.
//!
//! Adding an event kind is one line in the [`typed_vocabulary!`](crate::typed_vocabulary) list below (its [`EventKind`] variant,
//! its name and its payload type); the compiler then points at every `match` that must handle
//! it (the fold, the summaries, the counterfactual). Each payload's JSON Schema is generated
//! from its type and kept in `schemas/events/<kind>.v1.schema.json` (a test checks the files).

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::metrics::Metrics;

/// What a model predicts: it chooses the promotion gates and drift metric that apply to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// A class or a probability (ROC-AUC, log-loss).
    Classification,
    /// A number (MAE, RMSE).
    Regression,
    /// A number over a horizon (MAE, MAPE, interval coverage).
    Forecast,
}

impl Task {
    /// Every task, in a fixed order.
    pub const ALL: [Task; 3] = [Task::Classification, Task::Regression, Task::Forecast];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Classification => "classification",
            Task::Regression => "regression",
            Task::Forecast => "forecast",
        }
    }
}

impl std::str::FromStr for Task {
    type Err = String;
    fn from_str(s: &str) -> Result<Task, String> {
        Task::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a task (classification, regression, forecast)"))
    }
}

/// Which way a metric improves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Lower is better (MAE, MAPE, log-loss).
    Lower,
    /// Higher is better (ROC-AUC, accuracy, coverage).
    Higher,
}

impl Direction {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Lower => "lower",
            Direction::Higher => "higher",
        }
    }

    /// The relative improvement of `candidate` over `baseline`, in percent of `|baseline|`
    /// (positive = better), or `None` when the baseline is 0.
    pub fn improvement_pct(self, candidate: f64, baseline: f64) -> Option<f64> {
        if baseline == 0.0 {
            return None;
        }
        let gain = match self {
            Direction::Lower => baseline - candidate,
            Direction::Higher => candidate - baseline,
        };
        Some(gain / baseline.abs() * 100.0)
    }
}

/// What kind of change a hypothesis proposes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeType {
    /// New or changed features.
    Feature,
    /// A different objective or loss.
    Objective,
    /// Different or more data.
    Data,
    /// Hyper-parameter tuning.
    Tuning,
    /// Model architecture or routing.
    Architecture,
}

/// Why a training run happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// A scheduled retrain.
    Scheduled,
    /// Started by a person.
    Manual,
    /// Started because drift was detected: never auto-promoted.
    DriftDetected,
    /// Part of an experiment: experimental until the experiment completes.
    Experiment,
    /// A new dataset version arrived.
    NewData,
}

impl Trigger {
    /// Every trigger, in a fixed order.
    pub const ALL: [Trigger; 5] =
        [Trigger::Scheduled, Trigger::Manual, Trigger::DriftDetected, Trigger::Experiment, Trigger::NewData];

    /// The snake_case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Trigger::Scheduled => "scheduled",
            Trigger::Manual => "manual",
            Trigger::DriftDetected => "drift_detected",
            Trigger::Experiment => "experiment",
            Trigger::NewData => "new_data",
        }
    }
}

impl std::str::FromStr for Trigger {
    type Err = String;
    fn from_str(s: &str) -> Result<Trigger, String> {
        Trigger::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| {
            format!("`{s}` is not a trigger (scheduled, manual, drift_detected, experiment, new_data)")
        })
    }
}

/// Lifecycle status of a model version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VersionStatus {
    /// Registered, not yet judged against the champion.
    Candidate,
    /// Judged and kept beside the champion.
    Challenger,
    /// Produced by an experiment still running.
    Experimental,
    /// Serving.
    Champion,
    /// Retired.
    Archived,
}

/// Why the champion changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChampionCause {
    /// The candidate passed the policy's gates and the trigger allows auto-promotion.
    Policy,
    /// Approvers approved a proposal or acted on an alert.
    Approval,
    /// The first champion of a model/segment, set by an approver.
    Bootstrap,
    /// A previous champion restored.
    Rollback,
    /// An experiment adopted the version.
    Experiment,
}

/// An experiment's final decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Adopt every experimental version.
    Adopt,
    /// Adopt none.
    Reject,
    /// Adopt some segments' versions.
    PartialAdopt,
}

/// What an alert's handler did with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertAction {
    /// Approve what the alert asks for (a pending promotion, a drift retrain's version).
    Approve,
    /// Seen and understood; nothing to decide (informational alerts).
    Acknowledge,
    /// Not acted on.
    Dismiss,
}

impl AlertAction {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertAction::Approve => "approve",
            AlertAction::Acknowledge => "acknowledge",
            AlertAction::Dismiss => "dismiss",
        }
    }
}

/// A release decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseDecision {
    /// Release (only while every release gate is green).
    Release,
    /// Hold the release.
    Hold,
}

/// Whose figures stood for the champion in a gate evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GateEvidence {
    /// The champion's metrics as registered (it serves exactly this segment).
    ChampionMetrics,
    /// The serving version scored on the candidate's own evaluation rows (the run's
    /// `baseline`): how a segment model is judged against the global champion routing its
    /// segment.
    Baseline,
}

/// One promotion gate evaluated: the evidence and the outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateResult {
    /// The metric compared.
    pub metric: String,
    /// Which way is better.
    pub direction: Direction,
    /// Required relative improvement (0.05 = 5%).
    pub margin: f64,
    /// Whether the improvement must be strict.
    pub strict: bool,
    /// The challenger's value.
    pub candidate: f64,
    /// The champion's value.
    pub champion: f64,
    /// The threshold the candidate had to beat.
    pub threshold: f64,
    /// Whether the gate passed.
    pub passed: bool,
}

/// `model.registered`: a model and the task it is judged by.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelRegistered {
    /// What it predicts: selects the policy's gate set and drift metric.
    pub task: Task,
    /// Who registered it (signer).
    pub by: String,
    /// Free text.
    pub description: Option<String>,
}

/// `dataset.registered`: a dataset version is available.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetRegistered {
    /// Dataset name.
    pub dataset: String,
    /// Its version label (e.g. `20260211`).
    pub version: String,
    /// blake3 of the data file(s), hex.
    pub digest: String,
    /// Row count, if known.
    pub rows: Option<u64>,
    /// Free text.
    pub description: Option<String>,
}

/// `hypothesis.proposed`: the start of an experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HypothesisProposed {
    /// Client-chosen id (e.g. `H-101`), unique in the ledger.
    pub hypothesis_id: String,
    /// The statement being tested.
    pub statement: String,
    /// What kind of change.
    pub change_type: ChangeType,
    /// Short description of the change.
    pub change_summary: Option<String>,
    /// The metric expected to improve.
    pub target_metric: String,
    /// Expected relative improvement, percent.
    pub expected_improvement_pct: f64,
    /// Who owns it.
    pub owner: String,
    /// Principal who proposed it (the signer).
    pub proposed_by: String,
    /// Dataset version it will use.
    pub dataset_version: Option<String>,
    /// Feature-set version it will use.
    pub feature_set_version: Option<String>,
}

/// `experiment.approved`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExperimentApproved {
    /// The hypothesis.
    pub hypothesis_id: String,
    /// Approver (signer).
    pub approved_by: String,
    /// Why.
    pub rationale: String,
    /// Conditions attached to the approval.
    pub constraints: Vec<String>,
}

/// `experiment.rejected`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExperimentRejected {
    /// The hypothesis.
    pub hypothesis_id: String,
    /// Who rejected it (signer).
    pub rejected_by: String,
    /// Why.
    pub rationale: String,
}

/// `experiment.started` and `experiment.shadow_started`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExperimentStep {
    /// The hypothesis.
    pub hypothesis_id: String,
    /// Who moved it (signer).
    pub by: String,
    /// Planned shadow windows (shadow start only).
    pub planned_windows: Option<u32>,
}

/// One segment's outcome in a completed experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentOutcome {
    /// Segment (`null` for the whole model).
    pub segment: Option<String>,
    /// The experimental version.
    pub version: u64,
    /// Adopted (becomes champion for the segment) or not (archived).
    pub adopted: bool,
}

/// `experiment.completed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExperimentCompleted {
    /// The hypothesis.
    pub hypothesis_id: String,
    /// Who completed it (signer).
    pub completed_by: String,
    /// The decision.
    pub decision: Decision,
    /// Per experimental version, adopted or not.
    pub outcomes: Vec<SegmentOutcome>,
    /// Numbers that justify it.
    pub results: BTreeMap<String, f64>,
    /// Why.
    pub rationale: String,
    /// The hypothesis' pre-registered criterion judged on the evidence recorded, next to the
    /// decision: a decision against the evidence is visible here.
    pub criterion: Criterion,
    /// Approvers who endorsed this decision before the signer (k-of-n approval), in order.
    pub endorsed_by: Vec<String>,
}

/// Where the figures a hypothesis' criterion is judged on come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CriterionSource {
    /// The experiment's shadow windows for the version: champion and challenger on the same
    /// actuals, each averaged weighting windows by their samples.
    Shadow,
    /// No shadow window: the version's registered metrics against those of the champion
    /// serving its segment.
    Registered,
}

/// One experimental version's figures for the criterion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CriterionEvidence {
    /// The experimental version.
    pub version: u64,
    /// Its segment.
    pub segment: Option<String>,
    /// Where the figures come from.
    pub source: CriterionSource,
    /// The champion compared with.
    pub champion: Option<u64>,
    /// The champion's value of the target metric.
    pub champion_value: f64,
    /// The version's value of the target metric.
    pub challenger_value: f64,
    /// Relative improvement, percent of the champion's value (positive = better).
    pub improvement_pct: Option<f64>,
    /// Whether the improvement reached the expected one.
    pub met: bool,
}

/// A hypothesis' criterion (target metric and expected improvement) judged on the evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Criterion {
    /// The target metric.
    pub metric: String,
    /// Which way it improves (`null`: the policy and the metric table do not say).
    pub direction: Option<Direction>,
    /// The expected relative improvement, percent.
    pub expected_improvement_pct: f64,
    /// Per experimental version with figures for the metric.
    pub evidence: Vec<CriterionEvidence>,
    /// Met by every version with evidence (`null`: no evidence, or no direction).
    pub met: Option<bool>,
}

/// `run.recorded`: a training run and its evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRecorded {
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
    /// Hyper-parameters.
    #[schemars(with = "BTreeMap<String, Value>")]
    pub params: Value,
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

/// `version.registered`: a model version produced by a run (one per segment model).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionRegistered {
    /// Version number, assigned by the ledger (1, 2, ... per model).
    pub version: u64,
    /// The run that produced it.
    pub run_id: String,
    /// blake3 of the model artifact.
    pub artifact_digest: String,
    /// Initial status.
    pub status: VersionStatus,
    /// Its metrics (the run's, or its segment's).
    pub metrics: Metrics,
    /// The serving version scored on the same evaluation rows, when the run measured it.
    pub baseline: Option<Baseline>,
}

/// The version serving a segment, scored on a candidate's own evaluation rows: the evidence a
/// segment model is judged on when the global champion routes its segment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// The serving version scored.
    pub version: u64,
    /// Its metrics on the candidate's evaluation rows.
    pub metrics: Metrics,
}

/// `version.status_changed`: archiving, experimental -> challenger, candidate -> challenger.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionStatusChanged {
    /// The version.
    pub version: u64,
    /// Old status.
    pub from: VersionStatus,
    /// New status.
    pub to: VersionStatus,
    /// Why.
    pub reason: String,
}

/// `promotion.evaluated`: a candidate judged against the champion by the policy's gates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromotionEvaluated {
    /// The candidate.
    pub candidate: u64,
    /// The champion it was compared with.
    pub champion: Option<u64>,
    /// Every gate with its inputs and outcome.
    pub gates: Vec<GateResult>,
    /// All gates passed.
    pub passed: bool,
    /// Whether the trigger allowed promotion without a person.
    pub auto_promote_allowed: bool,
    /// Policy version used.
    pub policy_version: u32,
    /// Whose figures stood for the champion.
    pub evidence: GateEvidence,
}

/// `champion.changed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChampionChanged {
    /// Previous champion.
    pub from: Option<u64>,
    /// New champion.
    pub to: u64,
    /// Why.
    pub cause: ChampionCause,
    /// Who (signer of the command), or `policy`.
    pub by: String,
    /// Free text (rollback reason, approval notes).
    pub reason: Option<String>,
    /// Policy version in force.
    pub policy_version: u32,
}

/// `backtest.recorded`: one backtest window of a version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestRecorded {
    /// The version.
    pub version: u64,
    /// Window start (date or time, client's).
    pub window_start: String,
    /// Window end.
    pub window_end: String,
    /// Metrics over the window.
    pub metrics: Metrics,
    /// Rows in the window.
    pub rows: u64,
    /// Whether the policy judged this window degraded against the version's own baseline.
    pub degraded: bool,
    /// Policy version used.
    pub policy_version: u32,
}

/// `shadow.recorded`: champion and challenger on the same actuals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShadowRecorded {
    /// Experiment, if any.
    pub hypothesis_id: Option<String>,
    /// Champion version.
    pub champion: u64,
    /// Challenger version.
    pub challenger: u64,
    /// Window start.
    pub window_start: String,
    /// Window end.
    pub window_end: String,
    /// Champion's metrics.
    pub champion_metrics: Metrics,
    /// Challenger's metrics.
    pub challenger_metrics: Metrics,
    /// Compared samples.
    pub samples: u64,
    /// Windows recorded so far for this experiment and segment (this one included).
    pub window_index: u32,
    /// The experiment's planned windows reached for this segment.
    pub complete: bool,
}

/// `drift.recorded`: a drift check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DriftRecorded {
    /// The version checked (the champion).
    pub version: Option<u64>,
    /// Metric compared.
    pub metric: String,
    /// Baseline value (e.g. 30-day).
    pub baseline: f64,
    /// Recent value (e.g. 7-day).
    pub recent: f64,
    /// Relative degradation, percent (positive = worse).
    pub drift_pct: f64,
    /// Population stability index per feature.
    pub psi: BTreeMap<String, f64>,
    /// Policy threshold on degradation, percent.
    pub threshold_pct: f64,
    /// Policy threshold on PSI.
    pub psi_threshold: f64,
    /// Whether the policy judged this drift (a critical alert).
    pub exceeded: bool,
    /// Policy version used.
    pub policy_version: u32,
}

/// `promotion.proposed`: an arena proposal awaiting a person.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromotionProposed {
    /// Proposal id (assigned: `P-<seq>`).
    pub proposal_id: String,
    /// The challenger.
    pub challenger: u64,
    /// The champion.
    pub champion: Option<u64>,
    /// Every gate with its inputs and outcome.
    pub gates: Vec<GateResult>,
    /// All gates passed.
    pub passed: bool,
    /// Who proposed (signer).
    pub proposed_by: String,
    /// Policy version used.
    pub policy_version: u32,
}

/// `promotion.approved` / `promotion.rejected`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromotionDecided {
    /// The proposal decided.
    pub proposal_id: String,
    /// Who decided (signer).
    pub by: String,
    /// Notes or reason.
    pub notes: String,
    /// Why the approver promotes although the proposal's gates failed (`null` when they
    /// passed, and always for a rejection).
    pub override_reason: Option<String>,
    /// Approvers who endorsed the promotion before the signer (k-of-n approval), in order.
    pub endorsed_by: Vec<String>,
}

/// What an approval is for, when the policy wants several approvers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ApprovalTarget {
    /// An arena proposal.
    Proposal {
        /// The proposal.
        proposal_id: String,
    },
    /// A drift alert's retrained version.
    DriftAlert {
        /// The alert.
        alert_id: String,
        /// The version it promotes.
        version: u64,
    },
    /// An experiment's adoption.
    Experiment {
        /// The hypothesis.
        hypothesis_id: String,
        /// The decision endorsed.
        decision: Decision,
        /// Its segments (`partial_adopt`).
        adopt_segments: Vec<Option<String>>,
    },
}

/// `promotion.endorsed`: one approval of a promotion that needs more approvers than it has;
/// the approval that reaches the policy's number promotes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromotionEndorsed {
    /// What is approved.
    pub target: ApprovalTarget,
    /// The approver (signer).
    pub by: String,
    /// Notes.
    pub notes: String,
    /// Why, when the approver overrides failed gates.
    pub override_reason: Option<String>,
    /// Distinct approvals so far, this one included.
    pub approvals: u32,
    /// Approvals the policy requires.
    pub required: u32,
    /// Policy version in force.
    pub policy_version: u32,
}

/// `shadow.started` / `shadow.stopped`: a challenger put in shadow (it scores the rows of its
/// route beside the champion, logged and never returned) or taken out of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShadowSet {
    /// The version.
    pub version: u64,
    /// Why.
    pub reason: String,
    /// Who decided it (signer).
    pub by: String,
}

/// `alert.read`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertRead {
    /// The alert.
    pub alert_id: String,
    /// Who read it (signer).
    pub by: String,
}

/// `alert.actioned`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertActioned {
    /// The alert.
    pub alert_id: String,
    /// What was done.
    pub action: AlertAction,
    /// Notes.
    pub notes: String,
    /// Who (signer).
    pub by: String,
    /// The version an approved drift alert promotes (`null` otherwise).
    pub version: Option<u64>,
}

/// One production gate of a release check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseGate {
    /// Gate name, e.g. `champion_present`.
    pub gate: String,
    /// Whether it is green.
    pub passed: bool,
    /// What was checked, for a person.
    pub detail: String,
}

/// `release.decided`: a release decision with the production gates as they stood.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseDecided {
    /// The decision.
    pub decision: ReleaseDecision,
    /// Every gate.
    pub gates: Vec<ReleaseGate>,
    /// All gates green.
    pub green: bool,
    /// Who decided (signer).
    pub by: String,
    /// Notes.
    pub notes: String,
    /// Policy version in force.
    pub policy_version: u32,
}

crate::typed_vocabulary! {
    kinds: EventKind, values: DomainEvent, what: "domain event";
    /// `dataset.registered`.
    DatasetRegistered = "dataset.registered" => DatasetRegistered,
    /// `model.registered`.
    ModelRegistered = "model.registered" => ModelRegistered,
    /// `hypothesis.proposed`.
    HypothesisProposed = "hypothesis.proposed" => HypothesisProposed,
    /// `experiment.approved`.
    ExperimentApproved = "experiment.approved" => ExperimentApproved,
    /// `experiment.rejected`.
    ExperimentRejected = "experiment.rejected" => ExperimentRejected,
    /// `experiment.started`.
    ExperimentStarted = "experiment.started" => ExperimentStep,
    /// `experiment.shadow_started`.
    ExperimentShadowStarted = "experiment.shadow_started" => ExperimentStep,
    /// `experiment.completed`.
    ExperimentCompleted = "experiment.completed" => ExperimentCompleted,
    /// `run.recorded`.
    RunRecorded = "run.recorded" => RunRecorded,
    /// `version.registered`.
    VersionRegistered = "version.registered" => VersionRegistered,
    /// `version.status_changed`.
    VersionStatusChanged = "version.status_changed" => VersionStatusChanged,
    /// `promotion.evaluated`.
    PromotionEvaluated = "promotion.evaluated" => PromotionEvaluated,
    /// `champion.changed`.
    ChampionChanged = "champion.changed" => ChampionChanged,
    /// `backtest.recorded`.
    BacktestRecorded = "backtest.recorded" => BacktestRecorded,
    /// `shadow.recorded`.
    ShadowRecorded = "shadow.recorded" => ShadowRecorded,
    /// `drift.recorded`.
    DriftRecorded = "drift.recorded" => DriftRecorded,
    /// `promotion.proposed`.
    PromotionProposed = "promotion.proposed" => PromotionProposed,
    /// `promotion.endorsed`.
    PromotionEndorsed = "promotion.endorsed" => PromotionEndorsed,
    /// `promotion.approved`.
    PromotionApproved = "promotion.approved" => PromotionDecided,
    /// `promotion.rejected`.
    PromotionRejected = "promotion.rejected" => PromotionDecided,
    /// `alert.read`.
    AlertRead = "alert.read" => AlertRead,
    /// `alert.actioned`.
    AlertActioned = "alert.actioned" => AlertActioned,
    /// `release.decided`.
    ReleaseDecided = "release.decided" => ReleaseDecided,
    /// `shadow.started`.
    ShadowStarted = "shadow.started" => ShadowSet,
    /// `shadow.stopped`.
    ShadowStopped = "shadow.stopped" => ShadowSet,
}

/// Why an event could not be folded. Only a damaged or forged ledger holds one: the append
/// path writes only events decided from typed payloads, and verification re-derives them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoldError(pub String);

impl fmt::Display for FoldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FoldError {}

/// What an event is to the domain: one of its own, decoded, or one of the ledger's trust
/// events (which the domain folds only for the policy they carry).
#[derive(Clone, Debug, PartialEq)]
pub enum Decoded {
    /// A domain event.
    Domain(Box<DomainEvent>),
    /// A trust event (`ledger.created`, `key.*`, `role.*`, `policy.changed`).
    Trust,
}

/// Decodes an event's payload by its kind. An unknown kind, or a payload that is not its
/// kind's type, is an error naming both: the fold never drops an event silently.
pub fn decode(kind: &str, payload: &Value) -> Result<Decoded, FoldError> {
    decode_with(kind, |k| DomainEvent::decode(k, payload))
}

/// [`decode`] from the payload's JSON text.
pub fn decode_str(kind: &str, payload: &str) -> Result<Decoded, FoldError> {
    decode_with(kind, |k| DomainEvent::decode_str(k, payload))
}

fn decode_with(
    kind: &str,
    body: impl FnOnce(EventKind) -> Result<DomainEvent, String>,
) -> Result<Decoded, FoldError> {
    if ledger::trust::kinds::EVENTS.contains(&kind) {
        return Ok(Decoded::Trust);
    }
    let k = EventKind::parse(kind)
        .ok_or_else(|| FoldError(format!("`{kind}` is neither a trust nor a domain event kind")))?;
    body(k)
        .map(|d| Decoded::Domain(Box::new(d)))
        .map_err(|e| FoldError(format!("the payload does not decode: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rebuild's decoder (from the payload's text) gives what the fold's (from a JSON
    /// value) gives: the same event, or the same error naming the member at fault (and where
    /// in the text).
    #[test]
    fn decoding_from_text_agrees_with_decoding_from_a_value() {
        let window = r#"{"version": 2, "window_start": "2026-01-01", "window_end": "2026-01-02", "metrics": {"mae": 12.5}, "rows": 24, "degraded": false, "policy_version": 1}"#;
        let cases = [
            ("backtest.recorded", window.to_string()),
            ("backtest.recorded", window.replace("12.5", "\"12.5\"")),
            ("backtest.recorded", window.replace("\"rows\": 24", "\"rows\": -1")),
            ("backtest.recorded", window.replace("\"rows\": 24, ", "")),
            ("backtest.recorded", window.replace("\"rows\"", "\"lines\"")),
            ("backtest.recorded", "[]".to_string()),
            ("no.such.kind", window.to_string()),
            ("key.enrolled", window.to_string()),
        ];
        let mut failures = 0;
        for (kind, text) in cases {
            let value: Value = serde_json::from_str(&text).unwrap();
            let (a, b) = (decode(kind, &value), decode_str(kind, &text));
            match (&a, &b) {
                (Ok(Decoded::Domain(x)), Ok(Decoded::Domain(y))) => assert_eq!(x, y, "{kind} {text}"),
                (Ok(Decoded::Trust), Ok(Decoded::Trust)) => {}
                (Err(x), Err(y)) => {
                    failures += 1;
                    // The text's errors also say where in it.
                    let (x, y) = (x.to_string(), y.to_string());
                    assert!(
                        y == x || y.starts_with(&format!("{x} at line ")),
                        "{kind} {text}: {x} against {y}"
                    );
                }
                _ => panic!("{kind} {text}: {a:?} against {b:?}"),
            }
        }
        assert_eq!(failures, 6);
        // A JSON value has already dropped the first of two equal names; the text still has
        // both, and a metric named twice is refused (stored events are canonical: they never
        // have one).
        let twice = window.replace(r#"{"mae": 12.5}"#, r#"{"mae": 12.5, "mae": 1.0}"#);
        let err = decode_str("backtest.recorded", &twice).unwrap_err().to_string();
        assert!(err.contains("`metrics`: duplicate metric `mae`"), "{err}");
    }
}
