//! The serving routes: scoring rows with the champions, what each model serves, readiness.
//! The table and the scoring are `app::serving`'s; this module reads requests and maps
//! refusals to statuses.

use axum::extract::{FromRequest, Request, State};
use axum::http::{header, StatusCode};
use axum::Json;
use serde::Deserialize;

use super::routes::{J, P, Q};
use super::{ApiError, AppState};
use crate::app::serving::{
    self, ActualIn, ActualsAnswer, PredictAnswer, PredictInput, ReadyAnswer, ServeError, ServedModelAnswer,
};
use crate::app::shadow::ShadowEvaluation;

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
            ServeError::Unavailable(m) => ApiError {
                rule: Some("serving.unavailable".into()),
                ..ApiError::new(StatusCode::CONFLICT, "rejected", m)
            },
        }
    }
}

/// `{"rows": [{column: value, ...}, ...]}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRows {
    rows: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// The body of a request to score, read but not yet parsed: a JSON body (`application/json`)
/// or a CSV one (`text/csv`, a header row then one record per row). It is parsed once the
/// model is known to be served, so an unknown model is a 404 whatever the rows.
pub(super) struct Rows {
    csv: bool,
    bytes: axum::body::Bytes,
}

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
        Ok(Rows { csv: kind == "text/csv", bytes })
    }
}

impl Rows {
    fn frame(self) -> Result<polars::prelude::DataFrame, ApiError> {
        let frame = if self.csv {
            trainer::data::frame_from_bytes(self.bytes.to_vec(), false)
        } else {
            ledger::canonical::check_unambiguous(&self.bytes)
                .map_err(|e| ApiError::bad_request(format!("body: {e}")))?;
            let rows: JsonRows = serde_json::from_slice(&self.bytes)
                .map_err(|e| ApiError::bad_request(format!("body: {e}")))?;
            trainer::data::frame_from_rows(&rows.rows)
        };
        frame.map_err(|e| ApiError::bad_request(format!("rows: {e}")))
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
    rows: Rows,
) -> Result<Json<PredictAnswer>, ApiError> {
    let table = s.0.serving.current();
    serving::check_served(&table, &model)?;
    let frame = rows.frame()?;
    let input = PredictInput { frame, key_column: q.key_column };
    let rows = input.frame.height();
    let state = s.clone();
    let score = move || {
        let (answer, logged) = serving::predict(&table, &model, &input)?;
        state.0.metrics.predicted(&logged);
        if let Err(e) = state.0.predictions.append(logged) {
            tracing::warn!(error = %e, "predictions answered but not logged");
        }
        Ok::<_, ServeError>(answer)
    };
    let answer = if rows <= INLINE_ROWS {
        score()
    } else {
        tokio::task::spawn_blocking(score).await.map_err(ApiError::internal)?
    };
    Ok(Json(answer?))
}

/// `{"actuals": [{"prediction_id" | "key", "actual"}, ...]}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ActualsBody {
    actuals: Vec<ActualIn>,
}

/// `POST /api/v1/models/{model}/actuals`: records observed outcomes against logged
/// predictions, all or none.
pub(super) async fn record_actuals(
    State(s): State<AppState>,
    P(model): P<String>,
    J(body): J<ActualsBody>,
) -> Result<Json<ActualsAnswer>, ApiError> {
    let actuals = serving::actuals(&s.0.serving.current(), &model, body.actuals)?;
    let log = s.0.predictions.clone();
    let recorded = tokio::task::spawn_blocking(move || log.record_actuals(actuals))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::bad_request)?;
    Ok(Json(ActualsAnswer { model, recorded }))
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ShadowParams {
    /// Window start (default: yesterday, midnight UTC).
    since: Option<String>,
    /// Window end, excluded (default: today, midnight UTC).
    until: Option<String>,
}

/// `GET /api/v1/models/{model}/shadow`: the shadow windows of `[since, until)`, computed from
/// the prediction log and its outcomes (recorded by nobody: `pledge shadow evaluate` signs
/// them, or the server's service identity on its schedule).
pub(super) async fn shadow_windows(
    State(s): State<AppState>,
    P(model): P<String>,
    Q(q): Q<ShadowParams>,
) -> Result<Json<ShadowEvaluation>, ApiError> {
    let (since, until) =
        crate::app::shadow::window(q.since.as_deref(), q.until.as_deref(), s.0.predictions.now())?;
    let state = {
        let model_state = s.read();
        crate::app::shadow::for_model(&model_state.domain.state, &model)
    };
    let (log, dir) = (s.0.predictions.clone(), s.0.store.dir().to_path_buf());
    let evaluation = tokio::task::spawn_blocking(move || {
        crate::app::shadow::evaluate(&log, &state, &dir, &model, since, until)
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(Json(evaluation))
}
