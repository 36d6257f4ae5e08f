//! The review of one version: everything an approver reads before deciding on it, as one typed
//! answer (the review desk's page and `GET /api/v1/models/{model}/versions/{version}/review`).
//!
//! It gathers what the ledger holds about the version and the champion it would replace: the
//! gate table (as the pending proposal recorded it, or evaluated now by the policy in force),
//! both versions' backtest windows side by side, the drift check that asked for it, the
//! difference of their fitted coefficients (from the artifacts beside the ledger), its lineage,
//! and which signed command would decide it.

use std::collections::BTreeMap;

use projections::events::{
    ApprovalTarget, DriftRecorded, GateResult, Metrics, RunRecorded, Task, VersionStatus,
};
use projections::query::{self, Entry};
use projections::state::{ProposalStatus, VersionInfo};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::query::{enc, Query, QueryError, View};
use projections::events::{Direction, EventKind};

/// The review of `model` `vN`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Review {
    /// The model.
    pub model: String,
    /// The version under review.
    pub version: u64,
}

/// One side of the comparison.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReviewedVersion {
    /// Number.
    pub version: u64,
    /// Segment (`null`: the whole model).
    pub segment: Option<String>,
    /// Status.
    pub status: VersionStatus,
    /// Metrics at registration.
    pub metrics: Metrics,
    /// blake3 of its artifact.
    pub artifact_digest: String,
    /// Its run.
    pub run_id: String,
}

/// The gates as judged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GateTable {
    /// Where the figures come from: `proposal P-12` (as its pending proposal recorded them),
    /// `recorded when v4 was registered against v2` (the version's `promotion.evaluated`), or
    /// `policy v3 against v2, evaluated now` (nothing recorded: its segment's own champion, by
    /// the policy in force, as `arena.propose` would).
    pub source: String,
    /// The policy version that judged them.
    pub policy_version: u32,
    /// Each gate: metric, candidate, champion, threshold, direction, outcome.
    pub gates: Vec<GateResult>,
    /// Every gate passed.
    pub passed: bool,
}

/// One backtest window of the candidate and of the champion (matched by window bounds).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WindowPair {
    /// Window start.
    pub window_start: String,
    /// Window end.
    pub window_end: String,
    /// The candidate's value of the followed metric in that window.
    pub candidate: Option<f64>,
    /// The champion's value.
    pub champion: Option<f64>,
}

/// The backtest comparison.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BacktestComparison {
    /// The metric followed (the model's drift metric).
    pub metric: String,
    /// Which way is better (`null`: unknown metric).
    pub direction: Option<Direction>,
    /// Windows in time order (by start).
    pub windows: Vec<WindowPair>,
}

/// The drift check behind a drift-triggered run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DriftEvidence {
    /// The alert it raised.
    pub alert_id: String,
    /// Its `drift.recorded` event.
    pub seq: u64,
    /// The figures: degradation, PSI per feature, thresholds.
    pub check: DriftRecorded,
}

/// One fitted coefficient of the candidate beside the champion's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CoefficientDelta {
    /// Design-matrix column (`distance`, `company=Flash Cab`).
    pub feature: String,
    /// The candidate's coefficient (`null`: not in its design).
    pub candidate: Option<f64>,
    /// The champion's.
    pub champion: Option<f64>,
}

/// The coefficients, or why they cannot be shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CoefficientComparison {
    /// Every column of either design, candidate's order first.
    pub rows: Vec<CoefficientDelta>,
    /// Why some side is missing (an artifact the built-in trainer did not write, or absent).
    pub unavailable: Option<String>,
}

/// The signed command that decides the version, if one can.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReviewDecision {
    /// A pending arena proposal: approve with `arena.approve`, reject with `arena.reject`.
    Proposal {
        /// Its id.
        proposal_id: String,
        /// Its gates passed (otherwise approving needs an override reason).
        gates_passed: bool,
    },
    /// An open drift alert this version answers: approve with `alert.action` `approve` and
    /// this version; reject by dismissing the alert (`alert.action` `dismiss`).
    DriftAlert {
        /// The alert.
        alert_id: String,
    },
    /// A challenger or candidate with nothing pending: a scientist may propose it
    /// (`arena.propose` with this version as the challenger); then approvers decide.
    Propose {
        /// Why nothing is pending.
        reason: String,
    },
    /// Nothing to decide now.
    None {
        /// Why.
        reason: String,
    },
}

/// The answer to [`Review`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReviewAnswer {
    /// Model.
    pub model: String,
    /// Its task.
    pub task: Option<Task>,
    /// The version under review.
    pub candidate: ReviewedVersion,
    /// The champion of its segment key (or the global one routing it), if any.
    pub champion: Option<ReviewedVersion>,
    /// Its run as recorded (parameters, trainer, dataset).
    pub run: Option<RunRecorded>,
    /// The gates (`null`: no champion, or a gate metric missing; see `gates_unavailable`).
    pub gates: Option<GateTable>,
    /// Why the gates cannot be evaluated.
    pub gates_unavailable: Option<String>,
    /// Backtest windows of both, side by side.
    pub backtests: BacktestComparison,
    /// The drift check that asked for this version.
    pub drift: Option<DriftEvidence>,
    /// Coefficient deltas against the champion.
    pub coefficients: CoefficientComparison,
    /// Where it came from: hypothesis, approval, run, drift.
    pub lineage: Vec<Entry>,
    /// What would decide it.
    pub decision: ReviewDecision,
    /// Distinct approvals a promotion of its segment needs.
    pub approvals_needed: u32,
    /// Approvers counted so far towards this decision.
    pub approvals_so_far: Vec<String>,
}

fn reviewed(v: &VersionInfo) -> ReviewedVersion {
    ReviewedVersion {
        version: v.version,
        segment: v.segment.clone(),
        status: v.status,
        metrics: v.metrics.clone(),
        artifact_digest: v.artifact_digest.clone(),
        run_id: v.run_id.clone(),
    }
}

impl Query for Review {
    type Answer = ReviewAnswer;
    fn path(&self) -> String {
        format!("/api/v1/models/{}/versions/{}/review", enc(&self.model), self.version)
    }
    fn answer(&self, v: &View<'_>) -> Result<ReviewAnswer, QueryError> {
        let m = v
            .state
            .model(&self.model)
            .ok_or_else(|| QueryError::NotFound(format!("no model `{}` in this ledger", self.model), None))?;
        let x = m.versions.get(&self.version).ok_or_else(|| {
            QueryError::NotFound(format!("model `{}` has no version v{}", self.model, self.version), None)
        })?;
        let seg = x.segment.as_deref();
        let champion_no = m.route(seg).filter(|c| *c != x.version);
        let champion = champion_no.and_then(|c| m.versions.get(&c));
        let rules = match (v.policy, m.task) {
            (Some(p), Some(t)) => Some(p.for_model(&self.model, t)),
            _ => None,
        };
        let policy_version = v.trust.policy_version();
        let run = match v.state.runs.get(&x.run_id) {
            Some(r) => Some(projections::query::run_recorded(v.store, r)?),
            None => None,
        };

        // The decision: a pending proposal for it, else an open drift alert its run answers.
        let proposal = v.state.proposals.values().find(|p| {
            p.status == ProposalStatus::Pending
                && p.subject.model == self.model
                && p.proposed.challenger == self.version
        });
        let drift_alert =
            run.as_ref().and_then(|r| r.drift_event.as_ref()).and_then(|id| v.state.alerts.get(id));
        let (decision, target) = if let Some(p) = proposal {
            let id = p.proposed.proposal_id.clone();
            (
                ReviewDecision::Proposal { proposal_id: id.clone(), gates_passed: p.proposed.passed },
                Some(ApprovalTarget::Proposal { proposal_id: id }),
            )
        } else if let Some(a) =
            drift_alert.filter(|a| a.status.is_open() && x.status == VersionStatus::Challenger)
        {
            (
                ReviewDecision::DriftAlert { alert_id: a.id.clone() },
                Some(ApprovalTarget::DriftAlert { alert_id: a.id.clone(), version: self.version }),
            )
        } else if matches!(x.status, VersionStatus::Challenger | VersionStatus::Candidate)
            && drift_alert.is_none_or(|a| a.status.is_open())
        {
            (
                ReviewDecision::Propose {
                    reason: "no proposal is pending for it; propose it here or with `pledge arena propose`"
                        .into(),
                },
                None,
            )
        } else {
            let reason = match x.status {
                VersionStatus::Champion => "it is the champion".to_string(),
                VersionStatus::Archived => "it is archived".to_string(),
                VersionStatus::Experimental => {
                    "it belongs to an experiment still running; the experiment's completion decides it"
                        .to_string()
                }
                _ => match drift_alert {
                    Some(a) if !a.status.is_open() => {
                        format!("the drift alert it answers, {}, is {}", a.id, a.status.as_str())
                    }
                    _ => "no proposal is pending for it; propose it with `pledge arena propose`".to_string(),
                },
            };
            (ReviewDecision::None { reason }, None)
        };

        // Gates: as the pending proposal recorded them; else as the version's registration
        // recorded them (`promotion.evaluated`); else evaluated now against its segment's own
        // champion, as `arena.propose` would.
        let recorded = match x.history.iter().find(|h| h.kind == EventKind::PromotionEvaluated) {
            Some(h) => v.store.get(h.seq)?.and_then(|ev| {
                serde_json::from_value::<projections::events::PromotionEvaluated>(ev.event.payload).ok()
            }),
            None => None,
        };
        let own = m.champion_of(seg).filter(|c| *c != x.version).and_then(|c| m.versions.get(&c));
        let (gates, gates_unavailable) = if let Some(p) = proposal {
            let g = &p.proposed;
            let table = GateTable {
                source: format!("proposal {}", g.proposal_id),
                policy_version: g.policy_version,
                gates: g.gates.clone(),
                passed: g.passed,
            };
            (Some(table), None)
        } else if let Some(e) = recorded {
            let against = e.champion.map_or_else(String::new, |c| format!(" against v{c}"));
            let table = GateTable {
                source: format!("recorded when v{} was registered{against}", x.version),
                policy_version: e.policy_version,
                gates: e.gates,
                passed: e.passed,
            };
            (Some(table), None)
        } else {
            match (own, &rules) {
                (Some(c), Some(r)) => match r.evaluate(&x.metrics, &c.metrics) {
                    Ok(g) => {
                        let table = GateTable {
                            source: format!("policy v{policy_version} against v{}, evaluated now", c.version),
                            policy_version,
                            passed: g.iter().all(|g| g.passed),
                            gates: g,
                        };
                        (Some(table), None)
                    }
                    Err(e) => (None, Some(format!("the {} lacks gate metric `{}`", e.side, e.metric))),
                },
                (Some(_), None) => (None, Some("the model has no task; no gate applies".into())),
                (None, _) if champion.is_some() => (
                    None,
                    Some(
                        "its segment has no champion of its own (the global one serves it) and its run recorded no figures of that champion on the segment's rows"
                            .into(),
                    ),
                ),
                (None, _) => (None, Some("no champion to compare with".into())),
            }
        };

        // Backtests side by side on the followed metric.
        let metric = rules.as_ref().map_or_else(|| "mae".to_string(), |r| r.drift_metric().to_string());
        let direction = rules.as_ref().and_then(|r| r.direction_of(&metric));
        // Paired by window, in time order (declared periods by their place in the run's periods).
        let periods = v.state.runs.get(&x.run_id).map_or(&[][..], |r| &r.run.periods[..]);
        let key = |s: &str| crate::domain::window::order_key(s, periods);
        type Key = (bool, Option<crate::domain::window::Bound>, String);
        let mut windows: BTreeMap<(Key, Key), WindowPair> = BTreeMap::new();
        let mut put = |w: &projections::state::BacktestWindow, candidate: bool| {
            let e = windows.entry((key(&w.window_start), key(&w.window_end))).or_insert_with(|| WindowPair {
                window_start: w.window_start.clone(),
                window_end: w.window_end.clone(),
                candidate: None,
                champion: None,
            });
            let value = w.metrics.get(&metric).copied();
            if candidate {
                e.candidate = value;
            } else {
                e.champion = value;
            }
        };
        projections::query::backtest_windows(v.store, &x.backtests)?.iter().for_each(|w| put(w, true));
        if let Some(c) = champion {
            projections::query::backtest_windows(v.store, &c.backtests)?.iter().for_each(|w| put(w, false));
        }

        // The drift check behind it.
        let drift = match drift_alert {
            Some(a) => match v.store.get(a.raised_seq)? {
                Some(ev) if ev.event.kind == "drift.recorded" => serde_json::from_value(ev.event.payload)
                    .ok()
                    .map(|check| DriftEvidence { alert_id: a.id.clone(), seq: a.raised_seq, check }),
                _ => None,
            },
            None => None,
        };

        let approvals_needed = rules.as_ref().map_or(1, |r| r.approvals(seg));
        let approvals_so_far =
            target.and_then(|t| v.state.endorsements.get(&t.key())).map(|e| e.by.clone()).unwrap_or_default();
        let lineage =
            query::upstream(v.store, v.trust, v.state, &self.model, self.version)?.unwrap_or_default();
        Ok(ReviewAnswer {
            model: self.model.clone(),
            task: m.task,
            candidate: reviewed(x),
            champion: champion.map(reviewed),
            run,
            gates,
            gates_unavailable,
            backtests: BacktestComparison { metric, direction, windows: windows.into_values().collect() },
            drift,
            coefficients: coefficients(v.store.dir(), x, champion),
            lineage,
            decision,
            approvals_needed,
            approvals_so_far,
        })
    }
}

/// The coefficients of both artifacts, matched by design column.
fn coefficients(
    ledger: &std::path::Path,
    x: &VersionInfo,
    champion: Option<&VersionInfo>,
) -> CoefficientComparison {
    let dir = super::training::artifact_dir(ledger);
    let mut unavailable = vec![];
    let mut load = |v: &VersionInfo| -> Vec<(String, f64)> {
        let why = match trainer::artifact::Artifact::load(&dir, &v.artifact_digest) {
            Ok(a) => {
                let (_, c) = a.model.coefficients();
                return a.pipeline.names().into_iter().zip(c.iter().copied()).collect();
            }
            // Said without the server's paths: what is wrong, not where.
            Err(_) if !dir.join(format!("{}.json", v.artifact_digest)).exists() => {
                "its artifact is not beside the ledger (recorded by digest only)"
            }
            Err(e) if e.to_string().contains("damaged") => {
                "its artifact is damaged (its bytes do not hash to the digest)"
            }
            Err(_) => "its artifact was not written by the built-in trainer",
        };
        unavailable.push(format!("v{}: {why}", v.version));
        vec![]
    };
    let cand = load(x);
    let champ = champion.map(&mut load).unwrap_or_default();
    let mut rows: Vec<CoefficientDelta> = cand
        .iter()
        .map(|(f, c)| CoefficientDelta {
            feature: f.clone(),
            candidate: Some(*c),
            champion: champ.iter().find(|(g, _)| g == f).map(|(_, v)| *v),
        })
        .collect();
    for (f, v) in &champ {
        if !cand.iter().any(|(g, _)| g == f) {
            rows.push(CoefficientDelta { feature: f.clone(), candidate: None, champion: Some(*v) });
        }
    }
    CoefficientComparison {
        rows,
        unavailable: (!unavailable.is_empty())
            .then(|| format!("No coefficients for {}.", unavailable.join("; "))),
    }
}
