//! Workflows 1-3 of the demo on real forecasts: the hourly bike demand of 2011
//! (`trainer/data/bikeshare.csv`), trained, judged, drift-checked and shadow-tested by the
//! built-in trainer. Every figure is computed here from the data; nothing is typed in.
//!
//! The data is played as if it arrived day by day: a step "as of" a day sees the rows up to
//! that day only (a snapshot file, with its own digest, as a team's weekly extract would be).
//!
//! 1. **Scheduled retrain** (as of Aug 12): maya's baseline forecaster (ridge on hour, working
//!    day, weather) is bootstrapped by colby; the scheduler's retrain with demand lags (the same
//!    hour 1 and 7 days earlier, a 7-day rolling mean and spread, the day of the week) clears the
//!    seed's gate (MAE and MAPE at least 5% better on the same test rows) and is promoted by
//!    policy; the next week's retrain of the same recipe (as of Aug 19) does not clear it and
//!    stays challenger; an external run (a persistence forecast made "elsewhere", clearly
//!    labelled) is judged by the same gates.
//! 2. **Drift** (as of Nov 26, Thanksgiving week): the champion's MAE over the last 7 days
//!    against its 30 days before, computed from the data, raises a critical alert; the
//!    scheduler retrains on the last 30 days (a Poisson GLM, judged on the last week); the
//!    retrain waits for a person, and colby approves it through the alert.
//! 3. **Tiered experiment** (as of Dec 10): separate models for working and non-working days,
//!    shadow-tested against the champion on the two following weeks' real rows, adopted for the
//!    segments where they won both windows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ledger::RecordedEvent;
use serde_json::{json, Value};
use trainer::drift::quantile;
use trainer::metrics::Scored;
use trainer::spec::{ModelKind, Strategy, TrainParams};
use trainer::DatasetSpec;

use super::{internal, Demo};
use crate::app::failure::Failure;
use crate::app::training::{self, DriftSource, RunMeta};
use crate::domain::command::*;
use crate::domain::DomainCommand;
use projections::events::{AlertAction, ChangeType, Decision, Trigger};

/// The model the seed workflows forecast.
pub const MODEL: &str = "demand";

const BIKES_CSV: &str = include_str!("../../../../trainer/data/bikeshare.csv");
const BIKES_SPEC: &str = include_str!("../../../../trainer/data/bikeshare.spec.json");
const BIKES_LAGS_SPEC: &str = include_str!("../../../../trainer/data/bikeshare-lags.spec.json");

/// Days of 2011 (the data's `day` column; 1 is January 1st).
const AUG_12: u32 = 224;
const AUG_19: u32 = 231;
const NOV_26: u32 = 330;
const DEC_10: u32 = 344;
/// The experiment's shadow windows: the two weeks after Dec 10.
const SHADOW_WINDOWS: [(u32, u32); 2] = [(345, 351), (352, 358)];

/// The date of a day of 2011 (`2011-12-11` for day 345).
fn date(day: u32) -> String {
    let first = chrono::NaiveDate::from_ymd_opt(2011, 1, 1).unwrap_or_default();
    (first + chrono::Days::new(u64::from(day.saturating_sub(1)))).to_string()
}

/// A training recipe: the spec's text (recorded by digest) and the parameters.
struct Recipe {
    name: &'static str,
    spec: String,
    params: TrainParams,
}

impl Recipe {
    fn baseline() -> Recipe {
        Recipe { name: "ridge on hour, working day and weather", spec: BIKES_SPEC.into(), params: weekly() }
    }

    fn lags() -> Recipe {
        Recipe {
            name:
                "ridge with demand lags (1 and 7 days, same hour), 7-day rolling mean and spread, day of week",
            spec: BIKES_LAGS_SPEC.into(),
            params: weekly(),
        }
    }

    /// The drift retrain: the lags features, a Poisson GLM (counts), fitted on the last 30
    /// days and tested on the last 7.
    fn last_30_days(strategy: Strategy) -> Result<Recipe, Failure> {
        let mut spec: Value = serde_json::from_str(BIKES_LAGS_SPEC).map_err(internal)?;
        spec["name"] = json!("bikeshare-lags-30d");
        spec["time"]["train_periods"] = json!(30);
        spec["time"]["test_periods"] = json!(7);
        Ok(Recipe {
            name: if strategy == Strategy::Global {
                "Poisson GLM with demand lags, trained on the last 30 days"
            } else {
                "Poisson GLM with demand lags, trained on the last 30 days, one model per working/non-working day"
            },
            spec: serde_json::to_string_pretty(&spec).map_err(internal)?,
            params: TrainParams {
                model: Some(ModelKind::Poisson),
                strategy,
                min_segment_rows: 150,
                ..weekly()
            },
        })
    }
}

/// The seeds' backtest: weekly windows over the last 90 days (13 windows of 7 days).
fn weekly() -> TrainParams {
    TrainParams { backtest_windows: Some(13), ..TrainParams::default() }
}

/// The rows up to `day` (inclusive), as a file: the extract a team would have had that day.
fn snapshot(scratch: &Path, day: u32) -> Result<PathBuf, Failure> {
    let mut lines = BIKES_CSV.lines();
    let header = lines.next().ok_or_else(|| internal("the bike data is empty"))?;
    let mut text = format!("{header}\n");
    for line in lines {
        let d: u32 = line
            .split(',')
            .nth(2)
            .and_then(|v| v.trim_matches('"').parse().ok())
            .ok_or_else(|| internal(format!("a bike row without a day: {line}")))?;
        if d <= day {
            text.push_str(line);
            text.push('\n');
        }
    }
    let path = scratch.join(format!("bikes-through-day-{day}.csv"));
    std::fs::write(&path, text).map_err(internal)?;
    Ok(path)
}

/// One training step.
struct Step<'a> {
    workflow: &'a str,
    who: &'a str,
    trigger: Trigger,
    hypothesis: Option<&'a str>,
    drift_alert: Option<String>,
    recipe: &'a Recipe,
    through: u32,
}

/// What a training step produced: the summary shown, and the version of each segment.
struct Trained {
    summary: Value,
    versions: BTreeMap<Option<String>, u64>,
}

/// Trains with the built-in trainer, exactly as `pledge train-candidate --data` does, and
/// records the run (the ledger judges each candidate in the same append).
fn train(d: &mut Demo, dir: &Path, scratch: &Path, s: Step<'_>) -> Result<Trained, Failure> {
    let spec = DatasetSpec::from_json(&s.recipe.spec).map_err(internal)?;
    let spec_digest = ledger::Digest::of(s.recipe.spec.as_bytes()).to_string();
    training::check_trainable(d.ledger.domain(), MODEL, s.hypothesis, &spec)?;
    let data = snapshot(scratch, s.through)?;
    let (table, digest) = trainer::load(&data, &spec).map_err(internal)?;
    let out =
        trainer::train(&spec, &s.recipe.params, &table, &digest, &trainer::progress::Progress::hidden())
            .map_err(internal)?;
    let strategy = if s.recipe.params.strategy == Strategy::Global { "global" } else { "segmented_router" };
    let dataset_version = format!("bikes-{}", date(s.through));
    let meta = RunMeta {
        model: MODEL,
        trigger: s.trigger,
        hypothesis_id: s.hypothesis,
        dataset_version: &dataset_version,
        feature_set: spec.name.as_str(),
        extra: json!({"strategy": strategy, "owner": s.who, "recipe": s.recipe.name}),
        task: training::ledger_task(d.ledger.domain(), MODEL, &spec),
    };
    let evidence = training::baselines(dir, &d.ledger.domain().state, MODEL, &data, &table, &out);
    let (run_id, mut body) =
        training::run_body(&meta, &spec, &spec_digest, &s.recipe.params, &out, &table.periods, &evidence)?;
    body.drift_alert_id = s.drift_alert;
    training::save_candidate(dir, &out.candidate)?;
    let events = d.act(s.workflow, s.who, DomainCommand::RunRecord(body))?;
    let versions = registered(&events);
    Ok(Trained {
        summary: json!({
            "run_id": run_id, "by": s.who, "trigger": s.trigger, "recipe": s.recipe.name,
            "data_through": date(s.through), "dataset_digest": digest, "split": out.split,
            "models": out.candidate.artifacts().map(|a| json!({
                "segment": a.segment, "version": versions.get(&a.segment), "artifact": a.digest(),
                "figures": pick(&out.model_metrics[&a.segment]),
                "champion": evidence.get(&a.segment).map(|b| json!({"version": b.version, "figures": b.metrics})),
            })).collect::<Vec<_>>(),
            "judged": judged(&events),
        }),
        versions,
    })
}

/// The versions a run registered, by segment.
fn registered(events: &[RecordedEvent]) -> BTreeMap<Option<String>, u64> {
    events
        .iter()
        .filter(|e| e.event.kind == "version.registered")
        .filter_map(|e| {
            let seg = e.event.subject.as_ref().and_then(|s| s.segment.clone());
            e.event.payload["version"].as_u64().map(|v| (seg, v))
        })
        .collect()
}

/// The gate evaluations of an append, and whether the champion changed in it.
fn judged(events: &[RecordedEvent]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e.event.kind == "promotion.evaluated" || e.event.kind == "champion.changed")
        .map(|e| {
            let p = &e.event.payload;
            let segment = e.event.subject.as_ref().and_then(|s| s.segment.clone());
            if e.event.kind == "champion.changed" {
                json!({"segment": segment, "champion_changed": {"from": p["from"], "to": p["to"], "cause": p["cause"]}})
            } else {
                json!({"segment": segment, "candidate": p["candidate"], "champion": p["champion"],
                       "evidence": p["evidence"], "passed": p["passed"],
                       "gates": p["gates"].as_array().into_iter().flatten().map(|g| json!({
                           "metric": g["metric"], "candidate": g["candidate"], "champion": g["champion"],
                           "threshold": g["threshold"], "passed": g["passed"]})).collect::<Vec<_>>()})
            }
        })
        .collect()
}

/// The serving version of `segment` and its artifact.
fn serving(d: &Demo, dir: &Path, segment: Option<&str>) -> Result<(u64, trainer::Artifact), Failure> {
    let (v, digest) = training::served(&d.ledger.domain().state, MODEL, segment, "champion")?;
    Ok((v, training::load_artifact(dir, &digest, v)?))
}

/// An artifact's figures on the rows of `days` (and `segment`) of a snapshot, each row's
/// features computed from its own history in the file.
fn figures_on(
    art: &trainer::Artifact,
    data: &Path,
    days: (u32, u32),
    segment: Option<&str>,
) -> Result<(trainer::Metrics, usize), Failure> {
    let (table, _) = trainer::load(data, &art.spec).map_err(internal)?;
    let period = table.period.as_ref().ok_or_else(|| internal("the bike spec has a time axis"))?;
    let seg = table.segment.as_ref().ok_or_else(|| internal("the bike spec has a segment"))?;
    let rows: Vec<usize> = (0..table.len())
        .filter(|&i| {
            let day: u32 = table.periods[period[i]].parse().unwrap_or(0);
            day >= days.0 && day <= days.1 && segment.is_none_or(|s| seg[i] == s)
        })
        .collect();
    let window = table.select(&rows);
    let scored: Scored = art.score(&window).map_err(internal)?;
    let m = trainer::Metrics::evaluate(window.task, &window.target, &scored, art.params.stock_tolerance)
        .ok_or_else(|| internal("no figures for a shadow window"))?;
    Ok((m, rows.len()))
}

/// The figures the gates and shadow windows compare.
fn pick(m: &trainer::Metrics) -> projections::events::Metrics {
    ["mae", "mape", "coverage"]
        .iter()
        .filter_map(|k| m.to_map().get(*k).map(|v| (k.to_string(), *v)))
        .collect()
}

/// Workflows 1-3. Returns what each produced, for the report.
pub fn play(d: &mut Demo, dir: &Path, scratch: &Path) -> Result<Value, Failure> {
    let scheduled = scheduled(d, dir, scratch)?;
    let drift = drift(d, dir, scratch)?;
    let experiment = experiment(d, dir, scratch)?;
    Ok(json!({"model": MODEL, "data": "trainer/data/bikeshare.csv (hourly bike demand, 2011)",
              "scheduled": scheduled, "drift": drift, "experiment": experiment}))
}

fn scheduled(d: &mut Demo, dir: &Path, scratch: &Path) -> Result<Value, Failure> {
    let w = "scheduled";
    let step = |who, trigger, recipe, through| Step {
        workflow: w,
        who,
        trigger,
        hypothesis: None,
        drift_alert: None,
        recipe,
        through,
    };
    let (base_recipe, lags_recipe) = (Recipe::baseline(), Recipe::lags());
    let baseline = train(d, dir, scratch, step("maya", Trigger::Manual, &base_recipe, AUG_12))?;
    let first = baseline.versions.get(&None).copied().ok_or_else(|| internal("no baseline version"))?;
    d.act(
        w,
        "colby",
        DomainCommand::ChampionBootstrap(BootstrapBody {
            model: MODEL.into(),
            segment: None,
            version: first,
            reason: Some("first production forecaster".into()),
        }),
    )?;
    let lags = train(d, dir, scratch, step("scheduler", Trigger::Scheduled, &lags_recipe, AUG_12))?;
    let next_week = train(d, dir, scratch, step("scheduler", Trigger::Scheduled, &lags_recipe, AUG_19))?;
    let external = external_run(d, dir, scratch, AUG_19)?;
    Ok(json!({"runs": [baseline.summary, lags.summary, next_week.summary], "external": external}))
}

/// The clearly labelled example of a run made elsewhere: a persistence forecast (each hour's
/// demand the day before), computed here as a notebook would, recorded with its figures, the
/// champion's figures on the same rows (the evidence the gates judge it on), its dataset's
/// digest and the digest of the file describing it.
fn external_run(d: &mut Demo, dir: &Path, scratch: &Path, through: u32) -> Result<Value, Failure> {
    let data = snapshot(scratch, through)?;
    let mut demand: BTreeMap<(u32, String), f64> = BTreeMap::new();
    let mut rows = vec![];
    for line in BIKES_CSV.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (Some(day), Some(hr), Some(y)) = (
            f.get(2).and_then(|v| v.parse::<u32>().ok()),
            f.get(3).map(|v| v.trim_matches('"').to_string()),
            f.last().and_then(|v| v.parse::<f64>().ok()),
        ) else {
            return Err(internal(format!("an unreadable bike row: {line}")));
        };
        if day <= through {
            demand.insert((day, hr.clone()), y);
            rows.push((day, hr, y));
        }
    }
    // The same test window as the built-in trainer's (the last 28 days); the interval from the
    // forecast's errors over the 28 days before it (10% and 90% quantiles).
    let test_from = through - 27;
    let naive = |day: u32, hr: &str| demand.get(&(day.checked_sub(1)?, hr.to_string())).copied();
    let mut errors = vec![];
    for (day, hr, y) in &rows {
        if *day >= test_from - 28 && *day < test_from {
            if let Some(p) = naive(*day, hr) {
                errors.push(y - p);
            }
        }
    }
    errors.sort_by(f64::total_cmp);
    let q = |p: f64| quantile(&errors, p);
    let (lo, hi) = (q(0.1), q(0.9));
    let (mut y, mut p, mut iv) = (vec![], vec![], vec![]);
    for (day, hr, actual) in &rows {
        if let (true, Some(f)) = (*day >= test_from, naive(*day, hr)) {
            y.push(*actual);
            p.push(f);
            iv.push((f + lo, f + hi));
        }
    }
    let m = trainer::Metrics::evaluate(
        trainer::spec::Task::Regression,
        &y,
        &Scored { value: p, interval: Some(iv) },
        TrainParams::default().stock_tolerance,
    )
    .ok_or_else(|| internal("no figures for the persistence forecast"))?;
    let metrics = pick(&m);
    // The champion on the same rows: every hour of the window (each has the day before).
    let (champion, art) = serving(d, dir, None)?;
    let (cm, n) = figures_on(&art, &data, (test_from, through), None)?;
    if n != y.len() {
        return Err(internal(format!(
            "the champion scores {n} rows of the window, the persistence forecast {}",
            y.len()
        )));
    }
    let baseline = projections::events::Baseline { version: champion, metrics: pick(&cm) };
    let artifact = serde_json::to_vec_pretty(&json!({
        "model": "persistence", "rule": "the demand of the same hour the day before",
        "interval": {"lower": lo, "upper": hi, "from": "errors over the 28 days before the test window"}}))
    .map_err(internal)?;
    let artifact_digest = ledger::Digest::of(&artifact).to_string();
    std::fs::write(training::artifact_dir(dir).join(format!("{artifact_digest}.json")), &artifact)
        .map_err(internal)?;
    let dataset_digest = ledger::Digest::of(&std::fs::read(&data).map_err(internal)?).to_string();
    let events = d.act(
        "scheduled",
        "maya",
        DomainCommand::RunRecord(RunBody {
            run_id: format!("external-persistence-{}", date(through)),
            model: MODEL.into(),
            task: None,
            trigger: Trigger::Manual,
            hypothesis_id: None,
            drift_alert_id: None,
            dataset_digest: dataset_digest.clone(),
            dataset_version: Some(format!("bikes-{}", date(through))),
            feature_set: None,
            config_digest: None,
            code_version: None,
            trainer: "external:notebook (persistence)".into(),
            params: json!({"rule": "same hour, the day before", "test_days": [test_from, through]}),
            metrics: metrics.clone(),
            started_at: None,
            finished_at: None,
            periods: vec![],
            models: vec![RunModel {
                segment: None,
                artifact_digest: artifact_digest.clone(),
                metrics: metrics.clone(),
                baseline: Some(baseline.clone()),
            }],
            backtests: vec![],
        }),
    )?;
    Ok(
        json!({"label": "an external run (recorded, not trained here)", "trainer": "external:notebook (persistence)",
              "version": registered(&events).get(&None), "figures": metrics, "rows": y.len(),
              "champion": {"version": champion, "figures": baseline.metrics},
              "artifact": artifact_digest, "dataset_digest": dataset_digest, "judged": judged(&events)}),
    )
}

fn drift(d: &mut Demo, dir: &Path, scratch: &Path) -> Result<Value, Failure> {
    let w = "drift";
    // The scheduler's daily check: the champion's last 7 days against the 30 days before.
    let (champion, art) = serving(d, dir, None)?;
    let data = snapshot(scratch, NOV_26)?;
    let (baseline, recent, compared) =
        training::drift_tables(DriftSource::Windows { data: &data, recent: 7, baseline: 30 }, &art.spec)?;
    let score = |t: &trainer::Table| art.score(t);
    let report =
        trainer::drift::check(&art.spec, &baseline, &recent, Some(&score), art.params.stock_tolerance)
            .map_err(internal)?;
    let mae = |m: &Option<trainer::Metrics>| {
        m.as_ref()
            .and_then(|m| m.to_map().get("mae").copied())
            .ok_or_else(|| internal("no MAE in the drift check"))
    };
    let (b, r) = (mae(&report.baseline)?, mae(&report.recent)?);
    let ev = d.act(
        w,
        "scheduler",
        DomainCommand::DriftRecord(DriftBody {
            model: MODEL.into(),
            segment: None,
            metric: Some("mae".into()),
            baseline: b,
            recent: r,
            psi: report.psi(),
        }),
    )?;
    let alert = format!("A-{}", ev[0].hash.short());
    let severity =
        ev.iter().find(|e| e.event.kind == "alert.raised").map(|e| e.event.payload["severity"].clone());
    // The retrain on the last 30 days, linked to the alert: a challenger until a person acts.
    let retrain = train(
        d,
        dir,
        scratch,
        Step {
            workflow: w,
            who: "scheduler",
            trigger: Trigger::DriftDetected,
            hypothesis: None,
            drift_alert: Some(alert.clone()),
            recipe: &Recipe::last_30_days(Strategy::Global)?,
            through: NOV_26,
        },
    )?;
    let version = retrain.versions.get(&None).copied().ok_or_else(|| internal("no retrain version"))?;
    let approve = |notes: &str, version: Option<u64>| {
        DomainCommand::AlertAction(AlertActionBody {
            alert_id: alert.clone(),
            action: AlertAction::Approve,
            notes: notes.into(),
            version,
            override_reason: None,
        })
    };
    let c = approve("looks fine", None);
    let env = d.cmd("scheduler", c.kind().as_str(), c.body())?;
    d.refused("the scheduler approves its own drift retrain", env)?;
    d.act(w, "colby", DomainCommand::AlertRead(AlertReadBody { alert_id: alert.clone() }))?;
    let notes = format!(
        "Thanksgiving week: the champion's 7-day MAE {r:.1} against {b:.1}; v{version} reviewed on the same last-week rows."
    );
    let approved = d.act(w, "colby", approve(&notes, Some(version)))?;
    Ok(
        json!({"checked": {"version": champion, "compared": compared, "metric": "mae", "baseline": b, "recent": r,
                          "drift_pct": (r - b) / b * 100.0, "psi": report.psi(), "alert": alert, "severity": severity},
              "retrain": retrain.summary, "approved": judged(&approved)}),
    )
}

fn experiment(d: &mut Demo, dir: &Path, scratch: &Path) -> Result<Value, Failure> {
    let w = "experiment";
    let h = "H-SEG-001";
    d.act(
        w,
        "maya",
        DomainCommand::HypothesisPropose(HypothesisBody {
            hypothesis_id: h.into(),
            model: MODEL.into(),
            statement: "Separate models for working and non-working days will improve MAE by 10%".into(),
            change_type: ChangeType::Architecture,
            change_summary: Some("one model per working/non-working day".into()),
            target_metric: "mae".into(),
            expected_improvement_pct: 10.0,
            owner: "maya".into(),
            dataset_version: Some(format!("bikes-{}", date(DEC_10))),
            feature_set_version: Some("bikeshare-lags-30d".into()),
        }),
    )?;
    let review = |rationale: &str, constraints: Vec<String>| ReviewBody {
        hypothesis_id: h.into(),
        rationale: rationale.into(),
        constraints,
    };
    let c = DomainCommand::ExperimentApprove(review("I like it", vec![]));
    let env = d.cmd("maya", c.kind().as_str(), c.body())?;
    d.refused("maya approves her own experiment", env)?;
    d.act(
        w,
        "colby",
        DomainCommand::ExperimentApprove(review(
            "Weekend and holiday demand is leisure, weekday demand is commuting: worth a model each.",
            vec!["shadow test 2 weekly windows before adoption".into()],
        )),
    )?;
    let step = |planned: Option<u32>| StepBody { hypothesis_id: h.into(), planned_windows: planned };
    d.act(w, "maya", DomainCommand::ExperimentStart(step(None)))?;
    let run = train(
        d,
        dir,
        scratch,
        Step {
            workflow: w,
            who: "maya",
            trigger: Trigger::Experiment,
            hypothesis: Some(h),
            drift_alert: None,
            recipe: &Recipe::last_30_days(Strategy::SegmentedRouter)?,
            through: DEC_10,
        },
    )?;
    d.act(w, "maya", DomainCommand::ExperimentShadow(step(Some(SHADOW_WINDOWS.len() as u32))))?;
    // Shadow: the champion and each segment's experimental model score the same real rows of
    // each following week; the scheduler records both sets of figures.
    let segments: Vec<String> = run.versions.keys().flatten().cloned().collect();
    let mut windows = vec![];
    let mut wins: BTreeMap<String, usize> = BTreeMap::new();
    let mut pooled: BTreeMap<String, (f64, f64, usize)> = BTreeMap::new();
    for (from, to) in SHADOW_WINDOWS {
        let data = snapshot(scratch, to)?;
        for seg in &segments {
            let (champion, champ_art) = serving(d, dir, Some(seg))?;
            let challenger = run.versions[&Some(seg.clone())];
            let digest = d
                .ledger
                .domain()
                .state
                .model(MODEL)
                .and_then(|m| m.versions.get(&challenger))
                .map(|v| v.artifact_digest.clone())
                .ok_or_else(|| internal("no experimental version"))?;
            let chall_art = training::load_artifact(dir, &digest, challenger)?;
            let (cm, n) = figures_on(&champ_art, &data, (from, to), Some(seg))?;
            let (xm, n2) = figures_on(&chall_art, &data, (from, to), Some(seg))?;
            if n != n2 || n == 0 {
                return Err(internal(format!("shadow window {from}..{to}: {n} and {n2} rows")));
            }
            let (c_mae, x_mae) = (pick(&cm)["mae"], pick(&xm)["mae"]);
            if x_mae < c_mae {
                *wins.entry(seg.clone()).or_default() += 1;
            }
            let e = pooled.entry(seg.clone()).or_default();
            e.0 += c_mae * n as f64;
            e.1 += x_mae * n as f64;
            e.2 += n;
            d.act(
                w,
                "scheduler",
                DomainCommand::ShadowRecord(ShadowBody {
                    model: MODEL.into(),
                    segment: Some(seg.clone()),
                    hypothesis_id: Some(h.into()),
                    champion,
                    challenger,
                    window_start: date(from),
                    window_end: date(to),
                    champion_metrics: pick(&cm),
                    challenger_metrics: pick(&xm),
                    samples: n as u64,
                }),
            )?;
            windows.push(json!({"segment": seg, "days": [date(from), date(to)], "rows": n, "champion": champion, "challenger": challenger,
                                "champion_mae": c_mae, "challenger_mae": x_mae}));
        }
    }
    // Adopt where the experimental model won every window; say which and by how much.
    let adopt: Vec<String> =
        segments.iter().filter(|s| wins.get(*s) == Some(&SHADOW_WINDOWS.len())).cloned().collect();
    // (Never `adopt`: that would also adopt the experiment's global model, which no shadow
    // window tested.)
    let decision = if adopt.is_empty() { Decision::Reject } else { Decision::PartialAdopt };
    let mut results = BTreeMap::new();
    let mut reasons = vec![];
    for (seg, (c, x, n)) in &pooled {
        let (c, x) = (c / *n as f64, x / *n as f64);
        let pct = (c - x) / c * 100.0;
        results.insert(format!("segment_{seg}_champion_mae"), c);
        results.insert(format!("segment_{seg}_experiment_mae"), x);
        results.insert(format!("segment_{seg}_improvement_pct"), pct);
        reasons.push(format!(
            "workingday={seg}: MAE {x:.1} vs {c:.1} ({pct:+.1}%), won {} of {} windows",
            wins.get(seg).copied().unwrap_or(0),
            SHADOW_WINDOWS.len()
        ));
    }
    let complete = CompleteBody {
        hypothesis_id: h.into(),
        decision,
        adopt_segments: if decision == Decision::PartialAdopt {
            adopt.iter().cloned().map(Some).collect()
        } else {
            vec![]
        },
        results,
        rationale: format!("{}. Adopt where it won every window.", reasons.join("; ")),
    };
    let c = DomainCommand::ExperimentComplete(complete.clone());
    let env = d.cmd("maya", c.kind().as_str(), c.body())?;
    d.refused("maya adopts her own experiment", env)?;
    let done = d.act(w, "colby", DomainCommand::ExperimentComplete(complete))?;
    Ok(json!({"hypothesis": h, "run": run.summary, "shadow": windows, "decision": decision,
              "adopted": adopt, "completed": judged(&done)}))
}
