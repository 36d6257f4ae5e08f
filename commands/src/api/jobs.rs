//! `pledge serve --jobs FILE --service-key NAME`: the server runs the declared jobs when they
//! are due, signing their commands with its service identity and appending them through its
//! own writer, exactly as any client's. Without a service key the server appends nothing of
//! its own.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ledger::{RecordedEvent, SignedCommand, TrustState};
use serde_json::Value;

use super::AppState;
use crate::app::backend::{Port, Signer};
use crate::app::failure::{Failure, INVALID_INPUT};
use crate::app::jobs::{self, JobsFile};
use crate::domain::PledgeDomain;

/// What the server runs on its own: the jobs and the identity that signs them.
#[derive(Debug, Clone)]
pub struct Jobs {
    /// The jobs file, read and checked at start.
    pub file: Arc<JobsFile>,
    /// The service identity (a key enrolled for a principal allowed the jobs' commands).
    pub signer: Arc<Signer>,
}

/// The server as a [`Port`]: reads from its read model, appends through its writer.
pub(super) struct ServerPort {
    state: AppState,
    runtime: tokio::runtime::Handle,
}

impl Port for ServerPort {
    fn dir(&self) -> Result<&Path, Failure> {
        Ok(self.state.0.store.dir())
    }

    fn snapshot(&self) -> Result<(Arc<TrustState>, PledgeDomain), Failure> {
        let model = self.state.read();
        Ok((Arc::clone(&model.trust), model.domain.clone()))
    }

    fn append(
        &self,
        signer: &Signer,
        commands: Vec<(Option<uuid::Uuid>, String, Value)>,
    ) -> Result<Vec<RecordedEvent>, Failure> {
        let ledger =
            self.state.ledger_id().ok_or_else(|| Failure::new(INVALID_INPUT, "the ledger has no genesis"))?;
        let mut events = vec![];
        for (id, kind, body) in commands {
            let issued_at = match &self.state.0.options.reproducible {
                Some(r) => r.peek(),
                None => ledger::canonical::Timestamp::from_datetime(chrono::Utc::now()),
            };
            let mut cmd = ledger::Command::new(ledger, issued_at, &kind, body);
            if let Some(id) = id {
                cmd.id = id;
            }
            let env = cmd.sign(&signer.key).map_err(Failure::internal)?;
            let mut parsed = SignedCommand::parse(env).map_err(|m| Failure::new(INVALID_INPUT, m))?;
            parsed.check_signature(&signer.key.public());
            let receipt =
                self.runtime.block_on(self.state.0.writer.submit(parsed)).map_err(|e| match e.rule {
                    Some(rule) => Failure::rejected(&rule, e.message),
                    None => Failure::new(INVALID_INPUT, e.message),
                })?;
            events.extend(receipt.events);
        }
        Ok(events)
    }

    fn has_command(&self, id: &uuid::Uuid) -> Result<bool, Failure> {
        Ok(self.state.0.store.command(id)?.is_some())
    }

    fn predictions(&self) -> Result<Arc<crate::app::predlog::PredictionLog>, Failure> {
        Ok(Arc::clone(&self.state.0.predictions))
    }
}

/// Runs the jobs due now, then sleeps until the next instant of any job, until the server
/// stops. Each pass runs on a blocking thread (training is CPU work).
pub(super) async fn run(state: AppState) {
    let Some(jobs) = state.0.options.jobs.clone() else { return };
    let mut stopping = state.0.stopping.subscribe();
    loop {
        let s = state.clone();
        let j = jobs.clone();
        let runtime = tokio::runtime::Handle::current();
        let pass = tokio::task::spawn_blocking(move || {
            let port = ServerPort { state: s, runtime };
            jobs::run_due(&j.file, &[], chrono::Utc::now(), &port, &j.signer)
        })
        .await;
        match pass {
            Ok(Ok(runs)) => {
                for r in runs.iter().filter(|r| r.status != jobs::JobStatus::AlreadyRan) {
                    tracing::info!(job = r.job.as_str(), status = ?r.status, message = r.message.as_str(), "scheduled job");
                }
            }
            Ok(Err(f)) => tracing::error!(error = %f.message, "scheduled jobs could not run"),
            Err(e) => tracing::error!(error = %e, "the scheduled jobs' task failed"),
        }
        let now = chrono::Utc::now();
        let next = jobs.file.jobs.iter().map(|j| j.last_instant(now) + j.period()).min();
        let wait = next
            .and_then(|t| (t - now).to_std().ok())
            .unwrap_or(Duration::from_secs(60))
            .max(Duration::from_secs(1));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stopping.changed() => return,
        }
    }
}

/// Checks at start that the service key is enrolled, and allowed every command the jobs need.
pub(super) fn check(state: &AppState, jobs: &Jobs, name: &str) -> Result<(), Failure> {
    let trust = state.trust();
    let key_id = jobs.signer.key.public().key_id();
    if trust.key(&key_id).is_none() {
        return Err(jobs.signer.not_enrolled().hint(format!(
            "enroll it for a principal with the `service` role: `pledge keys enroll {name} --role service --as ADMIN`"
        )));
    }
    for job in &jobs.file.jobs {
        let kind = match job.kind {
            jobs::JobKind::Retrain => "run.record",
            jobs::JobKind::DriftCheck => "drift.record",
            jobs::JobKind::Backtest => "backtest.record",
            jobs::JobKind::ShadowEvaluate => "shadow.record",
        };
        jobs.signer.may_issue(&trust, kind)?;
    }
    Ok(())
}
