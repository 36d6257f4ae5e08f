//! `pledge bench`'s interop figures, on the review desk's team ledger of `--interop-events`
//! events: full verification (what the derived exports run first, the floor beside them), the
//! lineage pass, the OpenLineage export, the in-toto export (every statement signed by a log
//! key), and a raw export imported into a new ledger (verified in full, then one commit).

use std::path::Path;
use std::time::Instant;

use serde_json::{json, Value};

use crate::app::backend::{Backend, Signer};
use crate::app::failure::Failure;
use crate::app::keystore;

fn timed<T>(f: impl FnOnce() -> Result<T, Failure>) -> Result<(T, f64), Failure> {
    let t = Instant::now();
    let v = f()?;
    Ok((v, t.elapsed().as_secs_f64()))
}

/// Runs the interop figures on a fresh team ledger of about `events` events.
pub fn run(dir: &Path, events: usize) -> Result<Value, Failure> {
    let ledger_dir = super::bench_desk::write_ledger(dir, events)?;
    let home = dir.join("home");
    // A log key, enrolled by root, for the attestations.
    let plog = keystore::create(&home, "plog")?;
    let root = Signer::load(&home, "root")?;
    let backend = Backend::Local(ledger_dir.clone());
    backend.submit(
        &root,
        vec![
            ("key.enroll".into(), json!({"principal": "plog", "public_key": plog.public().to_string()})),
            ("role.grant".into(), json!({"principal": "plog", "role": "log"})),
        ],
    )?;
    let store = backend.open_store()?;
    let n = store.len();
    let per_sec = |secs: f64| n as f64 / secs.max(1e-9);

    let (_, verify_secs) = timed(|| {
        ledger::verify_store(&store, crate::app::verify::verifier(None))
            .map_err(|f| Failure::internal(anyhow::anyhow!("bench ledger: {f}")))
    })?;
    let artifacts = crate::app::training::artifact_dir(&ledger_dir);
    let (lineage, lineage_secs) = timed(|| crate::app::interop::Lineage::read(&store, Some(&artifacts)))?;
    let (ol, ol_secs) = timed(|| {
        let events = crate::app::interop::openlineage::events(&lineage);
        let mut text = String::new();
        for e in &events {
            text.push_str(&serde_json::to_string(e).map_err(Failure::internal)?);
            text.push('\n');
        }
        Ok((events.len(), text.len()))
    })?;
    let att_dir = dir.join("in-toto");
    let (report, intoto_secs) =
        timed(|| crate::app::interop::intoto::write(&lineage, &plog, "plog", &att_dir))?;
    let export = dir.join("ledger.jsonl");
    let (_, export_secs) = timed(|| {
        ledger::export::export(&store, &export).map_err(|e| Failure::internal(anyhow::anyhow!("{e}")))
    })?;
    drop(store);
    let copy = dir.join("imported");
    let (_, import_secs) = timed(|| {
        crate::app::import::import(&crate::app::import::ImportRequest {
            file: &export,
            ledger: &copy,
            expect_head: None,
            extends: None,
            log_key: None,
            artifacts: None,
        })
    })?;
    Ok(json!({
        "events": n,
        "training_runs": lineage.runs.len(),
        "backtest_windows": lineage.backtests.len(),
        "decisions": lineage.decisions.len(),
        "verify_secs": verify_secs,
        "verify_events_per_sec": per_sec(verify_secs),
        "lineage_read_secs": lineage_secs,
        "openlineage": {"secs": ol_secs, "run_events": ol.0, "bytes": ol.1,
                         "run_events_per_sec": ol.0 as f64 / ol_secs.max(1e-9)},
        "in_toto": {"secs": intoto_secs, "attestations": report.attestations.len(), "bytes": ledger::bench::dir_bytes(&att_dir),
                     "attestations_per_sec": report.attestations.len() as f64 / intoto_secs.max(1e-9)},
        "export_jsonl_secs": export_secs,
        "import": {"secs": import_secs, "events_per_sec": per_sec(import_secs)},
    }))
}

/// The section as text.
pub fn render(i: &Value) -> String {
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    format!(
        "interop: a team ledger of {} events ({} training runs, {} backtest windows, {} decisions)\n  \
         verify (the derived exports' first step)  {:>8.2} s   {:>9.0} events/s\n  \
         lineage pass                             {:>8.2} s\n  \
         OpenLineage: {:>7} run events          {:>8.2} s   {:>9.0} /s   {:>6.1} MB\n  \
         in-toto: {:>7} signed attestations     {:>8.2} s   {:>9.0} /s   {:>6.1} MB\n  \
         export, then import (verified, 1 commit) {:>8.2} s + {:.2} s   {:>9.0} events/s imported",
        i["events"],
        i["training_runs"],
        i["backtest_windows"],
        i["decisions"],
        f(&i["verify_secs"]),
        f(&i["verify_events_per_sec"]),
        f(&i["lineage_read_secs"]),
        i["openlineage"]["run_events"],
        f(&i["openlineage"]["secs"]),
        f(&i["openlineage"]["run_events_per_sec"]),
        f(&i["openlineage"]["bytes"]) / 1e6,
        i["in_toto"]["attestations"],
        f(&i["in_toto"]["secs"]),
        f(&i["in_toto"]["attestations_per_sec"]),
        f(&i["in_toto"]["bytes"]) / 1e6,
        f(&i["export_jsonl_secs"]),
        f(&i["import"]["secs"]),
        f(&i["import"]["events_per_sec"]),
    )
}
