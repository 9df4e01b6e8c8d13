//! Configuring an [`Authenticator`] before it starts.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::future::FutureExt;
use tokio_util::sync::CancellationToken;

use super::handler::{serve, Decision, Request};
use super::rules::{decode_keys, read_key_dir, Callback, Cidr, Password, Rules, RulesState};
use super::{Authenticator, Counters, ZAP_ENDPOINT};
use crate::{options, Context, Error, Result, SocketType};

/// Configures an [`Authenticator`]; from [`Authenticator::builder`].
///
/// Methods that parse text (addresses, keys) remember the first error,
/// and [`start`](Builder::start) reports it.
#[must_use = "a builder does nothing until .start() is called"]
pub struct Builder {
    context: Context,
    state: RulesState,
    key_dirs: Vec<(String, PathBuf)>,
    error: Option<Error>,
}

impl Builder {
    pub(super) fn new(context: &Context) -> Builder {
        Builder {
            context: context.clone(),
            state: RulesState::default(),
            key_dirs: Vec::new(),
            error: None,
        }
    }

    fn keep_error(&mut self, result: Result<()>) {
        if let (Err(e), None) = (result, &self.error) {
            self.error = Some(e);
        }
    }

    /// Allows an IPv4 or IPv6 address (`127.0.0.1`, `::1`) or CIDR range
    /// (`127.0.0.0/8`, `fd00::/8`): once the allow list has an entry, every
    /// client outside it is refused (400), whatever its mechanism.
    pub fn allow(mut self, range: &str) -> Self {
        let range = Cidr::parse(range).map(|r| self.state.allow.push(r));
        self.keep_error(range);
        self
    }

    /// Denies an address or CIDR range: its clients are refused (400),
    /// even when the allow list has them too.
    pub fn deny(mut self, range: &str) -> Self {
        let range = Cidr::parse(range).map(|r| self.state.deny.push(r));
        self.keep_error(range);
        self
    }

    /// PLAIN users and their passwords for `domain` (`"*"` for every
    /// domain). Passwords are bytes (`&str` works), compared in constant
    /// time and never shown.
    pub fn plain_users<U, P>(
        mut self,
        domain: &str,
        users: impl IntoIterator<Item = (U, P)>,
    ) -> Self
    where
        U: Into<String>,
        P: AsRef<[u8]>,
    {
        let plain = self
            .state
            .domain_mut(domain)
            .plain
            .get_or_insert_with(HashMap::new);
        for (user, password) in users {
            plain.insert(user.into(), Password(password.as_ref().into()));
        }
        self
    }

    /// Lets every CURVE client into `domain`: encryption, and the client
    /// key as `User-Id`, without a key list.
    pub fn curve_allow_any(mut self, domain: &str) -> Self {
        self.state.domain_mut(domain).curve_any = true;
        self
    }

    /// CURVE client keys allowed into `domain`, each 40 characters of Z85
    /// (as [`CurveKeyPair::public`](crate::CurveKeyPair::public) gives).
    pub fn curve_keys<K: AsRef<str>>(
        mut self,
        domain: &str,
        keys: impl IntoIterator<Item = K>,
    ) -> Self {
        let keys =
            decode_keys(keys).map(|keys| self.state.domain_mut(domain).curve_keys.extend(keys));
        self.keep_error(keys);
        self
    }

    /// The public keys of the `*.key` files in `dir`, allowed into
    /// `domain`. The files are in the text format czmq's `zcert_save` and
    /// pyzmq's `zmq.auth.create_certificates` write: a `curve` section with
    /// a `public-key = "..."` line of 40 Z85 characters. Secret files
    /// (`*.key_secret`) and other names are skipped.
    ///
    /// [`start`](Builder::start) reads the directory (a blocking read of
    /// small files); [`Rules::reload_curve_key_dir`] reads it again later.
    pub fn curve_key_dir(mut self, domain: &str, dir: impl Into<PathBuf>) -> Self {
        self.key_dirs.push((domain.to_owned(), dir.into()));
        self
    }

    /// An async callback asked about CURVE clients of `domain` whose key is
    /// in no list: `callback(domain, client_key_z85)`, where `domain` is the
    /// one the request names (`""` for a server without `ZAP_DOMAIN`). It answers `bool`, or
    /// `Result<bool, E>` (see [`Decision`]). A callback that panics, fails
    /// or takes longer than the [`callback_timeout`](Builder::callback_timeout)
    /// makes the client get `500`; the authenticator goes on serving.
    /// Callbacks run concurrently, one per pending handshake.
    pub fn curve_callback<F, Fut, D>(mut self, domain: &str, callback: F) -> Self
    where
        F: Fn(&str, &str) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = D> + Send + 'static,
        D: Decision,
    {
        let callback: Callback = Arc::new(move |domain: &str, key: &str| {
            callback(domain, key).map(Decision::into_decision).boxed()
        });
        self.state.domain_mut(domain).curve_callback = Some(callback);
        self
    }

    /// How long a [`curve_callback`](Builder::curve_callback) may take
    /// before the client gets `500` ([`DEFAULT_CALLBACK_TIMEOUT`](super::DEFAULT_CALLBACK_TIMEOUT) unless
    /// set).
    pub fn callback_timeout(mut self, timeout: Duration) -> Self {
        self.state.callback_timeout = timeout;
        self
    }

    /// Chooses the `User-Id` of clients let in: `Some(id)` replaces the
    /// default (the PLAIN user, the CURVE key in Z85, empty for NULL),
    /// `None` keeps it. A function that panics makes the client get `500`.
    pub fn user_id<F>(mut self, user_id: F) -> Self
    where
        F: Fn(&Request<'_>) -> Option<String> + Send + Sync + 'static,
    {
        self.state.user_id = Some(Arc::new(user_id));
        self
    }

    /// Binds `inproc://zeromq.zap.01` in the context and starts answering
    /// ZAP requests on a task of the current Tokio runtime.
    ///
    /// # Errors
    ///
    /// The first configuration error (an address, a key, a key file);
    /// [`Error::NoRuntime`] outside a Tokio runtime; a libzmq error
    /// (`EADDRINUSE`) when the context already has a ZAP handler;
    /// [`Error::ContextTerminated`] when the context was shut down.
    pub fn start(mut self) -> Result<Authenticator> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        for (domain, dir) in std::mem::take(&mut self.key_dirs) {
            let keys = read_key_dir(&dir)?;
            self.state.domain_mut(&domain).curve_keys.extend(keys);
        }
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::NoRuntime);
        }
        let socket = self.context.socket(SocketType::Router)?;
        socket.set(options::LINGER, 0)?;
        socket.bind(ZAP_ENDPOINT).map_err(|e| match e.errno() {
            Some(errno) if errno == zmq_sys::errno::EADDRINUSE => Error::Zmq {
                errno,
                message: "another ZAP handler is already bound in this context".into(),
                operation: format!("start the ZAP authenticator (bind {ZAP_ENDPOINT})").into(),
            },
            _ => e,
        })?;
        let rules = Rules {
            state: Arc::new(RwLock::new(self.state)),
        };
        let stats = Arc::new(Counters::default());
        let cancel = CancellationToken::new();
        let task = tokio::spawn(serve(
            socket,
            rules.clone(),
            Arc::clone(&stats),
            cancel.clone(),
        ));
        Ok(Authenticator {
            rules,
            stats,
            cancel,
            task: Some(task),
        })
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("context", &self.context)
            .field("rules", &self.state)
            .field("key_dirs", &self.key_dirs)
            .field("error", &self.error)
            .finish()
    }
}
