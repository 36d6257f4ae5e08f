//! `pledge model`: register a model with the task it is judged by; show what a version fitted.

use clap::Subcommand;
use projections::events::Task;

use super::common::Common;
use super::input::snake;
use super::output::{outln, print_json};
use crate::app::failure::Failure;
use crate::app::training;
use crate::domain::command::ModelBody;
use crate::domain::DomainCommand;

/// Register a model and the task it is judged by (classification, regression, forecast): the
/// task picks its promotion gates and drift metric from the policy. A model's first run can
/// register it too (`--task`). Show the coefficients a version trained by the built-in
/// trainer fitted.
///
/// Examples:
///   pledge model register churn --task classification --as maya
///   pledge model register demand --task forecast --description "weekly units per SKU" --as maya
///   pledge model coefficients bikes --version v2
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
    ///
    /// Example:
    ///   pledge model register churn --task classification --as maya
    #[command(verbatim_doc_comment)]
    Register {
        /// The model.
        model: String,
        /// classification, regression or forecast.
        #[arg(long, value_parser = snake::<Task>)]
        task: Task,
        /// What it predicts, for people.
        #[arg(long)]
        description: Option<String>,
    },
    /// Show the intercept and coefficients a version's artifact fitted (largest first; in
    /// design order with --json), its family, convergence and prediction interval. The
    /// coefficients apply to standardised numeric columns and one-hot categories.
    ///
    /// Example:
    ///   pledge model coefficients taxi-tip --version champion --segment "Flash Cab"
    #[command(verbatim_doc_comment)]
    Coefficients {
        /// The model.
        model: String,
        /// `champion` or `vN`.
        #[arg(long, default_value = "champion")]
        version: String,
        /// The segment whose champion is shown (with `--version champion`).
        #[arg(long)]
        segment: Option<String>,
    },
}

/// Runs `pledge model`.
pub fn run(a: ModelArgs) -> Result<(), Failure> {
    match a.command {
        ModelCommand::Register { model, task, description } => {
            a.common.act(DomainCommand::ModelRegister(ModelBody { model, task, description }))
        }
        ModelCommand::Coefficients { model, version, segment } => {
            let backend = a.common.backend()?;
            let c = training::coefficients(&backend, &model, segment.as_deref(), &version)?;
            if a.common.json {
                return print_json(&serde_json::json!({"ok": true, "model": model, "coefficients": c}));
            }
            outln!(
                "{model} v{} ({}, {}; artifact {})",
                c.version,
                c.family,
                match c.converged {
                    Some(true) => "converged",
                    Some(false) => "did not converge",
                    None => "convergence unknown",
                },
                &c.artifact_digest[..12]
            );
            if let Some(iv) = &c.interval {
                outln!(
                    "  {:.0}% interval: prediction {:+.4} .. {:+.4}",
                    iv.level * 100.0,
                    iv.lower,
                    iv.upper
                );
            }
            outln!("  {:<32} {:>12}", "intercept", format!("{:.6}", c.intercept));
            let mut rows = c.coefficients.clone();
            rows.sort_by(|a, b| b.coefficient.abs().total_cmp(&a.coefficient.abs()));
            for r in rows {
                outln!("  {:<32} {:>12}", r.feature, format!("{:.6}", r.coefficient));
            }
            Ok(())
        }
    }
}
