//! `decide(state, policy, context, command) -> events | refusal`, and the commands whose
//! decision fits in a few lines. Runs, experiments and promotions have their own modules.

use ledger::{Actor, Context, DraftCause, EventDraft, Refusal, Rejection, Role, Subject};
use projections::events::*;
use projections::state::name;
use projections::{seg_key, ExperimentStatus, State, VersionInfo};
use serde::Serialize;

use super::command::*;
use super::policy::{ModelPolicy, Policy};
use super::{experiments, judge, metrics, promotions, runs, window};

/// What every decision reads: the state before the command, the policy in force, the signer,
/// and the sequence number its first event gets.
pub(super) struct Decider<'a> {
    pub state: &'a State,
    pub policy: &'a Policy,
    pub actor: &'a Actor,
    pub next_seq: u64,
}

/// Decides one domain command.
pub(super) fn decide(
    state: &State,
    policy: &Policy,
    ctx: &Context<'_>,
    cmd: &DomainCommand,
) -> Result<Vec<EventDraft>, Refusal> {
    let d = Decider { state, policy, actor: ctx.actor, next_seq: ctx.head.map_or(0, |h| h.seq + 1) };
    match cmd {
        DomainCommand::DatasetRegister(b) => d.dataset_register(b),
        DomainCommand::ModelRegister(b) => d.model_register(b),
        DomainCommand::HypothesisPropose(b) => d.hypothesis_propose(b),
        DomainCommand::ExperimentApprove(b) => d.experiment_review(b, true),
        DomainCommand::ExperimentReject(b) => d.experiment_review(b, false),
        DomainCommand::ExperimentStart(b) => d.experiment_step(b, true),
        DomainCommand::ExperimentShadow(b) => d.experiment_step(b, false),
        DomainCommand::ExperimentComplete(b) => experiments::complete(&d, b),
        DomainCommand::RunRecord(b) => runs::record(&d, b),
        DomainCommand::BacktestRecord(b) => d.backtest_record(b),
        DomainCommand::ShadowRecord(b) => d.shadow_record(b),
        DomainCommand::DriftRecord(b) => d.drift_record(b),
        DomainCommand::ChampionBootstrap(b) => d.bootstrap(b),
        DomainCommand::ArenaPropose(b) => promotions::propose(&d, b),
        DomainCommand::ArenaApprove(b) => promotions::approve_proposal(
            &d,
            &b.proposal_id,
            b.notes.clone().unwrap_or_default(),
            b.override_reason.as_deref(),
            None,
        ),
        DomainCommand::ArenaReject(b) => promotions::reject_proposal(&d, b),
        DomainCommand::Rollback(b) => d.rollback(b),
        DomainCommand::AlertRead(b) => d.alert_read(b),
        DomainCommand::AlertAction(b) => promotions::alert_action(&d, b),
        DomainCommand::ReleaseDecide(b) => d.release_decide(b),
        DomainCommand::ShadowStart(b) => d.shadow_set(b, true),
        DomainCommand::ShadowStop(b) => d.shadow_set(b, false),
    }
}

pub(super) fn reject(rule: &str, message: impl Into<String>) -> Refusal {
    Rejection::new(rule, message).into()
}

pub(super) fn invalid(message: impl Into<String>) -> Refusal {
    Refusal::Invalid(message.into())
}

/// A draft of `event` about `subject`.
pub(super) fn draft(subject: Option<&Subject>, event: DomainEvent) -> Result<EventDraft, Refusal> {
    let payload = event.to_json().map_err(|e| invalid(format!("payload cannot be encoded: {e}")))?;
    Ok(EventDraft::new(event.kind().as_str(), subject.cloned(), payload))
}

/// A draft caused by an earlier draft of the same run.
pub(super) fn caused(
    subject: Option<&Subject>,
    event: DomainEvent,
    by: usize,
) -> Result<EventDraft, Refusal> {
    let mut d = draft(subject, event)?;
    d.cause = DraftCause::EarlierDraft(by);
    Ok(d)
}

pub(super) fn subject(model: &str, segment: Option<&str>) -> Result<Subject, Refusal> {
    let s = Subject { model: model.to_string(), segment: segment.map(str::to_string) };
    s.validate().map_err(invalid)?;
    Ok(s)
}

pub(super) fn nonempty(field: &str, v: &str) -> Result<(), Refusal> {
    if v.trim().is_empty() {
        Err(invalid(format!("`{field}` must not be empty")))
    } else {
        Ok(())
    }
}

pub(super) fn check_metrics<'a, K: AsRef<str> + 'a>(
    what: &str,
    m: impl IntoIterator<Item = (K, &'a f64)>,
) -> Result<(), Refusal> {
    metrics::check(what, m).map_err(invalid)
}

pub(super) fn check_window(start: &str, end: &str, periods: &[String]) -> Result<(), Refusal> {
    window::check(start, end, periods).map_err(invalid)
}

pub(super) fn segment_text(s: Option<&str>) -> &str {
    s.unwrap_or("(global)")
}

fn value_text<T: Serialize>(t: &T) -> String {
    name(t)
}

impl<'a> Decider<'a> {
    pub fn require_role(&self, role: Role, what: &str) -> Result<(), Refusal> {
        if self.actor.roles.contains(&role) {
            Ok(())
        } else {
            Err(reject(
                "role.not_allowed",
                format!("`{}` may not {what}: it needs the `{}` role", self.actor.principal, role.as_str()),
            ))
        }
    }

    pub fn by(&self) -> String {
        self.actor.principal.clone()
    }

    /// The model's task, which it was registered with.
    pub fn task(&self, model: &str) -> Result<Task, Refusal> {
        self.state.model(model).and_then(|m| m.task).ok_or_else(|| {
            reject(
                "model.unknown",
                format!(
                    "no model `{model}` is registered; register it with `pledge model register {model} --task TASK`, or give its first run a `task`"
                ),
            )
        })
    }

    /// The policy's rules for a registered model.
    pub fn rules(&self, model: &'a str) -> Result<ModelPolicy<'a>, Refusal> {
        Ok(self.policy.for_model(model, self.task(model)?))
    }

    pub fn version(&self, model: &str, v: u64) -> Result<&'a VersionInfo, Refusal> {
        self.state
            .model(model)
            .and_then(|m| m.versions.get(&v))
            .ok_or_else(|| reject("version.unknown", format!("model `{model}` has no version v{v}")))
    }

    pub fn experiment(&self, id: &str) -> Result<&'a projections::Experiment, Refusal> {
        self.state
            .experiments
            .get(id)
            .ok_or_else(|| reject("experiment.unknown", format!("no hypothesis `{id}` was proposed")))
    }

    /// The period labels the run behind `v` declared.
    pub fn periods_of(&self, v: &VersionInfo) -> &'a [String] {
        self.state.runs.get(&v.run_id).map_or(&[][..], |r| &r.run.periods[..])
    }

    fn dataset_register(&self, b: &DatasetBody) -> Result<Vec<EventDraft>, Refusal> {
        nonempty("dataset", &b.dataset)?;
        nonempty("version", &b.version)?;
        b.digest.parse::<ledger::Digest>().map_err(|e| invalid(format!("`digest`: {e}")))?;
        let key = format!("{}@{}", b.dataset, b.version);
        if self.state.datasets.contains_key(&key) {
            return Err(reject("dataset.exists", format!("dataset `{key}` is already registered")));
        }
        Ok(vec![draft(
            None,
            DomainEvent::DatasetRegistered(DatasetRegistered {
                dataset: b.dataset.clone(),
                version: b.version.clone(),
                digest: b.digest.clone(),
                rows: b.rows,
                description: b.description.clone(),
            }),
        )?])
    }

    fn model_register(&self, b: &ModelBody) -> Result<Vec<EventDraft>, Refusal> {
        let subj = subject(&b.model, None)?;
        if let Some(task) = self.state.model(&b.model).and_then(|m| m.task) {
            return Err(reject(
                "model.exists",
                format!("model `{}` is already registered, as a {} model", b.model, task.as_str()),
            ));
        }
        Ok(vec![draft(
            Some(&subj),
            DomainEvent::ModelRegistered(ModelRegistered {
                task: b.task,
                by: self.by(),
                description: b.description.clone(),
            }),
        )?])
    }

    fn hypothesis_propose(&self, b: &HypothesisBody) -> Result<Vec<EventDraft>, Refusal> {
        nonempty("hypothesis_id", &b.hypothesis_id)?;
        nonempty("statement", &b.statement)?;
        nonempty("target_metric", &b.target_metric)?;
        if !(b.expected_improvement_pct.is_finite() && b.expected_improvement_pct >= 0.0) {
            return Err(invalid("`expected_improvement_pct` must be a number, 0 or more (percent)"));
        }
        if self.state.experiments.contains_key(&b.hypothesis_id) {
            return Err(reject(
                "hypothesis.exists",
                format!("hypothesis `{}` already exists", b.hypothesis_id),
            ));
        }
        let subj = subject(&b.model, None)?;
        // The criterion must be judgeable: its metric needs a direction, from the model's
        // gates (a registered model) or from Pledge's metric table.
        let direction = match self.task(&b.model) {
            Ok(_) => self.rules(&b.model)?.direction_of(&b.target_metric),
            Err(_) => super::metrics::info(&b.target_metric).and_then(|i| i.direction),
        };
        if direction.is_none() {
            return Err(reject(
                "hypothesis.target_metric",
                format!(
                    "neither the policy's gates for `{}` nor Pledge's metric table say which way `{}` improves, so the criterion could not be judged; pick a gate metric (or register the model first)",
                    b.model, b.target_metric
                ),
            ));
        }
        Ok(vec![draft(
            Some(&subj),
            DomainEvent::HypothesisProposed(HypothesisProposed {
                hypothesis_id: b.hypothesis_id.clone(),
                statement: b.statement.clone(),
                change_type: b.change_type,
                change_summary: b.change_summary.clone(),
                target_metric: b.target_metric.clone(),
                expected_improvement_pct: b.expected_improvement_pct,
                owner: b.owner.clone(),
                proposed_by: self.by(),
                dataset_version: b.dataset_version.clone(),
                feature_set_version: b.feature_set_version.clone(),
            }),
        )?])
    }

    fn experiment_review(&self, b: &ReviewBody, approve: bool) -> Result<Vec<EventDraft>, Refusal> {
        nonempty("rationale", &b.rationale)?;
        let x = self.experiment(&b.hypothesis_id)?;
        if x.status != ExperimentStatus::Proposed {
            return Err(reject(
                "experiment.already_reviewed",
                format!("experiment `{}` is {}, not awaiting review", b.hypothesis_id, value_text(&x.status)),
            ));
        }
        if x.hypothesis.proposed_by == self.actor.principal {
            return Err(reject(
                "four_eyes",
                format!("`{}` proposed `{}` and cannot review it", self.actor.principal, b.hypothesis_id),
            ));
        }
        let subj = subject(&x.model, None)?;
        let event = if approve {
            DomainEvent::ExperimentApproved(ExperimentApproved {
                hypothesis_id: b.hypothesis_id.clone(),
                approved_by: self.by(),
                rationale: b.rationale.clone(),
                constraints: b.constraints.clone(),
            })
        } else {
            DomainEvent::ExperimentRejected(ExperimentRejected {
                hypothesis_id: b.hypothesis_id.clone(),
                rejected_by: self.by(),
                rationale: b.rationale.clone(),
            })
        };
        Ok(vec![draft(Some(&subj), event)?])
    }

    fn experiment_step(&self, b: &StepBody, start: bool) -> Result<Vec<EventDraft>, Refusal> {
        let x = self.experiment(&b.hypothesis_id)?;
        let (need, kind) = if start {
            (ExperimentStatus::Approved, "experiment.start")
        } else {
            (ExperimentStatus::InProgress, "experiment.shadow")
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
                    "experiment `{}` is {}; `{kind}` needs it {}",
                    b.hypothesis_id,
                    value_text(&x.status),
                    value_text(&need)
                ),
            ));
        }
        if start && b.planned_windows.is_some() {
            return Err(invalid("`planned_windows` is for `experiment.shadow`"));
        }
        let step = ExperimentStep {
            hypothesis_id: b.hypothesis_id.clone(),
            by: self.by(),
            planned_windows: (!start)
                .then(|| b.planned_windows.unwrap_or(self.policy.shadow.planned_windows).max(1)),
        };
        let subj = subject(&x.model, None)?;
        let event = if start {
            DomainEvent::ExperimentStarted(step)
        } else {
            DomainEvent::ExperimentShadowStarted(step)
        };
        Ok(vec![draft(Some(&subj), event)?])
    }

    fn backtest_record(&self, b: &BacktestBody) -> Result<Vec<EventDraft>, Refusal> {
        check_metrics("backtest", &b.metrics)?;
        let v = self.version(&b.model, b.version)?;
        check_window(&b.window_start, &b.window_end, self.periods_of(v))?;
        let rules = self.rules(&b.model)?;
        let vs = subject(&b.model, v.segment.as_deref())?;
        Ok(vec![draft(
            Some(&vs),
            DomainEvent::BacktestRecorded(BacktestRecorded {
                version: b.version,
                window_start: b.window_start.clone(),
                window_end: b.window_end.clone(),
                metrics: b.metrics.clone(),
                rows: b.rows,
                degraded: v.status == VersionStatus::Champion
                    && rules.backtest_degraded(&v.metrics, &b.metrics),
                policy_version: self.state.policy_version,
            }),
        )?])
    }

    fn shadow_record(&self, b: &ShadowBody) -> Result<Vec<EventDraft>, Refusal> {
        check_metrics("champion", &b.champion_metrics)?;
        check_metrics("challenger", &b.challenger_metrics)?;
        if b.samples == 0 {
            return Err(invalid("a shadow window needs at least one sample"));
        }
        self.version(&b.model, b.champion)?;
        let challenger = self.version(&b.model, b.challenger)?;
        if challenger.segment != b.segment {
            return Err(reject(
                "version.segment",
                format!(
                    "v{} serves segment `{}`, not `{}`",
                    b.challenger,
                    segment_text(challenger.segment.as_deref()),
                    segment_text(b.segment.as_deref())
                ),
            ));
        }
        check_window(&b.window_start, &b.window_end, self.periods_of(challenger))?;
        let (index, complete) = match &b.hypothesis_id {
            Some(id) => {
                let x = self.experiment(id)?;
                if x.status != ExperimentStatus::ShadowTesting {
                    return Err(reject(
                        "experiment.state",
                        format!("experiment `{id}` is not shadow testing"),
                    ));
                }
                if !x.versions.contains(&b.challenger) {
                    return Err(reject(
                        "experiment.version",
                        format!("v{} is not a version of experiment `{id}`", b.challenger),
                    ));
                }
                let seen = x.shadow_windows.get(&seg_key(b.segment.as_deref())).copied().unwrap_or(0);
                let i = seen.saturating_add(1);
                (i, x.planned_windows.is_some_and(|p| i == p))
            }
            None => (1, false),
        };
        let vs = subject(&b.model, b.segment.as_deref())?;
        Ok(vec![draft(
            Some(&vs),
            DomainEvent::ShadowRecorded(ShadowRecorded {
                hypothesis_id: b.hypothesis_id.clone(),
                champion: b.champion,
                challenger: b.challenger,
                window_start: b.window_start.clone(),
                window_end: b.window_end.clone(),
                champion_metrics: b.champion_metrics.clone(),
                challenger_metrics: b.challenger_metrics.clone(),
                samples: b.samples,
                window_index: index,
                complete,
            }),
        )?])
    }

    fn drift_record(&self, b: &DriftBody) -> Result<Vec<EventDraft>, Refusal> {
        let rules = self.rules(&b.model)?;
        let metric = b.metric.clone().unwrap_or_else(|| rules.drift_metric().to_string());
        nonempty("metric", &metric)?;
        for (what, x) in [("baseline", b.baseline), ("recent", b.recent)] {
            metrics::check_value(&metric, x).map_err(|e| invalid(format!("`{what}`: {e}")))?;
        }
        if b.baseline <= 0.0 {
            return Err(invalid("`baseline` must be a positive number"));
        }
        for (feature, p) in &b.psi {
            if !(p.is_finite() && *p >= 0.0) {
                return Err(invalid(format!("`psi.{feature}` is {p}; a PSI is a number, 0 or more")));
            }
        }
        let drift_pct = rules.degradation_pct(&metric, b.baseline, b.recent).ok_or_else(|| {
            reject(
                "drift.metric_direction",
                format!(
                    "neither policy `{}` nor Pledge's metric table says which way `{metric}` improves, so its drift cannot be judged",
                    rules.gates().1
                ),
            )
        })?;
        let champion = self.state.model(&b.model).and_then(|m| m.route(b.segment.as_deref()));
        let vs = subject(&b.model, b.segment.as_deref())?;
        Ok(vec![draft(
            Some(&vs),
            DomainEvent::DriftRecorded(DriftRecorded {
                version: champion,
                metric,
                baseline: b.baseline,
                recent: b.recent,
                drift_pct,
                psi: b.psi.clone(),
                threshold_pct: self.policy.drift.max_degradation_pct,
                psi_threshold: self.policy.drift.psi_threshold,
                exceeded: self.policy.drift_exceeded(drift_pct, &b.psi),
                policy_version: self.state.policy_version,
            }),
        )?])
    }

    fn bootstrap(&self, b: &BootstrapBody) -> Result<Vec<EventDraft>, Refusal> {
        let v = self.version(&b.model, b.version)?;
        if v.segment != b.segment {
            return Err(reject(
                "version.segment",
                format!("v{} serves segment `{}`", b.version, segment_text(v.segment.as_deref())),
            ));
        }
        if v.status == VersionStatus::Archived {
            return Err(reject("version.archived", format!("v{} is archived", b.version)));
        }
        if let Some(c) = self.state.model(&b.model).and_then(|m| m.champion_of(b.segment.as_deref())) {
            return Err(reject(
                "champion.exists",
                format!("`{}` already has champion v{c} there; use a proposal or a rollback", b.model),
            ));
        }
        let vs = subject(&b.model, b.segment.as_deref())?;
        promotions::promote(
            self,
            &vs,
            b.version,
            ChampionCause::Bootstrap,
            &self.actor.principal,
            b.reason.clone(),
            DraftCause::ThisCommand,
        )
    }

    fn rollback(&self, b: &RollbackBody) -> Result<Vec<EventDraft>, Refusal> {
        nonempty("reason", &b.reason)?;
        let v = self.version(&b.model, b.version)?;
        if !v.served {
            return Err(reject(
                "rollback.never_served",
                format!("v{} never served as champion; a rollback restores a previous champion", b.version),
            ));
        }
        if v.segment != b.segment {
            return Err(reject("version.segment", format!("v{} served another segment", b.version)));
        }
        let current = self.state.model(&b.model).and_then(|m| m.champion_of(b.segment.as_deref()));
        if current == Some(b.version) {
            return Err(reject("rollback.current", format!("v{} is already the champion", b.version)));
        }
        let vs = subject(&b.model, b.segment.as_deref())?;
        promotions::promote(
            self,
            &vs,
            b.version,
            ChampionCause::Rollback,
            &self.actor.principal,
            Some(b.reason.clone()),
            DraftCause::ThisCommand,
        )
    }

    fn alert_read(&self, b: &AlertReadBody) -> Result<Vec<EventDraft>, Refusal> {
        let a = self
            .state
            .alerts
            .get(&b.alert_id)
            .ok_or_else(|| reject("alert.unknown", format!("no alert `{}`", b.alert_id)))?;
        Ok(vec![draft(
            a.subject.as_ref(),
            DomainEvent::AlertRead(AlertRead { alert_id: b.alert_id.clone(), by: self.by() }),
        )?])
    }

    /// `shadow.start` (`start`) and `shadow.stop`: a challenger in or out of shadow.
    fn shadow_set(&self, b: &ShadowSetBody, start: bool) -> Result<Vec<EventDraft>, Refusal> {
        nonempty("reason", &b.reason)?;
        let v = self.version(&b.model, b.version)?;
        let in_shadow = self.state.model(&b.model).is_some_and(|m| m.shadows.contains(&b.version));
        if start {
            if v.status != VersionStatus::Challenger {
                return Err(reject(
                    "shadow.not_challenger",
                    format!(
                        "v{} is {}; only a challenger is put in shadow (an experiment's versions are, by `experiment.shadow`)",
                        b.version,
                        value_text(&v.status)
                    ),
                ));
            }
            if in_shadow {
                return Err(reject("shadow.already", format!("v{} is already in shadow", b.version)));
            }
        } else if !in_shadow {
            return Err(reject("shadow.not_started", format!("v{} is not in shadow", b.version)));
        }
        let subj = subject(&b.model, v.segment.as_deref())?;
        let p = ShadowSet { version: b.version, reason: b.reason.clone(), by: self.by() };
        let event = if start { DomainEvent::ShadowStarted(p) } else { DomainEvent::ShadowStopped(p) };
        Ok(vec![draft(Some(&subj), event)?])
    }

    fn release_decide(&self, b: &ReleaseBody) -> Result<Vec<EventDraft>, Refusal> {
        self.task(&b.model)?;
        let gates = judge::release_gates(self.state, &b.model);
        let green = gates.iter().all(|g| g.passed);
        if b.decision == ReleaseDecision::Release && !green {
            let red: Vec<String> =
                gates.iter().filter(|g| !g.passed).map(|g| format!("`{}` ({})", g.gate, g.detail)).collect();
            return Err(reject(
                "release.gates_red",
                format!("cannot release `{}`: {}", b.model, red.join("; ")),
            ));
        }
        let subj = subject(&b.model, None)?;
        Ok(vec![draft(
            Some(&subj),
            DomainEvent::ReleaseDecided(ReleaseDecided {
                decision: b.decision,
                gates,
                green,
                by: self.by(),
                notes: b.notes.clone(),
                policy_version: self.state.policy_version,
            }),
        )?])
    }
}
