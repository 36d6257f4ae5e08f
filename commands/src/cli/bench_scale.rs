//! `pledge bench`'s scale figures, on the review desk's team ledger of `--scale-events` events
//! (written afresh, or kept in `--scale-ledger DIR` and reused by later runs): its bytes on
//! disk, a rebuild of the read models from genesis (its time, and its own peak memory beside
//! what the process held before it), the snapshot of the state (encoding,
//! size, decoding), and real `pledge` commands run as child processes of this binary, each
//! timed from spawn to exit with its peak resident memory: `pledge champion` with no snapshot
//! (a fold from genesis, which writes one), then again from the snapshot (the figure a user
//! waits for), `pledge timeline --as-of` just after the snapshot and halfway through the
//! ledger (where no snapshot is near), and `pledge log --kind`; the same timelines asked of
//! `pledge serve`'s API on the ledger; `pledge verify`; and last a write command, `pledge
//! hypothesis propose`, each followed by the read after it; and event queries of up to 500
//! events through the indexes, in process.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use ledger::canonical::SystemClock;
use ledger::Ledger;
use projections::replay::{self, AsOf};
use serde_json::{json, Value};

use crate::app::failure::Failure;
use crate::domain::PledgeDomain;

/// The goal for a read command's start on a large ledger, in milliseconds.
pub const START_GOAL_MS: f64 = 100.0;
/// The goal for a read command's peak memory, in bytes.
pub const MEMORY_GOAL_BYTES: u64 = 200 * 1024 * 1024;
const RUNS: usize = 5;
/// Requests of each kind to the served API, after a first.
const LOADS: usize = 30;

/// One run of `pledge ARGS` against `ledger`: (seconds from spawn to exit, peak resident bytes).
fn child(ledger: &Path, args: &[&str]) -> Result<(f64, u64), Failure> {
    let exe = std::env::current_exe().map_err(Failure::internal)?;
    // This process's stores are closed, but sled lets go of a large one's lock late; the time
    // measured is the child's, not that wait.
    ledger::store::wait_until_unlocked(ledger, std::time::Duration::from_secs(600))?;
    let started = Instant::now();
    let out = Command::new(exe)
        .args(args)
        .arg("--json")
        .env("PLEDGE_LEDGER", ledger)
        .env("PLEDGE_REPORT_PEAK_MEMORY", "1")
        .env_remove("PLEDGE_SERVER")
        .output()
        .map_err(Failure::internal)?;
    let secs = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(Failure::internal(anyhow::anyhow!("`pledge {}` failed: {stderr}", args.join(" "))));
    }
    let kib = stderr
        .lines()
        .find_map(|l| l.strip_prefix("pledge: peak resident memory "))
        .and_then(|v| v.trim_end_matches(" kB").trim().parse::<u64>().ok())
        .unwrap_or(0);
    Ok((secs, kib * 1024))
}

/// Medians of [`RUNS`] runs: `{"ms": .., "peak_bytes": ..}` (peak: the largest).
fn repeated(ledger: &Path, args: &[&str]) -> Result<Value, Failure> {
    let mut times = vec![];
    let mut peak = 0;
    for _ in 0..RUNS {
        let (secs, bytes) = child(ledger, args)?;
        times.push(secs * 1e3);
        peak = peak.max(bytes);
    }
    Ok(median(times, peak))
}

/// The median of `times` (milliseconds) beside the peak memory.
fn median(mut times: Vec<f64>, peak: u64) -> Value {
    times.sort_by(f64::total_cmp);
    json!({"ms": times[times.len() / 2], "peak_bytes": peak})
}

/// A write command: `pledge hypothesis propose` signed by the bench's scientist, a new
/// hypothesis each run, then the read a user makes next, `pledge champion`: [`RUNS`] rounds,
/// medians as [`repeated`] gives them. On a ledger of 2,000 events or more, a write opens the
/// ledger from the bench's snapshot and folds the writes before it; the read after it finds
/// no snapshot at the new head, so it restores the bench's snapshot on demand, folds the
/// writes' events and answers from that snapshot's serving tables and the blocks of the model
/// they touched (`app::backend::ask_since_snapshot`), writing no snapshot. It runs last, since
/// it moves the head past the snapshot the reads above use.
fn writes(ledger: &Path) -> Result<(Value, Value), Failure> {
    let home = ledger.parent().unwrap_or(ledger).join("home");
    let home = home.to_string_lossy();
    let stamp = chrono::Utc::now().timestamp_micros();
    let (mut writes, mut reads, mut write_peak, mut read_peak) = (vec![], vec![], 0, 0);
    for i in 0..RUNS {
        let id = format!("H-bench-{stamp}-{i}");
        let args = [
            "hypothesis",
            "propose",
            &id,
            "model-0",
            "--statement",
            "the bench's write",
            "--change-type",
            "feature",
            "--target-metric",
            "mae",
            "--expected-improvement",
            "1",
            "--owner",
            "maya",
            "--as",
            "maya",
            "--home",
            &home,
        ];
        let (secs, bytes) = child(ledger, &args)?;
        writes.push(secs * 1e3);
        write_peak = write_peak.max(bytes);
        let (secs, bytes) = child(ledger, &["champion", "model-0"])?;
        reads.push(secs * 1e3);
        read_peak = read_peak.max(bytes);
    }
    Ok((median(writes, write_peak), median(reads, read_peak)))
}

/// Event queries answering up to 500 events each, in process on the open store: the median
/// of [`RUNS`] runs in milliseconds, and how many events each answered.
fn event_queries(store: &ledger::Store, trust: &ledger::TrustState) -> Result<Value, Failure> {
    use projections::query::EventFilter;
    let mid = store.get(store.len() / 2)?.map(|e| e.event.recorded_at);
    let kind = |k: &str| EventFilter { kind: Some(k.into()), ..EventFilter::default() };
    let cases = [
        ("backtests_first", kind("backtest.recorded"), false),
        ("champion_moves_last", kind("champion.changed"), true),
        ("actor_last", EventFilter { actor: Some("root".into()), ..EventFilter::default() }, true),
        ("since_first", EventFilter { since: mid, ..EventFilter::default() }, false),
    ];
    let mut out = serde_json::Map::new();
    for (name, filter, last) in cases {
        let mut times = vec![];
        let mut answered = 0;
        for _ in 0..RUNS {
            let t = Instant::now();
            answered = if last {
                filter.last(store, store, trust, None, 500)?.len()
            } else {
                filter.page(store, store, trust, None, 500)?.0.len()
            };
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        out.insert(name.into(), json!({"ms": times[RUNS / 2], "events": answered}));
    }
    Ok(Value::Object(out))
}

/// Timeline requests to `pledge serve`'s API on the ledger, which answers from its read models
/// in memory: as of the head and as of halfway through the ledger, each [`LOADS`] times after a
/// first, over one loopback connection; the median and p99 in milliseconds, beside the same
/// server's smallest route (the floor).
fn served_timelines(ledger: &Path, n: u64) -> Result<Value, Failure> {
    let served = super::bench::Served::start(ledger, crate::api::Options::default())?;
    let get = |path: &str| served.get(path).map(|(ms, _)| ms);
    let timed = |path: &str| -> Result<Value, Failure> {
        get(path)?;
        let mut times = (0..LOADS).map(|_| get(path)).collect::<Result<Vec<f64>, Failure>>()?;
        times.sort_by(f64::total_cmp);
        Ok(json!({"p50_ms": times[LOADS / 2], "p99_ms": times[(LOADS * 99 / 100).min(LOADS - 1)]}))
    };
    let out = json!({
        "loads": LOADS,
        "floor": timed("/api/v1/ready")?,
        "head": timed("/api/v1/models/model-0/timeline")?,
        "middle": timed(&format!("/api/v1/models/model-0/timeline?as_of={}", n / 2))?,
    });
    served.stop();
    Ok(out)
}

/// Runs the scale figures.
pub fn run(dir: &Path, events: usize, keep: Option<&Path>) -> Result<Value, Failure> {
    let ledger_dir = match keep {
        Some(k) if k.join("ledger").join("db").exists() => k.join("ledger"),
        Some(k) => super::bench_desk::write_ledger(k, events)?,
        None => super::bench_desk::write_ledger(dir, events)?,
    };
    let snapshots = ledger::snapshot::dir_of(&ledger_dir);
    let _ = std::fs::remove_dir_all(&snapshots);
    let (n, disk) = {
        let store = ledger::Store::open(&ledger_dir)?;
        (store.len(), ledger::bench::dir_bytes(&ledger_dir))
    };

    // A child process with no snapshot: a fold from genesis (it writes one when the ledger
    // has at least `snapshot::EVERY` events).
    let (cold_secs, cold_peak) = child(&ledger_dir, &["champion", "model-0"])?;

    // In process: a rebuild from genesis, the snapshot of its state, and event queries
    // through the indexes (what `GET /api/v1/events` and `pledge log` run once open).
    let (
        (rebuild_secs, rebuild_memory),
        encode_secs,
        decode_secs,
        (snapshot_bytes, index_bytes),
        queries,
        limits,
        middle_hash,
    ) = {
        let l = Ledger::open(&ledger_dir, std::sync::Arc::new(SystemClock), PledgeDomain::default())?;
        let queries = event_queries(l.store(), l.trust())?;
        let (sample, middle_hash) =
            l.store().get(n / 2)?.map(|e| (e.bytes, e.hash.to_string())).unwrap_or_default();
        let limits = ledger::bench::limits(&sample);
        // The rebuild's own peak: the resident memory before it (this process holds the
        // ledger opened above) and the highest during it.
        let resident_before = ledger::bench::resident_bytes();
        let peak_reset = ledger::bench::reset_peak_resident();
        let t = Instant::now();
        let state = replay::rebuild(l.store(), AsOf::Head)?;
        let rebuild_secs = t.elapsed().as_secs_f64();
        let rebuild_memory = json!({
            "resident_before_bytes": resident_before,
            "peak_bytes": ledger::bench::peak_resident_bytes(),
            "peak_is_the_rebuilds": peak_reset,
        });
        let t = Instant::now();
        let snap = l.snapshot().ok_or_else(|| Failure::internal(anyhow::anyhow!("no snapshot")))?;
        let bytes = snap.encode();
        let encode_secs = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let snapshot_bytes = (bytes.len(), snap.index.len());
        let back =
            ledger::snapshot::Snapshot::decode(bytes).map_err(|e| Failure::internal(anyhow::anyhow!(e)))?;
        let restored = projections::State::from_snapshot(&back.domain[..])
            .map_err(|e| Failure::internal(anyhow::anyhow!(e)))?;
        let decode_secs = t.elapsed().as_secs_f64();
        if restored != state {
            return Err(Failure::internal(anyhow::anyhow!(
                "the snapshot does not restore the rebuilt state"
            )));
        }
        // The snapshot the next children open from (a small ledger got none from the first).
        ledger::snapshot::write(&ledger_dir, &snap).map_err(Failure::internal)?;
        (
            (rebuild_secs, rebuild_memory),
            encode_secs,
            decode_secs,
            snapshot_bytes,
            queries,
            limits,
            middle_hash,
        )
    };

    let written = ledger::snapshot::list(&ledger_dir);
    let snap_seq = written.first().map(|s| s.0).unwrap_or(0);
    let warm = repeated(&ledger_dir, &["champion", "model-0"])?;
    let as_of = (snap_seq + 500).min(n.saturating_sub(1)).to_string();
    let timeline = repeated(&ledger_dir, &["timeline", "model-0", "--as-of", &as_of])?;
    let middle = (n / 2).to_string();
    let timeline_middle = repeated(&ledger_dir, &["timeline", "model-0", "--as-of", &middle])?;
    let log = repeated(&ledger_dir, &["log", "--kind", "champion.changed", "--limit", "500"])?;
    // One event: by sequence number from the journal and the event files, by hash through
    // the event index's runs as well (neither opens sled).
    let show_seq = repeated(&ledger_dir, &["show", &middle])?;
    let show_hash = repeated(&ledger_dir, &["show", &middle_hash])?;
    let served_timeline = served_timelines(&ledger_dir, n)?;
    let (verify_secs, verify_peak) = child(&ledger_dir, &["verify"])?;
    let (write, read_after_write) = writes(&ledger_dir)?;
    if keep.is_none() {
        let _ = std::fs::remove_dir_all(&ledger_dir);
    }
    Ok(json!({
        "events": n,
        "disk_bytes": disk,
        "disk_bytes_per_event": disk as f64 / n.max(1) as f64,
        "rebuild_secs": rebuild_secs,
        "rebuild_events_per_sec": n as f64 / rebuild_secs.max(1e-9),
        "rebuild_memory": rebuild_memory,
        "snapshot": {
            "seq": snap_seq,
            "bytes": snapshot_bytes,
            "index_bytes": index_bytes,
            "encode_secs": encode_secs,
            "decode_secs": decode_secs,
        },
        "event_queries_500": queries,
        "limits": limits,
        "champion_without_snapshot": {"ms": cold_secs * 1e3, "peak_bytes": cold_peak},
        "champion_from_snapshot": warm,
        "timeline_as_of_after_snapshot": timeline,
        "timeline_as_of_middle": timeline_middle,
        "log_by_kind_500": log,
        "show_by_seq": show_seq,
        "show_by_hash": show_hash,
        "served_timeline_as_of": served_timeline,
        "verify": {
            "secs": verify_secs,
            "events_per_sec": n as f64 / verify_secs.max(1e-9),
            "peak_bytes": verify_peak,
        },
        "write_hypothesis_propose": write,
        "champion_after_write": read_after_write,
        "goals": {"start_ms": START_GOAL_MS, "peak_bytes": MEMORY_GOAL_BYTES},
    }))
}

/// The scale figures as text.
pub fn render(s: &Value) -> String {
    let mib = |v: &Value| v.as_f64().unwrap_or(0.0) / 1048576.0;
    let row = |name: &str, v: &Value| {
        format!(
            "  {name:<34} {:>9.1} ms  peak {:>7.1} MiB\n",
            v["ms"].as_f64().unwrap_or(0.0),
            mib(&v["peak_bytes"])
        )
    };
    let mut out = format!(
        "scale: {} events, {:.1} MiB on disk ({:.0} bytes/event)\n  rebuild from genesis {:.2} s ({:.0} events/s), peak {:.1} MiB (resident before it {:.1} MiB)\n  snapshot at event {}: {:.1} MiB (index {:.1} KiB), encoded in {:.3} s, decoded in {:.3} s\n",
        s["events"],
        mib(&s["disk_bytes"]),
        s["disk_bytes_per_event"].as_f64().unwrap_or(0.0),
        s["rebuild_secs"].as_f64().unwrap_or(0.0),
        s["rebuild_events_per_sec"].as_f64().unwrap_or(0.0),
        mib(&s["rebuild_memory"]["peak_bytes"]),
        mib(&s["rebuild_memory"]["resident_before_bytes"]),
        s["snapshot"]["seq"],
        mib(&s["snapshot"]["bytes"]),
        s["snapshot"]["index_bytes"].as_f64().unwrap_or(0.0) / 1024.0,
        s["snapshot"]["encode_secs"].as_f64().unwrap_or(0.0),
        s["snapshot"]["decode_secs"].as_f64().unwrap_or(0.0),
    );
    for (name, q) in s["event_queries_500"].as_object().into_iter().flatten() {
        out.push_str(&format!(
            "  event query {name:<22} {:>9.2} ms  ({} events)\n",
            q["ms"].as_f64().unwrap_or(0.0),
            q["events"]
        ));
    }
    out.push_str(&row("pledge champion, no snapshot", &s["champion_without_snapshot"]));
    out.push_str(&row("pledge champion, snapshot at head", &s["champion_from_snapshot"]));
    out.push_str(&row("pledge timeline --as-of (snapshot+500)", &s["timeline_as_of_after_snapshot"]));
    out.push_str(&row("pledge timeline --as-of (middle)", &s["timeline_as_of_middle"]));
    let served = &s["served_timeline_as_of"];
    for (name, key) in [("served timeline (head)", "head"), ("served timeline --as-of (middle)", "middle")] {
        out.push_str(&format!(
            "  {name:<34} {:>9.2} ms p50  {:>7.2} ms p99  (floor {:.2} ms)\n",
            served[key]["p50_ms"].as_f64().unwrap_or(0.0),
            served[key]["p99_ms"].as_f64().unwrap_or(0.0),
            served["floor"]["p50_ms"].as_f64().unwrap_or(0.0)
        ));
    }
    out.push_str(&row("pledge log --kind champion.changed", &s["log_by_kind_500"]));
    out.push_str(&row("pledge show SEQ (no sled)", &s["show_by_seq"]));
    out.push_str(&row("pledge show HASH (event index, no sled)", &s["show_by_hash"]));
    out.push_str(&row("pledge hypothesis propose (a write)", &s["write_hypothesis_propose"]));
    out.push_str(&row("pledge champion after that write", &s["champion_after_write"]));
    out.push_str(&format!(
        "  pledge verify                      {:>9.1} s   peak {:>7.1} MiB ({:.0} events/s)\n  goals: start < {START_GOAL_MS} ms, peak < {} MiB",
        s["verify"]["secs"].as_f64().unwrap_or(0.0),
        mib(&s["verify"]["peak_bytes"]),
        s["verify"]["events_per_sec"].as_f64().unwrap_or(0.0),
        MEMORY_GOAL_BYTES / 1048576,
    ));
    out.push_str(&ledger::bench::render_limits(&s["limits"]));
    out
}
