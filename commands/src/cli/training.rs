//! The built-in trainer from the command line: `train-candidate` (also for runs made
//! elsewhere), `drift check`, `predict`. The work is `app::training`'s; this prints it.

use std::path::PathBuf;

use projections::events::{ChangeType, Metrics, Task, Trigger};
use serde_json::json;
use trainer::progress::Progress;

use super::common::Common;
use super::input::{file_digest, metrics_file, snake};
use super::output::{outln, print_json};
use crate::app::failure::{Failure, INVALID_INPUT};
use crate::app::query::EventDoc;
use crate::app::training::{self, DriftRequest, DriftSource, PredictRequest, RunMeta, TrainRequest};
use crate::domain::command::{RunBody, RunModel};
use crate::domain::DomainCommand;

/// Train a candidate and register it, with the hypothesis metadata seed 000's
/// `ds_workflow.sh train-candidate` asks for (the hypothesis must have been proposed).
///
/// With `--data FILE --spec SPEC` the built-in trainer validates the file against the spec,
/// splits it (by time when the spec has a time axis, else seeded), computes the spec's
/// time-series and calendar features, fits the feature pipeline and a model on the training
/// rows only (logistic for a class target; ridge, or a Poisson GLM with `--family poisson`,
/// for a numeric one; one per segment with `--strategy segmented_router`), evaluates on the
/// held-out rows, scores the serving champion (with its own spec) on the same rows (each
/// segment's own), backtests walk-forward over the time axis, stores each model as
/// a content-addressed artifact under `<ledger>/artifacts/`, and records the run, its model
/// version(s) and backtest windows as one signed command. Each candidate is judged against
/// the version serving its segment by the policy's gates in the same append. A run the ledger
/// would refuse (an unknown hypothesis, a model of another task, gates needing a metric the
/// trainer does not produce, a key that is not enrolled or whose roles may not record runs)
/// is refused before any training.
///
/// With `--metrics --artifact --dataset` it records a run made elsewhere instead (its metrics
/// file, and the blake3 of its artifact and dataset files).
///
/// Examples:
///   pledge train-candidate taxi-tip --hypothesis-id H-201 --change-type architecture \
///       --change-summary "One model per company" --owner maya --feature-set-version v1 \
///       --dataset-version 2026-04 --strategy segmented_router --router-mode segment_only \
///       --min-segment-rows 1000 --data taxi.csv --spec taxi.spec.json --as maya
///   pledge train-candidate bikes --hypothesis-id H-301 --change-type feature \
///       --change-summary "Lags of demand at the same hour" --owner maya \
///       --feature-set-version v2 --dataset-version 2011 --family poisson \
///       --data bikeshare.csv --spec bikeshare-lags.spec.json --as maya
///   pledge train-candidate demand --hypothesis-id H-101 --change-type feature \
///       --change-summary "Added segmented sqft interactions by property type" --owner colby \
///       --feature-set-version v2.0 --dataset-version 20260211 \
///       --metrics metrics.json --artifact model.bin --dataset train.csv --task forecast --as maya
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct TrainCandidateArgs {
    /// The model.
    model: String,
    /// The hypothesis this candidate tests.
    #[arg(long)]
    hypothesis_id: String,
    /// feature, objective, data, tuning or architecture.
    #[arg(long, value_parser = snake::<ChangeType>)]
    change_type: ChangeType,
    /// What changed.
    #[arg(long)]
    change_summary: String,
    /// Who owns the change.
    #[arg(long)]
    owner: String,
    /// Feature-set version.
    #[arg(long)]
    feature_set_version: String,
    /// Dataset version.
    #[arg(long)]
    dataset_version: String,
    /// Training strategy: `global` or `segmented_router` (default: the `--params` file's, else global).
    #[arg(long)]
    strategy: Option<String>,
    /// Model family: `logistic` (class target), `ridge` or `poisson` (numeric target);
    /// default: the `--params` file's, else logistic or ridge by the spec's task.
    #[arg(long)]
    family: Option<String>,
    /// Class weights for an imbalanced class target: `balanced` (n / (2 n_class) each, as
    /// scikit-learn) or `positive=W,negative=W` (default: the `--params` file's, else none).
    #[arg(long, value_name = "WEIGHTS")]
    class_weight: Option<String>,
    /// Router mode for a segmented router (e.g. `segment_only`).
    #[arg(long)]
    router_mode: Option<String>,
    /// Minimum training rows for a segment to get its own model.
    #[arg(long)]
    min_segment_rows: Option<u64>,
    /// Why it ran: manual (default) or scheduled, new_data, experiment.
    #[arg(long, default_value = "manual", value_parser = snake::<Trigger>)]
    trigger: Trigger,
    /// Train with the built-in trainer on this CSV or Parquet file.
    #[arg(long, value_name = "FILE", requires = "spec", conflicts_with_all = ["metrics", "artifact", "dataset"])]
    data: Option<PathBuf>,
    /// The dataset spec (JSON) for `--data`: target, features, time axis, segment, missing-value policy.
    #[arg(long, value_name = "FILE", requires = "data")]
    spec: Option<PathBuf>,
    /// Training parameters (JSON) for `--data`: model, strategy, alpha, max_iterations, tolerance,
    /// class_weight, backtest, train_windows, interval, stock_tolerance (docs/TRAINER.md).
    #[arg(long, value_name = "FILE", requires = "data")]
    params: Option<PathBuf>,
    /// External run: its metrics JSON file.
    #[arg(long, value_name = "FILE", required_unless_present = "data", requires_all = ["artifact", "dataset"])]
    metrics: Option<PathBuf>,
    /// External run: the model artifact file (hashed).
    #[arg(long, value_name = "FILE")]
    artifact: Option<PathBuf>,
    /// External run: the training data file (hashed).
    #[arg(long, value_name = "FILE")]
    dataset: Option<PathBuf>,
    /// External run: trainer name and version.
    #[arg(long, default_value = "external")]
    trainer: String,
    /// External run: the model's task (classification, regression, forecast), when this run
    /// is its first. The built-in trainer takes it from the spec.
    #[arg(long, conflicts_with = "data", value_parser = snake::<Task>)]
    task: Option<Task>,
    #[command(flatten)]
    common: Common,
}

/// Runs `pledge train-candidate`.
pub fn train_candidate(a: TrainCandidateArgs) -> Result<(), Failure> {
    let extra = json!({
        "change_type": a.change_type, "change_summary": a.change_summary, "owner": a.owner,
        "strategy": a.strategy.as_deref().unwrap_or("global"), "router_mode": a.router_mode,
    });
    if let (Some(data), Some(spec)) = (&a.data, &a.spec) {
        return with_trainer(&a, data, spec, extra);
    }
    let (Some(metrics), Some(artifact), Some(dataset)) = (&a.metrics, &a.artifact, &a.dataset) else {
        return Err(Failure::new(
            INVALID_INPUT,
            "give `--data FILE --spec FILE` (built-in trainer) or `--metrics --artifact --dataset` (an external run)",
        ));
    };
    let m = metrics_file(metrics)?;
    let artifact_digest = file_digest(artifact, "artifact")?;
    let mut params = extra;
    params["min_segment_rows"] = json!(a.min_segment_rows);
    let body = RunBody {
        run_id: format!("{}-{}-{}", a.hypothesis_id, a.dataset_version, &artifact_digest[..8]),
        model: a.model.clone(),
        task: a.task,
        trigger: a.trigger,
        hypothesis_id: Some(a.hypothesis_id.clone()),
        drift_alert_id: None,
        dataset_digest: file_digest(dataset, "dataset")?,
        dataset_version: Some(a.dataset_version.clone()),
        feature_set: Some(a.feature_set_version.clone()),
        config_digest: None,
        code_version: None,
        trainer: a.trainer.clone(),
        params,
        metrics: m.clone(),
        started_at: None,
        finished_at: None,
        periods: vec![],
        models: vec![RunModel { segment: None, artifact_digest, metrics: m, baseline: None }],
        backtests: vec![],
    };
    a.common.act(DomainCommand::RunRecord(body))
}

fn with_trainer(
    a: &TrainCandidateArgs,
    data: &std::path::Path,
    spec: &std::path::Path,
    extra: serde_json::Value,
) -> Result<(), Failure> {
    let backend = a.common.backend()?;
    let signer = a.common.signer()?;
    let params = training::train_params(
        a.params.as_deref(),
        a.strategy.as_deref(),
        a.router_mode.as_deref(),
        a.min_segment_rows,
        a.family.as_deref(),
        a.class_weight.as_deref(),
    )?;
    let mut extra = extra;
    extra["strategy"] = json!(match params.strategy {
        trainer::spec::Strategy::Global => "global",
        trainer::spec::Strategy::SegmentedRouter => "segmented_router",
    });
    let progress = Progress::stderr();
    let report = training::train_candidate(TrainRequest {
        backend: &backend,
        signer: &signer,
        meta: RunMeta {
            model: &a.model,
            trigger: a.trigger,
            hypothesis_id: Some(&a.hypothesis_id),
            dataset_version: &a.dataset_version,
            feature_set: &a.feature_set_version,
            extra,
            task: Task::Classification,
        },
        data,
        spec,
        params,
        progress: &progress,
        command_id: None,
    })?;
    let out = &report.out;
    if a.common.json {
        let doc = json!({"ok": true, "training": {
            "run_id": report.run_id, "dataset_digest": report.dataset_digest, "split": out.split,
            "train_rows": out.train_rows, "test_rows": out.test_rows, "load": out.load,
            "metrics": out.metrics.to_map(),
            "models": out.candidate.artifacts().map(|art| json!({
                "segment": art.segment, "artifact_digest": art.digest(), "train_rows": art.train_rows,
                "metrics": out.model_metrics[&art.segment].to_map(),
                "baseline": report.baselines.get(&art.segment),
            })).collect::<Vec<_>>(),
            "segments_without_model": out.candidate.skipped,
            "backtest": out.backtest.iter().map(|w| json!({
                "window_start": w.window_start, "window_end": w.window_end, "train_start": w.train_start,
                "train_end": w.train_end, "train_rows": w.train_rows, "metrics": w.metrics.to_map(),
            })).collect::<Vec<_>>(),
            "events": report.events.iter().map(EventDoc::from).collect::<Vec<_>>(),
        }});
        return print_json(&doc);
    }
    let f = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.4}"));
    outln!(
        "trained {} on {} ({} rows read, {} dropped by `{}`{})",
        a.model,
        data.display(),
        out.load.rows_read,
        out.load.dropped,
        out.load.missing_policy,
        if out.load.rows_without_history > 0 {
            format!(", {} without enough history for the time-series features", out.load.rows_without_history)
        } else {
            String::new()
        }
    );
    outln!("  {} ({} train / {} test rows)", out.split, out.train_rows, out.test_rows);
    let shown: [&str; 3] = match out.metrics {
        trainer::Metrics::Classification(_) => ["roc_auc", "log_loss", "brier"],
        trainer::Metrics::Regression(_) => ["mae", "mape", "coverage"],
    };
    let row = |name: &str, rows: String, m: &Metrics| {
        outln!(
            "  {:<28} {:>8} {:>9} {:>9} {:>9}",
            name,
            rows,
            f(m.get(shown[0]).copied()),
            f(m.get(shown[1]).copied()),
            f(m.get(shown[2]).copied())
        );
    };
    outln!("  {:<28} {:>8} {:>9} {:>9} {:>9}", "model", "rows", shown[0], shown[1], shown[2]);
    row("candidate (routed)", out.metrics.rows().to_string(), &Metrics::from(out.metrics.to_map()));
    for art in out.candidate.artifacts() {
        let m = &out.model_metrics[&art.segment];
        let name = art.segment.as_deref().map_or("global".to_string(), |s| format!("segment {s}"));
        row(&name, m.rows().to_string(), &Metrics::from(m.to_map()));
        if let Some(b) = report.baselines.get(&art.segment) {
            row(&format!("  serving v{} on the same rows", b.version), String::new(), &b.metrics);
        }
        if art.model.converged() == Some(false) {
            outln!(
                "  warning: the {name} model did not converge within its iteration cap (recorded with the run; raise `max_iterations` in --params)"
            );
        }
    }
    for (seg, why) in &out.candidate.skipped {
        outln!("  segment {seg}: global model ({why})");
    }
    for w in &out.backtest {
        let m = w.metrics.to_map();
        outln!(
            "  backtest {}..{} -> {}..{}: {} {}, {} rows",
            w.train_start,
            w.train_end,
            w.window_start,
            w.window_end,
            shown[0],
            f(m.get(shown[0]).copied()),
            w.metrics.rows()
        );
    }
    for s in &out.backtest_skipped {
        outln!("  backtest {s}");
    }
    a.common.print_events(&report.events);
    Ok(())
}

/// Drift between baseline and recent labelled rows: two files, or one split on its time axis.
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

/// Compare recent labelled rows with a baseline and record the drift signal.
///
/// Either two files (`--baseline`, `--recent`), or one file split on the model's time axis:
/// the last `--recent-periods` periods against the `--baseline-periods` before them (the
/// seeds' daily check: the champion's recent 7-day MAE against its 30-day baseline).
///
/// Examples:
///   pledge drift check --model taxi-tip --baseline march.csv --recent april.csv --as ci-bot
///   pledge drift check --model bikes --data last-37-days.csv --recent-periods 7 \
///       --baseline-periods 30 --as scheduler
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
    #[arg(long, value_name = "FILE", requires = "recent", conflicts_with = "data")]
    baseline: Option<PathBuf>,
    /// The recent file (CSV or Parquet, with labels).
    #[arg(long, value_name = "FILE", requires = "baseline")]
    recent: Option<PathBuf>,
    /// One labelled file, split on the model's time axis.
    #[arg(long, value_name = "FILE", required_unless_present = "baseline", requires_all = ["recent_periods", "baseline_periods"])]
    data: Option<PathBuf>,
    /// With `--data`: the recent periods (the last ones of the file).
    #[arg(long, value_name = "N")]
    recent_periods: Option<usize>,
    /// With `--data`: the baseline periods, just before the recent ones.
    #[arg(long, value_name = "N")]
    baseline_periods: Option<usize>,
    /// The metric compared (classifier: log_loss, brier, ece, roc_auc, pr_auc, accuracy;
    /// regression: mae, rmse, mape, wape, coverage, stockout_miss_rate, overstock_rate);
    /// default: the model's drift metric when the trainer computes it, else log_loss or mae.
    #[arg(long)]
    metric: Option<String>,
    #[command(flatten)]
    common: Common,
}

/// Runs `pledge drift`.
pub fn drift(args: DriftArgs) -> Result<(), Failure> {
    let DriftCommand::Check(a) = args.command;
    let backend = a.common.backend()?;
    let signer = a.common.signer()?;
    let r = training::drift_check(DriftRequest {
        backend: &backend,
        signer: &signer,
        command_id: None,
        model: &a.model,
        segment: a.segment.as_deref(),
        source: match (&a.baseline, &a.recent, &a.data) {
            (Some(baseline), Some(recent), _) => DriftSource::Files { baseline, recent },
            (_, _, Some(data)) => DriftSource::Windows {
                data,
                recent: a.recent_periods.unwrap_or(0),
                baseline: a.baseline_periods.unwrap_or(0),
            },
            _ => {
                return Err(Failure::new(
                    INVALID_INPUT,
                    "give `--baseline FILE --recent FILE`, or `--data FILE --recent-periods N --baseline-periods M`",
                ))
            }
        },
        metric: a.metric.as_deref(),
    })?;
    if a.common.json {
        let events: Vec<EventDoc> = r.events.iter().map(EventDoc::from).collect();
        return print_json(
            &json!({"ok": true, "version": r.version, "metric": r.metric, "compared": r.compared,
                "report": r.report, "events": events}),
        );
    }
    let change = r.events.first().and_then(|e| e.event.payload["drift_pct"].as_f64());
    outln!(
        "drift of {} v{} ({}): {} {:.4} -> {:.4} ({} worse), {} vs {} rows",
        a.model,
        r.version,
        r.compared,
        r.metric,
        r.baseline,
        r.recent,
        change.map_or("-".into(), |c| format!("{c:+.1}%")),
        r.report.baseline_rows,
        r.report.recent_rows
    );
    outln!("  {:<24} {:>8}", "feature", "psi");
    for f in &r.report.features {
        outln!("  {:<24} {:>8.4}", f.column, f.psi);
    }
    a.common.print_events(&r.events);
    Ok(())
}

/// Score a file with a model version's artifact.
///
/// `--version champion` (the default) routes each row the way the ledger routes: by the
/// row's segment (the spec's segment column) to that segment's champion, else to the model's
/// default champion; `--segment S` sends every row to S's champion. `--version vN` scores every
/// row with vN. The file needs the spec's feature columns; labels are not needed. Prints CSV
/// (`row,version,probability` for a classifier, `row,version,prediction,lower,upper` for a
/// regression model; row 1 is the first data row) or, with `--json`, a document. A model with
/// time-series features needs the target column for the history; the rows to forecast leave
/// it empty.
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
    let backend = a.common.backend()?;
    let p = training::predict(PredictRequest {
        backend: &backend,
        model: &a.model,
        segment: a.segment.as_deref(),
        version: &a.version,
        file: &a.file,
    })?;
    if a.common.json {
        return print_json(&json!({"ok": true, "model": a.model, "rows_read": p.rows_read,
            "rows_dropped": p.rows_dropped, "predictions": p.predictions}));
    }
    if p.predictions.iter().any(|r| r.prediction.is_some()) {
        outln!("row,version,prediction,lower,upper");
        for r in &p.predictions {
            let (lo, hi) =
                r.interval.map_or((String::new(), String::new()), |(l, h)| (l.to_string(), h.to_string()));
            outln!("{},v{},{},{lo},{hi}", r.row, r.version, r.prediction.unwrap_or(f64::NAN));
        }
    } else {
        outln!("row,version,probability");
        for r in &p.predictions {
            outln!("{},v{},{}", r.row, r.version, r.probability.unwrap_or(f64::NAN));
        }
    }
    Ok(())
}
