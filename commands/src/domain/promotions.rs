//! Promotions by people: arena proposals, their approval (with k-of-n approvers and explicit
//! overrides of failed gates), and acting on alerts.

use ledger::{DraftCause, EventDraft, Refusal, Role, Subject};
use projections::events::*;
use projections::state::{AlertType, ProposalStatus};
use projections::VersionInfo;

use super::command::{AlertActionBody, ArenaRejectBody, ProposeBody};
use super::decide::{caused, draft, invalid, nonempty, reject, segment_text, subject, Decider};

/// Drafts that make `to` the champion of `subj`: the change itself, caused by `cause`, and the
/// old champion's archiving, caused by the same event, or by the change when the change is the
/// run's first event (`cause` is the command, which only the first event of a run names).
pub(super) fn promote(
    d: &Decider<'_>,
    subj: &Subject,
    to: u64,
    why: ChampionCause,
    by: &str,
    reason: Option<String>,
    cause: DraftCause,
) -> Result<Vec<EventDraft>, Refusal> {
    let from = d.state.model(&subj.model).and_then(|m| m.champion_of(subj.segment.as_deref()));
    let mut change = draft(
        Some(subj),
        DomainEvent::ChampionChanged(ChampionChanged {
            from,
            to,
            cause: why,
            by: by.to_string(),
            reason,
            policy_version: d.state.policy_version,
        }),
    )?;
    change.cause = cause.clone();
    let mut out = vec![change];
    if let Some(old) = from.filter(|f| *f != to) {
        let by = match cause {
            DraftCause::ThisCommand => 0,
            DraftCause::EarlierDraft(i) => i,
        };
        out.push(caused(
            Some(subj),
            DomainEvent::VersionStatusChanged(VersionStatusChanged {
                version: old,
                from: VersionStatus::Champion,
                to: VersionStatus::Archived,
                reason: format!("replaced by v{to}"),
            }),
            by,
        )?);
    }
    Ok(out)
}

/// Decides `arena.propose`.
pub(super) fn propose(d: &Decider<'_>, b: &ProposeBody) -> Result<Vec<EventDraft>, Refusal> {
    let rules = d.rules(&b.model)?;
    let model =
        d.state.model(&b.model).ok_or_else(|| reject("model.unknown", format!("no model `{}`", b.model)))?;
    let champ_v = model.champion_of(b.segment.as_deref()).ok_or_else(|| {
        reject(
            "champion.none",
            format!(
                "`{}` has no champion for segment `{}`; bootstrap one first",
                b.model,
                segment_text(b.segment.as_deref())
            ),
        )
    })?;
    let open = |v: &VersionInfo| matches!(v.status, VersionStatus::Challenger | VersionStatus::Candidate);
    let challenger = match b.challenger {
        Some(c) => d.version(&b.model, c)?,
        None => super::judge::best_challenger(d.state, &rules, b.segment.as_deref()).ok_or_else(|| {
            reject(
                "challenger.none",
                format!(
                    "`{}` has no challenger for segment `{}` with the metrics policy `{}` judges",
                    b.model,
                    segment_text(b.segment.as_deref()),
                    rules.gates().1
                ),
            )
        })?,
    };
    if challenger.segment != b.segment {
        return Err(reject(
            "version.segment",
            format!("v{} does not serve this segment", challenger.version),
        ));
    }
    if !open(challenger) {
        return Err(reject(
            "version.status",
            format!(
                "v{} is {}, not a challenger",
                challenger.version,
                projections::state::name(&challenger.status)
            ),
        ));
    }
    if d.state.proposals.values().any(|p| {
        p.status == ProposalStatus::Pending
            && p.proposed.challenger == challenger.version
            && p.subject.model == b.model
    }) {
        return Err(reject(
            "proposal.pending",
            format!("v{} already has a pending proposal", challenger.version),
        ));
    }
    let champ = d.version(&b.model, champ_v)?;
    let gates = rules
        .evaluate(&challenger.metrics, &champ.metrics)
        .map_err(|e| reject("promotion.missing_metric", e.to_string()))?;
    let passed = gates.iter().all(|g| g.passed);
    let vs = subject(&b.model, b.segment.as_deref())?;
    Ok(vec![draft(
        Some(&vs),
        DomainEvent::PromotionProposed(PromotionProposed {
            proposal_id: format!("P-{}", d.next_seq),
            challenger: challenger.version,
            champion: Some(champ_v),
            gates,
            passed,
            proposed_by: d.by(),
            policy_version: d.state.policy_version,
        }),
    )?])
}

/// Where a promotion by people stands after this approval.
pub(super) enum Approval {
    /// More approvers are needed: record this one.
    Endorse(Box<DomainEvent>),
    /// This approval is the k-th: promote; `endorsed_by` approved before, in order.
    Promote { endorsed_by: Vec<String> },
}

/// Counts this approval of `target` (which needs `required` distinct approvers): refused if
/// the signer approved it already.
pub(super) fn count_approval(
    d: &Decider<'_>,
    target: ApprovalTarget,
    required: u32,
    notes: &str,
    override_reason: Option<&str>,
) -> Result<Approval, Refusal> {
    let earlier = d.state.endorsements.get(&target.key()).map(|e| e.by.clone()).unwrap_or_default();
    if earlier.contains(&d.actor.principal) {
        return Err(reject(
            "approval.repeated",
            format!(
                "`{}` already approved this; it needs {required} different approvers ({} so far: {})",
                d.actor.principal,
                earlier.len(),
                earlier.join(", ")
            ),
        ));
    }
    let approvals = earlier.len() as u32 + 1;
    if approvals >= required {
        return Ok(Approval::Promote { endorsed_by: earlier });
    }
    Ok(Approval::Endorse(Box::new(DomainEvent::PromotionEndorsed(PromotionEndorsed {
        target,
        by: d.by(),
        notes: notes.to_string(),
        override_reason: override_reason.map(str::to_string),
        approvals,
        required,
        policy_version: d.state.policy_version,
    }))))
}

fn override_reason(override_reason: Option<&str>) -> Result<Option<String>, Refusal> {
    match override_reason {
        None => Ok(None),
        Some(r) => {
            nonempty("override_reason", r)?;
            Ok(Some(r.to_string()))
        }
    }
}

/// Approves a pending proposal (from `arena.approve`, or from approving its alert).
pub(super) fn approve_proposal(
    d: &Decider<'_>,
    id: &str,
    notes: String,
    override_given: Option<&str>,
    alert: Option<&str>,
) -> Result<Vec<EventDraft>, Refusal> {
    let p =
        d.state.proposals.get(id).ok_or_else(|| reject("proposal.unknown", format!("no proposal `{id}`")))?;
    if p.status != ProposalStatus::Pending {
        return Err(reject(
            "proposal.decided",
            format!("proposal `{id}` is already {}", projections::state::name(&p.status)),
        ));
    }
    if p.proposed.proposed_by == d.actor.principal {
        return Err(reject(
            "four_eyes",
            format!("`{}` proposed `{id}` and cannot approve it; another approver must", d.actor.principal),
        ));
    }
    let current = d.state.model(&p.subject.model).and_then(|m| m.champion_of(p.subject.segment.as_deref()));
    if current != p.proposed.champion {
        return Err(reject(
            "proposal.stale",
            format!("the champion changed since `{id}` was proposed; propose again"),
        ));
    }
    let overriding = override_reason(override_given)?;
    match (p.proposed.passed, &overriding) {
        (false, None) => {
            let failed: Vec<String> = p
                .proposed
                .gates
                .iter()
                .filter(|g| !g.passed)
                .map(|g| format!("{} {} vs threshold {}", g.metric, g.candidate, g.threshold))
                .collect();
            return Err(reject(
                "promotion.gates_failed",
                format!(
                    "`{id}` failed its gates under policy v{} ({}); approving it needs an explicit override with a reason (`override_reason`, `--override-reason`)",
                    p.proposed.policy_version,
                    failed.join("; ")
                ),
            ));
        }
        (true, Some(_)) => {
            return Err(invalid(format!("`{id}` passed its gates: there is nothing to override")));
        }
        _ => {}
    }
    let rules = d.rules(&p.subject.model)?;
    let required = rules.approvals(p.subject.segment.as_deref());
    let target = ApprovalTarget::Proposal { proposal_id: id.to_string() };
    let endorsed_by = match count_approval(d, target, required, &notes, overriding.as_deref())? {
        Approval::Endorse(e) => return Ok(vec![draft(Some(&p.subject), *e)?]),
        Approval::Promote { endorsed_by } => endorsed_by,
    };
    let mut out = vec![];
    if let Some(a) = alert {
        out.push(draft(
            Some(&p.subject),
            DomainEvent::AlertActioned(AlertActioned {
                alert_id: a.into(),
                action: AlertAction::Approve,
                notes: notes.clone(),
                by: d.by(),
                version: Some(p.proposed.challenger),
            }),
        )?);
    }
    let at = out.len();
    let mut approved = draft(
        Some(&p.subject),
        DomainEvent::PromotionApproved(PromotionDecided {
            proposal_id: id.into(),
            by: d.by(),
            notes: notes.clone(),
            override_reason: overriding,
            endorsed_by,
        }),
    )?;
    if at > 0 {
        // Approved through its alert: the alert's action comes first and explains it.
        approved.cause = DraftCause::EarlierDraft(0);
    }
    out.push(approved);
    let reason = if notes.is_empty() { None } else { Some(notes) };
    out.extend(promote(
        d,
        &p.subject,
        p.proposed.challenger,
        ChampionCause::Approval,
        &d.actor.principal,
        reason,
        DraftCause::EarlierDraft(at),
    )?);
    Ok(out)
}

/// Decides `arena.reject`.
pub(super) fn reject_proposal(d: &Decider<'_>, b: &ArenaRejectBody) -> Result<Vec<EventDraft>, Refusal> {
    nonempty("reason", &b.reason)?;
    let p = d
        .state
        .proposals
        .get(&b.proposal_id)
        .ok_or_else(|| reject("proposal.unknown", format!("no proposal `{}`", b.proposal_id)))?;
    if p.status != ProposalStatus::Pending {
        return Err(reject(
            "proposal.decided",
            format!("proposal `{}` is already {}", b.proposal_id, projections::state::name(&p.status)),
        ));
    }
    Ok(vec![draft(
        Some(&p.subject),
        DomainEvent::PromotionRejected(PromotionDecided {
            proposal_id: b.proposal_id.clone(),
            by: d.by(),
            notes: b.reason.clone(),
            override_reason: None,
            endorsed_by: vec![],
        }),
    )?])
}

/// Decides `alert.action`.
pub(super) fn alert_action(d: &Decider<'_>, b: &AlertActionBody) -> Result<Vec<EventDraft>, Refusal> {
    let a = d
        .state
        .alerts
        .get(&b.alert_id)
        .ok_or_else(|| reject("alert.unknown", format!("no alert `{}`", b.alert_id)))?;
    if !a.status.is_open() {
        return Err(reject(
            "alert.closed",
            format!("alert `{}` is already {}", b.alert_id, a.status.as_str()),
        ));
    }
    let actioned = |version: Option<u64>| {
        DomainEvent::AlertActioned(AlertActioned {
            alert_id: b.alert_id.clone(),
            action: b.action,
            notes: b.notes.clone(),
            by: d.by(),
            version,
        })
    };
    if b.action != AlertAction::Approve {
        if b.version.is_some() || b.override_reason.is_some() {
            return Err(invalid("`version` and `override_reason` are only for approving an alert"));
        }
        return Ok(vec![draft(a.subject.as_ref(), actioned(None))?]);
    }
    d.require_role(Role::Approver, "approve an alert")?;
    match a.alert_type {
        AlertType::PromotionPending => {
            let id = a.proposal_id.clone().unwrap_or_default();
            let challenger = d.state.proposals.get(&id).map(|p| p.proposed.challenger);
            if b.version.is_some() && b.version != challenger {
                return Err(invalid(format!(
                    "alert `{}` proposes v{}, not v{}",
                    b.alert_id,
                    challenger.unwrap_or_default(),
                    b.version.unwrap_or_default()
                )));
            }
            approve_proposal(d, &id, b.notes.clone(), b.override_reason.as_deref(), Some(&b.alert_id))
        }
        AlertType::DriftDetected => approve_drift(d, b, a),
        other => Err(reject(
            "alert.not_approvable",
            format!(
                "a `{}` alert ({}) decides nothing: acknowledge or dismiss it",
                other.as_str(),
                other.severity().as_str()
            ),
        )),
    }
}

/// Approving a drift alert promotes one challenger its retrains produced: the one named, or
/// the only one.
fn approve_drift(
    d: &Decider<'_>,
    b: &AlertActionBody,
    a: &projections::Alert,
) -> Result<Vec<EventDraft>, Refusal> {
    if b.override_reason.is_some() {
        return Err(invalid("`override_reason` is for approving a pending promotion whose gates failed"));
    }
    let mut candidates: Vec<(&projections::state::Run, &VersionInfo)> = vec![];
    for run in d.state.runs.values().filter(|r| r.run.drift_event.as_deref() == Some(b.alert_id.as_str())) {
        for v in &run.versions {
            let info = d.version(&run.model, *v)?;
            if info.status == VersionStatus::Challenger {
                candidates.push((run, info));
            }
        }
    }
    candidates.sort_by_key(|(_, v)| v.version);
    let list = || {
        candidates
            .iter()
            .map(|(_, v)| format!("v{} (segment `{}`)", v.version, segment_text(v.segment.as_deref())))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (run, v) = match b.version {
        Some(want) => *candidates.iter().find(|(_, v)| v.version == want).ok_or_else(|| {
            reject(
                "alert.version",
                format!(
                    "v{want} is no challenger of a retrain answering `{}`{}",
                    b.alert_id,
                    if candidates.is_empty() { String::new() } else { format!("; those are {}", list()) }
                ),
            )
        })?,
        None => match candidates.as_slice() {
            [] => {
                return Err(reject(
                    "alert.nothing_to_approve",
                    format!("no retrain answering drift alert `{}` left a challenger to promote", b.alert_id),
                ))
            }
            [one] => *one,
            _ => {
                return Err(reject(
                    "alert.ambiguous",
                    format!(
                        "retrains answering `{}` left several challengers ({}); name the one to promote (`version`, `--version`)",
                        b.alert_id,
                        list()
                    ),
                ))
            }
        },
    };
    if run.run.recorded_by == d.actor.principal {
        return Err(reject(
            "four_eyes",
            format!(
                "`{}` recorded the retrain `{}` and cannot approve it",
                d.actor.principal, run.run.run_id
            ),
        ));
    }
    let rules = d.rules(&run.model)?;
    let required = rules.approvals(v.segment.as_deref());
    let vs = subject(&run.model, v.segment.as_deref())?;
    let target = ApprovalTarget::DriftAlert { alert_id: b.alert_id.clone(), version: v.version };
    match count_approval(d, target, required, &b.notes, None)? {
        Approval::Endorse(e) => Ok(vec![draft(Some(&vs), *e)?]),
        Approval::Promote { .. } => {
            let mut out = vec![draft(
                a.subject.as_ref(),
                DomainEvent::AlertActioned(AlertActioned {
                    alert_id: b.alert_id.clone(),
                    action: AlertAction::Approve,
                    notes: b.notes.clone(),
                    by: d.by(),
                    version: Some(v.version),
                }),
            )?];
            out.extend(promote(
                d,
                &vs,
                v.version,
                ChampionCause::Approval,
                &d.actor.principal,
                Some(b.notes.clone()),
                DraftCause::EarlierDraft(0),
            )?);
            Ok(out)
        }
    }
}
