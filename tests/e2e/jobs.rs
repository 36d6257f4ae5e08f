//! The seeds' scheduled jobs on real data: a weekly retrain, a daily drift check, a daily
//! champion backtest and a shadow evaluation, run from a jobs file at fixed instants with
//! `pledge jobs run --due`, each run once however often it is attempted; and the same file
//! run by `pledge serve --jobs` under its service key.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::remote::Server;
use crate::serving::send;
use crate::training::{bike_run, data, refs};
use crate::workflow::{team, Team};

/// The bike forecaster v1, trained and bootstrapped by hand.
fn bikes(t: &Team) -> PathBuf {
    t.propose_mae("H-BIKE-1", "bikes", "hourly demand");
    let dir = t.ledger.parent().unwrap().to_path_buf();
    std::fs::write(dir.join("params.json"), r#"{"backtest_windows": 2}"#).unwrap();
    let params = dir.join("params.json");
    t.ok(&refs(&bike_run("H-BIKE-1", "bikeshare.spec.json", &["--params", params.to_str().unwrap()])));
    t.ok(&["bootstrap-champion", "bikes", "1", "--as", "colby", "--reason", "baseline"]);
    dir
}

fn jobs_file(dir: &Path, jobs: Value) -> String {
    let path = dir.join("jobs.json");
    std::fs::write(&path, json!({"jobs": jobs}).to_string()).unwrap();
    path.display().to_string()
}

fn seed_jobs() -> Value {
    json!([
        {"name": "weekly-retrain", "kind": "retrain", "model": "bikes", "every": "week", "weekday": "mon", "at": "02:00",
         "data": data("bikeshare.csv"), "spec": data("bikeshare.spec.json"), "params": "params.json"},
        {"name": "daily-drift", "kind": "drift_check", "model": "bikes", "every": "day", "at": "06:00",
         "data": data("bikeshare.csv"), "recent_periods": 7, "baseline_periods": 30},
        {"name": "daily-backtest", "kind": "backtest", "model": "bikes", "every": "day", "at": "06:30",
         "data": data("bikeshare.csv"), "periods": 7},
        {"name": "nightly-shadow", "kind": "shadow_evaluate", "model": "bikes", "every": "day", "at": "00:30"}
    ])
}

fn statuses(out: &Value) -> Vec<(String, String)> {
    out["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["job"].as_str().unwrap().to_string(), r["status"].as_str().unwrap().to_string()))
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

#[test]
fn due_jobs_run_once_per_instant_and_leave_their_trace_in_the_ledger() {
    let t = team();
    let dir = bikes(&t);
    let file = jobs_file(&dir, seed_jobs());
    // Monday 2026-03-02, 07:00 UTC: every job is due.
    let monday = "2026-03-02T07:00:00Z";
    let out = t.ok(&["jobs", "run", "--due", "--jobs", &file, "--now", monday, "--as", "maya"]);
    assert_eq!(
        statuses(&out),
        pairs(&[
            ("weekly-retrain", "ran"),
            ("daily-drift", "ran"),
            ("daily-backtest", "ran"),
            ("nightly-shadow", "nothing")
        ]),
        "{out}"
    );
    let runs = out["runs"].as_array().unwrap();
    assert_eq!(runs[0]["scheduled_for"], "2026-03-02T02:00:00Z");
    assert_eq!(runs[1]["scheduled_for"], "2026-03-02T06:00:00Z");
    // The retrain: trigger `scheduled`, with its start and finish times and its job.
    let run = &runs[0]["events"][0];
    assert_eq!(run["kind"], "run.recorded");
    let p = &run["payload"];
    assert_eq!(p["trigger"], "scheduled");
    let (started, finished) = (p["started_at"].as_str().unwrap(), p["finished_at"].as_str().unwrap());
    assert!(started.ends_with('Z') && started <= finished, "{started} {finished}");
    assert_eq!(
        (p["params"]["job"].clone(), p["params"]["scheduled_for"].clone()),
        (json!("weekly-retrain"), json!("2026-03-02T02:00:00Z"))
    );
    // The drift check and the backtest of the champion on the last 7 days (359..365).
    assert_eq!(runs[1]["events"][0]["kind"], "drift.recorded");
    let b = &runs[2]["events"][0];
    assert_eq!((b["kind"].clone(), b["payload"]["version"].clone()), (json!("backtest.recorded"), json!(1)));
    assert_eq!(
        (b["payload"]["window_start"].clone(), b["payload"]["window_end"].clone()),
        (json!("359"), json!("365"))
    );
    assert!(b["payload"]["metrics"]["mae"].as_f64().unwrap() > 0.0);
    let head = t.head();

    // Run again at the same time, or later the same day: nothing is appended twice.
    for now in [monday, "2026-03-02T23:59:00Z"] {
        let again = t.ok(&["jobs", "run", "--due", "--jobs", &file, "--now", now, "--as", "maya"]);
        assert_eq!(
            statuses(&again),
            pairs(&[
                ("weekly-retrain", "already_ran"),
                ("daily-drift", "already_ran"),
                ("daily-backtest", "already_ran"),
                ("nightly-shadow", "nothing")
            ]),
        );
    }
    assert_eq!(t.head(), head, "a re-run appends nothing");
    let shown = t.ok(&["jobs", "show", "--jobs", &file, "--now", monday]);
    assert!(shown["jobs"].as_array().unwrap().iter().take(3).all(|j| j["ran"] == true), "{shown}");
    assert_eq!(shown["jobs"][1]["next_instant"], "2026-03-03T06:00:00Z");

    // Tuesday: the daily jobs run again; the weekly retrain does not.
    let out =
        t.ok(&["jobs", "run", "--due", "--jobs", &file, "--now", "2026-03-03T07:00:00Z", "--as", "maya"]);
    assert_eq!(
        statuses(&out),
        pairs(&[
            ("weekly-retrain", "already_ran"),
            ("daily-drift", "ran"),
            ("daily-backtest", "ran"),
            ("nightly-shadow", "nothing")
        ]),
    );
    // Next Monday: a new run (its dataset version is the scheduled date).
    let out = t.ok(&[
        "jobs",
        "run",
        "weekly-retrain",
        "--jobs",
        &file,
        "--now",
        "2026-03-09T07:00:00Z",
        "--as",
        "maya",
    ]);
    assert_eq!(statuses(&out), pairs(&[("weekly-retrain", "ran")]));
    assert!(
        out["runs"][0]["events"][0]["payload"]["run_id"].as_str().unwrap().starts_with("bikes-2026-03-09-"),
        "{out}"
    );
    // One job by name.
    let out = t.ok(&[
        "jobs",
        "run",
        "daily-drift",
        "--jobs",
        &file,
        "--now",
        "2026-03-04T07:00:00Z",
        "--as",
        "maya",
    ]);
    assert_eq!(statuses(&out), pairs(&[("daily-drift", "ran")]));
    // A retrain whose job fixes the dataset version: the second week trains the same data,
    // spec and parameters again, which is nothing new to record, not a failure.
    let mut fixed = seed_jobs()[0].clone();
    fixed["name"] = json!("weekly-fixed");
    fixed["dataset_version"] = json!("2011");
    let file = jobs_file(&dir, json!([fixed]));
    let out =
        t.ok(&["jobs", "run", "--due", "--jobs", &file, "--now", "2026-03-09T07:00:00Z", "--as", "maya"]);
    assert_eq!(statuses(&out), pairs(&[("weekly-fixed", "ran")]));
    let out =
        t.ok(&["jobs", "run", "--due", "--jobs", &file, "--now", "2026-03-16T07:00:00Z", "--as", "maya"]);
    assert_eq!(statuses(&out), pairs(&[("weekly-fixed", "nothing")]));
    assert!(out["runs"][0]["message"].as_str().unwrap().contains("already recorded"), "{out}");
    assert_eq!(t.ok(&["verify"])["ok"], true);
}

#[test]
fn bad_jobs_files_are_refused_by_name_and_change_nothing() {
    let t = team();
    let dir = bikes(&t);
    let cases: Vec<(Value, &str)> = vec![
        (
            json!([{"name": "a", "kind": "drift_check", "model": "bikes", "every": "day", "data": "x.csv", "recent_periods": 7}]),
            "job `a`: a `drift_check` job needs `baseline_periods`",
        ),
        (
            json!([{"name": "a", "kind": "backtest", "model": "bikes", "every": "day", "data": "x.csv", "periods": 7, "spec": "s.json"}]),
            "a `backtest` job takes no `spec`",
        ),
        (
            json!([{"name": "a", "kind": "shadow_evaluate", "model": "bikes", "every": "day", "at": "25:00"}]),
            "`at` = `25:00`",
        ),
        (
            json!([{"name": "a", "kind": "shadow_evaluate", "model": "bikes", "every": "day", "weekday": "mon"}]),
            "`weekday` is for weekly jobs",
        ),
        (
            json!([{"name": "a", "kind": "shadow_evaluate", "model": "bikes", "every": "fortnight"}]),
            "fortnight",
        ),
        (
            json!([{"name": "a", "kind": "shadow_evaluate", "model": "bikes", "every": "day", "colour": "red"}]),
            "colour",
        ),
        (
            json!([{"name": "a", "kind": "shadow_evaluate", "model": "bikes", "every": "day"}, {"name": "a", "kind": "shadow_evaluate", "model": "bikes", "every": "day"}]),
            "names job `a` twice",
        ),
        (
            json!([{"name": "a b", "kind": "shadow_evaluate", "model": "bikes", "every": "day"}]),
            "job name `a b`",
        ),
    ];
    for (jobs, needle) in cases {
        let file = jobs_file(&dir, jobs);
        t.fails(&["jobs", "run", "--due", "--jobs", &file, "--as", "maya"], 2, needle);
    }
    let file = jobs_file(&dir, seed_jobs());
    t.fails(&["jobs", "run", "nope", "--jobs", &file, "--as", "maya"], 2, "no job `nope`");
    // A job that fails (a drift check on a model without a champion) is reported, exits 1,
    // and the others still run.
    let jobs = json!([
        {"name": "orphan-drift", "kind": "drift_check", "model": "taxi", "every": "day", "data": data("bikeshare.csv"), "recent_periods": 7, "baseline_periods": 30},
        {"name": "daily-drift", "kind": "drift_check", "model": "bikes", "every": "day", "data": data("bikeshare.csv"), "recent_periods": 7, "baseline_periods": 30}
    ]);
    let file = jobs_file(&dir, jobs);
    let out = t
        .pledge()
        .args(["jobs", "run", "--due", "--jobs", &file, "--as", "maya", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(statuses(&v), pairs(&[("orphan-drift", "failed"), ("daily-drift", "ran")]));
    assert!(v["runs"][0]["message"].as_str().unwrap().contains("no model `taxi`"), "{v}");
}

/// `pledge serve --jobs` runs a due job at start, signed by its service key; the run is the
/// ledger's, so a later attempt for the same instant finds it.
#[test]
fn the_server_runs_due_jobs_under_its_service_identity() {
    let t = team();
    let dir = bikes(&t);
    t.ok(&["keys", "new", "svc"]);
    t.ok(&["keys", "enroll", "svc", "--role", "service", "--as", "root"]);
    let file = jobs_file(
        &dir,
        json!([{"name": "hourly-drift", "kind": "drift_check", "model": "bikes", "every": "hour",
                "data": data("bikeshare.csv"), "recent_periods": 7, "baseline_periods": 30}]),
    );
    // Without a service key the jobs are refused at start.
    let out = t.pledge().args(["serve", "--addr", "127.0.0.1:0", "--jobs", &file]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--service-key"));

    let home = t.home.display().to_string();
    let server = Server::start_with(&t, &["--jobs", &file, "--service-key", "svc", "--home", &home]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let event = loop {
        let (code, v) =
            send(&server.url, "GET", "/api/v1/events?kind=drift.recorded", "application/json", "");
        assert_eq!(code, 200, "{v}");
        if let Some(e) = v["events"].as_array().and_then(|e| e.first()).cloned() {
            break e;
        }
        assert!(std::time::Instant::now() < deadline, "the due job never ran");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(server.stop().success());
    // Signed by the service key.
    let shown = t.ok(&["show", &event["seq"].to_string()]);
    let keyid = shown["event"]["cause"]["command"]["signatures"][0]["keyid"]
        .as_str()
        .unwrap_or_else(|| panic!("{shown}"))
        .to_string();
    let keys = t.ok(&["keys", "list"]);
    let signer = keys.to_string();
    assert!(signer.contains(&keyid), "{keys}");
    let enrolled =
        keys.pointer("/ledger/enrolled").or_else(|| keys.get("enrolled")).cloned().unwrap_or_default();
    let principal = enrolled
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| k["key_id"] == keyid.as_str())
        .map(|k| k["principal"].clone());
    assert_eq!(principal, Some(json!("svc")), "{keys}");
    let at = event["recorded_at"].as_str().unwrap();
    let jobs = t.ok(&["jobs", "show", "--jobs", &file, "--now", at]);
    assert_eq!(jobs["jobs"][0]["ran"], true, "{jobs}");
    let again = t.ok(&["jobs", "run", "--due", "--jobs", &file, "--now", at, "--as", "svc"]);
    assert_eq!(statuses(&again), pairs(&[("hourly-drift", "already_ran")]));
}
