//! Argument parsing and dispatch.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::exit::Failure;

const AFTER_HELP: &str = "\
Exit codes:
  0  success
  1  rejected by a rule or policy (nothing was written)
  2  invalid input: bad flags, missing or malformed files (nothing was written)
  3  integrity failure: verification found an altered or corrupt event
  4  internal error

Environment:
  PLEDGE_LEDGER    the ledger directory (default ./.pledge)
  PLEDGE_IDENTITY  who signs (a key name in PLEDGE_HOME)
  PLEDGE_HOME      where private keys live (default ~/.config/pledge)
  PLEDGE_SERVER    send commands and reads to this `pledge serve` instead of opening the ledger
  PLEDGE_READ_TOKEN  the server's read token, if it has one";

/// Pledge: a signed, event-sourced promotion ledger for ML models.
///
/// Every hypothesis, training run, backtest, approval and promotion is an append-only,
/// content-addressed (blake3) event: the first event of each change embeds the command its
/// author signed with ed25519, and the events derived from it (gate evaluations, promotions by
/// policy, archivals, version numbers) follow from that command by rules. `pledge verify`
/// checks all of it offline, re-deriving every derived event byte for byte.
#[derive(Debug, Parser)]
#[command(name = "pledge", version, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Demo(crate::demo::Args),
    Init(crate::keys::InitArgs),
    Keys(crate::keys::KeysArgs),
    Submit(crate::reads::SubmitArgs),
    Sign(crate::reads::SignArgs),
    Champion(crate::reads::ChampionArgs),
    Alerts(crate::reads::AlertsArgs),
    Timeline(crate::reads::TimelineArgs),
    Log(crate::reads::LogArgs),
    Show(crate::reads::ShowArgs),
    Model(crate::verbs::ModelArgs),
    Hypothesis(crate::verbs::HypothesisArgs),
    Experiment(crate::verbs::ExperimentArgs),
    BootstrapChampion(crate::verbs::BootstrapArgs),
    TrainCandidate(Box<crate::verbs::TrainCandidateArgs>),
    Arena(crate::verbs::ArenaArgs),
    Rollback(crate::verbs::RollbackArgs),
    Record(Box<crate::verbs::RecordArgs>),
    Drift(crate::training::DriftArgs),
    Predict(crate::training::PredictArgs),
    Lineage(crate::verbs::LineageArgs),
    Policy(crate::audit::PolicyArgs),
    Export(crate::audit::ExportArgs),
    Replay(crate::audit::ReplayArgs),
    ReleaseCheck(crate::audit::ReleaseArgs),
    Daily(crate::audit::DailyArgs),
    Verify(crate::verify::Args),
    Checkpoint(crate::tlog::CheckpointArgs),
    Prove(crate::tlog::ProveArgs),
    Witness(crate::tlog::WitnessArgs),
    Bench(crate::bench::Args),
    Serve(crate::serve::Args),
}

/// Parses `args`, runs the subcommand, prints errors, returns the exit code.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { crate::exit::INVALID_INPUT } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result: Result<(), Failure> = match cli.command {
        Command::Demo(a) => crate::demo::run(a),
        Command::Init(a) => crate::keys::init(a),
        Command::Keys(a) => crate::keys::keys(a),
        Command::Submit(a) => crate::reads::submit(a),
        Command::Sign(a) => crate::reads::sign(a),
        Command::Champion(a) => crate::reads::champion(a),
        Command::Alerts(a) => crate::reads::alerts(a),
        Command::Timeline(a) => crate::reads::timeline(a),
        Command::Log(a) => crate::reads::log(a),
        Command::Show(a) => crate::reads::show(a),
        Command::Model(a) => crate::verbs::model(a),
        Command::Hypothesis(a) => crate::verbs::hypothesis(a),
        Command::Experiment(a) => crate::verbs::experiment(a),
        Command::BootstrapChampion(a) => crate::verbs::bootstrap(a),
        Command::TrainCandidate(a) => crate::verbs::train_candidate(*a),
        Command::Arena(a) => crate::verbs::arena(a),
        Command::Rollback(a) => crate::verbs::rollback(a),
        Command::Record(a) => crate::verbs::record(*a),
        Command::Drift(a) => crate::training::drift(a),
        Command::Predict(a) => crate::training::predict(a),
        Command::Lineage(a) => crate::verbs::lineage(a),
        Command::Policy(a) => crate::audit::policy(a),
        Command::Export(a) => crate::audit::export(a),
        Command::Replay(a) => crate::audit::replay(a),
        Command::ReleaseCheck(a) => crate::audit::release_check(a),
        Command::Daily(a) => crate::audit::daily(a),
        Command::Verify(a) => crate::verify::run(a),
        Command::Checkpoint(a) => crate::tlog::checkpoint(a),
        Command::Prove(a) => crate::tlog::prove(a),
        Command::Witness(a) => crate::tlog::witness(a),
        Command::Bench(a) => crate::bench::run(a),
        Command::Serve(a) => crate::serve::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("{}", f.render());
            ExitCode::from(f.code)
        }
    }
}
