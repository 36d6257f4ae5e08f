//! The review desk in a real browser: Debian's Chromium driven over WebDriver (chromedriver)
//! against a real `pledge serve`. Every page is loaded, its charts measured, its console read
//! and a screenshot saved under `target/desk-screenshots/`; a reviewer approves a drift
//! challenger with a key loaded into the page, a scientist is refused, and the ledger verifies
//! with the browser-signed envelope in it.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use serde_json::{json, Value};

use crate::remote::Server;
use crate::workflow::{team, Team};

/// Where a tool is: `env` (CI sets it, and then it must exist), else the first of `names` on
/// the `PATH`.
fn tool(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Ok(path) = std::env::var(env) {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "{env} names `{}`, which does not exist", path.display());
        return Some(path);
    }
    let dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    names.iter().flat_map(|n| dirs.iter().map(move |d| d.join(n))).find(|p| p.is_file())
}

/// Chromium and chromedriver, or `None` with the reason printed.
fn browser_tools() -> Option<(PathBuf, PathBuf)> {
    let chromium = tool("PLEDGE_CHROMIUM", &["chromium", "chromium-browser", "google-chrome"]);
    let driver = tool("PLEDGE_CHROMEDRIVER", &["chromedriver"]);
    match (chromium, driver) {
        (Some(c), Some(d)) => Some((c, d)),
        _ => {
            eprintln!(
                "skipped: the browser tests need Chromium and chromedriver (Debian: `apt-get install chromium chromium-driver`, or set PLEDGE_CHROMIUM and PLEDGE_CHROMEDRIVER; .ci/run installs them)"
            );
            None
        }
    }
}

/// A chromedriver child and one headless Chromium session through it.
struct Browser {
    driver: Child,
    port: u16,
    client: Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start(chromium: &Path, chromedriver: &Path) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen on port {port} within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                // The flags a closed network needs (no background connections) and a root user.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         "--disable-dev-shm-usage", "--window-size=1280,1000",
                         format!("--user-data-dir={}", profile.path().display())],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        });
        let Value::Object(caps) = caps else { unreachable!() };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client =
            Client::with_capabilities_and_connector(&format!("http://127.0.0.1:{port}"), &caps, connector)
                .await
                .expect("a Chromium session");
        Browser { driver, port, client, _profile: profile }
    }

    /// Opens `url` and waits for the page's script to have started (`body[data-ready]`).
    async fn open(&self, url: &str) {
        self.client.goto(url).await.unwrap();
        self.ready().await;
    }

    async fn ready(&self) {
        self.wait_for("body[data-ready='true']", 20, "the page's script did not start").await;
    }

    /// The browser console's entries since the last call (chromedriver's log endpoint).
    async fn console(&self) -> Vec<Value> {
        let id = self.client.session_id().await.unwrap().unwrap();
        let body = json!({"type": "browser"}).to_string();
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "POST /session/{id}/se/log HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.port,
            body.len()
        )
        .unwrap();
        let answer = read_response(&mut s);
        let v: Value =
            serde_json::from_str(&answer).unwrap_or_else(|e| panic!("chromedriver's log: {e}: {answer}"));
        v["value"].as_array().cloned().unwrap_or_default()
    }

    /// Console errors (level SEVERE) since the last call.
    async fn errors(&self) -> Vec<String> {
        self.console()
            .await
            .into_iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Saves the whole page as `target/desk-screenshots/NAME.png`.
    async fn screenshot(&self, name: &str) {
        let height =
            self.client.execute("return document.documentElement.scrollHeight", vec![]).await.unwrap();
        let h = height.as_u64().unwrap_or(1000).clamp(600, 8000) as u32;
        self.client.set_window_size(1280, h).await.unwrap();
        let png = self.client.screenshot().await.unwrap();
        let dir = target_dir().join("desk-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
        self.client.set_window_size(1280, 1000).await.unwrap();
    }

    /// Per `svg.chart` on the page: how many marks (lines, bars, dots) it draws with a
    /// non-empty box.
    async fn chart_marks(&self) -> Vec<u64> {
        let v = self
            .client
            .execute(
                "return [...document.querySelectorAll('svg.chart')].map(s => [...s.querySelectorAll('path.line, rect.bar, circle.dot')]
                    .filter(m => { const b = m.getBBox(); return b.width > 0 || b.height > 0; }).length)",
                vec![],
            )
            .await
            .unwrap();
        v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect()
    }

    /// Waits (up to `secs`) for an element matching `css`; panics with `why` otherwise.
    async fn wait_for(&self, css: &str, secs: u64, why: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(secs))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{why}: {e}"))
    }

    async fn text(&self, css: &str) -> String {
        self.client.find(Locator::Css(css)).await.unwrap().text().await.unwrap()
    }

    /// Loads a key file into the page's key panel (kept in the browser when `remember`).
    async fn load_key(&self, file: &Path, remember: bool) {
        let panel = self.client.find(Locator::Css("#key-panel")).await.unwrap();
        if panel.attr("open").await.unwrap().is_none() {
            self.client.find(Locator::Css("#key-panel summary")).await.unwrap().click().await.unwrap();
        }
        if remember {
            self.client.find(Locator::Css("#key-remember")).await.unwrap().click().await.unwrap();
        }
        let input = self.client.find(Locator::Css("#key-file")).await.unwrap();
        input.send_keys(file.to_str().unwrap()).await.unwrap();
        self.wait_for("body[data-signer]:not([data-signer=''])", 10, "the key was not loaded").await;
    }

    /// Fills the signing form whose submit button says `button`, submits it and
    /// returns its output element's outcome, rule and text once the server answered.
    async fn sign(&self, button: &str, notes: &str) -> (String, Option<String>, String) {
        let form = self
            .client
            .find(Locator::XPath(&format!(
                "//form[contains(@class,'sign')][.//button[normalize-space()='{button}']]"
            )))
            .await
            .unwrap_or_else(|e| panic!("no form with a `{button}` button: {e}"));
        if let Ok(t) = form.find(Locator::Css("textarea")).await {
            t.send_keys(notes).await.unwrap();
        }
        form.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
        let out = self.wait_for("output[data-outcome]", 15, "the server did not answer the form").await;
        (
            out.attr("data-outcome").await.unwrap().unwrap_or_default(),
            out.attr("data-rule").await.unwrap(),
            out.text().await.unwrap(),
        )
    }

    async fn stop(self) {
        // Ends the session (Chromium exits); the driver is stopped by `Drop`.
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The body of an HTTP response with a `Content-Length` (chromedriver keeps the connection
/// open after it).
fn read_response(s: &mut std::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "the response ended inside its header");
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or_else(|| panic!("no Content-Length in {head}"));
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    String::from_utf8(body).unwrap()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// A GET on the server, as JSON.
fn get(url: &str, path: &str) -> Value {
    let mut s = std::net::TcpStream::connect(url.trim_start_matches("http://")).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\nAccept: application/json\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let body = answer.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("GET {path}: {e}: {answer}"))
}

/// The demo's ledger and keys, kept in a team's directories.
fn demo_team() -> Team {
    let tmp = tempfile::tempdir().unwrap();
    let t = Team {
        home: tmp.path().join("home"),
        ledger: tmp.path().join("ledger"),
        _tmp: tmp,
        env: Default::default(),
    };
    let out =
        t.pledge().args(["demo", "--ledger"]).arg(&t.ledger).arg("--home").arg(&t.home).output().unwrap();
    assert!(out.status.success(), "pledge demo: {}", String::from_utf8_lossy(&out.stderr));
    t
}

#[test]
fn every_page_renders_its_charts_without_console_errors() {
    let Some((chromium, driver)) = browser_tools() else { return };
    let t = demo_team();
    let drift =
        t.ok(&["alerts", "list", "--severity", "critical"])["alerts"][0]["id"].as_str().unwrap().to_string();
    let hypothesis = t.ok(&["hypothesis", "list"])["experiments"][0]["hypothesis"]["hypothesis_id"]
        .as_str()
        .unwrap()
        .to_string();
    let champions = t.ok(&["champion"]);
    let challenger = champions["champions"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|c| (c["model"] == "demand").then(|| c["challengers"][0].as_u64()).flatten())
        .expect("the demo leaves a challenger of `demand`");
    let server = Server::start_with(&t, &["--home", t.home.to_str().unwrap()]);
    // (name, path, whether the page draws a chart)
    let pages = [
        ("overview", "/".to_string(), true),
        ("alerts", "/alerts".into(), false),
        ("alerts-open-critical", "/alerts?status=open&severity=critical".into(), false),
        ("alert-drift", format!("/alerts/{drift}"), true),
        ("models", "/models".into(), false),
        ("model-demand", "/models/demand".into(), true),
        ("review", format!("/models/demand/versions/{challenger}"), true),
        ("timeline", "/models/demand/timeline".into(), false),
        ("timeline-as-of", "/models/demand/timeline?as_of=60".into(), false),
        ("runs", "/models/demand/runs".into(), false),
        ("experiments", "/experiments".into(), true),
        ("experiment", format!("/experiments/{hypothesis}"), true),
        ("audit", "/audit".into(), false),
        ("sign-in", "/desk/sign-in".into(), false),
    ];
    runtime().block_on(async {
        let b = Browser::start(&chromium, &driver).await;
        for (name, path, chart) in &pages {
            b.open(&format!("{}{path}", server.url)).await;
            let marks = b.chart_marks().await;
            if *chart {
                assert!(!marks.is_empty(), "{name}: no chart on {path}");
            }
            assert!(marks.iter().all(|m| *m > 0), "{name}: an empty chart on {path}: {marks:?}");
            let h1 = b.text("h1").await;
            assert!(!h1.is_empty() && h1 != "Not available", "{name}: {path} shows `{h1}`");
            b.screenshot(name).await;
            let errors = b.errors().await;
            assert!(errors.is_empty(), "{name}: console errors on {path}: {errors:?}");
        }
        // The badge says what the ledger says.
        b.open(&format!("{}/", server.url)).await;
        let stats = get(&server.url, "/api/v1/ml-alerts/stats");
        let badge = b.client.find(Locator::Css("#badge")).await.unwrap();
        for sev in ["critical", "warning", "info"] {
            let n = stats["unread_by_severity"][sev].as_u64().unwrap_or(0);
            assert_eq!(badge.attr(&format!("data-{sev}")).await.unwrap(), Some(n.to_string()), "{sev}");
        }
        // Keyboard: the skip link is the first stop and leads to the content.
        b.client.execute("document.activeElement.blur()", vec![]).await.unwrap();
        let first = b
            .client
            .execute(
                "const f = [...document.querySelectorAll('a[href], button, input, select, textarea, summary')][0]; f.focus(); return document.activeElement.className",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(first, "skip");
        b.stop().await;
    });
    assert!(server.stop().success());
}

/// A drift alert on `demand` whose retrain (v2, recorded by maya) awaits a decision, with
/// backtest windows for both versions.
fn drift_ledger(t: &Team) -> String {
    let dir = t.home.join("files");
    std::fs::create_dir_all(&dir).unwrap();
    let f = |name: &str, body: &str| {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p.to_str().unwrap().to_string()
    };
    let m1 = f("m1.json", r#"{"mae": 12.3, "mape": 0.2, "coverage": 0.9}"#);
    let m2 = f("m2.json", r#"{"mae": 10.9, "mape": 0.15, "coverage": 0.92}"#);
    let art = f("model.bin", "weights");
    let data = f("train.csv", "a,b\n1,2\n");
    let rec = |id: &str, trigger: &str, m: &str, extra: &[&str]| {
        let mut args = vec!["record", "run", "demand", "--run-id", id, "--trigger", trigger, "--metrics", m];
        args.extend(["--artifact", &art, "--dataset", &data, "--trainer", "lightgbm-4.3", "--as", "maya"]);
        args.extend(extra);
        t.ok(&args);
    };
    rec("r1", "manual", &m1, &["--task", "forecast"]);
    t.ok(&["bootstrap-champion", "demand", "1", "--as", "colby", "--reason", "first"]);
    t.ok(&["record", "drift", "demand", "--baseline", "12.8", "--recent", "18.5", "--as", "maya"]);
    let id =
        t.ok(&["alerts", "list", "--severity", "critical"])["alerts"][0]["id"].as_str().unwrap().to_string();
    rec("r2", "drift_detected", &m2, &["--drift-alert-id", &id]);
    // The champion's windows stay within the policy (no degradation alert): the drift alert is
    // the only one.
    for (i, (a, b)) in [(12.1, 11.0), (12.4, 10.7), (12.2, 10.9), (12.5, 11.1)].iter().enumerate() {
        for (v, mae) in [("1", a), ("2", b)] {
            let w = f(
                &format!("w{i}-{v}.json"),
                &json!({"mae": mae, "mape": mae / 60.0, "coverage": 0.9}).to_string(),
            );
            let (from, to) = (format!("2026-01-{:02}", 1 + 7 * i), format!("2026-01-{:02}", 8 + 7 * i));
            t.ok(&[
                "record",
                "backtest",
                "demand",
                v,
                "--from",
                &from,
                "--to",
                &to,
                "--metrics",
                &w,
                "--rows",
                "168",
                "--as",
                "maya",
            ]);
        }
    }
    id
}

#[test]
fn a_reviewer_approves_in_the_browser_and_the_ledger_records_what_they_signed() {
    let Some((chromium, driver)) = browser_tools() else { return };
    let t = team();
    let alert = drift_ledger(&t);
    let keys = t.home.join("exported");
    std::fs::create_dir_all(&keys).unwrap();
    let (colby, maya) = (keys.join("colby.pem"), keys.join("maya.der"));
    t.ok(&["keys", "export", "colby", "--out", colby.to_str().unwrap()]);
    t.ok(&["keys", "export", "maya", "--out", maya.to_str().unwrap(), "--der"]);
    let colby_id = t.ok(&["keys", "list"])["enrolled"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["principal"] == "colby")
        .unwrap()["key_id"]
        .clone();
    let server = Server::start_with(&t, &["--home", t.home.to_str().unwrap()]);
    t.env.borrow_mut().push(("PLEDGE_SERVER", server.url.clone()));
    let review = format!("{}/models/demand/versions/2", server.url);
    runtime().block_on(async {
        let b = Browser::start(&chromium, &driver).await;

        // The badge shows the ledger's one unread critical alert, then a new one as it is raised.
        b.open(&format!("{}/", server.url)).await;
        let badge = || async { b.client.find(Locator::Css("#badge")).await.unwrap() };
        assert_eq!(badge().await.attr("data-critical").await.unwrap().as_deref(), Some("1"));
        assert_eq!(badge().await.text().await.unwrap(), "Unread ML alerts: 1 Critical");
        t.ok(&["record", "drift", "demand", "--baseline", "12.8", "--recent", "19.9", "--as", "maya"]);
        b.wait_for("#badge[data-critical='2']", 10, "the badge counts the new alert without a reload").await;
        assert_eq!(badge().await.text().await.unwrap(), "Unread ML alerts: 2 Critical");
        t.ok(&["alerts", "read", &alert, "--as", "colby"]);
        b.wait_for("#badge[data-critical='1']", 10, "the badge drops the alert once read").await;

        // The alert's page links to the review of its retrain.
        b.open(&format!("{}/alerts/{alert}", server.url)).await;
        b.client.find(Locator::LinkText("Review demand v2")).await.unwrap().click().await.unwrap();
        b.ready().await;
        assert_eq!(b.client.current_url().await.unwrap().as_str(), review);
        assert_eq!(b.chart_marks().await.iter().filter(|m| **m > 0).count(), 1, "the backtest chart");

        // A scientist's approval is refused by the server, by rule, and writes nothing.
        let before = get(&server.url, "/api/v1/ledger")["events"].clone();
        b.load_key(&maya, false).await;
        assert!(b.text("#key-status").await.starts_with("Signing as maya (scientist)"));
        let (outcome, rule, text) = b.sign("Approve", "looks fine to me").await;
        assert_eq!((outcome.as_str(), rule.as_deref()), ("refused", Some("role.not_allowed")), "{text}");
        assert!(text.contains("role.not_allowed"), "the refusal shows the rule: {text}");
        assert_eq!(get(&server.url, "/api/v1/ledger")["events"], before, "nothing was written");
        // The browser logs the refusal's status; nothing else went wrong.
        let errors = b.errors().await;
        assert!(errors.iter().all(|e| e.contains("/api/v1/commands") && e.contains("403")), "{errors:?}");

        // The approver's approval promotes v2.
        b.open(&review).await;
        b.load_key(&colby, true).await;
        let (outcome, rule, text) = b.sign("Approve", "backtests hold; approved in the browser").await;
        assert_eq!((outcome.as_str(), rule), ("recorded", None), "{text}");
        assert!(text.contains("champion.changed"), "{text}");
        // The page reloads after the approval; the kept key is still there, non-extractable.
        b.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::XPath("//h2[@id='dec-h']/following-sibling::p[contains(., 'it is the champion')]"))
            .await
            .expect("the review page shows the decision made");
        b.ready().await;
        b.wait_for("body[data-signer='colby']", 10, "the key kept in the browser is loaded again").await;
        let kept = b
            .client
            .execute_async(
                "const done = arguments[0];
                 const req = indexedDB.open('pledge-desk', 1);
                 req.onsuccess = () => {
                   const get = req.result.transaction('keys').objectStore('keys').get('signer');
                   get.onsuccess = () => done({extractable: get.result.key.extractable, type: get.result.key.type,
                                               keys: Object.keys(get.result).sort()});
                 };",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(kept, json!({"extractable": false, "type": "private", "keys": ["key", "publicKey"]}));
        let errors = b.errors().await;
        assert!(errors.is_empty(), "console errors: {errors:?}");
        b.stop().await;
    });
    let champion = get(&server.url, "/api/v1/models/demand/champion");
    assert_eq!(champion["champions"][0]["version"], 2, "{champion}");

    // What the ledger holds is what colby signed: the envelope the page built.
    let actioned = get(&server.url, "/api/v1/events?kind=alert.actioned");
    let seq = actioned["events"][0]["seq"].as_u64().unwrap();
    let ev = get(&server.url, &format!("/api/v1/events/{seq}"));
    let canonical: Value = serde_json::from_str(ev["canonical"].as_str().unwrap()).unwrap();
    let env = &canonical["cause"]["command"];
    assert_eq!(env["signatures"][0]["keyid"], colby_id);
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::STANDARD.decode(env["payload"].as_str().unwrap()).unwrap();
    let command: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(command["id"].as_str().unwrap().as_bytes()[14], b'7', "a UUID v7");
    assert_eq!(
        command["body"],
        json!({"alert_id": alert, "action": "approve", "version": 2, "notes": "backtests hold; approved in the browser"})
    );
    assert_eq!(command["kind"], "alert.action");
    assert_eq!(payload, ledger::canonical::to_vec(&command).unwrap(), "the page signs canonical bytes");
    assert!(server.stop().success());
    t.env.borrow_mut().retain(|(k, _)| *k != "PLEDGE_SERVER");
    let verified = t.ok(&["verify"]);
    assert_eq!(verified["ok"], true, "{verified}");
}

#[test]
fn the_page_builds_the_exact_bytes_the_specification_gives() {
    let Some((chromium, driver)) = browser_tools() else { return };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/vectors");
    let vector: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("signed-command.json")).unwrap()).unwrap();
    let cases: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("canonical-json.json")).unwrap()).unwrap();
    // The RFC 8032 seed as PKCS#8 (RFC 8410): the fixed 16-byte prefix, then the seed.
    let der = format!("302e020100300506032b657004220420{}", vector["seed_hex"].as_str().unwrap());
    let t = team();
    let server = Server::start(&t);
    runtime().block_on(async {
        let b = Browser::start(&chromium, &driver).await;
        b.open(&format!("{}/audit", server.url)).await;
        for case in cases["cases"].as_array().unwrap() {
            let got = b
                .client
                .execute("return pledge.canonical(JSON.parse(arguments[0]))", vec![case["input"].clone()])
                .await
                .unwrap();
            assert_eq!(got, case["canonical"], "canonical form of {}", case["input"]);
        }
        let envelope = b
            .client
            .execute_async(
                "const [der, keyid, command, done] = arguments;
                 pledge.importKey(pledge.unhex(der))
                   .then(k => pledge.envelope(k.key, keyid, command).then(e => done({env: e, pub: k.publicKey})))
                   .catch(e => done({error: String(e)}));",
                vec![json!(der), vector["key_id"].clone(), vector["command"].clone()],
            )
            .await
            .unwrap();
        assert_eq!(envelope["error"], Value::Null, "{envelope}");
        assert_eq!(envelope["pub"], vector["public_key_hex"]);
        assert_eq!(envelope["env"], vector["envelope"], "the browser's envelope is the specification's");
        let pae = b
            .client
            .execute(
                "return new TextDecoder().decode(pledge.pae(arguments[0], new TextEncoder().encode(arguments[1])))",
                vec![vector["payload_type"].clone(), vector["payload_canonical"].clone()],
            )
            .await
            .unwrap();
        assert_eq!(pae, vector["pae"]);
        let id = b.client.execute("return pledge.uuidv7(Date.UTC(2026, 10, 2, 8, 30))", vec![]).await.unwrap();
        let id = id.as_str().unwrap();
        // 48 bits of milliseconds (0x01a19b612f40), then version 7 and the RFC 9562 variant.
        assert!(id.starts_with("01a19b61-2f40-7") && "89ab".contains(&id[19..20]), "{id}");
        let ts = b.client.execute("return pledge.timestamp(new Date(Date.UTC(2026, 10, 2, 8, 30, 0, 250)))", vec![]).await.unwrap();
        assert_eq!(ts, "2026-11-02T08:30:00.250000Z");
        b.stop().await;
    });
    assert!(server.stop().success());
}

#[test]
fn with_a_read_token_the_browser_signs_in_once_and_the_badge_stays_live() {
    let Some((chromium, driver)) = browser_tools() else { return };
    let t = team();
    drift_ledger(&t);
    let token = "desk-read-token-0123";
    let server = Server::start_with(&t, &["--read-token", token]);
    runtime().block_on(async {
        let b = Browser::start(&chromium, &driver).await;
        // A page without the token leads to the sign-in page, which works (script and style).
        b.open(&format!("{}/models", server.url)).await;
        assert_eq!(b.client.current_url().await.unwrap().path(), "/desk/sign-in");
        b.client.find(Locator::Css("input[name=token]")).await.unwrap().send_keys(token).await.unwrap();
        // The sign-in page is itself ready: wait for the navigation to the overview first.
        let overview = b.client.current_url().await.unwrap().join("/").unwrap();
        b.client.find(Locator::Css("form button[type=submit]")).await.unwrap().click().await.unwrap();
        let arrived = b.client.wait().at_most(Duration::from_secs(20)).for_url(&overview).await;
        assert!(
            arrived.is_ok(),
            "signing in did not lead to the overview: {:?}",
            b.client.current_url().await
        );
        b.ready().await;
        assert_eq!(b.client.current_url().await.unwrap().path(), "/");
        let badge = b.client.find(Locator::Css("#badge")).await.unwrap();
        assert_eq!(badge.attr("data-critical").await.unwrap().as_deref(), Some("1"));
        // The cookie carries the event stream too: the badge follows a new alert.
        t.env.borrow_mut().push(("PLEDGE_SERVER", server.url.clone()));
        t.env.borrow_mut().push(("PLEDGE_READ_TOKEN", token.to_string()));
        t.ok(&["record", "drift", "demand", "--baseline", "12.8", "--recent", "19.9", "--as", "maya"]);
        b.wait_for("#badge[data-critical='2']", 10, "the badge follows the stream with the cookie").await;
        let errors = b.errors().await;
        assert!(errors.is_empty(), "console errors: {errors:?}");
        b.stop().await;
    });
    assert!(server.stop().success());
}
