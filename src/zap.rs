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

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt};
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::curve;
use crate::{options, Context, Error, Message, Multipart, Result, Socket, SocketType};

/// The endpoint libzmq sends ZAP requests to, in each context.
pub const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";

/// How long a [`curve_callback`](Builder::curve_callback) may take by
/// default before the client gets `500`.
pub const DEFAULT_CALLBACK_TIMEOUT: Duration = Duration::from_secs(10);

/// The wildcard domain's key in [`RulesState::domains`].
const ANY_DOMAIN: &str = "*";

// ---------------------------------------------------------------------------
// Requests

/// A security mechanism, as a ZAP request names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mechanism {
    /// No security (`NULL`).
    Null,
    /// User name and password in clear text (`PLAIN`).
    Plain,
    /// Encryption and public-key authentication (`CURVE`).
    Curve,
    /// Kerberos (`GSSAPI`): refused by this handler.
    Gssapi,
}

impl Mechanism {
    fn parse(name: &[u8]) -> Option<Mechanism> {
        match name {
            b"NULL" => Some(Mechanism::Null),
            b"PLAIN" => Some(Mechanism::Plain),
            b"CURVE" => Some(Mechanism::Curve),
            b"GSSAPI" => Some(Mechanism::Gssapi),
            _ => None,
        }
    }
}

/// What a ZAP request says about a client, for a
/// [`user_id`](Builder::user_id) function. It never holds a password.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Request<'a> {
    /// The server socket's ZAP domain (`""` if it has none).
    pub domain: &'a str,
    /// The client's IP address as libzmq gives it (`"127.0.0.1"`), empty
    /// for transports without one.
    pub address: &'a str,
    /// The server socket's routing id (`ROUTING_ID`), often empty.
    pub routing_id: &'a [u8],
    /// The mechanism.
    pub mechanism: Mechanism,
    /// The PLAIN user name.
    pub user: Option<&'a str>,
    /// The CURVE client key, 40 characters of Z85.
    pub client_key: Option<&'a str>,
}

/// What a [`curve_callback`](Builder::curve_callback) can answer: `bool`
/// (let in or not), or `Result<bool, E>` where an error makes the client
/// get `500`.
pub trait Decision: Send + 'static {
    /// `Ok(true)`: let the client in; `Ok(false)`: refuse it (400);
    /// `Err(why)`: an internal failure (500).
    fn into_decision(self) -> std::result::Result<bool, String>;
}

impl Decision for bool {
    fn into_decision(self) -> std::result::Result<bool, String> {
        Ok(self)
    }
}

impl<E: fmt::Display + Send + 'static> Decision for std::result::Result<bool, E> {
    fn into_decision(self) -> std::result::Result<bool, String> {
        self.map_err(|e| e.to_string())
    }
}

// ---------------------------------------------------------------------------
// Address ranges

/// An IP address range: an address and how many leading bits count.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(text: &str) -> Result<Cidr> {
        let invalid = |reason: String| Error::InvalidInput {
            what: "address or CIDR range",
            reason: format!("{text:?}: {reason}").into(),
        };
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address = address.trim_start_matches('[').trim_end_matches(']');
        let network = IpAddr::from_str(address).map_err(|_| {
            invalid("not an IPv4 or IPv6 address (host names are not resolved)".into())
        })?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(prefix) => match prefix.parse::<u8>() {
                Ok(bits) if bits <= max => bits,
                _ => return Err(invalid(format!("the prefix length must be 0 to {max}"))),
            },
        };
        // An IPv4-mapped range is the IPv4 range it stands for.
        Ok(match (network, canonical(network)) {
            (IpAddr::V6(_), IpAddr::V4(v4)) if prefix >= 96 => Cidr {
                network: IpAddr::V4(v4),
                prefix: prefix - 96,
            },
            _ => Cidr { network, prefix },
        })
    }

    fn contains(&self, address: IpAddr) -> bool {
        match (self.network, canonical(address)) {
            (IpAddr::V4(net), IpAddr::V4(addr)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(addr) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(addr)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(addr) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Debug for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it stands for.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

// ---------------------------------------------------------------------------
// Rules

/// A password, kept out of `Debug`.
#[derive(Clone)]
struct Password(Box<[u8]>);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<hidden>")
    }
}

/// Compares two byte strings in a time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(std::hint::black_box(x ^ y));
    }
    std::hint::black_box(diff) == 0
}

type Callback =
    Arc<dyn Fn(&str, &str) -> BoxFuture<'static, std::result::Result<bool, String>> + Send + Sync>;
type UserIdFn = Arc<dyn Fn(&Request<'_>) -> Option<String> + Send + Sync>;

/// The rules of one domain.
#[derive(Default, Clone)]
struct DomainRules {
    /// `None`: no PLAIN users configured for the domain.
    plain: Option<HashMap<String, Password>>,
    curve_any: bool,
    curve_keys: HashSet<[u8; 32]>,
    curve_callback: Option<Callback>,
}

impl fmt::Debug for DomainRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut users: Vec<&str> = self
            .plain
            .iter()
            .flat_map(|users| users.keys().map(String::as_str))
            .collect();
        users.sort_unstable();
        f.debug_struct("DomainRules")
            .field("plain_users", &users)
            .field("curve_allow_any", &self.curve_any)
            .field("curve_keys", &self.curve_keys.len())
            .field("curve_callback", &self.curve_callback.is_some())
            .finish()
    }
}

#[derive(Clone)]
struct RulesState {
    allow: Vec<Cidr>,
    deny: Vec<Cidr>,
    domains: HashMap<String, DomainRules>,
    user_id: Option<UserIdFn>,
    callback_timeout: Duration,
}

impl Default for RulesState {
    fn default() -> Self {
        RulesState {
            allow: Vec::new(),
            deny: Vec::new(),
            domains: HashMap::new(),
            user_id: None,
            callback_timeout: DEFAULT_CALLBACK_TIMEOUT,
        }
    }
}

/// `"*"` for the wildcard domains `"*"` and `""`.
fn domain_key(domain: &str) -> String {
    if domain.is_empty() {
        ANY_DOMAIN.to_owned()
    } else {
        domain.to_owned()
    }
}

impl RulesState {
    fn domain_mut(&mut self, domain: &str) -> &mut DomainRules {
        self.domains.entry(domain_key(domain)).or_default()
    }

    /// The rules that apply to requests of `domain`.
    fn for_domain(&self, domain: &str) -> Option<&DomainRules> {
        self.domains
            .get(domain_key(domain).as_str())
            .or_else(|| self.domains.get(ANY_DOMAIN))
    }

    /// Why `address` is refused, if it is.
    fn address_refusal(&self, address: &str) -> Option<&'static str> {
        let ip = IpAddr::from_str(address.trim_start_matches('[').trim_end_matches(']')).ok();
        if let Some(ip) = ip {
            if self.deny.iter().any(|range| range.contains(ip)) {
                return Some("address denied");
            }
        }
        if !self.allow.is_empty() && !ip.is_some_and(|ip| self.allow.iter().any(|r| r.contains(ip)))
        {
            return Some("address not allowed");
        }
        None
    }
}

impl fmt::Debug for RulesState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut domains: Vec<_> = self.domains.iter().collect();
        domains.sort_unstable_by(|a, b| a.0.cmp(b.0));
        f.debug_struct("Rules")
            .field("allow", &self.allow)
            .field("deny", &self.deny)
            .field("domains", &domains)
            .field("user_id", &self.user_id.is_some())
            .field("callback_timeout", &self.callback_timeout)
            .finish()
    }
}

/// The rules of a running [`Authenticator`]: a cheap `Clone` handle that
/// any task can use to change them while it runs. A change applies to
/// handshakes that start after it; connections already let in stay.
///
/// Methods that take text to parse (addresses, keys) return an error and
/// change nothing when it does not parse.
#[derive(Clone)]
pub struct Rules {
    state: Arc<RwLock<RulesState>>,
}

impl Rules {
    fn read(&self) -> RwLockReadGuard<'_, RulesState> {
        // No user code runs under the lock, so a poisoned lock holds
        // consistent rules.
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, RulesState> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds an address or CIDR range to the allow list (see
    /// [`Builder::allow`]).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when `range` is not an IP address or range.
    pub fn allow(&self, range: &str) -> Result<()> {
        let range = Cidr::parse(range)?;
        self.write().allow.push(range);
        Ok(())
    }

    /// Adds an address or CIDR range to the deny list (see
    /// [`Builder::deny`]).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when `range` is not an IP address or range.
    pub fn deny(&self, range: &str) -> Result<()> {
        let range = Cidr::parse(range)?;
        self.write().deny.push(range);
        Ok(())
    }

    /// Removes an address or range, as it was added, from both lists.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when `range` is not an IP address or range.
    pub fn remove_address(&self, range: &str) -> Result<()> {
        let range = Cidr::parse(range)?;
        let mut state = self.write();
        state.allow.retain(|r| *r != range);
        state.deny.retain(|r| *r != range);
        Ok(())
    }

    /// Adds PLAIN users (or changes their passwords) in `domain`.
    pub fn add_plain_users<U, P>(&self, domain: &str, users: impl IntoIterator<Item = (U, P)>)
    where
        U: Into<String>,
        P: AsRef<[u8]>,
    {
        let mut state = self.write();
        let plain = state
            .domain_mut(domain)
            .plain
            .get_or_insert_with(HashMap::new);
        for (user, password) in users {
            plain.insert(user.into(), Password(password.as_ref().into()));
        }
    }

    /// Removes a PLAIN user from `domain`; returns whether it was there.
    pub fn remove_plain_user(&self, domain: &str, user: &str) -> bool {
        let mut state = self.write();
        state
            .domains
            .get_mut(domain_key(domain).as_str())
            .and_then(|rules| rules.plain.as_mut())
            .is_some_and(|users| users.remove(user).is_some())
    }

    /// Lets every CURVE client into `domain` (or not, with `false`).
    pub fn curve_allow_any(&self, domain: &str, allow: bool) {
        self.write().domain_mut(domain).curve_any = allow;
    }

    /// Adds CURVE client keys (40 characters of Z85 each) to `domain`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming the first key that is not a Z85 CURVE
    /// key; then no key is added.
    pub fn add_curve_keys<K: AsRef<str>>(
        &self,
        domain: &str,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<()> {
        let keys = decode_keys(keys)?;
        self.write().domain_mut(domain).curve_keys.extend(keys);
        Ok(())
    }

    /// Removes a CURVE client key from `domain`, so that the client's next
    /// connection is refused; returns whether it was there.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when `key` is not a Z85 CURVE key.
    pub fn remove_curve_key(&self, domain: &str, key: &str) -> Result<bool> {
        let key = curve::decode_key(key, "CURVE client key")?;
        let mut state = self.write();
        Ok(state
            .domains
            .get_mut(domain_key(domain).as_str())
            .is_some_and(|rules| rules.curve_keys.remove(&key)))
    }

    /// Replaces the CURVE client keys of `domain` with the public keys of
    /// the `*.key` files in `dir` (see [`Builder::curve_key_dir`]), read on
    /// a blocking thread; returns how many keys it read. Delete a client's
    /// file and reload to refuse its next connection.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the directory or a file cannot be read,
    /// [`Error::InvalidInput`] naming a file that holds no valid public
    /// key; then the keys are unchanged.
    ///
    /// # Cancel safety
    ///
    /// Cancelling it before it finishes leaves the keys unchanged.
    pub async fn reload_curve_key_dir(&self, domain: &str, dir: impl AsRef<Path>) -> Result<usize> {
        let dir = dir.as_ref().to_owned();
        let keys = tokio::task::spawn_blocking(move || read_key_dir(&dir))
            .await
            .map_err(|e| Error::Io(std::io::Error::other(e)))??;
        let count = keys.len();
        self.write().domain_mut(domain).curve_keys = keys;
        Ok(count)
    }
}

impl fmt::Debug for Rules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.read().fmt(f)
    }
}

fn decode_keys<K: AsRef<str>>(keys: impl IntoIterator<Item = K>) -> Result<Vec<[u8; 32]>> {
    keys.into_iter()
        .map(|key| curve::decode_key(key.as_ref(), "CURVE client key"))
        .collect()
}

/// The public keys of the `*.key` files in `dir` (the zcert text format:
/// a `curve` section with `public-key = "<40 characters of Z85>"`).
/// Secret files (`*.key_secret`) and other files are skipped.
fn read_key_dir(dir: &Path) -> Result<HashSet<[u8; 32]>> {
    let io_error = |path: &Path, e: std::io::Error| {
        Error::Io(std::io::Error::new(
            e.kind(),
            format!("cannot read CURVE key files in {}: {e}", path.display()),
        ))
    };
    let mut keys = HashSet::new();
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io_error(dir, e))? {
        let path = entry.map_err(|e| io_error(dir, e))?.path();
        if path.extension().is_some_and(|ext| ext == "key") && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|e| io_error(&path, e))?;
        let key = parse_zcert_public(&text).ok_or_else(|| Error::InvalidInput {
            what: "CURVE key file",
            reason: format!(
                "{} has no `public-key = \"...\"` line of 40 Z85 characters in a `curve` section",
                path.display()
            )
            .into(),
        })?;
        keys.insert(key);
    }
    Ok(keys)
}

/// The public key of a zcert file, if it has a valid one.
fn parse_zcert_public(text: &str) -> Option<[u8; 32]> {
    let mut section = "";
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if !line.starts_with(char::is_whitespace) {
            section = trimmed;
            continue;
        }
        if section != "curve" {
            continue;
        }
        let Some((name, value)) = trimmed.split_once('=') else {
            continue;
        };
        if name.trim() != "public-key" {
            continue;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value);
        return curve::decode_key(value, "CURVE public key").ok();
    }
    None
}

// ---------------------------------------------------------------------------
// Builder

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
    /// before the client gets `500` ([`DEFAULT_CALLBACK_TIMEOUT`] unless
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

// ---------------------------------------------------------------------------
// Authenticator

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
        Builder {
            context: context.clone(),
            state: RulesState::default(),
            key_dirs: Vec::new(),
            error: None,
        }
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

// ---------------------------------------------------------------------------
// The handler

/// An answer to one request.
struct Reply {
    /// The ZAP client's routing id on our ROUTER.
    peer: Message,
    request_id: Message,
    status: Status,
    text: &'static str,
    user_id: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Denied,
    Failed,
}

impl Status {
    fn code(self) -> &'static str {
        match self {
            Status::Ok => "200",
            Status::Denied => "400",
            Status::Failed => "500",
        }
    }
}

async fn serve(socket: Socket, rules: Rules, stats: Arc<Counters>, cancel: CancellationToken) {
    let mut pending: FuturesUnordered<BoxFuture<'static, Reply>> = FuturesUnordered::new();
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            Some(reply) = pending.next(), if !pending.is_empty() => {
                if send_reply(&socket, &stats, reply).await.is_err() {
                    break;
                }
            }
            request = socket.recv() => match request {
                Ok(request) => {
                    if let Some(answer) = answer(request, &rules, &stats) {
                        pending.push(answer);
                    }
                }
                // Closed, or the context shut down.
                Err(_) => break,
            },
        }
    }
    // Handshakes that start from now on must find no handler.
    let _ = socket.unbind(ZAP_ENDPOINT);
    socket.close();
}

async fn send_reply(socket: &Socket, stats: &Counters, reply: Reply) -> Result<()> {
    let counter = match reply.status {
        Status::Ok => &stats.accepted,
        Status::Denied => &stats.denied,
        Status::Failed => &stats.failed,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    let frames: Multipart = vec![
        reply.peer,
        Message::new(),
        Message::from("1.0"),
        reply.request_id,
        Message::from(reply.status.code()),
        Message::from(reply.text),
        Message::from(reply.user_id),
        Message::new(),
    ]
    .into_iter()
    .collect();
    match socket.send(frames).await {
        // A ZAP client that went away (its handshake ended) is no failure.
        Err(Error::Closed | Error::ContextTerminated) => Err(Error::Closed),
        _ => Ok(()),
    }
}

/// Where a reply goes: the ZAP client and its request id.
#[derive(Clone)]
struct Replier {
    peer: Message,
    request_id: Message,
}

impl Replier {
    fn reply(&self, status: Status, text: &'static str) -> Reply {
        Reply {
            peer: self.peer.clone(),
            request_id: self.request_id.clone(),
            status,
            text,
            user_id: String::new(),
        }
    }

    fn ready(&self, status: Status, text: &'static str) -> Option<BoxFuture<'static, Reply>> {
        Some(ready(self.reply(status, text)))
    }

    /// `200` with the user id that `user_id_fn` picks, or `default`.
    fn accept(
        &self,
        user_id_fn: Option<&UserIdFn>,
        request: &Request<'_>,
        default: String,
    ) -> Reply {
        let user_id = match user_id_fn {
            None => default,
            Some(user_id_fn) => match catch_unwind(AssertUnwindSafe(|| user_id_fn(request))) {
                Ok(id) => id.unwrap_or(default),
                Err(_) => return self.reply(Status::Failed, "user id function panicked"),
            },
        };
        Reply {
            user_id,
            ..self.reply(Status::Ok, "OK")
        }
    }
}

/// The answer to one request: ready at once, or a callback's future.
/// `None` for a request that cannot be answered at all.
fn answer(
    request: Multipart,
    rules: &Rules,
    stats: &Counters,
) -> Option<BoxFuture<'static, Reply>> {
    // [peer, "", version, request id, domain, address, routing id,
    //  mechanism, credentials...]
    let mut frames = request.into_iter();
    let (Some(peer), Some(delimiter), Some(version), Some(request_id)) =
        (frames.next(), frames.next(), frames.next(), frames.next())
    else {
        stats.malformed.fetch_add(1, Ordering::Relaxed);
        return None;
    };
    if !delimiter.is_empty() {
        stats.malformed.fetch_add(1, Ordering::Relaxed);
        return None;
    }
    let to = Replier { peer, request_id };
    let rest: Vec<Message> = frames.collect();
    let malformed = |status: Status, text: &'static str| {
        stats.malformed.fetch_add(1, Ordering::Relaxed);
        to.ready(status, text)
    };
    if &*version != b"1.0" {
        return malformed(Status::Failed, "unsupported ZAP version");
    }
    if rest.len() < 4 {
        return malformed(Status::Failed, "malformed ZAP request");
    }
    let (Some(domain), Some(address)) = (rest[0].as_str(), rest[1].as_str()) else {
        return malformed(Status::Failed, "malformed ZAP request");
    };
    let routing_id: &[u8] = &rest[2];
    let Some(mechanism) = Mechanism::parse(&rest[3]) else {
        return malformed(Status::Denied, "unsupported mechanism");
    };
    let credentials = &rest[4..];
    let expected = match mechanism {
        Mechanism::Null => 0,
        Mechanism::Plain => 2,
        Mechanism::Curve | Mechanism::Gssapi => 1,
    };
    if credentials.len() != expected {
        return malformed(Status::Failed, "malformed ZAP request");
    }
    if mechanism == Mechanism::Curve && credentials[0].len() != 32 {
        return malformed(Status::Failed, "malformed ZAP request");
    }

    let state = rules.read();
    if let Some(why) = state.address_refusal(address) {
        return to.ready(Status::Denied, why);
    }
    let domain_rules = state.for_domain(domain);
    let user_id_fn = state.user_id.as_ref();
    let mut request = Request {
        domain,
        address,
        routing_id,
        mechanism,
        user: None,
        client_key: None,
    };
    match mechanism {
        Mechanism::Null => Some(ready(to.accept(user_id_fn, &request, String::new()))),
        Mechanism::Gssapi => to.ready(Status::Denied, "GSSAPI is not supported"),
        Mechanism::Plain => {
            const WRONG: &str = "invalid user name or password";
            let Some(users) = domain_rules.and_then(|rules| rules.plain.as_ref()) else {
                return to.ready(Status::Denied, "no PLAIN users for this domain");
            };
            let Some(user) = credentials[0].as_str() else {
                return to.ready(Status::Denied, WRONG);
            };
            let password: &[u8] = &credentials[1];
            // An unknown user costs the same comparison as a known one.
            let (known, expected) = match users.get(user) {
                Some(expected) => (true, &*expected.0),
                None => (false, password),
            };
            if constant_time_eq(password, expected) & known {
                request.user = Some(user);
                Some(ready(to.accept(user_id_fn, &request, user.to_owned())))
            } else {
                to.ready(Status::Denied, WRONG)
            }
        }
        Mechanism::Curve => {
            let mut key = [0u8; 32];
            key.copy_from_slice(&credentials[0]);
            let Ok(key_z85) = curve::z85_encode(&key) else {
                return to.ready(Status::Failed, "cannot encode the client key");
            };
            request.client_key = Some(&key_z85);
            let Some(domain_rules) = domain_rules else {
                return to.ready(Status::Denied, "no CURVE rules for this domain");
            };
            if domain_rules.curve_any || domain_rules.curve_keys.contains(&key) {
                return Some(ready(to.accept(user_id_fn, &request, key_z85.clone())));
            }
            let Some(callback) = domain_rules.curve_callback.clone() else {
                return to.ready(Status::Denied, "client key not allowed");
            };
            let timeout = state.callback_timeout;
            let user_id_fn = user_id_fn.cloned();
            let (domain, address, routing_id) =
                (domain.to_owned(), address.to_owned(), routing_id.to_vec());
            drop(state);
            // The call itself may panic too, before it returns a future.
            let asked = catch_unwind(AssertUnwindSafe(|| callback(&domain, &key_z85)));
            Some(
                async move {
                    let decision = match asked {
                        Ok(future) => {
                            let guarded = AssertUnwindSafe(future).catch_unwind();
                            match tokio::time::timeout(timeout, guarded).await {
                                Ok(Ok(decision)) => decision,
                                Ok(Err(_)) => Err("callback panicked".to_owned()),
                                Err(_) => Err("callback timed out".to_owned()),
                            }
                        }
                        Err(_) => Err("callback panicked".to_owned()),
                    };
                    match decision {
                        Ok(true) => {
                            let request = Request {
                                domain: &domain,
                                address: &address,
                                routing_id: &routing_id,
                                mechanism,
                                user: None,
                                client_key: Some(&key_z85),
                            };
                            to.accept(user_id_fn.as_ref(), &request, key_z85.clone())
                        }
                        Ok(false) => to.reply(Status::Denied, "client key refused"),
                        Err(_) => to.reply(Status::Failed, "authentication callback failed"),
                    }
                }
                .boxed(),
            )
        }
    }
}

fn ready(reply: Reply) -> BoxFuture<'static, Reply> {
    std::future::ready(reply).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_ranges_match_ipv4_and_ipv6() {
        let range = Cidr::parse("127.0.0.0/30").unwrap();
        assert!(range.contains("127.0.0.3".parse().unwrap()));
        assert!(!range.contains("127.0.0.4".parse().unwrap()));
        assert!(range.contains("::ffff:127.0.0.2".parse().unwrap()));
        let any = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(any.contains("10.1.2.3".parse().unwrap()));
        assert!(!any.contains("::1".parse().unwrap()));
        let v6 = Cidr::parse("fd00::/8").unwrap();
        assert!(v6.contains("fd12:3456::1".parse().unwrap()));
        assert!(!v6.contains("fe80::1".parse().unwrap()));
        let one = Cidr::parse("[::1]").unwrap();
        assert!(one.contains("::1".parse().unwrap()));
        assert!(Cidr::parse("::/0")
            .unwrap()
            .contains("fe80::1".parse().unwrap()));
        assert!(Cidr::parse("::ffff:10.0.0.0/104")
            .unwrap()
            .contains("10.9.9.9".parse().unwrap()));
        for bad in [
            "",
            "localhost",
            "127.0.0.1/33",
            "::1/129",
            "1.2.3.4/x",
            "1.2.3/8",
        ] {
            let err = Cidr::parse(bad).unwrap_err().to_string();
            assert!(err.contains("address or CIDR range"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn deny_wins_and_allow_list_excludes_the_rest() {
        let mut state = RulesState::default();
        assert_eq!(state.address_refusal("10.0.0.1"), None);
        assert_eq!(state.address_refusal(""), None);
        state.allow.push(Cidr::parse("10.0.0.0/8").unwrap());
        state.deny.push(Cidr::parse("10.0.0.5").unwrap());
        assert_eq!(state.address_refusal("10.0.0.1"), None);
        assert_eq!(state.address_refusal("10.0.0.5"), Some("address denied"));
        assert_eq!(
            state.address_refusal("11.0.0.1"),
            Some("address not allowed")
        );
        assert_eq!(state.address_refusal(""), Some("address not allowed"));
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret!"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn domains_fall_back_to_the_wildcard() {
        let mut state = RulesState::default();
        state.domain_mut("").curve_any = true;
        state.domain_mut("strict");
        assert!(state.for_domain("other").unwrap().curve_any);
        assert!(state.for_domain("").unwrap().curve_any);
        assert!(!state.for_domain("strict").unwrap().curve_any);
    }

    #[test]
    fn zcert_files_parse() {
        let key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
        let text = format!(
            "#   ****  Generated by pyzmq  ****\n#   ZeroMQ CURVE Public Certificate\n\nmetadata\n    name = \"x\"\ncurve\n    public-key = \"{key}\"\n"
        );
        assert_eq!(
            parse_zcert_public(&text),
            Some(curve::decode_key(key, "k").unwrap())
        );
        assert_eq!(
            parse_zcert_public(&text.replace("curve\n", "other\n")),
            None
        );
        assert_eq!(
            parse_zcert_public("curve\n    public-key = \"short\"\n"),
            None
        );
        assert_eq!(parse_zcert_public(""), None);
    }

    #[test]
    fn debug_hides_passwords() {
        let mut state = RulesState::default();
        state
            .domain_mut("*")
            .plain
            .get_or_insert_with(HashMap::new)
            .insert("admin".into(), Password(b"hunter2".to_vec().into()));
        let text = format!("{state:?}");
        assert!(text.contains("admin"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
