//! FFI for CURVE keys and Z85 text (`zmq_curve_keypair`,
//! `zmq_curve_public`, `zmq_z85_encode`, `zmq_z85_decode`).
//!
//! The callers in `curve.rs` check lengths and characters first; these
//! wrappers check again what the C functions need for memory safety
//! (buffer sizes, NUL bytes), so that no input can make libzmq write past
//! a buffer.

use std::ffi::{c_char, c_int, CStr, CString};

use zmq_sys as sys;

use super::{last_errno, Errno, EINVAL};

// zmq-sys 0.12 declares `zmq_curve_public` but does not export it: declare
// it here, as zmq.h of libzmq 4.3 does (libzmq >= 4.2 has it, with or
// without CURVE).
extern "C" {
    fn zmq_curve_public(z85_public_key: *mut c_char, z85_secret_key: *const c_char) -> c_int;
}

/// A CURVE key as Z85 text: 40 characters.
pub(crate) const KEY_Z85_LEN: usize = 40;

/// A new key pair as `(public, secret)` Z85 text. ENOTSUP without CURVE.
pub(crate) fn curve_keypair() -> Result<(String, String), Errno> {
    let mut public = [0 as c_char; KEY_Z85_LEN + 1];
    let mut secret = [0 as c_char; KEY_Z85_LEN + 1];
    // SAFETY: both buffers hold the 41 bytes (40 characters and a NUL)
    // that zmq_curve_keypair writes; they live across the call.
    let rc = unsafe { sys::zmq_curve_keypair(public.as_mut_ptr(), secret.as_mut_ptr()) };
    if rc == -1 {
        return Err(last_errno());
    }
    Ok((text_of(&public)?, text_of(&secret)?))
}

/// The public key that belongs to a secret key, both Z85 text.
pub(crate) fn curve_public(secret_z85: &str) -> Result<String, Errno> {
    // zmq_curve_public decodes the secret into a 32-byte buffer: only 40
    // characters fit.
    if secret_z85.len() != KEY_Z85_LEN {
        return Err(EINVAL);
    }
    let secret = CString::new(secret_z85).map_err(|_| EINVAL)?;
    let mut public = [0 as c_char; KEY_Z85_LEN + 1];
    // SAFETY: `secret` is NUL-terminated and 40 characters long, so it
    // decodes to exactly the 32 bytes libzmq's buffer holds; `public` holds
    // the 41 bytes libzmq writes.
    let rc = unsafe { zmq_curve_public(public.as_mut_ptr(), secret.as_ptr()) };
    if rc == -1 {
        return Err(last_errno());
    }
    text_of(&public)
}

/// Z85 text of `data`, whose length must be a multiple of 4.
pub(crate) fn z85_encode(data: &[u8]) -> Result<String, Errno> {
    if data.len() % 4 != 0 {
        return Err(EINVAL);
    }
    let mut text = vec![0 as c_char; data.len() / 4 * 5 + 1];
    // SAFETY: `data` is valid for data.len() bytes; `text` holds the
    // len * 5 / 4 characters and the NUL that libzmq writes.
    let rc = unsafe { sys::zmq_z85_encode(text.as_mut_ptr(), data.as_ptr(), data.len()) };
    if rc.is_null() {
        return Err(last_errno());
    }
    text_of(&text)
}

/// The bytes that Z85 `text` encodes; its length must be a multiple of 5.
pub(crate) fn z85_decode(text: &str) -> Result<Vec<u8>, Errno> {
    if text.len() % 5 != 0 {
        return Err(EINVAL);
    }
    let c_text = CString::new(text).map_err(|_| EINVAL)?;
    let mut data = vec![0u8; text.len() / 5 * 4];
    // SAFETY: `c_text` is NUL-terminated and its length (checked to be a
    // multiple of 5) decodes to exactly data.len() bytes, which `data`
    // holds. libzmq rejects characters outside the alphabet with EINVAL.
    let rc = unsafe { sys::zmq_z85_decode(data.as_mut_ptr(), c_text.as_ptr()) };
    if rc.is_null() {
        return Err(last_errno());
    }
    Ok(data)
}

/// The NUL-terminated ASCII text libzmq wrote into `buffer`.
fn text_of(buffer: &[c_char]) -> Result<String, Errno> {
    let bytes: Vec<u8> = buffer.iter().map(|&c| c as u8).collect();
    let text = CStr::from_bytes_until_nul(&bytes).map_err(|_| EINVAL)?;
    text.to_str().map(str::to_owned).map_err(|_| EINVAL)
}
