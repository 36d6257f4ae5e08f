//! What Pledge knows of metric names: which way each improves and which values it can take.
//! Every metric value that enters the ledger is checked against its metric's domain; a metric
//! not listed here may hold any finite number, and its direction comes from the policy.

use projections::events::Direction;

/// The values a metric can take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Range {
    /// Any finite number.
    Any,
    /// Zero or more (errors, losses, counts).
    NonNegative,
    /// From 0 to 1 (AUC, accuracy, rates, coverage).
    Unit,
}

/// A known metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricInfo {
    /// Which way it improves (`None`: neither, e.g. a positive rate).
    pub direction: Option<Direction>,
    /// Its values.
    pub range: Range,
}

const LOWER: Option<Direction> = Some(Direction::Lower);
const HIGHER: Option<Direction> = Some(Direction::Higher);

/// The known metrics: scikit-learn's and the forecasting literature's names.
pub const KNOWN: &[(&str, MetricInfo)] = &[
    ("mae", MetricInfo { direction: LOWER, range: Range::NonNegative }),
    ("mse", MetricInfo { direction: LOWER, range: Range::NonNegative }),
    ("rmse", MetricInfo { direction: LOWER, range: Range::NonNegative }),
    ("mape", MetricInfo { direction: LOWER, range: Range::NonNegative }),
    ("smape", MetricInfo { direction: LOWER, range: Range::NonNegative }),
    ("wape", MetricInfo { direction: LOWER, range: Range::NonNegative }),
    ("mase", MetricInfo { direction: LOWER, range: Range::NonNegative }),
    ("medae", MetricInfo { direction: LOWER, range: Range::NonNegative }),
    ("pinball_loss", MetricInfo { direction: LOWER, range: Range::NonNegative }),
    ("crps", MetricInfo { direction: LOWER, range: Range::NonNegative }),
    ("log_loss", MetricInfo { direction: LOWER, range: Range::NonNegative }),
    ("brier", MetricInfo { direction: LOWER, range: Range::Unit }),
    ("ece", MetricInfo { direction: LOWER, range: Range::Unit }),
    ("roc_auc", MetricInfo { direction: HIGHER, range: Range::Unit }),
    ("auc", MetricInfo { direction: HIGHER, range: Range::Unit }),
    ("pr_auc", MetricInfo { direction: HIGHER, range: Range::Unit }),
    ("average_precision", MetricInfo { direction: HIGHER, range: Range::Unit }),
    ("accuracy", MetricInfo { direction: HIGHER, range: Range::Unit }),
    ("balanced_accuracy", MetricInfo { direction: HIGHER, range: Range::Unit }),
    ("precision", MetricInfo { direction: HIGHER, range: Range::Unit }),
    ("recall", MetricInfo { direction: HIGHER, range: Range::Unit }),
    ("specificity", MetricInfo { direction: HIGHER, range: Range::Unit }),
    ("f1", MetricInfo { direction: HIGHER, range: Range::Unit }),
    ("coverage", MetricInfo { direction: HIGHER, range: Range::Unit }),
    ("r2", MetricInfo { direction: HIGHER, range: Range::Any }),
    ("positive_rate", MetricInfo { direction: None, range: Range::Unit }),
    ("predicted_positive_rate", MetricInfo { direction: None, range: Range::Unit }),
    ("rows", MetricInfo { direction: None, range: Range::NonNegative }),
    ("positives", MetricInfo { direction: None, range: Range::NonNegative }),
    ("samples", MetricInfo { direction: None, range: Range::NonNegative }),
];

/// What is known of `name`.
pub fn info(name: &str) -> Option<MetricInfo> {
    KNOWN.iter().find(|(n, _)| *n == name).map(|(_, i)| *i)
}

/// Checks one value against its metric's domain.
pub fn check_value(name: &str, value: f64) -> Result<(), String> {
    if !value.is_finite() {
        return Err(format!("metric `{name}` is {value}, not a finite number"));
    }
    match info(name).map(|i| i.range) {
        Some(Range::NonNegative) if value < 0.0 => {
            Err(format!("metric `{name}` is {value}; it is an error, loss or count and cannot be negative"))
        }
        Some(Range::Unit) if !(0.0..=1.0).contains(&value) => {
            Err(format!("metric `{name}` is {value}; it is a rate and lies between 0 and 1"))
        }
        _ => Ok(()),
    }
}

/// Checks every value of `metrics`; `what` names them in the message (`run`, `backtest`...).
pub fn check<'a, K: AsRef<str> + 'a>(
    what: &str,
    metrics: impl IntoIterator<Item = (K, &'a f64)>,
) -> Result<(), String> {
    for (name, value) in metrics {
        check_value(name.as_ref(), *value).map_err(|e| format!("{what} {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_non_negative_and_rates_lie_in_the_unit_interval() {
        assert!(check_value("mae", -0.1).unwrap_err().contains("cannot be negative"));
        assert!(check_value("roc_auc", 1.2).unwrap_err().contains("between 0 and 1"));
        assert!(check_value("coverage", -0.01).is_err());
        assert!(check_value("r2", -3.0).is_ok());
        assert!(check_value("my_custom_score", -42.0).is_ok());
        assert!(check_value("mae", f64::NAN).unwrap_err().contains("not a finite number"));
        assert!(check_value("mae", 0.0).is_ok() && check_value("accuracy", 1.0).is_ok());
    }
}
