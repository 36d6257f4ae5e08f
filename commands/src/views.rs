//! The read side shared by the command line and the HTTP API: each function answers one
//! question from the projections and returns the JSON document that both `pledge ... --json`
//! prints and `GET /api/v1/...` returns. Neither front end holds a query of its own; the CLI
//! renders these documents for people, the API serves them as they are.

use ledger::{RecordedEvent, Store, StoreError, TrustState};
use projections::events::VersionStatus;
use projections::query::{self, EventFilter};
use projections::replay::{self, AsOf};
use projections::State;
use serde_json::{json, Value};

use crate::exit::{Failure, INVALID_INPUT};

/// Why a question has no answer.
#[derive(Debug)]
#[non_exhaustive]
pub enum ViewError {
    /// The thing asked about does not exist (HTTP 404; CLI exit 2). Carries a hint.
    NotFound(String, Option<String>),
    /// A parameter is malformed (HTTP 400; CLI exit 2).
    BadParam(String),
    /// The store failed or is damaged (HTTP 500; CLI exit 3 or 4).
    Store(StoreError),
}

impl From<StoreError> for ViewError {
    fn from(e: StoreError) -> Self {
        ViewError::Store(e)
    }
}

impl From<ViewError> for Failure {
    fn from(e: ViewError) -> Failure {
        match e {
            ViewError::NotFound(m, hint) => {
                let f = Failure::new(INVALID_INPUT, m);
                match hint {
                    Some(h) => f.hint(h),
                    None => f,
                }
            }
            ViewError::BadParam(m) => Failure::new(INVALID_INPUT, m),
            ViewError::Store(e) => e.into(),
        }
    }
}

/// The result of a question.
pub type Answer = Result<Value, ViewError>;

fn not_found(what: String) -> ViewError {
    ViewError::NotFound(what, None)
}

/// A consistent view of a ledger: its store, and the trust and domain state folded from it.
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    /// The events.
    pub store: &'a Store,
    /// Keys, roles, policy.
    pub trust: &'a TrustState,
    /// The read models.
    pub state: &'a State,
    /// The policy in force, parsed (`None` where a read does not need it).
    pub policy: Option<&'a crate::domain::Policy>,
}

/// Appended or listed events as JSON: seq, hash, kind, recorded_at, subject, payload.
pub fn events_json(events: &[RecordedEvent]) -> Vec<Value> {
    events
        .iter()
        .map(|e| {
            json!({"seq": e.seq(), "hash": e.hash, "kind": e.event.kind, "recorded_at": e.event.recorded_at,
                   "subject": e.event.subject, "payload": e.event.payload})
        })
        .collect()
}

/// Parses a time parameter (RFC 3339).
pub fn parse_time(name: &str, s: &str) -> Result<ledger::canonical::Timestamp, ViewError> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| ledger::canonical::Timestamp::from_datetime(t.with_timezone(&chrono::Utc)))
        .map_err(|e| {
            ViewError::BadParam(format!(
                "`{name}` = `{s}` is not an RFC 3339 time (like 2026-03-01T00:00:00Z): {e}"
            ))
        })
}

impl View<'_> {
    fn model(&self, name: &str) -> Result<&projections::state::ModelState, ViewError> {
        self.state.model(name).ok_or_else(|| not_found(format!("no model `{name}` in this ledger")))
    }

    /// Champions per model and segment, with challengers and each model's routing table
    /// (segment → serving version; `*` is the global champion other segments fall back to).
    pub fn champions(&self, model: Option<&str>) -> Answer {
        if let Some(m) = model {
            self.model(m)?;
        }
        let mut rows = vec![];
        let mut routing = serde_json::Map::new();
        for (name, m) in &self.state.models {
            if model.is_some_and(|x| x != name) {
                continue;
            }
            let mut table = serde_json::Map::new();
            for (seg, v) in &m.champions {
                let info = &m.versions[v];
                let challengers: Vec<u64> = m
                    .versions
                    .values()
                    .filter(|x| x.segment == info.segment && x.status == VersionStatus::Challenger)
                    .map(|x| x.version)
                    .collect();
                rows.push(
                    json!({"model": name, "segment": if seg.is_empty() { Value::Null } else { json!(seg) },
                                 "version": v, "metrics": info.metrics, "challengers": challengers}),
                );
                table.insert(if seg.is_empty() { "*".into() } else { seg.clone() }, json!(v));
            }
            routing.insert(name.clone(), Value::Object(table));
        }
        Ok(json!({"champions": rows, "routing": routing}))
    }

    /// Every version of a model (newest last), without its backtest windows.
    pub fn versions(&self, model: &str) -> Answer {
        let m = self.model(model)?;
        let list: Vec<Value> = m
            .versions
            .values()
            .map(|v| {
                json!({"version": v.version, "segment": v.segment, "run_id": v.run_id, "trigger": v.trigger,
                       "artifact_digest": v.artifact_digest, "status": v.status, "metrics": v.metrics,
                       "registered_seq": v.registered_seq, "served": v.served, "backtest_windows": v.backtests.len()})
            })
            .collect();
        Ok(json!({"model": model, "versions": list, "champion_history": m.champion_history}))
    }

    /// The backtest windows of one version, in recording order (a time series for charts).
    pub fn backtests(&self, model: &str, version: u64) -> Answer {
        let m = self.model(model)?;
        let v = m
            .versions
            .get(&version)
            .ok_or_else(|| not_found(format!("model `{model}` has no version v{version}")))?;
        Ok(json!({"model": model, "version": version, "segment": v.segment, "windows": v.backtests}))
    }

    /// Alerts, newest first, optionally only one status and/or severity.
    pub fn alerts(&self, status: Option<&str>, severity: Option<&str>) -> Answer {
        let status: Option<projections::AlertStatus> =
            status.map(str::parse).transpose().map_err(ViewError::BadParam)?;
        let severity: Option<projections::state::Severity> =
            severity.map(str::parse).transpose().map_err(ViewError::BadParam)?;
        let mut list: Vec<_> = self
            .state
            .alerts
            .values()
            .filter(|a| status.is_none_or(|s| a.status == s))
            .filter(|a| severity.is_none_or(|s| a.severity == s))
            .collect();
        list.sort_by_key(|a| std::cmp::Reverse(a.raised_seq));
        Ok(json!({"alerts": list}))
    }

    /// One alert with its history.
    pub fn alert(&self, id: &str) -> Answer {
        let a = self.state.alerts.get(id).ok_or_else(|| {
            ViewError::NotFound(
                format!("no alert `{id}`"),
                Some("list them with `pledge alerts list`".into()),
            )
        })?;
        Ok(json!(a))
    }

    /// Open alerts by severity, all alerts by status.
    pub fn alert_stats(&self) -> Answer {
        Ok(json!(self.state.alert_counts()))
    }

    /// Hypotheses and their experiments.
    pub fn experiments(&self) -> Answer {
        let xs: Vec<_> = self.state.experiments.values().collect();
        Ok(json!({"experiments": xs}))
    }

    fn find_experiment(&self, id: &str) -> Result<&projections::state::Experiment, ViewError> {
        self.state.experiments.get(id).ok_or_else(|| {
            ViewError::NotFound(
                format!("no hypothesis `{id}`"),
                Some("list them with `pledge hypothesis list`".into()),
            )
        })
    }

    /// One hypothesis and its experiment.
    pub fn experiment(&self, id: &str) -> Answer {
        Ok(json!(self.find_experiment(id)?))
    }

    /// An experiment's results: its versions with their metrics, shadow windows and decision.
    pub fn experiment_results(&self, id: &str) -> Answer {
        let x = self.find_experiment(id)?;
        let versions: Vec<Value> = x
            .versions
            .iter()
            .filter_map(|v| self.state.model(&x.model)?.versions.get(v))
            .map(|v| json!({"version": v.version, "segment": v.segment, "status": v.status, "metrics": v.metrics, "backtests": v.backtests}))
            .collect();
        Ok(
            json!({"hypothesis_id": id, "model": x.model, "status": x.status, "target_metric": x.hypothesis.target_metric,
                  "expected_improvement_pct": x.hypothesis.expected_improvement_pct, "planned_windows": x.planned_windows,
                  "shadow_windows": x.shadow_windows, "versions": versions, "completion": x.completion}),
        )
    }

    /// Arena proposals.
    pub fn proposals(&self) -> Answer {
        let proposals: Vec<_> = self.state.proposals.values().collect();
        Ok(json!({"proposals": proposals}))
    }

    /// The causal chain behind a champion, at the head or as of a sequence number or time.
    pub fn timeline(&self, model: &str, segment: Option<&str>, as_of: Option<&str>) -> Answer {
        let at = match as_of {
            Some(s) => AsOf::parse(s).map_err(ViewError::BadParam)?,
            None => AsOf::Head,
        };
        let past;
        let state = if at == AsOf::Head {
            self.state
        } else {
            past = replay::replay(self.store, at)?;
            &past
        };
        if state.model(model).is_none() {
            return Err(not_found(format!(
                "no model `{model}` in this ledger{}",
                if at == AsOf::Head { "" } else { " at that point" }
            )));
        }
        let entries = query::timeline(self.store, self.trust, state, model, segment)?;
        Ok(json!({"model": model, "segment": segment, "as_of": as_of, "entries": entries}))
    }

    /// Where a version came from (`up`) and what happened to it (`down`); both by default.
    pub fn lineage(&self, model: &str, version: u64, up: bool, down: bool) -> Answer {
        let lin = query::lineage(self.store, self.trust, self.state, model, version)?
            .ok_or_else(|| not_found(format!("model `{model}` has no version v{version}")))?;
        let (show_up, show_down) = (!down || up, !up || down);
        let mut v = json!({"model": lin.model, "version": lin.version});
        if show_up {
            v["upstream"] = json!(lin.upstream);
        }
        if show_down {
            v["downstream"] = json!(lin.downstream);
        }
        Ok(v)
    }

    /// A page of events in ledger order after `after`, with `next_after` to continue from.
    pub fn events(&self, filter: &EventFilter, after: Option<u64>, limit: usize) -> Answer {
        let (events, next) = filter.page(self.store, self.trust, after, limit)?;
        Ok(json!({"events": events_json(&events), "next_after": next}))
    }

    /// The last `limit` matching events, in ledger order.
    pub fn last_events(&self, filter: &EventFilter, limit: usize) -> Answer {
        let events = filter.last(self.store, self.trust, limit)?;
        Ok(json!({"events": events_json(&events)}))
    }

    /// One event by sequence number or hash (see [`event`]).
    pub fn event(&self, id: &str) -> Answer {
        event(self.store, id)
    }

    /// The daily health check: champions with their backtest trend, open alerts by severity,
    /// pending arena proposals, champions without backtests.
    pub fn health(&self) -> Answer {
        let state = self.state;
        let health = self.policy.map(|p| crate::domain::judge::health(state, p)).unwrap_or_default();
        let pending: Vec<&str> = state
            .proposals
            .values()
            .filter(|p| p.status == projections::state::ProposalStatus::Pending)
            .map(|p| p.proposed.proposal_id.as_str())
            .collect();
        let stale: Vec<String> = health
            .iter()
            .filter(|h| h.windows == 0)
            .map(|h| format!("{}/{} v{}", h.model, h.segment.as_deref().unwrap_or("(global)"), h.champion))
            .collect();
        Ok(json!({"health": health, "alerts": state.alert_counts(), "pending_proposals": pending,
                  "champions_without_backtests": stale}))
    }

    /// The production gates of a model's release: green only when every gate passes.
    pub fn release(&self, model: &str) -> Answer {
        self.model(model)?;
        let gates = crate::domain::judge::release_gates(self.state, model);
        let green = gates.iter().all(|g| g.passed);
        Ok(json!({"model": model, "green": green, "gates": gates}))
    }

    /// The policy in force.
    pub fn policy(&self) -> Answer {
        Ok(json!({"version": self.trust.policy_version(), "policy": self.trust.policy()}))
    }

    /// Principals, their roles and keys.
    pub fn keys(&self) -> Answer {
        let t = self.trust;
        let enrolled: Vec<Value> = t
            .keys()
            .map(|k| {
                json!({"principal": k.principal, "key_id": k.key_id, "enrolled_seq": k.enrolled_seq, "revoked_seq": k.revoked_seq,
                       "roles": t.roles_of(&k.principal).iter().map(|r| r.as_str()).collect::<Vec<_>>()})
            })
            .collect();
        Ok(json!({"enrolled": enrolled}))
    }
}

/// One event by sequence number or hash: its canonical bytes, the decoded event and a summary.
/// Reads the store alone, so that it answers on a damaged ledger too (`pledge show`, which an
/// auditor uses to look at the damage).
pub fn event(store: &Store, id: &str) -> Answer {
    let ev = match id.parse::<u64>() {
        Ok(seq) => store.get(seq)?,
        Err(_) => {
            let h = id.parse::<ledger::Digest>().map_err(|e| {
                ViewError::BadParam(format!("`{id}` is neither a sequence number nor an event hash: {e}"))
            })?;
            store.get_by_hash(&h)?
        }
    };
    let ev = ev.ok_or_else(|| not_found(format!("no event `{id}`")))?;
    let v: Value = serde_json::from_slice(&ev.bytes)
        .map_err(|e| ViewError::Store(StoreError::Corrupt { seq: ev.seq(), reason: e.to_string() }))?;
    Ok(json!({"seq": ev.seq(), "hash": ev.hash, "summary": query::summarize(&ev), "event": v,
              "canonical": String::from_utf8_lossy(&ev.bytes)}))
}
