//! Loading a data file against a spec, and validation before anything trains.
//!
//! Files are read with polars: CSV with every column as text (so this module, not a type
//! guess, decides what a cell means and can name the row that does not fit), Parquet with its
//! own column types. Every check runs before a model sees a row.

use std::io::Cursor;
use std::path::Path;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Rows, TrainError, UnknownLabel};
use crate::spec::{DatasetSpec, FeatureType, MissingPolicy, Task};

/// One feature's values, aligned with [`Table::target`]. `None` is an empty cell that the
/// missing-value policy kept (only under `impute`).
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// Numbers (finite).
    Numeric(Vec<Option<f64>>),
    /// Labels.
    Categorical(Vec<Option<String>>),
}

impl Values {
    fn len(&self) -> usize {
        match self {
            Values::Numeric(v) => v.len(),
            Values::Categorical(v) => v.len(),
        }
    }

    fn select(&self, keep: &[usize]) -> Values {
        match self {
            Values::Numeric(v) => Values::Numeric(keep.iter().map(|&i| v[i]).collect()),
            Values::Categorical(v) => Values::Categorical(keep.iter().map(|&i| v[i].clone()).collect()),
        }
    }
}

/// A validated table: only the columns the spec uses, rows the policy kept.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// What the target is.
    pub task: Task,
    /// The target: 1.0 for the positive class and 0.0 for the negative (classification), the
    /// number (regression). `NaN` only in a file to score, for a row whose target is unknown.
    pub target: Vec<f64>,
    /// Feature values in spec order.
    pub features: Vec<Values>,
    /// Period index of each row (into [`Table::periods`]), when the spec has a time axis.
    pub period: Option<Vec<usize>>,
    /// Period labels in time order.
    pub periods: Vec<String>,
    /// Segment of each row, when the spec has a segment column.
    pub segment: Option<Vec<String>>,
    /// The 1-based data row number of each kept row in the file.
    pub row_numbers: Vec<usize>,
    /// What loading did, for the record.
    pub report: LoadReport,
}

/// What loading did: recorded with the run so the handling of dirty rows is never silent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LoadReport {
    /// Data rows in the file.
    pub rows_read: usize,
    /// Rows kept.
    pub rows_kept: usize,
    /// Rows dropped by the `drop_rows` policy (1-based), at most the first 100.
    pub dropped_rows: Vec<usize>,
    /// How many rows were dropped in all.
    pub dropped: usize,
    /// Empty cells per column, before the policy applied.
    pub empty_cells: std::collections::BTreeMap<String, usize>,
    /// The policy applied.
    pub missing_policy: String,
    /// The negative label (from the spec or found in the file).
    pub negative_label: String,
    /// Rows dropped because a time-series feature had too little history (the first
    /// periods of a series), counted after the missing-value policy.
    #[serde(default)]
    pub rows_without_history: usize,
}

impl Table {
    /// Rows in the table.
    pub fn len(&self) -> usize {
        self.target.len()
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.target.is_empty()
    }

    /// The subset of rows at `keep` (indices into this table), in that order.
    pub fn select(&self, keep: &[usize]) -> Table {
        Table {
            task: self.task,
            target: keep.iter().map(|&i| self.target[i]).collect(),
            features: self.features.iter().map(|f| f.select(keep)).collect(),
            period: self.period.as_ref().map(|p| keep.iter().map(|&i| p[i]).collect()),
            periods: self.periods.clone(),
            segment: self.segment.as_ref().map(|s| keep.iter().map(|&i| s[i].clone()).collect()),
            row_numbers: keep.iter().map(|&i| self.row_numbers[i]).collect(),
            report: self.report.clone(),
        }
    }
}

/// blake3 of bytes as 64 lowercase hex characters (the ledger's digest form).
pub fn digest_bytes(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// Reads a CSV or Parquet file (by extension: `.parquet`/`.pq` is Parquet, anything else CSV).
/// Returns the frame and the blake3 digest of the bytes read.
pub fn read_frame(path: &Path) -> Result<(DataFrame, String), TrainError> {
    let read_err = |m: String| TrainError::Read { path: path.display().to_string(), message: m };
    let bytes = std::fs::read(path).map_err(|e| read_err(e.to_string()))?;
    let digest = digest_bytes(&bytes);
    let parquet = matches!(path.extension().and_then(|e| e.to_str()), Some("parquet" | "pq"));
    let frame = frame_from_bytes(bytes, parquet).map_err(read_err)?;
    Ok((frame, digest))
}

/// Parses bytes as CSV (every column as text) or Parquet.
pub fn frame_from_bytes(bytes: Vec<u8>, parquet: bool) -> Result<DataFrame, String> {
    if parquet {
        return ParquetReader::new(Cursor::new(bytes)).finish().map_err(|e| e.to_string());
    }
    if bytes.is_empty() {
        return Err("the file is empty (no header row)".into());
    }
    check_csv_shape(&bytes)?;
    CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .with_n_threads(Some(1))
        .into_reader_with_file_handle(Cursor::new(bytes))
        .finish()
        .map_err(|e| e.to_string())
}

/// Checks a CSV file's shape before polars reads it: no header name twice, and every record
/// with as many fields as the header (polars would silently fill a short row with empty
/// cells). Quoted fields may hold commas, doubled quotes and line breaks. A trailing empty
/// line is allowed.
pub fn check_csv_shape(bytes: &[u8]) -> Result<(), String> {
    let mut expected: Option<usize> = None;
    let mut row = 0usize; // data rows seen
    let mut end_record = |fields: Vec<String>| -> Result<(), String> {
        let Some(h) = expected else {
            let mut seen = std::collections::BTreeMap::new();
            for (k, name) in fields.iter().enumerate() {
                if let Some(first) = seen.insert(name.trim().to_string(), k + 1) {
                    return Err(format!(
                        "the header names column `{}` twice (columns {first} and {})",
                        name.trim(),
                        k + 1
                    ));
                }
            }
            expected = Some(fields.len());
            return Ok(());
        };
        row += 1;
        let blank = fields.len() == 1 && fields[0].is_empty();
        if fields.len() != h && !blank {
            return Err(format!("row {row} has {} field(s) where the header has {h}", fields.len()));
        }
        Ok(())
    };
    let mut field = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut quoted = false;
    let mut i = 0;
    let take = |f: &mut Vec<u8>| String::from_utf8_lossy(&std::mem::take(f)).into_owned();
    while i < bytes.len() {
        let b = bytes[i];
        match (quoted, b) {
            (true, b'"') if bytes.get(i + 1) == Some(&b'"') => {
                field.push(b'"');
                i += 1;
            }
            (true, b'"') => quoted = false,
            (true, _) => field.push(b),
            (false, b'"') => quoted = true,
            (false, b',') => fields.push(take(&mut field)),
            (false, b'\n' | b'\r') => {
                if b == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                fields.push(take(&mut field));
                end_record(std::mem::take(&mut fields))?;
            }
            (false, _) => field.push(b),
        }
        i += 1;
    }
    if !field.is_empty() || !fields.is_empty() {
        fields.push(take(&mut field));
        end_record(fields)?;
    }
    Ok(())
}

/// Loads and validates a file against a spec. Returns the table and the file's digest.
pub fn load(path: &Path, spec: &DatasetSpec) -> Result<(Table, String), TrainError> {
    let (frame, digest) = read_frame(path)?;
    Ok((validate(&frame, spec)?, digest))
}

/// A column as cells: text for strings, formatted numbers for numeric columns, `None` for nulls.
enum Cells {
    Text(Vec<Option<String>>),
    Number(Vec<Option<f64>>),
}

fn cells(frame: &DataFrame, name: &str, markers: &[String]) -> Result<Cells, TrainError> {
    let col = frame.column(name).map_err(|_| TrainError::MissingColumns(vec![name.to_string()]))?;
    let s = col.as_materialized_series();
    match s.dtype() {
        DataType::String => {
            let ca = s.str().map_err(|e| TrainError::Spec(e.to_string()))?;
            let marker = |t: &str| markers.iter().any(|m| m.trim() == t.trim());
            Ok(Cells::Text(ca.iter().map(|v| v.filter(|t| !marker(t)).map(|t| t.to_string())).collect()))
        }
        DataType::Boolean => {
            let ca = s.bool().map_err(|e| TrainError::Spec(e.to_string()))?;
            Ok(Cells::Text(ca.iter().map(|v| v.map(|b| b.to_string())).collect()))
        }
        dt if dt.is_primitive_numeric() => {
            let f = s.cast(&DataType::Float64).map_err(|e| TrainError::Spec(e.to_string()))?;
            let ca = f.f64().map_err(|e| TrainError::Spec(e.to_string()))?;
            Ok(Cells::Number(ca.iter().collect()))
        }
        other => {
            let first = s.iter().position(|v| !v.is_null()).unwrap_or(0);
            Err(TrainError::WrongType {
                column: name.to_string(),
                declared: "a number or a label".into(),
                found: format!("values of type {other}"),
                row: first + 1,
                example: s.get(first).map(|v| v.to_string()).unwrap_or_default(),
            })
        }
    }
}

/// Text of a cell; empty or whitespace-only text is an empty cell.
fn text(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

fn format_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// A column read as labels.
fn as_labels(c: Cells) -> Vec<Option<String>> {
    match c {
        Cells::Text(v) => v.iter().map(|x| text(x).map(str::to_string)).collect(),
        Cells::Number(v) => v.into_iter().map(|x| x.map(format_number)).collect(),
    }
}

/// A column read as numbers: wrong type if no cell parses, unparseable rows otherwise.
fn as_numbers(name: &str, c: Cells) -> Result<Vec<Option<f64>>, TrainError> {
    let out: Vec<Option<f64>> = match c {
        Cells::Number(v) => v,
        Cells::Text(v) => {
            let mut bad = Vec::new();
            let mut parsed = 0usize;
            let out = v
                .iter()
                .enumerate()
                .map(|(i, x)| {
                    let t = text(x)?;
                    match t.parse::<f64>() {
                        Ok(n) => {
                            parsed += 1;
                            Some(n)
                        }
                        Err(_) => {
                            bad.push(i);
                            None
                        }
                    }
                })
                .collect();
            if let Some(&first) = bad.first() {
                let example = text(&v[first]).unwrap_or_default().to_string();
                if parsed == 0 {
                    return Err(TrainError::WrongType {
                        column: name.to_string(),
                        declared: "numeric".into(),
                        found: "text".into(),
                        row: first + 1,
                        example,
                    });
                }
                return Err(TrainError::Unparseable {
                    column: name.to_string(),
                    rows: Rows::from_indices(bad),
                    example,
                });
            }
            out
        }
    };
    let not_finite: Vec<usize> =
        out.iter().enumerate().filter(|(_, x)| x.is_some_and(|x| !x.is_finite())).map(|(i, _)| i).collect();
    if !not_finite.is_empty() {
        return Err(TrainError::NotFinite { column: name.to_string(), rows: Rows::from_indices(not_finite) });
    }
    Ok(out)
}

/// Validates a frame against a spec and applies the missing-value policy.
pub fn validate(frame: &DataFrame, spec: &DatasetSpec) -> Result<Table, TrainError> {
    validate_inner(frame, spec, true)
}

/// Loads a file to be scored: the spec's features (and segment column, if the file has it).
/// No target is needed, and no time axis unless the spec derives features from it; a spec
/// with time-series features needs the target column for the history (its empty cells are
/// the rows to forecast). Unknown targets are `NaN`.
pub fn load_unlabelled(path: &Path, spec: &DatasetSpec) -> Result<(Table, String), TrainError> {
    let (frame, digest) = read_frame(path)?;
    Ok((unlabelled(&frame, spec)?, digest))
}

/// Validates a frame to be scored, as [`load_unlabelled`] does a file.
pub fn unlabelled(frame: &DataFrame, spec: &DatasetSpec) -> Result<Table, TrainError> {
    let mut s = spec.clone();
    if s.series.is_none() && s.calendar.is_none() {
        s.time = None;
    }
    if s.segment.as_ref().is_some_and(|c| frame.column(c).is_err()) {
        s.segment = None;
    }
    validate_inner(frame, &s, false)
}

/// A frame from JSON rows (objects of column to value), as a request to score sends them.
///
/// Every row must name the same columns; `null` is an empty cell. A column whose values are
/// all numbers (or `null`) is numeric, all booleans a boolean column, anything else text
/// (numbers written as the CSV loader would). Arrays and objects are refused, naming the row
/// (1-based) and the column.
pub fn frame_from_rows(rows: &[serde_json::Map<String, serde_json::Value>]) -> Result<DataFrame, String> {
    use serde_json::Value;
    let Some(first) = rows.first() else {
        return Err("no rows to score".into());
    };
    let names: Vec<&String> = first.keys().collect();
    for (i, row) in rows.iter().enumerate() {
        if let Some(extra) = row.keys().find(|k| !first.contains_key(*k)) {
            return Err(format!(
                "row {} has `{extra}`, which row 1 does not have; every row names the same columns",
                i + 1
            ));
        }
        if let Some(absent) = names.iter().find(|k| !row.contains_key(k.as_str())) {
            return Err(format!("row {} has no `{absent}` (write `null` for an empty cell)", i + 1));
        }
    }
    let mut columns = Vec::with_capacity(names.len());
    for name in names {
        let values: Vec<&Value> = rows.iter().map(|r| &r[name.as_str()]).collect();
        if let Some(i) = values.iter().position(|v| v.is_array() || v.is_object()) {
            return Err(format!(
                "row {}: `{name}` holds {}; a cell is a number, a string, a boolean or null",
                i + 1,
                if values[i].is_array() { "an array" } else { "an object" }
            ));
        }
        let all = |f: fn(&Value) -> bool| values.iter().all(|v| v.is_null() || f(v));
        let column = if all(Value::is_number) {
            let v: Vec<Option<f64>> = values.iter().map(|v| v.as_f64()).collect();
            Column::new(name.as_str().into(), v)
        } else if all(Value::is_boolean) {
            let v: Vec<Option<bool>> = values.iter().map(|v| v.as_bool()).collect();
            Column::new(name.as_str().into(), v)
        } else {
            let v: Vec<Option<String>> = values
                .iter()
                .map(|v| match v {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.as_f64().map(format_number).unwrap_or_else(|| n.to_string())),
                    other => Some(other.to_string()),
                })
                .collect();
            Column::new(name.as_str().into(), v)
        };
        columns.push(column);
    }
    DataFrame::new(rows.len(), columns).map_err(|e| e.to_string())
}

fn validate_inner(frame: &DataFrame, spec: &DatasetSpec, labelled: bool) -> Result<Table, TrainError> {
    spec.check()?;
    let names: Vec<String> = frame.get_column_names().iter().map(|n| n.to_string()).collect();
    let missing: Vec<String> = spec
        .columns()
        .into_iter()
        .filter(|c| labelled || spec.series.is_some() || *c != spec.target.column)
        .filter(|c| !names.iter().any(|n| n == c))
        .map(str::to_string)
        .collect();
    if !missing.is_empty() {
        return Err(TrainError::MissingColumns(missing));
    }
    let n = frame.height();
    if n == 0 {
        return Err(TrainError::TooLittleData("the file has a header but no data rows".into()));
    }
    let mut report =
        LoadReport { rows_read: n, missing_policy: policy_name(spec.missing), ..Default::default() };
    let tc = &spec.target.column;
    let target: Vec<f64> = match (labelled, spec.task) {
        (true, Task::Classification) => {
            read_target(frame, spec, &mut report)?.into_iter().map(|t| if t { 1.0 } else { 0.0 }).collect()
        }
        (true, Task::Regression) => {
            let v = as_numbers(tc, cells(frame, tc, &spec.missing_markers)?)?;
            let empty: Vec<usize> = (0..n).filter(|&i| v[i].is_none()).collect();
            if !empty.is_empty() {
                return Err(TrainError::EmptyTarget { column: tc.clone(), rows: Rows::from_indices(empty) });
            }
            v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect()
        }
        (false, _) if spec.series.is_some() => as_numbers(tc, cells(frame, tc, &spec.missing_markers)?)?
            .into_iter()
            .map(|x| x.unwrap_or(f64::NAN))
            .collect(),
        (false, _) => vec![f64::NAN; n],
    };
    let pos = spec.target.positive();
    // Features.
    let mut features = Vec::with_capacity(spec.features.len());
    for f in &spec.features {
        let c = cells(frame, &f.column, &spec.missing_markers)?;
        let values = match f.kind {
            FeatureType::Numeric => Values::Numeric(as_numbers(&f.column, c)?),
            FeatureType::Categorical => Values::Categorical(as_labels(c)),
        };
        features.push(values);
    }

    // Time axis.
    let (period, periods) = match &spec.time {
        None => (None, Vec::new()),
        Some(t) => {
            let labels = as_labels(cells(frame, &t.column, &spec.missing_markers)?);
            let (idx, periods) = order_periods(&t.column, &labels, t.order.as_deref())?;
            (Some(idx), periods)
        }
    };
    let segment = match &spec.segment {
        None => None,
        Some(s) => Some(as_labels(cells(frame, s, &spec.missing_markers)?)),
    };

    // Empty cells: all-null features are refused outright; the rest follow the policy.
    let mut empty_rows = vec![false; n];
    let mut refuse: Option<TrainError> = None;
    for (f, v) in spec.features.iter().zip(&features) {
        let empties: Vec<usize> = (0..n)
            .filter(|&i| match v {
                Values::Numeric(x) => x[i].is_none(),
                Values::Categorical(x) => x[i].is_none(),
            })
            .collect();
        if empties.len() == n {
            return Err(TrainError::AllNull { column: f.column.clone() });
        }
        if !empties.is_empty() {
            report.empty_cells.insert(f.column.clone(), empties.len());
            match spec.missing {
                MissingPolicy::Refuse => {
                    refuse.get_or_insert(TrainError::Missing {
                        column: f.column.clone(),
                        rows: Rows::from_indices(empties),
                    });
                }
                MissingPolicy::DropRows => empties.iter().for_each(|&i| empty_rows[i] = true),
                MissingPolicy::Impute => {}
            }
        }
    }
    if let (Some(t), Some(p)) = (&spec.time, &period) {
        let col = t.column.as_str();
        let empties: Vec<usize> = (0..n).filter(|&i| p[i] == usize::MAX).collect();
        note_empty(col, empties, spec.missing, &mut report, &mut empty_rows, &mut refuse);
    }
    if let (Some(col), Some(s)) = (&spec.segment, &segment) {
        let empties: Vec<usize> = (0..n).filter(|&i| s[i].is_none()).collect();
        note_empty(col, empties, spec.missing, &mut report, &mut empty_rows, &mut refuse);
    }
    if let Some(e) = refuse {
        return Err(e);
    }
    let keep: Vec<usize> = (0..n).filter(|&i| !empty_rows[i]).collect();
    report.dropped = n - keep.len();
    report.dropped_rows = (0..n).filter(|&i| empty_rows[i]).take(100).map(|i| i + 1).collect();
    report.rows_kept = keep.len();
    let full = Table {
        task: spec.task,
        target,
        features,
        period,
        periods,
        segment: segment.map(|s| s.into_iter().map(|x| x.unwrap_or_default()).collect()),
        row_numbers: (1..=n).collect(),
        report,
    };
    let mut table = if keep.len() == n { full } else { full.select(&keep) };
    if table.is_empty() {
        return Err(TrainError::TooLittleData(
            "no rows are left after dropping rows with empty cells".into(),
        ));
    }
    if spec.series.is_some() || spec.calendar.is_some() {
        table = with_generated(frame, spec, table)?;
    }
    for (f, v) in spec.design_features().iter().zip(&table.features) {
        debug_assert_eq!(v.len(), table.len());
        let all_empty = match v {
            Values::Numeric(x) => x.iter().all(Option::is_none),
            Values::Categorical(x) => x.iter().all(Option::is_none),
        };
        if all_empty {
            return Err(TrainError::AllNull { column: f.column.clone() });
        }
    }
    let positives = table.target.iter().filter(|&&t| t == 1.0).count();
    if labelled && spec.task == Task::Classification && (positives == 0 || positives == table.len()) {
        return Err(TrainError::SingleClass {
            column: tc.clone(),
            class: if positives > 0 { pos.to_string() } else { table.report.negative_label.clone() },
            scope: "the rows left after dropping empty cells".into(),
        });
    }
    Ok(table)
}

/// Appends the generated features ([`crate::series`]) to a table whose rows passed the
/// missing-value policy, and drops the rows whose time-series features lack history.
fn with_generated(frame: &DataFrame, spec: &DatasetSpec, mut table: Table) -> Result<Table, TrainError> {
    let Some(period) = table.period.clone() else {
        return Err(TrainError::Spec("`series` and `calendar` features need a `time` axis".into()));
    };
    let at: Vec<usize> = table.row_numbers.iter().map(|r| r - 1).collect();
    let mut key = vec![String::new(); table.len()];
    for k in spec.series.iter().flat_map(|s| s.key.iter()) {
        let labels = as_labels(cells(frame, k, &spec.missing_markers)?);
        let empty: Vec<usize> = at.iter().copied().filter(|&i| labels[i].is_none()).collect();
        if !empty.is_empty() {
            return Err(TrainError::Missing { column: k.clone(), rows: Rows::from_indices(empty) });
        }
        for (j, &i) in at.iter().enumerate() {
            key[j].push_str(labels[i].as_deref().unwrap_or_default());
            key[j].push('\u{1f}');
        }
    }
    let target: Vec<Option<f64>> = table.target.iter().map(|&t| t.is_finite().then_some(t)).collect();
    let generated = crate::series::generate(spec, &period, &table.periods, &key, &target)?;
    let series_count = spec.series.as_ref().map(|s| s.lags.len() + 2 * s.rolling.len()).unwrap_or(0);
    let complete: Vec<usize> = (0..table.len())
        .filter(|&i| {
            generated[..series_count].iter().all(|v| match v {
                Values::Numeric(x) => x[i].is_some(),
                Values::Categorical(x) => x[i].is_some(),
            })
        })
        .collect();
    table.features.extend(generated);
    let without = table.len() - complete.len();
    if without > 0 {
        table = table.select(&complete);
        table.report.rows_without_history = without;
        table.report.rows_kept = table.len();
    }
    if table.is_empty() {
        return Err(TrainError::TooLittleData(
            "no row has enough history for the time-series features (lags and rolling windows longer than the file?)".into(),
        ));
    }
    Ok(table)
}

fn read_target(
    frame: &DataFrame,
    spec: &DatasetSpec,
    report: &mut LoadReport,
) -> Result<Vec<bool>, TrainError> {
    let n = frame.height();
    let tc = &spec.target.column;
    let labels = as_labels(cells(frame, tc, &spec.missing_markers)?);
    let empty: Vec<usize> = (0..n).filter(|&i| labels[i].is_none()).collect();
    if !empty.is_empty() {
        return Err(TrainError::EmptyTarget { column: tc.clone(), rows: Rows::from_indices(empty) });
    }
    let pos = spec.target.positive();
    let negative = match &spec.target.negative {
        Some(neg) => neg.clone(),
        None => {
            let others: std::collections::BTreeSet<&str> =
                labels.iter().flatten().map(String::as_str).filter(|l| *l != pos).collect();
            match others.len() {
                0 => {
                    return Err(TrainError::SingleClass {
                        column: tc.clone(),
                        class: pos.to_string(),
                        scope: "the file".into(),
                    })
                }
                1 => others.into_iter().next().unwrap_or_default().to_string(),
                _ => {
                    // The rarest surprising value is the likely error; name the second value seen.
                    let first_other =
                        labels.iter().flatten().find(|l| *l != pos).cloned().unwrap_or_default();
                    let third = labels.iter().flatten().find(|l| *l != pos && **l != first_other).cloned();
                    let value = third.unwrap_or_default();
                    let rows = Rows::from_indices((0..n).filter(|&i| labels[i].as_deref() == Some(&value)));
                    return Err(TrainError::UnknownLabel(Box::new(UnknownLabel {
                        column: tc.clone(),
                        value,
                        rows,
                        positive: pos.to_string(),
                        negative: first_other,
                    })));
                }
            }
        }
    };
    let mut target = Vec::with_capacity(n);
    for (i, l) in labels.iter().enumerate() {
        let l = l.as_deref().unwrap_or_default();
        if l == pos {
            target.push(true);
        } else if l == negative {
            target.push(false);
        } else {
            let rows = Rows::from_indices((0..n).skip(i).filter(|&j| labels[j].as_deref() == Some(l)));
            return Err(TrainError::UnknownLabel(Box::new(UnknownLabel {
                column: tc.clone(),
                value: l.to_string(),
                rows,
                positive: pos.to_string(),
                negative,
            })));
        }
    }
    if !target.iter().any(|&t| t) || target.iter().all(|&t| t) {
        let class = if target.first().copied().unwrap_or(false) { pos.to_string() } else { negative.clone() };
        return Err(TrainError::SingleClass { column: tc.clone(), class, scope: "the file".into() });
    }
    report.negative_label = negative;
    Ok(target)
}

/// Empty segment or time cells: refused unless the policy drops rows (they are never imputed).
fn note_empty(
    col: &str,
    empties: Vec<usize>,
    policy: MissingPolicy,
    report: &mut LoadReport,
    empty_rows: &mut [bool],
    refuse: &mut Option<TrainError>,
) {
    if empties.is_empty() {
        return;
    }
    report.empty_cells.insert(col.to_string(), empties.len());
    if policy == MissingPolicy::DropRows {
        empties.iter().for_each(|&i| empty_rows[i] = true);
    } else {
        refuse.get_or_insert(TrainError::Missing {
            column: col.to_string(),
            rows: Rows::from_indices(empties),
        });
    }
}

fn policy_name(p: MissingPolicy) -> String {
    match p {
        MissingPolicy::Refuse => "refuse",
        MissingPolicy::DropRows => "drop_rows",
        MissingPolicy::Impute => "impute",
    }
    .to_string()
}

/// Orders a time column's values into periods. Empty cells get `usize::MAX`.
fn order_periods(
    col: &str,
    labels: &[Option<String>],
    order: Option<&[String]>,
) -> Result<(Vec<usize>, Vec<String>), TrainError> {
    let periods: Vec<String> = match order {
        Some(o) => {
            let unknown: Vec<usize> = labels
                .iter()
                .enumerate()
                .filter(|(_, l)| l.as_ref().is_some_and(|l| !o.contains(l)))
                .map(|(i, _)| i)
                .collect();
            if let Some(&first) = unknown.first() {
                let example = labels[first].clone().unwrap_or_default();
                return Err(TrainError::Spec(format!(
                    "time column `{col}` holds {example:?} in {}, which `time.order` does not list",
                    Rows::from_indices(unknown)
                )));
            }
            o.to_vec()
        }
        None => {
            let mut distinct: Vec<String> = labels.iter().flatten().cloned().collect();
            distinct.sort();
            distinct.dedup();
            let numbers: Option<Vec<f64>> = distinct.iter().map(|d| d.parse::<f64>().ok()).collect();
            if let Some(nums) = numbers {
                let mut pairs: Vec<(f64, String)> = nums.into_iter().zip(distinct).collect();
                pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
                pairs.into_iter().map(|(_, s)| s).collect()
            } else {
                distinct
            }
        }
    };
    let index: std::collections::HashMap<&str, usize> =
        periods.iter().enumerate().map(|(i, p)| (p.as_str(), i)).collect();
    let idx = labels.iter().map(|l| l.as_deref().map(|l| index[l]).unwrap_or(usize::MAX)).collect();
    Ok((idx, periods))
}
