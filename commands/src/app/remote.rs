//! A small blocking client of `pledge serve`, for remote mode (`--server URL`), the bench and
//! the tests: typed questions and signed commands out, typed answers in, refusals turned into
//! [`Failure`]s with the server's message and rule.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use super::failure::{Failure, BUSY, INTEGRITY, INTERNAL, INVALID_INPUT, REJECTED, STORAGE};
use super::query::Query;

/// A connection pool to one server.
#[derive(Debug)]
pub struct Client {
    base: String,
    token: Option<String>,
    runtime: tokio::runtime::Runtime,
    http: hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>,
}

impl Client {
    /// A client of the server at `url` (`http://host:port`), sending `token` on reads if given.
    pub fn new(url: &str, token: Option<String>) -> Result<Client, Failure> {
        let base = url.trim_end_matches('/').to_string();
        if !base.starts_with("http://") || base.parse::<hyper::Uri>().is_err() {
            return Err(Failure::new(INVALID_INPUT, format!("`{url}` is not a server address"))
                .hint("write it like http://127.0.0.1:7400 (the address `pledge serve` prints)"));
        }
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Failure::internal)?;
        let http = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(connector());
        Ok(Client { base, token, runtime, http })
    }

    /// The server's address.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends a request and returns the status and the JSON body.
    pub fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), Failure> {
        let uri = format!("{}{path}", self.base);
        let mut req = Request::builder().method(method).uri(&uri);
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let bytes = match body {
            Some(b) => {
                req = req.header("content-type", "application/json");
                Bytes::from(serde_json::to_vec(b).map_err(Failure::internal)?)
            }
            None => Bytes::new(),
        };
        let req =
            req.body(Full::new(bytes)).map_err(|e| Failure::new(INVALID_INPUT, format!("`{uri}`: {e}")))?;
        self.runtime.block_on(async {
            let resp = self.http.request(req).await.map_err(|e| {
                Failure::new(INTERNAL, format!("cannot reach the server at `{}`: {e}", self.base))
                    .hint("is `pledge serve` running there? (check --server / PLEDGE_SERVER)")
            })?;
            let status = resp.status();
            let body = resp.into_body().collect().await.map_err(Failure::internal)?.to_bytes();
            let v: Value = serde_json::from_slice(&body).map_err(|e| {
                Failure::new(
                    INTERNAL,
                    format!("the server at `{}` answered {status} without JSON: {e}", self.base),
                )
            })?;
            Ok((status, v))
        })
    }

    /// `GET path`: the document, or the server's refusal as a [`Failure`].
    pub fn get(&self, path: &str) -> Result<Value, Failure> {
        let (status, v) = self.send(Method::GET, path, None)?;
        if status.is_success() {
            Ok(v)
        } else {
            Err(failure_of(status, &v))
        }
    }

    /// Asks `q` of the server: its typed answer, or the server's refusal.
    pub fn ask<Q: Query>(&self, q: &Q) -> Result<Q::Answer, Failure> {
        let doc = self.get(&q.path())?;
        serde_json::from_value(doc).map_err(|e| {
            Failure::new(
                INTERNAL,
                format!("the server at `{}` answered `{}` with another document: {e}", self.base, q.path()),
            )
        })
    }

    /// `POST path` with a JSON body: the document, or the server's refusal as a [`Failure`].
    pub fn post(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        let (status, v) = self.send(Method::POST, path, Some(body))?;
        if status.is_success() {
            Ok(v)
        } else {
            Err(failure_of(status, &v))
        }
    }
}

/// The exit code, message and rule for an API error response, as the local CLI would give them.
pub fn failure_of(status: StatusCode, body: &Value) -> Failure {
    let e = &body["error"];
    let message = e["message"].as_str().unwrap_or("the server refused the request").to_string();
    let code = match (status.as_u16(), e["code"].as_str()) {
        (_, Some("integrity")) => INTEGRITY,
        (_, Some("busy")) => BUSY,
        (_, Some("storage_full" | "outcome_unknown" | "read_only" | "unavailable")) => STORAGE,
        (403 | 409, _) => REJECTED,
        (400 | 401 | 404 | 408 | 413 | 422, _) => INVALID_INPUT,
        _ => INTERNAL,
    };
    let mut f = Failure::new(code, message);
    f.rule = e["rule"].as_str().map(str::to_string);
    f.missing = status == StatusCode::NOT_FOUND;
    if status == StatusCode::UNAUTHORIZED {
        return f.hint("pass the server's read token with --read-token or PLEDGE_READ_TOKEN");
    }
    f
}

/// The connector every client uses: no Nagle delay (requests are small and latency-bound).
pub fn connector() -> HttpConnector {
    let mut c = HttpConnector::new();
    c.set_nodelay(true);
    c
}
