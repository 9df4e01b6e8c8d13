//! `Stream` and `Sink` for [`Socket`], and for a shared socket:
//! [`SocketStream`] and [`SocketSink`] over an `Arc<Socket>`.
//!
//! They wait through the same loop as the async methods (`wait.rs`), whose
//! waits support any number of waiters, not through
//! `AsyncFd::poll_read_ready`, which keeps one waker only: a stream and a
//! sink (or a stream and a `recv` caller) polling it would overwrite each
//! other's waker and lose wakeups. The pending wait lives in a box
//! allocated once per stream or sink, not per message.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures::{Sink, Stream};

use super::core::{Core, Received, Sent, Want};
use super::wait::{poll_op, Attempt, BoxedWait, Op};
use crate::{Error, Multipart, Result, Socket};

/// The receiving side's state: its pending wait.
pub(crate) struct StreamState {
    op: Op,
    wait: Option<BoxedWait>,
}

impl Default for StreamState {
    fn default() -> Self {
        StreamState {
            op: Op::new(Want::Recv),
            wait: None,
        }
    }
}

impl StreamState {
    /// `Stream::poll_next` over `core`: the socket's messages, `None` once it
    /// is closed or its context shut down.
    fn poll_next(
        &mut self,
        core: &Arc<Core>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Multipart>>> {
        let wait = self
            .wait
            .get_or_insert_with(|| BoxedWait::new(Arc::clone(core)));
        let received = poll_op(cx, core, &mut self.op, wait, &mut |core, _| {
            let mut msg = Multipart::new();
            Ok(match core.recv_into(&mut msg)? {
                Received::Message { bytes } => Attempt::Done { value: msg, bytes },
                Received::Nothing(stamp) => Attempt::WouldBlock(stamp),
            })
        });
        match ready!(received) {
            Ok(msg) => Poll::Ready(Some(Ok(msg))),
            Err(Error::Closed | Error::ContextTerminated) => Poll::Ready(None),
            Err(e) => Poll::Ready(Some(Err(e))),
        }
    }
}

/// The sending side's state: its pending wait and the one message that
/// `start_send` accepted and the socket could not take yet.
pub(crate) struct SinkState {
    op: Op,
    wait: Option<BoxedWait>,
    pending: Option<Multipart>,
}

impl Default for SinkState {
    fn default() -> Self {
        SinkState {
            op: Op::new(Want::Send),
            wait: None,
            pending: None,
        }
    }
}

impl SinkState {
    /// Sends the buffered message, if any, waiting as `send` does.
    fn poll_flush(&mut self, core: &Arc<Core>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if self.pending.is_none() {
            return Poll::Ready(Ok(()));
        }
        let wait = self
            .wait
            .get_or_insert_with(|| BoxedWait::new(Arc::clone(core)));
        let pending = &mut self.pending;
        let sent = poll_op(cx, core, &mut self.op, wait, &mut |core, waited| {
            let Some(msg) = pending.as_mut() else {
                return Ok(Attempt::Done {
                    value: (),
                    bytes: 0,
                });
            };
            match core.send_now(msg) {
                Sent::All { bytes } => Ok(Attempt::Done { value: (), bytes }),
                Sent::Full(stamp) => {
                    core.check_full_after_wait(waited)?;
                    Ok(Attempt::WouldBlock(stamp))
                }
                Sent::Failed { error, .. } => Err(error),
            }
        });
        let result = ready!(sent);
        // Sent, or failed: either way the message is no longer pending.
        self.pending = None;
        Poll::Ready(result)
    }

    fn start_send(&mut self, item: Multipart) -> Result<()> {
        if self.pending.is_some() {
            return Err(Error::InvalidMessage {
                reason: "Sink::start_send called before poll_ready returned Ready".into(),
            });
        }
        self.pending = Some(item);
        Ok(())
    }
}

/// The poll-side state of a socket used as a `Stream` or `Sink` itself.
#[derive(Default)]
pub(crate) struct PollState {
    stream: StreamState,
    sink: SinkState,
}

impl fmt::Debug for PollState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PollState")
            .field("pending", &self.sink.pending.is_some())
            .finish_non_exhaustive()
    }
}

/// Receives whole messages; ends (`None`) once the socket is closed or its
/// context shut down. Other errors (a `RCVTIMEO` timeout, say) are yielded
/// as items and the stream goes on.
///
/// Cancel safety is that of [`Socket::recv`]: a message is taken from the
/// socket only in a poll that returns it.
impl Stream for Socket {
    type Item = Result<Multipart>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let (core, poll) = self.get_mut().parts();
        poll.stream.poll_next(core, cx)
    }
}

/// Sends whole messages. (It is `Sink<Multipart>` rather than generic over
/// `Into<Multipart>` so that `flush()` and `close()` need no type
/// annotation; `SinkExt::with` adapts other item types.) `poll_ready` waits
/// until the previous message has gone to libzmq, so at most one message
/// waits in the sink; `poll_flush` and `poll_close` send it. `poll_close`
/// does not close the socket (the stream side may still be in use): call
/// [`Socket::close`] or drop it.
///
/// A message handed to `start_send` is sent unless an error is returned
/// for it; dropping the sink's socket drops it unsent.
impl Sink<Multipart> for Socket {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let (core, poll) = self.get_mut().parts();
        poll.sink.poll_flush(core, cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Multipart) -> Result<()> {
        self.get_mut().parts().1.sink.start_send(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.poll_ready(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.poll_ready(cx)
    }
}

/// A [`Stream`] of the messages of a shared socket, so that one task can
/// hold a stream while others send (or also receive) on the same socket,
/// and `StreamMap` or `select_all` can run over sockets other tasks use.
///
/// It receives as [`Socket`]'s own `Stream` does: whole messages, `None`
/// once the socket is closed or its context shut down, other errors as
/// items. Several streams and `recv` callers on one socket share its
/// messages: each message goes to exactly one of them.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> zmq_tokio::Result<()> {
/// use std::sync::Arc;
/// use futures::StreamExt;
/// use zmq_tokio::{Socket, SocketStream, SocketType};
///
/// let server = Arc::new(Socket::new(SocketType::Pair)?);
/// server.bind("inproc://socket-stream")?;
/// let client = Socket::new(SocketType::Pair)?;
/// client.connect("inproc://socket-stream")?;
///
/// let mut requests = SocketStream::new(Arc::clone(&server));
/// client.send("ping").await?;
/// if let Some(request) = requests.next().await {
///     server.send(request?).await?; // the same socket, through the Arc
/// }
/// assert_eq!(client.recv_string().await?, "ping");
/// # Ok(())
/// # }
/// ```
pub struct SocketStream {
    socket: Arc<Socket>,
    state: StreamState,
}

impl SocketStream {
    /// A stream of `socket`'s messages.
    pub fn new(socket: Arc<Socket>) -> SocketStream {
        SocketStream {
            socket,
            state: StreamState::default(),
        }
    }

    /// The socket it receives from.
    pub fn socket(&self) -> &Arc<Socket> {
        &self.socket
    }

    /// The socket back. A wait in progress is dropped; no message is lost.
    pub fn into_inner(self) -> Arc<Socket> {
        self.socket
    }
}

impl fmt::Debug for SocketStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketStream")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

impl Stream for SocketStream {
    type Item = Result<Multipart>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        this.state.poll_next(this.socket.core(), cx)
    }
}

/// A [`Sink`] of messages into a shared socket, so that one task can feed
/// a sink while others receive (or also send) on the same socket.
///
/// It sends as [`Socket`]'s own `Sink` does: at most one message waits in
/// the sink, `poll_flush` and `poll_close` send it, and `poll_close` does
/// not close the socket.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> zmq_tokio::Result<()> {
/// use std::sync::Arc;
/// use futures::SinkExt;
/// use zmq_tokio::{Multipart, Socket, SocketSink, SocketType};
///
/// let pull = Socket::new(SocketType::Pull)?;
/// pull.bind("inproc://socket-sink")?;
/// let push = Arc::new(Socket::new(SocketType::Push)?);
/// push.connect("inproc://socket-sink")?;
///
/// let mut sink = SocketSink::new(Arc::clone(&push));
/// sink.send(Multipart::from("one")).await?;
/// push.send("two").await?; // the same socket, through the Arc
/// assert_eq!(pull.recv_string().await?, "one");
/// assert_eq!(pull.recv_string().await?, "two");
/// # Ok(())
/// # }
/// ```
pub struct SocketSink {
    socket: Arc<Socket>,
    state: SinkState,
}

impl SocketSink {
    /// A sink into `socket`.
    pub fn new(socket: Arc<Socket>) -> SocketSink {
        SocketSink {
            socket,
            state: SinkState::default(),
        }
    }

    /// The socket it sends on.
    pub fn socket(&self) -> &Arc<Socket> {
        &self.socket
    }

    /// The socket back. A message still buffered in the sink (accepted by
    /// `start_send`, not yet flushed) is dropped unsent.
    pub fn into_inner(self) -> Arc<Socket> {
        self.socket
    }
}

impl fmt::Debug for SocketSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketSink")
            .field("socket", &self.socket)
            .field("pending", &self.state.pending.is_some())
            .finish_non_exhaustive()
    }
}

impl Sink<Multipart> for SocketSink {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        this.state.poll_flush(this.socket.core(), cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Multipart) -> Result<()> {
        self.get_mut().state.start_send(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.poll_ready(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.poll_ready(cx)
    }
}
