//! The bytes of a whole message: a small payload held in the value itself, a larger one as
//! shared [`Bytes`].

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use bytes::{Bytes, BytesMut};

use crate::utf8::{HIGH_BITS, is_utf8_inline};

/// The most bytes a [`Payload`] holds inline. With the count byte they fill three words, the
/// room a `Bytes` leaves beside its (never null) vtable pointer, so a `Payload` is no larger
/// than a `Bytes`: 32 bytes on 64-bit targets.
pub const INLINE_CAPACITY: usize = 23;

/// The payload of a [`Message`](crate::Message): bytes, read through `Deref<Target = [u8]>`.
///
/// Why not `Bytes`: a received payload of up to [`INLINE_CAPACITY`] bytes is copied into the
/// value itself, so a small message costs neither an allocation nor the two atomic
/// reference-count updates (one when it is cut off a shared buffer, one when it is dropped)
/// that a `Bytes` sharing the connection's buffer costs. Those two were the largest single
/// item in the profile of a 16-byte echo (BENCHMARKS.md). A larger payload is a `Bytes`
/// that shares the connection's buffer, handed out without a copy.
///
/// Comparisons, ordering and hashing are by content, whichever way the bytes are held.
/// [`into_bytes`](Self::into_bytes) gives the bytes as `Bytes`: without a copy when they are
/// held as `Bytes`, in a new allocation when they are held inline.
#[derive(Clone)]
pub struct Payload(Repr);

#[derive(Clone)]
enum Repr {
    Inline(Inline),
    Shared(Bytes),
}

/// Up to [`INLINE_CAPACITY`] bytes and their count: the bytes first, the count in the last
/// byte, zeros between.
///
/// Why aligned, and written and read as three words: so that the compiler can keep a freshly
/// received payload in three registers while the message is handed up through `Result`,
/// `Option` and `Event`, as it keeps the four words of a `Bytes`, instead of on the stack,
/// where each copy's wide loads, reading the narrower stores just made, stalled. Measured by
/// `codec` decode 16 B (46 M msgs/s with the `Bytes` this replaces): bytes put together one
/// by one, 35 M; as words, 39 M; as words and with the payload's address never taken before
/// it is handed up (see `is_inline_utf8`), 104-108 M. Three `u64`s read through an `unsafe`
/// slice measured the same as this array, so the safe form is kept.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct Inline([u8; 24]);

impl Inline {
    /// The count's byte: the last.
    #[inline(always)]
    fn len(self) -> usize {
        usize::from(self.0[23])
    }

    /// The first `len` bytes of the 24 whose native-endian words are `words`; the others are
    /// cleared and the count written over the last.
    #[inline(always)]
    fn new(words: [u64; 3], len: usize) -> Self {
        debug_assert!(len <= INLINE_CAPACITY);
        let [a, b, c] = words;
        let count = u64::from_ne_bytes([0, 0, 0, 0, 0, 0, 0, len as u8]);
        let mut bytes = [0; 24];
        bytes[..8].copy_from_slice(&(a & first_bytes(len)).to_ne_bytes());
        bytes[8..16].copy_from_slice(&(b & first_bytes(len.saturating_sub(8))).to_ne_bytes());
        bytes[16..]
            .copy_from_slice(&((c & first_bytes(len.saturating_sub(16))) | count).to_ne_bytes());
        Inline(bytes)
    }

    #[inline(always)]
    fn as_slice(&self) -> &[u8] {
        &self.0[..self.len()]
    }
}

/// The first 24 bytes of `bytes` as three native-endian words: how an inline payload is
/// written and read (see [`Inline`]).
#[inline(always)]
pub(crate) fn words(bytes: &[u8]) -> [u64; 3] {
    let word = |i: usize| u64::from_ne_bytes(bytes[8 * i..8 * i + 8].try_into().expect("8 bytes"));
    [word(0), word(1), word(2)]
}

/// A word whose first `n` bytes in memory are all ones and whose others are zero (all ones
/// from 8 up).
#[inline(always)]
fn first_bytes(n: usize) -> u64 {
    if n >= 8 {
        return u64::MAX;
    }
    let ones = (1u64 << (8 * n)) - 1;
    if cfg!(target_endian = "little") {
        ones
    } else {
        // The first bytes in memory are the most significant.
        ones.rotate_right(8 * n as u32)
    }
}

impl Payload {
    /// An empty payload.
    pub const fn new() -> Self {
        Payload(Repr::Inline(Inline([0; 24])))
    }

    /// Static bytes, without copying.
    pub const fn from_static(bytes: &'static [u8]) -> Self {
        Payload(Repr::Shared(Bytes::from_static(bytes)))
    }

    /// A copy of `bytes`: inline when it fits, else in a new `Bytes`.
    pub fn copy_from_slice(bytes: &[u8]) -> Self {
        if bytes.len() <= INLINE_CAPACITY {
            let mut data = [0; 24];
            data[..bytes.len()].copy_from_slice(bytes);
            Payload::from_words(words(&data), bytes.len())
        } else {
            Payload(Repr::Shared(Bytes::copy_from_slice(bytes)))
        }
    }

    /// The first `len` bytes (at most [`INLINE_CAPACITY`]) of the 24 whose native-endian
    /// words are `words`, held inline. Crate-internal: the connection unmasks small received
    /// payloads word by word, in registers.
    #[inline(always)]
    pub(crate) fn from_words(words: [u64; 3], len: usize) -> Self {
        Payload(Repr::Inline(Inline::new(words, len)))
    }

    /// Whether the payload is held inline and all ASCII, checked a word at a time (the count
    /// byte, at most 23, never has its high bit set). Crate-internal: a text payload that is
    /// all ASCII needs no UTF-8 validation.
    #[inline(always)]
    pub(crate) fn is_inline_ascii(&self) -> bool {
        match &self.0 {
            Repr::Inline(inline) => {
                let [a, b, c] = words(&inline.0);
                (a | b | c) & HIGH_BITS == 0
            }
            Repr::Shared(_) => false,
        }
    }

    /// Whether the payload is held inline and is valid UTF-8. Checked on a copy, so that the
    /// payload's own address is never taken: the compiler can then keep a freshly received
    /// payload in registers (see [`Inline`]).
    #[inline(always)]
    pub(crate) fn is_inline_utf8(&self) -> bool {
        match &self.0 {
            Repr::Inline(inline) => {
                let copy = *inline;
                is_utf8_inline(&copy.0)
            }
            Repr::Shared(_) => false,
        }
    }

    /// The bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline(inline) => inline.as_slice(),
            Repr::Shared(bytes) => bytes,
        }
    }

    /// The bytes as `Bytes`: the same storage when they are held as `Bytes`, a copy when they
    /// are held inline (at most [`INLINE_CAPACITY`] bytes).
    pub fn into_bytes(self) -> Bytes {
        match self.0 {
            Repr::Inline(inline) => Bytes::copy_from_slice(inline.as_slice()),
            Repr::Shared(bytes) => bytes,
        }
    }

    /// The payload's 24 inline bytes as three little-endian words, and its length, if it is
    /// held inline. Crate-internal: a server writes a small frame a word at a time
    /// (`Transmit::push_inline`). Read as words, not copied as bytes, so that each load is no
    /// wider than the stores that wrote the message a moment before (see `push_inline`).
    #[inline(always)]
    pub(crate) fn inline_words_le(&self) -> Option<([u64; 3], usize)> {
        match &self.0 {
            Repr::Inline(inline) => Some((words(&inline.0).map(u64::from_le), inline.len())),
            Repr::Shared(_) => None,
        }
    }

    /// The `Bytes` the payload is held in, if it is not held inline. Crate-internal: output
    /// queues a large payload by reference instead of copying it.
    #[inline]
    pub(crate) fn shared(&self) -> Option<&Bytes> {
        match &self.0 {
            Repr::Inline(_) => None,
            Repr::Shared(bytes) => Some(bytes),
        }
    }
}

impl Default for Payload {
    fn default() -> Self {
        Payload::new()
    }
}

impl Deref for Payload {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for Payload {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Borrow<[u8]> for Payload {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Payload {}

impl PartialOrd for Payload {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Payload {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl Hash for Payload {
    /// Hashes as the slice does, so that `Borrow<[u8]>` lookups in maps work.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl PartialEq<[u8]> for Payload {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_slice() == other
    }
}

impl PartialEq<&[u8]> for Payload {
    fn eq(&self, other: &&[u8]) -> bool {
        self.as_slice() == *other
    }
}

impl<const N: usize> PartialEq<[u8; N]> for Payload {
    fn eq(&self, other: &[u8; N]) -> bool {
        self.as_slice() == other
    }
}

impl<const N: usize> PartialEq<&[u8; N]> for Payload {
    fn eq(&self, other: &&[u8; N]) -> bool {
        self.as_slice() == *other
    }
}

impl PartialEq<Vec<u8>> for Payload {
    fn eq(&self, other: &Vec<u8>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl PartialEq<Bytes> for Payload {
    fn eq(&self, other: &Bytes) -> bool {
        self.as_slice() == other.as_ref()
    }
}

impl PartialEq<Payload> for Bytes {
    fn eq(&self, other: &Payload) -> bool {
        self.as_ref() == other.as_slice()
    }
}

impl PartialEq<Payload> for [u8] {
    fn eq(&self, other: &Payload) -> bool {
        self == other.as_slice()
    }
}

impl PartialEq<Payload> for &[u8] {
    fn eq(&self, other: &Payload) -> bool {
        *self == other.as_slice()
    }
}

impl PartialEq<Payload> for Vec<u8> {
    fn eq(&self, other: &Payload) -> bool {
        self.as_slice() == other.as_slice()
    }
}

/// Held as given: no copy, whatever its length.
impl From<Bytes> for Payload {
    fn from(bytes: Bytes) -> Self {
        Payload(Repr::Shared(bytes))
    }
}

impl From<BytesMut> for Payload {
    fn from(bytes: BytesMut) -> Self {
        Payload(Repr::Shared(bytes.freeze()))
    }
}

impl From<Vec<u8>> for Payload {
    fn from(bytes: Vec<u8>) -> Self {
        Payload(Repr::Shared(Bytes::from(bytes)))
    }
}

impl From<Box<[u8]>> for Payload {
    fn from(bytes: Box<[u8]>) -> Self {
        Payload(Repr::Shared(Bytes::from(bytes)))
    }
}

impl From<String> for Payload {
    fn from(s: String) -> Self {
        Payload(Repr::Shared(Bytes::from(s)))
    }
}

impl From<&'static [u8]> for Payload {
    fn from(bytes: &'static [u8]) -> Self {
        Payload::from_static(bytes)
    }
}

impl From<&'static str> for Payload {
    fn from(s: &'static str) -> Self {
        Payload::from_static(s.as_bytes())
    }
}

impl From<Payload> for Bytes {
    fn from(payload: Payload) -> Self {
        payload.into_bytes()
    }
}

impl From<Payload> for Vec<u8> {
    fn from(payload: Payload) -> Self {
        match payload.0 {
            Repr::Inline(inline) => inline.as_slice().to_vec(),
            Repr::Shared(bytes) => bytes.into(),
        }
    }
}

impl fmt::Debug for Payload {
    /// As `Bytes` prints: `b"..."`, with bytes outside printable ASCII escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("b\"")?;
        for &b in self.as_slice() {
            match b {
                b'"' => f.write_str("\\\"")?,
                b'\\' => f.write_str("\\\\")?,
                b'\n' => f.write_str("\\n")?,
                b'\r' => f.write_str("\\r")?,
                b'\t' => f.write_str("\\t")?,
                0 => f.write_str("\\0")?,
                0x20..=0x7e => write!(f, "{}", b as char)?,
                _ => write!(f, "\\x{b:02x}")?,
            }
        }
        f.write_str("\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_no_larger_than_bytes() {
        assert_eq!(std::mem::size_of::<Payload>(), std::mem::size_of::<Bytes>());
    }

    #[test]
    fn copies_up_to_the_inline_capacity_inline_and_longer_into_bytes() {
        for len in [0, 1, INLINE_CAPACITY - 1, INLINE_CAPACITY] {
            let data: Vec<u8> = (0..len as u8).collect();
            let p = Payload::copy_from_slice(&data);
            assert!(p.shared().is_none(), "{len} bytes are held inline");
            assert_eq!(p, data);
            assert_eq!(p.into_bytes(), data);
        }
        let data: Vec<u8> = (0..INLINE_CAPACITY as u8 + 1).collect();
        let p = Payload::copy_from_slice(&data);
        assert_eq!(p.shared().map(|b| b.as_ref()), Some(&data[..]));
        assert_eq!(Vec::from(p), data);
    }

    #[test]
    fn equal_content_compares_and_hashes_equal_however_it_is_held() {
        use std::collections::hash_map::DefaultHasher;
        let hash = |p: &Payload| {
            let mut h = DefaultHasher::new();
            p.hash(&mut h);
            h.finish()
        };
        let inline = Payload::copy_from_slice(b"hello");
        let shared = Payload::from(Bytes::from_static(b"hello"));
        assert!(inline.shared().is_none() && shared.shared().is_some());
        assert_eq!(inline, shared);
        assert_eq!(hash(&inline), hash(&shared));
        let shared_b = Payload::from(Bytes::from_static(b"b"));
        assert!(Payload::copy_from_slice(b"a") < shared_b);
        assert!(shared_b < Payload::copy_from_slice(b"ba"));
    }

    #[test]
    fn prints_as_bytes_does() {
        for sample in [&b""[..], b"hi", b"a\"b\\c\n\r\t\x00\x7f\xff", b" ~"] {
            let bytes = Bytes::copy_from_slice(sample);
            assert_eq!(
                format!("{:?}", Payload::copy_from_slice(sample)),
                format!("{bytes:?}")
            );
        }
    }
}
