//! The review desk's pages through the router (no socket; the browser tests are in
//! `tests/e2e/desk.rs`): the review answer behind the review page, what each page shows, that
//! pages escape what the ledger holds and run no inline script, and the read token's cookie.

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use commands::api::Options;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::api::Api;
use crate::harness::{run, with_champion, World};

async fn page(api: &Api, path: &str, cookie: Option<&str>) -> (StatusCode, HeaderMap, String) {
    let mut req = Request::get(path);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    let resp = api.app.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
}

/// Given: champion v1 of `demand`, a critical drift alert (with PSI), a retrain v2 answering
/// it, and two backtest windows of both versions. Returns the alert's id.
fn drift_world() -> (World, String) {
    let mut w = with_champion();
    w.ok(
        "maya",
        "drift.record",
        json!({"model": "demand", "baseline": 12.8, "recent": 18.5, "psi": {"hour": 0.31, "temp": 0.05}}),
    );
    let alert = w.state().alerts.values().next().unwrap().id.clone();
    let mut body = run("r2", "drift_detected", 10.9, 0.15, 0.92);
    body["drift_alert_id"] = json!(alert);
    w.ok("maya", "run.record", body);
    for (i, (a, b)) in [(12.1, 11.0), (12.4, 10.7)].into_iter().enumerate() {
        for (v, mae) in [(1, a), (2, b)] {
            w.ok(
                "maya",
                "backtest.record",
                json!({"model": "demand", "version": v, "window_start": format!("2026-01-0{}T00:00:00.000000Z", 1 + i),
                       "window_end": format!("2026-01-0{}T00:00:00.000000Z", 2 + i), "metrics": {"mae": mae}, "rows": 24}),
            );
        }
    }
    (w, alert)
}

#[tokio::test]
async fn the_review_of_a_drift_retrain_gathers_its_evidence_and_the_command_that_decides_it() {
    let (w, alert) = drift_world();
    let api = Api::new(w);
    let (s, r) = api.get("/api/v1/models/demand/versions/2/review").await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["decision"], json!({"kind": "drift_alert", "alert_id": alert}));
    assert_eq!(r["champion"]["version"], 1);
    assert_eq!(
        r["gates"]["source"], "policy v1 against v1, evaluated now",
        "a drift retrain is not judged at registration"
    );
    assert_eq!(r["gates"]["passed"], true, "{}", r["gates"]);
    let mae = r["gates"]["gates"].as_array().unwrap().iter().find(|g| g["metric"] == "mae").unwrap().clone();
    assert_eq!((mae["candidate"].as_f64(), mae["champion"].as_f64()), (Some(10.9), Some(12.3)));
    assert_eq!(r["backtests"]["metric"], "mae");
    assert_eq!(
        r["backtests"]["windows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| (w["candidate"].clone(), w["champion"].clone()))
            .collect::<Vec<_>>(),
        vec![(json!(11.0), json!(12.1)), (json!(10.7), json!(12.4))]
    );
    assert_eq!(r["drift"]["alert_id"], alert);
    assert_eq!(r["drift"]["check"]["psi"]["hour"], 0.31);
    assert_eq!((r["approvals_needed"].clone(), r["approvals_so_far"].clone()), (json!(1), json!([])));
    let kinds: Vec<&str> =
        r["lineage"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"drift.recorded") && kinds.contains(&"run.recorded"), "{kinds:?}");
    assert!(
        r["coefficients"]["unavailable"].as_str().unwrap().contains("not beside the ledger"),
        "{}",
        r["coefficients"]
    );

    // The page offers exactly that command, and the dismissal.
    let (s, _, html) = page(&api, "/models/demand/versions/2", None).await;
    assert_eq!(s, StatusCode::OK);
    let approve = format!(
        r#"data-kind="alert.action" data-body="{{&quot;action&quot;:&quot;approve&quot;,&quot;alert_id&quot;:&quot;{alert}&quot;,&quot;version&quot;:2}}""#
    );
    assert!(html.contains(&approve), "{html}");
    assert!(html.contains("&quot;action&quot;:&quot;dismiss&quot;"), "{html}");
    assert_eq!(html.matches("<svg class=\"chart\"").count(), 2, "the backtest chart and the PSI bars");

    // Once approved there is nothing left to decide.
    let (s, v) = api
        .command("colby", "alert.action", json!({"alert_id": alert, "action": "approve", "version": 2}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (_, r) = api.get("/api/v1/models/demand/versions/2/review").await;
    assert_eq!(r["decision"], json!({"kind": "none", "reason": "it is the champion"}));
    assert_eq!(r["champion"], Value::Null, "a champion is compared with no one");
    let (_, _, html) = page(&api, "/models/demand/versions/2", None).await;
    assert!(!html.contains("form class=\"sign\""), "no decision form once decided");
    api.close().await;
}

#[tokio::test]
async fn a_pending_proposal_is_reviewed_with_its_recorded_gates() {
    let mut w = with_champion();
    w.ok("maya", "run.record", run("r2", "manual", 12.1, 0.19, 0.91));
    let api = Api::new(w);
    // Before a proposal: the gates its registration recorded (a 1.6% better MAE misses the 5%
    // margin), nothing to decide yet, and a form that proposes it (exactly the body the
    // command takes).
    let (_, r) = api.get("/api/v1/models/demand/versions/2/review").await;
    assert_eq!(r["gates"]["source"], "recorded when v2 was registered against v1");
    assert_eq!(r["gates"]["passed"], false);
    assert_eq!(r["decision"]["kind"], "propose");
    let (_, _, html) = page(&api, "/models/demand/versions/2", None).await;
    let propose = json!({"model": "demand", "segment": null, "challenger": 2});
    let attr = propose.to_string().replace('"', "&quot;");
    assert!(html.contains(&format!("data-kind=\"arena.propose\" data-body=\"{attr}\"")), "{html}");
    assert_eq!(html.matches("form class=\"sign\"").count(), 1);
    let (s, v) = api.command("maya", "arena.propose", propose).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (_, r) = api.get("/api/v1/models/demand/versions/2/review").await;
    let id = r["decision"]["proposal_id"].as_str().unwrap().to_string();
    assert_eq!(r["decision"], json!({"kind": "proposal", "proposal_id": id, "gates_passed": false}));
    assert_eq!(r["gates"]["source"], format!("proposal {id}"));
    let (_, _, html) = page(&api, "/models/demand/versions/2", None).await;
    // Gates failed: approving needs an override reason, a required field.
    assert!(
        html.contains("Approve with override")
            && html.contains(r#"name="override_reason" rows="2" required"#),
        "{html}"
    );
    assert!(html.contains(r#"data-kind="arena.reject""#));
    let (s, _) = api.get("/api/v1/models/demand/versions/9/review").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    api.close().await;
}

#[tokio::test]
async fn every_page_is_html_with_a_strict_policy_and_unknown_things_are_404_pages() {
    let (mut w, alert) = drift_world();
    w.ok(
        "maya",
        "hypothesis.propose",
        json!({"hypothesis_id": "H-1", "model": "demand", "statement": "<script>alert(1)</script> beats \"v1\"",
               "change_type": "feature", "target_metric": "mae", "expected_improvement_pct": 5.0, "owner": "maya"}),
    );
    let first_champion = w.state().models["demand"].champion_history[""][0].seq;
    let api = Api::new(w);
    for path in [
        "/".to_string(),
        "/alerts".into(),
        "/alerts?status=open&severity=critical&type=drift_detected".into(),
        format!("/alerts/{alert}"),
        "/models".into(),
        "/models/demand".into(),
        "/models/demand/versions/1".into(),
        "/models/demand/timeline".into(),
        format!("/models/demand/timeline?as_of={first_champion}"),
        "/models/demand/runs?run=r1&run=r2".into(),
        "/experiments".into(),
        "/experiments/H-1".into(),
        "/audit".into(),
    ] {
        let (s, h, html) = page(&api, &path, None).await;
        assert_eq!(s, StatusCode::OK, "{path}: {html}");
        assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8", "{path}");
        assert!(h[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("script-src 'self'"), "{path}");
        // Every script is the embedded file: none inline.
        assert_eq!(html.matches("<script").count(), 1, "{path}");
        assert!(html.contains(r#"<script src="/desk/desk.js" defer>"#), "{path}");
        assert!(!html.contains("<script>alert"), "{path}: the ledger's text is escaped");
    }
    let (_, _, board) = page(&api, "/experiments", None).await;
    assert!(board.contains("&lt;script&gt;alert(1)&lt;/script&gt; beats &quot;v1&quot;"), "{board}");
    let (_, _, runs) = page(&api, "/models/demand/runs?run=r2", None).await;
    assert!(
        runs.contains("<code>r2</code>") && !runs.contains("<th scope=\"col\"><code>r1</code>"),
        "only the chosen run"
    );

    let (s, _, html) = page(&api, "/models/nope", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(html.contains("no model `nope`"), "{html}");
    let (s, _, html) = page(&api, "/alerts?status=bogus", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(html.contains("`bogus` is not an alert status"), "{html}");
    let (s, _, _) = page(&api, "/models/demand/versions/x", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    for asset in ["/desk/desk.js", "/desk/desk.css"] {
        let (s, _, body) = page(&api, asset, None).await;
        assert_eq!(s, StatusCode::OK);
        assert!(body.len() > 1000, "{asset}");
    }
    api.close().await;
}

#[tokio::test]
async fn with_a_read_token_pages_lead_to_sign_in_and_its_cookie_opens_them() {
    let api = Api::with_options(
        with_champion(),
        Options { read_token: Some("s3cret&=".into()), ..Options::default() },
    );
    let (s, h, _) = page(&api, "/models", None).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(h[header::LOCATION], "/desk/sign-in");
    let (s, _, html) = page(&api, "/desk/sign-in", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(r#"type="password" name="token""#));
    // It loads its script and style sheet without the token; nothing else does.
    for asset in ["/desk/desk.js", "/desk/desk.css"] {
        assert_eq!(page(&api, asset, None).await.0, StatusCode::OK, "{asset}");
    }
    // The API still answers a JSON 401.
    let (s, v) = api.get("/api/v1/champions").await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));

    let sign_in = |token: &str| {
        Request::builder()
            .method(Method::POST)
            .uri("/desk/sign-in")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("token={token}")))
            .unwrap()
    };
    let wrong = api.app.clone().oneshot(sign_in("nope")).await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get(header::SET_COOKIE).is_none());
    let right = api.app.clone().oneshot(sign_in("s3cret%26%3D")).await.unwrap();
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    let cookie = right.headers()[header::SET_COOKIE].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let pair = cookie.split(';').next().unwrap();
    let (s, _, _) = page(&api, "/models", Some(pair)).await;
    assert_eq!(s, StatusCode::OK);
    // The cookie opens the API too (the page's own requests), and only the right one does.
    let req =
        Request::get("/api/v1/ml-alerts/stats").header(header::COOKIE, pair).body(Body::empty()).unwrap();
    assert_eq!(api.request(req).await.0, StatusCode::OK);
    let (s, _, _) = page(&api, "/models", Some("pledge_read_token=s3cret")).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    api.close().await;
}

/// Given: a challenger whose run declared its periods `Sep`..`Dec` and recorded backtest windows
/// named by them (as the taxi demo's months are); when it is reviewed and its model's page is
/// drawn; then the windows come in the run's period order, not in the labels' alphabetical
/// order.
#[tokio::test]
async fn windows_named_by_declared_periods_come_in_period_order() {
    let mut w = with_champion();
    let months = ["Sep", "Oct", "Nov", "Dec"];
    let mut body = run("r2", "manual", 13.0, 0.21, 0.90);
    body["periods"] = json!(months);
    body["backtests"] = json!(months
        .iter()
        .enumerate()
        .map(|(i, m)| json!({"segment": null, "window_start": m, "window_end": m, "metrics": {"mae": 10.0 + i as f64}, "rows": 30}))
        .collect::<Vec<_>>());
    w.ok("maya", "run.record", body);
    let api = Api::new(w);
    let (s, r) = api.get("/api/v1/models/demand/versions/2/review").await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let starts: Vec<&str> = r["backtests"]["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["window_start"].as_str().unwrap())
        .collect();
    assert_eq!(starts, months, "alphabetically it would be Dec, Nov, Oct, Sep");
    // The experiment-less model page charts the champion; the review page charts the pair: its
    // table lists the windows in the same order.
    let (s, _, html) = page(&api, "/models/demand/versions/2", None).await;
    assert_eq!(s, StatusCode::OK);
    let at: Vec<usize> = months.iter().map(|m| html.find(&format!(">{m}<")).unwrap_or(usize::MAX)).collect();
    assert!(at.windows(2).all(|p| p[0] < p[1]), "{at:?}");
}

/// Given: a champion backtested on more windows than a chart draws; when the overview and its
/// model's page are drawn; then each charts the newest windows recorded and says how many it
/// left out, and the model's health still counts every window.
#[tokio::test]
async fn a_long_backtest_history_is_charted_by_its_newest_windows() {
    let mut w = with_champion();
    let day = |i: i64| chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() + chrono::Duration::days(i);
    let n = 300;
    for i in 0..n {
        w.ok(
            "maya",
            "backtest.record",
            json!({"model": "demand", "version": 1,
                   "window_start": format!("{}T00:00:00.000000Z", day(i)),
                   "window_end": format!("{}T00:00:00.000000Z", day(i + 1)),
                   "metrics": {"mae": 12.0 + (i % 7) as f64 * 0.1}, "rows": 24}),
        );
    }
    let api = Api::new(w);
    let (_, h) = api.get("/api/v1/models/health").await;
    assert_eq!(h["health"][0]["windows"], n, "{h}");
    let charted = commands::api::desk::svg::MAX_POINTS; // CHART_WINDOWS
    let note = format!("(the newest {charted} of {n} windows)");
    let first = format!(">{}<", day(n - charted as i64));
    let older = format!(">{}<", day(n - charted as i64 - 1));
    for path in ["/", "/models/demand"] {
        let (s, _, html) = page(&api, path, None).await;
        assert_eq!(s, StatusCode::OK, "{path}");
        assert_eq!(html.matches("<svg class=\"chart\"").count(), 1, "{path}: {html}");
        assert!(html.contains(&first), "{path}: the chart's first label is the oldest window charted");
        assert!(!html.contains(&older) && !html.contains(">2020-01-01<"), "{path}: nothing older is charted");
        if path == "/" {
            assert!(html.contains(&note), "{path}: {html}");
        } else {
            assert!(html.contains(&format!("(the newest {charted} windows of each)")), "{path}: {html}");
        }
    }
    api.close().await;
}
