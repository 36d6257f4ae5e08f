//! The built-in trainer, wired to the ledger: training a candidate and recording it, drift
//! checks and scoring. Requests in, reports out; the CLI prints them. Model artifacts live in
//! `<ledger>/artifacts/<blake3 hex>.json`; the ledger records their digests, so a version names
//! exactly the bytes that score for it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ledger::RecordedEvent;
use projections::events::{Baseline, Task, Trigger};
use serde::Serialize;
use serde_json::{json, Value};
use trainer::progress::Progress;
use trainer::spec::{ModelKind, RouterMode, Strategy, Task as SpecTask, TrainParams};
use trainer::{Artifact, DatasetSpec, TrainError};

use super::backend::{Backend, Port, Signer};
use super::failure::{Failure, INTEGRITY, INTERNAL, INVALID_INPUT, REJECTED};
use crate::domain::command::{DriftBody, RunBacktest, RunBody, RunModel};
use crate::domain::{DomainCommand, PledgeDomain};

/// The trainer's name as recorded on runs: its version and the model family's solver.
pub fn trainer_name(kind: ModelKind) -> String {
    let solver = match kind {
        ModelKind::Logistic => "logistic, L-BFGS",
        ModelKind::Ridge => "ridge, Cholesky",
        ModelKind::Poisson => "Poisson GLM, Newton-Cholesky",
    };
    format!("pledge-trainer {} ({solver})", env!("CARGO_PKG_VERSION"))
}

/// Where a ledger keeps model artifacts.
pub fn artifact_dir(ledger: &Path) -> PathBuf {
    ledger.join("artifacts")
}

/// A trainer error as a failure: bad input, a damaged artifact, or a bug.
pub fn failure(e: TrainError) -> Failure {
    match &e {
        TrainError::Artifact(m) if m.contains("damaged") => Failure::new(INTEGRITY, e.to_string()),
        TrainError::Leakage { .. } => Failure::new(INVALID_INPUT, e.to_string())
            .hint("a model must not read the answer; see `target_derived` in docs/TRAINER.md"),
        _ if e.is_input() => Failure::new(INVALID_INPUT, e.to_string()),
        _ => Failure::new(INTERNAL, e.to_string()),
    }
}

/// Reads a dataset spec file; returns it and the blake3 of its bytes.
pub fn read_spec(path: &Path) -> Result<(DatasetSpec, String), Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::new(INVALID_INPUT, format!("cannot read spec `{}`: {e}", path.display())))?;
    super::json::check_unambiguous(&text, &path.display().to_string())?;
    let spec = DatasetSpec::from_json(&text)
        .map_err(|e| Failure::new(INVALID_INPUT, format!("`{}`: {e}", path.display())))?;
    Ok((spec, ledger::Digest::of(text.as_bytes()).to_string()))
}

/// `--class-weight`: `balanced`, or `positive=W,negative=W`.
fn parse_class_weight(text: &str) -> Result<trainer::spec::ClassWeight, Failure> {
    let bad = |m: String| Failure::new(INVALID_INPUT, format!("`--class-weight {text}`: {m}"));
    let value = if text == "balanced" {
        serde_json::Value::from(text)
    } else {
        let mut map = serde_json::Map::new();
        for part in text.split(',') {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| bad("give `balanced` or `positive=W,negative=W`".into()))?;
            let w: f64 = v.trim().parse().map_err(|_| bad(format!("`{v}` is not a number")))?;
            if map.insert(k.trim().to_owned(), serde_json::Value::from(w)).is_some() {
                return Err(bad(format!("`{k}` is given twice")));
            }
        }
        serde_json::Value::Object(map)
    };
    trainer::spec::ClassWeight::try_from(value).map_err(bad)
}

/// Training parameters: the file's (or the defaults), with the strategy, router mode, model
/// family, class weights and minimum segment size given apart; what is given apart overrides the file, what
/// is not keeps the file's value.
pub fn train_params(
    file: Option<&Path>,
    strategy: Option<&str>,
    router_mode: Option<&str>,
    min_segment_rows: Option<u64>,
    model: Option<&str>,
    class_weight: Option<&str>,
) -> Result<TrainParams, Failure> {
    let mut p: TrainParams = match file {
        None => TrainParams::default(),
        Some(path) => super::json::read_file(path, "parameters")?,
    };
    p.strategy = match strategy {
        None => p.strategy,
        Some("global") => Strategy::Global,
        Some("segmented_router") => Strategy::SegmentedRouter,
        Some(other) => {
            return Err(Failure::new(
                INVALID_INPUT,
                format!(
                    "`--strategy {other}` is not a strategy the trainer knows (global, segmented_router)"
                ),
            ))
        }
    };
    p.model = match model {
        None => p.model,
        Some("logistic") => Some(ModelKind::Logistic),
        Some("ridge") => Some(ModelKind::Ridge),
        Some("poisson") => Some(ModelKind::Poisson),
        Some(other) => {
            return Err(Failure::new(
                INVALID_INPUT,
                format!(
                    "`--family {other}` is not a model family the trainer knows (logistic, ridge, poisson)"
                ),
            ))
        }
    };
    if let Some(text) = class_weight {
        p.class_weight = Some(parse_class_weight(text)?);
    }
    p.router_mode = match router_mode {
        None => p.router_mode,
        Some("segment_only") => RouterMode::SegmentOnly,
        Some(other) => {
            return Err(Failure::new(
                INVALID_INPUT,
                format!("`--router-mode {other}` is not a router mode the trainer knows (segment_only)"),
            ))
        }
    };
    if let Some(n) = min_segment_rows {
        p.min_segment_rows = usize::try_from(n).unwrap_or(usize::MAX);
    }
    p.check().map_err(failure)?;
    Ok(p)
}

/// What a run records besides the trainer's output.
pub struct RunMeta<'a> {
    /// The model.
    pub model: &'a str,
    /// Why it ran.
    pub trigger: Trigger,
    /// The hypothesis tested, if any.
    pub hypothesis_id: Option<&'a str>,
    /// Dataset version label.
    pub dataset_version: &'a str,
    /// Feature-set version label.
    pub feature_set: &'a str,
    /// More parameters to record (change type, owner...).
    pub extra: Value,
    /// The ledger task recorded (set by [`train_candidate`] from the spec and the ledger).
    pub task: Task,
}

/// The serving version of each segment the candidate has a model for, scored on the same
/// test rows as that model: the evidence the gates judge it on (`docs/FORMAT.md`, section 10,
/// `run.record`). The serving artifact reads the data file with its own spec (its features
/// may differ from the candidate's), and is scored on the candidate's test rows, matched by
/// row number, that its spec keeps. A segment whose serving version has no artifact here, is
/// of another task, or has no such rows, gets none.
pub fn baselines(
    ledger: &Path,
    state: &projections::State,
    model: &str,
    data: &Path,
    table: &trainer::Table,
    out: &trainer::TrainOutput,
) -> BTreeMap<Option<String>, Baseline> {
    let mut found = BTreeMap::new();
    let Some(m) = state.model(model) else { return found };
    let Ok(split) = trainer::train::split(table, &out.candidate.global.spec) else { return found };
    let mut own_tables: BTreeMap<String, trainer::Table> = BTreeMap::new();
    for art in out.candidate.artifacts() {
        let Some(serving) = m.route(art.segment.as_deref()) else { continue };
        let Some(info) = m.versions.get(&serving) else { continue };
        let Ok(champion) = Artifact::load(&artifact_dir(ledger), &info.artifact_digest) else { continue };
        if champion.spec.task != art.spec.task {
            continue;
        }
        // The candidate's test rows of this model (its segment's, for a segment model).
        let wanted: std::collections::BTreeSet<usize> = split
            .test
            .iter()
            .filter(|&&i| match (&art.segment, &table.segment) {
                (None, _) => true,
                (Some(s), Some(seg)) => &seg[i] == s,
                (Some(_), None) => false,
            })
            .map(|&i| table.row_numbers[i])
            .collect();
        let key = info.artifact_digest.clone();
        if !own_tables.contains_key(&key) {
            let Ok((t, _)) = trainer::load(data, &champion.spec) else { continue };
            own_tables.insert(key.clone(), t);
        }
        let own = &own_tables[&key];
        let rows: Vec<usize> = (0..own.len()).filter(|&i| wanted.contains(&own.row_numbers[i])).collect();
        if rows.is_empty() {
            continue;
        }
        let sub = own.select(&rows);
        let Ok(scored) = champion.score(&sub) else { continue };
        if let Some(metrics) = trainer::train::evaluate(&sub, &scored, &art.params) {
            found
                .insert(art.segment.clone(), Baseline { version: serving, metrics: metrics.to_map().into() });
        }
    }
    found
}

/// The `run.record` body for a training output: the run, one model per artifact (with the
/// serving version's figures on the same rows, where known), the backtest windows (overall,
/// and per segment that has its own model), the time axis' periods. Returns the run id too.
pub fn run_body(
    meta: &RunMeta<'_>,
    spec: &DatasetSpec,
    spec_digest: &str,
    params: &TrainParams,
    out: &trainer::TrainOutput,
    periods: &[String],
    baselines: &BTreeMap<Option<String>, Baseline>,
) -> Result<(String, RunBody), Failure> {
    let config = json!({"spec": spec, "params": params});
    let config_digest =
        ledger::Digest::of(&serde_json::to_vec(&config).map_err(Failure::internal)?).to_string();
    let global_digest = out.candidate.global.digest();
    let run_id = format!(
        "{}-{}-{}",
        meta.hypothesis_id.unwrap_or(meta.model),
        meta.dataset_version,
        &global_digest[..8]
    );
    let models = out
        .candidate
        .artifacts()
        .map(|art| RunModel {
            segment: art.segment.clone(),
            artifact_digest: art.digest(),
            metrics: out.model_metrics[&art.segment].to_map().into(),
            baseline: baselines.get(&art.segment).cloned(),
        })
        .collect();
    let mut backtests = Vec::new();
    for w in &out.backtest {
        let row = |seg: Option<&str>, m: &trainer::Metrics| RunBacktest {
            segment: seg.map(str::to_string),
            window_start: w.window_start.clone(),
            window_end: w.window_end.clone(),
            metrics: m.to_map().into(),
            rows: m.rows(),
        };
        backtests.push(row(None, &w.metrics));
        for (seg, m) in &w.segments {
            if out.candidate.segments.contains_key(seg) {
                backtests.push(row(Some(seg), m));
            }
        }
    }
    let mut recorded = json!({
        "min_segment_rows": params.min_segment_rows,
        "training": params, "spec": spec.name, "spec_digest": spec_digest, "split": out.split,
        "train_rows": out.train_rows, "test_rows": out.test_rows,
        "missing_policy": out.load.missing_policy, "rows_read": out.load.rows_read,
        "rows_dropped": out.load.dropped, "dropped_rows": out.load.dropped_rows,
        "segments_without_model": out.candidate.skipped, "backtest_skipped": out.backtest_skipped,
        "model_family": params.model_for(spec.task).map(ModelKind::as_str).unwrap_or_default(),
        "rows_without_history": out.load.rows_without_history,
        "not_converged": out.candidate.artifacts().filter(|a| a.model.converged() == Some(false))
            .map(|a| a.segment.clone().unwrap_or_else(|| "global".into())).collect::<Vec<_>>(),
    });
    if let (Some(r), Some(extra)) = (recorded.as_object_mut(), meta.extra.as_object()) {
        r.extend(extra.clone());
    }
    let kind = params.model_for(spec.task).map_err(failure)?;
    let body = RunBody {
        run_id: run_id.clone(),
        model: meta.model.to_string(),
        task: Some(meta.task),
        trigger: meta.trigger,
        hypothesis_id: meta.hypothesis_id.map(str::to_string),
        drift_alert_id: None,
        dataset_digest: out.candidate.global.dataset_digest.clone(),
        dataset_version: Some(meta.dataset_version.to_string()),
        feature_set: Some(meta.feature_set.to_string()),
        config_digest: Some(config_digest),
        code_version: None,
        trainer: trainer_name(kind),
        params: recorded,
        metrics: out.metrics.to_map().into(),
        started_at: None,
        finished_at: None,
        periods: if spec.time.is_some() { periods.to_vec() } else { vec![] },
        models,
        backtests,
    };
    Ok((run_id, body))
}

/// The metrics the built-in trainer records for every classifier.
pub const CLASSIFIER_METRICS: [&str; 10] = [
    "roc_auc",
    "pr_auc",
    "log_loss",
    "brier",
    "accuracy",
    "ece",
    "positive_rate",
    "predicted_positive_rate",
    "rows",
    "positives",
];

/// The metrics the built-in trainer records for every regression model and forecaster.
pub const FORECAST_METRICS: [&str; 10] = [
    "mae",
    "rmse",
    "mape",
    "wape",
    "bias",
    "coverage",
    "stockout_miss_rate",
    "overstock_rate",
    "rows",
    "zero_actuals",
];

/// The metrics the built-in trainer records for a spec's task.
pub fn trainer_metrics(task: SpecTask) -> &'static [&'static str] {
    match task {
        SpecTask::Classification => &CLASSIFIER_METRICS,
        SpecTask::Regression => &FORECAST_METRICS,
    }
}

/// The ledger task of a run trained on a spec: the model's registered task when it is one the
/// spec can train; for a model not registered yet, classification, or forecast for a numeric
/// target with a time axis, else regression.
pub fn ledger_task(domain: &PledgeDomain, model: &str, spec: &DatasetSpec) -> Task {
    let registered = domain.state.model(model).and_then(|m| m.task);
    match (spec.task, registered) {
        (_, Some(t)) => t,
        (SpecTask::Classification, None) => Task::Classification,
        (SpecTask::Regression, None) if spec.time.is_some() => Task::Forecast,
        (SpecTask::Regression, None) => Task::Regression,
    }
}

/// Refuses, before any training, a model the built-in trainer cannot serve from this spec:
/// one registered for another task, or whose gates need a metric the trainer does not produce.
pub fn check_trainable(
    domain: &PledgeDomain,
    model: &str,
    hypothesis: Option<&str>,
    spec: &DatasetSpec,
) -> Result<(), Failure> {
    let policy = domain.policy().map_err(|e| Failure::new(REJECTED, e.to_string()))?;
    if let Some(h) = hypothesis {
        match domain.state.experiments.get(h) {
            None => {
                return Err(Failure::rejected(
                    "experiment.unknown",
                    format!("no hypothesis `{h}` was proposed"),
                )
                .hint(format!("propose it first: `pledge hypothesis propose {h} {model} ...`")))
            }
            Some(x) if x.model != model => {
                return Err(Failure::rejected(
                    "experiment.model",
                    format!("hypothesis `{h}` is about `{}`, not `{model}`", x.model),
                ))
            }
            Some(_) => {}
        }
    }
    let task = ledger_task(domain, model, spec);
    let fits = match spec.task {
        SpecTask::Classification => task == Task::Classification,
        SpecTask::Regression => matches!(task, Task::Regression | Task::Forecast),
    };
    if !fits {
        return Err(Failure::rejected(
            "model.task",
            format!(
                "`{model}` is a {} model; the spec's target is a {} target",
                task.as_str(),
                spec.task.as_str()
            ),
        )
        .hint("train it on a spec of its task, or record a run made elsewhere with `--metrics --artifact --dataset`"));
    }
    let produced = trainer_metrics(spec.task);
    let rules = policy.for_model(model, task);
    let (gates, section) = rules.gates();
    if let Some(g) = gates.iter().find(|g| !produced.contains(&g.metric.as_str())) {
        return Err(Failure::rejected(
            "promotion.missing_metric",
            format!(
                "policy `{section}` (v{}) judges `{model}` on `{}`, which the built-in trainer does not produce ({})",
                domain.state.policy_version,
                g.metric,
                produced.join(", ")
            ),
        )
        .hint(format!("an admin changes them with `pledge policy set` (`{section}`, or `models.{model}.gates` for this model alone)")));
    }
    Ok(())
}

/// Saves a candidate's artifacts into the ledger's artifact directory; returns the files this
/// call created, so a caller whose command is refused can remove them.
pub fn save_candidate(ledger: &Path, candidate: &trainer::Candidate) -> Result<Vec<PathBuf>, Failure> {
    let dir = artifact_dir(ledger);
    let mut created = Vec::new();
    for a in candidate.artifacts() {
        let (_, path, created_now) = a.save(&dir).map_err(failure)?;
        if created_now {
            created.push(path);
        }
    }
    Ok(created)
}

/// A request to train a candidate with the built-in trainer and record it.
pub struct TrainRequest<'a> {
    /// The ledger (its directory: artifacts are kept beside it).
    pub backend: &'a dyn Port,
    /// Who records the run.
    pub signer: &'a Signer,
    /// What the run records besides the trainer's output.
    pub meta: RunMeta<'a>,
    /// The data file (CSV or Parquet).
    pub data: &'a Path,
    /// The dataset spec file.
    pub spec: &'a Path,
    /// Training parameters.
    pub params: TrainParams,
    /// Where progress goes.
    pub progress: &'a Progress,
    /// The run's command id (a scheduled job's; else a new one).
    pub command_id: Option<uuid::Uuid>,
}

/// What a training produced and recorded.
#[derive(Debug)]
pub struct TrainReport {
    /// The run id.
    pub run_id: String,
    /// blake3 of the data.
    pub dataset_digest: String,
    /// The trainer's output.
    pub out: trainer::TrainOutput,
    /// The serving versions' figures on the candidate's rows.
    pub baselines: BTreeMap<Option<String>, Baseline>,
    /// The events the run appended.
    pub events: Vec<RecordedEvent>,
}

/// Trains a candidate and records it as one signed `run.record`. What the ledger would refuse
/// (an unknown hypothesis, a model of another task, gates needing a metric the trainer does
/// not produce) is refused before training; a run the ledger refuses leaves no artifact.
pub fn train_candidate(req: TrainRequest<'_>) -> Result<TrainReport, Failure> {
    let dir = req.backend.dir()?;
    let (spec, spec_digest) = read_spec(req.spec)?;
    req.params.model_for(spec.task).map_err(failure)?;
    let domain = {
        let (trust, domain) = req.backend.snapshot()?;
        req.signer.may_issue(&trust, "run.record")?;
        domain
    };
    check_trainable(&domain, req.meta.model, req.meta.hypothesis_id, &spec)?;
    let mut meta = req.meta;
    meta.task = ledger_task(&domain, meta.model, &spec);
    let req = TrainRequest { meta, ..req };
    let started = run_time();
    let (table, dataset_digest) = trainer::load(req.data, &spec).map_err(failure)?;
    let out = trainer::train(&spec, &req.params, &table, &dataset_digest, req.progress).map_err(failure)?;
    let baselines = baselines(dir, &domain.state, req.meta.model, req.data, &table, &out);
    let (run_id, mut body) =
        run_body(&req.meta, &spec, &spec_digest, &req.params, &out, &table.periods, &baselines)?;
    (body.started_at, body.finished_at) = (started, run_time());
    let created = save_candidate(dir, &out.candidate)?;
    let command = DomainCommand::RunRecord(body);
    let submitted = req
        .backend
        .append(req.signer, vec![(req.command_id, command.kind().as_str().into(), command.body())]);
    let events = match submitted {
        Ok(e) => e,
        Err(f) => {
            for p in created {
                let _ = std::fs::remove_file(p);
            }
            return Err(f);
        }
    };
    Ok(TrainReport { run_id, dataset_digest, out, baselines, events })
}

/// The time a training started or finished, as `run.record` keeps it (RFC 3339, seconds,
/// UTC); `None` under `PLEDGE_FIXED_TIME`, whose runs must give the same bytes every time.
fn run_time() -> Option<String> {
    match std::env::var_os(super::clock::FIXED_TIME_ENV) {
        Some(_) => None,
        None => Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    }
}

/// Which version serves `segment` of `model`, and its artifact digest.
pub fn served(
    state: &projections::state::State,
    model: &str,
    segment: Option<&str>,
    version: &str,
) -> Result<(u64, String), Failure> {
    let m = state
        .model(model)
        .ok_or_else(|| Failure::new(INVALID_INPUT, format!("the ledger has no model `{model}`")))?;
    let v = if version == "champion" {
        m.route(segment).ok_or_else(|| {
            Failure::new(
                REJECTED,
                format!(
                    "`{model}` has no champion{}",
                    segment.map(|s| format!(" for segment `{s}`")).unwrap_or_default()
                ),
            )
            .hint("bootstrap one with `pledge bootstrap-champion`")
        })?
    } else {
        version.strip_prefix('v').and_then(|n| n.parse::<u64>().ok()).ok_or_else(|| {
            Failure::new(INVALID_INPUT, format!("`--version {version}`: give `champion` or `vN`"))
        })?
    };
    let info = m
        .versions
        .get(&v)
        .ok_or_else(|| Failure::new(INVALID_INPUT, format!("model `{model}` has no version v{v}")))?;
    Ok((v, info.artifact_digest.clone()))
}

/// Loads the artifact `digest` of version `version` from the ledger's artifacts.
pub fn load_artifact(ledger: &Path, digest: &str, version: u64) -> Result<Artifact, Failure> {
    Artifact::load(&artifact_dir(ledger), digest).map_err(|e| match e {
        TrainError::Artifact(m) if m.contains("cannot read") || m.contains("not a blake3") => Failure::new(
            INVALID_INPUT,
            format!("v{version} has no artifact the built-in trainer can load ({m})"),
        )
        .hint("only versions trained with `pledge train-candidate --data` can score here"),
        e => failure(e),
    })
}

/// A request to check drift between a baseline and a recent labelled file.
pub struct DriftRequest<'a> {
    /// The ledger (its directory: the serving artifact is read there).
    pub backend: &'a dyn Port,
    /// Who records the signal.
    pub signer: &'a Signer,
    /// The model.
    pub model: &'a str,
    /// The segment whose serving version is checked.
    pub segment: Option<&'a str>,
    /// What is compared.
    pub source: DriftSource<'a>,
    /// The metric compared (default: the model's drift metric when the trainer computes it,
    /// else log-loss or MAE).
    pub metric: Option<&'a str>,
    /// The signal's command id (a scheduled job's; else a new one).
    pub command_id: Option<uuid::Uuid>,
}

/// The rows a drift check compares.
#[derive(Clone, Copy, Debug)]
pub enum DriftSource<'a> {
    /// Two labelled files.
    Files {
        /// The baseline file.
        baseline: &'a Path,
        /// The recent file.
        recent: &'a Path,
    },
    /// One labelled file split on its time axis: the last `recent` periods against the
    /// `baseline` periods before them (the seeds' 7-day figure against its 30-day baseline).
    Windows {
        /// The file.
        data: &'a Path,
        /// Recent periods.
        recent: usize,
        /// Baseline periods, just before the recent ones.
        baseline: usize,
    },
}

/// The baseline and recent tables of a drift source, read with `spec`.
pub(crate) fn drift_tables(
    source: DriftSource<'_>,
    spec: &DatasetSpec,
) -> Result<(trainer::Table, trainer::Table, String), Failure> {
    match source {
        DriftSource::Files { baseline, recent } => {
            let (b, _) = trainer::load(baseline, spec)
                .map_err(|e| failure(e).hint(format!("in the baseline file `{}`", baseline.display())))?;
            let (r, _) = trainer::load(recent, spec)
                .map_err(|e| failure(e).hint(format!("in the recent file `{}`", recent.display())))?;
            Ok((b, r, "two files".into()))
        }
        DriftSource::Windows { data, recent, baseline } => {
            if recent == 0 || baseline == 0 {
                return Err(Failure::new(
                    INVALID_INPUT,
                    "`--recent-periods` and `--baseline-periods` must be at least 1",
                ));
            }
            let (t, _) = trainer::load(data, spec).map_err(failure)?;
            let Some(period) = t.period.clone() else {
                return Err(Failure::new(
                    INVALID_INPUT,
                    "windows of one file need a time axis in the model's spec; give `--baseline` and `--recent` files",
                ));
            };
            let present: std::collections::BTreeSet<usize> = period.iter().copied().collect();
            let present: Vec<usize> = present.into_iter().collect();
            if present.len() < recent + baseline {
                return Err(Failure::new(
                    INVALID_INPUT,
                    format!(
                        "the file holds {} periods; {recent} recent and {baseline} baseline periods need {}",
                        present.len(),
                        recent + baseline
                    ),
                ));
            }
            let r_from = present[present.len() - recent];
            let b_from = present[present.len() - recent - baseline];
            let label = |i: usize| t.periods.get(i).cloned().unwrap_or_default();
            let rows = |lo: usize, hi: usize| -> Vec<usize> {
                (0..t.len()).filter(|&i| period[i] >= lo && period[i] < hi).collect()
            };
            let b = t.select(&rows(b_from, r_from));
            let r = t.select(&rows(r_from, usize::MAX));
            let last = present[present.len() - 1];
            let what = format!(
                "periods {}..{} against {}..{}",
                label(r_from),
                label(last),
                label(b_from),
                label(present[present.len() - recent - 1])
            );
            Ok((b, r, what))
        }
    }
}

/// A drift check and the signal it recorded.
#[derive(Debug, Serialize)]
pub struct DriftReport {
    /// The version checked.
    pub version: u64,
    /// The metric compared.
    pub metric: String,
    /// Its baseline value.
    pub baseline: f64,
    /// Its recent value.
    pub recent: f64,
    /// What was compared (`two files`, `periods 359..365 against 329..358`).
    pub compared: String,
    /// The trainer's report (PSI per feature, metrics, rows).
    pub report: trainer::drift::DriftReport,
    /// The recorded events.
    #[serde(skip)]
    pub events: Vec<RecordedEvent>,
}

/// The trainer's metrics that have a direction, which drift can compare, by the spec's task
/// (the first is the default when the policy names none the trainer computes).
fn drift_metrics(task: SpecTask) -> &'static [&'static str] {
    match task {
        SpecTask::Classification => &["log_loss", "brier", "ece", "roc_auc", "pr_auc", "accuracy"],
        SpecTask::Regression => {
            &["mae", "rmse", "mape", "wape", "coverage", "stockout_miss_rate", "overstock_rate"]
        }
    }
}

/// Checks drift with the serving version's artifact and records the signal.
pub fn drift_check(req: DriftRequest<'_>) -> Result<DriftReport, Failure> {
    let dir = req.backend.dir()?;
    let (version, digest, policy_metric) = {
        let (_, domain) = req.backend.snapshot()?;
        let state = &domain.state;
        let (v, d) = served(state, req.model, req.segment, "champion")?;
        let metric = match (&domain.policy, state.model(req.model).and_then(|m| m.task)) {
            (Some(p), Some(task)) => Some(p.for_model(req.model, task).drift_metric().to_string()),
            _ => None,
        };
        (v, d, metric)
    };
    let art = load_artifact(dir, &digest, version)?;
    let (baseline, recent, compared) = drift_tables(req.source, &art.spec)?;
    let score = |t: &trainer::Table| art.score(t);
    let report =
        trainer::drift::check(&art.spec, &baseline, &recent, Some(&score), art.params.stock_tolerance)
            .map_err(failure)?;
    let known = drift_metrics(art.spec.task);
    let metric = match req.metric {
        Some(m) if known.contains(&m) => m.to_string(),
        Some(m) => {
            return Err(Failure::new(
                INVALID_INPUT,
                format!("`--metric {m}`: drift of this model compares one of {}", known.join(", ")),
            ))
        }
        None => policy_metric.filter(|m| known.contains(&m.as_str())).unwrap_or_else(|| known[0].into()),
    };
    let (Some(mb), Some(mr)) = (&report.baseline, &report.recent) else {
        return Err(Failure::new(INVALID_INPUT, "both files need rows to compare"));
    };
    let value = |m: &trainer::Metrics, which: &str| {
        m.to_map().get(&metric).copied().ok_or_else(|| {
            Failure::new(INVALID_INPUT, format!("the {which} file has no `{metric}` (one class only?)"))
        })
    };
    let (b, r) = (value(mb, "baseline")?, value(mr, "recent")?);
    if b <= 0.0 {
        return Err(Failure::new(
            INVALID_INPUT,
            format!(
                "the baseline's {metric} is {b}; drift is a relative change and needs a positive baseline"
            ),
        ));
    }
    let body = DriftBody {
        model: req.model.to_string(),
        segment: req.segment.map(str::to_string),
        metric: Some(metric.clone()),
        baseline: b,
        recent: r,
        psi: report.psi(),
    };
    let command = DomainCommand::DriftRecord(body);
    let events = req
        .backend
        .append(req.signer, vec![(req.command_id, command.kind().as_str().into(), command.body())])?;
    Ok(DriftReport { version, metric, baseline: b, recent: r, compared, report, events })
}

/// A request to score a file.
pub struct PredictRequest<'a> {
    /// The ledger (local).
    pub backend: &'a Backend,
    /// The model.
    pub model: &'a str,
    /// Score every row as this segment (default: each row's own).
    pub segment: Option<&'a str>,
    /// `champion` or `vN`.
    pub version: &'a str,
    /// The file (CSV or Parquet, labels not needed).
    pub file: &'a Path,
}

/// One scored row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Prediction {
    /// The row (1 is the first data row).
    pub row: usize,
    /// The version that scored it.
    pub version: u64,
    /// A classifier's probability of the positive class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// A regression model's prediction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prediction: Option<f64>,
    /// A regression model's prediction interval `[lower, upper]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<(f64, f64)>,
}

/// Scores a file.
#[derive(Debug, Serialize)]
pub struct Predictions {
    /// Rows read.
    pub rows_read: usize,
    /// Rows dropped by the missing-value policy.
    pub rows_dropped: usize,
    /// Scored rows, in file order.
    pub predictions: Vec<Prediction>,
}

/// Scores a file the way the ledger routes (or with one version).
pub fn predict(req: PredictRequest<'_>) -> Result<Predictions, Failure> {
    let dir = req.backend.dir()?;
    // Which version scores which segment, read once; the ledger is closed before scoring.
    let (default, routes) = {
        let l = req.backend.open()?;
        let state = &l.domain().state;
        let default = served(state, req.model, req.segment, req.version)?;
        let mut routes = BTreeMap::new();
        if req.version == "champion" && req.segment.is_none() {
            if let Some(m) = state.model(req.model) {
                for seg in m.champions.keys().filter(|k| !k.is_empty()) {
                    routes.insert(seg.clone(), served(state, req.model, Some(seg), "champion")?);
                }
            }
        }
        (default, routes)
    };
    let mut cache: BTreeMap<String, Artifact> = BTreeMap::new();
    for (v, d) in std::iter::once(&default).chain(routes.values()) {
        if !cache.contains_key(d) {
            cache.insert(d.clone(), load_artifact(dir, d, *v)?);
        }
    }
    let base = &cache[&default.1];
    let (table, _) = trainer::data::load_unlabelled(req.file, &base.spec).map_err(failure)?;
    // Row -> (version, digest): routed by segment when the file has the segment column.
    let mut assign: Vec<&(u64, String)> = vec![&default; table.len()];
    if let Some(seg) = &table.segment {
        for (i, s) in seg.iter().enumerate() {
            if let Some(r) = routes.get(s) {
                assign[i] = r;
            }
        }
    }
    let mut out: Vec<Prediction> = Vec::with_capacity(table.len());
    for (digest, art) in &cache {
        let rows: Vec<usize> = (0..table.len()).filter(|&i| &assign[i].1 == digest).collect();
        if rows.is_empty() {
            continue;
        }
        // Each artifact validates the file against its own spec.
        let (own, _) = trainer::data::load_unlabelled(req.file, &art.spec).map_err(failure)?;
        let index: BTreeMap<usize, usize> =
            own.row_numbers.iter().enumerate().map(|(i, r)| (*r, i)).collect();
        // (row in `own`, version) for each routed row the artifact's own spec kept.
        let (pick, versions): (Vec<usize>, Vec<u64>) =
            rows.iter().filter_map(|&i| index.get(&table.row_numbers[i]).map(|&j| (j, assign[i].0))).unzip();
        let p = art.score(&own.select(&pick)).map_err(failure)?;
        let classifier = art.spec.task == SpecTask::Classification;
        for (k, (&i, version)) in pick.iter().zip(versions).enumerate() {
            let v = p.value[k];
            out.push(Prediction {
                row: own.row_numbers[i],
                version,
                probability: classifier.then_some(v),
                prediction: (!classifier).then_some(v),
                interval: p.interval.as_ref().map(|iv| iv[k]),
            });
        }
    }
    out.sort_by_key(|r| r.row);
    Ok(Predictions {
        rows_read: table.report.rows_read,
        rows_dropped: table.report.dropped,
        predictions: out,
    })
}

/// One fitted coefficient.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Coefficient {
    /// The design-matrix column (`temp`, `hr=17`, `hr=<unseen>`, `bikers_lag_7`).
    pub feature: String,
    /// Its coefficient, on the standardised column (per standard deviation for a numeric one).
    pub coefficient: f64,
}

/// What a version's artifact fitted.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Coefficients {
    /// The version.
    pub version: u64,
    /// The artifact's digest.
    pub artifact_digest: String,
    /// The model family (`logistic`, `ridge`, `poisson`).
    pub family: String,
    /// Whether the fit converged.
    pub converged: Option<bool>,
    /// The intercept (on the link scale: log-odds, the target, or its logarithm).
    pub intercept: f64,
    /// The coefficients, in design-matrix order.
    pub coefficients: Vec<Coefficient>,
    /// Regression: the prediction interval (residual quantiles).
    pub interval: Option<trainer::artifact::Interval>,
}

/// The fitted coefficients of the version serving `segment` (`version` = `champion`) or of `vN`.
pub fn coefficients(
    backend: &Backend,
    model: &str,
    segment: Option<&str>,
    version: &str,
) -> Result<Coefficients, Failure> {
    let dir = backend.dir()?;
    let (v, digest) = {
        let l = backend.open()?;
        served(&l.domain().state, model, segment, version)?
    };
    let art = load_artifact(dir, &digest, v)?;
    let (intercept, coefs) = art.model.coefficients();
    let names = art.pipeline.names();
    let family = match &art.model {
        trainer::model::Fitted::Logistic(_) => ModelKind::Logistic,
        trainer::model::Fitted::Ridge(_) => ModelKind::Ridge,
        trainer::model::Fitted::Poisson(_) => ModelKind::Poisson,
    };
    Ok(Coefficients {
        version: v,
        artifact_digest: digest,
        family: family.as_str().to_string(),
        converged: art.model.converged(),
        intercept,
        coefficients: names
            .into_iter()
            .zip(coefs)
            .map(|(feature, &coefficient)| Coefficient { feature, coefficient })
            .collect(),
        interval: art.interval,
    })
}
