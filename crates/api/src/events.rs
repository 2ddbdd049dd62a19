//! [`Events`]: one subscriber's stream of a connection's events.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use tern_endpoint::{Lagged, Subscription};
use tern_proto::connection::Event;

/// The stream of [`Connection::events`](crate::Connection::events): each
/// item is an event, or `Err(Lagged(n))` where `n` events were missed
/// because this subscriber read too slowly. It ends after `Closed`.
///
/// The subscription holds the connection open like any handle.
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct Events {
    inner: Subscription,
}

impl Events {
    pub(crate) fn new(inner: Subscription) -> Self {
        Self { inner }
    }
}

impl futures::Stream for Events {
    type Item = Result<Event, Lagged>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next(cx)
    }
}
