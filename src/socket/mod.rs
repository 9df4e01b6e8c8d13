//! The async socket.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;

use self::core::{Core, Received, Sent, Want};
use self::stream::PollState;
use self::wait::Attempt;
use crate::endpoint::{self, Use};
use crate::inproc;
use crate::options::{self, IntoOptionValue, OptionType, SocketOption};
use crate::raw;
use crate::{Context, Error, Multipart, Result, SocketBuilder, SocketType, TrySendError};

pub(crate) mod core;
mod stream;
mod wait;

#[cfg(test)]
mod model;

pub use self::core::Events;
pub use self::stream::{SocketSink, SocketStream};

/// An async ZeroMQ socket.
///
/// Every method takes `&self`, and a `Socket` is `Send + Sync`: share one
/// between tasks with [`Arc`], for instance a task that sends and a task
/// that receives. It is not `Clone`, since closing it closes it for every
/// holder.
///
/// Messages are whole: [`send`](Socket::send) and [`recv`](Socket::recv)
/// move every frame of a multipart message at once, and no frame of one
/// message is ever interleaved with another's.
///
/// # Cancellation
///
/// Every async method may be dropped at any `.await` (the losing branch of
/// `tokio::select!`, a timeout) without effect on the socket: a cancelled
/// `recv` has taken no message, a cancelled `send` has sent nothing and
/// never will. Each method's `# Cancel safety` section says so.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> zmq_tokio::Result<()> {
/// use std::time::Duration;
/// use zmq_tokio::{Socket, SocketType};
///
/// let rep = Socket::new(SocketType::Rep)?;
/// let endpoint = rep.bind("tcp://127.0.0.1:*")?; // the port libzmq chose
/// let req = Socket::new(SocketType::Req)?;
/// req.connect(&endpoint)?;
///
/// req.send("ping").await?;
/// tokio::select! {
///     msg = rep.recv() => rep.send(msg?).await?,
///     _ = tokio::time::sleep(Duration::from_secs(5)) => panic!("no request"),
/// }
/// assert_eq!(req.recv_string().await?, "ping");
/// # Ok(())
/// # }
/// ```
pub struct Socket {
    core: Arc<Core>,
    /// The state of the socket's own `Stream` and `Sink` impls.
    poll: PollState,
}

impl Socket {
    /// A new socket of the [global context](Context::global).
    ///
    /// # Errors
    ///
    /// [`Error::NoRuntime`] outside a Tokio runtime (the socket registers
    /// its fd with the runtime's reactor), or libzmq's error when it cannot
    /// make a socket.
    pub fn new(kind: SocketType) -> Result<Socket> {
        Socket::with_context(&Context::global(), kind)
    }

    pub(crate) fn with_context(ctx: &Context, kind: SocketType) -> Result<Socket> {
        let core = Arc::new(Core::open(ctx, kind)?);
        ctx.register(&core);
        Ok(Socket {
            core,
            poll: PollState::default(),
        })
    }

    /// The shared state, for the proxy and the monitor.
    pub(crate) fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// The shared state and the poll-side state, for `Stream` and `Sink`.
    fn parts(&mut self) -> (&Arc<Core>, &mut PollState) {
        (&self.core, &mut self.poll)
    }

    /// The socket's type.
    pub fn kind(&self) -> SocketType {
        self.core.kind()
    }

    /// The context the socket belongs to.
    pub fn context(&self) -> &Context {
        self.core.context()
    }

    /// Binds to `endpoint` and returns the endpoint actually bound: a
    /// wildcard such as `tcp://127.0.0.1:*` comes back with the port libzmq
    /// chose.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidEndpoint`] for an endpoint that is malformed or has
    /// an unknown transport (checked before libzmq sees it: libzmq itself
    /// binds `tcp://127.0.0.1:99999` to port 34463), and libzmq's error,
    /// naming the endpoint, when the bind fails (`EADDRINUSE`, ...).
    pub fn bind(&self, endpoint: &str) -> Result<String> {
        endpoint::validate(endpoint, Use::Bind)?;
        let c_endpoint = c_endpoint(endpoint)?;
        let _inproc = inproc::Guard::lock(&self.core, endpoint, inproc::Op::Bind)?;
        let bound = self.core.with_raw(|raw| {
            raw.bind(&c_endpoint)
                .map_err(|e| Error::zmq(e, format!("bind {endpoint}")))?;
            self.core.mark_piped();
            self.core.mark_bound();
            let last = raw
                .get_bytes(zmq_sys::ZMQ_LAST_ENDPOINT as i32, 1024)
                .map_err(|e| Error::zmq(e, "get LAST_ENDPOINT"))?;
            let bound = options::text_option(last);
            self.core.endpoints().bound.push(bound.clone());
            Ok(bound)
        })?;
        // Peers will come and go: see `Context`'s "Idle sockets".
        self.context().start_sweeper();
        Ok(bound)
    }

    /// Connects to `endpoint`. The connection is made in the background
    /// (and remade after failures): messages wait in the socket until it is
    /// up.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidEndpoint`] for an endpoint that is malformed, has an
    /// unknown transport, or names a wildcard; libzmq's error, naming the
    /// endpoint, when the connect fails.
    pub fn connect(&self, endpoint: &str) -> Result<()> {
        endpoint::validate(endpoint, Use::Connect)?;
        let c_endpoint = c_endpoint(endpoint)?;
        let _inproc = inproc::Guard::lock(&self.core, endpoint, inproc::Op::Connect)?;
        self.core.with_raw(|raw| {
            raw.connect(&c_endpoint)
                .map_err(|e| Error::zmq(e, format!("connect {endpoint}")))?;
            self.core.mark_piped();
            self.core.endpoints().connected.push(endpoint.to_owned());
            Ok(())
        })
    }

    /// What the socket is bound to (as [`bind`](Socket::bind) returned it,
    /// wildcards resolved) and connected to (as given to
    /// [`connect`](Socket::connect)) now, as the socket's own list (libzmq
    /// has no call that lists them).
    pub fn endpoints(&self) -> Endpoints {
        self.core.endpoints().clone()
    }

    /// A builder that configures a socket before binding and connecting it:
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> zmq_tokio::Result<()> {
    /// use zmq_tokio::{options, Socket, SocketType};
    ///
    /// let publisher = Socket::builder(SocketType::Pub)
    ///     .set(options::SNDHWM, 10_000)
    ///     .bind("inproc://weather")
    ///     .build()?;
    /// let subscriber = Socket::builder(SocketType::Sub)
    ///     .connect("inproc://weather")
    ///     .subscribe("10001 ")
    ///     .build()?;
    /// # drop((publisher, subscriber));
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder<'a>(kind: SocketType) -> SocketBuilder<'a> {
        SocketBuilder::new(kind)
    }

    /// Stops listening on `endpoint`, which must be as [`bind`](Socket::bind)
    /// returned it (for a wildcard bind, the resolved endpoint).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidEndpoint`] when the socket is not bound there, or the
    /// endpoint is malformed.
    pub fn unbind(&self, endpoint: &str) -> Result<()> {
        self.detach(endpoint, Use::Bind)
    }

    /// Drops the connection to `endpoint`, as given to
    /// [`connect`](Socket::connect).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidEndpoint`] when the socket is not connected there, or
    /// the endpoint is malformed, and for an `inproc://` connection still
    /// pending (nothing has bound the endpoint yet): libzmq 4.3 would abort
    /// at the endpoint's next bind. Such a connection goes with the socket,
    /// or can be disconnected once the endpoint is bound.
    pub fn disconnect(&self, endpoint: &str) -> Result<()> {
        self.detach(endpoint, Use::Connect)
    }

    fn detach(&self, endpoint: &str, usage: Use) -> Result<()> {
        endpoint::validate(endpoint, usage)?;
        let c_endpoint = c_endpoint(endpoint)?;
        let _inproc = inproc::Guard::lock(&self.core, endpoint, inproc::Op::Detach)?;
        let (operation, missing) = match usage {
            Use::Bind => ("unbind", "the socket is not bound to it"),
            Use::Connect => ("disconnect", "the socket is not connected to it"),
        };
        self.core.with_raw(|raw| {
            let result = match usage {
                Use::Bind => raw.unbind(&c_endpoint),
                Use::Connect => raw.disconnect(&c_endpoint),
            };
            result.map_err(|e| match e {
                zmq_sys::errno::ENOENT => Error::invalid_endpoint(endpoint, missing),
                e => Error::zmq(e, format!("{operation} {endpoint}")),
            })?;
            let mut endpoints = self.core.endpoints();
            let list = match usage {
                Use::Bind => &mut endpoints.bound,
                Use::Connect => &mut endpoints.connected,
            };
            if let Some(i) = list.iter().position(|e| e == endpoint) {
                list.remove(i);
            }
            Ok(())
        })
    }

    /// Subscribes to messages whose first frame starts with `prefix` (the
    /// empty prefix matches everything). On a SUB socket this sets
    /// `ZMQ_SUBSCRIBE`; on an XSUB socket it sends the subscription message
    /// (`\x01` and the prefix) upstream.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] on a socket of any other type.
    ///
    /// # Examples
    ///
    /// A subscription reaches the publisher asynchronously, and a PUB drops
    /// what it sends before then (the "slow joiner"), so this publisher
    /// keeps publishing until the subscriber has something:
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> zmq_tokio::Result<()> {
    /// use std::time::Duration;
    /// use zmq_tokio::{Socket, SocketType};
    ///
    /// let publisher = Socket::new(SocketType::Pub)?;
    /// publisher.bind("inproc://subscribe-example")?;
    /// let subscriber = Socket::new(SocketType::Sub)?;
    /// subscriber.connect("inproc://subscribe-example")?;
    /// subscriber.subscribe("weather.")?;
    ///
    /// let msg = loop {
    ///     publisher.send(["news.today", "quiet"]).await?;
    ///     publisher.send(["weather.today", "sunny"]).await?;
    ///     let wait = Duration::from_millis(10);
    ///     if let Ok(msg) = tokio::time::timeout(wait, subscriber.recv()).await {
    ///         break msg?;
    ///     }
    /// };
    /// assert_eq!(msg[0], "weather.today"); // never "news.today"
    /// # Ok(())
    /// # }
    /// ```
    pub fn subscribe(&self, prefix: impl AsRef<[u8]>) -> Result<()> {
        self.subscription(true, prefix.as_ref())
    }

    /// Removes one subscription made by [`subscribe`](Socket::subscribe)
    /// with the same prefix.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] on a socket that is not SUB or XSUB.
    pub fn unsubscribe(&self, prefix: impl AsRef<[u8]>) -> Result<()> {
        self.subscription(false, prefix.as_ref())
    }

    fn subscription(&self, subscribe: bool, prefix: &[u8]) -> Result<()> {
        let (name, option) = if subscribe {
            ("SUBSCRIBE", zmq_sys::ZMQ_SUBSCRIBE)
        } else {
            ("UNSUBSCRIBE", zmq_sys::ZMQ_UNSUBSCRIBE)
        };
        match self.kind() {
            SocketType::Sub => self.core.with_raw(|raw| {
                raw.set_bytes(option as i32, prefix)
                    .map_err(|e| Error::zmq(e, format!("set {name}")))
            }),
            SocketType::XSub => {
                let mut frame = Vec::with_capacity(prefix.len() + 1);
                frame.push(u8::from(subscribe));
                frame.extend_from_slice(prefix);
                // XSUB always has room for subscription messages: libzmq
                // never reports EAGAIN for them.
                self.try_send(frame).map_err(Error::from)
            }
            other => Err(Error::invalid_option(
                name,
                format!("a {other} socket cannot subscribe; only SUB and XSUB sockets can"),
            )),
        }
    }

    /// Sets a socket option: `socket.set(options::SNDHWM, 1000)`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] naming the option when it is read-only, or
    /// when libzmq rejects the value (out of range, or an option this
    /// socket type does not take).
    ///
    /// [`Error::InvalidOption`] for `SNDHWM` and `RCVHWM` once the socket
    /// has bound or connected. libzmq 4.3.4 and 4.3.5 apply a new
    /// high-water mark to existing connections by sending it to each
    /// connection's far end, even to one that is closing and may already
    /// be freed (a peer that left, a `disconnect` just made): the process
    /// then crashes with a segmentation fault (libzmq #4524, fixed after
    /// 4.3.5). Set both before the first `bind` or `connect`, for example
    /// with [`Socket::builder`].
    pub fn set<T: OptionType>(
        &self,
        option: SocketOption<T>,
        value: impl IntoOptionValue<T>,
    ) -> Result<()> {
        if !option.is_writable() {
            return Err(Error::invalid_option(option.name(), "is read-only"));
        }
        option.check_set(self.kind(), &value)?;
        let hwm = option.id() == options::SNDHWM.id() || option.id() == options::RCVHWM.id();
        self.core.with_raw(|raw| {
            if hwm && self.core.is_piped() {
                return Err(Error::invalid_option(
                    option.name(),
                    "cannot change it once the socket has bound or connected: libzmq 4.3 \
                     passes the new limit to each connection's far end, which may already be \
                     freed if the connection is closing, and the process crashes (libzmq \
                     #4524); set it before the first bind or connect, as Socket::builder does",
                ));
            }
            value
                .write(raw, option.id())
                .map_err(|e| self.option_error(option.name(), "set", e))?;
            // Keep our copy of the timeouts, which our waits apply.
            let want = match option.id() {
                id if id == options::RCVTIMEO.id() => Want::Recv,
                id if id == options::SNDTIMEO.id() => Want::Send,
                _ => return Ok(()),
            };
            let millis = raw
                .get_int(option.id())
                .map_err(|e| Error::zmq(e, format!("get {}", option.name())))?;
            self.core.set_timeout(want, millis);
            Ok(())
        })
    }

    /// Reads a socket option: `socket.get(options::SNDHWM)`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] naming the option when it is write-only or
    /// this socket type does not have it.
    pub fn get<T: OptionType>(&self, option: SocketOption<T>) -> Result<T> {
        if !option.is_readable() {
            return Err(Error::invalid_option(option.name(), "is write-only"));
        }
        option.check_get()?;
        self.core.with_raw(|raw| {
            T::read(raw, option.id()).map_err(|e| self.option_error(option.name(), "get", e))
        })
    }

    fn option_error(&self, name: &'static str, operation: &str, errno: raw::Errno) -> Error {
        match errno {
            raw::EINVAL => Error::invalid_option(
                name,
                format!(
                    "libzmq cannot {operation} it on a {} socket with this value (out of range, or not an option of this socket type)",
                    self.kind()
                ),
            ),
            e => Error::zmq(e, format!("{operation} {name}")),
        }
    }

    /// Sends a whole message, waiting while the socket cannot take it (its
    /// peers are at their high-water mark, or it has none yet).
    ///
    /// Anything that converts into a [`Multipart`] can be sent: `&str`,
    /// `String`, `&[u8]`, `Vec<u8>`, [`Bytes`], [`Message`](crate::Message),
    /// arrays and `Vec`s of them.
    ///
    /// # Where libzmq drops messages
    ///
    /// `send` returning `Ok` means libzmq has queued the message, not that a
    /// peer has it. libzmq drops messages, without an error, in these cases:
    ///
    /// - **PUB and XPUB** never wait: a message is dropped for each
    ///   subscriber at its high-water mark (`SNDHWM`), and reaches nobody
    ///   who has not connected and subscribed yet (the "slow joiner").
    /// - **ROUTER** never waits: a message whose first frame names no
    ///   connected peer is dropped, unless `ROUTER_MANDATORY` is set (then
    ///   `EHOSTUNREACH`); a message for a peer at its high-water mark is
    ///   dropped as well, silently (with `ROUTER_MANDATORY`, `EAGAIN`). A
    ///   server that replies faster than a client reads loses replies.
    /// - **Any socket**: messages queued for a peer that disconnects or
    ///   dies before reading them are dropped with its connection; libzmq
    ///   does not hand them to another peer.
    /// - On [`close`](Socket::close), messages still queued are delivered
    ///   for at most `LINGER` milliseconds, then dropped.
    ///
    /// With `SNDTIMEO` set (>= 0, in milliseconds), it gives up with
    /// [`Error::Timeout`] after that long without room.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`], [`Error::ContextTerminated`], [`Error::Timeout`],
    /// and libzmq's errors: `EFSM` for a REQ/REP send out of turn (returned at once, not a hang),
    /// `ENOTSUP` on a socket type that cannot send, `EHOSTUNREACH` for an
    /// unknown peer of a `ROUTER_MANDATORY` router. A `ROUTER_MANDATORY`
    /// router whose addressed peer is full returns `EAGAIN` rather than
    /// spin, since libzmq has no signal for one peer's room.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if the future is dropped before it completes, nothing
    /// has been sent and nothing will be; the message is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> zmq_tokio::Result<()> {
    /// use zmq_tokio::{Bytes, Message, Socket, SocketType};
    ///
    /// let pull = Socket::new(SocketType::Pull)?;
    /// pull.bind("inproc://send-example")?;
    /// let push = Socket::new(SocketType::Push)?;
    /// push.connect("inproc://send-example")?;
    ///
    /// push.send("text").await?;
    /// push.send(vec![1u8, 2, 3]).await?;
    /// push.send(Bytes::from_static(b"shared, not copied")).await?;
    /// push.send(["a", "message", "of three frames"]).await?;
    /// push.send((Message::from("first frame"), ["then", "the body"])).await?;
    ///
    /// assert_eq!(pull.recv().await?[0], "text");
    /// assert_eq!(pull.recv().await?[0], [1u8, 2, 3]);
    /// pull.recv().await?;
    /// assert_eq!(pull.recv().await?.len(), 3);
    /// assert_eq!(pull.recv().await?.len(), 3);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send(&self, msg: impl Into<Multipart>) -> Result<()> {
        let mut msg = msg.into();
        self.core
            .run(Want::Send, |core, waited| match core.send_now(&mut msg) {
                Sent::All { bytes } => Ok(Attempt::Done { value: (), bytes }),
                Sent::Full(stamp) => {
                    core.check_full_after_wait(waited)?;
                    Ok(Attempt::WouldBlock(stamp))
                }
                Sent::Failed { error, .. } => Err(error),
            })
            .await
    }

    /// Receives a whole message, waiting until one arrives, or for at most
    /// `RCVTIMEO` milliseconds when that option is set (>= 0).
    ///
    /// # Errors
    ///
    /// [`Error::Closed`], [`Error::ContextTerminated`], [`Error::Timeout`],
    /// and libzmq's errors:
    /// `EFSM` for a REQ receive before its send (returned at once),
    /// `ENOTSUP` on a socket type that cannot receive.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if the future is dropped before it completes, no
    /// message has been taken from the socket; a later `recv` gets it.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> zmq_tokio::Result<()> {
    /// use std::time::Duration;
    /// use zmq_tokio::{Socket, SocketType};
    ///
    /// let pull = Socket::new(SocketType::Pull)?;
    /// pull.bind("inproc://recv-example")?;
    /// let push = Socket::new(SocketType::Push)?;
    /// push.connect("inproc://recv-example")?;
    ///
    /// // Nothing yet: a timeout cancels the recv and takes nothing away.
    /// let wait = Duration::from_millis(10);
    /// assert!(tokio::time::timeout(wait, pull.recv()).await.is_err());
    ///
    /// push.send(["header", "body"]).await?;
    /// let msg = pull.recv().await?;
    /// assert_eq!(msg.len(), 2);
    /// assert_eq!(msg[1], "body");
    /// println!("{} / {}", msg[0], msg[1]); // frames display as text
    /// # Ok(())
    /// # }
    /// ```
    pub fn recv(&self) -> impl Future<Output = Result<Multipart>> + Send + '_ {
        // Received in place, where the future keeps it: no move follows
        // libzmq's writes until the message is handed out.
        wait::TryFirst::new(
            &self.core,
            Multipart::new(),
            recv_attempt,
            move |mut msg: Multipart, since| async move {
                self.core
                    .run_after_wait(Want::Recv, since, |core, waited| {
                        recv_attempt(core, &mut msg, waited)
                    })
                    .await?;
                Ok(msg)
            },
        )
    }

    /// Receives a whole message into `msg`, reusing its frames: what `msg`
    /// held is released frame by frame as libzmq writes the new message
    /// over it, and frames the new message does not need are dropped. In a
    /// loop over one `Multipart` this saves creating and closing a libzmq
    /// message per frame, as the synchronous crate's `recv(&mut msg)` does.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> zmq_tokio::Result<()> {
    /// use zmq_tokio::{Multipart, Socket, SocketType};
    ///
    /// let pull = Socket::new(SocketType::Pull)?;
    /// let endpoint = pull.bind("tcp://127.0.0.1:*")?;
    /// let push = Socket::new(SocketType::Push)?;
    /// push.connect(&endpoint)?;
    /// push.send(["a", "b"]).await?;
    /// push.send("c").await?;
    ///
    /// let mut msg = Multipart::new();
    /// pull.recv_into(&mut msg).await?;
    /// assert_eq!(msg, Multipart::from(["a", "b"]));
    /// pull.recv_into(&mut msg).await?;
    /// assert_eq!(msg, Multipart::from("c"));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`recv`](Socket::recv). After an error, what `msg` holds is
    /// unspecified (its old frames, empty frames, or none), but it is a
    /// valid `Multipart` to use again.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe as far as the socket goes: if the future is dropped
    /// before it completes, no message has been taken from the socket; a
    /// later receive gets it. What `msg` holds then is unspecified, as
    /// after an error.
    pub async fn recv_into(&self, msg: &mut Multipart) -> Result<()> {
        self.core
            .run(Want::Recv, |core, waited| recv_attempt(core, msg, waited))
            .await
    }

    /// Receives a single-frame message as [`Bytes`] (without copying a
    /// large frame).
    ///
    /// # Errors
    ///
    /// As [`recv`](Socket::recv), and [`Error::InvalidMessage`] when the
    /// message has more than one frame; that message is consumed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`recv`](Socket::recv).
    pub async fn recv_bytes(&self) -> Result<Bytes> {
        let msg = self.recv().await?;
        Ok(single_frame(msg)?.into_bytes())
    }

    /// Receives a single-frame message as text.
    ///
    /// # Errors
    ///
    /// As [`recv`](Socket::recv), and [`Error::InvalidMessage`] when the
    /// message has more than one frame or is not UTF-8; that message is
    /// consumed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`recv`](Socket::recv).
    pub async fn recv_string(&self) -> Result<String> {
        let frame = single_frame(self.recv().await?)?;
        match std::str::from_utf8(&frame) {
            Ok(text) => Ok(text.to_owned()),
            Err(e) => Err(Error::InvalidMessage {
                reason: format!("the frame is not UTF-8 text: {e}").into(),
            }),
        }
    }

    /// Sends a whole message if the socket can take it now, without
    /// waiting.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] with the message when the socket cannot take
    /// it now; [`TrySendError::Failed`] with the error and the unsent frames
    /// when sending fails.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> zmq_tokio::Result<()> {
    /// use zmq_tokio::{Multipart, Socket, SocketType, TrySendError};
    ///
    /// let push = Socket::new(SocketType::Push)?;
    /// // No peer yet: the socket is full, and the message comes back.
    /// match push.try_send("early") {
    ///     Err(TrySendError::Full(msg)) => assert_eq!(msg, Multipart::from("early")),
    ///     other => panic!("{other:?}"),
    /// }
    ///
    /// let pull = Socket::new(SocketType::Pull)?;
    /// pull.bind("inproc://try-send-example")?;
    /// push.connect("inproc://try-send-example")?;
    /// push.writable().await?;
    /// push.try_send("now")?; // TrySendError converts into Error
    /// assert_eq!(pull.recv_string().await?, "now");
    /// # Ok(())
    /// # }
    /// ```
    // The error is large because it carries the message back by value: the
    // `Full` case, which callers may hit in a loop, must not allocate.
    #[allow(clippy::result_large_err)]
    pub fn try_send(&self, msg: impl Into<Multipart>) -> Result<(), TrySendError> {
        let mut msg = msg.into();
        match self.core.send_now(&mut msg) {
            Sent::All { .. } => Ok(()),
            Sent::Full(_) => Err(TrySendError::Full(msg)),
            Sent::Failed { error, unsent } => {
                Err(TrySendError::Failed(error, msg.split_off(unsent)))
            }
        }
    }

    /// Receives a whole message if one is waiting; `Ok(None)` if none is.
    ///
    /// # Errors
    ///
    /// As [`recv`](Socket::recv).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> zmq_tokio::Result<()> {
    /// use zmq_tokio::{Socket, SocketType};
    ///
    /// let pull = Socket::new(SocketType::Pull)?;
    /// pull.bind("inproc://try-recv-example")?;
    /// assert!(pull.try_recv()?.is_none());
    ///
    /// let push = Socket::new(SocketType::Push)?;
    /// push.connect("inproc://try-recv-example")?;
    /// push.send("hello").await?;
    /// pull.readable().await?; // the message may take a moment to arrive
    /// let msg = pull.try_recv()?.expect("a message is there");
    /// assert_eq!(msg[0], "hello");
    /// # Ok(())
    /// # }
    /// ```
    pub fn try_recv(&self) -> Result<Option<Multipart>> {
        self.core.recv_now()
    }

    /// Waits until a message can be received (POLLIN).
    ///
    /// Another task may take the message first; `recv` is the way to get
    /// one.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`], [`Error::ContextTerminated`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it takes nothing from the socket.
    pub async fn readable(&self) -> Result<()> {
        self.ready(Want::Recv).await
    }

    /// Waits until a message can be sent (POLLOUT).
    ///
    /// # Errors
    ///
    /// [`Error::Closed`], [`Error::ContextTerminated`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it sends nothing.
    pub async fn writable(&self) -> Result<()> {
        self.ready(Want::Send).await
    }

    async fn ready(&self, want: Want) -> Result<()> {
        self.core
            .run(want, |core, _| {
                let (events, stamp) = core.events_stamped()?;
                Ok(if events & want.bit() != 0 {
                    Attempt::Done {
                        value: (),
                        bytes: 0,
                    }
                } else {
                    Attempt::WouldBlock(stamp)
                })
            })
            .await
    }

    /// What the socket can do now (`ZMQ_EVENTS`).
    ///
    /// # Errors
    ///
    /// [`Error::Closed`], [`Error::ContextTerminated`].
    pub fn events(&self) -> Result<Events> {
        self.core.events().map(Events::from_raw)
    }

    /// Closes the socket for every holder. Pending operations on other
    /// tasks fail with [`Error::Closed`], and so does every later one;
    /// [`closed`](Socket::closed) futures resolve. Messages already sent
    /// are still delivered within the socket's `LINGER` period. Closing
    /// twice is harmless.
    ///
    /// libzmq closes the socket's listeners on its reaper thread, after
    /// `close` returns: binding the same `tcp://` address again right away
    /// can fail with [`EADDRINUSE`](crate::errno::EADDRINUSE) for a few
    /// milliseconds. Retry the bind after a short sleep
    /// (`examples/lpclient.rs` does).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> zmq_tokio::Result<()> {
    /// use std::sync::Arc;
    /// use zmq_tokio::{Error, Socket, SocketType};
    ///
    /// let socket = Arc::new(Socket::new(SocketType::Pull)?);
    /// socket.bind("inproc://close-example")?;
    /// let receiver = Arc::clone(&socket);
    /// let waiting = tokio::spawn(async move { receiver.recv().await });
    /// let closed = socket.closed();
    ///
    /// socket.close();
    /// closed.await;
    /// assert!(matches!(waiting.await.unwrap(), Err(Error::Closed)));
    /// assert!(matches!(socket.recv().await, Err(Error::Closed)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn close(&self) {
        self.core.close();
    }

    /// Whether the socket is closed, or its context shut down.
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }

    /// A future that resolves once the socket is closed: by
    /// [`close`](Socket::close), by the drop of its last holder, or by its
    /// context's [`shutdown`](Context::shutdown). It does not keep the
    /// socket alive.
    ///
    /// # Examples
    ///
    /// A task that cleans up when a socket ends, however it ends:
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> zmq_tokio::Result<()> {
    /// use zmq_tokio::{Socket, SocketType};
    ///
    /// let socket = Socket::new(SocketType::Dealer)?;
    /// let cleanup = tokio::spawn(socket.closed()); // 'static and Send
    /// drop(socket); // the last holder
    /// cleanup.await.unwrap();
    /// # Ok(())
    /// # }
    /// ```
    pub fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        self.core.closed_token().clone().cancelled_owned()
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // Pending poll-side waits hold the core too: drop them first, so
        // that the core is usually ours alone here.
        self.poll = PollState::default();
        match Arc::get_mut(&mut self.core) {
            Some(core) => core.close_exclusive(),
            // A monitor still holds it: close without deregistering; the
            // registration goes with the last holder.
            None => self.core.close(),
        }
    }
}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.fmt(f)
    }
}

/// A socket's endpoints, from [`Socket::endpoints`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// Bound endpoints, wildcards resolved (`tcp://127.0.0.1:41234`).
    pub bound: Vec<String>,
    /// Connected endpoints, as given.
    pub connected: Vec<String>,
}

/// The endpoint for libzmq (validated endpoints have no NUL byte).
fn c_endpoint(endpoint: &str) -> Result<std::ffi::CString> {
    raw::c_string(endpoint).map_err(|_| Error::invalid_endpoint(endpoint, "contains a NUL byte"))
}

/// One attempt of `recv` and `recv_into`: a whole message into `msg`, or
/// the stamp to wait with (`waited` does not matter to a receive).
#[inline]
fn recv_attempt(core: &Core, msg: &mut Multipart, _waited: bool) -> Result<Attempt<()>> {
    Ok(match core.recv_into(msg)? {
        Received::Message { bytes } => Attempt::Done { value: (), bytes },
        Received::Nothing(stamp) => Attempt::WouldBlock(stamp),
    })
}

fn single_frame(msg: Multipart) -> Result<crate::Message> {
    let frames = msg.len();
    let mut msg = msg;
    match (frames, msg.pop_front()) {
        (1, Some(frame)) => Ok(frame),
        _ => Err(Error::InvalidMessage {
            reason: format!("expected a single-frame message, got {frames} frames").into(),
        }),
    }
}
