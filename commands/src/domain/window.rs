//! Window bounds (backtests, shadow windows): a timestamp, an ISO calendar period, or a period
//! label the run declared (the dataset spec's time axis, e.g. `Jan`..`Apr`). Anything else,
//! and a window that ends before it starts, is refused.

use chrono::{DateTime, Datelike, NaiveDate, Utc};

/// A parsed bound: where it falls, comparable with bounds of the same family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Bound {
    /// A timestamp or ISO period, as its first instant in microseconds since the epoch.
    Instant(i64),
    /// The i-th declared period.
    Declared(usize),
}

const FORMS: &str = "a timestamp (2026-02-11T00:00:00Z), a date (2026-02-11), an ISO period (2026, 2026-02, 2026-W07, 2026-Q1)";

fn first_instant(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0).map_or(0, |t| t.and_utc().timestamp_micros())
}

fn iso(s: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc).timestamp_micros());
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(first_instant(d));
    }
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let year = |t: &str| (t.len() == 4 && digits(t)).then(|| t.parse::<i32>().ok()).flatten();
    match s.split_once('-') {
        None => year(s).and_then(|y| NaiveDate::from_ymd_opt(y, 1, 1)).map(first_instant),
        Some((y, rest)) => {
            let y = year(y)?;
            if let Some(w) = rest.strip_prefix('W') {
                let w: u32 = (w.len() == 2 && digits(w)).then(|| w.parse().ok()).flatten()?;
                NaiveDate::from_isoywd_opt(y, w, chrono::Weekday::Mon).map(first_instant)
            } else if let Some(q) = rest.strip_prefix('Q') {
                let q: u32 = (q.len() == 1 && digits(q)).then(|| q.parse().ok()).flatten()?;
                (1..=4)
                    .contains(&q)
                    .then(|| NaiveDate::from_ymd_opt(y, 3 * q - 2, 1))
                    .flatten()
                    .map(first_instant)
            } else {
                let m: u32 = (rest.len() == 2 && digits(rest)).then(|| rest.parse().ok()).flatten()?;
                NaiveDate::from_ymd_opt(y, m, 1).filter(|d| d.month() == m).map(first_instant)
            }
        }
    }
}

/// Parses one bound. `declared` is the run's ordered period labels (may be empty).
pub fn parse(field: &str, s: &str, declared: &[String]) -> Result<Bound, String> {
    if let Some(i) = declared.iter().position(|p| p == s) {
        return Ok(Bound::Declared(i));
    }
    if let Some(t) = iso(s) {
        return Ok(Bound::Instant(t));
    }
    let labels = if declared.is_empty() {
        String::new()
    } else {
        format!(", or one of the run's declared periods ({})", declared.join(", "))
    };
    Err(format!("`{field}` = `{s}` is not {FORMS}{labels}"))
}

/// Where a window bound falls, for ordering windows in time: a declared period by its place
/// in `declared` (the run's periods), a timestamp or ISO period by its instant; a label that is
/// neither comes after both, by its text.
pub fn order_key(s: &str, declared: &[String]) -> (bool, Option<Bound>, String) {
    let b = parse("window", s, declared).ok();
    (b.is_none(), b, s.to_string())
}

/// Checks a window: both bounds parse, are of the same family, and it does not end before it
/// starts.
pub fn check(start: &str, end: &str, declared: &[String]) -> Result<(), String> {
    let a = parse("window_start", start, declared)?;
    let b = parse("window_end", end, declared)?;
    let ordered = match (a, b) {
        (Bound::Instant(x), Bound::Instant(y)) => x <= y,
        (Bound::Declared(x), Bound::Declared(y)) => x <= y,
        _ => {
            return Err(format!(
                "window `{start}`..`{end}` mixes a declared period and a calendar time; use one kind for both bounds"
            ))
        }
    };
    if ordered {
        Ok(())
    } else {
        Err(format!("window `{start}`..`{end}` ends before it starts"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_order_by_when_they_fall_not_by_their_labels() {
        let months: Vec<String> = ["Jan", "Feb", "Mar", "Apr"].iter().map(|s| s.to_string()).collect();
        let mut labels = vec!["Apr", "Feb", "Jan", "Mar"];
        labels.sort_by_key(|l| order_key(l, &months));
        assert_eq!(labels, ["Jan", "Feb", "Mar", "Apr"]);
        let days: Vec<String> = (1..=200).map(|d| d.to_string()).collect();
        let mut labels = vec!["100", "99", "7", "150"];
        labels.sort_by_key(|l| order_key(l, &days));
        assert_eq!(labels, ["7", "99", "100", "150"]);
        let mut labels = vec!["2026-W07", "zzz", "2026-02-01", "2025-12-31T23:00:00Z"];
        labels.sort_by_key(|l| order_key(l, &[]));
        assert_eq!(labels, ["2025-12-31T23:00:00Z", "2026-02-01", "2026-W07", "zzz"]);
    }

    #[test]
    fn timestamps_dates_iso_periods_and_declared_labels_are_bounds() {
        let none: Vec<String> = vec![];
        for ok in ["2026-02-11", "2026-02-11T00:00:00Z", "2026-02", "2026-W07", "2026-Q1", "2026"] {
            assert!(parse("window_start", ok, &none).is_ok(), "{ok}");
        }
        for bad in ["banana", "2026-13", "2026-W54", "2026-Q5", "26-01", "2026-02-30", ""] {
            let e = parse("window_start", bad, &none).unwrap_err();
            assert!(e.contains(&format!("`{bad}`")), "{e}");
        }
        let months: Vec<String> = ["Jan", "Feb", "Mar"].map(String::from).to_vec();
        assert!(check("Jan", "Feb", &months).is_ok());
        assert!(check("Feb", "Jan", &months).unwrap_err().contains("ends before it starts"));
        assert!(check("Jan", "2026-02", &months).unwrap_err().contains("mixes"));
        assert!(check("banana", "2020-01-01", &none).unwrap_err().contains("`banana`"));
        assert!(check("2026-03-01", "2026-02-28", &none).unwrap_err().contains("ends before"));
        assert!(check("2026-Q1", "2026-03", &none).is_ok());
    }
}
