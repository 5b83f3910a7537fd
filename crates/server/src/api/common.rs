//! Pieces every resource uses: keys, versions from `If-Match`, cursors, timestamps.

use axum::extract::FromRequestParts;
use axum::http::header::{ETAG, IF_MATCH};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use pennon_engine::{SLUG_RULE, is_slug};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use crate::http::error::ApiError;

/// Checks that a key is a slug, naming the field otherwise.
pub fn check_key(field: &str, key: &str) -> Result<(), ApiError> {
    if is_slug(key) { Ok(()) } else { Err(ApiError::bad_field(field, format!("{field} {SLUG_RULE}"))) }
}

/// Refuses control characters in a text field (422 naming it): PostgreSQL cannot store NUL, and no name,
/// tag or email needs the others. A `multiline` field (a description) may hold line breaks and tabs.
pub fn check_text(field: &str, text: &str, multiline: bool) -> Result<(), ApiError> {
    let allowed = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
    if text.chars().any(|c| c.is_control() && !allowed(c)) {
        let what = if multiline { "control characters other than line breaks and tabs" } else { "control characters" };
        return Err(ApiError::invalid(field, format!("{field} must not contain {what}")));
    }
    Ok(())
}

/// Checks a display name or label: 1 to 200 characters (counted as characters, as the OpenAPI document's
/// `maxLength` counts them), not only spaces, without control characters.
pub fn check_name(field: &str, name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() || name.chars().count() > 200 {
        return Err(ApiError::bad_field(field, format!("{field} must be 1 to 200 characters, not only spaces")));
    }
    check_text(field, name, false)
}

/// The version named by `If-Match` (`"7"`, `7` or `W/"7"`), if the header is present.
#[derive(Debug, Clone, Copy)]
pub struct IfMatch(pub Option<u64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(IF_MATCH) else { return Ok(IfMatch(None)) };
        let text = value.to_str().unwrap_or_default().trim();
        let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
        text.parse()
            .map(|v| IfMatch(Some(v)))
            .map_err(|_| ApiError::bad_field("If-Match", "If-Match must name a version, e.g. \"7\""))
    }
}

impl IfMatch {
    /// The version to check: `If-Match` or the body's `version`; both must agree when both are given.
    pub fn or(self, body: Option<u64>) -> Result<Option<u64>, ApiError> {
        match (self.0, body) {
            (Some(h), Some(b)) if h != b => {
                Err(ApiError::invalid("version", "If-Match and the body's version disagree"))
            }
            (h, b) => Ok(h.or(b)),
        }
    }
}

/// An `ETag` header for a version.
pub fn etag(version: u64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(ETAG, HeaderValue::from_str(&format!("\"{version}\"")).expect("digits are a valid header"));
    headers
}

/// RFC 3339 text of Unix milliseconds, in UTC and always with three digits of fraction
/// (`2026-12-05T07:38:09.100Z`), so that the text of two times sorts as the times do.
pub fn rfc3339(millis: i64) -> String {
    let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000) else {
        return String::new();
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Unix milliseconds of RFC 3339 text, naming the field when it does not parse.
pub fn parse_time(field: &str, text: &str) -> Result<i64, ApiError> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| ApiError::bad_field(field, format!("{field} must be an RFC 3339 time")))
}

/// Page sizes: default 50, at most 500.
pub fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(50),
        Some(0) => Err(ApiError::bad_field("limit", "limit must be between 1 and 500")),
        Some(n) if n > 500 => Err(ApiError::bad_field("limit", "limit must be between 1 and 500")),
        Some(n) => Ok(n),
    }
}

/// Encodes a cursor: opaque to clients (hex of the position).
pub fn encode_cursor(position: &str) -> String {
    hex::encode(position)
}

/// The cursor's rule in the OpenAPI document: pairs of hex digits, at most 1024 of them.
pub const CURSOR_PATTERN: &str = "^([0-9a-fA-F]{2}){0,512}$";

/// Decodes a cursor made by [`encode_cursor`]: 400 when it breaks [`CURSOR_PATTERN`], 422 when it follows
/// the pattern but names no position this server gives out.
pub fn decode_cursor(cursor: &str) -> Result<String, ApiError> {
    if cursor.len() > 1024 {
        return Err(ApiError::bad_field("cursor", "cursor is at most 1024 hex digits"));
    }
    let bytes = hex::decode(cursor).map_err(|_| ApiError::bad_field("cursor", "cursor is pairs of hex digits"))?;
    String::from_utf8(bytes).map_err(|_| not_our_cursor())
}

/// 422: a well-formed cursor that this server did not give out.
pub fn not_our_cursor() -> ApiError {
    ApiError::invalid("cursor", "cursor is not one this server gave out")
}

/// A list's `cursor` parameter: an empty one is no cursor (the first page).
pub fn cursor_param(cursor: Option<&str>) -> Result<Option<String>, ApiError> {
    cursor.filter(|c| !c.is_empty()).map(decode_cursor).transpose()
}

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page from one more item than asked for: the extra one only says there is a next page.
    pub fn from_overfetch(mut items: Vec<T>, limit: u32, position: impl Fn(&T) -> String) -> Self {
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|last| encode_cursor(&position(last)))
        } else {
            None
        };
        Page { items, next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_text_sort_as_the_times_do() {
        let times = [0, 1, 90, 100, 120, 999, 1_000, 1_764_920_289_100, 1_764_920_289_120, 253_402_300_799_999];
        let texts: Vec<String> = times.iter().map(|&t| rfc3339(t)).collect();
        assert_eq!(texts[0], "1970-01-01T00:00:00.000Z");
        assert_eq!(texts[3], "1970-01-01T00:00:00.100Z");
        assert!(texts.windows(2).all(|w| w[0] < w[1]), "{texts:?}");
        for (&t, text) in times.iter().zip(&texts) {
            assert_eq!(parse_time("at", text).unwrap(), t);
        }
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(decode_cursor(&encode_cursor("flag-ü.1")).unwrap(), "flag-ü.1");
        assert!(decode_cursor("zz").is_err());
        assert!(decode_cursor("abc").is_err());
        assert!(decode_cursor("aéa").is_err(), "a pair that splits a character is an error, not a panic");
        assert!(decode_cursor("\u{1F600}").is_err());
        assert!(decode_cursor("a\u{fc}").is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_cursor_decodes_or_is_refused(cursor in proptest::prelude::any::<String>()) {
            let _ = decode_cursor(&cursor);
        }

        #[test]
        fn any_text_round_trips(text in proptest::prelude::any::<String>()) {
            proptest::prop_assert_eq!(decode_cursor(&encode_cursor(&text)).ok(), (text.len() <= 512).then_some(text));
        }
    }

    #[test]
    fn times_round_trip() {
        let ms = 1_767_225_600_123;
        assert_eq!(parse_time("since", &rfc3339(ms)).unwrap(), ms);
        assert!(parse_time("since", "yesterday").is_err());
    }
}
