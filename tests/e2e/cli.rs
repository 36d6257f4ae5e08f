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
fn demo_plays_the_trust_scenario_and_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let r = demo_into(&tmp.path().join("l"));
    let kinds: Vec<&str> =
        r["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds[0], "ledger.created");
    assert_eq!(kinds.iter().filter(|k| **k == "key.enrolled").count(), 4);
    assert_eq!(kinds.iter().filter(|k| **k == "role.granted").count(), 3);
    assert_eq!(kinds.last(), Some(&"key.revoked"));
    let rules: Vec<&str> =
        r["rejections"].as_array().unwrap().iter().map(|x| x["rule"].as_str().unwrap()).collect();
    assert_eq!(
        rules,
        ["key.unknown", "role.not_allowed", "signature.invalid", "command.id_reused", "key.revoked"]
    );
    assert_eq!(r["idempotent_resend"]["duplicate"], true);
    assert_eq!(r["idempotent_resend"]["head_unchanged"], true);
    assert_eq!(r["verify"]["ledger"]["events"], r["export"]["count"]);
    assert_eq!(r["tamper_check"]["result"]["seq"], r["tamper_check"]["flipped_line_index"]);
    // Actors come from the signing keys.
    assert!(r["events"].as_array().unwrap().iter().all(|e| e["actor"] == "root"));
}

#[test]
fn demo_human_output_reads_as_a_report() {
    let out = pledge().arg("demo").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "Pledge demo: ledger",
        "ledger.created",
        "Refused by the trust rules (nothing written):",
        "rule `key.unknown`",
        "Resent an earlier command: duplicate=true",
        "Verify ledger: ok, 9 events, 9 signed commands checked",
        "Tampered export (one byte flipped in line 3): detected at event 3",
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
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("error: export"), "{err}");
    assert!(err.contains("event 5"), "{err}");
}

#[test]
fn verify_catches_a_flipped_byte_in_the_sled_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("l");
    demo_into(&dir);
    let db = dir.join("db");
    let clean = std::fs::read(&db).unwrap();
    // The log holds the events near its start; flip bytes there one at a time.
    let mut caught = 0;
    for off in (64..4096).step_by(97) {
        let mut bytes = clean.clone();
        bytes[off] ^= 0x10;
        std::fs::write(&db, &bytes).unwrap();
        let out = pledge().args(["verify", "--ledger"]).arg(&dir).output().unwrap();
        match out.status.code() {
            Some(0) => {} // a byte sled no longer uses (superseded pages, padding)
            Some(3) => caught += 1,
            other => panic!("flip at {off}: exit {other:?}: {}", String::from_utf8_lossy(&out.stderr)),
        }
    }
    std::fs::write(&db, &clean).unwrap();
    pledge().args(["verify", "--ledger"]).arg(&dir).assert().success();
    assert!(caught > 0, "no flipped byte was detected");
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
