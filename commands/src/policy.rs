//! The domain policy: promotion gates, drift and backtest thresholds, and who may issue what.
//! It lives in the ledger (genesis, then `policy.set`); every decision records its version.

use serde_json::{json, Value};

use projections::events::{GateResult, Metrics, Trigger};

/// Which way a metric improves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Lower is better (MAE, MAPE, log-loss).
    Lower,
    /// Higher is better (AUC, coverage).
    Higher,
}

/// One promotion gate.
#[derive(Clone, Debug, PartialEq)]
pub struct Gate {
    /// Metric name.
    pub metric: String,
    /// Which way is better.
    pub direction: Direction,
    /// Required relative improvement (0.05 = 5%).
    pub margin: f64,
    /// Strictly better than the threshold (`<`/`>`), or not worse (`<=`/`>=`).
    pub strict: bool,
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
            direction: match self.direction {
                Direction::Lower => "lower",
                Direction::Higher => "higher",
            }
            .into(),
            margin: self.margin,
            strict: self.strict,
            candidate,
            champion,
            threshold,
            passed,
        }
    }
}

/// The domain sections of a policy document, parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// Promotion gates (all must pass).
    pub gates: Vec<Gate>,
    /// Triggers whose candidates may be promoted without a person.
    pub auto_promote: Vec<Trigger>,
    /// Drift: the metric compared, lower-is-better.
    pub drift_metric: String,
    /// Drift: degradation above this percentage raises a critical alert.
    pub drift_max_pct: f64,
    /// Drift: any feature PSI above this raises a critical alert.
    pub psi_threshold: f64,
    /// Backtest: a window this many percent worse than the version's own metric is degraded.
    pub backtest_max_pct: f64,
    /// Shadow test length in windows, unless an experiment says otherwise.
    pub shadow_windows: u32,
    /// Per-model rules (`models.<name>` in the document): gates and drift metric for models
    /// whose metrics differ from the ledger-wide rule (a classifier beside a forecaster).
    pub models: std::collections::BTreeMap<String, ModelRules>,
}

/// A model's own promotion gates and drift metric, replacing the ledger-wide ones.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ModelRules {
    /// Gates replacing `promotion.gates`.
    pub gates: Option<Vec<Gate>>,
    /// Metric replacing `drift.metric`.
    pub drift_metric: Option<String>,
}

/// The default policy document: the seeds' rule (MAE and MAPE each at least 5% better than the
/// champion's, coverage not lower), drift above 15% is critical, and the permission table.
pub fn default_policy() -> Value {
    json!({
        "permissions": {
            "key.enroll": ["admin"], "key.revoke": ["admin"], "role.grant": ["admin"],
            "role.revoke": ["admin"], "policy.set": ["admin"],
            "dataset.register": ["scientist", "service"],
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
            "release.decide": ["approver"]
        },
        "promotion": {
            "gates": [
                {"metric": "mae", "direction": "lower", "margin": 0.05, "strict": true},
                {"metric": "mape", "direction": "lower", "margin": 0.05, "strict": true},
                {"metric": "coverage", "direction": "higher", "margin": 0.0, "strict": false}
            ],
            "auto_promote_triggers": ["scheduled", "manual"]
        },
        "drift": {"metric": "mae", "max_degradation_pct": 15.0, "psi_threshold": 0.2},
        "backtest": {"max_degradation_pct": 15.0},
        "shadow": {"planned_windows": 14}
    })
}

fn num(v: &Value, path: &str) -> Result<f64, String> {
    v.as_f64().filter(|x| x.is_finite()).ok_or_else(|| format!("policy `{path}` must be a number"))
}

impl Policy {
    /// Parses the domain sections of a policy document.
    pub fn from_document(doc: &Value) -> Result<Policy, String> {
        let p = &doc["promotion"];
        let gates = parse_gates(&p["gates"], "promotion.gates")?;
        let mut models = std::collections::BTreeMap::new();
        if let Some(m) = doc.get("models") {
            let m = m.as_object().ok_or("policy `models` must be an object of model names")?;
            for (name, rules) in m {
                let r =
                    rules.as_object().ok_or_else(|| format!("policy `models.{name}` must be an object"))?;
                if let Some(k) = r.keys().find(|k| !matches!(k.as_str(), "gates" | "drift_metric")) {
                    return Err(format!(
                        "policy `models.{name}` has an unknown key `{k}` (gates, drift_metric)"
                    ));
                }
                let gates = match r.get("gates") {
                    Some(g) => Some(parse_gates(g, &format!("models.{name}.gates"))?),
                    None => None,
                };
                let drift_metric = match r.get("drift_metric") {
                    Some(v) => Some(
                        v.as_str()
                            .ok_or_else(|| {
                                format!("policy `models.{name}.drift_metric` must be a metric name")
                            })?
                            .to_string(),
                    ),
                    None => None,
                };
                models.insert(name.clone(), ModelRules { gates, drift_metric });
            }
        }
        let auto_promote = p["auto_promote_triggers"]
            .as_array()
            .map(|a| a.iter().filter_map(|t| serde_json::from_value(t.clone()).ok()).collect())
            .unwrap_or_default();
        Ok(Policy {
            gates,
            auto_promote,
            drift_metric: doc["drift"]["metric"].as_str().unwrap_or("mae").to_string(),
            drift_max_pct: num(&doc["drift"]["max_degradation_pct"], "drift.max_degradation_pct")?,
            psi_threshold: num(&doc["drift"]["psi_threshold"], "drift.psi_threshold")?,
            backtest_max_pct: num(&doc["backtest"]["max_degradation_pct"], "backtest.max_degradation_pct")?,
            shadow_windows: match doc["shadow"].get("planned_windows") {
                None => 14,
                Some(v) => v.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or(
                    "policy `shadow.planned_windows` must be a whole number of windows (at most 4294967295)",
                )?,
            },
            models,
        })
    }

    /// The rules that apply to `model`: its own gates and drift metric where the policy has
    /// them, the ledger-wide ones otherwise.
    pub fn for_model(&self, model: &str) -> Policy {
        let mut p = self.clone();
        if let Some(r) = self.models.get(model) {
            if let Some(g) = &r.gates {
                p.gates = g.clone();
            }
            if let Some(m) = &r.drift_metric {
                p.drift_metric = m.clone();
            }
        }
        p
    }
}

fn parse_gates(v: &Value, path: &str) -> Result<Vec<Gate>, String> {
    v.as_array()
        .ok_or_else(|| format!("policy `{path}` must be a list"))?
        .iter()
        .map(|g| {
            Ok(Gate {
                metric: g["metric"].as_str().ok_or("a gate needs a `metric`")?.to_string(),
                direction: match g["direction"].as_str() {
                    Some("lower") => Direction::Lower,
                    Some("higher") => Direction::Higher,
                    _ => return Err("a gate's `direction` must be `lower` or `higher`".to_string()),
                },
                margin: num(&g["margin"], &format!("{path}[].margin"))?,
                strict: g["strict"].as_bool().unwrap_or(true),
            })
        })
        .collect::<Result<Vec<_>, String>>()
}

impl Policy {
    /// Evaluates every gate; a metric missing on either side is an error naming it.
    pub fn evaluate(&self, candidate: &Metrics, champion: &Metrics) -> Result<Vec<GateResult>, String> {
        self.gates
            .iter()
            .map(|g| {
                let c = candidate.get(&g.metric).ok_or_else(|| {
                    format!("the candidate has no `{}` metric, which a policy gate needs", g.metric)
                })?;
                let h = champion.get(&g.metric).ok_or_else(|| {
                    format!("the champion has no `{}` metric, which a policy gate needs", g.metric)
                })?;
                Ok(g.evaluate(*c, *h))
            })
            .collect()
    }
}
