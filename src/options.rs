//! Typed socket options, named as libzmq names them without `ZMQ_`.
//!
//! Every stable (non-DRAFT) socket option of libzmq 4.3 is here. Each
//! constant knows its libzmq number, its value type and whether it can be
//! read and written, so [`Socket::set`](crate::Socket::set) and
//! [`Socket::get`](crate::Socket::get) check the value's type at compile
//! time; [`all`] lists them with their type and access. Values keep
//! libzmq's units (`LINGER` and `RCVTIMEO` in milliseconds), so libzmq's
//! `zmq_setsockopt` documentation reads straight across.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> zmq_tokio::Result<()> {
//! use zmq_tokio::{options, Socket, SocketType};
//!
//! let socket = Socket::new(SocketType::Dealer)?;
//! socket.set(options::SNDHWM, 10)?;
//! socket.set(options::ROUTING_ID, b"worker-1")?;
//! assert_eq!(socket.get(options::SNDHWM)?, 10);
//! assert_eq!(socket.get(options::ROUTING_ID)?, b"worker-1");
//! # Ok(())
//! # }
//! ```
//!
//! # Errors
//!
//! A value libzmq would reject or misread, an option the socket's type does
//! not take, or an option the linked libzmq was built without (CURVE,
//! GSSAPI, VMCI: see [`has`](crate::has)) gives
//! [`Error::InvalidOption`] naming the option
//! and saying what is wrong; most of these are caught before libzmq is
//! called:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use zmq_tokio::{options, Error, Socket, SocketType};
//!
//! let push = Socket::new(SocketType::Push).unwrap();
//! let err = push.set(options::SNDHWM, -1).unwrap_err();
//! assert!(matches!(err, Error::InvalidOption { option: "SNDHWM", .. }));
//! let err = push.set(options::ROUTER_MANDATORY, true).unwrap_err();
//! assert!(err.to_string().contains("ROUTER"));
//! # }
//! ```
//!
//! # Not here
//!
//! libzmq's DRAFT options (`ZMQ_ROUTER_NOTIFY`, `ZMQ_METADATA`,
//! `ZMQ_SOCKS_USERNAME`, ... numbered 93 and up), the deprecated filters
//! `ZMQ_IPV4ONLY` (use [`IPV6`]), `ZMQ_TCP_ACCEPT_FILTER` and
//! `ZMQ_IPC_FILTER_*` (use a ZAP handler), and `ZMQ_BLOCKY`, which is a
//! context option, not a socket option. The deprecated names
//! [`IDENTITY`] and [`CONNECT_RID`] are aliases of their modern names.

// The sealed traits below take the crate-private `RawSocket`: they live in a
// private module, so nothing outside the crate can name, implement or call
// them, which is the point of sealing.
#![allow(private_interfaces)]

use std::ffi::c_int;
use std::fmt;
use std::marker::PhantomData;

use zmq_sys as sys;

use crate::raw::{Errno, RawSocket};
use crate::{Error, SocketType};

/// A typed socket option: `T` is the type [`Socket::get`](crate::Socket::get)
/// returns.
pub struct SocketOption<T> {
    name: &'static str,
    id: c_int,
    readable: bool,
    writable: bool,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for SocketOption<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for SocketOption<T> {}

impl<T> fmt::Debug for SocketOption<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "options::{}", self.name)
    }
}

impl<T> SocketOption<T> {
    const fn new(name: &'static str, id: u32, readable: bool, writable: bool) -> Self {
        SocketOption {
            name,
            id: id as c_int,
            readable,
            writable,
            _type: PhantomData,
        }
    }

    /// libzmq's name without `ZMQ_` (`"SNDHWM"`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// libzmq's number for the option.
    pub fn id(&self) -> c_int {
        self.id
    }

    /// Whether [`Socket::get`](crate::Socket::get) can read it.
    pub fn is_readable(&self) -> bool {
        self.readable
    }

    /// Whether [`Socket::set`](crate::Socket::set) can write it.
    pub fn is_writable(&self) -> bool {
        self.writable
    }
}

impl<T: OptionType> SocketOption<T> {
    /// Checks, before libzmq sees it, that a `kind` socket takes this
    /// option, that `value` is one libzmq accepts and reads as meant, and
    /// that the linked libzmq has the feature the option belongs to.
    pub(crate) fn check_set<V: IntoOptionValue<T>>(
        &self,
        kind: SocketType,
        value: &V,
    ) -> Result<(), Error> {
        check_socket_type(self.name, self.id, kind)?;
        check_value(self.name, self.id, kind, T::VALUE_TYPE, value.value())?;
        check_capability(self.name, self.id, "set")
    }

    /// Checks that the linked libzmq has the feature the option belongs
    /// to, before reading it.
    pub(crate) fn check_get(&self) -> Result<(), Error> {
        check_capability(self.name, self.id, "get")
    }
}

/// The value type of an option, as [`OptionInfo`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValueType {
    /// `i32` (libzmq's `int`).
    Int,
    /// `i64`.
    Int64,
    /// `u64`.
    UInt64,
    /// `bool` (an `int` that is 0 or 1).
    Bool,
    /// Bytes: `Vec<u8>` to read, anything `AsRef<[u8]>` to write.
    Bytes,
    /// Text: `String` to read, `&str` or `String` to write.
    Text,
}

/// One entry of [`all`]: an option's name, type and access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionInfo {
    /// libzmq's name without `ZMQ_`.
    pub name: &'static str,
    /// libzmq's number.
    pub id: c_int,
    /// The value type.
    pub value_type: ValueType,
    /// Whether it can be read.
    pub readable: bool,
    /// Whether it can be written.
    pub writable: bool,
}

mod private {
    use std::ffi::c_int;

    use crate::raw::{Errno, RawSocket};

    /// A value about to be written, as the checks before libzmq see it.
    #[allow(unreachable_pub)]
    #[derive(Debug, Clone, Copy)]
    pub enum Value<'a> {
        /// An `i32` option's value.
        Int(c_int),
        /// A binary or text option's value.
        Bytes(&'a [u8]),
        /// Anything else (`bool`, `i64`, `u64`): every value is fine.
        Other,
    }

    /// How a value type is read from libzmq.
    #[allow(unreachable_pub)]
    pub trait Read: Sized {
        fn read(raw: &RawSocket, id: c_int) -> Result<Self, Errno>;
    }

    /// How a value is written to an option of type `T`.
    #[allow(unreachable_pub)]
    pub trait Write<T> {
        fn write(self, raw: &RawSocket, id: c_int) -> Result<(), Errno>;

        /// The value, for the checks made before libzmq sees it.
        fn value(&self) -> Value<'_>;
    }
}

use private::{Read, Value, Write};

/// A type an option's value can have: `i32`, `i64`, `u64`, `bool`,
/// `Vec<u8>` or `String`. Sealed.
pub trait OptionType: private::Read {
    /// The [`ValueType`] this is.
    const VALUE_TYPE: ValueType;
}

/// A value that can be written to an option whose type is `T`: `T` itself,
/// and for bytes and text options borrowed forms (`&[u8]`, `&[u8; N]`,
/// `Bytes`, `&str`; text such as a Z85 CURVE key for bytes options too).
/// Sealed.
pub trait IntoOptionValue<T: OptionType>: private::Write<T> {}

impl<T: OptionType, V: private::Write<T>> IntoOptionValue<T> for V {}

/// The longest binary or text option libzmq returns (`LAST_ENDPOINT` of a
/// long ipc path, a routing id of 255 bytes).
const MAX_OPTION_BYTES: usize = 1024;

/// A CURVE key in binary form.
const CURVE_KEY_BYTES: usize = 32;

/// A CURVE key in Z85 text.
const CURVE_KEY_Z85_BYTES: usize = 40;

macro_rules! scalar {
    ($ty:ty, $vt:ident, $get:ident, $set:ident, |$v:ident| $value:expr) => {
        impl OptionType for $ty {
            const VALUE_TYPE: ValueType = ValueType::$vt;
        }
        impl Read for $ty {
            fn read(raw: &RawSocket, id: c_int) -> Result<Self, Errno> {
                raw.$get(id)
            }
        }
        impl Write<$ty> for $ty {
            fn write(self, raw: &RawSocket, id: c_int) -> Result<(), Errno> {
                raw.$set(id, self)
            }
            fn value(&self) -> Value<'_> {
                let $v = *self;
                $value
            }
        }
    };
}

scalar!(i32, Int, get_int, set_int, |v| Value::Int(v));
scalar!(i64, Int64, get_i64, set_i64, |_v| Value::Other);
scalar!(u64, UInt64, get_u64, set_u64, |_v| Value::Other);

impl OptionType for bool {
    const VALUE_TYPE: ValueType = ValueType::Bool;
}
impl Read for bool {
    fn read(raw: &RawSocket, id: c_int) -> Result<Self, Errno> {
        raw.get_int(id).map(|v| v != 0)
    }
}
impl Write<bool> for bool {
    fn write(self, raw: &RawSocket, id: c_int) -> Result<(), Errno> {
        raw.set_int(id, c_int::from(self))
    }
    fn value(&self) -> Value<'_> {
        Value::Other
    }
}

impl OptionType for Vec<u8> {
    const VALUE_TYPE: ValueType = ValueType::Bytes;
}
impl Read for Vec<u8> {
    fn read(raw: &RawSocket, id: c_int) -> Result<Self, Errno> {
        // libzmq hands out a CURVE key only into a buffer of exactly 32
        // (binary) or 41 (Z85 and NUL) bytes; read the binary form.
        let capacity = if is_curve_key(id) {
            CURVE_KEY_BYTES
        } else {
            MAX_OPTION_BYTES
        };
        raw.get_bytes(id, capacity)
    }
}

impl OptionType for String {
    const VALUE_TYPE: ValueType = ValueType::Text;
}
impl Read for String {
    fn read(raw: &RawSocket, id: c_int) -> Result<Self, Errno> {
        raw.get_bytes(id, MAX_OPTION_BYTES).map(text_option)
    }
}

macro_rules! borrowed_input {
    ($target:ty: $($ty:ty),*) => {$(
        impl Write<$target> for $ty {
            fn write(self, raw: &RawSocket, id: c_int) -> Result<(), Errno> {
                raw.set_bytes(id, AsRef::<[u8]>::as_ref(&self))
            }
            fn value(&self) -> Value<'_> {
                Value::Bytes(AsRef::<[u8]>::as_ref(self))
            }
        }
    )*};
}

borrowed_input!(Vec<u8>: Vec<u8>, &[u8], &Vec<u8>, bytes::Bytes, &str, String, &String);
borrowed_input!(String: String, &str, &String);

impl<const N: usize> Write<Vec<u8>> for &[u8; N] {
    fn write(self, raw: &RawSocket, id: c_int) -> Result<(), Errno> {
        raw.set_bytes(id, self)
    }
    fn value(&self) -> Value<'_> {
        Value::Bytes(&self[..])
    }
}

macro_rules! options {
    ($( $(#[$doc:meta])* $name:ident: $ty:ty = $id:ident, $access:ident; )*) => {
        $(
            $(#[$doc])*
            pub const $name: SocketOption<$ty> = SocketOption::new(
                stringify!($name),
                sys::$id,
                options!(@read $access),
                options!(@write $access),
            );
        )*

        /// Every option this crate knows, in libzmq's numbering order, with
        /// its type and access. The
        /// aliases [`IDENTITY`] and [`CONNECT_RID`] are not listed apart.
        pub fn all() -> &'static [OptionInfo] {
            const ALL: &[OptionInfo] = &[$(
                OptionInfo {
                    name: stringify!($name),
                    id: sys::$id as c_int,
                    value_type: <$ty as OptionType>::VALUE_TYPE,
                    readable: options!(@read $access),
                    writable: options!(@write $access),
                },
            )*];
            ALL
        }
    };
    (@read rw) => { true };
    (@read r) => { true };
    (@read w) => { false };
    (@write rw) => { true };
    (@write r) => { false };
    (@write w) => { true };
}

options! {
    /// I/O thread affinity bitmask for new connections (bit n: I/O thread
    /// n; 0: any thread).
    AFFINITY: u64 = ZMQ_AFFINITY, rw;
    /// The socket's routing id, as ROUTER peers see it (1 to 255 bytes; ids
    /// starting with a zero byte are reserved for libzmq).
    ROUTING_ID: Vec<u8> = ZMQ_ROUTING_ID, rw;
    /// SUB: add a message filter, a prefix (empty: every message); XPUB and
    /// PUB with `XPUB_MANUAL`: add a subscription. Write only; see
    /// [`Socket::subscribe`](crate::Socket::subscribe).
    SUBSCRIBE: Vec<u8> = ZMQ_SUBSCRIBE, w;
    /// SUB: remove one filter added by `SUBSCRIBE` with the same prefix;
    /// XPUB and PUB with `XPUB_MANUAL`: remove a subscription. Write only.
    UNSUBSCRIBE: Vec<u8> = ZMQ_UNSUBSCRIBE, w;
    /// Multicast (PGM, NORM) data rate in kilobits per second (1 or more;
    /// default 100).
    RATE: i32 = ZMQ_RATE, rw;
    /// Multicast recovery interval in milliseconds: how long a receiver may
    /// be absent before data is lost (0 or more; default 10000).
    RECOVERY_IVL: i32 = ZMQ_RECOVERY_IVL, rw;
    /// Kernel send buffer size in bytes (-1: the OS default).
    SNDBUF: i32 = ZMQ_SNDBUF, rw;
    /// Kernel receive buffer size in bytes (-1: the OS default).
    RCVBUF: i32 = ZMQ_RCVBUF, rw;
    /// Whether more frames of the last received message follow (read
    /// only; [`Socket::recv`](crate::Socket::recv) reads whole messages).
    RCVMORE: bool = ZMQ_RCVMORE, r;
    /// The socket's file descriptor for readiness (read only; used
    /// internally).
    FD: i32 = ZMQ_FD, r;
    /// What the socket can do now: a bitmask of `ZMQ_POLLIN` (1) and
    /// `ZMQ_POLLOUT` (2) (read only; see
    /// [`Socket::events`](crate::Socket::events)).
    EVENTS: i32 = ZMQ_EVENTS, r;
    /// The socket's type number (read only; see
    /// [`Socket::kind`](crate::Socket::kind)).
    TYPE: i32 = ZMQ_TYPE, r;
    /// How long, in milliseconds, unsent messages linger after close (-1:
    /// forever, 0: drop at once). This crate's default is
    /// [`DEFAULT_LINGER_MS`](crate::DEFAULT_LINGER_MS).
    ///
    /// **0 on a sender of multipart messages over `tcp://` or `ipc://`**:
    /// close it before its peer goes away, not at the same moment. libzmq
    /// 4.3 aborts the process (`session_base.cpp:260`, libzmq #3442,
    /// unfixed upstream) when the connection fails in the instant after the
    /// close has dropped a message that libzmq had half written to it. A
    /// peer closing at the same time is such a failure. No call can be
    /// refused to prevent it, since it is the network's timing that decides;
    /// the same instant comes when a longer `LINGER` runs out with a message
    /// half written.
    LINGER: i32 = ZMQ_LINGER, rw;
    /// Initial reconnection interval in milliseconds (-1: never reconnect;
    /// default 100).
    RECONNECT_IVL: i32 = ZMQ_RECONNECT_IVL, rw;
    /// Maximum length of the queue of pending connections (0 or more;
    /// default 100). Raise it on a `tcp://` listener that many peers
    /// connect to at once, such as a thousand sockets at start-up: beyond
    /// the backlog, connections wait for TCP's and libzmq's retries. The
    /// kernel's `net.core.somaxconn` caps it.
    BACKLOG: i32 = ZMQ_BACKLOG, rw;
    /// Maximum reconnection interval in milliseconds (0: only
    /// `RECONNECT_IVL`).
    RECONNECT_IVL_MAX: i32 = ZMQ_RECONNECT_IVL_MAX, rw;
    /// Largest message, in bytes, a peer may send (-1: no limit); a peer
    /// that sends more is disconnected.
    MAXMSGSIZE: i64 = ZMQ_MAXMSGSIZE, rw;
    /// High-water mark for outbound messages, per peer (0: no limit). Set
    /// it before the socket's first bind or connect: later changes are
    /// refused (see [`Socket::set`](crate::Socket::set)).
    SNDHWM: i32 = ZMQ_SNDHWM, rw;
    /// High-water mark for inbound messages, per peer (0: no limit). Set
    /// it before the socket's first bind or connect: later changes are
    /// refused (see [`Socket::set`](crate::Socket::set)).
    RCVHWM: i32 = ZMQ_RCVHWM, rw;
    /// Maximum network hops of multicast packets (1 or more; default 1).
    MULTICAST_HOPS: i32 = ZMQ_MULTICAST_HOPS, rw;
    /// Receive timeout in milliseconds (-1: none): `recv` fails with
    /// [`Error::Timeout`] after that long. Applied by
    /// this crate with a Tokio timer, so the runtime needs time enabled.
    RCVTIMEO: i32 = ZMQ_RCVTIMEO, rw;
    /// Send timeout in milliseconds (-1: none): `send` fails with
    /// [`Error::Timeout`] after that long without
    /// room. Applied with a Tokio timer, like `RCVTIMEO`.
    SNDTIMEO: i32 = ZMQ_SNDTIMEO, rw;
    /// The endpoint last bound, with a wildcard port resolved.
    LAST_ENDPOINT: String = ZMQ_LAST_ENDPOINT, r;
    /// ROUTER (and REP): report unroutable messages (`EHOSTUNREACH`)
    /// instead of dropping them.
    ROUTER_MANDATORY: bool = ZMQ_ROUTER_MANDATORY, w;
    /// TCP `SO_KEEPALIVE`: -1 (the OS default), 0 (off) or 1 (on).
    TCP_KEEPALIVE: i32 = ZMQ_TCP_KEEPALIVE, rw;
    /// TCP `TCP_KEEPCNT`: keepalive probes before dropping a connection
    /// (-1: the OS default).
    TCP_KEEPALIVE_CNT: i32 = ZMQ_TCP_KEEPALIVE_CNT, rw;
    /// TCP `TCP_KEEPIDLE`: idle seconds before the first keepalive probe
    /// (-1: the OS default).
    TCP_KEEPALIVE_IDLE: i32 = ZMQ_TCP_KEEPALIVE_IDLE, rw;
    /// TCP `TCP_KEEPINTVL`: seconds between keepalive probes (-1: the OS
    /// default).
    TCP_KEEPALIVE_INTVL: i32 = ZMQ_TCP_KEEPALIVE_INTVL, rw;
    /// Queue messages only to completed connections.
    IMMEDIATE: bool = ZMQ_IMMEDIATE, rw;
    /// XPUB (and PUB): pass every subscription message upstream,
    /// duplicates too.
    XPUB_VERBOSE: bool = ZMQ_XPUB_VERBOSE, w;
    /// ROUTER: raw mode, talking to non-ZMTP TCP peers. Deprecated by
    /// libzmq: use a [`Stream`](crate::SocketType::Stream) socket. Refused
    /// on REP, which libzmq 4.3 takes it on and then aborts at the next
    /// receive.
    ROUTER_RAW: bool = ZMQ_ROUTER_RAW, w;
    /// Use IPv6 as well as IPv4 on TCP (default off: IPv4 only).
    IPV6: bool = ZMQ_IPV6, rw;
    /// The security mechanism in use: 0 NULL, 1 PLAIN, 2 CURVE, 3 GSSAPI
    /// (read only).
    MECHANISM: i32 = ZMQ_MECHANISM, r;
    /// Act as the PLAIN server (authenticating peers through ZAP).
    PLAIN_SERVER: bool = ZMQ_PLAIN_SERVER, rw;
    /// PLAIN client user name (at most 255 bytes); makes the socket a
    /// PLAIN client. Empty: back to the NULL mechanism (libzmq 4.3 keeps
    /// the name, which still reads back).
    PLAIN_USERNAME: String = ZMQ_PLAIN_USERNAME, rw;
    /// PLAIN client password (at most 255 bytes); makes the socket a PLAIN
    /// client. Empty: back to the NULL mechanism (libzmq 4.3 keeps the
    /// password, which still reads back).
    PLAIN_PASSWORD: String = ZMQ_PLAIN_PASSWORD, rw;
    /// Act as the CURVE server (needs `has("curve")`).
    CURVE_SERVER: bool = ZMQ_CURVE_SERVER, rw;
    /// This socket's CURVE public key: 32 bytes, or 40 characters of Z85
    /// text to write; reads the 32 bytes (needs `has("curve")`).
    CURVE_PUBLICKEY: Vec<u8> = ZMQ_CURVE_PUBLICKEY, rw;
    /// This socket's CURVE secret key: 32 bytes, or 40 characters of Z85
    /// text to write; reads the 32 bytes (needs `has("curve")`).
    CURVE_SECRETKEY: Vec<u8> = ZMQ_CURVE_SECRETKEY, rw;
    /// The CURVE server's public key, which makes this socket a CURVE
    /// client: 32 bytes or 40 characters of Z85 (needs `has("curve")`).
    CURVE_SERVERKEY: Vec<u8> = ZMQ_CURVE_SERVERKEY, rw;
    /// DEALER, REQ, ROUTER (and REP): send an empty message to each new
    /// connection, so ROUTER peers learn the routing id at once.
    PROBE_ROUTER: bool = ZMQ_PROBE_ROUTER, w;
    /// REQ: match replies to requests by a request id frame.
    REQ_CORRELATE: bool = ZMQ_REQ_CORRELATE, w;
    /// REQ: allow a new request without waiting for the reply of the last.
    REQ_RELAXED: bool = ZMQ_REQ_RELAXED, w;
    /// Keep only the last message in each queue (single-frame messages
    /// only; meant for PUSH, PULL, PUB, SUB and DEALER).
    CONFLATE: bool = ZMQ_CONFLATE, rw;
    /// The ZAP (RFC 27) authentication domain (1 to 255 bytes).
    ZAP_DOMAIN: String = ZMQ_ZAP_DOMAIN, rw;
    /// ROUTER (and REP): a new peer with a routing id already in use takes
    /// over the old peer's connection instead of being refused.
    ROUTER_HANDOVER: bool = ZMQ_ROUTER_HANDOVER, w;
    /// IP type-of-service (DSCP and ECN bits) of outgoing packets (0 or
    /// more; default 0).
    TOS: i32 = ZMQ_TOS, rw;
    /// ROUTER, STREAM (and REP): the routing id of the peer of the next
    /// `connect` (1 to 255 bytes).
    CONNECT_ROUTING_ID: Vec<u8> = ZMQ_CONNECT_ROUTING_ID, w;
    /// Act as the GSSAPI server (needs `has("gssapi")`).
    GSSAPI_SERVER: bool = ZMQ_GSSAPI_SERVER, rw;
    /// This socket's GSSAPI principal name (1 to 255 bytes; needs
    /// `has("gssapi")`).
    GSSAPI_PRINCIPAL: String = ZMQ_GSSAPI_PRINCIPAL, rw;
    /// The GSSAPI server's service principal name, which makes this socket
    /// a GSSAPI client (1 to 255 bytes; needs `has("gssapi")`).
    GSSAPI_SERVICE_PRINCIPAL: String = ZMQ_GSSAPI_SERVICE_PRINCIPAL, rw;
    /// GSSAPI without encryption (needs `has("gssapi")`).
    GSSAPI_PLAINTEXT: bool = ZMQ_GSSAPI_PLAINTEXT, rw;
    /// Longest time, in milliseconds, a new connection may take for its
    /// ZMTP handshake (0: no limit; default 30000).
    HANDSHAKE_IVL: i32 = ZMQ_HANDSHAKE_IVL, rw;
    /// SOCKS5 proxy `host:port` for TCP connects. Only the empty value
    /// (none) can be set: libzmq 4.3 crashes the process when a proxy
    /// refuses a connection that the socket then drops (it frees the
    /// connection's poll entry twice), so the crate refuses any proxy until
    /// the libzmq it links has a fix.
    SOCKS_PROXY: String = ZMQ_SOCKS_PROXY, rw;
    /// XPUB (and PUB): at the high-water mark, fail sends with `EAGAIN`
    /// instead of dropping messages.
    XPUB_NODROP: bool = ZMQ_XPUB_NODROP, w;
    /// XPUB (and PUB): manual subscriptions, made with `SUBSCRIBE` and
    /// `UNSUBSCRIBE` on the XPUB after it receives a subscription message.
    XPUB_MANUAL: bool = ZMQ_XPUB_MANUAL, w;
    /// XPUB (and PUB): a message sent to each new subscriber (empty: none).
    XPUB_WELCOME_MSG: Vec<u8> = ZMQ_XPUB_WELCOME_MSG, w;
    /// STREAM: deliver an empty message when a peer connects or
    /// disconnects (default on).
    STREAM_NOTIFY: bool = ZMQ_STREAM_NOTIFY, w;
    /// PUB, XPUB, SUB: invert filtering, matching messages that match no
    /// subscription.
    INVERT_MATCHING: bool = ZMQ_INVERT_MATCHING, rw;
    /// Interval, in milliseconds, between ZMTP heartbeat PINGs (0: no
    /// heartbeats).
    HEARTBEAT_IVL: i32 = ZMQ_HEARTBEAT_IVL, rw;
    /// Time-to-live, in milliseconds, the peer is told to apply to this
    /// connection after a heartbeat (0 to 6553599, in steps of 100; 0:
    /// none).
    HEARTBEAT_TTL: i32 = ZMQ_HEARTBEAT_TTL, rw;
    /// How long, in milliseconds, to wait for traffic after a heartbeat
    /// PING before closing the connection (0 or more; reads -1 until set:
    /// `HEARTBEAT_IVL`).
    HEARTBEAT_TIMEOUT: i32 = ZMQ_HEARTBEAT_TIMEOUT, rw;
    /// XPUB (and PUB): pass every subscription and unsubscription message
    /// upstream, duplicates too.
    XPUB_VERBOSER: bool = ZMQ_XPUB_VERBOSER, w;
    /// Timeout, in milliseconds, of a TCP `connect()` (0: the OS default).
    CONNECT_TIMEOUT: i32 = ZMQ_CONNECT_TIMEOUT, rw;
    /// TCP maximum retransmit timeout in milliseconds, where the OS has it
    /// (0: the OS default).
    TCP_MAXRT: i32 = ZMQ_TCP_MAXRT, rw;
    /// Whether the socket is thread-safe (read only; false for the classic
    /// socket types).
    THREAD_SAFE: bool = ZMQ_THREAD_SAFE, r;
    /// Maximum transport data unit of multicast packets in bytes (1 or
    /// more; default 1500).
    MULTICAST_MAXTPDU: i32 = ZMQ_MULTICAST_MAXTPDU, rw;
    /// VMCI buffer size in bytes (needs `has("vmci")`; libzmq 4.3 cannot
    /// read it back).
    VMCI_BUFFER_SIZE: u64 = ZMQ_VMCI_BUFFER_SIZE, w;
    /// VMCI minimum buffer size in bytes (needs `has("vmci")`; libzmq 4.3
    /// cannot read it back).
    VMCI_BUFFER_MIN_SIZE: u64 = ZMQ_VMCI_BUFFER_MIN_SIZE, w;
    /// VMCI maximum buffer size in bytes (needs `has("vmci")`; libzmq 4.3
    /// cannot read it back).
    VMCI_BUFFER_MAX_SIZE: u64 = ZMQ_VMCI_BUFFER_MAX_SIZE, w;
    /// VMCI connect timeout in milliseconds (-1: none; needs
    /// `has("vmci")`; libzmq 4.3 cannot read it back).
    VMCI_CONNECT_TIMEOUT: i32 = ZMQ_VMCI_CONNECT_TIMEOUT, w;
    /// A listening TCP or IPC socket's file descriptor for the next `bind`
    /// to use, as systemd socket activation passes it (-1: none). Only -1
    /// can be set: libzmq takes the descriptor over and closes it with the
    /// socket, which a bare number cannot hand over soundly (it could
    /// close a descriptor that a `File` or a `TcpListener` still owns), and
    /// it aborts the process on a descriptor that is not a listening
    /// socket.
    USE_FD: i32 = ZMQ_USE_FD, rw;
    /// Name type of `GSSAPI_PRINCIPAL`: 0 host-based, 1 user name, 2
    /// Kerberos principal (needs `has("gssapi")`).
    GSSAPI_PRINCIPAL_NAMETYPE: i32 = ZMQ_GSSAPI_PRINCIPAL_NAMETYPE, rw;
    /// Name type of `GSSAPI_SERVICE_PRINCIPAL`: 0 host-based, 1 user name,
    /// 2 Kerberos principal (needs `has("gssapi")`).
    GSSAPI_SERVICE_PRINCIPAL_NAMETYPE: i32 = ZMQ_GSSAPI_SERVICE_PRINCIPAL_NAMETYPE, rw;
    /// Network interface (`SO_BINDTODEVICE`) the socket's TCP and UDP
    /// connections use (at most 15 bytes; empty: none; Linux, needs
    /// `CAP_NET_RAW` to bind).
    BINDTODEVICE: String = ZMQ_BINDTODEVICE, rw;
}

/// Deprecated libzmq name of [`ROUTING_ID`] (`ZMQ_IDENTITY`, still in
/// libzmq's `zmq.h`); the same option.
pub const IDENTITY: SocketOption<Vec<u8>> = ROUTING_ID;

/// Deprecated libzmq name of [`CONNECT_ROUTING_ID`] (`ZMQ_CONNECT_RID`,
/// still in libzmq's `zmq.h`); the same option.
pub const CONNECT_RID: SocketOption<Vec<u8>> = CONNECT_ROUTING_ID;

fn is_curve_key(id: c_int) -> bool {
    [
        sys::ZMQ_CURVE_PUBLICKEY,
        sys::ZMQ_CURVE_SECRETKEY,
        sys::ZMQ_CURVE_SERVERKEY,
    ]
    .contains(&(id as u32))
}

/// The socket types that take a type-specific option (as libzmq 4.3 has
/// them: REP is built on ROUTER, REQ on DEALER, PUB on XPUB), and how to
/// say so. `None`: every type takes it.
fn socket_types(id: c_int) -> Option<(&'static [SocketType], &'static str)> {
    use SocketType::{Dealer, Pub, Rep, Req, Router, Stream, Sub, XPub};
    Some(match id as u32 {
        sys::ZMQ_SUBSCRIBE | sys::ZMQ_UNSUBSCRIBE => (
            &[Sub, XPub, Pub],
            "only SUB sockets take it, and XPUB and PUB sockets with XPUB_MANUAL \
             (an XSUB socket subscribes with Socket::subscribe)",
        ),
        sys::ZMQ_ROUTER_MANDATORY | sys::ZMQ_ROUTER_HANDOVER => {
            (&[Router, Rep], "only ROUTER sockets take it (and REP)")
        }
        // libzmq lets a REP take it, and its first receive then aborts: the
        // REP copies the request's envelope into the reply pipe, and in raw
        // mode the empty delimiter closes that very pipe mid-message
        // (`Assertion failed: !_more (fq.cpp:112)`).
        sys::ZMQ_ROUTER_RAW => (
            &[Router],
            "only ROUTER sockets take it (a REP in raw mode makes libzmq 4.3 abort at \
             its next receive)",
        ),
        sys::ZMQ_PROBE_ROUTER => (
            &[Router, Rep, Dealer, Req],
            "only DEALER, REQ and ROUTER sockets take it (and REP)",
        ),
        sys::ZMQ_REQ_CORRELATE | sys::ZMQ_REQ_RELAXED => (&[Req], "only REQ sockets take it"),
        sys::ZMQ_CONNECT_ROUTING_ID => (
            &[Router, Rep, Stream],
            "only ROUTER and STREAM sockets take it (and REP)",
        ),
        sys::ZMQ_STREAM_NOTIFY => (&[Stream], "only STREAM sockets take it"),
        sys::ZMQ_XPUB_VERBOSE
        | sys::ZMQ_XPUB_VERBOSER
        | sys::ZMQ_XPUB_NODROP
        | sys::ZMQ_XPUB_MANUAL
        | sys::ZMQ_XPUB_WELCOME_MSG => (&[XPub, Pub], "only XPUB and PUB sockets take it"),
        _ => return None,
    })
}

fn check_socket_type(name: &'static str, id: c_int, kind: SocketType) -> Result<(), Error> {
    match socket_types(id) {
        Some((kinds, rule)) if !kinds.contains(&kind) => Err(Error::invalid_option(
            name,
            format!("cannot set it on a {kind} socket: {rule}"),
        )),
        _ => Ok(()),
    }
}

/// The values libzmq 4.3 accepts for an `i32` option, and how to say so.
/// `None`: any value.
fn int_range(id: c_int) -> Option<(c_int, c_int, &'static str)> {
    const MAX: c_int = c_int::MAX;
    Some(match id as u32 {
        sys::ZMQ_SNDHWM | sys::ZMQ_RCVHWM => (0, MAX, "it must be 0 (no limit) or more"),
        sys::ZMQ_RATE => (1, MAX, "it must be 1 kilobit per second or more"),
        sys::ZMQ_MULTICAST_HOPS => (1, MAX, "it must be 1 hop or more"),
        sys::ZMQ_MULTICAST_MAXTPDU => (1, MAX, "it must be 1 byte or more"),
        sys::ZMQ_SNDBUF | sys::ZMQ_RCVBUF => {
            (-1, MAX, "it must be -1 (the OS default) or 0 bytes or more")
        }
        sys::ZMQ_LINGER => (-1, MAX, "it must be -1 (forever) or 0 milliseconds or more"),
        sys::ZMQ_RCVTIMEO | sys::ZMQ_SNDTIMEO => {
            (-1, MAX, "it must be -1 (none) or 0 milliseconds or more")
        }
        sys::ZMQ_RECONNECT_IVL => (
            -1,
            MAX,
            "it must be -1 (never reconnect) or 0 milliseconds or more",
        ),
        sys::ZMQ_RECOVERY_IVL
        | sys::ZMQ_RECONNECT_IVL_MAX
        | sys::ZMQ_CONNECT_TIMEOUT
        | sys::ZMQ_TCP_MAXRT
        | sys::ZMQ_HANDSHAKE_IVL
        | sys::ZMQ_HEARTBEAT_IVL
        | sys::ZMQ_HEARTBEAT_TIMEOUT => (0, MAX, "it must be 0 milliseconds or more"),
        sys::ZMQ_BACKLOG => (0, MAX, "it must be 0 connections or more"),
        sys::ZMQ_TOS => (0, MAX, "it must be 0 or more"),
        sys::ZMQ_TCP_KEEPALIVE => (-1, 1, "it must be -1 (the OS default), 0 (off) or 1 (on)"),
        sys::ZMQ_TCP_KEEPALIVE_CNT | sys::ZMQ_TCP_KEEPALIVE_IDLE | sys::ZMQ_TCP_KEEPALIVE_INTVL => {
            (-1, MAX, "it must be -1 (the OS default) or 0 or more")
        }
        // libzmq keeps tenths of a second in 16 bits, and would truncate a
        // negative value to 0 rather than reject it.
        sys::ZMQ_HEARTBEAT_TTL => (0, 6_553_599, "it must be 0 to 6553599 milliseconds"),
        // libzmq takes over the descriptor and closes it with the
        // listener: a bare number cannot say that the caller gives up its
        // ownership, and a descriptor that is not a listening socket makes
        // libzmq abort on the I/O thread.
        sys::ZMQ_USE_FD => (
            -1,
            -1,
            "it must be -1 (none): libzmq would take over the descriptor and close it \
             with the socket, whoever owns it, and aborts on one that is not a \
             listening socket",
        ),
        sys::ZMQ_GSSAPI_PRINCIPAL_NAMETYPE | sys::ZMQ_GSSAPI_SERVICE_PRINCIPAL_NAMETYPE => (
            0,
            2,
            "it must be 0 (host-based), 1 (user name) or 2 (Kerberos principal)",
        ),
        _ => return None,
    })
}

/// The lengths libzmq 4.3 accepts for a binary or text option, and how to
/// say so. `None`: any length.
fn length_range(id: c_int) -> Option<(usize, usize, &'static str)> {
    Some(match id as u32 {
        sys::ZMQ_ROUTING_ID | sys::ZMQ_CONNECT_ROUTING_ID => {
            (1, 255, "routing ids are 1 to 255 bytes")
        }
        sys::ZMQ_ZAP_DOMAIN | sys::ZMQ_GSSAPI_PRINCIPAL | sys::ZMQ_GSSAPI_SERVICE_PRINCIPAL => {
            (1, 255, "it must be 1 to 255 bytes")
        }
        // Empty: back to the NULL mechanism.
        sys::ZMQ_PLAIN_USERNAME | sys::ZMQ_PLAIN_PASSWORD => {
            (0, 255, "it must be at most 255 bytes")
        }
        // The kernel reads at most IFNAMSIZ - 1 bytes of a device name.
        // Empty: none.
        sys::ZMQ_BINDTODEVICE => (0, 15, "interface names are at most 15 bytes"),
        // Empty only: libzmq 4.3 (and master) frees a SOCKS connection's
        // poll entry twice when the proxy fails the exchange and the
        // connection is then dropped (`socks_connecter_t::error` removes the
        // handle without clearing it); the process aborts or corrupts
        // memory. `tests/libzmq_guards.rs` shows it.
        sys::ZMQ_SOCKS_PROXY => (
            0,
            0,
            "it must be empty (no proxy): libzmq 4.3 frees a SOCKS connection's poll \
             entry twice when the proxy refuses the connection and the socket \
             later drops it, which crashes the process",
        ),
        _ => return None,
    })
}

fn check_value(
    name: &'static str,
    id: c_int,
    kind: SocketType,
    value_type: ValueType,
    value: Value<'_>,
) -> Result<(), Error> {
    let fail = |shown: &dyn fmt::Display, rule: &str| {
        Err(Error::invalid_option(
            name,
            format!("cannot set it to {shown} on a {kind} socket: {rule}"),
        ))
    };
    match value {
        Value::Int(v) => match int_range(id) {
            Some((low, high, rule)) if !(low..=high).contains(&v) => fail(&v, rule),
            _ => Ok(()),
        },
        Value::Bytes(bytes) => {
            let len = bytes.len();
            let shown = format!("{len} byte{}", if len == 1 { "" } else { "s" });
            if value_type == ValueType::Text && bytes.contains(&0) {
                return fail(
                    &"text with a NUL byte",
                    "libzmq reads text options as C strings",
                );
            }
            if is_curve_key(id) {
                const RULE: &str = "CURVE keys are 32 bytes, or 40 characters of Z85 text";
                return match len {
                    CURVE_KEY_BYTES => Ok(()),
                    CURVE_KEY_Z85_BYTES if !bytes.iter().all(|b| Z85.contains(b)) => {
                        fail(&"40 bytes that are not Z85 text", RULE)
                    }
                    CURVE_KEY_Z85_BYTES => Ok(()),
                    _ => fail(&shown, RULE),
                };
            }
            match length_range(id) {
                Some((low, high, rule)) if !(low..=high).contains(&len) => fail(&shown, rule),
                _ => Ok(()),
            }
        }
        Value::Other => Ok(()),
    }
}

/// The Z85 alphabet (ZeroMQ RFC 32).
const Z85: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

fn check_capability(name: &'static str, id: c_int, operation: &str) -> Result<(), Error> {
    let (capability, feature) = match id as u32 {
        sys::ZMQ_CURVE_SERVER
        | sys::ZMQ_CURVE_PUBLICKEY
        | sys::ZMQ_CURVE_SECRETKEY
        | sys::ZMQ_CURVE_SERVERKEY => ("curve", "CURVE security"),
        sys::ZMQ_GSSAPI_SERVER
        | sys::ZMQ_GSSAPI_PRINCIPAL
        | sys::ZMQ_GSSAPI_SERVICE_PRINCIPAL
        | sys::ZMQ_GSSAPI_PLAINTEXT
        | sys::ZMQ_GSSAPI_PRINCIPAL_NAMETYPE
        | sys::ZMQ_GSSAPI_SERVICE_PRINCIPAL_NAMETYPE => ("gssapi", "GSSAPI security"),
        sys::ZMQ_VMCI_BUFFER_SIZE
        | sys::ZMQ_VMCI_BUFFER_MIN_SIZE
        | sys::ZMQ_VMCI_BUFFER_MAX_SIZE
        | sys::ZMQ_VMCI_CONNECT_TIMEOUT => ("vmci", "the VMCI transport"),
        _ => return Ok(()),
    };
    if crate::has(capability) {
        Ok(())
    } else {
        Err(Error::invalid_option(
            name,
            format!(
                "cannot {operation} it: the linked libzmq was built without {feature} \
                 (zmq_tokio::has(\"{capability}\") is false)"
            ),
        ))
    }
}

/// A text option as libzmq returns it, without its NUL terminator.
pub(crate) fn text_option(mut bytes: Vec<u8>) -> String {
    if let Some(end) = bytes.iter().position(|&b| b == 0) {
        bytes.truncate(end);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}
