//! Shadow evaluation: the champion and every shadow version measured on the same logged rows
//! whose outcomes are known, as the `shadow.record` windows the ledger takes.
//!
//! For one model and a window `[since, until)` of answer times: each logged prediction with an
//! actual outcome and a shadow score is a sample of that shadow version (the challenger). A
//! challenger's window compares it with the version that answered those rows (the champion);
//! when the champion changed within the window, the rows of the version that answered most of
//! them are kept and the others left out (said in `notes`). Metrics are the trainer's
//! (`trainer::metrics`), on exactly the same rows for both.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use projections::events::Task;
use projections::{ExperimentStatus, State};
use serde::{Deserialize, Serialize};
use trainer::metrics::{Metrics, Scored};

use crate::app::failure::{Failure, INVALID_INPUT};
use crate::app::predlog::PredictionLog;
use crate::domain::command::ShadowBody;

/// What an evaluation found: the windows to record, and why any shadow version has none.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ShadowEvaluation {
    /// The model.
    pub model: String,
    /// Window start (RFC 3339).
    pub window_start: String,
    /// Window end (RFC 3339, excluded).
    pub window_end: String,
    /// Logged predictions in the window.
    pub predictions: u64,
    /// Of those, with a known outcome.
    pub with_actuals: u64,
    /// One `shadow.record` body per shadow version with samples.
    pub windows: Vec<ShadowBody>,
    /// What was left out, and why.
    pub notes: Vec<String>,
}

/// Parses a window bound (RFC 3339 or a date, which means its midnight UTC).
pub fn parse_bound(field: &str, s: &str) -> Result<DateTime<Utc>, Failure> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            Failure::new(
                INVALID_INPUT,
                format!("`{field}` = `{s}` is not a timestamp (2026-03-01T00:00:00Z) or a date"),
            )
        })
}

/// The window `[since, until)`, by default the previous UTC day.
pub fn window(
    since: Option<&str>,
    until: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), Failure> {
    let midnight = now.date_naive().and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
    let until = until.map(|u| parse_bound("--until", u)).transpose()?.unwrap_or(midnight);
    let since = since.map(|s| parse_bound("--since", s)).transpose()?.unwrap_or(until - Duration::days(1));
    Ok((since, until))
}

/// Evaluates `model`'s shadow versions on the window `[since, until)` of `log`.
///
/// `state` needs only the model and its experiments (see [`for_model`]); `ledger` is the
/// ledger's directory (its artifacts give each challenger's stockout tolerance).
pub fn evaluate(
    log: &PredictionLog,
    state: &State,
    ledger: &std::path::Path,
    model: &str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<ShadowEvaluation, Failure> {
    let m =
        state.model(model).ok_or_else(|| Failure::not_found(format!("the ledger has no model `{model}`")))?;
    // A window that ends before it starts holds no prediction (the CLI refuses it first).
    let joined = match until > since {
        true => log.joined(model, since, until).map_err(|e| Failure::new(crate::app::failure::STORAGE, e))?,
        false => vec![],
    };
    let with_actuals = joined.iter().filter(|(_, a)| a.is_some()).count();
    // challenger -> champion version -> (champion, challenger, actual) per row.
    type Sample = ((f64, Option<[f64; 2]>), (f64, Option<[f64; 2]>), f64);
    let mut by: BTreeMap<u64, BTreeMap<u64, Vec<Sample>>> = BTreeMap::new();
    for (r, actual) in &joined {
        let Some(y) = actual else { continue };
        for s in &r.shadow {
            by.entry(s.version).or_default().entry(r.version).or_default().push((
                (r.value, r.interval),
                (s.value, s.interval),
                *y,
            ));
        }
    }
    let bound = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut out = ShadowEvaluation {
        model: model.to_string(),
        window_start: bound(since),
        window_end: bound(until),
        predictions: joined.len() as u64,
        with_actuals: with_actuals as u64,
        windows: vec![],
        notes: vec![],
    };
    let classifier = m.task == Some(Task::Classification);
    for (challenger, champions) in by {
        let (champion, rows) = champions.iter().max_by_key(|(v, rows)| (rows.len(), **v)).expect("non-empty");
        let left = champions.values().map(Vec::len).sum::<usize>() - rows.len();
        if left > 0 {
            out.notes.push(format!(
                "v{challenger}: {left} rows answered by another champion than v{champion} were left out (the champion changed in the window)"
            ));
        }
        let Some(info) = m.versions.get(&challenger) else { continue };
        let tolerance = crate::app::training::load_artifact(ledger, &info.artifact_digest, challenger)
            .map(|a| a.params.stock_tolerance)
            .unwrap_or_else(|_| trainer::spec::TrainParams::default().stock_tolerance);
        let task =
            if classifier { trainer::spec::Task::Classification } else { trainer::spec::Task::Regression };
        let y: Vec<f64> = rows.iter().map(|r| r.2).collect();
        let scored = |pick: fn(&Sample) -> (f64, Option<[f64; 2]>)| {
            let v: Vec<(f64, Option<[f64; 2]>)> = rows.iter().map(pick).collect();
            Scored {
                value: v.iter().map(|x| x.0).collect(),
                interval: v.iter().map(|x| x.1.map(|[a, b]| (a, b))).collect::<Option<Vec<_>>>(),
            }
        };
        let metric = |s: &Scored| Metrics::evaluate(task, &y, s, tolerance).map(|m| m.to_map());
        let (Some(cm), Some(xm)) = (metric(&scored(|r| r.0)), metric(&scored(|r| r.1))) else {
            out.notes
                .push(format!("v{challenger}: its {} rows give no metrics (one class only?)", rows.len()));
            continue;
        };
        let hypothesis_id = state
            .experiments
            .iter()
            .find(|(_, x)| {
                x.model == model
                    && x.status == ExperimentStatus::ShadowTesting
                    && x.versions.contains(&challenger)
            })
            .map(|(id, _)| id.clone());
        out.windows.push(ShadowBody {
            model: model.to_string(),
            segment: info.segment.clone(),
            hypothesis_id,
            champion: *champion,
            challenger,
            window_start: out.window_start.clone(),
            window_end: out.window_end.clone(),
            champion_metrics: cm.into(),
            challenger_metrics: xm.into(),
            samples: rows.len() as u64,
        });
    }
    Ok(out)
}

/// The part of `state` an evaluation of `model` reads: the model and its experiments.
pub fn for_model(state: &State, model: &str) -> State {
    let mut out = State::default();
    if let Some(m) = state.models.get(model) {
        out.models.insert(model.to_string(), m.clone());
    }
    for (id, x) in state.experiments.iter().filter(|(_, x)| x.model == model) {
        out.experiments.insert(id.clone(), x.clone());
    }
    out
}
