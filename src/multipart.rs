//! A whole message: an ordered list of frames.

use std::collections::VecDeque;
use std::fmt;
use std::ops::{Index, IndexMut};

use bytes::Bytes;

use crate::{Error, Message, Result};

/// A whole ZeroMQ message: one or more frames, sent and received
/// atomically.
///
/// A single-frame message is stored inline, so sending and receiving one
/// allocates nothing beyond the frame itself.
///
/// ```
/// use zmq_tokio::{Message, Multipart};
///
/// let mut msg = Multipart::from(["topic", "payload"]);
/// msg.push_front(Message::from("routing-id"));
/// assert_eq!(msg.len(), 3);
/// assert_eq!(msg[1], "topic");
/// let frames: Vec<&str> = msg.iter().filter_map(|f| f.as_str()).collect();
/// assert_eq!(frames, ["routing-id", "topic", "payload"]);
/// ```
#[derive(Clone, Default)]
pub struct Multipart {
    frames: Frames,
}

#[derive(Clone)]
enum Frames {
    /// No frame, or one.
    Inline(Option<Message>),
    /// Two or more frames (or fewer, after pops).
    Many(VecDeque<Message>),
}

impl Default for Frames {
    fn default() -> Self {
        Frames::Inline(None)
    }
}

impl Multipart {
    /// A message with no frames.
    pub fn new() -> Multipart {
        Multipart::default()
    }

    /// A message with room for `capacity` frames.
    pub fn with_capacity(capacity: usize) -> Multipart {
        let frames = if capacity <= 1 {
            Frames::Inline(None)
        } else {
            Frames::Many(VecDeque::with_capacity(capacity))
        };
        Multipart { frames }
    }

    /// The number of frames.
    pub fn len(&self) -> usize {
        match &self.frames {
            Frames::Inline(frame) => usize::from(frame.is_some()),
            Frames::Many(frames) => frames.len(),
        }
    }

    /// Whether the message has no frames.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The frame at `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<&Message> {
        match &self.frames {
            Frames::Inline(frame) if index == 0 => frame.as_ref(),
            Frames::Inline(_) => None,
            Frames::Many(frames) => frames.get(index),
        }
    }

    /// The frame at `index`, mutably, if there is one.
    pub fn get_mut(&mut self, index: usize) -> Option<&mut Message> {
        match &mut self.frames {
            Frames::Inline(frame) if index == 0 => frame.as_mut(),
            Frames::Inline(_) => None,
            Frames::Many(frames) => frames.get_mut(index),
        }
    }

    /// The first frame.
    pub fn first(&self) -> Option<&Message> {
        self.get(0)
    }

    /// The last frame.
    pub fn last(&self) -> Option<&Message> {
        self.len().checked_sub(1).and_then(|i| self.get(i))
    }

    /// Iterates over the frames in order.
    pub fn iter(&self) -> Iter<'_> {
        match &self.frames {
            Frames::Inline(frame) => Iter {
                front: frame.as_slice().iter(),
                back: [].iter(),
            },
            Frames::Many(frames) => {
                let (front, back) = frames.as_slices();
                Iter {
                    front: front.iter(),
                    back: back.iter(),
                }
            }
        }
    }

    fn many(&mut self) -> &mut VecDeque<Message> {
        if let Frames::Inline(frame) = &mut self.frames {
            let mut frames = VecDeque::with_capacity(4);
            frames.extend(frame.take());
            self.frames = Frames::Many(frames);
        }
        match &mut self.frames {
            Frames::Many(frames) => frames,
            Frames::Inline(_) => unreachable!("converted above"),
        }
    }

    /// Appends a frame.
    pub fn push_back(&mut self, frame: impl Into<Message>) {
        let frame = frame.into();
        match &mut self.frames {
            Frames::Inline(slot @ None) => *slot = Some(frame),
            _ => self.many().push_back(frame),
        }
    }

    /// Puts a frame in front (a routing id or an envelope delimiter).
    pub fn push_front(&mut self, frame: impl Into<Message>) {
        let frame = frame.into();
        match &mut self.frames {
            Frames::Inline(slot @ None) => *slot = Some(frame),
            _ => self.many().push_front(frame),
        }
    }

    /// Removes and returns the first frame.
    pub fn pop_front(&mut self) -> Option<Message> {
        match &mut self.frames {
            Frames::Inline(frame) => frame.take(),
            Frames::Many(frames) => frames.pop_front(),
        }
    }

    /// Removes and returns the last frame.
    pub fn pop_back(&mut self) -> Option<Message> {
        match &mut self.frames {
            Frames::Inline(frame) => frame.take(),
            Frames::Many(frames) => frames.pop_back(),
        }
    }

    /// The frame at `index` to receive into: the existing one, or (at
    /// `index == len()`) a new empty one. A message's first frame is
    /// initialised in place (see [`Message::init_in`]).
    pub(crate) fn slot(&mut self, index: usize) -> &mut Message {
        if index == self.len() {
            if matches!(self.frames, Frames::Inline(None)) {
                let Frames::Inline(slot) = &mut self.frames else {
                    unreachable!("matched above")
                };
                return Message::init_in(slot);
            }
            self.many().push_back(Message::new());
        }
        match self.get_mut(index) {
            Some(frame) => frame,
            None => unreachable!("index <= len, and a frame was added at len"),
        }
    }

    /// The one frame of a single-frame message stored inline (the common
    /// case the send path takes without a loop).
    #[inline]
    pub(crate) fn inline_frame(&mut self) -> Option<&mut Message> {
        match &mut self.frames {
            Frames::Inline(frame) => frame.as_mut(),
            Frames::Many(_) => None,
        }
    }

    /// The first frame's place when the message is stored inline (empty,
    /// or a single frame): the receive path's common case.
    #[inline]
    pub(crate) fn inline_slot(&mut self) -> Option<&mut Option<Message>> {
        match &mut self.frames {
            Frames::Inline(frame) => Some(frame),
            Frames::Many(_) => None,
        }
    }

    /// Drops the frames from `len` on.
    pub(crate) fn truncate(&mut self, len: usize) {
        match &mut self.frames {
            Frames::Inline(frame) if len == 0 => drop(frame.take()),
            Frames::Inline(_) => {}
            Frames::Many(frames) => frames.truncate(len),
        }
    }

    /// Removes the frames from `at` on and returns them (for the sender:
    /// what was left unsent).
    pub(crate) fn split_off(&mut self, at: usize) -> Multipart {
        match &mut self.frames {
            Frames::Inline(frame) if at == 0 => Multipart {
                frames: Frames::Inline(frame.take()),
            },
            Frames::Inline(_) => Multipart::new(),
            Frames::Many(frames) => Multipart {
                frames: Frames::Many(frames.split_off(at.min(frames.len()))),
            },
        }
    }
}

impl Index<usize> for Multipart {
    type Output = Message;

    /// # Panics
    ///
    /// When `index` is not less than [`len`](Multipart::len), like slice
    /// indexing; use [`get`](Multipart::get) to avoid it.
    fn index(&self, index: usize) -> &Message {
        match self.get(index) {
            Some(frame) => frame,
            None => panic!(
                "frame index {index} out of range for a message of {} frames",
                self.len()
            ),
        }
    }
}

impl IndexMut<usize> for Multipart {
    fn index_mut(&mut self, index: usize) -> &mut Message {
        let len = self.len();
        match self.get_mut(index) {
            Some(frame) => frame,
            None => panic!("frame index {index} out of range for a message of {len} frames"),
        }
    }
}

impl PartialEq for Multipart {
    fn eq(&self, other: &Multipart) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Multipart {}

impl fmt::Debug for Multipart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// An iterator over the frames of a [`Multipart`], from
/// [`Multipart::iter`].
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    front: std::slice::Iter<'a, Message>,
    back: std::slice::Iter<'a, Message>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a Message;

    fn next(&mut self) -> Option<&'a Message> {
        self.front.next().or_else(|| self.back.next())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.front.len() + self.back.len();
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.back.next_back().or_else(|| self.front.next_back())
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a Multipart {
    type Item = &'a Message;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// The frames of a [`Multipart`], by value.
#[derive(Debug)]
pub struct IntoIter(IntoIterInner);

#[derive(Debug)]
enum IntoIterInner {
    Inline(std::option::IntoIter<Message>),
    Many(std::collections::vec_deque::IntoIter<Message>),
}

impl Iterator for IntoIter {
    type Item = Message;

    fn next(&mut self) -> Option<Message> {
        match &mut self.0 {
            IntoIterInner::Inline(it) => it.next(),
            IntoIterInner::Many(it) => it.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            IntoIterInner::Inline(it) => it.size_hint(),
            IntoIterInner::Many(it) => it.size_hint(),
        }
    }
}

impl DoubleEndedIterator for IntoIter {
    fn next_back(&mut self) -> Option<Message> {
        match &mut self.0 {
            IntoIterInner::Inline(it) => it.next_back(),
            IntoIterInner::Many(it) => it.next_back(),
        }
    }
}

impl ExactSizeIterator for IntoIter {}

impl IntoIterator for Multipart {
    type Item = Message;
    type IntoIter = IntoIter;

    fn into_iter(self) -> IntoIter {
        IntoIter(match self.frames {
            Frames::Inline(frame) => IntoIterInner::Inline(frame.into_iter()),
            Frames::Many(frames) => IntoIterInner::Many(frames.into_iter()),
        })
    }
}

/// Collects frames, or anything a frame is made from (`&str`, `String`,
/// `Bytes`, `Vec<u8>`, `&[u8]`, `&Message`, ...), into one message.
///
/// ```
/// use zmq_tokio::Multipart;
///
/// let msg: Multipart = "a b c".split(' ').collect();
/// assert_eq!(msg.len(), 3);
/// let copy: Multipart = msg.iter().skip(1).collect();
/// assert_eq!(copy, Multipart::from(["b", "c"]));
/// ```
impl<M: Into<Message>> FromIterator<M> for Multipart {
    fn from_iter<I: IntoIterator<Item = M>>(iter: I) -> Self {
        let mut msg = Multipart::new();
        msg.extend(iter);
        msg
    }
}

impl<M: Into<Message>> Extend<M> for Multipart {
    fn extend<I: IntoIterator<Item = M>>(&mut self, iter: I) {
        for frame in iter {
            self.push_back(frame);
        }
    }
}

impl From<Message> for Multipart {
    fn from(frame: Message) -> Self {
        Multipart {
            frames: Frames::Inline(Some(frame)),
        }
    }
}

/// Single-frame conversions: each value becomes a one-frame message.
macro_rules! single_frame {
    ($($ty:ty),* $(,)?) => {$(
        impl From<$ty> for Multipart {
            fn from(value: $ty) -> Self {
                Multipart::from(Message::from(value))
            }
        }

        impl From<Vec<$ty>> for Multipart {
            fn from(frames: Vec<$ty>) -> Self {
                frames.into_iter().map(Message::from).collect()
            }
        }
    )*};
}

single_frame!(&str, &String, String, &[u8], Vec<u8>, &Vec<u8>, Bytes);

impl From<&Multipart> for Multipart {
    /// The same as [`Clone`]: frames are shared or copied as
    /// [`Message`]'s `Clone` does.
    fn from(msg: &Multipart) -> Self {
        msg.clone()
    }
}

/// A frame in front of a body: the routing-id form a ROUTER sends and
/// receives, `(routing_id, body)`. The body is anything that converts to a
/// [`Multipart`]. A REQ peer expects an empty delimiter frame between the
/// two: `(routing_id, ["", "reply"])`.
///
/// ```
/// use zmq_tokio::{Message, Multipart};
///
/// let id = Message::from("client-1");
/// let reply = Multipart::from((id.clone(), "reply"));
/// assert_eq!(reply, Multipart::from(["client-1", "reply"]));
/// let to_req = Multipart::from((id, ["", "reply"]));
/// assert_eq!(to_req.len(), 3);
/// ```
impl<F: Into<Message>, B: Into<Multipart>> From<(F, B)> for Multipart {
    fn from((first, body): (F, B)) -> Self {
        let mut msg = body.into();
        msg.push_front(first);
        msg
    }
}

/// The text of a one-frame message, copied. A message of several frames,
/// or a frame that is not UTF-8, is an [`Error::InvalidMessage`].
///
/// ```
/// use zmq_tokio::Multipart;
///
/// assert_eq!(String::try_from(Multipart::from("hi")).unwrap(), "hi");
/// assert!(String::try_from(Multipart::from(["a", "b"])).is_err());
/// ```
impl TryFrom<Multipart> for String {
    type Error = Error;

    fn try_from(msg: Multipart) -> Result<String> {
        if msg.len() != 1 {
            return Err(Error::InvalidMessage {
                reason: format!("expected one frame of text, got {} frames", msg.len()).into(),
            });
        }
        String::try_from(&msg[0])
    }
}

impl<const N: usize> From<&[u8; N]> for Multipart {
    fn from(value: &[u8; N]) -> Self {
        Multipart::from(Message::from(value))
    }
}

impl From<Vec<Message>> for Multipart {
    fn from(frames: Vec<Message>) -> Self {
        frames.into_iter().collect()
    }
}

impl<T: Into<Message>, const N: usize> From<[T; N]> for Multipart {
    fn from(frames: [T; N]) -> Self {
        frames.into_iter().map(Into::into).collect()
    }
}

impl From<Multipart> for Vec<Message> {
    fn from(msg: Multipart) -> Self {
        msg.into_iter().collect()
    }
}
