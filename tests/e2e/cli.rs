//! `pledge demo` and `pledge verify`, as a person or a script runs them.

use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

/// The built `pledge` binary (`cargo test --workspace` builds it for `commands`' own tests).
fn pledge() -> Command {
    Command::cargo_bin("pledge").expect("the `pledge` binary is built by `cargo test --workspace`")
}

fn demo_into(dir: &Path) -> Value {
    let out = pledge().args(["demo", "--json", "--ledger"]).arg(dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn demo_plays_the_seed_workflows_and_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let r = demo_into(&tmp.path().join("l"));
    // Every version has its artifact, hashing to the digest its run recorded (the external
    // run's description file too).
    let v = pledge()
        .args(["verify", "--require-artifacts", "--json", "--ledger"])
        .arg(tmp.path().join("l"))
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    let rules: Vec<&str> =
        r["refusals"].as_array().unwrap().iter().map(|x| x["rule"].as_str().unwrap()).collect();
    assert_eq!(
        rules,
        [
            "key.unknown",
            "role.not_allowed",
            "signature.invalid",
            "command.id_reused",
            "role.not_allowed",
            "role.not_allowed",
            "role.not_allowed",
            "promotion.gates_failed"
        ]
    );
    assert_eq!(r["idempotent_resend"]["duplicate"], true);
    assert_eq!(r["idempotent_resend"]["head_unchanged"], true);
    // The three workflows ran through the decide step.
    let kinds: Vec<&str> = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()))
        .collect();
    for k in [
        "promotion.evaluated",
        "champion.changed",
        "drift.recorded",
        "alert.actioned",
        "experiment.completed",
        "shadow.recorded",
    ] {
        assert!(kinds.contains(&k), "no `{k}` in the demo");
    }
    // Workflows 1-3 are real forecasts; what the report claims follows from its figures.
    let fc = &r["forecasts"];
    let runs = fc["scheduled"]["runs"].as_array().unwrap();
    let global = |run: &Value| run["models"][0].clone();
    let (baseline, lags, next_week) = (global(&runs[0]), global(&runs[1]), global(&runs[2]));
    assert!(runs.iter().all(|r| r["dataset_digest"].as_str().unwrap().len() == 64));
    assert_ne!(runs[1]["dataset_digest"], runs[2]["dataset_digest"], "a new week is a new extract");
    // The lags retrain cleared the seed's gate (MAE and MAPE at least 5% better on the same
    // rows) and was promoted by policy; the next week's did not, and stayed challenger.
    assert_eq!(lags["champion"]["version"], baseline["version"]);
    for m in ["mae", "mape"] {
        let (c, b) = (lags["figures"][m].as_f64().unwrap(), lags["champion"]["figures"][m].as_f64().unwrap());
        assert!(c <= 0.95 * b, "{m}: {c} vs {b}");
    }
    let changed = |run: &Value| {
        run["judged"].as_array().unwrap().iter().find_map(|j| j.get("champion_changed").cloned())
    };
    assert_eq!(changed(&runs[1]).unwrap()["cause"], "policy");
    assert!(changed(&runs[2]).is_none());
    let beat = |m: &str| {
        next_week["figures"][m].as_f64().unwrap()
            <= 0.95 * next_week["champion"]["figures"][m].as_f64().unwrap()
    };
    assert!(!(beat("mae") && beat("mape")), "next week's retrain would have cleared the gate");
    // The external run is labelled, judged by the same gates on the same rows, not promoted.
    let ex = &fc["scheduled"]["external"];
    assert!(ex["trainer"].as_str().unwrap().starts_with("external:"));
    assert_eq!(ex["judged"][0]["evidence"], "baseline");
    // Drift: the champion's last 7 days against its 30 before, over the policy's 15%; the
    // retrain on the last 30 days beat it on the same rows and was approved through the alert.
    let dr = &fc["drift"];
    let pct = dr["checked"]["drift_pct"].as_f64().unwrap();
    let (b, rc) = (dr["checked"]["baseline"].as_f64().unwrap(), dr["checked"]["recent"].as_f64().unwrap());
    assert!(pct > 15.0 && ((rc - b) / b * 100.0 - pct).abs() < 1e-9, "{pct}");
    let retrain = global(&dr["retrain"]);
    assert_eq!(dr["retrain"]["trigger"], "drift_detected");
    assert!(
        retrain["figures"]["mae"].as_f64().unwrap() < retrain["champion"]["figures"]["mae"].as_f64().unwrap()
    );
    assert_eq!(dr["approved"][0]["champion_changed"]["to"], retrain["version"]);
    // The experiment was adopted exactly where it won every shadow window, and routing says so.
    let x = &fc["experiment"];
    let adopted: Vec<&str> = x["adopted"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let shadow = x["shadow"].as_array().unwrap();
    for seg in ["0", "1"] {
        let won = shadow
            .iter()
            .filter(|w| w["segment"] == seg)
            .all(|w| w["challenger_mae"].as_f64().unwrap() < w["champion_mae"].as_f64().unwrap());
        assert_eq!(adopted.contains(&seg), won, "segment {seg}");
        let route = r["routing"].as_array().unwrap().iter().find(|e| e["segment"] == seg).unwrap();
        assert_eq!(route["own_champion"], won, "segment {seg}");
    }
    // Alerts: the critical drift alert was actioned.
    let drift = r["alerts"].as_array().unwrap().iter().find(|a| a["type"] == "drift_detected").unwrap();
    assert_eq!((drift["severity"].as_str(), drift["status"].as_str()), (Some("critical"), Some("actioned")));
    // The timelines explain the champions with actors.
    let t = r["timeline"]["entries"].as_array().unwrap();
    assert!(t.iter().any(|e| e["kind"] == "champion.changed" && e["payload"]["cause"] == "experiment"));
    let g = r["timeline_global"]["entries"].as_array().unwrap();
    assert!(g.iter().any(|e| e["kind"] == "champion.changed"
        && e["actor"] == "colby"
        && e["payload"]["cause"] == "approval"));
    assert!(g.iter().any(|e| e["kind"] == "promotion.evaluated" && e["policy_version"] == 1));
    assert_eq!(r["verify"]["ledger"]["events"], r["export"]["count"]);
    assert_eq!(r["tamper_check"]["result"]["seq"], r["tamper_check"]["flipped_line_index"]);
    // A consistent forgery (every hash, link and the manifest recomputed) is caught by
    // re-deriving the forged evaluation, naming the member and both values.
    let f = &r["forgery_check"];
    assert_eq!(f["failure"]["seq"], f["forged_event"]);
    assert_eq!(f["failure"]["mismatch"]["member"], "payload.gates[0].candidate");
    let (recorded, derived) = (
        f["failure"]["mismatch"]["recorded"].as_f64().unwrap(),
        f["failure"]["mismatch"]["derived"].as_f64().unwrap(),
    );
    assert_eq!(recorded * 2.0, derived);
}

#[test]
fn demo_human_output_reads_as_a_report() {
    let out = pledge().arg("demo").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "Pledge demo: ledger",
        "== workflow 1: scheduled retrain",
        "v2 vs champion v1: gates passed (policy v1, on the candidate's evaluation rows)",
        "champion v1 -> v2 (policy, by policy)",
        "== workflow 2: drift-triggered retrain",
        "(approval, by colby)",
        "== workflow 3: hypothesis-driven experiment",
        "completed: partial_adopt by colby",
        "colby approves a proposal whose gates failed, without an override: rule `promotion.gates_failed`",
        "== refused (nothing written)",
        "rule `key.unknown`",
        "== workflows 1-3 in figures: `demand` on trainer/data/bikeshare.csv",
        "ridge with demand lags",
        "an external run (recorded, not trained here) [external:notebook (persistence)]",
        "critical drift_detected",
        "Poisson GLM with demand lags, trained on the last 30 days",
        "shadow 2011-12-11..2011-12-17 workingday=0",
        "decision: partial_adopt, adopted where it won every window",
        "== how `demand` / workingday=",
        "== workflow 4: real data (taxi.csv) through the built-in trainer",
        "global            time split: train Jan..Mar, test Apr: roc_auc 0.5859",
        "walk-forward roc_auc: Feb 0.600, Mar 0.582, Apr 0.586",
        "global v2 vs champion v1 (both on the same test rows): roc_auc 0.5859 vs 0.5859 FAIL",
        "signed commands checked, every derived event re-derived",
        "tampered export (one byte flipped in line 20): detected at event 20",
        "every hash, link and the manifest recomputed",
        "`payload.gates[0].candidate` is ",
    ] {
        assert!(text.contains(needle), "missing `{needle}` in:\n{text}");
    }
}

#[test]
fn verify_passes_then_catches_a_flipped_byte_in_an_export() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("l");
    let r = demo_into(&dir);
    pledge().args(["verify", "--ledger"]).arg(&dir).assert().success();
    let export = r["export"]["path"].as_str().unwrap().to_string();
    let out = pledge().args(["verify", "--json", "--export", &export]).output().unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true);

    // Flip one byte inside line 5 (event 5).
    let mut bytes = std::fs::read(&export).unwrap();
    let start = bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(4).unwrap().0 + 1;
    bytes[start + 60] ^= 0x02;
    std::fs::write(&export, &bytes).unwrap();
    let out = pledge().args(["verify", "--json", "--export", &export]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["failure"]["seq"], 5);
    // With --json the error is a JSON document on standard error too.
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["error"]["exit"], 3);
    let message = err["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("export") && message.contains("event 5"), "{message}");
    // Without it, `error:` and `hint:` lines.
    let out = pledge().args(["verify", "--export", &export]).output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("error: export") && err.contains("event 5") && err.contains("\nhint: "), "{err}");
}

#[test]
fn verify_catches_a_flipped_byte_in_the_sled_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("l");
    demo_into(&dir);
    let db = dir.join("db");
    let clean = std::fs::read(&db).unwrap();
    // sled's log holds the indexes, command records and head anchor (the events are in their
    // own files, tested below); flip bytes across it one at a time.
    let mut caught = 0;
    for off in (64..clean.len()).step_by(97) {
        let mut bytes = clean.clone();
        bytes[off] ^= 0x10;
        std::fs::write(&db, &bytes).unwrap();
        let out = pledge().args(["verify", "--ledger"]).arg(&dir).output().unwrap();
        match out.status.code() {
            Some(0) => {} // a byte sled no longer uses (superseded pages, padding)
            Some(3) => {
                // The message names the event, or the file (and where, when sled says).
                let text =
                    String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
                let db_named = format!("`{}`", db.display());
                assert!(text.contains(&db_named) || text.contains("event "), "flip at {off}: {text}");
                caught += 1
            }
            other => panic!("flip at {off}: exit {other:?}: {}", String::from_utf8_lossy(&out.stderr)),
        }
    }
    std::fs::write(&db, &clean).unwrap();
    pledge().args(["verify", "--ledger"]).arg(&dir).assert().success();
    assert!(caught > 0, "no flipped byte was detected");
}

/// The events themselves live in `events.log` (hash and bytes of each, back to back) and
/// `events.idx` (each event's end offset): every flipped byte of the index, and of the log at
/// a stride, fails `verify` with exit 3 naming an event, and the restored files verify again.
#[test]
fn verify_catches_every_flipped_byte_in_the_event_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("l");
    demo_into(&dir);
    for (name, stride) in [("events.idx", 11), ("events.log", 1999)] {
        let file = dir.join(name);
        let clean = std::fs::read(&file).unwrap();
        assert!(clean.len() > 1000, "{name} holds {} bytes", clean.len());
        for off in (0..clean.len()).step_by(stride) {
            let mut bytes = clean.clone();
            bytes[off] ^= 0x04;
            std::fs::write(&file, &bytes).unwrap();
            let out = pledge().args(["verify", "--ledger"]).arg(&dir).output().unwrap();
            let text =
                String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
            assert_eq!(out.status.code(), Some(3), "{name} byte {off} flipped: {text}");
            assert!(text.contains("event "), "{name} byte {off} flipped: {text}");
        }
        std::fs::write(&file, &clean).unwrap();
    }
    pledge().args(["verify", "--ledger"]).arg(&dir).assert().success();
}

#[test]
fn bad_input_gets_exit_2_and_a_hint() {
    let tmp = tempfile::tempdir().unwrap();
    let out = pledge().args(["verify", "--ledger"]).arg(tmp.path().join("none")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("error: no ledger at") && err.contains("hint:"), "{err}");
    assert!(!tmp.path().join("none").exists(), "verify must not create a ledger");

    let out = pledge().args(["verify", "--export"]).arg(tmp.path().join("missing.jsonl")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));

    std::fs::create_dir(tmp.path().join("taken")).unwrap();
    let out = pledge().args(["demo", "--ledger"]).arg(tmp.path().join("taken")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// The README's first two commands are what CI runs, verbatim (CI runs them on a clean clone;
/// this test keeps the README and `.ci/run` from drifting apart).
#[test]
fn ci_runs_the_readme_commands_verbatim() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    let block = readme.split("```sh\n").nth(1).and_then(|b| b.split("```").next()).expect("a sh block");
    let commands: Vec<&str> = block.lines().filter(|l| l.starts_with("cargo ")).collect();
    assert_eq!(commands.len(), 2, "the README opens with two commands: {commands:?}");
    assert!(commands[0].contains("demo") && commands[1].contains("test"), "{commands:?}");
    for c in commands {
        assert!(ci.lines().any(|l| l.trim() == c), "`.ci/run` does not run `{c}` verbatim");
    }
}

/// `pledge bench` runs every part (small sizes; figures are not asserted, only their presence).
#[test]
fn bench_reports_ledger_cli_and_http_figures() {
    let out = Command::cargo_bin("pledge")
        .unwrap()
        .args(["bench", "--events", "200", "--single", "20", "--cli-commands", "3"])
        .args(["--http-commands", "64", "--http-queries", "64", "--query-rate", "2000"])
        .args([
            "--predictions",
            "100",
            "--predict-rate",
            "1000",
            "--desk-events",
            "300",
            "--interop-events",
            "300",
            "--scale-events",
            "300",
        ])
        .arg("--json")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["desk"]["events"].as_u64().unwrap() >= 300, "{}", v["desk"]);
    let pages = v["desk"]["pages"].as_array().unwrap();
    assert_eq!(pages.len(), 12, "every page of the desk");
    for p in pages {
        assert!(
            p["first_load_ms"].as_f64().unwrap() > 0.0 && p["weight_bytes"].as_u64().unwrap() > 20_000,
            "{p}"
        );
    }
    for pointer in [
        "/ledger/single_append/p50_us",
        "/ledger/verify/events_per_sec",
        "/ledger/verify/without_rederivation_events_per_sec",
        "/ledger/tree/hashing_per_appended_event_us",
        "/ledger/tree/memory_1m/inclusion/generate_p50_us",
        "/checkpoints/append_to_checkpoint_p99_us",
        "/cli/commands_per_sec",
        "/http/commands/2/commands_per_sec",
        "/http/champion_query/p99_us",
        "/http/champion_query_open_loop/p99_us",
        "/http/champion_query_open_loop/service_p99_us",
        "/http/champion_query_open_loop/achieved_per_sec",
        "/serving/predict/single_row_open_loop/p99_us",
        "/serving/predict/batch/rows_per_sec",
        "/serving/predict_with_one_shadow/single_row_open_loop/p99_us",
        "/serving/predict_with_one_shadow/batch/rows_per_sec",
        "/serving/hot_swap/send_to_first_new_answer_p50_us",
        "/desk/floor_p50_ms",
        "/interop/verify_events_per_sec",
        "/interop/openlineage/run_events_per_sec",
        "/interop/in_toto/attestations_per_sec",
        "/interop/import/events_per_sec",
        "/ledger/limits/ed25519_verify_strict_per_sec_one_core",
        "/ledger/limits/blake3_mb_per_sec_one_core",
        "/ledger/limits/json_decode_events_per_sec_one_core",
        "/scale/disk_bytes_per_event",
        "/scale/rebuild_events_per_sec",
        "/scale/snapshot/bytes",
        "/scale/champion_without_snapshot/ms",
        "/scale/champion_from_snapshot/ms",
        "/scale/champion_from_snapshot/peak_bytes",
        "/scale/event_queries_500/backtests_first/ms",
        "/scale/verify/events_per_sec",
        "/scale/timeline_as_of_middle/ms",
        "/scale/timeline_as_of_middle/peak_bytes",
        "/scale/served_timeline_as_of/head/p50_ms",
        "/scale/served_timeline_as_of/middle/p50_ms",
        "/scale/write_hypothesis_propose/ms",
        "/scale/champion_after_write/ms",
        "/scale/champion_after_write/peak_bytes",
    ] {
        assert!(v.pointer(pointer).and_then(|x| x.as_f64()).is_some_and(|x| x > 0.0), "{pointer}: {v}");
    }
    assert_eq!(v["http"]["commands"][2]["clients"], 64);
    // The warm runs open from the snapshot of the head.
    assert_eq!(v["scale"]["snapshot"]["seq"].as_u64().unwrap() + 1, v["scale"]["events"].as_u64().unwrap());
    assert!(
        v["interop"]["in_toto"]["attestations"].as_u64().unwrap()
            > v["interop"]["training_runs"].as_u64().unwrap()
    );
    // `--only` runs the sections named, and only them.
    let out = Command::cargo_bin("pledge")
        .unwrap()
        .args(["bench", "--only", "desk", "--desk-events", "200", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_object().unwrap().keys().collect::<Vec<_>>(), ["desk"]);
}

/// `pledge ... | head -1`: a reader that goes away never makes pledge panic (exit 101), not
/// even after a commit; the commit stands.
#[test]
fn a_closed_pipe_never_panics_even_after_a_commit() {
    use std::process::{Command as Std, Stdio};
    let bin = assert_cmd::cargo::cargo_bin("pledge");
    let closed = |args: &[&str], env: &[(&str, &std::path::Path)]| {
        let mut cmd = Std::new(&bin);
        cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    };
    closed(&["demo"], &[]);
    let tmp = tempfile::tempdir().unwrap();
    let (ledger, home) = (tmp.path().join("l"), tmp.path().join("h"));
    let env = [("PLEDGE_LEDGER", ledger.as_path()), ("PLEDGE_HOME", home.as_path())];
    closed(&["init", "--as", "root"], &env);
    closed(&["keys", "new", "maya"], &env);
    closed(&["keys", "enroll", "maya", "--role", "scientist", "--as", "root"], &env);
    let out = pledge()
        .args(["keys", "list", "--json"])
        .env("PLEDGE_LEDGER", &ledger)
        .env("PLEDGE_HOME", &home)
        .output()
        .unwrap();
    let keys: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        keys["enrolled"].as_array().unwrap().len(),
        2,
        "the enrollment printed into a closed pipe was committed"
    );
}

/// `pledge demo --ledger DIR --home DIR` keeps the ledger and the team's keys: a person goes
/// on working on it as any of them.
#[test]
fn the_demo_keeps_its_keys_for_whoever_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let (ledger, home) = (tmp.path().join("l"), tmp.path().join("h"));
    let out =
        pledge().args(["demo", "--json", "--ledger"]).arg(&ledger).arg("--home").arg(&home).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let on = |args: &[&str]| {
        pledge().args(args).env("PLEDGE_LEDGER", &ledger).env("PLEDGE_HOME", &home).output().unwrap()
    };
    let alerts: Value =
        serde_json::from_slice(&on(&["alerts", "list", "--status", "unread", "--json"]).stdout).unwrap();
    let id = alerts["alerts"][0]["id"].as_str().unwrap().to_string();
    let read = on(&["alerts", "read", &id, "--as", "colby", "--json"]);
    assert!(read.status.success(), "{}", String::from_utf8_lossy(&read.stderr));
    let keys: Value = serde_json::from_slice(&on(&["keys", "list", "--json"]).stdout).unwrap();
    assert_eq!(keys["local"], serde_json::json!(["colby", "mallory", "maya", "root", "scheduler"]));
    // The keys are never overwritten: a second demo into the same home is refused.
    let again = pledge()
        .args(["demo", "--ledger"])
        .arg(tmp.path().join("l2"))
        .arg("--home")
        .arg(&home)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds keys"));
}

/// `pledge keys export`: the private key as PKCS#8 (RFC 8410), PEM or DER, mode 0600, never
/// over an existing file; OpenSSL, an independent reader, derives the same public key.
#[test]
fn a_private_key_exports_as_pkcs8_that_openssl_reads_as_the_same_key() {
    let t = crate::workflow::team();
    let dir = t.home.join("export");
    std::fs::create_dir_all(&dir).unwrap();
    let pem = dir.join("colby.pem");
    let out = t.ok(&["keys", "export", "colby", "--out", pem.to_str().unwrap()]);
    let public = out["public_key"].as_str().unwrap().to_string();
    let seed = std::fs::read_to_string(t.home.join("keys/colby.key")).unwrap().trim().to_string();
    let text = std::fs::read_to_string(&pem).unwrap();
    assert!(
        text.starts_with("-----BEGIN PRIVATE KEY-----\n") && text.ends_with("-----END PRIVATE KEY-----\n"),
        "{text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&pem).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let der = dir.join("colby.der");
    t.ok(&["keys", "export", "colby", "--out", der.to_str().unwrap(), "--der"]);
    let bytes = std::fs::read(&der).unwrap();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    assert_eq!(
        hex(&bytes),
        format!("302e020100300506032b657004220420{seed}"),
        "RFC 8410 PrivateKeyInfo around the seed"
    );
    // Never over an existing file, which is left as it was; an unknown key is named.
    let err = t.pledge().args(["keys", "export", "colby", "--out", pem.to_str().unwrap()]).output().unwrap();
    assert_eq!(err.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&err.stderr).contains("already exists"));
    assert_eq!(std::fs::read_to_string(&pem).unwrap(), text);
    let err = t
        .pledge()
        .args(["keys", "export", "nobody", "--out", dir.join("x.pem").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(err.status.code(), Some(2));
    assert!(!dir.join("x.pem").exists());
    // OpenSSL reads both files and derives the enrolled public key (skipped, saying so, where
    // openssl is absent).
    let Ok(probe) = std::process::Command::new("openssl").arg("version").output() else {
        eprintln!("skipping the OpenSSL check: no `openssl` on PATH");
        return;
    };
    assert!(probe.status.success());
    for (file, form) in [(&pem, "PEM"), (&der, "DER")] {
        let spki = std::process::Command::new("openssl")
            .args(["pkey", "-inform", form, "-in", file.to_str().unwrap(), "-pubout", "-outform", "DER"])
            .output()
            .unwrap();
        assert!(spki.status.success(), "{}", String::from_utf8_lossy(&spki.stderr));
        assert_eq!(hex(&spki.stdout[spki.stdout.len() - 32..]), public, "{form}");
    }
}
