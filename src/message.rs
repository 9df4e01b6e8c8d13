//! One frame of a message.

use std::fmt;
use std::ops::Deref;

use bytes::Bytes;

use crate::raw::{self, RawMsg};
use crate::{Error, Result};

/// One frame of a ZeroMQ message.
///
/// A `Message` owns a libzmq `zmq_msg_t`. It dereferences to its bytes and
/// is never writable in place: libzmq may share a frame's buffer between
/// holders (inproc hands the sender's buffer to the receiver).
///
/// # Copies
///
/// Frames of up to [`Message::COPY_THRESHOLD`] (512) bytes are copied into libzmq's
/// own storage (frames of 33 bytes or less even live inside the
/// `zmq_msg_t`): below that size a copy is cheaper than the bookkeeping of
/// sharing. Larger [`Bytes`], `Vec<u8>` and `String` values are handed to
/// libzmq without copying; libzmq drops them, exactly once and possibly on
/// one of its I/O threads, when it is done with them. In the other
/// direction [`Message::into_bytes`] gives a received frame of 8 KiB or
/// more to [`Bytes`] without copying it.
///
/// `Clone` shares the content of large frames (a reference count, as
/// `zmq_msg_copy` does) and copies small ones.
///
/// # Conversions
///
/// A frame is made `From` bytes or text: `&str`, `String`, `&String`,
/// `&[u8]`, `&[u8; N]`, `Vec<u8>`, `&Vec<u8>`, [`Bytes`] and `&Message`.
/// Borrowed values are copied. Numbers are refused (`Message::from(5u32)`
/// does not compile): their width and byte order are the application's
/// protocol, so say it, for instance `Message::from(&5u32.to_be_bytes())`.
/// Back out: [`as_str`](Message::as_str), `String::try_from`, [`Bytes`]
/// (`From`), and `Display`, which shows text and replaces bytes that are
/// not UTF-8.
///
/// ```
/// use bytes::Bytes;
/// use zmq_tokio::Message;
///
/// let small = Message::from("hello");
/// assert_eq!(&small[..], b"hello");
/// assert_eq!(small.as_str(), Some("hello"));
///
/// let big = Bytes::from(vec![7u8; 64 * 1024]);
/// let ptr = big.as_ptr();
/// let frame = Message::from(big);
/// assert_eq!(frame.as_ptr(), ptr); // the same buffer, not a copy
/// ```
pub struct Message {
    raw: RawMsg,
}

impl Message {
    /// Frames larger than this many bytes are handed from [`Bytes`] (or
    /// `Vec<u8>`, `String`) to libzmq without copying; smaller ones are
    /// copied. `cargo bench --bench message` put the crossover between
    /// 256 B (copy 15% cheaper) and 1 KiB (zero-copy 35% cheaper); the
    /// figures are in the repository's `benches/README.md`.
    pub const COPY_THRESHOLD: usize = 512;

    /// [`into_bytes`](Message::into_bytes) copies received frames smaller
    /// than this (libzmq's 8 KiB TCP receive batch). libzmq may hand out a
    /// frame smaller than its receive buffer as a slice of that shared
    /// buffer; a `Bytes` that kept it would pin the whole buffer.
    pub const INTO_BYTES_COPY_BELOW: usize = 8 * 1024;

    /// An empty frame.
    pub fn new() -> Message {
        Message::from_raw(RawMsg::new())
    }

    /// A frame holding a copy of `data`.
    pub fn copy_from_slice(data: &[u8]) -> Message {
        Message::from_raw(RawMsg::copy_from(data))
    }

    /// A frame that points at static data: neither copied nor freed.
    pub fn from_static(data: &'static [u8]) -> Message {
        Message::from_raw(RawMsg::from_static(data))
    }

    /// A frame that points into `data` without copying it, whatever its
    /// size (the `From` conversions copy small frames). libzmq drops `data`
    /// when it is done with the frame, exactly once, possibly on one of its
    /// I/O threads.
    pub fn from_bytes_no_copy(data: Bytes) -> Message {
        Message::from_raw(RawMsg::from_bytes(data))
    }

    pub(crate) fn from_raw(raw: RawMsg) -> Message {
        Message { raw }
    }

    /// Puts an empty frame into `slot`, initialised in place (see
    /// [`RawMsg::init_in`]), ready to receive into.
    pub(crate) fn init_in(slot: &mut Option<Message>) -> &mut Message {
        RawMsg::init_in(slot, Message::from_raw, |frame| &mut frame.raw)
    }

    pub(crate) fn raw_mut(&mut self) -> &mut RawMsg {
        &mut self.raw
    }

    /// The frame's length in bytes.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether the frame has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The frame as text, if it is valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(self).ok()
    }

    /// Whether more frames followed this one in the message it was
    /// received in. Always `false` for frames built locally.
    pub fn more(&self) -> bool {
        self.raw.more()
    }

    /// A metadata property of a received frame (`zmq_msg_gets`), such as
    /// `"Peer-Address"`, `"User-Id"`, `"Socket-Type"` or `"Routing-Id"`.
    /// `None` when the frame has no such property (frames built locally have
    /// none).
    pub fn gets(&self, property: &str) -> Option<String> {
        let property = raw::c_string(property).ok()?;
        self.raw.gets(&property)
    }

    /// The frame's bytes as [`Bytes`]. Frames of
    /// [`Message::INTO_BYTES_COPY_BELOW`] bytes or more are not copied: the
    /// `Bytes` keeps the libzmq message alive. Smaller ones are copied, so
    /// that a small frame does not pin a libzmq receive buffer.
    pub fn into_bytes(self) -> Bytes {
        if self.len() < Self::INTO_BYTES_COPY_BELOW {
            Bytes::copy_from_slice(&self)
        } else {
            Bytes::from_owner(self.raw)
        }
    }
}

impl Default for Message {
    fn default() -> Self {
        Message::new()
    }
}

impl Clone for Message {
    fn clone(&self) -> Self {
        Message {
            raw: self.raw.try_clone(),
        }
    }
}

impl Deref for Message {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.raw.data()
    }
}

impl AsRef<[u8]> for Message {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const PREVIEW: usize = 32;
        let data: &[u8] = self;
        let shown = &data[..data.len().min(PREVIEW)];
        let ellipsis = if data.len() > PREVIEW { "..." } else { "" };
        write!(
            f,
            "Message({} bytes: b\"{}{ellipsis}\")",
            data.len(),
            shown.escape_ascii()
        )
    }
}

impl PartialEq for Message {
    fn eq(&self, other: &Message) -> bool {
        self[..] == other[..]
    }
}

impl Eq for Message {}

impl PartialEq<[u8]> for Message {
    fn eq(&self, other: &[u8]) -> bool {
        &self[..] == other
    }
}

impl PartialEq<&[u8]> for Message {
    fn eq(&self, other: &&[u8]) -> bool {
        &self[..] == *other
    }
}

impl<const N: usize> PartialEq<[u8; N]> for Message {
    fn eq(&self, other: &[u8; N]) -> bool {
        self[..] == other[..]
    }
}

impl<const N: usize> PartialEq<&[u8; N]> for Message {
    fn eq(&self, other: &&[u8; N]) -> bool {
        self[..] == other[..]
    }
}

impl PartialEq<str> for Message {
    fn eq(&self, other: &str) -> bool {
        &self[..] == other.as_bytes()
    }
}

impl PartialEq<&str> for Message {
    fn eq(&self, other: &&str) -> bool {
        &self[..] == other.as_bytes()
    }
}

impl PartialEq<Vec<u8>> for Message {
    fn eq(&self, other: &Vec<u8>) -> bool {
        self[..] == other[..]
    }
}

impl PartialEq<String> for Message {
    fn eq(&self, other: &String) -> bool {
        &self[..] == other.as_bytes()
    }
}

impl PartialEq<Bytes> for Message {
    fn eq(&self, other: &Bytes) -> bool {
        self[..] == other[..]
    }
}

impl From<&[u8]> for Message {
    fn from(data: &[u8]) -> Self {
        Message::copy_from_slice(data)
    }
}

impl<const N: usize> From<&[u8; N]> for Message {
    fn from(data: &[u8; N]) -> Self {
        Message::copy_from_slice(data)
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Self {
        Message::copy_from_slice(text.as_bytes())
    }
}

impl From<&String> for Message {
    fn from(text: &String) -> Self {
        Message::copy_from_slice(text.as_bytes())
    }
}

impl From<&Vec<u8>> for Message {
    /// Copies the bytes.
    fn from(data: &Vec<u8>) -> Self {
        Message::copy_from_slice(data)
    }
}

impl From<&Message> for Message {
    /// The same as [`Clone`]: shares large frames, copies small ones.
    fn from(frame: &Message) -> Self {
        frame.clone()
    }
}

impl From<String> for Message {
    fn from(text: String) -> Self {
        Message::from(text.into_bytes())
    }
}

impl From<Vec<u8>> for Message {
    fn from(data: Vec<u8>) -> Self {
        if data.len() <= Self::COPY_THRESHOLD {
            Message::copy_from_slice(&data)
        } else {
            Message::from(Bytes::from(data))
        }
    }
}

impl From<Bytes> for Message {
    fn from(data: Bytes) -> Self {
        if data.len() <= Self::COPY_THRESHOLD {
            Message::copy_from_slice(&data)
        } else {
            Message::from_bytes_no_copy(data)
        }
    }
}

impl From<Message> for Bytes {
    fn from(msg: Message) -> Self {
        msg.into_bytes()
    }
}

/// The frame as text: UTF-8 is written as it is, bytes that are not valid
/// UTF-8 as U+FFFD (`\u{FFFD}`), as [`String::from_utf8_lossy`] does. For
/// text or nothing use [`Message::as_str`] or `String::try_from`; to see
/// the bytes use `{:?}`.
///
/// ```
/// use zmq_tokio::Message;
///
/// assert_eq!(Message::from("hello").to_string(), "hello");
/// assert_eq!(Message::from(&b"caf\xe9"[..]).to_string(), "caf\u{FFFD}");
/// ```
impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.utf8_chunks() {
            f.write_str(chunk.valid())?;
            if !chunk.invalid().is_empty() {
                f.write_str("\u{FFFD}")?;
            }
        }
        Ok(())
    }
}

/// The frame's text, copied; an error if the frame is not UTF-8.
///
/// ```
/// use zmq_tokio::Message;
///
/// assert_eq!(String::try_from(Message::from("hello")).unwrap(), "hello");
/// assert!(String::try_from(Message::from(&[0xff][..])).is_err());
/// ```
impl TryFrom<Message> for String {
    type Error = Error;

    fn try_from(frame: Message) -> Result<String> {
        String::try_from(&frame)
    }
}

impl TryFrom<&Message> for String {
    type Error = Error;

    fn try_from(frame: &Message) -> Result<String> {
        match std::str::from_utf8(frame) {
            Ok(text) => Ok(text.to_owned()),
            Err(e) => Err(Error::InvalidMessage {
                reason: format!("the frame is not UTF-8 text: {e}").into(),
            }),
        }
    }
}
