//! Import from an MLflow tracking server: registered model versions (with their runs'
//! parameters, metrics, tags and dataset inputs) become signed `run.record` commands, and the
//! current `champion` alias a `champion.bootstrap`. Read over MLflow's REST API (2.0 routes),
//! planned and checked in full before the first command is sent; command ids are derived from
//! MLflow's ids, and what the ledger already holds is skipped, so re-importing appends nothing
//! twice. The mapping is `docs/FORMAT.md` section 18.3.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use hyper::{Method, StatusCode};
use ledger::canonical::Timestamp;
use ledger::Digest;
use projections::events::{Task, Trigger};
use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::backend::{Backend, Signer};
use super::failure::{Failure, INVALID_INPUT};
use super::interop::percent_encode as enc;
use super::query::{LedgerInfo, PolicyInForce, Versions};
use super::remote::Client;
use crate::domain::command::{BootstrapBody, RunBody, RunModel};

/// What to import.
#[derive(Debug, Clone)]
pub struct MlflowRequest {
    /// The tracking server (`http://host:port`).
    pub tracking_uri: String,
    /// Only versions whose run is in one of these experiments (by name); all when empty.
    pub experiments: Vec<String>,
    /// Only these registered models; all when empty.
    pub models: Vec<String>,
    /// The task of models neither the ledger nor their `task` tag gives one.
    pub task: Option<Task>,
    /// The alias that names the champion.
    pub alias: String,
}

/// The format of the descriptor recorded as an imported version's artifact.
pub const DESCRIPTOR_FORMAT: &str = "pledge.mlflow-model-version.v1";

/// MLflow's REST API.
pub struct Mlflow {
    client: Client,
}

impl Mlflow {
    /// A reader of the tracking server at `uri`.
    pub fn new(uri: &str) -> Result<Mlflow, Failure> {
        let client = Client::new(uri, None).map_err(|_| {
            Failure::new(INVALID_INPUT, format!("`{uri}` is not a tracking server address"))
                .hint("write it like http://127.0.0.1:5000 (what `mlflow server` listens on)")
        })?;
        Ok(Mlflow { client })
    }

    /// `GET /api/2.0/mlflow/<path>`: the document; `Ok(None)` for RESOURCE_DOES_NOT_EXIST.
    fn get(&self, path: &str) -> Result<Option<Value>, Failure> {
        let url = format!("/api/2.0/mlflow/{path}");
        let (status, doc) = self.client.send(Method::GET, &url, None).map_err(|f| {
            Failure::new(INVALID_INPUT, format!("MLflow at `{}`: {}", self.client.base(), f.message))
                .hint("is `mlflow server` running there? (check --tracking-uri)")
        })?;
        if status == StatusCode::NOT_FOUND || doc["error_code"] == "RESOURCE_DOES_NOT_EXIST" {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(Failure::new(
                INVALID_INPUT,
                format!(
                    "MLflow at `{}` refused `{url}`: {} {}",
                    self.client.base(),
                    doc["error_code"].as_str().unwrap_or(status.as_str()),
                    doc["message"].as_str().unwrap_or("")
                ),
            ));
        }
        Ok(Some(doc))
    }

    /// Every page of a search: the items under `key`.
    fn pages(&self, path: &str, key: &str) -> Result<Vec<Value>, Failure> {
        let mut out = vec![];
        let mut token: Option<String> = None;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let url = match &token {
                Some(t) => format!("{path}{sep}page_token={}", enc(t)),
                None => path.to_string(),
            };
            let doc = self.get(&url)?.unwrap_or_default();
            out.extend(doc[key].as_array().cloned().unwrap_or_default());
            match doc["next_page_token"].as_str().filter(|t| !t.is_empty()) {
                Some(t) if token.as_deref() != Some(t) => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }
}

/// One registered model as MLflow holds it.
#[derive(Debug, Clone)]
pub struct MlflowModel {
    /// Its name.
    pub name: String,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// alias -> version.
    pub aliases: BTreeMap<String, String>,
    /// Its versions, by version number, each with its run (`runs/get`) when it has one.
    pub versions: Vec<(Value, Option<Value>)>,
}

fn pairs(v: &Value, k: &str, val: &str) -> BTreeMap<String, String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p[k].as_str()?.to_string(), p[val].as_str()?.to_string())))
        .collect()
}

/// Reads the registered models (all, or `req.models`) with their versions and runs, and the
/// experiments `req.experiments` names (name -> id).
pub fn read(
    m: &Mlflow,
    req: &MlflowRequest,
) -> Result<(Vec<MlflowModel>, BTreeMap<String, String>), Failure> {
    let mut experiments = BTreeMap::new();
    for name in &req.experiments {
        let doc = m.get(&format!("experiments/get-by-name?experiment_name={}", enc(name)))?.ok_or_else(|| {
            Failure::new(INVALID_INPUT, format!("MLflow has no experiment `{name}`"))
                .hint("names as the MLflow UI shows them; or leave --experiment out to import every experiment's versions")
        })?;
        experiments.insert(
            name.clone(),
            doc["experiment"]["experiment_id"].as_str().unwrap_or_default().to_string(),
        );
    }
    let names: Vec<String> = if req.models.is_empty() {
        m.pages("registered-models/search?max_results=1000", "registered_models")?
            .iter()
            .filter_map(|r| r["name"].as_str().map(str::to_string))
            .collect()
    } else {
        req.models.clone()
    };
    let mut models = vec![];
    for name in names {
        let doc = m
            .get(&format!("registered-models/get?name={}", enc(&name)))?
            .ok_or_else(|| Failure::new(INVALID_INPUT, format!("MLflow has no registered model `{name}`")))?;
        let rm = &doc["registered_model"];
        let filter = format!("name='{}'", name.replace('\'', "\\'"));
        let mut versions = m.pages(
            &format!("model-versions/search?filter={}&max_results=1000", enc(&filter)),
            "model_versions",
        )?;
        versions
            .sort_by_key(|v| v["version"].as_str().and_then(|s| s.parse::<u64>().ok()).unwrap_or(u64::MAX));
        let mut with_runs = vec![];
        for v in versions {
            let run = match v["run_id"].as_str().filter(|r| !r.is_empty()) {
                Some(r) => m.get(&format!("runs/get?run_id={}", enc(r)))?.map(|d| d["run"].clone()),
                None => None,
            };
            with_runs.push((v, run));
        }
        models.push(MlflowModel {
            name,
            tags: pairs(&rm["tags"], "key", "value"),
            aliases: pairs(&rm["aliases"], "alias", "version"),
            versions: with_runs,
        });
    }
    Ok((models, experiments))
}

/// A version that will be recorded.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedRun {
    /// MLflow's version number.
    pub mlflow_version: String,
    /// MLflow's run id.
    pub mlflow_run_id: String,
    /// The command's id (derived from MLflow's ids).
    pub command_id: Uuid,
    /// The `run.record` body.
    pub body: RunBody,
    /// The descriptor recorded as its artifact (canonical JSON).
    #[serde(skip)]
    pub descriptor: Vec<u8>,
}

/// What becomes of the champion alias.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AliasPlan {
    /// The model has no alias of that name.
    NoAlias,
    /// The alias names a version that is not imported (skipped or filtered out).
    NotImported {
        /// MLflow's version.
        mlflow_version: String,
    },
    /// Bootstrapped as the model's first champion.
    Bootstrap {
        /// MLflow's version.
        mlflow_version: String,
    },
    /// The ledger's champion is already that version.
    AlreadyChampion {
        /// MLflow's version.
        mlflow_version: String,
        /// Pledge's version.
        version: u64,
    },
    /// The ledger has another champion: promotions go through Pledge now.
    LedgerDiffers {
        /// MLflow's version the alias names.
        mlflow_version: String,
        /// The ledger's champion.
        champion: u64,
    },
}

/// One model's import.
#[derive(Debug, Clone, Serialize)]
pub struct ModelPlan {
    /// The model.
    pub model: String,
    /// Its task.
    pub task: Option<Task>,
    /// The ledger did not know it.
    pub new_model: bool,
    /// Versions to record, in MLflow's order.
    pub record: Vec<PlannedRun>,
    /// MLflow versions the ledger already holds: (MLflow version, Pledge version).
    pub present: Vec<(String, u64)>,
    /// MLflow versions not imported, and why.
    pub skipped: Vec<(String, String)>,
    /// Metrics not recorded (not finite): (MLflow version, metric).
    pub dropped_metrics: Vec<(String, String)>,
    /// The champion alias.
    pub alias: AliasPlan,
}

/// The Pledge run id of an MLflow model version.
pub fn run_id(model: &str, version: &str, mlflow_run: &str) -> String {
    format!("mlflow:{model}:v{version}:{mlflow_run}")
}

/// A command id derived from MLflow's ids: a UUID v7 whose time is the version's creation time
/// and whose other bits are blake3 of the ledger, the model, the version and the kind.
pub fn command_id(ledger: Uuid, created_ms: i64, model: &str, version: &str, kind: &str) -> Uuid {
    let mut bytes = b"pledge mlflow import\n".to_vec();
    bytes.extend_from_slice(ledger.as_bytes());
    for part in [model, version, kind] {
        bytes.extend_from_slice(part.as_bytes());
        bytes.push(b'\n');
    }
    let d = Digest::of(&bytes);
    let mut rand = [0u8; 10];
    rand.copy_from_slice(&d.as_bytes()[..10]);
    uuid::Builder::from_unix_timestamp_millis(created_ms.max(0) as u64, &rand).into_uuid()
}

fn ms_timestamp(ms: Option<i64>) -> Option<String> {
    let t = chrono::DateTime::from_timestamp_millis(ms?)?;
    Some(Timestamp::from_datetime(t).to_string())
}

fn canonical(v: &Value) -> Result<Vec<u8>, Failure> {
    ledger::canonical::to_vec(v).map_err(Failure::internal)
}

/// The ledger's view of one model: its task, its versions' run ids, its champion.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// The model exists in the ledger.
    pub exists: bool,
    /// Its task.
    pub task: Option<Task>,
    /// run id -> Pledge version.
    pub runs: BTreeMap<String, u64>,
    /// The whole model's champion.
    pub champion: Option<u64>,
}

/// Plans one model's import: every problem that would refuse a command is found here, before
/// anything is sent. `gates` are the gate metrics of each task under the policy in force.
#[allow(clippy::too_many_arguments)]
pub fn plan(
    m: &MlflowModel,
    known: &Known,
    req: &MlflowRequest,
    experiment_ids: &BTreeSet<String>,
    gates: &BTreeMap<Task, Vec<String>>,
    ledger: Uuid,
    problems: &mut Vec<String>,
) -> Result<ModelPlan, Failure> {
    let tag_task = m.tags.get("task").or_else(|| m.tags.get("pledge.task"));
    // The ledger's task, else the registered model's own tag, else the flag's default.
    let task = match (known.task, tag_task, req.task) {
        (Some(t), _, _) => Some(t),
        (None, Some(s), _) => match s.parse::<Task>() {
            Ok(t) => Some(t),
            Err(e) => {
                problems.push(format!("model `{}`: its `task` tag: {e}", m.name));
                None
            }
        },
        (None, None, t) => t,
    };
    let mut p = ModelPlan {
        model: m.name.clone(),
        task,
        new_model: !known.exists,
        record: vec![],
        present: vec![],
        skipped: vec![],
        dropped_metrics: vec![],
        alias: AliasPlan::NoAlias,
    };
    for (v, run) in &m.versions {
        let version = v["version"].as_str().unwrap_or_default().to_string();
        let status = v["status"].as_str().unwrap_or_default();
        let Some(run) = run.as_ref().filter(|_| status == "READY") else {
            let why = if status != "READY" {
                format!("its registration is `{status}`, not READY")
            } else {
                format!(
                    "registered from `{}` without an MLflow run to read",
                    v["source"].as_str().unwrap_or("")
                )
            };
            p.skipped.push((version, why));
            continue;
        };
        let info = &run["info"];
        let mlflow_run = info["run_id"].as_str().unwrap_or_default().to_string();
        let exp = info["experiment_id"].as_str().unwrap_or_default();
        if !experiment_ids.is_empty() && !experiment_ids.contains(exp) {
            p.skipped.push((version, format!("its run is in experiment {exp}, not one of --experiment")));
            continue;
        }
        if info["lifecycle_stage"] == "deleted" {
            p.skipped.push((version, "its run was deleted in MLflow".into()));
            continue;
        }
        let rid = run_id(&m.name, &version, &mlflow_run);
        if let Some(pv) = known.runs.get(&rid) {
            p.present.push((version, *pv));
            continue;
        }
        let Some(task) = task else {
            problems.push(format!(
                "model `{}` is not in the ledger and has no task: pass --task (classification, regression, forecast) or tag the registered model `task`",
                m.name
            ));
            break;
        };
        // Metrics: finite numbers only (MLflow writes NaN and infinities as strings).
        let mut metrics = BTreeMap::new();
        for mt in run["data"]["metrics"].as_array().into_iter().flatten() {
            let key = mt["key"].as_str().unwrap_or_default().to_string();
            match mt["value"].as_f64().filter(|x| x.is_finite()) {
                Some(x) => {
                    metrics.insert(key, x);
                }
                None => p.dropped_metrics.push((version.clone(), key)),
            }
        }
        for g in gates.get(&task).into_iter().flatten() {
            if !metrics.contains_key(g) {
                problems.push(format!(
                    "`{}` MLflow version {version}: its run has no finite `{g}`, a gate metric of {} models (promotion.gates.{})",
                    m.name,
                    task.as_str(),
                    task.as_str()
                ));
            }
        }
        let params: BTreeMap<String, String> = pairs(&run["data"]["params"], "key", "value");
        let tags: BTreeMap<String, String> = pairs(&run["data"]["tags"], "key", "value");
        let inputs = run["inputs"]["dataset_inputs"].as_array().cloned().unwrap_or_default();
        let dataset_digest = if inputs.is_empty() {
            Digest::of(&canonical(&json!({"mlflow_run_id": mlflow_run, "dataset_inputs": []}))?).to_string()
        } else {
            Digest::of(&canonical(&Value::Array(inputs.clone()))?).to_string()
        };
        let training = inputs
            .iter()
            .find(|i| {
                pairs(&i["tags"], "key", "value").get("mlflow.data.context").map(String::as_str)
                    == Some("training")
            })
            .or(inputs.first());
        let dataset_version = training.and_then(|i| {
            Some(format!("{}@{}", i["dataset"]["name"].as_str()?, i["dataset"]["digest"].as_str()?))
        });
        let created = v["creation_timestamp"].as_i64().unwrap_or(0);
        let descriptor = canonical(&json!({
            "format": DESCRIPTOR_FORMAT,
            "registered_model": m.name,
            "version": version,
            "source": v["source"],
            "run_id": mlflow_run,
            "creation_timestamp": created,
        }))?;
        let artifact_digest = Digest::of(&descriptor).to_string();
        let user_tags: BTreeMap<&String, &String> =
            tags.iter().filter(|(k, _)| !k.starts_with("mlflow.")).collect();
        let body = RunBody {
            run_id: rid,
            model: m.name.clone(),
            task: Some(task),
            trigger: Trigger::Manual,
            hypothesis_id: None,
            drift_alert_id: None,
            dataset_digest,
            dataset_version,
            feature_set: None,
            config_digest: Some(Digest::of(&canonical(&json!(params))?).to_string()),
            code_version: tags.get("mlflow.source.git.commit").cloned(),
            trainer: format!(
                "external:mlflow ({})",
                tags.get("mlflow.source.name").map(String::as_str).unwrap_or("source not recorded")
            ),
            params: json!({
                "mlflow": {
                    "tracking_uri": req.tracking_uri,
                    "experiment_id": exp,
                    "run_id": mlflow_run,
                    "run_name": info["run_name"],
                    "user_id": info["user_id"],
                    "status": info["status"],
                    "artifact_uri": info["artifact_uri"],
                    "registered_model": m.name,
                    "model_version": version,
                    "model_source": v["source"],
                    "tags": user_tags,
                },
                "params": params,
            }),
            metrics: metrics.clone().into(),
            started_at: ms_timestamp(info["start_time"].as_i64()),
            finished_at: ms_timestamp(info["end_time"].as_i64()),
            periods: vec![],
            models: vec![RunModel {
                segment: None,
                artifact_digest,
                metrics: metrics.into(),
                baseline: None,
            }],
            backtests: vec![],
        };
        p.record.push(PlannedRun {
            command_id: command_id(ledger, created, &m.name, &version, "run.record"),
            mlflow_version: version,
            mlflow_run_id: mlflow_run,
            body,
            descriptor,
        });
    }
    p.alias = match m.aliases.get(&req.alias) {
        None => AliasPlan::NoAlias,
        Some(av) => {
            let imported =
                p.record.iter().any(|r| &r.mlflow_version == av) || p.present.iter().any(|(mv, _)| mv == av);
            let present = p.present.iter().find(|(mv, _)| mv == av).map(|(_, pv)| *pv);
            match (imported, known.champion) {
                (false, _) => AliasPlan::NotImported { mlflow_version: av.clone() },
                (true, None) => AliasPlan::Bootstrap { mlflow_version: av.clone() },
                (true, Some(c)) if present == Some(c) => {
                    AliasPlan::AlreadyChampion { mlflow_version: av.clone(), version: c }
                }
                (true, Some(c)) => AliasPlan::LedgerDiffers { mlflow_version: av.clone(), champion: c },
            }
        }
    };
    Ok(p)
}

/// What an import did.
#[derive(Debug, Serialize)]
pub struct MlflowReport {
    /// The tracking server.
    pub tracking_uri: String,
    /// Per model.
    pub models: Vec<ModelReport>,
    /// Commands appended.
    pub commands: usize,
    /// Runs of the selected experiments that no registered version comes from (not imported).
    pub unregistered_runs: Option<usize>,
    /// Descriptors written into the ledger's `artifacts` (a local ledger only).
    pub descriptors_written: usize,
}

/// One model's import, done.
#[derive(Debug, Serialize)]
pub struct ModelReport {
    /// What was planned.
    #[serde(flatten)]
    pub plan: ModelPlan,
    /// Versions recorded now: (MLflow version, Pledge version).
    pub recorded: Vec<(String, u64)>,
    /// Champion changes the policy made while the versions were recorded (a model that had a
    /// champion judges new versions by its gates): Pledge versions promoted.
    pub promoted_by_policy: Vec<u64>,
    /// The champion bootstrapped from the alias: Pledge version.
    pub bootstrapped: Option<u64>,
}

fn gate_metrics(policy: &Value) -> BTreeMap<Task, Vec<String>> {
    Task::ALL
        .into_iter()
        .map(|t| {
            let ms = policy["promotion"]["gates"][t.as_str()]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|g| g["metric"].as_str().map(str::to_string))
                .collect();
            (t, ms)
        })
        .collect()
}

fn known(backend: &Backend, model: &str) -> Result<Known, Failure> {
    match backend.ask(&Versions { model: model.to_string() }) {
        Ok(a) => {
            let champion = a.champion_history.get("").and_then(|h| h.last()).map(|c| c.version);
            Ok(Known {
                exists: true,
                task: a.task,
                runs: a.versions.iter().map(|v| (v.run_id.clone(), v.version)).collect(),
                champion,
            })
        }
        Err(f) if f.missing => Ok(Known::default()),
        Err(f) => Err(f),
    }
}

/// Imports `req` into the ledger behind `backend`: runs signed by `signer`, the champion
/// bootstrap by `approver`. Everything is read and checked first: a problem anywhere (a model
/// without a task, a version without a gate metric) refuses the whole import, nothing written.
pub fn import(
    backend: &Backend,
    signer: &Signer,
    approver: &Signer,
    req: &MlflowRequest,
) -> Result<MlflowReport, Failure> {
    let mlflow = Mlflow::new(&req.tracking_uri)?;
    let info = backend.ask(&LedgerInfo)?;
    let ledger: Uuid =
        info.ledger_id.ok_or_else(|| Failure::new(INVALID_INPUT, "the ledger has no genesis"))?;
    let gates = gate_metrics(&backend.ask(&PolicyInForce)?.policy);
    let (models, experiments) = read(&mlflow, req)?;
    let experiment_ids: BTreeSet<String> = experiments.values().cloned().collect();
    let mut problems = vec![];
    let mut plans = vec![];
    for m in &models {
        let k = known(backend, &m.name)?;
        let p = plan(m, &k, req, &experiment_ids, &gates, ledger, &mut problems)?;
        if !experiment_ids.is_empty() && p.record.is_empty() && p.present.is_empty() && req.models.is_empty()
        {
            continue; // no version of this model comes from the selected experiments
        }
        plans.push(p);
    }
    if !problems.is_empty() {
        return Err(Failure::new(INVALID_INPUT, format!("nothing was imported: {}", problems.join("; ")))
            .hint("fix these in MLflow or with the flags, then import again"));
    }
    // Runs of the selected experiments that no imported version comes from.
    let unregistered_runs = if experiment_ids.is_empty() {
        None
    } else {
        // Every run a registered version comes from (those imported among them).
        let used: BTreeSet<&str> =
            models.iter().flat_map(|m| m.versions.iter().filter_map(|(v, _)| v["run_id"].as_str())).collect();
        let mut n = 0;
        for id in &experiment_ids {
            let runs = mlflow_runs(&mlflow, id)?;
            n += runs.iter().filter(|r| !used.contains(r.as_str())).count();
        }
        Some(n)
    };
    // The descriptors, content-addressed, into a local ledger's artifacts.
    let mut descriptors_written = 0;
    if let Ok(dir) = backend.dir() {
        let artifacts = super::training::artifact_dir(dir);
        for r in plans.iter().flat_map(|p| p.record.iter()) {
            std::fs::create_dir_all(&artifacts).map_err(Failure::internal)?;
            let path = artifacts.join(format!("{}.json", r.body.models[0].artifact_digest));
            if !path.exists() {
                write_file(&path, &r.descriptor)?;
                descriptors_written += 1;
            }
        }
    }
    let mut commands = 0;
    let mut reports = vec![];
    for mut p in plans {
        let batch: Vec<(Option<Uuid>, String, Value)> = p
            .record
            .iter()
            .map(|r| {
                Ok((
                    Some(r.command_id),
                    "run.record".to_string(),
                    serde_json::to_value(&r.body).map_err(Failure::internal)?,
                ))
            })
            .collect::<Result<_, Failure>>()?;
        let events = if batch.is_empty() { vec![] } else { backend.submit_with_ids(signer, batch)? };
        commands += p.record.len();
        let mut recorded = vec![];
        let mut promoted_by_policy = vec![];
        let mut by_run: BTreeMap<String, u64> = BTreeMap::new();
        let mut current_run = String::new();
        for e in &events {
            match e.event.kind.as_str() {
                "run.recorded" => {
                    current_run = e.event.payload["run_id"].as_str().unwrap_or_default().to_string()
                }
                "version.registered" => {
                    if let Some(v) = e.event.payload["version"].as_u64() {
                        by_run.insert(current_run.clone(), v);
                    }
                }
                "champion.changed" if e.event.payload["cause"] == "policy" => {
                    promoted_by_policy.extend(e.event.payload["to"].as_u64());
                }
                _ => {}
            }
        }
        for r in &p.record {
            if let Some(v) = by_run.get(&r.body.run_id) {
                recorded.push((r.mlflow_version.clone(), *v));
            }
        }
        // The policy may have made the alias' version champion while recording it.
        if let AliasPlan::LedgerDiffers { mlflow_version, .. } = &p.alias {
            let pledge =
                recorded.iter().chain(p.present.iter()).find(|(mv, _)| mv == mlflow_version).map(|(_, v)| *v);
            let now = known(backend, &p.model)?.champion;
            if let (Some(v), Some(c)) = (pledge, now) {
                p.alias = if v == c {
                    AliasPlan::AlreadyChampion { mlflow_version: mlflow_version.clone(), version: v }
                } else {
                    AliasPlan::LedgerDiffers { mlflow_version: mlflow_version.clone(), champion: c }
                };
            }
        }
        let mut bootstrapped = None;
        if let AliasPlan::Bootstrap { mlflow_version } = &p.alias {
            let version = recorded
                .iter()
                .chain(p.present.iter())
                .find(|(mv, _)| mv == mlflow_version)
                .map(|(_, v)| *v)
                .ok_or_else(|| {
                    Failure::internal(anyhow::anyhow!("version {mlflow_version} was not recorded"))
                })?;
            // The ledger may have got a champion meanwhile (by policy, above): then it stands.
            if known(backend, &p.model)?.champion.is_none() {
                let created = models
                    .iter()
                    .find(|m| m.name == p.model)
                    .and_then(|m| m.versions.iter().find(|(v, _)| v["version"] == mlflow_version.as_str()))
                    .and_then(|(v, _)| v["creation_timestamp"].as_i64())
                    .unwrap_or(0);
                let body = BootstrapBody {
                    model: p.model.clone(),
                    segment: None,
                    version,
                    reason: Some(format!(
                        "MLflow alias `{}` -> version {mlflow_version} at import from {}; MLflow keeps no history of alias moves",
                        req.alias, req.tracking_uri
                    )),
                };
                let id = command_id(ledger, created, &p.model, mlflow_version, "champion.bootstrap");
                backend.submit_with_ids(
                    approver,
                    vec![(
                        Some(id),
                        "champion.bootstrap".into(),
                        serde_json::to_value(&body).map_err(Failure::internal)?,
                    )],
                )?;
                commands += 1;
                bootstrapped = Some(version);
            }
        }
        reports.push(ModelReport { plan: p, recorded, promoted_by_policy, bootstrapped });
    }
    Ok(MlflowReport {
        tracking_uri: req.tracking_uri.clone(),
        models: reports,
        commands,
        unregistered_runs,
        descriptors_written,
    })
}

/// The ids of an experiment's runs.
fn mlflow_runs(m: &Mlflow, experiment_id: &str) -> Result<Vec<String>, Failure> {
    let mut out = vec![];
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({"experiment_ids": [experiment_id], "max_results": 1000});
        if let Some(t) = &token {
            body["page_token"] = json!(t);
        }
        let (status, doc) = m
            .client
            .send(Method::POST, "/api/2.0/mlflow/runs/search", Some(&body))
            .map_err(|f| Failure::new(INVALID_INPUT, format!("MLflow: {}", f.message)))?;
        if !status.is_success() {
            return Err(Failure::new(INVALID_INPUT, format!("MLflow refused runs/search: {doc}")));
        }
        out.extend(
            doc["runs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["info"]["run_id"].as_str().map(str::to_string)),
        );
        match doc["next_page_token"].as_str().filter(|t| !t.is_empty()) {
            Some(t) if token.as_deref() != Some(t) => token = Some(t.to_string()),
            _ => return Ok(out),
        }
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    ledger::export::write_atomic(path, bytes).map_err(|e| Failure::new(INVALID_INPUT, e.to_string()))
}
