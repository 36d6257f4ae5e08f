//! Counterfactual replay: re-judge every policy decision of the recorded history under another
//! policy document and report which would have gone differently. Nothing is written.
//!
//! Each decision is re-judged on the evidence recorded for it (the candidate's and the
//! champion's metrics, the drift figures, the backtest window), with the state as it was at
//! that point. The replay is first-order: it does not re-run the history that a different
//! decision would have produced (later comparisons keep the champions that were recorded).

use ledger::{Store, StoreError};
use projections::events::{BacktestRecorded, DriftRecorded, PromotionEvaluated, PromotionProposed, Trigger};
use projections::State;
use serde::Serialize;
use serde_json::Value;

use crate::policy::Policy;

/// One decision that would have differed.
#[derive(Clone, Debug, PartialEq, Serialize)]
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
#[derive(Clone, Debug, PartialEq, Serialize)]
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
    let alt = match Policy::from_document(alternative) {
        Ok(p) => p,
        Err(e) => return Ok(Err(format!("the alternative policy is not valid: {e}"))),
    };
    let mut state = State::default();
    let mut report = Report { decisions: 0, differences: vec![] };
    for ev in store.iter() {
        let ev = ev?;
        let model = ev.event.subject.as_ref().map(|s| s.model.clone()).unwrap_or_default();
        let metrics = |state: &State, v: u64| {
            state.model(&model).and_then(|m| m.versions.get(&v)).map(|i| i.metrics.clone())
        };
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
        match ev.event.kind.as_str() {
            "promotion.evaluated" => {
                let Ok(p) = serde_json::from_value::<PromotionEvaluated>(ev.event.payload.clone()) else {
                    continue;
                };
                let (Some(cand), Some(champ)) =
                    (metrics(&state, p.candidate), p.champion.and_then(|c| metrics(&state, c)))
                else {
                    continue;
                };
                report.decisions += 1;
                let trigger = state
                    .model(&model)
                    .and_then(|m| m.versions.get(&p.candidate))
                    .map_or(Trigger::Manual, |v| v.trigger);
                let recorded = p.passed && p.auto_promote_allowed;
                let alt_passed = alt
                    .for_model(&model)
                    .evaluate(&cand, &champ)
                    .map(|g| g.iter().all(|g| g.passed))
                    .unwrap_or(false);
                let alt_promoted = alt_passed && alt.auto_promote.contains(&trigger);
                if alt_promoted != recorded {
                    let says = |promoted: bool| {
                        if promoted {
                            "auto-promoted".to_string()
                        } else {
                            "kept as challenger".to_string()
                        }
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
            "promotion.proposed" => {
                let Ok(p) = serde_json::from_value::<PromotionProposed>(ev.event.payload.clone()) else {
                    continue;
                };
                let (Some(cand), Some(champ)) =
                    (metrics(&state, p.challenger), p.champion.and_then(|c| metrics(&state, c)))
                else {
                    continue;
                };
                report.decisions += 1;
                let alt_passed = alt
                    .for_model(&model)
                    .evaluate(&cand, &champ)
                    .map(|g| g.iter().all(|g| g.passed))
                    .unwrap_or(false);
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
            "drift.recorded" => {
                let Ok(p) = serde_json::from_value::<DriftRecorded>(ev.event.payload.clone()) else {
                    continue;
                };
                report.decisions += 1;
                let alt_exceeded =
                    p.drift_pct > alt.drift_max_pct || p.psi.values().any(|x| *x > alt.psi_threshold);
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
                            alt.drift_max_pct
                        ),
                    );
                }
            }
            "backtest.recorded" => {
                let Ok(p) = serde_json::from_value::<BacktestRecorded>(ev.event.payload.clone()) else {
                    continue;
                };
                let Some(base) = metrics(&state, p.version) else { continue };
                let is_champion = state
                    .model(&model)
                    .and_then(|m| m.versions.get(&p.version))
                    .is_some_and(|v| v.status == projections::events::VersionStatus::Champion);
                if !is_champion {
                    continue;
                }
                report.decisions += 1;
                let alt_degraded = match (base.get(&alt.drift_metric), p.metrics.get(&alt.drift_metric)) {
                    (Some(b), Some(w)) if *b > 0.0 => (w - b) / b * 100.0 > alt.backtest_max_pct,
                    _ => false,
                };
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
            _ => {}
        }
        state.apply(&ev);
    }
    Ok(Ok(report))
}
