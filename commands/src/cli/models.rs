//! `pledge model`: register a model with the task it is judged by.

use clap::Subcommand;
use projections::events::Task;

use super::common::Common;
use super::input::snake;
use crate::app::failure::Failure;
use crate::domain::command::ModelBody;
use crate::domain::DomainCommand;

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
}

/// Runs `pledge model`.
pub fn run(a: ModelArgs) -> Result<(), Failure> {
    let ModelCommand::Register { model, task, description } = a.command;
    a.common.act(DomainCommand::ModelRegister(ModelBody { model, task, description }))
}
