//! Authentication: an async ZAP handler (ZeroMQ RFC 27).
//!
//! A server socket with a security mechanism (PLAIN, CURVE, or NULL with a
//! [`ZAP_DOMAIN`](crate::options::ZAP_DOMAIN)) asks its context's ZAP
//! handler about every client during the handshake: libzmq sends a request
//! to `inproc://zeromq.zap.01` and lets the connection in only on a `200`
//! reply. An [`Authenticator`] is that handler, running as a Tokio task on
//! a [`Context`]. It decides by its [`Rules`]:
//!
//! - **Addresses**, for every mechanism: [`allow`](Builder::allow) and
//!   [`deny`](Builder::deny) lists of IPv4 and IPv6 addresses and CIDR
//!   ranges (`127.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`). A denied
//!   address is refused; when the allow list is not empty, every address
//!   outside it is refused too. Deny wins over allow. IPv4 peers of a
//!   socket with `IPV6` set are seen as `::ffff:a.b.c.d` by libzmq and
//!   matched as the IPv4 address they are. Peers without an IP address
//!   (`ipc://`, `inproc://`) pass when the allow list is empty and are
//!   refused otherwise. The address lists hold for every domain.
//! - **NULL**: a client whose address passes is let in. (libzmq asks about
//!   NULL clients only when the server socket has a `ZAP_DOMAIN`.)
//! - **PLAIN**: user names and passwords per domain
//!   ([`plain_users`](Builder::plain_users)). Passwords are compared in
//!   constant time (the time depends only on the lengths), and they appear
//!   in no `Debug` output, log or error.
//! - **CURVE**: client public keys per domain: any key
//!   ([`curve_allow_any`](Builder::curve_allow_any)), a set of keys
//!   ([`curve_keys`](Builder::curve_keys)), the `*.key` files of a
//!   directory ([`curve_key_dir`](Builder::curve_key_dir), the text format
//!   that czmq's `zcert` and pyzmq's `zmq.auth.create_certificates` write),
//!   or an async callback ([`curve_callback`](Builder::curve_callback)),
//!   asked when the key is in no set.
//!
//! # Domains
//!
//! Rules are kept per ZAP domain. A socket's requests name its
//! `ZAP_DOMAIN`, or `""` when it has none. The domain `"*"` (or `""`,
//! which means the same) holds the rules for every domain that has none of
//! its own: a domain with rules of its own uses those alone. A domain with
//! no PLAIN users refuses every PLAIN client, and one with no CURVE rules
//! every CURVE client.
//!
//! # Replies
//!
//! - `200` lets the client in, with a `User-Id` that every message from it
//!   carries ([`Message::gets("User-Id")`](crate::Message::gets)): the
//!   PLAIN user name, the CURVE client key in Z85, empty for NULL, or what
//!   [`user_id`](Builder::user_id) says.
//! - `400` refuses the client: its server's monitor reports
//!   [`Event::HandshakeFailedAuth`](crate::Event::HandshakeFailedAuth)
//!   with the value 400 ([`SocketEvent::handshake_failure`](crate::SocketEvent::handshake_failure)
//!   decodes it) and the client's connection is closed. libzmq's client
//!   reconnects, and each attempt is asked about again. GSSAPI clients get
//!   `400` too: this handler does not support GSSAPI.
//! - `500` is an internal failure: a callback that panicked, returned an
//!   error, or did not answer within the
//!   [`callback_timeout`](Builder::callback_timeout). The handler goes on
//!   serving.
//! - A malformed request (from a ZAP client other than libzmq) that
//!   carries a request id gets `500` (wrong version, a missing or extra
//!   frame, text that is not UTF-8) or `400` (a mechanism ZAP does not
//!   define); one without even a request id is dropped.
//!   [`Authenticator::stats`] counts each kind.
//!
//! # Without an authenticator
//!
//! What libzmq 4.3 does when no ZAP handler is bound in the context
//! (none was started, or it was stopped):
//!
//! - a PLAIN server refuses every client
//!   ([`Event::HandshakeFailedNoDetail`](crate::Event::HandshakeFailedNoDetail),
//!   errno `EFAULT`);
//! - a CURVE server **lets every client in** that knows its public key
//!   (encryption without authentication, the zguide's "Stonehouse");
//! - a NULL server lets every client in, domain or not.
//!
//! So stopping the authenticator of a CURVE server opens that server to
//! every client that knows its public key, including clients that were
//! refused and reconnect: close or unbind such servers before you stop
//! it.
//!
//! # Stopping
//!
//! The authenticator stops when it is dropped, when
//! [`stop`](Authenticator::stop) is awaited, or when its context shuts
//! down; none of these blocks a runtime thread or waits for a callback.
//! It unbinds `inproc://zeromq.zap.01` first, so handshakes that start
//! afterwards see no handler; handshakes it had not answered yet fail when
//! they time out (`HANDSHAKE_IVL`). One context has at most one ZAP handler:
//! [`Builder::start`] fails while another is bound.
//!
//! # Example: CURVE with a list of client keys
//!
//! ```
//! use zmq_tokio::{curve_keypair, zap::Authenticator, Context, Socket, SocketType};
//!
//! #[tokio::main]
//! async fn main() -> zmq_tokio::Result<()> {
//!     if !zmq_tokio::has("curve") {
//!         return Ok(()); // this libzmq has no CURVE: see the README, "Security"
//!     }
//!     let ctx = Context::new();
//!     let (server_keys, client_keys) = (curve_keypair()?, curve_keypair()?);
//!     let auth = Authenticator::builder(&ctx)
//!         .curve_keys("*", [client_keys.public()])
//!         .start()?;
//!     let server = Socket::builder(SocketType::Rep)
//!         .context(&ctx)
//!         .curve_server(&server_keys)
//!         .bind("tcp://127.0.0.1:*")
//!         .build()?;
//!     let client = Socket::builder(SocketType::Req)
//!         .context(&ctx)
//!         .curve_client(server_keys.public(), &client_keys)
//!         .connect(&server.endpoints().bound[0])
//!         .build()?;
//!     client.send("hello").await?;
//!     let request = server.recv().await?;
//!     assert_eq!(request[0].gets("User-Id").as_deref(), Some(client_keys.public()));
//!     auth.stop().await;
//!     Ok(())
//! }
//! ```
//!
//! # Example: PLAIN, and a user removed while running
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> zmq_tokio::Result<()> {
//! use zmq_tokio::{zap::Authenticator, Context, Socket, SocketType};
//!
//! let ctx = Context::new();
//! let auth = Authenticator::builder(&ctx)
//!     .plain_users("*", [("admin", "secret")])
//!     .start()?;
//! let server = Socket::builder(SocketType::Rep)
//!     .context(&ctx)
//!     .plain_server()
//!     .bind("tcp://127.0.0.1:*")
//!     .build()?;
//! let client = Socket::builder(SocketType::Req)
//!     .context(&ctx)
//!     .plain_client("admin", "secret")
//!     .connect(&server.endpoints().bound[0])
//!     .build()?;
//! client.send("hello").await?;
//! assert_eq!(server.recv().await?[0].gets("User-Id").as_deref(), Some("admin"));
//!
//! // Later connections of "admin" are refused; this one stays.
//! auth.rules().remove_plain_user("*", "admin");
//! auth.stop().await;
//! # Ok(())
//! # }
//! ```

mod builder;
mod handler;
mod rules;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::Context;

pub use builder::Builder;
pub use handler::{Decision, Mechanism, Request};
pub use rules::Rules;

/// The endpoint libzmq sends ZAP requests to, in each context.
pub const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";

/// How long a [`curve_callback`](Builder::curve_callback) may take by
/// default before the client gets `500`.
pub const DEFAULT_CALLBACK_TIMEOUT: Duration = Duration::from_secs(10);

/// The key of the wildcard domain (`"*"`, or `""`) in the rules.
const ANY_DOMAIN: &str = "*";

/// An async ZAP handler (RFC 27) for one [`Context`]; see the
/// [module docs](self).
///
/// It stops when dropped, when [`stop`](Authenticator::stop) is awaited,
/// or when its context shuts down.
pub struct Authenticator {
    rules: Rules,
    stats: Arc<Counters>,
    cancel: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Authenticator {
    /// A builder for an authenticator that serves `context`; see the
    /// [module docs](self) for whole examples with sockets.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> zmq_tokio::Result<()> {
    /// use zmq_tokio::{zap::Authenticator, Context};
    ///
    /// let ctx = Context::new();
    /// let auth = Authenticator::builder(&ctx)
    ///     .allow("127.0.0.0/8")
    ///     .plain_users("*", [("admin", "secret")])
    ///     .start()?;
    /// assert!(auth.is_running());
    /// auth.rules().deny("127.0.0.2")?;
    /// auth.stop().await;
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder(context: &Context) -> Builder {
        Builder::new(context)
    }

    /// The rules, to change them while the authenticator runs (clone the
    /// handle to hand it to another task).
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// How many requests it answered, by outcome.
    pub fn stats(&self) -> Stats {
        self.stats.snapshot()
    }

    /// Whether it still serves requests (it has not been stopped, and its
    /// context has not shut down).
    pub fn is_running(&self) -> bool {
        self.task.as_ref().is_some_and(|task| !task.is_finished())
    }

    /// Stops answering, unbinds `inproc://zeromq.zap.01` and waits until
    /// the handler's task is gone, without waiting for callbacks still
    /// running (they are dropped). Handshakes still waiting for an answer
    /// get none: libzmq fails them when their handshake times out
    /// ([`HANDSHAKE_IVL`](crate::options::HANDSHAKE_IVL), 30 s by default).
    ///
    /// # Cancel safety
    ///
    /// Cancelling the wait does not undo the stop: the task ends anyway.
    pub async fn stop(mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            // A task that panicked has stopped as well.
            let _ = task.await;
        }
    }
}

impl Drop for Authenticator {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("running", &self.is_running())
            .field("stats", &self.stats())
            .field("rules", &self.rules)
            .finish()
    }
}

/// How many ZAP requests an [`Authenticator`] answered, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Answered `200`.
    pub accepted: u64,
    /// Answered `400`.
    pub denied: u64,
    /// Answered `500`: callbacks that failed, panicked or timed out, and
    /// malformed requests.
    pub failed: u64,
    /// Malformed requests (answered `500` or `400` when they had a request
    /// id, dropped otherwise).
    pub malformed: u64,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    denied: AtomicU64,
    failed: AtomicU64,
    malformed: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> Stats {
        Stats {
            accepted: self.accepted.load(Ordering::Relaxed),
            denied: self.denied.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            malformed: self.malformed.load(Ordering::Relaxed),
        }
    }
}
