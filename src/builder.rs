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
