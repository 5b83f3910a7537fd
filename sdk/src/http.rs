//! The three requests the SDK makes (`docs/sdk-protocol.md`), and how their failures are classified.

use std::time::{Duration, SystemTime};

use pennon_engine::Snapshot;
use reqwest::StatusCode;
use reqwest::header::{self, HeaderValue};

use crate::builder::Config;
use crate::error::BuildError;
use crate::protocol::MetricsBatch;

/// How a request failed, by what the client should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// 401/403: the key is wrong, revoked or of the wrong kind. Retrying cannot help.
    Refused(String),
    /// The endpoint is not there (404, 405, 501) or does not speak the protocol (the stream is not
    /// `text/event-stream`): fall back to polling.
    NotAvailable(String),
    /// A network error, a timeout, 5xx, 408 or 429, a malformed body: worth retrying later.
    Retry(String),
    /// 429 or 503 with `Retry-After`: worth retrying, but not before this long (at most [`MAX_RETRY_AFTER`]).
    RetryAfter(String, Duration),
    /// Another 4xx: the server will never take this request.
    Rejected(String),
}

impl Failure {
    pub(crate) fn message(&self) -> &str {
        match self {
            Failure::Refused(m)
            | Failure::NotAvailable(m)
            | Failure::Retry(m)
            | Failure::RetryAfter(m, _)
            | Failure::Rejected(m) => m,
        }
    }

    /// How long the server asked to be left alone, if it did.
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        match self {
            Failure::RetryAfter(_, after) => Some(*after),
            _ => None,
        }
    }
}

/// The longest `Retry-After` honoured: a server (or a proxy) asking for more must not keep the flags stale
/// for hours.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// The wait a `Retry-After` value asks for: delay-seconds or an HTTP date, capped at [`MAX_RETRY_AFTER`].
/// `None` when it is neither.
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(seconds) = value.parse::<u64>() {
        Duration::from_secs(seconds)
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// Classifies a failed response: by its status, and for 429 and 503 by its `Retry-After` too.
fn classify_response(response: &reqwest::Response, what: &str) -> Failure {
    let status = response.status();
    let failure = classify(status, what);
    if !matches!(status.as_u16(), 429 | 503) {
        return failure;
    }
    let asked = response.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok());
    match asked.and_then(|v| parse_retry_after(v, SystemTime::now())) {
        Some(after) => {
            Failure::RetryAfter(format!("{} (retry after {}s)", failure.message(), after.as_secs_f64()), after)
        }
        None => failure,
    }
}

fn classify(status: StatusCode, what: &str) -> Failure {
    let message = format!("{what} answered {status}");
    match status.as_u16() {
        401 | 403 => Failure::Refused(format!("{message}: the server key was refused")),
        404 | 405 | 501 => Failure::NotAvailable(message),
        408 | 429 | 500..=599 => Failure::Retry(message),
        _ => Failure::Rejected(message),
    }
}

fn network(what: &str, e: &reqwest::Error) -> Failure {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    // The error's source chain says why (refused, reset, DNS); the URL is already in `what`.
    let mut cause = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if cause.is_empty() {
        Failure::Retry(format!("{what} {kind}"))
    } else {
        Failure::Retry(format!("{what} {kind}: {cause}"))
    }
}

/// The HTTP side of a client.
#[derive(Debug)]
pub(crate) struct Http {
    client: reqwest::Client,
    base: String,
    auth: HeaderValue,
    request_timeout: Duration,
}

impl Http {
    pub(crate) fn new(config: &Config) -> Result<Self, BuildError> {
        let url = reqwest::Url::parse(&config.base_url).map_err(|_| BuildError::InvalidUrl(config.base_url.clone()))?;
        match url.scheme() {
            "http" => {}
            "https" if cfg!(feature = "rustls") => {}
            "https" => return Err(BuildError::TlsNotEnabled),
            _ => return Err(BuildError::InvalidUrl(config.base_url.clone())),
        }
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", config.server_key))
            .map_err(|_| BuildError::Http("the server key contains characters a header cannot carry".into()))?;
        auth.set_sensitive(true);
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("pennon-rust-sdk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| BuildError::Http(e.to_string()))?;
        Ok(Http { client, base: config.base_url.clone(), auth, request_timeout: config.request_timeout })
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(format!("{}{path}", self.base)).header(header::AUTHORIZATION, self.auth.clone())
    }

    /// `GET /api/v1/sdk/snapshot`; `Ok(None)` when the server answers 304 to `If-None-Match: "<held>"`.
    pub(crate) async fn snapshot(&self, held: Option<u64>) -> Result<Option<Snapshot>, Failure> {
        const WHAT: &str = "GET /api/v1/sdk/snapshot";
        let mut request = self.get("/api/v1/sdk/snapshot").timeout(self.request_timeout);
        if let Some(revision) = held {
            request = request.header(header::IF_NONE_MATCH, format!("\"{revision}\""));
        }
        let response = request.send().await.map_err(|e| network(WHAT, &e))?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_MODIFIED => return Ok(None),
            _ => return Err(classify_response(&response, WHAT)),
        }
        let body = response.bytes().await.map_err(|e| network(WHAT, &e))?;
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| Failure::Retry(format!("{WHAT} sent a snapshot that does not parse: {e}")))
    }

    /// `GET /api/v1/sdk/stream`, resuming after `Last-Event-ID: <revision>` when given. Returns once the
    /// response headers are in; the body is read by the caller.
    pub(crate) async fn open_stream(&self, last_event_id: Option<u64>) -> Result<reqwest::Response, Failure> {
        const WHAT: &str = "GET /api/v1/sdk/stream";
        let mut request = self.get("/api/v1/sdk/stream").header(header::ACCEPT, "text/event-stream");
        if let Some(revision) = last_event_id {
            request = request.header("last-event-id", revision.to_string());
        }
        // No whole-request timeout: the body lasts as long as the connection. Only the headers are timed.
        let response = match tokio::time::timeout(self.request_timeout, request.send()).await {
            Ok(sent) => sent.map_err(|e| network(WHAT, &e))?,
            Err(_) => return Err(Failure::Retry(format!("{WHAT} timed out"))),
        };
        if response.status() != StatusCode::OK {
            return Err(classify_response(&response, WHAT));
        }
        let content_type = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !content_type.starts_with("text/event-stream") {
            return Err(Failure::NotAvailable(format!("{WHAT} answered with {content_type:?}, not an event stream")));
        }
        Ok(response)
    }

    /// `POST /api/v1/sdk/metrics`.
    pub(crate) async fn post_metrics(&self, batch: &MetricsBatch) -> Result<(), Failure> {
        const WHAT: &str = "POST /api/v1/sdk/metrics";
        let response = self
            .client
            .post(format!("{}/api/v1/sdk/metrics", self.base))
            .header(header::AUTHORIZATION, self.auth.clone())
            .timeout(self.request_timeout)
            .json(batch)
            .send()
            .await
            .map_err(|e| network(WHAT, &e))?;
        if response.status().is_success() { Ok(()) } else { Err(classify_response(&response, WHAT)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified_by_what_to_do_next() {
        let kind = |code: u16| match classify(StatusCode::from_u16(code).unwrap(), "GET x") {
            Failure::Refused(_) => "refused",
            Failure::NotAvailable(_) => "not available",
            Failure::Retry(_) => "retry",
            Failure::RetryAfter(..) => "retry after",
            Failure::Rejected(_) => "rejected",
        };
        assert_eq!(kind(401), "refused");
        assert_eq!(kind(403), "refused");
        for code in [404, 405, 501] {
            assert_eq!(kind(code), "not available", "{code}");
        }
        for code in [408, 429, 500, 502, 503, 504] {
            assert_eq!(kind(code), "retry", "{code}");
        }
        assert_eq!(kind(400), "rejected");
        assert_eq!(kind(422), "rejected");
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_a_date_and_capped() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        let in_a_minute = httpdate::fmt_http_date(now + Duration::from_secs(60));
        assert_eq!(parse_retry_after(&in_a_minute, now), Some(Duration::from_secs(60)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(60));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("86400", now), Some(MAX_RETRY_AFTER));
        for nonsense in ["", "soon", "-5", "1.5", "Someday, 99 Foo 2024"] {
            assert_eq!(parse_retry_after(nonsense, now), None, "{nonsense:?}");
        }
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let builder = crate::ClientBuilder::new("http://127.0.0.1:1", "pnn_srv_s3cret");
        let http = Http::new(&builder.config).unwrap();
        for text in [format!("{builder:?}"), format!("{http:?}")] {
            assert!(!text.contains("s3cret"), "{text}");
        }
    }

    #[test]
    fn urls_must_be_http() {
        let config = |url: &str| crate::ClientBuilder::new(url, "pnn_srv_x").config;
        assert!(Http::new(&config("http://127.0.0.1:1")).is_ok());
        assert!(matches!(Http::new(&config("ftp://host")), Err(BuildError::InvalidUrl(_))));
        assert!(matches!(Http::new(&config("not a url")), Err(BuildError::InvalidUrl(_))));
        if !cfg!(feature = "rustls") {
            assert!(matches!(Http::new(&config("https://host")), Err(BuildError::TlsNotEnabled)));
        }
    }
}
