//! The prediction log: every prediction `pledge serve` answered, with the shadow versions'
//! scores of the same row, and the actual outcomes joined to them later. It is not the ledger
//! (it is high-volume and holds no decision): JSON Lines files beside it, one per UTC day,
//! `<ledger>/predictions/<YYYY-MM-DD>.jsonl` for predictions and `<YYYY-MM-DD>.actuals.jsonl`
//! for actuals, appended only, and deleted whole once older than the retention.
//!
//! An actual names the prediction it resolves by its prediction id or by the caller's row key
//! (then it resolves every logged prediction of that model with that key). A request of
//! actuals that names a prediction the log does not hold is refused whole. Reads take the lines
//! of the files a window touches; a torn last line (a crash mid-write) is skipped.

use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use ledger::canonical::{Clock, Timestamp};
use serde::{Deserialize, Serialize};

/// A shadow version's score of a logged row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowScore {
    /// The shadow version.
    pub version: u64,
    /// Its probability or prediction.
    pub value: f64,
    /// Its prediction interval (regression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<[f64; 2]>,
}

/// One logged prediction (a line of `<day>.jsonl`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logged {
    /// The prediction id (UUID v7) returned to the caller.
    pub prediction_id: String,
    /// The model.
    pub model: String,
    /// The caller's row key.
    #[serde(default)]
    pub key: Option<String>,
    /// When it was answered (RFC 3339, microseconds, UTC).
    pub at: String,
    /// The row's segment value (`null`: the row had none).
    #[serde(default)]
    pub segment: Option<String>,
    /// The route that served it: its segment, `null` for the global champion.
    #[serde(default)]
    pub route: Option<String>,
    /// The version that answered.
    pub version: u64,
    /// Its probability or prediction.
    pub value: f64,
    /// Its prediction interval (regression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<[f64; 2]>,
    /// The shadow versions' scores of the same row.
    #[serde(default)]
    pub shadow: Vec<ShadowScore>,
}

/// One recorded outcome (a line of `<day>.actuals.jsonl`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actual {
    /// The model.
    pub model: String,
    /// The prediction it resolves.
    #[serde(default)]
    pub prediction_id: Option<String>,
    /// Or the row key it resolves.
    #[serde(default)]
    pub key: Option<String>,
    /// The outcome: the number (regression), 1 or 0 (classification: the positive class or not).
    pub actual: f64,
    /// When it was recorded.
    pub at: String,
}

/// The log of one ledger.
pub struct PredictionLog {
    dir: PathBuf,
    retention_days: Option<u32>,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

impl std::fmt::Debug for PredictionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PredictionLog")
            .field("dir", &self.dir)
            .field("retention_days", &self.retention_days)
            .finish()
    }
}

#[derive(Default)]
struct State {
    /// The open file of today's predictions and the day it is for.
    open: Option<(NaiveDate, File)>,
    /// Prediction ids and (model, key) pairs in the retained files.
    ids: HashSet<u128>,
    keys: HashSet<(String, String)>,
}

/// Where a ledger's prediction log lives.
pub fn log_dir(ledger: &Path) -> PathBuf {
    ledger.join("predictions")
}

fn day_of(file: &Path) -> Option<(NaiveDate, bool)> {
    let name = file.file_name()?.to_str()?;
    let (day, actuals) = match name.strip_suffix(".actuals.jsonl") {
        Some(d) => (d, true),
        None => (name.strip_suffix(".jsonl")?, false),
    };
    Some((NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?, actuals))
}

/// Reads the records of a JSON Lines file; a line that does not parse is skipped only when it is
/// the last one (a torn write), otherwise it is an error naming the file and line.
fn read_lines<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, String> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let lines: Vec<String> = BufReader::new(f)
        .lines()
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        match serde_json::from_str(line) {
            Ok(r) => out.push(r),
            Err(_) if i + 1 == lines.len() => {}
            Err(e) => return Err(format!("{} line {}: {e}", path.display(), i + 1)),
        }
    }
    Ok(out)
}

fn micros(t: DateTime<Utc>) -> String {
    Timestamp::from_datetime(t).to_string()
}

impl PredictionLog {
    /// The log in `dir`, keeping `retention_days` whole days before today (0: today only;
    /// `None`: a reader that deletes nothing and keeps everything it finds). Reads the retained
    /// files to know which predictions actuals may name.
    pub fn open(
        dir: &Path,
        retention_days: Option<u32>,
        clock: Arc<dyn Clock>,
    ) -> Result<PredictionLog, String> {
        let log = PredictionLog { dir: dir.to_path_buf(), retention_days, clock, state: Mutex::default() };
        log.sweep()?;
        let mut st = State::default();
        for (day, actuals, path) in log.files()? {
            let _ = day;
            if actuals {
                continue;
            }
            for r in read_lines::<Logged>(&path)? {
                if let Ok(id) = uuid::Uuid::parse_str(&r.prediction_id) {
                    st.ids.insert(id.as_u128());
                }
                if let Some(k) = r.key {
                    st.keys.insert((r.model, k));
                }
            }
        }
        *log.state.lock().unwrap_or_else(|e| e.into_inner()) = st;
        Ok(log)
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The current time, as the log writes it.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now().datetime()
    }

    /// Every log file: (day, actuals?, path), by day.
    fn files(&self) -> Result<Vec<(NaiveDate, bool, PathBuf)>, String> {
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(format!("cannot read {}: {e}", self.dir.display())),
        };
        let mut out: Vec<(NaiveDate, bool, PathBuf)> = rd
            .filter_map(Result::ok)
            .filter_map(|e| day_of(&e.path()).map(|(d, a)| (d, a, e.path())))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Deletes the files of days before the retention.
    fn sweep(&self) -> Result<(), String> {
        let Some(days) = self.retention_days else { return Ok(()) };
        let oldest = self.now().date_naive() - Duration::days(i64::from(days));
        for (day, _, path) in self.files()? {
            if day < oldest {
                std::fs::remove_file(&path).map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
                tracing::info!(file = %path.display(), "prediction log past its retention removed");
            }
        }
        Ok(())
    }

    /// Appends predictions (stamped now) to today's file. Written to the file system, not
    /// flushed to the disk: a crash may lose the last instants of predictions, never a ledger
    /// event.
    pub fn append(&self, mut records: Vec<Logged>) -> Result<(), String> {
        if records.is_empty() {
            return Ok(());
        }
        let now = self.now();
        let at = micros(now);
        let mut text = String::new();
        for r in &mut records {
            r.at = at.clone();
            text.push_str(&serde_json::to_string(r).map_err(|e| e.to_string())?);
            text.push('\n');
        }
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let today = now.date_naive();
        if st.open.as_ref().is_none_or(|(d, _)| *d != today) {
            std::fs::create_dir_all(&self.dir)
                .map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?;
            let path = self.dir.join(format!("{today}.jsonl"));
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
            st.open = Some((today, f));
            drop(st);
            self.sweep()?;
            st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        }
        let (_, f) = st.open.as_mut().expect("opened above");
        f.write_all(text.as_bytes()).map_err(|e| format!("cannot write the prediction log: {e}"))?;
        for r in records {
            if let Ok(id) = uuid::Uuid::parse_str(&r.prediction_id) {
                st.ids.insert(id.as_u128());
            }
            if let Some(k) = r.key {
                st.keys.insert((r.model, k));
            }
        }
        Ok(())
    }

    /// Records actuals (stamped now), all or none: each must name a logged prediction of its
    /// model by id or key. Returns how many were recorded.
    pub fn record_actuals(&self, mut actuals: Vec<Actual>) -> Result<usize, String> {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for (i, a) in actuals.iter().enumerate() {
            let known = match (&a.prediction_id, &a.key) {
                (Some(id), None) => uuid::Uuid::parse_str(id).is_ok_and(|u| st.ids.contains(&u.as_u128())),
                (None, Some(k)) => st.keys.contains(&(a.model.clone(), k.clone())),
                _ => return Err(format!("actual {}: give exactly one of `prediction_id` and `key`", i + 1)),
            };
            if !known {
                let what = match (&a.prediction_id, &a.key) {
                    (Some(id), _) => format!("prediction id `{id}`"),
                    (_, Some(k)) => format!("key `{k}`"),
                    _ => unreachable!("checked above"),
                };
                let within = self
                    .retention_days
                    .map(|d| format!(" (within the {d}-day retention)"))
                    .unwrap_or_default();
                return Err(format!(
                    "actual {}: no logged prediction of `{}` has {what}{within}; nothing was recorded",
                    i + 1,
                    a.model
                ));
            }
        }
        drop(st);
        let now = self.now();
        let at = micros(now);
        let mut text = String::new();
        for a in &mut actuals {
            a.at = at.clone();
            text.push_str(&serde_json::to_string(a).map_err(|e| e.to_string())?);
            text.push('\n');
        }
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?;
        let path = self.dir.join(format!("{}.actuals.jsonl", now.date_naive()));
        let _one = self.state.lock().unwrap_or_else(|e| e.into_inner());
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(actuals.len())
    }

    /// The predictions of `model` answered in `[since, until)`, each with its actual outcome
    /// when one was recorded (by id first, else by key; the last recorded wins).
    pub fn joined(
        &self,
        model: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<(Logged, Option<f64>)>, String> {
        let (from, to) = (since.date_naive(), until.date_naive());
        let mut predictions = vec![];
        let mut by_id: BTreeMap<String, f64> = BTreeMap::new();
        let mut by_key: BTreeMap<String, f64> = BTreeMap::new();
        for (day, actuals, path) in self.files()? {
            if actuals {
                // Outcomes come after their predictions: any day from the window's start on.
                if day < from {
                    continue;
                }
                for a in read_lines::<Actual>(&path)?.into_iter().filter(|a| a.model == model) {
                    match (a.prediction_id, a.key) {
                        (Some(id), _) => by_id.insert(id, a.actual),
                        (_, Some(k)) => by_key.insert(k, a.actual),
                        _ => None,
                    };
                }
            } else if (from..=to).contains(&day) {
                let (s, u) = (micros(since), micros(until));
                predictions.extend(read_lines::<Logged>(&path)?.into_iter().filter(|r| {
                    r.model == model && r.at.as_str() >= s.as_str() && r.at.as_str() < u.as_str()
                }));
            }
        }
        Ok(predictions
            .into_iter()
            .map(|r| {
                let actual = by_id
                    .get(&r.prediction_id)
                    .or_else(|| r.key.as_ref().and_then(|k| by_key.get(k)))
                    .copied();
                (r, actual)
            })
            .collect())
    }
}
