//! `pledge demo`: plays the seed workflows on a fresh ledger (`app::demo`) and prints the
//! report.

use std::path::PathBuf;

use serde_json::Value;

use super::output::outln;
use crate::app::failure::{Failure, INTERNAL, INVALID_INPUT};

/// Run the seed workflows end to end on a fresh ledger and print how it went.
///
/// Creates a ledger (in a temporary directory unless `--ledger` names a new one) and signs
/// every command with its own ed25519 key: `root` (admin), `maya` (scientist), `colby`
/// (approver), `scheduler` (service). Shows the trust rules refusing an unenrolled key, a
/// wrong role, a swapped payload, a reused command id and four-eyes violations; plays a
/// the seed workflows on real forecasts of hourly bike demand (2011), trained and judged by the
/// built-in trainer: a baseline bootstrapped, a scheduled retrain with demand lags promoted by
/// policy (MAE and MAPE at least 5% better on the same rows), next week's retrain that misses
/// the margin, an external run judged by the same gates, a drift check (7 days against 30)
/// whose critical alert approves a retrain on the last 30 days, and an experiment (one model
/// per working/non-working day) shadow-tested on the following weeks and adopted where it won;
/// then a tip classifier on taxi.csv; exports and verifies the ledger and a tampered copy;
/// ends with the routing table and the timeline of how the current champions got there.
///
/// With `--ledger DIR --home DIR` the ledger and the team's private keys are kept, so you can
/// go on working on the demo's ledger as any of them (`--as colby`).
///
/// Examples:
///   pledge demo
///   pledge demo --ledger ./demo-ledger --home ./demo-keys
///   PLEDGE_LEDGER=./demo-ledger PLEDGE_HOME=./demo-keys pledge alerts list
///   pledge demo --json | jq .timeline
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Create the ledger here (must not exist yet) and keep it; default: a temporary directory.
    #[arg(long, value_name = "PATH")]
    pub ledger: Option<PathBuf>,
    /// Keep the team's private keys here (`keys/NAME.key`, as `pledge keys` keeps them); needs
    /// `--ledger`.
    #[arg(long, value_name = "DIR", requires = "ledger")]
    pub home: Option<PathBuf>,
    /// Print a JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `pledge demo`.
pub fn run(args: Args) -> Result<(), Failure> {
    let tmp = tempfile::tempdir().map_err(internal)?;
    let dir = match &args.ledger {
        Some(p) if p.exists() => {
            return Err(Failure::new(INVALID_INPUT, format!("`{}` already exists", p.display())).hint(
                "the demo creates a new ledger; name a path that does not exist yet, or omit --ledger",
            ))
        }
        Some(p) => p.clone(),
        None => tmp.path().join("ledger"),
    };
    if let Some(home) = &args.home {
        let taken: Vec<String> = crate::app::keystore::list(home)
            .into_iter()
            .filter(|k| ["root", "maya", "colby", "scheduler", "mallory"].contains(&k.as_str()))
            .collect();
        if !taken.is_empty() {
            return Err(Failure::new(
                INVALID_INPUT,
                format!("`{}` already holds keys named {}", home.display(), taken.join(", ")),
            )
            .hint("keys are never overwritten; name an empty --home"));
        }
    }
    let report = crate::app::demo::play(&dir, tmp.path(), args.home.as_deref())?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report).map_err(internal)?);
    } else {
        print_human(&report, args.ledger.is_none(), args.home.as_deref());
    }
    Ok(())
}

fn internal(e: impl std::fmt::Display) -> Failure {
    Failure::new(INTERNAL, e.to_string())
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn f(v: &Value) -> String {
    v.as_f64().map_or("-".into(), |x| format!("{x:.2}"))
}

/// `MAE x, MAPE y, coverage z` of a `figures` object.
fn figures(v: &Value) -> String {
    format!("MAE {}, MAPE {}, coverage {}", f(&v["mae"]), f(&v["mape"]), f(&v["coverage"]))
}

/// One run's candidates with their figures and what the gates said.
fn print_run(run: &Value) {
    outln!(
        "  {} (by {}, {}, data through {}): {}",
        s(&run["run_id"]),
        s(&run["by"]),
        s(&run["trigger"]),
        s(&run["data_through"]),
        s(&run["recipe"])
    );
    outln!("    {}", s(&run["split"]));
    for m in run["models"].as_array().into_iter().flatten() {
        let champ = &m["champion"];
        let against = if champ.is_null() {
            String::new()
        } else {
            format!("; champion v{} on the same rows: {}", champ["version"], figures(&champ["figures"]))
        };
        let segment = m["segment"].as_str().map_or("global".into(), |x| format!("workingday={x}"));
        outln!("    {segment} v{}: {}{against}", m["version"], figures(&m["figures"]));
    }
    print_judged(&run["judged"]);
}

fn print_judged(judged: &Value) {
    for j in judged.as_array().into_iter().flatten() {
        if let Some(c) = j.get("champion_changed") {
            let from = c["from"].as_u64().map_or("(none)".into(), |v| format!("v{v}"));
            outln!("    -> champion {from} -> v{} ({})", c["to"], s(&c["cause"]));
            continue;
        }
        let gates: Vec<String> = j["gates"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|g| {
                format!(
                    "{} {} vs {} (needs {}) {}",
                    s(&g["metric"]),
                    f(&g["candidate"]),
                    f(&g["champion"]),
                    f(&g["threshold"]),
                    if g["passed"] == true { "ok" } else { "FAIL" }
                )
            })
            .collect();
        outln!(
            "    gates v{} vs v{}: {} -> {}",
            j["candidate"],
            j["champion"],
            gates.join(", "),
            if j["passed"] == true { "passed" } else { "failed" }
        );
    }
}

/// Workflows 1-3: the forecasts and the figures behind each decision.
fn print_forecasts(fc: &Value) {
    outln!();
    outln!("== workflows 1-3 in figures: `{}` on {}", s(&fc["model"]), s(&fc["data"]));
    outln!("-- 1. scheduled retrain");
    for run in fc["scheduled"]["runs"].as_array().into_iter().flatten() {
        print_run(run);
    }
    let ex = &fc["scheduled"]["external"];
    outln!(
        "  {} [{}], v{}: {} on {} rows; champion v{} on the same rows: {}",
        s(&ex["label"]),
        s(&ex["trainer"]),
        ex["version"],
        figures(&ex["figures"]),
        ex["rows"],
        ex["champion"]["version"],
        figures(&ex["champion"]["figures"])
    );
    print_judged(&ex["judged"]);
    let dr = &fc["drift"];
    let c = &dr["checked"];
    let mut psi: Vec<(&String, f64)> =
        c["psi"].as_object().into_iter().flatten().map(|(k, v)| (k, v.as_f64().unwrap_or(0.0))).collect();
    psi.sort_by(|a, b| b.1.total_cmp(&a.1));
    let psi: Vec<String> = psi.iter().take(4).map(|(k, v)| format!("{k} {v:.2}")).collect();
    outln!("-- 2. drift");
    outln!(
        "  champion v{}, {}: MAE {} -> {} ({:+.1}%), alert {}; largest PSI: {}",
        c["version"],
        s(&c["compared"]),
        f(&c["baseline"]),
        f(&c["recent"]),
        c["drift_pct"].as_f64().unwrap_or(0.0),
        s(&c["alert"]),
        psi.join(", ")
    );
    print_run(&dr["retrain"]);
    print_judged(&dr["approved"]);
    let x = &fc["experiment"];
    outln!("-- 3. experiment {}", s(&x["hypothesis"]));
    print_run(&x["run"]);
    for w in x["shadow"].as_array().into_iter().flatten() {
        outln!(
            "  shadow {}..{} workingday={}: champion v{} MAE {}, experiment v{} MAE {} ({} rows)",
            s(&w["days"][0]),
            s(&w["days"][1]),
            s(&w["segment"]),
            w["champion"],
            f(&w["champion_mae"]),
            w["challenger"],
            f(&w["challenger_mae"]),
            w["rows"]
        );
    }
    let adopted: Vec<&str> =
        x["adopted"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    outln!(
        "  decision: {}, adopted where it won every window: workingday {}",
        s(&x["decision"]),
        if adopted.is_empty() { "none".into() } else { adopted.join(", ") }
    );
    print_judged(&x["completed"]);
}

fn print_human(r: &Value, temporary: bool, home: Option<&std::path::Path>) {
    outln!("Pledge demo: ledger {} at {}", s(&r["ledger_id"]), s(&r["ledger"]));
    let mut last = "";
    for step in r["steps"].as_array().into_iter().flatten() {
        let wf = s(&step["workflow"]);
        if wf != last {
            outln!();
            outln!(
                "== {}",
                match wf {
                    "setup" => "setup: genesis, keys and roles",
                    "scheduled" => "workflow 1: scheduled retrain",
                    "drift" => "workflow 2: drift-triggered retrain",
                    "real" => "workflow 4: real data (taxi.csv) through the built-in trainer",
                    _ => "workflow 3: hypothesis-driven experiment",
                }
            );
            last = wf;
        }
        // Backtest windows are many: one line for each run of them.
        let events: Vec<&Value> = step["events"].as_array().into_iter().flatten().collect();
        let mut i = 0;
        while i < events.len() {
            let e = events[i];
            let run = events[i..].iter().take_while(|x| x["kind"] == "backtest.recorded").count();
            if run > 1 {
                let last = events[i + run - 1];
                outln!(
                    "  #{:<3} {:<10} {} backtest windows recorded (#{}..#{})",
                    e["seq"].as_u64().unwrap_or(0),
                    s(&step["by"]),
                    run,
                    e["seq"].as_u64().unwrap_or(0),
                    last["seq"].as_u64().unwrap_or(0)
                );
                i += run;
                continue;
            }
            outln!("  #{:<3} {:<10} {}", e["seq"].as_u64().unwrap_or(0), s(&step["by"]), s(&e["summary"]));
            i += 1;
        }
    }
    outln!();
    outln!("== refused (nothing written)");
    for x in r["refusals"].as_array().into_iter().flatten() {
        outln!("  - {}: rule `{}`: {}", s(&x["attempt"]), s(&x["rule"]), s(&x["message"]));
    }
    let rs = &r["idempotent_resend"];
    outln!(
        "  - an earlier command resent: duplicate={}, same events {}, head unchanged={}",
        rs["duplicate"],
        rs["events"],
        rs["head_unchanged"]
    );
    print_forecasts(&r["forecasts"]);
    outln!();
    outln!("== routing for `demand` (segment = the data's `workingday`)");
    for x in r["routing"].as_array().into_iter().flatten() {
        let seg = x["segment"].as_str().unwrap_or("(global)");
        let via = if x["own_champion"] == true { "own champion" } else { "global champion" };
        outln!("  {seg:<12} -> v{} ({via})", x["version"]);
    }
    outln!();
    outln!("== alerts");
    let mut degraded = 0;
    for a in r["alerts"].as_array().into_iter().flatten() {
        if a["type"] == "backtest_degradation" {
            degraded += 1;
            continue;
        }
        outln!(
            "  {} {:<8} {:<22} {:<9} {}",
            s(&a["id"]),
            s(&a["severity"]),
            s(&a["type"]),
            s(&a["status"]),
            s(&a["message"])
        );
    }
    if degraded > 0 {
        outln!("  and {degraded} backtest_degradation warnings (a weekly window more than 15% worse than its run's test figure)");
    }
    let segment_title =
        format!("how `demand` / workingday={} got its champion (timeline)", s(&r["timeline"]["segment"]));
    for (title, key) in [
        ("how `demand` got its global champion (timeline)", "timeline_global"),
        (segment_title.as_str(), "timeline"),
    ] {
        outln!();
        outln!("== {title}");
        for e in r[key]["entries"].as_array().into_iter().flatten() {
            let pv = e["policy_version"].as_u64().map(|v| format!(" [policy v{v}]")).unwrap_or_default();
            let at = s(&e["recorded_at"]);
            outln!(
                "  #{:<3} {}  {:<10} {}{}",
                e["seq"].as_u64().unwrap_or(0),
                &at[..19.min(at.len())],
                e["actor"].as_str().unwrap_or("-"),
                s(&e["summary"]),
                pv
            );
        }
    }
    let real = &r["real_data"];
    outln!();
    outln!(
        "== `{}` on real data (champion v{}, artifact {})",
        s(&real["model"]),
        real["champion"],
        s(&real["artifact"])
    );
    for run in real["runs"].as_array().into_iter().flatten() {
        outln!(
            "  {:<17} {}: roc_auc {:.4}, log_loss {:.4}, {} model(s)",
            s(&run["strategy"]),
            s(&run["split"]),
            run["roc_auc"].as_f64().unwrap_or(f64::NAN),
            run["log_loss"].as_f64().unwrap_or(f64::NAN),
            run["models"].as_array().map_or(0, Vec::len)
        );
        let windows: Vec<String> = run["backtest"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|w| format!("{} {:.3}", s(&w["window"]), w["roc_auc"].as_f64().unwrap_or(f64::NAN)))
            .collect();
        outln!("  {:<17} walk-forward roc_auc: {}", "", windows.join(", "));
        for j in run["judged"].as_array().into_iter().flatten() {
            let gates: Vec<String> = j["gates"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|g| {
                    format!(
                        "{} {:.4} vs {:.4} {}",
                        s(&g["metric"]),
                        g["candidate"].as_f64().unwrap_or(f64::NAN),
                        g["champion"].as_f64().unwrap_or(f64::NAN),
                        if g["passed"] == true { "ok" } else { "FAIL" }
                    )
                })
                .collect();
            outln!(
                "  {:<17} {} v{} vs champion v{} ({}): {}; gates {}",
                "",
                j["segment"].as_str().map_or("global".to_string(), |x| format!("segment {x}")),
                j["candidate"],
                j["champion"],
                if j["evidence"] == "baseline" { "both on the same test rows" } else { "recorded metrics" },
                gates.join(", "),
                if j["passed"] == true { "passed" } else { "failed" }
            );
        }
    }
    let dr = &real["drift"];
    let psi: Vec<String> = dr["psi"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k} {:.4}", v.as_f64().unwrap_or(0.0)))
        .collect();
    outln!(
        "  drift Jan..Mar -> Apr: log_loss {:.4} -> {:.4}; psi {}",
        dr["baseline"].as_f64().unwrap_or(0.0),
        dr["recent"].as_f64().unwrap_or(0.0),
        psi.join(", ")
    );
    for p in real["predictions"].as_array().into_iter().flatten() {
        outln!("  April row {}: p(tip) = {:.4}", p["row"], p["probability"].as_f64().unwrap_or(0.0));
    }
    outln!();
    let v = &r["verify"]["ledger"];
    outln!("== verify");
    outln!(
        "  ledger: ok, {} events, {} signed commands checked, every derived event re-derived",
        v["events"],
        v["commands"]
    );
    outln!("  export: ok, {} events in {}", r["verify"]["export"]["events"], s(&r["export"]["path"]));
    let t = &r["tamper_check"];
    outln!(
        "  tampered export (one byte flipped in line {}): detected at event {}",
        t["flipped_line_index"],
        t["result"]["seq"]
    );
    let f = &r["forgery_check"]["failure"];
    outln!(
        "  forged export (a gate value halved in event {}, every hash, link and the manifest recomputed):\n    detected at event {}: `{}` is {} in the ledger, {} when re-derived from the signed run",
        r["forgery_check"]["forged_event"],
        f["seq"],
        s(&f["mismatch"]["member"]),
        f["mismatch"]["recorded"],
        f["mismatch"]["derived"]
    );
    if temporary {
        outln!();
        outln!("(the ledger was in a temporary directory and is gone; keep one with `pledge demo --ledger PATH --home KEYS`)");
    } else if let Some(h) = home {
        outln!();
        outln!(
            "(the team's keys are in {}: PLEDGE_LEDGER={} PLEDGE_HOME={} pledge alerts list)",
            h.display(),
            s(&r["ledger"]),
            h.display()
        );
    }
}
