//! Configuring a socket before it binds and connects.

use std::fmt;

use crate::options::{self, IntoOptionValue, OptionType, SocketOption};
use crate::{Context, Result, Socket, SocketType};

/// An option to apply to the new socket.
type Apply<'a> = Box<dyn FnOnce(&Socket) -> Result<()> + 'a>;

/// A socket under construction, from [`Socket::builder`]: options,
/// subscriptions, binds and connects given in one expression, applied in
/// the order libzmq needs (options before the first bind or connect).
///
/// [`build`](SocketBuilder::build) applies everything in a fixed order,
/// whatever order the calls came in: options (and the routing id) first,
/// then subscriptions, binds and connects, so that options that only
/// affect later connections take effect.
#[must_use = "a builder does nothing until .build() is called"]
pub struct SocketBuilder<'a> {
    kind: SocketType,
    context: Option<Context>,
    options: Vec<(&'static str, Apply<'a>)>,
    subscriptions: Vec<Vec<u8>>,
    binds: Vec<String>,
    connects: Vec<String>,
}

impl<'a> SocketBuilder<'a> {
    pub(crate) fn new(kind: SocketType) -> Self {
        SocketBuilder {
            kind,
            context: None,
            options: Vec::new(),
            subscriptions: Vec::new(),
            binds: Vec::new(),
            connects: Vec::new(),
        }
    }

    /// Makes the socket in `context` instead of the
    /// [global context](Context::global).
    pub fn context(mut self, context: &Context) -> Self {
        self.context = Some(context.clone());
        self
    }

    /// Binds to `endpoint` (may be called several times).
    pub fn bind(mut self, endpoint: impl Into<String>) -> Self {
        self.binds.push(endpoint.into());
        self
    }

    /// Connects to `endpoint` (may be called several times).
    pub fn connect(mut self, endpoint: impl Into<String>) -> Self {
        self.connects.push(endpoint.into());
        self
    }

    /// Subscribes to `prefix` (SUB and XSUB sockets; may be called several
    /// times).
    pub fn subscribe(mut self, prefix: impl AsRef<[u8]>) -> Self {
        self.subscriptions.push(prefix.as_ref().to_vec());
        self
    }

    /// Sets the socket's routing id (`ROUTING_ID`).
    pub fn routing_id(self, id: impl AsRef<[u8]>) -> Self {
        let id = id.as_ref().to_vec();
        self.set(options::ROUTING_ID, id)
    }

    /// Sets an option, as [`Socket::set`] does.
    pub fn set<T: OptionType + 'a>(
        mut self,
        option: SocketOption<T>,
        value: impl IntoOptionValue<T> + 'a,
    ) -> Self {
        self.options.push((
            option.name(),
            Box::new(move |socket: &Socket| socket.set(option, value)),
        ));
        self
    }

    /// Makes the socket a PLAIN server (`PLAIN_SERVER`): clients must
    /// log in with a user name and password, which libzmq hands to the
    /// context's ZAP handler (see [`zap::Authenticator`](crate::zap::Authenticator)).
    /// Without a running handler every PLAIN client is refused.
    ///
    /// PLAIN sends the password in clear text: use it on trusted networks
    /// or over CURVE-less loopback only.
    pub fn plain_server(self) -> Self {
        self.set(options::PLAIN_SERVER, true)
    }

    /// Makes the socket a PLAIN client that logs in as `user` with
    /// `password` (`PLAIN_USERNAME`, `PLAIN_PASSWORD`; each at most 255
    /// bytes, no NUL).
    pub fn plain_client(self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.set(options::PLAIN_USERNAME, user.into())
            .set(options::PLAIN_PASSWORD, password.into())
    }

    /// Makes the socket a CURVE server with `keys` (`CURVE_SERVER`,
    /// `CURVE_SECRETKEY`): traffic is encrypted, and clients must know
    /// `keys.public()`. Which clients may connect is the ZAP handler's
    /// call; with no handler running, libzmq lets every client in.
    ///
    /// [`build`](SocketBuilder::build) fails with
    /// [`Error::Unsupported`](crate::Error::Unsupported) when the linked
    /// libzmq has no CURVE.
    pub fn curve_server(self, keys: &crate::CurveKeyPair) -> Self {
        self.require_curve()
            .set(options::CURVE_SERVER, true)
            .set(options::CURVE_SECRETKEY, keys.secret().to_owned())
    }

    /// Makes the socket a CURVE client of the server whose public key is
    /// `server_public` (40 characters of Z85), using `keys` as its own
    /// (`CURVE_SERVERKEY`, `CURVE_PUBLICKEY`, `CURVE_SECRETKEY`).
    ///
    /// [`build`](SocketBuilder::build) fails with
    /// [`Error::Unsupported`](crate::Error::Unsupported) when the linked
    /// libzmq has no CURVE, and with
    /// [`Error::InvalidOption`](crate::Error::InvalidOption) for a server
    /// key that is not 40 characters of Z85.
    pub fn curve_client(
        self,
        server_public: impl Into<String>,
        keys: &crate::CurveKeyPair,
    ) -> Self {
        self.require_curve()
            .set(options::CURVE_SERVERKEY, server_public.into())
            .set(options::CURVE_PUBLICKEY, keys.public().to_owned())
            .set(options::CURVE_SECRETKEY, keys.secret().to_owned())
    }

    /// Sets the socket's ZAP domain (`ZAP_DOMAIN`, 1 to 255 bytes): the
    /// domain its ZAP requests name, which picks the
    /// [`zap::Authenticator`](crate::zap::Authenticator)'s rules. A NULL
    /// (unsecured) server asks the ZAP handler only when it has a domain.
    pub fn zap_domain(self, domain: impl Into<String>) -> Self {
        self.set(options::ZAP_DOMAIN, domain.into())
    }

    /// Fails the build when the linked libzmq has no CURVE, before any
    /// CURVE option is set.
    fn require_curve(mut self) -> Self {
        self.options.push((
            "CURVE",
            Box::new(|_: &Socket| crate::curve::require_curve()),
        ));
        self
    }

    /// Makes the socket, applies the settings, binds and connects.
    ///
    /// # Errors
    ///
    /// The first error of any step, as the corresponding [`Socket`] method
    /// reports it; the half-made socket is closed.
    pub fn build(self) -> Result<Socket> {
        let socket = match &self.context {
            Some(context) => context.socket(self.kind)?,
            None => Socket::new(self.kind)?,
        };
        for (_, apply) in self.options {
            apply(&socket)?;
        }
        for prefix in &self.subscriptions {
            socket.subscribe(prefix)?;
        }
        for endpoint in &self.binds {
            socket.bind(endpoint)?;
        }
        for endpoint in &self.connects {
            socket.connect(endpoint)?;
        }
        Ok(socket)
    }
}

impl fmt::Debug for SocketBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let options: Vec<&str> = self.options.iter().map(|(name, _)| *name).collect();
        f.debug_struct("SocketBuilder")
            .field("kind", &self.kind)
            .field("context", &self.context)
            .field("options", &options)
            .field("subscriptions", &self.subscriptions.len())
            .field("binds", &self.binds)
            .field("connects", &self.connects)
            .finish()
    }
}
