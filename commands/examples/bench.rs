//! Domain benchmark: builds a ledger with the scenario generator through the real append path
//! (signed commands, group commits), then rebuilds every projection from genesis.
//!
//! ```text
//! cargo run --release -p commands --example bench -- [--json] [--events N]
//! ```
//!
//! It then verifies the ledger twice (every run re-derived, and without re-derivation), and
//! reopens it (the fold with every stored hash and link checked) beside the checks alone.
//!
//! The generator plays scheduled retrains of several models and segments (each: the run, its
//! version, 8 backtest windows, the evaluation against the champion and the promotion or
//! demotion), drift checks and the occasional arena proposal and approval.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::Instant;

use commands::domain::default_policy;
use commands::domain::PledgeDomain;
use ledger::canonical::{SystemClock, Timestamp};
use ledger::keys::SecretKey;
use ledger::{Command, ExpectedHead, Ledger};
use projections::replay::{self, AsOf};
use serde_json::json;

fn main() {
    let mut json_out = false;
    let mut events: u64 = 1_000_000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--json" => json_out = true,
            "--events" => events = args.next().and_then(|v| v.parse().ok()).expect("--events N"),
            "-h" | "--help" => {
                println!("bench [--json] [--events N (1000000)]");
                return;
            }
            other => {
                eprintln!("error: unknown argument `{other}`");
                std::process::exit(2);
            }
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let id = uuid::Uuid::now_v7();
    let now = || Timestamp::from_datetime(chrono::Utc::now());
    let keys: Vec<SecretKey> = (1..=4u8).map(|n| SecretKey::from_seed([n; 32])).collect();
    let (root, sched, maya, colby) = (&keys[0], &keys[1], &keys[2], &keys[3]);
    let cmd = |kind: &str, body: serde_json::Value, k: &SecretKey| {
        Command::new(id, now(), kind, body).sign(k).unwrap()
    };
    let mut l = Ledger::open(&dir, Arc::new(SystemClock), PledgeDomain::default()).unwrap();
    let genesis = json!({"admins": [{"principal": "root", "public_key": root.public().to_string()}], "policy": default_policy()});
    l.submit(cmd("ledger.create", genesis, root), ExpectedHead::Empty).unwrap();
    for (who, k, role) in
        [("scheduler", sched, "service"), ("maya", maya, "scientist"), ("colby", colby, "approver")]
    {
        l.submit(
            cmd("key.enroll", json!({"principal": who, "public_key": k.public().to_string()}), root),
            ExpectedHead::Any,
        )
        .unwrap();
        l.submit(cmd("role.grant", json!({"principal": who, "role": role}), root), ExpectedHead::Any)
            .unwrap();
    }
    let digest = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
    let models = ["demand", "returns", "churn", "margin"];
    let segments = [None, Some("electronics"), Some("grocery")];
    let started = Instant::now();
    let mut n = 0u64;
    let mut batch = Vec::new();
    let mut commands = 0u64;
    while l.store().len() < events {
        n += 1;
        let model = models[(n % 4) as usize];
        let segment = segments[((n / 4) % 3) as usize];
        let wobble = ((n * 7919) % 1000) as f64 / 1000.0;
        let mae = 12.0 - wobble * 1.5;
        let windows: Vec<_> = (0..8)
            .map(|w| json!({"segment": segment, "window_start": format!("2026-01-{:02}", w + 1), "window_end": format!("2026-01-{:02}", w + 2),
                            "metrics": {"mae": mae + w as f64 * 0.01, "mape": 0.2}, "rows": 5000}))
            .collect();
        let body = json!({"run_id": format!("r{n}"), "model": model, "task": "forecast", "trigger": "scheduled", "dataset_digest": digest,
            "trainer": "bench", "params": {"seed": n}, "metrics": {"mae": mae, "mape": 0.2 - wobble * 0.03, "coverage": 0.9},
            "models": [{"segment": segment, "artifact_digest": digest, "metrics": {"mae": mae, "mape": 0.2 - wobble * 0.03, "coverage": 0.9}}],
            "backtests": windows});
        batch.push(cmd("run.record", body, sched));
        if n % 50 == 0 {
            batch.push(cmd(
                "drift.record",
                json!({"model": model, "segment": segment, "baseline": 12.0, "recent": 12.0 + wobble * 3.0}),
                sched,
            ));
        }
        if batch.len() >= 200 {
            let done = l.submit_batch(std::mem::take(&mut batch)).unwrap();
            if let Some(Err(e)) = done.iter().find(|r| r.is_err()) {
                panic!("the generator's command was refused: {e}");
            }
            commands += done.len() as u64;
            // First champions: bootstrap whatever is still unserved.
            if n <= 400 {
                for m in models {
                    for s in segments {
                        let key = projections::seg_key(s);
                        let state = &l.domain().state;
                        let Some(ms) = state.model(m) else { continue };
                        if ms.champions.contains_key(&key) {
                            continue;
                        }
                        if let Some(v) = ms.versions.values().find(|v| v.segment.as_deref() == s) {
                            let b = json!({"model": m, "segment": s, "version": v.version});
                            let _ = l.submit(cmd("champion.bootstrap", b, colby), ExpectedHead::Any);
                        }
                    }
                }
            }
        }
    }
    if !batch.is_empty() {
        commands += l.submit_batch(batch).unwrap().len() as u64;
    }
    let append_secs = started.elapsed().as_secs_f64();
    let total = l.store().len();
    let live_digest = l.domain().state.digest();

    // The rebuild's own peak memory: resident before it (the ledger open above holds its
    // state) and the highest during it.
    let resident_before = ledger::bench::resident_bytes();
    let peak_reset = ledger::bench::reset_peak_resident();
    let started = Instant::now();
    let rebuilt = replay::rebuild(l.store(), AsOf::Head).unwrap();
    let rebuild_secs = started.elapsed().as_secs_f64();
    let rebuild_peak = ledger::bench::peak_resident_bytes();
    let disk_bytes = ledger::bench::dir_bytes(&dir);
    assert_eq!(rebuilt.digest(), live_digest, "rebuilt state differs from the incremental one");

    let started = Instant::now();
    ledger::snapshot::write(l.store().dir(), &l.snapshot().unwrap()).unwrap();
    let checkpoint_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let (resumed, _) = replay::replay_from_snapshot(l.store(), AsOf::Head).unwrap();
    let resume_secs = started.elapsed().as_secs_f64();
    assert_eq!(resumed.digest(), live_digest);

    // Verification, full (every run re-derived by the decide step) and without re-derivation
    // (bytes, chain, signatures, trust, freshness, run shapes: what verify did before), and
    // what one core of this machine does in strict ed25519 verifications per second.
    let started = Instant::now();
    let full = ledger::verify_store(l.store(), commands::app::verify::verifier(None)).unwrap();
    let verify_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let shape_only = ledger::Verifier::with_domain(PledgeDomain::default()).without_rederivation();
    let without = ledger::verify_store(l.store(), shape_only).unwrap();
    let verify_without_secs = started.elapsed().as_secs_f64();
    assert_eq!((full.events, without.events), (total, total));
    let ed25519_per_core = {
        let key = SecretKey::from_seed([9; 32]);
        let msg = [7u8; 300];
        let sig = key.sign(&msg);
        let n = 4_000;
        let started = Instant::now();
        for _ in 0..n {
            assert!(key.public().verify_strict(std::hint::black_box(&msg), &sig));
        }
        n as f64 / started.elapsed().as_secs_f64()
    };

    // Opening: the fold with every stored hash, position, link and the head anchor checked
    // (Ledger::open), against the same fold without those checks (the pipelined rebuild) and
    // the checks alone (blake3 of every event's bytes against its stored hash).
    let dir = l.store().dir().to_path_buf();
    drop(l);
    let started = Instant::now();
    let l = Ledger::open(&dir, Arc::new(SystemClock), PledgeDomain::default()).unwrap();
    let open_secs = started.elapsed().as_secs_f64();
    assert_eq!(l.domain().state.digest(), live_digest);
    let started = Instant::now();
    let mut checked = 0u64;
    for item in l.store().raw() {
        let (_, stored, bytes) = item.unwrap();
        assert_eq!(ledger::Digest::of(&bytes), stored);
        checked += 1;
    }
    let hash_check_secs = started.elapsed().as_secs_f64();
    assert_eq!(checked, total);

    let report = json!({
        "events": total,
        "commands": commands,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "append": {"events_per_sec": total as f64 / append_secs, "secs": append_secs},
        "rebuild": {
            "events_per_sec": total as f64 / rebuild_secs, "secs": rebuild_secs,
            "resident_before_bytes": resident_before, "peak_bytes": rebuild_peak,
            "peak_is_the_rebuilds": peak_reset,
        },
        "disk_bytes": disk_bytes,
        "disk_bytes_per_event": disk_bytes as f64 / total.max(1) as f64,
        "peak_bytes": ledger::bench::peak_resident_bytes(),
        "verify": {
            "events_per_sec": total as f64 / verify_secs, "secs": verify_secs, "commands": full.commands,
            "without_rederivation_events_per_sec": total as f64 / verify_without_secs,
            "without_rederivation_secs": verify_without_secs,
        },
        "open": {
            "events_per_sec": total as f64 / open_secs, "secs": open_secs,
            "stored_hash_check_secs": hash_check_secs,
        },
        "machine": {"ed25519_verify_strict_per_sec_one_core": ed25519_per_core},
        "snapshot_save_secs": checkpoint_secs,
        "resume_from_snapshot_secs": resume_secs,
        "state_digest": live_digest,
    });
    if json_out {
        println!("{}", serde_json::to_string_pretty(&report).unwrap());
    } else {
        println!("domain bench: {total} events from {commands} commands");
        println!(
            "  append (group commits of 200)  {:>10.0} events/s",
            report["append"]["events_per_sec"].as_f64().unwrap()
        );
        println!(
            "  rebuild all projections        {:>10.0} events/s",
            report["rebuild"]["events_per_sec"].as_f64().unwrap()
        );
        println!(
            "  verify, every run re-derived   {:>10.0} events/s   (without re-derivation {:.0} events/s)",
            report["verify"]["events_per_sec"].as_f64().unwrap(),
            report["verify"]["without_rederivation_events_per_sec"].as_f64().unwrap()
        );
        println!(
            "  open (fold + hash/link checks) {:>10.0} events/s   (the hash checks alone {hash_check_secs:.3} s of {open_secs:.3} s)",
            report["open"]["events_per_sec"].as_f64().unwrap()
        );
        let mib = |v: &serde_json::Value| v.as_f64().unwrap_or(0.0) / 1048576.0;
        println!(
            "  rebuild's peak memory          {:>10.1} MiB   (resident before it {:.1} MiB)",
            mib(&report["rebuild"]["peak_bytes"]),
            mib(&report["rebuild"]["resident_before_bytes"])
        );
        println!(
            "  on disk {:.1} MiB, {:.0} bytes/event; this process's peak {:.1} MiB",
            mib(&report["disk_bytes"]),
            report["disk_bytes_per_event"].as_f64().unwrap_or(0.0),
            mib(&report["peak_bytes"])
        );
        println!("  this machine: {ed25519_per_core:.0} strict ed25519 verifications/s on one core");
        println!("  snapshot save {checkpoint_secs:.3} s, resume {resume_secs:.3} s");
    }
}
