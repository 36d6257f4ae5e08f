//! The HTTP API (`pledge serve`): reads from the projections, writes as signed commands through
//! the same decide step as the CLI, a live tail of events, and the OpenAPI document.
//!
//! [`app`] builds the `Router` from an [`AppState`]; tests drive it with
//! `tower::ServiceExt::oneshot`, no socket. [`AppState::open`] starts the one writer thread
//! that owns the ledger (sled is single-process): requests queue their envelopes, the writer
//! drains the queue into one group commit (many commands, one `fdatasync`), folds the new
//! events into the read model, and only then answers each request. No request is
//! acknowledged before its events are durable.
//!
//! Reads take the read model's lock for the time one answer takes; replays as of a past point,
//! event pages and verification read the store without it. The commit path (decide, journal
//! `fdatasync`) never waits for readers.

pub mod desk;
mod jobs;
mod metrics;
pub mod openapi;
mod routes;
mod serving;
mod writer;

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ledger::{Ledger, Store, SubmitError, TrustState};
use serde_json::json;

use crate::app::failure::Failure;
use crate::app::query::QueryError;
use crate::domain::PledgeDomain;

pub use jobs::Jobs;
pub use routes::{app, ROUTES, STREAM_PATH};

/// Serves `state` on `listener` until `shutdown` completes, then ends live tails, lets in-flight
/// requests finish for up to `Options::shutdown_timeout`, and drops whatever connection is still
/// open after it (a client that sent half a header, a slow reader). Connections are HTTP/1.1:
/// each gets `TCP_NODELAY` (an answer leaves when it is written, not after the peer's delayed
/// acknowledgement of the previous one) and `Options::header_timeout` to send a request's
/// headers, which also closes a keep-alive connection left idle that long. At most
/// `Options::max_connections` are open at once; more wait in the listen backlog.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let options = state.0.options.clone();
    let publisher = tokio::spawn(publish_checkpoints(state.clone()));
    let storage = tokio::spawn(watch_storage(state.clone()));
    let retries = tokio::spawn(retry_serving(state.clone()));
    let scheduled = tokio::spawn(jobs::run(state.clone()));
    let service = hyper_util::service::TowerToHyperService::new(app(state.clone()));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(options.header_timeout)
        .keep_alive(true);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(options.max_connections.max(1)));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, or the peer gave up before accept: the listener
                    // is still good; wait a little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY on an accepted connection");
        }
        let conn = http.serve_connection(hyper_util::rt::TokioIo::new(tcp), service.clone());
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!("shutting down: finishing in-flight requests");
    state.stop_streams();
    if tokio::time::timeout(options.shutdown_timeout, graceful.shutdown()).await.is_err() {
        tracing::warn!(
            seconds = options.shutdown_timeout.as_secs_f64(),
            "connections still open after the shutdown deadline were dropped"
        );
    }
    // Every acknowledged command is committed by now: the last checkpoint covers them all.
    publisher.abort();
    storage.abort();
    retries.abort();
    // A pass in progress finishes its current job on its blocking thread; no new one starts.
    scheduled.abort();
    if state.0.options.checkpoints.is_some() {
        publish_once(&state).await;
    }
    Ok(())
}

/// Once a second, asks the writer to reopen the store if a full disk left it needing that:
/// reads work again as soon as space returns, without waiting for the next command.
async fn watch_storage(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if state.0.store.needs_recovery() {
            state.0.writer.recover();
        }
    }
}

/// Every `Options::serving_retry`, loads again the artifacts of champions that could not be served
/// (a file restored or repaired is served without a restart or a new commit).
async fn retry_serving(state: AppState) {
    let mut tick = tokio::time::interval(state.0.serving.retry().max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if state.0.serving.current().has_problems() {
            let s = state.clone();
            let _ = tokio::task::spawn_blocking(move || s.refresh_serving()).await;
        }
    }
}

/// Publishes a checkpoint every `every` events, or every `interval` when fewer came, while the
/// server runs (nothing without a log key).
async fn publish_checkpoints(state: AppState) {
    let Some(p) = state.0.options.checkpoints.clone() else { return };
    let mut committed = state.0.committed.subscribe();
    let mut last = tokio::task::spawn_blocking({
        let dir = state.0.store.dir().to_path_buf();
        move || {
            ledger::checkpoints::Checkpoints::of(&dir)
                .latest()
                .ok()
                .flatten()
                .map_or(0, |c| c.checkpoint.size)
        }
    })
    .await
    .unwrap_or(0);
    let mut since = tokio::time::Instant::now();
    loop {
        let now = *committed.borrow_and_update();
        if now >= last + p.every.max(1) || (now > last && since.elapsed() >= p.interval) {
            last = publish_once(&state).await.unwrap_or(last);
            since = tokio::time::Instant::now();
            continue;
        }
        tokio::select! {
            changed = committed.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep_until(since + p.interval) => {}
        }
    }
}

/// Signs and keeps a checkpoint of the whole tree now; returns its size.
async fn publish_once(state: &AppState) -> Option<u64> {
    let p = state.0.options.checkpoints.clone()?;
    let s = state.clone();
    let done = tokio::task::spawn_blocking(move || {
        let _one = s.0.checkpoint_lock.lock().unwrap_or_else(|e| e.into_inner());
        let trust = Arc::clone(&s.read().trust);
        crate::app::transparency::sign_checkpoint(&s.0.store, &trust, &p.key)
    })
    .await;
    match done {
        Ok(Ok(published)) => {
            tracing::debug!(size = published.checkpoint.size, "checkpoint published");
            state.note_published(published.checkpoint.size);
            Some(published.checkpoint.size)
        }
        Ok(Err(f)) => {
            tracing::error!(error = %f.message, "cannot publish a checkpoint");
            None
        }
        Err(e) => {
            tracing::error!(error = %e, "checkpoint task failed");
            None
        }
    }
}

/// Limits and options of a server.
#[derive(Debug, Clone)]
pub struct Options {
    /// Bearer token required on every request (any method, any route), if set.
    pub read_token: Option<String>,
    /// Largest request body accepted (bytes).
    pub body_limit: usize,
    /// Time a request may take before it is answered 408 (the live tail excepted).
    pub request_timeout: std::time::Duration,
    /// Time a client has to send a request's headers (and that a keep-alive connection may stay
    /// idle) before the connection is closed.
    pub header_timeout: std::time::Duration,
    /// Most connections open at once; more wait in the listen backlog until one closes.
    pub max_connections: usize,
    /// After a shutdown signal, how long in-flight requests may take before the connections
    /// still open are dropped.
    pub shutdown_timeout: std::time::Duration,
    /// Most commands the writer puts in one group commit.
    pub max_batch: usize,
    /// Commands that may wait for the writer before senders are slowed down.
    pub queue: usize,
    /// The reproducible clock of a `PLEDGE_FIXED_TIME` run: the writer moves it past the head
    /// before each commit, as each CLI invocation does when it opens the ledger.
    pub reproducible: Option<Arc<crate::app::clock::Reproducible>>,
    /// Publishing checkpoints, when the server holds a log key.
    pub checkpoints: Option<Publishing>,
    /// How long a champion whose artifact could not be loaded waits before it is tried again
    /// (the previous version serves meanwhile).
    pub serving_retry: std::time::Duration,
    /// Whole days of the prediction log kept before today.
    pub prediction_retention_days: u32,
    /// Jobs the server runs when due, signed by its service key (none without one).
    pub jobs: Option<Jobs>,
}

/// How `pledge serve` publishes checkpoints with the log key it holds.
#[derive(Debug, Clone)]
pub struct Publishing {
    /// The log key (enrolled for a principal with the `log` role).
    pub key: Arc<ledger::keys::SecretKey>,
    /// A checkpoint after this many new events...
    pub every: u64,
    /// ...or after this long, if any event came since the last one.
    pub interval: std::time::Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            read_token: None,
            body_limit: 4 << 20,
            request_timeout: std::time::Duration::from_secs(30),
            header_timeout: std::time::Duration::from_secs(10),
            max_connections: 512,
            shutdown_timeout: std::time::Duration::from_secs(10),
            max_batch: 2048,
            queue: 16_384,
            reproducible: None,
            checkpoints: None,
            serving_retry: crate::app::serving::RETRY,
            prediction_retention_days: 30,
            jobs: None,
        }
    }
}

/// What readers see: the trust and domain state folded from every committed event.
#[derive(Debug, Default)]
pub struct ReadModel {
    /// Keys, roles, policy (shared: readers take a handle and release the lock).
    pub trust: Arc<TrustState>,
    /// The domain read models and the policy in force.
    pub domain: PledgeDomain,
}

/// The server's shared state: a `Clone` handle on `Arc`s.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

struct Shared {
    store: Arc<Store>,
    read: RwLock<ReadModel>,
    /// Events committed and folded into the read model (head seq + 1; 0 for an empty ledger).
    committed: tokio::sync::watch::Sender<u64>,
    /// Set when the server stops: live tails end so that shutdown can finish.
    stopping: tokio::sync::watch::Sender<bool>,
    writer: writer::Handle,
    options: Options,
    /// Held while checkpoint files are read or merged (one publisher at a time).
    checkpoint_lock: std::sync::Mutex<()>,
    /// The size of the largest published checkpoint (0 before the first).
    published: tokio::sync::watch::Sender<u64>,
    /// What each model's champions serve (swapped whole when champions change).
    serving: crate::app::serving::Serving,
    /// Every prediction answered, with shadow scores, and the outcomes joined to them.
    predictions: Arc<crate::app::predlog::PredictionLog>,
    /// What `/metrics` reports.
    metrics: metrics::Metrics,
}

impl Shared {
    fn refresh_serving(&self) -> bool {
        let wanted = {
            let model = self.read.read().unwrap_or_else(|e| e.into_inner());
            crate::app::serving::wanted(&model.domain.state)
        };
        self.serving.refresh(wanted)
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("store", &self.0.store).finish_non_exhaustive()
    }
}

/// The writer thread; joining it waits for the last commit and closes the ledger.
#[derive(Debug)]
pub struct Writer(std::thread::JoinHandle<()>);

impl Writer {
    /// Waits for the writer to finish (after every [`AppState`] clone is dropped).
    pub fn join(self) {
        if self.0.join().is_err() {
            tracing::error!("the writer thread panicked");
        }
    }
}

impl AppState {
    /// Opens the ledger in `dir` (which must exist) and starts its writer thread.
    pub fn open(dir: &Path, options: Options) -> Result<(AppState, Writer), Failure> {
        crate::app::backend::require_ledger(dir)?;
        let (ledger, reproducible) = crate::app::backend::open_ledger_reproducible(dir)?;
        AppState::new(ledger, Options { reproducible, ..options })
    }

    /// Serves an open ledger (tests hand over one with a fixed clock); starts its writer.
    pub fn new(ledger: Ledger<PledgeDomain>, options: Options) -> Result<(AppState, Writer), Failure> {
        let model = ReadModel { trust: Arc::new(ledger.trust().clone()), domain: ledger.domain().clone() };
        let committed = ledger.store().head().map_or(0, |h| h.seq + 1);
        let published = ledger::checkpoints::Checkpoints::of(ledger.store().dir())
            .latest()
            .ok()
            .flatten()
            .map_or(0, |p| p.checkpoint.size);
        let store = ledger.shared_store();
        let serving = crate::app::serving::Serving::new(
            &crate::app::training::artifact_dir(store.dir()),
            options.serving_retry,
        );
        serving.refresh(crate::app::serving::wanted(&model.domain.state));
        let predictions = crate::app::predlog::PredictionLog::open(
            &crate::app::predlog::log_dir(store.dir()),
            Some(options.prediction_retention_days),
            Arc::new(ledger::canonical::SystemClock),
        )
        .map_err(|m| Failure::new(crate::app::failure::STORAGE, format!("the prediction log: {m}")))?;
        let (handle, rx) = writer::channel(options.queue);
        let shared = Arc::new(Shared {
            store,
            read: RwLock::new(model),
            committed: tokio::sync::watch::Sender::new(committed),
            stopping: tokio::sync::watch::Sender::new(false),
            writer: handle,
            options,
            checkpoint_lock: std::sync::Mutex::new(()),
            published: tokio::sync::watch::Sender::new(published),
            serving,
            predictions: Arc::new(predictions),
            metrics: metrics::Metrics::default(),
        });
        let latest = ledger::checkpoints::Checkpoints::of(shared.store.dir()).latest().ok().flatten();
        if latest.is_some() {
            // The time the newest checkpoint file was written stands for its publication.
            let dir = shared.store.dir().join("checkpoints");
            let newest = std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .filter_map(|e| e.ok()?.metadata().ok()?.modified().ok())
                .max();
            *shared.metrics.checkpoint_at.lock().unwrap_or_else(|e| e.into_inner()) = newest;
        }
        let thread = writer::spawn(ledger, rx, Arc::downgrade(&shared), &shared.options)?;
        Ok((AppState(shared), Writer(thread)))
    }

    /// Checks the service key `name` can sign the jobs the server was given (see
    /// `Options::jobs`): enrolled, and allowed each job's command.
    pub fn check_jobs(&self, name: &str) -> Result<(), Failure> {
        match &self.0.options.jobs {
            Some(j) => jobs::check(self, j, name),
            None => Ok(()),
        }
    }

    /// Ends live tails (called when the server starts shutting down).
    pub fn stop_streams(&self) {
        self.0.stopping.send_replace(true);
    }

    /// The ledger's id (from genesis).
    pub fn ledger_id(&self) -> Option<uuid::Uuid> {
        self.read().trust.ledger_id()
    }

    /// Records that a checkpoint of `size` events is published (wakes waiting readers).
    pub(crate) fn note_published(&self, size: u64) {
        *self.0.metrics.checkpoint_at.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(std::time::SystemTime::now());
        self.0.published.send_if_modified(|p| {
            let grew = size > *p;
            *p = (*p).max(size);
            grew
        });
    }

    /// The server's options.
    pub fn options(&self) -> &Options {
        &self.0.options
    }

    /// The trust state readers see now.
    pub fn trust(&self) -> Arc<TrustState> {
        Arc::clone(&self.read().trust)
    }

    /// Events committed and visible to readers (head seq + 1).
    pub fn committed(&self) -> u64 {
        *self.0.committed.borrow()
    }

    /// Brings the serving table to the champions of the read model (see
    /// `app::serving::Serving::refresh`); the writer calls it before acknowledging a commit.
    /// Runs `f` with a consistent view of the read model, under its read lock (held for the
    /// time `f` takes: one answer).
    pub(crate) fn with_view<T>(&self, f: impl FnOnce(&crate::app::query::View<'_>) -> T) -> T {
        let model = self.read();
        f(&crate::app::query::View::new(
            &self.0.store,
            &model.trust,
            &model.domain.state,
            model.domain.policy.as_deref(),
        ))
    }

    /// Answers a question that reads many events (an event page, one event) on a
    /// blocking thread, without the read model's lock: it needs the store and the trust state.
    pub(crate) async fn answer_unlocked<Q>(&self, q: Q) -> Result<Q::Answer, ApiError>
    where
        Q: crate::app::query::Query + Send + 'static,
        Q::Answer: Send,
    {
        let store = Arc::clone(&self.0.store);
        let trust: Arc<TrustState> = Arc::clone(&self.read().trust);
        tokio::task::spawn_blocking(move || {
            let empty = projections::State::default();
            q.answer(&crate::app::query::View::new(&store, &trust, &empty, None))
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
    }

    pub(crate) fn refresh_serving(&self) -> bool {
        self.0.refresh_serving()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, ReadModel> {
        // A panic while folding would poison the lock; the fold has no rules and does not
        // panic on events the ledger accepted, and a poisoned model is still the best answer.
        self.0.read.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// An API error: a status and a JSON body `{"error": {"code", "message", "rule"?}}`. Client
/// errors say what was wrong; internal errors say nothing about internals (they are logged).
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code: `not_found`, `bad_request`, `unauthorized`, `rejected`,
    /// `forbidden`, `conflict`, `integrity`, `unavailable`, `internal`.
    pub code: &'static str,
    /// What was wrong.
    pub message: String,
    /// The rule that refused a command.
    pub rule: Option<String>,
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), rule: None }
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 500, with the details logged, not sent.
    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %detail, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the server log has the details",
        )
    }

    /// A storage failure: 507 `storage_full` when the disk is full (nothing was committed),
    /// 503 `outcome_unknown` when a commit may or may not be on disk (resending the same
    /// envelope tells), 503 `read_only`, 503 `unavailable` while the store is being reopened
    /// after a failed commit, 503 `integrity` when the ledger is damaged, otherwise 500.
    pub fn storage(e: &ledger::StoreError) -> ApiError {
        use ledger::StoreError::*;
        let (status, code, message) = match e {
            NoSpace { .. } => (
                StatusCode::INSUFFICIENT_STORAGE,
                "storage_full",
                format!("{e}; free space on that disk and send the command again (the server needs no restart)"),
            ),
            InDoubt(_) => (StatusCode::SERVICE_UNAVAILABLE, "outcome_unknown", e.to_string()),
            ReadOnly { .. } => (StatusCode::SERVICE_UNAVAILABLE, "read_only", e.to_string()),
            Poisoned(why) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!(
                    "the ledger's storage failed ({why}); the commits acknowledged before are durable, and the server reopens its files as soon as it can (it tries every second): send it again"
                ),
            ),
            e if e.is_corruption() => (
                StatusCode::SERVICE_UNAVAILABLE,
                "integrity",
                "the ledger's storage failed verification; the server refuses writes until it is restored".into(),
            ),
            e => return ApiError::internal(e),
        };
        tracing::error!(error = %e, code, "storage refused a commit");
        ApiError::new(status, code, message)
    }

    /// The refusal of a submitted command: 403 when the signer may not (unknown or revoked key,
    /// bad signature, wrong role, four eyes), 409 when the ledger's state says no, 400 when the
    /// command is malformed.
    pub fn from_submit(e: &SubmitError) -> ApiError {
        match e {
            SubmitError::Rejected(r) => {
                let forbidden = matches!(
                    r.rule.as_str(),
                    "key.unknown"
                        | "key.revoked"
                        | "signature.invalid"
                        | "role.not_allowed"
                        | "four_eyes"
                        | "genesis.signer"
                        | "command.wrong_ledger"
                );
                let (status, code) = if forbidden {
                    (StatusCode::FORBIDDEN, "forbidden")
                } else {
                    (StatusCode::CONFLICT, "rejected")
                };
                ApiError { status, code, message: r.message.clone(), rule: Some(r.rule.clone()) }
            }
            SubmitError::Invalid(m) => ApiError::bad_request(m.clone()),
            SubmitError::Store(e) => ApiError::storage(e),
            other => ApiError::internal(other),
        }
    }
}

impl From<Failure> for ApiError {
    /// A refusal of the shared checkpoint and proof code: invalid input 400, a rule 409, an
    /// integrity failure 409 `integrity` (what was sent does not match the ledger), a busy
    /// ledger 503 `busy`, internal 500.
    fn from(f: Failure) -> ApiError {
        use crate::app::failure::{BUSY, INTEGRITY, INVALID_INPUT, REJECTED, STORAGE};
        match f.code {
            _ if f.missing => ApiError::not_found(f.message),
            INVALID_INPUT => ApiError::bad_request(f.message),
            REJECTED => {
                ApiError { rule: f.rule, ..ApiError::new(StatusCode::CONFLICT, "rejected", f.message) }
            }
            INTEGRITY => ApiError::new(StatusCode::CONFLICT, "integrity", f.message),
            BUSY => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", f.message),
            STORAGE => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", f.message),
            _ => ApiError::internal(f.message),
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> ApiError {
        match e {
            QueryError::NotFound(m, _) => ApiError::not_found(m),
            QueryError::BadParam(m) => ApiError::bad_request(m),
            QueryError::Store(e) => ApiError::storage(&e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"code": self.code, "message": self.message});
        if let Some(rule) = &self.rule {
            body["rule"] = json!(rule);
        }
        (self.status, Json(json!({"error": body}))).into_response()
    }
}
