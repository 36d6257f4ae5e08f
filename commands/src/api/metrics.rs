//! `GET /metrics`: the server's figures in the OpenMetrics text format Prometheus scrapes,
//! from the Prometheus project's own client (`prometheus-client`). Requests and their latency
//! per route, predictions per model, version and route, shadow scores and how far they are
//! from the champion's, the writer's queue, the ledger's head, the serving table, and the time
//! since the last published checkpoint.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::{ApiError, AppState};
use crate::app::predlog::Logged;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PredictionLabels {
    model: String,
    version: String,
    /// The route's segment (`global` for the global champion).
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ShadowLabels {
    model: String,
    version: String,
}

fn latency() -> Histogram {
    // 50 µs to about 3.3 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 17))
}

fn distance() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<StatusLabels, Counter>,
    duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    predictions: Family<PredictionLabels, Counter>,
    shadow: Family<ShadowLabels, Counter>,
    disagreement: Family<ShadowLabels, Histogram, fn() -> Histogram>,
    queue: Gauge,
    events: Gauge,
    serving_generation: Gauge,
    serving_problems: Gauge,
    checkpoint_size: Gauge,
    checkpoint_age: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// When the last checkpoint was published by this process (or found at start).
    pub(super) checkpoint_at: std::sync::Mutex<Option<std::time::SystemTime>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("pledge");
        let requests = Family::<StatusLabels, Counter>::default();
        let duration = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency);
        let predictions = Family::<PredictionLabels, Counter>::default();
        let shadow = Family::<ShadowLabels, Counter>::default();
        let disagreement =
            Family::<ShadowLabels, Histogram, fn() -> Histogram>::new_with_constructor(distance);
        let (queue, events, generation, problems, size) =
            (Gauge::default(), Gauge::default(), Gauge::default(), Gauge::default(), Gauge::default());
        let age = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register("http_requests", "HTTP requests answered, by route and status", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request (the live tail excepted), by route",
            duration.clone(),
        );
        registry.register("predictions", "Rows scored, by model, version and route", predictions.clone());
        registry.register(
            "shadow_predictions",
            "Rows scored by a shadow version (logged, not returned)",
            shadow.clone(),
        );
        registry.register(
            "shadow_disagreement",
            "Absolute difference between a shadow version's score and the champion's, per row",
            disagreement.clone(),
        );
        registry.register("writer_queue_depth", "Commands waiting for the writer", queue.clone());
        registry.register(
            "ledger_events",
            "Events committed and visible (head sequence + 1)",
            events.clone(),
        );
        registry.register(
            "serving_generation",
            "Serving tables built so far (one per champion switch)",
            generation.clone(),
        );
        registry.register(
            "serving_problems",
            "Champions or shadow versions whose artifact cannot be served",
            problems.clone(),
        );
        registry.register(
            "checkpoint_size",
            "Size of the latest published checkpoint (0: none)",
            size.clone(),
        );
        registry.register(
            "checkpoint_age_seconds",
            "Seconds since the latest checkpoint was published (0 before the first)",
            age.clone(),
        );
        Metrics {
            registry,
            requests,
            duration,
            predictions,
            shadow,
            disagreement,
            queue,
            events,
            serving_generation: generation,
            serving_problems: problems,
            checkpoint_size: size,
            checkpoint_age: age,
            checkpoint_at: std::sync::Mutex::new(None),
        }
    }
}

impl Metrics {
    /// Counts scored rows and their shadow scores.
    pub(super) fn predicted(&self, logged: &[Logged]) {
        for r in logged {
            self.predictions
                .get_or_create(&PredictionLabels {
                    model: r.model.clone(),
                    version: r.version.to_string(),
                    route: r.route.clone().unwrap_or_else(|| "global".into()),
                })
                .inc();
            for s in &r.shadow {
                let l = ShadowLabels { model: r.model.clone(), version: s.version.to_string() };
                self.shadow.get_or_create(&l).inc();
                self.disagreement.get_or_create(&l).observe((s.value - r.value).abs());
            }
        }
    }
}

/// Counts every request and times it, by its route's pattern (never the raw path: ids would
/// make a series per request).
pub(super) async fn track(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_string();
    let method = req.method().as_str().to_string();
    let start = Instant::now();
    let response = next.run(req).await;
    let m = &s.0.metrics;
    m.duration
        .get_or_create(&RouteLabels { method: method.clone(), route: route.clone() })
        .observe(start.elapsed().as_secs_f64());
    m.requests.get_or_create(&StatusLabels { method, route, status: response.status().as_u16() }).inc();
    response
}

/// `GET /metrics`.
pub(super) async fn metrics(State(s): State<AppState>) -> Result<Response, ApiError> {
    let m = &s.0.metrics;
    m.queue.set(s.0.writer.queued() as i64);
    m.events.set(i64::try_from(s.committed()).unwrap_or(i64::MAX));
    let table = s.0.serving.current();
    m.serving_generation.set(i64::try_from(table.generation).unwrap_or(i64::MAX));
    m.serving_problems.set(table.models.values().map(|x| x.problems.len() as i64).sum());
    m.checkpoint_size.set(i64::try_from(*s.0.published.borrow()).unwrap_or(i64::MAX));
    let at = *m.checkpoint_at.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(age) = at.and_then(|t| t.elapsed().ok()) {
        m.checkpoint_age.set(age.as_secs_f64());
    }
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &m.registry).map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
        .into_response())
}
