//! The seed workflow verbs (seed 000's `ds_workflow.sh`), each a thin shell over one signed
//! command: `bootstrap-champion`, `arena`, `rollback`, `run record`, `drift record`,
//! `backtest record`, and `lineage`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::{json, Value};

use crate::domain::command::{ApproveBody, ModelBody};
use crate::domain::DomainCommand;
use crate::exit::{Failure, INVALID_INPUT};
use crate::session::{self, Common};

fn task(t: Option<&str>) -> Result<Option<projections::events::Task>, Failure> {
    t.map(|t| t.parse().map_err(|e: String| Failure::new(INVALID_INPUT, e))).transpose()
}

/// Register a model and the task it is judged by (classification, regression, forecast): the
/// task picks its promotion gates and drift metric from the policy. A model's first run can
/// register it too (`--task`).
///
/// Examples:
///   pledge model register churn --task classification --as maya
///   pledge model register demand --task forecast --description "weekly units per SKU" --as maya
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ModelArgs {
    #[command(subcommand)]
    command: ModelCommand,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Subcommand)]
enum ModelCommand {
    /// Register MODEL with its task (signed).
    Register {
        /// The model.
        model: String,
        /// classification, regression or forecast.
        #[arg(long)]
        task: String,
        /// What it predicts, for people.
        #[arg(long)]
        description: Option<String>,
    },
}

/// Runs `pledge model`.
pub fn model(a: ModelArgs) -> Result<(), Failure> {
    let ModelCommand::Register { model, task: t, description } = a.command;
    let task = task(Some(&t))?.unwrap_or(projections::events::Task::Classification);
    done(
        &a.common,
        &session::submit_domain(
            &a.common,
            DomainCommand::ModelRegister(ModelBody { model, task, description }),
        )?,
    )
}

fn read_json(path: &Path, what: &str) -> Result<Value, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::new(INVALID_INPUT, format!("cannot read {what} `{}`: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        Failure::new(INVALID_INPUT, format!("{what} `{}` is not valid JSON: {e}", path.display()))
    })
}

fn metrics_file(path: &Path) -> Result<BTreeMap<String, f64>, Failure> {
    let v = read_json(path, "metrics file")?;
    let obj = v.as_object().ok_or_else(|| {
        Failure::new(
            INVALID_INPUT,
            format!("metrics file `{}` must be an object of metric -> number", path.display()),
        )
    })?;
    obj.iter()
        .map(|(k, x)| {
            x.as_f64().filter(|f| f.is_finite()).map(|f| (k.clone(), f)).ok_or_else(|| {
                Failure::new(
                    INVALID_INPUT,
                    format!("metric `{k}` in `{}` is not a finite number", path.display()),
                )
            })
        })
        .collect()
}

/// blake3 of a file's bytes, hex.
fn file_digest(path: &Path, what: &str) -> Result<String, Failure> {
    let bytes = std::fs::read(path)
        .map_err(|e| Failure::new(INVALID_INPUT, format!("cannot read {what} `{}`: {e}", path.display())))?;
    Ok(ledger::Digest::of(&bytes).to_string())
}

fn done(common: &Common, events: &[ledger::RecordedEvent]) -> Result<(), Failure> {
    session::print_events(common, events);
    Ok(())
}

/// Set the first champion of a model (or segment): a signed approval by an approver.
///
/// Examples:
///   pledge bootstrap-champion demand 1 --as colby --reason "first production model"
///   pledge bootstrap-champion demand 5 --segment electronics --as colby
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct BootstrapArgs {
    /// The model.
    model: String,
    /// The version number.
    version: u64,
    /// The segment (default: the whole model).
    #[arg(long)]
    segment: Option<String>,
    /// Why.
    #[arg(long)]
    reason: Option<String>,
    #[command(flatten)]
    common: Common,
}

/// Runs `pledge bootstrap-champion`.
pub fn bootstrap(a: BootstrapArgs) -> Result<(), Failure> {
    let body = json!({"model": a.model, "segment": a.segment, "version": a.version, "reason": a.reason});
    done(&a.common, &session::submit(&a.common, "champion.bootstrap", body)?)
}

/// Restore a previous champion, with a reason (an approver).
///
/// Examples:
///   pledge rollback demand 12 --reason "v13 misbehaves on holidays" --as colby
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct RollbackArgs {
    /// The model.
    model: String,
    /// The version to restore (it must have served before).
    version: u64,
    /// The segment (default: the whole model).
    #[arg(long)]
    segment: Option<String>,
    /// Why.
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    common: Common,
}

/// Runs `pledge rollback`.
pub fn rollback(a: RollbackArgs) -> Result<(), Failure> {
    let body = json!({"model": a.model, "segment": a.segment, "version": a.version, "reason": a.reason});
    done(&a.common, &session::submit(&a.common, "rollback", body)?)
}

/// The promotion arena: propose a challenger against the champion (every gate evaluated and
/// recorded), see pending proposals, approve or reject them (four eyes: not your own).
///
/// Examples:
///   pledge arena propose demand --as maya
///   pledge arena status
///   pledge arena approve P-42 --notes "gates green" --as colby
///   pledge arena reject P-42 --reason "segment regression" --as colby
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ArenaArgs {
    #[command(subcommand)]
    command: ArenaCommand,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Subcommand)]
enum ArenaCommand {
    /// Propose the best challenger (or `--challenger N`) for MODEL.
    Propose {
        /// The model.
        model: String,
        /// The segment (default: the whole model).
        #[arg(long)]
        segment: Option<String>,
        /// A specific challenger version.
        #[arg(long)]
        challenger: Option<u64>,
    },
    /// List proposals and their gates.
    Status,
    /// Approve a proposal: the challenger becomes champion (on the k-th approval when the
    /// policy wants several approvers).
    Approve {
        /// Proposal id (`P-...`).
        proposal_id: String,
        /// Notes.
        #[arg(long)]
        notes: Option<String>,
        /// Why the challenger is promoted although its gates failed (required then; recorded).
        #[arg(long)]
        override_reason: Option<String>,
    },
    /// Reject a proposal, with a reason.
    Reject {
        /// Proposal id.
        proposal_id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
}

/// Runs `pledge arena`.
pub fn arena(a: ArenaArgs) -> Result<(), Failure> {
    let c = &a.common;
    match a.command {
        ArenaCommand::Propose { model, segment, challenger } => done(
            c,
            &session::submit(
                c,
                "arena.propose",
                json!({"model": model, "segment": segment, "challenger": challenger}),
            )?,
        ),
        ArenaCommand::Approve { proposal_id, notes, override_reason } => done(
            c,
            &session::submit_domain(
                c,
                DomainCommand::ArenaApprove(ApproveBody { proposal_id, notes, override_reason }),
            )?,
        ),
        ArenaCommand::Reject { proposal_id, reason } => done(
            c,
            &session::submit(c, "arena.reject", json!({"proposal_id": proposal_id, "reason": reason}))?,
        ),
        ArenaCommand::Status => {
            let doc = session::ask(c, "/api/v1/arena/proposals", |v| v.proposals())?;
            if c.json {
                println!("{doc}");
                return Ok(());
            }
            let proposals: Vec<projections::state::Proposal> =
                serde_json::from_value(doc["proposals"].clone()).map_err(Failure::internal)?;
            for p in &proposals {
                let gates: Vec<String> = p
                    .proposed
                    .gates
                    .iter()
                    .map(|g| {
                        format!(
                            "{} {} ({} vs {})",
                            g.metric,
                            if g.passed { "ok" } else { "FAIL" },
                            g.candidate,
                            g.champion
                        )
                    })
                    .collect();
                println!(
                    "{:<8} {:<9} {} v{} over {} by {}: {}",
                    p.proposed.proposal_id,
                    projections::state::name(&p.status),
                    p.subject.model,
                    p.proposed.challenger,
                    p.proposed.champion.map_or("(none)".into(), |c| format!("v{c}")),
                    p.proposed.proposed_by,
                    gates.join("; ")
                );
            }
            if proposals.is_empty() {
                println!("no proposals");
            }
            Ok(())
        }
    }
}

/// Record evidence: an external training run, a drift check, a shadow window, a backtest window.
///
/// Examples:
///   pledge record run demand --run-id r-0216 --trigger scheduled --metrics m.json \
///       --artifact model.bin --dataset train.csv --trainer lightgbm-4.3 --as scheduler
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
    Run {
        /// The model.
        model: String,
        /// A unique run id.
        #[arg(long)]
        run_id: String,
        /// scheduled, manual, drift_detected, experiment or new_data.
        #[arg(long)]
        trigger: String,
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
        /// Hypothesis (experiment runs).
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
        #[arg(long)]
        task: Option<String>,
    },
    /// A drift check: recent vs baseline metric (and optional per-feature PSI JSON file).
    Drift {
        /// The model.
        model: String,
        /// Baseline value (e.g. 30-day MAE).
        #[arg(long)]
        baseline: f64,
        /// Recent value (e.g. 7-day MAE).
        #[arg(long)]
        recent: f64,
        /// Segment.
        #[arg(long)]
        segment: Option<String>,
        /// PSI per feature, JSON file (feature -> number).
        #[arg(long, value_name = "FILE")]
        psi: Option<PathBuf>,
    },
    /// One shadow window: champion and challenger on the same actuals.
    Shadow {
        /// The model.
        model: String,
        /// Champion version.
        #[arg(long)]
        champion: u64,
        /// Challenger version.
        #[arg(long)]
        challenger: u64,
        /// Window start.
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
    Backtest {
        /// The model.
        model: String,
        /// The version.
        version: u64,
        /// Window start.
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
pub fn record(a: RecordArgs) -> Result<(), Failure> {
    let c = &a.common;
    let (kind, body) = match a.command {
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
            task: t,
        } => {
            let m = metrics_file(&metrics)?;
            let params = match params {
                Some(p) => read_json(&p, "params file")?,
                None => json!({}),
            };
            (
                "run.record",
                json!({
                    "run_id": run_id, "model": model, "task": task(t.as_deref())?, "trigger": trigger, "hypothesis_id": hypothesis_id,
                    "drift_alert_id": drift_alert_id, "dataset_digest": file_digest(&dataset, "dataset")?,
                    "trainer": trainer, "params": params, "metrics": m, "code_version": code_version,
                    "models": [{"segment": segment, "artifact_digest": file_digest(&artifact, "artifact")?, "metrics": m}],
                }),
            )
        }
        RecordCommand::Drift { model, baseline, recent, segment, psi } => {
            let psi = match psi {
                Some(p) => json!(metrics_file(&p)?),
                None => json!({}),
            };
            (
                "drift.record",
                json!({"model": model, "segment": segment, "baseline": baseline, "recent": recent, "psi": psi}),
            )
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
        } => (
            "shadow.record",
            json!({"model": model, "segment": segment, "hypothesis_id": hypothesis_id, "champion": champion, "challenger": challenger,
                   "window_start": from, "window_end": to, "champion_metrics": metrics_file(&champion_metrics)?,
                   "challenger_metrics": metrics_file(&challenger_metrics)?, "samples": samples}),
        ),
        RecordCommand::Backtest { model, version, from, to, metrics, rows } => (
            "backtest.record",
            json!({"model": model, "version": version, "window_start": from, "window_end": to, "metrics": metrics_file(&metrics)?, "rows": rows}),
        ),
    };
    done(c, &session::submit(c, kind, body)?)
}

/// Where a version came from (`--up`: hypothesis, approval, run, dataset, drift) and what
/// happened to it (`--down`: backtests, shadow windows, proposals, promotions). Both by default.
///
/// Examples:
///   pledge lineage demand 13
///   pledge lineage demand 13 --up --json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct LineageArgs {
    /// The model.
    model: String,
    /// The version.
    version: u64,
    /// Only upstream.
    #[arg(long, conflicts_with = "down")]
    up: bool,
    /// Only downstream.
    #[arg(long)]
    down: bool,
    #[command(flatten)]
    common: Common,
}

/// Runs `pledge lineage`.
pub fn lineage(a: LineageArgs) -> Result<(), Failure> {
    let dir = if a.up {
        "?direction=up"
    } else if a.down {
        "?direction=down"
    } else {
        ""
    };
    let path = format!("/api/v1/models/{}/versions/{}/lineage{dir}", session::enc(&a.model), a.version);
    let doc = session::ask(&a.common, &path, |v| v.lineage(&a.model, a.version, a.up, a.down))?;
    if a.common.json {
        println!("{doc}");
        return Ok(());
    }
    for title in ["upstream", "downstream"] {
        let Some(list) = doc[title].as_array() else { continue };
        println!("{title} of {} v{}:", a.model, a.version);
        for e in list {
            println!(
                "  #{:<5} {:<10} {}",
                e["seq"].as_u64().unwrap_or(0),
                e["actor"].as_str().unwrap_or("-"),
                e["summary"].as_str().unwrap_or("")
            );
        }
    }
    Ok(())
}

/// Hypotheses: propose one (the start of an experiment), list them, show one.
///
/// Examples:
///   pledge hypothesis propose H-101 demand --statement "Segmented sqft interactions cut MAE 8%" \
///       --change-type feature --target-metric mae --expected-improvement 8 --owner colby --as maya
///   pledge hypothesis list
///   pledge hypothesis show H-101 --json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct HypothesisArgs {
    #[command(subcommand)]
    command: HypothesisCommand,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Subcommand)]
enum HypothesisCommand {
    /// Propose a hypothesis for MODEL.
    Propose {
        /// Hypothesis id (e.g. H-101).
        id: String,
        /// The model.
        model: String,
        /// What is being tested.
        #[arg(long)]
        statement: String,
        /// feature, objective, data, tuning or architecture.
        #[arg(long)]
        change_type: String,
        /// Short description of the change.
        #[arg(long)]
        change_summary: Option<String>,
        /// The metric expected to improve.
        #[arg(long)]
        target_metric: String,
        /// Expected improvement, percent.
        #[arg(long)]
        expected_improvement: f64,
        /// Owner.
        #[arg(long)]
        owner: String,
        /// Dataset version.
        #[arg(long)]
        dataset_version: Option<String>,
        /// Feature-set version.
        #[arg(long)]
        feature_set_version: Option<String>,
    },
    /// List hypotheses and their experiment status.
    List,
    /// One hypothesis with its experiment.
    Show {
        /// Hypothesis id.
        id: String,
    },
}

/// Runs `pledge hypothesis`.
pub fn hypothesis(a: HypothesisArgs) -> Result<(), Failure> {
    let c = &a.common;
    match a.command {
        HypothesisCommand::Propose {
            id,
            model,
            statement,
            change_type,
            change_summary,
            target_metric,
            expected_improvement,
            owner,
            dataset_version,
            feature_set_version,
        } => {
            let body = json!({"hypothesis_id": id, "model": model, "statement": statement, "change_type": change_type,
                "change_summary": change_summary, "target_metric": target_metric, "expected_improvement_pct": expected_improvement,
                "owner": owner, "dataset_version": dataset_version, "feature_set_version": feature_set_version});
            done(c, &session::submit(c, "hypothesis.propose", body)?)
        }
        HypothesisCommand::List => list_experiments(c),
        HypothesisCommand::Show { id } => show_experiment(c, &id),
    }
}

fn list_experiments(c: &Common) -> Result<(), Failure> {
    let doc = session::ask(c, "/api/v1/experiments", |v| v.experiments())?;
    if c.json {
        println!("{doc}");
        return Ok(());
    }
    let xs: Vec<projections::state::Experiment> =
        serde_json::from_value(doc["experiments"].clone()).map_err(Failure::internal)?;
    for x in &xs {
        println!(
            "{:<12} {:<10} {:<15} {}",
            x.hypothesis.hypothesis_id,
            x.model,
            projections::state::name(&x.status),
            x.hypothesis.statement
        );
    }
    if xs.is_empty() {
        println!("no hypotheses");
    }
    Ok(())
}

fn show_experiment(c: &Common, id: &str) -> Result<(), Failure> {
    let doc = session::ask(c, &format!("/api/v1/experiments/{}", session::enc(id)), |v| v.experiment(id))?;
    if c.json {
        println!("{doc}");
        return Ok(());
    }
    let x: projections::state::Experiment = serde_json::from_value(doc).map_err(Failure::internal)?;
    println!("{} ({}) on `{}`: {}", id, projections::state::name(&x.status), x.model, x.hypothesis.statement);
    println!(
        "  proposed by {}; target {} {:+}%",
        x.hypothesis.proposed_by, x.hypothesis.target_metric, x.hypothesis.expected_improvement_pct
    );
    for t in &x.transitions {
        let at = &t.recorded_at;
        println!("  #{:<5} {}  {}", t.seq, &at[..19.min(at.len())], projections::state::name(&t.status));
    }
    if let Some(r) = &x.review {
        println!(
            "  {} by {}: {}{}",
            if r.approved { "approved" } else { "rejected" },
            r.by,
            r.rationale,
            if r.constraints.is_empty() {
                String::new()
            } else {
                format!(" (constraints: {})", r.constraints.join("; "))
            }
        );
    }
    if !x.versions.is_empty() {
        println!("  versions: {}", x.versions.iter().map(|v| format!("v{v}")).collect::<Vec<_>>().join(", "));
    }
    if let Some(done) = &x.completion {
        println!(
            "  decision: {} by {}: {}",
            projections::state::name(&done.decision),
            done.completed_by,
            done.rationale
        );
    }
    Ok(())
}

/// Experiments: approve or reject a hypothesis (an approver, not its proposer), start it,
/// shadow test it, complete it with a decision; list and show.
///
/// Examples:
///   pledge experiment approve H-101 --rationale "worth a week" --constraint "top 500 SKUs" --as colby
///   pledge experiment start H-101 --as maya
///   pledge experiment shadow H-101 --windows 14 --as maya
///   pledge experiment complete H-101 --decision partial_adopt --adopt-segment electronics \
///       --results results.json --rationale "Electronics only" --as maya
///   pledge experiment list
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ExperimentArgs {
    #[command(subcommand)]
    command: ExperimentCommand,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Subcommand)]
enum ExperimentCommand {
    /// Approve a proposed hypothesis.
    Approve {
        /// Hypothesis id.
        id: String,
        /// Why.
        #[arg(long)]
        rationale: String,
        /// Conditions (repeatable).
        #[arg(long = "constraint")]
        constraints: Vec<String>,
    },
    /// Reject a proposed hypothesis.
    Reject {
        /// Hypothesis id.
        id: String,
        /// Why.
        #[arg(long)]
        rationale: String,
    },
    /// Start an approved experiment.
    Start {
        /// Hypothesis id.
        id: String,
    },
    /// Start shadow testing.
    Shadow {
        /// Hypothesis id.
        id: String,
        /// Planned shadow windows (default: the policy's).
        #[arg(long)]
        windows: Option<u32>,
    },
    /// Complete with a decision: adopt, reject or partial_adopt (with --adopt-segment).
    Complete {
        /// Hypothesis id.
        id: String,
        /// adopt, reject or partial_adopt.
        #[arg(long)]
        decision: String,
        /// Segments to adopt (partial_adopt; repeatable).
        #[arg(long = "adopt-segment")]
        adopt_segments: Vec<String>,
        /// Results JSON file (name -> number).
        #[arg(long, value_name = "FILE")]
        results: Option<PathBuf>,
        /// Why.
        #[arg(long)]
        rationale: String,
    },
    /// List experiments.
    List,
    /// One experiment.
    Show {
        /// Hypothesis id.
        id: String,
    },
}

/// Runs `pledge experiment`.
pub fn experiment(a: ExperimentArgs) -> Result<(), Failure> {
    let c = &a.common;
    let (kind, body) = match a.command {
        ExperimentCommand::List => return list_experiments(c),
        ExperimentCommand::Show { id } => return show_experiment(c, &id),
        ExperimentCommand::Approve { id, rationale, constraints } => (
            "experiment.approve",
            json!({"hypothesis_id": id, "rationale": rationale, "constraints": constraints}),
        ),
        ExperimentCommand::Reject { id, rationale } => {
            ("experiment.reject", json!({"hypothesis_id": id, "rationale": rationale}))
        }
        ExperimentCommand::Start { id } => ("experiment.start", json!({"hypothesis_id": id})),
        ExperimentCommand::Shadow { id, windows } => {
            ("experiment.shadow", json!({"hypothesis_id": id, "planned_windows": windows}))
        }
        ExperimentCommand::Complete { id, decision, adopt_segments, results, rationale } => {
            let results = match results {
                Some(p) => json!(metrics_file(&p)?),
                None => json!({}),
            };
            (
                "experiment.complete",
                json!({"hypothesis_id": id, "decision": decision, "adopt_segments": adopt_segments, "results": results, "rationale": rationale}),
            )
        }
    };
    done(c, &session::submit(c, kind, body)?)
}

/// Train a candidate and register it, with the hypothesis metadata seed 000's
/// `ds_workflow.sh train-candidate` asks for.
///
/// With `--data FILE --spec SPEC` the built-in trainer validates the file against the spec,
/// splits it (by time when the spec has a time axis, else seeded), fits the feature pipeline
/// and a logistic model on the training rows only (one per segment with `--strategy
/// segmented_router`), evaluates on the held-out rows, backtests walk-forward over the time
/// axis, stores each model as a content-addressed artifact under `<ledger>/artifacts/`, and
/// records the run, its model version(s) and backtest windows as one signed command. The
/// candidate is judged against the champion by the policy's gates in the same append.
///
/// With `--metrics --artifact --dataset` it records a run made elsewhere instead (its metrics
/// file, and the blake3 of its artifact and dataset files).
///
/// Examples:
///   pledge train-candidate taxi-tip --hypothesis-id H-201 --change-type architecture \
///       --change-summary "One model per company" --owner maya --feature-set-version v1 \
///       --dataset-version 2026-04 --strategy segmented_router --router-mode segment_only \
///       --min-segment-rows 1000 --data taxi.csv --spec taxi.spec.json --as maya
///   pledge train-candidate demand --hypothesis-id H-101 --change-type feature \
///       --change-summary "Added segmented sqft interactions by property type" --owner colby \
///       --feature-set-version v2.0 --dataset-version 20260211 \
///       --metrics metrics.json --artifact model.bin --dataset train.csv --as maya
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct TrainCandidateArgs {
    /// The model.
    pub(crate) model: String,
    /// The hypothesis this candidate tests.
    #[arg(long)]
    pub(crate) hypothesis_id: String,
    /// feature, objective, data, tuning or architecture.
    #[arg(long)]
    pub(crate) change_type: String,
    /// What changed.
    #[arg(long)]
    pub(crate) change_summary: String,
    /// Who owns the change.
    #[arg(long)]
    pub(crate) owner: String,
    /// Feature-set version.
    #[arg(long)]
    pub(crate) feature_set_version: String,
    /// Dataset version.
    #[arg(long)]
    pub(crate) dataset_version: String,
    /// Training strategy (e.g. `global`, `segmented_router`).
    #[arg(long, default_value = "global")]
    pub(crate) strategy: String,
    /// Router mode for a segmented router (e.g. `segment_only`).
    #[arg(long)]
    pub(crate) router_mode: Option<String>,
    /// Minimum training rows for a segment to get its own model.
    #[arg(long)]
    pub(crate) min_segment_rows: Option<u64>,
    /// Why it ran: manual (default) or scheduled, new_data.
    #[arg(long, default_value = "manual")]
    pub(crate) trigger: String,
    /// Train with the built-in trainer on this CSV or Parquet file.
    #[arg(long, value_name = "FILE", requires = "spec", conflicts_with_all = ["metrics", "artifact", "dataset"])]
    pub(crate) data: Option<PathBuf>,
    /// The dataset spec (JSON) for `--data`: target, features, time axis, segment, missing-value policy.
    #[arg(long, value_name = "FILE", requires = "data")]
    pub(crate) spec: Option<PathBuf>,
    /// Training parameters (JSON) for `--data`: alpha, max_iterations, tolerance, backtest, train_windows.
    #[arg(long, value_name = "FILE", requires = "data")]
    pub(crate) params: Option<PathBuf>,
    /// External run: its metrics JSON file.
    #[arg(long, value_name = "FILE", required_unless_present = "data", requires_all = ["artifact", "dataset"])]
    pub(crate) metrics: Option<PathBuf>,
    /// External run: the model artifact file (hashed).
    #[arg(long, value_name = "FILE")]
    pub(crate) artifact: Option<PathBuf>,
    /// External run: the training data file (hashed).
    #[arg(long, value_name = "FILE")]
    pub(crate) dataset: Option<PathBuf>,
    /// External run: trainer name and version.
    #[arg(long, default_value = "external")]
    pub(crate) trainer: String,
    /// External run: the model's task (classification, regression, forecast), when this run
    /// is its first. The built-in trainer trains classifiers.
    #[arg(long, conflicts_with = "data")]
    pub(crate) task: Option<String>,
    #[command(flatten)]
    pub(crate) common: Common,
}

/// Runs `pledge train-candidate`.
pub fn train_candidate(a: TrainCandidateArgs) -> Result<(), Failure> {
    let change_type: projections::events::ChangeType =
        serde_json::from_value(json!(a.change_type)).map_err(|_| {
            Failure::new(
                INVALID_INPUT,
                format!(
                    "`{}` is not a change type (feature, objective, data, tuning, architecture)",
                    a.change_type
                ),
            )
        })?;
    if a.data.is_some() {
        return crate::training::train_candidate(&a, change_type);
    }
    let (Some(metrics), Some(artifact), Some(dataset)) = (&a.metrics, &a.artifact, &a.dataset) else {
        return Err(Failure::new(INVALID_INPUT, "give `--data FILE --spec FILE` (built-in trainer) or `--metrics --artifact --dataset` (an external run)"));
    };
    let m = metrics_file(metrics)?;
    let run_id =
        format!("{}-{}-{}", a.hypothesis_id, a.dataset_version, &file_digest(artifact, "artifact")?[..8]);
    let params = json!({
        "change_type": change_type, "change_summary": a.change_summary,
        "owner": a.owner, "strategy": a.strategy, "router_mode": a.router_mode, "min_segment_rows": a.min_segment_rows,
    });
    let body = json!({
        "run_id": run_id, "model": a.model, "task": task(a.task.as_deref())?, "trigger": a.trigger, "hypothesis_id": a.hypothesis_id,
        "dataset_digest": file_digest(dataset, "dataset")?,
        "dataset_version": a.dataset_version, "feature_set": a.feature_set_version, "trainer": a.trainer,
        "params": params, "metrics": m,
        "models": [{"segment": null, "artifact_digest": file_digest(artifact, "artifact")?, "metrics": m}],
    });
    done(&a.common, &session::submit(&a.common, "run.record", body)?)
}
