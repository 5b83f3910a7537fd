//! The evaluation request's body read without a general JSON parser, for the plain bodies SDKs and
//! services send: `{"environment": "...", "flag": "...", "context": {"key": "...", "attributes": {...}}}`
//! with strings that need no unescaping and attribute values that are strings, numbers, booleans or null.
//!
//! [`parse`] accepts only that, and only what serde would read to the same value; for anything else — an
//! escape, a nested attribute value, an unknown or repeated field, a syntax error — it gives up and the
//! caller parses the body with serde, which reads it (or names the problem) as always. So the answer to a
//! request never depends on which of the two read it; a test checks that over generated bodies.
//!
//! On the one-flag hot path serde's reading was the largest part of the handler: it looks each field name
//! up by comparing strings and checks each string's UTF-8 on its own. This validates the body once and
//! scans it once.

use pennon_engine::{AttrValue, ContextRef};
use serde_json::Value;

#[cfg(test)]
use super::EvaluateRequest;

/// An evaluation request read in place: its strings borrow from the body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PlainRequest<'a> {
    pub environment: Option<&'a str>,
    pub context: Option<ContextRef<'a>>,
    pub flag: Option<&'a str>,
}

#[cfg(test)]
impl PlainRequest<'_> {
    /// The request as serde reads it.
    pub(crate) fn to_owned(&self) -> EvaluateRequest {
        EvaluateRequest {
            environment: self.environment.map(str::to_owned),
            context: self.context.as_ref().map(ContextRef::to_context),
            flag: self.flag.map(str::to_owned),
        }
    }
}

/// Most attributes the plain reader takes; a body with more is read by serde.
const PLAIN_MAX_ATTRIBUTES: usize = 64;

/// The request, when the body is of the plain shape described in the [module](self); `None` otherwise.
pub(crate) fn parse(body: &[u8]) -> Option<PlainRequest<'_>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut cursor = Cursor { text, pos: 0 };
    let (mut environment, mut context, mut flag) = (None, None, None);
    cursor.object(|c, field| {
        match field {
            "environment" if environment.is_none() => environment = Some(c.nullable_string()?),
            "flag" if flag.is_none() => flag = Some(c.nullable_string()?),
            "context" if context.is_none() => context = Some(c.context()?),
            _ => return None,
        }
        Some(())
    })?;
    cursor.skip_whitespace();
    (cursor.pos == text.len()).then(|| PlainRequest {
        environment: environment.flatten(),
        context: context.flatten(),
        flag: flag.flatten(),
    })
}

struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// Skips whitespace, then `byte`.
    fn expect(&mut self, byte: u8) -> Option<()> {
        self.skip_whitespace();
        (self.peek() == Some(byte)).then(|| self.pos += 1)
    }

    /// Skips whitespace, then `word` (`true`, `false`, `null`).
    fn word(&mut self, word: &str) -> Option<()> {
        self.skip_whitespace();
        self.text[self.pos..].starts_with(word).then(|| self.pos += word.len())
    }

    /// A string with neither escapes nor control characters.
    fn string(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.pos;
        let end = start + string_len(&self.text.as_bytes()[start..])?;
        self.pos = end + 1;
        // The quotes are ASCII, so the slice between them is whole characters of the validated text.
        Some(&self.text[start..end])
    }

    /// `null`, or a string. (The outer `None` is "not plain", the inner one JSON's `null`, here and below.)
    #[allow(clippy::option_option)]
    fn nullable_string(&mut self) -> Option<Option<&'a str>> {
        self.skip_whitespace();
        if self.peek() == Some(b'n') {
            return self.word("null").map(|()| None);
        }
        self.string().map(Some)
    }

    /// An object, each field's value read by `field`; any problem is the caller's to report.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.expect(b'{')?;
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Some(());
        }
        loop {
            let name = self.string()?;
            self.expect(b':')?;
            field(self, name)?;
            self.skip_whitespace();
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// `null`, or `{"key": ..., "attributes": {...}}` (either may be left out).
    #[allow(clippy::option_option)]
    fn context(&mut self) -> Option<Option<ContextRef<'a>>> {
        self.skip_whitespace();
        if self.peek() == Some(b'n') {
            return self.word("null").map(|()| None);
        }
        let mut context = ContextRef::new(None);
        let (mut key, mut attributes) = (false, false);
        self.object(|c, field| {
            match field {
                "key" if !key => {
                    key = true;
                    context.set_key(c.nullable_string()?);
                }
                "attributes" if !attributes => {
                    attributes = true;
                    c.attributes(&mut context)?;
                }
                _ => return None,
            }
            Some(())
        })?;
        Some(Some(context))
    }

    /// An object of plain values, into `context`; a name given twice keeps its last value, as serde's
    /// reading does.
    fn attributes(&mut self, context: &mut ContextRef<'a>) -> Option<()> {
        self.object(|c, name| {
            let value = c.plain_value()?;
            context.set(name, value);
            // `set` looks for the name among those before it: past a few dozen names that search would
            // grow with the square of their number, so such a body is left to serde's hash map.
            (context.len() <= PLAIN_MAX_ATTRIBUTES).then_some(())
        })
    }

    /// A string, number, boolean or null.
    fn plain_value(&mut self) -> Option<AttrValue<'a>> {
        self.skip_whitespace();
        match self.peek()? {
            b'"' => self.string().map(AttrValue::Str),
            b't' => self.word("true").map(|()| AttrValue::Bool(true)),
            b'f' => self.word("false").map(|()| AttrValue::Bool(false)),
            b'n' => self.word("null").map(|()| AttrValue::Null),
            b'-' | b'0'..=b'9' => {
                let start = self.pos;
                while matches!(self.peek(), Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')) {
                    self.pos += 1;
                }
                // serde's own number reading, so that every form and limit reads the same.
                match serde_json::from_str(&self.text[start..self.pos]).ok()? {
                    Value::Number(number) => Some(AttrValue::Number(number)),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

/// The bytes that end a plain string's scan: the closing quote, a backslash, a control character.
const STOPS: [bool; 256] = {
    let mut stops = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        stops[b] = true;
        b += 1;
    }
    stops[b'"' as usize] = true;
    stops[b'\\' as usize] = true;
    stops
};

/// How many bytes of `bytes` come before the closing quote, when none of them is a backslash or a control
/// character. One table lookup a byte instead of three comparisons.
fn string_len(bytes: &[u8]) -> Option<usize> {
    let end = bytes.iter().position(|&b| STOPS[usize::from(b)])?;
    (bytes[end] == b'"').then_some(end)
}

#[cfg(test)]
#[path = "body_tests.rs"]
mod tests;
