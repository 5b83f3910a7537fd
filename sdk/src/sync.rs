//! Keeping the flags current: the stream when it works, polling when it does not, until the client closes or
//! the server refuses the key.
//!
//! - Stream failures (network errors, 5xx, a dead connection, the stream ending) are retried after a delay
//!   from [`Backoff`] (at most `max_reconnect_delay`, 4 s by default), for as long as they last: the client is
//!   streaming again within that delay of the server answering, and resumes with `Last-Event-ID`. A
//!   connection that stays up for a minute resets the count.
//! - After `stream_failures_before_polling` failures in a row the client also polls the snapshot, at most
//!   every `poll_interval`, between stream attempts: flags stay current where the stream breaks but the
//!   snapshot does not (a proxy that cuts long connections).
//! - A refused stream (404, 405, 501, not an event stream) means polling, with a new stream attempt every
//!   ten minutes.
//! - 401/403 anywhere stops everything: [`Status::Failed`]. The last flags keep being served.
//! - 429 or 503 with `Retry-After` (on the stream or a poll): the next attempt, whichever it is, waits at
//!   least that long (capped at five minutes).
//! - The status is [`Status::Interrupted`] from the first failure until a stream or a poll succeeds again.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::client::Shared;
use crate::error::Status;
use crate::http::Failure;

/// A stream connection that lasts this long was healthy: it resets the failure count.
pub(crate) const HEALTHY: Duration = Duration::from_secs(60);
/// How long to poll after the stream was refused before trying it again.
const AFTER_REFUSAL: Duration = Duration::from_secs(600);

enum Mode {
    Stream,
    /// Polling; try the stream again at this instant (never when streaming is off).
    Poll {
        stream_at: Option<Instant>,
    },
}

/// What a poll came to.
enum Polled {
    Done,
    /// Stop: the key was refused.
    Stop,
    /// Not before this instant (the server's `Retry-After`).
    NotBefore(Instant),
}

pub(crate) async fn run(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let config = &shared.config;
    let mut backoff = Backoff::new(config.initial_reconnect_delay, config.max_reconnect_delay, HEALTHY);
    let mut mode = if config.stream { Mode::Stream } else { Mode::Poll { stream_at: None } };
    // When the last poll between failed stream attempts was made.
    let mut polled_at: Option<Instant> = None;
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
                not_before = failure.retry_after().map(|after| Instant::now() + after);
                backoff.connection_ended(started.elapsed());
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
                        let poll_due = polled_at.is_none_or(|at| at.elapsed() >= config.poll_interval);
                        if not_before.is_none()
                            && backoff.failures() >= config.stream_failures_before_polling
                            && poll_due
                        {
                            polled_at = Some(Instant::now());
                            let polled = tokio::select! {
                                polled = poll(&shared) => polled,
                                _ = shutdown.changed() => return,
                            };
                            match polled {
                                Polled::Done => {}
                                Polled::Stop => return,
                                Polled::NotBefore(at) => not_before = Some(at),
                            }
                        }
                        delay
                    }
                }
            }
            Mode::Poll { stream_at } => {
                let polled = tokio::select! {
                    polled = poll(&shared) => polled,
                    _ = shutdown.changed() => return,
                };
                match polled {
                    Polled::Done => {}
                    Polled::Stop => return,
                    Polled::NotBefore(at) => not_before = Some(at),
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

/// One poll, its failure reflected in the status.
async fn poll(shared: &Arc<Shared>) -> Polled {
    match poll_once(shared).await {
        Ok(()) => Polled::Done,
        Err(Failure::Refused(error)) => {
            shared.set_status(Status::Failed { error });
            Polled::Stop
        }
        Err(failure) => {
            let not_before = failure.retry_after().map(|after| Instant::now() + after);
            shared.set_status(Status::Interrupted { error: failure.message().to_owned() });
            not_before.map_or(Polled::Done, Polled::NotBefore)
        }
    }
}

/// One poll: a new snapshot replaces the flags; 304 means they are current.
async fn poll_once(shared: &Arc<Shared>) -> Result<(), Failure> {
    let Some(http) = &shared.http else { return Ok(()) };
    if let Some(snapshot) = http.snapshot(shared.store.server_revision()).await? {
        let revision = snapshot.revision;
        crate::stream::report(shared, "polled snapshot", revision, shared.store.replace_from_server(snapshot));
    }
    shared.set_status(Status::Ready);
    Ok(())
}
