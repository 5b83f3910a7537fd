//! The relay's requests to its upstream (a server or another relay): the snapshot, the stream, the relay
//! information and the SDK metrics, each made with the environment's server key.

use std::time::Duration;

use pennon_engine::protocol::MetricsBatch;
use reqwest::header::{AUTHORIZATION, ETAG, IF_NONE_MATCH};
use reqwest::{Client, StatusCode};
use secrecy::{ExposeSecret as _, SecretString};

use crate::api::sdk::relay::RelayInfo;

/// Why a request to the upstream did not give what was asked.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No answer: connection refused or cut, timeout.
    #[error("the upstream does not answer: {0}")]
    Unreachable(#[from] reqwest::Error),
    /// An answer other than the expected one.
    #[error("the upstream answered {0}")]
    Status(StatusCode),
    /// An answer that cannot be read.
    #[error("the upstream's answer cannot be read: {0}")]
    Body(#[from] serde_json::Error),
}

/// The upstream, as seen with one key.
#[derive(Debug, Clone)]
pub struct Upstream {
    base: String,
    key: SecretString,
    /// With a relay credential: the environment it reads, sent in `X-Pennon-Environment`.
    environment: Option<String>,
    /// For the requests that answer at once.
    http: Client,
    /// For the stream, which has no overall timeout.
    streaming: Client,
}

/// What a conditional request brought.
pub enum Fetched<T> {
    /// Something new, with its tag.
    New(T, String),
    /// Unchanged since the tag sent.
    Unchanged,
}

impl Upstream {
    /// The upstream at `base` (e.g. `http://pennon:8080`), used with `key`: a server key, or a relay
    /// credential with the `environment` it reads.
    pub fn new(base: &url::Url, key: SecretString, environment: Option<String>, timeout: Duration) -> Self {
        let base = base.as_str().trim_end_matches('/').to_owned();
        let http = Client::builder().timeout(timeout).connect_timeout(timeout).build().expect("an HTTP client");
        let streaming = Client::builder().connect_timeout(timeout).build().expect("an HTTP client");
        Upstream { base, key, environment, http, streaming }
    }

    /// `request` with the credential (and the environment a relay credential reads).
    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let request = request.header(AUTHORIZATION, format!("Bearer {}", self.key.expose_secret()));
        match &self.environment {
            Some(environment) => request.header(crate::auth::ENVIRONMENT_HEADER, environment),
            None => request,
        }
    }

    /// The key itself (to name cache files after a digest of it).
    pub fn key(&self) -> &str {
        self.key.expose_secret()
    }

    /// The snapshot, unless it is still at revision `held`; the tag is the revision.
    pub async fn snapshot(&self, held: Option<u64>) -> Result<Fetched<pennon_engine::Snapshot>, UpstreamError> {
        let mut request = self.authorized(self.http.get(format!("{}/api/v1/sdk/snapshot", self.base)));
        if let Some(held) = held {
            request = request.header(IF_NONE_MATCH, format!("\"{held}\""));
        }
        let response = request.send().await?;
        match response.status() {
            StatusCode::NOT_MODIFIED => Ok(Fetched::Unchanged),
            StatusCode::OK => {
                let body = response.bytes().await?;
                let snapshot: pennon_engine::Snapshot = serde_json::from_slice(&body)?;
                let tag = snapshot.revision.to_string();
                Ok(Fetched::New(snapshot, tag))
            }
            status => Err(UpstreamError::Status(status)),
        }
    }

    /// Opens the stream, resuming after revision `held` when given.
    pub async fn stream(&self, held: Option<u64>) -> Result<reqwest::Response, UpstreamError> {
        let mut request = self
            .authorized(self.streaming.get(format!("{}/api/v1/sdk/stream", self.base)))
            .header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some(held) = held {
            request = request.header("last-event-id", held.to_string());
        }
        let response = request.send().await?;
        match response.status() {
            StatusCode::OK => Ok(response),
            status => Err(UpstreamError::Status(status)),
        }
    }

    /// The relay information, unless unchanged since `etag`.
    pub async fn relay_info(&self, etag: Option<&str>) -> Result<Fetched<RelayInfo>, UpstreamError> {
        let mut request = self.authorized(self.http.get(format!("{}/api/v1/sdk/relay", self.base)));
        if let Some(etag) = etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        let response = request.send().await?;
        match response.status() {
            StatusCode::NOT_MODIFIED => Ok(Fetched::Unchanged),
            StatusCode::OK => {
                let tag = response.headers().get(ETAG).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                let body = response.bytes().await?;
                Ok(Fetched::New(serde_json::from_slice(&body)?, tag))
            }
            status => Err(UpstreamError::Status(status)),
        }
    }

    /// Posts a metrics batch.
    pub async fn post_metrics(&self, batch: &MetricsBatch) -> Result<(), UpstreamError> {
        let body = serde_json::to_vec(batch)?;
        let response = self
            .authorized(self.http.post(format!("{}/api/v1/sdk/metrics", self.base)))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await?;
        match response.status() {
            status if status.is_success() => Ok(()),
            status => Err(UpstreamError::Status(status)),
        }
    }
}
