//! `pledge record`: evidence made elsewhere (a training run, a drift check, a shadow window, a
//! backtest window), each one signed command.

use std::path::PathBuf;

use clap::Subcommand;
use projections::events::{Task, Trigger};
use serde_json::json;

use super::common::Common;
use super::input::{file_digest, metrics_file, read_json, snake};
use crate::app::failure::Failure;
use crate::domain::command::{BacktestBody, DriftBody, RunBody, RunModel, ShadowBody};
use crate::domain::DomainCommand;

/// Record evidence: an external training run, a drift check, a shadow window, a backtest window.
///
/// Examples:
///   pledge record run demand --run-id r-0216 --trigger scheduled --metrics m.json \
///       --artifact model.bin --dataset train.csv --trainer lightgbm-4.3 --task forecast --as scheduler
///   pledge record drift demand --baseline 12.8 --recent 18.5 --as scheduler
///   pledge record backtest demand 2 --from 2026-02-01 --to 2026-02-08 --metrics w.json --rows 5000 --as scheduler
///   pledge record shadow demand --champion 4 --challenger 5 --from 2026-03-01 --to 2026-03-08 \
///       --champion-metrics c.json --challenger-metrics x.json --samples 23911 --hypothesis-id H-SEG-001 --as scheduler
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct RecordArgs {
    #[command(subcommand)]
    command: RecordCommand,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Subcommand)]
enum RecordCommand {
    /// A training run made elsewhere: its metrics, its artifact (hashed) and its dataset (hashed).
    ///
    /// Example:
    ///   pledge record run demand --run-id r-0216 --trigger scheduled --metrics m.json \
    ///       --artifact model.bin --dataset train.csv --trainer lightgbm-4.3 --as scheduler
    #[command(verbatim_doc_comment)]
    Run {
        /// The model.
        model: String,
        /// A unique run id.
        #[arg(long)]
        run_id: String,
        /// scheduled, manual, drift_detected, experiment or new_data.
        #[arg(long, value_parser = snake::<Trigger>)]
        trigger: Trigger,
        /// Metrics JSON file (metric -> number).
        #[arg(long, value_name = "FILE")]
        metrics: PathBuf,
        /// The model artifact file (its blake3 is recorded).
        #[arg(long, value_name = "FILE")]
        artifact: PathBuf,
        /// The training data file (its blake3 is recorded).
        #[arg(long, value_name = "FILE")]
        dataset: PathBuf,
        /// Trainer name and version.
        #[arg(long)]
        trainer: String,
        /// Segment the model serves (default: the whole model).
        #[arg(long)]
        segment: Option<String>,
        /// Hypothesis (experiment runs; other runs may cite the hypothesis they test).
        #[arg(long)]
        hypothesis_id: Option<String>,
        /// Drift alert (drift retrains).
        #[arg(long)]
        drift_alert_id: Option<String>,
        /// Hyper-parameters JSON file.
        #[arg(long, value_name = "FILE")]
        params: Option<PathBuf>,
        /// Code version (commit).
        #[arg(long)]
        code_version: Option<String>,
        /// The model's task (classification, regression, forecast): its first run registers it.
        #[arg(long, value_parser = snake::<Task>)]
        task: Option<Task>,
    },
    /// A drift check: recent vs baseline metric (and optional per-feature PSI JSON file).
    ///
    /// Example:
    ///   pledge record drift demand --baseline 12.8 --recent 18.5 --psi psi.json --as scheduler
    #[command(verbatim_doc_comment)]
    Drift {
        /// The model.
        model: String,
        /// Baseline value (e.g. 30-day MAE).
        #[arg(long)]
        baseline: f64,
        /// Recent value (e.g. 7-day MAE).
        #[arg(long)]
        recent: f64,
        /// The metric compared (default: the model's drift metric).
        #[arg(long)]
        metric: Option<String>,
        /// Segment.
        #[arg(long)]
        segment: Option<String>,
        /// PSI per feature, JSON file (feature -> number).
        #[arg(long, value_name = "FILE")]
        psi: Option<PathBuf>,
    },
    /// One shadow window: champion and challenger on the same actuals.
    ///
    /// Example:
    ///   pledge record shadow demand --champion 4 --challenger 5 --from 2026-03-01 --to 2026-03-08 \
    ///       --champion-metrics c.json --challenger-metrics x.json --samples 23911 --as scheduler
    #[command(verbatim_doc_comment)]
    Shadow {
        /// The model.
        model: String,
        /// Champion version.
        #[arg(long)]
        champion: u64,
        /// Challenger version.
        #[arg(long)]
        challenger: u64,
        /// Window start: a timestamp, a date, an ISO period, or a period the run declared.
        #[arg(long)]
        from: String,
        /// Window end.
        #[arg(long)]
        to: String,
        /// Champion's metrics, JSON file.
        #[arg(long, value_name = "FILE")]
        champion_metrics: PathBuf,
        /// Challenger's metrics, JSON file.
        #[arg(long, value_name = "FILE")]
        challenger_metrics: PathBuf,
        /// Compared samples.
        #[arg(long)]
        samples: u64,
        /// Segment.
        #[arg(long)]
        segment: Option<String>,
        /// The experiment it belongs to.
        #[arg(long)]
        hypothesis_id: Option<String>,
    },
    /// One backtest window of a version.
    ///
    /// Example:
    ///   pledge record backtest demand 2 --from 2026-02-01 --to 2026-02-08 --metrics w.json --rows 5000 --as scheduler
    #[command(verbatim_doc_comment)]
    Backtest {
        /// The model.
        model: String,
        /// The version.
        version: u64,
        /// Window start: a timestamp, a date, an ISO period, or a period the run declared.
        #[arg(long)]
        from: String,
        /// Window end.
        #[arg(long)]
        to: String,
        /// Metrics JSON file.
        #[arg(long, value_name = "FILE")]
        metrics: PathBuf,
        /// Rows in the window.
        #[arg(long)]
        rows: u64,
    },
}

/// Runs `pledge record`.
pub fn run(a: RecordArgs) -> Result<(), Failure> {
    let command = match a.command {
        RecordCommand::Run {
            model,
            run_id,
            trigger,
            metrics,
            artifact,
            dataset,
            trainer,
            segment,
            hypothesis_id,
            drift_alert_id,
            params,
            code_version,
            task,
        } => {
            let m = metrics_file(&metrics)?;
            DomainCommand::RunRecord(RunBody {
                run_id,
                model,
                task,
                trigger,
                hypothesis_id,
                drift_alert_id,
                dataset_digest: file_digest(&dataset, "dataset")?,
                dataset_version: None,
                feature_set: None,
                config_digest: None,
                code_version,
                trainer,
                params: match params {
                    Some(p) => read_json(&p, "params file")?,
                    None => json!({}),
                },
                metrics: m.clone(),
                started_at: None,
                finished_at: None,
                periods: vec![],
                models: vec![RunModel {
                    segment,
                    artifact_digest: file_digest(&artifact, "artifact")?,
                    metrics: m,
                    baseline: None,
                }],
                backtests: vec![],
            })
        }
        RecordCommand::Drift { model, baseline, recent, metric, segment, psi } => {
            DomainCommand::DriftRecord(DriftBody {
                model,
                segment,
                metric,
                baseline,
                recent,
                psi: match psi {
                    Some(p) => std::collections::BTreeMap::from(&metrics_file(&p)?),
                    None => Default::default(),
                },
            })
        }
        RecordCommand::Shadow {
            model,
            champion,
            challenger,
            from,
            to,
            champion_metrics,
            challenger_metrics,
            samples,
            segment,
            hypothesis_id,
        } => DomainCommand::ShadowRecord(ShadowBody {
            model,
            segment,
            hypothesis_id,
            champion,
            challenger,
            window_start: from,
            window_end: to,
            champion_metrics: metrics_file(&champion_metrics)?,
            challenger_metrics: metrics_file(&challenger_metrics)?,
            samples,
        }),
        RecordCommand::Backtest { model, version, from, to, metrics, rows } => {
            DomainCommand::BacktestRecord(BacktestBody {
                model,
                version,
                window_start: from,
                window_end: to,
                metrics: metrics_file(&metrics)?,
                rows,
            })
        }
    };
    a.common.act(command)
}
