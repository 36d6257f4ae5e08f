//! The HTTP API through `tower::ServiceExt::oneshot` (no socket): every route's happy path,
//! unknown ids, bad parameters, every kind of refusal, the live tail, concurrent writers, the
//! read token, and the OpenAPI document against the routes really served.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use base64::Engine as _;
use commands::api::{self, AppState, Options, Writer};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::harness::{key, run, with_champion, Ids, World};

pub(crate) struct Api {
    pub(crate) app: Router,
    pub(crate) state: AppState,
    writer: Writer,
    ids: Ids,
    _dir: tempfile::TempDir,
}

impl Api {
    pub(crate) fn new(w: World) -> Api {
        Api::with_options(w, Options::default())
    }

    pub(crate) fn with_options(w: World, options: Options) -> Api {
        let (ledger, dir, ids) = w.into_parts();
        let (state, writer) = AppState::new(ledger, options).unwrap();
        Api { app: api::app(state.clone()), state, writer, ids, _dir: dir }
    }

    pub(crate) async fn request(&self, req: Request<Body>) -> (StatusCode, Value) {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let v = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
        (status, v)
    }

    pub(crate) async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.request(Request::get(path).body(Body::empty()).unwrap()).await
    }

    pub(crate) async fn send(&self, method: Method, path: &str, body: &Value) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        self.request(req).await
    }

    /// `who` signs a command and posts it to /api/v1/commands.
    pub(crate) async fn command(&self, who: &str, kind: &str, body: Value) -> (StatusCode, Value) {
        let env = self.ids.envelope(who, kind, body);
        self.send(Method::POST, "/api/v1/commands", &serde_json::to_value(env).unwrap()).await
    }

    /// Then: refused with `status` and `rule`, and nothing was appended.
    pub(crate) async fn refused(
        &self,
        who: &str,
        kind: &str,
        body: Value,
        status: StatusCode,
        rule: &str,
    ) -> Value {
        let before = self.state.committed();
        let (s, v) = self.command(who, kind, body).await;
        assert_eq!(s, status, "{v}");
        assert_eq!(v["error"]["rule"], rule, "{v}");
        assert_eq!(self.state.committed(), before, "a refused command appends nothing");
        v
    }

    pub(crate) async fn close(self) {
        let Api { app, state, writer, .. } = self;
        drop(app);
        drop(state);
        tokio::task::spawn_blocking(move || writer.join()).await.unwrap();
    }
}

/// Given: model `demand` with champion v1, a critical drift alert, a proposed hypothesis.
fn world() -> World {
    let mut w = with_champion();
    w.ok("maya", "drift.record", json!({"model": "demand", "baseline": 12.8, "recent": 18.5}));
    w.ok(
        "maya",
        "backtest.record",
        json!({"model": "demand", "version": 1, "window_start": "2026-02-01",
        "window_end": "2026-02-08", "metrics": {"mae": 12.5, "mape": 0.2, "coverage": 0.9}, "rows": 1000}),
    );
    w.ok("maya", "hypothesis.propose", hypothesis("H-1"));
    w
}

fn hypothesis(id: &str) -> Value {
    json!({"hypothesis_id": id, "model": "demand", "statement": "segment interactions cut MAE",
           "change_type": "feature", "target_metric": "mae", "expected_improvement_pct": 5.0, "owner": "maya"})
}

async fn alert_id(api: &Api) -> String {
    let (_, v) = api.get("/api/v1/ml-alerts?severity=critical").await;
    v["alerts"][0]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn every_read_answers_with_the_cli_documents() {
    let api = Api::new(world());
    let alert = alert_id(&api).await;
    let head = api.state.committed() - 1;
    for (path, check) in [
        ("/api/v1/ledger", "/ledger_id"),
        ("/api/v1/verify", "/summary/events"),
        ("/api/v1/policy", "/version"),
        ("/api/v1/keys", "/enrolled/0/principal"),
        ("/api/v1/champions", "/routing/0/routes/0/version"),
        ("/api/v1/champions?model=demand", "/champions/0/version"),
        ("/api/v1/models/health", "/health/0/champion"),
        ("/api/v1/models/demand/champion", "/champions/0/version"),
        ("/api/v1/models/demand/versions", "/versions/0/version"),
        ("/api/v1/models/demand/versions/1/backtests", "/windows/0/rows"),
        ("/api/v1/models/demand/versions/1/lineage", "/upstream/0/kind"),
        ("/api/v1/models/demand/versions/1/lineage?direction=down", "/downstream/0/kind"),
        ("/api/v1/models/demand/timeline", "/entries/0/actor"),
        (&format!("/api/v1/models/demand/timeline?as_of={head}"), "/entries/0/actor"),
        ("/api/v1/models/demand/release", "/gates/0/gate"),
        ("/api/v1/ml-alerts", "/alerts/0/id"),
        ("/api/v1/ml-alerts?status=unread&severity=critical", "/alerts/0/id"),
        ("/api/v1/ml-alerts/stats", "/open_by_severity/critical"),
        (&format!("/api/v1/ml-alerts/{alert}"), "/history"),
        ("/api/v1/experiments", "/experiments/0/status"),
        ("/api/v1/experiments/H-1", "/status"),
        ("/api/v1/experiments/H-1/results", "/hypothesis_id"),
        ("/api/v1/arena/proposals", "/proposals"),
        ("/api/v1/events?limit=3", "/events/2/seq"),
        ("/api/v1/events?after=5&kind=drift.recorded", "/events/0/payload/exceeded"),
        ("/api/v1/events?last=2", "/events/1/kind"),
        ("/api/v1/events?actor=colby", "/events/0/kind"),
        ("/api/v1/events?model=demand&segment=&since=2000-01-01T00:00:00Z", "/events/0/kind"),
        ("/api/v1/events/0", "/event/kind"),
        ("/api/v1/openapi.json", "/openapi"),
    ] {
        let (status, v) = api.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {v}");
        assert!(v.pointer(check).is_some_and(|x| !x.is_null()), "{path}: no `{check}` in {v}");
    }
    // Every answer matches its component schema in the OpenAPI document (generated from the
    // answer types).
    let doc = commands::api::openapi::document();
    for (path, component) in [
        ("/api/v1/ledger", "LedgerInfoAnswer"),
        ("/api/v1/policy", "PolicyAnswer"),
        ("/api/v1/keys", "KeysAnswer"),
        ("/api/v1/champions", "ChampionsAnswer"),
        ("/api/v1/models/health", "HealthAnswer"),
        ("/api/v1/models/demand/versions", "VersionsAnswer"),
        ("/api/v1/models/demand/versions/1/backtests", "BacktestsAnswer"),
        ("/api/v1/models/demand/versions/1/lineage", "LineageAnswer"),
        ("/api/v1/models/demand/timeline", "TimelineAnswer"),
        ("/api/v1/models/demand/release", "ReleaseAnswer"),
        ("/api/v1/ml-alerts", "AlertsAnswer"),
        ("/api/v1/ml-alerts/stats", "AlertCounts"),
        (&format!("/api/v1/ml-alerts/{alert}"), "Alert"),
        ("/api/v1/experiments", "ExperimentsAnswer"),
        ("/api/v1/experiments/H-1", "Experiment"),
        ("/api/v1/experiments/H-1/results", "ExperimentResultsAnswer"),
        ("/api/v1/arena/proposals", "ProposalsAnswer"),
        ("/api/v1/events?limit=50", "EventsAnswer"),
        ("/api/v1/events/3", "EventAnswer"),
    ] {
        let (_, v) = api.get(path).await;
        let schema =
            json!({"$ref": format!("#/components/schemas/{component}"), "components": doc["components"]});
        let validator = jsonschema::validator_for(&schema).unwrap();
        let errors: Vec<String> =
            validator.iter_errors(&v).map(|e| format!("{e} at {}", e.instance_path())).collect();
        assert!(errors.is_empty(), "{path} does not match `{component}`: {errors:?}");
    }
    // The same documents as the CLI's library functions.
    let (_, champions) = api.get("/api/v1/champions").await;
    assert_eq!(champions["champions"][0]["version"], 1);
    let (_, page) = api.get("/api/v1/events?limit=3").await;
    assert_eq!(page["next_after"], 2);
    let (_, hash_lookup) =
        api.get(&format!("/api/v1/events/{}", page["events"][1]["hash"].as_str().unwrap())).await;
    assert_eq!(hash_lookup["seq"], 1);
    api.close().await;
}

#[tokio::test]
async fn unknown_things_are_404_and_bad_parameters_400() {
    let api = Api::new(world());
    for path in [
        "/api/v1/models/nosuch/champion",
        "/api/v1/champions?model=nosuch",
        "/api/v1/models/nosuch/versions",
        "/api/v1/models/demand/versions/99/backtests",
        "/api/v1/models/demand/versions/99/lineage",
        "/api/v1/models/nosuch/timeline",
        "/api/v1/models/nosuch/release",
        "/api/v1/ml-alerts/A-000000000000",
        "/api/v1/experiments/H-404",
        "/api/v1/experiments/H-404/results",
        "/api/v1/events/9999",
        "/api/v1/no/such/route",
    ] {
        let (status, v) = api.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {v}");
        assert_eq!(v["error"]["code"], "not_found", "{path}");
    }
    for path in [
        "/api/v1/ml-alerts?status=bogus",
        "/api/v1/ml-alerts?severity=loud",
        "/api/v1/ml-alerts?colour=red",
        "/api/v1/models/demand/versions/one/backtests",
        "/api/v1/models/demand/versions/1/lineage?direction=sideways",
        "/api/v1/models/demand/timeline?as_of=yesterday",
        "/api/v1/events?limit=0",
        "/api/v1/events?limit=5000",
        "/api/v1/events?after=x",
        "/api/v1/events?since=yesterday",
        "/api/v1/events/not-a-hash",
        "/api/v1/events/stream?after=minus-one",
    ] {
        let (status, v) = api.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {v}");
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{path}: {v}");
    }
    api.close().await;
}

/// Given `last` with `after`, the answer is the last N events after it; given an envelope whose
/// payload is not a command, the answer is 403 unless its key is enrolled and its signature
/// verifies (then 400); given a checkpoint that is not there, 404.
#[tokio::test]
async fn combined_pages_unauthenticated_garbage_and_missing_checkpoints() {
    let api = Api::new(world());
    let (s, all) = api.get("/api/v1/events?after=1&limit=1000").await;
    assert_eq!(s, StatusCode::OK);
    let after: Vec<Value> = all["events"].as_array().unwrap().clone();
    let (s, last) = api.get("/api/v1/events?last=2&after=1").await;
    assert_eq!(s, StatusCode::OK, "{last}");
    assert_eq!(last["events"].as_array().unwrap()[..], after[after.len() - 2..]);
    let (s, v) = api.get("/api/v1/events?last=2&limit=0").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    let sign = |who: &str, payload: &[u8]| -> Value {
        let pae = ledger::dsse::pae("application/vnd.pledge.command.v1+json", payload);
        let sig = base64::engine::general_purpose::STANDARD.encode(key(who).sign(&pae));
        json!({"payloadType": "application/vnd.pledge.command.v1+json",
               "payload": base64::engine::general_purpose::STANDARD.encode(payload),
               "signatures": [{"keyid": key(who).public().key_id().to_string(), "sig": sig}]})
    };
    let garbage = b"not a command";
    let mut forged = sign("maya", garbage);
    forged["signatures"][0]["sig"] = json!(base64::engine::general_purpose::STANDARD.encode([7u8; 64]));
    for (who, env, status, rule) in [
        ("nobody enrolled", sign("eve", garbage), StatusCode::FORBIDDEN, Some("key.unknown")),
        ("a signature that does not verify", forged, StatusCode::FORBIDDEN, Some("signature.invalid")),
        ("maya's own garbage", sign("maya", garbage), StatusCode::BAD_REQUEST, None),
    ] {
        let before = api.state.committed();
        let (s, v) = api.send(Method::POST, "/api/v1/commands", &env).await;
        assert_eq!((s, v["error"]["rule"].as_str()), (status, rule), "{who}: {v}");
        assert_eq!(api.state.committed(), before, "{who}: nothing appended");
    }

    for path in
        ["/api/v1/proofs/consistency?from=0&to=1", "/api/v1/checkpoints/latest?wait_for=999999&timeout=0"]
    {
        let (s, v) = api.get(path).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found")),
            "{path}: {v}"
        );
    }
    api.close().await;
}

/// Handlers check signatures against the read model's keys before queueing; the writer still
/// judges each command on the state it decides on. Given a key revoked by an earlier command,
/// its valid signature is refused (403 `key.revoked`). Given a key enrolled, granted a role and
/// used by three commands queued back to back (the read model may not know the key when the
/// third is checked), all three are appended, in order.
#[tokio::test]
async fn keys_revoked_or_enrolled_in_flight_are_judged_by_the_writer() {
    let api = Api::new(world());
    let revoke = json!({"key_id": key("colby").public().key_id(), "reason": "left the team"});
    let (s, v) = api.command("root", "key.revoke", revoke).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    api.refused("colby", "alert.read", json!({"alert_id": "A-x"}), StatusCode::FORBIDDEN, "key.revoked")
        .await;

    let enroll = json!({"principal": "eve", "public_key": key("eve").public().to_string()});
    let grant = json!({"principal": "eve", "role": "scientist"});
    let (a, b, c) = tokio::join!(
        api.command("root", "key.enroll", enroll),
        api.command("root", "role.grant", grant),
        api.command("eve", "hypothesis.propose", hypothesis("H-eve")),
    );
    for (s, v) in [&a, &b, &c] {
        assert_eq!(*s, StatusCode::CREATED, "{v}");
    }
    let seq = |v: &Value| v["events"][0]["seq"].as_u64().unwrap();
    assert!(seq(&a.1) < seq(&b.1) && seq(&b.1) < seq(&c.1), "queued order is commit order");
    let (s, x) = api.get("/api/v1/experiments/H-eve").await;
    assert_eq!((s, x["status"].as_str()), (StatusCode::OK, Some("proposed")), "{x}");
}

#[tokio::test]
async fn signed_commands_are_appended_once_and_refusals_name_their_rule() {
    let api = Api::new(world());
    // Accepted: 201 with the events and their canonical bytes; a resend is 200 and the same events.
    let env = api.ids.envelope("maya", "hypothesis.propose", hypothesis("H-2"));
    let body = serde_json::to_value(&env).unwrap();
    let (s1, first) = api.send(Method::POST, "/api/v1/commands", &body).await;
    assert_eq!(s1, StatusCode::CREATED, "{first}");
    let bytes = first["events"][0]["canonical"].as_str().unwrap();
    assert_eq!(
        ledger::Digest::of(bytes.as_bytes()).to_string(),
        first["events"][0]["hash"].as_str().unwrap()
    );
    let (s2, again) = api.send(Method::POST, "/api/v1/commands", &body).await;
    assert_eq!(s2, StatusCode::OK);
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["events"], first["events"]);
    let (_, xs) = api.get("/api/v1/experiments").await;
    assert_eq!(xs["experiments"].as_array().unwrap().len(), 2, "read your writes");

    // Forbidden: unenrolled key, wrong role, self-approval (four eyes), bad signature.
    api.refused("eve", "alert.read", json!({"alert_id": "A-x"}), StatusCode::FORBIDDEN, "key.unknown").await;
    let bootstrap = json!({"model": "demand", "segment": null, "version": 1});
    api.refused("maya", "champion.bootstrap", bootstrap, StatusCode::FORBIDDEN, "role.not_allowed").await;
    api.command("ana", "run.record", run("r9", "new_data", 11.0, 0.15, 0.92)).await;
    let (_, p) = api.command("ana", "arena.propose", json!({"model": "demand", "segment": null})).await;
    let pid = p["events"][0]["payload"]["proposal_id"].as_str().unwrap().to_string();
    api.refused("ana", "arena.approve", json!({"proposal_id": pid}), StatusCode::FORBIDDEN, "four_eyes")
        .await;
    let mut forged =
        serde_json::to_value(api.ids.envelope("colby", "alert.read", json!({"alert_id": "A-x"}))).unwrap();
    let other =
        serde_json::to_value(api.ids.envelope("colby", "alert.read", json!({"alert_id": "A-y"}))).unwrap();
    forged["signatures"] = other["signatures"].clone();
    let before = api.state.committed();
    let (s, v) = api.send(Method::POST, "/api/v1/commands", &forged).await;
    assert_eq!((s, v["error"]["rule"].clone()), (StatusCode::FORBIDDEN, json!("signature.invalid")), "{v}");
    assert_eq!(api.state.committed(), before);

    // Conflict: the ledger's state says no.
    api.refused("maya", "hypothesis.propose", hypothesis("H-1"), StatusCode::CONFLICT, "hypothesis.exists")
        .await;
    api.refused("colby", "alert.read", json!({"alert_id": "A-nope"}), StatusCode::CONFLICT, "alert.unknown")
        .await;

    // Malformed: not an envelope, not JSON, an unknown field in the body, too large.
    for bad in [json!({"payload": "x"}), json!([1, 2])] {
        let (s, v) = api.send(Method::POST, "/api/v1/commands", &bad).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    }
    let raw = Request::post("/api/v1/commands")
        .header("content-type", "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    assert_eq!(api.request(raw).await.0, StatusCode::BAD_REQUEST);
    let (s, v) =
        api.command("maya", "hypothesis.propose", json!({"hypothesis_id": "H-3", "surprise": 1})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let huge = json!({"payload": "A".repeat(5 << 20), "payloadType": "x", "signatures": []});
    let (s, v) = api.send(Method::POST, "/api/v1/commands", &huge).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_eq!(api.state.committed(), before);
    let (_, verified) = api.get("/api/v1/verify").await;
    assert_eq!(verified["ok"], true, "{verified}");
    api.close().await;
}

/// `who` signs `kind` issued `offset_secs` from the harness's T0 (the ledger's clock starts
/// there and advances a minute per commit).
fn issued_at(who: &str, id: u64, offset_secs: i64, kind: &str, body: Value) -> Value {
    let t0 = ledger::canonical::Timestamp::parse_exact(crate::harness::T0).unwrap();
    let at = chrono::DateTime::from_timestamp_micros(t0.micros() + offset_secs * 1_000_000).unwrap();
    let cmd = ledger::Command {
        id: uuid::Uuid::parse_str(&format!("019c5e00-0000-7000-8000-{id:012x}")).unwrap(),
        ledger: crate::harness::ledger_id(),
        issued_at: ledger::canonical::Timestamp::from_datetime(at),
        kind: kind.into(),
        body,
    };
    serde_json::to_value(cmd.sign(&key(who)).unwrap()).unwrap()
}

#[tokio::test]
async fn stale_future_and_failing_commands_change_nothing_and_the_writer_keeps_working() {
    let w = world();
    let store = w.ledger.shared_store();
    let api = Api::new(w);
    let drift = json!({"model": "demand", "baseline": 12.8, "recent": 12.9});
    let before = api.state.committed();
    for (id, offset, rule) in [(0xf01, -8 * 86_400, "command.stale"), (0xf02, 86_400, "command.from_future")]
    {
        let env = issued_at("maya", id, offset, "drift.record", drift.clone());
        let (s, v) = api.send(Method::POST, "/api/v1/commands", &env).await;
        assert_eq!((s, v["error"]["rule"].clone()), (StatusCode::CONFLICT, json!(rule)), "{v}");
        assert_eq!(api.state.committed(), before, "a stale or early command appends nothing");
    }
    // The disk fills up during a commit: 507 `storage_full`, nothing appended, the read model
    // unchanged.
    let (_, ledger_before) = api.get("/api/v1/ledger").await;
    store.fail_next_commits(1);
    let env = issued_at("maya", 0xf10, 0, "drift.record", drift.clone());
    let (s, v) = api.send(Method::POST, "/api/v1/commands", &env).await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (StatusCode::INSUFFICIENT_STORAGE, json!("storage_full")),
        "{v}"
    );
    assert!(v["error"]["message"].as_str().unwrap().contains("nothing was committed"), "{v}");
    assert_eq!(api.state.committed(), before);
    assert_eq!(api.get("/api/v1/ledger").await.1, ledger_before);
    // Space is freed: the same command, sent again, is appended once; the writer's state and
    // the read model are the store's (the projection digest is the replay's).
    let (s, v) = api.send(Method::POST, "/api/v1/commands", &env).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, _) = api.command("colby", "alert.read", json!({"alert_id": "A-nope"})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, v) = api.command("maya", "hypothesis.propose", hypothesis("H-9")).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (_, info) = api.get("/api/v1/ledger").await;
    let replayed = projections::replay::replay(&store, projections::replay::AsOf::Head).unwrap();
    assert_eq!(info["projection"]["digest"], json!(replayed.digest()));
    assert_eq!(info["events"], json!(store.len()));
    assert_eq!(api.get("/api/v1/verify").await.1["ok"], true);
    api.close().await;
}

#[tokio::test]
async fn the_seed_routes_take_signed_commands_for_their_resource() {
    let api = Api::new(world());
    let alert = alert_id(&api).await;
    let read =
        serde_json::to_value(api.ids.envelope("colby", "alert.read", json!({"alert_id": alert}))).unwrap();
    let (s, v) = api.send(Method::PATCH, &format!("/api/v1/ml-alerts/{alert}/read"), &read).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    // The command must be of the route's kind and about the path's resource.
    let wrong_kind =
        serde_json::to_value(api.ids.envelope("colby", "alert.read", json!({"alert_id": alert}))).unwrap();
    let (s, v) = api.send(Method::PATCH, &format!("/api/v1/ml-alerts/{alert}/action"), &wrong_kind).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let other = serde_json::to_value(api.ids.envelope(
        "colby",
        "alert.action",
        json!({"alert_id": "A-other", "action": "dismiss"}),
    ))
    .unwrap();
    let (s, _) = api.send(Method::PATCH, &format!("/api/v1/ml-alerts/{alert}/action"), &other).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let act = serde_json::to_value(api.ids.envelope(
        "colby",
        "alert.action",
        json!({"alert_id": alert, "action": "dismiss", "notes": "seasonal"}),
    ))
    .unwrap();
    let (s, v) = api.send(Method::PATCH, &format!("/api/v1/ml-alerts/{alert}/action"), &act).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (_, a) = api.get(&format!("/api/v1/ml-alerts/{alert}")).await;
    assert_eq!(a["status"], "dismissed");
    // Experiments: propose, approve (not by the proposer), reject is then a conflict.
    let propose =
        serde_json::to_value(api.ids.envelope("maya", "hypothesis.propose", hypothesis("H-7"))).unwrap();
    assert_eq!(api.send(Method::POST, "/api/v1/experiments", &propose).await.0, StatusCode::CREATED);
    let approve = json!({"hypothesis_id": "H-7", "rationale": "worth a week"});
    let by_maya =
        serde_json::to_value(api.ids.envelope("maya", "experiment.approve", approve.clone())).unwrap();
    let (s, v) = api.send(Method::PATCH, "/api/v1/experiments/H-7/approve", &by_maya).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let by_colby = serde_json::to_value(api.ids.envelope("colby", "experiment.approve", approve)).unwrap();
    assert_eq!(
        api.send(Method::PATCH, "/api/v1/experiments/H-7/approve", &by_colby).await.0,
        StatusCode::CREATED
    );
    let reject = serde_json::to_value(api.ids.envelope(
        "colby",
        "experiment.reject",
        json!({"hypothesis_id": "H-7", "rationale": "no"}),
    ))
    .unwrap();
    let (s, v) = api.send(Method::PATCH, "/api/v1/experiments/H-7/reject", &reject).await;
    assert_eq!(
        (s, v["error"]["rule"].clone()),
        (StatusCode::CONFLICT, json!("experiment.already_reviewed")),
        "{v}"
    );
    api.close().await;
}

/// Reads SSE messages from a live tail until `n` events arrived; returns their sequence numbers.
async fn read_tail(body: Body, n: usize) -> Vec<u64> {
    let mut body = body;
    let mut text = String::new();
    let mut seqs = vec![];
    while seqs.len() < n {
        let frame = body.frame().await.expect("the tail ended early").unwrap();
        if let Ok(data) = frame.into_data() {
            text.push_str(std::str::from_utf8(&data).unwrap());
        }
        while let Some(end) = text.find("\n\n") {
            let message: String = text.drain(..end + 2).collect();
            let id = message.lines().find_map(|l| l.strip_prefix("id: ")).map(|i| i.parse::<u64>().unwrap());
            let data = message.lines().find_map(|l| l.strip_prefix("data: "));
            if let (Some(id), Some(data)) = (id, data) {
                let v: Value = serde_json::from_str(data).unwrap();
                assert_eq!(v["seq"], id);
                seqs.push(id);
            }
        }
    }
    seqs
}

#[tokio::test]
async fn a_live_tail_sees_every_event_appended_after_it_connects_in_order() {
    let api = Api::new(world());
    let start = api.state.committed();
    let resp = api
        .app
        .clone()
        .oneshot(
            Request::get(format!("/api/v1/events/stream?after={}", start - 1)).body(Body::empty()).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    // Appends from several concurrent writers while the tail is open.
    let mut tasks = vec![];
    for i in 0..40 {
        let env = serde_json::to_value(api.ids.envelope(
            "maya",
            "hypothesis.propose",
            hypothesis(&format!("H-T{i}")),
        ))
        .unwrap();
        let app = api.app.clone();
        tasks.push(tokio::spawn(async move {
            let req = Request::post("/api/v1/commands")
                .header("content-type", "application/json")
                .body(Body::from(env.to_string()))
                .unwrap();
            app.oneshot(req).await.unwrap().status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::CREATED);
    }
    let seqs = read_tail(resp.into_body(), 40).await;
    assert_eq!(seqs, (start..start + 40).collect::<Vec<_>>());
    // A reconnect with Last-Event-ID resumes after it.
    let req = Request::get("/api/v1/events/stream")
        .header("last-event-id", (start + 37).to_string())
        .body(Body::empty())
        .unwrap();
    let resumed = read_tail(api.app.clone().oneshot(req).await.unwrap().into_body(), 2).await;
    assert_eq!(resumed, vec![start + 38, start + 39]);
    api.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_each_land_exactly_once_and_the_chain_verifies() {
    let api = Api::new(world());
    let start = api.state.committed();
    let clients = 16;
    let per_client = 25;
    let mut tasks = vec![];
    for c in 0..clients {
        let envs: Vec<Value> = (0..per_client)
            .map(|i| {
                serde_json::to_value(api.ids.envelope(
                    "maya",
                    "hypothesis.propose",
                    hypothesis(&format!("H-{c}-{i}")),
                ))
                .unwrap()
            })
            .collect();
        let app = api.app.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = vec![];
            for env in envs {
                // Every command is sent twice: the resend must not append again.
                for _ in 0..2 {
                    let req = Request::post("/api/v1/commands")
                        .header("content-type", "application/json")
                        .body(Body::from(env.to_string()))
                        .unwrap();
                    let resp = app.clone().oneshot(req).await.unwrap();
                    assert!(resp.status().is_success(), "{}", resp.status());
                    let v: Value =
                        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes())
                            .unwrap();
                    acked.push(v["events"][0]["hash"].as_str().unwrap().to_string());
                }
            }
            acked
        }));
    }
    let mut acked = BTreeSet::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    assert_eq!(acked.len(), clients * per_client, "one event per command, resends included");
    assert_eq!(api.state.committed(), start + (clients * per_client) as u64);
    let (_, page) = api.get(&format!("/api/v1/events?after={}&limit=1000", start - 1)).await;
    let stored: BTreeSet<String> =
        page["events"].as_array().unwrap().iter().map(|e| e["hash"].as_str().unwrap().to_string()).collect();
    assert_eq!(stored, acked, "every acknowledged command is in the ledger, nothing else");
    let (_, verified) = api.get("/api/v1/verify").await;
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(verified["summary"]["events"], start + (clients * per_client) as u64);
    api.close().await;
}

#[tokio::test]
async fn a_read_token_guards_every_method_and_route_and_signatures_guard_writes() {
    let token = "s3cret-token-0123456789".to_string();
    let api = Api::with_options(world(), Options { read_token: Some(token.clone()), ..Options::default() });
    let bearer = format!("Bearer {token}");
    let (s, v) = api.get("/api/v1/champions").await;
    assert_eq!((s, v["error"]["code"].clone()), (StatusCode::UNAUTHORIZED, json!("unauthorized")));
    let wrong =
        Request::get("/api/v1/champions").header("authorization", "Bearer nope").body(Body::empty()).unwrap();
    assert_eq!(api.request(wrong).await.0, StatusCode::UNAUTHORIZED);
    let right =
        Request::get("/api/v1/champions").header("authorization", &bearer).body(Body::empty()).unwrap();
    assert_eq!(api.request(right).await.0, StatusCode::OK);
    // HEAD and OPTIONS are refused alike on every route, existing or not, and reveal nothing:
    // no Content-Length of the real answer, no difference between a known and an unknown id,
    // and no verification run.
    for path in ["/api/v1/champions", "/api/v1/verify", "/api/v1/events/1", "/api/v1/events/999999", "/nope"]
    {
        for method in [Method::HEAD, Method::OPTIONS] {
            let req = Request::builder().method(method.clone()).uri(path).body(Body::empty()).unwrap();
            let resp = api.app.clone().oneshot(req).await.unwrap();
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
            let unauthorized = api.get("/api/v1/champions").await.1.to_string().len().to_string();
            let len = resp.headers().get(header::CONTENT_LENGTH).map(|v| v.to_str().unwrap().to_string());
            assert!(
                len.is_none() || len.as_deref() == Some(unauthorized.as_str()),
                "{method} {path}: {len:?}"
            );
        }
    }
    // A signed write without the token is refused before it is read, and appends nothing.
    let before = api.state.committed();
    let (s, _) = api.command("maya", "hypothesis.propose", hypothesis("H-9")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(api.state.committed(), before);
    // With the token it is judged by its signature, as always.
    let env =
        serde_json::to_value(api.ids.envelope("maya", "hypothesis.propose", hypothesis("H-9"))).unwrap();
    let req = Request::post("/api/v1/commands")
        .header("authorization", &bearer)
        .header("content-type", "application/json")
        .body(Body::from(env.to_string()))
        .unwrap();
    assert_eq!(api.request(req).await.0, StatusCode::CREATED, "writes are authenticated by their signature");
    api.close().await;
}

#[tokio::test]
async fn the_openapi_document_and_the_routes_agree() {
    let mut w = world();
    let size = w.with_log_key().checkpoint.size;
    let api = Api::new(w);
    let (_, served) = api.get("/api/v1/openapi.json").await;
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/openapi.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(served, committed, "the served document is schemas/openapi.json");
    assert!(served["openapi"].as_str().unwrap().starts_with("3."));
    let documented: BTreeSet<(String, String)> = served["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| ops.as_object().unwrap().keys().map(move |m| (m.clone(), path.clone())))
        .collect();
    let routed: BTreeSet<(String, String)> =
        api::ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(documented, routed, "every route documented, every documented route served");
    // And each one is really there: a GET answers 200, a write without a valid body 400 (not
    // the fallback's 404 or a 405).
    let alert = alert_id(&api).await;
    for (method, path) in api::ROUTES {
        let concrete = path
            .replace("{model}", "demand")
            .replace("{version}", "1")
            .replace("/ml-alerts/{id}", &format!("/ml-alerts/{alert}"))
            .replace("/experiments/{id}", "/experiments/H-1")
            .replace("/events/{id}", "/events/0")
            .replace("{size}", &size.to_string())
            .replace("/proofs/inclusion", "/proofs/inclusion?event=0")
            .replace("/proofs/consistency", &format!("/proofs/consistency?from={size}&to={size}"));
        if *path == "/metrics" {
            let resp =
                api.app.clone().oneshot(Request::get(&concrete).body(Body::empty()).unwrap()).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            let text =
                String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
            assert!(text.contains("pledge_ledger_events ") && text.ends_with("# EOF\n"), "{text}");
            continue;
        }
        if *path == api::STREAM_PATH {
            let resp =
                api.app.clone().oneshot(Request::get(&concrete).body(Body::empty()).unwrap()).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            continue;
        }
        let (status, v) = match *method {
            "get" => api.get(&concrete).await,
            m => api.send(m.to_uppercase().parse().unwrap(), &concrete, &json!({})).await,
        };
        // `demand`'s champion has no artifact here: serving refuses it before reading rows.
        let unservable = path.ends_with("/predict");
        let expected = match *method {
            "get" => StatusCode::OK,
            _ if unservable => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        };
        assert_eq!(status, expected, "{method} {concrete}: {v}");
        for code in documented_codes(&served, method, path) {
            assert!(code == "default" || code.parse::<u16>().is_ok(), "{method} {path}: {code}");
        }
    }
    api.close().await;
}

fn documented_codes(doc: &Value, method: &str, path: &str) -> Vec<String> {
    doc["paths"][path][method]["responses"].as_object().unwrap().keys().cloned().collect()
}
