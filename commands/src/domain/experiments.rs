//! `experiment.complete`: the decision, who may take it, and the hypothesis' pre-registered
//! criterion judged on the evidence, recorded next to it.

use ledger::{DraftCause, EventDraft, Refusal, Role};
use projections::events::*;
use projections::state::name;
use projections::{seg_key, Experiment, ExperimentStatus, VersionInfo};

use super::command::CompleteBody;
use super::decide::{
    caused, check_metrics, draft, invalid, nonempty, reject, segment_text, subject, Decider,
};
use super::policy::ModelPolicy;
use super::promotions::{count_approval, promote, Approval};

/// The criterion (target metric, expected improvement) judged on each version's evidence:
/// its shadow windows (sample-weighted means of both sides), else its registered metrics
/// against the champion serving its segment. `considered` says which versions the verdict
/// covers (the adopted ones; all of them for a rejection).
fn criterion(
    d: &Decider<'_>,
    rules: &ModelPolicy<'_>,
    x: &Experiment,
    versions: &[&VersionInfo],
    considered: impl Fn(&VersionInfo) -> bool,
) -> Criterion {
    let metric = &x.hypothesis.target_metric;
    let expected = x.hypothesis.expected_improvement_pct;
    let direction = rules.direction_of(metric);
    let mut evidence = vec![];
    let mut verdicts = vec![];
    for v in versions {
        let windows: Vec<_> = x
            .shadow
            .iter()
            .filter(|w| w.challenger == v.version)
            .filter_map(|w| {
                Some((
                    w.champion,
                    *w.champion_metrics.get(metric)?,
                    *w.challenger_metrics.get(metric)?,
                    w.samples,
                ))
            })
            .collect();
        let figures = if let Some(&(champion, ..)) = windows.last() {
            let n: f64 = windows.iter().map(|w| w.3 as f64).sum();
            let mean = |f: fn(&(u64, f64, f64, u64)) -> f64| {
                windows.iter().map(|w| f(w) * w.3 as f64).sum::<f64>() / n
            };
            Some((CriterionSource::Shadow, champion, mean(|w| w.1), mean(|w| w.2)))
        } else {
            let champion = d
                .state
                .model(&x.model)
                .and_then(|m| m.route(v.segment.as_deref()))
                .filter(|c| *c != v.version);
            champion.and_then(|c| {
                let h = d.state.model(&x.model)?.versions.get(&c)?.metrics.get(metric)?;
                Some((CriterionSource::Registered, c, *h, *v.metrics.get(metric)?))
            })
        };
        let Some((source, champion, champion_value, challenger_value)) = figures else { continue };
        let improvement_pct = direction.and_then(|dir| dir.improvement_pct(challenger_value, champion_value));
        let met = improvement_pct.is_some_and(|i| i >= expected);
        if considered(v) {
            verdicts.push(met);
        }
        evidence.push(CriterionEvidence {
            version: v.version,
            segment: v.segment.clone(),
            source,
            champion: Some(champion),
            champion_value,
            challenger_value,
            improvement_pct,
            met,
        });
    }
    let met = (direction.is_some() && !verdicts.is_empty()).then(|| verdicts.iter().all(|m| *m));
    Criterion { metric: metric.clone(), direction, expected_improvement_pct: expected, evidence, met }
}

fn check_status(x: &Experiment, id: &str) -> Result<(), Refusal> {
    let (rule, why) = match x.status {
        ExperimentStatus::InProgress | ExperimentStatus::ShadowTesting => return Ok(()),
        ExperimentStatus::Proposed | ExperimentStatus::Rejected => {
            ("experiment.not_approved", "was never approved")
        }
        ExperimentStatus::Approved => ("experiment.not_started", "was approved but never started"),
        ExperimentStatus::Completed => ("experiment.completed", "is already completed"),
    };
    Err(reject(rule, format!("experiment `{id}` {why}")))
}

/// Who may adopt, and when: an approver who neither proposed the hypothesis nor recorded its
/// runs, after the shadow test (unless the policy does not require one).
fn check_adoption(
    d: &Decider<'_>,
    x: &Experiment,
    id: &str,
    adopted: &[&VersionInfo],
) -> Result<(), Refusal> {
    d.require_role(Role::Approver, "adopt an experiment's versions")?;
    let me = &d.actor.principal;
    if x.hypothesis.proposed_by == *me {
        return Err(reject("four_eyes", format!("`{me}` proposed `{id}` and cannot adopt its versions")));
    }
    if x.recorders.contains(me) {
        return Err(reject(
            "four_eyes",
            format!("`{me}` recorded runs of `{id}` and cannot adopt their versions"),
        ));
    }
    if !d.policy.shadow.required {
        return Ok(());
    }
    if x.status != ExperimentStatus::ShadowTesting {
        return Err(reject(
            "experiment.shadow_required",
            format!(
                "experiment `{id}` is {}: its versions are adopted after a shadow test (`pledge experiment shadow {id}`); the policy's `shadow.required` says so",
                name(&x.status)
            ),
        ));
    }
    let planned = x.planned_windows.unwrap_or(1);
    let short: Vec<String> = adopted
        .iter()
        .filter_map(|v| {
            let seen = x.shadow_windows.get(&seg_key(v.segment.as_deref())).copied().unwrap_or(0);
            (seen < planned)
                .then(|| format!("segment `{}` has {seen} of {planned}", segment_text(v.segment.as_deref())))
        })
        .collect();
    if !short.is_empty() {
        return Err(reject(
            "experiment.shadow_incomplete",
            format!("the shadow test of `{id}` is not complete: {}", short.join("; ")),
        ));
    }
    Ok(())
}

/// Decides `experiment.complete`.
pub(super) fn complete(d: &Decider<'_>, b: &CompleteBody) -> Result<Vec<EventDraft>, Refusal> {
    nonempty("rationale", &b.rationale)?;
    check_metrics("result", &b.results)?;
    let id = &b.hypothesis_id;
    let x = d.experiment(id)?;
    check_status(x, id)?;
    let versions: Vec<&VersionInfo> =
        x.versions.iter().map(|v| d.version(&x.model, *v)).collect::<Result<_, _>>()?;
    let mut segments = b.adopt_segments.clone();
    segments.sort();
    segments.dedup();
    if segments.len() != b.adopt_segments.len() {
        return Err(invalid("`adopt_segments` lists a segment twice"));
    }
    match b.decision {
        Decision::PartialAdopt if segments.is_empty() => {
            return Err(invalid("`partial_adopt` needs `adopt_segments`"))
        }
        Decision::PartialAdopt => {
            if let Some(s) = segments.iter().find(|s| !versions.iter().any(|v| &v.segment == *s)) {
                return Err(reject(
                    "experiment.segment",
                    format!("experiment `{id}` has no version for segment `{}`", segment_text(s.as_deref())),
                ));
            }
        }
        _ if !segments.is_empty() => return Err(invalid("`adopt_segments` is only for `partial_adopt`")),
        _ => {}
    }
    let adopted = |v: &VersionInfo| match b.decision {
        Decision::Adopt => true,
        Decision::Reject => false,
        Decision::PartialAdopt => segments.contains(&v.segment),
    };
    let rules = d.rules(&x.model)?;
    let subj = subject(&x.model, None)?;
    let mut endorsed_by = vec![];
    if b.decision != Decision::Reject {
        if versions.is_empty() {
            return Err(reject(
                "experiment.no_versions",
                format!("experiment `{id}` produced no model version to adopt"),
            ));
        }
        let chosen: Vec<&VersionInfo> = versions.iter().copied().filter(|v| adopted(v)).collect();
        check_adoption(d, x, id, &chosen)?;
        let required = chosen.iter().map(|v| rules.approvals(v.segment.as_deref())).max().unwrap_or(1);
        let target = ApprovalTarget::Experiment {
            hypothesis_id: id.clone(),
            decision: b.decision,
            adopt_segments: segments.clone(),
        };
        match count_approval(d, target, required, &b.rationale, None)? {
            Approval::Endorse(e) => return Ok(vec![draft(Some(&subj), *e)?]),
            Approval::Promote { endorsed_by: earlier } => endorsed_by = earlier,
        }
    }
    let criterion = criterion(d, &rules, x, &versions, |v| b.decision == Decision::Reject || adopted(v));
    let outcomes: Vec<SegmentOutcome> = versions
        .iter()
        .map(|v| SegmentOutcome { segment: v.segment.clone(), version: v.version, adopted: adopted(v) })
        .collect();
    let mut out = vec![draft(
        Some(&subj),
        DomainEvent::ExperimentCompleted(ExperimentCompleted {
            hypothesis_id: id.clone(),
            completed_by: d.by(),
            decision: b.decision,
            outcomes,
            results: b.results.clone(),
            rationale: b.rationale.clone(),
            criterion,
            endorsed_by,
        }),
    )?];
    for v in versions {
        let vs = subject(&x.model, v.segment.as_deref())?;
        if adopted(v) {
            out.extend(promote(
                d,
                &vs,
                v.version,
                ChampionCause::Experiment,
                &d.actor.principal,
                Some(b.rationale.clone()),
                DraftCause::EarlierDraft(0),
            )?);
        } else {
            out.push(caused(
                Some(&vs),
                DomainEvent::VersionStatusChanged(VersionStatusChanged {
                    version: v.version,
                    from: v.status,
                    to: VersionStatus::Archived,
                    reason: format!("not adopted by `{id}`"),
                }),
                0,
            )?);
        }
    }
    Ok(out)
}
