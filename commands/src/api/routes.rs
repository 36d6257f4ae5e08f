//! The routes: every read answers one typed question of [`crate::app::query`] (the same
//! `answer` and document as `pledge ... --json`), every write is a signed command envelope.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use futures_util::Stream;
use ledger::dsse::Envelope;
use ledger::{SignedCommand, TrustState};
use projections::state::{Alert, AlertCounts, AlertStatus, Experiment, Severity};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ledger::checkpoints::Checkpoints;
use ledger::note::{Checkpoint, SignedNote};

use super::metrics::metrics;
use super::serving::{predict, ready, record_actuals, served_model, shadow_windows};
use super::{ApiError, AppState};
use crate::app::failure::Failure;
use crate::app::query::*;
use crate::app::transparency;

/// Declares the routes once: the router is built from this table and [`ROUTES`] lists it, so
/// the OpenAPI test compares the document with what is really served.
macro_rules! routes {
    ($( $method:ident $path:literal => $handler:ident ),* $(,)?) => {
        /// Every route the API serves: (method, path), the live tail included.
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path),)* ("get", STREAM_PATH)];
        fn timed_routes() -> Router<AppState> {
            Router::new()$(.route($path, $method($handler)))*
        }
    };
}

/// The live tail's path (it has no request timeout).
pub const STREAM_PATH: &str = "/api/v1/events/stream";

routes! {
    get "/api/v1/ledger" => ledger_info,
    get "/api/v1/verify" => verify,
    get "/api/v1/policy" => policy,
    get "/api/v1/keys" => keys,
    get "/api/v1/champions" => champions,
    get "/api/v1/ready" => ready,
    get "/api/v1/models/health" => health,
    get "/api/v1/models/{model}" => served_model,
    post "/api/v1/models/{model}/predict" => predict,
    post "/api/v1/models/{model}/actuals" => record_actuals,
    get "/api/v1/models/{model}/shadow" => shadow_windows,
    get "/api/v1/models/{model}/champion" => model_champion,
    get "/api/v1/models/{model}/versions" => versions,
    get "/api/v1/models/{model}/versions/{version}/backtests" => backtests,
    get "/api/v1/models/{model}/versions/{version}/lineage" => lineage,
    get "/api/v1/models/{model}/versions/{version}/review" => review,
    get "/api/v1/models/{model}/timeline" => timeline,
    get "/api/v1/models/{model}/release" => release,
    get "/api/v1/ml-alerts" => alerts,
    get "/api/v1/ml-alerts/stats" => alert_stats,
    get "/api/v1/ml-alerts/{id}" => alert,
    patch "/api/v1/ml-alerts/{id}/read" => alert_read,
    patch "/api/v1/ml-alerts/{id}/action" => alert_action,
    get "/api/v1/experiments" => experiments,
    post "/api/v1/experiments" => experiment_propose,
    get "/api/v1/experiments/{id}" => experiment,
    get "/api/v1/experiments/{id}/results" => experiment_results,
    patch "/api/v1/experiments/{id}/approve" => experiment_approve,
    patch "/api/v1/experiments/{id}/reject" => experiment_reject,
    post "/api/v1/experiments/{id}/complete" => experiment_complete,
    get "/api/v1/arena/proposals" => proposals,
    get "/api/v1/events" => events,
    get "/api/v1/events/{id}" => event,
    post "/api/v1/commands" => command,
    get "/api/v1/tree" => tree,
    get "/api/v1/checkpoints" => checkpoints,
    post "/api/v1/checkpoints" => checkpoint_submit,
    get "/api/v1/checkpoints/latest" => checkpoint_latest,
    get "/api/v1/checkpoints/{size}" => checkpoint,
    post "/api/v1/checkpoints/{size}/cosignatures" => cosignature_submit,
    get "/api/v1/proofs/inclusion" => inclusion_proof,
    get "/api/v1/proofs/consistency" => consistency_proof,
    get "/api/v1/openapi.json" => openapi,
    get "/metrics" => metrics,
}

/// The API's router. Every request needs the read token when one is set; the live tail has no
/// timeout.
pub fn app(state: AppState) -> Router {
    let timeout = tower_http::timeout::TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        state.0.options.request_timeout,
    );
    let limit = state.0.options.body_limit;
    let live = Router::new().route(STREAM_PATH, get(stream));
    timed_routes()
        .merge(super::desk::router())
        .layer(timeout)
        .merge(live)
        .fallback(|| async {
            ApiError::not_found("no such route; the API is described at /api/v1/openapi.json")
        })
        .layer(middleware::from_fn_with_state(state.clone(), read_token))
        .layer(middleware::from_fn_with_state(state.clone(), super::metrics::track))
        .layer(DefaultBodyLimit::max(limit))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Every request, whatever its method or route (HEAD and OPTIONS included, writes too), needs
/// `Authorization: Bearer TOKEN` when the server has a read token: a HEAD would otherwise
/// reveal what a GET hides (whether an id exists, a body's length) and run the same work.
/// Writes are, in addition, authenticated by their signatures. A browser, which cannot add the
/// header to a page load or an event stream, sends the token in the review desk's cookie
/// instead (set by its sign-in page, the one page served without it).
async fn read_token(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(token) = &s.0.options.read_token {
        let given = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let ok = given.and_then(|v| v.strip_prefix("Bearer ")).is_some_and(|t| constant_time_eq(t, token))
            || super::desk::cookie_token(req.headers()).is_some_and(|t| constant_time_eq(&t, token));
        if !ok && super::desk::is_public(req.uri().path()) {
            return next.run(req).await;
        }
        if !ok && req.method() == axum::http::Method::GET && super::desk::is_page(req.uri().path()) {
            return super::desk::to_sign_in();
        }
        if !ok {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this server needs `Authorization: Bearer <read token>` on every request",
            )
            .into_response();
        }
    }
    next.run(req).await
}

pub(super) fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

// Extractors whose rejections are `ApiError`s (JSON bodies naming the problem).

/// Query parameters; unknown or malformed ones are a 400.
pub(super) struct Q<T>(pub(super) T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state).await.map(|q| Q(q.0)).map_err(
            |e: QueryRejection| ApiError::bad_request(format!("query parameters: {}", e.body_text())),
        )
    }
}

/// Path parameters; malformed ones (a version that is not a number) are a 400.
pub(super) struct P<T>(pub(super) T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for P<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| P(p.0))
            .map_err(|e: PathRejection| ApiError::bad_request(format!("path: {}", e.body_text())))
    }
}

/// A JSON body; a malformed or ambiguous one (a member twice) is a 400, a too large one a 413.
pub(super) struct J<T>(pub(super) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for J<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim() == "application/json"));
        if !json_type {
            return Err(ApiError::bad_request("body: expected `Content-Type: application/json`"));
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e: BytesRejection| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", format!("body: {}", e.body_text()))
            } else {
                ApiError::bad_request(format!("body: {}", e.body_text()))
            }
        })?;
        ledger::canonical::check_unambiguous(&bytes)
            .map_err(|e| ApiError::bad_request(format!("body: {e}")))?;
        serde_json::from_slice(&bytes).map(J).map_err(|e| ApiError::bad_request(format!("body: {e}")))
    }
}

/// Answers `q` from the read model under its read lock.
fn answer<Q: Query>(s: &AppState, q: &Q) -> Result<Json<Q::Answer>, ApiError> {
    Ok(Json(s.with_view(|v| q.answer(v))?))
}

/// Answers questions that read many events (as-of replays, event pages) on a blocking thread,
/// without the read model's lock: they need the store and the trust state only.
async fn answer_unlocked<Q: Query + Send + 'static>(s: &AppState, q: Q) -> Result<Json<Q::Answer>, ApiError>
where
    Q::Answer: Send,
{
    s.answer_unlocked(q).await.map(Json)
}

async fn ledger_info(State(s): State<AppState>) -> Result<Json<LedgerInfoAnswer>, ApiError> {
    let Json(mut info) = answer(&s, &LedgerInfo)?;
    // What readers have seen: the committed count the read model folded.
    info.events = s.committed();
    Ok(Json(info))
}

async fn verify(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let store = Arc::clone(&s.0.store);
    let outcome =
        tokio::task::spawn_blocking(move || ledger::verify_store(&store, crate::app::verify::verifier(None)))
            .await
            .map_err(ApiError::internal)?;
    Ok(Json(match outcome {
        Ok(summary) => json!({"ok": true, "summary": summary}),
        Err(failure) => json!({"ok": false, "failure": failure}),
    }))
}

async fn policy(State(s): State<AppState>) -> Result<Json<PolicyAnswer>, ApiError> {
    answer(&s, &PolicyInForce)
}

async fn keys(State(s): State<AppState>) -> Result<Json<KeysAnswer>, ApiError> {
    answer(&s, &Keys)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelParam {
    model: Option<String>,
}

async fn champions(
    State(s): State<AppState>,
    Q(q): Q<ModelParam>,
) -> Result<Json<ChampionsAnswer>, ApiError> {
    answer(&s, &Champions { model: q.model })
}

async fn model_champion(
    State(s): State<AppState>,
    P(model): P<String>,
) -> Result<Json<ChampionsAnswer>, ApiError> {
    answer(&s, &Champions { model: Some(model) })
}

async fn health(State(s): State<AppState>) -> Result<Json<HealthAnswer>, ApiError> {
    answer(&s, &HealthCheck)
}

async fn versions(State(s): State<AppState>, P(model): P<String>) -> Result<Json<VersionsAnswer>, ApiError> {
    answer(&s, &Versions { model })
}

async fn backtests(
    State(s): State<AppState>,
    P((model, version)): P<(String, u64)>,
) -> Result<Json<BacktestsAnswer>, ApiError> {
    answer(&s, &Backtests { model, version })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LineageParams {
    direction: Option<Direction>,
}

async fn lineage(
    State(s): State<AppState>,
    P((model, version)): P<(String, u64)>,
    Q(q): Q<LineageParams>,
) -> Result<Json<LineageAnswer>, ApiError> {
    answer(&s, &Lineage { model, version, direction: q.direction.unwrap_or_default() })
}

async fn review(
    State(s): State<AppState>,
    P((model, version)): P<(String, u64)>,
) -> Result<Json<crate::app::review::ReviewAnswer>, ApiError> {
    answer(&s, &crate::app::review::Review { model, version })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimelineParams {
    segment: Option<String>,
    as_of: Option<String>,
}

async fn timeline(
    State(s): State<AppState>,
    P(model): P<String>,
    Q(q): Q<TimelineParams>,
) -> Result<Json<TimelineAnswer>, ApiError> {
    // As of a past point too: the head's read models, cut at that point.
    answer(&s, &Timeline { model, segment: q.segment, as_of: q.as_of })
}

async fn release(State(s): State<AppState>, P(model): P<String>) -> Result<Json<ReleaseAnswer>, ApiError> {
    answer(&s, &Release { model })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertParams {
    status: Option<AlertStatus>,
    severity: Option<Severity>,
}

async fn alerts(State(s): State<AppState>, Q(q): Q<AlertParams>) -> Result<Json<AlertsAnswer>, ApiError> {
    answer(&s, &Alerts { status: q.status, severity: q.severity })
}

async fn alert_stats(State(s): State<AppState>) -> Result<Json<AlertCounts>, ApiError> {
    answer(&s, &AlertStats)
}

async fn alert(State(s): State<AppState>, P(id): P<String>) -> Result<Json<Alert>, ApiError> {
    answer(&s, &AlertById { id })
}

async fn experiments(State(s): State<AppState>) -> Result<Json<ExperimentsAnswer>, ApiError> {
    answer(&s, &Experiments)
}

async fn experiment(State(s): State<AppState>, P(id): P<String>) -> Result<Json<Experiment>, ApiError> {
    answer(&s, &ExperimentById { id })
}

async fn experiment_results(
    State(s): State<AppState>,
    P(id): P<String>,
) -> Result<Json<ExperimentResultsAnswer>, ApiError> {
    answer(&s, &ExperimentResults { id })
}

async fn proposals(State(s): State<AppState>) -> Result<Json<ProposalsAnswer>, ApiError> {
    answer(&s, &Proposals)
}

/// Event pages: `after` (a sequence number) and `limit` page forward in ledger order;
/// `last=N` gives the last N matches instead.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventParams {
    after: Option<u64>,
    limit: Option<usize>,
    last: Option<usize>,
    kind: Option<String>,
    model: Option<String>,
    segment: Option<String>,
    actor: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

async fn events(State(s): State<AppState>, Q(q): Q<EventParams>) -> Result<Json<EventsAnswer>, ApiError> {
    let max = crate::app::query::MAX_PAGE;
    if let Some(limit) = q.limit.filter(|l| *l == 0 || *l > max) {
        return Err(ApiError::bad_request(format!("`limit` is between 1 and {max}, not {limit}")));
    }
    let page = match q.last {
        Some(n) => Page::Last { n, after: q.after },
        None => Page::After { after: q.after, limit: q.limit.unwrap_or(100) },
    };
    let selection = EventSelection {
        kind: q.kind,
        model: q.model,
        segment: q.segment,
        actor: q.actor,
        since: q.since,
        until: q.until,
    };
    answer_unlocked(&s, Events { selection, page }).await
}

async fn event(State(s): State<AppState>, P(id): P<String>) -> Result<Json<EventAnswer>, ApiError> {
    answer_unlocked(&s, EventById { id }).await
}

/// The trust state readers see now (a handle: the lock is released at once).
fn trust(s: &AppState) -> Arc<TrustState> {
    Arc::clone(&s.read().trust)
}

/// Runs checkpoint file work off the async workers, one at a time (files are merged on
/// publish, so two writers could lose a signature).
async fn checkpoint_work<T: Send + 'static>(
    s: &AppState,
    f: impl FnOnce(&ledger::Store, &TrustState) -> Result<T, Failure> + Send + 'static,
) -> Result<T, ApiError> {
    let s = s.clone();
    tokio::task::spawn_blocking(move || {
        let _one = s.0.checkpoint_lock.lock().unwrap_or_else(|e| e.into_inner());
        let trust = trust(&s);
        f(&s.0.store, &trust)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::from)
}

/// The Merkle tree's size and root now, the ledger's origin, and the vkeys of its log keys.
async fn tree(State(s): State<AppState>) -> Json<Value> {
    let (size, root) = s.0.store.tree_head();
    let trust = trust(&s);
    let origin = trust.ledger_id().map(|id| ledger::note::origin(&id));
    let keys: Vec<String> = transparency::log_keys(&trust).iter().map(ledger::note::NoteKey::vkey).collect();
    Json(json!({"size": size, "root": STANDARD.encode(root), "origin": origin, "log_keys": keys}))
}

async fn checkpoints(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let docs = checkpoint_work(&s, |store, trust| {
        let kept = Checkpoints::of(store.dir());
        let policy = trust.witnesses();
        let mut out = vec![];
        for size in kept.sizes().map_err(transparency::io)? {
            if let Some(p) = kept.get(size).map_err(transparency::io)? {
                out.push(transparency::checkpoint_json(&p, &policy));
            }
        }
        Ok(out)
    })
    .await?;
    Ok(Json(json!({"checkpoints": docs})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LatestParams {
    /// Wait until a checkpoint covers at least this many events.
    wait_for: Option<u64>,
    /// For at most this many seconds (default 10; never past the request timeout).
    timeout: Option<u64>,
}

async fn checkpoint_latest(
    State(s): State<AppState>,
    Q(q): Q<LatestParams>,
) -> Result<Json<Value>, ApiError> {
    if let Some(n) = q.wait_for {
        let mut published = s.0.published.subscribe();
        // Answer before the request timeout cuts the request off.
        let most = s.0.options.request_timeout.saturating_sub(std::time::Duration::from_millis(500));
        let wait = std::time::Duration::from_secs(q.timeout.unwrap_or(10)).min(most);
        let reached =
            tokio::time::timeout(wait, published.wait_for(|size| *size >= n)).await.map(|r| r.is_ok());
        match reached {
            Ok(true) => {}
            Ok(false) => return Err(ApiError::internal("the server is stopping")),
            Err(_) => {
                return Err(ApiError::not_found(format!(
                    "no published checkpoint covers {n} events yet (waited {} s)",
                    wait.as_secs_f64()
                )))
            }
        }
    }
    let doc = checkpoint_work(&s, |store, trust| {
        Ok(Checkpoints::of(store.dir())
            .latest()
            .map_err(transparency::io)?
            .map(|p| transparency::checkpoint_json(&p, &trust.witnesses())))
    })
    .await?;
    doc.map(Json).ok_or_else(|| ApiError::not_found("no checkpoint has been published yet"))
}

async fn checkpoint(State(s): State<AppState>, P(size): P<u64>) -> Result<Json<Value>, ApiError> {
    let doc = checkpoint_work(&s, move |store, trust| {
        Ok(Checkpoints::of(store.dir())
            .get(size)
            .map_err(transparency::io)?
            .map(|p| transparency::checkpoint_json(&p, &trust.witnesses())))
    })
    .await?;
    doc.map(Json).ok_or_else(|| ApiError::not_found(format!("no checkpoint of size {size}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoteBody {
    /// A signed note (a checkpoint, with its signatures).
    note: String,
}

fn parse_note(text: &str) -> Result<SignedNote, ApiError> {
    SignedNote::parse(text).map_err(|e| ApiError::bad_request(format!("note: {e}")))
}

/// A checkpoint signed by a log key elsewhere (`pledge checkpoint` in remote mode).
async fn checkpoint_submit(State(s): State<AppState>, J(body): J<NoteBody>) -> Result<Response, ApiError> {
    let note = parse_note(&body.note)?;
    let doc = checkpoint_work(&s, move |store, trust| {
        let p = transparency::accept_checkpoint(store, trust, &note)?;
        Ok(transparency::checkpoint_json(&p, &trust.witnesses()))
    })
    .await?;
    s.note_published(doc["size"].as_u64().unwrap_or(0));
    Ok((StatusCode::CREATED, Json(doc)).into_response())
}

/// Cosignatures of a published checkpoint: the note, cosigned; the signatures of the witnesses
/// the policy names are checked and kept, any other is refused.
async fn cosignature_submit(
    State(s): State<AppState>,
    P(size): P<u64>,
    J(body): J<NoteBody>,
) -> Result<Json<Value>, ApiError> {
    let note = parse_note(&body.note)?;
    let checkpoint =
        Checkpoint::from_note(&note).map_err(|e| ApiError::bad_request(format!("checkpoint: {e}")))?;
    if checkpoint.size != size {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "the note is a checkpoint of size {}, not of size {size} as the path says",
                checkpoint.size
            ),
        ));
    }
    checkpoint_work(&s, move |store, trust| {
        let p = transparency::add_cosignatures(store, trust, &note)?;
        Ok(transparency::checkpoint_json(&p, &trust.witnesses()))
    })
    .await
    .map(Json)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InclusionParams {
    /// The event: a sequence number or a hash.
    event: String,
    /// The size of the published checkpoint to prove against (default: the smallest covering).
    size: Option<u64>,
}

async fn inclusion_proof(
    State(s): State<AppState>,
    Q(q): Q<InclusionParams>,
) -> Result<Json<Value>, ApiError> {
    checkpoint_work(&s, move |store, trust| {
        let ev = transparency::event(store, &q.event)?;
        let checkpoint = match q.size {
            Some(size) => Some(Checkpoints::of(store.dir()).get(size).map_err(transparency::io)?.ok_or_else(|| {
                Failure::not_found(format!("no checkpoint of size {size}"))
            })?),
            None => None,
        };
        let proof = transparency::inclusion(store, &trust.witnesses(), &ev, checkpoint)?;
        Ok(json!({"seq": ev.seq(), "hash": ev.hash, "size": Checkpoint::from_note(&proof.checkpoint).map(|c| c.size).unwrap_or(0),
                  "proof": proof.proof.iter().map(|h| STANDARD.encode(h)).collect::<Vec<_>>(), "tlog_proof": proof.to_string()}))
    })
    .await
    .map(Json)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsistencyParams {
    /// Size of the older published checkpoint.
    from: u64,
    /// Size of the newer published checkpoint.
    to: u64,
}

async fn consistency_proof(
    State(s): State<AppState>,
    Q(q): Q<ConsistencyParams>,
) -> Result<Json<Value>, ApiError> {
    checkpoint_work(&s, move |store, _| {
        let kept = Checkpoints::of(store.dir());
        let get = |size: u64| {
            kept.get(size)
                .map_err(transparency::io)?
                .ok_or_else(|| Failure::not_found(format!("no checkpoint of size {size}")))
        };
        let proof = transparency::ConsistencyProof::make(store, &get(q.from)?, &get(q.to)?)?;
        serde_json::to_value(proof).map_err(Failure::internal)
    })
    .await
    .map(Json)
}

async fn openapi() -> Json<Value> {
    Json(super::openapi::document())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamParams {
    after: Option<u64>,
}

/// The live tail: every event after `after` (or the `Last-Event-ID` header a reconnecting
/// `EventSource` sends; from genesis when neither), then each new one as it is committed.
/// Each SSE message has the sequence number as `id`, the kind as `event`, and the event as
/// `data` (the shape of `/api/v1/events`).
async fn stream(
    State(s): State<AppState>,
    headers: axum::http::HeaderMap,
    Q(q): Q<StreamParams>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    // An empty header (a client that never saw an id) is no header.
    let last_id = match headers.get("last-event-id").filter(|v| !v.as_bytes().trim_ascii().is_empty()) {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|t| t.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::bad_request("`Last-Event-ID` is not a sequence number"))?,
        ),
        None => None,
    };
    let next = match q.after.or(last_id) {
        Some(a) => a.saturating_add(1),
        None => 0,
    };
    struct Tail {
        state: AppState,
        next: u64,
        buffer: VecDeque<SseEvent>,
        committed: tokio::sync::watch::Receiver<u64>,
        stopping: tokio::sync::watch::Receiver<bool>,
    }
    let tail = Tail {
        committed: s.0.committed.subscribe(),
        stopping: s.0.stopping.subscribe(),
        state: s,
        next,
        buffer: VecDeque::new(),
    };
    let events = futures_util::stream::unfold(tail, |mut t| async move {
        loop {
            if let Some(ev) = t.buffer.pop_front() {
                return Some((Ok(ev), t));
            }
            if *t.stopping.borrow() {
                return None;
            }
            let upto = *t.committed.borrow_and_update();
            if t.next < upto {
                let end = upto.min(t.next + 256);
                for ev in t.state.0.store.range(t.next..end) {
                    match ev {
                        Ok(ev) => {
                            let data = serde_json::to_value(EventDoc::from(&ev)).unwrap_or(Value::Null);
                            t.buffer.push_back(
                                SseEvent::default()
                                    .id(ev.seq().to_string())
                                    .event(ev.event.kind.clone())
                                    .data(data.to_string()),
                            );
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "live tail cannot read the store");
                            return None;
                        }
                    }
                }
                t.next = end;
                continue;
            }
            tokio::select! {
                changed = t.committed.changed() => if changed.is_err() { return None },
                _ = t.stopping.changed() => {}
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// `POST /api/v1/commands`: a signed command envelope (DSSE). 201 with the events it appended,
/// 200 with the original events when it was already appended (a resend), or the refusal.
async fn command(State(s): State<AppState>, J(env): J<Envelope>) -> Result<Response, ApiError> {
    submit(&s, authenticated(&s, env)?).await
}

/// The envelope's command, with its signature checked here when its key is enrolled (403
/// `signature.invalid` if it does not verify). A payload that is not a Pledge command is 400
/// only when its key is enrolled and its signature verifies, and otherwise 403 (`key.unknown`,
/// `signature.invalid`): nothing an unknown sender wrote is reported on. A well-formed command
/// from a key this read model does not know yet goes to the writer, which refuses it with
/// `key.unknown` unless a command queued before it enrolled the key.
///
/// The signature is checked here, on the request's thread, so that concurrent requests'
/// signatures are verified in parallel rather than one after another on the writer; the
/// writer still makes every check (key enrolled and not revoked, role, rules) against the
/// state it decides on, and verifies again only if the key it finds is not the one checked
/// here.
fn authenticated(s: &AppState, env: Envelope) -> Result<SignedCommand, ApiError> {
    let forbidden = |rule: &str, message: String| ApiError {
        status: StatusCode::FORBIDDEN,
        code: "forbidden",
        message,
        rule: Some(rule.to_string()),
    };
    let [signature] = env.signatures.as_slice() else {
        return Err(ApiError::bad_request(format!(
            "envelope has {} signatures, Pledge accepts exactly one",
            env.signatures.len()
        )));
    };
    let key_id = signature.keyid;
    let key = s.0.read.read().unwrap_or_else(|e| e.into_inner()).trust.key(&key_id).map(|k| k.public_key);
    let invalid =
        || forbidden("signature.invalid", format!("the signature of key `{key_id}` does not verify"));
    let unknown = || forbidden("key.unknown", format!("key `{key_id}` is not enrolled in this ledger"));
    match (SignedCommand::parse(env.clone()), key) {
        (Ok(mut cmd), Some(key)) => match cmd.check_signature(&key) {
            true => Ok(cmd),
            false => Err(invalid()),
        },
        (Ok(cmd), None) => Ok(cmd),
        (Err(_), None) => Err(unknown()),
        (Err(malformed), Some(key)) => {
            let (_, sig) = env.single_signature().map_err(|_| invalid())?;
            let payload = env.payload_bytes().map_err(|_| invalid())?;
            match key.verify_strict(&ledger::dsse::pae(&env.payload_type, &payload), &sig) {
                true => Err(ApiError::bad_request(malformed)),
                false => Err(invalid()),
            }
        }
    }
}

/// Queues an authenticated command for the writer and answers with its events (201, or 200
/// for a resend) or its refusal.
async fn submit(s: &AppState, cmd: SignedCommand) -> Result<Response, ApiError> {
    let receipt = s.0.writer.submit(cmd).await?;
    let status = if receipt.duplicate { StatusCode::OK } else { StatusCode::CREATED };
    let events: Vec<Value> = receipt
        .events
        .iter()
        .map(|ev| {
            let mut v = serde_json::to_value(EventDoc::from(ev)).unwrap_or(Value::Null);
            v["canonical"] = json!(String::from_utf8_lossy(&ev.bytes));
            v
        })
        .collect();
    Ok((status, Json(json!({"ok": true, "duplicate": receipt.duplicate, "events": events}))).into_response())
}

/// A convenience route: the envelope must hold a command of `kind` whose body's `field` (if
/// given) names the resource in the path; then it is submitted like any other.
async fn submit_for(
    s: &AppState,
    env: Envelope,
    kind: &str,
    field: Option<(&str, &str)>,
) -> Result<Response, ApiError> {
    let cmd = authenticated(s, env)?;
    if cmd.command().kind != kind {
        return Err(ApiError::bad_request(format!(
            "this route takes a signed `{kind}` command, not `{}`",
            cmd.command().kind
        )));
    }
    if let Some((name, id)) = field {
        if cmd.command().body[name].as_str() != Some(id) {
            return Err(ApiError::bad_request(format!("the command's `{name}` is not `{id}`, the path's")));
        }
    }
    submit(s, cmd).await
}

async fn alert_read(
    State(s): State<AppState>,
    P(id): P<String>,
    J(env): J<Envelope>,
) -> Result<Response, ApiError> {
    submit_for(&s, env, "alert.read", Some(("alert_id", &id))).await
}

async fn alert_action(
    State(s): State<AppState>,
    P(id): P<String>,
    J(env): J<Envelope>,
) -> Result<Response, ApiError> {
    submit_for(&s, env, "alert.action", Some(("alert_id", &id))).await
}

async fn experiment_propose(State(s): State<AppState>, J(env): J<Envelope>) -> Result<Response, ApiError> {
    submit_for(&s, env, "hypothesis.propose", None).await
}

async fn experiment_approve(
    State(s): State<AppState>,
    P(id): P<String>,
    J(env): J<Envelope>,
) -> Result<Response, ApiError> {
    submit_for(&s, env, "experiment.approve", Some(("hypothesis_id", &id))).await
}

async fn experiment_reject(
    State(s): State<AppState>,
    P(id): P<String>,
    J(env): J<Envelope>,
) -> Result<Response, ApiError> {
    submit_for(&s, env, "experiment.reject", Some(("hypothesis_id", &id))).await
}

async fn experiment_complete(
    State(s): State<AppState>,
    P(id): P<String>,
    J(env): J<Envelope>,
) -> Result<Response, ApiError> {
    submit_for(&s, env, "experiment.complete", Some(("hypothesis_id", &id))).await
}
