//! The review desk: HTML pages served by `pledge serve` at `/`, for the people who decide
//! promotions (ADR 0012). Every page renders typed answers of [`crate::app::query`] (the same
//! as the JSON API's) on the server with maud; charts are inline SVG drawn here ([`svg`]). One
//! small script (`desk.js`, embedded) keeps the alert badge live from the event stream and
//! signs commands with the person's own key through WebCrypto: the page builds the command and
//! its DSSE envelope exactly as the CLI does and posts it to `/api/v1/commands`, so the server
//! applies the same checks as to any envelope, and the private key never leaves the browser.
//!
//! Nothing here needs the network beyond this server: the script, the style sheet and the
//! charts are in the binary.

mod pages;
pub mod svg;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup, DOCTYPE};
use projections::events::EventKind;
use projections::state::AlertStatus;

use super::{ApiError, AppState};
use crate::app::query::{QueryError, View};

/// The script: live badge, key loading, signing.
pub const SCRIPT: &str = include_str!("desk.js");
/// The style sheet.
pub const STYLE: &str = include_str!("desk.css");

/// The desk's routes (pages and their two assets); not part of the OpenAPI document.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::overview))
        .route("/alerts", get(pages::alerts))
        .route("/alerts/{id}", get(pages::alert))
        .route("/models", get(pages::models))
        .route("/models/{model}", get(pages::model))
        .route("/models/{model}/versions/{version}", get(pages::review))
        .route("/models/{model}/timeline", get(pages::timeline))
        .route("/models/{model}/runs", get(pages::runs))
        .route("/experiments", get(pages::experiments))
        .route("/experiments/{id}", get(pages::experiment))
        .route("/audit", get(pages::audit))
        .route("/desk/desk.js", get(script))
        .route("/desk/desk.css", get(style))
        .route(SIGN_IN, get(sign_in_page).post(sign_in))
}

/// The sign-in page of a server with a read token.
pub const SIGN_IN: &str = "/desk/sign-in";
const COOKIE: &str = "pledge_read_token";

/// Whether `path` is served without the read token: the sign-in page and the script and style
/// sheet it loads (static files that say nothing about the ledger).
pub fn is_public(path: &str) -> bool {
    [SIGN_IN, "/desk/desk.js", "/desk/desk.css"].contains(&path)
}

/// Whether `path` is one of the desk's pages (a `GET` of one without the read token is
/// answered with a redirect to the sign-in page, not a JSON 401).
pub fn is_page(path: &str) -> bool {
    !path.starts_with("/api/") && path != "/metrics"
}

/// The read token a browser sends in the desk's cookie.
pub fn cookie_token(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('=').map(pages::percent_decode))
}

/// A redirect to the sign-in page.
pub fn to_sign_in() -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, HeaderValue::from_static(SIGN_IN))]).into_response()
}

fn sign_in_form(error: Option<&str>) -> Markup {
    html! {
        h1 { "Sign in" }
        p { "This server needs its read token. It is kept in a cookie for this site only (HttpOnly, SameSite=Strict)." }
        form method="post" action=(SIGN_IN) {
            label { "Read token " input type="password" name="token" required autocomplete="current-password"; }
            " " button type="submit" { "Sign in" }
        }
        @if let Some(e) = error { p.error role="alert" { (e) } }
    }
}

async fn sign_in_page() -> Response {
    Page(StatusCode::OK, layout("Sign in", "", None, sign_in_form(None))).into_response()
}

/// Checks the token a person typed and keeps it in the cookie.
async fn sign_in(State(s): State<AppState>, body: String) -> Response {
    let token = body
        .split('&')
        .find_map(|kv| kv.strip_prefix("token="))
        .map(pages::percent_decode)
        .unwrap_or_default();
    let Some(expected) = s.0.options.read_token.as_deref() else {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, HeaderValue::from_static("/"))]).into_response();
    };
    if super::routes::constant_time_eq(expected, &token) {
        let cookie =
            format!("{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict", crate::app::query::enc(&token));
        let mut r =
            (StatusCode::SEE_OTHER, [(header::LOCATION, HeaderValue::from_static("/"))]).into_response();
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            r.headers_mut().insert(header::SET_COOKIE, v);
        }
        return r;
    }
    Page(
        StatusCode::UNAUTHORIZED,
        layout("Sign in", "", None, sign_in_form(Some("That is not this server's read token."))),
    )
    .into_response()
}

async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}

fn asset(body: &'static str, kind: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

/// What every page's header shows: the ledger, its head and the open alerts.
pub(crate) struct Frame {
    ledger_id: String,
    head: Option<u64>,
    unread: [usize; 3],
}

impl Frame {
    fn of(view: &View<'_>) -> Frame {
        let mut unread = [0; 3];
        for a in view.state.alerts.values().filter(|a| a.status == AlertStatus::Unread) {
            unread[a.severity as usize] += 1;
        }
        Frame {
            ledger_id: view.trust.ledger_id().map(|u| u.to_string()).unwrap_or_default(),
            head: view.store.head().map(|h| h.seq),
            unread,
        }
    }
}

/// A rendered page, or an error page.
pub(crate) struct Page(StatusCode, Markup);

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        (
            self.0,
            [
                (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                // Nothing but this server: no inline script, no foreign origin.
                (
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(
                        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
                    ),
                ),
            ],
            self.1.into_string(),
        )
            .into_response()
    }
}

/// An error a page shows in place of its content.
pub(crate) struct PageError(StatusCode, String);

impl From<QueryError> for PageError {
    fn from(e: QueryError) -> PageError {
        let api = ApiError::from(e);
        PageError(api.status, api.message)
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> PageError {
        PageError(e.status, e.message)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let body = html! {
            h1 { "Not available" }
            p.error role="alert" { (self.1) }
            p { a href="/" { "Back to the overview" } }
        };
        Page(self.0, layout("Not available", "", None, body)).into_response()
    }
}

const NAV: [(&str, &str); 5] = [
    ("/", "Overview"),
    ("/alerts", "Alerts"),
    ("/models", "Models"),
    ("/experiments", "Experiments"),
    ("/audit", "Audit"),
];

/// The page around `body`: the header with navigation, the alert badge and the key panel.
pub(crate) fn layout(title: &str, section: &str, frame: Option<&Frame>, body: Markup) -> Markup {
    let kinds: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Pledge" }
                link rel="icon" href="data:,";
                link rel="stylesheet" href="/desk/desk.css";
                script src="/desk/desk.js" defer {}
            }
            body data-ledger=[frame.map(|f| &f.ledger_id)] data-head=[frame.and_then(|f| f.head)]
                data-kinds=(kinds.join(" ")) {
                a.skip href="#main" { "Skip to content" }
                header {
                    nav aria-label="Sections" {
                        span.brand { "Pledge" }
                        @for (href, name) in NAV {
                            a href=(href) aria-current=[(section == href).then_some("page")] { (name) }
                        }
                    }
                    @if let Some(f) = frame {
                        a #badge href="/alerts?status=unread" aria-live="polite"
                            data-critical=(f.unread[0]) data-warning=(f.unread[1]) data-info=(f.unread[2]) {
                            (badge_text(f.unread))
                        }
                    }
                    details #key-panel {
                        summary #key-status { "No key loaded" }
                        div.key-form {
                            p { "Load the private key " code { "pledge keys export NAME --out FILE" } " wrote (PKCS#8, PEM or DER). It is read by this page and never sent." }
                            label { "Key file " input #key-file type="file" accept=".pem,.der,.key,.p8"; }
                            label { input #key-remember type="checkbox"; " Keep it in this browser (stored as a non-extractable key)" }
                            button #key-forget type="button" { "Forget the key" }
                            p #key-error.error role="alert" {}
                        }
                    }
                }
                main #main {
                    (body)
                }
                footer {
                    @if let Some(f) = frame {
                        "Ledger " code { (f.ledger_id) } " · head "
                        @match f.head { Some(h) => { "#" (h) }, None => { "empty" } }
                        " · " a href="/api/v1/openapi.json" { "API" }
                    }
                }
            }
        }
    }
}

/// The badge: unread alerts by severity (the script writes the same text when it refreshes).
fn badge_text(unread: [usize; 3]) -> String {
    let parts: Vec<String> = ["Critical", "Warning", "Info"]
        .iter()
        .zip(unread)
        .filter(|(_, n)| *n > 0)
        .map(|(name, n)| format!("{n} {name}"))
        .collect();
    if parts.is_empty() {
        "No unread ML alerts".into()
    } else {
        format!("Unread ML alerts: {}", parts.join(", "))
    }
}

/// Reads the view under the read model's lock and renders with it.
pub(crate) fn with_view<T>(
    s: &AppState,
    f: impl FnOnce(&View<'_>, &Frame) -> Result<T, PageError>,
) -> Result<T, PageError> {
    s.with_view(|view| f(view, &Frame::of(view)))
}
