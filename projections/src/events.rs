//! The domain's event vocabulary: one payload type per event kind (all version 1).
//!
//! The decide step (in `commands`) builds these; the read models in this crate fold them.
//! Each type's JSON Schema is generated from it and kept in `schemas/events/<kind>.v1.schema.json`
//! (a test checks the files match).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Metric name -> value (finite floats only; the append path refuses NaN and infinities).
pub type Metrics = BTreeMap<String, f64>;

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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
    /// An approver approved a proposal or acted on an alert.
    Approval,
    /// The first champion of a model/segment, set by an approver.
    Bootstrap,
    /// A previous champion restored.
    Rollback,
    /// An experiment adopted the version.
    Experiment,
}

/// An experiment's final decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Adopt every experimental version.
    Adopt,
    /// Adopt none.
    Reject,
    /// Adopt some segments' versions.
    PartialAdopt,
}

/// One promotion gate evaluated: the evidence and the outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateResult {
    /// The metric compared.
    pub metric: String,
    /// `lower` or `higher` is better.
    pub direction: String,
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
    /// Windows recorded so far for this experiment (this one included).
    pub window_index: u32,
    /// The experiment's planned windows reached.
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
    /// The proposal (or alert) decided.
    pub proposal_id: String,
    /// Who decided (signer).
    pub by: String,
    /// Notes or reason.
    pub notes: String,
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
    /// `approve` or `dismiss`.
    pub action: String,
    /// Notes.
    pub notes: String,
    /// Who (signer).
    pub by: String,
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
    /// `release` or `hold`.
    pub decision: String,
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

/// Every domain event kind and its payload type, for schema generation and checks.
pub const KINDS: [&str; 21] = [
    "dataset.registered",
    "hypothesis.proposed",
    "experiment.approved",
    "experiment.rejected",
    "experiment.started",
    "experiment.shadow_started",
    "experiment.completed",
    "run.recorded",
    "version.registered",
    "version.status_changed",
    "promotion.evaluated",
    "champion.changed",
    "backtest.recorded",
    "shadow.recorded",
    "drift.recorded",
    "promotion.proposed",
    "promotion.approved",
    "promotion.rejected",
    "alert.read",
    "alert.actioned",
    "release.decided",
];

/// The JSON Schema of a domain event kind's payload (v1), `None` for an unknown kind.
pub fn schema_of(kind: &str) -> Option<Value> {
    use schemars::schema_for;
    let s = match kind {
        "dataset.registered" => schema_for!(DatasetRegistered),
        "hypothesis.proposed" => schema_for!(HypothesisProposed),
        "experiment.approved" => schema_for!(ExperimentApproved),
        "experiment.rejected" => schema_for!(ExperimentRejected),
        "experiment.started" | "experiment.shadow_started" => schema_for!(ExperimentStep),
        "experiment.completed" => schema_for!(ExperimentCompleted),
        "run.recorded" => schema_for!(RunRecorded),
        "version.registered" => schema_for!(VersionRegistered),
        "version.status_changed" => schema_for!(VersionStatusChanged),
        "promotion.evaluated" => schema_for!(PromotionEvaluated),
        "champion.changed" => schema_for!(ChampionChanged),
        "backtest.recorded" => schema_for!(BacktestRecorded),
        "shadow.recorded" => schema_for!(ShadowRecorded),
        "drift.recorded" => schema_for!(DriftRecorded),
        "promotion.proposed" => schema_for!(PromotionProposed),
        "promotion.approved" | "promotion.rejected" => schema_for!(PromotionDecided),
        "alert.read" => schema_for!(AlertRead),
        "alert.actioned" => schema_for!(AlertActioned),
        "release.decided" => schema_for!(ReleaseDecided),
        _ => return None,
    };
    Some(serde_json::to_value(s).expect("schemas are JSON"))
}
