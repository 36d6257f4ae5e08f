//! `pledge hypothesis` and `pledge experiment`: a hypothesis from proposal to decision.

use std::path::PathBuf;

use clap::Subcommand;
use projections::events::{ChangeType, Decision};
use projections::state::name;

use super::common::Common;
use super::input::{metrics_file, snake};
use super::output::{outln, print_json};
use crate::app::failure::Failure;
use crate::app::query::{ExperimentById, Experiments};
use crate::domain::command::{CompleteBody, HypothesisBody, ReviewBody, StepBody};
use crate::domain::DomainCommand;

/// Hypotheses: propose one (the start of an experiment), list them, show one.
///
/// The target metric and the expected improvement are the hypothesis' pre-registered
/// criterion: completing the experiment records whether the evidence met it.
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
    /// Propose a hypothesis for MODEL (signed).
    ///
    /// Example:
    ///   pledge hypothesis propose H-101 demand --statement "Segmented sqft interactions cut MAE 8%" \
    ///       --change-type feature --target-metric mae --expected-improvement 8 --owner colby --as maya
    #[command(verbatim_doc_comment)]
    Propose {
        /// Hypothesis id (e.g. H-101).
        id: String,
        /// The model.
        model: String,
        /// What is being tested.
        #[arg(long)]
        statement: String,
        /// feature, objective, data, tuning or architecture.
        #[arg(long, value_parser = snake::<ChangeType>)]
        change_type: ChangeType,
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
    ///
    /// Example:
    ///   pledge hypothesis list --json
    #[command(verbatim_doc_comment)]
    List,
    /// One hypothesis with its experiment.
    ///
    /// Example:
    ///   pledge hypothesis show H-101
    #[command(verbatim_doc_comment)]
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
        } => c.act(DomainCommand::HypothesisPropose(HypothesisBody {
            hypothesis_id: id,
            model,
            statement,
            change_type,
            change_summary,
            target_metric,
            expected_improvement_pct: expected_improvement,
            owner,
            dataset_version,
            feature_set_version,
        })),
        HypothesisCommand::List => list(c),
        HypothesisCommand::Show { id } => show(c, &id),
    }
}

fn list(c: &Common) -> Result<(), Failure> {
    let answer = c.ask(&Experiments)?;
    if c.json {
        return print_json(&answer);
    }
    for x in &answer.experiments {
        outln!(
            "{:<12} {:<10} {:<15} {}",
            x.hypothesis.hypothesis_id,
            x.model,
            name(&x.status),
            x.hypothesis.statement
        );
    }
    if answer.experiments.is_empty() {
        outln!("no hypotheses");
    }
    Ok(())
}

fn show(c: &Common, id: &str) -> Result<(), Failure> {
    let x = c.ask(&ExperimentById { id: id.to_string() })?;
    if c.json {
        return print_json(&x);
    }
    outln!("{} ({}) on `{}`: {}", id, name(&x.status), x.model, x.hypothesis.statement);
    outln!(
        "  proposed by {}; criterion: {} {:+}%",
        x.hypothesis.proposed_by,
        x.hypothesis.target_metric,
        x.hypothesis.expected_improvement_pct
    );
    for t in &x.transitions {
        let at = &t.recorded_at;
        outln!("  #{:<5} {}  {}", t.seq, &at[..19.min(at.len())], name(&t.status));
    }
    if let Some(r) = &x.review {
        outln!(
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
        outln!("  versions: {}", x.versions.iter().map(|v| format!("v{v}")).collect::<Vec<_>>().join(", "));
    }
    if !x.shadow_windows.is_empty() {
        let windows: Vec<String> = x
            .shadow_windows
            .iter()
            .map(|(s, n)| format!("{} {n}", if s.is_empty() { "(global)" } else { s }))
            .collect();
        outln!(
            "  shadow windows: {} (planned {})",
            windows.join(", "),
            x.planned_windows.map_or("-".into(), |p| p.to_string())
        );
    }
    if let Some(done) = &x.completion {
        let mut by = done.completed_by.clone();
        if !done.endorsed_by.is_empty() {
            by = format!("{} after {}", by, done.endorsed_by.join(", "));
        }
        outln!("  decision: {} by {by}: {}", name(&done.decision), done.rationale);
        let c = &done.criterion;
        let verdict = match c.met {
            Some(true) => "met",
            Some(false) => "NOT met",
            None => "not judged (no evidence)",
        };
        outln!("  criterion {} {:+}%: {verdict}", c.metric, c.expected_improvement_pct);
        for e in &c.evidence {
            outln!(
                "    v{} {}: {} {} vs v{} {} ({}, {})",
                e.version,
                e.segment.as_deref().unwrap_or("(global)"),
                c.metric,
                e.challenger_value,
                e.champion.map_or("-".into(), |v| v.to_string()),
                e.champion_value,
                e.improvement_pct.map_or("-".into(), |p| format!("{p:+.1}%")),
                name(&e.source)
            );
        }
    }
    Ok(())
}

/// Experiments: approve or reject a hypothesis (an approver, not its proposer), start it,
/// shadow test it, complete it with a decision; list and show. Adopting its versions is an
/// approver's decision (not the proposer's, nor a recorder's of its runs), after the shadow
/// test unless the policy says otherwise.
///
/// Examples:
///   pledge experiment approve H-101 --rationale "worth a week" --constraint "top 500 SKUs" --as colby
///   pledge experiment start H-101 --as maya
///   pledge experiment shadow H-101 --windows 14 --as maya
///   pledge experiment complete H-101 --decision partial_adopt --adopt-segment electronics \
///       --results results.json --rationale "Electronics only" --as colby
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
    /// Approve a proposed hypothesis (signed).
    ///
    /// Example:
    ///   pledge experiment approve H-101 --rationale "worth a week" --constraint "top 500 SKUs" --as colby
    #[command(verbatim_doc_comment)]
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
    /// Reject a proposed hypothesis (signed).
    ///
    /// Example:
    ///   pledge experiment reject H-101 --rationale "no data for it yet" --as colby
    #[command(verbatim_doc_comment)]
    Reject {
        /// Hypothesis id.
        id: String,
        /// Why.
        #[arg(long)]
        rationale: String,
    },
    /// Start an approved experiment (signed).
    ///
    /// Example:
    ///   pledge experiment start H-101 --as maya
    #[command(verbatim_doc_comment)]
    Start {
        /// Hypothesis id.
        id: String,
    },
    /// Start shadow testing (signed).
    ///
    /// Example:
    ///   pledge experiment shadow H-101 --windows 14 --as maya
    #[command(verbatim_doc_comment)]
    Shadow {
        /// Hypothesis id.
        id: String,
        /// Planned shadow windows per segment (default: the policy's).
        #[arg(long)]
        windows: Option<u32>,
    },
    /// Complete with a decision: adopt, reject or partial_adopt (with --adopt-segment). The
    /// hypothesis' criterion is judged on the evidence and recorded beside the decision.
    ///
    /// Example:
    ///   pledge experiment complete H-101 --decision adopt --rationale "8% better in shadow" --as colby
    #[command(verbatim_doc_comment)]
    Complete {
        /// Hypothesis id.
        id: String,
        /// adopt, reject or partial_adopt.
        #[arg(long, value_parser = snake::<Decision>)]
        decision: Decision,
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
    ///
    /// Example:
    ///   pledge experiment list --json
    #[command(verbatim_doc_comment)]
    List,
    /// One experiment, with its criterion judged once completed.
    ///
    /// Example:
    ///   pledge experiment show H-101
    #[command(verbatim_doc_comment)]
    Show {
        /// Hypothesis id.
        id: String,
    },
}

/// Runs `pledge experiment`.
pub fn experiment(a: ExperimentArgs) -> Result<(), Failure> {
    let c = &a.common;
    let review = |id: String, rationale: String, constraints: Vec<String>| ReviewBody {
        hypothesis_id: id,
        rationale,
        constraints,
    };
    let command = match a.command {
        ExperimentCommand::List => return list(c),
        ExperimentCommand::Show { id } => return show(c, &id),
        ExperimentCommand::Approve { id, rationale, constraints } => {
            DomainCommand::ExperimentApprove(review(id, rationale, constraints))
        }
        ExperimentCommand::Reject { id, rationale } => {
            DomainCommand::ExperimentReject(review(id, rationale, vec![]))
        }
        ExperimentCommand::Start { id } => {
            DomainCommand::ExperimentStart(StepBody { hypothesis_id: id, planned_windows: None })
        }
        ExperimentCommand::Shadow { id, windows } => {
            DomainCommand::ExperimentShadow(StepBody { hypothesis_id: id, planned_windows: windows })
        }
        ExperimentCommand::Complete { id, decision, adopt_segments, results, rationale } => {
            DomainCommand::ExperimentComplete(CompleteBody {
                hypothesis_id: id,
                decision,
                adopt_segments: adopt_segments.into_iter().map(Some).collect(),
                results: match results {
                    Some(p) => std::collections::BTreeMap::from(&metrics_file(&p)?),
                    None => Default::default(),
                },
                rationale,
            })
        }
    };
    c.act(command)
}
