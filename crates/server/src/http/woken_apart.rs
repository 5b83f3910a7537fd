//! A future that a task polls only when the future's own waker was woken.
//!
//! A connection's task is woken by its socket once or twice a request, and `select!` polls every branch on
//! each wake-up: the clocks' timer and the shutdown signal's waiter too, though neither has anything to say.
//! [`WokenApart`] gives its future a waker of its own, which records the wake-up before passing it on to the
//! task; a poll without such a record returns `Pending` at once.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

/// Whether the inner future's waker was woken since it was last polled, and the task to wake.
#[derive(Debug, Default)]
struct Flag {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

pin_project_lite::pin_project! {
    /// `inner`, polled on its first poll and then only after it woke its waker.
    #[derive(Debug)]
    pub struct WokenApart<F> {
        #[pin]
        inner: F,
        flag: Arc<Flag>,
        waker: Waker,
    }
}

impl<F: Future> WokenApart<F> {
    /// Wraps `inner`.
    pub fn new(inner: F) -> Self {
        let flag = Arc::new(Flag { woken: AtomicBool::new(true), task: AtomicWaker::new() });
        let waker = Waker::from(flag.clone());
        WokenApart { inner, flag, waker }
    }
}

impl<F: Future> Future for WokenApart<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        // Registered before the record is read: a wake-up after the read wakes this task again.
        this.flag.task.register(cx.waker());
        if !this.flag.woken.swap(false, Ordering::Acquire) {
            return Poll::Pending;
        }
        this.inner.poll(&mut Context::from_waker(this.waker))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// Counts its polls; ready once `ready` is set, which is done by waking the stored waker.
    struct Probe {
        polls: Arc<AtomicUsize>,
        ready: Arc<AtomicBool>,
        waker: Arc<std::sync::Mutex<Option<Waker>>>,
    }

    impl Future for Probe {
        type Output = ();

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.polls.fetch_add(1, Ordering::SeqCst);
            if self.ready.load(Ordering::SeqCst) {
                return Poll::Ready(());
            }
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn other_wake_ups_do_not_poll_it_and_its_own_do() {
        let (polls, ready) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let waker = Arc::new(std::sync::Mutex::new(None::<Waker>));
        let probe = Probe { polls: polls.clone(), ready: ready.clone(), waker: waker.clone() };
        let mut apart = Box::pin(WokenApart::new(probe));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let task = tokio::spawn(async move {
            let mut other_wake_ups = 0;
            loop {
                tokio::select! {
                    biased;
                    Some(()) = rx.recv() => other_wake_ups += 1,
                    () = &mut apart => return other_wake_ups,
                }
            }
        });
        for _ in 0..10 {
            tx.send(()).unwrap();
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(polls.load(Ordering::SeqCst), 1, "only the first poll reached it");
        ready.store(true, Ordering::SeqCst);
        waker.lock().unwrap().take().expect("it stored a waker").wake();
        let other = tokio::time::timeout(std::time::Duration::from_secs(5), task).await.unwrap().unwrap();
        assert_eq!(other, 10);
        assert_eq!(polls.load(Ordering::SeqCst), 2, "its own wake-up polled it");
    }
}
