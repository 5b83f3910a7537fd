//! The rules the API checks on text, as OpenAPI schemas: fields name them with `#[schema(value_type = ...)]`
//! so that the document states what the checks ([`super::common::check_key`], [`super::common::check_text`],
//! the name, description, tag, email and password checks) enforce.
//!
//! Patterns are ECMA-262 regular expressions; lengths count characters (code points), as the checks do.

use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::{KnownFormat, RefOr, SchemaFormat};
use utoipa::{PartialSchema, ToSchema};

/// Control characters: C0, DEL and C1 (what `char::is_control` answers true for).
const CONTROL: &str = "\\x00-\\x1f\\x7f-\\x9f";

fn text(description: &str, min: Option<usize>, max: usize, pattern: String) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .min_length(min)
        .max_length(Some(max))
        .pattern(Some(pattern))
        .into()
}

macro_rules! rule {
    ($name:ident, $doc:literal, $schema:expr) => {
        #[doc = $doc]
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                $schema
            }
        }

        impl ToSchema for $name {}
    };
}

rule!(
    Slug,
    "A key: lower-case letters, digits, `_`, `.` and `-`, starting with a letter or digit, at most 128 characters.",
    text(
        "A key: lower-case letters, digits, `_`, `.` and `-`, starting with a letter or digit.",
        Some(1),
        pennon_engine::MAX_KEY_LEN,
        "^[a-z0-9][a-z0-9_.-]*$".into()
    )
);

rule!(
    Name,
    "A display name: 1 to 200 characters, not only spaces, without control characters.",
    text(
        "1 to 200 characters, not only spaces, without control characters.",
        Some(1),
        200,
        format!("^[^{CONTROL}]*[^\\s{CONTROL}][^{CONTROL}]*$")
    )
);

rule!(
    Description,
    "Free text of at most 2000 characters; line breaks and tabs are the only control characters allowed.",
    text(
        "At most 2000 characters; line breaks and tabs are the only control characters allowed.",
        None,
        2000,
        "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]*$".into()
    )
);

rule!(
    Tag,
    "A tag: 1 to 128 characters without control characters.",
    text(
        "1 to 128 characters without control characters.",
        Some(1),
        pennon_engine::MAX_KEY_LEN,
        format!("^[^{CONTROL}]*$")
    )
);

rule!(
    Label,
    "A label (a token's or key's name): 1 to 200 characters, not only spaces, without control characters.",
    text(
        "1 to 200 characters, not only spaces, without control characters.",
        Some(1),
        200,
        format!("^[^{CONTROL}]*[^\\s{CONTROL}][^{CONTROL}]*$")
    )
);

rule!(
    Email,
    "An email address: something, `@`, a domain with a dot; no spaces or control characters; at most 254 characters.",
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("Something, `@`, a domain with a dot; no spaces or control characters."))
        .max_length(Some(254))
        .pattern(Some(format!("^[^@\\s{CONTROL}]+@[^\\s{CONTROL}]*\\.[^\\s{CONTROL}]*$")))
        .into()
);

rule!(
    Password,
    "A new password: 10 to 1024 characters.",
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("10 to 1024 characters."))
        .min_length(Some(crate::auth::passwords::MIN_PASSWORD_LEN))
        .max_length(Some(1024))
        .into()
);

rule!(
    Plain,
    "Text without control characters.",
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("Without control characters."))
        .pattern(Some(format!("^[^{CONTROL}]*$")))
        .into()
);

fn one_of_strings(description: &str, values: &[&str]) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(values.iter().copied()))
        .into()
}

rule!(GuardStatistic, "What a guard compares.", one_of_strings("`rate` or `mean`.", &["rate", "mean"]));

rule!(
    GuardDirection,
    "Which way of the metric is bad.",
    one_of_strings("`higher_is_worse` or `lower_is_worse`.", &["higher_is_worse", "lower_is_worse"])
);

rule!(GuardThreshold, "When a guard trips: `{\"absolute\": 0.02}` or `{\"relative\": 0.1}`.", {
    let arm = |name: &str, description: &str| {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(description))
            .property(
                name,
                ObjectBuilder::new()
                    .schema_type(Type::Number)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Double))),
            )
            .required(name)
            .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::FreeForm(false)))
    };
    OneOfBuilder::new()
        .item(arm("absolute", "The treatment's rate or mean must not pass this value."))
        .item(arm("relative", "The treatment must not be worse than the control by more than this fraction."))
        .into()
});

rule!(EvalContext, "Who is asking: `{\"key\": \"user-42\", \"attributes\": {\"plan\": \"pro\"}}`.", {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some("`key` and `attributes` (at most `--max-context-attributes` of them); nothing else."))
        .property(
            "key",
            ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::SchemaType::from_iter([Type::String, Type::Null])),
        )
        .property("attributes", ObjectBuilder::new().schema_type(Type::Object).max_properties(Some(256)))
        .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::FreeForm(false)))
        .into()
});
