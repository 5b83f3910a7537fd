//! A lean reader of an SSE response body as hyper sends it (chunked transfer coding): it keeps no event data,
//! only the `id:` of each complete event, which is all the fan-out benchmark needs to know.

/// Where the chunked decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading the hexadecimal size (and any extension) up to its line end.
    Size { size: usize, extension: bool },
    /// Inside a chunk's data, this many bytes left.
    Data(usize),
    /// After a chunk's data: its CRLF.
    DataEnd,
    /// The last chunk came: the body is over.
    Done,
}

/// Decodes the chunked body and the events in it, one buffer at a time.
#[derive(Debug)]
pub struct EventReader {
    chunk: Chunk,
    /// The current line of the event stream, up to 64 bytes (longer lines are data, never looked at).
    line: Vec<u8>,
    line_too_long: bool,
    /// The `id:` of the event being read.
    id: Option<u64>,
    /// Whether the event being read has any field (a comment alone is not an event).
    has_field: bool,
}

const LINE_KEPT: usize = 64;

impl Default for EventReader {
    fn default() -> Self {
        EventReader {
            chunk: Chunk::Size { size: 0, extension: false },
            line: Vec::new(),
            line_too_long: false,
            id: None,
            has_field: false,
        }
    }
}

impl EventReader {
    /// Feeds bytes of the body; `event` is called with the id (if any) of each event completed by them.
    /// Returns `false` once the body has ended.
    pub fn feed(&mut self, mut bytes: &[u8], mut event: impl FnMut(Option<u64>)) -> bool {
        while !bytes.is_empty() {
            match self.chunk {
                Chunk::Done => return false,
                Chunk::Size { size, extension } => {
                    let b = bytes[0];
                    bytes = &bytes[1..];
                    self.chunk = match b {
                        b'\n' if size == 0 => Chunk::Done,
                        b'\n' => Chunk::Data(size),
                        _ if extension => Chunk::Size { size, extension },
                        b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                            let digit = (b as char).to_digit(16).unwrap_or(0) as usize;
                            Chunk::Size { size: size * 16 + digit, extension }
                        }
                        _ => Chunk::Size { size, extension: true },
                    };
                }
                Chunk::Data(left) => {
                    let take = left.min(bytes.len());
                    self.events(&bytes[..take], &mut event);
                    bytes = &bytes[take..];
                    self.chunk = if take == left { Chunk::DataEnd } else { Chunk::Data(left - take) };
                }
                Chunk::DataEnd => {
                    let b = bytes[0];
                    bytes = &bytes[1..];
                    if b == b'\n' {
                        self.chunk = Chunk::Size { size: 0, extension: false };
                    }
                }
            }
        }
        self.chunk != Chunk::Done
    }

    /// Splits the event stream into lines; a blank line completes an event.
    fn events(&mut self, mut data: &[u8], event: &mut impl FnMut(Option<u64>)) {
        while let Some(end) = data.iter().position(|&b| b == b'\n') {
            self.push(&data[..end]);
            self.line();
            if self.end_line() {
                // The id persists over events in SSE; here each event of the server carries its own, and
                // one without (`retry:` alone) reports none.
                event(self.id.take());
            }
            data = &data[end + 1..];
        }
        self.push(data);
    }

    fn push(&mut self, part: &[u8]) {
        let room = LINE_KEPT.saturating_sub(self.line.len());
        self.line.extend_from_slice(&part[..part.len().min(room)]);
        self.line_too_long |= part.len() > room;
    }

    /// One complete line (in `self.line`): remembers what matters of it.
    fn line(&mut self) {
        let line = self.line.strip_suffix(b"\r").unwrap_or(&self.line);
        if !line.is_empty() && line[0] != b':' {
            self.has_field = true;
            if let Some(value) = line.strip_prefix(b"id:") {
                let value = value.strip_prefix(b" ").unwrap_or(value);
                self.id = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
            }
        }
    }

    /// After a line: whether it was blank and ended an event.
    fn end_line(&mut self) -> bool {
        let blank = matches!(&self.line[..], b"" | b"\r") && !self.line_too_long;
        self.line.clear();
        self.line_too_long = false;
        let ended = blank && self.has_field;
        if ended {
            self.has_field = false;
        }
        ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(parts: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for part in parts {
            out.extend_from_slice(format!("{:x}\r\n{part}\r\n", part.len()).as_bytes());
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    }

    fn ids(body: &[u8], step: usize) -> (Vec<Option<u64>>, bool) {
        let mut reader = EventReader::default();
        let mut seen = Vec::new();
        let mut open = true;
        for piece in body.chunks(step) {
            open = reader.feed(piece, |id| seen.push(id));
        }
        (seen, open)
    }

    #[test]
    fn events_across_chunks_and_reads() {
        let long = "x".repeat(300);
        let body = chunked(&[
            "retry: 3000\n\n",
            "event: put\nid: 7\ndata: {\"a\":",
            &format!("\"{long}\"}}\n\n"),
            ": heartbeat\n\n",
            "event: patch\nid: 8\ndata: {}\n\nevent: patch\nid: 8\ndata: {}\n\n",
            "event: delete\r\nid: 9\r\ndata: {}\r\n\r\n",
        ]);
        for step in [1, 2, 7, 64, body.len()] {
            let (seen, open) = ids(&body, step);
            assert_eq!(seen, [None, Some(7), Some(8), Some(8), Some(9)], "read {step} bytes at a time");
            assert!(!open, "the last chunk ends the body");
        }
    }

    #[test]
    fn chunk_extensions_and_an_open_body() {
        let body = b"d;name=v\r\nid: 1\ndata: x\r\n";
        let (seen, open) = ids(body, 3);
        assert_eq!(seen, Vec::<Option<u64>>::new(), "the event has not ended yet");
        assert!(open);
        let mut reader = EventReader::default();
        let mut seen = Vec::new();
        reader.feed(body, |id| seen.push(id));
        assert!(reader.feed(b"2\r\n\n\n\r\n", |id| seen.push(id)));
        assert_eq!(seen, [Some(1)]);
    }
}
