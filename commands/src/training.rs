//! The built-in trainer, wired to the ledger: `train-candidate --data --spec`, `drift check`
//! and `predict`. Model artifacts live in `<ledger>/artifacts/<blake3 hex>.json`; the ledger
//! records their digests, so a version names exactly the bytes that score for it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use trainer::progress::Progress;
use trainer::spec::{RouterMode, Strategy, TrainParams};
use trainer::{Artifact, DatasetSpec, TrainError};

use projections::events::{Baseline, Task, Trigger};

use crate::domain::command::{RunBacktest, RunBody, RunModel};
use crate::domain::{DomainCommand, PledgeDomain};
use crate::exit::{Failure, INTEGRITY, INTERNAL, INVALID_INPUT, REJECTED};
use crate::session::{self, Common};
use crate::verbs::TrainCandidateArgs;

/// The trainer's name as recorded on runs.
pub fn trainer_name() -> String {
    format!("pledge-trainer {} (linfa-logistic 0.8, L-BFGS)", env!("CARGO_PKG_VERSION"))
}

/// Where a ledger keeps model artifacts.
pub fn artifact_dir(ledger: &Path) -> PathBuf {
    ledger.join("artifacts")
}

fn failure(e: TrainError) -> Failure {
    match &e {
        TrainError::Artifact(m) if m.contains("damaged") => Failure::new(INTEGRITY, e.to_string()),
        TrainError::Leakage { .. } => Failure::new(INVALID_INPUT, e.to_string())
            .hint("a model must not read the answer; see `target_derived` in docs/TRAINER.md"),
        _ if e.is_input() => Failure::new(INVALID_INPUT, e.to_string()),
        _ => Failure::new(INTERNAL, e.to_string()),
    }
}

fn read_spec(path: &Path) -> Result<(DatasetSpec, String), Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::new(INVALID_INPUT, format!("cannot read spec `{}`: {e}", path.display())))?;
    let spec = DatasetSpec::from_json(&text)
        .map_err(|e| Failure::new(INVALID_INPUT, format!("`{}`: {e}", path.display())))?;
    Ok((spec, ledger::Digest::of(text.as_bytes()).to_string()))
}

fn read_params(a: &TrainCandidateArgs) -> Result<TrainParams, Failure> {
    let mut p: TrainParams = match &a.params {
        None => TrainParams::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Failure::new(INVALID_INPUT, format!("cannot read parameters `{}`: {e}", path.display()))
            })?;
            serde_json::from_str(&text)
                .map_err(|e| Failure::new(INVALID_INPUT, format!("parameters `{}`: {e}", path.display())))?
        }
    };
    p.strategy = match a.strategy.as_str() {
        "global" => Strategy::Global,
        "segmented_router" => Strategy::SegmentedRouter,
        other => {
            return Err(Failure::new(
                INVALID_INPUT,
                format!(
                    "`--strategy {other}` is not a strategy the trainer knows (global, segmented_router)"
                ),
            ))
        }
    };
    p.router_mode = match a.router_mode.as_deref() {
        None | Some("segment_only") => RouterMode::SegmentOnly,
        Some(other) => {
            return Err(Failure::new(
                INVALID_INPUT,
                format!("`--router-mode {other}` is not a router mode the trainer knows (segment_only)"),
            ))
        }
    };
    if let Some(n) = a.min_segment_rows {
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
}

/// The serving version of each segment the candidate has a model for, scored on the same
/// test rows as that model: the evidence the gates judge it on (`docs/FORMAT.md`, section 10,
/// `run.record`). A segment whose serving version has no artifact here, or whose rows the
/// split does not hold, gets none.
pub fn baselines(
    ledger: &Path,
    state: &projections::State,
    model: &str,
    spec: &DatasetSpec,
    table: &trainer::Table,
    out: &trainer::TrainOutput,
) -> BTreeMap<Option<String>, Baseline> {
    let mut found = BTreeMap::new();
    let Some(m) = state.model(model) else { return found };
    for art in out.candidate.artifacts() {
        let Some(serving) = m.route(art.segment.as_deref()) else { continue };
        let Some(info) = m.versions.get(&serving) else { continue };
        let Ok(champion) = Artifact::load(&artifact_dir(ledger), &info.artifact_digest) else { continue };
        let score = |t: &trainer::Table| champion.score(t);
        if let Ok(Some(metrics)) =
            trainer::train::evaluate_on_test(spec, table, art.segment.as_deref(), &score)
        {
            found.insert(art.segment.clone(), Baseline { version: serving, metrics: metrics.to_map() });
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
            metrics: out.model_metrics[&art.segment].to_map(),
            baseline: baselines.get(&art.segment).cloned(),
        })
        .collect();
    let mut backtests = Vec::new();
    for w in &out.backtest {
        let row = |seg: Option<&str>, m: &trainer::Metrics| RunBacktest {
            segment: seg.map(str::to_string),
            window_start: w.window_start.clone(),
            window_end: w.window_end.clone(),
            metrics: m.to_map(),
            rows: m.rows,
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
    });
    if let (Some(r), Some(extra)) = (recorded.as_object_mut(), meta.extra.as_object()) {
        r.extend(extra.clone());
    }
    let body = RunBody {
        run_id: run_id.clone(),
        model: meta.model.to_string(),
        task: Some(Task::Classification),
        trigger: meta.trigger,
        hypothesis_id: meta.hypothesis_id.map(str::to_string),
        drift_alert_id: None,
        dataset_digest: out.candidate.global.dataset_digest.clone(),
        dataset_version: Some(meta.dataset_version.to_string()),
        feature_set: Some(meta.feature_set.to_string()),
        config_digest: Some(config_digest),
        code_version: None,
        trainer: trainer_name(),
        params: recorded,
        metrics: out.metrics.to_map(),
        started_at: None,
        finished_at: None,
        periods: if spec.time.is_some() { periods.to_vec() } else { vec![] },
        models,
        backtests,
    };
    Ok((run_id, body))
}

/// The metrics the built-in trainer records for every model.
pub const TRAINER_METRICS: [&str; 10] = [
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

/// Refuses, before any training, a model the built-in trainer cannot serve: one registered
/// for another task, or whose gates need a metric the trainer does not produce.
pub fn check_trainable(domain: &PledgeDomain, model: &str, hypothesis: Option<&str>) -> Result<(), Failure> {
    let policy = domain.policy().map_err(|e| Failure::new(REJECTED, e.to_string()))?;
    if let Some(h) = hypothesis {
        match domain.state.experiments.get(h) {
            None => {
                return Err(Failure::new(
                    REJECTED,
                    format!("no hypothesis `{h}` was proposed (rule `experiment.unknown`)"),
                )
                .hint(format!("propose it first: `pledge hypothesis propose {h} {model} ...`")))
            }
            Some(x) if x.model != model => {
                return Err(Failure::new(
                    REJECTED,
                    format!(
                        "hypothesis `{h}` is about `{}`, not `{model}` (rule `experiment.model`)",
                        x.model
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    let task = domain.state.model(model).and_then(|m| m.task).unwrap_or(Task::Classification);
    if task != Task::Classification {
        return Err(Failure::new(
            REJECTED,
            format!("`{model}` is a {} model; the built-in trainer trains classifiers", task.as_str()),
        )
        .hint("record a run made elsewhere with `--metrics --artifact --dataset`"));
    }
    let rules = policy.for_model(model, task);
    let (gates, section) = rules.gates();
    if let Some(g) = gates.iter().find(|g| !TRAINER_METRICS.contains(&g.metric.as_str())) {
        return Err(Failure::new(
            REJECTED,
            format!(
                "policy `{section}` (v{}) judges `{model}` on `{}`, which the built-in trainer does not produce ({})",
                domain.state.policy_version,
                g.metric,
                TRAINER_METRICS.join(", ")
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

/// `pledge train-candidate --data FILE --spec SPEC`.
pub fn train_candidate(
    a: &TrainCandidateArgs,
    change_type: projections::events::ChangeType,
) -> Result<(), Failure> {
    a.common.local_only()?;
    session::require_ledger(&a.common.ledger)?;
    let (Some(data), Some(spec_path)) = (&a.data, &a.spec) else {
        return Err(Failure::new(INVALID_INPUT, "`--data` needs `--spec`"));
    };
    let (spec, spec_digest) = read_spec(spec_path)?;
    let params = read_params(a)?;
    let trigger: Trigger = a.trigger.parse().map_err(|e: String| Failure::new(INVALID_INPUT, e))?;
    // What the ledger says, read before any training: the task and gates (a run the ledger
    // would refuse is refused now), and the serving versions to score on the same rows.
    let domain = a.common.open()?.domain().clone();
    check_trainable(&domain, &a.model, Some(&a.hypothesis_id))?;
    let (table, dataset_digest) = trainer::load(data, &spec).map_err(failure)?;
    let out =
        trainer::train(&spec, &params, &table, &dataset_digest, &Progress::stderr()).map_err(failure)?;
    let evidence = baselines(&a.common.ledger, &domain.state, &a.model, &spec, &table, &out);
    let meta = RunMeta {
        model: &a.model,
        trigger,
        hypothesis_id: Some(&a.hypothesis_id),
        dataset_version: &a.dataset_version,
        feature_set: &a.feature_set_version,
        extra: json!({
            "change_type": change_type, "change_summary": a.change_summary, "owner": a.owner,
            "strategy": a.strategy, "router_mode": a.router_mode,
        }),
    };
    let (run_id, body) = run_body(&meta, &spec, &spec_digest, &params, &out, &table.periods, &evidence)?;
    let created = save_candidate(&a.common.ledger, &out.candidate)?;
    let events = match session::submit_domain(&a.common, DomainCommand::RunRecord(body)) {
        Ok(e) => e,
        Err(f) => {
            for p in created {
                let _ = std::fs::remove_file(p);
            }
            return Err(f);
        }
    };
    if a.common.json {
        let report = json!({
            "run_id": run_id, "dataset_digest": dataset_digest, "split": out.split,
            "train_rows": out.train_rows, "test_rows": out.test_rows, "load": out.load,
            "metrics": out.metrics.to_map(),
            "models": out.candidate.artifacts().map(|art| json!({
                "segment": art.segment, "artifact_digest": art.digest(), "train_rows": art.train_rows,
                "metrics": out.model_metrics[&art.segment].to_map(),
            })).collect::<Vec<_>>(),
            "segments_without_model": out.candidate.skipped,
            "backtest": out.backtest.iter().map(|w| json!({
                "window_start": w.window_start, "window_end": w.window_end, "train_start": w.train_start,
                "train_end": w.train_end, "train_rows": w.train_rows, "metrics": w.metrics.to_map(),
            })).collect::<Vec<_>>(),
            "events": crate::views::events_json(&events),
        });
        println!("{}", json!({"ok": true, "training": report}));
        return Ok(());
    }
    let f = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.4}"));
    println!(
        "trained {} on {} ({} rows read, {} dropped by `{}`)",
        a.model,
        data.display(),
        out.load.rows_read,
        out.load.dropped,
        out.load.missing_policy
    );
    println!("  {} ({} train / {} test rows)", out.split, out.train_rows, out.test_rows);
    println!("  {:<28} {:>8} {:>8} {:>8} {:>8}", "model", "rows", "roc_auc", "log_loss", "brier");
    println!(
        "  {:<28} {:>8} {:>8} {:>8.4} {:>8.4}",
        "candidate (routed)",
        out.metrics.rows,
        f(out.metrics.roc_auc),
        out.metrics.log_loss,
        out.metrics.brier
    );
    for art in out.candidate.artifacts() {
        let m = &out.model_metrics[&art.segment];
        let name = art.segment.as_deref().map_or("global".to_string(), |s| format!("segment {s}"));
        println!("  {:<28} {:>8} {:>8} {:>8.4} {:>8.4}", name, m.rows, f(m.roc_auc), m.log_loss, m.brier);
    }
    for (seg, why) in &out.candidate.skipped {
        println!("  segment {seg}: global model ({why})");
    }
    for w in &out.backtest {
        println!(
            "  backtest {}..{} -> {}: roc_auc {}, {} rows",
            w.train_start,
            w.train_end,
            w.window_start,
            f(w.metrics.roc_auc),
            w.metrics.rows
        );
    }
    session::print_events(&a.common, &events);
    Ok(())
}

/// Which version serves `segment` of `model`, and its artifact digest.
fn served(
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

fn load_artifact(ledger: &Path, digest: &str, version: u64) -> Result<Artifact, Failure> {
    Artifact::load(&artifact_dir(ledger), digest).map_err(|e| match e {
        TrainError::Artifact(m) if m.contains("cannot read") || m.contains("not a blake3") => Failure::new(
            INVALID_INPUT,
            format!("v{version} has no artifact the built-in trainer can load ({m})"),
        )
        .hint("only versions trained with `pledge train-candidate --data` can score here"),
        e => failure(e),
    })
}

/// Drift between a baseline and a recent file.
///
/// Loads the artifact of the version that serves the model (or `--segment`), validates both
/// files against its dataset spec, computes the population stability index of every feature
/// (baseline deciles; see docs/TRAINER.md) and the model's metric on each file, and records a
/// signed drift signal. The ledger raises a critical alert when the metric degrades by more
/// than the policy allows or any PSI exceeds the policy's threshold.
///
/// Examples:
///   pledge drift check --model taxi-tip --baseline march.csv --recent april.csv --as ci-bot
///   pledge drift check --model taxi-tip --segment "Flash Cab" --baseline a.csv --recent b.csv --metric brier --json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct DriftArgs {
    #[command(subcommand)]
    command: DriftCommand,
}

#[derive(Debug, clap::Subcommand)]
enum DriftCommand {
    Check(DriftCheckArgs),
}

/// Compare a recent labelled file with a baseline and record the drift signal.
///
/// Examples:
///   pledge drift check --model taxi-tip --baseline march.csv --recent april.csv --as ci-bot
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
struct DriftCheckArgs {
    /// The model.
    #[arg(long)]
    model: String,
    /// The segment whose serving version is checked (default: the model's default route).
    #[arg(long)]
    segment: Option<String>,
    /// The baseline file (CSV or Parquet, with labels).
    #[arg(long, value_name = "FILE")]
    baseline: PathBuf,
    /// The recent file (CSV or Parquet, with labels).
    #[arg(long, value_name = "FILE")]
    recent: PathBuf,
    /// Lower-is-better metric compared (log_loss, brier, ece); default: the policy's drift
    /// metric for the model when the trainer computes it, else log_loss.
    #[arg(long)]
    metric: Option<String>,
    #[command(flatten)]
    common: Common,
}

/// Runs `pledge drift`.
pub fn drift(args: DriftArgs) -> Result<(), Failure> {
    let DriftCommand::Check(a) = args.command;
    let (version, digest, policy_metric) = {
        let l = a.common.open()?;
        let state = &l.domain().state;
        let (v, d) = served(state, &a.model, a.segment.as_deref(), "champion")?;
        let metric = match (&l.domain().policy, state.model(&a.model).and_then(|m| m.task)) {
            (Some(p), Some(task)) => Some(p.for_model(&a.model, task).drift_metric().to_string()),
            _ => None,
        };
        (v, d, metric)
    };
    let art = load_artifact(&a.common.ledger, &digest, version)?;
    let (baseline, _) = trainer::load(&a.baseline, &art.spec)
        .map_err(|e| failure(e).hint(format!("in the baseline file `{}`", a.baseline.display())))?;
    let (recent, _) = trainer::load(&a.recent, &art.spec)
        .map_err(|e| failure(e).hint(format!("in the recent file `{}`", a.recent.display())))?;
    let score = |t: &trainer::Table| art.score(t);
    let report = trainer::drift::check(&art.spec, &baseline, &recent, Some(&score)).map_err(failure)?;
    let lower = ["log_loss", "brier", "ece"];
    let metric = match a.metric.as_deref() {
        Some(m) if lower.contains(&m) => m.to_string(),
        Some(m) => {
            return Err(Failure::new(
                INVALID_INPUT,
                format!("`--metric {m}`: drift compares a lower-is-better metric (log_loss, brier, ece)"),
            ))
        }
        None => policy_metric.filter(|m| lower.contains(&m.as_str())).unwrap_or_else(|| "log_loss".into()),
    };
    let (Some(mb), Some(mr)) = (&report.baseline, &report.recent) else {
        return Err(Failure::new(INVALID_INPUT, "both files need rows to compare"));
    };
    let (b, r) = (mb.to_map()[&metric], mr.to_map()[&metric]);
    if b <= 0.0 {
        return Err(Failure::new(
            INVALID_INPUT,
            format!(
                "the baseline's {metric} is {b}; drift is a relative change and needs a positive baseline"
            ),
        ));
    }
    let body = json!({"model": a.model, "segment": a.segment, "metric": metric, "baseline": b, "recent": r, "psi": report.psi()});
    let events = session::submit(&a.common, "drift.record", body)?;
    if a.common.json {
        println!(
            "{}",
            json!({"ok": true, "version": version, "metric": metric, "report": report, "events": crate::views::events_json(&events)})
        );
        return Ok(());
    }
    println!(
        "drift of {} v{version}: {metric} {b:.4} -> {r:.4} ({:+.1}%), {} vs {} rows",
        a.model,
        (r - b) / b * 100.0,
        report.baseline_rows,
        report.recent_rows
    );
    println!("  {:<24} {:>8}", "feature", "psi");
    for f in &report.features {
        println!("  {:<24} {:>8.4}", f.column, f.psi);
    }
    session::print_events(&a.common, &events);
    Ok(())
}

/// Score a file with a model version's artifact.
///
/// `--version champion` (the default) routes each row the way the ledger routes: by the
/// row's segment (the spec's segment column) to that segment's champion, else to the model's
/// default champion; `--segment S` sends every row to S's champion. `--version vN` scores every
/// row with vN. The file needs the spec's feature columns; labels are not needed. Prints CSV
/// (`row,version,probability`; row 1 is the first data row) or, with `--json`, a document.
///
/// Examples:
///   pledge predict --model taxi-tip new_trips.csv
///   pledge predict --model taxi-tip --version v2 --segment "Flash Cab" new_trips.csv --json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct PredictArgs {
    /// The model.
    #[arg(long)]
    model: String,
    /// Score as this segment (default: each row's own segment).
    #[arg(long)]
    segment: Option<String>,
    /// `champion` or `vN`.
    #[arg(long, default_value = "champion")]
    version: String,
    /// The file to score (CSV or Parquet).
    file: PathBuf,
    #[command(flatten)]
    common: Common,
}

/// Runs `pledge predict`.
pub fn predict(a: PredictArgs) -> Result<(), Failure> {
    // Which version scores which segment, read once; the ledger is closed before scoring.
    let (default, routes) = {
        let l = a.common.open()?;
        let state = &l.domain().state;
        let default = served(state, &a.model, a.segment.as_deref(), &a.version)?;
        let mut routes = BTreeMap::new();
        if a.version == "champion" && a.segment.is_none() {
            if let Some(m) = state.model(&a.model) {
                for seg in m.champions.keys().filter(|k| !k.is_empty()) {
                    routes.insert(seg.clone(), served(state, &a.model, Some(seg), "champion")?);
                }
            }
        }
        (default, routes)
    };
    let mut cache: BTreeMap<String, Artifact> = BTreeMap::new();
    for (v, d) in std::iter::once(&default).chain(routes.values()) {
        if !cache.contains_key(d) {
            cache.insert(d.clone(), load_artifact(&a.common.ledger, d, *v)?);
        }
    }
    let base = &cache[&default.1];
    let (table, _) = trainer::data::load_unlabelled(&a.file, &base.spec).map_err(failure)?;
    // Row -> (version, digest): routed by segment when the file has the segment column.
    let mut assign: Vec<&(u64, String)> = vec![&default; table.len()];
    if let Some(seg) = &table.segment {
        for (i, s) in seg.iter().enumerate() {
            if let Some(r) = routes.get(s) {
                assign[i] = r;
            }
        }
    }
    let mut out: Vec<(usize, u64, f64)> = Vec::with_capacity(table.len());
    for (digest, art) in &cache {
        let rows: Vec<usize> = (0..table.len()).filter(|&i| &assign[i].1 == digest).collect();
        if rows.is_empty() {
            continue;
        }
        // Each artifact validates the file against its own spec.
        let (own, _) = trainer::data::load_unlabelled(&a.file, &art.spec).map_err(failure)?;
        let index: BTreeMap<usize, usize> =
            own.row_numbers.iter().enumerate().map(|(i, r)| (*r, i)).collect();
        // (row in `own`, version) for each routed row the artifact's own spec kept.
        let (pick, versions): (Vec<usize>, Vec<u64>) =
            rows.iter().filter_map(|&i| index.get(&table.row_numbers[i]).map(|&j| (j, assign[i].0))).unzip();
        let p = art.score(&own.select(&pick)).map_err(failure)?;
        for ((&i, v), p) in pick.iter().zip(versions).zip(p) {
            out.push((own.row_numbers[i], v, p));
        }
    }
    out.sort_by_key(|r| r.0);
    if a.common.json {
        let rows: Vec<Value> =
            out.iter().map(|(r, v, p)| json!({"row": r, "version": v, "probability": p})).collect();
        println!(
            "{}",
            json!({"ok": true, "model": a.model, "rows_read": table.report.rows_read, "rows_dropped": table.report.dropped, "predictions": rows})
        );
    } else {
        println!("row,version,probability");
        for (r, v, p) in &out {
            println!("{r},v{v},{p}");
        }
    }
    Ok(())
}
