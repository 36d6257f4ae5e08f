//! Golden human output: what a person sees at the terminal for the reads and for refusals,
//! from a fixed history. The output is deterministic at the source: fixed keys (written into
//! PLEDGE_HOME before `init`), and `PLEDGE_FIXED_TIME`, which fixes the clock and derives
//! command and ledger ids from the ledger instead of drawing them. Nothing is scrubbed.

use std::path::PathBuf;

use assert_cmd::Command;
use serde_json::{json, Value};

use crate::workflow::run_body;

const START: &str = "2026-03-02T09:00:00Z";

struct Golden {
    _tmp: tempfile::TempDir,
    home: PathBuf,
}

impl Golden {
    /// Runs in the temporary directory with relative paths, so that none is printed.
    fn pledge(&self) -> Command {
        let mut c = Command::cargo_bin("pledge").expect("built by `cargo test --workspace`");
        c.current_dir(self._tmp.path())
            .env("PLEDGE_HOME", "home")
            .env("PLEDGE_LEDGER", "ledger")
            .env("PLEDGE_FIXED_TIME", START)
            .env("NO_COLOR", "1")
            .env_remove("PLEDGE_IDENTITY");
        c
    }

    fn ok(&self, args: &[&str]) -> Value {
        let out = self.pledge().args(args).arg("--json").output().unwrap();
        assert!(out.status.success(), "pledge {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The screen: the command line, standard output, standard error, the exit code.
    fn screen(&self, args: &[&str]) -> String {
        let out = self.pledge().args(args).output().unwrap();
        format!(
            "$ pledge {}\n{}{}[exit {}]\n",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            out.status.code().unwrap_or(-1)
        )
    }
}

/// A team whose keys are fixed seeds, on a ledger with a fixed clock.
fn golden() -> Golden {
    let tmp = tempfile::tempdir().unwrap();
    let g = Golden { home: tmp.path().join("home"), _tmp: tmp };
    std::fs::create_dir_all(g.home.join("keys")).unwrap();
    for (i, who) in ["root", "maya", "colby", "ana"].iter().enumerate() {
        std::fs::write(
            g.home.join(format!("keys/{who}.key")),
            format!("{}\n", format!("{:02x}", i + 1).repeat(32)),
        )
        .unwrap();
    }
    g.ok(&["init", "--as", "root"]);
    for (who, role) in [("maya", "scientist"), ("colby", "approver"), ("ana", "approver")] {
        g.ok(&["keys", "enroll", who, "--role", role, "--as", "root"]);
    }
    g
}

fn history(g: &Golden) {
    g.ok(&["submit", "run.record", &run_body("r1", "manual", 12.3), "--as", "maya"]);
    g.ok(&["bootstrap-champion", "demand", "1", "--as", "colby"]);
    g.ok(&["submit", "run.record", &run_body("r2", "scheduled", 11.0), "--as", "maya"]);
    g.ok(&["submit", "run.record", &run_body("r3", "scheduled", 10.9), "--as", "maya"]);
    let drift = json!({"model": "demand", "baseline": 11.0, "recent": 13.4});
    g.ok(&["submit", "drift.record", &drift.to_string(), "--as", "maya"]);
}

#[test]
fn a_fixed_history_gives_the_same_ledger_every_time() {
    let heads: Vec<Value> = (0..2)
        .map(|_| {
            let g = golden();
            history(&g);
            g.ok(&["verify"])["summary"]["head"].clone()
        })
        .collect();
    assert_eq!(heads[0], heads[1]);
}

#[test]
fn what_people_see_at_the_terminal() {
    let g = golden();
    history(&g);
    let screens: Vec<String> = [
        &["champion"][..],
        &["alerts", "list"],
        &["alerts", "stats"],
        &["timeline", "demand"],
        &["log", "--kind", "champion.changed"],
        &["log", "--actor", "colby"],
        &["lineage", "demand", "2"],
        &["arena", "status"],
        &["release-check", "demand"],
        &["daily"],
        &["keys", "list"],
        &["show", "3"],
        // Refusals: the message and the hint a person gets.
        &["bootstrap-champion", "demand", "2", "--as", "maya"],
        &["submit", "alert.read", r#"{"alert_id":"A-0"}"#, "--as", "nobody"],
        &["champion", "nosuch"],
        &["log", "--since", "yesterday"],
    ]
    .iter()
    .map(|args| g.screen(args))
    .collect();
    insta::assert_snapshot!("terminal", screens.join("\n"));
}
