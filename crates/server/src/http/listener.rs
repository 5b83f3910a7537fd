//! The write stall guard of every accepted connection: it is closed when its writes stall.
//!
//! A client that stops reading (a stuck SSE subscriber, a hung proxy) fills the socket's buffers, and from
//! then on the server can neither send to it nor finish its response. Nothing in HTTP notices: the connection
//! would stay open, holding its buffers, for as long as the peer keeps acknowledging zero-window probes, and
//! graceful shutdown would wait for it. [`StallGuard`] fails a write that has made no progress for the
//! configured time, which makes hyper drop the connection.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// An I/O stream whose writes fail with `TimedOut` once they have been pending, without any progress, for
/// longer than a limit. Reads are untouched: an idle connection is not a stalled one.
#[derive(Debug)]
pub struct StallGuard<T> {
    inner: T,
    limit: Duration,
    /// Running while a write is pending; reset by any progress.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<T> StallGuard<T> {
    /// Wraps `inner`.
    pub fn new(inner: T, limit: Duration) -> Self {
        StallGuard { inner, limit, stalled: None }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// Called when a write is pending: starts the clock, or fails once it has run out. The timer registers
    /// the task's waker, so the task is woken to fail even if the socket never becomes writable.
    fn pending<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        let limit = self.limit;
        let timer = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        ready!(timer.as_mut().poll(cx));
        Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "the peer stopped reading")))
    }

    fn progressed<R>(&mut self, result: Poll<io::Result<R>>, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        match result {
            Poll::Pending => self.pending(cx),
            ready @ Poll::Ready(_) => {
                self.stalled = None;
                ready
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for StallGuard<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for StallGuard<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.progressed(result, cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.progressed(result, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A socket's flush does nothing: it says nothing about progress.
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn a_write_the_peer_never_reads_fails_after_the_limit() {
        let (near, mut far) = tokio::io::duplex(64);
        let mut guarded = StallGuard::new(near, Duration::from_millis(100));
        let started = std::time::Instant::now();
        let mut failure = None;
        for _ in 0..100 {
            if let Err(e) = guarded.write_all(&[0u8; 64]).await {
                failure = Some(e);
                break;
            }
        }
        let failure = failure.expect("the write fails");
        assert_eq!(failure.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(100));
        drop(guarded);
        let mut rest = Vec::new();
        far.read_to_end(&mut rest).await.expect("what was written before the stall");
        assert_eq!(rest.len(), 64);
        // A reader that keeps up never trips it.
        let (near, far2) = tokio::io::duplex(64);
        let mut guarded = StallGuard::new(near, Duration::from_millis(100));
        let reader = tokio::spawn(async move {
            let mut far2 = far2;
            let mut sink = Vec::new();
            far2.read_to_end(&mut sink).await.map(|_| sink.len())
        });
        for _ in 0..20 {
            guarded.write_all(&[1u8; 64]).await.expect("the reader keeps up");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(guarded);
        assert_eq!(reader.await.unwrap().unwrap(), 20 * 64);
    }
}
