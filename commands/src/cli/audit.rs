//! Auditor and release subcommands: `policy`, `export`, `import`, `replay` (counterfactual),
//! `release-check`, `daily`.

use clap::Subcommand;
use serde_json::{json, Value};

use super::common::Common;
use super::output::{outln, print_json};
use super::reads::fmt_counts;
use super::style::{paint, Paint};
use crate::app::failure::{Failure, INVALID_INPUT, REJECTED};
use crate::app::query::{HealthCheck, PolicyInForce, Release};
use crate::domain::command::ReleaseBody;
use crate::domain::DomainCommand;

/// Show or replace the policy in force (gates per task, thresholds, approvals, permissions).
///
/// `set` reads a whole policy document (JSON; `schemas/policy.schema.json`), or what `policy
/// show --json` printed, and is signed by an admin; it becomes the next version, and every
/// later decision records that version. A document with any mistake (an unknown member, a
/// trigger that does not exist, a gate without `strict`) is refused, `policy.invalid`.
///
/// Examples:
///   pledge policy show
///   pledge policy show --json > policy.json && $EDITOR policy.json
///   pledge policy set policy.json --as root
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct PolicyArgs {
    #[command(subcommand)]
    command: PolicyCommand,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Print the policy in force and its version.
    ///
    /// Example:
    ///   pledge policy show --json > policy.json
    #[command(verbatim_doc_comment)]
    Show,
    /// Replace the policy with the document in FILE (signed by an admin).
    ///
    /// Example:
    ///   pledge policy set policy.json --as root
    #[command(verbatim_doc_comment)]
    Set {
        /// A JSON policy document.
        file: std::path::PathBuf,
    },
}

fn read_policy(file: &std::path::Path) -> Result<Value, Failure> {
    let doc: Value = crate::app::json::read_file(file, "the policy")?;
    let doc = match doc {
        // `pledge policy show --json` prints {"version", "policy"}: take it as it is.
        Value::Object(ref m) if m.contains_key("policy") && m.contains_key("version") && m.len() == 2 => {
            doc["policy"].clone()
        }
        other => other,
    };
    crate::domain::Policy::parse(&doc).map_err(|e| {
        Failure::new(
            REJECTED,
            format!("`{}`: the policy is not valid: {e} (rule `policy.invalid`)", file.display()),
        )
    })?;
    Ok(doc)
}

/// Runs `pledge policy`.
pub fn policy(args: PolicyArgs) -> Result<(), Failure> {
    match args.command {
        PolicyCommand::Show => {
            let answer = args.common.ask(&PolicyInForce)?;
            if args.common.json {
                return print_json(&answer);
            }
            outln!("policy v{}", answer.version);
            outln!("{}", serde_json::to_string_pretty(&answer.policy).map_err(Failure::internal)?);
            Ok(())
        }
        PolicyCommand::Set { file } => {
            let doc = read_policy(&file)?;
            let body = serde_json::to_value(ledger::trust::PolicySetBody { policy: doc })
                .map_err(Failure::internal)?;
            let events = args.common.submit("policy.set", body)?;
            args.common.print_events(&events);
            Ok(())
        }
    }
}

/// Export the ledger: its raw log (the default), OpenLineage run events, or in-toto
/// attestations.
///
/// `--format jsonl` (the default) writes the raw log: JSON Lines (one canonical event per line)
/// and FILE.manifest.json. The export is deterministic and verifiable offline: `pledge verify
/// --export FILE`, and `pledge import FILE` makes a new ledger of it. Its manifest carries a
/// signed checkpoint of exactly the exported events: signed now with `--as LOGKEY` (a key of a
/// principal with the `log` role; the checkpoint is kept too), or else the published
/// checkpoint of that size, if there is one. With it, an auditor proves the export extends a
/// checkpoint kept earlier: `pledge verify --export FILE --extends OLD`.
///
/// `--format openlineage` writes OpenLineage 2-0-2 run events to FILE, one JSON document per
/// line: a START and a COMPLETE event per training run (job `MODEL/train`; input the dataset,
/// versioned by its digest, with the columns the trainer read; outputs the model versions,
/// versioned by their artifact's digest) and per backtest window (job `MODEL/backtest`, its
/// parent the training run), and an OTHER event on the training run for each promotion
/// decision (facet `pledge_promotion`: decision, gates, policy version, signer, event).
///
/// `--format in-toto` writes into the new directory FILE one in-toto Statement v1 per training
/// run (SLSA Provenance v1: builder the trainer, dependencies the dataset's digest, subjects
/// the artifacts by sha256 and blake3) and per promotion or rejected proposal (Pledge's
/// promotion predicate), each in a DSSE envelope signed by the log key `--as LOGKEY`; also
/// `attestations.intoto.jsonl` (all of them) and `index.json`.
///
/// The ledger must verify first for the derived formats; artifacts are read from the ledger's
/// `artifacts` directory (one that does not hash to its digest stops the export). The mapping
/// is in docs/FORMAT.md section 18.
///
/// Examples:
///   pledge export ledger.jsonl
///   pledge export /audit/2026-q1.jsonl --as pledge-log --json
///   pledge export --format openlineage lineage.ndjson
///   pledge export --format in-toto attestations/ --as pledge-log
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ExportArgs {
    /// Where to write: the events file (its manifest goes beside it), the OpenLineage file, or
    /// the new directory of in-toto attestations.
    file: std::path::PathBuf,
    /// What to write.
    #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
    format: ExportFormat,
    #[command(flatten)]
    common: Common,
}

/// What `pledge export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// The raw log: canonical events, one per line, and a manifest.
    Jsonl,
    /// OpenLineage run events, one per line.
    Openlineage,
    /// in-toto attestations signed by the log key, in a directory.
    InToto,
}

/// Runs `pledge export`.
pub fn export(args: ExportArgs) -> Result<(), Failure> {
    match args.format {
        ExportFormat::Jsonl => export_log(args),
        ExportFormat::Openlineage => export_openlineage(args),
        ExportFormat::InToto => export_intoto(args),
    }
}

/// The lineage of a ledger that verifies (the derived formats never describe a damaged one).
fn verified_lineage(c: &Common) -> Result<(crate::app::interop::Lineage, ledger::VerifySummary), Failure> {
    let store = c.open_store()?;
    let summary = ledger::verify_store(&store, crate::app::verify::verifier(None))
        .map_err(|f| crate::app::verify::failure_of(&format!("ledger `{}`", c.ledger.display()), f))?;
    let lineage =
        crate::app::interop::Lineage::read(&store, Some(&crate::app::training::artifact_dir(&c.ledger)))?;
    Ok((lineage, summary))
}

fn export_openlineage(args: ExportArgs) -> Result<(), Failure> {
    let c = &args.common;
    let (lineage, _) = verified_lineage(c)?;
    let events = crate::app::interop::openlineage::events(&lineage);
    let mut text = String::new();
    for e in &events {
        text.push_str(&serde_json::to_string(e).map_err(Failure::internal)?);
        text.push('\n');
    }
    ledger::export::write_atomic(&args.file, text.as_bytes())
        .map_err(|e| Failure::new(INVALID_INPUT, e.to_string()))?;
    let runs = lineage.runs.len();
    let backtests = lineage.backtests.len();
    let decisions = events.iter().filter(|e| e["eventType"] == "OTHER").count();
    if c.json {
        outln!(
            "{}",
            json!({"ok": true, "file": args.file, "format": "openlineage", "events": events.len(),
                   "training_runs": runs, "backtests": backtests, "decisions": decisions})
        );
    } else {
        outln!(
            "wrote {} OpenLineage run events to {}: {runs} training runs and {backtests} backtest windows (START and COMPLETE each), {decisions} promotion decisions (OTHER)",
            events.len(),
            args.file.display()
        );
    }
    Ok(())
}

fn export_intoto(args: ExportArgs) -> Result<(), Failure> {
    let c = &args.common;
    let name = c.identity.as_deref().ok_or_else(|| {
        Failure::new(
            INVALID_INPUT,
            "in-toto attestations are signed by the ledger's log key: pass `--as LOGKEY`",
        )
        .hint("a key of a principal with the `log` role, as for `pledge checkpoint`")
    })?;
    let key = crate::app::keystore::load(&c.home()?, name)?;
    let (lineage, summary) = verified_lineage(c)?;
    crate::app::transparency::check_log_key_verified(&summary, &key, name)?;
    let principal = lineage.principal_of(&key.public().key_id().to_string()).unwrap_or_default().to_string();
    let report = crate::app::interop::intoto::write(&lineage, &key, &principal, &args.file)?;
    if c.json {
        outln!("{}", json!({"ok": true, "format": "in-toto", "report": report}));
    } else {
        let without: usize = report.attestations.iter().map(|a| a.without_sha256).sum();
        outln!(
            "wrote {} in-toto attestations to {} ({} training-run provenance, {} promotions), signed by `{name}` (key {})",
            report.attestations.len(),
            args.file.display(),
            report.runs,
            report.promotions,
            report.key_id
        );
        if without > 0 {
            outln!("  {without} subject(s) carry only their blake3: their artifact is not in the ledger's `artifacts` directory");
        }
    }
    Ok(())
}

fn export_log(args: ExportArgs) -> Result<(), Failure> {
    let c = &args.common;
    let (store, checkpoint) = match c.identity.as_deref() {
        // Signing needs a sound ledger: its log keys, its tree.
        Some(name) => {
            let key = crate::app::keystore::load(&c.home()?, name)?;
            let l = c.open()?;
            crate::app::transparency::check_log_key(l.trust(), &key, name)?;
            let p = crate::app::transparency::sign_checkpoint(l.store(), l.trust(), &key)?;
            drop(l);
            (c.open_store()?, Some(p.note))
        }
        // The store alone: a damaged ledger still exports (as it is), for an auditor to examine.
        None => {
            let store = c.open_store()?;
            let published = ledger::checkpoints::Checkpoints::of(store.dir())
                .get(store.len())
                .map_err(crate::app::transparency::io)?
                .filter(|p| store.tree_root(p.checkpoint.size).is_ok_and(|r| r == p.checkpoint.root));
            (store, published.map(|p| p.note))
        }
    };
    let m = ledger::export::export_with_checkpoint(&store, &args.file, checkpoint.as_ref())
        .map_err(|e| Failure::new(INVALID_INPUT, e.to_string()))?;
    let manifest = ledger::export::manifest_path(&args.file);
    if c.json {
        outln!(
            "{}",
            json!({"ok": true, "file": args.file, "manifest": manifest, "count": m.count, "head": m.head,
                   "checkpoint": m.checkpoint.is_some()})
        );
    } else {
        outln!(
            "exported {} events to {} (head {}; manifest {}{})",
            m.count,
            args.file.display(),
            m.head,
            manifest.display(),
            if m.checkpoint.is_some() {
                ", with a signed checkpoint"
            } else {
                "; no checkpoint of exactly these events: pass --as LOGKEY to sign one"
            }
        );
    }
    Ok(())
}

/// Import into a ledger: a Pledge export (into a new ledger), or an MLflow tracking server's
/// registered models.
///
/// `pledge import FILE` verifies every event as `pledge verify --export` does (hashes, links,
/// signatures, keys, and every derived event re-derived byte for byte), with the manifest and
/// its signed checkpoint; `--extends` also proves the export extends a checkpoint kept earlier.
/// Only then is the whole export committed, in one atomic write, into `--ledger`, which must not
/// hold a ledger with events yet. An export carries no model artifacts: `--artifacts DIR` (e.g.
/// the old ledger's `artifacts` directory) copies those the export references, each hashed to
/// its recorded digest first. On any failure nothing is written.
///
/// `pledge import mlflow` reads an MLflow tracking server (see `pledge import mlflow --help`).
///
/// Examples:
///   pledge import ledger.jsonl --ledger ./restored
///   pledge import 2026-q4.jsonl --ledger /srv/pledge --extends q3.checkpoint --artifacts /backup/artifacts
///   pledge import ledger.jsonl --ledger ./copy --json
///   pledge import mlflow --tracking-uri http://127.0.0.1:5000 --task regression --as maya --approver colby
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment, args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ImportArgs {
    #[command(subcommand)]
    source: Option<ImportSource>,
    /// The export (JSON Lines, written by `pledge export`; FILE.manifest.json beside it).
    #[arg(required = true)]
    file: Option<std::path::PathBuf>,
    /// Fail unless the export contains this event id (64 hex characters).
    #[arg(long, value_name = "HASH")]
    expect_head: Option<String>,
    /// Fail unless the export's tree extends this checkpoint's (a signed note kept earlier).
    #[arg(long, value_name = "FILE")]
    extends: Option<std::path::PathBuf>,
    /// The log's verifier key that must have signed `--extends` (default: the export's own log
    /// keys).
    #[arg(long, value_name = "VKEY", requires = "extends")]
    log_key: Option<String>,
    /// Copy the model artifacts the export references from this directory (`<blake3>.json`).
    #[arg(long, value_name = "DIR")]
    artifacts: Option<std::path::PathBuf>,
    #[command(flatten)]
    common: Common,
}

/// Where else `pledge import` reads from.
#[derive(Debug, Subcommand)]
enum ImportSource {
    Mlflow(MlflowArgs),
}

/// Import an MLflow tracking server's registered models: their versions as signed runs, the
/// `champion` alias as the first champion.
///
/// Reads over MLflow's REST API every registered model (or `--model`), its versions and each
/// version's run: parameters, metrics, tags and dataset inputs. Each READY version whose run is
/// readable becomes a `run.record` signed by `--as` (a scientist): run id
/// `mlflow:MODEL:vN:RUN_ID`, the MLflow ids, parameters and user tags kept in its `params`
/// (`params.mlflow`, `params.params`), trigger `manual`, the run's finite metrics (NaN and
/// infinities are dropped and listed), its dataset inputs as the dataset (their blake3 as the
/// digest, `name@digest` as the version), and as artifact a descriptor of the model version
/// (written into the ledger's `artifacts`: MLflow keeps no digest of a version's files). Then
/// the version the `champion` alias names is bootstrapped as champion, signed by `--approver`
/// (default `--as`), if the ledger has no champion for that model. MLflow keeps no history of
/// alias moves: only the current alias can be imported; earlier champions are not recoverable
/// from MLflow.
///
/// Everything is read and checked before the first command is sent (a model without a task, a
/// version without one of its task's gate metrics refuses the whole import). Command ids are
/// derived from MLflow's ids and versions already in the ledger are skipped, so importing
/// again appends only what is new. A model that already has a champion judges newly imported
/// versions by its policy, as any recorded run (the output lists promotions this caused).
///
/// Examples:
///   pledge import mlflow --tracking-uri http://127.0.0.1:5000 --task regression --as maya --approver colby
///   pledge import mlflow --tracking-uri http://mlflow:5000 --model demand --experiment demand-forecasting --as maya
///   pledge import mlflow --tracking-uri http://127.0.0.1:5000 --as maya --json | jq '.models[].recorded'
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
struct MlflowArgs {
    /// The MLflow tracking server (`http://host:port`).
    #[arg(long, value_name = "URL", env = "MLFLOW_TRACKING_URI")]
    tracking_uri: String,
    /// Only versions whose run is in this experiment (repeatable; by name).
    #[arg(long, value_name = "NAME")]
    experiment: Vec<String>,
    /// Only this registered model (repeatable).
    #[arg(long, value_name = "NAME")]
    model: Vec<String>,
    /// The task of new models whose registered model has no `task` tag: classification,
    /// regression or forecast.
    #[arg(long, value_parser = super::input::snake::<projections::events::Task>)]
    task: Option<projections::events::Task>,
    /// The alias that names the champion.
    #[arg(long, default_value = "champion")]
    alias: String,
    /// Who signs the champion bootstrap (an approver; default: `--as`).
    #[arg(long, value_name = "NAME")]
    approver: Option<String>,
    #[command(flatten)]
    common: Common,
}

/// Runs `pledge import`.
pub fn import(args: ImportArgs) -> Result<(), Failure> {
    if let Some(ImportSource::Mlflow(m)) = args.source {
        return import_mlflow(m);
    }
    let file = args.file.clone().ok_or_else(|| Failure::new(INVALID_INPUT, "no export to import"))?;
    let c = &args.common;
    c.local_only()?;
    let expect_head = args
        .expect_head
        .as_deref()
        .map(|h| {
            h.parse::<ledger::Digest>().map_err(|e| {
                Failure::new(INVALID_INPUT, format!("`--expect-head {h}` is not an event id: {e}"))
            })
        })
        .transpose()?;
    let done = crate::app::import::import(&crate::app::import::ImportRequest {
        file: &file,
        ledger: &c.ledger,
        expect_head,
        extends: args.extends.as_deref(),
        log_key: args.log_key.as_deref(),
        artifacts: args.artifacts.as_deref(),
    })?;
    if c.json {
        outln!("{}", json!({"ok": true, "import": done}));
        return Ok(());
    }
    outln!("{}", super::verify::summary_text(&format!("export `{}`", file.display()), &done.summary));
    for a in &done.anchors {
        outln!("  {}", a.text);
    }
    outln!("imported {} events into `{}`", done.summary.events, done.ledger.display());
    if done.artifacts_referenced > 0 {
        outln!(
            "  artifacts: {} referenced, {} copied (each hashed first), {} not found{}",
            done.artifacts_referenced,
            done.artifacts_copied,
            done.artifacts_missing.len(),
            if done.artifacts_missing.is_empty() || args.artifacts.is_some() {
                ""
            } else {
                " (an export carries none: pass --artifacts DIR)"
            }
        );
    }
    Ok(())
}

fn import_mlflow(a: MlflowArgs) -> Result<(), Failure> {
    use crate::app::mlflow::AliasPlan;
    let c = &a.common;
    let signer = c.signer()?;
    let approver = match &a.approver {
        Some(name) => crate::app::backend::Signer::load(&c.home()?, name)?,
        None => c.signer()?,
    };
    let req = crate::app::mlflow::MlflowRequest {
        tracking_uri: a.tracking_uri.clone(),
        experiments: a.experiment.clone(),
        models: a.model.clone(),
        task: a.task,
        alias: a.alias.clone(),
    };
    let r = crate::app::mlflow::import(&c.backend()?, &signer, &approver, &req)?;
    if c.json {
        outln!("{}", json!({"ok": true, "mlflow": r}));
        return Ok(());
    }
    outln!(
        "MLflow `{}`: {} registered model(s), {} command(s) appended",
        r.tracking_uri,
        r.models.len(),
        r.commands
    );
    for m in &r.models {
        let p = &m.plan;
        let pairs = |v: &[(String, u64)]| {
            v.iter().map(|(mv, pv)| format!("MLflow {mv} -> v{pv}")).collect::<Vec<_>>().join(", ")
        };
        outln!(
            "  {} ({}{}): {} recorded{}{}",
            p.model,
            p.task.map(|t| t.as_str()).unwrap_or("?"),
            if p.new_model { ", new" } else { "" },
            m.recorded.len(),
            if m.recorded.is_empty() { String::new() } else { format!(" ({})", pairs(&m.recorded)) },
            if p.present.is_empty() {
                String::new()
            } else {
                format!("; already in the ledger: {}", pairs(&p.present))
            }
        );
        for (v, why) in &p.skipped {
            outln!("    MLflow {v} not imported: {why}");
        }
        for (v, metric) in &p.dropped_metrics {
            outln!("    MLflow {v}: metric `{metric}` is not a finite number, not recorded");
        }
        for v in &m.promoted_by_policy {
            outln!("    v{v} became champion by policy (its gates passed against the ledger's champion)");
        }
        let alias = &a.alias;
        match (&p.alias, m.bootstrapped) {
            (_, Some(v)) => outln!("    alias `{alias}`: v{v} bootstrapped as champion"),
            (AliasPlan::NoAlias, _) => outln!("    alias `{alias}`: none in MLflow"),
            (AliasPlan::NotImported { mlflow_version }, _) => {
                outln!("    alias `{alias}`: names MLflow {mlflow_version}, which is not imported")
            }
            (AliasPlan::AlreadyChampion { version, .. }, _) => outln!("    alias `{alias}`: v{version} is already champion"),
            (AliasPlan::LedgerDiffers { mlflow_version, champion }, _) => outln!(
                "    alias `{alias}`: names MLflow {mlflow_version}, the ledger's champion is v{champion}: not changed (promote through Pledge: `pledge arena propose`)"
            ),
            (AliasPlan::Bootstrap { .. }, None) => {
                outln!("    alias `{alias}`: not applied, the ledger got a champion while importing")
            }
        }
    }
    if let Some(n) = r.unregistered_runs.filter(|n| *n > 0) {
        outln!("  {n} run(s) of the selected experiments have no registered model version: not imported (a Pledge run records the version it produces)");
    }
    outln!("note: MLflow keeps no history of alias moves; only the current `{}` alias is imported, as a bootstrap. Earlier champions are not recoverable from MLflow.", a.alias);
    Ok(())
}

/// Counterfactual replay: which recorded decisions would have differed under another policy?
///
/// Re-judges every promotion evaluation, proposal, drift check and champion backtest on the
/// evidence recorded for it. Nothing is written.
///
/// Examples:
///   pledge replay --policy margin-8pct.json
///   pledge replay --policy strict.json --json | jq '.differences[].explanation'
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ReplayArgs {
    /// The alternative policy document (JSON).
    #[arg(long, value_name = "FILE")]
    policy: std::path::PathBuf,
    #[command(flatten)]
    common: Common,
}

/// Runs `pledge replay`.
pub fn replay(args: ReplayArgs) -> Result<(), Failure> {
    let doc = read_policy(&args.policy)?;
    let l = args.common.open()?;
    let report = crate::domain::counterfactual::counterfactual(l.store(), &doc)?
        .map_err(|e| Failure::new(INVALID_INPUT, e))?;
    if args.common.json {
        outln!("{}", json!(report));
    } else {
        outln!(
            "{} policy decisions re-judged; {} would have differed",
            report.decisions,
            report.differences.len()
        );
        for d in &report.differences {
            outln!("  #{:<5} {:<20} {}", d.seq, d.subject, d.explanation);
        }
    }
    Ok(())
}

/// Are the production gates green for MODEL? Exit 0 only if they are; otherwise exit 1 and
/// say which gate is not. `--record` signs the decision into the ledger (an approver).
///
/// Examples:
///   pledge release-check demand
///   pledge release-check demand --record --as colby --notes "weekly release"
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ReleaseArgs {
    /// The model.
    model: String,
    /// Record a `release` decision (refused while a gate is red).
    #[arg(long)]
    record: bool,
    /// Notes for the recorded decision.
    #[arg(long, default_value = "")]
    notes: String,
    #[command(flatten)]
    common: Common,
}

/// Runs `pledge release-check`.
pub fn release_check(args: ReleaseArgs) -> Result<(), Failure> {
    let answer = args.common.ask(&Release { model: args.model.clone() })?;
    if args.record && answer.green {
        let events = args.common.submit_domain(DomainCommand::ReleaseDecide(ReleaseBody {
            model: args.model.clone(),
            decision: projections::events::ReleaseDecision::Release,
            notes: args.notes.clone(),
        }))?;
        if !args.common.json {
            args.common.print_events(&events);
        }
    }
    if args.common.json {
        print_json(&answer)?;
    } else {
        for g in &answer.gates {
            let mark = if g.passed { paint("green", Paint::Green) } else { paint(" RED ", Paint::Red) };
            outln!("  [{mark}] {:<26} {}", g.gate, g.detail);
        }
    }
    if answer.green {
        Ok(())
    } else {
        let red: Vec<&str> = answer.gates.iter().filter(|g| !g.passed).map(|g| g.gate.as_str()).collect();
        Err(Failure::rejected(
            "release.gates_red",
            format!("release gates for `{}` are not green: {}", args.model, red.join(", ")),
        ))
    }
}

/// The daily health check: champions, open alerts by severity, arena status, stale backtests.
///
/// Examples:
///   pledge daily
///   pledge daily --json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct DailyArgs {
    #[command(flatten)]
    common: Common,
}

/// Runs `pledge daily`.
pub fn daily(args: DailyArgs) -> Result<(), Failure> {
    let doc = args.common.ask(&HealthCheck)?;
    if args.common.json {
        return print_json(&doc);
    }
    outln!("champions:");
    for h in &doc.health {
        outln!(
            "  {:<10} {:<12} v{:<4} {} recent {} baseline {} ({}){}",
            h.model,
            h.segment.as_deref().unwrap_or("(global)"),
            h.champion,
            h.metric,
            h.recent.map_or("-".into(), |v| format!("{v:.3}")),
            h.baseline.map_or("-".into(), |v| format!("{v:.3}")),
            projections::state::name(&h.trend),
            h.best_challenger.map(|c| format!("; best challenger v{c}")).unwrap_or_default()
        );
    }
    outln!("open alerts: {}", fmt_counts(&doc.alerts.open_by_severity));
    outln!(
        "arena: {}",
        if doc.pending_proposals.is_empty() {
            "no pending proposal".into()
        } else {
            format!("pending {}", doc.pending_proposals.join(", "))
        }
    );
    outln!(
        "stale backtests: {}",
        if doc.champions_without_backtests.is_empty() {
            "none".into()
        } else {
            doc.champions_without_backtests.join(", ")
        }
    );
    Ok(())
}
