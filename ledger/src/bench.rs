//! The ledger benchmark, shared by `cargo run -p ledger --example bench` and `pledge bench`:
//! durable single appends (against a raw `fdatasync` on the same disk), batched appends, full
//! verification and scans, in a directory the caller provides.
//!
//! Commands are signed before timing starts (signing happens on the client). Figures are
//! medians or throughputs of one run; run it a few times on a quiet machine before quoting them.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::canonical::{SystemClock, Timestamp};
use crate::dsse::Envelope;
use crate::keys::SecretKey;
use crate::trust::base_policy;
use crate::{
    Command, Context, Domain, DraftCause, EventDraft, ExpectedHead, Ledger, RecordedEvent, Refusal,
    SignedCommand, StoreError, Subject,
};

/// What to measure.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Events in the ledger at the end (setup included).
    pub events: usize,
    /// Commands appended one durable commit each (latency figures).
    pub single: usize,
    /// Commands per group commit for the rest.
    pub batch: usize,
    /// Events each command produces (1..=1000).
    pub per_command: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config { events: 100_000, single: 10_000, batch: 1_000, per_command: 1 }
    }
}

/// Each command records `windows` events shaped like backtest windows (a training run's
/// backtest produces several): a run whose later events are caused by its first.
#[derive(Clone)]
struct Windows;

impl Domain for Windows {
    fn decide(&self, _: &Context<'_>, cmd: &SignedCommand) -> Result<Vec<EventDraft>, Refusal> {
        let b = &cmd.command().body;
        let n = b["windows"].as_u64().unwrap_or(1);
        Ok((0..n)
            .map(|w| {
                let mut payload = b.clone();
                payload["window"] = json!(w);
                let mut d = EventDraft::new(
                    "backtest.window_recorded",
                    Some(Subject::segment("demand", "electronics")),
                    payload,
                );
                if w > 0 {
                    d.cause = DraftCause::EarlierDraft(0);
                }
                d
            })
            .collect())
    }
    fn apply(&mut self, _: &RecordedEvent) -> Result<(), String> {
        Ok(())
    }
}

/// This process's peak resident memory in bytes (`VmHWM` of `/proc/self/status`), since it
/// started or since [`reset_peak_resident`]; `None` where the system has no such file.
pub fn peak_resident_bytes() -> Option<u64> {
    status_bytes("VmHWM:")
}

/// This process's resident memory now, in bytes (`VmRSS`); `None` as for
/// [`peak_resident_bytes`].
pub fn resident_bytes() -> Option<u64> {
    status_bytes("VmRSS:")
}

/// Starts [`peak_resident_bytes`] again from the resident memory now (Linux: `5` written to
/// `/proc/self/clear_refs`), so that a step's own peak can be read after it. False where that
/// cannot be done: the peak then covers the whole process.
pub fn reset_peak_resident() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The bytes of the files under `p`, recursively (what a ledger directory takes on disk).
pub fn dir_bytes(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = status.lines().find_map(|l| l.strip_prefix(field))?.trim().trim_end_matches("kB").trim();
    kib.parse::<u64>().ok().map(|k| k * 1024)
}

/// The `p` quantile of sorted durations, in microseconds.
pub fn percentile_us(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

fn fdatasync_baseline(dir: &Path, n: usize) -> std::io::Result<Vec<Duration>> {
    let mut f = OpenOptions::new().create(true).append(true).open(dir.join("raw"))?;
    let buf = [7u8; 512];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f.write_all(&buf)?;
        f.sync_data()?;
        out.push(t.elapsed());
    }
    out.sort();
    Ok(out)
}

fn expect<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::Encoding(format!("bench: {what}: {e}")))
}

/// Runs the benchmark in `dir` (which should be empty; the ledger goes in `dir/ledger`) and
/// returns the figures as a JSON document (see the README's Benchmarks section).
pub fn run(dir: &Path, cfg: Config) -> Result<Value, StoreError> {
    let per_command = cfg.per_command.clamp(1, 1000);
    let batch = cfg.batch.max(1);
    let raw = fdatasync_baseline(dir, 2_000)?;

    let admin = SecretKey::from_seed([1; 32]);
    let service = SecretKey::from_seed([2; 32]);
    let ledger_id = uuid::Uuid::now_v7();
    let now = || Timestamp::from_datetime(chrono::Utc::now());
    let mut policy = base_policy();
    policy["permissions"]["backtest.record"] = json!(["service"]);
    let mut l = Ledger::open(dir.join("ledger"), Arc::new(SystemClock), Windows)?;
    let setup = [
        Command::new(ledger_id, now(), "ledger.create", json!({"admins": [{"principal": "root", "public_key": admin.public().to_string()}], "policy": policy})).sign(&admin),
        Command::new(ledger_id, now(), "key.enroll", json!({"principal": "scheduler", "public_key": service.public().to_string()})).sign(&admin),
        Command::new(ledger_id, now(), "role.grant", json!({"principal": "scheduler", "role": "service"})).sign(&admin),
    ];
    for env in setup {
        expect(l.submit(expect(env, "signing")?, ExpectedHead::Any), "setup")?;
    }
    let total = cfg.events.saturating_sub(3) / per_command;
    let sign_started = Instant::now();
    let envelopes: Vec<Envelope> = (0..total)
        .map(|i| {
            let body = json!({"version": 14, "window_start": "2026-10-01", "window_end": "2026-10-08",
                "metrics": {"mae": 12.8 + i as f64 * 1e-4, "mape": 0.1845, "coverage": 0.91}, "rows": 1_000 + i,
                "windows": per_command});
            expect(Command::new(ledger_id, now(), "backtest.record", body).sign(&service), "signing")
        })
        .collect::<Result<_, _>>()?;
    let sign_secs = sign_started.elapsed().as_secs_f64();
    let mut envelopes = envelopes.into_iter();

    let single_n = cfg.single.min(total);
    let mut lat = Vec::with_capacity(single_n);
    let started = Instant::now();
    for env in envelopes.by_ref().take(single_n) {
        let t = Instant::now();
        expect(l.submit(env, ExpectedHead::Any), "single append")?;
        lat.push(t.elapsed());
    }
    let single_secs = started.elapsed().as_secs_f64();
    lat.sort();

    let rest: Vec<Envelope> = envelopes.collect();
    let batched_n = rest.len();
    let started = Instant::now();
    let mut rest = rest.into_iter();
    loop {
        let chunk: Vec<Envelope> = rest.by_ref().take(batch).collect();
        if chunk.is_empty() {
            break;
        }
        for r in l.submit_batch(chunk)? {
            expect(r, "batched append")?;
        }
    }
    let batched_secs = started.elapsed().as_secs_f64();

    let events = l.store().len();
    let started = Instant::now();
    let summary = expect(crate::verify_store(l.store(), crate::Verifier::with_domain(Windows)), "verify")?;
    let verify_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let shape_only = crate::Verifier::with_domain(Windows).without_rederivation();
    expect(crate::verify_store(l.store(), shape_only), "verify without re-derivation")?;
    let verify_without_secs = started.elapsed().as_secs_f64();

    let tree = tree_figures(&l)?;

    let started = Instant::now();
    let mut scanned = 0usize;
    for e in l.store().iter() {
        std::hint::black_box(e?.bytes.len());
        scanned += 1;
    }
    let scan_secs = started.elapsed().as_secs_f64();

    let sample = l.store().get(events / 2)?.map(|e| e.bytes).unwrap_or_default();
    Ok(json!({
        "events": events,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "limits": limits(&sample),
        "raw_fdatasync": {"count": raw.len(), "p50_us": percentile_us(&raw, 0.5), "p99_us": percentile_us(&raw, 0.99)},
        "events_per_command": per_command,
        "single_append": {"commands": single_n, "per_sec": single_n as f64 / single_secs,
            "p50_us": percentile_us(&lat, 0.5), "p99_us": percentile_us(&lat, 0.99)},
        "batched_append": {"commands": batched_n, "batch_size": batch,
            "commands_per_sec": batched_n as f64 / batched_secs, "events_per_sec": (batched_n * per_command) as f64 / batched_secs},
        "verify": {"events": summary.events, "events_per_sec": summary.events as f64 / verify_secs, "commands": summary.commands,
            "without_rederivation_events_per_sec": summary.events as f64 / verify_without_secs},
        "scan": {"events": scanned, "events_per_sec": scanned as f64 / scan_secs},
        "tree": tree,
        "client_signing": {"commands_per_sec": total as f64 / sign_secs},
    }))
}

/// The machine's own limits, measured in the same run as the figures beside them: strict
/// ed25519 verifications per second on one core, blake3 throughput on one core, and how fast
/// one core parses a typical event's canonical JSON into a value.
pub fn limits(sample_event: &[u8]) -> Value {
    let key = SecretKey::from_seed([7; 32]);
    let msg = sample_event;
    let sig = key.sign(msg);
    let public = key.public();
    let n = 2_000;
    let t = Instant::now();
    for _ in 0..n {
        assert!(public.verify_strict(std::hint::black_box(msg), &sig));
    }
    let ed25519 = n as f64 / t.elapsed().as_secs_f64();
    let buf = vec![0x5au8; 64 << 20];
    let t = Instant::now();
    std::hint::black_box(blake3::hash(&buf));
    let blake3_mb = buf.len() as f64 / 1e6 / t.elapsed().as_secs_f64();
    let reps = 20_000;
    let t = Instant::now();
    for _ in 0..reps {
        let v: Value =
            serde_json::from_slice(std::hint::black_box(sample_event)).expect("the sample event parses");
        std::hint::black_box(v);
    }
    let json_secs = t.elapsed().as_secs_f64();
    json!({
        "ed25519_verify_strict_per_sec_one_core": ed25519,
        "blake3_mb_per_sec_one_core": blake3_mb,
        "json_decode_events_per_sec_one_core": reps as f64 / json_secs,
        "json_decode_mb_per_sec_one_core": (reps * sample_event.len()) as f64 / 1e6 / json_secs,
        "sample_event_bytes": sample_event.len(),
    })
}

/// The Merkle tree's costs: what maintaining it adds per appended event (its leaf and node
/// hashes, measured alone over the stored events), and inclusion and consistency proofs
/// (generation from the store's nodes, verification, size) at the store's size and at a
/// million leaves (from nodes in memory).
fn tree_figures<D: Domain>(l: &Ledger<D>) -> Result<Value, StoreError> {
    use crate::merkle::{self, CompactRange, MemoryTree};
    let store = l.store();
    let events: Vec<Vec<u8>> = store.iter().map(|e| e.map(|e| e.bytes)).collect::<Result<_, _>>()?;
    let started = Instant::now();
    let mut range = CompactRange::default();
    let mut nodes = 0usize;
    for bytes in &events {
        nodes += range.push(merkle::leaf_hash(bytes)).len();
    }
    let per_event_us = started.elapsed().as_secs_f64() * 1e6 / events.len().max(1) as f64;
    std::hint::black_box(nodes);
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |bound: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % bound.max(1)
    };
    let size = store.len();
    let proofs = |nodes: &dyn Fn(u8, u64) -> Result<merkle::Hash, String>,
                  size: u64,
                  next: &mut dyn FnMut(u64) -> u64|
     -> Result<Value, String> {
        struct N<'a>(&'a dyn Fn(u8, u64) -> Result<merkle::Hash, String>);
        impl merkle::Nodes for N<'_> {
            fn node(&self, level: u8, index: u64) -> Result<merkle::Hash, String> {
                (self.0)(level, index)
            }
        }
        let n = N(nodes);
        let root = merkle::root(&n, size)?;
        let (mut gen_i, mut ver_i, mut gen_c, mut ver_c) = (vec![], vec![], vec![], vec![]);
        let (mut bytes_i, mut bytes_c) = (0usize, 0usize);
        for _ in 0..500 {
            let index = next(size);
            let old = 1 + next(size);
            let t = Instant::now();
            let p = merkle::inclusion_proof(&n, index, size)?;
            gen_i.push(t.elapsed());
            let leaf = merkle::Nodes::node(&n, 0, index)?;
            let t = Instant::now();
            merkle::verify_inclusion(index, size, &leaf, &p, &root)?;
            ver_i.push(t.elapsed());
            bytes_i = bytes_i.max(p.len() * 32);
            let old_root = merkle::root(&n, old)?;
            let t = Instant::now();
            let c = merkle::consistency_proof(&n, old, size)?;
            gen_c.push(t.elapsed());
            let t = Instant::now();
            merkle::verify_consistency(old, size, &c, &old_root, &root)?;
            ver_c.push(t.elapsed());
            bytes_c = bytes_c.max(c.len() * 32);
        }
        for v in [&mut gen_i, &mut ver_i, &mut gen_c, &mut ver_c] {
            v.sort();
        }
        Ok(json!({"size": size,
            "inclusion": {"generate_p50_us": percentile_us(&gen_i, 0.5), "verify_p50_us": percentile_us(&ver_i, 0.5), "max_bytes": bytes_i},
            "consistency": {"generate_p50_us": percentile_us(&gen_c, 0.5), "verify_p50_us": percentile_us(&ver_c, 0.5), "max_bytes": bytes_c}}))
    };
    let at_store =
        proofs(&|level, index| store.node(level, index), size, &mut next).map_err(StoreError::Encoding)?;
    let mut big = MemoryTree::default();
    for i in 0..1_000_000u64 {
        big.push(merkle::leaf_hash(&i.to_le_bytes()));
    }
    let at_million = proofs(&|level, index| merkle::Nodes::node(&big, level, index), 1_000_000, &mut next)
        .map_err(StoreError::Encoding)?;
    Ok(json!({"hashing_per_appended_event_us": per_event_us, "store": at_store, "memory_1m": at_million}))
}

/// The figures of [`run`] as the human-readable lines both front ends print.
pub fn render(r: &Value) -> String {
    let f = |a: &str, b: &str| r[a][b].as_f64().unwrap_or(0.0);
    format!(
        "ledger: {} events, {} per command, {} cores\n\
         \x20 raw fdatasync          p50 {:>8.1} us   p99 {:>8.1} us\n\
         \x20 durable single append  p50 {:>8.1} us   p99 {:>8.1} us   {:>9.0} /s\n\
         \x20 batched append ({:>4})                                  {:>9.0} events/s\n\
         \x20 verify (every run re-derived)                         {:>9.0} events/s\n\
         \x20 verify without re-derivation                          {:>9.0} events/s\n\
         \x20 scan                                                  {:>9.0} events/s\n\
         \x20 Merkle tree: {:.2} us of hashing per appended event; at {} events (store) inclusion proof\n\
         \x20   p50 {:.1} us to make, {:.1} us to check, {} bytes; at 10^6 (memory) {:.1} us, {:.1} us, {} bytes",
        r["events"],
        r["events_per_command"],
        r["cores"],
        f("raw_fdatasync", "p50_us"),
        f("raw_fdatasync", "p99_us"),
        f("single_append", "p50_us"),
        f("single_append", "p99_us"),
        f("single_append", "per_sec"),
        r["batched_append"]["batch_size"],
        f("batched_append", "events_per_sec"),
        f("verify", "events_per_sec"),
        f("verify", "without_rederivation_events_per_sec"),
        f("scan", "events_per_sec"),
        r["tree"]["hashing_per_appended_event_us"].as_f64().unwrap_or(0.0),
        r["tree"]["store"]["size"],
        r["tree"]["store"]["inclusion"]["generate_p50_us"].as_f64().unwrap_or(0.0),
        r["tree"]["store"]["inclusion"]["verify_p50_us"].as_f64().unwrap_or(0.0),
        r["tree"]["store"]["inclusion"]["max_bytes"],
        r["tree"]["memory_1m"]["inclusion"]["generate_p50_us"].as_f64().unwrap_or(0.0),
        r["tree"]["memory_1m"]["inclusion"]["verify_p50_us"].as_f64().unwrap_or(0.0),
        r["tree"]["memory_1m"]["inclusion"]["max_bytes"],
    ) + &render_limits(&r["limits"])
}

/// The machine's limits ([`limits`]) as one line.
pub fn render_limits(l: &Value) -> String {
    let f = |k: &str| l[k].as_f64().unwrap_or(0.0);
    format!(
        "\n  this machine, one core: {:.0} strict ed25519 verifications/s, blake3 {:.0} MB/s, JSON decode {:.0} events/s ({:.0} MB/s, {}-byte event)",
        f("ed25519_verify_strict_per_sec_one_core"),
        f("blake3_mb_per_sec_one_core"),
        f("json_decode_events_per_sec_one_core"),
        f("json_decode_mb_per_sec_one_core"),
        l["sample_event_bytes"],
    )
}
