//! `pledge bench`: the ledger's figures (the same code as `cargo run -p ledger --example
//! bench`) plus end-to-end signed commands per second through the CLI's own code path.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger::canonical::{SystemClock, Timestamp};
use ledger::{Command, ExpectedHead, Ledger};
use serde_json::{json, Value};

use crate::domain::PledgeDomain;
use crate::exit::{Failure, INVALID_INPUT};
use crate::session::{self, Common};

/// Measure this machine: durable appends, group commits, verification, scans, and signed
/// commands per second through the same path as `pledge hypothesis propose`.
///
/// Everything runs in a fresh temporary directory that is removed afterwards; the ledger named
/// by `--ledger` is not touched. Figures are from one run: repeat on a quiet machine before
/// quoting them, and quote medians.
///
/// The CLI figure covers what one `pledge` invocation does after parsing its flags: open the
/// ledger (replaying its events), load the signer's key from PLEDGE_HOME, sign, decide, append
/// durably, close. It grows with the ledger, as real invocations do.
///
/// Examples:
///   pledge bench
///   pledge bench --events 100000 --json
///   pledge bench --cli-commands 500
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Events in the ledger benchmark's ledger.
    #[arg(long, default_value_t = 20_000)]
    events: usize,
    /// Commands appended one durable commit each (latency figures).
    #[arg(long, default_value_t = 2_000)]
    single: usize,
    /// Commands per group commit for the rest.
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Signed commands sent through the CLI's code path.
    #[arg(long, default_value_t = 200)]
    cli_commands: usize,
    /// Print a JSON document instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `pledge bench`.
pub fn run(args: Args) -> Result<(), Failure> {
    if args.events < 10 || args.cli_commands == 0 || args.batch == 0 {
        return Err(Failure::new(
            INVALID_INPUT,
            "--events must be at least 10, --cli-commands and --batch at least 1",
        ));
    }
    let tmp = tempfile::tempdir().map_err(Failure::internal)?;
    let cfg = ledger::bench::Config {
        events: args.events,
        single: args.single.min(args.events),
        batch: args.batch,
        per_command: 1,
    };
    std::fs::create_dir(tmp.path().join("ledger-bench")).map_err(Failure::internal)?;
    let ledger_figures = ledger::bench::run(&tmp.path().join("ledger-bench"), cfg)?;
    let cli = cli_path(&tmp.path().join("cli"), args.cli_commands)?;
    let report = json!({"ledger": ledger_figures, "cli": cli});
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).map_err(Failure::internal)?);
    } else {
        println!("{}", ledger::bench::render(&report["ledger"]));
        println!(
            "cli: {} signed commands through the CLI path\n  per command            p50 {:>8.1} us   p99 {:>8.1} us   {:>9.1} /s",
            cli["commands"],
            cli["p50_us"].as_f64().unwrap_or(0.0),
            cli["p99_us"].as_f64().unwrap_or(0.0),
            cli["commands_per_sec"].as_f64().unwrap_or(0.0)
        );
    }
    Ok(())
}

/// Signed commands through `session::submit`, one invocation's work each.
fn cli_path(dir: &std::path::Path, n: usize) -> Result<Value, Failure> {
    let common = Common {
        ledger: dir.join("ledger"),
        identity: Some("maya".into()),
        home: Some(dir.join("home")),
        json: true,
        server: None,
        read_token: None,
    };
    let home = common.home()?;
    let root = session::create_key(&home, "root")?;
    let maya = session::create_key(&home, "maya")?;
    {
        let id = uuid::Uuid::now_v7();
        let now = || Timestamp::from_datetime(chrono::Utc::now());
        let mut l = Ledger::open(&common.ledger, Arc::new(SystemClock), PledgeDomain::default())?;
        let setup = [
            (
                "ledger.create",
                json!({"admins": [{"principal": "root", "public_key": root.public().to_string()}], "policy": crate::policy::default_policy()}),
            ),
            ("key.enroll", json!({"principal": "maya", "public_key": maya.public().to_string()})),
            ("role.grant", json!({"principal": "maya", "role": "scientist"})),
        ];
        for (kind, body) in setup {
            let env = Command::new(id, now(), kind, body).sign(&root).map_err(Failure::internal)?;
            l.submit(env, ExpectedHead::Any).map_err(Failure::internal)?;
        }
    }
    let mut lat: Vec<Duration> = Vec::with_capacity(n);
    let started = Instant::now();
    for i in 0..n {
        let body = json!({"hypothesis_id": format!("H-{i}"), "model": "demand", "statement": "segment interactions cut MAE",
            "change_type": "feature", "change_summary": null, "target_metric": "mae", "expected_improvement_pct": 5.0,
            "owner": "maya", "dataset_version": null, "feature_set_version": null});
        let t = Instant::now();
        session::submit(&common, "hypothesis.propose", body)?;
        lat.push(t.elapsed());
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort();
    Ok(json!({"commands": n, "commands_per_sec": n as f64 / secs,
              "p50_us": ledger::bench::percentile_us(&lat, 0.5), "p99_us": ledger::bench::percentile_us(&lat, 0.99)}))
}
