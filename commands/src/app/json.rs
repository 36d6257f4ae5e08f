//! JSON as it enters Pledge (files, command bodies, specs, metrics, policies): refused with a
//! message naming the file and the member when it is not JSON, holds an object member twice
//! (which JSON parsers resolve differently: last wins here, first there), or an integer JSON
//! numbers cannot hold exactly.

use std::path::Path;

use serde::de::DeserializeOwned;

use super::failure::{Failure, INVALID_INPUT};

/// Refuses `text` (from `what`) unless it is unambiguous JSON.
pub fn check_unambiguous(text: &str, what: &str) -> Result<(), Failure> {
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map_err(|e| Failure::new(INVALID_INPUT, format!("{what} is not JSON: {e}")))?;
    ledger::canonical::check_unambiguous(text.as_bytes())
        .map_err(|e| Failure::new(INVALID_INPUT, format!("{what} is ambiguous JSON: {e}")))
}

/// Parses `text` (from `what`) as a `T`, naming the member at fault.
pub fn parse<T: DeserializeOwned>(text: &str, what: &str) -> Result<T, Failure> {
    check_unambiguous(text, what)?;
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let at = if path == "." { String::new() } else { format!(" at `{path}`") };
        Failure::new(INVALID_INPUT, format!("{what}{at}: {inner}"))
    })
}

/// Reads and parses the file at `path` (`what` says what it should be).
pub fn read_file<T: DeserializeOwned>(path: &Path, what: &str) -> Result<T, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::new(INVALID_INPUT, format!("cannot read {what} `{}`: {e}", path.display())))?;
    parse(&text, &format!("{what} `{}`", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_members_and_unsafe_integers_are_refused_naming_them() {
        let e = parse::<serde_json::Value>(r#"{"mae": 1, "mae": 2}"#, "metrics file `m.json`").unwrap_err();
        assert!(e.message.contains("`mae`") && e.message.contains("m.json"), "{}", e.message);
        assert!(parse::<serde_json::Value>("9007199254740993", "x").is_err());
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct S {
            a: Vec<u32>,
        }
        let e = parse::<S>(r#"{"a": [1, "two"]}"#, "file `s.json`").unwrap_err();
        assert!(e.message.contains("`a[1]`"), "{}", e.message);
    }
}
