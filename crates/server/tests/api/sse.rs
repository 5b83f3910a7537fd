//! A small Server-Sent Events reader for the stream tests: real HTTP, a frame parser written for the test.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::TestApp;

/// One parsed block of a stream: an event, or a comment, or a `retry:` setting.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Block {
    /// `event:`, when given.
    pub event: Option<String>,
    /// `id:`, when given.
    pub id: Option<String>,
    /// The `data:` lines, joined by `\n`.
    pub data: String,
    /// `retry:`, when given.
    pub retry: Option<u64>,
    /// Comment lines (without the leading `:`).
    pub comments: Vec<String>,
}

impl Block {
    /// The data as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("data is not JSON ({e}): {}", self.data))
    }

    /// Whether it is only a heartbeat comment.
    pub fn is_heartbeat(&self) -> bool {
        self.event.is_none() && self.data.is_empty() && self.comments.iter().any(|c| c.trim() == "heartbeat")
    }

    fn parse(text: &str) -> Block {
        let mut block = Block::default();
        for line in text.split('\n') {
            if let Some(comment) = line.strip_prefix(':') {
                block.comments.push(comment.to_owned());
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => block.event = Some(value.to_owned()),
                "id" => block.id = Some(value.to_owned()),
                "retry" => block.retry = value.parse().ok(),
                "data" => {
                    if !block.data.is_empty() {
                        block.data.push('\n');
                    }
                    block.data.push_str(value);
                }
                _ => {}
            }
        }
        block
    }
}

/// An open stream.
pub struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

impl SseReader {
    /// Opens `path` with `headers` (an `authorization` header among them) and checks it is an event stream.
    pub async fn open(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> SseReader {
        let mut request = app.client.get(format!("{}{path}", app.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("the stream opens");
        assert_eq!(response.status().as_u16(), 200, "stream status");
        let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert_eq!(content_type, "text/event-stream");
        SseReader { response, buffer: String::new() }
    }

    /// The next block within `wait`; `None` when the stream ended or nothing came.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Block> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let text: String = self.buffer.drain(..end + 2).collect();
                return Some(Block::parse(&text[..end]));
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk()).await.ok()?;
            match chunk.expect("the stream reads") {
                Some(bytes) => self.buffer.push_str(std::str::from_utf8(&bytes).expect("UTF-8")),
                None => return None,
            }
        }
    }

    /// The next block, which must come within 10 seconds.
    pub async fn next(&mut self) -> Block {
        self.next_within(Duration::from_secs(10)).await.expect("an event arrives")
    }

    /// The next block that is not a heartbeat.
    pub async fn next_event(&mut self) -> Block {
        loop {
            let block = self.next().await;
            if !block.is_heartbeat() {
                return block;
            }
        }
    }

    /// Whether the server ended the stream within `wait`, skipping heartbeats.
    pub async fn ends_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            let next = tokio::time::timeout(left, self.response.chunk()).await;
            match next {
                Err(_) => return false,
                Ok(Ok(Some(bytes))) => self.buffer.push_str(std::str::from_utf8(&bytes).expect("UTF-8")),
                Ok(Ok(None) | Err(_)) => return true,
            }
        }
    }
}

/// Creates an SDK key of `kind` (`server` or `client`) in an environment and returns its secret.
pub async fn sdk_key(app: &TestApp, environment: &str, kind: &str) -> String {
    let created = app
        .post(&format!("/api/v1/environments/{environment}/keys"), json!({ "kind": kind, "name": "tests" }))
        .await
        .expect(201);
    created.body["key"].as_str().expect("the key's secret").to_owned()
}

/// `Authorization` with a bearer credential.
pub fn bearer(secret: &str) -> String {
    format!("Bearer {secret}")
}
