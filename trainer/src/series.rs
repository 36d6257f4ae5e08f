//! Time-series and calendar features, computed with polars' lazy engine.
//!
//! A *series* is the rows sharing the spec's `series.key` values; its value in a period is the
//! mean target of its rows in that period (empty targets, as in a file to forecast, are left
//! out). On the dense grid of every series times every period of the time axis:
//!
//! - `<target>_lag_<k>` is the series' value at period `t - k` (`k >= horizon`);
//! - `<target>_mean_<w>` / `<target>_std_<w>` are the mean and sample standard deviation of the
//!   values present in periods `t - horizon - w + 1 ..= t - horizon`; the mean needs at least
//!   `ceil(w / 2)` of them, the standard deviation at least `max(2, ceil(w / 2))`.
//!
//! Each row then takes its series' and period's values. Every window ends at `t - horizon`, so
//! a row's features never read its own period or a later one: changing a row's target
//! changes no feature of any row in an earlier period, or in the same period (leakage-safe by
//! construction; `tests/it/series.rs` checks it). A row whose lag or window is not available
//! (the first periods of a series) has an empty feature, and the loader drops it (recorded).
//!
//! Calendar fields come from each period's date (an ISO date, or a day number counted from
//! `calendar.origin`) with polars' `dt` namespace.

use polars::prelude::*;

use crate::data::Values;
use crate::error::TrainError;
use crate::spec::{CalendarField, DatasetSpec};

/// Days from 1970-01-01 of an ISO date `YYYY-MM-DD` (the proleptic Gregorian calendar).
pub fn parse_date(text: &str) -> Option<i32> {
    let t = text.trim();
    let b = t.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i64 = t[..4].parse().ok()?;
    let m: i64 = t[5..7].parse().ok()?;
    let d: i64 = t[8..10].parse().ok()?;
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&m) || d < 1 || d > days_in[(m - 1) as usize] {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    i32::try_from(era * 146_097 + doe - 719_468).ok()
}

fn polars_error(e: PolarsError) -> TrainError {
    TrainError::Spec(format!("computing time-series features: {e}"))
}

/// The generated features of every row, in [`DatasetSpec::design_features`] order after the
/// declared features: series features, then calendar fields.
///
/// `period[i]` is row `i`'s index into `periods` (time order), `key[i]` its series key
/// (already joined), `target[i]` its target (`None`: unknown, as in a file to forecast).
pub fn generate(
    spec: &DatasetSpec,
    period: &[usize],
    periods: &[String],
    key: &[String],
    target: &[Option<f64>],
) -> Result<Vec<Values>, TrainError> {
    let mut out = Vec::new();
    if let Some(s) = &spec.series {
        out.extend(series_features(spec, s, period, periods.len(), key, target)?);
    }
    if let Some(c) = &spec.calendar {
        out.extend(calendar_features(spec, c, period, periods)?);
    }
    Ok(out)
}

fn series_features(
    spec: &DatasetSpec,
    s: &crate::spec::Series,
    period: &[usize],
    period_count: usize,
    key: &[String],
    target: &[Option<f64>],
) -> Result<Vec<Values>, TrainError> {
    let n = period.len();
    let t = spec.target.column.as_str();
    let rows = df! {
        "row" => (0..n as u32).collect::<Vec<u32>>(),
        "period" => period.iter().map(|&p| p as i64).collect::<Vec<i64>>(),
        "key" => key.to_vec(),
        "y" => target.to_vec(),
    }
    .map_err(polars_error)?
    .lazy();
    // One value per series and period: the mean of its known targets.
    let values = rows.clone().group_by([col("key"), col("period")]).agg([col("y").mean()]);
    // The dense grid (every series x every period), so that shifts count periods, not rows.
    let keys = rows.clone().select([col("key")]).unique_stable(None, UniqueKeepStrategy::First);
    let all_periods =
        df! { "period" => (0..period_count as i64).collect::<Vec<i64>>() }.map_err(polars_error)?.lazy();
    let grid = keys
        .cross_join(all_periods, None)
        .join(values, [col("key"), col("period")], [col("key"), col("period")], JoinArgs::new(JoinType::Left))
        .sort(["key", "period"], SortMultipleOptions::default());
    let mut names = Vec::new();
    let mut exprs = Vec::new();
    for &k in &s.lags {
        let name = format!("{t}_lag_{k}");
        exprs.push(col("y").shift(lit(k as i64)).over([col("key")]).map_err(polars_error)?.alias(&name));
        names.push(name);
    }
    for &w in &s.rolling {
        let half = w.div_ceil(2);
        let window = |min_periods: usize, var: bool| RollingOptionsFixedWindow {
            window_size: w,
            min_periods,
            weights: None,
            center: false,
            fn_params: var.then_some(RollingFnParams::Var(RollingVarParams { ddof: 1 })),
        };
        let past = col("y").shift(lit(s.horizon as i64));
        let mean = format!("{t}_mean_{w}");
        exprs.push(
            past.clone()
                .rolling_mean(window(half, false))
                .over([col("key")])
                .map_err(polars_error)?
                .alias(&mean),
        );
        let std = format!("{t}_std_{w}");
        exprs.push(
            past.rolling_std(window(half.max(2), true)).over([col("key")]).map_err(polars_error)?.alias(&std),
        );
        names.push(mean);
        names.push(std);
    }
    let features = grid.with_columns(exprs).drop(cols(["y"]));
    let joined = rows
        .join(
            features,
            [col("key"), col("period")],
            [col("key"), col("period")],
            JoinArgs::new(JoinType::Left),
        )
        .sort(["row"], SortMultipleOptions::default())
        .select(names.iter().map(|n| col(n.as_str())).collect::<Vec<_>>())
        .collect()
        .map_err(polars_error)?;
    if joined.height() != n {
        return Err(TrainError::Spec(format!(
            "computing time-series features: {} rows in, {} out (duplicate series keys?)",
            n,
            joined.height()
        )));
    }
    names
        .iter()
        .map(|name| {
            let c = joined.column(name).map_err(polars_error)?.as_materialized_series().clone();
            let f = c.cast(&DataType::Float64).map_err(polars_error)?;
            let v: Vec<Option<f64>> =
                f.f64().map_err(polars_error)?.iter().map(|x| x.filter(|x| x.is_finite())).collect();
            Ok(Values::Numeric(v))
        })
        .collect()
}

fn calendar_features(
    spec: &DatasetSpec,
    c: &crate::spec::Calendar,
    period: &[usize],
    periods: &[String],
) -> Result<Vec<Values>, TrainError> {
    let time = spec.time.as_ref().map(|t| t.column.as_str()).unwrap_or_default();
    let origin = c.origin.as_deref().and_then(parse_date);
    let mut days = Vec::with_capacity(periods.len());
    for label in periods {
        let day = match origin {
            Some(o) => {
                label.trim().parse::<i64>().ok().and_then(|n| i32::try_from(i64::from(o) + n - 1).ok())
            }
            None => parse_date(label),
        };
        let Some(day) = day else {
            return Err(TrainError::Spec(format!(
                "calendar features: the time column `{time}` holds {label:?}, which is not {}",
                if origin.is_some() {
                    "a whole day number"
                } else {
                    "an ISO date (YYYY-MM-DD); give `calendar.origin` for day numbers"
                }
            )));
        };
        days.push(day);
    }
    let frame = df! { "day" => days }
        .map_err(polars_error)?
        .lazy()
        .with_column(col("day").cast(DataType::Date).alias("date"));
    let field = |f: CalendarField| -> Expr {
        let d = col("date").dt();
        let e = match f {
            CalendarField::DayOfWeek => d.weekday(),
            CalendarField::Weekend => d.weekday().gt_eq(lit(6)),
            CalendarField::Month => d.month(),
            CalendarField::DayOfMonth => d.day(),
            CalendarField::DayOfYear => d.ordinal_day(),
            CalendarField::WeekOfYear => d.week(),
        };
        e.cast(DataType::Int64).alias(f.name())
    };
    let table = frame
        .select(c.fields.iter().map(|&f| field(f)).collect::<Vec<_>>())
        .collect()
        .map_err(polars_error)?;
    c.fields
        .iter()
        .map(|f| {
            let s = table.column(f.name()).map_err(polars_error)?.as_materialized_series().clone();
            let per_period: Vec<Option<i64>> = s.i64().map_err(polars_error)?.iter().collect();
            let at = |i: usize| per_period.get(period[i]).copied().flatten();
            Ok(match f.kind() {
                crate::spec::FeatureType::Numeric => {
                    Values::Numeric((0..period.len()).map(|i| at(i).map(|v| v as f64)).collect())
                }
                crate::spec::FeatureType::Categorical => {
                    Values::Categorical((0..period.len()).map(|i| at(i).map(|v| v.to_string())).collect())
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::parse_date;

    #[test]
    fn dates_count_days_from_the_unix_epoch() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2011-01-01"), Some(14_975));
        assert_eq!(parse_date("2000-03-01"), Some(11_017));
        assert_eq!(parse_date("2012-02-29"), Some(15_399));
        assert_eq!(parse_date("2011-02-29"), None);
        assert_eq!(parse_date("2011-13-01"), None);
        assert_eq!(parse_date("2011-1-01"), None);
    }
}
