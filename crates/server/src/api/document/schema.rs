//! The JSON Schema of the document, cut from the OpenAPI document's components (one source for both).

use serde_json::{Map, Value, json};

/// The JSON Schema (2020-12) of the flags-as-code document: the `Document` schema of the OpenAPI document
/// and every schema it refers to, under `$defs`. Committed as `openapi/document.schema.json`.
pub fn document_schema() -> Value {
    let openapi = serde_json::to_value(crate::http::router::openapi()).expect("the OpenAPI document serializes");
    let schemas = openapi["components"]["schemas"].as_object().cloned().unwrap_or_default();
    let mut defs = Map::new();
    let mut pending = vec!["Document".to_owned()];
    while let Some(name) = pending.pop() {
        if defs.contains_key(&name) {
            continue;
        }
        let Some(schema) = schemas.get(&name) else { continue };
        let mut schema = schema.clone();
        rewrite_refs(&mut schema, &mut pending);
        defs.insert(name, schema);
    }
    defs.sort_keys();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Pennon flags-as-code document",
        "description": "What `pennon export` writes and `pennon apply` reads (JSON or YAML), version 1.",
        "$ref": "#/$defs/Document",
        "$defs": defs,
    })
}

/// Points `#/components/schemas/X` references at `#/$defs/X`, noting each `X` to include.
fn rewrite_refs(value: &mut Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get_mut("$ref")
                && let Some(name) = target.strip_prefix("#/components/schemas/")
            {
                found.push(name.to_owned());
                *target = format!("#/$defs/{name}");
            }
            map.values_mut().for_each(|v| rewrite_refs(v, found));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_refs(v, found)),
        _ => {}
    }
}
