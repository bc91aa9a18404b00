//! A future that lets the executor run other tasks once, on any executor.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Returns pending once, asking to be polled again at once.
#[derive(Debug, Default)]
pub(crate) struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
