//! Reading Server-Sent Events from the upstream, incrementally: bytes go in as they arrive, whole events come
//! out. Only what the SDK stream uses: `event`, `id`, `data` and comments.

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The `event:` field (`message` when absent).
    pub name: String,
    /// The `id:` field, if any.
    pub id: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// Collects bytes and cuts them into events.
#[derive(Debug, Default)]
pub struct Parser {
    buffer: Vec<u8>,
    name: Option<String>,
    id: Option<String>,
    data: Option<String>,
}

impl Parser {
    /// Adds bytes received.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// How many bytes are held that are not an event yet.
    pub fn held(&self) -> usize {
        self.buffer.len()
    }

    /// The next whole event in what was pushed, if there is one. Comments and fields the stream does not use
    /// are skipped.
    pub fn next_event(&mut self) -> Option<Event> {
        loop {
            let end = self.buffer.iter().position(|b| *b == b'\n')?;
            let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let line = String::from_utf8_lossy(&line);
            if line.is_empty() {
                let data = self.data.take();
                let name = self.name.take();
                let id = self.id.take();
                if let Some(data) = data {
                    return Some(Event { name: name.unwrap_or_else(|| "message".to_owned()), id, data });
                }
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((&line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => self.name = Some(value.to_owned()),
                "id" => self.id = Some(value.to_owned()),
                "data" => match &mut self.data {
                    Some(data) => {
                        data.push('\n');
                        data.push_str(value);
                    }
                    None => self.data = Some(value.to_owned()),
                },
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_cut_across_chunks_and_comments_are_skipped() {
        let mut parser = Parser::default();
        parser.push(b"retry: 3000\n\n: heartbeat\n\nevent: patch\nid: 7\nda");
        assert_eq!(parser.next_event(), None);
        parser.push(b"ta: {\"a\":1}\n\nevent: delete\r\nid: 7\r\ndata: x\r\n");
        let first = parser.next_event().unwrap();
        assert_eq!(first, Event { name: "patch".into(), id: Some("7".into()), data: "{\"a\":1}".into() });
        assert_eq!(parser.next_event(), None, "the second event is not finished");
        parser.push(b"\r\n");
        assert_eq!(parser.next_event().unwrap().name, "delete");
        assert_eq!(parser.held(), 0);
    }
}
