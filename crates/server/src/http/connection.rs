//! The clocks of one accepted connection: a client that is slow to send a request's head or body, or that
//! keeps a connection open with no request, is cut off.
//!
//! [`Activity`] follows the connection through its requests: the reads of its socket ([`Watched`]), the
//! start and end of each request's body ([`RequestBody`]) and of each response ([`ResponseBody`]). From
//! that it knows which clock runs:
//! - no request in progress, bytes of a request's head arrived (or the connection just opened): the head
//!   must be complete within the header read timeout;
//! - no request in progress and nothing arrived since the last response: the idle timeout;
//! - a request in progress whose body is still arriving: the body read timeout, from the end of the head;
//! - a request in progress whose body is read (or that has none): no clock, however long the answer takes.
//!   An SDK's stream is such a request, so it is never cut off for being quiet between heartbeats (the
//!   write stall guard of [`crate::http::listener`] covers a client that stops reading it).
//!
//! Nothing tells the watcher ([`Activity::expired`]) that a clock started: it looks at the connection at the
//! deadline of the clock that runs, and at least once per the shortest timeout. A clock that starts between
//! two looks cannot run out before the next one, so no deadline is missed, and a busy keep-alive connection
//! costs no timer and no wake-up per request.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// The timeouts of a connection.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// For a request's head.
    pub header_read: Duration,
    /// For a request's body.
    pub body_read: Duration,
    /// For the wait between requests.
    pub idle: Duration,
}

/// Which clock ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The request's head did not arrive in time.
    Header,
    /// The request's body did not arrive in time.
    Body,
    /// No request came.
    Idle,
}

impl Phase {
    /// As a label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Header => "header",
            Phase::Body => "body",
            Phase::Idle => "idle",
        }
    }
}

/// The watcher looks at least once a day, whatever the timeouts (which keeps its instants far from overflow).
const LOOK_AT_LEAST_EVERY_MS: u64 = 86_400_000;

/// "Not running", for the millisecond clocks below.
const NONE: u64 = u64::MAX;

/// What one connection is doing, in milliseconds since it was accepted.
#[derive(Debug)]
pub struct Activity {
    opened: Instant,
    /// Requests whose response has not been sent in full.
    in_flight: AtomicUsize,
    /// When the head of the next request began to arrive (the connection's start for the first).
    head_since: AtomicU64,
    /// When the last response was sent, while no bytes have arrived since.
    idle_since: AtomicU64,
    /// When the head of a request whose body is still arriving was read.
    body_since: AtomicU64,
    /// Whether a request's body was left unread: closing then lingers (see [`Watched`]).
    unread: std::sync::atomic::AtomicBool,
}

impl Activity {
    /// A connection accepted now: its first request's head is awaited.
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            head_since: AtomicU64::new(0),
            idle_since: AtomicU64::new(NONE),
            body_since: AtomicU64::new(NONE),
            unread: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn now(&self) -> u64 {
        self.opened.elapsed().as_millis() as u64
    }

    /// Bytes arrived.
    fn read(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0 && self.head_since.load(Ordering::Relaxed) == NONE {
            self.head_since.store(self.now(), Ordering::Relaxed);
            self.idle_since.store(NONE, Ordering::Relaxed);
        }
    }

    /// Whether the current request's body has not been read to its end (still arriving, or dropped unread):
    /// its answer then closes the connection, or what the client sends next would be taken for the rest of the
    /// body.
    pub fn body_unread(&self) -> bool {
        self.unread.load(Ordering::Relaxed) || self.body_since.load(Ordering::Relaxed) != NONE
    }

    /// A request's head was read; `body` says whether a body follows. The guard ends the request.
    pub fn request(self: &Arc<Self>, body: bool) -> (InFlight, BodyGuard) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.head_since.store(NONE, Ordering::Relaxed);
        self.idle_since.store(NONE, Ordering::Relaxed);
        if body {
            self.body_since.store(self.now(), Ordering::Relaxed);
        }
        (InFlight(Some(self.clone())), BodyGuard(body.then(|| self.clone())))
    }

    /// The clock that runs now and when it runs out.
    fn deadline(&self, timeouts: &Timeouts) -> Option<(u64, Phase)> {
        let after = |since: u64, limit: Duration| since.saturating_add(limit.as_millis() as u64);
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            let body = self.body_since.load(Ordering::Relaxed);
            return (body != NONE).then(|| (after(body, timeouts.body_read), Phase::Body));
        }
        let head = self.head_since.load(Ordering::Relaxed);
        if head != NONE {
            return Some((after(head, timeouts.header_read), Phase::Header));
        }
        let idle = self.idle_since.load(Ordering::Relaxed);
        (idle != NONE).then(|| (after(idle, timeouts.idle), Phase::Idle))
    }

    /// Resolves when a clock runs out.
    pub async fn expired(&self, timeouts: Timeouts) -> Phase {
        // Any clock that starts after a look runs out no sooner than this after it.
        let look_every = timeouts.header_read.min(timeouts.body_read).min(timeouts.idle).as_millis() as u64;
        let look_every = look_every.clamp(1, LOOK_AT_LEAST_EVERY_MS);
        let timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(timer);
        loop {
            let now = self.now();
            let next = match self.deadline(&timeouts) {
                Some((deadline, phase)) if deadline <= now => return phase,
                Some((deadline, _)) => deadline.min(now.saturating_add(look_every)),
                None => now.saturating_add(look_every),
            };
            timer.as_mut().reset(self.opened + Duration::from_millis(next));
            timer.as_mut().await;
        }
    }
}

/// Held while a request is in progress: dropped with its response (sent, or abandoned).
#[derive(Debug)]
pub struct InFlight(Option<Arc<Activity>>);

impl InFlight {
    fn end(&mut self) {
        if let Some(activity) = self.0.take()
            && activity.in_flight.fetch_sub(1, Ordering::Relaxed) == 1
        {
            activity.idle_since.store(activity.now(), Ordering::Relaxed);
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.end();
    }
}

/// Held while a request's body is arriving: dropped when it has arrived, or when the handler drops it.
#[derive(Debug)]
pub struct BodyGuard(Option<Arc<Activity>>);

impl BodyGuard {
    fn end(&mut self) {
        if let Some(activity) = self.0.take() {
            activity.body_since.store(NONE, Ordering::Relaxed);
        }
    }
}

impl Drop for BodyGuard {
    fn drop(&mut self) {
        if let Some(activity) = &self.0 {
            activity.unread.store(true, Ordering::Relaxed);
        }
        self.end();
    }
}

/// What a body's end sets off: the body clock stops when a request's body has been read, and the request ends
/// when its response has been sent.
pub trait OnEnd {
    /// Called once the body has ended (all of it, or an error); dropping the holder ends it too.
    fn end(&mut self);
}

impl OnEnd for InFlight {
    fn end(&mut self) {
        InFlight::end(self);
    }
}

impl OnEnd for BodyGuard {
    fn end(&mut self) {
        BodyGuard::end(self);
    }
}

pin_project_lite::pin_project! {
    /// A body that calls its [`OnEnd`] when it has been read or sent in full.
    pub struct EndingBody<B, E> {
        #[pin]
        inner: B,
        on_end: E,
    }
}

/// A request's body, which stops the body clock when it has been read.
pub type RequestBody<B> = EndingBody<B, BodyGuard>;
/// A response's body, which ends its request when it has been sent (or dropped).
pub type ResponseBody<B> = EndingBody<B, InFlight>;

impl<B, E> EndingBody<B, E> {
    /// `inner`, followed by `on_end`.
    pub fn new(inner: B, on_end: E) -> Self {
        EndingBody { inner, on_end }
    }
}

impl<B: HttpBody<Data = Bytes>, E: OnEnd> HttpBody for EndingBody<B, E> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let frame = this.inner.poll_frame(cx);
        if matches!(frame, Poll::Ready(None | Some(Err(_)))) {
            this.on_end.end();
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// How long, at most, a closing connection keeps reading what its client still sends.
const LINGER: Duration = Duration::from_secs(5);
/// How many bytes, at most, a closing connection reads and discards.
const LINGER_BYTES: usize = 16 * 1024 * 1024;

/// A connection's socket, whose reads tell [`Activity`] that a request's head began to arrive.
///
/// Its shutdown lingers: after the answer and the end of sending, it reads and discards what the client
/// still sends (for up to `LINGER` and `LINGER_BYTES`) before the socket is closed. A request refused
/// before its body was read (a 413 for an announced length) would otherwise be closed with the body's
/// bytes unread, which resets the connection, and the client, still sending, may never see the answer.
#[derive(Debug)]
pub struct Watched<T> {
    inner: T,
    activity: Arc<Activity>,
    lingered: usize,
    linger_until: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<T> Watched<T> {
    /// Wraps `inner`.
    pub fn new(inner: T, activity: Arc<Activity>) -> Self {
        Watched { inner, activity, lingered: 0, linger_until: None }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        result
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(Pin::new(&mut self.inner).poll_shutdown(cx))?;
        if !self.activity.unread.load(Ordering::Relaxed) {
            return Poll::Ready(Ok(()));
        }
        let this = &mut *self;
        let mut scratch = [0u8; 8192];
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if !buf.filled().is_empty() && this.lingered < LINGER_BYTES => {
                    this.lingered += buf.filled().len();
                }
                Poll::Ready(_) => return Poll::Ready(Ok(())),
                Poll::Pending => {
                    let timer = this.linger_until.get_or_insert_with(|| Box::pin(tokio::time::sleep(LINGER)));
                    return timer.as_mut().poll(cx).map(Ok);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUTS: Timeouts = Timeouts {
        header_read: Duration::from_secs(10),
        body_read: Duration::from_secs(30),
        idle: Duration::from_mins(1),
    };

    #[test]
    fn the_clock_follows_the_requests() {
        let activity = Activity::new();
        assert_eq!(activity.deadline(&TIMEOUTS).map(|d| d.1), Some(Phase::Header), "the first head is awaited");
        let (in_flight, body) = activity.request(true);
        assert_eq!(activity.deadline(&TIMEOUTS).map(|d| d.1), Some(Phase::Body));
        drop(body);
        assert_eq!(activity.deadline(&TIMEOUTS), None, "an answer takes as long as it takes");
        drop(in_flight);
        assert_eq!(activity.deadline(&TIMEOUTS).map(|d| d.1), Some(Phase::Idle));
        activity.read();
        assert_eq!(activity.deadline(&TIMEOUTS).map(|d| d.1), Some(Phase::Header));
        let (in_flight, body) = activity.request(false);
        drop(body);
        activity.read();
        assert_eq!(activity.deadline(&TIMEOUTS), None, "reads during a request start no clock");
        drop(in_flight);
        assert_eq!(activity.deadline(&TIMEOUTS).map(|d| d.1), Some(Phase::Idle));
    }

    /// The watcher is told nothing: a clock that starts while it sleeps must still be caught on time.
    #[tokio::test]
    async fn clocks_that_start_unannounced_run_out_on_time() {
        let timeouts = Timeouts {
            header_read: Duration::from_millis(400),
            body_read: Duration::from_secs(3),
            idle: Duration::from_secs(3),
        };
        let activity = Activity::new();
        let (in_flight, body) = activity.request(false);
        drop(body);
        let watcher = tokio::spawn({
            let activity = activity.clone();
            async move { (activity.expired(timeouts).await, activity.now()) }
        });
        // A long answer (no clock) ends: the idle clock runs from then, for three seconds.
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(in_flight);
        // Then bytes of the next head arrive: the header clock runs out 400 ms later, long before the idle one.
        tokio::time::sleep(Duration::from_millis(500)).await;
        activity.read();
        let read_at = activity.now();
        let outcome = tokio::time::timeout(Duration::from_secs(5), watcher).await;
        let (phase, at) = outcome.expect("the head's clock ran out unseen").unwrap();
        assert_eq!(phase, Phase::Header);
        let after = at - read_at;
        assert!((400..1400).contains(&after), "ran out {after} ms after the head began, not at its deadline");
    }
}
