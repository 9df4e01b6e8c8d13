//! The error codes users match on, as the `i32` that
//! [`Error::errno`](crate::Error::errno) returns.
//!
//! The POSIX codes have the platform's values; libzmq's own codes
//! ([`EFSM`], [`ENOCOMPATPROTO`], [`ETERM`], [`EMTHREAD`]) lie above
//! libzmq's `ZMQ_HAUSNUMERO` (156384712), where no OS code is.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> zmq_tokio::Result<()> {
//! use zmq_tokio::{errno, Socket, SocketType};
//!
//! let rep = Socket::new(SocketType::Rep)?;
//! // A REP must receive a request before it can send.
//! let err = rep.send("too early").await.unwrap_err();
//! assert_eq!(err.errno(), Some(errno::EFSM));
//! assert_eq!(errno::name(errno::EFSM), Some("EFSM"));
//! # Ok(())
//! # }
//! ```

use zmq_sys::errno as sys;

/// Resource temporarily unavailable: the operation would block.
pub const EAGAIN: i32 = sys::EAGAIN;
/// Address already in use (`bind`). Rebinding right after a socket on the
/// same address closed can see it for a few milliseconds: libzmq's reaper
/// closes the listener asynchronously.
pub const EADDRINUSE: i32 = sys::EADDRINUSE;
/// Cannot assign the requested address (`bind` to an address that is not
/// this host's).
pub const EADDRNOTAVAIL: i32 = sys::EADDRNOTAVAIL;
/// Connection refused.
pub const ECONNREFUSED: i32 = sys::ECONNREFUSED;
/// No route to host: a ROUTER with `ROUTER_MANDATORY` sent to a routing id
/// no peer has, or a peer at its high-water mark.
pub const EHOSTUNREACH: i32 = sys::EHOSTUNREACH;
/// The call was interrupted by a signal.
pub const EINTR: i32 = sys::EINTR;
/// Invalid argument.
pub const EINVAL: i32 = sys::EINVAL;
/// Too many open files.
pub const EMFILE: i32 = sys::EMFILE;
/// Message too long.
pub const EMSGSIZE: i32 = sys::EMSGSIZE;
/// No such file or directory: for example `unbind`/`disconnect` of an
/// endpoint the socket is not bound or connected to, or an `inproc://`
/// name nobody bound.
pub const ENOENT: i32 = sys::ENOENT;
/// Not enough memory.
pub const ENOMEM: i32 = sys::ENOMEM;
/// The operation is not supported by this socket type (for example
/// `send` on a SUB, `recv` on a PUB).
pub const ENOTSUP: i32 = sys::ENOTSUP;
/// The transport is not supported by this libzmq build.
pub const EPROTONOSUPPORT: i32 = sys::EPROTONOSUPPORT;
/// Not a socket: the socket was closed. The crate reports it as
/// [`Error::Closed`](crate::Error::Closed).
pub const ENOTSOCK: i32 = sys::ENOTSOCK;
/// The operation cannot be accomplished in the socket's current state:
/// a REQ must alternate send then recv, a REP recv then send.
pub const EFSM: i32 = sys::EFSM;
/// The transport is not compatible with this socket type.
pub const ENOCOMPATPROTO: i32 = sys::ENOCOMPATPROTO;
/// The context was terminated. The crate reports it as
/// [`Error::ContextTerminated`](crate::Error::ContextTerminated), whose
/// `errno()` is this code.
pub const ETERM: i32 = sys::ETERM;
/// No I/O thread is available to do the job (a context with
/// `IO_THREADS` 0 asked to connect or bind over TCP).
pub const EMTHREAD: i32 = sys::EMTHREAD;

/// The name of an error code this module knows (`"EFSM"`), or `None`.
pub fn name(code: i32) -> Option<&'static str> {
    Some(match code {
        EAGAIN => "EAGAIN",
        EADDRINUSE => "EADDRINUSE",
        EADDRNOTAVAIL => "EADDRNOTAVAIL",
        ECONNREFUSED => "ECONNREFUSED",
        EHOSTUNREACH => "EHOSTUNREACH",
        EINTR => "EINTR",
        EINVAL => "EINVAL",
        EMFILE => "EMFILE",
        EMSGSIZE => "EMSGSIZE",
        ENOENT => "ENOENT",
        ENOMEM => "ENOMEM",
        ENOTSUP => "ENOTSUP",
        EPROTONOSUPPORT => "EPROTONOSUPPORT",
        ENOTSOCK => "ENOTSOCK",
        EFSM => "EFSM",
        ENOCOMPATPROTO => "ENOCOMPATPROTO",
        ETERM => "ETERM",
        EMTHREAD => "EMTHREAD",
        _ => return None,
    })
}

/// A hint for a code where one helps users find the cause.
pub(crate) fn hint(code: i32) -> Option<&'static str> {
    Some(match code {
        EFSM => "REQ must alternate send then recv; REP recv then send",
        EADDRINUSE => "another socket holds this address; one closed just now frees it a few milliseconds later",
        EHOSTUNREACH => "no connected peer has this routing id, or it is at its high-water mark",
        ENOCOMPATPROTO => "this transport does not work with this socket type",
        EPROTONOSUPPORT => "this libzmq was built without the transport (see zmq_tokio::has)",
        EMTHREAD => "the context has no I/O thread (IO_THREADS is 0)",
        _ => return None,
    })
}
