//! Serving: which artifact answers each segment of each model, and scoring rows with them.
//!
//! The ledger says which version is champion per segment; its artifact lives in
//! `<ledger>/artifacts/<blake3>.json`. [`Serving`] holds one [`ServingTable`]: every model's
//! routes with their artifacts loaded and their digests checked. A change of champions builds
//! a whole new table beside the old one (artifacts already loaded are shared) and replaces it
//! in one pointer swap; a request takes the table once and scores every row with it, so no
//! request ever sees half a switch. A champion whose artifact is missing or damaged is never
//! served: the version that served the segment before keeps serving it, and the table records
//! the problem (retried every [`RETRY`] by default, so a restored file is picked up without a restart).
//!
//! No clap, axum or printing here: `pledge serve` calls [`Serving::refresh`] from the writer
//! after it folds a commit (before it acknowledges it) and [`predict`] from its handler.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use polars::prelude::DataFrame;
use projections::events::Task;
use projections::State;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use trainer::artifact::Artifact;
use trainer::spec::Task as SpecTask;

use crate::app::predlog::{Logged, ShadowScore};

/// How long a route whose artifact could not be loaded waits, by default, before it is tried
/// again.
pub const RETRY: Duration = Duration::from_secs(5);

/// What the ledger wants served for one model.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WantedModel {
    /// What the model predicts.
    pub task: Option<Task>,
    /// Segment key (`""`: global) → the champion (version, artifact digest).
    pub routes: BTreeMap<String, (u64, String)>,
    /// Segment key → the versions in shadow there (version, artifact digest): challengers put
    /// in shadow by `shadow.start`, and the versions of the model's experiments in shadow
    /// testing, champions excepted.
    pub shadows: BTreeMap<String, Vec<(u64, String)>>,
}

/// What the ledger wants served: model → its routes and shadows.
pub type Wanted = BTreeMap<String, WantedModel>;

/// The routes and shadows the ledger's champions and experiments ask for.
pub fn wanted(state: &State) -> Wanted {
    let mut out = Wanted::new();
    for (name, m) in state.models.iter().filter(|(_, m)| !m.champions.is_empty()) {
        let routes = m
            .champions
            .iter()
            .filter_map(|(seg, v)| m.versions.get(v).map(|i| (seg.clone(), (*v, i.artifact_digest.clone()))))
            .collect();
        let mut shadows: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
        let champions: BTreeSet<u64> = m.champions.values().copied().collect();
        // Challengers put in shadow by a signed `shadow.start`.
        for v in m.shadows.iter().filter(|v| !champions.contains(v)) {
            if let Some(i) =
                m.versions.get(v).filter(|i| i.status == projections::events::VersionStatus::Challenger)
            {
                let list = shadows.entry(i.segment.clone().unwrap_or_default()).or_default();
                list.push((*v, i.artifact_digest.clone()));
            }
        }
        for x in state.experiments.values() {
            if &x.model != name || x.status != projections::ExperimentStatus::ShadowTesting {
                continue;
            }
            for v in x.versions.iter().filter(|v| !champions.contains(v)) {
                if let Some(i) = m.versions.get(v) {
                    let seg = i.segment.clone().unwrap_or_default();
                    let list = shadows.entry(seg).or_default();
                    if !list.iter().any(|(x, _)| x == v) {
                        list.push((*v, i.artifact_digest.clone()));
                    }
                }
            }
        }
        out.insert(name.clone(), WantedModel { task: m.task, routes, shadows });
    }
    out
}

/// One route's artifact.
#[derive(Clone, Debug)]
pub struct Served {
    /// The version.
    pub version: u64,
    /// Its artifact's blake3 digest (checked when it was loaded).
    pub digest: String,
    /// The artifact.
    pub artifact: Arc<Artifact>,
}

/// A champion that is not served, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ServingProblem {
    /// The segment (`null`: the global route).
    pub segment: Option<String>,
    /// The champion the ledger names.
    pub version: u64,
    /// Its artifact's digest.
    pub artifact_digest: String,
    /// Why it is not served.
    pub reason: String,
    /// The version serving the segment instead (`null`: none, its requests are refused; or a
    /// shadow version, which is then not scored).
    pub serving_instead: Option<u64>,
    /// Whether the version is in shadow (not a champion).
    pub shadow: bool,
}

/// One model's routes.
#[derive(Clone, Debug, Default)]
pub struct ModelServing {
    /// What the model predicts.
    pub task: Option<Task>,
    /// Segment key (`""`: global) → what serves it.
    pub routes: BTreeMap<String, Served>,
    /// Segment key → the versions scoring its rows in shadow (logged, never returned).
    pub shadows: BTreeMap<String, Vec<Served>>,
    /// Champions not served, with when they were last tried.
    pub problems: Vec<(ServingProblem, Instant)>,
}

/// Every model's routes, as one immutable value.
#[derive(Clone, Debug, Default)]
pub struct ServingTable {
    /// Model → routes.
    pub models: BTreeMap<String, Arc<ModelServing>>,
    /// What the ledger asked for when the table was built.
    pub wanted: Wanted,
    /// Tables built so far (0: the first).
    pub generation: u64,
}

impl ServingTable {
    /// Whether some champion is not served.
    pub fn has_problems(&self) -> bool {
        self.models.values().any(|m| !m.problems.is_empty())
    }
}

/// The server's serving table and where its artifacts are.
#[derive(Debug)]
pub struct Serving {
    dir: PathBuf,
    retry: Duration,
    table: RwLock<Arc<ServingTable>>,
    /// One refresh at a time (the writer and the retry timer).
    refreshing: Mutex<()>,
}

impl Serving {
    /// Serving from `artifacts` (the ledger's artifact directory), nothing loaded yet; a
    /// champion whose artifact fails to load is tried again `retry` later.
    pub fn new(artifacts: &Path, retry: Duration) -> Serving {
        Serving {
            dir: artifacts.to_path_buf(),
            retry,
            table: RwLock::new(Arc::default()),
            refreshing: Mutex::new(()),
        }
    }

    /// How long a failed route waits before it is tried again.
    pub fn retry(&self) -> Duration {
        self.retry
    }

    /// The table now: take it once per request.
    pub fn current(&self) -> Arc<ServingTable> {
        Arc::clone(&self.table.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Brings the table to `wanted`: loads (and checks) the artifacts of new champions, keeps
    /// the previous version serving where that fails, and swaps the new table in at once.
    /// Returns whether the table changed. Cheap when nothing changed and no problem is due
    /// for a retry.
    pub fn refresh(&self, wanted: Wanted) -> bool {
        let _one = self.refreshing.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.current();
        let due = |m: &ModelServing| m.problems.iter().any(|(_, at)| at.elapsed() >= self.retry);
        if old.wanted == wanted && !old.models.values().any(|m| due(m)) {
            return false;
        }
        let mut models = BTreeMap::new();
        for (name, want) in &wanted {
            let before = old.models.get(name);
            if let Some(b) = before.filter(|b| old.wanted.get(name) == Some(want) && !due(b)) {
                models.insert(name.clone(), Arc::clone(b));
                continue;
            }
            models.insert(name.clone(), Arc::new(self.build(name, want, before.map(|b| &**b))));
        }
        let table = ServingTable { models, wanted, generation: old.generation + 1 };
        *self.table.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(table);
        true
    }

    fn build(&self, model: &str, want: &WantedModel, before: Option<&ModelServing>) -> ModelServing {
        let mut out = ModelServing { task: want.task, ..Default::default() };
        // An artifact already loaded (for any route or shadow) is shared, not read again.
        let known = |digest: &str| {
            before
                .into_iter()
                .flat_map(|b| b.routes.values().chain(b.shadows.values().flatten()))
                .find(|s| s.digest == digest)
        };
        for (seg, (version, digest)) in &want.routes {
            let previous = before.and_then(|b| b.routes.get(seg));
            let loaded = match known(digest) {
                Some(s) => Ok(Arc::clone(&s.artifact)),
                None => self.load(seg, want.task, digest).map(Arc::new),
            };
            match loaded {
                Ok(artifact) => {
                    if previous.is_some_and(|p| p.version != *version) {
                        tracing::info!(model, segment = seg.as_str(), version, "now serving");
                    }
                    out.routes
                        .insert(seg.clone(), Served { version: *version, digest: digest.clone(), artifact });
                }
                Err(reason) => {
                    let instead = previous.cloned();
                    tracing::warn!(
                        model, segment = seg.as_str(), version, %reason,
                        serving_instead = instead.as_ref().map(|p| p.version),
                        "champion not served"
                    );
                    let problem = problem(seg, *version, digest, reason, instead.as_ref().map(|p| p.version));
                    out.problems.push((problem, Instant::now()));
                    if let Some(p) = instead {
                        out.routes.insert(seg.clone(), p);
                    }
                }
            }
        }
        for (seg, list) in &want.shadows {
            for (version, digest) in list {
                let loaded = match known(digest) {
                    Some(s) => Ok(Arc::clone(&s.artifact)),
                    None => self.load(seg, want.task, digest).map(Arc::new),
                };
                match loaded {
                    Ok(artifact) => out.shadows.entry(seg.clone()).or_default().push(Served {
                        version: *version,
                        digest: digest.clone(),
                        artifact,
                    }),
                    Err(reason) => {
                        tracing::warn!(model, segment = seg.as_str(), version, %reason, "shadow version not scored");
                        let problem =
                            ServingProblem { shadow: true, ..problem(seg, *version, digest, reason, None) };
                        out.problems.push((problem, Instant::now()));
                    }
                }
            }
        }
        out
    }

    /// Loads an artifact and checks it fits the route: its bytes hash to the digest, it is for
    /// this segment, and it predicts what the model does.
    fn load(&self, seg: &str, task: Option<Task>, digest: &str) -> Result<Artifact, String> {
        let a = Artifact::load(&self.dir, digest).map_err(|e| e.to_string())?;
        if a.segment.as_deref().unwrap_or("") != seg {
            return Err(format!(
                "the artifact was fitted for {}, not for this route",
                a.segment.as_deref().map_or("the global route".into(), |s| format!("segment `{s}`"))
            ));
        }
        let classifier = a.spec.task == SpecTask::Classification;
        if task.is_some_and(|t| (t == Task::Classification) != classifier) {
            return Err(format!(
                "the artifact is a {} model but the model's task is {}",
                a.spec.task.as_str(),
                task.map_or("", Task::as_str)
            ));
        }
        Ok(a)
    }
}

/// A champion's route that cannot be served (`instead`: what serves it meanwhile).
fn problem(seg: &str, version: u64, digest: &str, reason: String, instead: Option<u64>) -> ServingProblem {
    ServingProblem {
        segment: (!seg.is_empty()).then(|| seg.to_string()),
        version,
        artifact_digest: digest.to_string(),
        reason,
        serving_instead: instead,
        shadow: false,
    }
}

/// Why a request to score was not answered.
#[derive(Debug, Clone, PartialEq)]
pub enum ServeError {
    /// No such model (404).
    UnknownModel(String),
    /// The rows do not fit the model (400).
    Invalid(String),
    /// Nothing serves some row's segment (409): the model has no champion there.
    NoChampion(String),
    /// The champion exists but its artifact cannot be served, and nothing served its route
    /// before (409, rule `serving.unavailable`): the ledger names a file this server lacks.
    Unavailable(String),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::UnknownModel(m)
            | ServeError::Invalid(m)
            | ServeError::NoChampion(m)
            | ServeError::Unavailable(m) => f.write_str(m),
        }
    }
}

/// Rows to score.
#[derive(Debug, Clone)]
pub struct PredictInput {
    /// The rows (from JSON rows or a CSV body).
    pub frame: DataFrame,
    /// The column holding each row's caller-supplied key (unique, non-empty), if any.
    pub key_column: Option<String>,
}

/// One scored row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RowPrediction {
    /// The row (1 is the first).
    pub row: usize,
    /// This prediction's id (UUID v7).
    pub prediction_id: String,
    /// The caller's key of the row (from `key_column`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The version that scored it.
    pub version: u64,
    /// The route that took it: the segment of its own champion, `null` for the global one.
    pub segment: Option<String>,
    /// A classifier's probability of the positive class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// A regression model's prediction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prediction: Option<f64>,
    /// A regression model's prediction interval `[lower, upper]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<[f64; 2]>,
}

/// The answer to a request to score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PredictAnswer {
    /// The model.
    pub model: String,
    /// Rows sent.
    pub rows: usize,
    /// Scored rows, in request order.
    pub predictions: Vec<RowPrediction>,
    /// Rows not scored (1-based): empty cells the model's missing-value policy drops, or a
    /// forecast row without enough history for its lags.
    pub unscored: Vec<usize>,
}

/// Refuses a model `table` does not serve, or serves no route of (the checks [`predict`] makes
/// first, before reading any row).
pub fn check_served(table: &ServingTable, model: &str) -> Result<(), ServeError> {
    served_model(table, model)?.base(model).map(drop)
}

/// The routes of `model` (every model with a champion has some, built with the table).
fn served_model<'a>(table: &'a ServingTable, model: &str) -> Result<&'a ModelServing, ServeError> {
    table.models.get(model).map(|m| &**m).ok_or_else(|| {
        ServeError::UnknownModel(format!(
            "no model `{model}` is served (it has no champion, or the ledger has no such model)"
        ))
    })
}

impl ModelServing {
    /// The route whose spec names the routing column: the global champion's, else any.
    fn base(&self, model: &str) -> Result<&Served, ServeError> {
        self.routes.get("").or_else(|| self.routes.values().next()).ok_or_else(|| no_route(model, self, None))
    }
}

/// Scores `input` with `model`'s routes in `table`: each row by the champion of its segment
/// (the spec's segment column), else the global champion. Returns the answer and the records
/// of the prediction log (shadow scores included).
pub fn predict(
    table: &ServingTable,
    model: &str,
    input: &PredictInput,
) -> Result<(PredictAnswer, Vec<Logged>), ServeError> {
    let m = served_model(table, model)?;
    let invalid = |e: trainer::error::TrainError| ServeError::Invalid(e.to_string());
    let n = input.frame.height();
    let keys = match &input.key_column {
        None => None,
        Some(col) => Some(row_keys(&input.frame, col)?),
    };
    // The routing column comes from the global champion's spec (else any route's).
    let base = m.base(model)?;
    let table0 = trainer::data::unlabelled(&input.frame, &base.artifact.spec).map_err(invalid)?;
    let mut assign: Vec<(&str, &Served)> = Vec::with_capacity(table0.len());
    for i in 0..table0.len() {
        let seg = table0.segment.as_ref().map(|s| s[i].as_str());
        let own = seg.and_then(|s| m.routes.get(s).map(|r| (s, r)));
        match own.or_else(|| m.routes.get("").map(|r| ("", r))) {
            Some(r) => assign.push(r),
            None => return Err(no_route(model, m, seg.map(|s| (s, table0.row_numbers[i])))),
        }
    }
    let mut out = Vec::with_capacity(table0.len());
    let routes_used: BTreeSet<&str> = assign.iter().map(|(s, _)| *s).collect();
    for seg in routes_used {
        let served = &m.routes[seg];
        let rows: Vec<usize> = (0..table0.len()).filter(|&i| assign[i].0 == seg).collect();
        // Each artifact validates the rows against its own spec.
        let own = if Arc::ptr_eq(&served.artifact, &base.artifact) {
            table0.clone()
        } else {
            trainer::data::unlabelled(&input.frame, &served.artifact.spec).map_err(invalid)?
        };
        let index: BTreeMap<usize, usize> =
            own.row_numbers.iter().enumerate().map(|(i, r)| (*r, i)).collect();
        let pick: Vec<usize> =
            rows.iter().filter_map(|&i| index.get(&table0.row_numbers[i]).copied()).collect();
        if pick.is_empty() {
            continue;
        }
        let scored = served.artifact.score(&own.select(&pick)).map_err(invalid)?;
        let classifier = served.artifact.spec.task == SpecTask::Classification;
        for (k, &j) in pick.iter().enumerate() {
            let row = own.row_numbers[j];
            let v = scored.value[k];
            out.push(RowPrediction {
                row,
                prediction_id: uuid::Uuid::now_v7().to_string(),
                key: keys.as_ref().map(|k| k[row - 1].clone()),
                version: served.version,
                segment: (!seg.is_empty()).then(|| seg.to_string()),
                probability: classifier.then_some(v),
                prediction: (!classifier).then_some(v),
                interval: scored.interval.as_ref().map(|iv| [iv[k].0, iv[k].1]),
            });
        }
    }
    out.sort_by_key(|r| r.row);
    let scored: BTreeSet<usize> = out.iter().map(|r| r.row).collect();
    // Each row's segment value, by row number.
    let segment_of: BTreeMap<usize, &str> = match &table0.segment {
        Some(seg) => table0.row_numbers.iter().zip(seg).map(|(r, s)| (*r, s.as_str())).collect(),
        None => BTreeMap::new(),
    };
    let shadow = shadow_scores(m, &input.frame, &out, &segment_of);
    let logged = out
        .iter()
        .map(|r| Logged {
            prediction_id: r.prediction_id.clone(),
            model: model.to_string(),
            key: r.key.clone(),
            at: String::new(),
            segment: segment_of.get(&r.row).map(|s| s.to_string()),
            route: r.segment.clone(),
            version: r.version,
            value: r.probability.or(r.prediction).unwrap_or(f64::NAN),
            interval: r.interval,
            shadow: shadow.get(&r.row).cloned().unwrap_or_default(),
        })
        .collect();
    let answer = PredictAnswer {
        model: model.to_string(),
        rows: n,
        unscored: (1..=n).filter(|r| !scored.contains(r)).collect(),
        predictions: out,
    };
    Ok((answer, logged))
}

/// The shadow versions' scores of the answered rows, by row number: a global shadow version
/// scores the rows the global champion served, a segment's shadow version the rows of that
/// segment. A shadow version that cannot score a row (its own spec refuses the rows) leaves it
/// unscored and is logged: shadow never changes an answer.
fn shadow_scores(
    m: &ModelServing,
    frame: &DataFrame,
    answered: &[RowPrediction],
    segment_of: &BTreeMap<usize, &str>,
) -> BTreeMap<usize, Vec<ShadowScore>> {
    let mut out: BTreeMap<usize, Vec<ShadowScore>> = BTreeMap::new();
    for (key, list) in &m.shadows {
        let rows: BTreeSet<usize> = answered
            .iter()
            .filter(|r| match key.is_empty() {
                true => r.segment.is_none(),
                false => segment_of.get(&r.row) == Some(&key.as_str()),
            })
            .map(|r| r.row)
            .collect();
        if rows.is_empty() {
            continue;
        }
        for s in list {
            let own = match trainer::data::unlabelled(frame, &s.artifact.spec) {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(version = s.version, error = %e, "a shadow version cannot read these rows");
                    continue;
                }
            };
            let pick: Vec<usize> = (0..own.len()).filter(|&j| rows.contains(&own.row_numbers[j])).collect();
            if pick.is_empty() {
                continue;
            }
            match s.artifact.score(&own.select(&pick)) {
                Ok(p) => {
                    for (k, &j) in pick.iter().enumerate() {
                        out.entry(own.row_numbers[j]).or_default().push(ShadowScore {
                            version: s.version,
                            value: p.value[k],
                            interval: p.interval.as_ref().map(|iv| [iv[k].0, iv[k].1]),
                        });
                    }
                }
                Err(e) => tracing::warn!(version = s.version, error = %e, "a shadow version failed to score"),
            }
        }
    }
    out
}

fn no_route(model: &str, m: &ModelServing, seg: Option<(&str, usize)>) -> ServeError {
    let key = seg.map_or("", |(s, _)| s);
    let problem = m
        .problems
        .iter()
        .map(|(p, _)| p)
        .find(|p| p.segment.as_deref().unwrap_or("") == key || p.segment.is_none());
    let at = seg.map(|(s, row)| format!(" (row {row}, segment `{s}`)")).unwrap_or_default();
    match problem {
        Some(p) => ServeError::Unavailable(format!(
            "`{model}` v{} cannot be served{at}: {}; nothing served that route before",
            p.version, p.reason
        )),
        None => ServeError::NoChampion(format!(
            "`{model}` has no champion for this row{at}, and no global champion"
        )),
    }
}

/// Each row's key from `col`: text, non-empty, unique in the request.
fn row_keys(frame: &DataFrame, col: &str) -> Result<Vec<String>, ServeError> {
    let column = frame
        .column(col)
        .map_err(|_| ServeError::Invalid(format!("the rows have no key column `{col}`")))?
        .as_materialized_series()
        .cast(&polars::prelude::DataType::String)
        .map_err(|e| ServeError::Invalid(format!("key column `{col}`: {e}")))?;
    let ca = column.str().map_err(|e| ServeError::Invalid(format!("key column `{col}`: {e}")))?;
    let mut seen = BTreeMap::new();
    let mut keys = Vec::with_capacity(ca.len());
    for (i, v) in ca.iter().enumerate() {
        let k = v.map(str::trim).filter(|k| !k.is_empty()).ok_or_else(|| {
            ServeError::Invalid(format!(
                "row {}: the key column `{col}` is empty; every row needs its key",
                i + 1
            ))
        })?;
        if let Some(first) = seen.insert(k.to_string(), i + 1) {
            return Err(ServeError::Invalid(format!(
                "rows {first} and {} have the same key `{k}`; keys name rows uniquely",
                i + 1
            )));
        }
        keys.push(k.to_string());
    }
    Ok(keys)
}

/// One route of a served model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ServedRoute {
    /// The segment (`null`: the global route, every row no segment champion takes).
    pub segment: Option<String>,
    /// The version serving it.
    pub version: u64,
    /// Its artifact's blake3 digest (checked when loaded).
    pub artifact_digest: String,
    /// The model family (`logistic`, `ridge`, `poisson`).
    pub family: String,
    /// Which rows it learnt from.
    pub trained_on: String,
}

/// A column a request must (or may) send.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExpectedColumn {
    /// The column.
    pub column: String,
    /// `numeric`, `categorical`, `segment`, `time` or `target` (a forecaster's history:
    /// known values, `null` for the rows to forecast).
    pub role: String,
}

/// What a model serves: the answer of `GET /api/v1/models/{model}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ServedModelAnswer {
    /// The model.
    pub model: String,
    /// What it predicts.
    pub task: Option<Task>,
    /// The routes served now, the global one last.
    pub routes: Vec<ServedRoute>,
    /// The versions scoring rows in shadow (logged with each prediction, never returned): a
    /// global one scores the rows the global champion serves, a segment's the rows of that
    /// segment.
    pub shadows: Vec<ServedRoute>,
    /// The columns a row needs, in the served specs' order (every route's, once).
    pub columns: Vec<ExpectedColumn>,
    /// The segment column rows are routed by (when a spec declares one; a row without it goes
    /// to the global route).
    pub segment_column: Option<String>,
    /// Champions the ledger names that are not served, and why.
    pub problems: Vec<ServingProblem>,
    /// The serving table's generation (it grows by one at every switch).
    pub generation: u64,
}

fn route_of(seg: &str, s: &Served) -> ServedRoute {
    ServedRoute {
        segment: (!seg.is_empty()).then(|| seg.to_string()),
        version: s.version,
        artifact_digest: s.digest.clone(),
        family: match &s.artifact.model {
            trainer::model::Fitted::Logistic(_) => "logistic",
            trainer::model::Fitted::Ridge(_) => "ridge",
            trainer::model::Fitted::Poisson(_) => "poisson",
        }
        .into(),
        trained_on: s.artifact.trained_on.clone(),
    }
}

/// What `model` serves in `table`.
pub fn describe(table: &ServingTable, model: &str) -> Result<ServedModelAnswer, ServeError> {
    let m = served_model(table, model)?;
    let routes: Vec<ServedRoute> = m
        .routes
        .iter()
        .filter(|(s, _)| !s.is_empty())
        .chain(m.routes.get_key_value(""))
        .map(|(seg, s)| route_of(seg, s))
        .collect();
    let shadows =
        m.shadows.iter().flat_map(|(seg, list)| list.iter().map(move |s| route_of(seg, s))).collect();
    let mut columns: Vec<ExpectedColumn> = vec![];
    let mut segment_column = None;
    let global = m.routes.get("").into_iter().chain(m.routes.values());
    for s in global {
        let spec = &s.artifact.spec;
        let mut add = |column: &str, role: &str| {
            if !columns.iter().any(|c| c.column == column) {
                columns.push(ExpectedColumn { column: column.into(), role: role.into() });
            }
        };
        for f in &spec.features {
            add(
                &f.column,
                match f.kind {
                    trainer::spec::FeatureType::Numeric => "numeric",
                    trainer::spec::FeatureType::Categorical => "categorical",
                },
            );
        }
        if spec.series.is_some() || spec.calendar.is_some() {
            if let Some(t) = &spec.time {
                add(&t.column, "time");
            }
        }
        if spec.series.is_some() {
            add(&spec.target.column, "target");
        }
        if let Some(seg) = &spec.segment {
            add(seg, "segment");
            segment_column.get_or_insert_with(|| seg.clone());
        }
    }
    Ok(ServedModelAnswer {
        model: model.to_string(),
        task: m.task,
        routes,
        shadows,
        columns,
        segment_column,
        problems: m.problems.iter().map(|(p, _)| p.clone()).collect(),
        generation: table.generation,
    })
}

/// The answer of `GET /api/v1/ready`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReadyAnswer {
    /// Whether the server takes commands and serves reads (its storage is usable).
    pub ready: bool,
    /// Events committed and visible.
    pub events: u64,
    /// Models served.
    pub models_served: usize,
    /// Champions the ledger names that are not served (see `GET /api/v1/models/{model}`).
    pub serving_problems: usize,
    /// What is wrong, when not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One outcome sent to `POST /api/v1/models/{model}/actuals`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActualIn {
    /// The prediction it resolves.
    #[serde(default)]
    pub prediction_id: Option<String>,
    /// Or the row key it resolves (every logged prediction of the model with that key).
    #[serde(default)]
    pub key: Option<String>,
    /// The outcome: a number (regression); for a classifier `true`/`false`, 1/0, or the spec's
    /// positive or negative label.
    pub actual: serde_json::Value,
}

/// The answer of `POST /api/v1/models/{model}/actuals`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ActualsAnswer {
    /// The model.
    pub model: String,
    /// Outcomes recorded.
    pub recorded: usize,
}

/// Checks outcomes against what `model` serves and turns them into log records: each names a
/// prediction id or a key (not both), and its value fits the model's task.
pub fn actuals(
    table: &ServingTable,
    model: &str,
    given: Vec<ActualIn>,
) -> Result<Vec<crate::app::predlog::Actual>, ServeError> {
    let m = served_model(table, model)?;
    let spec = &m.base(model)?.artifact.spec;
    if given.is_empty() {
        return Err(ServeError::Invalid("no actuals to record".into()));
    }
    given
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let at = |m: String| ServeError::Invalid(format!("actual {}: {m}", i + 1));
            if a.prediction_id.is_some() == a.key.is_some() {
                return Err(at("give exactly one of `prediction_id` and `key`".into()));
            }
            if let Some(id) = &a.prediction_id {
                uuid::Uuid::parse_str(id)
                    .map_err(|_| at(format!("`{id}` is not a prediction id (a UUID)")))?;
            }
            if a.key.as_deref().is_some_and(|k| k.trim().is_empty()) {
                return Err(at("the key is empty".into()));
            }
            let actual = actual_value(spec, &a.actual).map_err(at)?;
            Ok(crate::app::predlog::Actual {
                model: model.to_string(),
                prediction_id: a.prediction_id,
                key: a.key,
                actual,
                at: String::new(),
            })
        })
        .collect()
}

/// An outcome as the number metrics read: the value (regression), 1 or 0 (classification).
fn actual_value(spec: &trainer::spec::DatasetSpec, v: &serde_json::Value) -> Result<f64, String> {
    use serde_json::Value;
    if spec.task == SpecTask::Regression {
        return v
            .as_f64()
            .filter(|x| x.is_finite())
            .ok_or_else(|| format!("`actual` is {v}; a regression model's outcome is a number"));
    }
    let pos = spec.target.positive();
    let neg = spec.target.negative.as_deref();
    match v {
        Value::Bool(b) => Ok(if *b { 1.0 } else { 0.0 }),
        Value::Number(n) if n.as_f64() == Some(1.0) => Ok(1.0),
        Value::Number(n) if n.as_f64() == Some(0.0) => Ok(0.0),
        Value::String(s) if s.trim() == pos => Ok(1.0),
        Value::String(s) if neg.is_some_and(|n| n == s.trim()) => Ok(0.0),
        _ => Err(format!(
            "`actual` is {v}; a classifier's outcome is true/false, 1/0, `{pos}`{}",
            neg.map(|n| format!(" or `{n}`")).unwrap_or_default()
        )),
    }
}
