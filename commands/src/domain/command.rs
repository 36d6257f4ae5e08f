//! The domain's command vocabulary: one body type per command kind, and [`DomainCommand`], the
//! one enum over them that the CLI, the demo and the bench build and the decide step matches.
//!
//! Adding a command kind: a line in [`commands!`]'s list below (variant, name, body type), its
//! arm in `decide` (the compiler asks for it), the events it produces (`projections::events`,
//! with their arms in the fold), its row in the default policy's permission table, and its
//! tests (`docs/ARCHITECTURE.md`, "Adding a command kind"; `tests::every_kind_is_everywhere`
//! fails while one of these is missing).

use std::collections::BTreeMap;

use projections::events::{
    AlertAction, Baseline, ChangeType, Decision, Metrics, ReleaseDecision, Task, Trigger,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `dataset.register`: a dataset version is available.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetBody {
    /// Dataset name.
    pub dataset: String,
    /// Version label.
    pub version: String,
    /// blake3 of the data, hex.
    pub digest: String,
    /// Row count, if known.
    pub rows: Option<u64>,
    /// Free text.
    pub description: Option<String>,
}

/// `model.register`: a model and the task it is judged by.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelBody {
    /// Model name.
    pub model: String,
    /// What it predicts.
    pub task: Task,
    /// Free text.
    pub description: Option<String>,
}

/// `hypothesis.propose`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HypothesisBody {
    /// Client-chosen id, unique in the ledger.
    pub hypothesis_id: String,
    /// The model.
    pub model: String,
    /// The statement tested.
    pub statement: String,
    /// What kind of change.
    pub change_type: ChangeType,
    /// Short description of the change.
    pub change_summary: Option<String>,
    /// The metric expected to improve: the pre-registered criterion, with the next member.
    pub target_metric: String,
    /// Expected relative improvement, percent.
    pub expected_improvement_pct: f64,
    /// Who owns it.
    pub owner: String,
    /// Dataset version it will use.
    pub dataset_version: Option<String>,
    /// Feature-set version it will use.
    pub feature_set_version: Option<String>,
}

/// `experiment.approve` and `experiment.reject`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    /// The hypothesis.
    pub hypothesis_id: String,
    /// Why.
    pub rationale: String,
    /// Conditions attached.
    #[serde(default)]
    pub constraints: Vec<String>,
}

/// `experiment.start` and `experiment.shadow`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepBody {
    /// The hypothesis.
    pub hypothesis_id: String,
    /// Shadow windows per segment (shadow only; default: the policy's).
    pub planned_windows: Option<u32>,
}

/// `experiment.complete`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteBody {
    /// The hypothesis.
    pub hypothesis_id: String,
    /// The decision.
    pub decision: Decision,
    /// The segments adopted (`partial_adopt`; `null` = the whole model).
    #[serde(default)]
    pub adopt_segments: Vec<Option<String>>,
    /// Numbers that justify it.
    #[serde(default)]
    pub results: BTreeMap<String, f64>,
    /// Why.
    pub rationale: String,
}

/// One model a run produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunModel {
    /// Segment it serves (`null`: the whole model).
    pub segment: Option<String>,
    /// blake3 of its artifact.
    pub artifact_digest: String,
    /// Its metrics on its evaluation rows.
    pub metrics: Metrics,
    /// The version serving its segment, scored on the same rows.
    #[serde(default)]
    pub baseline: Option<Baseline>,
}

/// One backtest window of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunBacktest {
    /// Segment (must be one of the run's models).
    pub segment: Option<String>,
    /// Window start: a timestamp, an ISO period, or a declared period.
    pub window_start: String,
    /// Window end.
    pub window_end: String,
    /// Metrics over the window.
    pub metrics: Metrics,
    /// Rows in the window.
    pub rows: u64,
}

/// `run.record`: a training run and its evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    /// Client-chosen id, unique in the ledger.
    pub run_id: String,
    /// The model.
    pub model: String,
    /// Its task: required when the model is not registered yet (its first run registers it).
    #[serde(default)]
    pub task: Option<Task>,
    /// Why it ran.
    pub trigger: Trigger,
    /// The experiment it belongs to.
    pub hypothesis_id: Option<String>,
    /// The drift alert it answers.
    pub drift_alert_id: Option<String>,
    /// blake3 of the training data.
    pub dataset_digest: String,
    /// Dataset version label.
    pub dataset_version: Option<String>,
    /// Feature-set version.
    pub feature_set: Option<String>,
    /// blake3 of the configuration.
    pub config_digest: Option<String>,
    /// Code version.
    pub code_version: Option<String>,
    /// Trainer name and version.
    pub trainer: String,
    /// Hyper-parameters.
    #[serde(default)]
    #[schemars(with = "Option<BTreeMap<String, Value>>")]
    pub params: Value,
    /// Overall metrics.
    pub metrics: Metrics,
    /// When training started (client's clock).
    pub started_at: Option<String>,
    /// When training finished.
    pub finished_at: Option<String>,
    /// The time axis' period labels in order, when windows are named by them.
    #[serde(default)]
    pub periods: Vec<String>,
    /// The models produced (one per segment).
    pub models: Vec<RunModel>,
    /// Backtest windows.
    #[serde(default)]
    pub backtests: Vec<RunBacktest>,
}

/// `backtest.record`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestBody {
    /// The model.
    pub model: String,
    /// The version.
    pub version: u64,
    /// Window start.
    pub window_start: String,
    /// Window end.
    pub window_end: String,
    /// Metrics.
    pub metrics: Metrics,
    /// Rows.
    pub rows: u64,
}

/// `shadow.record`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShadowBody {
    /// The model.
    pub model: String,
    /// Segment.
    pub segment: Option<String>,
    /// The experiment, if any.
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
}

/// `drift.record`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DriftBody {
    /// The model.
    pub model: String,
    /// Segment.
    pub segment: Option<String>,
    /// Metric compared (default: the model's drift metric).
    pub metric: Option<String>,
    /// Baseline value.
    pub baseline: f64,
    /// Recent value.
    pub recent: f64,
    /// PSI per feature.
    #[serde(default)]
    pub psi: BTreeMap<String, f64>,
}

/// `champion.bootstrap`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BootstrapBody {
    /// The model.
    pub model: String,
    /// Segment.
    pub segment: Option<String>,
    /// The version.
    pub version: u64,
    /// Why.
    pub reason: Option<String>,
}

/// `arena.propose`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposeBody {
    /// The model.
    pub model: String,
    /// Segment.
    pub segment: Option<String>,
    /// The challenger (default: the best by the gates).
    pub challenger: Option<u64>,
}

/// `arena.approve`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// The proposal.
    pub proposal_id: String,
    /// Notes.
    pub notes: Option<String>,
    /// Why the challenger is promoted although its gates failed (required then).
    #[serde(default)]
    pub override_reason: Option<String>,
}

/// `arena.reject`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArenaRejectBody {
    /// The proposal.
    pub proposal_id: String,
    /// Why.
    pub reason: String,
}

/// `rollback`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    /// The model.
    pub model: String,
    /// Segment.
    pub segment: Option<String>,
    /// The previous champion to restore.
    pub version: u64,
    /// Why.
    pub reason: String,
}

/// `shadow.start` / `shadow.stop`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShadowSetBody {
    /// The model.
    pub model: String,
    /// The challenger.
    pub version: u64,
    /// Why.
    pub reason: String,
}

/// `alert.read`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertReadBody {
    /// The alert.
    pub alert_id: String,
}

/// `alert.action`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertActionBody {
    /// The alert.
    pub alert_id: String,
    /// What to do.
    pub action: AlertAction,
    /// Notes.
    #[serde(default)]
    pub notes: String,
    /// The version an approved drift alert promotes (required when several answer it).
    #[serde(default)]
    pub version: Option<u64>,
    /// Why a pending promotion whose gates failed is approved (required then).
    #[serde(default)]
    pub override_reason: Option<String>,
}

/// `release.decide`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseBody {
    /// The model.
    pub model: String,
    /// The decision.
    pub decision: ReleaseDecision,
    /// Notes.
    #[serde(default)]
    pub notes: String,
}

projections::typed_vocabulary! {
    kinds: CommandKind, values: DomainCommand, what: "domain command";
    /// `dataset.register`.
    DatasetRegister = "dataset.register" => DatasetBody,
    /// `model.register`.
    ModelRegister = "model.register" => ModelBody,
    /// `hypothesis.propose`.
    HypothesisPropose = "hypothesis.propose" => HypothesisBody,
    /// `experiment.approve`.
    ExperimentApprove = "experiment.approve" => ReviewBody,
    /// `experiment.reject`.
    ExperimentReject = "experiment.reject" => ReviewBody,
    /// `experiment.start`.
    ExperimentStart = "experiment.start" => StepBody,
    /// `experiment.shadow`.
    ExperimentShadow = "experiment.shadow" => StepBody,
    /// `experiment.complete`.
    ExperimentComplete = "experiment.complete" => CompleteBody,
    /// `run.record`.
    RunRecord = "run.record" => RunBody,
    /// `backtest.record`.
    BacktestRecord = "backtest.record" => BacktestBody,
    /// `shadow.record`.
    ShadowRecord = "shadow.record" => ShadowBody,
    /// `drift.record`.
    DriftRecord = "drift.record" => DriftBody,
    /// `champion.bootstrap`.
    ChampionBootstrap = "champion.bootstrap" => BootstrapBody,
    /// `arena.propose`.
    ArenaPropose = "arena.propose" => ProposeBody,
    /// `arena.approve`.
    ArenaApprove = "arena.approve" => ApproveBody,
    /// `arena.reject`.
    ArenaReject = "arena.reject" => ArenaRejectBody,
    /// `rollback`.
    Rollback = "rollback" => RollbackBody,
    /// `alert.read`.
    AlertRead = "alert.read" => AlertReadBody,
    /// `alert.action`.
    AlertAction = "alert.action" => AlertActionBody,
    /// `release.decide`.
    ReleaseDecide = "release.decide" => ReleaseBody,
    /// `shadow.start`.
    ShadowStart = "shadow.start" => ShadowSetBody,
    /// `shadow.stop`.
    ShadowStop = "shadow.stop" => ShadowSetBody,
}

impl DomainCommand {
    /// Its body as JSON, as signed (bodies are plain data with finite numbers).
    pub fn body(&self) -> Value {
        self.to_json().unwrap_or(Value::Null)
    }
}
