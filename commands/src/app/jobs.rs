//! Scheduled jobs: the seeds' weekly retrain, daily drift check, daily champion backtest and
//! shadow evaluation, declared in a jobs file and run when due, by `pledge jobs run --due` (for
//! cron, systemd timers, a Kubernetes CronJob) or by `pledge serve --jobs` with its service key.
//!
//! A job is due at each instant of its schedule (`every` hour, day or week, `at` a UTC time,
//! `weekday` for weekly ones); a run takes the latest instant not after now. Its commands'
//! ids are derived from the ledger, the job's name and that instant (UUID v7 with the instant
//! as its time), so the ledger itself says whether the run happened: running the due jobs
//! twice appends them once, from any process.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, Duration, NaiveTime, Timelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::backend::{Port, Signer};
use super::failure::{Failure, INVALID_INPUT};
use super::query::EventDoc;
use super::training::{self, DriftRequest, DriftSource, RunMeta, TrainRequest};
use crate::domain::command::BacktestBody;
use crate::domain::DomainCommand;

/// What a job does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Train the model on `data` with `spec` (and `params`) and record the run, trigger
    /// `scheduled` (promoted by the policy when its gates pass).
    Retrain,
    /// The champion's metric on the last `recent_periods` of `data` against the
    /// `baseline_periods` before them, and PSI per feature: a signed `drift.record`.
    DriftCheck,
    /// The champion of each segment on the last `periods` periods of `data`: a
    /// `backtest.record` per champion.
    Backtest,
    /// The shadow windows of the schedule's last interval (`pledge shadow evaluate`).
    ShadowEvaluate,
}

/// How often a job is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Every {
    /// Every hour, at minute `at` (`"MM"`, default `"00"`).
    Hour,
    /// Every day at `at` (`"HH:MM"` UTC, default `"00:00"`).
    Day,
    /// Every week on `weekday` (default Monday) at `at`.
    Week,
}

/// One declared job. Relative paths are relative to the jobs file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// A unique name (letters, digits, `-`, `_`, `.`): it identifies the job's runs.
    pub name: String,
    /// What it does.
    pub kind: JobKind,
    /// The model.
    pub model: String,
    /// How often.
    pub every: Every,
    /// When in the period (UTC).
    #[serde(default)]
    pub at: Option<String>,
    /// Weekly jobs: the day (`mon` .. `sun`).
    #[serde(default)]
    pub weekday: Option<String>,
    /// `retrain`, `drift_check`, `backtest`: the data file (CSV or Parquet).
    #[serde(default)]
    pub data: Option<PathBuf>,
    /// `retrain`: the dataset spec.
    #[serde(default)]
    pub spec: Option<PathBuf>,
    /// `retrain`: the training parameters file.
    #[serde(default)]
    pub params: Option<PathBuf>,
    /// `retrain`: the hypothesis it tests, if any.
    #[serde(default)]
    pub hypothesis_id: Option<String>,
    /// `retrain`: the dataset version label (default: the scheduled date, so each instant's
    /// run is its own; fixed, a retrain on unchanged data records nothing new).
    #[serde(default)]
    pub dataset_version: Option<String>,
    /// `retrain`: the feature-set version label (default `scheduled`).
    #[serde(default)]
    pub feature_set_version: Option<String>,
    /// `drift_check`: the segment whose champion is checked (default: the global one).
    #[serde(default)]
    pub segment: Option<String>,
    /// `drift_check`: recent periods (the seeds' 7).
    #[serde(default)]
    pub recent_periods: Option<usize>,
    /// `drift_check`: baseline periods before them (the seeds' 30).
    #[serde(default)]
    pub baseline_periods: Option<usize>,
    /// `backtest`: the last periods scored.
    #[serde(default)]
    pub periods: Option<usize>,
}

/// A jobs file: `{"jobs": [...]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsFile {
    /// The jobs, run in this order.
    pub jobs: Vec<Job>,
}

impl JobsFile {
    /// Reads and checks a jobs file (unknown or duplicate members, a job missing what its kind
    /// needs or given what it does not take, a bad schedule: each refused naming the job).
    pub fn read(path: &Path) -> Result<JobsFile, Failure> {
        let mut f: JobsFile = super::json::read_file(path, "the jobs file")?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut names = std::collections::BTreeSet::new();
        for j in &mut f.jobs {
            j.check()?;
            if !names.insert(j.name.clone()) {
                return Err(Failure::new(
                    INVALID_INPUT,
                    format!("the jobs file names job `{}` twice", j.name),
                ));
            }
            for p in [&mut j.data, &mut j.spec, &mut j.params].into_iter().flatten() {
                if p.is_relative() {
                    *p = base.join(&*p);
                }
            }
        }
        Ok(f)
    }
}

fn weekday(s: &str) -> Option<chrono::Weekday> {
    use chrono::Weekday::*;
    Some(match s {
        "mon" => Mon,
        "tue" => Tue,
        "wed" => Wed,
        "thu" => Thu,
        "fri" => Fri,
        "sat" => Sat,
        "sun" => Sun,
        _ => return None,
    })
}

impl Job {
    fn check(&self) -> Result<(), Failure> {
        let bad = |m: String| Failure::new(INVALID_INPUT, format!("job `{}`: {m}", self.name));
        let ok_name = !self.name.is_empty()
            && self.name.len() <= 64
            && self.name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !ok_name {
            return Err(Failure::new(
                INVALID_INPUT,
                format!("job name `{}`: use 1 to 64 letters, digits, `-`, `_` or `.`", self.name),
            ));
        }
        if self.model.trim().is_empty() {
            return Err(bad("`model` is empty".into()));
        }
        self.time_of_day()?;
        match (&self.weekday, self.every) {
            (Some(d), Every::Week) if weekday(d).is_some() => {}
            (Some(d), Every::Week) => {
                return Err(bad(format!("`weekday` = `{d}`: give mon, tue, wed, thu, fri, sat or sun")))
            }
            (Some(_), every) => {
                return Err(bad(format!("`weekday` is for weekly jobs, not `{every:?}`").to_lowercase()))
            }
            _ => {}
        }
        let given = |v: bool, name: &str| (v, name.to_string());
        let fields = [
            given(self.data.is_some(), "data"),
            given(self.spec.is_some(), "spec"),
            given(self.params.is_some(), "params"),
            given(self.hypothesis_id.is_some(), "hypothesis_id"),
            given(self.dataset_version.is_some(), "dataset_version"),
            given(self.feature_set_version.is_some(), "feature_set_version"),
            given(self.segment.is_some(), "segment"),
            given(self.recent_periods.is_some(), "recent_periods"),
            given(self.baseline_periods.is_some(), "baseline_periods"),
            given(self.periods.is_some(), "periods"),
        ];
        let (required, allowed): (&[&str], &[&str]) = match self.kind {
            JobKind::Retrain => (
                &["data", "spec"],
                &["data", "spec", "params", "hypothesis_id", "dataset_version", "feature_set_version"],
            ),
            JobKind::DriftCheck => (
                &["data", "recent_periods", "baseline_periods"],
                &["data", "segment", "recent_periods", "baseline_periods"],
            ),
            JobKind::Backtest => (&["data", "periods"], &["data", "periods"]),
            JobKind::ShadowEvaluate => (&[], &[]),
        };
        let kind = serde_json::to_value(self.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        for (present, name) in &fields {
            if *present && !allowed.contains(&name.as_str()) {
                return Err(bad(format!("a `{kind}` job takes no `{name}`")));
            }
            if !present && required.contains(&name.as_str()) {
                return Err(bad(format!("a `{kind}` job needs `{name}`")));
            }
        }
        if [self.recent_periods, self.baseline_periods, self.periods].contains(&Some(0)) {
            return Err(bad("periods must be at least 1".into()));
        }
        Ok(())
    }

    fn time_of_day(&self) -> Result<NaiveTime, Failure> {
        let bad = |m: String| Failure::new(INVALID_INPUT, format!("job `{}`: {m}", self.name));
        match (self.every, self.at.as_deref()) {
            (Every::Hour, None) => Ok(NaiveTime::MIN),
            (Every::Hour, Some(m)) => m
                .parse::<u32>()
                .ok()
                .filter(|m| *m < 60)
                .and_then(|m| NaiveTime::from_hms_opt(0, m, 0))
                .ok_or_else(|| bad(format!("`at` = `{m}`: an hourly job gives the minute, 00 to 59"))),
            (_, None) => Ok(NaiveTime::MIN),
            (_, Some(t)) => NaiveTime::parse_from_str(t, "%H:%M")
                .map_err(|_| bad(format!("`at` = `{t}`: give a UTC time HH:MM"))),
        }
    }

    /// The length of the job's period.
    pub fn period(&self) -> Duration {
        match self.every {
            Every::Hour => Duration::hours(1),
            Every::Day => Duration::days(1),
            Every::Week => Duration::weeks(1),
        }
    }

    /// The latest instant of the schedule not after `now`.
    pub fn last_instant(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let at = self.time_of_day().unwrap_or(NaiveTime::MIN);
        let midnight = now.date_naive().and_hms_opt(0, 0, 0).expect("midnight").and_utc();
        let candidate = match self.every {
            Every::Hour => {
                let hour = midnight + Duration::hours(i64::from(now.hour()));
                hour + Duration::minutes(i64::from(at.minute()))
            }
            Every::Day => midnight + Duration::seconds(i64::from(at.num_seconds_from_midnight())),
            Every::Week => {
                let day = self.weekday.as_deref().and_then(weekday).unwrap_or(chrono::Weekday::Mon);
                let back = (7 + now.weekday().num_days_from_monday() - day.num_days_from_monday()) % 7;
                midnight - Duration::days(i64::from(back))
                    + Duration::seconds(i64::from(at.num_seconds_from_midnight()))
            }
        };
        if candidate > now {
            candidate - self.period()
        } else {
            candidate
        }
    }

    /// The id of the `index`-th command of this job's run at `instant` in `ledger`: a UUID v7
    /// whose time is the instant and whose other bits are blake3 of the rest.
    pub fn command_id(&self, ledger: uuid::Uuid, instant: DateTime<Utc>, index: u32) -> uuid::Uuid {
        let mut bytes = b"pledge job run\n".to_vec();
        bytes.extend_from_slice(ledger.as_bytes());
        bytes.extend_from_slice(self.name.as_bytes());
        bytes.push(b'\n');
        bytes.extend_from_slice(&instant.timestamp_millis().to_be_bytes());
        bytes.extend_from_slice(&index.to_be_bytes());
        let d = ledger::Digest::of(&bytes);
        let mut rand = [0u8; 10];
        rand.copy_from_slice(&d.as_bytes()[..10]);
        uuid::Builder::from_unix_timestamp_millis(instant.timestamp_millis().max(0) as u64, &rand).into_uuid()
    }
}

/// What became of one job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// It ran and recorded its events.
    Ran,
    /// It ran and had nothing to record (no shadow version with outcomes; a retrain whose run
    /// is already recorded: the same data, spec, parameters and dataset version).
    Nothing,
    /// The ledger already holds this run (re-run of the same instant).
    AlreadyRan,
    /// It failed or was refused (the message says why); nothing of it was recorded.
    Failed,
}

/// One job's run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct JobRun {
    /// The job.
    pub job: String,
    /// What it does.
    pub kind: JobKind,
    /// The model.
    pub model: String,
    /// The schedule's instant this run is for.
    pub scheduled_for: String,
    /// What became of it.
    pub status: JobStatus,
    /// When it started (this process's clock).
    pub started_at: String,
    /// When it completed.
    pub completed_at: String,
    /// Why it failed, or what it did.
    pub message: String,
    /// The events it appended.
    pub events: Vec<EventDoc>,
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Runs every job of `file` (or only those named in `only`) whose latest instant not after
/// `now` has not run, signed by `signer`, through `port`. A job's failure is reported in its
/// run and does not stop the others.
pub fn run_due(
    file: &JobsFile,
    only: &[String],
    now: DateTime<Utc>,
    port: &dyn Port,
    signer: &Signer,
) -> Result<Vec<JobRun>, Failure> {
    if let Some(unknown) = only.iter().find(|n| !file.jobs.iter().any(|j| &j.name == *n)) {
        return Err(Failure::new(INVALID_INPUT, format!("the jobs file has no job `{unknown}`")));
    }
    let (trust, _) = port.snapshot()?;
    let ledger = trust.ledger_id().ok_or_else(|| Failure::new(INVALID_INPUT, "the ledger has no genesis"))?;
    let mut runs = vec![];
    for job in file.jobs.iter().filter(|j| only.is_empty() || only.contains(&j.name)) {
        let instant = job.last_instant(now);
        let started = Utc::now();
        let first = job.command_id(ledger, instant, 0);
        let outcome = match port.has_command(&first) {
            Ok(true) => {
                Ok((JobStatus::AlreadyRan, "this instant's run is in the ledger".to_string(), vec![]))
            }
            Ok(false) => run_one(job, ledger, instant, port, signer),
            Err(f) => Err(f),
        };
        let (status, message, events) =
            outcome.unwrap_or_else(|f| (JobStatus::Failed, f.message_with_rule(), vec![]));
        match status {
            JobStatus::Failed => tracing::error!(job = job.name.as_str(), %message, "job failed"),
            _ => tracing::info!(job = job.name.as_str(), ?status, events = events.len(), "job"),
        }
        runs.push(JobRun {
            job: job.name.clone(),
            kind: job.kind,
            model: job.model.clone(),
            scheduled_for: stamp(instant),
            status,
            started_at: stamp(started),
            completed_at: stamp(Utc::now()),
            message,
            events: events.iter().map(EventDoc::from).collect(),
        });
    }
    Ok(runs)
}

type Outcome = (JobStatus, String, Vec<ledger::RecordedEvent>);

fn run_one(
    job: &Job,
    ledger: uuid::Uuid,
    instant: DateTime<Utc>,
    port: &dyn Port,
    signer: &Signer,
) -> Result<Outcome, Failure> {
    let id = |i: u32| Some(job.command_id(ledger, instant, i));
    let need = |p: &Option<PathBuf>| {
        p.clone().ok_or_else(|| Failure::new(INVALID_INPUT, "the job lacks a file its kind needs"))
    };
    match job.kind {
        JobKind::Retrain => {
            let (data, spec) = (need(&job.data)?, need(&job.spec)?);
            let params = training::train_params(job.params.as_deref(), None, None, None, None, None)?;
            let version = job.dataset_version.clone().unwrap_or_else(|| instant.date_naive().to_string());
            let trained = training::train_candidate(TrainRequest {
                backend: port,
                signer,
                meta: RunMeta {
                    model: &job.model,
                    trigger: projections::events::Trigger::Scheduled,
                    hypothesis_id: job.hypothesis_id.as_deref(),
                    dataset_version: &version,
                    feature_set: job.feature_set_version.as_deref().unwrap_or("scheduled"),
                    extra: json!({"job": job.name, "scheduled_for": stamp(instant)}),
                    task: projections::events::Task::Classification,
                },
                data: &data,
                spec: &spec,
                params,
                progress: &trainer::progress::Progress::hidden(),
                command_id: id(0),
            });
            match trained {
                Ok(report) => {
                    Ok((JobStatus::Ran, format!("run `{}` recorded", report.run_id), report.events))
                }
                // The same data, spec and parameters were trained before: nothing new to record.
                Err(f) if f.rule.as_deref() == Some("run.exists") => {
                    Ok((JobStatus::Nothing, f.message, vec![]))
                }
                Err(f) => Err(f),
            }
        }
        JobKind::DriftCheck => {
            let data = need(&job.data)?;
            let r = training::drift_check(DriftRequest {
                backend: port,
                signer,
                model: &job.model,
                segment: job.segment.as_deref(),
                source: DriftSource::Windows {
                    data: &data,
                    recent: job.recent_periods.unwrap_or(0),
                    baseline: job.baseline_periods.unwrap_or(0),
                },
                metric: None,
                command_id: id(0),
            })?;
            let msg = format!(
                "v{} {}: {} recent against {} baseline ({})",
                r.version, r.metric, r.recent, r.baseline, r.compared
            );
            Ok((JobStatus::Ran, msg, r.events))
        }
        JobKind::Backtest => {
            let data = need(&job.data)?;
            let bodies = backtests(port, &job.model, &data, job.periods.unwrap_or(1))?;
            let n = bodies.len();
            let commands = bodies
                .into_iter()
                .enumerate()
                .map(|(i, b)| {
                    let c = DomainCommand::BacktestRecord(b);
                    (id(i as u32), c.kind().as_str().to_string(), c.body())
                })
                .collect();
            let events = port.append(signer, commands)?;
            Ok((JobStatus::Ran, format!("{n} champion backtest windows recorded"), events))
        }
        JobKind::ShadowEvaluate => {
            let dir = port.dir()?.to_path_buf();
            let (_, domain) = port.snapshot()?;
            let state = super::shadow::for_model(&domain.state, &job.model);
            let log = port.predictions()?;
            let e = super::shadow::evaluate(&log, &state, &dir, &job.model, instant - job.period(), instant)?;
            if e.windows.is_empty() {
                let why = e
                    .notes
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "no shadow version has scored rows with known outcomes".into());
                return Ok((
                    JobStatus::Nothing,
                    format!("{} predictions, {} with outcomes: {why}", e.predictions, e.with_actuals),
                    vec![],
                ));
            }
            let commands = e
                .windows
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    let c = DomainCommand::ShadowRecord(w.clone());
                    (id(i as u32), c.kind().as_str().to_string(), c.body())
                })
                .collect();
            let events = port.append(signer, commands)?;
            Ok((JobStatus::Ran, format!("{} shadow windows recorded", e.windows.len()), events))
        }
    }
}

/// The champion of each segment of `model` scored on the last `periods` periods of `data`
/// (its segment's rows; the global champion's, every row), as `backtest.record` bodies.
fn backtests(
    port: &dyn Port,
    model: &str,
    data: &Path,
    periods: usize,
) -> Result<Vec<BacktestBody>, Failure> {
    let dir = port.dir()?;
    let (_, domain) = port.snapshot()?;
    let m = domain
        .state
        .model(model)
        .ok_or_else(|| Failure::not_found(format!("the ledger has no model `{model}`")))?;
    if m.champions.is_empty() {
        return Err(Failure::rejected("champion.none", format!("`{model}` has no champion to backtest")));
    }
    let mut out = vec![];
    for (seg, version) in &m.champions {
        let info = &m.versions[version];
        let art = training::load_artifact(dir, &info.artifact_digest, *version)?;
        let (table, _) = trainer::load(data, &art.spec).map_err(training::failure)?;
        let Some(period) = table.period.clone() else {
            return Err(Failure::new(
                INVALID_INPUT,
                "a backtest job needs a time axis in the champion's spec",
            ));
        };
        let mut present: Vec<usize> =
            period.iter().copied().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        if present.len() < periods {
            return Err(Failure::new(
                INVALID_INPUT,
                format!("the data holds {} periods; the job scores the last {periods}", present.len()),
            ));
        }
        present.drain(..present.len() - periods);
        let (from, to) = (present[0], present[present.len() - 1]);
        let rows: Vec<usize> = (0..table.len())
            .filter(|&i| {
                period[i] >= from && (seg.is_empty() || table.segment.as_ref().is_some_and(|s| &s[i] == seg))
            })
            .collect();
        if rows.is_empty() {
            continue;
        }
        let sub = table.select(&rows);
        let scored = art.score(&sub).map_err(training::failure)?;
        let Some(metrics) = trainer::train::evaluate(&sub, &scored, &art.params) else { continue };
        out.push(BacktestBody {
            model: model.to_string(),
            version: *version,
            window_start: table.periods[from].clone(),
            window_end: table.periods[to].clone(),
            metrics: metrics.to_map().into(),
            rows: rows.len() as u64,
        });
    }
    Ok(out)
}

/// A job's run as a JSON value (for `--json` and the server's log).
pub fn to_json(runs: &[JobRun]) -> Value {
    json!(runs)
}
