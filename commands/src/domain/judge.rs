//! The rules read models ask: the release gates of a model, the health of its champions, and
//! the ranking of challengers. The decide step, the CLI and the API all call these.

use std::cmp::Ordering;

use ledger::{Store, StoreError};
use projections::events::{Direction, Metrics, ReleaseGate, VersionStatus};
use projections::state::{ProposalStatus, Severity};
use projections::{State, VersionInfo};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::policy::{ModelPolicy, Policy};

/// Orders two versions by the gates: better on the first gate first, ties broken by the next
/// gates, then by the lower version number. Both must have every gate metric.
pub fn by_gates(rules: &ModelPolicy<'_>, a: &VersionInfo, b: &VersionInfo) -> Ordering {
    for g in rules.gates().0 {
        let (Some(x), Some(y)) = (a.metrics.get(&g.metric), b.metrics.get(&g.metric)) else { continue };
        let o = match g.direction {
            Direction::Lower => x.total_cmp(y),
            Direction::Higher => y.total_cmp(x),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.version.cmp(&b.version)
}

/// The best open challenger (challenger or candidate) of `segment` by the gates, among those
/// with every gate metric.
pub fn best_challenger<'s>(
    state: &'s State,
    rules: &ModelPolicy<'_>,
    segment: Option<&str>,
) -> Option<&'s VersionInfo> {
    state
        .model(rules.model)?
        .versions
        .values()
        .filter(|v| v.segment.as_deref() == segment)
        .filter(|v| matches!(v.status, VersionStatus::Challenger | VersionStatus::Candidate))
        .filter(|v| rules.missing_gate_metrics(&v.metrics).is_empty())
        .min_by(|x, y| by_gates(rules, x, y))
}

/// Production gates for releasing `model`, in this order: a champion serves; every champion
/// has a backtest; no critical alert about the model is open; no champion's latest backtest
/// window is degraded; no promotion proposal is pending.
pub fn release_gates(state: &State, model: &str) -> Vec<ReleaseGate> {
    let m = state.model(model);
    let champions: Vec<&VersionInfo> =
        m.into_iter().flat_map(|m| m.champions.values().filter_map(|v| m.versions.get(v))).collect();
    let name = |v: &VersionInfo| match &v.segment {
        Some(s) => format!("v{} ({s})", v.version),
        None => format!("v{}", v.version),
    };
    let critical: Vec<&str> = state
        .alerts
        .values()
        .filter(|a| a.status.is_open() && a.severity == Severity::Critical)
        .filter(|a| a.subject.as_ref().is_some_and(|s| s.model == model))
        .map(|a| a.id.as_str())
        .collect();
    let untested: Vec<String> =
        champions.iter().filter(|v| v.backtests.is_empty()).map(|v| name(v)).collect();
    let degraded: Vec<String> = champions
        .iter()
        .filter(|v| v.backtests.last().is_some_and(|b| b.degraded))
        .map(|v| name(v))
        .collect();
    let pending: Vec<&str> = state
        .proposals
        .values()
        .filter(|p| p.status == ProposalStatus::Pending && p.subject.model == model)
        .map(|p| p.proposed.proposal_id.as_str())
        .collect();
    let gate = |gate: &str, passed: bool, ok: String, bad: String| ReleaseGate {
        gate: gate.into(),
        passed,
        detail: if passed { ok } else { bad },
    };
    vec![
        gate(
            "champion_present",
            !champions.is_empty(),
            format!("{} segment(s) with a champion", champions.len()),
            "0 segment(s) with a champion".into(),
        ),
        gate(
            "champions_backtested",
            !champions.is_empty() && untested.is_empty(),
            "every champion has a backtest window".into(),
            if champions.is_empty() {
                "no champion to have backtests".into()
            } else {
                format!("no backtest: {}", untested.join(", "))
            },
        ),
        gate(
            "no_open_critical_alert",
            critical.is_empty(),
            "none open".into(),
            format!("open: {}", critical.join(", ")),
        ),
        gate(
            "latest_backtest_healthy",
            degraded.is_empty(),
            "no champion's latest window is degraded".into(),
            format!("degraded: {}", degraded.join(", ")),
        ),
        gate(
            "no_pending_proposal",
            pending.is_empty(),
            "none pending".into(),
            format!("pending: {}", pending.join(", ")),
        ),
    ]
}

/// Which way a champion's backtests are going.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    /// The latest window is more than 2% better than the ones before.
    Improving,
    /// Within 2%.
    Stable,
    /// More than 2% worse.
    Degrading,
    /// Fewer than two windows, or a metric without a direction.
    Unknown,
}

/// Health of a serving version, from its backtest windows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    /// Model.
    pub model: String,
    /// Segment (`null`: the whole model).
    pub segment: Option<String>,
    /// The serving version.
    pub champion: u64,
    /// The metric followed (the model's drift metric).
    pub metric: String,
    /// Which way it improves.
    pub direction: Option<Direction>,
    /// Latest window's value (the seeds' 7-day figure).
    pub recent: Option<f64>,
    /// Mean of up to four windows before it (the seeds' 30-day figure).
    pub baseline: Option<f64>,
    /// The trend.
    pub trend: Trend,
    /// Windows recorded.
    pub windows: usize,
    /// The best challenger for the segment by the gates, if any.
    pub best_challenger: Option<u64>,
    /// That challenger's metrics.
    pub challenger_metrics: Option<Metrics>,
}

/// Health of every champion of every registered model, by each model's own rules. The windows'
/// values are read from their events in `store`, newest first, until the five the figures use
/// are found.
pub fn health(state: &State, policy: &Policy, store: &Store) -> Result<Vec<Health>, StoreError> {
    let mut out = vec![];
    for (name, m) in &state.models {
        let Some(task) = m.task else { continue };
        let rules = policy.for_model(name, task);
        let metric = rules.drift_metric();
        let direction = rules.direction_of(metric);
        for (key, champ) in &m.champions {
            let Some(info) = m.versions.get(champ) else { continue };
            // The newest five windows that have the metric, oldest first.
            let mut values: Vec<f64> = Vec::with_capacity(5);
            for r in info.backtests.iter().rev() {
                if values.len() == 5 {
                    break;
                }
                if let Some(x) = projections::query::backtest_window(store, *r)?.metrics.get(metric) {
                    values.push(*x);
                }
            }
            values.reverse();
            let recent = values.last().copied();
            let before = &values[..values.len().saturating_sub(1)];
            let tail = &before[before.len().saturating_sub(4)..];
            let baseline = (!tail.is_empty()).then(|| tail.iter().sum::<f64>() / tail.len() as f64);
            let change = match (recent, baseline, direction) {
                (Some(r), Some(b), Some(d)) => d.improvement_pct(r, b),
                _ => None,
            };
            let trend = match change {
                Some(c) if c > 2.0 => Trend::Improving,
                Some(c) if c < -2.0 => Trend::Degrading,
                Some(_) => Trend::Stable,
                None => Trend::Unknown,
            };
            let segment = (!key.is_empty()).then(|| key.clone());
            let best = best_challenger(state, &rules, segment.as_deref());
            out.push(Health {
                model: name.clone(),
                segment,
                champion: *champ,
                metric: metric.to_string(),
                direction,
                recent,
                baseline,
                trend,
                windows: info.backtests.len(),
                best_challenger: best.map(|b| b.version),
                challenger_metrics: best.map(|b| b.metrics.clone()),
            });
        }
    }
    Ok(out)
}
