//! The body of a watch response: each event encoded as one line, until the events end or
//! the request's timeout passes.
//!
//! A `Body` of its own rather than stream combinators (`take_until`, `map`,
//! `Body::from_stream`): it is polled once per event per watcher, and a write seen by
//! 1,000 watchers runs it 1,000 times in a row.

use crate::registry::store::WatchEvent;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use hyper::body::Frame;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

pub struct WatchBody<E> {
    events: BoxStream<'static, WatchEvent>,
    deadline: Pin<Box<tokio::time::Sleep>>,
    encode: E,
}

impl<E: FnMut(WatchEvent) -> Bytes> WatchBody<E> {
    /// `events` until `timeout`, each written as `encode` makes it.
    pub fn new(events: BoxStream<'static, WatchEvent>, timeout: std::time::Duration, encode: E) -> Self {
        WatchBody { events, deadline: Box::pin(tokio::time::sleep(timeout)), encode }
    }
}

impl<E: FnMut(WatchEvent) -> Bytes + Unpin> hyper::body::Body for WatchBody<E> {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        let event = ready!(this.events.poll_next_unpin(cx));
        Poll::Ready(event.map(|event| Ok(Frame::data((this.encode)(event)))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::time::Duration;

    fn bookmark(rv: i64) -> WatchEvent {
        WatchEvent::Bookmark(rv, false)
    }

    fn encode(event: WatchEvent) -> Bytes {
        match event {
            WatchEvent::Bookmark(rv, _) => Bytes::from(format!("{rv}\n")),
            _ => Bytes::new(),
        }
    }

    #[tokio::test]
    async fn writes_each_event_as_its_own_frame_until_the_events_end() {
        let events = futures::stream::iter([bookmark(1), bookmark(2)]).boxed();
        let mut body = WatchBody::new(events, Duration::from_secs(60), encode);
        let mut frames = Vec::new();
        while let Some(frame) = body.frame().await {
            frames.push(frame.unwrap().into_data().unwrap());
        }
        assert_eq!(frames, [Bytes::from("1\n"), Bytes::from("2\n")]);
    }

    #[tokio::test]
    async fn ends_at_the_timeout_while_no_event_comes() {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tx.send(bookmark(7)).await.unwrap();
        let timeout = Duration::from_millis(200);
        let started = tokio::time::Instant::now();
        let mut body = WatchBody::new(tokio_stream::wrappers::ReceiverStream::new(rx).boxed(), timeout, encode);
        assert_eq!(body.frame().await.unwrap().unwrap().into_data().unwrap(), Bytes::from("7\n"));
        assert!(body.frame().await.is_none(), "the body ends at the timeout while its events go on");
        assert!(started.elapsed() >= timeout);
        drop(tx);
    }
}
