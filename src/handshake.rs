//! Why a ZMTP handshake failed: the value of the monitor's
//! `HANDSHAKE_FAILED_*` events, decoded.

use std::fmt;

use zmq_sys as sys;

use crate::{Event, SocketEvent};

/// Why a handshake failed, from a [`SocketEvent`] of one of the three
/// `HandshakeFailed*` kinds ([`SocketEvent::handshake_failure`]).
///
/// A client refused by a [`zap::Authenticator`](crate::zap::Authenticator)
/// shows on the server's monitor as `Auth { status: 400 }`; a client that
/// spoke the wrong mechanism as a [`ProtocolError`]; a PLAIN server with no
/// ZAP handler as `NoDetail` with `EFAULT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HandshakeFailure {
    /// [`Event::HandshakeFailedNoDetail`]: no protocol or authentication
    /// error; `errno` says what libzmq saw (`EFAULT` when a PLAIN server
    /// found no ZAP handler, a connection error when the peer went away).
    NoDetail {
        /// The errno libzmq reported.
        errno: i32,
    },
    /// [`Event::HandshakeFailedProtocol`]: the peer (or the ZAP handler)
    /// broke the protocol, or the keys did not match.
    Protocol(ProtocolError),
    /// [`Event::HandshakeFailedAuth`]: the ZAP handler refused the peer.
    Auth {
        /// The ZAP status code: 300 (temporary error), 400 (refused) or
        /// 500 (the handler failed).
        status: u32,
    },
}

impl HandshakeFailure {
    /// The failure an event reports; `None` for other events.
    pub fn from_event(event: &SocketEvent) -> Option<HandshakeFailure> {
        match event.event {
            Event::HandshakeFailedNoDetail => Some(HandshakeFailure::NoDetail {
                errno: event.value as i32,
            }),
            Event::HandshakeFailedProtocol => {
                Some(HandshakeFailure::Protocol(ProtocolError(event.value)))
            }
            Event::HandshakeFailedAuth => Some(HandshakeFailure::Auth {
                status: event.value,
            }),
            _ => None,
        }
    }
}

impl fmt::Display for HandshakeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeFailure::NoDetail { errno } => write!(
                f,
                "handshake failed: {} (errno {errno})",
                crate::raw::strerror(*errno)
            ),
            HandshakeFailure::Protocol(error) => write!(f, "handshake failed: {error}"),
            HandshakeFailure::Auth { status } => {
                let meaning = match status {
                    300 => "temporary error",
                    400 => "refused",
                    500 => "the handler failed",
                    _ => "unknown status",
                };
                write!(f, "handshake failed: ZAP status {status} ({meaning})")
            }
        }
    }
}

/// A `ZMQ_PROTOCOL_ERROR_*` code of libzmq, from a
/// [`HandshakeFailure::Protocol`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProtocolError(pub u32);

/// libzmq 4.3's protocol error codes and names.
const NAMES: [(u32, &str); 20] = [
    (sys::ZMQ_PROTOCOL_ERROR_ZMTP_UNSPECIFIED, "ZMTP_UNSPECIFIED"),
    (
        sys::ZMQ_PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND,
        "ZMTP_UNEXPECTED_COMMAND",
    ),
    (
        sys::ZMQ_PROTOCOL_ERROR_ZMTP_INVALID_SEQUENCE,
        "ZMTP_INVALID_SEQUENCE",
    ),
    (
        sys::ZMQ_PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE,
        "ZMTP_KEY_EXCHANGE",
    ),
    (
        sys::ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_UNSPECIFIED,
        "ZMTP_MALFORMED_COMMAND_UNSPECIFIED",
    ),
    (
        sys::ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_MESSAGE,
        "ZMTP_MALFORMED_COMMAND_MESSAGE",
    ),
    (
        sys::ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_HELLO,
        "ZMTP_MALFORMED_COMMAND_HELLO",
    ),
    (
        sys::ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_INITIATE,
        "ZMTP_MALFORMED_COMMAND_INITIATE",
    ),
    (
        sys::ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_ERROR,
        "ZMTP_MALFORMED_COMMAND_ERROR",
    ),
    (
        sys::ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_READY,
        "ZMTP_MALFORMED_COMMAND_READY",
    ),
    (
        sys::ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_WELCOME,
        "ZMTP_MALFORMED_COMMAND_WELCOME",
    ),
    (
        sys::ZMQ_PROTOCOL_ERROR_ZMTP_INVALID_METADATA,
        "ZMTP_INVALID_METADATA",
    ),
    (
        sys::ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC,
        "ZMTP_CRYPTOGRAPHIC",
    ),
    (
        sys::ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH,
        "ZMTP_MECHANISM_MISMATCH",
    ),
    (sys::ZMQ_PROTOCOL_ERROR_ZAP_UNSPECIFIED, "ZAP_UNSPECIFIED"),
    (
        sys::ZMQ_PROTOCOL_ERROR_ZAP_MALFORMED_REPLY,
        "ZAP_MALFORMED_REPLY",
    ),
    (
        sys::ZMQ_PROTOCOL_ERROR_ZAP_BAD_REQUEST_ID,
        "ZAP_BAD_REQUEST_ID",
    ),
    (sys::ZMQ_PROTOCOL_ERROR_ZAP_BAD_VERSION, "ZAP_BAD_VERSION"),
    (
        sys::ZMQ_PROTOCOL_ERROR_ZAP_INVALID_STATUS_CODE,
        "ZAP_INVALID_STATUS_CODE",
    ),
    (
        sys::ZMQ_PROTOCOL_ERROR_ZAP_INVALID_METADATA,
        "ZAP_INVALID_METADATA",
    ),
];

impl ProtocolError {
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC`: a CURVE box did not open,
    /// for instance because the client used the wrong server key.
    pub const CRYPTOGRAPHIC: ProtocolError =
        ProtocolError(sys::ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC);
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH`: the peers use
    /// different security mechanisms (a PLAIN client and a CURVE server).
    pub const MECHANISM_MISMATCH: ProtocolError =
        ProtocolError(sys::ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH);

    /// libzmq's name without `ZMQ_PROTOCOL_ERROR_` (`"ZMTP_CRYPTOGRAPHIC"`),
    /// `None` for a code libzmq 4.3 does not define.
    pub fn name(self) -> Option<&'static str> {
        NAMES
            .iter()
            .find(|(code, _)| *code == self.0)
            .map(|(_, name)| *name)
    }

    /// Whether the ZAP handler broke the protocol (`ZAP_*` codes), rather
    /// than the peer.
    pub fn is_zap(self) -> bool {
        self.0 & 0xF000_0000 == 0x2000_0000
    }
}

impl fmt::Debug for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "ProtocolError({name})"),
            None => write!(f, "ProtocolError({:#x})", self.0),
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "protocol error {name}"),
            None => write!(f, "protocol error {:#x}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_decode() {
        assert_eq!(
            ProtocolError::CRYPTOGRAPHIC.name(),
            Some("ZMTP_CRYPTOGRAPHIC")
        );
        assert!(!ProtocolError::CRYPTOGRAPHIC.is_zap());
        let zap = ProtocolError(sys::ZMQ_PROTOCOL_ERROR_ZAP_BAD_VERSION);
        assert!(zap.is_zap());
        assert_eq!(zap.to_string(), "protocol error ZAP_BAD_VERSION");
        assert_eq!(format!("{:?}", ProtocolError(7)), "ProtocolError(0x7)");
        let auth = HandshakeFailure::Auth { status: 400 };
        assert_eq!(
            auth.to_string(),
            "handshake failed: ZAP status 400 (refused)"
        );
    }
}
