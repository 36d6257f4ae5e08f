//! `pledge actuals` and `pledge shadow`: outcomes joined to served predictions, and shadow
//! windows measured from them.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use serde_json::{json, Value};

use super::common::Common;
use super::output::{outln, print_json};
use crate::app::failure::{Failure, INVALID_INPUT};
use crate::app::predlog::{log_dir, PredictionLog};
use crate::app::serving::{self, ActualIn, Serving};
use crate::app::shadow::{self, ShadowEvaluation};
use crate::domain::DomainCommand;

/// Record the observed outcomes of served predictions.
///
/// FILE is CSV (or Parquet) with an `actual` column and a `prediction_id` or `key` column (a
/// row uses its prediction id when it has one, else its key: the `key_column` value the
/// prediction was requested with), or JSON `{"actuals": [{"prediction_id" | "key", "actual"}]}`.
/// An outcome is a number for a regression model; for a classifier `true`/`false`, 1/0 or the
/// spec's label. Every outcome must name a logged prediction of the model, or nothing is
/// recorded. With `--server` the server records them (it holds the prediction log); without, the
/// ledger's directory must not be served at the time.
///
/// Examples:
///   pledge actuals record demand outcomes.csv --server http://127.0.0.1:7400
///   pledge actuals record taxi-tip tips.json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ActualsArgs {
    #[command(subcommand)]
    command: ActualsCommand,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Subcommand)]
enum ActualsCommand {
    /// Record outcomes from a file.
    ///
    /// Example:
    ///   pledge actuals record demand outcomes.csv --server http://127.0.0.1:7400
    #[command(verbatim_doc_comment)]
    Record {
        /// The model.
        model: String,
        /// CSV, Parquet or JSON file of outcomes.
        file: PathBuf,
    },
}

/// Reads outcomes from a file.
fn read_actuals(file: &std::path::Path) -> Result<Vec<ActualIn>, Failure> {
    let invalid = |m: String| Failure::new(INVALID_INPUT, format!("{}: {m}", file.display()));
    if file.extension().and_then(|e| e.to_str()) == Some("json") {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Doc {
            actuals: Vec<ActualIn>,
        }
        return crate::app::json::read_file::<Doc>(file, "the actuals file").map(|d| d.actuals);
    }
    let (frame, _) = trainer::data::read_frame(file).map_err(|e| invalid(e.to_string()))?;
    let text = |name: &str| -> Result<Option<Vec<Option<String>>>, Failure> {
        let Ok(c) = frame.column(name) else { return Ok(None) };
        let s = c
            .as_materialized_series()
            .cast(&polars::prelude::DataType::String)
            .map_err(|e| invalid(format!("column `{name}`: {e}")))?;
        let ca = s.str().map_err(|e| invalid(format!("column `{name}`: {e}")))?;
        Ok(Some(ca.iter().map(|v| v.map(str::trim).filter(|v| !v.is_empty()).map(str::to_string)).collect()))
    };
    let actual = text("actual")?.ok_or_else(|| invalid("no `actual` column".into()))?;
    let (ids, keys) = (text("prediction_id")?, text("key")?);
    if ids.is_none() && keys.is_none() {
        return Err(invalid(
            "no `prediction_id` or `key` column: outcomes must name their predictions".into(),
        ));
    }
    (0..frame.height())
        .map(|i| {
            let value =
                actual[i].as_deref().ok_or_else(|| invalid(format!("row {}: `actual` is empty", i + 1)))?;
            let actual = match value {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                v => v
                    .parse::<f64>()
                    .ok()
                    .and_then(|x| serde_json::Number::from_f64(x).map(Value::Number))
                    .unwrap_or_else(|| json!(v)),
            };
            let id = ids.as_ref().and_then(|c| c[i].clone());
            let key = if id.is_some() { None } else { keys.as_ref().and_then(|c| c[i].clone()) };
            Ok(ActualIn { prediction_id: id, key, actual })
        })
        .collect()
}

/// Runs `pledge actuals`.
pub fn actuals(a: ActualsArgs) -> Result<(), Failure> {
    let ActualsCommand::Record { model, file } = a.command;
    let given = read_actuals(&file)?;
    let recorded = match a.common.client()? {
        Some(client) => {
            let v = client.post(&format!("/api/v1/models/{model}/actuals"), &json!({"actuals": given}))?;
            v["recorded"].as_u64().unwrap_or(0) as usize
        }
        None => {
            // The ledger stays open (locked) while the log is written: no server writes it now.
            let ledger = a.common.open()?;
            let dir = ledger.store().dir().to_path_buf();
            let table = Serving::new(&crate::app::training::artifact_dir(&dir), serving::RETRY);
            table.refresh(serving::wanted(&ledger.domain().state));
            let records = serving::actuals(&table.current(), &model, given).map_err(serve_failure)?;
            let log = PredictionLog::open(
                &log_dir(&dir),
                None,
                std::sync::Arc::new(ledger::canonical::SystemClock),
            )
            .map_err(|m| Failure::new(crate::app::failure::STORAGE, m))?;
            log.record_actuals(records).map_err(|m| Failure::new(INVALID_INPUT, m))?
        }
    };
    if a.common.json {
        return print_json(&json!({"ok": true, "model": model, "recorded": recorded}));
    }
    outln!("{recorded} outcomes of `{model}` recorded");
    Ok(())
}

fn serve_failure(e: serving::ServeError) -> Failure {
    use serving::ServeError::*;
    match e {
        UnknownModel(m) => Failure::not_found(m),
        Invalid(m) => Failure::new(INVALID_INPUT, m),
        NoChampion(m) | Unavailable(m) => Failure::new(crate::app::failure::REJECTED, m),
    }
}

/// Shadow versions: put a challenger in shadow or take it out, and measure shadow versions
/// against the champion on served predictions and their outcomes.
///
/// Challengers put in shadow (`start`) and the versions of an experiment in shadow testing
/// score every row `pledge serve` answers for their segment; their scores are logged beside the champion's, never returned. `evaluate`
/// joins the predictions answered in a window with the outcomes recorded for them (`pledge
/// actuals record`) and, for each shadow version, computes the champion's and its metrics on
/// exactly the same rows, then records each as a signed `shadow.record` window (of its
/// experiment, when it has one in shadow testing). The window is `[--since, --until)` of answer
/// times; by default the previous UTC day.
///
/// Examples:
///   pledge shadow start demand 7 --reason "compare on live traffic" --as maya
///   pledge shadow evaluate demand --as scheduler --server http://127.0.0.1:7400
///   pledge shadow evaluate demand --since 2026-03-01 --until 2026-03-08 --dry-run
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ShadowArgs {
    #[command(subcommand)]
    command: ShadowCommand,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Subcommand)]
enum ShadowCommand {
    /// Put a challenger in shadow (signed): it scores the rows its segment's route serves,
    /// beside the champion, in `pledge serve`; logged, never returned.
    ///
    /// Example:
    ///   pledge shadow start demand 7 --reason "compare on live traffic" --as maya
    #[command(verbatim_doc_comment)]
    Start {
        /// The model.
        model: String,
        /// The challenger.
        version: u64,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Take a version out of shadow (signed).
    ///
    /// Example:
    ///   pledge shadow stop demand 7 --reason "enough windows" --as maya
    #[command(verbatim_doc_comment)]
    Stop {
        /// The model.
        model: String,
        /// The version.
        version: u64,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Compute the shadow windows of a model and record them (signed).
    ///
    /// Example:
    ///   pledge shadow evaluate demand --since 2026-03-01 --until 2026-03-08 --as scheduler
    #[command(verbatim_doc_comment)]
    Evaluate {
        /// The model.
        model: String,
        /// Window start: a timestamp or a date (midnight UTC). Default: yesterday.
        #[arg(long)]
        since: Option<String>,
        /// Window end (excluded). Default: today, midnight UTC.
        #[arg(long)]
        until: Option<String>,
        /// Compute and print the windows without recording them.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs `pledge shadow`.
pub fn shadow(a: ShadowArgs) -> Result<(), Failure> {
    let (model, since, until, dry_run) = match a.command {
        ShadowCommand::Start { model, version, reason } => {
            let body = crate::domain::command::ShadowSetBody { model, version, reason };
            return a.common.act(DomainCommand::ShadowStart(body));
        }
        ShadowCommand::Stop { model, version, reason } => {
            let body = crate::domain::command::ShadowSetBody { model, version, reason };
            return a.common.act(DomainCommand::ShadowStop(body));
        }
        ShadowCommand::Evaluate { model, since, until, dry_run } => (model, since, until, dry_run),
    };
    let (since, until) = shadow::window(since.as_deref(), until.as_deref(), Utc::now())?;
    if until <= since {
        return Err(Failure::new(
            INVALID_INPUT,
            format!("the window ends ({until}) before it starts ({since})"),
        ));
    }
    let evaluation: ShadowEvaluation = match a.common.client()? {
        Some(client) => {
            let b = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let v = client.get(&format!(
                "/api/v1/models/{model}/shadow?since={}&until={}",
                b(since),
                b(until)
            ))?;
            serde_json::from_value(v).map_err(Failure::internal)?
        }
        None => {
            let ledger = a.common.open()?;
            let dir = ledger.store().dir().to_path_buf();
            let state = shadow::for_model(&ledger.domain().state, &model);
            drop(ledger);
            let log = PredictionLog::open(
                &log_dir(&dir),
                None,
                std::sync::Arc::new(ledger::canonical::SystemClock),
            )
            .map_err(|m| Failure::new(crate::app::failure::STORAGE, m))?;
            shadow::evaluate(&log, &state, &dir, &model, since, until)?
        }
    };
    let events = if dry_run || evaluation.windows.is_empty() {
        vec![]
    } else {
        let signer = a.common.signer()?;
        let commands = evaluation
            .windows
            .iter()
            .map(|w| {
                let c = DomainCommand::ShadowRecord(w.clone());
                (c.kind().as_str().to_string(), c.body())
            })
            .collect();
        a.common.backend()?.submit(&signer, commands)?
    };
    if a.common.json {
        let docs: Vec<crate::app::query::EventDoc> =
            events.iter().map(crate::app::query::EventDoc::from).collect();
        return print_json(&json!({"ok": true, "evaluation": evaluation, "events": docs}));
    }
    outln!(
        "{model} {}..{}: {} predictions, {} with outcomes",
        evaluation.window_start,
        evaluation.window_end,
        evaluation.predictions,
        evaluation.with_actuals
    );
    for w in &evaluation.windows {
        let seg = w.segment.as_deref().map(|s| format!(" segment {s}")).unwrap_or_default();
        let fig = |m: &projections::events::Metrics| {
            m.iter()
                .filter(|(k, _)| ["mae", "mape", "roc_auc", "log_loss"].contains(k))
                .map(|(k, v)| format!("{k} {v:.4}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        outln!(
            "  v{} (shadow{seg}) vs champion v{} on {} rows: {} vs {}",
            w.challenger,
            w.champion,
            w.samples,
            fig(&w.challenger_metrics),
            fig(&w.champion_metrics)
        );
    }
    for n in &evaluation.notes {
        outln!("  note: {n}");
    }
    if dry_run {
        outln!("(dry run: nothing recorded)");
    } else {
        super::output::print_event_lines(
            &events.iter().map(crate::app::query::EventDoc::from).collect::<Vec<_>>(),
        );
    }
    Ok(())
}

/// Run the scheduled jobs: weekly retrain, daily drift check, champion backtest, shadow
/// evaluation, declared in a jobs file.
///
/// A jobs file is JSON, `{"jobs": [...]}`, each job with a unique `name`, a `kind`
/// (`retrain`, `drift_check`, `backtest`, `shadow_evaluate`), a `model`, `every` (`hour`,
/// `day`, `week`), `at` (UTC `HH:MM`, or the minute for hourly jobs) and for weekly jobs
/// `weekday` (`mon`..`sun`); then what its kind needs: `retrain` `data`, `spec` (and `params`,
/// `hypothesis_id`, `dataset_version`, `feature_set_version`); `drift_check` `data`,
/// `recent_periods`, `baseline_periods` (and `segment`); `backtest` `data`, `periods`.
/// Relative paths are relative to the file.
///
/// `run --due` runs each job for the latest instant of its schedule not after now (or
/// `--now`); a job whose run for that instant is in the ledger is skipped, so running it again
/// (a retried cron, two hosts) appends nothing twice. Retrains are recorded with trigger
/// `scheduled` and their start and finish times. `pledge serve --jobs FILE --service-key NAME`
/// runs the same jobs inside the server.
///
/// Examples:
///   pledge jobs run --due --jobs jobs.json --as scheduler        # from cron, every few minutes
///   pledge jobs run daily-drift --jobs jobs.json --as scheduler   # one job, for its latest instant
///   pledge jobs show --jobs jobs.json                           # each job's last and next instant
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct JobsArgs {
    #[command(subcommand)]
    command: JobsCommand,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    /// Run the due jobs (or the named ones) and record what they produce.
    ///
    /// Example:
    ///   pledge jobs run --due --jobs jobs.json --as scheduler
    #[command(verbatim_doc_comment)]
    Run {
        /// The jobs to run (default with --due: every job).
        names: Vec<String>,
        /// Run every job whose latest instant has not run.
        #[arg(long, conflicts_with = "names", required_unless_present = "names")]
        due: bool,
        /// The jobs file.
        #[arg(long, value_name = "FILE")]
        jobs: PathBuf,
        /// The time to run as (RFC 3339; default: now).
        #[arg(long, value_name = "TIME")]
        now: Option<String>,
    },
    /// Each job's latest instant, whether it ran, and its next instant.
    ///
    /// Example:
    ///   pledge jobs show --jobs jobs.json
    #[command(verbatim_doc_comment)]
    Show {
        /// The jobs file.
        #[arg(long, value_name = "FILE")]
        jobs: PathBuf,
        /// The time to look from (RFC 3339; default: now).
        #[arg(long, value_name = "TIME")]
        now: Option<String>,
    },
}

fn now_or(t: Option<&str>) -> Result<DateTime<Utc>, Failure> {
    t.map(|t| shadow::parse_bound("--now", t)).transpose().map(|t| t.unwrap_or_else(Utc::now))
}

/// Runs `pledge jobs`.
pub fn jobs(a: JobsArgs) -> Result<(), Failure> {
    a.common.local_only().map_err(|f| f.hint("jobs train and read files beside the ledger: run them on its host, or give `pledge serve` the jobs file"))?;
    let backend = a.common.backend()?;
    match a.command {
        JobsCommand::Run { names, due: _, jobs, now } => {
            let file = crate::app::jobs::JobsFile::read(&jobs)?;
            let signer = a.common.signer()?;
            let runs = crate::app::jobs::run_due(&file, &names, now_or(now.as_deref())?, &backend, &signer)?;
            let failed = runs.iter().any(|r| r.status == crate::app::jobs::JobStatus::Failed);
            if a.common.json {
                print_json(&json!({"ok": !failed, "runs": runs}))?;
            } else {
                for r in &runs {
                    outln!(
                        "{:<20} {:<16} {:<12} {}",
                        r.job,
                        r.scheduled_for,
                        format!("{:?}", r.status).to_lowercase(),
                        r.message
                    );
                    super::output::print_event_lines(&r.events);
                }
            }
            match runs.iter().find(|r| r.status == crate::app::jobs::JobStatus::Failed) {
                Some(r) => Err(Failure::new(
                    crate::app::failure::REJECTED,
                    format!("job `{}` failed: {}", r.job, r.message),
                )),
                None => Ok(()),
            }
        }
        JobsCommand::Show { jobs, now } => {
            let file = crate::app::jobs::JobsFile::read(&jobs)?;
            let now = now_or(now.as_deref())?;
            let (trust, _) = crate::app::backend::Port::snapshot(&backend)?;
            let ledger =
                trust.ledger_id().ok_or_else(|| Failure::new(INVALID_INPUT, "the ledger has no genesis"))?;
            let store = backend.open_store()?;
            let mut rows = vec![];
            for j in &file.jobs {
                let last = j.last_instant(now);
                let ran = store.command(&j.command_id(ledger, last, 0))?.is_some();
                rows.push(json!({"job": j.name, "kind": j.kind, "model": j.model,
                    "last_instant": last.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "ran": ran,
                    "next_instant": (last + j.period()).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)}));
            }
            if a.common.json {
                return print_json(&json!({"ok": true, "jobs": rows}));
            }
            for r in &rows {
                outln!(
                    "{:<20} last {} ({}), next {}",
                    r["job"].as_str().unwrap_or_default(),
                    r["last_instant"].as_str().unwrap_or_default(),
                    if r["ran"] == true { "ran" } else { "not run" },
                    r["next_instant"].as_str().unwrap_or_default()
                );
            }
            Ok(())
        }
    }
}
