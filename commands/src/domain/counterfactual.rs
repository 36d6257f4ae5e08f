//! Counterfactual replay: re-judge every policy decision of the recorded history under another
//! policy document and report which would have gone differently. Nothing is written.
//!
//! Each decision is re-judged on the evidence recorded for it (the candidate's and the
//! champion's metrics, the drift figures, the backtest window), with the state as it was at
//! that point. The replay is first-order: it does not re-run the history that a different
//! decision would have produced (later comparisons keep the champions that were recorded).

use ledger::{Store, StoreError};
use projections::events::{decode, Decoded, DomainEvent, GateEvidence, Metrics, VersionStatus};
use projections::State;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::policy::Policy;

/// One decision that would have differed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Difference {
    /// The event recording the decision.
    pub seq: u64,
    /// Its kind.
    pub kind: String,
    /// Model and segment, as `model` or `model/segment`.
    pub subject: String,
    /// What the recorded policy decided.
    pub recorded: String,
    /// What the alternative policy would have decided.
    pub counterfactual: String,
    /// A sentence for a person.
    pub explanation: String,
}

/// The report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    /// Policy decisions examined.
    pub decisions: usize,
    /// Those that would have differed.
    pub differences: Vec<Difference>,
}

fn subject_text(ev: &ledger::RecordedEvent) -> String {
    match &ev.event.subject {
        Some(s) => match &s.segment {
            Some(seg) => format!("{}/{seg}", s.model),
            None => s.model.clone(),
        },
        None => "-".into(),
    }
}

/// Replays `store` judging every decision again under `alternative` (a full policy document).
pub fn counterfactual(store: &Store, alternative: &Value) -> Result<Result<Report, String>, StoreError> {
    let alt = match Policy::parse(alternative) {
        Ok(p) => p,
        Err(e) => return Ok(Err(format!("the alternative policy is not valid: {e}"))),
    };
    let mut state = State::default();
    let mut report = Report { decisions: 0, differences: vec![] };
    for ev in store.iter() {
        let ev = ev?;
        let corrupt = |reason: String| StoreError::Corrupt { seq: ev.seq(), reason };
        let model = ev.event.subject.as_ref().map(|s| s.model.clone()).unwrap_or_default();
        let Decoded::Domain(d) =
            decode(&ev.event.kind, &ev.event.payload).map_err(|e| corrupt(e.to_string()))?
        else {
            state.apply(&ev).map_err(|e| corrupt(e.to_string()))?;
            continue;
        };
        let rules = state.model(&model).and_then(|m| m.task).map(|t| alt.for_model(&model, t));
        let version = |v: u64| state.model(&model).and_then(|m| m.versions.get(&v));
        let metrics = |v: u64| version(v).map(|i| &i.metrics);
        let mut diff = |recorded: String, counterfactual: String, explanation: String| {
            report.differences.push(Difference {
                seq: ev.seq(),
                kind: ev.event.kind.clone(),
                subject: subject_text(&ev),
                recorded,
                counterfactual,
                explanation,
            });
        };
        let judged = |candidate: &Metrics, champion: &Metrics| {
            rules.is_some_and(|r| r.evaluate(candidate, champion).is_ok_and(|g| g.iter().all(|g| g.passed)))
        };
        match &*d {
            DomainEvent::PromotionEvaluated(p) => {
                let Some(cand) = version(p.candidate) else { continue };
                let champion = match p.evidence {
                    GateEvidence::Baseline => cand.baseline.as_ref().map(|b| &b.metrics),
                    GateEvidence::ChampionMetrics => p.champion.and_then(metrics),
                };
                if let Some(champ) = champion {
                    report.decisions += 1;
                    let recorded = p.passed && p.auto_promote_allowed;
                    let alt_promoted = judged(&cand.metrics, champ) && alt.promotes(cand.trigger);
                    if alt_promoted != recorded {
                        let says = |promoted: bool| {
                            if promoted { "auto-promoted" } else { "kept as challenger" }.to_string()
                        };
                        diff(
                            says(recorded),
                            says(alt_promoted),
                            format!(
                                "under policy v{} v{} was {}; under the alternative it would have been {}",
                                p.policy_version,
                                p.candidate,
                                says(recorded),
                                says(alt_promoted)
                            ),
                        );
                    }
                }
            }
            DomainEvent::PromotionProposed(p) => {
                if let (Some(cand), Some(champ)) = (metrics(p.challenger), p.champion.and_then(metrics)) {
                    report.decisions += 1;
                    let alt_passed = judged(cand, champ);
                    if alt_passed != p.passed {
                        let says = |b: bool| if b { "gates passed" } else { "gates failed" }.to_string();
                        diff(
                            says(p.passed),
                            says(alt_passed),
                            format!(
                                "{} for v{}: {} under policy v{}, {} under the alternative",
                                p.proposal_id,
                                p.challenger,
                                says(p.passed),
                                p.policy_version,
                                says(alt_passed)
                            ),
                        );
                    }
                }
            }
            DomainEvent::DriftRecorded(p) => {
                report.decisions += 1;
                let alt_exceeded = alt.drift_exceeded(p.drift_pct, &p.psi);
                if alt_exceeded != p.exceeded {
                    let says = |b: bool| if b { "critical drift alert" } else { "no alert" }.to_string();
                    diff(
                        says(p.exceeded),
                        says(alt_exceeded),
                        format!(
                            "drift of {:.1}%: {} at {:.0}%, {} at {:.0}%",
                            p.drift_pct,
                            says(p.exceeded),
                            p.threshold_pct,
                            says(alt_exceeded),
                            alt.drift.max_degradation_pct
                        ),
                    );
                }
            }
            DomainEvent::BacktestRecorded(p) => {
                // Judged against the version's own metrics, by the model's own rules, and only
                // for a serving version (the ones a degraded window raises an alert for).
                let serving = version(p.version).filter(|v| v.status == VersionStatus::Champion);
                if let (Some(v), Some(r)) = (serving, rules) {
                    report.decisions += 1;
                    let alt_degraded = r.backtest_degraded(&v.metrics, &p.metrics);
                    if alt_degraded != p.degraded {
                        let says = |b: bool| if b { "degraded (warning)" } else { "healthy" }.to_string();
                        diff(
                            says(p.degraded),
                            says(alt_degraded),
                            format!(
                                "backtest of v{} {}..{}: {} as recorded, {} under the alternative",
                                p.version,
                                p.window_start,
                                p.window_end,
                                says(p.degraded),
                                says(alt_degraded)
                            ),
                        );
                    }
                }
            }
            DomainEvent::DatasetRegistered(_)
            | DomainEvent::ModelRegistered(_)
            | DomainEvent::HypothesisProposed(_)
            | DomainEvent::ExperimentApproved(_)
            | DomainEvent::ExperimentRejected(_)
            | DomainEvent::ExperimentStarted(_)
            | DomainEvent::ExperimentShadowStarted(_)
            | DomainEvent::ExperimentCompleted(_)
            | DomainEvent::RunRecorded(_)
            | DomainEvent::VersionRegistered(_)
            | DomainEvent::VersionStatusChanged(_)
            | DomainEvent::ChampionChanged(_)
            | DomainEvent::ShadowRecorded(_)
            | DomainEvent::PromotionEndorsed(_)
            | DomainEvent::PromotionApproved(_)
            | DomainEvent::PromotionRejected(_)
            | DomainEvent::AlertRead(_)
            | DomainEvent::AlertActioned(_)
            | DomainEvent::ShadowStarted(_)
            | DomainEvent::ShadowStopped(_)
            | DomainEvent::ReleaseDecided(_) => {}
        }
        state.apply(&ev).map_err(|e| corrupt(e.to_string()))?;
    }
    Ok(Ok(report))
}
