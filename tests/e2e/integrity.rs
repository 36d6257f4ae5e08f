//! What an operator with write access to the ledger directory could do to it, and what the
//! real binary does about it: a damaged store is never served or extended (only `verify`,
//! `show` and `export` run on it), a consistent forgery fails `verify` naming the event and
//! the member, a damaged journal is reported, an older copy is caught against a head noted
//! earlier, and stale or future commands are refused, locally and over HTTP.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use serde_json::{json, Value};

use crate::workflow::{retrain_workflow, team, Team};

/// Where event `k` lies in the closed ledger's `events.log`: the end offsets of events
/// `k - 1` and `k` from `events.idx` (big-endian u64 each), as someone with write access to the
/// directory could read them.
fn event_span(t: &Team, k: u64) -> std::ops::Range<usize> {
    let idx = std::fs::read(t.ledger.join("events.idx")).unwrap();
    let end = |i: u64| u64::from_be_bytes(idx[i as usize * 8..][..8].try_into().unwrap()) as usize;
    (if k == 0 { 0 } else { end(k - 1) })..end(k)
}

/// Runs `pledge ARGS`; returns (exit code, stdout, stderr).
fn run(t: &Team, args: &[&str]) -> (i32, String, String) {
    let out = t.pledge().args(args).output().unwrap();
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (out.status.code().unwrap_or(-1), text(out.stdout), text(out.stderr))
}

#[test]
fn a_store_with_one_altered_event_is_never_served_or_extended() {
    let t = team();
    retrain_workflow(&t);
    let n = t.ok(&["verify"])["summary"]["events"].as_u64().unwrap();
    let k = n - 3;
    {
        // Alter the event's bytes in `events.log` and leave the hash stored before them as it was.
        let file = t.ledger.join("events.log");
        let mut log = std::fs::read(&file).unwrap();
        let span = event_span(&t, k);
        // Its year: 2026 becomes 2016.
        let text = String::from_utf8(log[span.start + 32..span.end].to_vec()).unwrap();
        let at = span.start + 32 + text.find("\"recorded_at\":\"20").unwrap() + "\"recorded_at\":\"20".len();
        log[at] = b'1';
        std::fs::write(&file, log).unwrap();
    }
    let damaged = format!("damaged at event {k}");
    for args in [
        &["champion"][..],
        &["alerts", "list"],
        &["timeline", "demand"],
        &["log"],
        &["daily"],
        &["submit", "drift.record", r#"{"model":"demand","baseline":12.0,"recent":12.5}"#, "--as", "maya"],
        &["keys", "grant", "ana", "service", "--as", "root"],
    ] {
        let (code, _, err) = run(&t, args);
        assert_eq!(code, 3, "pledge {args:?}: {err}");
        assert!(err.contains(&damaged), "pledge {args:?}: {err}");
        assert!(err.contains("hint:"), "{err}");
    }
    // The server refuses to start, before it listens.
    let (code, out, err) = run(&t, &["serve", "--addr", "127.0.0.1:0"]);
    assert_eq!(code, 3, "{err}");
    assert!(out.is_empty() && err.contains(&damaged), "{out}{err}");
    // verify names the event; show and export still read the ledger, damage included.
    let (code, out, err) = run(&t, &["verify", "--json"]);
    assert_eq!(code, 3, "{err}");
    let doc: Value = serde_json::from_slice(out.as_bytes()).unwrap();
    assert_eq!(doc["failure"]["seq"], k);
    let (code, out, _) = run(&t, &["show", &k.to_string(), "--json"]);
    assert_eq!(code, 0);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["seq"], k);
    let file = t.ledger.parent().unwrap().join("damaged.jsonl");
    let (code, _, err) = run(&t, &["export", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(&t, &["verify", "--export", file.to_str().unwrap()]);
    assert_eq!(code, 3);
    assert!(err.contains(&format!("event {k} ")), "{err}");
    // Nothing was appended by any of the refused commands: the index still ends at event n - 1
    // and the log at its end.
    let idx = std::fs::metadata(t.ledger.join("events.idx")).unwrap().len();
    assert_eq!(idx, n * 8, "the event index grew");
    let log = std::fs::metadata(t.ledger.join("events.log")).unwrap().len();
    assert_eq!(log as usize, event_span(&t, n - 1).end, "the event log grew");
}

#[test]
fn a_consistent_forgery_at_rest_fails_verify_naming_the_event_and_the_member() {
    let t = team();
    retrain_workflow(&t);
    let store = ledger::Store::open(&t.ledger).unwrap();
    let mut f = ledger::forge::Forgery::of_store(&store).unwrap();
    drop(store);
    let k = (0..f.len()).find(|k| f.event(*k)["kind"] == "promotion.evaluated").unwrap();
    let mae = f.event(k)["payload"]["gates"][0]["candidate"].clone();
    f.edit(k, |e| e["payload"]["gates"][0]["candidate"] = json!(1.0));
    f.write_store(&t.ledger).unwrap();
    let (code, out, err) = run(&t, &["verify", "--json"]);
    assert_eq!(code, 3, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let fail = &doc["failure"];
    assert_eq!(fail["seq"], k);
    assert_eq!(fail["mismatch"]["member"], "payload.gates[0].candidate");
    assert_eq!(fail["mismatch"]["recorded"], 1.0);
    assert_eq!(fail["mismatch"]["derived"], mae);
    let (_, _, err) = run(&t, &["verify"]);
    assert!(err.contains("`payload.gates[0].candidate` is 1 in the ledger"), "{err}");
}

#[test]
fn a_damaged_journal_record_is_reported_by_verify() {
    let t = team();
    retrain_workflow(&t);
    // After a clean close the journal keeps one acknowledged record: the head anchor.
    let wal = t.ledger.join("pledge.wal");
    let mut data = std::fs::read(&wal).unwrap();
    assert_eq!(&data[..4], b"PLW2");
    data[60] ^= 0x01;
    std::fs::write(&wal, &data).unwrap();
    let (code, _, err) = run(&t, &["verify"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("commit journal") && err.contains("damaged at byte 0"), "{err}");
    let (code, _, err) = run(&t, &["champion"]);
    assert_eq!(code, 3, "{err}");
    assert_eq!(std::fs::read(&wal).unwrap(), data, "the damaged journal is kept as found");
}

#[test]
fn an_older_copy_of_the_ledger_is_caught_against_a_head_noted_earlier() {
    let t = team();
    retrain_workflow(&t);
    let older = t.ledger.parent().unwrap().join("older");
    copy_dir(&t.ledger, &older);
    let old_head = t.head()["hash"].as_str().unwrap().to_string();
    t.ok(&["submit", "drift.record", r#"{"model":"demand","baseline":12.0,"recent":12.5}"#, "--as", "maya"]);
    let new_head = t.head()["hash"].as_str().unwrap().to_string();
    assert_eq!(t.ok(&["verify", "--expect-head", &old_head])["ok"], true, "a later ledger contains it");
    // The operator restores the older copy: valid on its own, caught against the noted head.
    std::fs::remove_dir_all(&t.ledger).unwrap();
    copy_dir(&older, &t.ledger);
    t.ok(&["verify"]);
    let (code, _, err) = run(&t, &["verify", "--expect-head", &new_head]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains(&format!("expected head {new_head}")), "{err}");
    let (code, _, err) = run(&t, &["verify", "--expect-head", "abc"]);
    assert_eq!(code, 2, "{err}");
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
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

const DRIFT: &str = r#"{"model":"demand","baseline":12.0,"recent":12.5}"#;

#[test]
fn commands_signed_long_ago_or_for_later_are_refused_locally_and_over_http() {
    let t = team();
    retrain_workflow(&t);
    let dir = t.ledger.parent().unwrap().to_path_buf();
    // Signed offline: a week and a day ago, and a day ahead (a wrong clock); then a fresh one.
    for (at, rule) in
        [("2020-01-01T00:00:00Z", "command.stale"), ("2099-01-01T00:00:00Z", "command.from_future")]
    {
        let file = dir.join(format!("{rule}.json"));
        let out = t
            .pledge()
            .env("PLEDGE_FIXED_TIME", at)
            .args(["sign", "drift.record", DRIFT, "--as", "maya", "--out", file.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        t.fails(&["submit", "--envelope", file.to_str().unwrap()], 1, &format!("rule `{rule}`"));
    }
    let fresh = dir.join("fresh.json");
    t.ok(&["sign", "drift.record", DRIFT, "--as", "maya", "--out", fresh.to_str().unwrap()]);
    let ev = t.ok(&["submit", "--envelope", fresh.to_str().unwrap()]);
    assert_eq!(ev["events"][0]["kind"], "drift.recorded");
    // Over HTTP, against a real server recording with the real clock: the stale command signed
    // offline above, sent by `submit --envelope`, and a command the CLI in remote mode signs
    // with a clock set in 2099. Both refused, nothing appended.
    let server = Server::start(&t);
    let remote = |args: &[&str], at: Option<&str>| {
        let mut c = t.pledge();
        c.env("PLEDGE_SERVER", &server.url);
        if let Some(at) = at {
            c.env("PLEDGE_FIXED_TIME", at);
        }
        c.args(args).output().unwrap()
    };
    let head = |out: std::process::Output| {
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["summary"]["head"]["hash"].clone()
    };
    let before = head(remote(&["verify", "--json"], None));
    let stale = dir.join("command.stale.json");
    for (out, rule) in [
        (remote(&["submit", "--envelope", stale.to_str().unwrap()], None), "command.stale"),
        (
            remote(&["submit", "drift.record", DRIFT, "--as", "maya"], Some("2099-01-01T00:00:00Z")),
            "command.from_future",
        ),
    ] {
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(rule), "{err}");
    }
    assert_eq!(head(remote(&["verify", "--json"], None)), before, "nothing appended");
}

/// A `pledge serve` on a port the system picks, stopped when dropped.
struct Server {
    child: std::process::Child,
    url: String,
}

impl Server {
    fn start(t: &Team) -> Server {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("pledge"))
            .args(["serve", "--addr", "127.0.0.1:0", "--json", "--ledger"])
            .arg(&t.ledger)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = serde_json::from_str::<Value>(&line).unwrap()["listening"].as_str().unwrap().to_string();
        Server { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
