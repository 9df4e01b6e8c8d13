//! The classic libzmq socket types, and the readiness flags of a socket.

use std::ffi::c_int;
use std::fmt;

use zmq_sys as sys;

/// The type of a socket: its messaging pattern.
///
/// These are libzmq's stable types. The DRAFT thread-safe types (CLIENT,
/// SERVER, RADIO, DISH, ...) have no `ZMQ_FD` to wait on and are not
/// offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SocketType {
    /// Exclusive pair: one peer, both directions.
    Pair,
    /// Publisher: sends to every matching subscriber; drops when a
    /// subscriber is at its high-water mark.
    Pub,
    /// Subscriber: receives what matches its subscriptions.
    Sub,
    /// Requester: strictly alternates send and receive.
    Req,
    /// Replier: strictly alternates receive and send.
    Rep,
    /// Asynchronous requester: load-balances sends, fair-queues receives.
    Dealer,
    /// Asynchronous replier: prefixes each received message with the
    /// sender's routing id and routes each sent one by its first frame.
    Router,
    /// Receives from a pipeline, fair-queued.
    Pull,
    /// Sends into a pipeline, load-balanced.
    Push,
    /// Publisher that also receives subscription messages.
    XPub,
    /// Subscriber that subscribes by sending subscription messages.
    XSub,
    /// Raw TCP: talks to peers that do not speak ZMTP.
    Stream,
}

impl SocketType {
    /// Every type, in libzmq's numbering order.
    pub const ALL: [SocketType; 12] = [
        SocketType::Pair,
        SocketType::Pub,
        SocketType::Sub,
        SocketType::Req,
        SocketType::Rep,
        SocketType::Dealer,
        SocketType::Router,
        SocketType::Pull,
        SocketType::Push,
        SocketType::XPub,
        SocketType::XSub,
        SocketType::Stream,
    ];

    /// libzmq's number for this type (`ZMQ_PAIR`, ...).
    pub fn raw(self) -> c_int {
        let raw = match self {
            SocketType::Pair => sys::ZMQ_PAIR,
            SocketType::Pub => sys::ZMQ_PUB,
            SocketType::Sub => sys::ZMQ_SUB,
            SocketType::Req => sys::ZMQ_REQ,
            SocketType::Rep => sys::ZMQ_REP,
            SocketType::Dealer => sys::ZMQ_DEALER,
            SocketType::Router => sys::ZMQ_ROUTER,
            SocketType::Pull => sys::ZMQ_PULL,
            SocketType::Push => sys::ZMQ_PUSH,
            SocketType::XPub => sys::ZMQ_XPUB,
            SocketType::XSub => sys::ZMQ_XSUB,
            SocketType::Stream => sys::ZMQ_STREAM,
        };
        raw as c_int
    }

    /// The type with libzmq's number `raw`, if it is one of these.
    pub fn from_raw(raw: c_int) -> Option<SocketType> {
        SocketType::ALL.into_iter().find(|kind| kind.raw() == raw)
    }

    /// libzmq's name for the type (`"PUSH"`, `"XPUB"`, ...), as ZMTP
    /// announces it in the `Socket-Type` property.
    pub fn name(self) -> &'static str {
        match self {
            SocketType::Pair => "PAIR",
            SocketType::Pub => "PUB",
            SocketType::Sub => "SUB",
            SocketType::Req => "REQ",
            SocketType::Rep => "REP",
            SocketType::Dealer => "DEALER",
            SocketType::Router => "ROUTER",
            SocketType::Pull => "PULL",
            SocketType::Push => "PUSH",
            SocketType::XPub => "XPUB",
            SocketType::XSub => "XSUB",
            SocketType::Stream => "STREAM",
        }
    }

    /// Whether the type can receive messages.
    pub fn can_recv(self) -> bool {
        !matches!(self, SocketType::Pub | SocketType::Push)
    }

    /// Whether the type can send messages.
    pub fn can_send(self) -> bool {
        !matches!(self, SocketType::Sub | SocketType::Pull)
    }
}

impl fmt::Display for SocketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
