//! A team using `pledge` from the terminal: init, keys, signed commands, reads, and every kind
//! of refusal (exit code, message, and an unchanged ledger head).

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::{json, Value};

pub(crate) struct Team {
    pub(crate) _tmp: tempfile::TempDir,
    pub(crate) home: PathBuf,
    pub(crate) ledger: PathBuf,
    /// Extra environment for every invocation (`PLEDGE_SERVER`, `PLEDGE_FIXED_TIME`).
    pub(crate) env: std::cell::RefCell<Vec<(&'static str, String)>>,
}

const DIGEST: &str = "5c1d3e6f7a8b9c0d1e2f30415263748596a7b8c9d0e1f2031425364758697a8b";

impl Team {
    pub(crate) fn pledge(&self) -> Command {
        let mut c = Command::cargo_bin("pledge").expect("built by `cargo test --workspace`");
        c.env("PLEDGE_HOME", &self.home)
            .env("PLEDGE_LEDGER", &self.ledger)
            .env_remove("PLEDGE_IDENTITY")
            .env_remove("PLEDGE_SERVER")
            .env_remove("PLEDGE_FIXED_TIME");
        for (k, v) in self.env.borrow().iter() {
            c.env(k, v);
        }
        c
    }

    pub(crate) fn ok(&self, args: &[&str]) -> Value {
        let out = self.pledge().args(args).arg("--json").output().unwrap();
        assert!(out.status.success(), "pledge {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("pledge {args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
    }

    /// maya proposes hypothesis `id` for `model`, targeting MAE 5% better.
    pub(crate) fn propose_mae(&self, id: &str, model: &str, statement: &str) -> Value {
        self.propose_mae_for("maya", id, model, statement)
    }

    /// maya proposes hypothesis `id` for `model`, owned by `owner`, targeting MAE 5% better.
    pub(crate) fn propose_mae_for(&self, owner: &str, id: &str, model: &str, statement: &str) -> Value {
        self.ok(&[
            "hypothesis",
            "propose",
            id,
            model,
            "--statement",
            statement,
            "--change-type",
            "feature",
            "--target-metric",
            "mae",
            "--expected-improvement",
            "5",
            "--owner",
            owner,
            "--as",
            "maya",
        ])
    }

    /// maya records run `r1` of `demand` (MAE `mae`) and colby bootstraps its version 1 as
    /// the champion.
    pub(crate) fn bootstrap_r1(&self, mae: f64) {
        self.ok(&["submit", "run.record", &run_body("r1", "manual", mae), "--as", "maya"]);
        let body = r#"{"model":"demand","segment":null,"version":1}"#;
        self.ok(&["submit", "champion.bootstrap", body, "--as", "colby"]);
    }

    pub(crate) fn head(&self) -> Value {
        self.ok(&["verify"])["summary"]["head"].clone()
    }

    /// Runs a command that must fail with `code`, leave the head where it was, and say `needle`.
    pub(crate) fn fails(&self, args: &[&str], code: i32, needle: &str) -> String {
        let before = self.head();
        let out = self.pledge().args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(code), "pledge {args:?}: {err}");
        assert!(err.contains(needle), "pledge {args:?}: `{needle}` not in: {err}");
        assert!(err.starts_with("error:") || err.contains("error:"), "{err}");
        assert_eq!(self.head(), before, "a refused command must change nothing");
        err
    }
}

/// root (admin), maya (scientist), colby (approver), ana (approver and scientist), with new keys.
pub(crate) fn team() -> Team {
    team_with(false)
}

/// The same team with fixed keys and `PLEDGE_FIXED_TIME`: the same commands give the same ledger,
/// byte for byte.
pub(crate) fn fixed_team() -> Team {
    team_with(true)
}

/// [`fixed_team`] with its ledger at `ledger` (on a file system a test prepared).
pub(crate) fn fixed_team_at(ledger: PathBuf) -> Team {
    team_in(true, Some(ledger))
}

fn team_with(fixed: bool) -> Team {
    team_in(fixed, None)
}

fn team_in(fixed: bool, ledger: Option<PathBuf>) -> Team {
    let tmp = tempfile::tempdir().unwrap();
    let t = Team {
        home: tmp.path().join("home"),
        ledger: ledger.unwrap_or_else(|| tmp.path().join("ledger")),
        _tmp: tmp,
        env: Default::default(),
    };
    if fixed {
        std::fs::create_dir_all(t.home.join("keys")).unwrap();
        for (i, who) in ["root", "maya", "colby", "ana"].iter().enumerate() {
            let seed = format!("{:02x}", i + 1).repeat(32);
            let file = t.home.join(format!("keys/{who}.key"));
            std::fs::write(&file, format!("{seed}\n")).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
            }
        }
        t.env.borrow_mut().push(("PLEDGE_FIXED_TIME", "2026-03-02T09:00:00Z".into()));
    }
    t.ok(&["init", "--as", "root"]);
    for (who, role) in [("maya", "scientist"), ("colby", "approver"), ("ana", "approver")] {
        if !fixed {
            t.ok(&["keys", "new", who]);
        }
        t.ok(&["keys", "enroll", who, "--role", role, "--as", "root"]);
    }
    t.ok(&["keys", "grant", "ana", "scientist", "--as", "root"]);
    t
}

pub(crate) fn run_body(id: &str, trigger: &str, mae: f64) -> String {
    let m = json!({"mae": mae, "mape": mae / 60.0, "coverage": 0.9});
    json!({"run_id": id, "model": "demand", "task": "forecast", "trigger": trigger, "dataset_digest": DIGEST, "trainer": "external",
           "metrics": m, "models": [{"segment": null, "artifact_digest": DIGEST, "metrics": m}]})
    .to_string()
}

#[test]
fn a_team_records_promotes_and_audits_from_the_terminal() {
    retrain_workflow(&team());
}

/// Seed 002's scheduled retrain: a run, a bootstrap, a better retrain promoted by policy.
pub(crate) fn retrain_workflow(t: &Team) {
    let keys = t.ok(&["keys", "list"]);
    assert_eq!(keys["local"], json!(["ana", "colby", "maya", "root"]));
    assert_eq!(keys["enrolled"].as_array().unwrap().len(), 4);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(t.home.join("keys/maya.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "private keys are readable by their owner only");
    }
    let ev = t.ok(&["submit", "run.record", &run_body("r1", "manual", 12.3), "--as", "maya"]);
    assert_eq!(ev["events"][1]["kind"], "model.registered", "the first run registers the model");
    assert_eq!(ev["events"][2]["kind"], "version.registered");
    t.ok(&[
        "submit",
        "champion.bootstrap",
        r#"{"model":"demand","segment":null,"version":1}"#,
        "--as",
        "colby",
    ]);
    let ev = t.ok(&["submit", "run.record", &run_body("r2", "scheduled", 11.0), "--as", "maya"]);
    let kinds: Vec<&str> =
        ev["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"champion.changed"), "{kinds:?}");
    let champs = t.ok(&["champion", "demand"]);
    assert_eq!(champs["champions"][0]["version"], 2);
    let tl = t.ok(&["timeline", "demand"]);
    let actors: Vec<&str> =
        tl["entries"].as_array().unwrap().iter().filter_map(|e| e["actor"].as_str()).collect();
    assert!(actors.contains(&"colby") && actors.contains(&"maya"));
    let past = t.ok(&["timeline", "demand", "--as-of", &tl["entries"][2]["seq"].to_string()]);
    assert!(past["entries"].as_array().unwrap().len() < tl["entries"].as_array().unwrap().len());
    let log = t.ok(&["log", "--kind", "champion.changed"]);
    assert_eq!(log["events"].as_array().unwrap().len(), 2);
    let shown = t.ok(&["show", "0"]);
    assert_eq!(shown["event"]["kind"], "ledger.created");
    let stats = t.ok(&["alerts", "stats"]);
    assert_eq!(stats["open_by_severity"], json!({}));

    // Human output reads as a table.
    let out = t.pledge().args(["champion"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("model") && text.contains("demand") && text.contains("v2"), "{text}");
}

#[test]
fn refusals_have_their_exit_codes_messages_and_change_nothing() {
    let t = team();
    t.ok(&["submit", "run.record", &run_body("r1", "manual", 12.3), "--as", "maya"]);
    // Unknown local identity: invalid input.
    t.fails(&["submit", "alert.read", r#"{"alert_id":"A-x"}"#, "--as", "nobody"], 2, "no key `nobody`");
    // A key that exists locally but is not enrolled: rejected, with the admin's next step.
    t.ok(&["keys", "new", "eve"]);
    let err = t.fails(
        &["submit", "alert.read", r#"{"alert_id":"A-x"}"#, "--as", "eve"],
        1,
        "key `eve` is not enrolled",
    );
    assert!(err.contains("hint: an admin runs `pledge keys enroll eve"), "{err}");
    // Wrong role.
    t.fails(
        &["submit", "champion.bootstrap", r#"{"model":"demand","segment":null,"version":1}"#, "--as", "maya"],
        1,
        "role.not_allowed",
    );
    // Four eyes: ana proposes, ana may not approve.
    t.ok(&[
        "submit",
        "champion.bootstrap",
        r#"{"model":"demand","segment":null,"version":1}"#,
        "--as",
        "colby",
    ]);
    t.ok(&["submit", "run.record", &run_body("r2", "new_data", 11.0), "--as", "maya"]);
    let p = t.ok(&["submit", "arena.propose", r#"{"model":"demand","segment":null}"#, "--as", "ana"]);
    let id = p["events"][0]["payload"]["proposal_id"].as_str().unwrap().to_string();
    t.fails(
        &["submit", "arena.approve", &json!({"proposal_id": id}).to_string(), "--as", "ana"],
        1,
        "four_eyes",
    );
    // Malformed input: bad JSON, a missing file, unknown fields, bad flags.
    t.fails(&["submit", "run.record", "{not json", "--as", "maya"], 2, "not JSON");
    t.fails(&["submit", "run.record", "@/nonexistent/run.json", "--as", "maya"], 2, "cannot read");
    t.fails(&["submit", "run.record", r#"{"run_id":"x","surprise":1}"#, "--as", "maya"], 2, "unknown field");
    t.fails(&["champion", "--frobnicate"], 2, "unexpected argument");
    t.fails(
        &["keys", "grant", "maya", "overlord", "--as", "root"],
        2,
        "`overlord` is not one of: admin, approver",
    );
    // And the approver can approve.
    t.ok(&["submit", "arena.approve", &json!({"proposal_id": id}).to_string(), "--as", "colby"]);
    assert_eq!(t.ok(&["champion"])["champions"][0]["version"], 2);
}

#[test]
fn init_refuses_an_existing_ledger_and_reads_refuse_a_missing_one() {
    let t = team();
    let out = t.pledge().args(["init", "--as", "root"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let missing: &Path = &t.home; // a directory that is not a ledger
    let out = t.pledge().args(["champion", "--ledger"]).arg(missing).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pledge init"));
    // Reads of raw events never create a ledger at a mistyped path.
    let typo = t.home.join("ledgr");
    for sub in ["log", "show"] {
        let mut cmd = t.pledge();
        cmd.arg(sub);
        if sub == "show" {
            cmd.arg("0");
        }
        let out = cmd.arg("--ledger").arg(&typo).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{sub}");
        assert!(!typo.exists(), "`pledge {sub}` created `{}`", typo.display());
    }
}

#[test]
fn auditors_and_release_managers_get_their_answers() {
    let t = team();
    t.bootstrap_r1(12.3);
    t.ok(&["submit", "run.record", &run_body("r2", "scheduled", 11.5), "--as", "maya"]); // 6.5% better: promoted
    let policy = t.ok(&["policy", "show"]);
    assert_eq!(policy["version"], 1);

    // Counterfactual: at an 8% margin v2 would have stayed challenger.
    let mut alt = policy["policy"].clone();
    alt["promotion"]["gates"]["forecast"][0]["margin"] = json!(0.08);
    let alt_file = t.home.join("alt.json");
    std::fs::create_dir_all(&t.home).unwrap();
    std::fs::write(&alt_file, alt.to_string()).unwrap();
    let head = t.head();
    let report = t.ok(&["replay", "--policy", alt_file.to_str().unwrap()]);
    assert_eq!(report["differences"].as_array().unwrap().len(), 1);
    assert!(report["differences"][0]["explanation"].as_str().unwrap().contains("kept as challenger"));
    assert_eq!(t.head(), head, "replay writes nothing");

    // Release: red while the champion has no backtest, green with one; red again while a
    // critical drift alert is open.
    let out = t.pledge().args(["release-check", "demand"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("champions_backtested"));
    t.ok(&[
        "submit",
        "backtest.record",
        r#"{"model":"demand","version":2,"window_start":"2026-02-01","window_end":"2026-02-08","metrics":{"mae":11.6},"rows":5000}"#,
        "--as",
        "maya",
    ]);
    let rc = t.ok(&["release-check", "demand"]);
    assert_eq!(rc["green"], true);
    t.ok(&["submit", "drift.record", r#"{"model":"demand","baseline":12.8,"recent":18.5}"#, "--as", "maya"]);
    let out = t.pledge().args(["release-check", "demand"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("RED") && text.contains("no_open_critical_alert"), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not green: no_open_critical_alert"));
    let daily = t.ok(&["daily"]);
    assert_eq!(daily["alerts"]["open_by_severity"]["critical"], 1);
    assert_eq!(daily["health"][0]["champion"], 2);

    // Export and verify it offline.
    let file = t.home.join("ledger.jsonl");
    let ex = t.ok(&["export", file.to_str().unwrap()]);
    assert_eq!(ex["count"], t.head()["seq"].as_u64().unwrap() + 1);
    let v = t.ok(&["verify", "--export", file.to_str().unwrap()]);
    assert_eq!(v["ok"], true);

    // Policy change by an admin; a scientist may not.
    t.fails(&["policy", "set", alt_file.to_str().unwrap(), "--as", "maya"], 1, "role.not_allowed");
    t.ok(&["policy", "set", alt_file.to_str().unwrap(), "--as", "root"]);
    assert_eq!(t.ok(&["policy", "show"])["version"], 2);
    // What `policy show --json` prints is what `policy set` takes back.
    let mut shown = t.ok(&["policy", "show"]);
    shown["policy"]["drift"]["max_degradation_pct"] = json!(18.0);
    let shown_file = t.home.join("shown.json");
    std::fs::write(&shown_file, shown.to_string()).unwrap();
    t.ok(&["policy", "set", shown_file.to_str().unwrap(), "--as", "root"]);
    assert_eq!(t.ok(&["policy", "show"])["policy"]["drift"]["max_degradation_pct"], 18.0);
    // An invalid policy is refused by a named rule, and nothing is written.
    let bad = t.home.join("bad.json");
    std::fs::write(&bad, r#"{"permissions": {}}"#).unwrap();
    t.fails(&["policy", "set", bad.to_str().unwrap(), "--as", "root"], 1, "policy.invalid");
    let mut typo = t.ok(&["policy", "show"])["policy"].clone();
    typo["promotion"]["auto_promote_triggers"] = json!(["scheduled", "nightly"]);
    std::fs::write(&bad, typo.to_string()).unwrap();
    let err = t.fails(&["policy", "set", bad.to_str().unwrap(), "--as", "root"], 1, "policy.invalid");
    assert!(err.contains("auto_promote_triggers") && err.contains("nightly"), "{err}");
    t.fails(
        &["submit", "policy.set", &json!({"policy": typo}).to_string(), "--as", "root"],
        1,
        "policy.invalid",
    );
}

#[test]
fn the_seed_verbs_drive_the_drift_workflow() {
    drift_workflow(&team());
}

/// Seed 001's drift workflow through the verbs: drift alert, drift retrain approved through the
/// alert, rollback, an arena proposal refused to its proposer, malformed files.
pub(crate) fn drift_workflow(t: &Team) {
    let dir = t.home.join("files");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("m1.json"), r#"{"mae": 12.3, "mape": 0.2, "coverage": 0.9}"#).unwrap();
    std::fs::write(dir.join("m2.json"), r#"{"mae": 10.9, "mape": 0.15, "coverage": 0.92}"#).unwrap();
    std::fs::write(dir.join("model.bin"), b"weights").unwrap();
    std::fs::write(dir.join("train.csv"), b"a,b\n1,2\n").unwrap();
    let f = |n: &str| dir.join(n).to_str().unwrap().to_string();
    let rec = |id: &str, trigger: &str, m: &str, extra: &[&str]| {
        let mut args = vec!["record", "run", "demand", "--run-id", id, "--trigger", trigger];
        let (mf, af, df) = (f(m), f("model.bin"), f("train.csv"));
        let owned = [mf, af, df];
        args.extend([
            "--metrics",
            &owned[0],
            "--artifact",
            &owned[1],
            "--dataset",
            &owned[2],
            "--trainer",
            "lightgbm-4.3",
            "--as",
            "maya",
        ]);
        args.extend(extra);
        t.ok(&args)
    };
    let ev = rec("r1", "manual", "m1.json", &["--task", "forecast"]);
    assert_eq!(ev["events"][0]["payload"]["dataset_digest"], ledger::Digest::of(b"a,b\n1,2\n").to_string());
    assert_eq!(ev["events"][1]["payload"]["task"], "forecast");
    assert_eq!(ev["events"][2]["payload"]["artifact_digest"], ledger::Digest::of(b"weights").to_string());
    t.ok(&["bootstrap-champion", "demand", "1", "--as", "colby", "--reason", "first"]);
    let d = t.ok(&["record", "drift", "demand", "--baseline", "12.8", "--recent", "18.5", "--as", "maya"]);
    assert_eq!(d["events"][0]["payload"]["exceeded"], true);
    let alerts = t.ok(&["alerts", "list", "--severity", "critical"]);
    let id = alerts["alerts"][0]["id"].as_str().unwrap().to_string();
    rec("r2", "drift_detected", "m2.json", &["--drift-alert-id", &id]);
    t.ok(&["alerts", "read", &id, "--as", "colby"]);
    let a = t.ok(&["alerts", "action", &id, "approve", "--notes", "reviewed", "--as", "colby"]);
    assert_eq!(a["events"][1]["payload"]["cause"], "approval");
    assert_eq!(t.ok(&["champion"])["champions"][0]["version"], 2);
    let lin = t.ok(&["lineage", "demand", "2", "--up"]);
    assert!(lin["downstream"].is_null());
    let up: Vec<&str> =
        lin["upstream"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(up.contains(&"drift.recorded") && up.contains(&"run.recorded"), "{up:?}");
    t.ok(&["rollback", "demand", "1", "--reason", "v2 misbehaves", "--as", "colby"]);
    assert_eq!(t.ok(&["champion"])["champions"][0]["version"], 1);
    // Arena: a new challenger, proposed by ana; she may not approve her own proposal.
    rec("r3", "new_data", "m2.json", &[]);
    let p = t.ok(&["arena", "propose", "demand", "--as", "ana"]);
    assert_eq!(p["events"][0]["payload"]["challenger"], 3);
    let pid = p["events"][0]["payload"]["proposal_id"].as_str().unwrap().to_string();
    t.fails(&["arena", "approve", &pid, "--as", "ana"], 1, "four_eyes");
    let status = t.ok(&["arena", "status"]);
    assert_eq!(status["proposals"][0]["status"], "pending");
    t.ok(&["arena", "reject", &pid, "--reason", "wait for next week", "--as", "colby"]);
    // A file holding a member twice is refused (parsers disagree on which one wins), and
    // nothing is written.
    std::fs::write(dir.join("twice.json"), r#"{"mae": 12.0, "mae": 1.0}"#).unwrap();
    t.fails(
        &[
            "record",
            "backtest",
            "demand",
            "1",
            "--from",
            "2026-02-01",
            "--to",
            "2026-02-08",
            "--metrics",
            &f("twice.json"),
            "--rows",
            "1",
            "--as",
            "maya",
        ],
        2,
        "the member `mae` appears twice",
    );
    // Malformed metrics files are invalid input, and nothing is written.
    std::fs::write(dir.join("bad.json"), r#"{"mae": "high"}"#).unwrap();
    t.fails(
        &[
            "record",
            "backtest",
            "demand",
            "1",
            "--from",
            "a",
            "--to",
            "b",
            "--metrics",
            &f("bad.json"),
            "--rows",
            "1",
            "--as",
            "maya",
        ],
        2,
        "not a finite number",
    );
    t.fails(
        &[
            "record",
            "backtest",
            "demand",
            "1",
            "--from",
            "a",
            "--to",
            "b",
            "--metrics",
            &f("missing.json"),
            "--rows",
            "1",
            "--as",
            "maya",
        ],
        2,
        "cannot read metrics file",
    );
}

#[test]
fn an_experiment_from_hypothesis_to_partial_adoption() {
    experiment_workflow(&team());
}

/// Seed 003's experiment: hypothesis, approval, department models, shadow windows, partial
/// adoption for Electronics.
pub(crate) fn experiment_workflow(t: &Team) {
    let dir = t.home.join("files");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("m.json"), r#"{"mae": 12.8, "mape": 0.2, "coverage": 0.9}"#).unwrap();
    std::fs::write(dir.join("e.json"), r#"{"mae": 14.2, "mape": 0.21, "coverage": 0.9}"#).unwrap();
    std::fs::write(dir.join("g.json"), r#"{"mae": 12.1, "mape": 0.18, "coverage": 0.9}"#).unwrap();
    std::fs::write(dir.join("a.bin"), b"m").unwrap();
    std::fs::write(dir.join("results.json"), r#"{"improvement_electronics_pct": 22.0}"#).unwrap();
    let f = |n: &str| dir.join(n).to_str().unwrap().to_string();
    let (m, a) = (f("m.json"), f("a.bin"));
    t.ok(&[
        "record",
        "run",
        "demand",
        "--run-id",
        "r1",
        "--trigger",
        "manual",
        "--metrics",
        &m,
        "--artifact",
        &a,
        "--dataset",
        &a,
        "--trainer",
        "x",
        "--task",
        "forecast",
        "--as",
        "maya",
    ]);
    t.ok(&["bootstrap-champion", "demand", "1", "--as", "colby"]);
    t.ok(&[
        "hypothesis",
        "propose",
        "H-SEG-001",
        "demand",
        "--statement",
        "Department models help Electronics",
        "--change-type",
        "architecture",
        "--target-metric",
        "mae",
        "--expected-improvement",
        "12",
        "--owner",
        "maya",
        "--as",
        "maya",
    ]);
    t.fails(&["experiment", "start", "H-SEG-001", "--as", "maya"], 1, "experiment.not_approved");
    t.ok(&[
        "experiment",
        "approve",
        "H-SEG-001",
        "--rationale",
        "high variability",
        "--constraint",
        "2 windows",
        "--as",
        "colby",
    ]);
    t.ok(&["experiment", "start", "H-SEG-001", "--as", "maya"]);
    for (seg, file) in [("electronics", "e.json"), ("grocery", "g.json")] {
        let mf = f(file);
        t.ok(&[
            "record",
            "run",
            "demand",
            "--run-id",
            &format!("r-{seg}"),
            "--trigger",
            "experiment",
            "--hypothesis-id",
            "H-SEG-001",
            "--segment",
            seg,
            "--metrics",
            &mf,
            "--artifact",
            &a,
            "--dataset",
            &a,
            "--trainer",
            "x",
            "--as",
            "maya",
        ]);
    }
    t.ok(&["experiment", "shadow", "H-SEG-001", "--windows", "2", "--as", "maya"]);
    let (cm, em) = (f("m.json"), f("e.json"));
    for end in ["2026-03-08", "2026-03-15"] {
        t.ok(&[
            "record",
            "shadow",
            "demand",
            "--champion",
            "1",
            "--challenger",
            "2",
            "--from",
            "2026-03-01",
            "--to",
            end,
            "--champion-metrics",
            &cm,
            "--challenger-metrics",
            &em,
            "--samples",
            "23911",
            "--segment",
            "electronics",
            "--hypothesis-id",
            "H-SEG-001",
            "--as",
            "maya",
        ]);
    }
    let shadow_done = t.ok(&["alerts", "list"]);
    assert!(shadow_done["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["alert_type"] == "shadow_test_complete"));
    let rf = f("results.json");
    t.ok(&[
        "experiment",
        "complete",
        "H-SEG-001",
        "--decision",
        "partial_adopt",
        "--adopt-segment",
        "electronics",
        "--results",
        &rf,
        "--rationale",
        "Electronics only",
        "--as",
        "colby",
    ]);
    let x = t.ok(&["experiment", "show", "H-SEG-001"]);
    assert_eq!(x["status"], "completed");
    assert_eq!(x["versions"], json!([2, 3]));
    let list = t.ok(&["hypothesis", "list"]);
    assert_eq!(list["experiments"].as_array().unwrap().len(), 1);
    let champs = t.ok(&["champion", "demand"]);
    let segs: Vec<(Value, Value)> = champs["champions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["segment"].clone(), c["version"].clone()))
        .collect();
    assert_eq!(segs, vec![(Value::Null, json!(1)), (json!("electronics"), json!(2))]);
    let out = t.pledge().args(["experiment", "show", "H-SEG-001"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("decision: partial_adopt by colby"), "{text}");
}

#[test]
fn train_candidate_takes_the_seed_flags_and_is_judged_by_the_gates() {
    let t = team();
    let dir = t.home.join("files");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("m1.json"), r#"{"mae": 12.3, "mape": 0.2, "coverage": 0.9}"#).unwrap();
    std::fs::write(dir.join("m2.json"), r#"{"mae": 11.0, "mape": 0.17, "coverage": 0.9}"#).unwrap();
    std::fs::write(dir.join("a1.bin"), b"one").unwrap();
    std::fs::write(dir.join("a2.bin"), b"two").unwrap();
    std::fs::write(dir.join("train.csv"), b"x\n").unwrap();
    let f = |n: &str| dir.join(n).to_str().unwrap().to_string();
    t.ok(&["model", "register", "demand", "--task", "forecast", "--as", "maya"]);
    t.fails(&["model", "register", "demand", "--task", "regression", "--as", "maya"], 1, "model.exists");
    t.propose_mae_for("colby", "H-101", "demand", "Segmented sqft interactions lower MAE");
    let train = |metrics: &str, artifact: &str| {
        let (m, a, d) = (f(metrics), f(artifact), f("train.csv"));
        t.ok(&[
            "train-candidate",
            "demand",
            "--hypothesis-id",
            "H-101",
            "--change-type",
            "feature",
            "--change-summary",
            "Added segmented sqft interactions by property type",
            "--owner",
            "colby",
            "--feature-set-version",
            "v2.0",
            "--dataset-version",
            "20260211",
            "--strategy",
            "segmented_router",
            "--router-mode",
            "segment_only",
            "--min-segment-rows",
            "2000",
            "--metrics",
            &m,
            "--artifact",
            &a,
            "--dataset",
            &d,
            "--as",
            "maya",
        ])
    };
    let first = train("m1.json", "a1.bin");
    assert_eq!(first["events"][0]["payload"]["params"]["router_mode"], "segment_only");
    assert_eq!(first["events"][0]["payload"]["feature_set"], "v2.0");
    t.ok(&["bootstrap-champion", "demand", "1", "--as", "colby"]);
    let second = train("m2.json", "a2.bin");
    let kinds: Vec<&str> =
        second["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"promotion.evaluated") && kinds.contains(&"champion.changed"), "{kinds:?}");
    let (m, a, d) = (f("m1.json"), f("a1.bin"), f("train.csv"));
    t.fails(
        &[
            "train-candidate",
            "demand",
            "--hypothesis-id",
            "H-1",
            "--change-type",
            "vibes",
            "--change-summary",
            "s",
            "--owner",
            "o",
            "--feature-set-version",
            "v",
            "--dataset-version",
            "d",
            "--metrics",
            &m,
            "--artifact",
            &a,
            "--dataset",
            &d,
            "--as",
            "maya",
        ],
        2,
        "`vibes` is not one of: feature, objective, data, tuning, architecture",
    );
}
