//! [`parse`] reads a body to exactly what serde reads, or leaves it to serde.

use proptest::prelude::*;

use super::*;

fn serde(body: &str) -> Option<EvaluateRequest> {
    serde_json::from_str(body).ok()
}

/// The shape the benchmark and the SDKs send, and variations of it that stay plain.
const PLAIN: &[&str] = &[
    r#"{"context":{"attributes":{"app_version":"2.1.7","beta_opt_in":false,"country":"DE","email":"jane.doe@gmail.com","plan":"pro"},"key":"3f2b8c1e-9d4a-4e7b-a5c6-000000000000"},"environment":"bench","flag":"flag-00"}"#,
    r#"{"environment":"production","context":{"key":"user-42"}}"#,
    "{ \"flag\" : \"f\" ,\n\t\"context\" : { \"attributes\" : { \"n\" : -1.5e3 , \"z\" : 0 , \"b\" : true , \"x\" : null } } }\r\n",
    r#"{"context":{"key":null,"attributes":{}},"environment":null,"flag":null}"#,
    r#"{"context":null}"#,
    "{}",
    r#"{"context":{}}"#,
    r#"{"context":{"key":"Jürgen 日本","attributes":{"city":"Zürich","big":18446744073709551615,"neg":-9223372036854775808}}}"#,
    r#"{"context":{"attributes":{"plan":"free","plan":"pro"}}}"#,
];

/// Bodies the fast reading leaves to serde: some serde reads, others it refuses with a problem.
const OTHERS: &[&str] = &[
    r#"{"context":{"key":"a\"b"}}"#,
    r#"{"context":{"key":"caf\u00e9"}}"#,
    r#"{"flag":"a\\b"}"#,
    r#"{"context":{"attributes":{"tags":["a","b"]}}}"#,
    r#"{"context":{"attributes":{"nested":{"a":1}}}}"#,
    r#"{"context":{"attributes":null}}"#,
    r#"{"context":{"attributes":{"n":01}}}"#,
    r#"{"context":{"attributes":{"n":1e999}}}"#,
    r#"{"context":{"attributes":{"n":-}}}"#,
    r#"{"context":{"attributes":{"n":1.}}}"#,
    r#"{"flag":"f","flag":"g"}"#,
    r#"{"context":{"key":"a","key":"b"}}"#,
    r#"{"environment":"e","other":1}"#,
    r#"{"context":{"key":"a","kind":"user"}}"#,
    r#"{"flag":1}"#,
    r#"{"context":"user-1"}"#,
    r#"{"flag":"f",}"#,
    r#"{"flag":"f"} x"#,
    r#"{"flag":"f"}{}"#,
    "{\"flag\":\"tab\there\"}",
    "\u{feff}{}",
    "[]",
    "",
    r#"{"flag":nul}"#,
    r#"{"context":{"attributes":{"b":tru}}}"#,
];

#[test]
fn plain_bodies_are_read_as_serde_reads_them() {
    for body in PLAIN {
        let fast = parse(body.as_bytes());
        assert!(fast.is_some(), "not read: {body}");
        assert_eq!(fast.map(|f| f.to_owned()), serde(body), "{body}");
    }
    let read = parse(PLAIN[0].as_bytes()).unwrap();
    assert_eq!((read.environment, read.flag), (Some("bench"), Some("flag-00")));
    let context = read.context.unwrap().to_context();
    assert_eq!(context.key.as_deref(), Some("3f2b8c1e-9d4a-4e7b-a5c6-000000000000"));
    assert_eq!((context.attributes.len(), &context.attributes["beta_opt_in"]), (5, &Value::Bool(false)));
    let last = parse(PLAIN[8].as_bytes()).unwrap().context.unwrap().to_context();
    assert_eq!(last.attributes["plan"], "pro", "a name given twice keeps its last value");
}

#[test]
fn other_bodies_are_left_to_serde() {
    for body in OTHERS {
        assert_eq!(parse(body.as_bytes()), None, "read: {body}");
    }
    assert_eq!(parse(b"{\"flag\":\"\xff\"}"), None, "not UTF-8");
}

#[test]
fn no_prefix_of_a_plain_body_is_read() {
    for body in PLAIN {
        let body = body.trim_end();
        for end in 0..body.len() {
            if body.is_char_boundary(end) {
                assert_eq!(parse(&body.as_bytes()[..end]), None, "{}", &body[..end]);
            }
        }
    }
}

/// Pieces of a generated string, as written in JSON: plain ones, and escapes (which make it not plain).
const PIECES: &[(&str, bool)] = &[
    ("a", true),
    ("Z", true),
    ("-", true),
    (" ", true),
    ("é", true),
    ("日", true),
    ("\\\"", false),
    ("\\\\", false),
    ("\\n", false),
    ("\\u00e9", false),
];

/// A JSON string and whether it is plain; most are.
fn json_string() -> impl Strategy<Value = Json> {
    let plain = PIECES.iter().filter(|p| p.1).count();
    let pieces = prop_oneof![6 => 0..plain, 1 => 0..PIECES.len()];
    prop::collection::vec(pieces, 0..6).prop_map(|picks| {
        let text: String = picks.iter().map(|&i| PIECES[i].0).collect();
        (format!("\"{text}\""), picks.iter().all(|&i| PIECES[i].1))
    })
}

/// An attribute value as written, and whether it is plain.
fn json_value() -> impl Strategy<Value = Json> {
    prop_oneof![
        3 => json_string(),
        3 => prop::sample::select(vec!["0", "-0", "42", "-7", "1.5", "2e3", "-1.25E-2", "18446744073709551616", "1e400"])
            .prop_map(|n| (n.to_owned(), n != "1e400")),
        3 => prop::sample::select(vec!["true", "false", "null"]).prop_map(|w| (w.to_owned(), true)),
        1 => prop::sample::select(vec!["[]", "[1,\"a\"]", "{}", "{\"a\":null}"]).prop_map(|v| (v.to_owned(), false)),
    ]
}

fn ws() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", "", " ", "\n  ", "\t", "\r\n"])
}

/// A piece of generated JSON and whether it is plain.
type Json = (String, bool);

/// `{"name": value, ...}` with whitespace around every token, and whether every member is plain.
fn object(members: &[(Json, Json)], spaces: &[&str]) -> Json {
    let mut out = String::from("{");
    let mut plain = true;
    for (i, ((name, name_plain), (value, value_plain))) in members.iter().enumerate() {
        let s = |k: usize| spaces[(i * 3 + k) % spaces.len()];
        if i > 0 {
            out.push(',');
        }
        for piece in [s(0), name, s(1), ":", s(2), value] {
            out.push_str(piece);
        }
        plain &= name_plain & value_plain;
    }
    out.push_str(spaces[0]);
    out.push('}');
    (out, plain)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn generated_bodies_read_the_same_both_ways(
        environment in prop::option::of(json_string()),
        flag in prop::option::of(json_string()),
        key in prop::option::of(json_string()),
        attributes in prop::option::of(prop::collection::vec((json_string(), json_value()), 0..6)),
        unknown in prop::option::weighted(0.1, json_string()),
        spaces in prop::collection::vec(ws(), 1..8),
    ) {
        let mut context_members = Vec::new();
        context_members.extend(key.map(|k| (("\"key\"".to_owned(), true), k)));
        if let Some(attributes) = attributes {
            let (text, plain) = object(&attributes, &spaces);
            context_members.push((("\"attributes\"".to_owned(), true), (text, plain)));
        }
        let mut members = vec![(("\"context\"".to_owned(), true), object(&context_members, &spaces))];
        members.extend(environment.map(|e| (("\"environment\"".to_owned(), true), e)));
        members.extend(flag.map(|f| (("\"flag\"".to_owned(), true), f)));
        members.extend(unknown.map(|u| (("\"unknown\"".to_owned(), false), u)));
        let (body, plain) = object(&members, &spaces);
        let fast = parse(body.as_bytes());
        if plain {
            prop_assert!(fast.is_some(), "a plain body not read: {}", body);
        }
        if let Some(fast) = fast {
            prop_assert_eq!(Some(fast.to_owned()), serde(&body), "{}", body);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whatever the bytes, the reader answers (a reading or "leave it to serde") and never panics.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Some(plain) = parse(&bytes) {
            let _ = plain.to_owned();
        }
    }

    /// Bodies one byte away from a plain one, or cut short anywhere, never panic either.
    #[test]
    fn damaged_plain_bodies_never_panic(
        which in 0..PLAIN.len(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut body = PLAIN[which].as_bytes().to_vec();
        let at = at.index(body.len());
        let _ = parse(&body[..at]);
        body[at] = byte;
        if let Some(plain) = parse(&body) {
            let _ = plain.to_owned();
        }
    }
}
