//! Checkpoints, witnesses and proofs with the real binary: an auditor keeps a checkpoint, a
//! witness cosigns consistently, and every truncation, restored older copy and fork is caught;
//! proofs check offline with the log's vkey alone; `pledge serve` publishes checkpoints itself.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::{json, Value};

use crate::workflow::{team, Team};

const DIGEST: &str = "5c1d3e6f7a8b9c0d1e2f30415263748596a7b8c9d0e1f2031425364758697a8b";

fn dataset(t: &Team, version: &str) {
    t.ok(&[
        "submit",
        "dataset.register",
        &json!({"dataset": "sales", "version": version, "digest": DIGEST}).to_string(),
        "--as",
        "maya",
    ]);
}

/// A team with a log key (`plog`) and a witness key (`w1`, not in the ledger).
fn team_with_log() -> (Team, String) {
    let t = team();
    t.ok(&["keys", "new", "plog"]);
    t.ok(&["keys", "enroll", "plog", "--role", "log", "--as", "root"]);
    t.ok(&["keys", "new", "w1"]);
    let vkey = t.ok(&["checkpoint", "vkey"])["log_keys"][0].as_str().unwrap().to_string();
    (t, vkey)
}

fn file(t: &Team, name: &str) -> PathBuf {
    t.ledger.parent().unwrap().join(name)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Runs `pledge ARGS` (the team's environment); returns (exit code, stdout, stderr).
fn run(t: &Team, args: &[&str]) -> (i32, String, String) {
    let out = t.pledge().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn an_auditor_proves_the_ledger_only_grew_and_every_rollback_or_fork_is_caught() {
    let (t, vkey) = team_with_log();
    dataset(&t, "1");
    let q3 = file(&t, "q3.checkpoint");
    t.ok(&["checkpoint", "--as", "plog", "--out", s(&q3)]);
    let cosigned = t.ok(&["witness", "cosign", s(&q3), "--as", "w1", "--log-key", &vkey]);
    assert_eq!(cosigned["size"], t.head()["seq"].as_u64().unwrap() + 1);
    // A copy of the ledger as it is now: the common prefix of the fork below.
    let older = file(&t, "older");
    copy_dir(&t.ledger, &older);

    dataset(&t, "2");
    dataset(&t, "3");
    let q4 = file(&t, "q4.checkpoint");
    t.ok(&["checkpoint", "--as", "plog", "--out", s(&q4)]);
    t.ok(&["witness", "cosign", s(&q4), "--as", "w1"]);
    // The ledger contains both trees; the export proves it extends q3.
    assert_eq!(
        t.ok(&["verify", "--checkpoint", s(&q3), "--log-key", &vkey])["anchors"][0]["relation"],
        "contains"
    );
    let export = file(&t, "q4.jsonl");
    t.ok(&["export", s(&export), "--as", "plog"]);
    let v = t.ok(&["verify", "--export", s(&export), "--extends", s(&q3), "--log-key", &vkey]);
    assert_eq!(v["anchors"][0]["relation"], "extends");
    // Offline, with the log key alone: the consistency proof between the two checkpoints.
    let proof = file(&t, "q3-q4.json");
    t.ok(&["prove", "consistency", "--from", s(&q3), "--to", s(&q4), "--out", s(&proof)]);
    let (code, out, err) = run(&t, &["prove", "verify", s(&proof), "--log-key", &vkey]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("extends the tree of"), "{out}");

    // Truncation / a restored older copy: valid on its own, caught against q4.
    let live = file(&t, "live");
    std::fs::rename(&t.ledger, &live).unwrap();
    copy_dir(&older, &t.ledger);
    t.ok(&["verify"]);
    let (code, _, err) = run(&t, &["verify", "--checkpoint", s(&q4), "--log-key", &vkey]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("truncated or rolled back"), "{err}");

    // A fork: the older copy grows a different tail; its checkpoint has the same size as q4.
    dataset(&t, "2-other");
    dataset(&t, "3-other");
    let fork = file(&t, "fork.checkpoint");
    t.ok(&["checkpoint", "--as", "plog", "--out", s(&fork)]);
    let (code, _, err) = run(&t, &["witness", "cosign", s(&fork), "--as", "w1"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("fork: two roots"), "{err}");
    // And the live ledger, restored, does not contain the fork's tree (nor the fork q4's).
    std::fs::remove_dir_all(&t.ledger).unwrap();
    std::fs::rename(&live, &t.ledger).unwrap();
    let (code, _, err) = run(&t, &["verify", "--checkpoint", s(&fork), "--log-key", &vkey]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("forked"), "{err}");
    // A rollback offered to the witness: q3 again, after it cosigned q4.
    let (code, _, err) = run(&t, &["witness", "cosign", s(&q3), "--as", "w1"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("rollback"), "{err}");
    // A bigger fork (the fork grows past q4) fails the consistency proof the witness checks.
    let forked_more = file(&t, "forked");
    copy_dir(&older, &forked_more);
    let fork_team = Team {
        _tmp: tempfile::tempdir().unwrap(),
        home: t.home.clone(),
        ledger: forked_more,
        env: Default::default(),
    };
    for v in ["a", "b", "c", "d"] {
        dataset(&fork_team, v);
    }
    let big_fork = file(&t, "big-fork.checkpoint");
    fork_team.ok(&["checkpoint", "--as", "plog", "--out", s(&big_fork)]);
    let out = fork_team.pledge().args(["witness", "cosign", s(&big_fork), "--as", "w1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not extend"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_inclusion_proof_checks_offline_and_every_changed_byte_is_refused() {
    let (t, vkey) = team_with_log();
    dataset(&t, "1");
    t.ok(&["checkpoint", "--as", "plog"]);
    let proof = file(&t, "ev.tlog-proof");
    t.ok(&["prove", "inclusion", "5", "--out", s(&proof)]);
    let text = std::fs::read(&proof).unwrap();
    assert!(text.starts_with(b"c2sp.org/tlog-proof@v1\nextra "));
    let (code, out, err) = run(&t, &["prove", "verify", s(&proof), "--log-key", &vkey, "--json"]);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["inclusion"]["seq"], 5);
    // Every single flipped bit of the file: refused (malformed or not proven), never "ok".
    let bad = file(&t, "bad.tlog-proof");
    let mut checked = 0;
    for at in (0..text.len()).step_by(3) {
        let mut b = text.clone();
        b[at] ^= 0x01;
        std::fs::write(&bad, &b).unwrap();
        let (code, out, _) = run(&t, &["prove", "verify", s(&bad), "--log-key", &vkey]);
        assert_ne!(code, 0, "byte {at} changed, still proven: {out}");
        checked += 1;
    }
    assert!(checked > 100);
    // A wrong log key proves nothing.
    let (code, _, _) = run(
        &t,
        &[
            "prove",
            "verify",
            s(&proof),
            "--log-key",
            "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        ],
    );
    assert_eq!(code, 3);
}

/// A `pledge serve` on the team's ledger, on a port the system picks; killed when dropped.
pub(crate) struct Server {
    child: std::process::Child,
    pub(crate) url: String,
}

impl Server {
    pub(crate) fn start(t: &Team, extra: &[&str]) -> Server {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("pledge"))
            .env("PLEDGE_HOME", &t.home)
            .args(["serve", "--addr", "127.0.0.1:0", "--json", "--ledger"])
            .arg(&t.ledger)
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = serde_json::from_str::<Value>(&line).unwrap()["listening"].as_str().unwrap().to_string();
        Server { child, url }
    }

    pub(crate) fn stop(mut self) {
        let pid = self.child.id().to_string();
        assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        assert!(self.child.wait().unwrap().success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn the_server_publishes_checkpoints_and_takes_cosignatures_and_remote_commands() {
    let (t, vkey) = team_with_log();
    // A witness named in the policy, one cosignature required.
    let w1 = t.ok(&["witness", "vkey", "--as", "w1"])["vkey"].as_str().unwrap().to_string();
    let mut policy = t.ok(&["policy", "show"])["policy"].clone();
    policy["witnesses"] = json!({"keys": [w1], "quorum": 1});
    let pfile = file(&t, "policy.json");
    std::fs::write(&pfile, policy.to_string()).unwrap();
    t.ok(&["policy", "set", s(&pfile), "--as", "root"]);
    // A key that is not a log key cannot make the server sign.
    let (code, _, err) = run(&t, &["serve", "--addr", "127.0.0.1:0", "--log-key", "maya"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("`log` role"), "{err}");

    let server =
        Server::start(&t, &["--log-key", "plog", "--checkpoint-every", "1", "--checkpoint-interval", "3600"]);
    let remote = |args: &[&str]| {
        let out = t.pledge().env("PLEDGE_SERVER", &server.url).args(args).arg("--json").output().unwrap();
        assert!(out.status.success(), "pledge {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    remote(&[
        "submit",
        "dataset.register",
        &json!({"dataset": "d", "version": "1", "digest": DIGEST}).to_string(),
        "--as",
        "maya",
    ]);
    // The server publishes a checkpoint after the commit: the read waits until one covers it.
    let events = remote(&["verify"])["summary"]["events"].as_u64().unwrap();
    let latest = remote(&["checkpoint", "show", "latest", "--wait-for", &events.to_string()]);
    assert_eq!(latest["size"].as_u64(), Some(events), "{latest}");
    assert_eq!(latest["published"], false, "no witness has cosigned yet");
    // A witness cosigns through the server (consistency checked against its own last view,
    // which it has none of yet) and submits: the checkpoint meets the quorum.
    let cp = file(&t, "latest.checkpoint");
    std::fs::write(&cp, latest["note"].as_str().unwrap()).unwrap();
    remote(&["witness", "cosign", s(&cp), "--as", "w1", "--log-key", &vkey, "--submit"]);
    let after = remote(&["checkpoint", "show", &events.to_string()]);
    assert_eq!(after["published"], true, "{after}");
    assert_eq!(after["cosigned_by"], json!(["w1"]));
    // A proof from the server names that cosigned checkpoint and checks offline with quorum 1.
    let out =
        t.pledge().env("PLEDGE_SERVER", &server.url).args(["prove", "inclusion", "1"]).output().unwrap();
    let pf = file(&t, "one.tlog-proof");
    std::fs::write(&pf, &out.stdout).unwrap();
    let (code, _, err) =
        run(&t, &["prove", "verify", s(&pf), "--log-key", &vkey, "--witness", &w1, "--quorum", "1"]);
    assert_eq!(code, 0, "{err}");
    // A checkpoint signed by the CLI and sent to the server is checked and kept.
    remote(&[
        "submit",
        "dataset.register",
        &json!({"dataset": "d", "version": "2", "digest": DIGEST}).to_string(),
        "--as",
        "maya",
    ]);
    let signed = remote(&["checkpoint", "--as", "plog"]);
    assert_eq!(signed["size"].as_u64(), Some(events + 1));
    // A non-log key's checkpoint is refused by the server.
    let out =
        t.pledge().env("PLEDGE_SERVER", &server.url).args(["checkpoint", "--as", "maya"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    // Shutdown publishes a last checkpoint of everything committed.
    server.stop();
    let list = t.ok(&["checkpoint", "list"]);
    let sizes: Vec<u64> =
        list["checkpoints"].as_array().unwrap().iter().map(|c| c["size"].as_u64().unwrap()).collect();
    assert_eq!(sizes.last(), Some(&(events + 1)));
    t.ok(&["verify", "--checkpoint", s(&cp), "--log-key", &vkey]);
}
