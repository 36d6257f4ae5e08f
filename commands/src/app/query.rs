//! Every read, as a typed question: one [`Query`] type per question, with the route that
//! answers it over HTTP ([`Query::path`]) and the function that answers it from a ledger
//! ([`Query::answer`]). The CLI asks locally or through the remote client, the axum route
//! calls the same `answer`; the answers are structs with named fields whose JSON Schemas are
//! the OpenAPI document's components (`schemas/openapi.json`).

use std::collections::BTreeMap;

use ledger::event_index::EventIndex;
use ledger::{EventSource, RecordedEvent, Store, StoreError, Subject, TrustState};
use projections::events::{
    Baseline, ExperimentCompleted, Metrics, ReleaseGate, Task, Trigger, VersionStatus,
};
use projections::query::{self, Entry, EventFilter};
use projections::replay::AsOf;
use projections::state::{
    Alert, AlertCounts, AlertStatus, BacktestWindow, ChampionChange, Experiment, ExperimentStatus, Proposal,
    ProposalStatus, Severity,
};
use projections::{Parts, State};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::failure::{Failure, INVALID_INPUT};
use crate::domain::judge::{self, Health};
use crate::domain::Policy;

/// Why a question has no answer.
#[derive(Debug)]
#[non_exhaustive]
pub enum QueryError {
    /// The thing asked about does not exist (HTTP 404; CLI exit 2). Carries a hint.
    NotFound(String, Option<String>),
    /// A parameter is malformed (HTTP 400; CLI exit 2).
    BadParam(String),
    /// The store failed or is damaged (HTTP 500; CLI exit 3 or 4).
    Store(StoreError),
}

impl From<StoreError> for QueryError {
    fn from(e: StoreError) -> Self {
        QueryError::Store(e)
    }
}

impl From<QueryError> for Failure {
    fn from(e: QueryError) -> Failure {
        match e {
            QueryError::NotFound(m, hint) => {
                let f = Failure::not_found(m);
                match hint {
                    Some(h) => f.hint(h),
                    None => f,
                }
            }
            QueryError::BadParam(m) => Failure::new(INVALID_INPUT, m),
            QueryError::Store(e) => e.into(),
        }
    }
}

pub use projections::query::{ModelServing, Route, Serving, Timelines};
pub use projections::snapshot::SnapshotIndex;

fn not_found(what: String) -> QueryError {
    QueryError::NotFound(what, None)
}

/// A consistent view of a ledger: its store, and the trust and domain state folded from it
/// (read through [`StateView`], which it dereferences to).
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    /// The events.
    pub store: &'a Store,
    /// The trust and domain state.
    pub read: StateView<'a>,
}

impl<'a> View<'a> {
    /// The view of `store` with these states.
    pub fn new(
        store: &'a Store,
        trust: &'a TrustState,
        state: &'a State,
        policy: Option<&'a Policy>,
    ) -> Self {
        View { store, read: StateView { trust, state, policy } }
    }
}

impl<'a> std::ops::Deref for View<'a> {
    type Target = StateView<'a>;
    fn deref(&self) -> &StateView<'a> {
        &self.read
    }
}

/// The trust and domain state of a ledger at one event, without its events: what a question
/// that reads no events is answered from ([`Query::answer_state`]).
#[derive(Clone, Copy, Debug)]
pub struct StateView<'a> {
    /// Keys, roles, policy.
    pub trust: &'a TrustState,
    /// The read models (empty for questions answered from the store alone; only the parts a
    /// question declares in [`Query::PARTS`] when answered from a snapshot).
    pub state: &'a State,
    /// The policy in force, parsed (`None` where a question does not need it).
    pub policy: Option<&'a Policy>,
}

/// A question about a ledger.
pub trait Query {
    /// The answer.
    type Answer: Serialize + DeserializeOwned + JsonSchema;
    /// The route (path and query string) of `pledge serve` that answers it.
    fn path(&self) -> String;
    /// Answers it.
    fn answer(&self, view: &View<'_>) -> Result<Self::Answer, QueryError>;
    /// Whether answering reads the read models. A question that reads only the store and the
    /// trust state (false) is answered locally without folding or loading the domain state:
    /// its view holds an empty state and no policy.
    const READS_STATE: bool = true;
    /// For a question that reads no events, only the trust state and these parts of the read
    /// models: it is answered by [`Query::answer_state`], and locally from a snapshot taken at
    /// the head when there is one, without opening the store and decoding only these parts
    /// (`app::backend::Backend::ask`). `None` for a question that reads events.
    const PARTS: Option<Parts> = None;
    /// For a question that reads events and these parts of the read models at the head: it is
    /// answered locally from a snapshot taken at the head when there is one, decoding only
    /// these parts, with the store opened for the events (`app::backend::Backend::ask`).
    const EVENT_PARTS: Option<Parts> = None;
    /// Whether it is answered by [`Query::answer_from_index`]: locally from the index a
    /// snapshot taken at the head keeps (the models' timelines and what serves each) and the
    /// committed events, without opening the store or reading the read models
    /// (`app::backend::Backend::ask`).
    const READS_SNAPSHOT_INDEX: bool = false;
    /// The answer from the index kept by a snapshot of the head and the events, for a question
    /// with [`Query::READS_SNAPSHOT_INDEX`] (which then answers the same in [`Query::answer`]);
    /// `None` for any other.
    fn answer_from_index(
        &self,
        _events: &dyn EventSource,
        _trust: &TrustState,
        _index: &SnapshotIndex,
    ) -> Option<Result<Self::Answer, QueryError>> {
        None
    }
    /// Whether it is answered by [`Query::answer_from_serving`]: from what serves each model
    /// alone (its champions and routes, [`projections::query::Serving`]). Locally, when no
    /// snapshot is of the head, those tables are the snapshot's, derived again only for the
    /// models the events after it touched (`app::backend::ask_since_snapshot`).
    const READS_SERVING: bool = false;
    /// The answer from what serves each model, for a question with [`Query::READS_SERVING`]
    /// (which then answers the same in [`Query::answer`]); `None` for any other.
    fn answer_from_serving(&self, _serving: &Serving) -> Option<Result<Self::Answer, QueryError>> {
        None
    }
    /// Whether it is answered by [`Query::answer_indexed`]: locally from the committed events
    /// and the event index's runs, without opening the store (`app::backend::Backend::ask`).
    const READS_EVENT_INDEX: bool = false;
    /// The answer from the committed `events` and their `index`, for a question with
    /// [`Query::READS_EVENT_INDEX`] (which then answers the same in [`Query::answer`]); `trust`
    /// gives the trust state at the head where it can be read without the store. `None` for
    /// any other question, or when it needs the trust state and `trust` gives none.
    fn answer_indexed(
        &self,
        _events: &dyn EventSource,
        _index: &dyn EventIndex,
        _trust: &dyn Fn() -> Option<TrustState>,
    ) -> Option<Result<Self::Answer, QueryError>> {
        None
    }
    /// The answer from the state alone, for a question with [`Query::PARTS`] (which then
    /// answers the same in [`Query::answer`]); `None` for any other.
    fn answer_state(&self, _view: &StateView<'_>) -> Option<Result<Self::Answer, QueryError>> {
        None
    }
}

/// Percent-encodes a path segment or a query value.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `path?k=v&...` for the parameters that are set.
fn with_params(path: String, params: &[(&str, Option<String>)]) -> String {
    let q: Vec<String> =
        params.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", enc(v)))).collect();
    if q.is_empty() {
        path
    } else {
        format!("{path}?{}", q.join("&"))
    }
}

fn text<T: Serialize>(t: &T) -> String {
    projections::state::name(t)
}

/// Parses a time parameter (RFC 3339).
pub fn parse_time(name: &str, s: &str) -> Result<ledger::canonical::Timestamp, QueryError> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| ledger::canonical::Timestamp::from_datetime(t.with_timezone(&chrono::Utc)))
        .map_err(|e| {
            QueryError::BadParam(format!(
                "`{name}` = `{s}` is not an RFC 3339 time (like 2026-03-01T00:00:00Z): {e}"
            ))
        })
}

impl StateView<'_> {
    fn model(&self, name: &str) -> Result<&projections::state::ModelState, QueryError> {
        self.state.model(name).ok_or_else(|| not_found(format!("no model `{name}` in this ledger")))
    }

    fn experiment(&self, id: &str) -> Result<&Experiment, QueryError> {
        self.state.experiments.get(id).ok_or_else(|| {
            QueryError::NotFound(
                format!("no hypothesis `{id}`"),
                Some("list them with `pledge hypothesis list`".into()),
            )
        })
    }
}

// ---------------------------------------------------------------------------------------
// Champions and routing

/// Champions per model and segment, with challengers and each model's routing table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Champions {
    /// Only this model.
    pub model: Option<String>,
}

/// One champion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChampionRow {
    /// Model.
    pub model: String,
    /// Segment (`null`: the whole model).
    pub segment: Option<String>,
    /// The serving version.
    pub version: u64,
    /// Its metrics.
    pub metrics: Metrics,
    /// Challengers of the same segment.
    pub challengers: Vec<u64>,
}

/// A model's routing table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Routing {
    /// Model.
    pub model: String,
    /// Every segment the model has a version for, then the global route.
    pub routes: Vec<Route>,
}

/// The answer to [`Champions`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChampionsAnswer {
    /// Every champion, by model then segment.
    pub champions: Vec<ChampionRow>,
    /// Each model's routing table.
    pub routing: Vec<Routing>,
}

impl Query for Champions {
    type Answer = ChampionsAnswer;
    fn path(&self) -> String {
        with_params("/api/v1/champions".into(), &[("model", self.model.clone())])
    }
    const PARTS: Option<Parts> = Some(Parts::CORE);
    fn answer(&self, v: &View<'_>) -> Result<ChampionsAnswer, QueryError> {
        self.answer_state(&v.read).expect("answered from the state")
    }
    fn answer_state(&self, v: &StateView<'_>) -> Option<Result<ChampionsAnswer, QueryError>> {
        let models = v.state.models.iter().filter(|(name, _)| self.wants(name));
        let models = models.map(|(name, m)| (name, ModelServing::of(m)));
        Some(self.answer_from(models, |name| v.model(name).map(drop)))
    }
    const READS_SNAPSHOT_INDEX: bool = true;
    fn answer_from_index(
        &self,
        _: &dyn EventSource,
        _: &TrustState,
        index: &SnapshotIndex,
    ) -> Option<Result<ChampionsAnswer, QueryError>> {
        self.answer_from_serving(&index.serving)
    }
    const READS_SERVING: bool = true;
    fn answer_from_serving(&self, serving: &Serving) -> Option<Result<ChampionsAnswer, QueryError>> {
        let known = |name: &str| {
            serving.get(name).map(drop).ok_or_else(|| not_found(format!("no model `{name}` in this ledger")))
        };
        let models = serving.iter().filter(|(name, _)| self.wants(name));
        Some(self.answer_from(models.map(|(name, s)| (name, s.clone())), known))
    }
}

impl Champions {
    /// Whether the answer lists model `name`.
    fn wants(&self, name: &str) -> bool {
        self.model.as_deref().is_none_or(|m| m == name)
    }

    /// The answer from what serves each model it lists, by name (`known` refuses a model the
    /// ledger does not hold): the same whether that was derived from the read models now or kept in
    /// a snapshot's index.
    fn answer_from<'a>(
        &self,
        models: impl Iterator<Item = (&'a String, ModelServing)>,
        known: impl Fn(&str) -> Result<(), QueryError>,
    ) -> Result<ChampionsAnswer, QueryError> {
        if let Some(m) = &self.model {
            known(m)?;
        }
        let mut champions = vec![];
        let mut routing = vec![];
        for (name, serving) in models {
            champions.extend(serving.champions.into_iter().map(|c| ChampionRow {
                model: name.clone(),
                segment: c.segment,
                version: c.version,
                metrics: c.metrics,
                challengers: c.challengers,
            }));
            routing.push(Routing { model: name.clone(), routes: serving.routes });
        }
        Ok(ChampionsAnswer { champions, routing })
    }
}

// ---------------------------------------------------------------------------------------
// Versions and backtests

/// Every version of a model (newest last), without its backtest windows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versions {
    /// The model.
    pub model: String,
}

/// One version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VersionRow {
    /// Number.
    pub version: u64,
    /// Segment.
    pub segment: Option<String>,
    /// Its run.
    pub run_id: String,
    /// Why the run happened.
    pub trigger: Trigger,
    /// blake3 of its artifact.
    pub artifact_digest: String,
    /// Status.
    pub status: VersionStatus,
    /// Metrics.
    pub metrics: Metrics,
    /// The serving version's figures on the same rows, if recorded.
    pub baseline: Option<Baseline>,
    /// Registering event.
    pub registered_seq: u64,
    /// Ever champion.
    pub served: bool,
    /// Backtest windows recorded.
    pub backtest_windows: usize,
}

/// The answer to [`Versions`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VersionsAnswer {
    /// Model.
    pub model: String,
    /// Its task.
    pub task: Option<Task>,
    /// Versions, oldest first.
    pub versions: Vec<VersionRow>,
    /// Champion changes per segment key (`""`: the whole model).
    pub champion_history: BTreeMap<String, Vec<ChampionChange>>,
}

impl Query for Versions {
    type Answer = VersionsAnswer;
    fn path(&self) -> String {
        format!("/api/v1/models/{}/versions", enc(&self.model))
    }
    const PARTS: Option<Parts> = Some(Parts { version_details: true, ..Parts::CORE });
    fn answer(&self, v: &View<'_>) -> Result<VersionsAnswer, QueryError> {
        self.answer_from(v)
    }
    fn answer_state(&self, v: &StateView<'_>) -> Option<Result<VersionsAnswer, QueryError>> {
        Some(self.answer_from(v))
    }
}

impl Versions {
    fn answer_from(&self, v: &StateView<'_>) -> Result<VersionsAnswer, QueryError> {
        let m = v.model(&self.model)?;
        Ok(VersionsAnswer {
            model: self.model.clone(),
            task: m.task,
            versions: m
                .versions
                .values()
                .map(|x| VersionRow {
                    version: x.version,
                    segment: x.segment.clone(),
                    run_id: x.run_id.clone(),
                    trigger: x.trigger,
                    artifact_digest: x.artifact_digest.clone(),
                    status: x.status,
                    metrics: x.metrics.clone(),
                    baseline: x.baseline.clone(),
                    registered_seq: x.registered_seq,
                    served: x.served,
                    backtest_windows: x.backtests.len(),
                })
                .collect(),
            champion_history: m.champion_history.clone(),
        })
    }
}

/// The backtest windows of one version, in recording order (a time series for charts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backtests {
    /// The model.
    pub model: String,
    /// The version.
    pub version: u64,
}

/// The answer to [`Backtests`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BacktestsAnswer {
    /// Model.
    pub model: String,
    /// Version.
    pub version: u64,
    /// Its segment.
    pub segment: Option<String>,
    /// Windows in recording order.
    pub windows: Vec<BacktestWindow>,
}

impl Query for Backtests {
    type Answer = BacktestsAnswer;
    fn path(&self) -> String {
        format!("/api/v1/models/{}/versions/{}/backtests", enc(&self.model), self.version)
    }
    fn answer(&self, v: &View<'_>) -> Result<BacktestsAnswer, QueryError> {
        let m = v.model(&self.model)?;
        let x = m
            .versions
            .get(&self.version)
            .ok_or_else(|| not_found(format!("model `{}` has no version v{}", self.model, self.version)))?;
        Ok(BacktestsAnswer {
            model: self.model.clone(),
            version: self.version,
            segment: x.segment.clone(),
            windows: projections::query::backtest_windows(v.store, &x.backtests)?,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Alerts

/// Alerts, newest first, optionally of one status and/or severity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Alerts {
    /// Only this status.
    pub status: Option<AlertStatus>,
    /// Only this severity.
    pub severity: Option<Severity>,
}

/// The answer to [`Alerts`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AlertsAnswer {
    /// Alerts, newest first.
    pub alerts: Vec<Alert>,
}

impl Query for Alerts {
    type Answer = AlertsAnswer;
    fn path(&self) -> String {
        with_params(
            "/api/v1/ml-alerts".into(),
            &[("status", self.status.map(|s| text(&s))), ("severity", self.severity.map(|s| text(&s)))],
        )
    }
    const PARTS: Option<Parts> = Some(Parts { alerts: true, ..Parts::CORE });
    fn answer(&self, v: &View<'_>) -> Result<AlertsAnswer, QueryError> {
        self.answer_from(v)
    }
    fn answer_state(&self, v: &StateView<'_>) -> Option<Result<AlertsAnswer, QueryError>> {
        Some(self.answer_from(v))
    }
}

impl Alerts {
    fn answer_from(&self, v: &StateView<'_>) -> Result<AlertsAnswer, QueryError> {
        let mut alerts: Vec<Alert> = v
            .state
            .alerts
            .values()
            .filter(|a| self.status.is_none_or(|s| a.status == s))
            .filter(|a| self.severity.is_none_or(|s| a.severity == s))
            .cloned()
            .collect();
        alerts.sort_by_key(|a| std::cmp::Reverse(a.raised_seq));
        Ok(AlertsAnswer { alerts })
    }
}

/// One alert with its history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertById {
    /// Its id (`A-...`).
    pub id: String,
}

impl Query for AlertById {
    type Answer = Alert;
    fn path(&self) -> String {
        format!("/api/v1/ml-alerts/{}", enc(&self.id))
    }
    const PARTS: Option<Parts> = Some(Parts { alerts: true, ..Parts::CORE });
    fn answer(&self, v: &View<'_>) -> Result<Alert, QueryError> {
        self.answer_from(v)
    }
    fn answer_state(&self, v: &StateView<'_>) -> Option<Result<Alert, QueryError>> {
        Some(self.answer_from(v))
    }
}

impl AlertById {
    fn answer_from(&self, v: &StateView<'_>) -> Result<Alert, QueryError> {
        v.state.alerts.get(&self.id).cloned().ok_or_else(|| {
            QueryError::NotFound(
                format!("no alert `{}`", self.id),
                Some("list them with `pledge alerts list`".into()),
            )
        })
    }
}

/// Open alerts by severity, all alerts by status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertStats;

impl Query for AlertStats {
    type Answer = AlertCounts;
    fn path(&self) -> String {
        "/api/v1/ml-alerts/stats".into()
    }
    const PARTS: Option<Parts> = Some(Parts { alerts: true, ..Parts::CORE });
    fn answer(&self, v: &View<'_>) -> Result<AlertCounts, QueryError> {
        self.answer_from(v)
    }
    fn answer_state(&self, v: &StateView<'_>) -> Option<Result<AlertCounts, QueryError>> {
        Some(self.answer_from(v))
    }
}

impl AlertStats {
    fn answer_from(&self, v: &StateView<'_>) -> Result<AlertCounts, QueryError> {
        Ok(v.state.alert_counts())
    }
}

// ---------------------------------------------------------------------------------------
// Experiments and proposals

/// Hypotheses and their experiments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Experiments;

/// The answer to [`Experiments`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExperimentsAnswer {
    /// Experiments by hypothesis id.
    pub experiments: Vec<Experiment>,
}

impl Query for Experiments {
    type Answer = ExperimentsAnswer;
    fn path(&self) -> String {
        "/api/v1/experiments".into()
    }
    const PARTS: Option<Parts> = Some(Parts { experiments: true, ..Parts::CORE });
    fn answer(&self, v: &View<'_>) -> Result<ExperimentsAnswer, QueryError> {
        self.answer_from(v)
    }
    fn answer_state(&self, v: &StateView<'_>) -> Option<Result<ExperimentsAnswer, QueryError>> {
        Some(self.answer_from(v))
    }
}

impl Experiments {
    fn answer_from(&self, v: &StateView<'_>) -> Result<ExperimentsAnswer, QueryError> {
        Ok(ExperimentsAnswer { experiments: v.state.experiments.values().cloned().collect() })
    }
}

/// One hypothesis and its experiment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExperimentById {
    /// The hypothesis id.
    pub id: String,
}

impl Query for ExperimentById {
    type Answer = Experiment;
    fn path(&self) -> String {
        format!("/api/v1/experiments/{}", enc(&self.id))
    }
    const PARTS: Option<Parts> = Some(Parts { experiments: true, ..Parts::CORE });
    fn answer(&self, v: &View<'_>) -> Result<Experiment, QueryError> {
        self.answer_from(v)
    }
    fn answer_state(&self, v: &StateView<'_>) -> Option<Result<Experiment, QueryError>> {
        Some(self.answer_from(v))
    }
}

impl ExperimentById {
    fn answer_from(&self, v: &StateView<'_>) -> Result<Experiment, QueryError> {
        v.experiment(&self.id).cloned()
    }
}

/// An experiment's results: its versions with their metrics, shadow windows and decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExperimentResults {
    /// The hypothesis id.
    pub id: String,
}

/// One experimental version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExperimentVersion {
    /// Number.
    pub version: u64,
    /// Segment.
    pub segment: Option<String>,
    /// Status.
    pub status: VersionStatus,
    /// Metrics.
    pub metrics: Metrics,
    /// Backtest windows.
    pub backtests: Vec<BacktestWindow>,
}

/// The answer to [`ExperimentResults`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExperimentResultsAnswer {
    /// The hypothesis.
    pub hypothesis_id: String,
    /// Model.
    pub model: String,
    /// Status.
    pub status: ExperimentStatus,
    /// Target metric.
    pub target_metric: String,
    /// Expected improvement, percent.
    pub expected_improvement_pct: f64,
    /// Planned shadow windows (per segment).
    pub planned_windows: Option<u32>,
    /// Shadow windows recorded per segment key.
    pub shadow_windows: BTreeMap<String, u32>,
    /// Its versions.
    pub versions: Vec<ExperimentVersion>,
    /// Its completion, with the criterion judged.
    pub completion: Option<ExperimentCompleted>,
}

impl Query for ExperimentResults {
    type Answer = ExperimentResultsAnswer;
    fn path(&self) -> String {
        format!("/api/v1/experiments/{}/results", enc(&self.id))
    }
    fn answer(&self, v: &View<'_>) -> Result<ExperimentResultsAnswer, QueryError> {
        let x = v.experiment(&self.id)?;
        Ok(ExperimentResultsAnswer {
            hypothesis_id: self.id.clone(),
            model: x.model.clone(),
            status: x.status,
            target_metric: x.hypothesis.target_metric.clone(),
            expected_improvement_pct: x.hypothesis.expected_improvement_pct,
            planned_windows: x.planned_windows,
            shadow_windows: x.shadow_windows.clone(),
            versions: x
                .versions
                .iter()
                .filter_map(|n| v.state.model(&x.model)?.versions.get(n))
                .map(|i| {
                    Ok(ExperimentVersion {
                        version: i.version,
                        segment: i.segment.clone(),
                        status: i.status,
                        metrics: i.metrics.clone(),
                        backtests: projections::query::backtest_windows(v.store, &i.backtests)?,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            completion: x.completion.as_deref().cloned(),
        })
    }
}

/// Arena proposals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Proposals;

/// The answer to [`Proposals`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProposalsAnswer {
    /// Proposals by id.
    pub proposals: Vec<Proposal>,
}

impl Query for Proposals {
    type Answer = ProposalsAnswer;
    fn path(&self) -> String {
        "/api/v1/arena/proposals".into()
    }
    const PARTS: Option<Parts> = Some(Parts::CORE);
    fn answer(&self, v: &View<'_>) -> Result<ProposalsAnswer, QueryError> {
        self.answer_from(v)
    }
    fn answer_state(&self, v: &StateView<'_>) -> Option<Result<ProposalsAnswer, QueryError>> {
        Some(self.answer_from(v))
    }
}

impl Proposals {
    fn answer_from(&self, v: &StateView<'_>) -> Result<ProposalsAnswer, QueryError> {
        Ok(ProposalsAnswer { proposals: v.state.proposals.values().cloned().collect() })
    }
}

// ---------------------------------------------------------------------------------------
// Timeline, lineage, events

/// The causal chain behind a champion, at the head or as of a sequence number or time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeline {
    /// The model.
    pub model: String,
    /// A segment (default: the global champion).
    pub segment: Option<String>,
    /// A sequence number or an RFC 3339 time.
    pub as_of: Option<String>,
}

/// The answer to [`Timeline`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TimelineAnswer {
    /// Model.
    pub model: String,
    /// Segment.
    pub segment: Option<String>,
    /// As of.
    pub as_of: Option<String>,
    /// The events, in ledger order.
    pub entries: Vec<Entry>,
}

impl Query for Timeline {
    type Answer = TimelineAnswer;
    fn path(&self) -> String {
        with_params(
            format!("/api/v1/models/{}/timeline", enc(&self.model)),
            &[("segment", self.segment.clone()), ("as_of", self.as_of.clone())],
        )
    }
    /// At the head and as of a past point alike it reads the view's state (the head's): the
    /// timeline as of a point is the head's up to that point's last event
    /// ([`query::timeline_up_to`]), so a past point costs what the answer does.
    fn answer(&self, v: &View<'_>) -> Result<TimelineAnswer, QueryError> {
        let at = self.point()?;
        let last = at.last_event(v.store)?;
        let keys = [projections::seg_key(None), projections::seg_key(self.segment.as_deref())];
        let t = match last {
            Some(last) => query::model_timeline(v.store, v.state, &self.model, Some(&keys), last)?,
            None => None,
        };
        self.answer_from(v.store, v.trust, at, last, t.as_ref())
    }
    const EVENT_PARTS: Option<Parts> = Some(Parts { version_details: false, ..Parts::ALL });
    const READS_SNAPSHOT_INDEX: bool = true;
    fn answer_from_index(
        &self,
        events: &dyn EventSource,
        trust: &TrustState,
        index: &SnapshotIndex,
    ) -> Option<Result<TimelineAnswer, QueryError>> {
        let answer = self.point().and_then(|at| {
            let last = at.last_event(events)?;
            self.answer_from(events, trust, at, last, index.timelines.get(&self.model))
        });
        Some(answer)
    }
}

impl Timeline {
    fn point(&self) -> Result<AsOf, QueryError> {
        match &self.as_of {
            Some(s) => AsOf::parse(s).map_err(QueryError::BadParam),
            None => Ok(AsOf::Head),
        }
    }

    /// The answer as of event `last` (the last event `at` includes; `None` when it includes
    /// none) from the model's timeline `t` (`None`: no such model) over `events`: the same
    /// whether `t` was gathered from the read models now or kept in a snapshot.
    fn answer_from(
        &self,
        events: &dyn EventSource,
        trust: &TrustState,
        at: AsOf,
        last: Option<u64>,
        t: Option<&query::ModelTimeline>,
    ) -> Result<TimelineAnswer, QueryError> {
        let seqs = match (last, t) {
            (Some(last), Some(t)) => t.up_to(self.segment.as_deref(), last),
            _ => None,
        };
        let Some(seqs) = seqs else {
            return Err(not_found(format!(
                "no model `{}` in this ledger{}",
                self.model,
                if at == AsOf::Head { "" } else { " at that point" }
            )));
        };
        Ok(TimelineAnswer {
            model: self.model.clone(),
            segment: self.segment.clone(),
            as_of: self.as_of.clone(),
            entries: query::entries(events, trust, seqs)?,
        })
    }
}

/// Which side of a version's lineage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Where it came from.
    Up,
    /// What happened to it.
    Down,
    /// Both.
    #[default]
    Both,
}

/// Where a version came from and what happened to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lineage {
    /// The model.
    pub model: String,
    /// The version.
    pub version: u64,
    /// Which side.
    pub direction: Direction,
}

/// The answer to [`Lineage`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LineageAnswer {
    /// Model.
    pub model: String,
    /// Version.
    pub version: u64,
    /// Where it came from: hypothesis, approval, run, drift (absent for `down`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<Vec<Entry>>,
    /// What happened to it (absent for `up`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downstream: Option<Vec<Entry>>,
}

impl Query for Lineage {
    type Answer = LineageAnswer;
    fn path(&self) -> String {
        with_params(
            format!("/api/v1/models/{}/versions/{}/lineage", enc(&self.model), self.version),
            &[("direction", Some(text(&self.direction)))],
        )
    }
    fn answer(&self, v: &View<'_>) -> Result<LineageAnswer, QueryError> {
        let lin = query::lineage(v.store, v.trust, v.state, &self.model, self.version)?
            .ok_or_else(|| not_found(format!("model `{}` has no version v{}", self.model, self.version)))?;
        Ok(LineageAnswer {
            model: lin.model,
            version: lin.version,
            upstream: (self.direction != Direction::Down).then_some(lin.upstream),
            downstream: (self.direction != Direction::Up).then_some(lin.downstream),
        })
    }
}

/// An event as reads list it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EventDoc {
    /// Sequence number.
    pub seq: u64,
    /// Event id.
    pub hash: String,
    /// Kind.
    pub kind: String,
    /// When it was recorded.
    pub recorded_at: String,
    /// Model and segment.
    pub subject: Option<Subject>,
    /// Payload.
    pub payload: Value,
}

impl From<&RecordedEvent> for EventDoc {
    fn from(e: &RecordedEvent) -> EventDoc {
        EventDoc {
            seq: e.seq(),
            hash: e.hash.to_string(),
            kind: e.event.kind.clone(),
            recorded_at: e.event.recorded_at.to_string(),
            subject: e.event.subject.clone(),
            payload: e.event.payload.clone(),
        }
    }
}

/// Which events, as text parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventSelection {
    /// Only this kind.
    pub kind: Option<String>,
    /// Only this model.
    pub model: Option<String>,
    /// Only this segment (`""`: the whole model).
    pub segment: Option<String>,
    /// Only events caused by this principal's commands.
    pub actor: Option<String>,
    /// Recorded at or after (RFC 3339).
    pub since: Option<String>,
    /// Recorded before (RFC 3339).
    pub until: Option<String>,
}

impl EventSelection {
    fn filter(&self) -> Result<EventFilter, QueryError> {
        Ok(EventFilter {
            kind: self.kind.clone(),
            model: self.model.clone(),
            segment: self.segment.clone(),
            actor: self.actor.clone(),
            since: self.since.as_deref().map(|t| parse_time("since", t)).transpose()?,
            until: self.until.as_deref().map(|t| parse_time("until", t)).transpose()?,
        })
    }

    fn params(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("kind", self.kind.clone()),
            ("model", self.model.clone()),
            ("segment", self.segment.clone()),
            ("actor", self.actor.clone()),
            ("since", self.since.clone()),
            ("until", self.until.clone()),
        ]
    }
}

/// The most events one page holds.
pub const MAX_PAGE: usize = 1000;

/// A page of events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    /// Up to `limit` events after sequence number `after` (from genesis when `None`), in
    /// ledger order.
    After {
        /// Continue after this sequence number.
        after: Option<u64>,
        /// At most this many.
        limit: usize,
    },
    /// The last `n` matching events (after sequence number `after`, if given), in ledger order.
    Last {
        /// At most this many.
        n: usize,
        /// Only events after this sequence number.
        after: Option<u64>,
    },
}

/// A page of matching events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Events {
    /// Which events.
    pub selection: EventSelection,
    /// Which page.
    pub page: Page,
}

/// The answer to [`Events`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EventsAnswer {
    /// The events, in ledger order.
    pub events: Vec<EventDoc>,
    /// Where the next page starts (`after`), when more remain.
    pub next_after: Option<u64>,
}

impl Query for Events {
    type Answer = EventsAnswer;
    const READS_STATE: bool = false;
    fn path(&self) -> String {
        let mut params = match self.page {
            Page::After { after, limit } => {
                vec![("after", after.map(|a| a.to_string())), ("limit", Some(limit.to_string()))]
            }
            Page::Last { n, after } => {
                vec![("last", Some(n.to_string())), ("after", after.map(|a| a.to_string()))]
            }
        };
        params.extend(self.selection.params());
        with_params("/api/v1/events".into(), &params)
    }
    /// Reads the store (the view's state is not used).
    fn answer(&self, v: &View<'_>) -> Result<EventsAnswer, QueryError> {
        self.answer_from(v.store, v.store, v.trust)
    }
    const READS_EVENT_INDEX: bool = true;
    /// The trust state is read only to resolve an actor: without one, none is needed.
    fn answer_indexed(
        &self,
        events: &dyn EventSource,
        index: &dyn EventIndex,
        trust: &dyn Fn() -> Option<TrustState>,
    ) -> Option<Result<EventsAnswer, QueryError>> {
        let trust = match &self.selection.actor {
            Some(_) => trust()?,
            None => TrustState::default(),
        };
        Some(self.answer_from(events, index, &trust))
    }
}

impl Events {
    /// The page of `events` the selection asks for, its candidates from `index`.
    fn answer_from(
        &self,
        events: &dyn EventSource,
        index: &dyn EventIndex,
        trust: &TrustState,
    ) -> Result<EventsAnswer, QueryError> {
        let filter = self.selection.filter()?;
        let (n, bad) = match self.page {
            Page::After { limit, .. } => (limit, "limit"),
            Page::Last { n, .. } => (n, "last"),
        };
        if n == 0 || n > MAX_PAGE {
            return Err(QueryError::BadParam(format!("`{bad}` is between 1 and {MAX_PAGE}")));
        }
        let (found, next_after) = match self.page {
            Page::After { after, limit } => filter.page(events, index, trust, after, limit)?,
            Page::Last { n, after } => (filter.last(events, index, trust, after, n)?, None),
        };
        Ok(EventsAnswer { events: found.iter().map(EventDoc::from).collect(), next_after })
    }
}

/// One event, by sequence number or hash, with its canonical bytes and a summary. Read from
/// the store alone, so that it answers on a damaged ledger too (`pledge show`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventById {
    /// A sequence number or an event id.
    pub id: String,
}

/// The answer to [`EventById`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EventAnswer {
    /// Sequence number.
    pub seq: u64,
    /// Event id.
    pub hash: String,
    /// One line for a person.
    pub summary: String,
    /// The event as recorded.
    pub event: Value,
    /// Its canonical bytes.
    pub canonical: String,
}

impl EventById {
    /// Answers from the store alone.
    pub fn from_store(&self, store: &Store) -> Result<EventAnswer, QueryError> {
        let ev = match self.id.parse::<u64>() {
            Ok(seq) => store.get(seq)?,
            Err(_) => {
                let h = self.id.parse::<ledger::Digest>().map_err(|e| {
                    QueryError::BadParam(format!(
                        "`{}` is neither a sequence number nor an event hash: {e}",
                        self.id
                    ))
                })?;
                store.get_by_hash(&h)?
            }
        };
        self.answer_with(ev)
    }

    /// Answers from the ledger's committed events read without opening its store
    /// ([`ledger::store::CommittedEvents`]) when they can be read so, an id through the event
    /// index's runs ([`ledger::event_index::Reader`]) when they cover the ledger; `None`
    /// otherwise (the caller opens the store).
    pub fn from_committed(&self, dir: &std::path::Path) -> Result<Option<EventAnswer>, QueryError> {
        let Some(events) = ledger::store::CommittedEvents::open(dir)? else { return Ok(None) };
        if let Ok(seq) = self.id.parse::<u64>() {
            return self.answer_with(events.get(seq)?).map(Some);
        }
        let Ok(hash) = self.id.parse::<ledger::Digest>() else { return Ok(None) };
        let Some(index) = ledger::event_index::Reader::open(dir, &events)? else { return Ok(None) };
        let mut found = None;
        for seq in index.with_id(&hash)? {
            if let Some(ev) = events.get(seq)?.filter(|ev| ev.hash == hash) {
                found = Some(ev);
                break;
            }
        }
        self.answer_with(found).map(Some)
    }

    fn answer_with(&self, ev: Option<RecordedEvent>) -> Result<EventAnswer, QueryError> {
        let ev = ev.ok_or_else(|| not_found(format!("no event `{}`", self.id)))?;
        let event: Value = serde_json::from_slice(&ev.bytes)
            .map_err(|e| QueryError::Store(StoreError::Corrupt { seq: ev.seq(), reason: e.to_string() }))?;
        Ok(EventAnswer {
            seq: ev.seq(),
            hash: ev.hash.to_string(),
            summary: query::summarize(&ev),
            event,
            canonical: String::from_utf8_lossy(&ev.bytes).into_owned(),
        })
    }
}

impl Query for EventById {
    type Answer = EventAnswer;
    fn path(&self) -> String {
        format!("/api/v1/events/{}", enc(&self.id))
    }
    fn answer(&self, v: &View<'_>) -> Result<EventAnswer, QueryError> {
        self.from_store(v.store)
    }
}

// ---------------------------------------------------------------------------------------
// Health, release, policy, keys, the ledger

/// The daily health check: champions with their backtest trend, open alerts by severity,
/// pending proposals, champions without backtests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HealthCheck;

/// The answer to [`HealthCheck`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HealthAnswer {
    /// Every champion, by each model's own metric and direction.
    pub health: Vec<Health>,
    /// Alert counts.
    pub alerts: AlertCounts,
    /// Pending proposals.
    pub pending_proposals: Vec<String>,
    /// Champions without a backtest window (`model/segment vN`).
    pub champions_without_backtests: Vec<String>,
}

impl Query for HealthCheck {
    type Answer = HealthAnswer;
    fn path(&self) -> String {
        "/api/v1/models/health".into()
    }
    fn answer(&self, v: &View<'_>) -> Result<HealthAnswer, QueryError> {
        let health = match v.policy {
            Some(p) => judge::health(v.state, p, v.store)?,
            None => vec![],
        };
        let champions_without_backtests = health
            .iter()
            .filter(|h| h.windows == 0)
            .map(|h| format!("{}/{} v{}", h.model, h.segment.as_deref().unwrap_or("(global)"), h.champion))
            .collect();
        Ok(HealthAnswer {
            alerts: v.state.alert_counts(),
            pending_proposals: v
                .state
                .proposals
                .values()
                .filter(|p| p.status == ProposalStatus::Pending)
                .map(|p| p.proposed.proposal_id.clone())
                .collect(),
            champions_without_backtests,
            health,
        })
    }
}

/// The production gates of a model's release: green only when every gate passes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    /// The model.
    pub model: String,
}

/// The answer to [`Release`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReleaseAnswer {
    /// Model.
    pub model: String,
    /// Every gate passes.
    pub green: bool,
    /// The gates, in order.
    pub gates: Vec<ReleaseGate>,
}

impl Query for Release {
    type Answer = ReleaseAnswer;
    fn path(&self) -> String {
        format!("/api/v1/models/{}/release", enc(&self.model))
    }
    const PARTS: Option<Parts> = Some(Parts { version_details: true, alerts: true, ..Parts::CORE });
    fn answer(&self, v: &View<'_>) -> Result<ReleaseAnswer, QueryError> {
        self.answer_from(v)
    }
    fn answer_state(&self, v: &StateView<'_>) -> Option<Result<ReleaseAnswer, QueryError>> {
        Some(self.answer_from(v))
    }
}

impl Release {
    fn answer_from(&self, v: &StateView<'_>) -> Result<ReleaseAnswer, QueryError> {
        v.model(&self.model)?;
        let gates = judge::release_gates(v.state, &self.model);
        Ok(ReleaseAnswer { model: self.model.clone(), green: gates.iter().all(|g| g.passed), gates })
    }
}

/// A question answered from the trust state alone (keys, roles, policy), which every path
/// holds: the view of the read models, a snapshot's state, and the trust section a snapshot's
/// index vouches for. It is a [`Query`] that reads no events and no part of the read models
/// but the core, and is answered from the snapshot's index where there is one.
pub trait TrustQuestion {
    /// The answer.
    type Answer: Serialize + DeserializeOwned + JsonSchema;
    /// The route of `pledge serve` that answers it.
    const PATH: &'static str;
    /// Answers it from the trust state.
    fn answer_from(&self, trust: &TrustState) -> Self::Answer;
}

impl<T: TrustQuestion> Query for T {
    type Answer = T::Answer;
    fn path(&self) -> String {
        T::PATH.into()
    }
    const PARTS: Option<Parts> = Some(Parts::CORE);
    fn answer(&self, v: &View<'_>) -> Result<T::Answer, QueryError> {
        Ok(self.answer_from(v.trust))
    }
    fn answer_state(&self, v: &StateView<'_>) -> Option<Result<T::Answer, QueryError>> {
        Some(Ok(self.answer_from(v.trust)))
    }
    /// It reads the trust state alone, which the snapshot's index vouches for with it.
    const READS_SNAPSHOT_INDEX: bool = true;
    fn answer_from_index(
        &self,
        _: &dyn EventSource,
        trust: &TrustState,
        _: &SnapshotIndex,
    ) -> Option<Result<T::Answer, QueryError>> {
        Some(Ok(self.answer_from(trust)))
    }
}

/// The policy in force.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyInForce;

/// The answer to [`PolicyInForce`]: what `pledge policy set` takes back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PolicyAnswer {
    /// Its version.
    pub version: u32,
    /// The document (`schemas/policy.schema.json`).
    pub policy: Value,
}

impl TrustQuestion for PolicyInForce {
    type Answer = PolicyAnswer;
    const PATH: &'static str = "/api/v1/policy";
    fn answer_from(&self, trust: &TrustState) -> PolicyAnswer {
        PolicyAnswer { version: trust.policy_version(), policy: trust.policy().clone() }
    }
}

/// Principals, their roles and keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Keys;

/// One enrolled key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KeyRow {
    /// Its principal.
    pub principal: String,
    /// Key id.
    pub key_id: String,
    /// The public key (64 hex: the 32-byte RFC 8032 encoding).
    pub public_key: String,
    /// The enrolling event.
    pub enrolled_seq: u64,
    /// The revoking event, if revoked.
    pub revoked_seq: Option<u64>,
    /// The principal's roles now.
    pub roles: Vec<ledger::Role>,
}

/// The answer to [`Keys`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KeysAnswer {
    /// Every key ever enrolled.
    pub enrolled: Vec<KeyRow>,
}

impl TrustQuestion for Keys {
    type Answer = KeysAnswer;
    const PATH: &'static str = "/api/v1/keys";
    fn answer_from(&self, t: &TrustState) -> KeysAnswer {
        KeysAnswer {
            enrolled: t
                .keys()
                .map(|k| KeyRow {
                    principal: k.principal.clone(),
                    key_id: k.key_id.to_string(),
                    public_key: k.public_key.to_string(),
                    enrolled_seq: k.enrolled_seq,
                    revoked_seq: k.revoked_seq,
                    roles: t.roles_of(&k.principal).iter().copied().collect(),
                })
                .collect(),
        }
    }
}

/// The ledger's id, head, size, projection and policy version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LedgerInfo;

/// A head.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HeadDoc {
    /// Its sequence number.
    pub seq: u64,
    /// Its id.
    pub hash: String,
    /// When it was recorded.
    pub recorded_at: String,
}

/// The read model's position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProjectionDoc {
    /// The last event folded.
    pub last_seq: Option<u64>,
    /// blake3 of the state's canonical JSON.
    pub digest: String,
}

/// The answer to [`LedgerInfo`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LedgerInfoAnswer {
    /// The genesis `ledger_id`.
    #[schemars(with = "Option<String>")]
    pub ledger_id: Option<uuid::Uuid>,
    /// The head.
    pub head: Option<HeadDoc>,
    /// Events in the ledger.
    pub events: u64,
    /// The read model.
    pub projection: ProjectionDoc,
    /// The policy version in force.
    pub policy_version: u32,
}

impl Query for LedgerInfo {
    type Answer = LedgerInfoAnswer;
    fn path(&self) -> String {
        "/api/v1/ledger".into()
    }
    fn answer(&self, v: &View<'_>) -> Result<LedgerInfoAnswer, QueryError> {
        let head = v.store.head();
        Ok(LedgerInfoAnswer {
            ledger_id: v.trust.ledger_id(),
            events: head.as_ref().map_or(0, |h| h.seq + 1),
            head: head.map(|h| HeadDoc {
                seq: h.seq,
                hash: h.hash.to_string(),
                recorded_at: h.recorded_at.to_string(),
            }),
            projection: ProjectionDoc { last_seq: v.state.last_seq, digest: v.state.digest().to_string() },
            policy_version: v.trust.policy_version(),
        })
    }
}

/// Every answer's JSON Schema, named as in the OpenAPI document's components, with the routes
/// (method, path) it answers: the document is checked against this list.
pub fn answer_schemas() -> Vec<(&'static str, Value, &'static [&'static str])> {
    fn schema<T: JsonSchema>() -> Value {
        serde_json::to_value(schemars::schema_for!(T)).unwrap_or(Value::Null)
    }
    vec![
        (
            "ChampionsAnswer",
            schema::<ChampionsAnswer>(),
            &["/api/v1/champions", "/api/v1/models/{model}/champion"],
        ),
        ("VersionsAnswer", schema::<VersionsAnswer>(), &["/api/v1/models/{model}/versions"]),
        (
            "BacktestsAnswer",
            schema::<BacktestsAnswer>(),
            &["/api/v1/models/{model}/versions/{version}/backtests"],
        ),
        ("LineageAnswer", schema::<LineageAnswer>(), &["/api/v1/models/{model}/versions/{version}/lineage"]),
        (
            "ReviewAnswer",
            schema::<crate::app::review::ReviewAnswer>(),
            &["/api/v1/models/{model}/versions/{version}/review"],
        ),
        ("TimelineAnswer", schema::<TimelineAnswer>(), &["/api/v1/models/{model}/timeline"]),
        ("ReleaseAnswer", schema::<ReleaseAnswer>(), &["/api/v1/models/{model}/release"]),
        ("HealthAnswer", schema::<HealthAnswer>(), &["/api/v1/models/health"]),
        ("AlertsAnswer", schema::<AlertsAnswer>(), &["/api/v1/ml-alerts"]),
        ("Alert", schema::<Alert>(), &["/api/v1/ml-alerts/{id}"]),
        ("AlertCounts", schema::<AlertCounts>(), &["/api/v1/ml-alerts/stats"]),
        ("ExperimentsAnswer", schema::<ExperimentsAnswer>(), &["/api/v1/experiments"]),
        ("Experiment", schema::<Experiment>(), &["/api/v1/experiments/{id}"]),
        (
            "ExperimentResultsAnswer",
            schema::<ExperimentResultsAnswer>(),
            &["/api/v1/experiments/{id}/results"],
        ),
        ("ProposalsAnswer", schema::<ProposalsAnswer>(), &["/api/v1/arena/proposals"]),
        ("EventsAnswer", schema::<EventsAnswer>(), &["/api/v1/events"]),
        ("EventAnswer", schema::<EventAnswer>(), &["/api/v1/events/{id}"]),
        ("PolicyAnswer", schema::<PolicyAnswer>(), &["/api/v1/policy"]),
        ("KeysAnswer", schema::<KeysAnswer>(), &["/api/v1/keys"]),
        ("LedgerInfoAnswer", schema::<LedgerInfoAnswer>(), &["/api/v1/ledger"]),
        (
            "ServedModelAnswer",
            schema::<crate::app::serving::ServedModelAnswer>(),
            &["/api/v1/models/{model}"],
        ),
        (
            "PredictAnswer",
            schema::<crate::app::serving::PredictAnswer>(),
            &["post /api/v1/models/{model}/predict"],
        ),
        ("ReadyAnswer", schema::<crate::app::serving::ReadyAnswer>(), &["/api/v1/ready"]),
        (
            "ActualsAnswer",
            schema::<crate::app::serving::ActualsAnswer>(),
            &["post /api/v1/models/{model}/actuals"],
        ),
        (
            "ShadowEvaluation",
            schema::<crate::app::shadow::ShadowEvaluation>(),
            &["/api/v1/models/{model}/shadow"],
        ),
    ]
}
