//! The decide step of the domain: `decide(state, signed command) -> events | rejection`.
//! Pure: it reads the folded [`State`] and the command, does no I/O, and names the rule behind
//! every rejection.

use std::collections::BTreeMap;

use ledger::{
    Actor, Context, DraftCause, EventDraft, RecordedEvent, Refusal, Rejection, Role, SignedCommand, Subject,
};
use projections::events::*;
use projections::state::name;
use projections::{seg_key, AlertStatus, ExperimentStatus, State, VersionInfo};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::policy::Policy;

/// The Pledge domain plugged into the ledger's append path.
#[derive(Debug, Default, Clone)]
pub struct PledgeDomain {
    /// Every read model, as of the last applied event.
    pub state: State,
}

impl ledger::Domain for PledgeDomain {
    fn decide(&self, ctx: &Context<'_>, cmd: &SignedCommand) -> Result<Vec<EventDraft>, Refusal> {
        decide(&self.state, ctx, cmd)
    }

    fn apply(&mut self, event: &RecordedEvent) {
        self.state.apply(event);
    }
}

fn body<T: DeserializeOwned>(cmd: &SignedCommand) -> Result<T, Refusal> {
    // From a reference: the body is not copied to be decoded.
    T::deserialize(&cmd.command().body)
        .map_err(|e| Refusal::Invalid(format!("`{}` body: {e}", cmd.command().kind)))
}

fn reject(rule: &str, message: impl Into<String>) -> Refusal {
    Rejection::new(rule, message).into()
}

fn invalid(message: impl Into<String>) -> Refusal {
    Refusal::Invalid(message.into())
}

fn draft<T: Serialize>(kind: &str, subject: &Subject, payload: &T) -> Result<EventDraft, Refusal> {
    Ok(EventDraft::new(kind, Some(subject.clone()), value(payload)?))
}

/// A payload as JSON. Payloads are plain data, so this fails only on a bug; the decide step
/// reports it as invalid input rather than panicking on the writer thread.
fn value<T: Serialize>(payload: &T) -> Result<Value, Refusal> {
    serde_json::to_value(payload).map_err(|e| invalid(format!("payload cannot be encoded: {e}")))
}

fn subject(model: &str, segment: Option<&str>) -> Result<Subject, Refusal> {
    let s = Subject { model: model.to_string(), segment: segment.map(str::to_string) };
    s.validate().map_err(invalid)?;
    Ok(s)
}

fn check_metrics(what: &str, m: &Metrics) -> Result<(), Refusal> {
    match m.iter().find(|(_, v)| !v.is_finite()) {
        Some((k, _)) => Err(invalid(format!("{what} metric `{k}` is not a finite number"))),
        None => Ok(()),
    }
}

fn nonempty(field: &str, v: &str) -> Result<(), Refusal> {
    if v.trim().is_empty() {
        Err(invalid(format!("`{field}` must not be empty")))
    } else {
        Ok(())
    }
}

fn require_role(actor: &Actor, role: Role, what: &str) -> Result<(), Refusal> {
    if actor.roles.contains(&role) {
        Ok(())
    } else {
        Err(reject(
            "role.not_allowed",
            format!("`{}` may not {what}: it needs the `{}` role", actor.principal, role.as_str()),
        ))
    }
}

fn policy(state: &State) -> Result<Policy, Refusal> {
    Policy::from_document(&state.policy).map_err(|e| reject("policy.invalid", e))
}

fn version<'a>(state: &'a State, model: &str, v: u64) -> Result<&'a VersionInfo, Refusal> {
    state
        .model(model)
        .and_then(|m| m.versions.get(&v))
        .ok_or_else(|| reject("version.unknown", format!("model `{model}` has no version v{v}")))
}

/// Drafts that make `to` the champion of `subject`: the change itself, caused by `cause`, and
/// the old champion's archiving, caused by the same event, or by the change when the change is
/// the run's first event (`cause` is the command, which only the first event of a run names).
fn promote(
    state: &State,
    subj: &Subject,
    to: u64,
    why: ChampionCause,
    by: &str,
    reason: Option<String>,
    cause: DraftCause,
) -> Result<Vec<EventDraft>, Refusal> {
    let policy_version = state.policy_version;
    let from =
        state.model(&subj.model).and_then(|m| m.champions.get(&seg_key(subj.segment.as_deref())).copied());
    let mut out = vec![];
    let mut change = draft(
        "champion.changed",
        subj,
        &ChampionChanged { from, to, cause: why, by: by.to_string(), reason, policy_version },
    )?;
    change.cause = cause.clone();
    out.push(change);
    if let Some(old) = from.filter(|f| *f != to) {
        let mut archive = draft(
            "version.status_changed",
            subj,
            &VersionStatusChanged {
                version: old,
                from: VersionStatus::Champion,
                to: VersionStatus::Archived,
                reason: format!("replaced by v{to}"),
            },
        )?;
        archive.cause = match cause {
            DraftCause::ThisCommand => DraftCause::EarlierDraft(0),
            earlier => earlier,
        };
        out.push(archive);
    }
    Ok(out)
}

/// The JSON Schema of a domain command's body, `None` for a kind this module does not decide.
pub fn command_schema(kind: &str) -> Option<Value> {
    use schemars::schema_for;
    let s = match kind {
        "dataset.register" => schema_for!(DatasetBody),
        "hypothesis.propose" => schema_for!(HypothesisBody),
        "experiment.approve" | "experiment.reject" => schema_for!(ReviewBody),
        "experiment.start" | "experiment.shadow" => schema_for!(StepBody),
        "experiment.complete" => schema_for!(CompleteBody),
        "run.record" => schema_for!(RunBody),
        "backtest.record" => schema_for!(BacktestBody),
        "shadow.record" => schema_for!(ShadowBody),
        "drift.record" => schema_for!(DriftBody),
        "champion.bootstrap" => schema_for!(BootstrapBody),
        "arena.propose" => schema_for!(ProposeBody),
        "arena.approve" => schema_for!(ArenaDecision),
        "arena.reject" => schema_for!(ArenaRejectBody),
        "rollback" => schema_for!(RollbackBody),
        "alert.read" => schema_for!(AlertReadBody),
        "alert.action" => schema_for!(AlertActionBody),
        "release.decide" => schema_for!(ReleaseBody),
        _ => return None,
    };
    Some(serde_json::to_value(s).expect("schemas are JSON"))
}

/// Every command kind the domain decides.
pub const COMMAND_KINDS: [&str; 19] = [
    "dataset.register",
    "hypothesis.propose",
    "experiment.approve",
    "experiment.reject",
    "experiment.start",
    "experiment.shadow",
    "experiment.complete",
    "run.record",
    "backtest.record",
    "shadow.record",
    "drift.record",
    "champion.bootstrap",
    "arena.propose",
    "arena.approve",
    "arena.reject",
    "rollback",
    "alert.read",
    "alert.action",
    "release.decide",
];

/// Decides one domain command.
pub fn decide(state: &State, ctx: &Context<'_>, cmd: &SignedCommand) -> Result<Vec<EventDraft>, Refusal> {
    let actor = ctx.actor;
    let next_seq = ctx.head.map_or(0, |h| h.seq + 1);
    match cmd.command().kind.as_str() {
        "dataset.register" => dataset_register(state, cmd),
        "hypothesis.propose" => hypothesis_propose(state, actor, cmd),
        "experiment.approve" | "experiment.reject" => experiment_review(state, actor, cmd),
        "experiment.start" | "experiment.shadow" => experiment_step(state, actor, cmd),
        "experiment.complete" => experiment_complete(state, actor, cmd),
        "run.record" => run_record(state, actor, cmd),
        "backtest.record" => backtest_record(state, cmd),
        "shadow.record" => shadow_record(state, cmd),
        "drift.record" => drift_record(state, cmd),
        "champion.bootstrap" => bootstrap(state, actor, cmd),
        "arena.propose" => arena_propose(state, actor, cmd, next_seq),
        "arena.approve" => {
            let b: ArenaDecision = body(cmd)?;
            approve_proposal(state, actor, &b.proposal_id, b.notes.unwrap_or_default(), None)
        }
        "arena.reject" => arena_reject(state, actor, cmd),
        "rollback" => rollback(state, actor, cmd),
        "alert.read" => alert_read(state, actor, cmd),
        "alert.action" => alert_action(state, actor, cmd),
        "release.decide" => release_decide(state, actor, cmd),
        other => Err(reject("command.unknown_kind", format!("no handler for command kind `{other}`"))),
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct DatasetBody {
    dataset: String,
    version: String,
    digest: String,
    rows: Option<u64>,
    description: Option<String>,
}

fn dataset_register(state: &State, cmd: &SignedCommand) -> Result<Vec<EventDraft>, Refusal> {
    let b: DatasetBody = body(cmd)?;
    nonempty("dataset", &b.dataset)?;
    nonempty("version", &b.version)?;
    b.digest.parse::<ledger::Digest>().map_err(|e| invalid(e.to_string()))?;
    let key = format!("{}@{}", b.dataset, b.version);
    if state.datasets.contains_key(&key) {
        return Err(reject("dataset.exists", format!("dataset `{key}` is already registered")));
    }
    let p = DatasetRegistered {
        dataset: b.dataset,
        version: b.version,
        digest: b.digest,
        rows: b.rows,
        description: b.description,
    };
    Ok(vec![EventDraft::new("dataset.registered", None, value(&p)?)])
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct HypothesisBody {
    hypothesis_id: String,
    model: String,
    statement: String,
    change_type: ChangeType,
    change_summary: Option<String>,
    target_metric: String,
    expected_improvement_pct: f64,
    owner: String,
    dataset_version: Option<String>,
    feature_set_version: Option<String>,
}

fn hypothesis_propose(state: &State, actor: &Actor, cmd: &SignedCommand) -> Result<Vec<EventDraft>, Refusal> {
    let b: HypothesisBody = body(cmd)?;
    nonempty("hypothesis_id", &b.hypothesis_id)?;
    nonempty("statement", &b.statement)?;
    nonempty("target_metric", &b.target_metric)?;
    if !b.expected_improvement_pct.is_finite() {
        return Err(invalid("`expected_improvement_pct` must be a finite number"));
    }
    if state.experiments.contains_key(&b.hypothesis_id) {
        return Err(reject("hypothesis.exists", format!("hypothesis `{}` already exists", b.hypothesis_id)));
    }
    let subj = subject(&b.model, None)?;
    let p = HypothesisProposed {
        hypothesis_id: b.hypothesis_id,
        statement: b.statement,
        change_type: b.change_type,
        change_summary: b.change_summary,
        target_metric: b.target_metric,
        expected_improvement_pct: b.expected_improvement_pct,
        owner: b.owner,
        proposed_by: actor.principal.clone(),
        dataset_version: b.dataset_version,
        feature_set_version: b.feature_set_version,
    };
    Ok(vec![draft("hypothesis.proposed", &subj, &p)?])
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ReviewBody {
    hypothesis_id: String,
    rationale: String,
    #[serde(default)]
    constraints: Vec<String>,
}

fn experiment<'a>(state: &'a State, id: &str) -> Result<&'a projections::Experiment, Refusal> {
    state.experiments.get(id).ok_or_else(|| reject("experiment.unknown", format!("no hypothesis `{id}`")))
}

fn experiment_review(state: &State, actor: &Actor, cmd: &SignedCommand) -> Result<Vec<EventDraft>, Refusal> {
    let b: ReviewBody = body(cmd)?;
    nonempty("rationale", &b.rationale)?;
    let x = experiment(state, &b.hypothesis_id)?;
    if x.status != ExperimentStatus::Proposed {
        return Err(reject(
            "experiment.already_reviewed",
            format!("experiment `{}` is {}, not awaiting review", b.hypothesis_id, name(&x.status)),
        ));
    }
    if x.hypothesis.proposed_by == actor.principal {
        return Err(reject(
            "four_eyes",
            format!("`{}` proposed `{}` and cannot review it", actor.principal, b.hypothesis_id),
        ));
    }
    let subj = subject(&x.model, None)?;
    Ok(vec![if cmd.command().kind == "experiment.approve" {
        draft(
            "experiment.approved",
            &subj,
            &ExperimentApproved {
                hypothesis_id: b.hypothesis_id,
                approved_by: actor.principal.clone(),
                rationale: b.rationale,
                constraints: b.constraints,
            },
        )?
    } else {
        draft(
            "experiment.rejected",
            &subj,
            &ExperimentRejected {
                hypothesis_id: b.hypothesis_id,
                rejected_by: actor.principal.clone(),
                rationale: b.rationale,
            },
        )?
    }])
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct StepBody {
    hypothesis_id: String,
    planned_windows: Option<u32>,
}

fn experiment_step(state: &State, actor: &Actor, cmd: &SignedCommand) -> Result<Vec<EventDraft>, Refusal> {
    let b: StepBody = body(cmd)?;
    let x = experiment(state, &b.hypothesis_id)?;
    let start = cmd.command().kind == "experiment.start";
    let (need, kind) = if start {
        (ExperimentStatus::Approved, "experiment.started")
    } else {
        (ExperimentStatus::InProgress, "experiment.shadow_started")
    };
    if x.status != need {
        let rule = if matches!(x.status, ExperimentStatus::Proposed | ExperimentStatus::Rejected) {
            "experiment.not_approved"
        } else {
            "experiment.state"
        };
        return Err(reject(
            rule,
            format!(
                "experiment `{}` is {}; `{}` needs it {}",
                b.hypothesis_id,
                name(&x.status),
                cmd.command().kind,
                name(&need)
            ),
        ));
    }
    let planned =
        if start { None } else { Some(b.planned_windows.unwrap_or(policy(state)?.shadow_windows).max(1)) };
    let subj = subject(&x.model, None)?;
    Ok(vec![draft(
        kind,
        &subj,
        &ExperimentStep {
            hypothesis_id: b.hypothesis_id,
            by: actor.principal.clone(),
            planned_windows: planned,
        },
    )?])
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct CompleteBody {
    hypothesis_id: String,
    decision: Decision,
    #[serde(default)]
    adopt_segments: Vec<Option<String>>,
    #[serde(default)]
    results: BTreeMap<String, f64>,
    rationale: String,
}

fn experiment_complete(
    state: &State,
    actor: &Actor,
    cmd: &SignedCommand,
) -> Result<Vec<EventDraft>, Refusal> {
    let b: CompleteBody = body(cmd)?;
    nonempty("rationale", &b.rationale)?;
    check_metrics("result", &b.results)?;
    let x = experiment(state, &b.hypothesis_id)?;
    match x.status {
        ExperimentStatus::InProgress | ExperimentStatus::ShadowTesting => {}
        ExperimentStatus::Proposed | ExperimentStatus::Rejected => {
            return Err(reject(
                "experiment.not_approved",
                format!("experiment `{}` was never approved", b.hypothesis_id),
            ))
        }
        ExperimentStatus::Approved => {
            return Err(reject(
                "experiment.not_started",
                format!("experiment `{}` was approved but never started", b.hypothesis_id),
            ))
        }
        ExperimentStatus::Completed => {
            return Err(reject(
                "experiment.completed",
                format!("experiment `{}` is already completed", b.hypothesis_id),
            ))
        }
    }
    let model = state.model(&x.model);
    let versions: Vec<&VersionInfo> =
        x.versions.iter().filter_map(|v| model.and_then(|m| m.versions.get(v))).collect();
    if b.decision != Decision::Reject && versions.is_empty() {
        return Err(reject(
            "experiment.no_versions",
            format!("experiment `{}` produced no model version to adopt", b.hypothesis_id),
        ));
    }
    if b.decision == Decision::PartialAdopt {
        if b.adopt_segments.is_empty() {
            return Err(invalid("`partial_adopt` needs `adopt_segments`"));
        }
        for s in &b.adopt_segments {
            if !versions.iter().any(|v| &v.segment == s) {
                return Err(reject(
                    "experiment.segment",
                    format!(
                        "experiment `{}` has no version for segment `{}`",
                        b.hypothesis_id,
                        s.as_deref().unwrap_or("(global)")
                    ),
                ));
            }
        }
    } else if !b.adopt_segments.is_empty() {
        return Err(invalid("`adopt_segments` is only for `partial_adopt`"));
    }
    let adopted = |v: &VersionInfo| match b.decision {
        Decision::Adopt => true,
        Decision::Reject => false,
        Decision::PartialAdopt => b.adopt_segments.contains(&v.segment),
    };
    let outcomes: Vec<SegmentOutcome> = versions
        .iter()
        .map(|v| SegmentOutcome { segment: v.segment.clone(), version: v.version, adopted: adopted(v) })
        .collect();
    let subj = subject(&x.model, None)?;
    let mut out = vec![draft(
        "experiment.completed",
        &subj,
        &ExperimentCompleted {
            hypothesis_id: b.hypothesis_id.clone(),
            completed_by: actor.principal.clone(),
            decision: b.decision,
            outcomes,
            results: b.results,
            rationale: b.rationale.clone(),
        },
    )?];
    for v in versions {
        let vs = subject(&x.model, v.segment.as_deref())?;
        if adopted(v) {
            out.extend(promote(
                state,
                &vs,
                v.version,
                ChampionCause::Experiment,
                &actor.principal,
                Some(b.rationale.clone()),
                DraftCause::EarlierDraft(0),
            )?);
        } else {
            let mut d = draft(
                "version.status_changed",
                &vs,
                &VersionStatusChanged {
                    version: v.version,
                    from: v.status,
                    to: VersionStatus::Archived,
                    reason: format!("not adopted by `{}`", b.hypothesis_id),
                },
            )?;
            d.cause = DraftCause::EarlierDraft(0);
            out.push(d);
        }
    }
    Ok(out)
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RunModel {
    segment: Option<String>,
    artifact_digest: String,
    metrics: Metrics,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RunBacktest {
    segment: Option<String>,
    window_start: String,
    window_end: String,
    metrics: Metrics,
    rows: u64,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RunBody {
    run_id: String,
    model: String,
    trigger: Trigger,
    hypothesis_id: Option<String>,
    drift_alert_id: Option<String>,
    dataset_digest: String,
    dataset_version: Option<String>,
    feature_set: Option<String>,
    config_digest: Option<String>,
    code_version: Option<String>,
    trainer: String,
    #[serde(default)]
    params: Value,
    metrics: Metrics,
    started_at: Option<String>,
    finished_at: Option<String>,
    models: Vec<RunModel>,
    #[serde(default)]
    backtests: Vec<RunBacktest>,
}

fn degraded(policy: &Policy, baseline: &Metrics, window: &Metrics) -> bool {
    let m = &policy.drift_metric;
    match (baseline.get(m), window.get(m)) {
        (Some(b), Some(w)) if *b > 0.0 => (w - b) / b * 100.0 > policy.backtest_max_pct,
        _ => false,
    }
}

fn run_record(state: &State, actor: &Actor, cmd: &SignedCommand) -> Result<Vec<EventDraft>, Refusal> {
    let b: RunBody = body(cmd)?;
    nonempty("run_id", &b.run_id)?;
    nonempty("trainer", &b.trainer)?;
    b.dataset_digest.parse::<ledger::Digest>().map_err(|e| invalid(format!("`dataset_digest`: {e}")))?;
    check_metrics("run", &b.metrics)?;
    if b.models.is_empty() {
        return Err(invalid("a run must list at least one model in `models`"));
    }
    let params = match b.params {
        Value::Null => Value::Object(Default::default()),
        p @ Value::Object(_) => p,
        _ => return Err(invalid("`params` must be an object of hyper-parameters")),
    };
    if state.runs.contains_key(&b.run_id) {
        return Err(reject("run.exists", format!("run `{}` is already recorded", b.run_id)));
    }
    let policy = policy(state)?.for_model(&b.model);
    // Trigger rules.
    match b.trigger {
        Trigger::Experiment => {
            let id = b
                .hypothesis_id
                .as_deref()
                .ok_or_else(|| invalid("an `experiment` run needs `hypothesis_id`"))?;
            let x = experiment(state, id)?;
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
        Trigger::DriftDetected => {
            let id = b
                .drift_alert_id
                .as_deref()
                .ok_or_else(|| invalid("a `drift_detected` run needs `drift_alert_id`"))?;
            let a = state
                .alerts
                .get(id)
                .filter(|a| a.alert_type == "drift_detected")
                .ok_or_else(|| reject("alert.unknown", format!("no drift alert `{id}`")))?;
            if a.subject.as_ref().map(|s| s.model.as_str()) != Some(b.model.as_str()) {
                return Err(reject("alert.model", format!("drift alert `{id}` is not about `{}`", b.model)));
            }
        }
        _ => {}
    }
    let run_subj = subject(&b.model, None)?;
    let mut segments = std::collections::BTreeSet::new();
    for m in &b.models {
        check_metrics("model", &m.metrics)?;
        m.artifact_digest
            .parse::<ledger::Digest>()
            .map_err(|e| invalid(format!("`artifact_digest`: {e}")))?;
        if !segments.insert(m.segment.clone()) {
            return Err(invalid(format!(
                "segment `{}` is listed twice in `models`",
                m.segment.as_deref().unwrap_or("(global)")
            )));
        }
    }
    if let Some(w) = b.backtests.iter().find(|w| !segments.contains(&w.segment)) {
        return Err(invalid(format!(
            "a backtest window is for segment `{}`, which has no model in `models`",
            w.segment.as_deref().unwrap_or("(global)")
        )));
    }
    let mut out = vec![draft(
        "run.recorded",
        &run_subj,
        &RunRecorded {
            run_id: b.run_id.clone(),
            trigger: b.trigger,
            hypothesis_id: b.hypothesis_id.clone(),
            drift_event: b.drift_alert_id.clone(),
            dataset_digest: b.dataset_digest,
            dataset_version: b.dataset_version,
            feature_set: b.feature_set,
            config_digest: b.config_digest,
            code_version: b.code_version,
            trainer: b.trainer,
            params,
            metrics: b.metrics,
            recorded_by: actor.principal.clone(),
            started_at: b.started_at,
            finished_at: b.finished_at,
        },
    )?];
    let first = state.model(&b.model).map_or(1, |m| m.next_version());
    let initial = match b.trigger {
        Trigger::Experiment => VersionStatus::Experimental,
        Trigger::DriftDetected => VersionStatus::Challenger,
        _ => VersionStatus::Candidate,
    };
    for (i, m) in b.models.iter().enumerate() {
        let v = first + i as u64;
        let vs = subject(&b.model, m.segment.as_deref())?;
        let mut reg = draft(
            "version.registered",
            &vs,
            &VersionRegistered {
                version: v,
                run_id: b.run_id.clone(),
                artifact_digest: m.artifact_digest.clone(),
                status: initial,
                metrics: m.metrics.clone(),
            },
        )?;
        reg.cause = DraftCause::EarlierDraft(0);
        out.push(reg);
        for w in b.backtests.iter().filter(|w| w.segment == m.segment) {
            check_metrics("backtest", &w.metrics)?;
            let mut d = draft(
                "backtest.recorded",
                &vs,
                &BacktestRecorded {
                    version: v,
                    window_start: w.window_start.clone(),
                    window_end: w.window_end.clone(),
                    metrics: w.metrics.clone(),
                    rows: w.rows,
                    degraded: degraded(&policy, &m.metrics, &w.metrics),
                    policy_version: state.policy_version,
                },
            )?;
            d.cause = DraftCause::EarlierDraft(0);
            out.push(d);
        }
        if initial != VersionStatus::Candidate {
            continue;
        }
        // Judge the candidate against the segment's champion (none yet: it waits for a bootstrap).
        let Some(champ) = state
            .model(&b.model)
            .and_then(|mm| mm.champions.get(&seg_key(m.segment.as_deref())))
            .and_then(|c| state.model(&b.model)?.versions.get(c))
        else {
            continue;
        };
        let gates =
            policy.evaluate(&m.metrics, &champ.metrics).map_err(|e| reject("promotion.missing_metric", e))?;
        let passed = gates.iter().all(|g| g.passed);
        let allowed = policy.auto_promote.contains(&b.trigger);
        let eval_index = out.len();
        let mut eval = draft(
            "promotion.evaluated",
            &vs,
            &PromotionEvaluated {
                candidate: v,
                champion: Some(champ.version),
                gates,
                passed,
                auto_promote_allowed: allowed,
                policy_version: state.policy_version,
            },
        )?;
        eval.cause = DraftCause::EarlierDraft(0);
        out.push(eval);
        if passed && allowed {
            // Promoted in the same atomic append that records the evaluation.
            out.extend(promote(
                state,
                &vs,
                v,
                ChampionCause::Policy,
                "policy",
                None,
                DraftCause::EarlierDraft(eval_index),
            )?);
        } else {
            let mut d = draft(
                "version.status_changed",
                &vs,
                &VersionStatusChanged {
                    version: v,
                    from: VersionStatus::Candidate,
                    to: VersionStatus::Challenger,
                    reason: if passed {
                        format!("`{}` runs are not auto-promoted", b.trigger.as_str())
                    } else {
                        "did not pass the promotion gates".into()
                    },
                },
            )?;
            d.cause = DraftCause::EarlierDraft(eval_index);
            out.push(d);
        }
    }
    Ok(out)
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct BacktestBody {
    model: String,
    version: u64,
    window_start: String,
    window_end: String,
    metrics: Metrics,
    rows: u64,
}

fn backtest_record(state: &State, cmd: &SignedCommand) -> Result<Vec<EventDraft>, Refusal> {
    let b: BacktestBody = body(cmd)?;
    check_metrics("backtest", &b.metrics)?;
    let v = version(state, &b.model, b.version)?;
    let policy = policy(state)?.for_model(&b.model);
    let vs = subject(&b.model, v.segment.as_deref())?;
    Ok(vec![draft(
        "backtest.recorded",
        &vs,
        &BacktestRecorded {
            version: b.version,
            window_start: b.window_start,
            window_end: b.window_end,
            degraded: v.status == VersionStatus::Champion && degraded(&policy, &v.metrics, &b.metrics),
            metrics: b.metrics,
            rows: b.rows,
            policy_version: state.policy_version,
        },
    )?])
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ShadowBody {
    model: String,
    segment: Option<String>,
    hypothesis_id: Option<String>,
    champion: u64,
    challenger: u64,
    window_start: String,
    window_end: String,
    champion_metrics: Metrics,
    challenger_metrics: Metrics,
    samples: u64,
}

fn shadow_record(state: &State, cmd: &SignedCommand) -> Result<Vec<EventDraft>, Refusal> {
    let b: ShadowBody = body(cmd)?;
    check_metrics("champion", &b.champion_metrics)?;
    check_metrics("challenger", &b.challenger_metrics)?;
    version(state, &b.model, b.champion)?;
    version(state, &b.model, b.challenger)?;
    if b.samples == 0 {
        return Err(invalid("a shadow window needs at least one sample"));
    }
    let (index, complete) = match &b.hypothesis_id {
        Some(id) => {
            let x = experiment(state, id)?;
            if x.status != ExperimentStatus::ShadowTesting {
                return Err(reject("experiment.state", format!("experiment `{id}` is not shadow testing")));
            }
            let i = x.shadow_windows.saturating_add(1);
            (i, x.planned_windows.is_some_and(|p| i == p))
        }
        None => (1, false),
    };
    let vs = subject(&b.model, b.segment.as_deref())?;
    Ok(vec![draft(
        "shadow.recorded",
        &vs,
        &ShadowRecorded {
            hypothesis_id: b.hypothesis_id,
            champion: b.champion,
            challenger: b.challenger,
            window_start: b.window_start,
            window_end: b.window_end,
            champion_metrics: b.champion_metrics,
            challenger_metrics: b.challenger_metrics,
            samples: b.samples,
            window_index: index,
            complete,
        },
    )?])
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct DriftBody {
    model: String,
    segment: Option<String>,
    metric: Option<String>,
    baseline: f64,
    recent: f64,
    #[serde(default)]
    psi: BTreeMap<String, f64>,
}

fn drift_record(state: &State, cmd: &SignedCommand) -> Result<Vec<EventDraft>, Refusal> {
    let b: DriftBody = body(cmd)?;
    if !(b.baseline.is_finite() && b.recent.is_finite()) || b.baseline <= 0.0 {
        return Err(invalid("`baseline` must be a positive number and `recent` a finite one"));
    }
    check_metrics("psi", &b.psi)?;
    let policy = policy(state)?.for_model(&b.model);
    let drift_pct = (b.recent - b.baseline) / b.baseline * 100.0;
    let exceeded = drift_pct > policy.drift_max_pct || b.psi.values().any(|p| *p > policy.psi_threshold);
    let champion = state.model(&b.model).and_then(|m| m.route(b.segment.as_deref()));
    let vs = subject(&b.model, b.segment.as_deref())?;
    Ok(vec![draft(
        "drift.recorded",
        &vs,
        &DriftRecorded {
            version: champion,
            metric: b.metric.unwrap_or(policy.drift_metric),
            baseline: b.baseline,
            recent: b.recent,
            drift_pct,
            psi: b.psi,
            threshold_pct: policy.drift_max_pct,
            psi_threshold: policy.psi_threshold,
            exceeded,
            policy_version: state.policy_version,
        },
    )?])
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct BootstrapBody {
    model: String,
    segment: Option<String>,
    version: u64,
    reason: Option<String>,
}

fn bootstrap(state: &State, actor: &Actor, cmd: &SignedCommand) -> Result<Vec<EventDraft>, Refusal> {
    let b: BootstrapBody = body(cmd)?;
    let v = version(state, &b.model, b.version)?;
    if v.segment != b.segment {
        return Err(reject(
            "version.segment",
            format!("v{} serves segment `{}`", b.version, v.segment.as_deref().unwrap_or("(global)")),
        ));
    }
    if v.status == VersionStatus::Archived {
        return Err(reject("version.archived", format!("v{} is archived", b.version)));
    }
    let key = seg_key(b.segment.as_deref());
    if let Some(c) = state.model(&b.model).and_then(|m| m.champions.get(&key)) {
        return Err(reject(
            "champion.exists",
            format!("`{}` already has champion v{c} there; use a proposal or a rollback", b.model),
        ));
    }
    let vs = subject(&b.model, b.segment.as_deref())?;
    promote(
        state,
        &vs,
        b.version,
        ChampionCause::Bootstrap,
        &actor.principal,
        b.reason,
        DraftCause::ThisCommand,
    )
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ProposeBody {
    model: String,
    segment: Option<String>,
    challenger: Option<u64>,
}

fn arena_propose(
    state: &State,
    actor: &Actor,
    cmd: &SignedCommand,
    next_seq: u64,
) -> Result<Vec<EventDraft>, Refusal> {
    let b: ProposeBody = body(cmd)?;
    let model =
        state.model(&b.model).ok_or_else(|| reject("model.unknown", format!("no model `{}`", b.model)))?;
    let champ_v = model.champions.get(&seg_key(b.segment.as_deref())).copied().ok_or_else(|| {
        reject(
            "champion.none",
            format!("`{}` has no champion for this segment; bootstrap one first", b.model),
        )
    })?;
    let policy = policy(state)?.for_model(&b.model);
    let first_metric = policy.gates.first().map(|g| g.metric.clone()).unwrap_or_default();
    let challenger = match b.challenger {
        Some(c) => version(state, &b.model, c)?,
        None => model
            .versions
            .values()
            .filter(|v| {
                v.segment == b.segment
                    && matches!(v.status, VersionStatus::Challenger | VersionStatus::Candidate)
            })
            .min_by(|a, c| {
                let (x, y) = (a.metrics.get(&first_metric), c.metrics.get(&first_metric));
                x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal)
            })
            .ok_or_else(|| {
                reject("challenger.none", format!("`{}` has no challenger for this segment", b.model))
            })?,
    };
    if challenger.segment != b.segment {
        return Err(reject(
            "version.segment",
            format!("v{} does not serve this segment", challenger.version),
        ));
    }
    if !matches!(challenger.status, VersionStatus::Challenger | VersionStatus::Candidate) {
        return Err(reject(
            "version.status",
            format!("v{} is {}, not a challenger", challenger.version, name(&challenger.status)),
        ));
    }
    if state.proposals.values().any(|p| {
        p.status == "pending" && p.proposed.challenger == challenger.version && p.subject.model == b.model
    }) {
        return Err(reject(
            "proposal.pending",
            format!("v{} already has a pending proposal", challenger.version),
        ));
    }
    let champ = version(state, &b.model, champ_v)?;
    let gates = policy
        .evaluate(&challenger.metrics, &champ.metrics)
        .map_err(|e| reject("promotion.missing_metric", e))?;
    let passed = gates.iter().all(|g| g.passed);
    let vs = subject(&b.model, b.segment.as_deref())?;
    Ok(vec![draft(
        "promotion.proposed",
        &vs,
        &PromotionProposed {
            proposal_id: format!("P-{next_seq}"),
            challenger: challenger.version,
            champion: Some(champ_v),
            gates,
            passed,
            proposed_by: actor.principal.clone(),
            policy_version: state.policy_version,
        },
    )?])
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ArenaDecision {
    proposal_id: String,
    notes: Option<String>,
}

/// Approves a pending proposal (from `arena.approve`, or from acting on its alert).
fn approve_proposal(
    state: &State,
    actor: &Actor,
    id: &str,
    notes: String,
    alert: Option<&str>,
) -> Result<Vec<EventDraft>, Refusal> {
    let p =
        state.proposals.get(id).ok_or_else(|| reject("proposal.unknown", format!("no proposal `{id}`")))?;
    if p.status != "pending" {
        return Err(reject("proposal.decided", format!("proposal `{id}` is already {}", p.status)));
    }
    if p.proposed.proposed_by == actor.principal {
        return Err(reject(
            "four_eyes",
            format!("`{}` proposed `{id}` and cannot approve it; another approver must", actor.principal),
        ));
    }
    let current = state
        .model(&p.subject.model)
        .and_then(|m| m.champions.get(&seg_key(p.subject.segment.as_deref())).copied());
    if current != p.proposed.champion {
        return Err(reject(
            "proposal.stale",
            format!("the champion changed since `{id}` was proposed; propose again"),
        ));
    }
    let mut out = vec![];
    if let Some(a) = alert {
        out.push(draft(
            "alert.actioned",
            &p.subject,
            &AlertActioned {
                alert_id: a.into(),
                action: "approve".into(),
                notes: notes.clone(),
                by: actor.principal.clone(),
            },
        )?);
    }
    let at = out.len();
    let mut approved = draft(
        "promotion.approved",
        &p.subject,
        &PromotionDecided { proposal_id: id.into(), by: actor.principal.clone(), notes: notes.clone() },
    )?;
    if at > 0 {
        // Approved through its alert: the alert's action comes first and explains it.
        approved.cause = DraftCause::EarlierDraft(0);
    }
    out.push(approved);
    let reason = if notes.is_empty() { None } else { Some(notes) };
    out.extend(promote(
        state,
        &p.subject,
        p.proposed.challenger,
        ChampionCause::Approval,
        &actor.principal,
        reason,
        DraftCause::EarlierDraft(at),
    )?);
    Ok(out)
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ArenaRejectBody {
    proposal_id: String,
    reason: String,
}

fn arena_reject(state: &State, actor: &Actor, cmd: &SignedCommand) -> Result<Vec<EventDraft>, Refusal> {
    let b: ArenaRejectBody = body(cmd)?;
    nonempty("reason", &b.reason)?;
    let p = state
        .proposals
        .get(&b.proposal_id)
        .ok_or_else(|| reject("proposal.unknown", format!("no proposal `{}`", b.proposal_id)))?;
    if p.status != "pending" {
        return Err(reject(
            "proposal.decided",
            format!("proposal `{}` is already {}", b.proposal_id, p.status),
        ));
    }
    Ok(vec![draft(
        "promotion.rejected",
        &p.subject,
        &PromotionDecided { proposal_id: b.proposal_id, by: actor.principal.clone(), notes: b.reason },
    )?])
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    model: String,
    segment: Option<String>,
    version: u64,
    reason: String,
}

fn rollback(state: &State, actor: &Actor, cmd: &SignedCommand) -> Result<Vec<EventDraft>, Refusal> {
    let b: RollbackBody = body(cmd)?;
    nonempty("reason", &b.reason)?;
    let v = version(state, &b.model, b.version)?;
    if !v.served {
        return Err(reject(
            "rollback.never_served",
            format!("v{} never served as champion; a rollback restores a previous champion", b.version),
        ));
    }
    if v.segment != b.segment {
        return Err(reject("version.segment", format!("v{} served another segment", b.version)));
    }
    let current =
        state.model(&b.model).and_then(|m| m.champions.get(&seg_key(b.segment.as_deref())).copied());
    if current == Some(b.version) {
        return Err(reject("rollback.current", format!("v{} is already the champion", b.version)));
    }
    let vs = subject(&b.model, b.segment.as_deref())?;
    promote(
        state,
        &vs,
        b.version,
        ChampionCause::Rollback,
        &actor.principal,
        Some(b.reason),
        DraftCause::ThisCommand,
    )
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct AlertReadBody {
    alert_id: String,
}

fn alert_read(state: &State, actor: &Actor, cmd: &SignedCommand) -> Result<Vec<EventDraft>, Refusal> {
    let b: AlertReadBody = body(cmd)?;
    let a = state
        .alerts
        .get(&b.alert_id)
        .ok_or_else(|| reject("alert.unknown", format!("no alert `{}`", b.alert_id)))?;
    let subj = a.subject.clone();
    Ok(vec![EventDraft::new(
        "alert.read",
        subj,
        value(&AlertRead { alert_id: b.alert_id, by: actor.principal.clone() })?,
    )])
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct AlertActionBody {
    alert_id: String,
    action: String,
    #[serde(default)]
    notes: String,
}

fn alert_action(state: &State, actor: &Actor, cmd: &SignedCommand) -> Result<Vec<EventDraft>, Refusal> {
    let b: AlertActionBody = body(cmd)?;
    let a = state
        .alerts
        .get(&b.alert_id)
        .ok_or_else(|| reject("alert.unknown", format!("no alert `{}`", b.alert_id)))?;
    if !matches!(a.status, AlertStatus::Unread | AlertStatus::Read) {
        return Err(reject("alert.closed", format!("alert `{}` is already {}", b.alert_id, name(&a.status))));
    }
    let actioned = |notes: String| -> Result<EventDraft, Refusal> {
        Ok(EventDraft::new(
            "alert.actioned",
            a.subject.clone(),
            value(&AlertActioned {
                alert_id: b.alert_id.clone(),
                action: b.action.clone(),
                notes,
                by: actor.principal.clone(),
            })?,
        ))
    };
    match b.action.as_str() {
        "dismiss" => Ok(vec![actioned(b.notes)?]),
        "approve" => {
            require_role(actor, Role::Approver, "approve an alert")?;
            match a.alert_type.as_str() {
                "promotion_pending" => {
                    let id = a.proposal_id.clone().unwrap_or_default();
                    approve_proposal(state, actor, &id, b.notes, Some(&b.alert_id))
                }
                "drift_detected" => {
                    // Approving a drift alert promotes the challenger its retrain produced.
                    let run = state
                        .runs
                        .values()
                        .filter(|r| r.run.drift_event.as_deref() == Some(b.alert_id.as_str()))
                        .max_by_key(|r| r.seq)
                        .ok_or_else(|| {
                            reject(
                                "alert.nothing_to_approve",
                                format!("no retrain answers drift alert `{}` yet", b.alert_id),
                            )
                        })?;
                    if run.run.recorded_by == actor.principal {
                        return Err(reject(
                            "four_eyes",
                            format!(
                                "`{}` recorded the retrain `{}` and cannot approve it",
                                actor.principal, run.run.run_id
                            ),
                        ));
                    }
                    let mut out = vec![actioned(b.notes.clone())?];
                    for v in &run.versions {
                        let info = version(state, &run.model, *v)?;
                        if info.status != VersionStatus::Challenger {
                            continue;
                        }
                        let vs = subject(&run.model, info.segment.as_deref())?;
                        out.extend(promote(
                            state,
                            &vs,
                            *v,
                            ChampionCause::Approval,
                            &actor.principal,
                            Some(b.notes.clone()),
                            DraftCause::EarlierDraft(0),
                        )?);
                    }
                    if out.len() == 1 {
                        return Err(reject(
                            "alert.nothing_to_approve",
                            format!("the retrain for `{}` left no challenger to promote", b.alert_id),
                        ));
                    }
                    Ok(out)
                }
                _ => Ok(vec![actioned(b.notes)?]),
            }
        }
        other => Err(invalid(format!("alert action `{other}` is not `approve` or `dismiss`"))),
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ReleaseBody {
    model: String,
    decision: String,
    #[serde(default)]
    notes: String,
}

fn release_decide(state: &State, actor: &Actor, cmd: &SignedCommand) -> Result<Vec<EventDraft>, Refusal> {
    let b: ReleaseBody = body(cmd)?;
    if state.model(&b.model).is_none() {
        return Err(reject("model.unknown", format!("no model `{}`", b.model)));
    }
    let gates = state.release_gates(&b.model);
    let green = gates.iter().all(|g| g.passed);
    match b.decision.as_str() {
        "release" if !green => {
            let red: Vec<String> =
                gates.iter().filter(|g| !g.passed).map(|g| format!("`{}` ({})", g.gate, g.detail)).collect();
            return Err(reject(
                "release.gates_red",
                format!("cannot release `{}`: {}", b.model, red.join("; ")),
            ));
        }
        "release" | "hold" => {}
        other => return Err(invalid(format!("release decision `{other}` is not `release` or `hold`"))),
    }
    let subj = subject(&b.model, None)?;
    Ok(vec![draft(
        "release.decided",
        &subj,
        &ReleaseDecided {
            decision: b.decision,
            gates,
            green,
            by: actor.principal.clone(),
            notes: b.notes,
            policy_version: state.policy_version,
        },
    )?])
}
