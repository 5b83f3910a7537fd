//! A Server-Sent Events parser, as the WHATWG HTML specification defines the `text/event-stream` format.
//!
//! Bytes go in as they arrive, in chunks of any size and split anywhere (inside a line, between the `\r` and
//! `\n` of a line break, inside a multi-byte character); complete items come out. Lines end with `\r\n`,
//! `\n` or `\r`. An event is dispatched at the blank line that ends it, so an event cut off by a closed
//! connection is never seen. Fields: `event`, `data` (several lines join with `\n`), `id` (kept for the
//! events that follow, as the specification says), `retry` (digits only); lines starting with `:` are
//! comments; unknown fields are ignored.

use std::time::Duration;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    /// The event type; `message` when the event named none.
    pub kind: String,
    /// The data lines, joined with `\n`.
    pub data: String,
    /// The last event ID seen on the stream so far (this event's, or an earlier one's).
    pub id: Option<String>,
}

/// What the parser found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item {
    /// An event.
    Event(Event),
    /// The server set the reconnection time.
    Retry(Duration),
    /// A comment line, such as a heartbeat.
    Comment,
}

/// The incremental parser. One per connection.
#[derive(Debug)]
#[expect(clippy::struct_excessive_bools, reason = "independent flags of the specification's parsing steps")]
pub(crate) struct Parser {
    /// Bytes of the line being read.
    line: Vec<u8>,
    /// The previous chunk ended with `\r`: a `\n` at the start of the next one belongs to that line break.
    after_cr: bool,
    /// Still at the start of the stream, where a UTF-8 byte order mark is skipped.
    at_start: bool,
    /// The current line grew past the limit: its remaining bytes are dropped and the event discarded.
    overlong: bool,
    event: String,
    data: String,
    has_data: bool,
    discard_event: bool,
    last_id: Option<String>,
    max_event_bytes: usize,
}

impl Parser {
    /// A parser that discards any event larger than `max_event_bytes` (a misbehaving server cannot make it
    /// hold unbounded memory).
    pub(crate) fn new(max_event_bytes: usize) -> Self {
        Parser {
            line: Vec::new(),
            after_cr: false,
            at_start: true,
            overlong: false,
            event: String::new(),
            data: String::new(),
            has_data: false,
            discard_event: false,
            last_id: None,
            max_event_bytes,
        }
    }

    /// Parses a chunk, pushing whatever it completes onto `out`.
    pub(crate) fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<Item>) {
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        while !chunk.is_empty() {
            let Some(end) = chunk.iter().position(|&b| b == b'\n' || b == b'\r') else {
                self.push_partial(chunk);
                return;
            };
            self.push_partial(&chunk[..end]);
            let crlf = chunk[end] == b'\r';
            chunk = &chunk[end + 1..];
            if crlf {
                match chunk.first() {
                    Some(b'\n') => chunk = &chunk[1..],
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
            self.end_line(out);
        }
    }

    fn push_partial(&mut self, bytes: &[u8]) {
        if self.overlong {
            return;
        }
        if self.line.len() + bytes.len() > self.max_event_bytes {
            self.overlong = true;
            self.line.clear();
            return;
        }
        self.line.extend_from_slice(bytes);
    }

    fn end_line(&mut self, out: &mut Vec<Item>) {
        let mut line = std::mem::take(&mut self.line);
        if std::mem::take(&mut self.at_start) && line.starts_with(b"\xEF\xBB\xBF") {
            line.drain(..3);
        }
        if std::mem::take(&mut self.overlong) {
            tracing::warn!(limit = self.max_event_bytes, "an event stream line exceeded the limit; event discarded");
            self.discard_event = true;
        } else {
            self.process_line(&line, out);
        }
        line.clear();
        self.line = line;
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<Item>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            out.push(Item::Comment);
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match field {
            b"event" => self.event = String::from_utf8_lossy(value).into_owned(),
            b"data" => {
                if self.data.len() + value.len() > self.max_event_bytes {
                    tracing::warn!(limit = self.max_event_bytes, "an event exceeded the limit; event discarded");
                    self.discard_event = true;
                } else if !self.discard_event {
                    self.data.push_str(&String::from_utf8_lossy(value));
                    self.data.push('\n');
                }
                self.has_data = true;
            }
            b"id" if !value.contains(&0) => self.last_id = Some(String::from_utf8_lossy(value).into_owned()),
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                if let Ok(ms) = std::str::from_utf8(value).unwrap_or_default().parse::<u64>() {
                    out.push(Item::Retry(Duration::from_millis(ms)));
                }
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<Item>) {
        let event = std::mem::take(&mut self.event);
        let mut data = std::mem::take(&mut self.data);
        let has_data = std::mem::take(&mut self.has_data);
        if std::mem::take(&mut self.discard_event) || !has_data {
            return;
        }
        if data.ends_with('\n') {
            data.pop();
        }
        let event = if event.is_empty() { "message".to_owned() } else { event };
        out.push(Item::Event(Event { kind: event, data, id: self.last_id.clone() }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_chunks(chunks: &[&[u8]]) -> Vec<Item> {
        let mut parser = Parser::new(1 << 20);
        let mut out = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, &mut out);
        }
        out
    }

    fn event(event: &str, data: &str, id: Option<&str>) -> Item {
        Item::Event(Event { kind: event.into(), data: data.into(), id: id.map(Into::into) })
    }

    const STREAM: &[u8] = b"retry: 2500\n: hello\n\nid: 41\nevent: put\ndata: {\"a\":\ndata: 1}\n\n\
event: patch\r\nid: 42\r\ndata: x\r\n\r\ndata\ndata:\n\n:heartbeat\revent: delete\rdata: y\r\r";

    fn expected() -> Vec<Item> {
        vec![
            Item::Retry(Duration::from_millis(2500)),
            Item::Comment,
            event("put", "{\"a\":\n1}", Some("41")),
            event("patch", "x", Some("42")),
            event("message", "\n", Some("42")),
            Item::Comment,
            event("delete", "y", Some("42")),
        ]
    }

    #[test]
    fn parses_fields_line_endings_and_comments() {
        assert_eq!(parse_chunks(&[STREAM]), expected());
    }

    #[test]
    fn any_split_of_the_bytes_gives_the_same_items() {
        for at in 0..=STREAM.len() {
            assert_eq!(parse_chunks(&[&STREAM[..at], &STREAM[at..]]), expected(), "split at {at}");
        }
        let bytes: Vec<&[u8]> = STREAM.chunks(1).collect();
        assert_eq!(parse_chunks(&bytes), expected());
    }

    #[test]
    fn multi_byte_characters_split_across_chunks_survive() {
        let text = "event: put\ndata: grüße ✓\n\n".as_bytes();
        let at = text.iter().position(|&b| b == 0xC3).unwrap() + 1;
        assert_eq!(parse_chunks(&[&text[..at], &text[at..]]), vec![event("put", "grüße ✓", None)]);
    }

    #[test]
    fn an_unfinished_event_is_never_dispatched() {
        assert_eq!(parse_chunks(&[b"event: put\ndata: {\"revision\": 4"]), vec![]);
        assert_eq!(parse_chunks(&[b"event: put\ndata: {}\n"]), vec![]);
    }

    #[test]
    fn events_without_data_are_not_dispatched_and_reset_the_type() {
        assert_eq!(parse_chunks(&[b"event: put\n\ndata: z\n\n"]), vec![event("message", "z", None)]);
    }

    #[test]
    fn bad_retry_values_and_unknown_fields_are_ignored() {
        let items = parse_chunks(&[b"retry: soon\nretry:\nretry: -1\nfoo: bar\nretry: 10\ndata: a\n\n"]);
        assert_eq!(items, vec![Item::Retry(Duration::from_millis(10)), event("message", "a", None)]);
    }

    #[test]
    fn a_byte_order_mark_at_the_start_is_skipped() {
        assert_eq!(parse_chunks(&[b"\xEF\xBB", b"\xBFdata: a\n\n"]), vec![event("message", "a", None)]);
    }

    #[test]
    fn an_id_with_nul_is_ignored_and_an_empty_id_clears() {
        let items = parse_chunks(&[b"id: 7\ndata: a\n\nid: 8\x00\ndata: b\n\nid\ndata: c\n\n"]);
        assert_eq!(
            items,
            vec![event("message", "a", Some("7")), event("message", "b", Some("7")), event("message", "c", Some(""))]
        );
    }

    #[test]
    fn oversized_events_are_discarded_and_the_stream_goes_on() {
        let mut parser = Parser::new(16);
        let mut out = Vec::new();
        parser.feed(b"data: 0123456789", &mut out);
        parser.feed(b"0123456789\n\ndata: x\ndata: 0123456789abcdef\n\ndata: ok\n\n", &mut out);
        assert_eq!(out, vec![event("message", "ok", None)]);
    }
}
