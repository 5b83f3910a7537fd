//! HTTP/1.1 for the load generator, as little of it as a measurement needs: every request is written out
//! to bytes once, before the run, and sent with one write; an answer is read into a buffer the connection
//! keeps and delimited by its `Content-Length`. No request builder, no header map, no async machinery: the
//! generator's own work per request stays small and fixed.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::Range;

use anyhow::{Context as _, bail, ensure};
use bytes::Bytes;

/// The most header lines an answer may have.
const MAX_HEADERS: usize = 32;

/// The largest answer the generator reads (the fifty-flag evaluation is about 6 KiB).
const MAX_ANSWER: usize = 1 << 20;

/// `POST path` with a JSON `body`, to `host`, with an optional `Authorization` value, as bytes on the wire.
pub fn post(host: &str, path: &str, authorization: Option<&str>, body: &[u8]) -> Bytes {
    let authorization = authorization.map(|value| ("authorization", value));
    request("POST", host, path, authorization.as_slice(), Some(body))
}

/// `method path` to `host` with `headers` and, if any, a JSON `body`, as bytes on the wire.
pub fn request(method: &str, host: &str, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Bytes {
    let mut request = format!("{method} {path} HTTP/1.1\r\nhost: {host}\r\n");
    if let Some(body) = body {
        request.push_str("content-type: application/json\r\ncontent-length: ");
        request.push_str(&body.len().to_string());
        request.push_str("\r\n");
    }
    for (name, value) in headers {
        request.push_str(name);
        request.push_str(": ");
        request.push_str(value);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body.unwrap_or_default());
    Bytes::from(bytes)
}

/// Opens a connection with Nagle's algorithm off (each request is one write).
pub fn connect(addr: SocketAddr) -> anyhow::Result<TcpStream> {
    let stream = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// The bytes of one answer as they arrive.
#[derive(Debug, Default)]
pub struct AnswerBuf {
    /// Zeroed once as it grows; `filled` bytes of it hold the answer so far.
    buf: Vec<u8>,
    filled: usize,
}

/// A complete answer: its status and where its body is in the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The body's bytes in [`AnswerBuf::bytes`].
    pub body: Range<usize>,
}

impl AnswerBuf {
    /// Room for an answer of `capacity` bytes before the buffer grows.
    pub fn with_capacity(capacity: usize) -> Self {
        AnswerBuf { buf: vec![0; capacity], filled: 0 }
    }

    /// Forgets the previous answer.
    pub fn clear(&mut self) {
        self.filled = 0;
    }

    /// What has arrived so far.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.filled]
    }

    /// Reads once from `stream` into the buffer: the bytes read, 0 when the peer closed the connection (or
    /// a non-blocking stream's `WouldBlock`).
    pub fn fill(&mut self, stream: &mut impl Read) -> io::Result<usize> {
        if self.buf.len() - self.filled < 4096 {
            self.buf.resize(self.buf.len() + 8192, 0);
        }
        let read = stream.read(&mut self.buf[self.filled..])?;
        self.filled += read;
        Ok(read)
    }

    /// The answer, once all of it has arrived; `None` until then. One request is in flight at a time, so
    /// bytes after the answer are an error.
    pub fn answer(&self) -> anyhow::Result<Option<Answer>> {
        let Some((status, head, length)) = parse_head(self.bytes())? else { return Ok(None) };
        let end = head + length;
        ensure!(end <= MAX_ANSWER, "an answer of {end} bytes is more than the generator reads");
        if self.filled < end {
            return Ok(None);
        }
        ensure!(self.filled == end, "{} bytes arrived after the answer", self.filled - end);
        Ok(Some(Answer { status, body: head..end }))
    }
}

/// Sends `request` on a blocking `stream` and waits for the whole answer: its status and body.
pub fn exchange(stream: &mut TcpStream, request: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
    stream.write_all(request)?;
    let mut answer = AnswerBuf::with_capacity(8192);
    loop {
        if answer.fill(stream)? == 0 {
            bail!("the server closed the connection");
        }
        if let Some(Answer { status, body }) = answer.answer()? {
            return Ok((status, answer.bytes()[body].to_vec()));
        }
    }
}

/// The status, the head's length and the body's length of an answer whose head is complete in `buf`;
/// `None` while it is not.
fn parse_head(buf: &[u8]) -> anyhow::Result<Option<(u16, usize, usize)>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(head) = response.parse(buf).context("a malformed answer")? else {
        ensure!(buf.len() < MAX_ANSWER, "an answer's head longer than {MAX_ANSWER} bytes");
        return Ok(None);
    };
    let status = response.code.context("an answer without a status")?;
    let mut length = None;
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let value = std::str::from_utf8(header.value).ok().and_then(|v| v.trim().parse::<usize>().ok());
            length = Some(value.context("an unreadable Content-Length")?);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            bail!("a chunked answer: the generator reads only answers with a Content-Length");
        }
    }
    Ok(Some((status, head, length.context("an answer without a Content-Length")?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_request_with_its_length_and_credential() {
        let request = post("127.0.0.1:9", "/api/v1/evaluate", Some("Bearer k"), br#"{"a":1}"#);
        assert_eq!(
            std::str::from_utf8(&request).unwrap(),
            "POST /api/v1/evaluate HTTP/1.1\r\nhost: 127.0.0.1:9\r\ncontent-type: application/json\r\n\
             content-length: 7\r\nauthorization: Bearer k\r\n\r\n{\"a\":1}"
        );
        let mut headers = [httparse::EMPTY_HEADER; 8];
        let mut parsed = httparse::Request::new(&mut headers);
        assert_eq!(parsed.parse(&request).unwrap(), httparse::Status::Complete(request.len() - 7));
    }

    #[test]
    fn an_answer_is_complete_when_its_body_is() {
        let whole = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
        let mut answer = AnswerBuf::default();
        // Arriving in three pieces: within the head, within the body, the rest.
        for (piece, complete) in
            [(&whole[..20], false), (&whole[20..whole.len() - 1], false), (&whole[whole.len() - 1..], true)]
        {
            assert_eq!(answer.fill(&mut &piece[..]).unwrap(), piece.len());
            assert_eq!(answer.answer().unwrap().is_some(), complete);
        }
        let done = answer.answer().unwrap().unwrap();
        assert_eq!((done.status, &answer.bytes()[done.body]), (200, &b"{}"[..]));
        answer.fill(&mut &b"x"[..]).unwrap();
        assert!(answer.answer().is_err(), "a byte after the answer");
        answer.clear();
        assert_eq!(answer.answer().unwrap(), None);
    }

    #[test]
    fn refuses_answers_it_cannot_delimit() {
        assert!(
            parse_head(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                .unwrap_err()
                .to_string()
                .contains("chunked")
        );
        assert!(parse_head(b"HTTP/1.1 204 No Content\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n").is_err());
        assert!(parse_head(b"not http\r\n\r\n").is_err());
    }
}
