//! The OpenAPI 3 document of the API, kept in `schemas/openapi.json` and served at
//! `/api/v1/openapi.json`; a test checks that it and the router agree route for route.

/// The document's text, as committed.
pub const TEXT: &str = include_str!("../../../schemas/openapi.json");

/// The document.
pub fn document() -> serde_json::Value {
    serde_json::from_str(TEXT).expect("schemas/openapi.json is JSON (checked by the tests)")
}
