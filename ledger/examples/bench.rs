//! Ledger benchmark: durable single appends, batched appends, full verification and scans.
//!
//! ```text
//! cargo run --release -p ledger --example bench -- [--json] [--events N] [--single N] [--batch N]
//!                                                    [--events-per-command K]
//! ```
//!
//! Everything runs in a fresh temporary directory. Commands are signed before timing starts
//! (signing happens on the client). Figures are medians or throughputs of one run; run it a few
//! times on a quiet machine before quoting them.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger::canonical::{SystemClock, Timestamp};
use ledger::dsse::Envelope;
use ledger::keys::SecretKey;
use ledger::trust::base_policy;
use ledger::{
    Command, Context, Domain, EventDraft, ExpectedHead, Ledger, RecordedEvent, Refusal, SignedCommand,
    Subject,
};
use serde_json::json;

/// Each command records `windows` events shaped like backtest windows (a training run's
/// backtest produces several).
struct Windows;

impl Domain for Windows {
    fn decide(&self, _: &Context<'_>, cmd: &SignedCommand) -> Result<Vec<EventDraft>, Refusal> {
        let b = &cmd.command.body;
        let n = b["windows"].as_u64().unwrap_or(1);
        Ok((0..n)
            .map(|w| {
                let mut payload = b.clone();
                payload["window"] = json!(w);
                EventDraft::new(
                    "backtest.window_recorded",
                    Some(Subject::segment("demand", "electronics")),
                    payload,
                )
            })
            .collect())
    }
    fn apply(&mut self, _: &RecordedEvent) {}
}

struct Args {
    json: bool,
    events: usize,
    single: usize,
    batch: usize,
    per_command: usize,
}

fn parse_args() -> Args {
    let mut a = Args { json: false, events: 100_000, single: 10_000, batch: 1_000, per_command: 1 };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut num = |name: &str| -> usize {
            it.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
                eprintln!("error: `{name}` needs a number");
                std::process::exit(2)
            })
        };
        match arg.as_str() {
            "--json" => a.json = true,
            "--events" => a.events = num("--events"),
            "--single" => a.single = num("--single"),
            "--batch" => a.batch = num("--batch").max(1),
            "--events-per-command" => a.per_command = num("--events-per-command").clamp(1, 1000),
            "-h" | "--help" => {
                println!(
                    "bench [--json] [--events N (100000)] [--single N (10000 commands)] [--batch N (1000 commands)] [--events-per-command K (1)]"
                );
                std::process::exit(0)
            }
            other => {
                eprintln!("error: unknown argument `{other}`");
                std::process::exit(2)
            }
        }
    }
    a.single = a.single.min(a.events);
    a
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

fn fdatasync_baseline(dir: &std::path::Path, n: usize) -> Vec<Duration> {
    let mut f = OpenOptions::new().create(true).append(true).open(dir.join("raw")).unwrap();
    let buf = [7u8; 512];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f.write_all(&buf).unwrap();
        f.sync_data().unwrap();
        out.push(t.elapsed());
    }
    out.sort();
    out
}

fn main() {
    let args = parse_args();
    let tmp = tempfile::tempdir().unwrap();
    let raw = fdatasync_baseline(tmp.path(), 2_000);

    let admin = SecretKey::from_seed([1; 32]);
    let service = SecretKey::from_seed([2; 32]);
    let ledger_id = uuid::Uuid::now_v7();
    let now = || Timestamp::from_datetime(chrono::Utc::now());
    let mut policy = base_policy();
    policy["permissions"]["backtest.record"] = json!(["service"]);
    let mut l = Ledger::open(tmp.path().join("ledger"), Arc::new(SystemClock), Windows).unwrap();
    let setup = [
        Command::new(ledger_id, now(), "ledger.create", json!({"admins": [{"principal": "root", "public_key": admin.public().to_string()}], "policy": policy})).sign(&admin).unwrap(),
        Command::new(ledger_id, now(), "key.enroll", json!({"principal": "scheduler", "public_key": service.public().to_string()})).sign(&admin).unwrap(),
        Command::new(ledger_id, now(), "role.grant", json!({"principal": "scheduler", "role": "service"})).sign(&admin).unwrap(),
    ];
    for env in setup {
        l.submit(env, ExpectedHead::Any).unwrap();
    }
    let k = args.per_command;
    let total = args.events.saturating_sub(3) / k;
    let sign_started = Instant::now();
    let envelopes: Vec<Envelope> = (0..total)
        .map(|i| {
            let body = json!({"version": 14, "window_start": "2026-10-01", "window_end": "2026-10-08",
                "metrics": {"mae": 12.8 + i as f64 * 1e-4, "mape": 0.1845, "coverage": 0.91}, "rows": 1_000 + i,
                "windows": k});
            Command::new(ledger_id, now(), "backtest.record", body).sign(&service).unwrap()
        })
        .collect();
    let sign_secs = sign_started.elapsed().as_secs_f64();
    let mut envelopes = envelopes.into_iter();

    let single_n = args.single.min(total);
    let mut lat = Vec::with_capacity(single_n);
    let started = Instant::now();
    for env in envelopes.by_ref().take(single_n) {
        let t = Instant::now();
        l.submit(env, ExpectedHead::Any).unwrap();
        lat.push(t.elapsed());
    }
    let single_secs = started.elapsed().as_secs_f64();
    lat.sort();

    let rest: Vec<Envelope> = envelopes.collect();
    let batched_n = rest.len();
    let started = Instant::now();
    let mut rest = rest.into_iter();
    loop {
        let chunk: Vec<Envelope> = rest.by_ref().take(args.batch).collect();
        if chunk.is_empty() {
            break;
        }
        for r in l.submit_batch(chunk).unwrap() {
            r.unwrap();
        }
    }
    let batched_secs = started.elapsed().as_secs_f64();

    let events = l.store().len();
    let started = Instant::now();
    let summary = ledger::verify_store(l.store()).unwrap();
    let verify_secs = started.elapsed().as_secs_f64();
    assert_eq!(summary.events, events);

    let started = Instant::now();
    let mut scanned = 0usize;
    for e in l.store().iter() {
        std::hint::black_box(e.unwrap().bytes.len());
        scanned += 1;
    }
    let scan_secs = started.elapsed().as_secs_f64();

    let report = json!({
        "events": events,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "raw_fdatasync": {"count": raw.len(), "p50_us": percentile(&raw, 0.5), "p99_us": percentile(&raw, 0.99)},
        "events_per_command": k,
        "single_append": {"commands": single_n, "per_sec": single_n as f64 / single_secs,
            "p50_us": percentile(&lat, 0.5), "p99_us": percentile(&lat, 0.99)},
        "batched_append": {"commands": batched_n, "batch_size": args.batch,
            "commands_per_sec": batched_n as f64 / batched_secs, "events_per_sec": (batched_n * k) as f64 / batched_secs},
        "verify": {"events": events, "events_per_sec": events as f64 / verify_secs, "commands": summary.commands},
        "scan": {"events": scanned, "events_per_sec": scanned as f64 / scan_secs},
        "client_signing": {"commands_per_sec": total as f64 / sign_secs},
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).unwrap());
    } else {
        let r = &report;
        println!("ledger bench: {events} events, {k} per command, {} cores", r["cores"]);
        println!(
            "  raw fdatasync          p50 {:>8.1} us   p99 {:>8.1} us",
            r["raw_fdatasync"]["p50_us"].as_f64().unwrap(),
            r["raw_fdatasync"]["p99_us"].as_f64().unwrap()
        );
        println!(
            "  durable single append  p50 {:>8.1} us   p99 {:>8.1} us   {:>9.0} /s",
            r["single_append"]["p50_us"].as_f64().unwrap(),
            r["single_append"]["p99_us"].as_f64().unwrap(),
            r["single_append"]["per_sec"].as_f64().unwrap()
        );
        println!(
            "  batched append ({:>4})                                  {:>9.0} events/s",
            args.batch,
            r["batched_append"]["events_per_sec"].as_f64().unwrap()
        );
        println!(
            "  verify                                                {:>9.0} events/s",
            r["verify"]["events_per_sec"].as_f64().unwrap()
        );
        println!(
            "  scan                                                  {:>9.0} events/s",
            r["scan"]["events_per_sec"].as_f64().unwrap()
        );
    }
}
