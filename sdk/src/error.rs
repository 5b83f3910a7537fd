//! The client's errors and status.

use std::fmt;
use std::path::PathBuf;

/// Why [`ClientBuilder::build`](crate::ClientBuilder::build) failed: a setting that can never work.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// The base URL is not an `http://` or `https://` URL.
    InvalidUrl(String),
    /// `https://` needs the crate's `rustls` feature.
    TlsNotEnabled,
    /// The bootstrap file could not be read or is not a snapshot.
    Bootstrap {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: String,
    },
    /// The HTTP client could not be set up.
    Http(String),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::InvalidUrl(url) => write!(f, "the base URL {url:?} is not an http:// or https:// URL"),
            BuildError::TlsNotEnabled => f.write_str("https:// URLs need the `rustls` feature of pennon-sdk"),
            BuildError::Bootstrap { path, error } => {
                write!(f, "the bootstrap file {} cannot be used: {error}", path.display())
            }
            BuildError::Http(e) => write!(f, "the HTTP client cannot be set up: {e}"),
        }
    }
}

impl std::error::Error for BuildError {}

/// Why [`Client::wait_until_ready`](crate::Client::wait_until_ready) returned without the client being ready.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadyError {
    /// The flags did not arrive in time; the client goes on trying (and serves what it has meanwhile).
    Timeout,
    /// The client stopped trying (see [`Status::Failed`]); it serves the last flags it had.
    Failed(String),
    /// The client was closed.
    Closed,
}

impl fmt::Display for ReadyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadyError::Timeout => f.write_str("the flags did not arrive in time"),
            ReadyError::Failed(e) => write!(f, "the client failed: {e}"),
            ReadyError::Closed => f.write_str("the client was closed"),
        }
    }
}

impl std::error::Error for ReadyError {}

/// Where the client stands with the server. Whatever the status, evaluation serves the last flags it had.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// Not yet current: connecting for the first time (serving the cache file, the bootstrap or the callers'
    /// defaults meanwhile).
    Initializing,
    /// Current: connected to the stream, or polling successfully.
    Ready,
    /// Not current: the server cannot be reached or answers with errors. Serving the last flags it had and
    /// retrying with backoff.
    Interrupted {
        /// The last error.
        error: String,
    },
    /// Offline mode or test data: the flags never come from the server.
    Offline,
    /// Stopped for good: the server refused the key (401/403), which retrying cannot fix. Serving the last
    /// flags it had.
    Failed {
        /// What the server said.
        error: String,
    },
    /// [`Client::close`](crate::Client::close) was called.
    Closed,
}

impl Status {
    /// Whether the client is current (or offline, where there is nothing more to wait for).
    pub fn is_ready(&self) -> bool {
        matches!(self, Status::Ready | Status::Offline)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Initializing => f.write_str("initializing"),
            Status::Ready => f.write_str("ready"),
            Status::Interrupted { error } => write!(f, "interrupted: {error}"),
            Status::Offline => f.write_str("offline"),
            Status::Failed { error } => write!(f, "failed: {error}"),
            Status::Closed => f.write_str("closed"),
        }
    }
}
