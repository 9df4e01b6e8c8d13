//! `Stream` and `Sink` for [`Socket`].
//!
//! The poll-based impls wait through the same readiness path as the async
//! methods (`Core::wait`, which supports any number of waiters), not through
//! `AsyncFd::poll_read_ready`, which keeps one waker only: a stream half and
//! a sink half polling it would overwrite each other's waker and lose
//! wakeups. The pending wait lives in a `ReusableBoxFuture`, allocated once
//! per socket and direction, not per message.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures::{Sink, Stream};
use tokio_util::sync::ReusableBoxFuture;

use crate::budget::poll_budget;
use crate::raw::Stamp;
use crate::readiness::{Core, Received, Sent, Want};
use crate::{Error, Multipart, Result, Socket};

/// The poll-side state of a socket: a pending wait per direction and the
/// sink's one buffered message.
#[derive(Default)]
pub(crate) struct PollState {
    recv_wait: Option<Wait>,
    send_wait: Option<Wait>,
    /// A message accepted by `start_send` that the socket could not take
    /// yet.
    pending: Option<Multipart>,
    /// Whether the last wait for POLLOUT ended (see
    /// `Core::check_full_after_wait`).
    send_waited: bool,
}

impl fmt::Debug for PollState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PollState")
            .field("pending", &self.pending.is_some())
            .finish_non_exhaustive()
    }
}

/// A reusable wait for one direction.
struct Wait {
    future: ReusableBoxFuture<'static, Result<()>>,
    active: bool,
}

async fn wait_owned(core: Arc<Core>, want: Want, since: Stamp) -> Result<()> {
    let deadline = core.deadline(want);
    core.wait_until(want, deadline, Some(since)).await
}

impl Wait {
    /// Starts waiting after an attempt that left `since` (reusing the
    /// allocation of an earlier wait).
    fn start(slot: &mut Option<Wait>, core: &Arc<Core>, want: Want, since: Stamp) {
        let future = wait_owned(Arc::clone(core), want, since);
        match slot {
            Some(wait) => {
                wait.future.set(future);
                wait.active = true;
            }
            None => {
                *slot = Some(Wait {
                    future: ReusableBoxFuture::new(future),
                    active: true,
                })
            }
        }
    }

    /// Polls an active wait; `Ready(Ok)` also when none is active.
    fn poll(slot: &mut Option<Wait>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        match slot {
            Some(wait) if wait.active => {
                let result = ready!(wait.future.poll(cx));
                wait.active = false;
                Poll::Ready(result)
            }
            _ => Poll::Ready(Ok(())),
        }
    }
}

/// Receives whole messages; ends (`None`) once the socket is closed or its
/// context shut down. Other errors are yielded as items and the stream goes
/// on.
///
/// Cancel safety is that of [`Socket::recv`]: a message is taken from the
/// socket only in a poll that returns it.
impl Stream for Socket {
    type Item = Result<Multipart>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match ready!(Wait::poll(&mut this.poll.recv_wait, cx)) {
                Ok(()) => {}
                Err(Error::Closed | Error::ContextTerminated) => return Poll::Ready(None),
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
            let budget = ready!(poll_budget(cx));
            let mut msg = Multipart::new();
            match this.core.recv_into(&mut msg) {
                Ok(Received::Message { bytes }) => {
                    budget.made_progress(bytes);
                    this.core.after_success();
                    return Poll::Ready(Some(Ok(msg)));
                }
                Ok(Received::Nothing(stamp)) => {
                    Wait::start(&mut this.poll.recv_wait, &this.core, Want::Recv, stamp)
                }
                Err(Error::Closed | Error::ContextTerminated) => return Poll::Ready(None),
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
    }
}

impl Socket {
    /// Sends the sink's buffered message, if any, waiting as `send` does.
    fn poll_send_pending(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        loop {
            if self.poll.pending.is_none() {
                return Poll::Ready(Ok(()));
            }
            if let Err(e) = ready!(Wait::poll(&mut self.poll.send_wait, cx)) {
                self.poll.pending = None;
                return Poll::Ready(Err(e));
            }
            let budget = ready!(poll_budget(cx));
            let Some(msg) = self.poll.pending.as_mut() else {
                unreachable!("checked above")
            };
            match self.core.send_now(msg) {
                Sent::All { bytes } => {
                    budget.made_progress(bytes);
                    self.poll.pending = None;
                    self.poll.send_waited = false;
                    self.core.after_success();
                }
                Sent::Full(stamp) => {
                    if let Err(e) = self.core.check_full_after_wait(self.poll.send_waited) {
                        self.poll.pending = None;
                        self.poll.send_waited = false;
                        return Poll::Ready(Err(e));
                    }
                    self.poll.send_waited = true;
                    Wait::start(&mut self.poll.send_wait, &self.core, Want::Send, stamp);
                }
                Sent::Failed { error, .. } => {
                    self.poll.pending = None;
                    self.poll.send_waited = false;
                    return Poll::Ready(Err(error));
                }
            }
        }
    }
}

/// Sends whole messages. (It is `Sink<Multipart>` rather than generic over
/// `Into<Multipart>` so that `flush()` and `close()` need no type
/// annotation; `SinkExt::with` adapts other item types.) `poll_ready` waits until the previous message has
/// gone to libzmq, so at most one message waits in the sink; `poll_flush`
/// and `poll_close` send it. `poll_close` does not close the socket (the
/// stream side may still be in use): call [`Socket::close`] or drop it.
///
/// A message handed to `start_send` is sent unless an error is returned
/// for it; dropping the sink's socket drops it unsent.
impl Sink<Multipart> for Socket {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_send_pending(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Multipart) -> Result<()> {
        let this = self.get_mut();
        if this.poll.pending.is_some() {
            return Err(Error::InvalidMessage {
                reason: "Sink::start_send called before poll_ready returned Ready".into(),
            });
        }
        this.poll.pending = Some(item);
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_send_pending(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_send_pending(cx)
    }
}
