//! Incremental, fail-fast UTF-8 validation for text messages that arrive in pieces.
//!
//! RFC 6455 section 8.1 lets an endpoint fail the connection as soon as it sees bytes that cannot
//! be UTF-8, and Autobahn's 6.* cases check that we do so without waiting for the end of the
//! message. The validator therefore rejects a bad byte the moment it arrives, including the
//! first byte that makes an unfinished code point impossible (say `F4 90`, which would be above
//! U+10FFFF), while a valid code point split across pieces is simply carried over. The bulk of
//! every piece is checked by `simdutf8` (SIMD, same answers and error positions as std); only
//! the few bytes of a code point split between pieces go through `str::from_utf8`.

use std::str;

/// The validated prefix and the state of an unfinished code point.
#[derive(Clone, Debug, Default)]
pub struct Utf8Validator {
    /// Bytes of a code point that started in an earlier piece.
    partial: [u8; 4],
    partial_len: u8,
}

/// Returned when bytes can never become valid UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidUtf8;

impl Utf8Validator {
    /// A validator at the start of a text.
    pub fn new() -> Self {
        Self::default()
    }

    /// Validates the next piece of the text.
    pub fn feed(&mut self, mut input: &[u8]) -> Result<(), InvalidUtf8> {
        if self.partial_len > 0 {
            let have = usize::from(self.partial_len);
            let need = sequence_len(self.partial[0]) - have;
            let take = need.min(input.len());
            let mut joined = self.partial;
            joined[have..have + take].copy_from_slice(&input[..take]);
            match str::from_utf8(&joined[..have + take]) {
                Ok(_) => {
                    self.partial_len = 0;
                    input = &input[take..];
                }
                Err(e) if e.error_len().is_none() => {
                    // Still a valid prefix, and the input is used up.
                    self.partial = joined;
                    self.partial_len = (have + take) as u8;
                    return Ok(());
                }
                Err(_) => return Err(InvalidUtf8),
            }
        }
        match simdutf8::compat::from_utf8(input) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                // The input ends inside a code point whose bytes so far are a valid prefix.
                let rest = &input[e.valid_up_to()..];
                self.partial[..rest.len()].copy_from_slice(rest);
                self.partial_len = rest.len() as u8;
                Ok(())
            }
            Err(_) => Err(InvalidUtf8),
        }
    }

    /// Declares the text finished; fails if it ends inside a code point.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let complete = self.partial_len == 0;
        self.partial_len = 0;
        if complete { Ok(()) } else { Err(InvalidUtf8) }
    }

    /// Whether the bytes fed so far end on a code point boundary.
    pub fn is_complete(&self) -> bool {
        self.partial_len == 0
    }
}

/// Whether `bytes` are valid UTF-8, checked with SIMD where the CPU has it (`simdutf8`, which
/// picks AVX2 or SSE4.2 at run time). Why: `str::from_utf8` is fast on ASCII only; decoding
/// mixed-script text ran at 1.3 GB/s with it and 5-7 GB/s with this (`codec` benchmark).
/// Input under [`SHORT`] bytes, which `simdutf8` would hand to `str::from_utf8`, goes through
/// the DFA of [`is_utf8_short`] instead.
pub(crate) fn is_utf8(bytes: &[u8]) -> bool {
    if bytes.len() < SHORT {
        return is_utf8_short(bytes);
    }
    as_str(bytes).is_some()
}

/// `bytes` as text if they are valid UTF-8, checked as [`is_utf8`] does.
pub(crate) fn as_str(bytes: &[u8]) -> Option<&str> {
    simdutf8::basic::from_utf8(bytes).ok()
}

/// The bit of every byte of a word that no ASCII byte has.
pub(crate) const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Whether the 24 bytes of an inline payload ([`Payload`](crate::Payload): the payload, zeros,
/// and its length, under 24, in the last byte) are valid UTF-8, which they are exactly when
/// the payload is: the zeros and the length byte are ASCII, valid after a whole character and
/// invalid inside one, where the payload itself would have ended too soon.
///
/// Why not [`is_utf8`]: for input under 64 bytes `simdutf8` hands over to `str::from_utf8`,
/// which branches on every character that is not ASCII. This is a shift-based DFA (after Per
/// Vognsen's), read a word at a time: a word of ASCII is one test (it keeps a text that is
/// between characters valid and ends one cut short), any other word is eight steps of one
/// table load, independent of the state, and one shift that depends on it, with no branch.
/// Decoding mixed-script text in messages of 16 bytes (the README's decode loop, a scratch
/// harness): 37 -> 60 M msgs/s; of 1 to 23 bytes, lengths and content varying, 22 -> 48 M.
/// Without the ASCII test, all 24 bytes through the DFA: 49 M at 16 bytes.
#[inline(always)]
pub(crate) fn is_utf8_inline(bytes: &[u8; 24]) -> bool {
    is_utf8_short(bytes)
}

/// Below this many bytes `simdutf8` validates with `str::from_utf8`, and [`is_utf8`] with the
/// DFA of [`is_utf8_inline`] instead.
const SHORT: usize = 64;

/// [`is_utf8_inline`]'s DFA over any bytes: eight at a time, then the rest one by one.
/// Decoding mixed-script text (a scratch harness, one message size at a time, against the
/// build with `str::from_utf8`): 24 bytes 26.7 -> 34.7 M msgs/s, 40 bytes 18.7 -> 23.9, 63
/// bytes 12.9 -> 19.0. From 64 bytes `simdutf8`'s SIMD is faster (the DFA at 100 bytes: 16.7
/// -> 14.1, at 200: 12.6 -> 7.6), hence [`SHORT`].
#[inline(always)]
fn is_utf8_short(bytes: &[u8]) -> bool {
    let mut state = ACCEPT;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let word = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        if word & HIGH_BITS == 0 {
            // ASCII: valid after a whole character, and never the rest of one.
            state = if state & 63 == ACCEPT { ACCEPT } else { REJECT };
        } else {
            for i in 0..8 {
                state = step(state, (word >> (8 * i)) as u8);
            }
        }
    }
    for &byte in words.remainder() {
        state = step(state, byte);
    }
    state & 63 == ACCEPT
}

/// One byte through the DFA: the state's offset picks the next state's offset out of the
/// byte's row (only the low 6 bits of a state are meaningful).
#[inline(always)]
fn step(state: u64, byte: u8) -> u64 {
    UTF8_DFA[usize::from(byte)] >> (state & 63)
}

/// The DFA's states, each named by its bit offset in a [`UTF8_DFA`] row (a multiple of 6):
/// the row of a byte holds, at a state's offset, the offset of the state that byte leads to.
const ACCEPT: u64 = 0;
const REJECT: u64 = 6;
/// One continuation byte (80..BF) still to come.
const CONT1: u64 = 12;
/// Two continuation bytes to come.
const CONT2: u64 = 18;
/// Three continuation bytes to come.
const CONT3: u64 = 24;
/// After E0: A0..BF (no overlong form), then one more.
const AFTER_E0: u64 = 30;
/// After ED: 80..9F (no surrogate), then one more.
const AFTER_ED: u64 = 36;
/// After F0: 90..BF (no overlong form), then two more.
const AFTER_F0: u64 = 42;
/// After F4: 80..8F (nothing above U+10FFFF), then two more.
const AFTER_F4: u64 = 48;

/// The transition table of [`is_utf8_inline`], by RFC 3629's table of well-formed sequences.
static UTF8_DFA: [u64; 256] = utf8_dfa();

/// `to` if `ok`, else [`REJECT`].
const fn next(ok: bool, to: u64) -> u64 {
    if ok { to } else { REJECT }
}

const fn utf8_dfa() -> [u64; 256] {
    let mut table = [0u64; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        let from_accept = match byte {
            0x00..=0x7F => ACCEPT,
            0xC2..=0xDF => CONT1,
            0xE0 => AFTER_E0,
            0xED => AFTER_ED,
            0xE1..=0xEF => CONT2,
            0xF0 => AFTER_F0,
            0xF1..=0xF3 => CONT3,
            0xF4 => AFTER_F4,
            _ => REJECT,
        };
        let continuation = matches!(byte, 0x80..=0xBF);
        let row = from_accept << ACCEPT
            | REJECT << REJECT
            | next(continuation, ACCEPT) << CONT1
            | next(continuation, CONT1) << CONT2
            | next(continuation, CONT2) << CONT3
            | next(matches!(byte, 0xA0..=0xBF), CONT1) << AFTER_E0
            | next(matches!(byte, 0x80..=0x9F), CONT1) << AFTER_ED
            | next(matches!(byte, 0x90..=0xBF), CONT2) << AFTER_F0
            | next(matches!(byte, 0x80..=0x8F), CONT2) << AFTER_F4;
        table[b] = row;
        b += 1;
    }
    table
}

/// The length of the sequence a valid lead byte starts. Only called on bytes that `from_utf8`
/// already accepted as the start of a valid prefix, so continuation bytes never reach it.
fn sequence_len(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn feed_split(bytes: &[u8], cuts: &[usize]) -> Result<(), InvalidUtf8> {
        let mut v = Utf8Validator::new();
        let mut start = 0;
        for &cut in cuts {
            let cut = cut.clamp(start, bytes.len());
            v.feed(&bytes[start..cut])?;
            start = cut;
        }
        v.feed(&bytes[start..])?;
        v.finish()
    }

    #[test]
    fn fails_at_the_first_impossible_byte() {
        let mut v = Utf8Validator::new();
        v.feed(b"ok \xF4").unwrap();
        assert_eq!(v.feed(b"\x90"), Err(InvalidUtf8), "F4 90 is above U+10FFFF");
        let mut v = Utf8Validator::new();
        v.feed(b"\xED").unwrap();
        assert_eq!(
            v.feed(b"\xA0"),
            Err(InvalidUtf8),
            "ED A0 starts a surrogate"
        );
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(b"\xC0"), Err(InvalidUtf8), "C0 is never valid");
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(b"abc\x80"), Err(InvalidUtf8));
    }

    #[test]
    fn split_code_points_are_fine_but_must_finish() {
        let snowman_and_emoji = "κόσμε ☃ 😀".as_bytes();
        for cut in 0..=snowman_and_emoji.len() {
            assert_eq!(feed_split(snowman_and_emoji, &[cut]), Ok(()));
        }
        let mut v = Utf8Validator::new();
        v.feed(&[0xF0, 0x9F]).unwrap();
        assert!(!v.is_complete());
        assert_eq!(v.finish(), Err(InvalidUtf8));
    }

    #[test]
    fn one_byte_at_a_time() {
        let text = "a😀b€c".as_bytes();
        let mut v = Utf8Validator::new();
        for b in text {
            v.feed(std::slice::from_ref(b)).unwrap();
        }
        v.finish().unwrap();
    }

    /// `bytes` (at most 23) as an inline payload's 24 bytes: zeros after it, its length last.
    fn inline(bytes: &[u8]) -> [u8; 24] {
        let mut out = [0; 24];
        out[..bytes.len()].copy_from_slice(bytes);
        out[23] = bytes.len() as u8;
        out
    }

    /// Checks `bytes` at offset `at` of an inline payload of `len` bytes whose other bytes are
    /// ASCII, against `str::from_utf8`.
    fn check_inline_at(bytes: &[u8], at: usize, len: usize) {
        let mut payload = vec![b'x'; len];
        payload[at..at + bytes.len()].copy_from_slice(bytes);
        assert_eq!(
            is_utf8_inline(&inline(&payload)),
            str::from_utf8(&payload).is_ok(),
            "{bytes:02X?} at {at} of {len}"
        );
    }

    #[test]
    fn the_inline_dfa_agrees_with_std_on_every_sequence_of_up_to_three_bytes() {
        // Every 1-, 2- and 3-byte input (16.8 million), alone, so that the padding ends any
        // sequence left open.
        let check = |bytes: &[u8]| {
            assert_eq!(
                is_utf8_inline(&inline(bytes)),
                str::from_utf8(bytes).is_ok(),
                "{bytes:02X?}"
            );
        };
        for a in 0..=255u8 {
            check(&[a]);
            for b in 0..=255u8 {
                check(&[a, b]);
                for c in 0..=255u8 {
                    check(&[a, b, c]);
                }
            }
        }
    }

    #[test]
    fn the_inline_dfa_agrees_with_std_wherever_a_sequence_lies() {
        // Every pair of bytes at every offset of a 23-byte payload, and at the end of shorter
        // ones: sequences across the 8-byte words the validator reads, before and after words
        // of ASCII, and cut short by the end.
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                for at in 0..=21 {
                    check_inline_at(&[a, b], at, 23);
                }
                for len in [2, 8, 9, 16, 17] {
                    check_inline_at(&[a, b], len - 2, len);
                }
            }
        }
        // Every four bytes drawn from the values where UTF-8's rules change, at every offset.
        const EDGES: [u8; 24] = [
            0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1,
            0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF,
        ];
        for a in EDGES {
            for b in EDGES {
                for c in EDGES {
                    for d in EDGES {
                        for at in 0..=19 {
                            check_inline_at(&[a, b, c, d], at, 23);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_inline_dfa_knows_the_edges_of_four_byte_sequences() {
        for (bytes, valid) in [
            (&b"\xF0\x90\x80\x80"[..], true), // U+10000, the first
            (b"\xF4\x8F\xBF\xBF", true),      // U+10FFFF, the last
            (b"\xF0\x8F\xBF\xBF", false),     // overlong
            (b"\xF4\x90\x80\x80", false),     // above U+10FFFF
            (b"\xF5\x80\x80\x80", false),     // never a lead byte
            (b"\xF1\x80\x80", false),         // cut short by the padding
            (b"\xED\x9F\xBF", true),          // U+D7FF, just below the surrogates
            (b"\xED\xA0\x80", false),         // U+D800, a surrogate
        ] {
            assert_eq!(is_utf8_inline(&inline(bytes)), valid, "{bytes:02X?}");
        }
    }

    #[test]
    fn short_input_agrees_with_std_wherever_a_sequence_lies() {
        // Every pair of bytes at every offset of inputs that end in a partial word (13 bytes)
        // and that end just below `SHORT` (63), which the DFA validates.
        for len in [13, SHORT - 1] {
            for a in 0..=255u8 {
                for b in 0..=255u8 {
                    for at in 0..=len - 2 {
                        let mut bytes = vec![b'x'; len];
                        bytes[at] = a;
                        bytes[at + 1] = b;
                        assert_eq!(
                            is_utf8(&bytes),
                            str::from_utf8(&bytes).is_ok(),
                            "{a:02X} {b:02X} at {at} of {len}"
                        );
                    }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn agrees_with_std_at_any_length(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            prop_assert_eq!(is_utf8(&bytes), str::from_utf8(&bytes).is_ok());
        }

        #[test]
        fn valid_text_is_valid_at_any_length(s in "\\PC{0,40}") {
            prop_assert!(is_utf8(s.as_bytes()));
        }

        #[test]
        fn the_inline_dfa_agrees_with_std(bytes in proptest::collection::vec(any::<u8>(), 0..=23)) {
            prop_assert_eq!(is_utf8_inline(&inline(&bytes)), str::from_utf8(&bytes).is_ok());
        }

        #[test]
        fn the_inline_dfa_accepts_valid_text(s in "\\PC{0,8}") {
            let bytes = &s.as_bytes()[..s.len().min(23)];
            prop_assert_eq!(is_utf8_inline(&inline(bytes)), str::from_utf8(bytes).is_ok());
        }

        #[test]
        fn agrees_with_std_at_any_split(bytes in proptest::collection::vec(any::<u8>(), 0..40),
                                        cuts in proptest::collection::vec(0usize..40, 0..5)) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            let expected = str::from_utf8(&bytes).is_ok();
            prop_assert_eq!(feed_split(&bytes, &cuts).is_ok(), expected);
        }

        #[test]
        fn valid_text_passes_at_any_split(s in "\\PC*", cuts in proptest::collection::vec(0usize..64, 0..5)) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            prop_assert_eq!(feed_split(s.as_bytes(), &cuts), Ok(()));
        }
    }
}
