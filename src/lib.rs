//! An async, Tokio-native binding to [libzmq](https://zeromq.org).
//!
//! `zmq-tokio` gives every classic ZeroMQ socket type an async API: await
//! [`Socket::recv`] and [`Socket::send`] of whole multipart messages, race
//! them in `tokio::select!` (they are cancel safe), share one socket between
//! tasks through `Arc<Socket>`, or use a socket as a
//! [`Stream`](futures::Stream) and [`Sink`](futures::Sink).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> zmq_tokio::Result<()> {
//! use zmq_tokio::{Socket, SocketType};
//!
//! let server = Socket::new(SocketType::Rep)?;
//! server.bind("inproc://hello")?;
//! let client = Socket::new(SocketType::Req)?;
//! client.connect("inproc://hello")?;
//!
//! client.send("Hello").await?;
//! let request = server.recv_string().await?;
//! server.send(format!("{request}, World")).await?;
//! assert_eq!(client.recv_string().await?, "Hello, World");
//! # Ok(())
//! # }
//! ```
//!
//! # How waiting works
//!
//! libzmq signals readiness through one edge-triggered fd per socket
//! (`ZMQ_FD`) that stands for both directions and is re-armed only when
//! someone drains the socket's command mailbox. Each operation here is
//! tried first without blocking; only when libzmq says `EAGAIN` does the
//! task wait on that fd, registered with Tokio's reactor. Any libzmq call
//! may drain the fd's edge before the reactor sees it, so every call on a
//! socket, whichever method makes it and whether it succeeds or fails,
//! ends by waking the other waiters it may have made ready. No task sleeps
//! while its message waits, whether one task or many use the socket
//! (through `Arc<Socket>`, [`SocketStream`] and [`SocketSink`]). Successful operations spend Tokio's cooperative
//! budget, so a flood of messages does not starve a runtime's other tasks:
//! an eighth of a unit per message, plus an eighth per 2 KiB, at most a
//! unit (Tokio's own resources spend a unit per operation, which for
//! messages of a few bytes made a task yield far more often than it
//! needs), so a task that never waits yields after about 1,024 small
//! messages, or 128 large ones.
//!
//! # Messages and copies
//!
//! A [`Multipart`] is a whole message of [`Message`] frames. Frames larger
//! than [`Message::COPY_THRESHOLD`] go from [`Bytes`] (or `Vec<u8>`)
//! to libzmq without being copied, and [`Message::into_bytes`] hands
//! received frames of [`Message::INTO_BYTES_COPY_BELOW`] bytes or more to
//! `Bytes` without a copy.
//!
//! # Closing and shutting down
//!
//! Nothing here blocks a runtime thread, however a socket ends:
//!
//! - [`Socket::close`] closes a socket for every task that holds it:
//!   their pending operations fail with [`Error::Closed`], and every
//!   [`Socket::closed`] future resolves. Dropping the last holder does the
//!   same. libzmq's `zmq_close` does not block: messages already sent are
//!   handed to libzmq's reaper thread, which keeps delivering them for the
//!   socket's `LINGER` period.
//! - Every new socket gets `LINGER` = [`DEFAULT_LINGER_MS`] (1000 ms)
//!   instead of libzmq's default of forever, so that a peer that never
//!   shows up cannot hold a context's termination forever. Set
//!   [`options::LINGER`] per socket to change it.
//! - [`Context::shutdown`] makes every pending and later operation on the
//!   context's sockets fail with [`Error::ContextTerminated`] and resolves
//!   their `closed()` futures.
//! - [`Context::terminate`] shuts the context down, closes its sockets and
//!   awaits libzmq's `zmq_ctx_term`, which returns once lingering messages
//!   are delivered or their linger ran out. It runs that wait on a thread
//!   of its own: this is the graceful end of a service.
//! - When the last handle of a context (every `Context` clone and every
//!   socket) is dropped inside a runtime, `zmq_ctx_term` runs on a thread of
//!   its own as well; outside a runtime it runs in place, as libzmq's would.
//!
//! Over `ipc://`, libzmq 4.3 can lose messages still queued when the sender
//! closes its socket before the receiver has read them, however long
//! `LINGER` is and whichever side binds; pyzmq, on the same libzmq, loses
//! them too. Where every message counts, keep the sender open until the
//! receiver confirms it has them (a reply or a final acknowledgement), or
//! use `tcp://`.
//!
//! # Runtime
//!
//! Sockets register with the reactor of the Tokio runtime they are created
//! in, which needs I/O enabled (`enable_io` or `enable_all`; `#[tokio::main]`
//! does it). Both the current-thread and the multi-thread runtime work.
#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod budget;
mod builder;
mod context;
mod curve;
mod endpoint;
pub mod errno;
mod error;
mod handshake;
mod inproc;
mod message;
mod monitor;
mod multipart;
pub mod options;
mod proxy;
mod raw;
mod socket;
mod socket_type;
pub mod zap;

pub use builder::SocketBuilder;
/// The shared byte buffer frames convert from and to without a copy
/// ([`Message::into_bytes`], [`Socket::recv_bytes`]), re-exported so that
/// naming it needs no other dependency.
pub use bytes::Bytes;
pub use context::{Context, ContextBuilder};
pub use curve::{curve_keypair, curve_public, z85_decode, z85_encode, CurveKeyPair};
pub use error::{Error, Result, TrySendError};
pub use handshake::{HandshakeFailure, ProtocolError};
pub use message::Message;
pub use monitor::{Event, EventMask, Monitor, SocketEvent};
pub use multipart::{IntoIter, Iter, Multipart};
pub use proxy::{
    proxy, Direction, Proxy, ProxyControl, ProxyOutcome, ProxyStats, Traffic, DEFAULT_BURST,
};
pub use socket::{Endpoints, Events, Socket, SocketSink, SocketStream};
pub use socket_type::SocketType;

/// The `LINGER` this crate gives every new socket, in milliseconds: how long
/// libzmq keeps trying to deliver messages that were sent before the socket
/// was closed. libzmq's own default (-1, forever) would let a peer that
/// never shows up hold a context's termination forever. Set
/// [`options::LINGER`] to change it per socket.
pub const DEFAULT_LINGER_MS: i32 = 1000;

/// The version of the libzmq this crate is linked with, as
/// `(major, minor, patch)`.
pub fn version() -> (i32, i32, i32) {
    raw::version()
}

/// Whether the linked libzmq supports a capability, as `zmq_has` reports:
/// `"ipc"`, `"pgm"`, `"tipc"`, `"norm"`, `"curve"`, `"gssapi"`, `"draft"`.
pub fn has(capability: &str) -> bool {
    match std::ffi::CString::new(capability) {
        Ok(capability) => raw::has(&capability),
        Err(_) => false,
    }
}

// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
