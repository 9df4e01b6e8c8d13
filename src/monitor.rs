//! Socket monitoring: the connection events libzmq reports for a socket,
//! as a [`Stream`](futures::Stream).
//!
//! `zmq_socket_monitor` makes libzmq publish a socket's events on a PAIR
//! socket that libzmq itself binds at an `inproc://` endpoint; the events
//! are written there by libzmq's I/O threads (and its reaper thread) with
//! *blocking* sends. A monitor that stops reading, or closes its reader
//! while libzmq still writes, can therefore hang an I/O thread, and with it
//! every socket of the context (libzmq #2829, #3575). This module rules that
//! out as follows:
//!
//! - Our reader PAIR sets `RCVHWM` to 0 and connects *before* libzmq binds
//!   the endpoint. An inproc pipe has no limit when either side's HWM is 0
//!   (`pipe_t::set_hwms` in libzmq 4.3.4 makes the writer's HWM 0, which
//!   `pipe_t::check_hwm` reads as "never full"), and a connection pending
//!   at bind time is attached inside `zmq_bind` (`ctx_t::connect_pending`),
//!   so libzmq's first send already finds an unbounded pipe: no libzmq
//!   thread ever blocks on it, not even for a moment.
//! - Dropping a [`Monitor`] first stops monitoring (`zmq_socket_monitor(s,
//!   NULL, 0)`, which makes libzmq close its PAIR) and only then closes the
//!   reader.
//! - When the monitored socket is already closed, libzmq's reaper thread may
//!   still write its last events (`DISCONNECTED`, `CLOSED`, then
//!   `MONITOR_STOPPED` from the socket's destructor), and `zmq_socket_monitor`
//!   can no longer be called. A dropped `Monitor` then hands its reader to a
//!   thread that reads until `MONITOR_STOPPED` (libzmq closes its PAIR right
//!   after sending it) or the context's termination.
//!
//! To know when libzmq's side is gone, monitoring always asks libzmq for
//! `MONITOR_STOPPED`, and a [`Monitor`] yields it only when it was asked
//! for.

use std::collections::HashMap;
use std::ffi::c_int;
use std::fmt;
use std::future::poll_fn;
use std::ops::{BitOr, BitOrAssign};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{ready, Context, Poll};

use futures::stream::FusedStream;
use futures::Stream;

use crate::raw::{self, RawMsg};
use crate::socket::core::Core;
use crate::{options, Error, Multipart, Result, Socket, SocketType};

/// The kind of a [`SocketEvent`]: one variant per `ZMQ_EVENT_*` of libzmq
/// 4.3.4.
///
/// Each variant says what [`SocketEvent::value`] holds for it. A file
/// descriptor is the OS socket's, as an unsigned number; an errno is the
/// OS's (or libzmq's) error number, which [`std::io::Error::from_raw_os_error`]
/// describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Event {
    /// `ZMQ_EVENT_CONNECTED`: a connection to a remote peer is up (the
    /// ZMTP handshake comes next). `value`: the connection's file
    /// descriptor. `endpoint`: the endpoint given to `connect`.
    Connected,
    /// `ZMQ_EVENT_CONNECT_DELAYED`: a connect could not complete at once
    /// and goes on in the background. `value`: libzmq passes the errno of
    /// the non-blocking connect (normally `EINPROGRESS`); its documentation
    /// calls the value unspecified.
    ConnectDelayed,
    /// `ZMQ_EVENT_CONNECT_RETRIED`: a connect failed and will be retried.
    /// `value`: the reconnect interval, in milliseconds.
    ConnectRetried,
    /// `ZMQ_EVENT_LISTENING`: the socket is bound and listening. `value`:
    /// the listening socket's file descriptor. `endpoint`: the bound
    /// endpoint, with the port resolved (as [`Socket::bind`] returns it).
    Listening,
    /// `ZMQ_EVENT_BIND_FAILED`: a bind failed. `value`: the errno.
    BindFailed,
    /// `ZMQ_EVENT_ACCEPTED`: a connection from a peer was accepted.
    /// `value`: the accepted connection's file descriptor. `endpoint`: the
    /// bound endpoint that accepted it.
    Accepted,
    /// `ZMQ_EVENT_ACCEPT_FAILED`: accepting a connection failed. `value`:
    /// the errno.
    AcceptFailed,
    /// `ZMQ_EVENT_CLOSED`: a listening or connecting socket was closed.
    /// `value`: the closed file descriptor.
    Closed,
    /// `ZMQ_EVENT_CLOSE_FAILED`: closing a socket failed. `value`: the
    /// errno.
    CloseFailed,
    /// `ZMQ_EVENT_DISCONNECTED`: an established connection broke or was
    /// closed. `value`: the connection's file descriptor (already closed).
    Disconnected,
    /// `ZMQ_EVENT_MONITOR_STOPPED`: monitoring stopped; it is the last
    /// event a [`Monitor`] yields. `value`: 0.
    MonitorStopped,
    /// `ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL`: the ZMTP handshake failed
    /// without a protocol or authentication error (the peer went away, or
    /// speaks something else). `value`: the errno.
    HandshakeFailedNoDetail,
    /// `ZMQ_EVENT_HANDSHAKE_SUCCEEDED`: the ZMTP handshake (and any
    /// security mechanism) completed; messages can flow. `value`: 0.
    HandshakeSucceeded,
    /// `ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL`: the handshake failed because
    /// of a protocol error. `value`: a `ZMQ_PROTOCOL_ERROR_*` code
    /// (`0x1000_00xx` for ZMTP errors, `0x1100_00xx` for cryptographic
    /// ones, `0x2000_00xx` for ZAP errors; see `zmq_socket_monitor(3)`).
    HandshakeFailedProtocol,
    /// `ZMQ_EVENT_HANDSHAKE_FAILED_AUTH`: the ZAP handler rejected the
    /// peer. `value`: the ZAP status code (300, 400 or 500).
    HandshakeFailedAuth,
    /// An event code this crate does not know (a later libzmq's), kept
    /// as libzmq sent it. Events decoded by this crate never hold one of
    /// the codes listed above here.
    Unknown(u16),
}

impl Event {
    /// The events this crate knows, with their libzmq codes.
    const KNOWN: [(Event, EventMask, &'static str); 15] = [
        (Event::Connected, EventMask::CONNECTED, "CONNECTED"),
        (
            Event::ConnectDelayed,
            EventMask::CONNECT_DELAYED,
            "CONNECT_DELAYED",
        ),
        (
            Event::ConnectRetried,
            EventMask::CONNECT_RETRIED,
            "CONNECT_RETRIED",
        ),
        (Event::Listening, EventMask::LISTENING, "LISTENING"),
        (Event::BindFailed, EventMask::BIND_FAILED, "BIND_FAILED"),
        (Event::Accepted, EventMask::ACCEPTED, "ACCEPTED"),
        (
            Event::AcceptFailed,
            EventMask::ACCEPT_FAILED,
            "ACCEPT_FAILED",
        ),
        (Event::Closed, EventMask::CLOSED, "CLOSED"),
        (Event::CloseFailed, EventMask::CLOSE_FAILED, "CLOSE_FAILED"),
        (Event::Disconnected, EventMask::DISCONNECTED, "DISCONNECTED"),
        (
            Event::MonitorStopped,
            EventMask::MONITOR_STOPPED,
            "MONITOR_STOPPED",
        ),
        (
            Event::HandshakeFailedNoDetail,
            EventMask::HANDSHAKE_FAILED_NO_DETAIL,
            "HANDSHAKE_FAILED_NO_DETAIL",
        ),
        (
            Event::HandshakeSucceeded,
            EventMask::HANDSHAKE_SUCCEEDED,
            "HANDSHAKE_SUCCEEDED",
        ),
        (
            Event::HandshakeFailedProtocol,
            EventMask::HANDSHAKE_FAILED_PROTOCOL,
            "HANDSHAKE_FAILED_PROTOCOL",
        ),
        (
            Event::HandshakeFailedAuth,
            EventMask::HANDSHAKE_FAILED_AUTH,
            "HANDSHAKE_FAILED_AUTH",
        ),
    ];

    /// The event with libzmq's code `code` (`ZMQ_EVENT_*`);
    /// [`Event::Unknown`] for a code this crate does not know.
    pub fn from_code(code: u16) -> Event {
        Event::KNOWN
            .iter()
            .find(|(_, mask, _)| mask.0 == code)
            .map_or(Event::Unknown(code), |&(event, _, _)| event)
    }

    /// libzmq's code for the event (`ZMQ_EVENT_*`).
    pub fn code(self) -> u16 {
        match self {
            Event::Unknown(code) => code,
            known => Event::KNOWN
                .iter()
                .find(|(event, _, _)| *event == known)
                .map_or(0, |(_, mask, _)| mask.0),
        }
    }

    /// The mask that selects this event.
    pub fn mask(self) -> EventMask {
        EventMask(self.code())
    }
}

/// One event of a monitored socket, as a [`Monitor`] yields it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SocketEvent {
    /// What happened.
    pub event: Event,
    /// The event's value, whose meaning depends on the event (a file
    /// descriptor, an errno, an interval, an error code): each [`Event`]
    /// variant says which.
    pub value: u32,
    /// The endpoint the event concerns: for a connecting socket, the
    /// endpoint given to `connect`; for a bound one, the endpoint it
    /// listens on (with the port resolved). Empty for
    /// [`Event::MonitorStopped`]. (Bytes that are not UTF-8, which libzmq
    /// does not produce, would be replaced by U+FFFD.)
    pub endpoint: String,
}

impl SocketEvent {
    /// Why a handshake failed, for the three `HandshakeFailed*` events
    /// (`None` for others): the errno, the protocol error or the ZAP
    /// status code that [`value`](SocketEvent::value) holds, decoded.
    pub fn handshake_failure(&self) -> Option<crate::HandshakeFailure> {
        crate::HandshakeFailure::from_event(self)
    }
}

/// A set of [`Event`]s to monitor: combine the constants with `|`.
///
/// ```
/// use zmq_tokio::{Event, EventMask};
///
/// let mask = EventMask::ACCEPTED | EventMask::DISCONNECTED;
/// assert!(mask.contains(EventMask::ACCEPTED));
/// assert!(!mask.contains(Event::Listening.mask()));
/// assert!(EventMask::ALL.contains(mask));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventMask(u16);

impl EventMask {
    /// [`Event::Connected`].
    pub const CONNECTED: EventMask = EventMask(zmq_sys::ZMQ_EVENT_CONNECTED as u16);
    /// [`Event::ConnectDelayed`].
    pub const CONNECT_DELAYED: EventMask = EventMask(zmq_sys::ZMQ_EVENT_CONNECT_DELAYED as u16);
    /// [`Event::ConnectRetried`].
    pub const CONNECT_RETRIED: EventMask = EventMask(zmq_sys::ZMQ_EVENT_CONNECT_RETRIED as u16);
    /// [`Event::Listening`].
    pub const LISTENING: EventMask = EventMask(zmq_sys::ZMQ_EVENT_LISTENING as u16);
    /// [`Event::BindFailed`].
    pub const BIND_FAILED: EventMask = EventMask(zmq_sys::ZMQ_EVENT_BIND_FAILED as u16);
    /// [`Event::Accepted`].
    pub const ACCEPTED: EventMask = EventMask(zmq_sys::ZMQ_EVENT_ACCEPTED as u16);
    /// [`Event::AcceptFailed`].
    pub const ACCEPT_FAILED: EventMask = EventMask(zmq_sys::ZMQ_EVENT_ACCEPT_FAILED as u16);
    /// [`Event::Closed`].
    pub const CLOSED: EventMask = EventMask(zmq_sys::ZMQ_EVENT_CLOSED as u16);
    /// [`Event::CloseFailed`].
    pub const CLOSE_FAILED: EventMask = EventMask(zmq_sys::ZMQ_EVENT_CLOSE_FAILED as u16);
    /// [`Event::Disconnected`].
    pub const DISCONNECTED: EventMask = EventMask(zmq_sys::ZMQ_EVENT_DISCONNECTED as u16);
    /// [`Event::MonitorStopped`].
    pub const MONITOR_STOPPED: EventMask = EventMask(zmq_sys::ZMQ_EVENT_MONITOR_STOPPED as u16);
    /// [`Event::HandshakeFailedNoDetail`].
    pub const HANDSHAKE_FAILED_NO_DETAIL: EventMask =
        EventMask(zmq_sys::ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL as u16);
    /// [`Event::HandshakeSucceeded`].
    pub const HANDSHAKE_SUCCEEDED: EventMask =
        EventMask(zmq_sys::ZMQ_EVENT_HANDSHAKE_SUCCEEDED as u16);
    /// [`Event::HandshakeFailedProtocol`].
    pub const HANDSHAKE_FAILED_PROTOCOL: EventMask =
        EventMask(zmq_sys::ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL as u16);
    /// [`Event::HandshakeFailedAuth`].
    pub const HANDSHAKE_FAILED_AUTH: EventMask =
        EventMask(zmq_sys::ZMQ_EVENT_HANDSHAKE_FAILED_AUTH as u16);
    /// Every event (`ZMQ_EVENT_ALL`), including those of later libzmq
    /// versions, which arrive as [`Event::Unknown`].
    pub const ALL: EventMask = EventMask(zmq_sys::ZMQ_EVENT_ALL as u16);

    /// The empty set.
    pub const fn empty() -> EventMask {
        EventMask(0)
    }

    /// The mask with libzmq's bits `bits` (`ZMQ_EVENT_*` values or-ed
    /// together).
    pub const fn from_bits(bits: u16) -> EventMask {
        EventMask(bits)
    }

    /// libzmq's bits for the mask.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Whether every event of `other` is in `self`.
    pub const fn contains(self, other: EventMask) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the mask selects no event.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl BitOr for EventMask {
    type Output = EventMask;

    fn bitor(self, rhs: EventMask) -> EventMask {
        EventMask(self.0 | rhs.0)
    }
}

impl BitOrAssign for EventMask {
    fn bitor_assign(&mut self, rhs: EventMask) {
        self.0 |= rhs.0;
    }
}

impl From<Event> for EventMask {
    fn from(event: Event) -> EventMask {
        event.mask()
    }
}

impl fmt::Debug for EventMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == EventMask::ALL {
            return f.write_str("EventMask(ALL)");
        }
        f.write_str("EventMask(")?;
        let mut rest = self.0;
        let mut first = true;
        for (_, mask, name) in Event::KNOWN {
            if self.contains(mask) {
                if !first {
                    f.write_str(" | ")?;
                }
                f.write_str(name)?;
                rest &= !mask.0;
                first = false;
            }
        }
        if rest != 0 || first {
            if !first {
                f.write_str(" | ")?;
            }
            write!(f, "{rest:#06x}")?;
        }
        f.write_str(")")
    }
}

/// Numbers monitors, for their unique inproc endpoints.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The current monitor of each monitored socket, keyed by the address of
/// the socket's `Core` (kept allocated by the monitor's `Weak`) and holding
/// that monitor's id. libzmq replaces a socket's monitor when monitoring
/// starts again: an older `Monitor` must then not stop the newer one when
/// it is dropped. Read and written only under the socket's lock
/// (`Core::with_raw`), or once the socket is closed.
static CURRENT: LazyLock<Mutex<HashMap<usize, u64>>> = LazyLock::new(Mutex::default);

fn current() -> MutexGuard<'static, HashMap<usize, u64>> {
    CURRENT.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Forgets monitor `id` of the socket `key`; whether it was the current one.
fn take_current(key: usize, id: u64) -> bool {
    let mut current = current();
    if current.get(&key) == Some(&id) {
        current.remove(&key);
        true
    } else {
        false
    }
}

/// The events of a socket, from [`Socket::monitor`]: a
/// [`Stream`](futures::Stream) of [`SocketEvent`]s.
///
/// The stream yields the requested events in the order libzmq reports them
/// and ends (`None`) once monitoring has stopped: when the monitored socket
/// is closed or dropped (after its last events, such as
/// [`Event::Disconnected`] and [`Event::Closed`]), when monitoring is
/// started again on the same socket (libzmq allows one monitor per socket;
/// the newer one replaces this one), or when the context is shut down.
/// [`Event::MonitorStopped`], when requested, is the last item. An event
/// that does not decode is yielded as an [`Error::InvalidMessage`] item, and
/// the stream goes on.
///
/// Events queue without limit until read: keep reading, or drop the
/// monitor. Dropping it stops monitoring (only if it is still the socket's
/// current monitor) and never blocks; the monitored socket keeps working.
///
/// # Cancellation
///
/// An event is taken from the monitor only in the poll that returns it:
/// dropping a pending [`next_event`](Monitor::next_event) (or
/// `StreamExt::next`) loses nothing.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> zmq_tokio::Result<()> {
/// use zmq_tokio::{Event, EventMask, Socket, SocketType};
///
/// let server = Socket::new(SocketType::Rep)?;
/// let mut monitor = server.monitor(EventMask::LISTENING | EventMask::ACCEPTED)?;
/// let endpoint = server.bind("tcp://127.0.0.1:*")?;
///
/// let event = monitor.next_event().await.expect("monitoring goes on")?;
/// assert_eq!(event.event, Event::Listening);
/// assert_eq!(event.endpoint, endpoint);
///
/// let client = Socket::new(SocketType::Req)?;
/// client.connect(&endpoint)?;
/// let event = monitor.next_event().await.expect("monitoring goes on")?;
/// assert_eq!(event.event, Event::Accepted);
///
/// server.close();
/// // The monitor ends with the socket (ACCEPTED and LISTENING were all it
/// // asked for).
/// while let Some(event) = monitor.next_event().await {
///     panic!("unexpected {event:?}");
/// }
/// # Ok(())
/// # }
/// ```
pub struct Monitor {
    /// Our PAIR, connected to libzmq's. `None` only in `Drop`.
    reader: Option<Socket>,
    /// The monitored socket (a `Weak`, so that a monitor does not keep the
    /// socket's resources alive).
    target: Weak<Core>,
    /// This monitor's number, unique in the process.
    id: u64,
    /// The events asked for.
    events: EventMask,
    /// `MONITOR_STOPPED` has arrived: libzmq has closed its PAIR.
    stopped: bool,
    /// The stream has returned `None`.
    ended: bool,
}

impl Socket {
    /// Starts monitoring the socket's `events` (connections, disconnections,
    /// handshakes, ...) and returns them as a [`Monitor`] stream.
    ///
    /// libzmq allows one monitor per socket: calling `monitor` again
    /// replaces the previous monitor, whose stream then ends (after
    /// [`Event::MonitorStopped`], if it asked for it); dropping the previous
    /// `Monitor` afterwards leaves the new one running.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] when the socket is closed,
    /// [`Error::ContextTerminated`] after its context's shutdown,
    /// [`Error::NoRuntime`] outside a Tokio runtime, and libzmq's error when
    /// it cannot start monitoring (`EMFILE`, with words that name the
    /// context's `MAX_SOCKETS` limit, when the context has no room for two
    /// more sockets).
    ///
    /// # Examples
    ///
    /// Waiting until a client has connected:
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> zmq_tokio::Result<()> {
    /// use zmq_tokio::{Event, EventMask, Socket, SocketType};
    ///
    /// let client = Socket::new(SocketType::Req)?;
    /// let mut monitor = client.monitor(EventMask::CONNECTED)?;
    /// let server = Socket::new(SocketType::Rep)?;
    /// let endpoint = server.bind("tcp://127.0.0.1:*")?;
    /// client.connect(&endpoint)?;
    ///
    /// let event = monitor.next_event().await.expect("monitoring goes on")?;
    /// assert_eq!(event.event, Event::Connected);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// [`Monitor`] has a longer example.
    pub fn monitor(&self, events: EventMask) -> Result<Monitor> {
        if self.core().is_closed() {
            return Err(self.core().closed_error());
        }
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let endpoint = format!("inproc://zmq-tokio-monitor-{id}");
        let c_endpoint = raw::c_string(&endpoint)
            .map_err(|_| Error::invalid_endpoint(&endpoint, "contains a NUL byte"))?;

        // Connect first: libzmq's bind then attaches the pipe at once, with
        // no HWM on libzmq's side (see the module docs).
        let reader = self.context().socket(SocketType::Pair)?;
        reader.set(options::RCVHWM, 0)?;
        reader.connect(&endpoint)?;

        let target = std::sync::Arc::downgrade(self.core());
        let key = Weak::as_ptr(&target).addr();
        // MONITOR_STOPPED tells us when libzmq has closed its side.
        let bits = c_int::from((events | EventMask::MONITOR_STOPPED).0);
        let started = self.core().with_raw(|raw| {
            raw.monitor(Some(&c_endpoint), bits).map_err(|e| match e {
                // libzmq makes its side's PAIR socket here.
                raw::EMFILE => self
                    .context()
                    .too_many_sockets(format!("monitor on {endpoint}")),
                e => Error::zmq(e, format!("monitor on {endpoint}")),
            })?;
            current().insert(key, id);
            Ok(())
        });
        if let Err(e) = started {
            resolve_pending(&reader, &endpoint);
            return Err(match e {
                Error::Closed => self.core().closed_error(),
                e => e,
            });
        }
        Ok(Monitor {
            reader: Some(reader),
            target,
            id,
            events,
            stopped: false,
            ended: false,
        })
    }
}

/// A connect to an inproc endpoint that nobody binds stays pending in the
/// context, and keeps the connecting socket from ever being destroyed
/// (libzmq resolves pending connections only at a bind, or at the context's
/// termination). When monitoring could not start, the context's absorber
/// ROUTER takes it (see `src/inproc.rs`), so that the reader can go.
fn resolve_pending(reader: &Socket, endpoint: &str) {
    reader.context().inproc().absorb_now(endpoint);
}

impl Monitor {
    /// The next event; `None` once monitoring has stopped (see
    /// [`Monitor`]). The same as `StreamExt::next`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if the future is dropped before it completes, no event
    /// has been taken; the next call gets it.
    pub async fn next_event(&mut self) -> Option<Result<SocketEvent>> {
        poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// The events this monitor asked for.
    pub fn events(&self) -> EventMask {
        self.events
    }
}

impl Stream for Monitor {
    type Item = Result<SocketEvent>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.ended {
                return Poll::Ready(None);
            }
            let Some(reader) = this.reader.as_mut() else {
                this.ended = true;
                return Poll::Ready(None);
            };
            let msg = match ready!(Pin::new(reader).poll_next(cx)) {
                Some(Ok(msg)) => msg,
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                // The context was shut down (we never close the reader
                // while the monitor lives).
                None => {
                    this.ended = true;
                    return Poll::Ready(None);
                }
            };
            let event = match decode(&msg) {
                Ok(event) => event,
                Err(e) => return Poll::Ready(Some(Err(e))),
            };
            if event.event == Event::MonitorStopped {
                this.stopped = true;
                this.ended = true;
                if this.events.contains(EventMask::MONITOR_STOPPED) {
                    return Poll::Ready(Some(Ok(event)));
                }
                return Poll::Ready(None);
            }
            // libzmq sends only what was asked for; this is a safeguard.
            if this.events.contains(event.event.mask()) {
                return Poll::Ready(Some(Ok(event)));
            }
        }
    }
}

impl FusedStream for Monitor {
    fn is_terminated(&self) -> bool {
        self.ended
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let Some(reader) = self.reader.take() else {
            return;
        };
        let key = self.target.as_ptr().addr();
        // Whether libzmq may still write to the reader after this.
        let live = if self.stopped || reader.context().is_shutdown() {
            // libzmq has closed its PAIR after MONITOR_STOPPED, or its
            // sends fail with ETERM.
            take_current(key, self.id);
            false
        } else {
            let stopped = self.target.upgrade().and_then(|core| {
                core.with_raw(|raw| {
                    if take_current(key, self.id) {
                        // libzmq sends MONITOR_STOPPED (into the unbounded
                        // pipe) and closes its PAIR before this returns.
                        // An error can only be the context's termination.
                        let _ = raw.monitor(None, 0);
                    }
                    // Otherwise a newer monitor replaced this one, and
                    // libzmq closed this one's PAIR then.
                    Ok(())
                })
                .ok()
            });
            match stopped {
                Some(()) => false,
                // The socket is closed, so monitoring cannot be stopped:
                // if this is still its monitor, libzmq may be tearing the
                // socket down and about to write its last events.
                None => take_current(key, self.id),
            }
        };
        if live {
            drain_in_background(reader);
        }
        // Otherwise the reader closes here, after libzmq's PAIR.
    }
}

/// Reads `reader` on a thread of its own until libzmq closes its PAIR
/// (after `MONITOR_STOPPED`) or the context terminates, then closes it.
/// A thread rather than a task: the runtime may be shutting down, and
/// closing the reader early could hang a libzmq thread.
fn drain_in_background(reader: Socket) {
    let (hand_over, receive) = std::sync::mpsc::channel::<Socket>();
    let spawned = std::thread::Builder::new()
        .name("zmq-tokio-monitor".into())
        .spawn(move || {
            if let Ok(reader) = receive.recv() {
                drain(&reader);
            }
        });
    match spawned {
        Ok(_) => {
            // The thread holds the receiver until it has the reader.
            let _ = hand_over.send(reader);
        }
        // No thread: leaving the reader open forever is the only safe
        // choice left.
        Err(_) => std::mem::forget(reader),
    }
}

/// Blocking reads until `MONITOR_STOPPED` or an error (`ETERM`).
fn drain(reader: &Socket) {
    let mut first_frame = true;
    loop {
        let stop = reader.core().with_raw(|raw| {
            let mut frame = RawMsg::new();
            loop {
                match raw.recv(&mut frame, 0) {
                    Ok(_) => break,
                    Err(raw::EINTR) => continue,
                    Err(e) => return Err(Error::zmq(e, "recv")),
                }
            }
            let stopped = first_frame
                && matches!(frame.data(), [lo, hi, ..] if frame.len() == 6
                    && u16::from_ne_bytes([*lo, *hi]) == EventMask::MONITOR_STOPPED.0);
            first_frame = !frame.more();
            Ok(stopped)
        });
        match stop {
            Ok(false) => continue,
            // libzmq closes its PAIR right after MONITOR_STOPPED.
            Ok(true) | Err(_) => return,
        }
    }
}

impl fmt::Debug for Monitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Monitor")
            .field("id", &self.id)
            .field("events", &self.events)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

/// Decodes libzmq's two frames: 6 bytes (u16 event, u32 value, native
/// endian), then the endpoint.
fn decode(msg: &Multipart) -> Result<SocketEvent> {
    let invalid = |reason: String| Error::InvalidMessage {
        reason: reason.into(),
    };
    if msg.len() != 2 {
        return Err(invalid(format!(
            "a monitor event has 2 frames, got {}",
            msg.len()
        )));
    }
    let head: &[u8] = &msg[0];
    let &[e0, e1, v0, v1, v2, v3] = head else {
        return Err(invalid(format!(
            "the first frame of a monitor event has 6 bytes, got {}",
            head.len()
        )));
    };
    Ok(SocketEvent {
        event: Event::from_code(u16::from_ne_bytes([e0, e1])),
        value: u32::from_ne_bytes([v0, v1, v2, v3]),
        endpoint: String::from_utf8_lossy(&msg[1]).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(event: u16, value: u32) -> Vec<u8> {
        let mut bytes = event.to_ne_bytes().to_vec();
        bytes.extend_from_slice(&value.to_ne_bytes());
        bytes
    }

    #[test]
    fn decodes_an_event() {
        let msg = Multipart::from(vec![frame(0x0008, 7), b"tcp://127.0.0.1:5555".to_vec()]);
        let event = decode(&msg).unwrap();
        assert_eq!(event.event, Event::Listening);
        assert_eq!(event.value, 7);
        assert_eq!(event.endpoint, "tcp://127.0.0.1:5555");
    }

    #[test]
    fn unknown_codes_are_kept() {
        let msg = Multipart::from(vec![frame(0x8000, 1), Vec::new()]);
        assert_eq!(decode(&msg).unwrap().event, Event::Unknown(0x8000));
        assert_eq!(Event::from_code(0), Event::Unknown(0));
    }

    #[test]
    fn malformed_events_are_errors() {
        for msg in [
            Multipart::from(vec![frame(1, 1)]),
            Multipart::from(vec![frame(1, 1), Vec::new(), Vec::new()]),
            Multipart::from(vec![vec![1, 0, 0], Vec::new()]),
            Multipart::from(vec![vec![0; 7], Vec::new()]),
        ] {
            assert!(matches!(decode(&msg), Err(Error::InvalidMessage { .. })));
        }
        let lossy = Multipart::from(vec![frame(1, 1), vec![0xff]]);
        assert_eq!(decode(&lossy).unwrap().endpoint, "\u{fffd}");
    }

    #[test]
    fn codes_round_trip() {
        for (event, mask, _) in Event::KNOWN {
            assert_eq!(Event::from_code(mask.bits()), event);
            assert_eq!(event.code(), mask.bits());
            assert!(EventMask::ALL.contains(event.mask()));
        }
        let all = Event::KNOWN
            .iter()
            .fold(EventMask::empty(), |all, (_, mask, _)| all | *mask);
        assert_eq!(all.bits(), 0x7fff);
    }

    #[test]
    fn masks_debug_by_name() {
        let mask = EventMask::ACCEPTED | EventMask::DISCONNECTED;
        assert_eq!(format!("{mask:?}"), "EventMask(ACCEPTED | DISCONNECTED)");
        assert_eq!(format!("{:?}", EventMask::ALL), "EventMask(ALL)");
        assert_eq!(format!("{:?}", EventMask::empty()), "EventMask(0x0000)");
        assert_eq!(
            format!("{:?}", EventMask::from_bits(0x8001)),
            "EventMask(CONNECTED | 0x8000)"
        );
    }
}
