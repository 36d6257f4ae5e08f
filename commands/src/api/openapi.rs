//! The OpenAPI 3.1 document of the API, kept in `schemas/openapi.json` and served at
//! `/api/v1/openapi.json`. Its component schemas for the read answers are generated from the
//! answer types of `app::query` ([`with_answer_schemas`]); tests check that the committed
//! document is current and that it and the router agree route for route.

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// The document's text, as committed.
pub const TEXT: &str = include_str!("../../../schemas/openapi.json");

/// The document.
pub fn document() -> serde_json::Value {
    serde_json::from_str(TEXT).expect("schemas/openapi.json is JSON (checked by the tests)")
}

/// Rewrites a schemars schema for OpenAPI: its `$defs` become component schemas (collected in
/// `defs`) and references to them point there.
fn hoist(mut schema: Value, defs: &mut BTreeMap<String, Value>) -> Result<Value, String> {
    fn rewrite(v: &mut Value) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get_mut("$ref") {
                    if let Some(name) = r.strip_prefix("#/$defs/") {
                        *r = format!("#/components/schemas/{name}");
                    }
                }
                m.values_mut().for_each(rewrite);
            }
            Value::Array(a) => a.iter_mut().for_each(rewrite),
            _ => {}
        }
    }
    if let Some(Value::Object(found)) = schema.as_object_mut().and_then(|m| m.remove("$defs")) {
        for (name, mut def) in found {
            rewrite(&mut def);
            match defs.get(&name) {
                Some(existing) if *existing != def => {
                    return Err(format!("two different schemas are both named `{name}`"))
                }
                _ => {
                    defs.insert(name, def);
                }
            }
        }
    }
    if let Some(m) = schema.as_object_mut() {
        m.remove("$schema");
    }
    rewrite(&mut schema);
    Ok(schema)
}

/// `doc` with the component schemas of every answer, and each route's `200` response
/// referring to its answer's schema.
pub fn with_answer_schemas(mut doc: Value) -> Result<Value, String> {
    let mut defs = BTreeMap::new();
    let mut answers = BTreeMap::new();
    for (name, schema, routes) in crate::app::query::answer_schemas() {
        answers.insert(name.to_string(), hoist(schema, &mut defs)?);
        for route in routes {
            // `post /path` for a write's answer, else a `GET`.
            let (method, route) = route.split_once(' ').unwrap_or(("get", route));
            let ok = doc
                .pointer_mut(&format!(
                    "/paths/{}/{method}/responses/200",
                    route.replace('~', "~0").replace('/', "~1")
                ))
                .ok_or_else(|| format!("the document has no `{method} {route}` with a 200 response"))?;
            *ok = json!({"description": format!("`{name}`"),
                "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{name}")}}}});
        }
    }
    let schemas = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
        .ok_or("the document has no `components.schemas`")?;
    for (name, schema) in defs.into_iter().chain(answers) {
        schemas.insert(name, schema);
    }
    Ok(doc)
}
