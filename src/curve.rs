//! CURVE keys and Z85 text (`zmq_curve_keypair`, `zmq_curve_public`,
//! `zmq_z85_encode`, `zmq_z85_decode`).
//!
//! CURVE needs a libzmq built with libsodium. The libzmq that `zmq-sys`
//! builds has none; [`curve_keypair`] and [`curve_public`] then fail with
//! [`Error::Unsupported`], whose message says how to link a libzmq that
//! has it. Z85 works in every build.

use std::fmt;

use crate::raw::curve as raw;
use crate::{Error, Result};

/// How to get CURVE, for errors where it is missing.
pub(crate) const CURVE_HELP: &str = "CURVE needs a libzmq built with libsodium, and the one \
     zmq-sys builds has none. Link Debian's instead: `apt-get install libzmq3-dev`, then build \
     with `--config 'target.x86_64-unknown-linux-gnu.zmq.rustc-link-lib=[\"zmq\"]'` (README, \
     section \"Security\")";

/// The Z85 alphabet (ZeroMQ RFC 32), in the order of the digits' values.
const ALPHABET: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/// A CURVE key pair: a public and a secret key, each 40 characters of Z85
/// text (32 bytes of key).
///
/// `Debug` shows the public key only; the secret is reachable through
/// [`secret`](CurveKeyPair::secret) and nowhere else.
///
/// ```
/// # fn main() -> zmq_tokio::Result<()> {
/// if !zmq_tokio::has("curve") {
///     return Ok(()); // this libzmq has no CURVE: see the README, "Security"
/// }
/// let server = zmq_tokio::curve_keypair()?;
/// assert_eq!(server.public().len(), 40);
/// assert!(!format!("{server:?}").contains(server.secret()));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CurveKeyPair {
    public: String,
    secret: String,
}

impl CurveKeyPair {
    /// A new random key pair; the same as [`curve_keypair`].
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the linked libzmq has no CURVE.
    pub fn generate() -> Result<CurveKeyPair> {
        curve_keypair()
    }

    /// The key pair of a secret key (40 characters of Z85), its public key
    /// derived as [`curve_public`] does.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a secret that is not 40 characters of
    /// Z85; [`Error::Unsupported`] when the linked libzmq has no CURVE.
    pub fn from_secret(secret: &str) -> Result<CurveKeyPair> {
        let public = curve_public(secret)?;
        Ok(CurveKeyPair {
            public,
            secret: secret.to_owned(),
        })
    }

    /// The public key, 40 characters of Z85: give it to peers.
    pub fn public(&self) -> &str {
        &self.public
    }

    /// The secret key, 40 characters of Z85: keep it to yourself.
    pub fn secret(&self) -> &str {
        &self.secret
    }
}

impl fmt::Debug for CurveKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurveKeyPair")
            .field("public", &self.public)
            .field("secret", &"<hidden>")
            .finish()
    }
}

/// A new random CURVE key pair (`zmq_curve_keypair`).
///
/// # Errors
///
/// [`Error::Unsupported`] when the linked libzmq has no CURVE (the
/// vendored build of `zmq-sys`): the message says how to link one that
/// has it.
///
/// # Examples
///
/// ```
/// match zmq_tokio::curve_keypair() {
///     Ok(keys) => assert_eq!(zmq_tokio::curve_public(keys.secret()).unwrap(), keys.public()),
///     Err(zmq_tokio::Error::Unsupported { capability, .. }) => assert_eq!(capability, "curve"),
///     Err(e) => panic!("{e}"),
/// }
/// ```
pub fn curve_keypair() -> Result<CurveKeyPair> {
    require_curve()?;
    let (public, secret) =
        raw::curve_keypair().map_err(|errno| keys_error(errno, "curve_keypair"))?;
    Ok(CurveKeyPair { public, secret })
}

/// The public key of a CURVE secret key, both 40 characters of Z85
/// (`zmq_curve_public`).
///
/// # Errors
///
/// [`Error::InvalidInput`] for a secret that is not 40 characters of Z85
/// (the message names the length or the first wrong character);
/// [`Error::Unsupported`] when the linked libzmq has no CURVE.
///
/// # Examples
///
/// ```
/// let err = zmq_tokio::curve_public("too short").unwrap_err();
/// assert!(err.to_string().contains("40 characters"), "{err}");
/// ```
pub fn curve_public(secret: &str) -> Result<String> {
    check_key(secret, "CURVE secret key")?;
    require_curve()?;
    raw::curve_public(secret).map_err(|errno| keys_error(errno, "curve_public"))
}

/// Z85 text of `data` (`zmq_z85_encode`), whose length must be a multiple
/// of 4: Z85 (ZeroMQ RFC 32) turns each 4 bytes into 5 characters.
///
/// # Errors
///
/// [`Error::InvalidInput`] when `data.len()` is not a multiple of 4.
///
/// # Examples
///
/// ```
/// let text = zmq_tokio::z85_encode(&[0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B])?;
/// assert_eq!(text, "HelloWorld");
/// assert!(zmq_tokio::z85_encode(b"abc").is_err());
/// # Ok::<(), zmq_tokio::Error>(())
/// ```
pub fn z85_encode(data: &[u8]) -> Result<String> {
    if data.len() % 4 != 0 {
        return Err(Error::InvalidInput {
            what: "data to Z85-encode",
            reason: format!(
                "{} bytes is not a multiple of 4 (Z85 encodes 4 bytes at a time)",
                data.len()
            )
            .into(),
        });
    }
    if data.is_empty() {
        return Ok(String::new());
    }
    raw::z85_encode(data).map_err(|errno| Error::zmq(errno, "zmq_z85_encode"))
}

/// The bytes that Z85 text encodes (`zmq_z85_decode`).
///
/// # Errors
///
/// [`Error::InvalidInput`] when the length is not a multiple of 5, when a
/// character is not in the Z85 alphabet, or when a group of five
/// characters stands for more than 32 bits; the message says which.
///
/// # Examples
///
/// ```
/// assert_eq!(
///     zmq_tokio::z85_decode("HelloWorld")?,
///     [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]
/// );
/// let err = zmq_tokio::z85_decode("HelloWorl").unwrap_err();
/// assert!(err.to_string().contains("multiple of 5"), "{err}");
/// # Ok::<(), zmq_tokio::Error>(())
/// ```
pub fn z85_decode(text: &str) -> Result<Vec<u8>> {
    check_z85(text, "Z85 text")?;
    if text.is_empty() {
        return Ok(Vec::new());
    }
    raw::z85_decode(text).map_err(|errno| Error::zmq(errno, "zmq_z85_decode"))
}

/// Checks that `key` is a CURVE key in Z85: 40 characters of the alphabet.
pub(crate) fn check_key(key: &str, what: &'static str) -> Result<()> {
    if key.len() != raw::KEY_Z85_LEN {
        return Err(Error::InvalidInput {
            what,
            reason: format!(
                "a CURVE key in Z85 is 40 characters, this one has {}",
                key.chars().count()
            )
            .into(),
        });
    }
    check_z85(key, what)
}

/// The 32 bytes of a CURVE key given as 40 characters of Z85.
pub(crate) fn decode_key(key: &str, what: &'static str) -> Result<[u8; 32]> {
    check_key(key, what)?;
    let bytes = z85_decode(key)?;
    let mut out = [0u8; 32];
    out.copy_from_slice(&bytes);
    Ok(out)
}

/// Checks Z85 text: its length, its characters and each group's value.
fn check_z85(text: &str, what: &'static str) -> Result<()> {
    let invalid = |reason: String| Error::InvalidInput {
        what,
        reason: reason.into(),
    };
    if let Some((position, c)) = text
        .char_indices()
        .find(|&(_, c)| !c.is_ascii() || !ALPHABET.contains(&(c as u8)))
    {
        return Err(invalid(format!(
            "character {c:?} at byte {position} is not in the Z85 alphabet"
        )));
    }
    if text.len() % 5 != 0 {
        return Err(invalid(format!(
            "length {} is not a multiple of 5 (Z85 decodes 5 characters at a time)",
            text.len()
        )));
    }
    for (group, chunk) in text.as_bytes().chunks(5).enumerate() {
        let value = chunk.iter().fold(0u64, |value, &c| {
            let digit = ALPHABET.iter().position(|&a| a == c).unwrap_or(0) as u64;
            value * 85 + digit
        });
        if value > u64::from(u32::MAX) {
            return Err(invalid(format!(
                "the characters at bytes {}..{} stand for more than 32 bits",
                group * 5,
                group * 5 + 5
            )));
        }
    }
    Ok(())
}

/// [`Error::Unsupported`] unless the linked libzmq has CURVE.
pub(crate) fn require_curve() -> Result<()> {
    if crate::has("curve") {
        Ok(())
    } else {
        Err(unsupported())
    }
}

/// The error for a missing CURVE.
pub(crate) fn unsupported() -> Error {
    Error::Unsupported {
        capability: "curve",
        help: CURVE_HELP,
    }
}

fn keys_error(errno: crate::raw::Errno, operation: &'static str) -> Error {
    if errno == zmq_sys::errno::ENOTSUP {
        unsupported()
    } else {
        Error::zmq(errno, operation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn z85_round_trips() {
        let data: Vec<u8> = (0..=255).collect();
        let text = z85_encode(&data).unwrap();
        assert_eq!(text.len(), 320);
        assert_eq!(z85_decode(&text).unwrap(), data);
        assert_eq!(z85_encode(&[]).unwrap(), "");
        assert_eq!(z85_decode("").unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn z85_rejects_bad_input() {
        let err = z85_decode("abcd").unwrap_err().to_string();
        assert!(err.contains("length 4 is not a multiple of 5"), "{err}");
        let err = z85_decode("abc\"e").unwrap_err().to_string();
        assert!(err.contains("'\"' at byte 3"), "{err}");
        let err = z85_decode("abcdé").unwrap_err().to_string();
        assert!(err.contains("'é' at byte 4"), "{err}");
        // "#####" is 85^5 - 1, above 2^32 - 1.
        let err = z85_decode("0000#####").unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
        let err = z85_decode("00000#####").unwrap_err().to_string();
        assert!(err.contains("bytes 5..10"), "{err}");
        let err = z85_encode(&[1, 2, 3]).unwrap_err().to_string();
        assert!(err.contains("3 bytes is not a multiple of 4"), "{err}");
    }

    #[test]
    fn keys_are_checked_before_libzmq_sees_them() {
        for bad in [
            "",
            "short",
            &"a".repeat(41),
            &"\0".repeat(40),
            &"~".repeat(40),
        ] {
            let err = curve_public(bad).unwrap_err();
            assert!(matches!(err, Error::InvalidInput { .. }), "{bad:?}: {err}");
        }
    }

    #[test]
    fn keypair_without_curve_says_how_to_get_it() {
        match curve_keypair() {
            Ok(keys) => {
                assert!(crate::has("curve"));
                assert_eq!(curve_public(keys.secret()).unwrap(), keys.public());
                let debug = format!("{keys:?}");
                assert!(!debug.contains(keys.secret()), "{debug}");
                assert!(debug.contains(keys.public()), "{debug}");
                assert_eq!(CurveKeyPair::from_secret(keys.secret()).unwrap(), keys);
            }
            Err(err) => {
                assert!(!crate::has("curve"));
                assert_eq!(err.errno(), Some(zmq_sys::errno::ENOTSUP));
                let text = err.to_string();
                assert!(text.contains("libzmq3-dev"), "{text}");
                assert!(text.contains("Security"), "{text}");
            }
        }
    }
}
