//! The seed workflows over HTTP: the CLI in remote mode (`PLEDGE_SERVER`) against a real
//! `pledge serve` on a random loopback port gives the same ledger, byte for byte, as the same
//! commands run against the ledger directly.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use serde_json::Value;

use crate::workflow::{drift_workflow, experiment_workflow, fixed_team, retrain_workflow, Team};

/// A `pledge serve` child process on the team's ledger.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) url: String,
}

impl Server {
    /// Starts the server on a port the system picks and waits for its address line.
    pub(crate) fn start(t: &Team) -> Server {
        Server::start_with(t, &[])
    }

    /// The same, with more `pledge serve` arguments.
    pub(crate) fn start_with(t: &Team, extra: &[&str]) -> Server {
        let (child, url) = spawn_serve(t, extra, None);
        Server { child, url }
    }

    /// SIGTERM, then the exit status: a graceful shutdown exits 0.
    pub(crate) fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let killed = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    /// A failed test does not leave its server running.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn documents(t: &Team) -> Vec<Value> {
    vec![
        t.ok(&["log", "--limit", "1000"]),
        t.ok(&["verify"])["summary"].clone(),
        t.ok(&["champion"]),
        t.ok(&["alerts", "list"]),
        t.ok(&["timeline", "demand"]),
        t.ok(&["hypothesis", "list"]),
        t.ok(&["daily"]),
    ]
}

#[test]
fn the_seed_workflows_over_http_give_the_same_ledger_as_local_mode() {
    for (name, workflow) in [
        ("retrain", retrain_workflow as fn(&Team)),
        ("drift", drift_workflow),
        ("experiment", experiment_workflow),
    ] {
        let local = fixed_team();
        workflow(&local);

        let remote = fixed_team();
        let server = Server::start(&remote);
        remote.env.borrow_mut().push(("PLEDGE_SERVER", server.url.clone()));
        workflow(&remote);
        let over_http = documents(&remote);
        if let Some(d) =
            first_difference("", &Value::from(over_http.clone()), &Value::from(documents(&local)))
        {
            panic!("{name}: the remote run differs from the local one at {d}");
        }

        assert!(server.stop().success(), "{name}: the server stops cleanly");
        remote.env.borrow_mut().retain(|(k, _)| *k != "PLEDGE_SERVER");
        assert_eq!(documents(&remote), over_http, "{name}: what the server wrote is what it served");
    }
}

#[test]
fn remote_mode_refuses_what_needs_the_ledger_directory_and_reports_an_absent_server() {
    let t = fixed_team();
    let server = Server::start(&t);
    t.env.borrow_mut().push(("PLEDGE_SERVER", server.url.clone()));
    let out = t.pledge().args(["export", "x.jsonl"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs the ledger's directory"));
    // An unenrolled key is refused before anything is sent, with the admin's next step.
    t.ok(&["keys", "new", "eve"]);
    let out = t.pledge().args(["hypothesis", "list", "--as", "eve"]).output().unwrap();
    assert!(out.status.success(), "reads need no key");
    t.fails(&["submit", "alert.read", r#"{"alert_id":"A-x"}"#, "--as", "eve"], 1, "pledge keys enroll eve");
    // A signed refusal comes back with the server's rule and exit code 1.
    t.fails(&["bootstrap-champion", "demand", "1", "--as", "maya"], 1, "role.not_allowed");
    assert!(server.stop().success());
    let out = t.pledge().args(["champion"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach the server"));
}

/// One raw HTTP/1.1 request; the status code and the response's head.
fn raw(url: &str, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    // A server that never answers fails the test instead of hanging it.
    s.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let head = text.split("\r\n\r\n").next().unwrap_or_default().to_string();
    let code = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, head)
}

#[test]
fn a_served_read_token_guards_every_method_and_the_cli_sends_it() {
    let t = fixed_team();
    let token = "a-read-token-of-24-chars";
    let server = Server::start_with(&t, &["--read-token", token]);
    // Without the token: 401 for every method on every route, an existing id or not, and HEAD
    // /api/v1/verify does not run a verification.
    for method in ["GET", "HEAD", "OPTIONS", "POST", "PATCH"] {
        for path in ["/api/v1/champions", "/api/v1/verify", "/api/v1/events/1", "/api/v1/events/99999"] {
            assert_eq!(raw(&server.url, method, path, None).0, 401, "{method} {path}");
        }
    }
    let (code, head) = raw(&server.url, "HEAD", "/api/v1/events/1", Some(token));
    assert_eq!(code, 200, "{head}");
    // The CLI sends PLEDGE_READ_TOKEN with every request, writes included.
    t.env.borrow_mut().push(("PLEDGE_SERVER", server.url.clone()));
    let out = t.pledge().args(["champion", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "no token: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("read token"));
    t.env.borrow_mut().push(("PLEDGE_READ_TOKEN", token.to_string()));
    t.ok(&["champion"]);
    let proposed = t.propose_mae("H-TOKEN", "demand", "over a guarded server");
    assert_eq!(proposed["ok"], true, "{proposed}");
    assert!(server.stop().success());
}

#[test]
fn a_ledger_held_by_a_server_is_busy_for_local_commands_with_its_own_exit_code() {
    let t = fixed_team();
    let server = Server::start(&t);
    let before = t.ok(&["verify", "--server", &server.url])["summary"]["events"].clone();
    // A local command while the server holds the ledger: exit 5, a message naming the cause
    // and the way out, JSON too; after the --wait given, not the default 2 s.
    for (args, json) in
        [(vec!["champion", "--wait", "0"], false), (vec!["log", "--wait", "0.2", "--json"], true)]
    {
        let out = t.pledge().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(5), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("is in use by another process") && err.contains("--server"), "{err}");
        if json {
            let v: Value = serde_json::from_str(err.trim()).unwrap();
            assert_eq!(v["error"]["exit"], 5);
        }
    }
    // A write is refused the same way and writes nothing.
    let out = t
        .pledge()
        .args(["bootstrap-champion", "demand", "1", "--as", "colby", "--wait", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    let out = t.pledge().args(["--wait", "-1", "champion"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "a negative wait is invalid input");
    // A command that waits gets the ledger once the server has stopped.
    let waiting = std::process::Command::new(assert_cmd::cargo::cargo_bin("pledge"))
        .args(["champion", "--json", "--wait", "60"])
        .env("PLEDGE_HOME", &t.home)
        .env("PLEDGE_LEDGER", &t.ledger)
        .env_remove("PLEDGE_SERVER")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(server.stop().success());
    assert!(waiting.wait_with_output().unwrap().status.success());
    assert_eq!(t.ok(&["verify"])["summary"]["events"], before, "nothing was written while busy");
}

/// Starts `pledge serve` on the team's ledger (under `sh -c "LIMIT && exec ..."` when `limit`
/// is given) and returns the child and its address.
fn spawn_serve(t: &Team, extra: &[&str], limit: Option<&str>) -> (Child, String) {
    let pledge = assert_cmd::cargo::cargo_bin("pledge");
    let mut cmd = match limit {
        None => std::process::Command::new(&pledge),
        Some(l) => {
            let mut c = std::process::Command::new("sh");
            c.arg("-c").arg(format!("{l} && exec \"$0\" \"$@\"")).arg(&pledge);
            c
        }
    };
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--json", "--ledger"]).arg(&t.ledger).args(extra);
    for (k, v) in t.env.borrow().iter() {
        cmd.env(k, v);
    }
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("`{line}`: {e}"));
    (child, v["listening"].as_str().unwrap().to_string())
}

/// A connection that sent half a request header and nothing more.
fn half_header(url: &str) -> std::net::TcpStream {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(url.trim_start_matches("http://")).unwrap();
    s.write_all(b"GET /api/v1/champions HTTP/1.1\r\nHo").unwrap();
    s
}

/// Whether the server closed `s` (end of file, a reset, or a 408) within `within`.
fn closed_within(mut s: std::net::TcpStream, within: std::time::Duration) -> bool {
    use std::io::Read;
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 256];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(n) => String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"),
        Err(e) => !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
    }
}

#[test]
fn slow_headers_are_cut_off_while_others_are_answered() {
    let t = fixed_team();
    let server = Server::start_with(&t, &["--header-timeout", "1"]);
    let slow: Vec<_> = (0..20).map(|_| half_header(&server.url)).collect();
    // A normal request is answered while the twenty wait.
    assert_eq!(raw(&server.url, "GET", "/api/v1/champions", None).0, 200);
    // Each slow connection is closed by the header timeout, well before the 10 s bound.
    let started = std::time::Instant::now();
    for s in slow {
        assert!(closed_within(s, std::time::Duration::from_secs(10)), "a half-sent header stayed open");
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(server.stop().success());
}

#[test]
fn idle_connections_past_the_limit_wait_and_a_request_is_still_answered() {
    // 64 file descriptors, 100 idle connections: the limit (24) keeps descriptors free, the
    // rest wait in the backlog, and idle ones are closed after the header timeout.
    let t = fixed_team();
    let (child, url) =
        spawn_serve(&t, &["--max-connections", "24", "--header-timeout", "1"], Some("ulimit -n 64"));
    let server = Server { child, url };
    let addr = server.url.trim_start_matches("http://").to_string();
    let idle: Vec<_> = (0..100).filter_map(|_| std::net::TcpStream::connect(&addr).ok()).collect();
    assert!(idle.len() >= 50, "the backlog took {} connections", idle.len());
    let (code, head) = raw(&server.url, "GET", "/api/v1/champions", None);
    assert_eq!(code, 200, "{head}");
    drop(idle);
    assert!(server.stop().success());
}

#[test]
fn shutdown_completes_within_its_deadline_with_a_half_open_connection() {
    let t = fixed_team();
    let (mut child, url) = spawn_serve(&t, &["--header-timeout", "120", "--shutdown-timeout", "1"], None);
    let _half = half_header(&url);
    // The connection is accepted (the server answers others) before the signal.
    assert_eq!(raw(&url, "GET", "/api/v1/champions", None).0, 200);
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
        child
    });
    let Ok(status) = rx.recv_timeout(std::time::Duration::from_secs(30)) else {
        let _ = std::process::Command::new("kill").args(["-KILL", &pid]).status();
        panic!("the server was still running 30 s after SIGTERM with a 1 s shutdown deadline");
    };
    assert!(status.unwrap().success(), "a graceful shutdown exits 0");
}

/// Where two documents first differ: a JSON pointer and both values.
fn first_difference(at: &str, a: &Value, b: &Value) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| {
                first_difference(
                    &format!("{at}/{k}"),
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                )
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).enumerate().find_map(|(i, (p, q))| first_difference(&format!("{at}/{i}"), p, q))
        }
        _ if a == b => None,
        _ => Some(format!("{at}: remote {a} vs local {b}")),
    }
}

/// schemathesis, from `PLEDGE_SCHEMATHESIS` (CI sets it, and then it must be there) or the
/// `PATH`; `None` with the reason printed where it is not installed.
fn schemathesis() -> Option<std::path::PathBuf> {
    if let Ok(path) = std::env::var("PLEDGE_SCHEMATHESIS") {
        let path = std::path::PathBuf::from(path);
        assert!(path.is_file(), "PLEDGE_SCHEMATHESIS names `{}`, which does not exist", path.display());
        return Some(path);
    }
    let found = crate::interop::on_path("schemathesis");
    if found.is_none() {
        eprintln!(
            "skipped: schemathesis is not installed (`pip install schemathesis`, or set PLEDGE_SCHEMATHESIS; .ci/run installs it)"
        );
    }
    found
}

#[test]
fn the_server_answers_as_its_openapi_document_says_under_schemathesis() {
    let Some(st) = schemathesis() else { return };
    // A ledger with models, champions, alerts and an experiment for the reads to find.
    let t = fixed_team();
    experiment_workflow(&t);
    let token = "conformance-read-token";
    // A short request timeout bounds the long-poll of `checkpoints/latest?wait_for`.
    let server = Server::start_with(&t, &["--timeout", "1", "--read-token", token]);
    // schemathesis keeps a cache in its working directory.
    let work = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(st)
        .current_dir(work.path())
        .args(["run", &format!("{}/api/v1/openapi.json", server.url)])
        // One worker: with two, CPython 3.11 (Debian 12's) can fail in its AST module while
        // hypothesis describes a strategy (python/cpython#106905), a crash of the tool.
        .args(["--checks", "all", "--max-examples", "25", "--workers", "1", "--seed", "1"])
        .args(["--suppress-health-check", "all", "--no-color"])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found the server and its document disagreeing:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("passed"), "{report}");
    assert!(server.stop().success());
}
