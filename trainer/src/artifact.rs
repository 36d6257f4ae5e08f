//! Model artifacts: one fitted model (pipeline + coefficients) with the spec, parameters and
//! digests that made it, stored as JSON in a file named by the blake3 digest of its bytes.
//!
//! The bytes are `serde_json`'s compact form of [`Artifact`] (fields in declaration order,
//! floats in shortest round-trip form), so the same data, spec and parameters give the same
//! bytes and the same digest on every run. Loading re-hashes the file and refuses a mismatch.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::Table;
use crate::error::TrainError;
use crate::features::Pipeline;
use crate::metrics::Scored;
use crate::model::Fitted;
use crate::spec::{DatasetSpec, TrainParams};

/// The artifact format tag (v2: any model family, prediction intervals; v1 held only
/// logistic coefficients and is not read).
pub const FORMAT: &str = "pledge.model.v2";

/// A regression model's prediction interval: `prediction + lower ..= prediction + upper`,
/// the training residuals' `(1 - level)/2` and `(1 + level)/2` quantiles (linear
/// interpolation between order statistics, numpy's default).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interval {
    /// The central share of residuals covered (0.8).
    pub level: f64,
    /// Lower residual quantile (usually negative).
    pub lower: f64,
    /// Upper residual quantile.
    pub upper: f64,
}

impl Interval {
    /// The interval of residuals `r` (actual minus prediction) at `level`.
    pub fn from_residuals(r: &[f64], level: f64) -> Option<Interval> {
        let mut v: Vec<f64> = r.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let q = |p: f64| {
            let h = (v.len() - 1) as f64 * p;
            let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
            v[lo] + (h - lo as f64) * (v[hi] - v[lo])
        };
        Some(Interval { level, lower: q((1.0 - level) / 2.0), upper: q((1.0 + level) / 2.0) })
    }
}

/// One fitted model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    /// Always [`FORMAT`].
    pub format: String,
    /// The segment this model serves (`None`: the global model).
    pub segment: Option<String>,
    /// The dataset spec.
    pub spec: DatasetSpec,
    /// The training parameters.
    pub params: TrainParams,
    /// blake3 of the training file.
    pub dataset_digest: String,
    /// Which rows it learnt from (`periods Jan..Mar`, `seeded split 42, 75%`).
    pub trained_on: String,
    /// Training rows.
    pub train_rows: usize,
    /// The fitted pipeline.
    pub pipeline: Pipeline,
    /// The fitted model.
    pub model: Fitted,
    /// Regression: the prediction interval.
    pub interval: Option<Interval>,
}

impl Artifact {
    /// The artifact's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an artifact always serialises")
    }

    /// blake3 of the bytes (64 lowercase hex characters).
    pub fn digest(&self) -> String {
        crate::data::digest_bytes(&self.to_bytes())
    }

    /// Scores every row of `table` with this model: probabilities or predictions, and the
    /// prediction intervals of a regression model.
    pub fn score(&self, table: &Table) -> Result<Scored, TrainError> {
        let value = self.model.predict(&self.pipeline.transform(table)?);
        let interval = self.interval.map(|iv| value.iter().map(|&p| (p + iv.lower, p + iv.upper)).collect());
        Ok(Scored { value, interval })
    }

    /// Writes the artifact to `dir/<hex>.json` (atomically; an existing identical file is kept).
    /// Returns its digest, its path, and whether this call created the file.
    pub fn save(&self, dir: &Path) -> Result<(String, PathBuf, bool), TrainError> {
        let bytes = self.to_bytes();
        let digest = crate::data::digest_bytes(&bytes);
        let path = path_of(dir, &digest)?;
        let cannot =
            |e: std::io::Error| TrainError::Artifact(format!("cannot write {}: {e}", path.display()));
        if path.exists() {
            return Ok((digest, path, false));
        }
        std::fs::create_dir_all(dir).map_err(cannot)?;
        let tmp = dir.join(format!(".{}.tmp", &digest));
        std::fs::write(&tmp, &bytes).map_err(cannot)?;
        std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(cannot)?;
        std::fs::rename(&tmp, &path).map_err(cannot)?;
        Ok((digest, path, true))
    }

    /// Loads the artifact with `digest` from `dir`, checking its bytes hash to the digest.
    pub fn load(dir: &Path, digest: &str) -> Result<Artifact, TrainError> {
        let path = path_of(dir, digest)?;
        let bytes = std::fs::read(&path).map_err(|e| {
            TrainError::Artifact(format!(
                "cannot read {} ({e}); artifacts live in the ledger's `artifacts` directory",
                path.display()
            ))
        })?;
        let actual = crate::data::digest_bytes(&bytes);
        if actual != digest {
            return Err(TrainError::Artifact(format!(
                "{} is damaged: its bytes hash to {actual}, not {digest}",
                path.display()
            )));
        }
        let a: Artifact = serde_json::from_slice(&bytes)
            .map_err(|e| TrainError::Artifact(format!("{} is not a model artifact: {e}", path.display())))?;
        if a.format != FORMAT {
            return Err(TrainError::Artifact(format!("unknown artifact format `{}`", a.format)));
        }
        Ok(a)
    }
}

fn path_of(dir: &Path, digest: &str) -> Result<PathBuf, TrainError> {
    let hex = digest
        .get(..)
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
        .ok_or_else(|| {
            TrainError::Artifact(format!("`{digest}` is not a blake3 digest (64 lowercase hex characters)"))
        })?;
    Ok(dir.join(format!("{hex}.json")))
}

/// A candidate: the global model and, for a segmented router, the segment models.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The global model (every row a segment model does not take).
    pub global: Artifact,
    /// Segment models by segment.
    pub segments: BTreeMap<String, Artifact>,
    /// Segments without their own model, and why.
    pub skipped: BTreeMap<String, String>,
}

impl Candidate {
    /// Scores `table`, routing each row to its segment's model if there is one (segment_only).
    pub fn score(&self, table: &Table) -> Result<Scored, TrainError> {
        let mut out = self.global.score(table)?;
        if let (Some(seg), false) = (&table.segment, self.segments.is_empty()) {
            for (name, model) in &self.segments {
                let rows: Vec<usize> = (0..table.len()).filter(|&i| &seg[i] == name).collect();
                if rows.is_empty() {
                    continue;
                }
                let p = model.score(&table.select(&rows))?;
                for (k, &i) in rows.iter().enumerate() {
                    out.value[i] = p.value[k];
                    if let (Some(o), Some(s)) = (out.interval.as_mut(), p.interval.as_ref()) {
                        o[i] = s[k];
                    }
                }
            }
        }
        Ok(out)
    }

    /// Every artifact: the global one first, then segments in order.
    pub fn artifacts(&self) -> impl Iterator<Item = &Artifact> {
        std::iter::once(&self.global).chain(self.segments.values())
    }
}
