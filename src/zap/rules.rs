//! The rules an [`Authenticator`](super::Authenticator) decides by:
//! address ranges, PLAIN users, CURVE keys, per domain.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use futures::future::BoxFuture;

use super::handler::Request;
use super::{ANY_DOMAIN, DEFAULT_CALLBACK_TIMEOUT};
use crate::curve;
use crate::{Error, Result};

/// An IP address range: an address and how many leading bits count.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Cidr {
    pub(super) network: IpAddr,
    pub(super) prefix: u8,
}

impl Cidr {
    pub(super) fn parse(text: &str) -> Result<Cidr> {
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

    pub(super) fn contains(&self, address: IpAddr) -> bool {
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

/// A password, kept out of `Debug`.
#[derive(Clone)]
pub(super) struct Password(pub(super) Box<[u8]>);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<hidden>")
    }
}

/// Compares two byte strings in a time that depends only on their lengths.
pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(std::hint::black_box(x ^ y));
    }
    std::hint::black_box(diff) == 0
}

pub(super) type Callback =
    Arc<dyn Fn(&str, &str) -> BoxFuture<'static, std::result::Result<bool, String>> + Send + Sync>;
pub(super) type UserIdFn = Arc<dyn Fn(&Request<'_>) -> Option<String> + Send + Sync>;

/// The rules of one domain.
#[derive(Default, Clone)]
pub(super) struct DomainRules {
    /// `None`: no PLAIN users configured for the domain.
    pub(super) plain: Option<HashMap<String, Password>>,
    pub(super) curve_any: bool,
    pub(super) curve_keys: HashSet<[u8; 32]>,
    pub(super) curve_callback: Option<Callback>,
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
pub(super) struct RulesState {
    pub(super) allow: Vec<Cidr>,
    pub(super) deny: Vec<Cidr>,
    pub(super) domains: HashMap<String, DomainRules>,
    pub(super) user_id: Option<UserIdFn>,
    pub(super) callback_timeout: Duration,
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
pub(super) fn domain_key(domain: &str) -> String {
    if domain.is_empty() {
        ANY_DOMAIN.to_owned()
    } else {
        domain.to_owned()
    }
}

impl RulesState {
    pub(super) fn domain_mut(&mut self, domain: &str) -> &mut DomainRules {
        self.domains.entry(domain_key(domain)).or_default()
    }

    /// The rules that apply to requests of `domain`.
    pub(super) fn for_domain(&self, domain: &str) -> Option<&DomainRules> {
        self.domains
            .get(domain_key(domain).as_str())
            .or_else(|| self.domains.get(ANY_DOMAIN))
    }

    /// Why `address` is refused, if it is.
    pub(super) fn address_refusal(&self, address: &str) -> Option<&'static str> {
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

/// The rules of a running [`Authenticator`](super::Authenticator): a cheap `Clone` handle that
/// any task can use to change them while it runs. A change applies to
/// handshakes that start after it; connections already let in stay.
///
/// Methods that take text to parse (addresses, keys) return an error and
/// change nothing when it does not parse.
#[derive(Clone)]
pub struct Rules {
    pub(super) state: Arc<RwLock<RulesState>>,
}

impl Rules {
    pub(super) fn read(&self) -> RwLockReadGuard<'_, RulesState> {
        // No user code runs under the lock, so a poisoned lock holds
        // consistent rules.
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn write(&self) -> RwLockWriteGuard<'_, RulesState> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds an address or CIDR range to the allow list (see
    /// [`Builder::allow`](super::Builder::allow)).
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
    /// [`Builder::deny`](super::Builder::deny)).
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
    /// the `*.key` files in `dir` (see [`Builder::curve_key_dir`](super::Builder::curve_key_dir)), read on
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

pub(super) fn decode_keys<K: AsRef<str>>(
    keys: impl IntoIterator<Item = K>,
) -> Result<Vec<[u8; 32]>> {
    keys.into_iter()
        .map(|key| curve::decode_key(key.as_ref(), "CURVE client key"))
        .collect()
}

/// The public keys of the `*.key` files in `dir` (the zcert text format:
/// a `curve` section with `public-key = "<40 characters of Z85>"`).
/// Secret files (`*.key_secret`) and other files are skipped.
pub(super) fn read_key_dir(dir: &Path) -> Result<HashSet<[u8; 32]>> {
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
