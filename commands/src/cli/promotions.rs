//! Champions changed by people: `bootstrap-champion`, `arena` (proposals and their approval),
//! `rollback`.

use clap::Subcommand;

use super::common::Common;
use super::output::{outln, print_json};
use crate::app::failure::Failure;
use crate::app::query::Proposals;
use crate::domain::command::{ApproveBody, ArenaRejectBody, BootstrapBody, ProposeBody, RollbackBody};
use crate::domain::DomainCommand;

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
    a.common.act(DomainCommand::ChampionBootstrap(BootstrapBody {
        model: a.model,
        segment: a.segment,
        version: a.version,
        reason: a.reason,
    }))
}

/// Restore a previous champion, with a reason (an approver).
///
/// Examples:
///   pledge rollback demand 12 --reason "v13 misbehaves on holidays" --as colby
///   pledge rollback demand 4 --segment electronics --reason "drift in returns" --as colby
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
    a.common.act(DomainCommand::Rollback(RollbackBody {
        model: a.model,
        segment: a.segment,
        version: a.version,
        reason: a.reason,
    }))
}

/// The promotion arena: propose a challenger against the champion (every gate evaluated and
/// recorded), see pending proposals, approve or reject them (four eyes: not your own; k
/// distinct approvers where the policy asks; failed gates only with a stated override).
///
/// Examples:
///   pledge arena propose demand --as maya
///   pledge arena status
///   pledge arena approve P-42 --notes "gates green" --as colby
///   pledge arena approve P-43 --override-reason "holiday week: MAE misleads" --as colby
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
    /// Propose the best challenger by the gates (or `--challenger N`) for MODEL.
    ///
    /// Example:
    ///   pledge arena propose demand --segment electronics --as maya
    #[command(verbatim_doc_comment)]
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
    ///
    /// Example:
    ///   pledge arena status --json
    #[command(verbatim_doc_comment)]
    Status,
    /// Approve a proposal: the challenger becomes champion (on the k-th approval when the
    /// policy wants several approvers).
    ///
    /// Example:
    ///   pledge arena approve P-42 --notes "gates green" --as colby
    #[command(verbatim_doc_comment)]
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
    ///
    /// Example:
    ///   pledge arena reject P-42 --reason "segment regression" --as colby
    #[command(verbatim_doc_comment)]
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
        ArenaCommand::Propose { model, segment, challenger } => {
            c.act(DomainCommand::ArenaPropose(ProposeBody { model, segment, challenger }))
        }
        ArenaCommand::Approve { proposal_id, notes, override_reason } => {
            c.act(DomainCommand::ArenaApprove(ApproveBody { proposal_id, notes, override_reason }))
        }
        ArenaCommand::Reject { proposal_id, reason } => {
            c.act(DomainCommand::ArenaReject(ArenaRejectBody { proposal_id, reason }))
        }
        ArenaCommand::Status => {
            let answer = c.ask(&Proposals)?;
            if c.json {
                return print_json(&answer);
            }
            for p in &answer.proposals {
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
                outln!(
                    "{:<8} {:<9} {}{} v{} over {} by {}: {}",
                    p.proposed.proposal_id,
                    projections::state::name(&p.status),
                    p.subject.model,
                    p.subject.segment.as_deref().map(|s| format!("/{s}")).unwrap_or_default(),
                    p.proposed.challenger,
                    p.proposed.champion.map_or("(none)".into(), |c| format!("v{c}")),
                    p.proposed.proposed_by,
                    gates.join("; ")
                );
            }
            if answer.proposals.is_empty() {
                outln!("no proposals");
            }
            Ok(())
        }
    }
}
