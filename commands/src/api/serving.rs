//! The serving routes: scoring rows with the champions, what each model serves, readiness.
//! The table and the scoring are `app::serving`'s; this module reads requests and maps
//! refusals to statuses.

use axum::extract::{FromRequest, Request, State};
use axum::http::{header, StatusCode};
use axum::Json;
use serde::Deserialize;

use super::routes::{P, Q};
use super::{ApiError, AppState};
use crate::app::serving::{self, PredictAnswer, PredictInput, ReadyAnswer, ServeError, ServedModelAnswer};

/// Requests with more rows than this are scored on a blocking thread.
const INLINE_ROWS: usize = 64;

impl From<ServeError> for ApiError {
    fn from(e: ServeError) -> ApiError {
        match e {
            ServeError::UnknownModel(m) => ApiError::not_found(m),
            ServeError::Invalid(m) => ApiError::bad_request(m),
            ServeError::NoChampion(m) => ApiError {
                rule: Some("serving.no_champion".into()),
                ..ApiError::new(StatusCode::CONFLICT, "rejected", m)
            },
            ServeError::Unavailable(m) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m),
        }
    }
}

/// `{"rows": [{column: value, ...}, ...]}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRows {
    rows: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// The rows of a request to score: a JSON body (`application/json`) or a CSV one (`text/csv`,
/// a header row then one record per row).
pub(super) struct Rows(polars::prelude::DataFrame);

impl<S: Send + Sync> FromRequest<S> for Rows {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let kind = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|t| t.trim().to_ascii_lowercase())
            .unwrap_or_default();
        if kind != "application/json" && kind != "text/csv" {
            return Err(ApiError::bad_request(
                "body: expected `Content-Type: application/json` ({\"rows\": [...]}) or `text/csv`",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", format!("body: {}", e.body_text()))
            } else {
                ApiError::bad_request(format!("body: {}", e.body_text()))
            }
        })?;
        let frame = if kind == "text/csv" {
            trainer::data::frame_from_bytes(bytes.to_vec(), false)
        } else {
            ledger::canonical::check_unambiguous(&bytes)
                .map_err(|e| ApiError::bad_request(format!("body: {e}")))?;
            let rows: JsonRows =
                serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("body: {e}")))?;
            trainer::data::frame_from_rows(&rows.rows)
        };
        frame.map(Rows).map_err(|e| ApiError::bad_request(format!("rows: {e}")))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PredictParams {
    /// The column holding each row's key.
    key_column: Option<String>,
}

/// `POST /api/v1/models/{model}/predict`: scores rows with the champions, each row by its
/// segment's route, with the table in force when the request arrived.
pub(super) async fn predict(
    State(s): State<AppState>,
    P(model): P<String>,
    Q(q): Q<PredictParams>,
    Rows(frame): Rows,
) -> Result<Json<PredictAnswer>, ApiError> {
    let table = s.0.serving.current();
    let input = PredictInput { frame, key_column: q.key_column };
    let answer = if input.frame.height() <= INLINE_ROWS {
        serving::predict(&table, &model, &input)
    } else {
        tokio::task::spawn_blocking(move || serving::predict(&table, &model, &input))
            .await
            .map_err(ApiError::internal)?
    };
    Ok(Json(answer?))
}

/// `GET /api/v1/models/{model}`: what the model serves now.
pub(super) async fn served_model(
    State(s): State<AppState>,
    P(model): P<String>,
) -> Result<Json<ServedModelAnswer>, ApiError> {
    Ok(Json(serving::describe(&s.0.serving.current(), &model)?))
}

/// `GET /api/v1/ready`: 200 when the server can answer, 503 (with the same body) while its
/// storage needs reopening after a failure or it is shutting down.
pub(super) async fn ready(State(s): State<AppState>) -> (StatusCode, Json<ReadyAnswer>) {
    let table = s.0.serving.current();
    let reason = if *s.0.stopping.borrow() {
        Some("the server is shutting down".to_string())
    } else if s.0.store.needs_recovery() {
        Some("the ledger's storage failed and is being reopened".to_string())
    } else {
        None
    };
    let answer = ReadyAnswer {
        ready: reason.is_none(),
        events: s.committed(),
        models_served: table.models.values().filter(|m| !m.routes.is_empty()).count(),
        serving_problems: table.models.values().map(|m| m.problems.len()).sum(),
        reason,
    };
    let status = if answer.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(answer))
}
