//! The command line: argument parsing (clap), one module per subcommand group, dispatch, and
//! exit codes. Subcommands build typed commands and questions, hand them to the `app` layer,
//! and print the answers: human text by default, one JSON document with `--json` (errors too,
//! on standard error). Terminal colour lives in `style` alone.

pub mod audit;
pub mod bench;
mod bench_desk;
mod bench_interop;
mod bench_scale;
mod bench_serving;
pub mod common;
pub mod demo;
pub mod experiments;
pub mod input;
pub mod keys;
pub mod models;
pub mod output;
pub mod promotions;
pub mod reads;
pub mod record;
pub mod serve;
pub mod serving;
pub mod style;
pub mod submit;
pub mod tlog;
pub mod training;
pub mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::failure::{Failure, INTERNAL, INVALID_INPUT};

const AFTER_HELP: &str = "\
Exit codes:
  0  success
  1  rejected by a rule or policy (nothing was written)
  2  invalid input: bad flags, missing or malformed files (nothing was written)
  3  integrity failure: verification found an altered or corrupt event
  4  internal error
  5  busy: another process (a `pledge serve`, another command) has the ledger open and kept it
     past --wait (nothing was read or written; retry, or use --server)
  6  storage: the disk holding the ledger is full (below --min-free-space), or the ledger is
     read-only for you; nothing was committed, unless the message says the outcome is in doubt

With --json, an error is one JSON document on standard error:
  {\"error\": {\"rule\": ..., \"message\": ..., \"hint\": ..., \"exit\": N}}

Environment:
  PLEDGE_LEDGER    the ledger directory (default ./.pledge)
  PLEDGE_IDENTITY  who signs (a key name in PLEDGE_HOME)
  PLEDGE_HOME      where private keys live (default ~/.config/pledge)
  PLEDGE_SERVER    send commands and reads to this `pledge serve` instead of opening the ledger
  PLEDGE_READ_TOKEN  the server's read token, if it has one
  PLEDGE_WAIT      seconds to wait for a ledger another process has open (--wait; default 2)
  PLEDGE_MIN_FREE_SPACE  MiB a commit requires free on the ledger's disk (--min-free-space; 32)";

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
    /// Seconds to wait for a ledger another process has open (a `pledge serve`, another
    /// command) before giving up with exit code 5.
    #[arg(long, global = true, env = "PLEDGE_WAIT", value_name = "SECONDS", default_value_t = 2.0)]
    wait: f64,
    /// Free space, in MiB, that a commit requires on the disk holding the ledger; below it
    /// commands are refused with exit code 6 before anything is written (0 turns it off).
    #[arg(long, global = true, env = "PLEDGE_MIN_FREE_SPACE", value_name = "MIB", default_value_t = 32)]
    min_free_space: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Demo(demo::Args),
    Init(keys::InitArgs),
    Keys(keys::KeysArgs),
    Submit(submit::SubmitArgs),
    Sign(submit::SignArgs),
    Champion(reads::ChampionArgs),
    Alerts(reads::AlertsArgs),
    Timeline(reads::TimelineArgs),
    Log(reads::LogArgs),
    Show(reads::ShowArgs),
    Model(models::ModelArgs),
    Hypothesis(experiments::HypothesisArgs),
    Experiment(experiments::ExperimentArgs),
    BootstrapChampion(promotions::BootstrapArgs),
    TrainCandidate(Box<training::TrainCandidateArgs>),
    Arena(promotions::ArenaArgs),
    Rollback(promotions::RollbackArgs),
    Record(Box<record::RecordArgs>),
    Drift(training::DriftArgs),
    Predict(training::PredictArgs),
    Lineage(reads::LineageArgs),
    Policy(audit::PolicyArgs),
    Export(audit::ExportArgs),
    Import(audit::ImportArgs),
    Replay(audit::ReplayArgs),
    ReleaseCheck(audit::ReleaseArgs),
    Daily(audit::DailyArgs),
    Verify(verify::Args),
    Checkpoint(tlog::CheckpointArgs),
    Prove(tlog::ProveArgs),
    Witness(tlog::WitnessArgs),
    Bench(bench::Args),
    Serve(serve::Args),
    Actuals(serving::ActualsArgs),
    Shadow(serving::ShadowArgs),
    Jobs(serving::JobsArgs),
}

fn dispatch(command: Command) -> Result<(), Failure> {
    match command {
        Command::Demo(a) => demo::run(a),
        Command::Init(a) => keys::init(a),
        Command::Keys(a) => keys::keys(a),
        Command::Submit(a) => submit::submit(a),
        Command::Sign(a) => submit::sign(a),
        Command::Champion(a) => reads::champion(a),
        Command::Alerts(a) => reads::alerts(a),
        Command::Timeline(a) => reads::timeline(a),
        Command::Log(a) => reads::log(a),
        Command::Show(a) => reads::show(a),
        Command::Model(a) => models::run(a),
        Command::Hypothesis(a) => experiments::hypothesis(a),
        Command::Experiment(a) => experiments::experiment(a),
        Command::BootstrapChampion(a) => promotions::bootstrap(a),
        Command::TrainCandidate(a) => training::train_candidate(*a),
        Command::Arena(a) => promotions::arena(a),
        Command::Rollback(a) => promotions::rollback(a),
        Command::Record(a) => record::run(*a),
        Command::Drift(a) => training::drift(a),
        Command::Predict(a) => training::predict(a),
        Command::Lineage(a) => reads::lineage(a),
        Command::Policy(a) => audit::policy(a),
        Command::Export(a) => audit::export(a),
        Command::Import(a) => audit::import(a),
        Command::Replay(a) => audit::replay(a),
        Command::ReleaseCheck(a) => audit::release_check(a),
        Command::Daily(a) => audit::daily(a),
        Command::Verify(a) => verify::run(a),
        Command::Checkpoint(a) => tlog::checkpoint(a),
        Command::Prove(a) => tlog::prove(a),
        Command::Witness(a) => tlog::witness(a),
        Command::Bench(a) => bench::run(a),
        Command::Actuals(a) => serving::actuals(a),
        Command::Shadow(a) => serving::shadow(a),
        Command::Jobs(a) => serving::jobs(a),
        Command::Serve(a) => serve::run(a),
    }
}

/// Parses `args`, runs the subcommand, prints errors, returns the exit code. A closed
/// standard output (the reader went away) ends the run quietly with exit 0.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    let json_out = args.iter().skip(1).any(|a| a == "--json");
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version: printed on standard output, exit 0.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) if json_out => {
            let text = e.render().to_string();
            let message = text.lines().next().unwrap_or("").trim_start_matches("error: ").to_string();
            output::report_failure(&Failure::new(INVALID_INPUT, message), true);
            return ExitCode::from(INVALID_INPUT);
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(INVALID_INPUT);
        }
    };
    if !(cli.wait.is_finite() && cli.wait >= 0.0) {
        let f = Failure::new(INVALID_INPUT, format!("`--wait {}` is not a number of seconds >= 0", cli.wait));
        output::report_failure(&f, json_out);
        return ExitCode::from(INVALID_INPUT);
    }
    ledger::store::set_min_free_space(cli.min_free_space.saturating_mul(1 << 20));
    ledger::store::set_lock_wait(std::time::Duration::from_secs_f64(cli.wait.min(86_400.0 * 365.0)));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| dispatch(cli.command)));
    let result = match outcome {
        Ok(r) => r,
        Err(payload) if payload.is::<output::ClosedPipe>() => return ExitCode::SUCCESS,
        Err(payload) => {
            let what = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a bug".into());
            Err(Failure::new(INTERNAL, format!("pledge stopped: {what}")))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            output::report_failure(&f, json_out);
            ExitCode::from(f.code)
        }
    }
}
