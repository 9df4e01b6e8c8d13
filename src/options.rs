//! Typed socket options, named as libzmq names them without `ZMQ_`.
//!
//! Each constant knows its libzmq number, its value type and whether it can
//! be read and written, so [`Socket::set`](crate::Socket::set) and
//! [`Socket::get`](crate::Socket::get) check the value's type at compile
//! time. Values keep libzmq's units (`LINGER` and `RCVTIMEO` in
//! milliseconds), so libzmq's `zmq_setsockopt` documentation reads straight
//! across.
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

// The sealed traits below take the crate-private `RawSocket`: they live in a
// private module, so nothing outside the crate can name, implement or call
// them, which is the point of sealing.
#![allow(private_interfaces)]

use std::ffi::c_int;
use std::fmt;
use std::marker::PhantomData;

use zmq_sys as sys;

use crate::raw::{Errno, RawSocket};

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

    /// How a value type is read from libzmq.
    #[allow(unreachable_pub)]
    pub trait Read: Sized {
        fn read(raw: &RawSocket, id: c_int) -> Result<Self, Errno>;
    }

    /// How a value is written to an option of type `T`.
    #[allow(unreachable_pub)]
    pub trait Write<T> {
        fn write(self, raw: &RawSocket, id: c_int) -> Result<(), Errno>;
    }
}

use private::{Read, Write};

/// A type an option's value can have: `i32`, `i64`, `u64`, `bool`,
/// `Vec<u8>` or `String`. Sealed.
pub trait OptionType: private::Read {
    /// The [`ValueType`] this is.
    const VALUE_TYPE: ValueType;
}

/// A value that can be written to an option whose type is `T`: `T` itself,
/// and for bytes and text options borrowed forms (`&[u8]`, `&[u8; N]`,
/// `Bytes`, `&str`). Sealed.
pub trait IntoOptionValue<T: OptionType>: private::Write<T> {}

impl<T: OptionType, V: private::Write<T>> IntoOptionValue<T> for V {}

/// The longest binary or text option libzmq returns (`LAST_ENDPOINT` of a
/// long ipc path, a routing id of 255 bytes).
const MAX_OPTION_BYTES: usize = 1024;

macro_rules! scalar {
    ($ty:ty, $vt:ident, $get:ident, $set:ident) => {
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
        }
    };
}

scalar!(i32, Int, get_int, set_int);
scalar!(i64, Int64, get_i64, set_i64);
scalar!(u64, UInt64, get_u64, set_u64);

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
}

impl OptionType for Vec<u8> {
    const VALUE_TYPE: ValueType = ValueType::Bytes;
}
impl Read for Vec<u8> {
    fn read(raw: &RawSocket, id: c_int) -> Result<Self, Errno> {
        raw.get_bytes(id, MAX_OPTION_BYTES)
    }
}

impl OptionType for String {
    const VALUE_TYPE: ValueType = ValueType::Text;
}
impl Read for String {
    fn read(raw: &RawSocket, id: c_int) -> Result<Self, Errno> {
        raw.get_bytes(id, MAX_OPTION_BYTES)
            .map(crate::socket::text_option)
    }
}

macro_rules! borrowed_input {
    ($target:ty: $($ty:ty),*) => {$(
        impl Write<$target> for $ty {
            fn write(self, raw: &RawSocket, id: c_int) -> Result<(), Errno> {
                raw.set_bytes(id, AsRef::<[u8]>::as_ref(&self))
            }
        }
    )*};
}

borrowed_input!(Vec<u8>: Vec<u8>, &[u8], &Vec<u8>, bytes::Bytes, &str);
borrowed_input!(String: String, &str, &String);

impl<const N: usize> Write<Vec<u8>> for &[u8; N] {
    fn write(self, raw: &RawSocket, id: c_int) -> Result<(), Errno> {
        raw.set_bytes(id, self)
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

        /// Every option this crate knows, with its type and access (like
        /// Racket's `zmq-list-options`).
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
    /// I/O thread affinity bitmask for new connections.
    AFFINITY: u64 = ZMQ_AFFINITY, rw;
    /// The socket's routing id, as ROUTER peers see it (1 to 255 bytes).
    ROUTING_ID: Vec<u8> = ZMQ_ROUTING_ID, rw;
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
    /// How long, in milliseconds, unsent messages linger after close (-1:
    /// forever, 0: drop at once). This crate's default is
    /// [`DEFAULT_LINGER_MS`](crate::DEFAULT_LINGER_MS).
    LINGER: i32 = ZMQ_LINGER, rw;
    /// Initial reconnection interval in milliseconds.
    RECONNECT_IVL: i32 = ZMQ_RECONNECT_IVL, rw;
    /// Maximum length of the queue of pending connections.
    BACKLOG: i32 = ZMQ_BACKLOG, rw;
    /// Maximum reconnection interval in milliseconds (0: only
    /// `RECONNECT_IVL`).
    RECONNECT_IVL_MAX: i32 = ZMQ_RECONNECT_IVL_MAX, rw;
    /// Largest message, in bytes, a peer may send (-1: no limit); a peer
    /// that sends more is disconnected.
    MAXMSGSIZE: i64 = ZMQ_MAXMSGSIZE, rw;
    /// High-water mark for outbound messages, per peer (0: no limit).
    SNDHWM: i32 = ZMQ_SNDHWM, rw;
    /// High-water mark for inbound messages, per peer (0: no limit).
    RCVHWM: i32 = ZMQ_RCVHWM, rw;
    /// Receive timeout in milliseconds (-1: none): `recv` fails with
    /// [`Error::Timeout`](crate::Error::Timeout) after that long. Applied by
    /// this crate with a Tokio timer, so the runtime needs time enabled.
    RCVTIMEO: i32 = ZMQ_RCVTIMEO, rw;
    /// Send timeout in milliseconds (-1: none): `send` fails with
    /// [`Error::Timeout`](crate::Error::Timeout) after that long without
    /// room. Applied with a Tokio timer, like `RCVTIMEO`.
    SNDTIMEO: i32 = ZMQ_SNDTIMEO, rw;
    /// The endpoint last bound, with a wildcard port resolved.
    LAST_ENDPOINT: String = ZMQ_LAST_ENDPOINT, r;
    /// ROUTER: report unroutable messages (`EHOSTUNREACH`) instead of
    /// dropping them.
    ROUTER_MANDATORY: bool = ZMQ_ROUTER_MANDATORY, w;
    /// Queue messages only to completed connections.
    IMMEDIATE: bool = ZMQ_IMMEDIATE, rw;
    /// XPUB: pass every subscription message upstream, duplicates too.
    XPUB_VERBOSE: bool = ZMQ_XPUB_VERBOSE, w;
    /// REQ: allow a new request without waiting for the reply of the last.
    REQ_RELAXED: bool = ZMQ_REQ_RELAXED, w;
    /// REQ: match replies to requests by a request id.
    REQ_CORRELATE: bool = ZMQ_REQ_CORRELATE, w;
    /// Keep only the last message in each queue.
    CONFLATE: bool = ZMQ_CONFLATE, w;
    /// The socket's type number (read only; see
    /// [`Socket::kind`](crate::Socket::kind)).
    TYPE: i32 = ZMQ_TYPE, r;
}
