//! The crate's error type.

use std::borrow::Cow;
use std::fmt;
use std::io;

use crate::errno;
use crate::raw::{self, Errno};
use crate::Multipart;

/// A specialised `Result` whose error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `zmq-tokio`.
///
/// Errors that libzmq reports keep its errno, its message and the
/// operation that failed ([`Error::Zmq`]); the other variants name a
/// condition this crate detects itself. Every message says what was wrong:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use zmq_tokio::{Error, Socket, SocketType};
///
/// let socket = Socket::new(SocketType::Push).unwrap();
/// let err = socket.bind("tcp://127.0.0.1:99999").unwrap_err();
/// assert!(matches!(err, Error::InvalidEndpoint { .. }));
/// assert_eq!(
///     err.to_string(),
///     "invalid endpoint \"tcp://127.0.0.1:99999\": port 99999 is out of range (0 to 65535, or * for any)",
/// );
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The socket was closed, by [`Socket::close`](crate::Socket::close) on
    /// another holder or because its last holder dropped it.
    Closed,
    /// The socket's context was shut down
    /// ([`Context::shutdown`](crate::Context::shutdown)).
    ContextTerminated,
    /// `RCVTIMEO` or `SNDTIMEO` elapsed before the operation could complete.
    Timeout,
    /// An endpoint this crate would not pass to libzmq: libzmq misreads
    /// some malformed endpoints rather than rejecting them.
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        reason: Cow<'static, str>,
    },
    /// A socket option that cannot be set or read as asked.
    InvalidOption {
        /// The option's libzmq name, without `ZMQ_`.
        option: &'static str,
        /// What is wrong.
        reason: Cow<'static, str>,
    },
    /// A message that does not have the shape a helper needs, such as a
    /// multipart message passed to
    /// [`Socket::recv_string`](crate::Socket::recv_string).
    InvalidMessage {
        /// What is wrong.
        reason: Cow<'static, str>,
    },
    /// No Tokio runtime with I/O enabled is running on this thread; sockets
    /// register with the reactor when they are created. (Tokio panics when
    /// asked to register with a runtime built without I/O; that panic is
    /// caught, without the panic hook printing it, and becomes this error.)
    NoRuntime,
    /// The Tokio runtime the socket was created in has shut down: a
    /// socket waits on the reactor it registered with, so once that runtime
    /// is dropped, operations that have to wait fail with this error. Create
    /// the socket in the runtime that uses it.
    RuntimeShutdown,
    /// An error reported by libzmq.
    Zmq {
        /// The errno value, one of [`errno`](crate::errno)'s codes
        /// ([`EFSM`](crate::errno::EFSM), ...) or an OS code.
        errno: i32,
        /// libzmq's description of it (`zmq_strerror`).
        message: String,
        /// The operation that failed, with its argument where it has one:
        /// `bind tcp://127.0.0.1:5555`, `set SNDHWM`, `send`.
        operation: Cow<'static, str>,
    },
    /// An I/O error from the operating system: registering a socket's fd
    /// with Tokio's reactor, or starting the thread that terminates a
    /// context.
    Io(io::Error),
    /// An argument that is not what a function takes, such as Z85 text of
    /// the wrong length, a CURVE key with a character outside Z85, or an
    /// address range that does not parse.
    InvalidInput {
        /// What the argument is (`"Z85 text"`, `"CURVE secret key"`, ...).
        what: &'static str,
        /// What is wrong with it.
        reason: Cow<'static, str>,
    },
    /// The linked libzmq was built without a capability this call needs
    /// (see [`has`](crate::has)); the message says how to get it.
    Unsupported {
        /// The capability, as [`has`](crate::has) names it (`"curve"`).
        capability: &'static str,
        /// How to get a libzmq that has it.
        help: &'static str,
    },
}

impl Error {
    /// The errno behind this error, where libzmq (or the OS) reported one,
    /// to compare with the codes in [`errno`](crate::errno).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> zmq_tokio::Result<()> {
    /// use zmq_tokio::{errno, Socket, SocketType};
    ///
    /// let first = Socket::new(SocketType::Rep)?;
    /// first.bind("inproc://errno-example")?;
    /// let second = Socket::new(SocketType::Rep)?;
    /// let err = second.bind("inproc://errno-example").unwrap_err();
    /// assert_eq!(err.errno(), Some(errno::EADDRINUSE));
    /// assert!(err.to_string().starts_with("bind inproc://errno-example failed: EADDRINUSE"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Zmq { errno, .. } => Some(*errno),
            Error::ContextTerminated => Some(raw::ETERM),
            Error::Io(e) => e.raw_os_error(),
            Error::Unsupported { .. } => Some(zmq_sys::errno::ENOTSUP),
            _ => None,
        }
    }

    /// The error for a failed libzmq call (`ETERM` becomes
    /// [`Error::ContextTerminated`]).
    pub(crate) fn zmq(errno: Errno, operation: impl Into<Cow<'static, str>>) -> Error {
        match errno {
            raw::ETERM => Error::ContextTerminated,
            raw::ENOTSOCK => Error::Closed,
            _ => Error::Zmq {
                errno,
                message: raw::strerror(errno),
                operation: operation.into(),
            },
        }
    }

    pub(crate) fn invalid_endpoint(endpoint: &str, reason: impl Into<Cow<'static, str>>) -> Error {
        Error::InvalidEndpoint {
            endpoint: endpoint.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_option(
        option: &'static str,
        reason: impl Into<Cow<'static, str>>,
    ) -> Error {
        Error::InvalidOption {
            option,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Closed => f.write_str("socket is closed"),
            Error::ContextTerminated => f.write_str("the socket's context was shut down"),
            Error::Timeout => f.write_str("operation timed out (RCVTIMEO/SNDTIMEO)"),
            Error::InvalidEndpoint { endpoint, reason } => {
                write!(f, "invalid endpoint {endpoint:?}: {reason}")
            }
            Error::InvalidOption { option, reason } => write!(f, "option {option}: {reason}"),
            Error::InvalidMessage { reason } => write!(f, "unexpected message: {reason}"),
            Error::NoRuntime => f.write_str(
                "no Tokio runtime is running on this thread: create sockets inside a runtime with I/O enabled",
            ),
            Error::Zmq {
                errno,
                message,
                operation,
            } => {
                write!(f, "{operation} failed: ")?;
                match errno::name(*errno) {
                    Some(name) => write!(f, "{name} ({})", lower_first(message))?,
                    None => write!(f, "{} (errno {errno})", lower_first(message))?,
                }
                match errno::hint(*errno) {
                    Some(hint) => write!(f, ": {hint}"),
                    None => Ok(()),
                }
            }
            Error::RuntimeShutdown => f.write_str(
                "the Tokio runtime this socket was created in has shut down: create sockets in the runtime that uses them",
            ),
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::InvalidInput { what, reason } => write!(f, "invalid {what}: {reason}"),
            Error::Unsupported { capability, help } => write!(
                f,
                "the linked libzmq was built without {capability} (zmq_has(\"{capability}\") is false): {help}"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// libzmq's messages start with a capital letter; ours follow the Rust
/// convention of lower case.
fn lower_first(message: &str) -> Cow<'_, str> {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) if first.is_uppercase() => {
            Cow::Owned(first.to_lowercase().chain(chars).collect())
        }
        _ => Cow::Borrowed(message),
    }
}

impl From<io::Error> for Error {
    /// Tokio's error for a reactor that has shut down becomes
    /// [`Error::RuntimeShutdown`]; every other I/O error [`Error::Io`].
    fn from(e: io::Error) -> Self {
        if tokio::runtime::is_rt_shutdown_err(&e) {
            Error::RuntimeShutdown
        } else {
            Error::Io(e)
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        let kind = match &e {
            Error::Closed => io::ErrorKind::NotConnected,
            Error::ContextTerminated => io::ErrorKind::BrokenPipe,
            Error::Timeout => io::ErrorKind::TimedOut,
            Error::InvalidEndpoint { .. } | Error::InvalidOption { .. } => {
                io::ErrorKind::InvalidInput
            }
            Error::InvalidMessage { .. } => io::ErrorKind::InvalidData,
            Error::InvalidInput { .. } => io::ErrorKind::InvalidInput,
            Error::Unsupported { .. } => io::ErrorKind::Unsupported,
            Error::NoRuntime | Error::RuntimeShutdown => io::ErrorKind::Other,
            // libzmq's own errnos (EFSM, ETERM, ...) mean nothing to the OS.
            Error::Zmq { errno, .. } if *errno >= raw::ZMQ_HAUSNUMERO => io::ErrorKind::Other,
            Error::Zmq { errno, .. } => io::Error::from_raw_os_error(*errno).kind(),
            Error::Io(_) => match e {
                Error::Io(e) => return e,
                _ => unreachable!("matched above"),
            },
        };
        io::Error::new(kind, e)
    }
}

/// The error of [`Socket::try_send`](crate::Socket::try_send): the message
/// could not be sent now, and comes back to the caller whole.
#[derive(Debug)]
#[non_exhaustive]
pub enum TrySendError {
    /// The socket cannot take a message now (its peers are at their
    /// high-water mark, or it has none yet). Nothing was sent.
    Full(Multipart),
    /// Sending failed. The message holds the frames that were not sent:
    /// all of them, unless libzmq failed after accepting the first frame.
    Failed(Error, Multipart),
}

impl TrySendError {
    /// The message that was not sent.
    pub fn into_inner(self) -> Multipart {
        match self {
            TrySendError::Full(msg) | TrySendError::Failed(_, msg) => msg,
        }
    }

    /// Whether the socket was merely full.
    pub fn is_full(&self) -> bool {
        matches!(self, TrySendError::Full(_))
    }
}

impl fmt::Display for TrySendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => {
                f.write_str("socket cannot take a message now (high-water mark or no peer)")
            }
            TrySendError::Failed(e, _) => e.fmt(f),
        }
    }
}

impl std::error::Error for TrySendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TrySendError::Full(_) => None,
            TrySendError::Failed(e, _) => Some(e),
        }
    }
}

impl From<TrySendError> for Error {
    /// `Full` becomes a libzmq `EAGAIN` error of the `send` operation.
    fn from(e: TrySendError) -> Self {
        match e {
            TrySendError::Full(_) => Error::zmq(raw::EAGAIN, "send"),
            TrySendError::Failed(e, _) => e,
        }
    }
}
