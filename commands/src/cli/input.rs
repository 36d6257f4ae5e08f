//! What the command line reads: JSON files and arguments (strict: no member twice), metric
//! files, file digests, and the domain's enumerations as flag values.

use std::path::Path;

use projections::events::Metrics;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::app::failure::{Failure, INVALID_INPUT};
use crate::app::json;

/// A JSON file.
pub fn read_json(path: &Path, what: &str) -> Result<Value, Failure> {
    json::read_file(path, what)
}

/// A metrics file: an object from metric name to a finite number.
pub fn metrics_file(path: &Path) -> Result<Metrics, Failure> {
    let v = read_json(path, "metrics file")?;
    let obj = v.as_object().ok_or_else(|| {
        Failure::new(
            INVALID_INPUT,
            format!("metrics file `{}` must be an object of metric -> number", path.display()),
        )
    })?;
    obj.iter()
        .map(|(k, x)| {
            x.as_f64().filter(|f| f.is_finite()).map(|f| (k.clone(), f)).ok_or_else(|| {
                Failure::new(
                    INVALID_INPUT,
                    format!("metric `{k}` in `{}` is not a finite number", path.display()),
                )
            })
        })
        .collect()
}

/// blake3 of a file's bytes, hex.
pub fn file_digest(path: &Path, what: &str) -> Result<String, Failure> {
    let bytes = std::fs::read(path)
        .map_err(|e| Failure::new(INVALID_INPUT, format!("cannot read {what} `{}`: {e}", path.display())))?;
    Ok(ledger::Digest::of(&bytes).to_string())
}

/// A command body given as JSON or `@FILE`.
pub fn read_body(arg: &str) -> Result<Value, Failure> {
    match arg.strip_prefix('@') {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Failure::new(INVALID_INPUT, format!("cannot read `{path}`: {e}")))?;
            json::parse(&text, &format!("the body in `{path}`"))
        }
        None => json::parse(arg, "the body"),
    }
}

/// Parses a snake_case enumeration value (a task, a trigger, a decision...) for clap: the
/// error lists what it takes.
pub fn snake<T: DeserializeOwned + schemars::JsonSchema>(s: &str) -> Result<T, String> {
    serde_json::from_value(Value::String(s.to_string())).map_err(|_| {
        let schema = serde_json::to_value(schemars::schema_for!(T)).unwrap_or(Value::Null);
        let options: Vec<String> = schema["enum"]
            .as_array()
            .or_else(|| schema["oneOf"].as_array())
            .into_iter()
            .flatten()
            .filter_map(|v| {
                v.as_str().map(str::to_string).or_else(|| v["const"].as_str().map(str::to_string))
            })
            .collect();
        format!("`{s}` is not one of: {}", options.join(", "))
    })
}
