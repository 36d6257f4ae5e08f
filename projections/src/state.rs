//! The domain state: every read model in one fold. The decide step reads it; queries read it.
//! `apply` only records facts the events state; it contains no rules.

use std::collections::BTreeMap;

use ledger::canonical::Timestamp;
use ledger::{Digest, RecordedEvent, Subject};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::events::*;

/// The key of a segment in maps: the segment name, or `""` for the whole model (segment names
/// are never empty).
pub fn seg_key(segment: Option<&str>) -> String {
    segment.unwrap_or("").to_string()
}

/// One model version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// Version number.
    pub version: u64,
    /// Segment it serves (`None`: whole model).
    pub segment: Option<String>,
    /// The run that produced it.
    pub run_id: String,
    /// Why that run happened.
    pub trigger: Trigger,
    /// blake3 of its artifact.
    pub artifact_digest: String,
    /// Current status.
    pub status: VersionStatus,
    /// Metrics at registration.
    pub metrics: Metrics,
    /// Event that registered it.
    pub registered_seq: u64,
    /// Has it ever been champion (rollback targets must have served).
    pub served: bool,
    /// Backtest windows recorded for it.
    pub backtests: Vec<BacktestWindow>,
    /// Every event about this version after its registration: (seq, kind).
    pub history: Vec<(u64, String)>,
}

/// One backtest window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BacktestWindow {
    /// Window start.
    pub window_start: String,
    /// Window end.
    pub window_end: String,
    /// Metrics.
    pub metrics: Metrics,
    /// Rows.
    pub rows: u64,
    /// Judged degraded by the policy.
    pub degraded: bool,
    /// Event sequence number.
    pub seq: u64,
}

/// A model: its versions and the champion per segment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelState {
    /// Versions by number.
    pub versions: BTreeMap<u64, VersionInfo>,
    /// Serving version per segment key (`""` = global).
    pub champions: BTreeMap<String, u64>,
    /// The champion history per segment key: (seq, version, cause).
    pub champion_history: BTreeMap<String, Vec<(u64, u64, ChampionCause)>>,
}

impl ModelState {
    /// The next version number the ledger assigns.
    pub fn next_version(&self) -> u64 {
        self.versions.keys().next_back().map_or(1, |v| v + 1)
    }

    /// The champion serving `segment`: its own, else the global one.
    pub fn route(&self, segment: Option<&str>) -> Option<u64> {
        segment.and_then(|s| self.champions.get(s)).or_else(|| self.champions.get("")).copied()
    }
}

/// Experiment status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExperimentStatus {
    /// Hypothesis proposed, awaiting approval.
    Proposed,
    /// Approved.
    Approved,
    /// Rejected.
    Rejected,
    /// Being implemented / trained.
    InProgress,
    /// Shadow testing.
    ShadowTesting,
    /// Completed with a decision.
    Completed,
}

/// A hypothesis and the experiment that tests it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    /// The hypothesis as proposed.
    pub hypothesis: HypothesisProposed,
    /// Model.
    pub model: String,
    /// Status.
    pub status: ExperimentStatus,
    /// (status, seq, recorded_at) of every transition.
    pub transitions: Vec<(ExperimentStatus, u64, String)>,
    /// Approval or rejection (who, rationale, constraints).
    pub review: Option<(String, String, Vec<String>)>,
    /// Experimental versions produced.
    pub versions: Vec<u64>,
    /// Planned shadow windows.
    pub planned_windows: Option<u32>,
    /// Shadow windows recorded.
    pub shadow_windows: u32,
    /// Completion.
    pub completion: Option<ExperimentCompleted>,
}

/// Alert status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// New.
    Unread,
    /// Seen.
    Read,
    /// Acted on (approved, or its subject decided).
    Actioned,
    /// Dismissed.
    Dismissed,
}

/// An alert, derived from an event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable id: `A-` and the first 12 hex characters of the raising event's hash.
    pub id: String,
    /// One of the six types.
    pub alert_type: String,
    /// critical, warning, info.
    pub severity: String,
    /// Status.
    pub status: AlertStatus,
    /// Model and segment.
    pub subject: Option<Subject>,
    /// Human message.
    pub message: String,
    /// Version it concerns (drift: the champion; pending: the challenger).
    pub version: Option<u64>,
    /// Proposal it concerns.
    pub proposal_id: Option<String>,
    /// Raising event.
    pub raised_seq: u64,
    /// When.
    pub raised_at: String,
    /// (action, by, notes, seq) history.
    pub history: Vec<(String, String, String, u64)>,
}

/// An arena proposal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    /// The proposal as recorded.
    pub proposed: PromotionProposed,
    /// Model and segment.
    pub subject: Subject,
    /// pending, approved, rejected.
    pub status: String,
    /// Raising event.
    pub seq: u64,
}

/// A training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// As recorded.
    pub run: RunRecorded,
    /// Model.
    pub model: String,
    /// Versions it produced.
    pub versions: Vec<u64>,
    /// Event sequence number.
    pub seq: u64,
}

/// Alert counts for the inbox badge.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AlertCounts {
    /// Open alerts (unread or read) by severity.
    pub open_by_severity: BTreeMap<String, usize>,
    /// All alerts by status.
    pub by_status: BTreeMap<String, usize>,
}

/// The whole domain state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Models by name.
    pub models: BTreeMap<String, ModelState>,
    /// Experiments by hypothesis id.
    pub experiments: BTreeMap<String, Experiment>,
    /// Runs by id.
    pub runs: BTreeMap<String, Run>,
    /// Proposals by id.
    pub proposals: BTreeMap<String, Proposal>,
    /// Alerts by id.
    pub alerts: BTreeMap<String, Alert>,
    /// Datasets by `name@version`.
    pub datasets: BTreeMap<String, DatasetRegistered>,
    /// Policy version in force.
    pub policy_version: u32,
    /// Policy document in force.
    pub policy: Value,
    /// Release decisions per model: (seq, decision).
    pub releases: BTreeMap<String, Vec<(u64, ReleaseDecided)>>,
    /// Last event applied.
    pub last_seq: Option<u64>,
}

/// The snake_case name of a status enum, as written in events.
pub fn name<T: Serialize>(status: &T) -> String {
    serde_json::to_value(status).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
}

/// What a fold reads of an event: everything but its cause and its bytes. Rebuilds decode
/// only this much, which is cheaper than the whole event (the cause repeats the command).
#[derive(Clone, Copy, Debug)]
pub struct EventView<'a> {
    /// Sequence number.
    pub seq: u64,
    /// Event id.
    pub hash: Digest,
    /// Kind.
    pub kind: &'a str,
    /// Model and segment.
    pub subject: Option<&'a Subject>,
    /// When it was recorded.
    pub recorded_at: Timestamp,
    /// Payload.
    pub payload: &'a Value,
}

impl<'a> From<&'a RecordedEvent> for EventView<'a> {
    fn from(ev: &'a RecordedEvent) -> Self {
        EventView {
            seq: ev.seq(),
            hash: ev.hash,
            kind: &ev.event.kind,
            subject: ev.event.subject.as_ref(),
            recorded_at: ev.event.recorded_at,
            payload: &ev.event.payload,
        }
    }
}

fn parse<T: serde::de::DeserializeOwned>(ev: &EventView<'_>) -> Option<T> {
    // Deserialising from a reference avoids cloning the payload tree.
    T::deserialize(ev.payload).ok()
}

impl State {
    /// The model named, created on first use.
    fn model_mut(&mut self, name: &str) -> &mut ModelState {
        self.models.entry(name.to_string()).or_default()
    }

    fn raise(
        &mut self,
        ev: &EventView<'_>,
        alert_type: &str,
        severity: &str,
        message: String,
        version: Option<u64>,
        proposal_id: Option<String>,
    ) {
        let id = format!("A-{}", ev.hash.short());
        self.alerts.insert(
            id.clone(),
            Alert {
                id,
                alert_type: alert_type.into(),
                severity: severity.into(),
                status: AlertStatus::Unread,
                subject: ev.subject.cloned(),
                message,
                version,
                proposal_id,
                raised_seq: ev.seq,
                raised_at: ev.recorded_at.to_string(),
                history: vec![],
            },
        );
    }

    fn set_alert_status(
        &mut self,
        pred: impl Fn(&Alert) -> bool,
        status: AlertStatus,
        by: &str,
        notes: &str,
        seq: u64,
    ) {
        for a in self.alerts.values_mut().filter(|a| pred(a)) {
            if matches!(a.status, AlertStatus::Unread | AlertStatus::Read) {
                a.status = status;
                a.history.push((name(&status), by.into(), notes.into(), seq));
            }
        }
    }

    fn mention(&mut self, model: &str, version: Option<u64>, seq: u64, kind: &str) {
        if let Some(v) = version.and_then(|v| self.models.get_mut(model)?.versions.get_mut(&v)) {
            if v.history.last().map(|h| h.0) != Some(seq) {
                v.history.push((seq, kind.to_string()));
            }
        }
    }

    /// Folds one event (of any kind) into the state.
    pub fn apply(&mut self, ev: &RecordedEvent) {
        self.apply_view(&EventView::from(ev));
    }

    /// Folds what a read model needs of an event (see [`EventView`]).
    pub fn apply_view(&mut self, ev: &EventView<'_>) {
        self.apply_inner(ev);
        // Lineage: which versions this event concerns.
        let p = &ev.payload;
        let model = ev.subject.map(|s| s.model.as_str()).unwrap_or("");
        let kind = ev.kind;
        let mentioned: &[&str] = match kind {
            "version.status_changed" | "backtest.recorded" | "drift.recorded" => &["version"],
            "champion.changed" => &["from", "to"],
            "shadow.recorded" => &["champion", "challenger"],
            "promotion.evaluated" => &["candidate", "champion"],
            "promotion.proposed" => &["challenger", "champion"],
            _ => &[],
        };
        for field in mentioned {
            self.mention(model, p[*field].as_u64(), ev.seq, kind);
        }
        if let "promotion.approved" | "promotion.rejected" = kind {
            if let Some(pr) = p["proposal_id"].as_str().and_then(|id| self.proposals.get(id)) {
                let (m, c) = (pr.subject.model.clone(), pr.proposed.challenger);
                self.mention(&m, Some(c), ev.seq, kind);
            }
        }
    }

    fn apply_inner(&mut self, ev: &EventView<'_>) {
        let seq = ev.seq;
        let at = ev.recorded_at.to_string();
        let subject = ev.subject.cloned();
        let model = subject.as_ref().map(|s| s.model.clone()).unwrap_or_default();
        let segment = subject.as_ref().and_then(|s| s.segment.clone());
        self.last_seq = Some(seq);
        match ev.kind {
            "ledger.created" => {
                self.policy_version = 1;
                self.policy = ev.payload["policy"].clone();
            }
            "policy.changed" => {
                self.policy_version = ev.payload["version"].as_u64().unwrap_or(0) as u32;
                self.policy = ev.payload["policy"].clone();
            }
            "dataset.registered" => {
                if let Some(p) = parse::<DatasetRegistered>(ev) {
                    let msg = format!("dataset `{}` version `{}` registered", p.dataset, p.version);
                    self.datasets.insert(format!("{}@{}", p.dataset, p.version), p);
                    self.raise(ev, "new_data_source_ready", "info", msg, None, None);
                }
            }
            "hypothesis.proposed" => {
                if let Some(p) = parse::<HypothesisProposed>(ev) {
                    self.experiments.insert(
                        p.hypothesis_id.clone(),
                        Experiment {
                            hypothesis: p,
                            model,
                            status: ExperimentStatus::Proposed,
                            transitions: vec![(ExperimentStatus::Proposed, seq, at)],
                            review: None,
                            versions: vec![],
                            planned_windows: None,
                            shadow_windows: 0,
                            completion: None,
                        },
                    );
                }
            }
            "experiment.approved" | "experiment.rejected" => {
                let approved = ev.kind == "experiment.approved";
                let (id, review) = if approved {
                    let Some(p) = parse::<ExperimentApproved>(ev) else { return };
                    (p.hypothesis_id, (p.approved_by, p.rationale, p.constraints))
                } else {
                    let Some(p) = parse::<ExperimentRejected>(ev) else { return };
                    (p.hypothesis_id, (p.rejected_by, p.rationale, vec![]))
                };
                if let Some(x) = self.experiments.get_mut(&id) {
                    x.status = if approved { ExperimentStatus::Approved } else { ExperimentStatus::Rejected };
                    x.transitions.push((x.status, seq, at));
                    x.review = Some(review);
                }
            }
            "experiment.started" | "experiment.shadow_started" => {
                let Some(p) = parse::<ExperimentStep>(ev) else { return };
                if let Some(x) = self.experiments.get_mut(&p.hypothesis_id) {
                    if ev.kind == "experiment.started" {
                        x.status = ExperimentStatus::InProgress;
                    } else {
                        x.status = ExperimentStatus::ShadowTesting;
                        x.planned_windows = p.planned_windows;
                    }
                    x.transitions.push((x.status, seq, at));
                }
            }
            "experiment.completed" => {
                let Some(p) = parse::<ExperimentCompleted>(ev) else { return };
                let msg = format!("experiment `{}` completed: {}", p.hypothesis_id, name(&p.decision));
                if let Some(x) = self.experiments.get_mut(&p.hypothesis_id) {
                    x.status = ExperimentStatus::Completed;
                    x.transitions.push((x.status, seq, at));
                    x.completion = Some(p);
                }
                self.raise(ev, "experiment_complete", "info", msg, None, None);
            }
            "run.recorded" => {
                if let Some(p) = parse::<RunRecorded>(ev) {
                    self.runs.insert(p.run_id.clone(), Run { run: p, model, versions: vec![], seq });
                }
            }
            "version.registered" => {
                let Some(p) = parse::<VersionRegistered>(ev) else { return };
                let trigger = self.runs.get(&p.run_id).map_or(Trigger::Manual, |r| r.run.trigger);
                if let Some(r) = self.runs.get_mut(&p.run_id) {
                    r.versions.push(p.version);
                }
                if let Some(h) = self.runs.get(&p.run_id).and_then(|r| r.run.hypothesis_id.clone()) {
                    if let Some(x) = self.experiments.get_mut(&h) {
                        x.versions.push(p.version);
                    }
                }
                self.model_mut(&model).versions.insert(
                    p.version,
                    VersionInfo {
                        version: p.version,
                        segment,
                        run_id: p.run_id,
                        trigger,
                        artifact_digest: p.artifact_digest,
                        status: p.status,
                        metrics: p.metrics,
                        registered_seq: seq,
                        served: false,
                        backtests: vec![],
                        history: vec![],
                    },
                );
            }
            "version.status_changed" => {
                let Some(p) = parse::<VersionStatusChanged>(ev) else { return };
                if let Some(v) = self.model_mut(&model).versions.get_mut(&p.version) {
                    v.status = p.to;
                }
            }
            "champion.changed" => {
                let Some(p) = parse::<ChampionChanged>(ev) else { return };
                let key = seg_key(segment.as_deref());
                let m = self.model_mut(&model);
                if let Some(old) = p.from.and_then(|f| m.versions.get_mut(&f)) {
                    if old.status == VersionStatus::Champion {
                        old.status = VersionStatus::Archived;
                    }
                }
                if let Some(v) = m.versions.get_mut(&p.to) {
                    v.status = VersionStatus::Champion;
                    v.served = true;
                }
                m.champions.insert(key.clone(), p.to);
                m.champion_history.entry(key).or_default().push((seq, p.to, p.cause));
            }
            "backtest.recorded" => {
                let Some(p) = parse::<BacktestRecorded>(ev) else { return };
                let degraded = p.degraded;
                let version = p.version;
                if let Some(v) = self.model_mut(&model).versions.get_mut(&p.version) {
                    v.backtests.push(BacktestWindow {
                        window_start: p.window_start,
                        window_end: p.window_end,
                        metrics: p.metrics,
                        rows: p.rows,
                        degraded,
                        seq,
                    });
                }
                if degraded {
                    let msg = format!("backtest window of v{version} of `{model}` degraded past policy");
                    self.raise(ev, "backtest_degradation", "warning", msg, Some(version), None);
                }
            }
            "shadow.recorded" => {
                let Some(p) = parse::<ShadowRecorded>(ev) else { return };
                if let Some(x) = p.hypothesis_id.as_ref().and_then(|h| self.experiments.get_mut(h)) {
                    x.shadow_windows = p.window_index;
                }
                if p.complete {
                    let msg = format!(
                        "shadow test of v{} against v{} reached its planned length",
                        p.challenger, p.champion
                    );
                    self.raise(ev, "shadow_test_complete", "info", msg, Some(p.challenger), None);
                }
            }
            "drift.recorded" => {
                let Some(p) = parse::<DriftRecorded>(ev) else { return };
                if p.exceeded {
                    let msg = format!(
                        "{} drift {:.1}% ({} -> {}) on `{model}` exceeds {:.0}%: review required",
                        p.metric, p.drift_pct, p.baseline, p.recent, p.threshold_pct
                    );
                    self.raise(ev, "drift_detected", "critical", msg, p.version, None);
                }
            }
            "promotion.proposed" => {
                let Some(p) = parse::<PromotionProposed>(ev) else { return };
                let msg = format!(
                    "v{} proposed to replace {} for `{model}`",
                    p.challenger,
                    p.champion.map_or("nothing".into(), |c| format!("v{c}"))
                );
                let (id, challenger) = (p.proposal_id.clone(), p.challenger);
                let subject = subject.clone().unwrap_or_else(|| Subject::model(&model));
                self.proposals
                    .insert(id.clone(), Proposal { proposed: p, subject, status: "pending".into(), seq });
                self.raise(ev, "promotion_pending", "warning", msg, Some(challenger), Some(id));
            }
            "promotion.approved" | "promotion.rejected" => {
                let Some(p) = parse::<PromotionDecided>(ev) else { return };
                let approved = ev.kind == "promotion.approved";
                if let Some(pr) = self.proposals.get_mut(&p.proposal_id) {
                    pr.status = if approved { "approved" } else { "rejected" }.into();
                }
                let status = if approved { AlertStatus::Actioned } else { AlertStatus::Dismissed };
                let id = p.proposal_id.clone();
                self.set_alert_status(
                    |a| a.proposal_id.as_deref() == Some(&id) || a.id == id,
                    status,
                    &p.by,
                    &p.notes,
                    seq,
                );
            }
            "release.decided" => {
                let Some(p) = parse::<ReleaseDecided>(ev) else { return };
                self.releases.entry(model).or_default().push((seq, p));
            }
            "alert.read" => {
                let Some(p) = parse::<AlertRead>(ev) else { return };
                if let Some(a) = self.alerts.get_mut(&p.alert_id) {
                    if a.status == AlertStatus::Unread {
                        a.status = AlertStatus::Read;
                    }
                    a.history.push(("read".into(), p.by, String::new(), seq));
                }
            }
            "alert.actioned" => {
                let Some(p) = parse::<AlertActioned>(ev) else { return };
                let status =
                    if p.action == "approve" { AlertStatus::Actioned } else { AlertStatus::Dismissed };
                let id = p.alert_id.clone();
                self.set_alert_status(|a| a.id == id, status, &p.by, &p.notes, seq);
            }
            _ => {}
        }
    }

    /// blake3 of the state's canonical JSON: two replays agree iff their digests do.
    pub fn digest(&self) -> ledger::Digest {
        let bytes = ledger::canonical::to_vec(self).expect("the state holds finite numbers only");
        ledger::Digest::of(&bytes)
    }

    /// The model, if known.
    pub fn model(&self, name: &str) -> Option<&ModelState> {
        self.models.get(name)
    }

    /// Open (unread or read) alerts by severity, and every alert by status.
    pub fn alert_counts(&self) -> AlertCounts {
        let mut c = AlertCounts::default();
        for a in self.alerts.values() {
            let open = matches!(a.status, AlertStatus::Unread | AlertStatus::Read);
            if open {
                *c.open_by_severity.entry(a.severity.clone()).or_default() += 1;
            }
            *c.by_status.entry(name(&a.status)).or_default() += 1;
        }
        c
    }

    /// Production gates for releasing `model`: every segment with a champion has a serving
    /// version that is not archived, no critical alert about the model is open, no champion's
    /// latest backtest window is degraded, and no promotion proposal is pending.
    pub fn release_gates(&self, model: &str) -> Vec<ReleaseGate> {
        let m = self.model(model);
        let champions = m.map_or(0, |m| m.champions.len());
        let open = |a: &&Alert| {
            matches!(a.status, AlertStatus::Unread | AlertStatus::Read)
                && a.subject.as_ref().is_some_and(|s| s.model == model)
        };
        let critical: Vec<&str> = self
            .alerts
            .values()
            .filter(open)
            .filter(|a| a.severity == "critical")
            .map(|a| a.id.as_str())
            .collect();
        let degraded: Vec<String> = m
            .into_iter()
            .flat_map(|m| m.champions.values().filter_map(|v| m.versions.get(v)))
            .filter(|v| v.backtests.last().is_some_and(|b| b.degraded))
            .map(|v| format!("v{}", v.version))
            .collect();
        let pending: Vec<&str> = self
            .proposals
            .values()
            .filter(|p| p.status == "pending" && p.subject.model == model)
            .map(|p| p.proposed.proposal_id.as_str())
            .collect();
        let list = |v: &[&str]| v.join(", ");
        vec![
            ReleaseGate {
                gate: "champion_present".into(),
                passed: champions > 0,
                detail: format!("{champions} segment(s) with a champion"),
            },
            ReleaseGate {
                gate: "no_open_critical_alert".into(),
                passed: critical.is_empty(),
                detail: if critical.is_empty() {
                    "none open".into()
                } else {
                    format!("open: {}", list(&critical))
                },
            },
            ReleaseGate {
                gate: "latest_backtest_healthy".into(),
                passed: degraded.is_empty(),
                detail: if degraded.is_empty() {
                    "no champion's latest window is degraded".into()
                } else {
                    format!("degraded: {}", degraded.join(", "))
                },
            },
            ReleaseGate {
                gate: "no_pending_proposal".into(),
                passed: pending.is_empty(),
                detail: if pending.is_empty() {
                    "none pending".into()
                } else {
                    format!("pending: {}", list(&pending))
                },
            },
        ]
    }
}
