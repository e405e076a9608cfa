//! Application messages and UTF-8-checked bytes.

use std::fmt;
use std::ops::Deref;
use std::str;

use bytes::Bytes;

use crate::payload::Payload;

/// A [`Payload`] known to be valid UTF-8.
///
/// Text messages are handed out as `Utf8Bytes` so that a received text payload, already
/// validated while it arrived, can be read as `&str` without a second pass or a copy.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Utf8Bytes(Payload);

impl Utf8Bytes {
    /// An empty string.
    pub const fn new() -> Self {
        Utf8Bytes(Payload::new())
    }

    /// A static string, without copying.
    pub const fn from_static(s: &'static str) -> Self {
        Utf8Bytes(Payload::from_static(s.as_bytes()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // The constructors only admit valid UTF-8. Without `unsafe` the check cannot be skipped;
        // it runs at memory speed (SIMD), and hot paths that need only bytes use `as_bytes`.
        crate::utf8::as_str(&self.0).expect("Utf8Bytes holds valid UTF-8")
    }

    /// The UTF-8 bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The UTF-8 bytes as `Bytes`: without copying unless they are held inline
    /// ([`Payload::into_bytes`]).
    pub fn into_bytes(self) -> Bytes {
        self.0.into_bytes()
    }

    /// The UTF-8 bytes as the [`Payload`] they are held in, without copying.
    pub fn into_payload(self) -> Payload {
        self.0
    }

    /// Wraps bytes the caller has already validated. Crate-internal: the connection validates
    /// text incrementally while it arrives.
    pub(crate) fn from_validated(bytes: Payload) -> Self {
        debug_assert!(str::from_utf8(&bytes).is_ok());
        Utf8Bytes(bytes)
    }
}

impl Deref for Utf8Bytes {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl TryFrom<Payload> for Utf8Bytes {
    type Error = str::Utf8Error;
    fn try_from(bytes: Payload) -> Result<Self, Self::Error> {
        if !crate::utf8::is_utf8(&bytes) {
            // The fast check says only yes or no; std says where, for the error.
            str::from_utf8(&bytes)?;
        }
        Ok(Utf8Bytes(bytes))
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = str::Utf8Error;
    fn try_from(bytes: Bytes) -> Result<Self, Self::Error> {
        Utf8Bytes::try_from(Payload::from(bytes))
    }
}

impl From<String> for Utf8Bytes {
    fn from(s: String) -> Self {
        Utf8Bytes(Payload::from(s))
    }
}

/// A copy: inline when it fits ([`Payload::copy_from_slice`]).
impl From<&str> for Utf8Bytes {
    fn from(s: &str) -> Self {
        Utf8Bytes(Payload::copy_from_slice(s.as_bytes()))
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a data message is text or binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// UTF-8 text.
    Text,
    /// Arbitrary bytes.
    Binary,
}

/// A whole data message. Control frames are not messages: they are sent with
/// [`Connection::ping`](crate::Connection::ping) and friends and reported as events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Payload),
}

impl Message {
    /// A text message.
    pub fn text(text: impl Into<Utf8Bytes>) -> Self {
        Message::Text(text.into())
    }

    /// A binary message.
    pub fn binary(data: impl Into<Payload>) -> Self {
        Message::Binary(data.into())
    }

    /// A message of `kind` from a payload already checked (text is valid UTF-8). Crate-internal:
    /// the connection validates text as it arrives.
    #[inline]
    pub(crate) fn from_validated(kind: MessageKind, payload: Payload) -> Self {
        match kind {
            MessageKind::Text => Message::Text(Utf8Bytes::from_validated(payload)),
            MessageKind::Binary => Message::Binary(payload),
        }
    }

    /// Text or binary.
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::Text(_) => MessageKind::Text,
            Message::Binary(_) => MessageKind::Binary,
        }
    }

    /// The payload bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(t) => t.as_bytes(),
            Message::Binary(b) => b,
        }
    }

    /// The payload as `Bytes`: without copying unless it is held inline
    /// ([`Payload::into_bytes`]).
    pub fn into_bytes(self) -> Bytes {
        self.into_payload().into_bytes()
    }

    /// The payload, by reference.
    #[inline]
    pub(crate) fn payload(&self) -> &Payload {
        match self {
            Message::Text(t) => &t.0,
            Message::Binary(b) => b,
        }
    }

    /// The payload, without copying.
    pub fn into_payload(self) -> Payload {
        match self {
            Message::Text(t) => t.into_payload(),
            Message::Binary(b) => b,
        }
    }

    /// The payload length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
