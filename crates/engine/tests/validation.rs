//! Table tests for `validate_flag`, `validate_segment` and `validate_config`: every problem is reported, each
//! with the path of the offending field in the document's own names.

use pennon_engine::{
    CompiledSnapshot, Context, ErrorCode, Flag, FlagConfig, Problem, Reason, SLUG_RULE, Segment, Snapshot,
    validate_config, validate_flag, validate_segment,
};
use serde_json::{Value, json};

/// Compares problems with `(path, message)` pairs, in order. A message ending in `*` is a prefix (for texts
/// that come from a library, such as regex syntax errors).
fn assert_problems(case: &str, problems: &[Problem], expected: &[(&str, &str)]) {
    let matches = problems.len() == expected.len()
        && problems.iter().zip(expected).all(|(p, (path, message))| {
            p.path == *path
                && match message.strip_suffix('*') {
                    Some(prefix) => p.message.starts_with(prefix),
                    None => p.message == *message,
                }
        });
    assert!(
        matches,
        "{case}:\n  expected {expected:?}\n  got      {:?}",
        problems.iter().map(|p| (p.path.as_str(), p.message.as_str())).collect::<Vec<_>>()
    );
}

/// A JSON object with `patch`'s top-level fields put over `base`'s.
fn merged(base: Value, patch: &Value) -> Value {
    let mut base = base;
    let object = base.as_object_mut().expect("base is an object");
    for (k, v) in patch.as_object().expect("patch is an object") {
        object.insert(k.clone(), v.clone());
    }
    base
}

fn checkout() -> Flag {
    serde_json::from_value(json!({
        "key": "checkout", "kind": "boolean", "salt": "c4f3",
        "variants": [{ "key": "on", "value": true }, { "key": "off", "value": false }]
    }))
    .expect("flag")
}

/// A valid config of `checkout`; `patch` replaces top-level fields.
fn config(patch: &Value) -> FlagConfig {
    let base = json!({
        "flag": "checkout", "environment": "production", "version": 7, "enabled": true, "off_variant": "off",
        "targets": [{ "variant": "on", "keys": ["user-1", "user-2"] }],
        "rules": [{
            "id": "beta-testers",
            "conditions": [
                { "attribute": "plan", "operator": "in", "values": ["pro", "enterprise"] },
                { "attribute": "app_version", "operator": "semver_gte", "values": ["2.3.0"] },
                { "attribute": "email", "operator": "ends_with", "values": ["@example.com"], "negate": true }
            ],
            "segments": ["staff"],
            "serve": { "variant": "on" }
        }],
        "default": { "split": { "bucket_by": "key",
            "weights": [{ "variant": "on", "weight": 25000 }, { "variant": "off", "weight": 75000 }] } },
        "prerequisites": [{ "flag": "payments-v2", "variant": "on" }]
    });
    serde_json::from_value(merged(base, patch)).expect("config")
}

fn boolean_flag(key: &str, prerequisites: &Value) -> Value {
    json!({
        "definition": { "key": key, "kind": "boolean", "salt": key,
            "variants": [{ "key": "on", "value": true }, { "key": "off", "value": false }] },
        "config": { "flag": key, "environment": "production", "version": 1, "enabled": true, "off_variant": "off",
            "default": { "variant": "on" }, "prerequisites": prerequisites }
    })
}

/// The environment: segment `staff`; flags `payments-v2`, `billing` → `ledger` → `checkout` (stored config
/// without prerequisites).
fn env() -> Snapshot {
    serde_json::from_value(json!({
        "environment": "production", "revision": 40,
        "segments": [{ "key": "staff", "included": ["alice"] }],
        "flags": [
            boolean_flag("payments-v2", &json!([])),
            boolean_flag("billing", &json!([{ "flag": "ledger", "variant": "on" }])),
            boolean_flag("ledger", &json!([{ "flag": "checkout", "variant": "on" }])),
            boolean_flag("checkout", &json!([])),
        ]
    }))
    .expect("environment")
}

fn rules_with(third: &Value) -> Value {
    json!({ "rules": [
        { "id": "r0", "conditions": [{ "attribute": "plan", "operator": "eq", "values": ["pro"] }],
          "serve": { "variant": "on" } },
        { "id": "r1", "segments": ["staff"], "serve": { "variant": "off" } },
        third
    ]})
}

fn regex_rule(pattern: &str) -> Value {
    json!({ "rules": [{ "id": "staff", "conditions": [
        { "attribute": "plan", "operator": "eq", "values": ["pro"] },
        { "attribute": "email", "operator": "matches", "values": ["@example\\.com$", pattern] }
    ], "serve": { "variant": "on" } }]})
}

/// Expected `(path, message)` pairs, in order.
type Problems = Vec<(&'static str, &'static str)>;

/// (name, fields replaced in a valid document, expected problems)
type DocumentCase = (&'static str, Value, Problems);

/// (name, fields replaced in the valid config, expected problems, whether evaluation finds it malformed)
type ConfigCase = (&'static str, Value, Problems, bool);

#[allow(clippy::too_many_lines)] // one table
fn config_cases() -> Vec<ConfigCase> {
    vec![
        ("a valid config", json!({}), vec![], false),
        (
            "a valid config without rules, targets or prerequisites",
            json!({
                "targets": [], "rules": [], "prerequisites": [], "default": { "variant": "off" }
            }),
            vec![],
            false,
        ),
        (
            "weights of a rule's split not summing to 100000",
            rules_with(&json!({ "id": "r2", "serve": { "split": { "bucket_by": "key", "weights": [
                { "variant": "on", "weight": 49000 }, { "variant": "off", "weight": 50000 }] } } })),
            vec![("rules[2].serve.split.weights", "weights sum to 99000, not 100000")],
            true,
        ),
        (
            "weights above 100000, overflowing u32",
            json!({ "default": { "split": { "weights": [
                { "variant": "on", "weight": 4_294_967_295_u32 }, { "variant": "off", "weight": 1 }] } } }),
            vec![("default.split.weights", "weights sum to 4294967296, not 100000")],
            true,
        ),
        (
            "unknown variants everywhere a variant is named",
            json!({
                "off_variant": "maybe",
                "targets": [{ "variant": "gold", "keys": ["user-1"] }],
                "rules": [{ "id": "r0", "serve": { "variant": "nope" } }],
                "default": { "split": { "weights": [
                    { "variant": "on", "weight": 50000 }, { "variant": "half", "weight": 50000 }] } }
            }),
            vec![
                ("off_variant", "unknown variant \"maybe\" of flag \"checkout\""),
                ("targets[0].variant", "unknown variant \"gold\" of flag \"checkout\""),
                ("rules[0].serve.variant", "unknown variant \"nope\" of flag \"checkout\""),
                ("default.split.weights[1].variant", "unknown variant \"half\" of flag \"checkout\""),
            ],
            true,
        ),
        (
            "a split naming a variant twice, and an empty bucket_by",
            json!({ "default": { "split": { "bucket_by": "", "weights": [
                { "variant": "on", "weight": 50000 }, { "variant": "on", "weight": 50000 }] } } }),
            vec![
                ("default.split.bucket_by", "must name an attribute"),
                ("default.split.weights[1].variant", "variant \"on\" appears twice"),
            ],
            false,
        ),
        (
            "a split without weights",
            json!({ "default": { "split": { "weights": [] } } }),
            vec![
                ("default.split.weights", "a split needs at least one weight"),
                ("default.split.weights", "weights sum to 0, not 100000"),
            ],
            true,
        ),
        ("a bad regex", regex_rule("(unclosed"), vec![("rules[0].conditions[1].values[1]", "invalid regex: *")], true),
        (
            "a bad semantic version",
            json!({ "rules": [{ "id": "r0", "conditions": [
                { "attribute": "app_version", "operator": "semver_gte", "values": ["two.three"] }
            ], "serve": { "variant": "on" } }]}),
            vec![("rules[0].conditions[0].values[0]", "expected a semantic version such as \"2.3.0\"")],
            true,
        ),
        (
            "operands of the wrong type",
            json!({ "rules": [{ "id": "r0", "conditions": [
                { "attribute": "age", "operator": "lt", "values": ["18"] },
                { "attribute": "signup", "operator": "before", "values": ["2026-01-31"] },
                { "attribute": "plan", "operator": "in", "values": ["pro", { "tier": 1 }] },
                { "attribute": "email", "operator": "contains", "values": [42] }
            ], "serve": { "variant": "on" } }]}),
            vec![
                ("rules[0].conditions[0].values[0]", "expected a number"),
                ("rules[0].conditions[1].values[0]", "expected an RFC 3339 time such as \"2026-01-31T12:00:00Z\""),
                ("rules[0].conditions[2].values[1]", "expected a string, number or boolean"),
                ("rules[0].conditions[3].values[0]", "expected a string"),
            ],
            true,
        ),
        (
            "wrong numbers of operands and an empty attribute",
            json!({ "rules": [{ "id": "r0", "conditions": [
                { "attribute": "plan", "operator": "eq", "values": ["pro", "free"] },
                { "attribute": "email", "operator": "exists", "values": ["x"] },
                { "attribute": "country", "operator": "in", "values": [] },
                { "attribute": "", "operator": "exists" }
            ], "serve": { "variant": "on" } }]}),
            vec![
                ("rules[0].conditions[0].values", "this operator takes exactly one value"),
                ("rules[0].conditions[1].values", "exists takes no values"),
                ("rules[0].conditions[2].values", "at least one value is needed"),
                ("rules[0].conditions[3].attribute", "must name an attribute"),
            ],
            false,
        ),
        (
            "duplicate rule ids and an id that is not a slug",
            json!({ "rules": [
                { "id": "beta", "serve": { "variant": "on" } },
                { "id": "beta", "serve": { "variant": "off" } },
                { "id": "Beta Testers", "serve": { "variant": "off" } }
            ]}),
            vec![("rules[1].id", "duplicate rule id \"beta\""), ("rules[2].id", SLUG_RULE)],
            false,
        ),
        (
            "an unknown segment",
            json!({ "rules": [{ "id": "r0", "segments": ["staff", "ghost"], "serve": { "variant": "on" } }] }),
            vec![("rules[0].segments[1]", "unknown segment \"ghost\"")],
            true,
        ),
        (
            "a key targeted twice and an empty key",
            json!({ "targets": [
                { "variant": "on", "keys": ["user-1", ""] },
                { "variant": "off", "keys": ["user-1"] }
            ]}),
            vec![("targets[0].keys[1]", "must not be empty"), ("targets[1].keys[0]", "\"user-1\" is targeted twice")],
            false,
        ),
        (
            "a prerequisite cycle across flags",
            json!({ "prerequisites": [{ "flag": "billing", "variant": "on" }] }),
            vec![("prerequisites[0].flag", "prerequisite cycle: checkout → billing → ledger → checkout")],
            true,
        ),
        (
            "a flag that is its own prerequisite",
            json!({ "prerequisites": [{ "flag": "checkout", "variant": "on" }] }),
            vec![("prerequisites[0].flag", "a flag cannot be its own prerequisite")],
            true,
        ),
        (
            "unknown and repeated prerequisites",
            json!({ "prerequisites": [
                { "flag": "ghost", "variant": "on" },
                { "flag": "payments-v2", "variant": "maybe" },
                { "flag": "payments-v2", "variant": "on" }
            ]}),
            vec![
                ("prerequisites[0].flag", "unknown flag \"ghost\""),
                ("prerequisites[1].variant", "unknown variant \"maybe\" of flag \"payments-v2\""),
                ("prerequisites[2].flag", "\"payments-v2\" is listed twice"),
            ],
            false,
        ),
        (
            "every problem of a config at once, in document order",
            json!({
                "off_variant": "none",
                "rules": [
                    { "id": "r0", "conditions": [{ "attribute": "v", "operator": "semver_gt", "values": ["x"] }],
                      "segments": ["ghost"], "serve": { "variant": "on" } },
                    { "id": "r0", "serve": { "split": { "weights": [{ "variant": "on", "weight": 1 }] } } }
                ],
                "prerequisites": [{ "flag": "billing", "variant": "on" }]
            }),
            vec![
                ("off_variant", "unknown variant \"none\" of flag \"checkout\""),
                ("rules[0].conditions[0].values[0]", "expected a semantic version such as \"2.3.0\""),
                ("rules[0].segments[0]", "unknown segment \"ghost\""),
                ("rules[1].id", "duplicate rule id \"r0\""),
                ("rules[1].serve.split.weights", "weights sum to 1, not 100000"),
                ("prerequisites[0].flag", "prerequisite cycle: checkout → billing → ledger → checkout"),
            ],
            true,
        ),
    ]
}

#[test]
fn validate_config_reports_each_problem_with_its_path() {
    let flag = checkout();
    let env = env();
    for (name, patch, expected, _) in config_cases() {
        assert_problems(name, &validate_config(&flag, &config(&patch), &env), &expected);
    }
}

/// A snapshot that skipped validation still evaluates safely: configs with an unresolvable reference, a bad
/// operand, bad weights or a prerequisite cycle give `MALFORMED_CONFIG`; the other refused configs (arity,
/// duplicates, unknown prerequisites) can still be evaluated.
#[test]
fn configs_validation_refuses_for_bad_references_do_not_evaluate() {
    let flag = checkout();
    for (name, patch, _, malformed) in config_cases() {
        let mut snapshot = env();
        let stored = snapshot.flags.iter_mut().find(|f| f.definition.key == "checkout").expect("checkout is stored");
        stored.definition = flag.clone();
        stored.config = config(&patch);
        let compiled = CompiledSnapshot::compile(&snapshot);
        let eval = compiled.evaluate("checkout", &Context::new("user-9").with("plan", "pro"));
        let is_malformed = eval.reason == Reason::Error { error: ErrorCode::MalformedConfig };
        assert_eq!(is_malformed, malformed, "{name}: evaluated to {eval:?}");
    }
}

#[test]
fn validate_flag_reports_each_problem_with_its_path() {
    let cases: Vec<DocumentCase> = vec![
        ("a valid boolean flag", json!({}), vec![]),
        (
            "a valid json flag",
            json!({ "kind": "json", "tags": ["checkout", "q3"], "variants": [
                { "key": "small", "value": { "limit": 10 } }, { "key": "large", "value": [1, 2, 3], "name": "Large" }
            ]}),
            vec![],
        ),
        ("a key that is not a slug", json!({ "key": "New Checkout" }), vec![("key", SLUG_RULE)]),
        ("a key longer than 128 characters", json!({ "key": "k".repeat(129) }), vec![("key", SLUG_RULE)]),
        (
            "no variants",
            json!({ "kind": "string", "variants": [] }),
            vec![("variants", "a flag needs at least one variant")],
        ),
        (
            "duplicate variants and a variant key that is not a slug",
            json!({ "kind": "string", "variants": [
                { "key": "a", "value": "x" }, { "key": "a", "value": "y" }, { "key": "B", "value": "z" }
            ]}),
            vec![("variants[1].key", "duplicate variant \"a\""), ("variants[2].key", SLUG_RULE)],
        ),
        (
            "values of the wrong kind",
            json!({ "kind": "number", "variants": [{ "key": "one", "value": 1 }, { "key": "two", "value": "2" }] }),
            vec![("variants[1].value", "must be a number value")],
        ),
        (
            "a boolean flag without on/off",
            json!({ "variants": [{ "key": "yes", "value": true }, { "key": "no", "value": false }] }),
            vec![("variants", "a boolean flag has exactly the variants on (true) and off (false)")],
        ),
        (
            "a boolean flag with a third variant",
            json!({ "variants": [
                { "key": "on", "value": true }, { "key": "off", "value": false }, { "key": "maybe", "value": true }
            ]}),
            vec![("variants", "a boolean flag has exactly the variants on (true) and off (false)")],
        ),
        (
            "a boolean flag with a string value",
            json!({ "variants": [{ "key": "on", "value": "true" }, { "key": "off", "value": false }] }),
            vec![
                ("variants[0].value", "must be a boolean value"),
                ("variants", "a boolean flag has exactly the variants on (true) and off (false)"),
            ],
        ),
        ("an empty tag", json!({ "tags": ["ok", ""] }), vec![("tags[1]", "tags are 1 to 128 characters")]),
    ];
    let base = serde_json::to_value(checkout()).expect("flag serialises");
    for (name, patch, expected) in cases {
        let flag: Flag = serde_json::from_value(merged(base.clone(), &patch)).expect("flag deserialises");
        assert_problems(name, &validate_flag(&flag), &expected);
    }
}

#[test]
fn validate_segment_reports_each_problem_with_its_path() {
    let cases: Vec<DocumentCase> = vec![
        ("a valid segment", json!({}), vec![]),
        ("a segment with only key lists", json!({ "conditions": [] }), vec![]),
        ("a key that is not a slug", json!({ "key": "Staff!" }), vec![("key", SLUG_RULE)]),
        (
            "bad conditions",
            json!({ "conditions": [
                { "attribute": "", "operator": "exists" },
                { "attribute": "seats", "operator": "gte", "values": ["ten"] },
                { "attribute": "email", "operator": "matches", "values": ["[a-"] },
                { "attribute": "v", "operator": "semver_lt", "values": ["1.0.0", "2.0.0"] }
            ]}),
            vec![
                ("conditions[0].attribute", "must name an attribute"),
                ("conditions[1].values[0]", "expected a number"),
                ("conditions[2].values[0]", "invalid regex: *"),
                ("conditions[3].values", "this operator takes exactly one value"),
            ],
        ),
    ];
    let base = json!({
        "key": "staff", "name": "Staff", "included": ["alice"], "excluded": ["bob"],
        "conditions": [{ "attribute": "email", "operator": "ends_with", "values": ["@pennon.dev"] }]
    });
    for (name, patch, expected) in cases {
        let segment: Segment = serde_json::from_value(merged(base.clone(), &patch)).expect("segment deserialises");
        assert_problems(name, &validate_segment(&segment), &expected);
    }
}
