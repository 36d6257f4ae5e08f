//! Auditor and release subcommands: `policy`, `export`, `replay` (counterfactual),
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

/// Export the raw log: JSON Lines (one canonical event per line) and FILE.manifest.json.
///
/// The export is deterministic and verifiable offline: `pledge verify --export FILE`. Its
/// manifest carries a signed checkpoint of exactly the exported events: signed now with
/// `--as LOGKEY` (a key of a principal with the `log` role; the checkpoint is kept too), or
/// else the published checkpoint of that size, if there is one. With it, an auditor proves the
/// export extends a checkpoint kept earlier: `pledge verify --export FILE --extends OLD`.
///
/// Examples:
///   pledge export ledger.jsonl
///   pledge export /audit/2026-q1.jsonl --as pledge-log --json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ExportArgs {
    /// Where to write the events (the manifest goes beside it).
    file: std::path::PathBuf,
    #[command(flatten)]
    common: Common,
}

/// Runs `pledge export`.
pub fn export(args: ExportArgs) -> Result<(), Failure> {
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
