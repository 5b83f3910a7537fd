//! Keeping the flags current: the stream when it works, polling when it does not, until the client closes or
//! the server refuses the key.
//!
//! - Stream failures (network errors, 5xx, a dead connection, the stream ending) are retried after a delay
//!   from [`Backoff`]. After `stream_failures_before_polling` failures in a row the client polls for a while
//!   (a minute, doubling with each fallback up to half an hour) and then tries the stream again. A connection
//!   that stays up for a minute resets both counts.
//! - A refused stream (404, 405, 501, not an event stream) means polling, with a new stream attempt every
//!   ten minutes.
//! - 401/403 anywhere stops everything: [`Status::Failed`]. The last flags keep being served.
//! - 429 or 503 with `Retry-After` (on the stream or a poll): the next attempt, whichever it is, waits at
//!   least that long (capped at five minutes).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::client::Shared;
use crate::error::Status;
use crate::http::Failure;
use crate::state::Source;

/// A stream connection that lasts this long was healthy: it resets the failure counts.
pub(crate) const HEALTHY: Duration = Duration::from_secs(60);
/// How long to poll after the stream was refused before trying it again.
const AFTER_REFUSAL: Duration = Duration::from_secs(600);
/// How long to poll after the first fallback caused by stream failures; doubles with each further one.
const FIRST_FALLBACK: Duration = Duration::from_secs(60);
const MAX_FALLBACK: Duration = Duration::from_secs(1800);

enum Mode {
    Stream,
    /// Polling; try the stream again at this instant (never when streaming is off).
    Poll {
        stream_at: Option<Instant>,
    },
}

pub(crate) async fn run(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let config = &shared.config;
    let mut backoff = Backoff::new(config.initial_reconnect_delay, config.max_reconnect_delay, HEALTHY);
    let mut mode = if config.stream { Mode::Stream } else { Mode::Poll { stream_at: None } };
    let mut fallbacks = 0u32;
    loop {
        // Set when the server answered 429/503 with `Retry-After`: no request before then.
        let mut not_before = None;
        let pause = match mode {
            Mode::Stream => {
                let started = Instant::now();
                let failure = tokio::select! {
                    failure = crate::stream::connect(&shared, &mut backoff) => failure,
                    _ = shutdown.changed() => return,
                };
                let lasted = started.elapsed();
                not_before = failure.retry_after().map(|after| Instant::now() + after);
                backoff.connection_ended(lasted);
                if lasted >= HEALTHY {
                    fallbacks = 0;
                }
                match failure {
                    Failure::Refused(error) => {
                        shared.set_status(Status::Failed { error });
                        return;
                    }
                    Failure::NotAvailable(why) => {
                        tracing::info!(%why, "the event stream is not available; polling instead");
                        mode = Mode::Poll { stream_at: Some(Instant::now() + AFTER_REFUSAL) };
                        Duration::ZERO
                    }
                    Failure::Retry(error) | Failure::RetryAfter(error, _) | Failure::Rejected(error) => {
                        tracing::debug!(%error, failures = backoff.failures() + 1, "the event stream failed");
                        shared.set_status(Status::Interrupted { error });
                        let delay = backoff.next_delay(&mut rand::rng());
                        if backoff.failures() >= config.stream_failures_before_polling {
                            let poll_for = FIRST_FALLBACK.saturating_mul(1 << fallbacks.min(10)).min(MAX_FALLBACK);
                            fallbacks += 1;
                            backoff.reset();
                            tracing::info!(?poll_for, "the event stream keeps failing; polling for a while");
                            mode = Mode::Poll { stream_at: Some(Instant::now() + poll_for) };
                            Duration::ZERO
                        } else {
                            delay
                        }
                    }
                }
            }
            Mode::Poll { stream_at } => {
                let polled = tokio::select! {
                    polled = poll_once(&shared) => polled,
                    _ = shutdown.changed() => return,
                };
                match polled {
                    Ok(()) => {}
                    Err(Failure::Refused(error)) => {
                        shared.set_status(Status::Failed { error });
                        return;
                    }
                    Err(failure) => {
                        not_before = failure.retry_after().map(|after| Instant::now() + after);
                        shared.set_status(Status::Interrupted { error: failure.message().to_owned() });
                    }
                }
                if stream_at.is_some_and(|at| Instant::now() >= at) {
                    mode = Mode::Stream;
                    Duration::ZERO
                } else {
                    config.poll_interval
                }
            }
        };
        let pause = match not_before {
            Some(at) => pause.max(at.saturating_duration_since(Instant::now())),
            None => pause,
        };
        if !pause.is_zero() {
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// One poll: a new snapshot replaces the flags; 304 means they are current.
async fn poll_once(shared: &Arc<Shared>) -> Result<(), Failure> {
    let Some(http) = &shared.http else { return Ok(()) };
    if let Some(snapshot) = http.snapshot(shared.store.server_revision()).await? {
        shared.store.replace(snapshot, Source::Server);
        shared.persist();
    }
    shared.set_status(Status::Ready);
    Ok(())
}
