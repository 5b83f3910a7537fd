//! The OpenAPI document's last pass: the answers that every operation of a kind can give, whatever its
//! handler, documented once here instead of in each handler's annotation.
//!
//! - Every error answer of the API is `application/problem+json` with [`ProblemBody`] (OFREP's answers keep
//!   the protocol's own failure shape, as `application/json`).
//! - An operation that needs a credential can answer 401; one that not every credential may call, 403.
//! - An operation with a JSON body can answer 400 (not a JSON object of the documented shape), 413 (over
//!   `--max-body-bytes`) and 415 (not `Content-Type: application/json`).
//! - An operation with path parameters can answer 404 (and 400 when a numeric one does not parse); one with
//!   query parameters or an `If-Match` header, 400.
//! - A body that follows the document can still break a rule the document cannot state (a rule naming a
//!   variant the flag lacks, weights that do not add up, control characters): 422, each problem with its path.
//! - A request body is a JSON object, never `null`; `If-Match` names a version; times are RFC 3339.
//!
//! [`ProblemBody`]: crate::http::error::ProblemBody

use serde_json::Value;
use utoipa::openapi::Required;
use utoipa::openapi::path::{Operation, Parameter, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response};

const PROBLEM_TYPE: &str = "application/problem+json";

/// Completes the document generated from the handlers.
pub fn complete(mut doc: OpenApi) -> OpenApi {
    for (path, item) in &mut doc.paths.paths {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            complete_operation(path, operation);
        }
    }
    if let Some(components) = &mut doc.components {
        open_flattened(&mut components.schemas);
        close_tagged(&mut components.schemas);
    }
    doc
}

/// An externally tagged enum (`{"variant": ...}` or `{"split": ...}`) is one of objects with a single required
/// property; serde refuses any other field beside the tag, so the document does too.
fn close_tagged(schemas: &mut std::collections::BTreeMap<String, RefOr<Schema>>) {
    for schema in schemas.values_mut() {
        let RefOr::T(Schema::OneOf(one_of)) = schema else { continue };
        for item in &mut one_of.items {
            if let RefOr::T(Schema::Object(object)) = item
                && object.properties.len() == 1
                && object.required.len() == 1
            {
                object.additional_properties =
                    Some(Box::new(utoipa::openapi::schema::AdditionalProperties::FreeForm(false)));
            }
        }
    }
}

/// A type that refuses unknown fields (`additionalProperties: false`) and is flattened into another answer
/// (an `allOf` of the two) would refuse the other's fields in the document: such a part is left open. So is
/// one that is a variant of an internally tagged enum (an `allOf` of it and the tag, inside a `oneOf`).
fn open_flattened(schemas: &mut std::collections::BTreeMap<String, RefOr<Schema>>) {
    let flattened: Vec<String> = schemas
        .values()
        .flat_map(all_ofs)
        .flat_map(|all| all.items.iter())
        .filter_map(|item| match item {
            RefOr::Ref(r) => r.ref_location.rsplit('/').next().map(str::to_owned),
            RefOr::T(_) => None,
        })
        .collect();
    for name in flattened {
        if let Some(RefOr::T(Schema::Object(object))) = schemas.get_mut(&name) {
            object.additional_properties = None;
        }
    }
}

/// The `allOf`s a schema is, or that are variants of it.
fn all_ofs(schema: &RefOr<Schema>) -> Vec<&utoipa::openapi::schema::AllOf> {
    match schema {
        RefOr::T(Schema::AllOf(all)) => vec![all],
        RefOr::T(Schema::OneOf(one)) => one
            .items
            .iter()
            .filter_map(|item| match item {
                RefOr::T(Schema::AllOf(all)) => Some(all),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn content(schema: &str) -> RefOr<Content> {
    RefOr::T(Content::new(Some(Ref::from_schema_name(schema))))
}

fn complete_operation(path: &str, operation: &mut Operation) {
    let ofrep = path.starts_with("/ofrep/");
    let requirements: Vec<Value> =
        operation.security.iter().flatten().map(|r| serde_json::to_value(r).unwrap_or_default()).collect();
    let secured = !requirements.is_empty() && requirements.iter().all(|r| r.as_object().is_some_and(|r| !r.is_empty()));
    // Every credential may call what a client key may; no other operation is open to all of them.
    let open_to_all =
        requirements.iter().any(|r| r["sdk_key"].as_array().is_some_and(|s| s.iter().any(|s| s == "client")));
    let has_body = operation.request_body.is_some();
    let parameters: Vec<_> = operation
        .parameters
        .iter()
        .flatten()
        .filter_map(|p| match p {
            RefOr::T(p) => Some(p),
            RefOr::Ref(_) => None,
        })
        .collect();
    let in_path = |p: &&&utoipa::openapi::path::Parameter| matches!(p.parameter_in, ParameterIn::Path);
    let numeric_path = parameters
        .iter()
        .filter(in_path)
        .any(|p| p.schema.as_ref().and_then(|s| serde_json::to_value(s).ok()).is_some_and(|s| s["type"] == "integer"));
    let has_path = parameters.iter().any(|p| matches!(p.parameter_in, ParameterIn::Path));
    let has_query = parameters.iter().any(|p| matches!(p.parameter_in, ParameterIn::Query));
    let if_match = parameters
        .iter()
        .any(|p| matches!(p.parameter_in, ParameterIn::Header) && p.name.eq_ignore_ascii_case("if-match"));

    let mut added: Vec<(&str, &str)> = Vec::new();
    if secured {
        added.push(("401", "No valid credential"));
        if !open_to_all {
            added.push(("403", "The credential's role or kind may not do this"));
        }
    }
    if has_body {
        added.push(("400", "The body is not a JSON object of the documented shape"));
        added.push(("413", "The body is larger than `--max-body-bytes`"));
        added.push(("415", "The body is not `Content-Type: application/json`"));
        added.push(("422", "The body breaks a rule; each problem with its path"));
    }
    if has_path {
        added.push(("404", "Not found"));
    }
    if numeric_path || has_query || if_match {
        added.push(("400", "A parameter is malformed"));
    }
    if parameters.iter().any(|p| p.name == "cursor") {
        added.push(("422", "The cursor follows the pattern but is not one this server gave out"));
    }

    constrain_inputs(ofrep, operation);

    let responses = &mut operation.responses.responses;
    for (status, description) in added {
        if ofrep {
            // OFREP answers in its own failure shape; its 400 and 401 are documented by the handlers.
            if status == "413" {
                let mut response = Response::new(description);
                response.content.insert("application/json".into(), content("OfrepFailure"));
                responses.entry(status.into()).or_insert(RefOr::T(response));
            }
            continue;
        }
        responses.entry(status.into()).or_insert_with(|| RefOr::T(Response::new(description)));
    }
    if ofrep {
        return;
    }
    for (status, response) in responses.iter_mut() {
        let Ok(code) = status.parse::<u16>() else { continue };
        let RefOr::T(response) = response else { continue };
        if response.description.is_empty() {
            let reason = axum::http::StatusCode::from_u16(code).ok().and_then(|s| s.canonical_reason());
            reason.unwrap_or("Error").clone_into(&mut response.description);
        }
        if code >= 400 {
            response.content.clear();
            response.content.insert(PROBLEM_TYPE.into(), content("ProblemBody"));
        }
    }
}

/// The inputs' rules: bodies are objects (OFREP's optional), parameters as [`constrain_parameter`] says,
/// `If-Match` a version.
fn constrain_inputs(ofrep: bool, operation: &mut Operation) {
    if let Some(RefOr::T(body)) = &mut operation.request_body {
        for content in body.content.values_mut() {
            if let RefOr::T(content) = content {
                without_null(&mut content.schema);
            }
        }
    }
    if ofrep && let Some(RefOr::T(body)) = &mut operation.request_body {
        // OFREP's body is optional: no body is an empty context.
        body.required = Some(Required::False);
    }
    for parameter in operation.parameters.iter_mut().flatten() {
        if let RefOr::T(parameter) = parameter {
            constrain_parameter(parameter);
        }
    }
    for parameter in operation.parameters.iter_mut().flatten() {
        if let RefOr::T(parameter) = parameter
            && parameter.name.eq_ignore_ascii_case("if-match")
        {
            parameter.schema = Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^(W/)?\"?[0-9]{1,19}\"?$"))
                    .description(Some("A version, as `ETag` gives it: `\"7\"`"))
                    .into(),
            );
        }
    }
}

/// Path keys are slugs; a cursor is pairs of hex digits; no text parameter may hold a control character
/// (the server answers 404 for such a path and 400 for such a query).
fn constrain_parameter(parameter: &mut Parameter) {
    let Some(RefOr::T(Schema::Object(schema))) = &mut parameter.schema else { return };
    let is_text = serde_json::to_value(&schema.schema_type).is_ok_and(|t| t == "string");
    if !is_text || schema.pattern.is_some() {
        return;
    }
    let slug = matches!(parameter.parameter_in, ParameterIn::Path)
        && matches!(parameter.name.as_str(), "flag" | "env" | "segment" | "key" | "rule_id");
    if slug {
        schema.pattern = Some("^[a-z0-9][a-z0-9_.-]*$".into());
        schema.max_length = Some(pennon_engine::MAX_KEY_LEN);
    } else if parameter.name == "cursor" {
        schema.pattern = Some(crate::api::common::CURSOR_PATTERN.into());
    } else if matches!(parameter.parameter_in, ParameterIn::Path | ParameterIn::Query) {
        schema.pattern = Some("^[^\\x00-\\x1f\\x7f]*$".into());
    }
}

/// A request body schema of `T` or `null` (an optional body) is `T`: a body, when sent, is an object.
fn without_null(schema: &mut Option<RefOr<Schema>>) {
    let Some(RefOr::T(Schema::OneOf(one_of))) = schema else { return };
    let items: Vec<_> = one_of
        .items
        .iter()
        .filter(|item| !matches!(item, RefOr::T(Schema::Object(o)) if serde_json::to_value(o).is_ok_and(|v| v["type"] == "null")))
        .cloned()
        .collect();
    if let [only] = items.as_slice() {
        *schema = Some(only.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operation(doc: &Value, path: &str, method: &str) -> Value {
        doc["paths"][path][method].clone()
    }

    #[test]
    fn errors_are_problems_and_the_usual_answers_are_documented() {
        let doc = serde_json::to_value(crate::http::router::openapi()).unwrap();
        let create = operation(&doc, "/api/v1/flags", "post");
        for status in ["400", "401", "403", "409", "413", "415", "422"] {
            let content = &create["responses"][status]["content"];
            assert!(content[PROBLEM_TYPE]["schema"]["$ref"].is_string(), "POST /flags {status}: {create}");
            assert!(content.get("application/json").is_none());
        }
        let get = operation(&doc, "/api/v1/flags/{flag}", "get");
        assert!(get["responses"]["404"].is_object() && get["responses"]["401"].is_object());
        assert!(get["responses"].get("413").is_none(), "no body, no 413");
        let evaluate = operation(&doc, "/api/v1/evaluate", "post");
        assert!(evaluate["responses"].get("403").is_none(), "every credential may evaluate");
        let ofrep = operation(&doc, "/ofrep/v1/evaluate/flags/{key}", "post");
        assert!(ofrep["responses"]["404"]["content"]["application/json"].is_object(), "OFREP keeps its shape");
    }
}
