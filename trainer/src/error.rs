//! The trainer's errors. Each names what was wrong (the column, the first offending rows, the
//! setting) and, where there is one, what to do about it.

use std::fmt;

/// Up to this many row numbers are quoted in an error.
pub const ROWS_QUOTED: usize = 5;

/// Row numbers quoted in a message: "rows 3, 9 and 12" or "rows 3, 9, 12, 15, 20 and 6 more".
/// Rows are 1-based data rows: row 1 is the first row after a CSV header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rows {
    /// The first few offending rows (1-based).
    pub first: Vec<usize>,
    /// How many rows offend in all.
    pub total: usize,
}

impl Rows {
    /// Collects row numbers (1-based) from an iterator of 0-based indices.
    pub fn from_indices(indices: impl IntoIterator<Item = usize>) -> Rows {
        let mut first = Vec::new();
        let mut total = 0;
        for i in indices {
            if first.len() < ROWS_QUOTED {
                first.push(i + 1);
            }
            total += 1;
        }
        Rows { first, total }
    }
}

impl fmt::Display for Rows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = self.first.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(", ");
        let word = if self.total == 1 { "row" } else { "rows" };
        if self.total > self.first.len() {
            write!(f, "{word} {list} and {} more", self.total - self.first.len())
        } else {
            write!(f, "{word} {list}")
        }
    }
}

/// Why a dataset could not be used or a model not trained.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The dataset spec itself is malformed or inconsistent.
    #[error("dataset spec: {0}")]
    Spec(String),
    /// The data file could not be read.
    #[error("cannot read `{path}`: {message}")]
    Read {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// Columns the spec names are not in the file.
    #[error("missing column{}: {}", if .0.len() == 1 { "" } else { "s" }, .0.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", "))]
    MissingColumns(Vec<String>),
    /// A column's storage type cannot hold what the spec declares.
    #[error("column `{column}` is declared {declared} but holds {found} (e.g. row {row}: {example:?})")]
    WrongType {
        /// The column.
        column: String,
        /// What the spec declares.
        declared: String,
        /// What the file holds.
        found: String,
        /// First row with such a value (1-based).
        row: usize,
        /// That value.
        example: String,
    },
    /// Some values of a numeric column do not parse as numbers.
    #[error("column `{column}`: {rows} cannot be read as numbers (e.g. {example:?})")]
    Unparseable {
        /// The column.
        column: String,
        /// The offending rows.
        rows: Rows,
        /// The first offending value.
        example: String,
    },
    /// Some numeric values are NaN or infinite.
    #[error("column `{column}`: {rows} are not finite numbers (NaN or infinity)")]
    NotFinite {
        /// The column.
        column: String,
        /// The offending rows.
        rows: Rows,
    },
    /// The target has empty cells; a label cannot be imputed.
    #[error("target `{column}` is empty in {rows}; a row without a label cannot be trained on or scored (remove those rows from the file)")]
    EmptyTarget {
        /// The target column.
        column: String,
        /// The empty rows.
        rows: Rows,
    },
    /// The target holds a value that is neither the positive nor the negative label.
    #[error("{0}")]
    UnknownLabel(Box<UnknownLabel>),
    /// The target has only one class where two are needed.
    #[error("target `{column}` has a single class ({class:?}) in {scope}; a classifier needs both classes")]
    SingleClass {
        /// The target column.
        column: String,
        /// The only class present.
        class: String,
        /// Where: "the file", "the training split", ...
        scope: String,
    },
    /// A feature has no values at all.
    #[error("feature `{column}` is empty in every row; drop it from the spec")]
    AllNull {
        /// The column.
        column: String,
    },
    /// A feature has empty cells and the spec's missing-value policy is `refuse`.
    #[error("column `{column}` is empty in {rows}; set `\"missing\": \"drop_rows\"` or `\"impute\"` in the spec to decide how they are handled")]
    Missing {
        /// The column.
        column: String,
        /// The empty rows.
        rows: Rows,
    },
    /// The leakage guard refused a feature or routing column.
    #[error("leakage guard: `{column}` {reason}; remove it from the {role}")]
    Leakage {
        /// The column.
        column: String,
        /// Why: declared target-derived, separates the classes perfectly, ...
        reason: String,
        /// "features" or "segment column".
        role: String,
    },
    /// Too little data to do what was asked.
    #[error("{0}")]
    TooLittleData(String),
    /// The solver failed.
    #[error("the logistic solver failed: {0}")]
    Solver(String),
    /// A model artifact could not be written, read or trusted.
    #[error("artifact: {0}")]
    Artifact(String),
}

impl TrainError {
    /// Whether the error is about the caller's input (as opposed to the machine).
    pub fn is_input(&self) -> bool {
        !matches!(self, TrainError::Solver(_))
            && !matches!(self, TrainError::Artifact(m) if m.starts_with("cannot write"))
    }
}

/// A target value that is neither label.
#[derive(Debug)]
pub struct UnknownLabel {
    /// The target column.
    pub column: String,
    /// The surprising value.
    pub value: String,
    /// The rows holding it.
    pub rows: Rows,
    /// The positive label.
    pub positive: String,
    /// The negative label.
    pub negative: String,
}

impl fmt::Display for UnknownLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "target `{}` holds {:?} in {}, which is neither the positive label {:?} nor the negative label {:?}",
            self.column, self.value, self.rows, self.positive, self.negative
        )
    }
}
