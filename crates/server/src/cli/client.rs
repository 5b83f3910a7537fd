//! A small client of the admin API, for the command line (and importers that send what they produce).

use std::fmt::Write as _;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;

/// Exit codes of the client commands, for CI jobs.
pub mod exit {
    /// Done.
    pub const OK: u8 = 0;
    /// Any other error: the server refused the request or could not be reached.
    pub const ERROR: u8 = 1;
    /// The command line was wrong (clap's own code too).
    pub const USAGE: u8 = 2;
    /// Something changed on the server since the plan (409).
    pub const CONFLICT: u8 = 3;
    /// The token is missing or invalid (401), or may not do this (403).
    pub const AUTH: u8 = 4;
}

/// What went wrong, ready for a terminal, with the exit code it means.
#[derive(Debug)]
pub struct ClientError {
    /// One of [`exit`].
    pub code: u8,
    /// The problem's title and detail, and every validation problem with its path.
    pub message: String,
}

impl ClientError {
    /// An error of the command line itself.
    pub fn usage(message: impl Into<String>) -> Self {
        ClientError { code: exit::USAGE, message: message.into() }
    }

    fn from_problem(status: StatusCode, body: &str) -> Self {
        let code = match status {
            StatusCode::CONFLICT | StatusCode::PRECONDITION_FAILED => exit::CONFLICT,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => exit::AUTH,
            _ => exit::ERROR,
        };
        let mut message = format!("the server answered {status}");
        if let Ok(problem) = serde_json::from_str::<Value>(body) {
            if let Some(title) = problem["title"].as_str() {
                message = format!("{title} ({})", status.as_u16());
            }
            if let Some(detail) = problem["detail"].as_str() {
                message.push_str(": ");
                message.push_str(detail);
            }
            if let Some(field) = problem["field"].as_str() {
                let _ = write!(message, "\n  at {field}");
            }
            for e in problem["errors"].as_array().into_iter().flatten() {
                let (path, text) = (e["path"].as_str().unwrap_or(""), e["message"].as_str().unwrap_or(""));
                let _ = write!(message, "\n  {path}: {text}");
            }
        }
        ClientError { code, message }
    }
}

/// A body to send: its bytes and content type.
#[derive(Debug)]
pub struct Body {
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl Body {
    /// A JSON body.
    pub fn json(value: &Value) -> Self {
        Body { content_type: "application/json", bytes: value.to_string().into_bytes() }
    }
}

/// A successful answer: its headers and text.
#[derive(Debug)]
pub struct Answer {
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body as text.
    pub text: String,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> Result<Value, ClientError> {
        serde_json::from_str(&self.text)
            .map_err(|e| ClientError { code: exit::ERROR, message: format!("the server's answer is not JSON: {e}") })
    }
}

/// The admin API of one server, called with one token.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<SecretString>,
}

impl Client {
    /// A client of the server at `base` (`http://host:port`; `https://` with the `tls` feature).
    pub fn new(base: &str, token: Option<SecretString>, timeout: Duration) -> Result<Self, ClientError> {
        let base = base.trim_end_matches('/').to_owned();
        let https = cfg!(feature = "tls") && base.starts_with("https://");
        if !base.starts_with("http://") && !https {
            return Err(ClientError::usage(format!(
                "--server must be an http:// URL (https:// needs the binary built with the `tls` feature), \
                 got {base:?}"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| ClientError { code: exit::ERROR, message: format!("cannot make an HTTP client: {e}") })?;
        Ok(Client { http, base, token })
    }

    /// Sends a request to `path` (with its query) and returns the answer, or the problem as an error.
    pub async fn send(&self, method: Method, path: &str, body: Option<Body>) -> Result<Answer, ClientError> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose_secret());
        }
        if let Some(body) = body {
            request = request.header("content-type", body.content_type).body(body.bytes);
        }
        let response = request
            .send()
            .await
            .map_err(|e| ClientError { code: exit::ERROR, message: format!("cannot reach {}: {e}", self.base) })?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = response
            .text()
            .await
            .map_err(|e| ClientError { code: exit::ERROR, message: format!("reading the answer: {e}") })?;
        if status.is_success() { Ok(Answer { headers, text }) } else { Err(ClientError::from_problem(status, &text)) }
    }

    /// `GET path` as JSON.
    pub async fn get_json(&self, path: &str) -> Result<Value, ClientError> {
        self.send(Method::GET, path, None).await?.json()
    }
}

/// A path segment or query value, percent-encoded.
pub fn encode(part: &str) -> String {
    url::form_urlencoded::byte_serialize(part.as_bytes()).collect()
}
