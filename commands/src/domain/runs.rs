//! `run.record`: a training run, the versions it registers, their backtests, and the judgement
//! of each candidate against the version serving its segment.

use std::collections::BTreeSet;

use ledger::{DraftCause, EventDraft, Refusal};
use projections::events::*;
use projections::state::name;
use projections::ExperimentStatus;
use serde_json::Value;

use super::command::{RunBody, RunModel};
use super::decide::{
    caused, check_metrics, check_window, draft, invalid, nonempty, reject, segment_text, subject, Decider,
};
use super::policy::ModelPolicy;
use super::promotions;

/// How a candidate is judged: against whom, on which figures.
enum Judgement<'a> {
    /// No champion serves its segment: it waits for a bootstrap.
    NoChampion,
    /// The global champion routes its segment and the run gave no figures of it there.
    NoEvidence(u64),
    /// Compare with these metrics of `champion`.
    Against { champion: u64, metrics: &'a Metrics, evidence: GateEvidence },
}

fn judgement<'a>(d: &Decider<'a>, model: &str, m: &'a RunModel) -> Result<Judgement<'a>, Refusal> {
    let state = d.state;
    let Some(mm) = state.model(model) else { return Ok(Judgement::NoChampion) };
    let Some(serving) = mm.route(m.segment.as_deref()) else { return Ok(Judgement::NoChampion) };
    if let Some(b) = &m.baseline {
        if b.version != serving {
            return Err(reject(
                "promotion.baseline_stale",
                format!(
                    "the baseline scored v{}, but v{serving} serves segment `{}`; score the serving version again",
                    b.version,
                    segment_text(m.segment.as_deref())
                ),
            ));
        }
        return Ok(Judgement::Against {
            champion: serving,
            metrics: &b.metrics,
            evidence: GateEvidence::Baseline,
        });
    }
    if mm.champion_of(m.segment.as_deref()) == Some(serving) {
        let info = d.version(model, serving)?;
        return Ok(Judgement::Against {
            champion: serving,
            metrics: &info.metrics,
            evidence: GateEvidence::ChampionMetrics,
        });
    }
    Ok(Judgement::NoEvidence(serving))
}

fn check_references(d: &Decider<'_>, b: &RunBody) -> Result<(), Refusal> {
    match b.trigger {
        Trigger::Experiment => {
            let id = b
                .hypothesis_id
                .as_deref()
                .ok_or_else(|| invalid("an `experiment` run needs `hypothesis_id`"))?;
            let x = d.experiment(id)?;
            if !matches!(
                x.status,
                ExperimentStatus::Approved | ExperimentStatus::InProgress | ExperimentStatus::ShadowTesting
            ) {
                return Err(reject(
                    "experiment.not_approved",
                    format!("experiment `{id}` is {}; it must be approved before it trains", name(&x.status)),
                ));
            }
            if x.model != b.model {
                return Err(reject(
                    "experiment.model",
                    format!("experiment `{id}` is about `{}`, not `{}`", x.model, b.model),
                ));
            }
        }
        _ => {
            // Another run may cite the hypothesis it tests; it must exist and be about the
            // model. Only `experiment` runs produce the experiment's versions.
            if let Some(id) = b.hypothesis_id.as_deref() {
                let x = d.experiment(id)?;
                if x.model != b.model {
                    return Err(reject(
                        "experiment.model",
                        format!("hypothesis `{id}` is about `{}`, not `{}`", x.model, b.model),
                    ));
                }
            }
        }
    }
    match b.trigger {
        Trigger::DriftDetected => {
            let id = b
                .drift_alert_id
                .as_deref()
                .ok_or_else(|| invalid("a `drift_detected` run needs `drift_alert_id`"))?;
            let a = d
                .state
                .alerts
                .get(id)
                .filter(|a| a.alert_type == projections::state::AlertType::DriftDetected)
                .ok_or_else(|| reject("alert.unknown", format!("no drift alert `{id}`")))?;
            if a.subject.as_ref().map(|s| s.model.as_str()) != Some(b.model.as_str()) {
                return Err(reject("alert.model", format!("drift alert `{id}` is not about `{}`", b.model)));
            }
        }
        _ if b.drift_alert_id.is_some() => {
            return Err(invalid("`drift_alert_id` is only for `drift_detected` runs"));
        }
        _ => {}
    }
    Ok(())
}

fn check_shape(b: &RunBody) -> Result<Value, Refusal> {
    nonempty("run_id", &b.run_id)?;
    nonempty("trainer", &b.trainer)?;
    b.dataset_digest.parse::<ledger::Digest>().map_err(|e| invalid(format!("`dataset_digest`: {e}")))?;
    check_metrics("run", &b.metrics)?;
    if b.models.is_empty() {
        return Err(invalid("a run must list at least one model in `models`"));
    }
    let mut labels = BTreeSet::new();
    for p in &b.periods {
        nonempty("periods[]", p)?;
        if !labels.insert(p) {
            return Err(invalid(format!("period `{p}` is declared twice in `periods`")));
        }
    }
    let mut segments = BTreeSet::new();
    for m in &b.models {
        let seg = segment_text(m.segment.as_deref());
        check_metrics(&format!("model `{seg}`"), &m.metrics)?;
        if let Some(base) = &m.baseline {
            check_metrics(&format!("baseline of model `{seg}`"), &base.metrics)?;
        }
        m.artifact_digest
            .parse::<ledger::Digest>()
            .map_err(|e| invalid(format!("`artifact_digest`: {e}")))?;
        if !segments.insert(m.segment.clone()) {
            return Err(invalid(format!("segment `{seg}` is listed twice in `models`")));
        }
    }
    for w in &b.backtests {
        if !segments.contains(&w.segment) {
            return Err(invalid(format!(
                "a backtest window is for segment `{}`, which has no model in `models`",
                segment_text(w.segment.as_deref())
            )));
        }
        check_metrics("backtest", &w.metrics)?;
        check_window(&w.window_start, &w.window_end, &b.periods)?;
    }
    match &b.params {
        Value::Null => Ok(Value::Object(Default::default())),
        p @ Value::Object(_) => Ok(p.clone()),
        _ => Err(invalid("`params` must be an object of hyper-parameters")),
    }
}

/// The model's task: as registered, or registered by this run (then the run's second event).
fn task_of(d: &Decider<'_>, b: &RunBody) -> Result<(Task, bool), Refusal> {
    match (d.state.model(&b.model).and_then(|m| m.task), b.task) {
        (Some(t), Some(given)) if t != given => Err(reject(
            "model.task",
            format!("`{}` is a {} model; this run says {}", b.model, t.as_str(), given.as_str()),
        )),
        (Some(t), _) => Ok((t, false)),
        (None, Some(given)) => Ok((given, true)),
        (None, None) => Err(reject(
            "model.unknown",
            format!(
                "no model `{}` is registered: give its first run a `task` (classification, regression, forecast), or register it with `pledge model register`",
                b.model
            ),
        )),
    }
}

/// Decides `run.record`.
pub(super) fn record(d: &Decider<'_>, b: &RunBody) -> Result<Vec<EventDraft>, Refusal> {
    let params = check_shape(b)?;
    if d.state.runs.contains_key(&b.run_id) {
        return Err(reject("run.exists", format!("run `{}` is already recorded", b.run_id)));
    }
    let run_subj = subject(&b.model, None)?;
    let (task, registers) = task_of(d, b)?;
    check_references(d, b)?;
    let rules: ModelPolicy<'_> = d.policy.for_model(&b.model, task);
    let initial = match b.trigger {
        Trigger::Experiment => VersionStatus::Experimental,
        Trigger::DriftDetected => VersionStatus::Challenger,
        _ => VersionStatus::Candidate,
    };
    // A candidate is judged by the gates: refuse at once when it cannot be.
    if initial == VersionStatus::Candidate {
        for m in &b.models {
            let missing = rules.missing_gate_metrics(&m.metrics);
            if let Some(metric) = missing.first() {
                return Err(reject(
                    "promotion.missing_metric",
                    format!(
                        "model `{}` of run `{}` has no `{metric}` metric, which the gates in policy `{}` need; record it, or change the gates with `pledge policy set`",
                        segment_text(m.segment.as_deref()),
                        b.run_id,
                        rules.gates().1
                    ),
                ));
            }
        }
    }
    let mut out = vec![draft(
        Some(&run_subj),
        DomainEvent::RunRecorded(RunRecorded {
            run_id: b.run_id.clone(),
            trigger: b.trigger,
            hypothesis_id: b.hypothesis_id.clone(),
            drift_event: b.drift_alert_id.clone(),
            dataset_digest: b.dataset_digest.clone(),
            dataset_version: b.dataset_version.clone(),
            feature_set: b.feature_set.clone(),
            config_digest: b.config_digest.clone(),
            code_version: b.code_version.clone(),
            trainer: b.trainer.clone(),
            params,
            metrics: b.metrics.clone(),
            recorded_by: d.by(),
            started_at: b.started_at.clone(),
            finished_at: b.finished_at.clone(),
            periods: b.periods.clone(),
        }),
    )?];
    if registers {
        out.push(caused(
            Some(&run_subj),
            DomainEvent::ModelRegistered(ModelRegistered { task, by: d.by(), description: None }),
            0,
        )?);
    }
    let first = d.state.model(&b.model).map_or(1, |m| m.next_version());
    for (i, m) in b.models.iter().enumerate() {
        let v = first + i as u64;
        if let Some(base) = &m.baseline {
            d.version(&b.model, base.version)?;
        }
        let vs = subject(&b.model, m.segment.as_deref())?;
        out.push(caused(
            Some(&vs),
            DomainEvent::VersionRegistered(VersionRegistered {
                version: v,
                run_id: b.run_id.clone(),
                artifact_digest: m.artifact_digest.clone(),
                status: initial,
                metrics: m.metrics.clone(),
                baseline: m.baseline.clone(),
            }),
            0,
        )?);
        for w in b.backtests.iter().filter(|w| w.segment == m.segment) {
            out.push(caused(
                Some(&vs),
                DomainEvent::BacktestRecorded(BacktestRecorded {
                    version: v,
                    window_start: w.window_start.clone(),
                    window_end: w.window_end.clone(),
                    metrics: w.metrics.clone(),
                    rows: w.rows,
                    degraded: rules.backtest_degraded(&m.metrics, &w.metrics),
                    policy_version: d.state.policy_version,
                }),
                0,
            )?);
        }
        if initial != VersionStatus::Candidate {
            continue;
        }
        let challenger = |reason: String, by: usize| {
            caused(
                Some(&vs),
                DomainEvent::VersionStatusChanged(VersionStatusChanged {
                    version: v,
                    from: VersionStatus::Candidate,
                    to: VersionStatus::Challenger,
                    reason,
                }),
                by,
            )
        };
        let (champion, champion_metrics, evidence) = match judgement(d, &b.model, m)? {
            Judgement::NoChampion => continue,
            Judgement::NoEvidence(serving) => {
                out.push(challenger(
                    format!(
                        "not judged: v{serving} serves segment `{}` as the global champion and the run has no figures of it on the segment's rows (`baseline`)",
                        segment_text(m.segment.as_deref())
                    ),
                    0,
                )?);
                continue;
            }
            Judgement::Against { champion, metrics, evidence } => (champion, metrics, evidence),
        };
        let gates = rules
            .evaluate(&m.metrics, champion_metrics)
            .map_err(|e| reject("promotion.missing_metric", e.to_string()))?;
        let passed = gates.iter().all(|g| g.passed);
        let allowed = rules.promotes(b.trigger);
        let eval_index = out.len();
        out.push(caused(
            Some(&vs),
            DomainEvent::PromotionEvaluated(PromotionEvaluated {
                candidate: v,
                champion: Some(champion),
                gates,
                passed,
                auto_promote_allowed: allowed,
                policy_version: d.state.policy_version,
                evidence,
            }),
            0,
        )?);
        if passed && allowed {
            // Promoted in the same atomic append that records the evaluation.
            out.extend(promotions::promote(
                d,
                &vs,
                v,
                ChampionCause::Policy,
                "policy",
                None,
                DraftCause::EarlierDraft(eval_index),
            )?);
        } else {
            let reason = if passed {
                format!("`{}` runs are not auto-promoted", b.trigger.as_str())
            } else {
                "did not pass the promotion gates".to_string()
            };
            out.push(challenger(reason, eval_index)?);
        }
    }
    Ok(out)
}
