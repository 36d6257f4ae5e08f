//! The policy: one typed, validated document (`docs/FORMAT.md`, section 8) with the domain's
//! rules as methods. It is parsed once per policy version; `ledger.create` and `policy.set`
//! are refused with `policy.invalid` when it does not parse or validate, whatever path they
//! come by (CLI, `pledge submit`, HTTP), so a recorded policy always parses.
//!
//! The decide step, the counterfactual replay, health, the daily report and the release
//! gates all judge through these methods; no other code holds a copy of a rule.

use std::collections::BTreeMap;

use ledger::Role;
use projections::events::{Direction, GateResult, Metrics, Task, Trigger};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::command::CommandKind;
use super::metrics;

/// The whole policy document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Command kind -> roles allowed to issue it (the ledger checks it on every command).
    pub permissions: BTreeMap<String, Vec<Role>>,
    /// How far a command's `issued_at` may be from the time it is recorded (the ledger's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freshness: Option<FreshnessRules>,
    /// Witnesses whose cosignatures publish a checkpoint (the ledger's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witnesses: Option<WitnessRules>,
    /// Promotion gates and who promotes.
    pub promotion: PromotionRules,
    /// Drift thresholds.
    pub drift: DriftRules,
    /// Backtest threshold.
    pub backtest: BacktestRules,
    /// Shadow testing of experiments.
    pub shadow: ShadowRules,
    /// Rules for one model, replacing the task's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub models: BTreeMap<String, ModelRules>,
}

/// `freshness` (checked by the ledger: `docs/FORMAT.md`, section 8).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FreshnessRules {
    /// Largest lead of `issued_at` over the recording time, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_future_seconds: Option<u64>,
    /// Largest age of `issued_at` at the recording time, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_seconds: Option<u64>,
}

/// `witnesses` (checked by the ledger: `docs/FORMAT.md`, section 8).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WitnessRules {
    /// Witness verifier keys.
    pub keys: Vec<String>,
    /// Cosignatures required.
    pub quorum: u64,
}

/// One value per task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ByTask<T> {
    /// For classifiers.
    pub classification: T,
    /// For regressors.
    pub regression: T,
    /// For forecasters.
    pub forecast: T,
}

impl<T> ByTask<T> {
    /// The value for `task`.
    pub fn get(&self, task: Task) -> &T {
        match task {
            Task::Classification => &self.classification,
            Task::Regression => &self.regression,
            Task::Forecast => &self.forecast,
        }
    }
}

/// `promotion`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromotionRules {
    /// The gates every candidate must pass, per task.
    pub gates: ByTask<Vec<Gate>>,
    /// Triggers whose candidates are promoted without a person when they pass.
    pub auto_promote_triggers: Vec<Trigger>,
    /// Distinct approvers a promotion by people needs (k of the approvers).
    pub approvals: u32,
}

/// One promotion gate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    /// Metric name.
    pub metric: String,
    /// Which way is better.
    pub direction: Direction,
    /// Required relative improvement (0.05 = 5%), from 0 up to (not including) 1.
    pub margin: f64,
    /// Strictly better than the threshold (`<`/`>`), or not worse (`<=`/`>=`).
    pub strict: bool,
}

/// `drift`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DriftRules {
    /// The metric drift compares, per task.
    pub metric: ByTask<String>,
    /// Degradation above this percentage raises a critical alert.
    pub max_degradation_pct: f64,
    /// Any feature PSI above this raises a critical alert.
    pub psi_threshold: f64,
}

/// `backtest`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestRules {
    /// A champion's window this many percent worse than its own metric is degraded.
    pub max_degradation_pct: f64,
}

/// `shadow`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShadowRules {
    /// Shadow-test length in windows (per segment), unless an experiment says otherwise.
    pub planned_windows: u32,
    /// Adopting an experiment's versions needs its shadow test complete.
    pub required: bool,
}

/// `models.<name>`: one model's own rules.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelRules {
    /// Gates replacing its task's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gates: Option<Vec<Gate>>,
    /// Drift metric replacing its task's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_metric: Option<String>,
    /// Approvals replacing `promotion.approvals`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvals: Option<u32>,
    /// Per segment: approvals replacing the model's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub segments: BTreeMap<String, SegmentRules>,
}

/// `models.<name>.segments.<segment>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentRules {
    /// Distinct approvers a promotion in this segment needs.
    pub approvals: u32,
}

/// Why a policy document is refused: where, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError(pub String);

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn classification_gates() -> Value {
    json!([
        {"metric": "roc_auc", "direction": "higher", "margin": 0.0, "strict": true},
        {"metric": "log_loss", "direction": "lower", "margin": 0.0, "strict": false}
    ])
}

/// The default policy document: per task, the seeds' gates (forecast: MAE and MAPE each at
/// least 5% better than the champion's, coverage not lower; regression: MAE 5% better, RMSE
/// not worse; classification: ROC-AUC better, log-loss not worse), drift above 15% is
/// critical, one approver, a 14-window shadow test before adoption, and the permission table.
pub fn default_policy() -> Value {
    json!({
        "permissions": {
            "key.enroll": ["admin"], "key.revoke": ["admin"], "role.grant": ["admin"],
            "role.revoke": ["admin"], "policy.set": ["admin"],
            "dataset.register": ["scientist", "service"],
            "model.register": ["scientist", "service"],
            "hypothesis.propose": ["scientist"],
            "experiment.approve": ["approver"],
            "experiment.reject": ["approver"],
            "experiment.start": ["scientist"],
            "experiment.shadow": ["scientist"],
            "experiment.complete": ["scientist", "approver"],
            "run.record": ["scientist", "service"],
            "backtest.record": ["scientist", "service"],
            "shadow.record": ["scientist", "service"],
            "drift.record": ["scientist", "service"],
            "champion.bootstrap": ["approver"],
            "arena.propose": ["scientist", "service"],
            "arena.approve": ["approver"],
            "arena.reject": ["approver", "scientist"],
            "rollback": ["approver"],
            "alert.read": ["admin", "approver", "scientist", "service"],
            "alert.action": ["approver", "scientist"],
            "release.decide": ["approver"],
            "shadow.start": ["scientist", "approver", "service"],
            "shadow.stop": ["scientist", "approver", "service"]
        },
        "promotion": {
            "gates": {
                "forecast": [
                    {"metric": "mae", "direction": "lower", "margin": 0.05, "strict": true},
                    {"metric": "mape", "direction": "lower", "margin": 0.05, "strict": true},
                    {"metric": "coverage", "direction": "higher", "margin": 0.0, "strict": false}
                ],
                "regression": [
                    {"metric": "mae", "direction": "lower", "margin": 0.05, "strict": true},
                    {"metric": "rmse", "direction": "lower", "margin": 0.0, "strict": false}
                ],
                "classification": classification_gates()
            },
            "auto_promote_triggers": ["scheduled", "manual"],
            "approvals": 1
        },
        "drift": {
            "metric": {"forecast": "mae", "regression": "mae", "classification": "log_loss"},
            "max_degradation_pct": 15.0,
            "psi_threshold": 0.2
        },
        "backtest": {"max_degradation_pct": 15.0},
        "shadow": {"planned_windows": 14, "required": true}
    })
}

impl Policy {
    /// Parses and validates a policy document. The error names the member (`promotion.gates.
    /// forecast[1].strict`) and what is wrong with it.
    pub fn parse(doc: &Value) -> Result<Policy, PolicyError> {
        let p: Policy = serde_path_to_error::deserialize(doc).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            PolicyError(if path == "." { inner.to_string() } else { format!("`{path}`: {inner}") })
        })?;
        p.validate()?;
        Ok(p)
    }

    fn validate(&self) -> Result<(), PolicyError> {
        let bad = |m: String| Err(PolicyError(m));
        for kind in self.permissions.keys() {
            if !ledger::trust::kinds::COMMANDS.contains(&kind.as_str()) && CommandKind::parse(kind).is_none()
            {
                return bad(format!("`permissions` lists `{kind}`, which is no command kind"));
            }
        }
        for task in Task::ALL {
            check_gates(&format!("promotion.gates.{}", task.as_str()), self.promotion.gates.get(task))?;
            check_drift_metric(&format!("drift.metric.{}", task.as_str()), self.drift.metric.get(task))?;
        }
        check_approvals("promotion.approvals", self.promotion.approvals)?;
        for (name, x) in [
            ("drift.max_degradation_pct", self.drift.max_degradation_pct),
            ("drift.psi_threshold", self.drift.psi_threshold),
            ("backtest.max_degradation_pct", self.backtest.max_degradation_pct),
        ] {
            if !(x.is_finite() && x >= 0.0) {
                return bad(format!("`{name}` is {x}; it must be a number, 0 or more"));
            }
        }
        if self.shadow.planned_windows == 0 {
            return bad("`shadow.planned_windows` must be at least 1".into());
        }
        for (model, rules) in &self.models {
            ledger::Subject::model(model).validate().map_err(|e| PolicyError(format!("`models`: {e}")))?;
            if let Some(g) = &rules.gates {
                check_gates(&format!("models.{model}.gates"), g)?;
            }
            if let Some(m) = &rules.drift_metric {
                check_drift_metric(&format!("models.{model}.drift_metric"), m)?;
            }
            if let Some(k) = rules.approvals {
                check_approvals(&format!("models.{model}.approvals"), k)?;
            }
            for (segment, s) in &rules.segments {
                ledger::Subject::segment(model, segment)
                    .validate()
                    .map_err(|e| PolicyError(format!("`models.{model}.segments`: {e}")))?;
                check_approvals(&format!("models.{model}.segments.{segment}.approvals"), s.approvals)?;
            }
        }
        Ok(())
    }

    /// The rules for `model`, a model of `task`.
    pub fn for_model<'a>(&'a self, model: &'a str, task: Task) -> ModelPolicy<'a> {
        ModelPolicy { policy: self, model, task, own: self.models.get(model) }
    }

    /// Whether a candidate of `trigger` that passes the gates is promoted without a person.
    pub fn promotes(&self, trigger: Trigger) -> bool {
        self.promotion.auto_promote_triggers.contains(&trigger)
    }

    /// Whether a drift check exceeds the policy: the degradation, or any feature's PSI.
    pub fn drift_exceeded(&self, drift_pct: f64, psi: &BTreeMap<String, f64>) -> bool {
        drift_pct > self.drift.max_degradation_pct || psi.values().any(|p| *p > self.drift.psi_threshold)
    }
}

fn check_approvals(path: &str, k: u32) -> Result<(), PolicyError> {
    if k == 0 {
        return Err(PolicyError(format!(
            "`{path}` must be at least 1: a promotion by people needs an approver"
        )));
    }
    Ok(())
}

fn check_drift_metric(path: &str, metric: &str) -> Result<(), PolicyError> {
    if metric.trim().is_empty() {
        return Err(PolicyError(format!("`{path}` must name a metric")));
    }
    if metrics::info(metric).is_some_and(|i| i.direction.is_none()) {
        return Err(PolicyError(format!(
            "`{path}` is `{metric}`, which neither improves nor degrades; drift needs a metric with a direction"
        )));
    }
    Ok(())
}

fn check_gates(path: &str, gates: &[Gate]) -> Result<(), PolicyError> {
    if gates.is_empty() {
        return Err(PolicyError(format!(
            "`{path}` is empty: every candidate would pass; list at least one gate"
        )));
    }
    for (i, g) in gates.iter().enumerate() {
        let at = format!("{path}[{i}]");
        if g.metric.trim().is_empty() {
            return Err(PolicyError(format!("`{at}.metric` must name a metric")));
        }
        if gates[..i].iter().any(|h| h.metric == g.metric) {
            return Err(PolicyError(format!("`{path}` has two gates on `{}`", g.metric)));
        }
        if !(g.margin.is_finite() && (0.0..1.0).contains(&g.margin)) {
            return Err(PolicyError(format!(
                "`{at}.margin` is {}; it must be from 0 up to (not including) 1 (0.05 = 5%)",
                g.margin
            )));
        }
        if let Some(known) = metrics::info(&g.metric).and_then(|i| i.direction) {
            if known != g.direction {
                return Err(PolicyError(format!(
                    "`{at}`: `{}` improves when it is {}, but the gate says `{}`: it would promote worse models",
                    g.metric,
                    known.as_str(),
                    g.direction.as_str()
                )));
            }
        }
    }
    Ok(())
}

impl Gate {
    /// Evaluates the gate: lower-is-better passes when `candidate < champion * (1 - margin)`
    /// (`<=` when not strict); higher-is-better when `candidate > champion * (1 + margin)`.
    pub fn evaluate(&self, candidate: f64, champion: f64) -> GateResult {
        let (threshold, passed) = match self.direction {
            Direction::Lower => {
                let t = champion * (1.0 - self.margin);
                (t, if self.strict { candidate < t } else { candidate <= t })
            }
            Direction::Higher => {
                let t = champion * (1.0 + self.margin);
                (t, if self.strict { candidate > t } else { candidate >= t })
            }
        };
        GateResult {
            metric: self.metric.clone(),
            direction: self.direction,
            margin: self.margin,
            strict: self.strict,
            candidate,
            champion,
            threshold,
            passed,
        }
    }
}

/// A gate metric missing from one side of a comparison.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingMetric {
    /// The metric.
    pub metric: String,
    /// `candidate` or `champion`.
    pub side: &'static str,
    /// The policy member the gate comes from.
    pub section: String,
}

impl std::fmt::Display for MissingMetric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the {} has no `{}` metric, which the gates in policy `{}` need; record it, or change the gates with `pledge policy set`",
            self.side, self.metric, self.section
        )
    }
}

/// The policy's rules for one model.
#[derive(Clone, Copy, Debug)]
pub struct ModelPolicy<'a> {
    /// The whole policy.
    pub policy: &'a Policy,
    /// The model.
    pub model: &'a str,
    /// Its task.
    pub task: Task,
    own: Option<&'a ModelRules>,
}

impl<'a> ModelPolicy<'a> {
    /// The gates, and the policy member they come from.
    pub fn gates(&self) -> (&'a [Gate], String) {
        match self.own.and_then(|r| r.gates.as_deref()) {
            Some(g) => (g, format!("models.{}.gates", self.model)),
            None => (
                self.policy.promotion.gates.get(self.task),
                format!("promotion.gates.{}", self.task.as_str()),
            ),
        }
    }

    /// Evaluates every gate of candidate metrics against the champion's.
    pub fn evaluate(
        &self,
        candidate: &Metrics,
        champion: &Metrics,
    ) -> Result<Vec<GateResult>, MissingMetric> {
        let (gates, section) = self.gates();
        gates
            .iter()
            .map(|g| {
                let missing =
                    |side| MissingMetric { metric: g.metric.clone(), side, section: section.clone() };
                let c = candidate.get(&g.metric).ok_or_else(|| missing("candidate"))?;
                let h = champion.get(&g.metric).ok_or_else(|| missing("champion"))?;
                Ok(g.evaluate(*c, *h))
            })
            .collect()
    }

    /// The gate metrics `metrics` lacks (empty: it can be judged).
    pub fn missing_gate_metrics(&self, metrics: &Metrics) -> Vec<String> {
        self.gates().0.iter().filter(|g| !metrics.contains_key(&g.metric)).map(|g| g.metric.clone()).collect()
    }

    /// The metric drift and backtests follow.
    pub fn drift_metric(&self) -> &'a str {
        self.own.and_then(|r| r.drift_metric.as_deref()).unwrap_or(self.policy.drift.metric.get(self.task))
    }

    /// Which way `metric` improves: its gate's direction, else the metric table's.
    pub fn direction_of(&self, metric: &str) -> Option<Direction> {
        self.gates()
            .0
            .iter()
            .find(|g| g.metric == metric)
            .map(|g| g.direction)
            .or_else(|| metrics::info(metric).and_then(|i| i.direction))
    }

    /// The relative degradation of `recent` against `baseline` for `metric`, in percent
    /// (positive = worse), or `None` when the baseline is not positive or the direction is
    /// unknown.
    pub fn degradation_pct(&self, metric: &str, baseline: f64, recent: f64) -> Option<f64> {
        if baseline <= 0.0 {
            return None;
        }
        let worse = match self.direction_of(metric)? {
            Direction::Lower => recent - baseline,
            Direction::Higher => baseline - recent,
        };
        Some(worse / baseline * 100.0)
    }

    /// Whether a backtest window of a version is degraded against the version's own metrics.
    pub fn backtest_degraded(&self, version: &Metrics, window: &Metrics) -> bool {
        let m = self.drift_metric();
        match (version.get(m), window.get(m)) {
            (Some(b), Some(w)) => {
                self.degradation_pct(m, *b, *w).is_some_and(|d| d > self.policy.backtest.max_degradation_pct)
            }
            _ => false,
        }
    }

    /// Distinct approvers a promotion of this model in `segment` needs.
    pub fn approvals(&self, segment: Option<&str>) -> u32 {
        let own = self.own;
        segment
            .and_then(|s| own?.segments.get(s).map(|r| r.approvals))
            .or_else(|| own.and_then(|r| r.approvals))
            .unwrap_or(self.policy.promotion.approvals)
    }

    /// Whether the trigger auto-promotes.
    pub fn promotes(&self, trigger: Trigger) -> bool {
        self.policy.promotes(trigger)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_parses_and_round_trips() {
        let p = Policy::parse(&default_policy()).unwrap();
        let again = serde_json::to_value(&p).unwrap();
        assert_eq!(again, default_policy());
        assert_eq!(Policy::parse(&again).unwrap(), p);
    }

    fn refused(edit: impl FnOnce(&mut Value)) -> String {
        let mut doc = default_policy();
        edit(&mut doc);
        Policy::parse(&doc).unwrap_err().0
    }

    #[test]
    fn every_kind_of_mistake_is_refused_naming_the_member() {
        let e = refused(|d| d["promotion"]["auto_promote_triggers"] = json!(["scheduled", "nightly"]));
        assert!(e.contains("promotion.auto_promote_triggers") && e.contains("nightly"), "{e}");
        let e = refused(|d| {
            d["promotion"]["gates"]["forecast"][0]
                .as_object_mut()
                .unwrap()
                .remove("strict")
                .map(drop)
                .unwrap()
        });
        assert!(e.contains("promotion.gates.forecast[0]") && e.contains("strict"), "{e}");
        let e = refused(|d| d["drift"]["thresold"] = json!(1));
        assert!(e.contains("thresold"), "{e}");
        let e = refused(|d| d["colour"] = json!("red"));
        assert!(e.contains("colour"), "{e}");
        let e = refused(|d| d["promotion"]["gates"]["forecast"][0]["direction"] = json!("higher"));
        assert!(e.contains("would promote worse models"), "{e}");
        let e = refused(|d| d["promotion"]["gates"]["regression"] = json!([]));
        assert!(e.contains("promotion.gates.regression") && e.contains("empty"), "{e}");
        let e = refused(|d| d["promotion"]["gates"]["forecast"][1]["margin"] = json!(1.5));
        assert!(e.contains("promotion.gates.forecast[1].margin"), "{e}");
        let e = refused(|d| d["permissions"]["arena.aprove"] = json!(["approver"]));
        assert!(e.contains("arena.aprove"), "{e}");
        let e = refused(|d| d["promotion"]["approvals"] = json!(0));
        assert!(e.contains("promotion.approvals"), "{e}");
        let e = refused(|d| d["models"] = json!({"m": {"approvals": 2, "gate": []}}));
        assert!(e.contains("models.m") && e.contains("gate"), "{e}");
        let e = refused(|d| d["shadow"]["planned_windows"] = json!(0));
        assert!(e.contains("shadow.planned_windows"), "{e}");
    }

    #[test]
    fn a_models_rules_replace_its_tasks() {
        let mut doc = default_policy();
        doc["models"] = json!({"m": {"gates": [{"metric": "brier", "direction": "lower", "margin": 0.0, "strict": true}],
                               "drift_metric": "brier", "approvals": 2, "segments": {"eu": {"approvals": 3}}}});
        let p = Policy::parse(&doc).unwrap();
        let m = p.for_model("m", Task::Classification);
        assert_eq!(m.gates().1, "models.m.gates");
        assert_eq!(m.drift_metric(), "brier");
        assert_eq!((m.approvals(None), m.approvals(Some("eu")), m.approvals(Some("us"))), (2, 3, 2));
        let other = p.for_model("n", Task::Classification);
        assert_eq!(other.gates().1, "promotion.gates.classification");
        assert_eq!((other.drift_metric(), other.approvals(Some("eu"))), ("log_loss", 1));
    }

    #[test]
    fn degradation_follows_the_metrics_direction() {
        let p = Policy::parse(&default_policy()).unwrap();
        let c = p.for_model("m", Task::Classification);
        assert_eq!(c.degradation_pct("roc_auc", 0.8, 0.6).map(|d| d.round()), Some(25.0));
        assert_eq!(c.degradation_pct("log_loss", 0.5, 0.6).map(|d| d.round()), Some(20.0));
        assert_eq!(c.degradation_pct("mystery", 0.5, 0.6), None);
        let window = |v: f64| Metrics::from([("log_loss".to_string(), v)]);
        assert!(c.backtest_degraded(&window(0.5), &window(0.6)));
        assert!(!c.backtest_degraded(&window(0.5), &window(0.4)));
    }
}
